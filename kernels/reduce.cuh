/*
 * Sums across a warp and across a block, in a fixed order: the same inputs
 * give the same bits on every run (no atomics), which is what the backend's
 * deterministic reductions are built from. For float or double.
 */
#ifndef RLKD_REDUCE_CUH
#define RLKD_REDUCE_CUH

#include "cuda_common.cuh"

/* The sum of `value` over the 32 lanes of the warp, in every lane. All 32
 * lanes must call it. A butterfly: each lane adds the same pairs in the
 * same order (addition commutes exactly), so every lane holds the same bits. */
template <typename T> __device__ __forceinline__ T rlkd_warp_sum(T value)
{
    for (int offset = 16; offset > 0; offset /= 2)
        value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}

/* The sum of `value` over the block, in every thread. The block must be
 * 1-D with a multiple of 32 threads, and every thread must call it (it
 * holds __syncthreads). Warp sums first, then each thread adds the warps'
 * sums in warp order. Safe to call again straight away. */
template <typename T> __device__ T rlkd_block_sum(T value)
{
    __shared__ T warp_sums[32];
    value = rlkd_warp_sum(value);
    /* A previous call's threads may still be reading warp_sums. */
    __syncthreads();
    if (threadIdx.x % 32 == 0)
        warp_sums[threadIdx.x / 32] = value;
    __syncthreads();
    T total = T(0);
    for (unsigned w = 0; w < blockDim.x / 32; w++)
        total += warp_sums[w];
    return total;
}

#endif
