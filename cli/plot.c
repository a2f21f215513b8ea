/*
 * SVG charts written with stdio (see plot.h).
 *
 * A chart is laid out in pixels from estimated text widths (a plain writer
 * has no font metrics), written to "<path>.tmp" and renamed onto `path`
 * only once every byte is out, so a failure never leaves a partial chart
 * (nor clobbers an older one).
 */
#include "plot.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- look ---- */

#define FONT_FAMILY "DejaVu Sans, Helvetica, Arial, sans-serif"
/* font sizes in pixels, whole numbers (written with %d) */
#define TITLE_FONT 18
#define AXIS_LABEL_FONT 14
#define TICK_FONT 12
#define LEGEND_FONT 12
#define POINT_LABEL_FONT 11
#define BAR_LABEL_FONT 11
#define BAR_VALUE_FONT 10
#define TEXT_COLOUR "#222222"
#define GRID_COLOUR "#e3e3e3"
#define ZERO_COLOUR "#9a9a9a"
#define FRAME_COLOUR "#555555"

/* The x-y chart's plot area, and the bar chart's smallest one. */
#define PLOT_WIDTH 640.0
#define PLOT_HEIGHT 400.0
/* Above the plot: room for the title. */
#define TOP_MARGIN 48.0
/* Bars never get narrower slots than this: 60 bars make a wider picture. */
#define BAR_SLOT_MIN 16.0
#define BAR_WIDTH_MAX 48.0
/* Bar labels longer than this are cut to it around an ellipsis (the whole
 * label is in the bar's tooltip). */
#define BAR_LABEL_CHARS 24
/* Slots at least this wide have room for the value above the bar. */
#define BAR_VALUE_SLOT 30.0
#define MARKER_RADIUS 4.5

/*
 * Okabe and Ito's colour-blind-safe palette ("Color Universal Design",
 * 2008), reordered so that the strongest contrasts on white come first and
 * the pale yellow last; series beyond eight reuse it.
 */
static const char *const palette[] = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7",
    "#E69F00", "#56B4E9", "#000000", "#F0E442",
};
#define PALETTE_SIZE (sizeof palette / sizeof palette[0])

static int fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason into err (when there is room) and returns -1. */
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, err_size, fmt, args);
        va_end(args);
    }
    return -1;
}

/* ---- numbers and text ---- */

typedef struct number_text {
    char s[40];
} number_text;

/*
 * printf's decimal point is LC_NUMERIC's. The rlkd program never calls
 * setlocale, so it stays "C" and writes '.'; should a program that links
 * this file switch to a locale with a comma, SVG (which only reads '.')
 * still gets a point: the locale's separator is put back to '.' here.
 */
static number_text with_decimal_dot(number_text t)
{
    const char *point = localeconv()->decimal_point;
    size_t point_len = strlen(point);
    if (point_len == 0 || strcmp(point, ".") == 0)
        return t;
    char *at = strstr(t.s, point);
    if (at) {
        *at = '.';
        memmove(at + 1, at + point_len, strlen(at + point_len) + 1);
    }
    return t;
}

/* A pixel coordinate, to a tenth of a pixel. */
static number_text pixel(double v)
{
    number_text t;
    snprintf(t.s, sizeof t.s, "%.1f", v);
    return with_decimal_dot(t);
}

/* `decimals` places, or (decimals < 0) %g with `digits` significant ones. */
static number_text decimal(double v, int decimals, int digits)
{
    number_text t;
    if (decimals >= 0)
        snprintf(t.s, sizeof t.s, "%.*f", decimals, v);
    else
        snprintf(t.s, sizeof t.s, "%.*g", digits, v);
    return with_decimal_dot(t);
}

#define WHOLE ((size_t)-1) /* text_chars' and put_text's "no limit" */

/* Characters (UTF-8 code points) in s, counting at most `limit`. */
static size_t text_chars(const char *s, size_t limit)
{
    size_t n = 0;
    for (; *s && n < limit; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The width of s in pixels at `font`: 0.6 em a character, on the generous
 * side for sans-serif digits and lower case. */
static double text_width(const char *s, size_t limit, double font)
{
    return 0.6 * font * (double)text_chars(s, limit);
}

/*
 * Writes the characters [from, to) of s as XML text (fine in attributes
 * too): the five special characters as entities, control characters (not
 * allowed in XML 1.0) as spaces. Other bytes pass through: text is taken
 * to be UTF-8, and a character is a lead byte with its continuation bytes.
 */
static void put_chars(FILE *f, const char *s, size_t from, size_t to)
{
    size_t chars = 0; /* characters begun so far, the current one included */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        chars += (c & 0xC0) != 0x80;
        if (chars <= from || chars > to)
            continue;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(c < 0x20 ? ' ' : c, f);
        }
    }
}

/* Writes s as XML text, cut to `limit` characters when longer: its start
 * and its (longer) end around an ellipsis, since layer names differ most
 * at the end ("encoder.…k59.conv_reduce"). */
static void put_text(FILE *f, const char *s, size_t limit)
{
    size_t chars = text_chars(s, WHOLE);
    if (chars <= limit) {
        put_chars(f, s, 0, chars);
        return;
    }
    size_t head = limit / 3, tail = limit - head - 1;
    put_chars(f, s, 0, head);
    fputs("\xE2\x80\xA6", f); /* U+2026 HORIZONTAL ELLIPSIS */
    put_chars(f, s, chars - tail, chars);
}

/* ---- axes ---- */

/* A numeric axis: its span and its ticks at whole multiples of a round step. */
typedef struct axis {
    double lo, hi;          /* the span drawn */
    double step;            /* 1, 2 or 5 times a power of ten */
    long long first, last;  /* ticks at k * step, k in [first, last] */
    int decimals;           /* tick text: places after the point, or -1: %g */
    int digits;             /* with %g: significant digits the ticks need */
    int thousands;          /* 2, 3, 4: ticks in M, G, T (units of 1000^thousands) */
} axis;

/*
 * Chooses about `target` round ticks for data in [lo, hi]. `snap`: the
 * axis widens to whole steps around the data; otherwise it spans exactly
 * [lo, hi] (a caller's range, e.g. 0 to 1) with the ticks inside it. A
 * span of nothing (one value, values equal to nine digits, or all below
 * 1e-300) gets a window around it. Returns -1 when the span does not fit in a double.
 */
static int axis_fit(axis *a, double lo, double hi, int target, int snap)
{
    double magnitude = fmax(fabs(lo), fabs(hi));
    if (hi - lo <= 1e-9 * magnitude || magnitude < 1e-300) {
        double middle = lo / 2 + hi / 2;
        double half = magnitude > 1e-300 ? 0.1 * magnitude : 1.0;
        lo = middle - half;
        hi = middle + half;
        snap = 1;
    }
    double rough = (hi - lo) / target;
    if (!isfinite(rough) || rough <= 0)
        return -1;
    int exponent = (int)floor(log10(rough));
    double fraction = rough / pow(10.0, exponent);
    double mantissa = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
    if (mantissa == 10) {
        mantissa = 1;
        exponent++;
    }
    /* dividing by an exact power of ten keeps 0.2 closer to 0.2 */
    a->step = exponent < 0 ? mantissa / pow(10.0, -exponent)
                           : mantissa * pow(10.0, exponent);
    if (!isfinite(a->step) || a->step <= 0)
        return -1;
    /* the slack absorbs rounding: 0.6 / 0.2 is 2.9999999999999996 */
    if (snap) {
        a->first = (long long)floor(lo / a->step + 1e-9);
        a->last = (long long)ceil(hi / a->step - 1e-9);
        a->lo = (double)a->first * a->step;
        a->hi = (double)a->last * a->step;
    } else {
        a->first = (long long)ceil(lo / a->step - 1e-9);
        a->last = (long long)floor(hi / a->step + 1e-9);
        a->lo = lo;
        a->hi = hi;
    }
    if (!isfinite(a->lo) || !isfinite(a->hi) || !(a->hi > a->lo))
        return -1;
    /* Plain decimals (0, 100, 0.25) while they stay short; millions to
     * trillions with an SI prefix (20G, 2.5G: FLOPs and weights); beyond,
     * and ten-thousandths and below, %g's exponent form. */
    double biggest = fmax(fabs((double)a->first * a->step),
                          fabs((double)a->last * a->step));
    int top = biggest > 0 ? (int)floor(log10(biggest)) : exponent;
    a->thousands = top >= 6 && top < 15 ? top / 3 : 0;
    if (a->thousands > 0 || (top < 6 && exponent >= -4)) {
        int unit = 3 * a->thousands; /* the power of ten that one unit is */
        a->decimals = exponent < unit ? unit - exponent : 0;
        a->digits = 0;
    } else {
        a->decimals = -1;
        a->digits = top - exponent + 1;
        a->digits = a->digits < 1 ? 1 : a->digits > 17 ? 17 : a->digits;
    }
    return 0;
}

static double axis_tick(const axis *a, long long k)
{
    return (double)k * a->step;
}

static number_text axis_tick_text(const axis *a, long long k)
{
    if (a->thousands == 0 || k == 0)
        return decimal(axis_tick(a, k), a->decimals, a->digits);
    number_text t = decimal(axis_tick(a, k) / pow(1000.0, a->thousands), a->decimals, 0);
    size_t n = strlen(t.s);
    t.s[n] = "kMGT"[a->thousands - 1];
    t.s[n + 1] = '\0';
    return t;
}

/* Where v falls between the pixels `from` (a->lo) and `to` (a->hi). */
static double axis_at(const axis *a, double v, double from, double to)
{
    return from + (v - a->lo) / (a->hi - a->lo) * (to - from);
}

/* The widest tick text in pixels. */
static double axis_tick_width(const axis *a)
{
    double widest = 0;
    for (long long k = a->first; k <= a->last; k++)
        widest = fmax(widest, text_width(axis_tick_text(a, k).s, WHOLE, TICK_FONT));
    return widest;
}

/* ---- the picture ---- */

/* The picture's size and its plot area, in pixels. */
typedef struct frame {
    double width, height;
    double left, top, plot_width, plot_height;
} frame;

static double frame_bottom(const frame *fr)
{
    return fr->top + fr->plot_height;
}

static double frame_right(const frame *fr)
{
    return fr->left + fr->plot_width;
}

/* The left margin for y tick texts of `tick_width` px and the y label. */
static double left_margin(double tick_width)
{
    return 30.0 + tick_width + 10.0;
}

static void write_header(FILE *f, const frame *fr, const plot_axes *axes)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
               "width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" "
               "font-family=\"" FONT_FAMILY "\" fill=\"" TEXT_COLOUR "\">\n",
            pixel(fr->width).s, pixel(fr->height).s, pixel(fr->width).s,
            pixel(fr->height).s);
    if (axes->title) {
        fputs("<title>", f);
        put_text(f, axes->title, WHOLE);
        fputs("</title>\n", f);
    }
    fprintf(f, "<rect width=\"%s\" height=\"%s\" fill=\"#ffffff\"/>\n",
            pixel(fr->width).s, pixel(fr->height).s);
    if (axes->title) {
        fprintf(f, "<text class=\"title\" x=\"%s\" y=\"30\" text-anchor=\"middle\" "
                   "font-size=\"%d\" font-weight=\"bold\">",
                pixel(fr->left + fr->plot_width / 2).s, TITLE_FONT);
        put_text(f, axes->title, WHOLE);
        fputs("</text>\n", f);
    }
}

/* Horizontal grid lines with their tick texts, and a darker line at zero
 * when the axis crosses it (rewards below and above zero). */
static void write_y_axis(FILE *f, const frame *fr, const axis *ya)
{
    fprintf(f, "<g class=\"y-grid\" stroke=\"" GRID_COLOUR "\" stroke-width=\"1\">\n");
    for (long long k = ya->first; k <= ya->last; k++) {
        number_text y = pixel(axis_at(ya, axis_tick(ya, k), frame_bottom(fr), fr->top));
        fprintf(f, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n",
                pixel(fr->left).s, y.s, pixel(frame_right(fr)).s, y.s);
    }
    fputs("</g>\n", f);
    if (ya->lo < 0 && ya->hi > 0) {
        number_text y = pixel(axis_at(ya, 0, frame_bottom(fr), fr->top));
        fprintf(f, "<line class=\"zero\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" "
                   "stroke=\"" ZERO_COLOUR "\" stroke-width=\"1\"/>\n",
                pixel(fr->left).s, y.s, pixel(frame_right(fr)).s, y.s);
    }
    fprintf(f, "<g font-size=\"%d\" text-anchor=\"end\">\n", TICK_FONT);
    for (long long k = ya->first; k <= ya->last; k++)
        fprintf(f, "<text class=\"tick-y\" x=\"%s\" y=\"%s\">%s</text>\n",
                pixel(fr->left - 8).s,
                pixel(axis_at(ya, axis_tick(ya, k), frame_bottom(fr), fr->top) + 4).s,
                axis_tick_text(ya, k).s);
    fputs("</g>\n", f);
}

static void write_x_axis(FILE *f, const frame *fr, const axis *xa)
{
    fprintf(f, "<g class=\"x-grid\" stroke=\"" GRID_COLOUR "\" stroke-width=\"1\">\n");
    for (long long k = xa->first; k <= xa->last; k++) {
        number_text x = pixel(axis_at(xa, axis_tick(xa, k), fr->left, frame_right(fr)));
        fprintf(f, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", x.s,
                pixel(fr->top).s, x.s, pixel(frame_bottom(fr)).s);
    }
    fputs("</g>\n", f);
    fprintf(f, "<g font-size=\"%d\" text-anchor=\"middle\">\n", TICK_FONT);
    for (long long k = xa->first; k <= xa->last; k++)
        fprintf(f, "<text class=\"tick-x\" x=\"%s\" y=\"%s\">%s</text>\n",
                pixel(axis_at(xa, axis_tick(xa, k), fr->left, frame_right(fr))).s,
                pixel(frame_bottom(fr) + 18).s, axis_tick_text(xa, k).s);
    fputs("</g>\n", f);
}

/* The plot area's border, the x label centred at height `x_label_y`, the y
 * label turned up the left edge. */
static void write_frame_and_labels(FILE *f, const frame *fr, const plot_axes *axes,
                                   double x_label_y)
{
    fprintf(f, "<rect class=\"frame\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
               "fill=\"none\" stroke=\"" FRAME_COLOUR "\" stroke-width=\"1\"/>\n",
            pixel(fr->left).s, pixel(fr->top).s, pixel(fr->plot_width).s,
            pixel(fr->plot_height).s);
    if (axes->x_label) {
        fprintf(f, "<text class=\"x-label\" x=\"%s\" y=\"%s\" text-anchor=\"middle\" "
                   "font-size=\"%d\">",
                pixel(fr->left + fr->plot_width / 2).s, pixel(x_label_y).s,
                AXIS_LABEL_FONT);
        put_text(f, axes->x_label, WHOLE);
        fputs("</text>\n", f);
    }
    if (axes->y_label) {
        number_text y = pixel(fr->top + fr->plot_height / 2);
        fprintf(f, "<text class=\"y-label\" x=\"18\" y=\"%s\" text-anchor=\"middle\" "
                   "font-size=\"%d\" transform=\"rotate(-90 18 %s)\">",
                y.s, AXIS_LABEL_FONT, y.s);
        put_text(f, axes->y_label, WHOLE);
        fputs("</text>\n", f);
    }
}

/* ---- the output file ---- */

typedef struct svg_file {
    FILE *f;
    char *temp_path; /* "<path>.tmp", renamed onto path when complete */
} svg_file;

static int svg_open(svg_file *out, const char *path, char *err, size_t err_size)
{
    size_t bytes = strlen(path) + sizeof ".tmp";
    out->temp_path = malloc(bytes);
    if (!out->temp_path)
        return fail(err, err_size, "cannot write %s: out of memory", path);
    snprintf(out->temp_path, bytes, "%s.tmp", path);
    out->f = fopen(out->temp_path, "w");
    if (!out->f) {
        int error = errno;
        fail(err, err_size, "cannot create %s: %s", out->temp_path, strerror(error));
        free(out->temp_path);
        return -1;
    }
    errno = 0; /* a failed write below sets it; its reason is the message's */
    return 0;
}

/* Closes the file and renames it onto path, or removes it when any write,
 * the close or the rename failed. */
static int svg_close(svg_file *out, const char *path, char *err, size_t err_size)
{
    int failed = fflush(out->f) != 0 || ferror(out->f);
    int error = errno;
    if (fclose(out->f) != 0 && !failed) {
        failed = 1;
        error = errno;
    }
    if (failed) {
        fail(err, err_size, "cannot write %s: %s", out->temp_path,
             error ? strerror(error) : "write error");
    } else if (rename(out->temp_path, path) != 0) {
        error = errno;
        failed = 1;
        fail(err, err_size, "cannot rename %s to %s: %s", out->temp_path, path,
             strerror(error));
    }
    if (failed)
        remove(out->temp_path);
    free(out->temp_path);
    return failed ? -1 : 0;
}

/* ---- x-y charts ---- */

static int has_line(plot_style style)
{
    return style == PLOT_LINE || style == PLOT_LINE_POINTS;
}

static int has_markers(plot_style style)
{
    return style == PLOT_POINTS || style == PLOT_LINE_POINTS;
}

/* 0, or -1 with the reason why series `index` cannot be drawn in err. */
static int check_series(const plot_series *s, int index, char *err, size_t err_size)
{
    if (s->count < 1)
        return fail(err, err_size, "series %d has %d points: at least 1 needed",
                    index, s->count);
    if (!s->x || !s->y)
        return fail(err, err_size, "series %d: its %s array is NULL", index,
                    s->x ? "y" : "x");
    if (s->style != PLOT_LINE && s->style != PLOT_POINTS && s->style != PLOT_LINE_POINTS)
        return fail(err, err_size, "series %d: unknown style %d", index, (int)s->style);
    for (int i = 0; i < s->count; i++) {
        if (!isfinite(s->x[i]))
            return fail(err, err_size, "series %d: x[%d] is %g, not a finite number",
                        index, i, s->x[i]);
        if (!isfinite(s->y[i]))
            return fail(err, err_size, "series %d: y[%d] is %g, not a finite number",
                        index, i, s->y[i]);
    }
    return 0;
}

/* The legend's box: a row for each named series (none: no legend). */
typedef struct legend_box {
    int rows;
    double width, height;
} legend_box;

#define LEGEND_ROW 20.0

static legend_box legend_measure(const plot_series *series, int count)
{
    legend_box box = {0, 0, 0};
    double name_width = 0;
    for (int s = 0; s < count; s++)
        if (series[s].name) {
            name_width = fmax(name_width, text_width(series[s].name, WHOLE, LEGEND_FONT));
            box.rows++;
        }
    box.width = 42 + name_width + 10; /* swatch, name, margin */
    box.height = box.rows * LEGEND_ROW + 10;
    return box;
}

/* The legend 16 px right of the plot: a swatch in each named series'
 * style, then its name. */
static void write_legend(FILE *f, const frame *fr, const legend_box *box,
                         const plot_series *series, int count)
{
    double x = frame_right(fr) + 16, y = fr->top;
    fprintf(f, "<g class=\"legend\" font-size=\"%d\">\n", LEGEND_FONT);
    fprintf(f, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"#ffffff\" "
               "stroke=\"#cccccc\"/>\n",
            pixel(x).s, pixel(y).s, pixel(box->width).s, pixel(box->height).s);
    int row = 0;
    for (int s = 0; s < count; s++) {
        if (!series[s].name)
            continue;
        const char *colour = palette[(size_t)s % PALETTE_SIZE];
        double mid = y + 15 + LEGEND_ROW * row++;
        if (has_line(series[s].style))
            fprintf(f, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" "
                       "stroke-width=\"2\"/>\n",
                    pixel(x + 10).s, pixel(mid).s, pixel(x + 34).s, pixel(mid).s, colour);
        if (has_markers(series[s].style))
            fprintf(f, "<circle class=\"legend-marker\" cx=\"%s\" cy=\"%s\" r=\"%s\" "
                       "fill=\"%s\" stroke=\"#ffffff\"/>\n",
                    pixel(x + 22).s, pixel(mid).s, pixel(MARKER_RADIUS).s, colour);
        fprintf(f, "<text class=\"legend-name\" x=\"%s\" y=\"%s\">", pixel(x + 42).s,
                pixel(mid + 4).s);
        put_text(f, series[s].name, WHOLE);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
}

int plot_xy_svg(const char *path, const plot_axes *axes,
                const plot_series *series, int count, char *err,
                size_t err_size)
{
    if (!path || !*path)
        return fail(err, err_size, "no output path (%s)", path ? "empty" : "NULL");
    if (!axes)
        return fail(err, err_size, "no axes (NULL)");
    if (!series)
        return fail(err, err_size, "no series (NULL)");
    if (count < 1)
        return fail(err, err_size, "%d series: at least 1 needed", count);

    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    int any_markers = 0;
    for (int s = 0; s < count; s++) {
        const plot_series *p = &series[s];
        if (check_series(p, s, err, err_size) != 0)
            return -1;
        for (int i = 0; i < p->count; i++) {
            x_lo = fmin(x_lo, p->x[i]);
            x_hi = fmax(x_hi, p->x[i]);
            y_lo = fmin(y_lo, p->y[i]);
            y_hi = fmax(y_hi, p->y[i]);
        }
        any_markers |= has_markers(p->style);
    }
    /* Markers and their labels at the data's edge would sit on the frame:
     * a margin of 4 % keeps them inside before the ticks round the span. */
    double x_pad = any_markers ? 0.04 * (x_hi - x_lo) : 0;
    double y_pad = any_markers ? 0.04 * (y_hi - y_lo) : 0;
    axis xa, ya;
    if (axis_fit(&xa, x_lo - x_pad, x_hi + x_pad, 8, 1) != 0)
        return fail(err, err_size, "x values from %g to %g span more than a double holds",
                    x_lo, x_hi);
    if (axis_fit(&ya, y_lo - y_pad, y_hi + y_pad, 6, 1) != 0)
        return fail(err, err_size, "y values from %g to %g span more than a double holds",
                    y_lo, y_hi);

    frame fr;
    fr.left = left_margin(axis_tick_width(&ya));
    fr.top = TOP_MARGIN;
    fr.plot_width = PLOT_WIDTH;
    fr.plot_height = PLOT_HEIGHT;
    /* the last x tick text is centred on the plot's right edge */
    double right = fmax(24.0, text_width(axis_tick_text(&xa, xa.last).s, WHOLE,
                                         TICK_FONT) / 2 + 8);
    legend_box legend = legend_measure(series, count);
    if (legend.rows > 0)
        right = fmax(right, 16 + legend.width + 16);
    fr.width = fr.left + fr.plot_width + right;
    fr.height = fmax(fr.top + fr.plot_height + 60, fr.top + legend.height + 16);

    svg_file out;
    if (svg_open(&out, path, err, err_size) != 0)
        return -1;
    FILE *f = out.f;
    write_header(f, &fr, axes);
    write_y_axis(f, &fr, &ya);
    write_x_axis(f, &fr, &xa);
    write_frame_and_labels(f, &fr, axes, frame_bottom(&fr) + 46);

    /* all lines first, so that no line covers another series' markers */
    fputs("<g class=\"lines\" fill=\"none\" stroke-width=\"2\" "
          "stroke-linejoin=\"round\" stroke-linecap=\"round\">\n", f);
    for (int s = 0; s < count; s++) {
        const plot_series *p = &series[s];
        if (!has_line(p->style))
            continue;
        fprintf(f, "<polyline stroke=\"%s\" points=\"", palette[(size_t)s % PALETTE_SIZE]);
        for (int i = 0; i < p->count; i++)
            fprintf(f, "%s%s,%s", i == 0 ? "" : i % 10 == 0 ? "\n" : " ",
                    pixel(axis_at(&xa, p->x[i], fr.left, frame_right(&fr))).s,
                    pixel(axis_at(&ya, p->y[i], frame_bottom(&fr), fr.top)).s);
        fputs("\"/>\n", f);
    }
    fputs("</g>\n", f);
    for (int s = 0; s < count; s++) {
        const plot_series *p = &series[s];
        if (!has_markers(p->style))
            continue;
        fprintf(f, "<g class=\"markers\" fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"1\">\n",
                palette[(size_t)s % PALETTE_SIZE]);
        for (int i = 0; i < p->count; i++)
            fprintf(f, "<circle class=\"marker\" cx=\"%s\" cy=\"%s\" r=\"%s\"/>\n",
                    pixel(axis_at(&xa, p->x[i], fr.left, frame_right(&fr))).s,
                    pixel(axis_at(&ya, p->y[i], frame_bottom(&fr), fr.top)).s,
                    pixel(MARKER_RADIUS).s);
        fputs("</g>\n", f);
        if (!p->labels)
            continue;
        fprintf(f, "<g font-size=\"%d\">\n", POINT_LABEL_FONT);
        for (int i = 0; i < p->count; i++) {
            if (!p->labels[i])
                continue;
            double x = axis_at(&xa, p->x[i], fr.left, frame_right(&fr));
            double y = axis_at(&ya, p->y[i], frame_bottom(&fr), fr.top);
            /* up and to the right of the marker, or to its left where the
             * text would run past the plot's right edge */
            int leftwards = x + 7 + text_width(p->labels[i], WHOLE, POINT_LABEL_FONT) >
                            frame_right(&fr);
            fprintf(f, "<text class=\"point-label\" x=\"%s\" y=\"%s\"%s>",
                    pixel(leftwards ? x - 7 : x + 7).s, pixel(y - 7).s,
                    leftwards ? " text-anchor=\"end\"" : "");
            put_text(f, p->labels[i], WHOLE);
            fputs("</text>\n", f);
        }
        fputs("</g>\n", f);
    }
    if (legend.rows > 0)
        write_legend(f, &fr, &legend, series, count);
    fputs("</svg>\n", f);
    return svg_close(&out, path, err, err_size);
}

/* ---- bar charts ---- */

int plot_bars_svg(const char *path, const plot_axes *axes,
                  const char *const *labels, const double *values, int count,
                  double y_min, double y_max, char *err, size_t err_size)
{
    if (!path || !*path)
        return fail(err, err_size, "no output path (%s)", path ? "empty" : "NULL");
    if (!axes)
        return fail(err, err_size, "no axes (NULL)");
    if (!labels || !values)
        return fail(err, err_size, "no %s (NULL)", labels ? "values" : "labels");
    if (count < 1)
        return fail(err, err_size, "%d bars: at least 1 needed", count);
    if (!isfinite(y_min) || !isfinite(y_max) || y_min > y_max)
        return fail(err, err_size, "y range %g to %g: need finite y_min <= y_max",
                    y_min, y_max);
    double data_lo = 0, data_hi = 0; /* bars start at zero: it is in the span */
    double label_width = 0;
    for (int i = 0; i < count; i++) {
        if (!labels[i])
            return fail(err, err_size, "bar %d has no label (NULL)", i);
        if (!isfinite(values[i]))
            return fail(err, err_size, "bar %d: value %g is not a finite number", i,
                        values[i]);
        data_lo = fmin(data_lo, values[i]);
        data_hi = fmax(data_hi, values[i]);
        label_width = fmax(label_width,
                           text_width(labels[i], BAR_LABEL_CHARS, BAR_LABEL_FONT));
    }
    axis ya;
    int scaled = y_min == y_max;
    if (axis_fit(&ya, scaled ? data_lo : y_min, scaled ? data_hi : y_max, 6, scaled) != 0)
        return fail(err, err_size, "values span more than a double holds");

    frame fr;
    fr.plot_width = fmax(PLOT_WIDTH, BAR_SLOT_MIN * count);
    fr.plot_height = PLOT_HEIGHT;
    fr.top = TOP_MARGIN;
    double slot = fr.plot_width / count;
    double bar_width = fmin(0.7 * slot, BAR_WIDTH_MAX);
    /* Labels wider than their slot are turned 45 degrees, ending under their
     * bar: they reach down by sin 45 of their width and, left of the first
     * bar, by as much. */
    int turned = label_width > slot - 6;
    double label_reach = turned ? 0.71 * (label_width + BAR_LABEL_FONT) : BAR_LABEL_FONT;
    fr.left = fmax(left_margin(axis_tick_width(&ya)),
                   turned ? label_reach - slot / 2 + 12 : 0);
    double x_label_y = frame_bottom(&fr) + 16 + label_reach + 20;
    fr.width = fr.left + fr.plot_width + 24;
    fr.height = x_label_y + 16;

    svg_file out;
    if (svg_open(&out, path, err, err_size) != 0)
        return -1;
    FILE *f = out.f;
    write_header(f, &fr, axes);
    write_y_axis(f, &fr, &ya);

    double base = axis_at(&ya, fmin(fmax(0.0, ya.lo), ya.hi), frame_bottom(&fr), fr.top);
    fprintf(f, "<g class=\"bars\" fill=\"%s\">\n", palette[0]);
    for (int i = 0; i < count; i++) {
        /* values outside a caller's range are cut at its edge */
        double v = fmin(fmax(values[i], ya.lo), ya.hi);
        double end = axis_at(&ya, v, frame_bottom(&fr), fr.top);
        double centre = fr.left + (i + 0.5) * slot;
        fprintf(f, "<rect class=\"bar\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\">"
                   "<title>",
                pixel(centre - bar_width / 2).s, pixel(fmin(base, end)).s,
                pixel(bar_width).s, pixel(fabs(end - base)).s);
        put_text(f, labels[i], WHOLE);
        fprintf(f, ": %s</title></rect>\n", decimal(values[i], -1, 4).s);
    }
    fputs("</g>\n", f);
    if (slot >= BAR_VALUE_SLOT) {
        fprintf(f, "<g font-size=\"%d\" text-anchor=\"middle\">\n", BAR_VALUE_FONT);
        for (int i = 0; i < count; i++) {
            double v = fmin(fmax(values[i], ya.lo), ya.hi);
            double end = axis_at(&ya, v, frame_bottom(&fr), fr.top);
            fprintf(f, "<text class=\"bar-value\" x=\"%s\" y=\"%s\">%s</text>\n",
                    pixel(fr.left + (i + 0.5) * slot).s,
                    pixel(values[i] >= 0 ? end - 4 : end + BAR_VALUE_FONT + 2).s,
                    decimal(values[i], -1, 3).s);
        }
        fputs("</g>\n", f);
    }
    fprintf(f, "<g font-size=\"%d\"%s>\n", BAR_LABEL_FONT,
            turned ? " text-anchor=\"end\"" : " text-anchor=\"middle\"");
    for (int i = 0; i < count; i++) {
        number_text x = pixel(fr.left + (i + 0.5) * slot);
        number_text y = pixel(frame_bottom(&fr) + 16);
        fprintf(f, "<text class=\"bar-label\" x=\"%s\" y=\"%s\"", x.s, y.s);
        if (turned)
            fprintf(f, " transform=\"rotate(-45 %s %s)\"", x.s, y.s);
        fputc('>', f);
        put_text(f, labels[i], BAR_LABEL_CHARS);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    write_frame_and_labels(f, &fr, axes, x_label_y);
    fputs("</svg>\n", f);
    return svg_close(&out, path, err, err_size);
}
