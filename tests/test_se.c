/* se: forward against a double reference, every gradient against finite
 * differences of it (plus accumulation and NULL outputs) over awkward
 * shapes, with and without biases, and the error paths. */
#include "attention_test.h"

#include <stdlib.h>

/* One SE problem; loss = sum r * y. */
typedef struct se_problem {
    int n, c, h, w, hidden;
    operand x, w1, b1, w2, b2, r;
    double *y; /* the reference's output */
} se_problem;

enum { SE_DX, SE_DW1, SE_DB1, SE_DW2, SE_DB2, SE_GRADIENTS };

/* y = x * sigmoid(w2 relu(w1 mean_hw(x) + b1) + b2) per (n, c), in double. */
static void se_ref(se_problem *p)
{
    size_t hw = (size_t)p->h * p->w;
    double *v = malloc((size_t)p->c * sizeof *v);
    double *z = malloc((size_t)p->c * sizeof *z);
    for (int n = 0; n < p->n; n++) {
        const double *x = p->x.d + (size_t)n * p->c * hw;
        channel_means_ref(v, x, p->c, hw);
        mlp_ref(z, v, p->w1.d, p->b1.d, p->w2.d, p->b2.d, p->c, p->hidden);
        for (int c = 0; c < p->c; c++)
            for (size_t i = 0; i < hw; i++)
                p->y[(size_t)n * p->c * hw + c * hw + i] =
                    x[c * hw + i] * sigmoid_ref(z[c]);
    }
    free(v);
    free(z);
}

static double se_loss(void *problem)
{
    se_problem *p = problem;
    se_ref(p);
    return dot_ref(p->r.d, p->y, p->x.count);
}

static rlkd_status se_backward_call(void *problem, const gradient *grads,
                                    unsigned wanted)
{
    se_problem *p = problem;
    return rlkd_se_backward(test_ctx, wanted_gradient(grads, wanted, SE_DX),
                            wanted_gradient(grads, wanted, SE_DW1),
                            wanted_gradient(grads, wanted, SE_DB1),
                            wanted_gradient(grads, wanted, SE_DW2),
                            wanted_gradient(grads, wanted, SE_DB2), p->r.t,
                            p->x.t, p->w1.t, p->b1.t, p->w2.t, p->b2.t);
}

static void check_se(int n, int c, int h, int w, int hidden, int with_bias)
{
    se_problem p = {.n = n, .c = c, .h = h, .w = w, .hidden = hidden};
    p.x = operand_random(n, c, h, w, 2.0f, 11);
    p.w1 = operand_random(hidden, c, 0, 0, 1.0f, 12);
    p.w2 = operand_random(c, hidden, 0, 0, 1.0f, 13);
    if (with_bias) {
        p.b1 = operand_random(hidden, 0, 0, 0, 0.5f, 14);
        p.b2 = operand_random(c, 0, 0, 0, 0.5f, 15);
    }
    p.r = operand_random(n, c, h, w, 1.0f, 16);
    p.y = malloc(p.x.count * sizeof *p.y);

    rlkd_tensor *y = t_new(n, c, h, w);
    CHECK_OK(rlkd_se_forward(test_ctx, y, p.x.t, p.w1.t, p.b1.t, p.w2.t,
                             p.b2.t));
    float *got = t_get(y);
    se_ref(&p);
    CHECK_MSG(test_close("se forward", got, p.y, p.x.count, 1e-6, 1e-5),
              "se forward, shape [%d,%d,%d,%d] hidden %d", n, c, h, w,
              hidden);

    gradient grads[SE_GRADIENTS] = {
        {"dx", &p.x, gradient_tensor(&p.x), 0},
        {"dw1", &p.w1, gradient_tensor(&p.w1), 1},
        {"db1", &p.b1, gradient_tensor(&p.b1), 1},
        {"dw2", &p.w2, gradient_tensor(&p.w2), 1},
        {"db2", &p.b2, gradient_tensor(&p.b2), 1},
    };
    check_gradients(grads, SE_GRADIENTS, se_backward_call, se_loss, &p, 1e-5,
                    1e-4);

    for (int i = 0; i < SE_GRADIENTS; i++)
        rlkd_tensor_destroy(grads[i].t);
    rlkd_tensor_destroy(y);
    free(got);
    free(p.y);
    operand *operands[] = {&p.x, &p.w1, &p.b1, &p.w2, &p.b2, &p.r};
    for (size_t i = 0; i < sizeof operands / sizeof *operands; i++)
        operand_free(operands[i]);
}

static void one_channel(void)
{
    check_se(1, 1, 1, 1, 1, 1);
    check_se(3, 1, 5, 7, 1, 0);
}

static void odd_channels(void)
{
    check_se(3, 5, 5, 7, 2, 1);
    check_se(1, 6, 1, 1, 3, 1);
    check_se(3, 13, 5, 7, 4, 0);
}

static void without_biases(void)
{
    check_se(3, 6, 5, 7, 2, 0);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 4, 3, 3), *y = t_new(2, 4, 3, 3);
    rlkd_tensor *w1 = t_new(2, 4, 0, 0), *w2 = t_new(4, 2, 0, 0);
    rlkd_tensor *b1 = t_new(2, 0, 0, 0), *b2 = t_new(4, 0, 0, 0);
    rlkd_tensor *x3 = t_new(2, 4, 9, 0), *y_wrong = t_new(2, 4, 3, 2);
    rlkd_tensor *w1_wrong_c = t_new(2, 5, 0, 0), *w2_wrong = t_new(4, 3, 0, 0);
    rlkd_tensor *w1_1d = t_new(8, 0, 0, 0), *b1_wrong = t_new(3, 0, 0, 0);
    rlkd_tensor *b2_wrong = t_new(5, 0, 0, 0), *dy = t_new(2, 4, 3, 3);
    int32_t labels[2] = {0, 1};
    rlkd_tensor *ints = t_labels(labels, 2);

    CHECK_FAILS(rlkd_se_forward(NULL, y, x, w1, b1, w2, b2),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_se_forward(test_ctx, NULL, x, w1, b1, w2, b2),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, NULL, w1, b1, w2, b2),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, NULL, b1, w2, b2),
                RLKD_ERR_INVALID_ARGUMENT, "w1 is NULL");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, w1, b1, NULL, b2),
                RLKD_ERR_INVALID_ARGUMENT, "w2 is NULL");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, ints, w1, b1, w2, b2),
                RLKD_ERR_INVALID_ARGUMENT, "x is int32");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x3, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "x must be 4-D");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y_wrong, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "rlkd_se_forward: y has shape [2,4,3,2]");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, w1_wrong_c, b1, w2, b2),
                RLKD_ERR_SHAPE, "w1 has shape [2,5], expected [2,4]");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, w1_1d, b1, w2, b2),
                RLKD_ERR_SHAPE, "w1 must be 2-D");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, w1, b1, w2_wrong, b2),
                RLKD_ERR_SHAPE, "w2 has shape [4,3], expected [4,2]");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, w1, b1_wrong, w2, b2),
                RLKD_ERR_SHAPE, "b1 has shape [3], expected [2]");
    CHECK_FAILS(rlkd_se_forward(test_ctx, y, x, w1, b1, w2, b2_wrong),
                RLKD_ERR_SHAPE, "b2 has shape [5], expected [4]");
    /* a failed call leaves its output alone */
    float *untouched = t_get(y);
    CHECK(untouched[0] == 0.0f);
    free(untouched);

    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, NULL, NULL, NULL,
                                 NULL, x, w1, b1, w2, b2),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, NULL, NULL, NULL,
                                 y_wrong, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "rlkd_se_backward: dy has shape");
    CHECK_FAILS(rlkd_se_backward(test_ctx, y_wrong, NULL, NULL, NULL, NULL,
                                 dy, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "dx has shape");
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, w1_wrong_c, NULL, NULL,
                                 NULL, dy, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "dw1 has shape [2,5], expected [2,4]");
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, b1_wrong, NULL, NULL,
                                 dy, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "db1 has shape [3]");
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, NULL, w2_wrong, NULL,
                                 dy, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "dw2 has shape [4,3]");
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, NULL, NULL, b2_wrong,
                                 dy, x, w1, b1, w2, b2),
                RLKD_ERR_SHAPE, "db2 has shape [5]");
    /* bias gradients are shaped as their biases even when those are NULL */
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, b1_wrong, NULL, NULL,
                                 dy, x, w1, NULL, w2, NULL),
                RLKD_ERR_SHAPE, "db1 has shape [3], expected [2]");
    CHECK_FAILS(rlkd_se_backward(test_ctx, NULL, NULL, NULL, NULL, NULL, dy,
                                 x, w1, b1, w2_wrong, b2),
                RLKD_ERR_SHAPE, "rlkd_se_backward: w2 has shape");

    rlkd_tensor *all[] = {x, y, w1, w2, b1, b2, x3, y_wrong, w1_wrong_c,
                          w2_wrong, w1_1d, b1_wrong, b2_wrong, dy, ints};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rlkd_tensor_destroy(all[i]);
}

static void other_context(void)
{
    rlkd_context *other;
    CHECK_OK(rlkd_context_create(&other, RLKD_DEVICE_CPU, 0));
    int64_t shape[4] = {1, 2, 2, 2};
    rlkd_tensor *foreign;
    CHECK_OK(rlkd_tensor_create(other, RLKD_DTYPE_F32, 4, shape, &foreign));
    rlkd_tensor *x = t_new(1, 2, 2, 2), *w1 = t_new(1, 2, 0, 0);
    rlkd_tensor *w2 = t_new(2, 1, 0, 0);
    CHECK_FAILS(rlkd_se_forward(test_ctx, foreign, x, w1, NULL, w2, NULL),
                RLKD_ERR_DEVICE_MISMATCH, "y belongs to another context");
    rlkd_tensor_destroy(foreign);
    rlkd_tensor_destroy(x);
    rlkd_tensor_destroy(w1);
    rlkd_tensor_destroy(w2);
    rlkd_context_destroy(other);
}

int main(void)
{
    test_main_begin();
    test_run("se/one_channel", one_channel);
    test_run("se/odd_channels", odd_channels);
    test_run("se/without_biases", without_biases);
    test_run("se/errors", errors);
    test_run("se/other_context", other_context);
    test_main_end();
    return test_finish();
}
