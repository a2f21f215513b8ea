/*
 * The architecture JSON of a network (format in architecture.h): written
 * from the layer records, read back through rlkd_net_create and
 * rlkd_net_append, so a saved network is rebuilt by the same code that
 * built it.
 */
#include "architecture.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCHITECTURE_VERSION 1

#define KIND_BIT(kind) (1u << (kind))
#define CONV KIND_BIT(RLKD_LAYER_CONV2D)
#define POOLS (KIND_BIT(RLKD_LAYER_MAXPOOL2D) | KIND_BIT(RLKD_LAYER_AVGPOOL2D))

typedef enum spec_field_type { SPEC_INT, SPEC_FLOAT } spec_field_type;

/* A field of rlkd_layer_spec as the JSON names it, and the kinds using it. */
typedef struct spec_field {
    const char *key;
    size_t offset;
    spec_field_type type;
    unsigned kinds;
    int optional; /* written only when not 0, read as 0 when absent */
} spec_field;

static const spec_field spec_fields[] = {
    {"out_channels", offsetof(rlkd_layer_spec, out_channels), SPEC_INT, CONV,
     0},
    /* A linear layer keeps out_features in out_channels. */
    {"out_features", offsetof(rlkd_layer_spec, out_channels), SPEC_INT,
     KIND_BIT(RLKD_LAYER_LINEAR), 0},
    {"kernel", offsetof(rlkd_layer_spec, kernel), SPEC_INT,
     CONV | POOLS | KIND_BIT(RLKD_LAYER_ECA) | KIND_BIT(RLKD_LAYER_CBAM), 0},
    {"stride", offsetof(rlkd_layer_spec, stride), SPEC_INT, CONV | POOLS, 0},
    {"padding", offsetof(rlkd_layer_spec, padding), SPEC_INT, CONV | POOLS, 0},
    {"dilation", offsetof(rlkd_layer_spec, dilation), SPEC_INT, CONV, 0},
    {"groups", offsetof(rlkd_layer_spec, groups), SPEC_INT, CONV, 0},
    {"bias", offsetof(rlkd_layer_spec, bias), SPEC_INT,
     CONV | KIND_BIT(RLKD_LAYER_LINEAR), 0},
    {"count_include_pad", offsetof(rlkd_layer_spec, count_include_pad),
     SPEC_INT, KIND_BIT(RLKD_LAYER_AVGPOOL2D), 0},
    {"reduction", offsetof(rlkd_layer_spec, reduction), SPEC_INT,
     KIND_BIT(RLKD_LAYER_SE) | KIND_BIT(RLKD_LAYER_CBAM), 0},
    {"hidden", offsetof(rlkd_layer_spec, hidden), SPEC_INT,
     KIND_BIT(RLKD_LAYER_SE) | KIND_BIT(RLKD_LAYER_CBAM), 1},
    {"eps", offsetof(rlkd_layer_spec, eps), SPEC_FLOAT,
     KIND_BIT(RLKD_LAYER_BATCHNORM2D), 0},
    {"momentum", offsetof(rlkd_layer_spec, momentum), SPEC_FLOAT,
     KIND_BIT(RLKD_LAYER_BATCHNORM2D), 0},
    {"p", offsetof(rlkd_layer_spec, p), SPEC_FLOAT,
     KIND_BIT(RLKD_LAYER_DROPOUT), 0},
};

#define SPEC_FIELD_COUNT ((int)(sizeof spec_fields / sizeof spec_fields[0]))

static int kind_uses(const spec_field *field, rlkd_layer_kind kind)
{
    return (field->kinds & KIND_BIT(kind)) != 0;
}

static int *spec_int(rlkd_layer_spec *spec, const spec_field *field)
{
    return (int *)((char *)spec + field->offset);
}

static float *spec_float(rlkd_layer_spec *spec, const spec_field *field)
{
    return (float *)((char *)spec + field->offset);
}

/* ---- writing ---- */

/* Adds key: [values...] to object; 0 when out of memory. */
static int add_int_array(cJSON *object, const char *key, const int *values,
                         int count)
{
    cJSON *array = cJSON_CreateIntArray(values, count);
    if (array && cJSON_AddItemToObject(object, key, array))
        return 1;
    cJSON_Delete(array);
    return 0;
}

/* The layer's JSON object; NULL when out of memory. */
static cJSON *layer_to_json(const rlkd_layer *layer)
{
    rlkd_layer_spec spec = layer->spec;
    cJSON *json = cJSON_CreateObject();
    int ok = json &&
             cJSON_AddStringToObject(json, "kind",
                                     rlkd_layer_kind_name(spec.kind)) &&
             cJSON_AddStringToObject(json, "name", layer->name) &&
             add_int_array(json, "inputs", layer->inputs, layer->input_count);
    for (int i = 0; ok && i < SPEC_FIELD_COUNT; i++) {
        const spec_field *field = &spec_fields[i];
        if (!kind_uses(field, spec.kind))
            continue;
        const double value = field->type == SPEC_INT
                                 ? (double)*spec_int(&spec, field)
                                 : (double)*spec_float(&spec, field);
        if (field->optional && value == 0.0)
            continue;
        ok = cJSON_AddNumberToObject(json, field->key, value) != NULL;
    }
    if (ok)
        return json;
    cJSON_Delete(json);
    return NULL;
}

rlkd_status rlkd_architecture_to_json(const rlkd_net *net, char **out)
{
    *out = NULL;
    const int input[3] = {net->in_c, net->in_h, net->in_w};
    cJSON *root = cJSON_CreateObject();
    int ok = root &&
             cJSON_AddNumberToObject(root, "version", ARCHITECTURE_VERSION) &&
             add_int_array(root, "input", input, 3);
    cJSON *layers = ok ? cJSON_AddArrayToObject(root, "layers") : NULL;
    ok = layers != NULL;
    for (int i = 0; ok && i < net->layer_count; i++)
        ok = cJSON_AddItemToArray(layers, layer_to_json(&net->layers[i]));
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "out of host memory writing the architecture");
    *out = text;
    return RLKD_OK;
}

/* ---- reading ---- */

/* 1 and *value when item is an integral number that fits an int. */
static int json_int(const cJSON *item, int *value)
{
    if (!cJSON_IsNumber(item))
        return 0;
    const double d = item->valuedouble;
    if (!(d >= INT_MIN && d <= INT_MAX) || d != floor(d))
        return 0;
    *value = (int)d;
    return 1;
}

/* What the builder refuses in a file is a malformed file; other failures
 * (out of memory, a device error) keep their status. */
static rlkd_status refused(rlkd_status status, const char *what)
{
    if (status != RLKD_ERR_INVALID_ARGUMENT && status != RLKD_ERR_SHAPE)
        return status;
    char reason[768];
    snprintf(reason, sizeof reason, "%s", rlkd_last_error());
    return rlkd_fail(RLKD_ERR_FORMAT, "%s is refused: %s", what, reason);
}

static const spec_field *find_spec_field(rlkd_layer_kind kind, const char *key)
{
    for (int i = 0; i < SPEC_FIELD_COUNT; i++)
        if (kind_uses(&spec_fields[i], kind) &&
            strcmp(spec_fields[i].key, key) == 0)
            return &spec_fields[i];
    return NULL;
}

/* Fills spec from the layer's fields; `what` names the layer. Fields the
 * kind does not use are refused: this reader could not honour them. */
static rlkd_status read_spec(const cJSON *json, const char *what,
                             rlkd_layer_spec *spec)
{
    for (const cJSON *item = json->child; item; item = item->next) {
        if (strcmp(item->string, "kind") != 0 &&
            strcmp(item->string, "name") != 0 &&
            strcmp(item->string, "inputs") != 0 &&
            !find_spec_field(spec->kind, item->string))
            return rlkd_fail(RLKD_ERR_FORMAT, "%s has an unknown field \"%s\"",
                             what, item->string);
    }
    for (int i = 0; i < SPEC_FIELD_COUNT; i++) {
        const spec_field *field = &spec_fields[i];
        if (!kind_uses(field, spec->kind))
            continue;
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, field->key);
        if (field->optional && !item)
            continue; /* the spec is zeroed */
        if (field->type == SPEC_INT) {
            if (!json_int(item, spec_int(spec, field)))
                return rlkd_fail(RLKD_ERR_FORMAT,
                                 "%s needs \"%s\" as an integer", what,
                                 field->key);
        } else {
            if (!cJSON_IsNumber(item) || !(fabs(item->valuedouble) <= FLT_MAX))
                return rlkd_fail(RLKD_ERR_FORMAT,
                                 "%s needs \"%s\" as a float32 number", what,
                                 field->key);
            *spec_float(spec, field) = (float)item->valuedouble;
        }
    }
    return RLKD_OK;
}

/* Reads the layer's "inputs" into a new array (*inputs, free() it). */
static rlkd_status read_inputs(const cJSON *json, const char *what,
                               int **inputs, int *count)
{
    const cJSON *array = cJSON_GetObjectItemCaseSensitive(json, "inputs");
    /* How many a kind reads is the builder's check (rlkd_net_append). */
    const int n = cJSON_IsArray(array) ? cJSON_GetArraySize(array) : 0;
    if (n < 1)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s needs \"inputs\" as a non-empty array of node "
                         "indices", what);
    int *values = malloc((size_t)n * sizeof *values);
    if (!values)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
    int i = 0;
    for (const cJSON *item = array->child; item; item = item->next, i++) {
        if (!json_int(item, &values[i])) {
            free(values);
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "%s: input %d is not an integer node index",
                             what, i);
        }
    }
    *inputs = values;
    *count = n;
    return RLKD_OK;
}

static rlkd_status build_layer(rlkd_net *net, int index, const cJSON *json)
{
    char what[320];
    snprintf(what, sizeof what, "architecture layer %d", index);
    if (!cJSON_IsObject(json))
        return rlkd_fail(RLKD_ERR_FORMAT, "%s is not an object", what);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(json, "kind");
    if (!cJSON_IsString(kind))
        return rlkd_fail(RLKD_ERR_FORMAT, "%s has no \"kind\" string", what);
    rlkd_layer_spec spec = {.kind = rlkd_layer_kind_from_name(kind->valuestring)};
    if (spec.kind == RLKD_LAYER_KIND_COUNT)
        return rlkd_fail(RLKD_ERR_FORMAT, "%s has an unknown kind \"%.64s\"",
                         what, kind->valuestring);
    /* A name is optional for layers without tensors, as in the builder. */
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(json, "name");
    if (name && !cJSON_IsString(name) && !cJSON_IsNull(name))
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: \"name\" must be a string or null", what);
    const char *name_text = cJSON_IsString(name) ? name->valuestring : NULL;
    snprintf(what, sizeof what, "architecture layer %d (%s \"%.200s\")", index,
             kind->valuestring, name_text ? name_text : "");

    RLKD_TRY(read_spec(json, what, &spec));
    int *inputs = NULL, input_count = 0;
    RLKD_TRY(read_inputs(json, what, &inputs, &input_count));
    rlkd_status status =
        rlkd_net_append(net, NULL, name_text, inputs, input_count, &spec, 0);
    free(inputs);
    return refused(status, what);
}

rlkd_status rlkd_architecture_build(rlkd_context *ctx, const char *json,
                                    int64_t max_values, rlkd_net **out)
{
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the architecture is not valid JSON (at byte %td)",
                         end ? end - json : (ptrdiff_t)0);
    rlkd_status status = RLKD_OK;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    int version_number = 0, c = 0, h = 0, w = 0;
    if (!json_int(version, &version_number) ||
        version_number != ARCHITECTURE_VERSION)
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "the architecture has no \"version\" %d (the only "
                           "one this rlkd reads)", ARCHITECTURE_VERSION);
    else if (!cJSON_IsArray(input) || cJSON_GetArraySize(input) != 3 ||
             !json_int(cJSON_GetArrayItem(input, 0), &c) ||
             !json_int(cJSON_GetArrayItem(input, 1), &h) ||
             !json_int(cJSON_GetArrayItem(input, 2), &w))
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "the architecture needs \"input\" as [C, H, W]");
    else if (!cJSON_IsArray(layers))
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "the architecture needs \"layers\" as an array");
    rlkd_net *net = NULL;
    if (status == RLKD_OK)
        status = refused(rlkd_net_create(ctx, c, h, w, &net),
                         "the architecture's input");
    if (status == RLKD_OK)
        net->value_limit = max_values;
    int index = 0;
    for (const cJSON *layer = status == RLKD_OK ? layers->child : NULL;
         layer && status == RLKD_OK; layer = layer->next, index++)
        status = build_layer(net, index, layer);
    if (net)
        net->value_limit = INT64_MAX; /* the caller's own layers: no limit */
    cJSON_Delete(root);
    if (status != RLKD_OK) {
        rlkd_net_destroy(net);
        return status;
    }
    *out = net;
    return RLKD_OK;
}
