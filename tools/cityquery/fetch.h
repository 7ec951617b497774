/*
 * fetch.h -- what a report reads: the gateway's traffic windows for a
 * selection (site, node glob, lane) and a period, at one window width,
 * poured into a grid (volumes) or into speed accumulators.
 *
 * The store schema is the gateway's (docs/gateway.md, "Store schema"):
 * measurement "traffic", tags site, node, sensor, lane, quantity,
 * vehicle_class, window and, when several gateways write partial windows,
 * gateway; fields count, sum, ..., sketch. Every series of the selection
 * is read (GROUP BY *), so partials of one window from several gateways,
 * lanes and sensors all arrive and are merged here: volumes add up, speed
 * summaries merge. Long periods are read in parts of at most 31 days, so
 * no single answer grows without bound.
 */
#ifndef CITYQUERY_FETCH_H
#define CITYQUERY_FETCH_H

#include <stdint.h>

#include "grid.h"
#include "speed.h"
#include "store.h"

struct cq_select {
    const char *site;         /* required */
    const char *node_glob;    /* NULL or "*": every node; '*' and '?' are wildcards */
    unsigned lane;            /* 0: every lane */
    const char *const *nodes; /* n_nodes nodes expected (the registry's), or none: those seen */
    size_t n_nodes;
};

/*
 * One read from the store: the windows of the selection sel at the width
 * label ("15m", "1h", ...) in [from_ms, to_ms); a failure is explained in
 * why (why_len bytes). Everything is borrowed for the call.
 */
struct cq_read {
    struct cq_store *store;
    const struct cq_select *sel;
    const char *label;
    int64_t from_ms, to_ms;
    char *why;
    size_t why_len;
};

/*
 * Checks that site is a site the store knows. Returns 0; GW_ENOTFOUND with
 * the known sites in why; or the errors of cq_store_query().
 */
int cq_fetch_check_site(struct cq_store *s, const char *site, char *why, size_t why_len);

/*
 * Adds the vehicles (quantity traffic_volume, field sum) of the windows r
 * reads (its width matching g->width_ms, its period g's) to g. Returns 0,
 * GW_ENOTFOUND when there is no window at all, or the errors of
 * cq_store_query() (r->why filled).
 */
int cq_fetch_volume(const struct cq_read *r, struct cq_grid *g);

/* Receives one stored speed window of a node (strings borrowed for the call). */
typedef int (*cq_speed_fn)(void *ctx, const char *node, int64_t start_ms,
                           const struct cq_speed_window *w);

/*
 * Calls fn for every window of quantity (e.g. "vehicle_speed") that r reads
 * with a sketch. Returns 0, GW_ENOTFOUND when there is none, fn's first
 * non-zero return, or the errors of cq_store_query() (r->why filled).
 */
int cq_fetch_speed(const struct cq_read *r, const char *quantity, cq_speed_fn fn, void *ctx);

/* Receives the vehicles of one class in one window (vehicle_count windows: their count). */
typedef int (*cq_class_fn)(void *ctx, const char *vehicle_class, int64_t start_ms, double vehicles);

/* Calls fn for every class-count window r reads. Returns as cq_fetch_speed(). */
int cq_fetch_classes(const struct cq_read *r, cq_class_fn fn, void *ctx);

#endif
