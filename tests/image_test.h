/*
 * Image files for the data tests: real JPEGs (TurboJPEG) and PNGs (libpng)
 * written under the test's scratch folder, smooth and noisy pixels, a cut
 * JPEG, and the bookkeeping that removes them. Header-only (static
 * inline), so each test program stays one file.
 */
#ifndef RLKD_IMAGE_TEST_H
#define RLKD_IMAGE_TEST_H

#include "testlib.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* ---- files a test makes (removed by remove_made, deepest first) ---- */

#define MAX_MADE 96
static char made[MAX_MADE][TEST_PATH_BYTES];
static int made_count;

static inline const char *remember(const char *relative)
{
    if (made_count == MAX_MADE)
        test_fatal("too many test files");
    test_temp_path(made[made_count], relative);
    return made[made_count++];
}

static inline void make_folder(const char *relative)
{
    if (mkdir(remember(relative), 0755) != 0)
        test_fatal(relative);
}

static inline void write_bytes(const char *relative, const void *data,
                               size_t size)
{
    FILE *f = fopen(remember(relative), "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        test_fatal(relative);
}

static inline void remove_made(void)
{
    while (made_count > 0) {
        const char *path = made[--made_count];
        if (unlink(path) != 0)
            rmdir(path);
    }
}

/* A smooth RGB image (JPEG keeps it well), HWC. */
static inline uint8_t *synthetic(int width, int height, int seed)
{
    uint8_t *p = malloc((size_t)width * height * 3);
    if (!p)
        test_fatal("malloc");
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *q = p + ((size_t)y * width + x) * 3;
            q[0] = (uint8_t)(seed * 40 + x * 200 / width);
            q[1] = (uint8_t)(30 + y * 180 / height);
            q[2] = (uint8_t)(seed * 17 + (x + y) * 100 / (width + height));
        }
    return p;
}

/* Noise: every pixel its own value (for exact checks). */
static inline uint8_t *noise(int width, int height, int channels, int seed)
{
    uint8_t *p = malloc((size_t)width * height * channels);
    if (!p)
        test_fatal("malloc");
    for (size_t i = 0; i < (size_t)width * height * channels; i++)
        p[i] = (uint8_t)((i * 2654435761u + (size_t)seed * 97) >> 7);
    return p;
}

/* A JPEG of pixels in `format` (TJPF_RGB, TJPF_GRAY, or TJPF_CMYK, which
 * TurboJPEG stores as YCCK) with chroma `subsampling`, `quality` and
 * TurboJPEG `flags` (TJFLAG_PROGRESSIVE); tjFree *out. */
static inline size_t jpeg_bytes_with(const uint8_t *pixels, int width,
                                     int height, int format, int subsampling,
                                     int quality, int flags,
                                     unsigned char **out)
{
    tjhandle h = tjInitCompress();
    unsigned long size = 0;
    *out = NULL;
    if (!h || tjCompress2(h, pixels, width, 0, height, format, out, &size,
                          subsampling, quality, flags) != 0)
        test_fatal("tjCompress2");
    tjDestroy(h);
    return size;
}

static inline size_t jpeg_bytes(const uint8_t *rgb, int width, int height,
                                unsigned char **out)
{
    return jpeg_bytes_with(rgb, width, height, TJPF_RGB, TJSAMP_444, 100, 0,
                           out);
}

static inline void write_jpeg_with(const char *relative, const uint8_t *pixels,
                                   int width, int height, int format,
                                   int subsampling, int quality, int flags)
{
    unsigned char *data;
    size_t size = jpeg_bytes_with(pixels, width, height, format, subsampling,
                                  quality, flags, &data);
    write_bytes(relative, data, size);
    tjFree(data);
}

static inline void write_jpeg(const char *relative, const uint8_t *rgb,
                              int width, int height)
{
    write_jpeg_with(relative, rgb, width, height, TJPF_RGB, TJSAMP_444, 100, 0);
}

/* A JPEG of other pixels: TJPF_GRAY (a grey JPEG) or TJPF_CMYK (YCCK). */
static inline void write_jpeg_as(const char *relative, const uint8_t *pixels,
                                 int width, int height, int format)
{
    write_jpeg_with(relative, pixels, width, height, format,
                    format == TJPF_GRAY ? TJSAMP_GRAY : TJSAMP_444, 100, 0);
}

/* A JPEG cut after 60% of its bytes: the header is whole, the scan is not. */
static inline void write_truncated_jpeg(const char *relative)
{
    uint8_t *rgb = synthetic(48, 40, 3);
    unsigned char *data;
    size_t size = jpeg_bytes(rgb, 48, 40, &data);
    write_bytes(relative, data, size * 6 / 10);
    tjFree(data);
    free(rgb);
}

/* color_type PNG_COLOR_TYPE_RGB (3 samples a pixel) or _GRAY (1), of
 * bit_depth 8 or 16 (big-endian samples). */
static inline void write_png_depth(const char *relative,
                                   const uint8_t *pixels, int width,
                                   int height, int color_type, int bit_depth)
{
    const char *path = remember(relative);
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!f || !info || setjmp(png_jmpbuf(png)))
        test_fatal("png write");
    int channels = (color_type == PNG_COLOR_TYPE_RGB ? 3 : 1) * bit_depth / 8;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth,
                 color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * width * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static inline void write_png(const char *relative, const uint8_t *pixels,
                             int width, int height, int color_type)
{
    write_png_depth(relative, pixels, width, height, color_type, 8);
}

#endif
