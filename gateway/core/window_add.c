/*
 * window_add.c -- adding values: a value goes into its base window (or,
 * past its late horizon, into the part of a retired window), claiming the
 * slots of every level above it, all or nothing; a finished window is
 * retired into its parent on the way. The cached window of a series makes
 * the usual add a range check and five additions (window.c says why).
 */
#include "window_internal.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

/* gw_qsketch_reserve(), counting what it allocates. */
static int sketch_reserve(struct gw_windows *w, struct gw_qsketch *sk, const struct gw_qkey *key)
{
    struct mem before = sketch_mem(sk);
    int rc = gw_qsketch_reserve(sk, key);
    sketch_moved(w, sk, before);
    return rc;
}

static void slot_open(struct slot *sl, int64_t start_ms)
{
    *sl = (struct slot){start_ms, 0, INFINITY, -INFINITY, 0, 0, 0, SLOT_OPEN};
}

static void slot_add(struct slot *sl, double value)
{
    sl->count++;
    sl->sum += value;
    sl->sumsq += value * value;
    sl->min = value < sl->min ? value : sl->min;
    sl->max = value > sl->max ? value : sl->max;
}

static void slot_free(struct gw_windows *w, struct series *s, size_t i)
{
    struct slot *sl = &s->slots[i];
    if (sl->state == SLOT_EMITTED)
        w->st.windows_retained--;
    else if (sl->state != SLOT_FREE)
        w->st.windows_pending--;
    sl->state = SLOT_FREE;
    if (s->quantiles)
        gw_qsketch_reset(slot_sketch(w, s, i));
}

/* The live windows inside the span of window i of level, at lower levels, lowest level first. */
size_t gw__window_below(const struct gw_windows *w, const struct series *s, unsigned level,
                        size_t i, struct below *out)
{
    int64_t from = s->slots[i].start_ms, to = from + w->lv[level].width_ms;
    size_t n = 0;
    for (unsigned k = 0; k < level; k++)
        for (size_t j = w->lv[k].first; j < w->lv[k].first + w->lv[k].ring; j++)
            if (s->slots[j].state != SLOT_FREE && s->slots[j].start_ms >= from &&
                s->slots[j].start_ms < to)
                out[n++] = (struct below){(uint16_t)k, (uint16_t)j};
    return n;
}

/* Values in window i of level and the live windows below it. */
uint64_t gw__window_count(const struct gw_windows *w, const struct series *s, unsigned level,
                          size_t i)
{
    struct below d[MAX_BELOW];
    size_t n = gw__window_below(w, s, level, i, d);
    uint64_t count = s->slots[i].count;
    for (size_t k = 0; k < n; k++)
        count += s->slots[d[k].i].count;
    return count;
}

/* Hands window i of level up to its parent (the top level has none) and frees its slot. */
static int slot_fold(struct gw_windows *w, struct series *s, unsigned level, size_t i)
{
    struct slot *sl = &s->slots[i];
    if (level + 1 < w->n_levels && sl->count > 0) {
        int64_t up_width = w->lv[level + 1].width_ms;
        size_t p = slot_index(w, level + 1, sl->start_ms - sl->start_ms % up_width);
        if (s->quantiles) {
            int rc = sketch_merge(w, slot_sketch(w, s, p), slot_sketch(w, s, i));
            if (rc)
                return rc;
        }
        slot_merge(&s->slots[p], sl);
    }
    slot_free(w, s, i);
    return 0;
}

/*
 * Retires window i of level, which is past its late horizon: first the
 * windows below it still in their rings (lower levels first, each into its
 * parent), then the window itself. Returns 0, GW_ENOMEM, or GW_EFULL when a
 * window below it has not been emitted yet.
 */
int gw__window_retire(struct gw_windows *w, struct series *s, unsigned level, size_t i)
{
    struct below d[MAX_BELOW];
    size_t n = gw__window_below(w, s, level, i, d);
    for (size_t k = 0; k < n; k++)
        if (s->slots[d[k].i].state != SLOT_EMITTED)
            return GW_EFULL;
    for (size_t k = 0; k < n; k++) {
        int rc = slot_fold(w, s, d[k].level, d[k].i);
        if (rc)
            return rc;
    }
    return slot_fold(w, s, level, i);
}

/*
 * One value on its way into a series (add_slow(), add_value()): the
 * reading, where a new series of it goes, its node's clock, and the
 * GW_WINDOW_* hints it raised so far.
 */
struct add {
    const struct gw_series_key *key;
    size_t at;    /* where its series goes in its node when it is new */
    unsigned pos; /* its place in its frame (hints), HINTS when none */
    int64_t ts_ms;
    double value;
    int64_t clock_ms; /* its node's clock */
    unsigned hints;   /* GW_WINDOW_* */
};

/* The start of the window of level that holds ts_ms. */
static int64_t window_start(const struct gw_windows *w, unsigned level, int64_t ts_ms)
{
    return ts_ms - ts_ms % w->lv[level].width_ms;
}

/*
 * Finds the slot of the window of level that takes a's value, retiring a
 * finished occupant (finished at a's node's clock).
 */
static int slot_claim(struct gw_windows *w, struct series *s, unsigned level, const struct add *a,
                      size_t *out)
{
    int64_t start_ms = window_start(w, level, a->ts_ms);
    size_t i = slot_index(w, level, start_ms);
    const struct slot *sl = &s->slots[i];

    if (sl->state != SLOT_FREE && sl->start_ms != start_ms) {
        if (sl->state != SLOT_EMITTED ||
            a->clock_ms < sl->start_ms + w->lv[level].width_ms + w->cfg.late_horizon_ms)
            return GW_EFULL;
        int rc = gw__window_retire(w, s, level, i);
        if (rc)
            return rc;
    }
    *out = i;
    return 0;
}

/*
 * a's value is about to be folded into window i of level or below it:
 * opens a free slot, or marks an emitted window dirty (GW_WINDOW_LATE into
 * a->hints), keeping s->due_ms and the counters. Returns whether the window
 * is open (not emitted yet).
 */
static bool slot_touch(struct gw_windows *w, struct series *s, unsigned level, size_t i,
                       struct add *a)
{
    const struct level *lv = &w->lv[level];
    struct slot *sl = &s->slots[i];
    if (sl->state == SLOT_FREE) {
        slot_open(sl, window_start(w, level, a->ts_ms));
        w->st.windows_pending++;
        s->due_ms = min64(s->due_ms, sl->start_ms + lv->width_ms + w->cfg.grace_ms);
    } else if (sl->state == SLOT_EMITTED) {
        sl->state = SLOT_DIRTY;
        w->st.windows_retained--;
        w->st.windows_pending++;
        s->due_ms = min64(s->due_ms, a->clock_ms);
        a->hints |= GW_WINDOW_LATE;
    } else if (sl->state == SLOT_DIRTY) {
        a->hints |= GW_WINDOW_LATE; /* emitted and corrected already: this value is late too */
    }
    return sl->state == SLOT_OPEN;
}

/* The part of s at level for the window starting at start_ms and arrival bucket part_ms. */
size_t gw__window_part_find(const struct series *s, unsigned level, int64_t start_ms,
                            int64_t part_ms)
{
    for (size_t k = 0; k < s->n_parts; k++)
        if (s->parts[k].level == level && s->parts[k].sl.start_ms == start_ms &&
            s->parts[k].part_ms == part_ms)
            return k;
    return SIZE_MAX;
}

/* Makes room for need more parts in s. */
int gw__window_parts_reserve(struct gw_windows *w, struct series *s, size_t need)
{
    size_t cap = s->cap_parts ? s->cap_parts : 4;
    if (s->n_parts + need <= s->cap_parts)
        return 0;
    while (cap < s->n_parts + need)
        cap *= 2;
    struct part *grown = gw_realloc(s->parts, cap * sizeof *grown);
    if (!grown)
        return GW_ENOMEM;
    mem_add(w, (cap - s->cap_parts) * sizeof *grown, s->cap_parts == 0);
    s->parts = grown;
    s->cap_parts = (uint32_t)cap;
    return 0;
}

/*
 * Folds a's value (at a->ts_ms on its node's clock a->clock_ms) into s: into the
 * window of the lowest level still within the late horizon (the base, but
 * for a value past the horizon) and the windows above it, and into the part
 * of the receiving clock's bucket of each retired window below (window.h).
 * All or nothing; GW_WINDOW_LATE into a->hints when an emitted window changed.
 * Caches the base window in s when it took the value and it and every
 * window above are open. Returns 0, GW_ERANGE (too late: no room for the
 * parts, counted; or a window or part full), GW_EFULL (busy, counted) or
 * GW_ENOMEM.
 */
static int add_value(struct gw_windows *w, struct series *s, struct add *a)
{
    int64_t ts_ms = a->ts_ms, clock_ms = a->clock_ms;
    double value = a->value;
    size_t at[GW_WINDOW_MAX_LEVELS] = {0}, idx[GW_WINDOW_MAX_LEVELS] = {0}, need = 0;
    int64_t rx = rx_now(w), part_ms = rx - rx % w->base_ms;
    unsigned low = 0; /* the levels below low are retired: parts */
    bool all_open = true;
    struct gw_qkey qkey;
    int rc = 0;

    while (low < w->n_levels &&
           window_start(w, low, ts_ms) + w->lv[low].width_ms + w->cfg.late_horizon_ms <= clock_ms)
        low++;
    for (unsigned l = 0; l < low; l++) {
        at[l] = gw__window_part_find(s, l, window_start(w, l, ts_ms), part_ms);
        if (at[l] == SIZE_MAX)
            at[l] = s->n_parts + need++;
        else if (s->parts[at[l]].sl.count >= w->lv[l].max_count)
            return GW_ERANGE;
    }
    if (w->st.parts + need > w->cfg.max_series) {
        w->st.too_late++;
        return GW_ERANGE;
    }
    for (unsigned l = low; l < w->n_levels; l++) {
        rc = slot_claim(w, s, l, a, &idx[l]);
        if (rc == GW_EFULL)
            w->st.busy++;
        if (rc)
            return rc;
    }
    if (low < w->n_levels && s->slots[idx[low]].state != SLOT_FREE &&
        gw__window_count(w, s, low, idx[low]) >= w->lv[low].max_count)
        return GW_ERANGE;
    if ((rc = gw__window_parts_reserve(w, s, need)) != 0)
        return rc;
    for (unsigned l = 0; l < low; l++)
        if (at[l] >= s->n_parts) {
            struct part *p = &s->parts[at[l]];
            slot_open(&p->sl, window_start(w, l, ts_ms));
            p->part_ms = part_ms;
            p->level = (uint8_t)l;
            gw_qsketch_init(&p->sk);
        }
    if (s->quantiles) {
        gw_qsketch_key(value, &qkey);
        for (unsigned l = 0; l < low && rc == 0; l++)
            rc = sketch_reserve(w, &s->parts[at[l]].sk, &qkey);
        if (rc == 0 && low < w->n_levels)
            rc = sketch_reserve(w, slot_sketch(w, s, idx[low]), &qkey);
        if (rc) {
            for (size_t k = s->n_parts; k < s->n_parts + need; k++)
                sketch_fini(w, &s->parts[k].sk);
            return rc;
        }
    }
    s->n_parts += (uint32_t)need;
    w->st.parts += need;
    for (unsigned l = 0; l < low; l++) {
        struct part *p = &s->parts[at[l]];
        if (p->sl.state == SLOT_EMITTED)
            p->sl.state = SLOT_DIRTY;
        slot_add(&p->sl, value);
        if (s->quantiles)
            gw_qsketch_insert(&p->sk, &qkey);
    }
    if (low > 0) {
        s->due_ms = min64(s->due_ms, part_due(w, part_ms, clock_ms, rx));
        w->st.values_parted++;
    }
    for (unsigned l = low; l < w->n_levels; l++)
        all_open = slot_touch(w, s, l, idx[l], a) && all_open;
    if (low < w->n_levels) {
        slot_add(&s->slots[idx[low]], value);
        if (s->quantiles)
            gw_qsketch_insert(slot_sketch(w, s, idx[low]), &qkey);
    }
    s->cur_ok = low == 0 && all_open;
    if (low == 0) {
        s->cur_start_ms = ts_ms - ts_ms % w->base_ms;
        s->cur_idx = (uint16_t)idx[0];
    }
    return 0;
}

/*
 * The rest of an add, for values that miss the cached window: range check,
 * series creation, claims at every level, then the commit. s is the series
 * if it exists; else a->at is where it goes in fr's node (if any). Kept out of
 * line: inlined, it made the fast path save and restore six registers more.
 */
__attribute__((noinline)) static int add_slow(struct gw_windows *w, struct gw_windows_frame *fr,
                                              struct series *s, struct add *a, unsigned *hints)
{
    struct node *n = fr->node;
    size_t at = a->at;
    bool new_node = false;
    int rc = 0;

    /* A new node's clock starts at its first value. */
    a->clock_ms = n ? node_clock(n, rx_now(w)) : a->ts_ms;
    if (a->ts_ms < 0) {
        w->st.too_late++;
        return GW_ERANGE;
    }
    if (!s) {
        if (w->st.series >= w->cfg.max_series || (!n && w->n_nodes >= w->cfg.max_series)) {
            w->st.series_refused++;
            return GW_EFULL;
        }
        /* One node's readings cannot take the series every other node needs. */
        if (n && n->n_series >= w->cfg.max_node_series) {
            w->st.node_series_full++;
            return GW_EFULL;
        }
        if (!n) {
            rc = gw__window_node_new(w, fr, w->next_seq, a->ts_ms, &n);
            if (rc)
                return rc;
            w->next_seq++;
            new_node = true;
        }
        rc = gw__window_series_new(w, n, at, a->key, &s);
        if (rc)
            goto out;
        a->hints |= GW_WINDOW_NEW_SERIES;
        if (a->pos < HINTS && at <= HINT_MAX_INDEX)
            n->hint[a->pos] = (uint8_t)(at + 1);
    }
    s->cur_ok = 0;
    if ((rc = add_value(w, s, a)) != 0)
        goto out;
    if (s->due_ms < n->due_ms) {
        n->due_ms = s->due_ms;
        if (node_rekey(w, n))
            gw__window_heap_fix(w, n);
    }
    w->st.values_added++;
    w->st.series_created += (a->hints & GW_WINDOW_NEW_SERIES) != 0;
    w->st.values_late += (a->hints & GW_WINDOW_LATE) != 0;
    if (hints)
        *hints = a->hints;
out:
    if (rc && (a->hints & GW_WINDOW_NEW_SERIES))
        gw__window_series_drop(w, n, at);
    if (rc && new_node) {
        gw__window_node_drop(w, n);
        fr->node = NULL;
    }
    return rc;
}

int gw_windows_frame_add(struct gw_windows *w, struct gw_windows_frame *fr,
                         const struct gw_series_key *key, struct gw_window_value v, unsigned *hints)
{
    int64_t ts_ms = v.ts_ms;
    double value = v.value;
    struct node *n = fr->node;
    struct series *s = NULL;
    const char *sensor = key->sensor ? key->sensor : "";
    unsigned pos = fr->pos < HINTS ? fr->pos++ : HINTS;
    size_t at = 0;

    if (!isfinite(value))
        return GW_EINVAL;
    if (n && pos < HINTS && n->hint[pos] != 0 && n->hint[pos] <= n->n_series) {
        struct series *c = n->series[n->hint[pos] - 1];
        if (c->quantity == key->quantity && c->lane == key->lane &&
            c->vehicle_class == key->vehicle_class && strcmp(c->sensor, sensor) == 0)
            s = c;
    }
    if (!s) {
        int found = 0;
        if (strnlen(sensor, GW_WINDOW_MAX_ID_BYTES + 1) > GW_WINDOW_MAX_ID_BYTES)
            return GW_EINVAL;
        if (n) {
            at = gw__window_node_search(n, key, sensor, &found);
            if (found) {
                s = n->series[at];
                if (pos < HINTS && at <= HINT_MAX_INDEX)
                    n->hint[pos] = (uint8_t)(at + 1);
            }
        }
    }
    if (fr->now_ms > w->now_ms)
        w->now_ms = min64(fr->now_ms, MAX_TIME_MS);
    if (ts_ms > w->now_ms + w->cfg.max_ahead_ms) {
        w->st.too_early++;
        return GW_ERANGE;
    }
    if (n)
        node_latch(w, n, ts_ms);
    /* s is only found in a node, so n is set when s is. */
    if (!s || !s->cur_ok || (uint64_t)ts_ms - (uint64_t)s->cur_start_ms >= (uint64_t)w->base_ms ||
        s->cur_start_ms + w->late_after_ms <= n->clock_ms) {
        struct add a = {key, at, pos, ts_ms, value, 0, 0};
        return add_slow(w, fr, s, &a, hints);
    }

    /* The cached window: open, like every window above it, so only it changes. */
    struct slot *sl = &s->slots[s->cur_idx];
    if (sl->count >= w->lv[0].max_count)
        return GW_ERANGE;
    if (s->quantiles) {
        struct gw_qsketch *sk = slot_sketch(w, s, s->cur_idx);
        struct gw_qkey qkey;
        gw_qsketch_key(value, &qkey);
        int rc = sketch_reserve(w, sk, &qkey);
        if (rc)
            return rc;
        gw_qsketch_insert(sk, &qkey);
    }
    slot_add(sl, value);
    w->st.values_added++;
    if (hints)
        *hints = 0;
    return 0;
}

int gw_windows_add(struct gw_windows *w, const struct gw_series_key *key, struct gw_window_value v,
                   int64_t now_ms, unsigned *hints)
{
    struct gw_windows_frame fr;
    int rc = gw_windows_frame_begin(w, key->site, key->node, now_ms, &fr);
    if (rc)
        return rc;
    fr.pos = HINTS; /* a lone reading: leave the hints to the frames */
    return gw_windows_frame_add(w, &fr, key, v, hints);
}
