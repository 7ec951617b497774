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

json_t *cq_table_json(const struct cq_table *t)
{
    json_t *obj = json_object(), *cols = json_array(), *rows = json_array();
    if (!obj || !cols || !rows)
        goto fail;
    json_object_set_new(obj, "title", json_string(t->title));
    for (size_t c = 0; c < t->n_cols; c++) {
        json_t *col = json_object();
        json_object_set_new(col, "name", json_string(t->cols[c].name));
        json_object_set_new(col, "unit",
                            t->cols[c].unit ? json_string(t->cols[c].unit) : json_null());
        json_array_append_new(cols, col);
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        json_t *row = json_object();
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = cq_table_cell(t, r, c);
            json_t *v;
            if (t->cols[c].type == CQ_COL_NUM)
                v = cell[0] ? json_real(strtod(cell, NULL)) : json_null();
            else
                v = json_string(cell);
            json_object_set_new(row, t->cols[c].name, v);
        }
        json_array_append_new(rows, row);
    }
    json_object_set_new(obj, "columns", cols);
    json_object_set_new(obj, "rows", rows);
    return obj;
fail:
    json_decref(obj);
    json_decref(cols);
    json_decref(rows);
    return NULL;
}
