/*
 * 2-D convolution on cuDNN (RLKD_ENGINE_CUDNN): NCHW float32, groups and
 * dilation as cuDNN has them. The plan of each geometry (descriptors and
 * algorithms) comes from the context's cache (engines.cu); workspaces come
 * from the context's memory pool. dx is written; dw and dbias accumulate
 * (beta 1), as the backend table asks.
 */
#include "engines.cuh"

static const float one = 1.0f, zero = 0.0f;

/* A pooled workspace of `bytes`, or NULL for none. */
static rlkd_status workspace_alloc(rlkd_context *ctx, size_t bytes,
                                   void **out)
{
    *out = NULL;
    return bytes > 0 ? rlkd_cuda_alloc(ctx, out, bytes) : RLKD_OK;
}

extern "C" rlkd_status rlkd_cudnn_conv2d_forward(rlkd_context *ctx, float *y,
                                                 const float *x,
                                                 const float *w,
                                                 const float *bias,
                                                 const rlkd_conv2d_geom *g)
{
    cudnnHandle_t handle;
    const rlkd_cudnn_plan *plan;
    RLKD_TRY(rlkd_engine_cudnn(ctx, g, &handle, &plan));
    void *workspace;
    RLKD_TRY(workspace_alloc(ctx, plan->forward_bytes, &workspace));
    rlkd_status status = rlkd_cudnn_check(
        rlkd_dnn.cudnnConvolutionForward(handle, &one, plan->x, x, plan->w, w,
                                         plan->conv, plan->forward, workspace,
                                         plan->forward_bytes, &zero, plan->y,
                                         y),
        "cudnnConvolutionForward");
    /* Released at once: later work on the stream runs after the
     * convolution, so the pool may hand the block out again. */
    rlkd_cuda_release(ctx, workspace);
    if (status == RLKD_OK && bias)
        status = rlkd_cudnn_check(rlkd_dnn.cudnnAddTensor(handle, &one,
                                                          plan->bias, bias,
                                                          &one, plan->y, y),
                                  "cudnnAddTensor (bias)");
    return status;
}

extern "C" rlkd_status rlkd_cudnn_conv2d_backward(rlkd_context *ctx,
                                                  float *dx, float *dw,
                                                  float *dbias,
                                                  const float *dy,
                                                  const float *x,
                                                  const float *w,
                                                  const rlkd_conv2d_geom *g)
{
    cudnnHandle_t handle;
    const rlkd_cudnn_plan *plan;
    RLKD_TRY(rlkd_engine_cudnn(ctx, g, &handle, &plan));
    /* One workspace serves both passes (they run one after the other),
     * allocated before any output is touched. */
    size_t bytes = dw ? plan->backward_filter_bytes : 0;
    if (dx && plan->backward_data_bytes > bytes)
        bytes = plan->backward_data_bytes;
    void *workspace;
    RLKD_TRY(workspace_alloc(ctx, bytes, &workspace));
    rlkd_status status = RLKD_OK;
    if (dbias)
        status = rlkd_cudnn_check(
            rlkd_dnn.cudnnConvolutionBackwardBias(handle, &one, plan->y, dy,
                                                  &one, plan->bias, dbias),
            "cudnnConvolutionBackwardBias");
    if (status == RLKD_OK && dw)
        status = rlkd_cudnn_check(
            rlkd_dnn.cudnnConvolutionBackwardFilter(handle, &one, plan->x, x,
                                                    plan->y, dy, plan->conv,
                                                    plan->backward_filter,
                                                    workspace, bytes, &one,
                                                    plan->w, dw),
            "cudnnConvolutionBackwardFilter");
    if (status == RLKD_OK && dx)
        status = rlkd_cudnn_check(
            rlkd_dnn.cudnnConvolutionBackwardData(handle, &one, plan->w, w,
                                                  plan->y, dy, plan->conv,
                                                  plan->backward_data,
                                                  workspace, bytes, &zero,
                                                  plan->x, dx),
            "cudnnConvolutionBackwardData");
    rlkd_cuda_release(ctx, workspace);
    return status;
}
