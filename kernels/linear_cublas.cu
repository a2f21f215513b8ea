/*
 * Fully connected layer on cuBLAS (RLKD_ENGINE_CUDNN): x [N, in],
 * w [out, in], y [N, out], row-major. cuBLAS is column-major: to it a
 * row-major [r, c] matrix is its transpose, [c, r]. So each product is
 * computed transposed, on the same memory:
 *   y = x w^T       as  y^T = w x^T       (w taken transposed: CUBLAS_OP_T)
 *   dx = dy w       as  dx^T = w^T dy^T
 *   dw += dy^T x    as  dw^T += x^T dy    (dy taken transposed)
 * The handle keeps cuBLAS's default math: full float32 (TF32 only when asked
 * for), as the CPU backend computes. The bias and its gradient are kernels
 * of their own here.
 */
#include "engines.cuh"

enum { BIAS_GRAD_COLUMNS = 32, BIAS_GRAD_ROWS = RLKD_CUDA_BLOCK / 32 };

/* y[row, o] = bias[o]: the GEMM then adds x w^T (beta 1). */
__global__ void rlkd_linear_bias_broadcast_kernel(float *y, const float *bias,
                                                  int n, int out_features)
{
    const size_t total = (size_t)n * out_features;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = bias[i % out_features];
}

/* dbias[o] += sum over rows of dy[row, o]. A block takes 32 adjacent
 * columns (a warp reads them coalesced) and splits the rows over its
 * BIAS_GRAD_ROWS warps, whose partial sums meet in shared memory. */
__global__ void rlkd_linear_bias_grad_kernel(float *dbias, const float *dy,
                                             int n, int out_features)
{
    __shared__ float partial[BIAS_GRAD_ROWS][BIAS_GRAD_COLUMNS];
    const int lane = threadIdx.x % BIAS_GRAD_COLUMNS;
    const int row0 = threadIdx.x / BIAS_GRAD_COLUMNS;
    const int o = blockIdx.x * BIAS_GRAD_COLUMNS + lane;
    float sum = 0.0f;
    if (o < out_features)
        for (int row = row0; row < n; row += BIAS_GRAD_ROWS)
            sum += dy[(size_t)row * out_features + o];
    partial[row0][lane] = sum;
    __syncthreads();
    if (row0 == 0 && o < out_features) {
        for (int r = 1; r < BIAS_GRAD_ROWS; r++)
            sum += partial[r][lane];
        dbias[o] += sum;
    }
}

extern "C" rlkd_status rlkd_cublas_linear_forward(rlkd_context *ctx, float *y,
                                                  const float *x,
                                                  const float *w,
                                                  const float *bias, int n,
                                                  int in_features,
                                                  int out_features)
{
    cublasHandle_t handle;
    RLKD_TRY(rlkd_engine_cublas(ctx, &handle));
    const float one = 1.0f;
    float beta = 0.0f;
    if (bias) {
        RLKD_LAUNCH(rlkd_cuda_blocks((size_t)n * out_features),
                    RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_linear_bias_broadcast_kernel)(y, bias, n,
                                                       out_features);
        RLKD_TRY(rlkd_cuda_launched("rlkd_linear_bias_broadcast_kernel"));
        beta = 1.0f;
    }
    return rlkd_cublas_check(
        rlkd_dnn.cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, out_features, n,
                             in_features, &one, w, in_features, x, in_features,
                             &beta, y, out_features),
        "cublasSgemm (y = x w^T)");
}

extern "C" rlkd_status rlkd_cublas_linear_backward(rlkd_context *ctx,
                                                   float *dx, float *dw,
                                                   float *dbias,
                                                   const float *dy,
                                                   const float *x,
                                                   const float *w, int n,
                                                   int in_features,
                                                   int out_features)
{
    cublasHandle_t handle;
    RLKD_TRY(rlkd_engine_cublas(ctx, &handle));
    const float one = 1.0f, zero = 0.0f;
    if (dbias) {
        const unsigned blocks =
            (unsigned)((out_features + BIAS_GRAD_COLUMNS - 1) /
                       BIAS_GRAD_COLUMNS);
        RLKD_LAUNCH(blocks, RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_linear_bias_grad_kernel)(dbias, dy, n, out_features);
        RLKD_TRY(rlkd_cuda_launched("rlkd_linear_bias_grad_kernel"));
    }
    if (dw)
        RLKD_TRY(rlkd_cublas_check(
            rlkd_dnn.cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, in_features,
                                 out_features, n, &one, x, in_features, dy,
                                 out_features, &one, dw, in_features),
            "cublasSgemm (dw += dy^T x)"));
    if (dx)
        RLKD_TRY(rlkd_cublas_check(
            rlkd_dnn.cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, in_features,
                                 n, out_features, &one, w, in_features, dy,
                                 out_features, &zero, dx, in_features),
            "cublasSgemm (dx = dy w)"));
    return RLKD_OK;
}
