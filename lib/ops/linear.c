/* rlkd_linear_forward / rlkd_linear_backward: checks, then the backend. */
#include "../core/internal.h"

/* Sizes forward and backward share, from x (flattened to [N, in]) and
 * w [out, in]. */
typedef struct {
    int n, in_features, out_features;
} linear_sizes;

static rlkd_status linear_geometry(linear_sizes *s, const rlkd_context *ctx,
                                   const char *op, const rlkd_tensor *x,
                                   const rlkd_tensor *w)
{
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "w", w, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "w", w, 2));
    const int64_t in_features = x->numel / x->shape[0];
    /* Tensor dimensions already fit an int; their product may not. */
    RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_SHAPE, op,
                                  "x's features per sample", in_features));
    const int64_t w_shape[2] = {w->shape[0], in_features};
    RLKD_TRY(rlkd_expect_shape(op, "w", w, 2, w_shape));
    *s = (linear_sizes){.n = (int)x->shape[0],
                        .in_features = (int)in_features,
                        .out_features = (int)w->shape[0]};
    return RLKD_OK;
}

/* y or dy: exactly [N, out]. */
static rlkd_status expect_output_shape(const char *op, const char *name,
                                       const rlkd_tensor *t,
                                       const linear_sizes *s)
{
    const int64_t shape[2] = {s->n, s->out_features};
    return rlkd_expect_shape(op, name, t, 2, shape);
}

rlkd_status rlkd_linear_forward(rlkd_context *ctx, rlkd_tensor *y,
                                const rlkd_tensor *x, const rlkd_tensor *w,
                                const rlkd_tensor *bias)
{
    static const char op[] = "rlkd_linear_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    linear_sizes s;
    RLKD_TRY(linear_geometry(&s, ctx, op, x, w));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "bias", bias, 1,
                                   s.out_features));
    RLKD_TRY(expect_output_shape(op, "y", y, &s));
    return RLKD_DISPATCH(ctx, linear_forward, rlkd_f32(y), rlkd_f32(x),
                         rlkd_f32(w), rlkd_f32(bias), s.n, s.in_features,
                         s.out_features);
}

rlkd_status rlkd_linear_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                 rlkd_tensor *dw, rlkd_tensor *dbias,
                                 const rlkd_tensor *dy, const rlkd_tensor *x,
                                 const rlkd_tensor *w)
{
    static const char op[] = "rlkd_linear_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dw", dw, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    linear_sizes s;
    RLKD_TRY(linear_geometry(&s, ctx, op, x, w));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "dbias", dbias, 1,
                                   s.out_features));
    RLKD_TRY(expect_output_shape(op, "dy", dy, &s));
    if (dx)
        RLKD_TRY(rlkd_expect_same_shape(op, "dx", dx, "x", x));
    if (dw)
        RLKD_TRY(rlkd_expect_same_shape(op, "dw", dw, "w", w));
    return RLKD_DISPATCH(ctx, linear_backward, rlkd_f32(dx), rlkd_f32(dw),
                         rlkd_f32(dbias), rlkd_f32(dy), rlkd_f32(x),
                         rlkd_f32(w), s.n, s.in_features, s.out_features);
}
