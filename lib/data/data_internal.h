/*
 * Private core of the data layer: the data set (in memory, or file-backed
 * paths) shared by the readers, the splitter and the loader, the seeded
 * permutation they share, the file reading of the IDX and CIFAR readers,
 * and the JPEG/PNG decoding and transforms of the loader, with its GPU
 * decoder's interface (C and CUDA C++ include this). Not installed.
 */
#ifndef RLKD_DATA_INTERNAL_H
#define RLKD_DATA_INTERNAL_H

#include "../core/internal.h"
#include "../core/philox.h"

#include <zlib.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    rlkd_verify verified; /* how far the open read every file */
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

/* rlkd_image_decode_file's decoding of a file's bytes, already read. */
rlkd_status rlkd_image_decode_buffer(const uint8_t *data, size_t size,
                                     int header_only, rlkd_rgb_image *image,
                                     char reason[RLKD_REASON_BYTES]);

/* A file as the loader's GPU path takes it (rlkd_image_read_encoded). */
typedef struct rlkd_encoded_image {
    uint8_t *jpeg;          /* the file's bytes (malloc'd), or NULL */
    size_t jpeg_size;
    rlkd_rgb_image decoded; /* the size; the pixels when jpeg is NULL */
} rlkd_encoded_image;

/*
 * Reads the file at path for decoding on the GPU: a YCbCr or grey JPEG (what
 * nvJPEG decodes) as its bytes, its header checked, and with check_stream
 * read through by libjpeg without the inverse DCT, so that it fails
 * exactly where rlkd_image_decode_file fails, with the same reason; any
 * other image (PNG; CMYK, YCCK or RGB JPEG) decoded here. Fails as
 * rlkd_image_decode_file does; thread-safe.
 */
rlkd_status rlkd_image_read_encoded(const char *path, int check_stream,
                                    rlkd_encoded_image *image,
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

/* Fractional bits of the resampling weights: PIL's PRECISION_BITS, which
 * leaves room for 8-bit pixels times weights summing to 1 in an int32. */
#define RLKD_RESAMPLE_WEIGHT_BITS (32 - 8 - 2)

/* One axis of a resampling: per output sample of [first, first + count)
 * its first input and input count (bounds[2i], bounds[2i + 1]) and `taps`
 * fixed-point weights. */
typedef struct rlkd_resample_axis {
    int first, count;
    int taps;
    int *bounds;
    int32_t *weights;
} rlkd_resample_axis;

/*
 * How a batch image is made of a decoded one: the window `from` resized to
 * a grid (PIL's antialiased bilinear resize of the cropped window, to the
 * bit), the side x side block of the grid at (grid_top, grid_left) kept
 * (pixels outside the grid are 0), mirrored when flip. Only the kept
 * outputs have weights; both counts are 0 when none is in the grid.
 */
typedef struct rlkd_resample_plan {
    rlkd_crop from;
    int grid_top, grid_left, side, flip;
    rlkd_resample_axis across, down;
    int row_first, row_end; /* the window's rows the horizontal pass reads */
    void *memory;           /* the axes' arrays (malloc'd), or NULL */
} rlkd_resample_plan;

/* Fills a plan for a grid of grid_height x grid_width; fails only with
 * RLKD_ERR_OUT_OF_MEMORY, setting no message. Free it with
 * rlkd_resample_plan_free. */
rlkd_status rlkd_resample_plan_make(rlkd_resample_plan *plan, rlkd_crop from,
                                    int grid_height, int grid_width,
                                    int grid_top, int grid_left, int side,
                                    int flip);
void rlkd_resample_plan_free(rlkd_resample_plan *plan);

/*
 * The plan carried out on the host: [3, side, side] floats into dst
 * through level_values ([3][256]: each byte normalised). Fails only with
 * RLKD_ERR_OUT_OF_MEMORY (for its working rows), setting no message.
 */
rlkd_status rlkd_resample_rgb(const rlkd_rgb_image *image,
                              const rlkd_resample_plan *plan,
                              const float *level_values, float *dst);

/* The evaluation transform's grid (shorter side to resize_size) and the
 * centre crop's offsets in it, as torchvision's Resize + CenterCrop. */
void rlkd_center_crop_grid(int height, int width, int resize_size, int side,
                           int *grid_height, int *grid_width, int *grid_top,
                           int *grid_left);

/* ---- decoding on the GPU (kernels/image_decode.cu, with nvJPEG;
 * lib/data/nvjpeg_absent.c in a build without it) ---- */

/* One image of a batch for the GPU: its file as read, and its plan. */
typedef struct rlkd_device_image {
    rlkd_encoded_image source;
    rlkd_resample_plan plan;
    const char *path; /* for messages */
} rlkd_device_image;

typedef struct rlkd_image_decoder rlkd_image_decoder;

/*
 * A decoder on ctx's GPU for batches of up to `batch` images of side x
 * side, normalised through level_values ([3][256], copied). Fails with the
 * device's or nvJPEG's errors, naming op.
 */
rlkd_status rlkd_image_decoder_create(rlkd_context *ctx, const char *op,
                                      int batch, int side,
                                      const float *level_values,
                                      rlkd_image_decoder **out);
void rlkd_image_decoder_destroy(rlkd_image_decoder *decoder);

/*
 * Decodes n images (their JPEGs with nvJPEG; what nvJPEG refuses on the
 * host, into source.decoded) and carries out their plans into dst, [n, 3,
 * side, side] floats on the GPU: rlkd_resample_rgb's values, bit for bit
 * for pixels decoded on the host. Returns when dst is written; fails
 * naming op (and the file, where the host cannot decode it either).
 */
rlkd_status rlkd_image_decoder_run(rlkd_image_decoder *decoder, const char *op,
                                   float *dst, rlkd_device_image *images,
                                   int n);

/* Makes `loader` fill only rank `rank`'s rows of each batch (of
 * world_size; rlkd_shard_rows), the others zeros with their labels, from
 * its next batch on; world_size 1: whole batches again. A data-parallel
 * trainer's rank computes on its rows alone, so it decodes only those.
 * The GPU decoding path (decode_device CUDA) fills every row. */
void rlkd_loader_set_shard(rlkd_loader *loader, int rank, int world_size);

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

#ifdef __cplusplus
}
#endif

#endif
