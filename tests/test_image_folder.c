/*
 * File-backed data sets and their loader: an ImageFolder tree of real JPEG
 * (TurboJPEG) and PNG (libpng) files written here, with a truncated JPEG, a
 * text file named .jpg and an empty class folder; labels by sorted class
 * names, the bad-file report, exact PNG pixels (RGB and grey), JPEG pixels
 * within a tolerance, the evaluation transform against a plain reference,
 * RandomResizedCrop's windows, the same batches on 0, 1 and 4 workers,
 * FAIL and SKIP at load time, destroying and restarting mid-epoch with
 * workers running, the list file variant, and bad arguments.
 */
#include "testlib.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* Internal (the static library): RandomResizedCrop's window. */
#include "../lib/data/data_internal.h"

/* ---- files the test makes (removed at the end, deepest first) ---- */

#define MAX_MADE 64
static char made[MAX_MADE][TEST_PATH_BYTES];
static int made_count;

static const char *remember(const char *relative)
{
    if (made_count == MAX_MADE)
        test_fatal("too many test files");
    test_temp_path(made[made_count], relative);
    return made[made_count++];
}

static void make_folder(const char *relative)
{
    if (mkdir(remember(relative), 0755) != 0)
        test_fatal(relative);
}

static void write_bytes(const char *relative, const void *data, size_t size)
{
    FILE *f = fopen(remember(relative), "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        test_fatal(relative);
}

static void remove_made(void)
{
    while (made_count > 0) {
        const char *path = made[--made_count];
        if (unlink(path) != 0)
            rmdir(path);
    }
}

/* A smooth RGB image (JPEG keeps it well), HWC. */
static uint8_t *synthetic(int width, int height, int seed)
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
static uint8_t *noise(int width, int height, int channels, int seed)
{
    uint8_t *p = malloc((size_t)width * height * channels);
    if (!p)
        test_fatal("malloc");
    for (size_t i = 0; i < (size_t)width * height * channels; i++)
        p[i] = (uint8_t)((i * 2654435761u + (size_t)seed * 97) >> 7);
    return p;
}

static size_t jpeg_bytes(const uint8_t *rgb, int width, int height,
                         unsigned char **out)
{
    tjhandle h = tjInitCompress();
    unsigned long size = 0;
    *out = NULL;
    if (!h || tjCompress2(h, rgb, width, 0, height, TJPF_RGB, out, &size,
                          TJSAMP_444, 100, 0) != 0)
        test_fatal("tjCompress2");
    tjDestroy(h);
    return size;
}

static void write_jpeg(const char *relative, const uint8_t *rgb, int width,
                       int height)
{
    unsigned char *data;
    size_t size = jpeg_bytes(rgb, width, height, &data);
    write_bytes(relative, data, size);
    tjFree(data);
}

/* A JPEG cut after 60% of its bytes: the header is whole, the scan is not. */
static void write_truncated_jpeg(const char *relative)
{
    uint8_t *rgb = synthetic(48, 40, 3);
    unsigned char *data;
    size_t size = jpeg_bytes(rgb, 48, 40, &data);
    write_bytes(relative, data, size * 6 / 10);
    tjFree(data);
    free(rgb);
}

/* color_type PNG_COLOR_TYPE_RGB (3 bytes a pixel) or _GRAY (1). */
static void write_png(const char *relative, const uint8_t *pixels, int width,
                      int height, int color_type)
{
    const char *path = remember(relative);
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!f || !info || setjmp(png_jmpbuf(png)))
        test_fatal("png write");
    int channels = color_type == PNG_COLOR_TYPE_RGB ? 3 : 1;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * width * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

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

/* Pixels exactly (PNG RGB and grey) or nearly (JPEG) through the identity
 * transform: a 16 x 16 image resized to 16 and cropped to 16. */
static void test_decoded_pixels(void)
{
    make_folder("pixels");
    make_folder("pixels/only");
    const int side = 16;
    uint8_t *rgb = noise(side, side, 3, 5), *grey = noise(side, side, 1, 6);
    uint8_t *smooth = synthetic(side, side, 1);
    write_png("pixels/only/a.png", rgb, side, side, PNG_COLOR_TYPE_RGB);
    write_png("pixels/only/b.png", grey, side, side, PNG_COLOR_TYPE_GRAY);
    write_jpeg("pixels/only/c.jpg", smooth, side, side);
    char root[TEST_PATH_BYTES];
    test_temp_path(root, "pixels");
    rlkd_dataset *d;
    CHECK_OK(rlkd_dataset_open_folder(root, NULL, &d));
    rlkd_loader *l = make_loader(d, 3, 0, 0, 0, side, side);
    int64_t n;
    float *got = one_batch(l, &n);
    size_t plane = (size_t)side * side;
    int exact = 1;
    double worst_jpeg = 0;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            exact &= got[c * plane + p] == (float)rgb[p * 3 + c] / 255.0f;
            exact &= got[(3 + c) * plane + p] == (float)grey[p] / 255.0f;
            double e = fabs(got[(6 + c) * plane + p] * 255.0 - smooth[p * 3 + c]);
            worst_jpeg = e > worst_jpeg ? e : worst_jpeg;
        }
    CHECK_MSG(n == 3 * 3 * (int64_t)plane, "numel %lld", (long long)n);
    CHECK_MSG(exact, "PNG pixels (RGB, grey as RGB) differ from the file's");
    CHECK_MSG(worst_jpeg <= 6.0, "JPEG differs from its source by %g levels",
              worst_jpeg);
    free(got);
    free(rgb);
    free(grey);
    free(smooth);
    rlkd_loader_destroy(l);
    rlkd_dataset_destroy(d);
}

/* Python's round (half to even) of a non-negative x. */
static int round_half_even(double x)
{
    double f = floor(x);
    if (x - f > 0.5 || (x - f == 0.5 && fmod(f, 2.0) != 0.0))
        return (int)f + 1;
    return (int)f;
}

/* torch's bilinear resize (align_corners=False) of an HWC image, rounded. */
static uint8_t *reference_resize(const uint8_t *src, int h, int w, int oh,
                                 int ow)
{
    uint8_t *out = malloc((size_t)oh * ow * 3);
    if (!out)
        test_fatal("malloc");
    for (int y = 0; y < oh; y++) {
        double sy = fmax(0.0, (y + 0.5) * h / oh - 0.5);
        int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        double ly = sy - y0;
        for (int x = 0; x < ow; x++) {
            double sx = fmax(0.0, (x + 0.5) * w / ow - 0.5);
            int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            double lx = sx - x0;
            for (int c = 0; c < 3; c++) {
#define P(yy, xx) (double)src[((size_t)(yy) * w + (xx)) * 3 + c]
                double v = (1 - ly) * ((1 - lx) * P(y0, x0) + lx * P(y0, x1)) +
                           ly * ((1 - lx) * P(y1, x0) + lx * P(y1, x1));
#undef P
                out[((size_t)y * ow + x) * 3 + c] = (uint8_t)floor(v + 0.5);
            }
        }
    }
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
        CHECK_MSG(worse == 0 && off_by_one == 0,
                  "side %d: %d pixels off by one, %d by more", side,
                  off_by_one, worse);
        free(got);
        rlkd_loader_destroy(l);
    }
    free(grid);
    free(rgb);
    rlkd_dataset_destroy(d);
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
               {"workers", 9}};
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
        default: lo.workers = 100000; break;
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
    test_run("eval_transform", test_eval_transform);
    test_run("random_resized_crop_window", test_random_resized_crop_window);
    test_run("same_batches_on_any_workers", test_same_batches_on_any_workers);
    test_run("fail_and_skip_at_load_time", test_fail_and_skip_at_load_time);
    test_run("destroy_and_restart_mid_epoch", test_destroy_and_restart_mid_epoch);
    test_run("split_and_subset", test_split_and_subset);
    test_run("list_file", test_list_file);
    test_run("argument_errors", test_argument_errors);
    remove_made();
    test_main_end();
    return test_finish();
}
