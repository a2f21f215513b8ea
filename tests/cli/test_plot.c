/* The command line's SVG charts (cli/plot.c): each kind of chart holds its
 * title, labels, legend, markers or bars and round ticks, text is escaped,
 * degenerate data makes no NaN, and every bad input or failed write gives
 * -1 with its reason and leaves no file behind.
 *
 *   test_plot [DIR]   with DIR, also leaves the three sample charts there
 *                     (pareto.svg, reward.svg, keep_ratio.svg) to look at
 */
#include "plot.h"
#include "testlib.h"

#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR_BYTES 256
#define PYTHON "/usr/bin/python3"

/* ---- reading what was written ---- */

/* The whole file as a string (free() it), or NULL when it cannot be read. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        rewind(f);
        text = size >= 0 ? malloc((size_t)size + 1) : NULL;
        if (text && fread(text, 1, (size_t)size, f) == (size_t)size) {
            text[size] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        n++;
    return n;
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Reads the chart at path (NULL, with a failure, when there is none) and
 * checks what every chart must have: an svg root and no NaN or infinity. */
static char *read_chart(const char *path)
{
    char *svg = read_text(path);
    if (!CHECK_MSG(svg != NULL, "%s was not written", path))
        return NULL;
    CHECK(strncmp(svg, "<?xml", 5) == 0);
    CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
    CHECK(strstr(svg, "</svg>") != NULL);
    CHECK_MSG(strstr(svg, "nan") == NULL && strstr(svg, "NaN") == NULL,
              "%s holds a NaN", path);
    CHECK_MSG(strstr(svg, "inf") == NULL, "%s holds an infinity", path);
    return svg;
}

/* The numbers written as texts of class `cls`, in order; returns how many
 * (each must be a short number, maybe with an SI prefix, and nothing else). */
static int tick_values(const char *svg, const char *cls, double *values, int max)
{
    char needle[64];
    snprintf(needle, sizeof needle, "class=\"%s\"", cls);
    int n = 0;
    for (const char *at = strstr(svg, needle); at && n < max;
         at = strstr(at + 1, needle)) {
        const char *text = strchr(at, '>') + 1;
        char *end;
        double v = strtod(text, &end);
        const char *prefix = strchr("kMGT", *end);
        if (*end && prefix) {
            v *= pow(1000.0, (double)(prefix - "kMGT" + 1));
            end++;
        }
        values[n++] = v;
        CHECK_MSG(end > text && *end == '<' && end - text <= 10,
                  "%s tick \"%.20s\" is not a short number", cls, text);
    }
    return n;
}

/* The ticks of class `cls` step evenly by 1, 2 or 5 times a power of ten,
 * at whole multiples of the step. Returns how many there are. */
static int check_round_ticks(const char *svg, const char *cls)
{
    double v[64];
    int n = tick_values(svg, cls, v, 64);
    if (!CHECK_MSG(n >= 2, "%d %s ticks: at least 2 expected", n, cls))
        return n;
    double step = v[1] - v[0];
    if (!CHECK_MSG(step > 0, "%s ticks %g, %g do not rise", cls, v[0], v[1]))
        return n;
    /* the step from printed ticks may fall a hair short: -3.2 - -3.3 */
    double mantissa = step / pow(10.0, floor(log10(step) + 1e-9));
    CHECK_MSG(fabs(mantissa - 1) < 1e-6 || fabs(mantissa - 2) < 1e-6 ||
                  fabs(mantissa - 5) < 1e-6,
              "%s step %g is not 1, 2 or 5 times a power of ten", cls, step);
    for (int i = 0; i < n; i++) {
        double k = v[i] / step;
        CHECK_MSG(fabs(k - round(k)) < 1e-6, "%s tick %g is not a multiple of %g",
                  cls, v[i], step);
        if (i > 0)
            CHECK_MSG(fabs(v[i] - v[i - 1] - step) <= 1e-6 * step,
                      "%s ticks %g, %g are not %g apart", cls, v[i - 1], v[i], step);
    }
    return n;
}

/* The number of x,y pairs in the n-th polyline (-1: there is none). */
static int polyline_points(const char *svg, int n)
{
    const char *at = strstr(svg, "<polyline");
    for (int i = 0; i < n && at; i++)
        at = strstr(at + 1, "<polyline");
    if (!at)
        return -1;
    const char *points = strstr(at, "points=\"");
    if (!points)
        return -1;
    int pairs = 0;
    for (const char *c = points + 8; *c && *c != '"'; c++)
        pairs += *c == ',';
    return pairs;
}

/* ---- the three charts the rlkd command draws ---- */

/* Accuracy against FLOPs: five methods as labelled points, a line through
 * the three on the front (VGG-16 on CIFAR-100, the paper's table). */
static int write_pareto(const char *path, char *err)
{
    static const double flops[] = {6.26e10, 2.74e10, 2.66e10, 2.29e10, 1.9e10};
    static const double top1[] = {76.45, 70.29, 69.47, 72.84, 68.9};
    static const char *const names[] = {"KD, unpruned", "AMC", "SFP", "rlkd", "uniform"};
    static const double front_flops[] = {1.9e10, 2.29e10, 6.26e10};
    static const double front_top1[] = {68.9, 72.84, 76.45};
    const plot_series series[] = {
        {"methods", flops, top1, names, 5, PLOT_POINTS},
        {"Pareto front", front_flops, front_top1, NULL, 3, PLOT_LINE},
    };
    const plot_axes axes = {"VGG-16 on CIFAR-100: top-1 & FLOPs", "FLOPs",
                            "top-1 accuracy (%)"};
    return plot_xy_svg(path, &axes, series, 2, err, ERR_BYTES);
}

#define EPISODES 400

/* Reward over 400 episodes: noisy, from below zero, and its best so far. */
static int write_reward(const char *path, char *err)
{
    double episode[EPISODES], reward[EPISODES], best[EPISODES];
    uint64_t state = 42;
    for (int e = 0; e < EPISODES; e++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        double noise = (double)(state >> 11) / 9007199254740992.0 - 0.5;
        episode[e] = e;
        reward[e] = -0.4 + 0.9 * (1 - exp(-e / 90.0)) + 0.3 * noise;
        best[e] = e == 0 || reward[e] > best[e - 1] ? reward[e] : best[e - 1];
    }
    const plot_series series[] = {
        {"reward", episode, reward, NULL, EPISODES, PLOT_LINE},
        {"best so far", episode, best, NULL, EPISODES, PLOT_LINE},
    };
    const plot_axes axes = {"rlkd search: reward per episode", "episode", "reward"};
    return plot_xy_svg(path, &axes, series, 2, err, ERR_BYTES);
}

#define LAYERS 16

static const char *const vgg_layers[LAYERS] = {
    "features.0", "features.2", "features.5", "features.7", "features.10",
    "features.12", "features.14", "features.17", "features.19", "features.21",
    "features.24", "features.26", "features.28", "classifier.0",
    "classifier.3", "classifier.6",
};

/* The keep ratio the agent chose for each of VGG-16's 16 layers. */
static int write_keep_ratio(const char *path, char *err)
{
    static const double keep[LAYERS] = {0.75, 0.5, 0.625, 0.5, 0.375, 0.375, 0.25,
                                        0.25, 0.25, 0.3125, 0.25, 0.25, 0.5, 0.5,
                                        0.5, 1.0};
    const plot_axes axes = {"keep ratio per layer", "layer", "channels kept"};
    return plot_bars_svg(path, &axes, vgg_layers, keep, LAYERS, 0.0, 1.0, err,
                         ERR_BYTES);
}

/* ---- cases ---- */

static void pareto_points_and_front(void)
{
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, "pareto.svg");
    if (!CHECK_MSG(write_pareto(path, err) == 0, "%s", err))
        return;
    char *svg = read_chart(path);
    if (!svg)
        return;
    CHECK(strstr(svg, ">VGG-16 on CIFAR-100: top-1 &amp; FLOPs</text>") != NULL);
    CHECK(strstr(svg, ">FLOPs</text>") != NULL);
    CHECK(strstr(svg, ">top-1 accuracy (%)</text>") != NULL);
    CHECK(strstr(svg, "class=\"legend-name\" x=") != NULL);
    CHECK(occurrences(svg, "class=\"legend-name\"") == 2);
    CHECK(strstr(svg, ">methods</text>") != NULL);
    CHECK(strstr(svg, ">Pareto front</text>") != NULL);
    CHECK_MSG(occurrences(svg, "class=\"marker\"") == 5, "%d markers",
              occurrences(svg, "class=\"marker\""));
    CHECK(occurrences(svg, "class=\"point-label\"") == 5);
    CHECK(strstr(svg, ">AMC</text>") && strstr(svg, ">SFP</text>") &&
          strstr(svg, ">rlkd</text>") && strstr(svg, ">uniform</text>"));
    /* the rightmost point's label turns left, inside the plot */
    CHECK(strstr(svg, "text-anchor=\"end\">KD, unpruned</text>") != NULL);
    CHECK(occurrences(svg, "<polyline") == 1);
    CHECK(polyline_points(svg, 0) == 3);
    check_round_ticks(svg, "tick-x");
    check_round_ticks(svg, "tick-y");
    CHECK(strstr(svg, ">20G</text>") != NULL); /* FLOPs with an SI prefix */
    free(svg);
}

static void reward_curve_400_episodes(void)
{
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, "reward.svg");
    if (!CHECK_MSG(write_reward(path, err) == 0, "%s", err))
        return;
    char *svg = read_chart(path);
    if (!svg)
        return;
    CHECK(strstr(svg, ">rlkd search: reward per episode</text>") != NULL);
    CHECK(strstr(svg, ">episode</text>") && strstr(svg, ">reward</text>"));
    CHECK(strstr(svg, ">best so far</text>") != NULL);
    CHECK(occurrences(svg, "class=\"marker\"") == 0);
    CHECK(occurrences(svg, "<polyline") == 2);
    CHECK(polyline_points(svg, 0) == EPISODES && polyline_points(svg, 1) == EPISODES);
    int x_ticks = check_round_ticks(svg, "tick-x");
    CHECK_MSG(x_ticks >= 4 && x_ticks <= 12, "%d x ticks", x_ticks);
    double y[64];
    int y_ticks = tick_values(svg, "tick-y", y, 64);
    check_round_ticks(svg, "tick-y");
    /* rewards start below zero: a negative tick and the zero line */
    CHECK(y_ticks >= 2 && y[0] < 0 && y[y_ticks - 1] > 0);
    CHECK(occurrences(svg, "class=\"zero\"") == 1);
    free(svg);
}

static void keep_ratio_bars(void)
{
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, "keep_ratio.svg");
    if (!CHECK_MSG(write_keep_ratio(path, err) == 0, "%s", err))
        return;
    char *svg = read_chart(path);
    if (!svg)
        return;
    CHECK(strstr(svg, ">keep ratio per layer</text>") != NULL);
    CHECK(strstr(svg, ">layer</text>") && strstr(svg, ">channels kept</text>"));
    CHECK(occurrences(svg, "class=\"bar\"") == LAYERS);
    CHECK(occurrences(svg, "class=\"bar-label\"") == LAYERS);
    for (int i = 0; i < LAYERS; i++) {
        char text[64];
        snprintf(text, sizeof text, ">%s</text>", vgg_layers[i]);
        CHECK_MSG(strstr(svg, text) != NULL, "no label %s", vgg_layers[i]);
    }
    /* "features.10" is wider than its bar: the labels are turned */
    CHECK(occurrences(svg, "rotate(-45 ") == LAYERS);
    CHECK(strstr(svg, ">0.375</text>") != NULL); /* a value over its bar */
    CHECK(strstr(svg, "<title>features.10: 0.375</title>") != NULL);
    /* the caller's range 0..1 exactly, in steps of 0.2 */
    double y[64];
    int n = tick_values(svg, "tick-y", y, 64);
    CHECK_MSG(n == 6, "%d y ticks", n);
    for (int i = 0; i < n && i < 6; i++)
        CHECK_MSG(fabs(y[i] - 0.2 * i) < 1e-12, "y tick %d is %g", i, y[i]);
    CHECK(strstr(svg, ">0.2</text>") != NULL);
    free(svg);
}

/* 60 layers with long names and negative values, scaled to the data. */
static void sixty_long_bars(void)
{
    enum { BARS = 60 };
    char names[BARS][64];
    const char *labels[BARS];
    double values[BARS];
    for (int i = 0; i < BARS; i++) {
        snprintf(names[i], sizeof names[i], "encoder.stage%d.block%d.conv_reduce", i / 10, i);
        labels[i] = names[i];
        values[i] = -0.3 + 0.02 * i;
    }
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, "sixty.svg");
    const plot_axes axes = {"sixty layers", "layer", "change"};
    if (!CHECK_MSG(plot_bars_svg(path, &axes, labels, values, BARS, 0, 0, err,
                                 ERR_BYTES) == 0, "%s", err))
        return;
    char *svg = read_chart(path);
    if (!svg)
        return;
    CHECK(occurrences(svg, "class=\"bar\"") == BARS);
    /* long names cut around an ellipsis to 24 characters, keeping more of
     * the end where they differ; the whole name in the tooltip */
    CHECK(occurrences(svg, "\xE2\x80\xA6") == BARS);
    CHECK(strstr(svg, ">encoder.\xE2\x80\xA6" "k59.conv_reduce</text>") != NULL);
    CHECK(strstr(svg, "<title>encoder.stage5.block59.conv_reduce: 0.88</title>") != NULL);
    CHECK(occurrences(svg, "class=\"bar-value\"") == 0); /* no room */
    double y[64];
    int n = tick_values(svg, "tick-y", y, 64);
    check_round_ticks(svg, "tick-y");
    CHECK(n >= 2 && y[0] <= -0.3 && y[n - 1] >= 0.88);
    free(svg);
}

static void escaping(void)
{
    static const double x[] = {1, 2}, y[] = {3, 4};
    static const char *const point_labels[] = {"a<b", "c&d"};
    const plot_series series[] = {
        {"\"q\" & 'a'", x, y, point_labels, 2, PLOT_LINE_POINTS},
        {NULL, y, x, NULL, 2, PLOT_LINE}, /* unnamed: not in the legend */
    };
    const plot_axes axes = {"1 < 2 & 3 > 2", "x \"quoted\"", "y 'single'\ttab"};
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, "escaping.svg");
    if (!CHECK_MSG(plot_xy_svg(path, &axes, series, 2, err, ERR_BYTES) == 0, "%s", err))
        return;
    char *svg = read_chart(path);
    if (!svg)
        return;
    CHECK(strstr(svg, ">1 &lt; 2 &amp; 3 &gt; 2</text>") != NULL);
    CHECK(strstr(svg, "<title>1 &lt; 2 &amp; 3 &gt; 2</title>") != NULL);
    CHECK(strstr(svg, ">x &quot;quoted&quot;</text>") != NULL);
    CHECK(strstr(svg, ">y &apos;single&apos; tab</text>") != NULL); /* control chars: spaces */
    CHECK(strstr(svg, ">&quot;q&quot; &amp; &apos;a&apos;</text>") != NULL);
    CHECK(strstr(svg, ">a&lt;b</text>") && strstr(svg, ">c&amp;d</text>"));
    CHECK(strstr(svg, "1 < 2") == NULL && strstr(svg, "& 3") == NULL);
    CHECK(occurrences(svg, "class=\"marker\"") == 2 && occurrences(svg, "<polyline") == 2);
    CHECK(occurrences(svg, "class=\"legend-name\"") == 1);
    free(svg);

    static const char *const bar_labels[] = {"x<y&z"};
    static const double bar_values[] = {0.5};
    test_temp_path(path, "escaping_bars.svg");
    if (!CHECK_MSG(plot_bars_svg(path, &axes, bar_labels, bar_values, 1, 0, 1, err,
                                 ERR_BYTES) == 0, "%s", err))
        return;
    svg = read_chart(path);
    if (!svg)
        return;
    CHECK(strstr(svg, ">x&lt;y&amp;z</text>") != NULL);
    CHECK(strstr(svg, "<title>x&lt;y&amp;z: 0.5</title>") != NULL);
    free(svg);
}

/* Writes a one-series x-y chart of n points and checks its ticks. */
static void check_degenerate_xy(const char *name, const double *x, const double *y,
                                int n, plot_style style)
{
    const plot_series series = {NULL, x, y, NULL, n, style};
    const plot_axes axes = {name, "x", "y"};
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, name);
    if (!CHECK_MSG(plot_xy_svg(path, &axes, &series, 1, err, ERR_BYTES) == 0,
                   "%s: %s", name, err))
        return;
    char *svg = read_chart(path);
    if (!svg)
        return;
    CHECK_MSG(strstr(svg, "class=\"legend\"") == NULL, "%s: a legend without names", name);
    double ticks[64];
    /* every value lies inside the axes */
    int nx = tick_values(svg, "tick-x", ticks, 64);
    for (int i = 0; i < n && nx >= 2; i++)
        CHECK_MSG(ticks[0] <= x[i] && x[i] <= ticks[nx - 1], "%s: x %g outside %g..%g",
                  name, x[i], ticks[0], ticks[nx - 1]);
    int ny = tick_values(svg, "tick-y", ticks, 64);
    for (int i = 0; i < n && ny >= 2; i++)
        CHECK_MSG(ticks[0] <= y[i] && y[i] <= ticks[ny - 1], "%s: y %g outside %g..%g",
                  name, y[i], ticks[0], ticks[ny - 1]);
    check_round_ticks(svg, "tick-x");
    check_round_ticks(svg, "tick-y");
    free(svg);
}

static void degenerate_ranges(void)
{
    static const double zero[] = {0};
    check_degenerate_xy("one_point.svg", zero, zero, 1, PLOT_POINTS);
    static const double same_x[] = {5, 5, 5}, rising[] = {-1, 0.5, 2};
    check_degenerate_xy("same_x.svg", same_x, rising, 3, PLOT_LINE_POINTS);
    static const double flat[] = {-3, -3, -3};
    check_degenerate_xy("flat_y.svg", rising, flat, 3, PLOT_LINE);
    static const double big[] = {1e300, 1e300}, tiny[] = {1e-310, 1e-310};
    check_degenerate_xy("big_equal.svg", big, tiny, 2, PLOT_POINTS);
    static const double subnormal[] = {0, 1e-310};
    check_degenerate_xy("subnormal.svg", subnormal, subnormal, 2, PLOT_LINE);
    /* equal but for the last bits: one value to the eye */
    static const double near[] = {0.1, 0.1 + 1e-17, 0.30000000000000004 - 0.2};
    check_degenerate_xy("near_equal.svg", near, near, 3, PLOT_LINE);

    static const char *const labels[] = {"a", "b"};
    static const double zeros[] = {0, 0}, one[] = {-2.5};
    const plot_axes axes = {"bars", "x", "y"};
    char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(path, "zero_bars.svg");
    CHECK_MSG(plot_bars_svg(path, &axes, labels, zeros, 2, 0, 0, err, ERR_BYTES) == 0,
              "%s", err);
    char *svg = read_chart(path);
    if (svg) {
        CHECK(occurrences(svg, "class=\"bar\"") == 2);
        check_round_ticks(svg, "tick-y");
        free(svg);
    }
    test_temp_path(path, "one_bar.svg");
    CHECK_MSG(plot_bars_svg(path, &axes, labels, one, 1, 0, 0, err, ERR_BYTES) == 0,
              "%s", err);
    svg = read_chart(path);
    if (svg) {
        CHECK(occurrences(svg, "class=\"bar\"") == 1);
        CHECK(strstr(svg, ">-2.5</text>") != NULL); /* its value, under the bar */
        check_round_ticks(svg, "tick-y");
        free(svg);
    }
}

/* Markers stay off the frame: the axes reach past data that sits on round
 * values; a line alone may run along the frame. */
static void markers_inside_frame(void)
{
    static const double x[] = {0, 1}, y[] = {0, 1};
    const plot_axes axes = {"corners", "x", "y"};
    for (int style = PLOT_LINE; style <= PLOT_POINTS; style++) {
        const plot_series series = {NULL, x, y, NULL, 2, (plot_style)style};
        char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
        test_temp_path(path, style == PLOT_LINE ? "corners_line.svg" : "corners_points.svg");
        if (!CHECK_MSG(plot_xy_svg(path, &axes, &series, 1, err, ERR_BYTES) == 0, "%s", err))
            continue;
        char *svg = read_chart(path);
        if (!svg)
            continue;
        double ticks[64];
        for (int axis = 0; axis < 2; axis++) {
            int n = tick_values(svg, axis == 0 ? "tick-x" : "tick-y", ticks, 64);
            if (!CHECK(n >= 2))
                continue;
            if (style == PLOT_LINE)
                CHECK_MSG(ticks[0] == 0 && ticks[n - 1] == 1, "line: axis %g..%g, not 0..1",
                          ticks[0], ticks[n - 1]);
            else
                CHECK_MSG(ticks[0] < 0 && ticks[n - 1] > 1,
                          "markers: axis %g..%g does not reach past 0..1", ticks[0],
                          ticks[n - 1]);
        }
        free(svg);
    }
}

/* Each chart parses as XML (Python's minidom: a real parser). */
static void well_formed_xml(void)
{
    if (access(PYTHON, X_OK) != 0) {
        test_skip(PYTHON " is absent: no XML parser to check with");
        return;
    }
    static const char *const names[] = {"pareto.svg", "reward.svg", "keep_ratio.svg"};
    int (*const writers[])(const char *, char *) = {write_pareto, write_reward,
                                                    write_keep_ratio};
    for (int i = 0; i < 3; i++) {
        char path[TEST_PATH_BYTES], err[ERR_BYTES] = "", command[2 * TEST_PATH_BYTES];
        test_temp_path(path, names[i]);
        if (!CHECK_MSG(writers[i](path, err) == 0, "%s: %s", names[i], err))
            continue;
        snprintf(command, sizeof command,
                 PYTHON " -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "
                        "'%s' 2>&1",
                 path);
        CHECK_MSG(system(command) == 0, "%s is not well-formed XML", names[i]);
    }
    /* and a parser does fail on a broken file */
    char path[TEST_PATH_BYTES], command[2 * TEST_PATH_BYTES];
    test_temp_path(path, "broken.svg");
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    fputs("<svg><text>a & b</text></svg>\n", f);
    fclose(f);
    snprintf(command, sizeof command,
             PYTHON " -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "
                    "'%s' >/dev/null 2>&1",
             path);
    CHECK_MSG(system(command) != 0, "the XML check passes a broken file");
}

/* The call failed with a message containing `needle`, and wrote nothing. */
static void check_failed(int got, const char *err, const char *needle, const char *path)
{
    char temp[TEST_PATH_BYTES + 8];
    snprintf(temp, sizeof temp, "%s.tmp", path);
    CHECK_MSG(got == -1, "returned %d, expected -1 (\"%s\")", got, needle);
    CHECK_MSG(strstr(err, needle) != NULL, "message \"%s\" does not mention \"%s\"",
              err, needle);
    CHECK_MSG(strchr(err, '\n') == NULL, "message \"%s\" is not one line", err);
    CHECK_MSG(!file_exists(path) && !file_exists(temp), "%s left a file", needle);
}

static void errors(void)
{
    static const double x[] = {0, 1, 2}, y[] = {1, 2, 3};
    static const double bad_x[] = {0, 1, NAN}, bad_y[] = {1, INFINITY, 3};
    const plot_axes axes = {"t", "x", "y"};
    char path[TEST_PATH_BYTES], err[ERR_BYTES];
    test_temp_path(path, "never.svg");
    const plot_series good = {"s", x, y, NULL, 3, PLOT_LINE};

#define XY_FAILS(needle, path_, axes_, series_, count_) \
    do { \
        strcpy(err, ""); \
        check_failed(plot_xy_svg((path_), (axes_), (series_), (count_), err, ERR_BYTES), \
                     err, (needle), path); \
    } while (0)
    XY_FAILS("no output path (NULL)", NULL, &axes, &good, 1);
    XY_FAILS("no output path (empty)", "", &axes, &good, 1);
    XY_FAILS("no axes (NULL)", path, NULL, &good, 1);
    XY_FAILS("no series (NULL)", path, &axes, NULL, 1);
    XY_FAILS("0 series: at least 1 needed", path, &axes, &good, 0);
    plot_series two[2] = {good, good};
    two[1].count = 0;
    XY_FAILS("series 1 has 0 points", path, &axes, two, 2);
    two[1] = good;
    two[1].x = NULL;
    XY_FAILS("series 1: its x array is NULL", path, &axes, two, 2);
    two[1] = good;
    two[1].y = NULL;
    XY_FAILS("series 1: its y array is NULL", path, &axes, two, 2);
    two[1] = good;
    two[1].style = (plot_style)7;
    XY_FAILS("series 1: unknown style 7", path, &axes, two, 2);
    two[1] = good;
    two[1].x = bad_x;
    XY_FAILS("series 1: x[2] is nan, not a finite number", path, &axes, two, 2);
    two[1] = good;
    two[1].y = bad_y;
    XY_FAILS("series 1: y[1] is inf, not a finite number", path, &axes, two, 2);
    static const double huge[] = {-1e308, 1e308};
    const plot_series too_wide = {NULL, huge, y, NULL, 2, PLOT_LINE};
    XY_FAILS("x values from -1e+308 to 1e+308 span more than a double holds", path,
             &axes, &too_wide, 1);
#undef XY_FAILS

    static const char *const labels[] = {"a", "b", NULL};
    static const double values[] = {0.5, 0.25, 1}, bad_values[] = {0.5, NAN, 1};
#define BARS_FAILS(needle, labels_, values_, count_, lo, hi) \
    do { \
        strcpy(err, ""); \
        check_failed(plot_bars_svg(path, &axes, (labels_), (values_), (count_), (lo), \
                                   (hi), err, ERR_BYTES), \
                     err, (needle), path); \
    } while (0)
    BARS_FAILS("no labels (NULL)", NULL, values, 2, 0, 1);
    BARS_FAILS("no values (NULL)", labels, NULL, 2, 0, 1);
    BARS_FAILS("0 bars: at least 1 needed", labels, values, 0, 0, 1);
    BARS_FAILS("bar 2 has no label (NULL)", labels, values, 3, 0, 1);
    BARS_FAILS("bar 1: value nan is not a finite number", labels, bad_values, 2, 0, 1);
    BARS_FAILS("y range 1 to 0: need finite y_min <= y_max", labels, values, 2, 1, 0);
    BARS_FAILS("y range nan to 1", labels, values, 2, NAN, 1);
#undef BARS_FAILS
    strcpy(err, "");
    check_failed(plot_bars_svg(NULL, &axes, labels, values, 2, 0, 1, err, ERR_BYTES),
                 err, "no output path (NULL)", path);

    /* no err buffer, or one too small: still -1, no overflow */
    CHECK(plot_xy_svg(NULL, &axes, &good, 1, NULL, 0) == -1);
    char small[8] = "xxxxxxx";
    CHECK(plot_xy_svg(path, NULL, &good, 1, small, 4) == -1);
    CHECK(strcmp(small, "no ") == 0 && small[4] == 'x');

    /* the file system refuses */
    char missing[TEST_PATH_BYTES];
    test_temp_path(missing, "no/such/dir.svg");
    strcpy(err, "");
    check_failed(plot_xy_svg(missing, &axes, &good, 1, err, ERR_BYTES), err,
                 "cannot create", missing);
    CHECK(strstr(err, "dir.svg.tmp: No such file or directory") != NULL);
    char directory[TEST_PATH_BYTES], temp[TEST_PATH_BYTES + 8];
    test_temp_path(directory, "a_directory");
    if (!CHECK(mkdir(directory, 0700) == 0))
        return;
    strcpy(err, "");
    CHECK(plot_xy_svg(directory, &axes, &good, 1, err, ERR_BYTES) == -1);
    CHECK_MSG(strstr(err, "cannot rename") && strstr(err, "a_directory.tmp to"),
              "message \"%s\"", err);
    snprintf(temp, sizeof temp, "%s.tmp", directory);
    CHECK_MSG(!file_exists(temp), "the failed chart was left in %s", temp);
}

/* A write that fails part way (the file-size limit stands in for a full
 * disk) gives -1 with the system's reason and keeps the old chart. */
static void write_failure_keeps_old_file(void)
{
    char path[TEST_PATH_BYTES], temp[TEST_PATH_BYTES + 8], err[ERR_BYTES] = "";
    test_temp_path(path, "old.svg");
    snprintf(temp, sizeof temp, "%s.tmp", path);
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    fputs("the old chart\n", f);
    fclose(f);

    struct rlimit old_limit, limit;
    if (!CHECK(getrlimit(RLIMIT_FSIZE, &old_limit) == 0))
        return;
    limit = old_limit;
    limit.rlim_cur = 1000; /* the reward chart is tens of kilobytes */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    if (!CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0))
        return;
    int got = write_reward(path, err);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    signal(SIGXFSZ, old_handler);

    CHECK_MSG(got == -1, "returned %d past the file-size limit", got);
    CHECK_MSG(strstr(err, "cannot write") && strstr(err, "File too large"),
              "message \"%s\"", err);
    CHECK_MSG(!file_exists(temp), "the partial chart was left in %s", temp);
    char *text = read_text(path);
    CHECK(text && strcmp(text, "the old chart\n") == 0);
    free(text);
}

/* Under a locale whose decimal point is a comma the numbers still have '.'. */
static void decimal_point_in_any_locale(void)
{
    static const char *const comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                                "fr_FR.utf8", "ru_RU.UTF-8", "de_DE"};
    int switched = 0;
    for (size_t i = 0; i < sizeof comma_locales / sizeof *comma_locales && !switched; i++)
        switched = setlocale(LC_NUMERIC, comma_locales[i]) != NULL &&
                   strcmp(localeconv()->decimal_point, ",") == 0;
    if (!switched) {
        setlocale(LC_NUMERIC, "C");
        test_skip("no locale with a decimal comma is installed");
        return;
    }
    char pareto[TEST_PATH_BYTES], keep[TEST_PATH_BYTES], err[ERR_BYTES] = "";
    test_temp_path(pareto, "pareto_comma.svg");
    test_temp_path(keep, "keep_ratio_comma.svg");
    int pareto_result = write_pareto(pareto, err);
    int keep_result = write_keep_ratio(keep, err);
    setlocale(LC_NUMERIC, "C");
    if (!CHECK_MSG(pareto_result == 0 && keep_result == 0, "%s", err))
        return;
    char *svg = read_chart(keep);
    if (svg) {
        CHECK(strstr(svg, ">0.2</text>") && !strstr(svg, "0,2"));
        CHECK(strstr(svg, ">0.375</text>") != NULL);
        check_round_ticks(svg, "tick-y");
        free(svg);
    }
    svg = read_chart(pareto);
    if (svg) {
        CHECK(strstr(svg, "r=\"4.5\"") != NULL);
        check_round_ticks(svg, "tick-x");
        check_round_ticks(svg, "tick-y");
        free(svg);
    }
}

static const char *sample_dir;

static void samples_written(void)
{
    static const char *const names[] = {"pareto.svg", "reward.svg", "keep_ratio.svg"};
    int (*const writers[])(const char *, char *) = {write_pareto, write_reward,
                                                    write_keep_ratio};
    for (int i = 0; i < 3; i++) {
        char path[TEST_PATH_BYTES], err[ERR_BYTES] = "";
        snprintf(path, sizeof path, "%s/%s", sample_dir, names[i]);
        CHECK_MSG(writers[i](path, err) == 0, "%s", err);
    }
}

int main(int argc, char **argv)
{
    test_main_begin();
    test_run("plot/pareto_points_and_front", pareto_points_and_front);
    test_run("plot/reward_curve_400_episodes", reward_curve_400_episodes);
    test_run("plot/keep_ratio_bars", keep_ratio_bars);
    test_run("plot/sixty_long_bars", sixty_long_bars);
    test_run("plot/escaping", escaping);
    test_run("plot/degenerate_ranges", degenerate_ranges);
    test_run("plot/markers_inside_frame", markers_inside_frame);
    test_run("plot/well_formed_xml", well_formed_xml);
    test_run("plot/errors", errors);
    test_run("plot/write_failure_keeps_old_file", write_failure_keeps_old_file);
    test_run("plot/decimal_point_in_any_locale", decimal_point_in_any_locale);
    if (argc > 1) {
        sample_dir = argv[1];
        test_run("plot/samples_written", samples_written);
    }
    test_main_end();
    return test_finish();
}
