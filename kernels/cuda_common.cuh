/*
 * Private helpers of the CUDA backend: turning CUDA errors into rlkd
 * statuses with a message, the context's stream, and launch sizes.
 */
#ifndef RLKD_CUDA_COMMON_CUH
#define RLKD_CUDA_COMMON_CUH

#include "../lib/core/internal.h"

#include <cuda_runtime.h>

/* Fails with RLKD_ERR_DEVICE naming `what` and CUDA's own message. */
static inline rlkd_status rlkd_cuda_check(cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return RLKD_OK;
    return rlkd_fail(err == cudaErrorMemoryAllocation ? RLKD_ERR_OUT_OF_MEMORY
                                                      : RLKD_ERR_DEVICE,
                     "cuda: %s failed: %s (%s)", what, cudaGetErrorString(err),
                     cudaGetErrorName(err));
}

/* Checks the launch just made (configuration errors surface here). */
static inline rlkd_status rlkd_cuda_launched(const char *kernel)
{
    return rlkd_cuda_check(cudaGetLastError(), kernel);
}

/* The context's stream: the caller's (rlkd_context_set_cuda_stream), else
 * the one the backend made at context creation. */
static inline cudaStream_t rlkd_cuda_stream(const rlkd_context *ctx)
{
    return (cudaStream_t)ctx->stream;
}

/* Launches on the context's stream:
 *   RLKD_LAUNCH(grid, block, shared_bytes, ctx, kernel)(arguments...);
 * The kernel comes last so a template's commas need no parentheses. The
 * CPU emulator (tests/emu) defines its own RLKD_LAUNCH and runs the same
 * kernels on the host, which is why kernels keep to what it provides:
 * static __shared__ arrays, the warp intrinsics of tests/emu/cuda_runtime.h
 * and tensor-core instructions through kernels/mma.cuh only. */
#ifndef RLKD_CUDA_EMULATED
#define RLKD_LAUNCH(grid, block, shared_bytes, ctx, ...) \
    __VA_ARGS__<<<(grid), (block), (shared_bytes), rlkd_cuda_stream(ctx)>>>
#endif

enum { RLKD_CUDA_BLOCK = 256 };

/* Blocks for a grid-stride loop over n elements: enough to fill the GPU,
 * capped so the grid size stays within limits. */
static inline unsigned rlkd_cuda_blocks(size_t n)
{
    size_t blocks = (n + RLKD_CUDA_BLOCK - 1) / RLKD_CUDA_BLOCK;
    if (blocks < 1)
        blocks = 1;
    return blocks > 65535u * 16u ? 65535u * 16u : (unsigned)blocks;
}

#endif
