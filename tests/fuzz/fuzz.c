/*
 * The fuzz targets' shared helpers (fuzz.h). Set-up failures abort: in a
 * fuzz target nothing after them could run, and libFuzzer reports the
 * abort with the input.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include "fuzz.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* ---- files ---- */

static char scratch[FUZZ_PATH_BYTES - 64];

static int remove_entry(const char *path, const struct stat *info, int flag,
                        struct FTW *walk)
{
    (void)info;
    (void)flag;
    (void)walk;
    remove(path);
    return 0;
}

static void remove_scratch(void)
{
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *scratch_dir(void)
{
    if (scratch[0])
        return scratch;
    struct stat info;
    const char *base = getenv("TMPDIR");
    if (stat("/dev/shm", &info) == 0 && S_ISDIR(info.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    else if (!base || !*base)
        base = "/tmp";
    snprintf(scratch, sizeof scratch, "%s/rlkd-fuzz-XXXXXX", base);
    if (!mkdtemp(scratch))
        fuzz_abort("cannot make a scratch directory in %s: %s", base,
                   strerror(errno));
    atexit(remove_scratch);
    return scratch;
}

void fuzz_path(char path[FUZZ_PATH_BYTES], const char *name)
{
    snprintf(path, FUZZ_PATH_BYTES, "%s/%s", scratch_dir(), name);
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size > 0 && fwrite(data, 1, size, f) != size) ||
        fclose(f) != 0)
        fuzz_abort("cannot write %s", path);
}

uint8_t *fuzz_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long length = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        length = ftell(f);
    uint8_t *data = length >= 0 ? malloc((size_t)length + 1) : NULL;
    if (!data || fseek(f, 0, SEEK_SET) != 0 ||
        fread(data, 1, (size_t)length, f) != (size_t)length)
        fuzz_abort("cannot read %s", path);
    fclose(f);
    *size = (size_t)length;
    return data;
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        fuzz_abort("out of memory");
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

uint32_t fuzz_u32(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    return (uint32_t)data[0] | (uint32_t)data[1] << 8 |
           (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
}

/* A sample of the test pattern: channel c of pixel (x, y), of `bits`. */
static unsigned pattern(int x, int y, int c, int bits)
{
    return (unsigned)(x * 7 + y * 13 + c * 29) & ((1u << bits) - 1);
}

void fuzz_write_png(const char *path, int width, int height, int color_type,
                    int bit_depth, int interlaced)
{
    const int channels = color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                         : color_type == PNG_COLOR_TYPE_RGB       ? 3
                         : color_type == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                                                                  : 1;
    const size_t row_bytes =
        ((size_t)width * channels * bit_depth + 7) / 8;
    uint8_t *pixels = calloc((size_t)height, row_bytes);
    png_bytep *rows = malloc((size_t)height * sizeof *rows);
    FILE *f = fopen(path, "wb");
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!pixels || !rows || !f || !info)
        fuzz_abort("cannot start writing %s", path);
    if (setjmp(png_jmpbuf(png)))
        fuzz_abort("libpng cannot write %s", path);
    for (int y = 0; y < height; y++) {
        rows[y] = pixels + (size_t)y * row_bytes;
        for (int x = 0; x < width; x++)
            for (int c = 0; c < channels; c++) {
                const int bits = color_type == PNG_COLOR_TYPE_PALETTE &&
                                         bit_depth > 4 ? 4 : bit_depth;
                const unsigned v = pattern(x, y, c, bits);
                const size_t bit = ((size_t)x * channels + c) * bit_depth;
                if (bit_depth == 16) {
                    rows[y][bit / 8] = (uint8_t)(v >> 8);
                    rows[y][bit / 8 + 1] = (uint8_t)v;
                } else {
                    rows[y][bit / 8] |=
                        (uint8_t)(v << (8 - bit_depth - bit % 8));
                }
            }
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height,
                 bit_depth, color_type,
                 interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[16];
        for (int i = 0; i < 16; i++)
            palette[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i),
                                     (png_byte)(i * 5)};
        const int colours = bit_depth < 4 ? 1 << bit_depth : 16;
        png_set_PLTE(png, info, palette, colours);
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        fuzz_abort("cannot write %s", path);
    free(rows);
    free(pixels);
}

void fuzz_write_jpeg(const char *path, int width, int height,
                     int pixel_format, int subsampling, int flags)
{
    const int channels = tjPixelSize[pixel_format];
    uint8_t *pixels = malloc((size_t)width * height * channels);
    tjhandle encoder = tjInitCompress();
    if (!pixels || !encoder)
        fuzz_abort("cannot start writing %s", path);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < channels; c++)
                pixels[((size_t)y * width + x) * channels + c] =
                    (uint8_t)pattern(x, y, c, 8);
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    if (tjCompress2(encoder, pixels, width, 0, height, pixel_format, &jpeg,
                    &size, pixel_format == TJPF_GRAY ? TJSAMP_GRAY
                                                     : subsampling,
                    90, flags) != 0)
        fuzz_abort("TurboJPEG cannot write %s: %s", path,
                   tjGetErrorStr2(encoder));
    fuzz_write_file(path, jpeg, size);
    tjFree(jpeg);
    tjDestroy(encoder);
    free(pixels);
}

/* ---- checks ---- */

void fuzz_abort(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

void fuzz_expect(rlkd_status status, unsigned allowed, const char *call)
{
    if (status == RLKD_OK)
        return;
    if ((unsigned)status >= 32 || !(allowed & FUZZ_ALLOW(status)))
        fuzz_abort("%s failed with %s, which a bad file must not give: %s",
                   call, rlkd_status_string(status), rlkd_last_error());
    if (!rlkd_last_error()[0])
        fuzz_abort("%s failed with %s without a message", call,
                   rlkd_status_string(status));
}

/* ---- what files are loaded into ---- */

static rlkd_context *context;

static void destroy_context(void)
{
    rlkd_context_destroy(context);
}

rlkd_context *fuzz_context(void)
{
    if (context)
        return context;
    if (rlkd_context_create(&context, RLKD_DEVICE_CPU, 0) != RLKD_OK ||
        rlkd_context_set_num_threads(context, 1) != RLKD_OK ||
        rlkd_context_set_seed(context, 1) != RLKD_OK)
        fuzz_abort("cannot make a CPU context: %s", rlkd_last_error());
    atexit(destroy_context);
    return context;
}

static void must(rlkd_status status, const char *what)
{
    if (status != RLKD_OK)
        fuzz_abort("%s: %s", what, rlkd_last_error());
}

rlkd_net *fuzz_every_kind_net(void)
{
    rlkd_net *net;
    int stem, bn, relu, branch, sum, se, eca, cbam, cat, pool, avg, head, hbn,
        gap, drop;
    must(rlkd_net_create(fuzz_context(), 3, 8, 8, &net), "rlkd_net_create");
    must(rlkd_net_add_conv2d(net, &stem, "stem", 0, 8, 3, 1, 1, 1, 1, 0),
         "conv2d");
    must(rlkd_net_add_batchnorm2d(net, &bn, "stem_bn", stem, 1e-5f, 0.1f),
         "batchnorm2d");
    must(rlkd_net_add_relu(net, &relu, NULL, bn), "relu");
    must(rlkd_net_add_conv2d(net, &branch, "branch", relu, 8, 3, 1, 1, 1, 2,
                             1),
         "grouped conv2d");
    must(rlkd_net_add_add(net, &sum, NULL, relu, branch), "add");
    must(rlkd_net_add_se(net, &se, "se", sum, 4), "se");
    must(rlkd_net_add_eca(net, &eca, "eca", se, 0), "eca");
    must(rlkd_net_add_cbam(net, &cbam, "cbam", eca, 2, 3), "cbam");
    const int parts[2] = {sum, cbam};
    must(rlkd_net_add_concat(net, &cat, "cat", parts, 2), "concat");
    must(rlkd_net_add_maxpool2d(net, &pool, NULL, cat, 2, 2, 0), "maxpool2d");
    must(rlkd_net_add_avgpool2d(net, &avg, NULL, pool, 3, 1, 1, 0),
         "avgpool2d");
    must(rlkd_net_add_conv2d(net, &head, "head", avg, 8, 3, 1, 2, 2, 1, 1),
         "dilated conv2d");
    must(rlkd_net_add_batchnorm2d(net, &hbn, "head_bn", head, 1e-3f, 0.05f),
         "batchnorm2d");
    must(rlkd_net_add_global_avgpool(net, &gap, NULL, hbn), "global_avgpool");
    must(rlkd_net_add_dropout(net, &drop, NULL, gap, 0.25f), "dropout");
    must(rlkd_net_add_linear(net, NULL, "fc", drop, 5, 1), "linear");
    return net;
}

rlkd_net *fuzz_masked_net(void)
{
    rlkd_net *net;
    int a, abn, arelu, b, bbn, brelu, c, cbn, sum, se, d, drelu, dw, pool,
        cat, gap;
    must(rlkd_net_create(fuzz_context(), 3, 6, 6, &net), "rlkd_net_create");
    must(rlkd_net_add_conv2d(net, &a, "a", 0, 8, 3, 1, 1, 1, 1, 0), "conv2d");
    must(rlkd_net_add_batchnorm2d(net, &abn, "a_bn", a, 1e-5f, 0.1f),
         "batchnorm2d");
    must(rlkd_net_add_relu(net, &arelu, NULL, abn), "relu");
    must(rlkd_net_add_conv2d(net, &b, "b", arelu, 6, 3, 1, 1, 1, 1, 0),
         "conv2d");
    must(rlkd_net_add_batchnorm2d(net, &bbn, "b_bn", b, 1e-5f, 0.1f),
         "batchnorm2d");
    must(rlkd_net_add_relu(net, &brelu, NULL, bbn), "relu");
    must(rlkd_net_add_conv2d(net, &c, "c", brelu, 8, 1, 1, 0, 1, 1, 1),
         "conv2d");
    must(rlkd_net_add_batchnorm2d(net, &cbn, "c_bn", c, 1e-5f, 0.1f),
         "batchnorm2d");
    must(rlkd_net_add_add(net, &sum, NULL, arelu, cbn), "add");
    must(rlkd_net_add_se(net, &se, "se", sum, 2), "se");
    must(rlkd_net_add_conv2d(net, &d, "d", se, 4, 3, 2, 1, 1, 1, 1),
         "conv2d");
    must(rlkd_net_add_relu(net, &drelu, NULL, d), "relu");
    must(rlkd_net_add_conv2d(net, &dw, "dw", drelu, 4, 3, 1, 1, 1, 4, 0),
         "depthwise conv2d");
    must(rlkd_net_add_maxpool2d(net, &pool, NULL, se, 2, 2, 0), "maxpool2d");
    const int parts[2] = {dw, pool};
    must(rlkd_net_add_concat(net, &cat, "cat", parts, 2), "concat");
    must(rlkd_net_add_global_avgpool(net, &gap, NULL, cat), "global_avgpool");
    must(rlkd_net_add_linear(net, NULL, "fc", gap, 3, 1), "linear");
    int groups;
    must(rlkd_net_prune_group_count(net, &groups), "prune groups");
    for (int g = 0; g < groups; g++) {
        rlkd_prune_group group;
        rlkd_prune_group_init(&group);
        must(rlkd_net_prune_group(net, g, &group), "prune group");
        if (group.refusal)
            continue;
        must(rlkd_net_prune_set_prunable(net, g, 1), "prune set prunable");
        must(rlkd_net_prune_keep(net, g, (group.channels + 1) / 2,
                                 RLKD_PRUNE_L1),
             "prune keep");
    }
    return net;
}

/* The toy environment of the search target: layer i costs 100 MACs per
 * kept channel; the score peaks at keeping 0.9, 0.6, 0.3 of the layers. */
#define SEARCH_LAYERS 3

static rlkd_status toy_cost(void *user, const int *keep, int count,
                            int64_t *macs)
{
    (void)user;
    *macs = 0;
    for (int i = 0; i < count; i++)
        *macs += 100 * (int64_t)keep[i];
    return RLKD_OK;
}

static rlkd_status toy_score(void *user, const int *keep, const double *ratios,
                             int count, double *score, double *accuracy)
{
    (void)user;
    (void)keep;
    (void)accuracy;
    double error = 0.0;
    for (int i = 0; i < count; i++) {
        const double best = 0.9 - 0.3 * i;
        error += (ratios[i] - best) * (ratios[i] - best);
    }
    *score = 1.0 - error / 4.0;
    return RLKD_OK;
}

rlkd_search *fuzz_search_create(void)
{
    static const int channels[SEARCH_LAYERS] = {16, 8, 4};
    rlkd_search_layer layers[SEARCH_LAYERS];
    for (int i = 0; i < SEARCH_LAYERS; i++) {
        rlkd_search_layer_init(&layers[i]);
        layers[i].channels = channels[i];
        layers[i].in_channels = 8;
        layers[i].kernel = 3;
        layers[i].macs = 100 * (int64_t)channels[i];
        layers[i].params = layers[i].macs;
    }
    rlkd_search_options o;
    rlkd_search_options_init(&o);
    o.episodes = 12;
    o.warmup_episodes = 4;
    o.hidden1 = o.hidden2 = 8;
    o.buffer_size = 16;
    o.batch_size = 4;
    o.round_to = 2;
    o.macs_fraction = 0.6;
    o.seed = 7;
    rlkd_search *search;
    must(rlkd_search_create(layers, SEARCH_LAYERS, toy_cost, toy_score, NULL,
                            &o, &search),
         "rlkd_search_create");
    return search;
}

/* ---- trainer states ---- */

/* The network of the one trainer alive (the trainer does not own it). */
static rlkd_net *trainer_net;

rlkd_trainer *fuzz_trainer_create(void)
{
    if (trainer_net)
        fuzz_abort("fuzz_trainer_create: a trainer is alive already");
    trainer_net = fuzz_every_kind_net();
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    o.epochs = 3;
    rlkd_trainer *trainer;
    must(rlkd_trainer_create(trainer_net, NULL, &o, &trainer),
         "rlkd_trainer_create");
    return trainer;
}

rlkd_status fuzz_trainer_step(rlkd_trainer *trainer)
{
    static const int64_t image_shape[4] = {2, 3, 8, 8}, label_shape[1] = {2};
    static const int32_t labels[2] = {1, 4};
    rlkd_tensor *x, *y;
    must(rlkd_tensor_create(fuzz_context(), RLKD_DTYPE_F32, 4, image_shape,
                            &x),
         "rlkd_tensor_create");
    must(rlkd_tensor_create(fuzz_context(), RLKD_DTYPE_I32, 1, label_shape,
                            &y),
         "rlkd_tensor_create");
    must(rlkd_tensor_fill(x, 0.5f), "rlkd_tensor_fill");
    must(rlkd_tensor_write_i32(y, labels, 2), "rlkd_tensor_write_i32");
    int64_t epoch, step;
    must(rlkd_trainer_position(trainer, &epoch, &step),
         "rlkd_trainer_position");
    const rlkd_status status =
        rlkd_trainer_step(trainer, x, y, step + 2, NULL, NULL);
    rlkd_tensor_destroy(x);
    rlkd_tensor_destroy(y);
    return status;
}

void fuzz_trainer_destroy(rlkd_trainer *trainer)
{
    rlkd_trainer_destroy(trainer);
    rlkd_net_destroy(trainer_net);
    trainer_net = NULL;
}

/* ---- checkpoints rewritten ---- */

void fuzz_checkpoint_of(const rlkd_net *net, fuzz_checkpoint *out)
{
    char path[FUZZ_PATH_BYTES];
    fuzz_path(path, "reference.safetensors");
    must(rlkd_net_save(net, path), "rlkd_net_save");
    size_t size;
    uint8_t *bytes = fuzz_read_file(path, &size);
    remove(path);
    uint64_t length = 0;
    if (size >= 8)
        memcpy(&length, bytes, 8);
    if (size < 8 || length > size - 8)
        fuzz_abort("rlkd_net_save wrote a file of %zu bytes", size);
    out->header = cJSON_ParseWithLength((const char *)bytes + 8,
                                        (size_t)length);
    out->data_size = size - 8 - (size_t)length;
    out->data = malloc(out->data_size + 1);
    if (!out->header || !out->data)
        fuzz_abort("cannot take rlkd_net_save's file apart");
    memcpy(out->data, bytes + 8 + length, out->data_size);
    free(bytes);
}

const char *fuzz_checkpoint_metadata(const fuzz_checkpoint *c, const char *key)
{
    const cJSON *metadata =
        cJSON_GetObjectItemCaseSensitive(c->header, "__metadata__");
    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(metadata, key));
}

void fuzz_checkpoint_write(const fuzz_checkpoint *c, const char *key,
                           const char *value, const char *path)
{
    cJSON *metadata =
        cJSON_GetObjectItemCaseSensitive(c->header, "__metadata__");
    cJSON *item = cJSON_CreateString(value);
    if (!item)
        fuzz_abort("out of memory");
    if (cJSON_HasObjectItem(metadata, key))
        cJSON_ReplaceItemInObjectCaseSensitive(metadata, key, item);
    else
        cJSON_AddItemToObject(metadata, key, item);
    char *json = cJSON_PrintUnformatted(c->header);
    if (!json)
        fuzz_abort("out of memory");
    /* The data starts 8-byte aligned, as rlkd_net_save writes it. */
    const size_t json_length = strlen(json);
    const uint64_t length = (json_length + 7) / 8 * 8;
    const size_t size = 8 + (size_t)length + c->data_size;
    uint8_t *bytes = malloc(size);
    if (!bytes)
        fuzz_abort("out of memory");
    memcpy(bytes, &length, 8);
    memcpy(bytes + 8, json, json_length);
    memset(bytes + 8 + json_length, ' ', (size_t)length - json_length);
    memcpy(bytes + 8 + length, c->data, c->data_size);
    fuzz_write_file(path, bytes, size);
    free(bytes);
    cJSON_free(json);
}

void fuzz_checkpoint_free(fuzz_checkpoint *c)
{
    cJSON_Delete(c->header);
    free(c->data);
    c->header = NULL;
    c->data = NULL;
}

/* ---- the rlkd command's exit ---- */

static jmp_buf *cli_return;
static int cli_code;

void fuzz_cli_exit(int code)
{
    if (!cli_return)
        fuzz_abort("exit(%d) outside fuzz_cli_call", code);
    cli_code = code;
    longjmp(*cli_return, 1);
}

int fuzz_cli_call(void (*body)(void *), void *arg)
{
    static FILE *discard;
    if (!discard && !(discard = fopen("/dev/null", "w")))
        fuzz_abort("cannot open /dev/null");
    /* glibc's stdout and stderr are plain variables: the command's messages
     * go nowhere, while the sanitizers still report on descriptor 2. */
    FILE *const out = stdout, *const err = stderr;
    stdout = stderr = discard;
    jmp_buf back;
    cli_return = &back;
    cli_code = 0;
    if (setjmp(back) == 0)
        body(arg);
    cli_return = NULL;
    stdout = out;
    stderr = err;
    return cli_code;
}
