/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_attention_transfer_loss(rlkd_context *ctx, float *loss,
                                             float *dstudent,
                                             const float *student,
                                             const float *teacher, int n,
                                             int student_c, int teacher_c,
                                             int hw, float dloss)
{
    (void)ctx;
    (void)loss;
    (void)dstudent;
    (void)student;
    (void)teacher;
    (void)n;
    (void)student_c;
    (void)teacher_c;
    (void)hw;
    (void)dloss;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

