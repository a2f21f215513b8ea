/* maxpool2d: forward against a double reference over awkward geometries,
 * backward by finite differences, the tie rule, padding that never wins,
 * NaN propagation and the error paths. */
#include "pool_test.h"

#include <math.h>
#include <stdlib.h>

/* y = max over each window of x, in double; positions outside the input
 * are skipped (PyTorch's -inf padding). */
static void maxpool_ref(double *y, const double *x, const pool_case *p)
{
    const int ho = out_h(p), wo = out_w(p);
    for (int plane = 0; plane < p->n * p->c; plane++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++) {
                double best = -INFINITY;
                for (int kh = 0; kh < p->kernel_h; kh++)
                    for (int kw = 0; kw < p->kernel_w; kw++) {
                        int h = oh * p->stride_h - p->pad_h + kh;
                        int w = ow * p->stride_w - p->pad_w + kw;
                        if (h < 0 || h >= p->h || w < 0 || w >= p->w)
                            continue;
                        best = fmax(best, x[((size_t)plane * p->h + h) * p->w + w]);
                    }
                y[((size_t)plane * ho + oh) * wo + ow] = best;
            }
}

static rlkd_status forward(rlkd_tensor *y, const rlkd_tensor *x,
                           const pool_case *p)
{
    return rlkd_maxpool2d_forward(test_ctx, y, x, p->kernel_h, p->kernel_w,
                                  p->stride_h, p->stride_w, p->pad_h,
                                  p->pad_w);
}

static rlkd_status backward(rlkd_tensor *dx, const rlkd_tensor *dy,
                            const rlkd_tensor *x, const pool_case *p)
{
    return rlkd_maxpool2d_backward(test_ctx, dx, dy, x, p->kernel_h,
                                   p->kernel_w, p->stride_h, p->stride_w,
                                   p->pad_h, p->pad_w);
}

static void check_case(const pool_case *p)
{
    /* Random floats from fixed seeds: distinct, and no two in a window
     * closer than the FD step, so no step moves an argmax. */
    pool_problem pb = pool_problem_make(p, 3, 4);
    double *want = malloc(pb.nx * sizeof *want);
    pool_loss loss = {pb.xd, pb.rd, p, maxpool_ref};

    CHECK_OK(forward(pb.ty, pb.tx, p));
    float *y = t_get(pb.ty);
    maxpool_ref(want, loss.x, p);
    CHECK_MSG(test_close("maxpool forward", y, want, pb.ny, 0, 0),
              "x [%d,%d,%d,%d] kernel %dx%d stride %dx%d pad %dx%d", p->n,
              p->c, p->h, p->w, p->kernel_h, p->kernel_w, p->stride_h,
              p->stride_w, p->pad_h, p->pad_w);

    CHECK_OK(rlkd_tensor_fill(pb.tdx, 99.0f)); /* dx is written, not added */
    CHECK_OK(backward(pb.tdx, pb.tdy, pb.tx, p));
    float *dx = t_get(pb.tdx);
    test_fd_gradient(pool_loss_fn, &loss, loss.x, pb.nx, 1e-6, want);
    CHECK_MSG(test_close("maxpool backward vs finite differences", dx, want,
                         pb.nx, 1e-6, 1e-6),
              "x [%d,%d,%d,%d] kernel %dx%d stride %dx%d pad %dx%d", p->n,
              p->c, p->h, p->w, p->kernel_h, p->kernel_w, p->stride_h,
              p->stride_w, p->pad_h, p->pad_w);

    free(y); free(dx); free(want);
    pool_problem_free(&pb);
}

static void geometries(void)
{
    static const pool_case cases[] = {
        /* n  c  h  w  kh kw sh sw ph pw */
        {2, 3, 7, 7, 3, 3, 2, 2, 1, 1, 0}, /* overlapping windows, padding */
        {1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0}, /* 1x1 spatial, batch 1 */
        {2, 9, 6, 8, 2, 2, 2, 2, 0, 0, 0}, /* the common 2x2/2, 9 channels */
        {1, 3, 5, 9, 3, 2, 1, 2, 1, 1, 0}, /* rectangular kernel != stride */
        {3, 2, 4, 5, 2, 3, 3, 1, 1, 0, 0}, /* stride > kernel along h */
        {1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 0}, /* every window touches padding */
        {2, 4, 9, 1, 3, 1, 2, 1, 1, 0, 0}, /* width 1 */
        {1, 2, 1, 6, 1, 4, 1, 3, 0, 2, 0}, /* height 1, wide padded kernel */
        {2, 3, 8, 6, 3, 3, 1, 1, 1, 1, 0}, /* stride 1, heavy overlap */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* Equal values: the first position of the window in row-major order wins
 * and takes the whole gradient. */
static void ties_first_wins(void)
{
    const pool_case p = {1, 1, 2, 4, 2, 2, 2, 2, 0, 0, 0};
    const float x[8] = {1, 1, 1, 1, 1, 1, 1, 1}, dy[2] = {3, 5};
    rlkd_tensor *tx = t_from(x, 1, 1, 2, 4), *tdx = t_new(1, 1, 2, 4);
    rlkd_tensor *tdy = t_from(dy, 1, 1, 1, 2);
    CHECK_OK(backward(tdx, tdy, tx, &p));
    float *dx = t_get(tdx);
    const double want[8] = {3, 0, 5, 0, 0, 0, 0, 0};
    test_close("tied windows", dx, want, 8, 0, 0);
    free(dx);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(tdx); rlkd_tensor_destroy(tdy);
}

/* Negative inputs with padding: padding (0 if it counted) never wins, and
 * the first real position of each tied window takes its gradient. */
static void padding_never_wins(void)
{
    const pool_case p = {1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 0};
    float x[9], ones[9];
    for (int i = 0; i < 9; i++) {
        x[i] = -5.0f;
        ones[i] = 1.0f;
    }
    rlkd_tensor *tx = t_from(x, 1, 1, 3, 3), *ty = t_new(1, 1, 3, 3);
    rlkd_tensor *tdy = t_from(ones, 1, 1, 3, 3), *tdx = t_new(1, 1, 3, 3);
    CHECK_OK(forward(ty, tx, &p));
    CHECK_OK(backward(tdx, tdy, tx, &p));
    float *y = t_get(ty), *dx = t_get(tdx);
    const double want_y[9] = {-5, -5, -5, -5, -5, -5, -5, -5, -5};
    /* Output (oh, ow)'s window starts at row oh-1, column ow-1. */
    const double want_dx[9] = {4, 2, 0, 2, 1, 0, 0, 0, 0};
    test_close("padded forward", y, want_y, 9, 0, 0);
    test_close("padded tied backward", dx, want_dx, 9, 0, 0);
    free(y); free(dx);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tdy); rlkd_tensor_destroy(tdx);
}

/* As in PyTorch, a NaN in the window is the maximum. */
static void nan_propagates(void)
{
    const pool_case p = {1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0};
    const float x[4] = {1, NAN, 3, 2}, dy[1] = {7};
    rlkd_tensor *tx = t_from(x, 1, 1, 2, 2), *ty = t_new(1, 1, 1, 1);
    rlkd_tensor *tdy = t_from(dy, 1, 1, 1, 1), *tdx = t_new(1, 1, 2, 2);
    CHECK_OK(forward(ty, tx, &p));
    CHECK_OK(backward(tdx, tdy, tx, &p));
    float *y = t_get(ty), *dx = t_get(tdx);
    CHECK(isnan(y[0]));
    const double want_dx[4] = {0, 7, 0, 0};
    test_close("gradient to the NaN", dx, want_dx, 4, 0, 0);
    free(y); free(dx);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tdy); rlkd_tensor_destroy(tdx);
}

static void run_both_ways(const pool_problem *pb)
{
    CHECK_OK(forward(pb->ty, pb->tx, pb->p));
    CHECK_OK(backward(pb->tdx, pb->tdy, pb->tx, pb->p));
}

/* 1 thread and 4 give the same bits (see pool_check_thread_count). */
static void thread_count(void)
{
    const pool_case p = {2, 8, 72, 72, 3, 3, 2, 2, 1, 1, 0};
    pool_check_thread_count(&p, maxpool_ref, run_both_ways, 0, 0);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 3, 6, 6), *y = t_new(2, 3, 3, 3);
    rlkd_tensor *dx = t_new(2, 3, 6, 6), *x3d = t_new(2, 3, 6, 0);
    rlkd_tensor *y_wrong = t_new(2, 3, 3, 4), *dx_wrong = t_new(2, 3, 6, 5);
    rlkd_tensor *tiny = t_new(1, 1, 2, 2), *tiny_y = t_new(1, 1, 1, 1);
    CHECK_OK(rlkd_tensor_fill(y, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dx, 7.0f));

    CHECK_FAILS(rlkd_maxpool2d_forward(NULL, y, x, 2, 2, 2, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, NULL, x, 2, 2, 2, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, NULL, 2, 2, 2, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x3d, 2, 2, 2, 2, 0, 0),
                RLKD_ERR_SHAPE, "x must be 4-D");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y_wrong, x, 2, 2, 2, 2, 0,
                                       0),
                RLKD_ERR_SHAPE, "y has shape [2,3,3,4], expected [2,3,3,3]");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 0, 2, 2, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "kernel_h must be >= 1, got 0");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 2, -1, 2, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "kernel_w must be >= 1, got -1");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 2, 2, 0, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "stride_h must be >= 1, got 0");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 2, 2, 2, 0, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "stride_w must be >= 1, got 0");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 2, 2, 2, 2, -1, 0),
                RLKD_ERR_INVALID_ARGUMENT, "pad_h must be >= 0, got -1");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 3, 3, 2, 2, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT,
                "pad_w 2 must be at most half of kernel_w 3");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, y, x, 2, 2, 2, 2, 2, 0),
                RLKD_ERR_INVALID_ARGUMENT,
                "pad_h 2 must be at most half of kernel_h 2");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, tiny_y, tiny, 3, 1, 1, 1, 0,
                                       0),
                RLKD_ERR_SHAPE, "kernel_h 3 does not fit x's height 2");
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, tiny_y, tiny, 1, 3, 1, 1, 0,
                                       0),
                RLKD_ERR_SHAPE, "kernel_w 3 does not fit x's width 2");

    CHECK_FAILS(rlkd_maxpool2d_backward(NULL, dx, y, x, 2, 2, 2, 2, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_maxpool2d_backward(test_ctx, NULL, y, x, 2, 2, 2, 2, 0,
                                        0),
                RLKD_ERR_INVALID_ARGUMENT, "dx is NULL");
    CHECK_FAILS(rlkd_maxpool2d_backward(test_ctx, dx, NULL, x, 2, 2, 2, 2, 0,
                                        0),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_maxpool2d_backward(test_ctx, dx, y, NULL, 2, 2, 2, 2, 0,
                                        0),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_maxpool2d_backward(test_ctx, dx, y_wrong, x, 2, 2, 2, 2,
                                        0, 0),
                RLKD_ERR_SHAPE, "dy has shape [2,3,3,4]");
    CHECK_FAILS(rlkd_maxpool2d_backward(test_ctx, dx_wrong, y, x, 2, 2, 2, 2,
                                        0, 0),
                RLKD_ERR_SHAPE, "dx has shape [2,3,6,5]");
    CHECK_FAILS(rlkd_maxpool2d_backward(test_ctx, dx, y, x, 2, 2, 2, 2, 0, 3),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_maxpool2d_backward: pad_w");

    /* Sizes beyond the backend's int: checked before any memory is read. */
    const int64_t tall[4] = {1, 1, INT32_MAX, 1};
    rlkd_tensor *huge;
    float dummy = 0.0f;
    CHECK_OK(rlkd_tensor_wrap(test_ctx, RLKD_DTYPE_F32, 4, tall, &dummy,
                              &huge));
    CHECK_FAILS(rlkd_maxpool2d_forward(test_ctx, tiny_y, huge, 3, 1, 1, 1, 1,
                                       0),
                RLKD_ERR_INVALID_ARGUMENT, "x's padded height is 2147483649");
    rlkd_tensor_destroy(huge);

    /* None of the failures touched an output. */
    CHECK(test_all_equal(y, 7.0f) && test_all_equal(dx, 7.0f));
    rlkd_tensor *all[] = {x, y, dx, x3d, y_wrong, dx_wrong, tiny, tiny_y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
}

int main(void)
{
    test_main_begin();
    test_run("maxpool2d/geometries", geometries);
    test_run("maxpool2d/ties_first_wins", ties_first_wins);
    test_run("maxpool2d/padding_never_wins", padding_never_wins);
    test_run("maxpool2d/nan_propagates", nan_propagates);
    test_run("maxpool2d/thread_count", thread_count);
    test_run("maxpool2d/errors", errors);
    test_main_end();
    return test_finish();
}
