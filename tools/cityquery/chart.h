/*
 * chart.h -- a report's chart, drawn by gnuplot (Debian: gnuplot-nox) as
 * PNG (pngcairo) or SVG: daily or periodic volumes as bars, the hourly
 * profile as two lines, v85 by hour and day of week as a heatmap, and so
 * on (one chart per report; docs/planners.md shows them).
 *
 * gnuplot is run as a child process reading its script on stdin, with the
 * data inline (a datablock), so no temporary data file is left behind; the
 * chart is checked to exist and not be empty afterwards.
 */
#ifndef CITYQUERY_CHART_H
#define CITYQUERY_CHART_H

#include <stddef.h>

#include "report.h"

/*
 * Draws r's chart into path, PNG or SVG by its extension (.png, .svg).
 * The gnuplot program is $GNUPLOT or "gnuplot" on the PATH. Returns 0;
 * GW_EINVAL for another extension or a report without a chartable table;
 * GW_EIO when gnuplot is missing, fails, or leaves no file (why says
 * which).
 */
int cq_chart_write(const struct cq_report *r, const char *path, char *why, size_t why_len);

#endif
