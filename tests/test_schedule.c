/* schedule: each kind at chosen (also fractional) epochs against
 * hand-computed rates, warm-up ramps that join the schedule without a
 * jump, and bad settings. */
#include "testlib.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

/* The rate at `epoch` must be `want` to float precision. */
static void expect_lr(const rlkd_schedule *s, double epoch, double want)
{
    float lr = -1.0f;
    CHECK_OK(rlkd_schedule_lr(s, epoch, &lr));
    CHECK_MSG(fabs(lr - want) <= 1e-6 * fabs(want) + 1e-12,
              "kind %d at epoch %g: lr %.9g, expected %.9g", (int)s->kind,
              epoch, (double)lr, want);
}

static rlkd_schedule schedule_of(rlkd_schedule_kind kind, float base_lr)
{
    rlkd_schedule s;
    rlkd_schedule_init(&s);
    s.kind = kind;
    s.base_lr = base_lr;
    return s;
}

static void defaults(void)
{
    rlkd_schedule s;
    memset(&s, 0xff, sizeof s);
    rlkd_schedule_init(&s);
    CHECK(s.struct_size == sizeof s);
    CHECK(s.kind == RLKD_SCHEDULE_COSINE);
    CHECK(s.base_lr == 0.1f && s.final_lr == 0.0f && s.gamma == 0.1f);
    CHECK(s.step_epochs == 30 && s.milestone_count == 0);
    for (int i = 0; i < 8; i++)
        CHECK(s.milestones[i] == 0);
    CHECK(s.warmup_epochs == 0.0f && s.total_epochs == 100);
    rlkd_schedule_init(NULL); /* accepted, does nothing */
    /* the default: cosine from 0.1 to 0 over 100 epochs */
    expect_lr(&s, 0, 0.1);
    expect_lr(&s, 50, 0.05);
    expect_lr(&s, 100, 0.0);
}

static void constant(void)
{
    rlkd_schedule s = schedule_of(RLKD_SCHEDULE_CONSTANT, 0.05f);
    expect_lr(&s, 0, 0.05f);
    expect_lr(&s, 7.25, 0.05f);
    expect_lr(&s, 1000, 0.05f); /* past total_epochs too */
}

/* base * gamma^floor(epoch / step_epochs) */
static void step(void)
{
    rlkd_schedule s = schedule_of(RLKD_SCHEDULE_STEP, 0.1f);
    expect_lr(&s, 0, 0.1f);
    expect_lr(&s, 29.999, 0.1f);
    expect_lr(&s, 30, 0.1f * 0.1);
    expect_lr(&s, 59.5, 0.1f * 0.1);
    expect_lr(&s, 60, 0.1f * 0.01);
    expect_lr(&s, 95, 0.1f * 0.001);
    s.gamma = 0.5f;
    s.step_epochs = 2;
    expect_lr(&s, 1.5, 0.1f);
    expect_lr(&s, 2, 0.05f);
    expect_lr(&s, 7.9, 0.0125f);
    s.gamma = 2.0f; /* a growing rate is allowed */
    expect_lr(&s, 4, 0.4f);
}

/* base * gamma^(milestones <= epoch) */
static void multistep(void)
{
    rlkd_schedule s = schedule_of(RLKD_SCHEDULE_MULTISTEP, 0.1f);
    expect_lr(&s, 300, 0.1f); /* no milestones: constant */
    s.milestones[0] = 150;
    s.milestones[1] = 225;
    s.milestone_count = 2;
    expect_lr(&s, 0, 0.1f);
    expect_lr(&s, 149.99, 0.1f);
    expect_lr(&s, 150, 0.1f * 0.1);
    expect_lr(&s, 224.5, 0.1f * 0.1);
    expect_lr(&s, 225, 0.1f * 0.01);
    expect_lr(&s, 400, 0.1f * 0.01);
    /* all eight, with milestone 0 applying from the start */
    const int all[8] = {0, 1, 2, 3, 5, 8, 13, 21};
    memcpy(s.milestones, all, sizeof all);
    s.milestone_count = 8;
    s.gamma = 0.5f;
    expect_lr(&s, 0, 0.05f);
    expect_lr(&s, 4.5, 0.1f / 16);
    expect_lr(&s, 20.99, 0.1f / 128);
    expect_lr(&s, 21, 0.1f / 256);
}

/* final + (base - final) * (1 + cos(pi * min(epoch, total) / total)) / 2 */
static void cosine(void)
{
    rlkd_schedule s = schedule_of(RLKD_SCHEDULE_COSINE, 0.1f);
    expect_lr(&s, 0, 0.1f);
    expect_lr(&s, 25, 0.1f * (1 + sqrt(0.5)) / 2);
    expect_lr(&s, 50, 0.05f);
    expect_lr(&s, 75, 0.1f * (1 - sqrt(0.5)) / 2);
    expect_lr(&s, 100, 0.0);
    expect_lr(&s, 130, 0.0); /* stays at final_lr after the end */
    s.final_lr = 0.01f;
    expect_lr(&s, 0, 0.1f);
    expect_lr(&s, 50, 0.01f + (0.1f - 0.01f) / 2);
    expect_lr(&s, 75, 0.01f + (0.1f - 0.01f) * (1 - sqrt(0.5)) / 2);
    expect_lr(&s, 100, 0.01f);
    expect_lr(&s, 1000, 0.01f);
    /* a final rate above the base rises instead */
    s.base_lr = 0.0f;
    expect_lr(&s, 50, 0.005f);
}

/* Fractional epochs (epoch + step / steps_per_epoch) move the rate within
 * an epoch where the schedule is continuous. */
static void fractional_epochs(void)
{
    rlkd_schedule s = schedule_of(RLKD_SCHEDULE_COSINE, 1.0f);
    s.total_epochs = 25;
    expect_lr(&s, 12.5, 0.5);
    expect_lr(&s, 0.25, (1 + cos(PI * 0.01)) / 2);
    s.total_epochs = 1;
    expect_lr(&s, 1.0 / 3, 0.75);
    expect_lr(&s, 2.0 / 3, 0.25);
    s = schedule_of(RLKD_SCHEDULE_STEP, 1.0f);
    s.step_epochs = 1;
    s.gamma = 0.5f;
    expect_lr(&s, 2.999, 0.25);
    expect_lr(&s, 3.001, 0.125);
}

/* lr(epoch) = scheduled(W) * epoch / W before W, scheduled(epoch) after. */
static void warmup(void)
{
    rlkd_schedule s = schedule_of(RLKD_SCHEDULE_CONSTANT, 0.1f);
    s.warmup_epochs = 5.0f;
    expect_lr(&s, 0, 0.0);
    expect_lr(&s, 1, 0.02f);
    expect_lr(&s, 2.5, 0.05f);
    expect_lr(&s, 5, 0.1f);
    expect_lr(&s, 50, 0.1f);

    /* cosine keeps its [0, total] clock: the ramp ends at its rate at W */
    s.kind = RLKD_SCHEDULE_COSINE;
    const double at_end = 0.1f * (1 + cos(PI * 0.05)) / 2;
    expect_lr(&s, 0, 0.0);
    expect_lr(&s, 2.5, at_end / 2);
    expect_lr(&s, 5, at_end);
    expect_lr(&s, 50, 0.05f);
    expect_lr(&s, 100, 0.0);

    /* a step inside the warm-up: the ramp aims at the rate after it */
    s = schedule_of(RLKD_SCHEDULE_STEP, 0.1f);
    s.step_epochs = 2;
    s.gamma = 0.5f;
    s.warmup_epochs = 3.0f;
    expect_lr(&s, 1.5, 0.025f);
    expect_lr(&s, 3, 0.05f);
    expect_lr(&s, 4, 0.025f);

    /* a fractional warm-up */
    s = schedule_of(RLKD_SCHEDULE_MULTISTEP, 0.2f);
    s.milestones[0] = 1;
    s.milestone_count = 1;
    s.warmup_epochs = 0.5f;
    expect_lr(&s, 0.125, 0.05f);
    expect_lr(&s, 0.5, 0.2f);
    expect_lr(&s, 1, 0.02f);
}

/* Across the warm-up's end the rate does not jump, for every kind. */
static void warmup_joins(void)
{
    const rlkd_schedule_kind kinds[4] = {
        RLKD_SCHEDULE_CONSTANT, RLKD_SCHEDULE_STEP, RLKD_SCHEDULE_MULTISTEP,
        RLKD_SCHEDULE_COSINE};
    const float warmups[3] = {0.25f, 3.0f, 7.5f};
    for (int k = 0; k < 4; k++) {
        for (int w = 0; w < 3; w++) {
            rlkd_schedule s = schedule_of(kinds[k], 0.4f);
            s.step_epochs = 2;
            s.milestones[0] = 3;
            s.milestones[1] = 6;
            s.milestone_count = 2;
            s.total_epochs = 20;
            s.warmup_epochs = warmups[w];
            const double end = warmups[w];
            float before = 0, at = 0, after = 0;
            CHECK_OK(rlkd_schedule_lr(&s, end - 1e-7, &before));
            CHECK_OK(rlkd_schedule_lr(&s, end, &at));
            CHECK_OK(rlkd_schedule_lr(&s, end + 1e-7, &after));
            CHECK_MSG(at > 0 && fabs(before - at) <= 1e-6 * at &&
                          fabs(after - at) <= 1e-6 * at,
                      "kind %d, warm-up %g: %.9g, %.9g, %.9g around its end",
                      (int)kinds[k], end, (double)before, (double)at,
                      (double)after);
            /* and it rises all the way */
            float previous = -1;
            for (int i = 0; i <= 16; i++) {
                float lr = 0;
                CHECK_OK(rlkd_schedule_lr(&s, end * i / 16, &lr));
                CHECK_MSG(lr > previous, "kind %d, warm-up %g: not rising "
                          "at %g", (int)kinds[k], end, end * i / 16);
                previous = lr;
            }
        }
    }
}

static void bad_settings(void)
{
    rlkd_schedule s;
    float lr = 7.0f;
#define EXPECT_BAD(change, needle)                                           \
    do {                                                                     \
        rlkd_schedule_init(&s);                                              \
        change;                                                              \
        CHECK_FAILS(rlkd_schedule_lr(&s, 1.0, &lr),                          \
                    RLKD_ERR_INVALID_ARGUMENT, needle);                      \
    } while (0)
    EXPECT_BAD(s.struct_size = 0, "struct_size is 0");
    EXPECT_BAD(s.struct_size = offsetof(rlkd_schedule, total_epochs),
               "rlkd_schedule_init");
    EXPECT_BAD(s.kind = (rlkd_schedule_kind)4, "schedule->kind is 4");
    EXPECT_BAD(s.kind = (rlkd_schedule_kind)-1, "schedule->kind is -1");
    EXPECT_BAD(s.base_lr = -0.1f,
               "schedule->base_lr must be finite and >= 0, got -0.1");
    EXPECT_BAD(s.base_lr = NAN, "schedule->base_lr");
    EXPECT_BAD(s.base_lr = INFINITY, "schedule->base_lr");
    EXPECT_BAD(s.final_lr = -1e-3f, "schedule->final_lr");
    EXPECT_BAD(s.final_lr = NAN, "schedule->final_lr");
    EXPECT_BAD(s.gamma = 0.0f, "schedule->gamma must be finite and > 0");
    EXPECT_BAD(s.gamma = -0.5f, "schedule->gamma");
    EXPECT_BAD(s.gamma = INFINITY, "schedule->gamma");
    EXPECT_BAD(s.step_epochs = 0, "schedule->step_epochs must be >= 1");
    EXPECT_BAD(s.milestone_count = -1,
               "schedule->milestone_count must be in [0,8], got -1");
    EXPECT_BAD(s.milestone_count = 9, "schedule->milestone_count");
    EXPECT_BAD((s.milestones[0] = 5, s.milestones[1] = 5,
                s.milestone_count = 2),
               "milestones[1] is 5 after 5");
    EXPECT_BAD((s.milestones[0] = 5, s.milestones[1] = 3,
                s.milestone_count = 2),
               "must increase, but milestones[1] is 3 after 5");
    EXPECT_BAD((s.milestones[0] = -1, s.milestone_count = 1),
               "schedule->milestones[0] must be >= 0, got -1");
    EXPECT_BAD(s.warmup_epochs = -1.0f, "schedule->warmup_epochs");
    EXPECT_BAD(s.warmup_epochs = NAN, "schedule->warmup_epochs");
    EXPECT_BAD(s.total_epochs = 0, "schedule->total_epochs must be >= 1");
    /* every field is checked whatever the kind */
    EXPECT_BAD((s.kind = RLKD_SCHEDULE_CONSTANT, s.step_epochs = -3),
               "schedule->step_epochs");
#undef EXPECT_BAD
    /* milestones past the count are not read */
    rlkd_schedule_init(&s);
    s.milestones[0] = 9;
    s.milestones[1] = -4;
    s.milestone_count = 1;
    CHECK_OK(rlkd_schedule_lr(&s, 1.0, &lr));

    rlkd_schedule_init(&s);
    lr = 7.0f;
    CHECK_FAILS(rlkd_schedule_lr(&s, -0.5, &lr), RLKD_ERR_INVALID_ARGUMENT,
                "epoch must be finite and >= 0, got -0.5");
    CHECK_FAILS(rlkd_schedule_lr(&s, NAN, &lr), RLKD_ERR_INVALID_ARGUMENT,
                "epoch must be finite");
    CHECK_FAILS(rlkd_schedule_lr(&s, INFINITY, &lr),
                RLKD_ERR_INVALID_ARGUMENT, "epoch must be finite");
    CHECK_FAILS(rlkd_schedule_lr(NULL, 1.0, &lr), RLKD_ERR_INVALID_ARGUMENT,
                "schedule is NULL");
    CHECK_FAILS(rlkd_schedule_lr(&s, 1.0, NULL), RLKD_ERR_INVALID_ARGUMENT,
                "lr is NULL");
    /* a growing rate past float's range */
    s.kind = RLKD_SCHEDULE_STEP;
    s.gamma = 10.0f;
    s.step_epochs = 1;
    CHECK_FAILS(rlkd_schedule_lr(&s, 100.0, &lr), RLKD_ERR_NUMERIC,
                "overflows a float");
    s.base_lr = 0.0f; /* 0 x gamma^400 = 0 x inf */
    CHECK_FAILS(rlkd_schedule_lr(&s, 400.0, &lr), RLKD_ERR_NUMERIC,
                "overflows a float");
    s.base_lr = 0.1f;
    CHECK(lr == 7.0f); /* untouched by every failure */
    /* a caller's newer, larger struct is accepted */
    s.struct_size = sizeof s + 16;
    CHECK_OK(rlkd_schedule_lr(&s, 1.0, &lr));
    CHECK(lr == 1.0f);
}

int main(void)
{
    test_main_begin();
    test_run("schedule/defaults", defaults);
    test_run("schedule/constant", constant);
    test_run("schedule/step", step);
    test_run("schedule/multistep", multistep);
    test_run("schedule/cosine", cosine);
    test_run("schedule/fractional_epochs", fractional_epochs);
    test_run("schedule/warmup", warmup);
    test_run("schedule/warmup_joins", warmup_joins);
    test_run("schedule/bad_settings", bad_settings);
    test_main_end();
    return test_finish();
}
