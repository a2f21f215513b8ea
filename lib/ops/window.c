/* Output size of a sliding window (convolution, pooling). */
#include "../core/internal.h"

rlkd_status rlkd_window_output_size(int64_t *out, int64_t in, int kernel,
                                    int stride, int pad, int dilation)
{
    static const char op[] = "rlkd_window_output_size";
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    RLKD_TRY(rlkd_expect_at_least(op, "input size", in, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "kernel", kernel, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "stride", stride, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "padding", pad, 0));
    RLKD_TRY(rlkd_expect_at_least(op, "dilation", dilation, 1));
    /* `in` is the caller's int64: padding it must not overflow. */
    if (in > INT64_MAX - 2 * (int64_t)pad)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: input size %lld padded by %d on each side "
                         "overflows a 64-bit size", op, (long long)in, pad);
    int64_t span = (int64_t)dilation * (kernel - 1) + 1; /* < 2^62 */
    int64_t room = in + 2 * (int64_t)pad - span;
    if (room < 0)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: window of %lld (kernel %d, dilation %d) does not "
                         "fit input %lld with padding %d", op, (long long)span,
                         kernel, dilation, (long long)in, pad);
    *out = room / stride + 1;
    return RLKD_OK;
}
