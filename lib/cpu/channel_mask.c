/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_channel_mask(rlkd_context *ctx, float *y, const float *x,
                                  const float *mask, int n, int c, int hw)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)mask;
    (void)n;
    (void)c;
    (void)hw;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

