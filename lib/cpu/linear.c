/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_linear_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias, int n,
                                    int in_features, int out_features)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)w;
    (void)bias;
    (void)n;
    (void)in_features;
    (void)out_features;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_linear_backward(rlkd_context *ctx, float *dx, float *dw,
                                     float *dbias, const float *dy,
                                     const float *x, const float *w, int n,
                                     int in_features, int out_features)
{
    (void)ctx;
    (void)dx;
    (void)dw;
    (void)dbias;
    (void)dy;
    (void)x;
    (void)w;
    (void)n;
    (void)in_features;
    (void)out_features;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

