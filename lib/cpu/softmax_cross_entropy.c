/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_softmax_cross_entropy(rlkd_context *ctx, float *loss,
                                           float *dlogits, const float *logits,
                                           const int32_t *labels, int n, int k,
                                           float label_smoothing, float dloss)
{
    (void)ctx;
    (void)loss;
    (void)dlogits;
    (void)logits;
    (void)labels;
    (void)n;
    (void)k;
    (void)label_smoothing;
    (void)dloss;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

