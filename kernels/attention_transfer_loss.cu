/*
 * Attention transfer loss (Zagoruyko and Komodakis 2017) on the GPU, the
 * twin of lib/cpu/attention_transfer_loss.c: a sample's attention map is
 * q[p] = mean over channels of f[c,p]^2, normalised a = q / max(||q||, eps);
 * loss = sum (a_s - a_t)^2 / (N HW). In double from the squares on, as the
 * CPU:
 *  1. the maps q of student and teacher (one read of each);
 *  2. a block per sample: the norms, the squared distance and, for the
 *     gradient, the factor dstudent / student at each position;
 *  3. the loss: the samples' distances added in order;
 *  4. dstudent = factor * student (a second read of the student).
 */
#include "attention.cuh"

/* As F.normalize: a map is divided by max(||q||, eps). */
#define AT_NORM_EPS 1e-12

/* maps [2,N,HW] = q of the student (blockIdx.y 0), then of the teacher. */
__global__ void __launch_bounds__(RLKD_TILE_MAX_THREADS)
rlkd_at_maps_kernel(double *maps, const float *student, const float *teacher,
                    int n, int student_c, int teacher_c, int hw)
{
    const float *features = blockIdx.y ? teacher : student;
    const int c = blockIdx.y ? teacher_c : student_c;
    const rlkd_tile_at at = rlkd_tile_position(n, hw);
    double sum = 0.0;
    if (at.active)
        for (int ch = threadIdx.y; ch < c; ch += blockDim.y) {
            const double v =
                features[((size_t)at.sample * c + ch) * hw + at.pos];
            sum += v * v;
        }
    sum = rlkd_tile_sum(sum);
    if (threadIdx.y == 0 && at.active)
        maps[(size_t)blockIdx.y * n * hw + at.q] = sum / c;
}

/* A block per sample: distance[sample] = sum (a_s - a_t)^2 and, where
 * dfactor is wanted, dfactor[sample, p] = d loss / d f[c,p] / f[c,p]. */
__global__ void rlkd_at_sample_kernel(double *distance, double *dfactor,
                                      const double *maps, int n, int hw,
                                      int student_c, double grad_scale)
{
    const int sample = blockIdx.x;
    const double *qs = maps + (size_t)sample * hw;
    const double *qt = maps + ((size_t)n + sample) * hw;
    double ss = 0.0, tt = 0.0;
    for (int p = threadIdx.x; p < hw; p += blockDim.x) {
        ss += qs[p] * qs[p];
        tt += qt[p] * qt[p];
    }
    const double div_s = fmax(sqrt(rlkd_block_sum(ss)), AT_NORM_EPS);
    const double div_t = fmax(sqrt(rlkd_block_sum(tt)), AT_NORM_EPS);
    /* the squared distance, and a_s . (a_s - a_t) for the gradient */
    double sum = 0.0, radial = 0.0;
    for (int p = threadIdx.x; p < hw; p += blockDim.x) {
        const double a_s = qs[p] / div_s, diff = a_s - qt[p] / div_t;
        sum += diff * diff;
        radial += a_s * diff;
    }
    sum = rlkd_block_sum(sum);
    radial = rlkd_block_sum(radial);
    if (threadIdx.x == 0)
        distance[sample] = sum;
    if (!dfactor)
        return;
    /* Through a = q / ||q||: dq = (da - a (a . da)) / ||q||; a clamped
     * divisor is a constant, so dq = da / eps. Then
     * dq[p] / df[c,p] = 2 f[c,p] / C. */
    if (div_s == AT_NORM_EPS)
        radial = 0.0;
    for (int p = threadIdx.x; p < hw; p += blockDim.x) {
        const double a_s = qs[p] / div_s, a_t = qt[p] / div_t;
        const double dq = grad_scale * (a_s - a_t - a_s * radial) / div_s;
        dfactor[(size_t)sample * hw + p] = 2.0 * dq / student_c;
    }
}

/* loss = the samples' distances, added in order, over N HW. */
__global__ void rlkd_at_loss_kernel(float *loss, const double *distance,
                                    int n, int hw)
{
    double sum = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        sum += distance[i];
    sum = rlkd_block_sum(sum);
    if (threadIdx.x == 0)
        *loss = (float)(sum / ((double)n * hw));
}

/* dstudent = dfactor at the position * student. */
__global__ void rlkd_at_student_grad_kernel(float *dstudent,
                                            const float *student,
                                            const double *dfactor, size_t n,
                                            size_t quads, unsigned hw,
                                            unsigned student_c)
{
    rlkd_elementwise(n, quads, [&](auto width, size_t i) {
        constexpr int W = decltype(width)::value;
        const unsigned plane = (unsigned)(W * i) / hw;
        const double *factor = dfactor + (size_t)(plane / student_c) * hw +
                               ((unsigned)(W * i) - plane * hw);
        const rlkd_floats<W> s = rlkd_load<W>(student, i);
        rlkd_floats<W> d;
        for (int k = 0; k < W; k++)
            d.v[k] = (float)(factor[k] * s.v[k]);
        rlkd_store<W>(dstudent, i, d);
    });
}

/* The loss's intermediates, in one pooled allocation. */
typedef struct at_maps {
    double *maps;     /* [2,N,HW]: q of the student, then of the teacher */
    double *distance; /* [N] */
    double *dfactor;  /* [N,HW], for dstudent only */
} at_maps;

static size_t at_maps_layout(at_maps *m, void *base, int n, int hw,
                             bool gradient)
{
    const size_t positions = (size_t)n * hw;
    size_t used = 0;
    m->maps = rlkd_scratch_take<double>(base, &used, 2 * positions);
    m->distance = rlkd_scratch_take<double>(base, &used, (size_t)n);
    m->dfactor = gradient ? rlkd_scratch_take<double>(base, &used, positions)
                          : NULL;
    return used;
}

static rlkd_status attention_transfer_with(rlkd_context *ctx, float *loss,
                                           float *dstudent,
                                           const float *student,
                                           const float *teacher,
                                           const at_maps *m, int n,
                                           int student_c, int teacher_c,
                                           int hw, float dloss)
{
    const dim3 tile = rlkd_tile_block(
        n, hw, student_c > teacher_c ? student_c : teacher_c);
    RLKD_LAUNCH(dim3(rlkd_tile_blocks(n, hw), 2), tile, 0, ctx,
                rlkd_at_maps_kernel)(m->maps, student, teacher, n, student_c,
                                     teacher_c, hw);
    RLKD_TRY(rlkd_cuda_launched("rlkd_at_maps_kernel"));
    /* loss = sum (a_s - a_t)^2 / (N HW): d loss / d a_s = grad_scale
     * (a_s - a_t) */
    const double grad_scale = 2.0 * dloss / ((double)n * hw);
    RLKD_LAUNCH(n, RLKD_CUDA_BLOCK, 0, ctx, rlkd_at_sample_kernel)(
        m->distance, m->dfactor, m->maps, n, hw, student_c, grad_scale);
    RLKD_TRY(rlkd_cuda_launched("rlkd_at_sample_kernel"));
    if (loss) {
        RLKD_LAUNCH(1, RLKD_CUDA_BLOCK, 0, ctx, rlkd_at_loss_kernel)(
            loss, m->distance, n, hw);
        RLKD_TRY(rlkd_cuda_launched("rlkd_at_loss_kernel"));
    }
    if (!dstudent)
        return RLKD_OK;
    const size_t count = (size_t)n * student_c * hw;
    const size_t quads =
        hw % 4 == 0 ? rlkd_cuda_quads(count, dstudent, student) : 0;
    RLKD_LAUNCH(rlkd_cuda_elementwise_blocks(count, quads), RLKD_CUDA_BLOCK,
                0, ctx, rlkd_at_student_grad_kernel)(
        dstudent, student, m->dfactor, count, quads, (unsigned)hw,
        (unsigned)student_c);
    return rlkd_cuda_launched("rlkd_at_student_grad_kernel");
}

extern "C" rlkd_status rlkd_cuda_attention_transfer_loss(
    rlkd_context *ctx, float *loss, float *dstudent, const float *student,
    const float *teacher, int n, int student_c, int teacher_c, int hw,
    float dloss)
{
    if (!loss && !dstudent)
        return RLKD_OK;
    const bool gradient = dstudent != NULL;
    return rlkd_with_scratch<at_maps>(
        ctx,
        [&](at_maps *m, void *base) {
            return at_maps_layout(m, base, n, hw, gradient);
        },
        [&](const at_maps *m) {
            return attention_transfer_with(ctx, loss, dstudent, student,
                                           teacher, m, n, student_c,
                                           teacher_c, hw, dloss);
        });
}
