/*
 * The DDPG agent of the RL pruning search (Lillicrap et al. 2016, as AMC
 * uses it: He et al. 2018): a deterministic actor mu(s) in (0, 1) (sigmoid
 * output) and a critic Q(s, a), each an MLP with two hidden ReLU layers,
 * Adam for both, target copies updated softly, and a ring replay buffer.
 * Host code: every array is an F32 tensor on the agent's own CPU context,
 * so that rlkd's checkpoint writer saves the whole agent.
 *
 * Actor:  s -> fc1 -> ReLU -> fc2 -> ReLU -> fc3 -> sigmoid
 * Critic: relu(fc1_s(s) + fc1_a(a)) -> fc2 -> ReLU -> fc3 (AMC's critic)
 * Linear layers are PyTorch's: weights [out, in], U(-1/sqrt(in), 1/sqrt(in))
 * for weights and biases, except each final layer's weight and bias,
 * U(-3e-3, 3e-3) (DDPG's). Initial values come from Philox streams of
 * config.seed; the targets start as exact copies.
 */
#ifndef RLKD_SEARCH_DDPG_H
#define RLKD_SEARCH_DDPG_H

#include "../core/internal.h"

typedef struct rlkd_ddpg_config {
    int state_dim;
    int hidden1, hidden2;
    float actor_lr, critic_lr; /* Adam (betas 0.9, 0.999, eps 1e-8) */
    float tau;                 /* target <- tau * online + (1 - tau) * target */
    float discount;            /* gamma of the TD target */
    int buffer_size;           /* transitions kept (oldest overwritten) */
    int batch_size;            /* transitions per update */
    uint64_t seed;             /* initial weights and batch sampling */
} rlkd_ddpg_config;

typedef struct rlkd_ddpg rlkd_ddpg;

/* RLKD_ERR_INVALID_ARGUMENT unless the sizes are >= 1, the learning rates
 * and discount finite and >= 0, and tau in [0, 1]. */
rlkd_status rlkd_ddpg_create(const rlkd_ddpg_config *config, rlkd_ddpg **out);
/* Accepts NULL. */
void rlkd_ddpg_destroy(rlkd_ddpg *agent);

/* The actor's action mu(state) in (0, 1); state has state_dim floats.
 * rlkd_ddpg_create has checked the config, so with a valid agent this,
 * rlkd_ddpg_remember and rlkd_ddpg_counters cannot fail. */
float rlkd_ddpg_act(rlkd_ddpg *agent, const float *state);

/* Appends a transition to the replay buffer. */
void rlkd_ddpg_remember(rlkd_ddpg *agent, const float *state, float action,
                        float reward, const float *next_state, int terminal);

/* Transitions held (at most buffer_size). */
int rlkd_ddpg_buffer_fill(const rlkd_ddpg *agent);

/*
 * One update from a batch drawn uniformly (with replacement) from the
 * buffer: the critic by one Adam step on the mean squared TD error with
 * targets y = (r - reward_shift) / reward_scale
 *          + discount * (1 - terminal) * Q'(s', mu'(s')),
 * the actor by one Adam step along -mean Q(s, mu(s)) through the critic
 * as that step left it (AMC's order), then both targets softly. *critic_loss (may be NULL) is the TD loss before the step.
 * Needs at least one transition, a finite reward_shift and a finite
 * reward_scale > 0 (else RLKD_ERR_INVALID_ARGUMENT). A loss that is not
 * finite gives RLKD_ERR_NUMERIC and leaves the agent as it was.
 */
rlkd_status rlkd_ddpg_update(rlkd_ddpg *agent, float reward_shift,
                             float reward_scale, float *critic_loss);

/*
 * Everything that makes the agent what it is, for save and resume: the F32
 * tensors (weights, targets, Adam moments, the buffer's arrays), each with
 * a stable name ("actor.fc1.weight", "critic_target.fc3.bias",
 * "actor_adam.m.fc1.weight", "buffer.state", ...), and
 * RLKD_DDPG_COUNTERS integers, in this order: the buffer's next row and
 * its fill, the actor's and the critic's Adam step counts, and the
 * batch-sampling draws so far. Writing saved values into the tensors of an
 * agent created with the same config, and rlkd_ddpg_set_counters, restores
 * an agent exactly: it continues bit for bit.
 */
#define RLKD_DDPG_COUNTERS 5
int rlkd_ddpg_state_count(const rlkd_ddpg *agent);
void rlkd_ddpg_state_tensor(rlkd_ddpg *agent, int index, const char **name,
                            rlkd_tensor **value);
void rlkd_ddpg_counters(const rlkd_ddpg *agent,
                        uint64_t counters[RLKD_DDPG_COUNTERS]);
/* RLKD_ERR_FORMAT (nothing changed) if a counter is out of range: a row or
 * fill beyond buffer_size, a row other than the fill while the buffer is
 * not full, a step count past INT64_MAX. */
rlkd_status rlkd_ddpg_set_counters(rlkd_ddpg *agent,
                                   const uint64_t counters[RLKD_DDPG_COUNTERS]);

/* For tests/test_ddpg.c: the gradients that rlkd_ddpg_update steps along,
 * on the batch of buffer rows `rows` (config.batch_size of them) and the
 * current weights (no step in between): the TD loss, and each network's
 * parameter gradients concatenated in state order (actor.fc1.weight ...
 * actor.fc3.bias, critic.fc1_s.weight ... critic.fc3.bias). */
rlkd_status rlkd_ddpg_test_gradients(rlkd_ddpg *agent, const int *rows,
                                     float reward_shift, float reward_scale,
                                     float *critic_loss, float *actor_grad,
                                     float *critic_grad);

#endif
