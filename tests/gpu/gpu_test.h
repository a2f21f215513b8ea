/*
 * What the GPU tests share: the CUDA context (or a skip, exit 77, where
 * there is none), tensors on it, and the comparison of a CUDA result with
 * the CPU reference's. Header-only: each tests/gpu program is one file.
 */
#ifndef RLKD_GPU_TEST_H
#define RLKD_GPU_TEST_H

#include "testlib.h"

#include <stdlib.h>

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

/* A GPU tensor holding `data`, shaped like t_from's. */
static inline rlkd_tensor *g_from(const float *data, int64_t d0, int64_t d1,
                           int64_t d2, int64_t d3)
{
    rlkd_tensor *cpu = t_from(data, d0, d1, d2, d3);
    rlkd_tensor *t = g_copy(cpu);
    rlkd_tensor_destroy(cpu);
    return t;
}

/*
 * The GPU tensor against the CPU one, element by element:
 * |gpu - cpu| <= atol + rtol * |cpu|, labelled "what".
 */
static inline int gpu_matches_cpu(const char *what, const rlkd_tensor *on_gpu,
                           const rlkd_tensor *on_cpu, double atol, double rtol)
{
    size_t n = (size_t)rlkd_tensor_numel(on_cpu);
    if (!CHECK_MSG((size_t)rlkd_tensor_numel(on_gpu) == n,
                   "%s: %zu elements on the GPU, %zu on the CPU", what,
                   (size_t)rlkd_tensor_numel(on_gpu), n))
        return 0;
    float *got = t_get(on_gpu), *want = t_get(on_cpu);
    double *reference = test_to_double(want, n);
    int ok = test_close(what, got, reference, n, atol, rtol);
    free(got);
    free(want);
    free(reference);
    return ok;
}

#endif
