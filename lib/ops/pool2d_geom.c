/* The checks shared by the max- and average-pooling wrappers. */
#include "pool2d.h"

#include <stdio.h>

/* One axis of the window: `axis` is 'h' or 'w', `in` the input's size along
 * it ("height"/"width" in `in_dim`). Writes the output size. */
static rlkd_status check_window_axis(const char *op, char axis,
                                     const char *in_name, const char *in_dim,
                                     int64_t in, int kernel, int stride,
                                     int pad, int *out)
{
    char kernel_name[16], stride_name[16], pad_name[16], padded_name[48];
    snprintf(kernel_name, sizeof kernel_name, "kernel_%c", axis);
    snprintf(stride_name, sizeof stride_name, "stride_%c", axis);
    snprintf(pad_name, sizeof pad_name, "pad_%c", axis);
    RLKD_TRY(rlkd_expect_at_least(op, kernel_name, kernel, 1));
    RLKD_TRY(rlkd_expect_at_least(op, stride_name, stride, 1));
    RLKD_TRY(rlkd_expect_at_least(op, pad_name, pad, 0));
    if (pad > kernel / 2)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s %d must be at most half of %s %d", op,
                         pad_name, pad, kernel_name, kernel);
    /* Tensor sizes fit an int, but the padded extent the backend's window
     * arithmetic reaches may not. */
    snprintf(padded_name, sizeof padded_name, "%s's padded %s", in_name,
             in_dim);
    RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_INVALID_ARGUMENT, op, padded_name,
                                  in + 2 * (int64_t)pad));
    int64_t size;
    if (rlkd_window_output_size(&size, in, kernel, stride, pad, 1) != RLKD_OK)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: %s %d does not fit %s's %s %lld with %s %d", op,
                         kernel_name, kernel, in_name, in_dim, (long long)in,
                         pad_name, pad);
    *out = (int)size;
    return RLKD_OK;
}

rlkd_status rlkd_pool2d_check_forward(rlkd_context *ctx, const char *op,
                                      const rlkd_tensor *y,
                                      const rlkd_tensor *x, int kernel_h,
                                      int kernel_w, int stride_h, int stride_w,
                                      int pad_h, int pad_w,
                                      rlkd_pool2d_geom *g)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    return rlkd_pool2d_check_geom(op, "x", x, "y", y, kernel_h, kernel_w,
                                  stride_h, stride_w, pad_h, pad_w, g);
}

rlkd_status rlkd_pool2d_check_geom(const char *op, const char *in_name,
                                   const rlkd_tensor *in,
                                   const char *out_name,
                                   const rlkd_tensor *out, int kernel_h,
                                   int kernel_w, int stride_h, int stride_w,
                                   int pad_h, int pad_w, rlkd_pool2d_geom *g)
{
    RLKD_TRY(rlkd_expect_ndim(op, in_name, in, 4));
    rlkd_pool2d_geom geom = {0};
    RLKD_TRY(check_window_axis(op, 'h', in_name, "height", in->shape[2],
                               kernel_h, stride_h, pad_h, &geom.out_h));
    RLKD_TRY(check_window_axis(op, 'w', in_name, "width", in->shape[3],
                               kernel_w, stride_w, pad_w, &geom.out_w));
    const int64_t out_shape[4] = {in->shape[0], in->shape[1], geom.out_h,
                                  geom.out_w};
    RLKD_TRY(rlkd_expect_shape(op, out_name, out, 4, out_shape));
    geom.n = (int)in->shape[0];
    geom.c = (int)in->shape[1];
    geom.in_h = (int)in->shape[2];
    geom.in_w = (int)in->shape[3];
    geom.kernel_h = kernel_h;
    geom.kernel_w = kernel_w;
    geom.stride_h = stride_h;
    geom.stride_w = stride_w;
    geom.pad_h = pad_h;
    geom.pad_w = pad_w;
    *g = geom;
    return RLKD_OK;
}
