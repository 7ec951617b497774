/*
 * stream.h -- what the running gateway tells the live page through
 * /api/v1/events (docs/live.md, "API"): the snapshot a page starts with and
 * the events after it (lane windows, alert changes, node changes, counters).
 *
 * The hooks are called where the gateway learns each thing, under the
 * gateway lock (the events' order is the pipeline's); the stream route runs
 * on the client's connection thread.
 */
#ifndef CITYGATE_GW_STREAM_H
#define CITYGATE_GW_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "pipeline.h"
#include "registry.h"
#include "window.h"

struct gateway;

/* Creates the event hub, the window history and the node table. Returns 0 or GW_ENOMEM. Main
 * thread, before the HTTP server starts. */
int gw_stream_start(struct gateway *gw);

/* Ends every stream (before the HTTP server stops), then, after it, frees. */
void gw_stream_shutdown(struct gateway *gw);
void gw_stream_free(struct gateway *gw);

/* A base-level aggregate was emitted (emit_aggregate()). Under the lock. */
void gw_stream_window(struct gateway *gw, const struct gw_aggregate *agg);

/* The clock is done closing windows for now: one window event per lane window closed or
 * corrected; once a second, the counters event, and acknowledgements not confirmed after a
 * restart expire (acks.h). Under the lock. */
void gw_stream_tick(struct gateway *gw, uint64_t now_ms);

/* Alert ev changed state: its JSON (one object, len bytes, borrowed), with its
 * acknowledgement (acks.h) ended when it cleared or rose. Under the lock. */
void gw_stream_alert(struct gateway *gw, const struct gw_alert_event *ev, const char *json,
                     size_t len);

/* A status message of dev (dead 0: a birth): the node event, at once. Under the lock. */
void gw_stream_status(struct gateway *gw, const struct gw_device *dev, int dead, uint64_t now_ms);

/* An accepted frame (a, borrowed), for its node's last seen time and health. Under the lock. */
void gw_stream_frame(struct gateway *gw, const struct gw_admitted *a, uint64_t now_ms);

/* A refused frame on topic t (parsed; NULL when it did not parse) for reason (negative enum
 * gw_reject), counted for its node when t names a registered device of its site. Under the
 * lock. */
void gw_stream_refused(struct gateway *gw, const struct gw_topic *t, int reason);

/* The /api/v1/events route. */
extern const struct gw_http_stream gw_stream_route;

/* POST /api/v1/alerts/<id>/ack. */
extern const struct gw_http_action gw_stream_ack_action;

#endif
