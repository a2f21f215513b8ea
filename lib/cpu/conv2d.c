/*
 * 2-D convolution on the CPU: im2col + GEMM, per image and group.
 *
 * For one image the column matrix has a row per (input channel, kernel tap)
 * and a column per output pixel, so group g's output is
 *   y_g [Cout/G, Ho*Wo] = w_g [Cout/G, Cin/G*Kh*Kw] col_g [Cin/G*Kh*Kw, Ho*Wo]
 * and backward is dw_g += dy_g col_g^T, dcol_g = w_g^T dy_g, dx = col2im(dcol).
 * Every loop here writes disjoint outputs and sums in a fixed order, so with
 * the BLAS the results depend on the thread count alone, not on scheduling.
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

/* The column matrix of one image x_n [Cin, H, W]: zero in the padding. */
static void im2col(rlkd_context *ctx, float *col, const float *x_n,
                   const rlkd_conv2d_geom *g)
{
    const int taps = g->kernel_h * g->kernel_w;
    const int64_t rows = (int64_t)g->in_c * taps;
    const size_t in_hw = (size_t)g->in_h * g->in_w;
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)rows * out_hw > RLKD_CONV2D_PARALLEL_MIN)
    for (int64_t row = 0; row < rows; row++) {
        const int tap = (int)(row % taps);
        const int ki = tap / g->kernel_w, kj = tap % g->kernel_w;
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
            for (int ow = 0; ow < g->out_w; ow++) {
                const int iw = input_coord(ow, kj, g->stride_w, g->pad_w,
                                           g->dilation_w);
                dst_row[ow] = iw >= 0 && iw < g->in_w ? src_row[iw] : 0.0f;
            }
        }
    }
}

/*
 * The transpose of im2col: dx_n [Cin, H, W] = sum of the column matrix's
 * entries over every (tap, output pixel) that read each input pixel.
 * Parallel over channels, so each plane is summed by one thread in tap order.
 */
static void col2im(rlkd_context *ctx, float *dx_n, const float *col,
                   const rlkd_conv2d_geom *g)
{
    const int taps = g->kernel_h * g->kernel_w;
    const size_t in_hw = (size_t)g->in_h * g->in_w;
    const size_t out_hw = (size_t)g->out_h * g->out_w;
    #pragma omp parallel for num_threads(ctx->num_threads) \
        if ((size_t)g->in_c * taps * out_hw > RLKD_CONV2D_PARALLEL_MIN)
    for (int c = 0; c < g->in_c; c++) {
        float *plane = dx_n + (size_t)c * in_hw;
        memset(plane, 0, in_hw * sizeof *plane);
        for (int tap = 0; tap < taps; tap++) {
            const int ki = tap / g->kernel_w, kj = tap % g->kernel_w;
            const float *src = col + ((size_t)c * taps + tap) * out_hw;
            for (int oh = 0; oh < g->out_h; oh++) {
                const int ih = input_coord(oh, ki, g->stride_h, g->pad_h,
                                           g->dilation_h);
                if (ih < 0 || ih >= g->in_h)
                    continue;
                float *dst_row = plane + (size_t)ih * g->in_w;
                const float *src_row = src + (size_t)oh * g->out_w;
                for (int ow = 0; ow < g->out_w; ow++) {
                    const int iw = input_coord(ow, kj, g->stride_w, g->pad_w,
                                               g->dilation_w);
                    if (iw >= 0 && iw < g->in_w)
                        dst_row[iw] += src_row[ow];
                }
            }
        }
    }
}

/* The column matrix of image x_n: x_n itself when pointwise, else im2col
 * into `scratch`. */
static const float *columns(rlkd_context *ctx, float *scratch,
                            const float *x_n, const rlkd_conv2d_geom *g)
{
    if (is_pointwise(g))
        return x_n;
    im2col(ctx, scratch, x_n, g);
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
    return z;
}

rlkd_status rlkd_cpu_conv2d_forward(rlkd_context *ctx, float *y,
                                    const float *x, const float *w,
                                    const float *bias,
                                    const rlkd_conv2d_geom *g)
{
    const conv_sizes z = conv_sizes_of(g);
    float *scratch = NULL;
    if (column_count(g) > 0)
        RLKD_TRY(rlkd_cpu_scratch("rlkd_conv2d_forward", column_count(g),
                                  &scratch));
    for (int n = 0; n < g->n; n++) {
        const float *col = columns(ctx, scratch, x + n * z.x_image, g);
        float *y_n = y + n * z.y_image;
        for (int grp = 0; grp < g->groups; grp++)
            rlkd_cpu_gemm(ctx, 0, 0, z.out_c_g, z.out_hw, z.col_rows, 1.0f,
                          w + grp * z.w_group, z.col_rows,
                          col + grp * z.col_group, z.out_hw, 0.0f,
                          y_n + grp * z.y_group, z.out_hw);
    }
    free(scratch);

    if (bias) {
        const int64_t planes = (int64_t)g->n * g->out_c;
        #pragma omp parallel for num_threads(ctx->num_threads) \
            if ((size_t)planes * z.out_hw > RLKD_CONV2D_PARALLEL_MIN)
        for (int64_t p = 0; p < planes; p++) {
            float *plane = y + (size_t)p * z.out_hw;
            const float b = bias[p % g->out_c];
            for (int i = 0; i < z.out_hw; i++)
                plane[i] += b;
        }
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
        for (int n = 0; n < g->n; n++) {
            const float *plane = dy + n * z.y_image + (size_t)c * z.out_hw;
            for (int i = 0; i < z.out_hw; i++)
                sum += plane[i];
        }
        dbias[c] += (float)sum;
    }
}

rlkd_status rlkd_cpu_conv2d_backward(rlkd_context *ctx, float *dx, float *dw,
                                     float *dbias, const float *dy,
                                     const float *x, const float *w,
                                     const rlkd_conv2d_geom *g)
{
    const conv_sizes z = conv_sizes_of(g);
    /* Allocate before touching any output, so a failure leaves them as
     * they were. One buffer serves both col (for dw) and dcol (for dx). */
    float *scratch = NULL;
    if ((dx || dw) && column_count(g) > 0)
        RLKD_TRY(rlkd_cpu_scratch("rlkd_conv2d_backward", column_count(g),
                                  &scratch));
    if (dbias)
        accumulate_bias_grad(ctx, dbias, dy, g);
    for (int n = 0; n < g->n; n++) {
        const float *dy_n = dy + n * z.y_image;
        if (dw) {
            const float *col = columns(ctx, scratch, x + n * z.x_image, g);
            for (int grp = 0; grp < g->groups; grp++)
                rlkd_cpu_gemm(ctx, 0, 1, z.out_c_g, z.col_rows, z.out_hw,
                              1.0f, dy_n + grp * z.y_group, z.out_hw,
                              col + grp * z.col_group, z.out_hw, 1.0f,
                              dw + grp * z.w_group, z.col_rows);
        }
        if (dx) {
            /* Pointwise: dcol is dx itself. */
            float *dx_n = dx + n * z.x_image;
            float *dcol = is_pointwise(g) ? dx_n : scratch;
            for (int grp = 0; grp < g->groups; grp++)
                rlkd_cpu_gemm(ctx, 1, 0, z.col_rows, z.out_hw, z.out_c_g,
                              1.0f, w + grp * z.w_group, z.col_rows,
                              dy_n + grp * z.y_group, z.out_hw, 0.0f,
                              dcol + grp * z.col_group, z.out_hw);
            if (!is_pointwise(g))
                col2im(ctx, dx_n, dcol, g);
        }
    }
    free(scratch);
    return RLKD_OK;
}
