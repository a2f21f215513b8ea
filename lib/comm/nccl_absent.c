/* Linked instead of kernels/nccl.cu in a build without NCCL (make CUDA=0,
 * NCCL=0, or no nccl.h found): a communicator asks for NCCL and hears
 * RLKD_ERR_UNSUPPORTED. The other calls are never reached, since no
 * communicator gets an NCCL part. */
#include "comm_internal.h"

int rlkd_nccl_available(void)
{
    return 0;
}

rlkd_status rlkd_nccl_create(rlkd_comm *comm, const char *op)
{
    (void)comm;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                     "%s: this build of rlkd has no NCCL backend (built "
                     "without CUDA or without NCCL; RLKD_COMM_CPU works on "
                     "any context)", op);
}

void rlkd_nccl_destroy(rlkd_comm *comm)
{
    (void)comm;
}

rlkd_status rlkd_nccl_all_reduce(rlkd_comm *comm, const char *op,
                                 void *const *buffers, const size_t *counts,
                                 int count, rlkd_comm_dtype dtype,
                                 rlkd_reduce_op reduce)
{
    (void)comm, (void)buffers, (void)counts, (void)count, (void)dtype,
        (void)reduce;
    return rlkd_fail(RLKD_ERR_INTERNAL, "%s: no NCCL in this build", op);
}

rlkd_status rlkd_nccl_broadcast(rlkd_comm *comm, const char *op, void *data,
                                size_t bytes, int root)
{
    (void)comm, (void)data, (void)bytes, (void)root;
    return rlkd_fail(RLKD_ERR_INTERNAL, "%s: no NCCL in this build", op);
}

rlkd_status rlkd_nccl_all_reduce_start(rlkd_comm *comm, const char *op,
                                       void *const *buffers,
                                       const size_t *counts, int count,
                                       rlkd_comm_dtype dtype,
                                       rlkd_reduce_op reduce)
{
    (void)comm, (void)buffers, (void)counts, (void)count, (void)dtype,
        (void)reduce;
    return rlkd_fail(RLKD_ERR_INTERNAL, "%s: no NCCL in this build", op);
}

rlkd_status rlkd_nccl_finish_started(rlkd_comm *comm, const char *op)
{
    (void)comm;
    return rlkd_fail(RLKD_ERR_INTERNAL, "%s: no NCCL in this build", op);
}
