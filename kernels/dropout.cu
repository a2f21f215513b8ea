/* Inverted dropout on the GPU. Element i's draw is the CPU's, word 0 of
 * Philox(seed, stream, first + i) (lib/core/philox.h), so the mask is the
 * CPU's bit for bit. */
#include "elementwise.cuh"
#include "../lib/core/philox.h"

__global__ void rlkd_dropout_forward_kernel(float *y, float *mask,
                                            const float *x, size_t n,
                                            size_t quads, float p,
                                            float keep_scale, uint64_t seed,
                                            uint64_t stream, uint64_t first)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const rlkd_floats<W> xv = rlkd_load<W>(x, i);
        rlkd_floats<W> yv, mv;
        for (int c = 0; c < W; c++) {
            /* p == 0 keeps everything, so it needs no random numbers. */
            const bool kept =
                p == 0.0f ||
                rlkd_uniform01(rlkd_philox4x32(seed, stream, first + W * i + c).v[0]) >=
                    p;
            mv.v[c] = kept ? keep_scale : 0.0f;
            yv.v[c] = xv.v[c] * mv.v[c];
        }
        rlkd_store<W>(mask, i, mv);
        rlkd_store<W>(y, i, yv);
    });
}

__global__ void rlkd_dropout_backward_kernel(float *dx, const float *dy,
                                             const float *mask, size_t n,
                                             size_t quads)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const rlkd_floats<W> dyv = rlkd_load<W>(dy, i);
        const rlkd_floats<W> mv = rlkd_load<W>(mask, i);
        rlkd_floats<W> dxv;
        for (int c = 0; c < W; c++)
            dxv.v[c] = dyv.v[c] * mv.v[c];
        rlkd_store<W>(dx, i, dxv);
    });
}

extern "C" rlkd_status rlkd_cuda_dropout_forward(rlkd_context *ctx, float *y,
                                                 float *mask, const float *x,
                                                 size_t n, float p,
                                                 uint64_t seed, uint64_t stream,
                                                 uint64_t first)
{
    /* The CPU's float expression, so the kept scale has its bits. */
    const float keep_scale = 1.0f / (1.0f - p);
    const size_t quads = rlkd_cuda_quads(n, y, mask, x);
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_dropout_forward_kernel)(y, mask, x, n, quads, p,
                                             keep_scale, seed, stream, first);
    return rlkd_cuda_launched("rlkd_dropout_forward_kernel");
}

extern "C" rlkd_status rlkd_cuda_dropout_backward(rlkd_context *ctx,
                                                  float *dx, const float *dy,
                                                  const float *mask, size_t n)
{
    const size_t quads = rlkd_cuda_quads(n, dx, dy, mask);
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_dropout_backward_kernel)(dx, dy, mask, n, quads);
    return rlkd_cuda_launched("rlkd_dropout_backward_kernel");
}
