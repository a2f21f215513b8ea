/*
 * What the cuDNN and cuBLAS engines keep per context (ctx->engine_state):
 * one handle of each library, made on its first use, and the cuDNN plans of
 * the convolution geometries met so far.
 *
 * Convolutions use cuDNN's legacy API (deprecated in cuDNN 9, present
 * throughout it): one call per pass with descriptors, where the graph API
 * would build and finalise an operation graph per geometry. Algorithms come
 * from cuDNN's heuristics (cudnnGet*Algorithm_v7), which run no kernels and
 * so never wait for the device. Plans live in a set-associative cache: a
 * network meets the same few hundred geometries step after step
 * (DenseNet-201 about two hundred), and batches of other sizes (evaluation,
 * an epoch's last batch) add theirs, so the cache is bounded and a lookup
 * costs one hash.
 */
#include "engines.cuh"

#include <stdlib.h>
#include <string.h>

/* Geometries are hashed and compared as bytes: they must be ints alone. */
static_assert(sizeof(rlkd_conv2d_geom) == 16 * sizeof(int),
              "rlkd_conv2d_geom is 16 ints without padding");

enum { PLAN_SETS = 256, PLAN_WAYS = 4 };

/* The most workspace an algorithm may ask for: enough for cuDNN's fast
 * algorithms on ImageNet-sized layers, small beside a network's own memory.
 * Algorithms that want more give way to the next best. */
static const size_t workspace_limit = (size_t)512 << 20;

typedef struct plan_set {
    rlkd_cudnn_plan *ways[PLAN_WAYS];
    unsigned next_victim; /* the way a new plan takes (empty ones first) */
} plan_set;

typedef struct engine_state {
    cudnnHandle_t cudnn;   /* NULL until the first convolution */
    cublasHandle_t cublas; /* NULL until the first linear layer */
    plan_set plans[PLAN_SETS];
} engine_state;

extern "C" int rlkd_engines_available(void)
{
    return 1;
}

rlkd_status rlkd_cudnn_check(cudnnStatus_t status, const char *what)
{
    if (status == CUDNN_STATUS_SUCCESS)
        return RLKD_OK;
    rlkd_status code = RLKD_ERR_DEVICE;
    if (CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_NOT_SUPPORTED)
        code = RLKD_ERR_UNSUPPORTED;
    else if (status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
             status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
        code = RLKD_ERR_OUT_OF_MEMORY;
    char detail[256];
    rlkd_dnn.cudnnGetLastErrorString(detail, sizeof detail);
    return rlkd_fail(code, "cudnn: %s failed: %s%s%s", what,
                     rlkd_dnn.cudnnGetErrorString(status),
                     detail[0] ? ": " : "", detail);
}

rlkd_status rlkd_cublas_check(cublasStatus_t status, const char *what)
{
    if (status == CUBLAS_STATUS_SUCCESS)
        return RLKD_OK;
    rlkd_status code = status == CUBLAS_STATUS_ALLOC_FAILED
                           ? RLKD_ERR_OUT_OF_MEMORY
                       : status == CUBLAS_STATUS_NOT_SUPPORTED
                           ? RLKD_ERR_UNSUPPORTED
                           : RLKD_ERR_DEVICE;
    return rlkd_fail(code, "cublas: %s failed: %s (%s)", what,
                     rlkd_dnn.cublasGetStatusString(status),
                     rlkd_dnn.cublasGetStatusName(status));
}

/* The context's engine state, made on first use. The device is made
 * current: a handle belongs to the device it was made on, and its calls
 * must run there. */
static rlkd_status state_of(rlkd_context *ctx, engine_state **out)
{
    RLKD_TRY(rlkd_cuda_check(cudaSetDevice(ctx->device_index),
                             "cudaSetDevice"));
    if (!ctx->engine_state) {
        ctx->engine_state = calloc(1, sizeof(engine_state));
        if (!ctx->engine_state)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                             "cuda: out of host memory for the cuDNN and "
                             "cuBLAS engines' state");
    }
    *out = (engine_state *)ctx->engine_state;
    return RLKD_OK;
}

static void plan_destroy(rlkd_cudnn_plan *p)
{
    if (!p)
        return;
    if (p->x)
        rlkd_dnn.cudnnDestroyTensorDescriptor(p->x);
    if (p->y)
        rlkd_dnn.cudnnDestroyTensorDescriptor(p->y);
    if (p->bias)
        rlkd_dnn.cudnnDestroyTensorDescriptor(p->bias);
    if (p->w)
        rlkd_dnn.cudnnDestroyFilterDescriptor(p->w);
    if (p->conv)
        rlkd_dnn.cudnnDestroyConvolutionDescriptor(p->conv);
    free(p);
}

/* NCHW float32 descriptors of x, y, w, bias [1, Cout, 1, 1] and the
 * convolution. */
static rlkd_status plan_describe(rlkd_cudnn_plan *p)
{
    const rlkd_conv2d_geom *g = &p->geom;
    RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnCreateTensorDescriptor(&p->x),
                              "cudnnCreateTensorDescriptor"));
    RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnCreateTensorDescriptor(&p->y),
                              "cudnnCreateTensorDescriptor"));
    RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnCreateTensorDescriptor(&p->bias),
                              "cudnnCreateTensorDescriptor"));
    RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnCreateFilterDescriptor(&p->w),
                              "cudnnCreateFilterDescriptor"));
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnCreateConvolutionDescriptor(&p->conv),
                              "cudnnCreateConvolutionDescriptor"));
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW,
                                            CUDNN_DATA_FLOAT, g->n, g->in_c,
                                            g->in_h, g->in_w),
        "cudnnSetTensor4dDescriptor (x)"));
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW,
                                            CUDNN_DATA_FLOAT, g->n, g->out_c,
                                            g->out_h, g->out_w),
        "cudnnSetTensor4dDescriptor (y)"));
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW,
                                            CUDNN_DATA_FLOAT, 1, g->out_c,
                                            1, 1),
        "cudnnSetTensor4dDescriptor (bias)"));
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT,
                                            CUDNN_TENSOR_NCHW, g->out_c,
                                            g->in_c / g->groups, g->kernel_h,
                                            g->kernel_w),
        "cudnnSetFilter4dDescriptor (w)"));
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnSetConvolution2dDescriptor(p->conv, g->pad_h, g->pad_w,
                                                 g->stride_h, g->stride_w,
                                                 g->dilation_h, g->dilation_w,
                                                 CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT),
        "cudnnSetConvolution2dDescriptor"));
    RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnSetConvolutionGroupCount(p->conv,
                                                                     g->groups),
                              "cudnnSetConvolutionGroupCount"));
    /* Default math lets Ampere and later GPUs round float inputs to TF32;
     * FMA math keeps full float32, as the CPU backend computes. */
    return rlkd_cudnn_check(
        rlkd_dnn.cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH),
                            "cudnnSetConvolutionMathType");
}

/* The first of cuDNN's results (ranked fastest first) that is supported,
 * fits the workspace limit and was ranked for full-float math (one ranked
 * for tensor-op math may not run under the descriptor's FMA math); -1 when
 * none is. */
template <typename Perf>
static int first_usable(const Perf *results, int count)
{
    for (int i = 0; i < count; i++)
        if (results[i].status == CUDNN_STATUS_SUCCESS &&
            results[i].memory <= workspace_limit &&
            (results[i].mathType == CUDNN_FMA_MATH ||
             results[i].mathType == CUDNN_DEFAULT_MATH))
            return i;
    return -1;
}

/* Each pass falls back to the algorithm that supports every geometry
 * (implicit GEMM, algorithm 0) when no ranked one is usable. */
static rlkd_status choose_forward(cudnnHandle_t handle, rlkd_cudnn_plan *p)
{
    cudnnConvolutionFwdAlgoPerf_t results[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnGetConvolutionForwardAlgorithm_v7(
            handle, p->x, p->w, p->conv, p->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
            &count, results),
        "cudnnGetConvolutionForwardAlgorithm_v7"));
    const int best = first_usable(results, count);
    p->forward = best >= 0 ? results[best].algo
                           : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    return rlkd_cudnn_check(
        rlkd_dnn.cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w,
                                                         p->conv, p->y,
                                                         p->forward,
                                                         &p->forward_bytes),
        "cudnnGetConvolutionForwardWorkspaceSize");
}

static rlkd_status choose_backward_data(cudnnHandle_t handle,
                                        rlkd_cudnn_plan *p)
{
    cudnnConvolutionBwdDataAlgoPerf_t
        results[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(
            handle, p->w, p->y, p->conv, p->x,
            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, results),
        "cudnnGetConvolutionBackwardDataAlgorithm_v7"));
    const int best = first_usable(results, count);
    p->backward_data = best >= 0 ? results[best].algo
                                 : CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    return rlkd_cudnn_check(
        rlkd_dnn.cudnnGetConvolutionBackwardDataWorkspaceSize(
            handle, p->w, p->y, p->conv, p->x, p->backward_data,
            &p->backward_data_bytes),
        "cudnnGetConvolutionBackwardDataWorkspaceSize");
}

static rlkd_status choose_backward_filter(cudnnHandle_t handle,
                                          rlkd_cudnn_plan *p)
{
    cudnnConvolutionBwdFilterAlgoPerf_t
        results[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    RLKD_TRY(rlkd_cudnn_check(
        rlkd_dnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            handle, p->x, p->y, p->conv, p->w,
            CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, results),
        "cudnnGetConvolutionBackwardFilterAlgorithm_v7"));
    const int best = first_usable(results, count);
    p->backward_filter = best >= 0 ? results[best].algo
                                   : CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
    return rlkd_cudnn_check(
        rlkd_dnn.cudnnGetConvolutionBackwardFilterWorkspaceSize(
            handle, p->x, p->y, p->conv, p->w, p->backward_filter,
            &p->backward_filter_bytes),
        "cudnnGetConvolutionBackwardFilterWorkspaceSize");
}

/* A new plan for g, or a failure with nothing left behind. */
static rlkd_status plan_make(cudnnHandle_t handle, const rlkd_conv2d_geom *g,
                             rlkd_cudnn_plan **out)
{
    rlkd_cudnn_plan *p = (rlkd_cudnn_plan *)calloc(1, sizeof *p);
    if (!p)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "cuda: out of host memory for a cuDNN plan");
    p->geom = *g;
    rlkd_status status = plan_describe(p);
    if (status == RLKD_OK)
        status = choose_forward(handle, p);
    if (status == RLKD_OK)
        status = choose_backward_data(handle, p);
    if (status == RLKD_OK)
        status = choose_backward_filter(handle, p);
    if (status != RLKD_OK) {
        plan_destroy(p);
        return status;
    }
    *out = p;
    return RLKD_OK;
}

/* FNV-1a over the geometry's bytes. */
static uint32_t geom_hash(const rlkd_conv2d_geom *g)
{
    const unsigned char *bytes = (const unsigned char *)g;
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < sizeof *g; i++)
        hash = (hash ^ bytes[i]) * 16777619u;
    return hash;
}

rlkd_status rlkd_engine_cudnn(rlkd_context *ctx, const rlkd_conv2d_geom *g,
                              cudnnHandle_t *handle,
                              const rlkd_cudnn_plan **plan)
{
    engine_state *state;
    RLKD_TRY(state_of(ctx, &state));
    if (!state->cudnn) {
        cudnnHandle_t made = NULL;
        RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnCreate(&made), "cudnnCreate"));
        state->cudnn = made;
    }
    RLKD_TRY(rlkd_cudnn_check(rlkd_dnn.cudnnSetStream(state->cudnn,
                                                      rlkd_cuda_stream(ctx)),
                              "cudnnSetStream"));
    *handle = state->cudnn;
    plan_set *set = &state->plans[geom_hash(g) % PLAN_SETS];
    for (int i = 0; i < PLAN_WAYS; i++)
        if (set->ways[i] && memcmp(&set->ways[i]->geom, g, sizeof *g) == 0) {
            *plan = set->ways[i];
            return RLKD_OK;
        }
    rlkd_cudnn_plan *made = NULL;
    RLKD_TRY(plan_make(state->cudnn, g, &made));
    plan_destroy(set->ways[set->next_victim]);
    set->ways[set->next_victim] = made;
    set->next_victim = (set->next_victim + 1) % PLAN_WAYS;
    *plan = made;
    return RLKD_OK;
}

rlkd_status rlkd_engine_cublas(rlkd_context *ctx, cublasHandle_t *handle)
{
    engine_state *state;
    RLKD_TRY(state_of(ctx, &state));
    if (!state->cublas) {
        cublasHandle_t made = NULL;
        RLKD_TRY(rlkd_cublas_check(
            rlkd_dnn.cublasCreate(&made), "cublasCreate"));
        state->cublas = made;
    }
    RLKD_TRY(rlkd_cublas_check(rlkd_dnn.cublasSetStream(state->cublas,
                                                        rlkd_cuda_stream(ctx)),
                               "cublasSetStream"));
    *handle = state->cublas;
    return RLKD_OK;
}

extern "C" void rlkd_engines_release(rlkd_context *ctx)
{
    engine_state *state = (engine_state *)ctx->engine_state;
    if (!state)
        return;
    cudaSetDevice(ctx->device_index);
    /* Work still queued may use cuBLAS's own workspace. */
    cudaStreamSynchronize(rlkd_cuda_stream(ctx));
    for (int s = 0; s < PLAN_SETS; s++)
        for (int i = 0; i < PLAN_WAYS; i++)
            plan_destroy(state->plans[s].ways[i]);
    if (state->cudnn)
        rlkd_dnn.cudnnDestroy(state->cudnn);
    if (state->cublas)
        rlkd_dnn.cublasDestroy(state->cublas);
    free(state);
    ctx->engine_state = NULL;
}
