/*
 * The loader's GPU path (decode_device RLKD_DEVICE_CUDA: nvJPEG, then the
 * resampling kernels) against its CPU path on the same files and options,
 * two epochs each: labels identical; PNG and CMYK JPEG images (decoded on
 * the host either way) bit for bit, so the kernels' crop, resize, flip and
 * normalisation are the CPU's exactly; YCbCr and grey JPEGs within the
 * tolerance of nvJPEG's decoding (baseline 4:4:4, 4:2:0, 4:2:2
 * progressive, grey, odd sizes, one ImageNet-sized); the same batches on
 * 0, 1 and 2 workers; bad files failed and skipped alike. Prints the
 * measured differences. Exits 77 (skipped) without a GPU or without nvJPEG
 * in the build.
 */
#include "image_test.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* nvJPEG's IDCT and chroma upsampling against libjpeg-turbo's, after the
 * resize, in levels of 255: the bounds docs/training.md states. */
#define JPEG_MAX_LEVELS 12.0
#define JPEG_MEAN_LEVELS 1.5

static rlkd_context *gpu;
static const float MEAN[3] = {0.485f, 0.456f, 0.406f};
static const float STD[3] = {0.229f, 0.224f, 0.225f};

/* ---- files ---- */

/* Photo-like pixels: smooth shading with some texture (JPEG keeps it as it
 * keeps photographs, neither perfectly nor badly). */
static uint8_t *photo(int width, int height, int seed)
{
    uint8_t *p = malloc((size_t)width * height * 3);
    if (!p)
        test_fatal("malloc");
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < 3; c++) {
                double v = 120 + 60 * sin(0.09 * x + 0.7 * c + seed) +
                           45 * cos(0.05 * y - 0.4 * c * seed) +
                           20 * sin(0.3 * (x + y) + c);
                p[((size_t)y * width + x) * 3 + c] =
                    (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

static uint8_t *grey_of(const uint8_t *rgb, int width, int height)
{
    uint8_t *g = malloc((size_t)width * height);
    if (!g)
        test_fatal("malloc");
    for (size_t i = 0; i < (size_t)width * height; i++)
        g[i] = rgb[3 * i + 1];
    return g;
}

static uint8_t *cmyk_of(const uint8_t *rgb, int width, int height)
{
    uint8_t *k = malloc((size_t)width * height * 4);
    if (!k)
        test_fatal("malloc");
    for (size_t i = 0; i < (size_t)width * height; i++) {
        memcpy(k + 4 * i, rgb + 3 * i, 3);
        k[4 * i + 3] = (uint8_t)(200 + i % 50);
    }
    return k;
}

/*
 * exact/{a,b}: PNGs (RGB and grey, 8 x 8 to 203 x 151) and a CMYK JPEG.
 * jpeg/{a,b,c}: YCbCr and grey JPEGs of every kind nvJPEG takes, one of
 * ImageNet's usual 500 x 375. bad/a: a cut JPEG and a text file among good
 * files.
 */
static void make_files(void)
{
    make_folder("exact");
    make_folder("exact/a");
    make_folder("exact/b");
    const int sizes[][2] = {{61, 47}, {30, 80}, {203, 151}, {8, 8}, {17, 13}};
    for (int i = 0; i < 5; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        char name[64];
        uint8_t *rgb = noise(w, h, 3, i);
        snprintf(name, sizeof name, "exact/%s/%d.png", i % 2 ? "b" : "a", i);
        if (i == 4) {
            uint8_t *grey = grey_of(rgb, w, h);
            write_png(name, grey, w, h, PNG_COLOR_TYPE_GRAY);
            free(grey);
        } else {
            write_png(name, rgb, w, h, PNG_COLOR_TYPE_RGB);
        }
        free(rgb);
    }
    uint8_t *rgb = photo(45, 38, 1), *cmyk = cmyk_of(rgb, 45, 38);
    write_jpeg_as("exact/b/cmyk.jpg", cmyk, 45, 38, TJPF_CMYK);
    free(cmyk);
    free(rgb);

    make_folder("jpeg");
    make_folder("jpeg/a");
    make_folder("jpeg/b");
    make_folder("jpeg/c");
    const struct {
        const char *name;
        int width, height, subsampling, quality, flags;
    } jpegs[] = {{"jpeg/a/444.jpg", 64, 48, TJSAMP_444, 95, 0},
                 {"jpeg/a/420.jpg", 75, 61, TJSAMP_420, 90, 0},
                 {"jpeg/b/422p.jpg", 52, 70, TJSAMP_422, 90, TJFLAG_PROGRESSIVE},
                 {"jpeg/b/odd.jpg", 17, 13, TJSAMP_420, 90, 0},
                 {"jpeg/c/imagenet.jpg", 500, 375, TJSAMP_420, 90, 0}};
    for (size_t i = 0; i < sizeof jpegs / sizeof *jpegs; i++) {
        uint8_t *pixels = photo(jpegs[i].width, jpegs[i].height, (int)i + 2);
        write_jpeg_with(jpegs[i].name, pixels, jpegs[i].width, jpegs[i].height,
                        TJPF_RGB, jpegs[i].subsampling, jpegs[i].quality,
                        jpegs[i].flags);
        free(pixels);
    }
    rgb = photo(40, 33, 9);
    uint8_t *grey = grey_of(rgb, 40, 33);
    write_jpeg_with("jpeg/c/grey.jpg", grey, 40, 33, TJPF_GRAY, TJSAMP_GRAY,
                    90, 0);
    free(grey);
    free(rgb);

    make_folder("bad");
    make_folder("bad/a");
    write_truncated_jpeg("bad/a/1_broken.jpg");
    write_bytes("bad/a/2_notimage.jpg", "not an image\n", 13);
    rgb = photo(36, 30, 4);
    write_jpeg("bad/a/3_good.jpg", rgb, 36, 30);
    write_png("bad/a/4_good.png", rgb, 36, 30, PNG_COLOR_TYPE_RGB);
    free(rgb);
}

static rlkd_dataset *open_set(const char *name, rlkd_bad_files bad_files,
                              rlkd_verify verify)
{
    char root[TEST_PATH_BYTES];
    test_temp_path(root, name);
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = bad_files;
    o.verify = verify;
    rlkd_dataset *d;
    test_must(rlkd_dataset_open_folder(root, &o, &d), name);
    return d;
}

/* ---- loading ---- */

typedef struct setting {
    int train, workers, batch, crop, resize;
} setting;

/* Two epochs of batches on one path: every value and label in order, and
 * the failed batches' messages. */
typedef struct epochs {
    float *values;
    int32_t *labels;
    size_t value_count, label_count;
    int failures;
    char message[2][512];
} epochs;

static void append(epochs *e, const rlkd_tensor *images,
                   const rlkd_tensor *labels)
{
    size_t n = (size_t)rlkd_tensor_numel(images);
    size_t m = (size_t)rlkd_tensor_numel(labels);
    e->values = realloc(e->values, (e->value_count + n) * sizeof *e->values);
    e->labels = realloc(e->labels, (e->label_count + m) * sizeof *e->labels);
    if (!e->values || !e->labels)
        test_fatal("realloc");
    test_must(rlkd_tensor_read(images, e->values + e->value_count, n), "read");
    test_must(rlkd_tensor_read_i32(labels, e->labels + e->label_count, m),
              "read labels");
    e->value_count += n;
    e->label_count += m;
}

static epochs load(rlkd_context *ctx, const rlkd_dataset *d, rlkd_device device,
                   setting s)
{
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    o.batch_size = s.batch;
    o.seed = 11;
    o.random_resized_crop = s.train;
    o.horizontal_flip = s.train;
    o.crop_size = s.crop;
    o.resize_size = s.resize;
    o.workers = s.workers;
    o.prefetch = 2;
    memcpy(o.mean, MEAN, sizeof MEAN);
    memcpy(o.std, STD, sizeof STD);
    o.decode_device = device;
    rlkd_loader *l;
    test_must(rlkd_loader_create(ctx, d, &o, &l), "rlkd_loader_create");
    epochs e = {0};
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        test_must(rlkd_loader_start_epoch(l, epoch, 0), "start_epoch");
        for (;;) {
            rlkd_tensor *images, *labels;
            rlkd_status status = rlkd_loader_next(l, &images, &labels);
            if (status != RLKD_OK) {
                if (e.failures < 2)
                    snprintf(e.message[e.failures], sizeof e.message[0], "%s: %s",
                             rlkd_status_string(status), rlkd_last_error());
                e.failures++;
                continue;
            }
            if (!images)
                break;
            append(&e, images, labels);
        }
    }
    rlkd_loader_destroy(l);
    return e;
}

static void free_epochs(epochs *e)
{
    free(e->values);
    free(e->labels);
}

/* The GPU path's epochs against the CPU path's: the same labels, failures
 * and messages; values bit for bit when `exact`, else within the JPEG
 * bounds. Prints the differences in levels of 255. */
static void compare(const char *what, const epochs *cpu, const epochs *on_gpu,
                    int exact, int crop)
{
    CHECK_MSG(cpu->label_count == on_gpu->label_count &&
                  memcmp(cpu->labels, on_gpu->labels,
                         cpu->label_count * sizeof *cpu->labels) == 0,
              "%s: the labels differ", what);
    CHECK_MSG(cpu->failures == on_gpu->failures &&
                  strcmp(cpu->message[0], on_gpu->message[0]) == 0 &&
                  strcmp(cpu->message[1], on_gpu->message[1]) == 0,
              "%s: %d failed batches on the CPU (%s), %d on the GPU (%s)",
              what, cpu->failures, cpu->message[0], on_gpu->failures,
              on_gpu->message[0]);
    if (!CHECK_MSG(cpu->value_count == on_gpu->value_count,
                   "%s: %zu values on the CPU, %zu on the GPU", what,
                   cpu->value_count, on_gpu->value_count))
        return;
    size_t plane = (size_t)crop * crop;
    double worst = 0, total = 0;
    for (size_t i = 0; i < cpu->value_count; i++) {
        double levels = fabs((double)cpu->values[i] - on_gpu->values[i]) *
                        STD[i / plane % 3] * 255.0;
        worst = fmax(worst, levels);
        total += levels;
    }
    double mean = cpu->value_count ? total / (double)cpu->value_count : 0;
    printf("   %s: GPU path against CPU path: max %.3f, mean %.4f levels of 255 "
           "over %zu values\n", what, worst, mean, cpu->value_count);
    if (exact)
        CHECK_MSG(memcmp(cpu->values, on_gpu->values,
                         cpu->value_count * sizeof *cpu->values) == 0,
                  "%s: not bit for bit (max %g levels)", what, worst);
    else
        CHECK_MSG(worst <= JPEG_MAX_LEVELS && mean <= JPEG_MEAN_LEVELS,
                  "%s: max %g, mean %g levels (bounds %g, %g)", what, worst,
                  mean, JPEG_MAX_LEVELS, JPEG_MEAN_LEVELS);
}

static void compare_paths(const char *set_name, rlkd_dataset *d, int exact,
                          setting s)
{
    char what[128];
    snprintf(what, sizeof what, "%s, %s, crop %d, batch %d, workers %d",
             set_name, s.train ? "training" : "evaluation", s.crop, s.batch,
             s.workers);
    setting on_cpu = s;
    on_cpu.workers = 0;
    epochs cpu = load(test_ctx, d, RLKD_DEVICE_CPU, on_cpu);
    epochs on_gpu = load(gpu, d, RLKD_DEVICE_CUDA, s);
    compare(what, &cpu, &on_gpu, exact, s.crop);
    free_epochs(&cpu);
    free_epochs(&on_gpu);
}

/* ---- cases ---- */

/* Host-decoded pixels: the kernels give the CPU's values exactly, also
 * with a centre crop larger than the resized image (zeros around). */
static void host_decoded_images_bit_for_bit(void)
{
    rlkd_dataset *d = open_set("exact", RLKD_BAD_FILES_FAIL, RLKD_VERIFY_DECODE);
    const setting settings[] = {{1, 0, 4, 32, 36}, {0, 0, 4, 32, 36},
                                {0, 2, 3, 40, 24}, {1, 1, 6, 224, 256}};
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        compare_paths("PNG and CMYK", d, 1, settings[i]);
    rlkd_dataset_destroy(d);
}

/* Opened with RLKD_VERIFY_DECODE the workers only read the files; with
 * the header checked only, they read each JPEG through with libjpeg too. */
static void jpegs_within_tolerance(void)
{
    const setting settings[] = {{1, 0, 4, 32, 36}, {0, 1, 4, 32, 36},
                                {1, 2, 6, 224, 256}, {0, 0, 6, 224, 256}};
    const rlkd_verify verify[] = {RLKD_VERIFY_DECODE, RLKD_VERIFY_HEADER};
    for (int v = 0; v < 2; v++) {
        rlkd_dataset *d = open_set("jpeg", RLKD_BAD_FILES_FAIL, verify[v]);
        for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
            compare_paths(v ? "JPEG, header verified" : "JPEG, decode verified",
                          d, 0, settings[i]);
        rlkd_dataset_destroy(d);
    }
}

static void same_batches_on_any_workers(void)
{
    rlkd_dataset *d = open_set("jpeg", RLKD_BAD_FILES_FAIL, RLKD_VERIFY_DECODE);
    setting s = {1, 0, 4, 48, 56};
    epochs base = load(gpu, d, RLKD_DEVICE_CUDA, s);
    for (int workers = 1; workers <= 2; workers++) {
        s.workers = workers;
        epochs other = load(gpu, d, RLKD_DEVICE_CUDA, s);
        CHECK_MSG(base.value_count == other.value_count &&
                      memcmp(base.values, other.values,
                             base.value_count * sizeof *base.values) == 0 &&
                      memcmp(base.labels, other.labels,
                             base.label_count * sizeof *base.labels) == 0,
                  "%d workers differ from 0 on the GPU path", workers);
        free_epochs(&other);
    }
    free_epochs(&base);
    rlkd_dataset_destroy(d);
}

/* Opened without verifying: the cut JPEG and the text file are found by
 * the loader, failed (FAIL: the same batches fail with the same messages)
 * or replaced by the next good file (SKIP) on both paths. */
static void bad_files_alike(void)
{
    const rlkd_bad_files kinds[] = {RLKD_BAD_FILES_FAIL, RLKD_BAD_FILES_SKIP};
    for (int k = 0; k < 2; k++)
        for (int workers = 0; workers <= 2; workers += 2) {
            rlkd_dataset *d = open_set("bad", kinds[k], RLKD_VERIFY_NONE);
            setting s = {0, workers, 1, 24, 28};
            epochs cpu = load(test_ctx, d, RLKD_DEVICE_CPU, s);
            epochs on_gpu = load(gpu, d, RLKD_DEVICE_CUDA, s);
            char what[64];
            snprintf(what, sizeof what, "bad files, %s, workers %d",
                     kinds[k] == RLKD_BAD_FILES_FAIL ? "FAIL" : "SKIP", workers);
            compare(what, &cpu, &on_gpu, 0, s.crop);
            CHECK_MSG(cpu.failures == (kinds[k] == RLKD_BAD_FILES_FAIL ? 4 : 0),
                      "%s: %d failed batches", what, cpu.failures);
            free_epochs(&cpu);
            free_epochs(&on_gpu);
            rlkd_dataset_destroy(d);
        }
}

/* decode_device CPU on a CUDA context: decoded on the host and uploaded,
 * the CPU context's values. */
static void host_decoding_on_a_gpu_context(void)
{
    rlkd_dataset *d = open_set("jpeg", RLKD_BAD_FILES_FAIL, RLKD_VERIFY_DECODE);
    setting s = {1, 1, 4, 32, 36};
    epochs cpu = load(test_ctx, d, RLKD_DEVICE_CPU, s);
    epochs uploaded = load(gpu, d, RLKD_DEVICE_CPU, s);
    compare("JPEG decoded on the host, CUDA context", &cpu, &uploaded, 1, s.crop);
    free_epochs(&cpu);
    free_epochs(&uploaded);
    rlkd_dataset_destroy(d);
}

int main(void)
{
    test_main_begin();
    if (!(rlkd_build_features() & RLKD_FEATURE_NVJPEG)) {
        printf("SKIP gpu/image_decode: rlkd was built without nvJPEG (CUDA "
               "toolkit's, or NVJPEG_HOME: see the Makefile)\n");
        test_main_end();
        return 77;
    }
    rlkd_status status = rlkd_context_create(&gpu, RLKD_DEVICE_CUDA, 0);
    if (status != RLKD_OK) {
        printf("SKIP gpu/image_decode: no CUDA context (%s: %s)\n",
               rlkd_status_string(status), rlkd_last_error());
        test_main_end();
        return 77;
    }
    make_files();
    test_run("gpu/image_decode/host_decoded_images_bit_for_bit",
             host_decoded_images_bit_for_bit);
    test_run("gpu/image_decode/jpegs_within_tolerance", jpegs_within_tolerance);
    test_run("gpu/image_decode/same_batches_on_any_workers",
             same_batches_on_any_workers);
    test_run("gpu/image_decode/bad_files_alike", bad_files_alike);
    test_run("gpu/image_decode/host_decoding_on_a_gpu_context",
             host_decoding_on_a_gpu_context);
    remove_made();
    rlkd_context_destroy(gpu);
    test_main_end();
    return test_finish();
}
