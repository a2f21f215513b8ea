/*
 * Running a network: activations sized for the batch, the forward pass
 * (one L1 op per layer) and the backward pass in reverse order. A node read
 * by several layers (a residual, a DenseNet feature) collects its gradient:
 * the first contribution is written into its gradient, later ones go into
 * a scratch view and are added. Gradients injected at inner nodes (a loss
 * on features) are such contributions, made before the walk.
 */
#include "net_internal.h"
#include "../ops/batchnorm2d.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rlkd_tensor *param_of(const rlkd_net *net, const rlkd_layer *l, int i)
{
    return net->params[l->param_first + i].value;
}

static rlkd_tensor *grad_of(const rlkd_net *net, const rlkd_layer *l, int i)
{
    return net->params[l->param_first + i].grad;
}

static rlkd_tensor *buffer_of(const rlkd_net *net, const rlkd_layer *l, int i)
{
    return net->buffers[l->buffer_first + i].value;
}

/* Optional parameters (biases) follow the required ones, if present. */
static rlkd_tensor *optional_param(const rlkd_net *net, const rlkd_layer *l,
                                   int i)
{
    return i < l->param_count ? param_of(net, l, i) : NULL;
}

static rlkd_tensor *optional_grad(const rlkd_net *net, const rlkd_layer *l,
                                  int i)
{
    return i < l->param_count ? grad_of(net, l, i) : NULL;
}

static void destroy_all(rlkd_tensor **list, int count)
{
    if (!list)
        return;
    for (int i = 0; i < count; i++)
        rlkd_tensor_destroy(list[i]);
}

/* Frees the gradients, their scratch buffer and views (the forward values
 * stay). */
static void release_grads(rlkd_net *net)
{
    const int nodes = net->layer_count + 1;
    destroy_all(net->grads, nodes);
    destroy_all(net->scratch_views, nodes);
    rlkd_tensor_destroy(net->scratch);
    free(net->grads);
    free(net->scratch_views);
    free(net->grad_ready);
    net->grads = net->scratch_views = NULL;
    net->scratch = NULL;
    net->grad_ready = NULL;
}

void rlkd_net_release_activations(rlkd_net *net)
{
    const int nodes = net->layer_count + 1;
    /* values[0] is the caller's input: not ours to free */
    if (net->values)
        destroy_all(net->values + 1, nodes - 1);
    release_grads(net);
    for (int i = 0; i < net->layer_count; i++) {
        rlkd_tensor_destroy(net->layers[i].dropout_mask);
        net->layers[i].dropout_mask = NULL;
    }
    free(net->values);
    net->values = NULL;
    net->batch = 0;
    net->trained = 0;
}

/* The tensor shape of node i for the current batch. */
static int node_shape(const rlkd_net *net, int node, int64_t *shape)
{
    int c, h, w;
    rlkd_net_node_dims(net, node, &c, &h, &w);
    shape[0] = net->batch;
    shape[1] = c;
    shape[2] = h;
    shape[3] = w;
    return node > 0 && net->layers[node - 1].flat ? 2 : 4;
}

static rlkd_status make_node_tensor(rlkd_net *net, int node, rlkd_tensor **out)
{
    int64_t shape[4];
    int ndim = node_shape(net, node, shape);
    return rlkd_tensor_create(net->ctx, RLKD_DTYPE_F32, ndim, shape, out);
}

static rlkd_status allocate_values(rlkd_net *net, int64_t batch)
{
    const int nodes = net->layer_count + 1;
    net->batch = batch;
    net->values = calloc((size_t)nodes, sizeof *net->values);
    if (!net->values)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_net_forward: out of host memory");
    for (int node = 1; node < nodes; node++) {
        RLKD_TRY(make_node_tensor(net, node, &net->values[node]));
        rlkd_layer *l = &net->layers[node - 1];
        if (l->spec.kind == RLKD_LAYER_DROPOUT)
            RLKD_TRY(make_node_tensor(net, node, &l->dropout_mask));
    }
    return RLKD_OK;
}

/* Gradients, their scratch buffer and its views: made at the first backward
 * for a batch size, so inference never pays for them. */
static rlkd_status allocate_grads(rlkd_net *net)
{
    const int nodes = net->layer_count + 1;
    net->grads = calloc((size_t)nodes, sizeof *net->grads);
    net->scratch_views = calloc((size_t)nodes, sizeof *net->scratch_views);
    net->grad_ready = calloc((size_t)nodes, sizeof *net->grad_ready);
    if (!net->grads || !net->scratch_views || !net->grad_ready)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_net_backward: out of host memory");
    int64_t largest = 1;
    for (int node = 0; node < nodes; node++) {
        RLKD_TRY(make_node_tensor(net, node, &net->grads[node]));
        if (net->grads[node]->numel > largest)
            largest = net->grads[node]->numel;
    }
    RLKD_TRY(rlkd_tensor_create(net->ctx, RLKD_DTYPE_F32, 1, &largest,
                                &net->scratch));
    for (int node = 0; node < nodes; node++) {
        int64_t shape[4];
        int ndim = node_shape(net, node, shape);
        RLKD_TRY(rlkd_tensor_wrap(net->ctx, RLKD_DTYPE_F32, ndim, shape,
                                  rlkd_tensor_data(net->scratch),
                                  &net->scratch_views[node]));
    }
    return RLKD_OK;
}

/* ---- forward ---- */

static rlkd_status count_batch(const rlkd_net *net, const rlkd_layer *l)
{
    return rlkd_increment_i32(buffer_of(net, l, 2));
}

static rlkd_status forward_layer(rlkd_net *net, rlkd_layer *l, rlkd_tensor *y,
                                 int training)
{
    rlkd_context *ctx = net->ctx;
    const rlkd_layer_spec *s = &l->spec;
    rlkd_tensor *x = net->values[l->inputs[0]];
    switch (s->kind) {
    case RLKD_LAYER_CONV2D:
        return rlkd_conv2d_forward(ctx, y, x, param_of(net, l, 0),
                                   optional_param(net, l, 1), s->stride,
                                   s->stride, s->padding, s->padding,
                                   s->dilation, s->dilation, s->groups);
    case RLKD_LAYER_BATCHNORM2D:
        RLKD_TRY(rlkd_batchnorm2d_forward_sync(
            ctx, y, l->save_mean, l->save_invstd, buffer_of(net, l, 0),
            buffer_of(net, l, 1), x, param_of(net, l, 0), param_of(net, l, 1),
            training, s->momentum, s->eps, net->bn_sync));
        return training ? count_batch(net, l) : RLKD_OK;
    case RLKD_LAYER_RELU:
        return rlkd_relu_forward(ctx, y, x);
    case RLKD_LAYER_MAXPOOL2D:
        return rlkd_maxpool2d_forward(ctx, y, x, s->kernel, s->kernel,
                                      s->stride, s->stride, s->padding,
                                      s->padding);
    case RLKD_LAYER_AVGPOOL2D:
        return rlkd_avgpool2d_forward(ctx, y, x, s->kernel, s->kernel,
                                      s->stride, s->stride, s->padding,
                                      s->padding, s->count_include_pad);
    case RLKD_LAYER_GLOBAL_AVGPOOL:
        return rlkd_global_avgpool_forward(ctx, y, x);
    case RLKD_LAYER_LINEAR:
        return rlkd_linear_forward(ctx, y, x, param_of(net, l, 0),
                                   optional_param(net, l, 1));
    case RLKD_LAYER_DROPOUT:
        return rlkd_dropout_forward_rows(ctx, y, l->dropout_mask, x, s->p,
                                         training, net->batch_first_row);
    case RLKD_LAYER_ADD:
        return rlkd_add_forward(ctx, y, x, net->values[l->inputs[1]]);
    case RLKD_LAYER_CONCAT: {
        const rlkd_tensor *parts[l->input_count];
        for (int i = 0; i < l->input_count; i++)
            parts[i] = net->values[l->inputs[i]];
        return rlkd_concat_forward(ctx, y, parts, l->input_count);
    }
    case RLKD_LAYER_SE:
        return rlkd_se_forward(ctx, y, x, param_of(net, l, 0),
                               param_of(net, l, 1), param_of(net, l, 2),
                               param_of(net, l, 3));
    case RLKD_LAYER_ECA:
        return rlkd_eca_forward(ctx, y, x, param_of(net, l, 0));
    case RLKD_LAYER_CBAM:
        return rlkd_cbam_forward(ctx, y, x, param_of(net, l, 0),
                                 param_of(net, l, 1), param_of(net, l, 2),
                                 param_of(net, l, 3), param_of(net, l, 4),
                                 param_of(net, l, 5));
    case RLKD_LAYER_KIND_COUNT:
        break;
    }
    return rlkd_fail(RLKD_ERR_INTERNAL, "rlkd_net_forward: layer \"%s\" has "
                     "an unknown kind", l->name);
}

rlkd_status rlkd_net_forward(rlkd_net *net, const rlkd_tensor *input,
                             int training, rlkd_tensor **output)
{
    static const char op[] = "rlkd_net_forward";
    if (output)
        *output = NULL;
    if (!net)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: net is NULL", op);
    RLKD_TRY(rlkd_check_tensor(net->ctx, op, "input", input, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "input", input, 4));
    const int64_t shape[4] = {input->shape[0], net->in_c, net->in_h,
                              net->in_w};
    RLKD_TRY(rlkd_expect_shape(op, "input", input, 4, shape));
    if (net->layer_count == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: the network has no "
                         "layers", op);
    if (net->batch != input->shape[0]) {
        rlkd_net_release_activations(net);
        rlkd_status status = allocate_values(net, input->shape[0]);
        if (status != RLKD_OK) {
            rlkd_net_release_activations(net);
            return status;
        }
    }
    /* The input is read again by backward: the caller keeps it unchanged. */
    net->values[0] = (rlkd_tensor *)input;
    net->trained = 0;
    for (int i = 0; i < net->layer_count; i++) {
        RLKD_TRY(forward_layer(net, &net->layers[i], net->values[i + 1],
                               training));
        const rlkd_tensor *mask = rlkd_prune_output_mask(net, i);
        if (mask)
            RLKD_TRY(rlkd_channel_mask_forward(net->ctx, net->values[i + 1],
                                               net->values[i + 1], mask));
    }
    net->trained = training != 0;
    if (output)
        *output = net->values[net->layer_count];
    return RLKD_OK;
}

/* ---- backward ---- */

/* Where the gradient for input node `node` goes: its own gradient for the
 * first contribution, else the scratch view (added by `collect`). NULL for
 * the network's input when nobody asked for it. */
static rlkd_tensor *grad_target(rlkd_net *net, int node, int want_input)
{
    if (node == 0 && !want_input)
        return NULL;
    return net->grad_ready[node] ? net->scratch_views[node] : net->grads[node];
}

static rlkd_status collect(rlkd_net *net, int node, rlkd_tensor *target)
{
    if (!target)
        return RLKD_OK;
    if (target == net->scratch_views[node])
        return rlkd_add_forward(net->ctx, net->grads[node], net->grads[node],
                                target);
    net->grad_ready[node] = 1;
    return RLKD_OK;
}

/* Ops whose backward needs a dx tensor get the scratch view when the
 * gradient is not wanted (the network's input). */
static rlkd_tensor *required_target(rlkd_net *net, int node, int want_input)
{
    rlkd_tensor *target = grad_target(net, node, want_input);
    return target ? target : net->scratch_views[node];
}

static rlkd_status backward_concat(rlkd_net *net, const rlkd_layer *l,
                                   const rlkd_tensor *dy, int want_input)
{
    int64_t channels[l->input_count];
    rlkd_tensor *targets[l->input_count];
    for (int i = 0; i < l->input_count; i++) {
        int c, h, w;
        rlkd_net_node_dims(net, l->inputs[i], &c, &h, &w);
        channels[i] = c;
        targets[i] = NULL;
    }
    /* One input at a time: several may need the one scratch buffer. */
    for (int i = 0; i < l->input_count; i++) {
        const int node = l->inputs[i];
        targets[i] = grad_target(net, node, want_input);
        if (!targets[i])
            continue;
        RLKD_TRY(rlkd_concat_backward(net->ctx, targets, dy, channels,
                                      l->input_count));
        RLKD_TRY(collect(net, node, targets[i]));
        targets[i] = NULL;
    }
    return RLKD_OK;
}

static rlkd_status backward_layer(rlkd_net *net, const rlkd_layer *l,
                                  const rlkd_tensor *dy, const rlkd_tensor *y,
                                  int want_input)
{
    rlkd_context *ctx = net->ctx;
    const rlkd_layer_spec *s = &l->spec;
    const int in = l->inputs[0];
    const rlkd_tensor *x = net->values[in];
    rlkd_tensor *dx;
    switch (s->kind) {
    case RLKD_LAYER_CONV2D:
        dx = grad_target(net, in, want_input);
        RLKD_TRY(rlkd_conv2d_backward(ctx, dx, grad_of(net, l, 0),
                                      optional_grad(net, l, 1), dy, x,
                                      param_of(net, l, 0), s->stride,
                                      s->stride, s->padding, s->padding,
                                      s->dilation, s->dilation, s->groups));
        return collect(net, in, dx);
    case RLKD_LAYER_LINEAR:
        dx = grad_target(net, in, want_input);
        RLKD_TRY(rlkd_linear_backward(ctx, dx, grad_of(net, l, 0),
                                      optional_grad(net, l, 1), dy, x,
                                      param_of(net, l, 0)));
        return collect(net, in, dx);
    case RLKD_LAYER_ADD: {
        const int other = l->inputs[1];
        rlkd_tensor *da = grad_target(net, in, want_input);
        RLKD_TRY(rlkd_add_backward(ctx, da, NULL, dy));
        RLKD_TRY(collect(net, in, da));
        /* Computed after the first input is collected: both may need the
         * scratch buffer. */
        rlkd_tensor *db = grad_target(net, other, want_input);
        RLKD_TRY(rlkd_add_backward(ctx, NULL, db, dy));
        return collect(net, other, db);
    }
    case RLKD_LAYER_CONCAT:
        return backward_concat(net, l, dy, want_input);
    default:
        break;
    }
    /* The rest need a dx tensor even when the input's gradient is unwanted. */
    dx = required_target(net, in, want_input);
    switch (s->kind) {
    case RLKD_LAYER_BATCHNORM2D:
        RLKD_TRY(rlkd_batchnorm2d_backward_sync(
            ctx, dx, grad_of(net, l, 0), grad_of(net, l, 1), dy, x,
            param_of(net, l, 0), l->save_mean, l->save_invstd, 1,
            net->bn_sync));
        break;
    case RLKD_LAYER_RELU:
        RLKD_TRY(rlkd_relu_backward(ctx, dx, dy, y));
        break;
    case RLKD_LAYER_MAXPOOL2D:
        RLKD_TRY(rlkd_maxpool2d_backward(ctx, dx, dy, x, s->kernel, s->kernel,
                                         s->stride, s->stride, s->padding,
                                         s->padding));
        break;
    case RLKD_LAYER_AVGPOOL2D:
        RLKD_TRY(rlkd_avgpool2d_backward(ctx, dx, dy, s->kernel, s->kernel,
                                         s->stride, s->stride, s->padding,
                                         s->padding, s->count_include_pad));
        break;
    case RLKD_LAYER_GLOBAL_AVGPOOL:
        RLKD_TRY(rlkd_global_avgpool_backward(ctx, dx, dy));
        break;
    case RLKD_LAYER_DROPOUT:
        RLKD_TRY(rlkd_dropout_backward(ctx, dx, dy, l->dropout_mask));
        break;
    case RLKD_LAYER_SE:
        RLKD_TRY(rlkd_se_backward(ctx, dx, grad_of(net, l, 0),
                                  grad_of(net, l, 1), grad_of(net, l, 2),
                                  grad_of(net, l, 3), dy, x,
                                  param_of(net, l, 0), param_of(net, l, 1),
                                  param_of(net, l, 2), param_of(net, l, 3)));
        break;
    case RLKD_LAYER_ECA:
        RLKD_TRY(rlkd_eca_backward(ctx, dx, grad_of(net, l, 0), dy, x,
                                   param_of(net, l, 0)));
        break;
    case RLKD_LAYER_CBAM:
        RLKD_TRY(rlkd_cbam_backward(
            ctx, dx, grad_of(net, l, 0), grad_of(net, l, 1),
            grad_of(net, l, 2), grad_of(net, l, 3), grad_of(net, l, 4),
            grad_of(net, l, 5), dy, x, param_of(net, l, 0),
            param_of(net, l, 1), param_of(net, l, 2), param_of(net, l, 3),
            param_of(net, l, 4), param_of(net, l, 5)));
        break;
    default:
        return rlkd_fail(RLKD_ERR_INTERNAL, "rlkd_net_backward: layer \"%s\" "
                         "has an unknown kind", l->name);
    }
    return collect(net, in, grad_target(net, in, want_input) ? dx : NULL);
}

rlkd_status rlkd_net_node_value(const rlkd_net *net, int node,
                                rlkd_tensor **value)
{
    static const char op[] = "rlkd_net_node_value";
    if (!net || !value)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !net ? "net" : "value");
    *value = NULL;
    if (node < 0 || node > net->layer_count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: node %d is out of range (the network has nodes "
                         "0..%d)", op, node, net->layer_count);
    if (!net->values || !net->values[0])
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the network has no values yet (run a forward "
                         "first)", op);
    *value = net->values[node];
    return RLKD_OK;
}

/* The gradients injected at inner nodes must fit them: checked before
 * backward writes anything. */
static rlkd_status check_injected(const rlkd_net *net, const char *op,
                                  const int *nodes,
                                  const rlkd_tensor *const *grads, int count)
{
    if (count < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: count must be >= 0, got %d", op, count);
    if (count > 0 && (!nodes || !grads))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL with "
                         "count %d", op, !nodes ? "nodes" : "grads", count);
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "grads[%d]", i);
        if (nodes[i] < 0 || nodes[i] > net->layer_count)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: nodes[%d] = %d is out of range (the network "
                             "has nodes 0..%d)", op, i, nodes[i],
                             net->layer_count);
        RLKD_TRY(rlkd_check_tensor(net->ctx, op, name, grads[i],
                                   RLKD_DTYPE_F32));
        RLKD_TRY(rlkd_expect_same_shape(op, name, grads[i], "its node",
                                        net->values[nodes[i]]));
    }
    return RLKD_OK;
}

/* Seeds node `node`'s gradient with `grad`: written if the node has none
 * yet, else added. */
static rlkd_status seed_gradient(rlkd_net *net, int node,
                                 const rlkd_tensor *grad)
{
    if (net->grad_ready[node])
        return rlkd_add_forward(net->ctx, net->grads[node], net->grads[node],
                                grad);
    net->grad_ready[node] = 1;
    return rlkd_add_backward(net->ctx, net->grads[node], NULL, grad);
}

/* The backward pass of both public calls, `op` naming the call. */
static rlkd_status backward(rlkd_net *net, const char *op,
                            const rlkd_tensor *doutput, rlkd_tensor *dinput,
                            const int *nodes, const rlkd_tensor *const *grads,
                            int count)
{
    if (!net)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: net is NULL", op);
    if (!net->trained)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: backward needs a training forward first (the "
                         "last forward was in inference mode, or failed, or "
                         "the network changed)", op);
    const int last = net->layer_count;
    RLKD_TRY(rlkd_check_tensor(net->ctx, op, "doutput", doutput,
                               RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "doutput", doutput, "the output",
                                    net->values[last]));
    RLKD_TRY(rlkd_check_optional_tensor(net->ctx, op, "dinput", dinput,
                                        RLKD_DTYPE_F32));
    if (dinput)
        RLKD_TRY(rlkd_expect_same_shape(op, "dinput", dinput, "the input",
                                        net->values[0]));
    RLKD_TRY(check_injected(net, op, nodes, grads, count));
    if (!net->grads) {
        rlkd_status status = allocate_grads(net);
        if (status != RLKD_OK) {
            /* Keep the forward values; drop the half-made gradients. */
            release_grads(net);
            return status;
        }
    }
    memset(net->grad_ready, 0, (size_t)(last + 1) * sizeof *net->grad_ready);
    RLKD_TRY(seed_gradient(net, last, doutput));
    /* Injected gradients go in before the reverse walk, which then adds
     * each layer's contribution to them as it adds any node's. */
    for (int i = 0; i < count; i++)
        RLKD_TRY(seed_gradient(net, nodes[i], grads[i]));
    const int want_input = dinput != NULL;
    for (int i = last - 1; i >= 0; i--) {
        const int node = i + 1;
        /* A node the output does not depend on passes no gradient back. */
        if (net->grad_ready[node]) {
            /* A masked output passes no gradient for its removed
             * channels. */
            const rlkd_tensor *mask = rlkd_prune_output_mask(net, i);
            if (mask)
                RLKD_TRY(rlkd_channel_mask_backward(
                    net->ctx, net->grads[node], net->grads[node], mask));
            RLKD_TRY(backward_layer(net, &net->layers[i], net->grads[node],
                                    net->values[node], want_input));
        }
        if (net->layer_done)
            RLKD_TRY(net->layer_done->fn(net->layer_done->user, net, i));
    }
    if (dinput) {
        if (net->grad_ready[0])
            return rlkd_add_backward(net->ctx, dinput, NULL, net->grads[0]);
        return rlkd_tensor_fill(dinput, 0.0f);
    }
    return RLKD_OK;
}

rlkd_status rlkd_net_backward(rlkd_net *net, const rlkd_tensor *doutput,
                              rlkd_tensor *dinput)
{
    return backward(net, "rlkd_net_backward", doutput, dinput, NULL, NULL, 0);
}

rlkd_status rlkd_net_backward_nodes(rlkd_net *net, const rlkd_tensor *doutput,
                                    rlkd_tensor *dinput, const int *nodes,
                                    const rlkd_tensor *const *grads, int count)
{
    return backward(net, "rlkd_net_backward_nodes", doutput, dinput, nodes,
                    grads, count);
}
