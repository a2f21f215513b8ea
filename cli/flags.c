/*
 * Every flag of every subcommand, in one table, and their parsing: the
 * command line over an optional --config JSON file. A value is checked
 * when it is set (type, range, choice), so a command only ever reads
 * valid values; the typed accessors parse the checked text again.
 *
 * One long name may have several entries for different subcommands (for
 * example --method, whose choices differ, or --lr, whose default does).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum flag_kind {
    FLAG_TEXT,   /* any text (a path, a name) */
    FLAG_INT,    /* a whole number */
    FLAG_REAL,   /* a number */
    FLAG_SWITCH, /* no value on the command line; true/false in a config */
    FLAG_CHOICE  /* one of `choices` */
} flag_kind;

/* The range a number must lie in. */
typedef enum flag_range {
    ANY,
    NONNEGATIVE, /* >= 0 */
    POSITIVE,    /* > 0 */
    FRACTION,    /* (0, 1] */
    UNIT,        /* [0, 1] */
    BELOW_ONE,   /* [0, 1) */
    BIT          /* 0 or 1 */
} flag_range;

typedef struct flag {
    const char *name;       /* the long name, without the dashes */
    unsigned commands;      /* the subcommands (CMD_ bits) that take it */
    unsigned required;      /* those that cannot do without it */
    flag_kind kind;
    flag_range range;
    const char *metavar;
    const char *fallback;   /* the default, as text; NULL: unset */
    const char *help;
    const char *const *choices; /* FLAG_CHOICE: NULL-terminated */
    /* Further checks of a text value: NULL when fine, else why not. */
    const char *(*check)(const char *text);
} flag;

/* Groups of subcommands. */
#define NETWORK_IN (CMD_ALL & ~CMD_PLOT)
#define ZOO (CMD_TRAIN | CMD_DISTILL | CMD_COMPRESS | CMD_FLOPS | CMD_BENCH)
#define DATA (CMD_TRAIN | CMD_DISTILL | CMD_FINETUNE | CMD_PRUNE | \
              CMD_SEARCH | CMD_EVAL | CMD_COMPRESS)
#define SPLIT (DATA & ~CMD_EVAL)
#define FIT (CMD_TRAIN | CMD_DISTILL | CMD_FINETUNE | CMD_PRUNE)
#define FIT_AGAIN (CMD_FINETUNE | CMD_PRUNE)
#define OPTIMISE (FIT | CMD_COMPRESS)
#define TEACHER (CMD_DISTILL | CMD_FINETUNE | CMD_PRUNE | CMD_SEARCH | \
                 CMD_COMPRESS)
#define KD (TEACHER & ~CMD_SEARCH)
#define SAVE (CMD_TRAIN | CMD_DISTILL | CMD_FINETUNE | CMD_PRUNE | \
              CMD_SEARCH | CMD_COMPACT | CMD_COMPRESS)
#define BUDGET (CMD_PRUNE | CMD_SEARCH | CMD_COMPRESS)
#define RL (CMD_SEARCH | CMD_COMPRESS)

static const char *const attentions[] = {"none", "se", "eca", "cbam", NULL};
static const char *const optimizers[] = {"sgd", "adam", "adamw", NULL};
static const char *const schedules[] = {"cosine", "step", "constant", NULL};
static const char *const criteria[] = {"l1", "l2", "fpgm", NULL};
static const char *const prune_methods[] = {"uniform", "sfp", "slimming",
                                            NULL};
static const char *const search_methods[] = {"rlkd", "amc", NULL};
static const char *const compress_methods[] = {"rlkd", "amc", "uniform",
                                               "sfp", NULL};
/* In the order of rlkd_bad_files and rlkd_verify. */
static const char *const bad_files_choices[] = {"skip", "fail", NULL};
static const char *const verify_choices[] = {"none", "header", "decode", NULL};
static const char *const decode_device_choices[] = {"cpu", "cuda", NULL};

static const char *check_device(const char *text);
static const char *check_model(const char *text);
static const char *check_normalisation(const char *text);
static const char *check_shape(const char *text);
static const char *check_pairs(const char *text);

static const flag flags[] = {
    /* The network */
    {"init", NETWORK_IN,
     CMD_FINETUNE | CMD_PRUNE | CMD_SEARCH | CMD_COMPACT | CMD_EVAL |
         CMD_EXPORT,
     FLAG_TEXT, ANY, "FILE", NULL,
     "a network file (what --save writes)", NULL, NULL},
    {"model", ZOO, 0, FLAG_TEXT, ANY, "NAME", "vgg_small",
     "a fresh zoo network, without --init: vgg_small, resnet_small, "
     "densenet_small (28x28), vgg16_cifar, resnet20, densenet_bc (32x32), "
     "vgg16_bn, resnet50, densenet201 (224x224), ...",
     NULL, check_model},
    {"attention", ZOO, 0, FLAG_CHOICE, ANY, "KIND", "none",
     "channel attention in the zoo network", attentions, NULL},
    {"width", ZOO, 0, FLAG_REAL, POSITIVE, "X", "1",
     "VGG channel-width multiplier", NULL, NULL},
    {"depth", ZOO, 0, FLAG_INT, POSITIVE, "L", "100", "densenet_bc depth",
     NULL, NULL},
    {"growth", ZOO, 0, FLAG_INT, POSITIVE, "K", "12", "densenet_bc growth",
     NULL, NULL},
    {"input", CMD_FLOPS | CMD_BENCH, 0, FLAG_TEXT, ANY, "C,H,W", "1,28,28",
     "input shape of the zoo network (3,32,32 for CIFAR, 3,224,224 for "
     "ImageNet)", NULL, check_shape},
    {"classes", CMD_FLOPS | CMD_BENCH, 0, FLAG_INT, POSITIVE, "N", "10",
     "classes of the zoo network", NULL, NULL},
    {"teacher", TEACHER, CMD_DISTILL, FLAG_TEXT, ANY, "FILE", NULL,
     "the teacher network file", NULL, NULL},

    /* Training */
    {"epochs", CMD_TRAIN | CMD_DISTILL, 0, FLAG_INT, NONNEGATIVE, "N", "10",
     "training epochs", NULL, NULL},
    {"epochs", CMD_FINETUNE, 0, FLAG_INT, NONNEGATIVE, "N", "4",
     "training epochs", NULL, NULL},
    {"epochs", CMD_PRUNE, 0, FLAG_INT, NONNEGATIVE, "N", "4",
     "training epochs of sfp and slimming", NULL, NULL},
    {"lr", CMD_TRAIN | CMD_DISTILL, 0, FLAG_REAL, POSITIVE, "X", "0.05",
     "peak learning rate", NULL, NULL},
    {"lr", FIT_AGAIN, 0, FLAG_REAL, POSITIVE, "X", "0.01",
     "peak learning rate", NULL, NULL},
    {"lr", CMD_COMPRESS, 0, FLAG_REAL, POSITIVE, "X", "0.01",
     "peak learning rate of the fine-tuning", NULL, NULL},
    {"optimizer", OPTIMISE, 0, FLAG_CHOICE, ANY, "NAME", "sgd",
     "optimiser: SGD with Nesterov momentum, Adam, or AdamW",
     optimizers, NULL},
    {"schedule", FIT, 0, FLAG_CHOICE, ANY, "KIND", "cosine",
     "learning-rate schedule", schedules, NULL},
    {"step-epochs", FIT, 0, FLAG_INT, POSITIVE, "N", "30",
     "step schedule: the rate falls 10x every N epochs", NULL, NULL},
    {"warmup", FIT, 0, FLAG_REAL, NONNEGATIVE, "E", "0",
     "linear learning-rate warm-up, in epochs", NULL, NULL},
    {"weight-decay", OPTIMISE, 0, FLAG_REAL, NONNEGATIVE, "X", "5e-4",
     "weight decay, not on batch norms and biases", NULL, NULL},
    {"momentum", OPTIMISE, 0, FLAG_REAL, BELOW_ONE, "X", "0.9",
     "SGD momentum", NULL, NULL},
    {"label-smoothing", CMD_TRAIN | CMD_FINETUNE, 0, FLAG_REAL, BELOW_ONE,
     "X", "0", "label smoothing, without a teacher", NULL, NULL},
    {"checkpoint", FIT, 0, FLAG_TEXT, ANY, "FILE", NULL,
     "trainer state saved after every epoch; an existing file is resumed",
     NULL, NULL},
    {"kd-alpha", KD, 0, FLAG_REAL, UNIT, "A", "0.9",
     "weight of the teacher's soft targets in the distillation loss", NULL,
     NULL},
    {"kd-temperature", KD, 0, FLAG_REAL, POSITIVE, "T", "4",
     "distillation temperature", NULL, NULL},
    {"at-beta", CMD_DISTILL | CMD_FINETUNE, 0, FLAG_REAL, NONNEGATIVE, "B",
     "0", "weight of the attention-transfer loss (0: off)", NULL, NULL},
    {"at-pairs", CMD_DISTILL | CMD_FINETUNE, 0, FLAG_TEXT, ANY, "S:T,...",
     NULL,
     "attention transfer from teacher node T to student node S (nodes as "
     "`rlkd flops` numbers them; same height and width)",
     NULL, check_pairs},

    /* Pruning and the search */
    {"method", CMD_PRUNE, 0, FLAG_CHOICE, ANY, "NAME", "uniform",
     "uniform: no training; sfp and slimming train for --epochs",
     prune_methods, NULL},
    {"method", CMD_SEARCH, 0, FLAG_CHOICE, ANY, "NAME", "rlkd",
     "rlkd: BN recalibration, teacher agreement and reward scaling, needs "
     "--teacher; amc: AMC's top-1 reward", search_methods, NULL},
    {"method", CMD_COMPRESS, 0, FLAG_CHOICE, ANY, "NAME", "rlkd",
     "the pruning method; rlkd needs --teacher", compress_methods, NULL},
    {"flops", BUDGET, 0, FLAG_REAL, FRACTION, "F", "0.4",
     "fraction of the MACs (= FLOPs) to keep", NULL, NULL},
    {"criterion", CMD_PRUNE | CMD_COMPRESS, 0, FLAG_CHOICE, ANY, "NAME",
     "l1", "how channels are ranked within a layer; sfp: l2 only", criteria,
     NULL},
    {"criterion", CMD_SEARCH, 0, FLAG_CHOICE, ANY, "NAME", "l1",
     "how channels are ranked within a layer", criteria, NULL},
    {"bn-l1", CMD_PRUNE, 0, FLAG_REAL, NONNEGATIVE, "X", "1e-4",
     "slimming: L1 penalty on batch-norm scales while training", NULL, NULL},
    {"episodes", RL, 0, FLAG_INT, POSITIVE, "N", "300",
     "search episodes, warm-up included", NULL, NULL},
    {"warmup-episodes", RL, 0, FLAG_INT, NONNEGATIVE, "N", "100",
     "episodes of random actions first", NULL, NULL},
    {"search-images", RL, 0, FLAG_INT, NONNEGATIVE, "N", "2000",
     "validation images scored per episode; 0: all", NULL, NULL},
    {"recalibrate", RL, 0, FLAG_INT, NONNEGATIVE, "N", "20",
     "rlkd: training batches of BN recalibration before scoring", NULL,
     NULL},
    {"teacher-weight", RL, 0, FLAG_REAL, UNIT, "W", "0.5",
     "rlkd: weight of teacher agreement in the score", NULL, NULL},
    {"reward-scaling", RL, 0, FLAG_INT, BIT, "B", "1",
     "rlkd: 1 scales rewards by their running size, 0 does not", NULL,
     NULL},
    {"round-to", RL, 0, FLAG_INT, POSITIVE, "N", "8",
     "kept channels are multiples of N", NULL, NULL},
    {"lbound", RL, 0, FLAG_REAL, FRACTION, "X", "0.2",
     "least fraction of a layer's channels kept", NULL, NULL},
    {"policy", RL, 0, FLAG_TEXT, ANY, "FILE.json", NULL,
     "the best policy, rewritten at every improvement", NULL, NULL},
    {"search-log", RL, 0, FLAG_TEXT, ANY, "FILE.jsonl", NULL,
     "one JSON line per episode", NULL, NULL},
    {"search-state", RL, 0, FLAG_TEXT, ANY, "FILE", NULL,
     "the whole search, saved every 10 episodes; an existing file is "
     "resumed", NULL, NULL},
    {"distill-epochs", CMD_COMPRESS, 0, FLAG_INT, NONNEGATIVE, "N", "0",
     "first distil the student from the teacher for N epochs", NULL, NULL},
    {"distill-lr", CMD_COMPRESS, 0, FLAG_REAL, POSITIVE, "X", "0.05",
     "peak learning rate of that distillation", NULL, NULL},
    {"finetune-epochs", CMD_COMPRESS, 0, FLAG_INT, NONNEGATIVE, "N", "4",
     "fine-tuning epochs with the masks", NULL, NULL},
    {"save", SAVE, CMD_COMPACT, FLAG_TEXT, ANY, "FILE", NULL,
     "write the resulting network here", NULL, NULL},

    /* Export, bench, plot */
    {"onnx", CMD_EXPORT, 0, FLAG_TEXT, ANY, "FILE.onnx", NULL,
     "write an ONNX model", NULL, NULL},
    {"torchscript", CMD_EXPORT, 0, FLAG_TEXT, ANY, "FILE.pt", NULL,
     "write a TorchScript module (torch.jit.load reads it)", NULL, NULL},
    {"opset", CMD_EXPORT, 0, FLAG_INT, POSITIVE, "N", "13", "ONNX opset",
     NULL, NULL},
    {"iterations", CMD_BENCH, 0, FLAG_INT, POSITIVE, "N", "20",
     "timed batches of each kind (after 2 untimed ones)", NULL, NULL},
    {"batch", CMD_BENCH, 0, FLAG_INT, POSITIVE, "N", "64", "batch size",
     NULL, NULL},
    {"results", CMD_PLOT, 0, FLAG_TEXT, ANY, "FILE.jsonl", NULL,
     "results appended by --json: accuracy against FLOPs", NULL, NULL},
    {"search-log", CMD_PLOT, 0, FLAG_TEXT, ANY, "FILE.jsonl", NULL,
     "a search's episode log: reward per episode", NULL, NULL},
    {"policy", CMD_PLOT, 0, FLAG_TEXT, ANY, "FILE.json", NULL,
     "a search's policy: kept fraction per layer", NULL, NULL},
    {"out", CMD_PLOT, 0, FLAG_TEXT, ANY, "DIR", ".",
     "folder for the SVG files", NULL, NULL},

    /* Data */
    {"data", DATA, 0, FLAG_TEXT, ANY, "DIR",
     "/usr/share/datasets/fashion-mnist",
     "IDX files (train-images-idx3-ubyte.gz, ...: Fashion-MNIST, MNIST)",
     NULL, NULL},
    {"cifar10", DATA, 0, FLAG_TEXT, ANY, "DIR", NULL,
     "CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin) "
     "instead", NULL, NULL},
    {"cifar100", DATA, 0, FLAG_TEXT, ANY, "DIR", NULL,
     "CIFAR-100 binary files (train.bin, test.bin) instead", NULL, NULL},
    {"folder", DATA, 0, FLAG_TEXT, ANY, "ROOT", NULL,
     "JPEG and PNG images instead, ImageNet's layout: ROOT/train/<class>/* "
     "and ROOT/val/<class>/* (the test split), with torchvision's ImageNet "
     "transforms", NULL, NULL},
    {"crop", DATA, 0, FLAG_INT, POSITIVE, "N", "224",
     "--folder: side of the images the network reads (training: "
     "RandomResizedCrop; evaluation: CenterCrop)", NULL, NULL},
    {"resize", DATA, 0, FLAG_INT, POSITIVE, "N", "256",
     "--folder: evaluation images' shorter side before the centre crop",
     NULL, NULL},
    {"workers", DATA, 0, FLAG_INT, NONNEGATIVE, "N", NULL,
     "--folder: decoding threads of each split (default: one per CPU core, "
     "at most 16; 0: decode in the training thread)", NULL, NULL},
    {"decode-device", DATA, 0, FLAG_CHOICE, ANY, "DEV", "cpu",
     "--folder: where images are decoded, resized, cropped and normalised: "
     "on CPU threads, or on --device's GPU with nvJPEG (--device cuda, a "
     "build with nvJPEG)", decode_device_choices, NULL},
    {"bad-files", DATA, 0, FLAG_CHOICE, ANY, "WHAT", "skip",
     "--folder: a file that is no readable JPEG or PNG is left out and "
     "listed (skip) or stops the command (fail)", bad_files_choices, NULL},
    {"verify", DATA, 0, FLAG_CHOICE, ANY, "HOW", "header",
     "--folder: how much of every file is read when the folder is opened",
     verify_choices, NULL},
    {"validation", SPLIT, 0, FLAG_INT, NONNEGATIVE, "N", "5000",
     "training images held out for validation and the search's reward",
     NULL, NULL},
    {"train-limit", SPLIT, 0, FLAG_INT, NONNEGATIVE, "N", "0",
     "use only the first N training images (of --folder: N drawn by "
     "--seed); 0: all", NULL, NULL},
    {"test-limit", DATA, 0, FLAG_INT, NONNEGATIVE, "N", "0",
     "use only the first N test images (of --folder: N drawn by --seed); "
     "0: all", NULL, NULL},
    {"batch", DATA, 0, FLAG_INT, POSITIVE, "N", "128", "batch size", NULL,
     NULL},
    {"mean", DATA, 0, FLAG_TEXT, ANY, "M[,M,M]", NULL,
     "per-channel pixel mean in [0,1] (default: the data set's; "
     "Fashion-MNIST 0.2860, --folder ImageNet's 0.485,0.456,0.406)", NULL,
     check_normalisation},
    {"std", DATA, 0, FLAG_TEXT, ANY, "S[,S,S]", NULL,
     "per-channel pixel standard deviation (default: the data set's; "
     "Fashion-MNIST 0.3530, --folder ImageNet's 0.229,0.224,0.225)", NULL,
     check_normalisation},
    {"no-augment", SPLIT, 0, FLAG_SWITCH, ANY, NULL, NULL,
     "no random crops and flips of training images (MNIST digits want "
     "this; --folder then trains on the evaluation transform)", NULL, NULL},

    /* Every command */
    {"device", CMD_ALL, 0, FLAG_TEXT, ANY, "DEV", "cpu",
     "cpu, cuda or cuda:N", NULL, check_device},
    {"seed", CMD_ALL, 0, FLAG_INT, NONNEGATIVE, "N", "1",
     "initialisation, data order, augmentation and exploration", NULL, NULL},
    {"threads", CMD_ALL, 0, FLAG_INT, NONNEGATIVE, "N", "0",
     "CPU threads; 0: all", NULL, NULL},
    {"config", CMD_ALL, 0, FLAG_TEXT, ANY, "FILE.json", NULL,
     "flags as a JSON object {\"epochs\": 3, ...}; the command line wins",
     NULL, NULL},
    {"json", CMD_ALL, 0, FLAG_TEXT, ANY, "FILE", NULL,
     "append the results as one JSON line", NULL, NULL},
    {"markdown", CMD_ALL, 0, FLAG_TEXT, ANY, "FILE", NULL,
     "append the results as a Markdown table row", NULL, NULL},
    {"label", CMD_ALL, 0, FLAG_TEXT, ANY, "TEXT", NULL,
     "the run's name in --json, --markdown and plots (default: the "
     "command)", NULL, NULL},
    {"quiet", CMD_ALL, 0, FLAG_SWITCH, ANY, NULL, NULL,
     "no progress or notes on stderr", NULL, NULL},
    {"help", CMD_ALL, 0, FLAG_SWITCH, ANY, NULL, NULL, "show this help",
     NULL, NULL},
};

#define FLAG_COUNT ((int)(sizeof flags / sizeof flags[0]))

/* The running subcommand and what its flags hold. */
static unsigned active;
static const char *values[FLAG_COUNT];
static int given[FLAG_COUNT];
/* Strings of the config file that values[] point to. */
static char *kept[FLAG_COUNT];

/* ------------------------------------------------------------------------ */
/* Checks of values                                                          */
/* ------------------------------------------------------------------------ */

static int parse_whole(const char *text, long long *value)
{
    char *end;
    errno = 0;
    *value = strtoll(text, &end, 10);
    return *text && !*end && errno == 0 ? 0 : -1;
}

static int parse_real(const char *text, double *value)
{
    char *end;
    errno = 0;
    *value = strtod(text, &end);
    return *text && !*end && errno == 0 && isfinite(*value) ? 0 : -1;
}

static const char *check_range(flag_range range, double v)
{
    switch (range) {
    case ANY: return NULL;
    case NONNEGATIVE: return v >= 0 ? NULL : "must be 0 or more";
    case POSITIVE: return v > 0 ? NULL : "must be more than 0";
    case FRACTION: return v > 0 && v <= 1 ? NULL : "must be in (0, 1]";
    case UNIT: return v >= 0 && v <= 1 ? NULL : "must be in [0, 1]";
    case BELOW_ONE: return v >= 0 && v < 1 ? NULL : "must be in [0, 1)";
    case BIT: return v == 0 || v == 1 ? NULL : "must be 0 or 1";
    }
    return NULL;
}

/* Splits a list of numbers separated by `sep` into values[capacity]. */
static int parse_list(const char *text, char sep, double *values,
                      int capacity)
{
    int count = 0;
    const char *p = text;
    for (;;) {
        char *end;
        errno = 0;
        const double v = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(v) || count == capacity)
            return -1;
        values[count++] = v;
        if (*end == '\0')
            return count;
        if (*end != sep)
            return -1;
        p = end + 1;
    }
}

static const char *check_device(const char *text)
{
    rlkd_device kind;
    int index;
    return parse_device(text, &kind, &index) == 0
               ? NULL
               : "is not cpu, cuda or cuda:N";
}

static const char *check_model(const char *text)
{
    for (int i = 0; rlkd_zoo_name(i); i++)
        if (strcmp(text, rlkd_zoo_name(i)) == 0)
            return NULL;
    return "is not a zoo network; rlkd flops --help lists them";
}

static const char *check_normalisation(const char *text)
{
    double v[4];
    const int count = parse_list(text, ',', v, 4);
    if (count != 1 && count != 3)
        return "must be 1 or 3 numbers separated by commas";
    for (int i = 0; i < count; i++)
        if (!(v[i] >= 0 && v[i] <= 1))
            return "must be in [0, 1] (pixels are scaled to [0, 1])";
    return NULL;
}

static const char *check_shape(const char *text)
{
    double v[3];
    if (parse_list(text, ',', v, 3) != 3)
        return "must be C,H,W (three whole numbers)";
    for (int i = 0; i < 3; i++)
        if (!(v[i] >= 1 && v[i] <= 65536 && v[i] == floor(v[i])))
            return "must be C,H,W (three whole numbers, at least 1)";
    return NULL;
}

/* "S:T,S:T" pairs of node numbers (>= 1) into pairs[capacity]; the count,
 * or -1 when the text is no such list. */
static int parse_pairs(const char *text, int (*pairs)[2], int capacity)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        const long s = strtol(p, &end, 10);
        if (end == p || *end != ':' || count == capacity)
            return -1;
        p = end + 1;
        const long t = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || s < 1 || t < 1 ||
            s > INT_MAX || t > INT_MAX)
            return -1;
        pairs[count][0] = (int)s;
        pairs[count][1] = (int)t;
        count++;
        p = *end ? end + 1 : end;
    }
    return count;
}

static const char *check_pairs(const char *text)
{
    int pairs[8][2];
    return parse_pairs(text, pairs, 8) > 0
               ? NULL
               : "must be 1 to 8 pairs S:T of node numbers (>= 1), "
                 "separated by commas";
}

/* Why `text` is no value for f, or NULL. */
static const char *check_value(const flag *f, const char *text)
{
    long long whole;
    double real;
    switch (f->kind) {
    case FLAG_TEXT:
        if (!*text)
            return "must not be empty";
        return f->check ? f->check(text) : NULL;
    case FLAG_INT:
        if (parse_whole(text, &whole) != 0)
            return "is not a whole number";
        return check_range(f->range, (double)whole);
    case FLAG_REAL:
        if (parse_real(text, &real) != 0)
            return "is not a number";
        return check_range(f->range, real);
    case FLAG_SWITCH:
        return strcmp(text, "0") == 0 || strcmp(text, "1") == 0
                   ? NULL
                   : "must be true or false";
    case FLAG_CHOICE:
        for (int i = 0; f->choices[i]; i++)
            if (strcmp(text, f->choices[i]) == 0)
                return NULL;
        return "is not one of the choices";
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Finding flags                                                             */
/* ------------------------------------------------------------------------ */

/* The entry of `name` for the running subcommand, or -1. */
static int find(const char *name, size_t length)
{
    for (int i = 0; i < FLAG_COUNT; i++)
        if ((flags[i].commands & active) && strlen(flags[i].name) == length &&
            strncmp(flags[i].name, name, length) == 0)
            return i;
    return -1;
}

/* The entry of a name a command's code asks for; a wrong name is a bug. */
static int known(const char *name)
{
    const int i = find(name, strlen(name));
    if (i < 0)
        fail("internal error: --%s is no flag of this command; please "
             "report it", name);
    return i;
}

/* The edit distance of two short names, for "did you mean". */
static int distance(const char *a, size_t la, const char *b)
{
    const size_t lb = strlen(b);
    if (la > 31 || lb > 31)
        return 99;
    int row[32];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            const int up = row[j];
            const int cost = diagonal + (a[i - 1] != b[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = cost < best ? cost : best;
            diagonal = up;
        }
    }
    return row[lb];
}

noreturn static void unknown_flag(const char *name, size_t length,
                                  const char *where)
{
    const char *closest = NULL;
    int best = 3;
    for (int i = 0; i < FLAG_COUNT; i++) {
        const int d = (flags[i].commands & active)
                          ? distance(name, length, flags[i].name)
                          : 99;
        if (d < best) {
            best = d;
            closest = flags[i].name;
        }
    }
    if (closest)
        usage_error("unknown flag --%.*s%s (did you mean --%s? see rlkd %s "
                    "--help)", (int)length, name, where, closest,
                    session_command());
    usage_error("unknown flag --%.*s%s (see rlkd %s --help)", (int)length,
                name, where, session_command());
}

static void set(int i, const char *text, const char *where)
{
    const flag *f = &flags[i];
    const char *why = check_value(f, text);
    if (why) {
        if (f->kind == FLAG_CHOICE) {
            char list[256] = "";
            for (int c = 0; f->choices[c]; c++) {
                strncat(list, c ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, f->choices[c], sizeof list - strlen(list) - 1);
            }
            usage_error("--%s%s: \"%s\" is not one of %s (see rlkd %s --help)",
                        f->name, where, text, list, session_command());
        }
        usage_error("--%s%s: \"%s\" %s (see rlkd %s --help)", f->name, where,
                    text, why, session_command());
    }
    values[i] = text;
    given[i] = 1;
}

/* ------------------------------------------------------------------------ */
/* The config file                                                           */
/* ------------------------------------------------------------------------ */

/* Whether any subcommand has a flag of this name. */
static int any_command_has(const char *name)
{
    for (int i = 0; i < FLAG_COUNT; i++)
        if (strcmp(flags[i].name, name) == 0)
            return 1;
    return 0;
}

/* The config's value as the text the command line would give. */
static char *config_text(const flag *f, const cJSON *item, const char *path)
{
    char number[64];
    const char *text = NULL;
    if (cJSON_IsString(item)) {
        text = item->valuestring;
    } else if (cJSON_IsBool(item)) {
        if (f->kind != FLAG_SWITCH)
            usage_error("--config %s: \"%s\" takes a value, not true or false",
                        path, f->name);
        text = cJSON_IsTrue(item) ? "1" : "0";
    } else if (cJSON_IsNumber(item)) {
        snprintf(number, sizeof number, "%.17g", item->valuedouble);
        if (f->kind == FLAG_INT && item->valuedouble == floor(item->valuedouble)
            && fabs(item->valuedouble) < 1e18)
            snprintf(number, sizeof number, "%lld",
                     (long long)item->valuedouble);
        text = number;
    } else {
        usage_error("--config %s: \"%s\" must be a string, a number or a "
                    "boolean", path, f->name);
    }
    char *copy = strdup(text);
    if (!copy)
        fail("out of memory reading --config %s", path);
    return copy;
}

static void read_config(const char *path)
{
    char *text = read_text_file(path, "config");
    cJSON *root = cJSON_Parse(text);
    release(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        usage_error("--config %s: not a JSON object of flags, such as "
                    "{\"epochs\": 3}", path);
    }
    own(OWN_JSON, root);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        const char *key = item->string;
        char name[64];
        /* "weight_decay" means --weight-decay too. */
        snprintf(name, sizeof name, "%s", key);
        for (char *c = name; *c; c++)
            if (*c == '_')
                *c = '-';
        if (strcmp(name, "config") == 0 || strcmp(name, "help") == 0)
            usage_error("--config %s: \"%s\" cannot be set in a config file",
                        path, key);
        const int i = find(name, strlen(name));
        if (i < 0) {
            /* One config may serve several subcommands. */
            if (any_command_has(name))
                continue;
            char where[300];
            snprintf(where, sizeof where, " in --config %s", path);
            unknown_flag(name, strlen(name), where);
        }
        char *value = config_text(&flags[i], item, path);
        char where[300];
        snprintf(where, sizeof where, " (in --config %s)", path);
        free(kept[i]);
        kept[i] = value;
        set(i, value, where);
    }
    release(root);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/* Splits "--name" or "--name=value" at argv[k]. */
static int flag_at(char **argv, int k, size_t *length, const char **inline_value)
{
    const char *arg = argv[k];
    if (strcmp(arg, "-h") == 0) {
        *length = 4;
        *inline_value = NULL;
        return find("help", 4);
    }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        usage_error("unexpected argument \"%s\" (flags start with --; see "
                    "rlkd %s --help)", arg, session_command());
    const char *name = arg + 2;
    const char *equals = strchr(name, '=');
    *length = equals ? (size_t)(equals - name) : strlen(name);
    *inline_value = equals ? equals + 1 : NULL;
    const int i = find(name, *length);
    if (i < 0)
        unknown_flag(name, *length, "");
    return i;
}

int flags_parse(unsigned command, int argc, char **argv, int first)
{
    active = command;
    for (int i = 0; i < FLAG_COUNT; i++) {
        values[i] = flags[i].fallback;
        given[i] = 0;
    }
    /* --help anywhere wins, before any value is checked. */
    for (int k = first; k < argc; k++)
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)
            return 1;
    /* The config first, so that the command line overrides it. */
    const char *config = NULL;
    for (int k = first; k < argc; k++) {
        if (strcmp(argv[k], "--config") == 0 && k + 1 < argc)
            config = argv[++k];
        else if (strncmp(argv[k], "--config=", 9) == 0)
            config = argv[k] + 9;
    }
    if (config)
        read_config(config);
    for (int k = first; k < argc; k++) {
        size_t length;
        const char *value;
        const int i = flag_at(argv, k, &length, &value);
        if (flags[i].kind == FLAG_SWITCH) {
            if (value)
                usage_error("--%s takes no value (see rlkd %s --help)",
                            flags[i].name, session_command());
            value = "1";
        } else if (!value) {
            if (k + 1 >= argc)
                usage_error("--%s needs a value %s (see rlkd %s --help)",
                            flags[i].name, flags[i].metavar,
                            session_command());
            value = argv[++k];
        }
        set(i, value, "");
    }
    for (int i = 0; i < FLAG_COUNT; i++)
        if ((flags[i].required & active) && !values[i])
            usage_error("--%s %s is required (see rlkd %s --help)",
                        flags[i].name, flags[i].metavar, session_command());
    return 0;
}

void flags_free(void)
{
    for (int i = 0; i < FLAG_COUNT; i++) {
        free(kept[i]);
        kept[i] = NULL;
    }
}

/* Help lines: the flag in a column of HELP_INDENT, its text wrapped to
 * HELP_WIDTH. */
#define HELP_INDENT 27
#define HELP_WIDTH 79

static void print_wrapped(FILE *out, const char *head, const char *text)
{
    int column = fprintf(out, "  %-*s", HELP_INDENT - 3, head) + 1;
    if (column > HELP_INDENT) {
        fputc('\n', out);
        column = 0;
    }
    for (const char *word = text; *word;) {
        const size_t length = strcspn(word, " ");
        if (column > HELP_INDENT &&
            column + 1 + (int)length > HELP_WIDTH) {
            fputc('\n', out);
            column = 0;
        }
        if (column < HELP_INDENT)
            column += fprintf(out, "%*s", HELP_INDENT - column, "");
        else
            column += fprintf(out, " ");
        column += fprintf(out, "%.*s", (int)length, word);
        word += length;
        word += strspn(word, " ");
    }
    fputc('\n', out);
}

void flags_print(FILE *out, unsigned command)
{
    for (int i = 0; i < FLAG_COUNT; i++) {
        const flag *f = &flags[i];
        if (!(f->commands & command))
            continue;
        char head[64], choices[256] = "", text[1024];
        snprintf(head, sizeof head, "--%s%s%s", f->name, f->metavar ? " " : "",
                 f->metavar ? f->metavar : "");
        for (int c = 0; f->kind == FLAG_CHOICE && f->choices[c]; c++)
            snprintf(choices + strlen(choices), sizeof choices - strlen(choices),
                     "%s%s", c ? ", " : "", f->choices[c]);
        const char *state = (f->required & command) ? "required" : NULL;
        char fallback[128];
        if (!state && f->fallback) {
            snprintf(fallback, sizeof fallback, "default %s", f->fallback);
            state = fallback;
        }
        if (*choices || state)
            snprintf(text, sizeof text, "%s (%s%s%s)", f->help, choices,
                     *choices && state ? "; " : "", state ? state : "");
        else
            snprintf(text, sizeof text, "%s", f->help);
        print_wrapped(out, head, text);
    }
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

int flag_known(const char *name)
{
    return find(name, strlen(name)) >= 0;
}

int flag_given(const char *name)
{
    return given[known(name)];
}

const char *flag_text(const char *name)
{
    return values[known(name)];
}

long long flag_int(const char *name)
{
    long long v = 0;
    const char *text = values[known(name)];
    if (text)
        parse_whole(text, &v);
    return v;
}

double flag_real(const char *name)
{
    double v = 0;
    const char *text = values[known(name)];
    if (text)
        parse_real(text, &v);
    return v;
}

int flag_on(const char *name)
{
    const char *text = values[known(name)];
    return text && strcmp(text, "1") == 0;
}

int flag_choice(const char *name)
{
    const int i = known(name);
    for (int c = 0; values[i] && flags[i].choices[c]; c++)
        if (strcmp(values[i], flags[i].choices[c]) == 0)
            return c;
    return 0;
}

int flag_numbers(const char *name, double *values_out, int capacity)
{
    const char *text = values[known(name)];
    return text ? parse_list(text, ',', values_out, capacity) : 0;
}

int flag_pairs(const char *name, int (*pairs)[2], int capacity)
{
    const char *text = values[known(name)];
    return text ? parse_pairs(text, pairs, capacity) : 0;
}
