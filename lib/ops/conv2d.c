/* rlkd_conv2d_forward / rlkd_conv2d_backward: checks, then the backend. */
#include "../core/internal.h"

#include <stdio.h>

/* One axis of the output: the window must fit the padded input. */
static rlkd_status output_extent(const char *op, const char *axis,
                                 int64_t *out, int64_t in, int64_t kernel,
                                 int stride, int pad, int dilation)
{
    char what[32];
    snprintf(what, sizeof what, "padded input %s", axis);
    RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_SHAPE, op, what,
                                  in + 2 * (int64_t)pad));
    /* The kernel is a tensor dimension, so at most INT32_MAX. */
    if (rlkd_window_output_size(out, in, (int)kernel, stride, pad, dilation)
        != RLKD_OK)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: w's kernel %s %lld with dilation %d does not fit "
                         "x's %s %lld padded by %d", op, axis,
                         (long long)kernel, dilation, axis, (long long)in,
                         pad);
    return RLKD_OK;
}

/*
 * The checks forward and backward share: x and w, the settings, and how
 * they fit together. Fills the geometry the backend gets.
 */
static rlkd_status conv2d_geometry(rlkd_conv2d_geom *g,
                                   const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *x, const rlkd_tensor *w,
                                   int stride_h, int stride_w, int pad_h,
                                   int pad_w, int dilation_h, int dilation_w,
                                   int groups)
{
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "w", w, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "x", x, 4));
    RLKD_TRY(rlkd_expect_ndim(op, "w", w, 4));
    RLKD_TRY(rlkd_expect_at_least(op, "stride_h", stride_h, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "stride_w", stride_w, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "pad_h", pad_h, 0));
    RLKD_TRY(rlkd_expect_at_least(op, "pad_w", pad_w, 0));
    RLKD_TRY(rlkd_expect_at_least(op, "dilation_h", dilation_h, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "dilation_w", dilation_w, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "groups", groups, 1));

    const int64_t in_c = x->shape[1], out_c = w->shape[0];
    const int64_t kernel_h = w->shape[2], kernel_w = w->shape[3];
    if (in_c % groups != 0)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: groups %d does not divide the %lld input "
                         "channels of x", op, groups, (long long)in_c);
    if (out_c % groups != 0)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: groups %d does not divide the %lld output "
                         "channels of w", op, groups, (long long)out_c);
    const int64_t w_shape[4] = {out_c, in_c / groups, kernel_h, kernel_w};
    RLKD_TRY(rlkd_expect_shape(op, "w", w, 4, w_shape));

    int64_t out_h, out_w;
    RLKD_TRY(output_extent(op, "height", &out_h, x->shape[2], kernel_h,
                           stride_h, pad_h, dilation_h));
    RLKD_TRY(output_extent(op, "width", &out_w, x->shape[3], kernel_w,
                           stride_w, pad_w, dilation_w));
    RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_SHAPE, op,
                                  "the output plane (height x width)",
                                  out_h * out_w));
    RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_SHAPE, op,
                                  "one output's taps (w's channels x kernel "
                                  "height x kernel width)",
                                  w->numel / out_c));

    /* Tensor dimensions are at most INT32_MAX, so these all fit an int. */
    *g = (rlkd_conv2d_geom){
        .n = (int)x->shape[0], .in_c = (int)in_c,
        .in_h = (int)x->shape[2], .in_w = (int)x->shape[3],
        .out_c = (int)out_c, .out_h = (int)out_h, .out_w = (int)out_w,
        .kernel_h = (int)kernel_h, .kernel_w = (int)kernel_w,
        .stride_h = stride_h, .stride_w = stride_w,
        .pad_h = pad_h, .pad_w = pad_w,
        .dilation_h = dilation_h, .dilation_w = dilation_w,
        .groups = groups,
    };
    return RLKD_OK;
}

/* y or dy: exactly [N, Cout, Ho, Wo]. */
static rlkd_status expect_output_shape(const char *op, const char *name,
                                       const rlkd_tensor *t,
                                       const rlkd_conv2d_geom *g)
{
    const int64_t shape[4] = {g->n, g->out_c, g->out_h, g->out_w};
    return rlkd_expect_shape(op, name, t, 4, shape);
}

rlkd_status rlkd_conv2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                const rlkd_tensor *x, const rlkd_tensor *w,
                                const rlkd_tensor *bias, int stride_h,
                                int stride_w, int pad_h, int pad_w,
                                int dilation_h, int dilation_w, int groups)
{
    static const char op[] = "rlkd_conv2d_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    rlkd_conv2d_geom g;
    RLKD_TRY(conv2d_geometry(&g, ctx, op, x, w, stride_h, stride_w, pad_h,
                             pad_w, dilation_h, dilation_w, groups));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "bias", bias, 1, g.out_c));
    RLKD_TRY(expect_output_shape(op, "y", y, &g));
    return RLKD_DISPATCH(ctx, conv2d_forward, rlkd_f32(y), rlkd_f32(x),
                         rlkd_f32(w), rlkd_f32(bias), &g);
}

rlkd_status rlkd_conv2d_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                 rlkd_tensor *dw, rlkd_tensor *dbias,
                                 const rlkd_tensor *dy, const rlkd_tensor *x,
                                 const rlkd_tensor *w, int stride_h,
                                 int stride_w, int pad_h, int pad_w,
                                 int dilation_h, int dilation_w, int groups)
{
    static const char op[] = "rlkd_conv2d_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dw", dw, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    rlkd_conv2d_geom g;
    RLKD_TRY(conv2d_geometry(&g, ctx, op, x, w, stride_h, stride_w, pad_h,
                             pad_w, dilation_h, dilation_w, groups));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "dbias", dbias, 1, g.out_c));
    RLKD_TRY(expect_output_shape(op, "dy", dy, &g));
    if (dx)
        RLKD_TRY(rlkd_expect_same_shape(op, "dx", dx, "x", x));
    if (dw)
        RLKD_TRY(rlkd_expect_same_shape(op, "dw", dw, "w", w));
    return RLKD_DISPATCH(ctx, conv2d_backward, rlkd_f32(dx), rlkd_f32(dw),
                         rlkd_f32(dbias), rlkd_f32(dy), rlkd_f32(x),
                         rlkd_f32(w), &g);
}
