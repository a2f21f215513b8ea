/*
 * The RL pruning search (L4): argument checks, the action wall, learning a
 * toy problem whose best policy is known, save and resume, the network
 * environment and the compression pipeline.
 */
#include "testlib.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define TOY_LAYERS 16

/* ---- a toy environment: independent layers, a known best policy ---- */

/* Layer i costs macs_per_channel[i] per kept channel; the score is
 * 1 - sum (ratio_i - best_i)^2 / 4 with best ratios falling from 0.9 to 0.3
 * with depth (a smooth function of the layer's state, as pruning
 * sensitivity is of a real layer's), whose mean 0.6 is the budget: the
 * best policy is known and meets the target. */
typedef struct toy {
    int channels[TOY_LAYERS];
    int64_t macs_per_channel[TOY_LAYERS];
    double best[TOY_LAYERS];
    int calls;
    int fail_after; /* score fails from this call on; 0: never */
} toy;

static rlkd_status toy_cost(void *user, const int *keep, int count,
                            int64_t *macs)
{
    const toy *t = user;
    *macs = 0;
    for (int i = 0; i < count; i++)
        *macs += t->macs_per_channel[i] * keep[i];
    return RLKD_OK;
}

static rlkd_status toy_score(void *user, const int *keep, const double *ratios,
                             int count, double *score, double *accuracy)
{
    (void)keep;
    toy *t = user;
    if (t->fail_after && ++t->calls >= t->fail_after)
        return RLKD_ERR_IO;
    double error = 0.0;
    for (int i = 0; i < count; i++)
        error += (ratios[i] - t->best[i]) * (ratios[i] - t->best[i]);
    *score = 1.0 - error / 4.0;
    (void)accuracy; /* left NaN: the toy has no accuracy */
    return RLKD_OK;
}

static toy make_toy(void)
{
    toy t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < TOY_LAYERS; i++) {
        t.channels[i] = 64;
        t.macs_per_channel[i] = 100;
        t.best[i] = 0.9 - 0.6 * i / (TOY_LAYERS - 1);
    }
    return t;
}

static void toy_layers(rlkd_search_layer *layers, const toy *t)
{
    for (int i = 0; i < TOY_LAYERS; i++) {
        rlkd_search_layer_init(&layers[i]);
        layers[i].channels = t->channels[i];
        layers[i].in_channels = 64;
        layers[i].kernel = 3;
        layers[i].macs = t->macs_per_channel[i] * t->channels[i];
        layers[i].params = layers[i].macs;
    }
}

/* Small networks for the agent, so that the test runs under valgrind. */
static rlkd_search_options small_options(int episodes, int warmup)
{
    rlkd_search_options o;
    rlkd_search_options_init(&o);
    o.episodes = episodes;
    o.warmup_episodes = warmup;
    o.hidden1 = o.hidden2 = 8; /* the tests that need learning widen it */
    o.macs_fraction = 0.6;
    o.seed = 11;
    return o;
}

static rlkd_search *toy_search(toy *t, const rlkd_search_options *o)
{
    rlkd_search_layer layers[TOY_LAYERS];
    toy_layers(layers, t);
    rlkd_search *s = NULL;
    test_must(rlkd_search_create(layers, TOY_LAYERS, toy_cost, toy_score, t,
                                 o, &s),
              "rlkd_search_create");
    return s;
}

/* Every episode's policy and reward, from the progress callback. */
typedef struct episodes_seen {
    int count;
    int keep[400][TOY_LAYERS];
    int64_t macs[400];
    double reward[400];
} episodes_seen;

static void remember_episode(const rlkd_search_episode *e, void *user)
{
    episodes_seen *seen = user;
    if (seen->count >= 400 || e->layers > TOY_LAYERS)
        return;
    memcpy(seen->keep[seen->count], e->keep, (size_t)e->layers * sizeof(int));
    seen->macs[seen->count] = e->macs;
    seen->reward[seen->count] = e->reward;
    seen->count++;
}

/* ---- cases ---- */

static void errors(void)
{
    toy t = make_toy();
    rlkd_search_layer layers[TOY_LAYERS];
    toy_layers(layers, &t);
    rlkd_search *s = NULL;
    rlkd_search_options o = small_options(5, 2);
    CHECK_FAILS(rlkd_search_create(NULL, 4, toy_cost, toy_score, &t, &o, &s),
                RLKD_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(rlkd_search_create(layers, 0, toy_cost, toy_score, &t, &o, &s),
                RLKD_ERR_INVALID_ARGUMENT, "count");
    o.macs_fraction = 0.0;
    CHECK_FAILS(rlkd_search_create(layers, 4, toy_cost, toy_score, &t, &o, &s),
                RLKD_ERR_INVALID_ARGUMENT, "macs_fraction");
    o = small_options(5, 2);
    o.lbound = 0.9;
    o.rbound = 0.5;
    CHECK_FAILS(rlkd_search_create(layers, 4, toy_cost, toy_score, &t, &o, &s),
                RLKD_ERR_INVALID_ARGUMENT, "lbound");
    o = small_options(5, 2);
    o.lbound = 0.9; /* every layer at 0.9 keeps 0.875 or more: above 0.6 */
    CHECK_FAILS(rlkd_search_create(layers, 4, toy_cost, toy_score, &t, &o, &s),
                RLKD_ERR_INVALID_ARGUMENT, "above the target");
    layers[2].channels = 0;
    o = small_options(5, 2);
    CHECK_FAILS(rlkd_search_create(layers, 4, toy_cost, toy_score, &t, &o, &s),
                RLKD_ERR_INVALID_ARGUMENT, "layers[2]");
    CHECK(s == NULL);

    s = toy_search(&t, &o);
    int keep[TOY_LAYERS];
    CHECK_FAILS(rlkd_search_best(s, keep, TOY_LAYERS, NULL, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "no episode");
    CHECK_FAILS(rlkd_search_run(s, 6), RLKD_ERR_INVALID_ARGUMENT, "episodes");
    CHECK_FAILS(rlkd_search_run(NULL, 1), RLKD_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_OK(rlkd_search_run(s, 2));
    CHECK_FAILS(rlkd_search_best(s, keep, 3, NULL, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "count");
    CHECK_FAILS(rlkd_search_apply_best(s), RLKD_ERR_INVALID_ARGUMENT,
                "network search");
    /* A failing score stops the run and the episode does not count. */
    t.fail_after = t.calls = 1;
    CHECK(rlkd_search_run(s, 4) == RLKD_ERR_IO);
    int64_t done = -1;
    CHECK_OK(rlkd_search_episode_count(s, &done));
    CHECK(done == 2);
    rlkd_search_destroy(s);
    rlkd_search_destroy(NULL);
}

/* The action wall: no episode exceeds the target, and with fill_budget no
 * episode leaves a whole rounding step of the last layer unused. */
static void action_wall(void)
{
    toy t = make_toy();
    t.macs_per_channel[1] = 300; /* unequal layers */
    t.channels[TOY_LAYERS - 1] = 60; /* not a multiple of 8 */
    for (int fill = 0; fill <= 1; fill++) {
        rlkd_search_options o = small_options(40, 20);
        o.fill_budget = fill;
        episodes_seen *seen = calloc(1, sizeof *seen);
        o.progress = remember_episode;
        o.progress_user = seen;
        rlkd_search *s = toy_search(&t, &o);
        CHECK_OK(rlkd_search_run(s, 40));
        CHECK(seen->count == 40);
        int64_t full = 0;
        for (int i = 0; i < TOY_LAYERS; i++)
            full += t.macs_per_channel[i] * t.channels[i];
        const int64_t target = (int64_t)floor(0.6 * (double)full);
        int under_by_more = 0;
        for (int e = 0; e < seen->count; e++) {
            CHECK_MSG(seen->macs[e] <= target, "episode %d: %lld MACs > %lld",
                      e, (long long)seen->macs[e], (long long)target);
            for (int i = 0; i < TOY_LAYERS; i++)
                CHECK(seen->keep[e][i] % 8 == 0 ||
                      seen->keep[e][i] == t.channels[i]);
            const int last = seen->keep[e][TOY_LAYERS - 1];
            const int64_t step_up =
                t.macs_per_channel[TOY_LAYERS - 1] *
                ((last + 8 > t.channels[TOY_LAYERS - 1]
                      ? t.channels[TOY_LAYERS - 1]
                      : last + 8) - last);
            under_by_more += step_up > 0 && seen->macs[e] + step_up <= target;
        }
        if (fill)
            CHECK_MSG(under_by_more == 0,
                      "%d episodes could keep one more step", under_by_more);
        else
            CHECK_MSG(under_by_more > 0,
                      "without the lower wall random actions should leave "
                      "budget unused");
        rlkd_search_destroy(s);
        free(seen);
    }
}

/* The best reward of a search of `episodes` (random for the first
 * `warmup`), and the mean reward of its last 20 episodes. */
static double toy_run(int episodes, int warmup, double *last_mean)
{
    toy t = make_toy();
    rlkd_search_options o = small_options(episodes, warmup);
    o.hidden1 = o.hidden2 = 32;
    o.actor_lr = 1e-3f;
    o.seed = 2;
    episodes_seen *seen = calloc(1, sizeof *seen);
    o.progress = remember_episode;
    o.progress_user = seen;
    rlkd_search *s = toy_search(&t, &o);
    double best = -1.0;
    CHECK_OK(rlkd_search_run(s, episodes));
    CHECK_OK(rlkd_search_best(s, NULL, 0, &best, NULL, NULL));
    *last_mean = 0.0;
    for (int e = episodes - 20; e < episodes; e++)
        *last_mean += seen->reward[e] / 20.0;
    rlkd_search_destroy(s);
    free(seen);
    return best;
}

/* On 16 layers, where 200 random policies rarely get every layer right,
 * the agent's own late policy beats the best of 200 random ones, and so
 * does the best policy it found (a constant policy scores about 0.88). */
static void learns_toy(void)
{
    /* Thousands of agent updates: minutes under valgrind, whose run adds
     * nothing here (the same calls run in the other cases). */
    if (getenv("RLKD_TEST_VALGRIND")) {
        test_skip("learning takes minutes under valgrind; the plain and "
                  "sanitizer runs check it");
        return;
    }
    double random_last, agent_last;
    const double random_best = toy_run(200, 200, &random_last);
    const double agent_best = toy_run(200, 50, &agent_last);
    CHECK_MSG(agent_last > random_best && agent_best > random_best + 0.02,
              "the agent's last 20 episodes average %.4f, its best %.4f; the "
              "best of 200 random episodes %.4f", agent_last, agent_best,
              random_best);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fclose(f);
    return size;
}

static int same_files(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        const int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CHECK(in && out);
    int c;
    while (in && out && (c = fgetc(in)) != EOF)
        fputc(c, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int lines = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        lines += c == '\n';
    if (f)
        fclose(f);
    return lines;
}

/* Interrupted at episode 15 and resumed, a search ends where an
 * uninterrupted one does, bit for bit (the saved states are equal files). */
static void resume_equals_uninterrupted(void)
{
    char whole[TEST_PATH_BYTES], half[TEST_PATH_BYTES],
        resumed[TEST_PATH_BYTES], log[TEST_PATH_BYTES],
        policy[TEST_PATH_BYTES];
    test_temp_path(whole, "whole.safetensors");
    test_temp_path(half, "half.safetensors");
    test_temp_path(resumed, "resumed.safetensors");
    test_temp_path(log, "episodes.jsonl");
    test_temp_path(policy, "policy.json");
    char saved[TEST_PATH_BYTES];
    test_temp_path(saved, "saved.safetensors");
    toy t = make_toy();
    rlkd_search_options o = small_options(30, 10);

    rlkd_search *a = toy_search(&t, &o);
    CHECK_OK(rlkd_search_run(a, 30));
    CHECK_OK(rlkd_search_save(a, whole));
    rlkd_search_destroy(a);

    o.log_path = log;
    o.policy_path = policy;
    o.state_path = half;
    o.save_every = 5;
    rlkd_search *b = toy_search(&t, &o);
    CHECK_OK(rlkd_search_run(b, 15)); /* saves at 5, 10 and 15 */
    copy_file(half, saved);
    /* Two more episodes, then the process "dies": their log lines stay. */
    CHECK_OK(rlkd_search_run(b, 17));
    rlkd_search_destroy(b);
    CHECK(count_lines(log) == 17);
    CHECK(file_size(policy) > 0);

    rlkd_search *c = toy_search(&t, &o);
    CHECK_OK(rlkd_search_resume(c, saved));
    int64_t done;
    CHECK_OK(rlkd_search_episode_count(c, &done));
    CHECK(done == 15);
    CHECK(count_lines(log) == 15); /* cut back to the saved episodes */
    CHECK_OK(rlkd_search_run(c, 30));
    CHECK(count_lines(log) == 30);
    CHECK_OK(rlkd_search_save(c, resumed));
    CHECK_MSG(same_files(whole, resumed),
              "the resumed search's state differs from the uninterrupted");
    rlkd_search_destroy(c);
}

/* Bad state files are refused whole and change nothing. */
static void corrupt_state(void)
{
    char good[TEST_PATH_BYTES], bad[TEST_PATH_BYTES];
    test_temp_path(good, "state.safetensors");
    test_temp_path(bad, "bad.safetensors");
    toy t = make_toy();
    rlkd_search_options o = small_options(10, 3);
    rlkd_search *s = toy_search(&t, &o);
    CHECK_OK(rlkd_search_run(s, 5));
    CHECK_OK(rlkd_search_save(s, good));

    FILE *f = fopen(good, "rb");
    const long size = file_size(good);
    char *bytes = malloc((size_t)size);
    CHECK(f && fread(bytes, 1, (size_t)size, f) == (size_t)size);
    if (f)
        fclose(f);
    rlkd_search *fresh = toy_search(&t, &o);
    /* truncated */
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size / 2, f);
    fclose(f);
    CHECK(rlkd_search_resume(fresh, bad) != RLKD_OK);
    /* a best policy keeping NaN channels (its tensor ends the file) */
    float last;
    const float nan_value = NAN;
    memcpy(&last, bytes + size - sizeof last, sizeof last);
    memcpy(bytes + size - sizeof nan_value, &nan_value, sizeof nan_value);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fclose(f);
    CHECK_FAILS(rlkd_search_resume(fresh, bad), RLKD_ERR_FORMAT,
                "best policy keeps nan");
    memcpy(bytes + size - sizeof last, &last, sizeof last);
    /* a flipped byte in the header's counters */
    char *at = strstr(bytes + 8, "rlkd_search\":\"");
    CHECK(at != NULL);
    if (at) {
        at[14] = 'x';
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)size, f);
        fclose(f);
        CHECK_FAILS(rlkd_search_resume(fresh, bad), RLKD_ERR_FORMAT,
                    "malformed");
    }
    int64_t done = -1;
    CHECK_OK(rlkd_search_episode_count(fresh, &done));
    CHECK(done == 0);
    /* another search's state */
    rlkd_search_options other = o;
    other.seed = 12;
    rlkd_search *different = toy_search(&t, &other);
    CHECK_FAILS(rlkd_search_resume(different, good), RLKD_ERR_FORMAT,
                "other layers or options");
    /* not a search state: a network checkpoint */
    rlkd_zoo_options z;
    rlkd_zoo_options_init(&z);
    z.num_classes = 10;
    z.in_channels = 1;
    z.in_height = z.in_width = 28;
    z.width_multiplier = 0.25f;
    rlkd_net *net;
    test_must(rlkd_zoo_create(test_ctx, "vgg_small", &z, &net), "vgg_small");
    CHECK_OK(rlkd_net_save(net, bad));
    CHECK_FAILS(rlkd_search_resume(fresh, bad), RLKD_ERR_FORMAT,
                "not a search state");
    rlkd_net_destroy(net);
    CHECK_OK(rlkd_search_resume(fresh, good));
    CHECK_OK(rlkd_search_episode_count(fresh, &done));
    CHECK(done == 5);
    free(bytes);
    rlkd_search_destroy(s);
    rlkd_search_destroy(fresh);
    rlkd_search_destroy(different);
}

/* ---- the network environment and the pipeline ---- */

#define SIDE 12
#define IMAGES 32
#define CLASSES 4

static rlkd_dataset *band_dataset(void)
{
    return test_band_dataset(IMAGES, SIDE, CLASSES, 3, 77);
}

static rlkd_loader *loader_of(const rlkd_dataset *data, int shuffle)
{
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    o.batch_size = 16;
    o.shuffle = shuffle;
    rlkd_loader *loader;
    test_must(rlkd_loader_create(test_ctx, data, &o, &loader), "loader");
    return loader;
}

/* conv 16 - BN - ReLU - pool - conv 32 - BN - ReLU - mean - linear: two
 * prunable groups, small enough for valgrind. */
static rlkd_net *small_net(void)
{
    rlkd_net *net;
    int node;
    test_must(rlkd_net_create(test_ctx, 1, SIDE, SIDE, &net), "net");
    test_must(rlkd_net_add_conv2d(net, &node, "conv1", 0, 16, 3, 1, 1, 1, 1, 0),
              "conv1");
    test_must(rlkd_net_add_batchnorm2d(net, &node, "bn1", node, 1e-5f, 0.1f),
              "bn1");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu1");
    test_must(rlkd_net_add_maxpool2d(net, &node, NULL, node, 2, 2, 0), "pool");
    test_must(rlkd_net_add_conv2d(net, &node, "conv2", node, 32, 3, 1, 1, 1, 1,
                                  0),
              "conv2");
    test_must(rlkd_net_add_batchnorm2d(net, &node, "bn2", node, 1e-5f, 0.1f),
              "bn2");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu2");
    test_must(rlkd_net_add_global_avgpool(net, &node, NULL, node), "mean");
    test_must(rlkd_net_add_linear(net, &node, "fc", node, CLASSES, 1), "fc");
    return net;
}

static float first_value(rlkd_net *net, const char *name)
{
    rlkd_tensor *t;
    test_must(rlkd_net_find(net, name, &t), name);
    float *values = t_get(t);
    const float v = values[0];
    free(values);
    return v;
}

static void net_search(void)
{
    rlkd_dataset *data = band_dataset();
    rlkd_loader *validation = loader_of(data, 0), *train = loader_of(data, 1);
    rlkd_net *net = small_net(), *teacher = small_net();
    rlkd_net_env_options env;
    rlkd_net_env_options_init(&env);
    env.recalibrate_batches = 2;
    env.teacher_weight = 0.5;
    env.max_images = 20; /* two batches of 16 */
    rlkd_search_options o = small_options(4, 3);
    o.macs_fraction = 0.4;
    o.reward_scaling = 1;
    const float weight = first_value(net, "conv1.weight");
    const float mean = first_value(net, "bn1.running_mean");
    int64_t macs_before;
    CHECK_OK(rlkd_net_cost(net, NULL, &macs_before));

    rlkd_search *s = NULL;
    CHECK_FAILS(rlkd_search_create_net(net, NULL, validation, train, &env, &o,
                                       &s),
                RLKD_ERR_INVALID_ARGUMENT, "teacher");
    CHECK_OK(rlkd_search_create_net(net, teacher, validation, train, &env, &o,
                                    &s));
    CHECK_OK(rlkd_search_run(s, 4));
    int64_t macs;
    CHECK_OK(rlkd_net_cost(net, NULL, &macs));
    CHECK(macs == macs_before); /* masks cleared after every episode */
    CHECK(first_value(net, "conv1.weight") == weight);
    CHECK(first_value(net, "bn1.running_mean") == mean);

    double reward, score;
    int64_t best_macs;
    CHECK_OK(rlkd_search_best(s, NULL, 0, &reward, &score, &best_macs));
    CHECK(score >= 0.0 && score <= 1.0);
    CHECK(best_macs <= (int64_t)(0.4 * (double)macs_before));
    CHECK_OK(rlkd_search_apply_best(s));
    CHECK_OK(rlkd_net_cost(net, NULL, &macs));
    CHECK_MSG(macs == best_macs, "masked MACs %lld, the search's %lld",
              (long long)macs, (long long)best_macs);
    rlkd_search_destroy(s);
    rlkd_net_destroy(net);
    rlkd_net_destroy(teacher);
    rlkd_loader_destroy(validation);
    rlkd_loader_destroy(train);
    rlkd_dataset_destroy(data);
}

static void compress_pipeline(void)
{
    rlkd_dataset *data = band_dataset();
    rlkd_loader *validation = loader_of(data, 0), *train = loader_of(data, 1);
    rlkd_net *teacher = small_net();
    const rlkd_compress_method methods[] = {RLKD_METHOD_RLKD, RLKD_METHOD_AMC,
                                            RLKD_METHOD_UNIFORM,
                                            RLKD_METHOD_SFP};
    for (int m = 0; m < 4; m++) {
        rlkd_net *student = small_net(), *small = NULL;
        rlkd_compress_options o;
        rlkd_compress_options_init(&o);
        o.method = methods[m];
        o.distill_epochs = m == 0;
        o.finetune_epochs = 1;
        o.search = small_options(3, 2);
        o.search.macs_fraction = 0.4;
        o.env.max_images = 16;
        rlkd_compress_report report;
        report.struct_size = sizeof report;
        CHECK_OK(rlkd_compress(student, teacher, train, validation, validation,
                               &o, &small, &report));
        int64_t macs;
        CHECK_OK(rlkd_net_cost(small, NULL, &macs));
        CHECK(macs == report.macs);
        CHECK_MSG(macs <= (int64_t)(0.4 * (double)report.macs_before),
                  "method %d: %lld of %lld MACs", m, (long long)macs,
                  (long long)report.macs_before);
        CHECK(report.top1 >= 0.0 && report.top1 <= 1.0);
        CHECK(report.student_top1 >= 0.0 && report.student_top1 <= 1.0);
        CHECK((m < 2) == !isnan(report.search_reward));
        CHECK(report.episodes == (m < 2 ? 3 : 0));
        rlkd_net_destroy(small);
        rlkd_net_destroy(student);
    }
    rlkd_net *student = small_net();
    rlkd_compress_options o;
    rlkd_compress_options_init(&o);
    rlkd_compress_report report;
    report.struct_size = sizeof report;
    CHECK_FAILS(rlkd_compress(student, NULL, train, validation, NULL, &o, NULL,
                              &report),
                RLKD_ERR_INVALID_ARGUMENT, "teacher");
    CHECK_FAILS(rlkd_compress(student, teacher, train, validation, NULL, NULL,
                              NULL, &report),
                RLKD_ERR_INVALID_ARGUMENT, "options");
    report.struct_size = 0;
    CHECK_FAILS(rlkd_compress(student, teacher, train, validation, NULL, &o,
                              NULL, &report),
                RLKD_ERR_INVALID_ARGUMENT, "struct_size");
    report.struct_size = sizeof report;
    o.struct_size = offsetof(rlkd_compress_options, stage_user);
    CHECK_FAILS(rlkd_compress(student, teacher, train, validation, NULL, &o,
                              NULL, &report),
                RLKD_ERR_INVALID_ARGUMENT, "struct_size");
    /* A caller built before the communicator fields: its struct ends
     * before them, and what lies after is not read (here: nonsense). */
    o.struct_size = offsetof(rlkd_compress_options, comm);
    o.method = RLKD_METHOD_UNIFORM;
    o.finetune_epochs = 1;
    o.comm = (rlkd_comm *)&o;
    CHECK_OK(rlkd_compress(student, teacher, train, validation, NULL, &o,
                           NULL, &report));
    rlkd_net_destroy(student);
    rlkd_net_destroy(teacher);
    rlkd_loader_destroy(validation);
    rlkd_loader_destroy(train);
    rlkd_dataset_destroy(data);
}

int main(void)
{
    test_main_begin();
    test_run("errors", errors);
    test_run("action_wall", action_wall);
    test_run("learns_toy", learns_toy);
    test_run("resume_equals_uninterrupted", resume_equals_uninterrupted);
    test_run("corrupt_state", corrupt_state);
    test_run("net_search", net_search);
    test_run("compress_pipeline", compress_pipeline);
    test_main_end();
    return test_finish();
}
