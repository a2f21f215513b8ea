/*
 * Sums over one plane (an image's channel) for batch norm, bias gradients
 * and pooling. RLKD_CPU_LANES float partial sums run over blocks of
 * RLKD_CPU_BLOCK elements and go into as many double sums after each block:
 * the lanes vectorise (one running sum cannot be reordered into vectors),
 * a block is short enough for float partials, and the order of the
 * additions is fixed, so the result is too. Private to lib/cpu.
 */
#ifndef RLKD_CPU_PLANE_SUMS_H
#define RLKD_CPU_PLANE_SUMS_H

#include <stddef.h>

#define RLKD_CPU_LANES 16
#define RLKD_CPU_BLOCK (16 * RLKD_CPU_LANES)

/* What a pass sums: sum(a) alone; sum(a) and sum((a - centre)^2); or
 * sum(b) and sum(b * (a - centre)) (batch norm's backward: a = x, b = dy). */
typedef enum rlkd_cpu_second_sum {
    RLKD_CPU_SUM_ONLY,
    RLKD_CPU_SUM_SQUARES,
    RLKD_CPU_SUM_WEIGHTED
} rlkd_cpu_second_sum;

typedef struct rlkd_cpu_sums {
    double sum, second;
} rlkd_cpu_sums;

/* Inlined with a constant `kind`, each caller gets its own loop. */
static inline rlkd_cpu_sums rlkd_cpu_plane_sums(rlkd_cpu_second_sum kind,
                                                const float *a, const float *b,
                                                float centre, size_t hw)
{
    double lane_sum[RLKD_CPU_LANES] = {0}, lane_second[RLKD_CPU_LANES] = {0};
    size_t j = 0;
    while (j + RLKD_CPU_LANES <= hw) {
        float sum[RLKD_CPU_LANES] = {0}, second[RLKD_CPU_LANES] = {0};
        const size_t block_end =
            j + RLKD_CPU_BLOCK <= hw ? j + RLKD_CPU_BLOCK : hw;
        for (; j + RLKD_CPU_LANES <= block_end; j += RLKD_CPU_LANES)
            for (int l = 0; l < RLKD_CPU_LANES; l++) {
                const float d = a[j + l] - centre;
                sum[l] += kind == RLKD_CPU_SUM_WEIGHTED ? b[j + l] : a[j + l];
                if (kind == RLKD_CPU_SUM_SQUARES)
                    second[l] += d * d;
                else if (kind == RLKD_CPU_SUM_WEIGHTED)
                    second[l] += b[j + l] * d;
            }
        for (int l = 0; l < RLKD_CPU_LANES; l++) {
            lane_sum[l] += sum[l];
            lane_second[l] += second[l];
        }
    }
    rlkd_cpu_sums total = {0.0, 0.0};
    for (; j < hw; j++) {
        const double d = (double)a[j] - centre;
        total.sum += kind == RLKD_CPU_SUM_WEIGHTED ? b[j] : a[j];
        if (kind == RLKD_CPU_SUM_SQUARES)
            total.second += d * d;
        else if (kind == RLKD_CPU_SUM_WEIGHTED)
            total.second += b[j] * d;
    }
    for (int l = 0; l < RLKD_CPU_LANES; l++) {
        total.sum += lane_sum[l];
        total.second += lane_second[l];
    }
    return total;
}

/* sum(x) */
static inline double rlkd_cpu_plane_sum(const float *x, size_t hw)
{
    return rlkd_cpu_plane_sums(RLKD_CPU_SUM_ONLY, x, NULL, 0.0f, hw).sum;
}

#endif
