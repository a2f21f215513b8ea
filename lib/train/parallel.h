/*
 * Data-parallel training over a communicator (parallel.c): what a trainer
 * with rlkd_trainer_set_comm does besides its single-process work. Every
 * call here is collective: all ranks make it, in the same order.
 */
#ifndef RLKD_TRAIN_PARALLEL_H
#define RLKD_TRAIN_PARALLEL_H

#include "train_internal.h"
#include "../comm/comm_internal.h"

/* This rank's rows of a batch, as views of images and labels (*images
 * NULL when it has none: a batch smaller than the world), its share
 * rows / batch and the index of its first row. Free the views with
 * rlkd_tensor_destroy. */
rlkd_status rlkd_parallel_shard(rlkd_comm *comm, const char *op,
                                const rlkd_tensor *images,
                                const rlkd_tensor *labels,
                                rlkd_tensor **image_rows,
                                rlkd_tensor **label_rows, float *share,
                                int64_t *first_row);

/* Mixes what must be the same on every rank for them to train together
 * into a digest (rlkd_comm_digest): the names, shapes and types of net's
 * parameters and buffers (net may be NULL: nothing). */
uint64_t rlkd_parallel_digest(uint64_t hash, const rlkd_net *net);

/* Copies rank 0's parameters and buffers of net to every rank. */
rlkd_status rlkd_parallel_broadcast_net(rlkd_comm *comm, const char *op,
                                        rlkd_net *net);
/* ... and the optimiser's state and step count. */
rlkd_status rlkd_parallel_broadcast_optimizer(rlkd_comm *comm, const char *op,
                                              rlkd_optimizer *optimizer);

/* F32 tensors summed (or averaged) over the ranks in buckets of about
 * bucket_bytes, each bucket started (rlkd_comm_device_all_reduce_start)
 * when the next tensor would overfill it. */
typedef struct rlkd_parallel_buckets {
    rlkd_comm *comm;
    const char *op;
    size_t bucket_bytes;
    rlkd_reduce_op reduce;
    void **buffers;  /* the bucket filling: its tensors' data ... */
    size_t *counts;  /* ... and sizes */
    int queued;
    size_t bytes;
} rlkd_parallel_buckets;

/* Ready for up to `capacity` tensors. */
rlkd_status rlkd_parallel_buckets_begin(rlkd_parallel_buckets *b,
                                        rlkd_comm *comm, const char *op,
                                        size_t bucket_bytes, int capacity,
                                        rlkd_reduce_op reduce);
/* Adds t (skipped when NULL or not F32); its data must stay untouched
 * until rlkd_parallel_buckets_end. */
rlkd_status rlkd_parallel_buckets_add(rlkd_parallel_buckets *b,
                                      const rlkd_tensor *t);
/* Starts the last bucket (unless `status`, the caller's, failed), waits
 * for every bucket and frees the lists; returns `status` if it failed. */
rlkd_status rlkd_parallel_buckets_end(rlkd_parallel_buckets *b,
                                      rlkd_status status);
/* The backward pass's hook (net->layer_done) that adds each finished
 * layer's parameter gradients to b: the sums overlap the pass. */
rlkd_layer_done_hook rlkd_parallel_grads_hook(rlkd_parallel_buckets *b);

/* Averages the float buffers (batch norm's running statistics). */
rlkd_status rlkd_parallel_mean_buffers(rlkd_comm *comm, const char *op,
                                       rlkd_net *net, size_t bucket_bytes);

/* Rank 0's status (and message) on every rank: for work only rank 0 does,
 * such as writing a checkpoint. */
rlkd_status rlkd_parallel_share_status(rlkd_comm *comm, const char *op,
                                       rlkd_status status);

#endif
