/* Softmax cross-entropy with label smoothing on the CPU. */
#include "softmax_rows.h"

#include <stdlib.h>

rlkd_status rlkd_cpu_softmax_cross_entropy(rlkd_context *ctx, float *loss,
                                           float *dlogits, const float *logits,
                                           const int32_t *labels, int n, int k,
                                           float label_smoothing, float dloss)
{
    static const char op[] = "softmax_cross_entropy";
    RLKD_TRY(rlkd_cpu_check_labels(op, labels, n, k));
    /* Per-row losses, summed in order afterwards so that the loss does not
     * depend on how rows were shared among threads. Each is >= 0, so
     * storing it as float costs no more than the float result does. */
    float *row_loss = NULL;
    if (loss)
        RLKD_TRY(rlkd_cpu_scratch(op, (size_t)n, &row_loss));

    const double grad_scale = (double)dloss / n;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * (size_t)k > 16384)
    for (int i = 0; i < n; i++) {
        const size_t row = (size_t)i * (size_t)k;
        double row_value = rlkd_cpu_cross_entropy_row(
            dlogits ? dlogits + row : NULL, logits + row, labels[i], k,
            label_smoothing, grad_scale, 0);
        if (row_loss)
            row_loss[i] = (float)row_value;
    }

    if (loss) {
        *loss = (float)(rlkd_cpu_sum_rows(row_loss, n) / n);
        free(row_loss);
    }
    return RLKD_OK;
}
