/*
 * The NCCL transport of a communicator: sums and broadcasts of device
 * memory between the GPUs of the ranks (NCCL's own transports: NVLink,
 * PCIe, InfiniBand, sockets), on the context's stream. The NCCL id goes
 * from rank 0 to the others over the communicator's TCP connections.
 *
 * The NCCL communicator is non-blocking, so that nothing waits for a rank
 * that never comes: initialisation and every collective are polled until
 * they finish, fail, or run past the communicator's timeout, which aborts
 * the NCCL communicator (the other ranks' NCCL calls then fail too).
 */
#include "cuda_common.cuh"
#include "../lib/comm/comm_internal.h"

#include <nccl.h>
#include <time.h>

/* Between two looks at a collective in flight. */
#define POLL_NS 20000L

static rlkd_status nccl_failed(const char *op, const char *what,
                               ncclResult_t result)
{
    return rlkd_fail(result == ncclSystemError || result == ncclRemoteError
                         ? RLKD_ERR_IO
                         : RLKD_ERR_DEVICE,
                     "%s: NCCL's %s failed: %s", op, what,
                     ncclGetErrorString(result));
}

static void pause_briefly(void)
{
    const struct timespec wait = {0, POLL_NS};
    nanosleep(&wait, NULL);
}

/* Gives up on the NCCL communicator: NCCL calls of the other ranks fail. */
static void abort_nccl(rlkd_comm *comm)
{
    ncclCommAbort((ncclComm_t)comm->nccl);
    comm->nccl = NULL;
}

/* The stream of started sums (rlkd_nccl_all_reduce_start), made on first
 * use, and whether it has sums not yet waited for. */
typedef struct side_stream {
    cudaStream_t stream;
    cudaEvent_t queued; /* the context's stream up to a sum's start */
    int started;
} side_stream;

/* Waits for the communicator's pending work (its initialisation, or the
 * enqueueing of a group) and, when `stream` is not NULL, for that stream
 * to run it; an error or the timeout aborts the NCCL communicator. */
static rlkd_status wait_for(rlkd_comm *comm, const char *op, const char *what,
                            cudaStream_t *stream)
{
    ncclComm_t nc = (ncclComm_t)comm->nccl;
    const double deadline = rlkd_seconds_now() + comm->timeout_ms / 1000.0;
    for (;;) {
        ncclResult_t state = ncclSuccess;
        ncclResult_t result = ncclCommGetAsyncError(nc, &state);
        if (result == ncclSuccess && state != ncclInProgress)
            result = state;
        if (result != ncclSuccess && result != ncclInProgress) {
            const rlkd_status status = nccl_failed(op, what, result);
            abort_nccl(comm);
            return status;
        }
        if (result == ncclSuccess) {
            if (!stream)
                return RLKD_OK;
            const cudaError_t done = cudaStreamQuery(*stream);
            if (done == cudaSuccess)
                return RLKD_OK;
            if (done != cudaErrorNotReady) {
                const rlkd_status status = rlkd_cuda_check(done, what);
                abort_nccl(comm);
                return status;
            }
        }
        if (rlkd_seconds_now() > deadline) {
            abort_nccl(comm);
            return rlkd_fail(RLKD_ERR_IO,
                             "%s: timed out after %d ms in NCCL's %s (a rank "
                             "failed, exited or is slower than the timeout)",
                             op, comm->timeout_ms, what);
        }
        pause_briefly();
    }
}

extern "C" int rlkd_nccl_available(void)
{
    return 1;
}

extern "C" rlkd_status rlkd_nccl_create(rlkd_comm *comm, const char *op)
{
    ncclUniqueId id;
    if (comm->rank == 0) {
        const ncclResult_t result = ncclGetUniqueId(&id);
        if (result != ncclSuccess)
            return nccl_failed(op, "ncclGetUniqueId", result);
    }
    RLKD_TRY(rlkd_comm_host_broadcast(comm, op, &id, sizeof id, 0));
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(comm->ctx->device_index),
                             "cudaSetDevice"));
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t nc = NULL;
    const ncclResult_t result = ncclCommInitRankConfig(
        &nc, comm->world_size, id, comm->rank, &config);
    if (result != ncclSuccess && result != ncclInProgress) {
        if (nc)
            ncclCommAbort(nc);
        return nccl_failed(op, "ncclCommInitRankConfig", result);
    }
    comm->nccl = nc;
    return wait_for(comm, op, "ncclCommInitRankConfig", NULL);
}

static void destroy_side(side_stream *side)
{
    if (!side)
        return;
    if (side->queued)
        cudaEventDestroy(side->queued);
    if (side->stream)
        cudaStreamDestroy(side->stream);
    free(side);
}

extern "C" void rlkd_nccl_destroy(rlkd_comm *comm)
{
    destroy_side((side_stream *)comm->nccl_side);
    comm->nccl_side = NULL;
    ncclComm_t nc = (ncclComm_t)comm->nccl;
    comm->nccl = NULL;
    if (!nc)
        return;
    /* Finalising flushes this rank's part; a peer that is gone makes it
     * fail, and then the communicator is only freed. */
    ncclResult_t state = ncclCommFinalize(nc);
    const double deadline = rlkd_seconds_now() + 10.0;
    while (state == ncclInProgress && rlkd_seconds_now() < deadline) {
        pause_briefly();
        if (ncclCommGetAsyncError(nc, &state) != ncclSuccess)
            break;
    }
    if (state == ncclSuccess)
        ncclCommDestroy(nc);
    else
        ncclCommAbort(nc);
}

static ncclDataType_t nccl_type(rlkd_comm_dtype dtype)
{
    switch (dtype) {
    case RLKD_COMM_F32: return ncclFloat32;
    case RLKD_COMM_F64: return ncclFloat64;
    case RLKD_COMM_I32: return ncclInt32;
    case RLKD_COMM_I64: return ncclInt64;
    }
    return ncclFloat32;
}

/* Ends the group of calls made since ncclGroupStart and waits for it to
 * be queued and, unless `stream` is NULL, for that stream to run it. */
static rlkd_status finish_group(rlkd_comm *comm, const char *op,
                                const char *what, ncclResult_t queued,
                                cudaStream_t *stream)
{
    const ncclResult_t ended = ncclGroupEnd();
    const ncclResult_t result = queued != ncclSuccess ? queued : ended;
    if (result != ncclSuccess && result != ncclInProgress) {
        const rlkd_status status = nccl_failed(op, what, result);
        abort_nccl(comm);
        return status;
    }
    return wait_for(comm, op, what, stream);
}

/* Queues the sums of a bucket on `stream` as one group: NCCL fuses the
 * buffers into few launches. */
static rlkd_status queue_sums(rlkd_comm *comm, const char *op,
                              void *const *buffers, const size_t *counts,
                              int count, rlkd_comm_dtype dtype,
                              rlkd_reduce_op reduce, cudaStream_t stream,
                              int wait)
{
    ncclComm_t nc = (ncclComm_t)comm->nccl;
    const ncclRedOp_t nccl_op = reduce == RLKD_REDUCE_MEAN ? ncclAvg : ncclSum;
    ncclResult_t queued = ncclGroupStart();
    for (int i = 0; queued == ncclSuccess && i < count; i++) {
        queued = ncclAllReduce(buffers[i], buffers[i], counts[i],
                               nccl_type(dtype), nccl_op, nc, stream);
        if (queued == ncclInProgress)
            queued = ncclSuccess;
    }
    return finish_group(comm, op, "ncclAllReduce", queued,
                        wait ? &stream : NULL);
}

extern "C" rlkd_status rlkd_nccl_all_reduce(rlkd_comm *comm, const char *op,
                                            void *const *buffers,
                                            const size_t *counts, int count,
                                            rlkd_comm_dtype dtype,
                                            rlkd_reduce_op reduce)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(comm->ctx->device_index),
                             "cudaSetDevice"));
    return queue_sums(comm, op, buffers, counts, count, dtype, reduce,
                      rlkd_cuda_stream(comm->ctx), 1);
}

static rlkd_status make_side(rlkd_comm *comm, const char *op)
{
    side_stream *side = (side_stream *)calloc(1, sizeof *side);
    if (!side)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    comm->nccl_side = side;
    /* Non-blocking: the legacy default stream must not order it. */
    RLKD_TRY(rlkd_cuda_check(
        cudaStreamCreateWithFlags(&side->stream, cudaStreamNonBlocking),
        "cudaStreamCreateWithFlags"));
    return rlkd_cuda_check(
        cudaEventCreateWithFlags(&side->queued, cudaEventDisableTiming),
        "cudaEventCreateWithFlags");
}

extern "C" rlkd_status rlkd_nccl_all_reduce_start(rlkd_comm *comm,
                                                  const char *op,
                                                  void *const *buffers,
                                                  const size_t *counts,
                                                  int count,
                                                  rlkd_comm_dtype dtype,
                                                  rlkd_reduce_op reduce)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(comm->ctx->device_index),
                             "cudaSetDevice"));
    if (!comm->nccl_side)
        RLKD_TRY(make_side(comm, op));
    side_stream *side = (side_stream *)comm->nccl_side;
    /* The side stream runs the sums once the context's stream has made the
     * gradients in them; the context's stream goes on with the backward
     * pass meanwhile. */
    RLKD_TRY(rlkd_cuda_check(
        cudaEventRecord(side->queued, rlkd_cuda_stream(comm->ctx)),
        "cudaEventRecord"));
    RLKD_TRY(rlkd_cuda_check(cudaStreamWaitEvent(side->stream, side->queued, 0),
                             "cudaStreamWaitEvent"));
    side->started = 1;
    return queue_sums(comm, op, buffers, counts, count, dtype, reduce,
                      side->stream, 0);
}

extern "C" rlkd_status rlkd_nccl_finish_started(rlkd_comm *comm,
                                                const char *op)
{
    side_stream *side = (side_stream *)comm->nccl_side;
    if (!side || !side->started)
        return RLKD_OK;
    side->started = 0;
    /* Once the side stream has run them, whatever the context's stream
     * queues next sees the sums. */
    return wait_for(comm, op, "ncclAllReduce", &side->stream);
}

extern "C" rlkd_status rlkd_nccl_broadcast(rlkd_comm *comm, const char *op,
                                           void *data, size_t bytes, int root)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(comm->ctx->device_index),
                             "cudaSetDevice"));
    ncclResult_t queued = ncclGroupStart();
    if (queued == ncclSuccess)
        queued = ncclBroadcast(data, data, bytes, ncclUint8, root,
                               (ncclComm_t)comm->nccl,
                               rlkd_cuda_stream(comm->ctx));
    if (queued == ncclInProgress)
        queued = ncclSuccess;
    cudaStream_t stream = rlkd_cuda_stream(comm->ctx);
    return finish_group(comm, op, "ncclBroadcast", queued, &stream);
}
