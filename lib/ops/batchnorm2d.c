/* rlkd_batchnorm2d_forward / _backward: checks, then the backend; the
 * _sync variants for synchronised batch norm (batchnorm2d.h). */
#include "batchnorm2d.h"

/* x must be [N,C,H,W]; fills the backend's sizes (a tensor's element count
 * fits an int). */
static rlkd_status check_input(const char *op, const rlkd_tensor *x, int *n,
                               int *c, int *hw)
{
    RLKD_TRY(rlkd_expect_ndim(op, "x", x, 4));
    *n = (int)x->shape[0];
    *c = (int)x->shape[1];
    *hw = (int)(x->shape[2] * x->shape[3]);
    return RLKD_OK;
}

rlkd_status rlkd_batchnorm2d_forward_sync(
    rlkd_context *ctx, rlkd_tensor *y, rlkd_tensor *save_mean,
    rlkd_tensor *save_invstd, rlkd_tensor *running_mean,
    rlkd_tensor *running_var, const rlkd_tensor *x, const rlkd_tensor *gamma,
    const rlkd_tensor *beta, int training, float momentum, float eps,
    const rlkd_sum_hook *sync)
{
    static const char op[] = "rlkd_batchnorm2d_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    int n, c, hw;
    RLKD_TRY(check_input(op, x, &n, &c, &hw));
    RLKD_TRY(rlkd_expect_same_shape(op, "y", y, "x", x));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "gamma", gamma, 0, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "beta", beta, 0, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "save_mean", save_mean, 1, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "save_invstd", save_invstd, 1,
                                   c));
    /* Inference normalises with the running statistics, so needs them;
     * training keeps both or neither. */
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "running_mean", running_mean,
                                   training, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "running_var", running_var,
                                   training, c));
    if (!running_mean != !running_var)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: running_mean is %s but running_var is %s; pass "
                         "both or neither", op,
                         running_mean ? "given" : "NULL",
                         running_var ? "given" : "NULL");
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: momentum must be in [0, 1], got %g", op,
                         (double)momentum);
    RLKD_TRY(rlkd_expect_finite_above(op, "eps", eps, 0.0f));
    /* The unbiased variance divides by N*H*W - 1 (PyTorch refuses too). */
    if (training && (int64_t)n * hw == 1)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: training needs more than 1 value per channel, "
                         "but x has N*H*W = 1", op);
    return RLKD_DISPATCH(ctx, batchnorm2d_forward, rlkd_f32(y),
                         rlkd_f32(save_mean), rlkd_f32(save_invstd),
                         rlkd_f32(running_mean), rlkd_f32(running_var),
                         rlkd_f32(x), rlkd_f32(gamma), rlkd_f32(beta), n, c,
                         hw, training != 0, momentum, eps, sync);
}

rlkd_status rlkd_batchnorm2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                     rlkd_tensor *save_mean,
                                     rlkd_tensor *save_invstd,
                                     rlkd_tensor *running_mean,
                                     rlkd_tensor *running_var,
                                     const rlkd_tensor *x,
                                     const rlkd_tensor *gamma,
                                     const rlkd_tensor *beta, int training,
                                     float momentum, float eps)
{
    return rlkd_batchnorm2d_forward_sync(ctx, y, save_mean, save_invstd,
                                         running_mean, running_var, x, gamma,
                                         beta, training, momentum, eps, NULL);
}

rlkd_status rlkd_batchnorm2d_backward_sync(
    rlkd_context *ctx, rlkd_tensor *dx, rlkd_tensor *dgamma,
    rlkd_tensor *dbeta, const rlkd_tensor *dy, const rlkd_tensor *x,
    const rlkd_tensor *gamma, const rlkd_tensor *save_mean,
    const rlkd_tensor *save_invstd, int training, const rlkd_sum_hook *sync)
{
    static const char op[] = "rlkd_batchnorm2d_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    int n, c, hw;
    RLKD_TRY(check_input(op, x, &n, &c, &hw));
    RLKD_TRY(rlkd_expect_same_shape(op, "dy", dy, "x", x));
    if (dx)
        RLKD_TRY(rlkd_expect_same_shape(op, "dx", dx, "x", x));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "dgamma", dgamma, 1, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "dbeta", dbeta, 1, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "gamma", gamma, 0, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "save_mean", save_mean, 0, c));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "save_invstd", save_invstd, 0,
                                   c));
    return RLKD_DISPATCH(ctx, batchnorm2d_backward, rlkd_f32(dx),
                         rlkd_f32(dgamma), rlkd_f32(dbeta), rlkd_f32(dy),
                         rlkd_f32(x), rlkd_f32(gamma), rlkd_f32(save_mean),
                         rlkd_f32(save_invstd), n, c, hw, training != 0,
                         sync);
}

rlkd_status rlkd_batchnorm2d_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                      rlkd_tensor *dgamma, rlkd_tensor *dbeta,
                                      const rlkd_tensor *dy,
                                      const rlkd_tensor *x,
                                      const rlkd_tensor *gamma,
                                      const rlkd_tensor *save_mean,
                                      const rlkd_tensor *save_invstd,
                                      int training)
{
    return rlkd_batchnorm2d_backward_sync(ctx, dx, dgamma, dbeta, dy, x,
                                          gamma, save_mean, save_invstd,
                                          training, NULL);
}
