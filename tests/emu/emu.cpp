/*
 * The CPU emulator's runtime (see cuda_runtime.h beside it): device memory
 * is host memory, streams run at once, and a kernel's threads are fibers
 * that a scheduler runs barrier to barrier. On x86-64 a fiber switch is six
 * pushes, a stack swap and six pops (fiber_switch below); elsewhere it is
 * ucontext's, which also saves the signal mask with a system call each
 * time, several times slower.
 */
#include "cuda_runtime.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif
#include <vector>

namespace rlkd_emu {

thread_local uint3 thread_idx, block_idx;
thread_local dim3 block_dim, grid_dim;

namespace {

enum fiber_state { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, FINISHED };

/* Kernels keep big tiles in registers; 256 KiB of stack is plenty. */
const size_t fiber_stack_bytes = 256 * 1024;
/* A lane's slot for warp collectives: an mma's 10 words fit. */
const size_t slot_bytes = 64;

/* A suspended fiber: its saved stack pointer (the callee-saved registers
 * are on its stack), or its ucontext. */
#if defined(__x86_64__)
typedef void *fiber_context;
#else
typedef ucontext_t fiber_context;
#endif

struct fiber {
    fiber_context context;
    fiber_state state;
    uint3 idx;
    unsigned warp_mask;
};

/* The block being run (kernels run one at a time, under kernel_lock). */
struct block_run {
    const char *kernel;
    const std::function<void()> *body;
    std::vector<fiber> fibers;
    std::vector<char *> stacks;
    std::vector<unsigned char> slots;
    fiber *current;
    fiber_context scheduler;

    ~block_run()
    {
        for (char *stack : stacks)
            std::free(stack);
    }
};

block_run run;
std::mutex kernel_lock;
thread_local cudaError_t last_error = cudaSuccess;

[[noreturn]] void die(const char *what)
{
    std::fprintf(stderr,
                 "cuda emulator: kernel %s, block (%u,%u,%u), thread "
                 "(%u,%u,%u): %s\n",
                 run.kernel, block_idx.x, block_idx.y, block_idx.z,
                 thread_idx.x, thread_idx.y, thread_idx.z, what);
    std::abort();
}

#if defined(__x86_64__)
/* fiber_switch(save, load): saves the callee-saved registers and the stack
 * pointer into *save, then resumes the fiber whose stack pointer is load
 * (System V ABI: rbx, rbp, r12-r15 are the callee's to keep). */
extern "C" void rlkd_emu_fiber_switch(void **save, void *load);
asm(".text\n"
    ".globl rlkd_emu_fiber_switch\n"
    ".hidden rlkd_emu_fiber_switch\n"
    ".type rlkd_emu_fiber_switch, @function\n"
    "rlkd_emu_fiber_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n"
    "  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n"
    "  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size rlkd_emu_fiber_switch, .-rlkd_emu_fiber_switch\n");

void switch_to(fiber_context *save, fiber_context *load)
{
    rlkd_emu_fiber_switch(save, *load);
}
#else
void switch_to(fiber_context *save, fiber_context *load)
{
    swapcontext(save, load);
}
#endif

/* A fiber's first code: the kernel's body, then back to the scheduler for
 * good (a finished fiber is never resumed). */
void fiber_entry(void)
{
    (*run.body)();
    run.current->state = FINISHED;
    switch_to(&run.current->context, &run.scheduler);
}

/* Readies fiber f to start at fiber_entry on `stack`. */
void fiber_prepare(fiber &f, char *stack)
{
#if defined(__x86_64__)
    /* What rlkd_emu_fiber_switch pops: six registers, then fiber_entry as
     * the return address; above it a zero where fiber_entry's own return
     * address would be, so it starts with the stack aligned as after a
     * call (rsp + 8 a multiple of 16). */
    uintptr_t top = ((uintptr_t)stack + fiber_stack_bytes) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;
    *--sp = (void *)fiber_entry;
    for (int r = 0; r < 6; r++)
        *--sp = nullptr;
    f.context = sp;
#else
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stack;
    f.context.uc_stack.ss_size = fiber_stack_bytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_entry, 0);
#endif
}

void wait_at(fiber_state state, unsigned mask)
{
    fiber *self = run.current;
    self->state = state;
    self->warp_mask = mask;
    switch_to(&self->context, &run.scheduler);
}

size_t self_index(void)
{
    return (size_t)(run.current - run.fibers.data());
}

unsigned char *slot(size_t thread) { return &run.slots[thread * slot_bytes]; }

/* Lanes of `mask` that exist in the warp starting at thread `base`. */
void check_mask(unsigned mask, size_t base, int lane, const char *what)
{
    if (!(mask & (1u << lane)))
        die(what);
    size_t n = run.fibers.size();
    for (int l = 0; l < 32; l++)
        if ((mask & (1u << l)) && base + (size_t)l >= n)
            die("a warp collective's mask names a lane beyond the block");
}

/* Releases the lanes of each warp whose whole mask waits at a warp
 * barrier; returns whether any were. */
bool release_warps(void)
{
    size_t n = run.fibers.size();
    bool released = false;
    for (size_t base = 0; base < n; base += 32) {
        for (size_t l = 0; l < 32 && base + l < n; l++) {
            fiber &f = run.fibers[base + l];
            if (f.state != AT_WARP_BARRIER)
                continue;
            unsigned mask = f.warp_mask;
            bool complete = true;
            for (int m = 0; m < 32; m++) {
                if (!(mask & (1u << m)))
                    continue;
                const fiber &other = run.fibers[base + (size_t)m];
                if (other.state == FINISHED)
                    die("a warp collective waits for a lane that has exited");
                if (other.state != AT_WARP_BARRIER ||
                    other.warp_mask != mask)
                    complete = false;
            }
            if (!complete)
                continue;
            for (int m = 0; m < 32; m++)
                if (mask & (1u << m))
                    run.fibers[base + (size_t)m].state = RUNNABLE;
            released = true;
        }
    }
    return released;
}

void run_block(void)
{
    size_t n = run.fibers.size();
    while (run.stacks.size() < n) {
        char *stack = (char *)std::malloc(fiber_stack_bytes);
        if (!stack)
            die("out of host memory for fiber stacks");
        run.stacks.push_back(stack);
    }
    for (size_t t = 0; t < n; t++) {
        fiber &f = run.fibers[t];
        f.state = RUNNABLE;
        f.idx.x = (unsigned)(t % block_dim.x);
        f.idx.y = (unsigned)(t / block_dim.x % block_dim.y);
        f.idx.z = (unsigned)(t / ((size_t)block_dim.x * block_dim.y));
        fiber_prepare(f, run.stacks[t]);
    }
    for (unsigned phase = 0;; phase++) {
        for (size_t k = 0; k < n; k++) {
            size_t t = phase % 2 == 0 ? k : n - 1 - k;
            fiber &f = run.fibers[t];
            if (f.state != RUNNABLE)
                continue;
            run.current = &f;
            thread_idx = f.idx;
            switch_to(&run.scheduler, &f.context);
        }
        size_t finished = 0, at_block = 0;
        for (const fiber &f : run.fibers) {
            finished += f.state == FINISHED;
            at_block += f.state == AT_BLOCK_BARRIER;
        }
        if (finished == n)
            return;
        if (release_warps())
            continue;
        if (at_block == n - finished) {
            if (finished > 0) {
                thread_idx = run.fibers[0].idx;
                die("__syncthreads is waited at while other threads of the "
                    "block have exited");
            }
            for (fiber &f : run.fibers)
                f.state = RUNNABLE;
            continue;
        }
        die("deadlock: threads wait at barriers that can never complete "
            "(__syncthreads in some threads, a warp collective in others)");
    }
}

} /* namespace */

void run_grid(const char *kernel, dim3 grid, dim3 block, size_t shared_bytes,
              const std::function<void()> &body)
{
    size_t threads = (size_t)block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 ||
        grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu ||
        grid.y > 65535 || grid.z > 65535 || shared_bytes > 48 * 1024) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    std::lock_guard<std::mutex> hold(kernel_lock);
    run.kernel = kernel;
    run.body = &body;
    if (shared_bytes != 0)
        die("dynamic shared memory is not emulated: use static __shared__");
    run.fibers.assign(threads, fiber());
    run.slots.assign(threads * slot_bytes, 0);
    grid_dim = grid;
    block_dim = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                block_idx.x = x;
                block_idx.y = y;
                block_idx.z = z;
                run_block();
            }
}

void sync_block(void) { wait_at(AT_BLOCK_BARRIER, 0); }

void warp_sync(unsigned mask)
{
    size_t self = self_index();
    check_mask(mask, self - self % 32, (int)(self % 32),
               "__syncwarp's mask leaves out the calling lane");
    wait_at(AT_WARP_BARRIER, mask);
}

void warp_exchange(unsigned mask, const void *value, void *out, size_t bytes,
                   int source)
{
    size_t self = self_index(), base = self - self % 32;
    check_mask(mask, base, (int)(self % 32),
               "a shuffle's mask leaves out the calling lane");
    if (source < 0 || source >= 32 || !(mask & (1u << source)))
        die("a shuffle reads a lane outside its mask");
    std::memcpy(slot(self), value, bytes);
    wait_at(AT_WARP_BARRIER, mask);
    std::memcpy(out, slot(base + (size_t)source), bytes);
    wait_at(AT_WARP_BARRIER, mask);
}

unsigned warp_ballot(unsigned mask, int predicate)
{
    size_t self = self_index(), base = self - self % 32;
    check_mask(mask, base, (int)(self % 32),
               "a ballot's mask leaves out the calling lane");
    *slot(self) = predicate != 0;
    wait_at(AT_WARP_BARRIER, mask);
    unsigned votes = 0;
    for (int l = 0; l < 32; l++)
        if ((mask & (1u << l)) && *slot(base + (size_t)l))
            votes |= 1u << l;
    wait_at(AT_WARP_BARRIER, mask);
    return votes;
}

/* The tensor cores read only the 19 bits of a TF32 operand. */
static float tf32_operand(uint32_t bits)
{
    return __uint_as_float(bits & 0xffffe000u);
}

void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2],
                      const float c[4])
{
    size_t self = self_index(), base = self - self % 32;
    check_mask(0xffffffffu, base, (int)(self % 32), "mma needs a full warp");
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    std::memcpy(slot(self), mine, sizeof mine);
    float accumulators[4] = {c[0], c[1], c[2], c[3]};
    wait_at(AT_WARP_BARRIER, 0xffffffffu);
    /* PTX ISA fragment layouts of m16n8k8 .tf32, with g = lane / 4 and
     * t = lane % 4: A a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4);
     * B b0 (k t, n g), b1 (k t+4, n g); C/D c0 (g, 2t), c1 (g, 2t+1),
     * c2 (g+8, 2t), c3 (g+8, 2t+1). */
    int lane = (int)(self % 32), g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; e++) {
        int row = g + (e >= 2 ? 8 : 0), col = 2 * t + e % 2;
        float sum = accumulators[e];
        for (int k = 0; k < 8; k++) {
            uint32_t a_words[6], b_words[6];
            std::memcpy(a_words, slot(base + (size_t)(row % 8 * 4 + k % 4)),
                        sizeof a_words);
            std::memcpy(b_words, slot(base + (size_t)(col * 4 + k % 4)),
                        sizeof b_words);
            float a_value = tf32_operand(a_words[(row >= 8) + 2 * (k >= 4)]);
            float b_value = tf32_operand(b_words[4 + (k >= 4)]);
            sum += a_value * b_value;
        }
        d[e] = sum;
    }
    wait_at(AT_WARP_BARRIER, 0xffffffffu);
}

} /* namespace rlkd_emu */

/* ---- the runtime API: one device, host memory, synchronous streams ---- */

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    /* CUDA's allocations are aligned to at least 256 bytes; the size stays
     * exact, so that memcheck reports an access past the end. */
    if (posix_memalign(ptr, 256, bytes ? bytes : 1) != 0) {
        *ptr = nullptr;
        return cudaErrorMemoryAllocation;
    }
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr)
{
    std::free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes,
                       cudaMemcpyKind kind)
{
    (void)kind;
    std::memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                            cudaMemcpyKind kind, cudaStream_t stream)
{
    (void)stream;
    return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes,
                            cudaStream_t stream)
{
    (void)stream;
    std::memset(dst, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    (void)stream;
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream)
{
    (void)stream;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaGetLastError(void)
{
    cudaError_t err = rlkd_emu::last_error;
    rlkd_emu::last_error = cudaSuccess;
    return err;
}

cudaError_t cudaPeekAtLastError(void) { return rlkd_emu::last_error; }

const char *cudaGetErrorName(cudaError_t err)
{
    switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t err)
{
    switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory (emulated device)";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorNotReady: return "device not ready";
    }
    return "unknown error";
}
