/*
 * A network's architecture as JSON, as checkpoints carry it:
 *   {"version": 1, "input": [C, H, W],
 *    "layers": [{"kind": "conv2d", "name": "features.0", "inputs": [0],
 *                "out_channels": 64, "kernel": 3, ...}, ...]}
 * Each layer lists the spec fields its kind uses, and nothing else.
 */
#ifndef RLKD_ARCHITECTURE_H
#define RLKD_ARCHITECTURE_H

#include "net_internal.h"

/* The architecture of net as JSON text in *out, allocated by cJSON: the
 * caller frees it with cJSON_free. */
rlkd_status rlkd_architecture_to_json(const rlkd_net *net, char **out);

/* Builds a network on ctx from rlkd_architecture_to_json's text (weights
 * not drawn at random: a file fills them) whose parameters and buffers
 * hold at most max_values values (what the file's data can fill). Text
 * that is malformed, or describes layers the builder refuses or more
 * values, is RLKD_ERR_FORMAT; on failure *out is NULL. */
rlkd_status rlkd_architecture_build(rlkd_context *ctx, const char *json,
                                    int64_t max_values, rlkd_net **out);

#endif
