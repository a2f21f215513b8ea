/* Channel concatenation on the GPU, one input's slice of y per call: for
 * each sample, the input is one contiguous run of x_channels * hw floats
 * inside y's run of y_channels * hw (lib/cpu/concat.c). */
#include "elementwise.cuh"

/* Copies n runs of `run` floats between strided positions; element e is
 * float e % run of run e / run. Indices fit 32 bits (a tensor has at most
 * 2^31 - 1 elements). A quad stays within its run when run and both
 * strides are multiples of 4, which the launcher ensures. */
__global__ void rlkd_copy_runs_kernel(float *dst, unsigned dst_stride,
                                      const float *src, unsigned src_stride,
                                      unsigned run, size_t total, size_t quads)
{
    rlkd_elementwise(total, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const unsigned e = (unsigned)(W * i), s = e / run, r = e % run;
        rlkd_store<W>(dst, ((size_t)s * dst_stride + r) / W,
                      rlkd_load<W>(src, ((size_t)s * src_stride + r) / W));
    });
}

static rlkd_status copy_runs(rlkd_context *ctx, float *dst, size_t dst_stride,
                             const float *src, size_t src_stride, size_t run,
                             int n)
{
    const size_t total = (size_t)n * run;
    const size_t quads = (run | dst_stride | src_stride) % 4 == 0
                             ? rlkd_cuda_quads(total, dst, src)
                             : 0;
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(total, quads), RLKD_CUDA_BLOCK, 0,
                ctx, rlkd_copy_runs_kernel)(dst, (unsigned)dst_stride, src,
                                            (unsigned)src_stride,
                                            (unsigned)run, total, quads);
    return rlkd_cuda_launched("rlkd_copy_runs_kernel");
}

extern "C" rlkd_status rlkd_cuda_concat_forward(rlkd_context *ctx, float *y,
                                                const float *x, int n, int hw,
                                                int y_channels,
                                                int channel_offset,
                                                int x_channels)
{
    const size_t run = (size_t)x_channels * (size_t)hw;
    return copy_runs(ctx, y + (size_t)channel_offset * (size_t)hw,
                     (size_t)y_channels * (size_t)hw, x, run, run, n);
}

extern "C" rlkd_status rlkd_cuda_concat_backward(rlkd_context *ctx, float *dx,
                                                 const float *dy, int n,
                                                 int hw, int y_channels,
                                                 int channel_offset,
                                                 int x_channels)
{
    const size_t run = (size_t)x_channels * (size_t)hw;
    return copy_runs(ctx, dx, run, dy + (size_t)channel_offset * (size_t)hw,
                     (size_t)y_channels * (size_t)hw, run, n);
}
