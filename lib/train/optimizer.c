/*
 * Optimisers over a network's parameters: SGD (momentum, Nesterov), Adam and
 * AdamW. The state tensors live on the network's context and the update of
 * each parameter is the L1 op rlkd_sgd_step or rlkd_adam_step, so every
 * backend updates the same way.
 */
#include "train_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* rlkd_optimizer_options up to its last field: what this version reads. */
#define OPTIMIZER_OPTIONS_SIZE_READ \
    (offsetof(rlkd_optimizer_options, eps) + sizeof(float))

void rlkd_optimizer_options_init(rlkd_optimizer_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->kind = RLKD_OPTIMIZER_SGD;
    options->momentum = 0.9f;
    options->nesterov = 0;
    options->weight_decay = 5e-4f;
    options->no_decay_bn_bias = 0;
    options->beta1 = 0.9f;
    options->beta2 = 0.999f;
    options->eps = 1e-8f;
}

/* Every field is checked whatever the kind, so a bad value cannot hide in
 * options that a checkpoint saves and a later run reads with another kind. */
static rlkd_status check_options(const char *op, const rlkd_optimizer_options *o)
{
    RLKD_TRY(rlkd_expect_struct_size(op, "options", o->struct_size,
                                     OPTIMIZER_OPTIONS_SIZE_READ,
                                     "rlkd_optimizer_options_init"));
    if ((unsigned)o->kind > RLKD_OPTIMIZER_ADAMW)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->kind is %d, not an rlkd_optimizer_kind "
                         "value",
                         op, (int)o->kind);
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->momentum", o->momentum,
                                         0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->weight_decay",
                                         o->weight_decay, 0.0f));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "options->beta1", o->beta1));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "options->beta2", o->beta2));
    RLKD_TRY(rlkd_expect_finite_above(op, "options->eps", o->eps, 0.0f));
    if (o->nesterov && o->momentum == 0.0f)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->nesterov needs options->momentum > 0, "
                         "got momentum 0",
                         op);
    return RLKD_OK;
}

static int ends_with(const char *text, const char *suffix)
{
    size_t text_length = strlen(text), suffix_length = strlen(suffix);
    return text_length >= suffix_length &&
           strcmp(text + text_length - suffix_length, suffix) == 0;
}

/* decays[i] = 0 for the parameters no_decay_bn_bias exempts: every
 * parameter of a batch-norm layer (found by the layer's kind: its weight is
 * a scale, not a filter) and every bias (found by its name, as torchvision
 * names them: "<layer>.bias"). */
static void mark_decays(rlkd_optimizer *optimizer)
{
    const rlkd_net *net = optimizer->net;
    for (int i = 0; i < optimizer->param_count; i++)
        optimizer->decays[i] = 1;
    if (!optimizer->options.no_decay_bn_bias)
        return;
    for (int i = 0; i < optimizer->param_count; i++)
        if (ends_with(net->params[i].name, ".bias"))
            optimizer->decays[i] = 0;
    for (int l = 0; l < net->layer_count; l++) {
        const rlkd_layer *layer = &net->layers[l];
        if (layer->spec.kind != RLKD_LAYER_BATCHNORM2D)
            continue;
        for (int p = 0; p < layer->param_count; p++)
            optimizer->decays[layer->param_first + p] = 0;
    }
}

/* A zeroed state tensor shaped as `param`, on its context. */
static rlkd_status make_state(const rlkd_tensor *param, rlkd_tensor **state)
{
    return rlkd_tensor_create(param->ctx, RLKD_DTYPE_F32, param->ndim,
                              param->shape, state);
}

void rlkd_optimizer_destroy(rlkd_optimizer *optimizer)
{
    if (!optimizer)
        return;
    for (int i = 0; i < optimizer->param_count; i++) {
        if (optimizer->first)
            rlkd_tensor_destroy(optimizer->first[i]);
        if (optimizer->second)
            rlkd_tensor_destroy(optimizer->second[i]);
    }
    free(optimizer->first);
    free(optimizer->second);
    free(optimizer->decays);
    free(optimizer);
}

rlkd_status rlkd_optimizer_create(rlkd_net *net,
                                  const rlkd_optimizer_options *options,
                                  rlkd_optimizer **out)
{
    static const char op[] = "rlkd_optimizer_create";
    if (!net || !out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !net ? "net" : "out");
    rlkd_optimizer_options chosen;
    rlkd_optimizer_options_init(&chosen);
    if (options) {
        RLKD_TRY(check_options(op, options));
        memcpy(&chosen, options, OPTIMIZER_OPTIONS_SIZE_READ);
        chosen.struct_size = sizeof chosen;
    }

    rlkd_optimizer *optimizer = calloc(1, sizeof *optimizer);
    if (!optimizer)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: no memory for the optimiser", op);
    optimizer->net = net;
    optimizer->options = chosen;
    optimizer->param_count = net->param_count;
    /* one extra slot so that a network without parameters still gets
     * non-NULL arrays */
    const size_t slots = (size_t)net->param_count + 1;
    optimizer->first = calloc(slots, sizeof *optimizer->first);
    optimizer->second = calloc(slots, sizeof *optimizer->second);
    optimizer->decays = calloc(slots, sizeof *optimizer->decays);
    if (!optimizer->first || !optimizer->second || !optimizer->decays) {
        rlkd_optimizer_destroy(optimizer);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: no memory for the state of %d parameters", op,
                         net->param_count);
    }
    mark_decays(optimizer);

    const int adam = chosen.kind != RLKD_OPTIMIZER_SGD;
    for (int i = 0; i < optimizer->param_count; i++) {
        const rlkd_tensor *param = net->params[i].value;
        rlkd_status status = RLKD_OK;
        if (adam || chosen.momentum > 0.0f)
            status = make_state(param, &optimizer->first[i]);
        if (status == RLKD_OK && adam)
            status = make_state(param, &optimizer->second[i]);
        if (status != RLKD_OK) {
            rlkd_optimizer_destroy(optimizer);
            return status;
        }
    }
    *out = optimizer;
    return RLKD_OK;
}

static int same_shape(const rlkd_tensor *a, const rlkd_tensor *b)
{
    return a->ndim == b->ndim &&
           memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0;
}

/* The network must still have the parameters the state was made for: a
 * network pruned or rebuilt after rlkd_optimizer_create would otherwise be
 * updated halfway before an L1 op noticed. */
static rlkd_status check_state_fits(const char *op,
                                    const rlkd_optimizer *optimizer)
{
    const rlkd_net *net = optimizer->net;
    if (net->param_count != optimizer->param_count)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: the network has %d parameters but the optimiser "
                         "was made for %d (create it again after changing "
                         "the network)",
                         op, net->param_count, optimizer->param_count);
    for (int i = 0; i < optimizer->param_count; i++) {
        const rlkd_tensor *param = net->params[i].value;
        const rlkd_tensor *state = optimizer->first[i];
        if (!state || same_shape(state, param))
            continue;
        char param_shape[96], state_shape[96];
        rlkd_format_shape(param_shape, sizeof param_shape, param);
        rlkd_format_shape(state_shape, sizeof state_shape, state);
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: parameter \"%s\" has shape %s but its optimiser "
                         "state has %s (create the optimiser again after "
                         "changing the network)",
                         op, net->params[i].name, param_shape, state_shape);
    }
    return RLKD_OK;
}

rlkd_status rlkd_optimizer_step(rlkd_optimizer *optimizer, float lr)
{
    static const char op[] = "rlkd_optimizer_step";
    if (!optimizer)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: optimizer is NULL",
                         op);
    RLKD_TRY(rlkd_expect_finite_at_least(op, "lr", lr, 0.0f));
    RLKD_TRY(check_state_fits(op, optimizer));

    const rlkd_optimizer_options *o = &optimizer->options;
    rlkd_context *ctx = optimizer->net->ctx;
    /* Adam's bias correction counts this step too (1-based). */
    const int64_t step = optimizer->steps + 1;
    for (int i = 0; i < optimizer->param_count; i++) {
        const rlkd_named_tensor *param = &optimizer->net->params[i];
        const float weight_decay =
            optimizer->decays[i] ? o->weight_decay : 0.0f;
        if (o->kind == RLKD_OPTIMIZER_SGD)
            RLKD_TRY(rlkd_sgd_step(ctx, param->value, optimizer->first[i],
                                   param->grad, lr, o->momentum, weight_decay,
                                   o->nesterov));
        else
            RLKD_TRY(rlkd_adam_step(ctx, param->value, optimizer->first[i],
                                    optimizer->second[i], param->grad, lr,
                                    o->beta1, o->beta2, o->eps, weight_decay,
                                    o->kind == RLKD_OPTIMIZER_ADAMW, step));
    }
    optimizer->steps = step;
    return RLKD_OK;
}

rlkd_status rlkd_optimizer_step_count(const rlkd_optimizer *optimizer,
                                      int64_t *steps)
{
    static const char op[] = "rlkd_optimizer_step_count";
    if (!optimizer || !steps)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !optimizer ? "optimizer" : "steps");
    *steps = optimizer->steps;
    return RLKD_OK;
}
