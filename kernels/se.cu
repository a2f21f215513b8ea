/*
 * Squeeze-and-excitation on the GPU, the twin of lib/cpu/se.c:
 * s = sigmoid(mlp(gap(x))), y = x * s; backward recomputes the gate from x.
 * Forward: plane means, the MLP and gate (a block per sample), the scaling
 * (x read twice). Backward: one read of x and dy gives the means and the
 * gradient reaching each gate; the MLP's forward and backward then run in
 * one launch; the weight gradients; dx (a third read of dy).
 */
#include "attention.cuh"

/* SE's intermediates, in one pooled allocation; [N,C] arrays by plane. */
typedef struct se_maps {
    float *mean, *gate, *hidden_act;       /* forward and backward */
    float *dot, *dlogit, *dmean, *dhidden; /* backward only */
} se_maps;

/* Lays out the maps at base (NULL: only sizes them); returns the bytes. */
static size_t se_maps_layout(se_maps *m, void *base,
                             const rlkd_attention_geom *g, bool backward)
{
    const size_t planes = (size_t)g->n * g->c;
    const size_t hidden = (size_t)g->n * g->hidden;
    size_t used = 0;
    m->mean = rlkd_scratch_take<float>(base, &used, planes);
    m->gate = rlkd_scratch_take<float>(base, &used, planes);
    m->hidden_act = rlkd_scratch_take<float>(base, &used, hidden);
    if (backward) {
        m->dot = rlkd_scratch_take<float>(base, &used, planes);
        m->dlogit = rlkd_scratch_take<float>(base, &used, planes);
        m->dmean = rlkd_scratch_take<float>(base, &used, planes);
        m->dhidden = rlkd_scratch_take<float>(base, &used, hidden);
    }
    return used;
}

static rlkd_status se_forward_with(rlkd_context *ctx, float *y,
                                   const float *x, const rlkd_mlp &mlp,
                                   const se_maps *m,
                                   const rlkd_attention_geom *g)
{
    const int planes = g->n * g->c, hw = g->h * g->w;
    RLKD_TRY(rlkd_cuda_global_avgpool_forward(ctx, m->mean, x, planes, hw));
    RLKD_LAUNCH(g->n, RLKD_ATTENTION_SAMPLE_BLOCK, 0, ctx,
                rlkd_attention_gate_kernel<1>)(m->gate, m->hidden_act,
                                               m->mean, mlp);
    RLKD_TRY(rlkd_cuda_launched("rlkd_attention_gate_kernel"));
    /* y = x * gate[plane]: a channel mask over one sample of N*C planes */
    return rlkd_cuda_channel_mask(ctx, y, x, m->gate, 1, planes, hw);
}

static rlkd_status se_backward_with(rlkd_context *ctx, float *dx, float *dw1,
                                    float *db1, float *dw2, float *db2,
                                    const float *dy, const float *x,
                                    const rlkd_mlp &mlp, const se_maps *m,
                                    const rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_mean_gate_pool(ctx, m->mean, m->dot, x, dy, g));
    /* the hidden layer's gradient only feeds dw1, db1 and dx */
    float *dhidden = dx || dw1 || db1 ? m->dhidden : NULL;
    RLKD_LAUNCH(g->n, RLKD_ATTENTION_SAMPLE_BLOCK, 0, ctx,
                rlkd_attention_mlp_backward_kernel<1, true>)(
        m->dlogit, dhidden, dx ? m->dmean : NULL, m->gate, m->hidden_act,
        m->dot, m->mean, mlp);
    RLKD_TRY(rlkd_cuda_launched("rlkd_attention_mlp_backward_kernel"));
    RLKD_TRY(rlkd_mlp_weight_grads<1>(ctx, dw1, db1, dw2, db2, dhidden,
                                      m->dlogit, m->mean, m->hidden_act,
                                      mlp));
    return rlkd_mean_gate_input_grad(ctx, dx, dy, m->gate, m->dmean, g);
}

extern "C" rlkd_status rlkd_cuda_se_forward(rlkd_context *ctx, float *y,
                                            const float *x, const float *w1,
                                            const float *b1, const float *w2,
                                            const float *b2,
                                            const rlkd_attention_geom *g)
{
    const rlkd_mlp mlp = {w1, b1, w2, b2, g->n, g->c, g->hidden};
    return rlkd_with_scratch<se_maps>(
        ctx,
        [&](se_maps *m, void *base) {
            return se_maps_layout(m, base, g, false);
        },
        [&](const se_maps *m) {
            return se_forward_with(ctx, y, x, mlp, m, g);
        });
}

extern "C" rlkd_status rlkd_cuda_se_backward(rlkd_context *ctx, float *dx,
                                             float *dw1, float *db1,
                                             float *dw2, float *db2,
                                             const float *dy, const float *x,
                                             const float *w1, const float *b1,
                                             const float *w2, const float *b2,
                                             const rlkd_attention_geom *g)
{
    const rlkd_mlp mlp = {w1, b1, w2, b2, g->n, g->c, g->hidden};
    return rlkd_with_scratch<se_maps>(
        ctx,
        [&](se_maps *m, void *base) {
            return se_maps_layout(m, base, g, true);
        },
        [&](const se_maps *m) {
            return se_backward_with(ctx, dx, dw1, db1, dw2, db2, dy, x, mlp,
                                    m, g);
        });
}
