/*
 * Evaluation of a classifier over a loader's epoch 0: top-1 and top-5
 * accuracy and the mean cross-entropy; and the top-k counting that the
 * trainer shares for its running accuracy.
 */
#include "evaluate.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>

/* rlkd_evaluate's wider accuracy: top-5, or every class when fewer. */
#define EVALUATE_TOP_K 5

/* The label's rank in its row: how many classes come before it, ties going
 * to the lower index; a NaN score ranks last. */
static int label_rank(const float *row, int classes, int label)
{
    const float score = row[label];
    if (isnan(score))
        return classes;
    int rank = 0;
    for (int j = 0; j < classes; j++)
        rank += row[j] > score || (row[j] == score && j < label);
    return rank;
}

rlkd_status rlkd_count_hits(const rlkd_tensor *logits,
                            const rlkd_tensor *labels, int k, int64_t *top1,
                            int64_t *top_k)
{
    static const char op[] = "rlkd_count_hits";
    int n, classes;
    RLKD_TRY(rlkd_check_logits_labels(logits->ctx, op, "logits", logits,
                                      labels, 0, &n, &classes));
    const size_t count = (size_t)n * (size_t)classes;
    float *scores = malloc(count * sizeof *scores);
    int32_t *targets = malloc((size_t)n * sizeof *targets);
    rlkd_status status = RLKD_OK;
    if (!scores || !targets)
        status = rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory",
                           op);
    if (status == RLKD_OK)
        status = rlkd_tensor_read(logits, scores, count);
    if (status == RLKD_OK)
        status = rlkd_tensor_read_i32(labels, targets, (size_t)n);
    int64_t hits1 = 0, hits_k = 0;
    for (int i = 0; status == RLKD_OK && i < n; i++) {
        if (targets[i] < 0 || targets[i] >= classes) {
            status = rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                               "%s: labels[%d] = %d is not a class in "
                               "[0,%d)", op, i, (int)targets[i], classes);
            break;
        }
        const int rank = label_rank(scores + (size_t)i * (size_t)classes,
                                    classes, targets[i]);
        hits1 += rank < 1;
        hits_k += rank < k;
    }
    free(scores);
    free(targets);
    if (status != RLKD_OK)
        return status;
    if (top1)
        *top1 = hits1;
    if (top_k)
        *top_k = hits_k;
    return RLKD_OK;
}

/* One batch: inference, its summed cross-entropy and its hits. */
static rlkd_status evaluate_batch(rlkd_net *net, rlkd_tensor *batch_loss,
                                  const rlkd_tensor *images,
                                  const rlkd_tensor *labels, double *loss_sum,
                                  int64_t *hits1, int64_t *hits_k,
                                  int64_t *seen)
{
    static const char op[] = "rlkd_evaluate";
    rlkd_tensor *logits;
    RLKD_TRY(rlkd_net_forward(net, images, 0, &logits));
    if (logits->ndim != 2) {
        char shape[96];
        rlkd_format_shape(shape, sizeof shape, logits);
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the network's output is %s, not class scores "
                         "[N, K] (end the network with a linear layer)", op,
                         shape);
    }
    RLKD_TRY(rlkd_softmax_cross_entropy_forward(net->ctx, batch_loss, NULL,
                                                logits, labels, 0.0f));
    float mean;
    RLKD_TRY(rlkd_tensor_read(batch_loss, &mean, 1));
    const int64_t n = logits->shape[0], classes = logits->shape[1];
    int64_t batch_hits1, batch_hits_k;
    RLKD_TRY(rlkd_count_hits(logits, labels,
                             classes < EVALUATE_TOP_K ? (int)classes
                                                      : EVALUATE_TOP_K,
                             &batch_hits1, &batch_hits_k));
    /* The loss is a batch mean: weighted by the batch, a last smaller
     * batch counts as much per image as the others. */
    *loss_sum += (double)mean * (double)n;
    *hits1 += batch_hits1;
    *hits_k += batch_hits_k;
    *seen += n;
    return RLKD_OK;
}

/* This rank's rows of a batch (all of them without a communicator). */
static rlkd_status evaluate_rows(rlkd_net *net, rlkd_comm *comm,
                                 rlkd_tensor *batch_loss,
                                 const rlkd_tensor *images,
                                 const rlkd_tensor *labels, double sums[4])
{
    int64_t hits1 = 0, hits_k = 0, seen = 0;
    rlkd_status status;
    if (!comm) {
        status = evaluate_batch(net, batch_loss, images, labels, &sums[0],
                                &hits1, &hits_k, &seen);
    } else {
        rlkd_tensor *image_rows, *label_rows;
        float share;
        int64_t first_row;
        status = rlkd_parallel_shard(comm, "rlkd_evaluate", images, labels,
                                     &image_rows, &label_rows, &share,
                                     &first_row);
        if (status == RLKD_OK && image_rows)
            status = evaluate_batch(net, batch_loss, image_rows, label_rows,
                                    &sums[0], &hits1, &hits_k, &seen);
        rlkd_tensor_destroy(image_rows);
        rlkd_tensor_destroy(label_rows);
    }
    sums[1] += (double)hits1;
    sums[2] += (double)hits_k;
    sums[3] += (double)seen;
    return status;
}

rlkd_status rlkd_evaluate(rlkd_net *net, rlkd_loader *loader, double *top1,
                          double *top5, double *loss)
{
    return rlkd_evaluate_on(net, loader, NULL, top1, top5, loss);
}

rlkd_status rlkd_evaluate_on(rlkd_net *net, rlkd_loader *loader,
                             rlkd_comm *comm, double *top1, double *top5,
                             double *loss)
{
    static const char op[] = "rlkd_evaluate";
    if (!net || !loader)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !net ? "net" : "loader");
    RLKD_TRY(rlkd_loader_start_epoch(loader, 0, 0));
    const int64_t one = 1;
    rlkd_tensor *batch_loss;
    RLKD_TRY(rlkd_tensor_create(net->ctx, RLKD_DTYPE_F32, 1, &one,
                                &batch_loss));
    /* The summed loss, top-1 and top-k hits, and images: doubles, so that
     * the ranks' shares sum in one message (counts stay exact below 2^53). */
    double sums[4] = {0.0, 0.0, 0.0, 0.0};
    rlkd_status status;
    for (;;) {
        rlkd_tensor *images, *labels;
        status = rlkd_loader_next(loader, &images, &labels);
        if (status != RLKD_OK || !images)
            break;
        status = evaluate_rows(net, comm, batch_loss, images, labels, sums);
        if (status != RLKD_OK)
            break;
    }
    rlkd_tensor_destroy(batch_loss);
    if (status == RLKD_OK && comm)
        status = rlkd_comm_host_all_reduce(comm, op, sums, 4, RLKD_COMM_F64,
                                           RLKD_REDUCE_SUM);
    if (status != RLKD_OK)
        return status;
    const double loss_sum = sums[0], hits1 = sums[1], hits_k = sums[2],
                 seen = sums[3];
    if (seen == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the loader's epoch 0 has no images", op);
    if (top1)
        *top1 = hits1 / seen;
    if (top5)
        *top5 = hits_k / seen;
    if (loss)
        *loss = loss_sum / seen;
    return RLKD_OK;
}
