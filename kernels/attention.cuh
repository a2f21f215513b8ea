/*
 * Device code shared by the channel-attention ops on the GPU
 * (global_avgpool.cu, se.cu, eca.cu, cbam.cu, attention_transfer_loss.cu),
 * the twins of lib/cpu/attention_gate.h and attention_mlp.h:
 *  - pooling of whole planes in one read: mean, maximum with its first
 *    position, and the sum of x times a gradient, any of them at once;
 *  - [positions x channel groups] tiles for reductions across channels;
 *  - the SE/CBAM MLP on the pooled vectors, one block per sample;
 *  - the gradient of a gate's input, and of a small convolution's taps.
 * Every reduction adds in a fixed order (no atomics), so results reproduce
 * bit for bit.
 */
#ifndef RLKD_ATTENTION_CUH
#define RLKD_ATTENTION_CUH

#include "cuda.h"
#include "elementwise.cuh"
#include "reduce.cuh"

#include <climits>
#include <cmath>
#include <cstdint>

enum {
    /* Threads of the one-block-per-sample kernels: a warp per row of the
     * MLP's weights, so a block's 16 warps share the rows. */
    RLKD_ATTENTION_SAMPLE_BLOCK = 512,
    /* Reductions across channels run on tiles of 32 positions (a warp,
     * consecutive addresses) by up to 32 groups of channels. */
    RLKD_TILE_POSITIONS = 32,
    RLKD_TILE_MAX_GROUPS = 32,
    RLKD_TILE_MAX_THREADS = RLKD_TILE_POSITIONS * RLKD_TILE_MAX_GROUPS,
    /* Tiles get more groups until the grid has about this many threads
     * (a full H100/H200: 132 SMs of 2048). */
    RLKD_TILE_GRID_THREADS = 1 << 18,
    /* Plane pooling gives a thread about this many loads of its plane. */
    RLKD_POOL_LOADS = 4,
    /* Elements per lane of the tap gradients: their coordinates are worked
     * out once for all taps. */
    RLKD_TAP_ELEMENTS = 4
};

__device__ __forceinline__ float rlkd_sigmoid(float z)
{
    return 1.0f / (1.0f + expf(-z));
}

/* The gradient reaching the logit of gate = sigmoid(logit), from the one
 * reaching the gate (the CPU's order of products). */
__device__ __forceinline__ float rlkd_sigmoid_grad(float dgate, float gate)
{
    return dgate * gate * (1.0f - gate);
}

/* W consecutive int32 in registers, loaded at once (16 bytes for W = 4,
 * aligned as float4; the emulator has no int4). */
template <int W> struct alignas(4 * W) rlkd_ints {
    int32_t v[W];
};

/* int32 [W*i, W*i + W) of p, as rlkd_load. */
template <int W>
__device__ __forceinline__ rlkd_ints<W> rlkd_load_ints(const int32_t *p,
                                                      size_t i)
{
    return reinterpret_cast<const rlkd_ints<W> *>(p)[i];
}

/* ---- reductions ---- */

/* The sum over aligned groups of `lanes` lanes (a power of two, at most
 * 32), in every lane of the group: rlkd_warp_sum's butterfly stopped early.
 * All 32 lanes must call it. */
template <typename T>
__device__ __forceinline__ T rlkd_lanes_sum(T value, int lanes)
{
    for (int offset = lanes / 2; offset > 0; offset /= 2)
        value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}

/* A maximum and where it is. Ties go to the lower index, as the CPU keeps
 * the first; empty is (-inf, INT_MAX), so a real -inf still wins. */
struct rlkd_argmax {
    float value;
    int index;
};

__device__ __forceinline__ rlkd_argmax rlkd_argmax_empty(void)
{
    rlkd_argmax m = {-INFINITY, INT_MAX};
    return m;
}

__device__ __forceinline__ void rlkd_argmax_take(rlkd_argmax *m, float value,
                                                 int index)
{
    if (value > m->value || (value == m->value && index < m->index)) {
        m->value = value;
        m->index = index;
    }
}

/* rlkd_lanes_sum for rlkd_argmax; every lane of a group ends with the
 * same pair. */
__device__ __forceinline__ rlkd_argmax rlkd_lanes_argmax(rlkd_argmax m,
                                                         int lanes)
{
    for (int offset = lanes / 2; offset > 0; offset /= 2) {
        const float value = __shfl_xor_sync(0xffffffffu, m.value, offset);
        const int index = __shfl_xor_sync(0xffffffffu, m.index, offset);
        rlkd_argmax_take(&m, value, index);
    }
    return m;
}

/* ---- tiles of 32 positions by groups of channels ----
 * Block (32, groups): threadIdx.x picks a position of n*hw, threadIdx.y a
 * group of channels (channel ch belongs to group ch % groups), so each
 * warp reads 32 consecutive positions of one channel at a time. Small
 * planes (few positions) get more groups, so that the grid still fills the
 * GPU. */

struct rlkd_tile_at {
    unsigned q, sample; /* q = sample * hw + pos */
    int pos;
    bool active;        /* false past the last position */
};

__device__ __forceinline__ rlkd_tile_at rlkd_tile_position(int n, int hw)
{
    rlkd_tile_at at;
    at.q = blockIdx.x * RLKD_TILE_POSITIONS + threadIdx.x;
    at.active = at.q < (unsigned)n * (unsigned)hw;
    at.sample = at.active ? at.q / (unsigned)hw : 0;
    at.pos = (int)(at.q - at.sample * (unsigned)hw);
    return at;
}

static inline unsigned rlkd_tile_blocks(int n, int hw)
{
    return (unsigned)(((size_t)n * hw + RLKD_TILE_POSITIONS - 1) /
                      RLKD_TILE_POSITIONS);
}

/* The block of the tiles over n*hw positions of `channels` channels. */
static inline dim3 rlkd_tile_block(int n, int hw, int channels)
{
    const size_t positions = (size_t)n * hw;
    unsigned groups = 1;
    while (groups < RLKD_TILE_MAX_GROUPS && (int)groups < channels &&
           positions * groups < RLKD_TILE_GRID_THREADS)
        groups *= 2;
    return dim3(RLKD_TILE_POSITIONS, groups);
}

/* The groups' values at each position added in group order, returned in
 * group 0 (0 elsewhere). Every thread must call it. */
template <typename T> __device__ T rlkd_tile_sum(T value)
{
    __shared__ T parts[RLKD_TILE_MAX_GROUPS][RLKD_TILE_POSITIONS];
    /* a previous call's readers are done */
    __syncthreads();
    parts[threadIdx.y][threadIdx.x] = value;
    __syncthreads();
    T total = T(0);
    if (threadIdx.y == 0)
        for (unsigned group = 0; group < blockDim.y; group++)
            total += parts[group][threadIdx.x];
    return total;
}

/* ---- pooling whole planes ---- */

/* What rlkd_plane_pool computes over each plane, any combination. */
enum {
    RLKD_POOL_MEAN = 1,
    RLKD_POOL_MAX = 2, /* and, where argmax is given, its first position */
    RLKD_POOL_DOT = 4  /* the sum of grad * x */
};

/* Where rlkd_plane_pool writes, indexed by plane; a NULL array is not
 * written. */
struct rlkd_plane_pool_out {
    float *mean, *max;
    int32_t *argmax;
    float *dot;
};

/* The gradient a kind without RLKD_POOL_DOT pairs with x: none (zeros,
 * never added). */
struct rlkd_no_grad {
    size_t quads(size_t n) const { return n / 4; }
    template <int W>
    __device__ rlkd_floats<W> load(size_t, unsigned, int) const
    {
        rlkd_floats<W> zero = {};
        return zero;
    }
};

/* The gradient of RLKD_POOL_DOT and rlkd_gate_input_grad when it is dy
 * itself (SE, ECA): W floats from quad or float i. */
struct rlkd_dy_grad {
    const float *dy;
    size_t quads(size_t n) const { return rlkd_cuda_quads(n, dy); }
    template <int W>
    __device__ rlkd_floats<W> load(size_t i, unsigned, int) const
    {
        return rlkd_load<W>(dy, i);
    }
};

/*
 * Each plane of hw values is read by `lanes` threads (a power of two up to
 * the block): a warp holds several small planes, a block one large plane.
 * W = 4 reads float4 quads (hw % 4 == 0, aligned). Sums go through the
 * lanes' butterfly, then the plane's warps in order.
 */
template <int KIND, int W, class Grad>
__global__ void __launch_bounds__(RLKD_CUDA_BLOCK)
rlkd_plane_pool_kernel(rlkd_plane_pool_out out, const float *x, Grad grad,
                       int planes, int hw, int lanes)
{
    __shared__ float warp_sum[RLKD_CUDA_BLOCK / 32];
    __shared__ float warp_dot[RLKD_CUDA_BLOCK / 32];
    __shared__ rlkd_argmax warp_max[RLKD_CUDA_BLOCK / 32];
    const int lane = (int)threadIdx.x % lanes;
    const unsigned plane =
        blockIdx.x * (RLKD_CUDA_BLOCK / lanes) + threadIdx.x / lanes;
    float sum = 0.0f, dot = 0.0f;
    rlkd_argmax max = rlkd_argmax_empty();
    if (plane < (unsigned)planes) {
        const size_t first = (size_t)plane * hw / W;
        for (int j = lane; j < hw / W; j += lanes) {
            const rlkd_floats<W> v = rlkd_load<W>(x, first + j);
            const rlkd_floats<W> g =
                grad.template load<W>(first + j, plane, W * j);
            for (int k = 0; k < W; k++) {
                if (KIND & RLKD_POOL_MEAN)
                    sum += v.v[k];
                if (KIND & RLKD_POOL_MAX)
                    rlkd_argmax_take(&max, v.v[k], W * j + k);
                if (KIND & RLKD_POOL_DOT)
                    dot += g.v[k] * v.v[k];
            }
        }
    }
    const int warp_lanes = lanes < 32 ? lanes : 32;
    if (KIND & RLKD_POOL_MEAN)
        sum = rlkd_lanes_sum(sum, warp_lanes);
    if (KIND & RLKD_POOL_DOT)
        dot = rlkd_lanes_sum(dot, warp_lanes);
    if (KIND & RLKD_POOL_MAX)
        max = rlkd_lanes_argmax(max, warp_lanes);
    if (lanes > 32) {
        const int warp = (int)threadIdx.x / 32;
        if (threadIdx.x % 32 == 0) {
            warp_sum[warp] = sum;
            warp_dot[warp] = dot;
            warp_max[warp] = max;
        }
        __syncthreads();
        if (lane == 0)
            for (int other = warp + 1; other < warp + lanes / 32; other++) {
                sum += warp_sum[other];
                dot += warp_dot[other];
                rlkd_argmax_take(&max, warp_max[other].value,
                                 warp_max[other].index);
            }
    }
    if (lane == 0 && plane < (unsigned)planes) {
        if (out.mean)
            out.mean[plane] = sum / (float)hw;
        if (out.max)
            out.max[plane] = max.value;
        if (out.argmax)
            out.argmax[plane] = max.index;
        if (out.dot)
            out.dot[plane] = dot;
    }
}

/* Pools `planes` planes of hw values of x (and grad, for RLKD_POOL_DOT)
 * into `out`. */
template <int KIND, class Grad>
static inline rlkd_status rlkd_plane_pool(rlkd_context *ctx,
                                          rlkd_plane_pool_out out,
                                          const float *x, const Grad &grad,
                                          int planes, int hw)
{
    const size_t n = (size_t)planes * hw;
    const bool quads = hw % 4 == 0 && rlkd_cuda_quads(n, x) && grad.quads(n);
    const int loads = quads ? hw / 4 : hw;
    int lanes = 1;
    while (lanes < RLKD_CUDA_BLOCK && lanes * RLKD_POOL_LOADS < loads)
        lanes *= 2;
    const unsigned blocks =
        (unsigned)(((size_t)planes * lanes + RLKD_CUDA_BLOCK - 1) /
                   RLKD_CUDA_BLOCK);
    if (quads)
        RLKD_LAUNCH(blocks, RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_plane_pool_kernel<KIND, 4, Grad>)(out, x, grad,
                                                           planes, hw, lanes);
    else
        RLKD_LAUNCH(blocks, RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_plane_pool_kernel<KIND, 1, Grad>)(out, x, grad,
                                                           planes, hw, lanes);
    return rlkd_cuda_launched("rlkd_plane_pool_kernel");
}

/* ---- the gradient of a gate's input ---- */

/*
 * dx = grad * gate[plane] + dmean[plane] / hw, plus dmax[plane] at the
 * plane's max_position (CBAM's max pooling; NULL: none): the gradient of
 * x * gate where the gate was computed from the planes' means (and
 * maxima). grad is what reaches the gated value (rlkd_dy_grad: dy).
 */
template <class Grad>
__global__ void rlkd_gate_input_grad_kernel(float *dx, Grad grad,
                                            const float *gate,
                                            const float *dmean,
                                            const float *dmax,
                                            const int32_t *max_position,
                                            size_t n, size_t quads,
                                            unsigned hw)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const unsigned plane = (unsigned)(W * i) / hw;
        const int pos = (int)((unsigned)(W * i) - plane * hw);
        const rlkd_floats<W> d = grad.template load<W>(i, plane, pos);
        const float scale = gate[plane], share = dmean[plane] / (float)hw;
        rlkd_floats<W> out;
        for (int k = 0; k < W; k++) {
            out.v[k] = d.v[k] * scale + share;
            if (max_position && pos + k == max_position[plane])
                out.v[k] += dmax[plane];
        }
        rlkd_store<W>(dx, i, out);
    });
}

template <class Grad>
static inline rlkd_status
rlkd_gate_input_grad(rlkd_context *ctx, float *dx, const Grad &grad,
                     const float *gate, const float *dmean, const float *dmax,
                     const int32_t *max_position, int planes, int hw)
{
    const size_t n = (size_t)planes * hw;
    const size_t quads =
        hw % 4 == 0 && grad.quads(n) ? rlkd_cuda_quads(n, dx) : 0;
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0,
                ctx, rlkd_gate_input_grad_kernel<Grad>)(
        dx, grad, gate, dmean, dmax, max_position, n, quads, (unsigned)hw);
    return rlkd_cuda_launched("rlkd_gate_input_grad_kernel");
}

/* ---- a gate on the planes' means (SE, ECA) ---- */

/* The first step of the backward of y = x * gate[plane], the gate a
 * function of the planes' means: the means and the gradient reaching each
 * gate (dot: the plane's sum of dy * x), in one read of x and dy. */
static inline rlkd_status rlkd_mean_gate_pool(rlkd_context *ctx, float *mean,
                                              float *dot, const float *x,
                                              const float *dy,
                                              const rlkd_attention_geom *g)
{
    const rlkd_dy_grad grad = {dy};
    const rlkd_plane_pool_out pooled = {mean, NULL, NULL, dot};
    return rlkd_plane_pool<RLKD_POOL_MEAN | RLKD_POOL_DOT>(
        ctx, pooled, x, grad, g->n * g->c, g->h * g->w);
}

/* Its last step: dx from the gates and the gradient reaching the means
 * (dmean); nothing when dx is NULL. */
static inline rlkd_status
rlkd_mean_gate_input_grad(rlkd_context *ctx, float *dx, const float *dy,
                          const float *gate, const float *dmean,
                          const rlkd_attention_geom *g)
{
    if (!dx)
        return RLKD_OK;
    const rlkd_dy_grad grad = {dy};
    return rlkd_gate_input_grad(ctx, dx, grad, gate, dmean, NULL, NULL,
                                g->n * g->c, g->h * g->w);
}

/* ---- the SE/CBAM MLP: out = w2 relu(w1 v + b1) + b2 ---- */

/* Its parameters: w1 [hidden, c], b1 [hidden], w2 [c, hidden], b2 [c]
 * (biases may be NULL), over n samples. Its input vectors and hidden layer
 * are [V, n, c] and [V, n, hidden], row v * n + sample, as the CPU's rows:
 * V = 1 for SE (the channel means), 2 for CBAM (the averages, then the
 * maxima). */
struct rlkd_mlp {
    const float *w1, *b1, *w2, *b2;
    int n, c, hidden;
};

/* hidden_act[v, sample, :] = relu(w1 pooled[v, sample, :] + b1): a warp
 * per row of w1. */
template <int V>
__device__ void rlkd_mlp_hidden(float *hidden_act, const float *pooled,
                                const rlkd_mlp &m, int sample)
{
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    for (int row = warp; row < V * m.hidden; row += blockDim.x / 32) {
        const int j = row % m.hidden;
        const size_t r = (size_t)(row / m.hidden) * m.n + sample;
        const float *w = m.w1 + (size_t)j * m.c, *in = pooled + r * m.c;
        float sum = 0.0f;
        for (int i = lane; i < m.c; i += 32)
            sum += w[i] * in[i];
        sum = rlkd_warp_sum(sum);
        if (lane == 0) {
            if (m.b1)
                sum += m.b1[j];
            hidden_act[r * m.hidden + j] = sum > 0.0f ? sum : 0.0f;
        }
    }
}

/* gate[sample, i] = sigmoid of the sum over the V vectors of
 * (w2[i, :] hidden_act + b2[i]): a warp per channel. With dot (the
 * gradient reaching the gate), dlogit[sample, i] too. */
template <int V>
__device__ void rlkd_mlp_gate(float *gate, float *dlogit, const float *dot,
                              const float *hidden_act, const rlkd_mlp &m,
                              int sample)
{
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    for (int i = warp; i < m.c; i += blockDim.x / 32) {
        const float *w = m.w2 + (size_t)i * m.hidden;
        float logit = 0.0f;
        for (int v = 0; v < V; v++) {
            const float *act =
                hidden_act + ((size_t)v * m.n + sample) * m.hidden;
            float sum = 0.0f;
            for (int j = lane; j < m.hidden; j += 32)
                sum += w[j] * act[j];
            sum = rlkd_warp_sum(sum);
            logit += m.b2 ? sum + m.b2[i] : sum;
        }
        if (lane == 0) {
            const size_t at = (size_t)sample * m.c + i;
            const float g = rlkd_sigmoid(logit);
            gate[at] = g;
            if (dlogit)
                dlogit[at] = rlkd_sigmoid_grad(dot[at], g);
        }
    }
}

/* dhidden[v, sample, j] = (w2^T dlogit[sample, :])[j] where
 * hidden_act > 0, else 0 (the relu): a warp per hidden unit. The output
 * gradient is the same for every vector (CBAM's mlp(avg) + mlp(max)). */
template <int V>
__device__ void rlkd_mlp_hidden_grad(float *dhidden, const float *dlogit,
                                     const float *hidden_act,
                                     const rlkd_mlp &m, int sample)
{
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    const float *d = dlogit + (size_t)sample * m.c;
    for (int j = warp; j < m.hidden; j += blockDim.x / 32) {
        float sum = 0.0f;
        for (int i = lane; i < m.c; i += 32)
            sum += d[i] * m.w2[(size_t)i * m.hidden + j];
        sum = rlkd_warp_sum(sum);
        if (lane == 0)
            for (int v = 0; v < V; v++) {
                const size_t at = ((size_t)v * m.n + sample) * m.hidden + j;
                dhidden[at] = hidden_act[at] > 0.0f ? sum : 0.0f;
            }
    }
}

/* dpooled[v, sample, :] = w1^T dhidden[v, sample, :]: a thread per
 * channel. */
template <int V>
__device__ void rlkd_mlp_input_grad(float *dpooled, const float *dhidden,
                                    const rlkd_mlp &m, int sample)
{
    for (int i = threadIdx.x; i < m.c; i += blockDim.x)
        for (int v = 0; v < V; v++) {
            const size_t r = (size_t)v * m.n + sample;
            const float *d = dhidden + r * m.hidden;
            float sum = 0.0f;
            for (int j = 0; j < m.hidden; j++)
                sum += d[j] * m.w1[(size_t)j * m.c + i];
            dpooled[r * m.c + i] = sum;
        }
}

/* The channel gate from the pooled vectors, a block per sample: SE's and
 * CBAM's forward, and CBAM's backward (which needs the gate before the
 * gradient reaching it is known). */
template <int V>
__global__ void __launch_bounds__(RLKD_ATTENTION_SAMPLE_BLOCK)
rlkd_attention_gate_kernel(float *gate, float *hidden_act,
                           const float *pooled, rlkd_mlp m)
{
    rlkd_mlp_hidden<V>(hidden_act, pooled, m, blockIdx.x);
    __syncthreads();
    rlkd_mlp_gate<V>(gate, NULL, NULL, hidden_act, m, blockIdx.x);
}

/*
 * The MLP's backward, a block per sample, from dot (the gradient reaching
 * the gate, summed over each plane): dlogit, then dhidden and dpooled
 * (each NULL when not wanted; dpooled needs dhidden). FORWARD_TOO (SE):
 * hidden_act and gate are computed here first, in the same launch;
 * otherwise (CBAM) they are the gate kernel's.
 */
template <int V, bool FORWARD_TOO>
__global__ void __launch_bounds__(RLKD_ATTENTION_SAMPLE_BLOCK)
rlkd_attention_mlp_backward_kernel(float *dlogit, float *dhidden,
                                   float *dpooled, float *gate,
                                   float *hidden_act, const float *dot,
                                   const float *pooled, rlkd_mlp m)
{
    const int sample = blockIdx.x;
    if (FORWARD_TOO) {
        rlkd_mlp_hidden<V>(hidden_act, pooled, m, sample);
        __syncthreads();
        rlkd_mlp_gate<V>(gate, dlogit, dot, hidden_act, m, sample);
    } else {
        for (int i = threadIdx.x; i < m.c; i += blockDim.x) {
            const size_t at = (size_t)sample * m.c + i;
            dlogit[at] = rlkd_sigmoid_grad(dot[at], gate[at]);
        }
    }
    if (dhidden) {
        __syncthreads();
        rlkd_mlp_hidden_grad<V>(dhidden, dlogit, hidden_act, m, sample);
        if (dpooled) {
            __syncthreads();
            rlkd_mlp_input_grad<V>(dpooled, dhidden, m, sample);
        }
    }
}

/*
 * The MLP's parameter gradients, accumulated (+=) over its V * n rows in
 * row order: a thread per parameter of dw1, db1, dw2, db2 in turn (NULL
 * ones skipped). dhidden is read only for dw1 and db1.
 */
template <int V>
__global__ void rlkd_mlp_weight_grad_kernel(float *dw1, float *db1,
                                            float *dw2, float *db2,
                                            const float *dhidden,
                                            const float *dlogit,
                                            const float *pooled,
                                            const float *hidden_act,
                                            rlkd_mlp m)
{
    const size_t weights = (size_t)m.hidden * m.c, rows = (size_t)V * m.n;
    const size_t total = 2 * weights + m.hidden + m.c;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        float sum = 0.0f;
        if (e < weights) { /* dw1[j, i] = sum_r dhidden[r, j] pooled[r, i] */
            if (!dw1)
                continue;
            const size_t j = e / m.c, i = e % m.c;
            for (size_t r = 0; r < rows; r++)
                sum += dhidden[r * m.hidden + j] * pooled[r * m.c + i];
            dw1[e] += sum;
        } else if (e < weights + m.hidden) { /* db1[j] */
            if (!db1)
                continue;
            const size_t j = e - weights;
            for (size_t r = 0; r < rows; r++)
                sum += dhidden[r * m.hidden + j];
            db1[j] += sum;
        } else if (e < 2 * weights + m.hidden) {
            /* dw2[i, j] = sum_r dlogit[sample of r, i] hidden_act[r, j]:
             * every row of a sample has the same dlogit */
            if (!dw2)
                continue;
            const size_t f = e - weights - m.hidden;
            const size_t i = f / m.hidden, j = f % m.hidden;
            for (int v = 0; v < V; v++)
                for (int s = 0; s < m.n; s++)
                    sum += dlogit[(size_t)s * m.c + i] *
                           hidden_act[((size_t)v * m.n + s) * m.hidden + j];
            dw2[f] += sum;
        } else { /* db2[i] */
            if (!db2)
                continue;
            const size_t i = e - 2 * weights - m.hidden;
            for (int v = 0; v < V; v++)
                for (int s = 0; s < m.n; s++)
                    sum += dlogit[(size_t)s * m.c + i];
            db2[i] += sum;
        }
    }
}

template <int V>
static inline rlkd_status
rlkd_mlp_weight_grads(rlkd_context *ctx, float *dw1, float *db1, float *dw2,
                      float *db2, const float *dhidden, const float *dlogit,
                      const float *pooled, const float *hidden_act,
                      const rlkd_mlp &m)
{
    if (!dw1 && !db1 && !dw2 && !db2)
        return RLKD_OK;
    const size_t total = 2 * (size_t)m.hidden * m.c + m.hidden + m.c;
    RLKD_LAUNCH(rlkd_cuda_blocks(total), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_mlp_weight_grad_kernel<V>)(dw1, db1, dw2, db2, dhidden,
                                                dlogit, pooled, hidden_act, m);
    return rlkd_cuda_launched("rlkd_mlp_weight_grad_kernel");
}

/* ---- the taps of a small convolution (ECA's 1-D, CBAM's spatial) ----
 *
 * dw[t] += sum over q of grad[q] * taps.source(at(q), t): the gradient of
 * tap t, with q the convolution's outputs. Taps provides count (taps, a
 * bias last if count > weights), weights, a coords type, coords_of(q) and
 * source(coords, t) (the input tap t meets at output q; 1 for the bias).
 * A warp sums RLKD_TAP_ELEMENTS * 32 outputs for every tap, then a block
 * per tap adds the warps' partial sums in order.
 */
template <class Taps>
__global__ void __launch_bounds__(RLKD_CUDA_BLOCK)
rlkd_tap_grad_partials_kernel(float *partials, const float *grad, Taps taps,
                              int count, int warps)
{
    const int lane = (int)threadIdx.x % 32;
    const int warp = (int)(blockIdx.x * (RLKD_CUDA_BLOCK / 32) +
                           threadIdx.x / 32);
    typename Taps::coords at[RLKD_TAP_ELEMENTS];
    float g[RLKD_TAP_ELEMENTS];
    for (int k = 0; k < RLKD_TAP_ELEMENTS; k++) {
        const size_t q = ((size_t)warp * RLKD_TAP_ELEMENTS + k) * 32 + lane;
        g[k] = q < (size_t)count ? grad[q] : 0.0f;
        at[k] = taps.coords_of(q < (size_t)count ? (unsigned)q : 0u);
    }
    for (int t = 0; t < taps.count; t++) {
        float sum = 0.0f;
        for (int k = 0; k < RLKD_TAP_ELEMENTS; k++)
            sum += g[k] * taps.source(at[k], t);
        sum = rlkd_warp_sum(sum);
        if (lane == 0 && warp < warps)
            partials[(size_t)t * warps + warp] = sum;
    }
}

template <class Taps>
__global__ void rlkd_tap_grad_sums_kernel(float *dw, float *dbias,
                                          const float *partials, Taps taps,
                                          int warps)
{
    const int t = blockIdx.x;
    float sum = 0.0f;
    for (int w = threadIdx.x; w < warps; w += blockDim.x)
        sum += partials[(size_t)t * warps + w];
    sum = rlkd_block_sum(sum);
    if (threadIdx.x == 0) {
        if (t < taps.weights) {
            if (dw)
                dw[t] += sum;
        } else if (dbias) {
            dbias[0] += sum;
        }
    }
}

/* dw (taps.weights values) and dbias (one, for a bias tap) accumulate the
 * gradients of the taps from grad [count]; either may be NULL. */
template <class Taps>
static inline rlkd_status rlkd_tap_grads(rlkd_context *ctx, float *dw,
                                         float *dbias, const float *grad,
                                         const Taps &taps, int count)
{
    const int per_warp = 32 * RLKD_TAP_ELEMENTS;
    const int warps = (int)(((size_t)count + per_warp - 1) / per_warp);
    float *partials;
    RLKD_TRY(rlkd_cuda_alloc(ctx, (void **)&partials,
                             (size_t)taps.count * warps * sizeof *partials));
    const unsigned blocks = (unsigned)((warps + RLKD_CUDA_BLOCK / 32 - 1) /
                                       (RLKD_CUDA_BLOCK / 32));
    RLKD_LAUNCH(blocks, RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_tap_grad_partials_kernel<Taps>)(partials, grad, taps,
                                                     count, warps);
    rlkd_status status = rlkd_cuda_launched("rlkd_tap_grad_partials_kernel");
    if (status == RLKD_OK) {
        RLKD_LAUNCH(taps.count, RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_tap_grad_sums_kernel<Taps>)(dw, dbias, partials,
                                                     taps, warps);
        status = rlkd_cuda_launched("rlkd_tap_grad_sums_kernel");
    }
    rlkd_cuda_release(ctx, partials);
    return status;
}

/* ---- scratch ---- */

/* The next `count` T of an op's scratch, at byte *used of base, 16-byte
 * aligned (float4 access). With base NULL it only counts: the same
 * function sizes an op's scratch, then lays it out. */
template <typename T>
static inline T *rlkd_scratch_take(void *base, size_t *used, size_t count)
{
    T *p = (T *)((uintptr_t)base + *used);
    *used += (count * sizeof(T) + 15) / 16 * 16;
    return p;
}

/* Runs an op on its scratch: layout(&maps, base) lays the op's maps out at
 * base and returns their bytes (with base NULL it only sizes them), the
 * maps get one pooled allocation, run(&maps) does the work, and the
 * allocation goes back whatever run returns. */
template <typename Maps, typename Layout, typename Run>
static inline rlkd_status rlkd_with_scratch(rlkd_context *ctx, Layout layout,
                                            Run run)
{
    Maps maps;
    void *base;
    RLKD_TRY(rlkd_cuda_alloc(ctx, &base, layout(&maps, NULL)));
    layout(&maps, base);
    const rlkd_status status = run((const Maps *)&maps);
    rlkd_cuda_release(ctx, base);
    return status;
}

#endif
