/* Channel concatenation on the CPU, one input's slice of y per call: for
 * each sample, the input is one contiguous run of x_channels * hw floats
 * inside y's run of y_channels * hw. */
#include "cpu.h"

#include <string.h>

/* Copies n runs of `run` floats between strided positions. */
static void copy_runs(rlkd_context *ctx, float *dst, size_t dst_stride,
                      const float *src, size_t src_stride, size_t run, int n)
{
    const size_t total = (size_t)n * run;
    #pragma omp parallel for num_threads(ctx->num_threads) if (total > 65536)
    for (int s = 0; s < n; s++)
        memcpy(dst + (size_t)s * dst_stride, src + (size_t)s * src_stride,
               run * sizeof *dst);
}

rlkd_status rlkd_cpu_concat_forward(rlkd_context *ctx, float *y,
                                    const float *x, int n, int hw,
                                    int y_channels, int channel_offset,
                                    int x_channels)
{
    const size_t run = (size_t)x_channels * (size_t)hw;
    copy_runs(ctx, y + (size_t)channel_offset * (size_t)hw,
              (size_t)y_channels * (size_t)hw, x, run, run, n);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_concat_backward(rlkd_context *ctx, float *dx,
                                     const float *dy, int n, int hw,
                                     int y_channels, int channel_offset,
                                     int x_channels)
{
    const size_t run = (size_t)x_channels * (size_t)hw;
    copy_runs(ctx, dx, run, dy + (size_t)channel_offset * (size_t)hw,
              (size_t)y_channels * (size_t)hw, run, n);
    return RLKD_OK;
}
