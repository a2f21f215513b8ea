/*
 * JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng) files to RGB
 * bytes. A broken file is a per-file error with a reason, never a crash:
 * TurboJPEG keeps its errors to itself, and libpng's error and warning
 * handlers are ours (they record, they never print). A libjpeg warning
 * (e.g. "Premature end of JPEG file" for a cut file) is an error here:
 * libjpeg would otherwise fill the missing rows grey without a word.
 */
#include "data_internal.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* Larger files are not images we train on (ImageNet's largest is ~15 MB). */
#define FILE_BYTES_LIMIT ((long)1 << 30)
/* Pixels of the largest image decoded: keeps 3 bytes per pixel in int. */
#define PIXELS_LIMIT ((int64_t)1 << 28)
#define RGB 3

static const uint8_t JPEG_SIGNATURE[3] = {0xFF, 0xD8, 0xFF};

static rlkd_status bad(rlkd_status status, char *reason, const char *fmt,
                       const char *detail)
{
    snprintf(reason, RLKD_REASON_BYTES, fmt, detail);
    return status;
}

/* The whole file into a new buffer. */
static rlkd_status read_file(const char *path, uint8_t **data, size_t *size,
                             char *reason)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return bad(RLKD_ERR_IO, reason, "cannot open: %s", strerror(errno));
    long length = -1;
    if (fseek(file, 0, SEEK_END) == 0)
        length = ftell(file);
    if (length < 0 || fseek(file, 0, SEEK_SET) != 0) {
        fclose(file);
        return bad(RLKD_ERR_IO, reason, "cannot read: %s", strerror(errno));
    }
    if (length > FILE_BYTES_LIMIT) {
        fclose(file);
        return bad(RLKD_ERR_FORMAT, reason, "%s", "larger than 1 GiB");
    }
    uint8_t *buffer = malloc(length > 0 ? (size_t)length : 1);
    if (!buffer) {
        fclose(file);
        return bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                   "out of memory for the file");
    }
    size_t got = fread(buffer, 1, (size_t)length, file);
    int failed = ferror(file);
    fclose(file);
    if (failed || got != (size_t)length) {
        free(buffer);
        return bad(RLKD_ERR_IO, reason, "%s", "read error");
    }
    *data = buffer;
    *size = got;
    return RLKD_OK;
}

static rlkd_status check_size(int height, int width, char *reason)
{
    if (height < 1 || width < 1 || (int64_t)height * width > PIXELS_LIMIT) {
        snprintf(reason, RLKD_REASON_BYTES,
                 "image of %d x %d pixels (at most 2^28 pixels)", width,
                 height);
        return RLKD_ERR_FORMAT;
    }
    return RLKD_OK;
}

static rlkd_status decode_jpeg(const uint8_t *data, size_t size,
                               int header_only, rlkd_rgb_image *image,
                               char *reason)
{
    tjhandle decoder = tjInitDecompress();
    if (!decoder)
        return bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                   "TurboJPEG could not start a decoder");
    int width, height, subsampling, colorspace;
    rlkd_status status = RLKD_OK;
    if (tjDecompressHeader3(decoder, data, (unsigned long)size, &width,
                            &height, &subsampling, &colorspace) != 0) {
        status = bad(RLKD_ERR_FORMAT, reason, "JPEG: %s",
                     tjGetErrorStr2(decoder));
    } else {
        status = check_size(height, width, reason);
    }
    if (status == RLKD_OK && !header_only) {
        uint8_t *pixels = malloc((size_t)height * width * RGB);
        if (!pixels) {
            status = bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                         "out of memory for the pixels");
        } else if (tjDecompress2(decoder, data, (unsigned long)size, pixels,
                                 width, 0, height, TJPF_RGB,
                                 TJFLAG_STOPONWARNING) != 0) {
            status = bad(RLKD_ERR_FORMAT, reason, "JPEG: %s",
                         tjGetErrorStr2(decoder));
            free(pixels);
        } else {
            image->pixels = pixels;
        }
    }
    if (status == RLKD_OK) {
        image->height = height;
        image->width = width;
    }
    tjDestroy(decoder);
    return status;
}

/* libpng reads from the buffer through this. */
typedef struct png_source {
    const uint8_t *data;
    size_t size, offset;
} png_source;

static void png_read_memory(png_structp png, png_bytep out, size_t bytes)
{
    png_source *source = png_get_io_ptr(png);
    if (bytes > source->size - source->offset)
        png_error(png, "the file is truncated");
    memcpy(out, source->data + source->offset, bytes);
    source->offset += bytes;
}

static void png_on_error(png_structp png, png_const_charp message)
{
    snprintf(png_get_error_ptr(png), RLKD_REASON_BYTES, "PNG: %s", message);
    png_longjmp(png, 1);
}

/* Warnings (e.g. a bad ancillary chunk) leave the pixels good: ignored,
 * as the library never prints. */
static void png_on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

/*
 * 8-bit RGB as PIL's convert("RGB"): palettes and low bit depths expanded,
 * 16 bits cut to their high byte, grey repeated, alpha dropped (not
 * composited), no gamma correction.
 */
static rlkd_status decode_png(const uint8_t *data, size_t size,
                              int header_only, rlkd_rgb_image *image,
                              char *reason)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reason,
                                             png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                   "libpng could not start a reader");
    }
    png_source source = {data, size, 0};
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return RLKD_ERR_FORMAT; /* png_on_error wrote the reason */
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_read_info(png, info);
    int width = (int)png_get_image_width(png, info);
    int height = (int)png_get_image_height(png, info);
    rlkd_status status = check_size(height, width, reason);
    if (status == RLKD_OK && !header_only) {
        png_set_expand(png);
        png_set_strip_16(png);
        png_set_strip_alpha(png);
        png_set_gray_to_rgb(png);
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        if (png_get_rowbytes(png, info) != (size_t)width * RGB)
            png_error(png, "unexpected row size after conversion to RGB");
        pixels = malloc((size_t)height * width * RGB);
        rows = malloc((size_t)height * sizeof *rows);
        if (!pixels || !rows) {
            status = bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                         "out of memory for the pixels");
        } else {
            for (int y = 0; y < height; y++)
                rows[y] = pixels + (size_t)y * width * RGB;
            png_read_image(png, rows);
            png_read_end(png, NULL);
            image->pixels = pixels;
            pixels = NULL;
        }
    }
    if (status == RLKD_OK) {
        image->height = height;
        image->width = width;
    }
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return status;
}

rlkd_status rlkd_image_decode_file(const char *path, int header_only,
                                   rlkd_rgb_image *image,
                                   char reason[RLKD_REASON_BYTES])
{
    image->pixels = NULL;
    image->height = image->width = 0;
    reason[0] = '\0';
    uint8_t *data;
    size_t size;
    rlkd_status status = read_file(path, &data, &size, reason);
    if (status != RLKD_OK)
        return status;
    if (size >= sizeof JPEG_SIGNATURE &&
        memcmp(data, JPEG_SIGNATURE, sizeof JPEG_SIGNATURE) == 0)
        status = decode_jpeg(data, size, header_only, image, reason);
    else if (size >= 8 && png_sig_cmp(data, 0, 8) == 0)
        status = decode_png(data, size, header_only, image, reason);
    else
        status = bad(RLKD_ERR_FORMAT, reason, "%s", "not a JPEG or PNG file");
    free(data);
    return status;
}
