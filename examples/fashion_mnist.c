/*
 * Train a zoo network on Fashion-MNIST, from scratch or distilled from a
 * teacher checkpoint, and report its test accuracy: the paper's first two
 * tables on data these machines have.
 *
 *   fashion_mnist --model densenet_small --attention eca --save teacher.safetensors
 *   fashion_mnist --model vgg_small --width 0.5 --teacher teacher.safetensors
 *
 * Compression: start from a trained network (--init), prune it to a
 * fraction of its MACs (--flops) by a method (--prune uniform, sfp,
 * slimming, or the RL searches amc and rlkd), fine-tune with the masks for
 * --epochs (distilled with --teacher, except amc), compact it, and report
 * the compacted network; every method but slimming runs rlkd_compress:
 *
 *   fashion_mnist --init student.safetensors --prune uniform --flops 0.4 --epochs 3
 *   fashion_mnist --init student.safetensors --teacher teacher.safetensors \
 *       --prune rlkd --episodes 300 --search-log episodes.jsonl \
 *       --policy policy.json --report report
 *
 * A progress line goes to stderr; the result goes to stdout, and with --json
 * as one JSON line for scripts (scripts/bench-fashion.sh). --checkpoint makes
 * the run resumable: run the same command again after an interruption.
 */
#include <rlkd.h>

#include <getopt.h>
#include <math.h>
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
    const char *search_log, *search_state, *policy, *report;
    float width, lr, weight_decay, warmup, alpha, temperature, flops, bn_l1;
    float teacher_weight, distill_lr;
    int depth, growth, epochs, batch, threads, json;
    int episodes, warmup_episodes, search_images, recalibrate, reward_scaling;
    int distill_epochs;
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
          "                      or the BN-scale penalty, then prune; amc or "
          "rlkd: RL search,\n"
          "                      then fine-tune; compact (default: none)\n"
          "  --distill-epochs N  first distil the --init network from the "
          "teacher (default 0)\n"
          "  --distill-lr X      its peak learning rate (default 0.05)\n"
          "  --episodes N        RL search episodes, warm-up included "
          "(default 300)\n"
          "  --warmup-episodes N random-action episodes (default 100)\n"
          "  --search-images N   validation images scored per episode "
          "(default 2000)\n"
          "  --recalibrate N     rlkd ablation: BN recalibration batches "
          "(default 20)\n"
          "  --teacher-weight W  rlkd ablation: teacher agreement in the "
          "score (default 0.5)\n"
          "  --reward-scaling B  rlkd ablation: 0 or 1 (default 1)\n"
          "  --search-log PATH   one JSON line per episode\n"
          "  --search-state PATH the search's state, saved every 10 "
          "episodes; resumes if present\n"
          "  --policy PATH       the best policy found, as JSON\n"
          "  --report PREFIX     the result table as PREFIX.md and "
          "PREFIX.json\n"
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
                  .criterion = "l1", .flops = 0.4f, .bn_l1 = 1e-4f,
                  .episodes = 300, .warmup_episodes = 100,
                  .search_images = 2000, .recalibrate = -1,
                  .teacher_weight = -1.0f, .reward_scaling = -1,
                  .distill_lr = 0.05f};
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
        {"distill-epochs", required_argument, 0, 'x'},
        {"distill-lr", required_argument, 0, 'X'},
        {"episodes", required_argument, 0, 'E'},
        {"warmup-episodes", required_argument, 0, 'U'},
        {"search-images", required_argument, 0, 'I'},
        {"recalibrate", required_argument, 0, 'r'},
        {"teacher-weight", required_argument, 0, 'Q'},
        {"reward-scaling", required_argument, 0, 'R'},
        {"search-log", required_argument, 0, 'g'},
        {"search-state", required_argument, 0, 'k'},
        {"policy", required_argument, 0, 'p'},
        {"report", required_argument, 0, 'o'},
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
        case 'x': s.distill_epochs = atoi(optarg); break;
        case 'X': s.distill_lr = strtof(optarg, NULL); break;
        case 'E': s.episodes = atoi(optarg); break;
        case 'U': s.warmup_episodes = atoi(optarg); break;
        case 'I': s.search_images = atoi(optarg); break;
        case 'r': s.recalibrate = atoi(optarg); break;
        case 'Q': s.teacher_weight = strtof(optarg, NULL); break;
        case 'R': s.reward_scaling = atoi(optarg); break;
        case 'g': s.search_log = optarg; break;
        case 'k': s.search_state = optarg; break;
        case 'p': s.policy = optarg; break;
        case 'o': s.report = optarg; break;
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

static void show_stage(rlkd_compress_stage stage, int starting, void *user)
{
    static const char *const names[] = {"distillation", "search",
                                        "fine-tuning", "compaction",
                                        "evaluation"};
    (void)user;
    if (starting)
        fprintf(stderr, "== %s\n", names[stage]);
}

static void show_episode(const rlkd_search_episode *e, void *user)
{
    (void)user;
    fprintf(stderr,
            "\repisode %lld/%lld%s  MACs %.3f  score %.4f  top-1 %.2f%%  "
            "reward %.4f  best %.4f  sigma %.3f  %.2f s ",
            (long long)e->episode + 1, (long long)e->episodes,
            e->warmup ? " (warm-up)" : "",
            (double)e->macs / (double)e->macs_before, e->score,
            100 * e->accuracy, e->reward, e->best_reward, e->sigma,
            e->seconds);
    if (!isatty(fileno(stderr)) || e->episode + 1 == e->episodes)
        fputc('\n', stderr);
}

static rlkd_compress_options compress_options(
    const settings *s, const rlkd_trainer_options *train,
    rlkd_prune_criterion criterion)
{
    rlkd_compress_options o;
    rlkd_compress_options_init(&o);
    o.train = *train;
    o.train.checkpoint_path = NULL;
    o.finetune_epochs = s->epochs;
    o.finetune_lr = s->lr;
    o.distill_epochs = s->distill_epochs;
    o.distill_lr = s->distill_lr;
    o.criterion = criterion;
    o.search.macs_fraction = s->flops;
    o.search.episodes = s->episodes;
    o.search.warmup_episodes = s->warmup_episodes;
    o.search.seed = s->seed;
    o.search.log_path = s->search_log;
    o.search.state_path = s->search_state;
    o.search.policy_path = s->policy;
    o.search.progress = show_episode;
    o.env.max_images = s->search_images;
    /* Any ablation flag replaces rlkd's defaults, each unset one keeping
     * its default. */
    if (s->recalibrate >= 0 || s->teacher_weight >= 0.0f ||
        s->reward_scaling >= 0) {
        o.rlkd_defaults = 0;
        o.env.recalibrate_batches = s->recalibrate >= 0 ? s->recalibrate : 20;
        o.env.teacher_weight =
            s->teacher_weight >= 0.0f ? s->teacher_weight : 0.5;
        o.search.reward_scaling =
            s->reward_scaling >= 0 ? s->reward_scaling : 1;
    }
    o.stage = show_stage;
    return o;
}

/* The result table, unpruned student against the compressed network, as
 * PREFIX.md and PREFIX.json. */
static void write_report(const char *prefix, const char *method,
                         const rlkd_compress_report *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s.md", prefix);
    FILE *md = fopen(path, "w");
    snprintf(path, sizeof path, "%s.json", prefix);
    FILE *json = fopen(path, "w");
    if (!md || !json) {
        fprintf(stderr, "fashion_mnist: cannot write the report %s.*\n",
                prefix);
        exit(1);
    }
    fprintf(md, "| method | test top-1 (%%) | MACs (M) | FLOPs (M) | "
                "parameters | MACs kept |\n|---|---|---|---|---|---|\n");
    fprintf(md, "| unpruned student | %.2f | %.2f | %.2f | %lld | 1.000 |\n",
            100 * r->student_top1, r->macs_before / 1e6,
            2 * r->macs_before / 1e6, (long long)r->params_before);
    fprintf(md, "| %s | %.2f | %.2f | %.2f | %lld | %.3f |\n", method,
            100 * r->top1, r->macs / 1e6, 2 * r->macs / 1e6,
            (long long)r->params, (double)r->macs / (double)r->macs_before);
    fprintf(json,
            "{\"rows\":[{\"method\":\"unpruned student\",\"top1\":%.6f,"
            "\"macs\":%lld,\"flops\":%lld,\"params\":%lld},"
            "{\"method\":\"%s\",\"top1\":%.6f,\"top5\":%.6f,"
            "\"macs\":%lld,\"flops\":%lld,\"params\":%lld,"
            "\"episodes\":%lld}]}\n",
            r->student_top1, (long long)r->macs_before,
            2 * (long long)r->macs_before, (long long)r->params_before,
            method, r->top1, r->top5, (long long)r->macs,
            2 * (long long)r->macs, (long long)r->params,
            (long long)r->episodes);
    if (fclose(md) != 0 || fclose(json) != 0) {
        fprintf(stderr, "fashion_mnist: cannot write the report %s.*\n",
                prefix);
        exit(1);
    }
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

    /* uniform, sfp, amc and rlkd run rlkd_compress; slimming trains half
     * its epochs under the BN-scale penalty, prunes by one global
     * threshold, and fine-tunes the other half with the masks (Liu et
     * al.'s recipe). */
    enum { NONE, UNIFORM, SFP, SLIMMING, AMC, RLKD };
    static const char *const methods[] = {"none", "uniform", "sfp",
                                          "slimming", "amc", "rlkd"};
    static const char *const criteria[] = {"l1", "l2", "fpgm", "bn"};
    const int method = choice("pruning method", s.prune, methods, 6);
    const rlkd_prune_criterion criterion =
        method == SFP        ? RLKD_PRUNE_L2
        : method == SLIMMING ? RLKD_PRUNE_BN_SCALE
                             : (rlkd_prune_criterion)choice(
                                   "criterion", s.criterion, criteria, 4);
    const char *criterion_name = criteria[criterion];
    int64_t macs_before;
    TRY(rlkd_net_cost(net, NULL, &macs_before));
    if ((method == SLIMMING && (s.epochs < 2 || s.checkpoint)) ||
        (method != NONE && method != SLIMMING && s.checkpoint)) {
        fprintf(stderr, "fashion_mnist: --prune %s needs %sno --checkpoint "
                        "(the search resumes from --search-state)\n",
                s.prune, method == SLIMMING ? "--epochs >= 2 and " : "");
        exit(2);
    }
    const int first_epochs = method == SLIMMING ? s.epochs / 2 : s.epochs;
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
    rlkd_compress_report report;
    report.struct_size = sizeof report;
    report.kept_fraction = 1.0;
    report.student_top1 = report.search_reward = -1.0;
    report.episodes = 0;
    if (method == NONE || method == SLIMMING) {
        if (method == SLIMMING)
            options.bn_l1 = s.bn_l1;
        run_training(net, teacher, &options, train_loader, validation_loader,
                     s.checkpoint);
    }
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
        rlkd_net *compacted;
        TRY(rlkd_net_prune_compact(net, &compacted));
        rlkd_net_destroy(net);
        net = compacted;
    }
    if (method != NONE && method != SLIMMING) {
        static const rlkd_compress_method by_method[] = {
            [UNIFORM] = RLKD_METHOD_UNIFORM, [SFP] = RLKD_METHOD_SFP,
            [AMC] = RLKD_METHOD_AMC, [RLKD] = RLKD_METHOD_RLKD};
        rlkd_compress_options o = compress_options(&s, &options, criterion);
        o.method = by_method[method];
        rlkd_net *compacted;
        TRY(rlkd_compress(net, teacher, train_loader, validation_loader,
                          test_loader, &o, &compacted, &report));
        rlkd_net_destroy(net);
        net = compacted;
        if (s.report)
            write_report(s.report, s.prune, &report);
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
    const double kept_fraction =
        method == NONE ? 1.0 : isnan(report.kept_fraction) ? -1.0
                                                           : report.kept_fraction;
    if (s.json)
        printf("{\"model\":\"%s\",\"attention\":\"%s\",\"width\":%g,"
               "\"init\":\"%s\",\"prune\":\"%s\",\"criterion\":\"%s\","
               "\"flops_target\":%g,\"kept_fraction\":%.4f,"
               "\"macs_before\":%lld,"
               "\"teacher\":\"%s\",\"alpha\":%g,\"temperature\":%g,"
               "\"seed\":%lu,\"epochs\":%d,\"student_top1\":%.6f,"
               "\"episodes\":%lld,\"search_reward\":%.6f,"
               "\"search_seconds\":%.1f,\"test_top1\":%.6f,"
               "\"test_top5\":%.6f,\"params\":%lld,\"macs\":%lld,"
               "\"seconds\":%.1f}\n",
               s.model, s.attention, (double)s.width, s.init ? s.init : "",
               s.prune, criterion_name, method ? (double)s.flops : 1.0,
               kept_fraction,
               (long long)macs_before,
               s.teacher ? s.teacher : "", (double)s.alpha,
               (double)s.temperature, s.seed, s.epochs,
               isnan(report.student_top1) ? -1.0 : report.student_top1,
               (long long)report.episodes,
               isnan(report.search_reward) ? -1.0 : report.search_reward,
               method == NONE || method == SLIMMING
                   ? 0.0
                   : report.seconds[RLKD_STAGE_SEARCH],
               top1, top5,
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
