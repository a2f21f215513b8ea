/*
 * Data sets: IDX files (plain and gzip) and CIFAR-10/100 files written here
 * in their real formats and read back exactly; every kind of corrupt file
 * refused with its status and a message naming the file and the problem;
 * create, set/get, info, the seeded split and subsets; and, when Debian's
 * dataset-fashion-mnist is installed, the real Fashion-MNIST files.
 */
#include "testlib.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define CIFAR_IMAGE_BYTES 3072

/* ---- writing files ---- */

/* A growable byte string. */
typedef struct bytes {
    uint8_t *data;
    size_t size;
} bytes;

static void append(bytes *b, const void *data, size_t size)
{
    b->data = realloc(b->data, b->size + size + 1);
    if (!b->data)
        test_fatal("realloc");
    if (size)
        memcpy(b->data + b->size, data, size);
    b->size += size;
}

static void append_big_endian32(bytes *b, uint32_t value)
{
    const uint8_t be[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16),
                           (uint8_t)(value >> 8), (uint8_t)value};
    append(b, be, 4);
}

/* An IDX file: magic, dimensions, data. */
static bytes idx_file(uint32_t magic, const uint32_t *dims, int ndim,
                      const uint8_t *data, size_t size)
{
    bytes b = {0};
    append_big_endian32(&b, magic);
    for (int d = 0; d < ndim; d++)
        append_big_endian32(&b, dims[d]);
    append(&b, data, size);
    return b;
}

/* Writes `size` bytes to the scratch directory's `name`, plain or gzip;
 * path gets the file. */
static void write_file(char *path, const char *name, const void *data,
                       size_t size, int gzip)
{
    test_temp_path(path, name);
    if (gzip) {
        gzFile file = gzopen(path, "wb");
        if (!file || (size && gzwrite(file, data, (unsigned)size) != (int)size) ||
            gzclose(file) != Z_OK)
            test_fatal("writing a gzip file");
    } else {
        FILE *file = fopen(path, "wb");
        if (!file || (size && fwrite(data, 1, size, file) != size) ||
            fclose(file) != 0)
            test_fatal("writing a file");
    }
}

static void write_bytes(char *path, const char *name, bytes b, int gzip)
{
    write_file(path, name, b.data, b.size, gzip);
    free(b.data);
}

/* ---- a small IDX data set: 7 images of 5 x 4, labels 0..3 ---- */

enum { IDX_COUNT = 7, IDX_ROWS = 5, IDX_COLS = 4, IDX_PIXELS = IDX_ROWS * IDX_COLS };

static uint8_t idx_pixel(int image, int y, int x)
{
    return (uint8_t)(image * 37 + y * 11 + x * 3 + (image == 6 ? 200 : 0));
}

static int32_t idx_label(int image)
{
    return (int32_t)((image * 3) % 4);
}

static void idx_images_data(uint8_t *pixels)
{
    for (int i = 0; i < IDX_COUNT; i++)
        for (int y = 0; y < IDX_ROWS; y++)
            for (int x = 0; x < IDX_COLS; x++)
                pixels[(i * IDX_ROWS + y) * IDX_COLS + x] = idx_pixel(i, y, x);
}

static bytes idx_images(void)
{
    uint8_t pixels[IDX_COUNT * IDX_PIXELS];
    idx_images_data(pixels);
    const uint32_t dims[3] = {IDX_COUNT, IDX_ROWS, IDX_COLS};
    return idx_file(IDX_IMAGES_MAGIC, dims, 3, pixels, sizeof pixels);
}

static bytes idx_labels(void)
{
    uint8_t labels[IDX_COUNT];
    for (int i = 0; i < IDX_COUNT; i++)
        labels[i] = (uint8_t)idx_label(i);
    const uint32_t dims[1] = {IDX_COUNT};
    return idx_file(IDX_LABELS_MAGIC, dims, 1, labels, sizeof labels);
}

static void check_info(const rlkd_dataset *d, int64_t count, int channels,
                       int height, int width, int classes)
{
    int64_t got_count = -1;
    int got_channels = -1, got_height = -1, got_width = -1, got_classes = -1;
    CHECK_OK(rlkd_dataset_info(d, &got_count, &got_channels, &got_height,
                               &got_width, &got_classes));
    CHECK_MSG(got_count == count && got_channels == channels &&
                  got_height == height && got_width == width &&
                  got_classes == classes,
              "info %lld x [%d,%d,%d], %d classes; expected %lld x "
              "[%d,%d,%d], %d classes",
              (long long)got_count, got_channels, got_height, got_width,
              got_classes, (long long)count, channels, height, width, classes);
}

static void check_idx_contents(const rlkd_dataset *d)
{
    check_info(d, IDX_COUNT, 1, IDX_ROWS, IDX_COLS, 4);
    int wrong = 0;
    for (int i = 0; i < IDX_COUNT; i++) {
        uint8_t pixels[IDX_PIXELS];
        int32_t label = -1;
        CHECK_OK(rlkd_dataset_get_item(d, i, pixels, &label));
        wrong += label != idx_label(i);
        for (int y = 0; y < IDX_ROWS; y++)
            for (int x = 0; x < IDX_COLS; x++)
                wrong += pixels[y * IDX_COLS + x] != idx_pixel(i, y, x);
    }
    CHECK_MSG(wrong == 0, "%d pixels or labels differ from the file's", wrong);
}

static void test_idx_plain(void)
{
    char images[TEST_PATH_BYTES], labels[TEST_PATH_BYTES];
    write_bytes(images, "plain-images", idx_images(), 0);
    write_bytes(labels, "plain-labels", idx_labels(), 0);
    rlkd_dataset *d = NULL;
    if (CHECK_OK(rlkd_dataset_load_idx(images, labels, &d)))
        check_idx_contents(d);
    rlkd_dataset_destroy(d);
}

static void test_idx_gzip(void)
{
    char images[TEST_PATH_BYTES], labels[TEST_PATH_BYTES], plain_labels[TEST_PATH_BYTES];
    write_bytes(images, "gzip-images.gz", idx_images(), 1);
    write_bytes(labels, "gzip-labels.gz", idx_labels(), 1);
    write_bytes(plain_labels, "mixed-labels", idx_labels(), 0);
    rlkd_dataset *d = NULL;
    if (CHECK_OK(rlkd_dataset_load_idx(images, labels, &d)))
        check_idx_contents(d);
    rlkd_dataset_destroy(d);
    /* one gzip file, one plain: each is detected from its content */
    d = NULL;
    if (CHECK_OK(rlkd_dataset_load_idx(images, plain_labels, &d)))
        check_idx_contents(d);
    rlkd_dataset_destroy(d);
}

/* The load must fail with `status`, name `path` and mention `needle`, and
 * leave *out NULL. */
static void check_idx_fails(const char *images, const char *labels,
                            rlkd_status status, const char *path,
                            const char *needle)
{
    rlkd_dataset *d = (rlkd_dataset *)&d; /* anything but NULL */
    if (CHECK_FAILS(rlkd_dataset_load_idx(images, labels, &d), status, needle))
        CHECK_MSG(strstr(rlkd_last_error(), path) != NULL,
                  "message \"%s\" does not name %s", rlkd_last_error(), path);
    CHECK(d == NULL);
}

/* A bad images file beside good labels. */
static void check_bad_images(const char *name, bytes file, int gzip,
                             const char *needle)
{
    char images[TEST_PATH_BYTES], labels[TEST_PATH_BYTES];
    write_bytes(images, name, file, gzip);
    write_bytes(labels, "good-labels", idx_labels(), 0);
    check_idx_fails(images, labels, RLKD_ERR_FORMAT, images, needle);
}

/* Good images beside a bad labels file. */
static void check_bad_labels(const char *name, bytes file, const char *needle)
{
    char images[TEST_PATH_BYTES], labels[TEST_PATH_BYTES];
    write_bytes(images, "good-images", idx_images(), 0);
    write_bytes(labels, name, file, 0);
    check_idx_fails(images, labels, RLKD_ERR_FORMAT, labels, needle);
}

static void test_idx_corrupt(void)
{
    uint8_t pixels[IDX_COUNT * IDX_PIXELS];
    idx_images_data(pixels);
    const uint32_t dims[3] = {IDX_COUNT, IDX_ROWS, IDX_COLS};
    const size_t pixel_bytes = sizeof pixels;

    check_bad_images("magic", idx_file(0x01000803u, dims, 3, pixels, pixel_bytes),
                     0, "not an IDX file (magic 0x01000803");
    check_bad_images("type", idx_file(0x00000903u, dims, 3, pixels, pixel_bytes),
                     0, "element type 0x09");
    check_bad_images("image-dims",
                     idx_file(0x00000802u, dims, 2, pixels, pixel_bytes), 0,
                     "2 IDX dimensions");
    check_bad_images("short-images",
                     idx_file(IDX_IMAGES_MAGIC, dims, 3, pixels, pixel_bytes - 5),
                     0, "truncated: the header announces 140 bytes of pixels "
                        "after its 16 bytes, the file holds 135");
    check_bad_images("short-header", idx_file(IDX_IMAGES_MAGIC, dims, 1, NULL, 0),
                     0, "truncated IDX header");
    bytes trailing = idx_file(IDX_IMAGES_MAGIC, dims, 3, pixels, pixel_bytes);
    append(&trailing, "x", 1);
    check_bad_images("trailing-images", trailing, 0, "trailing data after the "
                                                     "140 bytes of pixels");
    const uint32_t no_images[3] = {0, IDX_ROWS, IDX_COLS};
    check_bad_images("zero-images", idx_file(IDX_IMAGES_MAGIC, no_images, 3, NULL, 0),
                     0, "the header announces 0 images");
    const uint32_t no_rows[3] = {IDX_COUNT, 0, IDX_COLS};
    check_bad_images("zero-rows", idx_file(IDX_IMAGES_MAGIC, no_rows, 3, NULL, 0),
                     0, "the header announces 0 rows");
    /* Absurd headers: an image too large for a tensor, and four billion
     * images in a small file (refused as truncated, without allocating
     * what the header announces). */
    const uint32_t huge_image[3] = {IDX_COUNT, 65536, 65536};
    check_bad_images("huge-image", idx_file(IDX_IMAGES_MAGIC, huge_image, 3, pixels, 10),
                     0, "too large");
    const uint32_t huge_count[3] = {0xFFFFFFFFu, IDX_ROWS, IDX_COLS};
    char labels_many[TEST_PATH_BYTES], images_many[TEST_PATH_BYTES];
    write_bytes(images_many, "many-images",
                idx_file(IDX_IMAGES_MAGIC, huge_count, 3, pixels, pixel_bytes), 0);
    const uint32_t huge_labels[1] = {0xFFFFFFFFu};
    write_bytes(labels_many, "many-labels",
                idx_file(IDX_LABELS_MAGIC, huge_labels, 1, pixels, 7), 0);
    check_idx_fails(images_many, labels_many, RLKD_ERR_FORMAT, images_many,
                    "the file holds 140");

    const uint8_t labels[IDX_COUNT] = {0, 1, 2, 3, 0, 1, 2};
    const uint32_t label_dims[1] = {IDX_COUNT};
    check_bad_labels("label-dims", idx_file(0x00000803u, dims, 3, labels, 7),
                     "3 IDX dimensions");
    check_bad_labels("short-labels",
                     idx_file(IDX_LABELS_MAGIC, label_dims, 1, labels, 4),
                     "announces 7 bytes of labels after its 8 bytes, the file "
                     "holds 4");
    bytes trailing_labels =
        idx_file(IDX_LABELS_MAGIC, label_dims, 1, labels, IDX_COUNT);
    append(&trailing_labels, "\0\0", 2);
    check_bad_labels("trailing-labels", trailing_labels, "trailing data");

    /* Counts that differ: the message names both files and counts. */
    const uint32_t six[1] = {6};
    char images[TEST_PATH_BYTES], six_labels[TEST_PATH_BYTES];
    write_bytes(images, "count-images", idx_images(), 0);
    write_bytes(six_labels, "count-labels", idx_file(IDX_LABELS_MAGIC, six, 1, labels, 6),
                0);
    check_idx_fails(images, six_labels, RLKD_ERR_FORMAT, six_labels,
                    "holds 7 images but");
    CHECK(strstr(rlkd_last_error(), images) && strstr(rlkd_last_error(), "6 labels"));

    /* A missing file is an I/O error with the system's reason. */
    char missing[TEST_PATH_BYTES];
    test_temp_path(missing, "no-such-file");
    check_idx_fails(missing, six_labels, RLKD_ERR_IO, missing,
                    "No such file or directory");
    check_idx_fails(images, missing, RLKD_ERR_IO, missing,
                    "No such file or directory");
}

/* A gzip file cut in the middle of its deflate stream. */
static void test_idx_gzip_cut(void)
{
    enum { COUNT = 200, SIDE = 28 };
    uint8_t *pixels = malloc((size_t)COUNT * SIDE * SIDE);
    uint8_t labels[COUNT];
    if (!pixels)
        test_fatal("malloc");
    for (size_t i = 0; i < (size_t)COUNT * SIDE * SIDE; i++)
        pixels[i] = (uint8_t)((i * 2654435761u) >> 13); /* poorly compressible */
    for (int i = 0; i < COUNT; i++)
        labels[i] = (uint8_t)(i % 10);
    const uint32_t dims[3] = {COUNT, SIDE, SIDE}, label_dims[1] = {COUNT};
    char images[TEST_PATH_BYTES], good_images[TEST_PATH_BYTES], labels_path[TEST_PATH_BYTES];
    write_bytes(good_images, "whole.gz",
                idx_file(IDX_IMAGES_MAGIC, dims, 3, pixels, (size_t)COUNT * SIDE * SIDE),
                1);
    write_bytes(labels_path, "whole-labels.gz",
                idx_file(IDX_LABELS_MAGIC, label_dims, 1, labels, COUNT), 1);
    free(pixels);

    rlkd_dataset *d = NULL;
    if (CHECK_OK(rlkd_dataset_load_idx(good_images, labels_path, &d)))
        check_info(d, COUNT, 1, SIDE, SIDE, 10);
    rlkd_dataset_destroy(d);

    FILE *file = fopen(good_images, "rb");
    if (!file)
        test_fatal("fopen");
    uint8_t compressed[1 << 18];
    size_t size = fread(compressed, 1, sizeof compressed, file);
    fclose(file);
    CHECK(size > 1000 && size < sizeof compressed);
    write_file(images, "cut.gz", compressed, size / 2, 0);
    check_idx_fails(images, labels_path, RLKD_ERR_FORMAT, images,
                    "gzip stream is cut short");
    /* corrupt deflate data in the middle */
    for (size_t i = size / 2; i < size / 2 + 64; i++)
        compressed[i] ^= 0x5A;
    write_file(images, "corrupt.gz", compressed, size, 0);
    check_idx_fails(images, labels_path, RLKD_ERR_FORMAT, images,
                    "corrupt gzip data");
}

/* ---- CIFAR ---- */

static uint8_t cifar_pixel(int image, int channel, int offset)
{
    return (uint8_t)(image * 17 + channel * 85 + offset * 7 + offset / 32);
}

/* `count` CIFAR records for images first.., labels given per record. */
static bytes cifar_records(int first, int count, int cifar100,
                           const uint8_t *coarse, const uint8_t *fine)
{
    bytes b = {0};
    for (int r = 0; r < count; r++) {
        if (cifar100)
            append(&b, &coarse[r], 1);
        append(&b, &fine[r], 1);
        uint8_t image[CIFAR_IMAGE_BYTES];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 1024; i++)
                image[c * 1024 + i] = cifar_pixel(first + r, c, i);
        append(&b, image, sizeof image);
    }
    return b;
}

/* Images 0..count-1 of the data set must be cifar_pixel's, with labels. */
static void check_cifar_contents(const rlkd_dataset *d, int count,
                                 const uint8_t *labels)
{
    int wrong = 0;
    for (int i = 0; i < count; i++) {
        uint8_t image[CIFAR_IMAGE_BYTES];
        int32_t label = -1;
        CHECK_OK(rlkd_dataset_get_item(d, i, image, &label));
        wrong += label != labels[i];
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                wrong += image[c * 1024 + p] != cifar_pixel(i, c, p);
    }
    CHECK_MSG(wrong == 0, "%d pixels or labels differ from the files'", wrong);
}

static void test_cifar10(void)
{
    const uint8_t labels[5] = {3, 9, 0, 7, 1};
    char first[TEST_PATH_BYTES], second[TEST_PATH_BYTES];
    write_bytes(first, "data_batch_1.bin", cifar_records(0, 3, 0, NULL, labels), 0);
    write_bytes(second, "data_batch_2.bin", cifar_records(3, 2, 0, NULL, labels + 3),
                0);
    const char *paths[2] = {first, second};
    rlkd_dataset *d = NULL;
    if (CHECK_OK(rlkd_dataset_load_cifar(paths, 2, 0, 0, &d))) {
        check_info(d, 5, 3, 32, 32, 10);
        check_cifar_contents(d, 5, labels);
    }
    rlkd_dataset_destroy(d);
    d = NULL;
    if (CHECK_OK(rlkd_dataset_load_cifar(paths, 1, 0, 0, &d)))
        check_info(d, 3, 3, 32, 32, 10);
    rlkd_dataset_destroy(d);
}

static void test_cifar100(void)
{
    const uint8_t coarse[4] = {19, 0, 4, 11}, fine[4] = {99, 3, 42, 0};
    char path[TEST_PATH_BYTES];
    write_bytes(path, "train.bin", cifar_records(0, 4, 1, coarse, fine), 0);
    const char *paths[1] = {path};
    rlkd_dataset *d = NULL;
    if (CHECK_OK(rlkd_dataset_load_cifar(paths, 1, 1, 0, &d))) {
        check_info(d, 4, 3, 32, 32, 100);
        check_cifar_contents(d, 4, fine);
    }
    rlkd_dataset_destroy(d);
    d = NULL;
    if (CHECK_OK(rlkd_dataset_load_cifar(paths, 1, 1, 1, &d))) {
        check_info(d, 4, 3, 32, 32, 20);
        check_cifar_contents(d, 4, coarse);
    }
    rlkd_dataset_destroy(d);
}

static void check_cifar_fails(const char *const *paths, int count, int cifar100,
                              int coarse, rlkd_status status, const char *path,
                              const char *needle)
{
    rlkd_dataset *d = (rlkd_dataset *)&d;
    if (CHECK_FAILS(rlkd_dataset_load_cifar(paths, count, cifar100, coarse, &d),
                    status, needle) &&
        path)
        CHECK_MSG(strstr(rlkd_last_error(), path) != NULL,
                  "message \"%s\" does not name %s", rlkd_last_error(), path);
    CHECK(d == NULL);
}

static void test_cifar_corrupt(void)
{
    const uint8_t labels[3] = {1, 2, 3}, coarse[2] = {1, 20}, fine[2] = {5, 100};
    const uint8_t bad_label[2] = {4, 10};
    char good[TEST_PATH_BYTES], partial[TEST_PATH_BYTES], empty[TEST_PATH_BYTES],
        out_of_range[TEST_PATH_BYTES], bad_coarse[TEST_PATH_BYTES], bad_fine[TEST_PATH_BYTES],
        missing[TEST_PATH_BYTES];
    write_bytes(good, "good.bin", cifar_records(0, 3, 0, NULL, labels), 0);
    bytes records = cifar_records(0, 2, 0, NULL, labels);
    records.size -= 100;
    write_bytes(partial, "partial.bin", records, 0);
    write_file(empty, "empty.bin", "", 0, 0);
    write_bytes(out_of_range, "label10.bin", cifar_records(0, 2, 0, NULL, bad_label),
                0);
    const uint8_t ok_fine[2] = {5, 6}, ok_coarse[2] = {1, 2};
    write_bytes(bad_coarse, "coarse20.bin", cifar_records(0, 2, 1, coarse, ok_fine),
                0);
    write_bytes(bad_fine, "fine100.bin", cifar_records(0, 2, 1, ok_coarse, fine), 0);
    test_temp_path(missing, "no-such.bin");

    const char *one[1] = {partial};
    check_cifar_fails(one, 1, 0, 0, RLKD_ERR_FORMAT, partial,
                      "6046 bytes are not a whole number of 3073-byte "
                      "CIFAR-10 records");
    /* a CIFAR-10 file is not a whole number of CIFAR-100 records */
    one[0] = good;
    check_cifar_fails(one, 1, 1, 0, RLKD_ERR_FORMAT, good,
                      "3074-byte CIFAR-100 records");
    one[0] = empty;
    check_cifar_fails(one, 1, 0, 0, RLKD_ERR_FORMAT, empty, "the file is empty");
    one[0] = out_of_range;
    check_cifar_fails(one, 1, 0, 0, RLKD_ERR_FORMAT, out_of_range,
                      "record 1 has class label 10, out of range for the 10 "
                      "classes of CIFAR-10");
    /* both labels are checked, whichever is kept */
    one[0] = bad_coarse;
    check_cifar_fails(one, 1, 1, 0, RLKD_ERR_FORMAT, bad_coarse,
                      "record 1 has coarse label 20");
    one[0] = bad_fine;
    check_cifar_fails(one, 1, 1, 1, RLKD_ERR_FORMAT, bad_fine,
                      "record 1 has fine label 100");
    one[0] = missing;
    check_cifar_fails(one, 1, 0, 0, RLKD_ERR_IO, missing,
                      "No such file or directory");
    /* a bad file after good ones: nothing read so far leaks */
    const char *several[3] = {good, good, partial};
    check_cifar_fails(several, 3, 0, 0, RLKD_ERR_FORMAT, partial,
                      "not a whole number");

    check_cifar_fails(NULL, 1, 0, 0, RLKD_ERR_INVALID_ARGUMENT, NULL, "paths");
    check_cifar_fails(several, 0, 0, 0, RLKD_ERR_INVALID_ARGUMENT, NULL,
                      "path_count");
    const char *with_null[2] = {good, NULL};
    check_cifar_fails(with_null, 2, 0, 0, RLKD_ERR_INVALID_ARGUMENT, NULL,
                      "paths[1]");
    check_cifar_fails(several, 1, 0, 1, RLKD_ERR_INVALID_ARGUMENT, NULL,
                      "coarse_labels needs cifar100");
    CHECK_FAILS(rlkd_dataset_load_cifar(several, 1, 0, 0, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out");
}

/* ---- in-memory sets ---- */

enum { TAGGED_COUNT = 300 };

/* A data set whose image i holds i in its first two bytes; label i % 7. */
static rlkd_dataset *tagged_dataset(void)
{
    rlkd_dataset *d;
    if (rlkd_dataset_create(TAGGED_COUNT, 2, 3, 1, 7, &d) != RLKD_OK)
        test_fatal("rlkd_dataset_create");
    for (int i = 0; i < TAGGED_COUNT; i++) {
        const uint8_t pixels[6] = {(uint8_t)i, (uint8_t)(i >> 8), 1, 2, 3,
                                   (uint8_t)(i * 7)};
        if (rlkd_dataset_set_item(d, i, pixels, i % 7) != RLKD_OK)
            test_fatal("rlkd_dataset_set_item");
    }
    return d;
}

/* The tag of image `index`, after checking its other bytes and its label. */
static int tag_of(const rlkd_dataset *d, int64_t index)
{
    uint8_t pixels[6];
    int32_t label;
    if (!CHECK_OK(rlkd_dataset_get_item(d, index, pixels, &label)))
        return -1;
    int tag = pixels[0] | pixels[1] << 8;
    CHECK(pixels[2] == 1 && pixels[3] == 2 && pixels[4] == 3 &&
          pixels[5] == (uint8_t)(tag * 7) && label == tag % 7);
    return tag;
}

static void test_create_set_get(void)
{
    rlkd_dataset *d = NULL;
    CHECK_OK(rlkd_dataset_create(3, 2, 2, 2, 5, &d));
    if (!d)
        return;
    check_info(d, 3, 2, 2, 2, 5);
    uint8_t pixels[8], zero[8] = {0};
    int32_t label = -1;
    CHECK_OK(rlkd_dataset_get_item(d, 2, pixels, &label));
    CHECK(memcmp(pixels, zero, 8) == 0 && label == 0); /* created zeroed */
    const uint8_t image[8] = {1, 2, 3, 4, 250, 251, 252, 255};
    CHECK_OK(rlkd_dataset_set_item(d, 1, image, 4));
    CHECK_OK(rlkd_dataset_get_item(d, 1, pixels, &label));
    CHECK(memcmp(pixels, image, 8) == 0 && label == 4);
    label = -1;
    CHECK_OK(rlkd_dataset_get_item(d, 1, NULL, &label));
    CHECK(label == 4);
    CHECK_OK(rlkd_dataset_get_item(d, 1, pixels, NULL));
    CHECK_OK(rlkd_dataset_info(d, NULL, NULL, NULL, NULL, NULL));

    CHECK_FAILS(rlkd_dataset_set_item(d, 3, image, 0), RLKD_ERR_INVALID_ARGUMENT,
                "index 3 is outside [0, 3)");
    CHECK_FAILS(rlkd_dataset_set_item(d, -1, image, 0), RLKD_ERR_INVALID_ARGUMENT,
                "index -1");
    CHECK_FAILS(rlkd_dataset_set_item(d, 0, image, 5), RLKD_ERR_INVALID_ARGUMENT,
                "label 5 is outside [0, 5)");
    CHECK_FAILS(rlkd_dataset_set_item(d, 0, image, -1), RLKD_ERR_INVALID_ARGUMENT,
                "label -1");
    CHECK_FAILS(rlkd_dataset_set_item(d, 0, NULL, 0), RLKD_ERR_INVALID_ARGUMENT,
                "pixels is NULL");
    CHECK_FAILS(rlkd_dataset_set_item(NULL, 0, image, 0),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_dataset_get_item(d, 7, pixels, &label),
                RLKD_ERR_INVALID_ARGUMENT, "index 7");
    CHECK_FAILS(rlkd_dataset_get_item(NULL, 0, pixels, &label),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_dataset_info(NULL, NULL, NULL, NULL, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    rlkd_dataset_destroy(d);
    rlkd_dataset_destroy(NULL);

    rlkd_dataset *bad = (rlkd_dataset *)&bad;
    CHECK_FAILS(rlkd_dataset_create(0, 1, 1, 1, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "count is 0");
    CHECK(bad == NULL);
    CHECK_FAILS(rlkd_dataset_create(1, 0, 1, 1, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "channels is 0");
    CHECK_FAILS(rlkd_dataset_create(1, 1, -2, 1, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "height is -2");
    CHECK_FAILS(rlkd_dataset_create(1, 1, 1, 0, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "width is 0");
    CHECK_FAILS(rlkd_dataset_create(1, 1, 1, 1, 0, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "classes is 0");
    CHECK_FAILS(rlkd_dataset_create(1, 3, 65536, 65536, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "too large");
    CHECK_FAILS(rlkd_dataset_create(INT64_MAX / 2, 1, 1024, 1024, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "do not fit in memory");
    /* channels x height x width past 64 bits, and the most images */
    CHECK_FAILS(rlkd_dataset_create(1, INT_MAX, INT_MAX, INT_MAX, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "too large");
    CHECK_FAILS(rlkd_dataset_create(INT64_MAX, 1, 1, 1, 1, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "do not fit in memory");
    CHECK(bad == NULL);
    CHECK_FAILS(rlkd_dataset_create(1, 1, 1, 1, 1, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(rlkd_dataset_load_idx(NULL, "x", &bad),
                RLKD_ERR_INVALID_ARGUMENT, "images_path");
    CHECK_FAILS(rlkd_dataset_load_idx("x", NULL, &bad),
                RLKD_ERR_INVALID_ARGUMENT, "labels_path");
    CHECK_FAILS(rlkd_dataset_load_idx("x", "y", NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
}

/* The tags of a data set's images, in order. */
static int *tags_of(const rlkd_dataset *d, int64_t *count)
{
    CHECK_OK(rlkd_dataset_info(d, count, NULL, NULL, NULL, NULL));
    int *tags = calloc((size_t)*count, sizeof *tags);
    if (!tags)
        test_fatal("calloc");
    for (int64_t i = 0; i < *count; i++)
        tags[i] = tag_of(d, i);
    return tags;
}

static void test_split(void)
{
    rlkd_dataset *all = tagged_dataset();
    rlkd_dataset *train = NULL, *validation = NULL;
    if (!CHECK_OK(rlkd_dataset_split(all, 60, 42, &train, &validation))) {
        rlkd_dataset_destroy(all);
        return;
    }
    check_info(train, TAGGED_COUNT - 60, 2, 3, 1, 7);
    check_info(validation, 60, 2, 3, 1, 7);
    int64_t train_count, validation_count;
    int *train_tags = tags_of(train, &train_count);
    int *validation_tags = tags_of(validation, &validation_count);
    int seen[TAGGED_COUNT] = {0};
    int in_order = 1, validation_sorted = 1;
    for (int64_t i = 0; i < train_count; i++) {
        seen[train_tags[i]]++;
        in_order &= i == 0 || train_tags[i] > train_tags[i - 1];
    }
    for (int64_t i = 0; i < validation_count; i++) {
        seen[validation_tags[i]]++;
        validation_sorted &= i == 0 || validation_tags[i] > validation_tags[i - 1];
    }
    int once = 1;
    for (int i = 0; i < TAGGED_COUNT; i++)
        once &= seen[i] == 1;
    CHECK_MSG(once, "the parts are not disjoint or do not cover the data set");
    CHECK_MSG(in_order, "train is not in the original order");
    CHECK_MSG(!validation_sorted, "validation is in order: not shuffled");

    /* the same seed: the same split; another seed: another */
    rlkd_dataset *train2 = NULL, *validation2 = NULL, *train3 = NULL,
                 *validation3 = NULL;
    CHECK_OK(rlkd_dataset_split(all, 60, 42, &train2, &validation2));
    CHECK_OK(rlkd_dataset_split(all, 60, 43, &train3, &validation3));
    if (validation2 && validation3) {
        int same = 1, other_same = 1;
        for (int64_t i = 0; i < validation_count; i++) {
            same &= tag_of(validation2, i) == validation_tags[i];
            other_same &= tag_of(validation3, i) == validation_tags[i];
        }
        CHECK_MSG(same, "the same seed gave another split");
        CHECK_MSG(!other_same, "another seed gave the same split");
    }
    free(train_tags);
    free(validation_tags);
    rlkd_dataset_destroy(train);
    rlkd_dataset_destroy(validation);
    rlkd_dataset_destroy(train2);
    rlkd_dataset_destroy(validation2);
    rlkd_dataset_destroy(train3);
    rlkd_dataset_destroy(validation3);

    /* one image either side is allowed; none is not */
    CHECK_OK(rlkd_dataset_split(all, 1, 0, &train, &validation));
    rlkd_dataset_destroy(train);
    rlkd_dataset_destroy(validation);
    CHECK_OK(rlkd_dataset_split(all, TAGGED_COUNT - 1, 0, &train, &validation));
    rlkd_dataset_destroy(train);
    rlkd_dataset_destroy(validation);
    train = validation = (rlkd_dataset *)all;
    CHECK_FAILS(rlkd_dataset_split(all, 0, 0, &train, &validation),
                RLKD_ERR_INVALID_ARGUMENT, "validation_count 0 is outside [1, 300)");
    CHECK(train == NULL && validation == NULL);
    CHECK_FAILS(rlkd_dataset_split(all, TAGGED_COUNT, 0, &train, &validation),
                RLKD_ERR_INVALID_ARGUMENT, "validation_count 300");
    CHECK_FAILS(rlkd_dataset_split(NULL, 1, 0, &train, &validation),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_dataset_split(all, 1, 0, NULL, &validation),
                RLKD_ERR_INVALID_ARGUMENT, "train is NULL");
    CHECK_FAILS(rlkd_dataset_split(all, 1, 0, &train, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "validation is NULL");
    CHECK_FAILS(rlkd_dataset_split(all, 1, 0, &train, &train),
                RLKD_ERR_INVALID_ARGUMENT, "same place");
    rlkd_dataset_destroy(all);
}

static void test_subset(void)
{
    rlkd_dataset *all = tagged_dataset(), *part = NULL;
    if (CHECK_OK(rlkd_dataset_subset(all, 250, 50, &part))) {
        check_info(part, 50, 2, 3, 1, 7);
        int wrong = 0;
        for (int i = 0; i < 50; i++)
            wrong += tag_of(part, i) != 250 + i;
        CHECK_MSG(wrong == 0, "%d images of the subset are not [250, 300)",
                  wrong);
    }
    rlkd_dataset_destroy(part);
    part = (rlkd_dataset *)all;
    CHECK_FAILS(rlkd_dataset_subset(all, 251, 50, &part),
                RLKD_ERR_INVALID_ARGUMENT, "[251, 251 + 50)");
    CHECK(part == NULL);
    CHECK_FAILS(rlkd_dataset_subset(all, -1, 5, &part),
                RLKD_ERR_INVALID_ARGUMENT, "the 300 images");
    CHECK_FAILS(rlkd_dataset_subset(all, 0, 0, &part),
                RLKD_ERR_INVALID_ARGUMENT, "not a non-empty range");
    CHECK_FAILS(rlkd_dataset_subset(all, 1, INT64_MAX, &part),
                RLKD_ERR_INVALID_ARGUMENT, "not a non-empty range");
    CHECK_FAILS(rlkd_dataset_subset(NULL, 0, 1, &part),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_dataset_subset(all, 0, 1, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    rlkd_dataset_destroy(all);
}

/* ---- the real Fashion-MNIST (Debian's dataset-fashion-mnist) ---- */

static void check_fashion_mnist(const char *images, const char *labels,
                                int64_t count)
{
    char images_path[TEST_PATH_BYTES], labels_path[TEST_PATH_BYTES];
    snprintf(images_path, sizeof images_path, "%s/%s", FASHION_MNIST_DIR, images);
    snprintf(labels_path, sizeof labels_path, "%s/%s", FASHION_MNIST_DIR, labels);
    rlkd_dataset *d = NULL;
    if (!CHECK_OK(rlkd_dataset_load_idx(images_path, labels_path, &d)))
        return;
    check_info(d, count, 1, 28, 28, 10);
    int64_t histogram[10] = {0};
    for (int64_t i = 0; i < count; i++) {
        int32_t label = -1;
        CHECK_OK(rlkd_dataset_get_item(d, i, NULL, &label));
        if (label >= 0 && label < 10)
            histogram[label]++;
    }
    for (int c = 0; c < 10; c++)
        CHECK_MSG(histogram[c] == count / 10, "%s: class %d has %lld images",
                  labels, c, (long long)histogram[c]);
    rlkd_dataset_destroy(d);
}

static void test_fashion_mnist(void)
{
    if (access(FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        test_skip(FASHION_MNIST_DIR " is absent (apt-get install "
                                    "dataset-fashion-mnist)");
        return;
    }
    check_fashion_mnist("train-images-idx3-ubyte.gz",
                        "train-labels-idx1-ubyte.gz", 60000);
    check_fashion_mnist("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                        10000);
}

int main(void)
{
    test_main_begin();
    test_run("idx_plain", test_idx_plain);
    test_run("idx_gzip", test_idx_gzip);
    test_run("idx_corrupt", test_idx_corrupt);
    test_run("idx_gzip_cut", test_idx_gzip_cut);
    test_run("cifar10", test_cifar10);
    test_run("cifar100", test_cifar100);
    test_run("cifar_corrupt", test_cifar_corrupt);
    test_run("create_set_get", test_create_set_get);
    test_run("split", test_split);
    test_run("subset", test_subset);
    test_run("fashion_mnist", test_fashion_mnist);
    test_main_end();
    return test_finish();
}
