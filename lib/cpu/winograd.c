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
 * Work is split as in conv2d.c (rlkd_cpu_batch_split): a block of images
 * per thread, chunks of images per GEMM, fixed orders, buffers in the
 * context's workspace. The transforms go a row of tiles at a time through a
 * zero-padded copy of the input plane, so that their loops have no bounds
 * tests and vectorise.
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

/* How the images go over the threads: rlkd_cpu_batch_split, with chunks of
 * a few hundred tiles whose transformed input stays within bounds. */
static rlkd_cpu_batch_split winograd_split_of(const rlkd_context *ctx,
                                              const winograd_geom *wg)
{
    const int tiles = wg->tiles_h * wg->tiles_w;
    return rlkd_cpu_batch_split_of(ctx, wg->n, tiles,
                                   (size_t)XI * wg->in_c * tiles,
                                   RLKD_WINOGRAD_CHUNK_TILES,
                                   RLKD_WINOGRAD_CHUNK_FLOATS);
}

/* The row stride of V and M for a full chunk's tiles. */
static size_t chunk_stride(const rlkd_cpu_batch_split *s,
                           const winograd_geom *wg)
{
    return (size_t)rlkd_cpu_padded_stride(s->chunk * wg->tiles_h *
                                          wg->tiles_w);
}

/* A padded input plane: every tile's 4x4 window lies inside it. */
static int padded_w(const winograd_geom *wg)
{
    return 2 * wg->tiles_w + 2;
}

static size_t padded_floats(const winograd_geom *wg)
{
    return (size_t)(2 * wg->tiles_h + 2) * padded_w(wg);
}

/* Floats of one block's buffers: V [XI][in_c][T] and M [XI][out_c][T],
 * rows of chunk_stride, and a padded plane. */
static size_t block_floats(const rlkd_cpu_batch_split *s,
                           const winograd_geom *wg)
{
    return (size_t)XI * (wg->in_c + wg->out_c) * chunk_stride(s, wg) +
           padded_floats(wg);
}

/* ---- the three transforms ---- */

/* Kernels or tiles that a transform takes at once, through a local buffer:
 * the 16 values of each go to 16 places XI strides apart, so they are
 * gathered per tile position and moved as 16 contiguous runs instead. */
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

/* padded = the plane with its padding and zeros up to the last tile's
 * window, so that the transform reads every window without a bounds test. */
static void pad_plane(float *restrict padded, const float *restrict plane,
                      const winograd_geom *wg)
{
    const int width = padded_w(wg), height = 2 * wg->tiles_h + 2;
    for (int r = 0; r < height; r++) {
        float *row = padded + (size_t)r * width;
        const int ih = r - wg->pad_h;
        if (ih < 0 || ih >= wg->in_h) {
            for (int q = 0; q < width; q++)
                row[q] = 0.0f;
            continue;
        }
        const float *src = plane + (size_t)ih * wg->in_w;
        for (int q = 0; q < width; q++) {
            const int iw = q - wg->pad_w;
            row[q] = iw >= 0 && iw < wg->in_w ? src[iw] : 0.0f;
        }
    }
}

/*
 * v [XI][in_c][stride] = B^T d B of each of the chunk's tiles,
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. One row of tiles at a
 * time, RUN tiles at a time: the column sums of the 4 input rows, then the
 * row sums, each a loop over the tiles that vectorises, and each tile
 * position's values stored as one contiguous run.
 */
static void transform_input(float *v, float *padded, const float *in,
                            int images, size_t stride,
                            const winograd_geom *wg)
{
    const size_t in_plane = (size_t)wg->in_h * wg->in_w;
    const size_t xi_stride = (size_t)wg->in_c * stride;
    const int tiles = wg->tiles_h * wg->tiles_w, width = padded_w(wg);
    float cols[4][4][RUN];
    for (int c = 0; c < wg->in_c; c++)
        for (int i = 0; i < images; i++) {
            pad_plane(padded, in + ((size_t)i * wg->in_c + c) * in_plane, wg);
            for (int th = 0; th < wg->tiles_h; th++)
                for (int tw0 = 0; tw0 < wg->tiles_w; tw0 += RUN) {
                    const int count =
                        wg->tiles_w - tw0 < RUN ? wg->tiles_w - tw0 : RUN;
                    for (int r = 0; r < 4; r++) {
                        const float *row = padded +
                                           (size_t)(2 * th + r) * width +
                                           2 * tw0;
                        for (int k = 0; k < count; k++) {
                            const float d0 = row[2 * k], d1 = row[2 * k + 1];
                            const float d2 = row[2 * k + 2];
                            const float d3 = row[2 * k + 3];
                            cols[r][0][k] = d0 - d2;
                            cols[r][1][k] = d1 + d2;
                            cols[r][2][k] = d2 - d1;
                            cols[r][3][k] = d1 - d3;
                        }
                    }
                    float *dst = v + (size_t)c * stride + (size_t)i * tiles +
                                 (size_t)th * wg->tiles_w + tw0;
                    for (int j = 0; j < 4; j++) {
                        float *restrict v0 = dst + (size_t)j * xi_stride;
                        float *restrict v1 = v0 + 4 * xi_stride;
                        float *restrict v2 = v0 + 8 * xi_stride;
                        float *restrict v3 = v0 + 12 * xi_stride;
                        for (int k = 0; k < count; k++) {
                            v0[k] = cols[0][j][k] - cols[2][j][k];
                            v1[k] = cols[1][j][k] + cols[2][j][k];
                            v2[k] = cols[2][j][k] - cols[1][j][k];
                            v3[k] = cols[1][j][k] - cols[3][j][k];
                        }
                    }
                }
        }
}

/*
 * out [images][out_c, out_h, out_w] = A^T m A (+ bias) of each tile of
 * m [XI][out_c][stride], A^T = [1 1 1 0; 0 1 -1 -1]: one row of tiles at a
 * time, RUN tiles at a time, into two output rows of 2 RUN values of which
 * the part inside the output is kept.
 */
static void transform_output(float *out, const float *m, const float *bias,
                             int images, size_t stride,
                             const winograd_geom *wg)
{
    const size_t out_plane = (size_t)wg->out_h * wg->out_w;
    const size_t xi_stride = (size_t)wg->out_c * stride;
    const int tiles = wg->tiles_h * wg->tiles_w;
    float rows[2][4][RUN], pair[2][2 * RUN];
    for (int c = 0; c < wg->out_c; c++) {
        const float b = bias ? bias[c] : 0.0f;
        for (int i = 0; i < images; i++) {
            float *plane = out + ((size_t)i * wg->out_c + c) * out_plane;
            for (int th = 0; th < wg->tiles_h; th++)
                for (int tw0 = 0; tw0 < wg->tiles_w; tw0 += RUN) {
                    const int count =
                        wg->tiles_w - tw0 < RUN ? wg->tiles_w - tw0 : RUN;
                    const float *src = m + (size_t)c * stride +
                                       (size_t)i * tiles +
                                       (size_t)th * wg->tiles_w + tw0;
                    for (int j = 0; j < 4; j++) {
                        const float *restrict m0 = src + (size_t)j * xi_stride;
                        const float *restrict m1 = m0 + 4 * xi_stride;
                        const float *restrict m2 = m0 + 8 * xi_stride;
                        const float *restrict m3 = m0 + 12 * xi_stride;
                        for (int k = 0; k < count; k++) {
                            rows[0][j][k] = m0[k] + m1[k] + m2[k];
                            rows[1][j][k] = m1[k] - m2[k] - m3[k];
                        }
                    }
                    for (int r = 0; r < 2; r++)
                        for (int k = 0; k < count; k++) {
                            pair[r][2 * k] = rows[r][0][k] + rows[r][1][k] +
                                             rows[r][2][k] + b;
                            pair[r][2 * k + 1] = rows[r][1][k] -
                                                 rows[r][2][k] -
                                                 rows[r][3][k] + b;
                        }
                    const int ow0 = 2 * tw0;
                    const int width = wg->out_w - ow0 < 2 * count
                                          ? wg->out_w - ow0
                                          : 2 * count;
                    for (int r = 0; r < 2 && 2 * th + r < wg->out_h; r++) {
                        float *row = plane +
                                     (size_t)(2 * th + r) * wg->out_w + ow0;
                        for (int q = 0; q < width; q++)
                            row[q] = pair[r][q];
                    }
                }
        }
    }
}

/* ---- the convolution ---- */

static void winograd_chunk(rlkd_context *ctx, int threads, float *v, float *m,
                           float *padded, float *out, const float *in,
                           const float *u, const float *bias, int images,
                           const winograd_geom *wg)
{
    const size_t ld = (size_t)images * wg->tiles_h * wg->tiles_w;
    const int stride = rlkd_cpu_padded_stride((int)ld);
    transform_input(v, padded, in, images, (size_t)stride, wg);
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
    transform_output(out, m, bias, images, (size_t)stride, wg);
}

/* Floats of workspace a Winograd convolution takes: U, then each block's
 * V and M. */
static size_t winograd_floats(const rlkd_context *ctx, const winograd_geom *wg)
{
    const rlkd_cpu_batch_split s = winograd_split_of(ctx, wg);
    return (size_t)XI * wg->out_c * wg->in_c +
           (size_t)s.blocks * block_floats(&s, wg);
}

static rlkd_status winograd_run(rlkd_context *ctx, const char *op, float *out,
                                const float *in, const float *w,
                                const float *bias, int turned,
                                const winograd_geom *wg)
{
    const rlkd_cpu_batch_split s = winograd_split_of(ctx, wg);
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
        float *padded = m + (size_t)XI * wg->out_c * chunk_stride(&s, wg);
        const int begin = rlkd_cpu_block_start(b, s, wg->n);
        const int end = rlkd_cpu_block_start(b + 1, s, wg->n);
        for (int n0 = begin; n0 < end; n0 += s.chunk) {
            const int images = end - n0 < s.chunk ? end - n0 : s.chunk;
            winograd_chunk(ctx, s.per_image, v, m, padded,
                           out + n0 * out_image,
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
