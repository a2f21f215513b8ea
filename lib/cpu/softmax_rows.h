/*
 * Row-by-row helpers shared by the CPU loss ops: a stable log-sum-exp, the
 * label check, one row of (label-smoothed) cross-entropy, and the ordered sum
 * of per-row losses that keeps a loss independent of the thread count.
 */
#ifndef RLKD_CPU_SOFTMAX_ROWS_H
#define RLKD_CPU_SOFTMAX_ROWS_H

#include "cpu.h"

/* log(sum_j exp(row[j] / temperature)) in double, with the largest term
 * factored out so that nothing overflows. Callers form log-softmax terms as
 * row[j] / temperature - result, the same expression, so they normalise. */
double rlkd_cpu_log_sum_exp(const float *row, int k, double temperature);

/* Fails with RLKD_ERR_INVALID_ARGUMENT, naming the first sample whose label
 * is outside [0,k) and its value. */
rlkd_status rlkd_cpu_check_labels(const char *op, const int32_t *labels, int n,
                                  int k);

/* Cross-entropy of one row of logits against the target
 * (1 - smoothing) onehot(label) + smoothing / k; returns the row's loss.
 * grad (may be NULL) receives grad_scale * (softmax(logits) - target): added
 * to what it holds when accumulate != 0, written otherwise. */
double rlkd_cpu_cross_entropy_row(float *grad, const float *logits, int label,
                                  int k, double smoothing, double grad_scale,
                                  int accumulate);

/* Sum of n per-row losses in index order, in double: however the rows were
 * shared among threads, the result is the same. */
double rlkd_cpu_sum_rows(const float *row_loss, int n);

#endif
