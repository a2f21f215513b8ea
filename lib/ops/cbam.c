/* rlkd_cbam_forward / rlkd_cbam_backward: checks, then the backend. */
#include "attention_check.h"

/* x, the MLP weights and the spatial kernel ws [1,2,k,k] (k odd) with its
 * optional bias bs [1], common to forward and backward; fills g. */
static rlkd_status check_cbam_inputs(const rlkd_context *ctx, const char *op,
                                     const rlkd_tensor *x,
                                     const rlkd_tensor *w1,
                                     const rlkd_tensor *b1,
                                     const rlkd_tensor *w2,
                                     const rlkd_tensor *b2,
                                     const rlkd_tensor *ws,
                                     const rlkd_tensor *bs,
                                     rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_attention_input(ctx, op, x, g));
    RLKD_TRY(rlkd_check_attention_mlp(ctx, op, w1, b1, w2, b2, g));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "ws", ws, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "ws", ws, 4));
    const int64_t ws_shape[4] = {1, 2, ws->shape[2], ws->shape[2]};
    RLKD_TRY(rlkd_expect_shape(op, "ws", ws, 4, ws_shape));
    RLKD_TRY(rlkd_check_odd_kernel(op, "ws", ws, 2, &g->kernel));
    return rlkd_check_f32_vector(ctx, op, "bs", bs, 1, 1);
}

rlkd_status rlkd_cbam_forward(rlkd_context *ctx, rlkd_tensor *y,
                              const rlkd_tensor *x, const rlkd_tensor *w1,
                              const rlkd_tensor *b1, const rlkd_tensor *w2,
                              const rlkd_tensor *b2, const rlkd_tensor *ws,
                              const rlkd_tensor *bs)
{
    static const char op[] = "rlkd_cbam_forward";
    rlkd_attention_geom g;
    RLKD_TRY(check_cbam_inputs(ctx, op, x, w1, b1, w2, b2, ws, bs, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "y", y, 0, 4, x->shape));
    return RLKD_DISPATCH(ctx, cbam_forward, rlkd_f32(y), rlkd_f32(x),
                         rlkd_f32(w1), rlkd_f32(b1), rlkd_f32(w2),
                         rlkd_f32(b2), rlkd_f32(ws), rlkd_f32(bs), &g);
}

rlkd_status rlkd_cbam_backward(rlkd_context *ctx, rlkd_tensor *dx,
                               rlkd_tensor *dw1, rlkd_tensor *db1,
                               rlkd_tensor *dw2, rlkd_tensor *db2,
                               rlkd_tensor *dws, rlkd_tensor *dbs,
                               const rlkd_tensor *dy, const rlkd_tensor *x,
                               const rlkd_tensor *w1, const rlkd_tensor *b1,
                               const rlkd_tensor *w2, const rlkd_tensor *b2,
                               const rlkd_tensor *ws, const rlkd_tensor *bs)
{
    static const char op[] = "rlkd_cbam_backward";
    rlkd_attention_geom g;
    RLKD_TRY(check_cbam_inputs(ctx, op, x, w1, b1, w2, b2, ws, bs, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dy", dy, 0, 4, x->shape));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dx", dx, 1, 4, x->shape));
    RLKD_TRY(rlkd_check_attention_mlp_grads(ctx, op, dw1, db1, dw2, db2, &g));
    RLKD_TRY(rlkd_check_f32_shaped(ctx, op, "dws", dws, 1, 4, ws->shape));
    RLKD_TRY(rlkd_check_f32_vector(ctx, op, "dbs", dbs, 1, 1));
    return RLKD_DISPATCH(ctx, cbam_backward, rlkd_f32(dx), rlkd_f32(dw1),
                         rlkd_f32(db1), rlkd_f32(dw2), rlkd_f32(db2),
                         rlkd_f32(dws), rlkd_f32(dbs), rlkd_f32(dy),
                         rlkd_f32(x), rlkd_f32(w1), rlkd_f32(b1),
                         rlkd_f32(w2), rlkd_f32(b2), rlkd_f32(ws),
                         rlkd_f32(bs), &g);
}
