/* The CUDA backend's entry points, one .cu file per op in kernels/. */
#ifndef RLKD_CUDA_H
#define RLKD_CUDA_H

#include "../lib/core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* memory.cu */
rlkd_status rlkd_cuda_context_init(rlkd_context *ctx);
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

#ifdef __cplusplus
}
#endif

#endif
