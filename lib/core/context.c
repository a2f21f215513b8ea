/* Contexts: which device, which backend table, engine, threads, stream
 * and seed. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* internal.h gives the C++ (CUDA) side a plain int where C has atomic_int:
 * the layouts agree only while these do. */
_Static_assert(sizeof(atomic_int) == sizeof(int) &&
                   _Alignof(atomic_int) == _Alignof(int),
               "atomic_int must have int's size and alignment");

static int default_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Whether a context on `kind` may run on `engine`; `op` leads the message. */
static rlkd_status check_engine(rlkd_device kind, rlkd_engine engine,
                                const char *op)
{
    switch (engine) {
    case RLKD_ENGINE_NATIVE:
        return RLKD_OK;
    case RLKD_ENGINE_CUDNN:
        if (kind != RLKD_DEVICE_CUDA)
            return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                             "%s: RLKD_ENGINE_CUDNN needs a CUDA context; a "
                             "CPU context has only the native engine", op);
        return rlkd_engines_load(op);
    default:
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: unknown engine %d",
                         op, (int)engine);
    }
}

/* A new context's engine: the one RLKD_CONV_ENGINE names. "cudnn" concerns
 * the CUDA backend alone, so a CPU context made beside a GPU one in the
 * same environment starts native. */
static rlkd_status engine_from_environment(rlkd_device kind,
                                           rlkd_engine *engine)
{
    const char *name = getenv("RLKD_CONV_ENGINE");
    *engine = RLKD_ENGINE_NATIVE;
    if (!name || !*name || strcmp(name, "native") == 0)
        return RLKD_OK;
    if (strcmp(name, "cudnn") != 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_context_create: RLKD_CONV_ENGINE is \"%s\"; "
                         "expected \"native\" or \"cudnn\"", name);
    if (kind != RLKD_DEVICE_CUDA)
        return RLKD_OK;
    *engine = RLKD_ENGINE_CUDNN;
    return check_engine(kind, *engine,
                        "rlkd_context_create (RLKD_CONV_ENGINE=cudnn)");
}

rlkd_status rlkd_context_create(rlkd_context **out, rlkd_device kind,
                                int device_index)
{
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_context_create: out is NULL");
    *out = NULL;
    const rlkd_backend *backend;
    switch (kind) {
    case RLKD_DEVICE_CPU:
        if (device_index != 0)
            return rlkd_fail(RLKD_ERR_NO_DEVICE,
                             "rlkd_context_create: CPU device index must be "
                             "0, got %d", device_index);
        backend = rlkd_cpu_backend();
        break;
    case RLKD_DEVICE_CUDA:
        backend = rlkd_cuda_backend();
        if (!backend)
            return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                             "rlkd_context_create: this build of rlkd has no "
                             "CUDA backend (it was built with CUDA=0 or "
                             "without nvcc)");
        if (device_index < 0)
            return rlkd_fail(RLKD_ERR_NO_DEVICE,
                             "rlkd_context_create: CUDA device index %d is "
                             "negative", device_index);
        break;
    default:
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_context_create: unknown device kind %d",
                         (int)kind);
    }
    rlkd_engine engine;
    RLKD_TRY(engine_from_environment(kind, &engine));
    rlkd_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_context_create: out of host memory");
    ctx->kind = kind;
    ctx->device_index = device_index;
    ctx->backend = backend;
    ctx->engine = engine;
    ctx->num_threads = default_num_threads();
    atomic_init(&ctx->refs, 1);
    if (backend->context_init) {
        rlkd_status status = backend->context_init(ctx);
        if (status != RLKD_OK) {
            free(ctx);
            return status;
        }
    }
    *out = ctx;
    return RLKD_OK;
}

void rlkd_context_retain(rlkd_context *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

void rlkd_context_unref(rlkd_context *ctx)
{
    if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (ctx->backend->context_release)
        ctx->backend->context_release(ctx);
    free(ctx);
}

/* Drops the caller's reference: a DLPack export still alive keeps the
 * context (its backend state, to release the memory) until its deleter. */
void rlkd_context_destroy(rlkd_context *ctx)
{
    if (ctx)
        rlkd_context_unref(ctx);
}

rlkd_status rlkd_context_device(const rlkd_context *ctx, rlkd_device *kind,
                                int *device_index)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_device"));
    if (kind)
        *kind = ctx->kind;
    if (device_index)
        *device_index = ctx->device_index;
    return RLKD_OK;
}

rlkd_status rlkd_context_set_seed(rlkd_context *ctx, uint64_t seed)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_set_seed"));
    ctx->seed = seed;
    ctx->rng_calls = 0;
    return RLKD_OK;
}

/* A getter's checks: a valid context, and `out` (named out_name) to write
 * to. */
static rlkd_status check_getter(const rlkd_context *ctx, const void *out,
                                const char *op, const char *out_name)
{
    RLKD_TRY(rlkd_check_context(ctx, op));
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         out_name);
    return RLKD_OK;
}

rlkd_status rlkd_context_get_seed(const rlkd_context *ctx, uint64_t *seed)
{
    RLKD_TRY(check_getter(ctx, seed, "rlkd_context_get_seed", "seed"));
    *seed = ctx->seed;
    return RLKD_OK;
}

uint64_t rlkd_context_next_rng_stream(rlkd_context *ctx)
{
    return ctx->rng_calls++;
}

rlkd_status rlkd_context_set_num_threads(rlkd_context *ctx, int num_threads)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_set_num_threads"));
    if (num_threads < 1)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_context_set_num_threads: num_threads must be "
                         ">= 1, got %d", num_threads);
    ctx->num_threads = num_threads;
    return RLKD_OK;
}

rlkd_status rlkd_context_get_num_threads(const rlkd_context *ctx,
                                         int *num_threads)
{
    RLKD_TRY(check_getter(ctx, num_threads, "rlkd_context_get_num_threads",
                          "num_threads"));
    *num_threads = ctx->num_threads;
    return RLKD_OK;
}

rlkd_status rlkd_context_set_math(rlkd_context *ctx, rlkd_math math)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_set_math"));
    if (math != RLKD_MATH_FP32 && math != RLKD_MATH_TF32)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_context_set_math: unknown math mode %d "
                         "(RLKD_MATH_FP32 or RLKD_MATH_TF32)", (int)math);
    ctx->math = math;
    return RLKD_OK;
}

rlkd_status rlkd_context_get_math(const rlkd_context *ctx, rlkd_math *math)
{
    RLKD_TRY(check_getter(ctx, math, "rlkd_context_get_math", "math"));
    *math = ctx->math;
    return RLKD_OK;
}

rlkd_status rlkd_context_set_cuda_stream(rlkd_context *ctx, void *stream)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_set_cuda_stream"));
    if (ctx->kind != RLKD_DEVICE_CUDA)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "rlkd_context_set_cuda_stream: the context is on the "
                         "CPU, not CUDA");
    ctx->stream = stream;
    return RLKD_OK;
}

rlkd_status rlkd_context_set_engine(rlkd_context *ctx, rlkd_engine engine)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_set_engine"));
    RLKD_TRY(check_engine(ctx->kind, engine, "rlkd_context_set_engine"));
    ctx->engine = engine;
    return RLKD_OK;
}

rlkd_status rlkd_context_get_engine(const rlkd_context *ctx,
                                    rlkd_engine *engine)
{
    RLKD_TRY(check_getter(ctx, engine, "rlkd_context_get_engine", "engine"));
    *engine = ctx->engine;
    return RLKD_OK;
}

rlkd_status rlkd_context_synchronize(rlkd_context *ctx)
{
    RLKD_TRY(rlkd_check_context(ctx, "rlkd_context_synchronize"));
    return ctx->backend->synchronize ? ctx->backend->synchronize(ctx)
                                     : RLKD_OK;
}
