/* Global average pooling on the GPU: the forward is the attention ops'
 * plane pooling (kernels/attention.cuh), the backward spreads each plane's
 * gradient evenly over it. */
#include "attention.cuh"

/* dx[p, :] = dy[p] / hw */
__global__ void rlkd_global_avgpool_backward_kernel(float *dx,
                                                    const float *dy, size_t n,
                                                    size_t quads, unsigned hw)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const float share = dy[(unsigned)(W * i) / hw] / (float)hw;
        rlkd_floats<W> d;
        for (int k = 0; k < W; k++)
            d.v[k] = share;
        rlkd_store<W>(dx, i, d);
    });
}

extern "C" rlkd_status rlkd_cuda_global_avgpool_forward(rlkd_context *ctx,
                                                        float *y,
                                                        const float *x,
                                                        int planes, int hw)
{
    const rlkd_plane_pool_out out = {y, NULL, NULL, NULL};
    return rlkd_plane_pool<RLKD_POOL_MEAN>(ctx, out, x, rlkd_no_grad(),
                                           planes, hw);
}

extern "C" rlkd_status rlkd_cuda_global_avgpool_backward(rlkd_context *ctx,
                                                         float *dx,
                                                         const float *dy,
                                                         int planes, int hw)
{
    const size_t n = (size_t)planes * hw;
    const size_t quads = hw % 4 == 0 ? rlkd_cuda_quads(n, dx) : 0;
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0,
                ctx, rlkd_global_avgpool_backward_kernel)(dx, dy, n, quads,
                                                          (unsigned)hw);
    return rlkd_cuda_launched("rlkd_global_avgpool_backward_kernel");
}
