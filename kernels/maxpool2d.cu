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

/* The plane index of output `index`'s maximum, and (through plane_out) the
 * plane it lies in. */
__device__ __forceinline__ int output_argmax(const float *x, size_t index,
                                             const rlkd_pool2d_geom &g,
                                             size_t *plane_out)
{
    const rlkd_pool2d_position o =
        rlkd_pool2d_position_of(index, g.out_h, g.out_w);
    *plane_out = o.plane;
    const float *plane = x + o.plane * g.in_h * g.in_w;
    return window_argmax(plane, g.in_w, rlkd_pool2d_window_at(g, o.row, o.col));
}

__global__ void rlkd_maxpool2d_forward_kernel(float *y, const float *x,
                                              rlkd_pool2d_geom g,
                                              size_t outputs)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
         i < outputs; i += (size_t)gridDim.x * blockDim.x) {
        size_t plane;
        const int at = output_argmax(x, i, g, &plane);
        y[i] = x[plane * g.in_h * g.in_w + at];
    }
}

/* argmax[i] = the plane index of output i's maximum. */
__global__ void rlkd_maxpool2d_argmax_kernel(int *argmax, const float *x,
                                             rlkd_pool2d_geom g,
                                             size_t outputs)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
         i < outputs; i += (size_t)gridDim.x * blockDim.x) {
        size_t plane;
        argmax[i] = output_argmax(x, i, g, &plane);
    }
}

/* dx at each input = the sum of dy over the outputs whose maximum it is. */
__global__ void rlkd_maxpool2d_backward_kernel(float *dx, const float *dy,
                                               const int *argmax,
                                               rlkd_pool2d_geom g,
                                               size_t inputs)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
         i < inputs; i += (size_t)gridDim.x * blockDim.x) {
        const rlkd_pool2d_position p =
            rlkd_pool2d_position_of(i, g.in_h, g.in_w);
        const int at = p.row * g.in_w + p.col;
        int oh_first, oh_end, ow_first, ow_end;
        rlkd_pool2d_covering(&oh_first, &oh_end, p.row, g.kernel_h,
                             g.stride_h, g.pad_h, g.out_h);
        rlkd_pool2d_covering(&ow_first, &ow_end, p.col, g.kernel_w,
                             g.stride_w, g.pad_w, g.out_w);
        const size_t plane_out = p.plane * g.out_h * g.out_w;
        float sum = 0.0f;
        for (int oh = oh_first; oh < oh_end; oh++)
            for (int ow = ow_first; ow < ow_end; ow++) {
                const size_t o = plane_out + (size_t)oh * g.out_w + ow;
                if (argmax[o] == at)
                    sum += dy[o];
            }
        dx[i] = sum;
    }
}

extern "C" rlkd_status rlkd_cuda_maxpool2d_forward(rlkd_context *ctx,
                                                   float *y, const float *x,
                                                   const rlkd_pool2d_geom *g)
{
    const size_t outputs = rlkd_pool2d_outputs(g);
    RLKD_LAUNCH(rlkd_cuda_blocks(outputs), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_maxpool2d_forward_kernel)(y, x, *g, outputs);
    return rlkd_cuda_launched("rlkd_maxpool2d_forward_kernel");
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
                rlkd_maxpool2d_argmax_kernel)((int *)argmax, x, *g, outputs);
    rlkd_status status = rlkd_cuda_launched("rlkd_maxpool2d_argmax_kernel");
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
