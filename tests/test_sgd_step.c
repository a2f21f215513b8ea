/* sgd_step: several steps against a double reference of torch.optim.SGD
 * (dampening 0) with and without momentum, Nesterov and weight decay; the
 * buffer's role; and the error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float lr, momentum, weight_decay;
    int nesterov;
} sgd_settings;

/* One step of torch.optim.SGD in double precision. */
static void sgd_ref(double *param, double *buf, const float *grad, size_t n,
                    sgd_settings s)
{
    for (size_t i = 0; i < n; i++) {
        double g = grad[i] + (double)s.weight_decay * param[i];
        if (s.momentum > 0) {
            buf[i] = s.momentum * buf[i] + g;
            g = s.nesterov ? g + s.momentum * buf[i] : buf[i];
        }
        param[i] -= s.lr * g;
    }
}

/* Runs `steps` steps on `n` parameters with a fresh gradient each step and
 * compares param and the momentum buffer with the reference after each. */
static void check_steps(size_t n, int steps, sgd_settings s)
{
    float *p0 = malloc(n * sizeof *p0), *grad = malloc(n * sizeof *grad);
    test_fill_uniform(p0, n, -1.0f, 1.0f, 1);
    rlkd_tensor *param = t_from(p0, (int64_t)n, 0, 0, 0);
    rlkd_tensor *buf = t_new((int64_t)n, 0, 0, 0);
    rlkd_tensor *tgrad = t_new((int64_t)n, 0, 0, 0);
    double *want_p = test_to_double(p0, n);
    double *want_buf = calloc(n, sizeof *want_buf);
    for (int step = 1; step <= steps; step++) {
        test_fill_uniform(grad, n, -1.0f, 1.0f, 100 + (uint64_t)step);
        CHECK_OK(rlkd_tensor_write(tgrad, grad, n));
        CHECK_OK(rlkd_sgd_step(test_ctx, param, s.momentum > 0 ? buf : NULL,
                               tgrad, s.lr, s.momentum, s.weight_decay,
                               s.nesterov));
        sgd_ref(want_p, want_buf, grad, n, s);
        float *got_p = t_get(param), *got_buf = t_get(buf);
        /* A few float roundings per step, accumulated over the steps. */
        CHECK_MSG(test_close("sgd param", got_p, want_p, n, 1e-6, 1e-6),
                  "step %d (momentum %g, weight_decay %g, nesterov %d)", step,
                  (double)s.momentum, (double)s.weight_decay, s.nesterov);
        CHECK_MSG(test_close("sgd momentum_buf", got_buf, want_buf, n, 1e-6,
                             1e-6), "step %d", step);
        free(got_p);
        free(got_buf);
    }
    free(p0); free(grad); free(want_p); free(want_buf);
    rlkd_tensor_destroy(param); rlkd_tensor_destroy(buf);
    rlkd_tensor_destroy(tgrad);
}

static void plain(void)
{
    check_steps(37, 5, (sgd_settings){0.1f, 0.0f, 0.0f, 0});
    check_steps(1, 5, (sgd_settings){0.5f, 0.0f, 0.0f, 0});
}

static void momentum(void)
{
    check_steps(37, 6, (sgd_settings){0.1f, 0.9f, 0.0f, 0});
    check_steps(13, 6, (sgd_settings){0.05f, 0.5f, 0.0f, 0});
}

static void nesterov(void)
{
    check_steps(37, 6, (sgd_settings){0.1f, 0.9f, 0.0f, 1});
}

static void weight_decay(void)
{
    check_steps(37, 5, (sgd_settings){0.1f, 0.0f, 0.01f, 0});
    check_steps(37, 6, (sgd_settings){0.1f, 0.9f, 5e-4f, 0});
    check_steps(37, 6, (sgd_settings){0.1f, 0.9f, 0.1f, 1});
}

static void large_parallel(void)
{
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    check_steps(70000, 3, (sgd_settings){0.1f, 0.9f, 1e-3f, 1});
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
}

/* lr 0 leaves the parameter alone but still moves the buffer, and with
 * momentum 0 a given buffer is not used. */
static void buffer_use(void)
{
    const float p[3] = {1, -2, 3}, g[3] = {0.5f, 0.25f, -1};
    rlkd_tensor *param = t_from(p, 3, 0, 0, 0), *grad = t_from(g, 3, 0, 0, 0);
    rlkd_tensor *buf = t_new(3, 0, 0, 0);
    CHECK_OK(rlkd_sgd_step(test_ctx, param, buf, grad, 0.0f, 0.9f, 0.0f, 0));
    float *got = t_get(param), *got_buf = t_get(buf);
    CHECK(memcmp(got, p, sizeof p) == 0);
    CHECK(memcmp(got_buf, g, sizeof g) == 0); /* buf = 0.9 * 0 + g */
    free(got); free(got_buf);

    CHECK_OK(rlkd_tensor_fill(buf, 7.0f));
    CHECK_OK(rlkd_sgd_step(test_ctx, param, buf, grad, 1.0f, 0.0f, 0.0f, 0));
    got = t_get(param);
    got_buf = t_get(buf);
    CHECK(got[0] == 0.5f && got[1] == -2.25f && got[2] == 4.0f);
    CHECK(got_buf[0] == 7.0f && got_buf[1] == 7.0f && got_buf[2] == 7.0f);
    free(got); free(got_buf);
    rlkd_tensor_destroy(param); rlkd_tensor_destroy(grad);
    rlkd_tensor_destroy(buf);
}

static void errors(void)
{
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    rlkd_tensor *p = t_from(ones, 2, 3, 0, 0), *g = t_from(ones, 2, 3, 0, 0);
    rlkd_tensor *buf = t_new(2, 3, 0, 0), *bad = t_new(3, 2, 0, 0);
    int32_t labels[6] = {0};
    rlkd_tensor *ints = t_labels(labels, 6);
    rlkd_context *c = test_ctx;

    CHECK_FAILS(rlkd_sgd_step(NULL, p, buf, g, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_sgd_step(c, NULL, buf, g, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "param is NULL");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, NULL, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "grad is NULL");
    CHECK_FAILS(rlkd_sgd_step(c, p, ints, g, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "momentum_buf is int32");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, bad, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_SHAPE, "grad has shape [3,2]");
    CHECK_FAILS(rlkd_sgd_step(c, p, bad, g, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_SHAPE, "momentum_buf has shape [3,2]");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, -0.1f, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT,
                "lr must be finite and >= 0, got -0.1");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, NAN, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "lr must be finite");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, INFINITY, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "got inf");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, 0.1f, -0.5f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT,
                "momentum must be finite and >= 0, got -0.5");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, 0.1f, INFINITY, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "momentum must be finite");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, 0.1f, 0.9f, -1e-4f, 0),
                RLKD_ERR_INVALID_ARGUMENT, "weight_decay must be finite");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, 0.1f, 0.9f, NAN, 0),
                RLKD_ERR_INVALID_ARGUMENT, "weight_decay");
    CHECK_FAILS(rlkd_sgd_step(c, p, buf, g, 0.1f, 0.0f, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "nesterov needs momentum > 0");
    CHECK_FAILS(rlkd_sgd_step(c, p, NULL, g, 0.1f, 0.9f, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "momentum_buf is NULL");

    /* Nothing was updated by the failed calls. */
    float *got = t_get(p), *got_buf = t_get(buf);
    double want[6] = {1, 1, 1, 1, 1, 1}, zeros[6] = {0};
    test_close("param after failures", got, want, 6, 0, 0);
    test_close("momentum_buf after failures", got_buf, zeros, 6, 0, 0);
    free(got); free(got_buf);
    rlkd_tensor_destroy(p); rlkd_tensor_destroy(g);
    rlkd_tensor_destroy(buf); rlkd_tensor_destroy(bad);
    rlkd_tensor_destroy(ints);
}

int main(void)
{
    test_main_begin();
    test_run("sgd_step/plain", plain);
    test_run("sgd_step/momentum", momentum);
    test_run("sgd_step/nesterov", nesterov);
    test_run("sgd_step/weight_decay", weight_decay);
    test_run("sgd_step/large_parallel", large_parallel);
    test_run("sgd_step/buffer_use", buffer_use);
    test_run("sgd_step/errors", errors);
    test_main_end();
    return test_finish();
}
