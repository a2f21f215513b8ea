/* Adam / AdamW, as torch.optim.Adam and torch.optim.AdamW (no amsgrad). */
#include "cpu.h"

#include <math.h>

rlkd_status rlkd_cpu_adam_step(rlkd_context *ctx, float *param, float *m,
                               float *v, const float *grad, size_t n, float lr,
                               float beta1, float beta2, float eps,
                               float weight_decay, int decoupled,
                               int64_t step)
{
    /* Bias corrections in double once, as torch computes them in Python;
     * the loop keeps torch's order of operations:
     *   param -= lr / (1 - beta1^t) * (m / (sqrt(v) / sqrt(1 - beta2^t) + eps))
     */
    const double t = (double)step;
    const float step_size = (float)(lr / (1.0 - pow(beta1, t)));
    const float sqrt_correction2 = (float)sqrt(1.0 - pow(beta2, t));
    /* AdamW shrinks the parameter; Adam adds the decay to the gradient. */
    const float param_scale =
        decoupled ? (float)(1.0 - (double)lr * weight_decay) : 1.0f;
    const float grad_decay = decoupled ? 0.0f : weight_decay;
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + grad_decay * param[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / sqrt_correction2 + eps;
        param[i] = param[i] * param_scale - step_size * (mi / denom);
    }
    return RLKD_OK;
}
