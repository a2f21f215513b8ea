/* Attention transfer loss (Zagoruyko and Komodakis 2017) on the CPU.
 * Each sample's attention map is recomputed from the features wherever it is
 * needed, in double, instead of being kept in float scratch. */
#include "softmax_rows.h"

#include <math.h>
#include <stdlib.h>

/* As F.normalize: a map is divided by max(||q||, eps), so an all-zero
 * feature map gives an all-zero attention map instead of 0/0. */
#define AT_NORM_EPS 1e-12

/* q[p] = mean over channels of f[c,p]^2 at position p of one sample. */
static double mean_square(const float *features, int channels, int hw, int p)
{
    double sum = 0.0;
    for (int c = 0; c < channels; c++) {
        double v = features[(size_t)c * (size_t)hw + (size_t)p];
        sum += v * v;
    }
    return sum / channels;
}

/* The divisor of one sample's map: max(||q||_2, eps). */
static double map_divisor(const float *features, int channels, int hw)
{
    double sum = 0.0;
    for (int p = 0; p < hw; p++) {
        double q = mean_square(features, channels, hw, p);
        sum += q * q;
    }
    return fmax(sqrt(sum), AT_NORM_EPS);
}

rlkd_status rlkd_cpu_attention_transfer_loss(rlkd_context *ctx, float *loss,
                                             float *dstudent,
                                             const float *student,
                                             const float *teacher, int n,
                                             int student_c, int teacher_c,
                                             int hw, float dloss)
{
    /* Per-sample sums of squared differences (each >= 0), summed in order
     * afterwards so that the loss does not depend on the thread count. */
    float *row_loss = NULL;
    if (loss)
        RLKD_TRY(rlkd_cpu_scratch("attention_transfer_loss", (size_t)n,
                                  &row_loss));

    const size_t student_size = (size_t)student_c * (size_t)hw;
    const size_t teacher_size = (size_t)teacher_c * (size_t)hw;
    /* loss = sum (a_s - a_t)^2 / (N HW): d loss / d a_s = grad_scale (a_s - a_t) */
    const double grad_scale = 2.0 * dloss / ((double)n * hw);
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)n * (student_size + teacher_size) > 65536)
    for (int i = 0; i < n; i++) {
        const float *s = student + (size_t)i * student_size;
        const float *t = teacher + (size_t)i * teacher_size;
        double div_s = map_divisor(s, student_c, hw);
        double div_t = map_divisor(t, teacher_c, hw);

        /* squared distance, and a_s . (a_s - a_t) for the gradient */
        double distance = 0.0, radial = 0.0;
        for (int p = 0; p < hw; p++) {
            double a_s = mean_square(s, student_c, hw, p) / div_s;
            double diff = a_s - mean_square(t, teacher_c, hw, p) / div_t;
            distance += diff * diff;
            radial += a_s * diff;
        }
        if (row_loss)
            row_loss[i] = (float)distance;
        if (!dstudent)
            continue;

        /* Through a = q / ||q||: dq = (da - a (a . da)) / ||q||; a clamped
         * divisor is a constant, so dq = da / eps. Then
         * dq[p] / df[c,p] = 2 f[c,p] / C. */
        if (div_s == AT_NORM_EPS)
            radial = 0.0;
        float *ds = dstudent + (size_t)i * student_size;
        for (int p = 0; p < hw; p++) {
            double a_s = mean_square(s, student_c, hw, p) / div_s;
            double a_t = mean_square(t, teacher_c, hw, p) / div_t;
            double dq = grad_scale * (a_s - a_t - a_s * radial) / div_s;
            double df_per_f = 2.0 * dq / student_c;
            for (int c = 0; c < student_c; c++) {
                size_t at = (size_t)c * (size_t)hw + (size_t)p;
                ds[at] = (float)(df_per_f * s[at]);
            }
        }
    }

    if (loss) {
        *loss = (float)(rlkd_cpu_sum_rows(row_loss, n) / ((double)n * hw));
        free(row_loss);
    }
    return RLKD_OK;
}
