/* The network graph (rlkd_net_*): gradient routing through every layer kind
 * against the same pass done by hand with the L1 ops, end-to-end finite
 * differences, the builder (indices, shapes, names, costs), builder and
 * run-time errors, training/inference modes and state, and dead branches. */
#include "testlib.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- setup helpers ---- */

/* A setup call a case cannot go on without: a failure ends the program
 * (tests/run.sh counts a non-zero exit without a FAIL line as a failure). */
#define REQUIRE(call) require_ok((call), #call, __FILE__, __LINE__)

static void require_ok(rlkd_status status, const char *expr, const char *file,
                       int line)
{
    if (status == RLKD_OK)
        return;
    fprintf(stderr, "%s:%d: setup call %s failed: %s (%s)\n", file, line,
            expr, rlkd_status_string(status), rlkd_last_error());
    exit(1);
}

static size_t numel(const rlkd_tensor *t)
{
    return (size_t)rlkd_tensor_numel(t);
}

/* A zeroed tensor of t's shape. */
static rlkd_tensor *tensor_like(const rlkd_tensor *t)
{
    int64_t shape[4] = {0, 0, 0, 0};
    REQUIRE(rlkd_tensor_shape(t, shape, 4));
    return t_new(shape[0], shape[1], shape[2], shape[3]);
}

static void fill_random(rlkd_tensor *t, float low, float high, uint64_t seed)
{
    float *values = malloc(numel(t) * sizeof *values);
    test_fill_uniform(values, numel(t), low, high, seed);
    REQUIRE(rlkd_tensor_write(t, values, numel(t)));
    free(values);
}

static rlkd_tensor *random_tensor(int64_t d0, int64_t d1, int64_t d2,
                                  int64_t d3, uint64_t seed)
{
    rlkd_tensor *t = t_new(d0, d1, d2, d3);
    fill_random(t, -1.0f, 1.0f, seed);
    return t;
}

static rlkd_tensor *tensor_copy(const rlkd_tensor *t)
{
    rlkd_tensor *copy = tensor_like(t);
    float *values = t_get(t);
    REQUIRE(rlkd_tensor_write(copy, values, numel(t)));
    free(values);
    return copy;
}

static int same_shape(const rlkd_tensor *a, const rlkd_tensor *b)
{
    if (rlkd_tensor_ndim(a) != rlkd_tensor_ndim(b))
        return 0;
    for (int d = 0; d < rlkd_tensor_ndim(a); d++)
        if (rlkd_tensor_dim(a, d) != rlkd_tensor_dim(b, d))
            return 0;
    return 1;
}

/* got against want, same shape, |got - want| <= atol + rtol |want|. */
static int check_close_tensors(const char *what, const rlkd_tensor *got,
                               const rlkd_tensor *want, double atol,
                               double rtol)
{
    if (!CHECK_MSG(same_shape(got, want), "%s: shapes differ", what))
        return 0;
    float *got_values = t_get(got), *want_values = t_get(want);
    double *want_double = test_to_double(want_values, numel(want));
    int close = test_close(what, got_values, want_double, numel(want), atol,
                           rtol);
    free(got_values);
    free(want_values);
    free(want_double);
    return close;
}

/* Largest |x|: used to show a tensor a check compares is not all zero. */
static double max_abs(const rlkd_tensor *t)
{
    float *values = t_get(t);
    double largest = 0;
    for (size_t i = 0; i < numel(t); i++)
        largest = fmax(largest, fabs((double)values[i]));
    free(values);
    return largest;
}

static int count_nonfinite(const rlkd_tensor *t)
{
    float *values = t_get(t);
    int count = 0;
    for (size_t i = 0; i < numel(t); i++)
        count += !isfinite(values[i]);
    free(values);
    return count;
}

/* A parameter or buffer the case's network must have. */
static rlkd_tensor *net_tensor(const rlkd_net *net, const char *name)
{
    rlkd_tensor *t = NULL;
    REQUIRE(rlkd_net_find(net, name, &t));
    return t;
}

static int param_count(const rlkd_net *net)
{
    int count = 0;
    REQUIRE(rlkd_net_param_count(net, &count));
    return count;
}

static int node_count(const rlkd_net *net)
{
    int count = 0;
    REQUIRE(rlkd_net_node_count(net, &count));
    return count;
}

/* The index of the parameter called `name`. */
static int param_index(const rlkd_net *net, const char *name)
{
    for (int i = 0; i < param_count(net); i++) {
        const char *param_name;
        REQUIRE(rlkd_net_param(net, i, &param_name, NULL, NULL));
        if (strcmp(param_name, name) == 0)
            return i;
    }
    fprintf(stderr, "the network has no parameter %s\n", name);
    exit(1);
}

/* The network's gradient of the parameter called `name`. */
static rlkd_tensor *net_grad(const rlkd_net *net, const char *name)
{
    rlkd_tensor *grad;
    REQUIRE(rlkd_net_param(net, param_index(net, name), NULL, NULL, &grad));
    return grad;
}

/* Replaces every parameter with U(-0.5, 0.5): gamma != 1 and biases != 0
 * exercise every term of the backward formulas. */
static void randomize_params(rlkd_net *net, uint64_t seed)
{
    for (int i = 0; i < param_count(net); i++) {
        rlkd_tensor *value;
        REQUIRE(rlkd_net_param(net, i, NULL, &value, NULL));
        fill_random(value, -0.5f, 0.5f, seed + (uint64_t)i);
    }
}

/* A builder call that must succeed (the case builds on it) and make node
 * `want`. */
static void expect_node(rlkd_status status, int node, int want,
                        const char *what)
{
    require_ok(status, what, __FILE__, __LINE__);
    CHECK_MSG(node == want, "%s made node %d, expected %d", what, node, want);
}

/* `call` writes the new node's index to node_, declared here. */
#define ADD_NODE(want, call)                                \
    do {                                                    \
        int node_ = -1;                                     \
        const rlkd_status status_ = (call);                 \
        expect_node(status_, node_, (want), #call);         \
    } while (0)

/* ---- gradients computed by hand ---- */

/* One gradient per network parameter (same order), accumulated by hand. */
typedef struct manual_grads {
    const rlkd_net *net;
    int count;
    rlkd_tensor **grad;
} manual_grads;

static manual_grads manual_grads_make(const rlkd_net *net)
{
    manual_grads g = {net, param_count(net), NULL};
    g.grad = calloc((size_t)g.count, sizeof *g.grad);
    for (int i = 0; i < g.count; i++) {
        rlkd_tensor *value;
        REQUIRE(rlkd_net_param(net, i, NULL, &value, NULL));
        g.grad[i] = tensor_like(value);
    }
    return g;
}

/* The hand gradient of the parameter called `name`. */
static rlkd_tensor *manual_grad(const manual_grads *g, const char *name)
{
    return g->grad[param_index(g->net, name)];
}

/* Every network gradient against its hand twin; each must also be nonzero
 * (else the comparison would prove nothing). */
static void manual_grads_check(const manual_grads *g, const char *label,
                               double atol, double rtol)
{
    for (int i = 0; i < g->count; i++) {
        const char *name;
        rlkd_tensor *grad;
        REQUIRE(rlkd_net_param(g->net, i, &name, NULL, &grad));
        char what[160];
        snprintf(what, sizeof what, "%s: d %s", label, name);
        check_close_tensors(what, grad, g->grad[i], atol, rtol);
        CHECK_MSG(max_abs(g->grad[i]) > 0, "%s is zero", what);
    }
}

static void manual_grads_free(manual_grads *g)
{
    for (int i = 0; i < g->count; i++)
        rlkd_tensor_destroy(g->grad[i]);
    free(g->grad);
}

/* Adds one layer's gradient contribution to a node's gradient as the
 * network does: the first is kept as it is, each later one is added to the
 * sum so far (sum = sum + contribution). Takes the contribution. */
static void collect(rlkd_tensor **node_grad, rlkd_tensor *contribution)
{
    if (!*node_grad) {
        *node_grad = contribution;
        return;
    }
    REQUIRE(rlkd_add_forward(test_ctx, *node_grad, *node_grad, contribution));
    rlkd_tensor_destroy(contribution);
}

static void destroy_tensors(rlkd_tensor **list, int count)
{
    for (int i = 0; i < count; i++)
        rlkd_tensor_destroy(list[i]);
}

/* ---- 1. gradient routing, exact ---- */

/* The routing network's nodes, in the order the builder makes them. */
enum routing_node {
    R_INPUT, R_CONV1, R_BN, R_RELU, R_MAXPOOL, R_SE, R_CBAM, R_ECA,
    R_CONV2,   /* reads R_ECA */
    R_ADD,     /* R_CONV2 + R_ECA: the residual */
    R_DROPOUT,
    R_CONV3,   /* also reads R_ECA: it feeds three layers */
    R_CONCAT,  /* R_DROPOUT, R_CONV3, R_MAXPOOL (which also feeds R_SE) */
    R_AVGPOOL, R_GAP, R_FC, R_NODES
};

enum { R_BATCH = 2, R_CHANNELS = 3, R_SIZE = 8, R_CLASSES = 5 };
#define R_DROP_P 0.3f
#define R_MOMENTUM 0.1f
#define R_EPS 1e-5f
#define R_SEED 4242u

static rlkd_net *build_routing_net(void)
{
    rlkd_net *net;
    REQUIRE(rlkd_net_create(test_ctx, R_CHANNELS, R_SIZE, R_SIZE, &net));
    const int concat_inputs[3] = {R_DROPOUT, R_CONV3, R_MAXPOOL};
    /* No bias before batch norm (its gradient would be rounding noise);
     * conv2 and conv3 have one. */
    ADD_NODE(R_CONV1, rlkd_net_add_conv2d(net, &node_, "conv1", R_INPUT, 4,
                                          3, 1, 1, 1, 1, 0));
    ADD_NODE(R_BN, rlkd_net_add_batchnorm2d(net, &node_, "bn", R_CONV1,
                                            R_EPS, R_MOMENTUM));
    ADD_NODE(R_RELU, rlkd_net_add_relu(net, &node_, NULL, R_BN));
    ADD_NODE(R_MAXPOOL, rlkd_net_add_maxpool2d(net, &node_, NULL, R_RELU, 2,
                                               2, 0));
    ADD_NODE(R_SE, rlkd_net_add_se(net, &node_, "se", R_MAXPOOL, 2));
    ADD_NODE(R_CBAM, rlkd_net_add_cbam(net, &node_, "cbam", R_SE, 2, 3));
    ADD_NODE(R_ECA, rlkd_net_add_eca(net, &node_, "eca", R_CBAM, 3));
    ADD_NODE(R_CONV2, rlkd_net_add_conv2d(net, &node_, "conv2", R_ECA, 4, 3,
                                          1, 1, 1, 1, 1));
    ADD_NODE(R_ADD, rlkd_net_add_add(net, &node_, NULL, R_CONV2, R_ECA));
    ADD_NODE(R_DROPOUT, rlkd_net_add_dropout(net, &node_, NULL, R_ADD,
                                             R_DROP_P));
    ADD_NODE(R_CONV3, rlkd_net_add_conv2d(net, &node_, "conv3", R_ECA, 2, 1,
                                          1, 0, 1, 1, 1));
    ADD_NODE(R_CONCAT, rlkd_net_add_concat(net, &node_, NULL, concat_inputs,
                                           3));
    ADD_NODE(R_AVGPOOL, rlkd_net_add_avgpool2d(net, &node_, NULL, R_CONCAT, 2,
                                               2, 0, 1));
    ADD_NODE(R_GAP, rlkd_net_add_global_avgpool(net, &node_, NULL,
                                                R_AVGPOOL));
    ADD_NODE(R_FC, rlkd_net_add_linear(net, &node_, "fc", R_GAP, R_CLASSES,
                                       1));
    randomize_params(net, 100);
    return net;
}

/* A zeroed [batch, C, H, W] tensor for a node of the network. */
static rlkd_tensor *node_tensor(const rlkd_net *net, int node, int64_t batch)
{
    int64_t c, h, w;
    REQUIRE(rlkd_net_node_shape(net, node, &c, &h, &w));
    return t_new(batch, c, h, w);
}

/* The routing network's forward and backward by hand, with its own
 * parameters: the output into *output, d input into *dinput, parameter
 * gradients into g. Draws its dropout mask after reseeding with R_SEED, as
 * the network pass does. */
static void routing_by_hand(const rlkd_net *net, rlkd_tensor *input,
                            const rlkd_tensor *doutput, manual_grads *g,
                            rlkd_tensor **output, rlkd_tensor **dinput,
                            int *dropped)
{
    rlkd_context *ctx = test_ctx;
#define P(name) net_tensor(net, name)
#define G(name) manual_grad(g, name)
    rlkd_tensor *v[R_NODES] = {input};
    for (int node = R_CONV1; node < R_FC; node++)
        v[node] = node_tensor(net, node, R_BATCH);
    v[R_FC] = t_new(R_BATCH, R_CLASSES, 0, 0);
    rlkd_tensor *save_mean = t_new(4, 0, 0, 0);
    rlkd_tensor *save_invstd = t_new(4, 0, 0, 0);
    rlkd_tensor *mask = tensor_like(v[R_DROPOUT]);

    REQUIRE(rlkd_context_set_seed(ctx, R_SEED));
    REQUIRE(rlkd_conv2d_forward(ctx, v[R_CONV1], v[R_INPUT],
                                P("conv1.weight"), NULL, 1, 1, 1, 1, 1, 1,
                                1));
    /* No running statistics: in training they do not change the output. */
    REQUIRE(rlkd_batchnorm2d_forward(ctx, v[R_BN], save_mean, save_invstd,
                                     NULL, NULL, v[R_CONV1], P("bn.weight"),
                                     P("bn.bias"), 1, R_MOMENTUM, R_EPS));
    REQUIRE(rlkd_relu_forward(ctx, v[R_RELU], v[R_BN]));
    REQUIRE(rlkd_maxpool2d_forward(ctx, v[R_MAXPOOL], v[R_RELU], 2, 2, 2, 2,
                                   0, 0));
    REQUIRE(rlkd_se_forward(ctx, v[R_SE], v[R_MAXPOOL], P("se.fc1.weight"),
                            P("se.fc1.bias"), P("se.fc2.weight"),
                            P("se.fc2.bias")));
    REQUIRE(rlkd_cbam_forward(ctx, v[R_CBAM], v[R_SE], P("cbam.fc1.weight"),
                              P("cbam.fc1.bias"), P("cbam.fc2.weight"),
                              P("cbam.fc2.bias"), P("cbam.spatial.weight"),
                              P("cbam.spatial.bias")));
    REQUIRE(rlkd_eca_forward(ctx, v[R_ECA], v[R_CBAM], P("eca.conv.weight")));
    REQUIRE(rlkd_conv2d_forward(ctx, v[R_CONV2], v[R_ECA], P("conv2.weight"),
                                P("conv2.bias"), 1, 1, 1, 1, 1, 1, 1));
    REQUIRE(rlkd_add_forward(ctx, v[R_ADD], v[R_CONV2], v[R_ECA]));
    REQUIRE(rlkd_dropout_forward(ctx, v[R_DROPOUT], mask, v[R_ADD], R_DROP_P,
                                 1));
    REQUIRE(rlkd_conv2d_forward(ctx, v[R_CONV3], v[R_ECA], P("conv3.weight"),
                                P("conv3.bias"), 1, 1, 0, 0, 1, 1, 1));
    const rlkd_tensor *parts[3] = {v[R_DROPOUT], v[R_CONV3], v[R_MAXPOOL]};
    REQUIRE(rlkd_concat_forward(ctx, v[R_CONCAT], parts, 3));
    REQUIRE(rlkd_avgpool2d_forward(ctx, v[R_AVGPOOL], v[R_CONCAT], 2, 2, 2, 2,
                                   0, 0, 1));
    REQUIRE(rlkd_global_avgpool_forward(ctx, v[R_GAP], v[R_AVGPOOL]));
    REQUIRE(rlkd_linear_forward(ctx, v[R_FC], v[R_GAP], P("fc.weight"),
                                P("fc.bias")));
    *dropped = 0;
    float *mask_values = t_get(mask);
    for (size_t i = 0; i < numel(mask); i++)
        *dropped += mask_values[i] == 0.0f;
    free(mask_values);

    /* Backward, layer by layer from the last: a node's gradient is whole
     * once every later layer has contributed. */
    rlkd_tensor *d[R_NODES] = {NULL};
    rlkd_tensor *dx;
    d[R_FC] = tensor_copy(doutput);
    dx = tensor_like(v[R_GAP]);
    REQUIRE(rlkd_linear_backward(ctx, dx, G("fc.weight"), G("fc.bias"),
                                 d[R_FC], v[R_GAP], P("fc.weight")));
    collect(&d[R_GAP], dx);
    dx = tensor_like(v[R_AVGPOOL]);
    REQUIRE(rlkd_global_avgpool_backward(ctx, dx, d[R_GAP]));
    collect(&d[R_AVGPOOL], dx);
    dx = tensor_like(v[R_CONCAT]);
    REQUIRE(rlkd_avgpool2d_backward(ctx, dx, d[R_AVGPOOL], 2, 2, 2, 2, 0, 0,
                                    1));
    collect(&d[R_CONCAT], dx);
    {
        rlkd_tensor *split[3] = {tensor_like(v[R_DROPOUT]),
                                 tensor_like(v[R_CONV3]),
                                 tensor_like(v[R_MAXPOOL])};
        const int64_t channels[3] = {4, 2, 4};
        REQUIRE(rlkd_concat_backward(ctx, split, d[R_CONCAT], channels, 3));
        collect(&d[R_DROPOUT], split[0]);
        collect(&d[R_CONV3], split[1]);
        collect(&d[R_MAXPOOL], split[2]); /* first; R_SE adds the second */
    }
    dx = tensor_like(v[R_ECA]); /* R_ECA's first contribution */
    REQUIRE(rlkd_conv2d_backward(ctx, dx, G("conv3.weight"), G("conv3.bias"),
                                 d[R_CONV3], v[R_ECA], P("conv3.weight"), 1,
                                 1, 0, 0, 1, 1, 1));
    collect(&d[R_ECA], dx);
    dx = tensor_like(v[R_ADD]);
    REQUIRE(rlkd_dropout_backward(ctx, dx, d[R_DROPOUT], mask));
    collect(&d[R_ADD], dx);
    dx = tensor_like(v[R_CONV2]);
    REQUIRE(rlkd_add_backward(ctx, dx, NULL, d[R_ADD]));
    collect(&d[R_CONV2], dx);
    dx = tensor_like(v[R_ECA]); /* the second */
    REQUIRE(rlkd_add_backward(ctx, NULL, dx, d[R_ADD]));
    collect(&d[R_ECA], dx);
    dx = tensor_like(v[R_ECA]); /* the third */
    REQUIRE(rlkd_conv2d_backward(ctx, dx, G("conv2.weight"), G("conv2.bias"),
                                 d[R_CONV2], v[R_ECA], P("conv2.weight"), 1,
                                 1, 1, 1, 1, 1, 1));
    collect(&d[R_ECA], dx);
    dx = tensor_like(v[R_CBAM]);
    REQUIRE(rlkd_eca_backward(ctx, dx, G("eca.conv.weight"), d[R_ECA],
                              v[R_CBAM], P("eca.conv.weight")));
    collect(&d[R_CBAM], dx);
    dx = tensor_like(v[R_SE]);
    REQUIRE(rlkd_cbam_backward(
        ctx, dx, G("cbam.fc1.weight"), G("cbam.fc1.bias"),
        G("cbam.fc2.weight"), G("cbam.fc2.bias"), G("cbam.spatial.weight"),
        G("cbam.spatial.bias"), d[R_CBAM], v[R_SE], P("cbam.fc1.weight"),
        P("cbam.fc1.bias"), P("cbam.fc2.weight"), P("cbam.fc2.bias"),
        P("cbam.spatial.weight"), P("cbam.spatial.bias")));
    collect(&d[R_SE], dx);
    dx = tensor_like(v[R_MAXPOOL]);
    REQUIRE(rlkd_se_backward(ctx, dx, G("se.fc1.weight"), G("se.fc1.bias"),
                             G("se.fc2.weight"), G("se.fc2.bias"), d[R_SE],
                             v[R_MAXPOOL], P("se.fc1.weight"),
                             P("se.fc1.bias"), P("se.fc2.weight"),
                             P("se.fc2.bias")));
    collect(&d[R_MAXPOOL], dx);
    dx = tensor_like(v[R_RELU]);
    REQUIRE(rlkd_maxpool2d_backward(ctx, dx, d[R_MAXPOOL], v[R_RELU], 2, 2, 2,
                                    2, 0, 0));
    collect(&d[R_RELU], dx);
    dx = tensor_like(v[R_BN]);
    REQUIRE(rlkd_relu_backward(ctx, dx, d[R_RELU], v[R_RELU]));
    collect(&d[R_BN], dx);
    dx = tensor_like(v[R_CONV1]);
    REQUIRE(rlkd_batchnorm2d_backward(ctx, dx, G("bn.weight"), G("bn.bias"),
                                      d[R_BN], v[R_CONV1], P("bn.weight"),
                                      save_mean, save_invstd, 1));
    collect(&d[R_CONV1], dx);
    dx = tensor_like(v[R_INPUT]);
    REQUIRE(rlkd_conv2d_backward(ctx, dx, G("conv1.weight"), NULL,
                                 d[R_CONV1], v[R_INPUT], P("conv1.weight"), 1,
                                 1, 1, 1, 1, 1, 1));
    collect(&d[R_INPUT], dx);
#undef P
#undef G

    *output = v[R_FC];
    *dinput = d[R_INPUT];
    v[R_FC] = NULL;
    d[R_INPUT] = NULL;
    destroy_tensors(v + 1, R_NODES - 1); /* v[R_INPUT] is the caller's */
    destroy_tensors(d, R_NODES);
    rlkd_tensor_destroy(save_mean);
    rlkd_tensor_destroy(save_invstd);
    rlkd_tensor_destroy(mask);
}

/* The hand pass runs the same ops in the same order on the same data, so
 * the results should agree to the last bit; 1e-6 relative (and no real
 * absolute slack) allows only for rounding, never for a lost, doubled or
 * misrouted contribution. */
#define ROUTING_RTOL 1e-6
#define ROUTING_ATOL 1e-12

static void gradient_routing_exact(void)
{
    rlkd_net *net = build_routing_net();
    rlkd_tensor *input = random_tensor(R_BATCH, R_CHANNELS, R_SIZE, R_SIZE, 1);
    rlkd_tensor *doutput = random_tensor(R_BATCH, R_CLASSES, 0, 0, 2);
    rlkd_tensor *dinput = tensor_like(input), *output = NULL;
    REQUIRE(rlkd_tensor_fill(dinput, 9.0f)); /* written, not accumulated */

    REQUIRE(rlkd_context_set_seed(test_ctx, R_SEED));
    CHECK_OK(rlkd_net_forward(net, input, 1, &output));
    CHECK_OK(rlkd_net_backward(net, doutput, dinput));

    manual_grads g = manual_grads_make(net);
    rlkd_tensor *want_output, *want_dinput;
    int dropped;
    routing_by_hand(net, input, doutput, &g, &want_output, &want_dinput,
                    &dropped);
    /* p = 0.3 over 128 elements: some must be dropped, most kept, or the
     * mask would not be tested. */
    CHECK_MSG(dropped > 10 && dropped < 80, "dropout dropped %d of 128",
              dropped);
    if (CHECK(output != NULL))
        check_close_tensors("routing: output", output, want_output,
                            ROUTING_ATOL, ROUTING_RTOL);
    check_close_tensors("routing: dinput", dinput, want_dinput, ROUTING_ATOL,
                        ROUTING_RTOL);
    CHECK(max_abs(want_dinput) > 0);
    manual_grads_check(&g, "routing", ROUTING_ATOL, ROUTING_RTOL);

    manual_grads_free(&g);
    rlkd_tensor_destroy(want_output);
    rlkd_tensor_destroy(want_dinput);
    rlkd_tensor_destroy(input);
    rlkd_tensor_destroy(doutput);
    rlkd_tensor_destroy(dinput);
    rlkd_net_destroy(net);
}

/* ---- 2. end-to-end finite differences ---- */

enum smooth_node {
    S_INPUT, S_CONV1, S_BN, S_CONV2,
    S_ADD,    /* S_CONV2 + S_BN: S_BN feeds three layers */
    S_ECA,
    S_CONV3,  /* reads S_CONV1, which also feeds S_BN */
    S_CONCAT, /* S_ECA, S_CONV3, S_BN, S_INPUT (also read by S_CONV1) */
    S_AVGPOOL, S_GAP, S_FC, S_NODES
};

enum { S_BATCH = 2, S_CHANNELS = 3, S_SIZE = 4, S_CLASSES = 3 };

static rlkd_net *build_smooth_net(void)
{
    rlkd_net *net;
    REQUIRE(rlkd_net_create(test_ctx, S_CHANNELS, S_SIZE, S_SIZE, &net));
    const int concat_inputs[4] = {S_ECA, S_CONV3, S_BN, S_INPUT};
    ADD_NODE(S_CONV1, rlkd_net_add_conv2d(net, &node_, "conv1", S_INPUT, 4,
                                          3, 1, 1, 1, 1, 1));
    ADD_NODE(S_BN, rlkd_net_add_batchnorm2d(net, &node_, "bn", S_CONV1, 1e-5f,
                                            0.1f));
    ADD_NODE(S_CONV2, rlkd_net_add_conv2d(net, &node_, "conv2", S_BN, 4, 3,
                                          1, 1, 1, 1, 1));
    ADD_NODE(S_ADD, rlkd_net_add_add(net, &node_, NULL, S_CONV2, S_BN));
    ADD_NODE(S_ECA, rlkd_net_add_eca(net, &node_, "eca", S_ADD, 3));
    ADD_NODE(S_CONV3, rlkd_net_add_conv2d(net, &node_, "conv3", S_CONV1, 2,
                                          1, 1, 0, 1, 1, 1));
    ADD_NODE(S_CONCAT, rlkd_net_add_concat(net, &node_, NULL, concat_inputs,
                                           4));
    /* Padding with count_include_pad 0: the edge windows divide by fewer. */
    ADD_NODE(S_AVGPOOL, rlkd_net_add_avgpool2d(net, &node_, NULL, S_CONCAT, 3,
                                               2, 1, 0));
    ADD_NODE(S_GAP, rlkd_net_add_global_avgpool(net, &node_, NULL,
                                                S_AVGPOOL));
    ADD_NODE(S_FC, rlkd_net_add_linear(net, &node_, "fc", S_GAP, S_CLASSES,
                                       1));
    randomize_params(net, 200);
    return net;
}

/* loss = sum r * output, from a training forward of the float network. */
typedef struct fd_problem {
    rlkd_net *net;
    rlkd_tensor *input;
    const float *r;
} fd_problem;

static double fd_loss(const fd_problem *p)
{
    rlkd_tensor *output;
    REQUIRE(rlkd_net_forward(p->net, p->input, 1, &output));
    float *values = t_get(output);
    double loss = 0;
    for (size_t i = 0; i < numel(output); i++)
        loss += (double)p->r[i] * values[i];
    free(values);
    return loss;
}

/*
 * Tolerances: the loss is O(1) and computed in float32, so each evaluation
 * carries a rounding error of at most ~1e-6; over 2h = 2e-2 that is ~1e-4
 * in the quotient. The truncation error of central differences is
 * h^2/6 f''' ~ 2e-5 f''', and batch norm makes f''' O(1-10). atol 2e-3 and
 * rtol 2e-2 sit an order of magnitude above both (the errors seen are
 * ~1e-3 of the tolerance), while a wrongly routed or missing contribution
 * changes gradients of order 0.03-1: each sampled tensor's largest
 * gradient must exceed 5 atol, or the comparison would prove little.
 */
#define FD_STEP 1e-2
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2
#define FD_SAMPLES 12

/* Up to FD_SAMPLES entries of `var`, spread over it, against `analytic`. */
static void check_fd_entries(const fd_problem *p, const char *what,
                             rlkd_tensor *var, const rlkd_tensor *analytic)
{
    const size_t n = numel(var);
    const size_t samples = n < FD_SAMPLES ? n : FD_SAMPLES;
    float *values = t_get(var), *all_analytic = t_get(analytic);
    float got[FD_SAMPLES];
    double want[FD_SAMPLES], largest = 0;
    for (size_t k = 0; k < samples; k++) {
        const size_t i = (size_t)(((double)k + 0.5) * (double)n / samples);
        const float saved = values[i];
        const float up = (float)(saved + FD_STEP);
        const float down = (float)(saved - FD_STEP);
        values[i] = up;
        REQUIRE(rlkd_tensor_write(var, values, n));
        const double loss_up = fd_loss(p);
        values[i] = down;
        REQUIRE(rlkd_tensor_write(var, values, n));
        const double loss_down = fd_loss(p);
        values[i] = saved;
        /* the step the float entry really took */
        want[k] = (loss_up - loss_down) / ((double)up - (double)down);
        got[k] = all_analytic[i];
        largest = fmax(largest, fabs(want[k]));
    }
    REQUIRE(rlkd_tensor_write(var, values, n));
    char label[160];
    snprintf(label, sizeof label, "finite differences: d %s", what);
    test_close(label, got, want, samples, FD_ATOL, FD_RTOL);
    CHECK_MSG(largest > 5 * FD_ATOL, "%s: largest sampled gradient %g is "
              "too small for the check to mean anything", label, largest);
    free(values);
    free(all_analytic);
}

static void finite_differences(void)
{
    rlkd_net *net = build_smooth_net();
    rlkd_tensor *input = random_tensor(S_BATCH, S_CHANNELS, S_SIZE, S_SIZE, 3);
    rlkd_tensor *doutput = random_tensor(S_BATCH, S_CLASSES, 0, 0, 4);
    rlkd_tensor *dinput = tensor_like(input);
    float *r = t_get(doutput);
    fd_problem p = {net, input, r};

    CHECK_OK(rlkd_net_forward(net, input, 1, NULL));
    CHECK_OK(rlkd_net_backward(net, doutput, dinput));
    /* The finite-difference forwards leave the gradients as they are. */
    for (int i = 0; i < param_count(net); i++) {
        const char *name;
        rlkd_tensor *value, *grad;
        REQUIRE(rlkd_net_param(net, i, &name, &value, &grad));
        check_fd_entries(&p, name, value, grad);
    }
    check_fd_entries(&p, "input", input, dinput);

    free(r);
    rlkd_tensor_destroy(input);
    rlkd_tensor_destroy(doutput);
    rlkd_tensor_destroy(dinput);
    rlkd_net_destroy(net);
}

/* ---- 3. builder: nodes, shapes, names, costs ---- */

typedef struct expected_tensor {
    const char *name;
    int ndim;
    int64_t shape[4];
} expected_tensor;

static int has_shape(const rlkd_tensor *t, int ndim, const int64_t *shape)
{
    if (rlkd_tensor_ndim(t) != ndim)
        return 0;
    for (int d = 0; d < ndim; d++)
        if (rlkd_tensor_dim(t, d) != shape[d])
            return 0;
    return 1;
}

/* The network's parameters (or buffers) must be exactly `expected`, in
 * order, with their shapes; parameter gradients match their values. */
static void check_named_tensors(const rlkd_net *net, int buffers,
                                const expected_tensor *expected, int count)
{
    int got_count = -1;
    CHECK_OK(buffers ? rlkd_net_buffer_count(net, &got_count)
                     : rlkd_net_param_count(net, &got_count));
    CHECK_MSG(got_count == count, "%d %s, expected %d", got_count,
              buffers ? "buffers" : "parameters", count);
    for (int i = 0; i < count && i < got_count; i++) {
        const char *name = NULL;
        rlkd_tensor *value = NULL, *grad = NULL;
        CHECK_OK(buffers ? rlkd_net_buffer(net, i, &name, &value)
                         : rlkd_net_param(net, i, &name, &value, &grad));
        if (!CHECK_MSG(name && strcmp(name, expected[i].name) == 0,
                       "tensor %d is \"%s\", expected \"%s\"", i,
                       name ? name : "(null)", expected[i].name))
            continue;
        CHECK_MSG(has_shape(value, expected[i].ndim, expected[i].shape),
                  "%s has the wrong shape", name);
        if (!buffers)
            CHECK_MSG(grad && same_shape(grad, value) &&
                          test_all_equal(grad, 0.0f),
                      "%s: gradient missing, misshapen or nonzero", name);
    }
}

typedef struct expected_layer {
    const char *name, *kind;
    int64_t channels, height, width, params, macs;
} expected_layer;

static void check_costs(const rlkd_net *net, const expected_layer *expected,
                        int count)
{
    int layers = -1;
    CHECK_OK(rlkd_net_layer_count(net, &layers));
    CHECK_MSG(layers == count, "%d layers, expected %d", layers, count);
    int64_t total_params = 0, total_macs = 0;
    for (int i = 0; i < count && i < layers; i++) {
        const expected_layer *e = &expected[i];
        rlkd_layer_cost cost;
        rlkd_layer_cost_init(&cost);
        CHECK_OK(rlkd_net_layer_cost(net, i, &cost));
        CHECK_MSG(cost.name && strcmp(cost.name, e->name) == 0 && cost.kind &&
                      strcmp(cost.kind, e->kind) == 0 && cost.node == i + 1,
                  "layer %d is %s \"%s\" node %d, expected %s \"%s\" node %d",
                  i, cost.kind, cost.name, cost.node, e->kind, e->name, i + 1);
        CHECK_MSG(cost.out_channels == e->channels &&
                      cost.out_height == e->height &&
                      cost.out_width == e->width,
                  "layer %s: output [%lld,%lld,%lld], expected [%lld,%lld,%lld]",
                  e->name, (long long)cost.out_channels,
                  (long long)cost.out_height, (long long)cost.out_width,
                  (long long)e->channels, (long long)e->height,
                  (long long)e->width);
        CHECK_MSG(cost.params == e->params && cost.macs == e->macs,
                  "layer %s: %lld params %lld MACs, expected %lld and %lld",
                  e->name, (long long)cost.params, (long long)cost.macs,
                  (long long)e->params, (long long)e->macs);
        /* the node's shape as the graph reports it */
        int64_t c = -1, h = -1, w = -1;
        CHECK_OK(rlkd_net_node_shape(net, i + 1, &c, &h, &w));
        CHECK_MSG(c == e->channels && h == e->height && w == e->width,
                  "node %d shape [%lld,%lld,%lld]", i + 1, (long long)c,
                  (long long)h, (long long)w);
        total_params += e->params;
        total_macs += e->macs;
    }
    int64_t params = -1, macs = -1;
    CHECK_OK(rlkd_net_cost(net, &params, &macs));
    CHECK_MSG(params == total_params && macs == total_macs,
              "totals %lld params %lld MACs, expected %lld and %lld",
              (long long)params, (long long)macs, (long long)total_params,
              (long long)total_macs);
    CHECK_OK(rlkd_net_cost(net, NULL, NULL));
}

/* MACs of a square convolution per image. */
static int64_t conv_macs(int64_t cout, int64_t ho, int64_t wo, int64_t cin,
                         int64_t groups, int64_t kernel)
{
    return cout * ho * wo * (cin / groups) * kernel * kernel;
}

enum {
    B_INPUT, B_CONV1, B_BN, B_RELU, B_CONV2, B_MAXPOOL, B_AVGPOOL, B_SE,
    B_ECA, B_CBAM, B_CONCAT, B_ADD, B_GAP, B_DROPOUT, B_FC1, B_RELU2, B_FC2,
    B_NODES
};

static void builder(void)
{
    rlkd_net *net;
    REQUIRE(rlkd_net_create(test_ctx, 3, 9, 9, &net));
    CHECK(node_count(net) == 1);
    int64_t c = -1, h = -1, w = -1;
    CHECK_OK(rlkd_net_node_shape(net, B_INPUT, &c, &h, &w));
    CHECK(c == 3 && h == 9 && w == 9);

    const int concat_inputs[2] = {B_CBAM, B_AVGPOOL};
    /* stride 2, pad 1: (9 + 2 - 3) / 2 + 1 = 5 */
    ADD_NODE(B_CONV1, rlkd_net_add_conv2d(net, &node_, "features.0", B_INPUT,
                                          8, 3, 2, 1, 1, 1, 1));
    ADD_NODE(B_BN, rlkd_net_add_batchnorm2d(net, &node_, "features.1",
                                            B_CONV1, 1e-5f, 0.1f));
    ADD_NODE(B_RELU, rlkd_net_add_relu(net, &node_, NULL, B_BN));
    /* dilation 2, pad 2 keeps 5x5; 2 groups: weight [8, 4, 3, 3] */
    ADD_NODE(B_CONV2, rlkd_net_add_conv2d(net, &node_, "features.3", B_RELU,
                                          8, 3, 1, 2, 2, 2, 0));
    /* (5 + 2 - 3) / 2 + 1 = 3 */
    ADD_NODE(B_MAXPOOL, rlkd_net_add_maxpool2d(net, &node_, NULL, B_CONV2, 3,
                                               2, 1));
    ADD_NODE(B_AVGPOOL, rlkd_net_add_avgpool2d(net, &node_, "pool",
                                               B_MAXPOOL, 2, 1, 0, 1));
    ADD_NODE(B_SE, rlkd_net_add_se(net, &node_, "se", B_AVGPOOL, 4));
    ADD_NODE(B_ECA, rlkd_net_add_eca(net, &node_, "eca", B_SE, 0));
    ADD_NODE(B_CBAM, rlkd_net_add_cbam(net, &node_, "cbam", B_ECA, 4, 3));
    ADD_NODE(B_CONCAT, rlkd_net_add_concat(net, &node_, NULL, concat_inputs,
                                           2));
    ADD_NODE(B_ADD, rlkd_net_add_add(net, &node_, NULL, B_CBAM, B_AVGPOOL));
    ADD_NODE(B_GAP, rlkd_net_add_global_avgpool(net, &node_, NULL,
                                                B_CONCAT));
    ADD_NODE(B_DROPOUT, rlkd_net_add_dropout(net, &node_, NULL, B_GAP, 0.5f));
    ADD_NODE(B_FC1, rlkd_net_add_linear(net, &node_, "classifier", B_DROPOUT,
                                        10, 1));
    ADD_NODE(B_RELU2, rlkd_net_add_relu(net, &node_, NULL, B_FC1));
    CHECK_OK(rlkd_net_add_linear(net, NULL, "head", B_RELU2, 4, 0));
    CHECK(node_count(net) == B_NODES);

    /* ECA with kernel 0 takes the paper's size for 8 channels: 3. */
    const int eca_kernel = rlkd_eca_kernel_size(8, 2, 1);
    CHECK(eca_kernel == 3);
    const expected_tensor params[] = {
        {"features.0.weight", 4, {8, 3, 3, 3}},
        {"features.0.bias", 1, {8}},
        {"features.1.weight", 1, {8}},
        {"features.1.bias", 1, {8}},
        {"features.3.weight", 4, {8, 4, 3, 3}},
        {"se.fc1.weight", 2, {2, 8}}, /* hidden 8 / 4 */
        {"se.fc1.bias", 1, {2}},
        {"se.fc2.weight", 2, {8, 2}},
        {"se.fc2.bias", 1, {8}},
        {"eca.conv.weight", 3, {1, 1, 3}},
        {"cbam.fc1.weight", 2, {2, 8}},
        {"cbam.fc1.bias", 1, {2}},
        {"cbam.fc2.weight", 2, {8, 2}},
        {"cbam.fc2.bias", 1, {8}},
        {"cbam.spatial.weight", 4, {1, 2, 3, 3}},
        {"cbam.spatial.bias", 1, {1}},
        {"classifier.weight", 2, {10, 16}},
        {"classifier.bias", 1, {10}},
        {"head.weight", 2, {4, 10}},
    };
    const expected_tensor buffers[] = {
        {"features.1.running_mean", 1, {8}},
        {"features.1.running_var", 1, {8}},
        {"features.1.num_batches_tracked", 1, {1}},
    };
    check_named_tensors(net, 0, params, (int)(sizeof params / sizeof *params));
    check_named_tensors(net, 1, buffers,
                        (int)(sizeof buffers / sizeof *buffers));

    /* torchvision's initial values */
    CHECK(test_all_equal(net_tensor(net, "features.1.weight"), 1.0f));
    CHECK(test_all_equal(net_tensor(net, "features.1.bias"), 0.0f));
    CHECK(test_all_equal(net_tensor(net, "features.1.running_mean"), 0.0f));
    CHECK(test_all_equal(net_tensor(net, "features.1.running_var"), 1.0f));
    rlkd_tensor *tracked = net_tensor(net, "features.1.num_batches_tracked");
    CHECK(rlkd_tensor_dtype(tracked) == RLKD_DTYPE_I32);
    int32_t batches = -1;
    CHECK_OK(rlkd_tensor_read_i32(tracked, &batches, 1));
    CHECK(batches == 0);
    const double bound = 1.0 / sqrt(16.0); /* U(-1/sqrt(in), 1/sqrt(in)) */
    CHECK(max_abs(net_tensor(net, "classifier.weight")) <= bound);
    CHECK(max_abs(net_tensor(net, "classifier.weight")) > bound / 2);

    const expected_layer layers[] = {
        {"features.0", "conv2d", 8, 5, 5, 8 * 3 * 9 + 8,
         conv_macs(8, 5, 5, 3, 1, 3)},
        {"features.1", "batchnorm2d", 8, 5, 5, 16, 0},
        {"relu#3", "relu", 8, 5, 5, 0, 0},
        {"features.3", "conv2d", 8, 5, 5, 8 * 4 * 9,
         conv_macs(8, 5, 5, 8, 2, 3)},
        {"maxpool2d#5", "maxpool2d", 8, 3, 3, 0, 0},
        {"pool", "avgpool2d", 8, 2, 2, 0, 0},
        /* attention: MLP 2*C*hidden per run (CBAM runs it on the average
         * and the max), ECA C*k, CBAM's spatial conv 2*k*k*H*W */
        {"se", "se", 8, 2, 2, 2 * 8 * 2 + 2 + 8, 2 * 8 * 2},
        {"eca", "eca", 8, 2, 2, 3, 8 * 3},
        {"cbam", "cbam", 8, 2, 2, 2 * 8 * 2 + 2 + 8 + 2 * 9 + 1,
         2 * 2 * 8 * 2 + 2 * 9 * 2 * 2},
        {"concat#10", "concat", 16, 2, 2, 0, 0},
        {"add#11", "add", 8, 2, 2, 0, 0},
        {"global_avgpool#12", "global_avgpool", 16, 1, 1, 0, 0},
        {"dropout#13", "dropout", 16, 1, 1, 0, 0},
        {"classifier", "linear", 10, 1, 1, 16 * 10 + 10, 16 * 10},
        {"relu#15", "relu", 10, 1, 1, 0, 0},
        {"head", "linear", 4, 1, 1, 10 * 4, 10 * 4},
    };
    check_costs(net, layers, (int)(sizeof layers / sizeof *layers));

    /* after linear the nodes are flat: the output is [N, 4] */
    rlkd_tensor *input = random_tensor(2, 3, 9, 9, 5), *output = NULL;
    CHECK_OK(rlkd_net_forward(net, input, 0, &output));
    CHECK(output && rlkd_tensor_ndim(output) == 2 &&
          rlkd_tensor_dim(output, 0) == 2 && rlkd_tensor_dim(output, 1) == 4);

    /* cost struct and index checks */
    rlkd_layer_cost cost;
    memset(&cost, 0xab, sizeof cost);
    rlkd_layer_cost_init(&cost);
    CHECK(cost.struct_size == sizeof cost && cost.name == NULL &&
          cost.params == 0 && cost.macs == 0);
    rlkd_layer_cost_init(NULL); /* accepted */
    cost.struct_size = 0;
    CHECK_FAILS(rlkd_net_layer_cost(net, 0, &cost), RLKD_ERR_INVALID_ARGUMENT,
                "struct_size");
    rlkd_layer_cost_init(&cost);
    CHECK_FAILS(rlkd_net_layer_cost(net, B_NODES - 1, &cost),
                RLKD_ERR_INVALID_ARGUMENT, "layer index");
    CHECK_FAILS(rlkd_net_layer_cost(net, -1, &cost),
                RLKD_ERR_INVALID_ARGUMENT, "layer index");
    CHECK_FAILS(rlkd_net_layer_cost(NULL, 0, &cost),
                RLKD_ERR_INVALID_ARGUMENT, "net is NULL");
    CHECK_FAILS(rlkd_net_node_shape(net, B_NODES, &c, &h, &w),
                RLKD_ERR_INVALID_ARGUMENT, "node index");
    CHECK_FAILS(rlkd_net_param(net, 19, NULL, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "parameter index");
    CHECK_FAILS(rlkd_net_buffer(net, 3, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "buffer index");
    CHECK_FAILS(rlkd_net_cost(NULL, NULL, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "net is NULL");

    rlkd_tensor_destroy(input);
    rlkd_net_destroy(net);
}

/* ---- 4. builder errors ---- */

/* What a failed builder call must leave as it was. */
typedef struct net_snapshot {
    int nodes, params, buffers;
    int64_t total_params, total_macs;
} net_snapshot;

static net_snapshot take_snapshot(const rlkd_net *net)
{
    net_snapshot s;
    s.nodes = node_count(net);
    s.params = param_count(net);
    REQUIRE(rlkd_net_buffer_count(net, &s.buffers));
    REQUIRE(rlkd_net_cost(net, &s.total_params, &s.total_macs));
    return s;
}

static void check_unchanged(const rlkd_net *net, net_snapshot before,
                            const char *expr, int line)
{
    net_snapshot after = take_snapshot(net);
    test_check(after.nodes == before.nodes && after.params == before.params &&
                   after.buffers == before.buffers &&
                   after.total_params == before.total_params &&
                   after.total_macs == before.total_macs,
               __FILE__, line, "%s changed the network", expr);
}

/* The builder call must fail with `status` and a message containing
 * `needle`, leave the network as it was and not write *node. */
#define CHECK_BUILD_FAILS(net, node, call, status, needle)         \
    do {                                                           \
        net_snapshot before_ = take_snapshot(net);                 \
        (node) = -7;                                               \
        CHECK_FAILS(call, status, needle);                         \
        check_unchanged(net, before_, #call, __LINE__);            \
        CHECK_MSG((node) == -7, "%s wrote the node index", #call); \
    } while (0)

enum {
    E_INPUT, E_CONV, E_RELU, E_POOL, E_GAP, E_FC, E_FC4, E_NODES
};

static void builder_errors(void)
{
    rlkd_net *net;
    REQUIRE(rlkd_net_create(test_ctx, 3, 8, 8, &net));
    ADD_NODE(E_CONV, rlkd_net_add_conv2d(net, &node_, "conv", E_INPUT, 4, 3,
                                         1, 1, 1, 1, 1));
    ADD_NODE(E_RELU, rlkd_net_add_relu(net, &node_, "relu", E_CONV));
    ADD_NODE(E_POOL, rlkd_net_add_maxpool2d(net, &node_, NULL, E_RELU, 2, 2,
                                            0));
    ADD_NODE(E_GAP, rlkd_net_add_global_avgpool(net, &node_, NULL, E_POOL));
    ADD_NODE(E_FC, rlkd_net_add_linear(net, &node_, "fc", E_GAP, 6, 1));
    /* flat [4] next to E_GAP's [4, 1, 1]: same numbers, different shapes */
    ADD_NODE(E_FC4, rlkd_net_add_linear(net, &node_, "fc4", E_GAP, 4, 1));

    /* A failure after a training forward keeps what backward needs. */
    rlkd_tensor *input = random_tensor(2, 3, 8, 8, 6);
    rlkd_tensor *doutput = random_tensor(2, 4, 0, 0, 7);
    CHECK_OK(rlkd_net_forward(net, input, 1, NULL));

    int node = 0;
    const int ok_pair[2] = {E_CONV, E_RELU};
    CHECK_FAILS(rlkd_net_add_relu(NULL, &node, NULL, 0),
                RLKD_ERR_INVALID_ARGUMENT, "net is NULL");
    CHECK_FAILS(rlkd_net_add_concat(NULL, &node, NULL, ok_pair, 2),
                RLKD_ERR_INVALID_ARGUMENT, "net is NULL");

    /* inputs */
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_relu(net, &node, NULL, E_NODES),
                      RLKD_ERR_INVALID_ARGUMENT, "input node 7 does not exist");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_relu(net, &node, NULL, -1),
                      RLKD_ERR_INVALID_ARGUMENT, "input node -1 does not exist");
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_add(net, &node, NULL, E_CONV, E_NODES + 3),
                      RLKD_ERR_INVALID_ARGUMENT, "input node 10");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_add(net, &node, NULL, E_RELU,
                                                  E_RELU),
                      RLKD_ERR_INVALID_ARGUMENT, "node 2 is given twice");
    const int repeated[3] = {E_CONV, E_RELU, E_CONV};
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_concat(net, &node, NULL, repeated, 3),
                      RLKD_ERR_INVALID_ARGUMENT, "node 1 is given twice");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_concat(net, &node, NULL, NULL, 2),
                      RLKD_ERR_INVALID_ARGUMENT, "inputs is NULL");
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_concat(net, &node, NULL, ok_pair, 0),
                      RLKD_ERR_INVALID_ARGUMENT, "input count");

    /* names */
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "conv",
                                                     E_CONV, 4, 3, 1, 1, 1, 1,
                                                     1),
                      RLKD_ERR_INVALID_ARGUMENT, "\"conv\" is taken");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_relu(net, &node, "fc", E_CONV),
                      RLKD_ERR_INVALID_ARGUMENT, "\"fc\" is taken");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_relu(net, &node, "", E_CONV),
                      RLKD_ERR_INVALID_ARGUMENT, "empty");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, NULL, E_CONV,
                                                     4, 3, 1, 1, 1, 1, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "conv2d layer needs a name");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_batchnorm2d(net, &node, NULL,
                                                          E_CONV, 1e-5f, 0.1f),
                      RLKD_ERR_INVALID_ARGUMENT, "needs a name");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_linear(net, &node, NULL, E_GAP,
                                                     3, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "linear layer needs a name");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_se(net, &node, NULL, E_CONV, 2),
                      RLKD_ERR_INVALID_ARGUMENT, "needs a name");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_eca(net, &node, NULL, E_CONV, 3),
                      RLKD_ERR_INVALID_ARGUMENT, "needs a name");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_cbam(net, &node, NULL, E_CONV,
                                                   2, 3),
                      RLKD_ERR_INVALID_ARGUMENT, "needs a name");

    /* flat [N, C] nodes where [N, C, H, W] is needed */
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "c", E_FC, 4,
                                                     1, 1, 0, 1, 1, 1),
                      RLKD_ERR_SHAPE, "\"fc\" is flat");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_batchnorm2d(net, &node, "b",
                                                          E_FC, 1e-5f, 0.1f),
                      RLKD_ERR_SHAPE, "is flat");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_maxpool2d(net, &node, NULL, E_FC,
                                                        1, 1, 0),
                      RLKD_ERR_SHAPE, "is flat");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_avgpool2d(net, &node, NULL, E_FC,
                                                        1, 1, 0, 1),
                      RLKD_ERR_SHAPE, "is flat");
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_global_avgpool(net, &node, NULL, E_FC),
                      RLKD_ERR_SHAPE, "is flat");
    const int with_flat[2] = {E_GAP, E_FC4};
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_concat(net, &node, NULL, with_flat, 2),
                      RLKD_ERR_SHAPE, "\"fc4\" is flat");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_se(net, &node, "s", E_FC, 2),
                      RLKD_ERR_SHAPE, "is flat");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_eca(net, &node, "e", E_FC, 3),
                      RLKD_ERR_SHAPE, "is flat");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_cbam(net, &node, "m", E_FC, 2,
                                                   3),
                      RLKD_ERR_SHAPE, "is flat");

    /* shapes that do not fit */
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_add(net, &node, NULL, E_CONV,
                                                  E_POOL),
                      RLKD_ERR_SHAPE, "different shapes");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_add(net, &node, NULL, E_GAP,
                                                  E_FC4),
                      RLKD_ERR_SHAPE, "different shapes");
    const int mixed_sizes[2] = {E_RELU, E_POOL};
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_concat(net, &node, NULL, mixed_sizes, 2),
                      RLKD_ERR_SHAPE, "share H and W");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "g", E_CONV,
                                                     6, 3, 1, 1, 1, 3, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "groups 3 must divide");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "g", E_CONV,
                                                     5, 3, 1, 1, 1, 2, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "groups 2 must divide");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "k", E_POOL,
                                                     4, 5, 1, 0, 1, 1, 1),
                      RLKD_ERR_SHAPE, "layer \"k\": rlkd_window_output_size");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_maxpool2d(net, &node, "big",
                                                        E_GAP, 3, 1, 0),
                      RLKD_ERR_SHAPE, "does not fit");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "s0", E_CONV,
                                                     4, 3, 0, 1, 1, 1, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "stride");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "o0", E_CONV,
                                                     0, 3, 1, 1, 1, 1, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "out_channels");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_linear(net, &node, "l0", E_GAP,
                                                     0, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "out_features");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_maxpool2d(net, &node, NULL,
                                                        E_CONV, 3, 1, 2),
                      RLKD_ERR_INVALID_ARGUMENT, "padding 2 must be in");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_avgpool2d(net, &node, NULL,
                                                        E_CONV, 2, 2, 2, 1),
                      RLKD_ERR_INVALID_ARGUMENT, "padding 2 must be in");

    /* settings */
    const float bad_eps[] = {0.0f, -1.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_eps / sizeof *bad_eps; i++)
        CHECK_BUILD_FAILS(net, node,
                          rlkd_net_add_batchnorm2d(net, &node, "bn", E_CONV,
                                                   bad_eps[i], 0.1f),
                          RLKD_ERR_INVALID_ARGUMENT, "eps");
    const float bad_momentum[] = {-0.1f, 1.5f, NAN};
    for (size_t i = 0; i < sizeof bad_momentum / sizeof *bad_momentum; i++)
        CHECK_BUILD_FAILS(net, node,
                          rlkd_net_add_batchnorm2d(net, &node, "bn", E_CONV,
                                                   1e-5f, bad_momentum[i]),
                          RLKD_ERR_INVALID_ARGUMENT, "momentum");
    const float bad_p[] = {1.0f, -0.1f, NAN};
    for (size_t i = 0; i < sizeof bad_p / sizeof *bad_p; i++)
        CHECK_BUILD_FAILS(net, node,
                          rlkd_net_add_dropout(net, &node, NULL, E_CONV,
                                               bad_p[i]),
                          RLKD_ERR_INVALID_ARGUMENT, "p must be in [0,1)");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_eca(net, &node, "eca", E_CONV,
                                                  2),
                      RLKD_ERR_INVALID_ARGUMENT, "ECA kernel must be odd");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_eca(net, &node, "eca", E_CONV,
                                                  -3),
                      RLKD_ERR_INVALID_ARGUMENT, "ECA kernel must be odd");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_cbam(net, &node, "cbam", E_CONV,
                                                   2, 4),
                      RLKD_ERR_INVALID_ARGUMENT, "spatial kernel must be odd");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_cbam(net, &node, "cbam", E_CONV,
                                                   2, 0),
                      RLKD_ERR_INVALID_ARGUMENT, "spatial kernel must be odd");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_se(net, &node, "se", E_CONV, 0),
                      RLKD_ERR_INVALID_ARGUMENT, "reduction must be >= 1");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_cbam(net, &node, "cbam", E_CONV,
                                                   0, 3),
                      RLKD_ERR_INVALID_ARGUMENT, "reduction must be >= 1");

    /* The failed CBAM made its MLP before the kernel was refused: none of
     * it may remain, and its name is still free. */
    rlkd_tensor *found = NULL;
    CHECK_FAILS(rlkd_net_find(net, "cbam.fc1.weight", &found),
                RLKD_ERR_INVALID_ARGUMENT, "no tensor named");
    CHECK_FAILS(rlkd_net_find(net, "bn.running_mean", &found),
                RLKD_ERR_INVALID_ARGUMENT, "no tensor named");

    /* Backward still runs on the forward before the failures. */
    CHECK_OK(rlkd_net_backward(net, doutput, NULL));
    CHECK(max_abs(net_tensor(net, "conv.weight")) > 0);

    /* and the next layer gets the next node */
    node = -7;
    CHECK_OK(rlkd_net_add_cbam(net, &node, "cbam", E_CONV, 2, 3));
    CHECK(node == E_NODES);
    CHECK_OK(rlkd_net_find(net, "cbam.spatial.weight", &found));

    /* Names must stay unique, so that a saved architecture loads again:
     * a tensor name already made by another layer ("cbam.fc1.weight") is
     * refused, and '#' is kept for generated names. A layer may carry its
     * own generated name (rlkd_net_load passes it back). */
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_linear(net, &node, "cbam.fc1",
                                                     E_GAP, 2, 1),
                      RLKD_ERR_INVALID_ARGUMENT,
                      "\"cbam.fc1.weight\", but that name is taken");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_relu(net, &node, "relu#9",
                                                   E_CONV),
                      RLKD_ERR_INVALID_ARGUMENT, "relu#8");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_relu(net, &node, "conv#8",
                                                   E_CONV),
                      RLKD_ERR_INVALID_ARGUMENT, "'#'");
    CHECK_OK(rlkd_net_add_relu(net, &node, "relu#8", E_CONV));
    CHECK_OK(rlkd_net_add_relu(net, &node, NULL, E_CONV));
    rlkd_layer_cost cost;
    rlkd_layer_cost_init(&cost);
    CHECK_OK(rlkd_net_layer_cost(net, node - 1, &cost));
    CHECK(strcmp(cost.name, "relu#9") == 0);

    rlkd_tensor_destroy(input);
    rlkd_tensor_destroy(doutput);
    rlkd_net_destroy(net);
}

/* Sizes no tensor can hold are refused when the network or the layer is
 * made (nothing is allocated for nodes then; the costs are computed from
 * these sizes), not at the first forward. */
static void builder_size_limits(void)
{
    rlkd_net *net = NULL;
    CHECK_FAILS(rlkd_net_create(test_ctx, 1, INT_MAX, INT_MAX, &net),
                RLKD_ERR_INVALID_ARGUMENT,
                "the input of 1 x 2147483647 x 2147483647 values per image is "
                "over the 2^31 - 1 elements of a tensor");
    CHECK_FAILS(rlkd_net_create(test_ctx, 3, 32768, 32768, &net),
                RLKD_ERR_INVALID_ARGUMENT, "3 x 32768 x 32768");
    CHECK(net == NULL);

    /* 2^30 values per image fit; four channels of them do not, nor two
     * such nodes side by side, nor padding past an int's sides. */
    REQUIRE(rlkd_net_create(test_ctx, 1, 32768, 32768, &net));
    int relu, node = 0;
    REQUIRE(rlkd_net_add_relu(net, &relu, NULL, 0));
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "wide", 0, 4,
                                                     1, 1, 0, 1, 1, 0),
                      RLKD_ERR_SHAPE,
                      "the output of layer \"wide\" of 4 x 32768 x 32768");
    const int both[2] = {0, relu};
    CHECK_BUILD_FAILS(net, node,
                      rlkd_net_add_concat(net, &node, NULL, both, 2),
                      RLKD_ERR_SHAPE, "of 2 x 32768 x 32768 values");
    CHECK_BUILD_FAILS(net, node, rlkd_net_add_conv2d(net, &node, "padded", 0,
                                                     1, 1, 1, INT_MAX / 2 + 1,
                                                     1, 1, 0),
                      RLKD_ERR_SHAPE,
                      "layer \"padded\": its output size 2147516416 is over "
                      "2147483647");
    /* The window call itself takes int64 sizes: one that padding would
     * overflow is refused. */
    int64_t out = -1;
    CHECK_FAILS(rlkd_window_output_size(&out, INT64_MAX, 3, 1, 1, 1),
                RLKD_ERR_INVALID_ARGUMENT, "overflows a 64-bit size");
    CHECK(out == -1);
    CHECK_OK(rlkd_window_output_size(&out, INT64_MAX - 2, 3, 1, 1, 1));
    CHECK(out == INT64_MAX - 2);
    rlkd_net_destroy(net);
}

/* ---- 5. forward and backward errors ---- */

static void run_errors(void)
{
    rlkd_net *net, *empty;
    REQUIRE(rlkd_net_create(test_ctx, 3, 5, 5, &net));
    REQUIRE(rlkd_net_create(test_ctx, 3, 5, 5, &empty));
    REQUIRE(rlkd_net_add_conv2d(net, NULL, "conv", 0, 2, 3, 1, 1, 1, 1, 1));
    REQUIRE(rlkd_net_add_batchnorm2d(net, NULL, "bn", 1, 1e-5f, 0.1f));

    rlkd_tensor *input = random_tensor(2, 3, 5, 5, 8);
    rlkd_tensor *wrong_channels = t_new(2, 4, 5, 5);
    rlkd_tensor *wrong_height = t_new(2, 3, 6, 5);
    rlkd_tensor *wrong_width = t_new(2, 3, 5, 4);
    rlkd_tensor *flat = t_new(2, 75, 0, 0);
    rlkd_tensor *doutput = random_tensor(2, 2, 5, 5, 9);
    rlkd_tensor *wrong_doutput = t_new(2, 2, 5, 4);
    rlkd_tensor *wrong_batch_doutput = t_new(3, 2, 5, 5);
    rlkd_tensor *dinput = t_new(2, 3, 5, 5);
    rlkd_tensor *wrong_dinput = t_new(2, 3, 5, 4);
    rlkd_tensor *output = input; /* must be cleared on failure */

    CHECK_FAILS(rlkd_net_forward(NULL, input, 1, &output),
                RLKD_ERR_INVALID_ARGUMENT, "net is NULL");
    CHECK(output == NULL);
    CHECK_FAILS(rlkd_net_forward(net, NULL, 1, &output),
                RLKD_ERR_INVALID_ARGUMENT, "input is NULL");
    CHECK_FAILS(rlkd_net_forward(net, wrong_channels, 1, &output),
                RLKD_ERR_SHAPE, "input has shape [2,4,5,5], expected [2,3,5,5]");
    CHECK_FAILS(rlkd_net_forward(net, wrong_height, 1, &output),
                RLKD_ERR_SHAPE, "expected [2,3,5,5]");
    CHECK_FAILS(rlkd_net_forward(net, wrong_width, 1, &output),
                RLKD_ERR_SHAPE, "expected [2,3,5,5]");
    CHECK_FAILS(rlkd_net_forward(net, flat, 1, &output), RLKD_ERR_SHAPE,
                "input must be 4-D");
    CHECK_FAILS(rlkd_net_forward(empty, input, 1, &output),
                RLKD_ERR_INVALID_ARGUMENT, "no layers");

    CHECK_FAILS(rlkd_net_backward(NULL, doutput, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "net is NULL");
    CHECK_FAILS(rlkd_net_backward(net, doutput, dinput),
                RLKD_ERR_INVALID_ARGUMENT, "training forward");
    CHECK_FAILS(rlkd_net_backward(empty, doutput, dinput),
                RLKD_ERR_INVALID_ARGUMENT, "training forward");
    CHECK_OK(rlkd_net_forward(net, input, 0, NULL));
    CHECK_FAILS(rlkd_net_backward(net, doutput, dinput),
                RLKD_ERR_INVALID_ARGUMENT, "inference mode");

    CHECK_OK(rlkd_net_forward(net, input, 1, NULL));
    CHECK_FAILS(rlkd_net_backward(net, NULL, dinput),
                RLKD_ERR_INVALID_ARGUMENT, "doutput is NULL");
    CHECK_FAILS(rlkd_net_backward(net, wrong_doutput, dinput), RLKD_ERR_SHAPE,
                "doutput has shape [2,2,5,4] but the output has [2,2,5,5]");
    CHECK_FAILS(rlkd_net_backward(net, wrong_batch_doutput, dinput),
                RLKD_ERR_SHAPE, "doutput");
    CHECK_FAILS(rlkd_net_backward(net, doutput, wrong_dinput), RLKD_ERR_SHAPE,
                "dinput has shape [2,3,5,4] but the input has [2,3,5,5]");
    CHECK_FAILS(rlkd_net_backward(net, doutput, flat), RLKD_ERR_SHAPE,
                "dinput");
    /* the refused calls computed nothing */
    for (int i = 0; i < param_count(net); i++) {
        rlkd_tensor *grad;
        REQUIRE(rlkd_net_param(net, i, NULL, NULL, &grad));
        CHECK(test_all_equal(grad, 0.0f));
    }
    CHECK(test_all_equal(dinput, 0.0f));
    /* A forward refused at its argument checks touches nothing: backward
     * still runs on the forward before it. */
    CHECK_FAILS(rlkd_net_forward(net, wrong_channels, 1, NULL),
                RLKD_ERR_SHAPE, "input");
    CHECK_OK(rlkd_net_backward(net, doutput, dinput));
    CHECK(max_abs(dinput) > 0);

    /* A forward that fails part way (batch norm cannot train on one value
     * per channel) leaves nothing for backward. */
    rlkd_net *one_pixel;
    REQUIRE(rlkd_net_create(test_ctx, 2, 1, 1, &one_pixel));
    REQUIRE(rlkd_net_add_conv2d(one_pixel, NULL, "conv", 0, 2, 1, 1, 0, 1, 1,
                                1));
    REQUIRE(rlkd_net_add_batchnorm2d(one_pixel, NULL, "bn", 1, 1e-5f, 0.1f));
    rlkd_tensor *pixels2 = random_tensor(2, 2, 1, 1, 22);
    rlkd_tensor *pixels1 = random_tensor(1, 2, 1, 1, 23);
    rlkd_tensor *dpixels2 = random_tensor(2, 2, 1, 1, 24);
    CHECK_OK(rlkd_net_forward(one_pixel, pixels2, 1, NULL));
    CHECK_FAILS(rlkd_net_forward(one_pixel, pixels1, 1, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "more than 1 value per channel");
    CHECK_FAILS(rlkd_net_backward(one_pixel, dpixels2, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "training forward");
    CHECK_OK(rlkd_net_forward(one_pixel, pixels2, 1, NULL));
    CHECK_OK(rlkd_net_backward(one_pixel, dpixels2, NULL));
    rlkd_net_destroy(one_pixel);

    CHECK_FAILS(rlkd_net_zero_grad(NULL), RLKD_ERR_INVALID_ARGUMENT,
                "net is NULL");
    CHECK_FAILS(rlkd_net_node_count(NULL, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "net is NULL");
    CHECK_FAILS(rlkd_net_node_count(net, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "count is NULL");
    rlkd_net *refused = net;
    CHECK_FAILS(rlkd_net_create(test_ctx, 0, 5, 5, &refused),
                RLKD_ERR_INVALID_ARGUMENT, "channels");
    CHECK(refused == NULL);
    rlkd_net_destroy(NULL); /* accepted */

    rlkd_tensor *all[] = {input, wrong_channels, wrong_height, wrong_width,
                          flat, doutput, wrong_doutput, wrong_batch_doutput,
                          dinput, wrong_dinput, pixels2, pixels1, dpixels2};
    destroy_tensors(all, (int)(sizeof all / sizeof *all));
    rlkd_net_destroy(net);
    rlkd_net_destroy(empty);
}

/* ---- 6. modes and state ---- */

enum { M_CHANNELS = 2, M_SIZE = 5, M_BATCH = 4, M_OUT = 3 };
#define M_MOMENTUM 0.25f
#define M_EPS 1e-3f

/* Zeroes the gradients, then a training forward of `input` (whose batch
 * may differ from the last call's) and a backward with a dinput: the
 * output must have output_shape and dinput must be nonzero. */
static void train_step(rlkd_net *net, rlkd_tensor *input,
                       const int64_t *output_shape, int output_ndim,
                       uint64_t seed)
{
    const int64_t batch = rlkd_tensor_dim(input, 0);
    rlkd_tensor *output = NULL;
    CHECK_OK(rlkd_net_zero_grad(net));
    CHECK_OK(rlkd_net_forward(net, input, 1, &output));
    if (!CHECK(output && has_shape(output, output_ndim, output_shape)))
        return;
    rlkd_tensor *doutput = tensor_like(output);
    rlkd_tensor *dinput = tensor_like(input);
    fill_random(doutput, -1.0f, 1.0f, seed);
    CHECK_OK(rlkd_net_backward(net, doutput, dinput));
    CHECK_MSG(max_abs(dinput) > 0, "batch %lld: dinput is zero",
              (long long)batch);
    rlkd_tensor_destroy(doutput);
    rlkd_tensor_destroy(dinput);
}

/* Copies of every parameter gradient. */
static rlkd_tensor **copy_grads(const rlkd_net *net)
{
    rlkd_tensor **copies = calloc((size_t)param_count(net), sizeof *copies);
    for (int i = 0; i < param_count(net); i++) {
        rlkd_tensor *grad;
        REQUIRE(rlkd_net_param(net, i, NULL, NULL, &grad));
        copies[i] = tensor_copy(grad);
    }
    return copies;
}

static void free_grads(const rlkd_net *net, rlkd_tensor **grads)
{
    destroy_tensors(grads, param_count(net));
    free(grads);
}

static int32_t batches_tracked(const rlkd_net *net)
{
    int32_t count = -1;
    REQUIRE(rlkd_tensor_read_i32(net_tensor(net, "bn.num_batches_tracked"),
                                 &count, 1));
    return count;
}

static void modes_and_state(void)
{
    rlkd_net *net;
    REQUIRE(rlkd_net_create(test_ctx, M_CHANNELS, M_SIZE, M_SIZE, &net));
    REQUIRE(rlkd_net_add_conv2d(net, NULL, "conv", 0, M_OUT, 3, 1, 1, 1, 1,
                                1));
    REQUIRE(rlkd_net_add_batchnorm2d(net, NULL, "bn", 1, M_EPS, M_MOMENTUM));
    randomize_params(net, 300);
    rlkd_tensor *running_mean = net_tensor(net, "bn.running_mean");
    rlkd_tensor *running_var = net_tensor(net, "bn.running_var");
    rlkd_tensor *input = random_tensor(M_BATCH, M_CHANNELS, M_SIZE, M_SIZE, 10);
    /* the BN input by hand, from the network's own conv parameters */
    rlkd_tensor *conv_out = t_new(M_BATCH, M_OUT, M_SIZE, M_SIZE);
    REQUIRE(rlkd_conv2d_forward(test_ctx, conv_out, input,
                                net_tensor(net, "conv.weight"),
                                net_tensor(net, "conv.bias"), 1, 1, 1, 1, 1, 1,
                                1));

    /* Training: batch statistics, running statistics moved as PyTorch
     * does (checked against the L1 op on copies of the old ones). */
    rlkd_tensor *want_mean = tensor_copy(running_mean);
    rlkd_tensor *want_var = tensor_copy(running_var);
    rlkd_tensor *want = tensor_like(conv_out), *output = NULL;
    REQUIRE(rlkd_batchnorm2d_forward(test_ctx, want, NULL, NULL, want_mean,
                                     want_var, conv_out,
                                     net_tensor(net, "bn.weight"),
                                     net_tensor(net, "bn.bias"), 1,
                                     M_MOMENTUM, M_EPS));
    CHECK(batches_tracked(net) == 0);
    CHECK_OK(rlkd_net_forward(net, input, 1, &output));
    check_close_tensors("training output", output, want, 1e-6, 1e-6);
    check_close_tensors("running_mean after training", running_mean,
                        want_mean, 1e-7, 1e-6);
    check_close_tensors("running_var after training", running_var, want_var,
                        1e-7, 1e-6);
    CHECK(!test_all_equal(running_mean, 0.0f));
    CHECK(batches_tracked(net) == 1);
    rlkd_tensor *training_output = tensor_copy(output);

    /* Inference: running statistics, which stay as they are. */
    rlkd_tensor *mean_before = tensor_copy(running_mean);
    rlkd_tensor *var_before = tensor_copy(running_var);
    REQUIRE(rlkd_batchnorm2d_forward(test_ctx, want, NULL, NULL, running_mean,
                                     running_var, conv_out,
                                     net_tensor(net, "bn.weight"),
                                     net_tensor(net, "bn.bias"), 0,
                                     M_MOMENTUM, M_EPS));
    CHECK_OK(rlkd_net_forward(net, input, 0, &output));
    check_close_tensors("inference output", output, want, 1e-6, 1e-6);
    CHECK(test_same_values(running_mean, mean_before));
    CHECK(test_same_values(running_var, var_before));
    CHECK(batches_tracked(net) == 1);
    float *inference = t_get(output), *training = t_get(training_output);
    double largest_change = 0;
    for (size_t i = 0; i < numel(output); i++)
        largest_change = fmax(largest_change,
                              fabs((double)inference[i] - training[i]));
    CHECK_MSG(largest_change > 0.1, "inference output differs from training "
              "by at most %g", largest_change);
    free(inference);
    free(training);

    /* The batch size may change between calls; repeating batch 2 repeats
     * its results to the bit. */
    rlkd_tensor *batch2 = random_tensor(2, M_CHANNELS, M_SIZE, M_SIZE, 11);
    rlkd_tensor *batch3 = random_tensor(3, M_CHANNELS, M_SIZE, M_SIZE, 12);
    const int64_t shape2[4] = {2, M_OUT, M_SIZE, M_SIZE};
    const int64_t shape3[4] = {3, M_OUT, M_SIZE, M_SIZE};
    train_step(net, batch2, shape2, 4, 13);
    rlkd_tensor **first = copy_grads(net);
    train_step(net, batch3, shape3, 4, 14);
    train_step(net, batch2, shape2, 4, 13);
    CHECK(batches_tracked(net) == 4);
    for (int i = 0; i < param_count(net); i++) {
        rlkd_tensor *grad;
        REQUIRE(rlkd_net_param(net, i, NULL, NULL, &grad));
        CHECK_MSG(test_same_values(grad, first[i]) && max_abs(grad) > 0,
                  "gradient %d differs after batch 3", i);
    }

    /* zero_grad zeroes; two backward calls accumulate twice the gradient */
    CHECK_OK(rlkd_net_zero_grad(net));
    for (int i = 0; i < param_count(net); i++) {
        rlkd_tensor *grad;
        REQUIRE(rlkd_net_param(net, i, NULL, NULL, &grad));
        CHECK(test_all_equal(grad, 0.0f));
    }
    rlkd_tensor *doutput = random_tensor(2, M_OUT, M_SIZE, M_SIZE, 13);
    CHECK_OK(rlkd_net_forward(net, batch2, 1, NULL));
    CHECK_OK(rlkd_net_backward(net, doutput, NULL));
    CHECK_OK(rlkd_net_backward(net, doutput, NULL));
    for (int i = 0; i < param_count(net); i++) {
        rlkd_tensor *grad;
        const char *name;
        REQUIRE(rlkd_net_param(net, i, &name, NULL, &grad));
        float *twice = t_get(first[i]);
        double *want_twice = test_to_double(twice, numel(first[i]));
        for (size_t k = 0; k < numel(first[i]); k++)
            want_twice[k] *= 2;
        char label[96];
        snprintf(label, sizeof label, "two backward calls: d %s", name);
        float *got = t_get(grad);
        test_close(label, got, want_twice, numel(grad), 1e-7, 1e-6);
        free(got);
        free(twice);
        free(want_twice);
    }
    free_grads(net, first);

    /* A layer added after a forward: backward must wait for a new forward,
     * which then runs the longer graph. */
    int node = -1;
    CHECK_OK(rlkd_net_add_relu(net, &node, NULL, 2));
    CHECK(node == 3);
    CHECK_FAILS(rlkd_net_backward(net, doutput, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "training forward");
    train_step(net, batch2, shape2, 4, 15);
    CHECK_OK(rlkd_net_add_linear(net, &node, "fc", 3, 5, 1));
    const int64_t logits_shape[2] = {3, 5};
    train_step(net, batch3, logits_shape, 2, 16);

    /* Dropout: the identity in inference; in training each element is
     * dropped or scaled by 1/(1-p) = 2, and both happen. */
    rlkd_tensor *logits = NULL;
    CHECK_OK(rlkd_net_forward(net, batch3, 1, &logits));
    rlkd_tensor *training_logits = tensor_copy(logits);
    /* after the training forward: it moves the running statistics */
    CHECK_OK(rlkd_net_forward(net, batch3, 0, &logits));
    rlkd_tensor *inference_logits = tensor_copy(logits);
    CHECK_OK(rlkd_net_add_dropout(net, NULL, NULL, 4, 0.5f));
    CHECK_OK(rlkd_net_forward(net, batch3, 0, &logits));
    CHECK(test_same_values(logits, inference_logits));
    CHECK_OK(rlkd_net_forward(net, batch3, 1, &logits));
    float *dropped = t_get(logits), *kept = t_get(training_logits);
    int zeros = 0, doubled = 0;
    for (size_t i = 0; i < numel(logits); i++) {
        zeros += dropped[i] == 0.0f;
        doubled += dropped[i] == 2.0f * kept[i] && kept[i] != 0.0f;
    }
    CHECK_MSG(zeros + doubled == (int)numel(logits) && zeros > 0 &&
                  doubled > 0,
              "training dropout: %d dropped, %d doubled of %zu", zeros,
              doubled, numel(logits));
    free(dropped);
    free(kept);

    /* rlkd_net_find: parameters and buffers are the tensors listed */
    rlkd_tensor *found = NULL, *listed = NULL;
    CHECK_OK(rlkd_net_find(net, "conv.weight", &found));
    REQUIRE(rlkd_net_param(net, 0, NULL, &listed, NULL));
    CHECK(found == listed);
    CHECK_OK(rlkd_net_find(net, "fc.bias", &found));
    REQUIRE(rlkd_net_param(net, param_count(net) - 1, NULL, &listed, NULL));
    CHECK(found == listed);
    CHECK_OK(rlkd_net_find(net, "bn.running_var", &found));
    REQUIRE(rlkd_net_buffer(net, 1, NULL, &listed));
    CHECK(found == listed);
    CHECK_OK(rlkd_net_find(net, "bn.num_batches_tracked", &found));
    CHECK(rlkd_tensor_dtype(found) == RLKD_DTYPE_I32);
    CHECK_FAILS(rlkd_net_find(net, "bn.running_std", &found),
                RLKD_ERR_INVALID_ARGUMENT, "no tensor named \"bn.running_std\"");
    CHECK_FAILS(rlkd_net_find(net, "bn", &found), RLKD_ERR_INVALID_ARGUMENT,
                "no tensor named");
    CHECK_FAILS(rlkd_net_find(net, NULL, &found), RLKD_ERR_INVALID_ARGUMENT,
                "name is NULL");
    CHECK_FAILS(rlkd_net_find(net, "conv.weight", NULL),
                RLKD_ERR_INVALID_ARGUMENT, "value is NULL");

    rlkd_tensor *all[] = {input, conv_out, want_mean, want_var, want,
                          training_output, mean_before, var_before, batch2,
                          batch3, doutput, inference_logits,
                          training_logits};
    destroy_tensors(all, (int)(sizeof all / sizeof *all));
    rlkd_net_destroy(net);
}

/* ---- 7. dead branches ---- */

enum { D_INPUT, D_TRUNK, D_DEAD, D_DEAD_BN, D_HEAD, D_NODES };

static void dead_branch(void)
{
    rlkd_net *net;
    REQUIRE(rlkd_net_create(test_ctx, 3, 6, 6, &net));
    ADD_NODE(D_TRUNK, rlkd_net_add_conv2d(net, &node_, "trunk", D_INPUT, 4, 3,
                                          1, 1, 1, 1, 1));
    ADD_NODE(D_DEAD, rlkd_net_add_conv2d(net, &node_, "dead", D_TRUNK, 4, 1,
                                         1, 0, 1, 1, 1));
    ADD_NODE(D_DEAD_BN, rlkd_net_add_batchnorm2d(net, &node_, "dead_bn",
                                                 D_DEAD, 1e-5f, 0.1f));
    ADD_NODE(D_HEAD, rlkd_net_add_conv2d(net, &node_, "head", D_TRUNK, 2, 3,
                                         1, 1, 1, 1, 1));
    randomize_params(net, 400);
    /* Weights of 1e38 overflow the dead branch to inf and its batch norm
     * to NaN: any gradient that leaked through it would be NaN. */
    rlkd_tensor *dead_weight = net_tensor(net, "dead.weight");
    REQUIRE(rlkd_tensor_fill(dead_weight, 1e38f));

    rlkd_tensor *input = random_tensor(2, 3, 6, 6, 20);
    rlkd_tensor *doutput = random_tensor(2, 2, 6, 6, 21);
    rlkd_tensor *dinput = tensor_like(input), *output = NULL;
    const char *const dead_params[] = {"dead.weight", "dead.bias",
                                       "dead_bn.weight", "dead_bn.bias"};
    const int dead_count = (int)(sizeof dead_params / sizeof *dead_params);
    rlkd_tensor *dead_grads[4];
    for (int i = 0; i < dead_count; i++)
        dead_grads[i] = net_grad(net, dead_params[i]);

    /* No gradient reaches the dead layers: a marker survives backward,
     * and after zero_grad they stay zero. */
    for (int i = 0; i < dead_count; i++)
        REQUIRE(rlkd_tensor_fill(dead_grads[i], 0.5f));
    CHECK_OK(rlkd_net_forward(net, input, 1, &output));
    CHECK_OK(rlkd_net_backward(net, doutput, dinput));
    for (int i = 0; i < dead_count; i++)
        CHECK_MSG(test_all_equal(dead_grads[i], 0.5f),
                  "backward touched %s's gradient", dead_params[i]);
    CHECK_OK(rlkd_net_zero_grad(net));
    CHECK_OK(rlkd_net_backward(net, doutput, dinput));
    for (int i = 0; i < dead_count; i++)
        CHECK_MSG(test_all_equal(dead_grads[i], 0.0f),
                  "%s's gradient is not zero", dead_params[i]);
    /* the branch really is non-finite */
    rlkd_tensor *dead_out = t_new(2, 4, 6, 6), *trunk_out = t_new(2, 4, 6, 6);
    REQUIRE(rlkd_conv2d_forward(test_ctx, trunk_out, input,
                                net_tensor(net, "trunk.weight"),
                                net_tensor(net, "trunk.bias"), 1, 1, 1, 1, 1,
                                1, 1));
    REQUIRE(rlkd_conv2d_forward(test_ctx, dead_out, trunk_out, dead_weight,
                                net_tensor(net, "dead.bias"), 1, 1, 0, 0, 1, 1,
                                1));
    CHECK(count_nonfinite(dead_out) > 0);

    /* The live path by hand: head, then trunk, with a single contribution
     * to the trunk node. */
    manual_grads g = manual_grads_make(net);
    rlkd_tensor *dtrunk = tensor_like(trunk_out);
    rlkd_tensor *want_dinput = tensor_like(input);
    REQUIRE(rlkd_conv2d_backward(test_ctx, dtrunk,
                                 manual_grad(&g, "head.weight"),
                                 manual_grad(&g, "head.bias"), doutput,
                                 trunk_out, net_tensor(net, "head.weight"), 1,
                                 1, 1, 1, 1, 1, 1));
    REQUIRE(rlkd_conv2d_backward(test_ctx, want_dinput,
                                 manual_grad(&g, "trunk.weight"),
                                 manual_grad(&g, "trunk.bias"), dtrunk, input,
                                 net_tensor(net, "trunk.weight"), 1, 1, 1, 1,
                                 1, 1, 1));
    check_close_tensors("dead branch: dinput", dinput, want_dinput,
                        ROUTING_ATOL, ROUTING_RTOL);
    CHECK(count_nonfinite(dinput) == 0 && max_abs(dinput) > 0);
    const char *const live_params[] = {"trunk.weight", "trunk.bias",
                                       "head.weight", "head.bias"};
    for (int i = 0; i < 4; i++) {
        char label[96];
        snprintf(label, sizeof label, "dead branch: d %s", live_params[i]);
        check_close_tensors(label, net_grad(net, live_params[i]),
                            manual_grad(&g, live_params[i]), ROUTING_ATOL,
                            ROUTING_RTOL);
    }

    manual_grads_free(&g);
    rlkd_tensor *all[] = {input, doutput, dinput, dead_out, trunk_out, dtrunk,
                          want_dinput};
    destroy_tensors(all, (int)(sizeof all / sizeof *all));
    rlkd_net_destroy(net);
}

int main(void)
{
    test_main_begin();
    test_run("net gradient routing matches the L1 ops by hand",
             gradient_routing_exact);
    test_run("net gradients match finite differences", finite_differences);
    test_run("net builder: nodes, shapes, names, costs", builder);
    test_run("net builder errors leave the network unchanged", builder_errors);
    test_run("net builder refuses sizes no tensor holds", builder_size_limits);
    test_run("net forward and backward errors", run_errors);
    test_run("net modes and state", modes_and_state);
    test_run("net dead branch gets no gradient", dead_branch);
    test_main_end();
    return test_finish();
}
