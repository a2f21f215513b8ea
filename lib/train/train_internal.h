/*
 * Private view of the L3 training objects shared by lib/train's files: the
 * optimiser's state (which trainer checkpoints save and restore).
 */
#ifndef RLKD_TRAIN_INTERNAL_H
#define RLKD_TRAIN_INTERNAL_H

#include "../nets/net_internal.h"

struct rlkd_optimizer {
    rlkd_net *net;
    rlkd_optimizer_options options;
    int64_t steps;
    /* per parameter i of the network (rlkd_net_param order):
     * SGD: first[i] = momentum buffer (NULL when momentum == 0), second NULL;
     * Adam/AdamW: first[i] = exp_avg, second[i] = exp_avg_sq */
    rlkd_tensor **first, **second;
    int *decays;   /* 1 if parameter i takes weight decay */
    int param_count;
};

/* The state tensor names within a checkpoint, after the prefix and the
 * parameter's name: "optimizer_state.<param>.<suffix>" (PyTorch's names). */
#define RLKD_OPTIMIZER_MOMENTUM "momentum_buffer"
#define RLKD_OPTIMIZER_EXP_AVG "exp_avg"
#define RLKD_OPTIMIZER_EXP_AVG_SQ "exp_avg_sq"

#endif
