/* rlkd_adam_step: checks, then the backend. */
#include "../core/internal.h"

#include <math.h>

/* value must be finite and >= 0. */
static rlkd_status check_non_negative(const char *op, const char *name,
                                      float value)
{
    if (!(isfinite(value) && value >= 0.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s must be finite and >= 0, got %g", op, name,
                         (double)value);
    return RLKD_OK;
}

/* beta must be in [0,1); the negated test also refuses NaN. */
static rlkd_status check_beta(const char *op, const char *name, float beta)
{
    if (!(beta >= 0.0f && beta < 1.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s must be in [0,1), got %g", op, name,
                         (double)beta);
    return RLKD_OK;
}

rlkd_status rlkd_adam_step(rlkd_context *ctx, rlkd_tensor *param,
                           rlkd_tensor *m, rlkd_tensor *v,
                           const rlkd_tensor *grad, float lr, float beta1,
                           float beta2, float eps, float weight_decay,
                           int decoupled, int64_t step)
{
    static const char op[] = "rlkd_adam_step";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "param", param, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "m", m, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "v", v, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "grad", grad, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "m", m, "param", param));
    RLKD_TRY(rlkd_expect_same_shape(op, "v", v, "param", param));
    RLKD_TRY(rlkd_expect_same_shape(op, "grad", grad, "param", param));
    RLKD_TRY(check_non_negative(op, "lr", lr));
    RLKD_TRY(check_beta(op, "beta1", beta1));
    RLKD_TRY(check_beta(op, "beta2", beta2));
    if (!(isfinite(eps) && eps > 0.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: eps must be finite and > 0, got %g", op,
                         (double)eps);
    RLKD_TRY(check_non_negative(op, "weight_decay", weight_decay));
    RLKD_TRY(rlkd_expect_at_least(op, "step", step, 1));
    return RLKD_DISPATCH(ctx, adam_step, rlkd_f32(param), rlkd_f32(m),
                         rlkd_f32(v), rlkd_f32(grad), (size_t)param->numel, lr,
                         beta1, beta2, eps, weight_decay, decoupled, step);
}
