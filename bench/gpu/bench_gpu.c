/*
 * bench_gpu - times rlkd's CUDA backend on the cases of bench/gpu/cases.py
 * (the case kinds of bench/bench_cases.h).
 *
 *   bench_gpu [--device cuda|cpu] [--smoke] [--seconds S] cases.json > rlkd.jsonl
 *
 * Each case runs on a context of the engine its "engine" field names
 * ("native", the default, or "cudnn"); a case whose "peer" is "cudnn" (the
 * convolutions) runs again on a cuDNN context, as the peer. Per run: 2
 * warm-up runs, then 10 timed runs, each ended by rlkd_context_synchronize
 * and timed by the wall clock; the median is printed. A case stops timing
 * early after 3 s (and 3 runs), and once the whole run's S seconds are
 * spent (after 1 timed run); a case that would start after that is "cut
 * off". One line per case and side:
 *   {"id": ..., "side": "rlkd"|"cudnn", "engine": ..., "status": "ok",
 *    "ms": median, "runs": n}
 * or a status "unsupported" (the backend lacks an op), "error", "cut off"
 * or "skipped: no cuDNN", with the library's message. The first line,
 * {"meta": {...}}, names the version, the device and the engines.
 *
 * --device cpu runs the same code on the CPU backend (which has no cuDNN
 * engine: those sides are skipped), and --smoke replaces each case's
 * fields by those of its "smoke" object (tiny shapes) and times 1 warm-up
 * and 2 runs: how the tests exercise this program without a GPU. A native
 * context that cannot be made ends the program with status 1.
 */
#define BENCH_NAME "bench_gpu"
#include "../bench.h"
#include "../bench_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE_SECONDS 3.0
#define MIN_RUNS 3
#define MAX_RUNS 10
#define SMOKE_RUNS 2

static int warmup_runs = 2, timed_runs = MAX_RUNS;
/* when the run's time is spent (0: never) */
static double deadline_s;
/* the runs that the last measure_median timed */
static int last_runs;

static int past_deadline(void) { return deadline_s > 0 && now_s() >= deadline_s; }

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median run's time in ms; every run ends when the device is done. */
static rlkd_status measure_median(rlkd_context *ctx, run_fn run, void *state,
                                  const cJSON *item, double *ms)
{
    double times[MAX_RUNS];
    rlkd_status status = RLKD_OK;
    (void)item;
    for (int i = 0; i < warmup_runs && !status; i++)
        status = run(state);
    if (!status)
        status = rlkd_context_synchronize(ctx);
    const double started = now_s();
    last_runs = 0;
    while (!status && last_runs < timed_runs) {
        const double t0 = now_s();
        status = run(state);
        if (!status)
            status = rlkd_context_synchronize(ctx);
        times[last_runs++] = now_s() - t0;
        if ((last_runs >= MIN_RUNS && now_s() - started > CASE_SECONDS) ||
            past_deadline())
            break;
    }
    if (status)
        return status;
    qsort(times, (size_t)last_runs, sizeof times[0], compare_doubles);
    *ms = 1e3 * (last_runs % 2 ? times[last_runs / 2]
                               : 0.5 * (times[last_runs / 2 - 1] + times[last_runs / 2]));
    return RLKD_OK;
}

/* A context of one engine; ctx NULL (and why) where it cannot be made. */
typedef struct engine_context {
    const char *engine;
    rlkd_context *ctx;
    char why[512];
} engine_context;

/* The engine is chosen by RLKD_CONV_ENGINE, which a context reads when it
 * is made: a build without cuDNN refuses "cudnn" there, by name. */
static rlkd_status make_context(engine_context *e, rlkd_device device,
                                const char *engine)
{
    e->engine = engine;
    e->ctx = NULL;
    if (setenv("RLKD_CONV_ENGINE", engine, 1) != 0)
        fail("setenv failed");
    rlkd_status status = rlkd_context_create(&e->ctx, device, 0);
    if (status == RLKD_OK)
        status = rlkd_context_set_seed(e->ctx, 0);
    if (status != RLKD_OK) {
        snprintf(e->why, sizeof e->why, "%s: %s", rlkd_status_string(status),
                 rlkd_last_error());
        rlkd_context_destroy(e->ctx);
        e->ctx = NULL;
    }
    return status;
}

/* The case's fields replaced by those of its "smoke" object. */
static void apply_smoke(cJSON *item)
{
    const cJSON *smoke = cJSON_GetObjectItemCaseSensitive(item, "smoke");
    const cJSON *field;
    cJSON_ArrayForEach(field, smoke) {
        cJSON *copy = cJSON_Duplicate(field, 1);
        if (!copy || !cJSON_ReplaceItemInObjectCaseSensitive(item, field->string, copy))
            fail("a case's smoke field replaces none of its own");
    }
}

static void add_string(cJSON *line, const char *key, const char *value)
{
    if (!cJSON_AddStringToObject(line, key, value))
        fail("out of memory");
}

static void print_line(cJSON *line)
{
    char *printed = cJSON_PrintUnformatted(line);
    if (!printed)
        fail("out of memory");
    printf("%s\n", printed);
    fflush(stdout);
    cJSON_free(printed);
    cJSON_Delete(line);
}

/* Runs one side of a case on e's context and prints its line. */
static void run_side(cJSON *item, const char *side, const engine_context *e)
{
    cJSON *line = cJSON_CreateObject();
    if (!line)
        fail("out of memory");
    add_string(line, "id", json_string(item, "id"));
    add_string(line, "side", side);
    add_string(line, "engine", e->engine);
    if (!e->ctx) {
        add_string(line, "status", "skipped: no cuDNN");
        add_string(line, "message", e->why);
    } else if (past_deadline()) {
        add_string(line, "status", "cut off");
    } else {
        case_tensors tensors = {.ctx = e->ctx};
        double ms = 0.0;
        const rlkd_status status = bench_case(&tensors, item, measure_median, &ms);
        if (status == RLKD_OK) {
            add_string(line, "status", "ok");
            if (!cJSON_AddNumberToObject(line, "ms", ms) ||
                !cJSON_AddNumberToObject(line, "runs", last_runs))
                fail("out of memory");
        } else {
            char message[1024];
            snprintf(message, sizeof message, "%s: %s", rlkd_status_string(status),
                     rlkd_last_error());
            add_string(line, "status",
                       status == RLKD_ERR_UNSUPPORTED ? "unsupported" : "error");
            add_string(line, "message", message);
        }
    }
    print_line(line);
}

static void print_meta(const char *device, const engine_context *cudnn)
{
    cJSON *line = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    if (!line || !meta || !cJSON_AddItemToObject(line, "meta", meta))
        fail("out of memory");
    add_string(meta, "rlkd", rlkd_version_string());
    add_string(meta, "device", device);
    add_string(meta, "cudnn", cudnn->ctx ? "available" : cudnn->why);
    print_line(line);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_gpu [--device cuda|cpu] [--smoke] [--seconds S] "
                    "cases.json > rlkd.jsonl\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *device_name = "cuda", *cases_path = NULL;
    double seconds = 0.0;
    int smoke = 0;
    for (int i = 1; i < argc; i++) {
        if (is(argv[i], "--device") && i + 1 < argc)
            device_name = argv[++i];
        else if (is(argv[i], "--smoke"))
            smoke = 1;
        else if (is(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (argv[i][0] != '-' && !cases_path)
            cases_path = argv[i];
        else
            usage();
    }
    if (!cases_path || seconds < 0 || (!is(device_name, "cuda") && !is(device_name, "cpu")))
        usage();
    const rlkd_device device = is(device_name, "cuda") ? RLKD_DEVICE_CUDA : RLKD_DEVICE_CPU;
    if (smoke) {
        warmup_runs = 1;
        timed_runs = SMOKE_RUNS;
    }

    cJSON *cases = load_cases(cases_path);
    engine_context native, cudnn;
    check(make_context(&native, device, "native"), device_name);
    if (device == RLKD_DEVICE_CUDA)
        make_context(&cudnn, device, "cudnn");
    else
        cudnn = (engine_context){"cudnn", NULL, "the CPU backend has no cuDNN engine"};
    fprintf(stderr, "bench_gpu: rlkd %s on %s, %d cases, cuDNN engine: %s\n",
            rlkd_version_string(), device_name, cJSON_GetArraySize(cases),
            cudnn.ctx ? "yes" : cudnn.why);
    print_meta(device_name, &cudnn);
    if (seconds > 0)
        deadline_s = now_s() + seconds;

    cJSON *item;
    int index = 0;
    cJSON_ArrayForEach(item, cases) {
        const char *engine = cJSON_HasObjectItem(item, "engine")
                                 ? json_string(item, "engine") : "native";
        if (!is(engine, "native") && !is(engine, "cudnn"))
            fail("a case's engine is neither \"native\" nor \"cudnn\"");
        if (smoke)
            apply_smoke(item);
        fprintf(stderr, "[%d/%d] %s\n", ++index, cJSON_GetArraySize(cases),
                json_string(item, "id"));
        run_side(item, "rlkd", is(engine, "cudnn") ? &cudnn : &native);
        if (is(json_string(item, "peer"), "cudnn"))
            run_side(item, "cudnn", &cudnn);
    }

    rlkd_context_destroy(cudnn.ctx);
    rlkd_context_destroy(native.ctx);
    cJSON_Delete(cases);
    return 0;
}
