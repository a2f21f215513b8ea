/*
 * Checkpoints (safetensors): save and load round trips, the file's bytes,
 * atomic saves, the dtypes a file may hold, and bad files, each refused
 * with its status and a message naming the problem, the network untouched.
 */
#include "testlib.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char good_path[TEST_PATH_BYTES]; /* a save of source_net */
static rlkd_net *source_net; /* random weights, trained statistics */

/* ---- networks ---- */

/* A network with every layer kind, two inputs to add and concat, and a node
 * read by two layers. */
static rlkd_net *build_every_kind(void)
{
    rlkd_net *net;
    int stem, bn, relu, branch, sum, se, eca, cbam, cat, pool, avg, head, hbn,
        gap, drop;
    test_must(rlkd_net_create(test_ctx, 3, 8, 8, &net), "rlkd_net_create");
    test_must(rlkd_net_add_conv2d(net, &stem, "stem", 0, 8, 3, 1, 1, 1, 1, 0),
              "conv2d");
    test_must(rlkd_net_add_batchnorm2d(net, &bn, "stem_bn", stem, 1e-5f, 0.1f),
              "batchnorm2d");
    test_must(rlkd_net_add_relu(net, &relu, NULL, bn), "relu");
    test_must(rlkd_net_add_conv2d(net, &branch, "branch", relu, 8, 3, 1, 1, 1, 2, 1),
              "grouped conv2d");
    test_must(rlkd_net_add_add(net, &sum, NULL, relu, branch), "add");
    test_must(rlkd_net_add_se(net, &se, "se", sum, 4), "se");
    test_must(rlkd_net_add_eca(net, &eca, "eca", se, 0), "eca");
    test_must(rlkd_net_add_cbam(net, &cbam, "cbam", eca, 2, 3), "cbam");
    const int parts[2] = {sum, cbam};
    test_must(rlkd_net_add_concat(net, &cat, "cat", parts, 2), "concat");
    test_must(rlkd_net_add_maxpool2d(net, &pool, NULL, cat, 2, 2, 0), "maxpool2d");
    test_must(rlkd_net_add_avgpool2d(net, &avg, NULL, pool, 3, 1, 1, 0),
              "avgpool2d");
    test_must(rlkd_net_add_conv2d(net, &head, "head", avg, 8, 3, 1, 2, 2, 1, 1),
              "dilated conv2d");
    test_must(rlkd_net_add_batchnorm2d(net, &hbn, "head_bn", head, 1e-3f, 0.05f),
              "batchnorm2d");
    test_must(rlkd_net_add_global_avgpool(net, &gap, NULL, hbn), "global_avgpool");
    test_must(rlkd_net_add_dropout(net, &drop, NULL, gap, 0.25f), "dropout");
    test_must(rlkd_net_add_linear(net, NULL, "fc", drop, 5, 1), "linear");
    return net;
}

static int tensor_total(const rlkd_net *net)
{
    int params, buffers;
    test_must(rlkd_net_param_count(net, &params), "rlkd_net_param_count");
    test_must(rlkd_net_buffer_count(net, &buffers), "rlkd_net_buffer_count");
    return params + buffers;
}

/* The i-th of the parameters then the buffers. */
static rlkd_tensor *tensor_at(const rlkd_net *net, int i, const char **name)
{
    int params;
    rlkd_tensor *t;
    test_must(rlkd_net_param_count(net, &params), "rlkd_net_param_count");
    if (i < params)
        test_must(rlkd_net_param(net, i, name, &t, NULL), "rlkd_net_param");
    else
        test_must(rlkd_net_buffer(net, i - params, name, &t), "rlkd_net_buffer");
    return t;
}

static int ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A fixed [2,3,8,8] input. */
static rlkd_tensor *fixed_input(void)
{
    float data[2 * 3 * 8 * 8];
    test_fill_uniform(data, sizeof data / sizeof data[0], -1.0f, 1.0f, 99);
    return t_from(data, 2, 3, 8, 8);
}

/* Random weights, then two training passes: the running statistics move and
 * num_batches_tracked reaches 2. */
static void randomise(rlkd_net *net)
{
    for (int i = 0; i < tensor_total(net); i++) {
        const char *name;
        rlkd_tensor *t = tensor_at(net, i, &name);
        if (rlkd_tensor_dtype(t) != RLKD_DTYPE_F32)
            continue;
        test_must(ends_with(name, "running_var")
                 ? rlkd_tensor_fill_uniform(t, 0.5f, 1.5f)
                 : rlkd_tensor_fill_normal(t, 0.0f, 0.5f),
                  "fill");
    }
    rlkd_tensor *input = t_new(2, 3, 8, 8);
    test_must(rlkd_tensor_fill_normal(input, 0.0f, 1.0f), "fill input");
    for (int pass = 0; pass < 2; pass++)
        test_must(rlkd_net_forward(net, input, 1, NULL), "training forward");
    rlkd_tensor_destroy(input);
}

/* ---- snapshots of every tensor's bytes ---- */

typedef struct snapshot {
    int count;
    const char **names;
    unsigned char **bytes;
    size_t *sizes;
} snapshot;

static unsigned char *tensor_bytes(const rlkd_tensor *t, size_t *size)
{
    const size_t numel = (size_t)rlkd_tensor_numel(t);
    unsigned char *bytes = malloc(numel * 4);
    if (!bytes)
        test_fatal("malloc");
    test_must(rlkd_tensor_dtype(t) == RLKD_DTYPE_F32
             ? rlkd_tensor_read(t, (float *)bytes, numel)
             : rlkd_tensor_read_i32(t, (int32_t *)bytes, numel),
              "read tensor");
    *size = numel * 4;
    return bytes;
}

static snapshot snapshot_take(const rlkd_net *net)
{
    snapshot s;
    s.count = tensor_total(net);
    s.names = calloc((size_t)s.count, sizeof *s.names);
    s.bytes = calloc((size_t)s.count, sizeof *s.bytes);
    s.sizes = calloc((size_t)s.count, sizeof *s.sizes);
    if (!s.names || !s.bytes || !s.sizes)
        test_fatal("calloc");
    for (int i = 0; i < s.count; i++)
        s.bytes[i] = tensor_bytes(tensor_at(net, i, &s.names[i]), &s.sizes[i]);
    return s;
}

/* 1 when net has the snapshot's tensors, names and bits. */
static int snapshot_matches(const snapshot *s, const rlkd_net *net,
                            const char *label)
{
    if (!CHECK_MSG(tensor_total(net) == s->count, "%s: %d tensors, expected %d",
                   label, tensor_total(net), s->count))
        return 0;
    for (int i = 0; i < s->count; i++) {
        const char *name;
        size_t size;
        unsigned char *bytes = tensor_bytes(tensor_at(net, i, &name), &size);
        const int same = strcmp(name, s->names[i]) == 0 &&
                         size == s->sizes[i] &&
                         memcmp(bytes, s->bytes[i], size) == 0;
        free(bytes);
        if (!CHECK_MSG(same, "%s: tensor %d \"%s\" differs (expected \"%s\")",
                       label, i, name, s->names[i]))
            return 0;
    }
    return 1;
}

static void snapshot_free(snapshot *s)
{
    for (int i = 0; i < s->count; i++)
        free(s->bytes[i]);
    free(s->names);
    free(s->bytes);
    free(s->sizes);
}

/* ---- files ---- */

static unsigned char *read_whole(const char *path, size_t *size)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        test_fatal(path);
    fseek(in, 0, SEEK_END);
    *size = (size_t)ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size + 1);
    if (!bytes || fread(bytes, 1, *size, in) != *size)
        test_fatal(path);
    fclose(in);
    return bytes;
}

static void write_whole(const char *path, const void *bytes, size_t size)
{
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(bytes, 1, size, out) != size || fclose(out) != 0)
        test_fatal(path);
}

/* A checkpoint taken apart: the header as JSON and the data after it. */
typedef struct parsed_file {
    cJSON *header;
    unsigned char *data;
    size_t data_length;
} parsed_file;

static parsed_file parse_file(const char *path)
{
    size_t size;
    unsigned char *bytes = read_whole(path, &size);
    uint64_t length;
    memcpy(&length, bytes, 8);
    parsed_file f;
    f.header = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)length);
    f.data_length = size - 8 - (size_t)length;
    f.data = malloc(f.data_length + 64);
    if (!f.header || !f.data)
        test_fatal("parse_file");
    memcpy(f.data, bytes + 8 + length, f.data_length);
    free(bytes);
    return f;
}

/* Writes the header unpadded: readers must not depend on the padding. */
static void write_parsed(const char *path, const parsed_file *f)
{
    char *json = cJSON_PrintUnformatted(f->header);
    const uint64_t length = strlen(json);
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(&length, 8, 1, out) != 1 ||
        fwrite(json, 1, (size_t)length, out) != length ||
        fwrite(f->data, 1, f->data_length, out) != f->data_length ||
        fclose(out) != 0)
        test_fatal(path);
    cJSON_free(json);
}

static void free_parsed(parsed_file *f)
{
    cJSON_Delete(f->header);
    free(f->data);
}

static cJSON *entry(const parsed_file *f, const char *name)
{
    cJSON *e = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!e)
        test_fatal(name);
    return e;
}

static uint64_t offset_of(const cJSON *e, int which)
{
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    return (uint64_t)cJSON_GetArrayItem(offsets, which)->valuedouble;
}

static void set_offsets(cJSON *e, uint64_t begin, uint64_t end)
{
    const double offsets[2] = {(double)begin, (double)end};
    cJSON_ReplaceItemInObjectCaseSensitive(
        e, "data_offsets", cJSON_CreateDoubleArray(offsets, 2));
}

static void set_string(cJSON *object, const char *key, const char *value)
{
    cJSON_ReplaceItemInObjectCaseSensitive(object, key,
                                           cJSON_CreateString(value));
}

static int is_tensor_entry(const cJSON *e)
{
    return strcmp(e->string, "__metadata__") != 0;
}

/* The tensor entry whose data ends at `end`. */
static cJSON *entry_ending_at(const parsed_file *f, uint64_t end)
{
    for (cJSON *e = f->header->child; e; e = e->next)
        if (is_tensor_entry(e) && offset_of(e, 1) == end)
            return e;
    test_fatal("entry_ending_at");
    return NULL;
}

static cJSON *metadata(const parsed_file *f)
{
    return cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
}

/* Files and folders in the temporary directory whose names contain `part`. */
static int count_in_temp_dir(const char *part)
{
    DIR *dir = opendir(test_temp_dir());
    if (!dir)
        test_fatal(test_temp_dir());
    int count = 0;
    for (struct dirent *d = readdir(dir); d; d = readdir(dir))
        if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") &&
            strstr(d->d_name, part))
            count++;
    closedir(dir);
    return count;
}

/* ---- round trips ---- */

static void test_save_then_load_weights(void)
{
    rlkd_net *copy = build_every_kind();
    snapshot saved = snapshot_take(source_net);
    CHECK_OK(rlkd_net_load_weights(copy, good_path));
    snapshot_matches(&saved, copy, "loaded weights");
    /* num_batches_tracked went through I64 and back. */
    rlkd_tensor *tracked;
    int32_t count = 0;
    CHECK_OK(rlkd_net_find(copy, "stem_bn.num_batches_tracked", &tracked));
    CHECK_OK(rlkd_tensor_read_i32(tracked, &count, 1));
    CHECK_MSG(count == 2, "num_batches_tracked %d, expected 2", (int)count);
    snapshot_free(&saved);
    rlkd_net_destroy(copy);
}

static void check_same_costs(const rlkd_net *a, const rlkd_net *b)
{
    int nodes_a, nodes_b, layers;
    CHECK_OK(rlkd_net_node_count(a, &nodes_a));
    CHECK_OK(rlkd_net_node_count(b, &nodes_b));
    CHECK_MSG(nodes_a == nodes_b, "node counts %d and %d", nodes_a, nodes_b);
    CHECK_OK(rlkd_net_layer_count(a, &layers));
    for (int i = 0; i < layers && i < nodes_b - 1; i++) {
        rlkd_layer_cost ca, cb;
        rlkd_layer_cost_init(&ca);
        rlkd_layer_cost_init(&cb);
        CHECK_OK(rlkd_net_layer_cost(a, i, &ca));
        CHECK_OK(rlkd_net_layer_cost(b, i, &cb));
        CHECK_MSG(strcmp(ca.kind, cb.kind) == 0 && strcmp(ca.name, cb.name) == 0 &&
                      ca.node == cb.node && ca.out_channels == cb.out_channels &&
                      ca.out_height == cb.out_height &&
                      ca.out_width == cb.out_width && ca.params == cb.params &&
                      ca.macs == cb.macs,
                  "layer %d: %s \"%s\" rebuilt as %s \"%s\" or with other costs",
                  i, ca.kind, ca.name, cb.kind, cb.name);
    }
    int64_t params_a, macs_a, params_b, macs_b;
    CHECK_OK(rlkd_net_cost(a, &params_a, &macs_a));
    CHECK_OK(rlkd_net_cost(b, &params_b, &macs_b));
    CHECK(params_a == params_b && macs_a == macs_b);
}

static void test_load_rebuilds_network(void)
{
    rlkd_net *loaded = NULL;
    CHECK_OK(rlkd_net_load(test_ctx, good_path, &loaded));
    if (!loaded)
        return;
    check_same_costs(source_net, loaded);
    snapshot saved = snapshot_take(source_net);
    snapshot_matches(&saved, loaded, "rebuilt network");
    snapshot_free(&saved);

    rlkd_tensor *input = fixed_input(), *out_source, *out_loaded;
    CHECK_OK(rlkd_net_forward(source_net, input, 0, &out_source));
    float *expected = t_get(out_source);
    CHECK_OK(rlkd_net_forward(loaded, input, 0, &out_loaded));
    float *got = t_get(out_loaded);
    CHECK(rlkd_tensor_numel(out_loaded) == 10 &&
          memcmp(expected, got, 10 * sizeof *got) == 0);
    free(expected);
    free(got);
    rlkd_tensor_destroy(input);
    rlkd_net_destroy(loaded);
}

/* ---- the file's bytes ---- */

static void test_file_layout(void)
{
    size_t size;
    unsigned char *bytes = read_whole(good_path, &size);
    uint64_t length;
    memcpy(&length, bytes, 8);
    CHECK_MSG((8 + length) % 8 == 0, "data starts at %llu, not 8-aligned",
              (unsigned long long)(8 + length));
    CHECK(length >= 2 && 8 + length <= size);
    CHECK(bytes[8] == '{');
    free(bytes);

    parsed_file f = parse_file(good_path);
    /* Every tensor once, in save order, back to back. */
    uint64_t offset = 0;
    int entries = 0;
    for (const cJSON *e = f.header->child; e; e = e->next) {
        if (!is_tensor_entry(e))
            continue;
        const char *name;
        const rlkd_tensor *t = tensor_at(source_net, entries++, &name);
        const char *dtype =
            cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring;
        const int is_int = rlkd_tensor_dtype(t) == RLKD_DTYPE_I32;
        CHECK_MSG(strcmp(e->string, name) == 0, "entry \"%s\", expected \"%s\"",
                  e->string, name);
        CHECK_MSG(strcmp(dtype, is_int ? "I64" : "F32") == 0,
                  "\"%s\" saved as %s", name, dtype);
        const uint64_t bytes_wanted =
            (uint64_t)rlkd_tensor_numel(t) * (is_int ? 8 : 4);
        CHECK_MSG(offset_of(e, 0) == offset &&
                      offset_of(e, 1) == offset + bytes_wanted,
                  "\"%s\" at [%llu, %llu]", name,
                  (unsigned long long)offset_of(e, 0),
                  (unsigned long long)offset_of(e, 1));
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        CHECK(cJSON_GetArraySize(shape) == rlkd_tensor_ndim(t));
        offset += bytes_wanted;
    }
    CHECK(entries == tensor_total(source_net));
    CHECK_MSG(offset == f.data_length, "tensors cover %llu of %zu bytes",
              (unsigned long long)offset, f.data_length);

    /* The data holds the values: a float tensor as is, an int64 count. */
    rlkd_tensor *weight;
    CHECK_OK(rlkd_net_find(source_net, "stem.weight", &weight));
    float *values = t_get(weight);
    const cJSON *e = entry(&f, "stem.weight");
    CHECK(memcmp(f.data + offset_of(e, 0), values,
                 (size_t)rlkd_tensor_numel(weight) * 4) == 0);
    free(values);
    int64_t tracked;
    memcpy(&tracked, f.data + offset_of(entry(&f, "head_bn.num_batches_tracked"), 0),
           8);
    CHECK_MSG(tracked == 2, "num_batches_tracked saved as %lld",
              (long long)tracked);

    const cJSON *meta = metadata(&f);
    CHECK(cJSON_IsObject(meta));
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(meta, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(meta, "rlkd_version");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(meta, "rlkd_architecture");
    CHECK(cJSON_IsString(format) && strcmp(format->valuestring, "pt") == 0);
    CHECK(cJSON_IsString(version) &&
          strcmp(version->valuestring, rlkd_version_string()) == 0);
    CHECK(cJSON_IsString(arch));
    cJSON *architecture = cJSON_IsString(arch) ? cJSON_Parse(arch->valuestring)
                                               : NULL;
    int layers;
    CHECK_OK(rlkd_net_layer_count(source_net, &layers));
    CHECK(cJSON_GetArraySize(
              cJSON_GetObjectItemCaseSensitive(architecture, "layers")) ==
          layers);
    cJSON_Delete(architecture);
    free_parsed(&f);
}

/* ---- atomic saves ---- */

static void test_atomic_save(void)
{
    char path[TEST_PATH_BYTES];
    const int files_before = count_in_temp_dir("");

    test_temp_path(path, "no_such_dir/net.safetensors");
    CHECK_FAILS(rlkd_net_save(source_net, path), RLKD_ERR_IO, "no_such_dir");

    /* A directory in the way: the temporary file is written, the rename
     * fails, and the temporary file must go. */
    test_temp_path(path, "a_directory");
    CHECK(mkdir(path, 0700) == 0);
    CHECK_FAILS(rlkd_net_save(source_net, path), RLKD_ERR_IO, "rename");
    CHECK_MSG(count_in_temp_dir("") == files_before + 1,
              "%d entries left after failed saves, expected %d",
              count_in_temp_dir(""), files_before + 1);
    CHECK(count_in_temp_dir(".tmp") == 0);

    /* A save over a longer file replaces it whole. */
    test_temp_path(path, "replaced.safetensors");
    size_t good_size;
    unsigned char *good = read_whole(good_path, &good_size);
    unsigned char *junk = calloc(good_size * 2, 1);
    write_whole(path, junk, good_size * 2);
    CHECK_OK(rlkd_net_save(source_net, path));
    size_t size;
    unsigned char *bytes = read_whole(path, &size);
    CHECK_MSG(size == good_size && memcmp(bytes, good, size) == 0,
              "replaced file is %zu bytes, a fresh save %zu", size, good_size);
    CHECK(count_in_temp_dir(".tmp") == 0);
    free(bytes);
    free(junk);
    free(good);
}

/* ---- dtypes a file may hold ---- */

static uint16_t float_to_half(float value)
{
    /* Exact for the test's values: zero or normal halves. */
    uint32_t bits;
    memcpy(&bits, &value, 4);
    const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    if ((bits & 0x7fffffffu) == 0)
        return sign;
    const uint32_t exponent = ((bits >> 23) & 0xffu) - 127u + 15u;
    return (uint16_t)(sign | (exponent << 10) | ((bits >> 13) & 0x3ffu));
}

/* Re-encodes every float tensor of f as F16, F32, BF16, F64 in turn and
 * the integer buffers as I32, laid out again in header order. */
static void reencode(parsed_file *f)
{
    static const char *const float_dtypes[4] = {"F16", "F32", "BF16", "F64"};
    static const size_t float_sizes[4] = {2, 4, 2, 8};
    unsigned char *data = malloc(f->data_length * 2 + 64);
    if (!data)
        test_fatal("malloc");
    size_t used = 0;
    int floats = 0;
    for (cJSON *e = f->header->child; e; e = e->next) {
        if (!is_tensor_entry(e))
            continue;
        const unsigned char *src = f->data + offset_of(e, 0);
        const int is_int = strcmp(cJSON_GetObjectItemCaseSensitive(e, "dtype")
                                      ->valuestring, "I64") == 0;
        const size_t numel = (offset_of(e, 1) - offset_of(e, 0)) / (is_int ? 8 : 4);
        const int pick = floats % 4;
        const uint64_t begin = used;
        for (size_t k = 0; k < numel; k++) {
            if (is_int) {
                int64_t wide;
                memcpy(&wide, src + 8 * k, 8);
                const int32_t narrow = (int32_t)wide;
                memcpy(data + used, &narrow, 4);
                used += 4;
                continue;
            }
            float value;
            memcpy(&value, src + 4 * k, 4);
            const double wide = value;
            uint32_t bits;
            memcpy(&bits, &value, 4);
            const uint16_t half = float_to_half(value), brain = (uint16_t)(bits >> 16);
            const void *encoded[4] = {&half, &value, &brain, &wide};
            memcpy(data + used, encoded[pick], float_sizes[pick]);
            used += float_sizes[pick];
        }
        set_string(e, "dtype", is_int ? "I32" : float_dtypes[pick]);
        set_offsets(e, begin, used);
        floats += !is_int;
    }
    free(f->data);
    f->data = data;
    f->data_length = used;
}

/* A small network: conv weight of 27 values so that, in F16, it leaves the
 * next float32 tensor misaligned in the data. */
static rlkd_net *build_small(void)
{
    rlkd_net *net;
    int conv, bn;
    test_must(rlkd_net_create(test_ctx, 3, 4, 4, &net), "rlkd_net_create");
    test_must(rlkd_net_add_conv2d(net, &conv, "c", 0, 1, 3, 1, 1, 1, 1, 1), "conv");
    test_must(rlkd_net_add_batchnorm2d(net, &bn, "bn", conv, 1e-5f, 0.1f), "bn");
    test_must(rlkd_net_add_linear(net, NULL, "fc", bn, 3, 1), "linear");
    return net;
}

/* Quarter steps in [-2, 2), exact in F16 and BF16; a positive variance. */
static void fill_exact(rlkd_net *net)
{
    for (int i = 0; i < tensor_total(net); i++) {
        const char *name;
        rlkd_tensor *t = tensor_at(net, i, &name);
        if (rlkd_tensor_dtype(t) != RLKD_DTYPE_F32) {
            const int32_t tracked = 7;
            test_must(rlkd_tensor_write_i32(t, &tracked, 1), "write_i32");
            continue;
        }
        const size_t n = (size_t)rlkd_tensor_numel(t);
        float *values = malloc(n * sizeof *values);
        for (size_t k = 0; k < n; k++)
            values[k] = ends_with(name, "running_var")
                            ? 0.25f * (float)(1 + (k + (size_t)i) % 8)
                            : 0.25f * (float)((int)((k * 7 + (size_t)i) % 16) - 8);
        test_must(rlkd_tensor_write(t, values, n), "write");
        free(values);
    }
}

static void test_loads_other_dtypes(void)
{
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "dtypes.safetensors");
    rlkd_net *original = build_small(), *copy = build_small();
    fill_exact(original);
    CHECK_OK(rlkd_net_save(original, path));
    parsed_file f = parse_file(path);
    reencode(&f);
    CHECK_MSG(offset_of(entry(&f, "c.bias"), 0) % 4 != 0,
              "c.bias should start misaligned");
    /* PyTorch saves num_batches_tracked as a scalar, without metadata. */
    cJSON_ReplaceItemInObjectCaseSensitive(entry(&f, "bn.num_batches_tracked"),
                                           "shape", cJSON_CreateArray());
    cJSON_DeleteItemFromObjectCaseSensitive(f.header, "__metadata__");
    write_parsed(path, &f);
    free_parsed(&f);

    CHECK_OK(rlkd_net_load_weights(copy, path));
    snapshot expected = snapshot_take(original);
    snapshot_matches(&expected, copy, "converted weights");
    snapshot_free(&expected);
    rlkd_net_destroy(original);
    rlkd_net_destroy(copy);
}

/* ---- bad files ---- */

static void unknown_dtype(parsed_file *f)
{
    set_string(entry(f, "stem.weight"), "dtype", "F99");
}

static void float_for_integer(parsed_file *f)
{
    set_string(entry(f, "stem_bn.num_batches_tracked"), "dtype", "F64");
}

static void shape_mismatch(parsed_file *f)
{
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry(f, "fc.weight"),
                                                    "shape");
    const double rows = cJSON_GetArrayItem(shape, 0)->valuedouble;
    const double cols = cJSON_GetArrayItem(shape, 1)->valuedouble;
    const double swapped[2] = {cols, rows};
    cJSON_ReplaceItemInObjectCaseSensitive(entry(f, "fc.weight"), "shape",
                                           cJSON_CreateDoubleArray(swapped, 2));
}

static void offsets_out_of_range(parsed_file *f)
{
    cJSON *last = entry_ending_at(f, f->data_length);
    const uint64_t size = offset_of(last, 1) - offset_of(last, 0);
    set_offsets(last, f->data_length, f->data_length + size);
}

static void overlapping_offsets(parsed_file *f)
{
    cJSON *second = entry(f, "stem_bn.weight");
    set_offsets(second, offset_of(second, 0) - 4, offset_of(second, 1) - 4);
}

static void hole_between_tensors(parsed_file *f)
{
    /* Every tensor moves 4 bytes on: [0, 4) belongs to none. */
    for (cJSON *e = f->header->child; e; e = e->next)
        if (is_tensor_entry(e))
            set_offsets(e, offset_of(e, 0) + 4, offset_of(e, 1) + 4);
    memmove(f->data + 4, f->data, f->data_length);
    f->data_length += 4;
}

static void truncated_data(parsed_file *f)
{
    f->data_length -= 10;
}

static void bytes_after_tensors(parsed_file *f)
{
    memset(f->data + f->data_length, 0, 8);
    f->data_length += 8;
}

static void unknown_name(parsed_file *f)
{
    cJSON *bias = cJSON_DetachItemFromObjectCaseSensitive(f->header, "fc.bias");
    cJSON_AddItemToObject(f->header, "fc.bogus", bias);
}

static void duplicate_name(parsed_file *f)
{
    cJSON *copy = cJSON_Duplicate(entry(f, "fc.bias"), 1);
    const uint64_t begin = offset_of(copy, 0), end = offset_of(copy, 1);
    memcpy(f->data + f->data_length, f->data + begin, (size_t)(end - begin));
    set_offsets(copy, f->data_length, f->data_length + (end - begin));
    f->data_length += (size_t)(end - begin);
    cJSON_AddItemToObject(f->header, "fc.bias", copy);
}

static void missing_tensor(parsed_file *f)
{
    cJSON *last = entry_ending_at(f, f->data_length);
    f->data_length = (size_t)offset_of(last, 0);
    cJSON_Delete(cJSON_DetachItemViaPointer(f->header, last));
}

static void int64_beyond_int32(parsed_file *f)
{
    const int64_t huge = (int64_t)1 << 40;
    memcpy(f->data + offset_of(entry(f, "stem_bn.num_batches_tracked"), 0),
           &huge, 8);
}

static void no_architecture(parsed_file *f)
{
    cJSON_DeleteItemFromObjectCaseSensitive(metadata(f), "rlkd_architecture");
}

static void architecture_not_json(parsed_file *f)
{
    set_string(metadata(f), "rlkd_architecture", "{\"layers\": [");
}

/* Edits the saved architecture JSON with `edit`. */
static void edit_architecture(parsed_file *f, void (*edit)(cJSON *arch))
{
    cJSON *arch = cJSON_Parse(
        cJSON_GetObjectItemCaseSensitive(metadata(f), "rlkd_architecture")
            ->valuestring);
    if (!arch)
        test_fatal("architecture JSON");
    edit(arch);
    char *text = cJSON_PrintUnformatted(arch);
    set_string(metadata(f), "rlkd_architecture", text);
    cJSON_free(text);
    cJSON_Delete(arch);
}

static cJSON *arch_layer(cJSON *arch, int index)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(arch, "layers"),
                              index);
}

static void set_unknown_kind(cJSON *arch)
{
    set_string(arch_layer(arch, 0), "kind", "bogus");
}

static void set_input_out_of_range(cJSON *arch)
{
    const int node = 99;
    cJSON_ReplaceItemInObjectCaseSensitive(arch_layer(arch, 2), "inputs",
                                           cJSON_CreateIntArray(&node, 1));
}

static void set_add_with_one_input(cJSON *arch)
{
    const int node = 1;
    cJSON_ReplaceItemInObjectCaseSensitive(arch_layer(arch, 4), "inputs",
                                           cJSON_CreateIntArray(&node, 1));
}

static void drop_kernel(cJSON *arch)
{
    cJSON_DeleteItemFromObjectCaseSensitive(arch_layer(arch, 0), "kernel");
}

static void add_unknown_field(cJSON *arch)
{
    cJSON_AddNumberToObject(arch_layer(arch, 1), "colour", 3);
}

static void set_version_2(cJSON *arch)
{
    cJSON_ReplaceItemInObjectCaseSensitive(arch, "version",
                                           cJSON_CreateNumber(2));
}

static void set_negative_channels(cJSON *arch)
{
    cJSON_ReplaceItemInObjectCaseSensitive(arch_layer(arch, 0), "out_channels",
                                           cJSON_CreateNumber(-8));
}

/* A million channels: tensors far beyond what the file's data holds, which
 * the builder must refuse before allocating them. */
static void set_huge_channels(cJSON *arch)
{
    cJSON_ReplaceItemInObjectCaseSensitive(arch_layer(arch, 0), "out_channels",
                                           cJSON_CreateNumber(1 << 20));
}

static void unknown_kind(parsed_file *f) { edit_architecture(f, set_unknown_kind); }
static void input_out_of_range(parsed_file *f) { edit_architecture(f, set_input_out_of_range); }
static void add_with_one_input(parsed_file *f) { edit_architecture(f, set_add_with_one_input); }
static void missing_field(parsed_file *f) { edit_architecture(f, drop_kernel); }
static void unknown_field(parsed_file *f) { edit_architecture(f, add_unknown_field); }
static void wrong_version(parsed_file *f) { edit_architecture(f, set_version_2); }
static void refused_layer(parsed_file *f) { edit_architecture(f, set_negative_channels); }
static void beyond_the_data(parsed_file *f) { edit_architecture(f, set_huge_channels); }

typedef struct bad_file {
    const char *what;
    /* The file: source_net's save edited by `edit`, or these raw bytes
     * (size -1: no file at all). */
    void (*edit)(parsed_file *f);
    const char *raw;
    int raw_size;
    rlkd_status status;
    const char *needle;
    int architecture_only; /* the weights are fine: only rlkd_net_load fails */
} bad_file;

#define RAW(bytes) NULL, bytes, (int)sizeof bytes - 1
#define EDIT(fn) fn, NULL, 0

static const bad_file bad_files[] = {
    {"missing file", NULL, NULL, -1, RLKD_ERR_IO, "No such file", 0},
    {"empty file", RAW(""), RLKD_ERR_FORMAT, "too short", 0},
    {"7-byte file", RAW("\x10\0\0\0\0\0\0"), RLKD_ERR_FORMAT, "too short", 0},
    {"header longer than the file", RAW("\xe8\x03\0\0\0\0\0\0{}"),
     RLKD_ERR_FORMAT, "does not fit", 0},
    {"oversized header length", RAW("\0\0\0\0\0\x01\0\0{}"), RLKD_ERR_FORMAT,
     "oversized", 0},
    {"header length 1", RAW("\x01\0\0\0\0\0\0\0{}"), RLKD_ERR_FORMAT,
     "does not fit", 0},
    {"header not JSON", RAW("\x09\0\0\0\0\0\0\0{not json"), RLKD_ERR_FORMAT,
     "not valid JSON", 0},
    {"header not an object", RAW("\x05\0\0\0\0\0\0\0[1,2]"), RLKD_ERR_FORMAT,
     "not a JSON object", 0},
    {"bytes after the header JSON", RAW("\x04\0\0\0\0\0\0\0{} x"),
     RLKD_ERR_FORMAT, "after its JSON", 0},
    {"metadata not strings",
     RAW("\x18\0\0\0\0\0\0\0{\"__metadata__\":{\"a\":1}}"), RLKD_ERR_FORMAT,
     "not a string", 0},
    {"unknown dtype", EDIT(unknown_dtype), RLKD_ERR_FORMAT, "F99", 0},
    {"float dtype for an integer buffer", EDIT(float_for_integer),
     RLKD_ERR_FORMAT, "holds integers", 0},
    {"shape mismatch", EDIT(shape_mismatch), RLKD_ERR_SHAPE, "fc.weight", 0},
    {"offsets out of range", EDIT(offsets_out_of_range), RLKD_ERR_FORMAT,
     "past the end", 0},
    {"overlapping offsets", EDIT(overlapping_offsets), RLKD_ERR_FORMAT,
     "overlap", 0},
    {"hole between tensors", EDIT(hole_between_tensors), RLKD_ERR_FORMAT,
     "hole", 0},
    {"truncated data", EDIT(truncated_data), RLKD_ERR_FORMAT, "truncated", 0},
    {"bytes after the last tensor", EDIT(bytes_after_tensors),
     RLKD_ERR_FORMAT, "after the last tensor", 0},
    {"unknown tensor name", EDIT(unknown_name), RLKD_ERR_FORMAT, "fc.bogus", 0},
    {"tensor named twice", EDIT(duplicate_name), RLKD_ERR_FORMAT,
     "\"fc.bias\" appears twice", 0},
    {"missing tensor", EDIT(missing_tensor), RLKD_ERR_FORMAT,
     "head_bn.num_batches_tracked\" is not in the file", 0},
    {"I64 beyond int32", EDIT(int64_beyond_int32), RLKD_ERR_FORMAT,
     "does not fit int32", 0},
    {"no architecture", EDIT(no_architecture), RLKD_ERR_FORMAT,
     "rlkd_architecture", 1},
    {"architecture not JSON", EDIT(architecture_not_json), RLKD_ERR_FORMAT,
     "architecture is not valid JSON", 1},
    {"unknown layer kind", EDIT(unknown_kind), RLKD_ERR_FORMAT,
     "unknown kind \"bogus\"", 1},
    {"input out of range", EDIT(input_out_of_range), RLKD_ERR_FORMAT,
     "input node 99", 1},
    {"add with one input", EDIT(add_with_one_input), RLKD_ERR_FORMAT,
     "reads 2 nodes, got 1", 1},
    {"missing layer field", EDIT(missing_field), RLKD_ERR_FORMAT,
     "\"kernel\"", 1},
    {"unknown layer field", EDIT(unknown_field), RLKD_ERR_FORMAT, "colour", 1},
    {"architecture version 2", EDIT(wrong_version), RLKD_ERR_FORMAT,
     "version", 1},
    {"layer refused by the builder", EDIT(refused_layer), RLKD_ERR_FORMAT,
     "out_channels", 1},
    {"architecture beyond the data", EDIT(beyond_the_data), RLKD_ERR_FORMAT,
     "its file's data can hold", 1},
};

static void make_bad_file(const bad_file *bad, const char *path)
{
    unlink(path);
    if (bad->edit) {
        parsed_file f = parse_file(good_path);
        bad->edit(&f);
        write_parsed(path, &f);
        free_parsed(&f);
    } else if (bad->raw_size >= 0) {
        write_whole(path, bad->raw, (size_t)bad->raw_size);
    }
}

static void test_bad_files(void)
{
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "bad.safetensors");
    rlkd_net *victim = build_every_kind();
    snapshot before = snapshot_take(victim);
    const int count = (int)(sizeof bad_files / sizeof bad_files[0]);
    for (int i = 0; i < count; i++) {
        const bad_file *bad = &bad_files[i];
        make_bad_file(bad, path);
        if (!bad->architecture_only) {
            CHECK_MSG(test_check_status(rlkd_net_load_weights(victim, path),
                                        bad->status, bad->needle, __FILE__,
                                        __LINE__, "rlkd_net_load_weights"),
                      "case \"%s\"", bad->what);
            snapshot_matches(&before, victim, bad->what);
        }
        rlkd_net *loaded = (rlkd_net *)&loaded; /* must come back NULL */
        CHECK_MSG(test_check_status(rlkd_net_load(test_ctx, path, &loaded),
                                    bad->status, bad->needle, __FILE__,
                                    __LINE__, "rlkd_net_load"),
                  "case \"%s\"", bad->what);
        CHECK_MSG(loaded == NULL, "case \"%s\": *out not NULL", bad->what);
    }
    /* The messages name the file. */
    make_bad_file(&bad_files[1], path);
    CHECK_FAILS(rlkd_net_load_weights(victim, path), RLKD_ERR_FORMAT, path);
    /* A directory is not a checkpoint. */
    CHECK_FAILS(rlkd_net_load_weights(victim, test_temp_dir()), RLKD_ERR_IO,
                "not a regular file");
    snapshot_matches(&before, victim, "after every bad file");
    snapshot_free(&before);
    rlkd_net_destroy(victim);
}

static void test_arguments(void)
{
    rlkd_net *net = NULL;
    CHECK_FAILS(rlkd_net_save(NULL, good_path), RLKD_ERR_INVALID_ARGUMENT, "net");
    CHECK_FAILS(rlkd_net_save(source_net, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "path");
    CHECK_FAILS(rlkd_net_load_weights(NULL, good_path),
                RLKD_ERR_INVALID_ARGUMENT, "net");
    CHECK_FAILS(rlkd_net_load_weights(source_net, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "path");
    CHECK_FAILS(rlkd_net_load(test_ctx, good_path, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out");
    CHECK_FAILS(rlkd_net_load(NULL, good_path, &net), RLKD_ERR_INVALID_ARGUMENT,
                NULL);
    CHECK(net == NULL);
    CHECK_FAILS(rlkd_net_load(test_ctx, NULL, &net), RLKD_ERR_INVALID_ARGUMENT,
                "path");
}

int main(void)
{
    test_main_begin();
    source_net = build_every_kind();
    randomise(source_net);
    test_temp_path(good_path, "good.safetensors");
    test_must(rlkd_net_save(source_net, good_path), "rlkd_net_save");

    test_run("save_then_load_weights", test_save_then_load_weights);
    test_run("load_rebuilds_network", test_load_rebuilds_network);
    test_run("file_layout", test_file_layout);
    test_run("atomic_save", test_atomic_save);
    test_run("loads_other_dtypes", test_loads_other_dtypes);
    test_run("bad_files", test_bad_files);
    test_run("arguments", test_arguments);

    rlkd_net_destroy(source_net);
    test_main_end();
    return test_finish();
}
