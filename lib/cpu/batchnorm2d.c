/* Batch normalisation over (N,H,W) on the CPU. One thread owns each
 * channel's whole reduction, summed in a fixed order, so the results are the
 * same for any thread count; synchronised batch norm sums those sums over
 * the ranks between the passes. */
#include "cpu.h"
#include "../core/batchnorm_stats.h"

#include "plane_sums.h"

#include <math.h>

/* Start of channel ch's plane in sample i. */
static inline size_t plane_offset(int i, int ch, int c, int hw)
{
    return ((size_t)i * (size_t)c + (size_t)ch) * (size_t)hw;
}

/* Per-channel sums of a training forward or a backward, in doubles:
 * [c] of one sum, [c] of another, then the element count (N*H*W). With a
 * sync hook they are summed over the ranks before use. */
static rlkd_status channel_sums(rlkd_context *ctx, const char *op, int c,
                                double **out)
{
    float *space;
    RLKD_TRY(rlkd_cpu_workspace(ctx, op, ((size_t)2 * c + 1) * 2, &space));
    *out = (double *)space;
    return RLKD_OK;
}

static rlkd_status sum_over_ranks(const rlkd_sum_hook *sync, double *values,
                                  int count)
{
    return sync ? sync->sum(sync->user, values, count) : RLKD_OK;
}

/* Mean and biased variance of every channel, over the ranks with a sync
 * hook: two passes, so a large mean does not cancel the variance away.
 * sums[ch] = sum(x), sums[c] = the count, squares[ch] = sum((x - centre)^2)
 * with centre the mean rounded to float, which the lanes use; the
 * rounding's share, (mean - centre)^2, comes off exactly. */
static rlkd_status channel_moments(rlkd_context *ctx, const float *x, int n,
                                   int c, int hw, const rlkd_sum_hook *sync,
                                   double **out)
{
    double *sums;
    RLKD_TRY(channel_sums(ctx, "rlkd_batchnorm2d_forward", c, &sums));
    double *squares = sums + c + 1;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += rlkd_cpu_plane_sum(x + plane_offset(i, ch, c, hw),
                                      (size_t)hw);
        sums[ch] = sum;
    }
    sums[c] = (double)n * hw;
    RLKD_TRY(sum_over_ranks(sync, sums, c + 1));
    const double count = sums[c];
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        const float centre = (float)(sums[ch] / count);
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += rlkd_cpu_plane_sums(RLKD_CPU_SUM_SQUARES,
                                       x + plane_offset(i, ch, c, hw), NULL,
                                       centre, (size_t)hw)
                       .second;
        squares[ch] = sum;
    }
    RLKD_TRY(sum_over_ranks(sync, squares, c));
    *out = sums;
    return RLKD_OK;
}

rlkd_status rlkd_cpu_batchnorm2d_forward(rlkd_context *ctx, float *y,
                                         float *save_mean, float *save_invstd,
                                         float *running_mean,
                                         float *running_var, const float *x,
                                         const float *gamma, const float *beta,
                                         int n, int c, int hw, int training,
                                         float momentum, float eps,
                                         const rlkd_sum_hook *sync)
{
    double *sums = NULL;
    if (training)
        RLKD_TRY(channel_moments(ctx, x, n, c, hw, sync, &sums));
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        double mean, invstd;
        rlkd_batchnorm_channel_stats(&mean, &invstd, running_mean, running_var,
                                     sums, c, ch, running_mean != NULL,
                                     momentum, eps);
        if (save_mean)
            save_mean[ch] = (float)mean;
        if (save_invstd)
            save_invstd[ch] = (float)invstd;
        /* y = gamma * (x - mean) * invstd + beta as one multiply-add, as
         * PyTorch computes it. */
        const float scale = (float)(gamma[ch] * invstd);
        const float shift = (float)(beta[ch] - mean * gamma[ch] * invstd);
        for (int i = 0; i < n; i++) {
            const size_t offset = plane_offset(i, ch, c, hw);
            for (int j = 0; j < hw; j++)
                y[offset + j] = x[offset + j] * scale + shift;
        }
    }
    return RLKD_OK;
}

rlkd_status rlkd_cpu_batchnorm2d_backward(rlkd_context *ctx, float *dx,
                                          float *dgamma, float *dbeta,
                                          const float *dy, const float *x,
                                          const float *gamma,
                                          const float *save_mean,
                                          const float *save_invstd, int n,
                                          int c, int hw, int training,
                                          const rlkd_sum_hook *sync)
{
    /* sum(dy) and sum(dy * (x - mean)) per channel, then the count. */
    double *sums;
    RLKD_TRY(channel_sums(ctx, "rlkd_batchnorm2d_backward", c, &sums));
    double *weighted = sums + c;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        double sum_dy = 0.0, sum_dy_centred = 0.0;
        for (int i = 0; i < n; i++) {
            const size_t offset = plane_offset(i, ch, c, hw);
            const rlkd_cpu_sums plane =
                rlkd_cpu_plane_sums(RLKD_CPU_SUM_WEIGHTED, x + offset,
                                    dy + offset, save_mean[ch], (size_t)hw);
            sum_dy += plane.sum;
            sum_dy_centred += plane.second;
        }
        sums[ch] = sum_dy;
        weighted[ch] = sum_dy_centred;
        /* This rank's share: the gradient all-reduce sums the ranks'. */
        if (dgamma)
            dgamma[ch] += (float)(sum_dy_centred * save_invstd[ch]);
        if (dbeta)
            dbeta[ch] += (float)sum_dy;
    }
    if (!dx)
        return RLKD_OK;
    sums[2 * c] = (double)n * hw;
    /* Frozen statistics take no batch sums: nothing to share. */
    if (training)
        RLKD_TRY(sum_over_ranks(sync, sums, 2 * c + 1));
    const double count = sums[2 * c];
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        /* Training: dx = gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat)),
         * the gradient through the batch mean and variance, xhat = (x -
         * mean) * invstd. Frozen statistics: dx = gamma*invstd * dy.
         * Written as dx = dy * scale + (x - mean) * slope + offset. */
        const double mean = save_mean[ch], invstd = save_invstd[ch];
        const double sum_dy_xhat = weighted[ch] * invstd;
        const double scale = gamma[ch] * invstd;
        const float dy_scale = (float)scale;
        const float x_slope =
            training ? (float)(-scale * invstd * sum_dy_xhat / count) : 0.0f;
        const float mean_dy_term =
            training ? (float)(-scale * sums[ch] / count) : 0.0f;
        const float centre = (float)mean;
        for (int i = 0; i < n; i++) {
            const size_t offset = plane_offset(i, ch, c, hw);
            for (int j = 0; j < hw; j++)
                dx[offset + j] = dy[offset + j] * dy_scale +
                                 (x[offset + j] - centre) * x_slope +
                                 mean_dy_term;
        }
    }
    return RLKD_OK;
}
