/*
 * SVG charts for the rlkd command: the pictures of a search and of its
 * results (accuracy against FLOPs for every method, reward over episodes,
 * the keep ratio the agent chose for each layer). Plain SVG 1.1 written
 * with stdio: no plotting dependency, viewable in any browser.
 *
 * Both writers draw into "<path>.tmp" and rename it onto path once it is
 * complete: a failure leaves no partial chart and keeps an older one.
 * Numbers are written with '.' whatever LC_NUMERIC says (the rlkd program
 * never calls setlocale; should a caller, the locale's decimal point is
 * turned back into '.'). Text is taken to be UTF-8 and escaped for XML.
 * They never print or exit; err may be NULL.
 */
#ifndef RLKD_CLI_PLOT_H
#define RLKD_CLI_PLOT_H

#include <stddef.h>

typedef enum plot_style {
    PLOT_LINE = 0,        /* a polyline through the points in order */
    PLOT_POINTS = 1,      /* markers only, each with its label if given */
    PLOT_LINE_POINTS = 2  /* both */
} plot_style;

/* One series of an x-y chart: `count` points (x[i], y[i]). */
typedef struct plot_series {
    const char *name;          /* the legend's text; NULL: not in the legend */
    const double *x, *y;
    const char *const *labels; /* per point, shown next to markers; may be NULL */
    int count;
    plot_style style;
} plot_series;

/* Each text may be NULL: not drawn. */
typedef struct plot_axes {
    const char *title;
    const char *x_label, *y_label;
} plot_axes;

/*
 * Writes an x-y chart of `count` series to `path`, axes scaled to the data
 * with round tick values (1, 2 or 5 times a power of ten; a span of one
 * value gets a window around it), series coloured in turn from Okabe and
 * Ito's colour-blind-safe palette, the named ones in a legend right of the
 * plot. Returns 0, or -1 with a one-line reason in err[err_size] (a NULL
 * or empty path, NULL axes, a NULL or empty series list, a series with no
 * points, NULL x or y or an unknown style, a non-finite value, a file that
 * cannot be written).
 */
int plot_xy_svg(const char *path, const plot_axes *axes,
                const plot_series *series, int count, char *err,
                size_t err_size);

/*
 * Writes a bar chart: one bar per label with its value (e.g. the keep ratio
 * of each layer), values in [y_min, y_max] (both 0 and 1 for ratios; pass
 * y_min == y_max to scale to the data and zero; a value outside a given
 * range is cut at its edge). Labels too wide for their bar are turned 45
 * degrees, and those over 24 characters shortened around an ellipsis (the
 * whole label is in the bar's tooltip). Same return convention (also NULL
 * labels or values, a NULL label, y_min > y_max or not finite).
 */
int plot_bars_svg(const char *path, const plot_axes *axes,
                  const char *const *labels, const double *values, int count,
                  double y_min, double y_max, char *err, size_t err_size);

#endif
