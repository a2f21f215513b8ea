/* rlkd_se_forward / rlkd_se_backward: checks, then the backend. */
#include "attention_check.h"

/* x and the MLP weights, common to forward and backward; fills g. */
static rlkd_status check_se_inputs(const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *x, const rlkd_tensor *w1,
                                   const rlkd_tensor *b1,
                                   const rlkd_tensor *w2,
                                   const rlkd_tensor *b2,
                                   rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_attention_input(ctx, op, x, g));
    return rlkd_check_attention_mlp(ctx, op, w1, b1, w2, b2, g);
}

rlkd_status rlkd_se_forward(rlkd_context *ctx, rlkd_tensor *y,
                            const rlkd_tensor *x, const rlkd_tensor *w1,
                            const rlkd_tensor *b1, const rlkd_tensor *w2,
                            const rlkd_tensor *b2)
{
    static const char op[] = "rlkd_se_forward";
    rlkd_attention_geom g;
    RLKD_TRY(check_se_inputs(ctx, op, x, w1, b1, w2, b2, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "y", y, 0, 4, x->shape));
    return RLKD_DISPATCH(ctx, se_forward, rlkd_f32(y), rlkd_f32(x),
                         rlkd_f32(w1), rlkd_f32(b1), rlkd_f32(w2),
                         rlkd_f32(b2), &g);
}

rlkd_status rlkd_se_backward(rlkd_context *ctx, rlkd_tensor *dx,
                             rlkd_tensor *dw1, rlkd_tensor *db1,
                             rlkd_tensor *dw2, rlkd_tensor *db2,
                             const rlkd_tensor *dy, const rlkd_tensor *x,
                             const rlkd_tensor *w1, const rlkd_tensor *b1,
                             const rlkd_tensor *w2, const rlkd_tensor *b2)
{
    static const char op[] = "rlkd_se_backward";
    rlkd_attention_geom g;
    RLKD_TRY(check_se_inputs(ctx, op, x, w1, b1, w2, b2, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dy", dy, 0, 4, x->shape));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dx", dx, 1, 4, x->shape));
    RLKD_TRY(rlkd_check_attention_mlp_grads(ctx, op, dw1, db1, dw2, db2, &g));
    return RLKD_DISPATCH(ctx, se_backward, rlkd_f32(dx), rlkd_f32(dw1),
                         rlkd_f32(db1), rlkd_f32(dw2), rlkd_f32(db2),
                         rlkd_f32(dy), rlkd_f32(x), rlkd_f32(w1),
                         rlkd_f32(b1), rlkd_f32(w2), rlkd_f32(b2), &g);
}
