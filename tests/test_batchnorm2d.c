/* batchnorm2d: training and inference forward against a double reference,
 * the running-statistics update, backward through the batch statistics and
 * with frozen ones by finite differences, accumulation, optional gradients,
 * thread-count independence and the error paths. */
#include "testlib.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MOMENTUM 0.1f
#define EPS 1e-5f

typedef struct {
    int n, c, h, w;
} shape4;

static size_t numel(shape4 s)
{
    return (size_t)s.n * s.c * s.h * s.w;
}

static float *random_floats(size_t count, float lo, float hi, uint64_t seed)
{
    float *v = malloc(count * sizeof *v);
    test_fill_uniform(v, count, lo, hi, seed);
    return v;
}

/* Element (i, ch, j) of an [N,C,HW] array. */
static size_t at(shape4 s, int i, int ch, int j)
{
    return ((size_t)i * s.c + ch) * ((size_t)s.h * s.w) + j;
}

/*
 * The double reference. training: normalises with the batch mean and biased
 * variance and writes them (mean, var) out; otherwise normalises with
 * mean/var as given. invstd (may be NULL) receives 1/sqrt(var + eps).
 */
static void bn_ref(double *y, double *mean, double *var, double *invstd,
                   const double *x, const double *gamma, const double *beta,
                   shape4 s, int training)
{
    const int hw = s.h * s.w;
    const double count = (double)s.n * hw;
    for (int ch = 0; ch < s.c; ch++) {
        if (training) {
            double sum = 0, squares = 0;
            for (int i = 0; i < s.n; i++)
                for (int j = 0; j < hw; j++)
                    sum += x[at(s, i, ch, j)];
            mean[ch] = sum / count;
            for (int i = 0; i < s.n; i++)
                for (int j = 0; j < hw; j++) {
                    double d = x[at(s, i, ch, j)] - mean[ch];
                    squares += d * d;
                }
            var[ch] = squares / count;
        }
        double is = 1.0 / sqrt(var[ch] + EPS);
        if (invstd)
            invstd[ch] = is;
        for (int i = 0; i < s.n; i++)
            for (int j = 0; j < hw; j++) {
                size_t k = at(s, i, ch, j);
                y[k] = gamma[ch] * (x[k] - mean[ch]) * is + beta[ch];
            }
    }
}

/* Inputs of one check, in float (for rlkd) and double (for the reference). */
typedef struct {
    shape4 s;
    float *x, *gamma, *beta, *rmean, *rvar, *r;
    double *xd, *gammad, *betad, *rmeand, *rvard, *rd;
    int training;
} bn_inputs;

static bn_inputs make_inputs(shape4 s, float offset, int training,
                             uint64_t seed)
{
    bn_inputs in = {0};
    size_t count = numel(s);
    in.s = s;
    in.training = training;
    in.x = random_floats(count, offset - 1.0f, offset + 1.0f, seed);
    in.gamma = random_floats((size_t)s.c, 0.5f, 1.5f, seed + 1);
    in.beta = random_floats((size_t)s.c, -0.5f, 0.5f, seed + 2);
    in.rmean = random_floats((size_t)s.c, -0.2f, 0.2f, seed + 3);
    in.rvar = random_floats((size_t)s.c, 0.5f, 1.5f, seed + 4);
    in.r = random_floats(count, -1.0f, 1.0f, seed + 5);
    in.xd = test_to_double(in.x, count);
    in.gammad = test_to_double(in.gamma, (size_t)s.c);
    in.betad = test_to_double(in.beta, (size_t)s.c);
    in.rmeand = test_to_double(in.rmean, (size_t)s.c);
    in.rvard = test_to_double(in.rvar, (size_t)s.c);
    in.rd = test_to_double(in.r, count);
    return in;
}

static void free_inputs(bn_inputs *in)
{
    free(in->x); free(in->gamma); free(in->beta); free(in->rmean);
    free(in->rvar); free(in->r); free(in->xd); free(in->gammad);
    free(in->betad); free(in->rmeand); free(in->rvard); free(in->rd);
}

/* The rlkd tensors of one check. */
typedef struct {
    rlkd_tensor *x, *y, *gamma, *beta, *rmean, *rvar, *smean, *sinvstd;
    rlkd_tensor *dy, *dx, *dgamma, *dbeta;
} bn_tensors;

static bn_tensors make_tensors(const bn_inputs *in)
{
    shape4 s = in->s;
    bn_tensors t;
    t.x = t_from(in->x, s.n, s.c, s.h, s.w);
    t.y = t_new(s.n, s.c, s.h, s.w);
    t.gamma = t_from(in->gamma, s.c, 0, 0, 0);
    t.beta = t_from(in->beta, s.c, 0, 0, 0);
    t.rmean = t_from(in->rmean, s.c, 0, 0, 0);
    t.rvar = t_from(in->rvar, s.c, 0, 0, 0);
    t.smean = t_new(s.c, 0, 0, 0);
    t.sinvstd = t_new(s.c, 0, 0, 0);
    t.dy = t_from(in->r, s.n, s.c, s.h, s.w);
    t.dx = t_new(s.n, s.c, s.h, s.w);
    t.dgamma = t_new(s.c, 0, 0, 0);
    t.dbeta = t_new(s.c, 0, 0, 0);
    return t;
}

static void free_tensors(bn_tensors *t)
{
    rlkd_tensor *all[] = {t->x, t->y, t->gamma, t->beta, t->rmean, t->rvar,
                          t->smean, t->sinvstd, t->dy, t->dx, t->dgamma,
                          t->dbeta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
}

static rlkd_status forward(const bn_inputs *in, bn_tensors *t)
{
    return rlkd_batchnorm2d_forward(test_ctx, t->y, t->smean, t->sinvstd,
                                    t->rmean, t->rvar, t->x, t->gamma,
                                    t->beta, in->training, MOMENTUM, EPS);
}

static rlkd_status backward(const bn_inputs *in, bn_tensors *t)
{
    return rlkd_batchnorm2d_backward(test_ctx, t->dx, t->dgamma, t->dbeta,
                                     t->dy, t->x, t->gamma, t->smean,
                                     t->sinvstd, in->training);
}

/* The reference's statistics for `in`: batch ones in training, else the
 * running ones. */
static void ref_forward(const bn_inputs *in, double *y, double *mean,
                        double *var, double *invstd)
{
    if (!in->training) {
        memcpy(mean, in->rmeand, (size_t)in->s.c * sizeof *mean);
        memcpy(var, in->rvard, (size_t)in->s.c * sizeof *var);
    }
    bn_ref(y, mean, var, invstd, in->xd, in->gammad, in->betad, in->s,
           in->training);
}

static void check_forward(shape4 s, float offset, int training)
{
    bn_inputs in = make_inputs(s, offset, training, 10);
    bn_tensors t = make_tensors(&in);
    size_t count = numel(s), c = (size_t)s.c;
    double *y = malloc(count * sizeof *y), *mean = malloc(c * sizeof *mean);
    double *var = malloc(c * sizeof *var), *invstd = malloc(c * sizeof *invstd);
    double *want_rmean = malloc(c * sizeof *want_rmean);
    double *want_rvar = malloc(c * sizeof *want_rvar);
    ref_forward(&in, y, mean, var, invstd);
    const double m = MOMENTUM, hw_n = (double)count / s.c;
    for (size_t ch = 0; ch < c; ch++) {
        want_rmean[ch] = training ? (1 - m) * in.rmeand[ch] + m * mean[ch]
                                  : in.rmeand[ch];
        want_rvar[ch] = training ? (1 - m) * in.rvard[ch] +
                                       m * var[ch] * hw_n / (hw_n - 1)
                                 : in.rvard[ch];
    }

    CHECK_OK(forward(&in, &t));
    float *got_y = t_get(t.y), *got_mean = t_get(t.smean);
    float *got_invstd = t_get(t.sinvstd), *got_rmean = t_get(t.rmean);
    float *got_rvar = t_get(t.rvar);
    /* y = x * scale + shift cancels as PyTorch's does: the error grows with
     * |x| * scale, scale = gamma * invstd, at float resolution. */
    double max_scale = 0;
    for (size_t ch = 0; ch < c; ch++)
        max_scale = fmax(max_scale, fabs(in.gammad[ch]) * invstd[ch]);
    const double y_atol = 1e-5 + 4 * FLT_EPSILON * fabs(offset) * max_scale;
    CHECK_MSG(test_close("y", got_y, y, count, y_atol, 1e-5),
              "shape [%d,%d,%d,%d] offset %g training %d", s.n, s.c, s.h, s.w,
              (double)offset, training);
    test_close("save_mean", got_mean, mean, c, 1e-6, 1e-6);
    test_close("save_invstd", got_invstd, invstd, c, 0, 1e-6);
    test_close("running_mean", got_rmean, want_rmean, c, 1e-7, 1e-6);
    test_close("running_var", got_rvar, want_rvar, c, 1e-7, 1e-6);
    if (!training) /* inference leaves the running statistics alone */
        CHECK(memcmp(got_rmean, in.rmean, c * sizeof(float)) == 0 &&
              memcmp(got_rvar, in.rvar, c * sizeof(float)) == 0);

    free(got_y); free(got_mean); free(got_invstd); free(got_rmean);
    free(got_rvar); free(y); free(mean); free(var); free(invstd);
    free(want_rmean); free(want_rvar);
    free_tensors(&t);
    free_inputs(&in);
}

static const shape4 forward_shapes[] = {
    {2, 3, 5, 7},  /* odd spatial sizes */
    {1, 13, 1, 9}, /* batch 1, channels not a multiple of 8 */
    {4, 5, 1, 1},  /* 1x1 spatial */
    {1, 2, 1, 2},  /* two values per channel: unbiased variance / 1 */
    {3, 10, 4, 3},
};

static void training_forward(void)
{
    for (size_t i = 0; i < sizeof forward_shapes / sizeof forward_shapes[0]; i++)
        check_forward(forward_shapes[i], 0.0f, 1);
}

/* A mean far from zero: statistics accumulated in float, or in one pass as
 * E[x^2] - E[x]^2, lose the variance's digits. */
static void large_mean(void)
{
    const shape4 s = {8, 4, 16, 16};
    check_forward(s, 300.0f, 1);
}

static void inference_forward(void)
{
    for (size_t i = 0; i < sizeof forward_shapes / sizeof forward_shapes[0]; i++)
        check_forward(forward_shapes[i], 0.5f, 0);
    const shape4 single = {1, 3, 1, 1}; /* one value per channel is fine */
    check_forward(single, 0.0f, 0);
}

/* Training without running statistics or save tensors. */
static void no_running_stats(void)
{
    const shape4 s = {2, 5, 3, 3};
    bn_inputs in = make_inputs(s, 0.0f, 1, 20);
    bn_tensors t = make_tensors(&in);
    size_t count = numel(s), c = (size_t)s.c;
    double *y = malloc(count * sizeof *y), *mean = malloc(c * sizeof *mean);
    double *var = malloc(c * sizeof *var);
    ref_forward(&in, y, mean, var, NULL);
    CHECK_OK(rlkd_batchnorm2d_forward(test_ctx, t.y, NULL, NULL, NULL, NULL,
                                      t.x, t.gamma, t.beta, 1, MOMENTUM, EPS));
    float *got = t_get(t.y);
    test_close("y without running statistics", got, y, count, 1e-5, 1e-5);
    free(got); free(y); free(mean); free(var);
    free_tensors(&t);
    free_inputs(&in);
}

/* loss = sum(r * y) in double, with y through the batch statistics in
 * training; its finite differences give the reference gradients. */
static double bn_loss(void *p)
{
    const bn_inputs *in = p;
    size_t count = numel(in->s), c = (size_t)in->s.c;
    double *y = malloc(count * sizeof *y), *mean = malloc(c * sizeof *mean);
    double *var = malloc(c * sizeof *var);
    ref_forward(in, y, mean, var, NULL);
    double loss = 0;
    for (size_t i = 0; i < count; i++)
        loss += in->rd[i] * y[i];
    free(y); free(mean); free(var);
    return loss;
}

static void check_backward(shape4 s, int training)
{
    bn_inputs in = make_inputs(s, 0.25f, training, 30);
    bn_tensors t = make_tensors(&in);
    size_t count = numel(s), c = (size_t)s.c;
    CHECK_OK(rlkd_tensor_fill(t.dx, 1e9f)); /* dx is written, not added to */
    CHECK_OK(forward(&in, &t));
    CHECK_OK(backward(&in, &t));
    float *dx = t_get(t.dx), *dgamma = t_get(t.dgamma), *dbeta = t_get(t.dbeta);
    double *want = malloc(count * sizeof *want);
    test_fd_gradient(bn_loss, &in, in.xd, count, 1e-4, want);
    CHECK_MSG(test_close("dx vs finite differences", dx, want, count, 1e-5,
                         1e-5),
              "shape [%d,%d,%d,%d] training %d", s.n, s.c, s.h, s.w, training);
    test_fd_gradient(bn_loss, &in, in.gammad, c, 1e-4, want);
    test_close("dgamma vs finite differences", dgamma, want, c, 1e-5, 1e-5);
    test_fd_gradient(bn_loss, &in, in.betad, c, 1e-4, want);
    test_close("dbeta vs finite differences", dbeta, want, c, 1e-5, 1e-5);
    free(dx); free(dgamma); free(dbeta); free(want);
    free_tensors(&t);
    free_inputs(&in);
}

static const shape4 backward_shapes[] = {
    {2, 3, 4, 5}, {1, 5, 1, 3}, {3, 2, 1, 1}, {1, 9, 3, 3},
};

static void training_backward(void)
{
    for (size_t i = 0; i < sizeof backward_shapes / sizeof backward_shapes[0];
         i++)
        check_backward(backward_shapes[i], 1);
}

static void inference_backward(void)
{
    for (size_t i = 0; i < sizeof backward_shapes / sizeof backward_shapes[0];
         i++)
        check_backward(backward_shapes[i], 0);
}

/* A second backward adds the same dgamma/dbeta again and rewrites dx. */
static void accumulates(void)
{
    const shape4 s = {2, 3, 4, 4};
    bn_inputs in = make_inputs(s, 0.0f, 1, 40);
    bn_tensors t = make_tensors(&in);
    size_t count = numel(s), c = (size_t)s.c;
    CHECK_OK(forward(&in, &t));
    CHECK_OK(backward(&in, &t));
    float *dx1 = t_get(t.dx), *dgamma1 = t_get(t.dgamma);
    float *dbeta1 = t_get(t.dbeta);
    CHECK_OK(backward(&in, &t));
    float *dx2 = t_get(t.dx), *dgamma2 = t_get(t.dgamma);
    float *dbeta2 = t_get(t.dbeta);
    CHECK(memcmp(dx1, dx2, count * sizeof *dx1) == 0);
    for (size_t ch = 0; ch < c; ch++) {
        CHECK_MSG(dgamma2[ch] == 2 * dgamma1[ch] && dgamma1[ch] != 0,
                  "dgamma[%zu]: %g then %g", ch, (double)dgamma1[ch],
                  (double)dgamma2[ch]);
        CHECK_MSG(dbeta2[ch] == 2 * dbeta1[ch] && dbeta1[ch] != 0,
                  "dbeta[%zu]: %g then %g", ch, (double)dbeta1[ch],
                  (double)dbeta2[ch]);
    }
    free(dx1); free(dgamma1); free(dbeta1); free(dx2); free(dgamma2);
    free(dbeta2);
    free_tensors(&t);
    free_inputs(&in);
}

/* Any gradient may be NULL; the others come out the same. */
static void optional_grads(void)
{
    const shape4 s = {2, 4, 3, 5};
    bn_inputs in = make_inputs(s, 0.0f, 1, 50);
    bn_tensors t = make_tensors(&in);
    size_t count = numel(s), c = (size_t)s.c;
    CHECK_OK(forward(&in, &t));
    CHECK_OK(backward(&in, &t));
    float *dx = t_get(t.dx), *dgamma = t_get(t.dgamma), *dbeta = t_get(t.dbeta);

    rlkd_tensor *dx_only = t_new(s.n, s.c, s.h, s.w);
    CHECK_OK(rlkd_batchnorm2d_backward(test_ctx, dx_only, NULL, NULL, t.dy,
                                       t.x, t.gamma, t.smean, t.sinvstd, 1));
    float *got = t_get(dx_only);
    CHECK(memcmp(got, dx, count * sizeof *dx) == 0);
    free(got);

    rlkd_tensor *dgamma_only = t_new(s.c, 0, 0, 0), *dbeta_only = t_new(s.c, 0, 0, 0);
    CHECK_OK(rlkd_batchnorm2d_backward(test_ctx, NULL, dgamma_only, dbeta_only,
                                       t.dy, t.x, t.gamma, t.smean, t.sinvstd,
                                       1));
    float *got_gamma = t_get(dgamma_only), *got_beta = t_get(dbeta_only);
    CHECK(memcmp(got_gamma, dgamma, c * sizeof *dgamma) == 0);
    CHECK(memcmp(got_beta, dbeta, c * sizeof *dbeta) == 0);
    CHECK_OK(rlkd_batchnorm2d_backward(test_ctx, NULL, NULL, NULL, t.dy, t.x,
                                       t.gamma, t.smean, t.sinvstd, 1));

    free(got_gamma); free(got_beta); free(dx); free(dgamma); free(dbeta);
    rlkd_tensor_destroy(dx_only);
    rlkd_tensor_destroy(dgamma_only);
    rlkd_tensor_destroy(dbeta_only);
    free_tensors(&t);
    free_inputs(&in);
}

/* Same bits from 1 thread and from several (large enough to go parallel). */
static void thread_count(void)
{
    const shape4 s = {4, 11, 40, 40};
    bn_inputs in = make_inputs(s, 0.0f, 1, 60);
    size_t count = numel(s), c = (size_t)s.c;
    float *results[2][4];
    const int threads[2] = {1, 4};
    int saved_threads;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &saved_threads));
    for (int k = 0; k < 2; k++) {
        bn_tensors t = make_tensors(&in);
        CHECK_OK(rlkd_context_set_num_threads(test_ctx, threads[k]));
        CHECK_OK(forward(&in, &t));
        CHECK_OK(backward(&in, &t));
        results[k][0] = t_get(t.y);
        results[k][1] = t_get(t.rvar);
        results[k][2] = t_get(t.dx);
        results[k][3] = t_get(t.dgamma);
        free_tensors(&t);
    }
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, saved_threads));
    CHECK(memcmp(results[0][0], results[1][0], count * sizeof(float)) == 0);
    CHECK(memcmp(results[0][1], results[1][1], c * sizeof(float)) == 0);
    CHECK(memcmp(results[0][2], results[1][2], count * sizeof(float)) == 0);
    CHECK(memcmp(results[0][3], results[1][3], c * sizeof(float)) == 0);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++)
            free(results[k][j]);
    free_inputs(&in);
}

/* Training with one value per channel has no unbiased variance. */
static void single_value_training(void)
{
    const shape4 s = {1, 3, 1, 1};
    bn_inputs in = make_inputs(s, 0.0f, 1, 70);
    bn_tensors t = make_tensors(&in);
    CHECK_FAILS(forward(&in, &t), RLKD_ERR_INVALID_ARGUMENT,
                "more than 1 value per channel");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, NULL, NULL, NULL, NULL,
                                         t.x, t.gamma, t.beta, 1, MOMENTUM,
                                         EPS),
                RLKD_ERR_INVALID_ARGUMENT, "N*H*W = 1");
    free_tensors(&t);
    free_inputs(&in);
}

static void errors(void)
{
    const shape4 s = {2, 3, 4, 4};
    bn_inputs in = make_inputs(s, 0.0f, 1, 80);
    bn_tensors t = make_tensors(&in);
    rlkd_tensor *vec4 = t_new(4, 0, 0, 0), *x3d = t_new(2, 3, 16, 0);
    rlkd_tensor *y_wrong = t_new(2, 3, 4, 5);
    const char *fwd = "rlkd_batchnorm2d_forward";

    CHECK_OK(rlkd_tensor_fill(t.y, 7.0f));
    CHECK_FAILS(rlkd_batchnorm2d_forward(NULL, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, NULL, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, NULL, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, NULL, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "gamma is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, NULL,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "beta is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, x3d, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, x3d, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "x must be 4-D");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, y_wrong, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "y has shape [2,3,4,5]");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, vec4, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "gamma has shape [4], expected [3]");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, vec4,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "beta");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, vec4, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "save_mean");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, vec4,
                                         t.rmean, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "save_invstd");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, vec4, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_SHAPE, "running_var");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, NULL, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "running_var is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         NULL, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "running_mean is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         NULL, NULL, t.x, t.gamma, t.beta, 0,
                                         MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "running_mean is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, NULL, t.x, t.gamma, t.beta,
                                         0, MOMENTUM, EPS),
                RLKD_ERR_INVALID_ARGUMENT, "running_var is NULL");
    const float bad_momenta[] = {-0.1f, 1.5f, NAN};
    for (int i = 0; i < 3; i++)
        CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean,
                                             t.sinvstd, t.rmean, t.rvar, t.x,
                                             t.gamma, t.beta, 1,
                                             bad_momenta[i], EPS),
                    RLKD_ERR_INVALID_ARGUMENT, "momentum must be in [0, 1]");
    const float bad_eps[] = {0.0f, -1e-5f, NAN, INFINITY};
    for (int i = 0; i < 4; i++)
        CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean,
                                             t.sinvstd, t.rmean, t.rvar, t.x,
                                             t.gamma, t.beta, 1, MOMENTUM,
                                             bad_eps[i]),
                    RLKD_ERR_INVALID_ARGUMENT, "eps must be finite and > 0");
    CHECK_FAILS(rlkd_batchnorm2d_forward(test_ctx, t.y, t.smean, t.sinvstd,
                                         t.rmean, t.rvar, t.x, t.gamma, t.beta,
                                         1, MOMENTUM, 0.0f),
                RLKD_ERR_INVALID_ARGUMENT, fwd);
    /* None of the failures touched an output. */
    float *y = t_get(t.y), *rmean = t_get(t.rmean);
    for (size_t i = 0; i < numel(s); i++)
        CHECK_MSG(y[i] == 7.0f, "y[%zu] = %g after failed calls", i,
                  (double)y[i]);
    CHECK(memcmp(rmean, in.rmean, (size_t)s.c * sizeof(float)) == 0);
    free(y); free(rmean);

    CHECK_FAILS(rlkd_batchnorm2d_backward(NULL, t.dx, t.dgamma, t.dbeta, t.dy,
                                          t.x, t.gamma, t.smean, t.sinvstd, 1),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          NULL, t.x, t.gamma, t.smean,
                                          t.sinvstd, 1),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          t.dy, NULL, t.gamma, t.smean,
                                          t.sinvstd, 1),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          t.dy, t.x, NULL, t.smean, t.sinvstd,
                                          1),
                RLKD_ERR_INVALID_ARGUMENT, "gamma is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          t.dy, t.x, t.gamma, NULL, t.sinvstd,
                                          1),
                RLKD_ERR_INVALID_ARGUMENT, "save_mean is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          t.dy, t.x, t.gamma, t.smean, NULL,
                                          1),
                RLKD_ERR_INVALID_ARGUMENT, "save_invstd is NULL");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          y_wrong, t.x, t.gamma, t.smean,
                                          t.sinvstd, 1),
                RLKD_ERR_SHAPE, "dy has shape [2,3,4,5]");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, y_wrong, t.dgamma, t.dbeta,
                                          t.dy, t.x, t.gamma, t.smean,
                                          t.sinvstd, 1),
                RLKD_ERR_SHAPE, "dx has shape [2,3,4,5]");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, vec4, t.dbeta, t.dy,
                                          t.x, t.gamma, t.smean, t.sinvstd, 1),
                RLKD_ERR_SHAPE, "dgamma");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, vec4, t.dy,
                                          t.x, t.gamma, t.smean, t.sinvstd, 1),
                RLKD_ERR_SHAPE, "dbeta");
    CHECK_FAILS(rlkd_batchnorm2d_backward(test_ctx, t.dx, t.dgamma, t.dbeta,
                                          t.dy, t.x, t.gamma, t.smean, vec4, 1),
                RLKD_ERR_SHAPE, "save_invstd");

    rlkd_tensor_destroy(vec4);
    rlkd_tensor_destroy(x3d);
    rlkd_tensor_destroy(y_wrong);
    free_tensors(&t);
    free_inputs(&in);
}

int main(void)
{
    test_main_begin();
    test_run("batchnorm2d/training_forward", training_forward);
    test_run("batchnorm2d/large_mean", large_mean);
    test_run("batchnorm2d/inference_forward", inference_forward);
    test_run("batchnorm2d/no_running_stats", no_running_stats);
    test_run("batchnorm2d/training_backward", training_backward);
    test_run("batchnorm2d/inference_backward", inference_backward);
    test_run("batchnorm2d/accumulates", accumulates);
    test_run("batchnorm2d/optional_grads", optional_grads);
    test_run("batchnorm2d/thread_count", thread_count);
    test_run("batchnorm2d/single_value_training", single_value_training);
    test_run("batchnorm2d/errors", errors);
    test_main_end();
    return test_finish();
}
