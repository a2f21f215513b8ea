/*
 * The CPU reference backend: one file per op in lib/cpu/, each defining the
 * rlkd_cpu_<op> functions that lib/cpu/backend.c puts into the table.
 * Plain C11 with OpenMP; GEMMs go through a CBLAS (OpenBLAS).
 */
#ifndef RLKD_CPU_H
#define RLKD_CPU_H

#include "../core/internal.h"

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major, on ctx's threads. */
void rlkd_cpu_gemm(rlkd_context *ctx, int trans_a, int trans_b, int m, int n,
                   int k, float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc);

/*
 * Serial mode, for work spread over threads that each want a GEMM of their
 * own (many small GEMMs parallelise better side by side than one by one).
 * rlkd_cpu_gemm_serial_begin, called outside any parallel region, puts the
 * BLAS on one thread: OpenBLAS's sgemm then runs on its caller alone and may
 * be called from several threads at once, which its thread pool may not.
 * Then rlkd_cpu_gemm_serial is rlkd_cpu_gemm on the calling thread only.
 * The next rlkd_cpu_gemm ends the mode.
 */
void rlkd_cpu_gemm_serial_begin(void);
void rlkd_cpu_gemm_serial(int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, const float *b,
                          int ldb, float beta, float *c, int ldc);

/* The row stride for a scratch matrix of `columns` floats a row: one more
 * cache line's worth when rows would start a multiple of 1 KiB apart, where
 * a GEMM's reads down the rows (packing a transposed operand) fall into the
 * same cache sets: 4K aliasing, which halves the filter-gradient GEMM of a
 * 32x32 convolution. */
static inline int rlkd_cpu_padded_stride(int columns)
{
    return columns % 256 == 0 ? columns + 16 : columns;
}

/* Host scratch memory; fails with a message on exhaustion. */
rlkd_status rlkd_cpu_scratch(const char *op, size_t count, float **out);

/* The context's workspace: at least `count` floats, owned by the context and
 * valid until the next request on it (contexts are used by one thread at a
 * time); its contents do not survive that request. For the scratch that an
 * op needs on every call, which then costs no allocation after the first. */
rlkd_status rlkd_cpu_workspace(rlkd_context *ctx, const char *op, size_t count,
                               float **out);
/* Frees the workspace: the backend's context_release. */
void rlkd_cpu_context_release(rlkd_context *ctx);

/* memory.c */
rlkd_status rlkd_cpu_alloc(rlkd_context *ctx, void **out, size_t bytes);
void rlkd_cpu_release(rlkd_context *ctx, void *ptr);
rlkd_status rlkd_cpu_copy(rlkd_context *ctx, void *dst, const void *src,
                          size_t bytes);

/* fill.c */
rlkd_status rlkd_cpu_fill(rlkd_context *ctx, float *x, float value, size_t n);
rlkd_status rlkd_cpu_fill_random(rlkd_context *ctx, float *x, size_t n,
                                 int normal, float a, float b, uint64_t seed,
                                 uint64_t stream);

/* add.c, relu.c, dropout.c, channel_mask.c */
rlkd_status rlkd_cpu_increment_i32(rlkd_context *ctx, int32_t *x, size_t n);
rlkd_status rlkd_cpu_add(rlkd_context *ctx, float *y, const float *a,
                         const float *b, size_t n);
rlkd_status rlkd_cpu_relu_forward(rlkd_context *ctx, float *y, const float *x,
                                  size_t n);
rlkd_status rlkd_cpu_relu_backward(rlkd_context *ctx, float *dx,
                                   const float *dy, const float *y, size_t n);
rlkd_status rlkd_cpu_dropout_forward(rlkd_context *ctx, float *y, float *mask,
                                     const float *x, size_t n, float p,
                                     uint64_t seed, uint64_t stream,
                                     uint64_t first);
rlkd_status rlkd_cpu_dropout_backward(rlkd_context *ctx, float *dx,
                                      const float *dy, const float *mask,
                                      size_t n);
rlkd_status rlkd_cpu_channel_mask(rlkd_context *ctx, float *y, const float *x,
                                  const float *mask, int n, int c, int hw);

/*
 * batch_split.c: how a batch of images goes over a context's threads, for
 * the convolutions. It is cut into `blocks` blocks of consecutive images,
 * one per thread, each image's work runs on `per_image` threads (one of
 * the two is 1), and a block goes through its images `chunk` at a time.
 * Blocks whenever there are enough images, as side-by-side one-thread
 * GEMMs beat one small threaded GEMM after another; with fewer (batch-1
 * inference) each chunk is threaded instead.
 */
typedef struct rlkd_cpu_batch_split {
    int blocks, per_image, chunk;
} rlkd_cpu_batch_split;

/* A chunk takes enough images for `target_columns` GEMM columns (an image
 * gives `image_columns`), but no more than `max_floats` of scratch (an
 * image takes `image_floats`), and at least one image. */
rlkd_cpu_batch_split rlkd_cpu_batch_split_of(const rlkd_context *ctx, int n,
                                             int image_columns,
                                             size_t image_floats,
                                             int target_columns,
                                             size_t max_floats);
/* The first image of block b (b == blocks: one past the last image). */
int rlkd_cpu_block_start(int b, rlkd_cpu_batch_split s, int n);

/* winograd.c: F(2x2, 3x3) for 3x3 stride-1 convolutions, which conv2d.c
 * takes when rlkd_cpu_winograd_applies. Both write their output. */
int rlkd_cpu_winograd_applies(const rlkd_conv2d_geom *g);
rlkd_status rlkd_cpu_winograd_forward(rlkd_context *ctx, float *y,
                                      const float *x, const float *w,
                                      const float *bias,
                                      const rlkd_conv2d_geom *g);
rlkd_status rlkd_cpu_winograd_backward_data(rlkd_context *ctx, float *dx,
                                            const float *dy, const float *w,
                                            const rlkd_conv2d_geom *g);
/* Workspace floats rlkd_cpu_winograd_backward_data takes. */
size_t rlkd_cpu_winograd_backward_data_floats(const rlkd_context *ctx,
                                              const rlkd_conv2d_geom *g);

/* conv2d.c, linear.c */
rlkd_status rlkd_cpu_conv2d_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias,
                                    const rlkd_conv2d_geom *g);
rlkd_status rlkd_cpu_conv2d_backward(rlkd_context *ctx, float *dx, float *dw,
                                     float *dbias, const float *dy,
                                     const float *x, const float *w,
                                     const rlkd_conv2d_geom *g);
rlkd_status rlkd_cpu_linear_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias, int n,
                                    int in_features, int out_features);
rlkd_status rlkd_cpu_linear_backward(rlkd_context *ctx, float *dx, float *dw,
                                     float *dbias, const float *dy,
                                     const float *x, const float *w, int n,
                                     int in_features, int out_features);

/* batchnorm2d.c */
rlkd_status rlkd_cpu_batchnorm2d_forward(rlkd_context *ctx, float *y,
                                         float *save_mean, float *save_invstd,
                                         float *running_mean,
                                         float *running_var, const float *x,
                                         const float *gamma, const float *beta,
                                         int n, int c, int hw, int training,
                                         float momentum, float eps,
                                         const rlkd_sum_hook *sync);
rlkd_status rlkd_cpu_batchnorm2d_backward(rlkd_context *ctx, float *dx,
                                          float *dgamma, float *dbeta,
                                          const float *dy, const float *x,
                                          const float *gamma,
                                          const float *save_mean,
                                          const float *save_invstd, int n,
                                          int c, int hw, int training,
                                          const rlkd_sum_hook *sync);

/* maxpool2d.c, avgpool2d.c, global_avgpool.c */
rlkd_status rlkd_cpu_maxpool2d_forward(rlkd_context *ctx, float *y,
                                       const float *x,
                                       const rlkd_pool2d_geom *g);
rlkd_status rlkd_cpu_maxpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy, const float *x,
                                        const rlkd_pool2d_geom *g);
rlkd_status rlkd_cpu_avgpool2d_forward(rlkd_context *ctx, float *y,
                                       const float *x,
                                       const rlkd_pool2d_geom *g);
rlkd_status rlkd_cpu_avgpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy,
                                        const rlkd_pool2d_geom *g);
rlkd_status rlkd_cpu_global_avgpool_forward(rlkd_context *ctx, float *y,
                                            const float *x, int planes,
                                            int hw);
/* mean[p] = mean of plane p of x (plane_sums.h): global average pooling,
 * and the squeeze step of SE, ECA and CBAM. */
void rlkd_cpu_plane_means(rlkd_context *ctx, float *mean, const float *x,
                          size_t planes, size_t hw);
rlkd_status rlkd_cpu_global_avgpool_backward(rlkd_context *ctx, float *dx,
                                             const float *dy, int planes,
                                             int hw);

/* concat.c */
rlkd_status rlkd_cpu_concat_forward(rlkd_context *ctx, float *y,
                                    const float *x, int n, int hw,
                                    int y_channels, int channel_offset,
                                    int x_channels);
rlkd_status rlkd_cpu_concat_backward(rlkd_context *ctx, float *dx,
                                     const float *dy, int n, int hw,
                                     int y_channels, int channel_offset,
                                     int x_channels);

/* softmax_cross_entropy.c, kd_loss.c, attention_transfer_loss.c */
rlkd_status rlkd_cpu_softmax_cross_entropy(rlkd_context *ctx, float *loss,
                                           float *dlogits, const float *logits,
                                           const int32_t *labels, int n, int k,
                                           float label_smoothing, float dloss);
rlkd_status rlkd_cpu_kd_loss(rlkd_context *ctx, float *loss, float *dstudent,
                             const float *student, const float *teacher,
                             const int32_t *labels, int n, int k, float alpha,
                             float temperature, float dloss);
rlkd_status rlkd_cpu_attention_transfer_loss(rlkd_context *ctx, float *loss,
                                             float *dstudent,
                                             const float *student,
                                             const float *teacher, int n,
                                             int student_c, int teacher_c,
                                             int hw, float dloss);

/* se.c, eca.c, cbam.c */
rlkd_status rlkd_cpu_se_forward(rlkd_context *ctx, float *y, const float *x,
                                const float *w1, const float *b1,
                                const float *w2, const float *b2,
                                const rlkd_attention_geom *g);
rlkd_status rlkd_cpu_se_backward(rlkd_context *ctx, float *dx, float *dw1,
                                 float *db1, float *dw2, float *db2,
                                 const float *dy, const float *x,
                                 const float *w1, const float *b1,
                                 const float *w2, const float *b2,
                                 const rlkd_attention_geom *g);
rlkd_status rlkd_cpu_eca_forward(rlkd_context *ctx, float *y, const float *x,
                                 const float *w, const rlkd_attention_geom *g);
rlkd_status rlkd_cpu_eca_backward(rlkd_context *ctx, float *dx, float *dw,
                                  const float *dy, const float *x,
                                  const float *w,
                                  const rlkd_attention_geom *g);
rlkd_status rlkd_cpu_cbam_forward(rlkd_context *ctx, float *y, const float *x,
                                  const float *w1, const float *b1,
                                  const float *w2, const float *b2,
                                  const float *ws, const float *bs,
                                  const rlkd_attention_geom *g);
rlkd_status rlkd_cpu_cbam_backward(rlkd_context *ctx, float *dx, float *dw1,
                                   float *db1, float *dw2, float *db2,
                                   float *dws, float *dbs, const float *dy,
                                   const float *x, const float *w1,
                                   const float *b1, const float *w2,
                                   const float *b2, const float *ws,
                                   const float *bs,
                                   const rlkd_attention_geom *g);

/* sgd_step.c, adam_step.c */
rlkd_status rlkd_cpu_sgd_step(rlkd_context *ctx, float *param,
                              float *momentum_buf, const float *grad, size_t n,
                              float lr, float momentum, float weight_decay,
                              int nesterov);
rlkd_status rlkd_cpu_adam_step(rlkd_context *ctx, float *param, float *m,
                               float *v, const float *grad, size_t n, float lr,
                               float beta1, float beta2, float eps,
                               float weight_decay, int decoupled,
                               int64_t step);

#endif
