/*
 * CIFAR binary files (https://www.cs.toronto.edu/~kriz/cifar.html): records
 * of label bytes then a 32x32 RGB image as 1024 R, 1024 G and 1024 B bytes,
 * each plane row-major, which is already the data set's CHW layout. CIFAR-10
 * has one label byte, CIFAR-100 a coarse and a fine one.
 */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#define CIFAR_CHANNELS 3
#define CIFAR_SIDE 32
#define CIFAR_IMAGE_BYTES (CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE)

static const char op[] = "rlkd_dataset_load_cifar";

/* One record format: its label bytes and the class count of each. */
typedef struct cifar_format {
    const char *name;
    int label_bytes;
    const char *label_names[2];
    int label_classes[2];
    int picked; /* which label the data set keeps */
} cifar_format;

/* The images read so far from every file; freed by the public call. */
typedef struct cifar_load {
    uint8_t *pixels;
    int32_t *labels;
    int64_t count;
    uint8_t *file_bytes; /* the file being read */
} cifar_load;

/* Appends the records of one file to state, checking each label. */
static rlkd_status append_file(cifar_load *state, const cifar_format *format,
                               const char *path)
{
    gzFile file;
    RLKD_TRY(rlkd_data_open(op, path, &file));
    size_t size;
    rlkd_status status = rlkd_data_read_growing(file, op, path, SIZE_MAX,
                                                &state->file_bytes, &size);
    gzclose(file);
    RLKD_TRY(status);
    size_t record_bytes = (size_t)format->label_bytes + CIFAR_IMAGE_BYTES;
    if (size == 0)
        return rlkd_fail(RLKD_ERR_FORMAT, "%s: %s: the file is empty", op,
                         path);
    if (size % record_bytes != 0)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: %zu bytes are not a whole number of "
                         "%zu-byte %s records",
                         op, path, size, record_bytes, format->name);
    int64_t records = (int64_t)(size / record_bytes);
    for (int64_t r = 0; r < records; r++) {
        const uint8_t *record = state->file_bytes + (size_t)r * record_bytes;
        for (int b = 0; b < format->label_bytes; b++)
            if (record[b] >= format->label_classes[b])
                return rlkd_fail(RLKD_ERR_FORMAT,
                                 "%s: %s: record %lld has %s label %u, out of "
                                 "range for the %d classes of %s",
                                 op, path, (long long)r,
                                 format->label_names[b], (unsigned)record[b],
                                 format->label_classes[b], format->name);
    }
    int64_t total = state->count + records;
    size_t image_bytes;
    RLKD_TRY(rlkd_dataset_check_shape(RLKD_ERR_FORMAT, op, path, total,
                                      CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE,
                                      format->label_classes[format->picked],
                                      &image_bytes));
    uint8_t *pixels = realloc(state->pixels, (size_t)total * image_bytes);
    if (pixels)
        state->pixels = pixels;
    int32_t *labels = realloc(state->labels, (size_t)total * sizeof *labels);
    if (labels)
        state->labels = labels;
    if (!pixels || !labels)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for %lld images", op,
                         (long long)total);
    for (int64_t r = 0; r < records; r++) {
        const uint8_t *record = state->file_bytes + (size_t)r * record_bytes;
        int64_t index = state->count + r;
        labels[index] = record[format->picked];
        memcpy(pixels + (size_t)index * image_bytes,
               record + format->label_bytes, image_bytes);
    }
    state->count = total;
    free(state->file_bytes);
    state->file_bytes = NULL;
    return RLKD_OK;
}

rlkd_status rlkd_dataset_load_cifar(const char *const *paths, int path_count,
                                    int cifar100, int coarse_labels,
                                    rlkd_dataset **out)
{
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    RLKD_TRY(rlkd_data_expect_pointer(op, "paths", paths));
    if (path_count < 1)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: path_count is %d, expected >= 1", op,
                         path_count);
    for (int i = 0; i < path_count; i++)
        if (!paths[i])
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: paths[%d] is NULL", op, i);
    if (coarse_labels && !cifar100)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: coarse_labels needs cifar100 (CIFAR-10 has "
                         "one kind of label)",
                         op);
    static const cifar_format cifar10_format = {
        "CIFAR-10", 1, {"class", NULL}, {10, 0}, 0};
    cifar_format cifar100_format = {
        "CIFAR-100", 2, {"coarse", "fine"}, {20, 100}, coarse_labels ? 0 : 1};
    const cifar_format *format = cifar100 ? &cifar100_format : &cifar10_format;
    cifar_load state = {0};
    rlkd_status status = RLKD_OK;
    for (int i = 0; i < path_count && status == RLKD_OK; i++)
        status = append_file(&state, format, paths[i]);
    if (status == RLKD_OK) {
        status = rlkd_dataset_adopt(op, state.count, CIFAR_CHANNELS,
                                    CIFAR_SIDE, CIFAR_SIDE,
                                    format->label_classes[format->picked],
                                    state.pixels, state.labels, out);
    } else {
        free(state.pixels);
        free(state.labels);
    }
    free(state.file_bytes);
    return status;
}
