/*
 * chart.c -- gnuplot charts of reports (see chart.h).
 *
 * Each report names one table and the columns to draw: the text cells are
 * the same digits the table shows, so the chart cannot disagree with it.
 * Empty cells (no figure) are written as NaN, which gnuplot leaves out.
 */
#include "chart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "err.h"

enum style { BARS, LINES, HEATMAP };

struct spec {
    const char *kind;  /* report */
    const char *table; /* the table drawn */
    size_t x;          /* column of the x labels */
    size_t y[7];       /* columns drawn (HEATMAP: the matrix columns) */
    size_t n_y;
    enum style style;
    const char *xlabel, *ylabel;
};

static const struct spec specs[] = {
    {"volume", "volume", 0, {2}, 1, BARS, "period (local time)", "vehicles"},
    {"profile", "profile", 0, {1, 3}, 2, LINES, "hour (local time)", "vehicles per hour"},
    {"aadt", "days", 0, {1}, 1, BARS, "day (local time)", "vehicles per day"},
    {"peak", "peaks", 0, {2}, 1, BARS, "day (local time)", "peak hour volume (vehicles)"},
    {"speed", "grid", 0, {1, 2, 3, 4, 5, 6, 7}, 7, HEATMAP, "day of week", "hour (local time)"},
    {"classes", "classes", 0, {2}, 1, BARS, "vehicle class", "share of vehicles (%)"},
    {"completeness", "days", 0, {2}, 1, BARS, "day (local time)", "observed (%)"},
};

static const struct cq_table *find_table(const struct cq_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_tables; i++)
        if (strcmp(r->tables[i].name, name) == 0)
            return &r->tables[i];
    return NULL;
}

/* Writes s as a gnuplot double-quoted string (backslash and quote escaped). */
static void gp_string(FILE *gp, const char *s)
{
    fputc('"', gp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', gp);
        fputc(*s, gp);
    }
    fputc('"', gp);
}

static void gp_cell(FILE *gp, const char *cell)
{
    fputs(cell[0] ? cell : "NaN", gp);
}

static void script(FILE *gp, const struct spec *sp, const struct cq_table *t, const char *path,
                   int svg)
{
    if (svg)
        fprintf(gp, "set terminal svg size 960,540 dynamic font 'sans,11'\n");
    else
        fprintf(gp, "set terminal pngcairo size 960,540 font 'sans,10'\n");
    fprintf(gp, "set output ");
    gp_string(gp, path);
    fprintf(gp, "\nset title ");
    gp_string(gp, t->title);
    fprintf(gp, "\nset xlabel ");
    gp_string(gp, sp->xlabel);
    fprintf(gp, "\nset ylabel ");
    gp_string(gp, sp->ylabel);
    fprintf(gp, "\nset bmargin 10\nset rmargin 8\nset grid ytics\nset key top left\nset datafile "
                "missing 'NaN'\n$data << EOD\n");
    for (size_t row = 0; row < t->n_rows; row++) {
        if (sp->style != HEATMAP) {
            gp_string(gp, cq_table_cell(t, row, sp->x));
            fputc(' ', gp);
        }
        for (size_t i = 0; i < sp->n_y; i++) {
            gp_cell(gp, cq_table_cell(t, row, sp->y[i]));
            fputc(i + 1 < sp->n_y ? ' ' : '\n', gp);
        }
    }
    fprintf(gp, "EOD\n");
    if (sp->style == HEATMAP) {
        fprintf(gp, "set xtics (");
        for (size_t i = 0; i < sp->n_y; i++)
            fprintf(gp, "%s\"%s\" %zu", i ? ", " : "", t->cols[sp->y[i]].name, i);
        fprintf(gp, ")\nset ytics 2\nset yrange [-0.5:23.5]\nset cblabel \"v85 [km/h]\"\n"
                    "set palette rgbformulae 33,13,10\n"
                    "plot $data matrix with image notitle\n");
        return;
    }
    size_t every = t->n_rows > 24 ? (t->n_rows + 23) / 24 : 1;
    fprintf(gp, "set xtics rotate by -45 nomirror\nset yrange [0:*]\n");
    if (sp->style == BARS)
        fprintf(gp, "set style fill solid 0.7 border -1\nset boxwidth 0.8\n");
    fprintf(gp, "plot ");
    for (size_t i = 0; i < sp->n_y; i++) {
        const struct cq_column *c = &t->cols[sp->y[i]];
        char title[96];
        snprintf(title, sizeof title, "%s%s%s%s", c->name, c->unit ? " [" : "",
                 c->unit ? c->unit : "", c->unit ? "]" : "");
        fprintf(gp,
                "%s$data using 0:%zu:xtic(int($0) %% %zu == 0 ? stringcolumn(1) : \"\") "
                "with %s title ",
                i ? ", " : "", i + 2, every, sp->style == BARS ? "boxes" : "linespoints lw 2");
        gp_string(gp, title);
    }
    fputc('\n', gp);
}

int cq_chart_write(const struct cq_report *r, const char *path, char *why, size_t why_len)
{
    const char *ext = strrchr(path, '.');
    const struct spec *sp = NULL;
    const struct cq_table *t;
    struct stat st;
    int svg;

    if (!ext || (strcmp(ext, ".png") != 0 && strcmp(ext, ".svg") != 0)) {
        snprintf(why, why_len, "a chart is a .png or .svg file, not '%s'", path);
        return GW_EINVAL;
    }
    svg = strcmp(ext, ".svg") == 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (strcmp(specs[i].kind, r->kind) == 0)
            sp = &specs[i];
    if (!sp || !(t = find_table(r, sp->table)) || t->n_rows == 0) {
        snprintf(why, why_len, "the %s report has nothing to chart", r->kind);
        return GW_EINVAL;
    }
    const char *prog = getenv("GNUPLOT") ? getenv("GNUPLOT") : "gnuplot";
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' >&2", prog); /* its messages to stderr, never into a report */
    if (strchr(prog, '\'')) {
        snprintf(why, why_len, "$GNUPLOT may not contain a quote");
        return GW_EINVAL;
    }
    remove(path);
    FILE *gp = popen(cmd, "w");
    if (!gp) {
        snprintf(why, why_len, "cannot run gnuplot (Debian package gnuplot-nox)");
        return GW_EIO;
    }
    script(gp, sp, t, path, svg);
    int status = pclose(gp);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, why_len, "gnuplot failed (exit %d)%s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 WIFEXITED(status) && WEXITSTATUS(status) == 127
                     ? ": is it installed (Debian package gnuplot-nox)?"
                     : "");
        return GW_EIO;
    }
    if (stat(path, &st) != 0 || st.st_size == 0) {
        snprintf(why, why_len, "gnuplot left no chart in %s", path);
        return GW_EIO;
    }
    return 0;
}
