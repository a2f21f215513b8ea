/*
 * The trainer: steps of cross-entropy or distillation (Hinton's KD loss
 * plus attention transfer between node pairs) on a student network, the
 * epoch loop with progress reports, validation and checkpoints, and
 * checkpoints from which a run resumes bit for bit.
 *
 * A trainer checkpoint is a network checkpoint (one file, one writer and
 * reader: lib/nets/checkpoint.c) with the optimiser's state as extra
 * tensors under RLKD_OPTIMIZER_STATE_PREFIX and the trainer's position and
 * the context's random stream in the metadata. Everything else a resumed
 * run needs is a function of that: the learning rate of the position, and
 * the loader's batches of (seed, epoch, image).
 *
 * With a communicator (rlkd_trainer_set_comm) a step computes on this
 * rank's rows of the batch, its loss gradient scaled by its share of the
 * batch, and the gradients are summed over the ranks (parallel.c): every
 * rank then takes the same update, the one of the whole batch.
 */
#include "evaluate.h"
#include "parallel.h"
#include "../data/data_internal.h"
#include "../nets/checkpoint.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rlkd_trainer_options up to progress_every: what every caller's struct
 * holds (the fields of the first version). Later fields are read when the
 * caller's struct_size covers them, and keep their defaults otherwise. */
#define TRAINER_OPTIONS_SIZE_MIN \
    (offsetof(rlkd_trainer_options, progress_every) + sizeof(int))

#define MAX_AT_PAIRS                                    \
    ((int)(sizeof((rlkd_trainer_options *)0)->at_pairs / \
           sizeof((rlkd_trainer_options *)0)->at_pairs[0]))

/* The metadata of a trainer checkpoint, beside a network checkpoint's. */
#define KEY_EPOCH "rlkd_trainer_epoch"
#define KEY_STEP "rlkd_trainer_step"
#define KEY_OPTIMIZER_STEPS "rlkd_optimizer_steps"
#define KEY_RNG_SEED "rlkd_rng_seed"
#define KEY_RNG_CALLS "rlkd_rng_calls"
#define KEY_OPTIONS "rlkd_trainer_options"

struct rlkd_trainer {
    rlkd_net *student, *teacher;
    rlkd_context *ctx;
    rlkd_trainer_options options; /* checkpoint_path is checkpoint_copy */
    char *checkpoint_copy;
    rlkd_optimizer *optimizer;
    int64_t epoch, step;          /* the position: the next step to take */
    float last_lr;                /* the rate of the last step taken */
    rlkd_tensor *loss, *at_loss;  /* [1] each */
    /* Sized for `batch`: the loss's gradient at the output, and the
     * attention-transfer gradient at each pair's student node. */
    int64_t batch;
    rlkd_tensor *doutput;
    rlkd_tensor *at_grads[MAX_AT_PAIRS];
    /* Data-parallel: the ranks' communicator (NULL: one process), its
     * options, and synchronised batch norm's hook (set in the student). */
    rlkd_comm *comm;
    rlkd_parallel_options parallel;
    rlkd_sum_hook bn_hook;
};

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

void rlkd_trainer_options_init(rlkd_trainer_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->epochs = 10;
    rlkd_optimizer_options_init(&options->optimizer);
    rlkd_schedule_init(&options->schedule);
    options->schedule.total_epochs = options->epochs;
    options->label_smoothing = 0.0f;
    options->kd_alpha = 0.9f;
    options->kd_temperature = 4.0f;
    options->at_beta = 0.0f;
    options->at_pair_count = 0;
    options->checkpoint_path = NULL;
    options->progress = NULL;
    options->progress_user = NULL;
    options->progress_every = 20;
}

/* Attention transfer only runs with a positive weight. */
static int uses_attention_transfer(const rlkd_trainer_options *o)
{
    return o->at_beta > 0.0f;
}

/* A network's output must be class scores [N, K]: a flat node. */
static rlkd_status check_classifier(const char *op, const char *which,
                                    const rlkd_net *net)
{
    if (net->layer_count == 0 || !net->layers[net->layer_count - 1].flat)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the %s's output is not class scores [N, K] "
                         "(end the network with a linear layer)", op, which);
    return RLKD_OK;
}

static rlkd_status check_networks(const char *op, const rlkd_net *student,
                                  const rlkd_net *teacher)
{
    RLKD_TRY(check_classifier(op, "student", student));
    if (!teacher)
        return RLKD_OK;
    if (teacher == student)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the teacher is the student", op);
    if (teacher->ctx != student->ctx)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: the teacher and the student live on different "
                         "contexts", op);
    if (teacher->in_c != student->in_c || teacher->in_h != student->in_h ||
        teacher->in_w != student->in_w)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: the teacher reads [%d,%d,%d] images but the "
                         "student [%d,%d,%d]", op, teacher->in_c,
                         teacher->in_h, teacher->in_w, student->in_c,
                         student->in_h, student->in_w);
    RLKD_TRY(check_classifier(op, "teacher", teacher));
    const int student_classes = student->layers[student->layer_count - 1].out_c;
    const int teacher_classes = teacher->layers[teacher->layer_count - 1].out_c;
    if (teacher_classes != student_classes)
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: the teacher has %d classes but the student %d",
                         op, teacher_classes, student_classes);
    return RLKD_OK;
}

/* Each pair names a layer's node in each network, both feature maps
 * [N, C, H, W] of one H and W (the channels may differ). */
static rlkd_status check_at_pair(const char *op, const rlkd_net *student,
                                 const rlkd_net *teacher, int index,
                                 const int pair[2])
{
    const rlkd_net *nets[2] = {student, teacher};
    int height[2], width[2];
    for (int side = 0; side < 2; side++) {
        const rlkd_net *net = nets[side];
        const int node = pair[side];
        if (node < 1 || node > net->layer_count)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: options->at_pairs[%d] = (%d, %d): the "
                             "%s's node %d is out of range (its layers make "
                             "nodes 1..%d)", op, index, pair[0], pair[1],
                             side ? "teacher" : "student", node,
                             net->layer_count);
        if (net->layers[node - 1].flat)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: options->at_pairs[%d]: the %s's node %d is "
                             "flat [N, C], not a feature map [N, C, H, W]",
                             op, index, side ? "teacher" : "student", node);
        int channels;
        rlkd_net_node_dims(net, node, &channels, &height[side], &width[side]);
    }
    if (height[0] != height[1] || width[0] != width[1])
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: options->at_pairs[%d]: the student's node %d "
                         "is %dx%d but the teacher's node %d %dx%d", op,
                         index, pair[0], height[0], width[0], pair[1],
                         height[1], width[1]);
    return RLKD_OK;
}

static rlkd_status check_options(const char *op, const rlkd_trainer_options *o,
                                 const rlkd_net *student,
                                 const rlkd_net *teacher)
{
    RLKD_TRY(rlkd_expect_at_least(op, "options->epochs", o->epochs, 1));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "options->sfp_keep_fraction",
                                       o->sfp_keep_fraction));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->bn_l1", o->bn_l1,
                                         0.0f));
    /* The optimiser options are checked by rlkd_optimizer_create; the
     * schedule by computing its first rate. */
    float lr;
    RLKD_TRY(rlkd_schedule_lr(&o->schedule, 0.0, &lr));
    RLKD_TRY(rlkd_expect_in_unit_range(op, "options->label_smoothing",
                                       o->label_smoothing));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->kd_alpha", o->kd_alpha,
                                         0.0f));
    if (o->kd_alpha > 1.0f)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->kd_alpha must be in [0,1], got %g", op,
                         (double)o->kd_alpha);
    RLKD_TRY(rlkd_expect_finite_above(op, "options->kd_temperature",
                                      o->kd_temperature, 0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "options->at_beta", o->at_beta,
                                         0.0f));
    if (o->at_pair_count < 0 || o->at_pair_count > MAX_AT_PAIRS)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->at_pair_count must be in [0,%d], got "
                         "%d", op, MAX_AT_PAIRS, o->at_pair_count);
    if (o->at_pair_count > 0 && !teacher)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->at_pairs need a teacher (attention "
                         "transfer compares the student with one)", op);
    if (uses_attention_transfer(o) && o->at_pair_count == 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->at_beta is %g but there are no "
                         "options->at_pairs to transfer attention between",
                         op, (double)o->at_beta);
    for (int i = 0; i < o->at_pair_count; i++)
        RLKD_TRY(check_at_pair(op, student, teacher, i, o->at_pairs[i]));
    if (o->checkpoint_path && !o->checkpoint_path[0])
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->checkpoint_path is empty (NULL saves "
                         "no checkpoints)", op);
    return rlkd_expect_at_least(op, "options->progress_every",
                                o->progress_every, 1);
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */
/* ------------------------------------------------------------------------ */

static void release_batch_tensors(rlkd_trainer *trainer)
{
    rlkd_tensor_destroy(trainer->doutput);
    trainer->doutput = NULL;
    for (int i = 0; i < MAX_AT_PAIRS; i++) {
        rlkd_tensor_destroy(trainer->at_grads[i]);
        trainer->at_grads[i] = NULL;
    }
    trainer->batch = 0;
}

/* The student's batch norm stops using this trainer's communicator. */
static void detach_comm(rlkd_trainer *trainer)
{
    if (trainer->student->bn_sync == &trainer->bn_hook)
        trainer->student->bn_sync = NULL;
    trainer->comm = NULL;
}

void rlkd_trainer_destroy(rlkd_trainer *trainer)
{
    if (!trainer)
        return;
    detach_comm(trainer);
    release_batch_tensors(trainer);
    rlkd_tensor_destroy(trainer->loss);
    rlkd_tensor_destroy(trainer->at_loss);
    rlkd_optimizer_destroy(trainer->optimizer);
    free(trainer->checkpoint_copy);
    free(trainer);
}

static char *copy_string(const char *text)
{
    const size_t size = strlen(text) + 1;
    char *copy = malloc(size);
    if (copy)
        memcpy(copy, text, size);
    return copy;
}

rlkd_status rlkd_trainer_create(rlkd_net *student, rlkd_net *teacher,
                                const rlkd_trainer_options *options,
                                rlkd_trainer **out)
{
    static const char op[] = "rlkd_trainer_create";
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    if (!student)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: student is NULL", op);
    rlkd_trainer_options chosen;
    rlkd_trainer_options_init(&chosen);
    if (options)
        RLKD_TRY(rlkd_merge_struct(op, "options", &chosen, sizeof chosen,
                                   options, TRAINER_OPTIONS_SIZE_MIN,
                                   "rlkd_trainer_options_init"));
    RLKD_TRY(check_networks(op, student, teacher));
    RLKD_TRY(check_options(op, &chosen, student, teacher));

    rlkd_trainer *trainer = calloc(1, sizeof *trainer);
    if (!trainer)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    trainer->student = student;
    trainer->teacher = teacher;
    trainer->ctx = student->ctx;
    trainer->options = chosen;
    /* The caller's string may not outlive this call. */
    if (chosen.checkpoint_path) {
        trainer->checkpoint_copy = copy_string(chosen.checkpoint_path);
        trainer->options.checkpoint_path = trainer->checkpoint_copy;
    }
    rlkd_status status = chosen.checkpoint_path && !trainer->checkpoint_copy
                             ? rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                         "%s: out of host memory", op)
                             : RLKD_OK;
    if (status == RLKD_OK)
        status = rlkd_optimizer_create(student, &chosen.optimizer,
                                       &trainer->optimizer);
    const int64_t one = 1;
    if (status == RLKD_OK)
        status = rlkd_tensor_create(trainer->ctx, RLKD_DTYPE_F32, 1, &one,
                                    &trainer->loss);
    if (status == RLKD_OK)
        status = rlkd_tensor_create(trainer->ctx, RLKD_DTYPE_F32, 1, &one,
                                    &trainer->at_loss);
    if (status != RLKD_OK) {
        rlkd_trainer_destroy(trainer);
        return status;
    }
    *out = trainer;
    return RLKD_OK;
}

rlkd_status rlkd_trainer_position(const rlkd_trainer *trainer, int64_t *epoch,
                                  int64_t *step)
{
    static const char op[] = "rlkd_trainer_position";
    if (!trainer)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: trainer is NULL", op);
    if (epoch)
        *epoch = trainer->epoch;
    if (step)
        *step = trainer->step;
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* Data parallel                                                             */
/* ------------------------------------------------------------------------ */

rlkd_status rlkd_trainer_set_comm(rlkd_trainer *trainer, rlkd_comm *comm,
                                  const rlkd_parallel_options *options)
{
    static const char op[] = "rlkd_trainer_set_comm";
    if (!trainer)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: trainer is NULL", op);
    rlkd_parallel_options chosen;
    rlkd_parallel_options_init(&chosen);
    if (options) {
        RLKD_TRY(rlkd_expect_struct_size(op, "options", options->struct_size,
                                         sizeof *options,
                                         "rlkd_parallel_options_init"));
        chosen = *options;
        if (chosen.bucket_bytes < 1)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: options->bucket_bytes must be >= 1", op);
    }
    if (comm && comm->ctx != trainer->ctx)
        return rlkd_fail(RLKD_ERR_DEVICE_MISMATCH,
                         "%s: the communicator's context is not the "
                         "trainer's", op);
    detach_comm(trainer);
    if (!comm)
        return RLKD_OK;
    /* Every rank must train the same networks the same way, or the
     * collectives below would not match. */
    const int settings[3] = {(int)trainer->optimizer->options.kind,
                             chosen.sync_batchnorm != 0,
                             trainer->teacher != NULL};
    uint64_t digest = rlkd_comm_digest(RLKD_COMM_DIGEST_START, settings,
                                       sizeof settings);
    digest = rlkd_parallel_digest(digest, trainer->student);
    digest = rlkd_parallel_digest(digest, trainer->teacher);
    RLKD_TRY(rlkd_comm_expect_same(comm, op, digest,
                                   "networks or training options"));
    /* The position, and the context's random stream, which dropout draws
     * from: every rank's masks are then its rows of one process's. */
    int64_t position[4] = {trainer->epoch, trainer->step,
                           (int64_t)trainer->ctx->seed,
                           (int64_t)trainer->ctx->rng_calls};
    RLKD_TRY(rlkd_parallel_broadcast_net(comm, op, trainer->student));
    if (trainer->teacher)
        RLKD_TRY(rlkd_parallel_broadcast_net(comm, op, trainer->teacher));
    RLKD_TRY(rlkd_parallel_broadcast_optimizer(comm, op, trainer->optimizer));
    RLKD_TRY(rlkd_comm_host_broadcast(comm, op, position, sizeof position, 0));
    trainer->epoch = position[0];
    trainer->step = position[1];
    trainer->ctx->seed = (uint64_t)position[2];
    trainer->ctx->rng_calls = (uint64_t)position[3];
    trainer->comm = comm;
    trainer->parallel = chosen;
    if (chosen.sync_batchnorm) {
        trainer->bn_hook = rlkd_comm_sum_hook(comm);
        trainer->student->bn_sync = &trainer->bn_hook;
    }
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* One step                                                                  */
/* ------------------------------------------------------------------------ */

static rlkd_status make_like(const rlkd_tensor *model, rlkd_tensor **out)
{
    return rlkd_tensor_create(model->ctx, RLKD_DTYPE_F32, model->ndim,
                              model->shape, out);
}

/* The gradient tensors for this batch size (remade when it changes, as
 * for a last, smaller batch). */
static rlkd_status fit_batch_tensors(rlkd_trainer *trainer,
                                     const rlkd_tensor *logits)
{
    if (trainer->doutput && trainer->batch == logits->shape[0])
        return RLKD_OK;
    release_batch_tensors(trainer);
    rlkd_status status = make_like(logits, &trainer->doutput);
    const rlkd_trainer_options *o = &trainer->options;
    for (int i = 0; status == RLKD_OK && uses_attention_transfer(o) &&
                    i < o->at_pair_count; i++) {
        rlkd_tensor *feature;
        status = rlkd_net_node_value(trainer->student, o->at_pairs[i][0],
                                     &feature);
        if (status == RLKD_OK)
            status = make_like(feature, &trainer->at_grads[i]);
    }
    if (status != RLKD_OK) {
        release_batch_tensors(trainer);
        return status;
    }
    trainer->batch = logits->shape[0];
    return RLKD_OK;
}

/* at_beta times each pair's attention-transfer loss, added to *loss, and
 * its gradient (times `share`) at the student's node (for
 * rlkd_net_backward_nodes). */
static rlkd_status attention_transfer(rlkd_trainer *trainer, float share,
                                      float *loss)
{
    const rlkd_trainer_options *o = &trainer->options;
    for (int i = 0; i < o->at_pair_count; i++) {
        rlkd_tensor *student_feature, *teacher_feature;
        RLKD_TRY(rlkd_net_node_value(trainer->student, o->at_pairs[i][0],
                                     &student_feature));
        RLKD_TRY(rlkd_net_node_value(trainer->teacher, o->at_pairs[i][1],
                                     &teacher_feature));
        RLKD_TRY(rlkd_attention_transfer_loss_forward(
            trainer->ctx, trainer->at_loss, NULL, student_feature,
            teacher_feature));
        float pair_loss;
        RLKD_TRY(rlkd_tensor_read(trainer->at_loss, &pair_loss, 1));
        *loss += o->at_beta * pair_loss;
        RLKD_TRY(rlkd_attention_transfer_loss_backward(
            trainer->ctx, trainer->at_grads[i], student_feature,
            teacher_feature, o->at_beta * share));
    }
    return RLKD_OK;
}

/* The batch's loss, its gradient at the output in doutput and, with
 * attention transfer, at the pairs' student nodes in at_grads. A
 * data-parallel rank's gradients are scaled by its share of the batch (its
 * rows / the batch), so that the ranks' sum is the whole batch's gradient;
 * one process takes the fused forward's unscaled one. */
static rlkd_status compute_loss(rlkd_trainer *trainer,
                                const rlkd_tensor *images,
                                const rlkd_tensor *labels,
                                const rlkd_tensor *logits, float share,
                                float *loss)
{
    const rlkd_trainer_options *o = &trainer->options;
    rlkd_tensor *fused = share == 1.0f ? trainer->doutput : NULL;
    if (!trainer->teacher) {
        RLKD_TRY(rlkd_softmax_cross_entropy_forward(
            trainer->ctx, trainer->loss, fused, logits, labels,
            o->label_smoothing));
        if (!fused)
            RLKD_TRY(rlkd_softmax_cross_entropy_backward(
                trainer->ctx, trainer->doutput, logits, labels,
                o->label_smoothing, share));
        return rlkd_tensor_read(trainer->loss, loss, 1);
    }
    rlkd_tensor *teacher_logits;
    RLKD_TRY(rlkd_net_forward(trainer->teacher, images, 0, &teacher_logits));
    RLKD_TRY(rlkd_kd_loss_forward(trainer->ctx, trainer->loss, fused, logits,
                                  teacher_logits, labels, o->kd_alpha,
                                  o->kd_temperature));
    if (!fused)
        RLKD_TRY(rlkd_kd_loss_backward(trainer->ctx, trainer->doutput, logits,
                                       teacher_logits, labels, o->kd_alpha,
                                       o->kd_temperature, share));
    RLKD_TRY(rlkd_tensor_read(trainer->loss, loss, 1));
    return uses_attention_transfer(o) ? attention_transfer(trainer, share, loss)
                                      : RLKD_OK;
}

/* Data-parallel: the whole batch's loss (the ranks' losses weighted by
 * their shares) and hits, on every rank. */
static rlkd_status sum_metrics(rlkd_trainer *trainer, const char *op,
                               float share, float *loss, int64_t *hits)
{
    double sums[2] = {(double)share * (double)*loss, (double)*hits};
    RLKD_TRY(rlkd_comm_host_all_reduce(trainer->comm, op, sums, 2,
                                       RLKD_COMM_F64, RLKD_REDUCE_SUM));
    *loss = (float)sums[0];
    *hits = (int64_t)sums[1];
    return RLKD_OK;
}

/* The backward pass from the loss gradient (and the attention-transfer
 * gradients injected at `nodes`); data-parallel, the gradients are summed
 * over the ranks bucket by bucket while it runs. */
static rlkd_status backward(rlkd_trainer *trainer, const char *op,
                            const int *nodes, int injected)
{
    rlkd_net *student = trainer->student;
    const rlkd_tensor *const *grads =
        (const rlkd_tensor *const *)trainer->at_grads;
    if (!trainer->comm)
        return rlkd_net_backward_nodes(student, trainer->doutput, NULL, nodes,
                                       grads, injected);
    rlkd_parallel_buckets buckets;
    RLKD_TRY(rlkd_parallel_buckets_begin(&buckets, trainer->comm, op,
                                         trainer->parallel.bucket_bytes,
                                         student->param_count,
                                         RLKD_REDUCE_SUM));
    const rlkd_layer_done_hook hook = rlkd_parallel_grads_hook(&buckets);
    student->layer_done = &hook;
    const rlkd_status status = rlkd_net_backward_nodes(
        student, trainer->doutput, NULL, nodes, grads, injected);
    student->layer_done = NULL;
    return rlkd_parallel_buckets_end(&buckets, status);
}

/* The step on this process's images (a data-parallel rank's rows, their
 * share of the batch), then the update at rate lr. */
static rlkd_status take_step(rlkd_trainer *trainer, const char *op,
                             const rlkd_tensor *images,
                             const rlkd_tensor *labels, float share, float lr,
                             float *loss, int64_t *correct)
{
    const rlkd_trainer_options *o = &trainer->options;
    rlkd_tensor *logits;
    RLKD_TRY(rlkd_net_forward(trainer->student, images, 1, &logits));
    RLKD_TRY(fit_batch_tensors(trainer, logits));
    float batch_loss;
    RLKD_TRY(compute_loss(trainer, images, labels, logits, share,
                          &batch_loss));
    int64_t hits;
    RLKD_TRY(rlkd_count_hits(logits, labels, 1, &hits, NULL));
    if (trainer->comm)
        RLKD_TRY(sum_metrics(trainer, op, share, &batch_loss, &hits));
    /* Checked before any update, so that the parameters stay the last
     * good ones (on every rank: the loss is the whole batch's). */
    if (!isfinite(batch_loss))
        return rlkd_fail(RLKD_ERR_NUMERIC,
                         "%s: the loss is %g at epoch %lld, step %lld "
                         "(learning rate %g); no update was made", op,
                         (double)batch_loss, (long long)trainer->epoch,
                         (long long)trainer->step, (double)lr);

    int nodes[MAX_AT_PAIRS];
    const int injected = uses_attention_transfer(o) ? o->at_pair_count : 0;
    for (int i = 0; i < injected; i++)
        nodes[i] = o->at_pairs[i][0];
    RLKD_TRY(rlkd_net_zero_grad(trainer->student));
    RLKD_TRY(backward(trainer, op, nodes, injected));
    if (trainer->comm && !trainer->parallel.sync_batchnorm)
        /* Local batch norm moved each rank's running statistics by its own
         * rows: their mean keeps the ranks' networks the same. */
        RLKD_TRY(rlkd_parallel_mean_buffers(trainer->comm, op,
                                            trainer->student,
                                            trainer->parallel.bucket_bytes));
    if (trainer->options.bn_l1 > 0.0f)
        RLKD_TRY(rlkd_prune_add_bn_l1(trainer->student,
                                      trainer->options.bn_l1));
    RLKD_TRY(rlkd_optimizer_step(trainer->optimizer, lr));
    *loss = batch_loss;
    *correct = hits;
    return RLKD_OK;
}

rlkd_status rlkd_trainer_step(rlkd_trainer *trainer, const rlkd_tensor *images,
                              const rlkd_tensor *labels,
                              int64_t steps_per_epoch, float *loss,
                              int64_t *correct)
{
    static const char op[] = "rlkd_trainer_step";
    if (!trainer || !images || !labels)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !trainer ? "trainer" : !images ? "images" : "labels");
    if (steps_per_epoch <= trainer->step)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: steps_per_epoch is %lld, but the trainer stands "
                         "at step %lld of epoch %lld", op,
                         (long long)steps_per_epoch, (long long)trainer->step,
                         (long long)trainer->epoch);
    float lr;
    RLKD_TRY(rlkd_schedule_lr(&trainer->options.schedule,
                              (double)trainer->epoch +
                                  (double)trainer->step /
                                      (double)steps_per_epoch,
                              &lr));
    float batch_loss;
    int64_t hits;
    if (!trainer->comm) {
        RLKD_TRY(take_step(trainer, op, images, labels, 1.0f, lr, &batch_loss,
                           &hits));
    } else {
        /* Every rank sees the same batch, so all of them refuse it. */
        if (rlkd_tensor_dim(images, 0) < trainer->comm->world_size)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: a batch of %lld images cannot be split "
                             "over %d ranks (each needs one; drop_last "
                             "avoids a small last batch)", op,
                             (long long)rlkd_tensor_dim(images, 0),
                             trainer->comm->world_size);
        rlkd_tensor *image_rows, *label_rows;
        float share;
        int64_t first_row;
        RLKD_TRY(rlkd_parallel_shard(trainer->comm, op, images, labels,
                                     &image_rows, &label_rows, &share,
                                     &first_row));
        trainer->student->batch_first_row = first_row;
        const rlkd_status status = take_step(trainer, op, image_rows,
                                             label_rows, share, lr,
                                             &batch_loss, &hits);
        trainer->student->batch_first_row = 0;
        rlkd_tensor_destroy(image_rows);
        rlkd_tensor_destroy(label_rows);
        RLKD_TRY(status);
    }
    trainer->last_lr = lr;
    if (++trainer->step == steps_per_epoch) {
        trainer->epoch++;
        trainer->step = 0;
    }
    if (loss)
        *loss = batch_loss;
    if (correct)
        *correct = hits;
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */
/* ------------------------------------------------------------------------ */

static void report(const rlkd_trainer *trainer, const rlkd_progress *progress)
{
    if (trainer->options.progress)
        trainer->options.progress(progress, trainer->options.progress_user);
}

/* What fit has done so far, for its progress reports. */
typedef struct run_clock {
    double run_start, epoch_start;
    int64_t steps_run;      /* steps taken by this fit call */
    double loss_sum;        /* this epoch's batch losses, times the batch */
    int64_t correct, images; /* this epoch's */
} run_clock;

/* The progress after the step just taken (at `step` of epoch `epoch`). */
static void fill_progress(const rlkd_trainer *trainer, const run_clock *clock,
                          int64_t epoch, int64_t step, int64_t steps,
                          rlkd_progress *progress)
{
    const double now = rlkd_seconds_now();
    const int64_t remaining =
        (trainer->options.epochs - epoch - 1) * steps + (steps - step - 1);
    memset(progress, 0, sizeof *progress);
    progress->struct_size = sizeof *progress;
    progress->epoch = epoch;
    progress->epochs = trainer->options.epochs;
    progress->step = step;
    progress->steps = steps;
    progress->loss = clock->loss_sum / (double)clock->images;
    progress->accuracy = (double)clock->correct / (double)clock->images;
    progress->images_per_second =
        now > clock->epoch_start
            ? (double)clock->images / (now - clock->epoch_start)
            : 0.0;
    progress->eta_seconds = (now - clock->run_start) /
                            (double)clock->steps_run * (double)remaining;
    progress->lr = trainer->last_lr;
}

/* One epoch over `train` from the trainer's position; *progress ends as
 * the epoch's last report. */
static rlkd_status train_epoch(rlkd_trainer *trainer, rlkd_loader *train,
                               int64_t steps, run_clock *clock,
                               rlkd_progress *progress)
{
    static const char op[] = "rlkd_trainer_fit";
    const int64_t epoch = trainer->epoch;
    RLKD_TRY(rlkd_loader_start_epoch(train, epoch, trainer->step));
    clock->epoch_start = rlkd_seconds_now();
    clock->loss_sum = 0.0;
    clock->correct = clock->images = 0;
    for (;;) {
        rlkd_tensor *images, *labels;
        RLKD_TRY(rlkd_loader_next(train, &images, &labels));
        if (!images)
            break;
        if (trainer->epoch != epoch)
            return rlkd_fail(RLKD_ERR_INTERNAL,
                             "%s: the loader gave more batches than its batch "
                             "count %lld", op, (long long)steps);
        const int64_t step = trainer->step;
        float loss;
        int64_t correct;
        RLKD_TRY(rlkd_trainer_step(trainer, images, labels, steps, &loss,
                                   &correct));
        const int64_t n = rlkd_tensor_dim(images, 0);
        clock->steps_run++;
        clock->loss_sum += (double)loss * (double)n;
        clock->correct += correct;
        clock->images += n;
        if ((step + 1) % trainer->options.progress_every == 0 ||
            step + 1 == steps) {
            fill_progress(trainer, clock, epoch, step, steps, progress);
            report(trainer, progress);
        }
    }
    if (trainer->epoch == epoch)
        return rlkd_fail(RLKD_ERR_INTERNAL,
                         "%s: the loader's epoch %lld ended at step %lld of "
                         "its %lld batches", op, (long long)epoch,
                         (long long)trainer->step, (long long)steps);
    return RLKD_OK;
}

/* The epochs of rlkd_trainer_fit from the trainer's position. */
static rlkd_status fit_epochs(rlkd_trainer *trainer, rlkd_loader *train,
                              rlkd_loader *validation, int64_t steps)
{
    run_clock clock = {.run_start = rlkd_seconds_now()};
    while (trainer->epoch < trainer->options.epochs) {
        rlkd_progress progress;
        /* A NaN or Inf loss returns here, before the epoch's save: the
         * last good checkpoint stays. */
        RLKD_TRY(train_epoch(trainer, train, steps, &clock, &progress));
        if (trainer->options.sfp_keep_fraction > 0.0f)
            RLKD_TRY(rlkd_net_prune_soft(trainer->student,
                                         trainer->options.sfp_keep_fraction,
                                         RLKD_PRUNE_L2));
        if (validation) {
            double top1, loss;
            RLKD_TRY(rlkd_evaluate_on(trainer->student, validation,
                                      trainer->comm, &top1, NULL, &loss));
            progress.evaluating = 1;
            progress.loss = loss;
            progress.accuracy = top1;
            report(trainer, &progress);
        }
        if (trainer->options.checkpoint_path)
            RLKD_TRY(rlkd_trainer_save(trainer,
                                       trainer->options.checkpoint_path));
    }
    return RLKD_OK;
}

rlkd_status rlkd_trainer_fit(rlkd_trainer *trainer, rlkd_loader *train,
                             rlkd_loader *validation)
{
    static const char op[] = "rlkd_trainer_fit";
    if (!trainer || !train)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !trainer ? "trainer" : "train");
    int64_t steps;
    RLKD_TRY(rlkd_loader_batch_count(train, &steps));
    if (steps < 1)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the training loader has no batches", op);
    if (trainer->step >= steps)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: the trainer stands at step %lld of epoch %lld, "
                         "but the loader has %lld batches an epoch (resumed "
                         "with another data set or batch size?)", op,
                         (long long)trainer->step, (long long)trainer->epoch,
                         (long long)steps);
    /* Data-parallel, each rank's loaders fill only its rows of a batch:
     * the only ones it computes on. */
    rlkd_comm *comm = trainer->comm;
    if (comm) {
        rlkd_loader_set_shard(train, comm->rank, comm->world_size);
        if (validation && validation != train)
            rlkd_loader_set_shard(validation, comm->rank, comm->world_size);
    }
    const rlkd_status status = fit_epochs(trainer, train, validation, steps);
    if (comm) {
        rlkd_loader_set_shard(train, 0, 1);
        if (validation && validation != train)
            rlkd_loader_set_shard(validation, 0, 1);
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */
/* ------------------------------------------------------------------------ */

static void free_state_list(rlkd_checkpoint_tensor *list, int count)
{
    if (!list)
        return;
    for (int i = 0; i < count; i++)
        free((char *)list[i].name);
    free(list);
}

/* "optimizer_state.<param>.<suffix>" for a state tensor. */
static rlkd_status name_state(rlkd_checkpoint_tensor *entry,
                              const char *param, const char *suffix,
                              rlkd_tensor *value)
{
    const size_t size = strlen(RLKD_OPTIMIZER_STATE_PREFIX) + strlen(param) +
                        strlen(suffix) + 2;
    char *name = malloc(size);
    if (!name)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
    snprintf(name, size, "%s%s.%s", RLKD_OPTIMIZER_STATE_PREFIX, param,
             suffix);
    entry->name = name;
    entry->value = value;
    return RLKD_OK;
}

/* The optimiser's state tensors under their checkpoint names, in parameter
 * order (*out: free_state_list it). */
static rlkd_status list_optimizer_state(const rlkd_optimizer *optimizer,
                                        rlkd_checkpoint_tensor **out,
                                        int *count)
{
    const int params = optimizer->param_count;
    rlkd_checkpoint_tensor *list = calloc((size_t)(2 * params + 1),
                                          sizeof *list);
    if (!list)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
    const char *first_suffix = optimizer->options.kind == RLKD_OPTIMIZER_SGD
                                   ? RLKD_OPTIMIZER_MOMENTUM
                                   : RLKD_OPTIMIZER_EXP_AVG;
    rlkd_status status = RLKD_OK;
    int listed = 0;
    for (int i = 0; status == RLKD_OK && i < params; i++) {
        const char *param = optimizer->net->params[i].name;
        if (optimizer->first[i])
            status = name_state(&list[listed++], param, first_suffix,
                                optimizer->first[i]);
        if (status == RLKD_OK && optimizer->second[i])
            status = name_state(&list[listed++], param,
                                RLKD_OPTIMIZER_EXP_AVG_SQ,
                                optimizer->second[i]);
    }
    if (status != RLKD_OK) {
        free_state_list(list, listed);
        return status;
    }
    *out = list;
    *count = listed;
    return RLKD_OK;
}

static const char *const optimizer_kind_names[] = {"sgd", "adam", "adamw"};
static const char *const schedule_kind_names[] = {"constant", "step",
                                                  "multistep", "cosine"};

/* The options as JSON text, for the record (resume keeps the trainer's
 * own options); NULL when out of memory, else cJSON_free it. */
static char *options_json(const rlkd_trainer *trainer)
{
    const rlkd_trainer_options *o = &trainer->options;
    cJSON *root = cJSON_CreateObject();
    cJSON *optimizer = cJSON_AddObjectToObject(root, "optimizer");
    cJSON *schedule = cJSON_AddObjectToObject(root, "schedule");
    cJSON *milestones = cJSON_CreateIntArray(o->schedule.milestones,
                                             o->schedule.milestone_count);
    cJSON *pairs = cJSON_AddArrayToObject(root, "at_pairs");
    int ok = optimizer && schedule && milestones && pairs &&
             cJSON_AddItemToObject(schedule, "milestones", milestones);
    if (!ok)
        cJSON_Delete(milestones);
    const struct {
        cJSON *object;
        const char *key;
        double value;
    } numbers[] = {
        {root, "epochs", o->epochs},
        {optimizer, "momentum", o->optimizer.momentum},
        {optimizer, "nesterov", o->optimizer.nesterov},
        {optimizer, "weight_decay", o->optimizer.weight_decay},
        {optimizer, "no_decay_bn_bias", o->optimizer.no_decay_bn_bias},
        {optimizer, "beta1", o->optimizer.beta1},
        {optimizer, "beta2", o->optimizer.beta2},
        {optimizer, "eps", o->optimizer.eps},
        {schedule, "base_lr", o->schedule.base_lr},
        {schedule, "final_lr", o->schedule.final_lr},
        {schedule, "gamma", o->schedule.gamma},
        {schedule, "step_epochs", o->schedule.step_epochs},
        {schedule, "warmup_epochs", o->schedule.warmup_epochs},
        {schedule, "total_epochs", o->schedule.total_epochs},
        {root, "label_smoothing", o->label_smoothing},
        {root, "kd_alpha", o->kd_alpha},
        {root, "kd_temperature", o->kd_temperature},
        {root, "at_beta", o->at_beta},
    };
    for (size_t i = 0; ok && i < sizeof numbers / sizeof numbers[0]; i++)
        ok = cJSON_AddNumberToObject(numbers[i].object, numbers[i].key,
                                     numbers[i].value) != NULL;
    ok = ok &&
         cJSON_AddStringToObject(optimizer, "kind",
                                 optimizer_kind_names[o->optimizer.kind]) &&
         cJSON_AddStringToObject(schedule, "kind",
                                 schedule_kind_names[o->schedule.kind]) &&
         cJSON_AddBoolToObject(root, "teacher", trainer->teacher != NULL);
    for (int i = 0; ok && i < o->at_pair_count; i++)
        ok = cJSON_AddItemToArray(pairs,
                                  cJSON_CreateIntArray(o->at_pairs[i], 2));
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* rlkd_trainer_save's file (on rank 0 only, when data-parallel). */
static rlkd_status write_checkpoint(const rlkd_trainer *trainer,
                                    const char *path)
{
    static const char op[] = "rlkd_trainer_save";
    rlkd_checkpoint_tensor *state = NULL;
    int state_count = 0;
    rlkd_status status =
        list_optimizer_state(trainer->optimizer, &state, &state_count);
    char *options = status == RLKD_OK ? options_json(trainer) : NULL;
    if (status == RLKD_OK && !options)
        status = rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (status == RLKD_OK) {
        char numbers[5][24];
        snprintf(numbers[0], sizeof numbers[0], "%" PRId64, trainer->epoch);
        snprintf(numbers[1], sizeof numbers[1], "%" PRId64, trainer->step);
        snprintf(numbers[2], sizeof numbers[2], "%" PRId64,
                 trainer->optimizer->steps);
        snprintf(numbers[3], sizeof numbers[3], "%" PRIu64, trainer->ctx->seed);
        snprintf(numbers[4], sizeof numbers[4], "%" PRIu64,
                 trainer->ctx->rng_calls);
        const rlkd_checkpoint_metadata metadata[] = {
            {KEY_EPOCH, numbers[0]},      {KEY_STEP, numbers[1]},
            {KEY_OPTIMIZER_STEPS, numbers[2]}, {KEY_RNG_SEED, numbers[3]},
            {KEY_RNG_CALLS, numbers[4]},  {KEY_OPTIONS, options},
        };
        status = rlkd_checkpoint_save(trainer->student, path, state,
                                      state_count, metadata,
                                      (int)(sizeof metadata /
                                            sizeof metadata[0]));
    }
    cJSON_free(options);
    free_state_list(state, state_count);
    return rlkd_checkpoint_in_file(status, op, path);
}

rlkd_status rlkd_trainer_save(const rlkd_trainer *trainer, const char *path)
{
    static const char op[] = "rlkd_trainer_save";
    if (!trainer || !path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !trainer ? "trainer" : "path");
    if (!trainer->comm)
        return write_checkpoint(trainer, path);
    /* Every rank holds the same state: rank 0 writes it, and every rank
     * returns once the file is there (or with rank 0's failure). */
    const rlkd_status status = trainer->comm->rank == 0
                                   ? write_checkpoint(trainer, path)
                                   : RLKD_OK;
    return rlkd_parallel_share_status(trainer->comm, op, status);
}

/* What a trainer checkpoint's metadata restores. */
typedef struct saved_position {
    uint64_t epoch, step, optimizer_steps, rng_seed, rng_calls;
} saved_position;

/* A metadata number: decimal digits only, at most `maximum`. */
static rlkd_status read_count(const rlkd_checkpoint_file *file,
                              const char *key, uint64_t maximum,
                              uint64_t *value)
{
    const char *text = rlkd_checkpoint_metadata_value(file, key);
    if (!text)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the header has no __metadata__.%s (a network "
                         "checkpoint, not one of rlkd_trainer_save?)", key);
    uint64_t number = 0;
    int ok = text[0] != '\0';
    for (const char *c = text; ok && *c; c++) {
        const unsigned digit = (unsigned)(*c - '0');
        ok = digit <= 9 && number <= (maximum - digit) / 10;
        number = number * 10 + digit;
    }
    if (!ok)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "__metadata__.%s is \"%.40s\", not an integer in "
                         "[0, %" PRIu64 "]", key, text, maximum);
    *value = number;
    return RLKD_OK;
}

static rlkd_status read_position(const rlkd_checkpoint_file *file,
                                 saved_position *position)
{
    RLKD_TRY(read_count(file, KEY_EPOCH, INT64_MAX, &position->epoch));
    RLKD_TRY(read_count(file, KEY_STEP, INT64_MAX, &position->step));
    RLKD_TRY(read_count(file, KEY_OPTIMIZER_STEPS, INT64_MAX,
                        &position->optimizer_steps));
    RLKD_TRY(read_count(file, KEY_RNG_SEED, UINT64_MAX, &position->rng_seed));
    return read_count(file, KEY_RNG_CALLS, UINT64_MAX, &position->rng_calls);
}

rlkd_status rlkd_trainer_resume(rlkd_trainer *trainer, const char *path)
{
    static const char op[] = "rlkd_trainer_resume";
    if (!trainer || !path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !trainer ? "trainer" : "path");
    rlkd_checkpoint_tensor *state = NULL;
    int state_count = 0;
    saved_position position;
    rlkd_checkpoint_file file;
    rlkd_status status = rlkd_checkpoint_open(path, &file);
    if (status == RLKD_OK)
        status = read_position(&file, &position);
    if (status == RLKD_OK)
        status = rlkd_checkpoint_check_architecture(&file, trainer->student);
    if (status == RLKD_OK)
        status = list_optimizer_state(trainer->optimizer, &state,
                                      &state_count);
    /* Checks every tensor before it writes the first. */
    if (status == RLKD_OK)
        status = rlkd_checkpoint_load(&file, trainer->student, state,
                                      state_count, 0, "the trainer");
    rlkd_checkpoint_close(&file);
    free_state_list(state, state_count);
    if (status != RLKD_OK)
        return rlkd_checkpoint_in_file(status, op, path);
    trainer->epoch = (int64_t)position.epoch;
    trainer->step = (int64_t)position.step;
    trainer->optimizer->steps = (int64_t)position.optimizer_steps;
    trainer->ctx->seed = position.rng_seed;
    trainer->ctx->rng_calls = position.rng_calls;
    return RLKD_OK;
}
