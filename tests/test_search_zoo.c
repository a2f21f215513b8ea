/*
 * The action wall on every zoo network: each episode of a search over the
 * network's prunable groups keeps at most the target's MACs, its masked
 * cost is what the search counted, and its last layer could not keep one
 * more rounding step without passing the target. Like test_zoo it builds
 * the ImageNet networks, so it stays out of the valgrind run.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 512
#define EPISODES 3

typedef struct episodes_seen {
    int count, layers;
    int keep[EPISODES][MAX_LAYERS];
    int64_t macs[EPISODES];
} episodes_seen;

static void remember(const rlkd_search_episode *e, void *user)
{
    episodes_seen *seen = user;
    if (seen->count >= EPISODES || e->layers > MAX_LAYERS)
        return;
    seen->layers = e->layers;
    memcpy(seen->keep[seen->count], e->keep, (size_t)e->layers * sizeof(int));
    seen->macs[seen->count++] = e->macs;
}

/* The network's MACs with the prunable groups (in index order) keeping
 * keep[i] channels each by L1; *last_group is the last one's index. */
static int64_t masked_macs(rlkd_net *net, const int *keep, int *last_group,
                           int *last_channels)
{
    int groups, layer = 0;
    test_must(rlkd_net_prune_group_count(net, &groups), "group count");
    CHECK_OK(rlkd_net_prune_clear(net));
    for (int g = 0; g < groups; g++) {
        rlkd_prune_group group;
        rlkd_prune_group_init(&group);
        test_must(rlkd_net_prune_group(net, g, &group), "group");
        if (!group.prunable)
            continue;
        CHECK_OK(rlkd_net_prune_keep(net, g, keep[layer++], RLKD_PRUNE_L1));
        *last_group = g;
        *last_channels = group.channels;
    }
    int64_t macs = -1;
    CHECK_OK(rlkd_net_cost(net, NULL, &macs));
    CHECK_OK(rlkd_net_prune_clear(net));
    return macs;
}

/* A zoo network at the smallest input it accepts among a few. */
static rlkd_net *build(const char *name, int *side)
{
    static const int sides[] = {32, 64, 224};
    for (int i = 0; i < 3; i++) {
        rlkd_zoo_options o;
        rlkd_zoo_options_init(&o);
        o.num_classes = 10;
        o.in_channels = 3;
        o.in_height = o.in_width = sides[i];
        rlkd_net *net;
        if (rlkd_zoo_create(test_ctx, name, &o, &net) == RLKD_OK) {
            *side = sides[i];
            return net;
        }
    }
    return NULL;
}

static void wall_on(const char *name)
{
    int side = 0;
    rlkd_net *net = build(name, &side);
    CHECK_MSG(net != NULL, "%s: %s", name, rlkd_last_error());
    if (!net)
        return;
    rlkd_dataset *data;
    test_must(rlkd_dataset_create(1, 3, side, side, 10, &data), "dataset");
    rlkd_loader_options lo;
    rlkd_loader_options_init(&lo);
    lo.batch_size = 1;
    lo.shuffle = 0;
    rlkd_loader *loader;
    test_must(rlkd_loader_create(test_ctx, data, &lo, &loader), "loader");

    episodes_seen *seen = calloc(1, sizeof *seen);
    rlkd_search_options o;
    rlkd_search_options_init(&o);
    o.episodes = EPISODES;
    o.warmup_episodes = EPISODES - 1; /* the last one acts by the actor */
    o.hidden1 = o.hidden2 = 16;
    o.seed = 5;
    o.progress = remember;
    o.progress_user = seen;
    int64_t before;
    CHECK_OK(rlkd_net_cost(net, NULL, &before));
    const int64_t target = (int64_t)(0.4 * (double)before);
    rlkd_search *s = NULL;
    CHECK_OK(rlkd_search_create_net(net, NULL, loader, NULL, NULL, &o, &s));
    CHECK_OK(rlkd_search_run(s, EPISODES));
    CHECK_MSG(seen->count == EPISODES, "%s: %d episodes", name, seen->count);
    for (int e = 0; e < seen->count; e++) {
        int last_group = -1, last_channels = 0;
        int *keep = seen->keep[e];
        const int64_t macs = masked_macs(net, keep, &last_group,
                                         &last_channels);
        CHECK_MSG(macs == seen->macs[e], "%s episode %d: masked %lld, the "
                  "search counted %lld", name, e, (long long)macs,
                  (long long)seen->macs[e]);
        CHECK_MSG(macs <= target, "%s episode %d: %lld MACs > target %lld",
                  name, e, (long long)macs, (long long)target);
        int *last = &keep[seen->layers - 1];
        if (*last + 8 <= last_channels) {
            *last += 8;
            const int64_t more = masked_macs(net, keep, &last_group,
                                             &last_channels);
            CHECK_MSG(more > target, "%s episode %d: one more step of the "
                      "last layer still fits (%lld <= %lld)", name, e,
                      (long long)more, (long long)target);
        }
    }
    rlkd_search_destroy(s);
    free(seen);
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(data);
    rlkd_net_destroy(net);
}

static void every_zoo_network(void)
{
    int networks = 0;
    for (int i = 0; rlkd_zoo_name(i); i++, networks++)
        wall_on(rlkd_zoo_name(i));
    CHECK(networks >= 20);
}

int main(void)
{
    test_main_begin();
    test_run("action_wall_on_every_zoo_network", every_zoo_network);
    test_main_end();
    return test_finish();
}
