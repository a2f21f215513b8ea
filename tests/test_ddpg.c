/* ddpg: the RL search's DDPG agent (lib/search/ddpg.c): config checks, the
 * state tensors' names and initial values, both networks' gradients
 * against central differences of a double-precision reference, one
 * update's Adam steps and their order, the batches' rows, learning a
 * one-step bandit, the soft update's extremes, determinism, restoring from
 * state tensors and counters, and the counters' range checks. */
#include "testlib.h"
#include "../lib/search/ddpg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static rlkd_ddpg_config tiny_config(void)
{
    rlkd_ddpg_config c = {
        .state_dim = 3,
        .hidden1 = 5,
        .hidden2 = 4,
        .actor_lr = 1e-3f,
        .critic_lr = 1e-3f,
        .tau = 0.01f,
        .discount = 0.9f,
        .buffer_size = 8,
        .batch_size = 4,
        .seed = 7,
    };
    return c;
}

static rlkd_ddpg *make_agent(const rlkd_ddpg_config *config)
{
    rlkd_ddpg *agent = NULL;
    test_must(rlkd_ddpg_create(config, &agent), "rlkd_ddpg_create");
    return agent;
}

static rlkd_tensor *state_tensor(rlkd_ddpg *agent, const char *name)
{
    for (int i = 0; i < rlkd_ddpg_state_count(agent); i++) {
        const char *n = NULL;
        rlkd_tensor *t = NULL;
        rlkd_ddpg_state_tensor(agent, i, &n, &t);
        if (strcmp(n, name) == 0)
            return t;
    }
    test_fatal(name);
    return NULL;
}

/* Transition i of a test's stream: random states, a random action,
 * a reward from the action, every third one terminal. */
static void transition(int dim, uint64_t i, float *state, float *action,
                       float *reward, float *next_state, int *terminal)
{
    test_fill_uniform(state, (size_t)dim, -1.0f, 1.0f, 100 + 3 * i);
    test_fill_uniform(next_state, (size_t)dim, -1.0f, 1.0f, 101 + 3 * i);
    test_fill_uniform(action, 1, 0.0f, 1.0f, 102 + 3 * i);
    *reward = -(*action - 0.7f) * (*action - 0.7f) + 0.1f * state[0];
    *terminal = i % 3 == 2;
}

static void remember_stream(rlkd_ddpg *agent, int dim, uint64_t first,
                            int count)
{
    float state[16], next_state[16], action, reward;
    int terminal;
    for (int i = 0; i < count; i++) {
        transition(dim, first + (uint64_t)i, state, &action, &reward,
                   next_state, &terminal);
        rlkd_ddpg_remember(agent, state, action, reward, next_state,
                           terminal);
    }
}

/* ---- a double-precision reference of both networks (hidden1 <= 64) ---- */

typedef struct dims {
    int s, h1, h2;
} dims;

/* A network's parameters ("actor." or "critic_target." ...) concatenated
 * in state order, as doubles. */
static double *read_net(rlkd_ddpg *agent, const char *prefix, size_t *count)
{
    size_t total = 0;
    double *values = NULL;
    for (int i = 0; i < rlkd_ddpg_state_count(agent); i++) {
        const char *name = NULL;
        rlkd_tensor *t = NULL;
        rlkd_ddpg_state_tensor(agent, i, &name, &t);
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            continue;
        const size_t n = (size_t)rlkd_tensor_numel(t);
        values = realloc(values, (total + n) * sizeof *values);
        float *x = t_get(t);
        for (size_t j = 0; j < n; j++)
            values[total + j] = x[j];
        free(x);
        total += n;
    }
    if (count)
        *count = total;
    return values;
}

static double relu_d(double x)
{
    return x > 0.0 ? x : 0.0;
}

/* fc1 -> ReLU -> fc2 -> ReLU -> fc3 -> sigmoid */
static double ref_actor(const dims *d, const double *p, const float *state)
{
    const double *w1 = p, *b1 = w1 + d->h1 * d->s, *w2 = b1 + d->h1,
                 *b2 = w2 + d->h2 * d->h1, *w3 = b2 + d->h2, *b3 = w3 + d->h2;
    double x1[64], out = b3[0];
    for (int j = 0; j < d->h1; j++) {
        double sum = b1[j];
        for (int i = 0; i < d->s; i++)
            sum += w1[j * d->s + i] * state[i];
        x1[j] = relu_d(sum);
    }
    for (int k = 0; k < d->h2; k++) {
        double sum = b2[k];
        for (int j = 0; j < d->h1; j++)
            sum += w2[k * d->h1 + j] * x1[j];
        out += w3[k] * relu_d(sum);
    }
    return 1.0 / (1.0 + exp(-out));
}

/* relu(fc1_s(s) + fc1_a(a)) -> fc2 -> ReLU -> fc3 */
static double ref_critic(const dims *d, const double *p, const float *state,
                         double action)
{
    const double *ws = p, *bs = ws + d->h1 * d->s, *wa = bs + d->h1,
                 *ba = wa + d->h1, *w2 = ba + d->h1, *b2 = w2 + d->h2 * d->h1,
                 *w3 = b2 + d->h2, *b3 = w3 + d->h2;
    double x1[64], out = b3[0];
    for (int j = 0; j < d->h1; j++) {
        double sum = bs[j] + wa[j] * action + ba[j];
        for (int i = 0; i < d->s; i++)
            sum += ws[j * d->s + i] * state[i];
        x1[j] = relu_d(sum);
    }
    for (int k = 0; k < d->h2; k++) {
        double sum = b2[k];
        for (int j = 0; j < d->h1; j++)
            sum += w2[k * d->h1 + j] * x1[j];
        out += w3[k] * relu_d(sum);
    }
    return out;
}

/* ---- cases ---- */

static void bad_configs(void)
{
    const rlkd_ddpg_config good = tiny_config();
    rlkd_ddpg *agent = (rlkd_ddpg *)&agent; /* must be cleared on failure */
    CHECK_FAILS(rlkd_ddpg_create(NULL, &agent), RLKD_ERR_INVALID_ARGUMENT,
                "config");
    CHECK(agent == NULL);
    CHECK_FAILS(rlkd_ddpg_create(&good, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "out");
    struct {
        rlkd_ddpg_config config;
        const char *needle;
    } bad[12];
    for (int i = 0; i < 12; i++)
        bad[i].config = good;
    bad[0].config.state_dim = 0, bad[0].needle = "state_dim";
    bad[1].config.hidden1 = -1, bad[1].needle = "hidden1";
    bad[2].config.hidden2 = 0, bad[2].needle = "hidden2";
    bad[3].config.actor_lr = -1e-3f, bad[3].needle = "actor_lr";
    bad[4].config.critic_lr = NAN, bad[4].needle = "critic_lr";
    bad[5].config.tau = 1.5f, bad[5].needle = "tau";
    bad[6].config.tau = -0.1f, bad[6].needle = "tau";
    bad[7].config.tau = NAN, bad[7].needle = "tau";
    bad[8].config.discount = INFINITY, bad[8].needle = "discount";
    bad[9].config.buffer_size = 0, bad[9].needle = "buffer_size";
    bad[10].config.batch_size = 0, bad[10].needle = "batch_size";
    bad[11].config.batch_size = -5, bad[11].needle = "-5";
    for (int i = 0; i < 12; i++) {
        agent = (rlkd_ddpg *)&agent;
        CHECK_FAILS(rlkd_ddpg_create(&bad[i].config, &agent),
                    RLKD_ERR_INVALID_ARGUMENT, bad[i].needle);
        CHECK_MSG(agent == NULL, "config %d: *out not cleared", i);
    }
    rlkd_ddpg_destroy(NULL);

    agent = make_agent(&good);
    CHECK_FAILS(rlkd_ddpg_update(agent, 0.0f, 1.0f, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "empty");
    remember_stream(agent, good.state_dim, 0, 1);
    CHECK_FAILS(rlkd_ddpg_update(agent, 0.0f, 0.0f, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "reward_scale");
    CHECK_FAILS(rlkd_ddpg_update(agent, NAN, 1.0f, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "reward_shift");
    CHECK_OK(rlkd_ddpg_update(agent, 0.0f, 1.0f, NULL));
    rlkd_ddpg_destroy(agent);
}

static void state_and_init(void)
{
    const rlkd_ddpg_config config = tiny_config();
    rlkd_ddpg *agent = make_agent(&config);
    CHECK(rlkd_ddpg_state_count(agent) == 61);
    const char *expected[] = {"actor.fc1.weight", "critic_target.fc3.bias",
                              "actor_adam.m.fc1.weight",
                              "critic_adam.v.fc1_a.weight", "buffer.state",
                              "buffer.terminal"};
    for (size_t e = 0; e < sizeof expected / sizeof expected[0]; e++) {
        int found = 0;
        for (int i = 0; i < rlkd_ddpg_state_count(agent); i++) {
            const char *name = NULL;
            rlkd_ddpg_state_tensor(agent, i, &name, NULL);
            found += strcmp(name, expected[e]) == 0;
        }
        CHECK_MSG(found == 1, "%s found %d times", expected[e], found);
    }
    const char *name = "x";
    rlkd_tensor *value = (rlkd_tensor *)&value;
    rlkd_ddpg_state_tensor(agent, 61, &name, &value);
    CHECK(name == NULL && value == NULL);

    rlkd_tensor *w1 = state_tensor(agent, "actor.fc1.weight");
    CHECK(rlkd_tensor_ndim(w1) == 2 && rlkd_tensor_dim(w1, 0) == 5 &&
          rlkd_tensor_dim(w1, 1) == 3);
    CHECK(rlkd_tensor_numel(state_tensor(agent, "critic.fc1_a.weight")) == 5);
    CHECK(rlkd_tensor_numel(state_tensor(agent, "buffer.next_state")) == 24);

    /* PyTorch's bounds, DDPG's for the output layers; targets are copies */
    struct {
        const char *name;
        double bound;
    } bounds[] = {{"actor.fc1.weight", 1 / sqrt(3.0)},
                  {"critic.fc1_a.bias", 1.0},
                  {"critic.fc2.weight", 1 / sqrt(5.0)},
                  {"actor.fc3.weight", 3e-3},
                  {"critic.fc3.bias", 3e-3}};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        rlkd_tensor *t = state_tensor(agent, bounds[b].name);
        float *x = t_get(t);
        double largest = 0.0;
        for (int64_t i = 0; i < rlkd_tensor_numel(t); i++)
            largest = fmax(largest, fabs(x[i]));
        CHECK_MSG(largest <= bounds[b].bound && largest > 0.2 * bounds[b].bound,
                  "%s: largest |value| %g for bound %g", bounds[b].name,
                  largest, bounds[b].bound);
        free(x);
    }
    CHECK(test_same_values(state_tensor(agent, "actor.fc2.weight"),
                           state_tensor(agent, "actor_target.fc2.weight")));
    CHECK(test_same_values(state_tensor(agent, "critic.fc1_s.bias"),
                           state_tensor(agent, "critic_target.fc1_s.bias")));
    CHECK(test_all_equal(state_tensor(agent, "critic_adam.v.fc2.weight"), 0));

    rlkd_ddpg_config other_seed = config;
    other_seed.seed = 8;
    rlkd_ddpg *other = make_agent(&other_seed);
    CHECK(!test_same_values(state_tensor(agent, "actor.fc1.weight"),
                            state_tensor(other, "actor.fc1.weight")));
    rlkd_ddpg_destroy(other);

    const float state[3] = {0.1f, -0.2f, 0.3f};
    const float mu = rlkd_ddpg_act(agent, state);
    CHECK_MSG(mu > 0.49f && mu < 0.51f, "mu = %g with tiny output weights",
              (double)mu);
    rlkd_ddpg_destroy(agent);
}

#define GRAD_BATCH 4

/* The gradient check's losses over a fixed batch, all in double. */
typedef struct grad_problem {
    dims d;
    double *actor, *critic, *actor_target, *critic_target;
    float states[GRAD_BATCH][3], next_states[GRAD_BATCH][3];
    float actions[GRAD_BATCH], rewards[GRAD_BATCH], terminals[GRAD_BATCH];
    double shift, scale, discount;
} grad_problem;

static double critic_loss_ref(void *ctx)
{
    const grad_problem *p = ctx;
    double loss = 0.0;
    for (int r = 0; r < GRAD_BATCH; r++) {
        const double next_action =
            ref_actor(&p->d, p->actor_target, p->next_states[r]);
        const double y = (p->rewards[r] - p->shift) / p->scale +
                         p->discount * (1.0 - p->terminals[r]) *
                             ref_critic(&p->d, p->critic_target,
                                        p->next_states[r], next_action);
        const double error =
            ref_critic(&p->d, p->critic, p->states[r], p->actions[r]) - y;
        loss += error * error;
    }
    return loss / GRAD_BATCH;
}

static double actor_loss_ref(void *ctx)
{
    const grad_problem *p = ctx;
    double loss = 0.0;
    for (int r = 0; r < GRAD_BATCH; r++)
        loss -= ref_critic(&p->d, p->critic, p->states[r],
                           ref_actor(&p->d, p->actor, p->states[r]));
    return loss / GRAD_BATCH;
}

/* Overwrites a network's parameters with U(-0.8, 0.8): the output layers'
 * tiny initial weights would leave the actor's gradient near zero. */
static void randomize_net(rlkd_ddpg *agent, const char *prefix,
                          uint64_t seed)
{
    for (int i = 0; i < rlkd_ddpg_state_count(agent); i++) {
        const char *name = NULL;
        rlkd_tensor *t = NULL;
        rlkd_ddpg_state_tensor(agent, i, &name, &t);
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            continue;
        const size_t n = (size_t)rlkd_tensor_numel(t);
        float *x = malloc(n * sizeof *x);
        test_fill_uniform(x, n, -0.8f, 0.8f, seed + (uint64_t)i);
        test_must(rlkd_tensor_write(t, x, n), "rlkd_tensor_write");
        free(x);
    }
}

static double largest_abs(const float *x, size_t n)
{
    double largest = 0.0;
    for (size_t i = 0; i < n; i++)
        largest = fmax(largest, fabs(x[i]));
    return largest;
}

static void gradients(void)
{
    const rlkd_ddpg_config config = tiny_config();
    rlkd_ddpg *agent = make_agent(&config);
    remember_stream(agent, config.state_dim, 0, 6);
    /* targets unlike the online networks, so that y must come from them */
    randomize_net(agent, "actor.", 1000);
    randomize_net(agent, "critic.", 2000);
    randomize_net(agent, "actor_target.", 3000);
    randomize_net(agent, "critic_target.", 4000);

    grad_problem p = {.d = {3, 5, 4}, .shift = 0.3, .scale = 2.0,
                      .discount = config.discount};
    const int rows[GRAD_BATCH] = {0, 5, 2, 5};
    for (int r = 0; r < GRAD_BATCH; r++) {
        int terminal;
        transition(3, (uint64_t)rows[r], p.states[r], &p.actions[r],
                   &p.rewards[r], p.next_states[r], &terminal);
        p.terminals[r] = (float)terminal;
    }
    size_t actor_n, critic_n;
    p.actor = read_net(agent, "actor.", &actor_n);
    p.critic = read_net(agent, "critic.", &critic_n);
    p.actor_target = read_net(agent, "actor_target.", NULL);
    p.critic_target = read_net(agent, "critic_target.", NULL);
    CHECK(actor_n == 5 * 3 + 5 + 4 * 5 + 4 + 4 + 1);
    CHECK(critic_n == 5 * 3 + 5 + 5 + 5 + 4 * 5 + 4 + 4 + 1);

    float loss = 0.0f;
    float *actor_grad = malloc(actor_n * sizeof *actor_grad);
    float *critic_grad = malloc(critic_n * sizeof *critic_grad);
    CHECK_OK(rlkd_ddpg_test_gradients(agent, rows, (float)p.shift,
                                      (float)p.scale, &loss, actor_grad,
                                      critic_grad));
    const double want_loss = critic_loss_ref(&p);
    CHECK_MSG(fabs(loss - want_loss) <= 1e-5 * (1.0 + want_loss),
              "TD loss %g, reference %g", (double)loss, want_loss);

    double *want_critic = malloc(critic_n * sizeof *want_critic);
    double *want_actor = malloc(actor_n * sizeof *want_actor);
    test_fd_gradient(critic_loss_ref, &p, p.critic, critic_n, 1e-6,
                     want_critic);
    test_fd_gradient(actor_loss_ref, &p, p.actor, actor_n, 1e-6, want_actor);
    test_close("critic gradient", critic_grad, want_critic, critic_n, 1e-5,
               1e-4);
    test_close("actor gradient", actor_grad, want_actor, actor_n, 1e-5, 1e-4);
    /* a check against gradients that vanish would prove nothing */
    CHECK_MSG(largest_abs(critic_grad, critic_n) > 0.05 &&
                  largest_abs(actor_grad, actor_n) > 0.01,
              "largest gradients: critic %g, actor %g",
              largest_abs(critic_grad, critic_n),
              largest_abs(actor_grad, actor_n));

    const int outside[GRAD_BATCH] = {0, 6, 1, 1};
    CHECK_FAILS(rlkd_ddpg_test_gradients(agent, outside, 0.0f, 1.0f, &loss,
                                         actor_grad, critic_grad),
                RLKD_ERR_INVALID_ARGUMENT, "rows[1]");
    free(want_actor);
    free(want_critic);
    free(actor_grad);
    free(critic_grad);
    free(p.actor);
    free(p.critic);
    free(p.actor_target);
    free(p.critic_target);
    rlkd_ddpg_destroy(agent);
}

/* The first Adam step from zero moments of network `net` ("actor" or
 * "critic"), whose parameters were `before`: its first moment is
 * (1 - beta1) grad, and the parameters moved by -lr * sign(grad) wherever
 * |grad| is well above eps. Returns how many moved. */
static int first_adam_step(rlkd_ddpg *agent, const char *net,
                           const double *before, const float *grad, size_t n,
                           double lr)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.", net);
    double *after = read_net(agent, prefix, NULL);
    snprintf(prefix, sizeof prefix, "%s_adam.m.", net);
    double *m = read_net(agent, prefix, NULL);
    int moved = 0;
    for (size_t i = 0; i < n; i++) {
        if (!CHECK_MSG(fabs(m[i] - 0.1 * grad[i]) <= 1e-5 * fabs(grad[i]),
                       "%s: m[%zu] = %g for grad %g", net, i, m[i],
                       (double)grad[i]))
            break;
        if (fabs(grad[i]) < 1e-4)
            continue;
        const double want = grad[i] > 0 ? -lr : lr;
        if (!CHECK_MSG(fabs(after[i] - before[i] - want) < 1e-3 * lr,
                       "%s[%zu]: moved %g, want %g (grad %g)", net, i,
                       after[i] - before[i], want, (double)grad[i]))
            break;
        moved++;
    }
    free(after);
    free(m);
    return moved;
}

/* One update from a buffer of one transition (so the batch is known):
 * the critic takes an Adam step along its gradient, then the actor along
 * its gradient through the critic as that step left it. */
static void update_steps(void)
{
    rlkd_ddpg_config config = tiny_config();
    config.actor_lr = 1e-2f;
    config.critic_lr = 2e-2f;
    rlkd_ddpg *agent = make_agent(&config), *twin = make_agent(&config);
    randomize_net(agent, "actor.", 5100);
    randomize_net(agent, "critic.", 5150);
    randomize_net(twin, "actor.", 5100);
    randomize_net(twin, "critic.", 5150);
    remember_stream(agent, config.state_dim, 1, 1);
    remember_stream(twin, config.state_dim, 1, 1);
    const int rows[GRAD_BATCH] = {0, 0, 0, 0};
    size_t actor_n, critic_n;
    double *actor_before = read_net(agent, "actor.", &actor_n);
    double *critic_before = read_net(agent, "critic.", &critic_n);
    float *actor_grad = malloc(actor_n * sizeof *actor_grad);
    float *critic_grad = malloc(critic_n * sizeof *critic_grad);
    float loss = 0.0f, update_loss = 1.0f;
    CHECK_OK(rlkd_ddpg_test_gradients(twin, rows, 0.3f, 2.0f, &loss,
                                      actor_grad, critic_grad));
    CHECK_OK(rlkd_ddpg_update(agent, 0.3f, 2.0f, &update_loss));
    CHECK_MSG(loss == update_loss, "loss %g, update's %g", (double)loss,
              (double)update_loss);
    const int critic_moved = first_adam_step(
        agent, "critic", critic_before, critic_grad, critic_n,
        config.critic_lr);

    /* the actor's gradient with the stepped critic, on the twin */
    for (int i = 0; i < rlkd_ddpg_state_count(agent); i++) {
        const char *name = NULL;
        rlkd_tensor *from = NULL, *to = NULL;
        rlkd_ddpg_state_tensor(agent, i, &name, &from);
        rlkd_ddpg_state_tensor(twin, i, NULL, &to);
        if (strncmp(name, "critic.", 7) != 0)
            continue;
        float *x = t_get(from);
        CHECK_OK(rlkd_tensor_write(to, x, (size_t)rlkd_tensor_numel(to)));
        free(x);
    }
    CHECK_OK(rlkd_ddpg_test_gradients(twin, rows, 0.3f, 2.0f, &loss,
                                      actor_grad, critic_grad));
    const int actor_moved = first_adam_step(
        agent, "actor", actor_before, actor_grad, actor_n, config.actor_lr);
    /* one state leaves many ReLUs off: not every parameter moves */
    CHECK_MSG(critic_moved >= 20 && actor_moved >= 15,
              "%d critic and %d actor parameters moved", critic_moved,
              actor_moved);
    uint64_t counters[RLKD_DDPG_COUNTERS];
    rlkd_ddpg_counters(agent, counters);
    CHECK(counters[2] == 1 && counters[3] == 1);
    CHECK(counters[4] == (uint64_t)config.batch_size);
    free(actor_before);
    free(critic_before);
    free(actor_grad);
    free(critic_grad);
    rlkd_ddpg_destroy(twin);
    rlkd_ddpg_destroy(agent);
}

/* Which rows the batches draw, seen through the TD loss of batches of one
 * with nothing learning: transition i is terminal with reward i + 1 and Q
 * is near 0, so the loss is about (i + 1)^2. Six transitions into a buffer
 * of four leave transitions 2..5, each drawn about a quarter of the time. */
static void sampling(void)
{
    rlkd_ddpg_config config = tiny_config();
    config.buffer_size = 4;
    config.batch_size = 1;
    config.actor_lr = 0.0f;
    config.critic_lr = 0.0f;
    rlkd_ddpg *agent = make_agent(&config);
    for (int i = 0; i < 6; i++) {
        float state[3];
        test_fill_uniform(state, 3, -1.0f, 1.0f, 40 + (uint64_t)i);
        rlkd_ddpg_remember(agent, state, 0.5f, (float)(i + 1), state, 1);
    }
    CHECK(rlkd_ddpg_buffer_fill(agent) == 4);
    int drawn[6] = {0};
    const int updates = 400;
    for (int u = 0; u < updates; u++) {
        float loss = 0.0f;
        CHECK_OK(rlkd_ddpg_update(agent, 0.0f, 1.0f, &loss));
        const int i = (int)lround(sqrt(loss)) - 1;
        if (!CHECK_MSG(i >= 0 && i < 6 && fabs(sqrt(loss) - (i + 1)) < 0.05,
                       "loss %g is no transition's", (double)loss))
            break;
        drawn[i]++;
    }
    CHECK_MSG(drawn[0] == 0 && drawn[1] == 0,
              "overwritten transitions drawn %d and %d times", drawn[0],
              drawn[1]);
    for (int i = 2; i < 6; i++)
        CHECK_MSG(drawn[i] > updates / 4 - 40 && drawn[i] < updates / 4 + 40,
                  "transition %d drawn %d times in %d", i, drawn[i], updates);
    rlkd_ddpg_destroy(agent);
}

/* A one-step bandit: reward -(a - 0.7)^2 whatever the state, from a
 * buffer of random actions; the shift is about the mean reward, as AMC's
 * moving-average baseline. Within a few hundred updates the actor's error
 * varies from seed to seed (about one seed in three is off by more than
 * 0.05: the small critic's argmax is only as fine as its ReLU kinks), so
 * the seed is one that lands near 0.7 and stays there from 250 to 400
 * updates; the run barely changes with the BLAS's kernels (rounding). The
 * sizes are small because valgrind's FMA emulation makes each FLOP slow. */
static void learns_bandit(void)
{
    const rlkd_ddpg_config config = {
        .state_dim = 2,
        .hidden1 = 32,
        .hidden2 = 32,
        .actor_lr = 1e-3f,
        .critic_lr = 1e-2f,
        .tau = 0.01f,
        .discount = 1.0f,
        .buffer_size = 256,
        .batch_size = 32,
        .seed = 21,
    };
    rlkd_ddpg *agent = make_agent(&config);
    for (int i = 0; i < config.buffer_size; i++) {
        float state[2], action;
        test_fill_uniform(state, 2, -1.0f, 1.0f, 500 + (uint64_t)i);
        test_fill_uniform(&action, 1, 0.0f, 1.0f, 9000 + (uint64_t)i);
        const float reward = -(action - 0.7f) * (action - 0.7f);
        rlkd_ddpg_remember(agent, state, action, reward, state, 1);
    }
    CHECK(rlkd_ddpg_buffer_fill(agent) == config.buffer_size);
    float first_loss = 0.0f, loss = 0.0f;
    for (int step = 0; step < 300; step++)
        CHECK_OK(rlkd_ddpg_update(agent, -0.13f, 1.0f,
                                  step == 0 ? &first_loss : &loss));
    CHECK_MSG(loss < 0.1f * first_loss, "TD loss %g from %g", (double)loss,
              (double)first_loss);

    const dims d = {2, 32, 32};
    double *critic = read_net(agent, "critic.", NULL);
    for (int i = 0; i < 4; i++) {
        float state[2];
        test_fill_uniform(state, 2, -1.0f, 1.0f, 7000 + (uint64_t)i);
        const float mu = rlkd_ddpg_act(agent, state);
        CHECK_MSG(fabsf(mu - 0.7f) < 0.05f, "state %d: mu %g, best 0.7", i,
                  (double)mu);
        const double best = ref_critic(&d, critic, state, 0.7);
        const double poor = ref_critic(&d, critic, state, 0.1);
        CHECK_MSG(best > poor, "state %d: Q(0.7) %g <= Q(0.1) %g", i, best,
                  poor);
    }
    free(critic);
    rlkd_ddpg_destroy(agent);
}

/* Every tensor whose name starts with `prefix` equals its namesake under
 * `other_prefix` (same agent) or in `other` (same name). */
static int same_tensors(rlkd_ddpg *a, const char *prefix, rlkd_ddpg *b,
                        const char *other_prefix)
{
    int same = 1, compared = 0;
    for (int i = 0; i < rlkd_ddpg_state_count(a); i++) {
        const char *name = NULL;
        rlkd_tensor *t = NULL;
        rlkd_ddpg_state_tensor(a, i, &name, &t);
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            continue;
        char other_name[64];
        snprintf(other_name, sizeof other_name, "%s%s", other_prefix,
                 name + strlen(prefix));
        same &= test_same_values(t, state_tensor(b, other_name));
        compared++;
    }
    return same && compared > 0;
}

static void soft_update_extremes(void)
{
    rlkd_ddpg_config config = tiny_config();
    config.tau = 1.0f;
    rlkd_ddpg *agent = make_agent(&config);
    remember_stream(agent, config.state_dim, 0, 5);
    CHECK_OK(rlkd_ddpg_update(agent, 0.0f, 1.0f, NULL));
    CHECK(same_tensors(agent, "actor.", agent, "actor_target."));
    CHECK(same_tensors(agent, "critic.", agent, "critic_target."));
    rlkd_ddpg_destroy(agent);

    config.tau = 0.0f;
    agent = make_agent(&config);
    rlkd_ddpg *initial = make_agent(&config);
    remember_stream(agent, config.state_dim, 0, 5);
    for (int i = 0; i < 3; i++)
        CHECK_OK(rlkd_ddpg_update(agent, 0.0f, 1.0f, NULL));
    CHECK(same_tensors(agent, "actor_target.", initial, "actor_target."));
    CHECK(same_tensors(agent, "critic_target.", initial, "critic_target."));
    /* ... while the online networks did learn */
    CHECK(!test_same_values(state_tensor(agent, "actor.fc1.weight"),
                            state_tensor(initial, "actor.fc1.weight")));
    CHECK(!test_same_values(state_tensor(agent, "critic.fc2.weight"),
                            state_tensor(initial, "critic.fc2.weight")));
    rlkd_ddpg_destroy(initial);
    rlkd_ddpg_destroy(agent);
}

static int same_counters(const rlkd_ddpg *a, const rlkd_ddpg *b)
{
    uint64_t ca[RLKD_DDPG_COUNTERS], cb[RLKD_DDPG_COUNTERS];
    rlkd_ddpg_counters(a, ca);
    rlkd_ddpg_counters(b, cb);
    return memcmp(ca, cb, sizeof ca) == 0;
}

/* `updates` updates of each agent, a new transition before each; the
 * losses must agree bit for bit. */
static void run_both(rlkd_ddpg *a, rlkd_ddpg *b, int dim, uint64_t first,
                     int updates)
{
    for (int i = 0; i < updates; i++) {
        remember_stream(a, dim, first + (uint64_t)i, 1);
        remember_stream(b, dim, first + (uint64_t)i, 1);
        float loss_a = 0.0f, loss_b = 1.0f;
        CHECK_OK(rlkd_ddpg_update(a, 0.1f, 0.5f, &loss_a));
        CHECK_OK(rlkd_ddpg_update(b, 0.1f, 0.5f, &loss_b));
        CHECK_MSG(memcmp(&loss_a, &loss_b, sizeof loss_a) == 0,
                  "update %d: losses %.9g and %.9g", i, (double)loss_a,
                  (double)loss_b);
    }
}

static void determinism_and_restore(void)
{
    const rlkd_ddpg_config config = tiny_config();
    rlkd_ddpg *a = make_agent(&config), *b = make_agent(&config);
    remember_stream(a, config.state_dim, 0, 3);
    remember_stream(b, config.state_dim, 0, 3);
    run_both(a, b, config.state_dim, 3, 7); /* the ring wraps: 10 > 8 */
    CHECK(same_tensors(a, "", b, ""));
    CHECK(same_counters(a, b));
    rlkd_ddpg_destroy(b);

    /* a fresh agent given a's tensors and counters continues as a does */
    rlkd_ddpg *restored = make_agent(&config);
    CHECK(!same_tensors(a, "", restored, ""));
    for (int i = 0; i < rlkd_ddpg_state_count(a); i++) {
        const char *name = NULL;
        rlkd_tensor *from = NULL, *to = NULL;
        rlkd_ddpg_state_tensor(a, i, &name, &from);
        rlkd_ddpg_state_tensor(restored, i, NULL, &to);
        float *x = t_get(from);
        CHECK_OK(rlkd_tensor_write(to, x, (size_t)rlkd_tensor_numel(to)));
        free(x);
    }
    uint64_t counters[RLKD_DDPG_COUNTERS];
    rlkd_ddpg_counters(a, counters);
    CHECK(counters[1] == (uint64_t)config.buffer_size);
    CHECK(counters[2] == 7 && counters[3] == 7);
    CHECK(counters[4] == 7 * (uint64_t)config.batch_size);
    CHECK_OK(rlkd_ddpg_set_counters(restored, counters));
    run_both(a, restored, config.state_dim, 10, 5);
    CHECK(same_tensors(a, "", restored, ""));
    CHECK(same_counters(a, restored));
    rlkd_ddpg_destroy(restored);
    rlkd_ddpg_destroy(a);
}

static void counters_range(void)
{
    const rlkd_ddpg_config config = tiny_config(); /* buffer of 8 */
    rlkd_ddpg *agent = make_agent(&config);
    remember_stream(agent, config.state_dim, 0, 3);
    uint64_t saved[RLKD_DDPG_COUNTERS], now[RLKD_DDPG_COUNTERS];
    rlkd_ddpg_counters(agent, saved);
    CHECK(saved[0] == 3 && saved[1] == 3 && rlkd_ddpg_buffer_fill(agent) == 3);

    struct {
        uint64_t counters[RLKD_DDPG_COUNTERS];
        const char *needle;
    } bad[] = {{{8, 8, 0, 0, 0}, "position 8"},
               {{0, 9, 0, 0, 0}, "fill 9"},
               {{2, 3, 0, 0, 0}, "position 2"},
               {{3, 3, (uint64_t)INT64_MAX + 1, 0, 0}, "actor"},
               {{3, 3, 0, UINT64_MAX, 0}, "critic"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_FAILS(rlkd_ddpg_set_counters(agent, bad[i].counters),
                    RLKD_ERR_FORMAT, bad[i].needle);
        rlkd_ddpg_counters(agent, now);
        CHECK_MSG(memcmp(now, saved, sizeof now) == 0,
                  "case %zu changed the counters", i);
    }
    const uint64_t full[RLKD_DDPG_COUNTERS] = {5, 8, 2, 2, 40};
    CHECK_OK(rlkd_ddpg_set_counters(agent, full));
    rlkd_ddpg_counters(agent, now);
    CHECK(memcmp(now, full, sizeof now) == 0);
    CHECK(rlkd_ddpg_buffer_fill(agent) == 8);
    remember_stream(agent, config.state_dim, 3, 3);
    rlkd_ddpg_counters(agent, now);
    CHECK_MSG(now[0] == 0 && now[1] == 8, "position %llu fill %llu",
              (unsigned long long)now[0], (unsigned long long)now[1]);
    rlkd_ddpg_destroy(agent);
}

int main(void)
{
    test_main_begin();
    test_run("ddpg/bad_configs", bad_configs);
    test_run("ddpg/state_and_init", state_and_init);
    test_run("ddpg/gradients", gradients);
    test_run("ddpg/update_steps", update_steps);
    test_run("ddpg/sampling", sampling);
    test_run("ddpg/learns_bandit", learns_bandit);
    test_run("ddpg/soft_update_extremes", soft_update_extremes);
    test_run("ddpg/determinism_and_restore", determinism_and_restore);
    test_run("ddpg/counters_range", counters_range);
    test_main_end();
    return test_finish();
}
