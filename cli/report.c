/*
 * What the rlkd command shows and writes: progress bars on stderr, and
 * each command's result as a line on stdout, a JSON line (--json) and a
 * Markdown table row (--markdown).
 */
#include "cli.h"

#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Progress                                                                  */
/* ------------------------------------------------------------------------ */

#define BAR_WIDTH 20
/* Away from a terminal, a line every this fraction of the work. */
#define LINE_STEP 0.05

static struct {
    int open;         /* a bar is drawn on the terminal without its newline */
    double next_line; /* away from a terminal: the fraction of the next line */
    int64_t episodes_seen;  /* the search's ETA: episodes timed in this run */
    double episode_seconds; /* and their time */
} bar;

static int on_terminal(void)
{
    return isatty(fileno(stderr));
}

void progress_end(void)
{
    if (bar.open)
        fputc('\n', stderr);
    bar.open = 0;
}

void progress_reset(void)
{
    progress_end();
    bar.next_line = 0.0;
    bar.episodes_seen = 0;
    bar.episode_seconds = 0.0;
}

static void format_duration(char *out, size_t size, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        snprintf(out, size, "?");
    else if (seconds < 60)
        snprintf(out, size, "%.0fs", seconds);
    else if (seconds < 3600)
        snprintf(out, size, "%dm%02ds", (int)seconds / 60, (int)seconds % 60);
    else
        snprintf(out, size, "%dh%02dm", (int)seconds / 3600,
                 (int)seconds / 60 % 60);
}

/* The terminal's width, for lines that must not wrap (a wrapped line
 * cannot be redrawn in place). */
static int terminal_columns(void)
{
    struct winsize size;
    if (ioctl(fileno(stderr), TIOCGWINSZ, &size) == 0 && size.ws_col >= 20)
        return size.ws_col;
    return 80;
}

/* Draws "LABEL  42% [=====>    ] ETA 1m05s  DETAIL": in place on a terminal
 * (cut to its width), else as a line when the fraction passes the next
 * LINE_STEP. */
static void draw(const char *label, double fraction, const char *detail,
                 double eta)
{
    if (session_quiet())
        return;
    const int terminal = on_terminal();
    if (!terminal) {
        if (fraction + 1e-9 < bar.next_line && fraction < 1.0)
            return;
        while (bar.next_line <= fraction + 1e-9)
            bar.next_line += LINE_STEP;
    }
    char cells[BAR_WIDTH + 1];
    const int filled = (int)(fraction * BAR_WIDTH + 0.5);
    for (int i = 0; i < BAR_WIDTH; i++)
        cells[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    cells[BAR_WIDTH] = '\0';
    char left[32], line[512];
    format_duration(left, sizeof left, eta);
    snprintf(line, sizeof line, "%s %3.0f%% [%s] ETA %s  %s", label,
             100 * fraction, cells, left, detail);
    if (terminal) {
        const int columns = terminal_columns() - 1;
        if ((int)strlen(line) > columns)
            line[columns] = '\0';
        fprintf(stderr, "\r%s\033[K", line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
    bar.open = terminal;
    fflush(stderr);
}

void progress_training(const rlkd_progress *p, void *label)
{
    if (session_quiet())
        return;
    if (p->evaluating) {
        progress_end();
        fprintf(stderr, "%s epoch %lld/%lld: validation top-1 %.2f%%, "
                        "loss %.4f\n",
                (const char *)label, (long long)p->epoch + 1,
                (long long)p->epochs, 100 * p->accuracy, p->loss);
        return;
    }
    const double fraction =
        ((double)p->epoch + (double)(p->step + 1) / (double)p->steps) /
        (double)p->epochs;
    char detail[160];
    snprintf(detail, sizeof detail,
             "epoch %lld/%lld loss %.4f acc %.1f%% %.0f img/s lr %.3g",
             (long long)p->epoch + 1, (long long)p->epochs, p->loss,
             100 * p->accuracy, p->images_per_second, (double)p->lr);
    draw((const char *)label, fraction, detail, p->eta_seconds);
}

void progress_episode(const rlkd_search_episode *e, void *label)
{
    if (session_quiet())
        return;
    bar.episodes_seen++;
    bar.episode_seconds += e->seconds;
    const double mean = bar.episode_seconds / (double)bar.episodes_seen;
    char detail[200], accuracy[32] = "";
    if (isfinite(e->accuracy))
        snprintf(accuracy, sizeof accuracy, " top-1 %.1f%%",
                 100 * e->accuracy);
    snprintf(detail, sizeof detail,
             "episode %lld/%lld%s MACs %.3f%s reward %.4f best %.4f",
             (long long)e->episode + 1, (long long)e->episodes,
             e->warmup ? " (warm-up)" : "",
             (double)e->macs / (double)e->macs_before, accuracy, e->reward,
             e->best_reward);
    draw((const char *)label, (double)(e->episode + 1) / (double)e->episodes, detail,
         mean * (double)(e->episodes - e->episode - 1));
}

void progress_stage(rlkd_compress_stage stage, int starting, void *user)
{
    static const char *const names[] = {"distillation", "search",
                                        "fine-tuning", "compaction",
                                        "evaluation"};
    (void)user;
    if (starting)
        progress_reset();
    if (starting && stage != RLKD_STAGE_EVALUATE)
        note("compress: %s", names[stage]);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

void result_init(result *r, const char *method, const char *network)
{
    r->method = method;
    r->network = network;
    r->top1 = r->top5 = r->loss = NAN;
    r->params = r->macs = -1;
    r->extra = cJSON_CreateObject();
    if (!r->extra)
        fail("out of memory");
    own(OWN_JSON, r->extra);
}

void result_costs(result *r, const rlkd_net *net)
{
    check(rlkd_net_cost(net, &r->params, &r->macs), "measuring the network");
}

void result_evaluate(result *r, rlkd_net *net, rlkd_loader *test)
{
    check(rlkd_evaluate(net, test, &r->top1, &r->top5, &r->loss),
          "evaluating on the test split");
}

static void add_number(cJSON *o, const char *key, double value)
{
    /* JSON has no NaN: an unknown value is null, as the search's logs. */
    if (!(isfinite(value) ? cJSON_AddNumberToObject(o, key, value)
                          : cJSON_AddNullToObject(o, key)))
        fail("out of memory");
}

void result_number(result *r, const char *key, double value)
{
    add_number(r->extra, key, value);
}

void result_text(result *r, const char *key, const char *text)
{
    if (!cJSON_AddStringToObject(r->extra, key, text))
        fail("out of memory");
}

/* The run's name in results: --label, else the command. */
static const char *run_label(void)
{
    const char *label = flag_text("label");
    return label ? label : session_command();
}

static void append_json(const result *r, const char *path)
{
    cJSON *o = own(OWN_JSON, cJSON_CreateObject());
    if (!cJSON_AddStringToObject(o, "command", session_command()) ||
        !cJSON_AddStringToObject(o, "label", run_label()) ||
        !cJSON_AddStringToObject(o, "method", r->method) ||
        !cJSON_AddStringToObject(o, "network", r->network ? r->network : ""))
        fail("out of memory");
    add_number(o, "top1", r->top1);
    add_number(o, "top5", r->top5);
    add_number(o, "loss", r->loss);
    add_number(o, "params", r->params >= 0 ? (double)r->params : NAN);
    add_number(o, "macs", r->macs >= 0 ? (double)r->macs : NAN);
    add_number(o, "flops", r->macs >= 0 ? 2.0 * (double)r->macs : NAN);
    add_number(o, "seed", (double)flag_int("seed"));
    add_number(o, "seconds", session_seconds());
    const cJSON *item;
    cJSON_ArrayForEach(item, r->extra) {
        cJSON *copy = cJSON_Duplicate(item, 1);
        if (!copy || !cJSON_AddItemToObject(o, item->string, copy))
            fail("out of memory");
    }
    char *text = cJSON_PrintUnformatted(o);
    if (!text)
        fail("out of memory");
    own(OWN_MEMORY, text);
    FILE *f = fopen(path, "a");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
        fail("--json %s: cannot append to it", path);
    release(text);
    release(o);
}

/* A Markdown cell of a percentage, a count in millions, or "-". */
static void cell(char *out, size_t size, double value, double scale,
                 const char *format)
{
    if (isfinite(value) && value >= 0)
        snprintf(out, size, format, value * scale);
    else
        snprintf(out, size, "-");
}

static void append_markdown(const result *r, const char *path)
{
    FILE *f = fopen(path, "a");
    if (!f)
        fail("--markdown %s: cannot append to it", path);
    char top1[32], top5[32], params[32], macs[32], flops[32];
    cell(top1, sizeof top1, r->top1, 100, "%.2f");
    cell(top5, sizeof top5, r->top5, 100, "%.2f");
    cell(params, sizeof params, (double)r->params, 1e-6, "%.3f");
    cell(macs, sizeof macs, (double)r->macs, 1e-6, "%.2f");
    cell(flops, sizeof flops, (double)r->macs, 2e-6, "%.2f");
    /* A new (empty) file starts with the header. */
    const int header = fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0;
    int ok = 1;
    if (header)
        ok = fprintf(f, "| run | method | network | top-1 (%%) | "
                        "top-5 (%%) | params (M) | MACs (M) | FLOPs (M) | "
                        "seconds |\n|---|---|---|---|---|---|---|---|---|\n")
             >= 0;
    ok = ok && fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f |\n",
                       run_label(), r->method,
                       r->network ? r->network : "-", top1, top5, params,
                       macs, flops, session_seconds()) >= 0;
    if (fclose(f) != 0 || !ok)
        fail("--markdown %s: cannot append to it", path);
}

void result_finish(result *r)
{
    progress_end();
    printf("%s", r->method);
    if (r->network)
        printf(" %s", r->network);
    const char *sep = ":";
    if (isfinite(r->top1)) {
        printf("%s test top-1 %.2f%%, top-5 %.2f%%", sep, 100 * r->top1,
               100 * r->top5);
        if (isfinite(r->loss))
            printf(", loss %.4f", r->loss);
        sep = ";";
    }
    if (r->macs >= 0) {
        printf("%s %lld parameters, %.2f M MACs (%.2f M FLOPs)", sep,
               (long long)r->params, (double)r->macs / 1e6,
               2.0 * (double)r->macs / 1e6);
        sep = ";";
    }
    printf("%s %.1f s\n", sep, session_seconds());
    fflush(stdout);
    if (flag_text("json"))
        append_json(r, flag_text("json"));
    if (flag_text("markdown"))
        append_markdown(r, flag_text("markdown"));
    release(r->extra);
    r->extra = NULL;
}
