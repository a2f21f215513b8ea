/* dropout: the draw against the documented Philox rule, backward by finite
 * differences, reproducibility (seed, stream, thread count), the keep rate,
 * pass-through, in place, and the error paths. */
#include "testlib.h"
/* The private generator, to recompute the documented draw: element i is kept
 * when uniform01(philox(seed, stream, i).v[0]) >= p. */
#include "../lib/core/philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Runs dropout on `count` inputs after rewinding the stream to `seed`;
 * returns the mask (free() it) and, when y_out is given, y. */
static float *dropout_mask(uint64_t seed, int64_t count, float p,
                           int training, float **y_out)
{
    float *x = malloc((size_t)count * sizeof *x);
    test_fill_uniform(x, (size_t)count, -1.0f, 1.0f, 7);
    rlkd_tensor *tx = t_from(x, count, 0, 0, 0), *ty = t_new(count, 0, 0, 0);
    rlkd_tensor *tmask = t_new(count, 0, 0, 0);
    CHECK_OK(rlkd_context_set_seed(test_ctx, seed));
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, tmask, tx, p, training));
    float *mask = t_get(tmask);
    if (y_out)
        *y_out = t_get(ty);
    free(x);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tmask);
    return mask;
}

/* The documented draw for element i of stream `stream`. */
static int kept_by_rule(uint64_t seed, uint64_t stream, size_t i, float p)
{
    return rlkd_uniform01(rlkd_philox4x32(seed, stream, i).v[0]) >= p;
}

/* L = sum_i r_i x_i mask_i with the mask fixed, for the FD check. */
typedef struct {
    double *x;
    const double *r, *mask;
    size_t n;
} dropout_loss;

static double dropout_loss_fn(void *p)
{
    dropout_loss *l = p;
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += l->r[i] * l->x[i] * l->mask[i];
    return sum;
}

static void check_shape(int64_t n, int64_t c, int64_t h, int64_t w, float p)
{
    const uint64_t seed = 99;
    /* A zero dimension is absent (t_new's convention). */
    size_t count = (size_t)(n * c * (h ? h : 1) * (w ? w : 1));
    float *x = malloc(count * sizeof *x), *r = malloc(count * sizeof *r);
    test_fill_uniform(x, count, -2.0f, 2.0f, 1);
    test_fill_uniform(r, count, -1.0f, 1.0f, 2);
    rlkd_tensor *tx = t_from(x, n, c, h, w), *ty = t_new(n, c, h, w);
    rlkd_tensor *tmask = t_new(n, c, h, w), *tdy = t_from(r, n, c, h, w);
    rlkd_tensor *tdx = t_new(n, c, h, w);

    /* A rewound stream: this call draws from stream 0. */
    CHECK_OK(rlkd_context_set_seed(test_ctx, seed));
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, tmask, tx, p, 1));
    float *y = t_get(ty), *mask = t_get(tmask);
    double *want_mask = malloc(count * sizeof *want_mask);
    double *want_y = malloc(count * sizeof *want_y);
    for (size_t i = 0; i < count; i++) {
        want_mask[i] = kept_by_rule(seed, 0, i, p) ? 1.0 / (1.0 - (double)p)
                                                    : 0.0;
        want_y[i] = x[i] * want_mask[i];
    }
    /* 1/(1-p) in float: one rounding; y: two. */
    test_close("dropout mask", mask, want_mask, count, 0, 1.2e-7);
    test_close("dropout forward", y, want_y, count, 0, 2.4e-7);

    CHECK_OK(rlkd_tensor_fill(tdx, 5.0f)); /* written, not accumulated */
    CHECK_OK(rlkd_dropout_backward(test_ctx, tdx, tdy, tmask));
    float *dx = t_get(tdx);
    dropout_loss loss = {test_to_double(x, count), test_to_double(r, count),
                         test_to_double(mask, count), count};
    test_fd_gradient(dropout_loss_fn, &loss, loss.x, count, 1e-3, want_y);
    test_close("dropout backward vs finite differences", dx, want_y, count,
               1e-8, 1e-7);

    free(x); free(r); free(y); free(mask); free(want_mask); free(want_y);
    free(dx); free(loss.x); free((double *)loss.r); free((double *)loss.mask);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tmask); rlkd_tensor_destroy(tdy);
    rlkd_tensor_destroy(tdx);
}

static void odd_shapes(void)
{
    check_shape(1, 1, 1, 1, 0.5f);
    check_shape(2, 3, 5, 7, 0.3f);
    check_shape(1, 13, 1, 1, 0.1f);
    check_shape(4, 3, 0, 0, 0.9f); /* 2-D */
}

static size_t count_kept(const float *mask, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        kept += mask[i] != 0.0f;
    return kept;
}

static void reproducible(void)
{
    const int64_t n = 4096;
    float *a = dropout_mask(5, n, 0.5f, 1, NULL);
    float *b = dropout_mask(5, n, 0.5f, 1, NULL);
    float *c = dropout_mask(6, n, 0.5f, 1, NULL);
    CHECK_MSG(memcmp(a, b, (size_t)n * sizeof *a) == 0,
              "same seed gave different masks");
    size_t differ = 0;
    for (int64_t i = 0; i < n; i++)
        differ += a[i] != c[i];
    /* Independent masks with p = 0.5 differ in about half the places. */
    CHECK_MSG(differ > (size_t)n / 4, "seeds 5 and 6 differ in only %zu of "
              "%lld elements", differ, (long long)n);
    free(a); free(b); free(c);
}

static void keep_rate(void)
{
    const int64_t n = 100000;
    const float ps[3] = {0.1f, 0.5f, 0.9f};
    for (int k = 0; k < 3; k++) {
        float *mask = dropout_mask(11, n, ps[k], 1, NULL);
        double p = ps[k], kept = (double)count_kept(mask, (size_t)n);
        double sigma = sqrt(n * p * (1 - p));
        CHECK_MSG(fabs(kept - n * (1 - p)) < 5 * sigma,
                  "p %g: kept %.0f of %lld, expected %.0f +- %.0f", p, kept,
                  (long long)n, n * (1 - p), 5 * sigma);
        free(mask);
    }
}

static void thread_count_independent(void)
{
    /* Above the OpenMP threshold, so two threads really split the loop. */
    const int64_t n = 100000;
    float *y1, *y2;
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
    float *m1 = dropout_mask(21, n, 0.4f, 1, &y1);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    float *m2 = dropout_mask(21, n, 0.4f, 1, &y2);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
    CHECK_MSG(memcmp(m1, m2, (size_t)n * sizeof *m1) == 0,
              "masks differ between 1 and 2 threads");
    CHECK_MSG(memcmp(y1, y2, (size_t)n * sizeof *y1) == 0,
              "outputs differ between 1 and 2 threads");
    /* Many elements: even a slightly shifted threshold would show. */
    size_t off_rule = 0;
    for (int64_t i = 0; i < n; i++)
        off_rule += (m2[i] != 0.0f) != kept_by_rule(21, 0, (size_t)i, 0.4f);
    CHECK_MSG(off_rule == 0, "%zu of %lld elements break the Philox rule",
              off_rule, (long long)n);
    free(m1); free(m2); free(y1); free(y2);
}

static void pass_through(void)
{
    const int64_t n = 1000;
    float *x = malloc((size_t)n * sizeof *x);
    test_fill_uniform(x, (size_t)n, -1.0f, 1.0f, 7); /* as dropout_mask */
    const struct { float p; int training; } cases[3] = {
        {0.0f, 1}, {0.5f, 0}, {0.0f, 0}};
    for (int k = 0; k < 3; k++) {
        float *y;
        float *mask = dropout_mask(3, n, cases[k].p, cases[k].training, &y);
        size_t bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += mask[i] != 1.0f || y[i] != x[i];
        CHECK_MSG(bad == 0, "p %g training %d: %zu elements not passed "
                  "through", (double)cases[k].p, cases[k].training, bad);
        free(mask); free(y);
    }
    free(x);
}

/* Training calls each take a new stream; pass-through and failed calls
 * take none. */
static void stream_use(void)
{
    const int64_t n = 256;
    float *x = malloc((size_t)n * sizeof *x);
    test_fill_uniform(x, (size_t)n, -1.0f, 1.0f, 8);
    rlkd_tensor *tx = t_from(x, n, 0, 0, 0), *ty = t_new(n, 0, 0, 0);
    rlkd_tensor *m1 = t_new(n, 0, 0, 0), *m2 = t_new(n, 0, 0, 0);
    rlkd_tensor *m3 = t_new(n, 0, 0, 0);

    CHECK_OK(rlkd_context_set_seed(test_ctx, 17));
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, m1, tx, 0.5f, 1));
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, m2, tx, 0.5f, 1));
    float *a = t_get(m1), *b = t_get(m2);
    CHECK_MSG(memcmp(a, b, (size_t)n * sizeof *a) != 0,
              "two calls in a row drew the same mask");

    CHECK_OK(rlkd_context_set_seed(test_ctx, 17));
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, m3, tx, 0.5f, 0));
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, m3, tx, 0.0f, 1));
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, ty, m3, tx, 1.0f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "p");
    CHECK_OK(rlkd_dropout_forward(test_ctx, ty, m3, tx, 0.5f, 1));
    float *c = t_get(m3);
    CHECK_MSG(memcmp(a, c, (size_t)n * sizeof *a) == 0,
              "a pass-through or failed call consumed a random stream");

    free(x); free(a); free(b); free(c);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(m1); rlkd_tensor_destroy(m2);
    rlkd_tensor_destroy(m3);
}

static void in_place(void)
{
    const int64_t n = 512;
    float *x = malloc((size_t)n * sizeof *x);
    test_fill_uniform(x, (size_t)n, -1.0f, 1.0f, 9);
    rlkd_tensor *t = t_from(x, n, 0, 0, 0), *tmask = t_new(n, 0, 0, 0);
    CHECK_OK(rlkd_dropout_forward(test_ctx, t, tmask, t, 0.25f, 1));
    float *y = t_get(t), *mask = t_get(tmask);
    size_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += y[i] != x[i] * mask[i];
    CHECK_MSG(bad == 0, "in-place forward: %zu elements wrong", bad);
    size_t kept = count_kept(mask, (size_t)n);
    CHECK(kept > 0 && kept < (size_t)n);

    /* dx == dy */
    CHECK_OK(rlkd_tensor_write(t, x, (size_t)n));
    CHECK_OK(rlkd_dropout_backward(test_ctx, t, t, tmask));
    free(y);
    y = t_get(t);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += y[i] != x[i] * mask[i];
    CHECK_MSG(bad == 0, "in-place backward: %zu elements wrong", bad);
    free(x); free(y); free(mask);
    rlkd_tensor_destroy(t);
    rlkd_tensor_destroy(tmask);
}

static void errors(void)
{
    rlkd_tensor *a = t_new(2, 3, 0, 0), *b = t_new(3, 2, 0, 0);
    int32_t labels[6] = {0};
    rlkd_tensor *ints = t_labels(labels, 6);
    CHECK_FAILS(rlkd_dropout_forward(NULL, a, a, a, 0.5f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, NULL, a, a, 0.5f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, NULL, a, 0.5f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "mask is NULL");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, a, NULL, 0.5f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, b, a, a, 0.5f, 1),
                RLKD_ERR_SHAPE, "y has shape [3,2]");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, b, a, 0.5f, 1),
                RLKD_ERR_SHAPE, "mask has shape [3,2]");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, ints, a, 0.5f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "mask is int32");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, b, a, 1.0f, 1),
                RLKD_ERR_SHAPE, "mask");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, a, a, 1.0f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "p must be in [0,1), got 1");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, a, a, -0.25f, 0),
                RLKD_ERR_INVALID_ARGUMENT, "got -0.25");
    CHECK_FAILS(rlkd_dropout_forward(test_ctx, a, a, a, NAN, 1),
                RLKD_ERR_INVALID_ARGUMENT, "got nan");

    CHECK_FAILS(rlkd_dropout_backward(NULL, a, a, a),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_dropout_backward(test_ctx, NULL, a, a),
                RLKD_ERR_INVALID_ARGUMENT, "dx is NULL");
    CHECK_FAILS(rlkd_dropout_backward(test_ctx, a, NULL, a),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_dropout_backward(test_ctx, a, a, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "mask is NULL");
    CHECK_FAILS(rlkd_dropout_backward(test_ctx, a, b, a), RLKD_ERR_SHAPE,
                "dy has shape [3,2]");
    CHECK_FAILS(rlkd_dropout_backward(test_ctx, b, a, a), RLKD_ERR_SHAPE,
                "dx has shape [3,2]");
    rlkd_tensor_destroy(a);
    rlkd_tensor_destroy(b);
    rlkd_tensor_destroy(ints);
}

int main(void)
{
    test_main_begin();
    test_run("dropout/odd_shapes", odd_shapes);
    test_run("dropout/reproducible", reproducible);
    test_run("dropout/keep_rate", keep_rate);
    test_run("dropout/thread_count_independent", thread_count_independent);
    test_run("dropout/pass_through", pass_through);
    test_run("dropout/stream_use", stream_use);
    test_run("dropout/in_place", in_place);
    test_run("dropout/errors", errors);
    test_main_end();
    return test_finish();
}
