/*
 * Softmax cross-entropy with label smoothing on the GPU, fused as the
 * distillation loss is (kd_loss.cu): one read of a row for its normaliser
 * and its loss, a second only for the gradient, the batch mean in the same
 * kernel in a fixed order.
 *
 * With target (1 - eps) onehot(label) + eps / k, summing to 1,
 *   loss = -sum_j target_j log p_j = LSE - (1 - eps) x_label - eps/k sum_j x_j
 * so the row needs its log-sum-exp, its label's logit and the sum of its
 * logits. A label outside [0,k) makes its row's loss and gradient NaN
 * (see kd_loss.cu).
 */
#include "softmax_rows.cuh"

/* One thread's share of a row, then (merged) the row's. */
struct ce_row {
    rlkd_softmax_sum logits;
    float logit_sum; /* only with label smoothing */
};

struct ce_params {
    double smoothing;
    float target_off, target_on; /* the target off and on the label */
    float grad_scale;
};

template <int ROW_THREADS>
__global__ void __launch_bounds__(RLKD_CUDA_BLOCK)
rlkd_softmax_cross_entropy_kernel(float *loss, rlkd_row_mean_scratch scratch,
                                  float *dlogits, const float *logits,
                                  const int32_t *labels, int n, int k,
                                  ce_params p)
{
    const int row = rlkd_row_index<ROW_THREADS>();
    double row_loss = 0.0;
    if (row < n) {
        const size_t offset = (size_t)row * (size_t)k;
        const float *x = logits + offset;
        ce_row acc = {rlkd_softmax_empty(), 0.0f};
        const auto load = [&](int j) { return x[j]; };
        rlkd_row_sweep<ROW_THREADS>(k, load, [&](int, float xj) {
            rlkd_softmax_add(acc.logits, xj, 1.0f);
            acc.logit_sum += xj;
        });
        rlkd_row_merge<ROW_THREADS>(acc, [](ce_row &a, const ce_row &b) {
            rlkd_softmax_merge(a.logits, b.logits, 1.0f);
            a.logit_sum += b.logit_sum;
        });

        const int label = labels[row];
        const bool label_ok = label >= 0 && label < k;
        if (loss && rlkd_row_first_class<ROW_THREADS>() == 0) {
            const double label_logit = label_ok ? x[label] : (double)NAN;
            double value = rlkd_softmax_log_sum(acc.logits, 1.0) -
                           (1.0 - p.smoothing) * label_logit;
            /* Without smoothing the sum has weight 0, and a -inf logit
             * would make that 0 * inf. */
            if (p.smoothing > 0.0)
                value -= p.smoothing / k * acc.logit_sum;
            /* Rounded as the CPU stores its per-row losses. */
            row_loss = (float)value;
        }

        if (dlogits) {
            const float inv_sum = 1.0f / acc.logits.sum;
            const float scale = label_ok ? p.grad_scale : NAN;
            float *g = dlogits + offset;
            rlkd_row_sweep<ROW_THREADS>(k, load, [&](int j, float xj) {
                g[j] = scale * (expf(xj - acc.logits.max) * inv_sum -
                                (j == label ? p.target_on : p.target_off));
            });
        }
    }
    if (loss)
        rlkd_grid_mean(loss, scratch, row_loss, n);
}

extern "C" rlkd_status rlkd_cuda_softmax_cross_entropy(
    rlkd_context *ctx, float *loss, float *dlogits, const float *logits,
    const int32_t *labels, int n, int k, float label_smoothing, float dloss)
{
    ce_params p;
    p.smoothing = label_smoothing;
    p.target_off = (float)(p.smoothing / k);
    p.target_on = (float)(p.smoothing / k + (1.0 - p.smoothing));
    p.grad_scale = (float)((double)dloss / n);

    return rlkd_row_loss_launch(
        ctx, "rlkd_softmax_cross_entropy_kernel",
        rlkd_softmax_cross_entropy_kernel<32>,
        rlkd_softmax_cross_entropy_kernel<RLKD_CUDA_BLOCK>, loss, n, k,
        dlogits, logits, labels, n, k, p);
}
