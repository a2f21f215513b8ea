/*
 * Communicators: options (from a struct or torchrun-style environment
 * variables), creation, and the collectives, public and internal. A
 * communicator of more than one rank always has a TCP transport (tcp.c):
 * it carries the rendezvous and every host-side collective (metrics,
 * policies, checks), and on the CPU backend the data too, staged through
 * host memory for a device context. The NCCL backend moves device data
 * with NCCL (kernels/nccl.cu) and keeps TCP for the rest.
 */
#include "comm_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 600000
#define DEFAULT_BUCKET_BYTES ((size_t)16 << 20)

size_t rlkd_comm_dtype_size(rlkd_comm_dtype dtype)
{
    return dtype == RLKD_COMM_F64 || dtype == RLKD_COMM_I64 ? 8 : 4;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

void rlkd_comm_options_init(rlkd_comm_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->rank = 0;
    options->world_size = 1;
    options->local_rank = 0;
    options->rendezvous = NULL;
    options->backend = RLKD_COMM_AUTO;
    options->timeout_ms = DEFAULT_TIMEOUT_MS;
}

void rlkd_parallel_options_init(rlkd_parallel_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->sync_batchnorm = 0;
    options->bucket_bytes = DEFAULT_BUCKET_BYTES;
}

/* An environment variable as an int in [minimum, INT_MAX]: 1 read, 0
 * absent; a malformed value fails naming the variable. */
static rlkd_status env_int(const char *op, const char *name, int minimum,
                           int *value, int *present)
{
    const char *text = getenv(name);
    *present = text != NULL;
    if (!text)
        return RLKD_OK;
    char *end;
    errno = 0;
    const long number = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || number < minimum ||
        number > INT_MAX)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s is \"%.40s\", not a whole number >= %d", op,
                         name, text, minimum);
    *value = (int)number;
    return RLKD_OK;
}

static rlkd_status env_missing(const char *name, const char *why)
{
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "rlkd_comm_options_from_env: %s is not set (%s; a "
                     "launcher such as scripts/launch.sh sets it)", name, why);
}

rlkd_status rlkd_comm_options_from_env(rlkd_comm_options *options)
{
    static const char op[] = "rlkd_comm_options_from_env";
    if (!options)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: options is NULL", op);
    RLKD_TRY(rlkd_expect_struct_size(op, "options", options->struct_size,
                                     sizeof *options,
                                     "rlkd_comm_options_init"));
    rlkd_comm_options read = *options;
    int present;
    RLKD_TRY(env_int(op, "RLKD_WORLD_SIZE", 1, &read.world_size, &present));
    if (!present)
        return env_missing("RLKD_WORLD_SIZE", "the number of processes");
    RLKD_TRY(env_int(op, "RLKD_RANK", 0, &read.rank, &present));
    if (!present)
        return env_missing("RLKD_RANK", "this process's rank");
    if (read.rank >= read.world_size)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: RLKD_RANK is %d but RLKD_WORLD_SIZE is %d (ranks "
                         "are 0..%d)", op, read.rank, read.world_size,
                         read.world_size - 1);
    RLKD_TRY(env_int(op, "RLKD_LOCAL_RANK", 0, &read.local_rank, &present));
    if (!present)
        read.local_rank = read.rank;
    RLKD_TRY(env_int(op, "RLKD_COMM_TIMEOUT_MS", 1, &read.timeout_ms,
                     &present));
    const char *rendezvous = getenv("RLKD_RENDEZVOUS");
    if (rendezvous && *rendezvous)
        read.rendezvous = rendezvous;
    else if (read.world_size > 1)
        return env_missing("RLKD_RENDEZVOUS",
                           "a file path or HOST:PORT every rank shares");
    const char *backend = getenv("RLKD_COMM_BACKEND");
    if (backend) {
        static const char *const names[] = {"auto", "cpu", "nccl"};
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(backend, names[i]) == 0)
                found = i;
        if (found < 0)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: RLKD_COMM_BACKEND is \"%.40s\", not auto, "
                             "cpu or nccl", op, backend);
        read.backend = (rlkd_comm_backend)found;
    }
    *options = read;
    return RLKD_OK;
}

static rlkd_status check_options(const char *op, const rlkd_comm_options *o,
                                 const rlkd_context *ctx)
{
    RLKD_TRY(rlkd_expect_struct_size(op, "options", o->struct_size,
                                     sizeof *o, "rlkd_comm_options_init"));
    if (o->world_size < 1 || o->rank < 0 || o->rank >= o->world_size)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: rank %d of world size %d: need world_size >= 1 "
                         "and 0 <= rank < world_size", op, o->rank,
                         o->world_size);
    RLKD_TRY(rlkd_expect_at_least(op, "options->local_rank", o->local_rank,
                                  0));
    RLKD_TRY(rlkd_expect_at_least(op, "options->timeout_ms", o->timeout_ms,
                                  1));
    if ((int)o->backend < RLKD_COMM_AUTO || o->backend > RLKD_COMM_NCCL)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->backend %d is not an rlkd_comm_backend",
                         op, (int)o->backend);
    if (o->world_size > 1 && (!o->rendezvous || !o->rendezvous[0]))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->rendezvous is %s, but %d ranks must "
                         "meet somewhere (a file path or HOST:PORT)", op,
                         o->rendezvous ? "empty" : "NULL", o->world_size);
    if (o->backend == RLKD_COMM_NCCL && ctx->kind != RLKD_DEVICE_CUDA)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: the NCCL backend moves GPU memory and needs a "
                         "CUDA context (RLKD_COMM_CPU works on any)", op);
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */
/* ------------------------------------------------------------------------ */

void rlkd_comm_destroy(rlkd_comm *comm)
{
    if (!comm)
        return;
    rlkd_comm_worker_stop(comm);
    rlkd_nccl_destroy(comm);
    rlkd_tcp_close(comm->tcp);
    free(comm);
}

rlkd_status rlkd_comm_create(rlkd_context *ctx,
                             const rlkd_comm_options *options, rlkd_comm **out)
{
    static const char op[] = "rlkd_comm_create";
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    RLKD_TRY(rlkd_check_context(ctx, op));
    if (!options)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: options is NULL (fill "
                         "them with rlkd_comm_options_init, or from the "
                         "environment)", op);
    RLKD_TRY(check_options(op, options, ctx));
    rlkd_comm *comm = calloc(1, sizeof *comm);
    if (!comm)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    comm->ctx = ctx;
    comm->rank = options->rank;
    comm->world_size = options->world_size;
    comm->local_rank = options->local_rank;
    comm->timeout_ms = options->timeout_ms;
    comm->backend = options->backend;
    if (comm->backend == RLKD_COMM_AUTO)
        comm->backend = ctx->kind == RLKD_DEVICE_CUDA && rlkd_nccl_available()
                            ? RLKD_COMM_NCCL
                            : RLKD_COMM_CPU;
    rlkd_status status = RLKD_OK;
    if (comm->world_size > 1)
        status = rlkd_tcp_connect(op, options->rendezvous, comm->rank,
                                  comm->world_size, comm->timeout_ms,
                                  &comm->tcp);
    /* One rank needs no NCCL communicator, but a build without NCCL
     * refuses it all the same: the answer must not depend on the size. */
    if (status == RLKD_OK && comm->backend == RLKD_COMM_NCCL)
        status = rlkd_nccl_create(comm, op);
    if (status != RLKD_OK) {
        rlkd_comm_destroy(comm);
        return status;
    }
    *out = comm;
    return RLKD_OK;
}

int rlkd_comm_rank(const rlkd_comm *comm)
{
    return comm ? comm->rank : -1;
}

int rlkd_comm_world_size(const rlkd_comm *comm)
{
    return comm ? comm->world_size : -1;
}

rlkd_comm_backend rlkd_comm_backend_of(const rlkd_comm *comm)
{
    return comm ? comm->backend : RLKD_COMM_AUTO;
}

/* ------------------------------------------------------------------------ */
/* Collectives                                                               */
/* ------------------------------------------------------------------------ */

rlkd_status rlkd_comm_check_usable(const rlkd_comm *comm, const char *op)
{
    if (!comm)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: comm is NULL", op);
    if (comm->failed)
        return rlkd_fail(RLKD_ERR_IO,
                         "%s: the communicator failed earlier and the ranks "
                         "may be out of step; destroy it (the failure: %s)",
                         op, comm->failure);
    return RLKD_OK;
}

/* After a collective: a failure marks the communicator failed and closes
 * its connections, so that the other ranks notice at once. */
rlkd_status rlkd_comm_settle(rlkd_comm *comm, rlkd_status status)
{
    if (status == RLKD_OK)
        return RLKD_OK;
    comm->failed = 1;
    snprintf(comm->failure, sizeof comm->failure, "%s", rlkd_last_error());
    rlkd_tcp_close(comm->tcp);
    comm->tcp = NULL;
    return status;
}

/* Before any collective: the communicator works, and the sums started
 * earlier (overlap.c) are done, so that this one follows them on every
 * rank. */
static rlkd_status ready(rlkd_comm *comm, const char *op)
{
    RLKD_TRY(rlkd_comm_check_usable(comm, op));
    return rlkd_comm_finish_started(comm, op);
}

rlkd_status rlkd_comm_host_all_reduce(rlkd_comm *comm, const char *op,
                                      void *data, size_t count,
                                      rlkd_comm_dtype dtype,
                                      rlkd_reduce_op reduce)
{
    RLKD_TRY(ready(comm, op));
    if (comm->world_size == 1)
        return RLKD_OK;
    void *const buffers[1] = {data};
    return rlkd_comm_settle(comm,
                            rlkd_tcp_all_reduce(comm->tcp, op, buffers, &count,
                                                1, dtype, reduce,
                                                comm->timeout_ms));
}

rlkd_status rlkd_comm_host_broadcast(rlkd_comm *comm, const char *op,
                                     void *data, size_t bytes, int root)
{
    RLKD_TRY(ready(comm, op));
    if (comm->world_size == 1)
        return RLKD_OK;
    return rlkd_comm_settle(comm, rlkd_tcp_broadcast(comm->tcp, op, data,
                                                     bytes, root,
                                                     comm->timeout_ms));
}

/* The CPU backend on a device context: the buffers go through one host
 * copy of them all. */
static rlkd_status staged_all_reduce(rlkd_comm *comm, const char *op,
                                     void *const *buffers,
                                     const size_t *counts, int count,
                                     rlkd_comm_dtype dtype,
                                     rlkd_reduce_op reduce)
{
    rlkd_context *ctx = comm->ctx;
    const size_t size = rlkd_comm_dtype_size(dtype);
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += counts[i];
    unsigned char *host = malloc(total ? total * size : 1);
    if (!host)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    rlkd_status status = RLKD_OK;
    for (size_t i = 0, at = 0; status == RLKD_OK && i < (size_t)count;
         at += counts[i++] * size)
        status = ctx->backend->copy_to_host(ctx, host + at, buffers[i],
                                            counts[i] * size);
    void *const whole[1] = {host};
    if (status == RLKD_OK)
        status = rlkd_tcp_all_reduce(comm->tcp, op, whole, &total, 1, dtype,
                                     reduce, comm->timeout_ms);
    for (size_t i = 0, at = 0; status == RLKD_OK && i < (size_t)count;
         at += counts[i++] * size)
        status = ctx->backend->copy_from_host(ctx, buffers[i], host + at,
                                              counts[i] * size);
    free(host);
    return status;
}

rlkd_status rlkd_comm_device_all_reduce(rlkd_comm *comm, const char *op,
                                        void *const *buffers,
                                        const size_t *counts, int count,
                                        rlkd_comm_dtype dtype,
                                        rlkd_reduce_op reduce)
{
    RLKD_TRY(ready(comm, op));
    if (comm->world_size == 1)
        return RLKD_OK;
    rlkd_status status;
    if (comm->nccl)
        status = rlkd_nccl_all_reduce(comm, op, buffers, counts, count, dtype,
                                      reduce);
    else if (comm->ctx->kind == RLKD_DEVICE_CPU)
        status = rlkd_tcp_all_reduce(comm->tcp, op, buffers, counts, count,
                                     dtype, reduce, comm->timeout_ms);
    else
        status = staged_all_reduce(comm, op, buffers, counts, count, dtype,
                                   reduce);
    return rlkd_comm_settle(comm, status);
}

rlkd_status rlkd_comm_device_broadcast(rlkd_comm *comm, const char *op,
                                       void *data, size_t bytes, int root)
{
    RLKD_TRY(ready(comm, op));
    if (comm->world_size == 1)
        return RLKD_OK;
    if (comm->nccl)
        return rlkd_comm_settle(
            comm, rlkd_nccl_broadcast(comm, op, data, bytes, root));
    if (comm->ctx->kind == RLKD_DEVICE_CPU)
        return rlkd_comm_settle(comm,
                                rlkd_tcp_broadcast(comm->tcp, op, data, bytes,
                                                   root, comm->timeout_ms));
    rlkd_context *ctx = comm->ctx;
    unsigned char *host = malloc(bytes ? bytes : 1);
    rlkd_status status = host ? RLKD_OK
                              : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                          "%s: out of host memory", op);
    if (status == RLKD_OK && comm->rank == root)
        status = ctx->backend->copy_to_host(ctx, host, data, bytes);
    if (status == RLKD_OK)
        status = rlkd_tcp_broadcast(comm->tcp, op, host, bytes, root,
                                    comm->timeout_ms);
    if (status == RLKD_OK && comm->rank != root)
        status = ctx->backend->copy_from_host(ctx, data, host, bytes);
    free(host);
    return rlkd_comm_settle(comm, status);
}

rlkd_status rlkd_comm_agree(rlkd_comm *comm, const char *op, int ok, int *all)
{
    int64_t failures = !ok;
    RLKD_TRY(rlkd_comm_host_all_reduce(comm, op, &failures, 1, RLKD_COMM_I64,
                                       RLKD_REDUCE_SUM));
    *all = failures == 0;
    return RLKD_OK;
}

uint64_t rlkd_comm_digest(uint64_t hash, const void *data, size_t size)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ p[i]) * 0x100000001b3ull;
    return hash;
}

rlkd_status rlkd_comm_expect_same(rlkd_comm *comm, const char *op,
                                  uint64_t digest, const char *what)
{
    uint64_t root = digest;
    RLKD_TRY(rlkd_comm_host_broadcast(comm, op, &root, sizeof root, 0));
    int all;
    RLKD_TRY(rlkd_comm_agree(comm, op, root == digest, &all));
    if (all)
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: the ranks have different %s (rank %d's %s rank "
                     "0's): every rank must make the same", op, what,
                     comm->rank, root == digest ? "match, another's differ from"
                                                : "differ from");
}

static rlkd_status sum_doubles(void *user, double *values, int count)
{
    void *const buffers[1] = {values};
    const size_t counts[1] = {(size_t)count};
    return rlkd_comm_device_all_reduce(user, "synchronised batch norm",
                                       buffers, counts, 1, RLKD_COMM_F64,
                                       RLKD_REDUCE_SUM);
}

rlkd_sum_hook rlkd_comm_sum_hook(rlkd_comm *comm)
{
    return (rlkd_sum_hook){sum_doubles, comm};
}

/* ------------------------------------------------------------------------ */
/* The public collectives                                                    */
/* ------------------------------------------------------------------------ */

static rlkd_status check_tensor(rlkd_comm *comm, const char *op,
                                const rlkd_tensor *tensor)
{
    RLKD_TRY(ready(comm, op));
    if (!tensor)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    if (tensor->ctx != comm->ctx)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: the tensor is not on the communicator's "
                         "context", op);
    return RLKD_OK;
}

rlkd_status rlkd_comm_all_reduce(rlkd_comm *comm, rlkd_tensor *tensor,
                                 rlkd_reduce_op op_kind)
{
    static const char op[] = "rlkd_comm_all_reduce";
    RLKD_TRY(check_tensor(comm, op, tensor));
    if (op_kind != RLKD_REDUCE_SUM && op_kind != RLKD_REDUCE_MEAN)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: op %d is not an rlkd_reduce_op", op,
                         (int)op_kind);
    if (op_kind == RLKD_REDUCE_MEAN && tensor->dtype != RLKD_DTYPE_F32)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the mean of an I32 tensor is not an integer; "
                         "sum it, or use an F32 tensor", op);
    void *const buffers[1] = {tensor->data};
    const size_t counts[1] = {(size_t)tensor->numel};
    return rlkd_comm_device_all_reduce(
        comm, op, buffers, counts, 1,
        tensor->dtype == RLKD_DTYPE_F32 ? RLKD_COMM_F32 : RLKD_COMM_I32,
        op_kind);
}

rlkd_status rlkd_comm_broadcast(rlkd_comm *comm, rlkd_tensor *tensor, int root)
{
    static const char op[] = "rlkd_comm_broadcast";
    RLKD_TRY(check_tensor(comm, op, tensor));
    if (root < 0 || root >= comm->world_size)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: root %d is not a rank of %d", op, root,
                         comm->world_size);
    return rlkd_comm_device_broadcast(comm, op, tensor->data,
                                      (size_t)tensor->numel * 4, root);
}

rlkd_status rlkd_comm_barrier(rlkd_comm *comm)
{
    static const char op[] = "rlkd_comm_barrier";
    RLKD_TRY(ready(comm, op));
    if (comm->world_size == 1)
        return RLKD_OK;
    return rlkd_comm_settle(comm,
                            rlkd_tcp_barrier(comm->tcp, op, comm->timeout_ms));
}
