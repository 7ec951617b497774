/*
 * table.c -- report tables as terminal text, CSV and JSON (see table.h).
 *
 * CSV follows RFC 4180: CRLF after every record, fields with a comma,
 * quote, CR or LF quoted, quotes doubled. Units go into the header as
 * "flow [veh/h]", the form spreadsheet users read at a glance.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void cq_table_init(struct cq_table *t, const char *name, const char *title,
                   const struct cq_column *cols, size_t n_cols)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->title = title;
    t->cols = cols;
    t->n_cols = n_cols;
}

void cq_table_fini(struct cq_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n_rows = t->cap_rows = 0;
}

int cq_table_add_row(struct cq_table *t)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 32;
        char **cells = realloc(t->cells, cap * t->n_cols * sizeof *cells);
        if (!cells)
            return GW_ENOMEM;
        t->cells = cells;
        t->cap_rows = cap;
    }
    for (size_t c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * t->n_cols + c] = NULL;
    t->n_rows++;
    return 0;
}

int cq_table_set(struct cq_table *t, size_t col, const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(text = malloc((size_t)n + 1)))
        return GW_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    char **cell = &t->cells[(t->n_rows - 1) * t->n_cols + col];
    free(*cell);
    *cell = text;
    return 0;
}

const char *cq_table_cell(const struct cq_table *t, size_t row, size_t col)
{
    const char *c = t->cells[row * t->n_cols + col];
    return c ? c : "";
}

/* Header text of column c: "name [unit]" or "name". */
static void header(const struct cq_column *c, char *buf, size_t cap)
{
    if (c->unit)
        snprintf(buf, cap, "%s [%s]", c->name, c->unit);
    else
        snprintf(buf, cap, "%s", c->name);
}

int cq_table_print(FILE *out, const struct cq_table *t)
{
    size_t width[32] = {0};
    char head[96];
    if (t->n_cols > 32)
        return GW_EINVAL;
    for (size_t c = 0; c < t->n_cols; c++) {
        header(&t->cols[c], head, sizeof head);
        width[c] = strlen(head);
        for (size_t r = 0; r < t->n_rows; r++)
            if (strlen(cq_table_cell(t, r, c)) > width[c])
                width[c] = strlen(cq_table_cell(t, r, c));
    }
    fprintf(out, "%s\n", t->title);
    for (size_t c = 0; c < t->n_cols; c++) {
        header(&t->cols[c], head, sizeof head);
        fprintf(out, "%s%*s", c ? "  " : "",
                t->cols[c].type == CQ_COL_NUM ? (int)width[c] : -(int)width[c], head);
    }
    fputc('\n', out);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++)
            fprintf(out, "%s%*s", c ? "  " : "",
                    t->cols[c].type == CQ_COL_NUM ? (int)width[c] : -(int)width[c],
                    cq_table_cell(t, r, c));
        fputc('\n', out);
    }
    return ferror(out) ? GW_EIO : 0;
}

static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int cq_table_csv(FILE *out, const struct cq_table *t)
{
    char head[96];
    for (size_t c = 0; c < t->n_cols; c++) {
        header(&t->cols[c], head, sizeof head);
        if (c)
            fputc(',', out);
        csv_field(out, head);
    }
    fputs("\r\n", out);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            if (c)
                fputc(',', out);
            csv_field(out, cq_table_cell(t, r, c));
        }
        fputs("\r\n", out);
    }
    return ferror(out) ? GW_EIO : 0;
}

void cq_table_json(struct cli_json *j, const struct cq_table *t)
{
    cli_json_begin_object(j);
    cli_json_key(j, "title");
    cli_json_str(j, t->title);
    cli_json_key(j, "columns");
    cli_json_begin_array(j);
    for (size_t c = 0; c < t->n_cols; c++) {
        cli_json_begin_object(j);
        cli_json_key(j, "name");
        cli_json_str(j, t->cols[c].name);
        cli_json_key(j, "unit");
        if (t->cols[c].unit)
            cli_json_str(j, t->cols[c].unit);
        else
            cli_json_null(j);
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
    cli_json_key(j, "rows");
    cli_json_begin_array(j);
    for (size_t r = 0; r < t->n_rows; r++) {
        cli_json_begin_object(j);
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = cq_table_cell(t, r, c);
            cli_json_key(j, t->cols[c].name);
            if (t->cols[c].type != CQ_COL_NUM)
                cli_json_str(j, cell);
            else if (cell[0])
                cli_json_double(j, strtod(cell, NULL));
            else
                cli_json_null(j);
        }
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
    cli_json_end_object(j);
}
