/*
 * Train a zoo network on Fashion-MNIST, from scratch or distilled from a
 * teacher checkpoint, and report its test accuracy: the paper's first two
 * tables on data these machines have.
 *
 *   fashion_mnist --model densenet_small --attention eca --save teacher.safetensors
 *   fashion_mnist --model vgg_small --width 0.5 --teacher teacher.safetensors
 *
 * Pruning baselines: start from a trained network (--init), prune it to a
 * fraction of its MACs (--prune uniform or sfp, --flops), fine-tune with
 * the masks for --epochs (distilled with --teacher), compact it, and report
 * the compacted network:
 *
 *   fashion_mnist --init student.safetensors --prune uniform --flops 0.4 --epochs 3
 *
 * A progress line goes to stderr; the result goes to stdout, and with --json
 * as one JSON line for scripts (scripts/bench-fashion.sh). --checkpoint makes
 * the run resumable: run the same command again after an interruption.
 */
#include <rlkd.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TRY(call)                                                          \
    do {                                                                   \
        rlkd_status status_ = (call);                                      \
        if (status_ != RLKD_OK) {                                          \
            fprintf(stderr, "\nfashion_mnist: %s: %s\n",                   \
                    rlkd_status_string(status_), rlkd_last_error());       \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

typedef struct settings {
    const char *data, *model, *attention, *teacher, *save, *checkpoint;
    const char *init, *prune, *criterion;
    float width, lr, weight_decay, warmup, alpha, temperature, flops, bn_l1;
    int depth, growth, epochs, batch, threads, json;
    long train_limit, validation;
    unsigned long seed;
} settings;

static void usage(FILE *out)
{
    fputs("usage: fashion_mnist [options]\n"
          "  --data DIR          Fashion-MNIST IDX files "
          "(default /usr/share/datasets/fashion-mnist)\n"
          "  --model NAME        zoo network (default vgg_small)\n"
          "  --attention KIND    none, se, eca or cbam (default none)\n"
          "  --width X           VGG width multiplier (default 1)\n"
          "  --depth L           densenet_bc depth (default 100)\n"
          "  --growth K          densenet_bc growth (default 12)\n"
          "  --epochs N          (default 10)\n"
          "  --batch N           (default 128)\n"
          "  --lr X              peak learning rate, SGD Nesterov, cosine "
          "(default 0.05)\n"
          "  --weight-decay X    (default 5e-4)\n"
          "  --warmup X          warm-up epochs (default 0)\n"
          "  --seed S            initialisation, order and augmentation "
          "(default 1)\n"
          "  --train-limit N     use only the first N training images\n"
          "  --validation N      hold out N training images (default 5000)\n"
          "  --teacher PATH      distil from this network checkpoint\n"
          "  --alpha A           distillation weight (default 0.9)\n"
          "  --temperature T     (default 4)\n"
          "  --init PATH         start from this network checkpoint (instead "
          "of --model)\n"
          "  --prune METHOD      uniform: prune to --flops of the MACs, then "
          "fine-tune\n"
          "                      with the masks; sfp or slimming: train with "
          "soft pruning\n"
          "                      or the BN-scale penalty, then prune; "
          "compact (default: none)\n"
          "  --bn-l1 X           slimming's penalty on BN scales (default "
          "1e-4)\n"
          "  --flops X           the MACs to keep, as a fraction (default "
          "0.4)\n"
          "  --criterion NAME    uniform: l1, l2, fpgm or bn (default l1); "
          "sfp uses l2\n"
          "  --save PATH         save the trained (compacted) network here\n"
          "  --checkpoint PATH   per-epoch trainer checkpoint; resumes if "
          "present\n"
          "  --threads N         CPU threads (default: all)\n"
          "  --json              print the result as one JSON line\n",
          out);
}

static settings parse(int argc, char **argv)
{
    settings s = {.data = "/usr/share/datasets/fashion-mnist",
                  .model = "vgg_small", .attention = "none", .width = 1.0f,
                  .lr = 0.05f, .weight_decay = 5e-4f, .warmup = 0.0f,
                  .alpha = 0.9f, .temperature = 4.0f, .depth = 100,
                  .growth = 12, .epochs = 10, .batch = 128,
                  .validation = 5000, .seed = 1, .prune = "none",
                  .criterion = "l1", .flops = 0.4f, .bn_l1 = 1e-4f};
    static const struct option options[] = {
        {"data", required_argument, 0, 'd'},
        {"model", required_argument, 0, 'm'},
        {"attention", required_argument, 0, 'a'},
        {"width", required_argument, 0, 'w'},
        {"depth", required_argument, 0, 'D'},
        {"growth", required_argument, 0, 'G'},
        {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},
        {"weight-decay", required_argument, 0, 'W'},
        {"warmup", required_argument, 0, 'u'},
        {"seed", required_argument, 0, 's'},
        {"train-limit", required_argument, 0, 'L'},
        {"validation", required_argument, 0, 'v'},
        {"teacher", required_argument, 0, 't'},
        {"alpha", required_argument, 0, 'A'},
        {"temperature", required_argument, 0, 'T'},
        {"init", required_argument, 0, 'i'},
        {"prune", required_argument, 0, 'P'},
        {"flops", required_argument, 0, 'F'},
        {"criterion", required_argument, 0, 'C'},
        {"bn-l1", required_argument, 0, 'B'},
        {"save", required_argument, 0, 'S'},
        {"checkpoint", required_argument, 0, 'c'},
        {"threads", required_argument, 0, 'j'},
        {"json", no_argument, 0, 'J'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': s.data = optarg; break;
        case 'm': s.model = optarg; break;
        case 'a': s.attention = optarg; break;
        case 'w': s.width = strtof(optarg, NULL); break;
        case 'D': s.depth = atoi(optarg); break;
        case 'G': s.growth = atoi(optarg); break;
        case 'e': s.epochs = atoi(optarg); break;
        case 'b': s.batch = atoi(optarg); break;
        case 'l': s.lr = strtof(optarg, NULL); break;
        case 'W': s.weight_decay = strtof(optarg, NULL); break;
        case 'u': s.warmup = strtof(optarg, NULL); break;
        case 's': s.seed = strtoul(optarg, NULL, 10); break;
        case 'L': s.train_limit = atol(optarg); break;
        case 'v': s.validation = atol(optarg); break;
        case 't': s.teacher = optarg; break;
        case 'A': s.alpha = strtof(optarg, NULL); break;
        case 'T': s.temperature = strtof(optarg, NULL); break;
        case 'i': s.init = optarg; break;
        case 'P': s.prune = optarg; break;
        case 'F': s.flops = strtof(optarg, NULL); break;
        case 'C': s.criterion = optarg; break;
        case 'B': s.bn_l1 = strtof(optarg, NULL); break;
        case 'S': s.save = optarg; break;
        case 'c': s.checkpoint = optarg; break;
        case 'j': s.threads = atoi(optarg); break;
        case 'J': s.json = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc) {
        usage(stderr);
        exit(2);
    }
    return s;
}

static int choice(const char *what, const char *name,
                  const char *const *names, int count);

static rlkd_attention attention_kind(const char *name)
{
    static const char *const names[] = {"none", "se", "eca", "cbam"};
    return (rlkd_attention)choice("attention", name, names, 4);
}

/* The index of `name` in names[count], or exit with the choices. */
static int choice(const char *what, const char *name,
                  const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    fprintf(stderr, "fashion_mnist: unknown %s \"%s\" (", what, name);
    for (int i = 0; i < count; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
    fputs(")\n", stderr);
    exit(2);
}

static rlkd_dataset *load_split(const char *dir, const char *prefix)
{
    char images[1024], labels[1024];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    rlkd_dataset *set;
    TRY(rlkd_dataset_load_idx(images, labels, &set));
    return set;
}

/* One line, rewritten in place on a terminal. */
static void show_progress(const rlkd_progress *p, void *user)
{
    (void)user;
    if (p->evaluating) {
        fprintf(stderr, "\repoch %lld/%lld  validation top-1 %.2f%%%20s\n",
                (long long)p->epoch + 1, (long long)p->epochs,
                100 * p->accuracy, "");
        return;
    }
    fprintf(stderr,
            "\repoch %lld/%lld  step %lld/%lld  loss %.4f  acc %.2f%%  "
            "lr %.4f  %.0f img/s  ETA %.0f s ",
            (long long)p->epoch + 1, (long long)p->epochs,
            (long long)p->step + 1, (long long)p->steps, p->loss,
            100 * p->accuracy, (double)p->lr, p->images_per_second,
            p->eta_seconds);
    if (!isatty(fileno(stderr)))
        fputc('\n', stderr);
}

/* Trains net (resuming from checkpoint when it exists) with options. */
static void run_training(rlkd_net *net, rlkd_net *teacher,
                         const rlkd_trainer_options *options,
                         rlkd_loader *train, rlkd_loader *validation,
                         const char *checkpoint)
{
    rlkd_trainer *trainer;
    TRY(rlkd_trainer_create(net, teacher, options, &trainer));
    if (checkpoint && access(checkpoint, F_OK) == 0) {
        TRY(rlkd_trainer_resume(trainer, checkpoint));
        int64_t epoch, step;
        TRY(rlkd_trainer_position(trainer, &epoch, &step));
        fprintf(stderr, "resuming %s at epoch %lld\n", checkpoint,
                (long long)epoch + 1);
    }
    TRY(rlkd_trainer_fit(trainer, train, validation));
    rlkd_trainer_destroy(trainer);
}

int main(int argc, char **argv)
{
    settings s = parse(argc, argv);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);

    rlkd_context *ctx;
    TRY(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0));
    TRY(rlkd_context_set_seed(ctx, s.seed));
    if (s.threads > 0)
        TRY(rlkd_context_set_num_threads(ctx, s.threads));

    rlkd_dataset *full = load_split(s.data, "train");
    rlkd_dataset *test = load_split(s.data, "t10k");
    if (s.train_limit > 0) {
        rlkd_dataset *limited;
        TRY(rlkd_dataset_subset(full, 0, s.train_limit, &limited));
        rlkd_dataset_destroy(full);
        full = limited;
    }
    rlkd_dataset *train, *validation;
    TRY(rlkd_dataset_split(full, s.validation, s.seed, &train, &validation));
    rlkd_dataset_destroy(full);

    /* Fashion-MNIST's pixel mean and standard deviation. */
    rlkd_loader_options augmented;
    rlkd_loader_options_init(&augmented);
    augmented.batch_size = s.batch;
    augmented.seed = s.seed;
    augmented.crop_padding = 2;
    augmented.horizontal_flip = 1;
    augmented.mean[0] = 0.2860f;
    augmented.std[0] = 0.3530f;
    rlkd_loader_options plain = augmented;
    plain.shuffle = 0;
    plain.crop_padding = 0;
    plain.horizontal_flip = 0;
    rlkd_loader *train_loader, *validation_loader, *test_loader;
    TRY(rlkd_loader_create(ctx, train, &augmented, &train_loader));
    TRY(rlkd_loader_create(ctx, validation, &plain, &validation_loader));
    TRY(rlkd_loader_create(ctx, test, &plain, &test_loader));

    rlkd_zoo_options zoo;
    rlkd_zoo_options_init(&zoo);
    zoo.num_classes = 10;
    zoo.in_channels = 1;
    zoo.in_height = zoo.in_width = 28;
    zoo.attention = attention_kind(s.attention);
    zoo.width_multiplier = s.width;
    zoo.densenet_depth = s.depth;
    zoo.densenet_growth = s.growth;
    rlkd_net *net, *teacher = NULL;
    if (s.init)
        TRY(rlkd_net_load(ctx, s.init, &net));
    else
        TRY(rlkd_zoo_create(ctx, s.model, &zoo, &net));
    if (s.teacher)
        TRY(rlkd_net_load(ctx, s.teacher, &teacher));

    /* Pruning: masks now (uniform); or soft zeroing after every epoch at
     * the fraction that meets the budget (SFP), or training under the
     * BN-scale penalty (slimming), and masks after training. */
    enum { NONE, UNIFORM, SFP, SLIMMING };
    static const char *const methods[] = {"none", "uniform", "sfp",
                                          "slimming"};
    static const char *const criteria[] = {"l1", "l2", "fpgm", "bn"};
    const int method = choice("pruning method", s.prune, methods, 4);
    const rlkd_prune_criterion criterion =
        method == SFP        ? RLKD_PRUNE_L2
        : method == SLIMMING ? RLKD_PRUNE_BN_SCALE
                             : (rlkd_prune_criterion)choice(
                                   "criterion", s.criterion, criteria, 4);
    const char *criterion_name = criteria[criterion];
    int64_t macs_before;
    TRY(rlkd_net_cost(net, NULL, &macs_before));
    double kept_fraction = 1.0;
    if (method == UNIFORM || method == SFP) {
        TRY(rlkd_net_prune_uniform(net, s.flops, criterion, &kept_fraction));
        if (method == SFP)
            TRY(rlkd_net_prune_clear(net));
        fprintf(stderr, "pruning (%s) keeps %.3f of each prunable layer's "
                        "channels for %.2f of the MACs\n",
                s.prune, kept_fraction, (double)s.flops);
    }

    /* Slimming trains half its epochs under the penalty, prunes, and
     * fine-tunes the other half with the masks (Liu et al.'s recipe). */
    const int first_epochs = method == SLIMMING ? s.epochs / 2 : s.epochs;
    if (method == SLIMMING && (first_epochs < 1 || s.checkpoint)) {
        fprintf(stderr, "fashion_mnist: --prune slimming needs --epochs >= 2 "
                        "(half under the penalty, half fine-tuning) and no "
                        "--checkpoint\n");
        exit(2);
    }
    rlkd_trainer_options options;
    rlkd_trainer_options_init(&options);
    options.epochs = first_epochs;
    options.optimizer.nesterov = 1;
    options.optimizer.weight_decay = s.weight_decay;
    options.optimizer.no_decay_bn_bias = 1;
    options.schedule.kind = RLKD_SCHEDULE_COSINE;
    options.schedule.base_lr = s.lr;
    options.schedule.warmup_epochs = s.warmup;
    options.schedule.total_epochs = first_epochs;
    options.kd_alpha = s.alpha;
    options.kd_temperature = s.temperature;
    options.checkpoint_path = s.checkpoint;
    options.progress = show_progress;
    options.progress_every = 20;
    if (method == SFP)
        options.sfp_keep_fraction = (float)kept_fraction;
    if (method == SLIMMING)
        options.bn_l1 = s.bn_l1;
    run_training(net, teacher, &options, train_loader, validation_loader,
          s.checkpoint);
    if (method == SFP) /* remove what the last epoch zeroed */
        TRY(rlkd_net_prune_uniform(net, s.flops, criterion, NULL));
    if (method == SLIMMING) {
        double threshold;
        TRY(rlkd_net_prune_slimming(net, s.flops, &threshold));
        fprintf(stderr, "slimming removes channels of BN scale up to %.4g; "
                        "fine-tuning\n", threshold);
        options.bn_l1 = 0.0f;
        options.epochs = options.schedule.total_epochs =
            s.epochs - first_epochs;
        options.schedule.warmup_epochs = 0.0f;
        run_training(net, teacher, &options, train_loader,
                     validation_loader, NULL);
    }
    if (method) {
        rlkd_net *compacted;
        TRY(rlkd_net_prune_compact(net, &compacted));
        rlkd_net_destroy(net);
        net = compacted;
    }

    double top1, top5, loss;
    TRY(rlkd_evaluate(net, test_loader, &top1, &top5, &loss));
    if (s.save)
        TRY(rlkd_net_save(net, s.save));
    int64_t params, macs;
    TRY(rlkd_net_cost(net, &params, &macs));
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) +
                     1e-9 * (double)(end.tv_nsec - start.tv_nsec);

    printf("%s%s%s: test top-1 %.2f%%, top-5 %.2f%%, loss %.4f; %lld "
           "parameters, %.2f M MACs (%.2f M FLOPs); %.0f s\n",
           s.model, strcmp(s.attention, "none") ? "+" : "",
           strcmp(s.attention, "none") ? s.attention : "", 100 * top1,
           100 * top5, loss, (long long)params, macs / 1e6, 2 * macs / 1e6,
           seconds);
    if (method)
        printf("pruned (%s, %s) from %.2f M MACs to %.3f of them\n",
               s.prune, criterion_name, macs_before / 1e6,
               (double)macs / (double)macs_before);
    if (s.json)
        printf("{\"model\":\"%s\",\"attention\":\"%s\",\"width\":%g,"
               "\"init\":\"%s\",\"prune\":\"%s\",\"criterion\":\"%s\","
               "\"flops_target\":%g,\"kept_fraction\":%.4f,"
               "\"macs_before\":%lld,"
               "\"teacher\":\"%s\",\"alpha\":%g,\"temperature\":%g,"
               "\"seed\":%lu,\"epochs\":%d,\"test_top1\":%.6f,"
               "\"test_top5\":%.6f,\"params\":%lld,\"macs\":%lld,"
               "\"seconds\":%.1f}\n",
               s.model, s.attention, (double)s.width, s.init ? s.init : "",
               s.prune, criterion_name, method ? (double)s.flops : 1.0,
               kept_fraction,
               (long long)macs_before,
               s.teacher ? s.teacher : "", (double)s.alpha,
               (double)s.temperature, s.seed, s.epochs, top1, top5,
               (long long)params, (long long)macs, seconds);

    rlkd_net_destroy(teacher);
    rlkd_net_destroy(net);
    rlkd_loader_destroy(train_loader);
    rlkd_loader_destroy(validation_loader);
    rlkd_loader_destroy(test_loader);
    rlkd_dataset_destroy(train);
    rlkd_dataset_destroy(validation);
    rlkd_dataset_destroy(test);
    rlkd_context_destroy(ctx);
    return 0;
}
