/* Row-by-row helpers shared by the CPU loss ops. */
#include "softmax_rows.h"

#include <math.h>

double rlkd_cpu_log_sum_exp(const float *row, int k, double temperature)
{
    /* max(row) / T is max(row / T) for T > 0, and a compare is no call
     * (fmax is); NaNs are skipped either way. */
    float largest = -INFINITY;
    for (int j = 0; j < k; j++)
        largest = row[j] > largest ? row[j] : largest;
    const double max = largest / temperature;
    double sum = 0.0;
    /* expf: a third of exp's time, and its 1e-7 relative error is far
     * below what the float results keep. */
    for (int j = 0; j < k; j++)
        sum += expf((float)(row[j] / temperature - max));
    return max + log(sum);
}

rlkd_status rlkd_cpu_check_labels(const char *op, const int32_t *labels, int n,
                                  int k)
{
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: labels[%d] = %d is not a class index in "
                             "[0,%d)", op, i, (int)labels[i], k);
    return RLKD_OK;
}

double rlkd_cpu_cross_entropy_row(float *grad, const float *logits, int label,
                                  int k, double smoothing, double grad_scale,
                                  int accumulate)
{
    const double log_sum = rlkd_cpu_log_sum_exp(logits, k, 1.0);
    const double off_label = smoothing / k;
    double loss = 0.0;
    for (int j = 0; j < k; j++) {
        double log_p = logits[j] - log_sum;
        double target = off_label + (j == label ? 1.0 - smoothing : 0.0);
        /* 0 * log p is 0 even where a -inf logit makes log p = -inf */
        if (target > 0.0)
            loss -= target * log_p;
        if (grad) {
            float g = (float)(grad_scale * (expf((float)log_p) - target));
            grad[j] = accumulate ? grad[j] + g : g;
        }
    }
    return loss;
}

double rlkd_cpu_sum_rows(const float *row_loss, int n)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += row_loss[i];
    return sum;
}
