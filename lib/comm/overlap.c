/*
 * Sums that run while the caller goes on computing: a data-parallel
 * trainer starts each bucket of gradients as the backward pass finishes
 * its layers, and waits for them all before the optimiser step.
 *
 * On the CPU backend with a CPU context a thread of the communicator sends
 * the started buckets, in the order they were started, while the caller's
 * threads compute; with NCCL a stream of the communicator's own runs them
 * (kernels/nccl.cu). The CPU backend on a device context sums at once, as
 * its host copies would wait for the device anyway. Any other collective
 * first finishes the started ones (comm.c), so every rank's collectives
 * keep the order of its calls, and the TCP connections have one user at a
 * time.
 */
#include "comm_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One started sum: its own copies of the bucket's lists. */
typedef struct started_sum {
    struct started_sum *next;
    const char *op;
    rlkd_comm_dtype dtype;
    rlkd_reduce_op reduce;
    int count;
    void **buffers;
    size_t *counts;
} started_sum;

struct rlkd_comm_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a sum was started, or the thread must stop */
    pthread_cond_t idle; /* the queue ran empty */
    started_sum *head, *tail;
    int busy;            /* the thread is sending one */
    int stopping;
    /* The first failure since the last finish, and its message (the
     * thread's own last error, copied for the caller's thread). */
    rlkd_status status;
    char message[512];
};

static void free_sum(started_sum *sum)
{
    free(sum->buffers);
    free(sum->counts);
    free(sum);
}

static void *send_started(void *arg)
{
    rlkd_comm *comm = arg;
    rlkd_comm_worker *w = comm->worker;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (!w->head)
            break;
        started_sum *sum = w->head;
        w->head = sum->next;
        if (!w->head)
            w->tail = NULL;
        w->busy = 1;
        /* After a failure the ranks are out of step: the rest is dropped,
         * and the caller hears of the first failure. */
        const int send = w->status == RLKD_OK;
        pthread_mutex_unlock(&w->lock);
        rlkd_status status = RLKD_OK;
        if (send)
            status = rlkd_tcp_all_reduce(comm->tcp, sum->op, sum->buffers,
                                         sum->counts, sum->count, sum->dtype,
                                         sum->reduce, comm->timeout_ms);
        free_sum(sum);
        pthread_mutex_lock(&w->lock);
        if (status != RLKD_OK && w->status == RLKD_OK) {
            w->status = status;
            snprintf(w->message, sizeof w->message, "%s", rlkd_last_error());
        }
        w->busy = 0;
        if (!w->head)
            pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static rlkd_status start_worker(rlkd_comm *comm, const char *op)
{
    rlkd_comm_worker *w = calloc(1, sizeof *w);
    if (!w)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->idle, NULL);
    comm->worker = w;
    const int error = pthread_create(&w->thread, NULL, send_started, comm);
    if (error == 0)
        return RLKD_OK;
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    comm->worker = NULL;
    return rlkd_fail(RLKD_ERR_INTERNAL,
                     "%s: cannot start the communicator's thread: %s", op,
                     strerror(error));
}

static started_sum *copy_sum(const char *op, void *const *buffers,
                             const size_t *counts, int count,
                             rlkd_comm_dtype dtype, rlkd_reduce_op reduce)
{
    started_sum *sum = calloc(1, sizeof *sum);
    if (!sum)
        return NULL;
    sum->buffers = malloc((size_t)count * sizeof *sum->buffers);
    sum->counts = malloc((size_t)count * sizeof *sum->counts);
    if (!sum->buffers || !sum->counts) {
        free_sum(sum);
        return NULL;
    }
    memcpy(sum->buffers, buffers, (size_t)count * sizeof *buffers);
    memcpy(sum->counts, counts, (size_t)count * sizeof *counts);
    sum->op = op;
    sum->count = count;
    sum->dtype = dtype;
    sum->reduce = reduce;
    return sum;
}

rlkd_status rlkd_comm_device_all_reduce_start(rlkd_comm *comm, const char *op,
                                              void *const *buffers,
                                              const size_t *counts, int count,
                                              rlkd_comm_dtype dtype,
                                              rlkd_reduce_op reduce)
{
    RLKD_TRY(rlkd_comm_check_usable(comm, op));
    if (comm->world_size == 1 || count == 0)
        return RLKD_OK;
    if (comm->nccl)
        return rlkd_comm_settle(comm, rlkd_nccl_all_reduce_start(
                                          comm, op, buffers, counts, count,
                                          dtype, reduce));
    if (comm->ctx->kind != RLKD_DEVICE_CPU)
        return rlkd_comm_device_all_reduce(comm, op, buffers, counts, count,
                                           dtype, reduce);
    if (!comm->worker)
        RLKD_TRY(start_worker(comm, op));
    started_sum *sum = copy_sum(op, buffers, counts, count, dtype, reduce);
    if (!sum)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    rlkd_comm_worker *w = comm->worker;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = sum;
    else
        w->head = sum;
    w->tail = sum;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return RLKD_OK;
}

rlkd_status rlkd_comm_finish_started(rlkd_comm *comm, const char *op)
{
    if (comm->nccl)
        return rlkd_comm_settle(comm, rlkd_nccl_finish_started(comm, op));
    rlkd_comm_worker *w = comm->worker;
    if (!w)
        return RLKD_OK;
    pthread_mutex_lock(&w->lock);
    while (w->head || w->busy)
        pthread_cond_wait(&w->idle, &w->lock);
    const rlkd_status status = w->status;
    char message[sizeof w->message];
    memcpy(message, w->message, sizeof message);
    w->status = RLKD_OK;
    pthread_mutex_unlock(&w->lock);
    if (status == RLKD_OK)
        return RLKD_OK;
    return rlkd_comm_settle(comm, rlkd_fail(status, "%s", message));
}

void rlkd_comm_worker_stop(rlkd_comm *comm)
{
    rlkd_comm_worker *w = comm->worker;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    comm->worker = NULL;
}
