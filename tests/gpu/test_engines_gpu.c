/*
 * The CUDA backend's cuDNN and cuBLAS engines (RLKD_ENGINE_CUDNN) against
 * the CPU reference on the same inputs: convolutions over strides, padding,
 * groups (depthwise included), 1x1 kernels and dilation, and linear layers,
 * forward and backward, each gradient alone and all together (dw and dbias
 * accumulate into what they held). Both sides compute in float32, so they
 * agree to float rounding: relative 1e-4.
 * Exits 77 (skipped) with a message where there is no CUDA context or the
 * build has no cuDNN and cuBLAS.
 */
#include "gpu_test.h"

#define ATOL 1e-4
#define RTOL 1e-4

/* A CPU tensor of uniform numbers in [-1, 1). */
static rlkd_tensor *random_tensor(int64_t d0, int64_t d1, int64_t d2,
                                  int64_t d3, uint64_t seed)
{
    int64_t count = d0 * (d1 ? d1 : 1) * (d2 ? d2 : 1) * (d3 ? d3 : 1);
    float *data = malloc((size_t)count * sizeof *data);
    if (!data)
        test_fatal("malloc");
    test_fill_uniform(data, (size_t)count, -1.0f, 1.0f, seed);
    rlkd_tensor *t = t_from(data, d0, d1, d2, d3);
    free(data);
    return t;
}

/* The same tensor on the CPU and on the GPU. */
typedef struct {
    rlkd_tensor *cpu, *gpu;
} pair;

static pair pair_random(int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                        uint64_t seed)
{
    pair p = {random_tensor(d0, d1, d2, d3, seed), NULL};
    p.gpu = g_copy(p.cpu);
    return p;
}

static void pairs_destroy(pair *pairs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        rlkd_tensor_destroy(pairs[i].cpu);
        rlkd_tensor_destroy(pairs[i].gpu);
    }
}

static int pair_matches(const char *what, pair p)
{
    return gpu_matches_cpu(what, p.gpu, p.cpu, ATOL, RTOL);
}

typedef struct {
    const char *name;
    int n, in_c, in_h, in_w, out_c, kernel_h, kernel_w;
    int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
} conv_case;

static const conv_case conv_cases[] = {
    {"3x3 pad 1", 2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 stride 2 pad 1", 3, 4, 8, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"depthwise 3x3", 2, 6, 7, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6},
    {"1x1", 2, 8, 6, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"3x3 dilation 2", 2, 3, 10, 10, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1},
    {"3x1 groups 2 stride 2x1", 2, 4, 9, 6, 6, 3, 1, 2, 1, 1, 0, 1, 1, 2},
    {"7x7 stride 2 pad 3 (a stem)", 2, 3, 20, 20, 8, 7, 7, 2, 2, 3, 3, 1, 1,
     1},
    {"3x3 wide", 2, 32, 8, 8, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1},
};

/* Runs what is given (NULL: left out) on one context. */
static void conv_backward_on(rlkd_context *ctx, rlkd_tensor *dx,
                             rlkd_tensor *dw, rlkd_tensor *dbias,
                             const rlkd_tensor *dy, const rlkd_tensor *x,
                             const rlkd_tensor *w, const conv_case *c)
{
    CHECK_OK(rlkd_conv2d_backward(ctx, dx, dw, dbias, dy, x, w, c->stride_h,
                                  c->stride_w, c->pad_h, c->pad_w,
                                  c->dilation_h, c->dilation_w, c->groups));
}

static void conv_forward_on(rlkd_context *ctx, rlkd_tensor *y,
                            const rlkd_tensor *x, const rlkd_tensor *w,
                            const rlkd_tensor *bias, const conv_case *c)
{
    CHECK_OK(rlkd_conv2d_forward(ctx, y, x, w, bias, c->stride_h, c->stride_w,
                                 c->pad_h, c->pad_w, c->dilation_h,
                                 c->dilation_w, c->groups));
}

static void check_conv(const conv_case *c)
{
    int64_t out_h, out_w;
    test_must(rlkd_window_output_size(&out_h, c->in_h, c->kernel_h,
                                      c->stride_h, c->pad_h, c->dilation_h),
              "rlkd_window_output_size");
    test_must(rlkd_window_output_size(&out_w, c->in_w, c->kernel_w,
                                      c->stride_w, c->pad_w, c->dilation_w),
              "rlkd_window_output_size");
    pair x = pair_random(c->n, c->in_c, c->in_h, c->in_w, 1);
    pair w = pair_random(c->out_c, c->in_c / c->groups, c->kernel_h,
                         c->kernel_w, 2);
    pair bias = pair_random(c->out_c, 0, 0, 0, 3);
    pair dy = pair_random(c->n, c->out_c, out_h, out_w, 4);
    pair y = pair_random(c->n, c->out_c, out_h, out_w, 5);
    pair dx = pair_random(c->n, c->in_c, c->in_h, c->in_w, 6);
    pair dw = pair_random(c->out_c, c->in_c / c->groups, c->kernel_h,
                          c->kernel_w, 7);
    pair dbias = pair_random(c->out_c, 0, 0, 0, 8);
    char what[160];

    conv_forward_on(test_ctx, y.cpu, x.cpu, w.cpu, bias.cpu, c);
    conv_forward_on(gpu, y.gpu, x.gpu, w.gpu, bias.gpu, c);
    snprintf(what, sizeof what, "%s: y with bias", c->name);
    pair_matches(what, y);
    conv_forward_on(test_ctx, y.cpu, x.cpu, w.cpu, NULL, c);
    conv_forward_on(gpu, y.gpu, x.gpu, w.gpu, NULL, c);
    snprintf(what, sizeof what, "%s: y without bias", c->name);
    pair_matches(what, y);

    /* Each gradient alone, then all three (dw, dbias accumulating again). */
    conv_backward_on(test_ctx, dx.cpu, NULL, NULL, dy.cpu, x.cpu, w.cpu, c);
    conv_backward_on(gpu, dx.gpu, NULL, NULL, dy.gpu, x.gpu, w.gpu, c);
    conv_backward_on(test_ctx, NULL, dw.cpu, NULL, dy.cpu, x.cpu, w.cpu, c);
    conv_backward_on(gpu, NULL, dw.gpu, NULL, dy.gpu, x.gpu, w.gpu, c);
    conv_backward_on(test_ctx, NULL, NULL, dbias.cpu, dy.cpu, x.cpu, w.cpu, c);
    conv_backward_on(gpu, NULL, NULL, dbias.gpu, dy.gpu, x.gpu, w.gpu, c);
    conv_backward_on(test_ctx, dx.cpu, dw.cpu, dbias.cpu, dy.cpu, x.cpu,
                     w.cpu, c);
    conv_backward_on(gpu, dx.gpu, dw.gpu, dbias.gpu, dy.gpu, x.gpu, w.gpu, c);
    snprintf(what, sizeof what, "%s: dx", c->name);
    pair_matches(what, dx);
    snprintf(what, sizeof what, "%s: dw", c->name);
    pair_matches(what, dw);
    snprintf(what, sizeof what, "%s: dbias", c->name);
    pair_matches(what, dbias);

    pair all[] = {x, w, bias, dy, y, dx, dw, dbias};
    pairs_destroy(all, sizeof all / sizeof *all);
}

static void conv2d_matches_cpu(void)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
        check_conv(&conv_cases[i]);
    /* Again: the plans now come from the context's cache. */
    check_conv(&conv_cases[0]);
}

static void check_linear(int n, int in_features, int out_features)
{
    pair x = pair_random(n, in_features, 0, 0, 11);
    pair w = pair_random(out_features, in_features, 0, 0, 12);
    pair bias = pair_random(out_features, 0, 0, 0, 13);
    pair dy = pair_random(n, out_features, 0, 0, 14);
    pair y = pair_random(n, out_features, 0, 0, 15);
    pair dx = pair_random(n, in_features, 0, 0, 16);
    pair dw = pair_random(out_features, in_features, 0, 0, 17);
    pair dbias = pair_random(out_features, 0, 0, 0, 18);
    char what[120];

    CHECK_OK(rlkd_linear_forward(test_ctx, y.cpu, x.cpu, w.cpu, bias.cpu));
    CHECK_OK(rlkd_linear_forward(gpu, y.gpu, x.gpu, w.gpu, bias.gpu));
    snprintf(what, sizeof what, "linear %dx%d->%d: y with bias", n,
             in_features, out_features);
    pair_matches(what, y);
    CHECK_OK(rlkd_linear_forward(test_ctx, y.cpu, x.cpu, w.cpu, NULL));
    CHECK_OK(rlkd_linear_forward(gpu, y.gpu, x.gpu, w.gpu, NULL));
    snprintf(what, sizeof what, "linear %dx%d->%d: y without bias", n,
             in_features, out_features);
    pair_matches(what, y);

    CHECK_OK(rlkd_linear_backward(test_ctx, dx.cpu, NULL, NULL, dy.cpu, x.cpu,
                                  w.cpu));
    CHECK_OK(rlkd_linear_backward(gpu, dx.gpu, NULL, NULL, dy.gpu, x.gpu,
                                  w.gpu));
    CHECK_OK(rlkd_linear_backward(test_ctx, NULL, dw.cpu, dbias.cpu, dy.cpu,
                                  x.cpu, w.cpu));
    CHECK_OK(rlkd_linear_backward(gpu, NULL, dw.gpu, dbias.gpu, dy.gpu, x.gpu,
                                  w.gpu));
    CHECK_OK(rlkd_linear_backward(test_ctx, dx.cpu, dw.cpu, dbias.cpu, dy.cpu,
                                  x.cpu, w.cpu));
    CHECK_OK(rlkd_linear_backward(gpu, dx.gpu, dw.gpu, dbias.gpu, dy.gpu,
                                  x.gpu, w.gpu));
    snprintf(what, sizeof what, "linear %dx%d->%d: dx", n, in_features,
             out_features);
    pair_matches(what, dx);
    snprintf(what, sizeof what, "linear %dx%d->%d: dw", n, in_features,
             out_features);
    pair_matches(what, dw);
    snprintf(what, sizeof what, "linear %dx%d->%d: dbias", n, in_features,
             out_features);
    pair_matches(what, dbias);

    pair all[] = {x, w, bias, dy, y, dx, dw, dbias};
    pairs_destroy(all, sizeof all / sizeof *all);
}

/* Odd sizes; more outputs than one block of the bias gradient (32) and
 * more rows than its warps (8). */
static void linear_matches_cpu(void)
{
    check_linear(1, 5, 3);
    check_linear(7, 37, 19);
    check_linear(300, 50, 70);
}

static void engine_is_kept(void)
{
    rlkd_engine engine = RLKD_ENGINE_NATIVE;
    CHECK_OK(rlkd_context_get_engine(gpu, &engine));
    CHECK(engine == RLKD_ENGINE_CUDNN);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/engines");
    rlkd_status status = rlkd_context_set_engine(gpu, RLKD_ENGINE_CUDNN);
    if (status != RLKD_OK) {
        printf("SKIP gpu/engines: no cuDNN engine (%s: %s)\n",
               rlkd_status_string(status), rlkd_last_error());
        rlkd_context_destroy(gpu);
        test_main_end();
        return 77;
    }
    test_run("gpu/engines/conv2d_matches_cpu", conv2d_matches_cpu);
    test_run("gpu/engines/linear_matches_cpu", linear_matches_cpu);
    test_run("gpu/engines/engine_is_kept", engine_is_kept);
    return gpu_end();
}
