/* rlkd_maxpool2d_forward / _backward: checks, then the backend. */
#include "pool2d.h"

rlkd_status rlkd_maxpool2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                   const rlkd_tensor *x, int kernel_h,
                                   int kernel_w, int stride_h, int stride_w,
                                   int pad_h, int pad_w)
{
    rlkd_pool2d_geom g;
    RLKD_TRY(rlkd_pool2d_check_forward(ctx, "rlkd_maxpool2d_forward", y, x,
                                       kernel_h, kernel_w, stride_h, stride_w,
                                       pad_h, pad_w, &g));
    return RLKD_DISPATCH(ctx, maxpool2d_forward, rlkd_f32(y), rlkd_f32(x),
                         &g);
}

rlkd_status rlkd_maxpool2d_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                    const rlkd_tensor *dy,
                                    const rlkd_tensor *x, int kernel_h,
                                    int kernel_w, int stride_h, int stride_w,
                                    int pad_h, int pad_w)
{
    static const char op[] = "rlkd_maxpool2d_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    rlkd_pool2d_geom g;
    RLKD_TRY(rlkd_pool2d_check_geom(op, "x", x, "dy", dy, kernel_h, kernel_w,
                                    stride_h, stride_w, pad_h, pad_w, &g));
    RLKD_TRY(rlkd_expect_same_shape(op, "dx", dx, "x", x));
    return RLKD_DISPATCH(ctx, maxpool2d_backward, rlkd_f32(dx), rlkd_f32(dy),
                         rlkd_f32(x), &g);
}
