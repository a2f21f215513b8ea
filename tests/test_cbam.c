/* cbam: forward against a double reference, every gradient against finite
 * differences of it (plus accumulation and NULL outputs) for spatial
 * kernels of 3 and 7 over awkward shapes, with and without biases; max ties
 * going to the first index; results independent of the thread count; and
 * the error paths. */
#include "attention_test.h"

#include <stdlib.h>
#include <string.h>

/* One CBAM problem; loss = sum r * y. */
typedef struct cbam_problem {
    int n, c, h, w, hidden, k;
    operand x, w1, b1, w2, b2, ws, bs, r;
    double *y; /* the reference's output */
} cbam_problem;

enum {
    CBAM_DX, CBAM_DW1, CBAM_DB1, CBAM_DW2, CBAM_DB2, CBAM_DWS, CBAM_DBS,
    CBAM_GRADIENTS
};

/* The reference, in double: the channel gate from the average- and max-pooled
 * planes through the shared MLP, then the spatial gate from a k x k
 * convolution of [mean_c, max_c] of x1 = x * mc. */
static void cbam_ref(cbam_problem *p)
{
    int c_count = p->c, k = p->k, pad = (k - 1) / 2;
    size_t hw = (size_t)p->h * p->w;
    double *pooled = malloc(4 * (size_t)c_count * sizeof *pooled);
    double *avg = pooled, *max = avg + c_count;
    double *mlp_avg = max + c_count, *mlp_max = mlp_avg + c_count;
    double *mc = malloc((size_t)c_count * sizeof *mc);
    double *spatial = malloc(2 * hw * sizeof *spatial);
    for (int n = 0; n < p->n; n++) {
        const double *x = p->x.d + (size_t)n * c_count * hw;
        for (int c = 0; c < c_count; c++) {
            avg[c] = 0.0;
            max[c] = x[c * hw];
            for (size_t i = 0; i < hw; i++) {
                avg[c] += x[c * hw + i] / (double)hw;
                max[c] = fmax(max[c], x[c * hw + i]);
            }
        }
        mlp_ref(mlp_avg, avg, p->w1.d, p->b1.d, p->w2.d, p->b2.d, c_count,
                p->hidden);
        mlp_ref(mlp_max, max, p->w1.d, p->b1.d, p->w2.d, p->b2.d, c_count,
                p->hidden);
        for (int c = 0; c < c_count; c++)
            mc[c] = sigmoid_ref(mlp_avg[c] + mlp_max[c]);
        for (size_t i = 0; i < hw; i++) {
            spatial[i] = 0.0;
            spatial[hw + i] = x[i] * mc[0];
            for (int c = 0; c < c_count; c++) {
                spatial[i] += x[c * hw + i] * mc[c] / c_count;
                spatial[hw + i] = fmax(spatial[hw + i], x[c * hw + i] * mc[c]);
            }
        }
        for (int i = 0; i < p->h; i++)
            for (int j = 0; j < p->w; j++) {
                double logit = p->bs.d ? p->bs.d[0] : 0.0;
                for (int ch = 0; ch < 2; ch++)
                    for (int ki = 0; ki < k; ki++)
                        for (int kj = 0; kj < k; kj++) {
                            int r = i + ki - pad, col = j + kj - pad;
                            if (r >= 0 && r < p->h && col >= 0 && col < p->w)
                                logit += p->ws.d[(ch * k + ki) * k + kj] *
                                         spatial[ch * hw + r * p->w + col];
                        }
                double ms = sigmoid_ref(logit);
                size_t pos = (size_t)i * p->w + j;
                for (int c = 0; c < c_count; c++)
                    p->y[(size_t)n * c_count * hw + c * hw + pos] =
                        x[c * hw + pos] * mc[c] * ms;
            }
    }
    free(pooled);
    free(mc);
    free(spatial);
}

static double cbam_loss(void *problem)
{
    cbam_problem *p = problem;
    cbam_ref(p);
    return dot_ref(p->r.d, p->y, p->x.count);
}

static rlkd_status cbam_backward_call(void *problem, const gradient *grads,
                                      unsigned wanted)
{
    cbam_problem *p = problem;
    return rlkd_cbam_backward(
        test_ctx, wanted_gradient(grads, wanted, CBAM_DX),
        wanted_gradient(grads, wanted, CBAM_DW1),
        wanted_gradient(grads, wanted, CBAM_DB1),
        wanted_gradient(grads, wanted, CBAM_DW2),
        wanted_gradient(grads, wanted, CBAM_DB2),
        wanted_gradient(grads, wanted, CBAM_DWS),
        wanted_gradient(grads, wanted, CBAM_DBS), p->r.t, p->x.t, p->w1.t,
        p->b1.t, p->w2.t, p->b2.t, p->ws.t, p->bs.t);
}

static cbam_problem cbam_problem_new(int n, int c, int h, int w, int hidden,
                                     int k, int with_bias)
{
    cbam_problem p = {.n = n, .c = c, .h = h, .w = w, .hidden = hidden,
                      .k = k};
    p.x = operand_random(n, c, h, w, 2.0f, 31);
    p.w1 = operand_random(hidden, c, 0, 0, 1.0f, 32);
    p.w2 = operand_random(c, hidden, 0, 0, 1.0f, 33);
    p.ws = operand_random(1, 2, k, k, 0.5f, 34);
    if (with_bias) {
        p.b1 = operand_random(hidden, 0, 0, 0, 0.5f, 35);
        p.b2 = operand_random(c, 0, 0, 0, 0.5f, 36);
        p.bs = operand_random(1, 0, 0, 0, 0.5f, 37);
    }
    p.r = operand_random(n, c, h, w, 1.0f, 38);
    p.y = malloc(p.x.count * sizeof *p.y);
    return p;
}

static void cbam_problem_free(cbam_problem *p)
{
    operand *operands[] = {&p->x,  &p->w1, &p->b1, &p->w2,
                           &p->b2, &p->ws, &p->bs, &p->r};
    for (size_t i = 0; i < sizeof operands / sizeof *operands; i++)
        operand_free(operands[i]);
    free(p->y);
}

static rlkd_status cbam_forward_call(const cbam_problem *p, rlkd_tensor *y)
{
    return rlkd_cbam_forward(test_ctx, y, p->x.t, p->w1.t, p->b1.t, p->w2.t,
                             p->b2.t, p->ws.t, p->bs.t);
}

static void check_cbam(int n, int c, int h, int w, int hidden, int k,
                       int with_bias)
{
    cbam_problem p = cbam_problem_new(n, c, h, w, hidden, k, with_bias);
    rlkd_tensor *y = t_new(n, c, h, w);
    CHECK_OK(cbam_forward_call(&p, y));
    float *got = t_get(y);
    cbam_ref(&p);
    CHECK_MSG(test_close("cbam forward", got, p.y, p.x.count, 1e-6, 1e-5),
              "cbam forward, shape [%d,%d,%d,%d] hidden %d k %d", n, c, h, w,
              hidden, k);

    gradient grads[CBAM_GRADIENTS] = {
        {"dx", &p.x, gradient_tensor(&p.x), 0},
        {"dw1", &p.w1, gradient_tensor(&p.w1), 1},
        {"db1", &p.b1, gradient_tensor(&p.b1), 1},
        {"dw2", &p.w2, gradient_tensor(&p.w2), 1},
        {"db2", &p.b2, gradient_tensor(&p.b2), 1},
        {"dws", &p.ws, gradient_tensor(&p.ws), 1},
        {"dbs", &p.bs, gradient_tensor(&p.bs), 1},
    };
    check_gradients(grads, CBAM_GRADIENTS, cbam_backward_call, cbam_loss, &p,
                    1e-5, 1e-4);

    for (int i = 0; i < CBAM_GRADIENTS; i++)
        rlkd_tensor_destroy(grads[i].t);
    rlkd_tensor_destroy(y);
    free(got);
    cbam_problem_free(&p);
}

static void kernel_three(void)
{
    check_cbam(1, 1, 1, 1, 1, 3, 1);
    check_cbam(3, 5, 5, 7, 2, 3, 1);
    check_cbam(3, 6, 5, 7, 2, 3, 0);
}

static void kernel_seven(void)
{
    check_cbam(3, 1, 5, 7, 1, 7, 0);
    check_cbam(1, 6, 1, 1, 3, 7, 1);
    check_cbam(3, 13, 5, 7, 4, 7, 1);
}

/* Forward and every gradient of a problem big enough to run on several
 * threads, into one buffer: y, then the gradients in slot order. */
static float *cbam_outputs(const cbam_problem *p, gradient *grads)
{
    size_t total = p->x.count;
    for (int i = 0; i < CBAM_GRADIENTS; i++)
        total += grads[i].of->count;
    float *out = malloc(total * sizeof *out), *next = out + p->x.count;
    rlkd_tensor *y = t_new(p->n, p->c, p->h, p->w);
    CHECK_OK(cbam_forward_call(p, y));
    CHECK_OK(rlkd_tensor_read(y, out, p->x.count));
    for (int i = 0; i < CBAM_GRADIENTS; i++)
        CHECK_OK(rlkd_tensor_fill(grads[i].t, 0.0f));
    CHECK_OK(cbam_backward_call((void *)p, grads, (1u << CBAM_GRADIENTS) - 1));
    for (int i = 0; i < CBAM_GRADIENTS; i++) {
        CHECK_OK(rlkd_tensor_read(grads[i].t, next, grads[i].of->count));
        next += grads[i].of->count;
    }
    rlkd_tensor_destroy(y);
    return out;
}

static void thread_count(void)
{
    cbam_problem p = cbam_problem_new(2, 40, 32, 32, 5, 7, 1);
    gradient grads[CBAM_GRADIENTS] = {
        {"dx", &p.x, gradient_tensor(&p.x), 0},
        {"dw1", &p.w1, gradient_tensor(&p.w1), 1},
        {"db1", &p.b1, gradient_tensor(&p.b1), 1},
        {"dw2", &p.w2, gradient_tensor(&p.w2), 1},
        {"db2", &p.b2, gradient_tensor(&p.b2), 1},
        {"dws", &p.ws, gradient_tensor(&p.ws), 1},
        {"dbs", &p.bs, gradient_tensor(&p.bs), 1},
    };
    size_t total = p.x.count;
    for (int i = 0; i < CBAM_GRADIENTS; i++)
        total += grads[i].of->count;

    int saved_threads;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &saved_threads));
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
    float *one = cbam_outputs(&p, grads);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 3));
    float *three = cbam_outputs(&p, grads);
    float *three_again = cbam_outputs(&p, grads);
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, saved_threads));

    CHECK_MSG(memcmp(three, three_again, total * sizeof *three) == 0,
              "two runs on 3 threads differ");
    double *want = test_to_double(one, total);
    CHECK_MSG(test_close("3 threads vs 1", three, want, total, 1e-7, 1e-6),
              "outputs depend on the thread count");

    free(want);
    free(one);
    free(three);
    free(three_again);
    for (int i = 0; i < CBAM_GRADIENTS; i++)
        rlkd_tensor_destroy(grads[i].t);
    cbam_problem_free(&p);
}

/* Sets x of p, in the tensor and in double. */
static void set_x(cbam_problem *p, const float *x)
{
    CHECK_OK(rlkd_tensor_write(p->x.t, x, p->x.count));
    for (size_t i = 0; i < p->x.count; i++)
        p->x.d[i] = x[i];
}

/*
 * Max ties go to the first index. In every plane, positions 2 and 6 tie for
 * the spatial maximum; at position 4, channels 1 and 3 tie at 0 for the
 * channel maximum of x1 = x * mc (the other channels are negative there).
 * Raising the first of each tied pair by 1e-5 makes it the only maximum,
 * which must change every output and gradient by no more than the nudge
 * does; sending a tie to the other index would move them by far more.
 */
static void ties(void)
{
    enum { N = 2, C = 4, H = 3, W = 3, HW = H * W, TIE_A = 2, TIE_B = 6,
           CHANNEL_TIE_AT = 4 };
    const float nudge = 1e-5f;
    cbam_problem p = cbam_problem_new(N, C, H, W, 2, 3, 1);
    gradient grads[CBAM_GRADIENTS] = {
        {"dx", &p.x, gradient_tensor(&p.x), 0},
        {"dw1", &p.w1, gradient_tensor(&p.w1), 1},
        {"db1", &p.b1, gradient_tensor(&p.b1), 1},
        {"dw2", &p.w2, gradient_tensor(&p.w2), 1},
        {"db2", &p.b2, gradient_tensor(&p.b2), 1},
        {"dws", &p.ws, gradient_tensor(&p.ws), 1},
        {"dbs", &p.bs, gradient_tensor(&p.bs), 1},
    };
    size_t total = p.x.count;
    for (int i = 0; i < CBAM_GRADIENTS; i++)
        total += grads[i].of->count;

    float tied[N * C * HW], nudged[N * C * HW];
    test_fill_uniform(tied, p.x.count, -1.0f, 1.0f, 39);
    for (int plane = 0; plane < N * C; plane++) {
        float *x = tied + plane * HW;
        int c = plane % C;
        x[CHANNEL_TIE_AT] = c == 1 || c == 3 ? 0.0f : -1.5f;
        x[TIE_A] = x[TIE_B] = 1.5f;
    }
    memcpy(nudged, tied, sizeof tied);
    for (int plane = 0; plane < N * C; plane++) {
        nudged[plane * HW + TIE_A] += nudge;
        if (plane % C == 1)
            nudged[plane * HW + CHANNEL_TIE_AT] += nudge;
    }

    set_x(&p, tied);
    float *at_ties = cbam_outputs(&p, grads);
    set_x(&p, nudged);
    float *near_ties = cbam_outputs(&p, grads);
    double *want = test_to_double(near_ties, total);
    CHECK_MSG(test_close("ties vs nudged", at_ties, want, total, 1e-4, 1e-4),
              "a max tie did not go to the first index");

    free(want);
    free(at_ties);
    free(near_ties);
    for (int i = 0; i < CBAM_GRADIENTS; i++)
        rlkd_tensor_destroy(grads[i].t);
    cbam_problem_free(&p);
}

static void errors(void)
{
    rlkd_tensor *x = t_new(2, 4, 3, 3), *y = t_new(2, 4, 3, 3);
    rlkd_tensor *w1 = t_new(2, 4, 0, 0), *w2 = t_new(4, 2, 0, 0);
    rlkd_tensor *ws = t_new(1, 2, 3, 3), *bs = t_new(1, 0, 0, 0);
    rlkd_tensor *ws_even = t_new(1, 2, 4, 4), *ws_three = t_new(1, 3, 3, 3);
    rlkd_tensor *ws_wide = t_new(1, 2, 3, 5), *ws_3d = t_new(2, 3, 3, 0);
    rlkd_tensor *bs_wrong = t_new(2, 0, 0, 0), *w2_wrong = t_new(4, 3, 0, 0);
    rlkd_tensor *y_wrong = t_new(2, 4, 3, 4), *dy = t_new(2, 4, 3, 3);
    rlkd_tensor *w1_wrong = t_new(2, 3, 0, 0);

    CHECK_FAILS(rlkd_cbam_forward(NULL, y, x, w1, NULL, w2, NULL, ws, bs),
                RLKD_ERR_INVALID_ARGUMENT, "context");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, NULL, x, w1, NULL, w2, NULL, ws,
                                  bs),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, NULL, w1, NULL, w2, NULL, ws,
                                  bs),
                RLKD_ERR_INVALID_ARGUMENT, "x is NULL");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, NULL, NULL, w2, NULL, ws,
                                  bs),
                RLKD_ERR_INVALID_ARGUMENT, "w1 is NULL");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2, NULL, NULL,
                                  bs),
                RLKD_ERR_INVALID_ARGUMENT, "ws is NULL");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y_wrong, x, w1, NULL, w2, NULL,
                                  ws, bs),
                RLKD_ERR_SHAPE, "rlkd_cbam_forward: y has shape [2,4,3,4]");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2_wrong, NULL,
                                  ws, bs),
                RLKD_ERR_SHAPE, "w2 has shape [4,3], expected [4,2]");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2, NULL,
                                  ws_even, bs),
                RLKD_ERR_SHAPE,
                "ws has shape [1,2,4,4]; its kernel size 4 must be odd");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2, NULL,
                                  ws_three, bs),
                RLKD_ERR_SHAPE, "ws has shape [1,3,3,3], expected [1,2,3,3]");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2, NULL,
                                  ws_wide, bs),
                RLKD_ERR_SHAPE, "ws has shape [1,2,3,5], expected [1,2,3,3]");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2, NULL, ws_3d,
                                  bs),
                RLKD_ERR_SHAPE, "ws must be 4-D");
    CHECK_FAILS(rlkd_cbam_forward(test_ctx, y, x, w1, NULL, w2, NULL, ws,
                                  bs_wrong),
                RLKD_ERR_SHAPE, "bs has shape [2], expected [1]");
    float *untouched = t_get(y);
    CHECK(untouched[0] == 0.0f);
    free(untouched);

    CHECK_FAILS(rlkd_cbam_backward(test_ctx, NULL, NULL, NULL, NULL, NULL,
                                   NULL, NULL, NULL, x, w1, NULL, w2, NULL,
                                   ws, bs),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_cbam_backward(test_ctx, y_wrong, NULL, NULL, NULL, NULL,
                                   NULL, NULL, dy, x, w1, NULL, w2, NULL, ws,
                                   bs),
                RLKD_ERR_SHAPE, "rlkd_cbam_backward: dx has shape");
    CHECK_FAILS(rlkd_cbam_backward(test_ctx, NULL, w1_wrong, NULL, NULL,
                                   NULL, NULL, NULL, dy, x, w1, NULL, w2,
                                   NULL, ws, bs),
                RLKD_ERR_SHAPE, "dw1 has shape [2,3], expected [2,4]");
    CHECK_FAILS(rlkd_cbam_backward(test_ctx, NULL, NULL, NULL, NULL, NULL,
                                   ws_wide, NULL, dy, x, w1, NULL, w2, NULL,
                                   ws, bs),
                RLKD_ERR_SHAPE, "dws has shape [1,2,3,5], expected [1,2,3,3]");
    CHECK_FAILS(rlkd_cbam_backward(test_ctx, NULL, NULL, NULL, NULL, NULL,
                                   NULL, bs_wrong, dy, x, w1, NULL, w2, NULL,
                                   ws, NULL),
                RLKD_ERR_SHAPE, "dbs has shape [2], expected [1]");
    CHECK_FAILS(rlkd_cbam_backward(test_ctx, NULL, NULL, NULL, NULL, NULL,
                                   NULL, NULL, dy, x, w1, NULL, w2, NULL,
                                   ws_even, bs),
                RLKD_ERR_SHAPE, "rlkd_cbam_backward: ws has shape [1,2,4,4]");

    rlkd_tensor *all[] = {x,        y,     w1,       w2,       ws,
                          bs,       ws_even, ws_three, ws_wide, ws_3d,
                          bs_wrong, w2_wrong, y_wrong, dy,      w1_wrong};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rlkd_tensor_destroy(all[i]);
}

int main(void)
{
    test_main_begin();
    test_run("cbam/kernel_three", kernel_three);
    test_run("cbam/kernel_seven", kernel_seven);
    test_run("cbam/thread_count", thread_count);
    test_run("cbam/ties", ties);
    test_run("cbam/errors", errors);
    test_main_end();
    return test_finish();
}
