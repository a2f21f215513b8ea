/*
 * A small test harness for rlkd's C tests. A test program is a list of
 * cases; each case prints "PASS name" or "FAIL name" (or "SKIP name: why"),
 * tests/run.sh counts those lines, and the program's exit status is its
 * verdict (0 all passed, 1 something failed, 77 everything skipped).
 */
#ifndef RLKD_TESTLIB_H
#define RLKD_TESTLIB_H

#include "rlkd.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- cases and checks ---- */

typedef void (*test_case_fn)(void);

/* Runs one case: prints PASS/FAIL with its name. */
void test_run(const char *name, test_case_fn fn);
/* Marks the running case skipped with a reason (it then neither passes nor fails). */
void test_skip(const char *why);
/* Exit status for main(): 1 if any case failed, 77 if all skipped, else 0. */
int test_finish(void);

/* Records a failure of the running case with a message; returns cond. */
int test_check(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CHECK(cond) test_check(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define CHECK_MSG(cond, ...) test_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* The call must return RLKD_OK; otherwise the status and message are shown. */
#define CHECK_OK(call) test_check_status((call), RLKD_OK, NULL, __FILE__, __LINE__, #call)
/* The call must fail with `status`, set a message, and the message must
 * contain `needle` (NULL: any message). */
#define CHECK_FAILS(call, status, needle) \
    test_check_status((call), (status), (needle), __FILE__, __LINE__, #call)
int test_check_status(rlkd_status got, rlkd_status want, const char *needle,
                      const char *file, int line, const char *expr);

/* ---- tensors (a failure to create one aborts the test program) ---- */

/* Setup that cannot go on: prints what failed with rlkd_last_error() and
 * exits 1 (not a test failure: nothing after it could run). */
void test_fatal(const char *what);
/* test_fatal(what) unless status is RLKD_OK. */
void test_must(rlkd_status status, const char *what);

/* A scratch directory for the test's files, made on first use and removed
 * with its contents by test_main_end; test_temp_path writes "dir/name" into
 * path (TEST_PATH_BYTES). */
#define TEST_PATH_BYTES 512
const char *test_temp_dir(void);
void test_temp_path(char *path, const char *name);

extern rlkd_context *test_ctx; /* a CPU context, seeded, made by test_main_begin */
/* A search environment's cost (rlkd_search_cost_fn) for toy searches:
 * 100 MACs per kept channel of every layer; `user` is not read. */
rlkd_status test_hundred_macs_per_channel(void *user, const int *keep,
                                          int count, int64_t *macs);

void test_main_begin(void);    /* call first in main() */
void test_main_end(void);      /* frees test_ctx */

/* A zeroed F32 tensor of up to 4 dims (pass 0 for unused trailing dims). */
rlkd_tensor *t_new(int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* A tensor of the given shape holding a copy of `data`. */
rlkd_tensor *t_from(const float *data, int64_t d0, int64_t d1, int64_t d2,
                    int64_t d3);
/* An int32 label tensor [n]. */
rlkd_tensor *t_labels(const int32_t *labels, int64_t n);
/* Reads a tensor into a new host array (free() it). */
float *t_get(const rlkd_tensor *t);

/* 1 when a and b hold the same values bit for bit (same element count). */
int test_same_values(const rlkd_tensor *a, const rlkd_tensor *b);
/* 1 when every element of t equals `value`: an output a failed call must
 * have left alone. */
int test_all_equal(const rlkd_tensor *t, float value);

/* ---- numbers ---- */

/* Deterministic uniform numbers in [lo, hi) for test inputs. */
void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* A learnable data set of `images` one-channel side x side images: noise
 * plus a bright band `band` rows high whose position gives the class
 * (image i has class i % classes); different under flips and crops. */
rlkd_dataset *test_band_dataset(int images, int side, int classes, int band,
                                uint64_t seed);
/* Copies floats to a new double array (free() it). */
double *test_to_double(const float *x, size_t n);

/*
 * got (float) against want (double): element i passes when
 * |got - want| <= atol + rtol * |want|. Reports the worst element.
 */
int test_close(const char *what, const float *got, const double *want,
               size_t n, double atol, double rtol);

/* test_close of a tensor's n values against scale * want, labelled
 * "prefix: what" (e.g. a case's name and the output compared). */
int test_close_tensor(const char *prefix, const char *what,
                      const rlkd_tensor *got, const double *want, size_t n,
                      double scale, double atol, double rtol);

/*
 * Central finite differences of a double-precision scalar function:
 * grad[i] = (f(var + h e_i) - f(var - h e_i)) / 2h, perturbing var in place
 * (restored afterwards). `f` reads var through `ctx`.
 */
void test_fd_gradient(double (*f)(void *ctx), void *ctx, double *var,
                      size_t n, double h, double *grad);

#endif
