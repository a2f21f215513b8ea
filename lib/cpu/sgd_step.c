/* SGD with momentum, as torch.optim.SGD with dampening 0. */
#include "cpu.h"

rlkd_status rlkd_cpu_sgd_step(rlkd_context *ctx, float *param,
                              float *momentum_buf, const float *grad, size_t n,
                              float lr, float momentum, float weight_decay,
                              int nesterov)
{
    const int use_momentum = momentum > 0.0f;
    #pragma omp parallel for num_threads(ctx->num_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + weight_decay * param[i];
        if (use_momentum) {
            float buf = momentum * momentum_buf[i] + g;
            momentum_buf[i] = buf;
            g = nesterov ? g + momentum * buf : buf;
        }
        param[i] -= lr * g;
    }
    return RLKD_OK;
}
