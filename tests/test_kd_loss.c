/* kd_loss: loss against a double reference for alpha 0, 0.5, 1 and T 1, 4,
 * gradient by finite differences, forward-with-grad against backward, dloss
 * scaling, alpha = 0 against cross-entropy, optional labels, large and -inf
 * logits, thread-count independence, error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

/* log sum_j exp(row[j] / T), stable. */
static double log_sum_exp(const double *row, int k, double T)
{
    double max = row[0] / T, sum = 0;
    for (int j = 1; j < k; j++)
        max = fmax(max, row[j] / T);
    for (int j = 0; j < k; j++)
        sum += exp(row[j] / T - max);
    return max + log(sum);
}

/* Mean over the batch of alpha T^2 KL(softmax(t/T) || softmax(s/T)) +
 * (1 - alpha) CE(s, y), in double; y may be NULL when alpha == 1. */
static double kd_ref(const double *s, const double *t, const int32_t *y,
                     int n, int k, double alpha, double T)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        const double *si = s + (size_t)i * k, *ti = t + (size_t)i * k;
        double lse_s = log_sum_exp(si, k, T), lse_t = log_sum_exp(ti, k, T);
        double kl = 0;
        for (int j = 0; j < k; j++) {
            double log_pt = ti[j] / T - lse_t, pt = exp(log_pt);
            if (pt > 0)
                kl += pt * (log_pt - (si[j] / T - lse_s));
        }
        double ce = y ? -(si[y[i]] - log_sum_exp(si, k, 1)) : 0;
        total += alpha * T * T * kl + (1 - alpha) * ce;
    }
    return total / n;
}

typedef struct {
    double *s;
    const double *t;
    const int32_t *y;
    int n, k;
    double alpha, T;
} kd_problem;

static double kd_problem_loss(void *p)
{
    kd_problem *c = p;
    return kd_ref(c->s, c->t, c->y, c->n, c->k, c->alpha, c->T);
}

static float read_scalar(const rlkd_tensor *t)
{
    float *data = t_get(t), value = data[0];
    free(data);
    return value;
}

/* Forward with gradient and backward against the reference; labels may be
 * NULL (alpha == 1). */
static void check_case(const float *s, const float *t, const int32_t *y,
                       int n, int k, float alpha, float T)
{
    size_t count = (size_t)n * k;
    rlkd_tensor *student = t_from(s, n, k, 0, 0);
    rlkd_tensor *teacher = t_from(t, n, k, 0, 0);
    rlkd_tensor *labels = y ? t_labels(y, n) : NULL;
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dstudent = t_new(n, k, 0, 0);
    rlkd_tensor *dback = t_new(n, k, 0, 0);

    CHECK_OK(rlkd_kd_loss_forward(test_ctx, loss, dstudent, student, teacher,
                                  labels, alpha, T));
    double *td = test_to_double(t, count);
    kd_problem problem = {test_to_double(s, count), td, y, n, k, alpha, T};
    double want_loss = kd_problem_loss(&problem);
    float got_loss = read_scalar(loss);
    CHECK_MSG(isfinite(got_loss), "alpha %g T %g: loss %g is not finite",
              (double)alpha, (double)T, (double)got_loss);
    test_close("loss", &got_loss, &want_loss, 1, 1e-6, 1e-6);

    double *want_grad = malloc(count * sizeof *want_grad);
    test_fd_gradient(kd_problem_loss, &problem, problem.s, count, 1e-5,
                     want_grad);
    float *grad = t_get(dstudent);
    test_close("dstudent vs finite differences", grad, want_grad, count, 1e-7,
               1e-5);

    CHECK_OK(rlkd_kd_loss_backward(test_ctx, dback, student, teacher, labels,
                                   alpha, T, 1.0f));
    float *back = t_get(dback);
    double *exact = test_to_double(grad, count);
    test_close("backward(dloss=1) vs forward's gradient", back, exact, count,
               0, 0);

    const double dloss = 0.75;
    CHECK_OK(rlkd_kd_loss_backward(test_ctx, dback, student, teacher, labels,
                                   alpha, T, (float)dloss));
    float *scaled = t_get(dback);
    for (size_t i = 0; i < count; i++)
        exact[i] = dloss * grad[i];
    test_close("backward scales by dloss", scaled, exact, count, 1e-9, 1e-6);

    free(td); free(problem.s); free(want_grad); free(grad); free(back);
    free(exact); free(scaled);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(labels); rlkd_tensor_destroy(loss);
    rlkd_tensor_destroy(dstudent); rlkd_tensor_destroy(dback);
}

static void random_case(int n, int k, float alpha, float T, uint64_t seed)
{
    size_t count = (size_t)n * k;
    float *s = malloc(count * sizeof *s), *t = malloc(count * sizeof *t);
    int32_t *y = malloc((size_t)n * sizeof *y);
    test_fill_uniform(s, count, -4.0f, 4.0f, seed);
    test_fill_uniform(t, count, -4.0f, 4.0f, seed + 100);
    for (int i = 0; i < n; i++)
        y[i] = (int32_t)((i * 3 + 1) % k);
    check_case(s, t, y, n, k, alpha, T);
    free(s); free(t); free(y);
}

static void values_and_gradients(void)
{
    const float alphas[3] = {0.0f, 0.5f, 1.0f}, temperatures[2] = {1, 4};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++) {
            random_case(5, 7, alphas[a], temperatures[b], 1);
            random_case(1, 7, alphas[a], temperatures[b], 2);
            random_case(4, 1, alphas[a], temperatures[b], 3);
        }
}

/* alpha = 0: the teacher plays no part and kd_loss is cross-entropy. */
static void alpha_zero_is_cross_entropy(void)
{
    enum { N = 5, K = 7 };
    float s[N * K], t[N * K];
    const int32_t y[N] = {6, 0, 3, 3, 1};
    test_fill_uniform(s, N * K, -5.0f, 5.0f, 11);
    test_fill_uniform(t, N * K, -5.0f, 5.0f, 12);
    rlkd_tensor *student = t_from(s, N, K, 0, 0), *teacher = t_from(t, N, K, 0, 0);
    rlkd_tensor *labels = t_labels(y, N);
    rlkd_tensor *kd = t_new(1, 0, 0, 0), *ce = t_new(1, 0, 0, 0);
    rlkd_tensor *dkd = t_new(N, K, 0, 0), *dce = t_new(N, K, 0, 0);
    CHECK_OK(rlkd_kd_loss_forward(test_ctx, kd, dkd, student, teacher, labels,
                                  0.0f, 4.0f));
    CHECK_OK(rlkd_softmax_cross_entropy_forward(test_ctx, ce, dce, student,
                                                labels, 0.0f));
    float kd_value = read_scalar(kd);
    double ce_value = read_scalar(ce);
    test_close("kd(alpha=0) vs cross-entropy", &kd_value, &ce_value, 1, 0,
               1e-7);
    float *kd_grad = t_get(dkd), *ce_grad = t_get(dce);
    double *want = test_to_double(ce_grad, N * K);
    test_close("kd(alpha=0) gradient vs cross-entropy's", kd_grad, want,
               N * K, 1e-9, 1e-7);
    free(kd_grad); free(ce_grad); free(want);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(labels); rlkd_tensor_destroy(kd);
    rlkd_tensor_destroy(ce); rlkd_tensor_destroy(dkd); rlkd_tensor_destroy(dce);
}

/* alpha = 1 needs no labels; a student equal to the teacher then has loss
 * and gradient 0. */
static void pure_distillation(void)
{
    enum { N = 3, K = 5 };
    float s[N * K], t[N * K];
    test_fill_uniform(s, N * K, -3.0f, 3.0f, 21);
    test_fill_uniform(t, N * K, -3.0f, 3.0f, 22);
    check_case(s, t, NULL, N, K, 1.0f, 4.0f);

    rlkd_tensor *student = t_from(s, N, K, 0, 0);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dstudent = t_new(N, K, 0, 0);
    CHECK_OK(rlkd_kd_loss_forward(test_ctx, loss, dstudent, student, student,
                                  NULL, 1.0f, 2.0f));
    float value = read_scalar(loss);
    double zero[N * K] = {0};
    test_close("loss of student == teacher", &value, zero, 1, 1e-7, 0);
    float *grad = t_get(dstudent);
    test_close("gradient of student == teacher", grad, zero, N * K, 1e-9, 0);
    free(grad);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(loss);
    rlkd_tensor_destroy(dstudent);
}

/* exp(80) overflows float and exp(1000) double: a naive softmax gives
 * inf/inf. A -inf teacher logit has p_t = 0, whose p_t log p_t term must
 * count as 0, not NaN. */
static void large_logits(void)
{
    const float s[12] = {80, -80, 0, 1, -80, 80, 79.5f, -80,
                         1000, -1000, 0, 999};
    const float t[12] = {-80, 80, 3, 0, 80, -80, -INFINITY, 2,
                         -1000, 1000, 998, 0};
    const int32_t y[3] = {1, 0, 1};
    const float temperatures[2] = {1, 4};
    for (int b = 0; b < 2; b++) {
        check_case(s, t, y, 3, 4, 0.5f, temperatures[b]);
        check_case(s, t, NULL, 3, 4, 1.0f, temperatures[b]);
    }
}

/* One class: both distributions are 1, so everything is 0. */
static void one_class(void)
{
    const float s[1] = {3.0f}, t[1] = {-2.0f};
    const int32_t y[1] = {0};
    rlkd_tensor *student = t_from(s, 1, 1, 0, 0), *teacher = t_from(t, 1, 1, 0, 0);
    rlkd_tensor *labels = t_labels(y, 1);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dstudent = t_new(1, 1, 0, 0);
    CHECK_OK(rlkd_kd_loss_forward(test_ctx, loss, dstudent, student, teacher,
                                  labels, 0.5f, 4.0f));
    CHECK(read_scalar(loss) == 0.0f);
    CHECK(read_scalar(dstudent) == 0.0f);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(labels); rlkd_tensor_destroy(loss);
    rlkd_tensor_destroy(dstudent);
}

/* Rows are shared among threads, but the loss must not depend on how. */
static void thread_count_independent(void)
{
    enum { N = 257, K = 100 };
    float *s = malloc(N * K * sizeof *s), *t = malloc(N * K * sizeof *t);
    int32_t y[N];
    test_fill_uniform(s, N * K, -6.0f, 6.0f, 31);
    test_fill_uniform(t, N * K, -6.0f, 6.0f, 32);
    for (int i = 0; i < N; i++)
        y[i] = (int32_t)(i * 13 % K);
    rlkd_tensor *student = t_from(s, N, K, 0, 0), *teacher = t_from(t, N, K, 0, 0);
    rlkd_tensor *labels = t_labels(y, N), *loss = t_new(1, 0, 0, 0);
    int saved_threads;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &saved_threads));

    float got[2];
    const int threads[2] = {1, 4};
    for (int r = 0; r < 2; r++) {
        CHECK_OK(rlkd_context_set_num_threads(test_ctx, threads[r]));
        CHECK_OK(rlkd_kd_loss_forward(test_ctx, loss, NULL, student, teacher,
                                      labels, 0.7f, 3.0f));
        got[r] = read_scalar(loss);
    }
    CHECK_MSG(got[0] == got[1], "1 thread: %.9g, 4 threads: %.9g",
              (double)got[0], (double)got[1]);
    double *sd = test_to_double(s, N * K), *td = test_to_double(t, N * K);
    double want = kd_ref(sd, td, y, N, K, 0.7, 3.0);
    test_close("loss on 4 threads", &got[1], &want, 1, 1e-6, 1e-6);

    CHECK_OK(rlkd_context_set_num_threads(test_ctx, saved_threads));
    free(s); free(t); free(sd); free(td);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(labels); rlkd_tensor_destroy(loss);
}

static void errors(void)
{
    const float zeros[21] = {0};
    const int32_t good[3] = {0, 1, 6}, too_big[3] = {0, 7, 1};
    const int32_t negative[3] = {0, 1, -3}, two[2] = {0, 1};
    rlkd_tensor *s = t_from(zeros, 3, 7, 0, 0), *t = t_from(zeros, 3, 7, 0, 0);
    rlkd_tensor *y = t_labels(good, 3), *y2 = t_labels(two, 2);
    rlkd_tensor *big = t_labels(too_big, 3), *neg = t_labels(negative, 3);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *loss2 = t_new(1, 2, 0, 0);
    rlkd_tensor *ds = t_new(3, 7, 0, 0), *wide = t_new(3, 8, 0, 0);

    CHECK_FAILS(rlkd_kd_loss_forward(NULL, loss, ds, s, t, y, 0.5f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, NULL, ds, s, t, y, 0.5f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "loss is NULL");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, NULL, t, y, 0.5f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "student is NULL");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, NULL, y, 0.5f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "teacher is NULL");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss2, ds, s, t, y, 0.5f, 4),
                RLKD_ERR_SHAPE, "loss must have 1 element");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, wide, y, 0.5f, 4),
                RLKD_ERR_SHAPE, "teacher has shape [3,8]");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, wide, s, t, y, 0.5f, 4),
                RLKD_ERR_SHAPE, "dstudent");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y2, 0.5f, 4),
                RLKD_ERR_SHAPE, "labels has shape [2]");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, NULL, 0.5f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "labels is NULL but alpha is 0.5");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, -0.1f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "alpha must be in [0,1]");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, 1.1f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "alpha must be in [0,1]");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, NAN, 4),
                RLKD_ERR_INVALID_ARGUMENT, "alpha");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, 0.5f, 0),
                RLKD_ERR_INVALID_ARGUMENT, "temperature");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, 0.5f, -1),
                RLKD_ERR_INVALID_ARGUMENT, "temperature");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, 0.5f,
                                     INFINITY),
                RLKD_ERR_INVALID_ARGUMENT, "temperature");
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, y, 0.5f, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "temperature");
    CHECK_FAILS(rlkd_kd_loss_backward(test_ctx, NULL, s, t, y, 0.5f, 4, 1),
                RLKD_ERR_INVALID_ARGUMENT, "dstudent is NULL");
    CHECK_FAILS(rlkd_kd_loss_backward(test_ctx, ds, s, t, y, 0.5f, 4, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "dloss");
    CHECK_FAILS(rlkd_kd_loss_backward(test_ctx, ds, s, wide, y, 0.5f, 4, 1),
                RLKD_ERR_SHAPE, "teacher");

    /* Labels out of range are found by the backend before it writes. */
    const float sentinel = -9.0f;
    CHECK_OK(rlkd_tensor_fill(loss, sentinel));
    CHECK_OK(rlkd_tensor_fill(ds, sentinel));
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, loss, ds, s, t, big, 0.5f, 4),
                RLKD_ERR_INVALID_ARGUMENT, "labels[1] = 7");
    CHECK_FAILS(rlkd_kd_loss_backward(test_ctx, ds, s, t, neg, 0.0f, 4, 1),
                RLKD_ERR_INVALID_ARGUMENT, "labels[2] = -3");
    CHECK(read_scalar(loss) == sentinel);
    float *grad = t_get(ds);
    int untouched = 1;
    for (int i = 0; i < 21; i++)
        untouched &= grad[i] == sentinel;
    CHECK_MSG(untouched, "a failed call wrote dstudent");
    free(grad);

    rlkd_tensor_destroy(s); rlkd_tensor_destroy(t); rlkd_tensor_destroy(y);
    rlkd_tensor_destroy(y2); rlkd_tensor_destroy(big); rlkd_tensor_destroy(neg);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(loss2);
    rlkd_tensor_destroy(ds); rlkd_tensor_destroy(wide);
}

int main(void)
{
    test_main_begin();
    test_run("kd_loss/values_and_gradients", values_and_gradients);
    test_run("kd_loss/alpha_zero_is_cross_entropy",
             alpha_zero_is_cross_entropy);
    test_run("kd_loss/pure_distillation", pure_distillation);
    test_run("kd_loss/large_logits", large_logits);
    test_run("kd_loss/one_class", one_class);
    test_run("kd_loss/thread_count_independent", thread_count_independent);
    test_run("kd_loss/errors", errors);
    test_main_end();
    return test_finish();
}
