/* rlkd_dropout_forward / rlkd_dropout_backward: checks, then the backend. */
#include "../core/internal.h"

rlkd_status rlkd_dropout_forward_rows(rlkd_context *ctx, rlkd_tensor *y,
                                      rlkd_tensor *mask, const rlkd_tensor *x,
                                      float p, int training,
                                      int64_t first_row)
{
    static const char op[] = "rlkd_dropout_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "mask", mask, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "y", y, "x", x));
    RLKD_TRY(rlkd_expect_same_shape(op, "mask", mask, "x", x));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "p", p));
    /* Only a real draw consumes a random stream; otherwise p = 0 makes the
     * backend keep every element with scale 1. */
    const int drops = training && p > 0.0f;
    const uint64_t stream = drops ? rlkd_context_next_rng_stream(ctx) : 0;
    const int64_t row_values =
        first_row > 0 && x->numel > 0 ? x->numel / x->shape[0] : 0;
    return RLKD_DISPATCH(ctx, dropout_forward, rlkd_f32(y), rlkd_f32(mask),
                         rlkd_f32(x), (size_t)x->numel, drops ? p : 0.0f,
                         ctx->seed, stream,
                         (uint64_t)first_row * (uint64_t)row_values);
}

rlkd_status rlkd_dropout_forward(rlkd_context *ctx, rlkd_tensor *y,
                                 rlkd_tensor *mask, const rlkd_tensor *x,
                                 float p, int training)
{
    return rlkd_dropout_forward_rows(ctx, y, mask, x, p, training, 0);
}

rlkd_status rlkd_dropout_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                  const rlkd_tensor *dy,
                                  const rlkd_tensor *mask)
{
    static const char op[] = "rlkd_dropout_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "mask", mask, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "dy", dy, "mask", mask));
    RLKD_TRY(rlkd_expect_same_shape(op, "dx", dx, "mask", mask));
    return RLKD_DISPATCH(ctx, dropout_backward, rlkd_f32(dx), rlkd_f32(dy),
                         rlkd_f32(mask), (size_t)mask->numel);
}
