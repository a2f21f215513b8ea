/*
 * rlkd eval (accuracy on the test split), rlkd flops (parameters and MACs
 * per layer) and rlkd bench (inference and training speed on the device).
 */
#include "cli.h"

#include <stdlib.h>
#include <time.h>

void command_eval(void)
{
    rlkd_net *net = net_load(flag_text("init"), "init");
    data d;
    data_open(&d, DATA_TEST);
    data_check_net(&d, net, "--init");
    result r;
    result_init(&r, session_command(), net_label());
    result_evaluate(&r, net, d.test);
    result_costs(&r, net);
    result_text(&r, "data", d.name);
    result_number(&r, "test_images", (double)d.test_count);
    result_finish(&r);
}

/* The network of --init, or --model for --input and --classes. */
static rlkd_net *measured_net(void)
{
    double shape[3];
    flag_numbers("input", shape, 3);
    return net_from_flags((int)shape[0], (int)shape[1], (int)shape[2],
                          (int)flag_int("classes"));
}

void command_flops(void)
{
    rlkd_net *net = measured_net();
    int layers;
    int64_t params, macs;
    check(rlkd_net_layer_count(net, &layers), "the network");
    check(rlkd_net_cost(net, &params, &macs), "the network");
    result r;
    result_init(&r, session_command(), net_label());
    r.params = params;
    r.macs = macs;
    cJSON *rows = cJSON_AddArrayToObject(r.extra, "layers");
    if (!rows)
        fail("out of memory");
    printf("%5s  %-36s %-14s %-14s %12s %14s %7s\n", "node", "layer", "kind",
           "output", "params", "MACs", "MACs %");
    for (int i = 0; i < layers; i++) {
        rlkd_layer_cost c;
        rlkd_layer_cost_init(&c);
        check(rlkd_net_layer_cost(net, i, &c), "layer %d", i);
        char output[48];
        snprintf(output, sizeof output, "%lldx%lldx%lld",
                 (long long)c.out_channels, (long long)c.out_height,
                 (long long)c.out_width);
        printf("%5d  %-36s %-14s %-14s %12lld %14lld %6.2f%%\n", c.node,
               c.name, c.kind, output, (long long)c.params,
               (long long)c.macs,
               macs > 0 ? 100.0 * (double)c.macs / (double)macs : 0.0);
        cJSON *row = cJSON_CreateObject();
        const double shape[3] = {(double)c.out_channels,
                                 (double)c.out_height, (double)c.out_width};
        if (!row || !cJSON_AddItemToArray(rows, row) ||
            !cJSON_AddNumberToObject(row, "node", c.node) ||
            !cJSON_AddStringToObject(row, "name", c.name) ||
            !cJSON_AddStringToObject(row, "kind", c.kind) ||
            !cJSON_AddItemToObject(row, "output",
                                   cJSON_CreateDoubleArray(shape, 3)) ||
            !cJSON_AddNumberToObject(row, "params", (double)c.params) ||
            !cJSON_AddNumberToObject(row, "macs", (double)c.macs))
            fail("out of memory");
    }
    int64_t channels, height, width;
    check(rlkd_net_node_shape(net, 0, &channels, &height, &width),
          "the network");
    printf("total: %lld parameters, %lld MACs = %lld FLOPs per %lldx%lldx%lld "
           "image\n", (long long)params, (long long)macs, 2 * (long long)macs,
           (long long)channels, (long long)height, (long long)width);

    const double input[3] = {(double)channels, (double)height,
                             (double)width};
    cJSON *input_json = cJSON_CreateDoubleArray(input, 3);
    if (!input_json || !cJSON_AddItemToObject(r.extra, "input", input_json))
        fail("out of memory");
    result_finish(&r);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Untimed batches before each measurement (allocations, caches). */
#define BENCH_WARMUP 2

void command_bench(void)
{
    rlkd_net *net = measured_net();
    rlkd_context *ctx = session_context();
    const int batch = (int)flag_int("batch");
    const int iterations = (int)flag_int("iterations");
    int64_t channels, height, width, classes, ignored;
    int nodes;
    check(rlkd_net_node_shape(net, 0, &channels, &height, &width),
          "the network");
    check(rlkd_net_node_count(net, &nodes), "the network");
    check(rlkd_net_node_shape(net, nodes - 1, &classes, &ignored, &ignored),
          "the network");

    const int64_t image_shape[4] = {batch, channels, height, width};
    const int64_t label_shape[1] = {batch};
    rlkd_tensor *images, *labels;
    check(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 4, image_shape, &images),
          "a batch of %d images", batch);
    own(OWN_TENSOR, images);
    check(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, label_shape, &labels),
          "a batch of %d labels", batch);
    own(OWN_TENSOR, labels);
    check(rlkd_tensor_fill_normal(images, 0.0f, 1.0f), "random images");
    int32_t *host = calloc((size_t)batch, sizeof *host);
    if (!host)
        fail("out of memory");
    own(OWN_MEMORY, host);
    for (int i = 0; i < batch; i++)
        host[i] = (int32_t)(i % classes);
    check(rlkd_tensor_write_i32(labels, host, (size_t)batch), "labels");
    release(host);

    double start = 0.0;
    for (int i = 0; i < BENCH_WARMUP + iterations; i++) {
        if (i == BENCH_WARMUP) {
            check(rlkd_context_synchronize(ctx), "inference");
            start = now();
        }
        check(rlkd_net_forward(net, images, 0, NULL), "inference");
    }
    check(rlkd_context_synchronize(ctx), "inference");
    const double inference = (now() - start) / iterations;

    /* Training steps: SGD at a small constant rate, so that random data
     * cannot make the loss diverge within the run. */
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    o.schedule.kind = RLKD_SCHEDULE_CONSTANT;
    o.schedule.base_lr = 1e-3f;
    rlkd_trainer *trainer;
    check(rlkd_trainer_create(net, NULL, &o, &trainer), "training");
    own(OWN_TRAINER, trainer);
    const int64_t steps = BENCH_WARMUP + iterations + 1;
    for (int i = 0; i < BENCH_WARMUP + iterations; i++) {
        if (i == BENCH_WARMUP) {
            check(rlkd_context_synchronize(ctx), "training");
            start = now();
        }
        check(rlkd_trainer_step(trainer, images, labels, steps, NULL, NULL),
              "a training step");
    }
    check(rlkd_context_synchronize(ctx), "training");
    const double training = (now() - start) / iterations;
    release(trainer);

    printf("inference: %.1f images/s (%.2f ms a batch of %d)\n",
           batch / inference, 1e3 * inference, batch);
    printf("training:  %.1f images/s (%.2f ms a step of %d)\n",
           batch / training, 1e3 * training, batch);
    int threads;
    check(rlkd_context_get_num_threads(ctx, &threads), "the context");
    result r;
    result_init(&r, session_command(), net_label());
    result_costs(&r, net);
    result_text(&r, "device", flag_text("device"));
    result_number(&r, "threads", threads);
    result_number(&r, "batch", batch);
    result_number(&r, "iterations", iterations);
    result_number(&r, "inference_images_per_second", batch / inference);
    result_number(&r, "training_images_per_second", batch / training);
    result_number(&r, "inference_ms", 1e3 * inference);
    result_number(&r, "training_ms", 1e3 * training);
    result_finish(&r);
}
