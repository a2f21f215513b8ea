/* rlkd_concat_forward / rlkd_concat_backward: checks, then the backend once
 * per input, each call moving that input's slice of y's channels. */
#include "../core/internal.h"

#include <stdio.h>

/* Checks the whole y [N,C,H,W] and the count; fills H*W. */
static rlkd_status check_whole(rlkd_context *ctx, const char *op,
                               const char *name, const rlkd_tensor *whole,
                               const void *parts, const char *parts_name,
                               int count, int *hw)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, name, whole, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, name, whole, 4));
    RLKD_TRY(rlkd_expect_at_least(op, "count", count, 1));
    if (!parts)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         parts_name);
    /* Sizes fit an int: a tensor has at most 2^31 - 1 elements. */
    *hw = (int)(whole->shape[2] * whole->shape[3]);
    return RLKD_OK;
}

/* part (if given) must be [N, channels, H, W] of whole. For a forward
 * input, `channels` is its own: only N, H, W and the rank are checked. */
static rlkd_status check_part(const rlkd_context *ctx, const char *op,
                              const char *parts_name, int index,
                              const rlkd_tensor *part, int64_t channels,
                              const rlkd_tensor *whole)
{
    char name[64];
    snprintf(name, sizeof name, "%s[%d]", parts_name, index);
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, name, part, RLKD_DTYPE_F32));
    if (!part)
        return RLKD_OK;
    RLKD_TRY(rlkd_expect_ndim(op, name, part, 4));
    const int64_t shape[4] = {whole->shape[0], channels, whole->shape[2],
                              whole->shape[3]};
    return rlkd_expect_shape(op, name, part, 4, shape);
}

static rlkd_status expect_channel_total(const char *op, const char *parts_name,
                                        int64_t total, const char *name,
                                        const rlkd_tensor *whole)
{
    if (total == whole->shape[1])
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_SHAPE,
                     "%s: the %s have %lld channels in all, but %s has %lld",
                     op, parts_name, (long long)total, name,
                     (long long)whole->shape[1]);
}

rlkd_status rlkd_concat_forward(rlkd_context *ctx, rlkd_tensor *y,
                                const rlkd_tensor *const *inputs, int count)
{
    static const char op[] = "rlkd_concat_forward";
    int hw;
    RLKD_TRY(check_whole(ctx, op, "y", y, inputs, "inputs", count, &hw));
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        if (!inputs[i])
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: inputs[%d] is NULL", op, i);
        RLKD_TRY(check_part(ctx, op, "inputs", i, inputs[i],
                            inputs[i]->shape[1], y));
        total += inputs[i]->shape[1];
    }
    RLKD_TRY(expect_channel_total(op, "inputs", total, "y", y));
    int offset = 0;
    for (int i = 0; i < count; i++) {
        const int channels = (int)inputs[i]->shape[1];
        RLKD_TRY(RLKD_DISPATCH(ctx, concat_forward, rlkd_f32(y),
                               rlkd_f32(inputs[i]), (int)y->shape[0], hw,
                               (int)y->shape[1], offset, channels));
        offset += channels;
    }
    return RLKD_OK;
}

rlkd_status rlkd_concat_backward(rlkd_context *ctx, rlkd_tensor *const *dxs,
                                 const rlkd_tensor *dy,
                                 const int64_t *channels, int count)
{
    static const char op[] = "rlkd_concat_backward";
    int hw;
    RLKD_TRY(check_whole(ctx, op, "dy", dy, dxs, "dxs", count, &hw));
    if (!channels)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: channels is NULL",
                         op);
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        if (channels[i] < 1)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: channels[%d] must be >= 1, got %lld", op, i,
                             (long long)channels[i]);
        /* Checked before it is added: a sum that wrapped could match dy's
         * channels, and a NULL dxs[i] has no shape to catch it. */
        if (channels[i] > dy->shape[1] - total)
            return rlkd_fail(RLKD_ERR_SHAPE,
                             "%s: channels[0..%d] add up to more than the "
                             "%lld channels of dy", op, i,
                             (long long)dy->shape[1]);
        RLKD_TRY(check_part(ctx, op, "dxs", i, dxs[i], channels[i], dy));
        total += channels[i];
    }
    RLKD_TRY(expect_channel_total(op, "channels", total, "dy", dy));
    int offset = 0;
    for (int i = 0; i < count; i++) {
        if (dxs[i])
            RLKD_TRY(RLKD_DISPATCH(ctx, concat_backward, rlkd_f32(dxs[i]),
                                   rlkd_f32(dy), (int)dy->shape[0], hw,
                                   (int)dy->shape[1], offset,
                                   (int)channels[i]));
        offset += (int)channels[i];
    }
    return RLKD_OK;
}
