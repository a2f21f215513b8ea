/*
 * The ImageNet transforms of decoded images, as torchvision computes their
 * geometry: RandomResizedCrop's window, Resize + CenterCrop's grid and
 * offsets (Python's int() truncates, its round() rounds half to even:
 * lrint in the default rounding mode), and one bilinear resampler for both.
 * The resampler is torch's interpolate(mode="bilinear",
 * align_corners=False, antialias=False) on the window; torchvision on PIL
 * images antialiases when shrinking, so shrunk images are sharper here.
 */
#include "data_internal.h"

#include <math.h>

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

void rlkd_center_crop_grid(int height, int width, int resize_size, int side,
                           int *grid_height, int *grid_width, int *grid_top,
                           int *grid_left)
{
    int gh = resize_size, gw = resize_size;
    if (height < width)
        gw = (int)((double)resize_size * width / height);
    else if (width < height)
        gh = (int)((double)resize_size * height / width);
    *grid_height = gh;
    *grid_width = gw;
    /* A grid smaller than the crop is padded: (side - g) // 2 before it. */
    *grid_top = gh >= side ? (int)lrint((gh - side) / 2.0) : -((side - gh) / 2);
    *grid_left = gw >= side ? (int)lrint((gw - side) / 2.0) : -((side - gw) / 2);
}

/* Where output position `o` of a grid of `grid` samples a window of `size`
 * starting at `start`: two source indices and the weight of the second. */
typedef struct tap {
    int low, high;
    double weight;
} tap;

static tap bilinear_tap(int o, int grid, int start, int size)
{
    double source = ((double)o + 0.5) * size / grid - 0.5;
    if (source < 0)
        source = 0;
    int low = (int)source;
    if (low > size - 1)
        low = size - 1;
    tap t = {start + low, start + (low < size - 1 ? low + 1 : low),
             source - low};
    return t;
}

void rlkd_resample_rgb(const rlkd_rgb_image *image, rlkd_crop from,
                       int grid_height, int grid_width, int grid_top,
                       int grid_left, int side, int flip,
                       const float *level_values, float *dst)
{
    size_t plane = (size_t)side * side;
    size_t stride = (size_t)image->width * RGB;
    for (int y = 0; y < side; y++) {
        int gy = y + grid_top;
        int row_inside = gy >= 0 && gy < grid_height;
        tap ty = row_inside ? bilinear_tap(gy, grid_height, from.top, from.height)
                            : (tap){0, 0, 0};
        const uint8_t *row0 = image->pixels + (size_t)ty.low * stride;
        const uint8_t *row1 = image->pixels + (size_t)ty.high * stride;
        for (int x = 0; x < side; x++) {
            int gx = (flip ? side - 1 - x : x) + grid_left;
            int inside = row_inside && gx >= 0 && gx < grid_width;
            tap tx = inside ? bilinear_tap(gx, grid_width, from.left, from.width)
                            : (tap){0, 0, 0};
            for (int c = 0; c < RGB; c++) {
                int level = 0;
                if (inside) {
                    size_t x0 = (size_t)tx.low * RGB + c;
                    size_t x1 = (size_t)tx.high * RGB + c;
                    double top = (1 - tx.weight) * row0[x0] + tx.weight * row0[x1];
                    double bottom = (1 - tx.weight) * row1[x0] + tx.weight * row1[x1];
                    double value = (1 - ty.weight) * top + ty.weight * bottom;
                    /* Half up, as PIL rounds; a convex mix stays in [0, 255]. */
                    level = (int)floor(value + 0.5);
                }
                dst[c * plane + (size_t)y * side + x] =
                    level_values[c * 256 + level];
            }
        }
    }
}
