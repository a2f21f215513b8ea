/* global_avgpool: forward into [N,C] and [N,C,1,1] against a double
 * reference, backward by finite differences, and the error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

/* loss = sum(r * mean_hw(x)) in double, for finite differences. */
typedef struct {
    double *x;
    const double *r;
    int planes, hw;
} gap_loss;

static void gap_ref(double *y, const double *x, int planes, int hw)
{
    for (int p = 0; p < planes; p++) {
        double sum = 0;
        for (int i = 0; i < hw; i++)
            sum += x[(size_t)p * hw + i];
        y[p] = sum / hw;
    }
}

static double gap_loss_fn(void *arg)
{
    const gap_loss *l = arg;
    double *y = malloc((size_t)l->planes * sizeof *y), sum = 0;
    gap_ref(y, l->x, l->planes, l->hw);
    for (int p = 0; p < l->planes; p++)
        sum += l->r[p] * y[p];
    free(y);
    return sum;
}

/* keep_dims: y is [N,C,1,1] rather than [N,C]. */
static void check_shape(int n, int c, int h, int w, int keep_dims)
{
    const int planes = n * c, hw = h * w;
    const size_t nx = (size_t)planes * hw;
    float *x = malloc(nx * sizeof *x), *r = malloc((size_t)planes * sizeof *r);
    test_fill_uniform(x, nx, -1.0f, 1.0f, 7);
    test_fill_uniform(r, (size_t)planes, -1.0f, 1.0f, 8);
    rlkd_tensor *tx = t_from(x, n, c, h, w), *tdx = t_new(n, c, h, w);
    rlkd_tensor *ty = keep_dims ? t_new(n, c, 1, 1) : t_new(n, c, 0, 0);
    rlkd_tensor *tdy = keep_dims ? t_from(r, n, c, 1, 1) : t_from(r, n, c, 0, 0);
    gap_loss loss = {test_to_double(x, nx), test_to_double(r, (size_t)planes),
                     planes, hw};
    double *want = malloc(nx * sizeof *want);

    CHECK_OK(rlkd_global_avgpool_forward(test_ctx, ty, tx));
    float *y = t_get(ty);
    gap_ref(want, loss.x, planes, hw);
    CHECK_MSG(test_close("global_avgpool forward", y, want, (size_t)planes,
                         1e-6, 1e-6),
              "x [%d,%d,%d,%d] keep_dims %d", n, c, h, w, keep_dims);

    CHECK_OK(rlkd_tensor_fill(tdx, 99.0f)); /* dx is written, not added to */
    CHECK_OK(rlkd_global_avgpool_backward(test_ctx, tdx, tdy));
    float *dx = t_get(tdx);
    test_fd_gradient(gap_loss_fn, &loss, loss.x, nx, 1e-3, want);
    CHECK_MSG(test_close("global_avgpool backward vs finite differences", dx,
                         want, nx, 1e-7, 1e-6),
              "x [%d,%d,%d,%d] keep_dims %d", n, c, h, w, keep_dims);

    free(x); free(r); free(y); free(dx); free(want); free(loss.x);
    free((double *)loss.r);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tdx); rlkd_tensor_destroy(tdy);
}

static void shapes(void)
{
    for (int keep_dims = 0; keep_dims <= 1; keep_dims++) {
        check_shape(2, 3, 5, 7, keep_dims);  /* odd spatial sizes */
        check_shape(1, 13, 1, 1, keep_dims); /* 1x1, batch 1 */
        check_shape(3, 9, 4, 4, keep_dims);
        check_shape(1, 2, 1, 9, keep_dims);  /* one row */
    }
}

/* A large plane far from zero: a float running sum would lose the mean's
 * digits. */
static void large_plane(void)
{
    const int planes = 2, hw = 256 * 256;
    const size_t nx = (size_t)planes * hw;
    float *x = malloc(nx * sizeof *x);
    test_fill_uniform(x, nx, 999.0f, 1001.0f, 9);
    rlkd_tensor *tx = t_from(x, 1, planes, 256, 256), *ty = t_new(1, planes, 0, 0);
    double *xd = test_to_double(x, nx), want[2];
    gap_ref(want, xd, planes, hw);
    CHECK_OK(rlkd_global_avgpool_forward(test_ctx, ty, tx));
    float *y = t_get(ty);
    test_close("mean of a large plane", y, want, (size_t)planes, 0, 1e-7);
    free(x); free(xd); free(y);
    rlkd_tensor_destroy(tx);
    rlkd_tensor_destroy(ty);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 3, 4, 4), *y = t_new(2, 3, 0, 0);
    rlkd_tensor *dx = t_new(2, 3, 4, 4), *x2d = t_new(2, 3, 0, 0);
    rlkd_tensor *y_wrong = t_new(2, 4, 0, 0), *y_3d = t_new(2, 3, 1, 0);
    rlkd_tensor *y_not_pooled = t_new(2, 3, 1, 2);
    CHECK_OK(rlkd_tensor_fill(y, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dx, 7.0f));

    CHECK_FAILS(rlkd_global_avgpool_forward(NULL, y, x),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_global_avgpool_forward(test_ctx, NULL, x),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_global_avgpool_forward(test_ctx, y, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_global_avgpool_forward(test_ctx, y, x2d), RLKD_ERR_SHAPE,
                "x must be 4-D");
    CHECK_FAILS(rlkd_global_avgpool_forward(test_ctx, y_wrong, x),
                RLKD_ERR_SHAPE,
                "y has shape [2,4], expected [2,3] or [2,3,1,1]");
    CHECK_FAILS(rlkd_global_avgpool_forward(test_ctx, y_3d, x), RLKD_ERR_SHAPE,
                "y has shape [2,3,1]");
    CHECK_FAILS(rlkd_global_avgpool_forward(test_ctx, y_not_pooled, x),
                RLKD_ERR_SHAPE, "y has shape [2,3,1,2]");

    CHECK_FAILS(rlkd_global_avgpool_backward(NULL, dx, y),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_global_avgpool_backward(test_ctx, NULL, y),
                RLKD_ERR_INVALID_ARGUMENT, "dx is NULL");
    CHECK_FAILS(rlkd_global_avgpool_backward(test_ctx, dx, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_global_avgpool_backward(test_ctx, x2d, y), RLKD_ERR_SHAPE,
                "dx must be 4-D");
    CHECK_FAILS(rlkd_global_avgpool_backward(test_ctx, dx, y_wrong),
                RLKD_ERR_SHAPE,
                "dy has shape [2,4], expected [2,3] or [2,3,1,1]");

    /* None of the failures touched an output. */
    CHECK(test_all_equal(y, 7.0f) && test_all_equal(dx, 7.0f));
    rlkd_tensor *all[] = {x, y, dx, x2d, y_wrong, y_3d, y_not_pooled};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
}

int main(void)
{
    test_main_begin();
    test_run("global_avgpool/shapes", shapes);
    test_run("global_avgpool/large_plane", large_plane);
    test_run("global_avgpool/errors", errors);
    test_main_end();
    return test_finish();
}
