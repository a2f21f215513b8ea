/* Global average pooling on the CPU: one plane (n, c) per task. */
#include "cpu.h"

rlkd_status rlkd_cpu_global_avgpool_forward(rlkd_context *ctx, float *y,
                                            const float *x, int planes,
                                            int hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)planes * hw > 65536)
    for (int p = 0; p < planes; p++) {
        const float *plane = x + (size_t)p * hw;
        double sum = 0.0; /* double: planes can be large */
        for (int i = 0; i < hw; i++)
            sum += plane[i];
        y[p] = (float)(sum / hw);
    }
    return RLKD_OK;
}

rlkd_status rlkd_cpu_global_avgpool_backward(rlkd_context *ctx, float *dx,
                                             const float *dy, int planes,
                                             int hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)planes * hw > 65536)
    for (int p = 0; p < planes; p++) {
        const float share = (float)((double)dy[p] / hw);
        float *plane = dx + (size_t)p * hw;
        for (int i = 0; i < hw; i++)
            plane[i] = share;
    }
    return RLKD_OK;
}
