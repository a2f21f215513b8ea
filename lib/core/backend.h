/*
 * The backend table: every device-specific thing rlkd does goes through one
 * of these function pointers. lib/cpu fills one table, kernels/ the other.
 * Entries take raw device pointers and sizes; the public wrappers in
 * lib/ops have already checked every argument and shape, so a backend only
 * reports failures of its own (allocation, device runtime).
 *
 * A NULL entry means "not implemented on this backend": the public call then
 * answers RLKD_ERR_UNSUPPORTED with a message naming the op.
 * Order of arguments: context, outputs, inputs, sizes.
 */
#ifndef RLKD_BACKEND_H
#define RLKD_BACKEND_H

#include "rlkd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rlkd_conv2d_geom {
    int n, in_c, in_h, in_w;      /* x */
    int out_c, out_h, out_w;      /* y */
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dilation_h, dilation_w;
    int groups;
} rlkd_conv2d_geom;

typedef struct rlkd_pool2d_geom {
    int n, c, in_h, in_w, out_h, out_w;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int count_include_pad;        /* avgpool only */
} rlkd_pool2d_geom;

/* Shapes shared by the channel-attention ops (SE, ECA, CBAM). */
typedef struct rlkd_attention_geom {
    int n, c, h, w;
    int hidden;   /* SE/CBAM: width of the MLP's hidden layer */
    int kernel;   /* ECA: 1-D kernel length; CBAM: spatial kernel size */
} rlkd_attention_geom;

/* Sums `count` doubles in the context's memory, in place, over the ranks of
 * a data-parallel run (lib/comm): synchronised batch norm's per-channel
 * sums. Every rank makes the same calls in the same order. */
typedef struct rlkd_sum_hook {
    rlkd_status (*sum)(void *user, double *values, int count);
    void *user;
} rlkd_sum_hook;

typedef struct rlkd_backend {
    const char *name;

    /* ---- context and memory ---- */
    rlkd_status (*context_init)(rlkd_context *ctx);
    void (*context_release)(rlkd_context *ctx);
    rlkd_status (*alloc)(rlkd_context *ctx, void **out, size_t bytes);
    void (*release)(rlkd_context *ctx, void *ptr);
    rlkd_status (*copy_from_host)(rlkd_context *ctx, void *dst,
                                  const void *src, size_t bytes);
    rlkd_status (*copy_to_host)(rlkd_context *ctx, void *dst,
                                const void *src, size_t bytes);
    rlkd_status (*copy)(rlkd_context *ctx, void *dst, const void *src,
                        size_t bytes);
    rlkd_status (*synchronize)(rlkd_context *ctx);

    /* ---- fills ---- */
    rlkd_status (*fill)(rlkd_context *ctx, float *x, float value, size_t n);
    /* normal != 0: N(a, b); else U[a, b). Element i depends only on
     * (seed, stream, i). */
    rlkd_status (*fill_random)(rlkd_context *ctx, float *x, size_t n,
                               int normal, float a, float b, uint64_t seed,
                               uint64_t stream);

    /* ---- elementwise ---- */
    rlkd_status (*add)(rlkd_context *ctx, float *y, const float *a,
                       const float *b, size_t n);
    /* x[i] += 1: counters kept in the context's memory (batch norm's
     * num_batches_tracked), so counting needs no trip to the host. */
    rlkd_status (*increment_i32)(rlkd_context *ctx, int32_t *x, size_t n);
    rlkd_status (*relu_forward)(rlkd_context *ctx, float *y, const float *x,
                                size_t n);
    rlkd_status (*relu_backward)(rlkd_context *ctx, float *dx,
                                 const float *dy, const float *y, size_t n);
    /* Writes the keep-scale (0 or 1/(1-p)) into mask and y = x * mask;
     * element i draws Philox(seed, stream, first + i). */
    rlkd_status (*dropout_forward)(rlkd_context *ctx, float *y, float *mask,
                                   const float *x, size_t n, float p,
                                   uint64_t seed, uint64_t stream,
                                   uint64_t first);
    rlkd_status (*dropout_backward)(rlkd_context *ctx, float *dx,
                                    const float *dy, const float *mask,
                                    size_t n);
    /* y[n,c,:] = x[n,c,:] * mask[c]; also the backward (dy in, dx out). */
    rlkd_status (*channel_mask)(rlkd_context *ctx, float *y, const float *x,
                                const float *mask, int n, int c, int hw);

    /* ---- convolution and linear ---- */
    rlkd_status (*conv2d_forward)(rlkd_context *ctx, float *y, const float *x,
                                  const float *w, const float *bias,
                                  const rlkd_conv2d_geom *g);
    rlkd_status (*conv2d_backward)(rlkd_context *ctx, float *dx, float *dw,
                                   float *dbias, const float *dy,
                                   const float *x, const float *w,
                                   const rlkd_conv2d_geom *g);
    rlkd_status (*linear_forward)(rlkd_context *ctx, float *y, const float *x,
                                  const float *w, const float *bias, int n,
                                  int in_features, int out_features);
    rlkd_status (*linear_backward)(rlkd_context *ctx, float *dx, float *dw,
                                   float *dbias, const float *dy,
                                   const float *x, const float *w, int n,
                                   int in_features, int out_features);

    /* ---- normalisation ----
     * sync (NULL: this process's batch alone) sums the training statistics
     * over the ranks: forward the per-channel sums of x and the count, then
     * the squares about the mean; backward the sums of dy and dy * xhat and
     * the count. dgamma and dbeta take this rank's share only (the
     * gradient all-reduce sums them). */
    rlkd_status (*batchnorm2d_forward)(rlkd_context *ctx, float *y,
                                       float *save_mean, float *save_invstd,
                                       float *running_mean,
                                       float *running_var, const float *x,
                                       const float *gamma, const float *beta,
                                       int n, int c, int hw, int training,
                                       float momentum, float eps,
                                       const rlkd_sum_hook *sync);
    rlkd_status (*batchnorm2d_backward)(rlkd_context *ctx, float *dx,
                                        float *dgamma, float *dbeta,
                                        const float *dy, const float *x,
                                        const float *gamma,
                                        const float *save_mean,
                                        const float *save_invstd, int n,
                                        int c, int hw, int training,
                                        const rlkd_sum_hook *sync);

    /* ---- pooling ---- */
    rlkd_status (*maxpool2d_forward)(rlkd_context *ctx, float *y,
                                     const float *x,
                                     const rlkd_pool2d_geom *g);
    rlkd_status (*maxpool2d_backward)(rlkd_context *ctx, float *dx,
                                      const float *dy, const float *x,
                                      const rlkd_pool2d_geom *g);
    rlkd_status (*avgpool2d_forward)(rlkd_context *ctx, float *y,
                                     const float *x,
                                     const rlkd_pool2d_geom *g);
    rlkd_status (*avgpool2d_backward)(rlkd_context *ctx, float *dx,
                                      const float *dy,
                                      const rlkd_pool2d_geom *g);
    /* planes = N*C planes of hw elements each */
    rlkd_status (*global_avgpool_forward)(rlkd_context *ctx, float *y,
                                          const float *x, int planes, int hw);
    rlkd_status (*global_avgpool_backward)(rlkd_context *ctx, float *dx,
                                           const float *dy, int planes,
                                           int hw);

    /* ---- concatenation: one input's slice of channels ---- */
    rlkd_status (*concat_forward)(rlkd_context *ctx, float *y, const float *x,
                                  int n, int hw, int y_channels,
                                  int channel_offset, int x_channels);
    rlkd_status (*concat_backward)(rlkd_context *ctx, float *dx,
                                   const float *dy, int n, int hw,
                                   int y_channels, int channel_offset,
                                   int x_channels);

    /* ---- losses: loss (1 float) and grad may each be NULL; the gradient
     * is scaled by dloss ---- */
    rlkd_status (*softmax_cross_entropy)(rlkd_context *ctx, float *loss,
                                         float *dlogits, const float *logits,
                                         const int32_t *labels, int n, int k,
                                         float label_smoothing, float dloss);
    rlkd_status (*kd_loss)(rlkd_context *ctx, float *loss, float *dstudent,
                           const float *student, const float *teacher,
                           const int32_t *labels, int n, int k, float alpha,
                           float temperature, float dloss);
    rlkd_status (*attention_transfer_loss)(rlkd_context *ctx, float *loss,
                                           float *dstudent,
                                           const float *student,
                                           const float *teacher, int n,
                                           int student_c, int teacher_c,
                                           int hw, float dloss);

    /* ---- channel attention ---- */
    rlkd_status (*se_forward)(rlkd_context *ctx, float *y, const float *x,
                              const float *w1, const float *b1,
                              const float *w2, const float *b2,
                              const rlkd_attention_geom *g);
    rlkd_status (*se_backward)(rlkd_context *ctx, float *dx, float *dw1,
                               float *db1, float *dw2, float *db2,
                               const float *dy, const float *x,
                               const float *w1, const float *b1,
                               const float *w2, const float *b2,
                               const rlkd_attention_geom *g);
    rlkd_status (*eca_forward)(rlkd_context *ctx, float *y, const float *x,
                               const float *w, const rlkd_attention_geom *g);
    rlkd_status (*eca_backward)(rlkd_context *ctx, float *dx, float *dw,
                                const float *dy, const float *x,
                                const float *w, const rlkd_attention_geom *g);
    rlkd_status (*cbam_forward)(rlkd_context *ctx, float *y, const float *x,
                                const float *w1, const float *b1,
                                const float *w2, const float *b2,
                                const float *ws, const float *bs,
                                const rlkd_attention_geom *g);
    rlkd_status (*cbam_backward)(rlkd_context *ctx, float *dx, float *dw1,
                                 float *db1, float *dw2, float *db2,
                                 float *dws, float *dbs, const float *dy,
                                 const float *x, const float *w1,
                                 const float *b1, const float *w2,
                                 const float *b2, const float *ws,
                                 const float *bs,
                                 const rlkd_attention_geom *g);

    /* ---- optimisers ---- */
    rlkd_status (*sgd_step)(rlkd_context *ctx, float *param,
                            float *momentum_buf, const float *grad, size_t n,
                            float lr, float momentum, float weight_decay,
                            int nesterov);
    rlkd_status (*adam_step)(rlkd_context *ctx, float *param, float *m,
                             float *v, const float *grad, size_t n, float lr,
                             float beta1, float beta2, float eps,
                             float weight_decay, int decoupled, int64_t step);
} rlkd_backend;

/* The tables. rlkd_cuda_backend() is NULL in a build without CUDA. */
const rlkd_backend *rlkd_cpu_backend(void);
const rlkd_backend *rlkd_cuda_backend(void);
/* 1 where the loader can decode with nvJPEG (kernels/image_decode.cu), 0
 * in a build without it (lib/data/nvjpeg_absent.c). */
int rlkd_nvjpeg_available(void);

#ifdef __cplusplus
}
#endif

#endif
