/*
 * Private core of rlkd: the context and tensor structs, error reporting and
 * argument checks shared by every public entry point. Not installed.
 */
#ifndef RLKD_INTERNAL_H
#define RLKD_INTERNAL_H

#include "rlkd.h"
#include "backend.h"

#include <stdarg.h>

/* Reference counts are C11 atomics. The CUDA backend (C++, nvcc) includes
 * this header too but never touches them: it sees a plain int of the same
 * size and alignment (checked in context.c), so both languages agree on the
 * structs' layout. */
#ifdef __cplusplus
#define RLKD_ATOMIC_INT int
#else
#include <stdatomic.h>
#define RLKD_ATOMIC_INT atomic_int
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct rlkd_context {
    rlkd_device kind;
    int device_index;
    const rlkd_backend *backend;
    void *backend_state; /* owned by the backend (e.g. CUDA handles) */
    void *stream;        /* caller's cudaStream_t, or NULL */
    rlkd_math math;      /* FP32 or TF32 in the native conv/linear kernels */
    rlkd_engine engine;  /* what runs convolutions and linear layers */
    /* The cuDNN/cuBLAS engines' handles and plans (kernels/engines.cu),
     * made on their first use; NULL until then. */
    void *engine_state;
    uint64_t seed;
    uint64_t rng_calls;  /* random draws so far: the Philox stream index */
    int num_threads;
    /* 1 for the caller's handle until rlkd_context_destroy, plus 1 for each
     * live DLPack export of one of its tensors; the context is torn down
     * when it reaches 0 (rlkd_context_unref). */
    RLKD_ATOMIC_INT refs;
};

struct rlkd_tensor {
    rlkd_context *ctx;
    rlkd_dtype dtype;
    int ndim;
    int64_t shape[RLKD_MAX_DIMS];
    int64_t numel;
    void *data;
    int owns_data;       /* the backend allocated data: release it at the end */
    /* Called once when the memory is no longer used (after the backend's
     * release, if owns_data): a DLPack import's deleter. May be NULL. */
    void (*on_release)(rlkd_context *ctx, void *arg);
    void *on_release_arg;
    /* 1 for the caller's handle until rlkd_tensor_destroy, plus 1 for each
     * live DLPack export; the memory and this struct go when it reaches 0
     * (rlkd_tensor_unref). */
    RLKD_ATOMIC_INT refs;
};

/* 1 where the CUDA backend has the cuDNN/cuBLAS engines compiled in
 * (kernels/engines.cu), 0 in a build without them (engines_absent.c). */
int rlkd_engines_available(void);
/* Opens cuDNN and cuBLAS for the engines, once per process
 * (kernels/engine_libraries.cu): RLKD_OK, or RLKD_ERR_UNSUPPORTED saying
 * what is missing, after `op`: the build lacks the engines
 * (engines_absent.c), or the libraries are not installed. */
rlkd_status rlkd_engines_load(const char *op);

/* The rows [*first, *first + *rows) of a batch of n that rank r of w
 * computes on in data-parallel training: r*n/w to (r+1)*n/w. */
static inline void rlkd_shard_rows(int64_t n, int rank, int world_size,
                                   int64_t *first, int64_t *rows)
{
    *first = n * rank / world_size;
    *rows = n * (rank + 1) / world_size - *first;
}

/* Reference counting (lib/core/context.c, tensor.c). Any thread may drop a
 * reference (a DLPack consumer calls its deleter where it likes); taking one
 * needs a reference already held. */
void rlkd_context_retain(rlkd_context *ctx);
void rlkd_context_unref(rlkd_context *ctx);
void rlkd_tensor_retain(rlkd_tensor *t);
void rlkd_tensor_unref(rlkd_tensor *t);

/* rlkd_tensor_create's checks of dtype, ndim (1..RLKD_MAX_DIMS) and shape
 * (each >= 1, element count <= 2^31 - 1), naming `op`; fills *numel. */
rlkd_status rlkd_check_tensor_shape(const char *op, rlkd_dtype dtype, int ndim,
                                    const int64_t *shape, int64_t *numel);

/* A new tensor handle on ctx over `data` (not owned, no on_release): every
 * check rlkd_tensor_create makes, naming `op`. *out is NULL on failure. */
rlkd_status rlkd_tensor_new_view(rlkd_context *ctx, const char *op,
                                 rlkd_dtype dtype, int ndim,
                                 const int64_t *shape, void *data,
                                 rlkd_tensor **out);

/* Records a detailed message for rlkd_last_error() and returns `status`. */
rlkd_status rlkd_fail(rlkd_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An RLKD_ERR_IO failure: the message, then ": " and the system's words
 * for errno value `error`. */
rlkd_status rlkd_fail_io(int error, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define RLKD_TRY(expr)                        \
    do {                                      \
        rlkd_status rlkd_try_ = (expr);       \
        if (rlkd_try_ != RLKD_OK)             \
            return rlkd_try_;                 \
    } while (0)

/* ---- files the library writes (lib/core/atomic_file.c) ---- */

/* Writes a file's content to fd, the new temporary file temp_path (for
 * messages); returns RLKD_OK or fails with a message. */
typedef rlkd_status (*rlkd_file_writer)(int fd, const char *temp_path,
                                        void *user);

/* Writes path whole or not at all: `writer` fills a new temporary file
 * beside path, which is flushed to disk and renamed over path, and the
 * directory is flushed. On any failure path is as it was and the temporary
 * file is removed. Messages name the file; callers prefix their call. */
rlkd_status rlkd_file_write_atomic(const char *path, rlkd_file_writer writer,
                                   void *user);

/* rlkd_file_write_atomic of `length` bytes of text. */
rlkd_status rlkd_file_write_text_atomic(const char *path, const char *text,
                                        size_t length);

/* Writes all `size` bytes to fd (EINTR and short writes retried); fails
 * with RLKD_ERR_IO naming path. */
rlkd_status rlkd_file_write_all(int fd, const void *data, size_t size,
                                const char *path);

/* Seconds on a monotonic clock (differences are durations). */
double rlkd_seconds_now(void);

/* Returns the next index of the context's random stream. */
uint64_t rlkd_context_next_rng_stream(rlkd_context *ctx);

/* ---- argument checks: each returns RLKD_OK or fails with a message ---- */

rlkd_status rlkd_check_context(const rlkd_context *ctx, const char *op);

/* t must be non-NULL, from ctx, of dtype. */
rlkd_status rlkd_check_tensor(const rlkd_context *ctx, const char *op,
                              const char *name, const rlkd_tensor *t,
                              rlkd_dtype dtype);

/* As rlkd_check_tensor, but NULL is accepted. */
rlkd_status rlkd_check_optional_tensor(const rlkd_context *ctx, const char *op,
                                       const char *name, const rlkd_tensor *t,
                                       rlkd_dtype dtype);

/* t must have exactly `ndim` dimensions of the sizes in `shape`. */
rlkd_status rlkd_expect_shape(const char *op, const char *name,
                              const rlkd_tensor *t, int ndim,
                              const int64_t *shape);

/* a and b must have the same shape. */
rlkd_status rlkd_expect_same_shape(const char *op, const char *name_a,
                                   const rlkd_tensor *a, const char *name_b,
                                   const rlkd_tensor *b);

/* t must have `ndim` dimensions. */
rlkd_status rlkd_expect_ndim(const char *op, const char *name,
                             const rlkd_tensor *t, int ndim);

/* A growable public struct must cover the fields this version reads:
 * name->struct_size (`size`) >= `needed`; `init` names its _init call. */
rlkd_status rlkd_expect_struct_size(const char *op, const char *name,
                                    size_t size, size_t needed,
                                    const char *init);
/* Copies a caller's growable struct (`given`, its struct_size first, maybe
 * an older and smaller one, but at least `needed` bytes: else the failure
 * of rlkd_expect_struct_size) over `merged`, which holds this version's
 * defaults: the caller's fields are taken, the ones appended since keep
 * their defaults, and merged's struct_size becomes merged_size. */
rlkd_status rlkd_merge_struct(const char *op, const char *name, void *merged,
                              size_t merged_size, const void *given,
                              size_t needed, const char *init);

/* value must be >= minimum. */
rlkd_status rlkd_expect_at_least(const char *op, const char *name,
                                 int64_t value, int64_t minimum);

/* value must fit the backend's int (it indexes with int and hands the BLAS
 * int sizes); fails with `status`, naming the quantity `what`. */
rlkd_status rlkd_expect_int_size(rlkd_status status, const char *op,
                                 const char *what, int64_t value);

/* The one checked product of sizes and counts (from callers and files):
 * 1 and *product = a * b when a, b >= 0 and a * b <= limit, else 0 (an
 * overflow included) with *product untouched. A size is checked by this
 * before it allocates or indexes anything; the caller fails with its own
 * message. */
static inline int rlkd_size_mul(int64_t a, int64_t b, int64_t limit,
                                int64_t *product)
{
    int64_t p;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &p) || p > limit)
        return 0;
    *product = p;
    return 1;
}

/* A float scalar argument must be finite (NaN fails too). */
rlkd_status rlkd_expect_finite(const char *op, const char *name, float value);

/* ... and >= minimum. */
rlkd_status rlkd_expect_finite_at_least(const char *op, const char *name,
                                        float value, float minimum);

/* ... and > minimum. */
rlkd_status rlkd_expect_finite_above(const char *op, const char *name,
                                     float value, float minimum);

/* value must be in [0,1) (NaN fails too). */
rlkd_status rlkd_expect_in_unit_range(const char *op, const char *name,
                                     float value);

/* t (may be NULL when `optional`) must be an F32 tensor from ctx with `ndim`
 * dimensions of the sizes in `shape`. */
rlkd_status rlkd_check_f32_shaped(const rlkd_context *ctx, const char *op,
                                  const char *name, const rlkd_tensor *t,
                                  int optional, int ndim,
                                  const int64_t *shape);

/* The same for a 1-D [length] tensor: a bias, a per-channel vector. */
rlkd_status rlkd_check_f32_vector(const rlkd_context *ctx, const char *op,
                                  const char *name, const rlkd_tensor *t,
                                  int optional, int64_t length);

/* A [N,K] logits tensor with a [N] int32 label tensor (labels may be NULL
 * when `labels_optional`): fills n and k. */
rlkd_status rlkd_check_logits_labels(const rlkd_context *ctx, const char *op,
                                     const char *name, const rlkd_tensor *logits,
                                     const rlkd_tensor *labels,
                                     int labels_optional, int *n, int *k);

/* A 1-element F32 loss tensor. */
rlkd_status rlkd_check_loss_tensor(const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *loss);

/* rlkd_dropout_forward for rows that stand after `first_row` others of a
 * batch: element i draws what element first_row * (values per row) + i of
 * the whole batch would, so a data-parallel rank's mask is its rows of one
 * process's (lib/ops/dropout.c). */
rlkd_status rlkd_dropout_forward_rows(rlkd_context *ctx, rlkd_tensor *y,
                                      rlkd_tensor *mask, const rlkd_tensor *x,
                                      float p, int training,
                                      int64_t first_row);

/* Adds 1 to every element of an I32 tensor, on its device (lib/ops/
 * increment_i32.c): the library's counters, not a public op. */
rlkd_status rlkd_increment_i32(rlkd_tensor *t);

/* Writes "[2,3,4,4]" into buf. */
void rlkd_format_shape(char *buf, size_t size, const rlkd_tensor *t);

/* Fails with RLKD_ERR_UNSUPPORTED when the backend lacks `fn`. */
#define RLKD_DISPATCH(ctx, fn, ...)                                         \
    ((ctx)->backend->fn ? (ctx)->backend->fn((ctx), __VA_ARGS__)            \
                        : rlkd_fail(RLKD_ERR_UNSUPPORTED,                   \
                                    "%s is not implemented on the %s "      \
                                    "backend yet",                          \
                                    #fn, (ctx)->backend->name))

static inline float *rlkd_f32(const rlkd_tensor *t)
{
    return t ? (float *)t->data : NULL;
}

static inline int32_t *rlkd_i32(const rlkd_tensor *t)
{
    return t ? (int32_t *)t->data : NULL;
}

#ifdef __cplusplus
}
#endif

#endif
