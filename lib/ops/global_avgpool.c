/* rlkd_global_avgpool_forward / _backward: checks, then the backend. */
#include "../core/internal.h"

/* `map` is [N,C,H,W] and `pooled` [N,C] or [N,C,1,1]; fills the backend's
 * sizes (N*C planes of H*W elements; a tensor's element count fits an
 * int). */
static rlkd_status check_global_pool(const char *op, const char *map_name,
                                     const rlkd_tensor *map,
                                     const char *pooled_name,
                                     const rlkd_tensor *pooled, int *planes,
                                     int *hw)
{
    RLKD_TRY(rlkd_expect_ndim(op, map_name, map, 4));
    const int64_t n = map->shape[0], c = map->shape[1];
    const int fits = pooled->shape[0] == n && pooled->shape[1] == c &&
                     (pooled->ndim == 2 ||
                      (pooled->ndim == 4 && pooled->shape[2] == 1 &&
                       pooled->shape[3] == 1));
    if (!fits) {
        char got[96];
        rlkd_format_shape(got, sizeof got, pooled);
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: %s has shape %s, expected [%lld,%lld] or "
                         "[%lld,%lld,1,1]", op, pooled_name, got,
                         (long long)n, (long long)c, (long long)n,
                         (long long)c);
    }
    *planes = (int)(n * c);
    *hw = (int)(map->shape[2] * map->shape[3]);
    return RLKD_OK;
}

rlkd_status rlkd_global_avgpool_forward(rlkd_context *ctx, rlkd_tensor *y,
                                        const rlkd_tensor *x)
{
    static const char op[] = "rlkd_global_avgpool_forward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "y", y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    int planes, hw;
    RLKD_TRY(check_global_pool(op, "x", x, "y", y, &planes, &hw));
    return RLKD_DISPATCH(ctx, global_avgpool_forward, rlkd_f32(y),
                         rlkd_f32(x), planes, hw);
}

rlkd_status rlkd_global_avgpool_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                         const rlkd_tensor *dy)
{
    static const char op[] = "rlkd_global_avgpool_backward";
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dx", dx, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dy", dy, RLKD_DTYPE_F32));
    int planes, hw;
    RLKD_TRY(check_global_pool(op, "dx", dx, "dy", dy, &planes, &hw));
    return RLKD_DISPATCH(ctx, global_avgpool_backward, rlkd_f32(dx),
                         rlkd_f32(dy), planes, hw);
}
