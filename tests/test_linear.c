/*
 * linear: forward against a double-precision reference, backward against
 * central differences of that reference, x of 2 and 4 dimensions, bias or
 * none; gradient accumulation, NULL gradient outputs, and the error paths.
 *
 * Tolerances: each output sums at most 13 float products of O(1) values
 * (rounding around 1e-6), so atol 1e-4 + rtol 1e-4 leaves a wide margin
 * while a transposed or shifted index moves values by O(0.1). The loss is
 * linear in each single variable, so the finite differences of the double
 * reference are exact up to double rounding (~1e-13 with h = 1e-2).
 */
#include "testlib.h"

#include <stdlib.h>

#define ATOL 1e-4
#define RTOL 1e-4
#define FD_STEP 1e-2

typedef struct {
    const char *name;
    int64_t x_shape[4]; /* trailing zeros for unused dimensions */
    int out_features;
    int has_bias;
} linear_spec;

/* A problem: host data in float and double, and the library's tensors. */
typedef struct {
    const linear_spec *spec;
    int n, in_features;
    size_t x_count, w_count, y_count;
    float *x, *w, *bias, *r;           /* bias NULL without one; r = dy */
    double *xd, *wd, *biasd, *rd;      /* the reference's copies */
    rlkd_tensor *tx, *tw, *tbias, *tdy;
} linear_problem;

/* y = x w^T + bias in double, summed directly; bias may be NULL. */
static double linear_ref_output(const linear_problem *p, const double *x,
                                const double *w, const double *bias, int row,
                                int o)
{
    double sum = bias ? bias[o] : 0.0;
    for (int i = 0; i < p->in_features; i++)
        sum += x[(size_t)row * p->in_features + i] *
               w[(size_t)o * p->in_features + i];
    return sum;
}

/* loss = sum(r * y) over the reference's y. */
static double linear_loss(void *arg)
{
    const linear_problem *p = arg;
    double sum = 0.0;
    for (int row = 0; row < p->n; row++)
        for (int o = 0; o < p->spec->out_features; o++)
            sum += p->rd[(size_t)row * p->spec->out_features + o] *
                   linear_ref_output(p, p->xd, p->wd, p->biasd, row, o);
    return sum;
}

static rlkd_tensor *new_x_shaped(const linear_spec *s)
{
    return t_new(s->x_shape[0], s->x_shape[1], s->x_shape[2], s->x_shape[3]);
}

static void problem_make(linear_problem *p, const linear_spec *s)
{
    p->spec = s;
    p->n = (int)s->x_shape[0];
    p->x_count = 1;
    for (int d = 0; d < 4 && s->x_shape[d] > 0; d++)
        p->x_count *= (size_t)s->x_shape[d];
    p->in_features = (int)(p->x_count / (size_t)p->n);
    p->w_count = (size_t)s->out_features * p->in_features;
    p->y_count = (size_t)p->n * s->out_features;
    p->x = malloc(p->x_count * sizeof *p->x);
    p->w = malloc(p->w_count * sizeof *p->w);
    p->r = malloc(p->y_count * sizeof *p->r);
    p->bias = s->has_bias ? malloc((size_t)s->out_features * sizeof *p->bias)
                          : NULL;
    test_fill_uniform(p->x, p->x_count, -1.0f, 1.0f, 21);
    test_fill_uniform(p->w, p->w_count, -1.0f, 1.0f, 22);
    test_fill_uniform(p->r, p->y_count, -1.0f, 1.0f, 23);
    if (p->bias)
        test_fill_uniform(p->bias, (size_t)s->out_features, -1.0f, 1.0f, 24);
    p->xd = test_to_double(p->x, p->x_count);
    p->wd = test_to_double(p->w, p->w_count);
    p->rd = test_to_double(p->r, p->y_count);
    p->biasd = p->bias ? test_to_double(p->bias, (size_t)s->out_features)
                       : NULL;
    p->tx = new_x_shaped(s);
    CHECK_OK(rlkd_tensor_write(p->tx, p->x, p->x_count));
    p->tw = t_from(p->w, s->out_features, p->in_features, 0, 0);
    p->tbias = p->bias ? t_from(p->bias, s->out_features, 0, 0, 0) : NULL;
    p->tdy = t_from(p->r, p->n, s->out_features, 0, 0);
}

static void problem_free(linear_problem *p)
{
    free(p->x); free(p->w); free(p->bias); free(p->r);
    free(p->xd); free(p->wd); free(p->biasd); free(p->rd);
    rlkd_tensor_destroy(p->tx); rlkd_tensor_destroy(p->tw);
    rlkd_tensor_destroy(p->tbias); rlkd_tensor_destroy(p->tdy);
}

static void compare(const linear_problem *p, const char *what,
                    const rlkd_tensor *got, const double *want, size_t count,
                    double scale)
{
    test_close_tensor(p->spec->name, what, got, want, count, scale, ATOL,
                      RTOL);
}

/*
 * Forward against the reference; backward twice: dx (written, and of x's
 * shape) matches finite differences after each call, dw and dbias match
 * them once and then twice over. Without a bias, dbias is passed as NULL.
 */
static void check_linear(const linear_spec *s)
{
    linear_problem p;
    problem_make(&p, s);
    const int out = s->out_features;
    rlkd_tensor *y = t_new(p.n, out, 0, 0), *dx = new_x_shaped(s);
    rlkd_tensor *dw = t_new(out, p.in_features, 0, 0);
    rlkd_tensor *dbias = s->has_bias ? t_new(out, 0, 0, 0) : NULL;

    CHECK_OK(rlkd_linear_forward(test_ctx, y, p.tx, p.tw, p.tbias));
    double *want_y = malloc(p.y_count * sizeof *want_y);
    for (int row = 0; row < p.n; row++)
        for (int o = 0; o < out; o++)
            want_y[(size_t)row * out + o] =
                linear_ref_output(&p, p.xd, p.wd, p.biasd, row, o);
    compare(&p, "forward", y, want_y, p.y_count, 1.0);

    double *want_dx = malloc(p.x_count * sizeof *want_dx);
    double *want_dw = malloc(p.w_count * sizeof *want_dw);
    double *want_dbias = malloc((size_t)out * sizeof *want_dbias);
    test_fd_gradient(linear_loss, &p, p.xd, p.x_count, FD_STEP, want_dx);
    test_fd_gradient(linear_loss, &p, p.wd, p.w_count, FD_STEP, want_dw);
    if (s->has_bias)
        test_fd_gradient(linear_loss, &p, p.biasd, (size_t)out, FD_STEP,
                         want_dbias);
    for (int call = 1; call <= 2; call++) {
        CHECK_OK(rlkd_linear_backward(test_ctx, dx, dw, dbias, p.tdy, p.tx,
                                      p.tw));
        compare(&p, call == 1 ? "dx" : "dx after two calls", dx, want_dx,
                p.x_count, 1.0);
        compare(&p, call == 1 ? "dw" : "dw after two calls", dw, want_dw,
                p.w_count, call);
        if (dbias)
            compare(&p, call == 1 ? "dbias" : "dbias after two calls", dbias,
                    want_dbias, (size_t)out, call);
    }

    free(want_y); free(want_dx); free(want_dw); free(want_dbias);
    rlkd_tensor_destroy(y); rlkd_tensor_destroy(dx);
    rlkd_tensor_destroy(dw); rlkd_tensor_destroy(dbias);
    problem_free(&p);
}

static const linear_spec specs[] = {
    {"3x5 -> 7", {3, 5, 0, 0}, 7, 1},
    {"1x7 -> 3 no bias", {1, 7, 0, 0}, 3, 0},
    {"3x13 -> 1", {3, 13, 0, 0}, 1, 1},
    {"x [3,2,3,1] flattened -> 5", {3, 2, 3, 1}, 5, 1},
    {"x [1,5,1,1] flattened -> 8 no bias", {1, 5, 1, 1}, 8, 0},
    {"x [4,3,2] flattened -> 2", {4, 3, 2, 0}, 2, 1},
};

static void shapes(void)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        check_linear(&specs[i]);
}

/* Each gradient asked for alone comes out bit for bit as with all three. */
static void null_grads(void)
{
    linear_problem p;
    problem_make(&p, &specs[3]);
    rlkd_tensor *dx = new_x_shaped(p.spec), *dx_alone = new_x_shaped(p.spec);
    rlkd_tensor *dw = t_new(5, 6, 0, 0), *dw_alone = t_new(5, 6, 0, 0);
    rlkd_tensor *dbias = t_new(5, 0, 0, 0), *dbias_alone = t_new(5, 0, 0, 0);
    CHECK_OK(rlkd_linear_backward(test_ctx, dx, dw, dbias, p.tdy, p.tx, p.tw));
    CHECK_OK(rlkd_linear_backward(test_ctx, dx_alone, NULL, NULL, p.tdy, p.tx,
                                  p.tw));
    CHECK_OK(rlkd_linear_backward(test_ctx, NULL, dw_alone, NULL, p.tdy, p.tx,
                                  p.tw));
    CHECK_OK(rlkd_linear_backward(test_ctx, NULL, NULL, dbias_alone, p.tdy,
                                  p.tx, p.tw));
    CHECK_OK(rlkd_linear_backward(test_ctx, NULL, NULL, NULL, p.tdy, p.tx,
                                  p.tw));
    CHECK(test_same_values(dx, dx_alone));
    CHECK(test_same_values(dw, dw_alone));
    CHECK(test_same_values(dbias, dbias_alone));
    rlkd_tensor *all[] = {dx, dx_alone, dw, dw_alone, dbias, dbias_alone};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
    problem_free(&p);
}

/* Errors: x [3,2,3] (6 features), w [4,6], bias [4] -> y [3,4]. */
static void errors(void)
{
    rlkd_tensor *x = t_new(3, 2, 3, 0), *w = t_new(4, 6, 0, 0);
    rlkd_tensor *bias = t_new(4, 0, 0, 0), *y = t_new(3, 4, 0, 0);
    rlkd_tensor *dx = t_new(3, 2, 3, 0), *dw = t_new(4, 6, 0, 0);
    rlkd_tensor *dbias = t_new(4, 0, 0, 0), *dy = t_new(3, 4, 0, 0);
    rlkd_tensor *w7 = t_new(4, 7, 0, 0), *w3d = t_new(4, 6, 1, 0);
    rlkd_tensor *vec5 = t_new(5, 0, 0, 0), *y_wrong = t_new(2, 4, 0, 0);
    rlkd_tensor *x_flat = t_new(3, 6, 0, 0);
    const int64_t four = 4;
    rlkd_tensor *labels;
    CHECK_OK(rlkd_tensor_create(test_ctx, RLKD_DTYPE_I32, 1, &four, &labels));
    rlkd_context *other_ctx;
    CHECK_OK(rlkd_context_create(&other_ctx, RLKD_DEVICE_CPU, 0));
    const int64_t w_shape[2] = {4, 6};
    rlkd_tensor *w_other;
    CHECK_OK(rlkd_tensor_create(other_ctx, RLKD_DTYPE_F32, 2, w_shape,
                                &w_other));

    CHECK_OK(rlkd_linear_forward(test_ctx, y, x, w, bias));
    CHECK_OK(rlkd_linear_backward(test_ctx, dx, dw, dbias, dy, x, w));

    CHECK_FAILS(rlkd_linear_forward(NULL, y, x, w, bias),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_linear_forward: context");
    CHECK_FAILS(rlkd_linear_backward(NULL, dx, dw, dbias, dy, x, w),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_linear_backward: context");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, NULL, x, w, bias),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, NULL, w, bias),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, NULL, bias),
                RLKD_ERR_INVALID_ARGUMENT, "w is NULL");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, dbias, NULL, x, w),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, dbias, dy, NULL, w),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, dbias, dy, x, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "w is NULL");

    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, w, labels),
                RLKD_ERR_INVALID_ARGUMENT, "bias is int32");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, w_other, bias),
                RLKD_ERR_DEVICE_MISMATCH, "w belongs to another context");

    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, w3d, bias),
                RLKD_ERR_SHAPE, "w must be 2-D");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, w7, bias),
                RLKD_ERR_SHAPE,
                "rlkd_linear_forward: w has shape [4,7], expected [4,6]");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, w, vec5),
                RLKD_ERR_SHAPE, "bias has shape [5], expected [4]");
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y_wrong, x, w, bias),
                RLKD_ERR_SHAPE, "y has shape [2,4], expected [3,4]");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, dbias, y_wrong, x, w),
                RLKD_ERR_SHAPE, "dy has shape [2,4], expected [3,4]");
    /* dx takes x's shape, not the flattened [N, in] */
    CHECK_FAILS(rlkd_linear_backward(test_ctx, x_flat, dw, dbias, dy, x, w),
                RLKD_ERR_SHAPE, "dx has shape [3,6] but x has [3,2,3]");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, w7, dbias, dy, x, w),
                RLKD_ERR_SHAPE, "dw has shape [4,7] but w has [4,6]");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, vec5, dy, x, w),
                RLKD_ERR_SHAPE, "dbias has shape [5], expected [4]");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, dbias, dy, x, w7),
                RLKD_ERR_SHAPE, "rlkd_linear_backward: w has shape [4,7]");

    /* a failed call leaves its outputs alone */
    CHECK_OK(rlkd_tensor_fill(y, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dx, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dw, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dbias, 7.0f));
    CHECK_FAILS(rlkd_linear_forward(test_ctx, y, x, w, vec5), RLKD_ERR_SHAPE,
                "bias");
    CHECK_FAILS(rlkd_linear_backward(test_ctx, dx, dw, dbias, y_wrong, x, w),
                RLKD_ERR_SHAPE, "dy");
    rlkd_tensor *outputs[4] = {y, dx, dw, dbias};
    for (int i = 0; i < 4; i++)
        CHECK_MSG(test_all_equal(outputs[i], 7.0f),
                  "output %d was written by a failing call", i);

    rlkd_tensor *all[] = {x, w, bias, y, dx, dw, dbias, dy, w7, w3d, vec5,
                          y_wrong, x_flat, labels, w_other};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
    rlkd_context_destroy(other_ctx);
}

int main(void)
{
    test_main_begin();
    test_run("linear/shapes_and_accumulation", shapes);
    test_run("linear/null_grads", null_grads);
    test_run("linear/errors", errors);
    test_main_end();
    return test_finish();
}
