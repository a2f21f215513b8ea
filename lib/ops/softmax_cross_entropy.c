/* rlkd_softmax_cross_entropy_forward / _backward: checks, then the one fused
 * backend entry (the forward's optional gradient is taken with dloss = 1). */
#include "../core/internal.h"

/* What both calls check: dlogits (may be NULL here) and logits [N,K], labels
 * [N], label_smoothing in [0,1). Fills n and k. */
static rlkd_status check_arguments(const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *dlogits,
                                   const rlkd_tensor *logits,
                                   const rlkd_tensor *labels,
                                   float label_smoothing, int *n, int *k)
{
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dlogits", dlogits,
                                        RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_logits_labels(ctx, op, "logits", logits, labels, 0, n,
                                      k));
    if (dlogits)
        RLKD_TRY(rlkd_expect_same_shape(op, "dlogits", dlogits, "logits",
                                        logits));
    return rlkd_expect_in_unit_range(op, "label_smoothing", label_smoothing);
}

rlkd_status rlkd_softmax_cross_entropy_forward(rlkd_context *ctx,
                                               rlkd_tensor *loss,
                                               rlkd_tensor *dlogits,
                                               const rlkd_tensor *logits,
                                               const rlkd_tensor *labels,
                                               float label_smoothing)
{
    static const char op[] = "rlkd_softmax_cross_entropy_forward";
    int n, k;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_loss_tensor(ctx, op, loss));
    RLKD_TRY(check_arguments(ctx, op, dlogits, logits, labels, label_smoothing,
                             &n, &k));
    return RLKD_DISPATCH(ctx, softmax_cross_entropy, rlkd_f32(loss),
                         rlkd_f32(dlogits), rlkd_f32(logits), rlkd_i32(labels),
                         n, k, label_smoothing, 1.0f);
}

rlkd_status rlkd_softmax_cross_entropy_backward(rlkd_context *ctx,
                                                rlkd_tensor *dlogits,
                                                const rlkd_tensor *logits,
                                                const rlkd_tensor *labels,
                                                float label_smoothing,
                                                float dloss)
{
    static const char op[] = "rlkd_softmax_cross_entropy_backward";
    int n, k;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dlogits", dlogits, RLKD_DTYPE_F32));
    RLKD_TRY(check_arguments(ctx, op, dlogits, logits, labels, label_smoothing,
                             &n, &k));
    RLKD_TRY(rlkd_expect_finite(op, "dloss", dloss));
    return RLKD_DISPATCH(ctx, softmax_cross_entropy, NULL, rlkd_f32(dlogits),
                         rlkd_f32(logits), rlkd_i32(labels), n, k,
                         label_smoothing, dloss);
}
