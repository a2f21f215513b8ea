/*
 * Communicators on GPUs: NCCL between the GPUs of this machine, one rank
 * per GPU (where it has more than one; "skipped: one GPU" otherwise), NCCL
 * with one rank, and the CPU backend moving CUDA tensors through host
 * memory (two ranks on GPU 0): the collectives, and data-parallel training
 * against one process on the whole batch. Ranks are processes
 * (ranks_test.h). Exits 77 (skipped) with a message when there is no
 * usable GPU.
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

/* conv - bn - relu - mean - dropout - fc on 6x6 images of 3 classes. */
static rlkd_net *dropout_net(rlkd_context *ctx)
{
    rlkd_net *net;
    int node;
    test_must(rlkd_net_create(ctx, 1, 6, 6, &net), "net");
    test_must(rlkd_net_add_conv2d(net, &node, "conv", 0, 8, 3, 1, 1, 1, 1, 0),
              "conv");
    test_must(rlkd_net_add_batchnorm2d(net, &node, "bn", node, 1e-5f, 0.1f),
              "bn");
    test_must(rlkd_net_add_relu(net, &node, NULL, node), "relu");
    test_must(rlkd_net_add_global_avgpool(net, &node, NULL, node), "mean");
    test_must(rlkd_net_add_dropout(net, &node, NULL, node, 0.25f), "dropout");
    test_must(rlkd_net_add_linear(net, NULL, "fc", node, 3, 1), "fc");
    return net;
}

static void fit(rlkd_net *net, rlkd_comm *comm, rlkd_loader *train)
{
    rlkd_trainer_options o;
    rlkd_trainer_options_init(&o);
    o.epochs = 2;
    o.schedule.base_lr = 0.1f;
    o.schedule.total_epochs = 2;
    rlkd_trainer *trainer;
    test_must(rlkd_trainer_create(net, NULL, &o, &trainer), "trainer");
    rlkd_parallel_options po;
    rlkd_parallel_options_init(&po);
    po.sync_batchnorm = 1;
    po.bucket_bytes = 64; /* a bucket per tensor or two */
    if (comm)
        CHECK_OK(rlkd_trainer_set_comm(trainer, comm, &po));
    CHECK_OK(rlkd_trainer_fit(trainer, train, NULL));
    rlkd_trainer_destroy(trainer);
}

/* Data-parallel training on the GPUs over comm (synchronised batch norm,
 * dropout, gradient buckets summed while the backward pass runs): the
 * same bits on every rank, and one process's weights on the whole batch
 * to float tolerance. */
static void training(rlkd_context *ctx, rlkd_comm *comm)
{
    rlkd_dataset *data = test_band_dataset(24, 6, 3, 2, 1000);
    rlkd_loader_options lo;
    rlkd_loader_options_init(&lo);
    lo.batch_size = 8;
    lo.shuffle = lo.horizontal_flip = lo.crop_padding = 1;
    lo.seed = 5;
    rlkd_loader *train;
    test_must(rlkd_loader_create(ctx, data, &lo, &train), "loader");
    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *alone = dropout_net(ctx);
    test_must(rlkd_context_set_seed(ctx, 7), "seed");
    rlkd_net *ranked = dropout_net(ctx);
    test_must(rlkd_context_set_seed(ctx, 9), "seed");
    fit(alone, NULL, train);
    /* Rank 1 starts from another random stream: rank 0's is copied. */
    test_must(rlkd_context_set_seed(ctx, 9 + (uint64_t)my_rank), "seed");
    fit(ranked, comm, train);
    size_t n, n_alone;
    float *values = ranks_net_values(ranked, &n);
    float *values_alone = ranks_net_values(alone, &n_alone);
    ranks_same_on_every_rank(comm, ctx, values, n, "weights");
    double *want = test_to_double(values_alone, n_alone);
    test_close("data-parallel on GPUs", values, want, n, 1e-5, 1e-4);
    free(want);
    free(values);
    free(values_alone);
    rlkd_net_destroy(ranked);
    rlkd_net_destroy(alone);
    rlkd_loader_destroy(train);
    rlkd_dataset_destroy(data);
}

static void nccl_ranks(void)
{
    rlkd_context *ctx = rank_gpu(1);
    rlkd_comm *comm = open_comm(ctx, RLKD_COMM_NCCL, RANKS_TIMEOUT_MS);
    if (comm) {
        CHECK(rlkd_comm_backend_of(comm) == RLKD_COMM_NCCL);
        collectives(ctx, comm);
        training(ctx, comm);
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
        training(ctx, comm);
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
