/* rlkd_channel_mask_forward / _backward: checks, then the backend's one
 * per-channel scaling entry, which serves both directions. */
#include "../core/internal.h"

/* out = in * mask[c]: in is [N,C,H,W] or [N,C], out has its shape and mask
 * is [C]. Fills the backend's sizes. */
static rlkd_status check_channel_mask(rlkd_context *ctx, const char *op,
                                      const char *out_name,
                                      const rlkd_tensor *out,
                                      const char *in_name,
                                      const rlkd_tensor *in,
                                      const rlkd_tensor *mask, int *n, int *c,
                                      int *hw)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, out_name, out, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, in_name, in, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "mask", mask, RLKD_DTYPE_F32));
    if (in->ndim != 2 && in->ndim != 4) {
        char got[96];
        rlkd_format_shape(got, sizeof got, in);
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: %s must be [N,C,H,W] or [N,C], got shape %s", op,
                         in_name, got);
    }
    RLKD_TRY(rlkd_expect_same_shape(op, out_name, out, in_name, in));
    const int64_t mask_shape[1] = {in->shape[1]};
    RLKD_TRY(rlkd_expect_shape(op, "mask", mask, 1, mask_shape));
    /* Sizes fit an int: a tensor has at most 2^31 - 1 elements. */
    *n = (int)in->shape[0];
    *c = (int)in->shape[1];
    *hw = in->ndim == 4 ? (int)(in->shape[2] * in->shape[3]) : 1;
    return RLKD_OK;
}

rlkd_status rlkd_channel_mask_forward(rlkd_context *ctx, rlkd_tensor *y,
                                      const rlkd_tensor *x,
                                      const rlkd_tensor *mask)
{
    int n, c, hw;
    RLKD_TRY(check_channel_mask(ctx, "rlkd_channel_mask_forward", "y", y, "x",
                                x, mask, &n, &c, &hw));
    return RLKD_DISPATCH(ctx, channel_mask, rlkd_f32(y), rlkd_f32(x),
                         rlkd_f32(mask), n, c, hw);
}

rlkd_status rlkd_channel_mask_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                       const rlkd_tensor *dy,
                                       const rlkd_tensor *mask)
{
    int n, c, hw;
    RLKD_TRY(check_channel_mask(ctx, "rlkd_channel_mask_backward", "dx", dx,
                                "dy", dy, mask, &n, &c, &hw));
    return RLKD_DISPATCH(ctx, channel_mask, rlkd_f32(dx), rlkd_f32(dy),
                         rlkd_f32(mask), n, c, hw);
}
