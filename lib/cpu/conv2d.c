/*
 * 2-D convolution on the CPU: im2col + GEMM over chunks of images.
 *
 * For a chunk of m images the column matrix has a row per (input channel,
 * kernel tap) and a column per (image, output pixel), so group g's output is
 *   y_g [Cout/G, m*Ho*Wo] = w_g [Cout/G, Cin/G*Kh*Kw] col_g [Cin/G*Kh*Kw, m*Ho*Wo]
 * and backward is dw_g += dy_g col_g^T, dcol_g = w_g^T dy_g, dx = col2im(dcol).
 * A chunk holds enough images for a few hundred columns: one image of a
 * 2x2 layer would give GEMMs of 4 columns (and dw GEMMs of depth 4), which
 * no BLAS runs well. With more than one image in a chunk, y and dy pass
 * through a [Cout, m*Ho*Wo] buffer (a copy per image and channel).
 *
 * A batch is split into one block of images per thread, each block with its
 * own buffers, one-thread GEMMs and, for dw, its own partial sum; only with
 * fewer images than threads do the chunks go one at a time, each on all
 * threads. Every loop here writes disjoint outputs and sums in a fixed
 * order (blocks and chunks depend on the shapes and the thread count alone,
 * and the partials are added in block order), so the results depend on the
 * thread count alone, not on scheduling. The buffers live in the context's
 * workspace, so a training step allocates nothing here after its first.
 *
 * 3x3 stride-1 convolutions with enough channels go to winograd.c instead
 * (forward and dx); their dw stays here.
 */
#include "cpu.h"
#include "plane_sums.h"

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

/* Where a chunk's column matrix is and how its rows are laid out: a row of
 * `ld` floats per (input channel, tap), image i's pixels at column i*Ho*Wo. */
typedef struct {
    int images; /* m: images in the chunk */
    int ld;     /* m * Ho * Wo: the GEMMs' N (forward, dx) or depth (dw) */
    int col_ld; /* the column matrix's row stride: rlkd_cpu_padded_stride */
} chunk_shape;

/*
 * With unit strides and output rows as wide as the input's (a "same"
 * convolution), a tap's rows of the column matrix are the input plane
 * shifted by a constant: they copy as one run, and only the `span`'s edge
 * columns, which read the padding, need fixing. That replaces a short copy
 * per output row (most of im2col's time on small images) by one long one.
 */
static int shifts_planes(const rlkd_conv2d_geom *g)
{
    return g->stride_h == 1 && g->stride_w == 1 && g->in_w == g->out_w;
}

/* The output rows [lo, hi) that kernel row ki reads inside the input. */
static void valid_rows(int ki, const rlkd_conv2d_geom *g, int *lo, int *hi)
{
    const int first = input_coord(0, ki, 1, g->pad_h, g->dilation_h);
    *lo = first < 0 ? -first : 0;
    *hi = g->in_h - first < g->out_h ? g->in_h - first : g->out_h;
    if (*lo > g->out_h)
        *lo = g->out_h;
    if (*hi < *lo)
        *hi = *lo;
}

/* The run of a shifted plane: dst[i] pairs with src[i + shift] for i in
 * [begin, end), the part of the valid rows whose source lies in the plane
 * (the rest are edge columns). */
typedef struct {
    ptrdiff_t begin, end, shift;
} plane_run;

static plane_run plane_run_of(int ki, col_span span, const rlkd_conv2d_geom *g)
{
    int lo, hi;
    valid_rows(ki, g, &lo, &hi);
    const ptrdiff_t w = g->out_w;
    const ptrdiff_t in_hw = (ptrdiff_t)g->in_h * g->in_w;
    plane_run run;
    run.shift = (ptrdiff_t)input_coord(0, ki, 1, g->pad_h, g->dilation_h) * w +
                span.off;
    run.begin = lo * w;
    run.end = hi * w;
    if (run.begin + run.shift < 0)
        run.begin = -run.shift;
    if (run.end + run.shift > in_hw)
        run.end = in_hw - run.shift;
    if (run.end < run.begin)
        run.end = run.begin;
    return run;
}

/* Zeroes the columns outside `span` of each of a tap's Ho rows: the ones
 * that read the padding. */
static void zero_edge_columns(float *rows, col_span span,
                              const rlkd_conv2d_geom *g)
{
    for (int oh = 0; oh < g->out_h; oh++) {
        float *row = rows + (size_t)oh * g->out_w;
        for (int ow = 0; ow < span.lo; ow++)
            row[ow] = 0.0f;
        for (int ow = span.hi; ow < g->out_w; ow++)
            row[ow] = 0.0f;
    }
}

/* dst [Ho*Wo] = one tap's rows of the column matrix of `plane`. */
static void im2col_shifted(float *restrict dst, const float *restrict plane,
                           int ki, col_span span, const rlkd_conv2d_geom *g)
{
    const plane_run run = plane_run_of(ki, span, g);
    const ptrdiff_t out_hw = (ptrdiff_t)g->out_h * g->out_w;
    for (ptrdiff_t i = 0; i < run.begin; i++)
        dst[i] = 0.0f;
    for (ptrdiff_t i = run.begin; i < run.end; i++)
        dst[i] = plane[i + run.shift];
    for (ptrdiff_t i = run.end; i < out_hw; i++)
        dst[i] = 0.0f;
    /* Edge columns of rows inside the run read the neighbouring row. */
    zero_edge_columns(dst, span, g);
}

/* plane [H*W] += one tap's rows of a column matrix, src, whose edge columns
 * (the gradient of the padding) it sets to zero first: then the whole run
 * adds in one loop, the edges adding nothing. */
static void col2im_shifted(float *restrict plane, float *restrict src, int ki,
                           col_span span, const rlkd_conv2d_geom *g)
{
    zero_edge_columns(src, span, g);
    const plane_run run = plane_run_of(ki, span, g);
    for (ptrdiff_t i = run.begin; i < run.end; i++)
        plane[i + run.shift] += src[i];
}

/* The column matrix of images x [m][Cin, H, W]: zero in the padding. */
static void im2col(int threads, float *col, const float *x, chunk_shape ch,
                   const rlkd_conv2d_geom *g)
{
    const int taps = g->kernel_h * g->kernel_w;
    const int64_t rows = (int64_t)g->in_c * taps;
    const size_t in_hw = (size_t)g->in_h * g->in_w;
    const size_t x_image = (size_t)g->in_c * in_hw;
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    #pragma omp parallel for num_threads(threads) \
        if (threads > 1 && (size_t)rows * ch.ld > RLKD_CONV2D_PARALLEL_MIN)
    for (int64_t row = 0; row < rows; row++) {
        const int tap = (int)(row % taps);
        const int ki = tap / g->kernel_w;
        const col_span span = col_span_of(tap % g->kernel_w, g);
        for (int i = 0; i < ch.images; i++) {
            const float *plane = x + i * x_image + (size_t)(row / taps) * in_hw;
            float *dst = col + (size_t)row * ch.col_ld + i * out_hw;
            if (shifts_planes(g)) {
                im2col_shifted(dst, plane, ki, span, g);
                continue;
            }
            /* Plain loops, not memcpy and memset: rows are a few dozen
             * floats, and the padding runs a float or two, where a call
             * costs more than the copy. */
            for (int oh = 0; oh < g->out_h; oh++) {
                const int ih = input_coord(oh, ki, g->stride_h, g->pad_h,
                                           g->dilation_h);
                float *restrict dst_row = dst + (size_t)oh * g->out_w;
                if (ih < 0 || ih >= g->in_h) {
                    for (int ow = 0; ow < g->out_w; ow++)
                        dst_row[ow] = 0.0f;
                    continue;
                }
                const float *restrict src_row =
                    plane + (size_t)ih * g->in_w + span.off;
                for (int ow = 0; ow < span.lo; ow++)
                    dst_row[ow] = 0.0f;
                if (g->stride_w == 1) /* the common case: a contiguous run */
                    for (int ow = span.lo; ow < span.hi; ow++)
                        dst_row[ow] = src_row[ow];
                else
                    for (int ow = span.lo; ow < span.hi; ow++)
                        dst_row[ow] = src_row[ow * g->stride_w];
                for (int ow = span.hi; ow < g->out_w; ow++)
                    dst_row[ow] = 0.0f;
            }
        }
    }
}

/*
 * The transpose of im2col: dx [m][Cin, H, W] = sum of the column matrix's
 * entries over every (tap, output pixel) that read each input pixel. The
 * column matrix is scratch: col2im_shifted zeroes its padding entries.
 * Parallel over planes, so each plane is summed by one thread in tap order.
 */
static void col2im(int threads, float *dx, float *col, chunk_shape ch,
                   const rlkd_conv2d_geom *g)
{
    const int taps = g->kernel_h * g->kernel_w;
    const size_t in_hw = (size_t)g->in_h * g->in_w;
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    const int planes = ch.images * g->in_c;
    #pragma omp parallel for num_threads(threads) if (threads > 1 && \
        (size_t)g->in_c * taps * ch.ld > RLKD_CONV2D_PARALLEL_MIN)
    for (int p = 0; p < planes; p++) {
        const int i = p / g->in_c, c = p % g->in_c;
        float *plane = dx + (size_t)p * in_hw;
        memset(plane, 0, in_hw * sizeof *plane);
        for (int tap = 0; tap < taps; tap++) {
            const int ki = tap / g->kernel_w;
            const col_span span = col_span_of(tap % g->kernel_w, g);
            float *src =
                col + ((size_t)c * taps + tap) * ch.col_ld + i * out_hw;
            if (shifts_planes(g)) {
                col2im_shifted(plane, src, ki, span, g);
                continue;
            }
            for (int oh = 0; oh < g->out_h; oh++) {
                const int ih = input_coord(oh, ki, g->stride_h, g->pad_h,
                                           g->dilation_h);
                if (ih < 0 || ih >= g->in_h)
                    continue;
                float *restrict dst_row = plane + (size_t)ih * g->in_w;
                const float *restrict src_row = src + (size_t)oh * g->out_w;
                if (g->stride_w == 1) /* contiguous: vectorises */
                    for (int ow = span.lo; ow < span.hi; ow++)
                        dst_row[ow + span.off] += src_row[ow];
                else
                    for (int ow = span.lo; ow < span.hi; ow++)
                        dst_row[ow * g->stride_w + span.off] += src_row[ow];
            }
        }
    }
}

/* The GEMM sizes and the strides between images and between groups. */
typedef struct {
    int out_c_g;    /* output channels per group: the GEMMs' M */
    int col_rows;   /* rows of one group's column matrix: their K */
    int out_hw;     /* output pixels of one image */
    size_t x_image, y_image;  /* floats per image */
    size_t w_group;           /* floats of one group's weights */
    size_t w_count;           /* floats of w */
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
    z.w_count = z.w_group * g->groups;
    return z;
}

/* Columns a chunk aims for: past this OpenBLAS runs near its peak. */
#define RLKD_CONV2D_CHUNK_COLUMNS 512
/* Floats a block's column matrix may take before chunks stop growing. */
#define RLKD_CONV2D_CHUNK_FLOATS ((size_t)4 << 20)

/* How a batch goes over the threads: rlkd_cpu_batch_split, with chunks of
 * a few hundred GEMM columns whose column matrix stays within bounds. */
static rlkd_cpu_batch_split conv_split_of(const rlkd_context *ctx,
                                          const rlkd_conv2d_geom *g)
{
    const int out_hw = g->out_h * g->out_w;
    return rlkd_cpu_batch_split_of(ctx, g->n, out_hw,
                                   (size_t)g->in_c * g->kernel_h *
                                       g->kernel_w * out_hw,
                                   RLKD_CONV2D_CHUNK_COLUMNS,
                                   RLKD_CONV2D_CHUNK_FLOATS);
}

/* A chunk of one image whose column matrix is the image itself. */
static int reads_input_directly(chunk_shape ch, const rlkd_conv2d_geom *g)
{
    return ch.images == 1 && is_pointwise(g);
}

/* A block's buffers: the column matrix (or dcol), and the [Cout, m*Ho*Wo]
 * staging of y or dy when chunks hold several images. */
typedef struct {
    float *col, *staged;
} block_buffers;

/* Floats of a block's buffers: see block_buffers_at. */
static size_t block_floats(rlkd_cpu_batch_split s, const rlkd_conv2d_geom *g)
{
    const size_t columns = (size_t)s.chunk * g->out_h * g->out_w;
    const size_t col = is_pointwise(g) && s.chunk == 1
                           ? 0
                           : (size_t)g->in_c * g->kernel_h * g->kernel_w *
                                 rlkd_cpu_padded_stride((int)columns);
    const size_t staged = s.chunk > 1 ? (size_t)g->out_c * columns : 0;
    return col + staged;
}

static block_buffers block_buffers_at(float *workspace, int b,
                                      rlkd_cpu_batch_split s,
                                      const rlkd_conv2d_geom *g)
{
    const size_t columns = (size_t)s.chunk * g->out_h * g->out_w;
    float *base = workspace + (size_t)b * block_floats(s, g);
    block_buffers buf = {base, NULL};
    if (s.chunk > 1)
        buf.staged = base + (size_t)g->in_c * g->kernel_h * g->kernel_w *
                                rlkd_cpu_padded_stride((int)columns);
    return buf;
}

/* The column matrix of a chunk of images x: x itself when it can be, else
 * im2col into `col` on `threads` threads. */
static const float *columns(int threads, float *col, const float *x,
                            chunk_shape ch, const rlkd_conv2d_geom *g)
{
    if (reads_input_directly(ch, g))
        return x;
    im2col(threads, col, x, ch, g);
    return col;
}

/* dst [Cout, m*Ho*Wo] <- src [m][Cout, Ho*Wo] (gather), or the reverse. */
static void stage(float *dst, const float *src, int gather, chunk_shape ch,
                  const rlkd_conv2d_geom *g)
{
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    for (int i = 0; i < ch.images; i++)
        for (int c = 0; c < g->out_c; c++) {
            const size_t staged = (size_t)c * ch.ld + i * out_hw;
            const size_t image = ((size_t)i * g->out_c + c) * out_hw;
            if (gather)
                memcpy(dst + staged, src + image, out_hw * sizeof *dst);
            else
                memcpy(dst + image, src + staged, out_hw * sizeof *dst);
        }
}

/* C = op(A) op(B) + beta C for one chunk's work on `threads` threads: 1 is
 * rlkd_cpu_gemm_serial, inside the block loop of a split with
 * per_image == 1, whose caller has begun serial mode. */
static void chunk_gemm(rlkd_context *ctx, int threads, int trans_a,
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

/* y = conv(x, w) + bias for a chunk of images, on `threads` threads. */
static void forward_chunk(rlkd_context *ctx, int threads, block_buffers buf,
                          float *y, const float *x, const float *w,
                          const float *bias, chunk_shape ch,
                          const rlkd_conv2d_geom *g, const conv_sizes *z)
{
    const float *col = columns(threads, buf.col, x, ch, g);
    float *out = ch.images > 1 ? buf.staged : y;
    for (int grp = 0; grp < g->groups; grp++)
        chunk_gemm(ctx, threads, 0, 0, z->out_c_g, ch.ld, z->col_rows,
                   w + grp * z->w_group, z->col_rows,
                   col + (size_t)grp * z->col_rows * ch.col_ld, ch.col_ld,
                   0.0f, out + (size_t)grp * z->out_c_g * ch.ld, ch.ld);
    if (ch.images > 1)
        stage(y, buf.staged, 0, ch, g);
    if (bias) /* while y is still in cache */
        for (int p = 0; p < ch.images * g->out_c; p++) {
            float *plane = y + (size_t)p * z->out_hw;
            const float b = bias[p % g->out_c];
            for (int i = 0; i < z->out_hw; i++)
                plane[i] += b;
        }
}

/* The chunk that starts at image n0 of a block ending at image `end`. */
static chunk_shape chunk_at(int n0, int end, rlkd_cpu_batch_split s,
                            const rlkd_conv2d_geom *g)
{
    chunk_shape ch;
    ch.images = end - n0 < s.chunk ? end - n0 : s.chunk;
    ch.ld = ch.images * g->out_h * g->out_w;
    ch.col_ld =
        reads_input_directly(ch, g) ? ch.ld : rlkd_cpu_padded_stride(ch.ld);
    return ch;
}

rlkd_status rlkd_cpu_conv2d_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias,
                                    const rlkd_conv2d_geom *g)
{
    if (rlkd_cpu_winograd_applies(g))
        return rlkd_cpu_winograd_forward(ctx, y, x, w, bias, g);
    const conv_sizes z = conv_sizes_of(g);
    const rlkd_cpu_batch_split s = conv_split_of(ctx, g);
    float *workspace = NULL;
    if (block_floats(s, g) > 0)
        RLKD_TRY(rlkd_cpu_workspace(ctx, "rlkd_conv2d_forward",
                                    (size_t)s.blocks * block_floats(s, g),
                                    &workspace));
    if (s.per_image == 1)
        rlkd_cpu_gemm_serial_begin();
    #pragma omp parallel for num_threads(s.blocks) schedule(static, 1)
    for (int b = 0; b < s.blocks; b++) {
        const block_buffers buf =
            workspace ? block_buffers_at(workspace, b, s, g)
                      : (block_buffers){NULL, NULL};
        const int end = rlkd_cpu_block_start(b + 1, s, g->n);
        for (int n0 = rlkd_cpu_block_start(b, s, g->n); n0 < end;
             n0 += s.chunk)
            forward_chunk(ctx, s.per_image, buf, y + n0 * z.y_image,
                          x + n0 * z.x_image, w, bias, chunk_at(n0, end, s, g),
                          g, &z);
    }
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
        for (int n = 0; n < g->n; n++)
            sum += rlkd_cpu_plane_sum(dy + n * z.y_image + (size_t)c * z.out_hw,
                                      (size_t)z.out_hw);
        dbias[c] += (float)sum;
    }
}

/* One chunk's backward on `threads` threads: dw_sum += its dw (either may
 * be NULL with its output), dx = its dx. */
static void backward_chunk(rlkd_context *ctx, int threads, block_buffers buf,
                           float *dx, float *dw_sum, const float *dy,
                           const float *x, const float *w, chunk_shape ch,
                           const rlkd_conv2d_geom *g, const conv_sizes *z)
{
    const float *dy_staged = dy;
    if (ch.images > 1) {
        stage(buf.staged, dy, 1, ch, g);
        dy_staged = buf.staged;
    }
    if (dw_sum) {
        const float *col = columns(threads, buf.col, x, ch, g);
        for (int grp = 0; grp < g->groups; grp++)
            chunk_gemm(ctx, threads, 0, 1, z->out_c_g, z->col_rows, ch.ld,
                       dy_staged + (size_t)grp * z->out_c_g * ch.ld, ch.ld,
                       col + (size_t)grp * z->col_rows * ch.col_ld, ch.col_ld,
                       1.0f,
                       dw_sum + grp * z->w_group, z->col_rows);
    }
    if (dx) {
        /* A pointwise image's dcol is dx itself. */
        float *dcol = reads_input_directly(ch, g) ? dx : buf.col;
        for (int grp = 0; grp < g->groups; grp++)
            chunk_gemm(ctx, threads, 1, 0, z->col_rows, ch.ld, z->out_c_g,
                       w + grp * z->w_group, z->col_rows,
                       dy_staged + (size_t)grp * z->out_c_g * ch.ld, ch.ld,
                       0.0f, dcol + (size_t)grp * z->col_rows * ch.col_ld,
                       ch.col_ld);
        if (dcol != dx)
            col2im(threads, dx, dcol, ch, g);
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
    const rlkd_cpu_batch_split s = conv_split_of(ctx, g);
    /* Winograd takes dx where it applies, after the GEMMs here. */
    const int winograd_dx = dx && rlkd_cpu_winograd_applies(g);
    float *gemm_dx = winograd_dx ? NULL : dx;
    /* Each block has its buffers (the column matrix serves both col, for
     * dw, and dcol, for dx, one after the other) and all but block 0, which
     * adds straight into dw, a dw partial sum; the partials go into dw
     * after, in block order. The workspace is sized for the larger of this
     * and Winograd's before any output is touched, so a failure leaves them
     * as they were and Winograd's request cannot fail. */
    const size_t buffers_all =
        (gemm_dx || dw) ? (size_t)s.blocks * block_floats(s, g) : 0;
    const size_t partials_all = dw ? (size_t)(s.blocks - 1) * z.w_count : 0;
    size_t workspace_all = buffers_all + partials_all;
    if (winograd_dx &&
        rlkd_cpu_winograd_backward_data_floats(ctx, g) > workspace_all)
        workspace_all = rlkd_cpu_winograd_backward_data_floats(ctx, g);
    float *workspace = NULL;
    if (workspace_all > 0)
        RLKD_TRY(rlkd_cpu_workspace(ctx, "rlkd_conv2d_backward", workspace_all,
                                    &workspace));
    float *partials = partials_all > 0 ? workspace + buffers_all : NULL;
    if (partials)
        memset(partials, 0, partials_all * sizeof *partials);

    if (dbias)
        accumulate_bias_grad(ctx, dbias, dy, g);
    if (gemm_dx || dw) {
        if (s.per_image == 1)
            rlkd_cpu_gemm_serial_begin();
        #pragma omp parallel for num_threads(s.blocks) schedule(static, 1)
        for (int b = 0; b < s.blocks; b++) {
            float *dw_sum = !dw || b == 0
                                ? dw
                                : partials + (size_t)(b - 1) * z.w_count;
            const block_buffers buf =
                buffers_all > 0 ? block_buffers_at(workspace, b, s, g)
                                : (block_buffers){NULL, NULL};
            const int end = rlkd_cpu_block_start(b + 1, s, g->n);
            for (int n0 = rlkd_cpu_block_start(b, s, g->n); n0 < end;
                 n0 += s.chunk)
                backward_chunk(ctx, s.per_image, buf,
                               gemm_dx ? gemm_dx + n0 * z.x_image : NULL,
                               dw_sum, dy + n0 * z.y_image,
                               x + n0 * z.x_image, w, chunk_at(n0, end, s, g),
                               g, &z);
        }
    }
    if (partials)
        add_partials(ctx, dw, partials, s.blocks - 1, z.w_count);
    if (winograd_dx)
        return rlkd_cpu_winograd_backward_data(ctx, dx, dy, w, g);
    return RLKD_OK;
}
