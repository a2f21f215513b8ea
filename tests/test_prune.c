/*
 * Pruning: channel groups derived from the graph (VGG, ResNet's residual
 * streams, DenseNet's concatenations, refused attention), masks that make
 * the network independent of every removed channel's parameters (forward
 * in both modes) and stop their gradients, costs of what the masks keep,
 * the criteria, and the error paths.
 */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static rlkd_net *zoo(const char *name, rlkd_attention attention, float width)
{
    rlkd_zoo_options o;
    rlkd_zoo_options_init(&o);
    o.num_classes = 10;
    o.in_channels = 1;
    o.in_height = o.in_width = 12;
    o.attention = attention;
    o.width_multiplier = width;
    rlkd_net *net = NULL;
    CHECK_OK(rlkd_zoo_create(test_ctx, name, &o, &net));
    return net;
}

static rlkd_prune_group group_at(rlkd_net *net, int index)
{
    rlkd_prune_group g;
    rlkd_prune_group_init(&g);
    CHECK_OK(rlkd_net_prune_group(net, index, &g));
    return g;
}

/* The first group made by `name`, or -1. */
static int group_named(rlkd_net *net, const char *name)
{
    int count = 0;
    CHECK_OK(rlkd_net_prune_group_count(net, &count));
    for (int i = 0; i < count; i++)
        if (strcmp(group_at(net, i).name, name) == 0)
            return i;
    return -1;
}

/* Removes every other channel of group `index` (channel 0 stays). */
static void mask_alternate(rlkd_net *net, int index)
{
    const rlkd_prune_group g = group_at(net, index);
    uint8_t *keep = malloc((size_t)g.channels);
    for (int c = 0; c < g.channels; c++)
        keep[c] = c % 2 == 0;
    CHECK_OK(rlkd_net_prune_set_mask(net, index, keep, g.channels));
    free(keep);
}

static void vgg_groups(void)
{
    rlkd_net *net = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    int count = 0, convs = 0, layers = 0;
    CHECK_OK(rlkd_net_prune_group_count(net, &count));
    CHECK_OK(rlkd_net_layer_count(net, &layers));
    for (int i = 0; i < layers; i++) {
        rlkd_layer_cost c;
        rlkd_layer_cost_init(&c);
        CHECK_OK(rlkd_net_layer_cost(net, i, &c));
        convs += strcmp(c.kind, "conv2d") == 0;
    }
    /* the input, one group a convolution, the classifier's output */
    CHECK_MSG(count == convs + 2, "%d groups for %d convolutions", count,
              convs);
    const rlkd_prune_group input = group_at(net, 0);
    CHECK(!input.prunable && input.refusal && strstr(input.refusal, "input"));
    for (int i = 1; i <= convs; i++) {
        const rlkd_prune_group g = group_at(net, i);
        CHECK_MSG(g.prunable && !g.refusal && g.producers == 1 &&
                      g.kept == g.channels,
                  "group %d (%s)", i, g.name);
    }
    CHECK(!group_at(net, count - 1).prunable);
    rlkd_net_destroy(net);
}

static void resnet_streams(void)
{
    rlkd_net *net = zoo("resnet_small", RLKD_ATTENTION_NONE, 1.0f);
    /* The stem's output runs through layer1's residual add: one stream
     * group with the stem and the block's second convolution in it. */
    const int stream = group_named(net, "conv1");
    const int inner = group_named(net, "layer1.0.conv1");
    CHECK(stream >= 0 && inner >= 0);
    const rlkd_prune_group s = group_at(net, stream);
    CHECK_MSG(s.producers == 2 && !s.prunable && !s.refusal,
              "stream: %d producers, prunable %d", s.producers, s.prunable);
    CHECK(group_at(net, inner).prunable);
    CHECK(group_named(net, "layer1.0.conv2") < 0);
    CHECK_FAILS(rlkd_net_prune_keep(net, stream, 4, RLKD_PRUNE_L1),
                RLKD_ERR_INVALID_ARGUMENT, "residual stream");
    CHECK_OK(rlkd_net_prune_set_prunable(net, stream, 1));
    CHECK_OK(rlkd_net_prune_keep(net, stream, 4, RLKD_PRUNE_L1));
    CHECK(group_at(net, stream).kept == 4);
    /* Not prunable again: every channel back. */
    CHECK_OK(rlkd_net_prune_set_prunable(net, stream, 0));
    CHECK(group_at(net, stream).kept == group_at(net, stream).channels);
    rlkd_net_destroy(net);
}

static void attention_refusals(void)
{
    rlkd_net *net = zoo("densenet_small", RLKD_ATTENTION_ECA, 1.0f);
    int count = 0, refused = 0, prunable = 0;
    CHECK_OK(rlkd_net_prune_group_count(net, &count));
    for (int i = 0; i < count; i++) {
        const rlkd_prune_group g = group_at(net, i);
        refused += g.refusal && strstr(g.refusal, "ECA") != NULL;
        prunable += g.prunable;
    }
    /* Growth channels pass through the blocks' ECA; bottlenecks do not. */
    CHECK_MSG(refused > 0 && prunable > 0, "%d refused, %d prunable", refused,
              prunable);
    const int growth =
        group_named(net, "features.denseblock1.denselayer1.conv2");
    CHECK(growth >= 0);
    CHECK_FAILS(rlkd_net_prune_set_prunable(net, growth, 1),
                RLKD_ERR_INVALID_ARGUMENT, "ECA");
    CHECK_FAILS(rlkd_net_prune_keep(net, growth, 2, RLKD_PRUNE_L1),
                RLKD_ERR_INVALID_ARGUMENT, "neighbouring");
    rlkd_net_destroy(net);
    /* CBAM sits on the residual stream, before the add. */
    net = zoo("resnet_small", RLKD_ATTENTION_CBAM, 1.0f);
    const rlkd_prune_group stream = group_at(net, group_named(net, "conv1"));
    CHECK(stream.refusal && strstr(stream.refusal, "CBAM"));
    CHECK(group_at(net, group_named(net, "layer1.0.conv1")).prunable);
    rlkd_net_destroy(net);
}

/* Forward logits of `net` on x in the given mode. */
static float *logits(rlkd_net *net, const rlkd_tensor *x, int training)
{
    rlkd_tensor *out;
    CHECK_OK(rlkd_net_forward(net, x, training, &out));
    return t_get(out);
}

/* Adds noise to every parameter entry that belongs to a removed channel of
 * group `index`: its producers' filters and biases, and the batch norms'
 * scale and shift over it. A masked network must not notice. */
static void disturb_removed(rlkd_net *net, int index, const char *const *names,
                            int name_count)
{
    const rlkd_prune_group g = group_at(net, index);
    uint8_t *keep = malloc((size_t)g.channels);
    CHECK_OK(rlkd_net_prune_get_mask(net, index, keep, g.channels));
    for (int k = 0; k < name_count; k++) {
        rlkd_tensor *t;
        CHECK_OK(rlkd_net_find(net, names[k], &t));
        const int64_t rows = rlkd_tensor_dim(t, 0);
        const int64_t per_row = rlkd_tensor_numel(t) / rows;
        float *v = t_get(t);
        for (int64_t r = 0; r < rows; r++)
            if (!keep[r % g.channels])
                for (int64_t j = 0; j < per_row; j++)
                    v[r * per_row + j] += 3.0f;
        CHECK_OK(rlkd_tensor_write(t, v, (size_t)rlkd_tensor_numel(t)));
        free(v);
    }
    free(keep);
}

static void check_masked_function(rlkd_net *net, int index,
                                  const char *const *names, int name_count)
{
    mask_alternate(net, index);
    rlkd_tensor *x = t_new(3, 1, 12, 12);
    CHECK_OK(rlkd_tensor_fill_normal(x, 0.0f, 1.0f));
    for (int training = 0; training < 2; training++) {
        float *before = logits(net, x, training);
        disturb_removed(net, index, names, name_count);
        float *after = logits(net, x, training);
        double *want = test_to_double(before, 30);
        test_close(training ? "training logits" : "inference logits", after,
                   want, 30, 1e-6, 1e-5);
        free(before); free(after); free(want);
    }
    rlkd_tensor_destroy(x);
}

static void masks_remove_channels(void)
{
    rlkd_net *net = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    static const char *const vgg[] = {"features.3.weight", "features.3.bias",
                                      "features.4.weight", "features.4.bias"};
    check_masked_function(net, group_named(net, "features.3"), vgg, 4);
    rlkd_net_destroy(net);

    net = zoo("resnet_small", RLKD_ATTENTION_SE, 1.0f);
    static const char *const inner[] = {"layer2.0.conv1.weight",
                                        "layer2.0.bn1.weight",
                                        "layer2.0.bn1.bias"};
    check_masked_function(net, group_named(net, "layer2.0.conv1"), inner, 3);
    rlkd_net_destroy(net);

    net = zoo("densenet_small", RLKD_ATTENTION_NONE, 1.0f);
    static const char *const growth[] = {
        "features.denseblock1.denselayer1.conv2.weight"};
    check_masked_function(
        net, group_named(net, "features.denseblock1.denselayer1.conv2"),
        growth, 1);
    rlkd_net_destroy(net);
}

static void masked_gradients(void)
{
    rlkd_net *net = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    const int index = group_named(net, "features.0");
    mask_alternate(net, index);
    rlkd_tensor *x = t_new(2, 1, 12, 12), *out, *dy = t_new(2, 10, 0, 0);
    CHECK_OK(rlkd_tensor_fill_normal(x, 0.0f, 1.0f));
    CHECK_OK(rlkd_tensor_fill_normal(dy, 0.0f, 1.0f));
    CHECK_OK(rlkd_net_zero_grad(net));
    CHECK_OK(rlkd_net_forward(net, x, 1, &out));
    CHECK_OK(rlkd_net_backward(net, dy, NULL));
    int params = 0;
    CHECK_OK(rlkd_net_param_count(net, &params));
    for (int i = 0; i < params; i++) {
        const char *name;
        rlkd_tensor *value, *grad;
        CHECK_OK(rlkd_net_param(net, i, &name, &value, &grad));
        if (strcmp(name, "features.0.weight") != 0)
            continue;
        float *g = t_get(grad);
        const int64_t per_filter =
            rlkd_tensor_numel(grad) / rlkd_tensor_dim(grad, 0);
        int removed_zero = 1, kept_nonzero = 0;
        for (int64_t c = 0; c < rlkd_tensor_dim(grad, 0); c++)
            for (int64_t j = 0; j < per_filter; j++) {
                if (c % 2)
                    removed_zero &= g[c * per_filter + j] == 0.0f;
                else
                    kept_nonzero |= g[c * per_filter + j] != 0.0f;
            }
        CHECK(removed_zero && kept_nonzero);
        free(g);
    }
    rlkd_tensor_destroy(x);
    rlkd_tensor_destroy(dy);
    rlkd_net_destroy(net);
}

/* conv 2->6 3x3 (bias) -> BN -> ReLU -> conv 6->4 3x3 -> GAP -> linear 4->3
 * on 5x5: every cost worked out by hand. */
static rlkd_net *tiny(void)
{
    rlkd_net *net;
    int n;
    CHECK_OK(rlkd_net_create(test_ctx, 2, 5, 5, &net));
    CHECK_OK(rlkd_net_add_conv2d(net, &n, "a", 0, 6, 3, 1, 1, 1, 1, 1));
    CHECK_OK(rlkd_net_add_batchnorm2d(net, &n, "a_bn", n, 1e-5f, 0.1f));
    CHECK_OK(rlkd_net_add_relu(net, &n, "a_relu", n));
    CHECK_OK(rlkd_net_add_conv2d(net, &n, "b", n, 4, 3, 1, 1, 1, 1, 0));
    CHECK_OK(rlkd_net_add_global_avgpool(net, &n, "pool", n));
    CHECK_OK(rlkd_net_add_linear(net, &n, "fc", n, 3, 1));
    return net;
}

static void costs(void)
{
    rlkd_net *net = tiny();
    int64_t params, macs;
    CHECK_OK(rlkd_net_cost(net, &params, &macs));
    /* a: 6*2*9+6; bn: 12; b: 4*6*9; fc: 4*3+3 */
    CHECK(params == 114 + 12 + 216 + 15);
    CHECK(macs == 25 * 6 * 18 + 25 * 4 * 54 + 12);
    const int a = group_named(net, "a"), b = group_named(net, "b");
    CHECK_OK(rlkd_net_prune_keep(net, a, 2, RLKD_PRUNE_L1));
    CHECK_OK(rlkd_net_prune_keep(net, b, 3, RLKD_PRUNE_L2));
    CHECK_OK(rlkd_net_cost(net, &params, &macs));
    /* a: 2*2*9+2; bn: 4; b: 3*2*9; fc: 3*3+3 */
    CHECK_MSG(params == 38 + 4 + 54 + 12, "params %lld", (long long)params);
    CHECK_MSG(macs == 25 * 2 * 18 + 25 * 3 * 18 + 9, "macs %lld",
              (long long)macs);
    rlkd_layer_cost c;
    rlkd_layer_cost_init(&c);
    CHECK_OK(rlkd_net_layer_cost(net, 3, &c));
    CHECK(c.params == 54 && c.macs == 25 * 3 * 18);
    CHECK_OK(rlkd_net_prune_clear(net));
    CHECK_OK(rlkd_net_cost(net, &params, &macs));
    CHECK(params == 357);
    rlkd_net_destroy(net);
}

static void criteria(void)
{
    rlkd_net *net = tiny();
    const int a = group_named(net, "a");
    rlkd_tensor *w, *gamma;
    CHECK_OK(rlkd_net_find(net, "a.weight", &w));
    CHECK_OK(rlkd_net_find(net, "a_bn.weight", &gamma));
    float wv[108], gv[6] = {0.5f, -2.0f, 1.0f, 0.25f, -0.75f, 3.0f};
    for (int i = 0; i < 108; i++)
        wv[i] = (float)((i * 37) % 19 - 9) / 9.0f;
    CHECK_OK(rlkd_tensor_write(w, wv, 108));
    CHECK_OK(rlkd_tensor_write(gamma, gv, 6));
    float got[6];
    double want[6];
    for (int crit = RLKD_PRUNE_L1; crit <= RLKD_PRUNE_BN_SCALE; crit++) {
        CHECK_OK(rlkd_net_prune_scores(net, a, (rlkd_prune_criterion)crit, got,
                                       6));
        for (int c = 0; c < 6; c++) {
            double v = 0.0;
            for (int j = 0; j < 18; j++) {
                const double x = wv[c * 18 + j];
                if (crit == RLKD_PRUNE_L1)
                    v += fabs(x);
                else if (crit == RLKD_PRUNE_L2)
                    v += x * x;
            }
            if (crit == RLKD_PRUNE_L2)
                v = sqrt(v);
            if (crit == RLKD_PRUNE_FPGM)
                for (int o = 0; o < 6; o++) {
                    double d = 0.0;
                    for (int j = 0; j < 18; j++)
                        d += pow(wv[c * 18 + j] - wv[o * 18 + j], 2);
                    v += sqrt(d);
                }
            if (crit == RLKD_PRUNE_BN_SCALE)
                v = fabs(gv[c]);
            want[c] = v;
        }
        test_close("scores", got, want, 6, 1e-6, 1e-6);
    }
    /* The two largest |gamma| (channels 5 and 1) stay. */
    CHECK_OK(rlkd_net_prune_keep(net, a, 2, RLKD_PRUNE_BN_SCALE));
    uint8_t keep[6];
    CHECK_OK(rlkd_net_prune_get_mask(net, a, keep, 6));
    CHECK(keep[1] && keep[5] && !keep[0] && !keep[2] && !keep[3] && !keep[4]);
    rlkd_net_destroy(net);
}

static void errors_and_reset(void)
{
    rlkd_net *net = tiny();
    const int a = group_named(net, "a");
    uint8_t none[6] = {0}, keep[6] = {1, 1, 1, 1, 1, 1};
    float scores[6];
    int count;
    rlkd_prune_group g = {0}; /* struct_size 0: not initialised */
    CHECK_FAILS(rlkd_net_prune_group_count(NULL, &count),
                RLKD_ERR_INVALID_ARGUMENT, "net");
    CHECK_FAILS(rlkd_net_prune_group_count(net, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "count");
    CHECK_FAILS(rlkd_net_prune_group(net, 0, &g), RLKD_ERR_INVALID_ARGUMENT,
                "rlkd_prune_group_init");
    rlkd_prune_group_init(&g);
    CHECK_FAILS(rlkd_net_prune_group(net, 99, &g), RLKD_ERR_INVALID_ARGUMENT,
                "group index 99");
    CHECK_FAILS(rlkd_net_prune_set_mask(net, a, keep, 5),
                RLKD_ERR_INVALID_ARGUMENT, "6 channels");
    CHECK_FAILS(rlkd_net_prune_set_mask(net, a, none, 6),
                RLKD_ERR_INVALID_ARGUMENT, "at least one must stay");
    CHECK_FAILS(rlkd_net_prune_set_mask(net, a, NULL, 6),
                RLKD_ERR_INVALID_ARGUMENT, "keep");
    CHECK_FAILS(rlkd_net_prune_set_mask(net, 0, keep, 2),
                RLKD_ERR_INVALID_ARGUMENT, "cannot be pruned");
    CHECK_FAILS(rlkd_net_prune_keep(net, 0, 1, RLKD_PRUNE_L1),
                RLKD_ERR_INVALID_ARGUMENT, "input");
    CHECK_FAILS(rlkd_net_prune_keep(net, a, 0, RLKD_PRUNE_L1),
                RLKD_ERR_INVALID_ARGUMENT, "1..6");
    CHECK_FAILS(rlkd_net_prune_keep(net, a, 7, RLKD_PRUNE_L1),
                RLKD_ERR_INVALID_ARGUMENT, "1..6");
    CHECK_FAILS(rlkd_net_prune_scores(net, a, (rlkd_prune_criterion)9, scores,
                                      6),
                RLKD_ERR_INVALID_ARGUMENT, "criterion 9");
    CHECK_FAILS(rlkd_net_prune_scores(net, 0, RLKD_PRUNE_L1, scores, 2),
                RLKD_ERR_INVALID_ARGUMENT, "no convolution");
    const int b = group_named(net, "b");
    CHECK_FAILS(rlkd_net_prune_scores(net, b, RLKD_PRUNE_BN_SCALE, scores, 4),
                RLKD_ERR_INVALID_ARGUMENT, "no batch norm");
    /* A new layer derives the groups again, every channel kept. */
    CHECK_OK(rlkd_net_prune_keep(net, a, 3, RLKD_PRUNE_L1));
    int n;
    CHECK_OK(rlkd_net_node_count(net, &n));
    CHECK_OK(rlkd_net_add_relu(net, &n, "after", n - 1));
    CHECK(group_at(net, group_named(net, "a")).kept == 6);
    rlkd_net_destroy(net);
}

/* Random masks on every prunable group (each keeps at least one). */
static void mask_randomly(rlkd_net *net, uint64_t seed)
{
    int count = 0;
    CHECK_OK(rlkd_net_prune_group_count(net, &count));
    for (int i = 0; i < count; i++) {
        const rlkd_prune_group g = group_at(net, i);
        if (!g.prunable)
            continue;
        float *u = malloc((size_t)g.channels * sizeof *u);
        uint8_t *keep = malloc((size_t)g.channels);
        test_fill_uniform(u, (size_t)g.channels, 0.0f, 1.0f,
                          seed + (uint64_t)i);
        for (int c = 0; c < g.channels; c++)
            keep[c] = u[c] < 0.6f || c == i % g.channels;
        CHECK_OK(rlkd_net_prune_set_mask(net, i, keep, g.channels));
        free(u);
        free(keep);
    }
}

/* The compacted network computes the masked one's logits (1e-5 relative,
 * both modes) with the masked MACs, and saves and loads as any network. */
static void check_compaction(rlkd_net *net, const char *what)
{
    mask_randomly(net, 7);
    int64_t masked_params, masked_macs, params, macs, full_macs;
    CHECK_OK(rlkd_net_cost(net, &masked_params, &masked_macs));
    rlkd_net *small = NULL;
    CHECK_OK(rlkd_net_prune_compact(net, &small));
    if (!small)
        return;
    CHECK_OK(rlkd_net_cost(small, &params, &macs));
    CHECK_OK(rlkd_net_prune_clear(net));
    CHECK_OK(rlkd_net_cost(net, NULL, &full_macs));
    mask_randomly(net, 7);
    CHECK_MSG(params == masked_params && macs == masked_macs &&
                  macs < full_macs,
              "%s: compacted %lld params %lld MACs, masked %lld %lld, full "
              "%lld MACs", what, (long long)params, (long long)macs,
              (long long)masked_params, (long long)masked_macs,
              (long long)full_macs);
    rlkd_tensor *x = t_new(4, 1, 12, 12);
    CHECK_OK(rlkd_tensor_fill_normal(x, 0.0f, 1.0f));
    for (int training = 1; training >= 0; training--) {
        float *want = logits(net, x, training);
        float *got = logits(small, x, training);
        double *wanted = test_to_double(want, 40);
        double scale = 0.0;
        for (int i = 0; i < 40; i++)
            scale = fmax(scale, fabs(wanted[i]));
        test_close(what, got, wanted, 40, 1e-5 * scale, 0.0);
        free(want); free(got); free(wanted);
    }
    /* An ordinary checkpoint: rlkd_net_load rebuilds it. */
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "compacted.safetensors");
    CHECK_OK(rlkd_net_save(small, path));
    rlkd_net *loaded = NULL;
    CHECK_OK(rlkd_net_load(test_ctx, path, &loaded));
    if (loaded) {
        float *a = logits(small, x, 0), *b = logits(loaded, x, 0);
        CHECK_MSG(memcmp(a, b, 40 * sizeof *a) == 0, "%s: loaded logits", what);
        free(a); free(b);
    }
    rlkd_net_destroy(loaded);
    rlkd_tensor_destroy(x);
    rlkd_net_destroy(small);
}

static void compaction(void)
{
    static const struct {
        const char *name;
        rlkd_attention attention;
        int streams; /* make residual streams prunable too */
    } nets[] = {
        {"vgg_small", RLKD_ATTENTION_NONE, 0},
        {"resnet_small", RLKD_ATTENTION_NONE, 1},
        {"resnet_small", RLKD_ATTENTION_SE, 1},
        {"resnet_small", RLKD_ATTENTION_ECA, 0},
        {"resnet_small", RLKD_ATTENTION_CBAM, 0},
        {"densenet_small", RLKD_ATTENTION_NONE, 0},
        {"densenet_small", RLKD_ATTENTION_SE, 0},
        {"densenet_small", RLKD_ATTENTION_ECA, 0},
        {"densenet_small", RLKD_ATTENTION_CBAM, 0},
    };
    for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
        rlkd_net *net = zoo(nets[k].name, nets[k].attention, 1.0f);
        int count = 0;
        CHECK_OK(rlkd_net_prune_group_count(net, &count));
        for (int i = 0; nets[k].streams && i < count; i++)
            if (group_at(net, i).producers > 1)
                CHECK_OK(rlkd_net_prune_set_prunable(net, i, 1));
        char what[64];
        snprintf(what, sizeof what, "%s attention %d", nets[k].name,
                 (int)nets[k].attention);
        check_compaction(net, what);
        rlkd_net_destroy(net);
    }
}

static void uniform_and_soft(void)
{
    rlkd_net *net = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    int64_t full, macs;
    double fraction = 0.0;
    CHECK_OK(rlkd_net_cost(net, NULL, &full));
    CHECK_OK(rlkd_net_prune_uniform(net, 0.4, RLKD_PRUNE_L1, &fraction));
    CHECK_OK(rlkd_net_cost(net, NULL, &macs));
    CHECK_MSG(macs <= 0.4 * (double)full && macs > 0.25 * (double)full &&
                  fraction > 0.5 && fraction < 0.75,
              "uniform to 0.4: %.3f of the MACs at fraction %.3f",
              (double)macs / (double)full, fraction);
    int count = 0;
    CHECK_OK(rlkd_net_prune_group_count(net, &count));
    for (int i = 0; i < count; i++) {
        const rlkd_prune_group g = group_at(net, i);
        if (g.prunable)
            CHECK_MSG(g.kept == (int)(fraction * g.channels + 0.5) ||
                          (g.kept == 1 && fraction * g.channels < 1.5),
                      "%s keeps %d of %d", g.name, g.kept, g.channels);
    }
    /* Out of reach: nothing changes. */
    CHECK_FAILS(rlkd_net_prune_uniform(net, 1e-4, RLKD_PRUNE_L1, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "cannot be reached");
    int64_t after;
    CHECK_OK(rlkd_net_cost(net, NULL, &after));
    CHECK(after == macs);
    CHECK_FAILS(rlkd_net_prune_uniform(net, 0.0, RLKD_PRUNE_L1, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "(0,1]");
    CHECK_OK(rlkd_net_prune_clear(net));

    /* Soft: half the filters of each group zeroed, no mask. */
    CHECK_OK(rlkd_net_prune_soft(net, 0.5, RLKD_PRUNE_L2));
    rlkd_tensor *w;
    CHECK_OK(rlkd_net_find(net, "features.3.weight", &w));
    const int filters = (int)rlkd_tensor_dim(w, 0);
    const int64_t per = rlkd_tensor_numel(w) / filters;
    float *v = t_get(w);
    int zero = 0;
    for (int c = 0; c < filters; c++) {
        int all_zero = 1;
        for (int64_t j = 0; j < per; j++)
            all_zero &= v[c * per + j] == 0.0f;
        zero += all_zero;
    }
    CHECK_MSG(zero == filters - (filters + 1) / 2, "%d of %d filters zeroed",
              zero, filters);
    free(v);
    const rlkd_prune_group g = group_at(net, group_named(net, "features.3"));
    CHECK(g.kept == g.channels);
    CHECK_FAILS(rlkd_net_prune_soft(net, 1.5, RLKD_PRUNE_L2),
                RLKD_ERR_INVALID_ARGUMENT, "keep_fraction");
    rlkd_net_destroy(net);
}

/* The whole file at path, into *size bytes (free it). */
static char *read_whole(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)*size);
    CHECK(fread(data, 1, (size_t)*size, f) == (size_t)*size);
    fclose(f);
    return data;
}

static void write_whole(const char *path, const char *data, long size)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, (size_t)size, f) == (size_t)size);
    if (f)
        fclose(f);
}

static void masks_in_checkpoints(void)
{
    char path[TEST_PATH_BYTES], bad[TEST_PATH_BYTES], plain[TEST_PATH_BYTES];
    test_temp_path(path, "masked.safetensors");
    test_temp_path(bad, "bad.safetensors");
    test_temp_path(plain, "plain.safetensors");
    rlkd_net *net = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    CHECK_OK(rlkd_net_prune_uniform(net, 0.5, RLKD_PRUNE_L1, NULL));
    int64_t macs, loaded_macs;
    CHECK_OK(rlkd_net_cost(net, NULL, &macs));
    CHECK_OK(rlkd_net_save(net, path));

    /* rlkd_net_load and rlkd_net_load_weights both bring the masks. */
    rlkd_net *loaded = NULL;
    CHECK_OK(rlkd_net_load(test_ctx, path, &loaded));
    CHECK_OK(rlkd_net_cost(loaded, NULL, &loaded_macs));
    CHECK(loaded_macs == macs);
    rlkd_tensor *x = t_new(2, 1, 12, 12);
    CHECK_OK(rlkd_tensor_fill_normal(x, 0.0f, 1.0f));
    float *a = logits(net, x, 0), *b = logits(loaded, x, 0);
    CHECK(memcmp(a, b, 20 * sizeof *a) == 0);
    free(a); free(b);
    rlkd_net *fresh = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    CHECK_OK(rlkd_net_load_weights(fresh, path));
    CHECK_OK(rlkd_net_cost(fresh, NULL, &loaded_macs));
    CHECK(loaded_macs == macs);

    /* A file without masks clears them. */
    rlkd_net *unpruned = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    int64_t full;
    CHECK_OK(rlkd_net_cost(unpruned, NULL, &full));
    CHECK_OK(rlkd_net_save(unpruned, plain));
    CHECK_OK(rlkd_net_load_weights(fresh, plain));
    CHECK_OK(rlkd_net_cost(fresh, NULL, &loaded_macs));
    CHECK(loaded_macs == full);

    /* Corrupt masks: refused, the network unchanged. */
    long size;
    char *data = read_whole(path, &size);
    /* the header follows an 8-byte length that holds zero bytes */
    char *at = data ? strstr(data + 8, "features.0\\\":\\\"") : NULL;
    CHECK(at != NULL);
    if (at) {
        at[strlen("features.0\\\":\\\"")] = '2';
        write_whole(bad, data, size);
        CHECK_FAILS(rlkd_net_load_weights(fresh, bad), RLKD_ERR_FORMAT,
                    "characters of 0 and 1");
        at[strlen("features.0\\\":\\\"")] = '1';
        at[9] = 'x'; /* "features.x": no such group */
        write_whole(bad, data, size);
        CHECK_FAILS(rlkd_net_load_weights(fresh, bad), RLKD_ERR_FORMAT,
                    "does not have");
        CHECK_OK(rlkd_net_cost(fresh, NULL, &loaded_macs));
        CHECK(loaded_macs == full);
    }
    free(data);
    rlkd_tensor_destroy(x);
    rlkd_net_destroy(unpruned);
    rlkd_net_destroy(fresh);
    rlkd_net_destroy(loaded);
    rlkd_net_destroy(net);
}

static void slimming(void)
{
    rlkd_net *net = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    int count = 0;
    CHECK_OK(rlkd_net_prune_group_count(net, &count));
    /* distinct scales: |gamma| = a different value for every channel */
    int params = 0;
    CHECK_OK(rlkd_net_param_count(net, &params));
    int k = 1;
    for (int i = 0; i < params; i++) {
        const char *name;
        rlkd_tensor *value, *grad;
        CHECK_OK(rlkd_net_param(net, i, &name, &value, &grad));
        const size_t len = strlen(name);
        rlkd_tensor *bias;
        char bias_name[128];
        snprintf(bias_name, sizeof bias_name, "%.*sbias", (int)(len - 6), name);
        if (len < 7 || strcmp(name + len - 7, ".weight") != 0 ||
            rlkd_tensor_ndim(value) != 1 ||
            rlkd_net_find(net, bias_name, &bias) != RLKD_OK)
            continue;
        const int64_t n = rlkd_tensor_numel(value);
        float *g = malloc((size_t)n * sizeof *g);
        for (int64_t c = 0; c < n; c++, k++)
            g[c] = (k % 2 ? 1.0f : -1.0f) * (float)((k * 7919) % 1009) /
                   1009.0f;
        CHECK_OK(rlkd_tensor_write(value, g, (size_t)n));
        free(g);
    }
    int64_t full, macs;
    double threshold = -1.0;
    CHECK_OK(rlkd_net_cost(net, NULL, &full));
    CHECK_OK(rlkd_net_prune_slimming(net, 0.4, &threshold));
    CHECK_OK(rlkd_net_cost(net, NULL, &macs));
    CHECK_MSG(macs <= 0.4 * (double)full && macs > 0.2 * (double)full,
              "slimming to 0.4: %.3f", (double)macs / (double)full);
    /* One threshold for every group: removed channels score at most it,
     * kept ones more (or are their group's best). */
    for (int i = 0; i < count; i++) {
        const rlkd_prune_group g = group_at(net, i);
        if (!g.prunable)
            continue;
        float *scores = malloc((size_t)g.channels * sizeof *scores);
        uint8_t *keep = malloc((size_t)g.channels);
        CHECK_OK(rlkd_net_prune_scores(net, i, RLKD_PRUNE_BN_SCALE, scores,
                                       g.channels));
        CHECK_OK(rlkd_net_prune_get_mask(net, i, keep, g.channels));
        float best = 0.0f;
        for (int c = 0; c < g.channels; c++)
            best = scores[c] > best ? scores[c] : best;
        for (int c = 0; c < g.channels; c++)
            CHECK_MSG(keep[c] ? scores[c] > threshold || scores[c] == best
                              : scores[c] <= threshold,
                      "%s channel %d: score %g, threshold %g, kept %d", g.name,
                      c, (double)scores[c], threshold, keep[c]);
        free(scores);
        free(keep);
    }
    CHECK_FAILS(rlkd_net_prune_slimming(net, 1e-4, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "cannot be reached");
    int64_t after;
    CHECK_OK(rlkd_net_cost(net, NULL, &after));
    CHECK(after == macs);
    rlkd_net_destroy(net);
}

/* Masked fine-tuning with distillation: the trainer trains a masked
 * student, which stays the network its compaction computes. */
static void masked_fine_tuning(void)
{
    rlkd_net *student = zoo("vgg_small", RLKD_ATTENTION_NONE, 0.5f);
    rlkd_net *teacher = zoo("resnet_small", RLKD_ATTENTION_SE, 1.0f);
    CHECK_OK(rlkd_net_prune_uniform(student, 0.5, RLKD_PRUNE_FPGM, NULL));
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    o.optimizer.weight_decay = 1e-3f;
    rlkd_trainer *trainer = NULL;
    CHECK_OK(rlkd_trainer_create(student, teacher, &o, &trainer));
    rlkd_tensor *x = t_new(8, 1, 12, 12);
    int32_t labels[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    rlkd_tensor *y = t_labels(labels, 8);
    for (int step = 0; step < 3; step++) {
        CHECK_OK(rlkd_tensor_fill_normal(x, 0.0f, 1.0f));
        CHECK_OK(rlkd_trainer_step(trainer, x, y, 100, NULL, NULL));
    }
    rlkd_trainer_destroy(trainer);
    rlkd_net *small = NULL;
    CHECK_OK(rlkd_net_prune_compact(student, &small));
    if (small) {
        float *want = logits(student, x, 0), *got = logits(small, x, 0);
        double *wanted = test_to_double(want, 80);
        test_close("compacted after fine-tuning", got, wanted, 80, 1e-5, 1e-5);
        free(want); free(got); free(wanted);
    }
    rlkd_tensor_destroy(x);
    rlkd_tensor_destroy(y);
    rlkd_net_destroy(small);
    rlkd_net_destroy(teacher);
    rlkd_net_destroy(student);
}

int main(void)
{
    test_main_begin();
    test_run("prune/vgg_groups", vgg_groups);
    test_run("prune/resnet_streams", resnet_streams);
    test_run("prune/attention_refusals", attention_refusals);
    test_run("prune/masks_remove_channels", masks_remove_channels);
    test_run("prune/masked_gradients", masked_gradients);
    test_run("prune/costs", costs);
    test_run("prune/criteria", criteria);
    test_run("prune/compaction", compaction);
    test_run("prune/uniform_and_soft", uniform_and_soft);
    test_run("prune/masks_in_checkpoints", masks_in_checkpoints);
    test_run("prune/slimming", slimming);
    test_run("prune/masked_fine_tuning", masked_fine_tuning);
    test_run("prune/errors_and_reset", errors_and_reset);
    test_main_end();
    return test_finish();
}
