/*
 * Private view of a search for the files of lib/search: how the network
 * environment (net_env.c) and the pipeline (compress.c) plug into the
 * episode loop of search.c.
 */
#ifndef RLKD_SEARCH_INTERNAL_H
#define RLKD_SEARCH_INTERNAL_H

#include "../core/internal.h"

/* An environment the search owns: destroyed with it, able to set a policy
 * on its network (rlkd_search_apply_best), and to score its share of the
 * validation over a communicator (rlkd_search_set_comm; NULL: one
 * process). Any entry but state may be NULL. */
typedef struct rlkd_search_env {
    void *state;
    void (*destroy)(void *state);
    rlkd_status (*apply)(void *state, const int *keep);
    rlkd_status (*set_comm)(void *state, rlkd_comm *comm);
} rlkd_search_env;

/* rlkd_search_create with an owned environment (env may be NULL: none);
 * on failure env->destroy(env->state) has been called. */
rlkd_status rlkd_search_create_env(const rlkd_search_layer *layers, int count,
                                   rlkd_search_cost_fn cost,
                                   rlkd_search_score_fn score,
                                   const rlkd_search_env *env,
                                   const rlkd_search_options *options,
                                   rlkd_search **out);

/* The options a search was made with (paths point at its own copies). */
const rlkd_search_options *rlkd_search_options_of(const rlkd_search *search);

#endif
