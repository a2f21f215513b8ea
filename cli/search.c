/*
 * rlkd search: the RL channel search (AMC's DDPG agent; rlkd's reward with
 * BN recalibration, teacher agreement and reward scaling) on a trained
 * network, resumable from --search-state, leaving the best policy's masks
 * on the saved network.
 * rlkd compress: the whole pipeline in one call (rlkd_compress).
 */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The search options both commands read from the flags. */
static void search_options_from_flags(rlkd_search_options *so,
                                      rlkd_net_env_options *env)
{
    rlkd_search_options_init(so);
    so->macs_fraction = flag_real("flops");
    so->episodes = (int)flag_int("episodes");
    so->warmup_episodes = (int)flag_int("warmup-episodes");
    so->lbound = flag_real("lbound");
    so->round_to = (int)flag_int("round-to");
    so->seed = (uint64_t)flag_int("seed");
    so->log_path = flag_text("search-log");
    so->state_path = flag_text("search-state");
    so->policy_path = flag_text("policy");
    so->progress = progress_episode;
    so->progress_user = "search";
    rlkd_net_env_options_init(env);
    env->criterion = criterion_from_flags();
    env->max_images = flag_int("search-images");
    if (so->warmup_episodes > so->episodes)
        usage_error("--warmup-episodes %d is more than --episodes %d",
                    so->warmup_episodes, so->episodes);
}

/* Whether the search resumes: its state file exists. A fresh search
 * starts its episode log afresh (a resumed one cuts the log back itself),
 * rather than appending to an old search's episodes; over several ranks,
 * rank 0 alone writes the log. */
static int resuming(const rlkd_search_options *so)
{
    if (so->state_path && access(so->state_path, F_OK) == 0)
        return 1;
    if (so->log_path && session_rank() == 0) {
        FILE *f = fopen(so->log_path, "w");
        if (!f || fclose(f) != 0)
            fail("--search-log %s: cannot write: %s", so->log_path,
                 strerror(errno));
    }
    return 0;
}

static void need_validation(const data *d)
{
    if (!d->validation)
        usage_error("--validation must be more than 0: the search's reward "
                    "is measured on those training images (see rlkd %s "
                    "--help)", session_command());
}

/* The kept channels of each prunable group, as a table on stdout. */
static void print_policy(rlkd_net *net)
{
    int groups;
    check(rlkd_net_prune_group_count(net, &groups), "the policy");
    printf("%-32s %8s %8s %6s\n", "layer", "channels", "kept", "ratio");
    for (int i = 0; i < groups; i++) {
        rlkd_prune_group g;
        rlkd_prune_group_init(&g);
        check(rlkd_net_prune_group(net, i, &g), "the policy");
        if (g.prunable)
            printf("%-32s %8d %8d %6.3f\n", g.name, g.channels, g.kept,
                   (double)g.kept / g.channels);
    }
}

enum { RLKD, AMC }; /* search --method's choices, in order */

void command_search(void)
{
    const int method = flag_choice("method");
    const char *teacher_path = flag_text("teacher");
    if (method == RLKD && !teacher_path)
        usage_error("--method rlkd needs --teacher FILE (or use --method "
                    "amc; see rlkd search --help)");
    if (method == AMC && teacher_path)
        note("search: amc does not use the teacher %s", teacher_path);
    rlkd_net *net = net_load(flag_text("init"), "init");
    rlkd_net *teacher =
        method == RLKD ? net_load(teacher_path, "teacher") : NULL;
    data d;
    data_open(&d, DATA_TRAIN | DATA_TEST);
    need_validation(&d);
    data_check_net(&d, net, "--init");
    if (teacher)
        data_check_net(&d, teacher, "--teacher");
    /* The search starts from the whole network (it clears any masks). */
    int64_t macs_before;
    check(rlkd_net_prune_clear(net), "--init");
    check(rlkd_net_cost(net, NULL, &macs_before), "--init");

    rlkd_search_options so;
    rlkd_net_env_options env;
    search_options_from_flags(&so, &env);
    /* rlkd's ingredients (rlkd_compress_options.rlkd_defaults: 20
     * batches, weight 0.5, scaling on); AMC has none of them. */
    if (method == RLKD) {
        env.recalibrate_batches = (int)flag_int("recalibrate");
        env.teacher_weight = flag_real("teacher-weight");
        so.reward_scaling = (int)flag_int("reward-scaling");
    }
    rlkd_search *search;
    check(rlkd_search_create_net(net, teacher, d.validation, d.train, &env,
                                 &so, &search),
          "setting up the search");
    own(OWN_SEARCH, search);
    if (resuming(&so)) {
        check(rlkd_search_resume(search, so.state_path),
              "resuming --search-state %s", so.state_path);
        int64_t done;
        check(rlkd_search_episode_count(search, &done), "--search-state");
        if (done < so.episodes)
            note("resuming %s after episode %lld of %d", so.state_path,
                 (long long)done, so.episodes);
        else
            note("%s: the %d episodes are done", so.state_path, so.episodes);
    }
    /* Rank 0's agent chooses, every rank scores its share of the
     * validation batches; rank 0 alone writes the log and the state. */
    rlkd_comm *comm = session_comm();
    if (comm) {
        check(rlkd_search_set_comm(search, comm), "parallel search");
        note("searching over %d ranks", rlkd_comm_world_size(comm));
    }
    progress_reset();
    check(rlkd_search_run(search, so.episodes), "searching");
    progress_end();
    double reward, score;
    int64_t macs, episodes;
    check(rlkd_search_best(search, NULL, 0, &reward, &score, &macs),
          "the best policy");
    check(rlkd_search_episode_count(search, &episodes), "the search");
    check(rlkd_search_apply_best(search), "applying the best policy");
    release(search);
    print_policy(net);
    save_net(net);

    result r;
    result_init(&r, flag_text("method"), net_label());
    result_evaluate(&r, net, d.test);
    result_costs(&r, net);
    result_number(&r, "reward", reward);
    result_number(&r, "score", score);
    result_number(&r, "episodes", (double)episodes);
    result_number(&r, "flops_target", so.macs_fraction);
    result_text(&r, "criterion", flag_text("criterion"));
    result_number(&r, "macs_before", (double)macs_before);
    result_number(&r, "macs_fraction", (double)r.macs / (double)macs_before);
    result_finish(&r);
}

void command_compress(void)
{
    static const rlkd_compress_method methods[] = {
        RLKD_METHOD_RLKD, RLKD_METHOD_AMC, RLKD_METHOD_UNIFORM,
        RLKD_METHOD_SFP};
    const rlkd_compress_method method = methods[flag_choice("method")];
    const char *teacher_path = flag_text("teacher");
    if (!teacher_path &&
        (method == RLKD_METHOD_RLKD || flag_int("distill-epochs") > 0))
        usage_error("%s needs --teacher FILE (see rlkd compress --help)",
                    method == RLKD_METHOD_RLKD ? "--method rlkd"
                                               : "--distill-epochs");
    data d;
    data_open(&d, DATA_TRAIN | DATA_TEST);
    need_validation(&d);
    rlkd_net *student =
        net_from_flags(d.channels, d.height, d.width, d.classes);
    data_check_net(&d, student, "the student");
    rlkd_net *teacher = NULL;
    if (teacher_path) {
        teacher = net_load(teacher_path, "teacher");
        data_check_net(&d, teacher, "--teacher");
    }

    rlkd_compress_options o;
    rlkd_compress_options_init(&o);
    o.method = method;
    o.distill_epochs = (int)flag_int("distill-epochs");
    o.finetune_epochs = (int)flag_int("finetune-epochs");
    o.distill_lr = (float)flag_real("distill-lr");
    o.finetune_lr = (float)flag_real("lr");
    trainer_options_from_flags(&o.train, o.finetune_epochs, o.finetune_lr);
    search_options_from_flags(&o.search, &o.env);
    o.criterion = o.env.criterion;
    /* Any of rlkd's ablation flags replaces its defaults, each one not
     * given keeping its default (which are rlkd_defaults' values). */
    if (flag_given("recalibrate") || flag_given("teacher-weight") ||
        flag_given("reward-scaling")) {
        o.rlkd_defaults = 0;
        o.env.recalibrate_batches = (int)flag_int("recalibrate");
        o.env.teacher_weight = flag_real("teacher-weight");
        o.search.reward_scaling = (int)flag_int("reward-scaling");
    }
    o.stage = progress_stage;
    /* Over the launcher's ranks: data-parallel trainings, parallel search. */
    rlkd_parallel_options parallel;
    o.comm = session_comm();
    if (o.comm) {
        parallel = session_parallel_options();
        o.parallel = &parallel;
    }
    /* rlkd_compress resumes the search itself when the state exists. */
    if (method == RLKD_METHOD_RLKD || method == RLKD_METHOD_AMC)
        resuming(&o.search);
    rlkd_compress_report report;
    report.struct_size = sizeof report;
    rlkd_net *compacted;
    check(rlkd_compress(student, teacher, d.train, d.validation, d.test, &o,
                        &compacted, &report),
          "compress");
    own(OWN_NET, compacted);
    progress_end();
    save_net(compacted);

    /* The report as a Markdown table: the student against the result. */
    printf("| network | test top-1 (%%) | params | MACs (M) | FLOPs (M) | "
           "MACs kept |\n|---|---|---|---|---|---|\n");
    printf("| unpruned student | %.2f | %lld | %.2f | %.2f | 1.000 |\n",
           100 * report.student_top1, (long long)report.params_before,
           (double)report.macs_before / 1e6,
           2.0 * (double)report.macs_before / 1e6);
    printf("| %s | %.2f | %lld | %.2f | %.2f | %.3f |\n",
           flag_text("method"), 100 * report.top1, (long long)report.params,
           (double)report.macs / 1e6, 2.0 * (double)report.macs / 1e6,
           (double)report.macs / (double)report.macs_before);

    static const char *const stages[] = {"distill", "search", "finetune",
                                         "compact", "evaluate"};
    result r;
    result_init(&r, flag_text("method"), net_label());
    r.top1 = report.top1;
    r.top5 = report.top5;
    r.params = report.params;
    r.macs = report.macs;
    result_number(&r, "student_top1", report.student_top1);
    result_number(&r, "params_before", (double)report.params_before);
    result_number(&r, "macs_before", (double)report.macs_before);
    result_number(&r, "macs_fraction",
                  (double)report.macs / (double)report.macs_before);
    result_number(&r, "flops_target", o.search.macs_fraction);
    result_number(&r, "search_reward", report.search_reward);
    result_number(&r, "kept_fraction", report.kept_fraction);
    result_number(&r, "episodes", (double)report.episodes);
    result_number(&r, "distill_epochs", o.distill_epochs);
    result_number(&r, "finetune_epochs", o.finetune_epochs);
    if (teacher_path)
        result_text(&r, "teacher", teacher_path);
    for (int s = 0; s < 5; s++) {
        char key[32];
        snprintf(key, sizeof key, "%s_seconds", stages[s]);
        result_number(&r, key, report.seconds[s]);
    }
    result_finish(&r);
}
