/* Max pooling on the CPU, one plane (n, c) per task. */
#include "pool2d.h"

#include <math.h>
#include <string.h>

/* Index within the plane of output (oh, ow)'s maximum, as PyTorch picks it:
 * padding never wins, the first of equal values wins, and NaN propagates. */
static size_t window_argmax(const float *plane, const rlkd_pool2d_geom *g,
                            int oh, int ow)
{
    const rlkd_cpu_pool2d_window win = rlkd_cpu_pool2d_window_at(g, oh, ow);
    size_t best = (size_t)win.h_begin * g->in_w + win.w_begin;
    float best_value = -INFINITY;
    for (int h = win.h_begin; h < win.h_end; h++)
        for (int w = win.w_begin; w < win.w_end; w++) {
            const size_t at = (size_t)h * g->in_w + w;
            if (plane[at] > best_value || isnan(plane[at])) {
                best = at;
                best_value = plane[at];
            }
        }
    return best;
}

static void forward_plane(const rlkd_pool2d_geom *g,
                          const rlkd_cpu_pool2d_planes *plane)
{
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow = 0; ow < g->out_w; ow++)
            plane->y[(size_t)oh * g->out_w + ow] =
                plane->x[window_argmax(plane->x, g, oh, ow)];
}

static void backward_plane(const rlkd_pool2d_geom *g,
                           const rlkd_cpu_pool2d_planes *plane)
{
    memset(plane->dx, 0, (size_t)g->in_h * g->in_w * sizeof *plane->dx);
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow = 0; ow < g->out_w; ow++)
            plane->dx[window_argmax(plane->x, g, oh, ow)] +=
                plane->dy[(size_t)oh * g->out_w + ow];
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
