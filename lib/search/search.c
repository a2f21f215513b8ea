/*
 * The RL pruning search: AMC's episode loop around the DDPG agent of
 * ddpg.c. One episode walks the layers; at layer t the agent sees the
 * layer's state (AMC's features, min-max normalised, plus rlkd's reward
 * scale) and picks a preserve ratio, which the action wall turns into a
 * channel count that keeps the FLOPs target reachable (and, with
 * fill_budget, keeps the budget from going unused). The environment scores
 * the finished policy; every transition of the episode gets the episode's
 * reward (AMC: discount 1, the reward only at the end).
 *
 * A saved search is a safetensors file of the agent's tensors and the best
 * policy, with the counters (episode, exploration draws, the agent's) and
 * the running baseline in the metadata: everything the next episode reads.
 *
 * Over a communicator (rlkd_search_set_comm) rank 0 alone runs the agent
 * and writes the files; each episode's policy goes from it to every rank,
 * every rank scores it, and rank 0's score counts on all of them, so the
 * baseline and the best policy stay the same everywhere.
 */
#include "ddpg.h"
#include "search_internal.h"
#include "../comm/comm_internal.h"
#include "../core/philox.h"
#include "../nets/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Per layer: index, kind, in channels, channels, stride, kernel, params,
 * MACs, MACs removed so far, MACs still to come, previous ratio, reward
 * scale. */
#define STATE_DIM 12

/* The Philox stream of the exploration noise (the agent uses its own). */
#define EXPLORE_STREAM 0x5EA4C4ull

/* Metadata of a saved search. */
#define KEY_SEARCH "rlkd_search"
#define KEY_FINGERPRINT "rlkd_search_fingerprint"

typedef struct search_layer {
    char *name;
    int channels;
    int *choices;       /* channel counts allowed, ascending */
    int choice_count;
    int lo, hi;         /* indices of the counts nearest lbound and rbound */
    float features[8];  /* the static features, normalised */
    double rest;        /* MACs of the later layers / unpruned MACs */
} search_layer;

struct rlkd_search {
    rlkd_search_options options;
    char *log_path, *state_path, *policy_path;
    search_layer *layers;
    int count;
    rlkd_search_cost_fn cost;
    rlkd_search_score_fn score;
    void *user;
    rlkd_search_env env;
    rlkd_ddpg *agent;
    int64_t macs_before, target;
    rlkd_comm *comm; /* NULL: one process */

    /* what the next episode reads: saved and resumed */
    int64_t episode;
    uint64_t explore_draws;
    double baseline, scale; /* baseline NaN before the first episode */
    int64_t best_episode;   /* -1: none yet */
    double best_reward, best_score, best_accuracy;
    int64_t best_macs;
    int *best_keep;

    /* an episode's scratch */
    rlkd_context *host;     /* for the best policy as a tensor when saved */
    float *states;          /* [count + 1][STATE_DIM] */
    float *actions;         /* [count] */
    int *keep, *probe;
    double *ratios;
};

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

void rlkd_search_layer_init(rlkd_search_layer *layer)
{
    if (!layer)
        return;
    memset(layer, 0, sizeof *layer);
    layer->struct_size = sizeof *layer;
    layer->kernel = 1;
    layer->stride = 1;
}

void rlkd_search_options_init(rlkd_search_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->macs_fraction = 0.4;
    options->lbound = 0.2;
    options->rbound = 1.0;
    options->round_to = 8;
    options->fill_budget = 1;
    options->episodes = 400;
    options->warmup_episodes = 100;
    options->hidden1 = 300;
    options->hidden2 = 300;
    options->actor_lr = 1e-4f;
    options->critic_lr = 1e-3f;
    options->tau = 0.01f;
    options->discount = 1.0f;
    options->buffer_size = 2000;
    options->batch_size = 64;
    options->sigma = 0.5f;
    options->sigma_decay = 0.95f;
    options->baseline_alpha = 0.5f;
    options->reward = RLKD_REWARD_SCORE;
    options->reward_scaling = 0;
    options->seed = 0;
    options->save_every = 10;
}

static rlkd_status bad_option(const char *op, const char *what)
{
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: options: %s", op, what);
}

static rlkd_status check_options(const char *op, const rlkd_search_options *o)
{
    if (o->struct_size < sizeof *o)
        return bad_option(op, "struct_size is not sizeof(rlkd_search_options)"
                              " (call rlkd_search_options_init)");
    if (!(o->macs_fraction > 0.0 && o->macs_fraction <= 1.0))
        return bad_option(op, "macs_fraction must be in (0, 1]");
    if (!(o->lbound > 0.0 && o->lbound <= o->rbound && o->rbound <= 1.0))
        return bad_option(op, "need 0 < lbound <= rbound <= 1");
    if (o->round_to < 1)
        return bad_option(op, "round_to must be >= 1");
    if (o->episodes < 1 || o->warmup_episodes < 0)
        return bad_option(op, "episodes must be >= 1, warmup_episodes >= 0");
    if (!(o->sigma >= 0.0f && o->sigma_decay > 0.0f && o->sigma_decay <= 1.0f))
        return bad_option(op, "need sigma >= 0 and 0 < sigma_decay <= 1");
    if (!(o->baseline_alpha > 0.0f && o->baseline_alpha <= 1.0f))
        return bad_option(op, "baseline_alpha must be in (0, 1]");
    if (o->reward != RLKD_REWARD_SCORE &&
        o->reward != RLKD_REWARD_ERROR_LOG_MACS)
        return bad_option(op, "unknown reward");
    if (o->save_every < 1)
        return bad_option(op, "save_every must be >= 1");
    return RLKD_OK;
}

const rlkd_search_options *rlkd_search_options_of(const rlkd_search *search)
{
    return &search->options;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */
/* ------------------------------------------------------------------------ */

static rlkd_status out_of_memory(const char *op)
{
    return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
}

static char *copy_string(const char *text)
{
    if (!text)
        return NULL;
    char *copy = malloc(strlen(text) + 1);
    if (copy)
        strcpy(copy, text);
    return copy;
}

void rlkd_search_destroy(rlkd_search *search)
{
    if (!search)
        return;
    if (search->env.destroy)
        search->env.destroy(search->env.state);
    for (int i = 0; search->layers && i < search->count; i++) {
        free(search->layers[i].name);
        free(search->layers[i].choices);
    }
    free(search->layers);
    free(search->log_path);
    free(search->state_path);
    free(search->policy_path);
    rlkd_ddpg_destroy(search->agent);
    rlkd_context_destroy(search->host);
    free(search->best_keep);
    free(search->states);
    free(search->actions);
    free(search->keep);
    free(search->probe);
    free(search->ratios);
    free(search);
}

/* The index of the allowed count nearest `channels_wanted` (ties upward). */
static int nearest_choice(const search_layer *l, double channels_wanted)
{
    int best = 0;
    for (int i = 1; i < l->choice_count; i++)
        if (fabs(l->choices[i] - channels_wanted) <=
            fabs(l->choices[best] - channels_wanted))
            best = i;
    return best;
}

/* Counts a layer may keep: multiples of round_to up to its channels, and
 * all of them (a layer of at most round_to channels keeps all). */
static rlkd_status make_choices(search_layer *l, const rlkd_search_options *o)
{
    const int c = l->channels, r = o->round_to;
    const int multiples = c > r ? c / r : 0;
    l->choice_count = multiples + (multiples * r != c);
    l->choices = malloc((size_t)l->choice_count * sizeof *l->choices);
    if (!l->choices)
        return RLKD_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < multiples; i++)
        l->choices[i] = (i + 1) * r;
    l->choices[l->choice_count - 1] = c;
    l->lo = nearest_choice(l, o->lbound * c);
    l->hi = nearest_choice(l, o->rbound * c);
    return RLKD_OK;
}

static rlkd_status check_layer(const char *op, const rlkd_search_layer *l,
                               int i)
{
    if (l->struct_size < sizeof *l)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: layers[%d].struct_size is not "
                         "sizeof(rlkd_search_layer) (call "
                         "rlkd_search_layer_init)", op, i);
    if (l->channels < 1 || l->in_channels < 0 || l->kernel < 1 ||
        l->stride < 1 || l->kind < 0 || l->kind > 2 || l->params < 0 ||
        l->macs < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: layers[%d] (%s): need channels >= 1, "
                         "in_channels >= 0, kernel and stride >= 1, kind "
                         "0..2, params and macs >= 0", op, i,
                         l->name ? l->name : "unnamed");
    return RLKD_OK;
}

/* Min-max normalises feature f of every layer from the raw values. */
static void normalise_feature(search_layer *layers, int count, int f,
                              const double *raw)
{
    double lo = raw[0], hi = raw[0];
    for (int i = 1; i < count; i++) {
        lo = raw[i] < lo ? raw[i] : lo;
        hi = raw[i] > hi ? raw[i] : hi;
    }
    for (int i = 0; i < count; i++)
        layers[i].features[f] =
            hi > lo ? (float)((raw[i] - lo) / (hi - lo)) : 0.0f;
}

static rlkd_status static_features(rlkd_search *s,
                                   const rlkd_search_layer *layers)
{
    const int n = s->count;
    double *raw = malloc((size_t)n * sizeof *raw);
    if (!raw)
        return RLKD_ERR_OUT_OF_MEMORY;
    for (int f = 0; f < 8; f++) {
        for (int i = 0; i < n; i++) {
            const rlkd_search_layer *l = &layers[i];
            const double values[8] = {i, l->kind, l->in_channels, l->channels,
                                      l->stride, l->kernel, (double)l->params,
                                      (double)l->macs};
            raw[i] = values[f];
        }
        normalise_feature(s->layers, n, f, raw);
    }
    free(raw);
    double later = 0.0;
    for (int i = n - 1; i >= 0; i--) {
        s->layers[i].rest = later / (double)s->macs_before;
        later += (double)layers[i].macs;
    }
    return RLKD_OK;
}

static rlkd_status policy_cost(rlkd_search *s, const int *keep, int64_t *macs)
{
    RLKD_TRY(s->cost(s->user, keep, s->count, macs));
    if (*macs < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_search: the cost callback gave negative MACs "
                         "(%" PRId64 ")", *macs);
    return RLKD_OK;
}

/* Every layer at choice lo (which = 0) or hi (which = 1). */
static void extreme_policy(const rlkd_search *s, int which, int *keep)
{
    for (int i = 0; i < s->count; i++) {
        const search_layer *l = &s->layers[i];
        keep[i] = l->choices[which ? l->hi : l->lo];
    }
}

static rlkd_status allocate(rlkd_search *s, const rlkd_search_layer *layers)
{
    const size_t n = (size_t)s->count;
    s->layers = calloc(n, sizeof *s->layers);
    s->best_keep = calloc(n, sizeof *s->best_keep);
    s->states = calloc((n + 1) * STATE_DIM, sizeof *s->states);
    s->actions = calloc(n, sizeof *s->actions);
    s->keep = calloc(n, sizeof *s->keep);
    s->probe = calloc(n, sizeof *s->probe);
    s->ratios = calloc(n, sizeof *s->ratios);
    if (!s->layers || !s->best_keep || !s->states || !s->actions ||
        !s->keep || !s->probe || !s->ratios)
        return RLKD_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < s->count; i++) {
        s->layers[i].channels = layers[i].channels;
        if (layers[i].name && !(s->layers[i].name = copy_string(layers[i].name)))
            return RLKD_ERR_OUT_OF_MEMORY;
        RLKD_TRY(make_choices(&s->layers[i], &s->options));
    }
    const rlkd_search_options *o = &s->options;
    if ((o->log_path && !(s->log_path = copy_string(o->log_path))) ||
        (o->state_path && !(s->state_path = copy_string(o->state_path))) ||
        (o->policy_path && !(s->policy_path = copy_string(o->policy_path))))
        return RLKD_ERR_OUT_OF_MEMORY;
    s->options.log_path = s->log_path;
    s->options.state_path = s->state_path;
    s->options.policy_path = s->policy_path;
    return RLKD_OK;
}

/* The unpruned MACs and the target, checked against the smallest policy. */
static rlkd_status set_budget(const char *op, rlkd_search *s)
{
    for (int i = 0; i < s->count; i++)
        s->keep[i] = s->layers[i].channels;
    RLKD_TRY(policy_cost(s, s->keep, &s->macs_before));
    if (s->macs_before <= 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the unpruned policy costs no MACs", op);
    s->target = (int64_t)floor(s->options.macs_fraction *
                               (double)s->macs_before);
    int64_t least;
    extreme_policy(s, 0, s->keep);
    RLKD_TRY(policy_cost(s, s->keep, &least));
    if (least > s->target)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: even every layer at lbound (%g) keeps %.4f of "
                         "the MACs, above the target %g", op,
                         s->options.lbound,
                         (double)least / (double)s->macs_before,
                         s->options.macs_fraction);
    return RLKD_OK;
}

static rlkd_status make_agent(rlkd_search *s)
{
    const rlkd_search_options *o = &s->options;
    rlkd_ddpg_config config = {
        .state_dim = STATE_DIM,
        .hidden1 = o->hidden1,
        .hidden2 = o->hidden2,
        .actor_lr = o->actor_lr,
        .critic_lr = o->critic_lr,
        .tau = o->tau,
        .discount = o->discount,
        .buffer_size = o->buffer_size,
        .batch_size = o->batch_size,
        .seed = o->seed,
    };
    return rlkd_ddpg_create(&config, &s->agent);
}

rlkd_status rlkd_search_create_env(const rlkd_search_layer *layers, int count,
                                   rlkd_search_cost_fn cost,
                                   rlkd_search_score_fn score,
                                   const rlkd_search_env *env,
                                   const rlkd_search_options *options,
                                   rlkd_search **out)
{
    static const char op[] = "rlkd_search_create";
    rlkd_search_options defaults;
    rlkd_search_options_init(&defaults);
    rlkd_status status = RLKD_OK;
    if (!out || !layers || !cost || !score)
        status = rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                           "%s: out, layers, cost and score must not be NULL",
                           op);
    else if (count < 1)
        status = rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                           "%s: count is %d, need at least one layer", op,
                           count);
    else
        status = check_options(op, options ? options : &defaults);
    for (int i = 0; status == RLKD_OK && i < count; i++)
        status = check_layer(op, &layers[i], i);
    rlkd_search *s = status == RLKD_OK ? calloc(1, sizeof *s) : NULL;
    if (status == RLKD_OK && !s)
        status = out_of_memory(op);
    if (status != RLKD_OK) {
        if (env && env->destroy)
            env->destroy(env->state);
        return status;
    }
    s->options = options ? *options : defaults;
    s->count = count;
    s->cost = cost;
    s->score = score;
    if (env) {
        s->env = *env;
        s->user = env->state;
    }
    s->best_episode = -1;
    s->baseline = NAN;
    status = allocate(s, layers);
    if (status == RLKD_ERR_OUT_OF_MEMORY)
        status = out_of_memory(op);
    if (status == RLKD_OK)
        status = set_budget(op, s);
    if (status == RLKD_OK)
        status = static_features(s, layers) == RLKD_OK ? RLKD_OK
                                                        : out_of_memory(op);
    if (status == RLKD_OK)
        status = make_agent(s);
    if (status == RLKD_OK)
        status = rlkd_context_create(&s->host, RLKD_DEVICE_CPU, 0);
    if (status != RLKD_OK) {
        rlkd_search_destroy(s);
        return status;
    }
    *out = s;
    return RLKD_OK;
}

rlkd_status rlkd_search_create(const rlkd_search_layer *layers, int count,
                               rlkd_search_cost_fn cost,
                               rlkd_search_score_fn score, void *user,
                               const rlkd_search_options *options,
                               rlkd_search **out)
{
    rlkd_search_env env = {user, NULL, NULL, NULL};
    return rlkd_search_create_env(layers, count, cost, score, &env, options,
                                  out);
}

/* ------------------------------------------------------------------------ */
/* An episode                                                                */
/* ------------------------------------------------------------------------ */

/* A standard normal from draw `index` of the exploration stream. */
static double normal_draw(uint64_t seed, uint64_t index)
{
    const rlkd_philox_block b = rlkd_philox4x32(seed, EXPLORE_STREAM, index);
    const double u1 = ((double)(b.v[0] >> 8) + 1.0) / 16777217.0;
    const double u2 = (double)(b.v[1] >> 8) / 16777216.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The ratio the agent explores with: uniform in [lbound, rbound] in the
 * warm-up, then a normal around the actor's action truncated to that range
 * (resampled, as scipy's truncnorm, up to a limit, then clipped). */
static double explore(const rlkd_search *s, int warmup, double action,
                      double sigma, uint64_t *draws)
{
    const double lo = s->options.lbound, hi = s->options.rbound;
    if (warmup) {
        const rlkd_philox_block b =
            rlkd_philox4x32(s->options.seed, EXPLORE_STREAM, (*draws)++);
        return lo + (hi - lo) * ((double)(b.v[0] >> 8) / 16777216.0);
    }
    double ratio = action;
    for (int attempt = 0; attempt < 64; attempt++) {
        ratio = action + sigma * normal_draw(s->options.seed, (*draws)++);
        if (ratio >= lo && ratio <= hi)
            return ratio;
    }
    return ratio < lo ? lo : ratio > hi ? hi : ratio;
}

/* probe = keep for layers < t, `count` at t, each later layer at its lo
 * (which = 0) or hi (which = 1) choice; *macs its cost. */
static rlkd_status probe_cost(rlkd_search *s, int t, int channels, int which,
                              int64_t *macs)
{
    memcpy(s->probe, s->keep, (size_t)t * sizeof *s->probe);
    s->probe[t] = channels;
    for (int i = t + 1; i < s->count; i++) {
        const search_layer *l = &s->layers[i];
        s->probe[i] = l->choices[which ? l->hi : l->lo];
    }
    return policy_cost(s, s->probe, macs);
}

/* The action wall: the choice for layer t nearest `ratio`, no larger than
 * the largest that still lets the later layers (at lbound) meet the target,
 * and with fill_budget no smaller than the smallest that lets them (at
 * rbound) reach it. Costs grow with the count, so both are bisections. */
static rlkd_status action_wall(rlkd_search *s, int t, double ratio, int *keep)
{
    const search_layer *l = &s->layers[t];
    int lo = l->lo, hi = l->hi, upper = l->lo;
    int64_t macs;
    for (int a = l->lo, b = l->hi; a <= b;) { /* largest within the target */
        const int mid = (a + b) / 2;
        RLKD_TRY(probe_cost(s, t, l->choices[mid], 0, &macs));
        if (macs <= s->target) {
            upper = mid;
            a = mid + 1;
        } else {
            b = mid - 1;
        }
    }
    if (s->options.fill_budget) {
        int lower = l->hi;
        for (int a = l->lo, b = l->hi; a <= b;) { /* smallest reaching it */
            const int mid = (a + b) / 2;
            RLKD_TRY(probe_cost(s, t, l->choices[mid], 1, &macs));
            if (macs >= s->target) {
                lower = mid;
                b = mid - 1;
            } else {
                a = mid + 1;
            }
        }
        lo = lower;
    }
    int choice = nearest_choice(l, ratio * l->channels);
    choice = choice < lo ? lo : choice;
    choice = choice > hi ? hi : choice;
    choice = choice > upper ? upper : choice;
    *keep = l->choices[choice];
    return RLKD_OK;
}

/* The state of layer t into state[STATE_DIM], given keep[0..t-1]. */
static rlkd_status layer_state(rlkd_search *s, int t, double previous_ratio,
                               float *state)
{
    const search_layer *l = &s->layers[t];
    memcpy(state, l->features, sizeof l->features);
    memcpy(s->probe, s->keep, (size_t)t * sizeof *s->probe);
    for (int i = t; i < s->count; i++)
        s->probe[i] = s->layers[i].channels;
    int64_t macs;
    RLKD_TRY(policy_cost(s, s->probe, &macs));
    state[8] = (float)((double)(s->macs_before - macs) /
                       (double)s->macs_before);
    state[9] = (float)l->rest;
    state[10] = (float)previous_ratio;
    state[11] = s->options.reward_scaling && s->scale > 0.0
                    ? (float)(s->scale / (s->scale + fabs(s->baseline)))
                    : 0.0f;
    return RLKD_OK;
}

static double reward_of(const rlkd_search *s, double score, int64_t macs)
{
    if (s->options.reward == RLKD_REWARD_ERROR_LOG_MACS)
        return -(1.0 - score) * log((double)(macs > 1 ? macs : 1));
    return score;
}

static double sigma_of(const rlkd_search *s, int64_t episode)
{
    const int64_t after = episode - s->options.warmup_episodes;
    return after < 0 ? 0.0
                     : s->options.sigma *
                           pow(s->options.sigma_decay, (double)after);
}

/* The JSON of a policy's layers: [{"name", "channels", "keep", "ratio"}]. */
static cJSON *policy_layers_json(const rlkd_search *s, const int *keep)
{
    cJSON *array = cJSON_CreateArray();
    for (int i = 0; array && i < s->count; i++) {
        const search_layer *l = &s->layers[i];
        cJSON *item = cJSON_CreateObject();
        if (!item || !cJSON_AddItemToArray(array, item) ||
            !cJSON_AddStringToObject(item, "name", l->name ? l->name : "") ||
            !cJSON_AddNumberToObject(item, "channels", l->channels) ||
            !cJSON_AddNumberToObject(item, "keep", keep[i]) ||
            !cJSON_AddNumberToObject(item, "ratio",
                                     (double)keep[i] / l->channels)) {
            cJSON_Delete(array);
            return NULL;
        }
    }
    return array;
}

/* Prefixes a failure's message (which names the file) with the search. */
static rlkd_status in_search(rlkd_status status)
{
    if (status == RLKD_OK)
        return status;
    char reason[896];
    snprintf(reason, sizeof reason, "%s", rlkd_last_error());
    return rlkd_fail(status, "rlkd_search: %s", reason);
}

/* The policy file or the trimmed log, written whole or not at all. */
static rlkd_status write_atomically(const char *path, const char *text,
                                    size_t length)
{
    return in_search(rlkd_file_write_text_atomic(path, text, length));
}

static int add_number(cJSON *o, const char *key, double value)
{
    /* JSON has no NaN: an unknown value is null. */
    return isfinite(value) ? cJSON_AddNumberToObject(o, key, value) != NULL
                           : cJSON_AddNullToObject(o, key) != NULL;
}

/* o as one line of JSON text with its newline (free() it); NULL when out
 * of memory. */
static char *json_line(const cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    const size_t length = text ? strlen(text) : 0;
    char *line = text ? malloc(length + 2) : NULL;
    if (line) {
        memcpy(line, text, length);
        memcpy(line + length, "\n", 2);
    }
    cJSON_free(text);
    return line;
}

static rlkd_status write_policy(const rlkd_search *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *layers = policy_layers_json(s, s->best_keep);
    int ok = o && layers && cJSON_AddItemToObject(o, "layers", layers);
    if (!ok)
        cJSON_Delete(layers);
    ok = ok && add_number(o, "episode", (double)s->best_episode) &&
         add_number(o, "reward", s->best_reward) &&
         add_number(o, "score", s->best_score) &&
         add_number(o, "accuracy", s->best_accuracy) &&
         add_number(o, "macs", (double)s->best_macs) &&
         add_number(o, "flops", 2.0 * (double)s->best_macs) &&
         add_number(o, "macs_before", (double)s->macs_before) &&
         add_number(o, "macs_fraction",
                    (double)s->best_macs / (double)s->macs_before);
    char *line = ok ? json_line(o) : NULL;
    cJSON_Delete(o);
    if (!line)
        return out_of_memory("rlkd_search");
    rlkd_status status = write_atomically(s->policy_path, line, strlen(line));
    free(line);
    return status;
}

static rlkd_status log_episode(const rlkd_search *s,
                               const rlkd_search_episode *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *keep = cJSON_CreateIntArray(e->keep, e->layers);
    cJSON *ratios = cJSON_CreateDoubleArray(e->ratios, e->layers);
    int ok = o && add_number(o, "episode", (double)e->episode) &&
             cJSON_AddBoolToObject(o, "warmup", e->warmup) != NULL;
    ok = ok && keep && cJSON_AddItemToObject(o, "keep", keep);
    if (!ok)
        cJSON_Delete(keep);
    ok = ok && ratios && cJSON_AddItemToObject(o, "ratios", ratios);
    if (!ok)
        cJSON_Delete(ratios);
    ok = ok && add_number(o, "macs", (double)e->macs) &&
         add_number(o, "flops", 2.0 * (double)e->macs) &&
         add_number(o, "macs_fraction",
                    (double)e->macs / (double)e->macs_before) &&
         add_number(o, "score", e->score) &&
         add_number(o, "accuracy", e->accuracy) &&
         add_number(o, "reward", e->reward) &&
         add_number(o, "best_reward", e->best_reward) &&
         add_number(o, "sigma", e->sigma) &&
         add_number(o, "seconds", e->seconds);
    char *line = ok ? json_line(o) : NULL;
    cJSON_Delete(o);
    if (!line)
        return out_of_memory("rlkd_search");
    /* One write() of the whole line, flushed before the state that counts
     * the episode is saved: a kill leaves at worst a torn line after the
     * saved episodes, which the resume cuts off (cut_log). A failed write
     * (a full disk) is undone, so the log never holds half a line. */
    const int fd = open(s->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                        0666);
    const off_t before = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    if (before < 0) {
        const rlkd_status status =
            rlkd_fail_io(errno, "rlkd_search: cannot append to %s",
                         s->log_path);
        if (fd >= 0)
            close(fd);
        free(line);
        return status;
    }
    rlkd_status status =
        in_search(rlkd_file_write_all(fd, line, strlen(line), s->log_path));
    if (status == RLKD_OK && fsync(fd) != 0)
        status = rlkd_fail_io(errno, "rlkd_search: cannot flush %s",
                              s->log_path);
    if (status != RLKD_OK && ftruncate(fd, before) != 0) {
        char reason[896];
        snprintf(reason, sizeof reason, "%s", rlkd_last_error());
        status = rlkd_fail(status, "%s (and the part-written line stays: %s)",
                           reason, strerror(errno));
    }
    if (close(fd) != 0 && status == RLKD_OK)
        status = rlkd_fail_io(errno, "rlkd_search: cannot append to %s",
                              s->log_path);
    free(line);
    return status;
}

/* Whether this process runs the agent and writes the files: rank 0 of a
 * communicator, or the only process. */
static int leads(const rlkd_search *s)
{
    return !s->comm || s->comm->rank == 0;
}

/* Over a communicator: rank 0's policy to every rank (the others' ratios
 * follow from it). */
static rlkd_status share_policy(rlkd_search *s)
{
    if (!s->comm)
        return RLKD_OK;
    RLKD_TRY(rlkd_comm_host_broadcast(s->comm, "rlkd_search_run", s->keep,
                                      (size_t)s->count * sizeof *s->keep, 0));
    for (int t = 0; t < s->count; t++)
        s->ratios[t] = (double)s->keep[t] / s->layers[t].channels;
    return RLKD_OK;
}

/* Over a communicator: rank 0's score and accuracy on every rank. */
static rlkd_status share_score(rlkd_search *s, double *score,
                               double *accuracy)
{
    if (!s->comm)
        return RLKD_OK;
    double values[2] = {*score, *accuracy};
    RLKD_TRY(rlkd_comm_host_broadcast(s->comm, "rlkd_search_run", values,
                                      sizeof values, 0));
    *score = values[0];
    *accuracy = values[1];
    return RLKD_OK;
}

/* Runs episode s->episode: actions, score, then (only once all of that
 * succeeded) the agent's memory and updates, the baseline and the best. */
static rlkd_status run_episode(rlkd_search *s)
{
    const double start = rlkd_seconds_now();
    const int warmup = s->episode < s->options.warmup_episodes;
    const double sigma = sigma_of(s, s->episode);
    const int leader = leads(s);
    uint64_t draws = s->explore_draws;
    double previous = 1.0;
    for (int t = 0; leader && t < s->count; t++) {
        float *state = &s->states[(size_t)t * STATE_DIM];
        RLKD_TRY(layer_state(s, t, previous, state));
        const double action =
            warmup ? 0.0 : (double)rlkd_ddpg_act(s->agent, state);
        const double explored = explore(s, warmup, action, sigma, &draws);
        RLKD_TRY(action_wall(s, t, explored, &s->keep[t]));
        s->ratios[t] = (double)s->keep[t] / s->layers[t].channels;
        /* The agent learns from the action it took, before the wall (as
         * AMC): the wall's clipping is then part of what an action does, so
         * a proposal the wall cuts down earns no credit for it. */
        s->actions[t] = (float)explored;
        previous = s->ratios[t];
    }
    RLKD_TRY(share_policy(s));
    int64_t macs;
    RLKD_TRY(policy_cost(s, s->keep, &macs));
    double score = NAN, accuracy = NAN;
    RLKD_TRY(s->score(s->user, s->keep, s->ratios, s->count, &score,
                      &accuracy));
    RLKD_TRY(share_score(s, &score, &accuracy));
    if (!isfinite(score))
        return rlkd_fail(RLKD_ERR_NUMERIC,
                         "rlkd_search_run: episode %" PRId64 " scored %g",
                         s->episode, score);
    const double reward = reward_of(s, score, macs);

    /* The episode counts from here on. */
    s->explore_draws = draws;
    const float alpha = s->options.baseline_alpha;
    if (isnan(s->baseline)) {
        s->baseline = reward;
    } else {
        const double deviation = fabs(reward - s->baseline);
        s->scale = s->scale > 0.0 ? s->scale + alpha * (deviation - s->scale)
                                  : deviation;
        s->baseline += alpha * (reward - s->baseline);
    }
    /* The terminal transition's next state is its own (never read: the
     * target is the reward alone). */
    for (int t = 0; leader && t < s->count; t++) {
        const int last = t == s->count - 1;
        rlkd_ddpg_remember(s->agent, &s->states[(size_t)t * STATE_DIM],
                           s->actions[t], (float)reward,
                           &s->states[(size_t)(last ? t : t + 1) * STATE_DIM],
                           last);
    }
    if (leader && !warmup) {
        const float scale = s->options.reward_scaling && s->scale > 1e-4
                                ? (float)s->scale
                                : (s->options.reward_scaling ? 1e-4f : 1.0f);
        for (int t = 0; t < s->count; t++)
            RLKD_TRY(rlkd_ddpg_update(s->agent, (float)s->baseline, scale,
                                      NULL));
    }
    const int improved = s->best_episode < 0 || reward > s->best_reward;
    if (improved) {
        s->best_episode = s->episode;
        s->best_reward = reward;
        s->best_score = score;
        s->best_accuracy = accuracy;
        s->best_macs = macs;
        memcpy(s->best_keep, s->keep, (size_t)s->count * sizeof *s->keep);
    }
    rlkd_search_episode e = {
        .struct_size = sizeof e,
        .episode = s->episode,
        .episodes = s->options.episodes,
        .warmup = warmup,
        .layers = s->count,
        .keep = s->keep,
        .ratios = s->ratios,
        .macs = macs,
        .macs_before = s->macs_before,
        .score = score,
        .accuracy = accuracy,
        .reward = reward,
        .best_reward = s->best_reward,
        .sigma = sigma,
        .seconds = rlkd_seconds_now() - start,
    };
    s->episode++;
    if (leader && s->log_path)
        RLKD_TRY(log_episode(s, &e));
    if (leader && improved && s->policy_path)
        RLKD_TRY(write_policy(s));
    if (s->options.progress)
        s->options.progress(&e, s->options.progress_user);
    return RLKD_OK;
}

rlkd_status rlkd_search_run(rlkd_search *search, int64_t episodes)
{
    static const char op[] = "rlkd_search_run";
    if (!search)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: search is NULL", op);
    if (episodes < 0 || episodes > search->options.episodes)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: episodes is %" PRId64 ", need 0..%d (the "
                         "options' episodes)", op, episodes,
                         search->options.episodes);
    while (search->episode < episodes) {
        RLKD_TRY(run_episode(search));
        const int due = search->episode % search->options.save_every == 0 ||
                        search->episode == episodes;
        if (search->state_path && due)
            RLKD_TRY(rlkd_search_save(search, search->state_path));
    }
    return RLKD_OK;
}

rlkd_status rlkd_search_episode_count(const rlkd_search *search,
                                      int64_t *episodes)
{
    if (!search || !episodes)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "rlkd_search_episode_count: search and episodes "
                         "must not be NULL");
    *episodes = search->episode;
    return RLKD_OK;
}

rlkd_status rlkd_search_best(const rlkd_search *search, int *keep, int count,
                             double *reward, double *score, int64_t *macs)
{
    static const char op[] = "rlkd_search_best";
    if (!search)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: search is NULL", op);
    if (search->best_episode < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: no episode has run yet", op);
    if (keep && count != search->count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: count is %d, the search has %d layers", op,
                         count, search->count);
    if (keep)
        memcpy(keep, search->best_keep, (size_t)count * sizeof *keep);
    if (reward)
        *reward = search->best_reward;
    if (score)
        *score = search->best_score;
    if (macs)
        *macs = search->best_macs;
    return RLKD_OK;
}

rlkd_status rlkd_search_apply_best(rlkd_search *search)
{
    static const char op[] = "rlkd_search_apply_best";
    if (!search)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: search is NULL", op);
    if (!search->env.apply)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: not a network search (rlkd_search_create_net)",
                         op);
    if (search->best_episode < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: no episode has run yet", op);
    return search->env.apply(search->env.state, search->best_keep);
}

static char *fingerprint(const rlkd_search *s);

rlkd_status rlkd_search_set_comm(rlkd_search *search, rlkd_comm *comm)
{
    static const char op[] = "rlkd_search_set_comm";
    if (!search)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: search is NULL", op);
    rlkd_search *s = search;
    if (s->env.set_comm)
        RLKD_TRY(s->env.set_comm(s->env.state, NULL));
    s->comm = NULL;
    if (!comm)
        return RLKD_OK;
    /* The same layers and options everywhere, or the episodes would not
     * match; then rank 0's running values (a rank may have resumed
     * another state). */
    char *print = fingerprint(s);
    if (!print)
        return out_of_memory(op);
    const uint64_t digest = rlkd_comm_digest(RLKD_COMM_DIGEST_START, print,
                                             strlen(print));
    free(print);
    RLKD_TRY(rlkd_comm_expect_same(comm, op, digest,
                                   "searches (layers or options)"));
    struct {
        int64_t episode, best_episode, best_macs;
        double baseline, scale, best_reward, best_score, best_accuracy;
    } n = {s->episode, s->best_episode, s->best_macs, s->baseline, s->scale,
           s->best_reward, s->best_score, s->best_accuracy};
    RLKD_TRY(rlkd_comm_host_broadcast(comm, op, &n, sizeof n, 0));
    RLKD_TRY(rlkd_comm_host_broadcast(comm, op, s->best_keep,
                                      (size_t)s->count * sizeof *s->best_keep,
                                      0));
    s->episode = n.episode;
    s->best_episode = n.best_episode;
    s->best_macs = n.best_macs;
    s->baseline = n.baseline;
    s->scale = n.scale;
    s->best_reward = n.best_reward;
    s->best_score = n.best_score;
    s->best_accuracy = n.best_accuracy;
    if (s->env.set_comm)
        RLKD_TRY(s->env.set_comm(s->env.state, comm));
    s->comm = comm;
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* Save and resume                                                           */
/* ------------------------------------------------------------------------ */

/* What a saved state must match: the layers and every option that changes
 * what an episode does (not the paths or the callback). */
static char *fingerprint(const rlkd_search *s)
{
    const rlkd_search_options *o = &s->options;
    size_t size = 512 + (size_t)s->count * 48;
    char *text = malloc(size);
    if (!text)
        return NULL;
    int n = snprintf(text, size,
                     "layers %d macs %" PRId64 " target %" PRId64
                     " lbound %.17g rbound %.17g round %d fill %d episodes %d"
                     " warmup %d hidden %d %d lr %.9g %.9g tau %.9g"
                     " discount %.9g buffer %d batch %d sigma %.9g %.9g"
                     " alpha %.9g reward %d scaling %d seed %" PRIu64 ";",
                     s->count, s->macs_before, s->target, o->lbound,
                     o->rbound, o->round_to, o->fill_budget, o->episodes,
                     o->warmup_episodes, o->hidden1, o->hidden2,
                     (double)o->actor_lr, (double)o->critic_lr,
                     (double)o->tau, (double)o->discount, o->buffer_size,
                     o->batch_size, (double)o->sigma, (double)o->sigma_decay,
                     (double)o->baseline_alpha, (int)o->reward,
                     o->reward_scaling, o->seed);
    for (int i = 0; i < s->count && n > 0 && (size_t)n < size; i++)
        n += snprintf(text + n, size - (size_t)n, " %d", s->layers[i].channels);
    return text;
}

#define SEARCH_NUMBERS (9 + RLKD_DDPG_COUNTERS)

/* The counters and running values as text; doubles as %a (exact). */
static char *numbers_text(const rlkd_search *s)
{
    uint64_t counters[RLKD_DDPG_COUNTERS];
    rlkd_ddpg_counters(s->agent, counters);
    char *text = malloc(1024);
    if (!text)
        return NULL;
    int n = snprintf(text, 1024,
                     "%" PRId64 " %" PRIu64 " %a %a %" PRId64 " %a %a %a %"
                     PRId64, s->episode, s->explore_draws, s->baseline,
                     s->scale, s->best_episode, s->best_reward, s->best_score,
                     s->best_accuracy, s->best_macs);
    for (int i = 0; i < RLKD_DDPG_COUNTERS; i++)
        n += snprintf(text + n, 1024 - (size_t)n, " %" PRIu64, counters[i]);
    return text;
}

/* The best policy as a saved tensor (float holds every channel count). */
static rlkd_status best_tensor(const rlkd_search *s, rlkd_tensor **out)
{
    const int64_t shape[1] = {s->count};
    return rlkd_tensor_create(s->host, RLKD_DTYPE_F32, 1, shape, out);
}

/* The agent's tensors then the best policy, as checkpoint entries. */
static rlkd_status state_tensors(rlkd_search *s, rlkd_tensor *best,
                                 rlkd_checkpoint_tensor **out, int *count)
{
    const int agent = rlkd_ddpg_state_count(s->agent);
    rlkd_checkpoint_tensor *list = malloc((size_t)(agent + 1) * sizeof *list);
    if (!list)
        return out_of_memory("rlkd_search");
    for (int i = 0; i < agent; i++)
        rlkd_ddpg_state_tensor(s->agent, i, &list[i].name, &list[i].value);
    list[agent].name = "search.best_keep";
    list[agent].value = best;
    *out = list;
    *count = agent + 1;
    return RLKD_OK;
}

rlkd_status rlkd_search_save(const rlkd_search *search, const char *path)
{
    static const char op[] = "rlkd_search_save";
    if (!search || !path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: search and path must not be NULL", op);
    /* Only rank 0's agent is the search's. */
    if (!leads(search))
        return RLKD_OK;
    rlkd_search *s = (rlkd_search *)search; /* the agent's tensors are read */
    rlkd_tensor *best;
    RLKD_TRY(best_tensor(s, &best));
    float *values = (float *)best->data;
    for (int i = 0; i < s->count; i++)
        values[i] = (float)s->best_keep[i];
    rlkd_checkpoint_tensor *tensors = NULL;
    int count = 0;
    char *numbers = numbers_text(s), *print = fingerprint(s);
    rlkd_status status = numbers && print ? state_tensors(s, best, &tensors,
                                                          &count)
                                          : out_of_memory(op);
    if (status == RLKD_OK) {
        const rlkd_checkpoint_metadata metadata[2] = {
            {KEY_SEARCH, numbers}, {KEY_FINGERPRINT, print}};
        status = rlkd_checkpoint_in_file(
            rlkd_checkpoint_save(NULL, path, tensors, count, metadata, 2), op,
            path);
    }
    free(tensors);
    free(numbers);
    free(print);
    rlkd_tensor_destroy(best);
    return status;
}

typedef struct saved_numbers {
    int64_t episode, best_episode, best_macs;
    uint64_t explore_draws;
    double baseline, scale, best_reward, best_score, best_accuracy;
    uint64_t counters[RLKD_DDPG_COUNTERS];
} saved_numbers;

static rlkd_status parse_numbers(const char *text, const rlkd_search *s,
                                 saved_numbers *n)
{
    int used = 0;
    const int got = text ? sscanf(text,
                                  "%" SCNd64 " %" SCNu64 " %la %la %" SCNd64
                                  " %la %la %la %" SCNd64 "%n",
                                  &n->episode, &n->explore_draws,
                                  &n->baseline, &n->scale, &n->best_episode,
                                  &n->best_reward, &n->best_score,
                                  &n->best_accuracy, &n->best_macs, &used)
                         : 0;
    int ok = got == 9;
    for (int i = 0; ok && i < RLKD_DDPG_COUNTERS; i++) {
        int more = 0;
        ok = sscanf(text + used, " %" SCNu64 "%n", &n->counters[i], &more) == 1;
        used += more;
    }
    ok = ok && text[used] == '\0' && n->episode >= 0 &&
         n->episode <= s->options.episodes && n->best_episode >= -1 &&
         n->best_episode < n->episode;
    if (!ok)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the search metadata \"%s\" is missing or malformed",
                         KEY_SEARCH);
    return RLKD_OK;
}

/* Keeps the first `episodes` whole lines of the episode log (those of the
 * saved state): later lines belong to episodes that will run again, and a
 * line without its newline is one that a kill cut short. */
static rlkd_status cut_log(const char *path, int64_t episodes)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? RLKD_OK
                               : rlkd_fail_io(errno,
                                              "rlkd_search: cannot read %s",
                                              path);
    size_t capacity = 4096, length = 0, kept = 0;
    char *text = malloc(capacity);
    int64_t lines = 0;
    int c;
    while (text && lines < episodes && (c = fgetc(f)) != EOF) {
        if (length == capacity) {
            char *bigger = realloc(text, capacity *= 2);
            if (!bigger) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
        }
        text[length++] = (char)c;
        if (c == '\n') {
            lines++;
            kept = length;
        }
    }
    const int more = text && fgetc(f) != EOF;
    const int read_error = ferror(f) ? errno : 0;
    fclose(f);
    rlkd_status status = RLKD_OK;
    if (!text)
        status = out_of_memory("rlkd_search_resume");
    else if (read_error)
        status = rlkd_fail_io(read_error, "rlkd_search: cannot read %s", path);
    else if (kept == 0 && (length > 0 || more))
        status = unlink(path) == 0 || errno == ENOENT
                     ? RLKD_OK
                     : rlkd_fail_io(errno, "rlkd_search: cannot remove %s",
                                    path);
    else if (kept < length || more)
        status = write_atomically(path, text, kept);
    free(text);
    return status;
}

rlkd_status rlkd_search_resume(rlkd_search *search, const char *path)
{
    static const char op[] = "rlkd_search_resume";
    if (!search || !path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: search and path must not be NULL", op);
    rlkd_search *s = search;
    rlkd_checkpoint_file file;
    rlkd_status status = rlkd_checkpoint_open(path, &file);
    char *print = status == RLKD_OK ? fingerprint(s) : NULL;
    if (status == RLKD_OK && !print)
        status = out_of_memory(op);
    saved_numbers n;
    if (status == RLKD_OK) {
        const char *saved = rlkd_checkpoint_metadata_value(&file,
                                                           KEY_FINGERPRINT);
        if (!saved)
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "not a search state (no \"%s\")",
                               KEY_FINGERPRINT);
        else if (strcmp(saved, print) != 0)
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "saved by a search with other layers or "
                               "options (saved \"%s\", this one \"%s\")",
                               saved, print);
    }
    if (status == RLKD_OK)
        status = parse_numbers(
            rlkd_checkpoint_metadata_value(&file, KEY_SEARCH), s, &n);
    /* Read into a fresh agent and policy, so a bad file changes nothing. */
    rlkd_search staged = *s;
    staged.agent = NULL;
    rlkd_tensor *best = NULL;
    rlkd_checkpoint_tensor *tensors = NULL;
    int count = 0;
    if (status == RLKD_OK)
        status = make_agent(&staged);
    if (status == RLKD_OK)
        status = best_tensor(s, &best);
    if (status == RLKD_OK)
        status = state_tensors(&staged, best, &tensors, &count);
    if (status == RLKD_OK)
        status = rlkd_checkpoint_load(&file, NULL, tensors, count, 0,
                                      "the search");
    if (status == RLKD_OK)
        status = rlkd_ddpg_set_counters(staged.agent, n.counters);
    const float *values = best ? (const float *)best->data : NULL;
    for (int i = 0; status == RLKD_OK && n.best_episode >= 0 && i < s->count;
         i++) {
        /* Range first: converting NaN or a float beyond int is undefined. */
        const float v = values[i];
        if (!(v >= 1.0f && v <= (float)s->layers[i].channels) ||
            v != (float)(int)v)
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "the best policy keeps %g of layer %d's %d "
                               "channels", (double)values[i], i,
                               s->layers[i].channels);
    }
    if (status == RLKD_OK && s->log_path)
        status = cut_log(s->log_path, n.episode);
    /* A kill between an improving episode and the next save leaves the
     * policy file ahead of the state: it gets the saved best again (written
     * from the staged copy, so that a failure leaves the search as it
     * was). */
    if (status == RLKD_OK && s->policy_path && n.best_episode >= 0) {
        staged.best_episode = n.best_episode;
        staged.best_reward = n.best_reward;
        staged.best_score = n.best_score;
        staged.best_accuracy = n.best_accuracy;
        staged.best_macs = n.best_macs;
        staged.best_keep = malloc((size_t)s->count * sizeof *staged.best_keep);
        for (int i = 0; staged.best_keep && i < s->count; i++)
            staged.best_keep[i] = (int)values[i];
        status = staged.best_keep ? write_policy(&staged) : out_of_memory(op);
        free(staged.best_keep);
    }
    if (status == RLKD_OK) {
        rlkd_ddpg_destroy(s->agent);
        s->agent = staged.agent;
        staged.agent = NULL;
        s->episode = n.episode;
        s->explore_draws = n.explore_draws;
        s->baseline = n.baseline;
        s->scale = n.scale;
        s->best_episode = n.best_episode;
        s->best_reward = n.best_reward;
        s->best_score = n.best_score;
        s->best_accuracy = n.best_accuracy;
        s->best_macs = n.best_macs;
        /* Without a best episode the saved policy is unchecked: zeros. */
        for (int i = 0; i < s->count; i++)
            s->best_keep[i] = n.best_episode >= 0 ? (int)values[i] : 0;
    }
    rlkd_ddpg_destroy(staged.agent);
    free(tensors);
    rlkd_tensor_destroy(best);
    free(print);
    rlkd_checkpoint_close(&file);
    return rlkd_checkpoint_in_file(status, op, path);
}
