/*
 * The C side of the Python bindings' overhead benchmark
 * (bench/python/bench_bindings.py), built as a shared object that the
 * Python side loads, so that both sides time the same network on the same
 * tensors in the same process, round after round:
 *   bench_relu_ns  one rlkd_relu_forward on a 1-element tensor
 *   bench_step_ms  one training step written out as its calls (forward,
 *                  loss, loss read-back, zero_grad, backward, optimiser)
 * A failed call returns -1 (the Python side then reads rlkd_last_error).
 */
#include <rlkd.h>

#include <time.h>

#define BENCH_API __attribute__((visibility("default")))

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

BENCH_API double bench_relu_ns(rlkd_context *ctx, rlkd_tensor *y, const rlkd_tensor *x,
                               int calls)
{
    double start = now_s();
    for (int i = 0; i < calls; i++)
        if (rlkd_relu_forward(ctx, y, x) != RLKD_OK)
            return -1.0;
    return 1e9 * (now_s() - start) / calls;
}

BENCH_API double bench_step_ms(rlkd_context *ctx, rlkd_net *net, rlkd_optimizer *optimizer,
                               const rlkd_tensor *images, const rlkd_tensor *labels,
                               rlkd_tensor *loss, rlkd_tensor *dlogits, int steps)
{
    double start = now_s();
    for (int i = 0; i < steps; i++) {
        rlkd_tensor *logits;
        float value;
        if (rlkd_net_forward(net, images, 1, &logits) != RLKD_OK ||
            rlkd_softmax_cross_entropy_forward(ctx, loss, dlogits, logits, labels, 0.0f) !=
                RLKD_OK ||
            rlkd_tensor_read(loss, &value, 1) != RLKD_OK || rlkd_net_zero_grad(net) != RLKD_OK ||
            rlkd_net_backward(net, dlogits, NULL) != RLKD_OK ||
            rlkd_optimizer_step(optimizer, 0.01f) != RLKD_OK)
            return -1.0;
    }
    return 1e3 * (now_s() - start) / steps;
}
