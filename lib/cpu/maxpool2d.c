/* Max pooling on the CPU, one plane (n, c) per task. */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* Index within the plane of output (oh, ow)'s maximum, as PyTorch picks it:
 * padding never wins, the first of equal values wins, and NaN propagates. */
static size_t window_argmax(const float *plane, const rlkd_pool2d_geom *g,
                            int oh, int ow)
{
    const int h0 = oh * g->stride_h - g->pad_h;
    const int w0 = ow * g->stride_w - g->pad_w;
    const int h_begin = h0 > 0 ? h0 : 0, w_begin = w0 > 0 ? w0 : 0;
    const int h_end = h0 + g->kernel_h < g->in_h ? h0 + g->kernel_h : g->in_h;
    const int w_end = w0 + g->kernel_w < g->in_w ? w0 + g->kernel_w : g->in_w;
    size_t best = (size_t)h_begin * g->in_w + w_begin;
    float best_value = -INFINITY;
    for (int h = h_begin; h < h_end; h++)
        for (int w = w_begin; w < w_end; w++) {
            const size_t at = (size_t)h * g->in_w + w;
            if (plane[at] > best_value || isnan(plane[at])) {
                best = at;
                best_value = plane[at];
            }
        }
    return best;
}

rlkd_status rlkd_cpu_maxpool2d_forward(rlkd_context *ctx, float *y,
                                       const float *x,
                                       const rlkd_pool2d_geom *g)
{
    const int64_t planes = (int64_t)g->n * g->c;
    const size_t in_plane = (size_t)g->in_h * g->in_w;
    const size_t out_plane = (size_t)g->out_h * g->out_w;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)planes * in_plane > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float *x_plane = x + (size_t)p * in_plane;
        float *y_plane = y + (size_t)p * out_plane;
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++)
                y_plane[(size_t)oh * g->out_w + ow] =
                    x_plane[window_argmax(x_plane, g, oh, ow)];
    }
    return RLKD_OK;
}

rlkd_status rlkd_cpu_maxpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy, const float *x,
                                        const rlkd_pool2d_geom *g)
{
    const int64_t planes = (int64_t)g->n * g->c;
    const size_t in_plane = (size_t)g->in_h * g->in_w;
    const size_t out_plane = (size_t)g->out_h * g->out_w;
    /* Each plane's gradient is owned by one thread: overlapping windows add
     * into it without atomics. */
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)planes * in_plane > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float *x_plane = x + (size_t)p * in_plane;
        const float *dy_plane = dy + (size_t)p * out_plane;
        float *dx_plane = dx + (size_t)p * in_plane;
        memset(dx_plane, 0, in_plane * sizeof *dx_plane);
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++)
                dx_plane[window_argmax(x_plane, g, oh, ow)] +=
                    dy_plane[(size_t)oh * g->out_w + ow];
    }
    return RLKD_OK;
}
