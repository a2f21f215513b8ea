/* Argument checks shared by every public entry point. Each failure names the
 * call, the argument and the offending value. */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *dtype_name(rlkd_dtype dtype)
{
    switch (dtype) {
    case RLKD_DTYPE_F32: return "float32";
    case RLKD_DTYPE_I32: return "int32";
    }
    return "unknown";
}

void rlkd_format_shape(char *buf, size_t size, const rlkd_tensor *t)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld",
                                 i ? "," : "", (long long)t->shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

rlkd_status rlkd_check_context(const rlkd_context *ctx, const char *op)
{
    if (!ctx)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: context is NULL", op);
    return RLKD_OK;
}

rlkd_status rlkd_check_optional_tensor(const rlkd_context *ctx, const char *op,
                                       const char *name, const rlkd_tensor *t,
                                       rlkd_dtype dtype)
{
    if (!t)
        return RLKD_OK;
    if (t->ctx != ctx)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: %s belongs to another context", op, name);
    if (t->dtype != dtype)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s is %s, expected %s", op, name,
                         dtype_name(t->dtype), dtype_name(dtype));
    return RLKD_OK;
}

rlkd_status rlkd_check_tensor(const rlkd_context *ctx, const char *op,
                              const char *name, const rlkd_tensor *t,
                              rlkd_dtype dtype)
{
    if (!t)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         name);
    return rlkd_check_optional_tensor(ctx, op, name, t, dtype);
}

rlkd_status rlkd_expect_shape(const char *op, const char *name,
                              const rlkd_tensor *t, int ndim,
                              const int64_t *shape)
{
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (same)
        return RLKD_OK;
    rlkd_tensor expected = {0};
    expected.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        expected.shape[i] = shape[i];
    char got[96], want[96];
    rlkd_format_shape(got, sizeof got, t);
    rlkd_format_shape(want, sizeof want, &expected);
    return rlkd_fail(RLKD_ERR_SHAPE, "%s: %s has shape %s, expected %s", op,
                     name, got, want);
}

rlkd_status rlkd_expect_same_shape(const char *op, const char *name_a,
                                   const rlkd_tensor *a, const char *name_b,
                                   const rlkd_tensor *b)
{
    char shape_b[96];
    rlkd_format_shape(shape_b, sizeof shape_b, b);
    rlkd_status status = rlkd_expect_shape(op, name_a, a, b->ndim, b->shape);
    if (status != RLKD_OK) {
        char shape_a[96];
        rlkd_format_shape(shape_a, sizeof shape_a, a);
        return rlkd_fail(status, "%s: %s has shape %s but %s has %s", op,
                         name_a, shape_a, name_b, shape_b);
    }
    return RLKD_OK;
}

rlkd_status rlkd_expect_ndim(const char *op, const char *name,
                             const rlkd_tensor *t, int ndim)
{
    if (t->ndim == ndim)
        return RLKD_OK;
    char got[96];
    rlkd_format_shape(got, sizeof got, t);
    return rlkd_fail(RLKD_ERR_SHAPE, "%s: %s must be %d-D, got shape %s", op,
                     name, ndim, got);
}

rlkd_status rlkd_expect_at_least(const char *op, const char *name,
                                 int64_t value, int64_t minimum)
{
    if (value >= minimum)
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s must be >= %lld, got %lld",
                     op, name, (long long)minimum, (long long)value);
}

rlkd_status rlkd_expect_int_size(rlkd_status status, const char *op,
                                 const char *what, int64_t value)
{
    if (value <= INT_MAX)
        return RLKD_OK;
    return rlkd_fail(status, "%s: %s is %lld, more than the %d supported", op,
                     what, (long long)value, INT_MAX);
}

rlkd_status rlkd_expect_finite(const char *op, const char *name, float value)
{
    if (isfinite(value))
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: %s must be finite, got %g", op, name, (double)value);
}

rlkd_status rlkd_expect_finite_at_least(const char *op, const char *name,
                                        float value, float minimum)
{
    if (isfinite(value) && value >= minimum)
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: %s must be finite and >= %g, got %g", op, name,
                     (double)minimum, (double)value);
}

rlkd_status rlkd_expect_finite_above(const char *op, const char *name,
                                     float value, float minimum)
{
    if (isfinite(value) && value > minimum)
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: %s must be finite and > %g, got %g", op, name,
                     (double)minimum, (double)value);
}

rlkd_status rlkd_expect_in_unit_range(const char *op, const char *name,
                                     float value)
{
    if (value >= 0.0f && value < 1.0f)
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: %s must be in [0,1), got %g", op, name,
                     (double)value);
}

rlkd_status rlkd_check_f32_shaped(const rlkd_context *ctx, const char *op,
                                  const char *name, const rlkd_tensor *t,
                                  int optional, int ndim,
                                  const int64_t *shape)
{
    if (optional)
        RLKD_TRY(rlkd_check_optional_tensor(ctx, op, name, t, RLKD_DTYPE_F32));
    else
        RLKD_TRY(rlkd_check_tensor(ctx, op, name, t, RLKD_DTYPE_F32));
    return t ? rlkd_expect_shape(op, name, t, ndim, shape) : RLKD_OK;
}

rlkd_status rlkd_check_f32_vector(const rlkd_context *ctx, const char *op,
                                  const char *name, const rlkd_tensor *t,
                                  int optional, int64_t length)
{
    const int64_t shape[1] = {length};
    return rlkd_check_f32_shaped(ctx, op, name, t, optional, 1, shape);
}

rlkd_status rlkd_check_logits_labels(const rlkd_context *ctx, const char *op,
                                     const char *name, const rlkd_tensor *logits,
                                     const rlkd_tensor *labels,
                                     int labels_optional, int *n, int *k)
{
    RLKD_TRY(rlkd_check_tensor(ctx, op, name, logits, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, name, logits, 2));
    *n = (int)logits->shape[0];
    *k = (int)logits->shape[1];
    if (labels_optional)
        RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "labels", labels,
                                            RLKD_DTYPE_I32));
    else
        RLKD_TRY(rlkd_check_tensor(ctx, op, "labels", labels, RLKD_DTYPE_I32));
    if (labels) {
        const int64_t shape[1] = {*n};
        RLKD_TRY(rlkd_expect_shape(op, "labels", labels, 1, shape));
    }
    return RLKD_OK;
}

rlkd_status rlkd_check_loss_tensor(const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *loss)
{
    RLKD_TRY(rlkd_check_tensor(ctx, op, "loss", loss, RLKD_DTYPE_F32));
    if (loss->numel != 1) {
        char got[96];
        rlkd_format_shape(got, sizeof got, loss);
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: loss must have 1 element, got shape %s", op, got);
    }
    return RLKD_OK;
}

rlkd_status rlkd_expect_struct_size(const char *op, const char *name,
                                    size_t size, size_t needed,
                                    const char *init)
{
    if (size >= needed)
        return RLKD_OK;
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: %s->struct_size is %zu, less than the %zu bytes of "
                     "fields read (fill it with %s)", op, name, size, needed,
                     init);
}

rlkd_status rlkd_merge_struct(const char *op, const char *name, void *merged,
                              size_t merged_size, const void *given,
                              size_t needed, const char *init)
{
    size_t given_size;
    memcpy(&given_size, given, sizeof given_size);
    RLKD_TRY(rlkd_expect_struct_size(op, name, given_size, needed, init));
    memcpy(merged, given, given_size < merged_size ? given_size : merged_size);
    memcpy(merged, &merged_size, sizeof merged_size);
    return RLKD_OK;
}
