/* Max pooling on the CPU, one plane (n, c) per task. */
#include "pool2d.h"

#include <math.h>
#include <string.h>

/* Index within the plane of the window's maximum, as PyTorch picks it:
 * padding never wins, the first of equal values wins, and NaN propagates. */
static inline int window_argmax(const float *plane, int in_w,
                                const rlkd_cpu_pool2d_window *win)
{
    int best = win->h_begin * in_w + win->w_begin;
    float best_value = -INFINITY;
    for (int h = win->h_begin; h < win->h_end; h++)
        for (int w = win->w_begin; w < win->w_end; w++) {
            const int at = h * in_w + w;
            const float value = plane[at];
            if (value > best_value || isnan(value)) {
                best = at;
                best_value = value;
            }
        }
    return best;
}

/* The plane index of output (oh, ow)'s maximum, for any padding. */
static inline int output_argmax(const float *plane, const rlkd_pool2d_geom *g,
                                int oh, int ow)
{
    const rlkd_cpu_pool2d_window win = rlkd_cpu_pool2d_window_at(g, oh, ow);
    return window_argmax(plane, g->in_w, &win);
}

/* Outputs of a row that the unpadded path takes at once. */
#define RLKD_MAXPOOL_RUN 64

/*
 * Without padding every window lies inside the input, and a run of outputs
 * of one row is scanned tap by tap, each tap a strided pass over the run:
 * the same comparisons in the same order as window_argmax's, but in loops
 * that vectorise, and without the per-output clipping (most of the cost of
 * a 2x2 window). at[k] receives output ow0 + k's argmax.
 */
static void run_argmax(int *restrict at, const float *restrict plane,
                       const rlkd_pool2d_geom *g, int oh, int ow0, int count)
{
    float best[RLKD_MAXPOOL_RUN];
    const int top = oh * g->stride_h * g->in_w; /* a plane fits an int */
    for (int k = 0; k < count; k++) {
        best[k] = -INFINITY;
        at[k] = top + (ow0 + k) * g->stride_w;
    }
    for (int kh = 0; kh < g->kernel_h; kh++)
        for (int kw = 0; kw < g->kernel_w; kw++) {
            const int first = top + kh * g->in_w + ow0 * g->stride_w + kw;
            for (int k = 0; k < count; k++) {
                /* Read both, select, store both: no branch (random data
                 * mispredicts one half the time) and no conditional
                 * store, so the loop vectorises. */
                const int where = first + k * g->stride_w;
                const float value = plane[where], held = best[k];
                const int held_at = at[k];
                const int wins = (value > held) | (value != value);
                at[k] = wins ? where : held_at;
                best[k] = wins ? value : held;
            }
        }
}

/* at[k] = the argmax of output (oh, ow0 + k), for k < count. */
static void row_argmax(int *at, const float *plane,
                       const rlkd_pool2d_geom *g, int oh, int ow0, int count)
{
    if (g->pad_h == 0 && g->pad_w == 0)
        run_argmax(at, plane, g, oh, ow0, count);
    else
        for (int k = 0; k < count; k++)
            at[k] = output_argmax(plane, g, oh, ow0 + k);
}

/* Outputs of row oh from ow0 on that one row_argmax call takes. */
static int run_length(const rlkd_pool2d_geom *g, int ow0)
{
    return g->out_w - ow0 < RLKD_MAXPOOL_RUN ? g->out_w - ow0
                                             : RLKD_MAXPOOL_RUN;
}

static void forward_plane(const rlkd_pool2d_geom *g,
                          const rlkd_cpu_pool2d_planes *plane)
{
    int at[RLKD_MAXPOOL_RUN];
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow0 = 0; ow0 < g->out_w; ow0 += RLKD_MAXPOOL_RUN) {
            const int count = run_length(g, ow0);
            float *y_run = plane->y + (size_t)oh * g->out_w + ow0;
            row_argmax(at, plane->x, g, oh, ow0, count);
            for (int k = 0; k < count; k++)
                y_run[k] = plane->x[at[k]];
        }
}

static void backward_plane(const rlkd_pool2d_geom *g,
                           const rlkd_cpu_pool2d_planes *plane)
{
    int at[RLKD_MAXPOOL_RUN];
    memset(plane->dx, 0, (size_t)g->in_h * g->in_w * sizeof *plane->dx);
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow0 = 0; ow0 < g->out_w; ow0 += RLKD_MAXPOOL_RUN) {
            const int count = run_length(g, ow0);
            const float *dy_run = plane->dy + (size_t)oh * g->out_w + ow0;
            row_argmax(at, plane->x, g, oh, ow0, count);
            for (int k = 0; k < count; k++)
                plane->dx[at[k]] += dy_run[k];
        }
}

rlkd_status rlkd_cpu_maxpool2d_forward(rlkd_context *ctx, float *y,
                                       const float *x,
                                       const rlkd_pool2d_geom *g)
{
    const rlkd_cpu_pool2d_planes all = {.x = x, .y = y};
    rlkd_cpu_pool2d_each_plane(ctx, g, &all, forward_plane);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_maxpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy, const float *x,
                                        const rlkd_pool2d_geom *g)
{
    const rlkd_cpu_pool2d_planes all = {.x = x, .dy = dy, .dx = dx};
    rlkd_cpu_pool2d_each_plane(ctx, g, &all, backward_plane);
    return RLKD_OK;
}
