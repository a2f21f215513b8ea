/*
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC 2011): a counter-based generator, so element i of a random fill is a
 * pure function of (seed, stream, i) on every backend and thread count.
 * Shared by lib/cpu and kernels/.
 */
#ifndef RLKD_PHILOX_H
#define RLKD_PHILOX_H

#include "host_device.h"

#include <math.h>
#include <stdint.h>

typedef struct rlkd_philox_block {
    uint32_t v[4];
} rlkd_philox_block;

static inline RLKD_HOST_DEVICE uint32_t rlkd_mulhilo32(uint32_t a, uint32_t b,
                                                       uint32_t *hi)
{
    uint64_t product = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(product >> 32);
    return (uint32_t)product;
}

/* Four 32-bit words for counter `index` of stream `stream` under `seed`. */
static inline RLKD_HOST_DEVICE rlkd_philox_block
rlkd_philox4x32(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = rlkd_mulhilo32(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = rlkd_mulhilo32(0xCD9E8D57u, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    rlkd_philox_block out = {{c0, c1, c2, c3}};
    return out;
}

/* A float in [0, 1) from the top 24 bits of a word. */
static inline RLKD_HOST_DEVICE float rlkd_uniform01(uint32_t word)
{
    return (float)(word >> 8) * (1.0f / 16777216.0f);
}

/* U[low, high) from one word. The product and sum are rounded separately
 * (no fused multiply-add), so every backend gives the same bits. */
static inline RLKD_HOST_DEVICE float rlkd_philox_uniform(rlkd_philox_block r,
                                                         float low, float high)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(low, __fmul_rn(high - low, rlkd_uniform01(r.v[0])));
#else
    return low + (high - low) * rlkd_uniform01(r.v[0]);
#endif
}

/* N(mean, stddev) by Box-Muller from two words; 1 - u keeps the logarithm
 * finite. Transcendental functions differ by an ulp or so between the CPU
 * and the GPU, so normal fills agree closely, not bit for bit. */
static inline RLKD_HOST_DEVICE float rlkd_philox_normal(rlkd_philox_block r,
                                                        float mean,
                                                        float stddev)
{
    float u1 = 1.0f - rlkd_uniform01(r.v[0]);
    float u2 = rlkd_uniform01(r.v[1]);
    float z = sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
    return mean + stddev * z;
}

#endif
