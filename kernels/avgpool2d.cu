/*
 * Average pooling on the GPU, the same windows, divisors and order of
 * additions as lib/cpu/avgpool2d.c (so the same bits): one thread per
 * output forward; backward, one thread per input adds the shares of the
 * outputs whose windows cover it, in output order, with no atomics.
 */
#include "cuda.h"
#include "cuda_common.cuh"
#include "pool2d.cuh"

/* PyTorch's divisor: the window's positions in the padded input when padding
 * counts, else the input positions it covers. */
__device__ __forceinline__ float window_divisor(const rlkd_pool2d_geom &g,
                                                const rlkd_pool2d_window &win)
{
    return (float)(g.count_include_pad
                       ? win.padded_count
                       : (long long)(win.h_end - win.h_begin) *
                             (win.w_end - win.w_begin));
}

__global__ void rlkd_avgpool2d_forward_kernel(float *y, const float *x,
                                              rlkd_pool2d_geom g,
                                              size_t outputs)
{
    rlkd_pool2d_each_window(
        x, g, outputs,
        [&](size_t i, const float *plane, const rlkd_pool2d_window &win) {
            float sum = 0.0f;
            for (int h = win.h_begin; h < win.h_end; h++)
                for (int w = win.w_begin; w < win.w_end; w++)
                    sum += plane[(size_t)h * g.in_w + w];
            y[i] = sum / window_divisor(g, win);
        });
}

__global__ void rlkd_avgpool2d_backward_kernel(float *dx, const float *dy,
                                               rlkd_pool2d_geom g,
                                               size_t inputs)
{
    rlkd_pool2d_gather(
        dx, g, inputs, [&](float *sum, size_t o, int oh, int ow, int) {
            const rlkd_pool2d_window win = rlkd_pool2d_window_at(g, oh, ow);
            *sum += dy[o] / window_divisor(g, win);
        });
}

extern "C" rlkd_status rlkd_cuda_avgpool2d_forward(rlkd_context *ctx,
                                                   float *y, const float *x,
                                                   const rlkd_pool2d_geom *g)
{
    const size_t outputs = rlkd_pool2d_outputs(g);
    RLKD_LAUNCH(rlkd_cuda_blocks(outputs), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_avgpool2d_forward_kernel)(y, x, *g, outputs);
    return rlkd_cuda_launched("rlkd_avgpool2d_forward_kernel");
}

extern "C" rlkd_status rlkd_cuda_avgpool2d_backward(rlkd_context *ctx,
                                                    float *dx,
                                                    const float *dy,
                                                    const rlkd_pool2d_geom *g)
{
    const size_t inputs = rlkd_pool2d_inputs(g);
    RLKD_LAUNCH(rlkd_cuda_blocks(inputs), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_avgpool2d_backward_kernel)(dx, dy, *g, inputs);
    return rlkd_cuda_launched("rlkd_avgpool2d_backward_kernel");
}
