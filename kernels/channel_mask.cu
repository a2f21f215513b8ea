/* Per-channel scaling on the GPU (channel mask forward and backward). */
#include "elementwise.cuh"

/* Indices fit 32 bits (a tensor has at most 2^31 - 1 elements), so the
 * channel of an element is a 32-bit division. A quad is one plane's when
 * hw is a multiple of 4, which the launcher ensures. */
__global__ void rlkd_channel_mask_kernel(float *y, const float *x,
                                         const float *mask, size_t n,
                                         size_t quads, unsigned c,
                                         unsigned hw)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const float scale = mask[(unsigned)(W * i) / hw % c];
        const rlkd_floats<W> xv = rlkd_load<W>(x, i);
        rlkd_floats<W> yv;
        for (int k = 0; k < W; k++)
            yv.v[k] = xv.v[k] * scale;
        rlkd_store<W>(y, i, yv);
    });
}

extern "C" rlkd_status rlkd_cuda_channel_mask(rlkd_context *ctx, float *y,
                                              const float *x,
                                              const float *mask, int n, int c,
                                              int hw)
{
    const size_t total = (size_t)n * (size_t)c * (size_t)hw;
    const size_t quads = hw % 4 == 0 ? rlkd_cuda_quads(total, y, x) : 0;
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(total, quads), RLKD_CUDA_BLOCK, 0,
                ctx, rlkd_channel_mask_kernel)(y, x, mask, total, quads,
                                               (unsigned)c, (unsigned)hw);
    return rlkd_cuda_launched("rlkd_channel_mask_kernel");
}
