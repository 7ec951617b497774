/*
 * sink.h -- the delivery engine: queues items (lines of line protocol, alert
 * bodies), sends them through an adapter, and owns the retry policy. The
 * store writer (sink_influx.c) and the alert webhook (webhook.c) are its
 * adapters.
 *
 * Adapters only say what happened to one request: written, retry later
 * (5xx, timeout, refused), rejected (the peer refused the data itself: the
 * request goes to the dead-letter file, when there is one, and is never
 * retried) or too large (413: the engine splits a request of several items
 * in two), and the class of a failure. The engine retries with capped
 * exponential backoff and jitter, in its own thread, so ingest never waits
 * for the peer; a request that fails max_attempts times is given up (0: it
 * never is). What differs between adapters is configuration, not code: items
 * per request (the store batches lines, the webhook sends one alert per
 * request), backoff bounds, attempts, bounds of what waits, and the names
 * the engine logs under (struct gw_sink_words).
 *
 * Each retention policy backs off on its own: a batch that keeps failing (a
 * policy missing in the store) holds back only the later batches of its own
 * policy, never the others. Every failed request is counted by class and
 * logged (rate-limited per class, log.h). Pending data is bounded in bytes
 * and/or items; beyond the bound the oldest waiting request is dropped,
 * counted and logged (rate-limited: store_lines_dropped; the journal still
 * holds the frames until a snapshot covers them, see main.c).
 */
#ifndef CITYGATE_GW_SINK_H
#define CITYGATE_GW_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "adapters.h"

enum gw_sink_result {
    GW_SINK_OK = 0,
    GW_SINK_RETRY = 1,     /* transient: try the same batch again later */
    GW_SINK_REJECTED = 2,  /* the store refused the data itself; dead-letter it */
    GW_SINK_TOO_LARGE = 3, /* split and send the halves */
};

/* Why a request failed, for the error counters and the log. */
enum gw_sink_class {
    GW_SINK_E_CONNECT = 0, /* no connection, or it broke (refused, reset, DNS) */
    GW_SINK_E_TIMEOUT,     /* no complete answer within the timeout */
    GW_SINK_E_4XX,         /* the store refused the request (HTTP 4xx) */
    GW_SINK_E_5XX,         /* the store failed (HTTP 5xx, or another unexpected status) */
    GW_SINK_E_N,
};

/* The names of the classes ("connect", "timeout", "4xx", "5xx"), for metrics and logs. */
const char *gw_sink_class_name(enum gw_sink_class c);

/* What an adapter says about one failed request: its class and a message
 * (the store's reply or the transport's error). */
struct gw_sink_reply {
    enum gw_sink_class cls;
    char msg[640];
};

/*
 * What the engine calls an adapter's items and events in its log: event
 * names (string literals, log.h), the items ("lines"), the peer ("the
 * store"), the label of requests without a retention policy ("default") and
 * the configuration key of the pending bound ("store.max_pending").
 */
struct gw_sink_words {
    const char *failed, *recovered, *rejected, *given_up, *dropped, *not_ready;
    const char *items, *peer, *no_rp, *bound_key;
};

/* The store's words: store_write_failed, "lines", "the store", ... */
extern const struct gw_sink_words gw_sink_store_words;

/* What one adapter instance does; chosen by enum gw_store_api from a static
 * table, or given as gw_sink_config.ops. On anything but GW_SINK_OK, prepare
 * and write fill *reply. prepare may be NULL (nothing to prepare); words NULL
 * means the store's. */
struct gw_sink_ops {
    int (*open)(const struct gw_sink_config *cfg, void **state, char *err, size_t err_len);
    /* Creates what the store needs (database, retention policies); may return GW_SINK_RETRY. */
    enum gw_sink_result (*prepare)(void *state, struct gw_sink_reply *reply);
    enum gw_sink_result (*write)(void *state, const char *rp, const char *lines, size_t len,
                                 struct gw_sink_reply *reply);
    void (*close)(void *state);
    const struct gw_sink_words *words;
};

/* Upper bounds (seconds) of the write latency histogram's buckets, then +Inf. */
#define GW_SINK_LATENCY_BUCKETS 11
extern const double gw_sink_latency_bounds[GW_SINK_LATENCY_BUCKETS];

struct gw_sink_stats {
    uint64_t lines_written, batches_written;
    uint64_t lines_pending, bytes_pending;
    uint64_t retries;             /* failed attempts that will be tried again */
    uint64_t errors[GW_SINK_E_N]; /* every failed request (prepare and write), by class */
    uint64_t lines_dead_lettered, lines_dropped, splits;
    uint64_t lines_given_up; /* in requests that failed max_attempts times */
    uint64_t latency_buckets[GW_SINK_LATENCY_BUCKETS]; /* successful writes, cumulative */
    uint64_t writes_timed, write_us_sum;               /* successful writes */
    int prepared;         /* the store was prepared (database, policies) */
    uint64_t failing;     /* retention policies whose next batch failed its last attempt */
    char last_error[700]; /* the newest failure: "rp_30s: 5xx: HTTP 500: ..." */
};

struct gw_sink;

/*
 * Starts the writer thread on adapter cfg->ops, or when that is NULL on
 * the store adapter of cfg->api. Returns 0 and sets *out
 * (caller frees with gw_sink_free()), or a negative enum gw_err with err
 * filled. cfg and the strings in it are borrowed for the sink's lifetime.
 */
int gw_sink_new(const struct gw_sink_config *cfg, struct gw_sink **out, char *err, size_t err_len);

/*
 * Queues n_lines items (copied: newline-terminated lines for the store, so
 * that a 413 can split them; one body for the webhook) for retention policy
 * rp (v1; borrowed, must outlive the sink; NULL for the database default,
 * and ignored by v2, which writes to its one bucket). Any thread. Returns 0
 * or GW_ENOMEM; when a pending bound is exceeded the oldest batches are
 * dropped and counted.
 */
int gw_sink_push(struct gw_sink *s, const char *rp, const char *lines, size_t len, size_t n_lines);

/*
 * Waits until everything queued so far is written (or dead-lettered), at most
 * timeout_ms. Returns 0 when drained, GW_ERETRY on timeout.
 */
int gw_sink_drain(struct gw_sink *s, uint32_t timeout_ms);

void gw_sink_stats(struct gw_sink *s, struct gw_sink_stats *out);

/* Stops the thread after at most the time of one request; pending data is lost (it is journaled).
 */
void gw_sink_free(struct gw_sink *s);

#endif
