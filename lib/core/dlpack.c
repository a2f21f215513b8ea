/* DLPack import and export: zero-copy exchange of tensors with other
 * libraries through DLPack's own header (Debian libdlpack-dev), version 0.6,
 * the legacy DLManagedTensor with a deleter.
 *
 * Import: the rlkd tensor is a view of the producer's memory whose
 * on_release hook calls the producer's deleter once the tensor's last
 * reference goes. Export: the DLManagedTensor holds one reference on the
 * tensor and one on its context, dropped by its deleter (internal.h). */
#include "internal.h"

#include <dlpack/dlpack.h>

#include <stdlib.h>

#if !defined(DLPACK_VERSION) || DLPACK_VERSION < 60
#error "rlkd needs DLPack 0.6 or newer (kDLCUDA); install libdlpack-dev"
#endif

static const char *const FROM = "rlkd_tensor_from_dlpack";

static const char *device_type_name(int type)
{
    switch (type) {
    case kDLCPU: return "kDLCPU";
    case kDLCUDA: return "kDLCUDA";
    case kDLCUDAHost: return "kDLCUDAHost";
    case kDLOpenCL: return "kDLOpenCL";
    case kDLVulkan: return "kDLVulkan";
    case kDLMetal: return "kDLMetal";
    case kDLVPI: return "kDLVPI";
    case kDLROCM: return "kDLROCM";
    case kDLROCMHost: return "kDLROCMHost";
    case kDLExtDev: return "kDLExtDev";
    case kDLCUDAManaged: return "kDLCUDAManaged";
    }
    return "an unknown device type";
}

/* A CPU context takes what the host can address; a CUDA context its own
 * device's memory. */
static rlkd_status check_device(const rlkd_context *ctx, DLDevice device)
{
    int type = (int)device.device_type;
    if (ctx->kind == RLKD_DEVICE_CPU) {
        if (type == kDLCPU || type == kDLCUDAHost || type == kDLCUDAManaged)
            return RLKD_OK;
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: src->dl_tensor.device.device_type is %s (%d), "
                         "which a CPU context cannot address (it takes "
                         "kDLCPU, kDLCUDAHost or kDLCUDAManaged)", FROM,
                         device_type_name(type), type);
    }
    if (type != kDLCUDA)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: src->dl_tensor.device.device_type is %s (%d); "
                         "a CUDA context takes kDLCUDA", FROM,
                         device_type_name(type), type);
    if (device.device_id != ctx->device_index)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: src->dl_tensor.device.device_id is %d, the "
                         "context's CUDA device is %d", FROM, device.device_id,
                         ctx->device_index);
    return RLKD_OK;
}

static rlkd_status map_dtype(DLDataType dtype, rlkd_dtype *out)
{
    if (dtype.code == kDLFloat)
        *out = RLKD_DTYPE_F32;
    else if (dtype.code == kDLInt)
        *out = RLKD_DTYPE_I32;
    else
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: src->dl_tensor.dtype.code is %u; rlkd takes "
                         "kDLFloat (float32) or kDLInt (int32)", FROM,
                         (unsigned)dtype.code);
    if (dtype.bits != 32)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: src->dl_tensor.dtype.bits is %u; rlkd takes "
                         "32-bit %s", FROM, (unsigned)dtype.bits,
                         dtype.code == kDLFloat ? "floats" : "integers");
    if (dtype.lanes != 1)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: src->dl_tensor.dtype.lanes is %u; rlkd takes 1 "
                         "(no vector types)", FROM, (unsigned)dtype.lanes);
    return RLKD_OK;
}

/* NULL strides mean compact row-major; otherwise each dimension of size > 1
 * must have the compact stride (in elements). The shape is checked already,
 * so the products fit. */
static rlkd_status check_strides(const DLTensor *dl)
{
    if (!dl->strides)
        return RLKD_OK;
    int64_t compact = 1;
    for (int i = dl->ndim - 1; i >= 0; i--) {
        if (dl->shape[i] != 1 && dl->strides[i] != compact)
            return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                             "%s: src->dl_tensor.strides[%d] is %lld, compact "
                             "row-major needs %lld; rlkd takes only compact "
                             "tensors (make it contiguous first)", FROM, i,
                             (long long)dl->strides[i], (long long)compact);
        compact *= dl->shape[i];
    }
    return RLKD_OK;
}

static rlkd_status check_data(const DLTensor *dl, void **data)
{
    if (!dl->data)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: src->dl_tensor.data is NULL", FROM);
    uintptr_t base = (uintptr_t)dl->data;
    if (dl->byte_offset > (uint64_t)(UINTPTR_MAX - base))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: src->dl_tensor.byte_offset %llu runs past the "
                         "end of the address space from data %p", FROM,
                         (unsigned long long)dl->byte_offset, dl->data);
    uintptr_t start = base + (uintptr_t)dl->byte_offset;
    if (start % 4 != 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: src->dl_tensor.data + byte_offset (%p + %llu) "
                         "is not 4-byte aligned", FROM, dl->data,
                         (unsigned long long)dl->byte_offset);
    *data = (void *)start;
    return RLKD_OK;
}

/* The imported tensor's last reference is gone: the memory goes back to its
 * producer, after rlkd's queued work on it (a CUDA stream) has finished. */
static void release_import(rlkd_context *ctx, void *arg)
{
    DLManagedTensor *src = arg;
    if (ctx->backend->synchronize)
        (void)ctx->backend->synchronize(ctx);
    if (src->deleter)
        src->deleter(src);
}

rlkd_status rlkd_tensor_from_dlpack(rlkd_context *ctx,
                                    struct DLManagedTensor *src,
                                    rlkd_tensor **out)
{
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", FROM);
    *out = NULL;
    RLKD_TRY(rlkd_check_context(ctx, FROM));
    if (!src)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: src is NULL", FROM);
    const DLTensor *dl = &src->dl_tensor;
    RLKD_TRY(check_device(ctx, dl->device));
    rlkd_dtype dtype = RLKD_DTYPE_F32;
    RLKD_TRY(map_dtype(dl->dtype, &dtype));
    if (dl->ndim == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: src->dl_tensor.ndim is 0 (a scalar); rlkd "
                         "tensors have 1..%d dimensions (reshape it to [1])",
                         FROM, RLKD_MAX_DIMS);
    int64_t numel;
    RLKD_TRY(rlkd_check_tensor_shape("rlkd_tensor_from_dlpack: src->dl_tensor",
                                     dtype, dl->ndim, dl->shape, &numel));
    RLKD_TRY(check_strides(dl));
    void *data = NULL;
    RLKD_TRY(check_data(dl, &data));
    rlkd_tensor *t;
    RLKD_TRY(rlkd_tensor_new_view(ctx, FROM, dtype, dl->ndim, dl->shape, data,
                                  &t));
    t->on_release = release_import;
    t->on_release_arg = src;
    *out = t;
    return RLKD_OK;
}

/* An export and its own shape array, in one allocation. */
typedef struct dlpack_export {
    DLManagedTensor managed; /* first: the pointer handed out */
    int64_t shape[RLKD_MAX_DIMS];
} dlpack_export;

/* Drops the export's references: the tensor's first (its memory may go,
 * with the context's backend), then the context's. Any thread, once. */
static void delete_export(DLManagedTensor *self)
{
    if (!self)
        return;
    rlkd_tensor *t = self->manager_ctx;
    rlkd_context *ctx = t->ctx;
    free(self);
    rlkd_tensor_unref(t);
    rlkd_context_unref(ctx);
}

rlkd_status rlkd_tensor_to_dlpack(rlkd_tensor *t, struct DLManagedTensor **out)
{
    static const char *const op = "rlkd_tensor_to_dlpack";
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    if (!t)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    DLDataType dtype = {0, 32, 1};
    switch (t->dtype) {
    case RLKD_DTYPE_F32: dtype.code = kDLFloat; break;
    case RLKD_DTYPE_I32: dtype.code = kDLInt; break;
    default:
        return rlkd_fail(RLKD_ERR_INTERNAL, "%s: the tensor has dtype %d",
                         op, (int)t->dtype);
    }
    DLDevice device = {kDLCPU, 0};
    if (t->ctx->kind == RLKD_DEVICE_CUDA) {
        device.device_type = kDLCUDA;
        device.device_id = t->ctx->device_index;
    }
    dlpack_export *e = calloc(1, sizeof *e);
    if (!e)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    for (int i = 0; i < t->ndim; i++)
        e->shape[i] = t->shape[i];
    DLTensor *dl = &e->managed.dl_tensor;
    dl->data = t->data;
    dl->device = device;
    dl->ndim = t->ndim;
    dl->dtype = dtype;
    dl->shape = e->shape;
    dl->strides = NULL;
    dl->byte_offset = 0;
    e->managed.manager_ctx = t;
    e->managed.deleter = delete_export;
    rlkd_tensor_retain(t);
    rlkd_context_retain(t->ctx);
    *out = &e->managed;
    return RLKD_OK;
}
