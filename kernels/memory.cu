/*
 * CUDA device selection and memory: the context, its pool of device memory,
 * and copies.
 *
 * Every allocation of a context (tensors and the ops' scratch) comes from a
 * pool: a released block is kept for the next request it fits, so training
 * steps after the first make no cudaMalloc (which synchronises the device)
 * at all. Blocks go back to the driver when an allocation fails (then the
 * request is retried once) and when the context is released. Work is ordered
 * on the context's one stream, so a block released while kernels that use
 * it are still queued can be handed to the next op on that stream at once.
 */
#include "cuda_common.cuh"

#include <pthread.h>
#include <stdlib.h>

typedef struct pool_block {
    void *ptr;
    size_t bytes;
    int in_use;
} pool_block;

/* The context's backend_state. The lock: a DLPack consumer may drop the
 * last reference to a tensor (and so release its block) from any thread. */
typedef struct cuda_state {
    pthread_mutex_t lock;
    pool_block *blocks;
    size_t count, capacity;
} cuda_state;

/* Sizes are rounded so that near sizes share blocks: to 512 bytes, and
 * above 1 MiB to 1/8 of the largest power of two not above the size. The
 * CPU emulator (tests/emu) keeps sizes exact and reuses a block only for
 * its own size, so that valgrind's memcheck sees every block's true end
 * and reports a kernel that reads or writes past it. */
static size_t pool_size(size_t bytes)
{
#ifdef RLKD_CUDA_EMULATED
    return bytes ? bytes : 1;
#endif
    if (bytes <= ((size_t)1 << 20))
        return bytes ? (bytes + 511) & ~(size_t)511 : 512;
    size_t power = (size_t)1 << 20;
    while (power <= bytes / 2)
        power <<= 1;
    size_t step = power / 8;
    return (bytes + step - 1) / step * step;
}

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
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(ctx->device_index), "cudaSetDevice"));
    cuda_state *state = (cuda_state *)calloc(1, sizeof *state);
    if (!state)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_context_create: out of host memory");
    pthread_mutex_init(&state->lock, NULL);
    ctx->backend_state = state;
    return RLKD_OK;
}

extern "C" void rlkd_cuda_context_release(rlkd_context *ctx)
{
    cuda_state *state = (cuda_state *)ctx->backend_state;
    if (!state)
        return;
    cudaSetDevice(ctx->device_index);
    cudaStreamSynchronize(rlkd_cuda_stream(ctx));
    for (size_t i = 0; i < state->count; i++)
        cudaFree(state->blocks[i].ptr);
    free(state->blocks);
    pthread_mutex_destroy(&state->lock);
    free(state);
    ctx->backend_state = NULL;
}

/* Frees the blocks nobody uses (the lock is held). */
static void pool_trim(cuda_state *state)
{
    size_t kept = 0;
    for (size_t i = 0; i < state->count; i++) {
        if (state->blocks[i].in_use)
            state->blocks[kept++] = state->blocks[i];
        else
            cudaFree(state->blocks[i].ptr);
    }
    state->count = kept;
}

/* The smallest free block of `bytes` to 2x `bytes`, or -1 (lock held). */
static long pool_find(const cuda_state *state, size_t bytes)
{
    long best = -1;
    for (size_t i = 0; i < state->count; i++) {
        const pool_block *b = &state->blocks[i];
#ifdef RLKD_CUDA_EMULATED
        if (!b->in_use && b->bytes == bytes)
            return (long)i;
#endif
        if (!b->in_use && b->bytes >= bytes && b->bytes <= 2 * bytes &&
            (best < 0 || b->bytes < state->blocks[best].bytes))
            best = (long)i;
    }
    return best;
}

static rlkd_status pool_new_block(rlkd_context *ctx, cuda_state *state,
                                  size_t bytes, void **out)
{
    if (state->count == state->capacity) {
        size_t capacity = state->capacity ? 2 * state->capacity : 64;
        pool_block *grown = (pool_block *)realloc(
            state->blocks, capacity * sizeof *grown);
        if (!grown)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "cuda: out of host memory for the memory pool");
        state->blocks = grown;
        state->capacity = capacity;
    }
    cudaError_t err = cudaMalloc(out, bytes);
    if (err != cudaSuccess) {
        cudaGetLastError();
        pool_trim(state);
        err = cudaMalloc(out, bytes);
    }
    if (err != cudaSuccess) {
        cudaGetLastError();
        *out = NULL;
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "cuda: cannot allocate %zu bytes on device %d: %s",
                         bytes, ctx->device_index, cudaGetErrorString(err));
    }
    state->blocks[state->count++] = (pool_block){*out, bytes, 1};
    return RLKD_OK;
}

extern "C" rlkd_status rlkd_cuda_alloc(rlkd_context *ctx, void **out,
                                       size_t bytes)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(ctx->device_index), "cudaSetDevice"));
    cuda_state *state = (cuda_state *)ctx->backend_state;
    size_t size = pool_size(bytes);
    pthread_mutex_lock(&state->lock);
    long found = pool_find(state, size);
    rlkd_status status = RLKD_OK;
    if (found >= 0) {
        state->blocks[found].in_use = 1;
        *out = state->blocks[found].ptr;
    } else {
        status = pool_new_block(ctx, state, size, out);
    }
    pthread_mutex_unlock(&state->lock);
    return status;
}

extern "C" void rlkd_cuda_release(rlkd_context *ctx, void *ptr)
{
    cuda_state *state = (cuda_state *)ctx->backend_state;
    if (!ptr)
        return;
    pthread_mutex_lock(&state->lock);
    for (size_t i = 0; i < state->count; i++)
        if (state->blocks[i].ptr == ptr) {
            state->blocks[i].in_use = 0;
            break;
        }
    pthread_mutex_unlock(&state->lock);
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
