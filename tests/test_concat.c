/* concat: forward against a double reference, backward by finite
 * differences, NULL entries in dxs, awkward shapes and the error paths. */
#include "testlib.h"

#include <stdlib.h>

#define MAX_PARTS 3

/* Inputs [N, channels[i], H, W] in double, and weights r over y. */
typedef struct {
    int count, n, hw, total_c;
    int channels[MAX_PARTS];
    double *x[MAX_PARTS];
    const double *r;
} concat_case;

/* y[s, offset_i + c, :] = x_i[s, c, :]. */
static void concat_ref(const concat_case *k, double *y)
{
    int offset = 0;
    for (int i = 0; i < k->count; i++) {
        for (int s = 0; s < k->n; s++)
            for (int c = 0; c < k->channels[i]; c++)
                for (int j = 0; j < k->hw; j++)
                    y[((size_t)s * k->total_c + offset + c) * k->hw + j] =
                        k->x[i][((size_t)s * k->channels[i] + c) * k->hw + j];
        offset += k->channels[i];
    }
}

/* L = sum r * concat(x), for the FD check. */
static double concat_loss_fn(void *p)
{
    const concat_case *k = p;
    size_t count = (size_t)k->n * k->total_c * k->hw;
    double *y = malloc(count * sizeof *y), sum = 0;
    concat_ref(k, y);
    for (size_t i = 0; i < count; i++)
        sum += k->r[i] * y[i];
    free(y);
    return sum;
}

static void check_case(int n, int h, int w, int count, const int *channels)
{
    concat_case k = {.count = count, .n = n, .hw = h * w};
    rlkd_tensor *tx[MAX_PARTS], *tdx[MAX_PARTS];
    float *x[MAX_PARTS];
    for (int i = 0; i < count; i++) {
        k.channels[i] = channels[i];
        k.total_c += channels[i];
        size_t size = (size_t)n * channels[i] * h * w;
        x[i] = malloc(size * sizeof *x[i]);
        test_fill_uniform(x[i], size, -1.0f, 1.0f, 10 + (uint64_t)i);
        k.x[i] = test_to_double(x[i], size);
        tx[i] = t_from(x[i], n, channels[i], h, w);
        tdx[i] = t_new(n, channels[i], h, w);
        CHECK_OK(rlkd_tensor_fill(tdx[i], 99.0f)); /* written, not added */
    }
    size_t y_size = (size_t)n * k.total_c * h * w;
    float *r = malloc(y_size * sizeof *r);
    test_fill_uniform(r, y_size, -1.0f, 1.0f, 20);
    k.r = test_to_double(r, y_size);
    rlkd_tensor *ty = t_new(n, k.total_c, h, w);
    rlkd_tensor *tdy = t_from(r, n, k.total_c, h, w);

    CHECK_OK(rlkd_concat_forward(test_ctx, ty,
                                 (const rlkd_tensor *const *)tx, count));
    float *y = t_get(ty);
    double *want = malloc(y_size * sizeof *want);
    concat_ref(&k, want);
    test_close("concat forward", y, want, y_size, 0, 0);

    /* Splitting y must give the inputs back exactly. */
    int64_t widths[MAX_PARTS];
    for (int i = 0; i < count; i++)
        widths[i] = channels[i];
    CHECK_OK(rlkd_concat_backward(test_ctx, tdx, ty, widths, count));
    for (int i = 0; i < count; i++) {
        size_t size = (size_t)n * channels[i] * h * w;
        float *dx = t_get(tdx[i]);
        double *xd = test_to_double(x[i], size);
        test_close("concat backward of forward", dx, xd, size, 0, 0);
        free(dx);
        free(xd);
    }

    /* Each FD evaluation redoes the whole concat: small cases only. */
    if (y_size <= 4096) {
        CHECK_OK(rlkd_concat_backward(test_ctx, tdx, tdy, widths, count));
        for (int i = 0; i < count; i++) {
            size_t size = (size_t)n * channels[i] * h * w;
            float *dx = t_get(tdx[i]);
            test_fd_gradient(concat_loss_fn, &k, k.x[i], size, 1e-3, want);
            test_close("concat backward vs finite differences", dx, want,
                       size, 1e-9, 1e-9);
            free(dx);
        }
    }

    for (int i = 0; i < count; i++) {
        free(x[i]);
        free(k.x[i]);
        rlkd_tensor_destroy(tx[i]);
        rlkd_tensor_destroy(tdx[i]);
    }
    free(r); free((double *)k.r); free(y); free(want);
    rlkd_tensor_destroy(ty);
    rlkd_tensor_destroy(tdy);
}

static void one_input(void)
{
    check_case(1, 1, 1, 1, (const int[]){1});
    check_case(2, 3, 4, 1, (const int[]){3});
}

static void three_inputs(void)
{
    check_case(1, 1, 1, 3, (const int[]){1, 3, 13});
    check_case(2, 3, 5, 3, (const int[]){13, 1, 3});
    check_case(3, 2, 2, 3, (const int[]){2, 2, 2});
}

static void large_parallel(void)
{
    /* 2 * (40+30) * 32 * 32 elements: above the OpenMP threshold. */
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 2));
    check_case(2, 32, 32, 2, (const int[]){40, 30});
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, 1));
}

/* dy [1,6,1,1] = 0..5 split into parts of 1, 2 and 3 channels with some
 * parts skipped: each given part must get its own channels. */
static void skipped_parts(void)
{
    const float dy[6] = {0, 1, 2, 3, 4, 5};
    const int64_t widths[3] = {1, 2, 3};
    rlkd_tensor *tdy = t_from(dy, 1, 6, 1, 1);
    rlkd_tensor *p1 = t_new(1, 1, 1, 1), *p2 = t_new(1, 2, 1, 1);
    rlkd_tensor *p3 = t_new(1, 3, 1, 1);

    rlkd_tensor *first_last[3] = {p1, NULL, p3};
    CHECK_OK(rlkd_concat_backward(test_ctx, first_last, tdy, widths, 3));
    float *a = t_get(p1), *c = t_get(p3);
    CHECK(a[0] == 0);
    CHECK(c[0] == 3 && c[1] == 4 && c[2] == 5);
    free(a); free(c);

    rlkd_tensor *middle_only[3] = {NULL, p2, NULL};
    CHECK_OK(rlkd_concat_backward(test_ctx, middle_only, tdy, widths, 3));
    float *b = t_get(p2);
    CHECK(b[0] == 1 && b[1] == 2);
    free(b);

    rlkd_tensor *none[3] = {NULL, NULL, NULL};
    CHECK_OK(rlkd_concat_backward(test_ctx, none, tdy, widths, 3));

    /* The widths must add up to dy's channels and each be >= 1. */
    const int64_t short_widths[3] = {1, 2, 2}, zero_width[3] = {1, 0, 5};
    CHECK_FAILS(rlkd_concat_backward(test_ctx, none, tdy, short_widths, 3),
                RLKD_ERR_SHAPE, "channels have 5 channels in all, but dy has 6");
    CHECK_FAILS(rlkd_concat_backward(test_ctx, none, tdy, zero_width, 3),
                RLKD_ERR_INVALID_ARGUMENT, "channels[1] must be >= 1, got 0");
    rlkd_tensor *swapped[3] = {p1, p3, NULL};
    CHECK_FAILS(rlkd_concat_backward(test_ctx, swapped, tdy, widths, 3),
                RLKD_ERR_SHAPE, "dxs[1] has shape [1,3,1,1], expected [1,2,1,1]");
    CHECK_FAILS(rlkd_concat_backward(test_ctx, none, tdy, NULL, 3),
                RLKD_ERR_INVALID_ARGUMENT, "channels is NULL");
    /* Widths whose sum wraps around to dy's 6 (2^63 - 1 twice, then 8):
     * refused before adding, or the given last part of 8 channels would be
     * read from before dy's start. */
    rlkd_tensor *p8 = t_new(1, 8, 1, 1);
    rlkd_tensor *wrapped_parts[3] = {NULL, NULL, p8};
    const int64_t wrapping[3] = {INT64_MAX, INT64_MAX, 8};
    CHECK_FAILS(rlkd_concat_backward(test_ctx, wrapped_parts, tdy, wrapping, 3),
                RLKD_ERR_SHAPE, "add up to more than the 6 channels of dy");
    CHECK(test_all_equal(p8, 0.0f));
    rlkd_tensor_destroy(p8);

    rlkd_tensor_destroy(tdy);
    rlkd_tensor_destroy(p1); rlkd_tensor_destroy(p2);
    rlkd_tensor_destroy(p3);
}

static void errors(void)
{
    rlkd_tensor *y = t_new(2, 5, 3, 3), *a = t_new(2, 2, 3, 3);
    rlkd_tensor *b = t_new(2, 3, 3, 3), *wrong_n = t_new(1, 3, 3, 3);
    rlkd_tensor *wrong_h = t_new(2, 3, 2, 3), *flat = t_new(2, 3, 0, 0);
    rlkd_tensor *y2 = t_new(2, 5, 0, 0);
    const rlkd_tensor *ab[2] = {a, b}, *a_null[2] = {a, NULL};
    const rlkd_tensor *a_wrong_n[2] = {a, wrong_n};
    const rlkd_tensor *a_wrong_h[2] = {a, wrong_h};
    const rlkd_tensor *a_flat[2] = {a, flat}, *aa[2] = {a, a};
    const rlkd_tensor *abb[3] = {a, b, b};
    rlkd_tensor *dab[2] = {a, b}, *da_wrong_n[2] = {a, wrong_n};

    CHECK_FAILS(rlkd_concat_forward(NULL, y, ab, 2), RLKD_ERR_INVALID_ARGUMENT,
                "context is NULL");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, NULL, ab, 2),
                RLKD_ERR_INVALID_ARGUMENT, "y is NULL");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, ab, 0),
                RLKD_ERR_INVALID_ARGUMENT, "count must be >= 1, got 0");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, ab, -1),
                RLKD_ERR_INVALID_ARGUMENT, "count");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, NULL, 2),
                RLKD_ERR_INVALID_ARGUMENT, "inputs is NULL");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, a_null, 2),
                RLKD_ERR_INVALID_ARGUMENT, "inputs[1] is NULL");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, a_wrong_n, 2), RLKD_ERR_SHAPE,
                "inputs[1] has shape [1,3,3,3], expected [2,3,3,3]");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, a_wrong_h, 2), RLKD_ERR_SHAPE,
                "inputs[1] has shape [2,3,2,3]");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, a_flat, 2), RLKD_ERR_SHAPE,
                "inputs[1] must be 4-D");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y2, ab, 2), RLKD_ERR_SHAPE,
                "y must be 4-D");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, aa, 2), RLKD_ERR_SHAPE,
                "inputs have 4 channels in all, but y has 5");
    CHECK_FAILS(rlkd_concat_forward(test_ctx, y, abb, 3), RLKD_ERR_SHAPE,
                "inputs have 8 channels");

    const int64_t widths[2] = {2, 3};
    CHECK_FAILS(rlkd_concat_backward(NULL, dab, y, widths, 2),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_concat_backward(test_ctx, dab, NULL, widths, 2),
                RLKD_ERR_INVALID_ARGUMENT, "dy is NULL");
    CHECK_FAILS(rlkd_concat_backward(test_ctx, NULL, y, widths, 2),
                RLKD_ERR_INVALID_ARGUMENT, "dxs is NULL");
    CHECK_FAILS(rlkd_concat_backward(test_ctx, dab, y, widths, 0),
                RLKD_ERR_INVALID_ARGUMENT, "count");
    CHECK_FAILS(rlkd_concat_backward(test_ctx, da_wrong_n, y, widths, 2),
                RLKD_ERR_SHAPE, "dxs[1] has shape [1,3,3,3]");

    /* A failure after a valid first part leaves that part untouched. */
    CHECK_OK(rlkd_tensor_fill(y, 1.0f));
    CHECK_OK(rlkd_tensor_fill(a, 2.0f));
    CHECK_FAILS(rlkd_concat_backward(test_ctx, da_wrong_n, y, widths, 2),
                RLKD_ERR_SHAPE, "dxs[1]");
    float *got = t_get(a);
    CHECK(got[0] == 2.0f);
    free(got);

    rlkd_tensor_destroy(y); rlkd_tensor_destroy(a); rlkd_tensor_destroy(b);
    rlkd_tensor_destroy(wrong_n); rlkd_tensor_destroy(wrong_h);
    rlkd_tensor_destroy(flat); rlkd_tensor_destroy(y2);
}

int main(void)
{
    test_main_begin();
    test_run("concat/one_input", one_input);
    test_run("concat/three_inputs", three_inputs);
    test_run("concat/large_parallel", large_parallel);
    test_run("concat/skipped_parts", skipped_parts);
    test_run("concat/errors", errors);
    test_main_end();
    return test_finish();
}
