/*
 * The trainer (rlkd_trainer_*), rlkd_evaluate, and the network calls the
 * trainer adds (rlkd_net_node_value, rlkd_net_backward_nodes): resumed runs
 * equal to uninterrupted ones bit for bit, distillation and attention
 * transfer, NaN losses, evaluation on a crafted network, progress reports,
 * and argument and file errors.
 */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IMAGES 42 /* 5 batches of 8 and a last one of 2 */
#define BATCH 8
#define SIDE 6
#define CLASSES 3
#define WEIGHT_SEED 7 /* the networks' initial weights */
#define RUN_SEED 99   /* the stream training draws from (dropout) */

/* The attention-transfer pair: the student's ReLU and the teacher's, both
 * [N, C, 6, 6]. */
#define STUDENT_AT_NODE 3
#define TEACHER_AT_NODE 2

static rlkd_dataset *dataset; /* shared by every run: host memory only */

/* ---- data and networks ---- */

static rlkd_dataset *make_dataset(void)
{
    return test_band_dataset(IMAGES, SIDE, CLASSES, 2, 1000);
}

static rlkd_loader *make_loader(rlkd_context *ctx, const rlkd_dataset *data,
                                int batch, int augment)
{
    rlkd_loader_options options;
    rlkd_loader_options_init(&options);
    options.batch_size = batch;
    options.shuffle = augment;
    options.horizontal_flip = augment;
    options.crop_padding = augment;
    options.seed = 5;
    rlkd_loader *loader;
    test_must(rlkd_loader_create(ctx, data, &options, &loader),
              "rlkd_loader_create");
    return loader;
}

/* conv - bn - relu (node 3) - maxpool - dropout - fc: dropout makes the
 * random stream matter. */
static rlkd_net *make_student(rlkd_context *ctx, int width)
{
    rlkd_net *net;
    int node;
    test_must(rlkd_net_create(ctx, 1, SIDE, SIDE, &net), "rlkd_net_create");
    test_must(
        rlkd_net_add_conv2d(net, &node, "conv", 0, width, 3, 1, 1, 1, 1, 0),
        "conv");
    test_must(rlkd_net_add_batchnorm2d(net, &node, "bn", node, 1e-5f, 0.1f),
              "bn");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu");
    test_must(rlkd_net_add_maxpool2d(net, &node, NULL, node, 2, 2, 0),
              "maxpool");
    test_must(rlkd_net_add_dropout(net, &node, NULL, node, 0.25f), "dropout");
    test_must(rlkd_net_add_linear(net, NULL, "fc", node, CLASSES, 1), "fc");
    return net;
}

/* conv - relu (node 2) - global avgpool - fc, with `classes` outputs. */
static rlkd_net *make_teacher(rlkd_context *ctx, int classes)
{
    rlkd_net *net;
    int node;
    test_must(rlkd_net_create(ctx, 1, SIDE, SIDE, &net), "rlkd_net_create");
    test_must(rlkd_net_add_conv2d(net, &node, "t_conv", 0, 6, 3, 1, 1, 1, 1, 1),
              "conv");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu");
    test_must(rlkd_net_add_global_avgpool(net, &node, NULL, node), "gap");
    test_must(rlkd_net_add_linear(net, NULL, "t_fc", node, classes, 1), "fc");
    return net;
}

/* A run from scratch: its own context (as a new process would have), the
 * networks, a loader; the trainer comes later. */
typedef struct run {
    rlkd_context *ctx;
    rlkd_loader *loader;
    rlkd_net *student, *teacher;
    rlkd_trainer *trainer;
} run;

static void run_begin(run *r, int with_teacher, uint64_t run_seed)
{
    memset(r, 0, sizeof *r);
    test_must(rlkd_context_create(&r->ctx, RLKD_DEVICE_CPU, 0),
              "rlkd_context_create");
    test_must(rlkd_context_set_seed(r->ctx, WEIGHT_SEED), "set seed");
    r->student = make_student(r->ctx, 4);
    /* Built in every run, so that the student's weights never depend on
     * whether a teacher is used. */
    rlkd_net *teacher = make_teacher(r->ctx, CLASSES);
    if (with_teacher)
        r->teacher = teacher;
    else
        rlkd_net_destroy(teacher);
    r->loader = make_loader(r->ctx, dataset, BATCH, 1);
    test_must(rlkd_context_set_seed(r->ctx, run_seed), "set seed");
}

static void run_trainer(run *r, const rlkd_trainer_options *options)
{
    test_must(rlkd_trainer_create(r->student, r->teacher, options, &r->trainer),
              "rlkd_trainer_create");
}

static void run_end(run *r)
{
    rlkd_trainer_destroy(r->trainer);
    rlkd_loader_destroy(r->loader);
    rlkd_net_destroy(r->student);
    rlkd_net_destroy(r->teacher);
    rlkd_context_destroy(r->ctx);
    memset(r, 0, sizeof *r);
}

/* SGD with momentum on a cosine schedule over 3 epochs; `epochs` may stop
 * a run early on that same schedule. */
static void base_options(rlkd_trainer_options *o, int epochs)
{
    rlkd_trainer_options_init(o);
    o->epochs = epochs;
    o->optimizer.momentum = 0.9f;
    o->schedule.base_lr = 0.05f;
    o->schedule.total_epochs = 3;
}

/* ---- every parameter and buffer, as bytes ---- */

typedef struct snapshot {
    unsigned char *bytes;
    size_t size;
} snapshot;

static void append_tensor(snapshot *s, const rlkd_tensor *t)
{
    const size_t numel = (size_t)rlkd_tensor_numel(t);
    s->bytes = realloc(s->bytes, s->size + numel * 4);
    if (!s->bytes)
        test_fatal("realloc");
    void *at = s->bytes + s->size;
    test_must(rlkd_tensor_dtype(t) == RLKD_DTYPE_F32
             ? rlkd_tensor_read(t, at, numel)
             : rlkd_tensor_read_i32(t, at, numel),
              "read tensor");
    s->size += numel * 4;
}

/* The parameters, then (with_buffers) the buffers. */
static snapshot take(const rlkd_net *net, int with_buffers)
{
    snapshot s = {NULL, 0};
    int params, buffers;
    test_must(rlkd_net_param_count(net, &params), "param count");
    test_must(rlkd_net_buffer_count(net, &buffers), "buffer count");
    for (int i = 0; i < params; i++) {
        rlkd_tensor *t;
        test_must(rlkd_net_param(net, i, NULL, &t, NULL), "param");
        append_tensor(&s, t);
    }
    for (int i = 0; with_buffers && i < buffers; i++) {
        rlkd_tensor *t;
        test_must(rlkd_net_buffer(net, i, NULL, &t), "buffer");
        append_tensor(&s, t);
    }
    return s;
}

static int same(const snapshot *a, const snapshot *b)
{
    return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0;
}

/* The largest difference between two snapshots of float parameters. */
static double largest_difference(const snapshot *a, const snapshot *b)
{
    double worst = a->size == b->size ? 0.0 : INFINITY;
    for (size_t i = 0; a->size == b->size && i < a->size / 4; i++) {
        float x, y;
        memcpy(&x, a->bytes + 4 * i, 4);
        memcpy(&y, b->bytes + 4 * i, 4);
        if (fabs((double)x - (double)y) > worst)
            worst = fabs((double)x - (double)y);
    }
    return worst;
}

static void drop(snapshot *s)
{
    free(s->bytes);
    s->bytes = NULL;
}

/* A straight run of `epochs` epochs: the student's parameters and buffers. */
static snapshot straight_run(int epochs, int with_teacher,
                             const rlkd_trainer_options *options)
{
    run r;
    run_begin(&r, with_teacher, RUN_SEED);
    rlkd_trainer_options o = *options;
    o.epochs = epochs;
    run_trainer(&r, &o);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    snapshot s = take(r.student, 1);
    run_end(&r);
    return s;
}

/* ---- resume ---- */

static void test_resume_after_epoch(void)
{
    rlkd_trainer_options options;
    base_options(&options, 3);
    snapshot straight = straight_run(3, 0, &options);

    char path[TEST_PATH_BYTES];
    test_temp_path(path, "after_epoch.safetensors");
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options first = options;
    first.epochs = 1;
    first.checkpoint_path = path;
    run_trainer(&r, &first);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    int64_t epoch = -1, step = -1;
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, &step));
    CHECK(epoch == 1 && step == 0);
    run_end(&r);

    /* A fresh process: another seed and fresh weights, all overwritten. */
    run_begin(&r, 0, 12345);
    run_trainer(&r, &options);
    CHECK_OK(rlkd_trainer_resume(r.trainer, path));
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, &step));
    CHECK_MSG(epoch == 1 && step == 0, "resumed at (%lld, %lld)",
              (long long)epoch, (long long)step);
    uint64_t seed = 0;
    CHECK_OK(rlkd_context_get_seed(r.ctx, &seed));
    CHECK(seed == RUN_SEED);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    snapshot resumed = take(r.student, 1);
    CHECK_MSG(same(&straight, &resumed),
              "1 + 2 resumed epochs differ from 3 straight ones (largest "
              "difference %g)", largest_difference(&straight, &resumed));
    drop(&resumed);
    run_end(&r);
    drop(&straight);
}

static void test_resume_mid_epoch(void)
{
    rlkd_trainer_options options;
    base_options(&options, 3);
    snapshot straight = straight_run(3, 0, &options);

    /* The caller's own loop: epoch 0, then epoch 1 up to step 3. */
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "mid_epoch.safetensors");
    run r;
    run_begin(&r, 0, RUN_SEED);
    run_trainer(&r, &options);
    int64_t steps;
    CHECK_OK(rlkd_loader_batch_count(r.loader, &steps));
    CHECK(steps == (IMAGES + BATCH - 1) / BATCH);
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        CHECK_OK(rlkd_loader_start_epoch(r.loader, epoch, 0));
        for (int64_t step = 0; step < (epoch == 0 ? steps : 3); step++) {
            rlkd_tensor *images, *labels;
            float loss = NAN;
            int64_t correct = -1;
            CHECK_OK(rlkd_loader_next(r.loader, &images, &labels));
            CHECK_OK(rlkd_trainer_step(r.trainer, images, labels, steps,
                                       &loss, &correct));
            CHECK(isfinite(loss) && loss > 0.0f);
            CHECK(correct >= 0 && correct <= rlkd_tensor_dim(images, 0));
        }
    }
    CHECK_OK(rlkd_trainer_save(r.trainer, path));
    run_end(&r);

    run_begin(&r, 0, 4242);
    run_trainer(&r, &options);
    CHECK_OK(rlkd_trainer_resume(r.trainer, path));
    int64_t epoch, step;
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, &step));
    CHECK_MSG(epoch == 1 && step == 3, "resumed at (%lld, %lld)",
              (long long)epoch, (long long)step);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    snapshot resumed = take(r.student, 1);
    CHECK_MSG(same(&straight, &resumed),
              "a run resumed mid-epoch differs from a straight one (largest "
              "difference %g)", largest_difference(&straight, &resumed));
    drop(&resumed);
    run_end(&r);
    drop(&straight);
}

/* A trainer checkpoint is a network checkpoint too. */
static void test_checkpoint_is_network_file(void)
{
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "as_network.safetensors");
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options options;
    base_options(&options, 1);
    run_trainer(&r, &options);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    CHECK_OK(rlkd_trainer_save(r.trainer, path));
    snapshot trained = take(r.student, 1);

    rlkd_net *copy = make_student(r.ctx, 4);
    CHECK_OK(rlkd_net_load_weights(copy, path));
    snapshot loaded = take(copy, 1);
    CHECK(same(&trained, &loaded));
    drop(&loaded);
    rlkd_net_destroy(copy);

    rlkd_net *rebuilt = NULL;
    CHECK_OK(rlkd_net_load(r.ctx, path, &rebuilt));
    if (rebuilt) {
        loaded = take(rebuilt, 1);
        CHECK(same(&trained, &loaded));
        drop(&loaded);
    }
    rlkd_net_destroy(rebuilt);
    drop(&trained);
    run_end(&r);
}

/* ---- distillation ---- */

static void test_kd_alpha_zero_is_cross_entropy(void)
{
    rlkd_trainer_options options;
    base_options(&options, 2);
    snapshot plain = straight_run(2, 0, &options);
    options.kd_alpha = 0.0f;
    snapshot distilled = straight_run(2, 1, &options);
    /* kd_loss with alpha 0 computes the cross-entropy alone, with the same
     * gradient scale (1 / N) as softmax_cross_entropy: the same bits. */
    CHECK_MSG(same(&plain, &distilled),
              "KD with alpha 0 differs from cross-entropy (largest "
              "difference %g)", largest_difference(&plain, &distilled));
    drop(&plain);
    drop(&distilled);
}

static void test_teacher_and_attention_change_training(void)
{
    rlkd_trainer_options options;
    base_options(&options, 1);
    snapshot plain = straight_run(1, 0, &options);
    snapshot distilled = straight_run(1, 1, &options);
    CHECK_MSG(!same(&plain, &distilled), "a teacher changed nothing");

    options.at_pairs[0][0] = STUDENT_AT_NODE;
    options.at_pairs[0][1] = TEACHER_AT_NODE;
    options.at_pair_count = 1;
    snapshot pairs_off = straight_run(1, 1, &options);
    CHECK_MSG(same(&distilled, &pairs_off),
              "attention pairs with at_beta 0 changed the training");

    options.at_beta = 50.0f;
    run r;
    run_begin(&r, 1, RUN_SEED);
    snapshot teacher_before = take(r.teacher, 1);
    run_trainer(&r, &options);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    snapshot with_at = take(r.student, 1);
    snapshot teacher_after = take(r.teacher, 1);
    CHECK_MSG(!same(&distilled, &with_at), "at_beta > 0 changed nothing");
    CHECK_MSG(same(&teacher_before, &teacher_after),
              "the teacher's parameters or buffers changed");
    /* The AT loss adds to the loss a step reports. */
    rlkd_tensor *images, *labels;
    CHECK_OK(rlkd_loader_start_epoch(r.loader, 0, 0));
    CHECK_OK(rlkd_loader_next(r.loader, &images, &labels));
    float loss;
    CHECK_OK(rlkd_trainer_step(r.trainer, images, labels, 100, &loss, NULL));
    CHECK(isfinite(loss) && loss > 0.0f);
    run_end(&r);
    drop(&plain);
    drop(&distilled);
    drop(&pairs_off);
    drop(&with_at);
    drop(&teacher_before);
    drop(&teacher_after);
}

/* ---- NaN ---- */

static int poison_epoch = 1;

/* Puts a NaN into the student's fc.weight at the first report of epoch
 * poison_epoch: the next step's loss is NaN. */
static void poison(const rlkd_progress *progress, void *user)
{
    if (progress->evaluating || progress->epoch != poison_epoch ||
        progress->step != 0)
        return;
    rlkd_tensor *weight;
    test_must(rlkd_net_find(user, "fc.weight", &weight), "find fc.weight");
    float *values = t_get(weight);
    values[0] = NAN;
    test_must(rlkd_tensor_write(weight, values,
                           (size_t)rlkd_tensor_numel(weight)),
              "write NaN");
    free(values);
}

static void test_nan_stops_fit(void)
{
    char path[TEST_PATH_BYTES], reference[TEST_PATH_BYTES];
    test_temp_path(path, "nan.safetensors");
    test_temp_path(reference, "nan_reference.safetensors");
    rlkd_trainer_options options;
    base_options(&options, 3);

    /* Epoch 0 only: what the checkpoint must still hold. */
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options first = options;
    first.epochs = 1;
    run_trainer(&r, &first);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    CHECK_OK(rlkd_trainer_save(r.trainer, reference));
    run_end(&r);

    run_begin(&r, 0, RUN_SEED);
    options.checkpoint_path = path;
    options.progress = poison;
    options.progress_user = r.student;
    options.progress_every = 1;
    run_trainer(&r, &options);
    CHECK_FAILS(rlkd_trainer_fit(r.trainer, r.loader, NULL), RLKD_ERR_NUMERIC,
                "epoch 1, step 1");
    int64_t epoch, step;
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, &step));
    CHECK_MSG(epoch == 1 && step == 1, "stopped at (%lld, %lld)",
              (long long)epoch, (long long)step);

    /* The file still holds epoch 0, as a save made then. */
    rlkd_net *saved = NULL, *expected = NULL;
    CHECK_OK(rlkd_net_load(r.ctx, path, &saved));
    CHECK_OK(rlkd_net_load(r.ctx, reference, &expected));
    if (saved && expected) {
        snapshot a = take(saved, 1), b = take(expected, 1);
        CHECK_MSG(same(&a, &b), "the checkpoint is not the last good epoch");
        drop(&a);
        drop(&b);
    }
    rlkd_net_destroy(saved);
    rlkd_net_destroy(expected);
    rlkd_trainer *fresh;
    base_options(&options, 3);
    CHECK_OK(rlkd_trainer_create(r.student, NULL, &options, &fresh));
    CHECK_OK(rlkd_trainer_resume(fresh, path));
    CHECK_OK(rlkd_trainer_position(fresh, &epoch, &step));
    CHECK(epoch == 1 && step == 0);
    rlkd_trainer_destroy(fresh);
    run_end(&r);
}

/* A NaN loss in a step the caller runs: no update, no advance. */
static void test_nan_step_makes_no_update(void)
{
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options options;
    base_options(&options, 1);
    options.schedule.kind = RLKD_SCHEDULE_CONSTANT;
    options.schedule.base_lr = 1e30f;
    run_trainer(&r, &options);
    CHECK_OK(rlkd_loader_start_epoch(r.loader, 0, 0));
    rlkd_status status = RLKD_OK;
    int64_t taken = 0;
    /* A huge rate blows the weights up within a few steps. */
    while (status == RLKD_OK && taken < 6) {
        rlkd_tensor *images, *labels;
        test_must(rlkd_loader_next(r.loader, &images, &labels), "next");
        snapshot before = take(r.student, 0);
        status = rlkd_trainer_step(r.trainer, images, labels, 6, NULL, NULL);
        if (status != RLKD_OK) {
            snapshot after = take(r.student, 0);
            CHECK_MSG(same(&before, &after),
                      "a failed step changed the parameters");
            drop(&after);
        } else {
            taken++;
        }
        drop(&before);
    }
    CHECK_MSG(status == RLKD_ERR_NUMERIC, "got %s after %lld steps (%s)",
              rlkd_status_string(status), (long long)taken, rlkd_last_error());
    int64_t epoch, step;
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, &step));
    CHECK(epoch == 0 && step == taken);
    run_end(&r);
}

/* ---- evaluation ---- */

/* A linear net on 4 one-hot "pixels": logits are a column of W. */
static const float eval_weights[6][4] = {
    {5, 0, 1, 0}, {4, 1, 1, 0}, {3, 2, 0, 0},
    {2, 3, 0, 0}, {1, 4, 0, 0}, {0, 5, 0, 0},
};
/* (column, label): ranks 0, 5, 0, 4, 1, 0, 4, 5 (ties to the lower class). */
static const int eval_items[8][2] = {
    {0, 0}, {0, 5}, {1, 5}, {1, 1}, {2, 1}, {2, 0}, {3, 4}, {3, 5},
};

static void test_evaluate_known_answers(void)
{
    rlkd_dataset *data;
    test_must(rlkd_dataset_create(8, 4, 1, 1, 6, &data), "dataset");
    for (int i = 0; i < 8; i++) {
        uint8_t pixels[4] = {0, 0, 0, 0};
        pixels[eval_items[i][0]] = 255;
        test_must(rlkd_dataset_set_item(data, i, pixels, eval_items[i][1]),
                  "item");
    }
    rlkd_net *net;
    test_must(rlkd_net_create(test_ctx, 4, 1, 1, &net), "net");
    test_must(rlkd_net_add_linear(net, NULL, "fc", 0, 6, 1), "fc");
    rlkd_tensor *weight, *bias;
    test_must(rlkd_net_find(net, "fc.weight", &weight), "find");
    test_must(rlkd_net_find(net, "fc.bias", &bias), "find");
    test_must(rlkd_tensor_write(weight, &eval_weights[0][0], 24), "write");
    test_must(rlkd_tensor_fill(bias, 0.0f), "fill");

    /* Batches of 3, 3 and 2: the mean loss weighs each by its size. */
    rlkd_loader *loader = make_loader(test_ctx, data, 3, 0);
    double top1 = -1, top5 = -1, loss = -1;
    CHECK_OK(rlkd_evaluate(net, loader, &top1, &top5, &loss));
    double expected_loss = 0.0;
    for (int i = 0; i < 8; i++) {
        const int column = eval_items[i][0], label = eval_items[i][1];
        double sum = 0.0;
        for (int k = 0; k < 6; k++)
            sum += exp(eval_weights[k][column]);
        expected_loss += (log(sum) - eval_weights[label][column]) / 8.0;
    }
    CHECK_MSG(top1 == 3.0 / 8.0, "top-1 %g, expected 3/8", top1);
    CHECK_MSG(top5 == 6.0 / 8.0, "top-5 %g, expected 6/8", top5);
    CHECK_MSG(fabs(loss - expected_loss) < 1e-5, "loss %.7f, expected %.7f",
              loss, expected_loss);
    CHECK_OK(rlkd_evaluate(net, loader, NULL, NULL, NULL));

    /* Three classes: top-5 is top-3, every label. */
    rlkd_net *small;
    test_must(rlkd_net_create(test_ctx, 4, 1, 1, &small), "net");
    test_must(rlkd_net_add_linear(small, NULL, "fc", 0, 3, 1), "fc");
    rlkd_dataset *three;
    test_must(rlkd_dataset_subset(data, 0, 1, &three), "subset");
    rlkd_loader *one = make_loader(test_ctx, three, 3, 0);
    CHECK_OK(rlkd_evaluate(small, one, &top1, &top5, NULL));
    CHECK(top5 == 1.0);

    CHECK_FAILS(rlkd_evaluate(NULL, loader, &top1, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "net");
    CHECK_FAILS(rlkd_evaluate(net, NULL, &top1, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "loader");
    rlkd_loader_destroy(one);
    rlkd_dataset_destroy(three);
    rlkd_net_destroy(small);
    rlkd_loader_destroy(loader);
    rlkd_net_destroy(net);
    rlkd_dataset_destroy(data);
}

/* ---- progress ---- */

typedef struct progress_log {
    int training, evaluating, bad;
    int64_t last_step;
} progress_log;

static void record(const rlkd_progress *p, void *user)
{
    progress_log *log = user;
    const int sane = p->struct_size == sizeof *p && p->epochs == 2 &&
                     p->epoch >= 0 && p->epoch < 2 && p->steps == 6 &&
                     p->step >= 0 && p->step < 6 && isfinite(p->loss) &&
                     p->loss > 0.0 && p->accuracy >= 0.0 &&
                     p->accuracy <= 1.0 && p->images_per_second >= 0.0 &&
                     p->eta_seconds >= 0.0 && p->lr == 0.05f;
    if (!sane) {
        log->bad++;
        printf("  bad progress: eval %d epoch %lld/%lld step %lld/%lld "
               "loss %g acc %g ips %g eta %g lr %g\n", p->evaluating,
               (long long)p->epoch, (long long)p->epochs, (long long)p->step,
               (long long)p->steps, p->loss, p->accuracy,
               p->images_per_second, p->eta_seconds, (double)p->lr);
    }
    if (p->evaluating) {
        log->evaluating++;
    } else {
        log->training++;
        log->last_step = p->step;
    }
}

static void test_progress(void)
{
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_loader *validation = make_loader(r.ctx, dataset, 16, 0);
    rlkd_trainer_options options;
    base_options(&options, 2);
    options.schedule.kind = RLKD_SCHEDULE_CONSTANT;
    progress_log log = {0, 0, 0, -1};
    options.progress = record;
    options.progress_user = &log;
    options.progress_every = 4;
    run_trainer(&r, &options);
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, validation));
    /* Steps 3 and 5 (the epoch's end) of each epoch, then the evaluation. */
    CHECK_MSG(log.training == 4 && log.evaluating == 2 && log.bad == 0,
              "%d training reports, %d evaluations, %d bad", log.training,
              log.evaluating, log.bad);
    CHECK(log.last_step == 5);
    /* A finished run does nothing more. */
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, validation));
    CHECK(log.training == 4);
    rlkd_loader_destroy(validation);
    run_end(&r);
}

/* ---- the network calls the trainer uses ---- */

static void test_node_value_and_backward_nodes(void)
{
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_tensor *value = NULL;
    CHECK_FAILS(rlkd_net_node_value(r.student, 1, &value),
                RLKD_ERR_INVALID_ARGUMENT, "forward");
    rlkd_tensor *images, *labels, *output;
    CHECK_OK(rlkd_loader_start_epoch(r.loader, 0, 0));
    CHECK_OK(rlkd_loader_next(r.loader, &images, &labels));
    CHECK_OK(rlkd_net_forward(r.student, images, 1, &output));
    CHECK_OK(rlkd_net_node_value(r.student, 6, &value));
    CHECK(value == output);
    CHECK_OK(rlkd_net_node_value(r.student, 0, &value));
    CHECK(value == images);
    CHECK_OK(rlkd_net_node_value(r.student, STUDENT_AT_NODE, &value));
    CHECK(rlkd_tensor_ndim(value) == 4 && rlkd_tensor_dim(value, 1) == 4 &&
          rlkd_tensor_dim(value, 2) == SIDE);
    CHECK_FAILS(rlkd_net_node_value(r.student, 7, &value),
                RLKD_ERR_INVALID_ARGUMENT, "out of range");
    CHECK_FAILS(rlkd_net_node_value(r.student, -1, &value),
                RLKD_ERR_INVALID_ARGUMENT, "out of range");
    CHECK_FAILS(rlkd_net_node_value(NULL, 1, &value),
                RLKD_ERR_INVALID_ARGUMENT, "net");
    CHECK_FAILS(rlkd_net_node_value(r.student, 1, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "value");

    /* Gradients are linear in what flows back: output alone plus feature
     * alone is both at once. */
    int64_t out_shape[4], feature_shape[4];
    CHECK_OK(rlkd_net_node_value(r.student, STUDENT_AT_NODE, &value));
    CHECK_OK(rlkd_tensor_shape(output, out_shape, 2));
    CHECK_OK(rlkd_tensor_shape(value, feature_shape, 4));
    /* On test_ctx, not the run's context. */
    rlkd_tensor *foreign_grad = t_new(feature_shape[0], feature_shape[1],
                                      feature_shape[2], feature_shape[3]);
    rlkd_tensor *doutput_ctx, *feature_ctx, *zero_out_ctx;
    CHECK_OK(rlkd_tensor_create(r.ctx, RLKD_DTYPE_F32, 2, out_shape,
                                &doutput_ctx));
    CHECK_OK(rlkd_tensor_create(r.ctx, RLKD_DTYPE_F32, 2, out_shape,
                                &zero_out_ctx));
    CHECK_OK(rlkd_tensor_create(r.ctx, RLKD_DTYPE_F32, 4, feature_shape,
                                &feature_ctx));
    CHECK_OK(rlkd_tensor_fill_normal(doutput_ctx, 0.0f, 1.0f));
    CHECK_OK(rlkd_tensor_fill_normal(feature_ctx, 0.0f, 1.0f));
    const int node = STUDENT_AT_NODE;
    const rlkd_tensor *grads[1] = {feature_ctx};

    rlkd_tensor *conv_grad;
    CHECK_OK(rlkd_net_param(r.student, 0, NULL, NULL, &conv_grad));
    const size_t n = (size_t)rlkd_tensor_numel(conv_grad);
    CHECK_OK(rlkd_net_zero_grad(r.student));
    CHECK_OK(rlkd_net_backward(r.student, doutput_ctx, NULL));
    float *from_output = t_get(conv_grad);
    CHECK_OK(rlkd_net_zero_grad(r.student));
    CHECK_OK(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, NULL,
                                     NULL, 0));
    float *again = t_get(conv_grad);
    CHECK_MSG(memcmp(from_output, again, n * sizeof *again) == 0,
              "backward_nodes with count 0 differs from backward");
    CHECK_OK(rlkd_net_zero_grad(r.student));
    CHECK_OK(rlkd_net_backward_nodes(r.student, zero_out_ctx, NULL, &node,
                                     grads, 1));
    float *from_feature = t_get(conv_grad);
    CHECK_OK(rlkd_net_zero_grad(r.student));
    CHECK_OK(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &node,
                                     grads, 1));
    float *both = t_get(conv_grad);
    double *want = malloc(n * sizeof *want);
    double feature_norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        want[i] = (double)from_output[i] + (double)from_feature[i];
        feature_norm += fabs((double)from_feature[i]);
    }
    CHECK_MSG(feature_norm > 0.0, "the injected gradient reached no weight");
    test_close("conv.weight grad", both, want, n, 1e-5, 1e-4);

    /* Errors, before anything is written. */
    CHECK_FAILS(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &node,
                                        grads, -1),
                RLKD_ERR_INVALID_ARGUMENT, "count");
    CHECK_FAILS(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, NULL,
                                        grads, 1),
                RLKD_ERR_INVALID_ARGUMENT, "nodes");
    CHECK_FAILS(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &node,
                                        NULL, 1),
                RLKD_ERR_INVALID_ARGUMENT, "grads");
    const int far = 9;
    CHECK_FAILS(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &far,
                                        grads, 1),
                RLKD_ERR_INVALID_ARGUMENT, "out of range");
    const int other = 1; /* the conv is [N,4,6,6] too; the pool is not */
    const int pool = 4;
    CHECK_OK(rlkd_net_zero_grad(r.student));
    CHECK_OK(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &other,
                                     grads, 1));
    CHECK_FAILS(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &pool,
                                        grads, 1),
                RLKD_ERR_SHAPE, "grads[0]");
    const rlkd_tensor *foreign[1] = {foreign_grad};
    CHECK_FAILS(rlkd_net_backward_nodes(r.student, doutput_ctx, NULL, &node,
                                        foreign, 1),
                RLKD_ERR_DEVICE_MISMATCH, NULL);

    free(want);
    free(from_output);
    free(again);
    free(from_feature);
    free(both);
    rlkd_tensor_destroy(foreign_grad);
    rlkd_tensor_destroy(doutput_ctx);
    rlkd_tensor_destroy(zero_out_ctx);
    rlkd_tensor_destroy(feature_ctx);
    run_end(&r);
}

/* ---- errors ---- */

static void expect_refused(rlkd_net *student, rlkd_net *teacher,
                           const rlkd_trainer_options *options,
                           rlkd_status status, const char *needle,
                           int line)
{
    rlkd_trainer *trainer = (rlkd_trainer *)&trainer; /* must come back NULL */
    test_check_status(rlkd_trainer_create(student, teacher, options,
                                          &trainer),
                      status, needle, __FILE__, line, "rlkd_trainer_create");
    CHECK_MSG(trainer == NULL, "line %d: *out not NULL", line);
}

#define REFUSED(student, teacher, options, status, needle) \
    expect_refused(student, teacher, options, status, needle, __LINE__)

static void test_bad_options(void)
{
    run r;
    run_begin(&r, 1, RUN_SEED);
    rlkd_trainer_options_init(NULL); /* no crash */
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    CHECK(o.epochs == 10 && o.schedule.total_epochs == 10 &&
          o.kd_alpha == 0.9f && o.kd_temperature == 4.0f &&
          o.at_beta == 0.0f && o.at_pair_count == 0 &&
          o.progress_every == 20 && o.checkpoint_path == NULL &&
          o.label_smoothing == 0.0f && o.optimizer.momentum == 0.9f);
    rlkd_trainer *trainer;
    CHECK_FAILS(rlkd_trainer_create(r.student, NULL, &o, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "out");
    REFUSED(NULL, NULL, &o, RLKD_ERR_INVALID_ARGUMENT, "student");

#define BAD(field, value, needle)                                       \
    do {                                                                \
        rlkd_trainer_options bad = o;                                   \
        bad.field = value;                                              \
        REFUSED(r.student, r.teacher, &bad, RLKD_ERR_INVALID_ARGUMENT,  \
                needle);                                                \
    } while (0)
    BAD(struct_size, 8, "struct_size");
    BAD(epochs, 0, "epochs");
    BAD(label_smoothing, 1.0f, "label_smoothing");
    BAD(kd_alpha, 1.5f, "kd_alpha");
    BAD(kd_alpha, NAN, "kd_alpha");
    BAD(kd_temperature, 0.0f, "kd_temperature");
    BAD(at_beta, -1.0f, "at_beta");
    BAD(at_beta, 1.0f, "at_pairs");
    BAD(at_pair_count, 9, "at_pair_count");
    BAD(progress_every, 0, "progress_every");
    BAD(checkpoint_path, "", "checkpoint_path");
    BAD(optimizer.momentum, -1.0f, "momentum");
    BAD(schedule.base_lr, -1.0f, "base_lr");
#undef BAD

    /* Attention pairs: in range, feature maps, one size, with a teacher. */
    rlkd_trainer_options pairs = o;
    pairs.at_pair_count = 1;
    pairs.at_pairs[0][0] = STUDENT_AT_NODE;
    pairs.at_pairs[0][1] = TEACHER_AT_NODE;
    CHECK_OK(rlkd_trainer_create(r.student, r.teacher, &pairs, &trainer));
    rlkd_trainer_destroy(trainer);
    REFUSED(r.student, NULL, &pairs, RLKD_ERR_INVALID_ARGUMENT, "teacher");
    pairs.at_pairs[0][0] = 7;
    REFUSED(r.student, r.teacher, &pairs, RLKD_ERR_INVALID_ARGUMENT,
            "student's node 7 is out of range");
    pairs.at_pairs[0][0] = 0;
    REFUSED(r.student, r.teacher, &pairs, RLKD_ERR_INVALID_ARGUMENT,
            "out of range");
    pairs.at_pairs[0][0] = STUDENT_AT_NODE;
    pairs.at_pairs[0][1] = 5;
    REFUSED(r.student, r.teacher, &pairs, RLKD_ERR_INVALID_ARGUMENT,
            "teacher's node 5 is out of range");
    pairs.at_pairs[0][1] = 4; /* the teacher's fc: flat */
    REFUSED(r.student, r.teacher, &pairs, RLKD_ERR_INVALID_ARGUMENT, "flat");
    pairs.at_pairs[0][0] = 4; /* the student's pool: 3x3, the teacher's 6x6 */
    pairs.at_pairs[0][1] = TEACHER_AT_NODE;
    REFUSED(r.student, r.teacher, &pairs, RLKD_ERR_SHAPE, "3x3");

    /* NULL options are the defaults. */
    CHECK_OK(rlkd_trainer_create(r.student, r.teacher, NULL, &trainer));
    rlkd_trainer_destroy(trainer);
    rlkd_trainer_destroy(NULL);
    run_end(&r);
}

static void test_mismatched_networks(void)
{
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    rlkd_net *four_classes = make_teacher(r.ctx, 4);
    REFUSED(r.student, four_classes, &o, RLKD_ERR_SHAPE, "classes");
    rlkd_net *wide;
    test_must(rlkd_net_create(r.ctx, 1, SIDE + 2, SIDE, &wide), "net");
    test_must(rlkd_net_add_linear(wide, NULL, "fc", 0, CLASSES, 1), "fc");
    REFUSED(r.student, wide, &o, RLKD_ERR_SHAPE, "images");
    REFUSED(r.student, r.student, &o, RLKD_ERR_INVALID_ARGUMENT,
            "the teacher is the student");
    rlkd_net *elsewhere = make_teacher(test_ctx, CLASSES);
    REFUSED(r.student, elsewhere, &o, RLKD_ERR_DEVICE_MISMATCH, "contexts");
    rlkd_net *features; /* ends in a conv: no class scores */
    test_must(rlkd_net_create(r.ctx, 1, SIDE, SIDE, &features), "net");
    test_must(
        rlkd_net_add_conv2d(features, NULL, "conv", 0, 3, 3, 1, 1, 1, 1, 0),
        "conv");
    REFUSED(features, NULL, &o, RLKD_ERR_INVALID_ARGUMENT, "student's output");
    REFUSED(r.student, features, &o, RLKD_ERR_INVALID_ARGUMENT,
            "teacher's output");
    /* The builder keeps optimiser state's names free. */
    CHECK_FAILS(rlkd_net_add_relu(features, NULL, "optimizer_state", 1),
                RLKD_ERR_INVALID_ARGUMENT, "optimizer_state");
    CHECK_FAILS(rlkd_net_add_conv2d(features, NULL, "optimizer_state.x", 1, 3,
                                    3, 1, 1, 1, 1, 0),
                RLKD_ERR_INVALID_ARGUMENT, "reserve");
    rlkd_net_destroy(features);
    rlkd_net_destroy(elsewhere);
    rlkd_net_destroy(wide);
    rlkd_net_destroy(four_classes);
    run_end(&r);
}

static void test_call_errors(void)
{
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "calls.safetensors");
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options o;
    base_options(&o, 1);
    run_trainer(&r, &o);
    rlkd_tensor *images, *labels;
    CHECK_OK(rlkd_loader_start_epoch(r.loader, 0, 0));
    CHECK_OK(rlkd_loader_next(r.loader, &images, &labels));
    CHECK_FAILS(rlkd_trainer_step(NULL, images, labels, 6, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "trainer");
    CHECK_FAILS(rlkd_trainer_step(r.trainer, NULL, labels, 6, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "images");
    CHECK_FAILS(rlkd_trainer_step(r.trainer, images, NULL, 6, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "labels");
    CHECK_FAILS(rlkd_trainer_step(r.trainer, images, labels, 0, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "steps_per_epoch");
    CHECK_FAILS(rlkd_trainer_step(r.trainer, labels, labels, 6, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, NULL);
    CHECK_FAILS(rlkd_trainer_fit(NULL, r.loader, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "trainer");
    CHECK_FAILS(rlkd_trainer_fit(r.trainer, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "train");
    CHECK_FAILS(rlkd_trainer_position(NULL, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "trainer");
    CHECK_FAILS(rlkd_trainer_save(NULL, path), RLKD_ERR_INVALID_ARGUMENT,
                "trainer");
    CHECK_FAILS(rlkd_trainer_save(r.trainer, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "path");
    CHECK_FAILS(rlkd_trainer_resume(NULL, path), RLKD_ERR_INVALID_ARGUMENT,
                "trainer");
    CHECK_FAILS(rlkd_trainer_resume(r.trainer, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "path");
    char missing[TEST_PATH_BYTES];
    test_temp_path(missing, "no_dir/x.safetensors");
    CHECK_FAILS(rlkd_trainer_save(r.trainer, missing), RLKD_ERR_IO, "no_dir");
    CHECK_FAILS(rlkd_trainer_resume(r.trainer, missing), RLKD_ERR_IO,
                "no_dir");
    /* Nothing trained: the position stays. */
    int64_t epoch, step;
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, NULL));
    CHECK_OK(rlkd_trainer_position(r.trainer, NULL, &step));
    CHECK(epoch == 0 && step == 0);
    run_end(&r);
}

static void test_resume_refuses_other_files(void)
{
    char network_file[TEST_PATH_BYTES], other_arch[TEST_PATH_BYTES];
    char adam[TEST_PATH_BYTES];
    test_temp_path(network_file, "plain_network.safetensors");
    test_temp_path(other_arch, "other_architecture.safetensors");
    test_temp_path(adam, "adam.safetensors");
    run r;
    run_begin(&r, 0, RUN_SEED);
    rlkd_trainer_options o;
    base_options(&o, 1);
    run_trainer(&r, &o);

    /* A network checkpoint has no trainer metadata. */
    CHECK_OK(rlkd_net_save(r.student, network_file));
    /* A trainer of a wider student. */
    rlkd_net *wide = make_student(r.ctx, 5);
    rlkd_trainer *wide_trainer;
    CHECK_OK(rlkd_trainer_create(wide, NULL, &o, &wide_trainer));
    CHECK_OK(rlkd_trainer_save(wide_trainer, other_arch));
    /* The same student under Adam: other optimiser state. */
    rlkd_trainer_options adam_options = o;
    adam_options.optimizer.kind = RLKD_OPTIMIZER_ADAM;
    rlkd_trainer *adam_trainer;
    CHECK_OK(rlkd_trainer_create(r.student, NULL, &adam_options,
                                 &adam_trainer));
    CHECK_OK(rlkd_trainer_save(adam_trainer, adam));

    /* Move the student so that an overwrite would show. */
    CHECK_OK(rlkd_trainer_fit(r.trainer, r.loader, NULL));
    snapshot before = take(r.student, 1);
    uint64_t seed_before;
    CHECK_OK(rlkd_context_get_seed(r.ctx, &seed_before));
    CHECK_FAILS(rlkd_trainer_resume(r.trainer, network_file), RLKD_ERR_FORMAT,
                "rlkd_trainer_epoch");
    CHECK_FAILS(rlkd_trainer_resume(r.trainer, other_arch), RLKD_ERR_FORMAT,
                "another architecture");
    CHECK_FAILS(rlkd_trainer_resume(r.trainer, adam), RLKD_ERR_FORMAT,
                "optimizer_state.conv.weight.exp_avg");
    CHECK_FAILS(rlkd_trainer_resume(r.trainer, adam), RLKD_ERR_FORMAT, adam);
    snapshot after = take(r.student, 1);
    CHECK_MSG(same(&before, &after), "a refused resume changed the student");
    uint64_t seed_after;
    CHECK_OK(rlkd_context_get_seed(r.ctx, &seed_after));
    CHECK(seed_after == seed_before);
    int64_t epoch, step;
    CHECK_OK(rlkd_trainer_position(r.trainer, &epoch, &step));
    CHECK(epoch == 1 && step == 0);
    /* And the other way round: Adam's trainer lacks nothing but has no
     * momentum buffers to take. */
    CHECK_OK(rlkd_trainer_save(r.trainer, network_file));
    CHECK_FAILS(rlkd_trainer_resume(adam_trainer, network_file),
                RLKD_ERR_FORMAT, "momentum_buffer");
    /* The same architecture resumes. */
    CHECK_OK(rlkd_trainer_resume(r.trainer, network_file));

    drop(&before);
    drop(&after);
    rlkd_trainer_destroy(adam_trainer);
    rlkd_trainer_destroy(wide_trainer);
    rlkd_net_destroy(wide);
    run_end(&r);
}

int main(void)
{
    test_main_begin();
    dataset = make_dataset();

    test_run("resume_after_epoch", test_resume_after_epoch);
    test_run("resume_mid_epoch", test_resume_mid_epoch);
    test_run("checkpoint_is_network_file", test_checkpoint_is_network_file);
    test_run("kd_alpha_zero_is_cross_entropy",
             test_kd_alpha_zero_is_cross_entropy);
    test_run("teacher_and_attention_change_training",
             test_teacher_and_attention_change_training);
    test_run("nan_stops_fit", test_nan_stops_fit);
    test_run("nan_step_makes_no_update", test_nan_step_makes_no_update);
    test_run("evaluate_known_answers", test_evaluate_known_answers);
    test_run("progress", test_progress);
    test_run("node_value_and_backward_nodes",
             test_node_value_and_backward_nodes);
    test_run("bad_options", test_bad_options);
    test_run("mismatched_networks", test_mismatched_networks);
    test_run("call_errors", test_call_errors);
    test_run("resume_refuses_other_files", test_resume_refuses_other_files);

    rlkd_dataset_destroy(dataset);
    test_main_end();
    return test_finish();
}
