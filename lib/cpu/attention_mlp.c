/* The SE/CBAM MLP on the CPU: GEMMs over all rows at once, so a batch is
 * one BLAS call per layer; bias sums run row by row in a fixed order. */
#include "attention_mlp.h"
#include "attention_gate.h"

/* Adds bias [cols] to every row of m [rows, cols]. */
static void add_bias(rlkd_context *ctx, float *m, const float *bias, int rows,
                     int cols)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)rows * cols > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            m[(size_t)r * cols + j] += bias[j];
}

/* sum[j] += sum over rows of m[r, j]; one column per thread, rows in order. */
static void accumulate_column_sums(rlkd_context *ctx, float *sum,
                                   const float *m, int rows, int cols)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)rows * cols > RLKD_CPU_ATTENTION_PARALLEL_WORK)
    for (int j = 0; j < cols; j++) {
        double column = 0.0;
        for (int r = 0; r < rows; r++)
            column += m[(size_t)r * cols + j];
        sum[j] += (float)column;
    }
}

rlkd_status rlkd_cpu_attention_mlp_forward(rlkd_context *ctx, float *out,
                                           float *hidden_act, const float *v,
                                           const float *w1, const float *b1,
                                           const float *w2, const float *b2,
                                           int rows, int c, int hidden)
{
    rlkd_cpu_gemm(ctx, 0, 1, rows, hidden, c, 1.0f, v, c, w1, c, 0.0f,
                  hidden_act, hidden);
    if (b1)
        add_bias(ctx, hidden_act, b1, rows, hidden);
    RLKD_TRY(rlkd_cpu_relu_forward(ctx, hidden_act, hidden_act,
                                   (size_t)rows * hidden));
    rlkd_cpu_gemm(ctx, 0, 1, rows, c, hidden, 1.0f, hidden_act, hidden, w2,
                  hidden, 0.0f, out, c);
    if (b2)
        add_bias(ctx, out, b2, rows, c);
    return RLKD_OK;
}

rlkd_status rlkd_cpu_attention_mlp_backward(rlkd_context *ctx, float *dv,
                                            float *dw1, float *db1,
                                            float *dw2, float *db2,
                                            float *dhidden, const float *dout,
                                            const float *v,
                                            const float *hidden_act,
                                            const float *w1, const float *w2,
                                            int rows, int c, int hidden)
{
    if (dw2) /* dw2 += dout^T hidden_act */
        rlkd_cpu_gemm(ctx, 1, 0, c, hidden, rows, 1.0f, dout, c, hidden_act,
                      hidden, 1.0f, dw2, hidden);
    if (db2)
        accumulate_column_sums(ctx, db2, dout, rows, c);
    if (!dv && !dw1 && !db1)
        return RLKD_OK;

    /* dhidden = dout w2, through the relu (zero where it was cut off) */
    rlkd_cpu_gemm(ctx, 0, 0, rows, hidden, c, 1.0f, dout, c, w2, hidden, 0.0f,
                  dhidden, hidden);
    RLKD_TRY(rlkd_cpu_relu_backward(ctx, dhidden, dhidden, hidden_act,
                                    (size_t)rows * hidden));

    if (dw1) /* dw1 += dhidden^T v */
        rlkd_cpu_gemm(ctx, 1, 0, hidden, c, rows, 1.0f, dhidden, hidden, v, c,
                      1.0f, dw1, c);
    if (db1)
        accumulate_column_sums(ctx, db1, dhidden, rows, hidden);
    if (dv) /* dv = dhidden w1 */
        rlkd_cpu_gemm(ctx, 0, 0, rows, c, hidden, 1.0f, dhidden, hidden, w1,
                      c, 0.0f, dv, c);
    return RLKD_OK;
}
