/* Constant and random fills. */
#include "cpu.h"
#include "../core/philox.h"

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
        x[i] = normal ? rlkd_philox_normal(r, a, b) : rlkd_philox_uniform(r, a, b);
    }
    return RLKD_OK;
}
