/* rlkd_relu_forward / rlkd_relu_backward: checks, then the backend. */
#include "../core/internal.h"

rlkd_status rlkd_relu_forward(rlkd_context *ctx, rlkd_tensor *y,
                              const rlkd_tensor *x)
{
    static const char op[] = "rlkd_relu_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "y", y, "x", x));
    return RLKD_DISPATCH(ctx, relu_forward, rlkd_f32(y), rlkd_f32(x),
                         (size_t)x->numel);
}

rlkd_status rlkd_relu_backward(rlkd_context *ctx, rlkd_tensor *dx,
                               const rlkd_tensor *dy, const rlkd_tensor *y)
{
    static const char op[] = "rlkd_relu_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "dy", dy, "y", y));
    RLKD_TRY(rlkd_expect_same_shape(op, "dx", dx, "y", y));
    return RLKD_DISPATCH(ctx, relu_backward, rlkd_f32(dx), rlkd_f32(dy),
                         rlkd_f32(y), (size_t)y->numel);
}
