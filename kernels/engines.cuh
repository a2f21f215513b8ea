/*
 * Private to the engine files (engines.cu, conv2d_cudnn.cu,
 * linear_cublas.cu): the context's cuDNN and cuBLAS handles, the cuDNN plan
 * of a convolution geometry, and both libraries' errors as rlkd statuses.
 */
#ifndef RLKD_ENGINES_CUH
#define RLKD_ENGINES_CUH

#include "cuda.h"
#include "cuda_common.cuh"
#include "engines.h"

#include <cublas_v2.h>
#include <cudnn.h>

/* The cuDNN and cuBLAS functions the engines call, through rlkd_dnn,
 * which rlkd_engines_load fills from the libraries (engine_libraries.cu):
 * their real symbol names (cublas_v2.h's macros name the _v2 ones, so
 * rlkd_dnn.cublasCreate(...) calls cublasCreate_v2). */
#define RLKD_CUDNN_FUNCTIONS(X)                                              \
    X(cudnnAddTensor) X(cudnnConvolutionBackwardBias)                        \
    X(cudnnConvolutionBackwardData) X(cudnnConvolutionBackwardFilter)        \
    X(cudnnConvolutionForward) X(cudnnCreate)                                \
    X(cudnnCreateConvolutionDescriptor) X(cudnnCreateFilterDescriptor)       \
    X(cudnnCreateTensorDescriptor) X(cudnnDestroy)                           \
    X(cudnnDestroyConvolutionDescriptor) X(cudnnDestroyFilterDescriptor)     \
    X(cudnnDestroyTensorDescriptor)                                          \
    X(cudnnGetConvolutionBackwardDataAlgorithm_v7)                           \
    X(cudnnGetConvolutionBackwardDataWorkspaceSize)                          \
    X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)                         \
    X(cudnnGetConvolutionBackwardFilterWorkspaceSize)                        \
    X(cudnnGetConvolutionForwardAlgorithm_v7)                                \
    X(cudnnGetConvolutionForwardWorkspaceSize) X(cudnnGetErrorString)        \
    X(cudnnGetLastErrorString) X(cudnnSetConvolution2dDescriptor)            \
    X(cudnnSetConvolutionGroupCount) X(cudnnSetConvolutionMathType)          \
    X(cudnnSetFilter4dDescriptor) X(cudnnSetStream)                          \
    X(cudnnSetTensor4dDescriptor)
#define RLKD_CUBLAS_FUNCTIONS(X)                                             \
    X(cublasCreate_v2) X(cublasDestroy_v2) X(cublasGetStatusName)            \
    X(cublasGetStatusString) X(cublasSetStream_v2) X(cublasSgemm_v2)

#define RLKD_ENGINE_FUNCTION(f) decltype(&::f) f;
typedef struct rlkd_engine_library {
    RLKD_CUDNN_FUNCTIONS(RLKD_ENGINE_FUNCTION)
    RLKD_CUBLAS_FUNCTIONS(RLKD_ENGINE_FUNCTION)
} rlkd_engine_library;
#undef RLKD_ENGINE_FUNCTION

extern rlkd_engine_library rlkd_dnn;

/* What cuDNN needs to run one convolution geometry: its descriptors and,
 * for each pass, the algorithm chosen for it and that algorithm's
 * workspace. */
typedef struct rlkd_cudnn_plan {
    rlkd_conv2d_geom geom;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t forward;
    cudnnConvolutionBwdDataAlgo_t backward_data;
    cudnnConvolutionBwdFilterAlgo_t backward_filter;
    size_t forward_bytes, backward_data_bytes, backward_filter_bytes;
} rlkd_cudnn_plan;

/* Fail with a message naming `what` and the library's own words. */
rlkd_status rlkd_cudnn_check(cudnnStatus_t status, const char *what);
rlkd_status rlkd_cublas_check(cublasStatus_t status, const char *what);

/* The context's cuDNN handle, set to the context's stream, and the plan of
 * g (from the context's cache, or made now). The plan is valid until the
 * next call of this function on the context. */
rlkd_status rlkd_engine_cudnn(rlkd_context *ctx, const rlkd_conv2d_geom *g,
                              cudnnHandle_t *handle,
                              const rlkd_cudnn_plan **plan);

/* The context's cuBLAS handle, set to the context's stream. */
rlkd_status rlkd_engine_cublas(rlkd_context *ctx, cublasHandle_t *handle);

#endif
