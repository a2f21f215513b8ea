/* channel_mask: forward against a double reference for 4-D and 2-D inputs,
 * backward by finite differences, in place, and the error paths. */
#include "testlib.h"

#include <stdlib.h>

/* L = sum r * x * mask[c] in double, with x [n, c, hw], for the FD check. */
typedef struct {
    double *x;
    const double *r, *mask;
    int n, c, hw;
} mask_loss;

static double masked(const mask_loss *l, size_t i)
{
    return l->x[i] * l->mask[i / (size_t)l->hw % (size_t)l->c];
}

static double mask_loss_fn(void *p)
{
    const mask_loss *l = p;
    size_t count = (size_t)l->n * l->c * l->hw;
    double sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += l->r[i] * masked(l, i);
    return sum;
}

/* h == 0 makes x 2-D [n, c]. */
static void check_shape(int n, int c, int h, int w)
{
    const int hw = h ? h * w : 1;
    size_t count = (size_t)n * c * hw;
    float *x = malloc(count * sizeof *x), *r = malloc(count * sizeof *r);
    float *mask = malloc((size_t)c * sizeof *mask);
    test_fill_uniform(x, count, -2.0f, 2.0f, 1);
    test_fill_uniform(r, count, -1.0f, 1.0f, 2);
    test_fill_uniform(mask, (size_t)c, -1.5f, 1.5f, 3);
    mask[0] = 0.0f; /* a pruned channel */
    if (c > 2)
        mask[2] = 1.0f;
    rlkd_tensor *tx = t_from(x, n, c, h, w), *ty = t_new(n, c, h, w);
    rlkd_tensor *tdy = t_from(r, n, c, h, w), *tdx = t_new(n, c, h, w);
    rlkd_tensor *tmask = t_from(mask, c, 0, 0, 0);

    CHECK_OK(rlkd_channel_mask_forward(test_ctx, ty, tx, tmask));
    float *y = t_get(ty);
    mask_loss loss = {test_to_double(x, count), test_to_double(r, count),
                      test_to_double(mask, (size_t)c), n, c, hw};
    double *want = malloc(count * sizeof *want);
    for (size_t i = 0; i < count; i++)
        want[i] = masked(&loss, i);
    test_close("channel_mask forward", y, want, count, 0, 6e-8);

    CHECK_OK(rlkd_tensor_fill(tdx, 3.0f)); /* written, not accumulated */
    CHECK_OK(rlkd_channel_mask_backward(test_ctx, tdx, tdy, tmask));
    float *dx = t_get(tdx);
    if (count <= 4096) {
        test_fd_gradient(mask_loss_fn, &loss, loss.x, count, 1e-3, want);
    } else { /* FD would take count^2 steps: dL/dx = r * mask directly */
        mask_loss of_r = loss;
        of_r.x = (double *)loss.r;
        for (size_t i = 0; i < count; i++)
            want[i] = masked(&of_r, i);
    }
    test_close("channel_mask backward", dx, want, count,
               1e-8, 1e-7);

    free(x); free(r); free(mask); free(y); free(dx); free(want);
    free(loss.x); free((double *)loss.r); free((double *)loss.mask);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tdy); rlkd_tensor_destroy(tdx);
    rlkd_tensor_destroy(tmask);
}

static void odd_shapes(void)
{
    check_shape(1, 1, 1, 1);
    check_shape(2, 3, 5, 7);
    check_shape(1, 13, 1, 1);
    check_shape(3, 13, 2, 3);
}

static void two_dimensional(void)
{
    check_shape(1, 1, 0, 0);
    check_shape(4, 3, 0, 0);
    check_shape(2, 13, 0, 0);
}

static void large_parallel(void)
{
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    check_shape(2, 9, 64, 64); /* over 65536 elements: the parallel loop */
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
}

static void in_place(void)
{
    const float x[6] = {1, 2, 3, 4, 5, 6}, mask[3] = {0, 1, -2};
    rlkd_tensor *t = t_from(x, 2, 3, 0, 0), *tmask = t_from(mask, 3, 0, 0, 0);
    CHECK_OK(rlkd_channel_mask_forward(test_ctx, t, t, tmask));
    float *y = t_get(t);
    CHECK(y[0] == 0 && y[1] == 2 && y[2] == -6);
    CHECK(y[3] == 0 && y[4] == 5 && y[5] == -12);
    free(y);
    CHECK_OK(rlkd_channel_mask_backward(test_ctx, t, t, tmask)); /* dx == dy */
    y = t_get(t);
    CHECK(y[0] == 0 && y[1] == 2 && y[2] == 12);
    CHECK(y[3] == 0 && y[4] == 5 && y[5] == 24);
    free(y);
    rlkd_tensor_destroy(t);
    rlkd_tensor_destroy(tmask);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 3, 4, 4), *y_bad = t_new(2, 3, 4, 5);
    rlkd_tensor *mask = t_new(3, 0, 0, 0), *mask4 = t_new(4, 0, 0, 0);
    rlkd_tensor *mask2d = t_new(1, 3, 0, 0), *x1 = t_new(6, 0, 0, 0);
    rlkd_tensor *x3 = t_new(2, 3, 4, 0);
    int32_t labels[3] = {0};
    rlkd_tensor *ints = t_labels(labels, 3);

    CHECK_FAILS(rlkd_channel_mask_forward(NULL, x, x, mask),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, NULL, x, mask),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x, NULL, mask),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x, x, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "mask is NULL");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x, x, ints),
                RLKD_ERR_INVALID_ARGUMENT, "mask is int32");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, y_bad, x, mask),
                RLKD_ERR_SHAPE, "y has shape [2,3,4,5]");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x, x, mask4),
                RLKD_ERR_SHAPE, "mask has shape [4], expected [3]");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x, x, mask2d),
                RLKD_ERR_SHAPE, "mask has shape [1,3]");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x1, x1, mask),
                RLKD_ERR_SHAPE, "x must be [N,C,H,W] or [N,C], got shape [6]");
    CHECK_FAILS(rlkd_channel_mask_forward(test_ctx, x3, x3, mask),
                RLKD_ERR_SHAPE, "got shape [2,3,4]");

    CHECK_FAILS(rlkd_channel_mask_backward(NULL, x, x, mask),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_channel_mask_backward(test_ctx, NULL, x, mask),
                RLKD_ERR_INVALID_ARGUMENT, "dx is NULL");
    CHECK_FAILS(rlkd_channel_mask_backward(test_ctx, x, NULL, mask),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_channel_mask_backward(test_ctx, x, x, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "mask is NULL");
    CHECK_FAILS(rlkd_channel_mask_backward(test_ctx, y_bad, x, mask),
                RLKD_ERR_SHAPE, "dx has shape [2,3,4,5]");
    CHECK_FAILS(rlkd_channel_mask_backward(test_ctx, x, x, mask4),
                RLKD_ERR_SHAPE, "mask has shape [4]");
    CHECK_FAILS(rlkd_channel_mask_backward(test_ctx, x1, x1, mask),
                RLKD_ERR_SHAPE, "dy must be [N,C,H,W] or [N,C]");

    rlkd_tensor_destroy(x); rlkd_tensor_destroy(y_bad);
    rlkd_tensor_destroy(mask); rlkd_tensor_destroy(mask4);
    rlkd_tensor_destroy(mask2d); rlkd_tensor_destroy(x1);
    rlkd_tensor_destroy(x3); rlkd_tensor_destroy(ints);
}

int main(void)
{
    test_main_begin();
    test_run("channel_mask/odd_shapes", odd_shapes);
    test_run("channel_mask/two_dimensional", two_dimensional);
    test_run("channel_mask/large_parallel", large_parallel);
    test_run("channel_mask/in_place", in_place);
    test_run("channel_mask/errors", errors);
    test_main_end();
    return test_finish();
}
