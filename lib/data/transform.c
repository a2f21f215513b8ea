/*
 * The ImageNet transforms of decoded images, as torchvision computes them
 * on PIL images: RandomResizedCrop's window, Resize + CenterCrop's grid
 * and offsets (Python's int() truncates, its round() rounds half to even:
 * lrint in the default rounding mode), and one resampler for both, PIL's
 * antialiased bilinear resize (Image.resize with BILINEAR, Pillow's
 * Resample.c) in its fixed-point arithmetic, so the pixels are PIL's.
 */
#include "data_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#define ATTEMPTS 10
#define FLIP_DRAW ATTEMPTS
/* Draws per image: attempts, the flip, room to spare. */
#define DRAWS_PER_IMAGE 16
#define RGB 3

/* A 32-bit word as a double in [0, 1). */
static double unit(uint32_t word)
{
    return (double)word * (1.0 / 4294967296.0);
}

rlkd_crop rlkd_random_resized_crop(int height, int width, double scale_min,
                                   double scale_max, double ratio_min,
                                   double ratio_max, uint64_t seed,
                                   uint64_t stream, uint64_t image)
{
    double area = (double)height * width;
    double log_ratio_min = log(ratio_min), log_ratio_max = log(ratio_max);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        rlkd_philox_block r = rlkd_philox4x32(
            seed, stream, DRAWS_PER_IMAGE * image + (uint64_t)attempt);
        double target_area =
            area * (scale_min + (scale_max - scale_min) * unit(r.v[0]));
        double ratio = exp(log_ratio_min +
                           (log_ratio_max - log_ratio_min) * unit(r.v[1]));
        long w = lrint(sqrt(target_area * ratio));
        long h = lrint(sqrt(target_area / ratio));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            rlkd_crop crop = {(int)(r.v[2] % (uint32_t)(height - h + 1)),
                              (int)(r.v[3] % (uint32_t)(width - w + 1)),
                              (int)h, (int)w};
            return crop;
        }
    }
    double in_ratio = (double)width / height;
    long w = width, h = height;
    if (in_ratio < ratio_min)
        h = lrint(w / ratio_min);
    else if (in_ratio > ratio_max)
        w = lrint(h * ratio_max);
    rlkd_crop crop = {(int)((height - h) / 2), (int)((width - w) / 2), (int)h,
                      (int)w};
    return crop;
}

int rlkd_random_flip(uint64_t seed, uint64_t stream, uint64_t image)
{
    rlkd_philox_block r = rlkd_philox4x32(
        seed, stream, DRAWS_PER_IMAGE * image + FLIP_DRAW);
    return (int)(r.v[0] >> 31);
}

/* The longest resized side; half of INT_MAX so sums of two still fit. */
#define GRID_SIDE_LIMIT ((double)(INT_MAX / 2))

void rlkd_center_crop_grid(int height, int width, int resize_size, int side,
                           int *grid_height, int *grid_width, int *grid_top,
                           int *grid_left)
{
    /* The longer side, int(resize_size * long / short) as torchvision has
     * it, is capped at GRID_SIDE_LIMIT: a very elongated image with a large
     * resize_size would not fit an int (only the crop's pixels are made,
     * so the cap changes nothing a real image reaches). */
    double gh = resize_size, gw = resize_size;
    if (height < width)
        gw = floor(fmin((double)resize_size * width / height, GRID_SIDE_LIMIT));
    else if (width < height)
        gh = floor(fmin((double)resize_size * height / width, GRID_SIDE_LIMIT));
    *grid_height = (int)gh;
    *grid_width = (int)gw;
    /* A grid smaller than the crop is padded: (side - g) // 2 before it. */
    *grid_top = gh >= side ? (int)lrint((gh - side) / 2.0)
                           : -((side - *grid_height) / 2);
    *grid_left = gw >= side ? (int)lrint((gw - side) / 2.0)
                            : -((side - *grid_width) / 2);
}

/* The triangle of bilinear interpolation, PIL's bilinear_filter. */
static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* The taps an axis of `size` inputs resized to `grid` needs: a triangle
 * widened by the reduction factor when shrinking (the antialiasing). */
static int axis_taps(int size, int grid)
{
    double scale = (double)size / grid;
    return (int)ceil(scale < 1.0 ? 1.0 : scale) * 2 + 1;
}

/*
 * PIL's precompute_coeffs and normalize_coeffs_8bpc (Resample.c) for
 * outputs [a->first, + a->count) of an axis of `size` inputs resized to
 * `grid`, in the same double operations so the weights are PIL's to the
 * bit. `scratch` holds a->taps doubles.
 */
static void axis_weights(rlkd_resample_axis *a, int size, int grid,
                         double *scratch)
{
    double scale = (double)size / grid;
    double widen = scale < 1.0 ? 1.0 : scale;
    double support = widen; /* the triangle's support is 1 */
    double inverse = 1.0 / widen;
    for (int i = 0; i < a->count; i++) {
        int o = a->first + i;
        double center = (o + 0.5) * scale;
        int low = (int)(center - support + 0.5);
        if (low < 0)
            low = 0;
        int high = (int)(center + support + 0.5);
        if (high > size)
            high = size;
        int n = high - low;
        double total = 0.0;
        for (int t = 0; t < n; t++) {
            scratch[t] = triangle((t + low - center + 0.5) * inverse);
            total += scratch[t];
        }
        int32_t *w = a->weights + (size_t)i * a->taps;
        for (int t = 0; t < a->taps; t++) {
            double k = t < n && total != 0.0 ? scratch[t] / total : 0.0;
            w[t] = (int32_t)(k < 0 ? -0.5 + k * (1 << RLKD_RESAMPLE_WEIGHT_BITS)
                                   : 0.5 + k * (1 << RLKD_RESAMPLE_WEIGHT_BITS));
        }
        a->bounds[2 * i] = low;
        a->bounds[2 * i + 1] = n > 0 ? n : 0;
    }
}

/*
 * Only the outputs the crop keeps get weights: every output pixel depends
 * only on its own weights, so computing part of the grid gives the whole
 * grid's values there.
 */
rlkd_status rlkd_resample_plan_make(rlkd_resample_plan *plan, rlkd_crop from,
                                    int grid_height, int grid_width,
                                    int grid_top, int grid_left, int side,
                                    int flip)
{
    rlkd_resample_plan p = {from, grid_top, grid_left, side, flip,
                            {grid_left > 0 ? grid_left : 0, 0,
                             axis_taps(from.width, grid_width), NULL, NULL},
                            {grid_top > 0 ? grid_top : 0, 0,
                             axis_taps(from.height, grid_height), NULL, NULL},
                            0, 0, NULL};
    int x_end = grid_left + side < grid_width ? grid_left + side : grid_width;
    int y_end = grid_top + side < grid_height ? grid_top + side : grid_height;
    if (x_end > p.across.first && y_end > p.down.first) {
        p.across.count = x_end - p.across.first;
        p.down.count = y_end - p.down.first;
    }
    *plan = p;
    if (p.across.count == 0)
        return RLKD_OK; /* the crop lies beyond the grid: all padding */

    int most_taps = p.across.taps > p.down.taps ? p.across.taps : p.down.taps;
    size_t weights = (size_t)p.across.count * p.across.taps +
                     (size_t)p.down.count * p.down.taps;
    size_t bounds = 2 * (size_t)(p.across.count + p.down.count);
    double *scratch = malloc((size_t)most_taps * sizeof(double) +
                             weights * sizeof(int32_t) + bounds * sizeof(int));
    if (!scratch)
        return RLKD_ERR_OUT_OF_MEMORY;
    p.across.weights = (int32_t *)(scratch + most_taps);
    p.down.weights = p.across.weights + (size_t)p.across.count * p.across.taps;
    p.across.bounds = (int *)(p.down.weights + (size_t)p.down.count * p.down.taps);
    p.down.bounds = p.across.bounds + 2 * p.across.count;
    axis_weights(&p.across, from.width, grid_width, scratch);
    axis_weights(&p.down, from.height, grid_height, scratch);
    p.row_first = p.down.bounds[0];
    p.row_end = p.down.bounds[2 * (p.down.count - 1)] +
                p.down.bounds[2 * (p.down.count - 1) + 1];
    p.memory = scratch;
    *plan = p;
    return RLKD_OK;
}

void rlkd_resample_plan_free(rlkd_resample_plan *plan)
{
    free(plan->memory);
    plan->memory = NULL;
    plan->across.count = plan->down.count = 0;
}

/* A weighted sum back to 8 bits: PIL's clip8 (its sums start at one half,
 * so the shift rounds). */
static uint8_t clip8(int32_t sum)
{
    if (sum >= (int32_t)255 << RLKD_RESAMPLE_WEIGHT_BITS)
        return 255;
    return sum <= 0 ? 0 : (uint8_t)(sum >> RLKD_RESAMPLE_WEIGHT_BITS);
}

/*
 * PIL's two-pass resampling (ImagingResampleInner), restricted to the
 * outputs the plan keeps: a horizontal pass over the window's rows that
 * the vertical pass reads, rounded to 8 bits as PIL's intermediate image
 * is, then the vertical pass, row by row into `dst` through the flip and
 * level_values.
 */
rlkd_status rlkd_resample_rgb(const rlkd_rgb_image *image,
                              const rlkd_resample_plan *plan,
                              const float *level_values, float *dst)
{
    const rlkd_resample_axis *across = &plan->across, *down = &plan->down;
    int side = plan->side;
    size_t plane = (size_t)side * side;
    /* Beyond the grid (a centre crop larger than the resized image): 0. */
    if (across->count < side || down->count < side)
        for (int c = 0; c < RGB; c++)
            for (size_t p = 0; p < plane; p++)
                dst[c * plane + p] = level_values[c * 256];
    if (across->count == 0)
        return RLKD_OK;

    size_t row_values = (size_t)across->count * RGB;
    /* A row of the vertical pass's sums, the horizontal pass's rows and an
     * output row. */
    int32_t *sums = malloc(row_values * sizeof(int32_t) +
                           (size_t)(plan->row_end - plan->row_first + 1) *
                               row_values);
    if (!sums)
        return RLKD_ERR_OUT_OF_MEMORY;
    uint8_t *rows = (uint8_t *)(sums + row_values);
    uint8_t *line = rows + (size_t)(plan->row_end - plan->row_first) * row_values;

    size_t stride = (size_t)image->width * RGB;
    for (int r = plan->row_first; r < plan->row_end; r++) {
        const uint8_t *src = image->pixels +
                             (size_t)(plan->from.top + r) * stride +
                             (size_t)plan->from.left * RGB;
        uint8_t *out = rows + (size_t)(r - plan->row_first) * row_values;
        for (int x = 0; x < across->count; x++) {
            const int32_t *w = across->weights + (size_t)x * across->taps;
            const uint8_t *p = src + (size_t)across->bounds[2 * x] * RGB;
            int32_t s0 = 1 << (RLKD_RESAMPLE_WEIGHT_BITS - 1), s1 = s0, s2 = s0;
            for (int t = 0; t < across->bounds[2 * x + 1]; t++) {
                s0 += p[RGB * t] * w[t];
                s1 += p[RGB * t + 1] * w[t];
                s2 += p[RGB * t + 2] * w[t];
            }
            out[RGB * x] = clip8(s0);
            out[RGB * x + 1] = clip8(s1);
            out[RGB * x + 2] = clip8(s2);
        }
    }

    for (int y = 0; y < down->count; y++) {
        const int32_t *w = down->weights + (size_t)y * down->taps;
        const uint8_t *first_row =
            rows + (size_t)(down->bounds[2 * y] - plan->row_first) * row_values;
        /* Row by row over whole rows (integer sums do not depend on the
         * order), which vectorises. */
        #pragma omp simd
        for (size_t v = 0; v < row_values; v++)
            sums[v] = 1 << (RLKD_RESAMPLE_WEIGHT_BITS - 1);
        for (int t = 0; t < down->bounds[2 * y + 1]; t++) {
            const uint8_t *row = first_row + (size_t)t * row_values;
            int32_t weight = w[t];
            #pragma omp simd
            for (size_t v = 0; v < row_values; v++)
                sums[v] += row[v] * weight;
        }
        #pragma omp simd
        for (size_t v = 0; v < row_values; v++)
            line[v] = clip8(sums[v]);
        /* Channel by channel, so each plane is written in order. */
        size_t out_row = (size_t)(down->first + y - plan->grid_top) * side;
        int first = across->first - plan->grid_left;
        for (int c = 0; c < RGB; c++) {
            const float *values = level_values + c * 256;
            float *out = dst + c * plane + out_row;
            if (plan->flip)
                for (int x = 0; x < across->count; x++)
                    out[side - 1 - first - x] = values[line[RGB * x + c]];
            else
                for (int x = 0; x < across->count; x++)
                    out[first + x] = values[line[RGB * x + c]];
        }
    }
    free(sums);
    return RLKD_OK;
}
