/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_dropout_forward(rlkd_context *ctx, float *y, float *mask,
                                     const float *x, size_t n, float p,
                                     uint64_t seed, uint64_t stream)
{
    (void)ctx;
    (void)y;
    (void)mask;
    (void)x;
    (void)n;
    (void)p;
    (void)seed;
    (void)stream;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_dropout_backward(rlkd_context *ctx, float *dx,
                                      const float *dy, const float *mask,
                                      size_t n)
{
    (void)ctx;
    (void)dx;
    (void)dy;
    (void)mask;
    (void)n;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

