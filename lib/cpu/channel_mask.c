/* Per-channel scaling on the CPU (channel mask forward and backward). */
#include "cpu.h"

rlkd_status rlkd_cpu_channel_mask(rlkd_context *ctx, float *y, const float *x,
                                  const float *mask, int n, int c, int hw)
{
    size_t planes = (size_t)n * (size_t)c;
    size_t plane_size = (size_t)hw;
    const size_t total = planes * plane_size;
    #pragma omp parallel for num_threads(ctx->num_threads) if (total > 65536)
    for (size_t plane = 0; plane < planes; plane++) {
        const float scale = mask[plane % (size_t)c];
        const float *in = x + plane * plane_size;
        float *out = y + plane * plane_size;
        for (size_t i = 0; i < plane_size; i++)
            out[i] = in[i] * scale;
    }
    return RLKD_OK;
}
