/*
 * What max- and average-pooling share on the CPU: each output's window, and
 * the loop over the N*C planes. Private to lib/cpu.
 */
#ifndef RLKD_CPU_POOL2D_H
#define RLKD_CPU_POOL2D_H

#include "cpu.h"

/* Output (oh, ow)'s window: the rows [h_begin, h_end) and columns
 * [w_begin, w_end) of the input it covers, and how many positions of the
 * padded input it covers (average pooling's count_include_pad divisor). */
typedef struct rlkd_cpu_pool2d_window {
    int h_begin, h_end, w_begin, w_end;
    int64_t padded_count;
} rlkd_cpu_pool2d_window;

static inline rlkd_cpu_pool2d_window
rlkd_cpu_pool2d_window_at(const rlkd_pool2d_geom *g, int oh, int ow)
{
    const int h0 = oh * g->stride_h - g->pad_h;
    const int w0 = ow * g->stride_w - g->pad_w;
    /* The window clipped to the padded input, then to the input itself. */
    const int padded_h = g->in_h + g->pad_h, padded_w = g->in_w + g->pad_w;
    const int h_end_padded =
        h0 + g->kernel_h < padded_h ? h0 + g->kernel_h : padded_h;
    const int w_end_padded =
        w0 + g->kernel_w < padded_w ? w0 + g->kernel_w : padded_w;
    rlkd_cpu_pool2d_window win;
    win.h_begin = h0 > 0 ? h0 : 0;
    win.w_begin = w0 > 0 ? w0 : 0;
    win.h_end = h_end_padded < g->in_h ? h_end_padded : g->in_h;
    win.w_end = w_end_padded < g->in_w ? w_end_padded : g->in_w;
    win.padded_count = (int64_t)(h_end_padded - h0) * (w_end_padded - w0);
    return win;
}

/* A pooling call's buffers, or one plane's slice of them: x and dx have
 * in_h*in_w elements a plane, y and dy out_h*out_w. Those a call does not
 * use are NULL. */
typedef struct rlkd_cpu_pool2d_planes {
    const float *x, *dy;
    float *y, *dx;
} rlkd_cpu_pool2d_planes;

/* Runs pool_plane on each plane (n, c) of `all`, one plane per task. */
void rlkd_cpu_pool2d_each_plane(rlkd_context *ctx, const rlkd_pool2d_geom *g,
                                const rlkd_cpu_pool2d_planes *all,
                                void (*pool_plane)(
                                    const rlkd_pool2d_geom *g,
                                    const rlkd_cpu_pool2d_planes *plane));

#endif
