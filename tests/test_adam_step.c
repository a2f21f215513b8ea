/* adam_step: several steps against a double reference of torch.optim.Adam
 * and torch.optim.AdamW, bias correction from a given step count, edge
 * betas, and the error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled;
} adam_settings;

/* One step of torch.optim.Adam (decoupled == 0) or AdamW in double. */
static void adam_ref(double *param, double *m, double *v, const float *grad,
                     size_t n, adam_settings s, int64_t step)
{
    double bias1 = 1 - pow(s.beta1, (double)step);
    double bias2 = 1 - pow(s.beta2, (double)step);
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        if (s.decoupled)
            param[i] *= 1 - (double)s.lr * s.weight_decay;
        else
            g += (double)s.weight_decay * param[i];
        m[i] = s.beta1 * m[i] + (1 - (double)s.beta1) * g;
        v[i] = s.beta2 * v[i] + (1 - (double)s.beta2) * g * g;
        param[i] -= s.lr / bias1 * m[i] / (sqrt(v[i]) / sqrt(bias2) + s.eps);
    }
}

/* Runs steps first_step .. first_step + steps - 1 on `n` parameters with a
 * fresh gradient each, comparing param, m and v after each. Returns the
 * final parameters (free() them). */
static float *check_steps(size_t n, int64_t first_step, int steps,
                          adam_settings s)
{
    float *p0 = malloc(n * sizeof *p0), *grad = malloc(n * sizeof *grad);
    test_fill_uniform(p0, n, -1.0f, 1.0f, 1);
    rlkd_tensor *param = t_from(p0, (int64_t)n, 0, 0, 0);
    rlkd_tensor *m = t_new((int64_t)n, 0, 0, 0);
    rlkd_tensor *v = t_new((int64_t)n, 0, 0, 0);
    rlkd_tensor *tgrad = t_new((int64_t)n, 0, 0, 0);
    double *want_p = test_to_double(p0, n);
    double *want_m = calloc(n, sizeof *want_m);
    double *want_v = calloc(n, sizeof *want_v);
    for (int64_t step = first_step; step < first_step + steps; step++) {
        test_fill_uniform(grad, n, -1.0f, 1.0f, 200 + (uint64_t)step);
        CHECK_OK(rlkd_tensor_write(tgrad, grad, n));
        CHECK_OK(rlkd_adam_step(test_ctx, param, m, v, tgrad, s.lr, s.beta1,
                                s.beta2, s.eps, s.weight_decay, s.decoupled,
                                step));
        adam_ref(want_p, want_m, want_v, grad, n, s, step);
        float *got_p = t_get(param), *got_m = t_get(m), *got_v = t_get(v);
        /* Float roundings in each step, accumulated over the steps. */
        CHECK_MSG(test_close("adam param", got_p, want_p, n, 1e-6, 1e-5),
                  "step %lld (weight_decay %g, decoupled %d)",
                  (long long)step, (double)s.weight_decay, s.decoupled);
        CHECK_MSG(test_close("adam m", got_m, want_m, n, 1e-7, 1e-5),
                  "step %lld", (long long)step);
        CHECK_MSG(test_close("adam v", got_v, want_v, n, 1e-7, 1e-5),
                  "step %lld", (long long)step);
        free(got_p); free(got_m); free(got_v);
    }
    float *final = t_get(param);
    free(p0); free(grad); free(want_p); free(want_m); free(want_v);
    rlkd_tensor_destroy(param); rlkd_tensor_destroy(m);
    rlkd_tensor_destroy(v); rlkd_tensor_destroy(tgrad);
    return final;
}

/* check_steps without the final parameters. */
static void run_steps(size_t n, int64_t first_step, int steps, adam_settings s)
{
    free(check_steps(n, first_step, steps, s));
}

/* torch's defaults but for lr; tests vary one field at a time. */
static adam_settings defaults(void)
{
    return (adam_settings){1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
}

static void adam(void)
{
    adam_settings s = defaults();
    run_steps(37, 1, 6, s);
    s.lr = 1e-3f;
    run_steps(1, 1, 6, s);
    run_steps(13, 1, 6, (adam_settings){0.1f, 0.5f, 0.9f, 1e-3f, 0.0f, 0});
}

static void adam_weight_decay(void)
{
    adam_settings s = defaults();
    s.weight_decay = 0.1f;
    run_steps(37, 1, 6, s);
}

static void adamw(void)
{
    adam_settings s = defaults();
    s.weight_decay = 0.1f;
    s.decoupled = 1;
    run_steps(37, 1, 6, s);
    run_steps(3, 1, 6, (adam_settings){1e-3f, 0.9f, 0.99f, 1e-6f, 1e-2f, 1});
}

/* With weight decay, coupled and decoupled decay give different results;
 * without it they agree exactly. */
static void adam_vs_adamw(void)
{
    adam_settings s = defaults();
    s.lr = 0.1f;
    s.weight_decay = 0.5f;
    float *coupled = check_steps(8, 1, 3, s);
    s.decoupled = 1;
    float *decoupled = check_steps(8, 1, 3, s);
    int differ = 0;
    for (int i = 0; i < 8; i++)
        differ += fabsf(coupled[i] - decoupled[i]) > 1e-4f;
    CHECK_MSG(differ == 8, "Adam and AdamW agree on %d of 8 parameters",
              8 - differ);
    free(coupled); free(decoupled);

    s.weight_decay = 0;
    s.decoupled = 0;
    coupled = check_steps(8, 1, 3, s);
    s.decoupled = 1;
    decoupled = check_steps(8, 1, 3, s);
    int same = 0;
    for (int i = 0; i < 8; i++)
        same += coupled[i] == decoupled[i];
    CHECK_MSG(same == 8, "without weight decay Adam and AdamW differ");
    free(coupled); free(decoupled);
}

/* A late step count: the bias corrections are nearly 1 (step 1000) or
 * large (a resumed step 3 with fresh moments). */
static void given_step(void)
{
    adam_settings s = defaults();
    run_steps(37, 1000, 3, s);
    s.decoupled = 1;
    run_steps(37, 3, 3, s);
}

static void edge_betas(void)
{
    /* beta 0: no averaging and no bias correction (sign-like steps). */
    adam_settings s = defaults();
    s.beta1 = 0.0f;
    run_steps(37, 1, 4, s);
    s.beta2 = 0.0f;
    run_steps(37, 1, 4, s);
    /* lr 0: AdamW's decay vanishes too; only the moments move. */
    s = defaults();
    s.lr = 0.0f;
    s.weight_decay = 0.1f;
    s.decoupled = 1;
    run_steps(37, 1, 4, s);
}

static void large_parallel(void)
{
    adam_settings s = defaults();
    s.weight_decay = 1e-2f;
    s.decoupled = 1;
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    run_steps(70000, 1, 3, s);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
}

static void errors(void)
{
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    rlkd_tensor *p = t_from(ones, 2, 3, 0, 0), *g = t_from(ones, 2, 3, 0, 0);
    rlkd_tensor *m = t_new(2, 3, 0, 0), *v = t_new(2, 3, 0, 0);
    rlkd_tensor *bad = t_new(3, 2, 0, 0);
    int32_t labels[6] = {0};
    rlkd_tensor *ints = t_labels(labels, 6);
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    rlkd_context *c = test_ctx;

    CHECK_FAILS(rlkd_adam_step(NULL, p, m, v, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_adam_step(c, NULL, m, v, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "param is NULL");
    CHECK_FAILS(rlkd_adam_step(c, p, NULL, v, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "m is NULL");
    CHECK_FAILS(rlkd_adam_step(c, p, m, NULL, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "v is NULL");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, NULL, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "grad is NULL");
    CHECK_FAILS(rlkd_adam_step(c, p, m, ints, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "v is int32");
    CHECK_FAILS(rlkd_adam_step(c, p, bad, v, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_SHAPE, "m has shape [3,2]");
    CHECK_FAILS(rlkd_adam_step(c, p, m, bad, g, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_SHAPE, "v has shape [3,2]");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, bad, lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_SHAPE, "grad has shape [3,2]");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, -lr, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "lr must be finite and >= 0");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, INFINITY, b1, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "lr must be finite");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, 1.0f, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "beta1 must be in [0,1), got 1");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, -0.1f, b2, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "beta1 must be in [0,1), got -0.1");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, 1.0f, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "beta2 must be in [0,1), got 1");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, NAN, eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "beta2");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, 0.0f, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "eps must be finite and > 0, got 0");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, INFINITY, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "got inf");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, -eps, 0, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "eps");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, eps, -0.01f, 1, 1),
                RLKD_ERR_INVALID_ARGUMENT, "weight_decay must be finite");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, eps, NAN, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "weight_decay");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, eps, 0, 0, 0),
                RLKD_ERR_INVALID_ARGUMENT, "step must be >= 1, got 0");
    CHECK_FAILS(rlkd_adam_step(c, p, m, v, g, lr, b1, b2, eps, 0, 0, -5),
                RLKD_ERR_INVALID_ARGUMENT, "step");

    /* Nothing was updated by the failed calls. */
    float *got_p = t_get(p), *got_m = t_get(m), *got_v = t_get(v);
    double want_p[6] = {1, 1, 1, 1, 1, 1}, zeros[6] = {0};
    test_close("param after failures", got_p, want_p, 6, 0, 0);
    test_close("m after failures", got_m, zeros, 6, 0, 0);
    test_close("v after failures", got_v, zeros, 6, 0, 0);
    free(got_p); free(got_m); free(got_v);
    rlkd_tensor_destroy(p); rlkd_tensor_destroy(g);
    rlkd_tensor_destroy(m); rlkd_tensor_destroy(v);
    rlkd_tensor_destroy(bad); rlkd_tensor_destroy(ints);
}

int main(void)
{
    test_main_begin();
    test_run("adam_step/adam", adam);
    test_run("adam_step/adam_weight_decay", adam_weight_decay);
    test_run("adam_step/adamw", adamw);
    test_run("adam_step/adam_vs_adamw", adam_vs_adamw);
    test_run("adam_step/given_step", given_step);
    test_run("adam_step/edge_betas", edge_betas);
    test_run("adam_step/large_parallel", large_parallel);
    test_run("adam_step/errors", errors);
    test_main_end();
    return test_finish();
}
