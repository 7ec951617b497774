/*
 * window.c -- tumbling windows per series: the aggregation stage (its
 * configuration and lifecycle; window_internal.h lists its files).
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
#include "window_internal.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

#define MAX_SPAN_MS (7 * 86400000LL)

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

void gw_windows_free(struct gw_windows *w)
{
    if (!w)
        return;
    gw__window_clear(w);
    gw_qsketch_fini(&w->scratch);
    gw_free(w);
}

void gw_windows_resume(struct gw_windows *w, int64_t now_ms)
{
    w->rx_base_ms = rx_now(w);
    if (now_ms > w->now_ms)
        w->now_ms = min64(now_ms, MAX_TIME_MS);
    w->rx_base_at_ms = w->now_ms;
}

void gw_windows_stats(const struct gw_windows *w, struct gw_windows_stats *out)
{
    *out = w->st;
    out->nodes = w->n_nodes;
}
