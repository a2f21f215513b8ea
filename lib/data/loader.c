/*
 * Batches of a data set as float tensors, with seeded augmentation. Every
 * random choice is a Philox draw keyed by options.seed: an epoch's order
 * from stream 2 * epoch + 1 (index = position in the Fisher-Yates shuffle),
 * an image's crop and flip from stream 2 * epoch + 2 (index = the image's
 * index in the data set). Stream 0 is rlkd_dataset_split's. So a batch is a
 * pure function of (seed, epoch, batch), whatever ran before it and however
 * many threads fill it.
 */
#include "data_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every field, std the last, is read. */
#define OPTIONS_SIZE_READ \
    (offsetof(rlkd_loader_options, std) + sizeof ((rlkd_loader_options *)0)->std)
/* The channels mean and std have entries for. */
#define NORMALISED_CHANNELS 4
#define PIXEL_LEVELS 256
/* Epochs below this keep 2 * epoch + 2 within uint64 streams. */
#define EPOCH_LIMIT ((int64_t)1 << 62)
/* Pixels per batch below which one thread fills it faster. */
#define PARALLEL_MIN_PIXELS 32768

/* The two batch sizes an epoch has: full ones and a smaller last one. */
enum { FULL_BATCH, LAST_BATCH, BATCH_KINDS };

struct rlkd_loader {
    rlkd_context *ctx;
    const rlkd_dataset *dataset;
    rlkd_loader_options options;
    int64_t batch_count;
    int64_t epoch;
    int64_t next_batch;
    int64_t *order;      /* the data set's images in this epoch's order */
    float *level_values; /* [channels][256]: each pixel byte normalised */
    float *host_images;  /* one full batch, filled before the copy to ctx */
    int32_t *host_labels;
    int batch_sizes[BATCH_KINDS]; /* 0 where an epoch has no such batch */
    rlkd_tensor *images[BATCH_KINDS], *labels[BATCH_KINDS];
};

static uint64_t order_stream(int64_t epoch)
{
    return 2 * (uint64_t)epoch + 1;
}

static uint64_t augment_stream(int64_t epoch)
{
    return 2 * (uint64_t)epoch + 2;
}

void rlkd_loader_options_init(rlkd_loader_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->batch_size = 64;
    options->shuffle = 1;
    for (int c = 0; c < NORMALISED_CHANNELS; c++)
        options->std[c] = 1.0f;
}

static rlkd_status check_options(const char *op, const rlkd_loader_options *o,
                                 const rlkd_dataset *dataset)
{
    RLKD_TRY(rlkd_expect_struct_size(op, "options", o->struct_size,
                                     OPTIONS_SIZE_READ,
                                     "rlkd_loader_options_init"));
    RLKD_TRY(rlkd_expect_at_least(op, "options->batch_size", o->batch_size, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "options->crop_padding", o->crop_padding,
                                  0));
    int normalises = 0;
    for (int c = 0; c < NORMALISED_CHANNELS; c++) {
        char name[32];
        snprintf(name, sizeof name, "options->mean[%d]", c);
        RLKD_TRY(rlkd_expect_finite(op, name, o->mean[c]));
        snprintf(name, sizeof name, "options->std[%d]", c);
        RLKD_TRY(rlkd_expect_finite_above(op, name, o->std[c], 0.0f));
        normalises |= o->mean[c] != 0.0f || o->std[c] != 1.0f;
    }
    if (normalises && dataset->channels > NORMALISED_CHANNELS)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: mean and std cover %d channels, the data set has "
                         "%d (leave them 0 and 1 for no normalisation)",
                         op, NORMALISED_CHANNELS, dataset->channels);
    if (o->drop_last && dataset->count < o->batch_size)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: drop_last with batch_size %d leaves no batch of "
                         "the %lld images",
                         op, o->batch_size, (long long)dataset->count);
    int64_t largest = o->batch_size < dataset->count ? o->batch_size
                                                     : dataset->count;
    if ((uint64_t)largest * dataset->image_bytes > INT32_MAX)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: a batch of %lld images of %zu pixels is over "
                         "the 2^31 - 1 elements of a tensor",
                         op, (long long)largest, dataset->image_bytes);
    return RLKD_OK;
}

/* Orders the images of `epoch`: a seeded shuffle, or the data set's order. */
static void order_epoch(rlkd_loader *loader, int64_t epoch)
{
    int64_t count = loader->dataset->count;
    if (loader->options.shuffle) {
        rlkd_data_permutation(loader->options.seed, order_stream(epoch), count,
                              loader->order);
    } else {
        for (int64_t i = 0; i < count; i++)
            loader->order[i] = i;
    }
    loader->epoch = epoch;
}

/* Allocates the loader's host arrays and batch tensors. */
static rlkd_status allocate(const char *op, rlkd_loader *loader)
{
    const rlkd_dataset *d = loader->dataset;
    int batch_size = loader->options.batch_size;
    loader->batch_sizes[FULL_BATCH] = d->count >= batch_size ? batch_size : 0;
    loader->batch_sizes[LAST_BATCH] =
        loader->options.drop_last ? 0 : (int)(d->count % batch_size);
    int64_t largest = loader->batch_sizes[FULL_BATCH]
                          ? loader->batch_sizes[FULL_BATCH]
                          : loader->batch_sizes[LAST_BATCH];
    loader->order = malloc((size_t)d->count * sizeof *loader->order);
    loader->level_values =
        malloc((size_t)d->channels * PIXEL_LEVELS * sizeof(float));
    loader->host_images =
        malloc((size_t)largest * d->image_bytes * sizeof(float));
    loader->host_labels = malloc((size_t)largest * sizeof(int32_t));
    if (!loader->order || !loader->level_values || !loader->host_images ||
        !loader->host_labels)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for batches of %lld images", op,
                         (long long)largest);
    for (int kind = 0; kind < BATCH_KINDS; kind++) {
        if (!loader->batch_sizes[kind])
            continue;
        const int64_t image_shape[4] = {loader->batch_sizes[kind], d->channels,
                                        d->height, d->width};
        const int64_t label_shape[1] = {loader->batch_sizes[kind]};
        RLKD_TRY(rlkd_tensor_create(loader->ctx, RLKD_DTYPE_F32, 4,
                                    image_shape, &loader->images[kind]));
        RLKD_TRY(rlkd_tensor_create(loader->ctx, RLKD_DTYPE_I32, 1,
                                    label_shape, &loader->labels[kind]));
    }
    return RLKD_OK;
}

/* The normalised value of every byte in every channel: a table, so each
 * pixel costs a load, with the same float operations as computing it. */
static void fill_level_values(rlkd_loader *loader)
{
    for (int c = 0; c < loader->dataset->channels; c++) {
        int normalised = c < NORMALISED_CHANNELS;
        float mean = normalised ? loader->options.mean[c] : 0.0f;
        float std = normalised ? loader->options.std[c] : 1.0f;
        for (int level = 0; level < PIXEL_LEVELS; level++) {
            float scaled = (float)level / 255.0f;
            loader->level_values[c * PIXEL_LEVELS + level] =
                (scaled - mean) / std;
        }
    }
}

/*
 * Image `image` of the data set, augmented for this epoch, into dst
 * [C,H,W]: a window of the image zero-padded by p on every side, at offset
 * (dy, dx) in [0, 2p]^2, then mirrored left-right when flipped. The offsets
 * are the draw's words modulo 2p + 1 (a bias below (2p + 1) / 2^32).
 */
static void fill_image(const rlkd_loader *loader, int64_t image, float *dst)
{
    const rlkd_dataset *d = loader->dataset;
    const rlkd_loader_options *o = &loader->options;
    int64_t pad = o->crop_padding, dy = pad, dx = pad;
    int flip = 0;
    if (pad > 0 || o->horizontal_flip) {
        rlkd_philox_block r = rlkd_philox4x32(
            o->seed, augment_stream(loader->epoch), (uint64_t)image);
        uint64_t offsets = 2 * (uint64_t)pad + 1;
        dy = (int64_t)(r.v[0] % offsets);
        dx = (int64_t)(r.v[1] % offsets);
        flip = o->horizontal_flip && (r.v[2] >> 31);
    }
    int64_t height = d->height, width = d->width;
    const uint8_t *src = d->pixels + (size_t)image * d->image_bytes;
    for (int c = 0; c < d->channels; c++) {
        const float *values = loader->level_values + c * PIXEL_LEVELS;
        const uint8_t *plane = src + (size_t)c * height * width;
        for (int64_t y = 0; y < height; y++) {
            int64_t sy = y + dy - pad;
            float *row = dst + ((size_t)c * height + y) * width;
            for (int64_t x = 0; x < width; x++) {
                int64_t sx = (flip ? width - 1 - x : x) + dx - pad;
                int inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
                row[x] = values[inside ? plane[sy * width + sx] : 0];
            }
        }
    }
}

rlkd_status rlkd_loader_create(rlkd_context *ctx, const rlkd_dataset *dataset,
                               const rlkd_loader_options *options,
                               rlkd_loader **out)
{
    static const char op[] = "rlkd_loader_create";
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    RLKD_TRY(rlkd_data_expect_pointer(op, "options", options));
    RLKD_TRY(check_options(op, options, dataset));
    rlkd_loader *loader = calloc(1, sizeof *loader);
    if (!loader)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for the loader", op);
    loader->ctx = ctx;
    loader->dataset = dataset;
    loader->options = *options;
    loader->options.struct_size = sizeof loader->options;
    int64_t batch_size = options->batch_size;
    loader->batch_count = options->drop_last
                              ? dataset->count / batch_size
                              : (dataset->count + batch_size - 1) / batch_size;
    rlkd_status status = allocate(op, loader);
    if (status != RLKD_OK) {
        rlkd_loader_destroy(loader);
        return status;
    }
    fill_level_values(loader);
    order_epoch(loader, 0);
    *out = loader;
    return RLKD_OK;
}

void rlkd_loader_destroy(rlkd_loader *loader)
{
    if (!loader)
        return;
    for (int kind = 0; kind < BATCH_KINDS; kind++) {
        rlkd_tensor_destroy(loader->images[kind]);
        rlkd_tensor_destroy(loader->labels[kind]);
    }
    free(loader->order);
    free(loader->level_values);
    free(loader->host_images);
    free(loader->host_labels);
    free(loader);
}

rlkd_status rlkd_loader_start_epoch(rlkd_loader *loader, int64_t epoch,
                                    int64_t first_batch)
{
    static const char op[] = "rlkd_loader_start_epoch";
    RLKD_TRY(rlkd_data_expect_pointer(op, "loader", loader));
    if (epoch < 0 || epoch >= EPOCH_LIMIT)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: epoch %lld is outside [0, 2^62)", op,
                         (long long)epoch);
    if (first_batch < 0 || first_batch > loader->batch_count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: first_batch %lld is outside [0, %lld]", op,
                         (long long)first_batch,
                         (long long)loader->batch_count);
    order_epoch(loader, epoch);
    loader->next_batch = first_batch;
    return RLKD_OK;
}

rlkd_status rlkd_loader_batch_count(const rlkd_loader *loader, int64_t *count)
{
    static const char op[] = "rlkd_loader_batch_count";
    RLKD_TRY(rlkd_data_expect_pointer(op, "loader", loader));
    RLKD_TRY(rlkd_data_expect_pointer(op, "count", count));
    *count = loader->batch_count;
    return RLKD_OK;
}

rlkd_status rlkd_loader_next(rlkd_loader *loader, rlkd_tensor **images,
                             rlkd_tensor **labels)
{
    static const char op[] = "rlkd_loader_next";
    RLKD_TRY(rlkd_data_expect_pointer(op, "loader", loader));
    RLKD_TRY(rlkd_data_expect_pointer(op, "images", images));
    RLKD_TRY(rlkd_data_expect_pointer(op, "labels", labels));
    *images = NULL;
    *labels = NULL;
    if (loader->next_batch >= loader->batch_count)
        return RLKD_OK;
    const rlkd_dataset *d = loader->dataset;
    int64_t first = loader->next_batch * loader->options.batch_size;
    int64_t n = d->count - first < loader->options.batch_size
                    ? d->count - first
                    : loader->options.batch_size;
    int kind = n == loader->batch_sizes[FULL_BATCH] ? FULL_BATCH : LAST_BATCH;
    size_t image_values = d->image_bytes;
    #pragma omp parallel for num_threads(loader->ctx->num_threads) \
        if ((size_t)n * image_values >= PARALLEL_MIN_PIXELS)
    for (int64_t i = 0; i < n; i++) {
        int64_t image = loader->order[first + i];
        fill_image(loader, image, loader->host_images + (size_t)i * image_values);
        loader->host_labels[i] = d->labels[image];
    }
    RLKD_TRY(rlkd_tensor_write(loader->images[kind], loader->host_images,
                               (size_t)n * image_values));
    RLKD_TRY(rlkd_tensor_write_i32(loader->labels[kind], loader->host_labels,
                                   (size_t)n));
    loader->next_batch++;
    *images = loader->images[kind];
    *labels = loader->labels[kind];
    return RLKD_OK;
}
