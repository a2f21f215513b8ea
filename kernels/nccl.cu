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

/* Waits for the communicator's pending work (its initialisation, or the
 * enqueueing of a group) and, when `stream_too`, for the stream to run
 * it; an error or the timeout aborts the NCCL communicator. */
static rlkd_status wait_for(rlkd_comm *comm, const char *op, const char *what,
                            int stream_too)
{
    ncclComm_t nc = (ncclComm_t)comm->nccl;
    cudaStream_t stream = rlkd_cuda_stream(comm->ctx);
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
            if (!stream_too)
                return RLKD_OK;
            const cudaError_t done = cudaStreamQuery(stream);
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
    return wait_for(comm, op, "ncclCommInitRankConfig", 0);
}

extern "C" void rlkd_nccl_destroy(void *nccl)
{
    ncclComm_t nc = (ncclComm_t)nccl;
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

/* Ends the group of calls made since ncclGroupStart and waits for it. */
static rlkd_status finish_group(rlkd_comm *comm, const char *op,
                                const char *what, ncclResult_t queued)
{
    const ncclResult_t ended = ncclGroupEnd();
    const ncclResult_t result = queued != ncclSuccess ? queued : ended;
    if (result != ncclSuccess && result != ncclInProgress) {
        const rlkd_status status = nccl_failed(op, what, result);
        abort_nccl(comm);
        return status;
    }
    return wait_for(comm, op, what, 1);
}

extern "C" rlkd_status rlkd_nccl_all_reduce(rlkd_comm *comm, const char *op,
                                            void *const *buffers,
                                            const size_t *counts, int count,
                                            rlkd_comm_dtype dtype,
                                            rlkd_reduce_op reduce)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(comm->ctx->device_index),
                             "cudaSetDevice"));
    ncclComm_t nc = (ncclComm_t)comm->nccl;
    const ncclRedOp_t nccl_op = reduce == RLKD_REDUCE_MEAN ? ncclAvg : ncclSum;
    /* One group: NCCL fuses the buffers of a bucket into few launches. */
    ncclResult_t queued = ncclGroupStart();
    for (int i = 0; queued == ncclSuccess && i < count; i++) {
        queued = ncclAllReduce(buffers[i], buffers[i], counts[i],
                               nccl_type(dtype), nccl_op, nc,
                               rlkd_cuda_stream(comm->ctx));
        if (queued == ncclInProgress)
            queued = ncclSuccess;
    }
    return finish_group(comm, op, "ncclAllReduce", queued);
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
    return finish_group(comm, op, "ncclBroadcast", queued);
}
