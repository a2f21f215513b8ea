/*
 * The built-in environment of a search: an rlkd_net's prunable channel
 * groups are the layers, the network's masked MACs the cost, and the score
 * is the top-1 accuracy on a validation loader of the masked network
 * (AMC), optionally after recalibrating the batch-norm statistics to the
 * masked network and blended with agreement with a teacher (rlkd).
 *
 * Over a communicator the validation batches are shared out whole (batch
 * b on rank b mod W: each batch runs exactly as one process runs it) and
 * the hit counts are summed, so every rank gets one process's score. The
 * recalibration runs on every rank, the same batches everywhere.
 */
#include "search_internal.h"
#include "../comm/comm_internal.h"
#include "../nets/net_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct net_env {
    rlkd_net *net, *teacher;
    rlkd_loader *validation, *recalibration;
    rlkd_net_env_options options;
    int layer_count;
    int *group_of_layer;    /* [layer_count]: the search layer's group */
    int group_count;
    int *kept;              /* [group_count]: scratch for costs */
    int *channels;          /* [group_count] */
    int32_t *teacher_class; /* the teacher's top-1 per scored image, or NULL */
    int64_t images;         /* images scored per episode */
    int64_t batch;          /* the validation loader's batch size */
    int classes;
    rlkd_comm *comm;        /* NULL: one process scores every batch */
    float *logits;          /* one batch of host logits */
    int32_t *labels;
} net_env;

void rlkd_net_env_options_init(rlkd_net_env_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->criterion = RLKD_PRUNE_L1;
    options->recalibrate_batches = 0;
    options->teacher_weight = 0.0;
    options->max_images = 0;
}

static void env_destroy(void *state)
{
    net_env *env = state;
    if (!env)
        return;
    free(env->group_of_layer);
    free(env->kept);
    free(env->channels);
    free(env->teacher_class);
    free(env->logits);
    free(env->labels);
    free(env);
}

static rlkd_status env_cost(void *state, const int *keep, int count,
                            int64_t *macs)
{
    net_env *env = state;
    memcpy(env->kept, env->channels, (size_t)env->group_count * sizeof *env->kept);
    for (int i = 0; i < count; i++)
        env->kept[env->group_of_layer[i]] = keep[i];
    *macs = rlkd_prune_macs_for_counts(env->net, env->kept);
    return RLKD_OK;
}

static rlkd_status env_apply(void *state, const int *keep)
{
    net_env *env = state;
    RLKD_TRY(rlkd_net_prune_clear(env->net));
    for (int i = 0; i < env->layer_count; i++)
        RLKD_TRY(rlkd_net_prune_keep(env->net, env->group_of_layer[i], keep[i],
                                     env->options.criterion));
    return RLKD_OK;
}

/* Top-1 class of each row of logits [n, classes] (ties: the lower class). */
static void top1_classes(const float *logits, int64_t n, int classes,
                         int32_t *out)
{
    for (int64_t r = 0; r < n; r++) {
        const float *row = logits + r * classes;
        int best = 0;
        for (int k = 1; k < classes; k++)
            best = row[k] > row[best] ? k : best;
        out[r] = best;
    }
}

/* Runs `net` in inference over the scored images of validation's epoch 0
 * (this rank's batches of them over comm, all without); per batch,
 * visit(env, first image, n, top-1 classes, labels). */
typedef void (*batch_visit)(net_env *env, int64_t first, int64_t n,
                            const int32_t *classes, const int32_t *labels,
                            void *user);

static rlkd_status score_batches(net_env *env, rlkd_net *net, rlkd_comm *comm,
                                 batch_visit visit, void *user)
{
    const int rank = comm ? comm->rank : 0;
    const int ranks = comm ? comm->world_size : 1;
    int32_t *classes = NULL;
    rlkd_status status = RLKD_OK;
    /* env->images is whole batches: the last one may be short, or end the
     * epoch early. */
    for (int64_t b = rank; status == RLKD_OK && b * env->batch < env->images;
         b += ranks) {
        const int64_t seen = b * env->batch;
        rlkd_tensor *images, *labels, *logits;
        /* One process reads on; a rank jumps over the others' batches
         * rather than making them. */
        if (b == rank || ranks > 1)
            status = rlkd_loader_start_epoch(env->validation, 0, b);
        if (status == RLKD_OK)
            status = rlkd_loader_next(env->validation, &images, &labels);
        if (status != RLKD_OK || !images)
            break;
        status = rlkd_net_forward(net, images, 0, &logits);
        const int64_t n = rlkd_tensor_dim(labels, 0);
        if (status == RLKD_OK && (rlkd_tensor_ndim(logits) != 2 ||
                                  rlkd_tensor_dim(logits, 1) != env->classes))
            status = rlkd_fail(RLKD_ERR_SHAPE,
                               "rlkd_search: a network's output is not class "
                               "scores [N, %d]", env->classes);
        if (status == RLKD_OK && !classes &&
            !(classes = malloc((size_t)n * sizeof *classes)))
            status = rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                               "rlkd_search: out of host memory");
        if (status == RLKD_OK)
            status = rlkd_tensor_read(logits, env->logits,
                                      (size_t)(n * env->classes));
        if (status == RLKD_OK)
            status = rlkd_tensor_read_i32(labels, env->labels, (size_t)n);
        if (status == RLKD_OK) {
            top1_classes(env->logits, n, env->classes, classes);
            visit(env, seen, n, classes, env->labels, user);
        }
    }
    free(classes);
    return status;
}

static void remember_teacher(net_env *env, int64_t first, int64_t n,
                             const int32_t *classes, const int32_t *labels,
                             void *user)
{
    (void)labels;
    (void)user;
    memcpy(env->teacher_class + first, classes, (size_t)n * sizeof *classes);
}

typedef struct hits {
    int64_t correct, agree, images;
} hits;

static void count_hits(net_env *env, int64_t first, int64_t n,
                       const int32_t *classes, const int32_t *labels,
                       void *user)
{
    hits *h = user;
    for (int64_t i = 0; i < n; i++) {
        h->correct += classes[i] == labels[i];
        if (env->teacher_class)
            h->agree += classes[i] == env->teacher_class[first + i];
    }
    h->images += n;
}

/* A batch norm's running statistics, batch count and momentum, set aside.
 * The count too: otherwise the network a search leaves behind would
 * depend on how many episodes ran in this process, and a resumed search
 * would not end as an uninterrupted one. */
typedef struct saved_bn {
    int layer;
    float momentum;
    float *mean, *var;
    int32_t tracked;
    rlkd_tensor *mean_t, *var_t, *tracked_t;
    int64_t channels;
} saved_bn;

static void free_saved(saved_bn *saved, int count)
{
    for (int i = 0; saved && i < count; i++) {
        free(saved[i].mean);
        free(saved[i].var);
    }
    free(saved);
}

/* Puts every saved batch norm back as it was. */
static void restore_bn(net_env *env, saved_bn *saved, int count)
{
    for (int i = 0; i < count; i++) {
        saved_bn *b = &saved[i];
        env->net->layers[b->layer].spec.momentum = b->momentum;
        if (b->mean)
            rlkd_tensor_write(b->mean_t, b->mean, (size_t)b->channels);
        if (b->var)
            rlkd_tensor_write(b->var_t, b->var, (size_t)b->channels);
        if (b->tracked_t)
            rlkd_tensor_write_i32(b->tracked_t, &b->tracked, 1);
    }
}

static rlkd_status save_bn(net_env *env, saved_bn **out, int *count)
{
    rlkd_net *net = env->net;
    int n = 0;
    for (int i = 0; i < net->layer_count; i++)
        n += net->layers[i].spec.kind == RLKD_LAYER_BATCHNORM2D;
    saved_bn *saved = calloc((size_t)(n ? n : 1), sizeof *saved);
    if (!saved)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_search: out of host memory");
    int k = 0;
    rlkd_status status = RLKD_OK;
    for (int i = 0; i < net->layer_count && status == RLKD_OK; i++) {
        const rlkd_layer *l = &net->layers[i];
        if (l->spec.kind != RLKD_LAYER_BATCHNORM2D)
            continue;
        saved_bn *b = &saved[k++];
        b->layer = i;
        b->momentum = l->spec.momentum;
        b->channels = l->out_c;
        /* buffers: running_mean, running_var, num_batches_tracked */
        b->mean_t = net->buffers[l->buffer_first].value;
        b->var_t = net->buffers[l->buffer_first + 1].value;
        b->tracked_t = net->buffers[l->buffer_first + 2].value;
        b->mean = malloc((size_t)b->channels * sizeof *b->mean);
        b->var = malloc((size_t)b->channels * sizeof *b->var);
        if (!b->mean || !b->var)
            status = rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                               "rlkd_search: out of host memory");
        if (status == RLKD_OK)
            status = rlkd_tensor_read(b->mean_t, b->mean, (size_t)b->channels);
        if (status == RLKD_OK)
            status = rlkd_tensor_read(b->var_t, b->var, (size_t)b->channels);
        if (status == RLKD_OK)
            status = rlkd_tensor_read_i32(b->tracked_t, &b->tracked, 1);
    }
    if (status != RLKD_OK) {
        free_saved(saved, k);
        return status;
    }
    *out = saved;
    *count = k;
    return RLKD_OK;
}

/* Batch-norm statistics of the masked network as a cumulative average over
 * the recalibration batches (PyTorch's momentum=None): batch k (0-based)
 * enters with momentum 1 / (k + 1), so the first replaces the old ones. */
static rlkd_status recalibrate(net_env *env, saved_bn *saved, int count)
{
    rlkd_loader *loader = env->recalibration;
    RLKD_TRY(rlkd_loader_start_epoch(loader, 0, 0));
    /* Every rank recalibrates on the same batches: a data-parallel
     * trainer's synchronised batch norm has nothing to add. */
    const rlkd_sum_hook *sync = env->net->bn_sync;
    env->net->bn_sync = NULL;
    rlkd_status status = RLKD_OK;
    for (int k = 0; status == RLKD_OK && k < env->options.recalibrate_batches;
         k++) {
        rlkd_tensor *images, *labels;
        status = rlkd_loader_next(loader, &images, &labels);
        if (status != RLKD_OK || !images)
            break;
        for (int i = 0; i < count; i++)
            env->net->layers[saved[i].layer].spec.momentum =
                1.0f / (float)(k + 1);
        status = rlkd_net_forward(env->net, images, 1, NULL);
    }
    env->net->bn_sync = sync;
    return status;
}

static rlkd_status env_set_comm(void *state, rlkd_comm *comm)
{
    net_env *env = state;
    env->comm = comm;
    return RLKD_OK;
}

static rlkd_status env_score(void *state, const int *keep,
                             const double *ratios, int count, double *score,
                             double *accuracy)
{
    (void)ratios;
    (void)count;
    net_env *env = state;
    rlkd_context *ctx = env->net->ctx;
    /* Recalibration's training forward must not move the context's random
     * stream: a search leaves the network's training as it found it. */
    const uint64_t rng_calls = ctx->rng_calls;
    saved_bn *saved = NULL;
    int saved_count = 0;
    rlkd_status status = env_apply(env, keep);
    if (status == RLKD_OK && env->options.recalibrate_batches > 0) {
        status = save_bn(env, &saved, &saved_count);
        if (status == RLKD_OK)
            status = recalibrate(env, saved, saved_count);
    }
    hits h = {0, 0, 0};
    if (status == RLKD_OK)
        status = score_batches(env, env->net, env->comm, count_hits, &h);
    /* Counts, summed: exactly one process's, on every rank. */
    int64_t counts[3] = {h.correct, h.agree, h.images};
    if (status == RLKD_OK && env->comm)
        status = rlkd_comm_host_all_reduce(env->comm, "rlkd_search_run",
                                           counts, 3, RLKD_COMM_I64,
                                           RLKD_REDUCE_SUM);
    h = (hits){counts[0], counts[1], counts[2]};
    restore_bn(env, saved, saved_count);
    free_saved(saved, saved_count);
    ctx->rng_calls = rng_calls;
    const rlkd_status cleared = rlkd_net_prune_clear(env->net);
    RLKD_TRY(status);
    RLKD_TRY(cleared);
    if (h.images == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_search: the validation loader gave no images");
    const double top1 = (double)h.correct / (double)h.images;
    const double w = env->options.teacher_weight;
    *accuracy = top1;
    *score = env->teacher_class
                 ? (1.0 - w) * top1 + w * (double)h.agree / (double)h.images
                 : top1;
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */
/* ------------------------------------------------------------------------ */

static rlkd_status check_env_options(const char *op,
                                     const rlkd_net_env_options *o,
                                     const rlkd_net *teacher)
{
    if (o->struct_size < sizeof *o)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: env: struct_size is not "
                         "sizeof(rlkd_net_env_options) (call "
                         "rlkd_net_env_options_init)", op);
    if ((int)o->criterion < 0 || o->criterion > RLKD_PRUNE_BN_SCALE)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: env: unknown criterion %d", op,
                         (int)o->criterion);
    if (o->recalibrate_batches < 0 || o->max_images < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: env: recalibrate_batches and max_images must "
                         "be >= 0", op);
    if (!(o->teacher_weight >= 0.0 && o->teacher_weight <= 1.0))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: env: teacher_weight must be in [0, 1]", op);
    if (o->teacher_weight > 0.0 && !teacher)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: env: teacher_weight %g needs a teacher", op,
                         o->teacher_weight);
    return RLKD_OK;
}

/* The layer that makes a group's channels (its first producer), by name. */
static const rlkd_layer *producer_of(const rlkd_net *net, const char *name)
{
    for (int i = 0; name && i < net->layer_count; i++)
        if (net->layers[i].name && strcmp(net->layers[i].name, name) == 0)
            return &net->layers[i];
    return NULL;
}

/* The search layers (prunable groups, in index order) and the maps. */
static rlkd_status describe(net_env *env, rlkd_search_layer **out)
{
    rlkd_net *net = env->net;
    RLKD_TRY(rlkd_net_prune_group_count(net, &env->group_count));
    env->kept = calloc((size_t)env->group_count + 1, sizeof *env->kept);
    env->channels = calloc((size_t)env->group_count + 1, sizeof *env->channels);
    env->group_of_layer = calloc((size_t)env->group_count + 1,
                                 sizeof *env->group_of_layer);
    rlkd_search_layer *layers =
        calloc((size_t)env->group_count + 1, sizeof *layers);
    if (!env->kept || !env->channels || !env->group_of_layer || !layers) {
        free(layers);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_search_create_net: out of host memory");
    }
    for (int g = 0; g < env->group_count; g++) {
        rlkd_prune_group group;
        rlkd_prune_group_init(&group);
        rlkd_status status = rlkd_net_prune_group(net, g, &group);
        if (status != RLKD_OK) {
            free(layers);
            return status;
        }
        env->channels[g] = group.channels;
        if (!group.prunable)
            continue;
        rlkd_search_layer *l = &layers[env->layer_count];
        rlkd_search_layer_init(l);
        l->name = group.name;
        l->channels = group.channels;
        l->kind = group.producers > 1 ? 2 : 0;
        const rlkd_layer *p = producer_of(net, group.name);
        if (p) {
            int in_c, in_h, in_w;
            rlkd_net_node_dims(net, p->inputs[0], &in_c, &in_h, &in_w);
            l->in_channels = in_c;
            l->kernel = p->spec.kind == RLKD_LAYER_CONV2D ? p->spec.kernel : 1;
            l->stride = p->spec.kind == RLKD_LAYER_CONV2D ? p->spec.stride : 1;
            l->kind = p->spec.kind == RLKD_LAYER_LINEAR ? 1 : l->kind;
            l->params = p->params;
            l->macs = p->macs;
        }
        env->group_of_layer[env->layer_count++] = g;
    }
    if (env->layer_count == 0) {
        free(layers);
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_search_create_net: the network has no "
                         "prunable channel group");
    }
    *out = layers;
    return RLKD_OK;
}

/* The scored image count, the class count and the host batch buffers. */
static rlkd_status size_scoring(net_env *env)
{
    int64_t batches;
    RLKD_TRY(rlkd_loader_batch_count(env->validation, &batches));
    RLKD_TRY(rlkd_loader_start_epoch(env->validation, 0, 0));
    rlkd_tensor *images, *labels, *logits;
    RLKD_TRY(rlkd_loader_next(env->validation, &images, &labels));
    if (!images)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_search_create_net: the validation loader gives "
                         "no batch");
    const int64_t batch = rlkd_tensor_dim(labels, 0);
    RLKD_TRY(rlkd_net_forward(env->net, images, 0, &logits));
    if (rlkd_tensor_ndim(logits) != 2)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "rlkd_search_create_net: the network's output is "
                         "not class scores [N, K]");
    env->classes = (int)rlkd_tensor_dim(logits, 1);
    /* Whole batches: an upper bound of the images scored (the epoch's last
     * batch may be short). */
    env->images = batches * batch;
    env->batch = batch;
    const int64_t wanted = env->options.max_images;
    if (wanted > 0 && wanted < env->images)
        env->images = (wanted + batch - 1) / batch * batch;
    env->logits = malloc((size_t)(batch * env->classes) * sizeof *env->logits);
    env->labels = malloc((size_t)batch * sizeof *env->labels);
    if (!env->logits || !env->labels)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_search_create_net: out of host memory");
    return RLKD_OK;
}

static rlkd_status cache_teacher(net_env *env)
{
    env->teacher_class = malloc((size_t)(env->images + 1) *
                                sizeof *env->teacher_class);
    if (!env->teacher_class)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_search_create_net: out of host memory");
    return score_batches(env, env->teacher, NULL, remember_teacher, NULL);
}

rlkd_status rlkd_search_create_net(rlkd_net *net, rlkd_net *teacher,
                                   rlkd_loader *validation,
                                   rlkd_loader *recalibration,
                                   const rlkd_net_env_options *env_options,
                                   const rlkd_search_options *options,
                                   rlkd_search **out)
{
    static const char op[] = "rlkd_search_create_net";
    if (!net || !validation || !out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: net, validation and out must not be NULL", op);
    rlkd_net_env_options defaults;
    rlkd_net_env_options_init(&defaults);
    const rlkd_net_env_options *o = env_options ? env_options : &defaults;
    RLKD_TRY(check_env_options(op, o, teacher));
    if (teacher && teacher->ctx != net->ctx)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: the teacher lives on another context", op);
    net_env *env = calloc(1, sizeof *env);
    if (!env)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    env->net = net;
    env->teacher = o->teacher_weight > 0.0 ? teacher : NULL;
    env->validation = validation;
    env->recalibration = recalibration ? recalibration : validation;
    env->options = *o;
    rlkd_search_layer *layers = NULL;
    rlkd_status status = rlkd_net_prune_clear(net);
    if (status == RLKD_OK)
        status = describe(env, &layers);
    if (status == RLKD_OK)
        status = size_scoring(env);
    if (status == RLKD_OK && env->teacher)
        status = cache_teacher(env);
    if (status != RLKD_OK) {
        free(layers);
        env_destroy(env);
        return status;
    }
    const rlkd_search_env owned = {env, env_destroy, env_apply, env_set_comm};
    status = rlkd_search_create_env(layers, env->layer_count, env_cost,
                                    env_score, &owned, options, out);
    free(layers);
    return status;
}
