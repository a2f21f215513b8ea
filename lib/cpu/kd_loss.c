/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_kd_loss(rlkd_context *ctx, float *loss, float *dstudent,
                             const float *student, const float *teacher,
                             const int32_t *labels, int n, int k, float alpha,
                             float temperature, float dloss)
{
    (void)ctx;
    (void)loss;
    (void)dstudent;
    (void)student;
    (void)teacher;
    (void)labels;
    (void)n;
    (void)k;
    (void)alpha;
    (void)temperature;
    (void)dloss;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

