/*
 * table.h -- a report's tables and their three text forms: aligned columns
 * for the terminal, CSV (RFC 4180, units in the header) and JSON.
 *
 * Cells are kept as text, formatted once by the report, so the three forms
 * show the same digits; a column's type says whether JSON writes the text
 * as a number (an empty numeric cell is null: no figure, never a zero).
 *
 * Thread rules: plain data, one thread at a time.
 */
#ifndef CITYQUERY_TABLE_H
#define CITYQUERY_TABLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"

enum cq_col_type { CQ_COL_TEXT, CQ_COL_NUM };

struct cq_column {
    const char *name; /* snake_case, as in CSV headers and JSON keys */
    const char *unit; /* "veh", "veh/h", "km/h", "%", or NULL */
    enum cq_col_type type;
};

struct cq_table {
    const char *name;  /* "days", "gaps": names the table in JSON and for --table */
    const char *title; /* a line for the terminal and the HTML page */
    const struct cq_column *cols;
    size_t n_cols;
    char **cells; /* n_rows * n_cols, each malloc'ed ("" when empty) */
    size_t n_rows, cap_rows;
};

/* Starts an empty table; name, title and cols are borrowed (static). */
void cq_table_init(struct cq_table *t, const char *name, const char *title,
                   const struct cq_column *cols, size_t n_cols);

/* Frees the cells. */
void cq_table_fini(struct cq_table *t);

/* Appends a row of empty cells. Returns 0 or GW_ENOMEM. */
int cq_table_add_row(struct cq_table *t);

/* Sets column col of the last row from a printf format. Returns 0 or GW_ENOMEM. */
int cq_table_set(struct cq_table *t, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The cell (row, col); never NULL. */
const char *cq_table_cell(const struct cq_table *t, size_t row, size_t col);

/* Writes t as aligned columns, numbers right-aligned, headed by its title. Returns 0 or GW_EIO. */
int cq_table_print(FILE *out, const struct cq_table *t);

/* Writes t as RFC 4180 CSV (CRLF line ends), header "name [unit]". Returns 0 or GW_EIO. */
int cq_table_csv(FILE *out, const struct cq_table *t);

/* Writes t to j as {"title","columns":[{"name","unit"}],"rows":[{name: value}]}. */
void cq_table_json(struct cli_json *j, const struct cq_table *t);

#endif
