/*
 * Batch norm, max pooling and average pooling on the CUDA backend against
 * the CPU backend, on the same inputs: forward and backward, training and
 * inference, the running statistics after several steps, odd shapes, a
 * constant channel, max-pooling ties, NaN and infinities, and synchronised
 * batch norm's sum hook. Exits 77 (skipped) with a message when there is
 * no usable GPU. RLKD_GPU_TEST_LARGE=1 adds network-sized shapes (too slow
 * for the emulator).
 *
 * The sum hook is reached through the library's internal entries
 * (lib/ops/batchnorm2d.h: the network runner's), so this program links the
 * library's objects rather than the shared library (the Makefiles say so).
 * A fake hook stands in for the other ranks: it reads the sums through the
 * public tensor calls (device memory on a CUDA context) and changes them
 * the same way on both backends, which must then agree.
 */
#include "gpu_test.h"
#include "pool_test.h"

#include "../../lib/ops/batchnorm2d.h"

#include <math.h>
#include <string.h>

#define MOMENTUM 0.1f
#define EPS 1e-5f

/* ---- helpers ---- */

static void close_to_cpu(const char *prefix, const char *what,
                         const rlkd_tensor *on_gpu, const rlkd_tensor *on_cpu,
                         double atol, double rtol)
{
    char label[128];
    snprintf(label, sizeof label, "%s: %s", prefix, what);
    gpu_matches_cpu(label, on_gpu, on_cpu, atol, rtol);
}

static void same_bits(const char *prefix, const char *what,
                      const rlkd_tensor *on_gpu, const rlkd_tensor *on_cpu)
{
    char label[128];
    snprintf(label, sizeof label, "%s: %s", prefix, what);
    gpu_same_bits(label, on_gpu, on_cpu);
}

/* ---- the fake ranks of synchronised batch norm ---- */

/* Stands in for a data-parallel run: every sum s[k] the hook gets becomes
 * 2 s[k] + (k + 1) / 8, as if a second rank had added its own (and so
 * every mean, variance and count moves). Logs the calls' counts. */
typedef struct fake_ranks {
    rlkd_context *ctx;
    int calls, counts[8];
} fake_ranks;

static rlkd_status fake_sum(void *user, double *values, int count)
{
    fake_ranks *ranks = user;
    if (ranks->calls < 8)
        ranks->counts[ranks->calls] = count;
    ranks->calls++;
    /* The doubles as floats (2 a double): the public calls copy them out
     * and back bit for bit, from host or device memory alike. */
    rlkd_tensor *as_floats;
    const int64_t floats = 2 * (int64_t)count;
    rlkd_status status = rlkd_tensor_wrap(ranks->ctx, RLKD_DTYPE_F32, 1,
                                          &floats, values, &as_floats);
    if (status != RLKD_OK)
        return status;
    double *host = malloc((size_t)count * sizeof *host);
    if (!host)
        test_fatal("malloc");
    status = rlkd_tensor_read(as_floats, (float *)host, (size_t)floats);
    for (int k = 0; k < count; k++)
        host[k] = 2.0 * host[k] + (k + 1) / 8.0;
    if (status == RLKD_OK)
        status = rlkd_tensor_write(as_floats, (const float *)host,
                                   (size_t)floats);
    free(host);
    rlkd_tensor_destroy(as_floats);
    return status;
}

/* ---- batch norm ---- */

enum { BN_DX = 1, BN_DGAMMA = 2, BN_DBETA = 4, BN_ALL = 7 };

typedef struct bn_case {
    const char *name;
    int n, c, h, w;
    int training;
    int steps;            /* forward passes (new x each) before the backward */
    int constant_channel; /* -1, or a channel whose x is one value */
    int grads;            /* the backward's outputs: BN_DX | BN_DGAMMA ... */
    int hook;             /* through the fake ranks */
} bn_case;

/* One backend's tensors for a case. */
typedef struct bn_device {
    rlkd_context *ctx;
    fake_ranks ranks;
    rlkd_sum_hook hook;
    rlkd_tensor *x, *y, *gamma, *beta, *save_mean, *save_invstd;
    rlkd_tensor *running_mean, *running_var, *dy, *dx, *dgamma, *dbeta;
} bn_device;

static size_t bn_numel(const bn_case *k)
{
    return (size_t)k->n * k->c * k->h * k->w;
}

/* Step s's x: uniform in [-2, 3) (a mean away from 0), the constant
 * channel all 0.3. */
static float *bn_input(const bn_case *k, int step)
{
    float *x = uniform_floats(bn_numel(k), -2.0f, 3.0f, 100 + step);
    if (k->constant_channel >= 0) {
        const size_t hw = (size_t)k->h * k->w;
        for (int i = 0; i < k->n; i++)
            for (size_t j = 0; j < hw; j++)
                x[((size_t)i * k->c + k->constant_channel) * hw + j] = 0.3f;
    }
    return x;
}

static void bn_device_make(bn_device *d, rlkd_context *ctx, const bn_case *k)
{
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->ranks.ctx = ctx;
    d->hook = (rlkd_sum_hook){fake_sum, &d->ranks};
    const int n = k->n, c = k->c, h = k->h, w = k->w;
    float *gamma = uniform_floats(c, 0.5f, 1.5f, 1);
    float *beta = uniform_floats(c, -0.5f, 0.5f, 2);
    float *mean = uniform_floats(c, -0.2f, 0.2f, 3);
    float *var = uniform_floats(c, 0.5f, 1.5f, 4);
    float *dgamma = uniform_floats(c, -1.0f, 1.0f, 5);
    float *dbeta = uniform_floats(c, -1.0f, 1.0f, 6);
    float *dy = uniform_floats(bn_numel(k), -1.0f, 1.0f, 7);
    d->x = tensor_on(ctx, NULL, n, c, h, w);
    d->y = tensor_on(ctx, NULL, n, c, h, w);
    d->dy = tensor_on(ctx, dy, n, c, h, w);
    d->dx = tensor_on(ctx, NULL, n, c, h, w);
    d->gamma = tensor_on(ctx, gamma, c, 0, 0, 0);
    d->beta = tensor_on(ctx, beta, c, 0, 0, 0);
    d->running_mean = tensor_on(ctx, mean, c, 0, 0, 0);
    d->running_var = tensor_on(ctx, var, c, 0, 0, 0);
    d->save_mean = tensor_on(ctx, NULL, c, 0, 0, 0);
    d->save_invstd = tensor_on(ctx, NULL, c, 0, 0, 0);
    /* Non-zero: the parameter gradients accumulate. */
    d->dgamma = tensor_on(ctx, dgamma, c, 0, 0, 0);
    d->dbeta = tensor_on(ctx, dbeta, c, 0, 0, 0);
    free(gamma); free(beta); free(mean); free(var);
    free(dgamma); free(dbeta); free(dy);
}

static void bn_device_free(bn_device *d)
{
    rlkd_tensor *all[] = {d->x, d->y, d->gamma, d->beta, d->save_mean,
                          d->save_invstd, d->running_mean, d->running_var,
                          d->dy, d->dx, d->dgamma, d->dbeta};
    tensors_destroy(all, sizeof all / sizeof all[0]);
}

/* The case's forward steps then its backward, on d's backend. */
static void bn_run(bn_device *d, const bn_case *k)
{
    const rlkd_sum_hook *sync = k->hook ? &d->hook : NULL;
    for (int step = 0; step < k->steps; step++) {
        float *x = bn_input(k, step);
        CHECK_OK(rlkd_tensor_write(d->x, x, bn_numel(k)));
        free(x);
        CHECK_OK(rlkd_batchnorm2d_forward_sync(
            d->ctx, d->y, d->save_mean, d->save_invstd, d->running_mean,
            d->running_var, d->x, d->gamma, d->beta, k->training, MOMENTUM,
            EPS, sync));
    }
    CHECK_OK(rlkd_batchnorm2d_backward_sync(
        d->ctx, k->grads & BN_DX ? d->dx : NULL,
        k->grads & BN_DGAMMA ? d->dgamma : NULL,
        k->grads & BN_DBETA ? d->dbeta : NULL, d->dy, d->x, d->gamma,
        d->save_mean, d->save_invstd, k->training, sync));
}

/*
 * Tolerances, for a real GPU (the emulator has no fused multiply-add and
 * comes closer). The statistics are sums in double on both backends, in
 * different orders (the CPU's go through short float partials), so the
 * saved and running statistics agree to about a float rounding: rtol 1e-6.
 * y = x * scale + shift and dx = dy * a + (x - mean) * b + c are evaluated
 * with fused multiply-adds on the GPU: a few roundings of the largest term
 * (|x * scale| up to ~5, or ~500 in a constant channel, where invstd is
 * 1/sqrt(eps)): atol 1e-5 (1e-4 with a constant channel), rtol 1e-5.
 * dgamma and dbeta are sums of N*H*W terms of size ~1 rounded through the
 * CPU's float partials: atol 2e-6 per term summed.
 */
static void bn_compare(const bn_case *k, const bn_device *g,
                       const bn_device *c)
{
    const double atol = k->constant_channel >= 0 ? 1e-4 : 1e-5;
    const double sums_atol = 1e-5 + 2e-6 * k->n * k->h * k->w;
    close_to_cpu(k->name, "y", g->y, c->y, atol, 1e-5);
    close_to_cpu(k->name, "save_mean", g->save_mean, c->save_mean, 1e-7,
                 1e-6);
    close_to_cpu(k->name, "save_invstd", g->save_invstd, c->save_invstd, 0,
                 1e-6);
    close_to_cpu(k->name, "running_mean", g->running_mean, c->running_mean,
                 1e-7, 1e-6);
    close_to_cpu(k->name, "running_var", g->running_var, c->running_var, 0,
                 1e-6);
    close_to_cpu(k->name, "dx", g->dx, c->dx, atol, 1e-5);
    close_to_cpu(k->name, "dgamma", g->dgamma, c->dgamma, sums_atol, 1e-6);
    close_to_cpu(k->name, "dbeta", g->dbeta, c->dbeta, sums_atol, 1e-6);
}

/* The hook's calls on both backends: forward in training, the sums of x
 * and the count (C+1), then the squares (C); backward through the batch
 * statistics (training, with dx), the two sums and the count (2C+1). */
static void bn_check_calls(const bn_case *k, const fake_ranks *g,
                           const fake_ranks *c)
{
    int want[8], calls = 0;
    for (int step = 0; step < k->steps && k->training; step++) {
        want[calls++] = k->c + 1;
        want[calls++] = k->c;
    }
    if (k->training && (k->grads & BN_DX))
        want[calls++] = 2 * k->c + 1;
    CHECK_MSG(g->calls == calls && c->calls == calls,
              "%s: the hook was called %d times on the GPU, %d on the CPU, "
              "want %d", k->name, g->calls, c->calls, calls);
    for (int i = 0; i < calls && i < g->calls && i < c->calls; i++)
        CHECK_MSG(g->counts[i] == want[i] && c->counts[i] == want[i],
                  "%s: hook call %d summed %d values on the GPU, %d on the "
                  "CPU, want %d", k->name, i, g->counts[i], c->counts[i],
                  want[i]);
}

static void bn_check(const bn_case *k)
{
    bn_device g, c;
    bn_device_make(&g, gpu, k);
    bn_device_make(&c, test_ctx, k);
    bn_run(&g, k);
    bn_run(&c, k);
    bn_compare(k, &g, &c);
    if (k->hook)
        bn_check_calls(k, &g.ranks, &c.ranks);
    bn_device_free(&g);
    bn_device_free(&c);
}

static const bn_case bn_cases[] = {
    /* C not a multiple of 32; the running statistics after three steps. */
    {"bn/training", 4, 37, 5, 5, 1, 3, -1, BN_ALL, 0},
    {"bn/eval", 4, 37, 5, 5, 0, 1, -1, BN_ALL, 0},
    {"bn/n1", 1, 5, 6, 7, 1, 2, -1, BN_ALL, 0},
    {"bn/hw1", 9, 6, 1, 1, 1, 2, -1, BN_ALL, 0},
    {"bn/constant_channel", 3, 4, 4, 4, 1, 1, 2, BN_ALL, 0},
    /* Two chunks a channel: a sample's 1600 values span several
     * strides of a chunk's walk, and 25 values fit one stride many times. */
    {"bn/chunks_wide", 3, 2, 40, 40, 1, 1, -1, BN_ALL, 0},
    {"bn/chunks_narrow", 200, 2, 5, 5, 1, 1, -1, BN_ALL, 0},
    /* Optional outputs. */
    {"bn/dx_only", 4, 5, 3, 3, 1, 1, -1, BN_DX, 0},
    {"bn/params_only", 4, 5, 3, 3, 1, 1, -1, BN_DGAMMA | BN_DBETA, 0},
    {"bn/eval_dx_only", 4, 5, 3, 3, 0, 1, -1, BN_DX, 0},
    /* Synchronised: the fake ranks change every sum. */
    {"bn/sync", 3, 5, 4, 3, 1, 2, -1, BN_ALL, 1},
    {"bn/sync_chunks", 3, 2, 40, 40, 1, 1, -1, BN_ALL, 1},
    {"bn/sync_eval", 3, 5, 4, 3, 0, 1, -1, BN_ALL, 1},
    {"bn/sync_params_only", 3, 5, 4, 3, 1, 1, -1, BN_DGAMMA | BN_DBETA, 1},
};

static const bn_case bn_large_cases[] = {
    {"bn/large_56x56", 32, 64, 56, 56, 1, 2, 7, BN_ALL, 0},
    {"bn/large_7x7", 256, 512, 7, 7, 1, 2, -1, BN_ALL, 0},
    {"bn/large_sync", 64, 128, 14, 14, 1, 1, -1, BN_ALL, 1},
};

static void batchnorm_matches_cpu(void)
{
    for (size_t i = 0; i < sizeof bn_cases / sizeof bn_cases[0]; i++)
        bn_check(&bn_cases[i]);
}

/* The hook really changes the result: not a hook that is never called. */
static void batchnorm_sync_changes_statistics(void)
{
    bn_case k = bn_cases[0];
    bn_device plain, synced;
    k.steps = 1;
    bn_device_make(&plain, gpu, &k);
    bn_device_make(&synced, gpu, &k);
    bn_run(&plain, &k);
    k.hook = 1;
    bn_run(&synced, &k);
    CHECK(!test_same_values(plain.running_var, synced.running_var));
    CHECK(!test_same_values(plain.y, synced.y));
    CHECK(!test_same_values(plain.dx, synced.dx));
    bn_device_free(&plain);
    bn_device_free(&synced);
}

static void batchnorm_large(void)
{
    if (!gpu_large_tests()) {
        test_skip("set RLKD_GPU_TEST_LARGE=1 for network-sized shapes");
        return;
    }
    for (size_t i = 0; i < sizeof bn_large_cases / sizeof bn_large_cases[0];
         i++)
        bn_check(&bn_large_cases[i]);
}

/* ---- pooling ---- */

enum { POOL_MAX, POOL_AVG };
enum { VALUES_UNIFORM, VALUES_TIES, VALUES_SPECIAL };

typedef struct pool_gpu_case {
    const char *name;
    int kind;   /* POOL_MAX or POOL_AVG */
    int values; /* VALUES_UNIFORM, VALUES_TIES (four values only), or
                 * VALUES_SPECIAL (ties plus NaN and infinities) */
    pool_case p;
} pool_gpu_case;

static float *pool_input(const pool_gpu_case *k)
{
    const size_t n = in_count(&k->p);
    float *x = uniform_floats(n, -1.0f, 1.0f, 21);
    if (k->values != VALUES_UNIFORM)
        for (size_t i = 0; i < n; i++)
            x[i] = floorf(x[i] * 2.0f) / 2.0f;
    if (k->values == VALUES_SPECIAL)
        for (size_t i = 0; i < n; i += 7)
            x[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? -INFINITY : INFINITY;
    return x;
}

static void pool_run(rlkd_context *ctx, const pool_gpu_case *k,
                     const float *x, const float *dy, rlkd_tensor **y_out,
                     rlkd_tensor **dx_out)
{
    const pool_case *p = &k->p;
    rlkd_tensor *tx = tensor_on(ctx, x, p->n, p->c, p->h, p->w);
    rlkd_tensor *tdy = tensor_on(ctx, dy, p->n, p->c, out_h(p), out_w(p));
    rlkd_tensor *ty = tensor_on(ctx, NULL, p->n, p->c, out_h(p), out_w(p));
    /* Every element written: a stale one would show. */
    rlkd_tensor *tdx = tensor_on(ctx, x, p->n, p->c, p->h, p->w);
    if (k->kind == POOL_MAX) {
        CHECK_OK(rlkd_maxpool2d_forward(ctx, ty, tx, p->kernel_h, p->kernel_w,
                                        p->stride_h, p->stride_w, p->pad_h,
                                        p->pad_w));
        CHECK_OK(rlkd_maxpool2d_backward(ctx, tdx, tdy, tx, p->kernel_h,
                                         p->kernel_w, p->stride_h,
                                         p->stride_w, p->pad_h, p->pad_w));
    } else {
        CHECK_OK(rlkd_avgpool2d_forward(ctx, ty, tx, p->kernel_h, p->kernel_w,
                                        p->stride_h, p->stride_w, p->pad_h,
                                        p->pad_w, p->count_include_pad));
        CHECK_OK(rlkd_avgpool2d_backward(ctx, tdx, tdy, p->kernel_h,
                                         p->kernel_w, p->stride_h,
                                         p->stride_w, p->pad_h, p->pad_w,
                                         p->count_include_pad));
    }
    rlkd_tensor_destroy(tx);
    rlkd_tensor_destroy(tdy);
    *y_out = ty;
    *dx_out = tdx;
}

/* Bit for bit: both backends pick the same maxima (the first of equal
 * values, the last NaN) and add the same floats in the same order (a
 * window's values in row-major order; an input's gradients in the order of
 * the outputs), with no multiply-add to fuse. */
static void pool_check(const pool_gpu_case *k)
{
    float *x = pool_input(k);
    float *dy = uniform_floats(out_count(&k->p), -1.0f, 1.0f, 22);
    rlkd_tensor *gy, *gdx, *cy, *cdx;
    pool_run(gpu, k, x, dy, &gy, &gdx);
    pool_run(test_ctx, k, x, dy, &cy, &cdx);
    same_bits(k->name, "y", gy, cy);
    same_bits(k->name, "dx", gdx, cdx);
    rlkd_tensor_destroy(gy);
    rlkd_tensor_destroy(gdx);
    rlkd_tensor_destroy(cy);
    rlkd_tensor_destroy(cdx);
    free(x);
    free(dy);
}

/* n, c, h, w, kernel h/w, stride h/w, pad h/w, count_include_pad */
static const pool_gpu_case pool_cases[] = {
    {"maxpool/2x2_s2", POOL_MAX, VALUES_UNIFORM, {2, 3, 6, 8, 2, 2, 2, 2, 0, 0, 0}},
    {"maxpool/3x3_s2_p1", POOL_MAX, VALUES_UNIFORM, {2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 0}},
    {"maxpool/3x3_s1_p1_ties", POOL_MAX, VALUES_TIES, {2, 2, 6, 5, 3, 3, 1, 1, 1, 1, 0}},
    {"maxpool/2x2_s1_ties", POOL_MAX, VALUES_TIES, {1, 3, 5, 7, 2, 2, 1, 1, 0, 0, 0}},
    {"maxpool/3x2_s2x1_p1x0", POOL_MAX, VALUES_UNIFORM, {2, 2, 7, 5, 3, 2, 2, 1, 1, 0, 0}},
    {"maxpool/2x2_s3_gaps", POOL_MAX, VALUES_UNIFORM, {1, 2, 8, 7, 2, 2, 3, 3, 0, 0, 0}},
    {"maxpool/3x3_s2_p1_special", POOL_MAX, VALUES_SPECIAL, {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0}},
    {"avgpool/2x2_s2", POOL_AVG, VALUES_UNIFORM, {2, 3, 6, 8, 2, 2, 2, 2, 0, 0, 0}},
    {"avgpool/3x3_s2_p1_excl", POOL_AVG, VALUES_UNIFORM, {2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 0}},
    {"avgpool/3x3_s2_p1_incl", POOL_AVG, VALUES_UNIFORM, {2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 1}},
    {"avgpool/3x3_s1_p1_incl", POOL_AVG, VALUES_UNIFORM, {1, 2, 5, 6, 3, 3, 1, 1, 1, 1, 1}},
    {"avgpool/3x2_s2x1_p1x0_excl", POOL_AVG, VALUES_UNIFORM, {2, 2, 7, 5, 3, 2, 2, 1, 1, 0, 0}},
    {"avgpool/2x3_s1x2_p1x1_incl", POOL_AVG, VALUES_UNIFORM, {1, 2, 6, 9, 2, 3, 1, 2, 1, 1, 1}},
    {"avgpool/2x2_s3_gaps", POOL_AVG, VALUES_UNIFORM, {1, 2, 8, 7, 2, 2, 3, 3, 0, 0, 0}},
};

static const pool_gpu_case pool_large_cases[] = {
    {"maxpool/large_3x3_s2_p1", POOL_MAX, VALUES_UNIFORM, {32, 64, 112, 112, 3, 3, 2, 2, 1, 1, 0}},
    {"maxpool/large_2x2_s2", POOL_MAX, VALUES_TIES, {64, 128, 56, 56, 2, 2, 2, 2, 0, 0, 0}},
    {"avgpool/large_2x2_s2", POOL_AVG, VALUES_UNIFORM, {64, 256, 28, 28, 2, 2, 2, 2, 0, 0, 0}},
    {"avgpool/large_3x3_s1_p1", POOL_AVG, VALUES_UNIFORM, {32, 128, 28, 28, 3, 3, 1, 1, 1, 1, 1}},
};

static void pooling_matches_cpu(void)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
        pool_check(&pool_cases[i]);
}

static void pooling_large(void)
{
    if (!gpu_large_tests()) {
        test_skip("set RLKD_GPU_TEST_LARGE=1 for network-sized shapes");
        return;
    }
    for (size_t i = 0;
         i < sizeof pool_large_cases / sizeof pool_large_cases[0]; i++)
        pool_check(&pool_large_cases[i]);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/norm_pool");
    test_run("gpu/batchnorm_matches_cpu", batchnorm_matches_cpu);
    test_run("gpu/batchnorm_sync_changes_statistics",
             batchnorm_sync_changes_statistics);
    test_run("gpu/pooling_matches_cpu", pooling_matches_cpu);
    test_run("gpu/batchnorm_large", batchnorm_large);
    test_run("gpu/pooling_large", pooling_large);
    return gpu_end();
}
