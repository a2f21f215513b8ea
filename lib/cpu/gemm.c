/* The one place the CPU backend calls the BLAS. */
#include "cpu.h"

#include <cblas.h>

void rlkd_cpu_gemm(rlkd_context *ctx, int trans_a, int trans_b, int m, int n,
                   int k, float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc)
{
    /* OpenBLAS keeps one global thread count; follow the context's. */
    if (openblas_get_num_threads() != ctx->num_threads)
        openblas_set_num_threads(ctx->num_threads);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                ldb, beta, c, ldc);
}
