/* ReLU on the CPU. */
#include "cpu.h"

rlkd_status rlkd_cpu_relu_forward(rlkd_context *ctx, float *y, const float *x,
                                  size_t n)
{
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return RLKD_OK;
}

rlkd_status rlkd_cpu_relu_backward(rlkd_context *ctx, float *dx,
                                   const float *dy, const float *y, size_t n)
{
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        /* read unconditionally, so that the loop vectorises */
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
    return RLKD_OK;
}
