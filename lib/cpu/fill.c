/* Constant and random fills. */
#include "cpu.h"
#include "../core/philox.h"

#include <math.h>

rlkd_status rlkd_cpu_fill(rlkd_context *ctx, float *x, float value, size_t n)
{
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        x[i] = value;
    return RLKD_OK;
}

rlkd_status rlkd_cpu_fill_random(rlkd_context *ctx, float *x, size_t n,
                                 int normal, float a, float b, uint64_t seed,
                                 uint64_t stream)
{
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        rlkd_philox_block r = rlkd_philox4x32(seed, stream, i);
        if (normal) {
            /* Box-Muller; 1 - u keeps the logarithm finite. */
            float u1 = 1.0f - rlkd_uniform01(r.v[0]);
            float u2 = rlkd_uniform01(r.v[1]);
            float z = sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
            x[i] = a + b * z;
        } else {
            x[i] = a + (b - a) * rlkd_uniform01(r.v[0]);
        }
    }
    return RLKD_OK;
}
