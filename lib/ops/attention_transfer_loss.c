/* rlkd_attention_transfer_loss_forward / _backward: checks, then the one
 * fused backend entry (the forward's optional gradient is taken with
 * dloss = 1). */
#include "../core/internal.h"

/* What both calls check: dstudent (may be NULL here) like student
 * [N,Cs,H,W], teacher [N,Ct,H,W] with any Ct. Fills the sizes. */
static rlkd_status check_arguments(const rlkd_context *ctx, const char *op,
                                   const rlkd_tensor *dstudent,
                                   const rlkd_tensor *student,
                                   const rlkd_tensor *teacher, int *n,
                                   int *student_c, int *teacher_c, int *hw)
{
    RLKD_TRY(rlkd_check_optional_tensor(ctx, op, "dstudent", dstudent,
                                        RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "student", student, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "teacher", teacher, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "student", student, 4));
    RLKD_TRY(rlkd_expect_ndim(op, "teacher", teacher, 4));
    /* the teacher keeps its own channel count; N, H and W must match */
    const int64_t teacher_shape[4] = {student->shape[0], teacher->shape[1],
                                      student->shape[2], student->shape[3]};
    RLKD_TRY(rlkd_expect_shape(op, "teacher", teacher, 4, teacher_shape));
    if (dstudent)
        RLKD_TRY(rlkd_expect_same_shape(op, "dstudent", dstudent, "student",
                                        student));
    const int64_t positions = student->shape[2] * student->shape[3];
    RLKD_TRY(rlkd_expect_int_size(RLKD_ERR_INVALID_ARGUMENT, op,
                                  "student's positions H*W", positions));
    *n = (int)student->shape[0];
    *student_c = (int)student->shape[1];
    *teacher_c = (int)teacher->shape[1];
    *hw = (int)positions;
    return RLKD_OK;
}

rlkd_status rlkd_attention_transfer_loss_forward(rlkd_context *ctx,
                                                 rlkd_tensor *loss,
                                                 rlkd_tensor *dstudent,
                                                 const rlkd_tensor *student,
                                                 const rlkd_tensor *teacher)
{
    static const char op[] = "rlkd_attention_transfer_loss_forward";
    int n, student_c, teacher_c, hw;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_loss_tensor(ctx, op, loss));
    RLKD_TRY(check_arguments(ctx, op, dstudent, student, teacher, &n,
                             &student_c, &teacher_c, &hw));
    return RLKD_DISPATCH(ctx, attention_transfer_loss, rlkd_f32(loss),
                         rlkd_f32(dstudent), rlkd_f32(student),
                         rlkd_f32(teacher), n, student_c, teacher_c, hw, 1.0f);
}

rlkd_status rlkd_attention_transfer_loss_backward(rlkd_context *ctx,
                                                  rlkd_tensor *dstudent,
                                                  const rlkd_tensor *student,
                                                  const rlkd_tensor *teacher,
                                                  float dloss)
{
    static const char op[] = "rlkd_attention_transfer_loss_backward";
    int n, student_c, teacher_c, hw;
    RLKD_TRY(rlkd_check_context(ctx, op));
    RLKD_TRY(rlkd_check_tensor(ctx, op, "dstudent", dstudent, RLKD_DTYPE_F32));
    RLKD_TRY(check_arguments(ctx, op, dstudent, student, teacher, &n,
                             &student_c, &teacher_c, &hw));
    RLKD_TRY(rlkd_expect_finite(op, "dloss", dloss));
    return RLKD_DISPATCH(ctx, attention_transfer_loss, NULL,
                         rlkd_f32(dstudent), rlkd_f32(student),
                         rlkd_f32(teacher), n, student_c, teacher_c, hw,
                         dloss);
}
