/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_add(rlkd_context *ctx, float *y, const float *a,
                         const float *b, size_t n)
{
    (void)ctx;
    (void)y;
    (void)a;
    (void)b;
    (void)n;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

