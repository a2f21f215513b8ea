/*
 * The CUDA elementwise and optimiser kernels (kernels/add.cu, dropout.cu,
 * channel_mask.cu, concat.cu, sgd_step.cu, adam_step.cu) against the CPU
 * reference on the same inputs. Every one is expected to give the CPU's
 * bits, so they are compared exactly:
 *  - add, channel_mask, dropout's y and backward: one float operation per
 *    element, the same on both;
 *  - concat: copies;
 *  - dropout's mask: element i is a pure function of (seed, stream, i)
 *    (Philox, lib/core/philox.h) on both devices;
 *  - sgd and adam: the CPU's order of operations with every product and
 *    sum rounded on its own (no fused multiply-add on either side), sqrtf
 *    and division correctly rounded, the bias corrections computed on the
 *    host the same way.
 * Each op runs on 16-byte aligned tensors whose size is not a multiple of 4
 * (the float4 path and its tail) and on views one float off alignment (the
 * float-by-float path). Exits 77 (skipped) with a message when there is no
 * usable GPU. Sizes stay small for the emulator (tests/emu).
 */
#include "gpu_test.h"

#include <string.h>

enum { N = 1031 }; /* 257 quads and a tail of 3 */

/* A GPU tensor of n floats holding data, `offset` floats into a larger
 * allocation (offset 1: not 16-byte aligned). *base receives the allocation
 * (destroy it after the view). */
static rlkd_tensor *g_view(const float *data, size_t n, int offset,
                           rlkd_tensor **base)
{
    *base = g_new((int64_t)n + offset, 0, 0, 0);
    int64_t shape = (int64_t)n;
    rlkd_tensor *t = NULL;
    test_must(rlkd_tensor_wrap(gpu, RLKD_DTYPE_F32, 1, &shape,
                               (float *)rlkd_tensor_data(*base) + offset, &t),
              "rlkd_tensor_wrap on the GPU");
    test_must(rlkd_tensor_write(t, data, n), "rlkd_tensor_write");
    return t;
}

/* ---- add ---- */

static void add_at(int offset)
{
    float *a = uniform_floats(N, -3, 3, 1), *b = uniform_floats(N, -3, 3, 2);
    rlkd_tensor *ba, *bb, *by;
    rlkd_tensor *ga = g_view(a, N, offset, &ba), *gb = g_view(b, N, offset, &bb);
    rlkd_tensor *gy = g_view(a, N, offset, &by);
    rlkd_tensor *ca = t_from(a, N, 0, 0, 0), *cb = t_from(b, N, 0, 0, 0);
    rlkd_tensor *cy = t_new(N, 0, 0, 0);
    CHECK_OK(rlkd_add_forward(gpu, gy, ga, gb));
    CHECK_OK(rlkd_add_forward(test_ctx, cy, ca, cb));
    gpu_same_bits("add", gy, cy);
    /* In place: y is a. */
    CHECK_OK(rlkd_add_forward(gpu, ga, ga, gb));
    gpu_same_bits("add in place", ga, cy);
    rlkd_tensor *all[] = {ga, gb, gy, ba, bb, by, ca, cb, cy};
    tensors_destroy(all, sizeof all / sizeof all[0]);
    free(a);
    free(b);
}

static void add_matches_cpu(void)
{
    add_at(0);
    add_at(1);
}

/* ---- dropout ---- */

static void dropout_at(int offset, float p, int training)
{
    float *x = uniform_floats(N, -2, 2, 3), *dy = uniform_floats(N, -1, 1, 4);
    rlkd_tensor *bx, *by, *bm, *bdy, *bdx;
    rlkd_tensor *gx = g_view(x, N, offset, &bx), *gy = g_view(x, N, offset, &by);
    rlkd_tensor *gm = g_view(x, N, offset, &bm);
    rlkd_tensor *gdy = g_view(dy, N, offset, &bdy);
    rlkd_tensor *gdx = g_view(dy, N, offset, &bdx);
    rlkd_tensor *cx = t_from(x, N, 0, 0, 0), *cy = t_new(N, 0, 0, 0);
    rlkd_tensor *cm = t_new(N, 0, 0, 0), *cdy = t_from(dy, N, 0, 0, 0);
    rlkd_tensor *cdx = t_new(N, 0, 0, 0);
    CHECK_OK(rlkd_context_set_seed(gpu, 1234));
    CHECK_OK(rlkd_context_set_seed(test_ctx, 1234));
    CHECK_OK(rlkd_dropout_forward(gpu, gy, gm, gx, p, training));
    CHECK_OK(rlkd_dropout_forward(test_ctx, cy, cm, cx, p, training));
    CHECK_OK(rlkd_dropout_backward(gpu, gdx, gdy, gm));
    CHECK_OK(rlkd_dropout_backward(test_ctx, cdx, cdy, cm));
    gpu_same_bits("dropout mask", gm, cm);
    gpu_same_bits("dropout y", gy, cy);
    gpu_same_bits("dropout dx", gdx, cdx);

    /* The mask drops about p of the elements (so it is not all kept) and
     * a second draw (the next stream) is another mask. */
    float *mask = t_get(gm);
    int dropped = 0;
    for (int i = 0; i < N; i++)
        dropped += mask[i] == 0.0f;
    if (training && p > 0.0f) {
        CHECK_MSG(dropped > N * p / 2 && dropped < N * p * 3 / 2,
                  "%d of %d dropped at p %g", dropped, N, (double)p);
        CHECK_OK(rlkd_dropout_forward(gpu, gy, gm, gx, p, training));
        float *again = t_get(gm);
        CHECK(memcmp(mask, again, N * sizeof *mask) != 0);
        free(again);
    } else {
        CHECK(dropped == 0);
    }
    free(mask);
    rlkd_tensor *all[] = {gx, gy, gm, gdy, gdx, bx, by, bm, bdy, bdx,
                          cx, cy, cm, cdy, cdx};
    tensors_destroy(all, sizeof all / sizeof all[0]);
    free(x);
    free(dy);
}

static void dropout_matches_cpu(void)
{
    dropout_at(0, 0.3f, 1);
    dropout_at(1, 0.5f, 1);
    dropout_at(0, 0.0f, 1);
    dropout_at(0, 0.3f, 0);
}

/* ---- channel_mask ---- */

static void channel_mask_shape(int n, int c, int h, int w)
{
    size_t count = (size_t)n * c * (h ? h : 1) * (w ? w : 1);
    float *x = uniform_floats(count, -2, 2, 5);
    float *mask = uniform_floats((size_t)c, 0, 1, 6);
    mask[0] = 0.0f;
    if (c > 2)
        mask[2] = 1.0f;
    rlkd_tensor *cx = t_from(x, n, c, h, w), *cm = t_from(mask, c, 0, 0, 0);
    rlkd_tensor *cy = t_from(x, n, c, h, w), *cdx = t_from(x, n, c, h, w);
    rlkd_tensor *gx = g_copy(cx), *gm = g_copy(cm), *gy = g_copy(cy);
    rlkd_tensor *gdx = g_copy(cdx);
    CHECK_OK(rlkd_channel_mask_forward(gpu, gy, gx, gm));
    CHECK_OK(rlkd_channel_mask_forward(test_ctx, cy, cx, cm));
    gpu_same_bits("channel_mask forward", gy, cy);
    CHECK_OK(rlkd_channel_mask_backward(gpu, gdx, gy, gm));
    CHECK_OK(rlkd_channel_mask_backward(test_ctx, cdx, cy, cm));
    gpu_same_bits("channel_mask backward", gdx, cdx);
    rlkd_tensor *all[] = {cx, cm, cy, cdx, gx, gm, gy, gdx};
    tensors_destroy(all, sizeof all / sizeof all[0]);
    free(x);
    free(mask);
}

static void channel_mask_matches_cpu(void)
{
    channel_mask_shape(3, 5, 4, 4); /* float4: planes of 16 */
    channel_mask_shape(3, 5, 3, 3); /* planes of 9: float by float */
    channel_mask_shape(7, 6, 0, 0); /* [N,C] */
}

/* ---- concat ---- */

/* Three inputs of c0, c1, c2 channels into y and back. */
static void concat_shape(int n, int h, int w, const int64_t channels[3])
{
    const int64_t total = channels[0] + channels[1] + channels[2];
    rlkd_tensor *cx[3], *gx[3], *cdx[3], *gdx[3];
    for (int i = 0; i < 3; i++) {
        size_t count = (size_t)n * channels[i] * h * w;
        float *x = uniform_floats(count, -1, 1, 10 + (uint64_t)i);
        cx[i] = t_from(x, n, channels[i], h, w);
        gx[i] = g_copy(cx[i]);
        cdx[i] = t_new(n, channels[i], h, w);
        gdx[i] = g_new(n, channels[i], h, w);
        free(x);
    }
    rlkd_tensor *cy = t_new(n, total, h, w), *gy = g_new(n, total, h, w);
    CHECK_OK(rlkd_concat_forward(gpu, gy, (const rlkd_tensor *const *)gx, 3));
    CHECK_OK(rlkd_concat_forward(test_ctx, cy, (const rlkd_tensor *const *)cx,
                                 3));
    gpu_same_bits("concat forward", gy, cy);
    /* The middle gradient skipped. */
    rlkd_tensor *gparts[3] = {gdx[0], NULL, gdx[2]};
    rlkd_tensor *cparts[3] = {cdx[0], NULL, cdx[2]};
    CHECK_OK(rlkd_concat_backward(gpu, gparts, gy, channels, 3));
    CHECK_OK(rlkd_concat_backward(test_ctx, cparts, cy, channels, 3));
    for (int i = 0; i < 3; i++) {
        gpu_same_bits("concat backward", gdx[i], cdx[i]);
        /* Backward gives each input back. */
        if (i != 1)
            gpu_same_bits("concat round trip", gdx[i], cx[i]);
    }
    CHECK(test_all_equal(gdx[1], 0.0f));
    for (int i = 0; i < 3; i++) {
        rlkd_tensor_destroy(cx[i]);
        rlkd_tensor_destroy(gx[i]);
        rlkd_tensor_destroy(cdx[i]);
        rlkd_tensor_destroy(gdx[i]);
    }
    rlkd_tensor_destroy(cy);
    rlkd_tensor_destroy(gy);
}

static void concat_matches_cpu(void)
{
    const int64_t odd[3] = {3, 1, 5}, even[3] = {4, 8, 4};
    concat_shape(3, 2, 2, odd);  /* planes of 4: float4 */
    concat_shape(3, 3, 3, odd);  /* planes of 9, runs of 27: float by float */
    concat_shape(2, 1, 1, even); /* 1x1 planes, runs of 4 and 8: float4 */
    concat_shape(2, 1, 1, odd);  /* 1x1 planes, odd runs: float by float */
}

/* ---- sgd ---- */

static void sgd_case(float momentum, float weight_decay, int nesterov,
                     int offset)
{
    float *param = uniform_floats(N, -1, 1, 20);
    float *zeros = calloc(N, sizeof *zeros);
    if (!zeros)
        test_fatal("calloc");
    rlkd_tensor *bp, *bb, *bg;
    rlkd_tensor *gp = g_view(param, N, offset, &bp);
    rlkd_tensor *gbuf = g_view(zeros, N, offset, &bb);
    rlkd_tensor *cp = t_from(param, N, 0, 0, 0), *cbuf = t_new(N, 0, 0, 0);
    const int use_buf = momentum > 0.0f;
    for (int step = 0; step < 3; step++) {
        float *grad = uniform_floats(N, -1, 1, 30 + (uint64_t)step);
        rlkd_tensor *gg = g_view(grad, N, offset, &bg);
        rlkd_tensor *cg = t_from(grad, N, 0, 0, 0);
        CHECK_OK(rlkd_sgd_step(gpu, gp, use_buf ? gbuf : NULL, gg, 0.1f,
                               momentum, weight_decay, nesterov));
        CHECK_OK(rlkd_sgd_step(test_ctx, cp, use_buf ? cbuf : NULL, cg, 0.1f,
                               momentum, weight_decay, nesterov));
        rlkd_tensor_destroy(gg);
        rlkd_tensor_destroy(bg);
        rlkd_tensor_destroy(cg);
        free(grad);
    }
    char what[96];
    snprintf(what, sizeof what, "sgd momentum %g decay %g nesterov %d: param",
             (double)momentum, (double)weight_decay, nesterov);
    gpu_same_bits(what, gp, cp);
    if (use_buf) {
        snprintf(what, sizeof what, "sgd momentum %g decay %g nesterov %d: buf",
                 (double)momentum, (double)weight_decay, nesterov);
        gpu_same_bits(what, gbuf, cbuf);
    }
    rlkd_tensor *all[] = {gp, gbuf, bp, bb, cp, cbuf};
    tensors_destroy(all, sizeof all / sizeof all[0]);
    free(param);
    free(zeros);
}

static void sgd_matches_cpu(void)
{
    const float momenta[] = {0.0f, 0.9f}, decays[] = {0.0f, 5e-4f};
    for (int m = 0; m < 2; m++)
        for (int d = 0; d < 2; d++)
            for (int nesterov = 0; nesterov <= (momenta[m] > 0.0f); nesterov++)
                sgd_case(momenta[m], decays[d], nesterov, 0);
    sgd_case(0.9f, 5e-4f, 1, 1);
}

/* ---- adam ---- */

static void adam_case(float weight_decay, int decoupled, int offset)
{
    float *param = uniform_floats(N, -1, 1, 40);
    float *zeros = calloc(N, sizeof *zeros);
    if (!zeros)
        test_fatal("calloc");
    rlkd_tensor *bp, *bm, *bv, *bg;
    rlkd_tensor *gp = g_view(param, N, offset, &bp);
    rlkd_tensor *gm = g_view(zeros, N, offset, &bm);
    rlkd_tensor *gv = g_view(zeros, N, offset, &bv);
    rlkd_tensor *cp = t_from(param, N, 0, 0, 0), *cm = t_new(N, 0, 0, 0);
    rlkd_tensor *cv = t_new(N, 0, 0, 0);
    for (int step = 1; step <= 4; step++) {
        float *grad = uniform_floats(N, -1, 1, 50 + (uint64_t)step);
        rlkd_tensor *gg = g_view(grad, N, offset, &bg);
        rlkd_tensor *cg = t_from(grad, N, 0, 0, 0);
        CHECK_OK(rlkd_adam_step(gpu, gp, gm, gv, gg, 1e-2f, 0.9f, 0.999f,
                                1e-8f, weight_decay, decoupled, step));
        CHECK_OK(rlkd_adam_step(test_ctx, cp, cm, cv, cg, 1e-2f, 0.9f, 0.999f,
                                1e-8f, weight_decay, decoupled, step));
        rlkd_tensor_destroy(gg);
        rlkd_tensor_destroy(bg);
        rlkd_tensor_destroy(cg);
        free(grad);
    }
    char what[96];
    snprintf(what, sizeof what, "adam decay %g decoupled %d: param",
             (double)weight_decay, decoupled);
    gpu_same_bits(what, gp, cp);
    snprintf(what, sizeof what, "adam decay %g decoupled %d: m",
             (double)weight_decay, decoupled);
    gpu_same_bits(what, gm, cm);
    snprintf(what, sizeof what, "adam decay %g decoupled %d: v",
             (double)weight_decay, decoupled);
    gpu_same_bits(what, gv, cv);
    rlkd_tensor *all[] = {gp, gm, gv, bp, bm, bv, cp, cm, cv};
    tensors_destroy(all, sizeof all / sizeof all[0]);
    free(param);
    free(zeros);
}

static void adam_matches_cpu(void)
{
    adam_case(0.0f, 0, 0);
    adam_case(0.01f, 0, 0);
    adam_case(0.01f, 1, 0);
    adam_case(0.01f, 1, 1);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/elementwise");
    test_run("gpu/add_matches_cpu", add_matches_cpu);
    test_run("gpu/dropout_matches_cpu", dropout_matches_cpu);
    test_run("gpu/channel_mask_matches_cpu", channel_mask_matches_cpu);
    test_run("gpu/concat_matches_cpu", concat_matches_cpu);
    test_run("gpu/sgd_matches_cpu", sgd_matches_cpu);
    test_run("gpu/adam_matches_cpu", adam_matches_cpu);
    return gpu_end();
}
