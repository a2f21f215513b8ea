/* rlkd_kd_loss_forward / _backward: checks, then the one fused backend entry
 * (the forward's optional gradient is taken with dloss = 1). */
#include "../core/internal.h"

/* What both calls check: dstudent (may be NULL here), student [N,K], teacher
 * like student, labels [N] (NULL only when alpha == 1), alpha in [0,1],
 * 0 < temperature < inf. Fills n and k. */
static rlkd_status check_arguments(const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *dstudent,
                                   const rlkd_tensor *student,
                                   const rlkd_tensor *teacher,
                                   const rlkd_tensor *labels, float alpha,
                                   float temperature, int *n, int *k)
{
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dstudent", dstudent,
                                        RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_logits_labels(ctx, op, "student", student, labels, 1,
                                      n, k));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "teacher", teacher, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_same_shape(op, "teacher", teacher, "student",
                                    student));
    if (dstudent)
        RLKD_TRY(rlkd_expect_same_shape(op, "dstudent", dstudent, "student",
                                        student));
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: alpha must be in [0,1], got %g", op,
                         (double)alpha);
    if (!labels && alpha != 1.0f)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: labels is NULL but alpha is %g (labels may be "
                         "NULL only when alpha == 1)", op, (double)alpha);
    return rlkd_expect_finite_above(op, "temperature", temperature, 0.0f);
}

rlkd_status rlkd_kd_loss_forward(rlkd_context *ctx, rlkd_tensor *loss,
                                 rlkd_tensor *dstudent,
                                 const rlkd_tensor *student,
                                 const rlkd_tensor *teacher,
                                 const rlkd_tensor *labels, float alpha,
                                 float temperature)
{
    static const char op[] = "rlkd_kd_loss_forward";
    int n, k;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_loss_tensor(ctx, op, loss));
    RLKD_TRY(check_arguments(ctx, op, dstudent, student, teacher, labels, alpha,
                             temperature, &n, &k));
    return RLKD_DISPATCH(ctx, kd_loss, rlkd_f32(loss), rlkd_f32(dstudent),
                         rlkd_f32(student), rlkd_f32(teacher),
                         rlkd_i32(labels), n, k, alpha, temperature, 1.0f);
}

rlkd_status rlkd_kd_loss_backward(rlkd_context *ctx, rlkd_tensor *dstudent,
                                  const rlkd_tensor *student,
                                  const rlkd_tensor *teacher,
                                  const rlkd_tensor *labels, float alpha,
                                  float temperature, float dloss)
{
    static const char op[] = "rlkd_kd_loss_backward";
    int n, k;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dstudent", dstudent, RLKD_DTYPE_F32));
    RLKD_TRY(check_arguments(ctx, op, dstudent, student, teacher, labels, alpha,
                             temperature, &n, &k));
    RLKD_TRY(rlkd_expect_finite(op, "dloss", dloss));
    return RLKD_DISPATCH(ctx, kd_loss, NULL, rlkd_f32(dstudent),
                         rlkd_f32(student), rlkd_f32(teacher),
                         rlkd_i32(labels), n, k, alpha, temperature, dloss);
}
