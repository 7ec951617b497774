/*
 * window_internal.h -- what the files of the aggregation stage share: the
 * state (nodes, series, their windows and parts), the small helpers every
 * job inlines, and the cross-file functions (gw__window_*).
 *
 * The stage is one module, window.h, in five files named after their jobs:
 * window.c (configuration, lifecycle, the overview), window_index.c (the
 * node table, the due heap, series arrays), window_add.c (adding values:
 * claims, parts, retiring into parents), window_emit.c (emitting what is
 * due) and window_snapshot.c (snapshot and restore). Nothing outside them
 * includes this header. The helpers on the path of every value are static
 * inline here, so that splitting the stage costs the frame no calls.
 */
#ifndef CITYGATE_WINDOW_INTERNAL_H
#define CITYGATE_WINDOW_INTERNAL_H

#include "window.h"

#define MAX_TIME_MS (1LL << 60) /* the clock is clamped here, so time sums cannot overflow */
#define HINTS 16                /* readings per frame whose series a node remembers */
#define HINT_MAX_INDEX 254      /* hints are stored as index + 1 in a byte */

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

/* A live window below another one: its level and slot (slots number at most 6 * 64). */
struct below {
    uint16_t level, i;
};

#define MAX_BELOW ((GW_WINDOW_MAX_LEVELS - 1) * GW_WINDOW_MAX_RING)

/* ---- window_index.c ---- */

/* The node of fr (gw_windows_frame_begin() filled its ids and hash), or NULL. */
struct node *gw__window_find(const struct gw_windows *w, const struct gw_windows_frame *fr);
/* Puts n back in order after its heap key changed. */
void gw__window_heap_fix(struct gw_windows *w, struct node *n);
int gw__window_node_new(struct gw_windows *w, struct gw_windows_frame *fr, uint64_t seq,
                        int64_t ts_ms, struct node **out);
void gw__window_node_drop(struct gw_windows *w, struct node *n);
size_t gw__window_node_search(const struct node *n, const struct gw_series_key *key,
                              const char *sensor, int *found);
int gw__window_series_new(struct gw_windows *w, struct node *n, size_t at,
                          const struct gw_series_key *key, struct series **out);
void gw__window_series_drop(struct gw_windows *w, struct node *n, size_t k);
void gw__window_part_drop(struct gw_windows *w, struct series *s, size_t k);
void gw__window_clear(struct gw_windows *w);

/* ---- window_add.c ---- */

size_t gw__window_below(const struct gw_windows *w, const struct series *s, unsigned level,
                        size_t i, struct below *out);
uint64_t gw__window_count(const struct gw_windows *w, const struct series *s, unsigned level,
                          size_t i);
int gw__window_retire(struct gw_windows *w, struct series *s, unsigned level, size_t i);
size_t gw__window_part_find(const struct series *s, unsigned level, int64_t start_ms,
                            int64_t part_ms);
int gw__window_parts_reserve(struct gw_windows *w, struct series *s, size_t need);

/* ---- window_emit.c ---- */

int64_t gw__window_series_due(const struct gw_windows *w, const struct series *s, int64_t clock_ms,
                              int64_t rx);

/* ---- helpers every job inlines ---- */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Counts blocks of bytes allocated (or, negated, freed: size_t arithmetic wraps back). */
static inline void mem_add(struct gw_windows *w, size_t bytes, size_t blocks)
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

/* gw_qsketch_merge(), counting what it allocates. */
static inline int sketch_merge(struct gw_windows *w, struct gw_qsketch *dst,
                               const struct gw_qsketch *src)
{
    struct mem before = sketch_mem(dst);
    int rc = gw_qsketch_merge(dst, src);
    sketch_moved(w, dst, before);
    return rc;
}

/* Frees a summary's buffers, counting them. */
static inline void sketch_fini(struct gw_windows *w, struct gw_qsketch *sk)
{
    mem_add(w, -gw_qsketch_heap_bytes(sk), -gw_qsketch_heap_blocks(sk));
    gw_qsketch_fini(sk);
}

/* The heap of a w without nodes: itself and the scratch sketch's buffers. */
static inline void mem_reset(struct gw_windows *w)
{
    struct mem scratch = sketch_mem(&w->scratch);
    w->st.memory_bytes = sizeof *w + scratch.bytes;
    w->st.memory_blocks = 1 + scratch.blocks;
}

static inline struct gw_qsketch *slot_sketch(const struct gw_windows *w, struct series *s, size_t i)
{
    return (struct gw_qsketch *)(void *)(s->slots + w->n_slots) + i;
}

/* Index of the slot that holds the window of level starting at start_ms. */
static inline size_t slot_index(const struct gw_windows *w, unsigned level, int64_t start_ms)
{
    const struct level *lv = &w->lv[level];
    return lv->first + (size_t)((uint64_t)start_ms / (uint64_t)lv->width_ms % lv->ring);
}

/*
 * The receiving clock: the arrival clock, less the time the gateway was not
 * running (gw_windows_resume() starts it again where the last arrival left
 * it). It depends on the arrivals and resumes only, so a journal replay
 * sees the same clock at every frame.
 */
static inline int64_t rx_now(const struct gw_windows *w)
{
    return w->rx_base_ms + (w->now_ms - w->rx_base_at_ms);
}

/*
 * A node's clock at receiving time rx: its newest timestamp, or, when that
 * is behind, the clock it had at its last value run on with the receiving
 * clock since (so a silent node's windows still close, and a node draining
 * a backlog keeps the clock it had).
 */
static inline int64_t node_clock(const struct node *n, int64_t rx)
{
    return n->clock_ms + (rx - n->seen_rx_ms);
}

/* Saturating a + b for times and spans that are not negative. */
static inline int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/*
 * Sets n's heap key from its due time: the receiving time at which its
 * clock reaches due_ms; for a node without series, the time it may be
 * forgotten (see node_forget_ms()). Returns whether the key changed.
 */
static inline bool node_rekey(struct gw_windows *w, struct node *n)
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

/*
 * A value of n stamped ts_ms arrived: n's clock runs on to now and takes
 * ts_ms when that is newer. The heap key can only come nearer.
 */
static inline void node_latch(struct gw_windows *w, struct node *n, int64_t ts_ms)
{
    int64_t rx = rx_now(w);
    n->clock_ms = node_clock(n, rx);
    n->seen_rx_ms = rx;
    if (ts_ms > n->max_ts_ms)
        n->max_ts_ms = ts_ms;
    if (ts_ms > n->clock_ms) {
        n->clock_ms = ts_ms;
        if (node_rekey(w, n))
            gw__window_heap_fix(w, n);
    }
}

static inline void slot_merge(struct slot *dst, const struct slot *src)
{
    dst->count += src->count;
    dst->sum += src->sum;
    dst->sumsq += src->sumsq;
    dst->min = src->min < dst->min ? src->min : dst->min;
    dst->max = src->max > dst->max ? src->max : dst->max;
}

/*
 * The receiving time at which a part of arrival bucket part_ms is done, on
 * the clock of a node that reads clock_ms at receiving time rx.
 */
static inline int64_t part_due(const struct gw_windows *w, int64_t part_ms, int64_t clock_ms,
                               int64_t rx)
{
    return part_ms + w->base_ms + (clock_ms - rx);
}

#endif
