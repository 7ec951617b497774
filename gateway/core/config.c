/*
 * config.c -- the table of configuration keys and the INI parser over it.
 *
 * Every key is one row: section, name, type, where it lands, default, range
 * and help (Fluent Bit's flb_config_map, Redis's standardConfig). Defaults go
 * through the same parser as the file, so a default that does not parse is a
 * test failure, not a surprise in production. libinih reads the text through
 * a reader that counts lines, so every error names its line.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <unistd.h>

#include <ini.h>

#include "alloc.h"
#include "err.h"
#include "lp.h"
#include "quantity.h"
#include "units.h"
#include "validate.h"

enum cfg_type { T_STR, T_BOOL, T_UINT, T_DURATION, T_BYTES, T_DOUBLE, T_DIR, T_LEVEL };

/* When a changed value takes effect. */
enum cfg_apply {
    RESTART, /* at the next start: a reload that finds it changed warns */
    RELOAD,  /* at SIGHUP */
};

struct cfg_key {
    const char *section; /* "rule" stands for every [rule NAME] section */
    const char *key;
    enum cfg_type type;
    size_t offset; /* into struct gw_config, or struct gw_rule_def for "rule" */
    const char *def;
    uint64_t min, max;
    const char *help;
    enum cfg_apply apply;
};

#define C(f) offsetof(struct gw_config, f)
#define R(f) offsetof(struct gw_rule_def, f)
#define DAY (24ull * 3600 * 1000)

static const struct cfg_key cfg_keys[] = {
    {"mqtt", "url", T_STR, C(mqtt_url), "tcp://127.0.0.1:1883", 0, 0,
     "Broker URL: tcp://host:port, or ssl://host:port for TLS.", RESTART},
    {"mqtt", "client_id", T_STR, C(mqtt_client_id), "citygate", 0, 0,
     "Fixed client id: the broker keeps this gateway's session (and its QoS 1 queue) under it.",
     RESTART},
    {"mqtt", "version", T_UINT, C(mqtt_version), "3", 3, 5, "MQTT protocol: 3 (3.1.1) or 5.",
     RESTART},
    {"mqtt", "username", T_STR, C(mqtt_username), NULL, 0, 0, "User name, if the broker wants one.",
     RESTART},
    {"mqtt", "password", T_STR, C(mqtt_password), NULL, 0, 0, "Password for username.", RESTART},
    {"mqtt", "ca_file", T_STR, C(mqtt_ca_file), NULL, 0, 0, "CA certificates (PEM) for ssl://.",
     RESTART},
    {"mqtt", "cert_file", T_STR, C(mqtt_cert_file), NULL, 0, 0,
     "Client certificate (PEM), for brokers that require one.", RESTART},
    {"mqtt", "key_file", T_STR, C(mqtt_key_file), NULL, 0, 0, "Private key of cert_file (PEM).",
     RESTART},
    {"mqtt", "keepalive", T_DURATION, C(mqtt_keepalive_ms), "30s", 1000, 3600000,
     "MQTT keep-alive interval.", RESTART},
    {"mqtt", "reconnect_min", T_DURATION, C(mqtt_reconnect_min_ms), "1s", 100, 3600000,
     "First delay before reconnecting; doubles up to reconnect_max.", RESTART},
    {"mqtt", "reconnect_max", T_DURATION, C(mqtt_reconnect_max_ms), "30s", 100, 3600000,
     "Longest delay between reconnection attempts.", RESTART},
    {"mqtt", "max_inflight", T_UINT, C(mqtt_max_inflight), "1000", 1, 65535,
     "QoS 1 messages the broker may have in flight to the gateway.", RESTART},
    {"mqtt", "quarantine", T_BOOL, C(quarantine), "true", 0, 0,
     "Publish refused frames with their reason on city/v1/quarantine/<site>/<node>.", RESTART},

    {"devices", "registry", T_STR, C(registry_file), "/etc/citygate/devices.ini", 0, 0,
     "Device registry: ids, keys, sites, sensors (docs/data-model.md). Reloaded on SIGHUP.",
     RELOAD},
    {"devices", "max_frame_bytes", T_BYTES, C(max_frame_bytes), "64KiB", 64, 1 << 24,
     "Frames larger than this are refused before anything is parsed.", RESTART},
    {"devices", "max_skew", T_DURATION, C(max_skew_ms), "30s", 0, 7 * DAY,
     "Frames stamped further than this in the future are refused.", RESTART},
    {"devices", "max_age", T_DURATION, C(max_age_ms), "24h", 1000, 365 * DAY,
     "Frames older than this (backlog included) are refused.", RESTART},
    {"devices", "dedup_window", T_UINT, C(dedup_window), "256", 8, 65536,
     "Sequence numbers remembered per device to drop redeliveries.", RESTART},
    {"devices", "max_devices", T_UINT, C(max_devices), "1000000", 1, 100000000,
     "Devices tracked at once; frames of more are refused and counted.", RESTART},

    {"windows", "widths", T_STR, C(widths_text), "30s,5m,15m,1h", 0, 0,
     "Window widths: the base window first, then rollups, each a multiple of the base.", RESTART},
    {"windows", "grace", T_DURATION, C(grace_ms), "60s", 0, DAY,
     "How long after its end a window waits for stragglers before it is written.", RESTART},
    {"windows", "late_horizon", T_DURATION, C(late_horizon_ms), "2m", 0, 7 * DAY,
     "Written windows are corrected (rewritten) by values this long after their end; older "
     "ones are written as parts of their windows (docs/gateway.md). Each base window of horizon "
     "costs memory in every series.",
     RESTART},
    {"windows", "max_series", T_UINT, C(max_series), "1000000", 1, 100000000,
     "Series kept at once, and parts of windows past the late horizon; readings of more are "
     "refused and counted.",
     RESTART},
    {"windows", "max_node_series", T_UINT, C(max_node_series), "1000", 1, 100000000,
     "Series one node may hold at once, so that one node cannot take the series of all others; "
     "readings of more are refused and counted.",
     RESTART},

    {"journal", "dir", T_STR, C(journal_dir), "/var/lib/citygate/journal", 0, 0,
     "Folder of the journal of accepted frames and the state snapshots.", RESTART},
    {"journal", "max_bytes", T_BYTES, C(journal_max_bytes), "1GiB", 1 << 20, 1ull << 50,
     "Journal bound; beyond it the oldest frames are dropped and counted.", RESTART},
    {"journal", "segment_bytes", T_BYTES, C(journal_segment_bytes), "64MiB", 1 << 16, 1ull << 32,
     "Size of one journal segment file; the one being written is allocated to this size ahead.",
     RESTART},
    {"journal", "fsync_interval", T_DURATION, C(fsync_interval_ms), "1s", 0, 3600000,
     "Appends are fsynced in groups this often: what a power loss can cost.", RESTART},
    {"journal", "snapshot_interval", T_DURATION, C(snapshot_interval_ms), "10s", 1000, 3600000,
     "How often the state is snapshotted once the store has everything, trimming the journal.",
     RESTART},

    {"store", "api", T_STR, C(store_api), "influx-v1", 0, 0,
     "influx-v1 (/write: InfluxDB 1.x, VictoriaMetrics) or influx-v2 (/api/v2/write).", RESTART},
    {"store", "url", T_STR, C(store_url), "http://127.0.0.1:8086", 0, 0, "Store base URL.",
     RESTART},
    {"store", "database", T_STR, C(store_database), "citygate", 0, 0, "v1: database name.",
     RESTART},
    {"store", "retention", T_STR, C(store_retention), "30s=30d,5m=104w,15m=104w,1h=INF", 0, 0,
     "v1: retention per window width, created at start; policy names are rp_<width>.", RESTART},
    {"store", "org", T_STR, C(store_org), NULL, 0, 0, "v2: organisation.", RESTART},
    {"store", "bucket", T_STR, C(store_bucket), NULL, 0, 0, "v2: bucket.", RESTART},
    {"store", "token", T_STR, C(store_token), NULL, 0, 0, "v2: API token.", RESTART},
    {"store", "username", T_STR, C(store_username), NULL, 0, 0, "v1: user name, if any.", RESTART},
    {"store", "password", T_STR, C(store_password), NULL, 0, 0, "v1: password.", RESTART},
    {"store", "gzip", T_BOOL, C(store_gzip), "true", 0, 0, "Compress request bodies.", RESTART},
    {"store", "timeout", T_DURATION, C(store_timeout_ms), "10s", 100, 600000,
     "One write request's timeout; a timeout is retried.", RESTART},
    {"store", "batch_lines", T_UINT, C(store_batch_lines), "5000", 1, 1000000,
     "Lines per write request at most.", RESTART},
    {"store", "batch_interval", T_DURATION, C(store_batch_interval_ms), "1s", 10, 600000,
     "A batch is sent at the latest this long after its first line.", RESTART},
    {"store", "max_pending", T_BYTES, C(store_max_pending_bytes), "256MiB", 1 << 16, 1ull << 40,
     "Line protocol waiting for the store at most; beyond it the oldest is dropped and counted.",
     RESTART},
    {"store", "retry_min", T_DURATION, C(store_retry_min_ms), "200ms", 1, 600000,
     "First retry delay after a failed write; doubles, with jitter, up to retry_max.", RESTART},
    {"store", "retry_max", T_DURATION, C(store_retry_max_ms), "30s", 1, 3600000,
     "Longest delay between retries.", RESTART},
    {"store", "dead_letter", T_STR, C(store_dead_letter), "/var/lib/citygate/dead-letter.lp", 0, 0,
     "Batches the store refuses (HTTP 400) go here with the store's message.", RESTART},

    {"http", "listen", T_STR, C(http_listen), "127.0.0.1:9100", 0, 0,
     "Address of the live page, its API and /metrics: host:port, [v6]:port or :port. The "
     "default answers this machine only; give an outside address on purpose.",
     RESTART},
    {"http", "cert_file", T_STR, C(http_cert_file), NULL, 0, 0,
     "Certificate (PEM, chain after it) to serve HTTPS with; needs key_file.", RESTART},
    {"http", "key_file", T_STR, C(http_key_file), NULL, 0, 0, "Private key of cert_file (PEM).",
     RESTART},

    {"live", "history", T_DURATION, C(live_history_ms), "1h", 0, DAY,
     "Lane windows kept for the live page's snapshot (/api/v1/events).", RESTART},
    {"live", "replay_events", T_UINT, C(live_replay_events), "20000", 16, 10000000,
     "Events kept so that a page reconnecting with Last-Event-ID misses none.", RESTART},
    {"live", "replay_bytes", T_BYTES, C(live_replay_bytes), "32MiB", 1 << 12, 1ull << 34,
     "Bytes of events kept for Last-Event-ID, at most.", RESTART},
    {"live", "client_lag", T_BYTES, C(live_client_lag_bytes), "8MiB", 1 << 10, 1ull << 34,
     "A page further behind the newest event than this is cut off and counted.", RESTART},
    {"live", "max_clients", T_UINT, C(live_max_clients), "256", 1, 480,
     "Event streams at once; more are answered 503 and counted.", RESTART},
    {"live", "heartbeat", T_DURATION, C(live_heartbeat_ms), "5s", 100, 9000,
     "A comment line after this much silence keeps proxies from closing a stream; under the "
     "server's 10 s idle timeout.",
     RESTART},
    {"live", "operator_token", T_STR, C(live_operator_token), NULL, 0, 0,
     "Bearer token that may acknowledge alerts (POST /api/v1/alerts/<id>/ack); without it the "
     "page is read-only. Use HTTPS when it leaves this machine.",
     RESTART},

    {"alerts", "webhook", T_STR, C(webhook_url), NULL, 0, 0,
     "POST each alert change as JSON to this URL (retried).", RESTART},
    {"alerts", "webhook_timeout", T_DURATION, C(webhook_timeout_ms), "5s", 100, 600000,
     "One webhook request's timeout.", RESTART},
    {"alerts", "webhook_attempts", T_UINT, C(webhook_attempts), "8", 1, 1000,
     "Tries of one alert's POST before it is counted as failed; waits as store.retry_min and "
     "store.retry_max.",
     RESTART},
    {"alerts", "webhook_queue", T_UINT, C(webhook_queue), "10000", 1, 1000000,
     "Alerts waiting for the webhook at most; beyond it the oldest is dropped and counted.",
     RESTART},
    {"alerts", "to_store", T_BOOL, C(alerts_to_store), "true", 0, 0,
     "Also write each alert change to the store's alerts measurement.", RESTART},

    {"gateway", "shutdown_timeout", T_DURATION, C(shutdown_timeout_ms), "10s", 0, 600000,
     "On SIGTERM, how long to wait for the store to take what is pending.", RESTART},
    {"gateway", "tick", T_DURATION, C(tick_ms), "100ms", 10, 10000,
     "How often windows are closed, rules ticked and metrics refreshed.", RESTART},

    {"rule", "site", T_STR, R(site), "*", 0, 0, "Glob over site ids.", RELOAD},
    {"rule", "node", T_STR, R(node), "*", 0, 0, "Glob over node ids.", RELOAD},
    {"rule", "quantity", T_STR, R(quantity), "*", 0, 0,
     "Glob over quantity names as in frame.proto (SPEED, PM*).", RELOAD},
    {"rule", "lane", T_STR, R(lane), "*", 0, 0, "Glob over the lane number; 0 = no lane.", RELOAD},
    {"rule", "direction", T_DIR, R(direction), "above", 0, 0,
     "above: high values are bad; below: low values are bad.", RELOAD},
    {"rule", "warn", T_DOUBLE, R(warn), NULL, 0, 0, "WARN threshold.", RELOAD},
    {"rule", "crit", T_DOUBLE, R(crit), NULL, 0, 0, "CRIT threshold, beyond warn.", RELOAD},
    {"rule", "warn_reset", T_DOUBLE, R(warn_reset), NULL, 0, 0,
     "WARN ends only back past this value (hysteresis); default warn.", RELOAD},
    {"rule", "crit_reset", T_DOUBLE, R(crit_reset), NULL, 0, 0,
     "CRIT ends only back past this value; default crit.", RELOAD},
    {"rule", "for", T_DURATION, R(for_ms), "0s", 0, 7 * DAY,
     "A level is notified once its condition has held this long.", RELOAD},
    {"rule", "rate_per_min", T_DOUBLE, R(rate_per_min), NULL, 0, 0,
     "Raise rate_level when the value moves this fast (units a minute) in the bad direction.",
     RELOAD},
    {"rule", "rate_level", T_LEVEL, R(rate_level), "crit", 0, 0, "warn or crit.", RELOAD},
    {"rule", "absence", T_DURATION, R(absence_ms), "0s", 0, 30 * DAY,
     "Raise absence_level when the series is silent this long, or its node died; 0 = off.", RELOAD},
    {"rule", "absence_level", T_LEVEL, R(absence_level), "crit", 0, 0, "warn or crit.", RELOAD},
    {"rule", "hold", T_DURATION, R(hold_ms), "0s", 0, DAY,
     "Flap damping: after a change, a fall is notified only this much later.", RELOAD},
};

#define N_KEYS (sizeof cfg_keys / sizeof *cfg_keys)
_Static_assert(N_KEYS <= GW_CONFIG_MAX_KEYS, "raise GW_CONFIG_MAX_KEYS");

static int cfg_fail(struct gw_config_diag *diag, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(struct gw_config_diag *diag, int line, const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        diag->line = line;
        va_start(ap, fmt);
        vsnprintf(diag->message, sizeof diag->message, fmt, ap);
        va_end(ap);
    }
    return GW_ECONFIG;
}

static int parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return GW_EINVAL;
    *out = v;
    return 0;
}

/* Sets one key at base from text. Returns 0 or GW_ENOMEM / GW_ECONFIG with diag. */
static int cfg_set(const struct cfg_key *k, void *base, const char *text, int line,
                   struct gw_config_diag *diag)
{
    void *p = (char *)base + k->offset;
    uint64_t u = 0;

    switch (k->type) {
    case T_STR: {
        char *s = NULL;
        if (text) {
            size_t n = strlen(text) + 1;
            if (!(s = gw_malloc(n)))
                return GW_ENOMEM;
            memcpy(s, text, n);
        }
        gw_free(*(char **)p);
        *(char **)p = s;
        return 0;
    }
    case T_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "on") == 0)
            *(int *)p = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0 || strcmp(text, "off") == 0)
            *(int *)p = 0;
        else
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not true or false", k->section, k->key,
                            text);
        return 0;
    case T_DOUBLE:
        if (!text) {
            *(double *)p = NAN;
            return 0;
        }
        if (parse_double(text, (double *)p) != 0)
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not a number", k->section, k->key, text);
        return 0;
    case T_DIR:
        if (strcmp(text, "above") && strcmp(text, "below"))
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not above or below", k->section, k->key,
                            text);
        *(enum gw_rule_dir *)p = strcmp(text, "above") == 0 ? GW_RULE_ABOVE : GW_RULE_BELOW;
        return 0;
    case T_LEVEL:
        if (strcmp(text, "warn") && strcmp(text, "crit"))
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not warn or crit", k->section, k->key,
                            text);
        *(enum gw_alert_level *)p = strcmp(text, "warn") == 0 ? GW_ALERT_WARN : GW_ALERT_CRIT;
        return 0;
    case T_UINT:
        if (gw_parse_uint(text, &u) != 0)
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not a whole number", k->section, k->key,
                            text);
        break;
    case T_DURATION:
        if (gw_parse_duration_ms(text, &u) != 0)
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not a duration (500ms, 30s, 5m, 1h, 7d)",
                            k->section, k->key, text);
        break;
    case T_BYTES:
        if (gw_parse_bytes(text, &u) != 0)
            return cfg_fail(diag, line, "%s.%s: \"%s\" is not a size (4096, 64KiB, 64MiB, 1GiB)",
                            k->section, k->key, text);
        break;
    }
    if (u < k->min || u > k->max)
        return cfg_fail(diag, line, "%s.%s: %s is outside %llu..%llu%s", k->section, k->key, text,
                        (unsigned long long)k->min, (unsigned long long)k->max,
                        k->type == T_DURATION ? " ms"
                        : k->type == T_BYTES  ? " bytes"
                                              : "");
    *(uint64_t *)p = u;
    return 0;
}

/* Sets every key of section to its default at base. */
static int cfg_defaults(const char *section, void *base, struct gw_config_diag *diag)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        int is_rule = strcmp(k->section, "rule") == 0;
        if (is_rule != (strcmp(section, "rule") == 0))
            continue;
        if (!k->def && k->type != T_STR && k->type != T_DOUBLE)
            continue;
        int rc = cfg_set(k, base, k->def, 0, diag);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int gw_config_init(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    return cfg_defaults("", cfg, NULL);
}

void gw_config_fini(struct gw_config *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->type != T_STR)
            continue;
        if (strcmp(k->section, "rule") != 0) {
            gw_free(*(char **)((char *)cfg + k->offset));
            continue;
        }
        for (size_t r = 0; r < cfg->n_rules; r++)
            gw_free(*(char **)((char *)&cfg->rules[r] + k->offset));
    }
    for (size_t r = 0; r < cfg->n_rules; r++)
        gw_free((char *)cfg->rules[r].name);
    gw_free(cfg->rules);
    gw_free(cfg->rule_lines);
    memset(cfg, 0, sizeof *cfg);
}

struct cfg_parse {
    struct gw_config *cfg;
    struct gw_config_diag *diag;
    const char *text;
    size_t left;
    int line;
    int too_long;
    int header_line;  /* the last [section] line read */
    int section_line; /* the header of the section being filled */
    char section[128];
    struct gw_rule_def *rule;               /* the current [rule NAME], or NULL */
    int rule_key_lines[GW_CONFIG_MAX_KEYS]; /* of the current rule */
    char sections[64][64];                  /* the sections seen (not rules) */
    int section_lines[64];
    size_t n_sections;
    int rc;
};

/* ini_reader over the text: one line at a time, counting lines. */
static char *cfg_read_line(char *str, int num, void *stream)
{
    struct cfg_parse *p = stream;
    size_t n = 0;
    if (p->left == 0 || p->too_long)
        return NULL;
    while (n < p->left && p->text[n] != '\n')
        n++;
    if (n < p->left)
        n++; /* the newline */
    if (n > (size_t)num - 1) {
        p->too_long = 1;
        return NULL;
    }
    memcpy(str, p->text, n);
    str[n] = '\0';
    p->text += n;
    p->left -= n;
    p->line++;
    if (str[strspn(str, " \t")] == '[')
        p->header_line = p->line;
    return str;
}

static int cfg_new_rule(struct cfg_parse *p, const char *name)
{
    struct gw_config *cfg = p->cfg;
    for (size_t i = 0; i < cfg->n_rules; i++)
        if (strcmp(cfg->rules[i].name, name) == 0)
            return cfg_fail(p->diag, p->header_line,
                            "rule \"%s\" is defined twice (first on line %d)", name,
                            cfg->rule_lines[i]);
    if (cfg->n_rules == GW_CONFIG_MAX_RULES)
        return cfg_fail(p->diag, p->line, "more than %d rules", GW_CONFIG_MAX_RULES);
    struct gw_rule_def *rules = gw_realloc(cfg->rules, (cfg->n_rules + 1) * sizeof *rules);
    if (!rules)
        return GW_ENOMEM;
    cfg->rules = rules;
    int *lines = gw_realloc(cfg->rule_lines, (cfg->n_rules + 1) * sizeof *lines);
    if (!lines)
        return GW_ENOMEM;
    cfg->rule_lines = lines;
    char *copy = gw_malloc(strlen(name) + 1);
    if (!copy)
        return GW_ENOMEM;
    memcpy(copy, name, strlen(name) + 1);
    struct gw_rule_def *r = &cfg->rules[cfg->n_rules];
    gw_rule_def_init(r);
    r->name = copy;
    r->site = r->node = r->quantity = r->lane = NULL;
    cfg->rule_lines[cfg->n_rules++] = p->header_line;
    p->rule = r;
    return cfg_defaults("rule", r, p->diag);
}

static int cfg_handle(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_parse *p = user;
    if (p->rc != 0)
        return 0;
    if (p->header_line != p->section_line) {
        p->section_line = p->header_line;
        snprintf(p->section, sizeof p->section, "%s", section);
        p->rule = NULL;
        memset(p->rule_key_lines, 0, sizeof p->rule_key_lines);
        if (strncmp(section, "rule ", 5) == 0) {
            if ((p->rc = cfg_new_rule(p, section + 5)) != 0)
                return 0;
        } else {
            /* A second [section] would make "which value wins" depend on order. */
            for (size_t i = 0; i < p->n_sections; i++)
                if (strcmp(p->sections[i], section) == 0) {
                    p->rc =
                        cfg_fail(p->diag, p->header_line, "[%s] appears twice (first on line %d)",
                                 section, p->section_lines[i]);
                    return 0;
                }
            if (p->n_sections < sizeof p->sections / sizeof *p->sections) {
                snprintf(p->sections[p->n_sections], sizeof p->sections[0], "%s", section);
                p->section_lines[p->n_sections++] = p->header_line;
            }
        }
    }
    const char *kind = p->rule ? "rule" : section;
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (strcmp(k->section, kind) == 0 && strcmp(k->key, name) == 0) {
            int *seen = p->rule ? &p->rule_key_lines[i] : &p->cfg->key_lines[i];
            if (*seen) {
                p->rc = cfg_fail(p->diag, p->line, "%s.%s is given twice (first on line %d)",
                                 p->rule ? p->section : section, name, *seen);
                return 0;
            }
            *seen = p->line;
            p->rc = cfg_set(k, p->rule ? (void *)p->rule : (void *)p->cfg, value, p->line, p->diag);
            return p->rc == 0;
        }
    }
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(cfg_keys[i].section, kind) == 0) {
            p->rc = cfg_fail(p->diag, p->line, "unknown key \"%s\" in [%s]", name, section);
            return 0;
        }
    p->rc = cfg_fail(p->diag, p->line, "unknown section [%s]", section);
    return 0;
}

int gw_config_line(const struct gw_config *cfg, const char *section, const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].key, key) == 0)
            return cfg->key_lines[i];
    return 0;
}

int gw_config_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    char *end;

    if (!colon)
        return GW_EINVAL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    size_t host_len = (size_t)(colon - listen);
    if (*end || end == colon + 1 || colon[1] == '-' || port > 65535 || host_len >= sizeof host)
        return GW_EINVAL;
    memcpy(host, listen, host_len);
    host[host_len] = '\0';
    memset(addr, 0, sizeof *addr);
    if (host[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        if (host_len < 2 || host[host_len - 1] != ']')
            return GW_EINVAL;
        host[host_len - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : GW_EINVAL;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    if (host_len == 0) {
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : GW_EINVAL;
}

/*
 * Checks url against "scheme://host[:port][/path]" with scheme one of schemes
 * (NULL-terminated) and port 1 ... 65535; a path only when path_ok. Returns
 * 0 or GW_EINVAL.
 */
static int cfg_check_url(const char *url, const char *const *schemes, int path_ok)
{
    const char *rest = NULL;
    for (size_t i = 0; schemes[i] && !rest; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(url, schemes[i], n) == 0 && strncmp(url + n, "://", 3) == 0)
            rest = url + n + 3;
    }
    if (!rest)
        return GW_EINVAL;
    size_t host_len = strcspn(rest, rest[0] == '[' ? "]" : ":/");
    if (rest[0] == '[')
        host_len += rest[host_len] == ']';
    if (host_len == 0)
        return GW_EINVAL;
    const char *p = rest + host_len;
    if (*p == ':') {
        char *end;
        if (p[1] < '0' || p[1] > '9')
            return GW_EINVAL;
        unsigned long port = strtoul(p + 1, &end, 10);
        if (port == 0 || port > 65535)
            return GW_EINVAL;
        p = end;
    }
    return *p == '\0' || (path_ok && *p == '/') ? 0 : GW_EINVAL;
}

/* 1 when text is an InfluxQL duration literal: INF, or one or more
 * number-and-unit pairs (u, ms, s, m, h, d, w), e.g. "30d", "1h30m". */
static int cfg_influx_duration(const char *text)
{
    static const char *const units[] = {"ms", "u", "s", "m", "h", "d", "w"};
    if (strcmp(text, "INF") == 0)
        return 1;
    if (!*text)
        return 0;
    while (*text) {
        if (*text < '0' || *text > '9')
            return 0;
        while (*text >= '0' && *text <= '9')
            text++;
        size_t i = 0;
        while (i < 7 && strncmp(text, units[i], strlen(units[i])) != 0)
            i++;
        if (i == 7)
            return 0;
        text += strlen(units[i]);
    }
    return 1;
}

/* Fills cfg->retention from store.retention: one "width=duration" for every
 * width of windows.widths, each width once. Returns 0 or GW_ECONFIG. */
static int cfg_retention(struct gw_config *cfg, struct gw_config_diag *diag)
{
    char spec[512];
    /* A defaulted retention is wrong because of the widths: name their line. */
    int line = gw_config_line(cfg, "store", "retention");
    if (!line)
        line = gw_config_line(cfg, "windows", "widths");
    memset(cfg->retention, 0, sizeof cfg->retention);
    if (snprintf(spec, sizeof spec, "%s", cfg->store_retention) >= (int)sizeof spec)
        return cfg_fail(diag, line, "store.retention: longer than %zu characters", sizeof spec - 1);
    for (char *p = spec; *p;) {
        char *item = p, *eq;
        uint64_t w = 0;
        p += strcspn(p, ",");
        if (*p)
            *p++ = '\0';
        eq = strchr(item, '=');
        if (!eq || (*eq = '\0', gw_parse_duration_ms(item, &w)) != 0)
            return cfg_fail(diag, line, "store.retention: \"%s\" is not width=duration", item);
        size_t i = 0;
        while (i < cfg->n_widths && cfg->widths_ms[i] != w)
            i++;
        if (i == cfg->n_widths)
            return cfg_fail(diag, line, "store.retention: %s is not one of windows.widths (%s)",
                            item, cfg->widths_text);
        if (cfg->retention[i][0])
            return cfg_fail(diag, line, "store.retention: %s is given twice", item);
        if (!cfg_influx_duration(eq + 1) || strlen(eq + 1) >= sizeof cfg->retention[i])
            return cfg_fail(diag, line,
                            "store.retention: %s=%s: not an InfluxQL duration (30d, 104w, INF)",
                            item, eq + 1);
        memcpy(cfg->retention[i], eq + 1, strlen(eq + 1) + 1);
    }
    for (size_t i = 0; i < cfg->n_widths; i++)
        if (!cfg->retention[i][0])
            return cfg_fail(diag, line,
                            "store.retention: no retention policy for the width %" PRIu64
                            " s of windows.widths (%s); its lines could never be written",
                            cfg->widths_ms[i] / 1000, cfg->widths_text);
    /* The policies' names ("rp_30s") and the sink's spec of them ("rp_30s=30d,..."). */
    size_t off = 0;
    for (size_t i = 0; i < cfg->n_widths; i++) {
        char label[24];
        gw_lp_window_label((int64_t)cfg->widths_ms[i], label, sizeof label);
        snprintf(cfg->rp_names[i], sizeof cfg->rp_names[i], "rp_%s", label);
        int n = snprintf(cfg->retention_spec + off, sizeof cfg->retention_spec - off, "%s%s=%s",
                         off ? "," : "", cfg->rp_names[i], cfg->retention[i]);
        if (n < 0 || (size_t)n >= sizeof cfg->retention_spec - off)
            return cfg_fail(diag, line, "store.retention: longer than %zu characters as policies",
                            sizeof cfg->retention_spec - 1);
        off += (size_t)n;
    }
    return 0;
}

/* store.api's names of the store adapters, by enum gw_store_api. */
static const char *const cfg_store_apis[GW_STORE_N] = {
    [GW_STORE_INFLUX_V1] = "influx-v1",
    [GW_STORE_INFLUX_V2] = "influx-v2",
};

const char *gw_store_api_name(int api)
{
    return api >= 0 && api < GW_STORE_N ? cfg_store_apis[api] : NULL;
}

/* Sets cfg->store_api_id from store.api. Returns 0 or GW_ECONFIG. */
static int cfg_store_api(struct gw_config *cfg, struct gw_config_diag *diag)
{
    char names[64] = "";
    for (int api = 0; api < GW_STORE_N; api++) {
        if (strcmp(cfg->store_api, cfg_store_apis[api]) == 0) {
            cfg->store_api_id = (enum gw_store_api)api;
            return 0;
        }
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s",
                 api == 0                ? ""
                 : api + 1 == GW_STORE_N ? " or "
                                         : ", ",
                 cfg_store_apis[api]);
    }
    return cfg_fail(diag, 0, "store.api: \"%s\" is not %s", cfg->store_api, names);
}

void gw_config_sink(const struct gw_config *cfg, struct gw_sink_config *out)
{
    memset(out, 0, sizeof *out);
    out->api = cfg->store_api_id;
    out->url = cfg->store_url;
    out->database = cfg->store_database;
    out->org = cfg->store_org;
    out->bucket = cfg->store_bucket;
    out->token = cfg->store_token;
    out->username = cfg->store_username;
    out->password = cfg->store_password;
    out->gzip = cfg->store_gzip;
    out->timeout_ms = (uint32_t)cfg->store_timeout_ms;
    out->batch_lines = (uint32_t)cfg->store_batch_lines;
    out->batch_interval_ms = (uint32_t)cfg->store_batch_interval_ms;
    out->max_pending_bytes = cfg->store_max_pending_bytes;
    out->retry_min_ms = (uint32_t)cfg->store_retry_min_ms;
    out->retry_max_ms = (uint32_t)cfg->store_retry_max_ms;
    out->dead_letter_path = cfg->store_dead_letter;
    out->retention_policies = cfg->retention_spec;
}

void gw_config_webhook(const struct gw_config *cfg, struct gw_webhook_config *out)
{
    memset(out, 0, sizeof *out);
    out->url = cfg->webhook_url;
    out->timeout_ms = (uint32_t)cfg->webhook_timeout_ms;
    out->retry_min_ms = (uint32_t)cfg->store_retry_min_ms;
    out->retry_max_ms = (uint32_t)cfg->store_retry_max_ms;
    out->max_attempts = (unsigned)cfg->webhook_attempts;
    out->max_queue = (size_t)cfg->webhook_queue;
}

/* 1 when glob matches the name of some quantity of frame.proto. */
static int cfg_quantity_glob_matches(const char *glob)
{
    for (int q = 1; q < GW_QUANTITY_N_WIRE; q++)
        if (fnmatch(glob, gw_quantity_info(q)->name, 0) == 0)
            return 1;
    return 0;
}

/* Checks what one key cannot: relations between keys, lists, names. */
static int cfg_validate(struct gw_config *cfg, struct gw_config_diag *diag)
{
    char list[256];
    cfg->n_widths = 0;
    snprintf(list, sizeof list, "%s", cfg->widths_text);
    for (char *s = list; *s;) {
        char *item = s;
        uint64_t w;
        s += strcspn(s, ",");
        if (*s)
            *s++ = '\0';
        if (cfg->n_widths == GW_CONFIG_MAX_WIDTHS || gw_parse_duration_ms(item, &w) != 0 ||
            w < 1000)
            return cfg_fail(diag, gw_config_line(cfg, "windows", "widths"),
                            "windows.widths: \"%s\" is not a list of at most %d "
                            "durations of 1s or more",
                            cfg->widths_text, GW_CONFIG_MAX_WIDTHS);
        if (cfg->n_widths > 0 &&
            (w <= cfg->widths_ms[cfg->n_widths - 1] || w % cfg->widths_ms[0] != 0))
            return cfg_fail(diag, gw_config_line(cfg, "windows", "widths"),
                            "windows.widths: each width must be longer than the one before and "
                            "a multiple of the first");
        cfg->widths_ms[cfg->n_widths++] = w;
    }
    if (cfg->n_widths == 0)
        return cfg_fail(diag, gw_config_line(cfg, "windows", "widths"), "windows.widths: no width");
    int rc = cfg_retention(cfg, diag);
    if (rc != 0)
        return rc;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (gw_config_parse_listen(cfg->http_listen, &addr, &addr_len) != 0)
        return cfg_fail(diag, gw_config_line(cfg, "http", "listen"),
                        "http.listen: \"%s\" is not address:port (127.0.0.1:9100, [::1]:9100, "
                        ":9100), the port 0 ... 65535",
                        cfg->http_listen);
    if (!cfg->http_cert_file != !cfg->http_key_file)
        return cfg_fail(diag,
                        gw_config_line(cfg, "http", cfg->http_cert_file ? "cert_file" : "key_file"),
                        "http.cert_file and http.key_file go together: HTTPS needs both");
    static const char *const mqtt_schemes[] = {"tcp", "mqtt", "ssl", "mqtts", "ws", "wss", NULL};
    static const char *const http_schemes[] = {"http", "https", NULL};
    if (cfg_check_url(cfg->mqtt_url, mqtt_schemes, 0) != 0)
        return cfg_fail(diag, gw_config_line(cfg, "mqtt", "url"),
                        "mqtt.url: \"%s\" is not tcp://host:port or ssl://host:port (port 1 ... "
                        "65535)",
                        cfg->mqtt_url);
    if (cfg_check_url(cfg->store_url, http_schemes, 1) != 0)
        return cfg_fail(diag, gw_config_line(cfg, "store", "url"),
                        "store.url: \"%s\" is not http://host[:port] (port 1 ... 65535)",
                        cfg->store_url);
    if (cfg->webhook_url && cfg_check_url(cfg->webhook_url, http_schemes, 1) != 0)
        return cfg_fail(diag, gw_config_line(cfg, "alerts", "webhook"),
                        "alerts.webhook: \"%s\" is not http(s)://host[:port][/path]",
                        cfg->webhook_url);
    for (size_t r = 0; r < cfg->n_rules; r++)
        if (cfg->rules[r].quantity && !cfg_quantity_glob_matches(cfg->rules[r].quantity))
            return cfg_fail(diag, cfg->rule_lines[r],
                            "rule %s: quantity \"%s\" matches no quantity of frame.proto (SPEED, "
                            "TRAFFIC_VOLUME, PM2_5, ...): the rule could never fire",
                            cfg->rules[r].name, cfg->rules[r].quantity);
    if (cfg->mqtt_version == 4)
        return cfg_fail(diag, 0, "mqtt.version: 3 (3.1.1) or 5");
    if (cfg->mqtt_reconnect_min_ms > cfg->mqtt_reconnect_max_ms)
        return cfg_fail(diag, 0, "mqtt.reconnect_min is longer than mqtt.reconnect_max");
    if (cfg->store_retry_min_ms > cfg->store_retry_max_ms)
        return cfg_fail(diag, 0, "store.retry_min is longer than store.retry_max");
    if ((rc = cfg_store_api(cfg, diag)) != 0)
        return rc;
    if (cfg->store_api_id == GW_STORE_INFLUX_V2 && (!cfg->store_org || !cfg->store_bucket))
        return cfg_fail(diag, 0, "store.api influx-v2 needs store.org and store.bucket");

    struct gw_rules *rules = NULL;
    struct gw_rules_diag rd = {0, ""};
    struct gw_rules_limits limits = {1, 1};
    rc = gw_rules_new(cfg->rules, cfg->n_rules, &limits, &rules, &rd);
    gw_rules_free(rules);
    if (rc == GW_ECONFIG)
        return cfg_fail(diag, rd.rule < cfg->n_rules ? cfg->rule_lines[rd.rule] : 0, "rule %s",
                        rd.message);
    return rc;
}

int gw_config_parse(struct gw_config *cfg, const char *text, size_t len,
                    struct gw_config_diag *diag)
{
    struct cfg_parse p = {.cfg = cfg, .diag = diag, .text = text, .left = len};
    int bad_line = ini_parse_stream(cfg_read_line, &p, cfg_handle, &p);
    if (p.rc != 0)
        return p.rc;
    if (p.too_long)
        return cfg_fail(diag, p.line + 1, "line longer than %d characters", INI_MAX_LINE - 3);
    if (bad_line > 0)
        return cfg_fail(diag, bad_line, "not a [section] or key = value line");
    if (bad_line < 0)
        return GW_ENOMEM;
    return cfg_validate(cfg, diag);
}

static const char *cfg_type_name(enum cfg_type t)
{
    static const char *const names[] = {"string", "bool",   "integer",     "duration",
                                        "size",   "number", "above|below", "warn|crit"};
    return names[t];
}

size_t gw_config_restart_changes(const struct gw_config *running, const struct gw_config *next,
                                 char *names, size_t cap)
{
    size_t n = 0, len = 0;
    if (cap)
        names[0] = '\0';
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->apply == RELOAD)
            continue;
        const void *a = (const char *)running + k->offset, *b = (const char *)next + k->offset;
        int same;
        if (k->type == T_STR) {
            const char *sa = *(char *const *)a, *sb = *(char *const *)b;
            same = sa == sb || (sa && sb && strcmp(sa, sb) == 0);
        } else if (k->type == T_BOOL) {
            same = *(const int *)a == *(const int *)b;
        } else {
            same = *(const uint64_t *)a == *(const uint64_t *)b;
        }
        if (same)
            continue;
        if (len < cap) {
            int w = snprintf(names + len, cap - len, "%s%s.%s", n ? ", " : "", k->section, k->key);
            len += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}

size_t gw_config_n_docs(void)
{
    return N_KEYS;
}

void gw_config_doc(size_t i, struct gw_config_doc *out)
{
    const struct cfg_key *k = &cfg_keys[i];
    out->section = strcmp(k->section, "rule") == 0 ? "rule NAME" : k->section;
    out->key = k->key;
    out->type = cfg_type_name(k->type);
    out->default_value = k->def ? k->def : "";
    out->help = k->help;
}
