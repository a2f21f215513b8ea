/*
 * Batch norm with its statistics summed over the ranks of a data-parallel
 * run (synchronised batch norm), for the network runner: the public calls'
 * checks and backend, with a sum hook (NULL: the public calls).
 */
#ifndef RLKD_OPS_BATCHNORM2D_H
#define RLKD_OPS_BATCHNORM2D_H

#include "../core/internal.h"

rlkd_status rlkd_batchnorm2d_forward_sync(
    rlkd_context *ctx, rlkd_tensor *y, rlkd_tensor *save_mean,
    rlkd_tensor *save_invstd, rlkd_tensor *running_mean,
    rlkd_tensor *running_var, const rlkd_tensor *x, const rlkd_tensor *gamma,
    const rlkd_tensor *beta, int training, float momentum, float eps,
    const rlkd_sum_hook *sync);

rlkd_status rlkd_batchnorm2d_backward_sync(
    rlkd_context *ctx, rlkd_tensor *dx, rlkd_tensor *dgamma,
    rlkd_tensor *dbeta, const rlkd_tensor *dy, const rlkd_tensor *x,
    const rlkd_tensor *gamma, const rlkd_tensor *save_mean,
    const rlkd_tensor *save_invstd, int training, const rlkd_sum_hook *sync);

#endif
