/* Elementwise addition on the GPU. */
#include "elementwise.cuh"

__global__ void rlkd_add_kernel(float *y, const float *a, const float *b,
                                size_t n, size_t quads)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const rlkd_floats<W> av = rlkd_load<W>(a, i), bv = rlkd_load<W>(b, i);
        rlkd_floats<W> yv;
        for (int c = 0; c < W; c++)
            yv.v[c] = av.v[c] + bv.v[c];
        rlkd_store<W>(y, i, yv);
    });
}

extern "C" rlkd_status rlkd_cuda_add(rlkd_context *ctx, float *y,
                                     const float *a, const float *b, size_t n)
{
    const size_t quads = rlkd_cuda_quads(n, y, a, b);
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_add_kernel)(y, a, b, n, quads);
    return rlkd_cuda_launched("rlkd_add_kernel");
}
