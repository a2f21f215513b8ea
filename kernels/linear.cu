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

extern "C" rlkd_status rlkd_cuda_linear_forward(rlkd_context *ctx, float *y,
                                                const float *x, const float *w,
                                                const float *bias, int n,
                                                int in_features,
                                                int out_features)
{
    rlkd_gemm_problem p = {};
    p.m = n;
    p.n = out_features;
    p.k = in_features;
    p.groups = 1;
    p.a = rlkd_matrix_view(x, n, in_features, in_features, 0);
    p.b = rlkd_matrix_view(w, out_features, in_features, in_features, 0);
    p.out = rlkd_matrix_out(y, out_features, out_features, 0, 0);
    p.out.col_bias = bias;
    return rlkd_gemm_run<false, true, false, true>(ctx, p,
                                                   "rlkd_linear_forward");
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
    if (dw) {
        rlkd_gemm_problem p = {};
        p.m = out_features;
        p.n = in_features;
        p.k = n;
        p.groups = 1;
        /* dy^T: dy's columns are A's rows, its rows the reduction. */
        p.a = rlkd_matrix_view(dy, n, out_features, out_features, 0);
        p.b = rlkd_matrix_view(x, n, in_features, in_features, 0);
        p.out = rlkd_matrix_out(dw, in_features, in_features, 0, 1);
        RLKD_TRY((rlkd_gemm_run<false, false, false, false>(ctx, p, op)));
    }
    if (dx) {
        rlkd_gemm_problem p = {};
        p.m = n;
        p.n = in_features;
        p.k = out_features;
        p.groups = 1;
        p.a = rlkd_matrix_view(dy, n, out_features, out_features, 0);
        p.b = rlkd_matrix_view(w, out_features, in_features, in_features, 0);
        p.out = rlkd_matrix_out(dx, in_features, in_features, 0, 0);
        RLKD_TRY((rlkd_gemm_run<false, true, false, false>(ctx, p, op)));
    }
    return RLKD_OK;
}
