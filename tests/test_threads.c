/*
 * Contexts are independent: several threads, each with its own context,
 * run the whole pipeline at once - build a teacher and a student, train the
 * teacher and distil the student with the trainer over loaders that have
 * worker threads of their own, evaluate, save and reload a checkpoint, run
 * a few episodes of the pruning search, apply its best policy and compact -
 * and every thread's results equal, bit for bit, those of the same work run
 * alone. The data set is shared by every thread (read-only). Error messages
 * are per thread: a failure in one thread never shows in another.
 *
 * `make test-tsan` runs this under ThreadSanitizer. Each context runs its
 * CPU ops on one thread: libgomp and OpenBLAS are not instrumented, and
 * ThreadSanitizer reports races in their thread pools that are not there
 * (see mk/tsan.mk); the threads that remain - the callers' and the
 * loaders' - are what this test is about.
 */
#include "testlib.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define VARIANTS 2 /* thread t runs variant t % VARIANTS: pairs do the same work */
#define IMAGES 48
#define VALIDATION 16
#define SIDE 8
#define CLASSES 3
#define BATCH 8
#define LAYERS 2 /* the student's prunable groups */
#define MESSAGE_BYTES 1024

static rlkd_dataset *dataset; /* shared by every thread */

/* What one run of the work gives; compared bit for bit (zeroed first, so
 * padding compares too). */
typedef struct outcome {
    uint64_t teacher_hash, student_hash; /* parameters and buffers after training */
    double top1, top5, loss;             /* rlkd_evaluate of the student */
    uint64_t logits_hash;                /* on the first validation batch */
    int reloaded_same;                   /* the checkpoint gives the same logits */
    double best_reward;
    int64_t best_macs;
    int best_keep[LAYERS];
    int64_t compact_params, compact_macs;
    uint64_t compact_logits_hash;
    int own_error_first; /* the thread's own message after every thread failed */
    int own_error_later; /* and once more in the middle of the work */
} outcome;

typedef struct job {
    int variant;
    pthread_barrier_t *barrier; /* NULL when run alone */
    char net_path[TEST_PATH_BYTES], trainer_path[TEST_PATH_BYTES],
        search_path[TEST_PATH_BYTES];
    /* Results, read by the main thread after the join. */
    outcome out;
    rlkd_status status;
    char failed_call[160];
    char message[MESSAGE_BYTES];
} job;

/* The first failing call of a job ends it; the main thread reports it. */
#define STEP(call)                                                          \
    do {                                                                    \
        rlkd_status step_ = (call);                                         \
        if (step_ != RLKD_OK) {                                             \
            note_failure(j, #call, step_);                                  \
            goto done;                                                      \
        }                                                                   \
    } while (0)

static void note_failure(job *j, const char *call, rlkd_status status)
{
    j->status = status;
    snprintf(j->failed_call, sizeof j->failed_call, "%s", call);
    snprintf(j->message, sizeof j->message, "%s", rlkd_last_error());
}

/* ---- hashing what a run made ---- */

static uint64_t fnv1a(uint64_t hash, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++)
        hash = (hash ^ p[i]) * 1099511628211u;
    return hash;
}

#define FNV_START 14695981039346656037u

#define TRY(call)                                                           \
    do {                                                                    \
        rlkd_status try_ = (call);                                          \
        if (try_ != RLKD_OK)                                                \
            return try_;                                                    \
    } while (0)

static rlkd_status hash_tensor(const rlkd_tensor *t, uint64_t *hash)
{
    size_t n = (size_t)rlkd_tensor_numel(t);
    void *values = malloc(n * 4);
    if (!values)
        return RLKD_ERR_OUT_OF_MEMORY;
    rlkd_status status = rlkd_tensor_dtype(t) == RLKD_DTYPE_I32
                             ? rlkd_tensor_read_i32(t, values, n)
                             : rlkd_tensor_read(t, values, n);
    if (status == RLKD_OK)
        *hash = fnv1a(*hash, values, n * 4);
    free(values);
    return status;
}

/* Every parameter and buffer of a network, in order. */
static rlkd_status hash_net(const rlkd_net *net, uint64_t *hash)
{
    *hash = FNV_START;
    int params, buffers;
    TRY(rlkd_net_param_count(net, &params));
    for (int i = 0; i < params; i++) {
        rlkd_tensor *value;
        TRY(rlkd_net_param(net, i, NULL, &value, NULL));
        TRY(hash_tensor(value, hash));
    }
    TRY(rlkd_net_buffer_count(net, &buffers));
    for (int i = 0; i < buffers; i++) {
        rlkd_tensor *value;
        TRY(rlkd_net_buffer(net, i, NULL, &value));
        TRY(hash_tensor(value, hash));
    }
    return RLKD_OK;
}

/* A network's logits on a batch, in inference mode. */
static rlkd_status hash_logits(rlkd_net *net, const rlkd_tensor *images,
                               uint64_t *hash)
{
    rlkd_tensor *logits;
    TRY(rlkd_net_forward(net, images, 0, &logits));
    *hash = FNV_START;
    return hash_tensor(logits, hash);
}

/* ---- the work ---- */

/* conv - bn - relu - SE - mean - fc. */
static rlkd_status make_teacher(rlkd_context *ctx, rlkd_net **out)
{
    int node;
    TRY(rlkd_net_create(ctx, 1, SIDE, SIDE, out));
    rlkd_net *net = *out;
    TRY(rlkd_net_add_conv2d(net, &node, "t_conv", 0, 8, 3, 1, 1, 1, 1, 0));
    TRY(rlkd_net_add_batchnorm2d(net, &node, "t_bn", node, 1e-5f, 0.1f));
    TRY(rlkd_net_add_relu(net, &node, NULL, node));
    TRY(rlkd_net_add_se(net, &node, "t_se", node, 4));
    TRY(rlkd_net_add_global_avgpool(net, &node, NULL, node));
    return rlkd_net_add_linear(net, NULL, "t_fc", node, CLASSES, 1);
}

/* conv 8 - bn - relu - pool - conv 16 - bn - relu - mean - fc: LAYERS
 * prunable groups. */
static rlkd_status make_student(rlkd_context *ctx, rlkd_net **out)
{
    int node;
    TRY(rlkd_net_create(ctx, 1, SIDE, SIDE, out));
    rlkd_net *net = *out;
    TRY(rlkd_net_add_conv2d(net, &node, "conv1", 0, 8, 3, 1, 1, 1, 1, 0));
    TRY(rlkd_net_add_batchnorm2d(net, &node, "bn1", node, 1e-5f, 0.1f));
    TRY(rlkd_net_add_relu(net, &node, NULL, node));
    TRY(rlkd_net_add_maxpool2d(net, &node, NULL, node, 2, 2, 0));
    TRY(rlkd_net_add_conv2d(net, &node, "conv2", node, 16, 3, 1, 1, 1, 1, 0));
    TRY(rlkd_net_add_batchnorm2d(net, &node, "bn2", node, 1e-5f, 0.1f));
    TRY(rlkd_net_add_relu(net, &node, NULL, node));
    TRY(rlkd_net_add_global_avgpool(net, &node, NULL, node));
    return rlkd_net_add_linear(net, NULL, "fc", node, CLASSES, 1);
}

/* Training batches are shuffled and augmented; both loaders decode on
 * worker threads of their own. */
static rlkd_status make_loader(rlkd_context *ctx, const rlkd_dataset *data,
                               int training, uint64_t seed, rlkd_loader **out)
{
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    o.batch_size = BATCH;
    o.shuffle = training;
    o.horizontal_flip = training;
    o.crop_padding = training;
    o.seed = seed;
    o.workers = training ? 2 : 1;
    o.prefetch = 2;
    return rlkd_loader_create(ctx, data, &o, out);
}

/* Run alone, the barrier is NULL. In threads, every thread waits there
 * exactly once, even when its work failed early. */
static void meet_the_others(job *j, int *met)
{
    if (j->barrier && !*met)
        pthread_barrier_wait(j->barrier);
    *met = 1;
}

static void run_job(job *j, int index)
{
    const int v = j->variant;
    int met = 0;
    rlkd_context *ctx = NULL;
    rlkd_dataset *train_set = NULL, *validation_set = NULL;
    rlkd_loader *train = NULL, *validation = NULL;
    rlkd_net *teacher = NULL, *student = NULL, *reloaded = NULL,
             *compact = NULL;
    rlkd_trainer *trainer = NULL;
    rlkd_search *search = NULL;
    outcome *out = &j->out;
    memset(out, 0, sizeof *out);
    j->status = RLKD_OK;

    STEP(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0));
    STEP(rlkd_context_set_num_threads(ctx, 1)); /* see the top of the file */
    STEP(rlkd_context_set_seed(ctx, 100 + (uint64_t)v));

    /* A failure of this thread's own; once every thread has had one, the
     * message must still be this thread's. */
    char own[32];
    snprintf(own, sizeof own, "got %d", -1000 - index);
    if (rlkd_context_set_num_threads(ctx, -1000 - index) ==
        RLKD_ERR_INVALID_ARGUMENT) {
        meet_the_others(j, &met);
        out->own_error_first = strstr(rlkd_last_error(), own) != NULL;
    }

    STEP(rlkd_dataset_split(dataset, VALIDATION, 7 + (uint64_t)v, &train_set,
                            &validation_set));
    STEP(make_loader(ctx, train_set, 1, (uint64_t)v, &train));
    STEP(make_loader(ctx, validation_set, 0, 0, &validation));
    STEP(make_teacher(ctx, &teacher));
    STEP(make_student(ctx, &student));

    /* Train the teacher, then distil the student from it (validating and
     * saving a trainer checkpoint after every epoch). */
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    o.epochs = o.schedule.total_epochs = 1;
    o.schedule.base_lr = 0.05f;
    STEP(rlkd_trainer_create(teacher, NULL, &o, &trainer));
    STEP(rlkd_trainer_fit(trainer, train, NULL));
    rlkd_trainer_destroy(trainer);
    trainer = NULL;
    o.epochs = o.schedule.total_epochs = 2;
    o.checkpoint_path = j->trainer_path;
    STEP(rlkd_trainer_create(student, teacher, &o, &trainer));
    STEP(rlkd_trainer_fit(trainer, train, validation));
    STEP(hash_net(teacher, &out->teacher_hash));
    STEP(hash_net(student, &out->student_hash));
    STEP(rlkd_evaluate(student, validation, &out->top1, &out->top5,
                       &out->loss));

    /* A checkpoint of the student, reloaded: the same logits. */
    STEP(rlkd_net_save(student, j->net_path));
    STEP(rlkd_net_load(ctx, j->net_path, &reloaded));
    rlkd_tensor *images, *labels;
    STEP(rlkd_loader_start_epoch(validation, 0, 0));
    STEP(rlkd_loader_next(validation, &images, &labels));
    uint64_t reloaded_hash;
    STEP(hash_logits(student, images, &out->logits_hash));
    STEP(hash_logits(reloaded, images, &reloaded_hash));
    out->reloaded_same = reloaded_hash == out->logits_hash;

    /* Another failure of this thread's own, while the others work. */
    char missing[32];
    snprintf(missing, sizeof missing, "missing.%d", index);
    rlkd_tensor *none;
    if (rlkd_net_find(student, missing, &none) == RLKD_ERR_INVALID_ARGUMENT)
        out->own_error_later = strstr(rlkd_last_error(), missing) != NULL;

    /* A few episodes of the search (warm-up and learning, its state saved
     * after each), its best policy applied, the network compacted. */
    rlkd_net_env_options env;
    rlkd_net_env_options_init(&env);
    env.recalibrate_batches = 1;
    env.teacher_weight = 0.5;
    env.max_images = BATCH;
    rlkd_search_options so;
    rlkd_search_options_init(&so);
    so.episodes = 3;
    so.warmup_episodes = 2;
    so.hidden1 = so.hidden2 = 8;
    so.round_to = 2;
    so.macs_fraction = 0.5;
    so.reward_scaling = 1;
    so.seed = 11 + (uint64_t)v;
    so.state_path = j->search_path;
    so.save_every = 1;
    STEP(rlkd_search_create_net(student, teacher, validation, train, &env, &so,
                                &search));
    STEP(rlkd_search_run(search, so.episodes));
    STEP(rlkd_search_best(search, out->best_keep, LAYERS, &out->best_reward,
                          NULL, &out->best_macs));
    STEP(rlkd_search_apply_best(search));
    STEP(rlkd_net_prune_compact(student, &compact));
    STEP(rlkd_net_cost(compact, &out->compact_params, &out->compact_macs));
    STEP(rlkd_loader_start_epoch(validation, 0, 0));
    STEP(rlkd_loader_next(validation, &images, &labels));
    STEP(hash_logits(compact, images, &out->compact_logits_hash));

done:
    meet_the_others(j, &met);
    rlkd_search_destroy(search);
    rlkd_trainer_destroy(trainer);
    rlkd_net_destroy(compact);
    rlkd_net_destroy(reloaded);
    rlkd_net_destroy(student);
    rlkd_net_destroy(teacher);
    rlkd_loader_destroy(validation);
    rlkd_loader_destroy(train);
    rlkd_dataset_destroy(validation_set);
    rlkd_dataset_destroy(train_set);
    rlkd_context_destroy(ctx);
}

/* ---- the cases ---- */

static job alone[VARIANTS], together[THREADS];
static int together_index[THREADS];

static void prepare(job *j, const char *prefix, int index, int variant,
                    pthread_barrier_t *barrier)
{
    memset(j, 0, sizeof *j);
    j->variant = variant;
    j->barrier = barrier;
    char name[64];
    snprintf(name, sizeof name, "%s-%d-net.safetensors", prefix, index);
    test_temp_path(j->net_path, name);
    snprintf(name, sizeof name, "%s-%d-trainer.safetensors", prefix, index);
    test_temp_path(j->trainer_path, name);
    snprintf(name, sizeof name, "%s-%d-search.safetensors", prefix, index);
    test_temp_path(j->search_path, name);
}

static int job_succeeded(const char *what, int index, const job *j)
{
    return CHECK_MSG(j->status == RLKD_OK, "%s %d: %s -> %s (%s)", what, index,
                     j->failed_call, rlkd_status_string(j->status),
                     j->message);
}

/* The reference: each variant once, alone, on this thread. */
static void one_at_a_time(void)
{
    for (int v = 0; v < VARIANTS; v++) {
        prepare(&alone[v], "alone", v, v, NULL);
        run_job(&alone[v], v);
        if (!job_succeeded("variant", v, &alone[v]))
            continue;
        const outcome *o = &alone[v].out;
        CHECK(o->reloaded_same);
        CHECK(o->own_error_first && o->own_error_later);
        CHECK(o->top1 >= 0.0 && o->top1 <= 1.0);
        CHECK(o->compact_macs == o->best_macs);
    }
    CHECK_MSG(memcmp(&alone[0].out, &alone[1].out, sizeof(outcome)) != 0,
              "the variants must do different work");
}

static void *thread_main(void *argument)
{
    const int index = *(const int *)argument;
    run_job(&together[index], index);
    return NULL;
}

/* Names the fields of a thread's outcome that differ from its variant's
 * run alone. */
static void compare(int index, const outcome *got, const outcome *want)
{
#define SAME(field)                                                         \
    CHECK_MSG(memcmp(&got->field, &want->field, sizeof got->field) == 0,    \
              "thread %d: " #field " differs from the run alone", index)
    SAME(teacher_hash);
    SAME(student_hash);
    SAME(top1);
    SAME(top5);
    SAME(loss);
    SAME(logits_hash);
    SAME(reloaded_same);
    SAME(best_reward);
    SAME(best_macs);
    SAME(best_keep);
    SAME(compact_params);
    SAME(compact_macs);
    SAME(compact_logits_hash);
    SAME(own_error_first);
    SAME(own_error_later);
#undef SAME
}

static void threads_at_once(void)
{
    /* This thread's own failure, which no other thread may overwrite. */
    CHECK_FAILS(rlkd_context_set_num_threads(test_ctx, -7777),
                RLKD_ERR_INVALID_ARGUMENT, "got -7777");
    pthread_barrier_t barrier;
    if (pthread_barrier_init(&barrier, NULL, THREADS) != 0)
        test_fatal("pthread_barrier_init");
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        prepare(&together[t], "thread", t, t % VARIANTS, &barrier);
        together_index[t] = t;
    }
    for (int t = 0; t < THREADS; t++)
        if (pthread_create(&threads[t], NULL, thread_main,
                           &together_index[t]) != 0)
            test_fatal("pthread_create");
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&barrier);
    for (int t = 0; t < THREADS; t++)
        if (job_succeeded("thread", t, &together[t]))
            compare(t, &together[t].out, &alone[t % VARIANTS].out);
    CHECK_MSG(strstr(rlkd_last_error(), "got -7777") != NULL,
              "this thread's message became \"%s\"", rlkd_last_error());
}

static void *read_last_error(void *argument)
{
    snprintf(argument, MESSAGE_BYTES, "%s", rlkd_last_error());
    return NULL;
}

/* A thread that never failed has no message, whatever others had. */
static void new_thread_has_no_message(void)
{
    CHECK_FAILS(rlkd_context_set_num_threads(test_ctx, 0),
                RLKD_ERR_INVALID_ARGUMENT, NULL);
    char seen[MESSAGE_BYTES] = "(not read)";
    pthread_t thread;
    if (pthread_create(&thread, NULL, read_last_error, seen) != 0)
        test_fatal("pthread_create");
    pthread_join(thread, NULL);
    CHECK_MSG(seen[0] == '\0', "a new thread's message is \"%s\"", seen);
}

int main(void)
{
    test_main_begin();
    dataset = test_band_dataset(IMAGES, SIDE, CLASSES, 2, 31);
    test_run("one_at_a_time", one_at_a_time);
    test_run("threads_at_once", threads_at_once);
    test_run("new_thread_has_no_message", new_thread_has_no_message);
    rlkd_dataset_destroy(dataset);
    test_main_end();
    return test_finish();
}
