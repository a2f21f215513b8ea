/* relu: forward against a double reference, backward by finite differences,
 * in place, and its error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

static double relu_ref(double v)
{
    return v > 0 ? v : 0;
}

/* Loss L = sum_i r_i relu(x_i) in double precision, for the FD check. */
typedef struct {
    double *x;
    const double *r;
    size_t n;
} relu_loss;

static double relu_loss_fn(void *p)
{
    relu_loss *l = p;
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += l->r[i] * relu_ref(l->x[i]);
    return sum;
}

/* Dimensions of 0 are absent (t_new's convention), so 2-D shapes work too. */
static void check_shape(int64_t n, int64_t c, int64_t h, int64_t w)
{
    rlkd_tensor *shape_probe = t_new(n, c, h, w);
    size_t count = (size_t)rlkd_tensor_numel(shape_probe);
    rlkd_tensor_destroy(shape_probe);
    float *x = malloc(count * sizeof *x), *r = malloc(count * sizeof *r);
    test_fill_uniform(x, count, -1.0f, 1.0f, 1);
    test_fill_uniform(r, count, -1.0f, 1.0f, 2);
    for (size_t i = 0; i < count; i++) /* keep away from the kink for FD */
        if (fabsf(x[i]) < 0.05f)
            x[i] = 0.25f;
    rlkd_tensor *tx = t_from(x, n, c, h, w), *ty = t_new(n, c, h, w);
    rlkd_tensor *tdy = t_from(r, n, c, h, w), *tdx = t_new(n, c, h, w);

    CHECK_OK(rlkd_relu_forward(test_ctx, ty, tx));
    float *y = t_get(ty);
    double *want = malloc(count * sizeof *want);
    for (size_t i = 0; i < count; i++)
        want[i] = relu_ref(x[i]);
    test_close("relu forward", y, want, count, 0, 0);

    CHECK_OK(rlkd_relu_backward(test_ctx, tdx, tdy, ty));
    float *dx = t_get(tdx);
    double *rd = test_to_double(r, count);
    relu_loss loss = {test_to_double(x, count), rd, count};
    test_fd_gradient(relu_loss_fn, &loss, loss.x, count, 1e-3, want);
    test_close("relu backward vs finite differences", dx, want, count, 1e-8,
               1e-8);

    free(x); free(r); free(y); free(dx); free(want); free(rd); free(loss.x);
    rlkd_tensor_destroy(tx); rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tdy); rlkd_tensor_destroy(tdx);
}

static void odd_shapes(void)
{
    check_shape(1, 1, 1, 1);
    check_shape(2, 3, 5, 7);
    check_shape(1, 13, 1, 9);
    check_shape(3, 7, 0, 0);
}

static void in_place(void)
{
    const float x[4] = {-1, 2, -3, 4};
    rlkd_tensor *t = t_from(x, 4, 0, 0, 0);
    CHECK_OK(rlkd_relu_forward(test_ctx, t, t));
    float *y = t_get(t);
    CHECK(y[0] == 0 && y[1] == 2 && y[2] == 0 && y[3] == 4);
    free(y);
    rlkd_tensor_destroy(t);
}

static void errors(void)
{
    rlkd_tensor *a = t_new(2, 3, 0, 0), *b = t_new(3, 2, 0, 0);
    CHECK_FAILS(rlkd_relu_forward(NULL, a, a), RLKD_ERR_INVALID_ARGUMENT,
                "context");
    CHECK_FAILS(rlkd_relu_forward(test_ctx, NULL, a),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_relu_forward(test_ctx, a, b), RLKD_ERR_SHAPE, "[3,2]");
    CHECK_FAILS(rlkd_relu_backward(test_ctx, a, a, b), RLKD_ERR_SHAPE, "dy");
    rlkd_tensor_destroy(a);
    rlkd_tensor_destroy(b);
}

int main(void)
{
    test_main_begin();
    test_run("relu/odd_shapes", odd_shapes);
    test_run("relu/in_place", in_place);
    test_run("relu/errors", errors);
    test_main_end();
    return test_finish();
}
