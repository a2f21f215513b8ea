/*
 * Per-channel sigmoid gates shared by the CPU attention ops. SE and ECA are
 * both y = x * sigmoid(z), with z computed from the channel means of x; only
 * the map from means to z differs. CBAM's channel half is the same gate with
 * a different z. Tensors are N*C planes of hw elements each.
 */
#ifndef RLKD_CPU_ATTENTION_GATE_H
#define RLKD_CPU_ATTENTION_GATE_H

#include "cpu.h"

#include <math.h>

/* Loops with less work than this (in elements touched) stay on one thread:
 * waking the others would cost more than it saves. */
#define RLKD_CPU_ATTENTION_PARALLEL_WORK 65536

static inline float rlkd_cpu_sigmoid(float z)
{
    return 1.0f / (1.0f + expf(-z));
}

/* z[i] = sigmoid(z[i]) for n values. */
void rlkd_cpu_sigmoid_in_place(float *z, size_t n);

/* y = x * gate[p] on plane p. y may be x. */
void rlkd_cpu_scale_planes(rlkd_context *ctx, float *y, const float *x,
                           const float *gate, size_t planes, size_t hw);

/*
 * Gradient reaching the logit of the gate y = x * sigmoid(logit):
 * dlogit[p] = sum over plane p of dy * x, times gate[p] (1 - gate[p]).
 */
void rlkd_cpu_gate_logit_grad(rlkd_context *ctx, float *dlogit,
                              const float *dy, const float *x,
                              const float *gate, size_t planes, size_t hw);

/*
 * Input gradient of a gate whose logit was computed from the plane means:
 * dx = dy * gate[p] + dmean[p] / hw, where dmean is the gradient reaching the
 * means. dx may be dy.
 */
void rlkd_cpu_gate_input_grad(rlkd_context *ctx, float *dx, const float *dy,
                              const float *gate, const float *dmean,
                              size_t planes, size_t hw);

#endif
