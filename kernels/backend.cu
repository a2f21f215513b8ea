/* The CUDA backend's table. Entries left out stay NULL: those ops answer
 * RLKD_ERR_UNSUPPORTED on a CUDA context until their kernels land. */
#include "cuda.h"
#include "engines.h"

/* Convolutions and linear layers run on the context's engine
 * (rlkd_context_set_engine): native is kernels/conv2d.cu and linear.cu. */

static rlkd_status conv2d_forward(rlkd_context *ctx, float *y, const float *x,
                                  const float *w, const float *bias,
                                  const rlkd_conv2d_geom *g)
{
    if (ctx->engine == RLKD_ENGINE_CUDNN)
        return rlkd_cudnn_conv2d_forward(ctx, y, x, w, bias, g);
    return rlkd_cuda_conv2d_forward(ctx, y, x, w, bias, g);
}

static rlkd_status conv2d_backward(rlkd_context *ctx, float *dx, float *dw,
                                   float *dbias, const float *dy,
                                   const float *x, const float *w,
                                   const rlkd_conv2d_geom *g)
{
    if (ctx->engine == RLKD_ENGINE_CUDNN)
        return rlkd_cudnn_conv2d_backward(ctx, dx, dw, dbias, dy, x, w, g);
    return rlkd_cuda_conv2d_backward(ctx, dx, dw, dbias, dy, x, w, g);
}

static rlkd_status linear_forward(rlkd_context *ctx, float *y, const float *x,
                                  const float *w, const float *bias, int n,
                                  int in_features, int out_features)
{
    if (ctx->engine == RLKD_ENGINE_CUDNN)
        return rlkd_cublas_linear_forward(ctx, y, x, w, bias, n, in_features,
                                          out_features);
    return rlkd_cuda_linear_forward(ctx, y, x, w, bias, n, in_features,
                                    out_features);
}

static rlkd_status linear_backward(rlkd_context *ctx, float *dx, float *dw,
                                   float *dbias, const float *dy,
                                   const float *x, const float *w, int n,
                                   int in_features, int out_features)
{
    if (ctx->engine == RLKD_ENGINE_CUDNN)
        return rlkd_cublas_linear_backward(ctx, dx, dw, dbias, dy, x, w, n,
                                           in_features, out_features);
    return rlkd_cuda_linear_backward(ctx, dx, dw, dbias, dy, x, w, n,
                                     in_features, out_features);
}

/* The engines' handles go while the stream and the memory pool are still
 * there. */
static void context_release(rlkd_context *ctx)
{
    rlkd_engines_release(ctx);
    rlkd_cuda_context_release(ctx);
}

/* Assigned field by field: C++ has no partial designated initialisers
 * without -Wmissing-field-initializers complaining. */
static rlkd_backend make_cuda_backend(void)
{
    rlkd_backend b = {};
    b.name = "cuda";
    b.context_init = rlkd_cuda_context_init;
    b.context_release = context_release;
    b.alloc = rlkd_cuda_alloc;
    b.release = rlkd_cuda_release;
    b.copy_from_host = rlkd_cuda_copy_from_host;
    b.copy_to_host = rlkd_cuda_copy_to_host;
    b.copy = rlkd_cuda_copy;
    b.synchronize = rlkd_cuda_synchronize;
    b.fill = rlkd_cuda_fill;
    b.fill_random = rlkd_cuda_fill_random;
    b.increment_i32 = rlkd_cuda_increment_i32;
    b.relu_forward = rlkd_cuda_relu_forward;
    b.relu_backward = rlkd_cuda_relu_backward;
    b.add = rlkd_cuda_add;
    b.dropout_forward = rlkd_cuda_dropout_forward;
    b.dropout_backward = rlkd_cuda_dropout_backward;
    b.channel_mask = rlkd_cuda_channel_mask;
    b.concat_forward = rlkd_cuda_concat_forward;
    b.concat_backward = rlkd_cuda_concat_backward;
    b.softmax_cross_entropy = rlkd_cuda_softmax_cross_entropy;
    b.kd_loss = rlkd_cuda_kd_loss;
    b.sgd_step = rlkd_cuda_sgd_step;
    b.adam_step = rlkd_cuda_adam_step;
    b.conv2d_forward = conv2d_forward;
    b.conv2d_backward = conv2d_backward;
    b.linear_forward = linear_forward;
    b.linear_backward = linear_backward;
    b.batchnorm2d_forward = rlkd_cuda_batchnorm2d_forward;
    b.batchnorm2d_backward = rlkd_cuda_batchnorm2d_backward;
    b.maxpool2d_forward = rlkd_cuda_maxpool2d_forward;
    b.maxpool2d_backward = rlkd_cuda_maxpool2d_backward;
    b.avgpool2d_forward = rlkd_cuda_avgpool2d_forward;
    b.avgpool2d_backward = rlkd_cuda_avgpool2d_backward;
    b.global_avgpool_forward = rlkd_cuda_global_avgpool_forward;
    b.global_avgpool_backward = rlkd_cuda_global_avgpool_backward;
    b.attention_transfer_loss = rlkd_cuda_attention_transfer_loss;
    b.se_forward = rlkd_cuda_se_forward;
    b.se_backward = rlkd_cuda_se_backward;
    b.eca_forward = rlkd_cuda_eca_forward;
    b.eca_backward = rlkd_cuda_eca_backward;
    b.cbam_forward = rlkd_cuda_cbam_forward;
    b.cbam_backward = rlkd_cuda_cbam_backward;
    return b;
}

static const rlkd_backend cuda_backend = make_cuda_backend();

extern "C" const rlkd_backend *rlkd_cuda_backend(void)
{
    return &cuda_backend;
}
