/*
 * Fully connected layer on the CPU: one GEMM each for y, dx and dw.
 * x [N, in], w [out, in], y [N, out], all row-major.
 */
#include "cpu.h"

/* Below this many floats of work a loop stays on one thread. */
#define RLKD_LINEAR_PARALLEL_MIN 32768

rlkd_status rlkd_cpu_linear_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias, int n,
                                    int in_features, int out_features)
{
    rlkd_cpu_gemm(ctx, 0, 1, n, out_features, in_features, 1.0f, x,
                  in_features, w, in_features, 0.0f, y, out_features);
    if (bias) {
        #pragma omp parallel for num_threads(ctx->num_threads) \
            if ((size_t)n * out_features > RLKD_LINEAR_PARALLEL_MIN)
        for (int row = 0; row < n; row++) {
            float *y_row = y + (size_t)row * out_features;
            for (int o = 0; o < out_features; o++)
                y_row[o] += bias[o];
        }
    }
    return RLKD_OK;
}

rlkd_status rlkd_cpu_linear_backward(rlkd_context *ctx, float *dx, float *dw,
                                     float *dbias, const float *dy,
                                     const float *x, const float *w, int n,
                                     int in_features, int out_features)
{
    if (dbias) {
        /* One output per thread, summed over the batch in order. */
        #pragma omp parallel for num_threads(ctx->num_threads) \
            if ((size_t)n * out_features > RLKD_LINEAR_PARALLEL_MIN)
        for (int o = 0; o < out_features; o++) {
            double sum = 0.0;
            for (int row = 0; row < n; row++)
                sum += dy[(size_t)row * out_features + o];
            dbias[o] += (float)sum;
        }
    }
    /* dw [out, in] += dy^T [out, N] x [N, in] */
    if (dw)
        rlkd_cpu_gemm(ctx, 1, 0, out_features, in_features, n, 1.0f, dy,
                      out_features, x, in_features, 1.0f, dw, in_features);
    /* dx [N, in] = dy [N, out] w [out, in] */
    if (dx)
        rlkd_cpu_gemm(ctx, 0, 0, n, in_features, out_features, 1.0f, dy,
                      out_features, w, in_features, 0.0f, dx, in_features);
    return RLKD_OK;
}
