/*
 * The benchmark cases that bench_cpu and bench_gpu share: reading a case of
 * a JSON case file (bench/cpu/cases.py, bench/gpu/cases.py), making its
 * tensors on a context and running it, one kind per builder (conv, bn_relu,
 * attention, kd_loss, train_step, inference). How a case is timed is the
 * program's own measure_fn. Include after bench.h.
 *
 * A failing rlkd call in a case's set-up or runs ends that case with the
 * call's status (its message is rlkd_last_error()), so that a program can
 * report an op a backend lacks and go on; a malformed case file ends the
 * program.
 */
#ifndef RLKD_BENCH_CASES_H
#define RLKD_BENCH_CASES_H

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CASE_TENSORS 24

static void fail(const char *what)
{
    fprintf(stderr, BENCH_NAME ": %s\n", what);
    exit(1);
}

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* ---- reading a case ---------------------------------------------------- */

static int json_int(const cJSON *item, const char *key)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!cJSON_IsNumber(value))
        fail("a case lacks an integer field");
    return value->valueint;
}

static double json_number(const cJSON *item, const char *key)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!cJSON_IsNumber(value))
        fail("a case lacks a number field");
    return value->valuedouble;
}

static const char *json_string(const cJSON *item, const char *key)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!cJSON_IsString(value))
        fail("a case lacks a string field");
    return value->valuestring;
}

/* An array of 1..RLKD_MAX_DIMS integers into shape; returns its length. */
static int json_shape(const cJSON *item, const char *key, int64_t *shape)
{
    const cJSON *array = cJSON_GetObjectItemCaseSensitive(item, key);
    const cJSON *dim;
    int ndim = 0;
    if (!cJSON_IsArray(array) || cJSON_GetArraySize(array) < 1 ||
        cJSON_GetArraySize(array) > RLKD_MAX_DIMS)
        fail("a case's shape is not an array of 1 to 4 integers");
    cJSON_ArrayForEach(dim, array) {
        if (!cJSON_IsNumber(dim))
            fail("a case's shape holds a non-number");
        shape[ndim++] = (int64_t)dim->valuedouble;
    }
    return ndim;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long size;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || !(text = malloc((size_t)size + 1))) {
        fclose(f);
        return NULL;
    }
    if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        fclose(f);
        return NULL;
    }
    text[size] = '\0';
    fclose(f);
    return text;
}

/* The case file's list of cases; the caller frees it with cJSON_Delete. */
static cJSON *load_cases(const char *path)
{
    char *text = read_file(path);
    if (!text)
        fail("cannot read the case file");
    cJSON *cases = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(cases))
        fail("the case file is not a JSON array");
    return cases;
}

/* ---- tensors of one case, destroyed together ---------------------------- */

typedef struct case_tensors {
    rlkd_context *ctx;
    /* the first failed call's status (RLKD_OK while none failed); the
     * calls after it are skipped, so its message stays rlkd_last_error() */
    rlkd_status status;
    rlkd_tensor *list[MAX_CASE_TENSORS];
    int count;
} case_tensors;

/* Keeps the first failure; whether none has happened yet. */
static int case_ok(case_tensors *tensors, rlkd_status status)
{
    if (tensors->status == RLKD_OK)
        tensors->status = status;
    return tensors->status == RLKD_OK;
}

static rlkd_tensor *new_tensor(case_tensors *tensors, rlkd_dtype dtype, int ndim,
                               const int64_t *shape)
{
    rlkd_tensor *t = NULL;
    if (tensors->count == MAX_CASE_TENSORS)
        fail("too many tensors in one case (raise MAX_CASE_TENSORS)");
    if (tensors->status != RLKD_OK ||
        !case_ok(tensors, rlkd_tensor_create(tensors->ctx, dtype, ndim, shape, &t)))
        return NULL;
    tensors->list[tensors->count++] = t;
    return t;
}

static rlkd_tensor *normal_tensor(case_tensors *tensors, int ndim,
                                  const int64_t *shape, float stddev)
{
    rlkd_tensor *t = new_tensor(tensors, RLKD_DTYPE_F32, ndim, shape);
    if (t)
        case_ok(tensors, rlkd_tensor_fill_normal(t, 0.0f, stddev));
    return t;
}

static rlkd_tensor *filled_tensor(case_tensors *tensors, int ndim,
                                  const int64_t *shape, float value)
{
    rlkd_tensor *t = new_tensor(tensors, RLKD_DTYPE_F32, ndim, shape);
    if (t)
        case_ok(tensors, rlkd_tensor_fill(t, value));
    return t;
}

/* Labels [n] = i mod classes. */
static rlkd_tensor *label_tensor(case_tensors *tensors, int64_t n, int classes)
{
    rlkd_tensor *t = new_tensor(tensors, RLKD_DTYPE_I32, 1, &n);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    if (!labels)
        fail("out of memory");
    for (int64_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % classes);
    if (t)
        case_ok(tensors, rlkd_tensor_write_i32(t, labels, (size_t)n));
    free(labels);
    return t;
}

static void destroy_tensors(case_tensors *tensors)
{
    for (int i = 0; i < tensors->count; i++)
        rlkd_tensor_destroy(tensors->list[i]);
    tensors->count = 0;
}

/* ---- running and timing ---------------------------------------------------- */

/* One run of a case; `state` is the case's own struct. */
typedef rlkd_status (*run_fn)(void *state);

/* How a program times a case whose runs go to ctx: the time in *ms, or the
 * status of a run that failed. */
typedef rlkd_status (*measure_fn)(rlkd_context *ctx, run_fn run, void *state,
                                  const cJSON *item, double *ms);

/* ---- conv: forward, backward-data, backward-filter ---------------------- */

typedef struct conv_case {
    rlkd_context *ctx;
    const char *direction;
    rlkd_tensor *x, *w, *bias, *y, *dy, *dx, *dw;
    int stride, padding, dilation, groups;
} conv_case;

static rlkd_status run_conv(void *state)
{
    conv_case *c = state;
    if (is(c->direction, "forward"))
        return rlkd_conv2d_forward(c->ctx, c->y, c->x, c->w, c->bias, c->stride,
                                   c->stride, c->padding, c->padding,
                                   c->dilation, c->dilation, c->groups);
    /* dx or dw alone: the two backward directions are timed apart */
    return rlkd_conv2d_backward(c->ctx, c->dx, c->dw, NULL, c->dy, c->x, c->w,
                                c->stride, c->stride, c->padding, c->padding,
                                c->dilation, c->dilation, c->groups);
}

static rlkd_status bench_conv(case_tensors *tensors, const cJSON *item,
                              measure_fn measure, double *ms)
{
    conv_case c = {.ctx = tensors->ctx};
    int64_t n = json_int(item, "batch"), cin = json_int(item, "cin"),
            cout = json_int(item, "cout"), kernel = json_int(item, "kernel");
    int64_t ho = 0, wo = 0;
    c.direction = json_string(item, "direction");
    c.stride = json_int(item, "stride");
    c.padding = json_int(item, "padding");
    c.dilation = json_int(item, "dilation");
    c.groups = json_int(item, "groups");
    if (!case_ok(tensors, rlkd_window_output_size(&ho, json_int(item, "h"), (int)kernel,
                                                  c.stride, c.padding, c.dilation)) ||
        !case_ok(tensors, rlkd_window_output_size(&wo, json_int(item, "w"), (int)kernel,
                                                  c.stride, c.padding, c.dilation)))
        return tensors->status;
    const int64_t x_shape[4] = {n, cin, json_int(item, "h"), json_int(item, "w")};
    const int64_t w_shape[4] = {cout, cin / c.groups, kernel, kernel};
    const int64_t y_shape[4] = {n, cout, ho, wo};
    c.x = normal_tensor(tensors, 4, x_shape, 1.0f);
    c.w = normal_tensor(tensors, 4, w_shape, 0.05f);
    if (json_int(item, "bias"))
        c.bias = normal_tensor(tensors, 1, &cout, 0.1f);
    if (is(c.direction, "forward"))
        c.y = new_tensor(tensors, RLKD_DTYPE_F32, 4, y_shape);
    else if (is(c.direction, "backward_data"))
        c.dx = new_tensor(tensors, RLKD_DTYPE_F32, 4, x_shape);
    else if (is(c.direction, "backward_filter"))
        c.dw = new_tensor(tensors, RLKD_DTYPE_F32, 4, w_shape);
    else
        fail("conv: unknown direction");
    if (!is(c.direction, "forward"))
        c.dy = normal_tensor(tensors, 4, y_shape, 1.0f);
    return tensors->status ? tensors->status
                           : measure(c.ctx, run_conv, &c, item, ms);
}

/* ---- batch norm (training) + ReLU ---------------------------------------- */

typedef struct bn_relu_case {
    rlkd_context *ctx;
    int forward;
    float momentum, eps;
    rlkd_tensor *x, *gamma, *beta, *mean, *invstd, *running_mean, *running_var;
    rlkd_tensor *bn_out, *out, *dout, *dbn_out, *dx, *dgamma, *dbeta;
} bn_relu_case;

static rlkd_status run_bn_relu(void *state)
{
    bn_relu_case *c = state;
    rlkd_status status;
    if (c->forward) {
        status = rlkd_batchnorm2d_forward(c->ctx, c->bn_out, c->mean, c->invstd,
                                          c->running_mean, c->running_var, c->x,
                                          c->gamma, c->beta, 1, c->momentum,
                                          c->eps);
        return status ? status : rlkd_relu_forward(c->ctx, c->out, c->bn_out);
    }
    status = rlkd_relu_backward(c->ctx, c->dbn_out, c->dout, c->out);
    return status ? status
                  : rlkd_batchnorm2d_backward(c->ctx, c->dx, c->dgamma, c->dbeta,
                                              c->dbn_out, c->x, c->gamma,
                                              c->mean, c->invstd, 1);
}

static rlkd_status bench_bn_relu(case_tensors *tensors, const cJSON *item,
                                 measure_fn measure, double *ms)
{
    bn_relu_case c = {.ctx = tensors->ctx};
    int64_t shape[RLKD_MAX_DIMS];
    int ndim = json_shape(item, "shape", shape);
    const char *direction = json_string(item, "direction");
    if (ndim != 4)
        fail("bn_relu: the shape must be [N,C,H,W]");
    if (!is(direction, "forward") && !is(direction, "backward"))
        fail("bn_relu: unknown direction");
    c.momentum = (float)json_number(item, "momentum");
    c.eps = (float)json_number(item, "eps");
    c.x = normal_tensor(tensors, 4, shape, 1.0f);
    c.gamma = filled_tensor(tensors, 1, &shape[1], 1.0f);
    c.beta = filled_tensor(tensors, 1, &shape[1], 0.0f);
    c.mean = new_tensor(tensors, RLKD_DTYPE_F32, 1, &shape[1]);
    c.invstd = new_tensor(tensors, RLKD_DTYPE_F32, 1, &shape[1]);
    c.running_mean = filled_tensor(tensors, 1, &shape[1], 0.0f);
    c.running_var = filled_tensor(tensors, 1, &shape[1], 1.0f);
    c.bn_out = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
    c.out = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
    /* backward reads the statistics and the ReLU output of one forward */
    c.forward = 1;
    if (tensors->status || !case_ok(tensors, run_bn_relu(&c)))
        return tensors->status;
    c.forward = is(direction, "forward");
    if (!c.forward) {
        c.dout = normal_tensor(tensors, 4, shape, 1.0f);
        c.dbn_out = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
        c.dx = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
        c.dgamma = new_tensor(tensors, RLKD_DTYPE_F32, 1, &shape[1]);
        c.dbeta = new_tensor(tensors, RLKD_DTYPE_F32, 1, &shape[1]);
    }
    return tensors->status ? tensors->status
                           : measure(c.ctx, run_bn_relu, &c, item, ms);
}

/* ---- attention and its pooling: global average pooling, SE, ECA, CBAM ---- */

typedef enum attention_module {
    MODULE_GAP, MODULE_SE, MODULE_ECA, MODULE_CBAM
} attention_module;

typedef struct attention_case {
    rlkd_context *ctx;
    attention_module module;
    int forward;
    rlkd_tensor *x, *y, *dy, *dx;
    rlkd_tensor *w1, *b1, *w2, *b2, *ws, *bs, *eca_w;
    rlkd_tensor *dw1, *db1, *dw2, *db2, *dws, *dbs, *deca_w;
} attention_case;

static rlkd_status run_attention(void *state)
{
    attention_case *c = state;
    switch (c->module) {
    case MODULE_GAP:
        return c->forward ? rlkd_global_avgpool_forward(c->ctx, c->y, c->x)
                          : rlkd_global_avgpool_backward(c->ctx, c->dx, c->dy);
    case MODULE_SE:
        return c->forward
                   ? rlkd_se_forward(c->ctx, c->y, c->x, c->w1, c->b1, c->w2, c->b2)
                   : rlkd_se_backward(c->ctx, c->dx, c->dw1, c->db1, c->dw2,
                                      c->db2, c->dy, c->x, c->w1, c->b1, c->w2,
                                      c->b2);
    case MODULE_ECA:
        return c->forward
                   ? rlkd_eca_forward(c->ctx, c->y, c->x, c->eca_w)
                   : rlkd_eca_backward(c->ctx, c->dx, c->deca_w, c->dy, c->x,
                                       c->eca_w);
    case MODULE_CBAM:
        return c->forward
                   ? rlkd_cbam_forward(c->ctx, c->y, c->x, c->w1, c->b1, c->w2,
                                       c->b2, c->ws, c->bs)
                   : rlkd_cbam_backward(c->ctx, c->dx, c->dw1, c->db1, c->dw2,
                                        c->db2, c->dws, c->dbs, c->dy, c->x,
                                        c->w1, c->b1, c->w2, c->b2, c->ws, c->bs);
    }
    return RLKD_ERR_INVALID_ARGUMENT;
}

static rlkd_status bench_attention(case_tensors *tensors, const cJSON *item,
                                   measure_fn measure, double *ms)
{
    attention_case c = {.ctx = tensors->ctx};
    int64_t shape[RLKD_MAX_DIMS];
    const char *module = json_string(item, "module");
    const char *direction = json_string(item, "direction");
    if (json_shape(item, "shape", shape) != 4)
        fail("attention: the shape must be [N,C,H,W]");
    c.forward = is(direction, "forward");
    if (!c.forward && !is(direction, "backward"))
        fail("attention: unknown direction");
    /* global average pooling's output is [N,C]; the modules' is x's shape */
    const int64_t pooled[2] = {shape[0], shape[1]};
    const int out_ndim = is(module, "gap") ? 2 : 4;
    const int64_t *out_shape = is(module, "gap") ? pooled : shape;
    c.x = normal_tensor(tensors, 4, shape, 1.0f);
    if (c.forward)
        c.y = new_tensor(tensors, RLKD_DTYPE_F32, out_ndim, out_shape);
    else {
        c.dy = normal_tensor(tensors, out_ndim, out_shape, 1.0f);
        c.dx = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
    }
    if (is(module, "gap"))
        c.module = MODULE_GAP;
    else if (is(module, "eca")) {
        const int64_t k = json_int(item, "kernel");
        c.module = MODULE_ECA;
        c.eca_w = normal_tensor(tensors, 1, &k, 0.5f);
        if (!c.forward)
            c.deca_w = new_tensor(tensors, RLKD_DTYPE_F32, 1, &k);
    } else if (is(module, "se") || is(module, "cbam")) {
        const int64_t channels = shape[1];
        int64_t hidden = channels / json_int(item, "reduction");
        if (hidden < 1)
            hidden = 1;
        const int64_t w1_shape[2] = {hidden, channels}, w2_shape[2] = {channels, hidden};
        c.module = is(module, "se") ? MODULE_SE : MODULE_CBAM;
        c.w1 = normal_tensor(tensors, 2, w1_shape, 0.1f);
        c.b1 = normal_tensor(tensors, 1, &hidden, 0.1f);
        c.w2 = normal_tensor(tensors, 2, w2_shape, 0.1f);
        c.b2 = normal_tensor(tensors, 1, &channels, 0.1f);
        if (!c.forward) {
            c.dw1 = new_tensor(tensors, RLKD_DTYPE_F32, 2, w1_shape);
            c.db1 = new_tensor(tensors, RLKD_DTYPE_F32, 1, &hidden);
            c.dw2 = new_tensor(tensors, RLKD_DTYPE_F32, 2, w2_shape);
            c.db2 = new_tensor(tensors, RLKD_DTYPE_F32, 1, &channels);
        }
        if (c.module == MODULE_CBAM) {
            const int64_t k = json_int(item, "kernel");
            const int64_t ws_shape[4] = {1, 2, k, k}, one = 1;
            c.ws = normal_tensor(tensors, 4, ws_shape, 0.1f);
            c.bs = normal_tensor(tensors, 1, &one, 0.1f);
            if (!c.forward) {
                c.dws = new_tensor(tensors, RLKD_DTYPE_F32, 4, ws_shape);
                c.dbs = new_tensor(tensors, RLKD_DTYPE_F32, 1, &one);
            }
        }
    } else
        fail("attention: unknown module");
    return tensors->status ? tensors->status
                           : measure(c.ctx, run_attention, &c, item, ms);
}

/* ---- Hinton KD loss, forward with the gradient in the same call ------------ */

typedef struct kd_loss_case {
    rlkd_context *ctx;
    rlkd_tensor *loss, *dstudent, *student, *teacher, *labels;
    float alpha, temperature;
} kd_loss_case;

static rlkd_status run_kd_loss(void *state)
{
    kd_loss_case *c = state;
    return rlkd_kd_loss_forward(c->ctx, c->loss, c->dstudent, c->student,
                                c->teacher, c->labels, c->alpha, c->temperature);
}

static rlkd_status bench_kd_loss(case_tensors *tensors, const cJSON *item,
                                 measure_fn measure, double *ms)
{
    kd_loss_case c = {.ctx = tensors->ctx};
    int64_t shape[RLKD_MAX_DIMS];
    const int64_t one = 1;
    if (json_shape(item, "shape", shape) != 2)
        fail("kd_loss: the shape must be [N,K]");
    c.alpha = (float)json_number(item, "alpha");
    c.temperature = (float)json_number(item, "temperature");
    c.student = normal_tensor(tensors, 2, shape, 3.0f);
    c.teacher = normal_tensor(tensors, 2, shape, 3.0f);
    c.labels = label_tensor(tensors, shape[0], (int)shape[1]);
    c.loss = new_tensor(tensors, RLKD_DTYPE_F32, 1, &one);
    c.dstudent = new_tensor(tensors, RLKD_DTYPE_F32, 2, shape);
    return tensors->status ? tensors->status
                           : measure(c.ctx, run_kd_loss, &c, item, ms);
}

/* ---- networks: a training step, an inference forward ---------------------- */

typedef struct net_case {
    rlkd_context *ctx;
    rlkd_net *net;
    rlkd_optimizer *optimizer;
    rlkd_tensor *images, *labels, *loss, *dlogits;
    /* distillation: fixed teacher logits (the teacher's forward is not
     * part of the student's step); NULL trains on the labels alone */
    rlkd_tensor *teacher;
    float lr, alpha, temperature;
} net_case;

static rlkd_status run_train_step(void *state)
{
    net_case *c = state;
    rlkd_tensor *logits;
    rlkd_status status = rlkd_net_zero_grad(c->net);
    if (!status)
        status = rlkd_net_forward(c->net, c->images, 1, &logits);
    if (!status)
        status = c->teacher
                     ? rlkd_kd_loss_forward(c->ctx, c->loss, c->dlogits, logits,
                                            c->teacher, c->labels, c->alpha,
                                            c->temperature)
                     : rlkd_softmax_cross_entropy_forward(c->ctx, c->loss, c->dlogits,
                                                          logits, c->labels, 0.0f);
    if (!status)
        status = rlkd_net_backward(c->net, c->dlogits, NULL);
    if (!status)
        status = rlkd_optimizer_step(c->optimizer, c->lr);
    return status;
}

static rlkd_status run_inference(void *state)
{
    net_case *c = state;
    return rlkd_net_forward(c->net, c->images, 0, NULL);
}

/* A training step's loss is "kd" (the Hinton loss against fixed teacher
 * logits, with "alpha" and "temperature") or, without a "loss" field,
 * softmax cross-entropy. */
static rlkd_status bench_net(case_tensors *tensors, const cJSON *item, int train,
                             measure_fn measure, double *ms)
{
    net_case c = {.ctx = tensors->ctx};
    int64_t input[RLKD_MAX_DIMS];
    const int64_t n = json_int(item, "batch"), classes = json_int(item, "classes"),
                  one = 1;
    const int64_t logits_shape[2] = {n, classes};
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(item, "loss");
    if (json_shape(item, "input", input) != 3)
        fail("a network case's input must be [C,H,W]");
    if (loss && !(cJSON_IsString(loss) && is(loss->valuestring, "kd")))
        fail("a training step's loss must be \"kd\" (or absent: cross-entropy)");
    const int64_t images_shape[4] = {n, input[0], input[1], input[2]};
    if (!case_ok(tensors, rlkd_net_load(c.ctx, json_string(item, "path"), &c.net)))
        return tensors->status;
    c.images = normal_tensor(tensors, 4, images_shape, 1.0f);
    if (train) {
        rlkd_optimizer_options options;
        rlkd_optimizer_options_init(&options);
        options.kind = RLKD_OPTIMIZER_SGD;
        options.momentum = (float)json_number(item, "momentum");
        options.weight_decay = (float)json_number(item, "weight_decay");
        case_ok(tensors, rlkd_optimizer_create(c.net, &options, &c.optimizer));
        c.lr = (float)json_number(item, "lr");
        c.labels = label_tensor(tensors, n, (int)classes);
        c.loss = new_tensor(tensors, RLKD_DTYPE_F32, 1, &one);
        c.dlogits = new_tensor(tensors, RLKD_DTYPE_F32, 2, logits_shape);
        if (loss) {
            c.teacher = normal_tensor(tensors, 2, logits_shape, 3.0f);
            c.alpha = (float)json_number(item, "alpha");
            c.temperature = (float)json_number(item, "temperature");
        }
    }
    rlkd_status status = tensors->status;
    if (!status)
        status = measure(c.ctx, train ? run_train_step : run_inference, &c, item, ms);
    rlkd_optimizer_destroy(c.optimizer);
    rlkd_net_destroy(c.net);
    return status;
}

/* ---- one case ---------------------------------------------------------------- */

/* Runs and times one case of the file on tensors->ctx: its time in *ms, or
 * the status of the rlkd call that failed. Frees the case's tensors. */
static rlkd_status bench_case(case_tensors *tensors, const cJSON *item,
                              measure_fn measure, double *ms)
{
    const char *kind = json_string(item, "kind");
    rlkd_status status;
    tensors->status = RLKD_OK;
    if (is(kind, "conv"))
        status = bench_conv(tensors, item, measure, ms);
    else if (is(kind, "bn_relu"))
        status = bench_bn_relu(tensors, item, measure, ms);
    else if (is(kind, "attention"))
        status = bench_attention(tensors, item, measure, ms);
    else if (is(kind, "kd_loss"))
        status = bench_kd_loss(tensors, item, measure, ms);
    else if (is(kind, "train_step") || is(kind, "inference"))
        status = bench_net(tensors, item, is(kind, "train_step"), measure, ms);
    else
        fail("unknown case kind");
    destroy_tensors(tensors);
    return status;
}

#endif
