/*
 * Data-parallel training: every rank is given the same batch and computes
 * on its rows; gradients are summed over the ranks in buckets (a few large
 * messages rather than one per tensor) after the backward pass. Overlapping
 * the sums with the backward pass, bucket by bucket, is what a GPU gains
 * from; on the CPU the cores are busy computing either way, so the sums
 * simply follow the backward pass.
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
    rlkd_comm_shard(batch, comm->rank, comm->world_size, &first, &rows);
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

/* Sums (or averages) the F32 tensors of a list in buckets of about
 * bucket_bytes, each one collective of several buffers. */
static rlkd_status reduce_tensors(rlkd_comm *comm, const char *op,
                                  const rlkd_named_tensor *list, int count,
                                  int grads, size_t bucket_bytes,
                                  rlkd_reduce_op reduce)
{
    void **buffers = malloc((size_t)(count > 0 ? count : 1) * sizeof *buffers);
    size_t *counts = malloc((size_t)(count > 0 ? count : 1) * sizeof *counts);
    rlkd_status status = buffers && counts
                             ? RLKD_OK
                             : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                         "%s: out of host memory", op);
    int queued = 0;
    size_t bytes = 0;
    for (int i = 0; status == RLKD_OK && i <= count; i++) {
        const rlkd_tensor *t =
            i < count ? (grads ? list[i].grad : list[i].value) : NULL;
        if (t && t->dtype != RLKD_DTYPE_F32)
            continue;
        const size_t size = t ? (size_t)t->numel * 4 : 0;
        /* The bucket goes when it is full or the list is done. */
        if (queued > 0 && (!t || bytes + size > bucket_bytes)) {
            status = rlkd_comm_device_all_reduce(comm, op, buffers, counts,
                                                 queued, RLKD_COMM_F32,
                                                 reduce);
            queued = 0;
            bytes = 0;
        }
        if (t) {
            buffers[queued] = t->data;
            counts[queued++] = (size_t)t->numel;
            bytes += size;
        }
    }
    free(buffers);
    free(counts);
    return status;
}

rlkd_status rlkd_parallel_sum_grads(rlkd_comm *comm, const char *op,
                                    rlkd_net *net, size_t bucket_bytes)
{
    return reduce_tensors(comm, op, net->params, net->param_count, 1,
                          bucket_bytes, RLKD_REDUCE_SUM);
}

rlkd_status rlkd_parallel_mean_buffers(rlkd_comm *comm, const char *op,
                                       rlkd_net *net, size_t bucket_bytes)
{
    return reduce_tensors(comm, op, net->buffers, net->buffer_count, 0,
                          bucket_bytes, RLKD_REDUCE_MEAN);
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
