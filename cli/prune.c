/*
 * rlkd prune: masks a trained network down to --flops of its MACs by a
 * baseline method (uniform, or the training-time methods SFP and network
 * slimming), and saves the masked network for `rlkd finetune`.
 * rlkd compact: removes the masked channels physically.
 */
#include "cli.h"

enum { UNIFORM, SFP, SLIMMING }; /* --method's choices, in order */

void command_prune(void)
{
    const int method = flag_choice("method");
    const double flops = flag_real("flops");
    if (method != UNIFORM && flag_given("criterion") &&
        !(method == SFP && criterion_from_flags() == RLKD_PRUNE_L2))
        usage_error("--criterion: %s ranks channels by %s (see rlkd prune "
                    "--help)", flag_text("method"),
                    method == SFP ? "l2 (the filters' L2 norm)"
                                  : "their batch-norm scale");
    rlkd_net *net = net_load(flag_text("init"), "init");
    data d;
    data_open(&d, DATA_TEST | (method == UNIFORM ? 0u : DATA_TRAIN));
    data_check_net(&d, net, "--init");
    int64_t macs_before;
    check(rlkd_net_prune_clear(net), "--init");
    check(rlkd_net_cost(net, NULL, &macs_before), "--init");

    result r;
    result_init(&r, flag_text("method"), net_label());
    if (method == UNIFORM) {
        double kept;
        check(rlkd_net_prune_uniform(net, flops, criterion_from_flags(),
                                     &kept),
              "pruning to --flops %g", flops);
        result_number(&r, "kept_fraction", kept);
        result_text(&r, "criterion", flag_text("criterion"));
    } else {
        rlkd_net *teacher = flag_text("teacher")
                                ? net_load(flag_text("teacher"), "teacher")
                                : NULL;
        rlkd_trainer_options o;
        trainer_options_from_flags(&o, (int)flag_int("epochs"),
                                   (float)flag_real("lr"));
        if (method == SFP) {
            /* SFP zeroes, after every epoch, the filters that uniform
             * pruning to the budget would remove (by L2 norm, as the
             * trainer's step does), and masks them at the end. */
            double kept;
            check(rlkd_net_prune_uniform(net, flops, RLKD_PRUNE_L2, &kept),
                  "pruning to --flops %g", flops);
            check(rlkd_net_prune_clear(net), "sfp");
            o.sfp_keep_fraction = (float)kept;
            run_trainer(net, teacher, &o, &d);
            check(rlkd_net_prune_uniform(net, flops, RLKD_PRUNE_L2, NULL),
                  "pruning to --flops %g", flops);
            result_number(&r, "kept_fraction", kept);
            result_text(&r, "criterion", "l2");
        } else {
            o.bn_l1 = (float)flag_real("bn-l1");
            run_trainer(net, teacher, &o, &d);
            double threshold;
            check(rlkd_net_prune_slimming(net, flops, &threshold),
                  "pruning to --flops %g", flops);
            result_number(&r, "bn_threshold", threshold);
        }
        result_number(&r, "epochs", (double)o.epochs);
        result_number(&r, "lr", flag_real("lr"));
    }
    save_net(net);
    result_evaluate(&r, net, d.test);
    result_costs(&r, net);
    result_number(&r, "flops_target", flops);
    result_number(&r, "macs_before", (double)macs_before);
    result_number(&r, "macs_fraction", (double)r.macs / (double)macs_before);
    result_finish(&r);
}

void command_compact(void)
{
    rlkd_net *net = net_load(flag_text("init"), "init");
    rlkd_net *small;
    check(rlkd_net_prune_compact(net, &small), "compacting --init");
    own(OWN_NET, small);
    check(rlkd_net_save(small, flag_text("save")), "--save %s",
          flag_text("save"));
    /* What the network cost before any pruning: without its masks. */
    int64_t params_before, macs_before;
    check(rlkd_net_prune_clear(net), "--init");
    check(rlkd_net_cost(net, &params_before, &macs_before), "--init");
    release(net);

    result r;
    result_init(&r, session_command(), net_label());
    result_costs(&r, small);
    result_number(&r, "params_before", (double)params_before);
    result_number(&r, "macs_before", (double)macs_before);
    result_number(&r, "macs_fraction", (double)r.macs / (double)macs_before);
    result_text(&r, "saved", flag_text("save"));
    result_finish(&r);
}
