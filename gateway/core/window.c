/*
 * window.c -- tumbling windows per series: the aggregation stage.
 *
 * What it does: folds each GOOD reading into its windows, emits a window
 * once its node's clock has passed its end plus the grace period, and
 * re-emits it, corrected, when a late value arrives within the late horizon
 * (see window.h for the exact rules). It also writes and reads the whole
 * state as a snapshot, for crash recovery with the journal.
 *
 * Why this shape:
 *  - Nodes first. Readings come in frames of one (site, node), so that pair
 *    is hashed and looked up once per frame (an open-addressing table of
 *    nodes). A node keeps its series in an array sorted by key and
 *    remembers which series the i-th reading of the last frame went to, so
 *    the usual frame finds each series with one comparison.
 *  - A value goes into its base window only. A window of a higher level
 *    holds what its finished children handed up: when a window is retired
 *    at its late horizon, it folds its count, sums, extremes and quantile
 *    summary into its parent, which is still live (its end is the end of
 *    its last child). Emitting a window adds up the window and its
 *    descendants still live. The multiset of values is the same, so a
 *    rollup is exactly the merge of its base windows (sums to rounding,
 *    sketches bucket for bucket). Measured on the steady-state bench: a
 *    sketch reserve and insert costs about 110 instructions, a merge 1.7k
 *    to 3.4k; inserting every value at four levels cost 2,180 instructions
 *    per frame of 8 readings (5 with quantiles), one insert plus the merges
 *    1,460, and the statistics save likewise.
 *  - Each series caches the base slot of its current window while that
 *    window and all the windows above it are open: the usual add is a range
 *    check and five additions, plus one sketch insert, with no division.
 *  - Clocks per node, not one watermark: a minimum over the nodes would let
 *    one slow or silent node hold every window open (and the rings, sized
 *    for the horizon, would overflow); a clock per node needs no timeout to
 *    exclude the silent ones, and a node's clock is a pure function of the
 *    journal's records, so replays decide alike. A node keeps its clock
 *    after its series are gone, so that a retired window is never opened
 *    again, until max_age makes that impossible.
 *  - Scheduling: nodes sit in a binary min-heap keyed by (receiving time at
 *    which their clock reaches their next window's due time, creation
 *    number). advance() only pops nodes with
 *    work due, so a tick with nothing due costs one comparison whatever the
 *    number of series. The key is part of the state, so a restored snapshot
 *    emits in the same order as the original.
 *  - A series is one allocation: header, a fixed ring of slots per level,
 *    one sketch per slot when it keeps quantiles, and the sensor id. Ring
 *    sizes follow from the config, so memory per series is known up front.
 *  - Memory is counted where it changes (nodes, series, the node table and due
 *    heap, series arrays, sketch buffers), so the figures metrics read
 *    under the gateway lock cost nothing to get, however many series there
 *    are. A sketch call that may grow its buffers is bracketed by two reads
 *    of its footprint: about 30 instructions a value with quantiles.
 *  - Every add is all-or-nothing: slots are claimed and the sketch buffer
 *    reserved before anything is changed (retiring a finished window on the
 *    way changes nothing that can be seen: its values stay in its parent).
 *  - Invariants the folds rely on, and that restore checks: a live window
 *    below the top level has a live parent; a window that is open or dirty
 *    has no emitted ancestor (children are emitted before their parents);
 *    no window holds more values than its level allows (see max_count).
 */
#include "window.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

#define MAX_SPAN_MS (7 * 86400000LL)
#define MAX_TIME_MS (1LL << 60) /* the clock is clamped here, so time sums cannot overflow */
#define HINTS 16                /* readings per frame whose series a node remembers */
#define HINT_MAX_INDEX 254      /* hints are stored as index + 1 in a byte */
#define SNAP_VERSION 4u
#define SNAP_END 0x57454e44u /* marker after the last node */
#define SNAP_COUNTERS 13     /* 11 before version 4 */

enum slot_state {
    SLOT_FREE = 0, /* no window */
    SLOT_OPEN,     /* collecting, not emitted yet */
    SLOT_EMITTED,  /* emitted, kept for late values until its horizon */
    SLOT_DIRTY,    /* emitted, then changed by a late value: to be emitted again */
};

/*
 * One window of one level of one series. For a base window the statistics
 * are its values; for a higher level, the values its retired children
 * handed up (count 0, min +inf and max -inf until the first one does).
 */
struct slot {
    int64_t start_ms;
    double sum, min, max, sumsq;
    uint32_t count;
    uint16_t revision;
    uint8_t state;
};

/*
 * A part of a retired window: its values that arrived while the receiving
 * clock was in [part_ms, part_ms + base width) (see window.h). sl.state is
 * SLOT_OPEN until it is emitted, SLOT_EMITTED, or SLOT_DIRTY when a value
 * came after an emission (a flush).
 */
struct part {
    struct slot sl;
    int64_t part_ms;
    struct gw_qsketch sk; /* empty unless the series keeps quantiles */
    uint8_t level;
};

struct node;

/*
 * A series. One allocation: this header, then n_slots slots, then (when
 * quantiles) n_slots sketches, then the sensor id. Its parts, if any, are
 * in an array of their own, in the order they were made.
 */
struct series {
    struct node *node;
    const char *sensor; /* NUL-terminated, at the end of this allocation */
    struct part *parts; /* n_parts of cap_parts */
    uint32_t n_parts, cap_parts;
    int64_t due_ms;       /* earliest now_ms at which advance has work here */
    int64_t cur_start_ms; /* the cached base window, valid when cur_ok */
    uint32_t lane, quantity, vehicle_class;
    uint8_t quantiles;
    uint8_t cur_ok;   /* the cached window and every window above it are open */
    uint16_t cur_idx; /* slot of the cached window */
    struct slot slots[];
};

/* A (site, node) and its series. One allocation with the ids after it. */
struct node {
    struct node *prev, *next; /* creation order */
    struct series **series;   /* n_series of cap_series, sorted by series_cmp() */
    uint64_t hash;
    uint64_t seq;       /* creation number: the tie-break of the due order */
    int64_t due_ms;     /* the smallest due_ms of its series, on the node's clock */
    int64_t wake_ms;    /* heap key: when advance has work here, on the receiving clock */
    int64_t clock_ms;   /* the node's event clock, as of seen_rx_ms (see node_clock()) */
    int64_t seen_rx_ms; /* the receiving clock at its last value */
    int64_t max_ts_ms;  /* the newest timestamp of its values: no window of it starts later */
    size_t heap_pos;
    uint32_t n_series, cap_series;
    uint8_t site_len, node_len;
    uint8_t hint[HINTS]; /* index + 1 of the series of the i-th reading last time; 0: none */
    char ids[];          /* "site\0node\0" */
};

struct level {
    int64_t width_ms;
    size_t ring;        /* slots */
    size_t first;       /* index of the first slot */
    uint32_t max_count; /* values its windows may hold, so that no count passes UINT32_MAX */
};

struct gw_windows {
    struct gw_windows_config cfg;
    struct level lv[GW_WINDOW_MAX_LEVELS];
    unsigned n_levels;
    size_t n_slots;
    int64_t base_ms;          /* widths_ms[0] */
    int64_t late_after_ms;    /* base_ms + late_horizon_ms: a base window's drop time */
    struct node **table;      /* open addressing with linear probing; NULL is empty */
    size_t table_cap;         /* 0 or a power of two */
    struct node **heap;       /* n_nodes nodes, a min-heap by (due_ms, seq) */
    size_t n_nodes, heap_cap; /* every node is in the table and in the heap */
    struct node *head, *tail; /* creation order */
    uint64_t next_seq;
    int64_t now_ms;             /* highest arrival time seen */
    int64_t rx_base_ms;         /* the receiving clock at the last resume ... */
    int64_t rx_base_at_ms;      /* ... which happened at this arrival time */
    struct gw_qsketch scratch;  /* a rollup's summary while it is emitted */
    struct gw_windows_stats st; /* memory_bytes and memory_blocks kept up to date, see mem_add() */
};

/* Heap held: bytes requested and blocks, as in struct gw_windows_stats. */
struct mem {
    size_t bytes, blocks;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static size_t series_bytes(const struct gw_windows *w, int quantiles, size_t sensor_len)
{
    return sizeof(struct series) + w->n_slots * sizeof(struct slot) +
           (quantiles ? w->n_slots * sizeof(struct gw_qsketch) : 0) + sensor_len + 1;
}

/* Counts blocks of bytes allocated (or, negated, freed: size_t arithmetic wraps back). */
static void mem_add(struct gw_windows *w, size_t bytes, size_t blocks)
{
    w->st.memory_bytes += bytes;
    w->st.memory_blocks += blocks;
}

/* What the buffers of sk hold. Inline: it runs twice for every value with quantiles. */
static inline struct mem sketch_mem(const struct gw_qsketch *sk)
{
    return (struct mem){gw_qsketch_heap_bytes(sk), gw_qsketch_heap_blocks(sk)};
}

/*
 * Counts what a sketch call changed, given sketch_mem() from before it. A
 * call either only grows a sketch or frees all of it, so its blocks change
 * only with its bytes: the usual call, which allocates nothing, costs one
 * comparison here.
 */
static inline void sketch_moved(struct gw_windows *w, const struct gw_qsketch *sk,
                                struct mem before)
{
    size_t bytes = gw_qsketch_heap_bytes(sk);
    if (bytes != before.bytes)
        mem_add(w, bytes - before.bytes, gw_qsketch_heap_blocks(sk) - before.blocks);
}

/* gw_qsketch_reserve(), counting what it allocates. */
static int sketch_reserve(struct gw_windows *w, struct gw_qsketch *sk, const struct gw_qkey *key)
{
    struct mem before = sketch_mem(sk);
    int rc = gw_qsketch_reserve(sk, key);
    sketch_moved(w, sk, before);
    return rc;
}

/* gw_qsketch_merge(), counting what it allocates. */
static int sketch_merge(struct gw_windows *w, struct gw_qsketch *dst, const struct gw_qsketch *src)
{
    struct mem before = sketch_mem(dst);
    int rc = gw_qsketch_merge(dst, src);
    sketch_moved(w, dst, before);
    return rc;
}

/* The heap of a w without nodes: itself and the scratch sketch's buffers. */
static void mem_reset(struct gw_windows *w)
{
    struct mem scratch = sketch_mem(&w->scratch);
    w->st.memory_bytes = sizeof *w + scratch.bytes;
    w->st.memory_blocks = 1 + scratch.blocks;
}

static struct gw_qsketch *slot_sketch(const struct gw_windows *w, struct series *s, size_t i)
{
    return (struct gw_qsketch *)(void *)(s->slots + w->n_slots) + i;
}

/* Index of the slot that holds the window of level starting at start_ms. */
static size_t slot_index(const struct gw_windows *w, unsigned level, int64_t start_ms)
{
    const struct level *lv = &w->lv[level];
    return lv->first + (size_t)((uint64_t)start_ms / (uint64_t)lv->width_ms % lv->ring);
}

void gw_windows_config_default(struct gw_windows_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->widths_ms[0] = 30000;
    cfg->widths_ms[1] = 300000;
    cfg->widths_ms[2] = 900000;
    cfg->widths_ms[3] = 3600000;
    cfg->n_widths = 4;
    cfg->grace_ms = 60000;
    cfg->late_horizon_ms = 120000;
    cfg->max_ahead_ms = 30000;
    cfg->max_age_ms = 86400000;
    cfg->max_series = 100000;
    cfg->max_node_series = 1000;
}

static size_t ring_len(const struct gw_windows_config *cfg, unsigned level)
{
    int64_t width = cfg->widths_ms[level];
    return (size_t)((cfg->late_horizon_ms + cfg->max_ahead_ms + width - 1) / width) + 1;
}

static int config_fail(char *why, size_t why_len, const char *text)
{
    if (why_len)
        snprintf(why, why_len, "%s", text);
    return GW_ECONFIG;
}

int gw_windows_config_check(const struct gw_windows_config *cfg, char *why, size_t why_len)
{
    if (cfg->n_widths < 1 || cfg->n_widths > GW_WINDOW_MAX_LEVELS)
        return config_fail(why, why_len, "between 1 and 6 window widths are needed");
    for (unsigned l = 0; l < cfg->n_widths; l++) {
        int64_t width = cfg->widths_ms[l];
        if (width <= 0 || width > MAX_SPAN_MS)
            return config_fail(why, why_len, "a window width is not within 1 ms .. 7 days");
        if (l > 0 && (width <= cfg->widths_ms[l - 1] || width % cfg->widths_ms[0] != 0))
            return config_fail(why, why_len,
                               "window widths must increase and be multiples of the first");
    }
    if (cfg->grace_ms < 0 || cfg->grace_ms > MAX_SPAN_MS || cfg->max_ahead_ms < 0 ||
        cfg->max_ahead_ms > MAX_SPAN_MS || cfg->late_horizon_ms > MAX_SPAN_MS)
        return config_fail(why, why_len, "grace, late horizon and max ahead are 0 .. 7 days");
    if (cfg->max_age_ms < 0 || cfg->max_age_ms > 366 * 86400000LL)
        return config_fail(why, why_len, "max age is 0 .. 366 days");
    if (cfg->late_horizon_ms < cfg->grace_ms)
        return config_fail(why, why_len, "the late horizon must be at least the grace period");
    if (ring_len(cfg, 0) > GW_WINDOW_MAX_RING)
        return config_fail(why, why_len,
                           "late horizon plus max ahead span more than 63 base windows");
    if (cfg->max_series < 1 || cfg->max_node_series < 1)
        return config_fail(why, why_len, "max_series and max_node_series must be at least 1");
    return 0;
}

int gw_windows_new(const struct gw_windows_config *cfg, struct gw_windows **out)
{
    struct gw_windows *w;
    if (gw_windows_config_check(cfg, NULL, 0))
        return GW_ECONFIG;
    w = gw_calloc(1, sizeof *w);
    if (!w)
        return GW_ENOMEM;
    w->cfg = *cfg;
    w->n_levels = cfg->n_widths;
    w->base_ms = cfg->widths_ms[0];
    w->late_after_ms = w->base_ms + cfg->late_horizon_ms;
    /* A base window takes at most this many values, so no rollup count passes UINT32_MAX. */
    uint32_t base_max =
        (uint32_t)(UINT32_MAX / (uint64_t)(cfg->widths_ms[w->n_levels - 1] / w->base_ms));
    for (unsigned l = 0; l < w->n_levels; l++) {
        struct level *lv = &w->lv[l];
        lv->width_ms = cfg->widths_ms[l];
        lv->first = w->n_slots;
        lv->ring = ring_len(cfg, l);
        lv->max_count = base_max * (uint32_t)(lv->width_ms / w->base_ms);
        w->n_slots += lv->ring;
    }
    gw_qsketch_init(&w->scratch);
    mem_reset(w);
    *out = w;
    return 0;
}

/* ---- the node table, the due heap and the creation list ---- */

/*
 * Mixes the len bytes at p into h, 8 at a time; the last word of a string
 * of 8 bytes or more is its last 8 bytes (overlapping), so every load stays
 * inside the string. Only equal strings need equal hashes: the table
 * compares the ids on a hit.
 */
static uint64_t hash_bytes(uint64_t h, const char *p, size_t len)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i + 8 < len; i += 8) {
        memcpy(&x, p + i, 8);
        h = (h ^ x) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    if (len >= 8) {
        memcpy(&x, p + len - 8, 8);
    } else {
        for (i = 0; i < len; i++)
            x |= (uint64_t)(unsigned char)p[i] << (8 * i);
    }
    h = (h ^ x ^ len) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* memcmp(a, b, len) == 0 for short ids, with the same word loads as hash_bytes(). */
static bool bytes_equal(const char *a, const char *b, size_t len)
{
    uint64_t x, y;
    if (len < 8)
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i + 8 < len; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    memcpy(&x, a + len - 8, 8);
    memcpy(&y, b + len - 8, 8);
    return x == y;
}

static uint64_t ids_hash(const char *site, size_t site_len, const char *node, size_t node_len)
{
    uint64_t h = hash_bytes(hash_bytes(0x243f6a8885a308d3ull, site, site_len), node, node_len);
    h ^= h >> 33; /* MurmurHash3's finaliser: the table indexes by the low bits */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static size_t table_home(size_t cap, uint64_t hash)
{
    return (size_t)hash & (cap - 1);
}

static struct node *table_find(const struct gw_windows *w, const struct gw_windows_frame *fr)
{
    size_t mask = w->table_cap - 1;
    if (!w->table_cap)
        return NULL;
    for (size_t i = table_home(w->table_cap, fr->hash);; i = (i + 1) & mask) {
        struct node *n = w->table[i];
        if (!n)
            return NULL;
        if (n->hash == fr->hash && n->site_len == fr->site_len && n->node_len == fr->node_len &&
            bytes_equal(n->ids, fr->site, fr->site_len) &&
            bytes_equal(n->ids + fr->site_len + 1, fr->node_id, fr->node_len))
            return n;
    }
}

static void table_put(struct node **table, size_t cap, struct node *n)
{
    size_t i = table_home(cap, n->hash);
    while (table[i])
        i = (i + 1) & (cap - 1);
    table[i] = n;
}

/* Makes room for one more node in the table (load at most 1/2) and the heap. */
static int nodes_reserve(struct gw_windows *w)
{
    if ((w->n_nodes + 1) * 2 > w->table_cap) {
        size_t cap = w->table_cap ? w->table_cap * 2 : 16;
        struct node **t = gw_calloc(cap, sizeof *t);
        if (!t)
            return GW_ENOMEM;
        for (size_t i = 0; i < w->table_cap; i++)
            if (w->table[i])
                table_put(t, cap, w->table[i]);
        gw_free(w->table);
        mem_add(w, (cap - w->table_cap) * sizeof *t, w->table_cap == 0);
        w->table = t;
        w->table_cap = cap;
    }
    if (w->n_nodes == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 16;
        struct node **h = gw_realloc(w->heap, cap * sizeof *h);
        if (!h)
            return GW_ENOMEM;
        mem_add(w, (cap - w->heap_cap) * sizeof *h, w->heap_cap == 0);
        w->heap = h;
        w->heap_cap = cap;
    }
    return 0;
}

/* Removes n from the table, shifting back the entries of its probe run. */
static void table_remove(struct gw_windows *w, struct node *n)
{
    size_t mask = w->table_cap - 1, i = table_home(w->table_cap, n->hash);
    while (w->table[i] != n)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; w->table[j]; j = (j + 1) & mask) {
        size_t home = table_home(w->table_cap, w->table[j]->hash);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            w->table[i] = w->table[j];
            i = j;
        }
    }
    w->table[i] = NULL;
}

static int node_before(const struct node *a, const struct node *b)
{
    return a->wake_ms < b->wake_ms || (a->wake_ms == b->wake_ms && a->seq < b->seq);
}

static void heap_set(struct gw_windows *w, size_t i, struct node *n)
{
    w->heap[i] = n;
    n->heap_pos = i;
}

static void heap_up(struct gw_windows *w, size_t i)
{
    struct node *n = w->heap[i];
    while (i > 0 && node_before(n, w->heap[(i - 1) / 2])) {
        heap_set(w, i, w->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(w, i, n);
}

static void heap_down(struct gw_windows *w, size_t i)
{
    struct node *n = w->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n_nodes)
            break;
        if (c + 1 < w->n_nodes && node_before(w->heap[c + 1], w->heap[c]))
            c++;
        if (!node_before(w->heap[c], n))
            break;
        heap_set(w, i, w->heap[c]);
        i = c;
    }
    heap_set(w, i, n);
}

/* Puts n back in order after its due_ms changed. */
static void heap_fix(struct gw_windows *w, struct node *n)
{
    heap_up(w, n->heap_pos);
    heap_down(w, n->heap_pos);
}

/* ---- clocks ---- */

/*
 * The receiving clock: the arrival clock, less the time the gateway was not
 * running (gw_windows_resume() starts it again where the last arrival left
 * it). It depends on the arrivals and resumes only, so a journal replay
 * sees the same clock at every frame.
 */
static int64_t rx_now(const struct gw_windows *w)
{
    return w->rx_base_ms + (w->now_ms - w->rx_base_at_ms);
}

/*
 * A node's clock at receiving time rx: its newest timestamp, or, when that
 * is behind, the clock it had at its last value run on with the receiving
 * clock since (so a silent node's windows still close, and a node draining
 * a backlog keeps the clock it had).
 */
static int64_t node_clock(const struct node *n, int64_t rx)
{
    return n->clock_ms + (rx - n->seen_rx_ms);
}

/* Saturating a + b for times and spans that are not negative. */
static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/*
 * Sets n's heap key from its due time: the receiving time at which its
 * clock reaches due_ms; for a node without series, the time it may be
 * forgotten (see node_forget_ms()). Returns whether the key changed.
 */
static bool node_rekey(struct gw_windows *w, struct node *n)
{
    int64_t wake;
    if (n->n_series == 0)
        wake = add_sat(n->max_ts_ms, w->lv[w->n_levels - 1].width_ms + w->cfg.max_age_ms);
    else if (n->due_ms == INT64_MAX)
        wake = INT64_MAX;
    else
        wake = n->due_ms - (n->clock_ms - n->seen_rx_ms);
    bool changed = wake != n->wake_ms;
    n->wake_ms = wake;
    return changed;
}

static void heap_fix(struct gw_windows *w, struct node *n);

/*
 * A value of n stamped ts_ms arrived: n's clock runs on to now and takes
 * ts_ms when that is newer. The heap key can only come nearer.
 */
static void node_latch(struct gw_windows *w, struct node *n, int64_t ts_ms)
{
    int64_t rx = rx_now(w);
    n->clock_ms = node_clock(n, rx);
    n->seen_rx_ms = rx;
    if (ts_ms > n->max_ts_ms)
        n->max_ts_ms = ts_ms;
    if (ts_ms > n->clock_ms) {
        n->clock_ms = ts_ms;
        if (node_rekey(w, n))
            heap_fix(w, n);
    }
}

static size_t node_bytes(size_t site_len, size_t node_len)
{
    return sizeof(struct node) + site_len + node_len + 2;
}

/* Creates the node of fr with creation number seq: in the table, the heap and the list. */
static int node_new(struct gw_windows *w, struct gw_windows_frame *fr, uint64_t seq, int64_t ts_ms,
                    struct node **out)
{
    struct node *n;
    int rc = nodes_reserve(w);
    if (rc)
        return rc;
    n = gw_calloc(1, node_bytes(fr->site_len, fr->node_len));
    if (!n)
        return GW_ENOMEM;
    mem_add(w, node_bytes(fr->site_len, fr->node_len), 1);
    n->hash = fr->hash;
    n->seq = seq;
    n->due_ms = INT64_MAX;
    n->wake_ms = INT64_MAX;
    n->clock_ms = ts_ms;
    n->max_ts_ms = ts_ms;
    n->seen_rx_ms = rx_now(w);
    n->site_len = (uint8_t)fr->site_len;
    n->node_len = (uint8_t)fr->node_len;
    memcpy(n->ids, fr->site, fr->site_len);
    memcpy(n->ids + fr->site_len + 1, fr->node_id, fr->node_len);
    table_put(w->table, w->table_cap, n);
    heap_set(w, w->n_nodes++, n);
    heap_up(w, n->heap_pos);
    n->prev = w->tail;
    if (w->tail)
        w->tail->next = n;
    else
        w->head = n;
    w->tail = n;
    fr->node = n;
    *out = n;
    return 0;
}

/* Frees a summary's buffers, counting them. */
static void sketch_fini(struct gw_windows *w, struct gw_qsketch *sk)
{
    mem_add(w, -gw_qsketch_heap_bytes(sk), -gw_qsketch_heap_blocks(sk));
    gw_qsketch_fini(sk);
}

/* Frees part k of s, keeping the others in order. */
static void part_drop(struct gw_windows *w, struct series *s, size_t k)
{
    sketch_fini(w, &s->parts[k].sk);
    s->n_parts--;
    memmove(s->parts + k, s->parts + k + 1, (s->n_parts - k) * sizeof *s->parts);
    w->st.parts--;
}

static void series_free(struct gw_windows *w, struct series *s)
{
    for (size_t i = 0; s->quantiles && i < w->n_slots; i++)
        sketch_fini(w, slot_sketch(w, s, i));
    while (s->n_parts > 0)
        part_drop(w, s, s->n_parts - 1);
    if (s->parts)
        mem_add(w, -(s->cap_parts * sizeof *s->parts), (size_t)-1);
    gw_free(s->parts);
    mem_add(w, -series_bytes(w, s->quantiles, strlen(s->sensor)), (size_t)-1);
    gw_free(s);
}

/* Frees n, which holds no series any more, and takes it out of every index. */
static void node_drop(struct gw_windows *w, struct node *n)
{
    struct node *last = w->heap[--w->n_nodes];
    table_remove(w, n);
    if (last != n) {
        heap_set(w, n->heap_pos, last);
        heap_fix(w, last);
    }
    if (n->prev)
        n->prev->next = n->next;
    else
        w->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        w->tail = n->prev;
    mem_add(w, -(node_bytes(n->site_len, n->node_len) + n->cap_series * sizeof *n->series),
            -(size_t)(1 + (n->series != NULL)));
    gw_free(n->series);
    gw_free(n);
}

/* Frees every node and series: w is as gw_windows_new() made it. */
static void windows_clear(struct gw_windows *w)
{
    struct node *n, *next;
    for (n = w->head; n; n = next) {
        next = n->next;
        for (uint32_t k = 0; k < n->n_series; k++)
            series_free(w, n->series[k]);
        gw_free(n->series);
        gw_free(n);
    }
    gw_free(w->table);
    gw_free(w->heap);
    w->table = NULL;
    w->heap = NULL;
    w->head = w->tail = NULL;
    w->table_cap = w->heap_cap = w->n_nodes = 0;
    w->next_seq = 0;
    w->now_ms = 0;
    w->rx_base_ms = w->rx_base_at_ms = 0;
    memset(&w->st, 0, sizeof w->st);
    mem_reset(w);
}

void gw_windows_free(struct gw_windows *w)
{
    if (!w)
        return;
    windows_clear(w);
    gw_qsketch_fini(&w->scratch);
    gw_free(w);
}

/* ---- series ---- */

/* Orders series by quantity, lane, vehicle class, sensor: < 0 when s comes before the key. */
static int series_cmp(const struct series *s, const struct gw_series_key *key, const char *sensor)
{
    if (s->quantity != key->quantity)
        return s->quantity < key->quantity ? -1 : 1;
    if (s->lane != key->lane)
        return s->lane < key->lane ? -1 : 1;
    if (s->vehicle_class != key->vehicle_class)
        return s->vehicle_class < key->vehicle_class ? -1 : 1;
    return strcmp(s->sensor, sensor);
}

/* Where key's series is in n, or would go; *found says whether it is there. */
static size_t node_search(const struct node *n, const struct gw_series_key *key, const char *sensor,
                          int *found)
{
    size_t lo = 0, hi = n->n_series;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = series_cmp(n->series[mid], key, sensor);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Creates the series of key (sensor validated, sensor_len bytes) at index at of n. */
static int series_new(struct gw_windows *w, struct node *n, size_t at,
                      const struct gw_series_key *key, const char *sensor, size_t sensor_len,
                      bool quantiles, struct series **out)
{
    struct series *s;
    if (n->n_series == n->cap_series) {
        uint32_t cap = n->cap_series ? 2 * n->cap_series : 4;
        struct series **grown = gw_realloc(n->series, cap * sizeof *grown);
        if (!grown)
            return GW_ENOMEM;
        mem_add(w, (cap - n->cap_series) * sizeof *grown, n->cap_series == 0);
        n->series = grown;
        n->cap_series = cap;
    }
    s = gw_calloc(1, series_bytes(w, quantiles, sensor_len));
    if (!s)
        return GW_ENOMEM;
    mem_add(w, series_bytes(w, quantiles, sensor_len), 1);
    s->node = n;
    s->due_ms = INT64_MAX;
    s->lane = key->lane;
    s->quantity = key->quantity;
    s->vehicle_class = key->vehicle_class;
    s->quantiles = quantiles;
    for (size_t i = 0; quantiles && i < w->n_slots; i++)
        gw_qsketch_init(slot_sketch(w, s, i));
    char *copy =
        (char *)(s->slots + w->n_slots) + (quantiles ? w->n_slots * sizeof(struct gw_qsketch) : 0);
    memcpy(copy, sensor, sensor_len);
    copy[sensor_len] = '\0';
    s->sensor = copy;
    memmove(n->series + at + 1, n->series + at, (n->n_series - at) * sizeof *n->series);
    n->series[at] = s;
    n->n_series++;
    w->st.series++;
    *out = s;
    return 0;
}

/* Frees series k of n, which holds no window. */
static void series_drop(struct gw_windows *w, struct node *n, size_t k)
{
    series_free(w, n->series[k]);
    n->n_series--;
    memmove(n->series + k, n->series + k + 1, (n->n_series - k) * sizeof *n->series);
    w->st.series--;
}

/* ---- windows ---- */

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

static void slot_merge(struct slot *dst, const struct slot *src)
{
    dst->count += src->count;
    dst->sum += src->sum;
    dst->sumsq += src->sumsq;
    dst->min = src->min < dst->min ? src->min : dst->min;
    dst->max = src->max > dst->max ? src->max : dst->max;
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

/* A live window below another one: its level and slot (slots number at most 6 * 64). */
struct below {
    uint16_t level, i;
};

#define MAX_BELOW ((GW_WINDOW_MAX_LEVELS - 1) * GW_WINDOW_MAX_RING)

/* The live windows inside the span of window i of level, at lower levels, lowest level first. */
static size_t windows_below(const struct gw_windows *w, const struct series *s, unsigned level,
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
static uint64_t window_count(const struct gw_windows *w, const struct series *s, unsigned level,
                             size_t i)
{
    struct below d[MAX_BELOW];
    size_t n = windows_below(w, s, level, i, d);
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
static int slot_retire(struct gw_windows *w, struct series *s, unsigned level, size_t i)
{
    struct below d[MAX_BELOW];
    size_t n = windows_below(w, s, level, i, d);
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
 * Finds the slot of the window of level starting at start_ms, retiring a
 * finished occupant (finished at clock_ms, the node's clock).
 */
static int slot_claim(struct gw_windows *w, struct series *s, unsigned level, int64_t start_ms,
                      int64_t clock_ms, size_t *out)
{
    size_t i = slot_index(w, level, start_ms);
    const struct slot *sl = &s->slots[i];

    if (sl->state != SLOT_FREE && sl->start_ms != start_ms) {
        if (sl->state != SLOT_EMITTED ||
            clock_ms < sl->start_ms + w->lv[level].width_ms + w->cfg.late_horizon_ms)
            return GW_EFULL;
        int rc = slot_retire(w, s, level, i);
        if (rc)
            return rc;
    }
    *out = i;
    return 0;
}

/*
 * The receiving time at which a part of arrival bucket part_ms is done, on
 * the clock of a node that reads clock_ms at receiving time rx.
 */
static int64_t part_due(const struct gw_windows *w, int64_t part_ms, int64_t clock_ms, int64_t rx)
{
    return part_ms + w->base_ms + (clock_ms - rx);
}

/*
 * When, on its node's clock (clock_ms at receiving time rx), advance next
 * has work in s: emit, re-emit or retire one of its windows, or emit and
 * drop a part.
 */
static int64_t series_due(const struct gw_windows *w, const struct series *s, int64_t clock_ms,
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
 * A value is about to be folded into window i of level (starting at
 * start_ms) or below it: opens a free slot, or marks an emitted window
 * dirty (GW_WINDOW_LATE into *h), keeping s->due_ms and the counters.
 * Returns whether the window is open (not emitted yet).
 */
static bool slot_touch(struct gw_windows *w, struct series *s, unsigned level, size_t i,
                       int64_t start_ms, int64_t clock_ms, unsigned *h)
{
    const struct level *lv = &w->lv[level];
    struct slot *sl = &s->slots[i];
    if (sl->state == SLOT_FREE) {
        slot_open(sl, start_ms);
        w->st.windows_pending++;
        s->due_ms = min64(s->due_ms, sl->start_ms + lv->width_ms + w->cfg.grace_ms);
    } else if (sl->state == SLOT_EMITTED) {
        sl->state = SLOT_DIRTY;
        w->st.windows_retained--;
        w->st.windows_pending++;
        s->due_ms = min64(s->due_ms, clock_ms);
        *h |= GW_WINDOW_LATE;
    } else if (sl->state == SLOT_DIRTY) {
        *h |= GW_WINDOW_LATE; /* emitted and corrected already: this value is late too */
    }
    return sl->state == SLOT_OPEN;
}

/* The part of s at level for the window starting at start_ms and arrival bucket part_ms. */
static size_t part_find(const struct series *s, unsigned level, int64_t start_ms, int64_t part_ms)
{
    for (size_t k = 0; k < s->n_parts; k++)
        if (s->parts[k].level == level && s->parts[k].sl.start_ms == start_ms &&
            s->parts[k].part_ms == part_ms)
            return k;
    return SIZE_MAX;
}

/* Makes room for need more parts in s. */
static int parts_reserve(struct gw_windows *w, struct series *s, size_t need)
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
 * Folds a value of s at ts_ms on its node's clock (clock_ms): into the
 * window of the lowest level still within the late horizon (the base, but
 * for a value past the horizon) and the windows above it, and into the part
 * of the receiving clock's bucket of each retired window below (window.h).
 * All or nothing; GW_WINDOW_LATE into *h when an emitted window changed.
 * Caches the base window in s when it took the value and it and every
 * window above are open. Returns 0, GW_ERANGE (too late: no room for the
 * parts, counted; or a window or part full), GW_EFULL (busy, counted) or
 * GW_ENOMEM.
 */
static int add_value(struct gw_windows *w, struct series *s, int64_t ts_ms, double value,
                     int64_t clock_ms, unsigned *h)
{
    size_t at[GW_WINDOW_MAX_LEVELS] = {0}, idx[GW_WINDOW_MAX_LEVELS] = {0}, need = 0;
    int64_t rx = rx_now(w), part_ms = rx - rx % w->base_ms;
    unsigned low = 0; /* the levels below low are retired: parts */
    bool all_open = true;
    struct gw_qkey qkey;
    int rc = 0;

    while (low < w->n_levels &&
           ts_ms - ts_ms % w->lv[low].width_ms + w->lv[low].width_ms + w->cfg.late_horizon_ms <=
               clock_ms)
        low++;
    for (unsigned l = 0; l < low; l++) {
        at[l] = part_find(s, l, ts_ms - ts_ms % w->lv[l].width_ms, part_ms);
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
        rc = slot_claim(w, s, l, ts_ms - ts_ms % w->lv[l].width_ms, clock_ms, &idx[l]);
        if (rc == GW_EFULL)
            w->st.busy++;
        if (rc)
            return rc;
    }
    if (low < w->n_levels && s->slots[idx[low]].state != SLOT_FREE &&
        window_count(w, s, low, idx[low]) >= w->lv[low].max_count)
        return GW_ERANGE;
    if ((rc = parts_reserve(w, s, need)) != 0)
        return rc;
    for (unsigned l = 0; l < low; l++)
        if (at[l] >= s->n_parts) {
            struct part *p = &s->parts[at[l]];
            slot_open(&p->sl, ts_ms - ts_ms % w->lv[l].width_ms);
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
        all_open =
            slot_touch(w, s, l, idx[l], ts_ms - ts_ms % w->lv[l].width_ms, clock_ms, h) && all_open;
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
 * if it exists; else at is where it goes in fr's node (if any). Kept out of
 * line: inlined, it made the fast path save and restore six registers more.
 */
__attribute__((noinline)) static int add_slow(struct gw_windows *w, struct gw_windows_frame *fr,
                                              unsigned pos, const struct gw_series_key *key,
                                              struct series *s, size_t at, const char *sensor,
                                              size_t sensor_len, int64_t ts_ms, double value,
                                              unsigned *hints)
{
    struct node *n = fr->node;
    unsigned h = 0;
    bool new_node = false;
    int rc = 0;
    /* A new node's clock starts at its first value. */
    int64_t clock_ms = n ? node_clock(n, rx_now(w)) : ts_ms;

    if (ts_ms < 0) {
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
            rc = node_new(w, fr, w->next_seq, ts_ms, &n);
            if (rc)
                return rc;
            w->next_seq++;
            new_node = true;
        }
        rc = series_new(w, n, at, key, sensor, sensor_len, key->quantiles, &s);
        if (rc)
            goto out;
        h |= GW_WINDOW_NEW_SERIES;
        if (pos < HINTS && at <= HINT_MAX_INDEX)
            n->hint[pos] = (uint8_t)(at + 1);
    }
    s->cur_ok = 0;
    if ((rc = add_value(w, s, ts_ms, value, clock_ms, &h)) != 0)
        goto out;
    if (s->due_ms < n->due_ms) {
        n->due_ms = s->due_ms;
        if (node_rekey(w, n))
            heap_fix(w, n);
    }
    w->st.values_added++;
    w->st.series_created += (h & GW_WINDOW_NEW_SERIES) != 0;
    w->st.values_late += (h & GW_WINDOW_LATE) != 0;
    if (hints)
        *hints = h;
out:
    if (rc && (h & GW_WINDOW_NEW_SERIES))
        series_drop(w, n, at);
    if (rc && new_node) {
        node_drop(w, n);
        fr->node = NULL;
    }
    return rc;
}

int gw_windows_frame_begin(struct gw_windows *w, const char *site, const char *node,
                           struct gw_windows_frame *fr)
{
    size_t site_len, node_len;
    if (!site || !node)
        return GW_EINVAL;
    site_len = strnlen(site, GW_WINDOW_MAX_ID_BYTES + 1);
    node_len = strnlen(node, GW_WINDOW_MAX_ID_BYTES + 1);
    if (site_len == 0 || site_len > GW_WINDOW_MAX_ID_BYTES || node_len == 0 ||
        node_len > GW_WINDOW_MAX_ID_BYTES)
        return GW_EINVAL;
    fr->site = site;
    fr->node_id = node;
    fr->site_len = (unsigned)site_len;
    fr->node_len = (unsigned)node_len;
    fr->hash = ids_hash(site, site_len, node, node_len);
    fr->pos = 0;
    fr->node = table_find(w, fr);
    return 0;
}

int gw_windows_frame_add(struct gw_windows *w, struct gw_windows_frame *fr,
                         const struct gw_series_key *key, int64_t ts_ms, double value,
                         int64_t now_ms, unsigned *hints)
{
    struct node *n = fr->node;
    struct series *s = NULL;
    const char *sensor = key->sensor ? key->sensor : "";
    unsigned pos = fr->pos < HINTS ? fr->pos++ : HINTS;
    size_t at = 0, sensor_len = 0;

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
        sensor_len = strnlen(sensor, GW_WINDOW_MAX_ID_BYTES + 1);
        if (sensor_len > GW_WINDOW_MAX_ID_BYTES)
            return GW_EINVAL;
        if (n) {
            at = node_search(n, key, sensor, &found);
            if (found) {
                s = n->series[at];
                if (pos < HINTS && at <= HINT_MAX_INDEX)
                    n->hint[pos] = (uint8_t)(at + 1);
            }
        }
    }
    if (now_ms > w->now_ms)
        w->now_ms = min64(now_ms, MAX_TIME_MS);
    if (ts_ms > w->now_ms + w->cfg.max_ahead_ms) {
        w->st.too_early++;
        return GW_ERANGE;
    }
    if (n)
        node_latch(w, n, ts_ms);
    if (!s || !s->cur_ok || (uint64_t)ts_ms - (uint64_t)s->cur_start_ms >= (uint64_t)w->base_ms)
        return add_slow(w, fr, pos, key, s, at, sensor, sensor_len, ts_ms, value, hints);

    /* The cached window: open, like every window above it, so only it changes. */
    struct slot *sl = &s->slots[s->cur_idx];
    if (s->cur_start_ms + w->late_after_ms <= n->clock_ms)
        return add_slow(w, fr, pos, key, s, at, sensor, sensor_len, ts_ms, value, hints);
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

int gw_windows_add(struct gw_windows *w, const struct gw_series_key *key, int64_t ts_ms,
                   double value, int64_t now_ms, unsigned *hints)
{
    struct gw_windows_frame fr;
    int rc = gw_windows_frame_begin(w, key->site, key->node, &fr);
    if (rc)
        return rc;
    fr.pos = HINTS; /* a lone reading: leave the hints to the frames */
    return gw_windows_frame_add(w, &fr, key, ts_ms, value, now_ms, hints);
}

/* ---- emission ---- */

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * The content of window i of level: its own statistics plus those of every
 * live window below it in its span, into *total; its summary into *sketch
 * (its own when nothing below is live, else built in w->scratch).
 */
static int window_total(struct gw_windows *w, struct series *s, unsigned level, size_t i,
                        struct slot *total, const struct gw_qsketch **sketch)
{
    struct below d[MAX_BELOW];
    size_t n = windows_below(w, s, level, i, d);
    int rc = 0;

    *total = s->slots[i];
    *sketch = s->quantiles ? slot_sketch(w, s, i) : NULL;
    if (s->quantiles && n > 0) {
        gw_qsketch_reset(&w->scratch);
        rc = sketch_merge(w, &w->scratch, *sketch);
        *sketch = &w->scratch;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (s->quantiles)
            rc = sketch_merge(w, &w->scratch, slot_sketch(w, s, d[k].i));
        slot_merge(total, &s->slots[d[k].i]);
    }
    return rc;
}

/*
 * Hands emit the aggregate of s at level with content total (its start,
 * statistics) and summary sketch (NULL without quantiles), as emission
 * revision; part_ms >= 0 makes it the part of that arrival bucket.
 */
static int agg_emit(const struct gw_windows *w, const struct series *s, unsigned level,
                    const struct slot *total, const struct gw_qsketch *sketch, uint32_t revision,
                    int64_t part_ms, gw_window_emit_fn emit, void *ctx)
{
    struct gw_aggregate a;
    memset(&a, 0, sizeof a);
    a.key.site = s->node->ids;
    a.key.node = s->node->ids + s->node->site_len + 1;
    a.key.sensor = s->sensor;
    a.key.lane = s->lane;
    a.key.quantity = s->quantity;
    a.key.vehicle_class = s->vehicle_class;
    a.key.quantiles = s->quantiles;
    a.level = level;
    a.width_ms = w->lv[level].width_ms;
    a.start_ms = total->start_ms;
    a.revision = revision;
    a.partial = part_ms >= 0;
    a.part_ms = a.partial ? part_ms : 0;
    a.count = total->count;
    a.sum = total->sum;
    a.min = total->min;
    a.max = total->max;
    a.sumsq = total->sumsq;
    a.mean = total->sum / total->count;
    if (sketch) {
        static const double q[3] = {0.50, 0.85, 0.95};
        double p[3];
        a.sketch = sketch;
        a.has_quantiles = gw_qsketch_quantiles(sketch, q, 3, p) == 0;
        a.p50 = clamp(p[0], a.min, a.max);
        a.p85 = clamp(p[1], a.min, a.max);
        a.p95 = clamp(p[2], a.min, a.max);
    }
    return emit(ctx, &a);
}

/* The revision of the next emission of a window or part in state sl. */
static uint32_t next_revision(const struct slot *sl)
{
    return sl->revision + (sl->state == SLOT_DIRTY && sl->revision < UINT16_MAX);
}

static int slot_emit(struct gw_windows *w, struct series *s, unsigned level, size_t i,
                     gw_window_emit_fn emit, void *ctx)
{
    struct slot *sl = &s->slots[i], total;
    const struct gw_qsketch *sketch;
    int dirty = sl->state == SLOT_DIRTY;
    uint32_t revision = next_revision(sl);
    int rc = window_total(w, s, level, i, &total, &sketch);

    if (rc == 0)
        rc = agg_emit(w, s, level, &total, sketch, revision, -1, emit, ctx);
    if (rc)
        return rc;
    sl->revision = (uint16_t)revision;
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
static int part_emit(struct gw_windows *w, struct series *s, size_t k, gw_window_emit_fn emit,
                     void *ctx)
{
    struct part *p = &s->parts[k];
    uint32_t revision = next_revision(&p->sl);
    int rc = agg_emit(w, s, p->level, &p->sl, s->quantiles ? &p->sk : NULL, revision, p->part_ms,
                      emit, ctx);
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
 * Emits what is due in s (everything pending with flush), retires what is
 * finished, and sets s->due_ms to what series_due() would say (a window
 * left live here is never retired later in the same run: a parent past its
 * horizon has only children past theirs, retired first, level by level).
 * clock_ms is the node's clock at receiving time rx. Parts are emitted and
 * dropped once rx has passed their bucket (emitted at once with flush).
 */
static int series_run(struct gw_windows *w, struct series *s, int64_t clock_ms, int64_t rx,
                      bool flush, gw_window_emit_fn emit, void *ctx)
{
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
                rc = slot_emit(w, s, l, order[k], emit, ctx);
            if (rc == 0 && sl->state == SLOT_EMITTED && clock_ms >= end_ms + w->cfg.late_horizon_ms)
                rc = slot_retire(w, s, l, order[k]);
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
            rc = part_emit(w, s, k, emit, ctx);
        if (rc == 0 && done) {
            part_drop(w, s, k);
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
static int node_run(struct gw_windows *w, struct node *n, bool flush, gw_window_emit_fn emit,
                    void *ctx)
{
    int64_t rx = rx_now(w), clock_ms = node_clock(n, rx);
    int64_t due = INT64_MAX;
    int rc = 0;
    for (size_t k = 0; k < n->n_series;) {
        struct series *s = n->series[k];
        if (rc == 0 && (flush || s->due_ms <= clock_ms)) {
            rc = series_run(w, s, clock_ms, rx, flush, emit, ctx);
            if (rc == 0 && s->due_ms == INT64_MAX) {
                series_drop(w, n, k);
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
        node_drop(w, n);
    else
        heap_fix(w, n);
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
        rc = node_run(w, w->heap[0], false, emit, ctx);
    }
    return rc;
}

int gw_windows_frame_clock(struct gw_windows *w, struct gw_windows_frame *fr, int64_t ts_ms,
                           int64_t now_ms, gw_window_emit_fn emit, void *ctx)
{
    struct node *n = fr->node;
    int rc = 0;
    if (now_ms > w->now_ms)
        w->now_ms = min64(now_ms, MAX_TIME_MS);
    if (!n || ts_ms < 0 || ts_ms > w->now_ms + w->cfg.max_ahead_ms)
        return 0; /* nothing to run yet, or the adds refuse it */
    node_latch(w, n, ts_ms);
    if (n->wake_ms <= rx_now(w)) {
        rc = node_run(w, n, false, emit, ctx);
        fr->node = table_find(w, fr); /* the run may have dropped it */
    }
    return rc;
}

void gw_windows_resume(struct gw_windows *w, int64_t now_ms)
{
    w->rx_base_ms = rx_now(w);
    if (now_ms > w->now_ms)
        w->now_ms = min64(now_ms, MAX_TIME_MS);
    w->rx_base_at_ms = w->now_ms;
}

int gw_windows_flush_all(struct gw_windows *w, gw_window_emit_fn emit, void *ctx)
{
    struct node *n, *next;
    int rc = 0;
    for (n = w->head; n && rc == 0; n = next) {
        next = n->next;
        rc = node_run(w, n, true, emit, ctx);
    }
    return rc;
}

void gw_windows_stats(const struct gw_windows *w, struct gw_windows_stats *out)
{
    *out = w->st;
    out->nodes = w->n_nodes;
}

/* ---- snapshot and restore ---- */

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

/*
 * Reads a window (a slot or a part) of s up to its summary into *v and
 * *level_out; checks it against the config and the node's clock.
 */
static int get_window(const struct gw_windows *w, const struct series *s, struct gw_rbuf *in,
                      unsigned *level_out, struct slot *v_out)
{
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
static int get_sketch(struct gw_windows *w, const struct series *s, struct gw_rbuf *in,
                      struct gw_qsketch *sk, uint32_t count, char *text)
{
    if (!s->quantiles)
        return 0;
    gw_get_str(in, text, GW_QSKETCH_TEXT_MAX);
    if (in->bad)
        return GW_EINVAL;
    struct mem before = sketch_mem(sk);
    int rc = gw_qsketch_parse(sk, text, strlen(text), NULL);
    sketch_moved(w, sk, before);
    if (rc == 0 && gw_qsketch_count(sk) != count)
        rc = GW_EINVAL;
    return rc;
}

/* Reads one window of s; checks it against the config, the clock and what is already there. */
static int get_slot(struct gw_windows *w, struct series *s, struct gw_rbuf *in, char *text)
{
    struct slot v;
    unsigned level;
    int rc = get_window(w, s, in, &level, &v);
    if (rc)
        return rc;
    size_t i = slot_index(w, level, v.start_ms);
    if (s->slots[i].state != SLOT_FREE)
        return GW_EINVAL;
    if ((rc = get_sketch(w, s, in, slot_sketch(w, s, i), v.count, text)) != 0)
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
            if (window_count(w, s, l, i) > lv->max_count)
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
static int get_part(struct gw_windows *w, struct series *s, struct gw_rbuf *in, char *text)
{
    struct slot v;
    unsigned level;
    int64_t part_ms = get_i64(in);
    int rc = get_window(w, s, in, &level, &v);
    if (rc)
        return rc;
    if (part_ms < 0 || part_ms % w->base_ms != 0 || part_ms > rx_now(w) || v.count == 0 ||
        w->st.parts >= w->cfg.max_series || part_find(s, level, v.start_ms, part_ms) != SIZE_MAX)
        return GW_EINVAL;
    if ((rc = parts_reserve(w, s, 1)) != 0)
        return rc;
    struct part *p = &s->parts[s->n_parts];
    gw_qsketch_init(&p->sk);
    if ((rc = get_sketch(w, s, in, &p->sk, v.count, text)) != 0) {
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

static int get_series(struct gw_windows *w, struct node *n, struct gw_rbuf *in, unsigned version,
                      char *text)
{
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
    size_t at = node_search(n, &key, sensor, &found);
    if (found)
        return GW_EINVAL;
    rc = series_new(w, n, at, &key, sensor, strlen(sensor), quantiles, &s);
    for (uint32_t k = 0; k < live && rc == 0; k++)
        rc = get_slot(w, s, in, text);
    uint32_t n_parts = rc == 0 && version >= 4 ? gw_get_u32(in) : 0;
    if (rc == 0 && (in->bad || n_parts > w->cfg.max_series))
        rc = GW_EINVAL;
    for (uint32_t k = 0; k < n_parts && rc == 0; k++)
        rc = get_part(w, s, in, text);
    if (rc == 0)
        rc = series_check(w, s);
    if (rc == 0) {
        s->due_ms = min64(due_ms, series_due(w, s, node_clock(n, rx_now(w)), rx_now(w)));
        n->due_ms = min64(n->due_ms, s->due_ms);
    }
    return rc;
}

static int get_node(struct gw_windows *w, struct gw_rbuf *in, unsigned version, uint64_t *last_seq,
                    char *text)
{
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
    if (in->bad || seq >= w->next_seq || (*last_seq != UINT64_MAX && seq <= *last_seq) ||
        (version < 3 && n_series < 1) || n_series > w->cfg.max_series - w->st.series ||
        clock_ms < 0 || clock_ms > MAX_TIME_MS || seen_rx_ms < 0 || seen_rx_ms > rx_now(w) ||
        max_ts_ms < 0 || max_ts_ms > MAX_TIME_MS)
        return GW_EINVAL;
    *last_seq = seq;
    rc = gw_windows_frame_begin(w, site, node, &fr);
    if (rc == 0 && fr.node)
        rc = GW_EINVAL; /* the same node twice */
    if (rc == 0)
        rc = node_new(w, &fr, seq, clock_ms, &n);
    if (rc == 0) {
        n->seen_rx_ms = seen_rx_ms;
        n->max_ts_ms = max_ts_ms;
    }
    for (uint32_t k = 0; k < n_series && rc == 0; k++)
        rc = get_series(w, n, in, version, text);
    if (rc == 0) {
        node_rekey(w, n);
        heap_fix(w, n);
    }
    return rc;
}

static int restore_body(struct gw_windows *w, struct gw_rbuf *in)
{
    char text[GW_QSKETCH_TEXT_MAX];
    struct gw_windows_config cfg;
    struct gw_windows_stats st;
    uint64_t last_seq = UINT64_MAX;
    int rc = 0;

    memset(&cfg, 0, sizeof cfg);
    unsigned version = gw_get_u32(in);
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
        rc = get_node(w, in, version, &last_seq, text);
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
        windows_clear(w);
        if (rc != GW_ENOMEM)
            rc = GW_EINVAL;
    }
    return rc;
}
