/*
 * Helpers shared by the max- and average-pooling tests: the case geometry,
 * random operands, the finite-difference loss, and the check that the
 * thread count does not change the bits. Header-only (static inline), so
 * each test program stays one file.
 */
#ifndef RLKD_POOL_TEST_H
#define RLKD_POOL_TEST_H

#include "testlib.h"

#include <stdlib.h>
#include <string.h>

typedef struct pool_case {
    int n, c, h, w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad; /* average pooling's flag; 0 for max pooling */
} pool_case;

static inline int out_size(int in, int kernel, int stride, int pad)
{
    return (in + 2 * pad - kernel) / stride + 1;
}

static inline int out_h(const pool_case *p)
{
    return out_size(p->h, p->kernel_h, p->stride_h, p->pad_h);
}

static inline int out_w(const pool_case *p)
{
    return out_size(p->w, p->kernel_w, p->stride_w, p->pad_w);
}

static inline size_t in_count(const pool_case *p)
{
    return (size_t)p->n * p->c * p->h * p->w;
}

static inline size_t out_count(const pool_case *p)
{
    return (size_t)p->n * p->c * out_h(p) * out_w(p);
}

/* The pooling under test in double: y [N,C,Ho,Wo] from x [N,C,H,W]. */
typedef void (*pool_ref_fn)(double *y, const double *x, const pool_case *p);

/* x and r (the output gradient, dy) uniform in [-1, 1) from the given
 * seeds, as floats, doubles and tensors; ty and tdx start zeroed. */
typedef struct pool_problem {
    const pool_case *p;
    size_t nx, ny;
    float *x, *r;
    double *xd, *rd;
    rlkd_tensor *tx, *ty, *tdy, *tdx;
} pool_problem;

static inline pool_problem pool_problem_make(const pool_case *p,
                                             uint64_t x_seed, uint64_t r_seed)
{
    pool_problem pb = {p, in_count(p), out_count(p), NULL, NULL, NULL, NULL,
                       NULL, NULL, NULL, NULL};
    pb.x = malloc(pb.nx * sizeof *pb.x);
    pb.r = malloc(pb.ny * sizeof *pb.r);
    test_fill_uniform(pb.x, pb.nx, -1.0f, 1.0f, x_seed);
    test_fill_uniform(pb.r, pb.ny, -1.0f, 1.0f, r_seed);
    pb.xd = test_to_double(pb.x, pb.nx);
    pb.rd = test_to_double(pb.r, pb.ny);
    pb.tx = t_from(pb.x, p->n, p->c, p->h, p->w);
    pb.ty = t_new(p->n, p->c, out_h(p), out_w(p));
    pb.tdy = t_from(pb.r, p->n, p->c, out_h(p), out_w(p));
    pb.tdx = t_new(p->n, p->c, p->h, p->w);
    return pb;
}

static inline void pool_problem_free(pool_problem *pb)
{
    free(pb->x); free(pb->r); free(pb->xd); free(pb->rd);
    rlkd_tensor_destroy(pb->tx); rlkd_tensor_destroy(pb->ty);
    rlkd_tensor_destroy(pb->tdy); rlkd_tensor_destroy(pb->tdx);
}

/* loss = sum(r * ref(x)) in double, for finite differences over x. */
typedef struct pool_loss {
    double *x;
    const double *r;
    const pool_case *p;
    pool_ref_fn ref;
} pool_loss;

static inline double pool_loss_fn(void *arg)
{
    const pool_loss *l = arg;
    size_t count = out_count(l->p);
    double *y = malloc(count * sizeof *y), sum = 0;
    l->ref(y, l->x, l->p);
    for (size_t i = 0; i < count; i++)
        sum += l->r[i] * y[i];
    free(y);
    return sum;
}

/* Runs the op under test forward (tx into ty) and backward (tdy into tdx). */
typedef void (*pool_run_fn)(const pool_problem *pb);

/* A tensor large enough to go parallel: forward matches ref within
 * atol/rtol, and 1 thread and 4 give the same bits both ways. */
static inline void pool_check_thread_count(const pool_case *p,
                                           pool_ref_fn ref, pool_run_fn run,
                                           double atol, double rtol)
{
    pool_problem pb = pool_problem_make(p, 10, 11);
    float *y[2], *dx[2];
    const int threads[2] = {1, 4};
    int saved_threads;
    CHECK_OK(rlkd_context_get_num_threads(test_ctx, &saved_threads));
    for (int k = 0; k < 2; k++) {
        CHECK_OK(rlkd_context_set_num_threads(test_ctx, threads[k]));
        run(&pb);
        y[k] = t_get(pb.ty);
        dx[k] = t_get(pb.tdx);
    }
    CHECK_OK(rlkd_context_set_num_threads(test_ctx, saved_threads));
    double *want = malloc(pb.ny * sizeof *want);
    ref(want, pb.xd, p);
    test_close("large forward", y[1], want, pb.ny, atol, rtol);
    CHECK(memcmp(y[0], y[1], pb.ny * sizeof(float)) == 0);
    CHECK(memcmp(dx[0], dx[1], pb.nx * sizeof(float)) == 0);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(dx[k]);
    }
    free(want);
    pool_problem_free(&pb);
}

#endif
