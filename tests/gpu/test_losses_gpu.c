/*
 * The CUDA loss kernels (kernels/kd_loss.cu, softmax_cross_entropy.cu)
 * against the CPU reference on the same inputs: loss and gradient from the
 * forward, the loss alone (NULL gradient), the backward's gradient scaled by
 * dloss (NULL loss); both layouts (a warp per row up to 1024 classes, a
 * block per row above), one class to 5000, one row to several blocks of
 * rows, temperatures 1 and 4, alpha 0, 0.5 and 1, label smoothing 0 and
 * 0.1, logits of +-80 and -inf. The loss must also reproduce bit for bit.
 * Exits 77 (skipped) with a message when there is no usable GPU.
 *
 * Tolerances. The CPU sums exponentials and forms log-probabilities in
 * double; the GPU sums in float and forms a row's loss from its normalisers
 * in double. A float sum of k terms is off by about k^(1/2) ulps, and a
 * row's loss (KL and cross-entropy both come out as differences of
 * log-sum-exps of size up to max|logit| / T + log k) by a few ulps of that
 * size. So the loss is compared with
 *   atol = 1e-6 * (1 + alpha T^2 + (1 - alpha)) * (max|logit| / T + log k + 1),
 *   rtol = 1e-5.
 * A gradient element is scale * (probability - probability or target),
 * each probability an expf with a few ulps of error relative to 1, so
 *   atol = 1e-6 * (|KL scale| + |CE scale|), rtol = 1e-5,
 * with the scales alpha T dloss / n and (1 - alpha) dloss / n.
 *
 * Kept small for the emulator (tests/emu, ~1 us per thread switch);
 * RLKD_GPU_TEST_LARGE=1 adds bigger shapes.
 */
#include "gpu_test.h"

#include <math.h>
#include <string.h>

static float scalar(const rlkd_tensor *t)
{
    float *data = t_get(t), value = data[0];
    free(data);
    return value;
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* n x k logits in [-spread, spread); with `extreme`, every third one is
 * +80 or -80 in turn (exp(80) overflows a float unless the largest logit
 * is factored out first). */
static float *logits(int n, int k, float spread, uint64_t seed, int extreme)
{
    size_t count = (size_t)n * k;
    float *x = uniform_floats(count, -spread, spread, seed);
    if (extreme)
        for (size_t i = 0; i < count; i += 3)
            x[i] = i % 2 ? -80.0f : 80.0f;
    return x;
}

static int32_t *labels_for(int n, int k, uint64_t seed)
{
    int32_t *y = malloc((size_t)n * sizeof *y);
    if (!y)
        test_fatal("malloc");
    for (int i = 0; i < n; i++)
        y[i] = (int32_t)((i * 7 + (int)seed) % k);
    return y;
}

static float max_abs(const float *x, size_t count)
{
    float m = 0.0f;
    for (size_t i = 0; i < count; i++)
        if (isfinite(x[i]) && fabsf(x[i]) > m)
            m = fabsf(x[i]);
    return m;
}

static double loss_atol(double loss_weight, const float *a, const float *b,
                        int n, int k, double temperature)
{
    size_t count = (size_t)n * k;
    double range = fmax(max_abs(a, count), b ? max_abs(b, count) : 0.0);
    return 1e-6 * (1.0 + loss_weight) * (range / temperature + log(k) + 1.0);
}

static const float dloss = 0.37f;

/* A loss's outputs on both devices: the loss, the forward's gradient and
 * the backward's, and on the GPU the loss of a forward without the
 * gradient. */
typedef struct loss_outputs {
    rlkd_tensor *cpu_loss, *gpu_loss, *gpu_loss_alone;
    rlkd_tensor *cpu_grad, *gpu_grad, *cpu_back, *gpu_back;
} loss_outputs;

static loss_outputs loss_outputs_new(int n, int k)
{
    loss_outputs o = {
        .cpu_loss = t_new(1, 0, 0, 0),
        .gpu_loss = g_new(1, 0, 0, 0),
        .gpu_loss_alone = g_new(1, 0, 0, 0),
        .cpu_grad = t_new(n, k, 0, 0),
        .gpu_grad = g_new(n, k, 0, 0),
        .cpu_back = t_new(n, k, 0, 0),
        .gpu_back = g_new(n, k, 0, 0),
    };
    return o;
}

/* The GPU's loss against the CPU's (loss_atol, rtol 1e-5) and the same bits
 * without the gradient (the same kernel); the gradients at grad_atol
 * (forward) and back_atol (backward), rtol 1e-5. */
static void loss_outputs_check(const char *what, const loss_outputs *o,
                               double loss_atol, double grad_atol,
                               double back_atol)
{
    float want = scalar(o->cpu_loss), got = scalar(o->gpu_loss);
    CHECK_MSG(fabs((double)got - want) <= loss_atol + 1e-5 * fabs(want),
              "%s: loss %.9g on the GPU, %.9g on the CPU (atol %g)", what,
              (double)got, (double)want, loss_atol);
    float alone = scalar(o->gpu_loss_alone);
    CHECK_MSG(same_bits(alone, got),
              "%s: loss without the gradient %.9g, with it %.9g", what,
              (double)alone, (double)got);
    char label[160];
    snprintf(label, sizeof label, "%s: forward gradient", what);
    gpu_matches_cpu(label, o->gpu_grad, o->cpu_grad, grad_atol, 1e-5);
    snprintf(label, sizeof label, "%s: backward gradient", what);
    gpu_matches_cpu(label, o->gpu_back, o->cpu_back, back_atol, 1e-5);
}

static void loss_outputs_free(loss_outputs *o)
{
    rlkd_tensor *all[] = {o->cpu_loss, o->gpu_loss, o->gpu_loss_alone,
                          o->cpu_grad, o->gpu_grad, o->cpu_back, o->gpu_back};
    tensors_destroy(all, sizeof all / sizeof all[0]);
}

/* ---- distillation ---- */

/* Forward (loss and gradient), forward (loss alone), backward (gradient
 * alone, times dloss) on both devices; labels may be NULL when alpha == 1. */
static void check_kd(const char *what, const float *s, const float *t,
                     const int32_t *y, int n, int k, float alpha, float T)
{
    rlkd_tensor *cs = t_from(s, n, k, 0, 0), *ct = t_from(t, n, k, 0, 0);
    rlkd_tensor *cy = y ? t_labels(y, n) : NULL;
    rlkd_tensor *gs = g_copy(cs), *gt = g_copy(ct);
    rlkd_tensor *gy = cy ? g_copy(cy) : NULL;
    loss_outputs o = loss_outputs_new(n, k);

    CHECK_OK(rlkd_kd_loss_forward(test_ctx, o.cpu_loss, o.cpu_grad, cs, ct,
                                  cy, alpha, T));
    CHECK_OK(rlkd_kd_loss_backward(test_ctx, o.cpu_back, cs, ct, cy, alpha, T,
                                   dloss));
    CHECK_OK(rlkd_kd_loss_forward(gpu, o.gpu_loss, o.gpu_grad, gs, gt, gy,
                                  alpha, T));
    CHECK_OK(rlkd_kd_loss_forward(gpu, o.gpu_loss_alone, NULL, gs, gt, gy,
                                  alpha, T));
    CHECK_OK(rlkd_kd_loss_backward(gpu, o.gpu_back, gs, gt, gy, alpha, T,
                                   dloss));

    const double atol = loss_atol(alpha * T * T + (1.0 - alpha), s, t, n, k, T);
    const double grad_atol = 1e-6 * (alpha * T + (1.0 - alpha)) / n;
    loss_outputs_check(what, &o, atol, grad_atol, grad_atol * dloss);

    loss_outputs_free(&o);
    rlkd_tensor *all[] = {cs, ct, cy, gs, gt, gy};
    tensors_destroy(all, sizeof all / sizeof all[0]);
}

/* Random student and teacher of n x k with labels, every alpha. */
static void kd_shape(int n, int k, float T, float spread, int extreme)
{
    float *s = logits(n, k, spread, 11 + (uint64_t)k, extreme);
    float *t = logits(n, k, spread, 23 + (uint64_t)n, extreme);
    int32_t *y = labels_for(n, k, 5);
    const float alphas[] = {0.0f, 0.5f, 1.0f};
    for (int a = 0; a < 3; a++) {
        char what[128];
        snprintf(what, sizeof what, "n %d k %d T %g alpha %g%s", n, k,
                 (double)T, (double)alphas[a], extreme ? " +-80" : "");
        check_kd(what, s, t, alphas[a] == 1.0f ? NULL : y, n, k, alphas[a],
                 T);
    }
    free(s);
    free(t);
    free(y);
}

static void kd_one_and_two_classes(void)
{
    kd_shape(3, 1, 1.0f, 3.0f, 0);
    kd_shape(5, 2, 4.0f, 3.0f, 0);
}

/* 37 rows: five blocks of eight rows, the last one partly empty. */
static void kd_warp_per_row(void)
{
    kd_shape(37, 10, 1.0f, 4.0f, 0);
    kd_shape(37, 10, 4.0f, 4.0f, 0);
    kd_shape(1, 10, 4.0f, 4.0f, 0);
    kd_shape(3, 1000, 4.0f, 6.0f, 0);
    if (gpu_large_tests()) {
        kd_shape(256, 100, 4.0f, 6.0f, 0);
        kd_shape(300, 1000, 1.0f, 6.0f, 0);
    }
}

static void kd_block_per_row(void)
{
    kd_shape(3, 5000, 4.0f, 6.0f, 0);
    kd_shape(2, 1025, 1.0f, 6.0f, 0);
    if (gpu_large_tests())
        kd_shape(64, 5000, 1.0f, 6.0f, 0);
}

static void kd_extreme_logits(void)
{
    kd_shape(9, 10, 1.0f, 4.0f, 1);
    kd_shape(9, 10, 4.0f, 4.0f, 1);
    kd_shape(2, 2000, 1.0f, 4.0f, 1);
}

/* A class that both the student and the teacher rule out (-inf) adds
 * nothing, as on the CPU: no inf - inf. */
static void kd_minus_infinity(void)
{
    enum { N = 2, K = 6 };
    float s[N * K] = {1, -INFINITY, 0.5f, 2, -1, 0, 3, 1, -INFINITY, 0, 0, 1};
    float t[N * K] = {2, -INFINITY, 1, 0, -2, 1, 0, 1, -INFINITY, 2, 1, 0};
    const int32_t y[N] = {3, 1};
    check_kd("-inf logits", s, t, y, N, K, 0.5f, 2.0f);
}

/* The loss of the same inputs has the same bits on every call. */
static void kd_reproducible(void)
{
    enum { N = 20, K = 30 };
    float *s = logits(N, K, 5.0f, 1, 0), *t = logits(N, K, 5.0f, 2, 0);
    int32_t *y = labels_for(N, K, 3);
    rlkd_tensor *gs = tensor_on(gpu, s, N, K, 0, 0);
    rlkd_tensor *gt = tensor_on(gpu, t, N, K, 0, 0);
    rlkd_tensor *cy = t_labels(y, N), *gy = g_copy(cy);
    rlkd_tensor *loss = g_new(1, 0, 0, 0);
    float first = 0.0f;
    for (int run = 0; run < 3; run++) {
        CHECK_OK(rlkd_kd_loss_forward(gpu, loss, NULL, gs, gt, gy, 0.7f,
                                      3.0f));
        float value = scalar(loss);
        if (run == 0)
            first = value;
        CHECK(same_bits(value, first));
    }
    free(s);
    free(t);
    free(y);
    rlkd_tensor_destroy(gs);
    rlkd_tensor_destroy(gt);
    rlkd_tensor_destroy(cy);
    rlkd_tensor_destroy(gy);
    rlkd_tensor_destroy(loss);
}

/* The device cannot refuse a label outside [0,k) without synchronising,
 * so its row makes the loss NaN (the CPU refuses it). */
static void kd_bad_label_gives_nan(void)
{
    const float s[4] = {1, 2, 3, 4}, t[4] = {4, 3, 2, 1};
    rlkd_tensor *gs = tensor_on(gpu, s, 2, 2, 0, 0);
    rlkd_tensor *gt = tensor_on(gpu, t, 2, 2, 0, 0);
    const int32_t bad[2] = {1, 2};
    rlkd_tensor *cy = t_labels(bad, 2), *gy = g_copy(cy);
    rlkd_tensor *loss = g_new(1, 0, 0, 0), *grad = g_new(2, 2, 0, 0);
    CHECK_OK(rlkd_kd_loss_forward(gpu, loss, grad, gs, gt, gy, 0.5f, 2.0f));
    CHECK(isnan(scalar(loss)));
    float *g = t_get(grad);
    CHECK(!isnan(g[0]) && !isnan(g[1]) && isnan(g[2]) && isnan(g[3]));
    free(g);
    rlkd_tensor *cs = t_from(s, 2, 2, 0, 0), *ct = t_from(t, 2, 2, 0, 0);
    rlkd_tensor *closs = t_new(1, 0, 0, 0);
    CHECK_FAILS(rlkd_kd_loss_forward(test_ctx, closs, NULL, cs, ct, cy, 0.5f,
                                     2.0f),
                RLKD_ERR_INVALID_ARGUMENT, "labels[1] = 2");
    rlkd_tensor *all[] = {gs, gt, cy, gy, loss, grad, cs, ct, closs};
    tensors_destroy(all, sizeof all / sizeof all[0]);
}

/* ---- cross-entropy ---- */

static void check_ce(const char *what, const float *x, const int32_t *y, int n,
                     int k, float smoothing)
{
    rlkd_tensor *cx = t_from(x, n, k, 0, 0), *cy = t_labels(y, n);
    rlkd_tensor *gx = g_copy(cx), *gy = g_copy(cy);
    loss_outputs o = loss_outputs_new(n, k);

    CHECK_OK(rlkd_softmax_cross_entropy_forward(test_ctx, o.cpu_loss,
                                                o.cpu_grad, cx, cy, smoothing));
    CHECK_OK(rlkd_softmax_cross_entropy_backward(test_ctx, o.cpu_back, cx, cy,
                                                 smoothing, dloss));
    CHECK_OK(rlkd_softmax_cross_entropy_forward(gpu, o.gpu_loss, o.gpu_grad,
                                                gx, gy, smoothing));
    CHECK_OK(rlkd_softmax_cross_entropy_forward(gpu, o.gpu_loss_alone, NULL,
                                                gx, gy, smoothing));
    CHECK_OK(rlkd_softmax_cross_entropy_backward(gpu, o.gpu_back, gx, gy,
                                                 smoothing, dloss));

    loss_outputs_check(what, &o, loss_atol(1.0, x, NULL, n, k, 1.0), 1e-6 / n,
                       1e-6 * dloss / n);

    loss_outputs_free(&o);
    rlkd_tensor *all[] = {cx, cy, gx, gy};
    tensors_destroy(all, sizeof all / sizeof all[0]);
}

static void ce_shape(int n, int k, float spread, int extreme)
{
    float *x = logits(n, k, spread, 31 + (uint64_t)k, extreme);
    int32_t *y = labels_for(n, k, 2);
    const float smoothings[] = {0.0f, 0.1f};
    for (int i = 0; i < 2; i++) {
        char what[128];
        snprintf(what, sizeof what, "n %d k %d smoothing %g%s", n, k,
                 (double)smoothings[i], extreme ? " +-80" : "");
        check_ce(what, x, y, n, k, smoothings[i]);
    }
    free(x);
    free(y);
}

static void ce_shapes(void)
{
    ce_shape(3, 1, 3.0f, 0);
    ce_shape(5, 2, 3.0f, 0);
    ce_shape(37, 10, 4.0f, 0);
    ce_shape(1, 10, 4.0f, 0);
    ce_shape(3, 1000, 6.0f, 0);
    ce_shape(3, 5000, 6.0f, 0);
    if (gpu_large_tests()) {
        ce_shape(256, 100, 6.0f, 0);
        ce_shape(300, 1000, 6.0f, 0);
        ce_shape(64, 5000, 6.0f, 0);
        /* 263 blocks: the mean's last pass strides over the partials */
        ce_shape(2100, 3, 2.0f, 0);
    }
}

static void ce_extreme_logits(void)
{
    ce_shape(9, 10, 4.0f, 1);
    ce_shape(2, 2000, 4.0f, 1);
}

/* A -inf logit off the label: exp(-inf) = 0 without smoothing, an infinite
 * loss with it (its target is then > 0), as on the CPU. */
static void ce_minus_infinity(void)
{
    const float x[6] = {1, -INFINITY, 2, 0, 1, -1};
    const int32_t y[2] = {0, 2};
    check_ce("-inf logit", x, y, 2, 3, 0.0f);
    rlkd_tensor *gx = tensor_on(gpu, x, 2, 3, 0, 0), *cy = t_labels(y, 2);
    rlkd_tensor *gy = g_copy(cy), *loss = g_new(1, 0, 0, 0);
    CHECK_OK(rlkd_softmax_cross_entropy_forward(gpu, loss, NULL, gx, gy, 0.1f));
    CHECK(isinf(scalar(loss)) && scalar(loss) > 0);
    rlkd_tensor_destroy(gx);
    rlkd_tensor_destroy(cy);
    rlkd_tensor_destroy(gy);
    rlkd_tensor_destroy(loss);
}

static void ce_bad_label_gives_nan(void)
{
    const float x[4] = {1, 2, 3, 4};
    const int32_t bad[2] = {-1, 0};
    rlkd_tensor *gx = tensor_on(gpu, x, 2, 2, 0, 0), *cy = t_labels(bad, 2);
    rlkd_tensor *gy = g_copy(cy), *loss = g_new(1, 0, 0, 0);
    rlkd_tensor *grad = g_new(2, 2, 0, 0);
    CHECK_OK(rlkd_softmax_cross_entropy_forward(gpu, loss, grad, gx, gy, 0.0f));
    CHECK(isnan(scalar(loss)));
    float *g = t_get(grad);
    CHECK(isnan(g[0]) && isnan(g[1]) && !isnan(g[2]) && !isnan(g[3]));
    free(g);
    rlkd_tensor_destroy(gx);
    rlkd_tensor_destroy(cy);
    rlkd_tensor_destroy(gy);
    rlkd_tensor_destroy(loss);
    rlkd_tensor_destroy(grad);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/losses");
    test_run("gpu/kd_one_and_two_classes", kd_one_and_two_classes);
    test_run("gpu/kd_warp_per_row", kd_warp_per_row);
    test_run("gpu/kd_block_per_row", kd_block_per_row);
    test_run("gpu/kd_extreme_logits", kd_extreme_logits);
    test_run("gpu/kd_minus_infinity", kd_minus_infinity);
    test_run("gpu/kd_reproducible", kd_reproducible);
    test_run("gpu/kd_bad_label_gives_nan", kd_bad_label_gives_nan);
    test_run("gpu/ce_shapes", ce_shapes);
    test_run("gpu/ce_extreme_logits", ce_extreme_logits);
    test_run("gpu/ce_minus_infinity", ce_minus_infinity);
    test_run("gpu/ce_bad_label_gives_nan", ce_bad_label_gives_nan);
    return gpu_end();
}
