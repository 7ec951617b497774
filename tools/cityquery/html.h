/*
 * html.h -- one self-contained HTML page of a report, for a planning
 * document: its heading, chart (inline SVG), tables and notes, with the
 * styles inline and nothing fetched from anywhere.
 */
#ifndef CITYQUERY_HTML_H
#define CITYQUERY_HTML_H

#include <stddef.h>

#include "report.h"

/*
 * Writes r as a page to path, headed by heading (borrowed; the selection,
 * period, zone and level). The chart is drawn with cq_chart_write() into a
 * temporary SVG and embedded; a report without a chart has none. Returns
 * 0, or GW_EIO (why filled) when the page or the chart cannot be written.
 */
int cq_html_write(const struct cq_report *r, const char *heading, const char *path, char *why,
                  size_t why_len);

#endif
