/*
 * docs_quantities.c -- docs/data-model.md's quantity tables against the
 * quantity table of the code (gateway/core/quantity.h).
 *
 * Usage: docs_quantities DATA_MODEL_MD. Reads the table whose header starts
 * "| quantity | unit | symbol |" (wire quantities) and the one starting
 * "| series | unit | symbol |" (the gateway's vehicle series), and checks
 * every row cell by cell, all but the last column (notes, prose only),
 * against the code's row of the same name: unit, unit symbol, physical range
 * (numbers as the docs write them: "10 000", "−60", "10¹²"), store name,
 * family, quantiles, merge across lanes and label. Every code row must be in
 * the docs once and every docs row in the code. Prints one line per
 * difference and exits 1 when there is any, 0 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.pb-c.h"
#include "quantity.h"

#define MAX_CELLS 16

static int n_bad;

static void bad(int line, const char *what, const char *name, const char *docs, const char *code)
{
    printf("docs/data-model.md:%d: %s of %s: docs say \"%s\", the code \"%s\"\n", line, what, name,
           docs, code);
    n_bad++;
}

/* Splits a "| a | b |" row into trimmed cells (in place). Returns the number of cells. */
static int split_row(char *row, char **cells)
{
    int n = 0;
    char *p = strchr(row, '|');
    while (p && n < MAX_CELLS) {
        char *start = p + 1, *end = strchr(start, '|');
        if (!end)
            break;
        *end = '\0';
        while (*start == ' ')
            start++;
        char *e = end;
        while (e > start && e[-1] == ' ')
            *--e = '\0';
        cells[n++] = start;
        p = end;
    }
    return n;
}

/* A number as the docs write it ("10 000", "−60", "10¹²", "4 294 967.295"); 0 when it is one. */
static int docs_number(const char *s, double *out)
{
    static const char *const sup[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
    char buf[64];
    size_t n = 0;
    int exp = -1;
    while (*s && n + 8 < sizeof buf) {
        if (*s == ' ') {
            s++;
        } else if (strncmp(s, "\u00a0", 2) == 0 || strncmp(s, "\u202f", 3) == 0) {
            s += (unsigned char)*s == 0xc2 ? 2 : 3;
        } else if (strncmp(s, "−", 3) == 0) {
            buf[n++] = '-';
            s += 3;
        } else {
            int d = -1;
            for (int k = 0; k < 10 && d < 0; k++)
                if (strncmp(s, sup[k], strlen(sup[k])) == 0)
                    d = k;
            if (d < 0) {
                buf[n++] = *s++;
                continue;
            }
            s += strlen(sup[d]);
            exp = (exp < 0 ? 0 : exp * 10) + d;
        }
    }
    buf[n] = '\0';
    if (exp >= 0) { /* "10¹²": the base is 10 */
        if (strcmp(buf, "10") != 0)
            return -1;
        snprintf(buf, sizeof buf, "1e%d", exp);
    }
    char *end;
    *out = strtod(buf, &end);
    return n > 0 && *end == '\0' ? 0 : -1;
}

/* Compares a docs range "MIN … MAX" with the row's. */
static void check_range(int line, const char *name, const char *cell, const struct gw_quantity *qi)
{
    char text[128], code[128];
    double min, max;
    snprintf(text, sizeof text, "%s", cell);
    snprintf(code, sizeof code, "%.17g … %.17g", qi->min, qi->max);
    char *dots = strstr(text, "…");
    if (!dots) {
        bad(line, "physical range", name, cell, code);
        return;
    }
    *dots = '\0';
    if (docs_number(text, &min) != 0 || docs_number(dots + strlen("…"), &max) != 0 ||
        min != qi->min || max != qi->max)
        bad(line, "physical range", name, cell, code);
}

static void check_cell(int line, const char *what, const char *name, const char *docs,
                       const char *code)
{
    if (strcmp(docs, code) != 0)
        bad(line, what, name, docs, code);
}

/* The docs' word for a unit: its name in frame.proto, or "—" for none. */
static const char *unit_name(int unit)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&citygate__v1__unit__descriptor, unit);
    return unit && v ? v->name : "—";
}

/*
 * Checks one docs row: cells (n of them) from column first on are unit,
 * symbol, range, [store name,] family, quantiles, merge, label, notes.
 */
static void check_row(int line, char **cells, int n, int series, int *seen)
{
    const struct gw_quantity *qi = NULL;
    char store[80];
    size_t r;
    int want = series ? 9 : 10;
    if (n != want) {
        printf("docs/data-model.md:%d: %d columns, the table has %d\n", line, n, want);
        n_bad++;
        return;
    }
    for (r = 1; r < gw_quantity_n_rows && !qi; r++) {
        const struct gw_quantity *q = &gw_quantity_rows[r];
        snprintf(store, sizeof store, "`%s`", q->store);
        if (series ? q->name == NULL && strcmp(cells[0], store) == 0
                   : q->name && strcmp(cells[0], q->name) == 0)
            qi = q;
    }
    if (!qi) {
        printf("docs/data-model.md:%d: %s is not in the code's quantity table\n", line, cells[0]);
        n_bad++;
        return;
    }
    r = (size_t)(qi - gw_quantity_rows);
    if (seen[r]++) {
        printf("docs/data-model.md:%d: %s is in the docs twice\n", line, cells[0]);
        n_bad++;
    }
    const char *symbol = gw_unit_symbol(qi->unit);
    int c = 1;
    check_cell(line, "unit", cells[0], cells[c++], unit_name(qi->unit));
    check_cell(line, "symbol", cells[0], cells[c++], symbol[0] ? symbol : "—");
    check_range(line, cells[0], cells[c++], qi);
    if (!series) {
        snprintf(store, sizeof store, "`%s`", qi->store);
        check_cell(line, "store name", cells[0], cells[c++], store);
    }
    check_cell(line, "family", cells[0], cells[c++], qi->family);
    check_cell(line, "quantiles", cells[0], cells[c++], qi->quantiles ? "yes" : "no");
    check_cell(line, "merge across lanes", cells[0], cells[c++], gw_merge_name(qi->merge));
    check_cell(line, "label", cells[0], cells[c++], qi->label);
}

int main(int argc, char **argv)
{
    static const char wire_header[] = "| quantity | unit | symbol |";
    static const char series_header[] = "| series | unit | symbol |";
    char row[1024];
    int seen[64] = {0}, mode = 0, line = 0;
    if (argc != 2 || gw_quantity_n_rows > 64) {
        fprintf(stderr, "usage: docs_quantities DATA_MODEL_MD\n");
        return 64;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 66;
    }
    while (fgets(row, sizeof row, f)) {
        char *cells[MAX_CELLS];
        line++;
        row[strcspn(row, "\n")] = '\0';
        if (strncmp(row, wire_header, strlen(wire_header)) == 0) {
            mode = 1;
            continue;
        }
        if (strncmp(row, series_header, strlen(series_header)) == 0) {
            mode = 2;
            continue;
        }
        if (row[0] != '|') {
            mode = 0;
            continue;
        }
        if (mode == 0 || strncmp(row, "|---", 4) == 0)
            continue;
        check_row(line, cells, split_row(row, cells), mode == 2, seen);
    }
    fclose(f);
    for (size_t r = 1; r < gw_quantity_n_rows; r++) {
        if (seen[r])
            continue;
        const struct gw_quantity *qi = &gw_quantity_rows[r];
        printf("docs/data-model.md: no row for %s (%s)\n", qi->name ? qi->name : qi->store,
               qi->name ? "the quantities table" : "the vehicle series table");
        n_bad++;
    }
    return n_bad ? 1 : 0;
}
