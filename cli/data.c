/*
 * The data sets of --data (IDX: Fashion-MNIST, MNIST), --cifar10,
 * --cifar100 and --folder (JPEG and PNG files in ImageNet's layout), cut
 * by --train-limit and --test-limit, with --validation images held out of
 * the training set (the search's reward is measured on them, never on the
 * test set), as loaders normalised per channel.
 */
#include "cli.h"

#include <string.h>
#include <unistd.h>

/* Decoding threads per image-folder loader by default: one per core, up to
 * what feeds a GPU (more only add memory for their batches). */
#define DEFAULT_WORKERS_LIMIT 16
/* Bad files named on stderr; the rest are counted. */
#define BAD_FILES_SHOWN 5

typedef struct source {
    const char *name;
    float mean[3], std[3]; /* the data set's pixel statistics, per channel */
    int crop_padding;      /* of the training crops */
} source;

/* Normalisation constants as published for each data set (Fashion-MNIST's
 * as examples/fashion_mnist.c uses them). */
static const source idx_source = {"idx", {0.2860f}, {0.3530f}, 2};
static const source cifar10_source = {
    "cifar10", {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}, 4};
static const source cifar100_source = {
    "cifar100", {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}, 4};
/* ImageNet's statistics, which torchvision's models are trained with; the
 * crops are RandomResizedCrop's, not padding. */
static const source folder_source = {
    "folder", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0};

/* DIR/NAME, or DIR/NAME without ".gz" when only that exists. */
static void idx_path(char *path, size_t size, const char *dir,
                     const char *name)
{
    snprintf(path, size, "%s/%s", dir, name);
    if (access(path, F_OK) == 0)
        return;
    char plain[4096];
    snprintf(plain, sizeof plain, "%s", path);
    plain[strlen(plain) - 3] = '\0';
    if (access(plain, F_OK) == 0)
        snprintf(path, size, "%s", plain);
}

static rlkd_dataset *load_idx(const char *dir, const char *prefix)
{
    char images[4096], labels[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", prefix);
    idx_path(images, sizeof images, dir, name);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", prefix);
    idx_path(labels, sizeof labels, dir, name);
    rlkd_dataset *set;
    check(rlkd_dataset_load_idx(images, labels, &set), "--data %s", dir);
    return own(OWN_DATASET, set);
}

static rlkd_dataset *load_cifar(const char *dir, int cifar100, int train)
{
    static const char *const cifar10_train[] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const cifar10_test[] = {"test_batch.bin"};
    static const char *const cifar100_train[] = {"train.bin"};
    static const char *const cifar100_test[] = {"test.bin"};
    const char *const *names = cifar100 ? (train ? cifar100_train
                                                 : cifar100_test)
                                        : (train ? cifar10_train
                                                 : cifar10_test);
    const int count = !cifar100 && train ? 5 : 1;
    char paths[5][4096];
    const char *list[5];
    for (int i = 0; i < count; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
        list[i] = paths[i];
    }
    rlkd_dataset *set;
    check(rlkd_dataset_load_cifar(list, count, cifar100, 0, &set),
          "--cifar%s %s", cifar100 ? "100" : "10", dir);
    return own(OWN_DATASET, set);
}

/* Names the first bad files an image folder's open left out, counts the
 * rest. */
static void report_bad_files(const rlkd_dataset *set, const char *where)
{
    int64_t count;
    check(rlkd_dataset_bad_file_count(set, &count), "%s", where);
    if (count == 0)
        return;
    note("%s: %lld bad file%s left out (--bad-files skip):", where,
         (long long)count, count == 1 ? "" : "s");
    for (int64_t i = 0; i < count && i < BAD_FILES_SHOWN; i++) {
        const char *path, *reason;
        check(rlkd_dataset_bad_file(set, i, &path, &reason), "%s", where);
        note("  %s: %s", path, reason);
    }
    if (count > BAD_FILES_SHOWN)
        note("  ... and %lld more", (long long)(count - BAD_FILES_SHOWN));
}

/* ROOT/part of --folder: an ImageFolder tree. */
static rlkd_dataset *load_folder(const char *root, const char *part)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, part);
    rlkd_folder_options o;
    rlkd_folder_options_init(&o);
    o.bad_files = (rlkd_bad_files)flag_choice("bad-files");
    o.verify = (rlkd_verify)flag_choice("verify");
    rlkd_dataset *set;
    check(rlkd_dataset_open_folder(path, &o, &set), "--folder %s", root);
    own(OWN_DATASET, set);
    int64_t count;
    int classes;
    check(rlkd_dataset_info(set, &count, NULL, NULL, NULL, &classes), "data");
    note("%s: %lld images of %d classes", path, (long long)count, classes);
    report_bad_files(set, path);
    return set;
}

/* Fails unless the test split's class folders are the training split's. */
static void check_same_classes(const rlkd_dataset *train,
                               const rlkd_dataset *test, const char *root)
{
    int train_classes, test_classes;
    check(rlkd_dataset_info(train, NULL, NULL, NULL, NULL, &train_classes),
          "data");
    check(rlkd_dataset_info(test, NULL, NULL, NULL, NULL, &test_classes),
          "data");
    for (int c = 0; c < train_classes || c < test_classes; c++) {
        const char *a = NULL, *b = NULL;
        if (c < train_classes)
            check(rlkd_dataset_class_name(train, c, &a), "data");
        if (c < test_classes)
            check(rlkd_dataset_class_name(test, c, &b), "data");
        if (!a || !b || strcmp(a, b) != 0)
            fail("--folder %s: class %d is \"%s\" in train/ but \"%s\" in "
                 "val/ (both need the same class folders)", root, c,
                 a ? a : "(none)", b ? b : "(none)");
    }
}

/* `limit` images of a data set (all when limit is 0): the first ones, or,
 * of an image folder (whose first images are all of its first class), a
 * seeded draw. */
static rlkd_dataset *limited(rlkd_dataset *set, long long limit, int draw)
{
    int64_t count;
    check(rlkd_dataset_info(set, &count, NULL, NULL, NULL, NULL), "data");
    if (limit <= 0 || limit >= count)
        return set;
    rlkd_dataset *part, *rest = NULL;
    if (draw)
        check(rlkd_dataset_split(set, limit, (uint64_t)flag_int("seed"), &rest,
                                 &part), "limiting the data");
    else
        check(rlkd_dataset_subset(set, 0, limit, &part), "limiting the data");
    rlkd_dataset_destroy(rest);
    release(set);
    return own(OWN_DATASET, part);
}

/* --mean or --std over the data set's defaults; one number serves all
 * channels. */
static void normalisation(const char *flag, const float *fallback,
                          int channels, float *out)
{
    double given[3];
    const int count = flag_numbers(flag, given, 3);
    if (count > 1 && count != channels)
        usage_error("--%s has %d numbers, the images have %d channel%s",
                    flag, count, channels, channels == 1 ? "" : "s");
    for (int c = 0; c < channels; c++)
        out[c] = count == 0 ? fallback[c < 3 ? c : 0]
                            : (float)given[count == 1 ? 0 : c];
    if (strcmp(flag, "std") == 0)
        for (int c = 0; c < channels; c++)
            if (!(out[c] > 0.0f))
                usage_error("--std must be more than 0");
}

static rlkd_loader *loader(const rlkd_dataset *set,
                           const rlkd_loader_options *o)
{
    rlkd_loader *l;
    check(rlkd_loader_create(session_context(), set, o, &l), "data loader");
    return own(OWN_LOADER, l);
}

/* The batches' image shape and the classes; an image folder's images are
 * --crop square whatever the files' sizes. */
static void shape_of(data *d, const rlkd_dataset *set, int folder)
{
    int classes;
    check(rlkd_dataset_info(set, NULL, &d->channels, &d->height, &d->width,
                            &classes), "data");
    if (folder)
        d->height = d->width = (int)flag_int("crop");
    if (classes > d->classes)
        d->classes = classes;
}

/* --workers, else one per core up to DEFAULT_WORKERS_LIMIT. */
static int decoding_workers(void)
{
    if (flag_given("workers"))
        return (int)flag_int("workers");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > DEFAULT_WORKERS_LIMIT ? DEFAULT_WORKERS_LIMIT
                                                         : (int)cores;
}

void data_open(data *d, unsigned parts)
{
    memset(d, 0, sizeof *d);
    const char *cifar10 = flag_text("cifar10"), *cifar100 =
                                                    flag_text("cifar100");
    const char *folder = flag_text("folder");
    if ((!!cifar10 + !!cifar100 + !!folder + flag_given("data")) > 1)
        usage_error("give one data set: --data, --cifar10, --cifar100 or "
                    "--folder (see rlkd %s --help)", session_command());
    static const char *const folder_flags[] = {"crop", "resize", "workers",
                                               "decode-device", "bad-files",
                                               "verify"};
    for (size_t i = 0; !folder && i < sizeof folder_flags / sizeof *folder_flags;
         i++)
        if (flag_given(folder_flags[i]))
            usage_error("--%s goes with --folder (see rlkd %s --help)",
                        folder_flags[i], session_command());
    const source *src = cifar10    ? &cifar10_source
                        : cifar100 ? &cifar100_source
                        : folder   ? &folder_source
                                   : &idx_source;
    const char *dir = cifar10 ? cifar10 : cifar100 ? cifar100
                      : folder ? folder : flag_text("data");
    d->name = src->name;

    rlkd_dataset *train = NULL, *validation = NULL, *test = NULL;
    if (parts & DATA_TEST) {
        test = folder ? load_folder(dir, "val")
               : src == &idx_source ? load_idx(dir, "t10k")
                                    : load_cifar(dir, !!cifar100, 0);
        test = limited(test, flag_int("test-limit"), !!folder);
        check(rlkd_dataset_info(test, &d->test_count, NULL, NULL, NULL, NULL),
              "data");
        shape_of(d, test, !!folder);
    }
    if (parts & DATA_TRAIN) {
        rlkd_dataset *full = folder ? load_folder(dir, "train")
                             : src == &idx_source
                                 ? load_idx(dir, "train")
                                 : load_cifar(dir, !!cifar100, 1);
        if (folder && test)
            check_same_classes(full, test, dir);
        full = limited(full, flag_int("train-limit"), !!folder);
        int64_t count;
        check(rlkd_dataset_info(full, &count, NULL, NULL, NULL, NULL), "data");
        const long long held = flag_int("validation");
        if (held >= count)
            fail("--validation %lld leaves no training images: the training "
                 "set has %lld", held, (long long)count);
        if (held > 0) {
            check(rlkd_dataset_split(full, held, (uint64_t)flag_int("seed"),
                                     &train, &validation),
                  "--validation %lld", held);
            release(full);
            own(OWN_DATASET, train);
            own(OWN_DATASET, validation);
        } else {
            train = full;
        }
        d->train_count = count - held;
        d->validation_count = held;
        shape_of(d, train, !!folder);
    }
    if (test && train && !folder) {
        int c, h, w;
        check(rlkd_dataset_info(test, NULL, &c, &h, &w, NULL), "data");
        if (c != d->channels || h != d->height || w != d->width)
            fail("%s: the test images (%dx%dx%d) and the training images "
                 "(%dx%dx%d) differ", dir, c, h, w, d->channels, d->height,
                 d->width);
    }

    rlkd_loader_options plain;
    rlkd_loader_options_init(&plain);
    plain.batch_size = (int)flag_int("batch");
    plain.seed = (uint64_t)flag_int("seed");
    plain.shuffle = 0;
    if (d->channels <= 3) {
        normalisation("mean", src->mean, d->channels, plain.mean);
        normalisation("std", src->std, d->channels, plain.std);
    }
    if (folder) {
        /* Evaluation: Resize + CenterCrop, as torchvision's ImageNet
         * evaluation. */
        plain.crop_size = (int)flag_int("crop");
        plain.resize_size = (int)flag_int("resize");
        plain.workers = decoding_workers();
        /* the choices' order is rlkd_device's: cpu, cuda */
        plain.decode_device = (rlkd_device)flag_choice("decode-device");
    }
    if (test)
        d->test = loader(test, &plain);
    if (validation)
        d->validation = loader(validation, &plain);
    if (train) {
        rlkd_loader_options augmented = plain;
        augmented.shuffle = 1;
        if (!flag_on("no-augment")) {
            augmented.crop_padding = src->crop_padding;
            augmented.random_resized_crop = !!folder;
            augmented.horizontal_flip = 1;
        }
        d->train = loader(train, &augmented);
    }
}

void data_check_net(const data *d, rlkd_net *net, const char *what)
{
    int64_t c, h, w, classes, ignored;
    int nodes;
    check(rlkd_net_node_shape(net, 0, &c, &h, &w), "%s", what);
    check(rlkd_net_node_count(net, &nodes), "%s", what);
    check(rlkd_net_node_shape(net, nodes - 1, &classes, &ignored, &ignored),
          "%s", what);
    if (c != d->channels || h != d->height || w != d->width)
        fail("%s reads %lldx%lldx%lld images, the data's are %dx%dx%d", what,
             (long long)c, (long long)h, (long long)w, d->channels,
             d->height, d->width);
    if (classes < d->classes)
        fail("%s has %lld class scores, the data has %d classes", what,
             (long long)classes, d->classes);
}
