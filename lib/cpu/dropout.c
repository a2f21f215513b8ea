/* Inverted dropout on the CPU. Element i's draw depends only on
 * (seed, stream, first + i), so the mask is the same for any thread count,
 * and a rank holding rows of a batch draws what one process would for
 * them. */
#include "cpu.h"
#include "../core/philox.h"

rlkd_status rlkd_cpu_dropout_forward(rlkd_context *ctx, float *y, float *mask,
                                     const float *x, size_t n, float p,
                                     uint64_t seed, uint64_t stream,
                                     uint64_t first)
{
    const float keep_scale = 1.0f / (1.0f - p);
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        /* p == 0 keeps everything, so it needs no random numbers. */
        int kept = p == 0.0f ||
                   rlkd_uniform01(rlkd_philox4x32(seed, stream, first + i).v[0]) >= p;
        float scale = kept ? keep_scale : 0.0f;
        mask[i] = scale;
        y[i] = x[i] * scale;
    }
    return RLKD_OK;
}

rlkd_status rlkd_cpu_dropout_backward(rlkd_context *ctx, float *dx,
                                      const float *dy, const float *mask,
                                      size_t n)
{
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * mask[i];
    return RLKD_OK;
}
