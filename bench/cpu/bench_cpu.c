/*
 * bench_cpu - times rlkd's CPU backend on the cases of bench/cpu/cases.py.
 *
 *   bench_cpu [--threads N] [--min-time S] cases.json > rlkd.jsonl
 *
 * For each case: inputs from the context's random stream, 2 warm-up runs,
 * then timed runs until at least S seconds (a case's "min_time_s" overrides
 * it) and at least 3 runs; prints the fastest as {"id": ..., "ms": ...}:
 * on a shared machine the other runs measure the neighbours too.
 * Progress goes to stderr. Any failing call ends the program with status 1
 * and rlkd_last_error().
 */
#define BENCH_NAME "bench_cpu"
#include "../bench.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARMUP_RUNS 2
#define MIN_RUNS 3
/* Runs of one case at most: tiny ops stop here. */
#define MAX_RUNS 20000
#define MAX_CASE_TENSORS 24

static void fail(const char *what)
{
    fprintf(stderr, "bench_cpu: %s\n", what);
    exit(1);
}

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

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* ---- tensors of one case, destroyed together ---------------------------- */

typedef struct case_tensors {
    rlkd_context *ctx;
    rlkd_tensor *list[MAX_CASE_TENSORS];
    int count;
} case_tensors;

static rlkd_tensor *new_tensor(case_tensors *tensors, rlkd_dtype dtype, int ndim,
                               const int64_t *shape)
{
    rlkd_tensor *t;
    if (tensors->count == MAX_CASE_TENSORS)
        fail("too many tensors in one case (raise MAX_CASE_TENSORS)");
    check(rlkd_tensor_create(tensors->ctx, dtype, ndim, shape, &t),
          "rlkd_tensor_create");
    tensors->list[tensors->count++] = t;
    return t;
}

static rlkd_tensor *normal_tensor(case_tensors *tensors, int ndim,
                                  const int64_t *shape, float stddev)
{
    rlkd_tensor *t = new_tensor(tensors, RLKD_DTYPE_F32, ndim, shape);
    check(rlkd_tensor_fill_normal(t, 0.0f, stddev), "rlkd_tensor_fill_normal");
    return t;
}

static rlkd_tensor *filled_tensor(case_tensors *tensors, int ndim,
                                  const int64_t *shape, float value)
{
    rlkd_tensor *t = new_tensor(tensors, RLKD_DTYPE_F32, ndim, shape);
    check(rlkd_tensor_fill(t, value), "rlkd_tensor_fill");
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
    check(rlkd_tensor_write_i32(t, labels, (size_t)n), "rlkd_tensor_write_i32");
    free(labels);
    return t;
}

static void destroy_tensors(case_tensors *tensors)
{
    for (int i = 0; i < tensors->count; i++)
        rlkd_tensor_destroy(tensors->list[i]);
    tensors->count = 0;
}

/* ---- timing -------------------------------------------------------------- */

/* One run of a case; `state` is the case's own struct. */
typedef rlkd_status (*run_fn)(void *state);

/* The fastest run's time in ms. */
static double measure(run_fn run, void *state, const char *id,
                      double min_time_s)
{
    int runs = 0;
    double started, elapsed = 0.0, fastest = 0.0;
    for (int i = 0; i < WARMUP_RUNS; i++)
        check(run(state), id);
    started = now_s();
    while ((runs < MIN_RUNS || elapsed < min_time_s) && runs < MAX_RUNS) {
        double t0 = now_s();
        check(run(state), id);
        const double t = now_s() - t0;
        if (runs++ == 0 || t < fastest)
            fastest = t;
        elapsed = now_s() - started;
    }
    return 1e3 * fastest;
}

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
    return rlkd_conv2d_backward(c->ctx, c->dx, c->dw, NULL, c->dy, c->x, c->w,
                                c->stride, c->stride, c->padding, c->padding,
                                c->dilation, c->dilation, c->groups);
}

static double bench_conv(case_tensors *tensors, const cJSON *item,
                         double min_time_s)
{
    conv_case c = {.ctx = tensors->ctx};
    int64_t n = json_int(item, "batch"), cin = json_int(item, "cin"),
            cout = json_int(item, "cout"), kernel = json_int(item, "kernel");
    int64_t ho, wo;
    c.direction = json_string(item, "direction");
    c.stride = json_int(item, "stride");
    c.padding = json_int(item, "padding");
    c.dilation = json_int(item, "dilation");
    c.groups = json_int(item, "groups");
    check(rlkd_window_output_size(&ho, json_int(item, "h"), (int)kernel, c.stride,
                                  c.padding, c.dilation), "rlkd_window_output_size");
    check(rlkd_window_output_size(&wo, json_int(item, "w"), (int)kernel, c.stride,
                                  c.padding, c.dilation), "rlkd_window_output_size");
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
    if (!c.y)
        c.dy = normal_tensor(tensors, 4, y_shape, 1.0f);
    return measure(run_conv, &c, json_string(item, "id"), min_time_s);
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

static double bench_bn_relu(case_tensors *tensors, const cJSON *item,
                            double min_time_s)
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
    check(run_bn_relu(&c), "bn_relu: forward before backward");
    c.forward = is(direction, "forward");
    if (!c.forward) {
        c.dout = normal_tensor(tensors, 4, shape, 1.0f);
        c.dbn_out = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
        c.dx = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
        c.dgamma = new_tensor(tensors, RLKD_DTYPE_F32, 1, &shape[1]);
        c.dbeta = new_tensor(tensors, RLKD_DTYPE_F32, 1, &shape[1]);
    }
    return measure(run_bn_relu, &c, json_string(item, "id"), min_time_s);
}

/* ---- channel attention: SE, ECA, CBAM ------------------------------------ */

typedef enum attention_module { MODULE_SE, MODULE_ECA, MODULE_CBAM } attention_module;

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

static double bench_attention(case_tensors *tensors, const cJSON *item,
                              double min_time_s)
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
    c.x = normal_tensor(tensors, 4, shape, 1.0f);
    if (c.forward)
        c.y = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
    else {
        c.dy = normal_tensor(tensors, 4, shape, 1.0f);
        c.dx = new_tensor(tensors, RLKD_DTYPE_F32, 4, shape);
    }
    if (is(module, "eca")) {
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
    return measure(run_attention, &c, json_string(item, "id"), min_time_s);
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

static double bench_kd_loss(case_tensors *tensors, const cJSON *item,
                            double min_time_s)
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
    return measure(run_kd_loss, &c, json_string(item, "id"), min_time_s);
}

/* ---- networks: a training step, an inference forward ---------------------- */

typedef struct net_case {
    rlkd_context *ctx;
    rlkd_net *net;
    rlkd_optimizer *optimizer;
    rlkd_tensor *images, *labels, *loss, *dlogits;
    float lr;
} net_case;

static rlkd_status run_train_step(void *state)
{
    net_case *c = state;
    rlkd_tensor *logits;
    rlkd_status status = rlkd_net_zero_grad(c->net);
    if (!status)
        status = rlkd_net_forward(c->net, c->images, 1, &logits);
    if (!status)
        status = rlkd_softmax_cross_entropy_forward(c->ctx, c->loss, c->dlogits,
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

static double bench_net(case_tensors *tensors, const cJSON *item, int train,
                        double min_time_s)
{
    net_case c = {.ctx = tensors->ctx};
    int64_t input[RLKD_MAX_DIMS];
    const int64_t n = json_int(item, "batch"), classes = json_int(item, "classes"),
                  one = 1;
    const int64_t logits_shape[2] = {n, classes};
    double ms;
    if (json_shape(item, "input", input) != 3)
        fail("a network case's input must be [C,H,W]");
    const int64_t images_shape[4] = {n, input[0], input[1], input[2]};
    check(rlkd_net_load(c.ctx, json_string(item, "path"), &c.net), "rlkd_net_load");
    c.images = normal_tensor(tensors, 4, images_shape, 1.0f);
    if (train) {
        rlkd_optimizer_options options;
        rlkd_optimizer_options_init(&options);
        options.kind = RLKD_OPTIMIZER_SGD;
        options.momentum = (float)json_number(item, "momentum");
        options.weight_decay = (float)json_number(item, "weight_decay");
        check(rlkd_optimizer_create(c.net, &options, &c.optimizer),
              "rlkd_optimizer_create");
        c.lr = (float)json_number(item, "lr");
        c.labels = label_tensor(tensors, n, (int)classes);
        c.loss = new_tensor(tensors, RLKD_DTYPE_F32, 1, &one);
        c.dlogits = new_tensor(tensors, RLKD_DTYPE_F32, 2, logits_shape);
    }
    ms = measure(train ? run_train_step : run_inference, &c,
                 json_string(item, "id"), min_time_s);
    rlkd_optimizer_destroy(c.optimizer);
    rlkd_net_destroy(c.net);
    return ms;
}

/* ---- main ------------------------------------------------------------------ */

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

static void usage(void)
{
    fprintf(stderr, "usage: bench_cpu [--threads N] [--min-time S] cases.json > rlkd.jsonl\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int threads = 0;
    double min_time_s = 0.5;
    const char *cases_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (is(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (is(argv[i], "--min-time") && i + 1 < argc)
            min_time_s = atof(argv[++i]);
        else if (argv[i][0] != '-' && !cases_path)
            cases_path = argv[i];
        else
            usage();
    }
    if (!cases_path || threads < 0 || min_time_s < 0)
        usage();

    char *text = read_file(cases_path);
    if (!text)
        fail("cannot read the case file");
    cJSON *cases = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(cases))
        fail("the case file is not a JSON array");

    rlkd_context *ctx;
    check(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0), "rlkd_context_create");
    check(rlkd_context_set_seed(ctx, 0), "rlkd_context_set_seed");
    if (threads > 0)
        check(rlkd_context_set_num_threads(ctx, threads),
              "rlkd_context_set_num_threads");
    check(rlkd_context_get_num_threads(ctx, &threads), "rlkd_context_get_num_threads");
    fprintf(stderr, "bench_cpu: rlkd %s, %d threads, %d cases\n",
            rlkd_version_string(), threads, cJSON_GetArraySize(cases));

    const cJSON *item;
    int index = 0;
    cJSON_ArrayForEach(item, cases) {
        case_tensors tensors = {.ctx = ctx};
        const char *id = json_string(item, "id"), *kind = json_string(item, "kind");
        const cJSON *case_min_time = cJSON_GetObjectItemCaseSensitive(item, "min_time_s");
        double case_min_time_s =
            cJSON_IsNumber(case_min_time) ? case_min_time->valuedouble : min_time_s;
        double ms;
        fprintf(stderr, "[%d/%d] %s\n", ++index, cJSON_GetArraySize(cases), id);
        if (is(kind, "conv"))
            ms = bench_conv(&tensors, item, case_min_time_s);
        else if (is(kind, "bn_relu"))
            ms = bench_bn_relu(&tensors, item, case_min_time_s);
        else if (is(kind, "attention"))
            ms = bench_attention(&tensors, item, case_min_time_s);
        else if (is(kind, "kd_loss"))
            ms = bench_kd_loss(&tensors, item, case_min_time_s);
        else if (is(kind, "train_step") || is(kind, "inference"))
            ms = bench_net(&tensors, item, is(kind, "train_step"),
                           case_min_time_s);
        else
            fail("unknown case kind");
        destroy_tensors(&tensors);

        cJSON *line = cJSON_CreateObject();
        char *printed;
        if (!line || !cJSON_AddStringToObject(line, "id", id) ||
            !cJSON_AddNumberToObject(line, "ms", ms) ||
            !(printed = cJSON_PrintUnformatted(line)))
            fail("out of memory");
        printf("%s\n", printed);
        fflush(stdout);
        cJSON_free(printed);
        cJSON_Delete(line);
    }

    rlkd_context_destroy(ctx);
    cJSON_Delete(cases);
    return 0;
}
