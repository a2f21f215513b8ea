/* CUDA device selection and memory: the context, allocation and copies. */
#include "cuda_common.cuh"

extern "C" rlkd_status rlkd_cuda_context_init(rlkd_context *ctx)
{
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0)
        return rlkd_fail(RLKD_ERR_NO_DEVICE,
                         "rlkd_context_create: no CUDA device is usable here "
                         "(%s)", err != cudaSuccess ? cudaGetErrorString(err)
                                                    : "0 devices");
    if (ctx->device_index >= count)
        return rlkd_fail(RLKD_ERR_NO_DEVICE,
                         "rlkd_context_create: CUDA device %d requested, %d "
                         "present", ctx->device_index, count);
    return rlkd_cuda_check(cudaSetDevice(ctx->device_index), "cudaSetDevice");
}

extern "C" rlkd_status rlkd_cuda_alloc(rlkd_context *ctx, void **out,
                                       size_t bytes)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(ctx->device_index), "cudaSetDevice"));
    cudaError_t err = cudaMalloc(out, bytes ? bytes : 4);
    if (err != cudaSuccess) {
        *out = NULL;
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "cuda: cannot allocate %zu bytes on device %d: %s",
                         bytes, ctx->device_index, cudaGetErrorString(err));
    }
    return RLKD_OK;
}

extern "C" void rlkd_cuda_release(rlkd_context *ctx, void *ptr)
{
    (void)ctx;
    cudaFree(ptr);
}

/* Host copies return only when the host buffer may be reused or read. */
static rlkd_status copy_host_sync(rlkd_context *ctx, void *dst, const void *src,
                                  size_t bytes, cudaMemcpyKind kind,
                                  const char *what)
{
    RLKD_TRY(rlkd_cuda_check(cudaMemcpyAsync(dst, src, bytes, kind,
                                             rlkd_cuda_stream(ctx)),
                             what));
    return rlkd_cuda_check(cudaStreamSynchronize(rlkd_cuda_stream(ctx)),
                           "cudaStreamSynchronize");
}

extern "C" rlkd_status rlkd_cuda_copy_from_host(rlkd_context *ctx, void *dst,
                                                const void *src, size_t bytes)
{
    return copy_host_sync(ctx, dst, src, bytes, cudaMemcpyHostToDevice,
                          "cudaMemcpyAsync (host to device)");
}

extern "C" rlkd_status rlkd_cuda_copy_to_host(rlkd_context *ctx, void *dst,
                                              const void *src, size_t bytes)
{
    return copy_host_sync(ctx, dst, src, bytes, cudaMemcpyDeviceToHost,
                          "cudaMemcpyAsync (device to host)");
}

extern "C" rlkd_status rlkd_cuda_copy(rlkd_context *ctx, void *dst,
                                      const void *src, size_t bytes)
{
    if (dst == src)
        return RLKD_OK;
    return rlkd_cuda_check(cudaMemcpyAsync(dst, src, bytes,
                                           cudaMemcpyDeviceToDevice,
                                           rlkd_cuda_stream(ctx)),
                           "cudaMemcpyAsync (device to device)");
}

extern "C" rlkd_status rlkd_cuda_synchronize(rlkd_context *ctx)
{
    return rlkd_cuda_check(cudaStreamSynchronize(rlkd_cuda_stream(ctx)),
                           "cudaStreamSynchronize");
}
