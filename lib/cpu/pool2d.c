/* The plane loop shared by max- and average-pooling on the CPU. */
#include "pool2d.h"

void rlkd_cpu_pool2d_each_plane(rlkd_context *ctx, const rlkd_pool2d_geom *g,
                                const rlkd_cpu_pool2d_planes *all,
                                void (*pool_plane)(
                                    const rlkd_pool2d_geom *g,
                                    const rlkd_cpu_pool2d_planes *plane))
{
    const int64_t planes = (int64_t)g->n * g->c;
    const size_t in_plane = (size_t)g->in_h * g->in_w;
    const size_t out_plane = (size_t)g->out_h * g->out_w;
    /* Each plane's gradient is owned by one thread: overlapping windows add
     * into it without atomics. */
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)planes * in_plane > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const size_t in_at = (size_t)p * in_plane;
        const size_t out_at = (size_t)p * out_plane;
        const rlkd_cpu_pool2d_planes plane = {
            .x = all->x ? all->x + in_at : NULL,
            .dy = all->dy ? all->dy + out_at : NULL,
            .y = all->y ? all->y + out_at : NULL,
            .dx = all->dx ? all->dx + in_at : NULL,
        };
        pool_plane(g, &plane);
    }
}
