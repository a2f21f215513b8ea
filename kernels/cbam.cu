/*
 * CBAM on the GPU, the twin of lib/cpu/cbam.c: a channel gate
 * mc = sigmoid(mlp(avg) + mlp(max)) from the spatially pooled x, then a
 * spatial gate ms = sigmoid(conv2d([mean_c, max_c] of x1 = x * mc) + bs),
 * y = x1 * ms. Max ties go to the first position or channel.
 *
 * Forward, x read three times and y written once:
 *  1. plane pooling: averages and maxima in one read;
 *  2. the MLP and mc, a block per sample;
 *  3. mean and max over the channels of x1 at each position;
 *  4. for a tile of positions: ms (the k x k taps shared among the tile's
 *     threads), then y = x * mc * ms over every channel.
 * Backward recomputes the maps, and no more of them than it needs:
 *  1-2 as forward, keeping each plane's first maximum;
 *  3. as forward, plus the channel of each maximum and sum_c dy x1 (x, dy);
 *  4. ms and the gradient reaching its logit;
 *  5. dws and dbs;
 *  6. the gradient reaching [mean_c, max_c] (the transposed convolution);
 *  7. the gradient reaching mc: sum over each plane of dx1 * x, with dx1
 *     (the gradient reaching x1) computed on the fly from dy (x, dy);
 *  8. the MLP's backward, a block per sample, and its weight gradients;
 *  9. dx = dx1 * mc plus the pooling paths, dx1 recomputed again (dy) —
 *     cheaper than writing it out and reading it back.
 */
#include "attention.cuh"

/* rlkd_tile_sum for maxima: ties go to the lower channel. */
static __device__ rlkd_argmax cbam_tile_argmax(rlkd_argmax m)
{
    __shared__ rlkd_argmax parts[RLKD_TILE_MAX_GROUPS][RLKD_TILE_POSITIONS];
    __syncthreads();
    parts[threadIdx.y][threadIdx.x] = m;
    __syncthreads();
    if (threadIdx.y == 0)
        for (unsigned group = 1; group < blockDim.y; group++)
            rlkd_argmax_take(&m, parts[group][threadIdx.x].value,
                             parts[group][threadIdx.x].index);
    return m;
}

/* spatial_in [N,2,HW] = the mean and max over channels of x1 = x * mc at
 * each position; BACKWARD adds max_channel [N,HW] (the first channel
 * holding the max) and spatial_dot [N,HW] = sum_c dy * x1. */
template <bool BACKWARD>
__global__ void __launch_bounds__(RLKD_TILE_MAX_THREADS)
rlkd_cbam_channel_pool_kernel(float *spatial_in, int32_t *max_channel,
                              float *spatial_dot, const float *x,
                              const float *dy, const float *channel_gate,
                              rlkd_attention_geom g)
{
    const int hw = g.h * g.w;
    const rlkd_tile_at at = rlkd_tile_position(g.n, hw);
    float sum = 0.0f, dot = 0.0f;
    rlkd_argmax max = rlkd_argmax_empty();
    if (at.active) {
        const float *mc = channel_gate + (size_t)at.sample * g.c;
        for (int ch = threadIdx.y; ch < g.c; ch += blockDim.y) {
            const size_t e = ((size_t)at.sample * g.c + ch) * hw + at.pos;
            const float x1 = x[e] * mc[ch];
            sum += x1;
            rlkd_argmax_take(&max, x1, ch);
            if (BACKWARD)
                dot += dy[e] * x1;
        }
    }
    sum = rlkd_tile_sum(sum);
    max = cbam_tile_argmax(max);
    if (BACKWARD)
        dot = rlkd_tile_sum(dot);
    if (threadIdx.y == 0 && at.active) {
        float *maps = spatial_in + 2 * (size_t)at.sample * hw + at.pos;
        maps[0] = sum / (float)g.c;
        maps[hw] = max.value;
        if (BACKWARD) {
            max_channel[at.q] = max.index;
            spatial_dot[at.q] = dot;
        }
    }
}

/* ms at this thread's position of the tile, in every group: the 2 k rows
 * of k taps of the convolution over spatial_in are shared among the
 * groups, whose sums are added in group order after the bias. Every
 * thread must call it. */
static __device__ float cbam_spatial_gate(const float *spatial_in,
                                          const float *ws, const float *bs,
                                          const rlkd_attention_geom &g,
                                          const rlkd_tile_at &at)
{
    __shared__ float gate[RLKD_TILE_POSITIONS];
    const int k = g.kernel, pad = (k - 1) / 2, hw = g.h * g.w;
    float sum = 0.0f;
    if (at.active) {
        const int i = at.pos / g.w, j = at.pos % g.w;
        const float *in = spatial_in + 2 * (size_t)at.sample * hw;
        /* row u = ch * k + ki of the kernel meets row r of plane ch */
        for (int u = threadIdx.y; u < 2 * k; u += blockDim.y) {
            const int ch = u / k, r = i + u - ch * k - pad;
            if (r < 0 || r >= g.h)
                continue;
            const float *row = in + (size_t)ch * hw + r * g.w, *w = ws + u * k;
            for (int kj = 0; kj < k; kj++) {
                const int col = j + kj - pad;
                if (col >= 0 && col < g.w)
                    sum += w[kj] * row[col];
            }
        }
    }
    const float logit = rlkd_tile_sum(sum);
    if (threadIdx.y == 0)
        gate[threadIdx.x] = rlkd_sigmoid((bs ? bs[0] : 0.0f) + logit);
    __syncthreads();
    return gate[threadIdx.x];
}

/* y = x * mc * ms for the tile's positions, every channel. */
__global__ void __launch_bounds__(RLKD_TILE_MAX_THREADS)
rlkd_cbam_scale_kernel(float *y, const float *x, const float *channel_gate,
                       const float *spatial_in, const float *ws,
                       const float *bs, rlkd_attention_geom g)
{
    const int hw = g.h * g.w;
    const rlkd_tile_at at = rlkd_tile_position(g.n, hw);
    const float ms = cbam_spatial_gate(spatial_in, ws, bs, g, at);
    if (at.active) {
        const float *mc = channel_gate + (size_t)at.sample * g.c;
        for (int ch = threadIdx.y; ch < g.c; ch += blockDim.y) {
            const size_t e = ((size_t)at.sample * g.c + ch) * hw + at.pos;
            y[e] = x[e] * mc[ch] * ms;
        }
    }
}

/* spatial_gate = ms and spatial_dlogit = the gradient reaching its logit,
 * from spatial_dot (the gradient reaching ms). */
__global__ void __launch_bounds__(RLKD_TILE_MAX_THREADS)
rlkd_cbam_spatial_gate_kernel(float *spatial_gate, float *spatial_dlogit,
                              const float *spatial_dot,
                              const float *spatial_in, const float *ws,
                              const float *bs, rlkd_attention_geom g)
{
    const rlkd_tile_at at = rlkd_tile_position(g.n, g.h * g.w);
    const float ms = cbam_spatial_gate(spatial_in, ws, bs, g, at);
    if (threadIdx.y == 0 && at.active) {
        spatial_gate[at.q] = ms;
        spatial_dlogit[at.q] = rlkd_sigmoid_grad(spatial_dot[at.q], ms);
    }
}

/* dspatial [N,2,HW]: the transposed spatial convolution of dlogit [N,HW]. */
__global__ void rlkd_cbam_spatial_input_grad_kernel(float *dspatial,
                                                    const float *dlogit,
                                                    const float *ws,
                                                    rlkd_attention_geom g)
{
    const int k = g.kernel, pad = (k - 1) / 2;
    const unsigned hw = (unsigned)(g.h * g.w);
    const unsigned n = 2 * (unsigned)g.n * hw;
    for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += gridDim.x * blockDim.x) {
        const unsigned plane = e / hw;
        const int pos = (int)(e - plane * hw), a = pos / g.w, b = pos % g.w;
        const float *d = dlogit + (size_t)(plane / 2) * hw;
        const float *w = ws + (plane % 2) * k * k;
        float sum = 0.0f;
        for (int ki = 0; ki < k; ki++) {
            const int i = a - ki + pad;
            if (i < 0 || i >= g.h)
                continue;
            for (int kj = 0; kj < k; kj++) {
                const int j = b - kj + pad;
                if (j >= 0 && j < g.w)
                    sum += w[ki * k + kj] * d[i * g.w + j];
            }
        }
        dspatial[e] = sum;
    }
}

/* The taps of rlkd_tap_grads: 2 k k weights and the bias. Output q =
 * (n, i, j) meets spatial_in[n, ch, i + ki - pad, j + kj - pad] through tap
 * (ch, ki, kj). */
struct rlkd_cbam_taps {
    const float *spatial_in;
    int k, h, w, count, weights;
    struct coords {
        size_t maps; /* spatial_in's offset of the sample */
        int i, j;
    };
    __device__ coords coords_of(unsigned q) const
    {
        const unsigned hw = (unsigned)(h * w), sample = q / hw;
        const int pos = (int)(q - sample * hw);
        coords at;
        at.maps = 2 * (size_t)sample * hw;
        at.i = pos / w;
        at.j = pos % w;
        return at;
    }
    __device__ float source(const coords &at, int t) const
    {
        if (t == weights)
            return 1.0f;
        const int pad = (k - 1) / 2, ch = t / (k * k);
        const int r = at.i + t / k % k - pad, col = at.j + t % k - pad;
        if (r < 0 || r >= h || col < 0 || col >= w)
            return 0.0f;
        return spatial_in[at.maps + (size_t)ch * h * w + r * w + col];
    }
};

/* The gradient reaching x1 = x * mc (the CPU's channel_output_grad):
 * dy * ms, plus the spatial gate's path through mean_c, plus its path
 * through max_c for the channel that holds the max. */
struct rlkd_cbam_x1_grad {
    const float *dy, *spatial_gate, *dspatial;
    const int32_t *max_channel;
    int c, hw;
    size_t quads(size_t n) const
    {
        return rlkd_cuda_quads(n, dy, spatial_gate, dspatial, max_channel);
    }
    template <int W>
    __device__ rlkd_floats<W> load(size_t i, unsigned plane, int pos) const
    {
        const unsigned sample = plane / (unsigned)c;
        const int ch = (int)(plane - sample * c);
        /* W positions from pos: W-th parts of the [N,HW] and [N,2,HW]
         * maps (hw % W == 0) */
        const size_t q = ((size_t)sample * hw + pos) / W;
        const size_t maps = (2 * (size_t)sample * hw + pos) / W;
        const rlkd_floats<W> d = rlkd_load<W>(dy, i);
        const rlkd_floats<W> ms = rlkd_load<W>(spatial_gate, q);
        const rlkd_floats<W> dmean = rlkd_load<W>(dspatial, maps);
        const rlkd_floats<W> dmax = rlkd_load<W>(dspatial, maps + hw / W);
        const rlkd_ints<W> max_c = rlkd_load_ints<W>(max_channel, q);
        rlkd_floats<W> out;
        for (int k = 0; k < W; k++) {
            out.v[k] = d.v[k] * ms.v[k] + dmean.v[k] / (float)c;
            if (max_c.v[k] == ch)
                out.v[k] += dmax.v[k];
        }
        return out;
    }
};

/* CBAM's intermediates, in one pooled allocation. */
typedef struct cbam_maps {
    /* forward and backward */
    float *pooled;          /* [2,N,C]: plane averages, then maxima */
    float *hidden_act;      /* [2,N,hidden] */
    float *channel_gate;    /* [N,C]: mc */
    float *spatial_in;      /* [N,2,HW]: mean_c and max_c of x1 */
    /* backward only */
    int32_t *max_position;  /* [N,C]: each plane's first maximum */
    int32_t *max_channel;   /* [N,HW]: the first channel holding max_c */
    float *spatial_dot;     /* [N,HW]: sum_c dy x1 */
    float *spatial_gate;    /* [N,HW]: ms */
    float *spatial_dlogit;  /* [N,HW] */
    float *dspatial;        /* [N,2,HW] */
    float *dot;             /* [N,C]: sum over the plane of dx1 x */
    float *dlogit;          /* [N,C] */
    float *dhidden;         /* [2,N,hidden] */
    float *dpooled;         /* [2,N,C] */
} cbam_maps;

static size_t cbam_maps_layout(cbam_maps *m, void *base,
                               const rlkd_attention_geom *g, bool backward)
{
    const size_t planes = (size_t)g->n * g->c;
    const size_t positions = (size_t)g->n * g->h * g->w;
    const size_t hidden = (size_t)g->n * g->hidden;
    size_t used = 0;
    m->pooled = rlkd_scratch_take<float>(base, &used, 2 * planes);
    m->hidden_act = rlkd_scratch_take<float>(base, &used, 2 * hidden);
    m->channel_gate = rlkd_scratch_take<float>(base, &used, planes);
    m->spatial_in = rlkd_scratch_take<float>(base, &used, 2 * positions);
    if (backward) {
        m->max_position = rlkd_scratch_take<int32_t>(base, &used, planes);
        m->max_channel = rlkd_scratch_take<int32_t>(base, &used, positions);
        m->spatial_dot = rlkd_scratch_take<float>(base, &used, positions);
        m->spatial_gate = rlkd_scratch_take<float>(base, &used, positions);
        m->spatial_dlogit = rlkd_scratch_take<float>(base, &used, positions);
        m->dspatial = rlkd_scratch_take<float>(base, &used, 2 * positions);
        m->dot = rlkd_scratch_take<float>(base, &used, planes);
        m->dlogit = rlkd_scratch_take<float>(base, &used, planes);
        m->dhidden = rlkd_scratch_take<float>(base, &used, 2 * hidden);
        m->dpooled = rlkd_scratch_take<float>(base, &used, 2 * planes);
    }
    return used;
}

/* Steps 1-3 (see the top): pooled, hidden_act, channel_gate, spatial_in,
 * and for backward (dy given) max_position, max_channel, spatial_dot. */
static rlkd_status cbam_channel_maps(rlkd_context *ctx, const cbam_maps *m,
                                     const float *dy, const float *x,
                                     const rlkd_mlp &mlp,
                                     const rlkd_attention_geom *g)
{
    const int planes = g->n * g->c, hw = g->h * g->w;
    const rlkd_plane_pool_out pooled = {
        m->pooled, m->pooled + planes, dy ? m->max_position : NULL, NULL};
    RLKD_TRY(rlkd_plane_pool<RLKD_POOL_MEAN | RLKD_POOL_MAX>(
        ctx, pooled, x, rlkd_no_grad(), planes, hw));
    RLKD_LAUNCH(g->n, RLKD_ATTENTION_SAMPLE_BLOCK, 0, ctx,
                rlkd_attention_gate_kernel<2>)(m->channel_gate, m->hidden_act,
                                               m->pooled, mlp);
    RLKD_TRY(rlkd_cuda_launched("rlkd_attention_gate_kernel"));
    const dim3 tile = rlkd_tile_block(g->n, hw, g->c);
    if (dy)
        RLKD_LAUNCH(rlkd_tile_blocks(g->n, hw), tile, 0, ctx,
                    rlkd_cbam_channel_pool_kernel<true>)(
            m->spatial_in, m->max_channel, m->spatial_dot, x, dy,
            m->channel_gate, *g);
    else
        RLKD_LAUNCH(rlkd_tile_blocks(g->n, hw), tile, 0, ctx,
                    rlkd_cbam_channel_pool_kernel<false>)(
            m->spatial_in, (int32_t *)NULL, (float *)NULL, x, (float *)NULL,
            m->channel_gate, *g);
    return rlkd_cuda_launched("rlkd_cbam_channel_pool_kernel");
}

static rlkd_status cbam_forward_with(rlkd_context *ctx, float *y,
                                     const float *x, const rlkd_mlp &mlp,
                                     const float *ws, const float *bs,
                                     const cbam_maps *m,
                                     const rlkd_attention_geom *g)
{
    RLKD_TRY(cbam_channel_maps(ctx, m, NULL, x, mlp, g));
    const dim3 tile = rlkd_tile_block(g->n, g->h * g->w, g->c);
    RLKD_LAUNCH(rlkd_tile_blocks(g->n, g->h * g->w), tile, 0, ctx,
                rlkd_cbam_scale_kernel)(y, x, m->channel_gate, m->spatial_in,
                                        ws, bs, *g);
    return rlkd_cuda_launched("rlkd_cbam_scale_kernel");
}

static rlkd_status cbam_backward_with(rlkd_context *ctx, float *dx,
                                      float *dw1, float *db1, float *dw2,
                                      float *db2, float *dws, float *dbs,
                                      const float *dy, const float *x,
                                      const rlkd_mlp &mlp, const float *ws,
                                      const float *bs, const cbam_maps *m,
                                      const rlkd_attention_geom *g)
{
    const int planes = g->n * g->c, hw = g->h * g->w, k = g->kernel;
    RLKD_TRY(cbam_channel_maps(ctx, m, dy, x, mlp, g));
    const dim3 tile = rlkd_tile_block(g->n, hw, 2 * k);
    RLKD_LAUNCH(rlkd_tile_blocks(g->n, hw), tile, 0, ctx,
                rlkd_cbam_spatial_gate_kernel)(m->spatial_gate,
                                               m->spatial_dlogit,
                                               m->spatial_dot, m->spatial_in,
                                               ws, bs, *g);
    RLKD_TRY(rlkd_cuda_launched("rlkd_cbam_spatial_gate_kernel"));
    if (dws || dbs) {
        const rlkd_cbam_taps taps = {m->spatial_in, k, g->h, g->w,
                                     2 * k * k + 1, 2 * k * k};
        RLKD_TRY(rlkd_tap_grads(ctx, dws, dbs, m->spatial_dlogit, taps,
                                g->n * hw));
    }
    if (!dx && !dw1 && !db1 && !dw2 && !db2)
        return RLKD_OK;

    RLKD_LAUNCH(rlkd_cuda_blocks(2 * (size_t)g->n * hw), RLKD_CUDA_BLOCK, 0,
                ctx, rlkd_cbam_spatial_input_grad_kernel)(
        m->dspatial, m->spatial_dlogit, ws, *g);
    RLKD_TRY(rlkd_cuda_launched("rlkd_cbam_spatial_input_grad_kernel"));
    const rlkd_cbam_x1_grad x1_grad = {dy, m->spatial_gate, m->dspatial,
                                       m->max_channel, g->c, hw};
    const rlkd_plane_pool_out dot = {NULL, NULL, NULL, m->dot};
    RLKD_TRY(rlkd_plane_pool<RLKD_POOL_DOT>(ctx, dot, x, x1_grad, planes, hw));
    /* the hidden layer's gradient only feeds dw1, db1 and dx */
    float *dhidden = dx || dw1 || db1 ? m->dhidden : NULL;
    RLKD_LAUNCH(g->n, RLKD_ATTENTION_SAMPLE_BLOCK, 0, ctx,
                rlkd_attention_mlp_backward_kernel<2, false>)(
        m->dlogit, dhidden, dx ? m->dpooled : NULL, m->channel_gate,
        m->hidden_act, m->dot, m->pooled, mlp);
    RLKD_TRY(rlkd_cuda_launched("rlkd_attention_mlp_backward_kernel"));
    RLKD_TRY(rlkd_mlp_weight_grads<2>(ctx, dw1, db1, dw2, db2, dhidden,
                                      m->dlogit, m->pooled, m->hidden_act,
                                      mlp));
    if (!dx)
        return RLKD_OK;
    return rlkd_gate_input_grad(ctx, dx, x1_grad, m->channel_gate, m->dpooled,
                                m->dpooled + planes, m->max_position, planes,
                                hw);
}

extern "C" rlkd_status rlkd_cuda_cbam_forward(rlkd_context *ctx, float *y,
                                              const float *x, const float *w1,
                                              const float *b1,
                                              const float *w2,
                                              const float *b2,
                                              const float *ws,
                                              const float *bs,
                                              const rlkd_attention_geom *g)
{
    const rlkd_mlp mlp = {w1, b1, w2, b2, g->n, g->c, g->hidden};
    return rlkd_with_scratch<cbam_maps>(
        ctx,
        [&](cbam_maps *m, void *base) {
            return cbam_maps_layout(m, base, g, false);
        },
        [&](const cbam_maps *m) {
            return cbam_forward_with(ctx, y, x, mlp, ws, bs, m, g);
        });
}

extern "C" rlkd_status rlkd_cuda_cbam_backward(
    rlkd_context *ctx, float *dx, float *dw1, float *db1, float *dw2,
    float *db2, float *dws, float *dbs, const float *dy, const float *x,
    const float *w1, const float *b1, const float *w2, const float *b2,
    const float *ws, const float *bs, const rlkd_attention_geom *g)
{
    const rlkd_mlp mlp = {w1, b1, w2, b2, g->n, g->c, g->hidden};
    return rlkd_with_scratch<cbam_maps>(
        ctx,
        [&](cbam_maps *m, void *base) {
            return cbam_maps_layout(m, base, g, true);
        },
        [&](const cbam_maps *m) {
            return cbam_backward_with(ctx, dx, dw1, db1, dw2, db2, dws, dbs,
                                      dy, x, mlp, ws, bs, m, g);
        });
}
