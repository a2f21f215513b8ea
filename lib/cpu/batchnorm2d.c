/* Batch normalisation over (N,H,W) on the CPU. One thread owns each
 * channel's whole reduction, summed in a fixed order, so the results are the
 * same for any thread count. */
#include "cpu.h"

#include "plane_sums.h"

#include <math.h>

/* Start of channel ch's plane in sample i. */
static inline size_t plane_offset(int i, int ch, int c, int hw)
{
    return ((size_t)i * (size_t)c + (size_t)ch) * (size_t)hw;
}

/* Mean and biased variance of channel ch: two passes, so a large mean does
 * not cancel the variance away. */
static void channel_moments(const float *x, int ch, int n, int c, int hw,
                            double *mean, double *var)
{
    const double count = (double)n * hw;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += rlkd_cpu_plane_sum(x + plane_offset(i, ch, c, hw), (size_t)hw);
    *mean = sum / count;
    /* Squares about the mean rounded to float, which the lanes use; the
     * rounding's share, (mean - centre)^2, comes off exactly. */
    const float centre = (float)*mean;
    double squares = 0.0;
    for (int i = 0; i < n; i++)
        squares += rlkd_cpu_plane_sums(RLKD_CPU_SUM_SQUARES,
                                       x + plane_offset(i, ch, c, hw), NULL,
                                       centre, (size_t)hw)
                       .second;
    const double shift = *mean - centre;
    *var = squares / count - shift * shift;
    if (*var < 0.0)
        *var = 0.0;
}

rlkd_status rlkd_cpu_batchnorm2d_forward(rlkd_context *ctx, float *y,
                                         float *save_mean, float *save_invstd,
                                         float *running_mean,
                                         float *running_var, const float *x,
                                         const float *gamma, const float *beta,
                                         int n, int c, int hw, int training,
                                         float momentum, float eps)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        double mean, invstd;
        if (training) {
            const double count = (double)n * hw;
            double var;
            channel_moments(x, ch, n, c, hw, &mean, &var);
            invstd = 1.0 / sqrt(var + eps);
            if (running_mean) {
                running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] +
                                           momentum * mean);
                running_var[ch] = (float)((1.0 - momentum) * running_var[ch] +
                                          momentum * var * count /
                                              (count - 1.0));
            }
        } else {
            mean = running_mean[ch];
            invstd = 1.0 / sqrt((double)running_var[ch] + eps);
        }
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
                                          int c, int hw, int training)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * c * hw > 65536)
    for (int ch = 0; ch < c; ch++) {
        const double mean = save_mean[ch], invstd = save_invstd[ch];
        /* sum(dy) and sum(dy * xhat), xhat = (x - mean) * invstd. */
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int i = 0; i < n; i++) {
            const size_t offset = plane_offset(i, ch, c, hw);
            const rlkd_cpu_sums sums =
                rlkd_cpu_plane_sums(RLKD_CPU_SUM_WEIGHTED, x + offset,
                                    dy + offset, (float)mean, (size_t)hw);
            sum_dy += sums.sum;
            sum_dy_xhat += sums.second;
        }
        sum_dy_xhat *= invstd;
        if (dgamma)
            dgamma[ch] += (float)sum_dy_xhat;
        if (dbeta)
            dbeta[ch] += (float)sum_dy;
        if (!dx)
            continue;
        /* Training: dx = gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat)),
         * the gradient through the batch mean and variance. Frozen
         * statistics: dx = gamma*invstd * dy. Written as
         * dx = dy * scale + (x - mean) * slope + offset. */
        const double count = (double)n * hw;
        const double scale = gamma[ch] * invstd;
        const float dy_scale = (float)scale;
        const float x_slope =
            training ? (float)(-scale * invstd * sum_dy_xhat / count) : 0.0f;
        const float mean_dy_term =
            training ? (float)(-scale * sum_dy / count) : 0.0f;
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
