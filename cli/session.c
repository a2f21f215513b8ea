/*
 * The session of one subcommand: its name for messages, its clock, the
 * objects it owns (freed newest first at the end or when it fails), its
 * context, and its networks.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *command_name = "";
static struct timespec started;
static int quiet;

void session_begin(const char *command)
{
    command_name = command;
    clock_gettime(CLOCK_MONOTONIC, &started);
}

const char *session_command(void)
{
    return command_name;
}

double session_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started.tv_sec) +
           1e-9 * (double)(now.tv_nsec - started.tv_nsec);
}

void session_set_quiet(int on)
{
    quiet = on;
}

int session_quiet(void)
{
    return quiet;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

noreturn static void leave(int code, const char *format, va_list args,
                           const char *detail)
{
    progress_end();
    fprintf(stderr, "rlkd%s%s: ", *command_name ? " " : "", command_name);
    vfprintf(stderr, format, args);
    if (detail)
        fprintf(stderr, ": %s", detail);
    fputc('\n', stderr);
    release_all();
    flags_free();
    exit(code);
}

void usage_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    leave(2, format, args, NULL);
}

void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    leave(1, format, args, NULL);
}

void check(rlkd_status status, const char *format, ...)
{
    if (status == RLKD_OK)
        return;
    /* The library's message is thread-local and outlives the cleanup only
     * as long as nothing else fails: copy it. */
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", rlkd_last_error());
    if (!*detail)
        snprintf(detail, sizeof detail, "%s", rlkd_status_string(status));
    va_list args;
    va_start(args, format);
    leave(1, format, args, detail);
}

void note(const char *format, ...)
{
    if (session_quiet())
        return;
    progress_end();
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------------ */
/* Owned objects                                                             */
/* ------------------------------------------------------------------------ */

typedef struct owned {
    owned_kind kind;
    void *object;
} owned;

static owned *owned_list;
static int owned_count, owned_capacity;

static void destroy(const owned *o)
{
    switch (o->kind) {
    case OWN_CONTEXT: rlkd_context_destroy(o->object); break;
    case OWN_DATASET: rlkd_dataset_destroy(o->object); break;
    case OWN_LOADER: rlkd_loader_destroy(o->object); break;
    case OWN_NET: rlkd_net_destroy(o->object); break;
    case OWN_TRAINER: rlkd_trainer_destroy(o->object); break;
    case OWN_SEARCH: rlkd_search_destroy(o->object); break;
    case OWN_TENSOR: rlkd_tensor_destroy(o->object); break;
    case OWN_JSON: cJSON_Delete(o->object); break;
    case OWN_MEMORY: free(o->object); break;
    case OWN_COMM: rlkd_comm_destroy(o->object); break;
    }
}

void *own(owned_kind kind, void *object)
{
    if (owned_count == owned_capacity) {
        const int capacity = owned_capacity ? 2 * owned_capacity : 32;
        owned *bigger = realloc(owned_list, (size_t)capacity * sizeof *bigger);
        if (!bigger) {
            destroy(&(owned){kind, object});
            fail("out of memory");
        }
        owned_list = bigger;
        owned_capacity = capacity;
    }
    owned_list[owned_count++] = (owned){kind, object};
    return object;
}

void release(void *object)
{
    for (int i = owned_count - 1; i >= 0; i--) {
        if (owned_list[i].object != object)
            continue;
        const owned o = owned_list[i];
        memmove(&owned_list[i], &owned_list[i + 1],
                (size_t)(owned_count - i - 1) * sizeof *owned_list);
        owned_count--;
        destroy(&o);
        return;
    }
}

void release_all(void)
{
    while (owned_count > 0)
        destroy(&owned_list[--owned_count]);
    free(owned_list);
    owned_list = NULL;
    owned_capacity = 0;
}

char *read_text_file(const char *path, const char *flag)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        fail("--%s %s: cannot open: %s", flag, path, strerror(errno));
    char *text = NULL;
    size_t size = 0, capacity = 0;
    int error = 0;
    for (;;) {
        if (size + 4096 + 1 > capacity) {
            capacity = 2 * capacity + 4096 + 1;
            char *bigger = realloc(text, capacity);
            if (!bigger) {
                error = ENOMEM;
                break;
            }
            text = bigger;
        }
        const size_t got = fread(text + size, 1, 4096, file);
        size += got;
        if (got < 4096) {
            error = ferror(file) ? EIO : 0;
            break;
        }
    }
    fclose(file);
    if (error) {
        free(text);
        fail("--%s %s: cannot read it: %s", flag, path, strerror(error));
    }
    text[size] = '\0';
    return own(OWN_MEMORY, text);
}

/* ------------------------------------------------------------------------ */
/* The context                                                               */
/* ------------------------------------------------------------------------ */

int parse_device(const char *text, rlkd_device *kind, int *index)
{
    if (strcmp(text, "cpu") == 0) {
        *kind = RLKD_DEVICE_CPU;
        *index = 0;
        return 0;
    }
    if (strncmp(text, "cuda", 4) != 0)
        return -1;
    *kind = RLKD_DEVICE_CUDA;
    *index = 0;
    if (text[4] == '\0')
        return 0;
    char *end;
    const long n = text[4] == ':' ? strtol(text + 5, &end, 10) : -1;
    if (n < 0 || n > 1024 || end == text + 5 || *end)
        return -1;
    *index = (int)n;
    return 0;
}

static rlkd_context *context;

rlkd_context *session_context(void)
{
    if (context)
        return context;
    rlkd_device kind;
    int index;
    parse_device(flag_text("device"), &kind, &index);
    /* One process per GPU: a launched rank takes its local rank's. */
    const char *local_rank = getenv("RLKD_LOCAL_RANK");
    if (kind == RLKD_DEVICE_CUDA && strcmp(flag_text("device"), "cuda") == 0 &&
        local_rank)
        index = atoi(local_rank);
    rlkd_context *ctx;
    check(rlkd_context_create(&ctx, kind, index), "--device %s",
          flag_text("device"));
    context = own(OWN_CONTEXT, ctx);
    check(rlkd_context_set_seed(ctx, (uint64_t)flag_int("seed")), "--seed");
    if (flag_int("threads") > 0)
        check(rlkd_context_set_num_threads(ctx, (int)flag_int("threads")),
              "--threads");
    return ctx;
}

static rlkd_comm *comm;

rlkd_comm *session_comm(void)
{
    if (comm || !getenv("RLKD_WORLD_SIZE"))
        return comm;
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    check(rlkd_comm_options_from_env(&o), "data-parallel run");
    rlkd_comm *made;
    check(rlkd_comm_create(session_context(), &o, &made),
          "joining rank %d of %d at %s", o.rank, o.world_size, o.rendezvous);
    comm = own(OWN_COMM, made);
    if (o.rank != 0)
        session_set_quiet(1);
    return comm;
}

int session_rank(void)
{
    return session_comm() ? rlkd_comm_rank(comm) : 0;
}

rlkd_parallel_options session_parallel_options(void)
{
    const char *sync = getenv("RLKD_SYNC_BATCHNORM");
    rlkd_parallel_options parallel;
    rlkd_parallel_options_init(&parallel);
    parallel.sync_batchnorm = sync && strcmp(sync, "0") != 0;
    note("data-parallel over %d ranks, %s batch norm",
         rlkd_comm_world_size(session_comm()),
         parallel.sync_batchnorm ? "synchronised" : "local");
    return parallel;
}

/* ------------------------------------------------------------------------ */
/* Networks                                                                  */
/* ------------------------------------------------------------------------ */

rlkd_net *net_load(const char *path, const char *flag)
{
    rlkd_net *net;
    check(rlkd_net_load(session_context(), path, &net), "--%s", flag);
    return own(OWN_NET, net);
}

rlkd_net *net_from_flags(int channels, int height, int width, int classes)
{
    if (flag_text("init") || !flag_known("model")) {
        if (flag_known("model") && flag_given("model"))
            usage_error("--init and --model both name the network: give one "
                        "(see rlkd %s --help)", session_command());
        return net_load(flag_text("init"), "init");
    }
    rlkd_zoo_options zoo;
    rlkd_zoo_options_init(&zoo);
    zoo.num_classes = classes;
    zoo.in_channels = channels;
    zoo.in_height = height;
    zoo.in_width = width;
    zoo.attention = (rlkd_attention)flag_choice("attention");
    zoo.width_multiplier = (float)flag_real("width");
    zoo.densenet_depth = (int)flag_int("depth");
    zoo.densenet_growth = (int)flag_int("growth");
    rlkd_net *net;
    check(rlkd_zoo_create(session_context(), flag_text("model"), &zoo, &net),
          "--model %s", flag_text("model"));
    return own(OWN_NET, net);
}

const char *net_label(void)
{
    const char *init = flag_text("init");
    if (init) {
        const char *slash = strrchr(init, '/');
        return slash ? slash + 1 : init;
    }
    return flag_text("model");
}

rlkd_prune_criterion criterion_from_flags(void)
{
    /* The choices of --criterion are l1, l2, fpgm: rlkd_prune_criterion's
     * first three values. */
    return (rlkd_prune_criterion)flag_choice("criterion");
}
