/*
 * Test cases on several processes, as a launcher starts them: the test
 * program is rank 0 and starts itself again for each other rank
 * ("<program> --rank CASE", with RLKD_RANK, RLKD_WORLD_SIZE,
 * RLKD_LOCAL_RANK and RLKD_RENDEZVOUS in the environment, and
 * RLKD_TEST_SHARED naming rank 0's scratch folder). A started rank runs the
 * case as a test case of its own and exits with its verdict; its output
 * goes to a file that rank 0 shows when that rank fails. Under valgrind
 * only rank 0 runs under it (valgrind does not follow the started ranks).
 * Header-only (static inline), shared by tests/test_comm.c and
 * tests/gpu/test_comm_gpu.c.
 */
#ifndef RLKD_RANKS_TEST_H
#define RLKD_RANKS_TEST_H

#include "testlib.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RANKS_MAX 8
#define RANKS_TIMEOUT_MS 60000 /* for ranks that will all come */

typedef struct rank_case {
    const char *name;
    int world;             /* ranks; 0: as run_ranks is told */
    void (*run)(void);     /* every rank, my_rank and my_world set */
    void (*prepare)(void); /* rank 0, before the others start; may be NULL */
} rank_case;

/* This process's part in the running case. */
static const char *ranks_program; /* argv[0]: set it first in main() */
static int my_rank, my_world;
static char rendezvous[TEST_PATH_BYTES];
static char shared_dir[256]; /* files every rank of a case sees */

/* path (TEST_PATH_BYTES) = shared_dir/<printf of fmt> */
static inline void shared_path(char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void shared_path(char *path, const char *fmt, ...)
{
    char name[128];
    va_list args;
    va_start(args, fmt);
    vsnprintf(name, sizeof name, fmt, args);
    va_end(args);
    snprintf(path, TEST_PATH_BYTES, "%s/%s", shared_dir, name);
}

static inline double ranks_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline void ranks_sleep_ms(int ms)
{
    const struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* This rank's communicator on ctx: from the environment in a started
 * rank, from the case in rank 0. NULL (and a failed check) if it cannot
 * be made. */
static inline rlkd_comm *open_comm(rlkd_context *ctx, rlkd_comm_backend backend,
                                   int timeout_ms)
{
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    if (my_rank == 0) {
        o.world_size = my_world;
        o.rendezvous = rendezvous;
    } else {
        CHECK_OK(rlkd_comm_options_from_env(&o));
        CHECK(o.rank == my_rank && o.world_size == my_world);
    }
    o.backend = backend;
    o.timeout_ms = timeout_ms;
    rlkd_comm *comm = NULL;
    CHECK_OK(rlkd_comm_create(ctx, &o, &comm));
    return comm;
}

/* Every float parameter and buffer, one after the other (free() it). */
static inline float *ranks_net_values(const rlkd_net *net, size_t *count)
{
    int params, buffers;
    test_must(rlkd_net_param_count(net, &params), "params");
    test_must(rlkd_net_buffer_count(net, &buffers), "buffers");
    float *all = NULL;
    size_t n = 0;
    for (int i = 0; i < params + buffers; i++) {
        rlkd_tensor *t;
        if (i < params)
            test_must(rlkd_net_param(net, i, NULL, &t, NULL), "param");
        else
            test_must(rlkd_net_buffer(net, i - params, NULL, &t), "buffer");
        if (rlkd_tensor_dtype(t) != RLKD_DTYPE_F32)
            continue;
        const size_t k = (size_t)rlkd_tensor_numel(t);
        float *grown = realloc(all, (n + k) * sizeof *all);
        if (!grown)
            test_fatal("realloc");
        all = grown;
        test_must(rlkd_tensor_read(t, all + n, k), "read");
        n += k;
    }
    *count = n;
    return all;
}

/* Whether every rank holds rank 0's values, bit for bit. */
static inline int ranks_same_on_every_rank(rlkd_comm *comm,
                                           rlkd_context *ctx,
                                           const float *values, size_t n,
                                           const char *what)
{
    rlkd_tensor *t;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 1,
                                 (int64_t[]){(int64_t)n}, &t),
              "tensor");
    test_must(rlkd_tensor_write(t, values, n), "write");
    CHECK_OK(rlkd_comm_broadcast(comm, t, 0));
    float *root = t_get(t);
    const int same = memcmp(root, values, n * sizeof *values) == 0;
    free(root);
    rlkd_tensor_destroy(t);
    return CHECK_MSG(same, "rank %d's %s differ from rank 0's", my_rank,
                     what);
}

static inline void ranks_print_file(const char *path, int rank)
{
    FILE *f = fopen(path, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        printf("    rank %d: %s", rank, line);
    if (f)
        fclose(f);
}

/* The environment of a started rank: this one's without RLKD_* (but
 * RLKD_TEST_*), then its own in entries[]. */
static inline char **ranks_environment(int rank,
                                       char entries[5][TEST_PATH_BYTES + 32])
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + 6, sizeof *env);
    if (!env)
        test_fatal("calloc");
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "RLKD_", 5) != 0 ||
            strncmp(environ[i], "RLKD_TEST_", 10) == 0)
            env[n++] = environ[i];
    snprintf(entries[0], sizeof entries[0], "RLKD_RANK=%d", rank);
    snprintf(entries[1], sizeof entries[1], "RLKD_WORLD_SIZE=%d", my_world);
    snprintf(entries[2], sizeof entries[2], "RLKD_RENDEZVOUS=%s", rendezvous);
    snprintf(entries[3], sizeof entries[3], "RLKD_TEST_SHARED=%s", shared_dir);
    snprintf(entries[4], sizeof entries[4], "RLKD_LOCAL_RANK=%d", rank);
    for (int i = 0; i < 5; i++)
        env[n++] = entries[i];
    env[n] = NULL;
    return env;
}

/* Rank 0 of case c on `world` ranks (c->world when 0): starts ranks 1..,
 * runs its own part, then waits for the others, each of which must exit 0.
 * meeting: the rendezvous (NULL: a file in the scratch folder). */
static inline void run_ranks(const rank_case *c, int world,
                             const char *meeting)
{
    my_rank = 0;
    my_world = world ? world : c->world;
    if (my_world > RANKS_MAX)
        test_fatal("run_ranks: too many ranks");
    snprintf(shared_dir, sizeof shared_dir, "%s", test_temp_dir());
    if (meeting)
        snprintf(rendezvous, sizeof rendezvous, "%s", meeting);
    else
        shared_path(rendezvous, "%s.rendezvous", c->name);
    if (c->prepare)
        c->prepare();
    pid_t pids[RANKS_MAX] = {0};
    char logs[RANKS_MAX][TEST_PATH_BYTES];
    for (int r = 1; r < my_world; r++) {
        char entries[5][TEST_PATH_BYTES + 32];
        char **env = ranks_environment(r, entries);
        shared_path(logs[r], "%s.rank%d.log", c->name, r);
        posix_spawn_file_actions_t files;
        posix_spawn_file_actions_init(&files);
        posix_spawn_file_actions_addopen(&files, 1, logs[r],
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&files, 1, 2);
        char *argv[] = {(char *)ranks_program, "--rank", (char *)c->name,
                        NULL};
        const int error = posix_spawn(&pids[r], ranks_program, &files, NULL,
                                      argv, env);
        posix_spawn_file_actions_destroy(&files);
        free(env);
        if (error != 0) {
            CHECK_MSG(0, "cannot start rank %d: %s", r, strerror(error));
            pids[r] = 0;
        }
    }
    c->run();
    /* The others end soon after rank 0 (every case ends in a collective
     * or a failure they see); a rank that hangs is killed. */
    const double deadline = ranks_now() + RANKS_TIMEOUT_MS / 1000.0;
    for (int r = 1; r < my_world; r++) {
        if (!pids[r])
            continue;
        int status = 0;
        pid_t done;
        while ((done = waitpid(pids[r], &status, WNOHANG)) == 0 &&
               ranks_now() < deadline)
            ranks_sleep_ms(10);
        if (done == 0) {
            kill(pids[r], SIGKILL);
            waitpid(pids[r], &status, 0);
            CHECK_MSG(0, "rank %d did not end; killed", r);
        } else if (!CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "rank %d failed (status %d); its output:", r,
                              status)) {
            ranks_print_file(logs[r], r);
        }
    }
}

/* A started rank ("--rank CASE"): case c, its verdict as the exit
 * status. */
static inline int run_as_rank(const rank_case *c)
{
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    if (rlkd_comm_options_from_env(&o) != RLKD_OK ||
        !getenv("RLKD_TEST_SHARED")) {
        fprintf(stderr, "%s --rank: %s\n", ranks_program, rlkd_last_error());
        return 2;
    }
    my_rank = o.rank;
    my_world = o.world_size;
    snprintf(rendezvous, sizeof rendezvous, "%s", o.rendezvous);
    snprintf(shared_dir, sizeof shared_dir, "%s", getenv("RLKD_TEST_SHARED"));
    test_main_begin();
    test_run(c->name, c->run);
    test_main_end();
    return test_finish();
}

#endif
