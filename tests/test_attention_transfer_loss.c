/* attention_transfer_loss: loss against a double reference (Cs != Ct, odd
 * H and W, H*W = 1), gradient by finite differences, forward-with-grad
 * against backward, dloss scaling, an all-zero student sample (the eps
 * guard), equal maps, thread-count independence, error paths. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

/* a[p] = q[p] / max(||q||, 1e-12), q[p] = mean_c f[c,p]^2, one sample. */
static void attention_map(double *a, const double *f, int c, int hw)
{
    double norm = 0;
    for (int p = 0; p < hw; p++) {
        double q = 0;
        for (int ch = 0; ch < c; ch++)
            q += f[(size_t)ch * hw + p] * f[(size_t)ch * hw + p];
        a[p] = q / c;
        norm += a[p] * a[p];
    }
    norm = fmax(sqrt(norm), 1e-12);
    for (int p = 0; p < hw; p++)
        a[p] /= norm;
}

typedef struct {
    double *s;
    const double *t;
    int n, cs, ct, hw;
} at_problem;

/* Mean over N*H*W of (a(s) - a(t))^2, in double. */
static double at_ref(void *p)
{
    at_problem *c = p;
    double *as = malloc((size_t)c->hw * sizeof *as);
    double *at = malloc((size_t)c->hw * sizeof *at);
    double total = 0;
    for (int i = 0; i < c->n; i++) {
        attention_map(as, c->s + (size_t)i * c->cs * c->hw, c->cs, c->hw);
        attention_map(at, c->t + (size_t)i * c->ct * c->hw, c->ct, c->hw);
        for (int p = 0; p < c->hw; p++)
            total += (as[p] - at[p]) * (as[p] - at[p]);
    }
    free(as);
    free(at);
    return total / ((double)c->n * c->hw);
}

static float read_scalar(const rlkd_tensor *t)
{
    float *data = t_get(t), value = data[0];
    free(data);
    return value;
}

/* Forward with gradient and backward against the reference. The gradient
 * is compared with finite differences of step fd_step over the student
 * elements from fd_from on (the part where the loss is smooth). */
static void check_case(const float *s, const float *t, int n, int cs, int ct,
                       int h, int w, size_t fd_from, double fd_step)
{
    size_t s_count = (size_t)n * cs * h * w, t_count = (size_t)n * ct * h * w;
    rlkd_tensor *student = t_from(s, n, cs, h, w);
    rlkd_tensor *teacher = t_from(t, n, ct, h, w);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dstudent = t_new(n, cs, h, w);
    rlkd_tensor *dback = t_new(n, cs, h, w);

    CHECK_OK(rlkd_attention_transfer_loss_forward(test_ctx, loss, dstudent,
                                                  student, teacher));
    double *td = test_to_double(t, t_count);
    at_problem problem = {test_to_double(s, s_count), td, n, cs, ct, h * w};
    double want_loss = at_ref(&problem);
    float got_loss = read_scalar(loss);
    test_close("loss", &got_loss, &want_loss, 1, 1e-9, 1e-6);

    float *grad = t_get(dstudent);
    double *want_grad = malloc(s_count * sizeof *want_grad);
    test_fd_gradient(at_ref, &problem, problem.s + fd_from, s_count - fd_from,
                     fd_step, want_grad);
    test_close("dstudent vs finite differences", grad + fd_from, want_grad,
               s_count - fd_from, 1e-8, 1e-5);
    for (size_t i = 0; i < s_count; i++)
        CHECK_MSG(isfinite(grad[i]), "dstudent[%zu] = %g", i,
                  (double)grad[i]);

    CHECK_OK(rlkd_attention_transfer_loss_backward(test_ctx, dback, student,
                                                   teacher, 1.0f));
    float *back = t_get(dback);
    double *exact = test_to_double(grad, s_count);
    test_close("backward(dloss=1) vs forward's gradient", back, exact,
               s_count, 0, 0);

    const double dloss = 3.0;
    CHECK_OK(rlkd_attention_transfer_loss_backward(test_ctx, dback, student,
                                                   teacher, (float)dloss));
    float *scaled = t_get(dback);
    for (size_t i = 0; i < s_count; i++)
        exact[i] = dloss * grad[i];
    test_close("backward scales by dloss", scaled, exact, s_count, 1e-12,
               1e-6);

    free(td); free(problem.s); free(grad); free(want_grad); free(back);
    free(exact); free(scaled);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(dstudent);
    rlkd_tensor_destroy(dback);
}

static void random_case(int n, int cs, int ct, int h, int w, uint64_t seed)
{
    size_t s_count = (size_t)n * cs * h * w, t_count = (size_t)n * ct * h * w;
    float *s = malloc(s_count * sizeof *s), *t = malloc(t_count * sizeof *t);
    test_fill_uniform(s, s_count, -1.0f, 1.0f, seed);
    test_fill_uniform(t, t_count, -2.0f, 2.0f, seed + 50);
    check_case(s, t, n, cs, ct, h, w, 0, 1e-6);
    free(s);
    free(t);
}

static void values_and_gradients(void)
{
    random_case(2, 3, 5, 5, 3, 1);  /* Cs != Ct, odd H and W */
    random_case(1, 4, 4, 7, 7, 2);
    random_case(3, 6, 2, 2, 3, 3);
    random_case(1, 1, 1, 1, 5, 4);
    random_case(3, 4, 2, 1, 1, 5);  /* H*W = 1: every map is [1], loss 0 */
}

/* An all-zero student sample has ||q|| = 0: the eps guard gives it a zero
 * map (its loss is then sum a_t^2 = 1 per sample) and a zero gradient, with
 * no NaN; the other sample is unaffected. */
static void zero_student_sample(void)
{
    enum { N = 2, CS = 3, CT = 4, H = 3, W = 5 };
    const size_t sample = CS * H * W;
    float s[N * CS * H * W], t[N * CT * H * W];
    test_fill_uniform(s, N * sample, -1.0f, 1.0f, 7);
    test_fill_uniform(t, N * CT * H * W, -1.0f, 1.0f, 8);
    for (size_t i = 0; i < sample; i++)
        s[i] = 0.0f;
    check_case(s, t, N, CS, CT, H, W, sample, 1e-6);

    rlkd_tensor *student = t_from(s, N, CS, H, W), *teacher = t_from(t, N, CT, H, W);
    rlkd_tensor *dstudent = t_new(N, CS, H, W);
    CHECK_OK(rlkd_attention_transfer_loss_backward(test_ctx, dstudent, student,
                                                   teacher, 1.0f));
    float *grad = t_get(dstudent);
    int zero = 1;
    for (size_t i = 0; i < sample; i++)
        zero &= grad[i] == 0.0f;
    CHECK_MSG(zero, "the all-zero sample got a nonzero gradient");
    free(grad);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(dstudent);
}

/* Features near 5e-7 give 0 < ||q|| < 1e-12: the map is q / eps, and its
 * gradient is the plain da / eps, without the projection of the unclamped
 * case. Small steps keep finite differences inside that regime. */
static void tiny_student(void)
{
    enum { CS = 2, CT = 3, H = 2, W = 3 };
    float s[CS * H * W], t[CT * H * W];
    test_fill_uniform(s, CS * H * W, 2.5e-7f, 5e-7f, 12);
    test_fill_uniform(t, CT * H * W, -1.0f, 1.0f, 13);
    check_case(s, t, 1, CS, CT, H, W, 0, 1e-10);
}

/* A teacher that is the student scaled and with every channel repeated has
 * the same attention maps: loss 0 and gradient 0. */
static void equal_maps(void)
{
    enum { N = 2, C = 3, HW = 6 };
    float s[N * C * HW], t[N * 2 * C * HW];
    test_fill_uniform(s, N * C * HW, -1.0f, 1.0f, 9);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < 2 * C; c++)
            for (int p = 0; p < HW; p++)
                t[(i * 2 * C + c) * HW + p] = 3.0f * s[(i * C + c % C) * HW + p];
    rlkd_tensor *student = t_from(s, N, C, 2, 3);
    rlkd_tensor *teacher = t_from(t, N, 2 * C, 2, 3);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *dstudent = t_new(N, C, 2, 3);
    CHECK_OK(rlkd_attention_transfer_loss_forward(test_ctx, loss, dstudent,
                                                  student, teacher));
    double zero[N * C * HW] = {0};
    float value = read_scalar(loss);
    test_close("loss of equal maps", &value, zero, 1, 1e-12, 0);
    float *grad = t_get(dstudent);
    test_close("gradient of equal maps", grad, zero, N * C * HW, 1e-7, 0);
    free(grad);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(loss); rlkd_tensor_destroy(dstudent);
}

/* Samples are shared among threads, but the loss must not depend on how. */
static void thread_count_independent(void)
{
    enum { N = 9, CS = 16, CT = 32, H = 16, W = 16 };
    size_t s_count = (size_t)N * CS * H * W, t_count = (size_t)N * CT * H * W;
    float *s = malloc(s_count * sizeof *s), *t = malloc(t_count * sizeof *t);
    test_fill_uniform(s, s_count, -1.0f, 1.0f, 10);
    test_fill_uniform(t, t_count, -1.0f, 1.0f, 11);
    rlkd_tensor *student = t_from(s, N, CS, H, W), *teacher = t_from(t, N, CT, H, W);
    rlkd_tensor *loss = t_new(1, 0, 0, 0);
    int saved_threads;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &saved_threads));

    float got[2];
    const int threads[2] = {1, 4};
    for (int r = 0; r < 2; r++) {
        CHECK_OK(rlkd_context_set_num_threads(test_ctx, threads[r]));
        CHECK_OK(rlkd_attention_transfer_loss_forward(test_ctx, loss, NULL,
                                                      student, teacher));
        got[r] = read_scalar(loss);
    }
    CHECK_MSG(got[0] == got[1], "1 thread: %.9g, 4 threads: %.9g",
              (double)got[0], (double)got[1]);
    double *td = test_to_double(t, t_count);
    at_problem problem = {test_to_double(s, s_count), td, N, CS, CT, H * W};
    double want = at_ref(&problem);
    test_close("loss on 4 threads", &got[1], &want, 1, 1e-9, 1e-6);

    CHECK_OK(rlkd_context_set_num_threads(test_ctx, saved_threads));
    free(s); free(t); free(td); free(problem.s);
    rlkd_tensor_destroy(student); rlkd_tensor_destroy(teacher);
    rlkd_tensor_destroy(loss);
}

static void errors(void)
{
    rlkd_tensor *s = t_new(2, 3, 5, 4), *t = t_new(2, 6, 5, 4);
    rlkd_tensor *ds = t_new(2, 3, 5, 4), *ds_wrong = t_new(2, 6, 5, 4);
    rlkd_tensor *t_batch = t_new(3, 6, 5, 4), *t_height = t_new(2, 6, 4, 4);
    rlkd_tensor *t_width = t_new(2, 6, 5, 5), *flat = t_new(2, 60, 0, 0);
    rlkd_tensor *loss = t_new(1, 0, 0, 0), *loss2 = t_new(2, 0, 0, 0);
    const float sentinel = 42.0f;
    CHECK_OK(rlkd_tensor_fill(s, 0.5f));
    CHECK_OK(rlkd_tensor_fill(t, 0.5f));
    CHECK_OK(rlkd_tensor_fill(loss, sentinel));
    CHECK_OK(rlkd_tensor_fill(ds, sentinel));

    CHECK_FAILS(rlkd_attention_transfer_loss_forward(NULL, loss, ds, s, t),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, NULL, ds, s, t),
                RLKD_ERR_INVALID_ARGUMENT, "loss is NULL");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, ds, NULL,
                                                     t),
                RLKD_ERR_INVALID_ARGUMENT, "student is NULL");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, ds, s,
                                                     NULL),
                RLKD_ERR_INVALID_ARGUMENT, "teacher is NULL");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss2, ds, s, t),
                RLKD_ERR_SHAPE, "loss must have 1 element");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, NULL,
                                                     flat, t),
                RLKD_ERR_SHAPE, "student must be 4-D");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, NULL, s,
                                                     flat),
                RLKD_ERR_SHAPE, "teacher must be 4-D");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, ds, s,
                                                     t_batch),
                RLKD_ERR_SHAPE, "teacher has shape [3,6,5,4], expected "
                                "[2,6,5,4]");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, ds, s,
                                                     t_height),
                RLKD_ERR_SHAPE, "teacher has shape [2,6,4,4]");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, ds, s,
                                                     t_width),
                RLKD_ERR_SHAPE, "teacher has shape [2,6,5,5]");
    CHECK_FAILS(rlkd_attention_transfer_loss_forward(test_ctx, loss, ds_wrong,
                                                     s, t),
                RLKD_ERR_SHAPE, "dstudent");
    CHECK_FAILS(rlkd_attention_transfer_loss_backward(test_ctx, NULL, s, t, 1),
                RLKD_ERR_INVALID_ARGUMENT, "dstudent is NULL");
    CHECK_FAILS(rlkd_attention_transfer_loss_backward(test_ctx, ds, s, t, NAN),
                RLKD_ERR_INVALID_ARGUMENT, "dloss");
    CHECK_FAILS(rlkd_attention_transfer_loss_backward(test_ctx, ds, s,
                                                      t_width, 1),
                RLKD_ERR_SHAPE, "teacher");

    /* A failed call leaves its outputs alone. */
    CHECK(read_scalar(loss) == sentinel);
    float *grad = t_get(ds);
    int untouched = 1;
    for (int i = 0; i < 2 * 3 * 5 * 4; i++)
        untouched &= grad[i] == sentinel;
    CHECK_MSG(untouched, "a failed call wrote dstudent");
    free(grad);

    rlkd_tensor_destroy(s); rlkd_tensor_destroy(t); rlkd_tensor_destroy(ds);
    rlkd_tensor_destroy(ds_wrong); rlkd_tensor_destroy(t_batch);
    rlkd_tensor_destroy(t_height); rlkd_tensor_destroy(t_width);
    rlkd_tensor_destroy(flat); rlkd_tensor_destroy(loss);
    rlkd_tensor_destroy(loss2);
}

int main(void)
{
    test_main_begin();
    test_run("attention_transfer_loss/values_and_gradients",
             values_and_gradients);
    test_run("attention_transfer_loss/zero_student_sample",
             zero_student_sample);
    test_run("attention_transfer_loss/tiny_student", tiny_student);
    test_run("attention_transfer_loss/equal_maps", equal_maps);
    test_run("attention_transfer_loss/thread_count_independent",
             thread_count_independent);
    test_run("attention_transfer_loss/errors", errors);
    test_main_end();
    return test_finish();
}
