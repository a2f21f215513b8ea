/*
 * Loaders: batch shapes and counts, every image once per epoch, order and
 * augmentation a pure function of (seed, epoch), resuming mid-epoch, exact
 * normalisation, crops as shifted zero-padded images, flips as mirrors,
 * the same batches on 1 and 2 threads, and bad options.
 */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A data set of `count` images [channels, height, width], pixel bytes a
 * function of (image, position), label = image % classes. */
static uint8_t pixel_of(int64_t image, int64_t offset)
{
    return (uint8_t)(image * 29 + offset * 13 + offset / 7);
}

static rlkd_dataset *make_dataset(int64_t count, int channels, int height,
                                  int width, int classes)
{
    rlkd_dataset *d;
    test_must(rlkd_dataset_create(count, channels, height, width, classes, &d),
              "rlkd_dataset_create");
    size_t bytes = (size_t)channels * height * width;
    uint8_t *pixels = malloc(bytes);
    if (!pixels)
        test_fatal("malloc");
    for (int64_t i = 0; i < count; i++) {
        for (size_t p = 0; p < bytes; p++)
            pixels[p] = pixel_of(i, (int64_t)p);
        test_must(rlkd_dataset_set_item(d, i, pixels, (int32_t)(i % classes)),
                  "rlkd_dataset_set_item");
    }
    free(pixels);
    return d;
}

static rlkd_loader *make_loader(const rlkd_dataset *d,
                                const rlkd_loader_options *options)
{
    rlkd_loader *loader;
    test_must(rlkd_loader_create(test_ctx, d, options, &loader),
              "rlkd_loader_create");
    return loader;
}

/* One batch copied to the host. */
typedef struct batch {
    int64_t n;
    float *images;
    int32_t *labels;
} batch;

static batch next_batch(rlkd_loader *loader)
{
    batch b = {0, NULL, NULL};
    rlkd_tensor *images = NULL, *labels = NULL;
    if (!CHECK_OK(rlkd_loader_next(loader, &images, &labels)) || !images)
        return b;
    b.n = rlkd_tensor_dim(labels, 0);
    int64_t numel = rlkd_tensor_numel(images);
    b.images = malloc((size_t)numel * sizeof(float));
    b.labels = malloc((size_t)b.n * sizeof(int32_t));
    if (!b.images || !b.labels)
        test_fatal("malloc");
    CHECK_OK(rlkd_tensor_read(images, b.images, (size_t)numel));
    CHECK_OK(rlkd_tensor_read_i32(labels, b.labels, (size_t)b.n));
    return b;
}

static void free_batch(batch *b)
{
    free(b->images);
    free(b->labels);
}

static int same_batch(const batch *a, const batch *b, size_t image_values)
{
    return a->n == b->n && a->n > 0 &&
           memcmp(a->images, b->images, (size_t)a->n * image_values *
                                             sizeof(float)) == 0 &&
           memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t)) == 0;
}

/* Every batch of `epoch`, from its start. */
static batch *epoch_batches(rlkd_loader *loader, int64_t epoch, int64_t *count)
{
    CHECK_OK(rlkd_loader_batch_count(loader, count));
    CHECK_OK(rlkd_loader_start_epoch(loader, epoch, 0));
    batch *batches = calloc((size_t)*count, sizeof *batches);
    if (!batches)
        test_fatal("calloc");
    for (int64_t k = 0; k < *count; k++)
        batches[k] = next_batch(loader);
    return batches;
}

static void free_batches(batch *batches, int64_t count)
{
    for (int64_t k = 0; k < count; k++)
        free_batch(&batches[k]);
    free(batches);
}

/* ---- shapes, counts, coverage ---- */

static void check_shape(const rlkd_tensor *t, int ndim, const int64_t *want)
{
    int64_t shape[4] = {0};
    CHECK(rlkd_tensor_ndim(t) == ndim);
    CHECK_OK(rlkd_tensor_shape(t, shape, 4));
    for (int d = 0; d < ndim; d++)
        CHECK_MSG(shape[d] == want[d], "dimension %d is %lld, expected %lld",
                  d, (long long)shape[d], (long long)want[d]);
}

static void test_shapes_and_counts(void)
{
    rlkd_dataset *d = make_dataset(10, 3, 4, 5, 10);
    for (int drop_last = 0; drop_last <= 1; drop_last++) {
        rlkd_loader_options options;
        rlkd_loader_options_init(&options);
        options.batch_size = 4;
        options.drop_last = drop_last;
        rlkd_loader *loader = make_loader(d, &options);
        int64_t count = -1;
        CHECK_OK(rlkd_loader_batch_count(loader, &count));
        CHECK_MSG(count == (drop_last ? 2 : 3), "drop_last %d: %lld batches",
                  drop_last, (long long)count);
        /* twice: the second epoch starts where start_epoch puts it */
        for (int epoch = 0; epoch < 2; epoch++) {
            if (epoch)
                CHECK_OK(rlkd_loader_start_epoch(loader, epoch, 0));
            for (int64_t k = 0; k < count; k++) {
                rlkd_tensor *images = NULL, *labels = NULL;
                CHECK_OK(rlkd_loader_next(loader, &images, &labels));
                int64_t n = k < 2 ? 4 : 2;
                const int64_t image_shape[4] = {n, 3, 4, 5};
                CHECK(images && labels);
                if (!images || !labels)
                    break;
                check_shape(images, 4, image_shape);
                check_shape(labels, 1, &n);
                CHECK(rlkd_tensor_dtype(images) == RLKD_DTYPE_F32);
                CHECK(rlkd_tensor_dtype(labels) == RLKD_DTYPE_I32);
                CHECK(rlkd_tensor_context(images) == test_ctx);
            }
            for (int again = 0; again < 2; again++) {
                rlkd_tensor *images = (rlkd_tensor *)&images, *labels = NULL;
                CHECK_OK(rlkd_loader_next(loader, &images, &labels));
                CHECK_MSG(images == NULL && labels == NULL,
                          "a batch after the end of the epoch");
            }
        }
        rlkd_loader_destroy(loader);
    }
    /* fewer images than a batch: one smaller batch */
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = 64;
    rlkd_loader *loader = make_loader(d, &options);
    int64_t count = 0;
    batch *batches = epoch_batches(loader, 0, &count);
    CHECK(count == 1 && batches[0].n == 10);
    free_batches(batches, count);
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(d);
}

/* The labels of an epoch are the image indices (label = index here). */
static void check_epoch_covers(rlkd_loader *loader, int64_t epoch,
                               int64_t images, int *identity)
{
    int64_t count;
    batch *batches = epoch_batches(loader, epoch, &count);
    int *seen = calloc((size_t)images, sizeof *seen);
    if (!seen)
        test_fatal("calloc");
    int64_t position = 0, in_order = 1;
    for (int64_t k = 0; k < count; k++)
        for (int64_t i = 0; i < batches[k].n; i++, position++) {
            int32_t label = batches[k].labels[i];
            if (CHECK(label >= 0 && label < images))
                seen[label]++;
            in_order &= label == position;
        }
    int once = position == images;
    for (int64_t i = 0; i < images; i++)
        once &= seen[i] == 1;
    CHECK_MSG(once, "epoch %lld does not hold every image once",
              (long long)epoch);
    *identity = (int)in_order;
    free(seen);
    free_batches(batches, count);
}

static void test_every_image_once(void)
{
    enum { COUNT = 37 };
    rlkd_dataset *d = make_dataset(COUNT, 1, 2, 2, COUNT);
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = 5;
    options.seed = 9;
    options.crop_padding = 1;
    options.horizontal_flip = 1;
    rlkd_loader *loader = make_loader(d, &options);
    int identity;
    for (int64_t epoch = 0; epoch < 3; epoch++) {
        check_epoch_covers(loader, epoch, COUNT, &identity);
        CHECK_MSG(!identity, "epoch %lld is not shuffled", (long long)epoch);
    }
    rlkd_loader_destroy(loader);
    options.shuffle = 0;
    loader = make_loader(d, &options);
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        check_epoch_covers(loader, epoch, COUNT, &identity);
        CHECK_MSG(identity, "without shuffle, epoch %lld is not in order",
                  (long long)epoch);
    }
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(d);
}

/* ---- determinism and resuming ---- */

static void test_deterministic(void)
{
    rlkd_dataset *d = make_dataset(50, 3, 6, 6, 50);
    const size_t image_values = 3 * 6 * 6;
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = 8;
    options.seed = 77;
    options.crop_padding = 2;
    options.horizontal_flip = 1;
    rlkd_loader *first = make_loader(d, &options);
    rlkd_loader *second = make_loader(d, &options);
    int64_t count;
    /* the second loader runs other epochs first: an epoch does not depend
     * on what came before it */
    batch *other = epoch_batches(second, 5, &count);
    free_batches(other, count);
    batch *a = epoch_batches(first, 3, &count);
    batch *b = epoch_batches(second, 3, &count);
    batch *again = epoch_batches(first, 3, &count);
    batch *next_epoch = epoch_batches(first, 4, &count);
    int same = 1, repeated = 1, differs = 0;
    for (int64_t k = 0; k < count; k++) {
        same &= same_batch(&a[k], &b[k], image_values);
        repeated &= same_batch(&a[k], &again[k], image_values);
        differs |= memcmp(a[k].labels, next_epoch[k].labels,
                          (size_t)a[k].n * sizeof(int32_t)) != 0;
    }
    CHECK_MSG(same, "two loaders with one seed differ in epoch 3");
    CHECK_MSG(repeated, "epoch 3 read twice differs");
    CHECK_MSG(differs, "epochs 3 and 4 have the same order");
    free_batches(a, count);
    free_batches(b, count);
    free_batches(again, count);
    free_batches(next_epoch, count);
    rlkd_loader_destroy(second);

    /* another seed: another order */
    options.seed = 78;
    second = make_loader(d, &options);
    a = epoch_batches(first, 0, &count);
    b = epoch_batches(second, 0, &count);
    differs = 0;
    for (int64_t k = 0; k < count; k++)
        differs |= memcmp(a[k].labels, b[k].labels,
                          (size_t)a[k].n * sizeof(int32_t)) != 0;
    CHECK_MSG(differs, "seeds 77 and 78 give the same order");
    free_batches(a, count);
    free_batches(b, count);
    rlkd_loader_destroy(first);
    rlkd_loader_destroy(second);

    /* An image's augmentation depends on the epoch and on the image, not
     * on its place in the order: unshuffled, each image of epoch 3 looks as
     * it does shuffled, and epoch 4 augments it differently. */
    options.seed = 77;
    options.shuffle = 0;
    rlkd_loader *in_order = make_loader(d, &options);
    options.shuffle = 1;
    rlkd_loader *shuffled = make_loader(d, &options);
    a = epoch_batches(in_order, 3, &count);
    b = epoch_batches(shuffled, 3, &count);
    next_epoch = epoch_batches(in_order, 4, &count);
    const size_t image_size = image_values * sizeof(float);
    int same_image = 1, changed = 0;
    for (int64_t k = 0; k < count; k++)
        for (int64_t i = 0; i < b[k].n; i++) {
            int32_t image = b[k].labels[i]; /* label = image index */
            const float *unshuffled =
                a[image / 8].images + (size_t)(image % 8) * image_values;
            same_image &= memcmp(b[k].images + (size_t)i * image_values,
                                 unshuffled, image_size) == 0;
            changed += memcmp(a[k].images + (size_t)i * image_values,
                              next_epoch[k].images + (size_t)i * image_values,
                              image_size) != 0;
        }
    CHECK_MSG(same_image, "an image's augmentation depends on its position");
    CHECK_MSG(changed > 25, "only %d of 50 images augmented differently in "
                            "epochs 3 and 4", changed);
    free_batches(a, count);
    free_batches(b, count);
    free_batches(next_epoch, count);
    rlkd_loader_destroy(in_order);
    rlkd_loader_destroy(shuffled);
    rlkd_dataset_destroy(d);
}

static void test_resume(void)
{
    rlkd_dataset *d = make_dataset(45, 2, 5, 5, 45);
    const size_t image_values = 2 * 5 * 5;
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = 7;
    options.seed = 5;
    options.crop_padding = 1;
    options.horizontal_flip = 1;
    rlkd_loader *whole = make_loader(d, &options);
    int64_t count;
    batch *reference = epoch_batches(whole, 2, &count);
    CHECK(count == 7 && reference[6].n == 3);
    for (int64_t k = 0; k <= count; k++) {
        rlkd_loader *resumed = make_loader(d, &options);
        CHECK_OK(rlkd_loader_start_epoch(resumed, 2, k));
        for (int64_t j = k; j < count; j++) {
            batch b = next_batch(resumed);
            CHECK_MSG(same_batch(&b, &reference[j], image_values),
                      "start_epoch(2, %lld): batch %lld differs", (long long)k,
                      (long long)j);
            free_batch(&b);
        }
        rlkd_tensor *images = NULL, *labels = NULL;
        CHECK_OK(rlkd_loader_next(resumed, &images, &labels));
        CHECK(images == NULL && labels == NULL);
        rlkd_loader_destroy(resumed);
    }
    free_batches(reference, count);
    rlkd_loader_destroy(whole);
    rlkd_dataset_destroy(d);
}

/* ---- values ---- */

static void test_normalisation(void)
{
    rlkd_dataset *d = make_dataset(6, 3, 4, 4, 6);
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = 6;
    options.shuffle = 0;
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f};
    const float std[3] = {0.247f, 0.243f, 0.261f};
    for (int c = 0; c < 3; c++) {
        options.mean[c] = mean[c];
        options.std[c] = std[c];
    }
    rlkd_loader *loader = make_loader(d, &options);
    batch b = next_batch(loader);
    int wrong = 0;
    for (int64_t i = 0; i < b.n; i++) {
        wrong += b.labels[i] != i;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 16; p++) {
                float scaled = (float)pixel_of(i, c * 16 + p) / 255.0f;
                float want = (scaled - mean[c]) / std[c];
                float got = b.images[(i * 3 + c) * 16 + p];
                wrong += memcmp(&got, &want, sizeof got) != 0;
            }
    }
    CHECK_MSG(b.n == 6 && wrong == 0, "%d values differ from (p/255 - mean)/std",
              wrong);
    free_batch(&b);
    rlkd_loader_destroy(loader);
    /* defaults: pixel / 255; more than 4 channels work unnormalised */
    rlkd_dataset *wide = make_dataset(2, 6, 2, 2, 2);
    rlkd_loader_options_init(&options);
    options.shuffle = 0;
    loader = make_loader(wide, &options);
    b = next_batch(loader);
    wrong = 0;
    for (int64_t i = 0; i < b.n; i++)
        for (int p = 0; p < 24; p++)
            wrong += b.images[i * 24 + p] != (float)pixel_of(i, p) / 255.0f;
    CHECK_MSG(b.n == 2 && wrong == 0, "%d values differ from p/255", wrong);
    free_batch(&b);
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(wide);
    rlkd_dataset_destroy(d);
}

enum { AUG_COUNT = 200, SIDE = 3, PAD = 1, SHIFTS = 2 * PAD + 1 };

/* The 3x3 image 1..9 (as pixel bytes) zero-padded by 1 and cut at (dy, dx),
 * then mirrored when `flip`, scaled by 1/255. */
static void shifted(int dy, int dx, int flip, float *out)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int sy = y + dy - PAD, sx = (flip ? SIDE - 1 - x : x) + dx - PAD;
            int inside = sy >= 0 && sy < SIDE && sx >= 0 && sx < SIDE;
            out[y * SIDE + x] = inside ? (float)(sy * SIDE + sx + 1) / 255.0f
                                       : 0.0f;
        }
}

/* The same 3x3 image AUG_COUNT times, augmented: counts how often each
 * (dy, dx, flip) matched; returns the images matching none. */
static int count_augmentations(int crop, int flip,
                               int counts[SHIFTS][SHIFTS][2])
{
    rlkd_dataset *d;
    test_must(rlkd_dataset_create(AUG_COUNT, 1, SIDE, SIDE, 1, &d), "create");
    const uint8_t image[SIDE * SIDE] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (int i = 0; i < AUG_COUNT; i++)
        test_must(rlkd_dataset_set_item(d, i, image, 0), "set_item");
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = AUG_COUNT;
    options.seed = 3;
    options.crop_padding = crop ? PAD : 0;
    options.horizontal_flip = flip;
    rlkd_loader *loader = make_loader(d, &options);
    batch b = next_batch(loader);
    memset(counts, 0, sizeof(int) * SHIFTS * SHIFTS * 2);
    int unmatched = 0;
    for (int64_t i = 0; i < b.n; i++) {
        int matched = 0;
        for (int dy = 0; dy < SHIFTS && !matched; dy++)
            for (int dx = 0; dx < SHIFTS && !matched; dx++)
                for (int f = 0; f < 2 && !matched; f++) {
                    float want[SIDE * SIDE];
                    shifted(dy, dx, f, want);
                    if (memcmp(want, b.images + i * SIDE * SIDE,
                               sizeof want) == 0) {
                        counts[dy][dx][f]++;
                        matched = 1;
                    }
                }
        unmatched += !matched;
    }
    CHECK(b.n == AUG_COUNT);
    free_batch(&b);
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(d);
    return unmatched;
}

static void test_crop_and_flip(void)
{
    /* the reference itself, by hand: offset (0,0) shows the padding at the
     * top and left, (2,2) at the bottom and right, and a flip mirrors */
#define P(v) ((float)(v) / 255.0f)
    const float top_left[9] = {0, 0, 0, 0, P(1), P(2), 0, P(4), P(5)};
    const float bottom_right[9] = {P(5), P(6), 0, P(8), P(9), 0, 0, 0, 0};
    const float mirrored[9] = {P(3), P(2), P(1), P(6), P(5),
                               P(4), P(9), P(8), P(7)};
    const float top_left_mirrored[9] = {0, 0, 0, 0, P(3), P(2), 0, P(6), P(5)};
#undef P
    float got[9];
    shifted(0, 0, 0, got);
    CHECK(memcmp(got, top_left, sizeof got) == 0);
    shifted(2, 2, 0, got);
    CHECK(memcmp(got, bottom_right, sizeof got) == 0);
    shifted(1, 1, 1, got);
    CHECK(memcmp(got, mirrored, sizeof got) == 0);
    /* crop, then flip: the crop's window is mirrored */
    shifted(0, 2, 1, got);
    CHECK(memcmp(got, top_left_mirrored, sizeof got) == 0);

    int counts[SHIFTS][SHIFTS][2];
    /* crop only: every offset in [0, 2p]^2 occurs, never a flip */
    CHECK(count_augmentations(1, 0, counts) == 0);
    for (int dy = 0; dy < SHIFTS; dy++)
        for (int dx = 0; dx < SHIFTS; dx++)
            CHECK_MSG(counts[dy][dx][0] > 0 && counts[dy][dx][1] == 0,
                      "offset (%d,%d): %d plain, %d flipped", dy, dx,
                      counts[dy][dx][0], counts[dy][dx][1]);
    /* flip only: the image or its mirror, each about half the time */
    CHECK(count_augmentations(0, 1, counts) == 0);
    CHECK_MSG(counts[1][1][0] + counts[1][1][1] == AUG_COUNT &&
                  counts[1][1][1] > AUG_COUNT / 4 &&
                  counts[1][1][1] < 3 * AUG_COUNT / 4,
              "%d of %d images flipped", counts[1][1][1], AUG_COUNT);
    /* both */
    CHECK(count_augmentations(1, 1, counts) == 0);
    int flipped = 0, corners = 0;
    for (int dy = 0; dy < SHIFTS; dy++)
        for (int dx = 0; dx < SHIFTS; dx++) {
            flipped += counts[dy][dx][1];
            corners += (dy != 1 && dx != 1) ? counts[dy][dx][0] : 0;
        }
    CHECK(flipped > AUG_COUNT / 4 && flipped < 3 * AUG_COUNT / 4 && corners > 0);
    /* no augmentation: the image as it is */
    CHECK(count_augmentations(0, 0, counts) == 0 &&
          counts[1][1][0] == AUG_COUNT);
}

static void test_threads(void)
{
    rlkd_dataset *d = make_dataset(100, 3, 32, 32, 10);
    const size_t image_values = 3 * 32 * 32;
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = 64;
    options.seed = 11;
    options.crop_padding = 4;
    options.horizontal_flip = 1;
    options.mean[0] = 0.5f;
    options.std[2] = 0.25f;
    int threads;
    test_must(rlkd_context_get_num_threads(test_ctx, &threads),
              "get_num_threads");
    batch *runs[2];
    int64_t count = 0;
    for (int t = 0; t < 2; t++) {
        test_must(rlkd_context_set_num_threads(test_ctx, t + 1),
                  "set_num_threads");
        rlkd_loader *loader = make_loader(d, &options);
        runs[t] = epoch_batches(loader, 1, &count);
        rlkd_loader_destroy(loader);
    }
    test_must(rlkd_context_set_num_threads(test_ctx, threads),
              "set_num_threads");
    int same = 1;
    for (int64_t k = 0; k < count; k++)
        same &= same_batch(&runs[0][k], &runs[1][k], image_values);
    CHECK_MSG(count == 2 && same, "1 and 2 threads give different batches");
    free_batches(runs[0], count);
    free_batches(runs[1], count);
    rlkd_dataset_destroy(d);
}

/* ---- bad arguments ---- */

static void check_bad_options(const rlkd_dataset *d,
                              const rlkd_loader_options *options,
                              const char *needle)
{
    rlkd_loader *loader = (rlkd_loader *)&loader;
    CHECK_FAILS(rlkd_loader_create(test_ctx, d, options, &loader),
                RLKD_ERR_INVALID_ARGUMENT, needle);
    CHECK(loader == NULL);
}

static void test_bad_options(void)
{
    rlkd_dataset *d = make_dataset(10, 3, 4, 4, 10);
    rlkd_dataset *wide = make_dataset(2, 5, 2, 2, 2);
    rlkd_loader_options good, o;
    rlkd_loader_options_init(&good);
    good.batch_size = 4;
    rlkd_loader_options_init(NULL); /* allowed, does nothing */

    o = good;
    o.struct_size = 0;
    check_bad_options(d, &o, "options->struct_size is 0");
    o = good;
    o.batch_size = 0;
    check_bad_options(d, &o, "options->batch_size");
    o = good;
    o.crop_padding = -1;
    check_bad_options(d, &o, "options->crop_padding");
    o = good;
    o.std[2] = 0.0f;
    check_bad_options(d, &o, "options->std[2]");
    o = good;
    o.std[0] = -1.0f;
    check_bad_options(d, &o, "options->std[0]");
    o = good;
    o.std[1] = NAN;
    check_bad_options(d, &o, "options->std[1]");
    o = good;
    o.mean[3] = INFINITY;
    check_bad_options(d, &o, "options->mean[3]");
    o = good;
    o.batch_size = 11;
    o.drop_last = 1;
    check_bad_options(d, &o, "leaves no batch");
    o = good;
    o.mean[0] = 0.5f;
    check_bad_options(wide, &o, "mean and std cover 4 channels, the data set "
                                "has 5");
    rlkd_loader *loader = NULL;
    CHECK_OK(rlkd_loader_create(test_ctx, wide, &good, &loader));
    rlkd_loader_destroy(loader);

    loader = (rlkd_loader *)&loader;
    CHECK_FAILS(rlkd_loader_create(NULL, d, &good, &loader),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK(loader == NULL);
    CHECK_FAILS(rlkd_loader_create(test_ctx, NULL, &good, &loader),
                RLKD_ERR_INVALID_ARGUMENT, "dataset is NULL");
    CHECK_FAILS(rlkd_loader_create(test_ctx, d, NULL, &loader),
                RLKD_ERR_INVALID_ARGUMENT, "options is NULL");
    CHECK_FAILS(rlkd_loader_create(test_ctx, d, &good, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    rlkd_loader_destroy(NULL);

    loader = make_loader(d, &good);
    CHECK_FAILS(rlkd_loader_start_epoch(loader, -1, 0),
                RLKD_ERR_INVALID_ARGUMENT, "epoch -1");
    CHECK_FAILS(rlkd_loader_start_epoch(loader, 0, 4),
                RLKD_ERR_INVALID_ARGUMENT, "first_batch 4 is outside [0, 3]");
    CHECK_FAILS(rlkd_loader_start_epoch(loader, 0, -1),
                RLKD_ERR_INVALID_ARGUMENT, "first_batch -1");
    CHECK_OK(rlkd_loader_start_epoch(loader, 0, 3)); /* the epoch's end */
    CHECK_FAILS(rlkd_loader_start_epoch(NULL, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "loader is NULL");
    int64_t count;
    CHECK_FAILS(rlkd_loader_batch_count(loader, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "count is NULL");
    CHECK_FAILS(rlkd_loader_batch_count(NULL, &count),
                RLKD_ERR_INVALID_ARGUMENT, "loader is NULL");
    rlkd_tensor *images, *labels;
    CHECK_FAILS(rlkd_loader_next(loader, NULL, &labels),
                RLKD_ERR_INVALID_ARGUMENT, "images is NULL");
    CHECK_FAILS(rlkd_loader_next(loader, &images, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "labels is NULL");
    CHECK_FAILS(rlkd_loader_next(NULL, &images, &labels),
                RLKD_ERR_INVALID_ARGUMENT, "loader is NULL");
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(wide);
    rlkd_dataset_destroy(d);
}

int main(void)
{
    test_main_begin();
    test_run("shapes_and_counts", test_shapes_and_counts);
    test_run("every_image_once", test_every_image_once);
    test_run("deterministic", test_deterministic);
    test_run("resume", test_resume);
    test_run("normalisation", test_normalisation);
    test_run("crop_and_flip", test_crop_and_flip);
    test_run("threads", test_threads);
    test_run("bad_options", test_bad_options);
    test_main_end();
    return test_finish();
}
