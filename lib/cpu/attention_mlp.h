/*
 * The two-layer MLP shared by SE and CBAM on the CPU, applied to `rows`
 * vectors of c values at once (SE: one per sample; CBAM: the average- and
 * max-pooled vectors of every sample):
 *   hidden_act = relu(v w1^T + b1)     [rows, hidden]
 *   out        = hidden_act w2^T + b2  [rows, c]
 * w1 [hidden, c], w2 [c, hidden]; b1 [hidden] and b2 [c] may be NULL.
 */
#ifndef RLKD_CPU_ATTENTION_MLP_H
#define RLKD_CPU_ATTENTION_MLP_H

#include "cpu.h"

rlkd_status rlkd_cpu_attention_mlp_forward(rlkd_context *ctx, float *out,
                                           float *hidden_act, const float *v,
                                           const float *w1, const float *b1,
                                           const float *w2, const float *b2,
                                           int rows, int c, int hidden);

/*
 * Backward from dout [rows, c], given the forward's v and hidden_act.
 * dv [rows, c] is written; dw1, db1, dw2, db2 accumulate over the rows. Any
 * of them may be NULL. dhidden [rows, hidden] is working memory.
 */
rlkd_status rlkd_cpu_attention_mlp_backward(rlkd_context *ctx, float *dv,
                                            float *dw1, float *db1,
                                            float *dw2, float *db2,
                                            float *dhidden, const float *dout,
                                            const float *v,
                                            const float *hidden_act,
                                            const float *w1, const float *w2,
                                            int rows, int c, int hidden);

#endif
