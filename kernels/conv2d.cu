/*
 * 2-D convolution on the GPU (NCHW; stride, padding, dilation, groups):
 * implicit GEMMs on the tiled core of gemm.cuh, per group g,
 *
 *   forward   y_g [Cout/G, N*Ho*Wo]  = w_g [Cout/G, K] col_g [K, N*Ho*Wo]
 *   filter    dw_g [Cout/G, K]      += dy_g [Cout/G, N*Ho*Wo] col_g^T
 *   data      dx_g                   = w_g^T dy_g, gathered (below)
 *
 * with K = Cin/G * Kh * Kw and col the im2col matrix of x, never formed:
 * the GEMM's loader reads x through the taps. 1x1 stride-1 unpadded
 * convolutions read x as a plain matrix (gemm.cuh's pointwise views).
 *
 * The data gradient gathers instead of scattering (no col2im, no atomics):
 * dx[ih] takes dy[oh] w[kh] where ih + pad - kh*dil = oh*stride. With a
 * stride above 1 only the taps with kh*dil = ih + pad (mod stride) meet
 * whole output rows, so dx is cut into stride_h x stride_w phases, the
 * positions ih = r - pad (mod stride): each phase is a dense GEMM over its
 * own taps (none, for some phases of a kernel smaller than its stride,
 * which then writes zeros), writing every stride-th row and column of dx.
 * Stride 1 is the one phase with every tap.
 *
 * Depthwise convolutions (groups == in_c == out_c) would be GEMMs of one
 * row: they have direct kernels instead, one thread per output (forward,
 * data gradient) and one block per filter tap (filter gradient).
 *
 * Every sum runs in a fixed order (split-K partials are added in split
 * order), so results repeat bit for bit.
 */
#include "gemm.cuh"

/* ---- depthwise kernels ---- */

static __global__ void rlkd_depthwise_forward_kernel(float *y, const float *x,
                                                     const float *w,
                                                     const float *bias,
                                                     const rlkd_conv2d_geom g)
{
    const int out_hw = g.out_h * g.out_w, taps = g.kernel_h * g.kernel_w;
    const size_t count = (size_t)g.n * g.in_c * out_hw;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        /* Elements fit an int (a tensor's do): 32-bit index arithmetic. */
        const int plane = (int)i / out_hw, q = (int)i % out_hw;
        const int oh = q / g.out_w, ow = q % g.out_w, c = plane % g.in_c;
        const float *x_plane = x + (size_t)plane * g.in_h * g.in_w;
        const float *w_c = w + (size_t)c * taps;
        float sum = 0.0f;
        for (int kh = 0; kh < g.kernel_h; kh++) {
            const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
            if ((unsigned)ih >= (unsigned)g.in_h)
                continue;
            for (int kw = 0; kw < g.kernel_w; kw++) {
                const int iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
                if ((unsigned)iw < (unsigned)g.in_w)
                    sum += __ldg(x_plane + ih * g.in_w + iw) *
                           __ldg(w_c + kh * g.kernel_w + kw);
            }
        }
        y[i] = bias ? sum + __ldg(bias + c) : sum;
    }
}

/* The output row or column that input `in` meets through tap k, or -1. */
static __device__ __forceinline__ int rlkd_depthwise_source(int in, int k,
                                                            int stride,
                                                            int pad,
                                                            int dilation,
                                                            int out_extent)
{
    const int shifted = in + pad - k * dilation;
    if (shifted < 0 || shifted % stride != 0 || shifted / stride >= out_extent)
        return -1;
    return shifted / stride;
}

static __global__ void rlkd_depthwise_backward_data_kernel(
    float *dx, const float *dy, const float *w, const rlkd_conv2d_geom g)
{
    const int in_hw = g.in_h * g.in_w, taps = g.kernel_h * g.kernel_w;
    const size_t count = (size_t)g.n * g.in_c * in_hw;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const int plane = (int)i / in_hw, q = (int)i % in_hw;
        const int ih = q / g.in_w, iw = q % g.in_w, c = plane % g.in_c;
        const float *dy_plane = dy + (size_t)plane * g.out_h * g.out_w;
        const float *w_c = w + (size_t)c * taps;
        float sum = 0.0f;
        for (int kh = 0; kh < g.kernel_h; kh++) {
            const int oh = rlkd_depthwise_source(ih, kh, g.stride_h, g.pad_h,
                                                 g.dilation_h, g.out_h);
            if (oh < 0)
                continue;
            for (int kw = 0; kw < g.kernel_w; kw++) {
                const int ow = rlkd_depthwise_source(
                    iw, kw, g.stride_w, g.pad_w, g.dilation_w, g.out_w);
                if (ow >= 0)
                    sum += __ldg(dy_plane + oh * g.out_w + ow) *
                           __ldg(w_c + kh * g.kernel_w + kw);
            }
        }
        dx[i] = sum;
    }
}

/* dw[c, tap] += sum over images and outputs of dy * x under the tap: one
 * block per (channel, tap), a fixed-order block sum. */
static __global__ void rlkd_depthwise_backward_filter_kernel(
    float *dw, const float *dy, const float *x, const rlkd_conv2d_geom g)
{
    const int taps = g.kernel_h * g.kernel_w;
    const int c = blockIdx.x / taps, tap = blockIdx.x % taps;
    const int kh = tap / g.kernel_w, kw = tap % g.kernel_w;
    const int out_hw = g.out_h * g.out_w, in_hw = g.in_h * g.in_w;
    const int count = g.n * out_hw;
    float sum = 0.0f;
    for (int r = threadIdx.x; r < count; r += blockDim.x) {
        const int image = r / out_hw, q = r % out_hw;
        const int oh = q / g.out_w, ow = q % g.out_w;
        const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
        const int iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
        if ((unsigned)ih < (unsigned)g.in_h &&
            (unsigned)iw < (unsigned)g.in_w) {
            const size_t plane = (size_t)image * g.in_c + c;
            sum += __ldg(dy + plane * out_hw + q) *
                   __ldg(x + plane * in_hw + ih * g.in_w + iw);
        }
    }
    sum = rlkd_block_sum(sum);
    if (threadIdx.x == 0)
        dw[blockIdx.x] += sum;
}

/* ---- the GEMMs' operands ---- */

static int is_depthwise(const rlkd_conv2d_geom *g)
{
    return g->groups == g->in_c && g->out_c == g->in_c;
}

/* x through the kernel's taps: the im2col matrix [Cin/G * Kh * Kw]
 * [N * Ho * Wo] of the forward pass and the filter gradient. */
static rlkd_gemm_view input_columns(const float *x, const rlkd_conv2d_geom *g)
{
    const int in_hw = g->in_h * g->in_w, in_c_g = g->in_c / g->groups;
    rlkd_gemm_view v = {};
    v.data = x;
    v.group_stride = in_c_g * in_hw;
    v.image_stride = g->in_c * in_hw;
    v.channel_stride = in_hw;
    v.height = g->in_h;
    v.width = g->in_w;
    v.channels = in_c_g;
    v.taps = rlkd_fastdiv_of(g->kernel_h * g->kernel_w);
    v.taps_w = rlkd_fastdiv_of(g->kernel_w);
    v.tap_h_step = g->dilation_h;
    v.tap_w_step = g->dilation_w;
    v.pixels = g->n * g->out_h * g->out_w;
    v.grid = rlkd_fastdiv_of(g->out_h * g->out_w);
    v.grid_w = rlkd_fastdiv_of(g->out_w);
    v.row_step = g->stride_h;
    v.row0 = -g->pad_h;
    v.col_step = g->stride_w;
    v.col0 = -g->pad_w;
    return v;
}

/* y or dy as [Cout/G][N * Ho * Wo]: channels by output positions. */
static rlkd_gemm_view output_planes(const float *y, const rlkd_conv2d_geom *g)
{
    const int out_hw = g->out_h * g->out_w, out_c_g = g->out_c / g->groups;
    rlkd_gemm_view v = {};
    v.data = y;
    v.group_stride = out_c_g * out_hw;
    v.image_stride = g->out_c * out_hw;
    v.channel_stride = out_hw;
    v.height = g->out_h;
    v.width = g->out_w;
    v.channels = out_c_g;
    v.taps = rlkd_fastdiv_of(1);
    v.taps_w = rlkd_fastdiv_of(1);
    v.pixels = g->n * out_hw;
    v.grid = rlkd_fastdiv_of(out_hw);
    v.grid_w = rlkd_fastdiv_of(g->out_w);
    v.row_step = 1;
    v.col_step = 1;
    return v;
}

/* One axis of a data-gradient phase: the input positions
 * in = r - pad + stride * q (mod stride: the phase r) and the taps
 * k = first + i * step that reach them, for which
 * out = q + offset0 + i * offset_step. */
typedef struct phase_axis {
    int taps, first, step;
    int offset0, offset_step;
    int positions, q0; /* positions q0, q0 + 1, ... */
    int in0;           /* the input position of q0 */
} phase_axis;

static int gcd(int a, int b)
{
    while (b) {
        const int r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static phase_axis phase_axis_of(int r, int in, int kernel, int stride,
                                int pad, int dilation)
{
    phase_axis a = {};
    /* kh * dilation mod stride repeats every `step` taps. */
    a.step = stride / gcd(stride, dilation);
    a.first = -1;
    for (int k = 0; k < kernel && k < a.step; k++)
        if ((int64_t)k * dilation % stride == r) {
            a.first = k;
            break;
        }
    if (a.first >= 0) {
        a.taps = (kernel - 1 - a.first) / a.step + 1;
        a.offset0 = (int)(-((int64_t)a.first * dilation - r) / stride);
        a.offset_step = (int)(-((int64_t)a.step * dilation) / stride);
    }
    a.q0 = pad >= r ? (pad - r + stride - 1) / stride : 0;
    const int64_t last = (int64_t)in - 1 - r + pad;
    a.positions = last < 0 ? 0 : (int)(last / stride - a.q0 + 1);
    if (a.positions < 0)
        a.positions = 0;
    a.in0 = (int)(r - pad + (int64_t)stride * a.q0);
    return a;
}

/* w as [Cin/G][Cout/G * taps of the phase]: w^T restricted to the phase's
 * taps, w[oc, c, first_h + i*step_h, first_w + j*step_w] at (c, (oc, i, j)). */
static rlkd_gemm_view phase_weights(const float *w, const rlkd_conv2d_geom *g,
                                    const phase_axis *ph, const phase_axis *pw)
{
    const int taps = g->kernel_h * g->kernel_w;
    const int in_c_g = g->in_c / g->groups, out_c_g = g->out_c / g->groups;
    rlkd_gemm_view v = {};
    v.data = w;
    v.group_stride = out_c_g * in_c_g * taps;
    v.image_stride = in_c_g * taps;
    v.channel_stride = taps;
    v.height = g->kernel_h;
    v.width = g->kernel_w;
    v.channels = in_c_g;
    v.taps = rlkd_fastdiv_of(1);
    v.taps_w = rlkd_fastdiv_of(1);
    v.pixels = out_c_g * ph->taps * pw->taps;
    v.grid = rlkd_fastdiv_of(ph->taps * pw->taps);
    v.grid_w = rlkd_fastdiv_of(pw->taps);
    v.row_step = ph->step;
    v.row0 = ph->first;
    v.col_step = pw->step;
    v.col0 = pw->first;
    return v;
}

/* dy gathered for a phase: [Cout/G * taps][N * positions of the phase]. */
static rlkd_gemm_view phase_gradient(const float *dy, const rlkd_conv2d_geom *g,
                                     const phase_axis *ph,
                                     const phase_axis *pw)
{
    rlkd_gemm_view v = output_planes(dy, g);
    v.taps = rlkd_fastdiv_of(ph->taps * pw->taps);
    v.taps_w = rlkd_fastdiv_of(pw->taps);
    v.tap_h0 = ph->offset0;
    v.tap_h_step = ph->offset_step;
    v.tap_w0 = pw->offset0;
    v.tap_w_step = pw->offset_step;
    v.pixels = g->n * ph->positions * pw->positions;
    v.grid = rlkd_fastdiv_of(ph->positions * pw->positions);
    v.grid_w = rlkd_fastdiv_of(pw->positions);
    v.row0 = ph->q0;
    v.col0 = pw->q0;
    return v;
}

/* ---- the GEMMs ---- */

static rlkd_status forward_gemm(rlkd_context *ctx, float *y, const float *x,
                                const float *w, const float *bias,
                                const rlkd_conv2d_geom *g)
{
    static const char op[] = "rlkd_conv2d_forward";
    const int out_hw = g->out_h * g->out_w;
    rlkd_gemm_problem p = {};
    p.m = g->out_c / g->groups;
    p.n = g->n * out_hw;
    p.k = g->in_c / g->groups * g->kernel_h * g->kernel_w;
    p.groups = g->groups;
    p.a = rlkd_matrix_view(w, p.m, p.k, p.k, p.m * p.k);
    p.b = input_columns(x, g);
    p.out = rlkd_matrix_out(y, out_hw, out_hw, p.m * out_hw, 0);
    p.out.image_stride = g->out_c * out_hw;
    p.out.row_bias = bias;
    if (rlkd_view_is_pointwise(&p.b))
        return rlkd_gemm_run<false, true, false, false>(ctx, p, op);
    return rlkd_gemm_run<false, true, true, false>(ctx, p, op);
}

static rlkd_status backward_filter_gemm(rlkd_context *ctx, float *dw,
                                        const float *dy, const float *x,
                                        const rlkd_conv2d_geom *g)
{
    static const char op[] = "rlkd_conv2d_backward";
    rlkd_gemm_problem p = {};
    p.m = g->out_c / g->groups;
    p.n = g->in_c / g->groups * g->kernel_h * g->kernel_w;
    p.k = g->n * g->out_h * g->out_w;
    p.groups = g->groups;
    p.a = output_planes(dy, g);
    p.b = input_columns(x, g);
    p.out = rlkd_matrix_out(dw, p.n, p.n, p.m * p.n, 1);
    if (rlkd_view_is_pointwise(&p.b))
        return rlkd_gemm_run<false, true, false, true>(ctx, p, op);
    return rlkd_gemm_run<false, true, true, true>(ctx, p, op);
}

static rlkd_status backward_data_phase(rlkd_context *ctx, float *dx,
                                       const float *dy, const float *w,
                                       const rlkd_conv2d_geom *g,
                                       const phase_axis *ph,
                                       const phase_axis *pw)
{
    static const char op[] = "rlkd_conv2d_backward";
    const int in_hw = g->in_h * g->in_w, in_c_g = g->in_c / g->groups;
    const int positions = ph->positions * pw->positions;
    rlkd_gemm_problem p = {};
    p.m = in_c_g;
    p.n = g->n * positions;
    p.k = g->out_c / g->groups * ph->taps * pw->taps;
    p.groups = g->groups;
    p.a = phase_weights(w, g, ph, pw);
    p.b = phase_gradient(dy, g, ph, pw);
    p.out = rlkd_matrix_out(dx, positions, in_hw, in_c_g * in_hw, 0);
    p.out.image_stride = g->in_c * in_hw;
    p.out.width = g->in_w;
    p.out.grid_w = rlkd_fastdiv_of(pw->positions);
    p.out.row_step = g->stride_h;
    p.out.row0 = ph->in0;
    p.out.col_step = g->stride_w;
    p.out.col0 = pw->in0;
    const int a_pointwise = rlkd_view_is_pointwise(&p.a);
    const int b_pointwise = rlkd_view_is_pointwise(&p.b);
    if (a_pointwise && b_pointwise)
        return rlkd_gemm_run<false, true, false, false>(ctx, p, op);
    if (a_pointwise)
        return rlkd_gemm_run<false, true, true, false>(ctx, p, op);
    if (b_pointwise)
        return rlkd_gemm_run<true, true, false, false>(ctx, p, op);
    return rlkd_gemm_run<true, true, true, false>(ctx, p, op);
}

/* Phases r >= in + pad hold no input position (r = (in_pos + pad) mod
 * stride), which bounds the loops of a stride far above the image. */
static rlkd_status backward_data_gemms(rlkd_context *ctx, float *dx,
                                       const float *dy, const float *w,
                                       const rlkd_conv2d_geom *g)
{
    const int phases_h = g->stride_h < g->in_h + g->pad_h
                             ? g->stride_h : g->in_h + g->pad_h;
    const int phases_w = g->stride_w < g->in_w + g->pad_w
                             ? g->stride_w : g->in_w + g->pad_w;
    for (int rh = 0; rh < phases_h; rh++) {
        const phase_axis ph = phase_axis_of(rh, g->in_h, g->kernel_h,
                                            g->stride_h, g->pad_h,
                                            g->dilation_h);
        if (ph.positions == 0)
            continue;
        for (int rw = 0; rw < phases_w; rw++) {
            const phase_axis pw = phase_axis_of(rw, g->in_w, g->kernel_w,
                                                g->stride_w, g->pad_w,
                                                g->dilation_w);
            if (pw.positions > 0)
                RLKD_TRY(backward_data_phase(ctx, dx, dy, w, g, &ph, &pw));
        }
    }
    return RLKD_OK;
}

/* The gathers mark positions outside a view with -2^30 (gemm.cuh), which
 * needs rows, columns and tap offsets below 2^29. */
static rlkd_status check_extent(const char *op, const rlkd_conv2d_geom *g)
{
    const int64_t limit = (int64_t)1 << 29;
    if ((int64_t)g->in_h + 2 * (int64_t)g->pad_h >= limit ||
        (int64_t)g->in_w + 2 * (int64_t)g->pad_w >= limit)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: a padded input of %d x %d is beyond the CUDA "
                         "backend's native kernels (each side below 2^29)",
                         op, g->in_h + 2 * g->pad_h, g->in_w + 2 * g->pad_w);
    return RLKD_OK;
}

/* ---- entry points ---- */

extern "C" rlkd_status rlkd_cuda_conv2d_forward(rlkd_context *ctx, float *y,
                                                const float *x, const float *w,
                                                const float *bias,
                                                const rlkd_conv2d_geom *g)
{
    RLKD_TRY(check_extent("rlkd_conv2d_forward", g));
    if (!is_depthwise(g))
        return forward_gemm(ctx, y, x, w, bias, g);
    RLKD_LAUNCH(rlkd_cuda_blocks((size_t)g->n * g->out_c * g->out_h * g->out_w),
                RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_depthwise_forward_kernel)(y, x, w, bias, *g);
    return rlkd_cuda_launched("rlkd_depthwise_forward_kernel");
}

extern "C" rlkd_status rlkd_cuda_conv2d_backward(rlkd_context *ctx, float *dx,
                                                 float *dw, float *dbias,
                                                 const float *dy,
                                                 const float *x,
                                                 const float *w,
                                                 const rlkd_conv2d_geom *g)
{
    RLKD_TRY(check_extent("rlkd_conv2d_backward", g));
    if (dbias)
        RLKD_TRY(rlkd_bias_grad(ctx, dbias, dy, g->n, g->out_c,
                                g->out_h * g->out_w));
    if (!is_depthwise(g)) {
        if (dw)
            RLKD_TRY(backward_filter_gemm(ctx, dw, dy, x, g));
        if (dx)
            RLKD_TRY(backward_data_gemms(ctx, dx, dy, w, g));
        return RLKD_OK;
    }
    if (dw) {
        RLKD_LAUNCH(g->in_c * g->kernel_h * g->kernel_w, RLKD_CUDA_BLOCK, 0,
                    ctx, rlkd_depthwise_backward_filter_kernel)(dw, dy, x, *g);
        RLKD_TRY(rlkd_cuda_launched("rlkd_depthwise_backward_filter_kernel"));
    }
    if (dx) {
        RLKD_LAUNCH(rlkd_cuda_blocks((size_t)g->n * g->in_c * g->in_h *
                                     g->in_w),
                    RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_depthwise_backward_data_kernel)(dx, dy, w, *g);
        RLKD_TRY(rlkd_cuda_launched("rlkd_depthwise_backward_data_kernel"));
    }
    return RLKD_OK;
}
