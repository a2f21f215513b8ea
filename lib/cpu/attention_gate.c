/* Per-channel sigmoid gates shared by SE, ECA and CBAM on the CPU. Every
 * loop runs over planes, each owned by one thread, so results do not depend
 * on the thread count. */
#include "attention_gate.h"

void rlkd_cpu_sigmoid_in_place(float *z, size_t n)
{
    for (size_t i = 0; i < n; i++)
        z[i] = rlkd_cpu_sigmoid(z[i]);
}

void rlkd_cpu_scale_planes(rlkd_context *ctx, float *y, const float *x,
                           const float *gate, size_t planes, size_t hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++)
        for (size_t i = p * hw; i < (p + 1) * hw; i++)
            y[i] = x[i] * gate[p];
}

void rlkd_cpu_gate_logit_grad(rlkd_context *ctx, float *dlogit,
                              const float *dy, const float *x,
                              const float *gate, size_t planes, size_t hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++) {
        double dgate = 0.0;
        for (size_t i = p * hw; i < (p + 1) * hw; i++)
            dgate += (double)dy[i] * x[i];
        dlogit[p] = (float)dgate * gate[p] * (1.0f - gate[p]);
    }
}

void rlkd_cpu_gate_input_grad(rlkd_context *ctx, float *dx, const float *dy,
                              const float *gate, const float *dmean,
                              size_t planes, size_t hw)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (planes * hw > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (size_t p = 0; p < planes; p++) {
        float dmean_each = dmean[p] / (float)hw;
        for (size_t i = p * hw; i < (p + 1) * hw; i++)
            dx[i] = dy[i] * gate[p] + dmean_each;
    }
}
