/*
 * config.h -- the gateway's configuration: one INI file, parsed by libinih and
 * validated against one table of keys (config.c) with types, defaults,
 * ranges and help text. The same table prints `citygate --help-config` and
 * docs/configuration.md, so the reference cannot drift from the code.
 *
 * Values take units: durations "500ms", "30s", "5m", "1h", "30d", "1w";
 * sizes "512", "64KiB", "64MiB", "1GiB". Unknown sections and keys are errors
 * with their line.
 */
#ifndef CITYGATE_GW_CONFIG_H
#define CITYGATE_GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "adapters.h"
#include "rules.h"

#define GW_CONFIG_MAX_WIDTHS 8
#define GW_CONFIG_MAX_RULES 1024
#define GW_CONFIG_MAX_KEYS 96 /* rows of the key table, at most */

struct gw_config {
    /* [mqtt] */
    char *mqtt_url, *mqtt_client_id, *mqtt_username, *mqtt_password;
    char *mqtt_ca_file, *mqtt_cert_file, *mqtt_key_file;
    uint64_t mqtt_version; /* 3 (3.1.1) or 5 */
    uint64_t mqtt_keepalive_ms, mqtt_reconnect_min_ms, mqtt_reconnect_max_ms;
    uint64_t mqtt_max_inflight;
    int quarantine;

    /* [devices] */
    char *registry_file;
    uint64_t max_frame_bytes, max_skew_ms, max_age_ms;
    uint64_t dedup_window, max_devices;

    /* [windows] */
    char *widths_text;
    uint64_t widths_ms[GW_CONFIG_MAX_WIDTHS];
    size_t n_widths;
    uint64_t grace_ms, late_horizon_ms, max_series, max_node_series;

    /* [journal] */
    char *journal_dir;
    uint64_t journal_max_bytes, journal_segment_bytes, fsync_interval_ms, snapshot_interval_ms;

    /* [store] */
    char *store_api, *store_url, *store_database, *store_retention, *store_org, *store_bucket;
    char *store_token, *store_username, *store_password, *store_dead_letter;
    int store_gzip;
    uint64_t store_timeout_ms, store_batch_lines, store_batch_interval_ms;
    uint64_t store_max_pending_bytes, store_retry_min_ms, store_retry_max_ms;

    /* [http] */
    char *http_listen, *http_cert_file, *http_key_file;

    /* [live] */
    uint64_t live_history_ms, live_replay_events, live_replay_bytes, live_client_lag_bytes;
    uint64_t live_max_clients, live_heartbeat_ms;
    char *live_operator_token;

    /* [alerts] */
    char *webhook_url;
    uint64_t webhook_timeout_ms, webhook_attempts, webhook_queue;
    int alerts_to_store;

    /* [gateway] */
    uint64_t shutdown_timeout_ms, tick_ms;

    /* store.retention by width: the InfluxQL duration of windows.widths[i] */
    char retention[GW_CONFIG_MAX_WIDTHS][24];
    /* The retention policy of windows.widths[i] ("rp_30s"), and all of them as
     * the sink's spec ("rp_30s=30d,rp_5m=104w,..."). */
    char rp_names[GW_CONFIG_MAX_WIDTHS][32];
    char retention_spec[512];
    enum gw_store_api store_api_id; /* store.api */

    /* The line each key was given on (0: default), in key table order, for
     * checks made after parsing (files, addresses) to name it. */
    int key_lines[GW_CONFIG_MAX_KEYS];

    /* [rule NAME] sections, in file order */
    struct gw_rule_def *rules;
    int *rule_lines; /* the line of each [rule NAME] header */
    size_t n_rules;
};

/* Where and why a configuration was refused. Parsers never log. */
struct gw_config_diag {
    int line; /* 0 when not tied to a line */
    char message[200];
};

/* Fills cfg with every default. Returns 0 or GW_ENOMEM. Release with gw_config_fini(). */
int gw_config_init(struct gw_config *cfg);

/*
 * Parses len bytes of INI text (borrowed) over the defaults already in cfg
 * and validates the result. Returns 0, GW_ENOMEM, or GW_ECONFIG with *diag
 * filled; on failure cfg holds a mix and must only be passed to
 * gw_config_fini().
 */
int gw_config_parse(struct gw_config *cfg, const char *text, size_t len,
                    struct gw_config_diag *diag);

void gw_config_fini(struct gw_config *cfg);

/*
 * The store writer's and the webhook's configuration from a parsed cfg. The
 * strings are borrowed from cfg, which must outlive out. Any thread.
 */
void gw_config_sink(const struct gw_config *cfg, struct gw_sink_config *out);
void gw_config_webhook(const struct gw_config *cfg, struct gw_webhook_config *out);

/* The line key of section (not a rule's) was given on, 0 when defaulted. */
int gw_config_line(const struct gw_config *cfg, const char *section, const char *key);

/*
 * Parses a listen address, "host:port", "[v6]:port" or ":port" (every
 * address), host numeric, port 0 ... 65535 (0: any free port). Returns 0 and
 * fills *addr and *len, or GW_EINVAL. Any thread.
 */
int gw_config_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len);

/*
 * The keys outside [rule] sections that SIGHUP does not apply (the key table
 * says which) and whose value differs between running and next (both
 * borrowed): writes their "section.key" names, comma-separated, into names
 * (cap bytes, truncated to fit, always terminated when cap > 0) and returns
 * how many there are. Any thread.
 */
size_t gw_config_restart_changes(const struct gw_config *running, const struct gw_config *next,
                                 char *names, size_t cap);

/* One documented key, for --help-config and docs/configuration.md. */
struct gw_config_doc {
    const char *section, *key, *type, *default_value, *help;
};

/* How many keys there are, and key i (0-based, table order). */
size_t gw_config_n_docs(void);
void gw_config_doc(size_t i, struct gw_config_doc *out);

#endif
