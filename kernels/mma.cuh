/*
 * Tensor-core instructions, each behind a function so that the CPU emulator
 * (tests/emu) can stand in for the inline PTX it cannot run. sm_80 and up.
 */
#ifndef RLKD_MMA_CUH
#define RLKD_MMA_CUH

#include "cuda_common.cuh"

/* cvt.rna.tf32.f32: to TF32 (10 mantissa bits), nearest, ties away from
 * zero; the result keeps float's layout with the low 13 bits zero. */
static __device__ __forceinline__ uint32_t rlkd_to_tf32(float x)
{
#ifdef RLKD_CUDA_EMULATED
    uint32_t bits = __float_as_uint(x);
    if ((bits & 0x7f800000u) == 0x7f800000u)
        return bits;
    return (bits + 0x1000u) & 0xffffe000u;
#else
    uint32_t out;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(out) : "f"(x));
    return out;
#endif
}

/* d = a * b + c for the warp: a 16x8 (row-major) by b 8x8 (column-major)
 * TF32 product into a 16x8 float accumulator, in the fragments of the PTX
 * ISA (g = lane / 4, t = lane % 4): a0 (g, t), a1 (g+8, t), a2 (g, t+4),
 * a3 (g+8, t+4); b0 (k t, n g), b1 (k t+4, n g); c0 (g, 2t),
 * c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1). Every lane must call it. */
static __device__ __forceinline__ void rlkd_mma_m16n8k8_tf32(
    float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
#ifdef RLKD_CUDA_EMULATED
    rlkd_emu::mma_m16n8k8_tf32(d, a, b, c);
#else
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%10, %11, %12, %13};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]),
                   "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#endif
}

#endif
