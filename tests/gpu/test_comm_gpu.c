/*
 * Communicators on GPUs: NCCL between the GPUs of this machine, one rank
 * per GPU (where it has more than one; "skipped: one GPU" otherwise), NCCL
 * with one rank, and the CPU backend moving CUDA tensors through host
 * memory (two ranks on GPU 0). Ranks are processes (ranks_test.h). Exits
 * 77 (skipped) with a message when there is no usable GPU.
 */
#include "ranks_test.h"

#include <stdlib.h>
#include <string.h>

/* Usable CUDA devices (0 in a build without CUDA). */
static int gpu_count(void)
{
    int count = 0;
    for (; count < RANKS_MAX; count++) {
        rlkd_context *ctx;
        if (rlkd_context_create(&ctx, RLKD_DEVICE_CUDA, count) != RLKD_OK)
            break;
        rlkd_context_destroy(ctx);
    }
    return count;
}

/* This rank's GPU: its local rank, or 0 for every rank. */
static rlkd_context *rank_gpu(int own_device)
{
    const char *local = getenv("RLKD_LOCAL_RANK");
    const int device = own_device && my_rank > 0 && local ? atoi(local) : 0;
    rlkd_context *ctx;
    test_must(rlkd_context_create(&ctx, RLKD_DEVICE_CUDA, device), "context");
    return ctx;
}

/* Rank r's values: small whole numbers, so that sums are exact whatever
 * order NCCL adds them in. */
static rlkd_tensor *gpu_values(rlkd_context *ctx, size_t n, int rank)
{
    float *host = malloc(n * sizeof *host);
    if (!host)
        test_fatal("malloc");
    for (size_t i = 0; i < n; i++)
        host[i] = (float)((int)(i % 97) - 48 + 3 * rank);
    rlkd_tensor *t;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 1,
                                 (int64_t[]){(int64_t)n}, &t),
              "tensor");
    test_must(rlkd_tensor_write(t, host, n), "write");
    free(host);
    return t;
}

/* t holds the sum (or mean) of every rank's gpu_values. */
static void expect_sums(const rlkd_tensor *t, size_t n, int mean)
{
    float *got = malloc(n * sizeof *got);
    if (!got)
        test_fatal("malloc");
    CHECK_OK(rlkd_tensor_read(t, got, n));
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        float want = 0.0f;
        for (int r = 0; r < my_world; r++)
            want += (float)((int)(i % 97) - 48 + 3 * r);
        if (mean)
            want /= (float)my_world;
        wrong += got[i] != want;
    }
    CHECK_MSG(wrong == 0, "%zu of %zu sums are wrong", wrong, n);
    free(got);
}

/* Sums, a mean, integer sums, broadcasts and a barrier over comm. */
static void collectives(rlkd_context *ctx, rlkd_comm *comm)
{
    const size_t sizes[2] = {1000, (size_t)1 << 22};
    for (int k = 0; k < 2; k++) {
        rlkd_tensor *t = gpu_values(ctx, sizes[k], my_rank);
        CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_SUM));
        expect_sums(t, sizes[k], 0);
        rlkd_tensor_destroy(t);
    }
    rlkd_tensor *t = gpu_values(ctx, 999, my_rank);
    CHECK_OK(rlkd_comm_all_reduce(comm, t, RLKD_REDUCE_MEAN));
    expect_sums(t, 999, 1);
    rlkd_tensor_destroy(t);
    int32_t counts[3] = {my_rank, 1, -2};
    rlkd_tensor *ints;
    test_must(rlkd_tensor_create(ctx, RLKD_DTYPE_I32, 1, (int64_t[]){3}, &ints),
              "ints");
    CHECK_OK(rlkd_tensor_write_i32(ints, counts, 3));
    CHECK_OK(rlkd_comm_all_reduce(comm, ints, RLKD_REDUCE_SUM));
    CHECK_OK(rlkd_tensor_read_i32(ints, counts, 3));
    CHECK(counts[0] == my_world * (my_world - 1) / 2 &&
          counts[1] == my_world && counts[2] == -2 * my_world);
    rlkd_tensor_destroy(ints);
    const int root = my_world - 1;
    t = gpu_values(ctx, 5000, my_rank);
    CHECK_OK(rlkd_comm_broadcast(comm, t, root));
    rlkd_tensor *want = gpu_values(ctx, 5000, root);
    float *a = malloc(5000 * sizeof *a), *b = malloc(5000 * sizeof *b);
    CHECK_OK(rlkd_tensor_read(t, a, 5000));
    CHECK_OK(rlkd_tensor_read(want, b, 5000));
    CHECK_MSG(memcmp(a, b, 5000 * sizeof *a) == 0, "broadcast from %d", root);
    free(a);
    free(b);
    rlkd_tensor_destroy(t);
    rlkd_tensor_destroy(want);
    CHECK_OK(rlkd_comm_barrier(comm));
}

static void nccl_ranks(void)
{
    rlkd_context *ctx = rank_gpu(1);
    rlkd_comm *comm = open_comm(ctx, RLKD_COMM_NCCL, RANKS_TIMEOUT_MS);
    if (comm) {
        CHECK(rlkd_comm_backend_of(comm) == RLKD_COMM_NCCL);
        collectives(ctx, comm);
    }
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

static void cpu_backend_ranks(void)
{
    rlkd_context *ctx = rank_gpu(0);
    rlkd_comm *comm = open_comm(ctx, RLKD_COMM_CPU, RANKS_TIMEOUT_MS);
    if (comm) {
        CHECK(rlkd_comm_backend_of(comm) == RLKD_COMM_CPU);
        collectives(ctx, comm);
    }
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

static const rank_case cases[] = {
    {"nccl_gpus", 0, nccl_ranks, NULL},
    {"cpu_backend_on_gpu", 2, cpu_backend_ranks, NULL},
};

static const rank_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    fprintf(stderr, "test_comm_gpu: no case \"%s\"\n", name);
    exit(2);
}

static int gpus;

static void nccl_gpus(void)
{
    if (gpus < 2) {
        test_skip("skipped: one GPU (NCCL between GPUs needs two or more)");
        return;
    }
    run_ranks(find_case("nccl_gpus"), gpus, NULL);
}

/* NCCL with one rank: its communicator is made and freed; the collectives
 * are the identity. */
static void nccl_one_rank(void)
{
    my_rank = 0;
    my_world = 1;
    rlkd_context *ctx = rank_gpu(0);
    rlkd_comm_options o;
    rlkd_comm_options_init(&o);
    o.backend = RLKD_COMM_NCCL;
    rlkd_comm *comm = NULL;
    rlkd_status status = rlkd_comm_create(ctx, &o, &comm);
    if (status == RLKD_ERR_UNSUPPORTED) {
        /* A build without NCCL (or the CPU emulator of tests/emu). */
        test_skip(rlkd_last_error());
        rlkd_context_destroy(ctx);
        return;
    }
    CHECK_OK(status);
    if (comm) {
        CHECK(rlkd_comm_backend_of(comm) == RLKD_COMM_NCCL);
        collectives(ctx, comm);
    }
    rlkd_comm_destroy(comm);
    rlkd_context_destroy(ctx);
}

static void cpu_backend_on_gpu(void)
{
    run_ranks(find_case("cpu_backend_on_gpu"), 0, NULL);
}

int main(int argc, char **argv)
{
    ranks_program = argv[0];
    if (argc == 3 && strcmp(argv[1], "--rank") == 0)
        return run_as_rank(find_case(argv[2]));
    gpus = gpu_count();
    if (gpus == 0) {
        printf("SKIP comm_gpu: no usable GPU (%s)\n", rlkd_last_error());
        return 77;
    }
    printf("# %d GPU%s\n", gpus, gpus == 1 ? "" : "s");
    test_main_begin();
    test_run("nccl_one_rank", nccl_one_rank);
    test_run("cpu_backend_on_gpu", cpu_backend_on_gpu);
    test_run("nccl_gpus", nccl_gpus);
    test_main_end();
    return test_finish();
}
