/*
 * nodes.h -- what the live page's Nodes view shows of each device: when it
 * was last heard, its birth and death, its firmware, its ring's backlog and
 * drops (from the health it sends), its frames refused by reason, and its
 * sequence gaps (from dedup).
 *
 * Fed from the arrival path; read for the snapshot and the per-second
 * merged node events. The caller serialises access (the gateway lock).
 */
#ifndef CITYGATE_GW_NODES_H
#define CITYGATE_GW_NODES_H

#include <stdint.h>
#include <stdio.h>

#include "frame.pb-c.h"
#include "pipeline.h"
#include "registry.h"

struct gw_nodes;

/* Returns an empty table (caller frees with gw_nodes_free()), or NULL. */
struct gw_nodes *gw_nodes_new(void);
void gw_nodes_free(struct gw_nodes *n);

/* An accepted frame of a registered device dev (borrowed): last seen, health. */
void gw_nodes_frame(struct gw_nodes *n, const struct gw_device *dev, const Citygate__V1__Frame *f,
                    int64_t now_ms);

/* A refused frame of registered device dev for reason (negative enum gw_reject). */
void gw_nodes_refused(struct gw_nodes *n, const struct gw_device *dev, int reason);

/* A birth (dead 0) or death message of dev. */
void gw_nodes_status(struct gw_nodes *n, const struct gw_device *dev, int dead, int64_t now_ms);

/*
 * Writes the node object of dev (docs/live.md, "API") with its dedup counters
 * from p, as JSON.
 */
void gw_nodes_write_one(const struct gw_nodes *n, const struct gw_pipeline *p,
                        const struct gw_device *dev, FILE *out);

/*
 * Writes every device of reg as node objects separated by commas (registry
 * order), for a snapshot: a node whose sequence counters are newer than the
 * stream carried gets a whole object in the next counters event.
 */
void gw_nodes_write_all(struct gw_nodes *n, const struct gw_pipeline *p,
                        const struct gw_registry *reg, FILE *out);

/*
 * Writes the devices of reg changed since the last call as the counters
 * event's ,"nodes":[...],"seen":[...] (docs/live.md, "API"): the node
 * objects of those with a change beyond a frame, and [node, ms before
 * now_ms it was last seen, frames] of the others; then forgets the changes.
 * Returns how many nodes it wrote.
 */
size_t gw_nodes_write_changed(struct gw_nodes *n, const struct gw_pipeline *p,
                              const struct gw_registry *reg, int64_t now_ms, FILE *out);

#endif
