/*
 * bench_cpu - times rlkd's CPU backend on the cases of bench/cpu/cases.py.
 *
 *   bench_cpu [--threads N] [--min-time S] cases.json > rlkd.jsonl
 *
 * For each case: inputs from the context's random stream, 2 warm-up runs,
 * then timed runs until at least S seconds (a case's "min_time_s" overrides
 * it) and at least 3 runs; prints the fastest as {"id": ..., "ms": ...}:
 * on a shared machine the other runs measure the neighbours too.
 * Progress goes to stderr. Any failing call ends the program with status 1
 * and rlkd_last_error(). The cases themselves are bench/bench_cases.h's,
 * which bench_gpu shares.
 */
#define BENCH_NAME "bench_cpu"
#include "../bench.h"
#include "../bench_cases.h"

#include <stdio.h>
#include <stdlib.h>

#define WARMUP_RUNS 2
#define MIN_RUNS 3
/* Runs of one case at most: tiny ops stop here. */
#define MAX_RUNS 20000

/* --min-time: a case's "min_time_s" overrides it */
static double default_min_time_s = 0.5;

/* The fastest run's time in ms. */
static rlkd_status measure_fastest(rlkd_context *ctx, run_fn run, void *state,
                                   const cJSON *item, double *ms)
{
    const cJSON *case_min_time = cJSON_GetObjectItemCaseSensitive(item, "min_time_s");
    const double min_time_s =
        cJSON_IsNumber(case_min_time) ? case_min_time->valuedouble : default_min_time_s;
    int runs = 0;
    double started, elapsed = 0.0, fastest = 0.0;
    rlkd_status status;
    (void)ctx; /* CPU ops have finished when they return */
    for (int i = 0; i < WARMUP_RUNS; i++)
        if ((status = run(state)) != RLKD_OK)
            return status;
    started = now_s();
    while ((runs < MIN_RUNS || elapsed < min_time_s) && runs < MAX_RUNS) {
        double t0 = now_s();
        if ((status = run(state)) != RLKD_OK)
            return status;
        const double t = now_s() - t0;
        if (runs++ == 0 || t < fastest)
            fastest = t;
        elapsed = now_s() - started;
    }
    *ms = 1e3 * fastest;
    return RLKD_OK;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cpu [--threads N] [--min-time S] cases.json > rlkd.jsonl\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int threads = 0;
    const char *cases_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (is(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (is(argv[i], "--min-time") && i + 1 < argc)
            default_min_time_s = atof(argv[++i]);
        else if (argv[i][0] != '-' && !cases_path)
            cases_path = argv[i];
        else
            usage();
    }
    if (!cases_path || threads < 0 || default_min_time_s < 0)
        usage();

    cJSON *cases = load_cases(cases_path);
    rlkd_context *ctx;
    check(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0), "rlkd_context_create");
    check(rlkd_context_set_seed(ctx, 0), "rlkd_context_set_seed");
    if (threads > 0)
        check(rlkd_context_set_num_threads(ctx, threads),
              "rlkd_context_set_num_threads");
    check(rlkd_context_get_num_threads(ctx, &threads), "rlkd_context_get_num_threads");
    fprintf(stderr, "bench_cpu: rlkd %s, %d threads, %d cases\n",
            rlkd_version_string(), threads, cJSON_GetArraySize(cases));

    const cJSON *item;
    int index = 0;
    cJSON_ArrayForEach(item, cases) {
        case_tensors tensors = {.ctx = ctx};
        const char *id = json_string(item, "id");
        double ms = 0.0;
        fprintf(stderr, "[%d/%d] %s\n", ++index, cJSON_GetArraySize(cases), id);
        check(bench_case(&tensors, item, measure_fastest, &ms), id);

        cJSON *line = cJSON_CreateObject();
        char *printed;
        if (!line || !cJSON_AddStringToObject(line, "id", id) ||
            !cJSON_AddNumberToObject(line, "ms", ms) ||
            !(printed = cJSON_PrintUnformatted(line)))
            fail("out of memory");
        printf("%s\n", printed);
        fflush(stdout);
        cJSON_free(printed);
        cJSON_Delete(line);
    }

    rlkd_context_destroy(ctx);
    cJSON_Delete(cases);
    return 0;
}
