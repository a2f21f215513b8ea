/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_maxpool2d_forward(rlkd_context *ctx, float *y,
                                       const float *x,
                                       const rlkd_pool2d_geom *g)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)g;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_maxpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy, const float *x,
                                        const rlkd_pool2d_geom *g)
{
    (void)ctx;
    (void)dx;
    (void)dy;
    (void)x;
    (void)g;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

