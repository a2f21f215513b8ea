/*
 * The in-memory data set: 8-bit CHW images and int32 labels in two flat
 * arrays (60,000 Fashion-MNIST images take 47 MB), and the seeded split and
 * subsets that copy out of it.
 */
#include "data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rlkd_status rlkd_data_expect_pointer(const char *op, const char *name,
                                     const void *p)
{
    if (!p)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
    return RLKD_OK;
}

rlkd_status rlkd_dataset_check_shape(rlkd_status status, const char *op,
                                     const char *path, int64_t count,
                                     int channels, int height, int width,
                                     int classes, size_t *image_bytes)
{
    char where[640]; /* "op: path" or "op" */
    snprintf(where, sizeof where, "%s%s%s", op, path ? ": " : "",
             path ? path : "");
    const struct {
        const char *name;
        int64_t value;
    } sizes[] = {{"count", count},   {"channels", channels},
                 {"height", height}, {"width", width},
                 {"classes", classes}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < 1)
            return rlkd_fail(status, "%s: %s is %lld, expected >= 1", where,
                             sizes[i].name, (long long)sizes[i].value);
    /* A loader puts at least one image in a tensor, whose element count
     * must fit an int. */
    int64_t values;
    if (!rlkd_size_mul(channels, height, INT32_MAX, &values) ||
        !rlkd_size_mul(values, width, INT32_MAX, &values))
        return rlkd_fail(status,
                         "%s: one image of %d x %d x %d pixels is too large "
                         "(at most 2^31 - 1 pixels)",
                         where, channels, height, width);
    size_t bytes = (size_t)values;
    if ((uint64_t)count > SIZE_MAX / bytes ||
        (uint64_t)count > SIZE_MAX / sizeof(int32_t))
        return rlkd_fail(status,
                         "%s: %lld images of %zu bytes do not fit in memory",
                         where, (long long)count, bytes);
    *image_bytes = bytes;
    return RLKD_OK;
}

rlkd_status rlkd_dataset_adopt(const char *op, int64_t count, int channels,
                               int height, int width, int classes,
                               uint8_t *pixels, int32_t *labels,
                               rlkd_dataset **out)
{
    rlkd_dataset *dataset = calloc(1, sizeof *dataset);
    if (!dataset) {
        free(pixels);
        free(labels);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for the data set", op);
    }
    dataset->count = count;
    dataset->channels = channels;
    dataset->height = height;
    dataset->width = width;
    dataset->classes = classes;
    dataset->image_bytes = (size_t)channels * (size_t)height * (size_t)width;
    dataset->pixels = pixels;
    dataset->labels = labels;
    *out = dataset;
    return RLKD_OK;
}

/* A zeroed data set of a checked shape. */
static rlkd_status dataset_new(const char *op, int64_t count, int channels,
                               int height, int width, int classes,
                               size_t image_bytes, rlkd_dataset **out)
{
    uint8_t *pixels = calloc((size_t)count, image_bytes);
    int32_t *labels = calloc((size_t)count, sizeof *labels);
    if (!pixels || !labels) {
        free(pixels);
        free(labels);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for %lld images of %zu bytes", op,
                         (long long)count, image_bytes);
    }
    return rlkd_dataset_adopt(op, count, channels, height, width, classes,
                              pixels, labels, out);
}

/* A new data set like `source` (in memory or file-backed) holding `count`
 * images. */
static rlkd_status dataset_like(const char *op, const rlkd_dataset *source,
                                int64_t count, rlkd_dataset **out)
{
    if (source->paths)
        return rlkd_dataset_files_like(op, source, count, out);
    return dataset_new(op, count, source->channels, source->height,
                       source->width, source->classes, source->image_bytes,
                       out);
}

/* Copies image (pixels or path) and label `from` of `source` to slot `to`
 * of `target`; 0 when out of memory for a path. */
static int copy_item(rlkd_dataset *target, int64_t to,
                     const rlkd_dataset *source, int64_t from)
{
    target->labels[to] = source->labels[from];
    if (source->paths)
        return (target->paths[to] = strdup(source->paths[from])) != NULL;
    memcpy(target->pixels + (size_t)to * target->image_bytes,
           source->pixels + (size_t)from * source->image_bytes,
           source->image_bytes);
    return 1;
}

/* Copies images `from` (count of them) of `source` to target's first. */
static rlkd_status copy_items(const char *op, rlkd_dataset *target,
                              const rlkd_dataset *source, const int64_t *from,
                              int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (!copy_item(target, i, source, from[i]))
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "%s: out of memory for a path", op);
    return RLKD_OK;
}

void rlkd_data_permutation(uint64_t seed, uint64_t stream, int64_t n,
                           int64_t *permutation)
{
    for (int64_t i = 0; i < n; i++)
        permutation[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* 64 random bits modulo i + 1: the bias, below (i + 1) / 2^64, is
         * far too small to matter for any data set. */
        rlkd_philox_block r = rlkd_philox4x32(seed, stream, (uint64_t)i);
        uint64_t bits = (uint64_t)r.v[0] | (uint64_t)r.v[1] << 32;
        int64_t j = (int64_t)(bits % (uint64_t)(i + 1));
        int64_t swap = permutation[i];
        permutation[i] = permutation[j];
        permutation[j] = swap;
    }
}

/* The calls that copy pixels need them in memory. */
static rlkd_status expect_in_memory(const char *op, const rlkd_dataset *dataset)
{
    if (!dataset->pixels)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: the data set is file-backed (its images are "
                         "decoded by a loader)", op);
    return RLKD_OK;
}

static rlkd_status check_index(const char *op, const rlkd_dataset *dataset,
                               int64_t index)
{
    if (index < 0 || index >= dataset->count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: index %lld is outside [0, %lld)", op,
                         (long long)index, (long long)dataset->count);
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                              */
/* ------------------------------------------------------------------------ */

rlkd_status rlkd_dataset_create(int64_t count, int channels, int height,
                                int width, int classes, rlkd_dataset **out)
{
    static const char op[] = "rlkd_dataset_create";
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    size_t image_bytes;
    RLKD_TRY(rlkd_dataset_check_shape(RLKD_ERR_INVALID_ARGUMENT, op, NULL,
                                      count, channels, height, width, classes,
                                      &image_bytes));
    return dataset_new(op, count, channels, height, width, classes,
                       image_bytes, out);
}

void rlkd_dataset_destroy(rlkd_dataset *dataset)
{
    if (!dataset)
        return;
    free(dataset->pixels);
    free(dataset->labels);
    rlkd_dataset_free_files(dataset);
    free(dataset);
}

rlkd_status rlkd_dataset_set_item(rlkd_dataset *dataset, int64_t index,
                                  const uint8_t *pixels, int32_t label)
{
    static const char op[] = "rlkd_dataset_set_item";
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    RLKD_TRY(expect_in_memory(op, dataset));
    RLKD_TRY(check_index(op, dataset, index));
    RLKD_TRY(rlkd_data_expect_pointer(op, "pixels", pixels));
    if (label < 0 || label >= dataset->classes)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: label %d is outside [0, %d)", op, (int)label,
                         dataset->classes);
    memcpy(dataset->pixels + (size_t)index * dataset->image_bytes, pixels,
           dataset->image_bytes);
    dataset->labels[index] = label;
    return RLKD_OK;
}

rlkd_status rlkd_dataset_get_item(const rlkd_dataset *dataset, int64_t index,
                                  uint8_t *pixels, int32_t *label)
{
    static const char op[] = "rlkd_dataset_get_item";
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    RLKD_TRY(expect_in_memory(op, dataset));
    RLKD_TRY(check_index(op, dataset, index));
    if (pixels)
        memcpy(pixels, dataset->pixels + (size_t)index * dataset->image_bytes,
               dataset->image_bytes);
    if (label)
        *label = dataset->labels[index];
    return RLKD_OK;
}

rlkd_status rlkd_dataset_info(const rlkd_dataset *dataset, int64_t *count,
                              int *channels, int *height, int *width,
                              int *classes)
{
    RLKD_TRY(rlkd_data_expect_pointer("rlkd_dataset_info", "dataset", dataset));
    if (count)
        *count = dataset->count;
    if (channels)
        *channels = dataset->channels;
    if (height)
        *height = dataset->height;
    if (width)
        *width = dataset->width;
    if (classes)
        *classes = dataset->classes;
    return RLKD_OK;
}

rlkd_status rlkd_dataset_split(const rlkd_dataset *dataset,
                               int64_t validation_count, uint64_t seed,
                               rlkd_dataset **train,
                               rlkd_dataset **validation)
{
    static const char op[] = "rlkd_dataset_split";
    RLKD_TRY(rlkd_data_expect_pointer(op, "train", train));
    RLKD_TRY(rlkd_data_expect_pointer(op, "validation", validation));
    if ((void *)train == (void *)validation)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: train and validation point to the same place",
                         op);
    *train = NULL;
    *validation = NULL;
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    if (validation_count < 1 || validation_count >= dataset->count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: validation_count %lld is outside [1, %lld): "
                         "both parts need an image",
                         op, (long long)validation_count,
                         (long long)dataset->count);
    int64_t *permutation = malloc((size_t)dataset->count * sizeof *permutation);
    uint8_t *chosen = calloc((size_t)dataset->count, 1);
    rlkd_dataset *train_set = NULL, *validation_set = NULL;
    rlkd_status status = RLKD_OK;
    if (!permutation || !chosen)
        status = rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                           "%s: out of memory for a permutation of %lld", op,
                           (long long)dataset->count);
    if (status == RLKD_OK)
        status = dataset_like(op, dataset, validation_count, &validation_set);
    if (status == RLKD_OK)
        status = dataset_like(op, dataset, dataset->count - validation_count,
                              &train_set);
    if (status == RLKD_OK) {
        /* permutation's first validation_count entries are the validation
         * images; the rest, in data set order, overwrite the others. */
        rlkd_data_permutation(seed, 0, dataset->count, permutation);
        for (int64_t i = 0; i < validation_count; i++)
            chosen[permutation[i]] = 1;
        int64_t kept = validation_count;
        for (int64_t i = 0; i < dataset->count; i++)
            if (!chosen[i])
                permutation[kept++] = i;
        status = copy_items(op, validation_set, dataset, permutation,
                            validation_count);
        if (status == RLKD_OK)
            status = copy_items(op, train_set, dataset,
                                permutation + validation_count,
                                dataset->count - validation_count);
    }
    if (status == RLKD_OK) {
        *train = train_set;
        *validation = validation_set;
    } else {
        rlkd_dataset_destroy(train_set);
        rlkd_dataset_destroy(validation_set);
    }
    free(permutation);
    free(chosen);
    return status;
}

rlkd_status rlkd_dataset_subset(const rlkd_dataset *dataset, int64_t first,
                                int64_t count, rlkd_dataset **out)
{
    static const char op[] = "rlkd_dataset_subset";
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    if (first < 0 || count < 1 || first >= dataset->count ||
        count > dataset->count - first)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: images [%lld, %lld + %lld) are not a non-empty "
                         "range of the %lld images",
                         op, (long long)first, (long long)first,
                         (long long)count, (long long)dataset->count);
    rlkd_dataset *subset;
    RLKD_TRY(dataset_like(op, dataset, count, &subset));
    if (dataset->paths) {
        for (int64_t i = 0; i < count; i++)
            if (!copy_item(subset, i, dataset, first + i)) {
                rlkd_dataset_destroy(subset);
                return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                 "%s: out of memory for a path", op);
            }
    } else {
        memcpy(subset->pixels,
               dataset->pixels + (size_t)first * dataset->image_bytes,
               (size_t)count * dataset->image_bytes);
        memcpy(subset->labels, dataset->labels + first,
               (size_t)count * sizeof *subset->labels);
    }
    *out = subset;
    return RLKD_OK;
}
