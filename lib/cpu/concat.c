/* Channel concatenation on the CPU, one input's slice of y per call: each
 * (sample, input) pair is one contiguous run of x_channels * hw floats. */
#include "cpu.h"

#include <string.h>

rlkd_status rlkd_cpu_concat_forward(rlkd_context *ctx, float *y,
                                    const float *x, int n, int hw,
                                    int y_channels, int channel_offset,
                                    int x_channels)
{
    size_t run = (size_t)x_channels * (size_t)hw;
    size_t y_stride = (size_t)y_channels * (size_t)hw;
    size_t y_start = (size_t)channel_offset * (size_t)hw;
    #pragma omp parallel for num_threads(ctx->num_threads) if ((size_t)n * run > 65536)
    for (int s = 0; s < n; s++)
        memcpy(y + (size_t)s * y_stride + y_start, x + (size_t)s * run,
               run * sizeof *y);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_concat_backward(rlkd_context *ctx, float *dx,
                                     const float *dy, int n, int hw,
                                     int y_channels, int channel_offset,
                                     int x_channels)
{
    size_t run = (size_t)x_channels * (size_t)hw;
    size_t y_stride = (size_t)y_channels * (size_t)hw;
    size_t y_start = (size_t)channel_offset * (size_t)hw;
    #pragma omp parallel for num_threads(ctx->num_threads) if ((size_t)n * run > 65536)
    for (int s = 0; s < n; s++)
        memcpy(dx + (size_t)s * run, dy + (size_t)s * y_stride + y_start,
               run * sizeof *dx);
    return RLKD_OK;
}
