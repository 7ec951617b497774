/*
 * live.c -- newest base-window aggregate per series, grouped by site.
 *
 * Small by construction: one entry per series, overwritten in place, so its
 * size follows the fleet, not the traffic. Site figures are derived at read
 * time: flow sums the volume series of the site's newest window, speeds and
 * occupancy are count-weighted means over its series.
 */
#include "live.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include <uthash.h>

#include "frame.pb-c.h"

struct live_series {
    char key[200]; /* site \x1f node \x1f sensor \x1f lane \x1f quantity \x1f class */
    char site[65], node[65], sensor[65];
    uint32_t lane, quantity, vehicle_class;
    int64_t start_ms;
    uint32_t count;
    double mean, p85, flow_vph;
    int has_p85;
    UT_hash_handle hh;
};

struct gw_live {
    struct live_series *series;
};

struct gw_live *gw_live_new(void)
{
    return gw_calloc(1, sizeof(struct gw_live));
}

void gw_live_free(struct gw_live *l)
{
    struct live_series *s, *tmp;
    if (!l)
        return;
    HASH_ITER(hh, l->series, s, tmp)
    {
        HASH_DEL(l->series, s);
        gw_free(s);
    }
    gw_free(l);
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
    HASH_FIND_STR(l->series, key, s);
    if (!s) {
        s = gw_calloc(1, sizeof *s);
        if (!s)
            return;
        memcpy(s->key, key, (size_t)n + 1);
        snprintf(s->site, sizeof s->site, "%s", k->site);
        snprintf(s->node, sizeof s->node, "%s", k->node);
        snprintf(s->sensor, sizeof s->sensor, "%s", k->sensor);
        s->lane = k->lane;
        s->quantity = k->quantity;
        s->vehicle_class = k->vehicle_class;
        HASH_ADD_STR(l->series, key, s);
        if (!s->hh.tbl) { /* uthash could not allocate its table */
            gw_free(s);
            return;
        }
    }
    if (agg->start_ms < s->start_ms)
        return; /* a late rewrite of an older window: the view shows the newest */
    s->start_ms = agg->start_ms;
    s->count = agg->count;
    s->mean = agg->mean;
    s->flow_vph = agg->flow_vph;
    s->has_p85 = agg->has_quantiles;
    s->p85 = agg->p85;
}

static int cmp_site(const void *a, const void *b)
{
    const struct live_series *x = *(const struct live_series *const *)a;
    const struct live_series *y = *(const struct live_series *const *)b;
    int c = strcmp(x->site, y->site);
    return c ? c : strcmp(x->key, y->key);
}

struct site_sum {
    int64_t start_ms;
    double flow, speed_w, speed_n, p85_w, occ_w, occ_n;
    unsigned nodes;
    uint64_t readings;
};

static void write_site(FILE *out, const char *site, const struct site_sum *t, int first)
{
    fprintf(out,
            "%s{\"site\":\"%s\",\"nodes\":%u,\"window_start_ms\":%" PRId64
            ",\"flow_vph\":%.1f,\"speed_kmh\":%.1f,\"speed_p85_kmh\":%.1f,"
            "\"occupancy_pct\":%.1f,\"readings\":%" PRIu64 "}",
            first ? "" : ",", site, t->nodes, t->start_ms, t->flow,
            t->speed_n ? t->speed_w / t->speed_n : 0.0, t->speed_n ? t->p85_w / t->speed_n : 0.0,
            t->occ_n ? t->occ_w / t->occ_n : 0.0, t->readings);
}

void gw_live_write_json(const struct gw_live *l, uint64_t now_ms, FILE *out)
{
    size_t n = HASH_COUNT(l->series), i = 0;
    struct live_series **all = n ? malloc(n * sizeof *all) : NULL;
    struct live_series *s, *tmp;
    int first = 1;

    fprintf(out, "{\"now_ms\":%" PRIu64 ",\"sites\":[", now_ms);
    if (n && !all) {
        fputs("]}\n", out);
        return;
    }
    HASH_ITER(hh, l->series, s, tmp)
    all[i++] = s;
    if (n)
        qsort(all, n, sizeof *all, cmp_site);
    for (i = 0; i < n;) {
        struct site_sum t = {0};
        const char *site = all[i]->site, *last_node = "";
        size_t j;
        for (j = i; j < n && strcmp(all[j]->site, site) == 0; j++)
            if (all[j]->start_ms > t.start_ms)
                t.start_ms = all[j]->start_ms;
        for (size_t k = i; k < j; k++) {
            const struct live_series *x = all[k];
            if (strcmp(x->node, last_node) != 0) {
                t.nodes++;
                last_node = x->node;
            }
            if (x->start_ms != t.start_ms)
                continue; /* only the site's newest window counts */
            t.readings += x->count;
            if (x->quantity == CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME)
                t.flow += x->flow_vph;
            if (x->quantity == CITYGATE__V1__QUANTITY__SPEED) {
                t.speed_w += x->mean * x->count;
                t.p85_w += (x->has_p85 ? x->p85 : x->mean) * x->count;
                t.speed_n += x->count;
            }
            if (x->quantity == CITYGATE__V1__QUANTITY__OCCUPANCY) {
                t.occ_w += x->mean * x->count;
                t.occ_n += x->count;
            }
        }
        write_site(out, site, &t, first);
        first = 0;
        i = j;
    }
    fputs("]}\n", out);
    free(all);
}
