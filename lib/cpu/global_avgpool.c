/* Global average pooling on the CPU: one plane (n, c) per task. */
#include "cpu.h"
#include "plane_sums.h"

void rlkd_cpu_plane_means(rlkd_context *ctx, float *mean, const float *x,
                          size_t planes, size_t hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * hw > 65536)
    for (size_t p = 0; p < planes; p++)
        mean[p] = (float)(rlkd_cpu_plane_sum(x + p * hw, hw) / (double)hw);
}

rlkd_status rlkd_cpu_global_avgpool_forward(rlkd_context *ctx, float *y,
                                            const float *x, int planes,
                                            int hw)
{
    rlkd_cpu_plane_means(ctx, y, x, (size_t)planes, (size_t)hw);
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
