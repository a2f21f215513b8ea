/*
 * Private checks shared by the max- and average-pooling wrappers in lib/ops.
 */
#ifndef RLKD_OPS_POOL2D_H
#define RLKD_OPS_POOL2D_H

#include "../core/internal.h"

/*
 * A pooling window over `in` (the [N,C,H,W] input, or its gradient) whose
 * output, or output gradient, is `out`: checks the window (kernel >= 1,
 * stride >= 1, 0 <= pad <= kernel/2 as PyTorch requires), that it fits the
 * input and the padded input fits an int, and that `out` is [N,C,Ho,Wo] in
 * floor mode. Fills g, leaving
 * count_include_pad 0. Both tensors must already have passed
 * rlkd_check_tensor.
 */
rlkd_status rlkd_pool2d_check_geom(const char *op, const char *in_name,
                                   const rlkd_tensor *in,
                                   const char *out_name,
                                   const rlkd_tensor *out, int kernel_h,
                                   int kernel_w, int stride_h, int stride_w,
                                   int pad_h, int pad_w, rlkd_pool2d_geom *g);

/* Everything a forward call (y from x) checks: the context, both tensors,
 * then the window as rlkd_pool2d_check_geom does. */
rlkd_status rlkd_pool2d_check_forward(rlkd_context *ctx, const char *op,
                                      const rlkd_tensor *y,
                                      const rlkd_tensor *x, int kernel_h,
                                      int kernel_w, int stride_h, int stride_w,
                                      int pad_h, int pad_w,
                                      rlkd_pool2d_geom *g);

#endif
