/*
 * Learning-rate schedules as functions of a fractional epoch, so that a
 * resumed run (or a caller who owns the loop) gets the rate from its
 * position alone.
 *
 * Warm-up and the schedule share one clock: the schedule is neither shifted
 * nor stretched by a warm-up, so step milestones and the cosine's
 * [0, total_epochs] keep their absolute epochs. For 0 <= epoch <
 * warmup_epochs the rate rises linearly from 0 (at epoch 0) to the rate the
 * schedule has at epoch warmup_epochs:
 *     lr(epoch) = scheduled(warmup_epochs) * epoch / warmup_epochs
 * and from warmup_epochs on lr(epoch) = scheduled(epoch), so the warm-up
 * joins the schedule without a jump. (PyTorch's SequentialLR of LinearLR and
 * CosineAnnealingLR is similar but starts the ramp at start_factor and
 * shifts the cosine to start at the warm-up's end.)
 */
#include "train_internal.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* rlkd_schedule up to its last field: what this version reads. */
#define SCHEDULE_SIZE_READ (offsetof(rlkd_schedule, total_epochs) + sizeof(int))

/* C11's <math.h> has no M_PI. */
#define SCHEDULE_PI 3.14159265358979323846

#define SCHEDULE_MAX_MILESTONES \
    ((int)(sizeof ((rlkd_schedule *)0)->milestones / sizeof(int)))

void rlkd_schedule_init(rlkd_schedule *schedule)
{
    if (!schedule)
        return;
    memset(schedule, 0, sizeof *schedule);
    schedule->struct_size = sizeof *schedule;
    schedule->kind = RLKD_SCHEDULE_COSINE;
    schedule->base_lr = 0.1f;
    schedule->final_lr = 0.0f;
    schedule->gamma = 0.1f;
    schedule->step_epochs = 30;
    schedule->milestone_count = 0;
    schedule->warmup_epochs = 0.0f;
    schedule->total_epochs = 100;
}

/* Every field is checked whatever the kind, as a trainer's options carry a
 * schedule whose unused fields must still make sense when saved. */
static rlkd_status check_schedule(const char *op, const rlkd_schedule *s)
{
    RLKD_TRY(rlkd_expect_struct_size(op, "schedule", s->struct_size,
                                     SCHEDULE_SIZE_READ, "rlkd_schedule_init"));
    if ((unsigned)s->kind > RLKD_SCHEDULE_COSINE)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: schedule->kind is %d, not an rlkd_schedule_kind "
                         "value",
                         op, (int)s->kind);
    RLKD_TRY(rlkd_expect_finite_at_least(op, "schedule->base_lr", s->base_lr,
                                         0.0f));
    RLKD_TRY(rlkd_expect_finite_at_least(op, "schedule->final_lr",
                                         s->final_lr, 0.0f));
    RLKD_TRY(rlkd_expect_finite_above(op, "schedule->gamma", s->gamma, 0.0f));
    RLKD_TRY(rlkd_expect_at_least(op, "schedule->step_epochs", s->step_epochs,
                                  1));
    if (s->milestone_count < 0 || s->milestone_count > SCHEDULE_MAX_MILESTONES)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: schedule->milestone_count must be in [0,%d], "
                         "got %d",
                         op, SCHEDULE_MAX_MILESTONES, s->milestone_count);
    for (int i = 0; i < s->milestone_count; i++) {
        if (s->milestones[i] < 0)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: schedule->milestones[%d] must be >= 0, "
                             "got %d",
                             op, i, s->milestones[i]);
        if (i > 0 && s->milestones[i] <= s->milestones[i - 1])
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: schedule->milestones must increase, but "
                             "milestones[%d] is %d after %d",
                             op, i, s->milestones[i], s->milestones[i - 1]);
    }
    RLKD_TRY(rlkd_expect_finite_at_least(op, "schedule->warmup_epochs",
                                         s->warmup_epochs, 0.0f));
    RLKD_TRY(rlkd_expect_at_least(op, "schedule->total_epochs",
                                  s->total_epochs, 1));
    return RLKD_OK;
}

/* The schedule's rate at `epoch` before any warm-up. */
static double scheduled_lr(const rlkd_schedule *s, double epoch)
{
    const double base = s->base_lr;
    switch (s->kind) {
    case RLKD_SCHEDULE_CONSTANT:
        break;
    case RLKD_SCHEDULE_STEP:
        return base * pow(s->gamma, floor(epoch / s->step_epochs));
    case RLKD_SCHEDULE_MULTISTEP: {
        int passed = 0;
        while (passed < s->milestone_count && s->milestones[passed] <= epoch)
            passed++;
        return base * pow(s->gamma, passed);
    }
    case RLKD_SCHEDULE_COSINE: {
        /* after total_epochs the rate stays at final_lr */
        const double total = s->total_epochs;
        const double progress = fmin(epoch, total) / total;
        return s->final_lr +
               (base - s->final_lr) * (1.0 + cos(SCHEDULE_PI * progress)) / 2.0;
    }
    }
    return base;
}

rlkd_status rlkd_schedule_lr(const rlkd_schedule *schedule, double epoch,
                             float *lr)
{
    static const char op[] = "rlkd_schedule_lr";
    if (!schedule || !lr)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !schedule ? "schedule" : "lr");
    RLKD_TRY(check_schedule(op, schedule));
    if (!isfinite(epoch) || epoch < 0.0)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: epoch must be finite and >= 0, got %g", op,
                         epoch);
    const double warmup = schedule->warmup_epochs;
    const double rate =
        epoch < warmup ? scheduled_lr(schedule, warmup) * epoch / warmup
                       : scheduled_lr(schedule, epoch);
    /* a gamma > 1 can grow past float's range (and 0 x inf is NaN) */
    if (!(rate <= FLT_MAX))
        return rlkd_fail(RLKD_ERR_NUMERIC,
                         "%s: the learning rate at epoch %g overflows a "
                         "float (%g); check schedule->gamma",
                         op, epoch, rate);
    *lr = (float)rate;
    return RLKD_OK;
}
