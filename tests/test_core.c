/* The core API: version, features, status names, thread-local errors,
 * contexts, and tensors (creation, transfer, wrapping, fills, queries,
 * reshape). */
#include "testlib.h"

/* Internal: the checked product of sizes (a static inline function). */
#include "../lib/core/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- version, features, status ---- */

static void version(void)
{
    CHECK(rlkd_version_number() == RLKD_VERSION_NUMBER);
    CHECK(RLKD_VERSION_NUMBER == RLKD_VERSION_MAJOR * 10000 +
                                     RLKD_VERSION_MINOR * 100 +
                                     RLKD_VERSION_PATCH);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", RLKD_VERSION_MAJOR,
             RLKD_VERSION_MINOR, RLKD_VERSION_PATCH);
    CHECK_MSG(strcmp(rlkd_version_string(), want) == 0,
              "version string \"%s\", expected \"%s\"", rlkd_version_string(),
              want);
}

static void build_features(void)
{
    const unsigned known =
        RLKD_FEATURE_OPENMP | RLKD_FEATURE_BLAS | RLKD_FEATURE_CUDA |
        RLKD_FEATURE_NVJPEG | RLKD_FEATURE_CUDNN | RLKD_FEATURE_NCCL;
    unsigned features = rlkd_build_features();
    CHECK_MSG((features & ~known) == 0, "unknown feature bits 0x%x",
              features & ~known);
    /* The library is built with -fopenmp and OpenBLAS, as this test is. */
#ifdef _OPENMP
    CHECK(features & RLKD_FEATURE_OPENMP);
#endif
    CHECK(features & RLKD_FEATURE_BLAS);
    /* nvJPEG, cuDNN and NCCL work on the GPU: only a CUDA build has them. */
    const unsigned gpu_only =
        RLKD_FEATURE_NVJPEG | RLKD_FEATURE_CUDNN | RLKD_FEATURE_NCCL;
    CHECK(!(features & gpu_only) || (features & RLKD_FEATURE_CUDA));
}

static void status_strings(void)
{
    static const struct {
        rlkd_status status;
        const char *name;
    } names[] = {
        {RLKD_OK, "RLKD_OK"},
        {RLKD_ERR_INVALID_ARGUMENT, "RLKD_ERR_INVALID_ARGUMENT"},
        {RLKD_ERR_SHAPE, "RLKD_ERR_SHAPE"},
        {RLKD_ERR_OUT_OF_MEMORY, "RLKD_ERR_OUT_OF_MEMORY"},
        {RLKD_ERR_UNSUPPORTED, "RLKD_ERR_UNSUPPORTED"},
        {RLKD_ERR_NO_DEVICE, "RLKD_ERR_NO_DEVICE"},
        {RLKD_ERR_DEVICE_MISMATCH, "RLKD_ERR_DEVICE_MISMATCH"},
        {RLKD_ERR_IO, "RLKD_ERR_IO"},
        {RLKD_ERR_FORMAT, "RLKD_ERR_FORMAT"},
        {RLKD_ERR_DEVICE, "RLKD_ERR_DEVICE"},
        {RLKD_ERR_INTERNAL, "RLKD_ERR_INTERNAL"},
        {RLKD_ERR_NUMERIC, "RLKD_ERR_NUMERIC"},
    };
    const size_t count = sizeof names / sizeof names[0];
    for (size_t i = 0; i < count; i++) {
        CHECK_MSG((int)names[i].status == (int)i,
                  "%s has value %d, expected %zu", names[i].name,
                  (int)names[i].status, i);
        const char *got = rlkd_status_string(names[i].status);
        CHECK_MSG(got && strcmp(got, names[i].name) == 0,
                  "rlkd_status_string(%zu) = \"%s\", expected \"%s\"", i,
                  got ? got : "(null)", names[i].name);
    }
    const rlkd_status unknown[2] = {(rlkd_status)12, (rlkd_status)-1};
    for (int k = 0; k < 2; k++) {
        const char *got = rlkd_status_string(unknown[k]);
        CHECK_MSG(got != NULL && got[0] != '\0',
                  "no name for unknown status %d", (int)unknown[k]);
        for (size_t i = 0; got && i < count; i++)
            CHECK_MSG(strcmp(got, names[i].name) != 0,
                      "unknown status %d named \"%s\"", (int)unknown[k], got);
    }
}

/* ---- errors are per thread ---- */

typedef struct {
    char before[256]; /* the thread's message before it fails */
    char after[256];  /* and after */
    rlkd_status status;
} thread_report;

static void *fail_on_thread(void *arg)
{
    thread_report *report = arg;
    snprintf(report->before, sizeof report->before, "%s", rlkd_last_error());
    report->status = rlkd_context_set_num_threads(NULL, 2);
    snprintf(report->after, sizeof report->after, "%s", rlkd_last_error());
    return NULL;
}

static void last_error_thread_local(void)
{
    rlkd_context *ctx;
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 3),
                RLKD_ERR_NO_DEVICE, "3");
    char mine[256];
    snprintf(mine, sizeof mine, "%s", rlkd_last_error());

    thread_report report = {{0}, {0}, RLKD_OK};
    pthread_t thread;
    if (!CHECK(pthread_create(&thread, NULL, fail_on_thread, &report) == 0))
        return;
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_MSG(report.before[0] == '\0',
              "a new thread starts with message \"%s\"", report.before);
    CHECK(report.status == RLKD_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(report.after, "rlkd_context_set_num_threads") != NULL,
              "the thread's message is \"%s\"", report.after);
    CHECK_MSG(strcmp(rlkd_last_error(), mine) == 0,
              "this thread's message changed from \"%s\" to \"%s\"", mine,
              rlkd_last_error());
}

/* ---- contexts ---- */

static void context_lifecycle(void)
{
    rlkd_context *ctx = NULL;
    CHECK_OK(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0));
    CHECK(ctx != NULL);
    rlkd_device kind = RLKD_DEVICE_CUDA;
    int index = -1;
    CHECK_OK(rlkd_context_device(ctx, &kind, &index));
    CHECK(kind == RLKD_DEVICE_CPU && index == 0);
    CHECK_OK(rlkd_context_device(ctx, NULL, NULL));
    CHECK_FAILS(rlkd_context_device(NULL, &kind, &index),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    rlkd_context_destroy(ctx);
    rlkd_context_destroy(NULL);

    CHECK_FAILS(rlkd_context_create(NULL, RLKD_DEVICE_CPU, 0),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    ctx = (rlkd_context *)&ctx; /* must be cleared on failure */
    CHECK_FAILS(rlkd_context_create(&ctx, (rlkd_device)7, 0),
                RLKD_ERR_INVALID_ARGUMENT, "unknown device kind 7");
    CHECK(ctx == NULL);
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 1),
                RLKD_ERR_NO_DEVICE, "got 1");
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, -1),
                RLKD_ERR_NO_DEVICE, "got -1");
    CHECK(ctx == NULL);
}

/* This machine has no GPU: a CUDA build answers NO_DEVICE, a build without
 * CUDA UNSUPPORTED. */
static void context_cuda(void)
{
    rlkd_context *ctx = (rlkd_context *)&ctx;
    rlkd_status want = (rlkd_build_features() & RLKD_FEATURE_CUDA)
                           ? RLKD_ERR_NO_DEVICE
                           : RLKD_ERR_UNSUPPORTED;
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CUDA, 0), want, NULL);
    CHECK(ctx == NULL);
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CUDA, 1000), want, NULL);
    CHECK(ctx == NULL);
}

static void context_settings(void)
{
    rlkd_context *ctx;
    CHECK_OK(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0));

    uint64_t seed = 99;
    CHECK_OK(rlkd_context_get_seed(ctx, &seed));
    CHECK_MSG(seed == 0, "a new context has seed %llu",
              (unsigned long long)seed);
    CHECK_OK(rlkd_context_set_seed(ctx, UINT64_C(0xFEEDFACECAFEBEEF)));
    CHECK_OK(rlkd_context_get_seed(ctx, &seed));
    CHECK(seed == UINT64_C(0xFEEDFACECAFEBEEF));
    CHECK_FAILS(rlkd_context_get_seed(ctx, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "seed is NULL");
    CHECK_FAILS(rlkd_context_get_seed(NULL, &seed), RLKD_ERR_INVALID_ARGUMENT,
                "context is NULL");
    CHECK_FAILS(rlkd_context_set_seed(NULL, 1), RLKD_ERR_INVALID_ARGUMENT,
                "context is NULL");

    int threads = 0;
    CHECK_OK(rlkd_context_get_num_threads(ctx, &threads));
    CHECK_MSG(threads >= 1, "default thread count %d", threads);
    CHECK_OK(rlkd_context_set_num_threads(ctx, 3));
    CHECK_OK(rlkd_context_get_num_threads(ctx, &threads));
    CHECK(threads == 3);
    CHECK_FAILS(rlkd_context_set_num_threads(ctx, 0),
                RLKD_ERR_INVALID_ARGUMENT, "num_threads must be >= 1, got 0");
    CHECK_FAILS(rlkd_context_set_num_threads(ctx, -2),
                RLKD_ERR_INVALID_ARGUMENT, "got -2");
    CHECK_OK(rlkd_context_get_num_threads(ctx, &threads));
    CHECK_MSG(threads == 3, "a refused setting changed the count to %d",
              threads);
    CHECK_FAILS(rlkd_context_get_num_threads(ctx, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "num_threads is NULL");
    CHECK_FAILS(rlkd_context_get_num_threads(NULL, &threads),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_context_set_num_threads(NULL, 1),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");

    rlkd_math math = RLKD_MATH_TF32;
    CHECK_OK(rlkd_context_get_math(ctx, &math));
    CHECK_MSG(math == RLKD_MATH_FP32, "a new context's math mode is %d",
              (int)math);
    CHECK_OK(rlkd_context_set_math(ctx, RLKD_MATH_TF32));
    CHECK_OK(rlkd_context_get_math(ctx, &math));
    CHECK(math == RLKD_MATH_TF32);
    CHECK_FAILS(rlkd_context_set_math(ctx, (rlkd_math)7),
                RLKD_ERR_INVALID_ARGUMENT, "unknown math mode 7");
    CHECK_OK(rlkd_context_get_math(ctx, &math));
    CHECK_MSG(math == RLKD_MATH_TF32, "a refused mode changed it to %d",
              (int)math);
    CHECK_FAILS(rlkd_context_get_math(ctx, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "math is NULL");
    CHECK_FAILS(rlkd_context_set_math(NULL, RLKD_MATH_FP32),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");

    CHECK_FAILS(rlkd_context_set_cuda_stream(ctx, NULL), RLKD_ERR_UNSUPPORTED,
                "CPU");
    CHECK_FAILS(rlkd_context_set_cuda_stream(NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_OK(rlkd_context_synchronize(ctx));
    CHECK_FAILS(rlkd_context_synchronize(NULL), RLKD_ERR_INVALID_ARGUMENT,
                "context is NULL");
    rlkd_context_destroy(ctx);
}

/* ---- tensor creation ---- */

static void tensor_create_errors(void)
{
    const int64_t good[4] = {2, 3, 4, 5};
    rlkd_tensor *t = (rlkd_tensor *)&t; /* must be cleared on failure */
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 0, good, &t),
                RLKD_ERR_INVALID_ARGUMENT, "ndim must be 1..4, got 0");
    CHECK(t == NULL);
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 5, good, &t),
                RLKD_ERR_INVALID_ARGUMENT, "got 5");
    const int64_t negative[2] = {2, -3}, zero[3] = {0, 2, 2};
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 2, negative, &t),
                RLKD_ERR_INVALID_ARGUMENT, "shape[1] must be >= 1, got -3");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 3, zero, &t),
                RLKD_ERR_INVALID_ARGUMENT, "shape[0] must be >= 1, got 0");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 2, NULL, &t),
                RLKD_ERR_INVALID_ARGUMENT, "shape is NULL");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 2, good, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(rlkd_tensor_create(NULL, RLKD_DTYPE_F32, 2, good, &t),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, (rlkd_dtype)9, 2, good, &t),
                RLKD_ERR_INVALID_ARGUMENT, "unknown dtype 9");
    /* One dimension past 2^31 - 1, and a product past it. */
    const int64_t wide[1] = {INT64_C(1) << 31};
    const int64_t product[2] = {65536, 32768};
    const int64_t huge[4] = {INT64_C(1) << 20, INT64_C(1) << 20,
                             INT64_C(1) << 20, 4};
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 1, wide, &t),
                RLKD_ERR_INVALID_ARGUMENT, "shape[0] = 2147483648");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 2, product, &t),
                RLKD_ERR_INVALID_ARGUMENT,
                "shape[1] = 32768 takes the tensor past the limit of 2^31 - 1");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 4, huge, &t),
                RLKD_ERR_INVALID_ARGUMENT, "limit of 2^31 - 1 elements");
    CHECK(t == NULL);
}

/* Exactly 2^31 - 1 elements is allowed: wrapping touches no memory, so a
 * small buffer can stand for the 8 GiB. */
static void tensor_size_limit(void)
{
    float storage[4] = {0};
    const int64_t largest[2] = {INT32_MAX, 1}, past[2] = {INT32_MAX, 2};
    rlkd_tensor *t = NULL;
    CHECK_OK(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 2, largest, storage,
                              &t));
    CHECK(rlkd_tensor_numel(t) == INT32_MAX);
    rlkd_tensor_destroy(t);
    CHECK_FAILS(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 2, past, storage,
                                 &t), RLKD_ERR_INVALID_ARGUMENT, "2^31 - 1");
    CHECK(t == NULL);
    CHECK(storage[0] == 0.0f);
}

static void tensor_zeroed(void)
{
    /* Dirty some memory first so a reuse of it would show. */
    rlkd_tensor *dirty = t_new(64, 64, 0, 0);
    CHECK_OK(rlkd_tensor_fill(dirty, 3.5f));
    rlkd_tensor_destroy(dirty);
    rlkd_tensor *t = t_new(64, 64, 0, 0);
    float *got = t_get(t);
    size_t nonzero = 0;
    for (size_t i = 0; i < 64 * 64; i++)
        nonzero += got[i] != 0.0f;
    CHECK_MSG(nonzero == 0, "%zu of 4096 elements not zero", nonzero);
    free(got);
    rlkd_tensor_destroy(t);

    int64_t n = 5;
    rlkd_tensor *labels;
    CHECK_OK(rlkd_tensor_create(test_ctx, RLKD_DTYPE_I32, 1, &n, &labels));
    int32_t values[5] = {1, 1, 1, 1, 1};
    CHECK_OK(rlkd_tensor_read_i32(labels, values, 5));
    CHECK(values[0] == 0 && values[4] == 0);
    rlkd_tensor_destroy(labels);
}

/* ---- transfers ---- */

static void tensor_transfers(void)
{
    const float src[6] = {1.5f, -2, 3, -4.25f, 5, 1e-30f};
    float dst[6] = {0};
    rlkd_tensor *t = t_new(2, 3, 0, 0);
    CHECK_OK(rlkd_tensor_write(t, src, 6));
    CHECK_OK(rlkd_tensor_read(t, dst, 6));
    CHECK(memcmp(src, dst, sizeof src) == 0);

    CHECK_FAILS(rlkd_tensor_write(t, src, 5), RLKD_ERR_SHAPE,
                "count 5 does not match the tensor's 6");
    CHECK_FAILS(rlkd_tensor_read(t, dst, 7), RLKD_ERR_SHAPE, "count 7");
    CHECK_FAILS(rlkd_tensor_write(t, NULL, 6), RLKD_ERR_INVALID_ARGUMENT,
                "host buffer is NULL");
    CHECK_FAILS(rlkd_tensor_read(t, NULL, 6), RLKD_ERR_INVALID_ARGUMENT,
                "host buffer is NULL");
    CHECK_FAILS(rlkd_tensor_write(NULL, src, 6), RLKD_ERR_INVALID_ARGUMENT,
                "tensor is NULL");
    CHECK_FAILS(rlkd_tensor_read(NULL, dst, 6), RLKD_ERR_INVALID_ARGUMENT,
                "tensor is NULL");

    const int32_t labels[4] = {0, 7, -1, 2147483647};
    int32_t back[4] = {0};
    rlkd_tensor *ints = t_labels(labels, 4);
    CHECK_OK(rlkd_tensor_read_i32(ints, back, 4));
    CHECK(memcmp(labels, back, sizeof labels) == 0);
    /* float into an int32 tensor and back the other way */
    CHECK_FAILS(rlkd_tensor_write(ints, src, 4), RLKD_ERR_INVALID_ARGUMENT,
                "int32, expected float32");
    CHECK_FAILS(rlkd_tensor_read(ints, dst, 4), RLKD_ERR_INVALID_ARGUMENT,
                "int32");
    CHECK_FAILS(rlkd_tensor_write_i32(t, labels, 6), RLKD_ERR_INVALID_ARGUMENT,
                "float32, expected int32");
    CHECK_FAILS(rlkd_tensor_read_i32(t, back, 6), RLKD_ERR_INVALID_ARGUMENT,
                "float32");
    CHECK_FAILS(rlkd_tensor_write_i32(ints, NULL, 4),
                RLKD_ERR_INVALID_ARGUMENT, "host buffer is NULL");
    CHECK_FAILS(rlkd_tensor_read_i32(ints, back, 3), RLKD_ERR_SHAPE,
                "count 3");
    rlkd_tensor_destroy(t);
    rlkd_tensor_destroy(ints);
}

static void tensor_wrap(void)
{
    /* On the stack: should destroy free it, the allocator would abort. */
    float storage[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    rlkd_tensor *t;
    CHECK_OK(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 2, shape, storage, &t));
    CHECK(rlkd_tensor_data(t) == storage);
    float got[6];
    CHECK_OK(rlkd_tensor_read(t, got, 6));
    CHECK(got[0] == 1 && got[5] == 6);
    const float fresh[6] = {-1, -2, -3, -4, -5, -6};
    CHECK_OK(rlkd_tensor_write(t, fresh, 6));
    CHECK_MSG(storage[0] == -1 && storage[5] == -6,
              "writing through the tensor did not reach the caller's array");
    CHECK_OK(rlkd_tensor_fill(t, 0.5f));
    CHECK(storage[2] == 0.5f);
    storage[1] = 42; /* and the tensor sees the caller's writes */
    CHECK_OK(rlkd_tensor_read(t, got, 6));
    CHECK(got[1] == 42);
    rlkd_tensor_destroy(t);
    CHECK(storage[1] == 42 && storage[0] == 0.5f);

    t = (rlkd_tensor *)&t;
    CHECK_FAILS(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 2, shape, NULL, &t),
                RLKD_ERR_INVALID_ARGUMENT, "data is NULL");
    CHECK(t == NULL);
    t = (rlkd_tensor *)&t;
    CHECK_FAILS(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 1, shape,
                                 (char *)storage + 1, &t),
                RLKD_ERR_INVALID_ARGUMENT, "not 4-byte aligned");
    CHECK(t == NULL);
    CHECK_FAILS(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 2, shape, storage,
                                 NULL), RLKD_ERR_INVALID_ARGUMENT,
                "out is NULL");
    CHECK_FAILS(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 0, shape, storage,
                                 &t), RLKD_ERR_INVALID_ARGUMENT, "ndim");
    CHECK_FAILS(rlkd_tensor_wrap(NULL, RLKD_DTYPE_F32, 2, shape, storage, &t),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
}

/* ---- fills ---- */

static void tensor_fill(void)
{
    rlkd_tensor *t = t_new(3, 7, 0, 0);
    CHECK_OK(rlkd_tensor_fill(t, -2.5f));
    float *got = t_get(t);
    size_t wrong = 0;
    for (size_t i = 0; i < 21; i++)
        wrong += got[i] != -2.5f;
    CHECK_MSG(wrong == 0, "%zu of 21 elements not filled", wrong);
    free(got);
    int32_t zeros[2] = {0, 0};
    rlkd_tensor *ints = t_labels(zeros, 2);
    CHECK_FAILS(rlkd_tensor_fill(ints, 1.0f), RLKD_ERR_INVALID_ARGUMENT,
                "int32");
    CHECK_FAILS(rlkd_tensor_fill(NULL, 1.0f), RLKD_ERR_INVALID_ARGUMENT,
                "tensor is NULL");
    CHECK_FAILS(rlkd_tensor_fill(t, NAN), RLKD_ERR_INVALID_ARGUMENT, "NaN");
    CHECK_OK(rlkd_tensor_fill(t, -INFINITY));
    got = t_get(t);
    CHECK(isinf(got[20]) && got[20] < 0);
    free(got);
    CHECK_FAILS(rlkd_tensor_fill_uniform(ints, 0, 1), RLKD_ERR_INVALID_ARGUMENT,
                "int32");
    CHECK_FAILS(rlkd_tensor_fill_normal(ints, 0, 1), RLKD_ERR_INVALID_ARGUMENT,
                "int32");
    rlkd_tensor_destroy(t);
    rlkd_tensor_destroy(ints);
}

/* Seeds the context, fills a new [n] tensor uniformly in [low, high) and
 * returns its values (free() them). */
static float *uniform_values(uint64_t seed, int64_t n, float low, float high)
{
    rlkd_tensor *t = t_new(n, 0, 0, 0);
    CHECK_OK(rlkd_context_set_seed(test_ctx, seed));
    CHECK_OK(rlkd_tensor_fill_uniform(t, low, high));
    float *values = t_get(t);
    rlkd_tensor_destroy(t);
    return values;
}

static void tensor_fill_uniform(void)
{
    const int64_t n = 100000;
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
    float *a = uniform_values(1, n, -2.0f, 3.0f);
    size_t outside = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        outside += !(a[i] >= -2.0f && a[i] < 3.0f);
        sum += a[i];
    }
    CHECK_MSG(outside == 0, "%zu values outside [-2, 3)", outside);
    /* U(-2,3): mean 0.5, standard deviation 5/sqrt(12). */
    double sigma_mean = 5 / sqrt(12.0) / sqrt((double)n);
    CHECK_MSG(fabs(sum / n - 0.5) < 5 * sigma_mean, "mean %g, expected 0.5",
              sum / n);

    float *b = uniform_values(1, n, -2.0f, 3.0f);
    CHECK_MSG(memcmp(a, b, (size_t)n * sizeof *a) == 0,
              "the same seed gave different numbers");
    float *c = uniform_values(2, n, -2.0f, 3.0f);
    size_t same = 0;
    for (int64_t i = 0; i < n; i++)
        same += a[i] == c[i];
    CHECK_MSG(same < (size_t)n / 100, "seeds 1 and 2 agree on %zu values",
              same);

    /* Successive fills draw new numbers; thread count does not matter. */
    rlkd_tensor *t1 = t_new(n, 0, 0, 0), *t2 = t_new(n, 0, 0, 0);
    CHECK_OK(rlkd_context_set_seed(test_ctx, 1));
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    CHECK_OK(rlkd_tensor_fill_uniform(t1, -2.0f, 3.0f));
    CHECK_OK(rlkd_tensor_fill_uniform(t2, -2.0f, 3.0f));
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
    float *d = t_get(t1), *e = t_get(t2);
    CHECK_MSG(memcmp(a, d, (size_t)n * sizeof *a) == 0,
              "2 threads gave other numbers than 1");
    CHECK_MSG(memcmp(d, e, (size_t)n * sizeof *d) != 0,
              "two fills in a row gave the same numbers");

    rlkd_tensor *t = t_new(4, 0, 0, 0);
    CHECK_FAILS(rlkd_tensor_fill_uniform(t, 1.0f, 1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "low (1) and high (1)");
    CHECK_FAILS(rlkd_tensor_fill_uniform(t, -INFINITY, INFINITY),
                RLKD_ERR_INVALID_ARGUMENT, "must be finite");
    CHECK_FAILS(rlkd_tensor_fill_uniform(t, 2.0f, -1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "low (2)");
    CHECK_FAILS(rlkd_tensor_fill_uniform(t, NAN, 1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "low");
    CHECK_FAILS(rlkd_tensor_fill_uniform(NULL, 0.0f, 1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "tensor is NULL");
    free(a); free(b); free(c); free(d); free(e);
    rlkd_tensor_destroy(t1); rlkd_tensor_destroy(t2);
    rlkd_tensor_destroy(t);
}

static void tensor_fill_normal(void)
{
    const int64_t n = 100000;
    const double mean = 1.5, stddev = 2.0;
    rlkd_tensor *t = t_new(n, 0, 0, 0);
    CHECK_OK(rlkd_context_set_seed(test_ctx, 77));
    CHECK_OK(rlkd_tensor_fill_normal(t, (float)mean, (float)stddev));
    float *x = t_get(t);
    double sum = 0, sum_sq = 0;
    size_t beyond = 0, not_finite = 0;
    for (int64_t i = 0; i < n; i++) {
        not_finite += !isfinite(x[i]);
        sum += x[i];
        beyond += fabs(x[i] - mean) > 3 * stddev;
    }
    double got_mean = sum / n;
    for (int64_t i = 0; i < n; i++)
        sum_sq += (x[i] - got_mean) * (x[i] - got_mean);
    double got_std = sqrt(sum_sq / (n - 1));
    CHECK_MSG(not_finite == 0, "%zu values not finite", not_finite);
    /* Standard errors: stddev/sqrt(n) for the mean, about stddev/sqrt(2n)
     * for the standard deviation; allow 5 of them. */
    CHECK_MSG(fabs(got_mean - mean) < 5 * stddev / sqrt((double)n),
              "mean %g, expected %g", got_mean, mean);
    CHECK_MSG(fabs(got_std - stddev) < 5 * stddev / sqrt(2.0 * n),
              "standard deviation %g, expected %g", got_std, stddev);
    /* P(|z| > 3) = 0.0027: 270 expected, sd about 16. */
    CHECK_MSG(beyond > 170 && beyond < 370, "%zu values beyond 3 sigma",
              beyond);
    free(x);

    CHECK_OK(rlkd_tensor_fill_normal(t, 4.0f, 0.0f));
    x = t_get(t);
    size_t off = 0;
    for (int64_t i = 0; i < n; i++)
        off += x[i] != 4.0f;
    CHECK_MSG(off == 0, "stddev 0: %zu values not at the mean", off);
    free(x);

    CHECK_FAILS(rlkd_tensor_fill_normal(t, 0.0f, -1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "stddev (-1) finite and >= 0");
    CHECK_FAILS(rlkd_tensor_fill_normal(t, INFINITY, 1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "mean (inf) must be finite");
    CHECK_FAILS(rlkd_tensor_fill_normal(t, 0.0f, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "stddev");
    CHECK_FAILS(rlkd_tensor_fill_normal(NULL, 0.0f, 1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "tensor is NULL");
    rlkd_tensor_destroy(t);
}

/* ---- queries and reshape ---- */

static void tensor_queries(void)
{
    rlkd_tensor *t = t_new(2, 3, 4, 5);
    CHECK(rlkd_tensor_ndim(t) == 4);
    CHECK(rlkd_tensor_ndim(NULL) == 0);
    CHECK(rlkd_tensor_dim(t, 0) == 2 && rlkd_tensor_dim(t, 3) == 5);
    CHECK(rlkd_tensor_dim(t, -1) == 5 && rlkd_tensor_dim(t, -4) == 2);
    CHECK(rlkd_tensor_dim(t, 4) == -1 && rlkd_tensor_dim(t, -5) == -1);
    CHECK(rlkd_tensor_dim(NULL, 0) == -1);
    CHECK(rlkd_tensor_numel(t) == 120 && rlkd_tensor_numel(NULL) == 0);
    CHECK(rlkd_tensor_dtype(t) == RLKD_DTYPE_F32);
    CHECK(rlkd_tensor_data(t) != NULL && rlkd_tensor_data(NULL) == NULL);
    CHECK(rlkd_tensor_context(t) == test_ctx);
    CHECK(rlkd_tensor_context(NULL) == NULL);

    int64_t shape[4] = {0};
    CHECK_OK(rlkd_tensor_shape(t, shape, 4));
    CHECK(shape[0] == 2 && shape[1] == 3 && shape[2] == 4 && shape[3] == 5);
    CHECK_FAILS(rlkd_tensor_shape(t, shape, 3), RLKD_ERR_INVALID_ARGUMENT,
                "capacity 3 is below ndim 4");
    CHECK_FAILS(rlkd_tensor_shape(t, NULL, 4), RLKD_ERR_INVALID_ARGUMENT,
                "shape is NULL");
    CHECK_FAILS(rlkd_tensor_shape(NULL, shape, 4), RLKD_ERR_INVALID_ARGUMENT,
                "tensor is NULL");

    int32_t labels[3] = {0};
    rlkd_tensor *ints = t_labels(labels, 3);
    CHECK(rlkd_tensor_dtype(ints) == RLKD_DTYPE_I32);
    CHECK(rlkd_tensor_ndim(ints) == 1 && rlkd_tensor_dim(ints, -1) == 3);
    rlkd_tensor_destroy(ints);
    rlkd_tensor_destroy(t);
}

static void tensor_reshape(void)
{
    const float values[24] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                              12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};
    rlkd_tensor *t = t_from(values, 2, 3, 4, 0);
    void *data = rlkd_tensor_data(t);
    const int64_t flat[2] = {6, 4};
    CHECK_OK(rlkd_tensor_reshape(t, 2, flat));
    CHECK(rlkd_tensor_ndim(t) == 2);
    CHECK(rlkd_tensor_dim(t, 0) == 6 && rlkd_tensor_dim(t, 1) == 4);
    CHECK(rlkd_tensor_dim(t, 2) == -1);
    CHECK(rlkd_tensor_data(t) == data); /* a view: same memory */
    float *got = t_get(t);
    CHECK(memcmp(got, values, sizeof values) == 0);
    free(got);

    const int64_t wrong[2] = {5, 5}, zero[2] = {0, 24};
    CHECK_FAILS(rlkd_tensor_reshape(t, 2, wrong), RLKD_ERR_SHAPE,
                "new shape has 25 elements, the tensor 24");
    CHECK(rlkd_tensor_dim(t, 0) == 6); /* unchanged by the refusal */
    CHECK_FAILS(rlkd_tensor_reshape(t, 2, zero), RLKD_ERR_INVALID_ARGUMENT,
                "shape[0] must be >= 1");
    CHECK_FAILS(rlkd_tensor_reshape(t, 5, flat), RLKD_ERR_INVALID_ARGUMENT,
                "ndim");
    CHECK_FAILS(rlkd_tensor_reshape(t, 2, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "shape is NULL");
    CHECK_FAILS(rlkd_tensor_reshape(NULL, 2, flat), RLKD_ERR_INVALID_ARGUMENT,
                "tensor is NULL");
    rlkd_tensor_destroy(t);
}

/* Shapes whose element counts overflow 64 bits (or sit at the ends of
 * int64) get a clean error from every call that takes a shape, and nothing
 * is allocated. */
static void tensor_huge_shapes(void)
{
    const int64_t int32s[4] = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
    const int64_t wraps_to_zero[2] = {INT64_C(1) << 32, INT64_C(1) << 32};
    const int64_t largest[2] = {INT64_MAX, INT64_MAX};
    const int64_t smallest[2] = {1, INT64_MIN};
    rlkd_tensor *t = NULL;
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 4, int32s, &t),
                RLKD_ERR_INVALID_ARGUMENT,
                "shape[1] = 2147483647 takes the tensor past the limit");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_I32, 2, wraps_to_zero,
                                   &t),
                RLKD_ERR_INVALID_ARGUMENT, "shape[0] = 4294967296");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 2, largest, &t),
                RLKD_ERR_INVALID_ARGUMENT, "9223372036854775807");
    CHECK_FAILS(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, 2, smallest, &t),
                RLKD_ERR_INVALID_ARGUMENT,
                "shape[1] must be >= 1, got -9223372036854775808");
    float storage[4] = {0};
    CHECK_FAILS(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 2, wraps_to_zero,
                                 storage, &t),
                RLKD_ERR_INVALID_ARGUMENT, "limit of 2^31 - 1 elements");
    CHECK(t == NULL);

    t = t_new(2, 2, 0, 0);
    CHECK_FAILS(rlkd_tensor_reshape(t, 4, int32s), RLKD_ERR_INVALID_ARGUMENT,
                "limit of 2^31 - 1 elements");
    CHECK_FAILS(rlkd_tensor_reshape(t, 2, largest), RLKD_ERR_INVALID_ARGUMENT,
                "limit of 2^31 - 1 elements");
    CHECK(rlkd_tensor_ndim(t) == 2 && rlkd_tensor_numel(t) == 4);
    /* A count of SIZE_MAX is a mismatch, not a huge copy. */
    CHECK_FAILS(rlkd_tensor_write(t, storage, SIZE_MAX), RLKD_ERR_SHAPE,
                "does not match the tensor's 4 elements");
    CHECK_FAILS(rlkd_tensor_read(t, storage, SIZE_MAX), RLKD_ERR_SHAPE,
                "does not match");
    rlkd_tensor_destroy(t);
}

/* The checked product every size check uses (lib/core/internal.h). */
static void size_mul(void)
{
    int64_t p = -1;
    CHECK(rlkd_size_mul(3, 5, 15, &p) && p == 15);
    CHECK(rlkd_size_mul(0, INT64_MAX, 0, &p) && p == 0);
    CHECK(rlkd_size_mul(INT64_MAX, 1, INT64_MAX, &p) && p == INT64_MAX);
    p = -1;
    CHECK(!rlkd_size_mul(3, 5, 14, &p) && p == -1); /* over the limit */
    CHECK(!rlkd_size_mul(INT64_MAX, 2, INT64_MAX, &p) && p == -1);
    CHECK(!rlkd_size_mul(INT64_C(1) << 32, INT64_C(1) << 32, INT64_MAX, &p) &&
          p == -1); /* wraps to 0 in 64 bits */
    CHECK(!rlkd_size_mul(-1, 5, INT64_MAX, &p) && p == -1);
    CHECK(!rlkd_size_mul(5, INT64_MIN, INT64_MAX, &p) && p == -1);
}

/* Tensors of one context refused by an op on another. */
static void tensor_other_context(void)
{
    rlkd_context *other;
    CHECK_OK(rlkd_context_create(&other, RLKD_DEVICE_CPU, 0));
    rlkd_tensor *mine = t_new(4, 0, 0, 0), *theirs;
    const int64_t n = 4;
    CHECK_OK(rlkd_tensor_create(other, RLKD_DTYPE_F32, 1, &n, &theirs));
    CHECK_FAILS(rlkd_relu_forward(test_ctx, mine, theirs),
                RLKD_ERR_DEVICE_MISMATCH, "x belongs to another context");
    rlkd_tensor_destroy(mine);
    rlkd_tensor_destroy(theirs);
    rlkd_context_destroy(other);
}

int main(void)
{
    test_main_begin();
    test_run("core/version", version);
    test_run("core/build_features", build_features);
    test_run("core/status_strings", status_strings);
    test_run("core/last_error_thread_local", last_error_thread_local);
    test_run("core/context_lifecycle", context_lifecycle);
    test_run("core/context_cuda", context_cuda);
    test_run("core/context_settings", context_settings);
    test_run("core/tensor_create_errors", tensor_create_errors);
    test_run("core/tensor_size_limit", tensor_size_limit);
    test_run("core/tensor_zeroed", tensor_zeroed);
    test_run("core/tensor_transfers", tensor_transfers);
    test_run("core/tensor_wrap", tensor_wrap);
    test_run("core/tensor_fill", tensor_fill);
    test_run("core/tensor_fill_uniform", tensor_fill_uniform);
    test_run("core/tensor_fill_normal", tensor_fill_normal);
    test_run("core/tensor_queries", tensor_queries);
    test_run("core/tensor_reshape", tensor_reshape);
    test_run("core/tensor_huge_shapes", tensor_huge_shapes);
    test_run("core/size_mul", size_mul);
    test_run("core/tensor_other_context", tensor_other_context);
    test_main_end();
    return test_finish();
}
