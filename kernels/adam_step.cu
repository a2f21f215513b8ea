/* Adam / AdamW on the GPU, as torch.optim.Adam and torch.optim.AdamW (no
 * amsgrad). The CPU's bias corrections (computed on the host the same way)
 * and its order of operations, each product and sum rounded on its own
 * (__fmul_rn, __fadd_rn) and sqrtf and division correctly rounded as
 * nvcc's defaults make them, so a step gives the CPU's bits. */
#include "elementwise.cuh"

#include <math.h>

struct adam_params {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
    float step_size, sqrt_correction2, param_scale, grad_decay;
};

/*   param = param * param_scale - step_size * (m / (sqrt(v) / c2 + eps)) */
__device__ __forceinline__ void adam_update(float &param, float &m, float &v,
                                            float grad, const adam_params &a)
{
    const float g = __fadd_rn(grad, __fmul_rn(a.grad_decay, param));
    m = __fadd_rn(__fmul_rn(a.beta1, m), __fmul_rn(a.one_minus_beta1, g));
    v = __fadd_rn(__fmul_rn(a.beta2, v),
                  __fmul_rn(__fmul_rn(a.one_minus_beta2, g), g));
    const float denom = __fadd_rn(sqrtf(v) / a.sqrt_correction2, a.eps);
    param = __fadd_rn(__fmul_rn(param, a.param_scale),
                      -__fmul_rn(a.step_size, m / denom));
}

__global__ void rlkd_adam_step_kernel(float *param, float *m, float *v,
                                      const float *grad, size_t n,
                                      size_t quads, adam_params a)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        rlkd_floats<W> pv = rlkd_load<W>(param, i), mv = rlkd_load<W>(m, i),
                       vv = rlkd_load<W>(v, i);
        const rlkd_floats<W> gv = rlkd_load<W>(grad, i);
        for (int c = 0; c < W; c++)
            adam_update(pv.v[c], mv.v[c], vv.v[c], gv.v[c], a);
        rlkd_store<W>(param, i, pv);
        rlkd_store<W>(m, i, mv);
        rlkd_store<W>(v, i, vv);
    });
}

extern "C" rlkd_status rlkd_cuda_adam_step(rlkd_context *ctx, float *param,
                                           float *m, float *v,
                                           const float *grad, size_t n,
                                           float lr, float beta1, float beta2,
                                           float eps, float weight_decay,
                                           int decoupled, int64_t step)
{
    /* As lib/cpu/adam_step.c: the corrections in double once, then float.
     * AdamW shrinks the parameter; Adam adds the decay to the gradient. */
    const double t = (double)step;
    adam_params a;
    a.beta1 = beta1;
    a.beta2 = beta2;
    a.one_minus_beta1 = 1.0f - beta1;
    a.one_minus_beta2 = 1.0f - beta2;
    a.eps = eps;
    a.step_size = (float)(lr / (1.0 - pow(beta1, t)));
    a.sqrt_correction2 = (float)sqrt(1.0 - pow(beta2, t));
    a.param_scale = decoupled ? (float)(1.0 - (double)lr * weight_decay) : 1.0f;
    a.grad_decay = decoupled ? 0.0f : weight_decay;
    const size_t quads = rlkd_cuda_quads(n, param, m, v, grad);
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(n, quads), RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_adam_step_kernel)(param, m, v, grad, n, quads, a);
    return rlkd_cuda_launched("rlkd_adam_step_kernel");
}
