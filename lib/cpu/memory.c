/* Host memory for CPU tensors and scratch. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

/* 64-byte alignment: a cache line and an AVX-512 vector. */
#define RLKD_CPU_ALIGNMENT 64

rlkd_status rlkd_cpu_alloc(rlkd_context *ctx, void **out, size_t bytes)
{
    (void)ctx;
    size_t rounded = (bytes + RLKD_CPU_ALIGNMENT - 1) / RLKD_CPU_ALIGNMENT *
                     RLKD_CPU_ALIGNMENT;
    *out = aligned_alloc(RLKD_CPU_ALIGNMENT, rounded ? rounded : RLKD_CPU_ALIGNMENT);
    if (!*out)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "cpu: cannot allocate %zu bytes of host memory", bytes);
    return RLKD_OK;
}

void rlkd_cpu_release(rlkd_context *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

/* The context's workspace (its backend_state): one buffer, grown to the
 * largest request so far, so that the per-step scratch of the big ops
 * (convolution columns) is allocated and faulted in once, not every call. */
typedef struct cpu_workspace {
    float *data;
    size_t count;
} cpu_workspace;

rlkd_status rlkd_cpu_workspace(rlkd_context *ctx, const char *op, size_t count,
                               float **out)
{
    cpu_workspace *ws = ctx->backend_state;
    if (!ws) {
        ws = calloc(1, sizeof *ws);
        if (!ws)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "%s: cannot allocate the context's workspace", op);
        ctx->backend_state = ws;
    }
    if (count > ws->count) {
        float *grown;
        RLKD_TRY(rlkd_cpu_scratch(op, count, &grown));
        free(ws->data);
        ws->data = grown;
        ws->count = count;
    }
    *out = ws->data;
    return RLKD_OK;
}

void rlkd_cpu_context_release(rlkd_context *ctx)
{
    cpu_workspace *ws = ctx->backend_state;
    if (ws)
        free(ws->data);
    free(ws);
    ctx->backend_state = NULL;
}

rlkd_status rlkd_cpu_copy(rlkd_context *ctx, void *dst, const void *src,
                          size_t bytes)
{
    (void)ctx;
    if (dst != src)
        memmove(dst, src, bytes);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_scratch(const char *op, size_t count, float **out)
{
    *out = malloc((count ? count : 1) * sizeof(float));
    if (!*out)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: cannot allocate %zu floats of scratch memory", op,
                         count);
    return RLKD_OK;
}
