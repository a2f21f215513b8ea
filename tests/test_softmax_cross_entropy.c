/* softmax cross-entropy: loss against a double reference (label smoothing 0
 * and 0.1, large logits), gradient by finite differences, forward-with-grad
 * against backward, dloss scaling, thread-count independence, error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

/* Mean over the batch of -sum_j q_j log softmax(z)_j with
 * q = (1 - eps) onehot(y) + eps / K, in double. */
static double ce_ref(const double *z, const int32_t *y, int n, int k,
                     double eps)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        const double *row = z + (size_t)i * k;
        double max = row[0], sum = 0;
        for (int j = 1; j < k; j++)
            max = fmax(max, row[j]);
        for (int j = 0; j < k; j++)
            sum += exp(row[j] - max);
        double log_sum = max + log(sum);
        for (int j = 0; j < k; j++) {
            double q = eps / k + (j == y[i] ? 1 - eps : 0);
            total -= q * (row[j] - log_sum);
        }
    }
    return total / n;
}

typedef struct {
    double *z;
    const int32_t *y;
    int n, k;
    double eps;
} ce_problem;

static double ce_problem_loss(void *p)
{
    ce_problem *c = p;
    return ce_ref(c->z, c->y, c->n, c->k, c->eps);
}

static float read_scalar(const rlkd_tensor *t)
{
    float *data = t_get(t), value = data[0];
    free(data);
    return value;
}

/* Runs forward (with gradient) and backward on logits z [n,k] and checks
 * them against the reference. */
static void check_case(const float *z, const int32_t *y, int n, int k,
                       float eps)
{
    size_t count = (size_t)n * k;
    rlkd_tensor *logits = t_from(z, n, k, 0, 0), *labels = t_labels(y, n);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dlogits = t_new(n, k, 0, 0);
    rlkd_tensor *dback = t_new(n, k, 0, 0);

    CHECK_OK(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                logits, labels, eps));
    ce_problem problem = {test_to_double(z, count), y, n, k, eps};
    double want_loss = ce_problem_loss(&problem);
    float got_loss = read_scalar(loss);
    CHECK_MSG(isfinite(got_loss), "loss %g is not finite", (double)got_loss);
    test_close("loss", &got_loss, &want_loss, 1, 1e-6, 1e-6);

    double *want_grad = malloc(count * sizeof *want_grad);
    test_fd_gradient(ce_problem_loss, &problem, problem.z, count, 1e-5,
                     want_grad);
    float *grad = t_get(dlogits);
    test_close("dlogits vs finite differences", grad, want_grad, count, 1e-7,
               1e-5);

    CHECK_OK(rlkd_softmax_cross_entropy_backward(test_ctx, dback, logits,
                                                 labels, eps, 1.0f));
    float *back = t_get(dback);
    double *exact = test_to_double(grad, count);
    test_close("backward(dloss=1) vs forward's gradient", back, exact, count,
               0, 0);

    const double dloss = -2.5;
    CHECK_OK(rlkd_softmax_cross_entropy_backward(test_ctx, dback, logits,
                                                 labels, eps, (float)dloss));
    float *scaled = t_get(dback);
    for (size_t i = 0; i < count; i++)
        exact[i] = dloss * grad[i];
    test_close("backward scales by dloss", scaled, exact, count, 1e-9, 1e-6);

    free(problem.z); free(want_grad); free(grad); free(back); free(exact);
    free(scaled);
    rlkd_tensor_destroy(logits); rlkd_tensor_destroy(labels);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(dlogits);
    rlkd_tensor_destroy(dback);
}

static void random_case(int n, int k, float eps, uint64_t seed)
{
    size_t count = (size_t)n * k;
    float *z = malloc(count * sizeof *z);
    int32_t *y = malloc((size_t)n * sizeof *y);
    test_fill_uniform(z, count, -4.0f, 4.0f, seed);
    for (int i = 0; i < n; i++)
        y[i] = (int32_t)((i * 5 + 3) % k);
    check_case(z, y, n, k, eps);
    free(z);
    free(y);
}

static void values_and_gradients(void)
{
    const float smoothing[2] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        random_case(5, 7, smoothing[e], 1);
        random_case(1, 7, smoothing[e], 2);
        random_case(3, 2, smoothing[e], 3);
        random_case(5, 1, smoothing[e], 4);
    }
}

/* One class: softmax is 1 and the target is 1, so loss and gradient are 0. */
static void one_class(void)
{
    const float z[3] = {-3.0f, 0.5f, 80.0f};
    const int32_t y[3] = {0, 0, 0};
    rlkd_tensor *logits = t_from(z, 3, 1, 0, 0), *labels = t_labels(y, 3);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dlogits = t_new(3, 1, 0, 0);
    CHECK_OK(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                logits, labels, 0.1f));
    CHECK(read_scalar(loss) == 0.0f);
    float *grad = t_get(dlogits);
    CHECK(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 0.0f);
    free(grad);
    rlkd_tensor_destroy(logits); rlkd_tensor_destroy(labels);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(dlogits);
}

/* exp(80) overflows float and exp(1000) double: a naive softmax gives
 * inf/inf. Some rows put the label far below the maximum. */
static void large_logits(void)
{
    const float z[20] = {80,   -80,  0, 1,     80, -80,  0,      1,
                         -80,  80,   79.5f, -80,
                         1000, -1000, 0, 999,  -1000, 1000, 0, 2};
    const int32_t y[5] = {0, 1, 0, 3, 0};
    check_case(z, y, 5, 4, 0.0f);
    check_case(z, y, 5, 4, 0.1f);
}

/* A -inf (masked) logit off the label: its target is 0 without smoothing,
 * and 0 * log 0 counts as 0, so the loss stays finite and its gradient
 * is 0. */
static void masked_logit(void)
{
    const float z[3] = {2.0f, -INFINITY, 0.5f};
    const int32_t y[1] = {0};
    rlkd_tensor *logits = t_from(z, 1, 3, 0, 0), *labels = t_labels(y, 1);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dlogits = t_new(1, 3, 0, 0);
    CHECK_OK(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                logits, labels, 0.0f));
    float value = read_scalar(loss);
    double want = log(exp(2.0) + exp(0.5)) - 2.0;
    test_close("loss with a masked logit", &value, &want, 1, 1e-7, 1e-6);
    float *grad = t_get(dlogits);
    double p0 = exp(2.0) / (exp(2.0) + exp(0.5));
    double want_grad[3] = {p0 - 1, 0, 1 - p0};
    test_close("gradient with a masked logit", grad, want_grad, 3, 1e-7,
               1e-6);
    free(grad);
    rlkd_tensor_destroy(logits); rlkd_tensor_destroy(labels);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(dlogits);
}

/* Rows are shared among threads, but the loss must not depend on how. */
static void thread_count_independent(void)
{
    enum { N = 300, K = 100 };
    float *z = malloc(N * K * sizeof *z);
    int32_t y[N];
    test_fill_uniform(z, N * K, -6.0f, 6.0f, 9);
    for (int i = 0; i < N; i++)
        y[i] = (int32_t)(i * 37 % K);
    rlkd_tensor *logits = t_from(z, N, K, 0, 0), *labels = t_labels(y, N);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dlogits = t_new(N, K, 0, 0);
    int saved_threads;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &saved_threads));

    float got[2];
    const int threads[2] = {1, 3};
    for (int r = 0; r < 2; r++) {
        CHECK_OK(rlkd_context_set_num_threads(test_ctx, threads[r]));
        CHECK_OK(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                    logits, labels, 0.1f));
        got[r] = read_scalar(loss);
    }
    CHECK_MSG(got[0] == got[1], "1 thread: %.9g, 3 threads: %.9g",
              (double)got[0], (double)got[1]);
    double *zd = test_to_double(z, N * K);
    double want = ce_ref(zd, y, N, K, 0.1);
    test_close("loss on 3 threads", &got[1], &want, 1, 1e-6, 1e-6);

    CHECK_OK(rlkd_context_set_num_threads(test_ctx, saved_threads));
    free(z); free(zd);
    rlkd_tensor_destroy(logits); rlkd_tensor_destroy(labels);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(dlogits);
}

static void errors(void)
{
    const float z[14] = {0};
    const int32_t good[2] = {0, 6}, too_big[2] = {0, 7}, negative[2] = {-1, 0};
    const int32_t three[3] = {0, 1, 2};
    rlkd_tensor *logits = t_from(z, 2, 7, 0, 0), *labels = t_labels(good, 2);
    rlkd_tensor *labels3 = t_labels(three, 3);
    rlkd_tensor *big = t_labels(too_big, 2), *neg = t_labels(negative, 2);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *loss2 = t_new(2, 0, 0, 0);
    rlkd_tensor *dlogits = t_new(2, 7, 0, 0), *wrong = t_new(7, 2, 0, 0);
    rlkd_tensor *flat = t_new(14, 0, 0, 0), *float_labels = t_new(2, 0, 0, 0);

    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(NULL, loss, dlogits, logits,
                                                   labels, 0),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, NULL, dlogits,
                                                   logits, labels, 0),
                RLKD_ERR_INVALID_ARGUMENT, "loss is NULL");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                   NULL, labels, 0),
                RLKD_ERR_INVALID_ARGUMENT, "logits is NULL");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                   logits, NULL, 0),
                RLKD_ERR_INVALID_ARGUMENT, "labels is NULL");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                   logits, float_labels, 0),
                RLKD_ERR_INVALID_ARGUMENT, "labels is float32");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss2, dlogits,
                                                   logits, labels, 0),
                RLKD_ERR_SHAPE, "loss must have 1 element");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                   logits, labels3, 0),
                RLKD_ERR_SHAPE, "labels has shape [3]");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                   flat, labels, 0),
                RLKD_ERR_SHAPE, "logits must be 2-D");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, wrong,
                                                   logits, labels, 0),
                RLKD_ERR_SHAPE, "dlogits");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, NULL,
                                                   logits, labels, -0.1f),
                RLKD_ERR_INVALID_ARGUMENT, "label_smoothing");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, NULL,
                                                   logits, labels, 1.0f),
                RLKD_ERR_INVALID_ARGUMENT, "label_smoothing");
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, NULL,
                                                   logits, labels, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "label_smoothing");
    CHECK_FAILS(rlkd_softmax_cross_entropy_backward(test_ctx, NULL, logits,
                                                    labels, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "dlogits is NULL");
    CHECK_FAILS(rlkd_softmax_cross_entropy_backward(test_ctx, dlogits, logits,
                                                    labels, 0, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "dloss");
    CHECK_FAILS(rlkd_softmax_cross_entropy_backward(test_ctx, dlogits, logits,
                                                    labels, 1.5f, 1),
                RLKD_ERR_INVALID_ARGUMENT, "label_smoothing");

    /* Labels out of range are found by the backend before it writes. */
    const float sentinel = 42.0f;
    CHECK_OK(rlkd_tensor_fill(loss, sentinel));
    CHECK_OK(rlkd_tensor_fill(dlogits, sentinel));
    CHECK_FAILS(rlkd_softmax_cross_entropy_forward(test_ctx, loss, dlogits,
                                                   logits, big, 0),
                RLKD_ERR_INVALID_ARGUMENT, "labels[1] = 7");
    CHECK_FAILS(rlkd_softmax_cross_entropy_backward(test_ctx, dlogits, logits,
                                                    neg, 0, 1),
                RLKD_ERR_INVALID_ARGUMENT, "labels[0] = -1");
    CHECK(read_scalar(loss) == sentinel);
    float *grad = t_get(dlogits);
    int untouched = 1;
    for (int i = 0; i < 14; i++)
        untouched &= grad[i] == sentinel;
    CHECK_MSG(untouched, "a failed call wrote dlogits");
    free(grad);

    rlkd_tensor_destroy(logits); rlkd_tensor_destroy(labels);
    rlkd_tensor_destroy(labels3); rlkd_tensor_destroy(big);
    rlkd_tensor_destroy(neg); rlkd_tensor_destroy(loss);
    rlkd_tensor_destroy(loss2); rlkd_tensor_destroy(dlogits);
    rlkd_tensor_destroy(wrong); rlkd_tensor_destroy(flat);
    rlkd_tensor_destroy(float_labels);
}

int main(void)
{
    test_main_begin();
    test_run("softmax_cross_entropy/values_and_gradients",
             values_and_gradients);
    test_run("softmax_cross_entropy/one_class", one_class);
    test_run("softmax_cross_entropy/large_logits", large_logits);
    test_run("softmax_cross_entropy/masked_logit", masked_logit);
    test_run("softmax_cross_entropy/thread_count_independent",
             thread_count_independent);
    test_run("softmax_cross_entropy/errors", errors);
    test_main_end();
    return test_finish();
}
