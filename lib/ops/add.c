/* rlkd_add_forward / rlkd_add_backward: checks, then the backend. */
#include "../core/internal.h"

rlkd_status rlkd_add_forward(rlkd_context *ctx, rlkd_tensor *y,
                             const rlkd_tensor *a, const rlkd_tensor *b)
{
    static const char op[] = "rlkd_add_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "a", a, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "b", b, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "b", b, "a", a));
    RLKD_TRY(rlkd_expect_same_shape(op, "y", y, "a", a));
    return RLKD_DISPATCH(ctx, add, rlkd_f32(y), rlkd_f32(a), rlkd_f32(b),
                         (size_t)a->numel);
}

rlkd_status rlkd_add_backward(rlkd_context *ctx, rlkd_tensor *da,
                              rlkd_tensor *db, const rlkd_tensor *dy)
{
    static const char op[] = "rlkd_add_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "da", da, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "db", db, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    if (da)
        RLKD_TRY(rlkd_expect_same_shape(op, "da", da, "dy", dy));
    if (db)
        RLKD_TRY(rlkd_expect_same_shape(op, "db", db, "dy", dy));
    /* The gradient of a sum passes through unchanged: a plain copy. */
    size_t bytes = (size_t)dy->numel * sizeof(float);
    if (da)
        RLKD_TRY(RLKD_DISPATCH(ctx, copy, da->data, dy->data, bytes));
    if (db)
        RLKD_TRY(RLKD_DISPATCH(ctx, copy, db->data, dy->data, bytes));
    return RLKD_OK;
}
