/*
 * JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng) files to RGB
 * bytes: the pixels of PIL's Image.open(path).convert("RGB"), which
 * torchvision's ImageFolder reads, so a network sees the same input
 * whichever of the two loaded it. A broken file is a per-file error with a
 * reason, never a crash: TurboJPEG keeps its errors to itself, and
 * libpng's error and warning handlers are ours (they record, they never
 * print). A libjpeg warning (e.g. "Premature end of JPEG file" for a cut
 * file) is an error here: libjpeg would otherwise fill the missing rows
 * grey without a word.
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
/* What a header check reads first: JPEG headers with their EXIF
 * thumbnails, PNG's IHDR, almost always. */
#define HEADER_BYTES ((long)64 << 10)
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

/* The first `limit` bytes of the file (all of a shorter one) into a new
 * buffer; *whole tells whether that is the whole file. */
static rlkd_status read_file(const char *path, long limit, uint8_t **data,
                             size_t *size, int *whole, char *reason)
{
    *whole = 1; /* a failure here is the file's, whatever was read */
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
    *whole = length <= limit;
    if (!*whole)
        length = limit;
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

/* x * y / 255 rounded, in PIL's integer form (its MULDIV255). */
static int muldiv255(int x, int y)
{
    int t = x * y + 128;
    return ((t >> 8) + t) >> 8;
}

/*
 * CMYK pixels as libjpeg decodes them (4 bytes each) to RGB in place, as
 * PIL does: it takes a 4-channel JPEG's bytes as Adobe's inverted CMYK
 * (Photoshop's convention; ImageNet's CMYK files are Photoshop's), so
 * C = 255 - byte, and converts with R = (255 - K) - C * (255 - K) / 255,
 * where 255 - K is the K byte itself.
 */
static void cmyk_to_rgb(uint8_t *pixels, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const uint8_t *in = pixels + 4 * i;
        int white = in[3];
        int r = white - muldiv255(255 - in[0], white);
        int g = white - muldiv255(255 - in[1], white);
        int b = white - muldiv255(255 - in[2], white);
        /* Forward in place: output byte 3i + 2 lies before input 4i + 4. */
        pixels[RGB * i] = (uint8_t)r;
        pixels[RGB * i + 1] = (uint8_t)g;
        pixels[RGB * i + 2] = (uint8_t)b;
    }
}

/* A JPEG's size and colour space from its header, checked as decoding
 * needs them. */
static rlkd_status jpeg_header(tjhandle handle, const uint8_t *data,
                               size_t size, int *width, int *height,
                               int *colorspace, char *reason)
{
    /* TurboJPEG answers success, setting nothing, for a stream that ends
     * before its frame (libjpeg's "tables-only" stream). */
    int subsampling;
    *width = *height = 0;
    *colorspace = TJCS_RGB;
    if (tjDecompressHeader3(handle, data, (unsigned long)size, width, height,
                            &subsampling, colorspace) != 0)
        return bad(RLKD_ERR_FORMAT, reason, "JPEG: %s", tjGetErrorStr2(handle));
    if (*width == 0)
        return bad(RLKD_ERR_FORMAT, reason, "JPEG: %s",
                   "no image (the stream ends before its frame header)");
    return check_size(*height, *width, reason);
}

static rlkd_status decode_jpeg(const uint8_t *data, size_t size,
                               int header_only, rlkd_rgb_image *image,
                               char *reason)
{
    tjhandle decoder = tjInitDecompress();
    if (!decoder)
        return bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                   "TurboJPEG could not start a decoder");
    int width, height, colorspace;
    rlkd_status status = jpeg_header(decoder, data, size, &width, &height,
                                     &colorspace, reason);
    if (status == RLKD_OK && !header_only) {
        /* libjpeg has no CMYK (or YCCK) to RGB conversion: it gives CMYK,
         * converted here. Grey, YCbCr and RGB files it turns to RGB as
         * PIL's decoder (the same library, default settings) does. */
        int cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
        size_t pixel_count = (size_t)height * width;
        uint8_t *pixels = malloc(pixel_count * (cmyk ? 4 : RGB));
        if (!pixels) {
            status = bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                         "out of memory for the pixels");
        } else if (tjDecompress2(decoder, data, (unsigned long)size, pixels,
                                 width, 0, height, cmyk ? TJPF_CMYK : TJPF_RGB,
                                 TJFLAG_STOPONWARNING) != 0) {
            status = bad(RLKD_ERR_FORMAT, reason, "JPEG: %s",
                         tjGetErrorStr2(decoder));
            free(pixels);
        } else {
            if (cmyk)
                cmyk_to_rgb(pixels, pixel_count);
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
 * 16-bit grey pixels (big-endian, at the start of a row of width * 3
 * bytes) to RGB in place, backwards so no pixel is overwritten before it
 * is read. PIL opens such a file as 32-bit integers, which convert("RGB")
 * clips at 255: most of these images come out nearly white, and
 * torchvision sees them so too.
 */
static void grey16_to_rgb(uint8_t *row, int width)
{
    for (int x = width - 1; x >= 0; x--) {
        int value = row[2 * x] << 8 | row[2 * x + 1];
        uint8_t level = (uint8_t)(value > 255 ? 255 : value);
        row[RGB * x] = row[RGB * x + 1] = row[RGB * x + 2] = level;
    }
}

/*
 * 8-bit RGB as PIL's convert("RGB"): palettes and low bit depths expanded,
 * 16 bits cut to their high byte (16-bit grey aside, see grey16_to_rgb),
 * grey repeated, alpha and transparency dropped (not composited), no gamma
 * correction.
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
        int grey16 = png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY &&
                     png_get_bit_depth(png, info) == 16;
        if (!grey16) {
            png_set_expand(png);
            png_set_strip_16(png);
            png_set_strip_alpha(png);
            png_set_gray_to_rgb(png);
        }
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        if (png_get_rowbytes(png, info) != (size_t)width * (grey16 ? 2 : RGB))
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
            for (int y = 0; grey16 && y < height; y++)
                grey16_to_rgb(rows[y], width);
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

static int is_jpeg(const uint8_t *data, size_t size)
{
    return size >= sizeof JPEG_SIGNATURE &&
           memcmp(data, JPEG_SIGNATURE, sizeof JPEG_SIGNATURE) == 0;
}

rlkd_status rlkd_image_decode_buffer(const uint8_t *data, size_t size,
                                     int header_only, rlkd_rgb_image *image,
                                     char reason[RLKD_REASON_BYTES])
{
    image->pixels = NULL;
    image->height = image->width = 0;
    reason[0] = '\0';
    if (is_jpeg(data, size))
        return decode_jpeg(data, size, header_only, image, reason);
    if (size >= 8 && png_sig_cmp(data, 0, 8) == 0)
        return decode_png(data, size, header_only, image, reason);
    return bad(RLKD_ERR_FORMAT, reason, "%s", "not a JPEG or PNG file");
}

/* The file's first `limit` bytes (all of a shorter file) decoded. */
static rlkd_status decode_prefix(const char *path, long limit, int header_only,
                                 rlkd_rgb_image *image, char *reason,
                                 int *whole)
{
    uint8_t *data;
    size_t size;
    rlkd_status status = read_file(path, limit, &data, &size, whole, reason);
    if (status != RLKD_OK)
        return status;
    status = rlkd_image_decode_buffer(data, size, header_only, image, reason);
    free(data);
    return status;
}

/* libjpeg's reading of the whole stream (the entropy decoding, without the
 * inverse DCT, upsampling and colour conversion): a decode's failures and
 * reasons at a fraction of its cost. */
static rlkd_status check_jpeg_stream(tjhandle handle, const uint8_t *data,
                                     size_t size, char *reason)
{
    tjtransform read_only = {.op = TJXOP_NONE,
                             .options = TJXOPT_NOOUTPUT | TJXOPT_COPYNONE};
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    int failed = tjTransform(handle, data, (unsigned long)size, 1, &out,
                             &out_size, &read_only, TJFLAG_STOPONWARNING);
    tjFree(out);
    if (failed)
        return bad(RLKD_ERR_FORMAT, reason, "JPEG: %s", tjGetErrorStr2(handle));
    return RLKD_OK;
}

rlkd_status rlkd_image_read_encoded(const char *path, int check_stream,
                                    rlkd_encoded_image *image,
                                    char reason[RLKD_REASON_BYTES])
{
    image->jpeg = NULL;
    image->jpeg_size = 0;
    image->decoded.pixels = NULL;
    image->decoded.height = image->decoded.width = 0;
    reason[0] = '\0';
    uint8_t *data;
    size_t size;
    int whole;
    rlkd_status status = read_file(path, FILE_BYTES_LIMIT, &data, &size,
                                   &whole, reason);
    if (status != RLKD_OK)
        return status;
    if (!is_jpeg(data, size)) {
        status = rlkd_image_decode_buffer(data, size, 0, &image->decoded, reason);
        free(data);
        return status;
    }
    tjhandle handle = tjInitTransform();
    if (!handle) {
        free(data);
        return bad(RLKD_ERR_OUT_OF_MEMORY, reason, "%s",
                   "TurboJPEG could not start a decoder");
    }
    int width, height, colorspace;
    status = jpeg_header(handle, data, size, &width, &height, &colorspace,
                         reason);
    /* nvJPEG takes YCbCr and grey; CMYK, YCCK and RGB files, rare (none of
     * them is YCbCr), are decoded here as the CPU path decodes them. */
    if (status == RLKD_OK &&
        (colorspace == TJCS_YCbCr || colorspace == TJCS_GRAY)) {
        if (check_stream)
            status = check_jpeg_stream(handle, data, size, reason);
        if (status == RLKD_OK) {
            image->jpeg = data;
            image->jpeg_size = size;
            image->decoded.height = height;
            image->decoded.width = width;
            data = NULL;
        }
    } else if (status == RLKD_OK) {
        status = decode_jpeg(data, size, 0, &image->decoded, reason);
    }
    tjDestroy(handle);
    free(data);
    return status;
}

rlkd_status rlkd_image_decode_file(const char *path, int header_only,
                                   rlkd_rgb_image *image,
                                   char reason[RLKD_REASON_BYTES])
{
    image->pixels = NULL;
    image->height = image->width = 0;
    reason[0] = '\0';
    int whole;
    /* A header check reads the file's start first: an open of ImageNet
     * then reads a fraction of its 140 GB. A header that goes on past it
     * (large EXIF or ICC data) fails there and is read again whole. */
    if (header_only) {
        rlkd_status status = decode_prefix(path, HEADER_BYTES, 1, image,
                                           reason, &whole);
        if (status != RLKD_ERR_FORMAT || whole)
            return status;
        reason[0] = '\0';
    }
    return decode_prefix(path, FILE_BYTES_LIMIT, header_only, image, reason,
                         &whole);
}
