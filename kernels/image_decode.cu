/*
 * The loader's GPU path (decode_device RLKD_DEVICE_CUDA): a batch's JPEGs
 * decoded by nvJPEG on the context's GPU (batched, on the hardware JPEG
 * decoder where the GPU has one), then the plans the CPU path makes
 * (lib/data/transform.c: window, flip, PIL's fixed-point weights) carried
 * out by two kernels into the batch tensor in the same integer arithmetic,
 * so pixels decoded on the host (PNG, CMYK JPEG, a JPEG nvJPEG refuses)
 * come out bit for bit as on the CPU path. Kernels first, then the host
 * side.
 */
#include "cuda_common.cuh"
#include "../lib/data/data_internal.h"

#include <nvjpeg.h>
#include <stdlib.h>
#include <string.h>

#define RGB 3
#define LEVELS 256
/* Offsets of the images' buffers are multiples of this (nvJPEG's and the
 * kernels' rows start aligned). */
#define ALIGN 256
/* Blocks per image of a kernel's grid (grid-stride loops cover the rest). */
#define BLOCKS_PER_IMAGE 64

/* One image's work for the kernels; offsets into the batch's buffers. */
struct image_job {
    size_t pixels;                       /* its RGB pixels (HWC) */
    size_t rows;                         /* its horizontal pass's rows */
    size_t across_weights, down_weights; /* in the weight table */
    size_t across_bounds, down_bounds;   /* in the bound table */
    int width;                           /* of the decoded image */
    int top, left;                       /* the window's origin */
    int row_first, row_count;            /* window rows the first pass reads */
    int across_first, across_count, across_taps;
    int down_first, down_count, down_taps;
    int grid_top, grid_left, flip;
};

/* PIL's clip8, as transform.c's. */
__device__ static uint8_t clip8(int32_t sum)
{
    if (sum >= (int32_t)255 << RLKD_RESAMPLE_WEIGHT_BITS)
        return 255;
    return sum <= 0 ? 0 : (uint8_t)(sum >> RLKD_RESAMPLE_WEIGHT_BITS);
}

/* The horizontal pass of image blockIdx.x: the window rows the vertical
 * pass reads, resampled across and rounded to 8 bits. */
__global__ void rlkd_resample_rows_kernel(uint8_t *rows, const uint8_t *pixels,
                                          const image_job *jobs,
                                          const int32_t *weights,
                                          const int *bounds)
{
    const image_job job = jobs[blockIdx.x];
    const size_t total = (size_t)job.row_count * job.across_count;
    const size_t stride = (size_t)job.width * RGB;
    const int32_t *all_weights = weights + job.across_weights;
    const int *all_bounds = bounds + job.across_bounds;
    for (size_t k = blockIdx.y * (size_t)blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.y * blockDim.x) {
        const int r = (int)(k / job.across_count);
        const int x = (int)(k % job.across_count);
        const uint8_t *p = pixels + job.pixels +
                           (size_t)(job.top + job.row_first + r) * stride +
                           (size_t)(job.left + all_bounds[2 * x]) * RGB;
        const int32_t *w = all_weights + (size_t)x * job.across_taps;
        int32_t s0 = 1 << (RLKD_RESAMPLE_WEIGHT_BITS - 1), s1 = s0, s2 = s0;
        for (int t = 0; t < all_bounds[2 * x + 1]; t++) {
            s0 += p[RGB * t] * w[t];
            s1 += p[RGB * t + 1] * w[t];
            s2 += p[RGB * t + 2] * w[t];
        }
        uint8_t *out = rows + job.rows + k * RGB;
        out[0] = clip8(s0);
        out[1] = clip8(s1);
        out[2] = clip8(s2);
    }
}

/* The vertical pass of image blockIdx.x into its [3, side, side] floats,
 * through the flip and level_values; 0's level beyond the grid. */
__global__ void rlkd_resample_columns_kernel(float *dst, const uint8_t *rows,
                                             const image_job *jobs,
                                             const int32_t *weights,
                                             const int *bounds,
                                             const float *level_values,
                                             int side)
{
    const image_job job = jobs[blockIdx.x];
    const size_t plane = (size_t)side * side;
    float *out = dst + blockIdx.x * (size_t)RGB * plane;
    const int first = job.across_first - job.grid_left;
    const size_t row_values = (size_t)job.across_count * RGB;
    for (size_t k = blockIdx.y * (size_t)blockDim.x + threadIdx.x; k < plane;
         k += (size_t)gridDim.y * blockDim.x) {
        const int oy = (int)(k / side), ox = (int)(k % side);
        const int y = oy + job.grid_top - job.down_first;
        const int x = job.flip ? side - 1 - first - ox : ox - first;
        if (y < 0 || y >= job.down_count || x < 0 || x >= job.across_count) {
            for (int c = 0; c < RGB; c++)
                out[c * plane + k] = level_values[c * LEVELS];
            continue;
        }
        const int32_t *w = weights + job.down_weights + (size_t)y * job.down_taps;
        const int *b = bounds + job.down_bounds + 2 * y;
        const uint8_t *src = rows + job.rows +
                             (size_t)(b[0] - job.row_first) * row_values +
                             (size_t)x * RGB;
        int32_t s0 = 1 << (RLKD_RESAMPLE_WEIGHT_BITS - 1), s1 = s0, s2 = s0;
        for (int t = 0; t < b[1]; t++) {
            const uint8_t *p = src + (size_t)t * row_values;
            s0 += p[0] * w[t];
            s1 += p[1] * w[t];
            s2 += p[2] * w[t];
        }
        out[k] = level_values[clip8(s0)];
        out[plane + k] = level_values[LEVELS + clip8(s1)];
        out[2 * plane + k] = level_values[2 * LEVELS + clip8(s2)];
    }
}

/* ---- the host side ---- */

struct rlkd_image_decoder {
    rlkd_context *ctx;
    int side, capacity;         /* images per batch at most */
    nvjpegHandle_t handle;
    int hardware;               /* the handle's backend is the JPEG engine */
    nvjpegJpegState_t batched;  /* nvjpegDecodeBatched's state ... */
    int batched_size;           /* ... initialised for this many; 0: not */
    /* One image at a time, for what the batched call does not take. */
    nvjpegJpegDecoder_t single;
    nvjpegJpegState_t single_state;
    nvjpegBufferPinned_t pinned;
    nvjpegBufferDevice_t device_buffer;
    nvjpegJpegStream_t parsed; /* a JPEG's parsed header or stream */
    nvjpegDecodeParams_t params;
    float *level_values;       /* [3][256] on the device */
    /* Device buffers, grown as batches need: decoded pixels, the first
     * pass's rows, and the jobs with their weights and bounds. */
    uint8_t *pixels, *rows;
    void *tables;
    size_t pixels_bytes, rows_bytes, tables_bytes;
    void *host_tables;         /* the tables packed on the host */
    size_t host_tables_bytes;
    /* Per image of a batch: the batched call's arguments, and the images'
     * outputs and what becomes of them. */
    const unsigned char **data;
    size_t *lengths;
    nvjpegImage_t *outputs, *batch_outputs;
    int *on_device; /* 1: nvJPEG decoded it; 0: the host did or will */
};

static const char *nvjpeg_error(nvjpegStatus_t status)
{
    switch (status) {
    case NVJPEG_STATUS_NOT_INITIALIZED: return "not initialised";
    case NVJPEG_STATUS_INVALID_PARAMETER: return "invalid parameter";
    case NVJPEG_STATUS_BAD_JPEG: return "bad JPEG";
    case NVJPEG_STATUS_JPEG_NOT_SUPPORTED: return "JPEG not supported";
    case NVJPEG_STATUS_ALLOCATOR_FAILURE: return "allocation failed";
    case NVJPEG_STATUS_EXECUTION_FAILED: return "execution failed";
    case NVJPEG_STATUS_ARCH_MISMATCH: return "not on this GPU";
    case NVJPEG_STATUS_INTERNAL_ERROR: return "internal error";
    case NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED: return "not implemented";
    default: return "unknown status";
    }
}

static rlkd_status nvjpeg_check(nvjpegStatus_t status, const char *op,
                                const char *what)
{
    if (status == NVJPEG_STATUS_SUCCESS)
        return RLKD_OK;
    return rlkd_fail(status == NVJPEG_STATUS_ALLOCATOR_FAILURE
                         ? RLKD_ERR_OUT_OF_MEMORY
                         : RLKD_ERR_DEVICE,
                     "%s: nvJPEG's %s failed: %s (status %d)", op, what,
                     nvjpeg_error(status), (int)status);
}

static size_t aligned(size_t bytes)
{
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* A device buffer of at least `bytes` (its contents are not kept). No
 * work on the stream uses it: every batch ends synchronised. */
static rlkd_status reserve(const char *op, void **buffer, size_t *have,
                           size_t bytes)
{
    if (bytes <= *have)
        return RLKD_OK;
    cudaFree(*buffer);
    *buffer = NULL;
    *have = 0;
    bytes += bytes / 4; /* headroom: batches vary */
    if (cudaMalloc(buffer, bytes) != cudaSuccess) {
        *buffer = NULL;
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: cannot allocate %zu bytes on the GPU for a "
                         "batch's images", op, bytes);
    }
    *have = bytes;
    return RLKD_OK;
}

/* The handle: the hardware decoder where there is one, else the default
 * backend; chroma upsampled by interpolation as libjpeg does, where this
 * nvJPEG can (and the backend takes the flag). */
static nvjpegStatus_t create_handle(rlkd_image_decoder *d)
{
#ifdef NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION
    const unsigned interpolate = NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION;
#else
    const unsigned interpolate = NVJPEG_FLAGS_DEFAULT;
#endif
    const struct {
        nvjpegBackend_t backend;
        unsigned flags;
    } tries[] = {{NVJPEG_BACKEND_HARDWARE, interpolate},
                 {NVJPEG_BACKEND_HARDWARE, NVJPEG_FLAGS_DEFAULT},
                 {NVJPEG_BACKEND_DEFAULT, interpolate},
                 {NVJPEG_BACKEND_DEFAULT, NVJPEG_FLAGS_DEFAULT}};
    nvjpegStatus_t status = NVJPEG_STATUS_NOT_INITIALIZED;
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        status = nvjpegCreateEx(tries[i].backend, NULL, NULL, tries[i].flags,
                                &d->handle);
        if (status == NVJPEG_STATUS_SUCCESS) {
            d->hardware = tries[i].backend == NVJPEG_BACKEND_HARDWARE;
            return status;
        }
        d->handle = NULL;
    }
    return status;
}

extern "C" int rlkd_nvjpeg_available(void)
{
    return 1;
}

extern "C" void rlkd_image_decoder_destroy(rlkd_image_decoder *d)
{
    if (!d)
        return;
    cudaSetDevice(d->ctx->device_index);
    if (d->params)
        nvjpegDecodeParamsDestroy(d->params);
    if (d->parsed)
        nvjpegJpegStreamDestroy(d->parsed);
    if (d->single_state)
        nvjpegJpegStateDestroy(d->single_state);
    if (d->pinned)
        nvjpegBufferPinnedDestroy(d->pinned);
    if (d->device_buffer)
        nvjpegBufferDeviceDestroy(d->device_buffer);
    if (d->single)
        nvjpegDecoderDestroy(d->single);
    if (d->batched)
        nvjpegJpegStateDestroy(d->batched);
    if (d->handle)
        nvjpegDestroy(d->handle);
    cudaFree(d->level_values);
    cudaFree(d->pixels);
    cudaFree(d->rows);
    cudaFree(d->tables);
    free(d->host_tables);
    free(d->data);
    free(d->lengths);
    free(d->outputs);
    free(d->batch_outputs);
    free(d->on_device);
    free(d);
}

/* Everything the decoder holds but its growing buffers. */
static rlkd_status setup(rlkd_image_decoder *d, const char *op,
                         const float *level_values)
{
    size_t n = (size_t)d->capacity;
    d->data = (const unsigned char **)calloc(n, sizeof *d->data);
    d->lengths = (size_t *)calloc(n, sizeof *d->lengths);
    d->outputs = (nvjpegImage_t *)calloc(n, sizeof *d->outputs);
    d->batch_outputs = (nvjpegImage_t *)calloc(n, sizeof *d->batch_outputs);
    d->on_device = (int *)calloc(n, sizeof *d->on_device);
    if (!d->data || !d->lengths || !d->outputs || !d->batch_outputs ||
        !d->on_device)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for the GPU decoder", op);
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(d->ctx->device_index),
                             "cudaSetDevice"));
    RLKD_TRY(nvjpeg_check(create_handle(d), op, "nvjpegCreateEx"));
    RLKD_TRY(nvjpeg_check(nvjpegJpegStateCreate(d->handle, &d->batched), op,
                          "nvjpegJpegStateCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegDecoderCreate(d->handle, NVJPEG_BACKEND_DEFAULT,
                                              &d->single),
                          op, "nvjpegDecoderCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegDecoderStateCreate(d->handle, d->single,
                                                   &d->single_state),
                          op, "nvjpegDecoderStateCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegBufferPinnedCreate(d->handle, NULL, &d->pinned),
                          op, "nvjpegBufferPinnedCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegBufferDeviceCreate(d->handle, NULL,
                                                   &d->device_buffer),
                          op, "nvjpegBufferDeviceCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegStateAttachPinnedBuffer(d->single_state,
                                                        d->pinned),
                          op, "nvjpegStateAttachPinnedBuffer"));
    RLKD_TRY(nvjpeg_check(nvjpegStateAttachDeviceBuffer(d->single_state,
                                                        d->device_buffer),
                          op, "nvjpegStateAttachDeviceBuffer"));
    RLKD_TRY(nvjpeg_check(nvjpegJpegStreamCreate(d->handle, &d->parsed), op,
                          "nvjpegJpegStreamCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegDecodeParamsCreate(d->handle, &d->params), op,
                          "nvjpegDecodeParamsCreate"));
    RLKD_TRY(nvjpeg_check(nvjpegDecodeParamsSetOutputFormat(
                              d->params, NVJPEG_OUTPUT_RGBI),
                          op, "nvjpegDecodeParamsSetOutputFormat"));
    /* libjpeg, and so PIL and the CPU path, leave EXIF orientation alone. */
    RLKD_TRY(nvjpeg_check(nvjpegDecodeParamsSetExifOrientation(
                              d->params, NVJPEG_ORIENTATION_NORMAL),
                          op, "nvjpegDecodeParamsSetExifOrientation"));
    const size_t bytes = RGB * LEVELS * sizeof(float);
    if (cudaMalloc(&d->level_values, bytes) != cudaSuccess) {
        d->level_values = NULL;
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of GPU memory for the GPU decoder", op);
    }
    return rlkd_cuda_check(cudaMemcpy(d->level_values, level_values, bytes,
                                      cudaMemcpyHostToDevice),
                           "cudaMemcpy (normalised levels)");
}

extern "C" rlkd_status rlkd_image_decoder_create(rlkd_context *ctx,
                                                 const char *op, int batch,
                                                 int side,
                                                 const float *level_values,
                                                 rlkd_image_decoder **out)
{
    *out = NULL;
    rlkd_image_decoder *d = (rlkd_image_decoder *)calloc(1, sizeof *d);
    if (!d)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for the GPU decoder", op);
    d->ctx = ctx;
    d->side = side;
    d->capacity = batch;
    rlkd_status status = setup(d, op, level_values);
    if (status != RLKD_OK) {
        rlkd_image_decoder_destroy(d);
        return status;
    }
    *out = d;
    return RLKD_OK;
}

/* Whether the JPEG parsed into d->parsed is the image the host read: the
 * same frame size, and no EXIF orientation that nvJPEG might apply (libjpeg
 * does not; such files, rare, are decoded on the host). */
static int parsed_as_read(const rlkd_image_decoder *d,
                          const rlkd_device_image *image)
{
    unsigned width = 0, height = 0;
    nvjpegExifOrientation_t orientation = NVJPEG_ORIENTATION_UNKNOWN;
    return nvjpegJpegStreamGetFrameDimensions(d->parsed, &width, &height) ==
               NVJPEG_STATUS_SUCCESS &&
           width == (unsigned)image->source.decoded.width &&
           height == (unsigned)image->source.decoded.height &&
           nvjpegJpegStreamGetExifOrientation(d->parsed, &orientation) ==
               NVJPEG_STATUS_SUCCESS &&
           (orientation == NVJPEG_ORIENTATION_UNKNOWN ||
            orientation == NVJPEG_ORIENTATION_NORMAL);
}

/* Whether the batched call takes image i: a header of the size the host
 * read, and on the JPEG engine a stream it supports (baseline, ...). */
static int batchable(rlkd_image_decoder *d, const rlkd_device_image *image)
{
    int unsupported = 1;
    return nvjpegJpegStreamParseHeader(d->handle, image->source.jpeg,
                                       image->source.jpeg_size, d->parsed) ==
               NVJPEG_STATUS_SUCCESS &&
           parsed_as_read(d, image) &&
           (!d->hardware ||
            (nvjpegDecodeBatchedSupported(d->handle, d->parsed, &unsupported) ==
                 NVJPEG_STATUS_SUCCESS &&
             unsupported == 0));
}

/* One JPEG by the decoupled API (progressive ones on the JPEG engine's
 * handle, or after a failed batch); 0 when nvJPEG does not decode it. The
 * pinned buffer is reused, so each decode is waited for. */
static int decode_one(rlkd_image_decoder *d, const rlkd_device_image *image,
                      nvjpegImage_t *output, cudaStream_t stream)
{
    int unsupported = 1;
    return nvjpegJpegStreamParse(d->handle, image->source.jpeg,
                                 image->source.jpeg_size, 0, 0, d->parsed) ==
               NVJPEG_STATUS_SUCCESS &&
           parsed_as_read(d, image) &&
           nvjpegDecoderJpegSupported(d->single, d->parsed, d->params,
                                      &unsupported) == NVJPEG_STATUS_SUCCESS &&
           unsupported == 0 &&
           nvjpegDecodeJpeg(d->handle, d->single, d->single_state, d->parsed,
                            output, d->params, stream) ==
               NVJPEG_STATUS_SUCCESS &&
           cudaStreamSynchronize(stream) == cudaSuccess;
}

/* The batch's JPEGs into their outputs: in one batched call what it
 * takes, one by one the rest and all of a batch that failed. Sets
 * d->on_device. */
static void decode_jpegs(rlkd_image_decoder *d, const rlkd_device_image *images,
                         int n, cudaStream_t stream)
{
    int batched = 0;
    for (int i = 0; i < n; i++) {
        d->on_device[i] = 0;
        if (images[i].source.jpeg && batchable(d, &images[i])) {
            d->data[batched] = images[i].source.jpeg;
            d->lengths[batched] = images[i].source.jpeg_size;
            d->batch_outputs[batched++] = d->outputs[i];
            d->on_device[i] = 1;
        }
    }
    if (batched > 0) {
        nvjpegStatus_t status = NVJPEG_STATUS_SUCCESS;
        if (d->batched_size != batched) {
            status = nvjpegDecodeBatchedInitialize(d->handle, d->batched,
                                                   batched, 1,
                                                   NVJPEG_OUTPUT_RGBI);
            d->batched_size = status == NVJPEG_STATUS_SUCCESS ? batched : 0;
        }
        if (status == NVJPEG_STATUS_SUCCESS)
            status = nvjpegDecodeBatched(d->handle, d->batched, d->data,
                                         d->lengths, d->batch_outputs, stream);
        if (status != NVJPEG_STATUS_SUCCESS) {
            d->batched_size = 0; /* initialised again next time */
            for (int i = 0; i < n; i++)
                d->on_device[i] = 0;
        }
    }
    for (int i = 0; i < n; i++)
        if (images[i].source.jpeg && !d->on_device[i])
            d->on_device[i] = decode_one(d, &images[i], &d->outputs[i], stream);
}

/* Where the tables lie in host_tables and tables: the jobs first, then
 * the weights and the bounds (byte offsets). */
struct tables_layout {
    size_t bytes, weights, bounds;
};

/* Lays the batch out in the buffers: each image's job, its pixels' and
 * rows' places, its weights and bounds packed into host_tables. */
static rlkd_status lay_out(rlkd_image_decoder *d, const char *op,
                           const rlkd_device_image *images, int n,
                           tables_layout *layout)
{
    size_t pixel_bytes = 0, row_bytes = 0, weights = 0, bounds = 0;
    for (int i = 0; i < n; i++) {
        const rlkd_resample_plan *p = &images[i].plan;
        pixel_bytes += aligned((size_t)images[i].source.decoded.height *
                               images[i].source.decoded.width * RGB);
        row_bytes += aligned((size_t)(p->row_end - p->row_first) *
                             p->across.count * RGB);
        weights += (size_t)p->across.count * p->across.taps +
                   (size_t)p->down.count * p->down.taps;
        bounds += 2 * (size_t)(p->across.count + p->down.count);
    }
    layout->weights = (size_t)n * sizeof(image_job);
    layout->bounds = layout->weights + weights * sizeof(int32_t);
    layout->bytes = layout->bounds + bounds * sizeof(int);
    RLKD_TRY(reserve(op, (void **)&d->pixels, &d->pixels_bytes, pixel_bytes));
    RLKD_TRY(reserve(op, (void **)&d->rows, &d->rows_bytes, row_bytes));
    RLKD_TRY(reserve(op, &d->tables, &d->tables_bytes, layout->bytes));
    if (layout->bytes > d->host_tables_bytes) {
        free(d->host_tables);
        d->host_tables = malloc(layout->bytes);
        d->host_tables_bytes = d->host_tables ? layout->bytes : 0;
        if (!d->host_tables)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "%s: out of memory for a batch's resampling "
                             "weights", op);
    }

    image_job *jobs = (image_job *)d->host_tables;
    int32_t *weight_table =
        (int32_t *)((char *)d->host_tables + layout->weights);
    int *bound_table = (int *)((char *)d->host_tables + layout->bounds);
    size_t pixel_at = 0, row_at = 0, weight_at = 0, bound_at = 0;
    for (int i = 0; i < n; i++) {
        const rlkd_resample_plan *p = &images[i].plan;
        const rlkd_rgb_image *size = &images[i].source.decoded;
        image_job *job = &jobs[i];
        memset(job, 0, sizeof *job);
        job->pixels = pixel_at;
        job->rows = row_at;
        job->width = size->width;
        job->top = p->from.top;
        job->left = p->from.left;
        job->row_first = p->row_first;
        job->row_count = p->row_end - p->row_first;
        job->across_first = p->across.first;
        job->across_count = p->across.count;
        job->across_taps = p->across.taps;
        job->down_first = p->down.first;
        job->down_count = p->down.count;
        job->down_taps = p->down.taps;
        job->grid_top = p->grid_top;
        job->grid_left = p->grid_left;
        job->flip = p->flip;
        const size_t across_weights = (size_t)p->across.count * p->across.taps;
        const size_t down_weights = (size_t)p->down.count * p->down.taps;
        job->across_weights = weight_at;
        job->down_weights = weight_at + across_weights;
        job->across_bounds = bound_at;
        job->down_bounds = bound_at + 2 * (size_t)p->across.count;
        if (across_weights) {
            memcpy(weight_table + weight_at, p->across.weights,
                   across_weights * sizeof(int32_t));
            memcpy(weight_table + weight_at + across_weights,
                   p->down.weights, down_weights * sizeof(int32_t));
            memcpy(bound_table + bound_at, p->across.bounds,
                   2 * (size_t)p->across.count * sizeof(int));
            memcpy(bound_table + bound_at + 2 * (size_t)p->across.count,
                   p->down.bounds, 2 * (size_t)p->down.count * sizeof(int));
        }
        weight_at += across_weights + down_weights;
        bound_at += 2 * (size_t)(p->across.count + p->down.count);

        nvjpegImage_t *output = &d->outputs[i];
        memset(output, 0, sizeof *output);
        output->channel[0] = d->pixels + pixel_at;
        output->pitch[0] = (size_t)size->width * RGB;
        pixel_at += aligned((size_t)size->height * size->width * RGB);
        row_at += aligned((size_t)job->row_count * p->across.count * RGB);
    }
    return RLKD_OK;
}

/* The batch's steps up to the kernels' launches, all on the stream. */
static rlkd_status run_batch(rlkd_image_decoder *d, const char *op, float *dst,
                             rlkd_device_image *images, int n,
                             cudaStream_t stream)
{
    tables_layout layout;
    RLKD_TRY(lay_out(d, op, images, n, &layout));
    RLKD_TRY(rlkd_cuda_check(cudaMemcpyAsync(d->tables, d->host_tables,
                                             layout.bytes,
                                             cudaMemcpyHostToDevice, stream),
                             "cudaMemcpyAsync (resampling weights)"));
    decode_jpegs(d, images, n, stream);
    /* What nvJPEG did not decode, the host does (the workers read these
     * bytes through libjpeg already, so only memory can fail), and every
     * image decoded on the host goes up. */
    for (int i = 0; i < n; i++) {
        rlkd_rgb_image *decoded = &images[i].source.decoded;
        if (d->on_device[i])
            continue;
        if (!decoded->pixels) {
            char reason[RLKD_REASON_BYTES];
            rlkd_rgb_image host;
            const rlkd_status status = rlkd_image_decode_buffer(
                images[i].source.jpeg, images[i].source.jpeg_size, 0, &host,
                reason);
            if (status != RLKD_OK)
                return rlkd_fail(status, "%s: %s: %s", op, images[i].path,
                                 reason);
            decoded->pixels = host.pixels;
        }
        RLKD_TRY(rlkd_cuda_check(
            cudaMemcpyAsync(d->outputs[i].channel[0], decoded->pixels,
                            (size_t)decoded->height * decoded->width * RGB,
                            cudaMemcpyHostToDevice, stream),
            "cudaMemcpyAsync (pixels decoded on the host)"));
    }
    const image_job *jobs = (const image_job *)d->tables;
    const int32_t *weights =
        (const int32_t *)((const char *)d->tables + layout.weights);
    const int *bounds = (const int *)((const char *)d->tables + layout.bounds);
    const dim3 grid((unsigned)n, BLOCKS_PER_IMAGE);
    rlkd_resample_rows_kernel<<<grid, RLKD_CUDA_BLOCK, 0, stream>>>(
        d->rows, d->pixels, jobs, weights, bounds);
    RLKD_TRY(rlkd_cuda_launched("rlkd_resample_rows_kernel"));
    rlkd_resample_columns_kernel<<<grid, RLKD_CUDA_BLOCK, 0, stream>>>(
        dst, d->rows, jobs, weights, bounds, d->level_values, d->side);
    return rlkd_cuda_launched("rlkd_resample_columns_kernel");
}

extern "C" rlkd_status rlkd_image_decoder_run(rlkd_image_decoder *d,
                                              const char *op, float *dst,
                                              rlkd_device_image *images, int n)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(d->ctx->device_index),
                             "cudaSetDevice"));
    cudaStream_t stream = rlkd_cuda_stream(d->ctx);
    const rlkd_status status = run_batch(d, op, dst, images, n, stream);
    /* Waited for whatever happened: the host's bytes and pixels go when
     * this returns, and the buffers may grow at the next batch. */
    const rlkd_status done = rlkd_cuda_check(cudaStreamSynchronize(stream),
                                             "cudaStreamSynchronize");
    return status != RLKD_OK ? status : done;
}
