/*
 * adapters.h -- what the adapters of gateway/io are configured with: plain
 * structs, filled from the configuration by gw_config_sink() and
 * gw_config_webhook() (config.h), so that --check-config and the start read
 * the file through the same code and main.c copies nothing field by field.
 *
 * The store adapters are named here once (enum gw_store_api, names in
 * config.c's store.api); the sink engine picks its adapter by the number.
 * The webhook is an adapter of the same engine: io/webhook.c turns its
 * configuration into a gw_sink_config with its own policy (one alert per
 * request, its attempts, its queue).
 */
#ifndef CITYGATE_GW_ADAPTERS_H
#define CITYGATE_GW_ADAPTERS_H

#include <stddef.h>
#include <stdint.h>

/* The store adapters, as store.api names them (gw_store_api_name()). */
enum gw_store_api {
    GW_STORE_INFLUX_V1 = 0, /* "influx-v1": /write, InfluxDB 1.x and VictoriaMetrics */
    GW_STORE_INFLUX_V2,     /* "influx-v2": /api/v2/write */
    GW_STORE_N
};

/* The store.api name of an adapter ("influx-v1"), or NULL for none. */
const char *gw_store_api_name(int api);

struct gw_sink_ops;

struct gw_sink_config {
    enum gw_store_api api;                   /* the adapter, when ops is NULL */
    const struct gw_sink_ops *ops;           /* another adapter (webhook, tests); NULL: api's */
    const char *url;                         /* http://host:port */
    const char *database, *retention_policy; /* v1 */
    const char *org, *bucket, *token;        /* v2 */
    const char *username, *password;         /* v1, optional */
    int gzip;
    uint32_t timeout_ms;
    /* The engine's policy (sink.h), the same for any of its adapters: */
    uint32_t batch_lines;       /* items in one request at most (1: one body per request) */
    uint32_t batch_interval_ms; /* a request waits at most this long for more items */
    uint64_t max_pending_bytes; /* waiting at most, in bytes; 0: no bound in bytes */
    uint64_t max_pending_items; /* waiting at most, in items; 0: no bound in items */
    uint32_t retry_min_ms, retry_max_ms;
    unsigned max_attempts;        /* a request is given up after so many failures; 0: never */
    const char *dead_letter_path; /* refused data is appended here; NULL: counted and logged only */
    /* v1: created at start when missing: "name=duration,..." (InfluxQL durations, INF) */
    const char *retention_policies;
};

struct gw_webhook_config {
    const char *url; /* borrowed for the webhook's lifetime */
    uint32_t timeout_ms;
    uint32_t retry_min_ms, retry_max_ms;
    unsigned max_attempts;
    size_t max_queue;
};

#endif
