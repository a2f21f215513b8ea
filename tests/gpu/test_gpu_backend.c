/*
 * The CUDA backend against the CPU reference: the basics (memory, fills,
 * ReLU, device checks) run on the same inputs on both devices and compared
 * with a stated tolerance; the other ops have test programs of their own
 * beside this one. Exits 77 (skipped) with a message when there is no
 * usable GPU.
 */
#include "gpu_test.h"

#include <string.h>

static void round_trip(void)
{
    enum { N = 1000 };
    float host[N];
    test_fill_uniform(host, N, -5, 5, 3);
    rlkd_tensor *t = tensor_on(gpu, host, N, 0, 0, 0);
    float *back = t_get(t);
    CHECK(memcmp(host, back, sizeof host) == 0);
    free(back);
    rlkd_tensor_destroy(t);
}

/* Uniform fills: bit-identical to the CPU (same Philox stream, no FMA). */
static void fill_uniform_matches_cpu(void)
{
    enum { N = 4099 };
    rlkd_tensor *c = t_new(N, 0, 0, 0);
    rlkd_tensor *on_gpu = NULL;
    int64_t n = N;
    CHECK_OK(rlkd_tensor_create(gpu, RLKD_DTYPE_F32, 1, &n, &on_gpu));
    CHECK_OK(rlkd_context_set_seed(gpu, 99));
    CHECK_OK(rlkd_context_set_seed(test_ctx, 99));
    CHECK_OK(rlkd_tensor_fill_uniform(on_gpu, -2, 3));
    CHECK_OK(rlkd_tensor_fill_uniform(c, -2, 3));
    gpu_same_bits("fill_uniform", on_gpu, c);
    rlkd_tensor_destroy(on_gpu);
    rlkd_tensor_destroy(c);
}

/* ReLU: exact (a comparison and a copy). */
static void relu_matches_cpu(void)
{
    enum { N = 3001 };
    float x[N], dy[N];
    test_fill_uniform(x, N, -1, 1, 5);
    test_fill_uniform(dy, N, -1, 1, 6);
    rlkd_tensor *gx = tensor_on(gpu, x, N, 0, 0, 0);
    rlkd_tensor *gdy = tensor_on(gpu, dy, N, 0, 0, 0);
    rlkd_tensor *gy = tensor_on(gpu, x, N, 0, 0, 0);
    rlkd_tensor *gdx = tensor_on(gpu, x, N, 0, 0, 0);
    rlkd_tensor *cx = t_from(x, N, 0, 0, 0), *cdy = t_from(dy, N, 0, 0, 0);
    rlkd_tensor *cy = t_new(N, 0, 0, 0), *cdx = t_new(N, 0, 0, 0);
    CHECK_OK(rlkd_relu_forward(gpu, gy, gx));
    CHECK_OK(rlkd_relu_backward(gpu, gdx, gdy, gy));
    CHECK_OK(rlkd_relu_forward(test_ctx, cy, cx));
    CHECK_OK(rlkd_relu_backward(test_ctx, cdx, cdy, cy));
    gpu_same_bits("relu y", gy, cy);
    gpu_same_bits("relu dx", gdx, cdx);
    rlkd_tensor *all[] = {gx, gdy, gy, gdx, cx, cdy, cy, cdx};
    tensors_destroy(all, sizeof all / sizeof all[0]);
}

/* Mixing devices in one call is refused. */
static void device_mismatch(void)
{
    const float x[4] = {1, 2, 3, 4};
    rlkd_tensor *g = tensor_on(gpu, x, 4, 0, 0, 0), *c = t_from(x, 4, 0, 0, 0);
    CHECK_FAILS(rlkd_relu_forward(gpu, g, c), RLKD_ERR_DEVICE_MISMATCH, "x");
    rlkd_tensor_destroy(g);
    rlkd_tensor_destroy(c);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/backend");
    test_run("gpu/round_trip", round_trip);
    test_run("gpu/fill_uniform_matches_cpu", fill_uniform_matches_cpu);
    test_run("gpu/relu_matches_cpu", relu_matches_cpu);
    test_run("gpu/device_mismatch", device_mismatch);
    return gpu_end();
}
