/* optimizer: SGD (momentum, Nesterov, weight decay), Adam and AdamW over a
 * small network (conv with bias, batch norm, linear) against a double
 * reference of torch.optim, several steps with known gradients and a
 * changing learning rate; the state tensors the trainer saves; the
 * no_decay_bn_bias exemptions; step_count; and the error paths. */
#include "testlib.h"
#include "../lib/train/train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PARAMS 6

/* The test network's parameters in rlkd_net_param order, and whether
 * no_decay_bn_bias exempts each (batch norm's and the biases). */
static const char *const param_names[PARAMS] = {
    "conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"};
static const int exempt[PARAMS] = {0, 1, 1, 1, 0, 1};

/* input [2, 4, 4] -> conv 3x3 (3 channels, bias) -> batch norm -> linear 5 */
static rlkd_net *small_net(void)
{
    rlkd_net *net = NULL;
    int node = 0;
    CHECK_OK(rlkd_net_create(test_ctx, 2, 4, 4, &net));
    CHECK_OK(rlkd_net_add_conv2d(net, &node, "conv", 0, 3, 3, 1, 1, 1, 1, 1));
    CHECK_OK(rlkd_net_add_batchnorm2d(net, &node, "bn", node, 1e-5f, 0.1f));
    CHECK_OK(rlkd_net_add_linear(net, &node, "fc", node, 5, 1));
    int count = 0;
    CHECK_OK(rlkd_net_param_count(net, &count));
    CHECK(count == PARAMS);
    for (int i = 0; i < PARAMS; i++) {
        const char *name = NULL;
        rlkd_tensor *value = NULL;
        CHECK_OK(rlkd_net_param(net, i, &name, &value, NULL));
        CHECK_MSG(strcmp(name, param_names[i]) == 0, "param %d is %s", i,
                  name);
        /* batch norm starts at weight 1 and bias 0: make every parameter
         * non-trivial so that weight decay shows */
        int64_t n = rlkd_tensor_numel(value);
        float *x = malloc((size_t)n * sizeof *x);
        test_fill_uniform(x, (size_t)n, -1.0f, 1.0f, 10 + (uint64_t)i);
        CHECK_OK(rlkd_tensor_write(value, x, (size_t)n));
        free(x);
    }
    return net;
}

/* The double reference of one parameter: value and state as torch keeps
 * them (momentum_buffer, or exp_avg and exp_avg_sq). */
typedef struct {
    size_t n;
    double *value, *first, *second;
    float *grad;
} reference;

static void reference_init(reference *r, rlkd_net *net)
{
    for (int i = 0; i < PARAMS; i++) {
        rlkd_tensor *value = NULL;
        CHECK_OK(rlkd_net_param(net, i, NULL, &value, NULL));
        r[i].n = (size_t)rlkd_tensor_numel(value);
        float *x = t_get(value);
        r[i].value = test_to_double(x, r[i].n);
        free(x);
        r[i].first = calloc(r[i].n, sizeof(double));
        r[i].second = calloc(r[i].n, sizeof(double));
        r[i].grad = malloc(r[i].n * sizeof(float));
    }
}

static void reference_free(reference *r)
{
    for (int i = 0; i < PARAMS; i++) {
        free(r[i].value);
        free(r[i].first);
        free(r[i].second);
        free(r[i].grad);
    }
}

/* torch.optim.SGD (dampening 0) on one parameter. */
static void sgd_ref(reference *r, const rlkd_optimizer_options *o, double lr,
                    double weight_decay)
{
    for (size_t j = 0; j < r->n; j++) {
        double g = r->grad[j] + weight_decay * r->value[j];
        if (o->momentum > 0) {
            r->first[j] = o->momentum * r->first[j] + g;
            g = o->nesterov ? g + o->momentum * r->first[j] : r->first[j];
        }
        r->value[j] -= lr * g;
    }
}

/* torch.optim.Adam, or AdamW when decoupled, on one parameter. */
static void adam_ref(reference *r, const rlkd_optimizer_options *o, double lr,
                     double weight_decay, int decoupled, int64_t step)
{
    const double bias1 = 1 - pow(o->beta1, (double)step);
    const double bias2 = 1 - pow(o->beta2, (double)step);
    for (size_t j = 0; j < r->n; j++) {
        double g = r->grad[j];
        if (decoupled)
            r->value[j] *= 1 - lr * weight_decay;
        else
            g += weight_decay * r->value[j];
        r->first[j] = o->beta1 * r->first[j] + (1 - (double)o->beta1) * g;
        r->second[j] =
            o->beta2 * r->second[j] + (1 - (double)o->beta2) * g * g;
        r->value[j] -= lr / bias1 * r->first[j] /
                       (sqrt(r->second[j]) / sqrt(bias2) + o->eps);
    }
}

/* Compares a tensor with a reference array (a NULL tensor with nothing). */
static void expect_close(const char *what, const char *name, int step,
                         const rlkd_tensor *got, const double *want, size_t n,
                         double tolerance)
{
    CHECK_MSG(got != NULL, "%s of %s is missing", what, name);
    if (!got)
        return;
    CHECK_MSG(test_close_tensor(name, what, got, want, n, 1.0, tolerance,
                                tolerance),
              "step %d", step);
}

/* Takes `steps` steps with fresh known gradients and lr 0.1 / step, and
 * compares every parameter and its state with the reference after each. */
static void check_against_reference(const rlkd_optimizer_options *options,
                                    int steps, double tolerance)
{
    rlkd_net *net = small_net();
    rlkd_optimizer *optimizer = NULL;
    CHECK_OK(rlkd_optimizer_create(net, options, &optimizer));
    reference r[PARAMS];
    reference_init(r, net);
    const int adam = options->kind != RLKD_OPTIMIZER_SGD;
    for (int step = 1; step <= steps; step++) {
        const float lr = 0.1f / (float)step;
        for (int i = 0; i < PARAMS; i++) {
            rlkd_tensor *grad = NULL;
            CHECK_OK(rlkd_net_param(net, i, NULL, NULL, &grad));
            test_fill_uniform(r[i].grad, r[i].n, -1.0f, 1.0f,
                              1000 * (uint64_t)step + (uint64_t)i);
            CHECK_OK(rlkd_tensor_write(grad, r[i].grad, r[i].n));
            const double decay = options->no_decay_bn_bias && exempt[i]
                                     ? 0.0
                                     : options->weight_decay;
            if (adam)
                adam_ref(&r[i], options, lr, decay,
                         options->kind == RLKD_OPTIMIZER_ADAMW, step);
            else
                sgd_ref(&r[i], options, lr, decay);
        }
        CHECK_OK(rlkd_optimizer_step(optimizer, lr));
        int64_t count = -1;
        CHECK_OK(rlkd_optimizer_step_count(optimizer, &count));
        CHECK(count == step);
        for (int i = 0; i < PARAMS; i++) {
            rlkd_tensor *value = NULL;
            CHECK_OK(rlkd_net_param(net, i, NULL, &value, NULL));
            expect_close("value", param_names[i], step, value, r[i].value,
                         r[i].n, tolerance);
            if (adam || options->momentum > 0)
                expect_close(adam ? RLKD_OPTIMIZER_EXP_AVG
                                  : RLKD_OPTIMIZER_MOMENTUM,
                             param_names[i], step, optimizer->first[i],
                             r[i].first, r[i].n, tolerance);
            else
                CHECK(optimizer->first[i] == NULL);
            if (adam)
                expect_close(RLKD_OPTIMIZER_EXP_AVG_SQ, param_names[i], step,
                             optimizer->second[i], r[i].second, r[i].n,
                             tolerance);
            else
                CHECK(optimizer->second[i] == NULL);
        }
    }
    reference_free(r);
    rlkd_optimizer_destroy(optimizer);
    rlkd_net_destroy(net);
}

static rlkd_optimizer_options sgd_options(float momentum, int nesterov,
                                          float weight_decay)
{
    rlkd_optimizer_options o;
    rlkd_optimizer_options_init(&o);
    o.momentum = momentum;
    o.nesterov = nesterov;
    o.weight_decay = weight_decay;
    return o;
}

static rlkd_optimizer_options adam_options(rlkd_optimizer_kind kind,
                                           float weight_decay)
{
    rlkd_optimizer_options o;
    rlkd_optimizer_options_init(&o);
    o.kind = kind;
    o.weight_decay = weight_decay;
    return o;
}

static void defaults(void)
{
    rlkd_optimizer_options o;
    memset(&o, 0xff, sizeof o);
    rlkd_optimizer_options_init(&o);
    CHECK(o.struct_size == sizeof o);
    CHECK(o.kind == RLKD_OPTIMIZER_SGD);
    CHECK(o.momentum == 0.9f && o.nesterov == 0);
    CHECK(o.weight_decay == 5e-4f && o.no_decay_bn_bias == 0);
    CHECK(o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f);
    rlkd_optimizer_options_init(NULL); /* accepted, does nothing */

    /* NULL options take the defaults; the state starts at zero */
    rlkd_net *net = small_net();
    rlkd_optimizer *optimizer = NULL;
    CHECK_OK(rlkd_optimizer_create(net, NULL, &optimizer));
    CHECK(memcmp(&optimizer->options, &o, sizeof o) == 0);
    CHECK(optimizer->net == net && optimizer->steps == 0);
    CHECK(optimizer->param_count == PARAMS);
    for (int i = 0; i < PARAMS; i++) {
        rlkd_tensor *value = NULL;
        CHECK_OK(rlkd_net_param(net, i, NULL, &value, NULL));
        CHECK(optimizer->first[i] && test_all_equal(optimizer->first[i], 0));
        CHECK(rlkd_tensor_ndim(optimizer->first[i]) == rlkd_tensor_ndim(value));
        CHECK(rlkd_tensor_numel(optimizer->first[i]) == rlkd_tensor_numel(value));
        CHECK(rlkd_tensor_context(optimizer->first[i]) == test_ctx);
        CHECK(optimizer->second[i] == NULL);
        CHECK(optimizer->decays[i] == 1);
    }
    int64_t steps = -1;
    CHECK_OK(rlkd_optimizer_step_count(optimizer, &steps));
    CHECK(steps == 0);
    rlkd_optimizer_destroy(optimizer);
    rlkd_optimizer_destroy(NULL); /* accepted */
    rlkd_net_destroy(net);
}

static void sgd_plain(void)
{
    rlkd_optimizer_options o = sgd_options(0.0f, 0, 0.0f);
    check_against_reference(&o, 4, 1e-6);
    o = sgd_options(0.0f, 0, 0.01f);
    check_against_reference(&o, 4, 1e-6);
}

static void sgd_momentum(void)
{
    rlkd_optimizer_options o = sgd_options(0.9f, 0, 5e-4f);
    check_against_reference(&o, 6, 1e-6);
    o = sgd_options(0.5f, 0, 0.05f);
    check_against_reference(&o, 6, 1e-6);
}

static void sgd_nesterov(void)
{
    rlkd_optimizer_options o = sgd_options(0.9f, 1, 0.0f);
    check_against_reference(&o, 6, 1e-6);
    o = sgd_options(0.9f, 1, 0.01f);
    check_against_reference(&o, 6, 1e-6);
}

static void adam(void)
{
    rlkd_optimizer_options o = adam_options(RLKD_OPTIMIZER_ADAM, 0.0f);
    check_against_reference(&o, 6, 1e-5);
    o = adam_options(RLKD_OPTIMIZER_ADAM, 0.01f);
    o.beta1 = 0.8f;
    o.beta2 = 0.99f;
    o.eps = 1e-6f;
    check_against_reference(&o, 6, 1e-5);
}

static void adamw(void)
{
    rlkd_optimizer_options o = adam_options(RLKD_OPTIMIZER_ADAMW, 0.05f);
    check_against_reference(&o, 6, 1e-5);
}

/* no_decay_bn_bias exempts exactly batch norm's parameters and the biases:
 * with zero gradients and no momentum one step at lr 1 scales a decayed
 * parameter by 1 - weight_decay and leaves an exempt one alone. */
static void no_decay_bn_bias(void)
{
    const rlkd_optimizer_kind kinds[3] = {
        RLKD_OPTIMIZER_SGD, RLKD_OPTIMIZER_ADAM, RLKD_OPTIMIZER_ADAMW};
    for (int k = 0; k < 3; k++) {
        rlkd_net *net = small_net();
        rlkd_optimizer_options o = adam_options(kinds[k], 0.25f);
        o.momentum = 0.0f;
        o.no_decay_bn_bias = 1;
        rlkd_optimizer *optimizer = NULL;
        CHECK_OK(rlkd_optimizer_create(net, &o, &optimizer));
        for (int i = 0; i < PARAMS; i++)
            CHECK_MSG(optimizer->decays[i] == !exempt[i],
                      "kind %d: decays[%d] (%s) is %d", (int)kinds[k], i,
                      param_names[i], optimizer->decays[i]);
        if (kinds[k] == RLKD_OPTIMIZER_SGD) {
            reference r[PARAMS];
            reference_init(r, net);
            CHECK_OK(rlkd_net_zero_grad(net));
            CHECK_OK(rlkd_optimizer_step(optimizer, 1.0f));
            for (int i = 0; i < PARAMS; i++) {
                rlkd_tensor *value = NULL;
                CHECK_OK(rlkd_net_param(net, i, NULL, &value, NULL));
                const double scale = exempt[i] ? 1.0 : 0.75;
                CHECK_MSG(test_close_tensor(param_names[i], "decayed once",
                                            value, r[i].value, r[i].n,
                                            scale, 0, 1e-7),
                          "scale %g", scale);
            }
            reference_free(r);
        }
        rlkd_optimizer_destroy(optimizer);
        rlkd_net_destroy(net);
    }
    /* the exemptions in a full run of each kind */
    rlkd_optimizer_options o = sgd_options(0.9f, 1, 0.05f);
    o.no_decay_bn_bias = 1;
    check_against_reference(&o, 5, 1e-6);
    o = adam_options(RLKD_OPTIMIZER_ADAM, 0.05f);
    o.no_decay_bn_bias = 1;
    check_against_reference(&o, 5, 1e-5);
    o = adam_options(RLKD_OPTIMIZER_ADAMW, 0.05f);
    o.no_decay_bn_bias = 1;
    check_against_reference(&o, 5, 1e-5);
}

/* A network without parameters: the optimiser has nothing to update but
 * still counts its steps. */
static void empty_network(void)
{
    rlkd_net *net = NULL;
    CHECK_OK(rlkd_net_create(test_ctx, 1, 2, 2, &net));
    rlkd_optimizer_options o = adam_options(RLKD_OPTIMIZER_ADAM, 0.0f);
    rlkd_optimizer *optimizer = NULL;
    CHECK_OK(rlkd_optimizer_create(net, &o, &optimizer));
    CHECK_OK(rlkd_optimizer_step(optimizer, 0.1f));
    CHECK_OK(rlkd_optimizer_step(optimizer, 0.0f));
    int64_t steps = 0;
    CHECK_OK(rlkd_optimizer_step_count(optimizer, &steps));
    CHECK(steps == 2);
    rlkd_optimizer_destroy(optimizer);
    rlkd_net_destroy(net);
}

/* Each bad option fails creation with a message naming it. */
static void bad_options(void)
{
    rlkd_net *net = small_net();
    rlkd_optimizer *optimizer = NULL;
    rlkd_optimizer_options o;
#define EXPECT_BAD(field_change, needle)                                     \
    do {                                                                     \
        rlkd_optimizer_options_init(&o);                                     \
        field_change;                                                        \
        CHECK_FAILS(rlkd_optimizer_create(net, &o, &optimizer),              \
                    RLKD_ERR_INVALID_ARGUMENT, needle);                      \
        CHECK(optimizer == NULL);                                            \
    } while (0)
    EXPECT_BAD(o.struct_size = 0, "struct_size is 0");
    EXPECT_BAD(o.struct_size = offsetof(rlkd_optimizer_options, eps),
               "rlkd_optimizer_options_init");
    EXPECT_BAD(o.kind = (rlkd_optimizer_kind)3, "options->kind is 3");
    EXPECT_BAD(o.kind = (rlkd_optimizer_kind)-1, "options->kind is -1");
    EXPECT_BAD(o.momentum = -0.5f,
               "options->momentum must be finite and >= 0, got -0.5");
    EXPECT_BAD(o.momentum = NAN, "options->momentum");
    EXPECT_BAD(o.weight_decay = -1e-4f, "options->weight_decay");
    EXPECT_BAD(o.weight_decay = INFINITY, "options->weight_decay");
    EXPECT_BAD(o.beta1 = 1.0f, "options->beta1 must be in [0,1), got 1");
    EXPECT_BAD(o.beta1 = NAN, "options->beta1");
    EXPECT_BAD(o.beta2 = -0.1f, "options->beta2");
    EXPECT_BAD(o.eps = 0.0f, "options->eps must be finite and > 0");
    EXPECT_BAD(o.eps = INFINITY, "options->eps");
    EXPECT_BAD((o.momentum = 0.0f, o.nesterov = 1),
               "nesterov needs options->momentum > 0");
    /* the Adam fields are checked for SGD too, and the SGD ones for Adam */
    EXPECT_BAD(o.eps = -1.0f, "options->eps");
    EXPECT_BAD((o.kind = RLKD_OPTIMIZER_ADAMW, o.momentum = -1.0f),
               "options->momentum");
#undef EXPECT_BAD

    rlkd_optimizer_options_init(&o);
    CHECK_FAILS(rlkd_optimizer_create(NULL, &o, &optimizer),
                RLKD_ERR_INVALID_ARGUMENT, "net is NULL");
    CHECK_FAILS(rlkd_optimizer_create(net, &o, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out is NULL");
    /* a caller's newer, larger struct is accepted */
    o.struct_size = sizeof o + 16;
    CHECK_OK(rlkd_optimizer_create(net, &o, &optimizer));
    CHECK(optimizer->options.struct_size == sizeof o);
    rlkd_optimizer_destroy(optimizer);
    rlkd_net_destroy(net);
}

/* A failed step changes neither the parameters, the state nor the count. */
static void bad_steps(void)
{
    rlkd_net *net = small_net();
    rlkd_optimizer *optimizer = NULL;
    CHECK_OK(rlkd_optimizer_create(net, NULL, &optimizer));
    for (int i = 0; i < PARAMS; i++) {
        rlkd_tensor *grad = NULL;
        CHECK_OK(rlkd_net_param(net, i, NULL, NULL, &grad));
        CHECK_OK(rlkd_tensor_fill(grad, 1.0f));
    }
    reference r[PARAMS];
    reference_init(r, net);

    CHECK_FAILS(rlkd_optimizer_step(NULL, 0.1f), RLKD_ERR_INVALID_ARGUMENT,
                "optimizer is NULL");
    CHECK_FAILS(rlkd_optimizer_step(optimizer, -0.1f),
                RLKD_ERR_INVALID_ARGUMENT, "lr must be finite and >= 0");
    CHECK_FAILS(rlkd_optimizer_step(optimizer, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "lr must be finite");
    CHECK_FAILS(rlkd_optimizer_step(optimizer, INFINITY),
                RLKD_ERR_INVALID_ARGUMENT, "got inf");

    /* state that no longer fits the network (as after pruning) */
    const int64_t flat[1] = {54};
    CHECK_OK(rlkd_tensor_reshape(optimizer->first[0], 1, flat));
    CHECK_FAILS(rlkd_optimizer_step(optimizer, 0.1f), RLKD_ERR_SHAPE,
                "parameter \"conv.weight\" has shape [3,2,3,3] but its "
                "optimiser state has [54]");
    const int64_t conv[4] = {3, 2, 3, 3};
    CHECK_OK(rlkd_tensor_reshape(optimizer->first[0], 4, conv));
    int node = 0, count = 0;
    CHECK_OK(rlkd_net_node_count(net, &count));
    CHECK_OK(rlkd_net_add_linear(net, &node, "fc2", count - 1, 2, 1));
    CHECK_FAILS(rlkd_optimizer_step(optimizer, 0.1f), RLKD_ERR_SHAPE,
                "the network has 8 parameters but the optimiser was made "
                "for 6");

    for (int i = 0; i < PARAMS; i++) {
        rlkd_tensor *value = NULL;
        CHECK_OK(rlkd_net_param(net, i, NULL, &value, NULL));
        CHECK(test_close_tensor(param_names[i], "after failed steps", value,
                                r[i].value, r[i].n, 1.0, 0, 0));
        CHECK(test_all_equal(optimizer->first[i], 0.0f));
    }
    int64_t steps = -1;
    CHECK_OK(rlkd_optimizer_step_count(optimizer, &steps));
    CHECK(steps == 0);
    CHECK_FAILS(rlkd_optimizer_step_count(NULL, &steps),
                RLKD_ERR_INVALID_ARGUMENT, "optimizer is NULL");
    CHECK_FAILS(rlkd_optimizer_step_count(optimizer, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "steps is NULL");
    reference_free(r);
    rlkd_optimizer_destroy(optimizer);
    rlkd_net_destroy(net);
}

int main(void)
{
    test_main_begin();
    test_run("optimizer/defaults", defaults);
    test_run("optimizer/sgd_plain", sgd_plain);
    test_run("optimizer/sgd_momentum", sgd_momentum);
    test_run("optimizer/sgd_nesterov", sgd_nesterov);
    test_run("optimizer/adam", adam);
    test_run("optimizer/adamw", adamw);
    test_run("optimizer/no_decay_bn_bias", no_decay_bn_bias);
    test_run("optimizer/empty_network", empty_network);
    test_run("optimizer/bad_options", bad_options);
    test_run("optimizer/bad_steps", bad_steps);
    test_main_end();
    return test_finish();
}
