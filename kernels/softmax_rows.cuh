/*
 * Row-by-row helpers shared by the CUDA loss ops (softmax_cross_entropy.cu,
 * kd_loss.cu), the twins of lib/cpu/softmax_rows.h: an online softmax
 * normaliser, so that a row's largest logit and its sum of exponentials
 * come from one read of the row; rows spread over a warp each (few classes)
 * or a block each (many); and the batch mean of the per-row losses, summed
 * in a fixed order so that a loss reproduces bit for bit.
 */
#ifndef RLKD_SOFTMAX_ROWS_CUH
#define RLKD_SOFTMAX_ROWS_CUH

#include "cuda.h"
#include "reduce.cuh"

#include <float.h>
#include <string.h>

/* ---- the online softmax normaliser ---- */

/* sum_j exp((x_j - max) * scale) over the logits x_j seen so far, max the
 * largest of them. Empty: max = -FLT_MAX rather than -inf, so that a -inf
 * logit adds exp(-inf) = 0 and two empty sums merge without inf - inf. */
struct rlkd_softmax_sum {
    float max, sum;
};

/* What adding a logit did: the factor the earlier terms were multiplied by
 * (a new largest logit shrinks them) and the new term itself, for callers
 * that carry a sum weighted by the same terms. */
struct rlkd_softmax_step {
    float rescale, term;
};

__device__ __forceinline__ rlkd_softmax_sum rlkd_softmax_empty(void)
{
    rlkd_softmax_sum s = {-FLT_MAX, 0.0f};
    return s;
}

__device__ __forceinline__ rlkd_softmax_step
rlkd_softmax_add(rlkd_softmax_sum &s, float x, float scale)
{
    rlkd_softmax_step step;
    if (x > s.max) {
        step.rescale = expf((s.max - x) * scale);
        step.term = 1.0f;
        s.max = x;
        s.sum = s.sum * step.rescale + 1.0f;
    } else {
        step.rescale = 1.0f;
        step.term = expf((x - s.max) * scale);
        s.sum += step.term;
    }
    return step;
}

/* The factors applied to each side of a merge. */
struct rlkd_softmax_rescale {
    float mine, theirs;
};

/* s becomes the normaliser of both sets of logits. Bit for bit the same
 * whichever side is s (fmaxf, and products rounded before the sum, never
 * fused), so the lanes of a butterfly all end with the same bits. */
__device__ __forceinline__ rlkd_softmax_rescale
rlkd_softmax_merge(rlkd_softmax_sum &s, const rlkd_softmax_sum &other,
                   float scale)
{
    const float max = fmaxf(s.max, other.max);
    rlkd_softmax_rescale r;
    r.mine = expf((s.max - max) * scale);
    r.theirs = expf((other.max - max) * scale);
    s.max = max;
    s.sum = __fmul_rn(s.sum, r.mine) + __fmul_rn(other.sum, r.theirs);
    return r;
}

/* log sum_j exp(x_j / temperature) of a normaliser built with scale
 * 1 / temperature, in double as the CPU's rlkd_cpu_log_sum_exp. */
__device__ __forceinline__ double
rlkd_softmax_log_sum(const rlkd_softmax_sum &s, double temperature)
{
    return s.max / temperature + log((double)s.sum);
}

/* ---- rows over threads ---- */

/* Rows of more classes than this get a block each (RLKD_CUDA_BLOCK threads),
 * fewer a warp each: a warp's lanes then have at most 32 logits each. */
enum { RLKD_ROW_WARP_MAX_CLASSES = 1024 };

/* The row a thread works on and its first class: a row per group of
 * ROW_THREADS threads (32: a warp; RLKD_CUDA_BLOCK: the block). */
template <int ROW_THREADS> __device__ __forceinline__ int rlkd_row_index(void)
{
    static_assert(ROW_THREADS == 32 || ROW_THREADS == RLKD_CUDA_BLOCK,
                  "a row takes a warp or the block");
    return (int)(blockIdx.x * (RLKD_CUDA_BLOCK / ROW_THREADS) +
                 threadIdx.x / ROW_THREADS);
}

template <int ROW_THREADS>
__device__ __forceinline__ int rlkd_row_first_class(void)
{
    return (int)(threadIdx.x % ROW_THREADS);
}

/* Calls step(j, load(j)) for the row's classes j that the calling thread
 * takes (first, first + ROW_THREADS, ... < k) in order, loading four of
 * them ahead of their steps: the online sums chain each step on the one
 * before, and loads issued together are in flight together. */
template <int ROW_THREADS, typename Load, typename Step>
__device__ __forceinline__ void rlkd_row_sweep(int k, Load load, Step step)
{
    enum { AHEAD = 4 };
    for (int base = rlkd_row_first_class<ROW_THREADS>(); base < k;
         base += AHEAD * ROW_THREADS) {
        decltype(load(0)) values[AHEAD] = {};
        for (int u = 0; u < AHEAD; u++)
            if (base + u * ROW_THREADS < k)
                values[u] = load(base + u * ROW_THREADS);
        for (int u = 0; u < AHEAD; u++)
            if (base + u * ROW_THREADS < k)
                step(base + u * ROW_THREADS, values[u]);
    }
}

/* value as read from lane (own lane ^ lane_mask), in 8-byte words (a
 * trivially copyable struct of any size). */
template <typename T>
__device__ __forceinline__ T rlkd_shfl_xor_words(const T &value,
                                                 int lane_mask)
{
    unsigned long long words[(sizeof(T) + 7) / 8] = {};
    memcpy(words, &value, sizeof(T));
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        words[i] = __shfl_xor_sync(0xffffffffu, words[i], lane_mask);
    T out;
    memcpy(&out, words, sizeof(T));
    return out;
}

/* Merges the accumulators of a row's ROW_THREADS threads, leaving the same
 * bits in every one of them: a butterfly within each warp (merge(a, b) must
 * give the bits merge(b, a) gives), then for a block the warps' results in
 * warp order. Every thread of the group calls it, and for a block every
 * thread of the block. */
template <int ROW_THREADS, typename Acc, typename Merge>
__device__ void rlkd_row_merge(Acc &acc, Merge merge)
{
    for (int lane_mask = 16; lane_mask > 0; lane_mask /= 2) {
        const Acc other = rlkd_shfl_xor_words(acc, lane_mask);
        merge(acc, other);
    }
    if constexpr (ROW_THREADS > 32) {
        __shared__ Acc warp_acc[ROW_THREADS / 32];
        /* A previous call's threads may still be reading warp_acc. */
        __syncthreads();
        if (threadIdx.x % 32 == 0)
            warp_acc[threadIdx.x / 32] = acc;
        __syncthreads();
        acc = warp_acc[0];
        for (int w = 1; w < ROW_THREADS / 32; w++)
            merge(acc, warp_acc[w]);
    }
}

/* ---- the batch mean ---- */

/* Device scratch of the mean: one partial sum per block and the count of
 * blocks done (zeroed before the launch). Both NULL when no loss is asked
 * for. */
struct rlkd_row_mean_scratch {
    double *partials;
    unsigned *blocks_done;
};

/* *out = (float)(sum over the grid of every thread's value / count), in an
 * order fixed by the grid alone: each block's sum goes to its partial, and
 * the last block to finish adds the partials in block order. Every thread
 * of every block calls it. As the CPU, the per-row losses come in rounded
 * to float and are summed in double. */
__device__ inline void rlkd_grid_mean(float *out, rlkd_row_mean_scratch scratch,
                                      double value, int count)
{
    __shared__ int last;
    const double block_total = rlkd_block_sum(value);
    if (threadIdx.x == 0) {
        scratch.partials[blockIdx.x] = block_total;
        /* The partial is visible to every block before the count says so. */
        __threadfence();
        last = atomicAdd(scratch.blocks_done, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (!last)
        return;
    /* volatile: other blocks' partials, never from a stale cache line. */
    const volatile double *partials = scratch.partials;
    double sum = 0.0;
    for (unsigned b = threadIdx.x; b < gridDim.x; b += blockDim.x)
        sum += partials[b];
    sum = rlkd_block_sum(sum);
    if (threadIdx.x == 0)
        *out = (float)(sum / count);
}

/* ---- launching ---- */

/* How a loss spreads n rows of k classes over the grid. */
struct rlkd_row_grid {
    unsigned blocks;
    int block_per_row;
};

static inline rlkd_row_grid rlkd_row_grid_for(int n, int k)
{
    rlkd_row_grid g;
    g.block_per_row = k > RLKD_ROW_WARP_MAX_CLASSES;
    const unsigned rows_per_block =
        g.block_per_row ? 1u : RLKD_CUDA_BLOCK / 32u;
    g.blocks = ((unsigned)n + rows_per_block - 1) / rows_per_block;
    return g;
}

/* The mean's scratch for `blocks` blocks, its count zeroed on the stream;
 * none when loss is NULL. */
static inline rlkd_status
rlkd_row_mean_scratch_get(rlkd_context *ctx, const float *loss,
                          unsigned blocks, rlkd_row_mean_scratch *scratch)
{
    scratch->partials = NULL;
    scratch->blocks_done = NULL;
    if (!loss)
        return RLKD_OK;
    void *memory;
    const size_t partial_bytes = (size_t)blocks * sizeof(double);
    RLKD_TRY(rlkd_cuda_alloc(ctx, &memory, partial_bytes + sizeof(unsigned)));
    scratch->partials = (double *)memory;
    scratch->blocks_done = (unsigned *)((char *)memory + partial_bytes);
    rlkd_status status = rlkd_cuda_check(
        cudaMemsetAsync(scratch->blocks_done, 0, sizeof(unsigned),
                        rlkd_cuda_stream(ctx)),
        "cudaMemsetAsync");
    if (status != RLKD_OK)
        rlkd_cuda_release(ctx, memory);
    return status;
}

/* Launches a loss kernel, kernel(loss, scratch, args...), as its
 * warp-per-row or block-per-row instantiation for [n, k] rows, with the
 * scratch of its batch mean (none when loss is NULL). */
template <typename... Params, typename... Args>
static rlkd_status rlkd_row_loss_launch(
    rlkd_context *ctx, const char *name,
    void (*per_warp)(float *, rlkd_row_mean_scratch, Params...),
    void (*per_block)(float *, rlkd_row_mean_scratch, Params...), float *loss,
    int n, int k, Args... args)
{
    const rlkd_row_grid grid = rlkd_row_grid_for(n, k);
    rlkd_row_mean_scratch scratch;
    RLKD_TRY(rlkd_row_mean_scratch_get(ctx, loss, grid.blocks, &scratch));
    void (*kernel)(float *, rlkd_row_mean_scratch, Params...) =
        grid.block_per_row ? per_block : per_warp;
    RLKD_LAUNCH(grid.blocks, RLKD_CUDA_BLOCK, 0, ctx, kernel)(loss, scratch,
                                                             args...);
    /* Work on the stream is ordered, so the scratch can go back to the
     * pool as soon as the kernel is queued. */
    if (scratch.partials)
        rlkd_cuda_release(ctx, scratch.partials);
    return rlkd_cuda_launched(name);
}

#endif
