/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_eca_forward(rlkd_context *ctx, float *y, const float *x,
                                 const float *w, const rlkd_attention_geom *g)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)w;
    (void)g;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_eca_backward(rlkd_context *ctx, float *dx, float *dw,
                                  const float *dy, const float *x,
                                  const float *w,
                                  const rlkd_attention_geom *g)
{
    (void)ctx;
    (void)dx;
    (void)dw;
    (void)dy;
    (void)x;
    (void)w;
    (void)g;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

