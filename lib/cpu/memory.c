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
