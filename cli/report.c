/*
 * What the rlkd command shows and writes: progress bars on stderr, and
 * each command's result as a line on stdout, a JSON line (--json) and a
 * Markdown table row (--markdown).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
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

/* `size` bytes owned by the session. */
static char *owned_memory(size_t size)
{
    char *memory = malloc(size);
    if (!memory)
        fail("out of memory");
    return own(OWN_MEMORY, memory);
}

/* Whether a last line without its newline is a whole --json record. */
static int whole_json(const char *line)
{
    cJSON *item = cJSON_Parse(line);
    const int whole = cJSON_IsObject(item);
    cJSON_Delete(item);
    return whole;
}

/* ... or a whole --markdown row. */
static int whole_row(const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r'))
        n--;
    return n > 1 && line[0] == '|' && line[n - 1] == '|';
}

/* Writes all of text at the end of fd (O_APPEND); 0 with errno set. */
static int write_all(int fd, const char *text, size_t size)
{
    while (size > 0) {
        const ssize_t n = write(fd, text, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return 0;
        text += n;
        size -= (size_t)n;
    }
    return 1;
}

/*
 * Appends `record` (whole lines; `header` first when the file is empty) to
 * --`flag` path in one write, under a lock so that runs appending to one
 * file at once never interleave. A last line without its newline is a
 * record that a killed run cut short, which is cut off, unless `whole`
 * finds it complete (a file edited by hand), which gets its newline. A
 * failed write (a full disk) is undone: the file never ends in half a
 * record.
 */
static void append_record(const char *path, const char *flag,
                          const char *header, const char *record,
                          int (*whole)(const char *line))
{
    const int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        fail("--%s %s: cannot append to it: %s", flag, path, strerror(errno));
    /* Without locks (some network file systems) the append is still one
     * write. */
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int locked;
    do
        locked = fcntl(fd, F_SETLKW, &lock) == 0;
    while (!locked && errno == EINTR);
    off_t size = lseek(fd, 0, SEEK_END);
    char last = '\n';
    if (size < 0 || (size > 0 && pread(fd, &last, 1, size - 1) != 1))
        fail("--%s %s: cannot read it: %s", flag, path, strerror(errno));
    const char *lead = "";
    if (last != '\n') {
        char *text = owned_memory((size_t)size + 1);
        if (pread(fd, text, (size_t)size, 0) != (ssize_t)size)
            fail("--%s %s: cannot read it: %s", flag, path, strerror(errno));
        text[size] = '\0';
        char *newline = strrchr(text, '\n');
        const off_t kept = newline ? newline - text + 1 : 0;
        if (whole(text + kept)) {
            lead = "\n";
        } else {
            if (ftruncate(fd, kept) != 0)
                fail("--%s %s: cannot cut off its incomplete last line: %s",
                     flag, path, strerror(errno));
            note("--%s %s: cut off an incomplete last line (from a run that "
                 "was stopped while writing it)", flag, path);
            size = kept;
        }
        release(text);
    }
    if (size > 0)
        header = "";
    const size_t length = strlen(lead) + strlen(header) + strlen(record);
    char *text = owned_memory(length + 1);
    snprintf(text, length + 1, "%s%s%s", lead, header, record);
    if (!write_all(fd, text, length) || fsync(fd) != 0) {
        const int error = errno;
        const int undone = ftruncate(fd, size) == 0;
        fail("--%s %s: cannot append to it: %s%s", flag, path,
             strerror(error), undone ? "" : " (part of the record stays)");
    }
    release(text);
    if (close(fd) != 0)
        fail("--%s %s: cannot append to it: %s", flag, path, strerror(errno));
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
    char *line = owned_memory(strlen(text) + 2);
    snprintf(line, strlen(text) + 2, "%s\n", text);
    append_record(path, "json", "", line, whole_json);
    release(line);
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
    char top1[32], top5[32], params[32], macs[32], flops[32];
    cell(top1, sizeof top1, r->top1, 100, "%.2f");
    cell(top5, sizeof top5, r->top5, 100, "%.2f");
    cell(params, sizeof params, (double)r->params, 1e-6, "%.3f");
    cell(macs, sizeof macs, (double)r->macs, 1e-6, "%.2f");
    cell(flops, sizeof flops, (double)r->macs, 2e-6, "%.2f");
    const char *network = r->network ? r->network : "-";
    const char *format = "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f |\n";
    const double seconds = session_seconds();
    const int length = snprintf(NULL, 0, format, run_label(), r->method,
                                network, top1, top5, params, macs, flops,
                                seconds);
    char *row = owned_memory((size_t)length + 1);
    snprintf(row, (size_t)length + 1, format, run_label(), r->method, network,
             top1, top5, params, macs, flops, seconds);
    /* A new (empty) file starts with the header. */
    append_record(path, "markdown",
                  "| run | method | network | top-1 (%) | top-5 (%) | "
                  "params (M) | MACs (M) | FLOPs (M) | seconds |\n"
                  "|---|---|---|---|---|---|---|---|---|\n",
                  row, whole_row);
    release(row);
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
    /* The ranks of a data-parallel run share one result: rank 0 files it. */
    if (flag_text("json") && session_rank() == 0)
        append_json(r, flag_text("json"));
    if (flag_text("markdown") && session_rank() == 0)
        append_markdown(r, flag_text("markdown"));
    release(r->extra);
    r->extra = NULL;
}
