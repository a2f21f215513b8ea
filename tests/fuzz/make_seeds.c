/*
 * Writes the fuzz targets' seed corpora: small valid files made by the
 * library itself (checkpoints, search states) or by the libraries rlkd
 * reads them with (PNG, JPEG, gzip), plus edge cases, in the input layout
 * of each target (see each fuzz_<name>.c). `make fuzz-seeds` runs it into
 * tests/fuzz/corpus/, where the seeds are committed.
 *
 *   make_seeds CORPUS_DIR
 */
#include "fuzz.h"

#include <cjson/cJSON.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <zlib.h>

static const char *corpus;

/* corpus/<target>/<name> holding an optional first byte, then the bytes. */
static void seed_with(const char *target, const char *name, int first,
                      const void *data, size_t size)
{
    char path[FUZZ_PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", corpus, target);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", corpus, target, name);
    uint8_t *bytes = malloc(size + 1);
    if (!bytes)
        fuzz_abort("out of memory");
    const size_t skip = first >= 0;
    if (skip)
        bytes[0] = (uint8_t)first;
    if (size > 0)
        memcpy(bytes + skip, data, size);
    fuzz_write_file(path, bytes, size + skip);
    free(bytes);
}

static void seed(const char *target, const char *name, const void *data,
                 size_t size)
{
    seed_with(target, name, -1, data, size);
}

static void seed_text(const char *target, const char *name, int first,
                      const char *text)
{
    seed_with(target, name, first, text, strlen(text));
}

/* A scratch file's bytes as a seed (then the file is removed). */
static void seed_file(const char *target, const char *name, int first,
                      const char *path)
{
    size_t size;
    uint8_t *data = fuzz_read_file(path, &size);
    seed_with(target, name, first, data, size);
    free(data);
    remove(path);
}

/* ---- checkpoints ---- */

static void seed_checkpoint(const char *name, const fuzz_checkpoint *c)
{
    char path[FUZZ_PATH_BYTES];
    fuzz_path(path, "seed.safetensors");
    fuzz_checkpoint_write(c, "format", "pt", path);
    seed_file("checkpoint", name, -1, path);
}

/* float32 to IEEE half, rounding toward zero (any half is a fine seed). */
static uint16_t to_half(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    const uint16_t sign = (uint16_t)(bits >> 16 & 0x8000u);
    const int exponent = (int)(bits >> 23 & 0xffu) - 127 + 15;
    if (exponent <= 0)
        return sign;
    if (exponent >= 31)
        return sign | 0x7c00u;
    return sign | (uint16_t)(exponent << 10) | (uint16_t)(bits >> 13 & 0x3ffu);
}

/* The checkpoint with its float tensors in turn as F32, F16, BF16 and F64
 * and its integer ones as I32 (the first one a scalar []) and I64. */
static void mixed_dtypes(const fuzz_checkpoint *in, fuzz_checkpoint *out)
{
    out->header = cJSON_Duplicate(in->header, 1);
    out->data = malloc(in->data_size * 2 + 1);
    out->data_size = 0;
    if (!out->header || !out->data)
        fuzz_abort("out of memory");
    int floats = 0, integers = 0;
    for (cJSON *e = out->header->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        cJSON *offsets = cJSON_GetObjectItem(e, "data_offsets");
        const size_t begin = (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
        const size_t end = (size_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
        const char *dtype = cJSON_GetObjectItem(e, "dtype")->valuestring;
        const uint8_t *src = in->data + begin;
        uint8_t *dst = out->data + out->data_size;
        const char *now;
        size_t bytes;
        if (strcmp(dtype, "F32") == 0) {
            static const char *const kinds[4] = {"F32", "F16", "BF16", "F64"};
            now = kinds[floats++ % 4];
            const size_t count = (end - begin) / 4;
            const size_t width = now[1] == '1' || now[0] == 'B' ? 2
                                 : now[1] == '6'                ? 8
                                                                : 4;
            for (size_t k = 0; k < count; k++) {
                float f;
                memcpy(&f, src + 4 * k, 4);
                uint32_t u;
                memcpy(&u, &f, 4);
                const uint16_t half = now[0] == 'B' ? (uint16_t)(u >> 16)
                                                     : to_half(f);
                const double d = f;
                memcpy(dst + width * k,
                       width == 2 ? (const void *)&half
                       : width == 8 ? (const void *)&d
                                    : (const void *)&f,
                       width);
            }
            bytes = count * width;
        } else {
            const int narrow = integers++ % 2 == 0;
            now = narrow ? "I32" : "I64";
            const size_t count = (end - begin) / 8;
            for (size_t k = 0; k < count; k++) {
                int64_t wide;
                memcpy(&wide, src + 8 * k, 8);
                const int32_t small = (int32_t)wide;
                memcpy(dst + (narrow ? 4 : 8) * k,
                       narrow ? (const void *)&small : (const void *)&wide,
                       narrow ? 4 : 8);
            }
            bytes = count * (narrow ? 4 : 8);
            if (integers == 1)
                cJSON_ReplaceItemInObject(e, "shape", cJSON_CreateArray());
        }
        cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString(now));
        const double range[2] = {(double)out->data_size,
                                 (double)(out->data_size + bytes)};
        cJSON_ReplaceItemInObject(e, "data_offsets",
                                  cJSON_CreateDoubleArray(range, 2));
        out->data_size += bytes;
    }
}

/* The checkpoint with a trainer's optimiser state after it (which network
 * loads pass over). */
static void with_optimizer_state(const fuzz_checkpoint *in,
                                 fuzz_checkpoint *out)
{
    static const float state[2] = {0.5f, -1.0f};
    out->header = cJSON_Duplicate(in->header, 1);
    out->data = malloc(in->data_size + sizeof state);
    out->data_size = in->data_size + sizeof state;
    cJSON *entry = cJSON_CreateObject();
    const double shape[1] = {2};
    const double range[2] = {(double)in->data_size,
                             (double)(in->data_size + sizeof state)};
    if (!out->header || !out->data || !entry)
        fuzz_abort("out of memory");
    memcpy(out->data, in->data, in->data_size);
    memcpy(out->data + in->data_size, state, sizeof state);
    cJSON_AddStringToObject(entry, "dtype", "F32");
    cJSON_AddItemToObject(entry, "shape", cJSON_CreateDoubleArray(shape, 1));
    cJSON_AddItemToObject(entry, "data_offsets",
                          cJSON_CreateDoubleArray(range, 2));
    cJSON_AddItemToObject(out->header, "optimizer_state.fc.weight.momentum",
                          entry);
}

/* A network without tensors: its file is a header alone. */
static rlkd_net *relu_only(void)
{
    rlkd_net *net;
    if (rlkd_net_create(fuzz_context(), 2, 3, 3, &net) != RLKD_OK ||
        rlkd_net_add_relu(net, NULL, NULL, 0) != RLKD_OK)
        fuzz_abort("relu network: %s", rlkd_last_error());
    return net;
}

static void seed_architecture(const char *name, rlkd_net *net)
{
    fuzz_checkpoint c;
    fuzz_checkpoint_of(net, &c);
    seed_text("architecture", name, -1,
              fuzz_checkpoint_metadata(&c, "rlkd_architecture"));
    fuzz_checkpoint_free(&c);
    rlkd_net_destroy(net);
}

static rlkd_net *zoo(const char *name)
{
    rlkd_net *net;
    if (rlkd_zoo_create(fuzz_context(), name, NULL, &net) != RLKD_OK)
        fuzz_abort("%s: %s", name, rlkd_last_error());
    return net;
}

/* Masks variants: the first group's mask alone, and every mask all ones. */
static void seed_masks(const char *masks)
{
    seed_text("masks", "half_kept.json", -1, masks);
    seed_text("masks", "empty.json", -1, "{}");
    cJSON *all = cJSON_Parse(masks);
    cJSON *first = cJSON_Duplicate(all, 0);
    if (!all || !first || !all->child)
        fuzz_abort("the masks are not a JSON object: %s", masks);
    cJSON_AddItemToObject(first, all->child->string,
                          cJSON_Duplicate(all->child, 0));
    for (cJSON *item = all->child; item; item = item->next)
        for (char *c = item->valuestring; *c; c++)
            *c = '1';
    char *text = cJSON_PrintUnformatted(all);
    seed_text("masks", "all_kept.json", -1, text);
    cJSON_free(text);
    text = cJSON_PrintUnformatted(first);
    seed_text("masks", "one_group.json", -1, text);
    cJSON_free(text);
    cJSON_Delete(first);
    cJSON_Delete(all);
}

static void seed_networks(void)
{
    rlkd_net *plain = fuzz_every_kind_net(), *masked = fuzz_masked_net();
    fuzz_checkpoint c, m, mixed, trainer;
    fuzz_checkpoint_of(plain, &c);
    fuzz_checkpoint_of(masked, &m);
    seed_checkpoint("every_kind.safetensors", &c);
    seed_checkpoint("masked.safetensors", &m);
    mixed_dtypes(&c, &mixed);
    seed_checkpoint("every_kind_mixed_dtypes.safetensors", &mixed);
    with_optimizer_state(&c, &trainer);
    seed_checkpoint("every_kind_optimizer_state.safetensors", &trainer);
    seed_masks(fuzz_checkpoint_metadata(&m, "rlkd_prune_masks"));
    fuzz_checkpoint_free(&c);
    fuzz_checkpoint_free(&m);
    fuzz_checkpoint_free(&mixed);
    fuzz_checkpoint_free(&trainer);

    rlkd_net *relu = relu_only();
    fuzz_checkpoint_of(relu, &c);
    seed_checkpoint("no_tensors.safetensors", &c);
    fuzz_checkpoint_free(&c);
    /* The smallest header: "{}" padded, no data. */
    static const uint8_t empty[16] = {8, 0, 0, 0, 0, 0, 0, 0,
                                      '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    seed("checkpoint", "empty_header.safetensors", empty, sizeof empty);

    seed_architecture("every_kind.json", plain);
    seed_architecture("relu_only.json", relu);
    seed_architecture("masked.json", masked);
    seed_architecture("vgg_small.json", zoo("vgg_small"));
    seed_architecture("resnet_small.json", zoo("resnet_small"));
    seed_architecture("densenet_small.json", zoo("densenet_small"));
}

/* ---- trainer states ---- */

/* The states of fuzz_trainer_create's trainer after 0, 1 and 3 steps. */
static void seed_trainers(void)
{
    static const int steps[3] = {0, 1, 3};
    char path[FUZZ_PATH_BYTES], name[32];
    fuzz_path(path, "seed.trainer");
    rlkd_trainer *trainer = fuzz_trainer_create();
    for (int i = 0, done = 0; i < 3; i++) {
        for (; done < steps[i]; done++)
            if (fuzz_trainer_step(trainer) != RLKD_OK)
                fuzz_abort("fuzz_trainer_step: %s", rlkd_last_error());
        if (rlkd_trainer_save(trainer, path) != RLKD_OK)
            fuzz_abort("rlkd_trainer_save: %s", rlkd_last_error());
        snprintf(name, sizeof name, "after_%d_steps.trainer", steps[i]);
        seed_file("trainer", name, -1, path);
    }
    fuzz_trainer_destroy(trainer);
}

/* ---- search states ---- */

static void seed_searches(void)
{
    static const int64_t episodes[] = {0, 3, 8, 12};
    rlkd_search *search = fuzz_search_create();
    char path[FUZZ_PATH_BYTES], name[64];
    fuzz_path(path, "seed.state");
    for (size_t i = 0; i < sizeof episodes / sizeof *episodes; i++) {
        if (episodes[i] > 0 &&
            rlkd_search_run(search, episodes[i]) != RLKD_OK)
            fuzz_abort("rlkd_search_run: %s", rlkd_last_error());
        if (rlkd_search_save(search, path) != RLKD_OK)
            fuzz_abort("rlkd_search_save: %s", rlkd_last_error());
        snprintf(name, sizeof name, "after_%lld_episodes.state",
                 (long long)episodes[i]);
        seed_file("search", name, -1, path);
    }
    rlkd_search_destroy(search);
}

/* ---- IDX and CIFAR ---- */

/* An IDX file of unsigned bytes: its dimensions, then `values` values. */
static size_t idx_file(uint8_t *out, const uint32_t *dims, int ndim,
                       size_t values, int seed)
{
    size_t n = 0;
    out[n++] = 0;
    out[n++] = 0;
    out[n++] = 0x08;
    out[n++] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++)
        for (int b = 3; b >= 0; b--)
            out[n++] = (uint8_t)(dims[d] >> (8 * b));
    for (size_t i = 0; i < values; i++)
        out[n++] = (uint8_t)((i * 37 + (size_t)seed) % (ndim == 1 ? 10 : 256));
    return n;
}

/* The bytes gzip-compressed (gzip as MNIST ships it). */
static size_t gzipped(const uint8_t *data, size_t size, uint8_t *out,
                      size_t capacity)
{
    char path[FUZZ_PATH_BYTES];
    fuzz_path(path, "seed.gz");
    gzFile f = gzopen(path, "wb9");
    if (!f || gzwrite(f, data, (unsigned)size) != (int)size ||
        gzclose(f) != Z_OK)
        fuzz_abort("cannot gzip %s", path);
    size_t got;
    uint8_t *bytes = fuzz_read_file(path, &got);
    remove(path);
    if (got > capacity)
        fuzz_abort("gzip made %zu bytes", got);
    memcpy(out, bytes, got);
    free(bytes);
    return got;
}

/* The input of the IDX target: the image file's length, it, the labels. */
static void seed_idx_pair(const char *name, const uint8_t *images,
                          size_t images_size, const uint8_t *labels,
                          size_t labels_size)
{
    uint8_t input[4096];
    const uint32_t length = (uint32_t)images_size;
    memcpy(input, &length, 4);
    memcpy(input + 4, images, images_size);
    memcpy(input + 4 + images_size, labels, labels_size);
    seed("idx", name, input, 4 + images_size + labels_size);
}

static void seed_idx(void)
{
    uint8_t images[512], labels[64], gz_images[1024], gz_labels[512];
    const uint32_t shape[3] = {3, 4, 5}, count[1] = {3};
    const size_t ni = idx_file(images, shape, 3, 60, 1);
    const size_t nl = idx_file(labels, count, 1, 3, 2);
    seed_idx_pair("three_4x5.idx", images, ni, labels, nl);
    const size_t gi = gzipped(images, ni, gz_images, sizeof gz_images);
    const size_t gl = gzipped(labels, nl, gz_labels, sizeof gz_labels);
    seed_idx_pair("three_4x5_gzip.idx", gz_images, gi, gz_labels, gl);
    seed_idx_pair("gzip_images_plain_labels.idx", gz_images, gi, labels, nl);
    const uint32_t one[3] = {1, 1, 1}, one_label[1] = {1};
    const size_t oi = idx_file(images, one, 3, 1, 3);
    const size_t ol = idx_file(labels, one_label, 1, 1, 4);
    seed_idx_pair("one_1x1.idx", images, oi, labels, ol);
}

static void seed_cifar(void)
{
    enum { IMAGE = 3072 };
    static uint8_t records[3 * (IMAGE + 2)];
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < IMAGE + 2; i++)
            records[r * (IMAGE + 2) + i] = (uint8_t)(i * 7 + r);
    /* CIFAR-10: 2 records of a label byte (9, 0) and 3072 pixel bytes. */
    uint8_t ten[2 * (IMAGE + 1)];
    for (int r = 0; r < 2; r++) {
        ten[r * (IMAGE + 1)] = (uint8_t)(9 * (1 - r));
        memcpy(ten + r * (IMAGE + 1) + 1, records, IMAGE);
    }
    seed_with("cifar", "cifar10_two.bin", 0, ten, sizeof ten);
    seed_with("cifar", "cifar10_twice.bin", 4, ten, IMAGE + 1);
    /* CIFAR-100: coarse and fine label bytes, then the pixels. */
    uint8_t hundred[IMAGE + 2];
    hundred[0] = 19;
    hundred[1] = 99;
    memcpy(hundred + 2, records, IMAGE);
    seed_with("cifar", "cifar100_fine.bin", 1, hundred, sizeof hundred);
    seed_with("cifar", "cifar100_coarse.bin", 3, hundred, sizeof hundred);
}

/* ---- images and lists ---- */

static void seed_png(const char *name, int width, int height, int color_type,
                     int bit_depth, int interlaced)
{
    char path[FUZZ_PATH_BYTES];
    fuzz_path(path, "seed.png");
    fuzz_write_png(path, width, height, color_type, bit_depth, interlaced);
    seed_file("decode", name, -1, path);
}

static void seed_jpeg(const char *name, int width, int height,
                      int pixel_format, int subsampling, int flags)
{
    char path[FUZZ_PATH_BYTES];
    fuzz_path(path, "seed.jpg");
    fuzz_write_jpeg(path, width, height, pixel_format, subsampling, flags);
    seed_file("decode", name, -1, path);
}

static void seed_images(void)
{
    seed_png("rgb8.png", 5, 3, PNG_COLOR_TYPE_RGB, 8, 0);
    seed_png("rgba16_interlaced.png", 9, 7, PNG_COLOR_TYPE_RGB_ALPHA, 16, 1);
    seed_png("gray1.png", 11, 2, PNG_COLOR_TYPE_GRAY, 1, 0);
    seed_png("gray_alpha8.png", 3, 4, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0);
    seed_png("palette4_interlaced.png", 6, 6, PNG_COLOR_TYPE_PALETTE, 4, 1);
    seed_png("palette8.png", 4, 1, PNG_COLOR_TYPE_PALETTE, 8, 0);
    seed_jpeg("rgb444.jpg", 8, 8, TJPF_RGB, TJSAMP_444, 0);
    seed_jpeg("rgb420_progressive.jpg", 17, 9, TJPF_RGB, TJSAMP_420,
              TJFLAG_PROGRESSIVE);
    seed_jpeg("gray.jpg", 5, 13, TJPF_GRAY, TJSAMP_GRAY, 0);
    seed_jpeg("cmyk.jpg", 8, 8, TJPF_CMYK, TJSAMP_444, 0);
    seed_text("decode", "not_an_image.txt", -1, "GIF89a");

    seed_text("list", "two.txt", 1, "a.png 0\nb c.jpg 1\n");
    seed_text("list", "blank_lines_crlf.txt", 2,
              "\r\n  a.png\t3\r\n\n\t\nb c.jpg 0  \r\n");
    seed_text("list", "missing_and_bad.txt", 1,
              "missing.png 2\nbad.png 0\na.png 1");
    seed_text("list", "fail_on_bad.txt", 5, "a.png 0\nbad.png 1\n");
    seed_text("list", "no_verify.txt", 0, "sub/x.jpeg 7\na.png 0\n");
}

/* ---- the rlkd command's files ---- */

static void seed_cli(void)
{
    /* The first byte picks the subcommand: 0 train, 3 search, 9 compress,
     * 11 plot (the CMD_ bits' order). */
    seed_text("config", "train.json", 0,
              "{\"model\": \"resnet_small\", \"epochs\": 3, \"lr\": 0.1, "
              "\"weight_decay\": 5e-4, \"optimizer\": \"adamw\", "
              "\"schedule\": \"step\", \"step-epochs\": 2, \"quiet\": true, "
              "\"device\": \"cpu\", \"mean\": \"0.5\", \"std\": \"0.25\"}");
    seed_text("config", "distill.json", 1,
              "{\"teacher\": \"t.safetensors\", \"kd-alpha\": 0.5, "
              "\"kd_temperature\": 2, \"at-beta\": 100, "
              "\"at-pairs\": \"3:5,7:11\", \"no-augment\": true}");
    seed_text("config", "search.json", 3,
              "{\"init\": \"s.safetensors\", \"method\": \"amc\", "
              "\"flops\": 0.5, \"episodes\": 20, \"warmup-episodes\": 5, "
              "\"round-to\": 4, \"lbound\": 0.1, \"reward-scaling\": 0}");
    seed_text("config", "flops.json", 7,
              "{\"input\": \"3,32,32\", \"classes\": 100, \"seed\": 9, "
              "\"threads\": 2, \"label\": \"x\"}");
    seed_text("config", "unknown_flag.json", 0, "{\"epoch\": 3}");
    seed_text("config", "not_an_object.json", 5, "[1, 2]");

    /* The first byte picks the file: 0 policy, 1 results, 2 episode log. */
    seed_text("plot", "policy.json", 0,
              "{\"macs_fraction\": 0.4, \"reward\": 0.91, \"layers\": ["
              "{\"name\": \"features.0\", \"channels\": 64, \"keep\": 32, "
              "\"ratio\": 0.5}, {\"name\": \"features.3\", \"channels\": 128, "
              "\"keep\": 128, \"ratio\": 1}]}");
    seed_text("plot", "results.jsonl", 1,
              "{\"method\": \"amc\", \"top1\": 0.9, \"flops\": 2.5e7}\n"
              "{\"method\": \"rlkd\", \"label\": \"<b>&\\\"x\", \"top1\": 0.92, "
              "\"flops\": 2.4e7}\n\n"
              "{\"method\": \"uniform\", \"top1\": 0.88, \"flops\": 2.5e7}\n");
    seed_text("plot", "search_log.jsonl", 2,
              "{\"episode\": 0, \"warmup\": true, \"reward\": 0.5, "
              "\"best_reward\": 0.5}\n"
              "{\"episode\": 1, \"warmup\": false, \"reward\": -1e300, "
              "\"best_reward\": 0.5}\n");
    seed_text("plot", "empty_policy.json", 0, "{\"layers\": []}");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    corpus = argv[1];
    mkdir(corpus, 0777);
    seed_networks();
    seed_trainers();
    seed_searches();
    seed_idx();
    seed_cifar();
    seed_images();
    seed_cli();
    return 0;
}
