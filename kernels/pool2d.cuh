/*
 * What max- and average-pooling share on the GPU: an output's window (the
 * arithmetic of lib/cpu/pool2d.h, so both backends pool the same
 * positions), the outputs whose windows cover an input position (the
 * backward kernels gather over those instead of scattering with atomics),
 * the coordinates of a flat index, the forward loop over the windows and
 * the backward gather, and the element counts.
 */
#ifndef RLKD_POOL2D_CUH
#define RLKD_POOL2D_CUH

#include "cuda_common.cuh"

/* Output (oh, ow)'s window: rows [h_begin, h_end) and columns [w_begin,
 * w_end) of the input, and how many positions of the padded input it
 * covers (average pooling's count_include_pad divisor). */
struct rlkd_pool2d_window {
    int h_begin, h_end, w_begin, w_end;
    long long padded_count;
};

__device__ __forceinline__ rlkd_pool2d_window
rlkd_pool2d_window_at(const rlkd_pool2d_geom &g, int oh, int ow)
{
    const int h0 = oh * g.stride_h - g.pad_h;
    const int w0 = ow * g.stride_w - g.pad_w;
    /* The window clipped to the padded input, then to the input itself. */
    const int padded_h = g.in_h + g.pad_h, padded_w = g.in_w + g.pad_w;
    const int h_end_padded =
        h0 + g.kernel_h < padded_h ? h0 + g.kernel_h : padded_h;
    const int w_end_padded =
        w0 + g.kernel_w < padded_w ? w0 + g.kernel_w : padded_w;
    rlkd_pool2d_window win;
    win.h_begin = h0 > 0 ? h0 : 0;
    win.w_begin = w0 > 0 ? w0 : 0;
    win.h_end = h_end_padded < g.in_h ? h_end_padded : g.in_h;
    win.w_end = w_end_padded < g.in_w ? w_end_padded : g.in_w;
    win.padded_count =
        (long long)(h_end_padded - h0) * (w_end_padded - w0);
    return win;
}

/* The outputs [*first, *end) along one axis whose windows contain input
 * position `at`: o * stride - pad <= at < o * stride - pad + kernel. (The
 * windows' clipping never drops an input position.) */
__device__ __forceinline__ void rlkd_pool2d_covering(int *first, int *end,
                                                     int at, int kernel,
                                                     int stride, int pad,
                                                     int out)
{
    const int lowest = at + pad - kernel + 1;
    *first = lowest > 0 ? (lowest + stride - 1) / stride : 0;
    const int last = (at + pad) / stride;
    *end = last < out ? last + 1 : out;
}

/* Element `index` of [N*C planes, rows, cols]: its plane, row and column.
 * A tensor holds fewer than 2^31 elements, so 32-bit divisions do (a
 * 64-bit one costs several times more). */
struct rlkd_pool2d_position {
    size_t plane;
    int row, col;
};

__device__ __forceinline__ rlkd_pool2d_position
rlkd_pool2d_position_of(size_t index, int rows, int cols)
{
    const unsigned at = (unsigned)index;
    const unsigned row_index = at / (unsigned)cols;
    rlkd_pool2d_position p;
    p.col = (int)(at - row_index * (unsigned)cols);
    p.plane = row_index / (unsigned)rows;
    p.row = (int)(row_index - (unsigned)p.plane * (unsigned)rows);
    return p;
}

/* The forward loop of both poolings, a thread per output: pool(i, the
 * input plane of output i, its window) computes output i. */
template <typename Pool>
__device__ __forceinline__ void rlkd_pool2d_each_window(
    const float *x, const rlkd_pool2d_geom &g, size_t outputs, Pool pool)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
         i < outputs; i += (size_t)gridDim.x * blockDim.x) {
        const rlkd_pool2d_position o =
            rlkd_pool2d_position_of(i, g.out_h, g.out_w);
        pool(i, x + o.plane * g.in_h * g.in_w,
             rlkd_pool2d_window_at(g, o.row, o.col));
    }
}

/* The backward gather of both poolings, a thread per input and no atomics:
 * dx[i] = the sum, over the outputs whose windows cover input i and in
 * output order (the CPU's, so the same bits), of what add_share(&sum,
 * output index, oh, ow, the input's index within its plane) adds. */
template <typename AddShare>
__device__ __forceinline__ void rlkd_pool2d_gather(float *dx,
                                                   const rlkd_pool2d_geom &g,
                                                   size_t inputs,
                                                   AddShare add_share)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
         i < inputs; i += (size_t)gridDim.x * blockDim.x) {
        const rlkd_pool2d_position p =
            rlkd_pool2d_position_of(i, g.in_h, g.in_w);
        const int at = p.row * g.in_w + p.col;
        int oh_first, oh_end, ow_first, ow_end;
        rlkd_pool2d_covering(&oh_first, &oh_end, p.row, g.kernel_h,
                             g.stride_h, g.pad_h, g.out_h);
        rlkd_pool2d_covering(&ow_first, &ow_end, p.col, g.kernel_w,
                             g.stride_w, g.pad_w, g.out_w);
        const size_t plane_out = p.plane * g.out_h * g.out_w;
        float sum = 0.0f;
        for (int oh = oh_first; oh < oh_end; oh++)
            for (int ow = ow_first; ow < ow_end; ow++)
                add_share(&sum, plane_out + (size_t)oh * g.out_w + ow, oh, ow,
                          at);
        dx[i] = sum;
    }
}

/* Elements of x (and dx), and of y (and dy). */
static inline size_t rlkd_pool2d_inputs(const rlkd_pool2d_geom *g)
{
    return (size_t)g->n * g->c * g->in_h * g->in_w;
}

static inline size_t rlkd_pool2d_outputs(const rlkd_pool2d_geom *g)
{
    return (size_t)g->n * g->c * g->out_h * g->out_w;
}

#endif
