/* The CUDA backend's entry points, one .cu file per op in kernels/. */
#ifndef RLKD_CUDA_H
#define RLKD_CUDA_H

#include "../lib/core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* memory.cu */
rlkd_status rlkd_cuda_context_init(rlkd_context *ctx);
void rlkd_cuda_context_release(rlkd_context *ctx);
/* Pooled: cheap enough for an op's scratch (kernels/memory.cu). */
rlkd_status rlkd_cuda_alloc(rlkd_context *ctx, void **out, size_t bytes);
void rlkd_cuda_release(rlkd_context *ctx, void *ptr);
rlkd_status rlkd_cuda_copy_from_host(rlkd_context *ctx, void *dst,
                                     const void *src, size_t bytes);
rlkd_status rlkd_cuda_copy_to_host(rlkd_context *ctx, void *dst,
                                   const void *src, size_t bytes);
rlkd_status rlkd_cuda_copy(rlkd_context *ctx, void *dst, const void *src,
                           size_t bytes);
rlkd_status rlkd_cuda_synchronize(rlkd_context *ctx);

/* fill.cu */
rlkd_status rlkd_cuda_fill(rlkd_context *ctx, float *x, float value, size_t n);
rlkd_status rlkd_cuda_fill_random(rlkd_context *ctx, float *x, size_t n,
                                  int normal, float a, float b, uint64_t seed,
                                  uint64_t stream);

/* relu.cu */
rlkd_status rlkd_cuda_relu_forward(rlkd_context *ctx, float *y,
                                   const float *x, size_t n);
rlkd_status rlkd_cuda_relu_backward(rlkd_context *ctx, float *dx,
                                    const float *dy, const float *y, size_t n);

/* increment_i32.cu */
rlkd_status rlkd_cuda_increment_i32(rlkd_context *ctx, int32_t *x, size_t n);

/* add.cu */
rlkd_status rlkd_cuda_add(rlkd_context *ctx, float *y, const float *a,
                          const float *b, size_t n);

/* dropout.cu */
rlkd_status rlkd_cuda_dropout_forward(rlkd_context *ctx, float *y, float *mask,
                                      const float *x, size_t n, float p,
                                      uint64_t seed, uint64_t stream,
                                      uint64_t first);
rlkd_status rlkd_cuda_dropout_backward(rlkd_context *ctx, float *dx,
                                       const float *dy, const float *mask,
                                       size_t n);

/* channel_mask.cu */
rlkd_status rlkd_cuda_channel_mask(rlkd_context *ctx, float *y, const float *x,
                                   const float *mask, int n, int c, int hw);

/* conv2d.cu */
rlkd_status rlkd_cuda_conv2d_forward(rlkd_context *ctx, float *y,
                                     const float *x, const float *w,
                                     const float *bias,
                                     const rlkd_conv2d_geom *g);
rlkd_status rlkd_cuda_conv2d_backward(rlkd_context *ctx, float *dx, float *dw,
                                      float *dbias, const float *dy,
                                      const float *x, const float *w,
                                      const rlkd_conv2d_geom *g);

/* linear.cu */
rlkd_status rlkd_cuda_linear_forward(rlkd_context *ctx, float *y,
                                     const float *x, const float *w,
                                     const float *bias, int n, int in_features,
                                     int out_features);
rlkd_status rlkd_cuda_linear_backward(rlkd_context *ctx, float *dx, float *dw,
                                      float *dbias, const float *dy,
                                      const float *x, const float *w, int n,
                                      int in_features, int out_features);

/* batchnorm2d.cu */
rlkd_status rlkd_cuda_batchnorm2d_forward(rlkd_context *ctx, float *y,
                                          float *save_mean, float *save_invstd,
                                          float *running_mean,
                                          float *running_var, const float *x,
                                          const float *gamma,
                                          const float *beta, int n, int c,
                                          int hw, int training, float momentum,
                                          float eps,
                                          const rlkd_sum_hook *sync);
rlkd_status rlkd_cuda_batchnorm2d_backward(rlkd_context *ctx, float *dx,
                                           float *dgamma, float *dbeta,
                                           const float *dy, const float *x,
                                           const float *gamma,
                                           const float *save_mean,
                                           const float *save_invstd, int n,
                                           int c, int hw, int training,
                                           const rlkd_sum_hook *sync);

/* maxpool2d.cu */
rlkd_status rlkd_cuda_maxpool2d_forward(rlkd_context *ctx, float *y,
                                        const float *x,
                                        const rlkd_pool2d_geom *g);
rlkd_status rlkd_cuda_maxpool2d_backward(rlkd_context *ctx, float *dx,
                                         const float *dy, const float *x,
                                         const rlkd_pool2d_geom *g);

/* avgpool2d.cu */
rlkd_status rlkd_cuda_avgpool2d_forward(rlkd_context *ctx, float *y,
                                        const float *x,
                                        const rlkd_pool2d_geom *g);
rlkd_status rlkd_cuda_avgpool2d_backward(rlkd_context *ctx, float *dx,
                                         const float *dy,
                                         const rlkd_pool2d_geom *g);

/* global_avgpool.cu */
rlkd_status rlkd_cuda_global_avgpool_forward(rlkd_context *ctx, float *y,
                                             const float *x, int planes,
                                             int hw);
rlkd_status rlkd_cuda_global_avgpool_backward(rlkd_context *ctx, float *dx,
                                              const float *dy, int planes,
                                              int hw);

/* concat.cu */
rlkd_status rlkd_cuda_concat_forward(rlkd_context *ctx, float *y,
                                     const float *x, int n, int hw,
                                     int y_channels, int channel_offset,
                                     int x_channels);
rlkd_status rlkd_cuda_concat_backward(rlkd_context *ctx, float *dx,
                                      const float *dy, int n, int hw,
                                      int y_channels, int channel_offset,
                                      int x_channels);

/* softmax_cross_entropy.cu */
rlkd_status rlkd_cuda_softmax_cross_entropy(rlkd_context *ctx, float *loss,
                                            float *dlogits,
                                            const float *logits,
                                            const int32_t *labels, int n,
                                            int k, float label_smoothing,
                                            float dloss);

/* kd_loss.cu */
rlkd_status rlkd_cuda_kd_loss(rlkd_context *ctx, float *loss, float *dstudent,
                              const float *student, const float *teacher,
                              const int32_t *labels, int n, int k, float alpha,
                              float temperature, float dloss);

/* attention_transfer_loss.cu */
rlkd_status rlkd_cuda_attention_transfer_loss(rlkd_context *ctx, float *loss,
                                              float *dstudent,
                                              const float *student,
                                              const float *teacher, int n,
                                              int student_c, int teacher_c,
                                              int hw, float dloss);

/* se.cu */
rlkd_status rlkd_cuda_se_forward(rlkd_context *ctx, float *y, const float *x,
                                 const float *w1, const float *b1,
                                 const float *w2, const float *b2,
                                 const rlkd_attention_geom *g);
rlkd_status rlkd_cuda_se_backward(rlkd_context *ctx, float *dx, float *dw1,
                                  float *db1, float *dw2, float *db2,
                                  const float *dy, const float *x,
                                  const float *w1, const float *b1,
                                  const float *w2, const float *b2,
                                  const rlkd_attention_geom *g);

/* eca.cu */
rlkd_status rlkd_cuda_eca_forward(rlkd_context *ctx, float *y, const float *x,
                                  const float *w,
                                  const rlkd_attention_geom *g);
rlkd_status rlkd_cuda_eca_backward(rlkd_context *ctx, float *dx, float *dw,
                                   const float *dy, const float *x,
                                   const float *w,
                                   const rlkd_attention_geom *g);

/* cbam.cu */
rlkd_status rlkd_cuda_cbam_forward(rlkd_context *ctx, float *y, const float *x,
                                   const float *w1, const float *b1,
                                   const float *w2, const float *b2,
                                   const float *ws, const float *bs,
                                   const rlkd_attention_geom *g);
rlkd_status rlkd_cuda_cbam_backward(rlkd_context *ctx, float *dx, float *dw1,
                                    float *db1, float *dw2, float *db2,
                                    float *dws, float *dbs, const float *dy,
                                    const float *x, const float *w1,
                                    const float *b1, const float *w2,
                                    const float *b2, const float *ws,
                                    const float *bs,
                                    const rlkd_attention_geom *g);

/* sgd_step.cu */
rlkd_status rlkd_cuda_sgd_step(rlkd_context *ctx, float *param,
                               float *momentum_buf, const float *grad,
                               size_t n, float lr, float momentum,
                               float weight_decay, int nesterov);

/* adam_step.cu */
rlkd_status rlkd_cuda_adam_step(rlkd_context *ctx, float *param, float *m,
                                float *v, const float *grad, size_t n,
                                float lr, float beta1, float beta2, float eps,
                                float weight_decay, int decoupled,
                                int64_t step);

#ifdef __cplusplus
}
#endif

#endif
