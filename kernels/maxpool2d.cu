/*
 * Max pooling on the GPU, the same windows and choices as
 * lib/cpu/maxpool2d.c: one thread per output forward; backward, one thread
 * per output finds its window's maximum, then one thread per input adds the
 * gradients of the outputs that picked it, in output order (the CPU's
 * order, so the sums are the same bits), with no atomics.
 */
#include "cuda.h"
#include "cuda_common.cuh"
#include "pool2d.cuh"

/* Index within the plane of the window's maximum, as PyTorch and the CPU
 * pick it: padding never wins, the first of equal values wins (row-major
 * order), and NaN propagates (the last NaN wins). */
__device__ __forceinline__ int window_argmax(const float *plane, int in_w,
                                             const rlkd_pool2d_window &win)
{
    int best = win.h_begin * in_w + win.w_begin;
    float best_value = -INFINITY;
    for (int h = win.h_begin; h < win.h_end; h++)
        for (int w = win.w_begin; w < win.w_end; w++) {
            const int at = h * in_w + w;
            const float value = plane[at];
            if (value > best_value || value != value) {
                best = at;
                best_value = value;
            }
        }
    return best;
}

/* Each output's window maximum: its value into y and its plane index into
 * argmax, either of them NULL when not wanted. */
__global__ void rlkd_maxpool2d_window_kernel(float *y, int *argmax,
                                             const float *x,
                                             rlkd_pool2d_geom g,
                                             size_t outputs)
{
    rlkd_pool2d_each_window(
        x, g, outputs,
        [&](size_t i, const float *plane, const rlkd_pool2d_window &win) {
            const int at = window_argmax(plane, g.in_w, win);
            if (y)
                y[i] = plane[at];
            if (argmax)
                argmax[i] = at;
        });
}

/* dx at each input = the sum of dy over the outputs whose maximum it is. */
__global__ void rlkd_maxpool2d_backward_kernel(float *dx, const float *dy,
                                               const int *argmax,
                                               rlkd_pool2d_geom g,
                                               size_t inputs)
{
    rlkd_pool2d_gather(
        dx, g, inputs, [&](float *sum, size_t o, int, int, int at) {
            if (argmax[o] == at)
                *sum += dy[o];
        });
}

extern "C" rlkd_status rlkd_cuda_maxpool2d_forward(rlkd_context *ctx,
                                                   float *y, const float *x,
                                                   const rlkd_pool2d_geom *g)
{
    const size_t outputs = rlkd_pool2d_outputs(g);
    RLKD_LAUNCH(rlkd_cuda_blocks(outputs), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_maxpool2d_window_kernel)(y, (int *)NULL, x, *g, outputs);
    return rlkd_cuda_launched("rlkd_maxpool2d_window_kernel");
}

extern "C" rlkd_status rlkd_cuda_maxpool2d_backward(rlkd_context *ctx,
                                                    float *dx,
                                                    const float *dy,
                                                    const float *x,
                                                    const rlkd_pool2d_geom *g)
{
    const size_t outputs = rlkd_pool2d_outputs(g);
    const size_t inputs = rlkd_pool2d_inputs(g);
    void *argmax;
    RLKD_TRY(rlkd_cuda_alloc(ctx, &argmax, outputs * sizeof(int)));
    RLKD_LAUNCH(rlkd_cuda_blocks(outputs), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_maxpool2d_window_kernel)((float *)NULL, (int *)argmax, x,
                                              *g, outputs);
    rlkd_status status = rlkd_cuda_launched("rlkd_maxpool2d_window_kernel");
    if (status == RLKD_OK) {
        RLKD_LAUNCH(rlkd_cuda_blocks(inputs), RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_maxpool2d_backward_kernel)(dx, dy,
                                                    (const int *)argmax, *g,
                                                    inputs);
        status = rlkd_cuda_launched("rlkd_maxpool2d_backward_kernel");
    }
    rlkd_cuda_release(ctx, argmax);
    return status;
}
