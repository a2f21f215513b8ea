/*
 * The rlkd command: what its files share. main.c dispatches to one
 * function per subcommand (train.c, prune.c, search.c, measure.c,
 * export.c, charts.c); flags.c parses the flags every subcommand declares in
 * one table; session.c owns the context, the networks and the errors;
 * data.c loads the data sets; report.c draws progress and writes results.
 *
 * Errors never return: usage_error() exits 2 (a flag or value the command
 * cannot take), fail() and check() exit 1 (anything that went wrong while
 * running), each after one line "rlkd <command>: <what>" on stderr and
 * after freeing everything the session owns.
 */
#ifndef RLKD_CLI_H
#define RLKD_CLI_H

#include <rlkd.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>

/* ------------------------------------------------------------------------ */
/* Subcommands                                                               */
/* ------------------------------------------------------------------------ */

/* One bit per subcommand: a flag lists the subcommands that take it. */
enum {
    CMD_TRAIN = 1u << 0,
    CMD_DISTILL = 1u << 1,
    CMD_PRUNE = 1u << 2,
    CMD_SEARCH = 1u << 3,
    CMD_FINETUNE = 1u << 4,
    CMD_COMPACT = 1u << 5,
    CMD_EVAL = 1u << 6,
    CMD_FLOPS = 1u << 7,
    CMD_EXPORT = 1u << 8,
    CMD_COMPRESS = 1u << 9,
    CMD_BENCH = 1u << 10,
    CMD_PLOT = 1u << 11,
    CMD_ALL = (1u << 12) - 1
};

void command_train(void);    /* train, distill and finetune */
void command_prune(void);
void command_compact(void);
void command_search(void);
void command_compress(void);
void command_eval(void);
void command_flops(void);
void command_bench(void);
void command_export(void);
void command_plot(void);

/* ------------------------------------------------------------------------ */
/* Flags (flags.c)                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Parses argv[first..argc-1] for the subcommand `command` (a CMD_ bit):
 * --config FILE first, then the command line over it. Exits 2 on an
 * unknown flag, a bad value or a missing required flag. Returns 1 when
 * --help was given (nothing else is checked then), else 0.
 */
int flags_parse(unsigned command, int argc, char **argv, int first);
/* Prints the flags of `command`, one per line with its default. */
void flags_print(FILE *out, unsigned command);
/* Frees what flags_parse kept (the config file's strings). */
void flags_free(void);

/* Whether the running subcommand has a flag of this name. */
int flag_known(const char *name);
/* Accessors by long name; every name must be a flag of the running
 * subcommand (anything else is a bug, reported as such). */
int flag_given(const char *name);          /* on the command line or in --config */
const char *flag_text(const char *name);   /* NULL when unset */
long long flag_int(const char *name);
double flag_real(const char *name);
int flag_on(const char *name);             /* a switch */
int flag_choice(const char *name);         /* the index among its choices */
/* A comma-separated list of numbers into values[capacity]; the count. */
int flag_numbers(const char *name, double *values, int capacity);
/* "S:T,S:T" pairs of whole numbers into pairs[capacity][2]; the count. */
int flag_pairs(const char *name, int (*pairs)[2], int capacity);

/* ------------------------------------------------------------------------ */
/* The session: errors, owned objects, the context, networks (session.c)     */
/* ------------------------------------------------------------------------ */

void session_begin(const char *command);
const char *session_command(void);
/* Seconds since session_begin. */
double session_seconds(void);
/* --quiet: no progress and no notes (set once the flags are parsed). */
void session_set_quiet(int on);
int session_quiet(void);

noreturn void usage_error(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
noreturn void fail(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
/* When status is not RLKD_OK: fail with "<what>: <rlkd_last_error()>". */
void check(rlkd_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* An informational line on stderr, unless --quiet. */
void note(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* What the session owns, freed in reverse order at the end or on error. */
typedef enum owned_kind {
    OWN_CONTEXT,
    OWN_DATASET,
    OWN_LOADER,
    OWN_NET,
    OWN_TRAINER,
    OWN_SEARCH,
    OWN_TENSOR,
    OWN_JSON,
    OWN_MEMORY,
    OWN_COMM
} owned_kind;

/* Takes `object` (not NULL) into the session; returns it. */
void *own(owned_kind kind, void *object);
/* Frees an owned object now. */
void release(void *object);
/* Frees everything owned, newest first. */
void release_all(void);

/* The whole of a text file, NUL-terminated (owned); `flag` names where the
 * path came from. */
char *read_text_file(const char *path, const char *flag);

/* The context of --device, --seed and --threads, made on first use
 * (--device cuda without an index: the launcher's RLKD_LOCAL_RANK). */
rlkd_context *session_context(void);
/* Data-parallel runs (scripts/launch.sh sets RLKD_WORLD_SIZE and the
 * rest): the communicator of the launcher's environment, made on first
 * use, or NULL when no launcher started this process. Ranks other than 0
 * are quiet. */
rlkd_comm *session_comm(void);
/* This process's rank (0 without a launcher): only rank 0 writes files
 * and results. */
int session_rank(void);
/* The data-parallel trainings' options: synchronised batch norm when the
 * launcher's environment has RLKD_SYNC_BATCHNORM=1. Notes the choice. */
rlkd_parallel_options session_parallel_options(void);
/* Parses "cpu", "cuda" or "cuda:N"; 0 or -1. */
int parse_device(const char *text, rlkd_device *kind, int *index);

/* Loads a network file (owned); `flag` names where the path came from. */
rlkd_net *net_load(const char *path, const char *flag);
/* --init when given, else a fresh --model for inputs [channels, height,
 * width] and `classes` classes (owned). */
rlkd_net *net_from_flags(int channels, int height, int width, int classes);
/* What a report calls the network: --init's file or --model's name. */
const char *net_label(void);
/* The rlkd_prune_criterion of --criterion. */
rlkd_prune_criterion criterion_from_flags(void);

/* ------------------------------------------------------------------------ */
/* Data (data.c)                                                             */
/* ------------------------------------------------------------------------ */

/* The splits a command asks for. */
enum { DATA_TEST = 1u << 0, DATA_TRAIN = 1u << 1 };

typedef struct data {
    const char *name;          /* "idx", "cifar10", "cifar100" or "folder" */
    /* Loaders (owned); NULL for a part not asked for, and validation also
     * when --validation is 0. Training batches are shuffled and augmented. */
    rlkd_loader *train, *validation, *test;
    int64_t train_count, validation_count, test_count;
    int channels, height, width, classes;
} data;

/* Loads the data set of --data / --cifar10 / --cifar100 / --folder with its
 * splits. */
void data_open(data *d, unsigned parts);
/* Fails unless the network reads the data's images and has a class score
 * for each of its classes. */
void data_check_net(const data *d, rlkd_net *net, const char *what);

/* ------------------------------------------------------------------------ */
/* Progress and results (report.c)                                           */
/* ------------------------------------------------------------------------ */

/* Progress callbacks: a bar with an ETA on stderr (redrawn in place on a
 * terminal, a line every few percent otherwise), silent with --quiet. */
void progress_training(const rlkd_progress *p, void *label);
void progress_episode(const rlkd_search_episode *e, void *label);
void progress_stage(rlkd_compress_stage stage, int starting, void *user);
/* Ends a bar left open on a terminal. */
void progress_end(void);
/* Before each training or search run: its bar starts over. */
void progress_reset(void);

/* A command's result: a line on stdout, and with --json / --markdown a
 * JSON line / table row appended to those files. */
typedef struct result {
    const char *method;      /* "train", "uniform", "rlkd", ... */
    const char *network;     /* what the network is (net_label) */
    double top1, top5, loss; /* on the test split; NAN: not measured */
    int64_t params, macs;    /* -1: unknown */
    cJSON *extra;            /* further fields of the JSON line (owned) */
} result;

void result_init(result *r, const char *method, const char *network);
/* Sets params and macs from a network. */
void result_costs(result *r, const rlkd_net *net);
/* Evaluates a network on the test loader into top1, top5 and loss. */
void result_evaluate(result *r, rlkd_net *net, rlkd_loader *test);
/* Further fields of the JSON line (NaN numbers become null). */
void result_number(result *r, const char *key, double value);
void result_text(result *r, const char *key, const char *text);
/* Prints and writes the result, then frees r->extra. */
void result_finish(result *r);

/* ------------------------------------------------------------------------ */
/* Training options shared by train, distill, finetune, prune and compress   */
/* (train.c)                                                                 */
/* ------------------------------------------------------------------------ */

/* Optimiser, schedule, KD and progress settings from the flags, for
 * `epochs` epochs from learning rate `lr`. */
void trainer_options_from_flags(rlkd_trainer_options *o, int epochs,
                                float lr);
/* Trains (resuming from --checkpoint when that file exists). */
void run_trainer(rlkd_net *student, rlkd_net *teacher,
                 const rlkd_trainer_options *o, const data *d);
/* Writes the network to --save, when given. */
void save_net(const rlkd_net *net);

#endif
