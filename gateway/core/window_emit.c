/*
 * window_emit.c -- emitting windows: the nodes whose clock has passed a
 * window's end plus the grace are taken from the due heap; each due window
 * is emitted with the live windows below it added up, re-emitted when a
 * late value changed it, and retired at its late horizon; parts are
 * emitted once their arrival bucket has passed.
 */
#include "window_internal.h"

#include <string.h>

#include "err.h"

/* Where the aggregates of a run go: fn(ctx, aggregate). */
struct emit_to {
    gw_window_emit_fn fn;
    void *ctx;
};

/*
 * One aggregate to hand out: of level, with content total (its start,
 * statistics) and summary sketch (NULL without quantiles), as emission
 * revision; part_ms >= 0 makes it the part of that arrival bucket.
 */
struct emission {
    unsigned level;
    const struct slot *total;
    const struct gw_qsketch *sketch;
    uint32_t revision;
    int64_t part_ms;
};

/* One run over the series of a node: its clock at receiving time rx, whether it flushes. */
struct run {
    int64_t clock_ms, rx;
    bool flush;
    struct emit_to to;
};

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * The content of window i of e->level, for emission e: its own statistics
 * plus those of every live window below it in its span, into *total (the
 * caller's, which e->total points to); its summary into e->sketch (its own
 * when nothing below is live, else built in w->scratch).
 */
static int window_total(struct gw_windows *w, struct series *s, size_t i, struct slot *total,
                        struct emission *e)
{
    struct below d[MAX_BELOW];
    size_t n = gw__window_below(w, s, e->level, i, d);
    int rc = 0;

    *total = s->slots[i];
    e->sketch = s->quantiles ? slot_sketch(w, s, i) : NULL;
    if (s->quantiles && n > 0) {
        gw_qsketch_reset(&w->scratch);
        rc = sketch_merge(w, &w->scratch, e->sketch);
        e->sketch = &w->scratch;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (s->quantiles)
            rc = sketch_merge(w, &w->scratch, slot_sketch(w, s, d[k].i));
        slot_merge(total, &s->slots[d[k].i]);
    }
    return rc;
}

/* Hands to the aggregate e of s. */
static int agg_emit(const struct gw_windows *w, const struct series *s, const struct emission *e,
                    struct emit_to to)
{
    const struct slot *total = e->total;
    struct gw_aggregate a;
    memset(&a, 0, sizeof a);
    a.key.site = s->node->ids;
    a.key.node = s->node->ids + s->node->site_len + 1;
    a.key.sensor = s->sensor;
    a.key.lane = s->lane;
    a.key.quantity = s->quantity;
    a.key.vehicle_class = s->vehicle_class;
    a.key.quantiles = s->quantiles;
    a.level = e->level;
    a.width_ms = w->lv[e->level].width_ms;
    a.start_ms = total->start_ms;
    a.revision = e->revision;
    a.partial = e->part_ms >= 0;
    a.part_ms = a.partial ? e->part_ms : 0;
    a.count = total->count;
    a.sum = total->sum;
    a.min = total->min;
    a.max = total->max;
    a.sumsq = total->sumsq;
    a.mean = total->sum / total->count;
    if (e->sketch) {
        static const double q[3] = {0.50, 0.85, 0.95};
        double p[3];
        a.sketch = e->sketch;
        a.has_quantiles = gw_qsketch_quantiles(e->sketch, q, 3, p) == 0;
        a.p50 = clamp(p[0], a.min, a.max);
        a.p85 = clamp(p[1], a.min, a.max);
        a.p95 = clamp(p[2], a.min, a.max);
    }
    return to.fn(to.ctx, &a);
}

/* The revision of the next emission of a window or part in state sl. */
static uint32_t next_revision(const struct slot *sl)
{
    return sl->revision + (sl->state == SLOT_DIRTY && sl->revision < UINT16_MAX);
}

/* Emits window i of level of s, with the live windows below it. */
static int slot_emit(struct gw_windows *w, struct series *s, unsigned level, size_t i,
                     struct emit_to to)
{
    struct slot *sl = &s->slots[i], total;
    int dirty = sl->state == SLOT_DIRTY;
    struct emission e = {level, &total, NULL, next_revision(sl), -1};
    int rc = window_total(w, s, i, &total, &e);

    if (rc == 0)
        rc = agg_emit(w, s, &e, to);
    if (rc)
        return rc;
    sl->revision = (uint16_t)e.revision;
    sl->state = SLOT_EMITTED;
    w->st.windows_pending--;
    w->st.windows_retained++;
    if (dirty)
        w->st.windows_rewritten++;
    else
        w->st.windows_emitted++;
    return 0;
}

/* Emits part k of s, which has not been emitted as it stands. */
static int part_emit(struct gw_windows *w, struct series *s, size_t k, struct emit_to to)
{
    struct part *p = &s->parts[k];
    uint32_t revision = next_revision(&p->sl);
    struct emission e = {p->level, &p->sl, s->quantiles ? &p->sk : NULL, revision, p->part_ms};
    int rc = agg_emit(w, s, &e, to);
    if (rc)
        return rc;
    p->sl.revision = (uint16_t)revision;
    p->sl.state = SLOT_EMITTED;
    w->st.parts_emitted++;
    return 0;
}

/* The live slots of a level, oldest first. */
static size_t level_order(const struct gw_windows *w, const struct series *s, unsigned level,
                          size_t *order)
{
    const struct level *lv = &w->lv[level];
    size_t n = 0;
    for (size_t i = lv->first; i < lv->first + lv->ring; i++) {
        if (s->slots[i].state == SLOT_FREE)
            continue;
        size_t j = n++;
        for (; j > 0 && s->slots[order[j - 1]].start_ms > s->slots[i].start_ms; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    return n;
}

/*
 * When, on its node's clock (clock_ms at receiving time rx), advance next
 * has work in s: emit, re-emit or retire one of its windows, or emit and
 * drop a part.
 */
int64_t gw__window_series_due(const struct gw_windows *w, const struct series *s, int64_t clock_ms,
                              int64_t rx)
{
    int64_t due = INT64_MAX;
    for (size_t k = 0; k < s->n_parts; k++)
        due = min64(due, part_due(w, s->parts[k].part_ms, clock_ms, rx));
    for (unsigned l = 0; l < w->n_levels; l++) {
        const struct level *lv = &w->lv[l];
        for (size_t i = lv->first; i < lv->first + lv->ring; i++) {
            const struct slot *sl = &s->slots[i];
            if (sl->state == SLOT_DIRTY)
                due = min64(due, clock_ms);
            else if (sl->state == SLOT_OPEN)
                due = min64(due, sl->start_ms + lv->width_ms + w->cfg.grace_ms);
            else if (sl->state == SLOT_EMITTED)
                due = min64(due, sl->start_ms + lv->width_ms + w->cfg.late_horizon_ms);
        }
    }
    return due;
}

/*
 * Emits what is due in s (everything pending with flush), retires what is
 * finished, and sets s->due_ms to what gw__window_series_due() would say (a window
 * left live here is never retired later in the same run: a parent past its
 * horizon has only children past theirs, retired first, level by level).
 * Parts are emitted and dropped once r->rx has passed their bucket
 * (emitted at once with flush).
 */
static int series_run(struct gw_windows *w, struct series *s, const struct run *r)
{
    int64_t clock_ms = r->clock_ms, rx = r->rx;
    bool flush = r->flush;
    size_t order[GW_WINDOW_MAX_RING];
    int64_t due = INT64_MAX;
    int rc = 0;

    s->cur_ok = 0;
    for (unsigned l = 0; l < w->n_levels && rc == 0; l++) {
        size_t n = level_order(w, s, l, order);
        for (size_t k = 0; k < n && rc == 0; k++) {
            struct slot *sl = &s->slots[order[k]];
            int64_t end_ms = sl->start_ms + w->lv[l].width_ms;
            if (sl->state == SLOT_DIRTY ||
                (sl->state == SLOT_OPEN && (flush || clock_ms >= end_ms + w->cfg.grace_ms)))
                rc = slot_emit(w, s, l, order[k], r->to);
            if (rc == 0 && sl->state == SLOT_EMITTED && clock_ms >= end_ms + w->cfg.late_horizon_ms)
                rc = gw__window_retire(w, s, l, order[k]);
            if (sl->state == SLOT_OPEN)
                due = min64(due, end_ms + w->cfg.grace_ms);
            else if (sl->state == SLOT_EMITTED)
                due = min64(due, end_ms + w->cfg.late_horizon_ms);
        }
    }
    for (size_t k = 0; k < s->n_parts && rc == 0;) {
        struct part *p = &s->parts[k];
        bool done = rx >= p->part_ms + w->base_ms;
        if (p->sl.state != SLOT_EMITTED && (flush || done))
            rc = part_emit(w, s, k, r->to);
        if (rc == 0 && done) {
            gw__window_part_drop(w, s, k);
            continue;
        }
        due = min64(due, part_due(w, p->part_ms, clock_ms, rx));
        k++;
    }
    s->due_ms = rc ? clock_ms : due;
    return rc;
}

/*
 * Runs the series of n that have work due on its clock (all with flush),
 * dropping those left empty. A node without series is kept until nothing
 * it could still send passes devices.max_age: its clock is what keeps a
 * window it has retired from being opened again (and its point in the
 * store overwritten by a part of it).
 */
static int node_run(struct gw_windows *w, struct node *n, bool flush, struct emit_to to)
{
    int64_t rx = rx_now(w), clock_ms = node_clock(n, rx);
    struct run r = {clock_ms, rx, flush, to};
    int64_t due = INT64_MAX;
    int rc = 0;
    for (size_t k = 0; k < n->n_series;) {
        struct series *s = n->series[k];
        if (rc == 0 && (flush || s->due_ms <= clock_ms)) {
            rc = series_run(w, s, &r);
            if (rc == 0 && s->due_ms == INT64_MAX) {
                gw__window_series_drop(w, n, k);
                w->st.series_dropped++;
                continue;
            }
        }
        due = min64(due, s->due_ms);
        k++;
    }
    n->due_ms = due;
    node_rekey(w, n);
    if (n->n_series == 0 && n->wake_ms <= rx)
        gw__window_node_drop(w, n);
    else
        gw__window_heap_fix(w, n);
    return rc;
}

int gw_windows_advance(struct gw_windows *w, int64_t now_ms, size_t max_nodes,
                       gw_window_emit_fn emit, void *ctx)
{
    int rc = 0;
    if (now_ms > w->now_ms)
        w->now_ms = min64(now_ms, MAX_TIME_MS);
    while (rc == 0 && w->n_nodes > 0 && w->heap[0]->wake_ms <= rx_now(w)) {
        if (max_nodes-- == 0)
            return 1;
        rc = node_run(w, w->heap[0], false, (struct emit_to){emit, ctx});
    }
    return rc;
}

int gw_windows_frame_clock(struct gw_windows *w, struct gw_windows_frame *fr, int64_t ts_ms,
                           gw_window_emit_fn emit, void *ctx)
{
    struct node *n = fr->node;
    int rc = 0;
    if (fr->now_ms > w->now_ms)
        w->now_ms = min64(fr->now_ms, MAX_TIME_MS);
    if (!n || ts_ms < 0 || ts_ms > w->now_ms + w->cfg.max_ahead_ms)
        return 0; /* nothing to run yet, or the adds refuse it */
    node_latch(w, n, ts_ms);
    if (n->wake_ms <= rx_now(w)) {
        rc = node_run(w, n, false, (struct emit_to){emit, ctx});
        fr->node = gw__window_find(w, fr); /* the run may have dropped it */
    }
    return rc;
}

int gw_windows_flush_all(struct gw_windows *w, gw_window_emit_fn emit, void *ctx)
{
    struct node *n, *next;
    int rc = 0;
    for (n = w->head; n && rc == 0; n = next) {
        next = n->next;
        rc = node_run(w, n, true, (struct emit_to){emit, ctx});
    }
    return rc;
}
