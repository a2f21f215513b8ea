/*
 * rlkd plot: SVG charts (cli/plot.h) of the files the other commands
 * write: the results of --json (test top-1 against FLOPs, a marker per run
 * named by its --label or method, and the Pareto front), a search's episode log
 * (reward per episode and the best so far) and its policy (the fraction of
 * each layer's channels kept).
 */
#include "cli.h"
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A growing list of chart points. */
typedef struct points {
    double *x, *y;
    const char **label;
    int count, capacity;
} points;

static void add_point(points *p, double x, double y, const char *label)
{
    if (p->count == p->capacity) {
        const int capacity = p->capacity ? 2 * p->capacity : 64;
        double *x_more = realloc(p->x, (size_t)capacity * sizeof *x_more);
        if (x_more)
            p->x = x_more;
        double *y_more = realloc(p->y, (size_t)capacity * sizeof *y_more);
        if (y_more)
            p->y = y_more;
        const char **label_more =
            realloc(p->label, (size_t)capacity * sizeof *label_more);
        if (label_more)
            p->label = label_more;
        if (!x_more || !y_more || !label_more)
            fail("out of memory");
        p->capacity = capacity;
    }
    p->x[p->count] = x;
    p->y[p->count] = y;
    p->label[p->count] = label;
    p->count++;
}

static void free_points(points *p)
{
    free(p->x);
    free(p->y);
    free(p->label);
    *p = (points){0};
}

/* Each JSON line of a file, parsed (owned); blank lines are skipped. */
static cJSON **read_json_lines(const char *path, const char *flag,
                               int *count)
{
    char *text = read_text_file(path, flag);
    int lines = 1;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    cJSON **parsed = calloc((size_t)lines, sizeof *parsed);
    if (!parsed)
        fail("out of memory");
    own(OWN_MEMORY, parsed);
    *count = 0;
    int number = 0;
    for (char *line = text; line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        number++;
        if (line[strspn(line, " \t\r")] != '\0') {
            cJSON *item = cJSON_Parse(line);
            if (!cJSON_IsObject(item)) {
                cJSON_Delete(item);
                fail("--%s %s: line %d is not a JSON object", flag, path,
                     number);
            }
            parsed[(*count)++] = own(OWN_JSON, item);
        }
        line = next;
    }
    release(text);
    return parsed;
}

static double number_of(const cJSON *o, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

static void write_chart(int status, const char *path, const char *why,
                        cJSON *files)
{
    if (status != 0)
        fail("%s: %s", path, why);
    printf("wrote %s\n", path);
    if (!cJSON_AddItemToArray(files, cJSON_CreateString(path)))
        fail("out of memory");
}

typedef struct run {
    double flops, top1;
} run;

static int by_flops(const void *a, const void *b)
{
    const run *p = a, *q = b;
    if (p->flops != q->flops)
        return p->flops < q->flops ? -1 : 1;
    return p->top1 > q->top1 ? -1 : p->top1 < q->top1;
}

static void plot_results(const char *path, const char *out, cJSON *files)
{
    int lines;
    cJSON **parsed = read_json_lines(path, "results", &lines);
    points all = {0};
    for (int i = 0; i < lines; i++) {
        const double top1 = number_of(parsed[i], "top1");
        const double flops = number_of(parsed[i], "flops");
        /* Runs are grouped and named by their --label, else their method. */
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(parsed[i], "label");
        if (!cJSON_IsString(name))
            name = cJSON_GetObjectItemCaseSensitive(parsed[i], "method");
        if (isfinite(top1) && isfinite(flops) && cJSON_IsString(name))
            add_point(&all, flops / 1e6, 100 * top1, name->valuestring);
    }
    if (all.count == 0) {
        free_points(&all);
        fail("--results %s: no line has a method, top1 and flops (the "
             "--json lines of train, prune, search, compress, eval ...)",
             path);
    }
    /* One series of markers per name, in the order they first come. */
    plot_series *series = calloc((size_t)all.count + 1, sizeof *series);
    points *groups = calloc((size_t)all.count, sizeof *groups);
    run *runs = calloc((size_t)all.count, sizeof *runs);
    points front = {0};
    if (!series || !groups || !runs) {
        free(series);
        free(groups);
        free(runs);
        free_points(&all);
        fail("out of memory");
    }
    int methods = 0;
    for (int i = 0; i < all.count; i++) {
        int m = 0;
        while (m < methods && strcmp(series[m].name, all.label[i]) != 0)
            m++;
        if (m == methods)
            series[methods++].name = all.label[i];
        add_point(&groups[m], all.x[i], all.y[i], all.label[i]);
        runs[i] = (run){all.x[i], all.y[i]};
    }
    for (int m = 0; m < methods; m++) {
        series[m].x = groups[m].x;
        series[m].y = groups[m].y;
        series[m].labels = groups[m].label;
        series[m].count = groups[m].count;
        series[m].style = PLOT_POINTS;
    }
    /* The Pareto front: every run that no run with fewer or as many
     * FLOPs beats in accuracy. */
    qsort(runs, (size_t)all.count, sizeof *runs, by_flops);
    double best = -INFINITY;
    for (int i = 0; i < all.count; i++)
        if (runs[i].top1 > best) {
            best = runs[i].top1;
            add_point(&front, runs[i].flops, runs[i].top1, NULL);
        }
    series[methods] = (plot_series){"Pareto front", front.x, front.y, NULL,
                                    front.count, PLOT_LINE};
    char file[4096], why[256] = "";
    snprintf(file, sizeof file, "%s/accuracy-flops.svg", out);
    const plot_axes axes = {"Test top-1 against FLOPs",
                            "FLOPs per image (millions)", "test top-1 (%)"};
    const int status = plot_xy_svg(file, &axes, series, methods + 1, why,
                                   sizeof why);
    for (int m = 0; m < methods; m++)
        free_points(&groups[m]);
    free_points(&front);
    free_points(&all);
    free(series);
    free(groups);
    free(runs);
    write_chart(status, file, why, files);
}

static void plot_search_log(const char *path, const char *out, cJSON *files)
{
    int lines;
    cJSON **parsed = read_json_lines(path, "search-log", &lines);
    points warmup = {0}, learning = {0}, best = {0};
    for (int i = 0; i < lines; i++) {
        const double episode = number_of(parsed[i], "episode");
        const double reward = number_of(parsed[i], "reward");
        const double best_reward = number_of(parsed[i], "best_reward");
        if (!isfinite(episode) || !isfinite(reward) ||
            !isfinite(best_reward)) {
            free_points(&warmup);
            free_points(&learning);
            free_points(&best);
            fail("--search-log %s: line %d has no episode, reward and "
                 "best_reward (an episode log of rlkd search)", path, i + 1);
        }
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(parsed[i],
                                                          "warmup");
        add_point(cJSON_IsTrue(w) ? &warmup : &learning, episode + 1, reward,
                  NULL);
        add_point(&best, episode + 1, best_reward, NULL);
    }
    if (best.count == 0)
        fail("--search-log %s: no episodes", path);
    plot_series series[3];
    int count = 0;
    if (warmup.count)
        series[count++] = (plot_series){"warm-up (random)", warmup.x,
                                        warmup.y, NULL, warmup.count,
                                        PLOT_POINTS};
    if (learning.count)
        series[count++] = (plot_series){"agent", learning.x, learning.y,
                                        NULL, learning.count, PLOT_POINTS};
    series[count++] = (plot_series){"best so far", best.x, best.y, NULL,
                                    best.count, PLOT_LINE};
    char file[4096], why[256] = "";
    snprintf(file, sizeof file, "%s/search-reward.svg", out);
    const plot_axes axes = {"Search reward per episode", "episode", "reward"};
    const int status = plot_xy_svg(file, &axes, series, count, why,
                                   sizeof why);
    free_points(&warmup);
    free_points(&learning);
    free_points(&best);
    write_chart(status, file, why, files);
}

static void plot_policy(const char *path, const char *out, cJSON *files)
{
    char *text = read_text_file(path, "policy");
    cJSON *policy = cJSON_Parse(text);
    release(text);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(policy, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0) {
        cJSON_Delete(policy);
        fail("--policy %s: no \"layers\" list (a policy of rlkd search "
             "--policy)", path);
    }
    own(OWN_JSON, policy);
    const int count = cJSON_GetArraySize(layers);
    const char **names = calloc((size_t)count, sizeof *names);
    double *ratios = calloc((size_t)count, sizeof *ratios);
    if (!names || !ratios) {
        free(names);
        free(ratios);
        fail("out of memory");
    }
    int i = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(layer, "name");
        names[i] = cJSON_IsString(name) ? name->valuestring : "?";
        ratios[i] = number_of(layer, "ratio");
        i++;
    }
    char title[160], file[4096], why[256] = "";
    snprintf(title, sizeof title,
             "Channels kept per layer (%.3f of the MACs, reward %.4f)",
             number_of(policy, "macs_fraction"), number_of(policy, "reward"));
    snprintf(file, sizeof file, "%s/policy.svg", out);
    const plot_axes axes = {title, "layer", "kept fraction"};
    const int status = plot_bars_svg(file, &axes, names, ratios, count, 0.0,
                                     1.0, why, sizeof why);
    free(names);
    free(ratios);
    write_chart(status, file, why, files);
}

void command_plot(void)
{
    const char *results = flag_text("results");
    const char *log = flag_text("search-log");
    const char *policy = flag_text("policy");
    const char *out = flag_text("out");
    if (!results && !log && !policy)
        usage_error("nothing to plot: give --results, --search-log and/or "
                    "--policy (see rlkd plot --help)");
    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        fail("--out %s: cannot create it: %s", out, strerror(errno));
    result r;
    result_init(&r, session_command(), NULL);
    cJSON *files = cJSON_AddArrayToObject(r.extra, "files");
    if (!files)
        fail("out of memory");
    if (results)
        plot_results(results, out, files);
    if (log)
        plot_search_log(log, out, files);
    if (policy)
        plot_policy(policy, out, files);
    result_finish(&r);
}
