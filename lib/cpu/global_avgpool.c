/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_global_avgpool_forward(rlkd_context *ctx, float *y,
                                            const float *x, int planes,
                                            int hw)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)planes;
    (void)hw;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_global_avgpool_backward(rlkd_context *ctx, float *dx,
                                             const float *dy, int planes,
                                             int hw)
{
    (void)ctx;
    (void)dx;
    (void)dy;
    (void)planes;
    (void)hw;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

