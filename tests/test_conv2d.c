/*
 * conv2d: forward against a direct double-precision convolution, backward
 * against central differences of that reference, over awkward shapes;
 * gradient accumulation, NULL gradient outputs, and the error paths.
 *
 * Tolerances: the library sums at most ~100 float products of O(1) values
 * per output (the GEMMs' inner sizes here), so its rounding error is around
 * 1e-6; atol 1e-4 + rtol 1e-4 leaves a wide margin, while a wrong tap,
 * channel or group shifts values by O(0.1). The finite differences are of
 * the double reference and the loss is linear in each single variable, so
 * they are exact up to double rounding (~1e-12 with h = 1e-2).
 */
#include "testlib.h"

#include <stdlib.h>

#define ATOL 1e-4
#define RTOL 1e-4
#define FD_STEP 1e-2

typedef struct {
    const char *name;
    int n, in_c, in_h, in_w, out_c, kernel_h, kernel_w;
    int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
    int has_bias;
} conv_spec;

/* y = conv(x, w) + bias by direct loops in double; bias may be NULL. */
static void conv_ref(double *y, const double *x, const double *w,
                     const double *bias, const conv_spec *s, int out_h,
                     int out_w)
{
    const int in_c_g = s->in_c / s->groups, out_c_g = s->out_c / s->groups;
    for (int n = 0; n < s->n; n++)
    for (int oc = 0; oc < s->out_c; oc++)
    for (int oh = 0; oh < out_h; oh++)
    for (int ow = 0; ow < out_w; ow++) {
        const int first_in_c = oc / out_c_g * in_c_g;
        double sum = bias ? bias[oc] : 0.0;
        for (int ic = 0; ic < in_c_g; ic++)
        for (int ki = 0; ki < s->kernel_h; ki++)
        for (int kj = 0; kj < s->kernel_w; kj++) {
            const int ih = oh * s->stride_h - s->pad_h + ki * s->dilation_h;
            const int iw = ow * s->stride_w - s->pad_w + kj * s->dilation_w;
            if (ih < 0 || ih >= s->in_h || iw < 0 || iw >= s->in_w)
                continue;
            sum += x[((size_t)(n * s->in_c + first_in_c + ic) * s->in_h + ih) *
                         s->in_w + iw] *
                   w[((size_t)(oc * in_c_g + ic) * s->kernel_h + ki) *
                         s->kernel_w + kj];
        }
        y[((size_t)(n * s->out_c + oc) * out_h + oh) * out_w + ow] = sum;
    }
}

/* A problem: host data in float and double, and the library's tensors. */
typedef struct {
    const conv_spec *spec;
    int out_h, out_w;
    size_t x_count, w_count, y_count;
    float *x, *w, *bias, *r;          /* bias NULL without one; r = dy */
    double *xd, *wd, *biasd, *rd, *yd; /* the reference's copies */
    rlkd_tensor *tx, *tw, *tbias, *tdy;
} conv_problem;

static void problem_make(conv_problem *p, const conv_spec *s)
{
    int64_t out_h = 0, out_w = 0;
    CHECK_OK(rlkd_window_output_size(&out_h, s->in_h, s->kernel_h,
                                     s->stride_h, s->pad_h, s->dilation_h));
    CHECK_OK(rlkd_window_output_size(&out_w, s->in_w, s->kernel_w,
                                     s->stride_w, s->pad_w, s->dilation_w));
    p->spec = s;
    p->out_h = (int)out_h;
    p->out_w = (int)out_w;
    p->x_count = (size_t)s->n * s->in_c * s->in_h * s->in_w;
    p->w_count = (size_t)s->out_c * (s->in_c / s->groups) * s->kernel_h *
                 s->kernel_w;
    p->y_count = (size_t)s->n * s->out_c * p->out_h * p->out_w;
    p->x = malloc(p->x_count * sizeof *p->x);
    p->w = malloc(p->w_count * sizeof *p->w);
    p->r = malloc(p->y_count * sizeof *p->r);
    p->bias = s->has_bias ? malloc((size_t)s->out_c * sizeof *p->bias) : NULL;
    test_fill_uniform(p->x, p->x_count, -1.0f, 1.0f, 11);
    test_fill_uniform(p->w, p->w_count, -1.0f, 1.0f, 12);
    test_fill_uniform(p->r, p->y_count, -1.0f, 1.0f, 13);
    if (p->bias)
        test_fill_uniform(p->bias, (size_t)s->out_c, -1.0f, 1.0f, 14);
    p->xd = test_to_double(p->x, p->x_count);
    p->wd = test_to_double(p->w, p->w_count);
    p->rd = test_to_double(p->r, p->y_count);
    p->biasd = p->bias ? test_to_double(p->bias, (size_t)s->out_c) : NULL;
    p->yd = malloc(p->y_count * sizeof *p->yd);
    p->tx = t_from(p->x, s->n, s->in_c, s->in_h, s->in_w);
    p->tw = t_from(p->w, s->out_c, s->in_c / s->groups, s->kernel_h,
                   s->kernel_w);
    p->tbias = p->bias ? t_from(p->bias, s->out_c, 0, 0, 0) : NULL;
    p->tdy = t_from(p->r, s->n, s->out_c, p->out_h, p->out_w);
}

static void problem_free(conv_problem *p)
{
    free(p->x); free(p->w); free(p->bias); free(p->r);
    free(p->xd); free(p->wd); free(p->biasd); free(p->rd); free(p->yd);
    rlkd_tensor_destroy(p->tx); rlkd_tensor_destroy(p->tw);
    rlkd_tensor_destroy(p->tbias); rlkd_tensor_destroy(p->tdy);
}

static rlkd_tensor *new_y(const conv_problem *p)
{
    return t_new(p->spec->n, p->spec->out_c, p->out_h, p->out_w);
}

static rlkd_tensor *new_dx(const conv_problem *p)
{
    const conv_spec *s = p->spec;
    return t_new(s->n, s->in_c, s->in_h, s->in_w);
}

static rlkd_tensor *new_dw(const conv_problem *p)
{
    const conv_spec *s = p->spec;
    return t_new(s->out_c, s->in_c / s->groups, s->kernel_h, s->kernel_w);
}

static rlkd_status forward(const conv_problem *p, rlkd_tensor *y)
{
    const conv_spec *s = p->spec;
    return rlkd_conv2d_forward(test_ctx, y, p->tx, p->tw, p->tbias,
                               s->stride_h, s->stride_w, s->pad_h, s->pad_w,
                               s->dilation_h, s->dilation_w, s->groups);
}

static rlkd_status backward(const conv_problem *p, rlkd_tensor *dx,
                            rlkd_tensor *dw, rlkd_tensor *dbias)
{
    const conv_spec *s = p->spec;
    return rlkd_conv2d_backward(test_ctx, dx, dw, dbias, p->tdy, p->tx, p->tw,
                                s->stride_h, s->stride_w, s->pad_h, s->pad_w,
                                s->dilation_h, s->dilation_w, s->groups);
}

/* loss = sum(r * conv_ref(x, w, bias)), reading the problem's doubles. */
static double conv_loss(void *arg)
{
    const conv_problem *p = arg;
    conv_ref(p->yd, p->xd, p->wd, p->biasd, p->spec, p->out_h, p->out_w);
    double sum = 0.0;
    for (size_t i = 0; i < p->y_count; i++)
        sum += p->rd[i] * p->yd[i];
    return sum;
}

/* The gradients of conv_loss by finite differences; want_dbias may be NULL
 * (and must be without a bias). */
static void reference_gradients(conv_problem *p, double *want_dx,
                                double *want_dw, double *want_dbias)
{
    test_fd_gradient(conv_loss, p, p->xd, p->x_count, FD_STEP, want_dx);
    test_fd_gradient(conv_loss, p, p->wd, p->w_count, FD_STEP, want_dw);
    if (want_dbias)
        test_fd_gradient(conv_loss, p, p->biasd, (size_t)p->spec->out_c,
                         FD_STEP, want_dbias);
}

static void compare(const conv_problem *p, const char *what,
                    const rlkd_tensor *got, const double *want, size_t count,
                    double scale)
{
    test_close_tensor(p->spec->name, what, got, want, count, scale, ATOL,
                      RTOL);
}

/* Forward against the reference, then dx, dw (and dbias with a bias)
 * against finite differences; without a bias, dbias is passed as NULL. */
static void check_conv(const conv_spec *s)
{
    conv_problem p;
    problem_make(&p, s);
    rlkd_tensor *y = new_y(&p), *dx = new_dx(&p), *dw = new_dw(&p);
    rlkd_tensor *dbias = s->has_bias ? t_new(s->out_c, 0, 0, 0) : NULL;

    CHECK_OK(forward(&p, y));
    conv_ref(p.yd, p.xd, p.wd, p.biasd, s, p.out_h, p.out_w);
    compare(&p, "forward", y, p.yd, p.y_count, 1.0);

    CHECK_OK(backward(&p, dx, dw, dbias));
    double *want_dx = malloc(p.x_count * sizeof *want_dx);
    double *want_dw = malloc(p.w_count * sizeof *want_dw);
    double *want_dbias = malloc((size_t)s->out_c * sizeof *want_dbias);
    reference_gradients(&p, want_dx, want_dw, s->has_bias ? want_dbias : NULL);
    compare(&p, "dx", dx, want_dx, p.x_count, 1.0);
    compare(&p, "dw", dw, want_dw, p.w_count, 1.0);
    if (dbias)
        compare(&p, "dbias", dbias, want_dbias, (size_t)s->out_c, 1.0);

    free(want_dx); free(want_dw); free(want_dbias);
    rlkd_tensor_destroy(y); rlkd_tensor_destroy(dx);
    rlkd_tensor_destroy(dw); rlkd_tensor_destroy(dbias);
    problem_free(&p);
}

/* name  n  Cin H W  Cout Kh Kw  sh sw ph pw dh dw  groups bias */
static const conv_spec pointwise_specs[] = {
    {"1x1", 3, 5, 5, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 groups 3 no bias", 1, 6, 3, 5, 9, 1, 1, 1, 1, 0, 0, 1, 1, 3, 0},
    {"1x1 stride 2", 1, 3, 7, 9, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
    {"1x1 stride 1x2", 1, 3, 4, 5, 2, 1, 1, 1, 2, 0, 0, 1, 1, 1, 1},
    {"1x1 stride 2x1", 1, 3, 5, 4, 2, 1, 1, 2, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 pad 1", 3, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"1x1 pad 0x1", 1, 3, 3, 4, 2, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1},
    {"1x1 pad 1x0", 1, 3, 4, 3, 2, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1},
};

static const conv_spec window_specs[] = {
    {"3x3 pad 1", 3, 3, 5, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 stride 2 pad 1 no bias", 1, 7, 9, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0},
    {"3x3 dilation 2 pad 2", 1, 5, 7, 6, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1},
    {"5x5 kernel fills the padded input", 3, 3, 3, 3, 2, 5, 5, 1, 1, 1, 1, 1,
     1, 1, 1},
    {"3x5 stride 2x1 pad 0x2 dilation 1x2", 1, 3, 9, 11, 5, 3, 5, 2, 1, 0, 2,
     1, 2, 1, 1},
    {"2x1 stride 1x3 no bias", 3, 5, 6, 10, 3, 2, 1, 1, 3, 0, 1, 1, 1, 1, 0},
};

static const conv_spec group_specs[] = {
    {"groups 2", 3, 6, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
    {"depthwise stride 2", 3, 5, 7, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5, 1},
    {"depthwise 7 channels no bias", 1, 7, 5, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 7,
     0},
    {"depthwise multiplier 2", 1, 3, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0},
    {"groups 3 dilation 2", 3, 3, 7, 8, 6, 3, 2, 1, 2, 2, 0, 2, 2, 3, 1},
};

/* 3x3 stride 1 with 16 or more channels each way: the CPU backend's
 * Winograd path (forward and dx), odd sizes for the edge tiles. Small
 * images: the finite differences run the reference once per weight. */
static const conv_spec winograd_specs[] = {
    {"Winograd 3x3 pad 1", 1, 16, 5, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"Winograd 3x3 pad 0", 1, 17, 5, 6, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},
    {"Winograd 3x3 pad 2x1 no bias", 1, 16, 3, 4, 16, 3, 3, 1, 1, 2, 1, 1, 1,
     1, 0},
    {"Winograd 3x3 pad 1 on 1x1 images", 3, 16, 1, 1, 16, 3, 3, 1, 1, 1, 1, 1,
     1, 1, 1},
};

static void check_all(const conv_spec *specs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        check_conv(&specs[i]);
}

static void pointwise(void)
{
    check_all(pointwise_specs,
              sizeof pointwise_specs / sizeof pointwise_specs[0]);
}

static void windows(void)
{
    check_all(window_specs, sizeof window_specs / sizeof window_specs[0]);
}

static void winograd(void)
{
    check_all(winograd_specs, sizeof winograd_specs / sizeof winograd_specs[0]);
}

static void grouped(void)
{
    check_all(group_specs, sizeof group_specs / sizeof group_specs[0]);
}

/*
 * Twice backward: dw and dbias double against the reference, dx is written
 * (bit for bit the same as after one call). Each gradient asked for alone
 * (the others NULL) comes out bit for bit as when all are asked for.
 */
static void check_accumulation(const conv_spec *s)
{
    conv_problem p;
    problem_make(&p, s);
    rlkd_tensor *dx = new_dx(&p), *dw = new_dw(&p);
    rlkd_tensor *dbias = t_new(s->out_c, 0, 0, 0);
    rlkd_tensor *dx_once = new_dx(&p), *dw_once = new_dw(&p);
    rlkd_tensor *dbias_once = t_new(s->out_c, 0, 0, 0);

    CHECK_OK(backward(&p, dx, dw, dbias));
    CHECK_OK(backward(&p, dx_once, NULL, NULL));
    CHECK_OK(backward(&p, NULL, dw_once, NULL));
    CHECK_OK(backward(&p, NULL, NULL, dbias_once));
    CHECK_OK(backward(&p, NULL, NULL, NULL));
    CHECK(test_same_values(dx, dx_once));
    CHECK(test_same_values(dw, dw_once));
    CHECK(test_same_values(dbias, dbias_once));

    CHECK_OK(backward(&p, dx, dw, dbias));
    CHECK(test_same_values(dx, dx_once));
    double *want_dx = malloc(p.x_count * sizeof *want_dx);
    double *want_dw = malloc(p.w_count * sizeof *want_dw);
    double *want_dbias = malloc((size_t)s->out_c * sizeof *want_dbias);
    reference_gradients(&p, want_dx, want_dw, want_dbias);
    compare(&p, "dx after two calls", dx, want_dx, p.x_count, 1.0);
    compare(&p, "dw after two calls", dw, want_dw, p.w_count, 2.0);
    compare(&p, "dbias after two calls", dbias, want_dbias,
            (size_t)s->out_c, 2.0);

    free(want_dx); free(want_dw); free(want_dbias);
    rlkd_tensor_destroy(dx); rlkd_tensor_destroy(dw);
    rlkd_tensor_destroy(dbias); rlkd_tensor_destroy(dx_once);
    rlkd_tensor_destroy(dw_once); rlkd_tensor_destroy(dbias_once);
    problem_free(&p);
}

static void accumulation(void)
{
    check_accumulation(&pointwise_specs[0]); /* x is its own column matrix */
    check_accumulation(&group_specs[0]);     /* im2col and col2im */
}

/* Two threads: the same inputs give the same bits, call after call. */
static void deterministic(void)
{
    int threads = 0;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &threads));
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    static const conv_spec s = {"deterministic", 3, 16, 20, 20, 16, 3, 3, 1,
                                1, 1, 1, 1, 1, 2, 1};
    conv_problem p;
    problem_make(&p, &s);
    rlkd_tensor *y[2], *dx[2], *dw[2], *dbias[2];
    for (int run = 0; run < 2; run++) {
        y[run] = new_y(&p);
        dx[run] = new_dx(&p);
        dw[run] = new_dw(&p);
        dbias[run] = t_new(s.out_c, 0, 0, 0);
        CHECK_OK(forward(&p, y[run]));
        CHECK_OK(backward(&p, dx[run], dw[run], dbias[run]));
    }
    CHECK(test_same_values(y[0], y[1]));
    CHECK(test_same_values(dx[0], dx[1]));
    CHECK(test_same_values(dw[0], dw[1]));
    CHECK(test_same_values(dbias[0], dbias[1]));
    for (int run = 0; run < 2; run++) {
        rlkd_tensor_destroy(y[run]); rlkd_tensor_destroy(dx[run]);
        rlkd_tensor_destroy(dw[run]); rlkd_tensor_destroy(dbias[run]);
    }
    problem_free(&p);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, threads));
}

/* Errors: x [2,4,5,5], w [6,2,3,3], groups 2, stride 1, pad 1 -> y [2,6,5,5]. */
static void errors(void)
{
    rlkd_tensor *x = t_new(2, 4, 5, 5), *w = t_new(6, 2, 3, 3);
    rlkd_tensor *bias = t_new(6, 0, 0, 0), *y = t_new(2, 6, 5, 5);
    rlkd_tensor *dx = t_new(2, 4, 5, 5), *dw = t_new(6, 2, 3, 3);
    rlkd_tensor *dbias = t_new(6, 0, 0, 0), *dy = t_new(2, 6, 5, 5);
    rlkd_tensor *w_wrong = t_new(6, 3, 3, 3), *vec5 = t_new(5, 0, 0, 0);
    rlkd_tensor *x3d = t_new(2, 4, 5, 0), *y_wrong = t_new(2, 6, 4, 5);
    rlkd_tensor *x3 = t_new(2, 3, 5, 5), *w5 = t_new(5, 2, 3, 3);
    rlkd_tensor *x_tiny = t_new(1, 4, 2, 2), *dx_wrong = t_new(2, 4, 5, 4);
    const int64_t one = 1;
    rlkd_tensor *labels;
    CHECK_OK(rlkd_tensor_create(test_ctx, RLKD_DTYPE_I32, 1, &one, &labels));
    rlkd_context *other_ctx;
    CHECK_OK(rlkd_context_create(&other_ctx, RLKD_DEVICE_CPU, 0));
    int64_t x_shape[4] = {2, 4, 5, 5};
    rlkd_tensor *x_other;
    CHECK_OK(rlkd_tensor_create(other_ctx, RLKD_DTYPE_F32, 4, x_shape,
                                &x_other));

#define FWD(c, y_, x_, w_, b_, sh, sw, ph, pw, dh, dw_, grp) \
    rlkd_conv2d_forward(c, y_, x_, w_, b_, sh, sw, ph, pw, dh, dw_, grp)
#define BWD(dx_, dw_, db_, dy_, x_, w_) \
    rlkd_conv2d_backward(test_ctx, dx_, dw_, db_, dy_, x_, w_, 1, 1, 1, 1, 1, 1, 2)

    CHECK_OK(FWD(test_ctx, y, x, w, bias, 1, 1, 1, 1, 1, 1, 2));
    CHECK_OK(BWD(dx, dw, dbias, dy, x, w));

    /* NULL context and tensors */
    CHECK_FAILS(FWD(NULL, y, x, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_conv2d_forward: context");
    CHECK_FAILS(rlkd_conv2d_backward(NULL, dx, dw, dbias, dy, x, w, 1, 1, 1,
                                     1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_conv2d_backward: context");
    CHECK_FAILS(FWD(test_ctx, NULL, x, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(FWD(test_ctx, y, NULL, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(FWD(test_ctx, y, x, NULL, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "w is NULL");
    CHECK_FAILS(BWD(dx, dw, dbias, NULL, x, w), RLKD_ERR_INVALID_ARGUMENT,
                "dy is NULL");
    CHECK_FAILS(BWD(dx, dw, dbias, dy, NULL, w), RLKD_ERR_INVALID_ARGUMENT,
                "x is NULL");
    CHECK_FAILS(BWD(dx, dw, dbias, dy, x, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "w is NULL");

    /* dtype and context */
    CHECK_FAILS(FWD(test_ctx, y, x, w, labels, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "bias is int32");
    CHECK_FAILS(FWD(test_ctx, y, x_other, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_DEVICE_MISMATCH, "x belongs to another context");

    /* settings */
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 0, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "stride_h must be >= 1, got 0");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, -2, 1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "stride_w must be >= 1, got -2");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, -1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "pad_h");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1, -1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "pad_w");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1, 1, 0, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT, "dilation_h");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1, 1, 1, 0, 2),
                RLKD_ERR_INVALID_ARGUMENT, "dilation_w");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1, 1, 1, 1, 0),
                RLKD_ERR_INVALID_ARGUMENT, "groups must be >= 1");
    CHECK_FAILS(rlkd_conv2d_backward(test_ctx, dx, dw, dbias, dy, x, w, -1, 1,
                                     1, 1, 1, 1, 2),
                RLKD_ERR_INVALID_ARGUMENT,
                "rlkd_conv2d_backward: stride_h must be >= 1, got -1");

    /* shapes */
    CHECK_FAILS(FWD(test_ctx, y, x3d, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "x must be 4-D");
    CHECK_FAILS(FWD(test_ctx, y, x3, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "groups 2 does not divide the 3 input channels");
    CHECK_FAILS(FWD(test_ctx, y, x, w5, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "groups 2 does not divide the 5 output channels");
    CHECK_FAILS(FWD(test_ctx, y, x, w_wrong, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE,
                "rlkd_conv2d_forward: w has shape [6,3,3,3], expected [6,2,3,3]");
    CHECK_FAILS(FWD(test_ctx, y, x, w, vec5, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "bias has shape [5], expected [6]");
    CHECK_FAILS(FWD(test_ctx, y_wrong, x, w, bias, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "y has shape [2,6,4,5], expected [2,6,5,5]");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 2, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "expected [2,6,3,5]");
    /* window larger than the padded input: 3x3 on 2x2 unpadded, and a
     * dilated 5-wide window on 5 + 2*1 */
    CHECK_FAILS(FWD(test_ctx, y, x_tiny, w, bias, 1, 1, 0, 0, 1, 1, 2),
                RLKD_ERR_SHAPE, "kernel height 3 with dilation 1 does not fit");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1, 1, 1, 4, 2),
                RLKD_ERR_SHAPE, "kernel width 3 with dilation 4 does not fit "
                "x's width 5 padded by 1");
    /* sizes the backend's ints cannot hold */
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1 << 30, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "padded input height");
    CHECK_FAILS(FWD(test_ctx, y, x, w, bias, 1, 1, 1 << 20, 1 << 20, 1, 1, 2),
                RLKD_ERR_SHAPE, "output plane");

    CHECK_FAILS(BWD(dx, dw, dbias, y_wrong, x, w), RLKD_ERR_SHAPE,
                "dy has shape [2,6,4,5], expected [2,6,5,5]");
    CHECK_FAILS(BWD(dx_wrong, dw, dbias, dy, x, w), RLKD_ERR_SHAPE,
                "dx has shape [2,4,5,4] but x has [2,4,5,5]");
    CHECK_FAILS(BWD(dx, w_wrong, dbias, dy, x, w), RLKD_ERR_SHAPE,
                "dw has shape [6,3,3,3] but w has [6,2,3,3]");
    CHECK_FAILS(BWD(dx, dw, vec5, dy, x, w), RLKD_ERR_SHAPE,
                "dbias has shape [5], expected [6]");
    CHECK_FAILS(BWD(dx, dw, dbias, dy, x, w_wrong), RLKD_ERR_SHAPE,
                "rlkd_conv2d_backward: w has shape");

    /* a failed call leaves its outputs alone */
    CHECK_OK(rlkd_tensor_fill(y, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dx, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dw, 7.0f));
    CHECK_OK(rlkd_tensor_fill(dbias, 7.0f));
    CHECK_FAILS(FWD(test_ctx, y, x, w, vec5, 1, 1, 1, 1, 1, 1, 2),
                RLKD_ERR_SHAPE, "bias");
    CHECK_FAILS(BWD(dx, dw, dbias, dy, x, w_wrong), RLKD_ERR_SHAPE, "w");
    rlkd_tensor *outputs[4] = {y, dx, dw, dbias};
    for (int i = 0; i < 4; i++)
        CHECK_MSG(test_all_equal(outputs[i], 7.0f),
                  "output %d was written by a failing call", i);
#undef FWD
#undef BWD

    rlkd_tensor *all[] = {x, w, bias, y, dx, dw, dbias, dy, w_wrong, vec5,
                          x3d, y_wrong, x3, w5, x_tiny, dx_wrong, labels,
                          x_other};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
    rlkd_context_destroy(other_ctx);
}

int main(void)
{
    test_main_begin();
    test_run("conv2d/pointwise", pointwise);
    test_run("conv2d/windows", windows);
    test_run("conv2d/groups", grouped);
    test_run("conv2d/winograd", winograd);
    test_run("conv2d/accumulation_and_null_grads", accumulation);
    test_run("conv2d/deterministic", deterministic);
    test_run("conv2d/errors", errors);
    test_main_end();
    return test_finish();
}
