/*
 * 2-D convolution on the CPU: im2col + GEMM, per image and group.
 *
 * For one image the column matrix has a row per (input channel, kernel tap)
 * and a column per output pixel, so group g's output is
 *   y_g [Cout/G, Ho*Wo] = w_g [Cout/G, Cin/G*Kh*Kw] col_g [Cin/G*Kh*Kw, Ho*Wo]
 * and backward is dw_g += dy_g col_g^T, dcol_g = w_g^T dy_g, dx = col2im(dcol).
 *
 * The per-image GEMMs are small (M = Cout, N = Ho*Wo of a few hundred), so a
 * batch is split into one block of images per thread, each block with its
 * own column buffer, one-thread GEMMs and, for dw, its own partial sum; only
 * with fewer images than threads do the images go one at a time, each on
 * all threads. Every loop here writes disjoint outputs and sums in a fixed
 * order (the blocks depend on the thread count alone, and their partials
 * are added in block order), so the results depend on the thread count
 * alone, not on scheduling.
 */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

/* Below this many floats of work a loop stays on one thread. */
#define RLKD_CONV2D_PARALLEL_MIN 32768

/* A 1x1, stride-1, unpadded convolution reads x as its column matrix. */
static int is_pointwise(const rlkd_conv2d_geom *g)
{
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 &&
           g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0;
}

/* Input row or column that output `out` reads through kernel tap `tap`. */
static inline int input_coord(int out, int tap, int stride, int pad,
                              int dilation)
{
    return out * stride - pad + tap * dilation;
}

/*
 * Kernel column kj reads input column iw = ow * stride_w + off; the outputs
 * ow in [lo, hi) read inside the image and the rest read padding. Working
 * out the span once per row keeps the bounds tests out of the inner loops.
 */
typedef struct {
    int lo, hi, off;
} col_span;

static inline col_span col_span_of(int kj, const rlkd_conv2d_geom *g)
{
    const int s = g->stride_w;
    col_span span;
    span.off = input_coord(0, kj, s, g->pad_w, g->dilation_w);
    span.lo = span.off >= 0 ? 0 : (-span.off + s - 1) / s;
    span.hi = g->in_w > span.off ? (g->in_w - span.off + s - 1) / s : 0;
    if (span.lo > g->out_w)
        span.lo = g->out_w;
    if (span.hi > g->out_w)
        span.hi = g->out_w;
    if (span.hi < span.lo)
        span.hi = span.lo;
    return span;
}

/* The column matrix of one image x_n [Cin, H, W]: zero in the padding. */
static void im2col(int threads, float *col, const float *x_n,
                   const rlkd_conv2d_geom *g)
{
    const int taps = g->kernel_h * g->kernel_w;
    const int64_t rows = (int64_t)g->in_c * taps;
    const size_t in_hw = (size_t)g->in_h * g->in_w;
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    #pragma omp parallel for num_threads(threads) \
        if (threads > 1 && (size_t)rows * out_hw > RLKD_CONV2D_PARALLEL_MIN)
    for (int64_t row = 0; row < rows; row++) {
        const int tap = (int)(row % taps);
        const int ki = tap / g->kernel_w;
        const col_span span = col_span_of(tap % g->kernel_w, g);
        const float *plane = x_n + (size_t)(row / taps) * in_hw;
        float *dst = col + (size_t)row * out_hw;
        for (int oh = 0; oh < g->out_h; oh++) {
            const int ih = input_coord(oh, ki, g->stride_h, g->pad_h,
                                       g->dilation_h);
            float *dst_row = dst + (size_t)oh * g->out_w;
            if (ih < 0 || ih >= g->in_h) {
                memset(dst_row, 0, (size_t)g->out_w * sizeof *dst_row);
                continue;
            }
            const float *src_row = plane + (size_t)ih * g->in_w;
            memset(dst_row, 0, (size_t)span.lo * sizeof *dst_row);
            if (g->stride_w == 1) /* the common case: a contiguous run */
                memcpy(dst_row + span.lo, src_row + span.lo + span.off,
                       (size_t)(span.hi - span.lo) * sizeof *dst_row);
            else
                for (int ow = span.lo; ow < span.hi; ow++)
                    dst_row[ow] = src_row[ow * g->stride_w + span.off];
            memset(dst_row + span.hi, 0,
                   (size_t)(g->out_w - span.hi) * sizeof *dst_row);
        }
    }
}

/*
 * The transpose of im2col: dx_n [Cin, H, W] = sum of the column matrix's
 * entries over every (tap, output pixel) that read each input pixel.
 * Parallel over channels, so each plane is summed by one thread in tap order.
 */
static void col2im(int threads, float *dx_n, const float *col,
                   const rlkd_conv2d_geom *g)
{
    const int taps = g->kernel_h * g->kernel_w;
    const size_t in_hw = (size_t)g->in_h * g->in_w;
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    #pragma omp parallel for num_threads(threads) if (threads > 1 && \
        (size_t)g->in_c * taps * out_hw > RLKD_CONV2D_PARALLEL_MIN)
    for (int c = 0; c < g->in_c; c++) {
        float *plane = dx_n + (size_t)c * in_hw;
        memset(plane, 0, in_hw * sizeof *plane);
        for (int tap = 0; tap < taps; tap++) {
            const int ki = tap / g->kernel_w;
            const col_span span = col_span_of(tap % g->kernel_w, g);
            const float *src = col + ((size_t)c * taps + tap) * out_hw;
            for (int oh = 0; oh < g->out_h; oh++) {
                const int ih = input_coord(oh, ki, g->stride_h, g->pad_h,
                                           g->dilation_h);
                if (ih < 0 || ih >= g->in_h)
                    continue;
                float *restrict dst_row = plane + (size_t)ih * g->in_w;
                const float *restrict src_row = src + (size_t)oh * g->out_w;
                for (int ow = span.lo; ow < span.hi; ow++)
                    dst_row[ow * g->stride_w + span.off] += src_row[ow];
            }
        }
    }
}

/* The column matrix of image x_n: x_n itself when pointwise, else im2col
 * into `scratch` on `threads` threads. */
static const float *columns(int threads, float *scratch, const float *x_n,
                            const rlkd_conv2d_geom *g)
{
    if (is_pointwise(g))
        return x_n;
    im2col(threads, scratch, x_n, g);
    return scratch;
}

/* Floats of scratch for one image's column matrix (none when pointwise). */
static size_t column_count(const rlkd_conv2d_geom *g)
{
    if (is_pointwise(g))
        return 0;
    return (size_t)g->in_c * g->kernel_h * g->kernel_w * g->out_h * g->out_w;
}

/* The GEMM sizes and the strides between images and between groups. */
typedef struct {
    int out_c_g;    /* output channels per group: the GEMMs' M */
    int col_rows;   /* rows of one group's column matrix: their K */
    int out_hw;     /* output pixels: their N */
    size_t x_image, y_image;             /* floats per image */
    size_t w_group, col_group, y_group;  /* floats per group */
    size_t w_count;                      /* floats of w */
} conv_sizes;

static conv_sizes conv_sizes_of(const rlkd_conv2d_geom *g)
{
    conv_sizes z;
    z.out_c_g = g->out_c / g->groups;
    z.col_rows = g->in_c / g->groups * g->kernel_h * g->kernel_w;
    z.out_hw = g->out_h * g->out_w;
    z.x_image = (size_t)g->in_c * g->in_h * g->in_w;
    z.y_image = (size_t)g->out_c * z.out_hw;
    z.w_group = (size_t)z.out_c_g * z.col_rows;
    z.col_group = (size_t)z.col_rows * z.out_hw;
    z.y_group = (size_t)z.out_c_g * z.out_hw;
    z.w_count = z.w_group * g->groups;
    return z;
}

/*
 * How a batch goes over ctx's threads: it is cut into `blocks` blocks of
 * consecutive images, one per thread, and each image runs on `per_image`
 * threads. One of the two is 1. Blocks whenever there are enough images, as
 * side-by-side one-thread GEMMs beat one small threaded GEMM after another;
 * with fewer (batch-1 inference) each image is threaded instead.
 */
typedef struct {
    int blocks, per_image;
} conv_split;

static conv_split conv_split_of(const rlkd_context *ctx,
                                const rlkd_conv2d_geom *g)
{
    if (g->n >= ctx->num_threads)
        return (conv_split){ctx->num_threads, 1};
    return (conv_split){1, ctx->num_threads};
}

/* The first image of block `b` (b == blocks: one past the last image). */
static int block_start(int b, conv_split s, const rlkd_conv2d_geom *g)
{
    return (int)((int64_t)g->n * b / s.blocks);
}

/* Block b's column buffer in `scratch`, which holds one per block (NULL
 * when pointwise: there are none). */
static float *block_columns(float *scratch, int b, const rlkd_conv2d_geom *g)
{
    return scratch ? scratch + (size_t)b * column_count(g) : NULL;
}

/* C = op(A) op(B) + beta C for one image's work on `threads` threads: 1 is
 * rlkd_cpu_gemm_serial, inside the block loop of a split with
 * per_image == 1, whose caller has begun serial mode. */
static void image_gemm(rlkd_context *ctx, int threads, int trans_a,
                       int trans_b, int m, int n, int k, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c,
                       int ldc)
{
    if (threads == 1)
        rlkd_cpu_gemm_serial(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb,
                             beta, c, ldc);
    else
        rlkd_cpu_gemm(ctx, trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb,
                      beta, c, ldc);
}

/* y_n = conv(x_n, w) + bias for one image, on `threads` threads. */
static void forward_image(rlkd_context *ctx, int threads, float *col_scratch,
                          float *y_n, const float *x_n, const float *w,
                          const float *bias, const rlkd_conv2d_geom *g,
                          const conv_sizes *z)
{
    const float *col = columns(threads, col_scratch, x_n, g);
    for (int grp = 0; grp < g->groups; grp++)
        image_gemm(ctx, threads, 0, 0, z->out_c_g, z->out_hw, z->col_rows,
                   w + grp * z->w_group, z->col_rows, col + grp * z->col_group,
                   z->out_hw, 0.0f, y_n + grp * z->y_group, z->out_hw);
    if (bias) /* while y_n is still in cache */
        for (int c = 0; c < g->out_c; c++) {
            float *plane = y_n + (size_t)c * z->out_hw;
            for (int i = 0; i < z->out_hw; i++)
                plane[i] += bias[c];
        }
}

rlkd_status rlkd_cpu_conv2d_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias,
                                    const rlkd_conv2d_geom *g)
{
    const conv_sizes z = conv_sizes_of(g);
    const conv_split s = conv_split_of(ctx, g);
    float *scratch = NULL;
    if (column_count(g) > 0)
        RLKD_TRY(rlkd_cpu_scratch("rlkd_conv2d_forward",
                                  (size_t)s.blocks * column_count(g),
                                  &scratch));
    if (s.per_image == 1)
        rlkd_cpu_gemm_serial_begin();
    #pragma omp parallel for num_threads(s.blocks) schedule(static, 1)
    for (int b = 0; b < s.blocks; b++)
        for (int n = block_start(b, s, g); n < block_start(b + 1, s, g); n++)
            forward_image(ctx, s.per_image, block_columns(scratch, b, g),
                          y + n * z.y_image, x + n * z.x_image, w, bias, g,
                          &z);
    free(scratch);
    return RLKD_OK;
}

/* dbias[c] += sum over images and output pixels of dy[:, c]. */
static void accumulate_bias_grad(rlkd_context *ctx, float *dbias,
                                 const float *dy, const rlkd_conv2d_geom *g)
{
    const conv_sizes z = conv_sizes_of(g);
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)g->n * z.y_image > RLKD_CONV2D_PARALLEL_MIN)
    for (int c = 0; c < g->out_c; c++) {
        double sum = 0.0; /* double: many terms, one rounding at the end */
        for (int n = 0; n < g->n; n++) {
            const float *plane = dy + n * z.y_image + (size_t)c * z.out_hw;
            for (int i = 0; i < z.out_hw; i++)
                sum += plane[i];
        }
        dbias[c] += (float)sum;
    }
}

/* One image's backward on `threads` threads: dw_sum += its dw (either may
 * be NULL with its output), dx_n = its dx. */
static void backward_image(rlkd_context *ctx, int threads, float *col_scratch,
                           float *dx_n, float *dw_sum, const float *dy_n,
                           const float *x_n, const float *w,
                           const rlkd_conv2d_geom *g, const conv_sizes *z)
{
    if (dw_sum) {
        const float *col = columns(threads, col_scratch, x_n, g);
        for (int grp = 0; grp < g->groups; grp++)
            image_gemm(ctx, threads, 0, 1, z->out_c_g, z->col_rows,
                       z->out_hw, dy_n + grp * z->y_group, z->out_hw,
                       col + grp * z->col_group, z->out_hw, 1.0f,
                       dw_sum + grp * z->w_group, z->col_rows);
    }
    if (dx_n) {
        /* Pointwise: dcol is dx itself. */
        float *dcol = is_pointwise(g) ? dx_n : col_scratch;
        for (int grp = 0; grp < g->groups; grp++)
            image_gemm(ctx, threads, 1, 0, z->col_rows, z->out_hw,
                       z->out_c_g, w + grp * z->w_group, z->col_rows,
                       dy_n + grp * z->y_group, z->out_hw, 0.0f,
                       dcol + grp * z->col_group, z->out_hw);
        if (!is_pointwise(g))
            col2im(threads, dx_n, dcol, g);
    }
}

/* dw += partials[0] + partials[1] + ..., in that order for every element. */
static void add_partials(rlkd_context *ctx, float *dw, const float *partials,
                         int parts, size_t count)
{
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if (count * parts > RLKD_CONV2D_PARALLEL_MIN)
    for (size_t i = 0; i < count; i++) {
        float sum = dw[i];
        for (int p = 0; p < parts; p++)
            sum += partials[(size_t)p * count + i];
        dw[i] = sum;
    }
}

rlkd_status rlkd_cpu_conv2d_backward(rlkd_context *ctx, float *dx, float *dw,
                                     float *dbias, const float *dy,
                                     const float *x, const float *w,
                                     const rlkd_conv2d_geom *g)
{
    const conv_sizes z = conv_sizes_of(g);
    const conv_split s = conv_split_of(ctx, g);
    /* Each block has a column buffer, serving both col (for dw) and dcol
     * (for dx), and all but block 0, which adds straight into dw, a dw
     * partial sum; the partials go into dw after, in block order.
     * Allocate before touching any output, so a failure leaves them as
     * they were. */
    const size_t columns_all =
        (dx || dw) ? (size_t)s.blocks * column_count(g) : 0;
    const size_t partials_all = dw ? (size_t)(s.blocks - 1) * z.w_count : 0;
    float *scratch = NULL;
    if (columns_all + partials_all > 0)
        RLKD_TRY(rlkd_cpu_scratch("rlkd_conv2d_backward",
                                  columns_all + partials_all, &scratch));
    float *partials = partials_all > 0 ? scratch + columns_all : NULL;
    if (partials)
        memset(partials, 0, partials_all * sizeof *partials);
    float *columns_scratch = columns_all > 0 ? scratch : NULL;

    if (dbias)
        accumulate_bias_grad(ctx, dbias, dy, g);
    if (dx || dw) {
        if (s.per_image == 1)
            rlkd_cpu_gemm_serial_begin();
        #pragma omp parallel for num_threads(s.blocks) schedule(static, 1)
        for (int b = 0; b < s.blocks; b++) {
            float *dw_sum = !dw || b == 0
                                ? dw
                                : partials + (size_t)(b - 1) * z.w_count;
            float *col_scratch = block_columns(columns_scratch, b, g);
            for (int n = block_start(b, s, g); n < block_start(b + 1, s, g);
                 n++)
                backward_image(ctx, s.per_image, col_scratch,
                               dx ? dx + n * z.x_image : NULL, dw_sum,
                               dy + n * z.y_image, x + n * z.x_image, w, g,
                               &z);
        }
    }
    if (partials)
        add_partials(ctx, dw, partials, s.blocks - 1, z.w_count);
    free(scratch);
    return RLKD_OK;
}
