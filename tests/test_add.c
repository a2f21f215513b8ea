/* add: forward against a double reference, backward by finite differences,
 * in place (y == a, y == b), NULL gradients, and the error paths. */
#include "testlib.h"

#include <stdlib.h>

/* L = sum_i r_i (a_i + b_i) in double precision, for the FD check. */
typedef struct {
    double *a, *b;
    const double *r;
    size_t n;
} add_loss;

static double add_loss_fn(void *p)
{
    add_loss *l = p;
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += l->r[i] * (l->a[i] + l->b[i]);
    return sum;
}

static void check_shape(int64_t n, int64_t c, int64_t h, int64_t w)
{
    /* A zero dimension is absent (t_new's convention). */
    size_t count = (size_t)(n * c * (h ? h : 1) * (w ? w : 1));
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    float *r = malloc(count * sizeof *r);
    test_fill_uniform(a, count, -2.0f, 2.0f, 1);
    test_fill_uniform(b, count, -2.0f, 2.0f, 2);
    test_fill_uniform(r, count, -1.0f, 1.0f, 3);
    rlkd_tensor *ta = t_from(a, n, c, h, w), *tb = t_from(b, n, c, h, w);
    rlkd_tensor *ty = t_new(n, c, h, w), *tdy = t_from(r, n, c, h, w);
    rlkd_tensor *tda = t_new(n, c, h, w), *tdb = t_new(n, c, h, w);

    CHECK_OK(rlkd_add_forward(test_ctx, ty, ta, tb));
    float *y = t_get(ty);
    double *want = malloc(count * sizeof *want);
    for (size_t i = 0; i < count; i++)
        want[i] = (double)a[i] + (double)b[i];
    /* One float rounding of the exact sum. */
    test_close("add forward", y, want, count, 0, 6e-8);

    CHECK_OK(rlkd_tensor_fill(tda, 7.0f)); /* written, not accumulated */
    CHECK_OK(rlkd_add_backward(test_ctx, tda, tdb, tdy));
    float *da = t_get(tda), *db = t_get(tdb);
    add_loss loss = {test_to_double(a, count), test_to_double(b, count),
                     test_to_double(r, count), count};
    test_fd_gradient(add_loss_fn, &loss, loss.a, count, 1e-3, want);
    test_close("add backward da vs finite differences", da, want, count, 1e-8,
               1e-8);
    test_fd_gradient(add_loss_fn, &loss, loss.b, count, 1e-3, want);
    test_close("add backward db vs finite differences", db, want, count, 1e-8,
               1e-8);

    free(a); free(b); free(r); free(y); free(want); free(da); free(db);
    free(loss.a); free(loss.b); free((double *)loss.r);
    rlkd_tensor_destroy(ta); rlkd_tensor_destroy(tb);
    rlkd_tensor_destroy(ty); rlkd_tensor_destroy(tdy);
    rlkd_tensor_destroy(tda); rlkd_tensor_destroy(tdb);
}

static void odd_shapes(void)
{
    check_shape(1, 1, 1, 1);
    check_shape(2, 3, 5, 7);
    check_shape(1, 13, 1, 1);
    check_shape(3, 1, 4, 0); /* 3-D */
}

static void large_parallel(void)
{
    /* Above the OpenMP threshold, on 2 threads. */
    const size_t count = 100000;
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    test_fill_uniform(a, count, -1.0f, 1.0f, 4);
    test_fill_uniform(b, count, -1.0f, 1.0f, 5);
    rlkd_tensor *ta = t_from(a, (int64_t)count, 0, 0, 0);
    rlkd_tensor *tb = t_from(b, (int64_t)count, 0, 0, 0);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    CHECK_OK(rlkd_add_forward(test_ctx, ta, ta, tb));
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
    float *y = t_get(ta);
    size_t wrong = 0;
    for (size_t i = 0; i < count; i++)
        wrong += y[i] != a[i] + b[i];
    CHECK_MSG(wrong == 0, "%zu of %zu sums differ", wrong, count);
    free(a); free(b); free(y);
    rlkd_tensor_destroy(ta); rlkd_tensor_destroy(tb);
}

static void aliasing(void)
{
    const float a[4] = {1, 2, 3, 4}, b[4] = {10, 20, 30, 40};
    rlkd_tensor *ta = t_from(a, 2, 2, 0, 0), *tb = t_from(b, 2, 2, 0, 0);
    CHECK_OK(rlkd_add_forward(test_ctx, ta, ta, tb)); /* y == a */
    float *y = t_get(ta);
    CHECK(y[0] == 11 && y[1] == 22 && y[2] == 33 && y[3] == 44);
    free(y);
    CHECK_OK(rlkd_add_forward(test_ctx, tb, ta, tb)); /* y == b */
    y = t_get(tb);
    CHECK(y[0] == 21 && y[1] == 42 && y[2] == 63 && y[3] == 84);
    free(y);
    CHECK_OK(rlkd_add_forward(test_ctx, ta, ta, ta)); /* y == a == b */
    y = t_get(ta);
    CHECK(y[0] == 22 && y[1] == 44 && y[2] == 66 && y[3] == 88);
    free(y);
    /* da == dy: the copy onto itself leaves dy as it was. */
    CHECK_OK(rlkd_add_backward(test_ctx, tb, NULL, tb));
    y = t_get(tb);
    CHECK(y[0] == 21 && y[1] == 42 && y[2] == 63 && y[3] == 84);
    free(y);
    rlkd_tensor_destroy(ta);
    rlkd_tensor_destroy(tb);
}

static void null_gradients(void)
{
    const float dy[3] = {1, -2, 3};
    rlkd_tensor *tdy = t_from(dy, 3, 0, 0, 0), *tdb = t_new(3, 0, 0, 0);
    CHECK_OK(rlkd_add_backward(test_ctx, NULL, NULL, tdy));
    CHECK_OK(rlkd_add_backward(test_ctx, NULL, tdb, tdy));
    float *db = t_get(tdb);
    CHECK(db[0] == 1 && db[1] == -2 && db[2] == 3);
    free(db);
    rlkd_tensor_destroy(tdy);
    rlkd_tensor_destroy(tdb);
}

static void errors(void)
{
    rlkd_tensor *a = t_new(2, 3, 0, 0), *b = t_new(3, 2, 0, 0);
    rlkd_tensor *a4 = t_new(2, 3, 1, 1);
    int32_t labels[2] = {0, 1};
    rlkd_tensor *ints = t_labels(labels, 2);
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    CHECK_OK(rlkd_tensor_write(a, ones, 6));

    CHECK_FAILS(rlkd_add_forward(NULL, a, a, a), RLKD_ERR_INVALID_ARGUMENT,
                "context is NULL");
    CHECK_FAILS(rlkd_add_forward(test_ctx, NULL, a, a),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_add_forward(test_ctx, a, NULL, a),
                RLKD_ERR_INVALID_ARGUMENT, "a is NULL");
    CHECK_FAILS(rlkd_add_forward(test_ctx, a, a, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "b is NULL");
    CHECK_FAILS(rlkd_add_forward(test_ctx, a, a, b), RLKD_ERR_SHAPE,
                "b has shape [3,2]");
    CHECK_FAILS(rlkd_add_forward(test_ctx, b, a, a), RLKD_ERR_SHAPE,
                "y has shape [3,2]");
    /* Same element count, different rank. */
    CHECK_FAILS(rlkd_add_forward(test_ctx, a4, a, a), RLKD_ERR_SHAPE,
                "y has shape [2,3,1,1]");
    CHECK_FAILS(rlkd_add_forward(test_ctx, a, ints, ints),
                RLKD_ERR_INVALID_ARGUMENT, "a is int32");

    CHECK_FAILS(rlkd_add_backward(NULL, a, a, a), RLKD_ERR_INVALID_ARGUMENT,
                "context is NULL");
    CHECK_FAILS(rlkd_add_backward(test_ctx, a, a, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_add_backward(test_ctx, b, NULL, a), RLKD_ERR_SHAPE,
                "da has shape [3,2]");
    CHECK_FAILS(rlkd_add_backward(test_ctx, NULL, b, a), RLKD_ERR_SHAPE,
                "db has shape [3,2]");
    /* A failing call touches no output: the valid da keeps its ones. */
    rlkd_tensor *zeros = t_new(2, 3, 0, 0);
    CHECK_FAILS(rlkd_add_backward(test_ctx, a, b, zeros), RLKD_ERR_SHAPE,
                "db");
    rlkd_tensor_destroy(zeros);
    float *got = t_get(a);
    CHECK(got[0] == 1 && got[5] == 1);
    free(got);
    rlkd_tensor_destroy(a);
    rlkd_tensor_destroy(b);
    rlkd_tensor_destroy(a4);
    rlkd_tensor_destroy(ints);
}

int main(void)
{
    test_main_begin();
    test_run("add/odd_shapes", odd_shapes);
    test_run("add/large_parallel", large_parallel);
    test_run("add/aliasing", aliasing);
    test_run("add/null_gradients", null_gradients);
    test_run("add/errors", errors);
    test_main_end();
    return test_finish();
}
