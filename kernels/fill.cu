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
        if (normal) {
            float u1 = 1.0f - rlkd_uniform01(r.v[0]);
            float u2 = rlkd_uniform01(r.v[1]);
            float z = sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
            x[i] = a + b * z;
        } else {
            /* No fused multiply-add: round as the CPU does. */
            x[i] = __fadd_rn(a, __fmul_rn(b - a, rlkd_uniform01(r.v[0])));
        }
    }
}

extern "C" rlkd_status rlkd_cuda_fill(rlkd_context *ctx, float *x, float value,
                                      size_t n)
{
    rlkd_fill_kernel<<<rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0,
                       rlkd_cuda_stream(ctx)>>>(x, value, n);
    return rlkd_cuda_launched("rlkd_fill_kernel");
}

extern "C" rlkd_status rlkd_cuda_fill_random(rlkd_context *ctx, float *x,
                                             size_t n, int normal, float a,
                                             float b, uint64_t seed,
                                             uint64_t stream)
{
    rlkd_fill_random_kernel<<<rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0,
                              rlkd_cuda_stream(ctx)>>>(x, n, normal, a, b,
                                                       seed, stream);
    return rlkd_cuda_launched("rlkd_fill_random_kernel");
}
