/* The one place the CPU backend calls the BLAS. */
#include "cpu.h"

#include <cblas.h>

/* OpenBLAS keeps one global thread count; change it only when it differs,
 * as setting it is not free. */
static void blas_threads(int threads)
{
    if (openblas_get_num_threads() != threads)
        openblas_set_num_threads(threads);
}

void rlkd_cpu_gemm_serial(int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, const float *b,
                          int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                ldb, beta, c, ldc);
}

void rlkd_cpu_gemm_serial_begin(void)
{
    blas_threads(1);
}

void rlkd_cpu_gemm(rlkd_context *ctx, int trans_a, int trans_b, int m, int n,
                   int k, float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc)
{
    /* Follow the context's count, which also ends any serial mode. */
    blas_threads(ctx->num_threads);
    rlkd_cpu_gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                         beta, c, ldc);
}
