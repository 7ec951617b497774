/*
 * window_snapshot.c -- the aggregation stage's whole state as a snapshot
 * (serial.h encoding), for crash recovery with the journal, and its
 * restore, which checks every field against the configuration, the clocks
 * and the invariants window.c lists, so that a damaged snapshot is refused
 * rather than believed.
 */
#include "window_internal.h"

#include <math.h>
#include <string.h>

#include "err.h"

#define SNAP_VERSION 4u
#define SNAP_END 0x57454e44u /* marker after the last node */
#define SNAP_COUNTERS 13     /* 11 before version 4 */

static void put_i64(struct gw_wbuf *b, int64_t v)
{
    gw_put_u64(b, (uint64_t)v);
}

static int64_t get_i64(struct gw_rbuf *r)
{
    uint64_t u = gw_get_u64(r);
    return u > (uint64_t)INT64_MAX ? -(int64_t)(~u) - 1 : (int64_t)u;
}

static void put_config(struct gw_wbuf *b, const struct gw_windows_config *cfg)
{
    gw_put_u32(b, cfg->n_widths);
    for (unsigned l = 0; l < cfg->n_widths; l++)
        put_i64(b, cfg->widths_ms[l]);
    put_i64(b, cfg->grace_ms);
    put_i64(b, cfg->late_horizon_ms);
    put_i64(b, cfg->max_ahead_ms);
    gw_put_u64(b, cfg->max_series);
}

/* The counters a snapshot carries; the others follow from the windows restored. */
static uint64_t *counter(struct gw_windows_stats *st, unsigned i)
{
    uint64_t *c[SNAP_COUNTERS] = {&st->values_added,
                                  &st->values_late,
                                  &st->too_late,
                                  &st->too_early,
                                  &st->busy,
                                  &st->series_refused,
                                  &st->series_created,
                                  &st->series_dropped,
                                  &st->windows_emitted,
                                  &st->windows_rewritten,
                                  &st->node_series_full,
                                  &st->values_parted,
                                  &st->parts_emitted};
    return c[i];
}

/* Writes window sl of level l (a slot or a part) and its summary sk (NULL without quantiles). */
static int put_window(struct gw_wbuf *b, unsigned l, const struct slot *sl,
                      const struct gw_qsketch *sk, char *text)
{
    size_t len;
    gw_put_u8(b, (uint8_t)l);
    put_i64(b, sl->start_ms);
    gw_put_u8(b, sl->state);
    gw_put_u32(b, sl->revision);
    gw_put_u32(b, sl->count);
    gw_put_f64(b, sl->sum);
    gw_put_f64(b, sl->min);
    gw_put_f64(b, sl->max);
    gw_put_f64(b, sl->sumsq);
    if (!sk)
        return 0;
    int rc = gw_qsketch_format(sk, text, GW_QSKETCH_TEXT_MAX, &len);
    gw_put_str(b, text);
    return rc;
}

/*
 * Layout (little-endian, see serial.h): version; config; now_ms; the
 * receiving clock's base and its arrival time; next node number; the
 * counters; the number of nodes; per node in creation order: site, node,
 * its number, its clock, the receiving time it was set, its newest
 * timestamp, its number of series (0 for a node kept for its clock only);
 * per series in node order:
 * sensor, lane, quantity, vehicle class, quantiles flag, due_ms, number of
 * live windows; per window: level, start, state, revision, count, sum, min,
 * max, sumsq and, with quantiles, the gw_qsketch_format() text; the number
 * of parts; per part in order: its arrival bucket, then as a window; end
 * marker.
 */
int gw_windows_snapshot(const struct gw_windows *w, struct gw_wbuf *out)
{
    char text[GW_QSKETCH_TEXT_MAX];
    struct gw_windows_stats st = w->st;
    size_t len0 = out->len;
    int rc = 0;

    if (out->err)
        return out->err;
    gw_put_u32(out, SNAP_VERSION);
    put_config(out, &w->cfg);
    put_i64(out, w->now_ms);
    put_i64(out, w->rx_base_ms);
    put_i64(out, w->rx_base_at_ms);
    gw_put_u64(out, w->next_seq);
    for (unsigned c = 0; c < SNAP_COUNTERS; c++)
        gw_put_u64(out, *counter(&st, c));
    gw_put_u64(out, w->n_nodes);
    for (const struct node *n = w->head; n && rc == 0; n = n->next) {
        gw_put_str(out, n->ids);
        gw_put_str(out, n->ids + n->site_len + 1);
        gw_put_u64(out, n->seq);
        put_i64(out, n->clock_ms);
        put_i64(out, n->seen_rx_ms);
        put_i64(out, n->max_ts_ms);
        gw_put_u32(out, n->n_series);
        for (uint32_t k = 0; k < n->n_series && rc == 0; k++) {
            struct series *s = n->series[k];
            uint32_t live = 0;
            for (size_t i = 0; i < w->n_slots; i++)
                live += s->slots[i].state != SLOT_FREE;
            gw_put_str(out, s->sensor);
            gw_put_u32(out, s->lane);
            gw_put_u32(out, s->quantity);
            gw_put_u32(out, s->vehicle_class);
            gw_put_u8(out, s->quantiles);
            put_i64(out, s->due_ms);
            gw_put_u32(out, live);
            for (unsigned l = 0; l < w->n_levels && rc == 0; l++)
                for (size_t i = w->lv[l].first; i < w->lv[l].first + w->lv[l].ring && rc == 0; i++)
                    if (s->slots[i].state != SLOT_FREE)
                        rc = put_window(out, l, &s->slots[i],
                                        s->quantiles ? slot_sketch(w, s, i) : NULL, text);
            gw_put_u32(out, s->n_parts);
            for (uint32_t j = 0; j < s->n_parts && rc == 0; j++) {
                const struct part *p = &s->parts[j];
                put_i64(out, p->part_ms);
                rc = put_window(out, p->level, &p->sl, s->quantiles ? &p->sk : NULL, text);
            }
        }
    }
    gw_put_u32(out, SNAP_END);
    if (rc == 0 && out->err)
        rc = out->err;
    if (rc)
        out->len = len0;
    return rc;
}

/* A restore under way: where it reads, the snapshot's version, the last node number read. */
struct restore {
    struct gw_windows *w;
    struct gw_rbuf *in;
    unsigned version;
    uint64_t last_seq;              /* UINT64_MAX before the first node */
    char text[GW_QSKETCH_TEXT_MAX]; /* a summary's text */
};

/*
 * Reads a window (a slot or a part) of s up to its summary into *v and
 * *level_out; checks it against the config and the node's clock.
 */
static int get_window(struct restore *r, const struct series *s, unsigned *level_out,
                      struct slot *v_out)
{
    const struct gw_windows *w = r->w;
    struct gw_rbuf *in = r->in;
    struct slot v;
    unsigned level = gw_get_u8(in);
    uint32_t revision;

    v.start_ms = get_i64(in);
    v.state = gw_get_u8(in);
    revision = gw_get_u32(in);
    v.count = gw_get_u32(in);
    v.sum = gw_get_f64(in);
    v.min = gw_get_f64(in);
    v.max = gw_get_f64(in);
    v.sumsq = gw_get_f64(in);
    if (in->bad || level >= w->n_levels || v.start_ms < 0 || v.start_ms > s->node->max_ts_ms ||
        v.start_ms % w->lv[level].width_ms != 0 || v.state < SLOT_OPEN || v.state > SLOT_DIRTY ||
        revision > UINT16_MAX || v.count > w->lv[level].max_count || (level == 0 && v.count == 0))
        return GW_EINVAL;
    if (v.count > 0 && !(isfinite(v.min) && isfinite(v.max) && v.min <= v.max))
        return GW_EINVAL;
    if (v.count == 0) {
        if (v.sum != 0 || v.sumsq != 0)
            return GW_EINVAL;
        v.min = INFINITY;
        v.max = -INFINITY;
    }
    v.revision = (uint16_t)revision;
    *level_out = level;
    *v_out = v;
    return 0;
}

/* Reads the summary of a window of count values into sk (empty), when s keeps quantiles. */
static int get_sketch(struct restore *r, const struct series *s, struct gw_qsketch *sk,
                      uint32_t count)
{
    char *text = r->text;
    if (!s->quantiles)
        return 0;
    gw_get_str(r->in, text, GW_QSKETCH_TEXT_MAX);
    if (r->in->bad)
        return GW_EINVAL;
    struct mem before = sketch_mem(sk);
    int rc = gw_qsketch_parse(sk, text, strlen(text), NULL);
    sketch_moved(r->w, sk, before);
    if (rc == 0 && gw_qsketch_count(sk) != count)
        rc = GW_EINVAL;
    return rc;
}

/* Reads one window of s; checks it against the config, the clock and what is already there. */
static int get_slot(struct restore *r, struct series *s)
{
    struct gw_windows *w = r->w;
    struct slot v;
    unsigned level;
    int rc = get_window(r, s, &level, &v);
    if (rc)
        return rc;
    size_t i = slot_index(w, level, v.start_ms);
    if (s->slots[i].state != SLOT_FREE)
        return GW_EINVAL;
    if ((rc = get_sketch(r, s, slot_sketch(w, s, i), v.count)) != 0)
        return rc;
    s->slots[i] = v;
    if (v.state == SLOT_EMITTED)
        w->st.windows_retained++;
    else
        w->st.windows_pending++;
    return 0;
}

/*
 * The invariants of the top comment: every live window below the top has a
 * fitting parent, and no window holds more values than its level allows
 * (so no count or sketch counter can overflow when windows are folded).
 */
static int series_check(const struct gw_windows *w, const struct series *s)
{
    for (unsigned l = 0; l < w->n_levels; l++) {
        const struct level *lv = &w->lv[l];
        for (size_t i = lv->first; i < lv->first + lv->ring; i++) {
            const struct slot *sl = &s->slots[i];
            if (sl->state == SLOT_FREE)
                continue;
            if (gw__window_count(w, s, l, i) > lv->max_count)
                return GW_EINVAL;
            if (l + 1 == w->n_levels)
                continue;
            int64_t up_start = sl->start_ms - sl->start_ms % w->lv[l + 1].width_ms;
            const struct slot *up = &s->slots[slot_index(w, l + 1, up_start)];
            if (up->state == SLOT_FREE || up->start_ms != up_start ||
                (sl->state != SLOT_EMITTED && up->state == SLOT_EMITTED))
                return GW_EINVAL;
        }
    }
    return 0;
}

/* Reads one part of s; checks it against the config, the clocks and the bound on parts. */
static int get_part(struct restore *r, struct series *s)
{
    struct gw_windows *w = r->w;
    struct slot v;
    unsigned level;
    int64_t part_ms = get_i64(r->in);
    int rc = get_window(r, s, &level, &v);
    if (rc)
        return rc;
    if (part_ms < 0 || part_ms % w->base_ms != 0 || part_ms > rx_now(w) || v.count == 0 ||
        w->st.parts >= w->cfg.max_series ||
        gw__window_part_find(s, level, v.start_ms, part_ms) != SIZE_MAX)
        return GW_EINVAL;
    if ((rc = gw__window_parts_reserve(w, s, 1)) != 0)
        return rc;
    struct part *p = &s->parts[s->n_parts];
    gw_qsketch_init(&p->sk);
    if ((rc = get_sketch(r, s, &p->sk, v.count)) != 0) {
        sketch_fini(w, &p->sk);
        return rc;
    }
    p->sl = v;
    p->part_ms = part_ms;
    p->level = (uint8_t)level;
    s->n_parts++;
    w->st.parts++;
    return 0;
}

static int get_series(struct restore *r, struct node *n)
{
    struct gw_windows *w = r->w;
    struct gw_rbuf *in = r->in;
    char sensor[GW_WINDOW_MAX_ID_BYTES + 1];
    struct gw_series_key key;
    struct series *s;
    int found, rc;

    gw_get_str(in, sensor, sizeof sensor);
    memset(&key, 0, sizeof key);
    key.lane = gw_get_u32(in);
    key.quantity = gw_get_u32(in);
    key.vehicle_class = gw_get_u32(in);
    uint8_t quantiles = gw_get_u8(in);
    int64_t due_ms = get_i64(in);
    uint32_t live = gw_get_u32(in);
    /* live may be 0: an add that failed after retiring a window leaves such a series until the
     * next advance drops it, in the original and in the copy alike. */
    if (in->bad || quantiles > 1 || live > w->n_slots)
        return GW_EINVAL;
    key.sensor = sensor;
    key.quantiles = quantiles;
    size_t at = gw__window_node_search(n, &key, sensor, &found);
    if (found)
        return GW_EINVAL;
    rc = gw__window_series_new(w, n, at, &key, &s);
    for (uint32_t k = 0; k < live && rc == 0; k++)
        rc = get_slot(r, s);
    uint32_t n_parts = rc == 0 && r->version >= 4 ? gw_get_u32(in) : 0;
    if (rc == 0 && (in->bad || n_parts > w->cfg.max_series))
        rc = GW_EINVAL;
    for (uint32_t k = 0; k < n_parts && rc == 0; k++)
        rc = get_part(r, s);
    if (rc == 0)
        rc = series_check(w, s);
    if (rc == 0) {
        s->due_ms = min64(due_ms, gw__window_series_due(w, s, node_clock(n, rx_now(w)), rx_now(w)));
        n->due_ms = min64(n->due_ms, s->due_ms);
    }
    return rc;
}

static int get_node(struct restore *r)
{
    struct gw_windows *w = r->w;
    struct gw_rbuf *in = r->in;
    unsigned version = r->version;
    char site[GW_WINDOW_MAX_ID_BYTES + 1], node[GW_WINDOW_MAX_ID_BYTES + 1];
    struct gw_windows_frame fr;
    struct node *n;
    int rc;

    gw_get_str(in, site, sizeof site);
    gw_get_str(in, node, sizeof node);
    uint64_t seq = gw_get_u64(in);
    /* Version 2 had one clock: every node's was the arrival clock. */
    int64_t clock_ms = w->now_ms, seen_rx_ms = w->now_ms,
            max_ts_ms = w->now_ms + w->cfg.max_ahead_ms;
    if (version >= 3) {
        clock_ms = get_i64(in);
        seen_rx_ms = get_i64(in);
        max_ts_ms = get_i64(in);
    }
    uint32_t n_series = gw_get_u32(in);
    if (in->bad || seq >= w->next_seq || (r->last_seq != UINT64_MAX && seq <= r->last_seq) ||
        (version < 3 && n_series < 1) || n_series > w->cfg.max_series - w->st.series ||
        clock_ms < 0 || clock_ms > MAX_TIME_MS || seen_rx_ms < 0 || seen_rx_ms > rx_now(w) ||
        max_ts_ms < 0 || max_ts_ms > MAX_TIME_MS)
        return GW_EINVAL;
    r->last_seq = seq;
    rc = gw_windows_frame_begin(w, site, node, w->now_ms, &fr); /* only to find and make it */
    if (rc == 0 && fr.node)
        rc = GW_EINVAL; /* the same node twice */
    if (rc == 0)
        rc = gw__window_node_new(w, &fr, seq, clock_ms, &n);
    if (rc == 0) {
        n->seen_rx_ms = seen_rx_ms;
        n->max_ts_ms = max_ts_ms;
    }
    for (uint32_t k = 0; k < n_series && rc == 0; k++)
        rc = get_series(r, n);
    if (rc == 0) {
        node_rekey(w, n);
        gw__window_heap_fix(w, n);
    }
    return rc;
}

static int restore_body(struct gw_windows *w, struct gw_rbuf *in)
{
    struct restore r = {.w = w, .in = in, .last_seq = UINT64_MAX};
    struct gw_windows_config cfg;
    struct gw_windows_stats st;
    int rc = 0;

    memset(&cfg, 0, sizeof cfg);
    unsigned version = r.version = gw_get_u32(in);
    if (version < 2 || version > SNAP_VERSION)
        return GW_EINVAL;
    unsigned n_counters = version >= 4 ? SNAP_COUNTERS : 11;
    cfg.n_widths = gw_get_u32(in);
    if (in->bad || cfg.n_widths != w->cfg.n_widths)
        return GW_EINVAL;
    for (unsigned l = 0; l < cfg.n_widths; l++)
        cfg.widths_ms[l] = get_i64(in);
    cfg.grace_ms = get_i64(in);
    cfg.late_horizon_ms = get_i64(in);
    cfg.max_ahead_ms = get_i64(in);
    cfg.max_series = (size_t)gw_get_u64(in);
    if (in->bad ||
        memcmp(cfg.widths_ms, w->cfg.widths_ms, cfg.n_widths * sizeof cfg.widths_ms[0]) != 0 ||
        cfg.grace_ms != w->cfg.grace_ms || cfg.late_horizon_ms != w->cfg.late_horizon_ms ||
        cfg.max_ahead_ms != w->cfg.max_ahead_ms || cfg.max_series != w->cfg.max_series)
        return GW_EINVAL;
    w->now_ms = get_i64(in);
    w->rx_base_ms = w->rx_base_at_ms = w->now_ms;
    if (version >= 3) {
        w->rx_base_ms = get_i64(in);
        w->rx_base_at_ms = get_i64(in);
    }
    w->next_seq = gw_get_u64(in);
    memset(&st, 0, sizeof st);
    for (unsigned c = 0; c < n_counters; c++)
        *counter(&st, c) = gw_get_u64(in);
    uint64_t n_nodes = gw_get_u64(in);
    if (in->bad || w->now_ms < 0 || w->now_ms > MAX_TIME_MS || n_nodes > w->cfg.max_series ||
        w->rx_base_at_ms < 0 || w->rx_base_at_ms > w->now_ms || w->rx_base_ms < 0 ||
        w->rx_base_ms > w->rx_base_at_ms)
        return GW_EINVAL;
    for (uint64_t k = 0; k < n_nodes && rc == 0; k++)
        rc = get_node(&r);
    if (rc == 0 && (gw_get_u32(in) != SNAP_END || in->bad))
        rc = GW_EINVAL;
    if (rc == 0)
        for (unsigned c = 0; c < n_counters; c++)
            *counter(&w->st, c) = *counter(&st, c);
    return rc;
}

int gw_windows_restore(struct gw_windows *w, struct gw_rbuf *in)
{
    if (w->n_nodes != 0)
        return GW_EINVAL;
    int rc = restore_body(w, in);
    if (rc) {
        gw__window_clear(w);
        if (rc != GW_ENOMEM)
            rc = GW_EINVAL;
    }
    return rc;
}
