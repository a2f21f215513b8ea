/*
 * rlkd train, distill and finetune: one trainer run (rlkd_trainer_fit)
 * from a fresh zoo network or a file, with or without a teacher, then an
 * evaluation on the test split. A masked network keeps its masks: its
 * removed channels stay at zero while it trains. Started by a launcher
 * (scripts/launch.sh), the run is data-parallel over its ranks, and rank 0
 * alone reports and writes files.
 */
#include "cli.h"

#include <unistd.h>

void trainer_options_from_flags(rlkd_trainer_options *o, int epochs,
                                float lr)
{
    static const rlkd_optimizer_kind optimizers[] = {
        RLKD_OPTIMIZER_SGD, RLKD_OPTIMIZER_ADAM, RLKD_OPTIMIZER_ADAMW};
    static const rlkd_schedule_kind schedules[] = {
        RLKD_SCHEDULE_COSINE, RLKD_SCHEDULE_STEP, RLKD_SCHEDULE_CONSTANT};
    rlkd_trainer_options_init(o);
    o->epochs = epochs;
    o->optimizer.kind = optimizers[flag_choice("optimizer")];
    o->optimizer.momentum = (float)flag_real("momentum");
    o->optimizer.nesterov = 1;
    o->optimizer.weight_decay = (float)flag_real("weight-decay");
    o->optimizer.no_decay_bn_bias = 1;
    o->schedule.base_lr = lr;
    o->schedule.total_epochs = epochs;
    /* rlkd_compress sets its own schedule per stage. */
    if (flag_known("schedule")) {
        o->schedule.kind = schedules[flag_choice("schedule")];
        o->schedule.step_epochs = (int)flag_int("step-epochs");
        o->schedule.warmup_epochs = (float)flag_real("warmup");
    }
    if (flag_known("label-smoothing"))
        o->label_smoothing = (float)flag_real("label-smoothing");
    if (flag_known("kd-alpha")) {
        o->kd_alpha = (float)flag_real("kd-alpha");
        o->kd_temperature = (float)flag_real("kd-temperature");
    }
    if (flag_known("at-beta")) {
        o->at_beta = (float)flag_real("at-beta");
        o->at_pair_count = flag_pairs("at-pairs", o->at_pairs, 8);
        if (o->at_beta > 0.0f && o->at_pair_count == 0)
            usage_error("--at-beta needs --at-pairs S:T,... (see rlkd %s "
                        "--help)", session_command());
    }
    if (flag_known("checkpoint"))
        o->checkpoint_path = flag_text("checkpoint");
    o->progress = progress_training;
    o->progress_user = (void *)session_command();
    o->progress_every = 10;
}

void run_trainer(rlkd_net *student, rlkd_net *teacher,
                 const rlkd_trainer_options *o, const data *d)
{
    data_check_net(d, student, "the network");
    if (teacher)
        data_check_net(d, teacher, "--teacher");
    /* Made before the trainer, which uses it: freed after it. */
    rlkd_comm *comm = session_comm();
    rlkd_trainer *trainer;
    check(rlkd_trainer_create(student, teacher, o, &trainer),
          "setting up the training");
    own(OWN_TRAINER, trainer);
    if (o->checkpoint_path && access(o->checkpoint_path, F_OK) == 0) {
        check(rlkd_trainer_resume(trainer, o->checkpoint_path),
              "resuming --checkpoint %s", o->checkpoint_path);
        int64_t epoch, step;
        check(rlkd_trainer_position(trainer, &epoch, &step), "--checkpoint");
        if (epoch < o->epochs)
            note("resuming %s at epoch %lld of %d", o->checkpoint_path,
                 (long long)epoch + 1, o->epochs);
        else
            note("%s: the %d epochs are done", o->checkpoint_path, o->epochs);
    }
    if (comm) {
        const rlkd_parallel_options parallel = session_parallel_options();
        check(rlkd_trainer_set_comm(trainer, comm, &parallel),
              "data-parallel training");
    }
    progress_reset();
    check(rlkd_trainer_fit(trainer, d->train, d->validation), "training");
    progress_end();
    release(trainer);
}

void save_net(const rlkd_net *net)
{
    const char *path = flag_text("save");
    if (path && session_rank() == 0)
        check(rlkd_net_save(net, path), "--save %s", path);
}

void command_train(void)
{
    const char *command = session_command();
    data d;
    data_open(&d, DATA_TRAIN | DATA_TEST);
    rlkd_net *net = net_from_flags(d.channels, d.height, d.width, d.classes);
    rlkd_net *teacher = flag_known("teacher") && flag_text("teacher")
                            ? net_load(flag_text("teacher"), "teacher")
                            : NULL;
    const int epochs = (int)flag_int("epochs");
    const float lr = (float)flag_real("lr");
    rlkd_trainer_options o;
    trainer_options_from_flags(&o, epochs, lr);
    run_trainer(net, teacher, &o, &d);
    save_net(net);
    /* Every rank holds the same network: rank 0 reports it. */
    if (session_rank() != 0)
        return;

    result r;
    result_init(&r, command, net_label());
    result_evaluate(&r, net, d.test);
    result_costs(&r, net);
    result_number(&r, "epochs", epochs);
    result_number(&r, "lr", flag_real("lr"));
    result_text(&r, "data", d.name);
    result_number(&r, "train_images", (double)d.train_count);
    if (flag_known("model") && !flag_text("init")) {
        result_text(&r, "attention", flag_text("attention"));
        result_number(&r, "width", flag_real("width"));
    }
    if (teacher) {
        result_text(&r, "teacher", flag_text("teacher"));
        result_number(&r, "kd_alpha", flag_real("kd-alpha"));
        result_number(&r, "kd_temperature", flag_real("kd-temperature"));
    }
    if (flag_text("save"))
        result_text(&r, "saved", flag_text("save"));
    result_finish(&r);
}
