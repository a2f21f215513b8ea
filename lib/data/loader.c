/*
 * Batches of a data set as float tensors, with seeded augmentation. Every
 * random choice is a Philox draw keyed by options.seed: an epoch's order
 * from stream 2 * epoch + 1 (index = position in the Fisher-Yates shuffle),
 * an image's crop and flip from stream 2 * epoch + 2 (index = the image's
 * index in the data set; for a file-backed set's decoded images 16 * image
 * + draw, see transform.c). Stream 0 is rlkd_dataset_split's. So a batch is a
 * pure function of (seed, epoch, batch), whatever ran before it and however
 * many threads fill it.
 *
 * With decode_device RLKD_DEVICE_CUDA a file-backed set's images are read
 * (and planned: window, flip, weights) into the slots instead, and the
 * caller's rlkd_loader_next decodes and resamples the batch on the GPU
 * (kernels/image_decode.cu): the context is the caller's alone.
 *
 * With options.workers threads, batches are filled ahead into a ring of
 * options.prefetch slots: workers take images (batch, position) in order
 * under one lock, fill them unlocked, and the caller waits for its batch's
 * last image. A batch's first error is the one of its lowest position, so
 * errors too are the same whatever the number of workers. Restarting an
 * epoch or destroying waits for the images in flight (at most one per
 * worker), never for whole batches.
 */
#include "data_internal.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fields of the first version (through std): an older caller's
 * struct ends there, and the fields appended since keep their defaults. */
#define OPTIONS_SIZE_FIRST \
    (offsetof(rlkd_loader_options, std) + sizeof ((rlkd_loader_options *)0)->std)
/* Decoding threads at most: far beyond any machine's useful count. */
#define WORKERS_LIMIT 256
#define PREFETCH_LIMIT 64
#define RGB 3
#define MESSAGE_BYTES 1024
/* The channels mean and std have entries for. */
#define NORMALISED_CHANNELS 4
#define PIXEL_LEVELS 256
/* Epochs below this keep 2 * epoch + 2 within uint64 streams. */
#define EPOCH_LIMIT ((int64_t)1 << 62)
/* Pixels per batch below which one thread fills it faster. */
#define PARALLEL_MIN_PIXELS 32768

/* The two batch sizes an epoch has: full ones and a smaller last one. */
enum { FULL_BATCH, LAST_BATCH, BATCH_KINDS };

/* One batch being filled on the host before its copy to ctx. */
typedef struct batch_slot {
    float *images;       /* NULL on the GPU path ... */
    rlkd_device_image *device_images; /* ... which fills these instead */
    int32_t *labels;
    int64_t batch;       /* the batch it holds or is filling; -1: none */
    int remaining;       /* images not yet filled */
    int error_position;  /* the lowest failed position, or the batch size */
    rlkd_status status;  /* that image's failure */
    char message[MESSAGE_BYTES];
} batch_slot;

struct rlkd_loader {
    rlkd_context *ctx;
    const rlkd_dataset *dataset;
    rlkd_loader_options options;
    int64_t batch_count;
    int64_t epoch;
    int64_t next_batch;  /* the caller's next batch (under `lock` with workers) */
    int64_t *order;      /* the data set's images in this epoch's order */
    float *level_values; /* [channels][256]: each pixel byte normalised */
    int channels, height, width; /* of the batches' images */
    size_t image_values;         /* channels * height * width */
    int batch_sizes[BATCH_KINDS]; /* 0 where an epoch has no such batch */
    rlkd_tensor *images[BATCH_KINDS], *labels[BATCH_KINDS];
    rlkd_image_decoder *decoder; /* the GPU path's, or NULL */
    /* A data-parallel rank's part of every batch (rlkd_loader_set_shard):
     * the rows of shard_rank of shard_world are filled, the others get
     * zeros and their labels. shard_world <= 1: the whole batch. */
    int shard_rank, shard_world;
    batch_slot *slots;   /* prefetch slots with workers, else one */
    int slot_count;
    /* The workers' state, all under `lock`. */
    pthread_t *threads;
    int thread_count;    /* started */
    int synchronised;    /* lock and conditions initialised */
    pthread_mutex_t lock;
    pthread_cond_t work; /* for workers: an image to fill, or shutdown */
    pthread_cond_t done; /* for the caller: an image filled */
    int shutting_down, paused, in_flight;
    int64_t produce_batch; /* the next image to hand out: batch ... */
    int produce_position;  /* ... and position in it */
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
    options->crop_size = 224;
    options->resize_size = 256;
    options->scale_min = 0.08f;
    options->scale_max = 1.0f;
    options->ratio_min = 3.0f / 4.0f;
    options->ratio_max = 4.0f / 3.0f;
    options->prefetch = 2;
    options->decode_device = RLKD_DEVICE_CPU;
}

/* decode_device, checked in the order that names what is missing first:
 * the build, then the data set, then the context. */
static rlkd_status check_decode_device(const char *op,
                                       const rlkd_loader_options *o,
                                       const rlkd_context *ctx,
                                       const rlkd_dataset *dataset)
{
    if (o->decode_device == RLKD_DEVICE_CPU)
        return RLKD_OK;
    if (o->decode_device != RLKD_DEVICE_CUDA)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->decode_device is %d, not "
                         "RLKD_DEVICE_CPU or RLKD_DEVICE_CUDA",
                         op, (int)o->decode_device);
    if (!rlkd_nvjpeg_available())
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: options->decode_device is RLKD_DEVICE_CUDA, but "
                         "rlkd was built without nvJPEG (build with CUDA and "
                         "nvJPEG, or decode on RLKD_DEVICE_CPU)", op);
    if (!dataset->paths)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->decode_device RLKD_DEVICE_CUDA decodes "
                         "image files; this data set is in memory (leave it "
                         "RLKD_DEVICE_CPU)", op);
    if (ctx->kind != RLKD_DEVICE_CUDA)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->decode_device RLKD_DEVICE_CUDA decodes "
                         "on the context's GPU, and this is a CPU context", op);
    return RLKD_OK;
}

/* The fields of the file-backed transforms and of the workers. */
static rlkd_status check_appended_options(const char *op,
                                          const rlkd_loader_options *o,
                                          const rlkd_context *ctx,
                                          const rlkd_dataset *dataset)
{
    RLKD_TRY(rlkd_expect_at_least(op, "options->crop_size", o->crop_size, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "options->resize_size", o->resize_size, 1));
    RLKD_TRY(rlkd_expect_finite_above(op, "options->scale_min", o->scale_min, 0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->scale_max", o->scale_max,
                                         o->scale_min));
    RLKD_TRY(rlkd_expect_finite_above(op, "options->ratio_min", o->ratio_min, 0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->ratio_max", o->ratio_max,
                                         o->ratio_min));
    RLKD_TRY(rlkd_expect_at_least(op, "options->workers", o->workers, 0));
    if (o->workers > WORKERS_LIMIT || o->prefetch > PREFETCH_LIMIT)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->workers %d / prefetch %d are over %d / %d",
                         op, o->workers, o->prefetch, WORKERS_LIMIT,
                         PREFETCH_LIMIT);
    RLKD_TRY(rlkd_expect_at_least(op, "options->prefetch", o->prefetch, 1));
    if (dataset->paths && o->crop_padding != 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->crop_padding is %d; a file-backed data "
                         "set is cropped by random_resized_crop or the centre "
                         "crop, leave it 0", op, o->crop_padding);
    return check_decode_device(op, o, ctx, dataset);
}

static rlkd_status check_options(const char *op, const rlkd_loader_options *o,
                                 const rlkd_context *ctx,
                                 const rlkd_dataset *dataset,
                                 size_t image_values)
{
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
    RLKD_TRY(check_appended_options(op, o, ctx, dataset));
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
    if (image_values > INT32_MAX || (uint64_t)largest * image_values > INT32_MAX)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: a batch of %lld images of %zu values is over "
                         "the 2^31 - 1 elements of a tensor",
                         op, (long long)largest, image_values);
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

static int largest_batch(const rlkd_loader *loader)
{
    return loader->batch_sizes[FULL_BATCH] ? loader->batch_sizes[FULL_BATCH]
                                           : loader->batch_sizes[LAST_BATCH];
}

/* Frees what a GPU-path image holds, leaving it empty. */
static void clear_device_image(rlkd_device_image *image)
{
    free(image->source.jpeg);
    free(image->source.decoded.pixels);
    rlkd_resample_plan_free(&image->plan);
    memset(image, 0, sizeof *image);
}

/* Allocates the loader's host arrays, slots and batch tensors. */
static rlkd_status allocate(const char *op, rlkd_loader *loader)
{
    const rlkd_dataset *d = loader->dataset;
    int batch_size = loader->options.batch_size;
    loader->batch_sizes[FULL_BATCH] = d->count >= batch_size ? batch_size : 0;
    loader->batch_sizes[LAST_BATCH] =
        loader->options.drop_last ? 0 : (int)(d->count % batch_size);
    int64_t largest = largest_batch(loader);
    int on_device = loader->options.decode_device == RLKD_DEVICE_CUDA;
    loader->slot_count = loader->options.workers ? loader->options.prefetch : 1;
    loader->order = malloc((size_t)d->count * sizeof *loader->order);
    loader->level_values =
        malloc((size_t)loader->channels * PIXEL_LEVELS * sizeof(float));
    loader->slots = calloc((size_t)loader->slot_count, sizeof *loader->slots);
    int missing = !loader->order || !loader->level_values || !loader->slots;
    for (int s = 0; !missing && s < loader->slot_count; s++) {
        batch_slot *slot = &loader->slots[s];
        slot->batch = -1;
        if (on_device)
            slot->device_images =
                calloc((size_t)largest, sizeof *slot->device_images);
        else
            slot->images =
                malloc((size_t)largest * loader->image_values * sizeof(float));
        slot->labels = malloc((size_t)largest * sizeof(int32_t));
        missing = !(slot->images || slot->device_images) || !slot->labels;
    }
    if (missing)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for batches of %lld images", op,
                         (long long)largest);
    for (int kind = 0; kind < BATCH_KINDS; kind++) {
        if (!loader->batch_sizes[kind])
            continue;
        const int64_t image_shape[4] = {loader->batch_sizes[kind],
                                        loader->channels, loader->height,
                                        loader->width};
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
    for (int c = 0; c < loader->channels; c++) {
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
 * Image `image` of an in-memory data set, augmented for this epoch, into
 * dst [C,H,W]: a window of the image zero-padded by p on every side, at
 * offset (dy, dx) in [0, 2p]^2, then mirrored left-right when flipped. The
 * offsets are the draw's words modulo 2p + 1 (a bias below (2p + 1) / 2^32).
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

/* The plan of image `image`, of height x width pixels, through the
 * training or the evaluation transform: the same draws on either path. */
static rlkd_status plan_image(const rlkd_loader *loader, int64_t image,
                              int height, int width, rlkd_resample_plan *plan)
{
    const rlkd_loader_options *o = &loader->options;
    int side = o->crop_size;
    uint64_t stream = augment_stream(loader->epoch);
    int flip = o->horizontal_flip &&
               rlkd_random_flip(o->seed, stream, (uint64_t)image);
    if (o->random_resized_crop) {
        rlkd_crop crop = rlkd_random_resized_crop(
            height, width, o->scale_min, o->scale_max, o->ratio_min,
            o->ratio_max, o->seed, stream, (uint64_t)image);
        return rlkd_resample_plan_make(plan, crop, side, side, 0, 0, side,
                                       flip);
    }
    int grid_height, grid_width, grid_top, grid_left;
    rlkd_center_crop_grid(height, width, o->resize_size, side, &grid_height,
                          &grid_width, &grid_top, &grid_left);
    rlkd_crop whole = {0, 0, height, width};
    return rlkd_resample_plan_make(plan, whole, grid_height, grid_width,
                                   grid_top, grid_left, side, flip);
}

static rlkd_status out_of_memory_resizing(char *reason)
{
    snprintf(reason, RLKD_REASON_BYTES, "out of memory resizing it");
    return RLKD_ERR_OUT_OF_MEMORY;
}

/* The CPU path: file `image` decoded and transformed into dst. */
static rlkd_status decode_here(const rlkd_loader *loader, int64_t image,
                               float *dst, char *reason)
{
    rlkd_rgb_image decoded;
    rlkd_status status = rlkd_image_decode_file(loader->dataset->paths[image],
                                                0, &decoded, reason);
    if (status != RLKD_OK)
        return status;
    rlkd_resample_plan plan;
    status = plan_image(loader, image, decoded.height, decoded.width, &plan);
    if (status == RLKD_OK) {
        status = rlkd_resample_rgb(&decoded, &plan, loader->level_values, dst);
        rlkd_resample_plan_free(&plan);
    }
    free(decoded.pixels);
    return status == RLKD_OK ? RLKD_OK : out_of_memory_resizing(reason);
}

/* The GPU path: file `image` read, and its transform planned, for the
 * decoder. Its JPEG stream is read through on the host, as the CPU path's
 * decoding would, unless the data set's open decoded every file. */
static rlkd_status read_for_device(const rlkd_loader *loader, int64_t image,
                                   rlkd_device_image *out, char *reason)
{
    const rlkd_dataset *d = loader->dataset;
    const char *path = d->paths[image];
    rlkd_status status = rlkd_image_read_encoded(
        path, d->verified != RLKD_VERIFY_DECODE, &out->source, reason);
    if (status != RLKD_OK)
        return status;
    status = plan_image(loader, image, out->source.decoded.height,
                        out->source.decoded.width, &out->plan);
    if (status != RLKD_OK) {
        clear_device_image(out);
        return out_of_memory_resizing(reason);
    }
    out->path = path;
    return RLKD_OK;
}

/*
 * Image `image` of a file-backed data set into position `position` of slot
 * and its label. A file that fails to decode fails the image
 * (RLKD_BAD_FILES_FAIL; message names it) or is replaced by the next one
 * of the data set that decodes (SKIP), with that image's label and
 * augmentation.
 */
static rlkd_status fill_file(const rlkd_loader *loader, int64_t image,
                             batch_slot *slot, int position, char *message)
{
    const rlkd_dataset *d = loader->dataset;
    rlkd_status first_status = RLKD_OK;
    char reason[RLKD_REASON_BYTES];
    for (int64_t tried = 0; tried < d->count; tried++) {
        int64_t candidate = (image + tried) % d->count;
        rlkd_status status =
            slot->device_images
                ? read_for_device(loader, candidate,
                                  &slot->device_images[position], reason)
                : decode_here(loader, candidate,
                              slot->images +
                                  (size_t)position * loader->image_values,
                              reason);
        if (status == RLKD_OK) {
            slot->labels[position] = d->labels[candidate];
            return RLKD_OK;
        }
        if (tried == 0 || status == RLKD_ERR_OUT_OF_MEMORY)
            snprintf(message, MESSAGE_BYTES, "rlkd_loader_next: %s: %s",
                     d->paths[candidate], reason);
        if (tried == 0)
            first_status = status;
        if (d->bad_files == RLKD_BAD_FILES_FAIL ||
            status == RLKD_ERR_OUT_OF_MEMORY)
            return status;
    }
    snprintf(message + strlen(message), MESSAGE_BYTES - strlen(message),
             " (and no file of the data set decodes)");
    return first_status;
}

static int batch_size_of(const rlkd_loader *loader, int64_t batch);

/* Whether position `position` of batch `batch` belongs to another rank's
 * rows. The GPU decoding path fills every row. */
static int another_ranks(const rlkd_loader *loader, int64_t batch,
                         int position, const batch_slot *slot)
{
    if (loader->shard_world <= 1 || slot->device_images)
        return 0;
    int64_t first, rows;
    rlkd_shard_rows(batch_size_of(loader, batch), loader->shard_rank,
                    loader->shard_world, &first, &rows);
    return position < first || position >= first + rows;
}

/* Position `position` of batch `batch` into slot `slot`. */
static rlkd_status fill_position(const rlkd_loader *loader, int64_t batch,
                                 int position, batch_slot *slot, char *message)
{
    int64_t image =
        loader->order[batch * loader->options.batch_size + position];
    if (another_ranks(loader, batch, position, slot)) {
        /* Not read, decoded nor augmented: another rank computes on it. */
        memset(slot->images + (size_t)position * loader->image_values, 0,
               loader->image_values * sizeof *slot->images);
        slot->labels[position] = loader->dataset->labels[image];
        return RLKD_OK;
    }
    if (slot->device_images)
        clear_device_image(&slot->device_images[position]);
    if (loader->dataset->paths)
        return fill_file(loader, image, slot, position, message);
    fill_image(loader, image,
               slot->images + (size_t)position * loader->image_values);
    slot->labels[position] = loader->dataset->labels[image];
    return RLKD_OK;
}

static int batch_size_of(const rlkd_loader *loader, int64_t batch)
{
    int64_t rest = loader->dataset->count - batch * loader->options.batch_size;
    return rest < loader->options.batch_size ? (int)rest
                                             : loader->options.batch_size;
}

/* ---- the workers ---- */

/* Under the lock: whether an image may be handed out now. */
static int work_available(const rlkd_loader *loader)
{
    return !loader->paused && loader->produce_batch < loader->batch_count &&
           loader->produce_batch < loader->next_batch + loader->slot_count;
}

static void *worker_main(void *argument)
{
    rlkd_loader *loader = argument;
    char message[MESSAGE_BYTES];
    pthread_mutex_lock(&loader->lock);
    for (;;) {
        while (!loader->shutting_down && !work_available(loader))
            pthread_cond_wait(&loader->work, &loader->lock);
        if (loader->shutting_down)
            break;
        int64_t batch = loader->produce_batch;
        int position = loader->produce_position++;
        int size = batch_size_of(loader, batch);
        batch_slot *slot = &loader->slots[batch % loader->slot_count];
        if (position == 0) {
            slot->batch = batch;
            slot->remaining = size;
            slot->error_position = size;
            slot->status = RLKD_OK;
        }
        if (loader->produce_position == size) {
            loader->produce_batch++;
            loader->produce_position = 0;
        }
        loader->in_flight++;
        pthread_mutex_unlock(&loader->lock);
        message[0] = '\0';
        rlkd_status status = fill_position(loader, batch, position, slot, message);
        pthread_mutex_lock(&loader->lock);
        loader->in_flight--;
        slot->remaining--;
        if (status != RLKD_OK && position < slot->error_position) {
            slot->error_position = position;
            slot->status = status;
            memcpy(slot->message, message, sizeof message);
        }
        pthread_cond_broadcast(&loader->done);
    }
    pthread_mutex_unlock(&loader->lock);
    return NULL;
}

static rlkd_status start_workers(const char *op, rlkd_loader *loader)
{
    int workers = loader->options.workers;
    if (!workers)
        return RLKD_OK;
    if (pthread_mutex_init(&loader->lock, NULL) != 0)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: cannot create a lock", op);
    if (pthread_cond_init(&loader->work, NULL) != 0) {
        pthread_mutex_destroy(&loader->lock);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: cannot create a condition", op);
    }
    if (pthread_cond_init(&loader->done, NULL) != 0) {
        pthread_cond_destroy(&loader->work);
        pthread_mutex_destroy(&loader->lock);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: cannot create a condition", op);
    }
    loader->synchronised = 1;
    loader->threads = malloc((size_t)workers * sizeof *loader->threads);
    if (!loader->threads)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory for %d "
                         "workers", op, workers);
    for (; loader->thread_count < workers; loader->thread_count++)
        if (pthread_create(&loader->threads[loader->thread_count], NULL,
                           worker_main, loader) != 0)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "%s: cannot start decoding thread %d of %d", op,
                             loader->thread_count + 1, workers);
    return RLKD_OK;
}

/* Starts `epoch` at `first_batch`, after the images in flight are done. */
static void restart(rlkd_loader *loader, int64_t epoch, int64_t first_batch)
{
    if (loader->synchronised) {
        pthread_mutex_lock(&loader->lock);
        loader->paused = 1;
        while (loader->in_flight > 0)
            pthread_cond_wait(&loader->done, &loader->lock);
    }
    order_epoch(loader, epoch);
    loader->next_batch = first_batch;
    loader->produce_batch = first_batch;
    loader->produce_position = 0;
    for (int s = 0; s < loader->slot_count; s++)
        loader->slots[s].batch = -1;
    if (loader->synchronised) {
        loader->paused = 0;
        pthread_cond_broadcast(&loader->work);
        pthread_mutex_unlock(&loader->lock);
    }
}

/* ---- public calls ---- */

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
    rlkd_loader_options merged;
    rlkd_loader_options_init(&merged);
    RLKD_TRY(rlkd_merge_struct(op, "options", &merged, sizeof merged, options,
                               OPTIONS_SIZE_FIRST,
                               "rlkd_loader_options_init"));
    int channels = dataset->channels;
    int height = dataset->paths ? merged.crop_size : dataset->height;
    int width = dataset->paths ? merged.crop_size : dataset->width;
    size_t image_values = dataset->paths
                              ? (size_t)RGB * (size_t)(height > 0 ? height : 0) *
                                    (size_t)(width > 0 ? width : 0)
                              : dataset->image_bytes;
    RLKD_TRY(check_options(op, &merged, ctx, dataset, image_values));
    rlkd_loader *loader = calloc(1, sizeof *loader);
    if (!loader)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for the loader", op);
    loader->ctx = ctx;
    loader->dataset = dataset;
    loader->options = merged;
    loader->channels = channels;
    loader->height = height;
    loader->width = width;
    loader->image_values = image_values;
    int64_t batch_size = merged.batch_size;
    loader->batch_count = merged.drop_last
                              ? dataset->count / batch_size
                              : (dataset->count + batch_size - 1) / batch_size;
    rlkd_status status = allocate(op, loader);
    if (status == RLKD_OK) {
        fill_level_values(loader);
        order_epoch(loader, 0);
        if (merged.decode_device == RLKD_DEVICE_CUDA)
            status = rlkd_image_decoder_create(ctx, op, largest_batch(loader),
                                               merged.crop_size,
                                               loader->level_values,
                                               &loader->decoder);
    }
    if (status == RLKD_OK)
        status = start_workers(op, loader);
    if (status != RLKD_OK) {
        rlkd_loader_destroy(loader);
        return status;
    }
    *out = loader;
    return RLKD_OK;
}

void rlkd_loader_destroy(rlkd_loader *loader)
{
    if (!loader)
        return;
    if (loader->synchronised) {
        pthread_mutex_lock(&loader->lock);
        loader->shutting_down = 1;
        pthread_cond_broadcast(&loader->work);
        pthread_mutex_unlock(&loader->lock);
        for (int t = 0; t < loader->thread_count; t++)
            pthread_join(loader->threads[t], NULL);
        pthread_cond_destroy(&loader->done);
        pthread_cond_destroy(&loader->work);
        pthread_mutex_destroy(&loader->lock);
    }
    free(loader->threads);
    for (int kind = 0; kind < BATCH_KINDS; kind++) {
        rlkd_tensor_destroy(loader->images[kind]);
        rlkd_tensor_destroy(loader->labels[kind]);
    }
    rlkd_image_decoder_destroy(loader->decoder);
    for (int s = 0; loader->slots && s < loader->slot_count; s++) {
        batch_slot *slot = &loader->slots[s];
        for (int i = 0; slot->device_images && i < largest_batch(loader); i++)
            clear_device_image(&slot->device_images[i]);
        free(slot->device_images);
        free(slot->images);
        free(slot->labels);
    }
    free(loader->slots);
    free(loader->order);
    free(loader->level_values);
    free(loader);
}

void rlkd_loader_set_shard(rlkd_loader *loader, int rank, int world_size)
{
    /* The batches filled ahead hold other rows: filled again. */
    if (loader->synchronised) {
        pthread_mutex_lock(&loader->lock);
        loader->paused = 1;
        while (loader->in_flight > 0)
            pthread_cond_wait(&loader->done, &loader->lock);
    }
    loader->shard_rank = rank;
    loader->shard_world = world_size;
    if (loader->synchronised)
        pthread_mutex_unlock(&loader->lock);
    restart(loader, loader->epoch, loader->next_batch);
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
    restart(loader, epoch, first_batch);
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

/* Fills the next batch into the only slot, in this thread. */
static void fill_here(rlkd_loader *loader, int64_t batch, int n)
{
    batch_slot *slot = &loader->slots[0];
    slot->status = RLKD_OK;
    if (!loader->dataset->paths) {
        #pragma omp parallel for num_threads(loader->ctx->num_threads) \
            if ((size_t)n * loader->image_values >= PARALLEL_MIN_PIXELS)
        for (int i = 0; i < n; i++)
            fill_position(loader, batch, i, slot, NULL);
        return;
    }
    for (int i = 0; i < n && slot->status == RLKD_OK; i++)
        slot->status = fill_position(loader, batch, i, slot, slot->message);
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
    int64_t batch = loader->next_batch;
    if (batch >= loader->batch_count)
        return RLKD_OK;
    int n = batch_size_of(loader, batch);
    batch_slot *slot = &loader->slots[batch % loader->slot_count];
    if (loader->synchronised) {
        pthread_mutex_lock(&loader->lock);
        while (slot->batch != batch || slot->remaining > 0)
            pthread_cond_wait(&loader->done, &loader->lock);
        pthread_mutex_unlock(&loader->lock);
    } else {
        fill_here(loader, batch, n);
    }
    /* The slot stays the caller's until next_batch moves past it. */
    int kind = n == loader->batch_sizes[FULL_BATCH] ? FULL_BATCH : LAST_BATCH;
    rlkd_status status = slot->status;
    if (status != RLKD_OK)
        status = rlkd_fail(status, "%s", slot->message);
    if (status == RLKD_OK && slot->device_images)
        status = rlkd_image_decoder_run(loader->decoder, op,
                                        rlkd_f32(loader->images[kind]),
                                        slot->device_images, n);
    else if (status == RLKD_OK)
        status = rlkd_tensor_write(loader->images[kind], slot->images,
                                   (size_t)n * loader->image_values);
    if (status == RLKD_OK)
        status = rlkd_tensor_write_i32(loader->labels[kind], slot->labels,
                                       (size_t)n);
    for (int i = 0; slot->device_images && i < n; i++)
        clear_device_image(&slot->device_images[i]);
    if (loader->synchronised) {
        pthread_mutex_lock(&loader->lock);
        loader->next_batch++;
        pthread_cond_broadcast(&loader->work);
        pthread_mutex_unlock(&loader->lock);
    } else {
        loader->next_batch++;
    }
    if (status != RLKD_OK)
        return status;
    *images = loader->images[kind];
    *labels = loader->labels[kind];
    return RLKD_OK;
}
