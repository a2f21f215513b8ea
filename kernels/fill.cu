/* Constant and random fills on the GPU; the same Philox stream as lib/cpu,
 * so a uniform fill gives the CPU's bits. */
#include "cuda_common.cuh"
#include "../lib/core/philox.h"

__global__ void rlkd_fill_kernel(float *x, float value, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = value;
}

__global__ void rlkd_fill_random_kernel(float *x, size_t n, int normal,
                                        float a, float b, uint64_t seed,
                                        uint64_t stream)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        rlkd_philox_block r = rlkd_philox4x32(seed, stream, i);
        x[i] = normal ? rlkd_philox_normal(r, a, b)
                      : rlkd_philox_uniform(r, a, b);
    }
}

extern "C" rlkd_status rlkd_cuda_fill(rlkd_context *ctx, float *x, float value,
                                      size_t n)
{
    RLKD_LAUNCH(rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_fill_kernel)(x, value, n);
    return rlkd_cuda_launched("rlkd_fill_kernel");
}

extern "C" rlkd_status rlkd_cuda_fill_random(rlkd_context *ctx, float *x,
                                             size_t n, int normal, float a,
                                             float b, uint64_t seed,
                                             uint64_t stream)
{
    RLKD_LAUNCH(rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_fill_random_kernel)(x, n, normal, a, b, seed, stream);
    return rlkd_cuda_launched("rlkd_fill_random_kernel");
}
