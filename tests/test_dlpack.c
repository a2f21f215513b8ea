/* DLPack import (rlkd_tensor_from_dlpack) and export (rlkd_tensor_to_dlpack):
 * zero-copy both ways, every rejection leaves the source with its caller,
 * the producer's deleter runs exactly once when the memory is no longer
 * used, and an export keeps the tensor's memory and its context alive past
 * rlkd_tensor_destroy and rlkd_context_destroy (run under ASan and valgrind
 * to see the memory side of that). */
#include "testlib.h"

#include <dlpack/dlpack.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- a hand-built DLPack producer that counts its deleter's calls ---- */

typedef struct producer {
    DLManagedTensor managed;
    int64_t shape[8];
    int64_t strides[8];
    int deleted; /* calls of the deleter */
} producer;

static void count_delete(DLManagedTensor *self)
{
    ((producer *)self->manager_ctx)->deleted++;
}

/* A compact CPU tensor of `code` (32 bits, 1 lane) over `data`. */
static void producer_init(producer *p, void *data, uint8_t code, int ndim,
                          const int64_t *shape)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < ndim && i < 8; i++)
        p->shape[i] = shape[i];
    DLTensor *dl = &p->managed.dl_tensor;
    dl->data = data;
    dl->device.device_type = kDLCPU;
    dl->device.device_id = 0;
    dl->ndim = ndim;
    dl->dtype.code = code;
    dl->dtype.bits = 32;
    dl->dtype.lanes = 1;
    dl->shape = p->shape;
    dl->strides = NULL;
    dl->byte_offset = 0;
    p->managed.manager_ctx = p;
    p->managed.deleter = count_delete;
}

static int shape_is(const rlkd_tensor *t, int ndim, const int64_t *shape)
{
    if (rlkd_tensor_ndim(t) != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (rlkd_tensor_dim(t, i) != shape[i])
            return 0;
    return 1;
}

/* An F32 tensor [d0,d1] on ctx holding 0, 1, 2, ... */
static rlkd_tensor *counting(rlkd_context *ctx, int64_t d0, int64_t d1)
{
    const int64_t shape[2] = {d0, d1};
    rlkd_tensor *t = NULL;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 2, shape, &t),
              "rlkd_tensor_create");
    float *values = malloc((size_t)(d0 * d1) * sizeof *values);
    if (!values)
        test_fatal("malloc");
    for (int64_t i = 0; i < d0 * d1; i++)
        values[i] = (float)i;
    test_must(rlkd_tensor_write(t, values, (size_t)(d0 * d1)),
              "rlkd_tensor_write");
    free(values);
    return t;
}

/* 1 when the export's data holds 0, 1, 2, ... n-1. */
static int holds_counting(const DLManagedTensor *m, int64_t n)
{
    const float *x = m->dl_tensor.data;
    if (!x)
        return 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] != (float)i)
            return 0;
    return 1;
}

/* ---- import ---- */

static void import_f32(void)
{
    float data[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    producer p;
    producer_init(&p, data, kDLFloat, 2, shape);
    rlkd_tensor *t = NULL;
    if (!CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t)))
        return;
    CHECK(rlkd_tensor_data(t) == data);
    CHECK(rlkd_tensor_dtype(t) == RLKD_DTYPE_F32);
    CHECK(shape_is(t, 2, shape));
    CHECK(rlkd_tensor_context(t) == test_ctx);
    float got[6];
    CHECK_OK(rlkd_tensor_read(t, got, 6));
    CHECK(memcmp(got, data, sizeof got) == 0);
    const float fresh[6] = {-1, -2, -3, -4, -5, -6};
    CHECK_OK(rlkd_tensor_write(t, fresh, 6));
    CHECK_MSG(memcmp(data, fresh, sizeof data) == 0,
              "writing through the tensor did not reach the producer");
    data[4] = 42; /* and the tensor sees the producer's writes */
    CHECK_OK(rlkd_tensor_read(t, got, 6));
    CHECK(got[4] == 42);
    /* An op runs on it like on any tensor: relu in place. */
    CHECK_OK(rlkd_relu_forward(test_ctx, t, t));
    CHECK(data[0] == 0 && data[4] == 42);
    CHECK_MSG(p.deleted == 0, "the deleter ran %d times before destroy",
              p.deleted);
    rlkd_tensor_destroy(t);
    CHECK_MSG(p.deleted == 1, "the deleter ran %d times at destroy, not once",
              p.deleted);
    CHECK(data[4] == 42); /* rlkd freed nothing of the producer's */
}

static void import_i32(void)
{
    int32_t data[4] = {7, -8, 9, 1 << 30};
    const int64_t shape[1] = {4};
    producer p;
    producer_init(&p, data, kDLInt, 1, shape);
    rlkd_tensor *t = NULL;
    if (!CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t)))
        return;
    CHECK(rlkd_tensor_dtype(t) == RLKD_DTYPE_I32);
    CHECK(shape_is(t, 1, shape));
    int32_t got[4];
    CHECK_OK(rlkd_tensor_read_i32(t, got, 4));
    CHECK(memcmp(got, data, sizeof got) == 0);
    const int32_t fresh[4] = {3, 2, 1, 0};
    CHECK_OK(rlkd_tensor_write_i32(t, fresh, 4));
    CHECK(memcmp(data, fresh, sizeof data) == 0);
    /* F32 reads of an int32 tensor fail, as for any I32 tensor. */
    float f[4];
    CHECK_FAILS(rlkd_tensor_read(t, f, 4), RLKD_ERR_INVALID_ARGUMENT, NULL);
    rlkd_tensor_destroy(t);
    CHECK(p.deleted == 1);
}

static void import_byte_offset(void)
{
    float buffer[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const int64_t shape[2] = {2, 2};
    producer p;
    producer_init(&p, buffer, kDLFloat, 2, shape);
    p.managed.dl_tensor.byte_offset = 3 * sizeof(float);
    rlkd_tensor *t = NULL;
    if (!CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t)))
        return;
    CHECK(rlkd_tensor_data(t) == buffer + 3);
    float got[4];
    CHECK_OK(rlkd_tensor_read(t, got, 4));
    CHECK_MSG(got[0] == 3 && got[3] == 6,
              "read %g..%g, expected 3..6 (byte_offset ignored?)",
              (double)got[0], (double)got[3]);
    CHECK_OK(rlkd_tensor_fill(t, -1));
    CHECK(buffer[2] == 2 && buffer[3] == -1 && buffer[6] == -1 &&
          buffer[7] == 7);
    rlkd_tensor_destroy(t);
    CHECK(p.deleted == 1);
}

/* Explicit compact strides, any stride on a size-1 dimension, the host-
 * addressable CUDA memory kinds, a NULL deleter, device_id not looked at. */
static void import_accepted_forms(void)
{
    float data[12] = {0};
    const int64_t shape[4] = {2, 1, 3, 2};
    producer p;
    producer_init(&p, data, kDLFloat, 4, shape);
    const int64_t strides[4] = {6, 999, 2, 1};
    memcpy(p.strides, strides, sizeof strides);
    p.managed.dl_tensor.strides = p.strides;
    rlkd_tensor *t = NULL;
    CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t));
    CHECK(shape_is(t, 4, shape));
    rlkd_tensor_destroy(t);
    CHECK(p.deleted == 1);

    const int device_types[3] = {kDLCPU, kDLCUDAHost, kDLCUDAManaged};
    for (int k = 0; k < 3; k++) {
        producer_init(&p, data, kDLFloat, 4, shape);
        p.managed.dl_tensor.device.device_type = (DLDeviceType)device_types[k];
        p.managed.dl_tensor.device.device_id = k;
        t = NULL;
        int ok = CHECK_MSG(
            rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t) == RLKD_OK,
            "device type %d refused on a CPU context: %s", device_types[k],
            rlkd_last_error());
        rlkd_tensor_destroy(t);
        CHECK(p.deleted == ok);
    }

    producer_init(&p, data, kDLFloat, 4, shape);
    p.managed.deleter = NULL; /* allowed: nothing to call at destroy */
    CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t));
    rlkd_tensor_destroy(t);
    CHECK(p.deleted == 0);
}

/* One rejection: the status, a message naming the field, *out NULL and the
 * deleter not called (the source is still the caller's). */
#define REJECT(p, status, needle)                                           \
    do {                                                                    \
        rlkd_tensor *out_ = (rlkd_tensor *)&out_;                           \
        CHECK_FAILS(rlkd_tensor_from_dlpack(test_ctx, &(p)->managed, &out_), \
                    (status), (needle));                                    \
        CHECK_MSG(out_ == NULL, "*out not cleared for \"%s\"", (needle));   \
        CHECK_MSG((p)->deleted == 0,                                        \
                  "the deleter ran on the failure \"%s\"", (needle));       \
    } while (0)

static void import_rejections(void)
{
    float data[8] = {0};
    const int64_t shape[2] = {2, 3};
    producer p;
    rlkd_tensor *t = (rlkd_tensor *)&t;

    /* NULL arguments */
    producer_init(&p, data, kDLFloat, 2, shape);
    CHECK_FAILS(rlkd_tensor_from_dlpack(test_ctx, &p.managed, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(rlkd_tensor_from_dlpack(NULL, &p.managed, &t),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK(t == NULL);
    t = (rlkd_tensor *)&t;
    CHECK_FAILS(rlkd_tensor_from_dlpack(test_ctx, NULL, &t),
                RLKD_ERR_INVALID_ARGUMENT, "src is NULL");
    CHECK(t == NULL);
    CHECK(p.deleted == 0);

    /* devices */
    p.managed.dl_tensor.device.device_type = kDLCUDA;
    REJECT(&p, RLKD_ERR_DEVICE_MISMATCH, "kDLCUDA");
    p.managed.dl_tensor.device.device_type = kDLROCM;
    REJECT(&p, RLKD_ERR_DEVICE_MISMATCH, "device_type is kDLROCM");
    p.managed.dl_tensor.device.device_type = (DLDeviceType)77;
    REJECT(&p, RLKD_ERR_DEVICE_MISMATCH, "(77)");

    /* dtypes */
    producer_init(&p, data, kDLUInt, 2, shape);
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "dtype.code is 1");
    producer_init(&p, data, kDLBfloat, 2, shape);
    p.managed.dl_tensor.dtype.bits = 16;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "dtype.code is 4");
    producer_init(&p, data, kDLFloat, 2, shape);
    p.managed.dl_tensor.dtype.bits = 64;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "dtype.bits is 64");
    producer_init(&p, data, kDLInt, 2, shape);
    p.managed.dl_tensor.dtype.bits = 16;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "dtype.bits is 16");
    producer_init(&p, data, kDLFloat, 2, shape);
    p.managed.dl_tensor.dtype.lanes = 4;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "dtype.lanes is 4");

    /* ndim and shape */
    producer_init(&p, data, kDLFloat, 0, shape);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "ndim is 0");
    const int64_t five[5] = {1, 1, 1, 1, 2};
    producer_init(&p, data, kDLFloat, 5, five);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "ndim must be 1..4, got 5");
    producer_init(&p, data, kDLFloat, -1, shape);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "got -1");
    producer_init(&p, data, kDLFloat, 2, shape);
    p.managed.dl_tensor.shape = NULL;
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "shape is NULL");
    const int64_t zero[2] = {2, 0};
    producer_init(&p, data, kDLFloat, 2, zero);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "shape[1] must be >= 1, got 0");
    const int64_t negative[2] = {-3, 2};
    producer_init(&p, data, kDLFloat, 2, negative);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "shape[0] must be >= 1, got -3");
    const int64_t huge[2] = {65536, 65536};
    producer_init(&p, data, kDLFloat, 2, huge);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "2^31 - 1");

    /* strides: transposed, padded rows; a size-1 dim does not excuse others */
    producer_init(&p, data, kDLFloat, 2, shape);
    p.strides[0] = 1;
    p.strides[1] = 2;
    p.managed.dl_tensor.strides = p.strides;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "strides[1] is 2, compact row-major "
                                     "needs 1");
    p.strides[0] = 4;
    p.strides[1] = 1;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "strides[0] is 4, compact row-major "
                                     "needs 3");
    const int64_t with_one[3] = {2, 1, 3};
    producer_init(&p, data, kDLFloat, 3, with_one);
    p.strides[0] = 4;
    p.strides[1] = 99;
    p.strides[2] = 1;
    p.managed.dl_tensor.strides = p.strides;
    REJECT(&p, RLKD_ERR_UNSUPPORTED, "strides[0] is 4, compact row-major "
                                     "needs 3");

    /* data */
    producer_init(&p, NULL, kDLFloat, 2, shape);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "data is NULL");
    p.managed.dl_tensor.byte_offset = 16; /* NULL + offset is still NULL */
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "data is NULL");
    producer_init(&p, (char *)data + 1, kDLFloat, 2, shape);
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "not 4-byte aligned");
    producer_init(&p, data, kDLFloat, 2, shape);
    p.managed.dl_tensor.byte_offset = 2;
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "+ 2) is not 4-byte aligned");
    p.managed.dl_tensor.byte_offset = UINT64_MAX - 2;
    REJECT(&p, RLKD_ERR_INVALID_ARGUMENT, "byte_offset");

    /* after all that the source is still the caller's, and still good */
    producer_init(&p, data, kDLFloat, 2, shape);
    CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, &p.managed, &t));
    rlkd_tensor_destroy(t);
    CHECK(p.deleted == 1);
}

/* On a CUDA context: only kDLCUDA memory of its own device, and the round
 * trip through an export shares the device memory. Skipped without a GPU. */
static void import_cuda_context(void)
{
    rlkd_context *gpu = NULL;
    if (rlkd_context_create(&gpu, RLKD_DEVICE_CUDA, 0) != RLKD_OK) {
        test_skip("no usable CUDA device");
        return;
    }
    float host[6] = {0};
    const int64_t shape[2] = {2, 3};
    producer p;
    producer_init(&p, host, kDLFloat, 2, shape);
    rlkd_tensor *t = (rlkd_tensor *)&t;
    CHECK_FAILS(rlkd_tensor_from_dlpack(gpu, &p.managed, &t),
                RLKD_ERR_DEVICE_MISMATCH, "a CUDA context takes kDLCUDA");
    CHECK(t == NULL);
    p.managed.dl_tensor.device.device_type = kDLCUDAHost;
    CHECK_FAILS(rlkd_tensor_from_dlpack(gpu, &p.managed, &t),
                RLKD_ERR_DEVICE_MISMATCH, "kDLCUDAHost");

    rlkd_tensor *mine = NULL;
    test_must(rlkd_tensor_create(gpu, RLKD_DTYPE_F32, 2, shape, &mine),
              "rlkd_tensor_create (CUDA)");
    const float values[6] = {1, -2, 3, -4, 5, -6};
    CHECK_OK(rlkd_tensor_write(mine, values, 6));
    DLManagedTensor *m = NULL;
    if (!CHECK_OK(rlkd_tensor_to_dlpack(mine, &m))) {
        rlkd_tensor_destroy(mine);
        rlkd_context_destroy(gpu);
        return;
    }
    CHECK(m->dl_tensor.device.device_type == kDLCUDA);
    CHECK(m->dl_tensor.device.device_id == 0);
    CHECK(m->dl_tensor.data == rlkd_tensor_data(mine));

    m->dl_tensor.device.device_id = 1; /* another GPU's memory */
    CHECK_FAILS(rlkd_tensor_from_dlpack(gpu, m, &t), RLKD_ERR_DEVICE_MISMATCH,
                "device_id is 1, the context's CUDA device is 0");
    CHECK(t == NULL);
    CHECK_FAILS(rlkd_tensor_from_dlpack(test_ctx, m, &t),
                RLKD_ERR_DEVICE_MISMATCH, "a CPU context cannot address");
    m->dl_tensor.device.device_id = 0;
    if (CHECK_OK(rlkd_tensor_from_dlpack(gpu, m, &t))) {
        CHECK(rlkd_tensor_data(t) == rlkd_tensor_data(mine));
        CHECK_OK(rlkd_relu_forward(gpu, t, t));
        float got[6];
        CHECK_OK(rlkd_tensor_read(mine, got, 6));
        CHECK(got[0] == 1 && got[1] == 0 && got[4] == 5 && got[5] == 0);
        rlkd_tensor_destroy(mine);
        CHECK_OK(rlkd_tensor_read(t, got, 6)); /* the import holds it */
        CHECK(got[2] == 3);
        rlkd_tensor_destroy(t); /* m's deleter: the last of the memory */
        rlkd_context_destroy(gpu);
    } else {
        m->deleter(m);
        rlkd_tensor_destroy(mine);
        rlkd_context_destroy(gpu);
    }
}

/* ---- export ---- */

static void export_fields(void)
{
    rlkd_tensor *t = counting(test_ctx, 3, 4);
    const int64_t shape[3] = {3, 2, 2};
    test_must(rlkd_tensor_reshape(t, 3, shape), "rlkd_tensor_reshape");
    DLManagedTensor *m = NULL;
    if (!CHECK_OK(rlkd_tensor_to_dlpack(t, &m))) {
        rlkd_tensor_destroy(t);
        return;
    }
    const DLTensor *dl = &m->dl_tensor;
    CHECK(dl->data == rlkd_tensor_data(t));
    CHECK(dl->byte_offset == 0);
    CHECK(dl->device.device_type == kDLCPU && dl->device.device_id == 0);
    CHECK(dl->dtype.code == kDLFloat && dl->dtype.bits == 32 &&
          dl->dtype.lanes == 1);
    CHECK(dl->ndim == 3);
    CHECK(dl->shape != NULL && dl->shape[0] == 3 && dl->shape[1] == 2 &&
          dl->shape[2] == 2);
    CHECK(dl->strides == NULL);
    CHECK(m->deleter != NULL);
    CHECK(holds_counting(m, 12));
    ((float *)dl->data)[5] = -5; /* the consumer writes, rlkd sees it */
    float got[12];
    CHECK_OK(rlkd_tensor_read(t, got, 12));
    CHECK(got[5] == -5);
    m->deleter(m); /* before the handle: the tensor is still whole */
    CHECK_OK(rlkd_tensor_read(t, got, 12));
    CHECK(got[11] == 11);
    rlkd_tensor_destroy(t);

    rlkd_tensor *labels = t_labels((const int32_t[]){4, 5, 6}, 3);
    if (CHECK_OK(rlkd_tensor_to_dlpack(labels, &m))) {
        CHECK(m->dl_tensor.dtype.code == kDLInt &&
              m->dl_tensor.dtype.bits == 32 && m->dl_tensor.dtype.lanes == 1);
        CHECK(m->dl_tensor.ndim == 1 && m->dl_tensor.shape[0] == 3);
        CHECK(((const int32_t *)m->dl_tensor.data)[2] == 6);
        m->deleter(m);
    }
    rlkd_tensor_destroy(labels);
}

static void export_errors(void)
{
    DLManagedTensor *m = (DLManagedTensor *)&m;
    CHECK_FAILS(rlkd_tensor_to_dlpack(NULL, &m), RLKD_ERR_INVALID_ARGUMENT,
                "tensor is NULL");
    CHECK(m == NULL);
    rlkd_tensor *t = t_new(2, 0, 0, 0);
    CHECK_FAILS(rlkd_tensor_to_dlpack(t, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "out is NULL");
    rlkd_tensor_destroy(t);
}

/* The export keeps the memory and the context: read after both are
 * destroyed, then delete (ASan and valgrind see any use after free). An
 * imported tensor's producer shows the same from outside: its deleter waits
 * for the export's. */
static void export_outlives_tensor_and_context(void)
{
    rlkd_context *ctx = NULL;
    test_must(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0),
              "rlkd_context_create");
    rlkd_tensor *t = counting(ctx, 5, 7);
    DLManagedTensor *m = NULL;
    CHECK_OK(rlkd_tensor_to_dlpack(t, &m));
    rlkd_tensor_destroy(t);
    rlkd_context_destroy(ctx);
    if (m) {
        CHECK(holds_counting(m, 35));
        CHECK(m->dl_tensor.ndim == 2 && m->dl_tensor.shape[1] == 7);
        ((float *)m->dl_tensor.data)[34] = 1; /* still writable */
        m->deleter(m);
    }

    float data[4] = {0, 1, 2, 3};
    const int64_t shape[1] = {4};
    producer p;
    producer_init(&p, data, kDLFloat, 1, shape);
    test_must(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0),
              "rlkd_context_create");
    t = NULL;
    m = NULL;
    CHECK_OK(rlkd_tensor_from_dlpack(ctx, &p.managed, &t));
    CHECK_OK(rlkd_tensor_to_dlpack(t, &m));
    CHECK(m && m->dl_tensor.data == data);
    rlkd_tensor_destroy(t);
    rlkd_context_destroy(ctx);
    CHECK_MSG(p.deleted == 0,
              "the producer's deleter ran while an export still used the "
              "memory");
    if (m) {
        CHECK(holds_counting(m, 4));
        m->deleter(m);
    }
    CHECK_MSG(p.deleted == 1, "the producer's deleter ran %d times",
              p.deleted);
}

static void two_exports(void)
{
    float data[6] = {0, 1, 2, 3, 4, 5};
    const int64_t shape[2] = {3, 2};
    producer p;
    producer_init(&p, data, kDLFloat, 2, shape);
    rlkd_context *ctx = NULL;
    test_must(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0),
              "rlkd_context_create");
    rlkd_tensor *t = NULL;
    DLManagedTensor *a = NULL, *b = NULL;
    if (!CHECK_OK(rlkd_tensor_from_dlpack(ctx, &p.managed, &t))) {
        rlkd_context_destroy(ctx);
        return;
    }
    CHECK_OK(rlkd_tensor_to_dlpack(t, &a));
    CHECK_OK(rlkd_tensor_to_dlpack(t, &b));
    if (!a || !b) {
        rlkd_tensor_destroy(t);
        rlkd_context_destroy(ctx);
        return;
    }
    CHECK(a != b && a->dl_tensor.shape != b->dl_tensor.shape);
    CHECK(a->dl_tensor.data == data && b->dl_tensor.data == data);
    rlkd_tensor_destroy(t);
    a->deleter(a);
    CHECK_MSG(p.deleted == 0, "the memory went with one export of two");
    rlkd_context_destroy(ctx);
    CHECK(holds_counting(b, 6));
    b->deleter(b);
    CHECK(p.deleted == 1);

    /* and on a created tensor, whose memory is rlkd's */
    t = counting(test_ctx, 2, 2);
    CHECK_OK(rlkd_tensor_to_dlpack(t, &a));
    CHECK_OK(rlkd_tensor_to_dlpack(t, &b));
    rlkd_tensor_destroy(t);
    if (a && b) {
        b->deleter(b);
        CHECK(holds_counting(a, 4));
        a->deleter(a);
    }
}

/* A consumer may delete on any thread: several exports of one tensor,
 * deleted at once on their own threads after the handle and the context
 * are gone (ASan / valgrind check the counting). */
static void *delete_on_thread(void *arg)
{
    DLManagedTensor *m = arg;
    if (!holds_counting(m, 64))
        return m;
    m->deleter(m);
    return NULL;
}

static void exports_deleted_on_threads(void)
{
    enum { THREADS = 8 };
    rlkd_context *ctx = NULL;
    test_must(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0),
              "rlkd_context_create");
    rlkd_tensor *t = counting(ctx, 8, 8);
    DLManagedTensor *m[THREADS] = {0};
    int made = 0;
    for (int i = 0; i < THREADS; i++)
        made += CHECK_OK(rlkd_tensor_to_dlpack(t, &m[i]));
    rlkd_tensor_destroy(t);
    rlkd_context_destroy(ctx);
    if (made != THREADS) {
        for (int i = 0; i < THREADS; i++)
            if (m[i])
                m[i]->deleter(m[i]);
        return;
    }
    pthread_t threads[THREADS];
    int started[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        started[i] = CHECK(pthread_create(&threads[i], NULL, delete_on_thread,
                                          m[i]) == 0);
    for (int i = 0; i < THREADS; i++) {
        if (!started[i]) {
            m[i]->deleter(m[i]);
            continue;
        }
        void *bad = NULL;
        CHECK(pthread_join(threads[i], &bad) == 0);
        CHECK_MSG(bad == NULL, "export %d did not hold the tensor's values",
                  i);
        if (bad)
            m[i]->deleter(m[i]);
    }
}

/* to_dlpack then from_dlpack on the same context: one memory, two handles,
 * and the export is deleted with the second handle. */
static void round_trip_shares_memory(void)
{
    rlkd_tensor *t = counting(test_ctx, 2, 3);
    DLManagedTensor *m = NULL;
    rlkd_tensor *back = NULL;
    if (!CHECK_OK(rlkd_tensor_to_dlpack(t, &m)) ||
        !CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, m, &back))) {
        if (m)
            m->deleter(m);
        rlkd_tensor_destroy(t);
        return;
    }
    CHECK(rlkd_tensor_data(back) == rlkd_tensor_data(t));
    CHECK(rlkd_tensor_dtype(back) == RLKD_DTYPE_F32);
    CHECK(shape_is(back, 2, (const int64_t[]){2, 3}));
    CHECK_OK(rlkd_tensor_fill(back, 9));
    float got[6];
    CHECK_OK(rlkd_tensor_read(t, got, 6));
    CHECK(got[0] == 9 && got[5] == 9);
    rlkd_tensor_destroy(t); /* the import's export still holds the memory */
    CHECK_OK(rlkd_tensor_read(back, got, 6));
    CHECK(got[3] == 9);
    rlkd_tensor_destroy(back); /* calls m->deleter: the memory goes */

    rlkd_tensor *labels = t_labels((const int32_t[]){1, 2}, 2);
    CHECK_OK(rlkd_tensor_to_dlpack(labels, &m));
    if (m && CHECK_OK(rlkd_tensor_from_dlpack(test_ctx, m, &back))) {
        CHECK(rlkd_tensor_dtype(back) == RLKD_DTYPE_I32);
        int32_t ids[2];
        CHECK_OK(rlkd_tensor_read_i32(back, ids, 2));
        CHECK(ids[0] == 1 && ids[1] == 2);
        rlkd_tensor_destroy(back);
    } else if (m) {
        m->deleter(m);
    }
    rlkd_tensor_destroy(labels);
}

static void reshape_after_export(void)
{
    rlkd_tensor *t = counting(test_ctx, 2, 6);
    DLManagedTensor *m = NULL;
    if (!CHECK_OK(rlkd_tensor_to_dlpack(t, &m))) {
        rlkd_tensor_destroy(t);
        return;
    }
    CHECK_OK(rlkd_tensor_reshape(t, 3, (const int64_t[]){3, 2, 2}));
    CHECK_MSG(m->dl_tensor.ndim == 2 && m->dl_tensor.shape[0] == 2 &&
                  m->dl_tensor.shape[1] == 6,
              "the export's shape followed the reshape: ndim %d, [%lld,%lld]",
              m->dl_tensor.ndim, (long long)m->dl_tensor.shape[0],
              (long long)m->dl_tensor.shape[1]);
    CHECK_OK(rlkd_tensor_reshape(t, 1, (const int64_t[]){12}));
    CHECK(m->dl_tensor.ndim == 2 && m->dl_tensor.shape[1] == 6);
    DLManagedTensor *flat = NULL;
    if (CHECK_OK(rlkd_tensor_to_dlpack(t, &flat))) {
        CHECK(flat->dl_tensor.ndim == 1 && flat->dl_tensor.shape[0] == 12);
        flat->deleter(flat);
    }
    rlkd_tensor_destroy(t);
    m->deleter(m);
}

/* A wrapped tensor exports the caller's memory; the export holds the
 * tensor (the memory stays the caller's to keep alive). */
static void export_wrapped(void)
{
    float storage[4] = {1, 2, 3, 4};
    rlkd_tensor *t = NULL;
    test_must(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 1,
                               (const int64_t[]){4}, storage, &t),
              "rlkd_tensor_wrap");
    DLManagedTensor *m = NULL;
    if (!CHECK_OK(rlkd_tensor_to_dlpack(t, &m))) {
        rlkd_tensor_destroy(t);
        return;
    }
    CHECK(m->dl_tensor.data == storage);
    rlkd_tensor_destroy(t);
    CHECK(((float *)m->dl_tensor.data)[3] == 4);
    m->deleter(m);
    CHECK(storage[0] == 1); /* not freed: it is on the stack */
}

int main(void)
{
    test_main_begin();
    test_run("dlpack/import_f32", import_f32);
    test_run("dlpack/import_i32", import_i32);
    test_run("dlpack/import_byte_offset", import_byte_offset);
    test_run("dlpack/import_accepted_forms", import_accepted_forms);
    test_run("dlpack/import_rejections", import_rejections);
    test_run("dlpack/import_cuda_context", import_cuda_context);
    test_run("dlpack/export_fields", export_fields);
    test_run("dlpack/export_errors", export_errors);
    test_run("dlpack/export_outlives_tensor_and_context",
             export_outlives_tensor_and_context);
    test_run("dlpack/two_exports", two_exports);
    test_run("dlpack/exports_deleted_on_threads", exports_deleted_on_threads);
    test_run("dlpack/round_trip_shares_memory", round_trip_shares_memory);
    test_run("dlpack/reshape_after_export", reshape_after_export);
    test_run("dlpack/export_wrapped", export_wrapped);
    test_main_end();
    return test_finish();
}
