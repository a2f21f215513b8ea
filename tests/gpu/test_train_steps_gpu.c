/*
 * A small convolutional network assembled from the L1 ops — conv, batch
 * norm, ReLU, squeeze-and-excitation, max pooling, ECA, global average
 * pooling, linear, the distillation loss and SGD with momentum — trained
 * for a few steps on the CUDA context and on the CPU from the same weights,
 * batch and teacher logits: the losses of every step and the weights at the
 * end must agree. What the per-op tests cannot show: that the ops compose
 * (shapes, accumulating gradients, in-place updates, the order of a step)
 * on the device as on the host.
 */
#include "gpu_test.h"

#include <math.h>
#include <string.h>

enum { BATCH = 4, IN_C = 3, SIDE = 12, C1 = 8, C2 = 16, HIDDEN = 2,
       CLASSES = 10, STEPS = 3 };

#define LR 0.05f
#define MOMENTUM 0.9f
#define WEIGHT_DECAY 5e-4f
#define ALPHA 0.5f
#define TEMPERATURE 4.0f

/* Parameters in the order of `parameter_shapes`. */
enum { CONV1_W, CONV1_B, BN1_GAMMA, BN1_BETA, SE_W1, SE_B1, SE_W2, SE_B2,
       CONV2_W, BN2_GAMMA, BN2_BETA, ECA_W, FC_W, FC_B, PARAMETERS };

static const int64_t parameter_shapes[PARAMETERS][4] = {
    {C1, IN_C, 3, 3}, {C1}, {C1}, {C1}, {HIDDEN, C1}, {HIDDEN}, {C1, HIDDEN},
    {C1}, {C2, C1, 3, 3}, {C2}, {C2}, {3}, {CLASSES, C2}, {CLASSES}};

typedef struct net {
    rlkd_context *ctx;
    rlkd_tensor *param[PARAMETERS], *grad[PARAMETERS], *velocity[PARAMETERS];
    rlkd_tensor *bn1_mean, *bn1_var, *bn2_mean, *bn2_var;
    rlkd_tensor *bn1_save_mean, *bn1_save_invstd, *bn2_save_mean,
        *bn2_save_invstd;
    /* activations, forward order */
    rlkd_tensor *x, *conv1, *bn1, *relu1, *se, *pool, *conv2, *bn2, *relu2,
        *eca, *gap, *logits, *teacher, *labels, *loss;
    /* gradients of the activations, reused where shapes agree */
    rlkd_tensor *dlogits, *dgap, *d_c2, *d_c2_b, *d_pool, *d_c1, *d_c1_b;
} net;

/* Parameter p's shape in zeros on ctx. */
static rlkd_tensor *parameter_tensor(rlkd_context *ctx, int p)
{
    const int64_t *shape = parameter_shapes[p];
    return tensor_on(ctx, NULL, shape[0], shape[1], shape[2], shape[3]);
}

/* Deterministic values for parameter p: what both devices start from. */
static void initial_values(int p, float *values, size_t n)
{
    switch (p) {
    case BN1_GAMMA:
    case BN2_GAMMA:
        test_fill_uniform(values, n, 0.8f, 1.2f, 100 + (uint64_t)p);
        break;
    default:
        test_fill_uniform(values, n, -0.3f, 0.3f, 100 + (uint64_t)p);
    }
}

static void write_values(rlkd_tensor *t, int p_seed, float lo, float hi)
{
    size_t n = (size_t)rlkd_tensor_numel(t);
    float *values = malloc(n * sizeof *values);
    if (!values)
        test_fatal("malloc");
    if (p_seed < 0)
        initial_values(-p_seed - 1, values, n);
    else
        test_fill_uniform(values, n, lo, hi, (uint64_t)p_seed);
    test_must(rlkd_tensor_write(t, values, n), "rlkd_tensor_write");
    free(values);
}

static void net_make(net *m, rlkd_context *ctx)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    for (int p = 0; p < PARAMETERS; p++) {
        m->param[p] = parameter_tensor(ctx, p);
        m->grad[p] = parameter_tensor(ctx, p);
        m->velocity[p] = parameter_tensor(ctx, p);
        write_values(m->param[p], -p - 1, 0, 0);
    }
    m->bn1_mean = tensor_on(ctx, NULL, C1, 0, 0, 0);
    m->bn1_var = tensor_on(ctx, NULL, C1, 0, 0, 0);
    m->bn2_mean = tensor_on(ctx, NULL, C2, 0, 0, 0);
    m->bn2_var = tensor_on(ctx, NULL, C2, 0, 0, 0);
    test_must(rlkd_tensor_fill(m->bn1_var, 1.0f), "fill");
    test_must(rlkd_tensor_fill(m->bn2_var, 1.0f), "fill");
    m->bn1_save_mean = tensor_on(ctx, NULL, C1, 0, 0, 0);
    m->bn1_save_invstd = tensor_on(ctx, NULL, C1, 0, 0, 0);
    m->bn2_save_mean = tensor_on(ctx, NULL, C2, 0, 0, 0);
    m->bn2_save_invstd = tensor_on(ctx, NULL, C2, 0, 0, 0);
    m->x = tensor_on(ctx, NULL, BATCH, IN_C, SIDE, SIDE);
    m->conv1 = tensor_on(ctx, NULL, BATCH, C1, SIDE, SIDE);
    m->bn1 = tensor_on(ctx, NULL, BATCH, C1, SIDE, SIDE);
    m->relu1 = tensor_on(ctx, NULL, BATCH, C1, SIDE, SIDE);
    m->se = tensor_on(ctx, NULL, BATCH, C1, SIDE, SIDE);
    m->pool = tensor_on(ctx, NULL, BATCH, C1, SIDE / 2, SIDE / 2);
    m->conv2 = tensor_on(ctx, NULL, BATCH, C2, SIDE / 2, SIDE / 2);
    m->bn2 = tensor_on(ctx, NULL, BATCH, C2, SIDE / 2, SIDE / 2);
    m->relu2 = tensor_on(ctx, NULL, BATCH, C2, SIDE / 2, SIDE / 2);
    m->eca = tensor_on(ctx, NULL, BATCH, C2, SIDE / 2, SIDE / 2);
    m->gap = tensor_on(ctx, NULL, BATCH, C2, 1, 1);
    m->logits = tensor_on(ctx, NULL, BATCH, CLASSES, 0, 0);
    m->teacher = tensor_on(ctx, NULL, BATCH, CLASSES, 0, 0);
    m->loss = tensor_on(ctx, NULL, 1, 0, 0, 0);
    m->dlogits = tensor_on(ctx, NULL, BATCH, CLASSES, 0, 0);
    m->dgap = tensor_on(ctx, NULL, BATCH, C2, 1, 1);
    m->d_c2 = tensor_on(ctx, NULL, BATCH, C2, SIDE / 2, SIDE / 2);
    m->d_c2_b = tensor_on(ctx, NULL, BATCH, C2, SIDE / 2, SIDE / 2);
    m->d_pool = tensor_on(ctx, NULL, BATCH, C1, SIDE / 2, SIDE / 2);
    m->d_c1 = tensor_on(ctx, NULL, BATCH, C1, SIDE, SIDE);
    m->d_c1_b = tensor_on(ctx, NULL, BATCH, C1, SIDE, SIDE);
    write_values(m->x, 7, -1.0f, 1.0f);
    write_values(m->teacher, 8, -3.0f, 3.0f);
    int32_t labels[BATCH];
    for (int i = 0; i < BATCH; i++)
        labels[i] = (i * 3) % CLASSES;
    int64_t n = BATCH;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, &n, &m->labels),
              "labels");
    test_must(rlkd_tensor_write_i32(m->labels, labels, BATCH), "labels");
}

static void net_free(net *m)
{
    rlkd_tensor *all[] = {
        m->bn1_mean, m->bn1_var, m->bn2_mean, m->bn2_var,
        m->bn1_save_mean, m->bn1_save_invstd, m->bn2_save_mean,
        m->bn2_save_invstd, m->x, m->conv1, m->bn1, m->relu1, m->se,
        m->pool, m->conv2, m->bn2, m->relu2, m->eca, m->gap,
        m->logits, m->teacher, m->labels, m->loss, m->dlogits, m->dgap,
        m->d_c2, m->d_c2_b, m->d_pool, m->d_c1, m->d_c1_b};
    tensors_destroy(all, sizeof all / sizeof all[0]);
    tensors_destroy(m->param, PARAMETERS);
    tensors_destroy(m->grad, PARAMETERS);
    tensors_destroy(m->velocity, PARAMETERS);
}

/* One training step; returns the step's loss (read back), NAN on failure. */
static float net_step(net *m)
{
    rlkd_context *c = m->ctx;
    rlkd_tensor **w = m->param, **g = m->grad;
    for (int p = 0; p < PARAMETERS; p++)
        if (!CHECK_OK(rlkd_tensor_fill(g[p], 0.0f)))
            return NAN;
    int ok =
        CHECK_OK(rlkd_conv2d_forward(c, m->conv1, m->x, w[CONV1_W],
                                     w[CONV1_B], 1, 1, 1, 1, 1, 1, 1)) &&
        CHECK_OK(rlkd_batchnorm2d_forward(
            c, m->bn1, m->bn1_save_mean, m->bn1_save_invstd, m->bn1_mean,
            m->bn1_var, m->conv1, w[BN1_GAMMA], w[BN1_BETA], 1, 0.1f,
            1e-5f)) &&
        CHECK_OK(rlkd_relu_forward(c, m->relu1, m->bn1)) &&
        CHECK_OK(rlkd_se_forward(c, m->se, m->relu1, w[SE_W1], w[SE_B1],
                                 w[SE_W2], w[SE_B2])) &&
        CHECK_OK(rlkd_maxpool2d_forward(c, m->pool, m->se, 2, 2, 2, 2, 0,
                                        0)) &&
        CHECK_OK(rlkd_conv2d_forward(c, m->conv2, m->pool, w[CONV2_W], NULL,
                                     1, 1, 1, 1, 1, 1, 1)) &&
        CHECK_OK(rlkd_batchnorm2d_forward(
            c, m->bn2, m->bn2_save_mean, m->bn2_save_invstd, m->bn2_mean,
            m->bn2_var, m->conv2, w[BN2_GAMMA], w[BN2_BETA], 1, 0.1f,
            1e-5f)) &&
        CHECK_OK(rlkd_relu_forward(c, m->relu2, m->bn2)) &&
        CHECK_OK(rlkd_eca_forward(c, m->eca, m->relu2, w[ECA_W])) &&
        CHECK_OK(rlkd_global_avgpool_forward(c, m->gap, m->eca)) &&
        CHECK_OK(rlkd_linear_forward(c, m->logits, m->gap, w[FC_W],
                                     w[FC_B])) &&
        CHECK_OK(rlkd_kd_loss_forward(c, m->loss, m->dlogits, m->logits,
                                      m->teacher, m->labels, ALPHA,
                                      TEMPERATURE)) &&
        /* backward, last layer first */
        CHECK_OK(rlkd_linear_backward(c, m->dgap, g[FC_W], g[FC_B],
                                      m->dlogits, m->gap, w[FC_W])) &&
        CHECK_OK(rlkd_global_avgpool_backward(c, m->d_c2, m->dgap)) &&
        CHECK_OK(rlkd_eca_backward(c, m->d_c2_b, g[ECA_W], m->d_c2,
                                   m->relu2, w[ECA_W])) &&
        CHECK_OK(rlkd_relu_backward(c, m->d_c2_b, m->d_c2_b, m->relu2)) &&
        CHECK_OK(rlkd_batchnorm2d_backward(
            c, m->d_c2, g[BN2_GAMMA], g[BN2_BETA], m->d_c2_b, m->conv2,
            w[BN2_GAMMA], m->bn2_save_mean, m->bn2_save_invstd, 1)) &&
        CHECK_OK(rlkd_conv2d_backward(c, m->d_pool, g[CONV2_W], NULL,
                                      m->d_c2, m->pool, w[CONV2_W], 1, 1, 1,
                                      1, 1, 1, 1)) &&
        CHECK_OK(rlkd_maxpool2d_backward(c, m->d_c1, m->d_pool, m->se, 2, 2,
                                         2, 2, 0, 0)) &&
        CHECK_OK(rlkd_se_backward(c, m->d_c1_b, g[SE_W1], g[SE_B1],
                                  g[SE_W2], g[SE_B2], m->d_c1, m->relu1,
                                  w[SE_W1], w[SE_B1], w[SE_W2], w[SE_B2])) &&
        CHECK_OK(rlkd_relu_backward(c, m->d_c1_b, m->d_c1_b, m->relu1)) &&
        CHECK_OK(rlkd_batchnorm2d_backward(
            c, m->d_c1, g[BN1_GAMMA], g[BN1_BETA], m->d_c1_b, m->conv1,
            w[BN1_GAMMA], m->bn1_save_mean, m->bn1_save_invstd, 1)) &&
        CHECK_OK(rlkd_conv2d_backward(c, NULL, g[CONV1_W], g[CONV1_B],
                                      m->d_c1, m->x, w[CONV1_W], 1, 1, 1, 1,
                                      1, 1, 1));
    for (int p = 0; ok && p < PARAMETERS; p++)
        ok = CHECK_OK(rlkd_sgd_step(c, w[p], m->velocity[p], g[p], LR,
                                    MOMENTUM, WEIGHT_DECAY, 0));
    float loss = NAN;
    if (ok)
        CHECK_OK(rlkd_tensor_read(m->loss, &loss, 1));
    return loss;
}

/* STEPS steps on the GPU (in `math`) and on the CPU; every step's loss
 * within loss_rtol, every weight within atol + rtol * |cpu| at the end. */
static void train_and_compare(const char *label, rlkd_math math,
                              double loss_rtol, double atol, double rtol)
{
    net on_gpu, on_cpu;
    CHECK_OK(rlkd_context_set_math(gpu, math));
    net_make(&on_gpu, gpu);
    net_make(&on_cpu, test_ctx);
    for (int step = 0; step < STEPS; step++) {
        float gpu_loss = net_step(&on_gpu), cpu_loss = net_step(&on_cpu);
        CHECK_MSG(isfinite(cpu_loss) && isfinite(gpu_loss) &&
                      fabsf(gpu_loss - cpu_loss) <=
                          loss_rtol * fabsf(cpu_loss),
                  "%s: step %d loss %.7g on the GPU, %.7g on the CPU", label,
                  step, gpu_loss, cpu_loss);
    }
    static const char *const names[PARAMETERS] = {
        "conv1.w", "conv1.b", "bn1.gamma", "bn1.beta", "se.w1", "se.b1",
        "se.w2", "se.b2", "conv2.w", "bn2.gamma", "bn2.beta", "eca.w",
        "fc.w", "fc.b"};
    char what[128];
    for (int p = 0; p < PARAMETERS; p++) {
        snprintf(what, sizeof what, "%s: %s after %d steps", label, names[p],
                 STEPS);
        gpu_matches_cpu(what, on_gpu.param[p], on_cpu.param[p], atol, rtol);
    }
    snprintf(what, sizeof what, "%s: bn2 running variance", label);
    gpu_matches_cpu(what, on_gpu.bn2_var, on_cpu.bn2_var, atol, rtol);
    net_free(&on_gpu);
    net_free(&on_cpu);
    CHECK_OK(rlkd_context_set_math(gpu, RLKD_MATH_FP32));
}

/* FP32: the two devices differ only in the order of float sums, which three
 * steps through two batch norms amplify to about 1e-5 relative. */
static void fp32_steps_match_cpu(void)
{
    train_and_compare("fp32", RLKD_MATH_FP32, 1e-4, 1e-5, 1e-3);
}

/* TF32 convolutions and linear layers (10-bit mantissas): the loss within
 * 1%, the weights within 1e-3 absolute (an SGD step moves them by ~1e-2). */
static void tf32_steps_track_cpu(void)
{
    train_and_compare("tf32", RLKD_MATH_TF32, 1e-2, 1e-3, 5e-2);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/train_steps");
    test_run("gpu/train_steps_fp32", fp32_steps_match_cpu);
    test_run("gpu/train_steps_tf32", tf32_steps_track_cpu);
    return gpu_end();
}
