/*
 * Helpers shared by the SE, ECA and CBAM tests: operands held both as an
 * rlkd tensor (float32) and as doubles for the references, the double
 * building blocks of those references, and one gradient check run on every
 * shape: finite differences, accumulation and NULL gradient outputs.
 * Header-only (static inline), so each test program stays one file.
 */
#ifndef RLKD_ATTENTION_TEST_H
#define RLKD_ATTENTION_TEST_H

#include "testlib.h"

#include <math.h>
#include <stdlib.h>

/* An input or parameter: a tensor and the same values in double. An absent
 * operand (an optional bias left out) has t == NULL and d == NULL. */
typedef struct operand {
    int64_t shape[4]; /* t_new's convention: trailing zeros for unused dims */
    size_t count;
    rlkd_tensor *t;
    double *d;
} operand;

/* Uniform values in [-scale, scale), the same for a given seed. */
static inline operand operand_random(int64_t d0, int64_t d1, int64_t d2,
                                     int64_t d3, float scale, uint64_t seed)
{
    operand o = {{d0, d1, d2, d3}, 0, t_new(d0, d1, d2, d3), NULL};
    o.count = (size_t)rlkd_tensor_numel(o.t);
    float *values = malloc(o.count * sizeof *values);
    test_fill_uniform(values, o.count, -scale, scale, seed);
    CHECK_OK(rlkd_tensor_write(o.t, values, o.count));
    o.d = test_to_double(values, o.count);
    free(values);
    return o;
}

/* A zeroed tensor shaped like o, to receive its gradient (NULL if absent). */
static inline rlkd_tensor *gradient_tensor(const operand *o)
{
    return o->t ? t_new(o->shape[0], o->shape[1], o->shape[2], o->shape[3])
                : NULL;
}

static inline void operand_free(operand *o)
{
    rlkd_tensor_destroy(o->t);
    free(o->d);
}

/* v [c] = the mean of each channel of one sample x [c, hw]. */
static inline void channel_means_ref(double *v, const double *x, int c,
                                     size_t hw)
{
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (size_t i = 0; i < hw; i++)
            sum += x[ch * hw + i];
        v[ch] = sum / (double)hw;
    }
}

static inline double sigmoid_ref(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* out [c] = w2 relu(w1 v + b1) + b2 for one vector v [c]; b1, b2 may be
 * NULL. */
static inline void mlp_ref(double *out, const double *v, const double *w1,
                           const double *b1, const double *w2,
                           const double *b2, int c, int hidden)
{
    double *act = malloc((size_t)hidden * sizeof *act);
    for (int j = 0; j < hidden; j++) {
        double sum = b1 ? b1[j] : 0.0;
        for (int i = 0; i < c; i++)
            sum += w1[(size_t)j * c + i] * v[i];
        act[j] = sum > 0.0 ? sum : 0.0;
    }
    for (int i = 0; i < c; i++) {
        double sum = b2 ? b2[i] : 0.0;
        for (int j = 0; j < hidden; j++)
            sum += w2[(size_t)i * hidden + j] * act[j];
        out[i] = sum;
    }
    free(act);
}

/* sum_i r[i] y[i]: the scalar loss whose gradient dy = r is fed back. */
static inline double dot_ref(const double *r, const double *y, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += r[i] * y[i];
    return sum;
}

/* One gradient a backward call produces: of which operand, into which
 * tensor (NULL: this operand is absent), and whether it accumulates (+=,
 * parameters) or is written (=, dx). */
typedef struct gradient {
    const char *name;
    operand *of;
    rlkd_tensor *t;
    int accumulates;
} gradient;

#define MAX_GRADIENTS 8

/* Runs the op's backward, passing gradient i only where bit i of `wanted`
 * is set (NULL otherwise). */
typedef rlkd_status (*backward_fn)(void *problem, const gradient *grads,
                                   unsigned wanted);

/*
 * Every gradient of one problem:
 *  1. against central finite differences (h 1e-5) of the double `loss`,
 *     |got - want| <= atol + rtol |want|;
 *  2. after a second backward: accumulated ones doubled, dx unchanged;
 *  3. each requested alone, the others NULL: the same values again;
 *  4. nothing requested at all is accepted.
 */
static inline void check_gradients(gradient *grads, int count,
                                   backward_fn backward,
                                   double (*loss)(void *), void *problem,
                                   double atol, double rtol)
{
    unsigned all = (1u << count) - 1;
    float *first[MAX_GRADIENTS] = {0};
    CHECK_OK(backward(problem, grads, all));
    for (int i = 0; i < count; i++) {
        if (!grads[i].t)
            continue;
        size_t n = grads[i].of->count;
        first[i] = t_get(grads[i].t);
        double *want = malloc(n * sizeof *want);
        test_fd_gradient(loss, problem, grads[i].of->d, n, 1e-5, want);
        CHECK_MSG(test_close(grads[i].name, first[i], want, n, atol, rtol),
                  "%s vs finite differences", grads[i].name);
        free(want);
    }

    CHECK_OK(backward(problem, grads, all));
    for (int i = 0; i < count; i++) {
        if (!grads[i].t)
            continue;
        size_t n = grads[i].of->count;
        float *second = t_get(grads[i].t);
        double *want = malloc(n * sizeof *want);
        for (size_t k = 0; k < n; k++)
            want[k] = (grads[i].accumulates ? 2.0 : 1.0) * first[i][k];
        CHECK_MSG(test_close(grads[i].name, second, want, n, 0, 1e-6),
                  "%s after a second backward (%s)", grads[i].name,
                  grads[i].accumulates ? "accumulated" : "written");
        free(second);
        free(want);
    }

    for (int i = 0; i < count; i++) {
        if (!grads[i].t)
            continue;
        size_t n = grads[i].of->count;
        CHECK_OK(rlkd_tensor_fill(grads[i].t, 0.0f));
        CHECK_OK(backward(problem, grads, 1u << i));
        float *alone = t_get(grads[i].t);
        double *want = test_to_double(first[i], n);
        CHECK_MSG(test_close(grads[i].name, alone, want, n, 0, 1e-6),
                  "%s requested alone", grads[i].name);
        free(alone);
        free(want);
    }
    CHECK_OK(backward(problem, grads, 0));
    for (int i = 0; i < count; i++)
        free(first[i]);
}

/* The gradient tensor for slot i, or NULL when it is not wanted. */
static inline rlkd_tensor *wanted_gradient(const gradient *grads,
                                           unsigned wanted, int i)
{
    return wanted & (1u << i) ? grads[i].t : NULL;
}

#endif
