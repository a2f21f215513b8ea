/*
 * Private core of the data layer: the in-memory data set shared by the
 * readers, the splitter and the loader, the seeded permutation they share,
 * and the file reading of the IDX and CIFAR readers. Not installed.
 */
#ifndef RLKD_DATA_INTERNAL_H
#define RLKD_DATA_INTERNAL_H

#include "../core/internal.h"
#include "../core/philox.h"

#include <zlib.h>

struct rlkd_dataset {
    int64_t count;
    int channels, height, width, classes;
    size_t image_bytes; /* channels * height * width */
    uint8_t *pixels;    /* count images of image_bytes, CHW each */
    int32_t *labels;    /* count labels in [0, classes) */
};

/* Fails with RLKD_ERR_INVALID_ARGUMENT, "op: name is NULL", when p is. */
rlkd_status rlkd_data_expect_pointer(const char *op, const char *name,
                                     const void *p);

/*
 * Checks a data set's shape (every size >= 1; one image must fit a tensor,
 * so its byte count is at most 2^31 - 1; all images must fit size_t) and
 * gives the bytes of one image. Fails with `status`, naming `path` when it
 * is not NULL, so readers report a file's absurd header as RLKD_ERR_FORMAT
 * and callers' bad arguments are RLKD_ERR_INVALID_ARGUMENT.
 */
rlkd_status rlkd_dataset_check_shape(rlkd_status status, const char *op,
                                     const char *path, int64_t count,
                                     int channels, int height, int width,
                                     int classes, size_t *image_bytes);

/*
 * A data set around `pixels` and `labels` (malloc'd, count images and
 * labels), which it owns from here on: on failure they are freed.
 */
rlkd_status rlkd_dataset_adopt(const char *op, int64_t count, int channels,
                               int height, int width, int classes,
                               uint8_t *pixels, int32_t *labels,
                               rlkd_dataset **out);

/*
 * A seeded permutation of [0, n): Fisher-Yates, the swap partner of
 * position i drawn from rlkd_philox4x32(seed, stream, i), so it is a pure
 * function of (seed, stream, n).
 */
void rlkd_data_permutation(uint64_t seed, uint64_t stream, int64_t n,
                           int64_t *permutation);

/* ---- files, plain or gzip (zlib reads both) ---- */

/* Opens a file for reading; a missing file is RLKD_ERR_IO with strerror. */
rlkd_status rlkd_data_open(const char *op, const char *path, gzFile *out);

/*
 * Reads up to `want` bytes into dst; *got is how many arrived before the
 * end of the file. A read error is RLKD_ERR_IO, a corrupt or cut gzip
 * stream RLKD_ERR_FORMAT.
 */
rlkd_status rlkd_data_read(gzFile file, const char *op, const char *path,
                           void *dst, size_t want, size_t *got);

/*
 * Reads up to `limit` bytes (to the end of the file if it is shorter) into
 * a new malloc'd buffer that grows as data arrives, so a header announcing
 * absurd sizes costs no more memory than the file holds.
 */
rlkd_status rlkd_data_read_growing(gzFile file, const char *op,
                                   const char *path, size_t limit,
                                   uint8_t **data, size_t *size);

#endif
