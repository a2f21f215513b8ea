/*
 * Private view of a network for the files of lib/nets: the layer records
 * (what the builder was asked for), the named tensors, and the activations.
 * Everything here is reached through the public L1 ops only.
 */
#ifndef RLKD_NET_INTERNAL_H
#define RLKD_NET_INTERNAL_H

#include "../core/internal.h"

/* Checkpoint tensors under this prefix are a trainer's optimiser state:
 * network loaders skip them and the builder refuses layer names that start
 * with it. */
#define RLKD_OPTIMIZER_STATE_PREFIX "optimizer_state."

typedef enum rlkd_layer_kind {
    RLKD_LAYER_CONV2D,
    RLKD_LAYER_BATCHNORM2D,
    RLKD_LAYER_RELU,
    RLKD_LAYER_MAXPOOL2D,
    RLKD_LAYER_AVGPOOL2D,
    RLKD_LAYER_GLOBAL_AVGPOOL,
    RLKD_LAYER_LINEAR,
    RLKD_LAYER_DROPOUT,
    RLKD_LAYER_ADD,
    RLKD_LAYER_CONCAT,
    RLKD_LAYER_SE,
    RLKD_LAYER_ECA,
    RLKD_LAYER_CBAM,
    RLKD_LAYER_KIND_COUNT
} rlkd_layer_kind;

/* The settings a builder call took; fields a kind does not use stay 0. */
typedef struct rlkd_layer_spec {
    rlkd_layer_kind kind;
    int out_channels;      /* conv2d; linear: out_features */
    int kernel, stride, padding, dilation, groups;
    int bias;              /* conv2d, linear */
    int count_include_pad; /* avgpool2d */
    int reduction;         /* se, cbam */
    int hidden;            /* se, cbam: the MLP's width; 0: from reduction
                              (a compacted network keeps its original) */
    float eps, momentum;   /* batchnorm2d */
    float p;               /* dropout */
} rlkd_layer_spec;

/* A named parameter (grad set) or buffer (grad NULL). */
typedef struct rlkd_named_tensor {
    char *name;
    rlkd_tensor *value;
    rlkd_tensor *grad;
} rlkd_named_tensor;

typedef struct rlkd_layer {
    rlkd_layer_spec spec;
    char *name;
    int *inputs;
    int input_count;
    int out_c, out_h, out_w;
    int flat;              /* the node is 2-D [N, C] (linear output) */
    /* this layer's parameters and buffers: ranges in the network's lists */
    int param_first, param_count;
    int buffer_first, buffer_count;
    int64_t params, macs;
    /* forward state kept for backward */
    rlkd_tensor *save_mean, *save_invstd, *dropout_mask;
} rlkd_layer;

/* Told, during the backward pass, of each layer whose parameters'
 * gradients are then final: every layer once, last to first. A
 * data-parallel trainer starts summing them while the pass goes on. */
typedef struct rlkd_layer_done_hook {
    rlkd_status (*fn)(void *user, const rlkd_net *net, int layer);
    void *user;
} rlkd_layer_done_hook;

struct rlkd_net {
    rlkd_context *ctx;
    int in_c, in_h, in_w;
    rlkd_layer *layers; /* layer i makes node i + 1 */
    int layer_count, layer_capacity;
    rlkd_named_tensor *params;
    int param_count, param_capacity;
    rlkd_named_tensor *buffers;
    int buffer_count, buffer_capacity;
    /* activations for the current batch size: node i's output and grad */
    int64_t batch;
    rlkd_tensor **values, **grads;
    /* scratch_views[i] views one shared buffer with node i's shape: where a
     * node read by several layers collects its gradient contributions */
    rlkd_tensor *scratch, **scratch_views;
    int *grad_ready;       /* backward: grads[i] holds a contribution */
    int trained;           /* the last forward was in training mode */
    /* Synchronised batch norm: training statistics summed over the ranks
     * by this hook (a data-parallel trainer's), or NULL: this batch's. */
    const rlkd_sum_hook *bn_sync;
    /* Rows of the whole batch before this process's (a data-parallel
     * rank's first row; 0 otherwise): dropout draws what one process
     * would for these rows. */
    int64_t batch_first_row;
    const rlkd_layer_done_hook *layer_done; /* or NULL */
    struct rlkd_prune_state *prune; /* channel groups and masks, or NULL */
    /* The most tensor values the builder may make (INT64_MAX but while
     * rlkd_net_load builds a network from a file: what the file's data
     * can hold, so that a header cannot make it allocate more than the
     * file could fill), and the values made so far. */
    int64_t value_limit, values_made;
};

/* The kind's name as used in costs and saved architectures ("conv2d"). */
const char *rlkd_layer_kind_name(rlkd_layer_kind kind);
/* The kind with that name; RLKD_LAYER_KIND_COUNT if none. */
rlkd_layer_kind rlkd_layer_kind_from_name(const char *name);

/* Appends a layer from its record: what every rlkd_net_add_* call does, and
 * what rlkd_net_load does with a saved architecture. randomise == 0 skips
 * the random initial weights (they stay zero) when a file will fill them:
 * faster, and it leaves the context's random stream where it was. */
rlkd_status rlkd_net_append(rlkd_net *net, int *node, const char *name,
                            const int *inputs, int input_count,
                            const rlkd_layer_spec *spec, int randomise);

/* Node `node`'s output shape [C, H, W] (node 0 is the input). */
void rlkd_net_node_dims(const rlkd_net *net, int node, int *c, int *h, int *w);

/* Frees the activations and gradients sized for the last batch (net_run.c);
 * the next forward makes them again. */
void rlkd_net_release_activations(rlkd_net *net);

/* Argument checks the network calls share (net.c). */
rlkd_status rlkd_net_check(const rlkd_net *net, const char *op);
rlkd_status rlkd_net_check_out(const void *out, const char *op,
                               const char *name);
rlkd_status rlkd_net_check_index(const char *op, const char *what, int index,
                                 int count);

/* ---- pruning state (prune.c) ---- */

/* Frees the channel groups and masks (NULL is fine): the network's
 * destructor, and rlkd_net_append, since a new layer changes the groups. */
void rlkd_prune_state_free(struct rlkd_prune_state *state);
/* The mask [C] that layer `layer`'s output gets (a convolution or batch
 * norm carrying masked-off channels), or NULL. */
const rlkd_tensor *rlkd_prune_output_mask(const rlkd_net *net, int layer);
/* The channels of node `node` that the masks keep, in order, into
 * index[] (room for the node's channel count); returns how many. */
int rlkd_prune_kept_index(const rlkd_net *net, int node, int *index);
/* The derived pruning state of net, made on first use (prune.c). */
rlkd_status rlkd_prune_state_of(rlkd_net *net, const char *op,
                                struct rlkd_prune_state **out);
/* Checkpoints carry the masks as metadata: a JSON object of group names
 * (their first producing layer) and strings of 0 and 1. *out is that text
 * (cJSON_free it), or NULL when no mask removes anything. */
rlkd_status rlkd_prune_masks_json(const rlkd_net *net, char **out);
/* Checks a checkpoint's masks (json may be NULL: none) against net:
 * RLKD_ERR_FORMAT if they name a group it does not have, a group that
 * cannot be pruned, or do not fit; nothing changes. */
rlkd_status rlkd_prune_masks_check(rlkd_net *net, const char *json);
/* Sets them after a load (NULL: every channel kept again). */
rlkd_status rlkd_prune_masks_apply(rlkd_net *net, const char *json);
/* Adds strength * sign(gamma) to every batch norm's scale gradient: the
 * L1 penalty of network slimming (the trainer's bn_l1). */
rlkd_status rlkd_prune_add_bn_l1(rlkd_net *net, float strength);
/* Layer `layer`'s parameters and MACs per image counting only the channels
 * the masks keep (its plain counts without masks). */
void rlkd_prune_layer_cost(const rlkd_net *net, int layer, int64_t *params,
                           int64_t *macs);
/* The network's MACs per image (rlkd_net_cost's count) when each group g
 * keeps kept[g] channels (by group index), whatever the masks say: exact
 * whenever every node carries whole groups, as convolutions, adds and
 * concatenations make them. Needs the derived state (net->prune). */
int64_t rlkd_prune_macs_for_counts(const rlkd_net *net, const int *kept);

#endif
