/*
 * grid.h -- the windows a report is computed on: one dense array of volumes
 * over [from, to) at one window width, with which node reported which
 * window, and its grouping into local periods (15 min, hour, day, ISO week,
 * month) with their completeness.
 *
 * Completeness is PeMS's "% observed": of the windows a period should hold
 * for each node, the share that the store has. A node counts as reporting a
 * window when any of its selected series has a point there (a count of zero
 * vehicles is a report; no point is a gap). The nodes expected are those
 * that reported at least once in [from, to).
 *
 * Thread rules: plain data, one thread at a time.
 */
#ifndef CITYQUERY_GRID_H
#define CITYQUERY_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "localtime.h"

#define CQ_NAME_MAX 65 /* ids are 1..64 bytes (docs/data-model.md) */

struct cq_node {
    char name[CQ_NAME_MAX];
    uint8_t *seen; /* [grid n]: 1 where the node reported the window */
};

struct cq_grid {
    int64_t from_ms, to_ms, width_ms;
    size_t n;              /* windows: (to - from) / width */
    double *volume;        /* [n] vehicles, summed over the selected nodes, lanes and partials */
    struct cq_node *nodes; /* in order of first report */
    size_t n_nodes, cap_nodes;
};

/* A period of the grid (clipped to [from, to)) and what it holds. */
struct cq_bin {
    int64_t start_ms, end_ms;
    double volume;
    size_t expected; /* windows in the bin times nodes */
    size_t seen;     /* of those, reported */
    bool cut;        /* the period runs past [from, to): its figures are of a part of it */
};

/* A run of windows [start, end) that a node did not report. */
struct cq_gap {
    int64_t start_ms, end_ms;
};

/*
 * Makes an empty grid of width_ms windows over [from_ms, to_ms), both
 * multiples of width_ms, from < to. Returns 0, GW_EINVAL or GW_ENOMEM.
 */
int cq_grid_init(struct cq_grid *g, int64_t from_ms, int64_t to_ms, int64_t width_ms);

/* Frees what g holds. */
void cq_grid_fini(struct cq_grid *g);

/* Finds node name (borrowed) or adds it; writes its index. Returns 0, GW_EINVAL or GW_ENOMEM. */
int cq_grid_node(struct cq_grid *g, const char *name, size_t *index);

/*
 * Adds volume vehicles reported by node for the window starting at
 * start_ms. Several points for one window (lanes, partial windows from
 * several gateways) add up. Returns 0, or GW_ERANGE when start_ms is not the
 * start of a window of g.
 */
int cq_grid_add(struct cq_grid *g, size_t node, int64_t start_ms, double volume);

/* Percentage of b's expected windows that were reported (0 when none are expected). */
double cq_bin_pct(const struct cq_bin *b);

/*
 * Groups g into local periods p. Writes a calloc'ed array (caller frees with
 * free()) and its length. Returns 0, GW_ENOMEM, or GW_EINVAL when a period
 * boundary falls inside a window (a zone whose offset is not a multiple of
 * the width: read a finer level).
 */
int cq_grid_bins(const struct cq_grid *g, enum cq_period p, struct cq_bin **out, size_t *n_out);

/*
 * The windows node should have reported in [start, end) and those it did
 * (both clipped to the grid).
 */
void cq_grid_node_count(const struct cq_grid *g, size_t node, int64_t start_ms, int64_t end_ms,
                        size_t *expected, size_t *seen);

/*
 * The gaps of node over the whole grid, in order. Writes a malloc'ed array
 * (caller frees with free(); NULL when there are none) and its length.
 * Returns 0 or GW_ENOMEM.
 */
int cq_grid_gaps(const struct cq_grid *g, size_t node, struct cq_gap **out, size_t *n_out);

#endif
