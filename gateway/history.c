/*
 * history.c -- the last hour of lane windows as the JSON the page reads.
 *
 * A lane is (site, node, lane number). Aggregates arrive one series at a
 * time while the clock closes windows, so a lane's window is only complete
 * once the tick is done: touch() merges each aggregate into its lane
 * window's pending figures, flush() renders them afterwards and keeps the
 * text. A node's due windows close in the same tick, several at once after
 * a backlog, so the pending figures hold the whole lane. A correction
 * brings only its corrected series again: it is rendered from the live
 * view, which holds every series' newest window with the correction in it,
 * and a correction of an older window than the newest is not sent. Each lane keeps its
 * windows sorted by start in a small array; the snapshot copies the texts.
 */
#include "history.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h" /* before uthash.h: its allocator */
#include <uthash.h>

#include "err.h"

struct entry {
    int64_t start_ms;
    char *json;
    size_t len;
};

struct lane {
    char key[140]; /* site \x1f node \x1f lane */
    char site[65], node[65];
    uint32_t lane;
    struct entry *entries; /* by start */
    size_t n, cap;
    size_t pending; /* 1 + the index of its first pending window this tick; 0: none */
    UT_hash_handle hh;
};

/* A lane window closed or corrected in this tick, and what its aggregates said. */
struct pending {
    struct lane *lane;
    int64_t start_ms, width_ms;
    int corrected; /* a rewrite: only its corrected series came again */
    uint64_t readings;
    struct gw_traffic traffic;
};

struct gw_history {
    int64_t keep_ms;
    struct lane *lanes;
    struct pending *pending;
    size_t n_pending, cap_pending;
    size_t windows, bytes;
};

struct gw_history *gw_history_new(int64_t keep_ms)
{
    struct gw_history *h = gw_calloc(1, sizeof *h);
    if (h)
        h->keep_ms = keep_ms;
    return h;
}

void gw_history_free(struct gw_history *h)
{
    struct lane *l, *tmp;
    if (!h)
        return;
    HASH_ITER(hh, h->lanes, l, tmp)
    {
        HASH_DEL(h->lanes, l);
        for (size_t i = 0; i < l->n; i++)
            gw_free(l->entries[i].json);
        gw_free(l->entries);
        gw_free(l);
    }
    for (size_t i = 0; i < h->n_pending; i++)
        gw_traffic_fini(&h->pending[i].traffic);
    gw_free(h->pending);
    gw_free(h);
}

static struct lane *lane_get(struct gw_history *h, const struct gw_series_key *k)
{
    char key[140];
    struct lane *l;
    int n = snprintf(key, sizeof key, "%s\x1f%s\x1f%" PRIu32, k->site, k->node, k->lane);
    if (n < 0 || (size_t)n >= sizeof key || strlen(k->site) > 64 || strlen(k->node) > 64)
        return NULL;
    HASH_FIND_STR(h->lanes, key, l);
    if (l || !(l = gw_calloc(1, sizeof *l)))
        return l;
    memcpy(l->key, key, (size_t)n + 1);
    snprintf(l->site, sizeof l->site, "%s", k->site);
    snprintf(l->node, sizeof l->node, "%s", k->node);
    l->lane = k->lane;
    HASH_ADD_STR(h->lanes, key, l);
    if (!l->hh.tbl) {
        gw_free(l);
        return NULL;
    }
    return l;
}

void gw_history_touch(struct gw_history *h, const struct gw_aggregate *agg)
{
    struct lane *l = lane_get(h, &agg->key);
    if (!l)
        return;
    /* Only the windows pending after the lane's first can be its own: a new lane looks at none. */
    struct pending *p = NULL;
    for (size_t i = h->n_pending; l->pending && i-- >= l->pending && !p;)
        if (h->pending[i].lane == l && h->pending[i].start_ms == agg->start_ms)
            p = &h->pending[i];
    if (p)
        goto add;
    if (h->n_pending == h->cap_pending) {
        size_t cap = h->cap_pending ? 2 * h->cap_pending : 64;
        struct pending *grown = gw_realloc(h->pending, cap * sizeof *grown);
        if (!grown)
            return;
        h->pending = grown;
        h->cap_pending = cap;
    }
    if (!l->pending)
        l->pending = h->n_pending + 1;
    p = &h->pending[h->n_pending++];
    memset(p, 0, sizeof *p);
    p->lane = l;
    p->start_ms = agg->start_ms;
    p->width_ms = agg->width_ms;
    gw_traffic_init(&p->traffic);
add:
    p->corrected |= agg->revision > 0;
    p->readings += agg->count;
    if (gw_traffic_add(&p->traffic, agg) != 0)
        p->corrected = 1; /* out of memory: take the figures from the live view */
}

/* Keeps json (taken) as l's window at start_ms, replacing an earlier text of it. */
static void keep(struct gw_history *h, struct lane *l, int64_t start_ms, char *json, size_t len)
{
    size_t i = l->n;
    while (i > 0 && l->entries[i - 1].start_ms > start_ms)
        i--;
    if (i > 0 && l->entries[i - 1].start_ms == start_ms) {
        struct entry *e = &l->entries[i - 1];
        h->bytes = h->bytes - e->len + len;
        gw_free(e->json);
        e->json = json;
        e->len = len;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct entry *e = gw_realloc(l->entries, cap * sizeof *e);
        if (!e) {
            gw_free(json);
            return;
        }
        l->entries = e;
        l->cap = cap;
    }
    memmove(&l->entries[i + 1], &l->entries[i], (l->n - i) * sizeof *l->entries);
    l->entries[i] = (struct entry){start_ms, json, len};
    l->n++;
    h->windows++;
    h->bytes += len;
}

/* Lets go of l's windows that started more than keep_ms before now_ms. */
static void prune(struct gw_history *h, struct lane *l, int64_t now_ms)
{
    size_t old = 0;
    while (old < l->n && l->entries[old].start_ms < now_ms - h->keep_ms) {
        h->windows--;
        h->bytes -= l->entries[old].len;
        gw_free(l->entries[old].json);
        old++;
    }
    memmove(l->entries, l->entries + old, (l->n - old) * sizeof *l->entries);
    l->n -= old;
}

void gw_history_flush(struct gw_history *h, const struct gw_live *live, int64_t now_ms,
                      void (*fn)(void *ctx, const char *json, size_t len), void *ctx)
{
    for (size_t i = 0; i < h->n_pending; i++) {
        struct pending *p = &h->pending[i];
        struct lane *l = p->lane;
        l->pending = 0;
        char *json = NULL;
        size_t len = 0;
        int rc = GW_ENOTFOUND;
        FILE *out = open_memstream(&json, &len);
        struct gw_live_lane at = {l->site, l->node, l->lane, p->start_ms};
        if (out && p->corrected)
            rc = gw_live_write_lane(live, &at, out);
        else if (out && p->traffic.windows > 0) {
            gw_live_write_window(
                out, &(struct gw_live_window){at, p->width_ms, p->readings, &p->traffic});
            rc = 0;
        }
        gw_traffic_fini(&p->traffic);
        if (!out)
            continue;
        if (fclose(out) != 0 || rc != 0) {
            free(json);
            continue;
        }
        fn(ctx, json, len);
        /* The text moves into the history: memstream's buffer is malloc'ed; gw_free() is free(). */
        keep(h, l, h->pending[i].start_ms, json, len);
        prune(h, l, now_ms);
    }
    h->n_pending = 0;
}

void gw_history_write(const struct gw_history *h, FILE *out)
{
    struct lane *l, *tmp;
    int first = 1;
    HASH_ITER(hh, h->lanes, l, tmp)
    {
        for (size_t i = 0; i < l->n; i++) {
            if (!first)
                fputc(',', out);
            fwrite(l->entries[i].json, 1, l->entries[i].len, out);
            first = 0;
        }
    }
}

void gw_history_size(const struct gw_history *h, size_t *windows, size_t *bytes)
{
    *windows = h->windows;
    *bytes = h->bytes;
}
