/* Efficient channel attention on the CPU: s = sigmoid(conv1d(gap(x), w))
 * across the channels of each sample, y = x * s. Backward recomputes the
 * gate from x. */
#include "attention_gate.h"

#include <stdlib.h>

/* z[n,c] = sum_j w[j] v[n, c + j - pad], zero outside the channels. */
static void conv_channels(rlkd_context *ctx, float *z, const float *v,
                          const float *w, const rlkd_attention_geom *g)
{
    int c_count = g->c, pad = (g->kernel - 1) / 2;
    size_t planes = (size_t)g->n * c_count;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * g->kernel > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++) {
        const float *row = v + p / c_count * c_count;
        int c = (int)(p % c_count);
        double sum = 0.0;
        for (int j = 0; j < g->kernel; j++) {
            int src = c + j - pad;
            if (src >= 0 && src < c_count)
                sum += (double)w[j] * row[src];
        }
        z[p] = (float)sum;
    }
}

/* The transpose of conv_channels: dv[n,c] = sum_j w[j] dz[n, c - j + pad]. */
static void conv_channels_input_grad(rlkd_context *ctx, float *dv,
                                     const float *dz, const float *w,
                                     const rlkd_attention_geom *g)
{
    int c_count = g->c, pad = (g->kernel - 1) / 2;
    size_t planes = (size_t)g->n * c_count;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * g->kernel > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++) {
        const float *row = dz + p / c_count * c_count;
        int c = (int)(p % c_count);
        double sum = 0.0;
        for (int j = 0; j < g->kernel; j++) {
            int dst = c - j + pad;
            if (dst >= 0 && dst < c_count)
                sum += (double)w[j] * row[dst];
        }
        dv[p] = (float)sum;
    }
}

/* dw[j] += sum over samples and channels of dz[n,c] v[n, c + j - pad]; one
 * tap per thread, summed in a fixed order. */
static void conv_channels_weight_grad(rlkd_context *ctx, float *dw,
                                      const float *dz, const float *v,
                                      const rlkd_attention_geom *g)
{
    int c_count = g->c, pad = (g->kernel - 1) / 2;
    size_t work = (size_t)g->n * c_count * g->kernel;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (work > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (int j = 0; j < g->kernel; j++) {
        double sum = 0.0;
        for (int n = 0; n < g->n; n++) {
            const float *dz_row = dz + (size_t)n * c_count;
            const float *v_row = v + (size_t)n * c_count;
            for (int c = 0; c < c_count; c++) {
                int src = c + j - pad;
                if (src >= 0 && src < c_count)
                    sum += (double)dz_row[c] * v_row[src];
            }
        }
        dw[j] += (float)sum;
    }
}

/* gate [N,C] = sigmoid(conv_channels(mean)), with mean [N,C] the channel
 * means of x, kept for backward. */
static void eca_gate(rlkd_context *ctx, float *gate, float *mean,
                     const float *x, const float *w,
                     const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c;
    rlkd_cpu_plane_means(ctx, mean, x, planes, (size_t)g->h * g->w);
    conv_channels(ctx, gate, mean, w, g);
    rlkd_cpu_sigmoid_in_place(gate, planes);
}

rlkd_status rlkd_cpu_eca_forward(rlkd_context *ctx, float *y, const float *x,
                                 const float *w, const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c;
    float *scratch;
    RLKD_TRY(rlkd_cpu_scratch("rlkd_eca_forward", 2 * planes, &scratch));
    float *gate = scratch, *mean = gate + planes;
    eca_gate(ctx, gate, mean, x, w, g);
    rlkd_cpu_scale_planes(ctx, y, x, gate, planes, (size_t)g->h * g->w);
    free(scratch);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_eca_backward(rlkd_context *ctx, float *dx, float *dw,
                                  const float *dy, const float *x,
                                  const float *w,
                                  const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c, hw = (size_t)g->h * g->w;
    float *scratch;
    RLKD_TRY(rlkd_cpu_scratch("rlkd_eca_backward", 4 * planes, &scratch));
    float *gate = scratch, *mean = gate + planes, *dlogit = mean + planes;
    float *dmean = dlogit + planes;

    eca_gate(ctx, gate, mean, x, w, g);
    rlkd_cpu_gate_logit_grad(ctx, dlogit, dy, x, gate, planes, hw);
    if (dw)
        conv_channels_weight_grad(ctx, dw, dlogit, mean, g);
    if (dx) {
        conv_channels_input_grad(ctx, dmean, dlogit, w, g);
        rlkd_cpu_gate_input_grad(ctx, dx, dy, gate, dmean, planes, hw);
    }
    free(scratch);
    return RLKD_OK;
}
