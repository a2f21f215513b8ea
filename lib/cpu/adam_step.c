/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_adam_step(rlkd_context *ctx, float *param, float *m,
                               float *v, const float *grad, size_t n, float lr,
                               float beta1, float beta2, float eps,
                               float weight_decay, int decoupled,
                               int64_t step)
{
    (void)ctx;
    (void)param;
    (void)m;
    (void)v;
    (void)grad;
    (void)n;
    (void)lr;
    (void)beta1;
    (void)beta2;
    (void)eps;
    (void)weight_decay;
    (void)decoupled;
    (void)step;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

