/* Hinton's knowledge-distillation loss on the CPU. */
#include "softmax_rows.h"

#include <math.h>
#include <stdlib.h>

/* KL(softmax(teacher/T) || softmax(student/T)) of one row, without the T^2
 * factor. grad (may be NULL) receives
 * grad_scale * (softmax(student/T) - softmax(teacher/T)), written. */
static double kl_row(float *grad, const float *student, const float *teacher,
                     int k, double temperature, double grad_scale)
{
    const double log_sum_student =
        rlkd_cpu_log_sum_exp(student, k, temperature);
    const double log_sum_teacher =
        rlkd_cpu_log_sum_exp(teacher, k, temperature);
    double kl = 0.0;
    for (int j = 0; j < k; j++) {
        double log_p_student = student[j] / temperature - log_sum_student;
        double log_p_teacher = teacher[j] / temperature - log_sum_teacher;
        double p_teacher = expf((float)log_p_teacher);
        /* p log p -> 0 as p -> 0: a class the teacher rules out adds
         * nothing (and a -inf teacher logit gives no NaN) */
        if (p_teacher > 0.0)
            kl += p_teacher * (log_p_teacher - log_p_student);
        if (grad)
            grad[j] = (float)(grad_scale *
                              (expf((float)log_p_student) - p_teacher));
    }
    return kl;
}

rlkd_status rlkd_cpu_kd_loss(rlkd_context *ctx, float *loss, float *dstudent,
                             const float *student, const float *teacher,
                             const int32_t *labels, int n, int k, float alpha,
                             float temperature, float dloss)
{
    static const char op[] = "kd_loss";
    if (labels)
        RLKD_TRY(rlkd_cpu_check_labels(op, labels, n, k));
    /* Per-row losses (each >= 0), summed in order: see
     * softmax_cross_entropy.c. */
    float *row_loss = NULL;
    if (loss)
        RLKD_TRY(rlkd_cpu_scratch(op, (size_t)n, &row_loss));

    /* alpha == 0 leaves the teacher out, alpha == 1 the labels (which may
     * then be NULL), so each end is exactly its own loss. */
    const int use_kl = alpha > 0.0f, use_ce = alpha < 1.0f;
    const double t = temperature;
    const double kl_weight = alpha * t * t, ce_weight = 1.0 - alpha;
    /* d(T^2 KL)/d student = T (softmax(s/T) - softmax(t/T)) */
    const double kl_grad_scale = alpha * t * dloss / n;
    const double ce_grad_scale = ce_weight * dloss / n;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * (size_t)k > 16384)
    for (int i = 0; i < n; i++) {
        const size_t row = (size_t)i * (size_t)k;
        float *grad = dstudent ? dstudent + row : NULL;
        double row_value = 0.0;
        if (use_kl)
            row_value += kl_weight * kl_row(grad, student + row, teacher + row,
                                            k, t, kl_grad_scale);
        if (use_ce)
            row_value += ce_weight * rlkd_cpu_cross_entropy_row(
                                         grad, student + row, labels[i], k,
                                         0.0, ce_grad_scale, use_kl);
        if (row_loss)
            row_loss[i] = (float)row_value;
    }

    if (loss) {
        *loss = (float)(rlkd_cpu_sum_rows(row_loss, n) / n);
        free(row_loss);
    }
    return RLKD_OK;
}
