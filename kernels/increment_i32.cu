/* Counters on the GPU: one launch instead of a read and a write through the
 * host, which would wait for the stream. */
#include "cuda_common.cuh"

__global__ void rlkd_increment_i32_kernel(int32_t *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i]++;
}

extern "C" rlkd_status rlkd_cuda_increment_i32(rlkd_context *ctx, int32_t *x,
                                               size_t n)
{
    RLKD_LAUNCH(rlkd_cuda_blocks(n), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_increment_i32_kernel)(x, n);
    return rlkd_cuda_launched("rlkd_increment_i32_kernel");
}
