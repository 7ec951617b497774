/*
 * history.h -- the lane windows of the last hour, for the live page: each
 * base window a lane closes (or corrects) becomes one JSON object (the
 * window event of /api/v1/events), kept per lane for the snapshot a new
 * page starts with.
 *
 * The caller serialises access (the gateway lock).
 */
#ifndef CITYGATE_GW_HISTORY_H
#define CITYGATE_GW_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "live.h"
#include "window.h"

struct gw_history;

/* Returns a new history keeping keep_ms of windows per lane (caller frees with gw_history_free()),
 * or NULL. */
struct gw_history *gw_history_new(int64_t keep_ms);
void gw_history_free(struct gw_history *h);

/* Notes that agg (borrowed), an aggregate of the base level, closed or corrected its lane's
 * window. */
void gw_history_touch(struct gw_history *h, const struct gw_aggregate *agg);

/*
 * For every lane window touched since the last flush, in the order first
 * touched: writes its JSON with gw_live_write_lane() (so it holds every
 * series of the lane, corrections included), keeps it, and hands it to fn
 * (json borrowed for the call, one line). Windows older than keep_ms before
 * now_ms are let go.
 */
void gw_history_flush(struct gw_history *h, const struct gw_live *live, int64_t now_ms,
                      void (*fn)(void *ctx, const char *json, size_t len), void *ctx);

/* Writes the kept windows as JSON objects separated by commas, oldest first per lane. */
void gw_history_write(const struct gw_history *h, FILE *out);

/* Lane windows kept, and their bytes. */
void gw_history_size(const struct gw_history *h, size_t *windows, size_t *bytes);

#endif
