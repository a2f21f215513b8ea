/* rlkd_concat_forward / rlkd_concat_backward: checks, then the backend once
 * per input, each call moving that input's slice of y's channels. */
#include "../core/internal.h"

#include <stdio.h>

/*
 * Checks y [N,C,H,W] and parts[i] [N,Ci,H,W] with the Ci adding up to C, and
 * fills H*W. Backward may skip parts (NULL entries): their channels are then
 * only known together, as C minus the others', into *skipped_channels. A part
 * with skipped parts on both sides has no known offset and is refused.
 */
static rlkd_status check_concat(rlkd_context *ctx, const char *op,
                                const char *y_name, const rlkd_tensor *y,
                                const char *parts_name,
                                const rlkd_tensor *const *parts, int count,
                                int parts_optional, int *hw,
                                int64_t *skipped_channels)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, y_name, y, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, y_name, y, 4));
    RLKD_TRY(rlkd_expect_at_least(op, "count", count, 1));
    if (!parts)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         parts_name);

    int64_t known_channels = 0;
    int skipped = 0;               /* NULL parts so far */
    /* NULL parts before the first part that follows a NULL one */
    int skipped_before_later = 0;
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s[%d]", parts_name, i);
        const rlkd_tensor *part = parts[i];
        if (parts_optional)
            RLKD_TRY(rlkd_check_optional_tensor(ctx, op, name, part,
                                                RLKD_DTYPE_F32));
        else
            RLKD_TRY(rlkd_check_tensor(ctx, op, name, part, RLKD_DTYPE_F32));
        if (!part) {
            skipped++;
            continue;
        }
        RLKD_TRY(rlkd_expect_ndim(op, name, part, 4));
        const int64_t shape[4] = {y->shape[0], part->shape[1], y->shape[2],
                                  y->shape[3]};
        RLKD_TRY(rlkd_expect_shape(op, name, part, 4, shape));
        known_channels += part->shape[1];
        if (skipped > 0 && skipped_before_later == 0)
            skipped_before_later = skipped;
    }
    if (skipped_before_later > 0 && skipped_before_later < skipped)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s has NULL entries on both sides of a tensor, "
                         "so its channel offset in %s is unknown", op,
                         parts_name, y_name);
    const int64_t free_channels = y->shape[1] - known_channels;
    if (skipped == 0 && free_channels != 0)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: the %s have %lld channels in all, but %s has "
                         "%lld", op, parts_name, (long long)known_channels,
                         y_name, (long long)y->shape[1]);
    if (free_channels < skipped) /* every skipped part has a channel */
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: the non-NULL %s have %lld channels, leaving "
                         "%lld of %s's %lld for %d NULL entries", op,
                         parts_name, (long long)known_channels,
                         (long long)free_channels, y_name,
                         (long long)y->shape[1], skipped);
    /* Sizes fit an int: a tensor has at most 2^31 - 1 elements. */
    *hw = (int)(y->shape[2] * y->shape[3]);
    *skipped_channels = free_channels;
    return RLKD_OK;
}

rlkd_status rlkd_concat_forward(rlkd_context *ctx, rlkd_tensor *y,
                                const rlkd_tensor *const *inputs, int count)
{
    int hw;
    int64_t skipped_channels;
    RLKD_TRY(check_concat(ctx, "rlkd_concat_forward", "y", y, "inputs", inputs,
                          count, 0, &hw, &skipped_channels));
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
                                 int count, const rlkd_tensor *dy)
{
    int hw;
    int64_t skipped_channels;
    RLKD_TRY(check_concat(ctx, "rlkd_concat_backward", "dy", dy, "dxs",
                          (const rlkd_tensor *const *)dxs, count, 1, &hw,
                          &skipped_channels));
    int offset = 0;
    for (int i = 0; i < count; i++) {
        if (!dxs[i]) {
            /* No part lies between two skipped ones (checked), so all the
             * skipped channels come before every later part. */
            offset += (int)skipped_channels;
            skipped_channels = 0;
            continue;
        }
        const int channels = (int)dxs[i]->shape[1];
        RLKD_TRY(RLKD_DISPATCH(ctx, concat_backward, rlkd_f32(dxs[i]),
                               rlkd_f32(dy), (int)dy->shape[0], hw,
                               (int)dy->shape[1], offset, channels));
        offset += channels;
    }
    return RLKD_OK;
}
