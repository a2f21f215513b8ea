/*
 * Private view of a communicator (lib/comm, kernels/nccl.cu): its struct,
 * the TCP transport every communicator of more than one rank has (the
 * rendezvous, host-side collectives, and the data of the CPU backend), the
 * NCCL transport of CUDA builds, and the collectives the trainer and the
 * search call on raw buffers.
 */
#ifndef RLKD_COMM_INTERNAL_H
#define RLKD_COMM_INTERNAL_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types of the internal collectives (the public calls take F32 and
 * I32 tensors; sums of statistics and counts need the wider ones). */
typedef enum rlkd_comm_dtype {
    RLKD_COMM_F32 = 0,
    RLKD_COMM_F64 = 1,
    RLKD_COMM_I32 = 2,
    RLKD_COMM_I64 = 3
} rlkd_comm_dtype;

size_t rlkd_comm_dtype_size(rlkd_comm_dtype dtype);

/* ---- TCP transport (tcp.c): rank 0 is the hub every other rank talks to */

typedef struct rlkd_tcp rlkd_tcp;

/* Meets the other ranks through `rendezvous` (a file path or "host:port")
 * within timeout_ms; `op` names the public call in messages. */
rlkd_status rlkd_tcp_connect(const char *op, const char *rendezvous, int rank,
                             int world_size, int timeout_ms, rlkd_tcp **out);
void rlkd_tcp_close(rlkd_tcp *tcp);

/* Sums `count` host buffers (buffers[i] of counts[i] elements) over the
 * ranks as one message, in place, in rank order; MEAN divides the sums by
 * the world size afterwards (floating types only). */
rlkd_status rlkd_tcp_all_reduce(rlkd_tcp *tcp, const char *op,
                                void *const *buffers, const size_t *counts,
                                int count, rlkd_comm_dtype dtype,
                                rlkd_reduce_op reduce, int timeout_ms);
/* Copies root's `bytes` of host memory to every rank. */
rlkd_status rlkd_tcp_broadcast(rlkd_tcp *tcp, const char *op, void *data,
                               size_t bytes, int root, int timeout_ms);
rlkd_status rlkd_tcp_barrier(rlkd_tcp *tcp, const char *op, int timeout_ms);

/* ---- NCCL transport (kernels/nccl.cu; lib/comm/nccl_absent.c without
 * CUDA): device memory of the communicator's CUDA context, on its stream.
 * Each call waits for its result (at most timeout_ms: a rank that never
 * comes aborts the NCCL communicator and fails with RLKD_ERR_IO). ---- */

/* 1 when this build has NCCL (RLKD_COMM_AUTO picks it on CUDA). */
int rlkd_nccl_available(void);
/* Makes comm->nccl; the NCCL id goes from rank 0 over comm->tcp. */
rlkd_status rlkd_nccl_create(rlkd_comm *comm, const char *op);
/* Frees comm's NCCL communicator and stream, where it has them. */
void rlkd_nccl_destroy(rlkd_comm *comm);
rlkd_status rlkd_nccl_all_reduce(rlkd_comm *comm, const char *op,
                                 void *const *buffers, const size_t *counts,
                                 int count, rlkd_comm_dtype dtype,
                                 rlkd_reduce_op reduce);
rlkd_status rlkd_nccl_broadcast(rlkd_comm *comm, const char *op, void *data,
                                size_t bytes, int root);
/* A sum queued on a stream of the communicator's own, after the work
 * queued on the context's stream so far, without waiting for it; and the
 * wait for every sum started since the last. */
rlkd_status rlkd_nccl_all_reduce_start(rlkd_comm *comm, const char *op,
                                       void *const *buffers,
                                       const size_t *counts, int count,
                                       rlkd_comm_dtype dtype,
                                       rlkd_reduce_op reduce);
rlkd_status rlkd_nccl_finish_started(rlkd_comm *comm, const char *op);

/* ---- sums that run while the caller computes (overlap.c) ---- */

typedef struct rlkd_comm_worker rlkd_comm_worker;

struct rlkd_comm {
    rlkd_context *ctx;
    int rank, world_size, local_rank;
    int timeout_ms;
    rlkd_comm_backend backend; /* RLKD_COMM_CPU or RLKD_COMM_NCCL */
    rlkd_tcp *tcp;             /* NULL when world_size is 1 */
    void *nccl;                /* NCCL's communicator, or NULL */
    void *nccl_side;           /* its stream for started sums (nccl.cu) */
    rlkd_comm_worker *worker;  /* the thread of started sums (overlap.c) */
    /* Set by the first failed collective: the ranks may be out of step
     * since, so every later call fails with this message. */
    int failed;
    char failure[512];
};

/* ---- collectives for the library's own use (comm.c). Each checks that
 * the communicator has not failed, finishes the sums started before it
 * (overlap.c), and marks the communicator failed when it fails. ---- */

/* Fails (RLKD_ERR_IO, with the first failure's message) once comm has
 * failed. */
rlkd_status rlkd_comm_check_usable(const rlkd_comm *comm, const char *op);
/* After a collective: a failure marks comm failed and closes its
 * connections, so that the other ranks notice at once. */
rlkd_status rlkd_comm_settle(rlkd_comm *comm, rlkd_status status);

/* Host memory, over TCP whatever the backend. */
rlkd_status rlkd_comm_host_all_reduce(rlkd_comm *comm, const char *op,
                                      void *data, size_t count,
                                      rlkd_comm_dtype dtype,
                                      rlkd_reduce_op reduce);
rlkd_status rlkd_comm_host_broadcast(rlkd_comm *comm, const char *op,
                                     void *data, size_t bytes, int root);

/* Memory of the communicator's context: `count` buffers summed as one
 * message (a bucket of gradients). */
rlkd_status rlkd_comm_device_all_reduce(rlkd_comm *comm, const char *op,
                                        void *const *buffers,
                                        const size_t *counts, int count,
                                        rlkd_comm_dtype dtype,
                                        rlkd_reduce_op reduce);
rlkd_status rlkd_comm_device_broadcast(rlkd_comm *comm, const char *op,
                                       void *data, size_t bytes, int root);

/* Starts the sum of a bucket of buffers of the communicator's context and
 * returns at once where it can: on the CPU backend with a CPU context the
 * communicator's thread sends it; with NCCL a stream of the
 * communicator's own runs it after the work queued on the context's
 * stream so far; the CPU backend on a device context sums before
 * returning. The buffers (and what they hold) must stay untouched until
 * rlkd_comm_finish_started, which any other collective calls first: the
 * ranks' collectives keep the order of their calls. */
rlkd_status rlkd_comm_device_all_reduce_start(rlkd_comm *comm, const char *op,
                                              void *const *buffers,
                                              const size_t *counts, int count,
                                              rlkd_comm_dtype dtype,
                                              rlkd_reduce_op reduce);
/* Waits for every started sum; the first failure fails the communicator. */
rlkd_status rlkd_comm_finish_started(rlkd_comm *comm, const char *op);
/* Ends the communicator's thread after its started sums (destroy). */
void rlkd_comm_worker_stop(rlkd_comm *comm);

/* Every rank learns whether `ok` holds on all of them: a check (same
 * networks, same search) that must fail on every rank together, or none
 * would return. *all is 1 when every rank passed ok != 0. */
rlkd_status rlkd_comm_agree(rlkd_comm *comm, const char *op, int ok,
                            int *all);

/* Mixes bytes into a digest (FNV-1a; start from RLKD_COMM_DIGEST_START). */
#define RLKD_COMM_DIGEST_START 0xcbf29ce484222325ull
uint64_t rlkd_comm_digest(uint64_t hash, const void *data, size_t size);

/* Fails on every rank (RLKD_ERR_INVALID_ARGUMENT: "the ranks have
 * different <what>") unless every rank's digest is rank 0's: what each
 * rank built must match before the collectives that use it. */
rlkd_status rlkd_comm_expect_same(rlkd_comm *comm, const char *op,
                                  uint64_t digest, const char *what);


/* The sum hook of synchronised batch norm (backend.h) over comm. */
rlkd_sum_hook rlkd_comm_sum_hook(rlkd_comm *comm);

#ifdef __cplusplus
}
#endif

#endif
