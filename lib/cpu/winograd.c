/*
 * 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016): each 2x2 block of outputs comes from a 4x4 tile of input as
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
 * so that across channels the work is 16 GEMMs, one per tile position xi,
 *   M[xi] [Cout, T] = U[xi] [Cout, Cin] V[xi] [Cin, T]   (T: tiles),
 * of 16 multiply-adds per 4 outputs instead of 36: 2.25 times fewer. The
 * transforms have coefficients 0, +-1 and +-1/2, so the rounding stays
 * within a few units in the last place of the direct sum.
 *
 * Backward-data is the same algorithm: dx is the convolution of dy with
 * the kernel turned 180 degrees and its channel axes swapped, padded by
 * 2 - pad. The filter gradient stays with conv2d.c's GEMMs.
 *
 * Work is split as in conv2d.c: a block of images per thread, chunks of
 * images per GEMM, fixed orders, buffers in the context's workspace.
 */
#include "cpu.h"

#include <string.h>

/* Tiles a chunk aims for: the GEMMs' N. */
#define RLKD_WINOGRAD_CHUNK_TILES 256
/* Floats a block's transformed input may take before chunks stop growing. */
#define RLKD_WINOGRAD_CHUNK_FLOATS ((size_t)2 << 20)
/* Tile positions: the 4x4 input tile. */
#define XI 16

int rlkd_cpu_winograd_applies(const rlkd_conv2d_geom *g)
{
    /* Channels: below 16 the GEMMs are too thin to pay for the transforms.
     * Padding up to 2 keeps backward-data's padding, 2 - pad, >= 0. */
    return g->kernel_h == 3 && g->kernel_w == 3 && g->stride_h == 1 &&
           g->stride_w == 1 && g->dilation_h == 1 && g->dilation_w == 1 &&
           g->groups == 1 && g->pad_h <= 2 && g->pad_w <= 2 &&
           g->in_c >= 16 && g->out_c >= 16;
}

/* One Winograd convolution: out [n][out_c, out_h, out_w] from
 * in [n][in_c, in_h, in_w] and transformed weights u [XI][out_c][in_c]. */
typedef struct {
    int n, in_c, in_h, in_w, out_c, out_h, out_w, pad_h, pad_w;
    int tiles_h, tiles_w; /* 2x2 output tiles per image, edges included */
} winograd_geom;

static winograd_geom winograd_geom_of(int n, int in_c, int in_h, int in_w,
                                      int out_c, int out_h, int out_w,
                                      int pad_h, int pad_w)
{
    winograd_geom wg = {n, in_c, in_h, in_w, out_c, out_h, out_w, pad_h,
                        pad_w, (out_h + 1) / 2, (out_w + 1) / 2};
    return wg;
}

/* How the images go over the threads, as conv2d.c's conv_split. */
typedef struct {
    int blocks, per_image, chunk;
} winograd_split;

static winograd_split winograd_split_of(const rlkd_context *ctx,
                                        const winograd_geom *wg)
{
    winograd_split s = wg->n >= ctx->num_threads
                           ? (winograd_split){ctx->num_threads, 1, 1}
                           : (winograd_split){1, ctx->num_threads, 1};
    const int tiles = wg->tiles_h * wg->tiles_w;
    const int block_images = (wg->n + s.blocks - 1) / s.blocks;
    s.chunk = (RLKD_WINOGRAD_CHUNK_TILES + tiles - 1) / tiles;
    const size_t image_floats = (size_t)XI * wg->in_c * tiles;
    if ((size_t)s.chunk * image_floats > RLKD_WINOGRAD_CHUNK_FLOATS)
        s.chunk = (int)(RLKD_WINOGRAD_CHUNK_FLOATS / image_floats);
    if (s.chunk > block_images)
        s.chunk = block_images;
    if (s.chunk < 1)
        s.chunk = 1;
    return s;
}

/* The row stride of V and M for a full chunk's tiles. */
static size_t chunk_stride(const winograd_split *s, const winograd_geom *wg)
{
    return (size_t)rlkd_cpu_padded_stride(s->chunk * wg->tiles_h *
                                          wg->tiles_w);
}

/* Floats of one block's buffers: V [XI][in_c][T] and M [XI][out_c][T],
 * rows of chunk_stride. */
static size_t block_floats(const winograd_split *s, const winograd_geom *wg)
{
    return (size_t)XI * (wg->in_c + wg->out_c) * chunk_stride(s, wg);
}

/* ---- the three transforms ---- */

/* Kernels, tiles or outputs that a transform takes at once, through a
 * local buffer: the 16 values of each go to 16 places XI strides apart
 * (often a multiple of 4 KiB: the same cache set), so they are gathered
 * per tile position and moved as 16 contiguous runs instead. */
#define RUN 32

/* u [XI][rows][cols] from 3x3 kernels: kernel (r, c) maps input channel c
 * to output channel r; `turned` reads w [cols][rows][3][3] back to front
 * (backward-data), else w is [rows][cols][3][3]. U = G g G^T with
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
static void transform_kernels(int threads, float *u, const float *w, int rows,
                              int cols, int turned)
{
    const size_t plane = (size_t)rows * cols;
    #pragma omp parallel for num_threads(threads) if (plane > 4096)
    for (int r = 0; r < rows; r++) {
        float run[XI][RUN];
        for (int c0 = 0; c0 < cols; c0 += RUN) {
            const int count = cols - c0 < RUN ? cols - c0 : RUN;
            for (int k = 0; k < count; k++) {
                const int c = c0 + k;
                const float *kernel = turned ? w + ((size_t)c * rows + r) * 9
                                             : w + ((size_t)r * cols + c) * 9;
                float g[3][3];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        g[i][j] = turned ? kernel[(2 - i) * 3 + (2 - j)]
                                         : kernel[i * 3 + j];
                float gg[4][3]; /* G g */
                for (int j = 0; j < 3; j++) {
                    gg[0][j] = g[0][j];
                    gg[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                    gg[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                    gg[3][j] = g[2][j];
                }
                for (int i = 0; i < 4; i++) {
                    run[4 * i][k] = gg[i][0];
                    run[4 * i + 1][k] =
                        0.5f * (gg[i][0] + gg[i][1] + gg[i][2]);
                    run[4 * i + 2][k] =
                        0.5f * (gg[i][0] - gg[i][1] + gg[i][2]);
                    run[4 * i + 3][k] = gg[i][2];
                }
            }
            float *dst = u + (size_t)r * cols + c0;
            for (int xi = 0; xi < XI; xi++)
                memcpy(dst + xi * plane, run[xi],
                       (size_t)count * sizeof run[xi][0]);
        }
    }
}

/* The 4x4 input tile at (row0, col0) of a plane, zero outside it. */
static inline void load_tile(float d[4][4], const float *plane,
                             const winograd_geom *wg, int row0, int col0)
{
    if (row0 >= 0 && col0 >= 0 && row0 + 4 <= wg->in_h &&
        col0 + 4 <= wg->in_w) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                d[i][j] = plane[(size_t)(row0 + i) * wg->in_w + col0 + j];
        return;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const int r = row0 + i, c = col0 + j;
            d[i][j] = r >= 0 && r < wg->in_h && c >= 0 && c < wg->in_w
                          ? plane[(size_t)r * wg->in_w + c]
                          : 0.0f;
        }
}

/* A tile of a chunk: its image and its place in the image's tile grid,
 * stepped through in the order of the GEMMs' columns. */
typedef struct {
    int image, th, tw;
} tile_at;

static tile_at tile_of(size_t t, const winograd_geom *wg)
{
    const int tiles = wg->tiles_h * wg->tiles_w;
    const int in_image = (int)(t % tiles);
    return (tile_at){(int)(t / tiles), in_image / wg->tiles_w,
                     in_image % wg->tiles_w};
}

static void next_tile(tile_at *at, const winograd_geom *wg)
{
    if (++at->tw < wg->tiles_w)
        return;
    at->tw = 0;
    if (++at->th < wg->tiles_h)
        return;
    at->th = 0;
    at->image++;
}

/* How many of the chunk's ld tiles a run from t0 takes. */
static int run_count(size_t t0, size_t ld)
{
    return ld - t0 < RUN ? (int)(ld - t0) : RUN;
}

/* v [XI][in_c][stride] = B^T d B of each of the chunk's ld tiles of `in`,
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Runs go across rows and
 * images alike, so small images make full runs too. */
static void transform_input(float *v, const float *in, size_t ld,
                            size_t stride, const winograd_geom *wg)
{
    const size_t in_plane = (size_t)wg->in_h * wg->in_w;
    const size_t xi_stride = (size_t)wg->in_c * stride;
    float run[XI][RUN];
    for (int c = 0; c < wg->in_c; c++)
        for (size_t t0 = 0; t0 < ld; t0 += RUN) {
            const int count = run_count(t0, ld);
            tile_at at = tile_of(t0, wg);
            for (int k = 0; k < count; k++, next_tile(&at, wg)) {
                const float *plane =
                    in + ((size_t)at.image * wg->in_c + c) * in_plane;
                float d[4][4], bd[4][4];
                load_tile(d, plane, wg, 2 * at.th - wg->pad_h,
                          2 * at.tw - wg->pad_w);
                for (int j = 0; j < 4; j++) {
                    bd[0][j] = d[0][j] - d[2][j];
                    bd[1][j] = d[1][j] + d[2][j];
                    bd[2][j] = d[2][j] - d[1][j];
                    bd[3][j] = d[1][j] - d[3][j];
                }
                for (int r = 0; r < 4; r++) {
                    run[4 * r][k] = bd[r][0] - bd[r][2];
                    run[4 * r + 1][k] = bd[r][1] + bd[r][2];
                    run[4 * r + 2][k] = bd[r][2] - bd[r][1];
                    run[4 * r + 3][k] = bd[r][1] - bd[r][3];
                }
            }
            float *dst = v + (size_t)c * stride + t0;
            for (int xi = 0; xi < XI; xi++)
                memcpy(dst + xi * xi_stride, run[xi],
                       (size_t)count * sizeof run[xi][0]);
        }
}

/* out [images][out_c, out_h, out_w] = A^T m A (+ bias) of each tile of
 * m [XI][out_c][stride], A^T = [1 1 1 0; 0 1 -1 -1]; edge tiles keep what
 * lies inside the output. */
static void transform_output(float *out, const float *m, const float *bias,
                             size_t ld, size_t stride, const winograd_geom *wg)
{
    const size_t out_plane = (size_t)wg->out_h * wg->out_w;
    const size_t xi_stride = (size_t)wg->out_c * stride;
    float run[XI][RUN];
    for (int c = 0; c < wg->out_c; c++) {
        const float b = bias ? bias[c] : 0.0f;
        for (size_t t0 = 0; t0 < ld; t0 += RUN) {
            const int count = run_count(t0, ld);
            const float *src = m + (size_t)c * stride + t0;
            for (int xi = 0; xi < XI; xi++)
                memcpy(run[xi], src + xi * xi_stride,
                       (size_t)count * sizeof run[xi][0]);
            tile_at at = tile_of(t0, wg);
            for (int k = 0; k < count; k++, next_tile(&at, wg)) {
                float *plane =
                    out + ((size_t)at.image * wg->out_c + c) * out_plane;
                float s[2][4];
                for (int j = 0; j < 4; j++) {
                    s[0][j] = run[j][k] + run[4 + j][k] + run[8 + j][k];
                    s[1][j] = run[4 + j][k] - run[8 + j][k] - run[12 + j][k];
                }
                for (int r = 0; r < 2; r++) {
                    const int oh = 2 * at.th + r;
                    if (oh >= wg->out_h)
                        break;
                    float *row = plane + (size_t)oh * wg->out_w;
                    const int ow = 2 * at.tw;
                    row[ow] = s[r][0] + s[r][1] + s[r][2] + b;
                    if (ow + 1 < wg->out_w)
                        row[ow + 1] = s[r][1] - s[r][2] - s[r][3] + b;
                }
            }
        }
    }
}

/* ---- the convolution ---- */

static void winograd_chunk(rlkd_context *ctx, int threads, float *v, float *m,
                           float *out, const float *in, const float *u,
                           const float *bias, int images,
                           const winograd_geom *wg)
{
    const size_t ld = (size_t)images * wg->tiles_h * wg->tiles_w;
    const int stride = rlkd_cpu_padded_stride((int)ld);
    transform_input(v, in, ld, (size_t)stride, wg);
    for (int xi = 0; xi < XI; xi++) {
        const float *a = u + (size_t)xi * wg->out_c * wg->in_c;
        const float *b = v + (size_t)xi * wg->in_c * stride;
        float *c = m + (size_t)xi * wg->out_c * stride;
        if (threads == 1)
            rlkd_cpu_gemm_serial(0, 0, wg->out_c, (int)ld, wg->in_c, 1.0f, a,
                                 wg->in_c, b, stride, 0.0f, c, stride);
        else
            rlkd_cpu_gemm(ctx, 0, 0, wg->out_c, (int)ld, wg->in_c, 1.0f, a,
                          wg->in_c, b, stride, 0.0f, c, stride);
    }
    transform_output(out, m, bias, ld, (size_t)stride, wg);
}

/* Floats of workspace a Winograd convolution takes: U, then each block's
 * V and M. */
static size_t winograd_floats(const rlkd_context *ctx, const winograd_geom *wg)
{
    const winograd_split s = winograd_split_of(ctx, wg);
    return (size_t)XI * wg->out_c * wg->in_c +
           (size_t)s.blocks * block_floats(&s, wg);
}

static rlkd_status winograd_run(rlkd_context *ctx, const char *op, float *out,
                                const float *in, const float *w,
                                const float *bias, int turned,
                                const winograd_geom *wg)
{
    const winograd_split s = winograd_split_of(ctx, wg);
    float *workspace;
    RLKD_TRY(rlkd_cpu_workspace(ctx, op, winograd_floats(ctx, wg),
                                &workspace));
    float *u = workspace;
    float *blocks = u + (size_t)XI * wg->out_c * wg->in_c;
    transform_kernels(ctx->num_threads, u, w, wg->out_c, wg->in_c, turned);
    const size_t in_image = (size_t)wg->in_c * wg->in_h * wg->in_w;
    const size_t out_image = (size_t)wg->out_c * wg->out_h * wg->out_w;
    const size_t v_floats = (size_t)XI * wg->in_c * chunk_stride(&s, wg);
    if (s.per_image == 1)
        rlkd_cpu_gemm_serial_begin();
    #pragma omp parallel for num_threads(s.blocks) schedule(static, 1)
    for (int b = 0; b < s.blocks; b++) {
        float *v = blocks + (size_t)b * block_floats(&s, wg);
        float *m = v + v_floats;
        const int begin = (int)((int64_t)wg->n * b / s.blocks);
        const int end = (int)((int64_t)wg->n * (b + 1) / s.blocks);
        for (int n0 = begin; n0 < end; n0 += s.chunk) {
            const int images = end - n0 < s.chunk ? end - n0 : s.chunk;
            winograd_chunk(ctx, s.per_image, v, m, out + n0 * out_image,
                           in + n0 * in_image, u, bias, images, wg);
        }
    }
    return RLKD_OK;
}

/* The backward-data convolution: dy in, dx out, padding 2 - pad. */
static winograd_geom backward_data_geom(const rlkd_conv2d_geom *g)
{
    return winograd_geom_of(g->n, g->out_c, g->out_h, g->out_w, g->in_c,
                            g->in_h, g->in_w, 2 - g->pad_h, 2 - g->pad_w);
}

size_t rlkd_cpu_winograd_backward_data_floats(const rlkd_context *ctx,
                                              const rlkd_conv2d_geom *g)
{
    const winograd_geom wg = backward_data_geom(g);
    return winograd_floats(ctx, &wg);
}

rlkd_status rlkd_cpu_winograd_forward(rlkd_context *ctx, float *y,
                                      const float *x, const float *w,
                                      const float *bias,
                                      const rlkd_conv2d_geom *g)
{
    const winograd_geom wg =
        winograd_geom_of(g->n, g->in_c, g->in_h, g->in_w, g->out_c, g->out_h,
                         g->out_w, g->pad_h, g->pad_w);
    return winograd_run(ctx, "rlkd_conv2d_forward", y, x, w, bias, 0, &wg);
}

rlkd_status rlkd_cpu_winograd_backward_data(rlkd_context *ctx, float *dx,
                                            const float *dy, const float *w,
                                            const rlkd_conv2d_geom *g)
{
    const winograd_geom wg = backward_data_geom(g);
    return winograd_run(ctx, "rlkd_conv2d_backward", dx, dy, w, NULL, 1, &wg);
}
