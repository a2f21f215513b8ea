/* Linked instead of kernels/engines.cu, conv2d_cudnn.cu and linear_cublas.cu
 * in a build without cuDNN and cuBLAS (CUDA=0, ENGINES=0, or either library
 * not found): rlkd_context_set_engine refuses RLKD_ENGINE_CUDNN
 * (rlkd_engines_load), so the ops are never reached; they answer
 * RLKD_ERR_UNSUPPORTED all the same. */
#include "../../kernels/engines.h"

static rlkd_status engines_absent(const char *op)
{
    return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                     "%s: this build of rlkd lacks cuDNN and cuBLAS (it was "
                     "built without them or with ENGINES=0)", op);
}

int rlkd_engines_available(void)
{
    return 0;
}

rlkd_status rlkd_engines_load(const char *op)
{
    return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                     "%s: RLKD_ENGINE_CUDNN: this build of rlkd lacks cuDNN "
                     "and cuBLAS (it was built without them or with "
                     "ENGINES=0)", op);
}

rlkd_status rlkd_cudnn_conv2d_forward(rlkd_context *ctx, float *y,
                                      const float *x, const float *w,
                                      const float *bias,
                                      const rlkd_conv2d_geom *g)
{
    (void)ctx, (void)y, (void)x, (void)w, (void)bias, (void)g;
    return engines_absent("rlkd_conv2d_forward");
}

rlkd_status rlkd_cudnn_conv2d_backward(rlkd_context *ctx, float *dx,
                                       float *dw, float *dbias,
                                       const float *dy, const float *x,
                                       const float *w,
                                       const rlkd_conv2d_geom *g)
{
    (void)ctx, (void)dx, (void)dw, (void)dbias, (void)dy, (void)x, (void)w;
    (void)g;
    return engines_absent("rlkd_conv2d_backward");
}

rlkd_status rlkd_cublas_linear_forward(rlkd_context *ctx, float *y,
                                       const float *x, const float *w,
                                       const float *bias, int n,
                                       int in_features, int out_features)
{
    (void)ctx, (void)y, (void)x, (void)w, (void)bias, (void)n;
    (void)in_features, (void)out_features;
    return engines_absent("rlkd_linear_forward");
}

rlkd_status rlkd_cublas_linear_backward(rlkd_context *ctx, float *dx,
                                        float *dw, float *dbias,
                                        const float *dy, const float *x,
                                        const float *w, int n,
                                        int in_features, int out_features)
{
    (void)ctx, (void)dx, (void)dw, (void)dbias, (void)dy, (void)x, (void)w;
    (void)n, (void)in_features, (void)out_features;
    return engines_absent("rlkd_linear_backward");
}

void rlkd_engines_release(rlkd_context *ctx)
{
    (void)ctx;
}
