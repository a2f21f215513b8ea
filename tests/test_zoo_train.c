/* Each small zoo network, with each attention kind, overfits four random
 * single-channel images of four classes: the training loss (forward in
 * training mode, softmax cross-entropy, backward, SGD with momentum) falls
 * to a tenth of its first value within a bounded number of steps. This
 * checks that forward and backward are wired through every block and
 * attention module the zoo builds. The images are 8x8 (every stage still
 * has a map of 2x2 or more) rather than the 28x28 the networks are sized
 * for, so that the program stays quick under valgrind too. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

#define BATCH 4
#define CLASSES 4
#define SIZE 8
#define MAX_STEPS 100
#define LEARNING_RATE 0.05f
#define MOMENTUM 0.9f

typedef struct trainer {
    rlkd_net *net;
    int param_count;
    rlkd_tensor **momentum; /* one buffer per parameter */
    rlkd_tensor *x, *labels, *loss, *dlogits;
} trainer;

/* One SGD step on the batch; returns the loss before the step (NAN on a
 * failed call). */
static float train_step(trainer *t)
{
    rlkd_tensor *logits = NULL;
    float loss = NAN;
    if (!CHECK_OK(rlkd_net_zero_grad(t->net)) ||
        !CHECK_OK(rlkd_net_forward(t->net, t->x, 1, &logits)) ||
        !CHECK_OK(rlkd_softmax_cross_entropy_forward(
            test_ctx, t->loss, t->dlogits, logits, t->labels, 0.0f)) ||
        !CHECK_OK(rlkd_net_backward(t->net, t->dlogits, NULL)) ||
        !CHECK_OK(rlkd_tensor_read(t->loss, &loss, 1)))
        return NAN;
    for (int i = 0; i < t->param_count; i++) {
        rlkd_tensor *value = NULL, *grad = NULL;
        if (!CHECK_OK(rlkd_net_param(t->net, i, NULL, &value, &grad)) ||
            !CHECK_OK(rlkd_sgd_step(test_ctx, value, t->momentum[i], grad,
                                    LEARNING_RATE, MOMENTUM, 0.0f, 0)))
            return NAN;
    }
    return loss;
}

static void overfit(const char *name, rlkd_attention attention)
{
    static const char *const kinds[] = {"none", "se", "eca", "cbam"};
    static const int32_t labels[BATCH] = {0, 1, 2, 3};
    float pixels[BATCH * SIZE * SIZE];
    rlkd_zoo_options o;
    rlkd_zoo_options_init(&o);
    o.num_classes = CLASSES;
    o.in_channels = 1;
    o.in_height = o.in_width = SIZE;
    o.attention = attention;

    trainer t = {0};
    if (!CHECK_OK(rlkd_zoo_create(test_ctx, name, &o, &t.net)))
        return;
    CHECK_OK(rlkd_net_param_count(t.net, &t.param_count));
    t.momentum = calloc((size_t)t.param_count, sizeof *t.momentum);
    for (int i = 0; i < t.param_count; i++) {
        rlkd_tensor *value = NULL;
        int64_t shape[RLKD_MAX_DIMS];
        CHECK_OK(rlkd_net_param(t.net, i, NULL, &value, NULL));
        CHECK_OK(rlkd_tensor_shape(value, shape, RLKD_MAX_DIMS));
        CHECK_OK(rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32,
                                    rlkd_tensor_ndim(value), shape,
                                    &t.momentum[i]));
    }
    test_fill_uniform(pixels, BATCH * SIZE * SIZE, -1.0f, 1.0f, 2024);
    t.x = t_from(pixels, BATCH, 1, SIZE, SIZE);
    t.labels = t_labels(labels, BATCH);
    t.loss = t_new(1, 0, 0, 0);
    t.dlogits = t_new(BATCH, CLASSES, 0, 0);

    float first = train_step(&t), loss = first;
    int steps = 1;
    while (steps < MAX_STEPS && loss > 0.1f * first) {
        loss = train_step(&t);
        steps++;
    }
    CHECK_MSG(loss <= 0.1f * first,
              "%s with %s: loss %g after %d steps, from %g", name,
              kinds[attention], (double)loss, steps, (double)first);
    printf("  %s with %s attention: loss %.3f -> %.3f in %d steps\n", name,
           kinds[attention], (double)first, (double)loss, steps);

    for (int i = 0; i < t.param_count; i++)
        rlkd_tensor_destroy(t.momentum[i]);
    free(t.momentum);
    rlkd_tensor_destroy(t.x);
    rlkd_tensor_destroy(t.labels);
    rlkd_tensor_destroy(t.loss);
    rlkd_tensor_destroy(t.dlogits);
    rlkd_net_destroy(t.net);
}

#define OVERFIT_CASES(net)                                               \
    static void net##_none(void) { overfit(#net, RLKD_ATTENTION_NONE); } \
    static void net##_se(void) { overfit(#net, RLKD_ATTENTION_SE); }     \
    static void net##_eca(void) { overfit(#net, RLKD_ATTENTION_ECA); }   \
    static void net##_cbam(void) { overfit(#net, RLKD_ATTENTION_CBAM); }

OVERFIT_CASES(vgg_small)
OVERFIT_CASES(resnet_small)
OVERFIT_CASES(densenet_small)

#define RUN_OVERFIT_CASES(net)                           \
    test_run("overfit_" #net "_none", net##_none);       \
    test_run("overfit_" #net "_se", net##_se);           \
    test_run("overfit_" #net "_eca", net##_eca);         \
    test_run("overfit_" #net "_cbam", net##_cbam)

int main(void)
{
    test_main_begin();
    /* One thread: these tiny ops gain nothing from more, and on two cores
     * OpenMP's spinning workers and OpenBLAS's threads make the program
     * several times slower (at 28x28, 22 s instead of 4 s). */
    if (rlkd_context_set_num_threads(test_ctx, 1) != RLKD_OK)
        return 1;
    RUN_OVERFIT_CASES(vgg_small);
    RUN_OVERFIT_CASES(resnet_small);
    RUN_OVERFIT_CASES(densenet_small);
    test_main_end();
    return test_finish();
}
