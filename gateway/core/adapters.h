/*
 * adapters.h -- what the adapters of gateway/io are configured with: plain
 * structs, filled from the configuration by gw_config_sink() and
 * gw_config_webhook() (config.h), so that --check-config and the start read
 * the file through the same code and main.c copies nothing field by field.
 *
 * The store adapters are named here once (enum gw_store_api, names in
 * config.c's store.api); the sink engine picks its adapter by the number.
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
    const struct gw_sink_ops *ops;           /* another adapter (tests); NULL: api's */
    const char *url;                         /* http://host:port */
    const char *database, *retention_policy; /* v1 */
    const char *org, *bucket, *token;        /* v2 */
    const char *username, *password;         /* v1, optional */
    int gzip;
    uint32_t timeout_ms;
    uint32_t batch_lines;
    uint32_t batch_interval_ms;
    uint64_t max_pending_bytes;
    uint32_t retry_min_ms, retry_max_ms;
    const char *dead_letter_path;
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
