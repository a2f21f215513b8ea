/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_batchnorm2d_forward(rlkd_context *ctx, float *y,
                                         float *save_mean, float *save_invstd,
                                         float *running_mean,
                                         float *running_var, const float *x,
                                         const float *gamma, const float *beta,
                                         int n, int c, int hw, int training,
                                         float momentum, float eps)
{
    (void)ctx;
    (void)y;
    (void)save_mean;
    (void)save_invstd;
    (void)running_mean;
    (void)running_var;
    (void)x;
    (void)gamma;
    (void)beta;
    (void)n;
    (void)c;
    (void)hw;
    (void)training;
    (void)momentum;
    (void)eps;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_batchnorm2d_backward(rlkd_context *ctx, float *dx,
                                          float *dgamma, float *dbeta,
                                          const float *dy, const float *x,
                                          const float *gamma,
                                          const float *save_mean,
                                          const float *save_invstd, int n,
                                          int c, int hw, int training)
{
    (void)ctx;
    (void)dx;
    (void)dgamma;
    (void)dbeta;
    (void)dy;
    (void)x;
    (void)gamma;
    (void)save_mean;
    (void)save_invstd;
    (void)n;
    (void)c;
    (void)hw;
    (void)training;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

