/* SGD with momentum on the GPU, as torch.optim.SGD with dampening 0. The
 * CPU's order of operations, each product and sum rounded on its own
 * (__fmul_rn, __fadd_rn: no fused multiply-adds, which the CPU build does
 * not make), so a step gives the CPU's bits. */
#include "elementwise.cuh"

__device__ __forceinline__ void sgd_update(float &param, float &buf,
                                           float grad, float lr,
                                           float momentum, float weight_decay,
                                           bool use_momentum, bool nesterov)
{
    float g = __fadd_rn(grad, __fmul_rn(weight_decay, param));
    if (use_momentum) {
        buf = __fadd_rn(__fmul_rn(momentum, buf), g);
        g = nesterov ? __fadd_rn(g, __fmul_rn(momentum, buf)) : buf;
    }
    param = __fadd_rn(param, -__fmul_rn(lr, g));
}

__global__ void rlkd_sgd_step_kernel(float *param, float *momentum_buf,
                                     const float *grad, size_t n, size_t quads,
                                     float lr, float momentum,
                                     float weight_decay, int nesterov)
{
    const bool use_momentum = momentum > 0.0f;
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        rlkd_floats<W> p = rlkd_load<W>(param, i), buf = {};
        const rlkd_floats<W> g = rlkd_load<W>(grad, i);
        if (use_momentum)
            buf = rlkd_load<W>(momentum_buf, i);
        for (int c = 0; c < W; c++)
            sgd_update(p.v[c], buf.v[c], g.v[c], lr, momentum, weight_decay,
                       use_momentum, nesterov);
        rlkd_store<W>(param, i, p);
        if (use_momentum)
            rlkd_store<W>(momentum_buf, i, buf);
    });
}

extern "C" rlkd_status rlkd_cuda_sgd_step(rlkd_context *ctx, float *param,
                                          float *momentum_buf,
                                          const float *grad, size_t n,
                                          float lr, float momentum,
                                          float weight_decay, int nesterov)
{
    const size_t quads = rlkd_cuda_quads(n, param, momentum_buf, grad);
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_sgd_step_kernel)(param, momentum_buf, grad, n, quads, lr,
                                      momentum, weight_decay, nesterov);
    return rlkd_cuda_launched("rlkd_sgd_step_kernel");
}
