/*
 * live.h -- the live view for traffic engineers: per site, the newest closed
 * base window of every series merged into site figures, and which nodes
 * have gone quiet.
 *
 * Fed with each base-level aggregate as it is emitted and with the nodes'
 * birth and death messages; read by the HTTP thread. The caller serialises
 * access (the gateway lock).
 */
#ifndef CITYGATE_GW_LIVE_H
#define CITYGATE_GW_LIVE_H

#include <stdint.h>
#include <stdio.h>

#include "registry.h"
#include "traffic.h"
#include "window.h"

struct gw_live;

/*
 * Returns a new, empty view (caller frees with gw_live_free()), or NULL.
 * grace_ms is the windows' grace: a window is expected grace_ms after its
 * end, so a node is stale once two windows that should have been emitted
 * by now were not.
 */
struct gw_live *gw_live_new(int64_t grace_ms);
void gw_live_free(struct gw_live *l);

/* Takes the newest aggregate of a series (borrowed; copied). */
void gw_live_update(struct gw_live *l, const struct gw_aggregate *agg);

/*
 * A status message of (site, node), both borrowed: dead != 0 for its death
 * (the MQTT will), 0 for a birth. A dead node is stale from now_ms until it
 * sends a newer window.
 */
void gw_live_node_status(struct gw_live *l, const char *site, const char *node, int dead,
                         int64_t now_ms);

/*
 * Writes the view as JSON (docs/gateway.md, "Live view"): per site, sorted
 * by id, the figures of its newest window merged over its fresh nodes'
 * lanes with gw_traffic_merge(), each absent figure as null, how many lane
 * windows and nodes they are made of, the site's free-flow speed from reg
 * (borrowed; gw_registry_free_flow_kmh()), and per node whether it is stale
 * and since when.
 */
void gw_live_write_json(const struct gw_live *l, const struct gw_registry *reg, int64_t now_ms,
                        FILE *out);

/* One lane's window: the lane of (site, node) and the window's start. Strings borrowed. */
struct gw_live_lane {
    const char *site, *node;
    uint32_t lane;
    int64_t start_ms;
};

/* What the window event of a lane's window shows. Borrowed for the call. */
struct gw_live_window {
    struct gw_live_lane at;
    int64_t width_ms;
    uint64_t readings;                /* the readings it is made of */
    const struct gw_traffic *traffic; /* the lane's series merged with gw_traffic_merge() */
};

/*
 * Writes one lane's window w as a JSON object (docs/live.md, "API": the
 * window event): the figures of its traffic, made of its readings, and its
 * vehicles by class.
 */
void gw_live_write_window(FILE *out, const struct gw_live_window *w);

/*
 * gw_live_write_window() of the series of lane at whose newest window
 * starts at at->start_ms, as the view holds them (corrections included).
 * Returns 0, or GW_ENOTFOUND (nothing written) when no traffic series of
 * that lane has that window as its newest.
 */
int gw_live_write_lane(const struct gw_live *l, const struct gw_live_lane *at, FILE *out);

#endif
