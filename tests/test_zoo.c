/* The model zoo: parameter and MAC counts against torchvision (and PyTorch
 * re-creations of the small-image forms), torchvision's tensor names,
 * attention placement, a forward pass of every small network, and the
 * error paths. */
#include "testlib.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static rlkd_zoo_options options_for(int classes, int channels, int size,
                                    rlkd_attention attention)
{
    rlkd_zoo_options o;
    rlkd_zoo_options_init(&o);
    o.num_classes = classes;
    o.in_channels = channels;
    o.in_height = o.in_width = size;
    o.attention = attention;
    return o;
}

/* Builds a network or fails the case (NULL). */
static rlkd_net *zoo_net(const char *name, const rlkd_zoo_options *o)
{
    rlkd_net *net = NULL;
    if (!CHECK_OK(rlkd_zoo_create(test_ctx, name, o, &net)))
        return NULL;
    return net;
}

static int has_tensor(const rlkd_net *net, const char *name)
{
    rlkd_tensor *t = NULL;
    return rlkd_net_find(net, name, &t) == RLKD_OK && t != NULL;
}

/* A few of torchvision's state_dict() names per family, present or not;
 * checked on the networks the count test builds. */
typedef struct name_check {
    const char *net;
    const char *tensor;
    int present;
} name_check;

static const name_check name_checks[] = {
    {"vgg16_bn", "features.0.weight", 1},
    {"vgg16_bn", "features.0.bias", 1},
    {"vgg16_bn", "features.1.running_var", 1},
    {"vgg16_bn", "features.1.num_batches_tracked", 1},
    {"vgg16_bn", "features.40.weight", 1},
    {"vgg16_bn", "features.41.running_mean", 1},
    {"vgg16_bn", "features.42.weight", 0},
    {"vgg16_bn", "classifier.0.weight", 1},
    {"vgg16_bn", "classifier.3.bias", 1},
    {"vgg16_bn", "classifier.6.bias", 1},
    {"vgg16_bn", "features.2.weight", 0},
    {"vgg16_bn", "classifier.1.weight", 0},
    {"resnet50", "conv1.weight", 1},
    {"resnet50", "conv1.bias", 0},
    {"resnet50", "bn1.num_batches_tracked", 1},
    {"resnet50", "layer1.0.conv3.weight", 1},
    {"resnet50", "layer1.0.downsample.0.weight", 1},
    {"resnet50", "layer4.0.downsample.1.weight", 1},
    {"resnet50", "layer4.2.downsample.1.weight", 0},
    {"resnet50", "layer4.2.bn3.running_var", 1},
    {"resnet50", "fc.weight", 1},
    {"resnet50", "fc.bias", 1},
    {"resnet18", "layer1.0.downsample.0.weight", 0},
    {"resnet18", "layer2.0.downsample.1.running_mean", 1},
    {"resnet18", "layer4.1.conv2.weight", 1},
    {"resnet18", "layer4.1.conv3.weight", 0},
    {"densenet201", "features.conv0.weight", 1},
    {"densenet201", "features.norm0.running_mean", 1},
    {"densenet201", "features.denseblock1.denselayer1.norm1.weight", 1},
    {"densenet201", "features.denseblock4.denselayer32.conv2.weight", 1},
    {"densenet201", "features.denseblock4.denselayer33.conv2.weight", 0},
    {"densenet201", "features.transition3.conv.weight", 1},
    {"densenet201", "features.transition4.conv.weight", 0},
    {"densenet201", "features.norm5.num_batches_tracked", 1},
    {"densenet201", "classifier.bias", 1},
    {"densenet_bc", "features.conv0.weight", 1},
    {"densenet_bc", "features.norm0.weight", 0},
    {"densenet_bc", "features.denseblock3.denselayer16.conv2.weight", 1},
    {"densenet_bc", "features.norm4.weight", 1},
    {"resnet20", "layer3.2.conv2.weight", 1},
    {"resnet20", "layer2.0.downsample.1.weight", 1},
    {"vgg16_cifar", "classifier.weight", 1},
    {"vgg16_cifar", "classifier.6.weight", 0},
};

static void check_names(const rlkd_net *net, const char *net_name)
{
    for (size_t i = 0; i < sizeof name_checks / sizeof name_checks[0]; i++) {
        const name_check *c = &name_checks[i];
        if (strcmp(c->net, net_name) == 0)
            CHECK_MSG(has_tensor(net, c->tensor) == c->present,
                      "%s %s \"%s\"", c->net,
                      c->present ? "lacks" : "has", c->tensor);
    }
}

/*
 * Counts of each network as torchvision gives them: parameters (elements),
 * named parameters and buffers (len(list(m.parameters())), len(list(
 * m.buffers()))) and the MACs of its Conv2d and Linear modules for one
 * image (forward hooks: out.numel() * in/groups * kh * kw, in * out),
 * computed with torchvision 0.14 for the ImageNet forms and with PyTorch
 * re-creations (torchvision's VGG cfgs, BasicBlock, _DenseBlock and
 * _Transition) for the small-image forms. `forward`: also run one image.
 */
typedef struct reference {
    const char *name;
    int classes, channels, size;
    int64_t params, macs;
    int param_tensors, buffers;
    int forward;
} reference;

static const reference references[] = {
    {"vgg11_bn", 1000, 3, 224, 132868840, 7609090048, 38, 24, 0},
    {"vgg13_bn", 1000, 3, 224, 133053736, 11308466176, 46, 30, 0},
    {"vgg16_bn", 1000, 3, 224, 138365992, 15470264320, 58, 39, 0},
    {"vgg19_bn", 1000, 3, 224, 143678248, 19632062464, 70, 48, 0},
    {"resnet18", 1000, 3, 224, 11689512, 1814073344, 62, 60, 1},
    {"resnet34", 1000, 3, 224, 21797672, 3663761408, 110, 108, 0},
    {"resnet50", 1000, 3, 224, 25557032, 4089184256, 161, 159, 0},
    {"resnet101", 1000, 3, 224, 44549160, 7801405440, 314, 312, 0},
    {"densenet121", 1000, 3, 224, 7978856, 2834161664, 364, 363, 0},
    {"densenet169", 1000, 3, 224, 14149480, 3359843328, 508, 507, 0},
    {"densenet201", 1000, 3, 224, 20013928, 4291365888, 604, 603, 0},
    {"vgg11_cifar", 10, 3, 32, 9231114, 152769536, 34, 24, 1},
    {"vgg13_cifar", 10, 3, 32, 9416010, 228267008, 42, 30, 1},
    {"vgg16_cifar", 10, 3, 32, 14728266, 313201664, 54, 39, 1},
    {"vgg19_cifar", 10, 3, 32, 20040522, 398136320, 66, 48, 1},
    {"resnet20", 10, 3, 32, 272474, 40813184, 65, 63, 1},
    {"resnet32", 10, 3, 32, 466906, 69124736, 101, 99, 1},
    {"resnet56", 10, 3, 32, 855770, 125747840, 173, 171, 1},
    {"resnet110", 10, 3, 32, 1730714, 253149824, 335, 333, 1},
    {"densenet_bc", 10, 3, 32, 769162, 287929692, 299, 297, 1},
    {"vgg_small", 10, 1, 28, 288618, 29128448, 26, 18, 1},
    {"resnet_small", 10, 1, 28, 77754, 9345920, 29, 27, 1},
    {"densenet_small", 10, 1, 28, 71254, 23578314, 65, 63, 1},
};

#define REFERENCE_COUNT ((int)(sizeof references / sizeof references[0]))

/* rlkd_zoo_name lists each network of the table above once. */
static void test_names(void)
{
    int count = 0;
    while (rlkd_zoo_name(count))
        count++;
    CHECK_MSG(count == REFERENCE_COUNT, "%d names, %d in the table", count,
              REFERENCE_COUNT);
    CHECK(rlkd_zoo_name(-1) == NULL);
    for (int i = 0; i < count; i++) {
        int found = 0;
        for (int j = 0; j < REFERENCE_COUNT; j++)
            found += strcmp(rlkd_zoo_name(i), references[j].name) == 0;
        CHECK_MSG(found == 1, "\"%s\" is in the table %d times",
                  rlkd_zoo_name(i), found);
    }
}

/* One image through the network in inference: the output is [1, classes]. */
static void check_forward(rlkd_net *net, const reference *r)
{
    rlkd_tensor *x = t_new(1, r->channels, r->size, r->size);
    rlkd_tensor *y = NULL;
    CHECK_OK(rlkd_tensor_fill_uniform(x, -1.0f, 1.0f));
    if (CHECK_OK(rlkd_net_forward(net, x, 0, &y))) {
        CHECK_MSG(rlkd_tensor_ndim(y) == 2 && rlkd_tensor_dim(y, 0) == 1 &&
                      rlkd_tensor_dim(y, 1) == r->classes,
                  "%s: output is not [1,%d]", r->name, r->classes);
        float *v = t_get(y);
        int finite = 1;
        for (int i = 0; i < r->classes; i++)
            finite &= isfinite(v[i]) != 0;
        CHECK_MSG(finite, "%s: the output is not finite", r->name);
        free(v);
    }
    rlkd_tensor_destroy(x);
}

/* The published (rounded) figures follow from the exact ones above; they
 * are checked too so that this test reads as what it proves. */
typedef struct published {
    const char *name;
    double gmacs, mparams;
} published;

static const published published_counts[] = {
    {"vgg16_bn", 15.47, 138.4},   {"resnet50", 4.09, 25.6},
    {"densenet201", 4.29, 20.0},  {"resnet18", 1.81, 11.7},
};

static void check_published(const char *name, int64_t params, int64_t macs)
{
    for (size_t i = 0; i < sizeof published_counts / sizeof published_counts[0];
         i++) {
        const published *p = &published_counts[i];
        if (strcmp(p->name, name) != 0)
            continue;
        CHECK_MSG(fabs(macs / 1e9 - p->gmacs) < 0.005,
                  "%s: %.4f G MACs, published %.2f", name, macs / 1e9,
                  p->gmacs);
        CHECK_MSG(fabs(params / 1e6 - p->mparams) < 0.05,
                  "%s: %.3f M parameters, published %.1f", name,
                  params / 1e6, p->mparams);
    }
}

static void test_counts_names_forward(void)
{
    for (int i = 0; i < REFERENCE_COUNT; i++) {
        const reference *r = &references[i];
        rlkd_zoo_options o =
            options_for(r->classes, r->channels, r->size, RLKD_ATTENTION_NONE);
        rlkd_net *net = zoo_net(r->name, &o);
        if (!net)
            continue;
        int64_t params = 0, macs = 0, c = 0, h = 0, w = 0;
        int param_tensors = 0, buffers = 0, nodes = 0;
        CHECK_OK(rlkd_net_cost(net, &params, &macs));
        CHECK_OK(rlkd_net_param_count(net, &param_tensors));
        CHECK_OK(rlkd_net_buffer_count(net, &buffers));
        CHECK_MSG(params == r->params, "%s: %lld parameters, expected %lld",
                  r->name, (long long)params, (long long)r->params);
        CHECK_MSG(macs == r->macs, "%s: %lld MACs, expected %lld", r->name,
                  (long long)macs, (long long)r->macs);
        CHECK_MSG(param_tensors == r->param_tensors &&
                      buffers == r->buffers,
                  "%s: %d parameter and %d buffer tensors, expected %d "
                  "and %d", r->name, param_tensors, buffers,
                  r->param_tensors, r->buffers);
        CHECK_OK(rlkd_net_node_count(net, &nodes));
        CHECK_OK(rlkd_net_node_shape(net, nodes - 1, &c, &h, &w));
        CHECK_MSG(c == r->classes && h == 1 && w == 1,
                  "%s: the output node is [%lld,%lld,%lld]", r->name,
                  (long long)c, (long long)h, (long long)w);
        check_published(r->name, params, macs);
        check_names(net, r->name);
        if (r->forward)
            check_forward(net, r);
        rlkd_net_destroy(net);
    }
}

/* VGG-16 on CIFAR: 313.2 M MACs in its convolutions, 512 x 10 in the
 * classifier. */
static void test_vgg16_cifar_macs(void)
{
    rlkd_zoo_options o = options_for(10, 3, 32, RLKD_ATTENTION_NONE);
    rlkd_net *net = zoo_net("vgg16_cifar", &o);
    if (!net)
        return;
    int layers = 0;
    int64_t conv = 0, linear = 0;
    CHECK_OK(rlkd_net_layer_count(net, &layers));
    for (int i = 0; i < layers; i++) {
        rlkd_layer_cost cost;
        rlkd_layer_cost_init(&cost);
        CHECK_OK(rlkd_net_layer_cost(net, i, &cost));
        if (strcmp(cost.kind, "conv2d") == 0)
            conv += cost.macs;
        else if (strcmp(cost.kind, "linear") == 0)
            linear += cost.macs;
        else
            CHECK_MSG(cost.macs == 0, "%s (%s) counts %lld MACs", cost.name,
                      cost.kind, (long long)cost.macs);
    }
    CHECK_MSG(llround(conv / 1e5) == 3132, "conv MACs %lld, not 313.2 M",
              (long long)conv);
    CHECK_MSG(linear == 5120, "linear MACs %lld, not 5120", (long long)linear);
    rlkd_net_destroy(net);
}

/* Initialisation where torchvision's differs from the builder's: VGG's
 * classifier N(0, 0.01) with zero bias and zero conv biases, DenseNet's
 * zero classifier bias. */
static void test_torchvision_init(void)
{
    rlkd_zoo_options o = options_for(10, 3, 32, RLKD_ATTENTION_NONE);
    rlkd_net *vgg = zoo_net("vgg11_cifar", &o);
    rlkd_net *dense = zoo_net("densenet_bc", &o);
    if (!vgg || !dense)
        goto done;
    rlkd_tensor *t = NULL;
    CHECK_OK(rlkd_net_find(vgg, "features.0.bias", &t));
    CHECK(test_all_equal(t, 0.0f));
    CHECK_OK(rlkd_net_find(vgg, "classifier.bias", &t));
    CHECK(test_all_equal(t, 0.0f));
    CHECK_OK(rlkd_net_find(dense, "classifier.bias", &t));
    CHECK(test_all_equal(t, 0.0f));
    CHECK_OK(rlkd_net_find(vgg, "classifier.weight", &t));
    float *v = t_get(t);
    double sum2 = 0.0;
    for (int64_t i = 0; i < rlkd_tensor_numel(t); i++)
        sum2 += (double)v[i] * v[i];
    double sd = sqrt(sum2 / (double)rlkd_tensor_numel(t));
    CHECK_MSG(sd > 0.008 && sd < 0.012, "classifier weight sd %g, not 0.01",
              sd);
    free(v);
done:
    rlkd_net_destroy(vgg);
    rlkd_net_destroy(dense);
}

/* NULL options: rlkd_zoo_options_init's defaults, 3x224x224 and 1000
 * classes. */
static void test_default_options(void)
{
    rlkd_net *net = NULL;
    if (!CHECK_OK(rlkd_zoo_create(test_ctx, "resnet_small", NULL, &net)))
        return;
    int64_t c = 0, h = 0, w = 0;
    int nodes = 0;
    CHECK_OK(rlkd_net_node_shape(net, 0, &c, &h, &w));
    CHECK(c == 3 && h == 224 && w == 224);
    CHECK_OK(rlkd_net_node_count(net, &nodes));
    CHECK_OK(rlkd_net_node_shape(net, nodes - 1, &c, &h, &w));
    CHECK(c == 1000);
    rlkd_net_destroy(net);
}

static void test_width_multiplier(void)
{
    rlkd_zoo_options o = options_for(10, 1, 28, RLKD_ATTENTION_NONE);
    o.width_multiplier = 0.5f;
    rlkd_net *net = zoo_net("vgg_small", &o);
    if (!net)
        return;
    rlkd_tensor *t = NULL;
    CHECK_OK(rlkd_net_find(net, "features.0.weight", &t));
    CHECK(rlkd_tensor_dim(t, 0) == 16);
    CHECK_OK(rlkd_net_find(net, "classifier.weight", &t));
    CHECK(rlkd_tensor_dim(t, 0) == 10 && rlkd_tensor_dim(t, 1) == 64);
    rlkd_net_destroy(net);
}

/* The layer names in creation order. */
static int layer_index(const rlkd_net *net, const char *name)
{
    int layers = 0;
    rlkd_net_layer_count(net, &layers);
    for (int i = 0; i < layers; i++) {
        rlkd_layer_cost cost;
        rlkd_layer_cost_init(&cost);
        if (rlkd_net_layer_cost(net, i, &cost) == RLKD_OK &&
            strcmp(cost.name, name) == 0)
            return i;
    }
    return -1;
}

/* `before`, the attention layer and `after` come in this order, one after
 * the other. */
static void check_between(const rlkd_net *net, const char *kind_name,
                          const char *before, const char *attention,
                          const char *after)
{
    int a = layer_index(net, before), b = layer_index(net, attention),
        c = layer_index(net, after);
    CHECK_MSG(a >= 0 && b == a + 1 && c == b + 1,
              "%s: layers \"%s\" %d, \"%s\" %d, \"%s\" %d are not in a row",
              kind_name, before, a, attention, b, after, c);
}

/* The parameter names other than the attention's, in order, are exactly
 * those of the network without attention. */
static void check_torchvision_names_kept(const rlkd_net *plain,
                                         const rlkd_net *with,
                                         const char *what)
{
    int n_plain = 0, n_with = 0, j = 0;
    rlkd_net_param_count(plain, &n_plain);
    rlkd_net_param_count(with, &n_with);
    for (int i = 0; i < n_with; i++) {
        const char *name = NULL, *want = NULL;
        rlkd_net_param(with, i, &name, NULL, NULL);
        if (strstr(name, ".attention"))
            continue;
        if (j < n_plain)
            rlkd_net_param(plain, j, &want, NULL, NULL);
        if (!CHECK_MSG(want && strcmp(name, want) == 0,
                       "%s: parameter %d is \"%s\", expected \"%s\"", what, i,
                       name, want ? want : "(none)"))
            return;
        j++;
    }
    CHECK_MSG(j == n_plain, "%s: %d of %d parameters kept", what, j, n_plain);
}

static void test_attention(void)
{
    static const char *const kinds[] = {"none", "se", "eca", "cbam"};
    static const char *const tensor_of[] = {NULL, "fc1.weight", "conv.weight",
                                            "spatial.weight"};
    static const char *const families[] = {"vgg_small", "resnet_small",
                                           "densenet_small"};
    for (int f = 0; f < 3; f++) {
        rlkd_zoo_options o = options_for(10, 1, 28, RLKD_ATTENTION_NONE);
        rlkd_net *plain = zoo_net(families[f], &o);
        for (int k = RLKD_ATTENTION_SE; k <= RLKD_ATTENTION_CBAM; k++) {
            char what[64], tensor[96];
            snprintf(what, sizeof what, "%s with %s", families[f], kinds[k]);
            o.attention = (rlkd_attention)k;
            rlkd_net *net = zoo_net(families[f], &o);
            if (!net || !plain) {
                rlkd_net_destroy(net);
                continue;
            }
            check_torchvision_names_kept(plain, net, what);
            if (f == 0) {
                check_between(net, what, "features.5", "features.attention1",
                              "features.6");
                check_between(net, what, "features.19", "features.attention3",
                              "features.20");
                snprintf(tensor, sizeof tensor, "features.attention2.%s",
                         tensor_of[k]);
            } else if (f == 1) {
                /* on the branch before the add; the shortcut comes after */
                check_between(net, what, "layer1.0.bn2", "layer1.0.attention",
                              "layer1.0.add");
                check_between(net, what, "layer2.0.bn2", "layer2.0.attention",
                              "layer2.0.downsample.0");
                snprintf(tensor, sizeof tensor, "layer3.0.attention.%s",
                         tensor_of[k]);
            } else {
                check_between(net, what, "features.denseblock1.cat",
                              "features.attention1",
                              "features.transition1.norm");
                check_between(net, what, "features.denseblock3.cat",
                              "features.attention3", "features.norm4");
                snprintf(tensor, sizeof tensor, "features.attention3.%s",
                         tensor_of[k]);
            }
            CHECK_MSG(has_tensor(net, tensor), "%s lacks \"%s\"", what,
                      tensor);
            rlkd_net_destroy(net);
        }
        rlkd_net_destroy(plain);
    }
}

/* ResNet-50 with SE (reduction 16, biased MLP) has SE-ResNet-50's
 * 28,088,024 parameters (timm's seresnet50). */
static void test_se_resnet50(void)
{
    rlkd_zoo_options o = options_for(1000, 3, 224, RLKD_ATTENTION_SE);
    rlkd_net *net = zoo_net("resnet50", &o);
    if (!net)
        return;
    int64_t params = 0;
    CHECK_OK(rlkd_net_cost(net, &params, NULL));
    CHECK_MSG(params == 28088024, "%lld parameters", (long long)params);
    rlkd_net_destroy(net);
}

static void check_bad_options(const char *name, const rlkd_zoo_options *o,
                              const char *needle)
{
    rlkd_net *net = NULL;
    CHECK_FAILS(rlkd_zoo_create(test_ctx, name, o, &net),
                RLKD_ERR_INVALID_ARGUMENT, needle);
    CHECK(net == NULL);
}

static void test_errors(void)
{
    rlkd_net *net = NULL;
    rlkd_zoo_options good = options_for(10, 3, 32, RLKD_ATTENTION_NONE);
    CHECK_FAILS(rlkd_zoo_create(test_ctx, "resnet19", &good, &net),
                RLKD_ERR_INVALID_ARGUMENT, "vgg16_bn");
    CHECK_FAILS(rlkd_zoo_create(NULL, "resnet20", &good, &net),
                RLKD_ERR_INVALID_ARGUMENT, NULL);
    CHECK_FAILS(rlkd_zoo_create(test_ctx, NULL, &good, &net),
                RLKD_ERR_INVALID_ARGUMENT, "name");
    CHECK_FAILS(rlkd_zoo_create(test_ctx, "resnet20", &good, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out");
    CHECK(net == NULL);

    rlkd_zoo_options o = good;
    o.num_classes = 0;
    check_bad_options("resnet20", &o, "num_classes");
    o = good;
    o.in_channels = 0;
    check_bad_options("resnet20", &o, "in_channels");
    o = good;
    o.in_height = -3;
    check_bad_options("resnet20", &o, "in_height");
    o = good;
    o.in_width = 0;
    check_bad_options("resnet20", &o, "in_width");
    o = good;
    o.attention = (rlkd_attention)7;
    check_bad_options("resnet20", &o, "attention");
    o = good;
    o.attention_reduction = 0;
    check_bad_options("resnet20", &o, "attention_reduction");
    o = good;
    o.width_multiplier = 0.0f;
    check_bad_options("vgg_small", &o, "width_multiplier");
    o.width_multiplier = NAN;
    check_bad_options("vgg_small", &o, "width_multiplier");
    o = good;
    o.struct_size = sizeof(size_t);
    check_bad_options("resnet20", &o, "struct_size");
    o = good;
    o.densenet_depth = 50;
    check_bad_options("densenet_bc", &o, "6n+4");
    o.densenet_depth = 4;
    check_bad_options("densenet_bc", &o, "6n+4");
    o = good;
    o.densenet_growth = 0;
    check_bad_options("densenet_bc", &o, "densenet_growth");

    /* the ImageNet VGG classifier wants 224x224 and points to _cifar */
    check_bad_options("vgg16_bn", &good, "\"vgg16_cifar\"");

    /* inputs too large for a tensor: refused before any layer (the costs
     * would overflow) */
    o = good;
    o.in_height = o.in_width = INT_MAX;
    check_bad_options("resnet20", &o, "the 2^31 - 1 elements of a tensor");

    /* inputs too small: the builder's window error comes through */
    o = options_for(10, 3, 16, RLKD_ATTENTION_NONE);
    CHECK_FAILS(rlkd_zoo_create(test_ctx, "vgg16_cifar", &o, &net),
                RLKD_ERR_SHAPE, "vgg16_cifar");
    CHECK_FAILS(rlkd_zoo_create(test_ctx, "densenet121", &o, &net),
                RLKD_ERR_SHAPE, "features.transition3.pool");
    CHECK(net == NULL);
}

int main(void)
{
    test_main_begin();
    test_run("zoo_names", test_names);
    test_run("zoo_counts_names_forward", test_counts_names_forward);
    test_run("zoo_vgg16_cifar_macs", test_vgg16_cifar_macs);
    test_run("zoo_torchvision_init", test_torchvision_init);
    test_run("zoo_default_options", test_default_options);
    test_run("zoo_width_multiplier", test_width_multiplier);
    test_run("zoo_attention", test_attention);
    test_run("zoo_se_resnet50", test_se_resnet50);
    test_run("zoo_errors", test_errors);
    test_main_end();
    return test_finish();
}
