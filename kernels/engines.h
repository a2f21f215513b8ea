/*
 * The CUDA backend's cuDNN and cuBLAS engines (RLKD_ENGINE_CUDNN): the
 * convolution and linear entries of the backend table, with exactly their
 * signatures (kernels/conv2d_cudnn.cu, linear_cublas.cu), and the state a
 * context keeps for them (engines.cu). In a build without cuDNN and cuBLAS,
 * lib/core/engines_absent.c stands in and every op answers
 * RLKD_ERR_UNSUPPORTED (rlkd_context_set_engine refuses the engine there, so
 * none is reached).
 */
#ifndef RLKD_ENGINES_H
#define RLKD_ENGINES_H

#include "../lib/core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* conv2d_cudnn.cu */
rlkd_status rlkd_cudnn_conv2d_forward(rlkd_context *ctx, float *y,
                                      const float *x, const float *w,
                                      const float *bias,
                                      const rlkd_conv2d_geom *g);
rlkd_status rlkd_cudnn_conv2d_backward(rlkd_context *ctx, float *dx,
                                       float *dw, float *dbias,
                                       const float *dy, const float *x,
                                       const float *w,
                                       const rlkd_conv2d_geom *g);

/* linear_cublas.cu */
rlkd_status rlkd_cublas_linear_forward(rlkd_context *ctx, float *y,
                                       const float *x, const float *w,
                                       const float *bias, int n,
                                       int in_features, int out_features);
rlkd_status rlkd_cublas_linear_backward(rlkd_context *ctx, float *dx,
                                        float *dw, float *dbias,
                                        const float *dy, const float *x,
                                        const float *w, int n,
                                        int in_features, int out_features);

/* engines.cu: frees the context's handles and plans (ctx->engine_state);
 * called while its stream and memory pool are still there. */
void rlkd_engines_release(rlkd_context *ctx);

#ifdef __cplusplus
}
#endif

#endif
