/*
 * store.h -- reading the gateway's windows from the time-series store
 * through InfluxQL over HTTP: InfluxDB 1.x `/query`, and InfluxDB 2.x
 * through its 1.x compatibility API (the same endpoint, a token, and a
 * database/retention mapping to the bucket).
 *
 * A query's answer is checked before any of it is used: an HTTP error, an
 * "error" in the answer or in any statement, a "partial" flag (a row limit
 * or a chunk cut short) or a body that is not the documented JSON all fail
 * the whole query, so a report is never built on part of the data.
 *
 * Thread rules: one struct cq_store per thread.
 */
#ifndef CITYQUERY_STORE_H
#define CITYQUERY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest store answer read, bytes: a larger one is an error, never truncated. */
#define CQ_STORE_MAX_BODY (256u << 20)

struct cq_store_config {
    const char *url;      /* base URL, e.g. http://127.0.0.1:8086 */
    const char *database; /* 1.x database; 2.x: the database name mapped to the bucket */
    int v2;               /* 2.x compatibility API: token auth, one bucket for every window */
    const char *token;    /* 2.x API token, or NULL */
    const char *username; /* 1.x user, or NULL */
    const char *password;
    long timeout_ms;
};

struct cq_store;

/* Counters for the measurements in docs/planners.md. */
struct cq_store_stats {
    uint64_t queries;
    uint64_t bytes; /* response bodies read */
};

/*
 * Opens a client for cfg (borrowed: its strings must outlive the client).
 * Returns 0 and sets *out (caller frees with cq_store_free()), or GW_ENOMEM.
 */
int cq_store_new(const struct cq_store_config *cfg, struct cq_store **out);

/* Frees s. NULL is a no-op. */
void cq_store_free(struct cq_store *s);

/*
 * Runs one InfluxQL statement (borrowed) and returns its result object
 * ("series" may be absent: no data) in *out; caller frees with
 * json_decref(). Returns 0; GW_EIO when the store cannot be reached or
 * does not answer in time; GW_EINVAL when it answers with an error, a
 * partial result or something that is not its JSON. why (why_len bytes)
 * gets a sentence for the user on error.
 */
int cq_store_query(struct cq_store *s, const char *influxql, json_t **out, char *why,
                   size_t why_len);

/*
 * Writes the FROM target of the windows of width label ("1h", "15m") in
 * measurement into buf: "rp_1h"."traffic" on 1.x (one retention policy per
 * width), "traffic" on 2.x (one bucket; the window tag tells widths apart).
 */
void cq_store_from(const struct cq_store *s, const char *label, const char *measurement, char *buf,
                   size_t cap);

/* The counters so far. */
void cq_store_stats(const struct cq_store *s, struct cq_store_stats *out);

/*
 * Appends text to buf as an InfluxQL single-quoted string literal (quotes
 * and backslashes escaped). Returns 0, or GW_EFULL when it does not fit.
 */
int cq_store_quote(char *buf, size_t cap, const char *text);

#endif
