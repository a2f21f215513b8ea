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

/* The same values on both devices, uniform in [-1, 1). */
static tensor_pair pair_random(int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                               uint64_t seed)
{
    return pair_uniform(d0, d1, d2, d3, -1.0f, 1.0f, seed);
}

/* The pair's GPU tensor against its CPU one, at this test's tolerance. */
static int pair_close(const char *what, const tensor_pair *p)
{
    return pair_matches(what, p, ATOL, RTOL);
}

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

static void check_conv(const conv_case *c)
{
    int64_t out_h, out_w;
    test_must(rlkd_window_output_size(&out_h, c->in_h, c->kernel_h,
                                      c->stride_h, c->pad_h, c->dilation_h),
              "rlkd_window_output_size");
    test_must(rlkd_window_output_size(&out_w, c->in_w, c->kernel_w,
                                      c->stride_w, c->pad_w, c->dilation_w),
              "rlkd_window_output_size");
    tensor_pair x = pair_random(c->n, c->in_c, c->in_h, c->in_w, 1);
    tensor_pair w = pair_random(c->out_c, c->in_c / c->groups, c->kernel_h,
                                c->kernel_w, 2);
    tensor_pair bias = pair_random(c->out_c, 0, 0, 0, 3);
    tensor_pair dy = pair_random(c->n, c->out_c, out_h, out_w, 4);
    tensor_pair y = pair_random(c->n, c->out_c, out_h, out_w, 5);
    tensor_pair dx = pair_random(c->n, c->in_c, c->in_h, c->in_w, 6);
    tensor_pair dw = pair_random(c->out_c, c->in_c / c->groups, c->kernel_h,
                                 c->kernel_w, 7);
    tensor_pair dbias = pair_random(c->out_c, 0, 0, 0, 8);
    char what[160];

    CHECK_OK(conv_case_forward(test_ctx, c, y.cpu, x.cpu, w.cpu, bias.cpu));
    CHECK_OK(conv_case_forward(gpu, c, y.gpu, x.gpu, w.gpu, bias.gpu));
    snprintf(what, sizeof what, "%s: y with bias", c->name);
    pair_close(what, &y);
    CHECK_OK(conv_case_forward(test_ctx, c, y.cpu, x.cpu, w.cpu, NULL));
    CHECK_OK(conv_case_forward(gpu, c, y.gpu, x.gpu, w.gpu, NULL));
    snprintf(what, sizeof what, "%s: y without bias", c->name);
    pair_close(what, &y);

    /* Each gradient alone, then all three (dw, dbias accumulating again). */
    CHECK_OK(conv_case_backward(test_ctx, c, dx.cpu, NULL, NULL, dy.cpu,
                                x.cpu, w.cpu));
    CHECK_OK(conv_case_backward(gpu, c, dx.gpu, NULL, NULL, dy.gpu, x.gpu,
                                w.gpu));
    CHECK_OK(conv_case_backward(test_ctx, c, NULL, dw.cpu, NULL, dy.cpu,
                                x.cpu, w.cpu));
    CHECK_OK(conv_case_backward(gpu, c, NULL, dw.gpu, NULL, dy.gpu, x.gpu,
                                w.gpu));
    CHECK_OK(conv_case_backward(test_ctx, c, NULL, NULL, dbias.cpu, dy.cpu,
                                x.cpu, w.cpu));
    CHECK_OK(conv_case_backward(gpu, c, NULL, NULL, dbias.gpu, dy.gpu, x.gpu,
                                w.gpu));
    CHECK_OK(conv_case_backward(test_ctx, c, dx.cpu, dw.cpu, dbias.cpu,
                                dy.cpu, x.cpu, w.cpu));
    CHECK_OK(conv_case_backward(gpu, c, dx.gpu, dw.gpu, dbias.gpu, dy.gpu,
                                x.gpu, w.gpu));
    snprintf(what, sizeof what, "%s: dx", c->name);
    pair_close(what, &dx);
    snprintf(what, sizeof what, "%s: dw", c->name);
    pair_close(what, &dw);
    snprintf(what, sizeof what, "%s: dbias", c->name);
    pair_close(what, &dbias);

    tensor_pair all[] = {x, w, bias, dy, y, dx, dw, dbias};
    pairs_free(all, sizeof all / sizeof *all);
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
    tensor_pair x = pair_random(n, in_features, 0, 0, 11);
    tensor_pair w = pair_random(out_features, in_features, 0, 0, 12);
    tensor_pair bias = pair_random(out_features, 0, 0, 0, 13);
    tensor_pair dy = pair_random(n, out_features, 0, 0, 14);
    tensor_pair y = pair_random(n, out_features, 0, 0, 15);
    tensor_pair dx = pair_random(n, in_features, 0, 0, 16);
    tensor_pair dw = pair_random(out_features, in_features, 0, 0, 17);
    tensor_pair dbias = pair_random(out_features, 0, 0, 0, 18);
    char what[120];

    CHECK_OK(rlkd_linear_forward(test_ctx, y.cpu, x.cpu, w.cpu, bias.cpu));
    CHECK_OK(rlkd_linear_forward(gpu, y.gpu, x.gpu, w.gpu, bias.gpu));
    snprintf(what, sizeof what, "linear %dx%d->%d: y with bias", n,
             in_features, out_features);
    pair_close(what, &y);
    CHECK_OK(rlkd_linear_forward(test_ctx, y.cpu, x.cpu, w.cpu, NULL));
    CHECK_OK(rlkd_linear_forward(gpu, y.gpu, x.gpu, w.gpu, NULL));
    snprintf(what, sizeof what, "linear %dx%d->%d: y without bias", n,
             in_features, out_features);
    pair_close(what, &y);

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
    pair_close(what, &dx);
    snprintf(what, sizeof what, "linear %dx%d->%d: dw", n, in_features,
             out_features);
    pair_close(what, &dw);
    snprintf(what, sizeof what, "linear %dx%d->%d: dbias", n, in_features,
             out_features);
    pair_close(what, &dbias);

    tensor_pair all[] = {x, w, bias, dy, y, dx, dw, dbias};
    pairs_free(all, sizeof all / sizeof *all);
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
