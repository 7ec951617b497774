/*
 * html.c -- the self-contained report page (see html.h).
 *
 * The chart's SVG is copied into the page after its XML declaration and
 * doctype, which HTML does not take inside a document; everything else is
 * escaped text in tables that keep the report's columns and units.
 */
#define _DEFAULT_SOURCE /* mkstemps */
#include "html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chart.h"
#include "err.h"

static void escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* Copies the <svg ...> element of the file at path into out. Returns 0 or GW_EIO. */
static int embed_svg(FILE *out, const char *path)
{
    FILE *in = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    int rc = GW_EIO;
    if (!in)
        return GW_EIO;
    for (;;) {
        if (cap - len < 4096) {
            char *more = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!more)
                goto out;
            text = more;
        }
        n = fread(text + len, 1, cap - len - 1, in);
        if (n == 0)
            break;
        len += n;
    }
    text[len] = '\0';
    char *svg = strstr(text, "<svg");
    if (svg) {
        fputs(svg, out);
        rc = 0;
    }
out:
    free(text);
    fclose(in);
    return rc;
}

int cq_html_write(const struct cq_report *r, const char *heading, const char *path, char *why,
                  size_t why_len)
{
    char svg_path[] = "/tmp/cityquery-chart-XXXXXX.svg";
    int fd = mkstemps(svg_path, 4), have_chart = 0;
    FILE *out;

    if (fd >= 0) {
        close(fd);
        have_chart = cq_chart_write(r, svg_path, why, why_len) == 0;
        if (!have_chart && strstr(why, "gnuplot")) {
            unlink(svg_path);
            return GW_EIO;
        }
    }
    out = fopen(path, "w");
    if (!out) {
        snprintf(why, why_len, "cannot write %s", path);
        if (fd >= 0)
            unlink(svg_path);
        return GW_EIO;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", out);
    fprintf(out, "cityquery %s", r->kind);
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;margin:2em;max-width:75em;color:#111}\n"
          "table{border-collapse:collapse;margin:1em 0}\n"
          "caption{text-align:left;font-weight:bold;padding:.3em 0}\n"
          "th,td{border:1px solid #bbb;padding:.2em .6em}\n"
          "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
          "tr.flag td{background:#fde8e8}\n"
          "svg{max-width:100%;height:auto}\n"
          "</style>\n</head>\n<body>\n<h1>",
          out);
    fprintf(out, "cityquery %s</h1>\n<p>", r->kind);
    escape(out, heading);
    fputs("</p>\n", out);
    if (r->n_notes) {
        fputs("<ul>\n", out);
        for (size_t i = 0; i < r->n_notes; i++) {
            fputs("<li>", out);
            escape(out, r->notes[i]);
            fputs("</li>\n", out);
        }
        fputs("</ul>\n", out);
    }
    if (have_chart) {
        fputs("<figure>\n", out);
        if (embed_svg(out, svg_path) != 0)
            have_chart = 0;
        fputs("</figure>\n", out);
    }
    for (size_t i = 0; i < r->n_tables; i++) {
        const struct cq_table *t = &r->tables[i];
        fputs("<table>\n<caption>", out);
        escape(out, t->title);
        fputs("</caption>\n<tr>", out);
        for (size_t c = 0; c < t->n_cols; c++) {
            fputs("<th scope=\"col\">", out);
            escape(out, t->cols[c].name);
            if (t->cols[c].unit) {
                fputs(" [", out);
                escape(out, t->cols[c].unit);
                fputc(']', out);
            }
            fputs("</th>", out);
        }
        fputs("</tr>\n", out);
        for (size_t row = 0; row < t->n_rows; row++) {
            int flagged = 0;
            for (size_t c = 0; c < t->n_cols; c++)
                flagged |= strstr(cq_table_cell(t, row, c), "incomplete") != NULL;
            fputs(flagged ? "<tr class=\"flag\">" : "<tr>", out);
            for (size_t c = 0; c < t->n_cols; c++) {
                fputs(t->cols[c].type == CQ_COL_NUM ? "<td class=\"n\">" : "<td>", out);
                escape(out, cq_table_cell(t, row, c));
                fputs("</td>", out);
            }
            fputs("</tr>\n", out);
        }
        fputs("</table>\n", out);
    }
    fputs("</body>\n</html>\n", out);
    if (fd >= 0)
        unlink(svg_path);
    if (ferror(out) | (fclose(out) != 0)) {
        snprintf(why, why_len, "cannot write %s", path);
        return GW_EIO;
    }
    return 0;
}
