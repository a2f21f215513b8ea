/* Argument checks shared by the public SE, ECA and CBAM wrappers. */
#ifndef RLKD_OPS_ATTENTION_CHECK_H
#define RLKD_OPS_ATTENTION_CHECK_H

#include "../core/internal.h"

/* x must be a 4-D F32 tensor from ctx; fills g->n, c, h, w and zeroes the
 * rest of g. */
rlkd_status rlkd_check_attention_input(const rlkd_context *ctx, const char *op,
                                       const rlkd_tensor *x,
                                       rlkd_attention_geom *g);

/* The SE/CBAM MLP weights for g->c channels: w1 [hidden, C], w2 [C, hidden]
 * and the optional b1 [hidden], b2 [C]; fills g->hidden from w1. */
rlkd_status rlkd_check_attention_mlp(const rlkd_context *ctx, const char *op,
                                     const rlkd_tensor *w1,
                                     const rlkd_tensor *b1,
                                     const rlkd_tensor *w2,
                                     const rlkd_tensor *b2,
                                     rlkd_attention_geom *g);

/* Optional gradients of the MLP, shaped as their parameters (a bias
 * gradient is shaped as its bias would be, even when that bias is NULL). */
rlkd_status rlkd_check_attention_mlp_grads(const rlkd_context *ctx,
                                           const char *op,
                                           const rlkd_tensor *dw1,
                                           const rlkd_tensor *db1,
                                           const rlkd_tensor *dw2,
                                           const rlkd_tensor *db2,
                                           const rlkd_attention_geom *g);

/* A kernel size read from dimension `dim` of t must be odd, so that the
 * zero padding (k-1)/2 keeps the size; returns it in *kernel. */
rlkd_status rlkd_check_odd_kernel(const char *op, const char *name,
                                  const rlkd_tensor *t, int dim, int *kernel);

#endif
