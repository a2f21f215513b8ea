/*
 * CBAM on the CPU: a channel gate mc = sigmoid(mlp(avg) + mlp(max)) from the
 * spatially pooled x, then a spatial gate ms = sigmoid(conv2d([mean_c, max_c]
 * of x1 = x * mc) + bs), y = x1 * ms. Backward recomputes both gates from x.
 * Max ties go to the first position or channel.
 */
#include "attention_gate.h"
#include "attention_mlp.h"

#include <stdlib.h>
#include <string.h>

/* The forward's intermediates; N*C planes of HW positions. */
typedef struct cbam_maps {
    float *pooled;          /* [2N,C]: plane averages, then plane maxima */
    float *hidden_act;      /* [2N,hidden]: the MLP's hidden layer */
    float *mlp_out;         /* [2N,C] */
    float *channel_gate;    /* [N,C]: mc */
    float *spatial_in;      /* [N,2,HW]: mean and max over channels of x1 */
    float *spatial_gate;    /* [N,HW]: ms */
    int32_t *max_position;  /* [N,C]: where each plane's maximum is */
    int32_t *max_channel;   /* [N,HW]: which channel holds max_c x1 */
    float *extra;           /* the caller's working memory */
} cbam_maps;

/* Allocates the maps and `extra_count` more floats of working memory. */
static rlkd_status cbam_maps_alloc(cbam_maps *m, const char *op,
                                   const rlkd_attention_geom *g,
                                   size_t extra_count)
{
    size_t planes = (size_t)g->n * g->c;
    size_t positions = (size_t)g->n * g->h * g->w;
    size_t hidden_count = (size_t)g->n * g->hidden;
    float *floats, *ints;
    RLKD_TRY(rlkd_cpu_scratch(op, 5 * planes + 2 * hidden_count +
                                      3 * positions + extra_count, &floats));
    /* Freshly allocated memory takes the type it is first written with, so
     * float scratch can hold the int32 indices. */
    rlkd_status status = rlkd_cpu_scratch(op, planes + positions, &ints);
    if (status != RLKD_OK) {
        free(floats);
        return status;
    }
    m->pooled = floats;
    m->hidden_act = m->pooled + 2 * planes;
    m->mlp_out = m->hidden_act + 2 * hidden_count;
    m->channel_gate = m->mlp_out + 2 * planes;
    m->spatial_in = m->channel_gate + planes;
    m->spatial_gate = m->spatial_in + 2 * positions;
    m->extra = m->spatial_gate + positions;
    m->max_position = (int32_t *)ints;
    m->max_channel = m->max_position + planes;
    return RLKD_OK;
}

static void cbam_maps_release(cbam_maps *m)
{
    free(m->pooled);
    free(m->max_position);
}

/* maximum[p] and max_position[p]: the largest value of plane p of x and its
 * first position. */
static void plane_maxima(rlkd_context *ctx, float *maximum,
                         int32_t *max_position, const float *x, size_t planes,
                         size_t hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++) {
        const float *plane = x + p * hw;
        size_t best = 0;
        for (size_t i = 1; i < hw; i++)
            if (plane[i] > plane[best])
                best = i;
        maximum[p] = plane[best];
        max_position[p] = (int32_t)best;
    }
}

/* spatial_in [N,2,HW] = mean and max over channels of x1 = x * mc, and the
 * first channel holding each max. */
static void channel_pool(rlkd_context *ctx, float *spatial_in,
                         int32_t *max_channel, const float *x,
                         const float *channel_gate,
                         const rlkd_attention_geom *g)
{
    size_t hw = (size_t)g->h * g->w, positions = (size_t)g->n * hw;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (positions * g->c > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t q = 0; q < positions; q++) {
        size_t n = q / hw, pos = q % hw;
        const float *xs = x + n * g->c * hw + pos;
        const float *mc = channel_gate + n * g->c;
        double sum = 0.0;
        float best = xs[0] * mc[0];
        int best_c = 0;
        for (int c = 0; c < g->c; c++) {
            float x1 = xs[c * hw] * mc[c];
            sum += x1;
            if (x1 > best) {
                best = x1;
                best_c = c;
            }
        }
        spatial_in[(2 * n) * hw + pos] = (float)(sum / g->c);
        spatial_in[(2 * n + 1) * hw + pos] = best;
        max_channel[q] = best_c;
    }
}

/* spatial_gate [N,HW] = sigmoid(conv2d(spatial_in, ws) + bs), a k x k
 * kernel over 2 input planes with zero padding (k-1)/2. */
static void spatial_conv(rlkd_context *ctx, float *spatial_gate,
                         const float *spatial_in, const float *ws,
                         const float *bs, const rlkd_attention_geom *g)
{
    int k = g->kernel, pad = (k - 1) / 2;
    size_t hw = (size_t)g->h * g->w, positions = (size_t)g->n * hw;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (positions * 2 * k * k > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t q = 0; q < positions; q++) {
        size_t n = q / hw;
        int i = (int)(q % hw / g->w), j = (int)(q % g->w);
        double sum = bs ? bs[0] : 0.0;
        for (int ch = 0; ch < 2; ch++) {
            const float *in = spatial_in + (2 * n + ch) * hw;
            for (int ki = 0; ki < k; ki++) {
                int r = i + ki - pad;
                if (r < 0 || r >= g->h)
                    continue;
                for (int kj = 0; kj < k; kj++) {
                    int col = j + kj - pad;
                    if (col >= 0 && col < g->w)
                        sum += (double)ws[(ch * k + ki) * k + kj] *
                               in[(size_t)r * g->w + col];
                }
            }
        }
        spatial_gate[q] = rlkd_cpu_sigmoid((float)sum);
    }
}

/* The transpose of spatial_conv (before the sigmoid): dspatial[n,ch,a,b] =
 * sum_{ki,kj} ws[ch,ki,kj] dlogit[n, a-ki+pad, b-kj+pad]. */
static void spatial_conv_input_grad(rlkd_context *ctx, float *dspatial,
                                    const float *dlogit, const float *ws,
                                    const rlkd_attention_geom *g)
{
    int k = g->kernel, pad = (k - 1) / 2;
    size_t hw = (size_t)g->h * g->w, inputs = 2 * (size_t)g->n * hw;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (inputs * k * k > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t q = 0; q < inputs; q++) {
        size_t n = q / (2 * hw);
        int ch = (int)(q / hw % 2);
        int a = (int)(q % hw / g->w), b = (int)(q % g->w);
        const float *d = dlogit + n * hw;
        double sum = 0.0;
        for (int ki = 0; ki < k; ki++) {
            int i = a - ki + pad;
            if (i < 0 || i >= g->h)
                continue;
            for (int kj = 0; kj < k; kj++) {
                int j = b - kj + pad;
                if (j >= 0 && j < g->w)
                    sum += (double)ws[(ch * k + ki) * k + kj] *
                           d[(size_t)i * g->w + j];
            }
        }
        dspatial[q] = (float)sum;
    }
}

/* dws[ch,ki,kj] += sum over n, i, j of dlogit[n,i,j]
 * spatial_in[n, ch, i+ki-pad, j+kj-pad]; one tap per thread, in order. */
static void spatial_conv_weight_grad(rlkd_context *ctx, float *dws,
                                     const float *dlogit,
                                     const float *spatial_in,
                                     const rlkd_attention_geom *g)
{
    int k = g->kernel, pad = (k - 1) / 2, taps = 2 * k * k;
    size_t hw = (size_t)g->h * g->w;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)taps * g->n * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (int t = 0; t < taps; t++) {
        int ch = t / (k * k), ki = t / k % k, kj = t % k;
        double sum = 0.0;
        for (int n = 0; n < g->n; n++) {
            const float *d = dlogit + (size_t)n * hw;
            const float *in = spatial_in + (2 * (size_t)n + ch) * hw;
            for (int i = 0; i < g->h; i++) {
                int r = i + ki - pad;
                if (r < 0 || r >= g->h)
                    continue;
                for (int j = 0; j < g->w; j++) {
                    int col = j + kj - pad;
                    if (col >= 0 && col < g->w)
                        sum += (double)d[(size_t)i * g->w + j] *
                               in[(size_t)r * g->w + col];
                }
            }
        }
        dws[t] += (float)sum;
    }
}

/* Fills every map of `m` from x. */
static rlkd_status cbam_compute_maps(rlkd_context *ctx, cbam_maps *m,
                                     const float *x, const float *w1,
                                     const float *b1, const float *w2,
                                     const float *b2, const float *ws,
                                     const float *bs,
                                     const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c, hw = (size_t)g->h * g->w;
    rlkd_cpu_plane_means(ctx, m->pooled, x, planes, hw);
    plane_maxima(ctx, m->pooled + planes, m->max_position, x, planes, hw);
    /* one MLP pass over both pooled vectors of every sample */
    RLKD_TRY(rlkd_cpu_attention_mlp_forward(ctx, m->mlp_out, m->hidden_act,
                                            m->pooled, w1, b1, w2, b2,
                                            2 * g->n, g->c, g->hidden));
    for (size_t p = 0; p < planes; p++)
        m->channel_gate[p] =
            rlkd_cpu_sigmoid(m->mlp_out[p] + m->mlp_out[planes + p]);
    channel_pool(ctx, m->spatial_in, m->max_channel, x, m->channel_gate, g);
    spatial_conv(ctx, m->spatial_gate, m->spatial_in, ws, bs, g);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_cbam_forward(rlkd_context *ctx, float *y, const float *x,
                                  const float *w1, const float *b1,
                                  const float *w2, const float *b2,
                                  const float *ws, const float *bs,
                                  const rlkd_attention_geom *g)
{
    cbam_maps m;
    RLKD_TRY(cbam_maps_alloc(&m, "rlkd_cbam_forward", g, 0));
    rlkd_status status = cbam_compute_maps(ctx, &m, x, w1, b1, w2, b2, ws,
                                           bs, g);
    if (status == RLKD_OK) {
        size_t planes = (size_t)g->n * g->c, hw = (size_t)g->h * g->w;
        #pragma omp parallel for num_threads(ctx->num_threads) \
            if (planes * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
        for (size_t p = 0; p < planes; p++) {
            const float *ms = m.spatial_gate + p / g->c * hw;
            for (size_t pos = 0; pos < hw; pos++)
                y[p * hw + pos] = x[p * hw + pos] * m.channel_gate[p] * ms[pos];
        }
    }
    cbam_maps_release(&m);
    return status;
}

/* dlogit[n,pos] = sum_c dy x1, through the sigmoid of ms. */
static void spatial_logit_grad(rlkd_context *ctx, float *dlogit,
                               const float *dy, const float *x,
                               const cbam_maps *m,
                               const rlkd_attention_geom *g)
{
    size_t hw = (size_t)g->h * g->w, positions = (size_t)g->n * hw;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (positions * g->c > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t q = 0; q < positions; q++) {
        size_t n = q / hw, first = n * g->c * hw + q % hw;
        const float *mc = m->channel_gate + n * g->c;
        double dgate = 0.0;
        for (int c = 0; c < g->c; c++)
            dgate += (double)dy[first + c * hw] * (x[first + c * hw] * mc[c]);
        float ms = m->spatial_gate[q];
        dlogit[q] = (float)dgate * ms * (1.0f - ms);
    }
}

/* dx1 = dy * ms plus the spatial gate's paths through mean_c and max_c. */
static void channel_output_grad(rlkd_context *ctx, float *dx1,
                                const float *dy, const float *dspatial,
                                const cbam_maps *m,
                                const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c, hw = (size_t)g->h * g->w;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++) {
        size_t n = p / g->c;
        int c = (int)(p % g->c);
        const float *ms = m->spatial_gate + n * hw;
        const float *dmean = dspatial + 2 * n * hw, *dmax = dmean + hw;
        const int32_t *max_channel = m->max_channel + n * hw;
        for (size_t pos = 0; pos < hw; pos++) {
            float d = dy[p * hw + pos] * ms[pos] + dmean[pos] / (float)g->c;
            if (max_channel[pos] == c)
                d += dmax[pos];
            dx1[p * hw + pos] = d;
        }
    }
}

/* Backward from maps already recomputed; see rlkd_cpu_cbam_backward. */
static rlkd_status cbam_backward_from_maps(rlkd_context *ctx, float *dx,
                                           float *dw1, float *db1, float *dw2,
                                           float *db2, float *dws, float *dbs,
                                           const float *dy, const float *x,
                                           const float *w1, const float *w2,
                                           const float *ws, const cbam_maps *m,
                                           const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c, hw = (size_t)g->h * g->w;
    size_t positions = (size_t)g->n * hw;
    float *dlogit = m->extra, *dspatial = dlogit + positions;
    float *dmlp_out = dspatial + 2 * positions;
    float *dpooled = dmlp_out + 2 * planes, *dhidden = dpooled + 2 * planes;
    /* without dx, the gradient reaching x1 lives after dhidden */
    float *dx1 = dx ? dx : dhidden + 2 * (size_t)g->n * g->hidden;

    spatial_logit_grad(ctx, dlogit, dy, x, m, g);
    if (dbs) {
        double sum = 0.0;
        for (size_t q = 0; q < positions; q++)
            sum += dlogit[q];
        dbs[0] += (float)sum;
    }
    if (dws)
        spatial_conv_weight_grad(ctx, dws, dlogit, m->spatial_in, g);
    if (!dx && !dw1 && !db1 && !dw2 && !db2)
        return RLKD_OK;

    spatial_conv_input_grad(ctx, dspatial, dlogit, ws, g);
    channel_output_grad(ctx, dx1, dy, dspatial, m, g);
    /* mlp(avg) and mlp(max) both feed the logit of mc */
    rlkd_cpu_gate_logit_grad(ctx, dmlp_out, dx1, x, m->channel_gate, planes,
                             hw);
    memcpy(dmlp_out + planes, dmlp_out, planes * sizeof *dmlp_out);
    RLKD_TRY(rlkd_cpu_attention_mlp_backward(
        ctx, dx ? dpooled : NULL, dw1, db1, dw2, db2, dhidden, dmlp_out,
        m->pooled, m->hidden_act, w1, w2, 2 * g->n, g->c, g->hidden));
    if (!dx)
        return RLKD_OK;

    /* dx holds dx1: scale it by mc and add the average-pooling path ... */
    rlkd_cpu_gate_input_grad(ctx, dx, dx, m->channel_gate, dpooled, planes,
                             hw);
    /* ... and the max-pooling path, into each plane's first maximum */
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++)
        dx[p * hw + (size_t)m->max_position[p]] += dpooled[planes + p];
    return RLKD_OK;
}

rlkd_status rlkd_cpu_cbam_backward(rlkd_context *ctx, float *dx, float *dw1,
                                   float *db1, float *dw2, float *db2,
                                   float *dws, float *dbs, const float *dy,
                                   const float *x, const float *w1,
                                   const float *b1, const float *w2,
                                   const float *b2, const float *ws,
                                   const float *bs,
                                   const rlkd_attention_geom *g)
{
    size_t planes = (size_t)g->n * g->c;
    size_t positions = (size_t)g->n * g->h * g->w;
    size_t working = 3 * positions + 4 * planes +
                     2 * (size_t)g->n * g->hidden +
                     (dx ? 0 : planes * g->h * g->w);
    cbam_maps m;
    RLKD_TRY(cbam_maps_alloc(&m, "rlkd_cbam_backward", g, working));
    rlkd_status status = cbam_compute_maps(ctx, &m, x, w1, b1, w2, b2, ws,
                                           bs, g);
    if (status == RLKD_OK)
        status = cbam_backward_from_maps(ctx, dx, dw1, db1, dw2, db2, dws,
                                         dbs, dy, x, w1, w2, ws, &m, g);
    cbam_maps_release(&m);
    return status;
}
