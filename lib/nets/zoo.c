/*
 * The model zoo: VGG, ResNet and DenseNet in torchvision's ImageNet forms,
 * their small-image forms (CIFAR, 28x28), each with optional SE, ECA or CBAM
 * attention. Networks are built through the public builder calls only, and
 * parameters carry torchvision's state_dict() names (docs/zoo.md).
 */
#include "../core/internal.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for every name the zoo formats: the longest,
 * "features.denseblock<b>.denselayer<l>.conv2.weight", is 63 characters
 * even with 10-digit indices. */
#define ZOO_NAME_CAPACITY 96

/* rlkd_zoo_options up to its last field: what this version reads. */
#define ZOO_OPTIONS_SIZE_READ \
    (offsetof(rlkd_zoo_options, densenet_growth) + sizeof(int))

/* PyTorch's batch-norm defaults, used by every torchvision network. */
#define ZOO_BN_EPS 1e-5f
#define ZOO_BN_MOMENTUM 0.1f

/* CBAM's spatial kernel, as in the paper. */
#define ZOO_CBAM_KERNEL 7

/* A network under construction, with the options it follows. */
typedef struct zoo_builder {
    rlkd_net *net;
    rlkd_zoo_options options;
} zoo_builder;

/* Formats a layer name into buf. vsnprintf, not snprintf, because GCC's
 * truncation warning cannot see that the names never come near the
 * capacity. */
static const char *format_name(char buf[ZOO_NAME_CAPACITY], const char *fmt,
                               ...) __attribute__((format(printf, 2, 3)));
static const char *format_name(char buf[ZOO_NAME_CAPACITY], const char *fmt,
                               ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, ZOO_NAME_CAPACITY, fmt, args);
    va_end(args);
    return buf;
}

static int node_channels(const zoo_builder *z, int node)
{
    int64_t c = 0, h = 0, w = 0;
    rlkd_net_node_shape(z->net, node, &c, &h, &w);
    return (int)c;
}

/* Re-initialises the tensor "<layer>.<tensor>": N(0, stddev), or zeros when
 * stddev is 0. For the places where torchvision's init differs from the
 * builder's PyTorch-default one. */
static rlkd_status init_tensor(zoo_builder *z, const char *layer,
                               const char *tensor, float stddev)
{
    char buf[ZOO_NAME_CAPACITY];
    rlkd_tensor *t = NULL;
    RLKD_TRY(rlkd_net_find(z->net, format_name(buf, "%s.%s", layer, tensor),
                           &t));
    return stddev == 0.0f ? rlkd_tensor_fill(t, 0.0f)
                          : rlkd_tensor_fill_normal(t, 0.0f, stddev);
}

/* conv -> batch norm, the unit of VGG and ResNet. */
static rlkd_status conv_bn(zoo_builder *z, int *node, int input,
                           const char *conv, const char *bn, int out_channels,
                           int kernel, int stride, int padding, int bias)
{
    int n = 0;
    RLKD_TRY(rlkd_net_add_conv2d(z->net, &n, conv, input, out_channels,
                                 kernel, stride, padding, 1, 1, bias));
    return rlkd_net_add_batchnorm2d(z->net, node, bn, n, ZOO_BN_EPS,
                                    ZOO_BN_MOMENTUM);
}

/* The attention module the options ask for, named `name`; without one the
 * node passes through unchanged. */
static rlkd_status attention(zoo_builder *z, int *node, int input,
                             const char *name)
{
    int r = z->options.attention_reduction;
    switch (z->options.attention) {
    case RLKD_ATTENTION_SE:
        return rlkd_net_add_se(z->net, node, name, input, r);
    case RLKD_ATTENTION_ECA:
        return rlkd_net_add_eca(z->net, node, name, input, 0);
    case RLKD_ATTENTION_CBAM:
        return rlkd_net_add_cbam(z->net, node, name, input, r,
                                 ZOO_CBAM_KERNEL);
    case RLKD_ATTENTION_NONE:
        break;
    }
    *node = input;
    return RLKD_OK;
}

/* Global average pooling then the final linear layer `fc`. */
static rlkd_status classifier_head(zoo_builder *z, int input, const char *fc)
{
    int n = 0;
    RLKD_TRY(rlkd_net_add_global_avgpool(z->net, &n, "avgpool", input));
    return rlkd_net_add_linear(z->net, NULL, fc, n, z->options.num_classes, 1);
}

/* ------------------------------------------------------------------------ */
/* VGG                                                                       */
/* ------------------------------------------------------------------------ */

/* A stage list as torchvision's cfgs: conv widths, VGG_POOL for a maxpool. */
#define VGG_POOL 0

typedef enum vgg_head {
    VGG_HEAD_IMAGENET, /* torchvision's 3-layer classifier on a 7x7 map */
    VGG_HEAD_POOLED    /* global average pooling and one linear layer */
} vgg_head;

typedef struct vgg_config {
    const int *layout;
    int length;
    vgg_head head;
    const char *small_form; /* the pooled twin, suggested for small inputs */
} vgg_config;

static const int vgg11_layout[] = {64, VGG_POOL, 128, VGG_POOL, 256, 256,
                                   VGG_POOL, 512, 512, VGG_POOL, 512, 512,
                                   VGG_POOL};
static const int vgg13_layout[] = {64, 64, VGG_POOL, 128, 128, VGG_POOL, 256,
                                   256, VGG_POOL, 512, 512, VGG_POOL, 512,
                                   512, VGG_POOL};
static const int vgg16_layout[] = {64, 64, VGG_POOL, 128, 128, VGG_POOL, 256,
                                   256, 256, VGG_POOL, 512, 512, 512,
                                   VGG_POOL, 512, 512, 512, VGG_POOL};
static const int vgg19_layout[] = {64, 64, VGG_POOL, 128, 128, VGG_POOL, 256,
                                   256, 256, 256, VGG_POOL, 512, 512, 512,
                                   512, VGG_POOL, 512, 512, 512, 512,
                                   VGG_POOL};
static const int vgg_small_layout[] = {32, 32, VGG_POOL, 64, 64, VGG_POOL,
                                       128, 128, VGG_POOL};

#define VGG_LAYOUT(l) (l), (int)(sizeof(l) / sizeof((l)[0]))

/* torchvision's `features`: "features.<i>" counts conv, bn, relu and pool
 * modules; the attention after each stage's last ReLU is named
 * "features.attention<stage>" and takes no index. */
static rlkd_status vgg_features(zoo_builder *z, int *node,
                                const vgg_config *config)
{
    char a[ZOO_NAME_CAPACITY], b[ZOO_NAME_CAPACITY];
    int n = 0, index = 0, stage = 1;
    for (int i = 0; i < config->length; i++) {
        if (config->layout[i] == VGG_POOL) {
            format_name(a, "features.attention%d", stage++);
            RLKD_TRY(attention(z, &n, n, a));
            format_name(a, "features.%d", index++);
            RLKD_TRY(rlkd_net_add_maxpool2d(z->net, &n, a, n, 2, 2, 0));
            continue;
        }
        double width = round(config->layout[i] *
                             (double)z->options.width_multiplier);
        /* clamped so that a huge multiplier reaches the builder's size
         * checks instead of overflowing the int */
        int channels = width < 1.0 ? 1 : width > INT_MAX ? INT_MAX
                                                         : (int)width;
        format_name(a, "features.%d", index);
        format_name(b, "features.%d", index + 1);
        RLKD_TRY(conv_bn(z, &n, n, a, b, channels, 3, 1, 1, 1));
        /* torchvision's VGG: conv biases start at zero */
        RLKD_TRY(init_tensor(z, a, "bias", 0.0f));
        format_name(a, "features.%d", index + 2);
        RLKD_TRY(rlkd_net_add_relu(z->net, &n, a, n));
        index += 3;
    }
    *node = n;
    return RLKD_OK;
}

/* torchvision's VGG initialises its linear layers N(0, 0.01), bias 0; the
 * zoo does so for the pooled classifier too. */
static rlkd_status vgg_linear_init(zoo_builder *z, const char *name)
{
    RLKD_TRY(init_tensor(z, name, "weight", 0.01f));
    return init_tensor(z, name, "bias", 0.0f);
}

/* "classifier.<i>" Linear, followed, except for the last, by ReLU and
 * Dropout(0.5). */
static rlkd_status vgg_classifier_layer(zoo_builder *z, int *node, int input,
                                        int index, int out_features,
                                        int last)
{
    char name[ZOO_NAME_CAPACITY];
    int n = 0;
    format_name(name, "classifier.%d", index);
    RLKD_TRY(rlkd_net_add_linear(z->net, &n, name, input, out_features, 1));
    RLKD_TRY(vgg_linear_init(z, name));
    if (!last) {
        format_name(name, "classifier.%d", index + 1);
        RLKD_TRY(rlkd_net_add_relu(z->net, &n, name, n));
        format_name(name, "classifier.%d", index + 2);
        RLKD_TRY(rlkd_net_add_dropout(z->net, &n, name, n, 0.5f));
    }
    *node = n;
    return RLKD_OK;
}

/* The feature map torchvision's classifier expects after its
 * AdaptiveAvgPool2d((7, 7)), which the zoo does not have. */
#define VGG_IMAGENET_MAP 7

static rlkd_status build_vgg(zoo_builder *z, const void *config_ptr)
{
    const vgg_config *config = config_ptr;
    int n = 0;
    RLKD_TRY(vgg_features(z, &n, config));
    if (config->head == VGG_HEAD_POOLED) {
        RLKD_TRY(classifier_head(z, n, "classifier"));
        return vgg_linear_init(z, "classifier");
    }
    int64_t c = 0, h = 0, w = 0;
    RLKD_TRY(rlkd_net_node_shape(z->net, n, &c, &h, &w));
    if (h != VGG_IMAGENET_MAP || w != VGG_IMAGENET_MAP)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "the ImageNet VGG classifier needs a %dx%d feature "
                         "map (a 224x224 input) but this input gives "
                         "%lldx%lld (adaptive pooling is not implemented); "
                         "for small images use the _cifar form \"%s\"",
                         VGG_IMAGENET_MAP, VGG_IMAGENET_MAP, (long long)h,
                         (long long)w, config->small_form);
    RLKD_TRY(vgg_classifier_layer(z, &n, n, 0, 4096, 0));
    RLKD_TRY(vgg_classifier_layer(z, &n, n, 3, 4096, 0));
    return vgg_classifier_layer(z, &n, n, 6, z->options.num_classes, 1);
}

/* ------------------------------------------------------------------------ */
/* ResNet                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum resnet_stem_kind {
    RESNET_STEM_IMAGENET, /* conv 7x7/2, bn, relu, maxpool 3/2 */
    RESNET_STEM_CIFAR     /* conv 3x3, bn, relu */
} resnet_stem_kind;

typedef enum resnet_block_kind {
    RESNET_BASIC,     /* two 3x3 convs, expansion 1 */
    RESNET_BOTTLENECK /* 1x1, 3x3 (with the stride: v1.5), 1x1 x4 */
} resnet_block_kind;

typedef struct resnet_config {
    resnet_stem_kind stem;
    resnet_block_kind block;
    int stem_channels; /* also the first stage's planes; doubled per stage */
    int stage_count;
    int blocks[4];
} resnet_config;

/* The end of every residual block: attention on the branch, the shortcut
 * (1x1 conv + BN "downsample" when the shape changes), the add, the ReLU. */
static rlkd_status residual_join(zoo_builder *z, int *node, int input,
                                 int branch, const char *prefix, int stride)
{
    char a[ZOO_NAME_CAPACITY], b[ZOO_NAME_CAPACITY];
    int out_channels = node_channels(z, branch);
    int shortcut = input;
    RLKD_TRY(attention(z, &branch, branch,
                       format_name(a, "%s.attention", prefix)));
    if (stride != 1 || node_channels(z, input) != out_channels)
        RLKD_TRY(conv_bn(z, &shortcut, input,
                         format_name(a, "%s.downsample.0", prefix),
                         format_name(b, "%s.downsample.1", prefix),
                         out_channels, 1, stride, 0, 0));
    int sum = 0;
    RLKD_TRY(rlkd_net_add_add(z->net, &sum, format_name(a, "%s.add", prefix),
                              branch, shortcut));
    return rlkd_net_add_relu(z->net, node, format_name(a, "%s.relu", prefix),
                             sum);
}

/* conv<i> -> bn<i> -> relu<i> inside a residual branch. */
static rlkd_status branch_unit(zoo_builder *z, int *node, int input,
                               const char *prefix, int i, int out_channels,
                               int kernel, int stride)
{
    char a[ZOO_NAME_CAPACITY], b[ZOO_NAME_CAPACITY];
    RLKD_TRY(conv_bn(z, node, input, format_name(a, "%s.conv%d", prefix, i),
                     format_name(b, "%s.bn%d", prefix, i), out_channels,
                     kernel, stride, kernel / 2, 0));
    return rlkd_net_add_relu(z->net, node,
                             format_name(a, "%s.relu%d", prefix, i), *node);
}

/* torchvision's BasicBlock. */
static rlkd_status basic_block(zoo_builder *z, int *node, int input,
                               const char *prefix, int planes, int stride)
{
    char a[ZOO_NAME_CAPACITY], b[ZOO_NAME_CAPACITY];
    int n = 0;
    RLKD_TRY(branch_unit(z, &n, input, prefix, 1, planes, 3, stride));
    RLKD_TRY(conv_bn(z, &n, n, format_name(a, "%s.conv2", prefix),
                     format_name(b, "%s.bn2", prefix), planes, 3, 1, 1, 0));
    return residual_join(z, node, input, n, prefix, stride);
}

#define RESNET_BOTTLENECK_EXPANSION 4

/* torchvision's Bottleneck (stride on the 3x3 conv: ResNet v1.5). */
static rlkd_status bottleneck_block(zoo_builder *z, int *node, int input,
                                    const char *prefix, int planes,
                                    int stride)
{
    char a[ZOO_NAME_CAPACITY], b[ZOO_NAME_CAPACITY];
    int n = 0;
    RLKD_TRY(branch_unit(z, &n, input, prefix, 1, planes, 1, 1));
    RLKD_TRY(branch_unit(z, &n, n, prefix, 2, planes, 3, stride));
    RLKD_TRY(conv_bn(z, &n, n, format_name(a, "%s.conv3", prefix),
                     format_name(b, "%s.bn3", prefix),
                     planes * RESNET_BOTTLENECK_EXPANSION, 1, 1, 0, 0));
    return residual_join(z, node, input, n, prefix, stride);
}

static rlkd_status build_resnet(zoo_builder *z, const void *config_ptr)
{
    const resnet_config *config = config_ptr;
    int n = 0, imagenet = config->stem == RESNET_STEM_IMAGENET;
    RLKD_TRY(conv_bn(z, &n, 0, "conv1", "bn1", config->stem_channels,
                     imagenet ? 7 : 3, imagenet ? 2 : 1, imagenet ? 3 : 1, 0));
    RLKD_TRY(rlkd_net_add_relu(z->net, &n, "relu", n));
    if (imagenet)
        RLKD_TRY(rlkd_net_add_maxpool2d(z->net, &n, "maxpool", n, 3, 2, 1));
    for (int s = 0; s < config->stage_count; s++) {
        int planes = config->stem_channels << s;
        for (int i = 0; i < config->blocks[s]; i++) {
            char prefix[ZOO_NAME_CAPACITY];
            int stride = (s > 0 && i == 0) ? 2 : 1;
            format_name(prefix, "layer%d.%d", s + 1, i);
            RLKD_TRY(config->block == RESNET_BASIC
                         ? basic_block(z, &n, n, prefix, planes, stride)
                         : bottleneck_block(z, &n, n, prefix, planes, stride));
        }
    }
    return classifier_head(z, n, "fc");
}

/* ------------------------------------------------------------------------ */
/* DenseNet                                                                  */
/* ------------------------------------------------------------------------ */

#define DENSENET_MAX_BLOCKS 4
#define DENSENET_BN_SIZE 4 /* bottleneck width: bn_size * growth */

typedef enum densenet_stem_kind {
    DENSENET_STEM_IMAGENET, /* conv0 7x7/2, norm0, relu0, pool0 3/2 */
    DENSENET_STEM_SMALL     /* conv0 3x3 (Huang et al.'s CIFAR form) */
} densenet_stem_kind;

typedef struct densenet_config {
    densenet_stem_kind stem;
    int block_count;
    int blocks[DENSENET_MAX_BLOCKS];
    int growth;
    int init_features;
} densenet_config;

/* A bias-free convolution initialised as torchvision's DenseNet does:
 * kaiming_normal_ with its defaults, N(0, 2 / fan_in). */
static rlkd_status densenet_conv(zoo_builder *z, int *node, int input,
                                 const char *name, int out_channels,
                                 int kernel, int stride, int padding)
{
    double fan_in = (double)node_channels(z, input) * kernel * kernel;
    RLKD_TRY(rlkd_net_add_conv2d(z->net, node, name, input, out_channels,
                                 kernel, stride, padding, 1, 1, 0));
    return init_tensor(z, name, "weight", (float)sqrt(2.0 / fan_in));
}

/* Pre-activation unit "<prefix>.<norm>" -> "<relu>" -> "<conv>". */
static rlkd_status bn_relu_conv(zoo_builder *z, int *node, int input,
                                const char *prefix, const char *norm,
                                const char *relu, const char *conv,
                                int out_channels, int kernel)
{
    char buf[ZOO_NAME_CAPACITY];
    int n = 0;
    RLKD_TRY(rlkd_net_add_batchnorm2d(z->net, &n,
                                      format_name(buf, "%s.%s", prefix, norm),
                                      input, ZOO_BN_EPS, ZOO_BN_MOMENTUM));
    RLKD_TRY(rlkd_net_add_relu(z->net, &n,
                               format_name(buf, "%s.%s", prefix, relu), n));
    return densenet_conv(z, node, n, format_name(buf, "%s.%s", prefix, conv),
                         out_channels, kernel, 1, kernel / 2);
}

/* One dense block: layer l reads the concatenation of the block's input and
 * the outputs of layers 1..l-1; the block gives the concatenation of all,
 * then the attention "features.attention<block>". */
static rlkd_status dense_block(zoo_builder *z, int *node, int input,
                               int block, int layers, int growth,
                               int *nodes /* scratch of layers + 1 */)
{
    char prefix[ZOO_NAME_CAPACITY], buf[ZOO_NAME_CAPACITY];
    nodes[0] = input;
    for (int l = 1; l <= layers; l++) {
        int n = input;
        format_name(prefix, "features.denseblock%d.denselayer%d", block, l);
        if (l > 1)
            RLKD_TRY(rlkd_net_add_concat(z->net, &n,
                                         format_name(buf, "%s.cat", prefix),
                                         nodes, l));
        RLKD_TRY(bn_relu_conv(z, &n, n, prefix, "norm1", "relu1", "conv1",
                              DENSENET_BN_SIZE * growth, 1));
        RLKD_TRY(bn_relu_conv(z, &nodes[l], n, prefix, "norm2", "relu2",
                              "conv2", growth, 3));
    }
    int n = 0;
    format_name(prefix, "features.denseblock%d.cat", block);
    RLKD_TRY(rlkd_net_add_concat(z->net, &n, prefix, nodes, layers + 1));
    format_name(prefix, "features.attention%d", block);
    return attention(z, node, n, prefix);
}

/* "features.transition<t>": norm, relu, 1x1 conv to half the channels
 * (compression 0.5), 2x2 average pool. */
static rlkd_status transition(zoo_builder *z, int *node, int input, int t)
{
    char prefix[ZOO_NAME_CAPACITY], buf[ZOO_NAME_CAPACITY];
    int n = 0;
    format_name(prefix, "features.transition%d", t);
    RLKD_TRY(bn_relu_conv(z, &n, input, prefix, "norm", "relu", "conv",
                          node_channels(z, input) / 2, 1));
    return rlkd_net_add_avgpool2d(z->net, node,
                                  format_name(buf, "%s.pool", prefix), n, 2,
                                  2, 0, 1);
}

static rlkd_status densenet_stem(zoo_builder *z, int *node,
                                 const densenet_config *config)
{
    if (config->stem == DENSENET_STEM_SMALL)
        return densenet_conv(z, node, 0, "features.conv0",
                             config->init_features, 3, 1, 1);
    int n = 0;
    RLKD_TRY(densenet_conv(z, &n, 0, "features.conv0", config->init_features,
                           7, 2, 3));
    RLKD_TRY(rlkd_net_add_batchnorm2d(z->net, &n, "features.norm0", n,
                                      ZOO_BN_EPS, ZOO_BN_MOMENTUM));
    RLKD_TRY(rlkd_net_add_relu(z->net, &n, "features.relu0", n));
    return rlkd_net_add_maxpool2d(z->net, node, "features.pool0", n, 3, 2, 1);
}

/* The dense blocks with a transition between each two. */
static rlkd_status densenet_blocks(zoo_builder *z, int *node, int input,
                                   const densenet_config *config)
{
    int most_layers = 0;
    for (int b = 0; b < config->block_count; b++)
        if (config->blocks[b] > most_layers)
            most_layers = config->blocks[b];
    int *nodes = malloc((size_t)(most_layers + 1) * sizeof *nodes);
    if (!nodes)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_zoo_create: no memory for %d dense layers",
                         most_layers);
    rlkd_status st = RLKD_OK;
    int n = input;
    for (int b = 0; st == RLKD_OK && b < config->block_count; b++) {
        st = dense_block(z, &n, n, b + 1, config->blocks[b], config->growth,
                         nodes);
        if (st == RLKD_OK && b + 1 < config->block_count)
            st = transition(z, &n, n, b + 1);
    }
    free(nodes);
    *node = n;
    return st;
}

static rlkd_status build_densenet(zoo_builder *z, const void *config_ptr)
{
    const densenet_config *config = config_ptr;
    char name[ZOO_NAME_CAPACITY];
    int n = 0;
    RLKD_TRY(densenet_stem(z, &n, config));
    RLKD_TRY(densenet_blocks(z, &n, n, config));
    /* torchvision's final "features.norm5" follows 4 blocks: norm<blocks+1> */
    format_name(name, "features.norm%d", config->block_count + 1);
    RLKD_TRY(rlkd_net_add_batchnorm2d(z->net, &n, name, n, ZOO_BN_EPS,
                                      ZOO_BN_MOMENTUM));
    RLKD_TRY(rlkd_net_add_relu(z->net, &n, "relu", n));
    RLKD_TRY(classifier_head(z, n, "classifier"));
    /* torchvision's DenseNet starts the classifier bias at zero */
    return init_tensor(z, "classifier", "bias", 0.0f);
}

/* DenseNet-BC for small images; depth and growth 0 mean "from the
 * options" (densenet_depth, densenet_growth). */
typedef struct densenet_bc_config {
    int depth, growth;
} densenet_bc_config;

#define DENSENET_BC_BLOCKS 3

/* Layers per block of a DenseNet-BC of depth L: (L - 4) / 6 (each layer has
 * two convolutions; conv0, two transitions and the classifier make the 4). */
static int densenet_bc_layers(int depth)
{
    return (depth - 4) / 6;
}

static rlkd_status build_densenet_bc(zoo_builder *z, const void *config_ptr)
{
    const densenet_bc_config *bc = config_ptr;
    int depth = bc->depth ? bc->depth : z->options.densenet_depth;
    int growth = bc->growth ? bc->growth : z->options.densenet_growth;
    int layers = densenet_bc_layers(depth);
    densenet_config config = {DENSENET_STEM_SMALL, DENSENET_BC_BLOCKS,
                              {layers, layers, layers}, growth, 2 * growth};
    return build_densenet(z, &config);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

/* name: layout, head and, for ImageNet forms, the small-image twin */
static const vgg_config vgg11_bn = {VGG_LAYOUT(vgg11_layout),
                                    VGG_HEAD_IMAGENET, "vgg11_cifar"};
static const vgg_config vgg13_bn = {VGG_LAYOUT(vgg13_layout),
                                    VGG_HEAD_IMAGENET, "vgg13_cifar"};
static const vgg_config vgg16_bn = {VGG_LAYOUT(vgg16_layout),
                                    VGG_HEAD_IMAGENET, "vgg16_cifar"};
static const vgg_config vgg19_bn = {VGG_LAYOUT(vgg19_layout),
                                    VGG_HEAD_IMAGENET, "vgg19_cifar"};
static const vgg_config vgg11_cifar = {VGG_LAYOUT(vgg11_layout),
                                       VGG_HEAD_POOLED, NULL};
static const vgg_config vgg13_cifar = {VGG_LAYOUT(vgg13_layout),
                                       VGG_HEAD_POOLED, NULL};
static const vgg_config vgg16_cifar = {VGG_LAYOUT(vgg16_layout),
                                       VGG_HEAD_POOLED, NULL};
static const vgg_config vgg19_cifar = {VGG_LAYOUT(vgg19_layout),
                                       VGG_HEAD_POOLED, NULL};
static const vgg_config vgg_small = {VGG_LAYOUT(vgg_small_layout),
                                     VGG_HEAD_POOLED, NULL};

/* stem, block, stem channels, stages, blocks per stage */
static const resnet_config resnet18 = {RESNET_STEM_IMAGENET, RESNET_BASIC,
                                       64, 4, {2, 2, 2, 2}};
static const resnet_config resnet34 = {RESNET_STEM_IMAGENET, RESNET_BASIC,
                                       64, 4, {3, 4, 6, 3}};
static const resnet_config resnet50 = {RESNET_STEM_IMAGENET,
                                       RESNET_BOTTLENECK, 64, 4, {3, 4, 6, 3}};
static const resnet_config resnet101 = {RESNET_STEM_IMAGENET,
                                        RESNET_BOTTLENECK, 64, 4,
                                        {3, 4, 23, 3}};
/* CIFAR ResNet-(6n+2): n basic blocks per stage; resnet_small is n = 1 */
static const resnet_config resnet20 = {RESNET_STEM_CIFAR, RESNET_BASIC, 16,
                                       3, {3, 3, 3}};
static const resnet_config resnet32 = {RESNET_STEM_CIFAR, RESNET_BASIC, 16,
                                       3, {5, 5, 5}};
static const resnet_config resnet56 = {RESNET_STEM_CIFAR, RESNET_BASIC, 16,
                                       3, {9, 9, 9}};
static const resnet_config resnet110 = {RESNET_STEM_CIFAR, RESNET_BASIC, 16,
                                        3, {18, 18, 18}};
static const resnet_config resnet_small = {RESNET_STEM_CIFAR, RESNET_BASIC,
                                           16, 3, {1, 1, 1}};

/* stem, blocks, layers per block, growth, stem channels */
static const densenet_config densenet121 = {DENSENET_STEM_IMAGENET, 4,
                                            {6, 12, 24, 16}, 32, 64};
static const densenet_config densenet169 = {DENSENET_STEM_IMAGENET, 4,
                                            {6, 12, 32, 32}, 32, 64};
static const densenet_config densenet201 = {DENSENET_STEM_IMAGENET, 4,
                                            {6, 12, 48, 32}, 32, 64};
static const densenet_bc_config densenet_bc = {0, 0};
static const densenet_bc_config densenet_small = {22, 12};

typedef struct zoo_entry {
    const char *name;
    rlkd_status (*build)(zoo_builder *z, const void *config);
    const void *config;
} zoo_entry;

static const zoo_entry zoo[] = {
    {"vgg11_bn", build_vgg, &vgg11_bn},
    {"vgg13_bn", build_vgg, &vgg13_bn},
    {"vgg16_bn", build_vgg, &vgg16_bn},
    {"vgg19_bn", build_vgg, &vgg19_bn},
    {"vgg11_cifar", build_vgg, &vgg11_cifar},
    {"vgg13_cifar", build_vgg, &vgg13_cifar},
    {"vgg16_cifar", build_vgg, &vgg16_cifar},
    {"vgg19_cifar", build_vgg, &vgg19_cifar},
    {"resnet18", build_resnet, &resnet18},
    {"resnet34", build_resnet, &resnet34},
    {"resnet50", build_resnet, &resnet50},
    {"resnet101", build_resnet, &resnet101},
    {"resnet20", build_resnet, &resnet20},
    {"resnet32", build_resnet, &resnet32},
    {"resnet56", build_resnet, &resnet56},
    {"resnet110", build_resnet, &resnet110},
    {"densenet121", build_densenet, &densenet121},
    {"densenet169", build_densenet, &densenet169},
    {"densenet201", build_densenet, &densenet201},
    {"densenet_bc", build_densenet_bc, &densenet_bc},
    {"vgg_small", build_vgg, &vgg_small},
    {"resnet_small", build_resnet, &resnet_small},
    {"densenet_small", build_densenet_bc, &densenet_small},
};

#define ZOO_SIZE ((int)(sizeof zoo / sizeof zoo[0]))

/* ------------------------------------------------------------------------ */
/* Public calls                                                              */
/* ------------------------------------------------------------------------ */

void rlkd_zoo_options_init(rlkd_zoo_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->num_classes = 1000;
    options->in_channels = 3;
    options->in_height = 224;
    options->in_width = 224;
    options->attention = RLKD_ATTENTION_NONE;
    options->attention_reduction = 16;
    options->width_multiplier = 1.0f;
    options->densenet_depth = 100;
    options->densenet_growth = 12;
}

const char *rlkd_zoo_name(int index)
{
    return index >= 0 && index < ZOO_SIZE ? zoo[index].name : NULL;
}

static rlkd_status check_options(const rlkd_zoo_options *o)
{
    static const char op[] = "rlkd_zoo_create";
    RLKD_TRY(rlkd_expect_struct_size(op, "options", o->struct_size,
                                     ZOO_OPTIONS_SIZE_READ,
                                     "rlkd_zoo_options_init"));
    RLKD_TRY(rlkd_expect_at_least(op, "options->num_classes", o->num_classes,
                                  1));
    RLKD_TRY(rlkd_expect_at_least(op, "options->in_channels", o->in_channels,
                                  1));
    RLKD_TRY(rlkd_expect_at_least(op, "options->in_height", o->in_height, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "options->in_width", o->in_width, 1));
    if ((unsigned)o->attention > RLKD_ATTENTION_CBAM)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->attention is %d, not an "
                         "rlkd_attention value",
                         op, (int)o->attention);
    RLKD_TRY(rlkd_expect_at_least(op, "options->attention_reduction",
                                  o->attention_reduction, 1));
    RLKD_TRY(rlkd_expect_finite_above(op, "options->width_multiplier",
                                      o->width_multiplier, 0.0f));
    RLKD_TRY(rlkd_expect_at_least(op, "options->densenet_growth",
                                  o->densenet_growth, 1));
    if (o->densenet_growth > INT_MAX / DENSENET_BN_SIZE)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->densenet_growth %d is too large (the "
                         "bottleneck width %d x growth must fit an int)",
                         op, o->densenet_growth, DENSENET_BN_SIZE);
    int depth = o->densenet_depth;
    if (depth < 10 || (depth - 4) % 6 != 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->densenet_depth is %d; DenseNet-BC "
                         "depths are 6n+4 with n >= 1 (10, 16, 22, ..., "
                         "100, 190)",
                         op, depth);
    return RLKD_OK;
}

rlkd_status rlkd_zoo_create(rlkd_context *ctx, const char *name,
                            const rlkd_zoo_options *options, rlkd_net **out)
{
    static const char op[] = "rlkd_zoo_create";
    RLKD_TRY(rlkd_check_context(ctx, op));
    if (!name || !out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !name ? "name" : "out");
    const zoo_entry *entry = NULL;
    for (int i = 0; i < ZOO_SIZE && !entry; i++)
        if (strcmp(zoo[i].name, name) == 0)
            entry = &zoo[i];
    if (!entry)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: no network named \"%s\"; the zoo has e.g. "
                         "\"vgg16_bn\", \"vgg16_cifar\", \"resnet50\", "
                         "\"resnet56\", \"densenet121\", \"densenet_bc\", "
                         "\"vgg_small\" (rlkd_zoo_name lists them all)",
                         op, name);

    zoo_builder z = {0};
    rlkd_zoo_options_init(&z.options);
    if (options) {
        RLKD_TRY(check_options(options));
        memcpy(&z.options, options, ZOO_OPTIONS_SIZE_READ);
    }
    const rlkd_zoo_options *o = &z.options;
    RLKD_TRY(rlkd_net_create(ctx, o->in_channels, o->in_height, o->in_width,
                             &z.net));
    rlkd_status st = entry->build(&z, entry->config);
    if (st != RLKD_OK) {
        /* say which network and input the builder's complaint is about */
        char why[512];
        snprintf(why, sizeof why, "%s", rlkd_last_error());
        rlkd_net_destroy(z.net);
        return rlkd_fail(st, "%s: \"%s\" for a %dx%dx%d input: %s", op, name,
                         o->in_channels, o->in_height, o->in_width, why);
    }
    *out = z.net;
    return RLKD_OK;
}
