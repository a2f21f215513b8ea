/* rlkd_sgd_step: checks, then the backend. */
#include "../core/internal.h"

rlkd_status rlkd_sgd_step(rlkd_context *ctx, rlkd_tensor *param,
                          rlkd_tensor *momentum_buf, const rlkd_tensor *grad,
                          float lr, float momentum, float weight_decay,
                          int nesterov)
{
    static const char op[] = "rlkd_sgd_step";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "param", param, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "momentum_buf", momentum_buf,
                                        RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "grad", grad, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "grad", grad, "param", param));
    if (momentum_buf)
        RLKD_TRY(rlkd_expect_same_shape(op, "momentum_buf", momentum_buf,
                                        "param", param));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "lr", lr, 0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "momentum", momentum,
                                         0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "weight_decay",
                                         weight_decay, 0.0f));
    if (nesterov && momentum == 0.0f)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: nesterov needs momentum > 0, got momentum 0",
                         op);
    if (momentum > 0.0f && !momentum_buf)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: momentum_buf is NULL but momentum is %g", op,
                         (double)momentum);
    return RLKD_DISPATCH(ctx, sgd_step, rlkd_f32(param),
                         rlkd_f32(momentum_buf), rlkd_f32(grad),
                         (size_t)param->numel, lr, momentum, weight_decay,
                         nesterov);
}
