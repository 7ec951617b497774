/*
 * window.h -- tumbling-window aggregation per series, with a watermark per
 * node driven by the frames' own timestamps, late rewrites and rollup
 * levels.
 *
 * A series is (site, node, sensor, lane, quantity, vehicle class). Each
 * value counts in one window per level (30 s, 5 min, 15 min, 1 h by
 * default), aligned on multiples of the width since the Unix epoch, so the
 * 5-min aggregate is exactly the merge of its ten 30-s aggregates.
 *
 * Time: ts_ms is the value's own timestamp (it picks the window); now_ms is
 * the gateway's arrival clock (the journal replays it, so a replay takes the
 * same decisions). Windows close on event time, node by node: each (site,
 * node) has a clock, its newest value's timestamp, which runs on with the
 * receiving clock while the node sends nothing newer (silent, or draining a
 * backlog of older frames). The receiving clock is the arrival clock less
 * the time the gateway was down: gw_windows_resume() at a start makes it
 * go on from the last arrival, so a restarted gateway takes the broker's
 * backlog on time, and a historical replay (timestamps weeks old) is
 * windowed by its own time. No node holds another's windows back.
 *
 * With C the node's clock: a window [start, start + width) is emitted once
 * C >= start + width + grace_ms. It is kept until
 * C >= start + width + late_horizon_ms: a value for it that arrives in
 * between updates it and it is emitted again, corrected, with the same key
 * and start (the store overwrites the point, so rewrites are idempotent).
 *
 * Later values (a node draining its backlog while its live frames move its
 * clock on) still count, exactly once: at the lowest level whose window is
 * still within the horizon, the value joins that window as any other; at
 * each level below, whose window is retired (its point written), it goes
 * into a part of that window: the values of it that arrive while the
 * receiving clock is in one base-width bucket [part_ms, part_ms + base).
 * A part is emitted as its own point (partial set, same start, a part tag
 * in the store) once the receiving clock passes its bucket, then dropped;
 * a reader adds a window's parts to its point. Parts are keyed by arrival,
 * so a journal replay rebuilds each with the same values, and they are in
 * the snapshot, so a replay from one never writes a part with less. At
 * most max_series parts are kept at once; a value that would need another
 * is too late: counted and folded nowhere. A node whose series are all
 * retired keeps its clock (a few dozen bytes) until its newest timestamp
 * plus the top width is max_age_ms behind the receiving clock, so that no
 * retired window is ever opened again (its values go to parts).
 *
 * Emission order (deterministic, so that a replay or a restored snapshot
 * emits the same aggregates in the same order): nodes (site, node) by the
 * time their next window falls due, then by creation; within a node, series
 * by quantity, lane, vehicle class and sensor; within a series, by level,
 * then start.
 *
 * Memory: every series holds a fixed ring of window slots per level, sized
 * from the config (ceil((late_horizon_ms + max_ahead_ms) / width) + 1), and,
 * when it keeps quantiles, one gw_qsketch per slot whose buffers are reused
 * when the slot is. In steady state adding a value does not allocate. With
 * the defaults (12 slots) test_window measures about 1.9 KiB requested per
 * series with quantiles (13 heap blocks) and 0.6 KiB without, node and
 * scheduling overhead included.
 *
 * Thread rules: a struct gw_windows is used by one thread at a time.
 */
#ifndef CITYGATE_GW_WINDOW_H
#define CITYGATE_GW_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qsketch.h"
#include "serial.h"

#define GW_WINDOW_MAX_LEVELS 6
#define GW_WINDOW_MAX_ID_BYTES 64 /* site, node and sensor ids, as in docs/data-model.md */
#define GW_WINDOW_MAX_RING 64     /* most window slots per level */

struct gw_windows_config {
    int64_t widths_ms[GW_WINDOW_MAX_LEVELS]; /* base first, increasing, multiples of the base */
    unsigned n_widths;
    int64_t grace_ms;        /* emit a window this long after its end */
    int64_t late_horizon_ms; /* keep it this long after its end for late rewrites (>= grace) */
    int64_t max_ahead_ms;    /* accept ts_ms up to now_ms + this (node clocks run ahead) */
    int64_t max_age_ms;      /* values older than now_ms - this are refused before (validate.h) */
    size_t max_series;       /* more series are refused with GW_EFULL; also the most parts */
    size_t max_node_series;  /* more series of one (site, node) are refused with GW_EFULL */
};

/*
 * Fills cfg with the defaults: widths 30 s, 5 min, 15 min, 1 h; grace 60 s
 * (two base windows); late horizon 120 s (four base windows, so late values
 * are taken for one more minute after the first emission); max_ahead 30 s;
 * max_age 24 h; max_series 100000 (series, and nodes); max_node_series 1000.
 */
void gw_windows_config_default(struct gw_windows_config *cfg);

/* Checks cfg. Returns 0, or GW_ECONFIG with a sentence in why (why_len bytes, may be 0). */
int gw_windows_config_check(const struct gw_windows_config *cfg, char *why, size_t why_len);

/* Identifies a series. Strings are borrowed for the call and copied when a series is created. */
struct gw_series_key {
    const char *site;       /* 1..64 bytes */
    const char *node;       /* 1..64 bytes */
    const char *sensor;     /* 0..64 bytes; "" when the reading names none */
    uint32_t lane;          /* 0 = not lane-specific */
    uint32_t quantity;      /* Citygate__V1__Quantity, or a vehicle series (traffic.h) */
    uint32_t vehicle_class; /* Citygate__V1__VehicleClass; 0 unless a count by class */
    bool quantiles;         /* keep p50/p85/p95; not part of the identity, read at creation */
};

/* One closed (or corrected) window, handed to the emit callback. */
struct gw_aggregate {
    struct gw_series_key key; /* strings borrowed for the duration of the callback */
    unsigned level;           /* index into widths_ms */
    int64_t width_ms;
    int64_t start_ms;  /* the point's timestamp: window start, never arrival time */
    uint32_t revision; /* 0 for the first emission, n for the nth correction */
    bool partial;      /* a part of a retired window, not the whole window (see the top) */
    int64_t part_ms;   /* a part's arrival bucket on the receiving clock; 0 when not partial */
    uint32_t count;
    double sum, min, max, sumsq, mean;
    bool has_quantiles;
    double p50, p85, p95;            /* within GW_QSKETCH_ALPHA, clamped to [min, max] */
    const struct gw_qsketch *sketch; /* borrowed for the callback; NULL without quantiles */
};

/*
 * Receives an aggregate. Returns 0, or a negative code to stop: the window
 * stays pending and is offered again at the next advance. Must not call back
 * into the same struct gw_windows.
 */
typedef int (*gw_window_emit_fn)(void *ctx, const struct gw_aggregate *agg);

struct gw_windows;

/*
 * Creates the aggregation state for cfg (borrowed, copied). Returns 0 and
 * sets *out (caller frees with gw_windows_free()), GW_ECONFIG when cfg does
 * not pass gw_windows_config_check(), or GW_ENOMEM.
 */
int gw_windows_new(const struct gw_windows_config *cfg, struct gw_windows **out);

/* Frees w and every series and window in it, without emitting. NULL is a no-op. */
void gw_windows_free(struct gw_windows *w);

/* Hints written by gw_windows_add() and gw_windows_frame_add() (bits). */
#define GW_WINDOW_NEW_SERIES 1u /* the value created its series */
#define GW_WINDOW_LATE 2u       /* it corrected a window already emitted: a rewrite will follow */

/* A value to fold, and its own timestamp, which picks its windows. */
struct gw_window_value {
    int64_t ts_ms;
    double value;
};

/*
 * Folds v.value, timestamped v.ts_ms, into the windows of key's series at
 * every level. key is borrowed. now_ms is the arrival clock (a smaller
 * now_ms than one seen before counts as that one). On success writes
 * GW_WINDOW_* bits into *hints (may be NULL). Returns:
 *   0          folded into every level;
 *   GW_ERANGE  v.ts_ms is too late (negative, or its base window is past
 *              the late horizon and no part can be kept for it) or further
 *              ahead than max_ahead_ms (both counted), or a window or part
 *              it goes into already holds UINT32_MAX / (top width / base
 *              width) values per base width (35 million with the
 *              defaults): folded nowhere;
 *   GW_EFULL   the series would pass max_series or its node's
 *              max_node_series (each counted), or a window slot
 *              still holds a window that gw_windows_advance() has not
 *              emitted yet (counted as busy: call advance more often);
 *   GW_EINVAL  v.value not finite, or a key string missing or too long;
 *   GW_ENOMEM  nothing was changed.
 * All-or-nothing: a value is in every level or in none. For the readings of
 * one frame, gw_windows_frame_begin() and gw_windows_frame_add() do the same
 * for less: the (site, node) is looked up once.
 */
int gw_windows_add(struct gw_windows *w, const struct gw_series_key *key, struct gw_window_value v,
                   int64_t now_ms, unsigned *hints);

/*
 * One frame: its (site, node), looked up once for all its readings, and its
 * arrival. Caller storage, filled by gw_windows_frame_begin(); the fields
 * are private.
 */
struct gw_windows_frame {
    void *node;       /* the node's entry, NULL until it has a series */
    const char *site; /* borrowed from the caller for the frame's lifetime */
    const char *node_id;
    uint64_t hash;
    int64_t now_ms; /* the arrival clock, for every call with this frame */
    unsigned site_len, node_len;
    unsigned pos; /* readings offered so far: where the next one was found last time */
};

/*
 * Starts adding the readings of one frame of (site, node), both borrowed
 * and required to stay unchanged until the last gw_windows_frame_add() with
 * *fr, that arrived at now_ms (the arrival clock, as in gw_windows_add()).
 * Creates nothing. Returns 0 and fills *fr, or GW_EINVAL when an id is
 * missing or not 1..64 bytes. *fr is valid for w only, until the next call
 * of gw_windows_advance(), gw_windows_flush_all(), gw_windows_restore() or
 * gw_windows_free() on w (those may drop the node).
 */
int gw_windows_frame_begin(struct gw_windows *w, const char *site, const char *node, int64_t now_ms,
                           struct gw_windows_frame *fr);

/*
 * gw_windows_add() for a reading of fr's frame: the same rules and returns,
 * except that key->site and key->node are not read and the arrival clock is
 * the frame's (fr's are used). Readings offered in the same order frame
 * after frame are found with one comparison. Updates *fr.
 */
int gw_windows_frame_add(struct gw_windows *w, struct gw_windows_frame *fr,
                         const struct gw_series_key *key, struct gw_window_value v,
                         unsigned *hints);

/*
 * Emits every window whose end + grace has passed at now_ms, re-emits
 * corrected windows, and drops windows past their late horizon (and series
 * left without any window), in the order given at the top, for at most
 * max_nodes nodes (SIZE_MAX: all; a caller that must not hold its lock for
 * long takes a few at a time). Only nodes with work due are visited: a call
 * with nothing due costs one comparison. Returns 0, 1 when work is still due
 * after max_nodes nodes (call again), the first non-zero return of emit
 * (which must be 0 or a negative GW_E* code), or GW_ENOMEM (a rollup's
 * quantile summary could not grow); what was not done is done at the next
 * call.
 */
int gw_windows_advance(struct gw_windows *w, int64_t now_ms, size_t max_nodes,
                       gw_window_emit_fn emit, void *ctx);

/*
 * Moves the clock of fr's node (if it has one yet) to fr's frame, stamped
 * ts_ms, at its arrival, and runs that node when this makes work due,
 * through emit as gw_windows_advance() does. Call it before the frame's
 * adds: a node whose clock runs faster than the gateway ticks (a historical
 * replay) then never finds its window slots held by windows it has left
 * behind. Updates *fr. Returns as gw_windows_advance().
 */
int gw_windows_frame_clock(struct gw_windows *w, struct gw_windows_frame *fr, int64_t ts_ms,
                           gw_window_emit_fn emit, void *ctx);

/*
 * The gateway (re)starts at now_ms after a time down: the receiving clock
 * goes on from the last arrival, so every node's clock stands where it was
 * and the backlog it sent meanwhile is on time. The journal must record the
 * call (its replay makes it again at the same place).
 */
void gw_windows_resume(struct gw_windows *w, int64_t now_ms);

/*
 * Emits every pending window now, whatever its end, for shutdown and tests,
 * nodes in creation order. Emitted windows stay for late rewrites as usual.
 * Returns as advance.
 */
int gw_windows_flush_all(struct gw_windows *w, gw_window_emit_fn emit, void *ctx);

struct gw_windows_stats {
    uint64_t values_added;      /* folded values */
    uint64_t values_late;       /* of which into an already emitted window */
    uint64_t values_parted;     /* of which past the late horizon: in parts of retired windows */
    uint64_t too_late;          /* refused: past the late horizon, and no room for a part */
    uint64_t too_early;         /* refused: further ahead than max_ahead_ms */
    uint64_t busy;              /* refused: slot still held by an unemitted window */
    uint64_t series_refused;    /* refused: max_series reached */
    uint64_t node_series_full;  /* refused: the node's max_node_series reached */
    uint64_t series_created;    /* series made since the start */
    uint64_t series_dropped;    /* series freed once all their windows were done */
    uint64_t windows_emitted;   /* first emissions */
    uint64_t windows_rewritten; /* corrected re-emissions */
    uint64_t parts_emitted;     /* parts of retired windows emitted (with their re-emissions) */
    size_t series;              /* series now */
    size_t nodes;               /* (site, node) clocks now, with series or kept for the clock */
    size_t windows_pending;     /* windows not emitted yet, or corrected since */
    size_t windows_retained;    /* emitted windows kept for late values */
    size_t parts;               /* parts of retired windows now (at most max_series) */
    size_t memory_bytes;  /* heap bytes requested for all of it (allocator overhead excluded) */
    size_t memory_blocks; /* heap blocks behind memory_bytes */
};

/*
 * Fills *out. Constant time: the memory figures are counted as memory is
 * allocated and freed, so metrics may read them under the gateway lock
 * whatever the number of series.
 */
void gw_windows_stats(const struct gw_windows *w, struct gw_windows_stats *out);

/*
 * Appends the whole state of w (borrowed) to out (initialised with
 * gw_wbuf_init(); the caller frees out->buf with gw_free()): the config it
 * was made with, the clock, the counters, and every series with each of its
 * windows (open, pending, emitted and kept for late values) and parts, so
 * that gw_windows_restore() continues exactly where w stands. The format
 * starts with a version number (4; 3 and 2 are still read) and ends with a
 * marker, so it can sit between
 * other sections in one buffer. Returns 0, or GW_ENOMEM (out->len is then
 * back to what it was). Does not change w.
 */
int gw_windows_snapshot(const struct gw_windows *w, struct gw_wbuf *out);

/*
 * Reads a snapshot written by gw_windows_snapshot() from in (borrowed; on
 * success advanced past the section) into w, which must be new and empty
 * and made with the same config. Afterwards the same adds and advances on
 * w emit the same aggregates, in the same order, as on the original.
 * Returns 0; GW_EINVAL when w is not empty (w unchanged), or when the
 * snapshot is of another version or config, truncated or inconsistent;
 * GW_ENOMEM. On any error but the first, w is left empty and usable.
 */
int gw_windows_restore(struct gw_windows *w, struct gw_rbuf *in);

#endif
