/* ReLU on the GPU. */
#include "cuda_common.cuh"

__global__ void rlkd_relu_forward_kernel(float *y, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void rlkd_relu_backward_kernel(float *dx, const float *dy,
                                          const float *y, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

extern "C" rlkd_status rlkd_cuda_relu_forward(rlkd_context *ctx, float *y,
                                              const float *x, size_t n)
{
    RLKD_LAUNCH(rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_relu_forward_kernel)(y, x, n);
    return rlkd_cuda_launched("rlkd_relu_forward_kernel");
}

extern "C" rlkd_status rlkd_cuda_relu_backward(rlkd_context *ctx, float *dx,
                                               const float *dy, const float *y,
                                               size_t n)
{
    RLKD_LAUNCH(rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_relu_backward_kernel)(dx, dy, y, n);
    return rlkd_cuda_launched("rlkd_relu_backward_kernel");
}
