/*
 * The network graph: building it layer by layer, its named parameters and
 * buffers, and its costs. Forward and backward live in net_run.c.
 */
#include "net_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[RLKD_LAYER_KIND_COUNT] = {
    [RLKD_LAYER_CONV2D] = "conv2d",
    [RLKD_LAYER_BATCHNORM2D] = "batchnorm2d",
    [RLKD_LAYER_RELU] = "relu",
    [RLKD_LAYER_MAXPOOL2D] = "maxpool2d",
    [RLKD_LAYER_AVGPOOL2D] = "avgpool2d",
    [RLKD_LAYER_GLOBAL_AVGPOOL] = "global_avgpool",
    [RLKD_LAYER_LINEAR] = "linear",
    [RLKD_LAYER_DROPOUT] = "dropout",
    [RLKD_LAYER_ADD] = "add",
    [RLKD_LAYER_CONCAT] = "concat",
    [RLKD_LAYER_SE] = "se",
    [RLKD_LAYER_ECA] = "eca",
    [RLKD_LAYER_CBAM] = "cbam",
};

const char *rlkd_layer_kind_name(rlkd_layer_kind kind)
{
    return (unsigned)kind < RLKD_LAYER_KIND_COUNT ? kind_names[kind] : "unknown";
}

rlkd_layer_kind rlkd_layer_kind_from_name(const char *name)
{
    for (int kind = 0; kind < RLKD_LAYER_KIND_COUNT; kind++)
        if (name && strcmp(name, kind_names[kind]) == 0)
            return (rlkd_layer_kind)kind;
    return RLKD_LAYER_KIND_COUNT;
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* Grows *array (of `size`-byte elements) to hold `needed` elements. */
static rlkd_status reserve(void **array, int *capacity, int needed,
                           size_t size, const char *op)
{
    if (needed <= *capacity)
        return RLKD_OK;
    int grown = *capacity ? *capacity * 2 : 16;
    while (grown < needed)
        grown *= 2;
    void *bigger = realloc(*array, (size_t)grown * size);
    if (!bigger)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    *array = bigger;
    *capacity = grown;
    return RLKD_OK;
}

/* Every node must fit a tensor for one image ([1, C, H, W] of at most
 * 2^31 - 1 elements): forward makes [N, C, H, W] activations of it. This
 * also bounds the costs: a layer's MACs are at most its output's size times
 * its weight tensor's, below 2^62. */
static rlkd_status expect_node_size(rlkd_status status, const char *op,
                                    const char *layer, int64_t c, int64_t h,
                                    int64_t w)
{
    int64_t values;
    if (rlkd_size_mul(c, h, INT32_MAX, &values) &&
        rlkd_size_mul(values, w, INT32_MAX, &values))
        return RLKD_OK;
    return rlkd_fail(status,
                     "%s: %s%s%s of %lld x %lld x %lld values per image is "
                     "over the 2^31 - 1 elements of a tensor", op,
                     layer ? "the output of layer \"" : "the input",
                     layer ? layer : "", layer ? "\"" : "", (long long)c,
                     (long long)h, (long long)w);
}

rlkd_status rlkd_net_create(rlkd_context *ctx, int channels, int height,
                            int width, rlkd_net **out)
{
    static const char op[] = "rlkd_net_create";
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_expect_at_least(op, "channels", channels, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "height", height, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "width", width, 1));
    RLKD_TRY(expect_node_size(RLKD_ERR_INVALID_ARGUMENT, op, NULL, channels,
                              height, width));
    rlkd_net *net = calloc(1, sizeof *net);
    if (!net)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    net->ctx = ctx;
    net->in_c = channels;
    net->in_h = height;
    net->in_w = width;
    net->value_limit = INT64_MAX;
    *out = net;
    return RLKD_OK;
}

static void free_named(rlkd_named_tensor *list, int count)
{
    for (int i = 0; i < count; i++) {
        free(list[i].name);
        rlkd_tensor_destroy(list[i].value);
        rlkd_tensor_destroy(list[i].grad);
    }
}

static void free_layer(rlkd_layer *layer)
{
    free(layer->name);
    free(layer->inputs);
    rlkd_tensor_destroy(layer->save_mean);
    rlkd_tensor_destroy(layer->save_invstd);
    rlkd_tensor_destroy(layer->dropout_mask);
}

void rlkd_net_destroy(rlkd_net *net)
{
    if (!net)
        return;
    rlkd_net_release_activations(net);
    rlkd_prune_state_free(net->prune);
    for (int i = 0; i < net->layer_count; i++)
        free_layer(&net->layers[i]);
    free(net->layers);
    free_named(net->params, net->param_count);
    free(net->params);
    free_named(net->buffers, net->buffer_count);
    free(net->buffers);
    free(net);
}

/* ---- building one layer ---- */

/* What a layer under construction has made so far: freed whole if the
 * layer fails, handed to the network if it succeeds. */
typedef struct pending_layer {
    rlkd_layer layer;
    rlkd_named_tensor tensors[8];
    int is_param[8];
    int tensor_count;
    int randomise;  /* draw initial weights (not when a file follows) */
} pending_layer;

static void discard_pending(pending_layer *p)
{
    free_named(p->tensors, p->tensor_count);
    free_layer(&p->layer);
}

/* Adds "<layer>.<suffix>" of the given shape to the pending layer:
 * a parameter (with a zeroed gradient) or a buffer. */
static rlkd_status add_tensor(rlkd_net *net, pending_layer *p,
                              const char *suffix, int is_param,
                              rlkd_dtype dtype, int ndim, const int64_t *shape,
                              rlkd_tensor **made)
{
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++)
        if (!rlkd_size_mul(numel, shape[d], INT64_MAX, &numel))
            numel = INT64_MAX;
    if (numel > net->value_limit - net->values_made)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_net_add: layer \"%s\": its tensor \"%s\" of "
                         "%lld values would take the network past the %lld "
                         "values its file's data can hold", p->layer.name,
                         suffix, (long long)numel,
                         (long long)net->value_limit);
    net->values_made += numel;
    rlkd_named_tensor *t = &p->tensors[p->tensor_count];
    memset(t, 0, sizeof *t);
    size_t length = strlen(p->layer.name) + strlen(suffix) + 2;
    t->name = malloc(length);
    if (!t->name)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_net_add: out of host memory");
    snprintf(t->name, length, "%s.%s", p->layer.name, suffix);
    p->is_param[p->tensor_count] = is_param;
    p->tensor_count++;
    RLKD_TRY(rlkd_tensor_create(net->ctx, dtype, ndim, shape, &t->value));
    if (is_param)
        RLKD_TRY(rlkd_tensor_create(net->ctx, dtype, ndim, shape, &t->grad));
    if (made)
        *made = t->value;
    return RLKD_OK;
}

static rlkd_status add_param_uniform(rlkd_net *net, pending_layer *p,
                                     const char *suffix, int ndim,
                                     const int64_t *shape, double fan_in)
{
    rlkd_tensor *t;
    RLKD_TRY(add_tensor(net, p, suffix, 1, RLKD_DTYPE_F32, ndim, shape, &t));
    if (!p->randomise)
        return RLKD_OK;
    float bound = (float)(1.0 / sqrt(fan_in));
    return rlkd_tensor_fill_uniform(t, -bound, bound);
}

/* The shared MLP of SE and CBAM: fc1 [hidden, C], fc2 [C, hidden]. */
static rlkd_status add_attention_mlp(rlkd_net *net, pending_layer *p, int c,
                                     int hidden)
{
    const int64_t w1[2] = {hidden, c}, b1[1] = {hidden};
    const int64_t w2[2] = {c, hidden}, b2[1] = {c};
    RLKD_TRY(add_param_uniform(net, p, "fc1.weight", 2, w1, c));
    RLKD_TRY(add_param_uniform(net, p, "fc1.bias", 1, b1, c));
    RLKD_TRY(add_param_uniform(net, p, "fc2.weight", 2, w2, hidden));
    RLKD_TRY(add_param_uniform(net, p, "fc2.bias", 1, b2, hidden));
    return RLKD_OK;
}

/* The output size of a square window along one axis, or a failure that
 * names the layer. */
static rlkd_status window_size(const char *op, const char *name, int in,
                               int kernel, int stride, int pad, int dilation,
                               int *out)
{
    int64_t size;
    rlkd_status status =
        rlkd_window_output_size(&size, in, kernel, stride, pad, dilation);
    if (status != RLKD_OK) {
        /* rlkd_fail writes the buffer rlkd_last_error() returns: copy the
         * window's message out first (overlapping vsnprintf is undefined). */
        char reason[256];
        snprintf(reason, sizeof reason, "%s", rlkd_last_error());
        return rlkd_fail(status, "%s: layer \"%s\": %s", op, name, reason);
    }
    /* Padding can make the output larger than any int: refused, not cut. */
    if (size > INT_MAX)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: layer \"%s\": its output size %lld is over %d",
                         op, name, (long long)size, INT_MAX);
    *out = (int)size;
    return RLKD_OK;
}

static rlkd_status expect_spatial(const char *op, const rlkd_layer *layer,
                                  const rlkd_layer *input_layer)
{
    if (input_layer && input_layer->flat)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: layer \"%s\" needs an [N,C,H,W] input, but "
                         "\"%s\" is flat [N,C]", op, layer->name,
                         input_layer->name);
    return RLKD_OK;
}

static rlkd_status expect_pool_padding(const char *op, const rlkd_layer *l)
{
    if (l->spec.padding < 0 || l->spec.padding > l->spec.kernel / 2)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: layer \"%s\": padding %d must be in [0, "
                         "kernel/2 = %d]", op, l->name, l->spec.padding,
                         l->spec.kernel / 2);
    return RLKD_OK;
}

/* Output shape, parameters and cost of the layer, from its inputs. */
static rlkd_status shape_layer(rlkd_net *net, pending_layer *p, const char *op)
{
    rlkd_layer *l = &p->layer;
    const rlkd_layer_spec *s = &l->spec;
    const int first = l->inputs[0];
    const rlkd_layer *in_layer = first > 0 ? &net->layers[first - 1] : NULL;
    int c, h, w;
    rlkd_net_node_dims(net, first, &c, &h, &w);
    l->out_c = c;
    l->out_h = h;
    l->out_w = w;
    l->flat = in_layer ? in_layer->flat : 0;

    switch (s->kind) {
    case RLKD_LAYER_CONV2D: {
        RLKD_TRY(expect_spatial(op, l, in_layer));
        RLKD_TRY(rlkd_expect_at_least(op, "out_channels", s->out_channels, 1));
        RLKD_TRY(rlkd_expect_at_least(op, "groups", s->groups, 1));
        if (c % s->groups || s->out_channels % s->groups)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: layer \"%s\": groups %d must divide the "
                             "input channels %d and out_channels %d", op,
                             l->name, s->groups, c, s->out_channels);
        RLKD_TRY(window_size(op, l->name, h, s->kernel, s->stride, s->padding,
                             s->dilation, &l->out_h));
        RLKD_TRY(window_size(op, l->name, w, s->kernel, s->stride, s->padding,
                             s->dilation, &l->out_w));
        l->out_c = s->out_channels;
        RLKD_TRY(expect_node_size(RLKD_ERR_SHAPE, op, l->name, l->out_c,
                                  l->out_h, l->out_w));
        const int64_t shape[4] = {s->out_channels, c / s->groups, s->kernel,
                                  s->kernel};
        rlkd_tensor *weight;
        RLKD_TRY(add_tensor(net, p, "weight", 1, RLKD_DTYPE_F32, 4, shape,
                            &weight));
        /* Kaiming normal, fan_out, ReLU gain (torchvision's ResNet init);
         * the weight's own size check bounds it. */
        const int64_t fan_out = (int64_t)s->out_channels * s->kernel * s->kernel;
        if (p->randomise)
            RLKD_TRY(rlkd_tensor_fill_normal(
                weight, 0.0f, (float)sqrt(2.0 / (double)fan_out)));
        if (s->bias) {
            const int64_t bias_shape[1] = {s->out_channels};
            RLKD_TRY(add_tensor(net, p, "bias", 1, RLKD_DTYPE_F32, 1,
                                bias_shape, NULL));
        }
        l->macs = (int64_t)l->out_c * l->out_h * l->out_w * (c / s->groups) *
                  s->kernel * s->kernel;
        break;
    }
    case RLKD_LAYER_BATCHNORM2D: {
        RLKD_TRY(expect_spatial(op, l, in_layer));
        RLKD_TRY(rlkd_expect_finite_above(op, "eps", s->eps, 0.0f));
        if (!(s->momentum >= 0.0f && s->momentum <= 1.0f))
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: layer \"%s\": momentum must be in [0,1], "
                             "got %g", op, l->name, (double)s->momentum);
        const int64_t shape[1] = {c}, one[1] = {1};
        rlkd_tensor *t;
        RLKD_TRY(add_tensor(net, p, "weight", 1, RLKD_DTYPE_F32, 1, shape, &t));
        RLKD_TRY(rlkd_tensor_fill(t, 1.0f));
        RLKD_TRY(add_tensor(net, p, "bias", 1, RLKD_DTYPE_F32, 1, shape, NULL));
        RLKD_TRY(add_tensor(net, p, "running_mean", 0, RLKD_DTYPE_F32, 1,
                            shape, NULL));
        RLKD_TRY(add_tensor(net, p, "running_var", 0, RLKD_DTYPE_F32, 1, shape,
                            &t));
        RLKD_TRY(rlkd_tensor_fill(t, 1.0f));
        RLKD_TRY(add_tensor(net, p, "num_batches_tracked", 0, RLKD_DTYPE_I32,
                            1, one, NULL));
        RLKD_TRY(rlkd_tensor_create(net->ctx, RLKD_DTYPE_F32, 1, shape,
                                    &l->save_mean));
        RLKD_TRY(rlkd_tensor_create(net->ctx, RLKD_DTYPE_F32, 1, shape,
                                    &l->save_invstd));
        break;
    }
    case RLKD_LAYER_RELU:
        break;
    case RLKD_LAYER_DROPOUT:
        RLKD_TRY(rlkd_expect_in_unit_range(op, "p", s->p));
        break;
    case RLKD_LAYER_MAXPOOL2D:
    case RLKD_LAYER_AVGPOOL2D:
        RLKD_TRY(expect_spatial(op, l, in_layer));
        RLKD_TRY(expect_pool_padding(op, l));
        RLKD_TRY(window_size(op, l->name, h, s->kernel, s->stride, s->padding,
                             1, &l->out_h));
        RLKD_TRY(window_size(op, l->name, w, s->kernel, s->stride, s->padding,
                             1, &l->out_w));
        break;
    case RLKD_LAYER_GLOBAL_AVGPOOL:
        RLKD_TRY(expect_spatial(op, l, in_layer));
        l->out_h = l->out_w = 1;
        break;
    case RLKD_LAYER_LINEAR: {
        RLKD_TRY(rlkd_expect_at_least(op, "out_features", s->out_channels, 1));
        const int64_t in_features = (int64_t)c * h * w;
        RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_SHAPE, op, "in_features",
                                      in_features));
        const int64_t shape[2] = {s->out_channels, in_features};
        const int64_t bias_shape[1] = {s->out_channels};
        RLKD_TRY(add_param_uniform(net, p, "weight", 2, shape,
                                   (double)in_features));
        if (s->bias)
            RLKD_TRY(add_param_uniform(net, p, "bias", 1, bias_shape,
                                       (double)in_features));
        l->out_c = s->out_channels;
        l->out_h = l->out_w = 1;
        l->flat = 1;
        l->macs = in_features * s->out_channels;
        break;
    }
    case RLKD_LAYER_ADD: {
        int c2, h2, w2;
        rlkd_net_node_dims(net, l->inputs[1], &c2, &h2, &w2);
        const int flat2 =
            l->inputs[1] > 0 ? net->layers[l->inputs[1] - 1].flat : 0;
        if (c2 != c || h2 != h || w2 != w || flat2 != l->flat)
            return rlkd_fail(RLKD_ERR_SHAPE,
                             "%s: layer \"%s\" adds nodes %d [%d,%d,%d] and %d "
                             "[%d,%d,%d] of different shapes", op, l->name,
                             first, c, h, w, l->inputs[1], c2, h2, w2);
        break;
    }
    case RLKD_LAYER_CONCAT: {
        int64_t total = 0;
        for (int i = 0; i < l->input_count; i++) {
            int ci, hi, wi;
            const int node = l->inputs[i];
            rlkd_net_node_dims(net, node, &ci, &hi, &wi);
            RLKD_TRY(expect_spatial(op, l, node > 0 ? &net->layers[node - 1]
                                                    : NULL));
            if (hi != h || wi != w)
                return rlkd_fail(RLKD_ERR_SHAPE,
                                 "%s: layer \"%s\": node %d is %dx%d, node %d "
                                 "%dx%d; concatenated nodes share H and W",
                                 op, l->name, node, hi, wi, first, h, w);
            total += ci;
        }
        RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_SHAPE, op, "channels", total));
        l->out_c = (int)total;
        break;
    }
    case RLKD_LAYER_SE:
    case RLKD_LAYER_CBAM: {
        RLKD_TRY(expect_spatial(op, l, in_layer));
        RLKD_TRY(rlkd_expect_at_least(op, "reduction", s->reduction, 1));
        RLKD_TRY(rlkd_expect_at_least(op, "hidden", s->hidden, 0));
        const int hidden = s->hidden ? s->hidden
                           : c / s->reduction > 1 ? c / s->reduction
                                                  : 1;
        RLKD_TRY(add_attention_mlp(net, p, c, hidden));
        /* The MLP runs once for SE, on the average and the max for CBAM. */
        const int mlp_runs = s->kind == RLKD_LAYER_CBAM ? 2 : 1;
        l->macs = (int64_t)mlp_runs * 2 * c * hidden;
        if (s->kind == RLKD_LAYER_CBAM) {
            if (s->kernel < 1 || s->kernel % 2 == 0)
                return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                                 "%s: layer \"%s\": the spatial kernel must be "
                                 "odd and >= 1, got %d", op, l->name,
                                 s->kernel);
            const int64_t shape[4] = {1, 2, s->kernel, s->kernel};
            const int64_t one[1] = {1};
            const double fan_in = 2.0 * s->kernel * s->kernel;
            RLKD_TRY(add_param_uniform(net, p, "spatial.weight", 4, shape,
                                       fan_in));
            RLKD_TRY(add_param_uniform(net, p, "spatial.bias", 1, one, fan_in));
            l->macs += (int64_t)2 * s->kernel * s->kernel * h * w;
        }
        break;
    }
    case RLKD_LAYER_ECA: {
        RLKD_TRY(expect_spatial(op, l, in_layer));
        int kernel = s->kernel ? s->kernel : rlkd_eca_kernel_size(c, 2, 1);
        if (kernel < 1 || kernel % 2 == 0)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: layer \"%s\": the ECA kernel must be odd and "
                             ">= 1, got %d", op, l->name, kernel);
        l->spec.kernel = kernel;
        /* [1, 1, k]: the ECA-Net code's Conv1d weight, so its files load. */
        const int64_t shape[3] = {1, 1, kernel};
        RLKD_TRY(add_param_uniform(net, p, "conv.weight", 3, shape, kernel));
        l->macs = (int64_t)c * kernel;
        break;
    }
    case RLKD_LAYER_KIND_COUNT:
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: unknown layer kind",
                         op);
    }
    return expect_node_size(RLKD_ERR_SHAPE, op, l->name, l->out_c, l->out_h,
                            l->out_w);
}

static int name_taken(const rlkd_net *net, const char *name)
{
    for (int i = 0; i < net->layer_count; i++)
        if (strcmp(net->layers[i].name, name) == 0)
            return 1;
    return 0;
}

/* Whether an earlier layer made a parameter or buffer called `name`. */
static int tensor_name_taken(const rlkd_net *net, const char *name)
{
    for (int i = 0; i < net->param_count; i++)
        if (strcmp(net->params[i].name, name) == 0)
            return 1;
    for (int i = 0; i < net->buffer_count; i++)
        if (strcmp(net->buffers[i].name, name) == 0)
            return 1;
    return 0;
}

static int kind_has_tensors(rlkd_layer_kind kind)
{
    return kind == RLKD_LAYER_CONV2D || kind == RLKD_LAYER_BATCHNORM2D ||
           kind == RLKD_LAYER_LINEAR || kind == RLKD_LAYER_SE ||
           kind == RLKD_LAYER_ECA || kind == RLKD_LAYER_CBAM;
}

/* add reads two nodes, concat one or more, every other kind one. */
static rlkd_status check_input_count(const char *op, rlkd_layer_kind kind,
                                     int input_count)
{
    if (kind == RLKD_LAYER_CONCAT)
        return rlkd_expect_at_least(op, "input count", input_count, 1);
    const int expected = kind == RLKD_LAYER_ADD ? 2 : 1;
    if (input_count != expected)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: a layer of kind %s reads %d node%s, got %d", op,
                         rlkd_layer_kind_name(kind), expected,
                         expected == 1 ? "" : "s", input_count);
    return RLKD_OK;
}

static rlkd_status check_inputs(const rlkd_net *net, const char *op,
                                const int *inputs, int input_count)
{
    if (!inputs)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: inputs is NULL", op);
    for (int i = 0; i < input_count; i++) {
        if (inputs[i] < 0 || inputs[i] > net->layer_count)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: input node %d does not exist (the network "
                             "has nodes 0..%d)", op, inputs[i],
                             net->layer_count);
        /* Backward gives each input its own gradient slot. */
        for (int j = 0; j < i; j++)
            if (inputs[j] == inputs[i])
                return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                                 "%s: node %d is given twice as an input", op,
                                 inputs[i]);
    }
    return RLKD_OK;
}

rlkd_status rlkd_net_append(rlkd_net *net, int *node, const char *name,
                            const int *inputs, int input_count,
                            const rlkd_layer_spec *spec, int randomise)
{
    static const char op[] = "rlkd_net_add";
    if (!net)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: net is NULL", op);
    if (!spec || (unsigned)spec->kind >= RLKD_LAYER_KIND_COUNT)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: unknown layer kind",
                         op);
    RLKD_TRY(check_input_count(op, spec->kind, input_count));
    RLKD_TRY(check_inputs(net, op, inputs, input_count));
    if (!name && kind_has_tensors(spec->kind))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: a %s layer needs a name (its tensors are named "
                         "after it)", op, rlkd_layer_kind_name(spec->kind));
    if (name && (!name[0] || name_taken(net, name)))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: layer name \"%s\" is %s", op, name,
                         name[0] ? "taken" : "empty");
    /* Trainer checkpoints keep optimiser state beside the network's tensors
     * under RLKD_OPTIMIZER_STATE_PREFIX, which network loads pass over: no
     * layer's tensor may even look like it (the prefix without its dot). */
    if (name && strncmp(name, RLKD_OPTIMIZER_STATE_PREFIX,
                        strlen(RLKD_OPTIMIZER_STATE_PREFIX) - 1) == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: layer name \"%s\" starts with \"%.*s\", which "
                         "trainer checkpoints reserve for optimiser state",
                         op, name, (int)strlen(RLKD_OPTIMIZER_STATE_PREFIX) - 1,
                         RLKD_OPTIMIZER_STATE_PREFIX);
    /* '#' keeps generated names apart from torchvision-style ones, and
     * "<kind>#<node>" is unique by its node: so a given name may contain
     * '#' only when it is this layer's own generated name (as a saved
     * architecture passes it back), or a later unnamed layer could get a
     * name taken already. */
    char generated[48];
    snprintf(generated, sizeof generated, "%s#%d",
             rlkd_layer_kind_name(spec->kind), net->layer_count + 1);
    if (name && strchr(name, '#') && strcmp(name, generated) != 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: layer name \"%s\" contains '#', which only "
                         "generated names have (this layer's is \"%s\")",
                         op, name, generated);
    if (!name)
        name = generated;
    RLKD_TRY(reserve((void **)&net->layers, &net->layer_capacity,
                     net->layer_count + 1, sizeof *net->layers, op));

    pending_layer p;
    memset(&p, 0, sizeof p);
    p.randomise = randomise;
    p.layer.spec = *spec;
    p.layer.name = copy_string(name);
    p.layer.inputs = malloc((size_t)input_count * sizeof *p.layer.inputs);
    if (!p.layer.name || !p.layer.inputs) {
        discard_pending(&p);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    }
    memcpy(p.layer.inputs, inputs, (size_t)input_count * sizeof *inputs);
    p.layer.input_count = input_count;

    int params = 0, buffers = 0;
    rlkd_status status = shape_layer(net, &p, op);
    /* Layer names are unique, but "a.fc1" + ".weight" and SE "a" +
     * ".fc1.weight" are one tensor name: find and checkpoints need each
     * name once. */
    for (int i = 0; status == RLKD_OK && i < p.tensor_count; i++)
        if (tensor_name_taken(net, p.tensors[i].name))
            status = rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                               "%s: layer \"%s\" would make tensor \"%s\", "
                               "but that name is taken by an earlier layer",
                               op, p.layer.name, p.tensors[i].name);
    for (int i = 0; i < p.tensor_count; i++)
        p.is_param[i] ? params++ : buffers++;
    if (status == RLKD_OK)
        status = reserve((void **)&net->params, &net->param_capacity,
                         net->param_count + params, sizeof *net->params, op);
    if (status == RLKD_OK)
        status = reserve((void **)&net->buffers, &net->buffer_capacity,
                         net->buffer_count + buffers, sizeof *net->buffers, op);
    if (status != RLKD_OK) {
        discard_pending(&p);
        return status;
    }

    /* Activations are sized for the old graph: remake them on next use. */
    rlkd_net_release_activations(net);
    rlkd_layer *layer = &net->layers[net->layer_count];
    *layer = p.layer;
    layer->param_first = net->param_count;
    layer->buffer_first = net->buffer_count;
    for (int i = 0; i < p.tensor_count; i++) {
        if (p.is_param[i]) {
            net->params[net->param_count++] = p.tensors[i];
            layer->params += p.tensors[i].value->numel;
        } else {
            net->buffers[net->buffer_count++] = p.tensors[i];
        }
    }
    layer->param_count = params;
    layer->buffer_count = buffers;
    net->layer_count++;
    /* The channel groups change with the graph: derived again when next
     * asked for, with every channel kept. */
    rlkd_prune_state_free(net->prune);
    net->prune = NULL;
    if (node)
        *node = net->layer_count;
    return RLKD_OK;
}

/* ---- the public builder calls: each fills a spec ---- */

static rlkd_status append_one(rlkd_net *net, int *node, const char *name,
                              int input, const rlkd_layer_spec *spec)
{
    return rlkd_net_append(net, node, name, &input, 1, spec, 1);
}

rlkd_status rlkd_net_add_conv2d(rlkd_net *net, int *node, const char *name,
                                int input, int out_channels, int kernel,
                                int stride, int padding, int dilation,
                                int groups, int bias)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_CONV2D,
                                  .out_channels = out_channels,
                                  .kernel = kernel, .stride = stride,
                                  .padding = padding, .dilation = dilation,
                                  .groups = groups, .bias = bias != 0};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_batchnorm2d(rlkd_net *net, int *node,
                                     const char *name, int input, float eps,
                                     float momentum)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_BATCHNORM2D, .eps = eps,
                                  .momentum = momentum};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_relu(rlkd_net *net, int *node, const char *name,
                              int input)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_RELU};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_maxpool2d(rlkd_net *net, int *node, const char *name,
                                   int input, int kernel, int stride,
                                   int padding)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_MAXPOOL2D,
                                  .kernel = kernel, .stride = stride,
                                  .padding = padding};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_avgpool2d(rlkd_net *net, int *node, const char *name,
                                   int input, int kernel, int stride,
                                   int padding, int count_include_pad)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_AVGPOOL2D,
                                  .kernel = kernel, .stride = stride,
                                  .padding = padding,
                                  .count_include_pad = count_include_pad != 0};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_global_avgpool(rlkd_net *net, int *node,
                                        const char *name, int input)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_GLOBAL_AVGPOOL};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_linear(rlkd_net *net, int *node, const char *name,
                                int input, int out_features, int bias)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_LINEAR,
                                  .out_channels = out_features,
                                  .bias = bias != 0};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_dropout(rlkd_net *net, int *node, const char *name,
                                 int input, float p)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_DROPOUT, .p = p};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_add(rlkd_net *net, int *node, const char *name,
                             int input_a, int input_b)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_ADD};
    const int inputs[2] = {input_a, input_b};
    return rlkd_net_append(net, node, name, inputs, 2, &spec, 1);
}

rlkd_status rlkd_net_add_concat(rlkd_net *net, int *node, const char *name,
                                const int *inputs, int count)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_CONCAT};
    return rlkd_net_append(net, node, name, inputs, count, &spec, 1);
}

rlkd_status rlkd_net_add_se(rlkd_net *net, int *node, const char *name,
                            int input, int reduction)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_SE,
                                  .reduction = reduction};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_eca(rlkd_net *net, int *node, const char *name,
                             int input, int kernel)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_ECA, .kernel = kernel};
    return append_one(net, node, name, input, &spec);
}

rlkd_status rlkd_net_add_cbam(rlkd_net *net, int *node, const char *name,
                              int input, int reduction, int kernel)
{
    const rlkd_layer_spec spec = {.kind = RLKD_LAYER_CBAM,
                                  .reduction = reduction, .kernel = kernel};
    return append_one(net, node, name, input, &spec);
}

/* ---- queries ---- */

void rlkd_net_node_dims(const rlkd_net *net, int node, int *c, int *h, int *w)
{
    if (node == 0) {
        *c = net->in_c;
        *h = net->in_h;
        *w = net->in_w;
    } else {
        const rlkd_layer *l = &net->layers[node - 1];
        *c = l->out_c;
        *h = l->out_h;
        *w = l->out_w;
    }
}

rlkd_status rlkd_net_check(const rlkd_net *net, const char *op)
{
    if (!net)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: net is NULL", op);
    return RLKD_OK;
}

rlkd_status rlkd_net_check_out(const void *out, const char *op,
                               const char *name)
{
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
    return RLKD_OK;
}

rlkd_status rlkd_net_check_index(const char *op, const char *what, int index,
                                 int count)
{
    if (index < 0 || index >= count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s index %d is outside 0..%d", op, what, index,
                         count - 1);
    return RLKD_OK;
}

rlkd_status rlkd_net_node_count(const rlkd_net *net, int *count)
{
    RLKD_TRY(rlkd_net_check(net, "rlkd_net_node_count"));
    RLKD_TRY(rlkd_net_check_out(count, "rlkd_net_node_count", "count"));
    *count = net->layer_count + 1;
    return RLKD_OK;
}

rlkd_status rlkd_net_node_shape(const rlkd_net *net, int node,
                                int64_t *channels, int64_t *height,
                                int64_t *width)
{
    static const char op[] = "rlkd_net_node_shape";
    RLKD_TRY(rlkd_net_check(net, op));
    RLKD_TRY(rlkd_net_check_index(op, "node", node, net->layer_count + 1));
    int c, h, w;
    rlkd_net_node_dims(net, node, &c, &h, &w);
    if (channels)
        *channels = c;
    if (height)
        *height = h;
    if (width)
        *width = w;
    return RLKD_OK;
}

rlkd_status rlkd_net_param_count(const rlkd_net *net, int *count)
{
    RLKD_TRY(rlkd_net_check(net, "rlkd_net_param_count"));
    RLKD_TRY(rlkd_net_check_out(count, "rlkd_net_param_count", "count"));
    *count = net->param_count;
    return RLKD_OK;
}

rlkd_status rlkd_net_param(const rlkd_net *net, int index, const char **name,
                           rlkd_tensor **value, rlkd_tensor **grad)
{
    static const char op[] = "rlkd_net_param";
    RLKD_TRY(rlkd_net_check(net, op));
    RLKD_TRY(rlkd_net_check_index(op, "parameter", index, net->param_count));
    const rlkd_named_tensor *t = &net->params[index];
    if (name)
        *name = t->name;
    if (value)
        *value = t->value;
    if (grad)
        *grad = t->grad;
    return RLKD_OK;
}

rlkd_status rlkd_net_buffer_count(const rlkd_net *net, int *count)
{
    RLKD_TRY(rlkd_net_check(net, "rlkd_net_buffer_count"));
    RLKD_TRY(rlkd_net_check_out(count, "rlkd_net_buffer_count", "count"));
    *count = net->buffer_count;
    return RLKD_OK;
}

rlkd_status rlkd_net_buffer(const rlkd_net *net, int index, const char **name,
                            rlkd_tensor **value)
{
    static const char op[] = "rlkd_net_buffer";
    RLKD_TRY(rlkd_net_check(net, op));
    RLKD_TRY(rlkd_net_check_index(op, "buffer", index, net->buffer_count));
    const rlkd_named_tensor *t = &net->buffers[index];
    if (name)
        *name = t->name;
    if (value)
        *value = t->value;
    return RLKD_OK;
}

rlkd_status rlkd_net_find(const rlkd_net *net, const char *name,
                          rlkd_tensor **value)
{
    static const char op[] = "rlkd_net_find";
    RLKD_TRY(rlkd_net_check(net, op));
    RLKD_TRY(rlkd_net_check_out(name, op, "name"));
    RLKD_TRY(rlkd_net_check_out(value, op, "value"));
    for (int i = 0; i < net->param_count; i++)
        if (strcmp(net->params[i].name, name) == 0) {
            *value = net->params[i].value;
            return RLKD_OK;
        }
    for (int i = 0; i < net->buffer_count; i++)
        if (strcmp(net->buffers[i].name, name) == 0) {
            *value = net->buffers[i].value;
            return RLKD_OK;
        }
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: the network has no tensor named \"%s\"", op, name);
}

rlkd_status rlkd_net_zero_grad(rlkd_net *net)
{
    RLKD_TRY(rlkd_net_check(net, "rlkd_net_zero_grad"));
    for (int i = 0; i < net->param_count; i++)
        RLKD_TRY(rlkd_tensor_fill(net->params[i].grad, 0.0f));
    return RLKD_OK;
}

/* ---- costs ---- */

void rlkd_layer_cost_init(rlkd_layer_cost *cost)
{
    if (!cost)
        return;
    memset(cost, 0, sizeof *cost);
    cost->struct_size = sizeof *cost;
}

rlkd_status rlkd_net_layer_count(const rlkd_net *net, int *count)
{
    RLKD_TRY(rlkd_net_check(net, "rlkd_net_layer_count"));
    RLKD_TRY(rlkd_net_check_out(count, "rlkd_net_layer_count", "count"));
    *count = net->layer_count;
    return RLKD_OK;
}

rlkd_status rlkd_net_layer_cost(const rlkd_net *net, int index,
                                rlkd_layer_cost *cost)
{
    static const char op[] = "rlkd_net_layer_cost";
    RLKD_TRY(rlkd_net_check(net, op));
    RLKD_TRY(rlkd_net_check_out(cost, op, "cost"));
    RLKD_TRY(rlkd_expect_struct_size(op, "cost", cost->struct_size,
                                     sizeof *cost, "rlkd_layer_cost_init"));
    RLKD_TRY(rlkd_net_check_index(op, "layer", index, net->layer_count));
    const rlkd_layer *l = &net->layers[index];
    cost->name = l->name;
    cost->kind = rlkd_layer_kind_name(l->spec.kind);
    cost->node = index + 1;
    cost->out_channels = l->out_c;
    cost->out_height = l->out_h;
    cost->out_width = l->out_w;
    rlkd_prune_layer_cost(net, index, &cost->params, &cost->macs);
    return RLKD_OK;
}

rlkd_status rlkd_net_cost(const rlkd_net *net, int64_t *params, int64_t *macs)
{
    RLKD_TRY(rlkd_net_check(net, "rlkd_net_cost"));
    int64_t total_params = 0, total_macs = 0;
    for (int i = 0; i < net->layer_count; i++) {
        int64_t layer_params, layer_macs;
        rlkd_prune_layer_cost(net, i, &layer_params, &layer_macs);
        total_params += layer_params;
        total_macs += layer_macs;
    }
    if (params)
        *params = total_params;
    if (macs)
        *macs = total_macs;
    return RLKD_OK;
}
