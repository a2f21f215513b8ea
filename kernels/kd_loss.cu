/*
 * Hinton's knowledge-distillation loss on the GPU, fused: one kernel reads
 * a row's student and teacher logits once for both tempered softmaxes' and
 * the cross-entropy's normalisers (online, kernels/softmax_rows.cuh), gets
 * the row's KL and cross-entropy from them, and reads the row a second time
 * only to write the gradient; the rows' losses are averaged in the same
 * kernel in a fixed order.
 *
 * The KL needs no second pass: with W = sum_j exp(t_j/T - mt/T) (t_j - s_j)
 * and Zt, Zs the normalisers (largest logits mt, ms factored out),
 *   KL = sum_j p_t (log p_t - log p_s) = W / (Zt T) - (mt - ms) / T
 *        - log Zt + log Zs.
 *
 * A label outside [0,k) cannot be reported without synchronising the host,
 * so its row's loss and cross-entropy gradient come out NaN (the CPU
 * backend answers RLKD_ERR_INVALID_ARGUMENT).
 */
#include "softmax_rows.cuh"

/* One thread's share of a row, then (merged) the row's. */
struct kd_row {
    rlkd_softmax_sum student; /* at temperature T */
    rlkd_softmax_sum teacher; /* at T */
    float teacher_gap;        /* W above, in the teacher's current scale */
    rlkd_softmax_sum student_ce; /* at 1, for the cross-entropy */
};

/* A class's logits (the teacher's only read when the KL is used). */
struct kd_logits {
    float student, teacher;
};

struct kd_params {
    double temperature, kl_weight, ce_weight; /* of the loss */
    float inv_temperature;
    float kl_grad_scale, ce_grad_scale; /* of the gradient */
    int use_kl, use_ce;
};

template <int ROW_THREADS>
__global__ void __launch_bounds__(RLKD_CUDA_BLOCK)
rlkd_kd_loss_kernel(float *loss, rlkd_row_mean_scratch scratch,
                    float *dstudent, const float *student,
                    const float *teacher, const int32_t *labels, int n, int k,
                    kd_params p)
{
    const int row = rlkd_row_index<ROW_THREADS>();
    double row_loss = 0.0;
    if (row < n) {
        const size_t offset = (size_t)row * (size_t)k;
        const float *s = student + offset, *t = teacher + offset;
        kd_row acc = {rlkd_softmax_empty(), rlkd_softmax_empty(), 0.0f,
                      rlkd_softmax_empty()};
        const auto load = [&](int j) {
            return kd_logits{s[j], p.use_kl ? t[j] : 0.0f};
        };
        rlkd_row_sweep<ROW_THREADS>(k, load, [&](int, kd_logits x) {
            if (p.use_kl) {
                rlkd_softmax_add(acc.student, x.student, p.inv_temperature);
                const rlkd_softmax_step step =
                    rlkd_softmax_add(acc.teacher, x.teacher, p.inv_temperature);
                /* A class the teacher rules out adds nothing, as on the
                 * CPU (and a -inf teacher logit no 0 * inf). */
                acc.teacher_gap =
                    acc.teacher_gap * step.rescale +
                    (step.term > 0.0f ? step.term * (x.teacher - x.student)
                                      : 0.0f);
            }
            if (p.use_ce)
                rlkd_softmax_add(acc.student_ce, x.student, 1.0f);
        });
        rlkd_row_merge<ROW_THREADS>(acc, [&](kd_row &a, const kd_row &b) {
            rlkd_softmax_merge(a.student, b.student, p.inv_temperature);
            const rlkd_softmax_rescale r =
                rlkd_softmax_merge(a.teacher, b.teacher, p.inv_temperature);
            a.teacher_gap = __fmul_rn(a.teacher_gap, r.mine) +
                            __fmul_rn(b.teacher_gap, r.theirs);
            rlkd_softmax_merge(a.student_ce, b.student_ce, 1.0f);
        });

        const int label = p.use_ce ? labels[row] : 0;
        const bool label_ok = label >= 0 && label < k;
        if (loss && rlkd_row_first_class<ROW_THREADS>() == 0) {
            double value = 0.0;
            if (p.use_kl) {
                const double kl =
                    acc.teacher_gap / ((double)acc.teacher.sum * p.temperature) -
                    ((double)acc.teacher.max - acc.student.max) /
                        p.temperature -
                    log((double)acc.teacher.sum) +
                    log((double)acc.student.sum);
                value += p.kl_weight * kl;
            }
            if (p.use_ce) {
                const double label_logit = label_ok ? s[label] : (double)NAN;
                value += p.ce_weight *
                         (rlkd_softmax_log_sum(acc.student_ce, 1.0) -
                          label_logit);
            }
            /* Rounded as the CPU stores its per-row losses. */
            row_loss = (float)value;
        }

        if (dstudent) {
            const float inv_student = 1.0f / acc.student.sum;
            const float inv_teacher = 1.0f / acc.teacher.sum;
            const float inv_ce = 1.0f / acc.student_ce.sum;
            const float ce_scale = label_ok ? p.ce_grad_scale : NAN;
            float *g = dstudent + offset;
            rlkd_row_sweep<ROW_THREADS>(k, load, [&](int j, kd_logits x) {
                float gj = 0.0f;
                /* d(T^2 KL)/ds = T (p_s - p_t), the T folded into the scale */
                if (p.use_kl)
                    gj = p.kl_grad_scale *
                         (expf((x.student - acc.student.max) *
                               p.inv_temperature) * inv_student -
                          expf((x.teacher - acc.teacher.max) *
                               p.inv_temperature) * inv_teacher);
                if (p.use_ce)
                    gj += ce_scale * (expf(x.student - acc.student_ce.max) *
                                          inv_ce -
                                      (j == label ? 1.0f : 0.0f));
                g[j] = gj;
            });
        }
    }
    if (loss)
        rlkd_grid_mean(loss, scratch, row_loss, n);
}

extern "C" rlkd_status rlkd_cuda_kd_loss(rlkd_context *ctx, float *loss,
                                         float *dstudent,
                                         const float *student,
                                         const float *teacher,
                                         const int32_t *labels, int n, int k,
                                         float alpha, float temperature,
                                         float dloss)
{
    /* The CPU's weights, in double as there; alpha == 0 leaves the teacher
     * out and alpha == 1 the labels (which may then be NULL). */
    const double t = temperature;
    kd_params p;
    p.temperature = t;
    p.kl_weight = alpha * t * t;
    p.ce_weight = 1.0 - alpha;
    p.inv_temperature = (float)(1.0 / t);
    p.kl_grad_scale = (float)(alpha * t * dloss / n);
    p.ce_grad_scale = (float)(p.ce_weight * dloss / n);
    p.use_kl = alpha > 0.0f;
    p.use_ce = alpha < 1.0f;

    return rlkd_row_loss_launch(ctx, "rlkd_kd_loss_kernel",
                                rlkd_kd_loss_kernel<32>,
                                rlkd_kd_loss_kernel<RLKD_CUDA_BLOCK>, loss, n,
                                k, dstudent, student, teacher, labels, n, k, p);
}
