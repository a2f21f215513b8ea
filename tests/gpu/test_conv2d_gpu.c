/*
 * The CUDA backend's native convolution and linear layer (kernels/conv2d.cu,
 * linear.cu) against the CPU backend on the same inputs: forward, data
 * gradient, filter and bias gradients (accumulated onto non-zero values),
 * in float32 and in TF32, over every path of the kernels: general, stride,
 * padding, dilation, groups, depthwise, 1x1 (a plain GEMM), 5x5 and 7x7,
 * 1xN and Nx1 kernels, strides that leave phases of the data gradient
 * without taps, odd sizes that leave partial tiles in every dimension,
 * split reductions, and backward with each output left out. Exits 77
 * (skipped) with a message when there is no usable GPU.
 *
 * Shapes are kept small for the CPU emulator of CUDA (tests/emu), where
 * every thread switch costs about a microsecond; RLKD_GPU_TEST_LARGE=1 adds
 * VGG-16 and ResNet-50 layer shapes for a real GPU.
 *
 * Tolerances, |gpu - cpu| <= atol + rtol |cpu|:
 *  - float32: atol 1e-5 sqrt(terms), rtol 1e-4, where terms is the length
 *    of the sums behind an output. Inputs are uniform in [-1, 1), so a sum
 *    of `terms` products has a size of about sqrt(terms) / 3, and both
 *    backends round each partial sum (in different orders, the CPU's
 *    Winograd 3x3 convolutions through transforms of their own): float's
 *    rounding error grows with about sqrt(terms) of eps (6e-8) times the
 *    partial sums, well below the bound.
 *  - TF32: atol 1e-2 max|cpu|, rtol 1e-2: TF32 keeps 10 of float's 23
 *    mantissa bits (rounded to nearest), so each product is off by up to
 *    about 1e-3 of itself; in a sum of random signs the errors add up to
 *    about 1e-3 of the result's typical size, ten times inside the bound.
 */
#include "gpu_test.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---- */

static const char *math_name(rlkd_math math)
{
    return math == RLKD_MATH_TF32 ? "tf32" : "fp32";
}

/* The GPU's output against the CPU's, with the tolerance of the math mode
 * for sums of `terms` products (see the top of this file). */
static void compare(const char *label, const char *what, rlkd_math math,
                    double terms, const rlkd_tensor *on_gpu,
                    const rlkd_tensor *on_cpu)
{
    char full[192];
    snprintf(full, sizeof full, "%s %s: %s", label, math_name(math), what);
    double atol = 1e-5 * sqrt(terms > 1 ? terms : 1), rtol = 1e-4;
    if (math == RLKD_MATH_TF32) {
        float *want = t_get(on_cpu);
        double largest = 0.0;
        for (int64_t i = 0; i < rlkd_tensor_numel(on_cpu); i++)
            largest = fmax(largest, fabs(want[i]));
        free(want);
        atol = 1e-2 * largest;
        rtol = 1e-2;
    }
    gpu_matches_cpu(full, on_gpu, on_cpu, atol, rtol);
}

/* Which of backward's outputs a run leaves out (NULL), and whether forward
 * has no bias. */
enum { NO_BIAS = 1, NO_DX = 2, NO_DW = 4, NO_DBIAS = 8 };

/* A tensor on ctx holding data, shaped as shape (0 for unused trailing
 * dims). */
static rlkd_tensor *shaped_on(rlkd_context *ctx, const float *data,
                              const int64_t shape[4])
{
    return tensor_on(ctx, data, shape[0], shape[1], shape[2], shape[3]);
}

/* ---- convolution ---- */

static int out_extent(int in, int kernel, int stride, int pad, int dilation)
{
    return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

/* A convolution's tensors on one device, made from the same host data. */
typedef struct conv_tensors {
    rlkd_tensor *x, *w, *bias, *y, *dy, *dx, *dw, *dbias;
} conv_tensors;

typedef struct conv_data {
    float *x, *w, *bias, *dy, *dw, *dbias;
    int64_t x_shape[4], w_shape[4], y_shape[4];
} conv_data;

static conv_data conv_data_of(const conv_case *c, uint64_t seed)
{
    const int out_h = out_extent(c->in_h, c->kernel_h, c->stride_h, c->pad_h,
                                 c->dilation_h);
    const int out_w = out_extent(c->in_w, c->kernel_w, c->stride_w, c->pad_w,
                                 c->dilation_w);
    conv_data d = {
        .x_shape = {c->n, c->in_c, c->in_h, c->in_w},
        .w_shape = {c->out_c, c->in_c / c->groups, c->kernel_h, c->kernel_w},
        .y_shape = {c->n, c->out_c, out_h, out_w},
    };
    const size_t x_count = (size_t)c->n * c->in_c * c->in_h * c->in_w;
    const size_t w_count = (size_t)c->out_c * (c->in_c / c->groups) *
                           c->kernel_h * c->kernel_w;
    const size_t y_count = (size_t)c->n * c->out_c * out_h * out_w;
    d.x = uniform_floats(x_count, -1, 1, seed);
    d.w = uniform_floats(w_count, -1, 1, seed + 1);
    d.bias = uniform_floats((size_t)c->out_c, -1, 1, seed + 2);
    d.dy = uniform_floats(y_count, -1, 1, seed + 3);
    /* Gradients accumulate: they start from values of their own. */
    d.dw = uniform_floats(w_count, -1, 1, seed + 4);
    d.dbias = uniform_floats((size_t)c->out_c, -1, 1, seed + 5);
    return d;
}

static void conv_data_free(conv_data *d)
{
    free(d->x);
    free(d->w);
    free(d->bias);
    free(d->dy);
    free(d->dw);
    free(d->dbias);
}

static conv_tensors conv_tensors_of(rlkd_context *ctx, const conv_data *d)
{
    const int64_t bias_shape[4] = {d->w_shape[0]};
    conv_tensors t = {
        .x = shaped_on(ctx, d->x, d->x_shape),
        .w = shaped_on(ctx, d->w, d->w_shape),
        .bias = shaped_on(ctx, d->bias, bias_shape),
        .dy = shaped_on(ctx, d->dy, d->y_shape),
        .dw = shaped_on(ctx, d->dw, d->w_shape),
        .dbias = shaped_on(ctx, d->dbias, bias_shape),
        .dx = shaped_on(ctx, d->x, d->x_shape),
        .y = shaped_on(ctx, d->dy, d->y_shape),
    };
    return t;
}

static void conv_tensors_free(conv_tensors *t)
{
    rlkd_tensor *all[] = {t->x, t->w, t->bias, t->y,
                          t->dy, t->dx, t->dw, t->dbias};
    tensors_destroy(all, sizeof all / sizeof *all);
}

static rlkd_status conv_forward(rlkd_context *ctx, const conv_case *c,
                                conv_tensors *t, unsigned omit)
{
    return conv_case_forward(ctx, c, t->y, t->x, t->w,
                             omit & NO_BIAS ? NULL : t->bias);
}

static rlkd_status conv_backward(rlkd_context *ctx, const conv_case *c,
                                 conv_tensors *t, unsigned omit)
{
    return conv_case_backward(ctx, c, omit & NO_DX ? NULL : t->dx,
                              omit & NO_DW ? NULL : t->dw,
                              omit & NO_DBIAS ? NULL : t->dbias, t->dy, t->x,
                              t->w);
}

/* Forward and backward of case c on both devices, compared; the outputs
 * left out must stay as they were. */
static void conv_matches_cpu(const conv_case *c, rlkd_math math,
                             unsigned omit, uint64_t seed)
{
    CHECK_OK(rlkd_context_set_math(gpu, math));
    conv_data d = conv_data_of(c, seed);
    conv_tensors cpu = conv_tensors_of(test_ctx, &d);
    conv_tensors dev = conv_tensors_of(gpu, &d);
    CHECK_OK(conv_forward(test_ctx, c, &cpu, omit));
    CHECK_OK(conv_forward(gpu, c, &dev, omit));
    CHECK_OK(conv_backward(test_ctx, c, &cpu, omit));
    CHECK_OK(conv_backward(gpu, c, &dev, omit));

    const double taps = (double)c->kernel_h * c->kernel_w;
    const double positions = (double)d.y_shape[0] * d.y_shape[2] * d.y_shape[3];
    compare(c->name, "y", math, c->in_c / c->groups * taps, dev.y, cpu.y);
    compare(c->name, "dx", math, c->out_c / c->groups * taps, dev.dx, cpu.dx);
    compare(c->name, "dw", math, positions, dev.dw, cpu.dw);
    compare(c->name, "dbias", math, positions, dev.dbias, cpu.dbias);
    /* A left-out output keeps its starting values (the same on both). */
    if (omit & NO_DX)
        CHECK(test_same_values(dev.dx, cpu.dx));
    if (omit & NO_DW)
        CHECK(test_same_values(dev.dw, cpu.dw));
    if (omit & NO_DBIAS)
        CHECK(test_same_values(dev.dbias, cpu.dbias));

    conv_tensors_free(&cpu);
    conv_tensors_free(&dev);
    conv_data_free(&d);
    CHECK_OK(rlkd_context_set_math(gpu, RLKD_MATH_FP32));
}

/* name, n, in_c, in_h, in_w, out_c, kernel h w, stride h w, pad h w,
 * dilation h w, groups */
static const conv_case conv_cases[] = {
    {"3x3", 2, 5, 9, 11, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3_stride2", 2, 6, 13, 10, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"3x3_dilation2", 2, 4, 11, 12, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1},
    {"3x3_groups2", 2, 6, 8, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {"3x3_groups3_stride2", 1, 9, 7, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3},
    {"depthwise_3x3", 2, 8, 9, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},
    {"depthwise_stride2_dilation2", 2, 5, 11, 9, 5, 3, 3, 2, 2, 2, 2, 2, 2,
     5},
    {"depthwise_5x5", 1, 4, 8, 8, 4, 5, 5, 1, 1, 2, 2, 1, 1, 4},
    {"1x1", 2, 40, 8, 8, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"1x1_stride2", 2, 12, 9, 10, 20, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {"1x1_padded", 1, 6, 5, 7, 9, 1, 1, 1, 1, 1, 2, 1, 1, 1},
    {"5x5", 2, 3, 12, 11, 8, 5, 5, 1, 1, 2, 2, 1, 1, 1},
    {"7x7_stride2", 1, 3, 19, 17, 16, 7, 7, 2, 2, 3, 3, 1, 1, 1},
    {"1x3", 2, 4, 6, 13, 5, 1, 3, 1, 1, 0, 1, 1, 1, 1},
    {"5x1_stride2x1", 2, 4, 13, 6, 5, 5, 1, 2, 1, 2, 0, 1, 1, 1},
    {"odd_partial_tiles", 3, 3, 10, 7, 67, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"n1_unpadded", 1, 7, 5, 6, 9, 3, 3, 1, 1, 0, 0, 1, 1, 1},
    {"2x2_stride3", 2, 5, 11, 10, 6, 2, 2, 3, 3, 0, 1, 1, 1, 1},
    {"3x3_stride2_dilation2", 2, 4, 12, 11, 5, 3, 3, 2, 2, 2, 2, 2, 2, 1},
    {"3x3_stride2_wide", 2, 70, 18, 17, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"pad_beyond_kernel", 1, 3, 5, 4, 4, 3, 3, 1, 2, 3, 2, 1, 1, 1},
    {"stride_beyond_image", 1, 3, 5, 6, 4, 2, 2, 7, 9, 0, 1, 1, 1, 1},
    {"multi_block_split_k", 2, 32, 12, 12, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"1x1_split_k", 2, 300, 4, 5, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1},
};

/* Network layer shapes (VGG-16, ResNet-50 and a depthwise layer) at small
 * batches: for a real GPU only. */
static const conv_case large_conv_cases[] = {
    {"vgg_64_56x56", 4, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"vgg_512_14x14", 8, 512, 14, 14, 512, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"resnet_stem", 2, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, 1, 1, 1},
    {"resnet_1x1_256_64", 8, 256, 56, 56, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"resnet_3x3_s2_256", 8, 256, 28, 28, 256, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"resnet_1x1_s2_1024", 4, 1024, 14, 14, 2048, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {"resnet_3x3_512_7x7", 16, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"depthwise_96_56x56", 4, 96, 56, 56, 96, 3, 3, 1, 1, 1, 1, 1, 1, 96},
};

static const conv_case *conv_case_named(const char *name)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
        if (strcmp(conv_cases[i].name, name) == 0)
            return &conv_cases[i];
    test_fatal(name);
    return NULL;
}

/* TF32 is used when asked for: its results differ from float32's by about
 * TF32's rounding, and stay within its tolerance. */
static void conv_tf32_rounds(void)
{
    const conv_case *c = conv_case_named("3x3");
    conv_data d = conv_data_of(c, 7);
    conv_tensors fp32 = conv_tensors_of(gpu, &d);
    conv_tensors tf32 = conv_tensors_of(gpu, &d);
    CHECK_OK(rlkd_context_set_math(gpu, RLKD_MATH_FP32));
    CHECK_OK(conv_forward(gpu, c, &fp32, 0));
    CHECK_OK(rlkd_context_set_math(gpu, RLKD_MATH_TF32));
    CHECK_OK(conv_forward(gpu, c, &tf32, 0));
    CHECK_OK(rlkd_context_set_math(gpu, RLKD_MATH_FP32));
    float *a = t_get(fp32.y), *b = t_get(tf32.y);
    double largest = 0.0;
    for (int64_t i = 0; i < rlkd_tensor_numel(fp32.y); i++)
        largest = fmax(largest, fabs((double)a[i] - b[i]));
    CHECK_MSG(largest > 1e-5 && largest < 5e-2,
              "TF32 against float32: largest difference %g, expected "
              "TF32's rounding (about 1e-3)", largest);
    free(a);
    free(b);
    conv_tensors_free(&fp32);
    conv_tensors_free(&tf32);
    conv_data_free(&d);
}

/* Split reductions are summed in a fixed order: the same bits every run. */
static void conv_repeats_bit_for_bit(void)
{
    const conv_case *c = conv_case_named("multi_block_split_k");
    conv_data d = conv_data_of(c, 9);
    conv_tensors first = conv_tensors_of(gpu, &d);
    conv_tensors second = conv_tensors_of(gpu, &d);
    CHECK_OK(conv_forward(gpu, c, &first, 0));
    CHECK_OK(conv_backward(gpu, c, &first, 0));
    CHECK_OK(conv_forward(gpu, c, &second, 0));
    CHECK_OK(conv_backward(gpu, c, &second, 0));
    CHECK(test_same_values(first.y, second.y));
    CHECK(test_same_values(first.dx, second.dx));
    CHECK(test_same_values(first.dw, second.dw));
    CHECK(test_same_values(first.dbias, second.dbias));
    conv_tensors_free(&first);
    conv_tensors_free(&second);
    conv_data_free(&d);
}

/* ---- linear ---- */

typedef struct linear_case {
    const char *name;
    int n, in_features, out_features;
} linear_case;

static const linear_case linear_cases[] = {
    {"1x1x1", 1, 1, 1},
    {"small_odd", 3, 17, 5},
    {"multi_block", 70, 130, 200},
    {"split_k_forward", 5, 300, 10},
    {"split_k_filter", 300, 12, 9},
    {"wide", 2, 40, 1000},
};

static const linear_case large_linear_cases[] = {
    {"vgg_fc6", 16, 25088, 4096},
    {"resnet_fc", 64, 2048, 1000},
};

/* x as [n, 2, in / 2] when in is even: linear flattens all but the first
 * dimension. */
static void linear_matches_cpu(const linear_case *c, rlkd_math math,
                               unsigned omit, uint64_t seed)
{
    CHECK_OK(rlkd_context_set_math(gpu, math));
    const int n = c->n, in = c->in_features, out = c->out_features;
    float *x = uniform_floats((size_t)n * in, -1, 1, seed);
    float *w = uniform_floats((size_t)out * in, -1, 1, seed + 1);
    float *bias = uniform_floats((size_t)out, -1, 1, seed + 2);
    float *dy = uniform_floats((size_t)n * out, -1, 1, seed + 3);
    float *dw = uniform_floats((size_t)out * in, -1, 1, seed + 4);
    float *dbias = uniform_floats((size_t)out, -1, 1, seed + 5);
    const int64_t x_shape[4] = {n, in % 2 ? in : 2, in % 2 ? 0 : in / 2};
    const int64_t w_shape[4] = {out, in}, y_shape[4] = {n, out};
    const int64_t b_shape[4] = {out};
    rlkd_tensor *t[2][8];
    for (int side = 0; side < 2; side++) {
        rlkd_context *ctx = side ? gpu : test_ctx;
        rlkd_tensor **s = t[side];
        s[0] = shaped_on(ctx, x, x_shape);
        s[1] = shaped_on(ctx, w, w_shape);
        s[2] = shaped_on(ctx, bias, b_shape);
        s[3] = shaped_on(ctx, dy, y_shape); /* y */
        s[4] = shaped_on(ctx, dy, y_shape); /* dy */
        s[5] = shaped_on(ctx, x, x_shape);  /* dx */
        s[6] = shaped_on(ctx, dw, w_shape);
        s[7] = shaped_on(ctx, dbias, b_shape);
        CHECK_OK(rlkd_linear_forward(ctx, s[3], s[0], s[1],
                                     omit & NO_BIAS ? NULL : s[2]));
        CHECK_OK(rlkd_linear_backward(ctx, omit & NO_DX ? NULL : s[5],
                                      omit & NO_DW ? NULL : s[6],
                                      omit & NO_DBIAS ? NULL : s[7], s[4], s[0],
                                      s[1]));
    }
    compare(c->name, "y", math, in, t[1][3], t[0][3]);
    compare(c->name, "dx", math, out, t[1][5], t[0][5]);
    compare(c->name, "dw", math, n, t[1][6], t[0][6]);
    compare(c->name, "dbias", math, n, t[1][7], t[0][7]);
    for (int side = 0; side < 2; side++)
        tensors_destroy(t[side], 8);
    free(x);
    free(w);
    free(bias);
    free(dy);
    free(dw);
    free(dbias);
    CHECK_OK(rlkd_context_set_math(gpu, RLKD_MATH_FP32));
}

/* test_run takes no arguments: the case to run is set just before, a
 * convolution's or a linear layer's (the other NULL). */
static const conv_case *current_conv;
static const linear_case *current_linear;
static rlkd_math current_math;
static unsigned current_omit;

static void run_current(void)
{
    if (current_conv)
        conv_matches_cpu(current_conv, current_math, current_omit,
                         (uint64_t)(current_conv - conv_cases) * 16 + 100);
    else
        linear_matches_cpu(current_linear, current_math, current_omit,
                           (uint64_t)(current_linear - linear_cases) * 16 +
                               900);
}

/* Runs convolution case conv or linear case linear as the test
 * gpu/<op>/<math>/<case><variant>. */
static void run_case(const conv_case *conv, const linear_case *linear,
                     rlkd_math math, unsigned omit, const char *variant)
{
    char name[128];
    snprintf(name, sizeof name, "gpu/%s/%s/%s%s",
             conv ? "conv2d" : "linear", math_name(math),
             conv ? conv->name : linear->name, variant);
    current_conv = conv;
    current_linear = linear;
    current_math = math;
    current_omit = omit;
    test_run(name, run_current);
}

static void large_shapes(void)
{
    if (!gpu_large_tests()) {
        test_skip("set RLKD_GPU_TEST_LARGE=1 for network-sized shapes");
        return;
    }
    const rlkd_math maths[2] = {RLKD_MATH_FP32, RLKD_MATH_TF32};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0;
             i < sizeof large_conv_cases / sizeof *large_conv_cases; i++)
            conv_matches_cpu(&large_conv_cases[i], maths[m], 0, 500 + i);
        for (size_t i = 0;
             i < sizeof large_linear_cases / sizeof *large_linear_cases; i++)
            linear_matches_cpu(&large_linear_cases[i], maths[m], 0, 700 + i);
    }
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/conv2d");
    const rlkd_math maths[2] = {RLKD_MATH_FP32, RLKD_MATH_TF32};
    const size_t conv_count = sizeof conv_cases / sizeof *conv_cases;
    const size_t linear_count = sizeof linear_cases / sizeof *linear_cases;
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < conv_count; i++)
            run_case(&conv_cases[i], NULL, maths[m], 0, "");
        for (size_t i = 0; i < linear_count; i++)
            run_case(NULL, &linear_cases[i], maths[m], 0, "");
    }
    /* Each output left out in turn, on a general, a depthwise and a 1x1
     * convolution. */
    const char *partial[3] = {"3x3_stride2", "depthwise_3x3", "1x1"};
    for (size_t i = 0; i < 3; i++) {
        const conv_case *c = conv_case_named(partial[i]);
        run_case(c, NULL, RLKD_MATH_FP32, NO_BIAS | NO_DX, "/no_bias_no_dx");
        run_case(c, NULL, RLKD_MATH_FP32, NO_DW, "/no_dw");
        run_case(c, NULL, RLKD_MATH_FP32, NO_DBIAS | NO_DW, "/dx_only");
    }
    const linear_case *multi_block = &linear_cases[2];
    const linear_case *small_odd = &linear_cases[1];
    run_case(NULL, multi_block, RLKD_MATH_FP32, NO_BIAS | NO_DX,
             "/no_bias_no_dx");
    run_case(NULL, multi_block, RLKD_MATH_FP32, NO_DW, "/no_dw");
    run_case(NULL, small_odd, RLKD_MATH_FP32, NO_DBIAS | NO_DW, "/dx_only");
    test_run("gpu/conv2d/tf32_rounds", conv_tf32_rounds);
    test_run("gpu/conv2d/repeats_bit_for_bit", conv_repeats_bit_for_bit);
    test_run("gpu/conv2d/large_shapes", large_shapes);
    return gpu_end();
}
