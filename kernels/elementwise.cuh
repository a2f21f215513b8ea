/*
 * What the elementwise kernels share: a grid-stride loop that moves four
 * floats at a time (one 16-byte float4 access) where every pointer allows
 * it and one at a time for the rest, with the op written once for both.
 */
#ifndef RLKD_ELEMENTWISE_CUH
#define RLKD_ELEMENTWISE_CUH

#include "cuda_common.cuh"

#include <stdint.h>

/* The width of one step of an elementwise loop: 4 floats or 1. */
template <int W> struct rlkd_width {
    static constexpr int value = W;
};

/* W consecutive floats in registers. */
template <int W> struct rlkd_floats {
    float v[W];
};

/* Floats [W*i, W*i + W) of p: one float4 load for W == 4. */
template <int W>
__device__ __forceinline__ rlkd_floats<W> rlkd_load(const float *p, size_t i)
{
    rlkd_floats<W> x;
    if constexpr (W == 4) {
        const float4 f = reinterpret_cast<const float4 *>(p)[i];
        x.v[0] = f.x;
        x.v[1] = f.y;
        x.v[2] = f.z;
        x.v[3] = f.w;
    } else {
        x.v[0] = p[i];
    }
    return x;
}

template <int W>
__device__ __forceinline__ void rlkd_store(float *p, size_t i,
                                           const rlkd_floats<W> &x)
{
    if constexpr (W == 4)
        reinterpret_cast<float4 *>(p)[i] =
            make_float4(x.v[0], x.v[1], x.v[2], x.v[3]);
    else
        p[i] = x.v[0];
}

/* step(rlkd_width<4>(), q) for the quads q < quads, then
 * step(rlkd_width<1>(), i) for the floats i in [4 * quads, n), each spread
 * over the grid. step reads its width as decltype(width)::value. */
template <typename Step>
__device__ __forceinline__ void rlkd_elementwise(size_t n, size_t quads,
                                                 Step step)
{
    const size_t first = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t q = first; q < quads; q += stride)
        step(rlkd_width<4>(), q);
    for (size_t i = 4 * quads + first; i < n; i += stride)
        step(rlkd_width<1>(), i);
}

/* How many quads of n floats go as float4: n / 4 when every pointer is
 * 16-byte aligned (a NULL one counts as aligned), else none. */
template <typename... Pointers>
static inline size_t rlkd_cuda_quads(size_t n, const Pointers *...pointers)
{
    uintptr_t bits = 0;
    ((bits |= (uintptr_t)pointers), ...);
    return bits % 16 == 0 ? n / 4 : 0;
}

/* Blocks for rlkd_elementwise: a thread per quad, or per float without. */
static inline unsigned rlkd_cuda_elementwise_blocks(size_t n, size_t quads)
{
    return rlkd_cuda_blocks(quads ? quads : n);
}

#endif
