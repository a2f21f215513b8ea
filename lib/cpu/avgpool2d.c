/* Average pooling on the CPU, one plane (n, c) per task. */
#include "pool2d.h"

#include <string.h>

/* PyTorch's divisor: the window's positions in the padded input when padding
 * counts, else the input positions it covers. */
static float window_divisor(const rlkd_pool2d_geom *g,
                            const rlkd_cpu_pool2d_window *win)
{
    return (float)(g->count_include_pad
                       ? win->padded_count
                       : (int64_t)(win->h_end - win->h_begin) *
                             (win->w_end - win->w_begin));
}

static void forward_plane(const rlkd_pool2d_geom *g,
                          const rlkd_cpu_pool2d_planes *plane)
{
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow = 0; ow < g->out_w; ow++) {
            const rlkd_cpu_pool2d_window win =
                rlkd_cpu_pool2d_window_at(g, oh, ow);
            float sum = 0.0f;
            for (int h = win.h_begin; h < win.h_end; h++)
                for (int w = win.w_begin; w < win.w_end; w++)
                    sum += plane->x[(size_t)h * g->in_w + w];
            plane->y[(size_t)oh * g->out_w + ow] =
                sum / window_divisor(g, &win);
        }
}

static void backward_plane(const rlkd_pool2d_geom *g,
                           const rlkd_cpu_pool2d_planes *plane)
{
    memset(plane->dx, 0, (size_t)g->in_h * g->in_w * sizeof *plane->dx);
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow = 0; ow < g->out_w; ow++) {
            const rlkd_cpu_pool2d_window win =
                rlkd_cpu_pool2d_window_at(g, oh, ow);
            const float share = plane->dy[(size_t)oh * g->out_w + ow] /
                                window_divisor(g, &win);
            for (int h = win.h_begin; h < win.h_end; h++)
                for (int w = win.w_begin; w < win.w_end; w++)
                    plane->dx[(size_t)h * g->in_w + w] += share;
        }
}

rlkd_status rlkd_cpu_avgpool2d_forward(rlkd_context *ctx, float *y,
                                       const float *x,
                                       const rlkd_pool2d_geom *g)
{
    const rlkd_cpu_pool2d_planes all = {.x = x, .y = y};
    rlkd_cpu_pool2d_each_plane(ctx, g, &all, forward_plane);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_avgpool2d_backward(rlkd_context *ctx, float *dx,
                                        const float *dy,
                                        const rlkd_pool2d_geom *g)
{
    const rlkd_cpu_pool2d_planes all = {.dy = dy, .dx = dx};
    rlkd_cpu_pool2d_each_plane(ctx, g, &all, backward_plane);
    return RLKD_OK;
}
