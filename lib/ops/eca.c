/* rlkd_eca_kernel_size, rlkd_eca_forward / rlkd_eca_backward: checks, then
 * the backend. */
#include "attention_check.h"

#include <limits.h>
#include <math.h>

/* Not fallible for channels >= 1 and gamma >= 1; otherwise, or when the
 * size would not fit in an int (only for a huge |b|), it answers -1. */
int rlkd_eca_kernel_size(int channels, int gamma, int b)
{
    if (channels < 1 || gamma < 1)
        return -1;
    double t = fabs((log2((double)channels) + b) / gamma);
    if (t >= INT_MAX)
        return -1;
    int truncated = (int)t; /* at most INT_MAX - 1, so +1 cannot overflow */
    return truncated % 2 ? truncated : truncated + 1;
}

/* x and w [k] or [1,1,k] with k odd, common to forward and backward;
 * fills g. */
static rlkd_status check_eca_inputs(const rlkd_context *ctx, const char *op,
                                    const rlkd_tensor *x, const rlkd_tensor *w,
                                    rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_attention_input(ctx, op, x, g));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "w", w, RLKD_DTYPE_F32));
    /* [1,1,k] is PyTorch's Conv1d weight: the same k taps. */
    if (w->ndim == 3 && w->shape[0] == 1 && w->shape[1] == 1)
        return rlkd_check_odd_kernel(op, "w", w, 2, &g->kernel);
    RLKD_TRY(rlkd_expect_ndim(op, "w", w, 1));
    return rlkd_check_odd_kernel(op, "w", w, 0, &g->kernel);
}

rlkd_status rlkd_eca_forward(rlkd_context *ctx, rlkd_tensor *y,
                             const rlkd_tensor *x, const rlkd_tensor *w)
{
    static const char op[] = "rlkd_eca_forward";
    rlkd_attention_geom g;
    RLKD_TRY(check_eca_inputs(ctx, op, x, w, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "y", y, 0, 4, x->shape));
    return RLKD_DISPATCH(ctx, eca_forward, rlkd_f32(y), rlkd_f32(x),
                         rlkd_f32(w), &g);
}

rlkd_status rlkd_eca_backward(rlkd_context *ctx, rlkd_tensor *dx,
                              rlkd_tensor *dw, const rlkd_tensor *dy,
                              const rlkd_tensor *x, const rlkd_tensor *w)
{
    static const char op[] = "rlkd_eca_backward";
    rlkd_attention_geom g;
    RLKD_TRY(check_eca_inputs(ctx, op, x, w, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dy", dy, 0, 4, x->shape));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dx", dx, 1, 4, x->shape));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dw", dw, 1, w->ndim, w->shape));
    return RLKD_DISPATCH(ctx, eca_backward, rlkd_f32(dx), rlkd_f32(dw),
                         rlkd_f32(dy), rlkd_f32(x), rlkd_f32(w), &g);
}
