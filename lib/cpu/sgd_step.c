/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_sgd_step(rlkd_context *ctx, float *param,
                              float *momentum_buf, const float *grad, size_t n,
                              float lr, float momentum, float weight_decay,
                              int nesterov)
{
    (void)ctx;
    (void)param;
    (void)momentum_buf;
    (void)grad;
    (void)n;
    (void)lr;
    (void)momentum;
    (void)weight_decay;
    (void)nesterov;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

