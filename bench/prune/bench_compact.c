/*
 * bench_compact - does compaction make a network faster? For each kept
 * fraction of the MACs, a zoo network is pruned uniformly (L1), compacted,
 * and its inference forward timed on the CPU backend at batch 1 and 64
 * (2 warm-up runs, then the fastest of the runs in --min-time seconds).
 * Prints a Markdown table: kept MACs, parameters, ms per batch, speed-up
 * over the unpruned network.
 *
 *   bench_compact [--threads N] [--min-time S] [--model NAME] [--width X]
 *                 [--channels C] [--size HW]
 */
#define BENCH_NAME "bench_compact"
#include "../bench.h"

#include <string.h>

/* The fastest inference forward of net on x, in ms. */
static double time_forward(rlkd_net *net, const rlkd_tensor *x,
                           double min_time_s)
{
    for (int i = 0; i < 2; i++)
        check(rlkd_net_forward(net, x, 0, NULL), "rlkd_net_forward");
    double fastest = 1e30, started = now_s();
    int runs = 0;
    while (runs < 3 || now_s() - started < min_time_s) {
        const double t0 = now_s();
        check(rlkd_net_forward(net, x, 0, NULL), "rlkd_net_forward");
        const double t = now_s() - t0;
        fastest = t < fastest ? t : fastest;
        runs++;
    }
    return 1e3 * fastest;
}

int main(int argc, char **argv)
{
    int threads = 0, channels = 1, size = 28;
    double min_time_s = 0.5;
    const char *model = "vgg_small";
    float width = 0.5f;
    for (int i = 1; i < argc; i++) {
        const int more = i + 1 < argc;
        if (!strcmp(argv[i], "--threads") && more)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && more)
            min_time_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--model") && more)
            model = argv[++i];
        else if (!strcmp(argv[i], "--width") && more)
            width = strtof(argv[++i], NULL);
        else if (!strcmp(argv[i], "--channels") && more)
            channels = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && more)
            size = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_compact [--threads N] [--min-time S] "
                            "[--model NAME] [--width X] [--channels C] "
                            "[--size HW]\n");
            return 2;
        }
    }
    rlkd_context *ctx;
    check(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0), "context");
    if (threads > 0)
        check(rlkd_context_set_num_threads(ctx, threads), "threads");
    check(rlkd_context_get_num_threads(ctx, &threads), "threads");
    rlkd_zoo_options o;
    rlkd_zoo_options_init(&o);
    o.num_classes = 10;
    o.in_channels = channels;
    o.in_height = o.in_width = size;
    o.width_multiplier = width;

    static const double fractions[] = {1.0, 0.8, 0.6, 0.4, 0.2};
    static const int batches[] = {1, 64};
    rlkd_tensor *x[2];
    for (int b = 0; b < 2; b++) {
        const int64_t shape[4] = {batches[b], channels, size, size};
        check(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 4, shape, &x[b]), "x");
        check(rlkd_tensor_fill_normal(x[b], 0.0f, 1.0f), "x");
    }
    printf("%s x%g, %dx%dx%d input, %d threads, inference forward on the "
           "CPU backend\n\n", model, (double)width, channels, size, size,
           threads);
    printf("| MACs kept (target) | MACs (M) | params | batch 1 ms | "
           "speed-up | batch 64 ms | speed-up |\n");
    printf("|---|---|---|---|---|---|---|\n");
    double base[2] = {0.0, 0.0};
    for (size_t f = 0; f < sizeof fractions / sizeof fractions[0]; f++) {
        rlkd_net *net, *small;
        check(rlkd_zoo_create(ctx, model, &o, &net), "rlkd_zoo_create");
        int64_t full;
        check(rlkd_net_cost(net, NULL, &full), "cost");
        if (fractions[f] < 1.0)
            check(rlkd_net_prune_uniform(net, fractions[f], RLKD_PRUNE_L1,
                                         NULL),
                  "rlkd_net_prune_uniform");
        check(rlkd_net_prune_compact(net, &small), "rlkd_net_prune_compact");
        int64_t params, macs;
        check(rlkd_net_cost(small, &params, &macs), "cost");
        double ms[2];
        for (int b = 0; b < 2; b++) {
            ms[b] = time_forward(small, x[b], min_time_s);
            if (f == 0)
                base[b] = ms[b];
        }
        printf("| %.3f (%.1f) | %.2f | %lld | %.3f | %.2f | %.2f | %.2f |\n",
               (double)macs / (double)full, fractions[f], macs / 1e6,
               (long long)params, ms[0], base[0] / ms[0], ms[1],
               base[1] / ms[1]);
        fflush(stdout);
        rlkd_net_destroy(small);
        rlkd_net_destroy(net);
    }
    for (int b = 0; b < 2; b++)
        rlkd_tensor_destroy(x[b]);
    rlkd_context_destroy(ctx);
    return 0;
}
