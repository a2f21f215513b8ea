/*
 * File-backed data sets and their loader: an ImageFolder tree of real JPEG
 * (TurboJPEG) and PNG (libpng) files written here, with a truncated JPEG, a
 * text file named .jpg and an empty class folder; labels by sorted class
 * names, the bad-file report, exact PNG pixels (RGB, grey, 16-bit grey as
 * PIL clips it), JPEG pixels (RGB, grey, CMYK stored as YCCK) within a
 * tolerance, the evaluation transform against a plain antialiased
 * reference (tests/python/test_image_folder_parity.py checks both against
 * PIL and torchvision exactly),
 * RandomResizedCrop's windows, the same batches on 0, 1 and 4 workers,
 * FAIL and SKIP at load time, destroying and restarting mid-epoch with
 * workers running, the list file variant, and bad arguments. The GPU
 * path's host side too: its reading of files gives the CPU decoder's
 * verdicts and pixels, and decode_device RLKD_DEVICE_CUDA is refused, with
 * the reason, without nvJPEG or a CUDA context (tests/gpu has the rest).
 */
#include "image_test.h"
#include "testlib.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Internal (the static library): RandomResizedCrop's window. */
#include "../lib/data/data_internal.h"

/*
 * root "tree": ant/{broken.jpg (truncated), notimage.jpg (text), x.png
 * (grey 17x13), y.jpg}, bee/{z.png, readme.txt}, cat/{a.jpg, b.PNG,
 * c.jpeg}, dog/ (empty). Classes ant 0, bee 1, cat 2, dog 3.
 */
static char tree[TEST_PATH_BYTES];

static void make_tree(void)
{
    make_folder("tree");
    snprintf(tree, sizeof tree, "%s", made[made_count - 1]);
    make_folder("tree/ant");
    make_folder("tree/bee");
    make_folder("tree/cat");
    make_folder("tree/dog");
    write_truncated_jpeg("tree/ant/broken.jpg");
    write_bytes("tree/ant/notimage.jpg", "hello, not a JPEG\n", 18);
    uint8_t *grey = noise(17, 13, 1, 1);
    write_png("tree/ant/x.png", grey, 17, 13, PNG_COLOR_TYPE_GRAY);
    free(grey);
    const char *jpegs[] = {"tree/ant/y.jpg", "tree/cat/a.jpg", "tree/cat/c.jpeg"};
    for (int i = 0; i < 3; i++) {
        uint8_t *rgb = synthetic(30 + 7 * i, 26 + 5 * i, i);
        write_jpeg(jpegs[i], rgb, 30 + 7 * i, 26 + 5 * i);
        free(rgb);
    }
    const char *pngs[] = {"tree/bee/z.png", "tree/cat/b.PNG"};
    for (int i = 0; i < 2; i++) {
        uint8_t *rgb = noise(21 + i, 34 - i, 3, 2 + i);
        write_png(pngs[i], rgb, 21 + i, 34 - i, PNG_COLOR_TYPE_RGB);
        free(rgb);
    }
    write_bytes("tree/bee/readme.txt", "ignored\n", 8);
}

static rlkd_dataset *open_tree(rlkd_bad_files bad_files, rlkd_verify verify)
{
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = bad_files;
    o.verify = verify;
    rlkd_dataset *d;
    test_must(rlkd_dataset_open_folder(tree, &o, &d), "rlkd_dataset_open_folder");
    return d;
}

static rlkd_loader *make_loader(const rlkd_dataset *d, int batch, int shuffle,
                                int train, int workers, int crop, int resize)
{
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    o.batch_size = batch;
    o.shuffle = shuffle;
    o.seed = 77;
    o.random_resized_crop = train;
    o.horizontal_flip = train;
    o.crop_size = crop;
    o.resize_size = resize;
    o.workers = workers;
    o.prefetch = 3;
    rlkd_loader *l;
    test_must(rlkd_loader_create(test_ctx, d, &o, &l), "rlkd_loader_create");
    return l;
}

static int contains(const char *text, const char *part)
{
    return text && strstr(text, part) != NULL;
}

/* ---- cases ---- */

static void test_labels_counts_and_report(void)
{
    rlkd_dataset *d = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_HEADER);
    int64_t count, bad;
    int channels, height, width, classes;
    CHECK_OK(rlkd_dataset_info(d, &count, &channels, &height, &width, &classes));
    CHECK_MSG(count == 7, "count %lld", (long long)count);
    CHECK(channels == 3 && height == 0 && width == 0 && classes == 4);
    const char *names[] = {"ant", "bee", "cat", "dog"};
    for (int c = 0; c < 4; c++) {
        const char *name = NULL;
        CHECK_OK(rlkd_dataset_class_name(d, c, &name));
        CHECK_MSG(name && strcmp(name, names[c]) == 0, "class %d is %s", c,
                  name ? name : "NULL");
    }
    /* The header check finds the text file and the empty folder, not the
     * truncated JPEG (its header is whole). */
    CHECK_OK(rlkd_dataset_bad_file_count(d, &bad));
    CHECK_MSG(bad == 2, "bad %lld", (long long)bad);
    const char *path = NULL, *reason = NULL;
    CHECK_OK(rlkd_dataset_bad_file(d, 0, &path, &reason));
    CHECK_MSG(contains(path, "tree/ant/notimage.jpg") &&
                  contains(reason, "not a JPEG or PNG"),
              "%s: %s", path, reason);
    CHECK_OK(rlkd_dataset_bad_file(d, 1, &path, &reason));
    CHECK_MSG(contains(path, "tree/dog") && contains(reason, "empty class folder"),
              "%s: %s", path, reason);
    rlkd_dataset_destroy(d);

    d = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_DECODE);
    CHECK_OK(rlkd_dataset_info(d, &count, NULL, NULL, NULL, NULL));
    CHECK_OK(rlkd_dataset_bad_file_count(d, &bad));
    CHECK_MSG(count == 6 && bad == 3, "count %lld bad %lld", (long long)count,
              (long long)bad);
    CHECK_OK(rlkd_dataset_bad_file(d, 0, &path, &reason));
    CHECK_MSG(contains(path, "tree/ant/broken.jpg") && contains(reason, "JPEG"),
              "%s: %s", path, reason);
    /* Labels in file order (no shuffle): ant x.png y.jpg, bee, cat x3. */
    rlkd_loader *l = make_loader(d, 6, 0, 0, 0, 8, 8);
    rlkd_tensor *images, *labels;
    CHECK_OK(rlkd_loader_next(l, &images, &labels));
    int32_t got[6] = {0}, want[6] = {0, 0, 1, 2, 2, 2};
    if (CHECK(labels != NULL)) {
        CHECK_OK(rlkd_tensor_read_i32(labels, got, 6));
        CHECK(memcmp(got, want, sizeof want) == 0);
    }
    rlkd_loader_destroy(l);
    rlkd_dataset_destroy(d);

    rlkd_dataset *failed = NULL;
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = RLKD_BAD_FILES_FAIL;
    CHECK_FAILS(rlkd_dataset_open_folder(tree, &o, &failed), RLKD_ERR_FORMAT,
                "tree/ant/notimage.jpg: not a JPEG or PNG");
    CHECK(failed == NULL);
}

/* One batch [n, 3, side, side] of a loader as host floats. */
static float *one_batch(rlkd_loader *l, int64_t *n)
{
    rlkd_tensor *images, *labels;
    test_must(rlkd_loader_next(l, &images, &labels), "rlkd_loader_next");
    if (!images)
        test_fatal("no batch");
    *n = rlkd_tensor_numel(images);
    return t_get(images);
}

/* PIL's RGB of Adobe CMYK bytes: R = K - (255 - C) * K / 255, rounded. */
static double cmyk_red(const uint8_t *cmyk, int c)
{
    return cmyk[3] - (255.0 - cmyk[c]) * cmyk[3] / 255.0;
}

/* Pixels through the identity transform (16 x 16 images resized to 16 and
 * cropped to 16): PNG exactly (RGB, grey, 16-bit grey clipped at 255 as
 * PIL's convert("RGB") does), JPEG nearly (RGB, grey repeated, and CMYK
 * stored as YCCK, converted as PIL converts Adobe CMYK). */
static void test_decoded_pixels(void)
{
    make_folder("pixels");
    make_folder("pixels/only");
    const int side = 16;
    size_t plane = (size_t)side * side;
    uint8_t *rgb = noise(side, side, 3, 5), *grey = noise(side, side, 1, 6);
    uint8_t *smooth = synthetic(side, side, 1);
    uint8_t *smooth_grey = malloc(plane), *cmyk = malloc(plane * 4);
    uint8_t *wide = malloc(plane * 2);
    if (!smooth_grey || !cmyk || !wide)
        test_fatal("malloc");
    for (size_t p = 0; p < plane; p++) {
        smooth_grey[p] = smooth[p * 3 + 1];
        memcpy(cmyk + p * 4, smooth + p * 3, 3);
        cmyk[p * 4 + 3] = (uint8_t)(120 + p % side * 8);
        int value = (int)(p * 7 % 300); /* below and above 255 */
        wide[p * 2] = (uint8_t)(value >> 8);
        wide[p * 2 + 1] = (uint8_t)value;
    }
    write_png("pixels/only/a.png", rgb, side, side, PNG_COLOR_TYPE_RGB);
    write_png("pixels/only/b.png", grey, side, side, PNG_COLOR_TYPE_GRAY);
    write_jpeg("pixels/only/c.jpg", smooth, side, side);
    write_jpeg_as("pixels/only/d.jpg", smooth_grey, side, side, TJPF_GRAY);
    write_jpeg_as("pixels/only/e.jpg", cmyk, side, side, TJPF_CMYK);
    write_png_depth("pixels/only/f.png", wide, side, side, PNG_COLOR_TYPE_GRAY, 16);
    char root[TEST_PATH_BYTES];
    test_temp_path(root, "pixels");
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = RLKD_BAD_FILES_FAIL;
    o.verify = RLKD_VERIFY_DECODE;
    rlkd_dataset *d;
    CHECK_OK(rlkd_dataset_open_folder(root, &o, &d));
    rlkd_loader *l = make_loader(d, 6, 0, 0, 0, side, side);
    int64_t n;
    float *got = one_batch(l, &n);
    int exact = 1;
    double worst_jpeg = 0, worst_grey = 0, worst_cmyk = 0;
#define LEVEL(image, c, p) ((double)got[((image) * 3 + (c)) * plane + (p)] * 255.0)
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            int clipped = wide[p * 2] ? 255 : wide[p * 2 + 1];
            exact &= got[c * plane + p] == (float)rgb[p * 3 + c] / 255.0f;
            exact &= got[(3 + c) * plane + p] == (float)grey[p] / 255.0f;
            exact &= got[(15 + c) * plane + p] == (float)clipped / 255.0f;
            worst_jpeg = fmax(worst_jpeg, fabs(LEVEL(2, c, p) - smooth[p * 3 + c]));
            worst_grey = fmax(worst_grey, fabs(LEVEL(3, c, p) - smooth_grey[p]));
            worst_cmyk = fmax(worst_cmyk,
                              fabs(LEVEL(4, c, p) - cmyk_red(cmyk + p * 4, c)));
        }
#undef LEVEL
    CHECK_MSG(n == 6 * 3 * (int64_t)plane, "numel %lld", (long long)n);
    CHECK_MSG(exact, "PNG pixels (RGB, grey, 16-bit grey) differ from the file's");
    CHECK_MSG(worst_jpeg <= 6.0, "JPEG differs from its source by %g levels",
              worst_jpeg);
    CHECK_MSG(worst_grey <= 3.0, "grey JPEG differs from its source by %g levels",
              worst_grey);
    CHECK_MSG(worst_cmyk <= 6.0, "CMYK JPEG differs from its source by %g levels",
              worst_cmyk);
    free(got);
    free(rgb);
    free(grey);
    free(smooth);
    free(smooth_grey);
    free(cmyk);
    free(wide);
    rlkd_loader_destroy(l);
    rlkd_dataset_destroy(d);
}

/* A JPEG with 96 KB of APP15 segments before its frame header: the header
 * check's first read (64 KB) ends before the header, so it reads the file
 * again whole and finds it good; the pixels are the plain JPEG's. And a
 * JPEG of no frame at all is bad. */
static void test_header_past_the_first_read(void)
{
    make_folder("big_header");
    make_folder("big_header/a");
    const int side = 12;
    uint8_t *rgb = synthetic(side, side, 2);
    unsigned char *jpeg;
    size_t size = jpeg_bytes(rgb, side, side, &jpeg);
    enum { SEGMENTS = 3, SEGMENT = 32768 };
    size_t padded = size + SEGMENTS * (SEGMENT + 2);
    uint8_t *data = calloc(padded, 1);
    if (!data)
        test_fatal("calloc");
    memcpy(data, jpeg, 2); /* SOI */
    for (int k = 0; k < SEGMENTS; k++) {
        uint8_t *segment = data + 2 + (size_t)k * (SEGMENT + 2);
        segment[0] = 0xFF;
        segment[1] = 0xEF; /* APP15, its length counting itself */
        segment[2] = (uint8_t)(SEGMENT >> 8);
        segment[3] = (uint8_t)(SEGMENT & 0xFF);
    }
    memcpy(data + 2 + SEGMENTS * (SEGMENT + 2), jpeg + 2, size - 2);
    write_bytes("big_header/a/padded.jpg", data, padded);
    write_bytes("big_header/a/plain.jpg", jpeg, size);
    char root[TEST_PATH_BYTES];
    test_temp_path(root, "big_header");
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = RLKD_BAD_FILES_FAIL;
    rlkd_dataset *d;
    CHECK_OK(rlkd_dataset_open_folder(root, &o, &d));
    rlkd_loader *l = make_loader(d, 2, 0, 0, 0, side, side);
    int64_t n;
    float *got = one_batch(l, &n);
    CHECK(n == 2 * 3 * side * side &&
          memcmp(got, got + n / 2, (size_t)n / 2 * sizeof *got) == 0);
    free(got);
    rlkd_loader_destroy(l);
    rlkd_dataset_destroy(d);
    /* A stream that ends before its frame: TurboJPEG's header call
     * succeeds on it without a size. */
    const uint8_t tables_only[] = {0xFF, 0xD8, 0xFF, 0xD9};
    write_bytes("big_header/tables_only.jpg", tables_only, sizeof tables_only);
    rlkd_rgb_image image;
    char path[TEST_PATH_BYTES], reason[RLKD_REASON_BYTES];
    test_temp_path(path, "big_header/tables_only.jpg");
    for (int header_only = 0; header_only <= 1; header_only++) {
        CHECK(rlkd_image_decode_file(path, header_only, &image, reason) ==
              RLKD_ERR_FORMAT);
        CHECK_MSG(contains(reason, "ends before its frame header"), "%s", reason);
        CHECK(image.pixels == NULL);
    }
    free(data);
    tjFree(jpeg);
    free(rgb);
}

/* The GPU path's reading (rlkd_image_read_encoded) against the CPU's
 * decoding, file by file: the same verdicts with the same reasons; a YCbCr
 * or grey JPEG kept as its bytes (which decode to the CPU's pixels), any
 * other image decoded to the CPU's pixels. */
static void test_read_for_the_gpu(void)
{
    const int w = 40, h = 30;
    make_folder("encoded");
    uint8_t *rgb = synthetic(w, h, 4), *grey = noise(w, h, 1, 7);
    uint8_t *cmyk = noise(w, h, 4, 8);
    write_jpeg_with("encoded/420.jpg", rgb, w, h, TJPF_RGB, TJSAMP_420, 90, 0);
    write_jpeg_with("encoded/progressive.jpg", rgb, w, h, TJPF_RGB, TJSAMP_422,
                    85, TJFLAG_PROGRESSIVE);
    write_jpeg_as("encoded/grey.jpg", grey, w, h, TJPF_GRAY);
    write_jpeg_as("encoded/cmyk.jpg", cmyk, w, h, TJPF_CMYK);
    write_png("encoded/rgb.png", rgb, w, h, PNG_COLOR_TYPE_RGB);
    write_truncated_jpeg("encoded/cut.jpg");
    write_bytes("encoded/text.jpg", "not an image\n", 13);
    /* Markers where the scan's data should be. */
    unsigned char *jpeg;
    size_t size = jpeg_bytes(rgb, w, h, &jpeg);
    for (size_t i = size * 7 / 10; i < size * 7 / 10 + 16 && i + 2 < size; i += 2) {
        jpeg[i] = 0xFF;
        jpeg[i + 1] = 0xD3;
    }
    write_bytes("encoded/corrupt.jpg", jpeg, size);
    tjFree(jpeg);
    /* kept: 1 as bytes, 0 decoded, -1 bad (the CPU's verdict decides). */
    const struct {
        const char *name;
        int kept;
    } files[] = {{"420.jpg", 1},  {"progressive.jpg", 1}, {"grey.jpg", 1},
                 {"cmyk.jpg", 0}, {"rgb.png", 0},         {"cut.jpg", -1},
                 {"text.jpg", -1}, {"corrupt.jpg", 1}};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char name[64], path[TEST_PATH_BYTES];
        char cpu_reason[RLKD_REASON_BYTES], gpu_reason[RLKD_REASON_BYTES];
        snprintf(name, sizeof name, "encoded/%s", files[f].name);
        test_temp_path(path, name);
        rlkd_rgb_image cpu;
        rlkd_encoded_image gpu;
        rlkd_status cpu_status = rlkd_image_decode_file(path, 0, &cpu, cpu_reason);
        rlkd_status gpu_status =
            rlkd_image_read_encoded(path, 1, &gpu, gpu_reason);
        CHECK_MSG(cpu_status == gpu_status &&
                      strcmp(cpu_reason, gpu_reason) == 0,
                  "%s: CPU %s (%s), GPU path %s (%s)", files[f].name,
                  rlkd_status_string(cpu_status), cpu_reason,
                  rlkd_status_string(gpu_status), gpu_reason);
        int kept = files[f].kept;
        if (kept == 1 && cpu_status != RLKD_OK)
            kept = -1; /* libjpeg found the corruption */
        if (kept < 0) {
            CHECK_MSG(cpu_status == RLKD_ERR_FORMAT && gpu.jpeg == NULL &&
                          gpu.decoded.pixels == NULL,
                      "%s: %s", files[f].name, rlkd_status_string(cpu_status));
            continue;
        }
        CHECK_MSG(gpu.decoded.height == cpu.height &&
                      gpu.decoded.width == cpu.width,
                  "%s: %d x %d", files[f].name, gpu.decoded.width,
                  gpu.decoded.height);
        rlkd_rgb_image again = {NULL, 0, 0};
        const uint8_t *pixels = gpu.decoded.pixels;
        if (kept) {
            CHECK_MSG(gpu.jpeg && gpu.jpeg_size > 0 && !gpu.decoded.pixels,
                      "%s is not kept as its bytes", files[f].name);
            if (gpu.jpeg)
                CHECK_MSG(rlkd_image_decode_buffer(gpu.jpeg, gpu.jpeg_size, 0,
                                                   &again, gpu_reason) ==
                              RLKD_OK,
                          "%s: %s", files[f].name, gpu_reason);
            pixels = again.pixels;
        } else {
            CHECK_MSG(!gpu.jpeg && gpu.decoded.pixels, "%s is not decoded",
                      files[f].name);
        }
        CHECK_MSG(pixels && cpu.pixels &&
                      memcmp(pixels, cpu.pixels,
                             (size_t)cpu.height * cpu.width * 3) == 0,
                  "%s: other pixels than the CPU path's", files[f].name);
        free(again.pixels);
        free(cpu.pixels);
        free(gpu.jpeg);
        free(gpu.decoded.pixels);
    }
    /* Unchecked (the data set's open decoded every file): the cut JPEG's
     * whole header passes, and nvJPEG gets its bytes. */
    char path[TEST_PATH_BYTES], reason[RLKD_REASON_BYTES];
    test_temp_path(path, "encoded/cut.jpg");
    rlkd_encoded_image unchecked;
    CHECK(rlkd_image_read_encoded(path, 0, &unchecked, reason) == RLKD_OK &&
          unchecked.jpeg != NULL && unchecked.decoded.width == 48);
    free(unchecked.jpeg);
    free(rgb);
    free(grey);
    free(cmyk);
}

/* decode_device RLKD_DEVICE_CUDA needs a build with nvJPEG, a file-backed
 * set and a CUDA context: the first of them missing is named. */
static void test_decode_device_refused(void)
{
    rlkd_dataset *set = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_HEADER);
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    CHECK(o.decode_device == RLKD_DEVICE_CPU);
    rlkd_loader *l = (rlkd_loader *)1;
    o.decode_device = (rlkd_device)7;
    CHECK_FAILS(rlkd_loader_create(test_ctx, set, &o, &l),
                RLKD_ERR_INVALID_ARGUMENT, "decode_device is 7");
    o.decode_device = RLKD_DEVICE_CUDA;
    if (!(rlkd_build_features() & RLKD_FEATURE_NVJPEG)) {
        CHECK_FAILS(rlkd_loader_create(test_ctx, set, &o, &l),
                    RLKD_ERR_UNSUPPORTED, "rlkd was built without nvJPEG");
    } else {
        CHECK_FAILS(rlkd_loader_create(test_ctx, set, &o, &l),
                    RLKD_ERR_INVALID_ARGUMENT, "this is a CPU context");
        rlkd_dataset *memory;
        test_must(rlkd_dataset_create(2, 3, 4, 4, 2, &memory), "dataset");
        CHECK_FAILS(rlkd_loader_create(test_ctx, memory, &o, &l),
                    RLKD_ERR_INVALID_ARGUMENT, "this data set is in memory");
        rlkd_dataset_destroy(memory);
    }
    CHECK(l == NULL);
    rlkd_dataset_destroy(set);
}

/* Python's round (half to even) of a non-negative x. */
static int round_half_even(double x)
{
    double f = floor(x);
    if (x - f > 0.5 || (x - f == 0.5 && fmod(f, 2.0) != 0.0))
        return (int)f + 1;
    return (int)f;
}

/* One axis of an antialiased bilinear resize in plain doubles: a triangle
 * as wide as the reduction factor (at least 1) around each output's centre,
 * normalised over the inputs. Sample i of line l is at l * line_stride +
 * i * stride in src, output o at l * out_line_stride + o * stride in dst. */
static void reference_axis(const double *src, double *dst, int n, int out,
                           int lines, size_t stride, size_t line_stride,
                           size_t out_line_stride)
{
    double scale = (double)n / out, widen = fmax(scale, 1.0);
    for (int line = 0; line < lines; line++)
        for (int o = 0; o < out; o++) {
            double center = (o + 0.5) * scale, sum = 0, total = 0;
            for (int i = 0; i < n; i++) {
                double w = fmax(0.0, 1.0 - fabs((i + 0.5 - center) / widen));
                sum += w * src[(size_t)line * line_stride + (size_t)i * stride];
                total += w;
            }
            dst[(size_t)line * out_line_stride + (size_t)o * stride] = sum / total;
        }
}

/* PIL's antialiased bilinear resize of an HWC image in doubles, rounded
 * to 8 bits after each pass as PIL's intermediate image is: without its
 * fixed-point weights, so rarely a level away from it. */
static uint8_t *reference_resize(const uint8_t *src, int h, int w, int oh,
                                 int ow)
{
    double *in = malloc((size_t)h * w * 3 * sizeof *in);
    double *across = malloc((size_t)h * ow * 3 * sizeof *across);
    double *both = malloc((size_t)oh * ow * 3 * sizeof *both);
    uint8_t *out = malloc((size_t)oh * ow * 3);
    if (!in || !across || !both || !out)
        test_fatal("malloc");
    for (size_t i = 0; i < (size_t)h * w * 3; i++)
        in[i] = src[i];
    /* Along rows (lines are rows), then along columns. */
    for (int c = 0; c < 3; c++)
        reference_axis(in + c, across + c, w, ow, h, 3, (size_t)w * 3,
                       (size_t)ow * 3);
    for (size_t i = 0; i < (size_t)h * ow * 3; i++)
        across[i] = floor(across[i] + 0.5);
    for (int c = 0; c < 3; c++)
        reference_axis(across + c, both + c, h, oh, ow, (size_t)ow * 3, 3, 3);
    for (size_t i = 0; i < (size_t)oh * ow * 3; i++)
        out[i] = (uint8_t)floor(both[i] + 0.5);
    free(in);
    free(across);
    free(both);
    return out;
}

/* Resize (shorter side 20) + CenterCrop of a 38 x 30 PNG: the grid is
 * 20 x 25 (int(20 * 38 / 30)), its centre crop of 16 starts at column
 * round(4.5) = 4 (half to even) and row 2; a crop of 24 pads the rows. */
static void test_eval_transform(void)
{
    make_folder("eval");
    make_folder("eval/one");
    const int w = 38, h = 30, resize = 20, gw = 25, gh = 20;
    uint8_t *rgb = noise(w, h, 3, 9);
    write_png("eval/one/image.png", rgb, w, h, PNG_COLOR_TYPE_RGB);
    char root[TEST_PATH_BYTES];
    test_temp_path(root, "eval");
    rlkd_dataset *d;
    CHECK_OK(rlkd_dataset_open_folder(root, NULL, &d));
    uint8_t *grid = reference_resize(rgb, h, w, gh, gw);
    const int sides[] = {16, 24};
    for (int s = 0; s < 2; s++) {
        int side = sides[s];
        int top = gh >= side ? round_half_even((gh - side) / 2.0) : -((side - gh) / 2);
        int left = gw >= side ? round_half_even((gw - side) / 2.0) : -((side - gw) / 2);
        rlkd_loader *l = make_loader(d, 1, 0, 0, 0, side, resize);
        int64_t n;
        float *got = one_batch(l, &n);
        CHECK_MSG(n == 3 * side * side, "numel %lld for side %d", (long long)n,
                  side);
        int off_by_one = 0, worse = 0;
        for (int y = 0; y < side && n == 3 * side * side; y++)
            for (int x = 0; x < side; x++)
                for (int c = 0; c < 3; c++) {
                    int gy = y + top, gx = x + left;
                    int want = gy >= 0 && gy < gh && gx >= 0 && gx < gw
                                   ? grid[((size_t)gy * gw + gx) * 3 + c]
                                   : 0;
                    int level = (int)lrint(
                        got[((size_t)c * side + y) * side + x] * 255.0);
                    off_by_one += abs(level - want) == 1;
                    worse += abs(level - want) > 1;
                }
        CHECK_MSG(worse == 0 && off_by_one <= side * side * 3 / 100,
                  "side %d: %d pixels off by one, %d by more", side,
                  off_by_one, worse);
        free(got);
        rlkd_loader_destroy(l);
    }
    free(grid);
    free(rgb);
    rlkd_dataset_destroy(d);
}

/* The centre crop's grid as torchvision has it (the longer side
 * int(resize * long / short)), and capped for an extreme image and resize,
 * where int(resize * long / short) would not fit an int. */
static void test_center_crop_grid(void)
{
    int gh, gw, top, left;
    rlkd_center_crop_grid(375, 500, 256, 224, &gh, &gw, &top, &left);
    CHECK(gh == 256 && gw == 341 && top == 16 && left == 58);
    rlkd_center_crop_grid(300, 20, 36, 40, &gh, &gw, &top, &left);
    CHECK(gw == 36 && gh == 540 && left == -2 && top == 250);
    rlkd_center_crop_grid(1, 1 << 27, INT_MAX, 224, &gh, &gw, &top, &left);
    CHECK(gh == INT_MAX && gw == INT_MAX / 2 && left > 0 && top > 0);
}

static void test_random_resized_crop_window(void)
{
    int in_bounds = 1, areas = 1, ratios = 1, varied = 0;
    rlkd_crop first = rlkd_random_resized_crop(300, 400, 0.08, 1.0, 0.75,
                                               4.0 / 3.0, 5, 2, 0);
    for (uint64_t image = 0; image < 500; image++) {
        rlkd_crop c = rlkd_random_resized_crop(300, 400, 0.08, 1.0, 0.75,
                                               4.0 / 3.0, 5, 2, image);
        rlkd_crop again = rlkd_random_resized_crop(300, 400, 0.08, 1.0, 0.75,
                                                   4.0 / 3.0, 5, 2, image);
        CHECK(memcmp(&c, &again, sizeof c) == 0);
        in_bounds &= c.top >= 0 && c.left >= 0 && c.height >= 1 &&
                     c.width >= 1 && c.top + c.height <= 300 &&
                     c.left + c.width <= 400;
        double area = (double)c.height * c.width / (300.0 * 400.0);
        double ratio = (double)c.width / c.height;
        /* Rounding the sides moves area and ratio a little. */
        areas &= area >= 0.075 && area <= 1.0;
        ratios &= ratio >= 0.75 * 0.97 && ratio <= 4.0 / 3.0 * 1.03;
        varied |= memcmp(&c, &first, sizeof c) != 0;
    }
    CHECK_MSG(in_bounds, "a window leaves the image");
    CHECK_MSG(areas, "a window's area is outside [0.08, 1]");
    CHECK_MSG(ratios, "a window's ratio is outside [3/4, 4/3]");
    CHECK_MSG(varied, "every image got the same window");
    /* 100 x 10 at full area: no attempt fits, so the fallback: height 10,
     * width round(10 * 4/3) = 13, centred. */
    rlkd_crop c = rlkd_random_resized_crop(10, 100, 1.0, 1.0, 0.75, 4.0 / 3.0,
                                           1, 2, 3);
    CHECK_MSG(c.top == 0 && c.height == 10 && c.width == 13 && c.left == 43,
              "fallback %d %d %d %d", c.top, c.left, c.height, c.width);
}

/* Two epochs of batches, all their floats and labels in one array. */
static float *run_epochs(const rlkd_dataset *d, int train, int workers,
                         size_t *values)
{
    rlkd_loader *l = make_loader(d, 4, 1, train, workers, 24, 28);
    size_t capacity = 0, used = 0;
    float *all = NULL;
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        test_must(rlkd_loader_start_epoch(l, epoch, 0), "start_epoch");
        rlkd_tensor *images, *labels;
        for (;;) {
            test_must(rlkd_loader_next(l, &images, &labels), "next");
            if (!images)
                break;
            int64_t n = rlkd_tensor_numel(images), m = rlkd_tensor_numel(labels);
            if (used + (size_t)(n + m) > capacity) {
                capacity = 2 * (used + (size_t)(n + m));
                all = realloc(all, capacity * sizeof *all);
                if (!all)
                    test_fatal("realloc");
            }
            float *x = t_get(images);
            memcpy(all + used, x, (size_t)n * sizeof *x);
            free(x);
            int32_t label[8];
            test_must(rlkd_tensor_read_i32(labels, label, (size_t)m), "labels");
            for (int64_t i = 0; i < m; i++)
                all[used + (size_t)n + (size_t)i] = (float)label[i];
            used += (size_t)(n + m);
        }
    }
    rlkd_loader_destroy(l);
    *values = used;
    return all;
}

/* An in-memory set through the workers: the batches of the calling thread. */
static void in_memory_through_workers(void)
{
    rlkd_dataset *d;
    test_must(rlkd_dataset_create(10, 3, 8, 8, 2, &d), "rlkd_dataset_create");
    uint8_t *pixels = noise(8, 8, 3, 0);
    for (int i = 0; i < 10; i++) {
        pixels[i] = (uint8_t)(i * 25);
        test_must(rlkd_dataset_set_item(d, i, pixels, i % 2), "set_item");
    }
    free(pixels);
    float *batches[2] = {NULL, NULL};
    int64_t n = 0;
    for (int w = 0; w < 2; w++) {
        rlkd_loader_options o;
        rlkd_loader_options_init(&o);
        o.batch_size = 10;
        o.crop_padding = 2;
        o.horizontal_flip = 1;
        o.seed = 3;
        o.workers = 3 * w;
        rlkd_loader *l;
        test_must(rlkd_loader_create(test_ctx, d, &o, &l), "loader");
        batches[w] = one_batch(l, &n);
        rlkd_loader_destroy(l);
    }
    CHECK_MSG(memcmp(batches[0], batches[1], (size_t)n * sizeof(float)) == 0,
              "an in-memory set differs with 3 workers");
    free(batches[0]);
    free(batches[1]);
    rlkd_dataset_destroy(d);
}

static void test_same_batches_on_any_workers(void)
{
    in_memory_through_workers();
    rlkd_dataset *d = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_DECODE);
    for (int train = 0; train <= 1; train++) {
        size_t n0, n1, n4;
        float *b0 = run_epochs(d, train, 0, &n0);
        float *b1 = run_epochs(d, train, 1, &n1);
        float *b4 = run_epochs(d, train, 4, &n4);
        CHECK_MSG(n0 == n1 && n0 == n4 && n0 == 2 * (6 * 3 * 24 * 24 + 6),
                  "values %zu %zu %zu", n0, n1, n4);
        CHECK_MSG(n0 == n1 && memcmp(b0, b1, n0 * sizeof *b0) == 0,
                  "train %d: 1 worker differs from 0", train);
        CHECK_MSG(n0 == n4 && memcmp(b0, b4, n0 * sizeof *b0) == 0,
                  "train %d: 4 workers differ from 0", train);
        if (train) { /* the epochs differ: new crops and order */
            size_t half = n0 / 2;
            CHECK(memcmp(b0, b0 + half, half * sizeof *b0) != 0);
        }
        free(b0);
        free(b1);
        free(b4);
    }
    rlkd_dataset_destroy(d);
}

/* "bad/a/": broken.jpg (truncated) then good.png, opened without verifying. */
static rlkd_dataset *open_bad(rlkd_bad_files bad_files)
{
    static int made_bad;
    if (!made_bad) {
        make_folder("bad");
        make_folder("bad/a");
        write_truncated_jpeg("bad/a/broken.jpg");
        uint8_t *rgb = noise(12, 10, 3, 4);
        write_png("bad/a/good.png", rgb, 12, 10, PNG_COLOR_TYPE_RGB);
        free(rgb);
        made_bad = 1;
    }
    char root[TEST_PATH_BYTES];
    test_temp_path(root, "bad");
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = bad_files;
    o.verify = RLKD_VERIFY_NONE;
    rlkd_dataset *d;
    test_must(rlkd_dataset_open_folder(root, &o, &d), "open bad");
    return d;
}

static void test_fail_and_skip_at_load_time(void)
{
    for (int workers = 0; workers <= 2; workers += 2) {
        rlkd_dataset *d = open_bad(RLKD_BAD_FILES_FAIL);
        rlkd_loader *l = make_loader(d, 1, 0, 0, workers, 8, 8);
        rlkd_tensor *images = NULL, *labels = NULL;
        CHECK_FAILS(rlkd_loader_next(l, &images, &labels), RLKD_ERR_FORMAT,
                    "bad/a/broken.jpg");
        CHECK(images == NULL && labels == NULL);
        CHECK_OK(rlkd_loader_next(l, &images, &labels));
        CHECK(images != NULL);
        rlkd_loader_destroy(l);
        rlkd_dataset_destroy(d);

        d = open_bad(RLKD_BAD_FILES_SKIP);
        l = make_loader(d, 1, 0, 0, workers, 8, 8);
        int64_t n;
        float *substituted = one_batch(l, &n), *good = one_batch(l, &n);
        CHECK_MSG(memcmp(substituted, good, (size_t)n * sizeof *good) == 0,
                  "workers %d: the broken file is not replaced by the next",
                  workers);
        free(substituted);
        free(good);
        rlkd_loader_destroy(l);
        rlkd_dataset_destroy(d);
    }
}

/* A data-parallel rank's loader (rlkd_loader_set_shard, internal) reads
 * and decodes its own rows alone: another rank's broken file does not stop
 * it; its row is the whole batch's, the other rows zeros with their
 * labels; its own broken file fails it; whole batches again after. */
static void test_shard_reads_its_rows_alone(void)
{
    for (int workers = 0; workers <= 2; workers += 2) {
        rlkd_dataset *d = open_bad(RLKD_BAD_FILES_FAIL);
        /* batch 2: broken.jpg (row 0), good.png (row 1) */
        rlkd_loader *l = make_loader(d, 2, 0, 0, workers, 8, 8);
        rlkd_loader *single = make_loader(d, 1, 0, 0, workers, 8, 8);
        rlkd_tensor *images, *labels;
        CHECK_FAILS(rlkd_loader_next(single, &images, &labels),
                    RLKD_ERR_FORMAT, "broken.jpg");
        int64_t n;
        float *good = one_batch(single, &n);
        rlkd_loader_set_shard(l, 1, 2);
        if (CHECK_OK(rlkd_loader_next(l, &images, &labels)) && images) {
            float *got = t_get(images);
            int32_t got_labels[2] = {-1, -1};
            CHECK_OK(rlkd_tensor_read_i32(labels, got_labels, 2));
            CHECK_MSG(memcmp(got + n, good, (size_t)n * sizeof *got) == 0,
                      "workers %d: rank 1's row is not the good image",
                      workers);
            int zeros = 1;
            for (int64_t i = 0; i < n; i++)
                zeros &= got[i] == 0.0f;
            CHECK_MSG(zeros, "workers %d: rank 0's row is not zeros", workers);
            CHECK(got_labels[0] == 0 && got_labels[1] == 0);
            free(got);
        }
        rlkd_loader_set_shard(l, 0, 2);
        CHECK_OK(rlkd_loader_start_epoch(l, 0, 0));
        CHECK_FAILS(rlkd_loader_next(l, &images, &labels), RLKD_ERR_FORMAT,
                    "broken.jpg");
        rlkd_loader_set_shard(l, 0, 1);
        CHECK_OK(rlkd_loader_start_epoch(l, 0, 0));
        CHECK_FAILS(rlkd_loader_next(l, &images, &labels), RLKD_ERR_FORMAT,
                    "broken.jpg");
        free(good);
        rlkd_loader_destroy(single);
        rlkd_loader_destroy(l);
        rlkd_dataset_destroy(d);
    }
}

/* Destroying with workers busy, and restarting mid-epoch: the batches of
 * the restarted epoch are those of a fresh loader. */
static void test_destroy_and_restart_mid_epoch(void)
{
    rlkd_dataset *d = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_DECODE);
    for (int round = 0; round < 20; round++) {
        rlkd_loader *l = make_loader(d, 1, 1, 1, 4, 32, 32);
        if (round % 2) {
            int64_t n;
            free(one_batch(l, &n));
        }
        rlkd_loader_destroy(l);
    }
    rlkd_loader *fresh = make_loader(d, 2, 1, 1, 4, 24, 24);
    rlkd_loader *restarted = make_loader(d, 2, 1, 1, 4, 24, 24);
    int64_t n;
    free(one_batch(restarted, &n));
    CHECK_OK(rlkd_loader_start_epoch(fresh, 3, 1));
    CHECK_OK(rlkd_loader_start_epoch(restarted, 3, 1));
    for (int b = 0; b < 2; b++) {
        int64_t m;
        float *x = one_batch(fresh, &n), *y = one_batch(restarted, &m);
        CHECK(n == m && memcmp(x, y, (size_t)n * sizeof *x) == 0);
        free(x);
        free(y);
    }
    rlkd_loader_destroy(fresh);
    rlkd_loader_destroy(restarted);
    rlkd_dataset_destroy(d);
}

/* Labels of a data set in order (shuffle off), through a loader of 4 x 4. */
static int32_t *labels_of(const rlkd_dataset *d, int64_t *count)
{
    test_must(rlkd_dataset_info(d, count, NULL, NULL, NULL, NULL), "info");
    int32_t *labels = malloc((size_t)*count * sizeof *labels);
    if (!labels)
        test_fatal("malloc");
    rlkd_loader *l = make_loader(d, (int)*count, 0, 0, 0, 4, 4);
    rlkd_tensor *images, *tensor;
    test_must(rlkd_loader_next(l, &images, &tensor), "next");
    test_must(rlkd_tensor_read_i32(tensor, labels, (size_t)*count), "labels");
    rlkd_loader_destroy(l);
    return labels;
}

/* Split and subset of a file-backed set: paths and labels go along. */
static void test_split_and_subset(void)
{
    rlkd_dataset *d = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_DECODE);
    int64_t all_count, sub_count, train_count, validation_count;
    int32_t *all = labels_of(d, &all_count); /* 0 0 1 2 2 2 */
    rlkd_dataset *sub, *train, *validation;
    CHECK_OK(rlkd_dataset_subset(d, 2, 3, &sub));
    int32_t *part = labels_of(sub, &sub_count);
    CHECK(sub_count == 3 && memcmp(part, all + 2, 3 * sizeof *part) == 0);
    const char *name = NULL;
    CHECK_OK(rlkd_dataset_class_name(sub, 1, &name));
    CHECK(name && strcmp(name, "bee") == 0);
    free(part);
    CHECK_OK(rlkd_dataset_split(d, 2, 11, &train, &validation));
    int32_t *t = labels_of(train, &train_count);
    int32_t *v = labels_of(validation, &validation_count);
    CHECK(train_count == 4 && validation_count == 2);
    int histogram[3] = {0};
    for (int i = 0; i < 4; i++)
        histogram[t[i]]++;
    for (int i = 0; i < 2; i++)
        histogram[v[i]]++;
    CHECK_MSG(histogram[0] == 2 && histogram[1] == 1 && histogram[2] == 3,
              "the parts' labels are not the whole's");
    free(t);
    free(v);
    free(all);
    rlkd_dataset_destroy(train);
    rlkd_dataset_destroy(validation);
    rlkd_dataset_destroy(sub);
    rlkd_dataset_destroy(d);
}

static void test_list_file(void)
{
    const char text[] = "cat/a.jpg 2\n\nbee/z.png   1\r\nant/missing.png 0\n";
    write_bytes("list.txt", text, sizeof text - 1);
    char list[TEST_PATH_BYTES];
    test_temp_path(list, "list.txt");
    rlkd_dataset *d;
    CHECK_OK(rlkd_dataset_open_list(list, tree, NULL, &d));
    int64_t count, bad;
    int classes;
    CHECK_OK(rlkd_dataset_info(d, &count, NULL, NULL, NULL, &classes));
    CHECK_OK(rlkd_dataset_bad_file_count(d, &bad));
    CHECK_MSG(count == 2 && classes == 3 && bad == 1, "%lld %d %lld",
              (long long)count, classes, (long long)bad);
    const char *path = NULL, *reason = NULL, *name = (const char *)1;
    CHECK_OK(rlkd_dataset_bad_file(d, 0, &path, &reason));
    CHECK_MSG(contains(path, "ant/missing.png") && contains(reason, "cannot open"),
              "%s: %s", path, reason);
    CHECK_OK(rlkd_dataset_class_name(d, 0, &name));
    CHECK(name == NULL);
    rlkd_loader *l = make_loader(d, 2, 0, 0, 1, 8, 8);
    rlkd_tensor *images, *labels;
    CHECK_OK(rlkd_loader_next(l, &images, &labels));
    int32_t got[2] = {0};
    if (CHECK(labels != NULL))
        CHECK_OK(rlkd_tensor_read_i32(labels, got, 2));
    CHECK(got[0] == 2 && got[1] == 1);
    rlkd_loader_destroy(l);
    rlkd_dataset_destroy(d);

    const char broken[] = "cat/a.jpg 2\ncat/c.jpeg\n";
    write_bytes("broken_list.txt", broken, sizeof broken - 1);
    test_temp_path(list, "broken_list.txt");
    rlkd_dataset *none = (rlkd_dataset *)1;
    CHECK_FAILS(rlkd_dataset_open_list(list, tree, NULL, &none), RLKD_ERR_FORMAT,
                "line 2");
    CHECK(none == NULL);
}

static void test_argument_errors(void)
{
    rlkd_dataset *d = (rlkd_dataset *)1;
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    CHECK_FAILS(rlkd_dataset_open_folder(tree, &o, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(rlkd_dataset_open_folder(NULL, &o, &d),
                RLKD_ERR_INVALID_ARGUMENT, "root is NULL");
    CHECK(d == NULL);
    o.struct_size = 4;
    CHECK_FAILS(rlkd_dataset_open_folder(tree, &o, &d),
                RLKD_ERR_INVALID_ARGUMENT, "struct_size");
    rlkd_folder_options_init(&o);
    o.bad_files = (rlkd_bad_files)7;
    CHECK_FAILS(rlkd_dataset_open_folder(tree, &o, &d),
                RLKD_ERR_INVALID_ARGUMENT, "bad_files");
    rlkd_folder_options_init(&o);
    o.verify = (rlkd_verify)9;
    CHECK_FAILS(rlkd_dataset_open_folder(tree, &o, &d),
                RLKD_ERR_INVALID_ARGUMENT, "verify");
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "no_such_folder");
    CHECK_FAILS(rlkd_dataset_open_folder(path, NULL, &d), RLKD_ERR_IO,
                "no_such_folder");
    make_folder("empty_root");
    test_temp_path(path, "empty_root");
    CHECK_FAILS(rlkd_dataset_open_folder(path, NULL, &d), RLKD_ERR_FORMAT,
                "no class folder");
    make_folder("only_empty");
    make_folder("only_empty/a");
    test_temp_path(path, "only_empty");
    CHECK_FAILS(rlkd_dataset_open_folder(path, NULL, &d), RLKD_ERR_FORMAT,
                "no readable JPEG or PNG");
    CHECK_FAILS(rlkd_dataset_open_list(NULL, tree, NULL, &d),
                RLKD_ERR_INVALID_ARGUMENT, "list_path is NULL");
    CHECK_FAILS(rlkd_dataset_open_list(path, tree, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    test_temp_path(path, "no_such_list.txt");
    CHECK_FAILS(rlkd_dataset_open_list(path, tree, NULL, &d), RLKD_ERR_IO,
                "no_such_list.txt");

    rlkd_dataset *set = open_tree(RLKD_BAD_FILES_SKIP, RLKD_VERIFY_HEADER);
    int64_t count;
    const char *text;
    CHECK_FAILS(rlkd_dataset_bad_file_count(NULL, &count),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_dataset_bad_file_count(set, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "count is NULL");
    CHECK_FAILS(rlkd_dataset_bad_file(set, 2, &text, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "outside [0, 2)");
    CHECK_FAILS(rlkd_dataset_bad_file(NULL, 0, &text, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_dataset_class_name(set, 4, &text),
                RLKD_ERR_INVALID_ARGUMENT, "outside [0, 4)");
    CHECK_FAILS(rlkd_dataset_class_name(set, 0, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "name is NULL");
    uint8_t pixel[3];
    CHECK_FAILS(rlkd_dataset_get_item(set, 0, pixel, NULL), RLKD_ERR_UNSUPPORTED,
                "file-backed");
    CHECK_FAILS(rlkd_dataset_set_item(set, 0, pixel, 0), RLKD_ERR_UNSUPPORTED,
                "file-backed");

    rlkd_loader *l = (rlkd_loader *)1;
    struct {
        const char *needle;
        int field;
    } bad[] = {{"crop_size", 0},   {"resize_size", 1}, {"scale_min", 2},
               {"scale_max", 3},   {"ratio_min", 4},   {"ratio_max", 5},
               {"workers", 6},     {"prefetch", 7},    {"crop_padding", 8},
               {"workers", 9},     {"prefetch", 10},
               {"over the 2^31 - 1 elements of a tensor", 11}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rlkd_loader_options lo;
        rlkd_loader_options_init(&lo);
        switch (bad[i].field) {
        case 0: lo.crop_size = 0; break;
        case 1: lo.resize_size = -1; break;
        case 2: lo.scale_min = 0.0f; break;
        case 3: lo.scale_max = 0.05f; break;
        case 4: lo.ratio_min = -1.0f; break;
        case 5: lo.ratio_max = 0.5f; break;
        case 6: lo.workers = -1; break;
        case 7: lo.workers = 1; lo.prefetch = 0; break;
        case 8: lo.crop_padding = 4; break;
        case 9: lo.workers = 100000; break;
        case 10: lo.workers = 1; lo.prefetch = INT_MAX; break;
        default: lo.crop_size = INT_MAX; break; /* 3 x side^2 values */
        }
        CHECK_FAILS(rlkd_loader_create(test_ctx, set, &lo, &l),
                    RLKD_ERR_INVALID_ARGUMENT, bad[i].needle);
        CHECK(l == NULL);
    }
    /* A caller built before the appended fields: their defaults. */
    rlkd_loader_options old;
    rlkd_loader_options_init(&old);
    old.struct_size = offsetof(rlkd_loader_options, crop_size);
    old.batch_size = 2;
    CHECK_OK(rlkd_loader_create(test_ctx, set, &old, &l));
    rlkd_tensor *images, *labels;
    CHECK_OK(rlkd_loader_next(l, &images, &labels));
    if (CHECK(images != NULL))
        CHECK(rlkd_tensor_numel(images) == 2 * 3 * 224 * 224);
    rlkd_loader_destroy(l);
    rlkd_dataset_destroy(set);
}

int main(void)
{
    test_main_begin();
    make_tree();
    test_run("labels_counts_and_report", test_labels_counts_and_report);
    test_run("decoded_pixels", test_decoded_pixels);
    test_run("header_past_the_first_read", test_header_past_the_first_read);
    test_run("eval_transform", test_eval_transform);
    test_run("center_crop_grid", test_center_crop_grid);
    test_run("random_resized_crop_window", test_random_resized_crop_window);
    test_run("same_batches_on_any_workers", test_same_batches_on_any_workers);
    test_run("fail_and_skip_at_load_time", test_fail_and_skip_at_load_time);
    test_run("destroy_and_restart_mid_epoch", test_destroy_and_restart_mid_epoch);
    test_run("shard_reads_its_rows_alone", test_shard_reads_its_rows_alone);
    test_run("split_and_subset", test_split_and_subset);
    test_run("list_file", test_list_file);
    test_run("argument_errors", test_argument_errors);
    test_run("read_for_the_gpu", test_read_for_the_gpu);
    test_run("decode_device_refused", test_decode_device_refused);
    remove_made();
    test_main_end();
    return test_finish();
}
