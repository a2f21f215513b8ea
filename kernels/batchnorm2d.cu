/*
 * Batch normalisation over (N,H,W) on the GPU: the same arithmetic as
 * lib/cpu/batchnorm2d.c. The per-channel sums run over a grid of
 * (channel, chunk) blocks, each block summing its chunk of the channel's
 * N*H*W values in double and writing one partial sum; a second pass adds a
 * channel's partials in chunk order. Nothing depends on timing, so the
 * results are the same on every run. Synchronised batch norm hands the
 * summed statistics (device memory) to the sum hook between the passes,
 * laid out as the CPU's: forward [sum x: C][count][sum (x-centre)^2: C],
 * backward [sum dy: C][sum dy*(x-mean): C][count].
 */
#include "cuda.h"
#include "../lib/core/batchnorm_stats.h"
#include "cuda_common.cuh"
#include "reduce.cuh"

/* A chunk gives each thread at least this many values (fewer, and the
 * partial sums cost more than they save); at most this many chunks make up
 * a channel (more is parallelism the large shapes have anyway). */
enum { BN_MIN_PER_THREAD = 8, BN_MAX_CHUNKS = 64 };

/* Values a thread loads at once: one load in flight per thread leaves most
 * of the memory bandwidth unused. */
enum { BN_BATCH = 4 };

/*
 * One thread's share of channel blockIdx.x's N*H*W values in a grid of
 * (channels, chunks) blocks: values k = chunk * blockDim + thread, then on
 * by chunks * blockDim, so consecutive threads read consecutive addresses.
 * Value k lies in sample k / hw at k % hw; the walk keeps its address by
 * additions, not a division per value, and hands out BN_BATCH positions at
 * a time.
 */
struct channel_walk {
    long long k, count, stride;
    size_t at, step_at, plane_gap;
    int j, step_j, hw;
};

__device__ __forceinline__ channel_walk channel_walk_begin(int n, int c,
                                                           int hw)
{
    channel_walk w;
    const size_t sample = (size_t)c * hw;
    w.count = (long long)n * hw;
    w.stride = (long long)gridDim.y * blockDim.x;
    w.k = (long long)blockIdx.y * blockDim.x + threadIdx.x;
    w.hw = hw;
    w.j = (int)(w.k % hw);
    w.at = (size_t)(w.k / hw) * sample + (size_t)blockIdx.x * hw + w.j;
    w.step_j = (int)(w.stride % hw);
    w.step_at = (size_t)(w.stride / hw) * sample + w.step_j;
    w.plane_gap = sample - hw;
    return w;
}

/* The walk's next positions, up to BN_BATCH of them: at[0, count). */
struct channel_batch {
    size_t at[BN_BATCH];
    int count;
};

__device__ __forceinline__ channel_batch channel_walk_take(channel_walk *w)
{
    channel_batch b;
    b.count = 0;
    for (int u = 0; u < BN_BATCH; u++) {
        b.at[u] = w->at;
        if (w->k < w->count) {
            b.count = u + 1;
            w->k += w->stride;
            w->j += w->step_j;
            w->at += w->step_at;
            if (w->j >= w->hw) {
                w->j -= w->hw;
                w->at += w->plane_gap;
            }
        }
    }
    return b;
}

/* Block (ch, chunk) writes its chunk's sum of x, or with `squares` of
 * (x - centre)^2, to partials[chunk * c + ch]. The centre is the CPU's: the
 * mean rounded to float, from stats (the forward layout, sums done). */
template <bool squares>
__global__ void rlkd_batchnorm2d_moment_kernel(double *partials,
                                               const float *x,
                                               const double *stats, int n,
                                               int c, int hw)
{
    const int ch = blockIdx.x;
    const float centre = squares ? (float)(stats[ch] / stats[c]) : 0.0f;
    double sum = 0.0;
    for (channel_walk w = channel_walk_begin(n, c, hw); w.k < w.count;) {
        const channel_batch b = channel_walk_take(&w);
        /* Past the end, the centre: it adds an exact 0. */
        float v[BN_BATCH];
        for (int u = 0; u < BN_BATCH; u++)
            v[u] = u < b.count ? x[b.at[u]] : centre;
        for (int u = 0; u < BN_BATCH; u++) {
            const double d = v[u] - centre;
            sum += squares ? d * d : d;
        }
    }
    sum = rlkd_block_sum(sum);
    if (threadIdx.x == 0)
        partials[(size_t)blockIdx.y * c + ch] = sum;
}

/* Block (ch, chunk) writes its chunk's sum of dy to partials[chunk * 2c +
 * ch] and of dy * (x - mean) to partials[chunk * 2c + c + ch]. */
__global__ void rlkd_batchnorm2d_grad_sums_kernel(double *partials,
                                                  const float *dy,
                                                  const float *x,
                                                  const float *save_mean,
                                                  int n, int c, int hw)
{
    const int ch = blockIdx.x;
    const float centre = save_mean[ch];
    double sum_dy = 0.0, sum_dy_centred = 0.0;
    for (channel_walk w = channel_walk_begin(n, c, hw); w.k < w.count;) {
        const channel_batch b = channel_walk_take(&w);
        /* Past the end, dy = 0 and x = the centre: they add exact 0s. */
        float g[BN_BATCH], v[BN_BATCH];
        for (int u = 0; u < BN_BATCH; u++) {
            g[u] = u < b.count ? dy[b.at[u]] : 0.0f;
            v[u] = u < b.count ? x[b.at[u]] : centre;
        }
        for (int u = 0; u < BN_BATCH; u++) {
            sum_dy += g[u];
            sum_dy_centred += (double)g[u] * (v[u] - centre);
        }
    }
    sum_dy = rlkd_block_sum(sum_dy);
    sum_dy_centred = rlkd_block_sum(sum_dy_centred);
    if (threadIdx.x == 0) {
        double *row = partials + (size_t)blockIdx.y * 2 * c;
        row[ch] = sum_dy;
        row[c + ch] = sum_dy_centred;
    }
}

/* sums[k] = partials[chunk * width + k] added in chunk order, for k <
 * width; with count_out, *count_out = count as well (the statistics'
 * element count goes with them to the sum hook). */
__global__ void rlkd_batchnorm2d_chunk_sums_kernel(double *sums,
                                                   double *count_out,
                                                   const double *partials,
                                                   int width, int chunks,
                                                   double count)
{
    for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < width;
         k += gridDim.x * blockDim.x) {
        double sum = 0.0;
        for (int chunk = 0; chunk < chunks; chunk++)
            sum += partials[(size_t)chunk * width + k];
        sums[k] = sum;
    }
    if (count_out && blockIdx.x == 0 && threadIdx.x == 0)
        *count_out = count;
}

/* dgamma += sum(dy * xhat), dbeta += sum(dy): this rank's sums (the
 * backward layout, before any sum over the ranks). Either may be NULL. */
__global__ void rlkd_batchnorm2d_param_grads_kernel(float *dgamma,
                                                    float *dbeta,
                                                    const double *stats,
                                                    const float *save_invstd,
                                                    int c)
{
    for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c;
         ch += gridDim.x * blockDim.x) {
        if (dgamma)
            dgamma[ch] += (float)(stats[c + ch] * save_invstd[ch]);
        if (dbeta)
            dbeta[ch] += (float)stats[ch];
    }
}

/* y = x * scale + shift per channel, scale and shift from the batch's
 * statistics (stats, forward layout) or, with stats NULL, the running
 * ones. Block (ch, 0) also writes the channel's saved statistics and, in
 * training, updates the running ones. */
__global__ void rlkd_batchnorm2d_normalise_kernel(
    float *y, float *save_mean, float *save_invstd, float *running_mean,
    float *running_var, const float *x, const float *gamma, const float *beta,
    const double *stats, int n, int c, int hw, float momentum, float eps)
{
    __shared__ float scale_shift[2];
    const int ch = blockIdx.x;
    if (threadIdx.x == 0) {
        double mean, invstd;
        rlkd_batchnorm_channel_stats(&mean, &invstd, running_mean, running_var,
                                     stats, c, ch,
                                     running_mean && blockIdx.y == 0,
                                     momentum, eps);
        if (blockIdx.y == 0) {
            if (save_mean)
                save_mean[ch] = (float)mean;
            if (save_invstd)
                save_invstd[ch] = (float)invstd;
        }
        scale_shift[0] = (float)(gamma[ch] * invstd);
        scale_shift[1] = (float)(beta[ch] - mean * gamma[ch] * invstd);
    }
    __syncthreads();
    const float scale = scale_shift[0], shift = scale_shift[1];
    for (channel_walk w = channel_walk_begin(n, c, hw); w.k < w.count;) {
        const channel_batch b = channel_walk_take(&w);
        float v[BN_BATCH];
        for (int u = 0; u < BN_BATCH; u++)
            v[u] = u < b.count ? x[b.at[u]] : 0.0f;
        for (int u = 0; u < BN_BATCH; u++)
            if (u < b.count)
                y[b.at[u]] = v[u] * scale + shift;
    }
}

/* dx = dy * scale + (x - mean) * slope + offset per channel: through the
 * batch's statistics with stats (backward layout, summed over the ranks),
 * dx = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)); frozen
 * statistics (stats NULL), dx = gamma*invstd * dy. */
__global__ void rlkd_batchnorm2d_input_grad_kernel(
    float *dx, const float *dy, const float *x, const float *gamma,
    const float *save_mean, const float *save_invstd, const double *stats,
    int n, int c, int hw)
{
    __shared__ float terms[4];
    const int ch = blockIdx.x;
    if (threadIdx.x == 0) {
        const double invstd = save_invstd[ch];
        const double scale = gamma[ch] * invstd;
        terms[0] = (float)scale;
        terms[1] = 0.0f;
        terms[2] = 0.0f;
        terms[3] = save_mean[ch];
        if (stats) {
            const double count = stats[2 * c];
            const double sum_dy_xhat = stats[c + ch] * invstd;
            terms[1] = (float)(-scale * invstd * sum_dy_xhat / count);
            terms[2] = (float)(-scale * stats[ch] / count);
        }
    }
    __syncthreads();
    const float dy_scale = terms[0], x_slope = terms[1];
    const float mean_dy_term = terms[2], centre = terms[3];
    for (channel_walk w = channel_walk_begin(n, c, hw); w.k < w.count;) {
        const channel_batch b = channel_walk_take(&w);
        float g[BN_BATCH], v[BN_BATCH];
        for (int u = 0; u < BN_BATCH; u++) {
            g[u] = u < b.count ? dy[b.at[u]] : 0.0f;
            v[u] = u < b.count ? x[b.at[u]] : 0.0f;
        }
        for (int u = 0; u < BN_BATCH; u++)
            if (u < b.count)
                dx[b.at[u]] = g[u] * dy_scale + (v[u] - centre) * x_slope +
                              mean_dy_term;
    }
}

/* Chunks per channel for n samples of hw values. */
static int chunks_per_channel(int n, int hw)
{
    const long long chunks =
        (long long)n * hw / (RLKD_CUDA_BLOCK * BN_MIN_PER_THREAD);
    return chunks < 1 ? 1 : chunks > BN_MAX_CHUNKS ? BN_MAX_CHUNKS
                                                   : (int)chunks;
}

static rlkd_status sum_over_ranks(const rlkd_sum_hook *sync, double *values,
                                  int count)
{
    return sync ? sync->sum(sync->user, values, count) : RLKD_OK;
}

/* Adds the chunks' partials into sums[0, width), and the count into
 * sums[width] when with_count. */
static rlkd_status add_chunks(rlkd_context *ctx, double *sums,
                              const double *partials, int width, int chunks,
                              int with_count, double count)
{
    RLKD_LAUNCH(rlkd_cuda_blocks((size_t)width), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_batchnorm2d_chunk_sums_kernel)(
        sums, with_count ? sums + width : NULL, partials, width, chunks,
        count);
    return rlkd_cuda_launched("rlkd_batchnorm2d_chunk_sums_kernel");
}

/* The batch's statistics into stats (forward layout), over the ranks with
 * a sync hook: the sums of x and the count, then the squares about the
 * mean, each summed over the ranks before the next pass uses it. */
static rlkd_status batch_moments(rlkd_context *ctx, double *stats,
                                 double *partials, const float *x, int n,
                                 int c, int hw, const rlkd_sum_hook *sync)
{
    const int chunks = chunks_per_channel(n, hw);
    const dim3 grid((unsigned)c, (unsigned)chunks);
    RLKD_LAUNCH(grid, RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_batchnorm2d_moment_kernel<false>)(partials, x, stats, n,
                                                        c, hw);
    RLKD_TRY(rlkd_cuda_launched("rlkd_batchnorm2d_moment_kernel"));
    RLKD_TRY(add_chunks(ctx, stats, partials, c, chunks, 1, (double)n * hw));
    RLKD_TRY(sum_over_ranks(sync, stats, c + 1));
    RLKD_LAUNCH(grid, RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_batchnorm2d_moment_kernel<true>)(partials, x, stats, n,
                                                       c, hw);
    RLKD_TRY(rlkd_cuda_launched("rlkd_batchnorm2d_moment_kernel"));
    RLKD_TRY(add_chunks(ctx, stats + c + 1, partials, c, chunks, 0, 0.0));
    return sum_over_ranks(sync, stats + c + 1, c);
}

/* Scratch for either direction: the statistics (2C+1 doubles), then the
 * chunks' partial sums (up to 2C per chunk). */
static size_t scratch_doubles(int n, int c, int hw)
{
    return (size_t)2 * c + 1 + (size_t)chunks_per_channel(n, hw) * 2 * c;
}

extern "C" rlkd_status rlkd_cuda_batchnorm2d_forward(
    rlkd_context *ctx, float *y, float *save_mean, float *save_invstd,
    float *running_mean, float *running_var, const float *x,
    const float *gamma, const float *beta, int n, int c, int hw, int training,
    float momentum, float eps, const rlkd_sum_hook *sync)
{
    void *scratch = NULL;
    double *stats = NULL;
    rlkd_status status = RLKD_OK;
    if (training) {
        RLKD_TRY(rlkd_cuda_alloc(ctx, &scratch,
                                 scratch_doubles(n, c, hw) * sizeof(double)));
        stats = (double *)scratch;
        status = batch_moments(ctx, stats, stats + 2 * c + 1, x, n, c, hw,
                               sync);
    }
    if (status == RLKD_OK) {
        const dim3 grid((unsigned)c, (unsigned)chunks_per_channel(n, hw));
        RLKD_LAUNCH(grid, RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_batchnorm2d_normalise_kernel)(
            y, save_mean, save_invstd, running_mean, running_var, x, gamma,
            beta, stats, n, c, hw, momentum, eps);
        status = rlkd_cuda_launched("rlkd_batchnorm2d_normalise_kernel");
    }
    rlkd_cuda_release(ctx, scratch);
    return status;
}

/* The backward's work once its scratch is there: the sums, the parameter
 * gradients from this rank's sums, then dx through the sums over the
 * ranks. */
static rlkd_status batchnorm2d_backward(
    rlkd_context *ctx, double *stats, double *partials, float *dx,
    float *dgamma, float *dbeta, const float *dy, const float *x,
    const float *gamma, const float *save_mean, const float *save_invstd,
    int n, int c, int hw, int training, const rlkd_sum_hook *sync)
{
    const int chunks = chunks_per_channel(n, hw);
    const dim3 grid((unsigned)c, (unsigned)chunks);
    /* dx through frozen statistics needs no sums. */
    const int through_batch = training && dx;
    if (through_batch || dgamma || dbeta) {
        RLKD_LAUNCH(grid, RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_batchnorm2d_grad_sums_kernel)(partials, dy, x,
                                                       save_mean, n, c, hw);
        RLKD_TRY(rlkd_cuda_launched("rlkd_batchnorm2d_grad_sums_kernel"));
        RLKD_TRY(add_chunks(ctx, stats, partials, 2 * c, chunks, 1,
                            (double)n * hw));
    }
    if (dgamma || dbeta) {
        RLKD_LAUNCH(rlkd_cuda_blocks((size_t)c), RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_batchnorm2d_param_grads_kernel)(dgamma, dbeta, stats,
                                                         save_invstd, c);
        RLKD_TRY(rlkd_cuda_launched("rlkd_batchnorm2d_param_grads_kernel"));
    }
    if (!dx)
        return RLKD_OK;
    /* Frozen statistics take no batch sums: nothing to share. */
    if (through_batch)
        RLKD_TRY(sum_over_ranks(sync, stats, 2 * c + 1));
    RLKD_LAUNCH(grid, RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_batchnorm2d_input_grad_kernel)(
        dx, dy, x, gamma, save_mean, save_invstd,
        through_batch ? stats : NULL, n, c, hw);
    return rlkd_cuda_launched("rlkd_batchnorm2d_input_grad_kernel");
}

extern "C" rlkd_status rlkd_cuda_batchnorm2d_backward(
    rlkd_context *ctx, float *dx, float *dgamma, float *dbeta,
    const float *dy, const float *x, const float *gamma,
    const float *save_mean, const float *save_invstd, int n, int c, int hw,
    int training, const rlkd_sum_hook *sync)
{
    void *scratch;
    RLKD_TRY(rlkd_cuda_alloc(ctx, &scratch,
                             scratch_doubles(n, c, hw) * sizeof(double)));
    double *stats = (double *)scratch;
    const rlkd_status status = batchnorm2d_backward(
        ctx, stats, stats + 2 * c + 1, dx, dgamma, dbeta, dy, x, gamma,
        save_mean, save_invstd, n, c, hw, training, sync);
    rlkd_cuda_release(ctx, scratch);
    return status;
}
