/*
 * events.h -- the live page's event stream (/api/v1/events, Server-Sent
 * Events): numbered events in one bounded ring that is both the replay
 * buffer for a reconnect with Last-Event-ID and every client's queue.
 *
 * Producers push under the gateway lock; each event is encoded once and
 * shared by every client. A client's connection thread takes references to
 * its next events under the hub's own short lock, then copies and writes
 * them with no lock held, so a slow or stalled client never slows the
 * pipeline: it falls behind the ring, and is cut off (and counted) once
 * what it has not read passes its bound or has left the ring. Clients that
 * connect together share one snapshot.
 *
 * Event ids are "<stream>-<n>": stream is fixed for a run of the gateway (its
 * start time in ms), n counts from 1, so an id of an earlier run is known as
 * such and answered with a fresh snapshot.
 */
#ifndef CITYGATE_GW_EVENTS_H
#define CITYGATE_GW_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct gw_events_config {
    size_t replay_events;    /* events kept, at most */
    size_t replay_bytes;     /* bytes of event text kept, at most */
    size_t client_lag_bytes; /* a client further behind than this is cut off */
    size_t max_clients;      /* streams at once; more are refused (503) */
    uint32_t heartbeat_ms;   /* a comment line after this much silence */
    uint64_t stream;         /* this run's stream id */
};

struct gw_events_stats {
    uint64_t events;         /* pushed since the start */
    size_t kept, kept_bytes; /* in the ring now */
    size_t clients;          /* streams open now */
    uint64_t opened;         /* streams opened since the start */
    uint64_t resumed;        /* of them, resumed from the ring with Last-Event-ID */
    uint64_t snapshots;      /* snapshots sent (a new stream, or an id no longer kept) */
    uint64_t refused_full;   /* refused: max_clients streams open */
    uint64_t refused_bad_id; /* refused: Last-Event-ID not an id of this gateway's form */
    uint64_t cut_slow;       /* cut off: behind by more than client_lag_bytes or the ring */
    uint64_t dropped_nomem;  /* events not kept for lack of memory */
};

struct gw_events;
struct gw_events_client;

/* Returns a new hub (caller frees with gw_events_free()), or NULL without memory. */
struct gw_events *gw_events_new(const struct gw_events_config *cfg);

/* Frees ev; every client must be closed. NULL is a no-op. */
void gw_events_free(struct gw_events *ev);

/*
 * Appends an event of type ("window") whose data is json (len bytes, one
 * line, borrowed), numbered after the last; wakes the clients. Returns 0 or
 * GW_ENOMEM (counted). Producers must be serialised by the caller (the
 * gateway lock), so that a snapshot taken under the same lock is exact.
 */
int gw_events_push(struct gw_events *ev, const char *type, const char *json, size_t len);

/* The number of the newest event (0 before the first). Under the producers' lock. */
uint64_t gw_events_last(struct gw_events *ev);

/*
 * Writes the snapshot a new client starts with into out: called by
 * gw_events_open() with reason ("new", "restart", "expired"); it takes the
 * producers' lock, writes one line of JSON and sets *last to
 * gw_events_last() under that lock. Returns 0, or an error for a 500.
 */
typedef int (*gw_events_snapshot_fn)(void *ctx, const char *reason, FILE *out, uint64_t *last);

/*
 * Opens a stream for a client that sent last_event_id (NULL when none):
 * resumed from the ring after it when it is still there, else started with
 * a snapshot event made by snapshot(ctx, ...), or the one made for a client
 * before it when no event came since and it is under a second old (a page
 * that gets it sees what it would have seen connecting then). Returns 0 and sets *out
 * (closed with gw_events_close()), GW_EINVAL for a malformed id, GW_EFULL
 * when max_clients are open, GW_ENOMEM; each refusal is counted. Any thread.
 */
int gw_events_open(struct gw_events *ev, const char *last_event_id, gw_events_snapshot_fn snapshot,
                   void *ctx, struct gw_events_client **out);

/*
 * Copies the client's next bytes (whole or part of events, or a heartbeat
 * comment) into buf (cap bytes), waiting up to the heartbeat interval for
 * something to send. Returns the byte count, 0 once the hub is shut down
 * (the stream ends), or -1 when the client was cut off for being too slow.
 * The client's connection thread only.
 */
ssize_t gw_events_read(struct gw_events_client *c, char *buf, size_t cap);

/* Ends a stream; a client that had fallen too far behind is counted as cut. */
void gw_events_close(struct gw_events_client *c);

/* Ends every stream's wait: reads return 0 from now on. Any thread. */
void gw_events_shutdown(struct gw_events *ev);

void gw_events_stats(struct gw_events *ev, struct gw_events_stats *out);

#endif
