/* avgpool2d: forward against a double reference with PyTorch's divisors
 * (count_include_pad both ways) over awkward geometries, a hand-worked
 * case, backward by finite differences, and the error paths. */
#include "pool_test.h"

#include <math.h>
#include <stdlib.h>

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* PyTorch's avg_pool2d in double: with count_include_pad the divisor is the
 * window clipped to the padded input, otherwise the positions inside x. */
static void avgpool_ref(double *y, const double *x, const pool_case *p)
{
    const int ho = out_h(p), wo = out_w(p);
    for (int plane = 0; plane < p->n * p->c; plane++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++) {
                const int h0 = oh * p->stride_h - p->pad_h;
                const int w0 = ow * p->stride_w - p->pad_w;
                const int padded_size =
                    (min_int(h0 + p->kernel_h, p->h + p->pad_h) - h0) *
                    (min_int(w0 + p->kernel_w, p->w + p->pad_w) - w0);
                double sum = 0;
                int inside = 0;
                for (int h = h0; h < h0 + p->kernel_h; h++)
                    for (int w = w0; w < w0 + p->kernel_w; w++) {
                        if (h < 0 || h >= p->h || w < 0 || w >= p->w)
                            continue;
                        sum += x[((size_t)plane * p->h + h) * p->w + w];
                        inside++;
                    }
                y[((size_t)plane * ho + oh) * wo + ow] =
                    sum / (p->count_include_pad ? padded_size : inside);
            }
}

static rlkd_status forward(rlkd_tensor *y, const rlkd_tensor *x,
                           const pool_case *p)
{
    return rlkd_avgpool2d_forward(test_ctx, y, x, p->kernel_h, p->kernel_w,
                                  p->stride_h, p->stride_w, p->pad_h,
                                  p->pad_w, p->count_include_pad);
}

static rlkd_status backward(rlkd_tensor *dx, const rlkd_tensor *dy,
                            const pool_case *p)
{
    return rlkd_avgpool2d_backward(test_ctx, dx, dy, p->kernel_h,
                                   p->kernel_w, p->stride_h, p->stride_w,
                                   p->pad_h, p->pad_w, p->count_include_pad);
}

static void check_case(const pool_case *p)
{
    pool_problem pb = pool_problem_make(p, 5, 6);
    double *want = malloc(pb.nx * sizeof *want);
    pool_loss loss = {pb.xd, pb.rd, p, avgpool_ref};

    CHECK_OK(forward(pb.ty, pb.tx, p));
    float *y = t_get(pb.ty);
    avgpool_ref(want, loss.x, p);
    CHECK_MSG(test_close("avgpool forward", y, want, pb.ny, 1e-6, 1e-6),
              "x [%d,%d,%d,%d] kernel %dx%d stride %dx%d pad %dx%d "
              "count_include_pad %d", p->n, p->c, p->h, p->w, p->kernel_h,
              p->kernel_w, p->stride_h, p->stride_w, p->pad_h, p->pad_w,
              p->count_include_pad);

    CHECK_OK(rlkd_tensor_fill(pb.tdx, 99.0f)); /* dx is written, not added */
    CHECK_OK(backward(pb.tdx, pb.tdy, p));
    float *dx = t_get(pb.tdx);
    test_fd_gradient(pool_loss_fn, &loss, loss.x, pb.nx, 1e-3, want);
    CHECK_MSG(test_close("avgpool backward vs finite differences", dx, want,
                         pb.nx, 1e-6, 1e-6),
              "x [%d,%d,%d,%d] kernel %dx%d stride %dx%d pad %dx%d "
              "count_include_pad %d", p->n, p->c, p->h, p->w, p->kernel_h,
              p->kernel_w, p->stride_h, p->stride_w, p->pad_h, p->pad_w,
              p->count_include_pad);

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
        {1, 2, 6, 7, 5, 4, 2, 3, 2, 2, 0}, /* big padded kernel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int include = 0; include <= 1; include++) {
            pool_case p = cases[i];
            p.count_include_pad = include;
            check_case(&p);
        }
}

/* x = 1..9 in a 3x3 plane, kernel 2, stride 1, padding 1: the corner
 * windows hold one input each, the edge ones two, the middle four. */
static void worked_example(void)
{
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    rlkd_tensor *tx = t_from(x, 1, 1, 3, 3), *ty = t_new(1, 1, 4, 4);
    const double with_pad[16] = {
        1 / 4.0,  3 / 4.0,  5 / 4.0,  3 / 4.0,
        5 / 4.0,  12 / 4.0, 16 / 4.0, 9 / 4.0,
        11 / 4.0, 24 / 4.0, 28 / 4.0, 15 / 4.0,
        7 / 4.0,  15 / 4.0, 17 / 4.0, 9 / 4.0};
    const double without_pad[16] = {
        1,        3 / 2.0,  5 / 2.0,  3,
        5 / 2.0,  12 / 4.0, 16 / 4.0, 9 / 2.0,
        11 / 2.0, 24 / 4.0, 28 / 4.0, 15 / 2.0,
        7,        15 / 2.0, 17 / 2.0, 9};
    CHECK_OK(rlkd_avgpool2d_forward(test_ctx, ty, tx, 2, 2, 1, 1, 1, 1, 1));
    float *y = t_get(ty);
    test_close("count_include_pad=1", y, with_pad, 16, 1e-6, 1e-6);
    free(y);
    CHECK_OK(rlkd_avgpool2d_forward(test_ctx, ty, tx, 2, 2, 1, 1, 1, 1, 0));
    y = t_get(ty);
    test_close("count_include_pad=0", y, without_pad, 16, 1e-6, 1e-6);
    free(y);
    rlkd_tensor_destroy(tx);
    rlkd_tensor_destroy(ty);
}

static void run_both_ways(const pool_problem *pb)
{
    CHECK_OK(forward(pb->ty, pb->tx, pb->p));
    CHECK_OK(backward(pb->tdx, pb->tdy, pb->p));
}

/* 1 thread and 4 give the same bits (see pool_check_thread_count). */
static void thread_count(void)
{
    const pool_case p = {2, 8, 72, 72, 3, 3, 2, 2, 1, 1, 1};
    pool_check_thread_count(&p, avgpool_ref, run_both_ways, 1e-6, 1e-6);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 3, 6, 6), *y = t_new(2, 3, 3, 3);
    rlkd_tensor *dx = t_new(2, 3, 6, 6), *x3d = t_new(2, 3, 6, 0);
    rlkd_tensor *y_wrong = t_new(2, 3, 3, 4);
    rlkd_tensor *tiny = t_new(1, 1, 2, 2), *tiny_y = t_new(1, 1, 1, 1);
    CHECK_OK(rlkd_tensor_fill(y, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dx, 7.0f));

    CHECK_FAILS(rlkd_avgpool2d_forward(NULL, y, x, 2, 2, 2, 2, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, NULL, x, 2, 2, 2, 2, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y, NULL, 2, 2, 2, 2, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y, x3d, 2, 2, 2, 2, 0, 0, 1),
                RLKD_ERR_SHAPE, "x must be 4-D");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y_wrong, x, 2, 2, 2, 2, 0, 0,
                                       1),
                RLKD_ERR_SHAPE, "y has shape [2,3,3,4], expected [2,3,3,3]");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y, x, 2, 0, 2, 2, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "kernel_w must be >= 1, got 0");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y, x, 2, 2, -2, 2, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "stride_h must be >= 1, got -2");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y, x, 2, 2, 2, 2, 0, -1, 1),
                RLKD_ERR_INVALID_ARGUMENT, "pad_w must be >= 0, got -1");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, y, x, 3, 3, 2, 2, 2, 1, 1),
                RLKD_ERR_INVALID_ARGUMENT,
                "pad_h 2 must be at most half of kernel_h 3");
    CHECK_FAILS(rlkd_avgpool2d_forward(test_ctx, tiny_y, tiny, 3, 3, 1, 1, 0,
                                       0, 0),
                RLKD_ERR_SHAPE, "kernel_h 3 does not fit x's height 2");

    CHECK_FAILS(rlkd_avgpool2d_backward(NULL, dx, y, 2, 2, 2, 2, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_avgpool2d_backward(test_ctx, NULL, y, 2, 2, 2, 2, 0, 0,
                                        1),
                RLKD_ERR_INVALID_ARGUMENT, "dx is NULL");
    CHECK_FAILS(rlkd_avgpool2d_backward(test_ctx, dx, NULL, 2, 2, 2, 2, 0, 0,
                                        1),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_avgpool2d_backward(test_ctx, x3d, y, 2, 2, 2, 2, 0, 0, 1),
                RLKD_ERR_SHAPE, "dx must be 4-D");
    CHECK_FAILS(rlkd_avgpool2d_backward(test_ctx, dx, y_wrong, 2, 2, 2, 2, 0,
                                        0, 1),
                RLKD_ERR_SHAPE, "dy has shape [2,3,3,4], expected [2,3,3,3]");
    CHECK_FAILS(rlkd_avgpool2d_backward(test_ctx, dx, y, 2, 2, 2, 2, 0, 2, 1),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_avgpool2d_backward: pad_w");
    CHECK_FAILS(rlkd_avgpool2d_backward(test_ctx, tiny, tiny_y, 1, 3, 1, 1, 0,
                                        0, 1),
                RLKD_ERR_SHAPE, "kernel_w 3 does not fit dx's width 2");

    /* None of the failures touched an output. */
    CHECK(test_all_equal(y, 7.0f) && test_all_equal(dx, 7.0f));
    rlkd_tensor *all[] = {x, y, dx, x3d, y_wrong, tiny, tiny_y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
}

int main(void)
{
    test_main_begin();
    test_run("avgpool2d/geometries", geometries);
    test_run("avgpool2d/worked_example", worked_example);
    test_run("avgpool2d/thread_count", thread_count);
    test_run("avgpool2d/errors", errors);
    test_main_end();
    return test_finish();
}
