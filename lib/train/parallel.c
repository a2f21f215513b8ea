/*
 * Data-parallel training: every rank is given the same batch and computes
 * on its rows; gradients are summed over the ranks in buckets (a few large
 * messages rather than one per tensor), each bucket started as soon as the
 * backward pass has finished its layers, so that the sums travel while the
 * pass goes on (lib/comm/overlap.c: the communicator's thread on the CPU,
 * a stream of its own with NCCL). Buckets fill last layer first, the order
 * the pass finishes them in; every rank makes the same buckets.
 */
#include "parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rlkd_status rlkd_parallel_shard(rlkd_comm *comm, const char *op,
                                const rlkd_tensor *images,
                                const rlkd_tensor *labels,
                                rlkd_tensor **image_rows,
                                rlkd_tensor **label_rows, float *share,
                                int64_t *first_row)
{
    *image_rows = *label_rows = NULL;
    RLKD_TRY(rlkd_check_tensor(comm->ctx, op, "images", images,
                               RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(comm->ctx, op, "labels", labels,
                               RLKD_DTYPE_I32));
    const int64_t batch = images->shape[0];
    int64_t first, rows;
    rlkd_shard_rows(batch, comm->rank, comm->world_size, &first, &rows);
    *share = (float)((double)rows / (double)batch);
    *first_row = first;
    if (labels->ndim != 1 || labels->shape[0] != batch)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: labels must be [%lld] for %lld images", op,
                         (long long)batch, (long long)batch);
    const int64_t image_values = images->numel / batch;
    int64_t shape[RLKD_MAX_DIMS];
    memcpy(shape, images->shape, sizeof shape);
    shape[0] = rows;
    if (rows == 0)
        return RLKD_OK;
    RLKD_TRY(rlkd_tensor_new_view(images->ctx, op, images->dtype, images->ndim,
                                  shape, rlkd_f32(images) + first * image_values,
                                  image_rows));
    const rlkd_status status =
        rlkd_tensor_new_view(labels->ctx, op, labels->dtype, 1, &rows,
                             rlkd_i32(labels) + first, label_rows);
    if (status != RLKD_OK) {
        rlkd_tensor_destroy(*image_rows);
        *image_rows = NULL;
    }
    return status;
}

static uint64_t mix_tensors(uint64_t hash, const rlkd_named_tensor *list,
                            int count)
{
    hash = rlkd_comm_digest(hash, &count, sizeof count);
    for (int i = 0; i < count; i++) {
        const rlkd_tensor *t = list[i].value;
        hash = rlkd_comm_digest(hash, list[i].name, strlen(list[i].name) + 1);
        hash = rlkd_comm_digest(hash, &t->dtype, sizeof t->dtype);
        hash = rlkd_comm_digest(hash, t->shape,
                                (size_t)t->ndim * sizeof t->shape[0]);
    }
    return hash;
}

uint64_t rlkd_parallel_digest(uint64_t hash, const rlkd_net *net)
{
    if (!net)
        return hash;
    hash = mix_tensors(hash, net->params, net->param_count);
    return mix_tensors(hash, net->buffers, net->buffer_count);
}

static rlkd_status broadcast_tensor(rlkd_comm *comm, const char *op,
                                    rlkd_tensor *t)
{
    return rlkd_comm_device_broadcast(comm, op, t->data,
                                      (size_t)t->numel * 4, 0);
}

rlkd_status rlkd_parallel_broadcast_net(rlkd_comm *comm, const char *op,
                                        rlkd_net *net)
{
    for (int i = 0; i < net->param_count; i++)
        RLKD_TRY(broadcast_tensor(comm, op, net->params[i].value));
    for (int i = 0; i < net->buffer_count; i++)
        RLKD_TRY(broadcast_tensor(comm, op, net->buffers[i].value));
    return RLKD_OK;
}

rlkd_status rlkd_parallel_broadcast_optimizer(rlkd_comm *comm, const char *op,
                                              rlkd_optimizer *optimizer)
{
    for (int i = 0; i < optimizer->param_count; i++) {
        if (optimizer->first[i])
            RLKD_TRY(broadcast_tensor(comm, op, optimizer->first[i]));
        if (optimizer->second[i])
            RLKD_TRY(broadcast_tensor(comm, op, optimizer->second[i]));
    }
    return rlkd_comm_host_broadcast(comm, op, &optimizer->steps,
                                    sizeof optimizer->steps, 0);
}

rlkd_status rlkd_parallel_buckets_begin(rlkd_parallel_buckets *b,
                                        rlkd_comm *comm, const char *op,
                                        size_t bucket_bytes, int capacity,
                                        rlkd_reduce_op reduce)
{
    memset(b, 0, sizeof *b);
    b->comm = comm;
    b->op = op;
    b->bucket_bytes = bucket_bytes;
    b->reduce = reduce;
    const size_t slots = (size_t)(capacity > 0 ? capacity : 1);
    b->buffers = malloc(slots * sizeof *b->buffers);
    b->counts = malloc(slots * sizeof *b->counts);
    if (b->buffers && b->counts)
        return RLKD_OK;
    free(b->buffers);
    free(b->counts);
    b->buffers = NULL;
    b->counts = NULL;
    return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
}

/* Starts the bucket filled so far. */
static rlkd_status send_bucket(rlkd_parallel_buckets *b)
{
    if (b->queued == 0)
        return RLKD_OK;
    const rlkd_status status = rlkd_comm_device_all_reduce_start(
        b->comm, b->op, b->buffers, b->counts, b->queued, RLKD_COMM_F32,
        b->reduce);
    b->queued = 0;
    b->bytes = 0;
    return status;
}

rlkd_status rlkd_parallel_buckets_add(rlkd_parallel_buckets *b,
                                      const rlkd_tensor *t)
{
    if (!t || t->dtype != RLKD_DTYPE_F32)
        return RLKD_OK;
    const size_t size = (size_t)t->numel * 4;
    /* The bucket goes when the next tensor would overfill it. */
    if (b->queued > 0 && b->bytes + size > b->bucket_bytes)
        RLKD_TRY(send_bucket(b));
    b->buffers[b->queued] = t->data;
    b->counts[b->queued++] = (size_t)t->numel;
    b->bytes += size;
    return RLKD_OK;
}

rlkd_status rlkd_parallel_buckets_end(rlkd_parallel_buckets *b,
                                      rlkd_status status)
{
    if (status == RLKD_OK)
        status = send_bucket(b);
    /* Started sums are waited for even after a failure: they use the
     * caller's tensors. */
    const rlkd_status finished = rlkd_comm_finish_started(b->comm, b->op);
    free(b->buffers);
    free(b->counts);
    b->buffers = NULL;
    b->counts = NULL;
    return status != RLKD_OK ? status : finished;
}

/* The backward pass finished `layer`: its gradients join the buckets. */
static rlkd_status layer_grads_done(void *user, const rlkd_net *net,
                                    int layer)
{
    const rlkd_layer *l = &net->layers[layer];
    for (int i = 0; i < l->param_count; i++)
        RLKD_TRY(rlkd_parallel_buckets_add(
            user, net->params[l->param_first + i].grad));
    return RLKD_OK;
}

rlkd_layer_done_hook rlkd_parallel_grads_hook(rlkd_parallel_buckets *b)
{
    return (rlkd_layer_done_hook){layer_grads_done, b};
}

rlkd_status rlkd_parallel_mean_buffers(rlkd_comm *comm, const char *op,
                                       rlkd_net *net, size_t bucket_bytes)
{
    rlkd_parallel_buckets b;
    RLKD_TRY(rlkd_parallel_buckets_begin(&b, comm, op, bucket_bytes,
                                         net->buffer_count, RLKD_REDUCE_MEAN));
    rlkd_status status = RLKD_OK;
    for (int i = 0; status == RLKD_OK && i < net->buffer_count; i++)
        status = rlkd_parallel_buckets_add(&b, net->buffers[i].value);
    return rlkd_parallel_buckets_end(&b, status);
}

rlkd_status rlkd_parallel_share_status(rlkd_comm *comm, const char *op,
                                       rlkd_status status)
{
    struct {
        int32_t status;
        char message[480];
    } shared;
    memset(&shared, 0, sizeof shared);
    shared.status = (int32_t)status;
    if (status != RLKD_OK)
        snprintf(shared.message, sizeof shared.message, "%s",
                 rlkd_last_error());
    RLKD_TRY(rlkd_comm_host_broadcast(comm, op, &shared, sizeof shared, 0));
    if (shared.status == RLKD_OK || comm->rank == 0)
        return (rlkd_status)shared.status;
    return rlkd_fail((rlkd_status)shared.status, "%s: rank 0 failed: %s", op,
                     shared.message);
}
