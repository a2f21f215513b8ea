/*
 * Efficient channel attention on the GPU, the twin of lib/cpu/eca.c:
 * s = sigmoid(conv1d(gap(x), w)) across the channels of each sample,
 * y = x * s; backward recomputes the gate from x. Forward is two kernels:
 * the plane means, then conv, sigmoid and scaling fused (x read twice).
 * Backward: one read of x and dy gives the means and the gradient reaching
 * each gate; a block per sample turns them into the gates' gradients; the
 * taps' gradients; dx.
 */
#include "attention.cuh"

/* The gate logit of channel ch of one sample: sum_j w[j] row[ch + j - pad],
 * zero outside the channels. */
__device__ __forceinline__ float rlkd_eca_logit(const float *row,
                                                const float *w, int ch, int c,
                                                int kernel)
{
    const int pad = (kernel - 1) / 2;
    float sum = 0.0f;
    for (int j = 0; j < kernel; j++) {
        const int src = ch + j - pad;
        if (src >= 0 && src < c)
            sum += w[j] * row[src];
    }
    return sum;
}

/* y = x * sigmoid(logit of its plane). The logit is recomputed for each
 * quad: `kernel` loads the caches serve, cheaper than a launch and a
 * round trip through memory of the gates. */
__global__ void rlkd_eca_scale_kernel(float *y, const float *x,
                                      const float *mean, const float *w,
                                      size_t n, size_t quads, unsigned hw,
                                      unsigned c, int kernel)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const unsigned plane = (unsigned)(W * i) / hw, sample = plane / c;
        const float gate = rlkd_sigmoid(
            rlkd_eca_logit(mean + (size_t)sample * c, w,
                           (int)(plane - sample * c), (int)c, kernel));
        const rlkd_floats<W> xv = rlkd_load<W>(x, i);
        rlkd_floats<W> yv;
        for (int k = 0; k < W; k++)
            yv.v[k] = xv.v[k] * gate;
        rlkd_store<W>(y, i, yv);
    });
}

/* A block per sample: the gates and the gradients reaching their logits
 * (dot: the gradient reaching each gate), then, where dmean is wanted, the
 * gradient reaching the means: the transposed convolution of dlogit. */
__global__ void rlkd_eca_gate_grad_kernel(float *gate, float *dlogit,
                                          float *dmean, const float *mean,
                                          const float *dot, const float *w,
                                          int c, int kernel)
{
    const size_t row = (size_t)blockIdx.x * c;
    for (int ch = threadIdx.x; ch < c; ch += blockDim.x) {
        const float g =
            rlkd_sigmoid(rlkd_eca_logit(mean + row, w, ch, c, kernel));
        gate[row + ch] = g;
        dlogit[row + ch] = rlkd_sigmoid_grad(dot[row + ch], g);
    }
    if (dmean) {
        __syncthreads();
        const int pad = (kernel - 1) / 2;
        for (int ch = threadIdx.x; ch < c; ch += blockDim.x) {
            float sum = 0.0f;
            for (int j = 0; j < kernel; j++) {
                const int dst = ch - j + pad;
                if (dst >= 0 && dst < c)
                    sum += w[j] * dlogit[row + dst];
            }
            dmean[row + ch] = sum;
        }
    }
}

/* The taps of rlkd_tap_grads: logit (n, ch) meets mean[n, ch + t - pad]
 * through tap t. */
struct rlkd_eca_taps {
    const float *mean;
    int c, count, weights;
    struct coords {
        unsigned row; /* n * c */
        int ch;
    };
    __device__ coords coords_of(unsigned q) const
    {
        coords at;
        at.row = q / (unsigned)c * (unsigned)c;
        at.ch = (int)(q - at.row);
        return at;
    }
    __device__ float source(const coords &at, int t) const
    {
        const int src = at.ch + t - (weights - 1) / 2;
        return src >= 0 && src < c ? mean[at.row + src] : 0.0f;
    }
};

/* ECA's intermediates, in one pooled allocation; all [N,C] by plane. */
typedef struct eca_maps {
    float *mean;                       /* forward and backward */
    float *dot, *gate, *dlogit, *dmean; /* backward only */
} eca_maps;

static size_t eca_maps_layout(eca_maps *m, void *base,
                              const rlkd_attention_geom *g, bool backward)
{
    const size_t planes = (size_t)g->n * g->c;
    size_t used = 0;
    m->mean = rlkd_scratch_take<float>(base, &used, planes);
    if (backward) {
        m->dot = rlkd_scratch_take<float>(base, &used, planes);
        m->gate = rlkd_scratch_take<float>(base, &used, planes);
        m->dlogit = rlkd_scratch_take<float>(base, &used, planes);
        m->dmean = rlkd_scratch_take<float>(base, &used, planes);
    }
    return used;
}

static rlkd_status eca_forward_with(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const eca_maps *m,
                                    const rlkd_attention_geom *g)
{
    const int planes = g->n * g->c, hw = g->h * g->w;
    RLKD_TRY(rlkd_cuda_global_avgpool_forward(ctx, m->mean, x, planes, hw));
    const size_t n = (size_t)planes * hw;
    const size_t quads = hw % 4 == 0 ? rlkd_cuda_quads(n, y, x) : 0;
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0,
                ctx, rlkd_eca_scale_kernel)(y, x, m->mean, w, n, quads,
                                            (unsigned)hw, (unsigned)g->c,
                                            g->kernel);
    return rlkd_cuda_launched("rlkd_eca_scale_kernel");
}

static rlkd_status eca_backward_with(rlkd_context *ctx, float *dx, float *dw,
                                     const float *dy, const float *x,
                                     const float *w, const eca_maps *m,
                                     const rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_mean_gate_pool(ctx, m->mean, m->dot, x, dy, g));
    RLKD_LAUNCH(g->n, RLKD_CUDA_BLOCK, 0, ctx, rlkd_eca_gate_grad_kernel)(
        m->gate, m->dlogit, dx ? m->dmean : NULL, m->mean, m->dot, w, g->c,
        g->kernel);
    RLKD_TRY(rlkd_cuda_launched("rlkd_eca_gate_grad_kernel"));
    if (dw) {
        const rlkd_eca_taps taps = {m->mean, g->c, g->kernel, g->kernel};
        RLKD_TRY(rlkd_tap_grads(ctx, dw, (float *)NULL, m->dlogit, taps,
                                g->n * g->c));
    }
    return rlkd_mean_gate_input_grad(ctx, dx, dy, m->gate, m->dmean, g);
}

extern "C" rlkd_status rlkd_cuda_eca_forward(rlkd_context *ctx, float *y,
                                             const float *x, const float *w,
                                             const rlkd_attention_geom *g)
{
    return rlkd_with_scratch<eca_maps>(
        ctx,
        [&](eca_maps *m, void *base) {
            return eca_maps_layout(m, base, g, false);
        },
        [&](const eca_maps *m) {
            return eca_forward_with(ctx, y, x, w, m, g);
        });
}

extern "C" rlkd_status rlkd_cuda_eca_backward(rlkd_context *ctx, float *dx,
                                              float *dw, const float *dy,
                                              const float *x, const float *w,
                                              const rlkd_attention_geom *g)
{
    return rlkd_with_scratch<eca_maps>(
        ctx,
        [&](eca_maps *m, void *base) {
            return eca_maps_layout(m, base, g, true);
        },
        [&](const eca_maps *m) {
            return eca_backward_with(ctx, dx, dw, dy, x, w, m, g);
        });
}
