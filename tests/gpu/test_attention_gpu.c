/*
 * The channel-attention ops on the CUDA backend against the CPU backend on
 * the same inputs: global average pooling, SE, ECA, CBAM and the attention
 * transfer loss, forward and every gradient. Parameter gradients start from
 * the same nonzero values on both devices (they accumulate); dx starts from
 * other values (it is written). Gradients are also requested in subsets,
 * the others NULL, which takes the backends' shortcuts. The shapes reach
 * every path of kernels/attention.cuh: a thread, part of a warp, a warp and
 * a whole block per plane; float4 and scalar loads; partial warps and
 * tiles; more channels than a block has threads; a hidden layer wider than
 * a warp. RLKD_GPU_TEST_LARGE=1 adds benchmark-sized shapes (too slow for
 * the emulator). Exits 77 (skipped) with a message when there is no GPU.
 *
 * Tolerance, |gpu - cpu| <= atol + RTOL |cpu|: both backends round the
 * same float inputs, but the GPU adds its sums in float and in another
 * order (trees over threads), where the CPU adds some in double. Sums of
 * up to a few thousand terms of size ~1 then differ by ~1e-6 at most
 * (measured here: a few float ulps, the worst 3e-6 on a batch sum of 7.2),
 * so ATOL 1e-5 and RTOL 1e-4 leave a margin of 10. Parameter gradients sum
 * over the whole batch (CBAM's spatial taps over N*H*W positions, each
 * term a product of sums over channels; 50,000 positions in the large
 * shapes), hence ATOL_SUMS 1e-4.
 */
#include "gpu_test.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define ATOL_SUMS 1e-4

/* Each call of both_random its own values. */
static uint64_t next_seed = 1;

/* The same floats on both devices, uniform in [-scale, scale). */
static tensor_pair both_random(int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                               float scale)
{
    return pair_uniform(d0, d1, d2, d3, -scale, scale, next_seed++);
}

/* both_random when `present`, else absent. */
static tensor_pair both_maybe(int present, int64_t d0, int64_t d1, int64_t d2,
                              int64_t d3, float scale)
{
    tensor_pair absent = {NULL, NULL};
    return present ? both_random(d0, d1, d2, d3, scale) : absent;
}

/* The GPU's values against the CPU's (nothing to compare when absent). */
static void both_match(const char *label, const char *what,
                       const tensor_pair *b, double atol)
{
    char full[160];
    snprintf(full, sizeof full, "%s: %s", label, what);
    pair_matches(full, b, atol, RTOL);
}

/* ---- global average pooling ---- */

static void global_avgpool_case(int n, int c, int h, int w)
{
    char label[96];
    snprintf(label, sizeof label, "global_avgpool %dx%dx%dx%d", n, c, h, w);
    tensor_pair x = both_random(n, c, h, w, 1.0f);
    tensor_pair dy = both_random(n, c, 0, 0, 1);
    tensor_pair y = both_random(n, c, 0, 0, 1), dx = both_random(n, c, h, w, 1);
    CHECK_OK(rlkd_global_avgpool_forward(gpu, y.gpu, x.gpu));
    CHECK_OK(rlkd_global_avgpool_forward(test_ctx, y.cpu, x.cpu));
    both_match(label, "y", &y, ATOL);
    CHECK_OK(rlkd_global_avgpool_backward(gpu, dx.gpu, dy.gpu));
    CHECK_OK(rlkd_global_avgpool_backward(test_ctx, dx.cpu, dy.cpu));
    both_match(label, "dx", &dx, ATOL);
    tensor_pair all[] = {x, dy, y, dx};
    pairs_free(all, sizeof all / sizeof *all);
}

/* hw 1 (a thread per plane), 35 (scalar, part of a warp), 64 (float4),
 * 1221 (odd, a block per plane), 1152 (float4, a block per plane). */
static void global_avgpool_matches_cpu(void)
{
    global_avgpool_case(1, 1, 1, 1);
    global_avgpool_case(2, 3, 5, 7);
    global_avgpool_case(2, 5, 8, 8);
    global_avgpool_case(1, 3, 33, 37);
    global_avgpool_case(1, 2, 32, 36);
    if (gpu_large_tests())
        global_avgpool_case(64, 256, 14, 14);
}

/* ---- SE ---- */

/* Which gradients a backward call asks for (ECA's one weight: WANT_W). */
enum { WANT_DX = 1, WANT_W1 = 2, WANT_B1 = 4, WANT_W2 = 8, WANT_B2 = 16,
       WANT_WS = 32, WANT_BS = 64, WANT_ALL = 127, WANT_W = WANT_W1 };

/* The MLP of SE and CBAM: weights, optional biases, and the gradients
 * asked for (a bias gradient may be asked for without the bias). */
typedef struct mlp_operands {
    tensor_pair w1, b1, w2, b2, dw1, db1, dw2, db2;
} mlp_operands;

static mlp_operands mlp_make(int c, int hidden, int biases, unsigned wanted)
{
    mlp_operands m;
    m.w1 = both_random(hidden, c, 0, 0, 0.5f);
    m.b1 = both_maybe(biases, hidden, 0, 0, 0, 0.5f);
    m.w2 = both_random(c, hidden, 0, 0, 0.5f);
    m.b2 = both_maybe(biases, c, 0, 0, 0, 0.5f);
    m.dw1 = both_maybe(wanted & WANT_W1, hidden, c, 0, 0, 1);
    m.db1 = both_maybe(wanted & WANT_B1, hidden, 0, 0, 0, 1);
    m.dw2 = both_maybe(wanted & WANT_W2, c, hidden, 0, 0, 1);
    m.db2 = both_maybe(wanted & WANT_B2, c, 0, 0, 0, 1);
    return m;
}

static void mlp_match(const char *label, const mlp_operands *m)
{
    both_match(label, "dw1", &m->dw1, ATOL_SUMS);
    both_match(label, "db1", &m->db1, ATOL_SUMS);
    both_match(label, "dw2", &m->dw2, ATOL_SUMS);
    both_match(label, "db2", &m->db2, ATOL_SUMS);
}

static void mlp_free(mlp_operands *m)
{
    tensor_pair all[] = {m->w1,  m->b1,  m->w2,  m->b2,
                         m->dw1, m->db1, m->dw2, m->db2};
    pairs_free(all, sizeof all / sizeof *all);
}

static void se_case(int n, int c, int h, int w, int hidden, int biases,
                    unsigned wanted)
{
    char label[128];
    snprintf(label, sizeof label, "se %dx%dx%dx%d hidden %d%s wanted %#x", n,
             c, h, w, hidden, biases ? "" : " no biases", wanted);
    tensor_pair x = both_random(n, c, h, w, 1), dy = both_random(n, c, h, w, 1);
    tensor_pair y = both_random(n, c, h, w, 1);
    tensor_pair dx = both_maybe(wanted & WANT_DX, n, c, h, w, 1);
    mlp_operands m = mlp_make(c, hidden, biases, wanted);
    CHECK_OK(rlkd_se_forward(gpu, y.gpu, x.gpu, m.w1.gpu, m.b1.gpu, m.w2.gpu,
                             m.b2.gpu));
    CHECK_OK(rlkd_se_forward(test_ctx, y.cpu, x.cpu, m.w1.cpu, m.b1.cpu,
                             m.w2.cpu, m.b2.cpu));
    both_match(label, "y", &y, ATOL);
    CHECK_OK(rlkd_se_backward(gpu, dx.gpu, m.dw1.gpu, m.db1.gpu, m.dw2.gpu,
                              m.db2.gpu, dy.gpu, x.gpu, m.w1.gpu, m.b1.gpu,
                              m.w2.gpu, m.b2.gpu));
    CHECK_OK(rlkd_se_backward(test_ctx, dx.cpu, m.dw1.cpu, m.db1.cpu,
                              m.dw2.cpu, m.db2.cpu, dy.cpu, x.cpu, m.w1.cpu,
                              m.b1.cpu, m.w2.cpu, m.b2.cpu));
    both_match(label, "dx", &dx, ATOL);
    mlp_match(label, &m);
    tensor_pair all[] = {x, dy, y, dx};
    pairs_free(all, sizeof all / sizeof *all);
    mlp_free(&m);
}

static void se_matches_cpu(void)
{
    se_case(1, 1, 1, 1, 1, 1, WANT_ALL);
    se_case(2, 40, 5, 7, 3, 1, WANT_ALL);
    se_case(3, 70, 4, 4, 5, 0, WANT_ALL);
    /* a hidden layer wider than a warp; a plane per block (odd hw) */
    se_case(2, 48, 33, 37, 40, 1, WANT_ALL);
    /* more channels than the per-sample block has threads */
    se_case(2, 600, 2, 2, 2, 1, WANT_ALL);
    /* subsets: dx alone; the output layer's alone (no hidden gradient);
     * the hidden layer's alone; nothing */
    se_case(2, 40, 5, 7, 3, 1, WANT_DX);
    se_case(2, 40, 5, 7, 3, 1, WANT_W2 | WANT_B2);
    se_case(2, 40, 5, 7, 3, 0, WANT_W1 | WANT_B1);
    se_case(2, 40, 5, 7, 3, 1, 0);
    if (gpu_large_tests())
        se_case(64, 256, 28, 28, 16, 1, WANT_ALL);
}

/* ---- ECA ---- */

static void eca_case(int n, int c, int h, int w, int k, unsigned wanted)
{
    char label[128];
    snprintf(label, sizeof label, "eca %dx%dx%dx%d k %d wanted %#x", n, c, h,
             w, k, wanted);
    tensor_pair x = both_random(n, c, h, w, 1), dy = both_random(n, c, h, w, 1);
    tensor_pair y = both_random(n, c, h, w, 1), wt = both_random(k, 0, 0, 0, 1);
    tensor_pair dx = both_maybe(wanted & WANT_DX, n, c, h, w, 1);
    tensor_pair dw = both_maybe(wanted & WANT_W, k, 0, 0, 0, 1);
    CHECK_OK(rlkd_eca_forward(gpu, y.gpu, x.gpu, wt.gpu));
    CHECK_OK(rlkd_eca_forward(test_ctx, y.cpu, x.cpu, wt.cpu));
    both_match(label, "y", &y, ATOL);
    CHECK_OK(rlkd_eca_backward(gpu, dx.gpu, dw.gpu, dy.gpu, x.gpu, wt.gpu));
    CHECK_OK(rlkd_eca_backward(test_ctx, dx.cpu, dw.cpu, dy.cpu, x.cpu,
                               wt.cpu));
    both_match(label, "dx", &dx, ATOL);
    both_match(label, "dw", &dw, ATOL_SUMS);
    tensor_pair all[] = {x, dy, y, wt, dx, dw};
    pairs_free(all, sizeof all / sizeof *all);
}

static void eca_matches_cpu(void)
{
    eca_case(1, 1, 1, 1, 3, WANT_ALL);
    eca_case(2, 2, 3, 3, 5, WANT_ALL); /* a kernel wider than the channels */
    eca_case(2, 40, 5, 7, 1, WANT_ALL);
    eca_case(3, 37, 4, 6, 3, WANT_ALL);
    eca_case(2, 70, 8, 8, 5, WANT_ALL);
    eca_case(1, 3, 33, 37, 3, WANT_ALL);
    /* more (n, c) than one warp of the tap gradient covers */
    eca_case(3, 300, 1, 1, 5, WANT_ALL);
    eca_case(2, 40, 5, 7, 3, WANT_DX);
    eca_case(2, 40, 5, 7, 3, WANT_W);
    if (gpu_large_tests())
        eca_case(64, 256, 28, 28, 5, WANT_ALL);
}

/* ---- CBAM ---- */

static void cbam_case(int n, int c, int h, int w, int hidden, int k,
                      int biases, unsigned wanted)
{
    char label[160];
    snprintf(label, sizeof label,
             "cbam %dx%dx%dx%d hidden %d k %d%s wanted %#x", n, c, h, w,
             hidden, k, biases ? "" : " no biases", wanted);
    tensor_pair x = both_random(n, c, h, w, 1), dy = both_random(n, c, h, w, 1);
    tensor_pair y = both_random(n, c, h, w, 1);
    tensor_pair ws = both_random(1, 2, k, k, 0.5f);
    tensor_pair bs = both_maybe(biases, 1, 0, 0, 0, 0.5f);
    tensor_pair dx = both_maybe(wanted & WANT_DX, n, c, h, w, 1);
    tensor_pair dws = both_maybe(wanted & WANT_WS, 1, 2, k, k, 1);
    tensor_pair dbs = both_maybe(wanted & WANT_BS, 1, 0, 0, 0, 1);
    mlp_operands m = mlp_make(c, hidden, biases, wanted);
    CHECK_OK(rlkd_cbam_forward(gpu, y.gpu, x.gpu, m.w1.gpu, m.b1.gpu,
                               m.w2.gpu, m.b2.gpu, ws.gpu, bs.gpu));
    CHECK_OK(rlkd_cbam_forward(test_ctx, y.cpu, x.cpu, m.w1.cpu, m.b1.cpu,
                               m.w2.cpu, m.b2.cpu, ws.cpu, bs.cpu));
    both_match(label, "y", &y, ATOL);
    CHECK_OK(rlkd_cbam_backward(gpu, dx.gpu, m.dw1.gpu, m.db1.gpu, m.dw2.gpu,
                                m.db2.gpu, dws.gpu, dbs.gpu, dy.gpu, x.gpu,
                                m.w1.gpu, m.b1.gpu, m.w2.gpu, m.b2.gpu,
                                ws.gpu, bs.gpu));
    CHECK_OK(rlkd_cbam_backward(test_ctx, dx.cpu, m.dw1.cpu, m.db1.cpu,
                                m.dw2.cpu, m.db2.cpu, dws.cpu, dbs.cpu,
                                dy.cpu, x.cpu, m.w1.cpu, m.b1.cpu, m.w2.cpu,
                                m.b2.cpu, ws.cpu, bs.cpu));
    both_match(label, "dx", &dx, ATOL);
    mlp_match(label, &m);
    both_match(label, "dws", &dws, ATOL_SUMS);
    both_match(label, "dbs", &dbs, ATOL_SUMS);
    tensor_pair all[] = {x, dy, y, ws, bs, dx, dws, dbs};
    pairs_free(all, sizeof all / sizeof *all);
    mlp_free(&m);
}

static void cbam_matches_cpu(void)
{
    cbam_case(1, 1, 1, 1, 1, 3, 1, WANT_ALL);
    cbam_case(2, 5, 6, 7, 2, 3, 1, WANT_ALL);
    cbam_case(2, 13, 9, 10, 3, 7, 0, WANT_ALL);
    cbam_case(2, 20, 8, 8, 2, 7, 1, WANT_ALL);    /* float4 */
    cbam_case(1, 9, 33, 37, 40, 7, 1, WANT_ALL);  /* a block per plane */
    cbam_case(2, 600, 2, 2, 2, 3, 1, WANT_ALL);   /* channels > a block */
    /* subsets: dx alone; the spatial gate's alone (nothing of the channel
     * gate's backward runs); the MLP's output layer alone */
    cbam_case(2, 13, 9, 10, 3, 7, 1, WANT_DX);
    cbam_case(2, 13, 9, 10, 3, 7, 1, WANT_WS | WANT_BS);
    cbam_case(2, 13, 9, 10, 3, 7, 1, WANT_BS);
    cbam_case(2, 13, 9, 10, 3, 7, 0, WANT_W2 | WANT_B2);
    cbam_case(2, 13, 9, 10, 3, 7, 1, 0);
    if (gpu_large_tests())
        cbam_case(64, 128, 28, 28, 8, 7, 1, WANT_ALL);
}

/* Ties: every position of a plane holds the same value and every channel
 * the same gated value, so the maxima's first position and first channel
 * take the gradients, as on the CPU. */
static void cbam_ties_match_cpu(void)
{
    enum { N = 2, C = 6, H = 5, W = 4, HIDDEN = 2, K = 3 };
    const char *label = "cbam ties";
    tensor_pair x = both_random(N, C, H, W, 1), dy = both_random(N, C, H, W, 1);
    float *ones = malloc(N * C * H * W * sizeof *ones);
    for (int i = 0; i < N * C * H * W; i++)
        ones[i] = 0.5f;
    test_must(rlkd_tensor_write(x.cpu, ones, N * C * H * W), "write");
    test_must(rlkd_tensor_write(x.gpu, ones, N * C * H * W), "write");
    free(ones);
    tensor_pair y = both_random(N, C, H, W, 1);
    tensor_pair ws = both_random(1, 2, K, K, 0.5f);
    tensor_pair dx = both_random(N, C, H, W, 1);
    tensor_pair dws = both_random(1, 2, K, K, 1);
    /* equal gates: the MLP's second layer all zeros */
    mlp_operands m = mlp_make(C, HIDDEN, 0, WANT_ALL);
    CHECK_OK(rlkd_tensor_fill(m.w2.cpu, 0.0f));
    CHECK_OK(rlkd_tensor_fill(m.w2.gpu, 0.0f));
    CHECK_OK(rlkd_cbam_forward(gpu, y.gpu, x.gpu, m.w1.gpu, NULL, m.w2.gpu,
                               NULL, ws.gpu, NULL));
    CHECK_OK(rlkd_cbam_forward(test_ctx, y.cpu, x.cpu, m.w1.cpu, NULL,
                               m.w2.cpu, NULL, ws.cpu, NULL));
    both_match(label, "y", &y, ATOL);
    CHECK_OK(rlkd_cbam_backward(gpu, dx.gpu, m.dw1.gpu, m.db1.gpu, m.dw2.gpu,
                                m.db2.gpu, dws.gpu, NULL, dy.gpu, x.gpu,
                                m.w1.gpu, NULL, m.w2.gpu, NULL, ws.gpu,
                                NULL));
    CHECK_OK(rlkd_cbam_backward(test_ctx, dx.cpu, m.dw1.cpu, m.db1.cpu,
                                m.dw2.cpu, m.db2.cpu, dws.cpu, NULL, dy.cpu,
                                x.cpu, m.w1.cpu, NULL, m.w2.cpu, NULL, ws.cpu,
                                NULL));
    both_match(label, "dx", &dx, ATOL);
    mlp_match(label, &m);
    both_match(label, "dws", &dws, ATOL_SUMS);
    tensor_pair all[] = {x, dy, y, ws, dx, dws};
    pairs_free(all, sizeof all / sizeof *all);
    mlp_free(&m);
}

/* The same call twice gives the same bits: no reduction depends on
 * timing (on a GPU; the emulator runs one thread at a time). */
static void cbam_is_deterministic(void)
{
    enum { N = 2, C = 13, H = 9, W = 10, HIDDEN = 3, K = 7 };
    tensor_pair x = both_random(N, C, H, W, 1), dy = both_random(N, C, H, W, 1);
    tensor_pair ws = both_random(1, 2, K, K, 0.5f);
    tensor_pair bs = both_random(1, 0, 0, 0, 1);
    mlp_operands m = mlp_make(C, HIDDEN, 1, 0);
    rlkd_tensor *out[2][4];
    for (int run = 0; run < 2; run++) {
        out[run][0] = g_new(N, C, H, W);
        out[run][1] = g_new(N, C, H, W);
        out[run][2] = g_new(HIDDEN, C, 0, 0);
        out[run][3] = g_new(1, 2, K, K);
        CHECK_OK(rlkd_cbam_forward(gpu, out[run][0], x.gpu, m.w1.gpu,
                                   m.b1.gpu, m.w2.gpu, m.b2.gpu, ws.gpu,
                                   bs.gpu));
        CHECK_OK(rlkd_cbam_backward(gpu, out[run][1], out[run][2], NULL,
                                    NULL, NULL, out[run][3], NULL, dy.gpu,
                                    x.gpu, m.w1.gpu, m.b1.gpu, m.w2.gpu,
                                    m.b2.gpu, ws.gpu, bs.gpu));
    }
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(test_same_values(out[0][i], out[1][i]),
                  "output %d differs between two runs", i);
        rlkd_tensor_destroy(out[0][i]);
        rlkd_tensor_destroy(out[1][i]);
    }
    tensor_pair all[] = {x, dy, ws, bs};
    pairs_free(all, sizeof all / sizeof *all);
    mlp_free(&m);
}

/* ---- attention transfer ---- */

static void attention_transfer_case(int n, int cs, int ct, int h, int w,
                                    int zero_student, float dloss)
{
    char label[128];
    snprintf(label, sizeof label, "attention transfer %dx%d/%dx%dx%d%s", n,
             cs, ct, h, w, zero_student ? " zero student" : "");
    tensor_pair s = both_random(n, cs, h, w, 1);
    tensor_pair t = both_random(n, ct, h, w, 1);
    if (zero_student) {
        CHECK_OK(rlkd_tensor_fill(s.cpu, 0.0f));
        CHECK_OK(rlkd_tensor_fill(s.gpu, 0.0f));
    }
    tensor_pair loss = both_random(1, 0, 0, 0, 1);
    tensor_pair ds = both_random(n, cs, h, w, 1);
    tensor_pair back = both_random(n, cs, h, w, 1);
    CHECK_OK(rlkd_attention_transfer_loss_forward(gpu, loss.gpu, ds.gpu,
                                                  s.gpu, t.gpu));
    CHECK_OK(rlkd_attention_transfer_loss_forward(test_ctx, loss.cpu, ds.cpu,
                                                  s.cpu, t.cpu));
    both_match(label, "loss", &loss, ATOL);
    both_match(label, "dstudent", &ds, ATOL);
    CHECK_OK(rlkd_attention_transfer_loss_backward(gpu, back.gpu, s.gpu,
                                                   t.gpu, dloss));
    CHECK_OK(rlkd_attention_transfer_loss_backward(test_ctx, back.cpu, s.cpu,
                                                   t.cpu, dloss));
    both_match(label, "dstudent from backward", &back, ATOL);
    /* the loss alone */
    CHECK_OK(rlkd_tensor_fill(loss.gpu, 7.0f));
    CHECK_OK(rlkd_attention_transfer_loss_forward(gpu, loss.gpu, NULL, s.gpu,
                                                  t.gpu));
    both_match(label, "loss without dstudent", &loss, ATOL);
    tensor_pair all[] = {s, t, loss, ds, back};
    pairs_free(all, sizeof all / sizeof *all);
}

static void attention_transfer_matches_cpu(void)
{
    attention_transfer_case(1, 1, 1, 1, 1, 0, 1.0f);
    attention_transfer_case(2, 5, 11, 5, 7, 0, 0.7f);
    attention_transfer_case(3, 20, 9, 8, 8, 0, -2.0f); /* float4 */
    attention_transfer_case(2, 3, 4, 33, 37, 0, 1.0f); /* hw > a block */
    attention_transfer_case(2, 5, 11, 4, 6, 1, 1.0f);  /* clamped norm */
    if (gpu_large_tests())
        attention_transfer_case(64, 128, 256, 28, 28, 0, 1.0f);
}

int main(void)
{
    test_main_begin();
    gpu_begin("gpu/attention");
    test_run("gpu/global_avgpool_matches_cpu", global_avgpool_matches_cpu);
    test_run("gpu/se_matches_cpu", se_matches_cpu);
    test_run("gpu/eca_matches_cpu", eca_matches_cpu);
    test_run("gpu/cbam_matches_cpu", cbam_matches_cpu);
    test_run("gpu/cbam_ties_match_cpu", cbam_ties_match_cpu);
    test_run("gpu/cbam_is_deterministic", cbam_is_deterministic);
    test_run("gpu/attention_transfer_matches_cpu",
             attention_transfer_matches_cpu);
    return gpu_end();
}
