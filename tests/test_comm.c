/*
 * Communicators (rlkd_comm_*) and what runs over them: the collectives'
 * results, bit for bit and in rank order; their failures (a rank that
 * calls something else, one that does not come, one that dies, a
 * rendezvous nobody answers, an earlier run's rendezvous file); the
 * rendezvous by file and by address; sums started to run while the caller
 * computes (internal: the test links the static library), in order with
 * the other collectives, and their failures; data-parallel training equal
 * to one process on the whole batch (without batch norm, with
 * synchronised batch norm, with distillation, shards of unequal size;
 * dropout in every network, each rank drawing one process's masks for its
 * rows, from rank 0's random stream) and the same on every rank with local
 * batch norm; checkpoints from rank 0 only; a parallel search whose best
 * policy is the serial one's; rlkd_compress over two ranks equal to one
 * process.
 *
 * A case of several ranks runs as several processes, as a launcher starts
 * them (ranks_test.h). Under valgrind only rank 0 runs under it.
 */
#include "ranks_test.h"
#include "../lib/comm/comm_internal.h"
#include "../lib/nets/net_internal.h"

#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TIMEOUT_MS RANKS_TIMEOUT_MS

#define SIDE 6
#define CLASSES 3
#define IMAGES 30
#define RUN_SEED 21 /* the stream training draws from (dropout) */

/* A CPU context on one thread (the ranks share the cores). */
static rlkd_context *rank_context(uint64_t seed)
{
    rlkd_context *ctx;
    test_must(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0), "context");
    test_must(rlkd_context_set_num_threads(ctx, 1), "threads");
    test_must(rlkd_context_set_seed(ctx, seed), "seed");
    return ctx;
}

static rlkd_comm *cpu_comm(rlkd_context *ctx, int timeout_ms)
{
    return open_comm(ctx, RLKD_COMM_AUTO, timeout_ms);
}

/* A port nothing listens on (the system's pick, let go at once). */
static int free_port(void)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t length = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &length) != 0)
        test_fatal("free_port");
    close(fd);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------------ */
/* Options and one rank                                                      */
/* ------------------------------------------------------------------------ */

static void clear_env(void)
{
    static const char *const names[] = {
        "RLKD_RANK", "RLKD_WORLD_SIZE", "RLKD_LOCAL_RANK", "RLKD_RENDEZVOUS",
        "RLKD_COMM_BACKEND", "RLKD_COMM_TIMEOUT_MS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

static void options_from_env(void)
{
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    CHECK(o.world_size == 1 && o.rank == 0 && o.timeout_ms == 600000 &&
          o.backend == RLKD_COMM_AUTO && !o.rendezvous);
    clear_env();
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "RLKD_WORLD_SIZE is not set");
    setenv("RLKD_WORLD_SIZE", "2", 1);
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "RLKD_RANK is not set");
    setenv("RLKD_RANK", "two", 1);
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "RLKD_RANK is \"two\"");
    setenv("RLKD_RANK", "2", 1);
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "ranks are 0..1");
    setenv("RLKD_RANK", "1", 1);
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "RLKD_RENDEZVOUS is not set");
    setenv("RLKD_RENDEZVOUS", "/tmp/somewhere", 1);
    setenv("RLKD_COMM_BACKEND", "mpi", 1);
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "RLKD_COMM_BACKEND");
    setenv("RLKD_COMM_BACKEND", "cpu", 1);
    setenv("RLKD_COMM_TIMEOUT_MS", "0", 1);
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "RLKD_COMM_TIMEOUT_MS");
    /* Failures changed nothing. */
    CHECK(o.world_size == 1 && o.rank == 0 && !o.rendezvous);
    setenv("RLKD_COMM_TIMEOUT_MS", "1234", 1);
    CHECK_OK(rlkd_comm_options_from_env(&o));
    CHECK(o.rank == 1 && o.world_size == 2 && o.local_rank == 1 &&
          o.backend == RLKD_COMM_CPU && o.timeout_ms == 1234 &&
          o.rendezvous && strcmp(o.rendezvous, "/tmp/somewhere") == 0);
    setenv("RLKD_LOCAL_RANK", "0", 1);
    CHECK_OK(rlkd_comm_options_from_env(&o));
    CHECK(o.local_rank == 0);
    o.struct_size = 4;
    CHECK_FAILS(rlkd_comm_options_from_env(&o), RLKD_ERR_INVALID_ARGUMENT,
                "struct_size");
    CHECK_FAILS(rlkd_comm_options_from_env(NULL), RLKD_ERR_INVALID_ARGUMENT,
                "NULL");
    clear_env();
}

static void single_rank(void)
{
    rlkd_context *ctx = rank_context(1), *other = rank_context(1);
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    rlkd_comm *comm = NULL;
    CHECK_FAILS(rlkd_comm_create(ctx, NULL, &comm), RLKD_ERR_INVALID_ARGUMENT,
                "options");
    o.world_size = 2;
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_INVALID_ARGUMENT,
                "rendezvous");
    o.rank = 2;
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_INVALID_ARGUMENT,
                "rank 2 of world size 2");
    o.rank = 0;
    o.rendezvous = "localhost:99999";
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_INVALID_ARGUMENT,
                "HOST:PORT");
    rlkd_comm_options_init(&o);
    o.timeout_ms = 0;
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_INVALID_ARGUMENT,
                "timeout_ms");
    o.timeout_ms = 1000;
    o.backend = RLKD_COMM_NCCL;
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_UNSUPPORTED,
                "CUDA context");
    CHECK(comm == NULL);

    /* One rank needs no rendezvous; its collectives are the identity. */
    o.backend = RLKD_COMM_AUTO;
    CHECK_OK(rlkd_comm_create(ctx, &o, &comm));
    CHECK(rlkd_comm_rank(comm) == 0 && rlkd_comm_world_size(comm) == 1 &&
          rlkd_comm_backend_of(comm) == RLKD_COMM_CPU);
    CHECK(rlkd_comm_rank(NULL) == -1 && rlkd_comm_world_size(NULL) == -1 &&
          rlkd_comm_backend_of(NULL) == RLKD_COMM_AUTO);
    const float values[3] = {1.5f, -2.0f, 3.25f};
    rlkd_tensor *t;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 1, (int64_t[]){3}, &t),
              "tensor");
    test_must(rlkd_tensor_write(t, values, 3), "write");
    CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_MEAN));
    CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM));
    CHECK_OK(rlkd_comm_broadcast(comm, t, 0));
    CHECK_OK(rlkd_comm_barrier(comm));
    float got[3];
    test_must(rlkd_tensor_read(t, got, 3), "read");
    CHECK(memcmp(got, values, sizeof got) == 0);
    CHECK_FAILS(rlkd_comm_broadcast(comm, t, 1), RLKD_ERR_INVALID_ARGUMENT,
                "root 1");
    CHECK_FAILS(rlkd_comm_all_reduce(comm, t, (rlkd_reduce_op)7),
                RLKD_ERR_INVALID_ARGUMENT, "rlkd_reduce_op");
    CHECK_FAILS(rlkd_comm_all_reduce(comm, NULL, RLKD_REDUCE_SUM),
                RLKD_ERR_INVALID_ARGUMENT, "tensor");
    CHECK_FAILS(rlkd_comm_all_reduce(NULL, t, RLKD_REDUCE_SUM),
                RLKD_ERR_INVALID_ARGUMENT, "comm");
    CHECK_FAILS(rlkd_comm_barrier(NULL), RLKD_ERR_INVALID_ARGUMENT, "comm");
    rlkd_tensor *labels, *elsewhere;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, (int64_t[]){2},
                                 &labels),
              "labels");
    test_must(rlkd_tensor_create(other, RLKD_DTYPE_F32, 1, (int64_t[]){2},
                                 &elsewhere),
              "elsewhere");
    CHECK_OK(rlkd_comm_all_reduce(comm, labels, RLKD_REDUCE_SUM));
    CHECK_FAILS(rlkd_comm_all_reduce(comm, labels, RLKD_REDUCE_MEAN),
                RLKD_ERR_INVALID_ARGUMENT, "I32");
    CHECK_FAILS(rlkd_comm_all_reduce(comm, elsewhere, RLKD_REDUCE_SUM),
                RLKD_ERR_DEVICE_MISMATCH, "context");
    rlkd_tensor_destroy(t);
    rlkd_tensor_destroy(labels);
    rlkd_tensor_destroy(elsewhere);
    rlkd_comm_destroy(comm);
    rlkd_comm_destroy(NULL);
    rlkd_context_destroy(ctx);
    rlkd_context_destroy(other);
}

/* Nobody answers: rank 0 waiting for the others, a rank waiting for rank 0. */
static void rendezvous_timeouts(void)
{
    rlkd_context *ctx = rank_context(1);
    char path[TEST_PATH_BYTES];
    test_temp_path(path, "lonely.rendezvous");
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    o.world_size = 3;
    o.rendezvous = path;
    o.timeout_ms = 300;
    rlkd_comm *comm = NULL;
    double start = ranks_now();
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_IO,
                "1 of 3 arrived (missing: 1, 2)");
    CHECK(ranks_now() - start < 5.0);
    CHECK_MSG(access(path, F_OK) != 0, "rank 0 left its rendezvous file");
    o.rank = 1;
    start = ranks_now();
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_IO,
                "looking for rank 0");
    CHECK(ranks_now() - start < 5.0);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", free_port());
    o.rendezvous = address;
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_IO,
                "cannot connect");
    CHECK(comm == NULL);
    rlkd_context_destroy(ctx);
}

/* ------------------------------------------------------------------------ */
/* Collectives over processes                                                */
/* ------------------------------------------------------------------------ */

/* Rank r's i-th value: magnitudes from 1e-2 to 1e2, so that the order of
 * a sum shows in its bits. */
static float value_of(int rank, size_t i)
{
    const long mixed = (long)((i * 7919u + (size_t)rank * 104729u) % 2001u);
    return (float)(mixed - 1000) * powf(10.0f, (float)((i + rank) % 5) - 3.0f);
}

static rlkd_tensor *filled(rlkd_context *ctx, size_t n, int rank)
{
    float *values = malloc(n * sizeof *values);
    rlkd_tensor *t;
    if (!values)
        test_fatal("malloc");
    for (size_t i = 0; i < n; i++)
        values[i] = value_of(rank, i);
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 1,
                                 (int64_t[]){(int64_t)n}, &t),
              "tensor");
    test_must(rlkd_tensor_write(t, values, n), "write");
    free(values);
    return t;
}

/* The sum (or mean) over the ranks in rank order, and its bits. */
static int sums_in_rank_order(const rlkd_tensor *t, size_t n, int mean)
{
    float *got = t_get(t);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        float want = value_of(0, i);
        for (int r = 1; r < my_world; r++)
            want += value_of(r, i);
        if (mean)
            want /= (float)my_world;
        wrong += memcmp(&want, &got[i], sizeof want) != 0;
    }
    free(got);
    return CHECK_MSG(wrong == 0, "%zu of %zu sums differ from rank order",
                     wrong, n);
}

static void collectives_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    CHECK(rlkd_comm_rank(comm) == my_rank &&
          rlkd_comm_world_size(comm) == my_world);
    /* Small and large (several of the hub's chunks). */
    const size_t sizes[2] = {37, 600000};
    for (int k = 0; k < 2; k++) {
        rlkd_tensor *t = filled(ctx, sizes[k], my_rank);
        CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM));
        sums_in_rank_order(t, sizes[k], 0);
        rlkd_tensor_destroy(t);
        t = filled(ctx, sizes[k], my_rank);
        CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_MEAN));
        sums_in_rank_order(t, sizes[k], 1);
        rlkd_tensor_destroy(t);
    }
    int32_t counts[4] = {my_rank, 10 * my_rank, -my_rank, 7};
    rlkd_tensor *ints;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, (int64_t[]){4}, &ints),
              "ints");
    test_must(rlkd_tensor_write_i32(ints, counts, 4), "write");
    CHECK_OK(rlkd_comm_all_reduce(comm, ints, RLKD_REDUCE_SUM));
    test_must(rlkd_tensor_read_i32(ints, counts, 4), "read");
    CHECK(counts[0] == 3 && counts[1] == 30 && counts[2] == -3 &&
          counts[3] == 21);
    /* From rank 0 and from another root; I32 too. */
    for (int root = 0; root < my_world; root += my_world - 1) {
        rlkd_tensor *t = filled(ctx, 1000, my_rank);
        CHECK_OK(rlkd_comm_broadcast(comm, t, root));
        rlkd_tensor *want = filled(ctx, 1000, root);
        CHECK_MSG(test_same_values(t, want), "broadcast from %d", root);
        rlkd_tensor_destroy(t);
        rlkd_tensor_destroy(want);
    }
    counts[0] = 100 + my_rank;
    test_must(rlkd_tensor_write_i32(ints, counts, 4), "write");
    CHECK_OK(rlkd_comm_broadcast(comm, ints, 1));
    test_must(rlkd_tensor_read_i32(ints, counts, 4), "read");
    CHECK(counts[0] == 101);
    CHECK_OK(rlkd_comm_barrier(comm));
    rlkd_tensor_destroy(ints);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* Rank 1 sums 9 values where rank 0 sums 8: both fail, and stay failed. */
static void mismatch_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    rlkd_tensor *t = filled(ctx, 8 + (size_t)my_rank, my_rank);
    const rlkd_status status = rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM);
    if (my_rank == 0)
        CHECK_FAILS(status, RLKD_ERR_INVALID_ARGUMENT,
                    "the ranks called different collectives: rank 0 "
                    "all_reduce (sum) of 32 bytes");
    else
        CHECK_MSG(status == RLKD_ERR_INVALID_ARGUMENT || status == RLKD_ERR_IO,
                  "rank 1's all_reduce -> %s (%s)",
                  rlkd_status_string(status), rlkd_last_error());
    CHECK_FAILS(rlkd_comm_barrier(comm), RLKD_ERR_IO, "failed earlier");
    rlkd_tensor_destroy(t);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* Rank 1 comes to the barrier late: rank 0 times out, and rank 1 then
 * finds rank 0 gone. */
#define SHORT_TIMEOUT_MS 1500

static void timeout_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, SHORT_TIMEOUT_MS);
    if (!comm)
        return;
    if (my_rank == 0) {
        const double start = ranks_now();
        CHECK_FAILS(rlkd_comm_barrier(comm), RLKD_ERR_IO,
                    "timed out after 1500 ms waiting for rank 1");
        const double waited = ranks_now() - start;
        CHECK_MSG(waited > 1.0 && waited < 10.0, "waited %.2f s", waited);
    } else {
        ranks_sleep_ms(SHORT_TIMEOUT_MS + 1000);
        CHECK_FAILS(rlkd_comm_barrier(comm), RLKD_ERR_IO, "rank 0");
    }
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* Rank 1 dies: rank 0 hears it at once, not after its timeout. */
static void peer_death_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    if (my_rank == 1)
        _exit(0); /* no goodbye: as a crash would */
    rlkd_tensor *t = filled(ctx, 100, 0);
    const double start = ranks_now();
    CHECK_FAILS(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM), RLKD_ERR_IO,
                "rank 1 closed the connection");
    CHECK_MSG(ranks_now() - start < 20.0, "took %.1f s", ranks_now() - start);
    CHECK_FAILS(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM), RLKD_ERR_IO,
                "failed earlier");
    rlkd_tensor_destroy(t);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* Sums started to run while the caller computes (lib/comm/overlap.c,
 * internal: this test links the static library). Rank 1 comes late: rank
 * 0's starts return at once all the same, and finish waits; the sums are
 * the rank-order sums; a collective called after starts runs after them
 * (on every rank), so it sees their results. */
static void started_sums_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    enum { BUCKETS = 3, LATE_MS = 1000 };
    const size_t sizes[BUCKETS] = {17, 300000, 5};
    rlkd_tensor *t[BUCKETS];
    for (int i = 0; i < BUCKETS; i++)
        t[i] = filled(ctx, sizes[i], my_rank);
    if (my_rank == 1)
        nanosleep(&(struct timespec){0, LATE_MS * 1000000L}, NULL);
    const double start = ranks_now();
    for (int i = 0; i < BUCKETS; i++) {
        void *const buffers[1] = {rlkd_tensor_data(t[i])};
        CHECK_OK(rlkd_comm_device_all_reduce_start(
            comm, "test", buffers, &sizes[i], 1, RLKD_COMM_F32,
            RLKD_REDUCE_SUM));
    }
    if (my_rank == 0)
        CHECK_MSG(ranks_now() - start < LATE_MS / 2000.0,
                  "starting the sums took %.3f s (rank 1 was late)",
                  ranks_now() - start);
    /* The public sum after the started ones: theirs are done first. */
    rlkd_tensor *after = filled(ctx, 9, my_rank);
    CHECK_OK(rlkd_comm_all_reduce(comm, after, RLKD_REDUCE_SUM));
    sums_in_rank_order(after, 9, 0);
    for (int i = 0; i < BUCKETS; i++)
        sums_in_rank_order(t[i], sizes[i], 0);
    /* Finish, with nothing started since, has nothing to wait for. */
    CHECK_OK(rlkd_comm_finish_started(comm, "test"));
    for (int i = 0; i < BUCKETS; i++)
        rlkd_tensor_destroy(t[i]);
    rlkd_tensor_destroy(after);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* Rank 1 dies while rank 0's sum is started: the failure comes out of the
 * wait, and the communicator stays failed. */
static void started_sum_peer_death_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    if (my_rank == 1)
        _exit(0);
    rlkd_tensor *t = filled(ctx, 100, 0);
    void *const buffers[1] = {rlkd_tensor_data(t)};
    const size_t count = 100;
    CHECK_OK(rlkd_comm_device_all_reduce_start(comm, "test", buffers, &count,
                                               1, RLKD_COMM_F32,
                                               RLKD_REDUCE_SUM));
    CHECK_FAILS(rlkd_comm_finish_started(comm, "test"), RLKD_ERR_IO,
                "rank 1 closed the connection");
    CHECK_FAILS(rlkd_comm_device_all_reduce_start(comm, "test", buffers,
                                                  &count, 1, RLKD_COMM_F32,
                                                  RLKD_REDUCE_SUM),
                RLKD_ERR_IO, "failed earlier");
    CHECK_FAILS(rlkd_comm_barrier(comm), RLKD_ERR_IO, "failed earlier");
    rlkd_tensor_destroy(t);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* A rendezvous by address (the hub listens on the port). */
static void address_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    rlkd_tensor *t = filled(ctx, 10, my_rank);
    CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM));
    sums_in_rank_order(t, 10, 0);
    rlkd_tensor_destroy(t);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* An earlier run's file, pointing at a port nobody listens on, is where
 * rank 1 looks first: it waits until rank 0 replaces it. */
static void write_stale_file(void)
{
    FILE *f = fopen(rendezvous, "w");
    if (!f)
        test_fatal("stale rendezvous file");
    fprintf(f, "rlkd-rendezvous 1 localhost %d 12345\n", free_port());
    fclose(f);
}

static void stale_file_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    if (my_rank == 0)
        ranks_sleep_ms(300);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    CHECK_OK(rlkd_comm_barrier(comm));
    if (my_rank == 0)
        CHECK_MSG(access(rendezvous, F_OK) != 0,
                  "the rendezvous file is still there");
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* Rank 1 thinks there are 3 ranks: both are told. */
static void world_mismatch_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    if (my_rank == 0) {
        o.world_size = 2;
        o.rendezvous = rendezvous;
    } else {
        CHECK_OK(rlkd_comm_options_from_env(&o));
        o.world_size = 3;
    }
    o.timeout_ms = TIMEOUT_MS;
    rlkd_comm *comm = NULL;
    CHECK_FAILS(rlkd_comm_create(ctx, &o, &comm), RLKD_ERR_INVALID_ARGUMENT,
                my_rank == 0 ? "rank 1 was started with world size 3"
                             : "another world size");
    CHECK(comm == NULL);
    rlkd_context_destroy(ctx);
}

/* ------------------------------------------------------------------------ */
/* Data-parallel training                                                    */
/* ------------------------------------------------------------------------ */

/* conv - relu - mean - dropout - fc */
static rlkd_net *plain_net(rlkd_context *ctx)
{
    rlkd_net *net;
    int node;
    test_must(rlkd_net_create(ctx, 1, SIDE, SIDE, &net), "net");
    test_must(rlkd_net_add_conv2d(net, &node, "conv", 0, 4, 3, 1, 1, 1, 1, 1),
              "conv");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu");
    test_must(rlkd_net_add_global_avgpool(net, &node, NULL, node), "mean");
    test_must(rlkd_net_add_dropout(net, &node, NULL, node, 0.25f), "dropout");
    test_must(rlkd_net_add_linear(net, NULL, "fc", node, CLASSES, 1), "fc");
    return net;
}

/* conv - bn - relu - maxpool - conv - bn - relu - mean - dropout - fc */
static rlkd_net *bn_net(rlkd_context *ctx)
{
    rlkd_net *net;
    int node;
    test_must(rlkd_net_create(ctx, 1, SIDE, SIDE, &net), "net");
    test_must(rlkd_net_add_conv2d(net, &node, "conv1", 0, 8, 3, 1, 1, 1, 1, 0),
              "conv1");
    test_must(rlkd_net_add_batchnorm2d(net, &node, "bn1", node, 1e-5f, 0.1f),
              "bn1");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu1");
    test_must(rlkd_net_add_maxpool2d(net, &node, NULL, node, 2, 2, 0), "pool");
    test_must(rlkd_net_add_conv2d(net, &node, "conv2", node, 8, 3, 1, 1, 1, 1,
                                  0),
              "conv2");
    test_must(rlkd_net_add_batchnorm2d(net, &node, "bn2", node, 1e-5f, 0.1f),
              "bn2");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu2");
    test_must(rlkd_net_add_global_avgpool(net, &node, NULL, node), "mean");
    test_must(rlkd_net_add_dropout(net, &node, NULL, node, 0.25f), "dropout");
    test_must(rlkd_net_add_linear(net, NULL, "fc", node, CLASSES, 1), "fc");
    return net;
}

typedef struct training {
    int bn, sync, distill, batch;
    const char *name;
} training;

typedef struct last_report {
    double loss, accuracy;
} last_report;

static void remember_report(const rlkd_progress *p, void *user)
{
    last_report *r = user;
    if (p->evaluating)
        r->accuracy = p->accuracy;
    else
        r->loss = p->loss;
}

static rlkd_trainer *make_trainer(rlkd_net *student, rlkd_net *teacher,
                                  last_report *report, const char *checkpoint)
{
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    o.epochs = 2;
    o.schedule.base_lr = 0.1f;
    o.schedule.total_epochs = 2;
    o.progress = remember_report;
    o.progress_user = report;
    o.progress_every = 1;
    o.checkpoint_path = checkpoint;
    rlkd_trainer *trainer;
    test_must(rlkd_trainer_create(student, teacher, &o, &trainer), "trainer");
    return trainer;
}

static rlkd_loader *train_loader(rlkd_context *ctx, const rlkd_dataset *data,
                                 int batch, int augment)
{
    rlkd_loader_options o;
    rlkd_loader_options_init(&o);
    o.batch_size = batch;
    o.shuffle = augment;
    o.horizontal_flip = augment;
    o.crop_padding = augment;
    o.seed = 5;
    rlkd_loader *loader;
    test_must(rlkd_loader_create(ctx, data, &o, &loader), "loader");
    return loader;
}

/* One process on the whole batch, then the ranks on their rows of it: the
 * ranks end with the same bits, and (unless batch norm is local) with the
 * one process's weights to float tolerance. Rank 1 starts from other
 * weights: the broadcast of rank 0's must make them the same. */
static void train_ranks(const training *t)
{
    rlkd_context *ctx = rank_context(3);
    rlkd_dataset *data = test_band_dataset(IMAGES, SIDE, CLASSES, 2, 1000);
    rlkd_loader *train = train_loader(ctx, data, t->batch, 1);
    rlkd_loader *validation = train_loader(ctx, data, 8, 0);
    rlkd_net *(*make)(rlkd_context *) = t->bn ? bn_net : plain_net;

    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *alone = make(ctx);
    test_must(rlkd_context_set_seed(ctx, my_rank == 0 ? 7 : 8), "seed");
    rlkd_net *ranked = make(ctx);
    test_must(rlkd_context_set_seed(ctx, my_rank == 0 ? 9 : 10), "seed");
    rlkd_net *teacher = t->distill ? plain_net(ctx) : NULL;
    rlkd_net *teacher_alone = NULL;
    if (t->distill) {
        test_must(rlkd_context_set_seed(ctx, 9), "seed");
        teacher_alone = plain_net(ctx);
    }

    last_report report_alone = {NAN, NAN}, report = {NAN, NAN};
    rlkd_trainer *one = make_trainer(alone, teacher_alone, &report_alone, NULL);
    test_must(rlkd_context_set_seed(ctx, RUN_SEED), "seed");
    CHECK_OK(rlkd_trainer_fit(one, train, validation));

    char checkpoint[TEST_PATH_BYTES];
    shared_path(checkpoint, "%s.ckpt", t->name);
    rlkd_trainer *trainer = make_trainer(ranked, teacher, &report, checkpoint);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    /* Rank 1's stream differs, in seed and in draws made (a network's
     * initial weights): rlkd_trainer_set_comm gives it rank 0's. */
    test_must(rlkd_context_set_seed(ctx, RUN_SEED + (uint64_t)my_rank), "seed");
    if (my_rank == 1)
        rlkd_net_destroy(plain_net(ctx));
    rlkd_parallel_options po;
    rlkd_parallel_options_init(&po);
    po.sync_batchnorm = t->sync;
    po.bucket_bytes = 256; /* several buckets, even for these networks */
    CHECK_OK(rlkd_trainer_set_comm(trainer, comm, &po));
    CHECK_OK(rlkd_trainer_fit(trainer, train, validation));

    size_t n, n_alone;
    float *values = ranks_net_values(ranked, &n);
    float *values_alone = ranks_net_values(alone, &n_alone);
    ranks_same_on_every_rank(comm, ctx, values, n, "weights");
    if (!t->bn || t->sync) {
        double *want = test_to_double(values_alone, n_alone);
        test_close(t->name, values, want, n, 1e-5, 1e-4);
        free(want);
        CHECK_MSG(fabs(report.loss - report_alone.loss) <=
                      1e-4 * fabs(report_alone.loss) + 1e-5,
                  "the last loss is %g, one process's %g", report.loss,
                  report_alone.loss);
        CHECK_MSG(report.accuracy == report_alone.accuracy,
                  "the validation accuracy is %g, one process's %g",
                  report.accuracy, report_alone.accuracy);
    }
    /* The reports are the whole batch's, the same on every rank. */
    const float reported[2] = {(float)report.loss, (float)report.accuracy};
    ranks_same_on_every_rank(comm, ctx, reported, 2, "reports");

    /* Rank 0 alone wrote the checkpoints; every rank resumes from them. */
    char own[TEST_PATH_BYTES];
    shared_path(own, "%s.rank%d.ckpt", t->name, my_rank);
    CHECK_OK(rlkd_trainer_save(trainer, own));
    CHECK_MSG((access(own, F_OK) == 0) == (my_rank == 0),
              "rank %d's save %s a file", my_rank,
              my_rank == 0 ? "did not write" : "wrote");
    CHECK_MSG(access(checkpoint, F_OK) == 0, "no checkpoint after fit");
    CHECK_OK(rlkd_trainer_resume(trainer, checkpoint));
    free(values);
    values = ranks_net_values(ranked, &n);
    ranks_same_on_every_rank(comm, ctx, values, n, "resumed weights");

    /* One process again. */
    CHECK_OK(rlkd_trainer_set_comm(trainer, NULL, NULL));
    free(values);
    free(values_alone);
    rlkd_trainer_destroy(trainer);
    rlkd_trainer_destroy(one);
    rlkd_comm_destroy(comm);
    rlkd_net_destroy(ranked);
    rlkd_net_destroy(alone);
    rlkd_net_destroy(teacher);
    rlkd_net_destroy(teacher_alone);
    rlkd_loader_destroy(train);
    rlkd_loader_destroy(validation);
    rlkd_dataset_destroy(data);
    rlkd_context_destroy(ctx);
}

/* Batches of 7: shards of 3 and 4 images, weighted by their share. */
static void train_plain_ranks(void)
{
    train_ranks(&(training){0, 0, 0, 7, "train_plain"});
}

static void train_sync_bn_ranks(void)
{
    train_ranks(&(training){1, 1, 0, 8, "train_sync_bn"});
}

static void train_local_bn_ranks(void)
{
    train_ranks(&(training){1, 0, 0, 8, "train_local_bn"});
}

static void distill_ranks(void)
{
    train_ranks(&(training){1, 1, 1, 6, "distill"});
}

/* Ranks that differ are told so, together; so is a batch too small. */
static void trainer_errors_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    if (!comm)
        return;
    rlkd_net *net = my_rank == 0 ? plain_net(ctx) : bn_net(ctx);
    last_report report;
    rlkd_trainer *trainer = make_trainer(net, NULL, &report, NULL);
    CHECK_FAILS(rlkd_trainer_set_comm(trainer, comm, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "the ranks have different networks");
    rlkd_trainer_destroy(trainer);
    rlkd_net_destroy(net);

    net = plain_net(ctx);
    trainer = make_trainer(net, NULL, &report, NULL);
    rlkd_parallel_options po;
    rlkd_parallel_options_init(&po);
    po.bucket_bytes = 0;
    CHECK_FAILS(rlkd_trainer_set_comm(trainer, comm, &po),
                RLKD_ERR_INVALID_ARGUMENT, "bucket_bytes");
    po.struct_size = 8;
    CHECK_FAILS(rlkd_trainer_set_comm(trainer, comm, &po),
                RLKD_ERR_INVALID_ARGUMENT, "struct_size");
    rlkd_context *other = rank_context(1);
    rlkd_comm_options lone;
    rlkd_comm_options_init(&lone);
    rlkd_comm *elsewhere;
    test_must(rlkd_comm_create(other, &lone, &elsewhere), "comm");
    CHECK_FAILS(rlkd_trainer_set_comm(trainer, elsewhere, NULL),
                RLKD_ERR_DEVICE_MISMATCH, "context");
    CHECK_FAILS(rlkd_trainer_set_comm(NULL, comm, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "trainer");
    CHECK_OK(rlkd_trainer_set_comm(trainer, comm, NULL));
    rlkd_tensor *images, *labels;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 4,
                                 (int64_t[]){1, 1, SIDE, SIDE}, &images),
              "images");
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, (int64_t[]){1},
                                 &labels),
              "labels");
    CHECK_FAILS(rlkd_trainer_step(trainer, images, labels, 4, NULL, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "1 images cannot be split over 2");
    /* None of that broke the communicator. */
    CHECK_OK(rlkd_comm_barrier(comm));
    rlkd_tensor_destroy(images);
    rlkd_tensor_destroy(labels);
    rlkd_trainer_destroy(trainer);
    rlkd_net_destroy(net);
    rlkd_comm_destroy(elsewhere);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(other);
    rlkd_context_destroy(ctx);
}

/* One rank: the same bits as no communicator at all. */
/* The backward pass's layer-done hook, which data-parallel training
 * starts its gradient buckets from (internal): every layer once, last to
 * first, each told when its parameters' gradients are final (they equal
 * what the finished pass leaves). */
typedef struct layer_record {
    int calls, order_broken, last;
    float *grads[16]; /* each layer's first parameter gradient, as told */
    size_t sizes[16];
} layer_record;

static rlkd_status record_layer(void *user, const rlkd_net *net, int layer)
{
    layer_record *r = user;
    if (layer != r->last - 1)
        r->order_broken = 1;
    r->last = layer;
    r->calls++;
    const rlkd_layer *l = &net->layers[layer];
    if (l->param_count > 0 && layer < 16) {
        const rlkd_tensor *g = net->params[l->param_first].grad;
        r->sizes[layer] = (size_t)g->numel;
        r->grads[layer] = t_get(g);
    }
    return RLKD_OK;
}

static void layer_done_hook(void)
{
    rlkd_context *ctx = rank_context(3);
    rlkd_net *net = bn_net(ctx);
    int layers;
    test_must(rlkd_net_layer_count(net, &layers), "layers");
    rlkd_tensor *images, *labels, *logits, *dlogits;
    rlkd_dataset *data = test_band_dataset(8, SIDE, CLASSES, 2, 1000);
    rlkd_loader *loader = train_loader(ctx, data, 8, 0);
    test_must(rlkd_loader_start_epoch(loader, 0, 0), "epoch");
    test_must(rlkd_loader_next(loader, &images, &labels), "batch");
    test_must(rlkd_net_forward(net, images, 1, &logits), "forward");
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 2,
                                 (int64_t[]){8, CLASSES}, &dlogits),
              "dlogits");
    test_must(rlkd_tensor_fill(dlogits, 0.25f), "fill");
    layer_record record = {.last = layers};
    const rlkd_layer_done_hook hook = {record_layer, &record};
    net->layer_done = &hook;
    CHECK_OK(rlkd_net_zero_grad(net));
    CHECK_OK(rlkd_net_backward(net, dlogits, NULL));
    net->layer_done = NULL;
    CHECK_MSG(record.calls == layers && !record.order_broken &&
                  record.last == 0,
              "%d calls for %d layers, %s", record.calls, layers,
              record.order_broken ? "out of order" : "in order");
    for (int i = 0; i < layers && i < 16; i++) {
        if (!record.grads[i])
            continue;
        const rlkd_layer *l = &net->layers[i];
        float *final = t_get(net->params[l->param_first].grad);
        CHECK_MSG(memcmp(final, record.grads[i],
                         record.sizes[i] * sizeof *final) == 0,
                  "layer %d's gradients changed after its hook", i);
        free(final);
        free(record.grads[i]);
    }
    rlkd_tensor_destroy(dlogits);
    rlkd_loader_destroy(loader);
    rlkd_dataset_destroy(data);
    rlkd_net_destroy(net);
    rlkd_context_destroy(ctx);
}

static void one_rank_training(void)
{
    rlkd_context *ctx = rank_context(3);
    rlkd_dataset *data = test_band_dataset(IMAGES, SIDE, CLASSES, 2, 1000);
    rlkd_loader *train = train_loader(ctx, data, 8, 1);
    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *a = bn_net(ctx);
    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *b = bn_net(ctx);
    last_report ra, rb;
    rlkd_trainer *ta = make_trainer(a, NULL, &ra, NULL);
    rlkd_trainer *tb = make_trainer(b, NULL, &rb, NULL);
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    rlkd_comm *comm;
    test_must(rlkd_comm_create(ctx, &o, &comm), "comm");
    rlkd_parallel_options po;
    rlkd_parallel_options_init(&po);
    po.sync_batchnorm = 1;
    CHECK_OK(rlkd_trainer_set_comm(tb, comm, &po));
    test_must(rlkd_context_set_seed(ctx, RUN_SEED), "seed");
    CHECK_OK(rlkd_trainer_fit(ta, train, train));
    test_must(rlkd_context_set_seed(ctx, RUN_SEED), "seed");
    CHECK_OK(rlkd_trainer_fit(tb, train, train));
    size_t na, nb;
    float *va = ranks_net_values(a, &na), *vb = ranks_net_values(b, &nb);
    CHECK(na == nb && memcmp(va, vb, na * sizeof *va) == 0);
    CHECK(ra.loss == rb.loss && ra.accuracy == rb.accuracy);
    free(va);
    free(vb);
    rlkd_trainer_destroy(ta);
    rlkd_trainer_destroy(tb);
    rlkd_comm_destroy(comm);
    rlkd_net_destroy(a);
    rlkd_net_destroy(b);
    rlkd_loader_destroy(train);
    rlkd_dataset_destroy(data);
    rlkd_context_destroy(ctx);
}

/* ------------------------------------------------------------------------ */
/* Parallel search                                                           */
/* ------------------------------------------------------------------------ */

static rlkd_search_options search_options(void)
{
    rlkd_search_options o;
    rlkd_search_options_init(&o);
    o.episodes = 6;
    o.warmup_episodes = 3;
    o.hidden1 = o.hidden2 = 8;
    o.batch_size = 4;
    o.macs_fraction = 0.5;
    o.round_to = 2;
    o.reward_scaling = 1;
    o.seed = 11;
    return o;
}

static int best_of(rlkd_search *s, int *keep, int count, double *reward)
{
    return CHECK_OK(rlkd_search_best(s, keep, count, reward, NULL, NULL));
}

/* The built-in environment with recalibration and a teacher: rank 0 alone
 * first, then both ranks, each scoring its validation batches (5 of them:
 * 3 on rank 0, 2 on rank 1). */
static void search_ranks(void)
{
    rlkd_context *ctx = rank_context(5);
    rlkd_dataset *data = test_band_dataset(36, SIDE, CLASSES, 2, 77);
    rlkd_loader *validation = train_loader(ctx, data, 8, 0);
    rlkd_loader *recalibration = train_loader(ctx, data, 8, 1);
    rlkd_net *net = bn_net(ctx), *teacher = plain_net(ctx);
    rlkd_net_env_options env;
    rlkd_net_env_options_init(&env);
    env.recalibrate_batches = 2;
    env.teacher_weight = 0.5;
    rlkd_search_options o = search_options();
    int groups;
    test_must(rlkd_net_prune_group_count(net, &groups), "groups");

    int alone[8] = {0}, together[8] = {0};
    double reward_alone = NAN, reward = NAN;
    rlkd_search *s;
    CHECK_OK(rlkd_search_create_net(net, teacher, validation, recalibration,
                                    &env, &o, &s));
    CHECK_OK(rlkd_search_run(s, o.episodes));
    int layers = 0;
    for (int g = 0; g < groups; g++) {
        rlkd_prune_group group;
        rlkd_prune_group_init(&group);
        test_must(rlkd_net_prune_group(net, g, &group), "group");
        layers += group.prunable;
    }
    best_of(s, alone, layers, &reward_alone);
    rlkd_search_destroy(s);

    char log[TEST_PATH_BYTES];
    shared_path(log, "episodes.rank%d.jsonl", my_rank);
    o.log_path = log;
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    CHECK_OK(rlkd_search_create_net(net, teacher, validation, recalibration,
                                    &env, &o, &s));
    CHECK_OK(rlkd_search_set_comm(s, comm));
    CHECK_OK(rlkd_search_run(s, o.episodes));
    best_of(s, together, layers, &reward);
    CHECK_MSG(memcmp(alone, together, sizeof alone) == 0 &&
                  reward == reward_alone,
              "the parallel search's best (reward %.17g) is not the serial "
              "one's (%.17g)", reward, reward_alone);
    CHECK_MSG((access(log, F_OK) == 0) == (my_rank == 0),
              "rank %d %s the log", my_rank,
              my_rank == 0 ? "did not write" : "wrote");
    char state[TEST_PATH_BYTES];
    shared_path(state, "search.rank%d.state", my_rank);
    CHECK_OK(rlkd_search_save(s, state));
    CHECK((access(state, F_OK) == 0) == (my_rank == 0));
    CHECK_OK(rlkd_search_apply_best(s));
    int kept = 0;
    for (int g = 0; g < groups; g++) {
        rlkd_prune_group group;
        rlkd_prune_group_init(&group);
        test_must(rlkd_net_prune_group(net, g, &group), "group");
        kept = kept * 131 + group.kept;
    }
    const float kept_value = (float)kept;
    ranks_same_on_every_rank(comm, ctx, &kept_value, 1, "masks");
    CHECK_OK(rlkd_search_set_comm(s, NULL));
    CHECK_FAILS(rlkd_search_set_comm(NULL, comm), RLKD_ERR_INVALID_ARGUMENT,
                "search");
    rlkd_search_destroy(s);
    rlkd_comm_destroy(comm);
    rlkd_net_destroy(net);
    rlkd_net_destroy(teacher);
    rlkd_loader_destroy(validation);
    rlkd_loader_destroy(recalibration);
    rlkd_dataset_destroy(data);
    rlkd_context_destroy(ctx);
}

/* rlkd_compress over a communicator: the search's best policy is one
 * process's exactly, the data-parallel fine-tuning (with distillation and
 * synchronised batch norm) gives one process's weights to float tolerance,
 * and every rank ends with the same compacted network and report. */
static void compress_ranks(void)
{
    rlkd_context *ctx = rank_context(5);
    rlkd_dataset *data = test_band_dataset(36, SIDE, CLASSES, 2, 78);
    rlkd_loader *validation = train_loader(ctx, data, 8, 0);
    rlkd_loader *train = train_loader(ctx, data, 8, 1);
    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *student_alone = bn_net(ctx), *teacher = plain_net(ctx);
    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *student = bn_net(ctx);
    rlkd_compress_options o;
    rlkd_compress_options_init(&o);
    o.method = RLKD_METHOD_RLKD;
    o.finetune_epochs = 2;
    o.search = search_options();
    o.env.max_images = 24;
    rlkd_parallel_options po;
    rlkd_parallel_options_init(&po);
    po.sync_batchnorm = 1;
    o.parallel = &po;

    rlkd_compress_report alone, together;
    alone.struct_size = together.struct_size = sizeof alone;
    rlkd_net *small_alone = NULL, *small = NULL;
    test_must(rlkd_context_set_seed(ctx, RUN_SEED), "seed");
    CHECK_OK(rlkd_compress(student_alone, teacher, train, validation,
                           validation, &o, &small_alone, &alone));
    o.comm = cpu_comm(ctx, TIMEOUT_MS);
    char log[TEST_PATH_BYTES];
    shared_path(log, "compress.rank%d.jsonl", my_rank);
    o.search.log_path = log;
    test_must(rlkd_context_set_seed(ctx, RUN_SEED), "seed");
    CHECK_OK(rlkd_compress(student, teacher, train, validation, validation,
                           &o, &small, &together));
    CHECK_MSG((access(log, F_OK) == 0) == (my_rank == 0),
              "rank %d %s the search log", my_rank,
              my_rank == 0 ? "did not write" : "wrote");
    CHECK_MSG(together.search_reward == alone.search_reward &&
                  together.macs == alone.macs &&
                  together.params == alone.params,
              "the parallel run's policy (reward %.17g, %lld MACs) is not "
              "one process's (%.17g, %lld)", together.search_reward,
              (long long)together.macs, alone.search_reward,
              (long long)alone.macs);
    if (small && small_alone) {
        size_t n, n_alone;
        float *values = ranks_net_values(small, &n);
        float *values_alone = ranks_net_values(small_alone, &n_alone);
        CHECK(n == n_alone);
        double *want = test_to_double(values_alone, n_alone);
        test_close("compacted", values, want, n < n_alone ? n : n_alone,
                   1e-5, 1e-4);
        ranks_same_on_every_rank(o.comm, ctx, values, n, "compacted weights");
        const float reported[2] = {(float)together.top1,
                                   (float)together.student_top1};
        ranks_same_on_every_rank(o.comm, ctx, reported, 2, "reports");
        free(want);
        free(values);
        free(values_alone);
    }
    rlkd_comm_destroy(o.comm);
    rlkd_net_destroy(small);
    rlkd_net_destroy(small_alone);
    rlkd_net_destroy(student);
    rlkd_net_destroy(student_alone);
    rlkd_net_destroy(teacher);
    rlkd_loader_destroy(validation);
    rlkd_loader_destroy(train);
    rlkd_dataset_destroy(data);
    rlkd_context_destroy(ctx);
}

/* A caller's environment: every rank scores, rank 0's score counts (rank
 * 1's is nonsense here), so the best is one process's. */
#define TOY_LAYERS 3

static rlkd_status toy_score(void *user, const int *keep, const double *ratios,
                             int count, double *score, double *accuracy)
{
    (void)keep;
    (void)accuracy;
    const int *rank = user;
    double error = 0.0;
    for (int i = 0; i < count; i++)
        error += (ratios[i] - 0.3 * i) * (ratios[i] - 0.3 * i);
    *score = *rank == 0 ? 1.0 - error : -1000.0;
    return RLKD_OK;
}

static rlkd_search *make_toy_search(int *rank)
{
    rlkd_search_layer layers[TOY_LAYERS];
    for (int i = 0; i < TOY_LAYERS; i++) {
        rlkd_search_layer_init(&layers[i]);
        layers[i].channels = 16;
        layers[i].in_channels = 16;
        layers[i].macs = 1600;
    }
    rlkd_search_options o = search_options();
    rlkd_search *s = NULL;
    test_must(rlkd_search_create(layers, TOY_LAYERS,
                                 test_hundred_macs_per_channel, toy_score,
                                 rank, &o, &s),
              "toy search");
    return s;
}

static void toy_search_ranks(void)
{
    rlkd_context *ctx = rank_context(1);
    int zero = 0, rank = my_rank;
    rlkd_search *serial = make_toy_search(&zero),
                *parallel = make_toy_search(&rank);
    CHECK_OK(rlkd_search_run(serial, 6));
    rlkd_comm *comm = cpu_comm(ctx, TIMEOUT_MS);
    CHECK_OK(rlkd_search_set_comm(parallel, comm));
    CHECK_OK(rlkd_search_run(parallel, 6));
    int a[TOY_LAYERS], b[TOY_LAYERS];
    double ra, rb;
    best_of(serial, a, TOY_LAYERS, &ra);
    best_of(parallel, b, TOY_LAYERS, &rb);
    CHECK(memcmp(a, b, sizeof a) == 0 && ra == rb);
    /* Searches that differ are told so, on every rank. */
    rlkd_search_options o = search_options();
    o.seed = (uint64_t)my_rank;
    rlkd_search_layer layers[TOY_LAYERS];
    for (int i = 0; i < TOY_LAYERS; i++) {
        rlkd_search_layer_init(&layers[i]);
        layers[i].channels = 16;
        layers[i].macs = 1600;
    }
    rlkd_search *other;
    test_must(rlkd_search_create(layers, TOY_LAYERS,
                                 test_hundred_macs_per_channel, toy_score,
                                 &rank, &o, &other),
              "other");
    CHECK_FAILS(rlkd_search_set_comm(other, comm), RLKD_ERR_INVALID_ARGUMENT,
                "the ranks have different searches");
    rlkd_search_destroy(other);
    rlkd_search_destroy(serial);
    rlkd_search_destroy(parallel);
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

/* ------------------------------------------------------------------------ */

static const rank_case cases[] = {
    {"collectives", 3, collectives_ranks, NULL},
    {"mismatch", 2, mismatch_ranks, NULL},
    {"timeout", 2, timeout_ranks, NULL},
    {"peer_death", 2, peer_death_ranks, NULL},
    {"address", 2, address_ranks, NULL},
    {"stale_file", 2, stale_file_ranks, write_stale_file},
    {"world_mismatch", 2, world_mismatch_ranks, NULL},
    {"train_plain", 2, train_plain_ranks, NULL},
    {"train_sync_bn", 2, train_sync_bn_ranks, NULL},
    {"train_local_bn", 2, train_local_bn_ranks, NULL},
    {"distill", 2, distill_ranks, NULL},
    {"trainer_errors", 2, trainer_errors_ranks, NULL},
    {"search", 2, search_ranks, NULL},
    {"toy_search", 2, toy_search_ranks, NULL},
    {"compress", 2, compress_ranks, NULL},
    {"started_sums", 2, started_sums_ranks, NULL},
    {"started_sum_peer_death", 2, started_sum_peer_death_ranks, NULL},
};

static const rank_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    fprintf(stderr, "test_comm: no case \"%s\"\n", name);
    exit(2);
}

#define RANKS(name)                           \
    static void name(void)                    \
    {                                         \
        run_ranks(find_case(#name), 0, NULL); \
    }
RANKS(collectives)
RANKS(mismatch)
RANKS(timeout)
RANKS(peer_death)
RANKS(stale_file)
RANKS(world_mismatch)
RANKS(train_plain)
RANKS(train_sync_bn)
RANKS(train_local_bn)
RANKS(distill)
RANKS(trainer_errors)
RANKS(search)
RANKS(toy_search)
RANKS(compress)
RANKS(started_sums)
RANKS(started_sum_peer_death)

static void address(void)
{
    char meeting[64];
    snprintf(meeting, sizeof meeting, "127.0.0.1:%d", free_port());
    run_ranks(find_case("address"), 0, meeting);
}

int main(int argc, char **argv)
{
    ranks_program = argv[0];
    if (argc == 3 && strcmp(argv[1], "--rank") == 0)
        return run_as_rank(find_case(argv[2]));
    test_main_begin();
    test_run("options_from_env", options_from_env);
    test_run("single_rank", single_rank);
    test_run("rendezvous_timeouts", rendezvous_timeouts);
    test_run("collectives", collectives);
    test_run("mismatch", mismatch);
    test_run("timeout", timeout);
    test_run("peer_death", peer_death);
    test_run("address", address);
    test_run("stale_file", stale_file);
    test_run("world_mismatch", world_mismatch);
    test_run("layer_done_hook", layer_done_hook);
    test_run("one_rank_training", one_rank_training);
    test_run("train_plain", train_plain);
    test_run("train_sync_bn", train_sync_bn);
    test_run("train_local_bn", train_local_bn);
    test_run("distill", distill);
    test_run("trainer_errors", trainer_errors);
    test_run("search", search);
    test_run("toy_search", toy_search);
    test_run("compress", compress);
    test_run("started_sums", started_sums);
    test_run("started_sum_peer_death", started_sum_peer_death);
    test_main_end();
    return test_finish();
}
