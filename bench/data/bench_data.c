/*
 * The data loader benchmark, rlkd's side: JPEGs of an ImageFolder tree
 * decoded and augmented as torchvision's ImageNet training transform
 * (RandomResizedCrop(224), horizontal flip, ToTensor, Normalize) into
 * shuffled batches of 64 by `--workers` decoding threads, as fast as the
 * loader goes. After `--warmup` batches it counts the images of whole
 * batches until `--seconds` have passed (epochs repeat as needed), and the
 * CPU time all its threads spent meanwhile, and prints one JSON line.
 * bench/data/run.py runs it beside torchvision's DataLoader on the same
 * cores. With `--device cuda` the loader decodes with nvJPEG and transforms
 * on GPU 0 (decode_device RLKD_DEVICE_CUDA), the workers only reading the
 * files; without a GPU or nvJPEG it says why and exits 77 (skipped).
 *
 *   bench_data --workers 2 --seconds 10 build/bench-data/images
 */
#define BENCH_NAME "bench_data"
#include "../bench.h"

#include <string.h>

/* CPU seconds of every thread of this process. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_data [--workers N] [--batch N] [--crop N] "
                    "[--warmup BATCHES] [--seconds S] [--device cpu|cuda] "
                    "FOLDER\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int workers = 1, batch = 64, crop = 224, warmup = 4;
    double seconds = 10;
    const char *folder = NULL, *device_name = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--workers") == 0 && value)
            workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && value)
            batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--crop") == 0 && value)
            crop = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && value)
            warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && value)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--device") == 0 && value)
            device_name = argv[++i];
        else if (argv[i][0] != '-' && !folder)
            folder = argv[i];
        else
            usage();
    }
    int on_gpu = strcmp(device_name, "cuda") == 0;
    if (!folder || workers < 0 || batch < 1 || crop < 1 || warmup < 1 ||
        !(seconds > 0) || (!on_gpu && strcmp(device_name, "cpu") != 0))
        usage();

    if (on_gpu && !(rlkd_build_features() & RLKD_FEATURE_NVJPEG)) {
        fprintf(stderr, "bench_data: --device cuda skipped: rlkd was built "
                        "without nvJPEG\n");
        return 77;
    }
    rlkd_context *ctx;
    rlkd_status status = rlkd_context_create(
        &ctx, on_gpu ? RLKD_DEVICE_CUDA : RLKD_DEVICE_CPU, 0);
    if (on_gpu && status != RLKD_OK) {
        fprintf(stderr, "bench_data: --device cuda skipped: %s\n",
                rlkd_last_error());
        return 77;
    }
    check(status, "context");
    rlkd_dataset *dataset;
    rlkd_folder_options fo;
    rlkd_folder_options_init(&fo);
    fo.verify = RLKD_VERIFY_NONE; /* the files are known good */
    check(rlkd_dataset_open_folder(folder, &fo, &dataset), folder);
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    o.batch_size = batch;
    o.drop_last = 1;
    o.seed = 1;
    o.random_resized_crop = 1;
    o.horizontal_flip = 1;
    o.crop_size = crop;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(o.mean, mean, sizeof mean);
    memcpy(o.std, std, sizeof std);
    o.workers = workers;
    o.decode_device = on_gpu ? RLKD_DEVICE_CUDA : RLKD_DEVICE_CPU;
    rlkd_loader *loader;
    check(rlkd_loader_create(ctx, dataset, &o, &loader), "loader");

    int64_t epoch = 0, batches = 0, images = 0;
    double start = 0, elapsed = 0, cpu_start = 0;
    for (;;) {
        rlkd_tensor *x, *y;
        check(rlkd_loader_next(loader, &x, &y), "next batch");
        if (!x) {
            check(rlkd_loader_start_epoch(loader, ++epoch, 0), "epoch");
            continue;
        }
        if (++batches == warmup) {
            start = now_s();
            cpu_start = cpu_s();
        } else if (batches > warmup) {
            images += batch;
            elapsed = now_s() - start;
            if (elapsed >= seconds)
                break;
        }
    }
    double cpu = cpu_s() - cpu_start;
    printf("{\"side\": \"rlkd\", \"device\": \"%s\", \"workers\": %d, "
           "\"batch\": %d, \"crop\": %d, \"images\": %lld, \"seconds\": %.3f, "
           "\"cpu_seconds\": %.3f, \"images_per_second\": %.1f}\n",
           device_name, workers, batch, crop, (long long)images, elapsed, cpu,
           images / elapsed);
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(dataset);
    rlkd_context_destroy(ctx);
    return 0;
}
