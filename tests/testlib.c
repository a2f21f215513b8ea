#include "testlib.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

rlkd_context *test_ctx;

static const char *current_case;
static int case_failed, case_skipped;
static int cases_run, cases_failed, cases_skipped;

void test_run(const char *name, test_case_fn fn)
{
    current_case = name;
    case_failed = 0;
    case_skipped = 0;
    fn();
    cases_run++;
    if (case_skipped) {
        cases_skipped++;
    } else if (case_failed) {
        cases_failed++;
        printf("FAIL %s\n", name);
    } else {
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}

void test_skip(const char *why)
{
    case_skipped = 1;
    printf("SKIP %s: %s\n", current_case, why);
}

int test_finish(void)
{
    if (cases_failed)
        return 1;
    if (cases_run > 0 && cases_skipped == cases_run)
        return 77;
    return 0;
}

int test_check(int cond, const char *file, int line, const char *fmt, ...)
{
    if (cond)
        return 1;
    case_failed = 1;
    printf("  %s:%d: [%s] ", file, line, current_case ? current_case : "-");
    va_list args;
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
    return 0;
}

int test_check_status(rlkd_status got, rlkd_status want, const char *needle,
                      const char *file, int line, const char *expr)
{
    const char *message = rlkd_last_error();
    if (want == RLKD_OK)
        return test_check(got == RLKD_OK, file, line, "%s -> %s (%s)", expr,
                          rlkd_status_string(got), message);
    if (!test_check(got == want, file, line, "%s -> %s, expected %s (%s)", expr,
                    rlkd_status_string(got), rlkd_status_string(want),
                    message))
        return 0;
    if (!test_check(message[0] != '\0', file, line,
                    "%s failed without a message", expr))
        return 0;
    if (needle)
        return test_check(strstr(message, needle) != NULL, file, line,
                          "%s: message \"%s\" does not mention \"%s\"", expr,
                          message, needle);
    return 1;
}

void test_fatal(const char *what)
{
    fprintf(stderr, "test setup failed: %s: %s\n", what, rlkd_last_error());
    exit(1);
}

void test_must(rlkd_status status, const char *what)
{
    if (status != RLKD_OK)
        test_fatal(what);
}

/* The test's scratch directory: made by the first test_temp_dir call. */
static char temp_dir[] = "/tmp/rlkd_test_XXXXXX";
static int temp_dir_made;

const char *test_temp_dir(void)
{
    if (!temp_dir_made) {
        if (!mkdtemp(temp_dir))
            test_fatal("mkdtemp");
        temp_dir_made = 1;
    }
    return temp_dir;
}

void test_temp_path(char *path, const char *name)
{
    snprintf(path, TEST_PATH_BYTES, "%s/%s", test_temp_dir(), name);
}

/* Removes the scratch directory with its files and (empty) subdirectories. */
static void remove_temp_dir(void)
{
    if (!temp_dir_made)
        return;
    DIR *dir = opendir(temp_dir);
    if (dir) {
        char path[TEST_PATH_BYTES];
        for (struct dirent *d = readdir(dir); d; d = readdir(dir)) {
            if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
                continue;
            test_temp_path(path, d->d_name);
            if (unlink(path) != 0)
                rmdir(path);
        }
        closedir(dir);
    }
    rmdir(temp_dir);
    temp_dir_made = 0;
}

void test_main_begin(void)
{
    if (rlkd_context_create(&test_ctx, RLKD_DEVICE_CPU, 0) != RLKD_OK)
        test_fatal("rlkd_context_create");
    if (rlkd_context_set_seed(test_ctx, 1234) != RLKD_OK)
        test_fatal("rlkd_context_set_seed");
}

void test_main_end(void)
{
    remove_temp_dir();
    rlkd_context_destroy(test_ctx);
    test_ctx = NULL;
}

static int shape_of(int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                    int64_t *shape)
{
    const int64_t dims[4] = {d0, d1, d2, d3};
    int ndim = 0;
    while (ndim < 4 && dims[ndim] > 0) {
        shape[ndim] = dims[ndim];
        ndim++;
    }
    return ndim;
}

rlkd_tensor *t_new(int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4];
    int ndim = shape_of(d0, d1, d2, d3, shape);
    rlkd_tensor *t;
    if (rlkd_tensor_create(test_ctx, RLKD_DTYPE_F32, ndim, shape, &t) != RLKD_OK)
        test_fatal("rlkd_tensor_create");
    return t;
}

rlkd_tensor *t_from(const float *data, int64_t d0, int64_t d1, int64_t d2,
                    int64_t d3)
{
    rlkd_tensor *t = t_new(d0, d1, d2, d3);
    if (rlkd_tensor_write(t, data, (size_t)rlkd_tensor_numel(t)) != RLKD_OK)
        test_fatal("rlkd_tensor_write");
    return t;
}

rlkd_tensor *t_labels(const int32_t *labels, int64_t n)
{
    rlkd_tensor *t;
    if (rlkd_tensor_create(test_ctx, RLKD_DTYPE_I32, 1, &n, &t) != RLKD_OK)
        test_fatal("rlkd_tensor_create");
    if (rlkd_tensor_write_i32(t, labels, (size_t)n) != RLKD_OK)
        test_fatal("rlkd_tensor_write_i32");
    return t;
}

float *t_get(const rlkd_tensor *t)
{
    size_t n = (size_t)rlkd_tensor_numel(t);
    float *data = malloc(n * sizeof *data);
    if (!data)
        test_fatal("malloc");
    if (rlkd_tensor_read(t, data, n) != RLKD_OK)
        test_fatal("rlkd_tensor_read");
    return data;
}

int test_same_values(const rlkd_tensor *a, const rlkd_tensor *b)
{
    float *va = t_get(a), *vb = t_get(b);
    int same = memcmp(va, vb, (size_t)rlkd_tensor_numel(a) * sizeof *va) == 0;
    free(va);
    free(vb);
    return same;
}

int test_all_equal(const rlkd_tensor *t, float value)
{
    float *v = t_get(t);
    int all = 1;
    for (int64_t i = 0; i < rlkd_tensor_numel(t); i++)
        all &= v[i] == value;
    free(v);
    return all;
}

void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        /* splitmix64 */
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = lo + (hi - lo) * (float)((z >> 40) * (1.0 / 16777216.0));
    }
}

double *test_to_double(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d)
        test_fatal("malloc");
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

int test_close(const char *what, const float *got, const double *want,
               size_t n, double atol, double rtol)
{
    size_t worst = 0, bad = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        double allowed = atol + rtol * fabs(want[i]);
        double excess = isnan(got[i]) ? INFINITY : err - allowed;
        if (excess > 0)
            bad++;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    return CHECK_MSG(bad == 0,
                     "%s: %zu of %zu elements off; worst [%zu] got %.9g want "
                     "%.9g (atol %g, rtol %g)", what, bad, n, worst,
                     n ? (double)got[worst] : 0.0, n ? want[worst] : 0.0, atol,
                     rtol);
}

int test_close_tensor(const char *prefix, const char *what,
                      const rlkd_tensor *got, const double *want, size_t n,
                      double scale, double atol, double rtol)
{
    char label[128];
    snprintf(label, sizeof label, "%s: %s", prefix, what);
    double *scaled = malloc(n * sizeof *scaled);
    for (size_t i = 0; i < n; i++)
        scaled[i] = scale * want[i];
    float *values = t_get(got);
    int close = test_close(label, values, scaled, n, atol, rtol);
    free(values);
    free(scaled);
    return close;
}

void test_fd_gradient(double (*f)(void *ctx), void *ctx, double *var,
                      size_t n, double h, double *grad)
{
    for (size_t i = 0; i < n; i++) {
        double saved = var[i];
        var[i] = saved + h;
        double up = f(ctx);
        var[i] = saved - h;
        double down = f(ctx);
        var[i] = saved;
        grad[i] = (up - down) / (2.0 * h);
    }
}

rlkd_dataset *test_band_dataset(int images, int side, int classes, int band,
                                uint64_t seed)
{
    rlkd_dataset *data;
    test_must(rlkd_dataset_create(images, 1, side, side, classes, &data),
              "rlkd_dataset_create");
    const size_t pixels_count = (size_t)side * side;
    float *noise = malloc(pixels_count * sizeof *noise);
    uint8_t *pixels = malloc(pixels_count);
    if (!noise || !pixels)
        test_fatal("test_band_dataset: out of memory");
    for (int i = 0; i < images; i++) {
        const int32_t label = i % classes;
        test_fill_uniform(noise, pixels_count, 0.0f, 120.0f,
                          seed + (uint64_t)i);
        for (size_t p = 0; p < pixels_count; p++)
            pixels[p] = (uint8_t)(noise[p] +
                                  ((int)p / side / band == label ? 120 : 0));
        test_must(rlkd_dataset_set_item(data, i, pixels, label),
                  "rlkd_dataset_set_item");
    }
    free(noise);
    free(pixels);
    return data;
}

rlkd_status test_hundred_macs_per_channel(void *user, const int *keep,
                                          int count, int64_t *macs)
{
    (void)user;
    *macs = 0;
    for (int i = 0; i < count; i++)
        *macs += 100 * (int64_t)keep[i];
    return RLKD_OK;
}
