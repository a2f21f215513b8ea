/*
 * IDX files (http://yann.lecun.com/exdb/mnist/), as MNIST and Fashion-MNIST
 * ship them: a big-endian magic 0x0000 <type> <dimension count>, the
 * dimensions as big-endian uint32, then the data. Images are unsigned bytes
 * [N, rows, cols] (magic 0x00000803), labels unsigned bytes [N]
 * (0x00000801). Every size is checked against what the file really holds
 * before it is trusted.
 */
#include "data_internal.h"

#include <stdlib.h>

#define IDX_UNSIGNED_BYTE 0x08
#define IMAGE_DIMS 3
#define LABEL_DIMS 1
#define MAGIC_BYTES 4
#define DIM_BYTES 4

static const char op[] = "rlkd_dataset_load_idx";

/* What the two files hold so far; freed by the public call. */
typedef struct idx_load {
    gzFile images_file, labels_file;
    uint8_t *pixels;      /* [N, rows, cols] */
    uint8_t *label_bytes; /* [N] as stored */
    int32_t *labels;
} idx_load;

static uint32_t big_endian32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 |
           (uint32_t)bytes[2] << 8 | (uint32_t)bytes[3];
}

/* Reads exactly `want` header bytes; fewer is a truncated header. */
static rlkd_status read_header_bytes(gzFile file, const char *path,
                                     uint8_t *dst, size_t want)
{
    size_t got;
    RLKD_TRY(rlkd_data_read(file, op, path, dst, want, &got));
    if (got < want)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: truncated IDX header (the file ends after "
                         "%zu of its bytes)",
                         op, path, got);
    return RLKD_OK;
}

/* Reads and checks the magic and the `ndim` dimensions, each >= 1. */
static rlkd_status read_header(gzFile file, const char *path, int ndim,
                               const char *const *dim_names, uint32_t *dims)
{
    uint8_t magic[MAGIC_BYTES];
    RLKD_TRY(read_header_bytes(file, path, magic, MAGIC_BYTES));
    uint32_t expected = (uint32_t)IDX_UNSIGNED_BYTE << 8 | (uint32_t)ndim;
    if (magic[0] != 0 || magic[1] != 0)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: not an IDX file (magic 0x%08x, expected "
                         "0x%08x)",
                         op, path, (unsigned)big_endian32(magic),
                         (unsigned)expected);
    if (magic[2] != IDX_UNSIGNED_BYTE)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: IDX element type 0x%02x (magic 0x%08x), "
                         "expected 0x08 (unsigned byte)",
                         op, path, (unsigned)magic[2],
                         (unsigned)big_endian32(magic));
    if (magic[3] != ndim)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: %u IDX dimensions (magic 0x%08x), expected "
                         "%d (magic 0x%08x)",
                         op, path, (unsigned)magic[3],
                         (unsigned)big_endian32(magic), ndim,
                         (unsigned)expected);
    uint8_t sizes[IMAGE_DIMS * DIM_BYTES];
    RLKD_TRY(read_header_bytes(file, path, sizes, (size_t)ndim * DIM_BYTES));
    for (int d = 0; d < ndim; d++) {
        dims[d] = big_endian32(sizes + d * DIM_BYTES);
        if (dims[d] == 0)
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "%s: %s: the header announces 0 %s", op, path,
                             dim_names[d]);
    }
    return RLKD_OK;
}

/* Reads the `expected` data bytes after a header of `header_bytes`: the
 * file must hold exactly those. */
static rlkd_status read_data(gzFile file, const char *path, const char *what,
                             size_t header_bytes, size_t expected,
                             uint8_t **data)
{
    size_t got;
    RLKD_TRY(rlkd_data_read_growing(file, op, path, expected, data, &got));
    if (got < expected)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: truncated: the header announces %zu bytes "
                         "of %s after its %zu bytes, the file holds %zu",
                         op, path, expected, what, header_bytes, got);
    uint8_t extra;
    RLKD_TRY(rlkd_data_read(file, op, path, &extra, 1, &got));
    if (got != 0)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: trailing data after the %zu bytes of %s "
                         "the header announces",
                         op, path, expected, what);
    return RLKD_OK;
}

static rlkd_status load(idx_load *state, const char *images_path,
                        const char *labels_path, rlkd_dataset **out)
{
    static const char *const image_dims[IMAGE_DIMS] = {"images", "rows",
                                                       "columns"};
    static const char *const label_dims[LABEL_DIMS] = {"labels"};
    uint32_t image_shape[IMAGE_DIMS], label_count;
    RLKD_TRY(rlkd_data_open(op, images_path, &state->images_file));
    RLKD_TRY(read_header(state->images_file, images_path, IMAGE_DIMS,
                         image_dims, image_shape));
    RLKD_TRY(rlkd_data_open(op, labels_path, &state->labels_file));
    RLKD_TRY(read_header(state->labels_file, labels_path, LABEL_DIMS,
                         label_dims, &label_count));
    if (label_count != image_shape[0])
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s holds %u images but %s holds %u labels", op,
                         images_path, (unsigned)image_shape[0], labels_path,
                         (unsigned)label_count);
    if (image_shape[1] > INT32_MAX || image_shape[2] > INT32_MAX)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: images of %u x %u pixels are absurd", op,
                         images_path, (unsigned)image_shape[1],
                         (unsigned)image_shape[2]);
    int64_t count = image_shape[0];
    int height = (int)image_shape[1], width = (int)image_shape[2];
    size_t image_bytes;
    RLKD_TRY(rlkd_dataset_check_shape(RLKD_ERR_FORMAT, op, images_path, count,
                                      1, height, width, 1, &image_bytes));
    RLKD_TRY(read_data(state->images_file, images_path, "pixels",
                       MAGIC_BYTES + IMAGE_DIMS * DIM_BYTES,
                       (size_t)count * image_bytes, &state->pixels));
    RLKD_TRY(read_data(state->labels_file, labels_path, "labels",
                       MAGIC_BYTES + LABEL_DIMS * DIM_BYTES, (size_t)count,
                       &state->label_bytes));
    state->labels = malloc((size_t)count * sizeof *state->labels);
    if (!state->labels)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for %lld labels", op,
                         (long long)count);
    int max_label = 0;
    for (int64_t i = 0; i < count; i++) {
        state->labels[i] = state->label_bytes[i];
        if (state->label_bytes[i] > max_label)
            max_label = state->label_bytes[i];
    }
    rlkd_status status = rlkd_dataset_adopt(op, count, 1, height, width,
                                            max_label + 1, state->pixels,
                                            state->labels, out);
    state->pixels = NULL; /* the data set's now, or freed */
    state->labels = NULL;
    return status;
}

rlkd_status rlkd_dataset_load_idx(const char *images_path,
                                  const char *labels_path, rlkd_dataset **out)
{
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    RLKD_TRY(rlkd_data_expect_pointer(op, "images_path", images_path));
    RLKD_TRY(rlkd_data_expect_pointer(op, "labels_path", labels_path));
    idx_load state = {0};
    rlkd_status status = load(&state, images_path, labels_path, out);
    if (state.images_file)
        gzclose(state.images_file);
    if (state.labels_file)
        gzclose(state.labels_file);
    free(state.pixels);
    free(state.label_bytes);
    free(state.labels);
    return status;
}
