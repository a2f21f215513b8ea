/* eca: the kernel-size rule, forward against a double reference, every
 * gradient against finite differences of it (plus accumulation and NULL
 * outputs) for kernels of 1, 3, 5 (some wider than C), and the error
 * paths. */
#include "attention_test.h"

#include <stdlib.h>
#include <string.h>

/* One ECA problem; loss = sum r * y. */
typedef struct eca_problem {
    int n, c, h, w, k;
    operand x, weight, r;
    double *y; /* the reference's output */
} eca_problem;

enum { ECA_DX, ECA_DW, ECA_GRADIENTS };

/* y = x * sigmoid(sum_j w[j] v[c + j - (k-1)/2]), v = mean_hw(x), zero
 * padded across channels, in double. */
static void eca_ref(eca_problem *p)
{
    size_t hw = (size_t)p->h * p->w;
    int pad = (p->k - 1) / 2;
    double *v = malloc((size_t)p->c * sizeof *v);
    for (int n = 0; n < p->n; n++) {
        const double *x = p->x.d + (size_t)n * p->c * hw;
        channel_means_ref(v, x, p->c, hw);
        for (int c = 0; c < p->c; c++) {
            double z = 0.0;
            for (int j = 0; j < p->k; j++) {
                int src = c + j - pad;
                if (src >= 0 && src < p->c)
                    z += p->weight.d[j] * v[src];
            }
            for (size_t i = 0; i < hw; i++)
                p->y[(size_t)n * p->c * hw + c * hw + i] =
                    x[c * hw + i] * sigmoid_ref(z);
        }
    }
    free(v);
}

static double eca_loss(void *problem)
{
    eca_problem *p = problem;
    eca_ref(p);
    return dot_ref(p->r.d, p->y, p->x.count);
}

static rlkd_status eca_backward_call(void *problem, const gradient *grads,
                                     unsigned wanted)
{
    eca_problem *p = problem;
    return rlkd_eca_backward(test_ctx, wanted_gradient(grads, wanted, ECA_DX),
                             wanted_gradient(grads, wanted, ECA_DW), p->r.t,
                             p->x.t, p->weight.t);
}

static void check_eca(int n, int c, int h, int w, int k)
{
    eca_problem p = {.n = n, .c = c, .h = h, .w = w, .k = k};
    p.x = operand_random(n, c, h, w, 2.0f, 21);
    p.weight = operand_random(k, 0, 0, 0, 1.5f, 22);
    p.r = operand_random(n, c, h, w, 1.0f, 23);
    p.y = malloc(p.x.count * sizeof *p.y);

    rlkd_tensor *y = t_new(n, c, h, w);
    CHECK_OK(rlkd_eca_forward(test_ctx, y, p.x.t, p.weight.t));
    float *got = t_get(y);
    eca_ref(&p);
    CHECK_MSG(test_close("eca forward", got, p.y, p.x.count, 1e-6, 1e-5),
              "eca forward, shape [%d,%d,%d,%d] k %d", n, c, h, w, k);

    gradient grads[ECA_GRADIENTS] = {
        {"dx", &p.x, gradient_tensor(&p.x), 0},
        {"dw", &p.weight, gradient_tensor(&p.weight), 1},
    };
    check_gradients(grads, ECA_GRADIENTS, eca_backward_call, eca_loss, &p,
                    1e-5, 1e-4);

    for (int i = 0; i < ECA_GRADIENTS; i++)
        rlkd_tensor_destroy(grads[i].t);
    rlkd_tensor_destroy(y);
    free(got);
    free(p.y);
    operand_free(&p.x);
    operand_free(&p.weight);
    operand_free(&p.r);
}

static void kernel_sizes(void)
{
    CHECK(rlkd_eca_kernel_size(1, 2, 1) == 1);
    CHECK(rlkd_eca_kernel_size(2, 2, 1) == 1);
    CHECK(rlkd_eca_kernel_size(64, 2, 1) == 3);
    CHECK(rlkd_eca_kernel_size(256, 2, 1) == 5);
    CHECK(rlkd_eca_kernel_size(2048, 2, 1) == 7);
    CHECK(rlkd_eca_kernel_size(512, 1, 0) == 9); /* odd t = 9 stays */
    CHECK(rlkd_eca_kernel_size(16, 1, -8) == 5); /* |4 - 8| = 4, made odd */
    CHECK(rlkd_eca_kernel_size(0, 2, 1) == -1);
    CHECK(rlkd_eca_kernel_size(-5, 2, 1) == -1);
    CHECK(rlkd_eca_kernel_size(64, 0, 1) == -1);
    CHECK(rlkd_eca_kernel_size(2, 1, 2147483647) == -1);
}

static void kernel_one(void)
{
    check_eca(1, 1, 1, 1, 1);
    check_eca(3, 6, 5, 7, 1);
}

static void kernel_three(void)
{
    check_eca(3, 1, 5, 7, 3); /* k wider than C */
    check_eca(1, 5, 1, 1, 3);
    check_eca(3, 13, 5, 7, 3);
}

static void kernel_five(void)
{
    check_eca(3, 2, 5, 7, 5); /* k wider than C */
    check_eca(3, 6, 1, 1, 5);
    check_eca(1, 13, 5, 7, 5);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 4, 3, 3), *y = t_new(2, 4, 3, 3);
    rlkd_tensor *w = t_new(3, 0, 0, 0), *w_even = t_new(4, 0, 0, 0);
    rlkd_tensor *w_2d = t_new(1, 3, 0, 0), *x3 = t_new(2, 4, 9, 0);
    rlkd_tensor *y_wrong = t_new(2, 3, 3, 3), *dy = t_new(2, 4, 3, 3);
    rlkd_tensor *dw_wrong = t_new(5, 0, 0, 0);

    CHECK_FAILS(rlkd_eca_forward(NULL, y, x, w), RLKD_ERR_INVALID_ARGUMENT,
                "context");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, NULL, x, w),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y, NULL, w),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y, x, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "w is NULL");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y, x3, w), RLKD_ERR_SHAPE,
                "x must be 4-D");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y_wrong, x, w), RLKD_ERR_SHAPE,
                "rlkd_eca_forward: y has shape [2,3,3,3], expected [2,4,3,3]");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y, x, w_even), RLKD_ERR_SHAPE,
                "w has shape [4]; its kernel size 4 must be odd");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y, x, w_2d), RLKD_ERR_SHAPE,
                "w must be 1-D");
    float *untouched = t_get(y);
    CHECK(untouched[0] == 0.0f);
    free(untouched);

    CHECK_FAILS(rlkd_eca_backward(test_ctx, NULL, NULL, NULL, x, w),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_eca_backward(test_ctx, NULL, NULL, y_wrong, x, w),
                RLKD_ERR_SHAPE, "rlkd_eca_backward: dy has shape");
    CHECK_FAILS(rlkd_eca_backward(test_ctx, y_wrong, NULL, dy, x, w),
                RLKD_ERR_SHAPE, "dx has shape");
    CHECK_FAILS(rlkd_eca_backward(test_ctx, NULL, dw_wrong, dy, x, w),
                RLKD_ERR_SHAPE, "dw has shape [5], expected [3]");
    CHECK_FAILS(rlkd_eca_backward(test_ctx, NULL, NULL, dy, x, w_even),
                RLKD_ERR_SHAPE, "rlkd_eca_backward: w has shape [4]");

    rlkd_tensor *all[] = {x, y, w, w_even, w_2d, x3, y_wrong, dy, dw_wrong};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rlkd_tensor_destroy(all[i]);
}

/* PyTorch's Conv1d weight [1,1,k] holds the same taps as [k]. */
static void pytorch_weight_shape(void)
{
    float xs[2 * 5 * 3 * 3], taps[3] = {0.3f, -0.7f, 1.1f};
    test_fill_uniform(xs, sizeof xs / sizeof *xs, -1, 1, 41);
    rlkd_tensor *x = t_from(xs, 2, 5, 3, 3), *dy = t_from(xs, 2, 5, 3, 3);
    rlkd_tensor *w_flat = t_from(taps, 3, 0, 0, 0);
    rlkd_tensor *w_conv = t_from(taps, 1, 1, 3, 0);
    rlkd_tensor *w_wide = t_new(2, 1, 3, 0);
    rlkd_tensor *y_flat = t_new(2, 5, 3, 3), *y_conv = t_new(2, 5, 3, 3);
    rlkd_tensor *dw_flat = t_new(3, 0, 0, 0), *dw_conv = t_new(1, 1, 3, 0);
    CHECK_OK(rlkd_eca_forward(test_ctx, y_flat, x, w_flat));
    CHECK_OK(rlkd_eca_forward(test_ctx, y_conv, x, w_conv));
    CHECK_OK(rlkd_eca_backward(test_ctx, NULL, dw_flat, dy, x, w_flat));
    CHECK_OK(rlkd_eca_backward(test_ctx, NULL, dw_conv, dy, x, w_conv));
    float *a = t_get(y_flat), *b = t_get(y_conv);
    float *da = t_get(dw_flat), *db = t_get(dw_conv);
    CHECK(memcmp(a, b, sizeof xs) == 0);
    CHECK(memcmp(da, db, 3 * sizeof *da) == 0);
    CHECK_FAILS(rlkd_eca_backward(test_ctx, NULL, dw_flat, dy, x, w_conv),
                RLKD_ERR_SHAPE, "dw has shape [3], expected [1,1,3]");
    CHECK_FAILS(rlkd_eca_forward(test_ctx, y_flat, x, w_wide), RLKD_ERR_SHAPE,
                "w must be 1-D");
    free(a); free(b); free(da); free(db);
    rlkd_tensor *all[] = {x, dy, w_flat, w_conv, w_wide, y_flat, y_conv,
                          dw_flat, dw_conv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rlkd_tensor_destroy(all[i]);
}

int main(void)
{
    test_main_begin();
    test_run("eca/pytorch_weight_shape", pytorch_weight_shape);
    test_run("eca/kernel_sizes", kernel_sizes);
    test_run("eca/kernel_one", kernel_one);
    test_run("eca/kernel_three", kernel_three);
    test_run("eca/kernel_five", kernel_five);
    test_run("eca/errors", errors);
    test_main_end();
    return test_finish();
}
