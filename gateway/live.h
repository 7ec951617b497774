/*
 * live.h -- the live view for traffic engineers: per site, the newest closed
 * base window of every series, and what the API and the demo show of it.
 *
 * Fed with each base-level aggregate as it is emitted; read by the HTTP
 * thread. The caller serialises access (the gateway lock).
 */
#ifndef CITYGATE_GW_LIVE_H
#define CITYGATE_GW_LIVE_H

#include <stdint.h>
#include <stdio.h>

#include "window.h"

struct gw_live;

/* Returns a new, empty view (caller frees with gw_live_free()), or NULL. */
struct gw_live *gw_live_new(void);
void gw_live_free(struct gw_live *l);

/* Takes the newest aggregate of a series (borrowed; copied). */
void gw_live_update(struct gw_live *l, const struct gw_aggregate *agg);

/*
 * Writes the view as JSON: {"now_ms":..,"sites":[{"site":..,"nodes":..,
 * "window_start_ms":..,"flow_vph":..,"speed_kmh":..,"speed_p85_kmh":..,
 * "occupancy_pct":..,"readings":..,"series":[...]}]}, sites sorted by id.
 */
void gw_live_write_json(const struct gw_live *l, uint64_t now_ms, FILE *out);

#endif
