/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_concat_forward(rlkd_context *ctx, float *y,
                                    const float *x, int n, int hw,
                                    int y_channels, int channel_offset,
                                    int x_channels)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)n;
    (void)hw;
    (void)y_channels;
    (void)channel_offset;
    (void)x_channels;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_concat_backward(rlkd_context *ctx, float *dx,
                                     const float *dy, int n, int hw,
                                     int y_channels, int channel_offset,
                                     int x_channels)
{
    (void)ctx;
    (void)dx;
    (void)dy;
    (void)n;
    (void)hw;
    (void)y_channels;
    (void)channel_offset;
    (void)x_channels;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

