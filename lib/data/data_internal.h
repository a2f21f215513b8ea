/*
 * Private core of the data layer: the data set (in memory, or file-backed
 * paths) shared by the readers, the splitter and the loader, the seeded
 * permutation they share, the file reading of the IDX and CIFAR readers,
 * and the JPEG/PNG decoding and transforms of the loader. Not installed.
 */
#ifndef RLKD_DATA_INTERNAL_H
#define RLKD_DATA_INTERNAL_H

#include "../core/internal.h"
#include "../core/philox.h"

#include <zlib.h>

struct rlkd_dataset {
    int64_t count;
    int channels, height, width, classes;
    size_t image_bytes; /* channels * height * width; 0 when file-backed */
    uint8_t *pixels;    /* count images of image_bytes, CHW each; NULL when file-backed */
    int32_t *labels;    /* count labels in [0, classes) */
    /* File-backed data sets (folder.c): the loader decodes `paths`. */
    char **paths;        /* count image paths, or NULL: in memory */
    char **class_names;  /* classes folder names (open_folder), or NULL */
    rlkd_bad_files bad_files;
    int64_t bad_count;   /* bad files found by the open, with why */
    char **bad_paths, **bad_reasons;
};

/* Frees what a file-backed data set owns beyond pixels and labels. */
void rlkd_dataset_free_files(rlkd_dataset *dataset);

/* A file-backed data set of `count` empty paths (to fill) and labels, with
 * the classes of `source`; the bad-file report stays with the source. */
rlkd_status rlkd_dataset_files_like(const char *op, const rlkd_dataset *source,
                                    int64_t count, rlkd_dataset **out);

/* ---- decoding (decode.c) ---- */

/* Room for a reason a file is bad, without its path. */
#define RLKD_REASON_BYTES 256

/* A decoded image: height x width RGB pixels, HWC (malloc'd). */
typedef struct rlkd_rgb_image {
    uint8_t *pixels;
    int height, width;
} rlkd_rgb_image;

/*
 * Reads the JPEG or PNG file at path (told apart by its first bytes, not
 * its name) into image: only its size when header_only (pixels NULL).
 * Fails with RLKD_ERR_IO (unreadable), RLKD_ERR_FORMAT (not a JPEG or PNG,
 * corrupt, truncated, too large) or RLKD_ERR_OUT_OF_MEMORY, writing why
 * into reason; it sets no rlkd_last_error message (callers add the path).
 * Safe to call from any thread.
 */
rlkd_status rlkd_image_decode_file(const char *path, int header_only,
                                   rlkd_rgb_image *image,
                                   char reason[RLKD_REASON_BYTES]);

/* ---- transforms of decoded images (transform.c) ---- */

/* A window of an image: rows [top, top + height), columns [left, left + width). */
typedef struct rlkd_crop {
    int top, left, height, width;
} rlkd_crop;

/*
 * torchvision's RandomResizedCrop.get_params for an image of height x
 * width: 10 attempts, attempt k drawing from rlkd_philox4x32(seed, stream,
 * 16 * image + k), then the centre-crop fallback.
 */
rlkd_crop rlkd_random_resized_crop(int height, int width, double scale_min,
                                   double scale_max, double ratio_min,
                                   double ratio_max, uint64_t seed,
                                   uint64_t stream, uint64_t image);

/* Whether image `image` is flipped: rlkd_philox4x32(seed, stream, 16 * image + 10). */
int rlkd_random_flip(uint64_t seed, uint64_t stream, uint64_t image);

/*
 * Resizes the window `from` of image to a grid of grid_height x grid_width
 * (bilinear, half-pixel centres, clamped to the window, rounded half up to 8 bits)
 * and writes the side x side block of the grid at (grid_top, grid_left)
 * (pixels outside the grid are 0), mirrored when flip, as [3, side, side]
 * floats through level_values ([3][256]: each byte normalised).
 */
void rlkd_resample_rgb(const rlkd_rgb_image *image, rlkd_crop from,
                       int grid_height, int grid_width, int grid_top,
                       int grid_left, int side, int flip,
                       const float *level_values, float *dst);

/* The evaluation transform's grid (shorter side to resize_size) and the
 * centre crop's offsets in it, as torchvision's Resize + CenterCrop. */
void rlkd_center_crop_grid(int height, int width, int resize_size, int side,
                           int *grid_height, int *grid_width, int *grid_top,
                           int *grid_left);

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
