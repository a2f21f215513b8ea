/* Tensors: shape bookkeeping over memory that the backend allocates, and
 * the reference count that lets a DLPack export outlive the handle. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

static size_t dtype_size(rlkd_dtype dtype)
{
    (void)dtype; /* both dtypes are 4 bytes wide */
    return 4;
}

rlkd_status rlkd_check_tensor_shape(const char *op, rlkd_dtype dtype, int ndim,
                                    const int64_t *shape, int64_t *numel)
{
    if (dtype != RLKD_DTYPE_F32 && dtype != RLKD_DTYPE_I32)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: unknown dtype %d", op,
                         (int)dtype);
    if (ndim < 1 || ndim > RLKD_MAX_DIMS)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: ndim must be 1..%d, got %d", op, RLKD_MAX_DIMS,
                         ndim);
    if (!shape)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: shape is NULL", op);
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: shape[%d] must be >= 1, got %lld", op, i,
                             (long long)shape[i]);
        if (!rlkd_size_mul(count, shape[i], INT32_MAX, &count))
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: shape[%d] = %lld takes the tensor past the "
                             "limit of 2^31 - 1 elements", op, i,
                             (long long)shape[i]);
    }
    *numel = count;
    return RLKD_OK;
}

static rlkd_status make_tensor(rlkd_context *ctx, const char *op,
                               rlkd_dtype dtype, int ndim,
                               const int64_t *shape, rlkd_tensor **out,
                               rlkd_tensor **made)
{
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    RLKD_TRY(rlkd_check_context(ctx, op));
    int64_t numel;
    RLKD_TRY(rlkd_check_tensor_shape(op, dtype, ndim, shape, &numel));
    rlkd_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->numel = numel;
    atomic_init(&t->refs, 1);
    *made = t;
    return RLKD_OK;
}

rlkd_status rlkd_tensor_new_view(rlkd_context *ctx, const char *op,
                                 rlkd_dtype dtype, int ndim,
                                 const int64_t *shape, void *data,
                                 rlkd_tensor **out)
{
    rlkd_tensor *t;
    RLKD_TRY(make_tensor(ctx, op, dtype, ndim, shape, out, &t));
    t->data = data;
    *out = t;
    return RLKD_OK;
}

rlkd_status rlkd_tensor_create(rlkd_context *ctx, rlkd_dtype dtype, int ndim,
                               const int64_t *shape, rlkd_tensor **out)
{
    rlkd_tensor *t;
    RLKD_TRY(make_tensor(ctx, "rlkd_tensor_create", dtype, ndim, shape, out,
                         &t));
    size_t bytes = (size_t)t->numel * dtype_size(dtype);
    rlkd_status status = ctx->backend->alloc(ctx, &t->data, bytes);
    if (status == RLKD_OK) {
        t->owns_data = 1;
        status = ctx->backend->fill(ctx, t->data, 0.0f, (size_t)t->numel);
    }
    if (status != RLKD_OK) {
        rlkd_tensor_destroy(t);
        return status;
    }
    *out = t;
    return RLKD_OK;
}

rlkd_status rlkd_tensor_wrap(rlkd_context *ctx, rlkd_dtype dtype, int ndim,
                             const int64_t *shape, void *data,
                             rlkd_tensor **out)
{
    if (!data) {
        if (out)
            *out = NULL;
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_wrap: data is NULL");
    }
    if ((uintptr_t)data % 4 != 0) {
        if (out)
            *out = NULL;
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_wrap: data %p is not 4-byte aligned",
                         data);
    }
    return rlkd_tensor_new_view(ctx, "rlkd_tensor_wrap", dtype, ndim, shape,
                                data, out);
}

void rlkd_tensor_retain(rlkd_tensor *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

/* The last reference releases the memory (the backend's, then the
 * on_release hook) and the struct; t->ctx is alive then, because the handle
 * or an export holding a context reference was still there. */
void rlkd_tensor_unref(rlkd_tensor *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (t->owns_data && t->data)
        t->ctx->backend->release(t->ctx, t->data);
    if (t->on_release)
        t->on_release(t->ctx, t->on_release_arg);
    free(t);
}

void rlkd_tensor_destroy(rlkd_tensor *t)
{
    if (t)
        rlkd_tensor_unref(t);
}

static rlkd_status check_transfer(const char *op, const rlkd_tensor *t,
                                  rlkd_dtype dtype, const void *host,
                                  size_t count)
{
    if (!t)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    RLKD_TRY(rlkd_check_tensor(t->ctx, op, "tensor", t, dtype));
    if (!host)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: host buffer is NULL",
                         op);
    if (count != (size_t)t->numel)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: count %zu does not match the tensor's %lld "
                         "elements", op, count, (long long)t->numel);
    return RLKD_OK;
}

static rlkd_status write_host(const char *op, rlkd_tensor *t, rlkd_dtype dtype,
                              const void *src, size_t count)
{
    RLKD_TRY(check_transfer(op, t, dtype, src, count));
    return t->ctx->backend->copy_from_host(t->ctx, t->data, src,
                                           count * dtype_size(dtype));
}

static rlkd_status read_host(const char *op, const rlkd_tensor *t,
                             rlkd_dtype dtype, void *dst, size_t count)
{
    RLKD_TRY(check_transfer(op, t, dtype, dst, count));
    return t->ctx->backend->copy_to_host(t->ctx, dst, t->data,
                                         count * dtype_size(dtype));
}

rlkd_status rlkd_tensor_write(rlkd_tensor *t, const float *src, size_t count)
{
    return write_host("rlkd_tensor_write", t, RLKD_DTYPE_F32, src, count);
}

rlkd_status rlkd_tensor_read(const rlkd_tensor *t, float *dst, size_t count)
{
    return read_host("rlkd_tensor_read", t, RLKD_DTYPE_F32, dst, count);
}

rlkd_status rlkd_tensor_write_i32(rlkd_tensor *t, const int32_t *src,
                                  size_t count)
{
    return write_host("rlkd_tensor_write_i32", t, RLKD_DTYPE_I32, src, count);
}

rlkd_status rlkd_tensor_read_i32(const rlkd_tensor *t, int32_t *dst,
                                 size_t count)
{
    return read_host("rlkd_tensor_read_i32", t, RLKD_DTYPE_I32, dst, count);
}

static rlkd_status check_fill(const char *op, const rlkd_tensor *t)
{
    if (!t)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    return rlkd_check_tensor(t->ctx, op, "tensor", t, RLKD_DTYPE_F32);
}

rlkd_status rlkd_tensor_fill(rlkd_tensor *t, float value)
{
    RLKD_TRY(check_fill("rlkd_tensor_fill", t));
    if (isnan(value))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_fill: value is NaN");
    return t->ctx->backend->fill(t->ctx, t->data, value, (size_t)t->numel);
}

static rlkd_status fill_random(rlkd_tensor *t, int normal, float a, float b)
{
    rlkd_context *ctx = t->ctx;
    uint64_t stream = rlkd_context_next_rng_stream(ctx);
    return RLKD_DISPATCH(ctx, fill_random, t->data, (size_t)t->numel, normal,
                         a, b, ctx->seed, stream);
}

rlkd_status rlkd_tensor_fill_uniform(rlkd_tensor *t, float low, float high)
{
    RLKD_TRY(check_fill("rlkd_tensor_fill_uniform", t));
    if (!isfinite(low) || !isfinite(high) || !(low < high))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_fill_uniform: low (%g) and high (%g) "
                         "must be finite, low below high", (double)low,
                         (double)high);
    return fill_random(t, 0, low, high);
}

rlkd_status rlkd_tensor_fill_normal(rlkd_tensor *t, float mean, float stddev)
{
    RLKD_TRY(check_fill("rlkd_tensor_fill_normal", t));
    if (!isfinite(mean) || !isfinite(stddev) || !(stddev >= 0.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_fill_normal: mean (%g) must be finite "
                         "and stddev (%g) finite and >= 0", (double)mean,
                         (double)stddev);
    return fill_random(t, 1, mean, stddev);
}

int rlkd_tensor_ndim(const rlkd_tensor *t)
{
    return t ? t->ndim : 0;
}

int64_t rlkd_tensor_dim(const rlkd_tensor *t, int dim)
{
    if (!t)
        return -1;
    if (dim < 0)
        dim += t->ndim;
    if (dim < 0 || dim >= t->ndim)
        return -1;
    return t->shape[dim];
}

rlkd_status rlkd_tensor_shape(const rlkd_tensor *t, int64_t *shape,
                              int capacity)
{
    if (!t || !shape)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_shape: %s is NULL", t ? "shape" : "tensor");
    if (capacity < t->ndim)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_shape: capacity %d is below ndim %d",
                         capacity, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        shape[i] = t->shape[i];
    return RLKD_OK;
}

int64_t rlkd_tensor_numel(const rlkd_tensor *t)
{
    return t ? t->numel : 0;
}

rlkd_dtype rlkd_tensor_dtype(const rlkd_tensor *t)
{
    return t ? t->dtype : RLKD_DTYPE_F32;
}

void *rlkd_tensor_data(const rlkd_tensor *t)
{
    return t ? t->data : NULL;
}

rlkd_context *rlkd_tensor_context(const rlkd_tensor *t)
{
    return t ? t->ctx : NULL;
}

rlkd_status rlkd_tensor_reshape(rlkd_tensor *t, int ndim, const int64_t *shape)
{
    if (!t)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_tensor_reshape: tensor is NULL");
    int64_t numel;
    RLKD_TRY(rlkd_check_tensor_shape("rlkd_tensor_reshape", t->dtype, ndim,
                                     shape, &numel));
    if (numel != t->numel)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "rlkd_tensor_reshape: new shape has %lld elements, "
                         "the tensor %lld", (long long)numel,
                         (long long)t->numel);
    t->ndim = ndim;
    for (int i = 0; i < RLKD_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 0;
    return RLKD_OK;
}
