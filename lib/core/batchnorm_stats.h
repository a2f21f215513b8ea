/*
 * One channel's statistics in batch norm's forward, shared by lib/cpu and
 * kernels/ so that both backends compute them formula for formula.
 */
#ifndef RLKD_BATCHNORM_STATS_H
#define RLKD_BATCHNORM_STATS_H

#include "host_device.h"

#include <math.h>

/*
 * mean and invstd = 1/sqrt(var + eps) of channel ch. With sums (training),
 * from the batch: sums laid out [sum x: C][count][sum (x - (float)mean)^2:
 * C], the squares about the float-rounded mean; update_running then moves
 * running_mean and running_var (the unbiased variance) by momentum. Without
 * sums, from running_mean and running_var.
 */
static inline RLKD_HOST_DEVICE void rlkd_batchnorm_channel_stats(
    double *mean, double *invstd, float *running_mean, float *running_var,
    const double *sums, int c, int ch, int update_running, float momentum,
    float eps)
{
    if (!sums) {
        *mean = running_mean[ch];
        *invstd = 1.0 / sqrt((double)running_var[ch] + eps);
        return;
    }
    const double count = sums[c];
    *mean = sums[ch] / count;
    /* The squares are about the float-rounded mean: take the rounding's
     * share off exactly. */
    const double shift = *mean - (float)*mean;
    double var = sums[c + 1 + ch] / count - shift * shift;
    if (var < 0.0)
        var = 0.0;
    *invstd = 1.0 / sqrt(var + eps);
    if (update_running) {
        running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] +
                                   momentum * *mean);
        running_var[ch] = (float)((1.0 - momentum) * running_var[ch] +
                                  momentum * var * count / (count - 1.0));
    }
}

#endif
