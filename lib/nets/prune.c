/*
 * Channel groups, masks and criteria (rlkd.h, "L2 pruning").
 *
 * Deriving the groups walks the layers once, giving every node its
 * channels as segments of groups: a convolution starts a group, layers that
 * keep channels apart pass their input's segments on, a concatenation
 * joins its inputs' segments, and a residual add unites the groups of its
 * two inputs (union-find), which is how a residual stream becomes one
 * group. Groups that no smaller network can reproduce exactly are refused
 * with the reason. Masks then live per group; the layers that apply them
 * (convolutions and batch norms) get a [C] mask tensor each.
 */
#include "net_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Node channels [start, start + count) are channels [offset, offset +
 * count) of group `group`. */
typedef struct segment {
    int group, start, offset, count;
} segment;

typedef struct node_channels {
    segment *segments;
    int count;
} node_channels;

typedef struct prune_group {
    int parent;         /* union-find while deriving; itself when a root */
    int channels;
    int producers;      /* convolutions making the channels */
    int first_producer; /* layer index, or -1 */
    int prunable;
    const char *refusal;
    uint8_t *keep;      /* [channels], after derivation */
    int kept;
} prune_group;

typedef struct rlkd_prune_state rlkd_prune_state;

struct rlkd_prune_state {
    int layer_count;
    node_channels *nodes; /* layer_count + 1; their segments are one block */
    prune_group *groups;  /* the public groups, after derivation */
    int group_count;
    rlkd_tensor **masks;  /* per layer: its output's mask, or NULL */
};

static const char refused_input[] = "the network's input";
static const char refused_output[] = "the network's output";
static const char refused_grouped[] =
    "it meets a grouped convolution, whose groups would change";
static const char refused_eca[] =
    "ECA's 1-D convolution mixes neighbouring channels";
static const char refused_cbam[] =
    "CBAM's spatial attention pools over all channels (its maximum "
    "would see the zeros)";
static const char refused_layout[] =
    "a residual add meets channels of different groups";

void rlkd_prune_state_free(struct rlkd_prune_state *state)
{
    if (!state)
        return;
    if (state->nodes)
        free(state->nodes[0].segments);
    free(state->nodes);
    for (int g = 0; g < state->group_count; g++)
        free(state->groups[g].keep);
    free(state->groups);
    if (state->masks)
        for (int i = 0; i < state->layer_count; i++)
            rlkd_tensor_destroy(state->masks[i]);
    free(state->masks);
    free(state);
}

/* ---- derivation ---- */

/* The groups while deriving (before renumbering): a growable array. */
typedef struct builder {
    prune_group *groups;
    int count, capacity;
    segment *segments; /* all nodes' segments, one allocation */
    int segment_count, segment_capacity;
} builder;

static int find(builder *b, int g)
{
    while (b->groups[g].parent != g) {
        b->groups[g].parent = b->groups[b->groups[g].parent].parent;
        g = b->groups[g].parent;
    }
    return g;
}

static rlkd_status grow(void **items, int *capacity, int needed, size_t size)
{
    if (needed <= *capacity)
        return RLKD_OK;
    int grown = *capacity ? 2 * *capacity : 64;
    while (grown < needed)
        grown *= 2;
    void *p = realloc(*items, (size_t)grown * size);
    if (!p)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "pruning: out of memory for the channel groups");
    *items = p;
    *capacity = grown;
    return RLKD_OK;
}

static rlkd_status new_group(builder *b, int channels, int producer,
                             const char *refusal, int *out)
{
    RLKD_TRY(grow((void **)&b->groups, &b->capacity, b->count + 1,
                  sizeof *b->groups));
    prune_group *g = &b->groups[b->count];
    memset(g, 0, sizeof *g);
    g->parent = b->count;
    g->channels = channels;
    g->producers = producer >= 0;
    g->first_producer = producer;
    g->refusal = refusal;
    *out = b->count++;
    return RLKD_OK;
}

static void refuse(builder *b, int g, const char *why)
{
    prune_group *root = &b->groups[find(b, g)];
    if (!root->refusal)
        root->refusal = why;
}

/* Node segments are kept as (first, count) ranges into b->segments. */
typedef struct range {
    int first, count;
} range;

static rlkd_status push_segment(builder *b, segment s)
{
    RLKD_TRY(grow((void **)&b->segments, &b->segment_capacity,
                  b->segment_count + 1, sizeof *b->segments));
    b->segments[b->segment_count++] = s;
    return RLKD_OK;
}

/* The node gets a copy of another node's segments, shifted by `start`. */
static rlkd_status copy_segments(builder *b, range from, int start)
{
    for (int i = 0; i < from.count; i++) {
        segment s = b->segments[from.first + i];
        s.start += start;
        RLKD_TRY(push_segment(b, s));
    }
    return RLKD_OK;
}

static void refuse_all(builder *b, range r, const char *why)
{
    for (int i = 0; i < r.count; i++)
        refuse(b, b->segments[r.first + i].group, why);
}

/* A residual add: the two inputs' groups become one where their segments
 * line up whole; anything else is refused. */
static void unite(builder *b, range x, range y)
{
    int aligned = x.count == y.count;
    for (int i = 0; aligned && i < x.count; i++) {
        const segment *s = &b->segments[x.first + i];
        const segment *t = &b->segments[y.first + i];
        aligned = s->start == t->start && s->count == t->count &&
                  s->offset == 0 && t->offset == 0 &&
                  b->groups[find(b, s->group)].channels == s->count &&
                  b->groups[find(b, t->group)].channels == t->count;
    }
    if (!aligned) {
        refuse_all(b, x, refused_layout);
        refuse_all(b, y, refused_layout);
        return;
    }
    for (int i = 0; i < x.count; i++) {
        int g = find(b, b->segments[x.first + i].group);
        int h = find(b, b->segments[y.first + i].group);
        if (g == h)
            continue;
        if (h < g) {
            const int t = g;
            g = h;
            h = t;
        }
        prune_group *root = &b->groups[g], *other = &b->groups[h];
        other->parent = g;
        root->producers += other->producers;
        if (root->first_producer < 0 ||
            (other->first_producer >= 0 &&
             other->first_producer < root->first_producer))
            root->first_producer = other->first_producer;
        if (!root->refusal)
            root->refusal = other->refusal;
    }
}

/* The segments of layer i's output node, from its inputs' (ranges[]). */
static rlkd_status derive_layer(builder *b, const rlkd_net *net, int i,
                                range *ranges)
{
    const rlkd_layer *l = &net->layers[i];
    const range in = ranges[l->inputs[0]];
    int g;
    switch (l->spec.kind) {
    case RLKD_LAYER_CONV2D: {
        int in_c, h, w;
        rlkd_net_node_dims(net, l->inputs[0], &in_c, &h, &w);
        if (l->spec.groups == 1) {
            RLKD_TRY(new_group(b, l->out_c, i, NULL, &g));
            return push_segment(b, (segment){g, 0, 0, l->out_c});
        }
        if (l->spec.groups == in_c && l->out_c == in_c) /* depthwise */
            return copy_segments(b, in, 0);
        refuse_all(b, in, refused_grouped);
        RLKD_TRY(new_group(b, l->out_c, i, refused_grouped, &g));
        return push_segment(b, (segment){g, 0, 0, l->out_c});
    }
    case RLKD_LAYER_LINEAR:
        RLKD_TRY(new_group(b, l->out_c, -1, refused_output, &g));
        return push_segment(b, (segment){g, 0, 0, l->out_c});
    case RLKD_LAYER_ECA:
        refuse_all(b, in, refused_eca);
        return copy_segments(b, in, 0);
    case RLKD_LAYER_CBAM:
        refuse_all(b, in, refused_cbam);
        return copy_segments(b, in, 0);
    case RLKD_LAYER_ADD:
        unite(b, in, ranges[l->inputs[1]]);
        return copy_segments(b, in, 0);
    case RLKD_LAYER_CONCAT: {
        int start = 0;
        for (int k = 0; k < l->input_count; k++) {
            const range part = ranges[l->inputs[k]];
            RLKD_TRY(copy_segments(b, part, start));
            const segment *last = &b->segments[part.first + part.count - 1];
            start += last->start + last->count;
        }
        return RLKD_OK;
    }
    default: /* batch norm, ReLU, pooling, dropout, SE: channel by channel */
        return copy_segments(b, in, 0);
    }
}

/* Walks the layers; on success *ranges holds each node's segments in b. */
static rlkd_status derive(builder *b, const rlkd_net *net, range *ranges)
{
    int g;
    RLKD_TRY(new_group(b, net->in_c, -1, refused_input, &g));
    RLKD_TRY(push_segment(b, (segment){g, 0, 0, net->in_c}));
    ranges[0] = (range){0, 1};
    for (int i = 0; i < net->layer_count; i++) {
        const int first = b->segment_count;
        RLKD_TRY(derive_layer(b, net, i, ranges));
        ranges[i + 1] = (range){first, b->segment_count - first};
    }
    refuse_all(b, ranges[net->layer_count], refused_output);
    return RLKD_OK;
}

/* The state from a finished derivation: roots renumbered 0.. in order of
 * first appearance, every segment pointing at its public group. */
static rlkd_status settle(rlkd_prune_state *st, builder *b,
                          const rlkd_net *net, const range *ranges)
{
    const int nodes = net->layer_count + 1;
    int *public_of = malloc((size_t)b->count * sizeof *public_of);
    st->groups = calloc((size_t)b->count, sizeof *st->groups);
    st->nodes = calloc((size_t)nodes, sizeof *st->nodes);
    st->masks = calloc((size_t)net->layer_count, sizeof *st->masks);
    st->layer_count = net->layer_count;
    if (!public_of || !st->groups || !st->nodes || !st->masks) {
        free(public_of);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "pruning: out of memory for the channel groups");
    }
    for (int g = 0; g < b->count; g++)
        public_of[g] = -1;
    for (int s = 0; s < b->segment_count; s++) {
        const int root = find(b, b->segments[s].group);
        if (public_of[root] < 0) {
            prune_group *p = &st->groups[st->group_count];
            *p = b->groups[root];
            p->prunable = !p->refusal && p->producers == 1;
            p->kept = p->channels;
            p->keep = malloc((size_t)p->channels);
            if (!p->keep) {
                free(public_of);
                return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                 "pruning: out of memory for the masks");
            }
            memset(p->keep, 1, (size_t)p->channels);
            public_of[root] = st->group_count++;
        }
        b->segments[s].group = public_of[root];
    }
    free(public_of);
    /* One block for every node's segments: the nodes point into it. */
    segment *all = malloc((size_t)b->segment_count * sizeof *all);
    if (!all)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "pruning: out of memory for the channel groups");
    memcpy(all, b->segments, (size_t)b->segment_count * sizeof *all);
    for (int n = 0; n < nodes; n++)
        st->nodes[n] = (node_channels){all + ranges[n].first, ranges[n].count};
    return RLKD_OK;
}

/* The network's pruning state, derived on first use. */
rlkd_status rlkd_prune_state_of(rlkd_net *net, const char *op,
                                rlkd_prune_state **out)
{
    RLKD_TRY(rlkd_net_check(net, op));
    if (net->layer_count == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the network has no layers", op);
    if (!net->prune) {
        builder b = {0};
        rlkd_prune_state *st = calloc(1, sizeof *st);
        range *ranges = malloc(((size_t)net->layer_count + 1) * sizeof *ranges);
        rlkd_status status =
            st && ranges ? derive(&b, net, ranges)
                         : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                     "%s: out of memory for the channel "
                                     "groups", op);
        if (status == RLKD_OK)
            status = settle(st, &b, net, ranges);
        free(ranges);
        free(b.groups);
        free(b.segments);
        if (status != RLKD_OK) {
            rlkd_prune_state_free(st);
            return status;
        }
        net->prune = st;
    }
    *out = net->prune;
    return RLKD_OK;
}

/* ---- masks and costs ---- */

/* Channels of node `node` that the masks keep. */
static int node_kept(const rlkd_prune_state *st, int node)
{
    int kept = 0;
    const node_channels *n = &st->nodes[node];
    for (int i = 0; i < n->count; i++) {
        const segment *s = &n->segments[i];
        const prune_group *g = &st->groups[s->group];
        if (g->kept == g->channels) {
            kept += s->count;
            continue;
        }
        for (int c = 0; c < s->count; c++)
            kept += g->keep[s->offset + c] != 0;
    }
    return kept;
}

/* Does node `node` carry a channel some mask removes? */
static int node_masked(const rlkd_prune_state *st, int node)
{
    const node_channels *n = &st->nodes[node];
    for (int i = 0; i < n->count; i++) {
        const prune_group *g = &st->groups[n->segments[i].group];
        if (g->kept < g->channels)
            return 1;
    }
    return 0;
}

/* Makes or drops each convolution's and batch norm's output mask after a
 * group's mask changed. On failure the masks may be stale: the caller puts
 * the group's mask back and calls this again, which then needs nothing new
 * (every tensor it wants existed before). */
static rlkd_status refresh_masks(rlkd_net *net, rlkd_prune_state *st)
{
    for (int i = 0; i < net->layer_count; i++) {
        const rlkd_layer *l = &net->layers[i];
        const int applies = l->spec.kind == RLKD_LAYER_CONV2D ||
                            l->spec.kind == RLKD_LAYER_BATCHNORM2D;
        if (!applies || !node_masked(st, i + 1)) {
            rlkd_tensor_destroy(st->masks[i]);
            st->masks[i] = NULL;
            continue;
        }
        if (!st->masks[i]) {
            const int64_t shape[1] = {l->out_c};
            RLKD_TRY(rlkd_tensor_create(net->ctx, RLKD_DTYPE_F32, 1, shape,
                                        &st->masks[i]));
        }
        float *values = malloc((size_t)l->out_c * sizeof *values);
        if (!values)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "pruning: out of memory for a mask");
        const node_channels *n = &st->nodes[i + 1];
        for (int k = 0; k < n->count; k++) {
            const segment *s = &n->segments[k];
            const prune_group *g = &st->groups[s->group];
            for (int c = 0; c < s->count; c++)
                values[s->start + c] = g->keep[s->offset + c] ? 1.0f : 0.0f;
        }
        rlkd_status status =
            rlkd_tensor_write(st->masks[i], values, (size_t)l->out_c);
        free(values);
        RLKD_TRY(status);
    }
    return RLKD_OK;
}

int rlkd_prune_kept_index(const rlkd_net *net, int node, int *index)
{
    const rlkd_prune_state *st = net->prune;
    int c, h, w, kept = 0;
    rlkd_net_node_dims(net, node, &c, &h, &w);
    if (!st) {
        for (int k = 0; k < c; k++)
            index[k] = k;
        return c;
    }
    const node_channels *n = &st->nodes[node];
    for (int i = 0; i < n->count; i++) {
        const segment *s = &n->segments[i];
        const prune_group *g = &st->groups[s->group];
        for (int k = 0; k < s->count; k++)
            if (g->keep[s->offset + k])
                index[kept++] = s->start + k;
    }
    return kept;
}

const rlkd_tensor *rlkd_prune_output_mask(const rlkd_net *net, int layer)
{
    return net->prune ? net->prune->masks[layer] : NULL;
}

/* Layer `layer`'s parameters and MACs when its input keeps kept_in
 * channels and its output kept_out. */
static void layer_cost_kept(const rlkd_net *net, int layer, int64_t kept_in,
                            int64_t kept_out, int64_t *params, int64_t *macs)
{
    const rlkd_layer *l = &net->layers[layer];
    *params = l->params;
    *macs = l->macs;
    int in_c, in_h, in_w;
    rlkd_net_node_dims(net, l->inputs[0], &in_c, &in_h, &in_w);
    const rlkd_layer_spec *s = &l->spec;
    const int64_t taps = (int64_t)s->kernel * s->kernel;
    const int64_t pixels = (int64_t)l->out_h * l->out_w;
    switch (s->kind) {
    case RLKD_LAYER_CONV2D:
        if (s->groups == 1) {
            *params = kept_out * kept_in * taps + (s->bias ? kept_out : 0);
            *macs = kept_out * pixels * kept_in * taps;
        } else if (s->groups == in_c && l->out_c == in_c) {
            *params = kept_out * taps + (s->bias ? kept_out : 0);
            *macs = kept_out * pixels * taps;
        }
        break;
    case RLKD_LAYER_BATCHNORM2D:
        *params = 2 * kept_out;
        break;
    case RLKD_LAYER_LINEAR: {
        const int64_t features = kept_in * in_h * in_w;
        *params = features * l->out_c + (s->bias ? l->out_c : 0);
        *macs = features * l->out_c;
        break;
    }
    case RLKD_LAYER_SE: {
        /* params = 2 hidden C + hidden + C */
        const int64_t hidden = (l->params - in_c) / (2 * (int64_t)in_c + 1);
        *params = 2 * hidden * kept_in + hidden + kept_in;
        *macs = 2 * hidden * kept_in;
        break;
    }
    default: /* no parameters, or channels that are never pruned */
        break;
    }
}

void rlkd_prune_layer_cost(const rlkd_net *net, int layer, int64_t *params,
                           int64_t *macs)
{
    const rlkd_prune_state *st = net->prune;
    if (!st) {
        *params = net->layers[layer].params;
        *macs = net->layers[layer].macs;
        return;
    }
    layer_cost_kept(net, layer, node_kept(st, net->layers[layer].inputs[0]),
                    node_kept(st, layer + 1), params, macs);
}

/* Channels of node `node` kept when each group g keeps its first kept[g]. */
static int node_kept_counts(const rlkd_prune_state *st, int node,
                            const int *kept)
{
    int total = 0;
    const node_channels *n = &st->nodes[node];
    for (int i = 0; i < n->count; i++) {
        const segment *s = &n->segments[i];
        const int in_segment = kept[s->group] - s->offset;
        total += in_segment < 0 ? 0 : in_segment > s->count ? s->count
                                                            : in_segment;
    }
    return total;
}

int64_t rlkd_prune_macs_for_counts(const rlkd_net *net, const int *kept)
{
    int64_t total = 0;
    for (int i = 0; i < net->layer_count; i++) {
        int64_t params, macs;
        layer_cost_kept(net, i,
                        node_kept_counts(net->prune, net->layers[i].inputs[0],
                                         kept),
                        node_kept_counts(net->prune, i + 1, kept), &params,
                        &macs);
        total += macs;
    }
    return total;
}

/* ---- criteria ---- */

/* *out = a host copy of t's values (free it). */
static rlkd_status host_copy(const rlkd_tensor *t, float **out)
{
    *out = malloc((size_t)t->numel * sizeof **out);
    if (!*out)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "pruning: out of host memory for a layer's tensor");
    rlkd_status status = rlkd_tensor_read(t, *out, (size_t)t->numel);
    if (status != RLKD_OK) {
        free(*out);
        *out = NULL;
    }
    return status;
}

/* scores[c] += the criterion's value for each output filter of producer
 * convolution l (weights [channels, fan_in]). */
static rlkd_status filter_scores(const rlkd_net *net, const rlkd_layer *l,
                                 rlkd_prune_criterion criterion,
                                 double *scores, int channels)
{
    const rlkd_tensor *w = net->params[l->param_first].value;
    const int64_t fan_in = w->numel / channels;
    float *host;
    RLKD_TRY(host_copy(w, &host));
    for (int c = 0; c < channels; c++) {
        const float *f = host + c * fan_in;
        double value = 0.0;
        if (criterion == RLKD_PRUNE_FPGM) {
            /* the sum of distances to the other filters: the filter
             * nearest the geometric median has the least */
            for (int other = 0; other < channels; other++) {
                const float *g = host + other * fan_in;
                double squares = 0.0;
                for (int64_t k = 0; k < fan_in; k++)
                    squares += ((double)f[k] - g[k]) * ((double)f[k] - g[k]);
                value += sqrt(squares);
            }
        } else {
            for (int64_t k = 0; k < fan_in; k++)
                value += criterion == RLKD_PRUNE_L1 ? fabs((double)f[k])
                                                    : (double)f[k] * f[k];
            if (criterion == RLKD_PRUNE_L2)
                value = sqrt(value);
        }
        scores[c] += value;
    }
    free(host);
    return RLKD_OK;
}

/* scores[c] += |gamma| over every batch norm that normalises the group's
 * channel c; *found counts those batch norms. */
static rlkd_status scale_scores(const rlkd_net *net,
                                const rlkd_prune_state *st, int group,
                                double *scores, int *found)
{
    for (int i = 0; i < net->layer_count; i++) {
        const rlkd_layer *l = &net->layers[i];
        if (l->spec.kind != RLKD_LAYER_BATCHNORM2D)
            continue;
        const node_channels *n = &st->nodes[i + 1];
        const rlkd_tensor *gamma = net->params[l->param_first].value;
        float *host = NULL;
        for (int k = 0; k < n->count; k++) {
            const segment *s = &n->segments[k];
            if (s->group != group)
                continue;
            if (!host) {
                RLKD_TRY(host_copy(gamma, &host));
                ++*found;
            }
            for (int c = 0; c < s->count; c++)
                scores[s->offset + c] += fabs((double)host[s->start + c]);
        }
        free(host);
    }
    return RLKD_OK;
}

static rlkd_status group_scores(rlkd_net *net, rlkd_prune_state *st,
                                int group, rlkd_prune_criterion criterion,
                                double *scores, const char *op)
{
    const prune_group *g = &st->groups[group];
    memset(scores, 0, (size_t)g->channels * sizeof *scores);
    if (criterion == RLKD_PRUNE_BN_SCALE) {
        int found = 0;
        RLKD_TRY(scale_scores(net, st, group, scores, &found));
        if (!found)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: no batch norm normalises group %d, so it "
                             "has no BN scale", op, group);
        return RLKD_OK;
    }
    if (g->producers == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: group %d (%s) is made by no convolution, so "
                         "it has no filters to rank", op, group,
                         g->refusal ? g->refusal : "no producer");
    for (int i = 0; i < net->layer_count; i++) {
        const rlkd_layer *l = &net->layers[i];
        const node_channels *n = &st->nodes[i + 1];
        if (l->spec.kind == RLKD_LAYER_CONV2D && l->spec.groups == 1 &&
            n->segments[0].group == group)
            RLKD_TRY(filter_scores(net, l, criterion, scores, g->channels));
    }
    return RLKD_OK;
}

/* rank[c] = how many of the group's channels beat channel c under the
 * criterion (a higher score, or an equal one at a lower index): the best
 * `keep` channels are those with rank < keep. */
static rlkd_status rank_channels(rlkd_net *net, rlkd_prune_state *st,
                                 int group, rlkd_prune_criterion criterion,
                                 int *rank, const char *op)
{
    const int channels = st->groups[group].channels;
    double *values = malloc((size_t)channels * sizeof *values);
    if (!values)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    rlkd_status status = group_scores(net, st, group, criterion, values, op);
    for (int c = 0; status == RLKD_OK && c < channels; c++) {
        rank[c] = 0;
        for (int o = 0; o < channels; o++)
            rank[c] += values[o] > values[c] ||
                       (values[o] == values[c] && o < c);
    }
    free(values);
    return status;
}

/* Channels a fraction keeps of a group: rounded, at least one. */
static int fraction_kept(double fraction, int channels)
{
    const int kept = (int)(fraction * channels + 0.5);
    return kept < 1 ? 1 : kept > channels ? channels : kept;
}

/* ---- the public calls ---- */

void rlkd_prune_group_init(rlkd_prune_group *group)
{
    if (!group)
        return;
    memset(group, 0, sizeof *group);
    group->struct_size = sizeof *group;
}

/* The state and group `index`, checked. */
static rlkd_status group_of(rlkd_net *net, int index, const char *op,
                            rlkd_prune_state **st, prune_group **group)
{
    RLKD_TRY(rlkd_prune_state_of(net, op, st));
    RLKD_TRY(rlkd_net_check_index(op, "group", index, (*st)->group_count));
    *group = &(*st)->groups[index];
    return RLKD_OK;
}

static rlkd_status expect_count(const char *op, const char *name, int count,
                                const prune_group *g, int index)
{
    if (count != g->channels)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s has %d entries, but group %d has %d channels",
                         op, name, count, index, g->channels);
    return RLKD_OK;
}

/* group_of for a call with an array of one entry per channel. */
static rlkd_status group_and_array(rlkd_net *net, int index, const char *op,
                                   const void *array, const char *name,
                                   int count, rlkd_prune_state **st,
                                   prune_group **group)
{
    RLKD_TRY(rlkd_net_check_out(array, op, name));
    RLKD_TRY(group_of(net, index, op, st, group));
    return expect_count(op, name, count, *group, index);
}

static rlkd_status expect_prunable(const char *op, const prune_group *g,
                                   int index)
{
    if (g->refusal)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: group %d cannot be pruned: %s", op, index,
                         g->refusal);
    if (!g->prunable)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: group %d is not prunable (a residual stream: "
                         "rlkd_net_prune_set_prunable makes it so)", op,
                         index);
    return RLKD_OK;
}

rlkd_status rlkd_net_prune_group_count(rlkd_net *net, int *count)
{
    static const char op[] = "rlkd_net_prune_group_count";
    rlkd_prune_state *st;
    RLKD_TRY(rlkd_net_check_out(count, op, "count"));
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    *count = st->group_count;
    return RLKD_OK;
}

rlkd_status rlkd_net_prune_group(rlkd_net *net, int index,
                                 rlkd_prune_group *group)
{
    static const char op[] = "rlkd_net_prune_group";
    rlkd_prune_state *st;
    prune_group *g;
    RLKD_TRY(rlkd_net_check_out(group, op, "group"));
    RLKD_TRY(rlkd_expect_struct_size(op, "group", group->struct_size,
                                     sizeof *group, "rlkd_prune_group_init"));
    RLKD_TRY(group_of(net, index, op, &st, &g));
    group->name = g->first_producer >= 0
                      ? net->layers[g->first_producer].name
                      : (g->refusal == refused_input ? "input" : "output");
    group->channels = g->channels;
    group->kept = g->kept;
    group->producers = g->producers;
    group->prunable = g->prunable;
    group->refusal = g->refusal;
    return RLKD_OK;
}

/* Sets group g's mask from keep (NULL: all kept) and refreshes the layer
 * masks; on failure both are as they were. */
static rlkd_status set_keep(rlkd_net *net, rlkd_prune_state *st,
                            prune_group *g, const uint8_t *keep)
{
    uint8_t *before = malloc((size_t)g->channels);
    if (!before)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "pruning: out of memory for a mask");
    memcpy(before, g->keep, (size_t)g->channels);
    const int kept_before = g->kept;
    g->kept = 0;
    for (int c = 0; c < g->channels; c++) {
        g->keep[c] = keep ? keep[c] != 0 : 1;
        g->kept += g->keep[c];
    }
    rlkd_status status = refresh_masks(net, st);
    if (status != RLKD_OK) {
        memcpy(g->keep, before, (size_t)g->channels);
        g->kept = kept_before;
        refresh_masks(net, st);
    }
    free(before);
    return status;
}

rlkd_status rlkd_net_prune_set_prunable(rlkd_net *net, int index,
                                        int prunable)
{
    static const char op[] = "rlkd_net_prune_set_prunable";
    rlkd_prune_state *st;
    prune_group *g;
    RLKD_TRY(group_of(net, index, op, &st, &g));
    if (prunable && g->refusal)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: group %d cannot be pruned: %s", op, index,
                         g->refusal);
    if (!prunable && g->kept < g->channels)
        RLKD_TRY(set_keep(net, st, g, NULL));
    g->prunable = prunable != 0;
    return RLKD_OK;
}

rlkd_status rlkd_net_prune_set_mask(rlkd_net *net, int index,
                                    const uint8_t *keep, int count)
{
    static const char op[] = "rlkd_net_prune_set_mask";
    rlkd_prune_state *st;
    prune_group *g;
    RLKD_TRY(group_and_array(net, index, op, keep, "keep", count, &st, &g));
    RLKD_TRY(expect_prunable(op, g, index));
    int kept = 0;
    for (int c = 0; c < count; c++)
        kept += keep[c] != 0;
    if (kept == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the mask removes all %d channels of group %d "
                         "(%s); at least one must stay", op, count, index,
                         net->layers[g->first_producer].name);
    return set_keep(net, st, g, keep);
}

rlkd_status rlkd_net_prune_get_mask(rlkd_net *net, int index, uint8_t *keep,
                                    int count)
{
    static const char op[] = "rlkd_net_prune_get_mask";
    rlkd_prune_state *st;
    prune_group *g;
    RLKD_TRY(group_and_array(net, index, op, keep, "keep", count, &st, &g));
    memcpy(keep, g->keep, (size_t)count);
    return RLKD_OK;
}

static rlkd_status check_criterion(const char *op,
                                   rlkd_prune_criterion criterion)
{
    if ((int)criterion < RLKD_PRUNE_L1 || criterion > RLKD_PRUNE_BN_SCALE)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: unknown criterion %d", op, (int)criterion);
    return RLKD_OK;
}

rlkd_status rlkd_net_prune_scores(rlkd_net *net, int index,
                                  rlkd_prune_criterion criterion,
                                  float *scores, int count)
{
    static const char op[] = "rlkd_net_prune_scores";
    rlkd_prune_state *st;
    prune_group *g;
    RLKD_TRY(check_criterion(op, criterion));
    RLKD_TRY(group_and_array(net, index, op, scores, "scores", count, &st,
                             &g));
    double *values = malloc((size_t)count * sizeof *values);
    if (!values)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    rlkd_status status = group_scores(net, st, index, criterion, values, op);
    for (int c = 0; status == RLKD_OK && c < count; c++)
        scores[c] = (float)values[c];
    free(values);
    return status;
}

rlkd_status rlkd_net_prune_keep(rlkd_net *net, int index, int keep,
                                rlkd_prune_criterion criterion)
{
    static const char op[] = "rlkd_net_prune_keep";
    rlkd_prune_state *st;
    prune_group *g;
    RLKD_TRY(check_criterion(op, criterion));
    RLKD_TRY(group_of(net, index, op, &st, &g));
    RLKD_TRY(expect_prunable(op, g, index));
    if (keep < 1 || keep > g->channels)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: keep must be in 1..%d (group %d's channels), "
                         "got %d", op, g->channels, index, keep);
    int *rank = malloc((size_t)g->channels * sizeof *rank);
    uint8_t *mask = malloc((size_t)g->channels);
    rlkd_status status =
        rank && mask ? rank_channels(net, st, index, criterion, rank, op)
                     : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory",
                                 op);
    for (int c = 0; status == RLKD_OK && c < g->channels; c++)
        mask[c] = rank[c] < keep;
    if (status == RLKD_OK)
        status = set_keep(net, st, g, mask);
    free(rank);
    free(mask);
    return status;
}

rlkd_status rlkd_net_prune_clear(rlkd_net *net)
{
    static const char op[] = "rlkd_net_prune_clear";
    rlkd_prune_state *st;
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    for (int g = 0; g < st->group_count; g++) {
        st->groups[g].kept = st->groups[g].channels;
        memset(st->groups[g].keep, 1, (size_t)st->groups[g].channels);
    }
    return refresh_masks(net, st);
}

/* Entries of a per-group array (group_count, never negative; at least 1,
 * so that no allocation asks for 0 bytes). */
static size_t group_slots(const rlkd_prune_state *st)
{
    return st->group_count > 0 ? (size_t)st->group_count : 1;
}

/* The ranks of every prunable group's channels, one block: ranks[g] points
 * into it (NULL for the others). */
typedef struct group_ranks {
    int **of;
    int *block;
} group_ranks;

static void group_ranks_free(group_ranks *r)
{
    free(r->of);
    free(r->block);
}

static rlkd_status rank_prunable(rlkd_net *net, rlkd_prune_state *st,
                                 rlkd_prune_criterion criterion,
                                 group_ranks *r, const char *op)
{
    size_t total = 0;
    for (int g = 0; g < st->group_count; g++)
        total += st->groups[g].prunable ? (size_t)st->groups[g].channels : 0;
    r->of = calloc(group_slots(st), sizeof *r->of);
    r->block = malloc((total ? total : 1) * sizeof *r->block);
    if (!r->of || !r->block)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    int *next = r->block;
    for (int g = 0; g < st->group_count; g++) {
        if (!st->groups[g].prunable)
            continue;
        r->of[g] = next;
        next += st->groups[g].channels;
        RLKD_TRY(rank_channels(net, st, g, criterion, r->of[g], op));
    }
    return RLKD_OK;
}

/* Every prunable group keeps `fraction` of its channels by their ranks
 * (the layer masks are not refreshed); returns the masked MACs. */
static int64_t apply_fraction(rlkd_net *net, rlkd_prune_state *st,
                              const group_ranks *r, double fraction)
{
    for (int g = 0; g < st->group_count; g++) {
        prune_group *group = &st->groups[g];
        if (!r->of[g])
            continue;
        group->kept = fraction_kept(fraction, group->channels);
        for (int c = 0; c < group->channels; c++)
            group->keep[c] = r->of[g][c] < group->kept;
    }
    int64_t macs = 0;
    rlkd_net_cost(net, NULL, &macs);
    return macs;
}

static rlkd_status check_fraction(const char *op, const char *name,
                                  double fraction)
{
    if (!(fraction > 0.0 && fraction <= 1.0))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s must be in (0,1], got %g", op, name,
                         fraction);
    return RLKD_OK;
}

/* The masks of every group, saved to put back after a failure. */
static uint8_t *save_masks(const rlkd_prune_state *st)
{
    size_t total = 0;
    for (int g = 0; g < st->group_count; g++)
        total += (size_t)st->groups[g].channels;
    uint8_t *saved = malloc(total ? total : 1);
    if (!saved)
        return NULL;
    uint8_t *at = saved;
    for (int g = 0; g < st->group_count; g++) {
        memcpy(at, st->groups[g].keep, (size_t)st->groups[g].channels);
        at += st->groups[g].channels;
    }
    return saved;
}

static void restore_masks(rlkd_prune_state *st, const uint8_t *saved)
{
    for (int g = 0; g < st->group_count; g++) {
        prune_group *group = &st->groups[g];
        memcpy(group->keep, saved, (size_t)group->channels);
        saved += group->channels;
        group->kept = 0;
        for (int c = 0; c < group->channels; c++)
            group->kept += group->keep[c];
    }
}

/* Bisection over the kept fraction for the largest within the budget. */
static rlkd_status search_fraction(rlkd_net *net, rlkd_prune_state *st,
                                   const group_ranks *r, double macs_fraction,
                                   double *found, const char *op)
{
    const int64_t full = apply_fraction(net, st, r, 1.0);
    const double budget = macs_fraction * (double)full;
    const int64_t least = apply_fraction(net, st, r, 0.0);
    if ((double)least > budget)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %g of the MACs cannot be reached: one channel "
                         "per prunable group still costs %.4f of them", op,
                         macs_fraction, (double)least / (double)full);
    double lo = 0.0, hi = 1.0;
    if ((double)full <= budget)
        lo = 1.0;
    /* Channel counts are integers: 40 halvings resolve every fraction. */
    for (int i = 0; i < 40 && lo < 1.0; i++) {
        const double mid = 0.5 * (lo + hi);
        if ((double)apply_fraction(net, st, r, mid) <= budget)
            lo = mid;
        else
            hi = mid;
    }
    apply_fraction(net, st, r, lo);
    *found = lo;
    return RLKD_OK;
}

rlkd_status rlkd_net_prune_uniform(rlkd_net *net, double macs_fraction,
                                   rlkd_prune_criterion criterion,
                                   double *kept_fraction)
{
    static const char op[] = "rlkd_net_prune_uniform";
    rlkd_prune_state *st;
    RLKD_TRY(check_fraction(op, "macs_fraction", macs_fraction));
    RLKD_TRY(check_criterion(op, criterion));
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    group_ranks r = {0};
    uint8_t *saved = save_masks(st);
    rlkd_status status =
        saved ? rank_prunable(net, st, criterion, &r, op)
              : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    double fraction = 1.0;
    if (status == RLKD_OK)
        status = search_fraction(net, st, &r, macs_fraction, &fraction, op);
    if (status == RLKD_OK)
        status = refresh_masks(net, st);
    if (status != RLKD_OK && saved) {
        restore_masks(st, saved);
        refresh_masks(net, st);
    }
    if (status == RLKD_OK && kept_fraction)
        *kept_fraction = fraction;
    group_ranks_free(&r);
    free(saved);
    return status;
}

/* Sets to zero the rows r of t (rows of t->numel / rows values each) that
 * removed[r] flags. */
static rlkd_status zero_rows(rlkd_tensor *t, int rows, const uint8_t *removed)
{
    const int64_t per_row = t->numel / rows;
    float *host;
    RLKD_TRY(host_copy(t, &host));
    for (int r = 0; r < rows; r++)
        if (removed[r])
            memset(host + r * per_row, 0, (size_t)per_row * sizeof *host);
    rlkd_status status = rlkd_tensor_write(t, host, (size_t)t->numel);
    free(host);
    return status;
}

/* Zeroes, for layer `layer` (a producing convolution or a batch norm), the
 * parameters of every output channel that its group's ranks put out (rank
 * >= the group's kept count): a convolution's filters and biases, a batch
 * norm's scale and shift. Then the soft-pruned network computes what the
 * masked one would. */
static rlkd_status zero_ranked_out(rlkd_net *net, const rlkd_prune_state *st,
                                   int layer, const group_ranks *r)
{
    const rlkd_layer *l = &net->layers[layer];
    const node_channels *n = &st->nodes[layer + 1];
    uint8_t *removed = malloc((size_t)l->out_c);
    if (!removed)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_net_prune_soft: out of host memory");
    int any = 0;
    for (int k = 0; k < n->count; k++) {
        const segment *seg = &n->segments[k];
        const int *rank = r->of[seg->group];
        const int kept = st->groups[seg->group].kept;
        for (int c = 0; c < seg->count; c++) {
            removed[seg->start + c] = rank && rank[seg->offset + c] >= kept;
            any |= removed[seg->start + c];
        }
    }
    /* a batch norm's scale and shift; a convolution's weight and bias */
    const int tensors = l->spec.kind == RLKD_LAYER_BATCHNORM2D ? 2
                                                               : l->param_count;
    rlkd_status status = RLKD_OK;
    for (int k = 0; any && status == RLKD_OK && k < tensors; k++)
        status = zero_rows(net->params[l->param_first + k].value, l->out_c,
                           removed);
    free(removed);
    return status;
}

rlkd_status rlkd_net_prune_soft(rlkd_net *net, double keep_fraction,
                                rlkd_prune_criterion criterion)
{
    static const char op[] = "rlkd_net_prune_soft";
    rlkd_prune_state *st;
    RLKD_TRY(check_fraction(op, "keep_fraction", keep_fraction));
    RLKD_TRY(check_criterion(op, criterion));
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    group_ranks r = {0};
    rlkd_status status = rank_prunable(net, st, criterion, &r, op);
    /* The kept counts, for zero_norms; the masks stay as they are. */
    int *kept = malloc(group_slots(st) * sizeof *kept);
    if (status == RLKD_OK && !kept)
        status = rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    for (int g = 0; status == RLKD_OK && g < st->group_count; g++) {
        kept[g] = st->groups[g].kept;
        if (r.of[g])
            st->groups[g].kept =
                fraction_kept(keep_fraction, st->groups[g].channels);
    }
    for (int i = 0; status == RLKD_OK && i < net->layer_count; i++) {
        const rlkd_layer *l = &net->layers[i];
        const int g = st->nodes[i + 1].segments[0].group;
        if ((l->spec.kind == RLKD_LAYER_CONV2D && l->spec.groups == 1 &&
             r.of[g]) ||
            l->spec.kind == RLKD_LAYER_BATCHNORM2D)
            status = zero_ranked_out(net, st, i, &r);
    }
    for (int g = 0; kept && g < st->group_count; g++)
        st->groups[g].kept = kept[g];
    free(kept);
    group_ranks_free(&r);
    return status;
}

/* ---- masks in checkpoints ---- */

rlkd_status rlkd_prune_masks_json(const rlkd_net *net, char **out)
{
    *out = NULL;
    const rlkd_prune_state *st = net->prune;
    int masked = 0;
    for (int g = 0; st && g < st->group_count; g++)
        masked |= st->groups[g].kept < st->groups[g].channels;
    if (!masked)
        return RLKD_OK;
    cJSON *json = cJSON_CreateObject();
    int ok = json != NULL;
    for (int g = 0; ok && g < st->group_count; g++) {
        const prune_group *group = &st->groups[g];
        if (group->kept == group->channels)
            continue;
        char *bits = malloc((size_t)group->channels + 1);
        ok = bits != NULL;
        for (int c = 0; ok && c < group->channels; c++)
            bits[c] = group->keep[c] ? '1' : '0';
        if (ok) {
            bits[group->channels] = '\0';
            ok = cJSON_AddStringToObject(
                     json, net->layers[group->first_producer].name, bits) !=
                 NULL;
        }
        free(bits);
    }
    char *text = ok ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "out of host memory writing the pruning masks");
    *out = text;
    return RLKD_OK;
}

/* The group whose first producer is layer `name`, or -1. */
static int group_by_name(const rlkd_net *net, const rlkd_prune_state *st,
                         const char *name)
{
    for (int g = 0; g < st->group_count; g++)
        if (st->groups[g].first_producer >= 0 &&
            strcmp(net->layers[st->groups[g].first_producer].name, name) == 0)
            return g;
    return -1;
}

/* Checks the masks of a checkpoint against net, and with `apply` sets them
 * (every other group keeping all its channels). Checking first and applying
 * after the tensors are in keeps a failed load from changing anything. */
static rlkd_status masks_from_json(rlkd_net *net, const char *text, int apply)
{
    static const char op[] = "pruning masks";
    rlkd_prune_state *st;
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    cJSON *json = cJSON_Parse(text);
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return rlkd_fail(RLKD_ERR_FORMAT, "the pruning masks are not a JSON "
                         "object of group names");
    }
    rlkd_status status = RLKD_OK;
    for (const cJSON *item = json->child; item && status == RLKD_OK;
         item = item->next) {
        const int g = group_by_name(net, st, item->string);
        const char *bits = cJSON_GetStringValue(item);
        const prune_group *group = g >= 0 ? &st->groups[g] : NULL;
        int kept = 0, valid = bits != NULL;
        for (int c = 0; valid && bits[c]; c++) {
            valid = bits[c] == '0' || bits[c] == '1';
            kept += bits[c] == '1';
        }
        if (!group)
            status = rlkd_fail(RLKD_ERR_FORMAT, "the pruning masks name a "
                               "group \"%s\" the network does not have",
                               item->string);
        else if (group->refusal)
            status = rlkd_fail(RLKD_ERR_FORMAT, "the pruning masks prune "
                               "group \"%s\", which cannot be pruned: %s",
                               item->string, group->refusal);
        else if (!valid || (int)strlen(bits) != group->channels || kept == 0)
            status = rlkd_fail(RLKD_ERR_FORMAT, "the pruning mask of group "
                               "\"%s\" must be %d characters of 0 and 1 "
                               "with at least one 1", item->string,
                               group->channels);
    }
    if (status == RLKD_OK && apply) {
        for (int g = 0; g < st->group_count; g++) {
            st->groups[g].kept = st->groups[g].channels;
            memset(st->groups[g].keep, 1, (size_t)st->groups[g].channels);
        }
        for (const cJSON *item = json->child; item; item = item->next) {
            prune_group *group = &st->groups[group_by_name(net, st,
                                                           item->string)];
            const char *bits = cJSON_GetStringValue(item);
            group->prunable = 1;
            group->kept = 0;
            for (int c = 0; c < group->channels; c++) {
                group->keep[c] = bits[c] == '1';
                group->kept += group->keep[c];
            }
        }
        status = refresh_masks(net, st);
    }
    cJSON_Delete(json);
    return status;
}

rlkd_status rlkd_prune_masks_check(rlkd_net *net, const char *json)
{
    return json ? masks_from_json(net, json, 0) : RLKD_OK;
}

rlkd_status rlkd_prune_masks_apply(rlkd_net *net, const char *json)
{
    if (json)
        return masks_from_json(net, json, 1);
    return net->prune ? rlkd_net_prune_clear(net) : RLKD_OK;
}

/* ---- network slimming ---- */

rlkd_status rlkd_prune_add_bn_l1(rlkd_net *net, float strength)
{
    for (int i = 0; i < net->layer_count; i++) {
        const rlkd_layer *l = &net->layers[i];
        if (l->spec.kind != RLKD_LAYER_BATCHNORM2D)
            continue;
        const rlkd_named_tensor *gamma = &net->params[l->param_first];
        const size_t n = (size_t)gamma->value->numel;
        float *value, *grad = NULL;
        RLKD_TRY(host_copy(gamma->value, &value));
        rlkd_status status = host_copy(gamma->grad, &grad);
        for (size_t c = 0; status == RLKD_OK && c < n; c++)
            grad[c] += value[c] > 0.0f ? strength
                       : value[c] < 0.0f ? -strength
                                         : 0.0f;
        if (status == RLKD_OK)
            status = rlkd_tensor_write(gamma->grad, grad, n);
        free(value);
        free(grad);
        RLKD_TRY(status);
    }
    return RLKD_OK;
}

/* Every prunable group keeps the channels whose score exceeds t, and at
 * least its best one; returns the masked MACs. */
static int64_t apply_threshold(rlkd_net *net, rlkd_prune_state *st,
                               double *const *scores, const group_ranks *r,
                               double t)
{
    for (int g = 0; g < st->group_count; g++) {
        prune_group *group = &st->groups[g];
        if (!r->of[g])
            continue;
        group->kept = 0;
        for (int c = 0; c < group->channels; c++) {
            group->keep[c] = scores[g][c] > t || r->of[g][c] == 0;
            group->kept += group->keep[c];
        }
    }
    int64_t macs = 0;
    rlkd_net_cost(net, NULL, &macs);
    return macs;
}

rlkd_status rlkd_net_prune_slimming(rlkd_net *net, double macs_fraction,
                                    double *threshold)
{
    static const char op[] = "rlkd_net_prune_slimming";
    rlkd_prune_state *st;
    RLKD_TRY(check_fraction(op, "macs_fraction", macs_fraction));
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    group_ranks r = {0};
    uint8_t *saved = save_masks(st);
    double **scores = calloc(group_slots(st), sizeof *scores);
    rlkd_status status =
        saved && scores
            ? rank_prunable(net, st, RLKD_PRUNE_BN_SCALE, &r, op)
            : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    double highest = 0.0;
    for (int g = 0; status == RLKD_OK && g < st->group_count; g++) {
        if (!r.of[g])
            continue;
        scores[g] = malloc((size_t)st->groups[g].channels * sizeof **scores);
        status = scores[g] ? group_scores(net, st, g, RLKD_PRUNE_BN_SCALE,
                                          scores[g], op)
                           : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                       "%s: out of memory", op);
        for (int c = 0; status == RLKD_OK && c < st->groups[g].channels; c++)
            highest = scores[g][c] > highest ? scores[g][c] : highest;
    }
    double found = -1.0;
    if (status == RLKD_OK) {
        const double full = (double)apply_threshold(net, st, scores, &r, -1.0);
        const double budget = macs_fraction * full;
        const double least =
            (double)apply_threshold(net, st, scores, &r, highest);
        if (least > budget) {
            status = rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                               "%s: %g of the MACs cannot be reached: one "
                               "channel per prunable group still costs %.4f "
                               "of them", op, macs_fraction, least / full);
        } else {
            /* The smallest threshold within the budget, by bisection. */
            double lo = -1.0, hi = highest;
            if (full <= budget)
                hi = -1.0;
            for (int i = 0; i < 60 && hi > lo; i++) {
                const double mid = 0.5 * (lo + hi);
                if ((double)apply_threshold(net, st, scores, &r, mid) <=
                    budget)
                    hi = mid;
                else
                    lo = mid;
            }
            apply_threshold(net, st, scores, &r, hi);
            found = hi;
            status = refresh_masks(net, st);
        }
    }
    if (status != RLKD_OK && saved) {
        restore_masks(st, saved);
        refresh_masks(net, st);
    }
    if (status == RLKD_OK && threshold)
        *threshold = found;
    for (int g = 0; scores && g < st->group_count; g++)
        free(scores[g]);
    free(scores);
    group_ranks_free(&r);
    free(saved);
    return status;
}
