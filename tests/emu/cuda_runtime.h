/*
 * A CPU emulator of the CUDA runtime, for testing rlkd's kernels on machines
 * without a GPU. kernels/cuda_common.cuh includes <cuda_runtime.h>; built
 * with -Itests/emu (mk/emu.mk) that include finds this file instead, and the
 * same kernels (kernels/, .cu) compile as host C++ into an "emulated CUDA" backend.
 *
 * What it models, and so what the emulated tests check:
 *  - the grid: every block runs, one at a time, each thread of a block as a
 *    fiber with its own stack, so a kernel's indexing, bounds and
 *    reductions are exercised exactly as written;
 *  - __syncthreads and the warp collectives (__shfl*_sync, __syncwarp,
 *    __ballot_sync, tensor-core mma through kernels/mma.cuh) as barriers:
 *    between two barriers each thread runs alone, and the order of the
 *    threads alternates (forward, then backward) from one phase to the next,
 *    so a read of shared memory that lacks its barrier sees stale data;
 *  - the rules a GPU enforces by hanging or by undefined results: a
 *    __syncthreads some threads of the block never reach, a shuffle from a
 *    lane outside the mask, an over-sized launch. These end the program
 *    with a message naming the kernel (a test tool may; the library never).
 * What it does not model: timing, memory coalescing, bank conflicts, the
 * caches, and the hardware's own rounding in fused multiply-adds.
 *
 * Host threads: kernels run one at a time under a lock, since a block's
 * __shared__ arrays are function-level statics here.
 */
#ifndef RLKD_EMU_CUDA_RUNTIME_H
#define RLKD_EMU_CUDA_RUNTIME_H

#ifndef __cplusplus
#error "tests/emu/cuda_runtime.h is for the emulated CUDA build (C++)"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#define RLKD_CUDA_EMULATED 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __restrict__ __restrict
/* One block runs at a time, so a function-level static is the block's. */
#define __shared__ static

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1)
        : x(x_), y(y_), z(z_) {}
};

/* The vector type of 16-byte loads and stores (CUDA's is 16-aligned too). */
struct alignas(16) float4 {
    float x, y, z, w;
};

static inline float4 make_float4(float x, float y, float z, float w)
{
    float4 v = {x, y, z, w};
    return v;
}

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorNotReady = 600
} cudaError_t;

typedef void *cudaStream_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaMalloc(void **ptr, size_t bytes);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes,
                       cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                            cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes,
                            cudaStream_t stream = 0);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t err);
const char *cudaGetErrorName(cudaError_t err);

template <typename T>
static inline cudaError_t cudaMalloc(T **ptr, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), bytes);
}

namespace rlkd_emu {

/* The running thread's coordinates (set by the scheduler at each switch). */
extern thread_local uint3 thread_idx, block_idx;
extern thread_local dim3 block_dim, grid_dim;

/* Runs body once per thread of the grid; kernel names the kernel in
 * messages. Sets the last error for a launch CUDA would refuse. */
void run_grid(const char *kernel, dim3 grid, dim3 block, size_t shared_bytes,
              const std::function<void()> &body);

void sync_block(void);
/* Every lane of `mask` in the calling thread's warp stores `bytes` of
 * `value`; then each reads lane `source`'s (a lane of the mask). */
void warp_exchange(unsigned mask, const void *value, void *out, size_t bytes,
                   int source);
unsigned warp_ballot(unsigned mask, int predicate);
void warp_sync(unsigned mask);
/* mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 for the warp. */
void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2],
                      const float c[4]);

template <typename... Params> struct launch_config {
    const char *name;
    dim3 grid, block;
    size_t shared_bytes;
    void (*kernel)(Params...);

    template <typename... Args> void operator()(Args &&...args) const
    {
        /* Arguments are copied at the launch, as CUDA does. */
        std::tuple<Params...> copied(std::forward<Args>(args)...);
        void (*k)(Params...) = kernel;
        run_grid(name, grid, block, shared_bytes,
                 [&copied, k]() { std::apply(k, copied); });
    }
};

template <typename... Params>
launch_config<Params...> launch(const char *name, dim3 grid, dim3 block,
                                size_t shared_bytes, void (*kernel)(Params...))
{
    return launch_config<Params...>{name, grid, block, shared_bytes, kernel};
}

static inline int lane_id(void)
{
    unsigned linear = thread_idx.x +
                      block_dim.x * (thread_idx.y + block_dim.y * thread_idx.z);
    return (int)(linear % 32u);
}

template <typename T>
static inline T shuffle_from(unsigned mask, T value, int source)
{
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    T out;
    warp_exchange(mask, &value, &out, sizeof(T), source);
    return out;
}

} /* namespace rlkd_emu */

#define threadIdx (::rlkd_emu::thread_idx)
#define blockIdx (::rlkd_emu::block_idx)
#define blockDim (::rlkd_emu::block_dim)
#define gridDim (::rlkd_emu::grid_dim)
#define warpSize 32

#define RLKD_LAUNCH(grid, block, shared_bytes, ctx, ...)                     \
    ((void)(ctx), ::rlkd_emu::launch(#__VA_ARGS__, (grid), (block),          \
                                     (shared_bytes), __VA_ARGS__))

static inline void __syncthreads(void) { ::rlkd_emu::sync_block(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    ::rlkd_emu::warp_sync(mask);
}
static inline void __threadfence(void) {}

template <typename T>
static inline T __shfl_sync(unsigned mask, T value, int source, int width = 32)
{
    int lane = ::rlkd_emu::lane_id();
    return ::rlkd_emu::shuffle_from(mask, value,
                                    lane / width * width + source % width);
}

template <typename T>
static inline T __shfl_down_sync(unsigned mask, T value, unsigned delta,
                                 int width = 32)
{
    int lane = ::rlkd_emu::lane_id();
    int source = lane % width + (int)delta < width ? lane + (int)delta : lane;
    return ::rlkd_emu::shuffle_from(mask, value, source);
}

template <typename T>
static inline T __shfl_up_sync(unsigned mask, T value, unsigned delta,
                               int width = 32)
{
    int lane = ::rlkd_emu::lane_id();
    int source = lane % width >= (int)delta ? lane - (int)delta : lane;
    return ::rlkd_emu::shuffle_from(mask, value, source);
}

template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T value, int lane_mask,
                                int width = 32)
{
    int lane = ::rlkd_emu::lane_id();
    int source = lane ^ lane_mask;
    if (source / width != lane / width)
        source = lane;
    return ::rlkd_emu::shuffle_from(mask, value, source);
}

static inline unsigned __ballot_sync(unsigned mask, int predicate)
{
    return ::rlkd_emu::warp_ballot(mask, predicate);
}
static inline int __any_sync(unsigned mask, int predicate)
{
    return ::rlkd_emu::warp_ballot(mask, predicate) != 0;
}
static inline int __all_sync(unsigned mask, int predicate)
{
    return ::rlkd_emu::warp_ballot(mask, predicate) == mask;
}

/* Fibers switch only at barriers, so a read-modify-write is atomic. */
template <typename T> static inline T atomicAdd(T *address, T value)
{
    T old = *address;
    *address = old + value;
    return old;
}

/* The device math library's names (glibc declares __expf and __logf). */
template <typename A, typename B>
static inline typename std::common_type<A, B>::type min(A a, B b)
{
    return b < a ? b : a;
}
template <typename A, typename B>
static inline typename std::common_type<A, B>::type max(A a, B b)
{
    return a < b ? b : a;
}
template <typename T> static inline T __ldg(const T *p) { return *p; }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x)
{
    return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
}
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline unsigned __float_as_uint(float x)
{
    unsigned u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
static inline float __uint_as_float(unsigned u)
{
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

#endif
