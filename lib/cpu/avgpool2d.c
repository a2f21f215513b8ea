/* Average pooling on the CPU, one plane (n, c) per task. */
#include "cpu.h"

#include <string.h>

/* Output (oh, ow)'s window clipped to the input, and the divisor PyTorch
 * uses: the window clipped to the padded input when padding counts, else
 * the number of input positions it covers. */
typedef struct avg_window {
    int h_begin, h_end, w_begin, w_end;
    float divisor;
} avg_window;

static avg_window window_at(const rlkd_pool2d_geom *g, int oh, int ow)
{
    const int h0 = oh * g->stride_h - g->pad_h;
    const int w0 = ow * g->stride_w - g->pad_w;
    const int padded_h = g->in_h + g->pad_h, padded_w = g->in_w + g->pad_w;
    const int h_end_padded =
        h0 + g->kernel_h < padded_h ? h0 + g->kernel_h : padded_h;
    const int w_end_padded =
        w0 + g->kernel_w < padded_w ? w0 + g->kernel_w : padded_w;
    avg_window win;
    win.h_begin = h0 > 0 ? h0 : 0;
    win.w_begin = w0 > 0 ? w0 : 0;
    win.h_end = h_end_padded < g->in_h ? h_end_padded : g->in_h;
    win.w_end = w_end_padded < g->in_w ? w_end_padded : g->in_w;
    win.divisor = g->count_include_pad
                      ? (float)((int64_t)(h_end_padded - h0) *
                                (w_end_padded - w0))
                      : (float)((int64_t)(win.h_end - win.h_begin) *
                                (win.w_end - win.w_begin));
    return win;
}

rlkd_status rlkd_cpu_avgpool2d_forward(rlkd_context *ctx, float *y,
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
            for (int ow = 0; ow < g->out_w; ow++) {
                const avg_window win = window_at(g, oh, ow);
                float sum = 0.0f;
                for (int h = win.h_begin; h < win.h_end; h++)
                    for (int w = win.w_begin; w < win.w_end; w++)
                        sum += x_plane[(size_t)h * g->in_w + w];
                y_plane[(size_t)oh * g->out_w + ow] = sum / win.divisor;
            }
    }
    return RLKD_OK;
}

rlkd_status rlkd_cpu_avgpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy,
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
        const float *dy_plane = dy + (size_t)p * out_plane;
        float *dx_plane = dx + (size_t)p * in_plane;
        memset(dx_plane, 0, in_plane * sizeof *dx_plane);
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++) {
                const avg_window win = window_at(g, oh, ow);
                const float share =
                    dy_plane[(size_t)oh * g->out_w + ow] / win.divisor;
                for (int h = win.h_begin; h < win.h_end; h++)
                    for (int w = win.w_begin; w < win.w_end; w++)
                        dx_plane[(size_t)h * g->in_w + w] += share;
            }
    }
    return RLKD_OK;
}
