/*
 * Top-k counting shared by the trainer (top-1 hits of a training batch) and
 * rlkd_evaluate (top-1 and top-5 over a data set); the evaluation the
 * trainer runs, on one rank or on several.
 */
#ifndef RLKD_EVALUATE_H
#define RLKD_EVALUATE_H

#include "train_internal.h"

/*
 * Counts the rows of logits [n, K] whose label is the top-1 class (*top1)
 * and among the top k classes (*top_k); either pointer may be NULL. Ties
 * go to the lower class index, as an argmax takes the first maximum; a
 * NaN logit of the label is a miss.
 */
rlkd_status rlkd_count_hits(const rlkd_tensor *logits,
                            const rlkd_tensor *labels, int k, int64_t *top1,
                            int64_t *top_k);

/*
 * rlkd_evaluate, data-parallel when comm is not NULL (a collective call):
 * each rank evaluates its rows of every batch (the same batches on every
 * rank) and the sums are shared, so every rank gets the same results.
 */
rlkd_status rlkd_evaluate_on(rlkd_net *net, rlkd_loader *loader,
                             rlkd_comm *comm, double *top1, double *top5,
                             double *loss);

#endif
