/*
 * The CUDA emulator's own tests: that it runs kernels as a GPU would where
 * rlkd's tests rely on it (grids, barriers, shuffles, ballots, the
 * tensor-core product in the PTX ISA's fragment layouts, TF32 rounding),
 * and that it exposes the bugs it claims to (a read of shared memory
 * without its barrier, a barrier some threads never reach, a launch a GPU
 * refuses). Prints PASS/FAIL lines for tests/run.sh.
 */
#include "cuda_runtime.h"
#include "../../kernels/mma.cuh"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

static int failures;

static void report(const char *name, bool ok, const std::string &why)
{
    if (ok) {
        std::printf("PASS emu/%s\n", name);
    } else {
        std::printf("FAIL emu/%s: %s\n", name, why.c_str());
        failures++;
    }
}

/* ---- kernels ---- */

__global__ void block_sums_kernel(long *sums)
{
    __shared__ long warp_sums[32];
    long value = (long)(blockIdx.x * blockDim.x + threadIdx.x);
    for (int offset = 16; offset > 0; offset /= 2)
        value += __shfl_down_sync(0xffffffffu, value, offset);
    if (threadIdx.x % 32 == 0)
        warp_sums[threadIdx.x / 32] = value;
    __syncthreads();
    if (threadIdx.x == 0) {
        long total = 0;
        for (unsigned w = 0; w < blockDim.x / 32; w++)
            total += warp_sums[w];
        sums[blockIdx.x] = total;
    }
}

/* Each thread reads its neighbour's slot; with_barrier 0 leaves out the
 * __syncthreads that makes the read safe. */
__global__ void neighbour_kernel(int *out, int generation, int with_barrier)
{
    __shared__ int slots[64];
    slots[threadIdx.x] = generation * 1000 + (int)threadIdx.x;
    if (with_barrier)
        __syncthreads();
    out[threadIdx.x] = slots[(threadIdx.x + 1) % blockDim.x];
}

__global__ void ballot_kernel(unsigned *votes)
{
    votes[threadIdx.x] = __ballot_sync(0xffffffffu, threadIdx.x % 3 == 0);
}

/* One warp: D = A (16x8) * B (8x8) + C through the fragment layouts. */
__global__ void mma_kernel(float *d, const float *a, const float *b,
                           const float *c)
{
    int lane = (int)threadIdx.x, g = lane / 4, t = lane % 4;
    uint32_t a_fragment[4] = {
        rlkd_to_tf32(a[g * 8 + t]), rlkd_to_tf32(a[(g + 8) * 8 + t]),
        rlkd_to_tf32(a[g * 8 + t + 4]), rlkd_to_tf32(a[(g + 8) * 8 + t + 4])};
    uint32_t b_fragment[2] = {rlkd_to_tf32(b[t * 8 + g]),
                              rlkd_to_tf32(b[(t + 4) * 8 + g])};
    float c_fragment[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1],
                           c[(g + 8) * 8 + 2 * t], c[(g + 8) * 8 + 2 * t + 1]};
    float d_fragment[4];
    rlkd_mma_m16n8k8_tf32(d_fragment, a_fragment, b_fragment, c_fragment);
    d[g * 8 + 2 * t] = d_fragment[0];
    d[g * 8 + 2 * t + 1] = d_fragment[1];
    d[(g + 8) * 8 + 2 * t] = d_fragment[2];
    d[(g + 8) * 8 + 2 * t + 1] = d_fragment[3];
}

__global__ void early_exit_kernel(int *out)
{
    if (threadIdx.x > 0)
        return;
    __syncthreads();
    out[0] = 1;
}

__global__ void barrier_loop_kernel(float *out, int rounds)
{
    __shared__ float values[256];
    float value = (float)threadIdx.x;
    for (int r = 0; r < rounds; r++) {
        values[threadIdx.x] = value;
        __syncthreads();
        value = values[(threadIdx.x + 1) % blockDim.x];
        __syncthreads();
    }
    out[blockIdx.x * blockDim.x + threadIdx.x] = value;
}

/* ---- cases ---- */

static void grid_and_shuffles(void)
{
    const int blocks = 3, threads = 256;
    std::vector<long> sums(blocks);
    RLKD_LAUNCH(blocks, threads, 0, 0, block_sums_kernel)(sums.data());
    bool ok = cudaGetLastError() == cudaSuccess;
    for (int b = 0; b < blocks; b++) {
        long first = (long)b * threads, last = first + threads - 1;
        ok = ok && sums[b] == (first + last) * threads / 2;
    }
    report("grid_and_shuffles", ok, "block sums differ from the formula");
}

static void missing_barrier_is_exposed(void)
{
    const int threads = 64;
    std::vector<int> out(threads);
    RLKD_LAUNCH(1, threads, 0, 0, neighbour_kernel)(out.data(), 1, 1);
    RLKD_LAUNCH(1, threads, 0, 0, neighbour_kernel)(out.data(), 2, 0);
    int stale = 0;
    for (int t = 0; t < threads; t++)
        stale += out[t] != 2000 + (t + 1) % threads;
    report("missing_barrier_is_exposed", stale > 0,
           "a read without its barrier saw the new values");
    RLKD_LAUNCH(1, threads, 0, 0, neighbour_kernel)(out.data(), 3, 1);
    bool ok = true;
    for (int t = 0; t < threads; t++)
        ok = ok && out[t] == 3000 + (t + 1) % threads;
    report("barrier_orders_shared_memory", ok,
           "a read after __syncthreads saw stale values");
}

static void ballot(void)
{
    std::vector<unsigned> votes(32);
    RLKD_LAUNCH(1, 32, 0, 0, ballot_kernel)(votes.data());
    unsigned want = 0;
    for (int l = 0; l < 32; l += 3)
        want |= 1u << l;
    bool ok = true;
    for (unsigned v : votes)
        ok = ok && v == want;
    report("ballot", ok, "ballot bits differ");
}

static void mma_matches_product(void)
{
    /* Multiples of 1/8 below 16: exact in TF32 and in the float sums. */
    std::vector<float> a(16 * 8), b(8 * 8), c(16 * 8), d(16 * 8);
    for (int i = 0; i < 16 * 8; i++) {
        a[i] = (float)((i * 7) % 23 - 11) / 8.0f;
        c[i] = (float)((i * 5) % 13 - 6);
    }
    for (int i = 0; i < 8 * 8; i++)
        b[i] = (float)((i * 3) % 17 - 8) / 8.0f;
    RLKD_LAUNCH(1, 32, 0, 0, mma_kernel)(d.data(), a.data(), b.data(),
                                         c.data());
    bool ok = true;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            float want = c[i * 8 + j];
            for (int k = 0; k < 8; k++)
                want += a[i * 8 + k] * b[k * 8 + j];
            ok = ok && d[i * 8 + j] == want;
        }
    report("mma_matches_product", ok,
           "the m16n8k8 fragments do not give A*B+C");
}

static void tf32_rounding(void)
{
    /* TF32 keeps 10 mantissa bits: 1 + 2^-11 is a tie (away: up), 1 + 2^-12
     * rounds down, and a negative tie rounds away from zero too. */
    bool ok = __uint_as_float(rlkd_to_tf32(1.0f + 0x1p-11f)) == 1.0f + 0x1p-10f &&
              __uint_as_float(rlkd_to_tf32(1.0f + 0x1p-12f)) == 1.0f &&
              __uint_as_float(rlkd_to_tf32(-1.0f - 0x1p-11f)) ==
                  -1.0f - 0x1p-10f;
    report("tf32_rounding", ok, "cvt.rna.tf32 rounding differs");
}

static void invalid_launch_is_refused(void)
{
    std::vector<long> sums(1);
    RLKD_LAUNCH(1, 2048, 0, 0, block_sums_kernel)(sums.data());
    cudaError_t first = cudaGetLastError(), second = cudaGetLastError();
    report("invalid_launch_is_refused",
           first == cudaErrorInvalidConfiguration && second == cudaSuccess,
           "a block of 2048 threads was not refused (or the error stuck)");
}

/* A barrier that threads which returned never reach ends the program with
 * a message: run it in a child and read what it says. */
static void unreachable_barrier_ends_the_run(void)
{
    int pipe_ends[2];
    if (pipe(pipe_ends) != 0) {
        report("unreachable_barrier_ends_the_run", false, "pipe failed");
        return;
    }
    std::fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        dup2(pipe_ends[1], 2);
        close(pipe_ends[0]);
        int out = 0;
        RLKD_LAUNCH(1, 64, 0, 0, early_exit_kernel)(&out);
        _exit(0);
    }
    close(pipe_ends[1]);
    std::string said;
    char buffer[256];
    ssize_t got;
    while ((got = read(pipe_ends[0], buffer, sizeof buffer)) > 0)
        said.append(buffer, (size_t)got);
    close(pipe_ends[0]);
    int status = 0;
    waitpid(child, &status, 0);
    bool ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
              said.find("early_exit_kernel") != std::string::npos &&
              said.find("__syncthreads") != std::string::npos;
    report("unreachable_barrier_ends_the_run", ok,
           "the child did not abort naming the kernel: " + said);
}

/* Not a check: what a barrier costs, for sizing the emulated tests. */
static void barrier_cost(void)
{
    const int blocks = 16, threads = 256, rounds = 16;
    std::vector<float> out(blocks * threads);
    auto start = std::chrono::steady_clock::now();
    RLKD_LAUNCH(blocks, threads, 0, 0, barrier_loop_kernel)(out.data(), rounds);
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    bool ok = true;
    for (int i = 0; i < blocks * threads; i++)
        ok = ok && out[i] == (float)((i % threads + rounds) % threads);
    std::printf("# %d thread-phases in %.3f s: %.2f us each\n",
                blocks * threads * rounds * 2, seconds,
                seconds * 1e6 / (blocks * threads * rounds * 2));
    report("barrier_rounds", ok, "values moved wrongly between rounds");
}

int main(void)
{
    grid_and_shuffles();
    missing_barrier_is_exposed();
    ballot();
    mma_matches_product();
    tf32_rounding();
    invalid_launch_is_refused();
    unreachable_barrier_ends_the_run();
    barrier_cost();
    return failures ? 1 : 0;
}
