/*
 * live.c -- newest base-window aggregate per series, merged per site.
 *
 * Small by construction: one entry per series and one per node, overwritten
 * in place, so its size follows the fleet, not the traffic. A series keeps
 * the traffic data of its newest window (struct gw_traffic, with the vehicle
 * speed sketch); site figures are merged at read time with
 * gw_traffic_merge(), the rule every traffic figure follows, so a site's v85
 * comes from the merged sketches of its lanes, never from an average of
 * percentiles. A node that is dead, or that missed two windows that should
 * have been emitted by now, is stale: its series stay out of its site's
 * figures, and the view says since when.
 */
#include "live.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include <uthash.h>

#include "err.h"
#include "numtext.h"
#include "registry.h"
#include "traffic.h"

struct live_node {
    char key[140]; /* site \x1f node */
    char site[65], node[65];
    int64_t newest_start_ms; /* of any of its series; INT64_MIN before the first */
    int64_t width_ms;
    int64_t dead_ms;            /* its death message, 0 while alive */
    struct live_series *series; /* its series, through next_in_node */
    UT_hash_handle hh;
};

struct live_series {
    char key[200]; /* site \x1f node \x1f sensor \x1f lane \x1f quantity \x1f class */
    struct live_node *node;
    struct live_series *next_in_node;
    uint32_t lane;
    int64_t start_ms, width_ms;
    uint32_t count;
    struct gw_traffic traffic; /* of its newest window */
    UT_hash_handle hh;
};

struct gw_live {
    int64_t grace_ms;
    struct live_series *series;
    struct live_node *nodes;
};

struct gw_live *gw_live_new(int64_t grace_ms)
{
    struct gw_live *l = gw_calloc(1, sizeof(struct gw_live));
    if (l)
        l->grace_ms = grace_ms;
    return l;
}

void gw_live_free(struct gw_live *l)
{
    struct live_series *s, *tmp;
    struct live_node *n, *ntmp;
    if (!l)
        return;
    HASH_ITER(hh, l->series, s, tmp)
    {
        HASH_DEL(l->series, s);
        gw_traffic_fini(&s->traffic);
        gw_free(s);
    }
    HASH_ITER(hh, l->nodes, n, ntmp)
    {
        HASH_DEL(l->nodes, n);
        gw_free(n);
    }
    gw_free(l);
}

/* The entry of (site, node), created when missing; NULL when out of memory or ids too long. */
static struct live_node *node_get(struct gw_live *l, const char *site, const char *node)
{
    char key[140];
    struct live_node *n;
    int len = snprintf(key, sizeof key, "%s\x1f%s", site, node);
    if (len < 0 || (size_t)len >= sizeof key || strlen(site) > 64 || strlen(node) > 64)
        return NULL;
    HASH_FIND_STR(l->nodes, key, n);
    if (n)
        return n;
    if (!(n = gw_calloc(1, sizeof *n)))
        return NULL;
    memcpy(n->key, key, (size_t)len + 1);
    snprintf(n->site, sizeof n->site, "%s", site);
    snprintf(n->node, sizeof n->node, "%s", node);
    n->newest_start_ms = INT64_MIN;
    HASH_ADD_STR(l->nodes, key, n);
    if (!n->hh.tbl) { /* uthash could not allocate its table */
        gw_free(n);
        return NULL;
    }
    return n;
}

void gw_live_update(struct gw_live *l, const struct gw_aggregate *agg)
{
    char key[200];
    struct live_series *s;
    const struct gw_series_key *k = &agg->key;
    int n = snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%" PRIu32 "\x1f%" PRIu32 "\x1f%" PRIu32,
                     k->site, k->node, k->sensor, k->lane, k->quantity, k->vehicle_class);
    if (n < 0 || (size_t)n >= sizeof key)
        return;
    struct live_node *node = node_get(l, k->site, k->node);
    if (!node)
        return;
    HASH_FIND_STR(l->series, key, s);
    if (!s) {
        s = gw_calloc(1, sizeof *s);
        if (!s)
            return;
        memcpy(s->key, key, (size_t)n + 1);
        s->node = node;
        s->lane = k->lane;
        s->start_ms = INT64_MIN;
        gw_traffic_init(&s->traffic);
        HASH_ADD_STR(l->series, key, s);
        if (!s->hh.tbl) {
            gw_free(s);
            return;
        }
        s->next_in_node = node->series;
        node->series = s;
    }
    if (agg->start_ms < s->start_ms)
        return; /* a late rewrite of an older window: the view shows the newest */
    s->start_ms = agg->start_ms;
    s->width_ms = agg->width_ms;
    s->count = agg->count;
    gw_traffic_reset(&s->traffic);
    if (gw_traffic_add(&s->traffic, agg) != 0)
        gw_traffic_reset(&s->traffic); /* out of memory: the series shows no traffic data */
    if (agg->start_ms > node->newest_start_ms) {
        node->newest_start_ms = agg->start_ms;
        node->width_ms = agg->width_ms;
    }
    if (node->dead_ms && agg->start_ms >= node->dead_ms)
        node->dead_ms = 0; /* data measured after its death: it is back */
}

void gw_live_node_status(struct gw_live *l, const char *site, const char *node, int dead,
                         int64_t now_ms)
{
    struct live_node *n = node_get(l, site, node);
    if (n)
        n->dead_ms = dead ? (now_ms > 0 ? now_ms : 1) : 0;
}

/* Whether n is stale at now_ms, and since when (*since_ms). */
static int node_stale(const struct gw_live *l, const struct live_node *n, int64_t now_ms,
                      int64_t *since_ms)
{
    if (n->dead_ms) {
        *since_ms = n->dead_ms;
        return 1;
    }
    if (n->newest_start_ms == INT64_MIN)
        return 0; /* known from a birth message only: nothing expected yet */
    /* The two windows after its newest are both overdue once the second one's grace has passed. */
    int64_t end_ms = n->newest_start_ms + n->width_ms;
    if (now_ms >= end_ms + 2 * n->width_ms + l->grace_ms) {
        *since_ms = end_ms;
        return 1;
    }
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    const struct live_series *x = *(const struct live_series *const *)a;
    const struct live_series *y = *(const struct live_series *const *)b;
    return strcmp(x->key, y->key);
}

static int cmp_node(const void *a, const void *b)
{
    const struct live_node *x = *(const struct live_node *const *)a;
    const struct live_node *y = *(const struct live_node *const *)b;
    return strcmp(x->key, y->key);
}

/* ,"key":value with the shortest text that reads back to v, or null when absent. */
static void put_number(FILE *out, const char *key, int present, double v)
{
    char text[GW_NUMTEXT_MAX];
    if (!present) {
        fprintf(out, ",\"%s\":null", key);
        return;
    }
    size_t n = gw_numtext_double(v, text);
    fprintf(out, ",\"%s\":%.*s", key, (int)n, text);
}

static void put_time(FILE *out, const char *key, int present, int64_t ms)
{
    if (present)
        fprintf(out, ",\"%s\":%" PRId64, key, ms);
    else
        fprintf(out, ",\"%s\":null", key);
}

/* The figures, each ,"name":value or null without data. */
static void write_figures(FILE *out, const struct gw_traffic_figures *f)
{
    put_number(out, "flow_vph", f->has & GW_TF_FLOW, f->flow_vph);
    put_number(out, "vehicles", f->has & GW_TF_VEHICLES, (double)f->vehicles);
    put_number(out, "speed_mean_kmh", f->has & GW_TF_SPEED, f->speed_mean_kmh);
    put_number(out, "v15_kmh", f->has & GW_TF_SPEED, f->v15_kmh);
    put_number(out, "v50_kmh", f->has & GW_TF_SPEED, f->v50_kmh);
    put_number(out, "v85_kmh", f->has & GW_TF_SPEED, f->v85_kmh);
    put_number(out, "v95_kmh", f->has & GW_TF_SPEED, f->v95_kmh);
    put_number(out, "length_mean_m", f->has & GW_TF_LENGTH, f->length_mean_m);
    put_number(out, "occupancy_pct", f->has & GW_TF_OCCUPANCY, f->occupancy_pct);
    put_number(out, "speed_interval_mean_kmh", f->has & GW_TF_INTERVAL_SPEED,
               f->speed_interval_mean_kmh);
    put_number(out, "headway_mean_s", f->has & GW_TF_HEADWAY, f->headway_mean_s);
    put_number(out, "headway_short_share", f->has & GW_TF_HEADWAY_SHORT, f->headway_short_share);
}

/* One site's part of the view: its nodes and its series, each in their sorted order. */
struct site_part {
    struct live_node *const *nodes;
    size_t n_nodes;
    struct live_series *const *series;
    size_t n_series;
};

/* The figures of one site, from its part sp. */
static void write_site(const struct gw_live *l, const struct gw_registry *reg, FILE *out,
                       int64_t now_ms, const struct site_part *sp)
{
    struct live_node *const *nodes = sp->nodes;
    struct live_series *const *series = sp->series;
    size_t n_nodes = sp->n_nodes, n_series = sp->n_series;
    struct gw_traffic t;
    struct gw_traffic_figures f;
    int64_t newest = INT64_MIN, width = 0, since = 0, site_since = INT64_MIN;
    unsigned fresh = 0, in_window = 0;
    uint64_t readings = 0;

    for (size_t i = 0; i < n_nodes; i++)
        if (!node_stale(l, nodes[i], now_ms, &since) && nodes[i]->newest_start_ms > newest) {
            newest = nodes[i]->newest_start_ms;
            width = nodes[i]->width_ms;
        }
    gw_traffic_init(&t);
    const struct live_node *last = NULL;
    for (size_t i = 0; i < n_series; i++) {
        const struct live_series *s = series[i];
        if (s->start_ms != newest || node_stale(l, s->node, now_ms, &since))
            continue;
        if (s->node != last) {
            in_window++;
            last = s->node;
        }
        readings += s->count;
        gw_traffic_merge(&t, &s->traffic); /* out of memory: the lane is left out, and counted */
    }
    gw_traffic_figures(&t, width > 0 ? width : 1, &f);
    for (size_t i = 0; i < n_nodes; i++) {
        if (!node_stale(l, nodes[i], now_ms, &since))
            fresh++;
        else if (since > site_since)
            site_since = since;
    }
    fprintf(out, "{\"site\":\"%s\"", nodes[0]->site);
    put_time(out, "window_start_ms", newest != INT64_MIN, newest);
    put_time(out, "window_ms", width > 0, width);
    fprintf(out, ",\"nodes\":%zu,\"nodes_fresh\":%u,\"nodes_in_window\":%u,\"windows\":%" PRIu32,
            n_nodes, fresh, in_window, f.windows);
    fprintf(out, ",\"stale\":%s", fresh == 0 ? "true" : "false");
    put_time(out, "stale_since_ms", fresh == 0 && site_since != INT64_MIN, site_since);
    write_figures(out, &f);
    put_number(out, "free_flow_kmh", 1, gw_registry_free_flow_kmh(reg, nodes[0]->site));
    fprintf(out, ",\"readings\":%" PRIu64 ",\"node_list\":[", readings);
    for (size_t i = 0; i < n_nodes; i++) {
        const struct live_node *n = nodes[i];
        int stale = node_stale(l, n, now_ms, &since);
        fprintf(out, "%s{\"node\":\"%s\"", i ? "," : "", n->node);
        put_time(out, "window_start_ms", n->newest_start_ms != INT64_MIN, n->newest_start_ms);
        fprintf(out, ",\"stale\":%s,\"dead\":%s", stale ? "true" : "false",
                n->dead_ms ? "true" : "false");
        put_time(out, "stale_since_ms", stale, since);
        fputc('}', out);
    }
    fputs("]}", out);
    gw_traffic_fini(&t);
}

void gw_live_write_json(const struct gw_live *l, const struct gw_registry *reg, int64_t now_ms,
                        FILE *out)
{
    size_t ns = HASH_COUNT(l->series), nn = HASH_COUNT(l->nodes), i = 0, j = 0;
    struct live_series **series = ns ? malloc(ns * sizeof *series) : NULL;
    struct live_node **nodes = nn ? malloc(nn * sizeof *nodes) : NULL;
    struct live_series *s, *tmp;
    struct live_node *n, *ntmp;

    fprintf(out, "{\"now_ms\":%" PRId64 ",\"sites\":[", now_ms);
    if ((ns && !series) || (nn && !nodes))
        goto out;
    HASH_ITER(hh, l->series, s, tmp)
    series[i++] = s;
    HASH_ITER(hh, l->nodes, n, ntmp)
    nodes[j++] = n;
    if (ns)
        qsort(series, ns, sizeof *series, cmp_series);
    if (nn)
        qsort(nodes, nn, sizeof *nodes, cmp_node);
    /* Keys start with the site, so both lists are grouped by site in the same order. */
    for (i = 0, j = 0; i < nn;) {
        const char *site = nodes[i]->site;
        size_t i_end = i, j_end;
        while (i_end < nn && strcmp(nodes[i_end]->site, site) == 0)
            i_end++;
        while (j < ns && strcmp(series[j]->node->site, site) < 0)
            j++;
        for (j_end = j; j_end < ns && strcmp(series[j_end]->node->site, site) == 0;)
            j_end++;
        if (i > 0)
            fputc(',', out);
        write_site(l, reg, out, now_ms,
                   &(struct site_part){nodes + i, i_end - i, series + j, j_end - j});
        i = i_end;
        j = j_end;
    }
out:
    fputs("]}\n", out);
    free(series);
    free(nodes);
}

void gw_live_write_window(FILE *out, const struct gw_live_window *w)
{
    const struct gw_traffic *t = w->traffic;
    struct gw_traffic_figures f;
    gw_traffic_figures(t, w->width_ms > 0 ? w->width_ms : 1, &f);
    fprintf(out,
            "{\"site\":\"%s\",\"node\":\"%s\",\"lane\":%" PRIu32 ",\"start_ms\":%" PRId64
            ",\"window_ms\":%" PRId64 ",\"windows\":%" PRIu32 ",\"readings\":%" PRIu64,
            w->at.site, w->at.node, w->at.lane, w->at.start_ms, w->width_ms, f.windows,
            w->readings);
    write_figures(out, &f);
    fputs(",\"by_class\":{", out);
    for (size_t c = 1, first = 1; c < sizeof t->by_class / sizeof *t->by_class; c++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&citygate__v1__vehicle_class__descriptor, (int)c);
        if (!v || t->by_class[c] == 0)
            continue;
        fprintf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", v->name, t->by_class[c]);
        first = 0;
    }
    fputs("}}", out);
}

int gw_live_write_lane(const struct gw_live *l, const struct gw_live_lane *at, FILE *out)
{
    struct gw_traffic t;
    struct live_node *n;
    char key[140];
    struct gw_live_window w = {*at, 0, 0, &t};

    snprintf(key, sizeof key, "%s\x1f%s", at->site, at->node);
    HASH_FIND_STR(l->nodes, key, n);
    if (!n)
        return GW_ENOTFOUND;
    gw_traffic_init(&t);
    for (const struct live_series *s = n->series; s; s = s->next_in_node) {
        if (s->lane != at->lane || s->start_ms != at->start_ms)
            continue;
        w.width_ms = s->width_ms;
        w.readings += s->count;
        gw_traffic_merge(&t, &s->traffic);
    }
    int rc = t.windows > 0 ? 0 : GW_ENOTFOUND;
    if (rc == 0)
        gw_live_write_window(out, &w);
    gw_traffic_fini(&t);
    return rc;
}
