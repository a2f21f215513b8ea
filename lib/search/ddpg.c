/*
 * AMC's DDPG agent (see ddpg.h). The batch's products are GEMMs through the
 * CPU backend's BLAS entry point; everything elementwise is a plain loop.
 * Every array that a resumed search needs is a tensor in `state`; the
 * batch's activations and gradients are scratch in `work`, sized once for
 * batch_size rows.
 */
#include "ddpg.h"
#include "../core/philox.h"
#include "../cpu/cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameters of one network, in state order. The critic's first layer is
 * two Linears summed: fc1_s on the state and fc1_a on the action. */
enum { A_W1, A_B1, A_W2, A_B2, A_W3, A_B3, ACTOR_PARAMS };
enum { C_WS, C_BS, C_WA, C_BA, C_W2, C_B2, C_W3, C_B3, CRITIC_PARAMS };

/* Where each group of tensors starts in `state`. */
enum {
    ACTOR = 0,
    ACTOR_TARGET = ACTOR + ACTOR_PARAMS,
    CRITIC = ACTOR_TARGET + ACTOR_PARAMS,
    CRITIC_TARGET = CRITIC + CRITIC_PARAMS,
    ACTOR_M = CRITIC_TARGET + CRITIC_PARAMS,
    ACTOR_V = ACTOR_M + ACTOR_PARAMS,
    CRITIC_M = ACTOR_V + ACTOR_PARAMS,
    CRITIC_V = CRITIC_M + CRITIC_PARAMS,
    BUFFER_STATE = CRITIC_V + CRITIC_PARAMS,
    BUFFER_ACTION,
    BUFFER_REWARD,
    BUFFER_NEXT_STATE,
    BUFFER_TERMINAL,
    STATE_COUNT
};

/* The counters, in rlkd_ddpg_counters order. */
enum { POSITION, FILL, ACTOR_STEPS, CRITIC_STEPS, DRAWS };

/* Philox streams under config.seed: one per online parameter for its
 * initial values, one for the batches' rows. */
enum { STREAM_ROWS = 1, STREAM_ACTOR = 16, STREAM_CRITIC = 32 };

/* Sizes a parameter's shape is made of. */
enum { DIM_NONE, DIM_ONE, DIM_STATE, DIM_HIDDEN1, DIM_HIDDEN2 };

typedef struct param_spec {
    const char *name;
    int rows, cols; /* cols DIM_NONE: a bias vector of `rows` */
    int fan_in;     /* its layer's inputs: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    int final;      /* the output layer: U(-3e-3, 3e-3) instead */
} param_spec;

static const param_spec actor_specs[ACTOR_PARAMS] = {
    {"fc1.weight", DIM_HIDDEN1, DIM_STATE, DIM_STATE, 0},
    {"fc1.bias", DIM_HIDDEN1, DIM_NONE, DIM_STATE, 0},
    {"fc2.weight", DIM_HIDDEN2, DIM_HIDDEN1, DIM_HIDDEN1, 0},
    {"fc2.bias", DIM_HIDDEN2, DIM_NONE, DIM_HIDDEN1, 0},
    {"fc3.weight", DIM_ONE, DIM_HIDDEN2, DIM_HIDDEN2, 1},
    {"fc3.bias", DIM_ONE, DIM_NONE, DIM_HIDDEN2, 1},
};

static const param_spec critic_specs[CRITIC_PARAMS] = {
    {"fc1_s.weight", DIM_HIDDEN1, DIM_STATE, DIM_STATE, 0},
    {"fc1_s.bias", DIM_HIDDEN1, DIM_NONE, DIM_STATE, 0},
    {"fc1_a.weight", DIM_HIDDEN1, DIM_ONE, DIM_ONE, 0},
    {"fc1_a.bias", DIM_HIDDEN1, DIM_NONE, DIM_ONE, 0},
    {"fc2.weight", DIM_HIDDEN2, DIM_HIDDEN1, DIM_HIDDEN1, 0},
    {"fc2.bias", DIM_HIDDEN2, DIM_NONE, DIM_HIDDEN1, 0},
    {"fc3.weight", DIM_ONE, DIM_HIDDEN2, DIM_HIDDEN2, 1},
    {"fc3.bias", DIM_ONE, DIM_NONE, DIM_HIDDEN2, 1},
};

typedef struct param_group {
    int first;
    const char *prefix;
    int critic;
} param_group;

static const param_group groups[] = {
    {ACTOR, "actor", 0},
    {ACTOR_TARGET, "actor_target", 0},
    {CRITIC, "critic", 1},
    {CRITIC_TARGET, "critic_target", 1},
    {ACTOR_M, "actor_adam.m", 0},
    {ACTOR_V, "actor_adam.v", 0},
    {CRITIC_M, "critic_adam.m", 1},
    {CRITIC_V, "critic_adam.v", 1},
};
#define GROUP_COUNT (int)(sizeof groups / sizeof groups[0])

#define NAME_BYTES 48

/* One batch's arrays: [batch, state_dim], [batch, hidden], [batch]. */
typedef struct batch_work {
    int *rows;
    float *states, *next_states, *actions, *rewards, *terminals;
    float *actor1, *actor2, *mu;   /* the actor's activations and output */
    float *critic1, *critic2, *q;  /* the critic's */
    float *targets;                /* y of the TD loss */
    float *grad1, *grad2;          /* d(loss)/d(hidden) of either network */
    float *grad_out, *grad_action; /* d(loss)/d(output), d(loss)/d(action) */
    float *actor_grad[ACTOR_PARAMS], *critic_grad[CRITIC_PARAMS];
} batch_work;

struct rlkd_ddpg {
    rlkd_ddpg_config config;
    rlkd_context *ctx;
    rlkd_tensor *state[STATE_COUNT];
    char names[STATE_COUNT][NAME_BYTES];
    uint64_t counters[RLKD_DDPG_COUNTERS];
    float *scratch; /* every float array of `work` */
    batch_work work;
};

static float *f32(const rlkd_ddpg *agent, int index)
{
    return rlkd_f32(agent->state[index]);
}

static int dim_size(const rlkd_ddpg_config *c, int dim)
{
    switch (dim) {
    case DIM_STATE:
        return c->state_dim;
    case DIM_HIDDEN1:
        return c->hidden1;
    case DIM_HIDDEN2:
        return c->hidden2;
    default:
        return 1;
    }
}

/* ---- the networks: y = x w^T + b per layer, batch rows at a time ---- */

/* y[batch, out] = x[batch, in] w[out, in]^T + bias. */
static void linear(rlkd_ddpg *agent, int batch, int in, int out,
                   const float *x, const float *w, const float *bias, float *y)
{
    for (int r = 0; r < batch; r++)
        memcpy(y + (size_t)r * out, bias, (size_t)out * sizeof *y);
    rlkd_cpu_gemm(agent->ctx, 0, 1, batch, out, in, 1.0f, x, in, w, in, 1.0f,
                  y, out);
}

static void relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* The gradients of linear() from dy[batch, out]: dw (and db) when dw is not
 * NULL, dx[batch, in] when dx is not NULL. */
static void linear_backward(rlkd_ddpg *agent, int batch, int in, int out,
                            const float *x, const float *w, const float *dy,
                            float *dw, float *db, float *dx)
{
    if (dw) {
        rlkd_cpu_gemm(agent->ctx, 1, 0, out, in, batch, 1.0f, dy, out, x, in,
                      0.0f, dw, in);
        for (int j = 0; j < out; j++)
            db[j] = 0.0f;
        for (int r = 0; r < batch; r++)
            for (int j = 0; j < out; j++)
                db[j] += dy[(size_t)r * out + j];
    }
    if (dx)
        rlkd_cpu_gemm(agent->ctx, 0, 0, batch, in, out, 1.0f, dy, out, w, in,
                      0.0f, dx, in);
}

/* dx *= relu'(y), y the ReLU's output. */
static void relu_backward(float *dx, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (y[i] <= 0.0f)
            dx[i] = 0.0f;
}

/* mu[batch] from states[batch, state_dim] with the actor `net` (the online
 * one or the target), keeping the hidden activations in work. */
static void actor_forward(rlkd_ddpg *agent, int net, int batch,
                          const float *states)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    linear(agent, batch, c->state_dim, c->hidden1, states,
           f32(agent, net + A_W1), f32(agent, net + A_B1), w->actor1);
    relu(w->actor1, (size_t)batch * c->hidden1);
    linear(agent, batch, c->hidden1, c->hidden2, w->actor1,
           f32(agent, net + A_W2), f32(agent, net + A_B2), w->actor2);
    relu(w->actor2, (size_t)batch * c->hidden2);
    linear(agent, batch, c->hidden2, 1, w->actor2, f32(agent, net + A_W3),
           f32(agent, net + A_B3), w->mu);
    for (int r = 0; r < batch; r++)
        w->mu[r] = 1.0f / (1.0f + expf(-w->mu[r]));
}

/* q[batch] of (states, actions) with the critic `net`. */
static void critic_forward(rlkd_ddpg *agent, int net, int batch,
                           const float *states, const float *actions)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    const int h1 = c->hidden1;
    const float *bias_s = f32(agent, net + C_BS);
    const float *weight_a = f32(agent, net + C_WA);
    const float *bias_a = f32(agent, net + C_BA);
    linear(agent, batch, c->state_dim, h1, states, f32(agent, net + C_WS),
           bias_s, w->critic1);
    for (int r = 0; r < batch; r++) {
        float *row = w->critic1 + (size_t)r * h1;
        for (int j = 0; j < h1; j++)
            row[j] += actions[r] * weight_a[j] + bias_a[j];
    }
    relu(w->critic1, (size_t)batch * h1);
    linear(agent, batch, h1, c->hidden2, w->critic1, f32(agent, net + C_W2),
           f32(agent, net + C_B2), w->critic2);
    relu(w->critic2, (size_t)batch * c->hidden2);
    linear(agent, batch, c->hidden2, 1, w->critic2, f32(agent, net + C_W3),
           f32(agent, net + C_B3), w->q);
}

/* Back through the online critic from grad_out = dL/dq, after
 * critic_forward of the same batch: with `params`, the parameters'
 * gradients into critic_grad (the critic's step); without, dL/d(action)
 * into grad_action (the actor's step, which leaves the critic alone). */
static void critic_backward(rlkd_ddpg *agent, int batch, const float *states,
                            const float *actions, int params)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    float *const *g = w->critic_grad;
    const int h1 = c->hidden1, h2 = c->hidden2;
    linear_backward(agent, batch, h2, 1, w->critic2, f32(agent, CRITIC + C_W3),
                    w->grad_out, params ? g[C_W3] : NULL, g[C_B3], w->grad2);
    relu_backward(w->grad2, w->critic2, (size_t)batch * h2);
    linear_backward(agent, batch, h1, h2, w->critic1, f32(agent, CRITIC + C_W2),
                    w->grad2, params ? g[C_W2] : NULL, g[C_B2], w->grad1);
    relu_backward(w->grad1, w->critic1, (size_t)batch * h1);
    if (params) {
        linear_backward(agent, batch, 1, h1, actions, f32(agent, CRITIC + C_WA),
                        w->grad1, g[C_WA], g[C_BA], NULL);
        linear_backward(agent, batch, c->state_dim, h1, states,
                        f32(agent, CRITIC + C_WS), w->grad1, g[C_WS],
                        g[C_BS], NULL);
    } else {
        linear_backward(agent, batch, 1, h1, actions, f32(agent, CRITIC + C_WA),
                        w->grad1, NULL, NULL, w->grad_action);
    }
}

/* Back through the online actor from grad_action = dL/d(mu), after
 * actor_forward of the same batch: the gradients into actor_grad. */
static void actor_backward(rlkd_ddpg *agent, int batch, const float *states)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    float *const *g = w->actor_grad;
    const int h1 = c->hidden1, h2 = c->hidden2;
    for (int r = 0; r < batch; r++)
        w->grad_out[r] = w->grad_action[r] * w->mu[r] * (1.0f - w->mu[r]);
    linear_backward(agent, batch, h2, 1, w->actor2, f32(agent, ACTOR + A_W3),
                    w->grad_out, g[A_W3], g[A_B3], w->grad2);
    relu_backward(w->grad2, w->actor2, (size_t)batch * h2);
    linear_backward(agent, batch, h1, h2, w->actor1, f32(agent, ACTOR + A_W2),
                    w->grad2, g[A_W2], g[A_B2], w->grad1);
    relu_backward(w->grad1, w->actor1, (size_t)batch * h1);
    linear_backward(agent, batch, c->state_dim, h1, states,
                    f32(agent, ACTOR + A_W1), w->grad1, g[A_W1], g[A_B1], NULL);
}

/* ---- one update's steps ---- */

/* The batch's transitions from the buffer rows in work.rows. */
static void gather(rlkd_ddpg *agent)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    const size_t row_bytes = (size_t)c->state_dim * sizeof(float);
    for (int r = 0; r < c->batch_size; r++) {
        const size_t i = (size_t)w->rows[r];
        memcpy(w->states + (size_t)r * c->state_dim,
               f32(agent, BUFFER_STATE) + i * c->state_dim, row_bytes);
        memcpy(w->next_states + (size_t)r * c->state_dim,
               f32(agent, BUFFER_NEXT_STATE) + i * c->state_dim, row_bytes);
        w->actions[r] = f32(agent, BUFFER_ACTION)[i];
        w->rewards[r] = f32(agent, BUFFER_REWARD)[i];
        w->terminals[r] = f32(agent, BUFFER_TERMINAL)[i];
    }
}

/* The critic's gradients of the TD loss on the gathered batch; returns the
 * loss. The targets come from the target networks, as constants. */
static float critic_gradients(rlkd_ddpg *agent, float reward_shift,
                              float reward_scale)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    const int batch = c->batch_size;
    actor_forward(agent, ACTOR_TARGET, batch, w->next_states);
    critic_forward(agent, CRITIC_TARGET, batch, w->next_states, w->mu);
    for (int r = 0; r < batch; r++)
        w->targets[r] = (w->rewards[r] - reward_shift) / reward_scale +
                        c->discount * (1.0f - w->terminals[r]) * w->q[r];

    critic_forward(agent, CRITIC, batch, w->states, w->actions);
    double loss = 0.0;
    for (int r = 0; r < batch; r++) {
        const float error = w->q[r] - w->targets[r];
        loss += (double)error * error;
        w->grad_out[r] = 2.0f * error / (float)batch;
    }
    critic_backward(agent, batch, w->states, w->actions, 1);
    return (float)(loss / batch);
}

/* The actor's gradients of -mean Q(s, mu(s)) through the online critic,
 * whose own gradients this leaves alone. */
static void actor_gradients(rlkd_ddpg *agent)
{
    batch_work *w = &agent->work;
    const int batch = agent->config.batch_size;
    actor_forward(agent, ACTOR, batch, w->states);
    critic_forward(agent, CRITIC, batch, w->states, w->mu);
    for (int r = 0; r < batch; r++)
        w->grad_out[r] = -1.0f / (float)batch;
    critic_backward(agent, batch, w->states, w->mu, 0);
    actor_backward(agent, batch, w->states);
}

/* One Adam step of the `count` parameters from `net`, moments at m and v. */
static rlkd_status adam(rlkd_ddpg *agent, int net, int m, int v, int count,
                        float *const *grads, float lr, uint64_t step)
{
    for (int i = 0; i < count; i++)
        RLKD_TRY(RLKD_DISPATCH(agent->ctx, adam_step, f32(agent, net + i),
                               f32(agent, m + i), f32(agent, v + i), grads[i],
                               (size_t)agent->state[net + i]->numel, lr,
                               0.9f, 0.999f, 1e-8f, 0.0f, 0, (int64_t)step));
    return RLKD_OK;
}

/* target <- tau * online + (1 - tau) * target, as AMC's soft_update. */
static void soft_update(rlkd_ddpg *agent, int target, int online, int count)
{
    const float tau = agent->config.tau;
    for (int i = 0; i < count; i++) {
        float *t = f32(agent, target + i);
        const float *o = f32(agent, online + i);
        const int64_t n = agent->state[online + i]->numel;
        for (int64_t j = 0; j < n; j++)
            t[j] = t[j] * (1.0f - tau) + o[j] * tau;
    }
}

/* ---- creation ---- */

static rlkd_status check_config(const char *op, const rlkd_ddpg_config *c)
{
    RLKD_TRY(rlkd_expect_at_least(op, "config->state_dim", c->state_dim, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "config->hidden1", c->hidden1, 1));
    RLKD_TRY(rlkd_expect_at_least(op, "config->hidden2", c->hidden2, 1));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "config->actor_lr", c->actor_lr,
                                         0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "config->critic_lr",
                                         c->critic_lr, 0.0f));
    if (!(c->tau >= 0.0f && c->tau <= 1.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: config->tau must be in [0,1], got %g", op,
                         (double)c->tau);
    RLKD_TRY(rlkd_expect_finite_at_least(op, "config->discount", c->discount,
                                         0.0f));
    RLKD_TRY(rlkd_expect_at_least(op, "config->buffer_size", c->buffer_size,
                                  1));
    RLKD_TRY(rlkd_expect_at_least(op, "config->batch_size", c->batch_size, 1));
    return RLKD_OK;
}

static rlkd_status make_tensor(rlkd_ddpg *agent, int index, int64_t rows,
                               int64_t cols)
{
    const int64_t shape[2] = {rows, cols};
    return rlkd_tensor_create(agent->ctx, RLKD_DTYPE_F32, cols > 0 ? 2 : 1,
                              shape, &agent->state[index]);
}

static rlkd_status make_group(rlkd_ddpg *agent, const param_group *group)
{
    const param_spec *specs = group->critic ? critic_specs : actor_specs;
    const int count = group->critic ? CRITIC_PARAMS : ACTOR_PARAMS;
    for (int i = 0; i < count; i++) {
        const param_spec *s = &specs[i];
        const int index = group->first + i;
        snprintf(agent->names[index], NAME_BYTES, "%s.%s", group->prefix,
                 s->name);
        RLKD_TRY(make_tensor(agent, index, dim_size(&agent->config, s->rows),
                             s->cols == DIM_NONE
                                 ? 0
                                 : dim_size(&agent->config, s->cols)));
    }
    return RLKD_OK;
}

/* PyTorch Linear's initial values (final layers as DDPG's), from Philox
 * streams of config.seed; the targets start as copies. */
static rlkd_status init_params(rlkd_ddpg *agent, int online, int target,
                               const param_spec *specs, int count,
                               uint64_t first_stream)
{
    for (int i = 0; i < count; i++) {
        const float bound =
            specs[i].final
                ? 3e-3f
                : 1.0f / sqrtf((float)dim_size(&agent->config,
                                               specs[i].fan_in));
        rlkd_tensor *t = agent->state[online + i];
        RLKD_TRY(RLKD_DISPATCH(agent->ctx, fill_random, rlkd_f32(t),
                               (size_t)t->numel, 0, -bound, bound,
                               agent->config.seed, first_stream + i));
        memcpy(f32(agent, target + i), rlkd_f32(t),
               (size_t)t->numel * sizeof(float));
    }
    return RLKD_OK;
}

static int64_t param_total(const rlkd_ddpg *agent, int net, int count)
{
    int64_t total = 0;
    for (int i = 0; i < count; i++)
        total += agent->state[net + i]->numel;
    return total;
}

static float *carve(float **cursor, size_t n)
{
    float *start = *cursor;
    *cursor += n;
    return start;
}

static rlkd_status make_work(rlkd_ddpg *agent)
{
    const rlkd_ddpg_config *c = &agent->config;
    batch_work *w = &agent->work;
    const size_t batch = (size_t)c->batch_size;
    const size_t actor_total = (size_t)param_total(agent, ACTOR, ACTOR_PARAMS);
    const size_t critic_total =
        (size_t)param_total(agent, CRITIC, CRITIC_PARAMS);
    const size_t row_floats = 2 * (size_t)c->state_dim +
                              3 * (size_t)c->hidden1 +
                              3 * (size_t)c->hidden2 + 8;
    const size_t param_floats = actor_total + critic_total;
    if (row_floats > (SIZE_MAX / sizeof(float) - param_floats) / batch)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_ddpg_create: the work arrays of a batch of %d "
                         "exceed the address space", c->batch_size);
    const size_t floats = batch * row_floats + param_floats;
    w->rows = malloc(batch * sizeof *w->rows);
    agent->scratch = malloc(floats * sizeof(float));
    if (!w->rows || !agent->scratch)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "rlkd_ddpg_create: no memory for the work arrays of "
                         "a batch of %d", c->batch_size);
    float *cursor = agent->scratch;
    w->states = carve(&cursor, batch * c->state_dim);
    w->next_states = carve(&cursor, batch * c->state_dim);
    w->actor1 = carve(&cursor, batch * c->hidden1);
    w->critic1 = carve(&cursor, batch * c->hidden1);
    w->grad1 = carve(&cursor, batch * c->hidden1);
    w->actor2 = carve(&cursor, batch * c->hidden2);
    w->critic2 = carve(&cursor, batch * c->hidden2);
    w->grad2 = carve(&cursor, batch * c->hidden2);
    w->actions = carve(&cursor, batch);
    w->rewards = carve(&cursor, batch);
    w->terminals = carve(&cursor, batch);
    w->mu = carve(&cursor, batch);
    w->q = carve(&cursor, batch);
    w->targets = carve(&cursor, batch);
    w->grad_out = carve(&cursor, batch);
    w->grad_action = carve(&cursor, batch);
    for (int i = 0; i < ACTOR_PARAMS; i++)
        w->actor_grad[i] =
            carve(&cursor, (size_t)agent->state[ACTOR + i]->numel);
    for (int i = 0; i < CRITIC_PARAMS; i++)
        w->critic_grad[i] =
            carve(&cursor, (size_t)agent->state[CRITIC + i]->numel);
    return RLKD_OK;
}

static rlkd_status build(rlkd_ddpg *agent)
{
    const rlkd_ddpg_config *c = &agent->config;
    RLKD_TRY(rlkd_context_create(&agent->ctx, RLKD_DEVICE_CPU, 0));
    /* One thread: a batch's GEMMs (64 x 300 x 300 in AMC) are small, and
     * on a 2-vCPU machine two threads made an update 3x slower (9 ms
     * against 2.7 ms). */
    RLKD_TRY(rlkd_context_set_num_threads(agent->ctx, 1));
    for (int g = 0; g < GROUP_COUNT; g++)
        RLKD_TRY(make_group(agent, &groups[g]));
    static const char *const buffer_names[] = {
        "buffer.state", "buffer.action", "buffer.reward", "buffer.next_state",
        "buffer.terminal"};
    for (int i = BUFFER_STATE; i < STATE_COUNT; i++) {
        snprintf(agent->names[i], NAME_BYTES, "%s",
                 buffer_names[i - BUFFER_STATE]);
        const int per_state =
            i == BUFFER_STATE || i == BUFFER_NEXT_STATE;
        RLKD_TRY(make_tensor(agent, i, c->buffer_size,
                             per_state ? c->state_dim : 0));
    }
    RLKD_TRY(init_params(agent, ACTOR, ACTOR_TARGET, actor_specs,
                         ACTOR_PARAMS, STREAM_ACTOR));
    RLKD_TRY(init_params(agent, CRITIC, CRITIC_TARGET, critic_specs,
                         CRITIC_PARAMS, STREAM_CRITIC));
    return make_work(agent);
}

rlkd_status rlkd_ddpg_create(const rlkd_ddpg_config *config, rlkd_ddpg **out)
{
    static const char op[] = "rlkd_ddpg_create";
    if (out)
        *out = NULL;
    if (!config || !out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !config ? "config" : "out");
    RLKD_TRY(check_config(op, config));
    rlkd_ddpg *agent = calloc(1, sizeof *agent);
    if (!agent)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: no memory for the agent",
                         op);
    agent->config = *config;
    rlkd_status status = build(agent);
    if (status != RLKD_OK) {
        rlkd_ddpg_destroy(agent);
        return status;
    }
    *out = agent;
    return RLKD_OK;
}

void rlkd_ddpg_destroy(rlkd_ddpg *agent)
{
    if (!agent)
        return;
    for (int i = 0; i < STATE_COUNT; i++)
        rlkd_tensor_destroy(agent->state[i]);
    rlkd_context_destroy(agent->ctx);
    free(agent->work.rows);
    free(agent->scratch);
    free(agent);
}

/* ---- acting, remembering, learning ---- */

float rlkd_ddpg_act(rlkd_ddpg *agent, const float *state)
{
    actor_forward(agent, ACTOR, 1, state);
    return agent->work.mu[0];
}

void rlkd_ddpg_remember(rlkd_ddpg *agent, const float *state, float action,
                        float reward, const float *next_state, int terminal)
{
    const rlkd_ddpg_config *c = &agent->config;
    const uint64_t i = agent->counters[POSITION];
    const size_t row_bytes = (size_t)c->state_dim * sizeof(float);
    memcpy(f32(agent, BUFFER_STATE) + i * c->state_dim, state, row_bytes);
    memcpy(f32(agent, BUFFER_NEXT_STATE) + i * c->state_dim, next_state,
           row_bytes);
    f32(agent, BUFFER_ACTION)[i] = action;
    f32(agent, BUFFER_REWARD)[i] = reward;
    f32(agent, BUFFER_TERMINAL)[i] = terminal ? 1.0f : 0.0f;
    agent->counters[POSITION] = (i + 1) % (uint64_t)c->buffer_size;
    if (agent->counters[FILL] < (uint64_t)c->buffer_size)
        agent->counters[FILL]++;
}

int rlkd_ddpg_buffer_fill(const rlkd_ddpg *agent)
{
    return agent ? (int)agent->counters[FILL] : 0;
}

rlkd_status rlkd_ddpg_update(rlkd_ddpg *agent, float reward_shift,
                             float reward_scale, float *critic_loss)
{
    static const char op[] = "rlkd_ddpg_update";
    if (!agent)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: agent is NULL", op);
    RLKD_TRY(rlkd_expect_finite(op, "reward_shift", reward_shift));
    RLKD_TRY(rlkd_expect_finite_above(op, "reward_scale", reward_scale, 0.0f));
    const uint64_t fill = agent->counters[FILL];
    if (fill == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the replay buffer is empty", op);

    /* Row r of the batch is draw number draws + r of the rows' stream,
     * scaled to [0, fill) by a multiply (bias below fill / 2^32). */
    const int batch = agent->config.batch_size;
    const uint64_t draws = agent->counters[DRAWS];
    for (int r = 0; r < batch; r++) {
        const rlkd_philox_block block = rlkd_philox4x32(
            agent->config.seed, STREAM_ROWS, draws + (uint64_t)r);
        agent->work.rows[r] = (int)(((uint64_t)block.v[0] * fill) >> 32);
    }
    gather(agent);
    const float loss = critic_gradients(agent, reward_shift, reward_scale);
    if (!isfinite(loss))
        return rlkd_fail(RLKD_ERR_NUMERIC,
                         "%s: the critic's TD loss is %g; nothing was "
                         "updated", op, (double)loss);
    RLKD_TRY(adam(agent, CRITIC, CRITIC_M, CRITIC_V, CRITIC_PARAMS,
                  agent->work.critic_grad, agent->config.critic_lr,
                  agent->counters[CRITIC_STEPS] + 1));
    agent->counters[CRITIC_STEPS]++;
    /* the actor follows the critic that has just stepped, as in AMC */
    actor_gradients(agent);
    RLKD_TRY(adam(agent, ACTOR, ACTOR_M, ACTOR_V, ACTOR_PARAMS,
                  agent->work.actor_grad, agent->config.actor_lr,
                  agent->counters[ACTOR_STEPS] + 1));
    agent->counters[ACTOR_STEPS]++;
    soft_update(agent, ACTOR_TARGET, ACTOR, ACTOR_PARAMS);
    soft_update(agent, CRITIC_TARGET, CRITIC, CRITIC_PARAMS);
    agent->counters[DRAWS] = draws + (uint64_t)batch;
    if (critic_loss)
        *critic_loss = loss;
    return RLKD_OK;
}

/* ---- state ---- */

int rlkd_ddpg_state_count(const rlkd_ddpg *agent)
{
    return agent ? STATE_COUNT : 0;
}

void rlkd_ddpg_state_tensor(rlkd_ddpg *agent, int index, const char **name,
                            rlkd_tensor **value)
{
    const int valid = agent && index >= 0 && index < STATE_COUNT;
    if (name)
        *name = valid ? agent->names[index] : NULL;
    if (value)
        *value = valid ? agent->state[index] : NULL;
}

void rlkd_ddpg_counters(const rlkd_ddpg *agent,
                        uint64_t counters[RLKD_DDPG_COUNTERS])
{
    memcpy(counters, agent->counters, sizeof agent->counters);
}

rlkd_status rlkd_ddpg_set_counters(rlkd_ddpg *agent,
                                   const uint64_t counters[RLKD_DDPG_COUNTERS])
{
    static const char op[] = "rlkd_ddpg_set_counters";
    if (!agent || !counters)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !agent ? "agent" : "counters");
    const uint64_t size = (uint64_t)agent->config.buffer_size;
    const uint64_t position = counters[POSITION], fill = counters[FILL];
    if (fill > size)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: buffer fill %llu exceeds the buffer size %llu",
                         op, (unsigned long long)fill,
                         (unsigned long long)size);
    if (position >= size)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: buffer position %llu is outside a buffer of "
                         "%llu", op, (unsigned long long)position,
                         (unsigned long long)size);
    /* the ring fills from row 0, so until it is full the next row is fill */
    if (fill < size && position != fill)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: buffer position %llu with fill %llu: a buffer "
                         "not yet full writes at its fill", op,
                         (unsigned long long)position,
                         (unsigned long long)fill);
    for (int i = ACTOR_STEPS; i <= CRITIC_STEPS; i++)
        if (counters[i] > (uint64_t)INT64_MAX)
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "%s: %s Adam step count %llu is out of range", op,
                             i == ACTOR_STEPS ? "the actor's" : "the critic's",
                             (unsigned long long)counters[i]);
    memcpy(agent->counters, counters, sizeof agent->counters);
    return RLKD_OK;
}

/* ---- for tests/test_ddpg.c ---- */

rlkd_status rlkd_ddpg_test_gradients(rlkd_ddpg *agent, const int *rows,
                                     float reward_shift, float reward_scale,
                                     float *critic_loss, float *actor_grad,
                                     float *critic_grad)
{
    const uint64_t fill = agent->counters[FILL];
    for (int r = 0; r < agent->config.batch_size; r++) {
        if (rows[r] < 0 || (uint64_t)rows[r] >= fill)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "rlkd_ddpg_test_gradients: rows[%d] = %d is not "
                             "a row of a buffer holding %llu", r, rows[r],
                             (unsigned long long)fill);
        agent->work.rows[r] = rows[r];
    }
    gather(agent);
    *critic_loss = critic_gradients(agent, reward_shift, reward_scale);
    actor_gradients(agent);
    for (int i = 0; i < ACTOR_PARAMS; i++) {
        const size_t n = (size_t)agent->state[ACTOR + i]->numel;
        memcpy(actor_grad, agent->work.actor_grad[i], n * sizeof(float));
        actor_grad += n;
    }
    for (int i = 0; i < CRITIC_PARAMS; i++) {
        const size_t n = (size_t)agent->state[CRITIC + i]->numel;
        memcpy(critic_grad, agent->work.critic_grad[i], n * sizeof(float));
        critic_grad += n;
    }
    return RLKD_OK;
}
