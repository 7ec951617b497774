/*
 * fetch.c -- InfluxQL for the report's selection, and the rows it returns
 * (see fetch.h).
 */
#include "fetch.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define PART_MS (31 * 86400000LL) /* longest period read in one query */
#define QUERY_MAX 2048

/* Appends text to q (cap bytes). Returns 0 or GW_EFULL. */
static int append(char *q, size_t cap, const char *text)
{
    size_t n = strlen(q), len = strlen(text);
    if (n + len >= cap)
        return GW_EFULL;
    memcpy(q + n, text, len + 1);
    return 0;
}

/* Appends the WHERE conditions of sel to q (cap bytes). Returns 0 or GW_EFULL. */
static int where(char *q, size_t cap, const struct cq_select *sel)
{
    size_t n;
    if (append(q, cap, " AND \"site\" = ") || cq_store_quote(q, cap, sel->site))
        return GW_EFULL;
    if (sel->node_glob && strcmp(sel->node_glob, "*") != 0) {
        n = strlen(q);
        n += (size_t)snprintf(q + n, cap - n, " AND \"node\" =~ /^");
        for (const char *c = sel->node_glob; *c && n + 4 < cap; c++) {
            if (*c == '*') {
                q[n++] = '.';
                q[n++] = '*';
            } else if (*c == '?') {
                q[n++] = '.';
            } else {
                if (strchr("\\/.^$|()[]{}+", *c))
                    q[n++] = '\\';
                q[n++] = *c;
            }
        }
        if (n + 3 >= cap)
            return GW_EFULL;
        memcpy(q + n, "$/", 3);
    }
    if (sel->lane) {
        n = strlen(q);
        if ((size_t)snprintf(q + n, cap - n, " AND \"lane\" = '%u'", sel->lane) >= cap - n)
            return GW_EFULL;
    }
    return 0;
}

/* Receives one row: the series' tags and the row's values after the time column. */
typedef int (*row_fn)(void *ctx, json_t *tags, int64_t time_ms, json_t *row);

/* Where the rows go: fn(ctx, ...) for each; n counts them. */
struct rows_to {
    row_fn fn;
    void *ctx;
    uint64_t n;
};

/*
 * Runs "SELECT fields FROM <label> traffic WHERE quantity AND window AND
 * selection AND time" of r in parts, handing every row to *to.
 */
static int select_rows(const struct cq_read *r, const char *fields, const char *quantity,
                       struct rows_to *to)
{
    char q[QUERY_MAX], target[128];
    char *why = r->why;
    size_t why_len = r->why_len;
    int rc = 0;

    cq_store_from(r->store, r->label, "traffic", target, sizeof target);
    for (int64_t a = r->from_ms; a < r->to_ms && rc == 0; a += PART_MS) {
        int64_t b = a + PART_MS < r->to_ms ? a + PART_MS : r->to_ms;
        json_t *result = NULL, *series, *one;
        size_t i;

        snprintf(q, sizeof q, "SELECT %s FROM %s WHERE \"quantity\" = ", fields, target);
        if (cq_store_quote(q, sizeof q, quantity) || append(q, sizeof q, " AND \"window\" = ") ||
            cq_store_quote(q, sizeof q, r->label) || where(q, sizeof q, r->sel)) {
            snprintf(why, why_len, "the selection is too long");
            return GW_EINVAL;
        }
        size_t n = strlen(q);
        snprintf(q + n, sizeof q - n,
                 " AND time >= %" PRId64 "ms AND time < %" PRId64 "ms GROUP BY *", a, b);
        rc = cq_store_query(r->store, q, &result, why, why_len);
        if (rc)
            return rc;
        series = json_object_get(result, "series");
        json_array_foreach(series, i, one)
        {
            json_t *tags = json_object_get(one, "tags"), *values = json_object_get(one, "values");
            json_t *row;
            size_t j;
            json_array_foreach(values, j, row)
            {
                json_t *t = json_array_get(row, 0);
                if (!json_is_integer(t)) {
                    snprintf(why, why_len, "the store's answer has a row without a time");
                    rc = GW_EINVAL;
                    break;
                }
                rc = to->fn(to->ctx, tags, json_integer_value(t), row);
                if (rc)
                    break;
                to->n++;
            }
            if (rc)
                break;
        }
        json_decref(result);
    }
    return rc;
}

int cq_fetch_check_site(struct cq_store *s, const char *site, char *why, size_t why_len)
{
    json_t *result = NULL, *series, *one, *row;
    size_t i, j, n = 0, len = 0;
    char known[512] = "";
    int rc = cq_store_query(s, "SHOW TAG VALUES FROM \"traffic\" WITH KEY = \"site\"", &result, why,
                            why_len);
    if (rc)
        return rc;
    rc = GW_ENOTFOUND;
    series = json_object_get(result, "series");
    json_array_foreach(series, i, one)
    {
        json_array_foreach(json_object_get(one, "values"), j, row)
        {
            const char *v = json_string_value(json_array_get(row, 1));
            if (!v)
                continue;
            if (strcmp(v, site) == 0)
                rc = 0;
            if (len + strlen(v) + 8 < sizeof known)
                len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", n ? ", " : "", v);
            n++;
        }
    }
    if (rc)
        snprintf(why, why_len, "unknown site '%s'; the store has %s%s", site,
                 n ? "traffic for: " : "no traffic at all", known);
    json_decref(result);
    return rc;
}

struct volume_ctx {
    struct cq_grid *g;
    char *why;
    size_t why_len;
};

static int volume_row(void *ctx, json_t *tags, int64_t time_ms, json_t *row)
{
    struct volume_ctx *v = ctx;
    const char *node = json_string_value(json_object_get(tags, "node"));
    json_t *sum = json_array_get(row, 1);
    size_t ix;
    int rc;

    if (!node || !json_is_number(sum) || !isfinite(json_number_value(sum))) {
        snprintf(v->why, v->why_len, "the store has a volume window without node or sum");
        return GW_EINVAL;
    }
    rc = cq_grid_node(v->g, node, &ix);
    if (rc == 0)
        rc = cq_grid_add(v->g, ix, time_ms, json_number_value(sum));
    if (rc)
        snprintf(v->why, v->why_len, "a window of node %s at %" PRId64 " ms does not fit: %s", node,
                 time_ms, gw_strerror(rc));
    return rc;
}

int cq_fetch_volume(const struct cq_read *r, struct cq_grid *g)
{
    struct volume_ctx v = {g, r->why, r->why_len};
    struct rows_to to = {volume_row, &v, 0};
    int rc = select_rows(r, "\"sum\"", "traffic_volume", &to);
    if (rc == 0 && to.n == 0) {
        snprintf(r->why, r->why_len, "no traffic volume for this selection in the period");
        rc = GW_ENOTFOUND;
    }
    return rc;
}

struct speed_ctx {
    cq_speed_fn fn;
    void *ctx;
    char *why;
    size_t why_len;
};

static int speed_row(void *ctx, json_t *tags, int64_t time_ms, json_t *row)
{
    struct speed_ctx *sp = ctx;
    json_t *count = json_array_get(row, 1);
    const char *sketch = json_string_value(json_array_get(row, 5));
    const char *node = json_string_value(json_object_get(tags, "node"));
    struct cq_speed_window w = {0};
    for (size_t i = 2; i <= 4; i++)
        if (!json_is_number(json_array_get(row, i)))
            sketch = NULL;
    if (!node || !json_is_integer(count) || json_integer_value(count) < 0 || !sketch) {
        snprintf(sp->why, sp->why_len,
                 "the store has a speed window without count, sum, min, max or sketch (at "
                 "%" PRId64 " ms)",
                 time_ms);
        return GW_EINVAL;
    }
    w.count = (uint64_t)json_integer_value(count);
    w.sum = json_number_value(json_array_get(row, 2));
    w.min = json_number_value(json_array_get(row, 3));
    w.max = json_number_value(json_array_get(row, 4));
    w.sketch = sketch;
    w.sketch_len = strlen(sketch);
    int rc = sp->fn(sp->ctx, node, time_ms, &w);
    if (rc)
        snprintf(sp->why, sp->why_len, "a speed window at %" PRId64 " ms cannot be merged: %s",
                 time_ms, gw_strerror(rc));
    return rc;
}

int cq_fetch_speed(const struct cq_read *r, const char *quantity, cq_speed_fn fn, void *ctx)
{
    struct speed_ctx sp = {fn, ctx, r->why, r->why_len};
    struct rows_to to = {speed_row, &sp, 0};
    int rc = select_rows(r, "\"count\",\"sum\",\"min\",\"max\",\"sketch\"", quantity, &to);
    if (rc == 0 && to.n == 0) {
        snprintf(r->why, r->why_len,
                 "no %s windows with a summary for this selection in the period", quantity);
        rc = GW_ENOTFOUND;
    }
    return rc;
}

struct class_ctx {
    cq_class_fn fn;
    void *ctx;
    char *why;
    size_t why_len;
};

static int class_row(void *ctx, json_t *tags, int64_t time_ms, json_t *row)
{
    struct class_ctx *c = ctx;
    const char *vclass = json_string_value(json_object_get(tags, "vehicle_class"));
    json_t *count = json_array_get(row, 1);
    if (!json_is_number(count)) {
        snprintf(c->why, c->why_len, "the store has a class count without count");
        return GW_EINVAL;
    }
    /* A vehicle the detector could not classify has no vehicle_class tag. */
    return c->fn(c->ctx, vclass ? vclass : "unclassified", time_ms, json_number_value(count));
}

int cq_fetch_classes(const struct cq_read *r, cq_class_fn fn, void *ctx)
{
    struct class_ctx c = {fn, ctx, r->why, r->why_len};
    struct rows_to to = {class_row, &c, 0};
    int rc = select_rows(r, "\"count\"", "vehicle_count", &to);
    if (rc == 0 && to.n == 0) {
        snprintf(r->why, r->why_len, "no vehicle class counts for this selection in the period");
        rc = GW_ENOTFOUND;
    }
    return rc;
}
