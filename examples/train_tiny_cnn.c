/*
 * A C trainer built from rlkd's L1 ops alone: the way an existing trainer
 * would use the library. It learns a synthetic task (is the bright blob in
 * the left or the right half of a 12x12 image?) with
 *   conv3x3(1->8) -> batchnorm -> relu -> maxpool2 -> conv3x3(8->16) -> relu
 *   -> global average pool -> linear(16->2) -> softmax cross-entropy
 * and SGD with Nesterov momentum, then reports test accuracy. It exits 0 only
 * if the network learned (test accuracy >= 90%), so `make test` runs it.
 *
 *   build/examples/train_tiny_cnn [epochs]
 */
#include <rlkd.h>

#include <stdio.h>
#include <stdlib.h>

#define BATCH 32
#define SIDE 12
#define CLASSES 2
#define STEPS_PER_EPOCH 20
#define TEST_BATCHES 8

#define TRY(call)                                                          \
    do {                                                                   \
        rlkd_status status_ = (call);                                      \
        if (status_ != RLKD_OK) {                                          \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__,        \
                    __LINE__, #call, rlkd_status_string(status_),          \
                    rlkd_last_error());                                    \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

static rlkd_context *ctx;

static rlkd_tensor *tensor(int ndim, int64_t d0, int64_t d1, int64_t d2,
                           int64_t d3)
{
    const int64_t shape[4] = {d0, d1, d2, d3};
    rlkd_tensor *t;
    TRY(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, ndim, shape, &t));
    return t;
}

/* A parameter, its gradient and its momentum buffer. */
typedef struct {
    rlkd_tensor *value, *grad, *momentum;
} param;

static param make_param(int ndim, int64_t d0, int64_t d1, int64_t d2,
                        int64_t d3, float init_std, float init_const)
{
    param p = {tensor(ndim, d0, d1, d2, d3), tensor(ndim, d0, d1, d2, d3),
               tensor(ndim, d0, d1, d2, d3)};
    if (init_std > 0)
        TRY(rlkd_tensor_fill_normal(p.value, 0.0f, init_std));
    else
        TRY(rlkd_tensor_fill(p.value, init_const));
    return p;
}

/* Blob images: class 0 has its blob in the left half, class 1 in the right. */
static void make_batch(float *images, int32_t *labels, unsigned *seed)
{
    for (int n = 0; n < BATCH; n++) {
        int label = rand_r(seed) % 2;
        int cy = 2 + rand_r(seed) % (SIDE - 4);
        int cx = (label ? SIDE / 2 : 0) + 1 + rand_r(seed) % (SIDE / 2 - 2);
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                int d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                float noise = (float)rand_r(seed) / (float)RAND_MAX - 0.5f;
                images[(n * SIDE + y) * SIDE + x] =
                    (d2 <= 2 ? 1.0f : 0.0f) + 0.3f * noise;
            }
        labels[n] = label;
    }
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 5;
    TRY(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0));
    TRY(rlkd_context_set_seed(ctx, 7));

    param conv1 = make_param(4, 8, 1, 3, 3, 0.47f, 0);  /* He init: sqrt(2/9) */
    param bn_gamma = make_param(1, 8, 0, 0, 0, 0, 1.0f);
    param bn_beta = make_param(1, 8, 0, 0, 0, 0, 0.0f);
    param conv2 = make_param(4, 16, 8, 3, 3, 0.17f, 0); /* sqrt(2/72) */
    param conv2_bias = make_param(1, 16, 0, 0, 0, 0, 0.0f);
    param fc = make_param(2, CLASSES, 16, 0, 0, 0.35f, 0);
    param fc_bias = make_param(1, CLASSES, 0, 0, 0, 0, 0.0f);
    param *params[] = {&conv1, &bn_gamma, &bn_beta, &conv2, &conv2_bias, &fc,
                       &fc_bias};
    const int param_count = (int)(sizeof params / sizeof params[0]);
    rlkd_tensor *running_mean = tensor(1, 8, 0, 0, 0);
    rlkd_tensor *running_var = tensor(1, 8, 0, 0, 0);
    TRY(rlkd_tensor_fill(running_var, 1.0f));
    rlkd_tensor *save_mean = tensor(1, 8, 0, 0, 0);
    rlkd_tensor *save_invstd = tensor(1, 8, 0, 0, 0);

    /* Activations and their gradients. */
    rlkd_tensor *x = tensor(4, BATCH, 1, SIDE, SIDE);
    rlkd_tensor *labels;
    const int64_t label_shape[1] = {BATCH};
    TRY(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, label_shape, &labels));
    rlkd_tensor *a1 = tensor(4, BATCH, 8, SIDE, SIDE);
    rlkd_tensor *a2 = tensor(4, BATCH, 8, SIDE, SIDE);
    rlkd_tensor *a3 = tensor(4, BATCH, 8, SIDE / 2, SIDE / 2);
    rlkd_tensor *a4 = tensor(4, BATCH, 16, SIDE / 2, SIDE / 2);
    rlkd_tensor *a5 = tensor(2, BATCH, 16, 0, 0);
    rlkd_tensor *logits = tensor(2, BATCH, CLASSES, 0, 0);
    rlkd_tensor *loss = tensor(1, 1, 0, 0, 0);
    rlkd_tensor *d_logits = tensor(2, BATCH, CLASSES, 0, 0);
    rlkd_tensor *d5 = tensor(2, BATCH, 16, 0, 0);
    rlkd_tensor *d4 = tensor(4, BATCH, 16, SIDE / 2, SIDE / 2);
    rlkd_tensor *d3 = tensor(4, BATCH, 8, SIDE / 2, SIDE / 2);
    rlkd_tensor *d2 = tensor(4, BATCH, 8, SIDE, SIDE);
    rlkd_tensor *d1 = tensor(4, BATCH, 8, SIDE, SIDE);

    float images[BATCH * SIDE * SIDE];
    int32_t label_host[BATCH];
    unsigned data_seed = 11;
    for (int epoch = 0; epoch < epochs; epoch++) {
        double loss_sum = 0;
        for (int step = 0; step < STEPS_PER_EPOCH; step++) {
            make_batch(images, label_host, &data_seed);
            TRY(rlkd_tensor_write(x, images, BATCH * SIDE * SIDE));
            TRY(rlkd_tensor_write_i32(labels, label_host, BATCH));
            /* forward */
            TRY(rlkd_conv2d_forward(ctx, a1, x, conv1.value, NULL, 1, 1, 1, 1,
                                    1, 1, 1));
            TRY(rlkd_batchnorm2d_forward(ctx, a2, save_mean, save_invstd,
                                         running_mean, running_var, a1,
                                         bn_gamma.value, bn_beta.value, 1,
                                         0.1f, 1e-5f));
            TRY(rlkd_relu_forward(ctx, a2, a2));
            TRY(rlkd_maxpool2d_forward(ctx, a3, a2, 2, 2, 2, 2, 0, 0));
            TRY(rlkd_conv2d_forward(ctx, a4, a3, conv2.value, conv2_bias.value,
                                    1, 1, 1, 1, 1, 1, 1));
            TRY(rlkd_relu_forward(ctx, a4, a4));
            TRY(rlkd_global_avgpool_forward(ctx, a5, a4));
            TRY(rlkd_linear_forward(ctx, logits, a5, fc.value, fc_bias.value));
            TRY(rlkd_softmax_cross_entropy_forward(ctx, loss, d_logits, logits,
                                                   labels, 0.0f));
            float loss_value;
            TRY(rlkd_tensor_read(loss, &loss_value, 1));
            loss_sum += loss_value;
            /* backward: parameter gradients accumulate, so zero them first */
            for (int i = 0; i < param_count; i++)
                TRY(rlkd_tensor_fill(params[i]->grad, 0.0f));
            TRY(rlkd_linear_backward(ctx, d5, fc.grad, fc_bias.grad, d_logits,
                                     a5, fc.value));
            TRY(rlkd_global_avgpool_backward(ctx, d4, d5));
            TRY(rlkd_relu_backward(ctx, d4, d4, a4));
            TRY(rlkd_conv2d_backward(ctx, d3, conv2.grad, conv2_bias.grad, d4,
                                     a3, conv2.value, 1, 1, 1, 1, 1, 1, 1));
            TRY(rlkd_maxpool2d_backward(ctx, d2, d3, a2, 2, 2, 2, 2, 0, 0));
            TRY(rlkd_relu_backward(ctx, d2, d2, a2));
            TRY(rlkd_batchnorm2d_backward(ctx, d1, bn_gamma.grad, bn_beta.grad,
                                          d2, a1, bn_gamma.value, save_mean,
                                          save_invstd, 1));
            TRY(rlkd_conv2d_backward(ctx, NULL, conv1.grad, NULL, d1, x,
                                     conv1.value, 1, 1, 1, 1, 1, 1, 1));
            for (int i = 0; i < param_count; i++)
                TRY(rlkd_sgd_step(ctx, params[i]->value, params[i]->momentum,
                                  params[i]->grad, 0.05f, 0.9f, 1e-4f, 1));
        }
        printf("epoch %d: mean training loss %.4f\n", epoch + 1,
               loss_sum / STEPS_PER_EPOCH);
        fflush(stdout);
    }

    /* Test on fresh batches, batch norm in inference mode. */
    int correct = 0;
    unsigned test_seed = 999;
    for (int b = 0; b < TEST_BATCHES; b++) {
        make_batch(images, label_host, &test_seed);
        TRY(rlkd_tensor_write(x, images, BATCH * SIDE * SIDE));
        TRY(rlkd_conv2d_forward(ctx, a1, x, conv1.value, NULL, 1, 1, 1, 1, 1,
                                1, 1));
        TRY(rlkd_batchnorm2d_forward(ctx, a2, NULL, NULL, running_mean,
                                     running_var, a1, bn_gamma.value,
                                     bn_beta.value, 0, 0.1f, 1e-5f));
        TRY(rlkd_relu_forward(ctx, a2, a2));
        TRY(rlkd_maxpool2d_forward(ctx, a3, a2, 2, 2, 2, 2, 0, 0));
        TRY(rlkd_conv2d_forward(ctx, a4, a3, conv2.value, conv2_bias.value, 1,
                                1, 1, 1, 1, 1, 1));
        TRY(rlkd_relu_forward(ctx, a4, a4));
        TRY(rlkd_global_avgpool_forward(ctx, a5, a4));
        TRY(rlkd_linear_forward(ctx, logits, a5, fc.value, fc_bias.value));
        float out[BATCH * CLASSES];
        TRY(rlkd_tensor_read(logits, out, BATCH * CLASSES));
        for (int n = 0; n < BATCH; n++)
            correct += (out[n * 2 + 1] > out[n * 2]) == (label_host[n] == 1);
    }
    double accuracy = (double)correct / (TEST_BATCHES * BATCH);
    printf("test accuracy %.1f%% on %d images\n", 100 * accuracy,
           TEST_BATCHES * BATCH);

    rlkd_tensor *all[] = {running_mean, running_var, save_mean, save_invstd, x,
                          labels, a1, a2, a3, a4, a5, logits, loss, d_logits,
                          d5, d4, d3, d2, d1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rlkd_tensor_destroy(all[i]);
    for (int i = 0; i < param_count; i++) {
        rlkd_tensor_destroy(params[i]->value);
        rlkd_tensor_destroy(params[i]->grad);
        rlkd_tensor_destroy(params[i]->momentum);
    }
    rlkd_context_destroy(ctx);
    return accuracy >= 0.9 ? 0 : 1;
}
