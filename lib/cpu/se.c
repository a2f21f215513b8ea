/* Squeeze-and-excitation on the CPU: s = sigmoid(mlp(gap(x))), y = x * s.
 * Backward recomputes the gate from x. */
#include "attention_gate.h"
#include "attention_mlp.h"

#include <stdlib.h>

/* gate [N,C] = sigmoid(mlp(mean)), with mean [N,C] the channel means of x
 * and hidden_act [N,hidden] the MLP's hidden layer, both kept for backward. */
static rlkd_status se_gate(rlkd_context *ctx, float *gate, float *mean,
                           float *hidden_act, const float *x, const float *w1,
                           const float *b1, const float *w2, const float *b2,
                           const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c;
    rlkd_cpu_plane_means(ctx, mean, x, planes, (size_t)g->h * g->w);
    RLKD_TRY(rlkd_cpu_attention_mlp_forward(ctx, gate, hidden_act, mean, w1,
                                            b1, w2, b2, g->n, g->c,
                                            g->hidden));
    rlkd_cpu_sigmoid_in_place(gate, planes);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_se_forward(rlkd_context *ctx, float *y, const float *x,
                                const float *w1, const float *b1,
                                const float *w2, const float *b2,
                                const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c;
    size_t hidden_count = (size_t)g->n * g->hidden;
    float *scratch;
    RLKD_TRY(rlkd_cpu_scratch("rlkd_se_forward", 2 * planes + hidden_count,
                              &scratch));
    float *gate = scratch, *mean = gate + planes, *hidden_act = mean + planes;
    rlkd_status status = se_gate(ctx, gate, mean, hidden_act, x, w1, b1, w2,
                                 b2, g);
    if (status == RLKD_OK)
        rlkd_cpu_scale_planes(ctx, y, x, gate, planes, (size_t)g->h * g->w);
    free(scratch);
    return status;
}

rlkd_status rlkd_cpu_se_backward(rlkd_context *ctx, float *dx, float *dw1,
                                 float *db1, float *dw2, float *db2,
                                 const float *dy, const float *x,
                                 const float *w1, const float *b1,
                                 const float *w2, const float *b2,
                                 const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c, hw = (size_t)g->h * g->w;
    size_t hidden_count = (size_t)g->n * g->hidden;
    float *scratch;
    RLKD_TRY(rlkd_cpu_scratch("rlkd_se_backward",
                              4 * planes + 2 * hidden_count, &scratch));
    float *gate = scratch, *mean = gate + planes, *dlogit = mean + planes;
    float *dmean = dlogit + planes, *hidden_act = dmean + planes;
    float *dhidden = hidden_act + hidden_count;

    rlkd_status status = se_gate(ctx, gate, mean, hidden_act, x, w1, b1, w2,
                                 b2, g);
    if (status == RLKD_OK) {
        rlkd_cpu_gate_logit_grad(ctx, dlogit, dy, x, gate, planes, hw);
        status = rlkd_cpu_attention_mlp_backward(
            ctx, dx ? dmean : NULL, dw1, db1, dw2, db2, dhidden, dlogit, mean,
            hidden_act, w1, w2, g->n, g->c, g->hidden);
    }
    if (status == RLKD_OK && dx)
        rlkd_cpu_gate_input_grad(ctx, dx, dy, gate, dmean, planes, hw);
    free(scratch);
    return status;
}
