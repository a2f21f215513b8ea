/*
 * What the GPU tests share: the CUDA context (or a skip, exit 77, where
 * there is none), host data and tensors on either context, the same values
 * in a CPU and a GPU tensor, the comparison of a CUDA result with the CPU
 * reference's, and the convolution cases' geometry. Header-only: each
 * tests/gpu program is one file.
 */
#ifndef RLKD_GPU_TEST_H
#define RLKD_GPU_TEST_H

#include "testlib.h"

#include <stdlib.h>
#include <string.h>

static rlkd_context *gpu;

/* Makes `gpu`, or prints why not and exits 77 (skipped): call after
 * test_main_begin. */
static inline void gpu_begin(const char *program)
{
    rlkd_status status = rlkd_context_create(&gpu, RLKD_DEVICE_CUDA, 0);
    if (status == RLKD_OK) {
        test_must(rlkd_context_set_seed(gpu, 1), "rlkd_context_set_seed");
        return;
    }
    printf("SKIP %s: no CUDA context (%s: %s)\n", program,
           rlkd_status_string(status), rlkd_last_error());
    test_main_end();
    exit(77);
}

static inline int gpu_end(void)
{
    rlkd_context_destroy(gpu);
    test_main_end();
    return test_finish();
}

/* RLKD_GPU_TEST_LARGE=1 asks for network-sized shapes too: for a real GPU,
 * too slow for the emulator. */
static inline int gpu_large_tests(void)
{
    const char *large = getenv("RLKD_GPU_TEST_LARGE");
    return large && strcmp(large, "1") == 0;
}

/* n floats uniform in [lo, hi) from seed (test_fill_uniform's); free()
 * them. */
static inline float *uniform_floats(size_t n, float lo, float hi,
                                    uint64_t seed)
{
    float *values = malloc(n * sizeof *values);
    if (!values)
        test_fatal("malloc");
    test_fill_uniform(values, n, lo, hi, seed);
    return values;
}

/* Destroys `count` tensors (NULL ones are skipped). */
static inline void tensors_destroy(rlkd_tensor *const *tensors, size_t count)
{
    for (size_t i = 0; i < count; i++)
        rlkd_tensor_destroy(tensors[i]);
}

/* A zeroed GPU tensor of up to 4 dims (0 for unused trailing dims). */
static inline rlkd_tensor *g_new(int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    int ndim = d3 ? 4 : d2 ? 3 : d1 ? 2 : 1;
    rlkd_tensor *t = NULL;
    test_must(rlkd_tensor_create(gpu, RLKD_DTYPE_F32, ndim, shape, &t),
              "rlkd_tensor_create on the GPU");
    test_must(rlkd_tensor_fill(t, 0.0f), "rlkd_tensor_fill on the GPU");
    return t;
}

/* A GPU copy of a CPU tensor (same shape; F32 or I32). */
static inline rlkd_tensor *g_copy(const rlkd_tensor *cpu)
{
    int64_t shape[RLKD_MAX_DIMS];
    int ndim = rlkd_tensor_ndim(cpu);
    size_t n = (size_t)rlkd_tensor_numel(cpu);
    test_must(rlkd_tensor_shape(cpu, shape, RLKD_MAX_DIMS), "rlkd_tensor_shape");
    rlkd_tensor *t = NULL;
    test_must(rlkd_tensor_create(gpu, rlkd_tensor_dtype(cpu), ndim, shape, &t),
              "rlkd_tensor_create on the GPU");
    void *host = malloc(n * 4 + 4);
    if (!host)
        test_fatal("malloc");
    if (rlkd_tensor_dtype(cpu) == RLKD_DTYPE_I32) {
        test_must(rlkd_tensor_read_i32(cpu, host, n), "rlkd_tensor_read_i32");
        test_must(rlkd_tensor_write_i32(t, host, n), "rlkd_tensor_write_i32");
    } else {
        test_must(rlkd_tensor_read(cpu, host, n), "rlkd_tensor_read");
        test_must(rlkd_tensor_write(t, host, n), "rlkd_tensor_write");
    }
    free(host);
    return t;
}

/* A float tensor on ctx (test_ctx or gpu) holding `data`, or zeros where
 * data is NULL; dimensions as t_from's (0 for unused trailing ones). */
static inline rlkd_tensor *tensor_on(rlkd_context *ctx, const float *data,
                                     int64_t d0, int64_t d1, int64_t d2,
                                     int64_t d3)
{
    rlkd_tensor *cpu = data ? t_from(data, d0, d1, d2, d3)
                            : t_new(d0, d1, d2, d3);
    if (ctx == test_ctx)
        return cpu;
    rlkd_tensor *t = g_copy(cpu);
    rlkd_tensor_destroy(cpu);
    return t;
}

/* The GPU and CPU tensors hold as many elements; else says so, labelled
 * "what". */
static inline int gpu_counts_match(const char *what, const rlkd_tensor *on_gpu,
                                   const rlkd_tensor *on_cpu)
{
    const size_t gpu_count = (size_t)rlkd_tensor_numel(on_gpu);
    const size_t cpu_count = (size_t)rlkd_tensor_numel(on_cpu);
    return CHECK_MSG(gpu_count == cpu_count,
                     "%s: %zu elements on the GPU, %zu on the CPU", what,
                     gpu_count, cpu_count);
}

/*
 * The GPU tensor against the CPU one, element by element:
 * |gpu - cpu| <= atol + rtol * |cpu|, labelled "what".
 */
static inline int gpu_matches_cpu(const char *what, const rlkd_tensor *on_gpu,
                           const rlkd_tensor *on_cpu, double atol, double rtol)
{
    if (!gpu_counts_match(what, on_gpu, on_cpu))
        return 0;
    size_t n = (size_t)rlkd_tensor_numel(on_cpu);
    float *got = t_get(on_gpu), *want = t_get(on_cpu);
    double *reference = test_to_double(want, n);
    int ok = test_close(what, got, reference, n, atol, rtol);
    free(got);
    free(want);
    free(reference);
    return ok;
}

/* The GPU tensor holds the CPU one's values bit for bit; else says how
 * many elements differ and where they first do, labelled "what". */
static inline int gpu_same_bits(const char *what, const rlkd_tensor *on_gpu,
                                const rlkd_tensor *on_cpu)
{
    if (!gpu_counts_match(what, on_gpu, on_cpu))
        return 0;
    const size_t n = (size_t)rlkd_tensor_numel(on_cpu);
    float *got = t_get(on_gpu), *want = t_get(on_cpu);
    size_t first = n, differing = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0) {
            differing++;
            if (first == n)
                first = i;
        }
    int ok = CHECK_MSG(differing == 0,
                       "%s: %zu of %zu elements differ from the CPU's; first "
                       "[%zu] got %.9g want %.9g", what, differing, n, first,
                       differing ? (double)got[first] : 0.0,
                       differing ? (double)want[first] : 0.0);
    free(got);
    free(want);
    return ok;
}

/* ---- the same values on both devices ---- */

/* A CPU tensor and a GPU tensor of the same values; absent: both NULL. */
typedef struct tensor_pair {
    rlkd_tensor *cpu, *gpu;
} tensor_pair;

/* A pair of values uniform in [lo, hi) from seed, dimensions as t_new's. */
static inline tensor_pair pair_uniform(int64_t d0, int64_t d1, int64_t d2,
                                       int64_t d3, float lo, float hi,
                                       uint64_t seed)
{
    tensor_pair p = {t_new(d0, d1, d2, d3), NULL};
    const size_t n = (size_t)rlkd_tensor_numel(p.cpu);
    float *values = uniform_floats(n, lo, hi, seed);
    test_must(rlkd_tensor_write(p.cpu, values, n), "rlkd_tensor_write");
    free(values);
    p.gpu = g_copy(p.cpu);
    return p;
}

static inline void pairs_free(tensor_pair *pairs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        rlkd_tensor_destroy(pairs[i].cpu);
        rlkd_tensor_destroy(pairs[i].gpu);
    }
}

/* gpu_matches_cpu of the pair's tensors (an absent pair matches). */
static inline int pair_matches(const char *what, const tensor_pair *p,
                               double atol, double rtol)
{
    return !p->cpu || gpu_matches_cpu(what, p->gpu, p->cpu, atol, rtol);
}

/* ---- convolution cases ---- */

typedef struct conv_case {
    const char *name;
    int n, in_c, in_h, in_w, out_c, kernel_h, kernel_w;
    int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
} conv_case;

/* rlkd_conv2d_forward and _backward with case c's geometry. */
static inline rlkd_status conv_case_forward(rlkd_context *ctx,
                                            const conv_case *c,
                                            rlkd_tensor *y,
                                            const rlkd_tensor *x,
                                            const rlkd_tensor *w,
                                            const rlkd_tensor *bias)
{
    return rlkd_conv2d_forward(ctx, y, x, w, bias, c->stride_h, c->stride_w,
                               c->pad_h, c->pad_w, c->dilation_h,
                               c->dilation_w, c->groups);
}

static inline rlkd_status conv_case_backward(rlkd_context *ctx,
                                             const conv_case *c,
                                             rlkd_tensor *dx, rlkd_tensor *dw,
                                             rlkd_tensor *dbias,
                                             const rlkd_tensor *dy,
                                             const rlkd_tensor *x,
                                             const rlkd_tensor *w)
{
    return rlkd_conv2d_backward(ctx, dx, dw, dbias, dy, x, w, c->stride_h,
                                c->stride_w, c->pad_h, c->pad_w,
                                c->dilation_h, c->dilation_w, c->groups);
}

#endif
