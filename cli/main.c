/*
 * rlkd: the command-line program over librlkd. `rlkd COMMAND [--flag
 * value ...]`; every command explains itself with --help. Exit status: 0
 * done, 1 a runtime error (a missing file, a library failure), 2 a usage
 * error (an unknown command or flag, a bad value).
 */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    unsigned bit;
    void (*run)(void);
    const char *summary; /* one line for `rlkd --help` */
    const char *usage;   /* the arguments after `rlkd NAME` */
    const char *about;   /* what it does, and an example */
} command;

static const command commands[] = {
    {"train", CMD_TRAIN, command_train,
     "train a zoo network (or a network file) on a data set",
     "[--model NAME | --init FILE] [flags]",
     "Trains a fresh zoo network (--model, --attention, --width) or the\n"
     "network of --init by cross-entropy, then evaluates it on the test\n"
     "split. With --checkpoint the run is resumable: run the same command\n"
     "again after an interruption.\n\n"
     "  rlkd train --model densenet_small --attention eca --epochs 10 \\\n"
     "      --checkpoint teacher.ckpt --save teacher.safetensors\n"},
    {"distill", CMD_DISTILL, command_train,
     "train a student from a teacher (knowledge distillation)",
     "--teacher FILE [--model NAME | --init FILE] [flags]",
     "Trains like `rlkd train`, with Hinton's distillation loss against the\n"
     "teacher: kd-alpha * T^2 * KL(teacher/T || student/T) + (1 - kd-alpha)\n"
     "* cross-entropy; optionally attention transfer between node pairs\n"
     "(--at-beta, --at-pairs; `rlkd flops` numbers the nodes).\n\n"
     "  rlkd distill --teacher teacher.safetensors --model vgg_small \\\n"
     "      --width 0.5 --epochs 10 --save student.safetensors\n"},
    {"prune", CMD_PRUNE, command_prune,
     "mask a trained network to a FLOPs budget (uniform, SFP, slimming)",
     "--init FILE [--method uniform|sfp|slimming] [--flops F] [flags]",
     "Masks channels of the --init network until at most --flops of its\n"
     "MACs remain, and saves the masked network (for `rlkd finetune`).\n"
     "uniform keeps the same fraction of every layer by --criterion, at\n"
     "once; sfp (soft filter pruning) and slimming (BN-scale L1 penalty)\n"
     "are training-time methods: they train for --epochs, then mask.\n\n"
     "  rlkd prune --init student.safetensors --method uniform --flops 0.4 \\\n"
     "      --save pruned.safetensors\n"},
    {"search", CMD_SEARCH, command_search,
     "find a per-layer pruning policy by reinforcement learning (AMC, rlkd)",
     "--init FILE [--method rlkd|amc] [--teacher FILE] [flags]",
     "A DDPG agent chooses the channels each layer keeps so that at most\n"
     "--flops of the MACs remain, scored on --validation images held out of\n"
     "the training set. amc: AMC's reward (top-1). rlkd: the reward after\n"
     "BN recalibration, crediting agreement with --teacher, with reward\n"
     "scaling. The best policy's masks are saved with --save; --search-state\n"
     "makes the search resumable (run the same command again). Started by\n"
     "scripts/launch.sh, the ranks score each policy together, each on its\n"
     "share of the validation batches (docs/distributed.md).\n\n"
     "  rlkd search --init student.safetensors --teacher teacher.safetensors \\\n"
     "      --flops 0.4 --episodes 300 --policy policy.json \\\n"
     "      --search-log episodes.jsonl --search-state search.state \\\n"
     "      --save searched.safetensors\n"},
    {"finetune", CMD_FINETUNE, command_train,
     "train a masked network, keeping its masks",
     "--init FILE [--teacher FILE] [flags]",
     "Trains the masked network of --init (from prune or search) with its\n"
     "removed channels held at zero, distilled from --teacher if given.\n\n"
     "  rlkd finetune --init pruned.safetensors --teacher teacher.safetensors \\\n"
     "      --epochs 4 --save finetuned.safetensors\n"},
    {"compact", CMD_COMPACT, command_compact,
     "remove masked channels physically: a smaller network",
     "--init FILE --save FILE",
     "Builds the smaller network the masks describe (it computes what the\n"
     "masked network computes) and saves it as an ordinary network file.\n\n"
     "  rlkd compact --init finetuned.safetensors --save small.safetensors\n"},
    {"eval", CMD_EVAL, command_eval,
     "top-1, top-5 and loss on the test split",
     "--init FILE [flags]",
     "Evaluates the --init network on the test split of the data set.\n\n"
     "  rlkd eval --init small.safetensors --json results.jsonl\n"},
    {"flops", CMD_FLOPS, command_flops,
     "parameters and MACs (FLOPs = 2 x MACs) per layer and in total",
     "[--model NAME | --init FILE] [flags]",
     "Prints a table of every layer (its node number, kind, output shape,\n"
     "parameters and MACs per image; a masked network counts what its\n"
     "masks keep) and the totals. Zoo networks:\n"
     "vgg11_bn..vgg19_bn, resnet18..resnet101, densenet121..densenet201\n"
     "(ImageNet), vgg11_cifar..vgg19_cifar, resnet20..resnet110,\n"
     "densenet_bc (CIFAR), vgg_small, resnet_small, densenet_small (28x28).\n\n"
     "  rlkd flops --model vgg16_cifar --input 3,32,32 --classes 100\n"},
    {"export", CMD_EXPORT, command_export,
     "write ONNX and/or TorchScript (through the Python package)",
     "--init FILE [--onnx FILE] [--torchscript FILE]",
     "Runs `PYTHON -m rlkd.export FILE --onnx OUT --torchscript OUT`, which\n"
     "needs PyTorch (and onnx for its check). PYTHON is $RLKD_PYTHON, else\n"
     "/usr/bin/python3 if it exists, else python3. From a source tree the\n"
     "tree's bindings/python is put first on PYTHONPATH; an installed rlkd\n"
     "needs the package installed (`make python`).\n\n"
     "  rlkd export --init small.safetensors --onnx small.onnx \\\n"
     "      --torchscript small.pt\n"},
    {"compress", CMD_COMPRESS, command_compress,
     "the whole pipeline: (distil,) prune, fine-tune, compact, evaluate",
     "[--init FILE | --model NAME] [--method rlkd|amc|uniform|sfp] [flags]",
     "Runs rlkd_compress: optionally distils the student from --teacher\n"
     "(--distill-epochs), prunes it to --flops of its MACs by --method (the\n"
     "RL searches as `rlkd search`), fine-tunes it with the masks\n"
     "(--finetune-epochs; with distillation except for amc), compacts and\n"
     "evaluates it, and prints the student against the result as a\n"
     "Markdown table. Started by scripts/launch.sh, the trainings are\n"
     "data-parallel and the search parallel over the ranks.\n\n"
     "  rlkd compress --init student.safetensors --teacher teacher.safetensors \\\n"
     "      --method rlkd --flops 0.4 --episodes 300 --finetune-epochs 4 \\\n"
     "      --save small.safetensors --json results.jsonl\n"},
    {"bench", CMD_BENCH, command_bench,
     "images per second of inference and of a training step",
     "[--model NAME | --init FILE] [--device DEV] [flags]",
     "Times --iterations batches of random images through the network in\n"
     "inference, then as many SGD training steps, on --device.\n\n"
     "  rlkd bench --model resnet20 --input 3,32,32 --batch 128 --threads 2\n"},
    {"plot", CMD_PLOT, command_plot,
     "SVG charts of results, a search's rewards and a policy",
     "[--results FILE.jsonl] [--search-log FILE.jsonl] [--policy FILE.json]",
     "Writes into --out: accuracy-flops.svg (test top-1 against FLOPs of\n"
     "each --json result line that has both, a marker per run labelled by\n"
     "its method, and the Pareto front), search-reward.svg (the reward of\n"
     "each episode and the best so far) and policy.svg (the fraction of each\n"
     "layer's channels the policy keeps).\n\n"
     "  rlkd plot --results results.jsonl --search-log episodes.jsonl \\\n"
     "      --policy policy.json --out charts\n"},
};

#define COMMAND_COUNT ((int)(sizeof commands / sizeof commands[0]))

static void print_overview(FILE *out)
{
    fprintf(out,
            "rlkd %s: compress CNNs by RL channel pruning and knowledge "
            "distillation\n\n"
            "usage: rlkd COMMAND [--flag value ...]\n"
            "       rlkd COMMAND --help     the command's flags and an "
            "example\n\ncommands:\n",
            rlkd_version_string());
    for (int i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nA typical run: train a teacher and distil a student, then\n"
          "  rlkd search, finetune, compact, eval  (or all of it: rlkd "
          "compress)\n"
          "Exit status: 0 done, 1 runtime error, 2 usage error. "
          "Documentation: docs/cli.md\n",
          out);
}

static void print_help(const command *c)
{
    printf("usage: rlkd %s %s\n\n%s\nflags:\n", c->name, c->usage, c->about);
    flags_print(stdout, c->bit);
}

static const command *find_command(const char *name)
{
    for (int i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* A usage error naming the commands; name NULL: none was given. */
noreturn static void unknown_command(const char *name)
{
    char list[256] = "";
    for (int i = 0; i < COMMAND_COUNT; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                 i ? ", " : "", commands[i].name);
    if (!name)
        usage_error("give a command: %s (see rlkd --help)", list);
    usage_error("unknown command \"%s\"; the commands are %s (see rlkd "
                "--help)", name, list);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        unknown_command(NULL);
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        strcmp(name, "help") == 0) {
        const command *c = argc > 2 ? find_command(argv[2]) : NULL;
        if (argc > 2 && !c)
            unknown_command(argv[2]);
        if (c)
            print_help(c);
        else
            print_overview(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        const unsigned features = rlkd_build_features();
        printf("rlkd %s (features:%s%s%s%s%s%s)\n", rlkd_version_string(),
               features & RLKD_FEATURE_OPENMP ? " openmp" : "",
               features & RLKD_FEATURE_BLAS ? " blas" : "",
               features & RLKD_FEATURE_CUDA ? " cuda" : "",
               features & RLKD_FEATURE_NVJPEG ? " nvjpeg" : "",
               features & RLKD_FEATURE_CUDNN ? " cudnn" : "",
               features & RLKD_FEATURE_NCCL ? " nccl" : "");
        return 0;
    }
    const command *c = find_command(name);
    if (!c)
        unknown_command(name);
    session_begin(c->name);
    if (flags_parse(c->bit, argc, argv, 2)) {
        print_help(c);
        flags_free();
        return 0;
    }
    session_set_quiet(flag_on("quiet"));
    c->run();
    release_all();
    flags_free();
    return 0;
}
