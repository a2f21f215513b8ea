/* rlkd_adam_step: checks, then the backend. */
#include "../core/internal.h"

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
    RLKD_TRY(rlkd_expect_finite_at_least(op, "lr", lr, 0.0f));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "beta1", beta1));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "beta2", beta2));
    RLKD_TRY(rlkd_expect_finite_above(op, "eps", eps, 0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "weight_decay",
                                         weight_decay, 0.0f));
    RLKD_TRY(rlkd_expect_at_least(op, "step", step, 1));
    return RLKD_DISPATCH(ctx, adam_step, rlkd_f32(param), rlkd_f32(m),
                         rlkd_f32(v), rlkd_f32(grad), (size_t)param->numel, lr,
                         beta1, beta2, eps, weight_decay, decoupled, step);
}
