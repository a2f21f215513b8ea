/*
 * Fully connected layer on the GPU: x [N, in], w [out, in], y [N, out],
 * all row-major, one GEMM of gemm.cuh's core each (plain matrix views):
 *
 *   y  [N, out]   = x [N, in] w^T            (+ bias along the columns)
 *   dx [N, in]    = dy [N, out] w
 *   dw [out, in] += dy^T [out, N] x [N, in]   (split over N when small)
 *
 * In every operand the pixel index, the one the loads run along, is the
 * contiguous one: in for x and w as A or B of y, the columns of dy and w
 * for dx, out and in for dw.
 */
#include "gemm.cuh"

/* out [m, n] = A B (+= with accumulate), every matrix dense and row-major.
 * A_ALONG_K: a is stored [m, k] (its rows contiguous along the reduction),
 * else [k, m] (read transposed); likewise b, [n, k] or [k, n]. col_bias
 * (or NULL) is added along out's columns. */
template <bool A_ALONG_K, bool B_ALONG_K>
static rlkd_status dense_product(rlkd_context *ctx, const char *op, float *out,
                                 const float *a, const float *b,
                                 const float *col_bias, int m, int n, int k,
                                 int accumulate)
{
    rlkd_gemm_problem p = {};
    p.m = m;
    p.n = n;
    p.k = k;
    p.groups = 1;
    p.a = A_ALONG_K ? rlkd_matrix_view(a, m, k, k, 0)
                    : rlkd_matrix_view(a, k, m, m, 0);
    p.b = B_ALONG_K ? rlkd_matrix_view(b, n, k, k, 0)
                    : rlkd_matrix_view(b, k, n, n, 0);
    p.out = rlkd_matrix_out(out, n, n, 0, accumulate);
    p.out.col_bias = col_bias;
    return rlkd_gemm_run<false, A_ALONG_K, false, B_ALONG_K>(ctx, p, op);
}

extern "C" rlkd_status rlkd_cuda_linear_forward(rlkd_context *ctx, float *y,
                                                const float *x, const float *w,
                                                const float *bias, int n,
                                                int in_features,
                                                int out_features)
{
    return dense_product<true, true>(ctx, "rlkd_linear_forward", y, x, w,
                                     bias, n, out_features, in_features, 0);
}

extern "C" rlkd_status rlkd_cuda_linear_backward(rlkd_context *ctx, float *dx,
                                                 float *dw, float *dbias,
                                                 const float *dy,
                                                 const float *x,
                                                 const float *w, int n,
                                                 int in_features,
                                                 int out_features)
{
    static const char op[] = "rlkd_linear_backward";
    if (dbias)
        RLKD_TRY(rlkd_bias_grad(ctx, dbias, dy, n, out_features, 1));
    /* dy^T: dy's columns are A's rows, its rows the reduction. */
    if (dw)
        RLKD_TRY((dense_product<false, false>(ctx, op, dw, dy, x, NULL,
                                              out_features, in_features, n,
                                              1)));
    if (dx)
        RLKD_TRY((dense_product<true, false>(ctx, op, dx, dy, w, NULL, n,
                                             in_features, out_features, 0)));
    return RLKD_OK;
}
