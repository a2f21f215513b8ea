/* Elementwise addition on the CPU. */
#include "cpu.h"

rlkd_status rlkd_cpu_add(rlkd_context *ctx, float *y, const float *a,
                         const float *b, size_t n)
{
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
    return RLKD_OK;
}
