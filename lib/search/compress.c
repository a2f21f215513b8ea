/*
 * rlkd_compress: the whole pipeline in one call. Every stage is a public
 * call of its own (the trainer, the search, the pruning API, compaction,
 * evaluation); this file only orders them and times them.
 */
#include "search_internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* The fields of the first version (through stage_user): an older caller's
 * struct ends there, and the fields appended since keep their defaults. */
#define OPTIONS_SIZE_FIRST                          \
    (offsetof(rlkd_compress_options, stage_user) + \
     sizeof ((rlkd_compress_options *)0)->stage_user)

void rlkd_compress_options_init(rlkd_compress_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->method = RLKD_METHOD_RLKD;
    options->distill_epochs = 0;
    options->finetune_epochs = 4;
    options->distill_lr = 0.05f;
    options->finetune_lr = 0.01f;
    rlkd_trainer_options_init(&options->train);
    options->train.optimizer.nesterov = 1;
    options->train.optimizer.no_decay_bn_bias = 1;
    rlkd_search_options_init(&options->search);
    rlkd_net_env_options_init(&options->env);
    options->rlkd_defaults = 1;
    options->criterion = RLKD_PRUNE_L1;
}

typedef struct pipeline {
    const rlkd_compress_options *options;
    rlkd_compress_report *report;
    rlkd_compress_stage stage;
    double started;
} pipeline;

static void stage_begin(pipeline *p, rlkd_compress_stage stage)
{
    p->stage = stage;
    p->started = rlkd_seconds_now();
    if (p->options->stage)
        p->options->stage(stage, 1, p->options->stage_user);
}

static void stage_end(pipeline *p)
{
    p->report->seconds[p->stage] = rlkd_seconds_now() - p->started;
    if (p->options->stage)
        p->options->stage(p->stage, 0, p->options->stage_user);
}

/* Trains the student for `epochs` from `lr` on a cosine (with the teacher
 * when given), with SFP at sfp_keep when it is not 0. */
static rlkd_status train(const rlkd_compress_options *o, rlkd_net *student,
                         rlkd_net *teacher, rlkd_loader *train_loader,
                         rlkd_loader *validation, int epochs, float lr,
                         float sfp_keep)
{
    rlkd_trainer_options t = o->train;
    t.epochs = epochs;
    t.schedule.kind = RLKD_SCHEDULE_COSINE;
    t.schedule.base_lr = lr;
    t.schedule.total_epochs = epochs;
    t.sfp_keep_fraction = sfp_keep;
    t.bn_l1 = 0.0f;
    t.checkpoint_path = NULL;
    rlkd_trainer *trainer;
    RLKD_TRY(rlkd_trainer_create(student, teacher, &t, &trainer));
    rlkd_status status = RLKD_OK;
    if (o->comm)
        status = rlkd_trainer_set_comm(trainer, o->comm, o->parallel);
    if (status == RLKD_OK)
        status = rlkd_trainer_fit(trainer, train_loader, validation);
    rlkd_trainer_destroy(trainer);
    return status;
}

/* The RL methods' search on the validation split; leaves the best policy's
 * masks on the student. */
static rlkd_status search(pipeline *p, rlkd_net *student, rlkd_net *teacher,
                          rlkd_loader *train_loader, rlkd_loader *validation)
{
    const rlkd_compress_options *o = p->options;
    rlkd_search_options so = o->search;
    rlkd_net_env_options env = o->env;
    env.criterion = o->criterion;
    if (o->method == RLKD_METHOD_RLKD && o->rlkd_defaults) {
        env.recalibrate_batches = 20;
        env.teacher_weight = teacher ? 0.5 : 0.0;
        so.reward_scaling = 1;
    }
    if (o->method == RLKD_METHOD_AMC) {
        env.recalibrate_batches = 0;
        env.teacher_weight = 0.0;
        so.reward_scaling = 0;
    }
    rlkd_search *s;
    RLKD_TRY(rlkd_search_create_net(student, teacher, validation, train_loader,
                                    &env, &so, &s));
    /* A missing state file is a fresh start; any other failure to resume
     * (an unreadable or corrupt file) is an error, not a silent restart.
     * Over a communicator every rank then takes rank 0's position (a rank
     * on another machine may not see the file). */
    rlkd_status status = RLKD_OK;
    if (so.state_path && access(so.state_path, F_OK) == 0)
        status = rlkd_search_resume(s, so.state_path);
    if (status == RLKD_OK && o->comm)
        status = rlkd_search_set_comm(s, o->comm);
    if (status == RLKD_OK)
        status = rlkd_search_run(s, so.episodes);
    if (status == RLKD_OK)
        status = rlkd_search_best(s, NULL, 0, &p->report->search_reward,
                                  NULL, NULL);
    if (status == RLKD_OK)
        status = rlkd_search_episode_count(s, &p->report->episodes);
    if (status == RLKD_OK)
        status = rlkd_search_apply_best(s);
    rlkd_search_destroy(s);
    return status;
}

static rlkd_status check(const rlkd_net *student, const rlkd_net *teacher,
                         const rlkd_loader *train_loader,
                         const rlkd_loader *validation,
                         const rlkd_compress_options *o,
                         const rlkd_compress_report *report)
{
    static const char op[] = "rlkd_compress";
    if (!student || !train_loader || !validation || !report)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: student, train, validation and report must not "
                         "be NULL", op);
    if (report->struct_size < sizeof *report)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: report->struct_size must be "
                         "sizeof(rlkd_compress_report)", op);
    if ((int)o->method < 0 || o->method > RLKD_METHOD_SFP)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: unknown method %d", op, (int)o->method);
    if (o->distill_epochs < 0 || o->finetune_epochs < 0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: distill_epochs and finetune_epochs must be >= 0",
                         op);
    if (!teacher && (o->distill_epochs > 0 || o->method == RLKD_METHOD_RLKD))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: %s needs a teacher", op,
                         o->distill_epochs > 0 ? "distillation"
                                               : "the rlkd method");
    if (!(o->search.macs_fraction > 0.0 && o->search.macs_fraction <= 1.0))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: search.macs_fraction must be in (0, 1]", op);
    return RLKD_OK;
}

rlkd_status rlkd_compress(rlkd_net *student, rlkd_net *teacher,
                          rlkd_loader *train_loader, rlkd_loader *validation,
                          rlkd_loader *test,
                          const rlkd_compress_options *options,
                          rlkd_net **compacted, rlkd_compress_report *report)
{
    static const char op[] = "rlkd_compress";
    if (!options)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options must not be NULL", op);
    rlkd_compress_options merged;
    rlkd_compress_options_init(&merged);
    RLKD_TRY(rlkd_merge_struct(op, "options", &merged, sizeof merged, options,
                               OPTIONS_SIZE_FIRST,
                               "rlkd_compress_options_init"));
    const rlkd_compress_options *o = &merged;
    RLKD_TRY(check(student, teacher, train_loader, validation, o, report));
    const size_t report_size = report->struct_size;
    memset(report, 0, sizeof *report);
    report->struct_size = report_size;
    report->search_reward = report->kept_fraction = NAN;
    report->student_top1 = report->top1 = report->top5 = NAN;
    pipeline p = {o, report, RLKD_STAGE_DISTILL, 0.0};
    RLKD_TRY(rlkd_net_prune_clear(student));
    RLKD_TRY(rlkd_net_cost(student, &report->params_before,
                           &report->macs_before));
    if (o->distill_epochs > 0) {
        stage_begin(&p, RLKD_STAGE_DISTILL);
        RLKD_TRY(train(o, student, teacher, train_loader, validation,
                       o->distill_epochs, o->distill_lr, 0.0f));
        stage_end(&p);
    }
    if (test) {
        stage_begin(&p, RLKD_STAGE_EVALUATE);
        RLKD_TRY(rlkd_evaluate(student, test, &report->student_top1, NULL,
                               NULL));
        stage_end(&p);
    }

    stage_begin(&p, RLKD_STAGE_SEARCH);
    const double fraction = o->search.macs_fraction;
    /* SFP ranks filters by L2 norm, as its trainer option zeroes them. */
    const int sfp = o->method == RLKD_METHOD_SFP;
    const rlkd_prune_criterion criterion = sfp ? RLKD_PRUNE_L2 : o->criterion;
    double kept_fraction = 1.0;
    if (o->method == RLKD_METHOD_RLKD || o->method == RLKD_METHOD_AMC)
        RLKD_TRY(search(&p, student, teacher, train_loader, validation));
    else
        RLKD_TRY(rlkd_net_prune_uniform(student, fraction, criterion,
                                        &kept_fraction));
    if (o->method == RLKD_METHOD_UNIFORM || sfp)
        report->kept_fraction = kept_fraction;
    stage_end(&p);

    /* SFP trains without masks, zeroing the weakest filters every epoch at
     * the fraction uniform pruning found, and removes them at the end. */
    if (sfp)
        RLKD_TRY(rlkd_net_prune_clear(student));
    stage_begin(&p, RLKD_STAGE_FINETUNE);
    if (o->finetune_epochs > 0)
        RLKD_TRY(train(o, student,
                       o->method == RLKD_METHOD_AMC ? NULL : teacher,
                       train_loader, validation, o->finetune_epochs,
                       o->finetune_lr, sfp ? (float)kept_fraction : 0.0f));
    if (sfp)
        RLKD_TRY(rlkd_net_prune_uniform(student, fraction, criterion, NULL));
    stage_end(&p);

    stage_begin(&p, RLKD_STAGE_COMPACT);
    rlkd_net *small;
    RLKD_TRY(rlkd_net_prune_compact(student, &small));
    rlkd_status status = rlkd_net_cost(small, &report->params,
                                       &report->macs);
    stage_end(&p);
    if (status == RLKD_OK && test) {
        stage_begin(&p, RLKD_STAGE_EVALUATE);
        const double before = report->seconds[RLKD_STAGE_EVALUATE];
        status = rlkd_evaluate(small, test, &report->top1, &report->top5,
                               NULL);
        stage_end(&p);
        report->seconds[RLKD_STAGE_EVALUATE] += before;
    }
    if (status == RLKD_OK && compacted)
        *compacted = small;
    else
        rlkd_net_destroy(small);
    return status;
}
