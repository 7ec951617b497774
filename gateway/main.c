/*
 * main.c -- citygate: wires the core (gateway/core) to its adapters
 * (gateway/io) and runs the clock.
 *
 * Threads: Paho's receive thread runs the arrival path (admit, journal,
 * commit) under the gateway lock; the main thread ticks (closes windows,
 * ticks rules) under the same lock, then fsyncs the journal and writes
 * snapshots outside it, and waits for signals in between with
 * sigtimedwait(), so signal handling is plain code; the store writer and the
 * HTTP server have their own threads.
 *
 * Start-up order makes "acknowledged means durable" hold across crashes: the
 * journal is replayed into the core (from the newest snapshot) before the
 * MQTT session is resumed, so redeliveries of frames that were journaled but
 * not yet acknowledged meet a dedup state that already knows them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "cli.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "messages.h"
#include "notify.h"
#include "stream.h"
#include "units.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_IOERR 74
#define EX_CONFIG 78
#define LP_BUF_BYTES (512 * 1024)
#define TICK_NODES 32 /* nodes whose due windows close per hold of the lock: ~2M instructions */
/* A quarantine copy holds at most this much of a payload: every frame a node can send, whole. */
#define QUARANTINE_MAX_BYTES WIRE_DEFAULT_MAX_FRAME_BYTES

/* What the configuration parser cannot check, being pure: the files it names
 * that the start reads (TLS) can be read. Returns 0 or GW_ECONFIG with diag. */
static int check_files(const struct gw_config *cfg, struct gw_config_diag *diag)
{
    static const char *const keys[][2] = {{"mqtt", "ca_file"},
                                          {"mqtt", "cert_file"},
                                          {"mqtt", "key_file"},
                                          {"http", "cert_file"},
                                          {"http", "key_file"}};
    const char *const paths[] = {cfg->mqtt_ca_file, cfg->mqtt_cert_file, cfg->mqtt_key_file,
                                 cfg->http_cert_file, cfg->http_key_file};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        FILE *f = paths[i] ? fopen(paths[i], "r") : NULL;
        if (paths[i] && !f) {
            diag->line = gw_config_line(cfg, keys[i][0], keys[i][1]);
            snprintf(diag->message, sizeof diag->message, "%s.%s: cannot read %s: %s", keys[i][0],
                     keys[i][1], paths[i], strerror(errno));
            return GW_ECONFIG;
        }
        if (f)
            fclose(f);
    }
    return 0;
}

/* Loads and validates the configuration file; prints file:line: message on failure. */
static int load_config(const char *path, struct gw_config *cfg)
{
    struct gw_config_diag diag = {0, ""};
    size_t len = 0;
    char *text = NULL;
    int rc = cli_read_file(path, SIZE_MAX, &text, &len);
    if (rc != 0) {
        fprintf(stderr, "citygate: %s: %s\n", path, strerror(-rc));
        return EX_CONFIG;
    }
    rc = gw_config_init(cfg);
    if (rc == 0)
        rc = gw_config_parse(cfg, text, len, &diag);
    free(text);
    if (rc == 0 && (rc = check_files(cfg, &diag)) == 0)
        return 0;
    if (diag.line > 0)
        fprintf(stderr, "%s:%d: %s\n", path, diag.line, diag.message);
    else
        fprintf(stderr, "%s: %s\n", path, rc == GW_ECONFIG ? diag.message : gw_strerror(rc));
    gw_config_fini(cfg);
    return EX_CONFIG;
}

static int load_registry(const char *path, struct gw_registry **out)
{
    struct gw_registry_diag diag = {0, ""};
    size_t len = 0;
    char *text = NULL;
    int rc = cli_read_file(path, SIZE_MAX, &text, &len);
    if (rc != 0) {
        fprintf(stderr, "citygate: registry %s: %s\n", path, strerror(-rc));
        return EX_CONFIG;
    }
    rc = gw_registry_new(text, len, out, &diag);
    free(text);
    if (rc == 0)
        return 0;
    fprintf(stderr, "%s:%d: %s\n", path, diag.line,
            rc == GW_ECONFIG ? diag.message : gw_strerror(rc));
    return EX_CONFIG;
}

/* ---- output: line protocol per retention policy ---- */

static void flush_lines(struct gateway *gw, size_t i)
{
    if (gw->lp[i].len == 0)
        return;
    const char *rp = i < gw->cfg.n_widths ? gw->cfg.rp_names[i] : gw->cfg.rp_names[0];
    if (gw_sink_push(gw->sink, rp, gw->lp[i].buf, gw->lp[i].len, gw->lp_lines[i]) != 0)
        gw_log(GW_LOG_ERROR, "store_queue_full", NULL, "out of memory; %zu lines lost",
               gw->lp_lines[i]);
    gw->lp[i].len = 0;
    gw->lp_lines[i] = 0;
}

static int emit_aggregate(void *ctx, const struct gw_aggregate *agg)
{
    struct gateway *gw = ctx;
    size_t i = agg->level;
    int rc = gw_lp_encode_aggregate(&gw->lp[i], &gw->naming, agg);
    if (rc == GW_EFULL) {
        flush_lines(gw, i);
        rc = gw_lp_encode_aggregate(&gw->lp[i], &gw->naming, agg);
    }
    if (rc != 0) {
        gw_log(GW_LOG_ERROR, "aggregate_not_encoded", NULL,
               "cannot encode an aggregate of %s/%s: %s", agg->key.site, agg->key.node,
               gw_strerror(rc));
        return 0;
    }
    gw->lp_lines[i]++;
    if (agg->level == 0 && !agg->partial) { /* a part is not the window: the live view skips it */
        gw_live_update(gw->live, agg);
        gw_stream_window(gw, agg);
    }
    return 0;
}

/* ---- alerts ---- */

static void on_alert(void *ctx, const struct gw_alert_event *ev)
{
    struct gateway *gw = ctx;
    char topic[512], json[1024];
    int n = gw_msg_alert_json(ev, json, sizeof json);
    if (n < 0 || gw_msg_alert_topic(ev, topic, sizeof topic) < 0) {
        gw_log(GW_LOG_ERROR, "alert_not_encoded", ev->rule, "cannot encode an alert of %s/%s",
               ev->site, ev->node);
        return;
    }
    gw_stream_alert(gw, ev, json, (size_t)n);
    if (gw_outbox_push(&gw->outbox, topic, json, (size_t)n) != 0)
        gw_log(GW_LOG_WARN, "alert_not_queued", NULL, "alert outbox full: %s is not published",
               topic);
    if (gw->webhook)
        gw_webhook_post(gw->webhook, json, (size_t)n);
    gw_log(GW_LOG_INFO, "alert", ev->rule, "%s %s/%s %s lane %" PRIu32 ": %s -> %s (%s)", ev->rule,
           ev->site, ev->node, ev->quantity, ev->lane, gw_alert_level_name(ev->old_level),
           gw_alert_level_name(ev->new_level), gw_alert_cause_name(ev->cause));
    size_t i = gw->cfg.n_widths;
    if (gw->cfg.alerts_to_store && gw_msg_alert_line(&gw->lp[i], ev) == 0)
        gw->lp_lines[i]++;
}

/*
 * Publishes the alerts queued in the outbox, oldest first; called by any
 * thread without the lock. One thread publishes at a time (the others leave
 * their alerts to it), and never while holding the lock (outbox.h says why).
 * gw->mqtt is used outside the lock: stop() waits for outbox_busy to fall
 * before it takes the client away.
 */
static void publish_alerts(struct gateway *gw)
{
    struct gw_outbox_msg *m;
    pthread_mutex_lock(&gw->lock);
    if (gw->outbox_busy) {
        pthread_mutex_unlock(&gw->lock);
        return;
    }
    gw->outbox_busy = 1;
    while ((m = gw_outbox_pop(&gw->outbox)) != NULL) {
        struct gw_mqtt *mqtt = gw->mqtt;
        pthread_mutex_unlock(&gw->lock);
        int ok = mqtt && gw_mqtt_publish(mqtt, m->topic, m->payload, m->len, 1, 1) == 0;
        free(m);
        pthread_mutex_lock(&gw->lock);
        if (ok)
            gw->alerts_published++;
    }
    gw->outbox_busy = 0;
    pthread_cond_broadcast(&gw->outbox_idle);
    pthread_mutex_unlock(&gw->lock);
}

/* ---- arrival path (Paho's thread) ---- */

/*
 * Logs a refused frame and publishes it on its quarantine topic: the reason,
 * the payload's length and SHA-256, and its first QUARANTINE_MAX_BYTES bytes
 * in hex, so that a payload of any size makes a message of bounded size.
 * The log line quotes the topic and the detail; gw_log() escapes them.
 */
static void quarantine(struct gateway *gw, const char *topic, const struct gw_arrival *m,
                       const struct gw_reject_diag *diag)
{
    char qtopic[256];
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned sha_len = 0;
    size_t shown = m->len < QUARANTINE_MAX_BYTES ? m->len : QUARANTINE_MAX_BYTES;
    char *msg;

    gw_log(GW_LOG_WARN, "frame_refused", gw_reject_name(diag->reason), "on %.200s: %s%s%s", topic,
           gw_reject_text(diag->reason), diag->detail[0] ? ": " : "", diag->detail);
    if (!gw->cfg.quarantine || !gw->mqtt)
        return;
    if (gw_msg_quarantine_topic(m->topic, qtopic, sizeof qtopic) < 0)
        return;
    if (EVP_Digest(m->payload, m->len, sha, &sha_len, EVP_sha256(), NULL) != 1)
        sha_len = 0;
    if (!(msg = malloc(GW_MSG_QUARANTINE_CAP(shown))))
        return;
    struct gw_msg_quarantine q = {diag->reason, gw_wall_ms(), m->payload,          m->len,
                                  sha,          sha_len,      QUARANTINE_MAX_BYTES};
    int n = gw_msg_quarantine_json(&q, msg, GW_MSG_QUARANTINE_CAP(shown));
    if (n >= 0 && gw_mqtt_publish(gw->mqtt, qtopic, msg, (size_t)n, 0, 0) == 0)
        gw->quarantined++;
    free(msg);
}

/* Names a node whose values came too late, or whose frames are far behind their arrival. */
static void log_late(const struct gw_late_report *late)
{
    if (late->values > 0)
        gw_log(GW_LOG_WARN, "values_too_late", NULL,
               "%s/%s: %" PRIu64 " values too late for their windows (%" PRIu64
               " since the start); its frame's timestamp is %.1f s behind its arrival (a clock "
               "behind, or a backlog older than windows.late_horizon)",
               late->site, late->node, late->values, late->total, (double)late->behind_ms / 1000.0);
    else
        gw_log(GW_LOG_INFO, "node_behind", NULL,
               "%s/%s: frame timestamps %.1f s behind their arrival (a clock behind, or a "
               "backlog draining); windowed by their own time",
               late->site, late->node, (double)late->behind_ms / 1000.0);
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len)
{
    struct gateway *gw = ctx;
    struct gw_admitted a;
    struct gw_reject_diag diag;
    struct gw_topic t;
    uint64_t now = gw_wall_ms();

    atomic_fetch_add(&gw->arrivals_waiting, 1);
    pthread_mutex_lock(&gw->lock);
    atomic_fetch_sub(&gw->arrivals_waiting, 1);
    /* The topic is parsed once, here: status or data, and the quarantine's topic. */
    const struct gw_topic *tp = gw_topic_parse(topic, strlen(topic), &t) == 0 ? &t : NULL;
    struct gw_arrival m = {tp, payload, len, now};
    struct gw_pipeline_out to = {emit_aggregate, gw, on_alert, gw};
    if (tp && t.kind == GW_TOPIC_STATUS) {
        int dead = gw_pipeline_status(gw->pipe, &m, &to, &diag);
        if (dead >= 0) {
            const struct gw_device *dev = gw_registry_find(gw->reg, t.node);
            gw_live_node_status(gw->live, t.site, t.node, dead, (int64_t)now);
            if (dev)
                gw_stream_status(gw, dev, dead, now);
        } else {
            gw_log(GW_LOG_WARN, "status_refused", gw_reject_name(diag.reason), "on %s: %s%s%s",
                   topic, gw_reject_text(diag.reason), diag.detail[0] ? ": " : "", diag.detail);
        }
        goto out;
    }
    int rc = gw_pipeline_admit(gw->pipe, &m, &a, &diag);
    if (rc != 0) {
        gw_stream_refused(gw, tp, diag.reason);
        quarantine(gw, topic, &m, &diag);
        goto out;
    }
    int jrc = gw_journal_append(gw->journal, now, topic, payload, len);
    if (jrc != 0) {
        /* Paho acknowledged it on receipt: refusing it would not bring it back in order. */
        gw->journal_errors++;
        gw->journal_full = 1; /* the clock stops consuming until room is checked again */
        gw_log(GW_LOG_ERROR, "journal_append_failed", NULL, "%s; a frame of %s is lost",
               gw_strerror(jrc), topic);
        goto out;
    }
    if (gw_pipeline_commit(gw->pipe, &a, now, &to, &diag) != 0) {
        gw_stream_refused(gw, tp, diag.reason);
        quarantine(gw, topic, &m, &diag);
        goto out;
    }
    gw_stream_frame(gw, &a, now);
    struct gw_late_report late;
    if (gw_pipeline_late_report(gw->pipe, &late))
        log_late(&late);
out:
    pthread_mutex_unlock(&gw->lock);
    publish_alerts(gw);
}

/* ---- recovery ---- */

static int replay_record(void *ctx, uint64_t arrival_ms, const char *topic, const uint8_t *payload,
                         size_t len)
{
    struct gateway *gw = ctx;
    struct gw_admitted a;
    struct gw_topic t;
    if (strcmp(topic, GW_PIPELINE_RESUME_TOPIC) == 0) {
        gw_pipeline_resume(gw->pipe, arrival_ms);
        return 0;
    }
    if (gw->replay_incomplete) {
        /* Whatever arrived before this record is gone: its windows must not be written. */
        gw_pipeline_mark_incomplete(gw->pipe, arrival_ms);
        gw_log(GW_LOG_WARN, "journal_incomplete", NULL,
               "no snapshot could be restored and the journal's start is gone; windows "
               "starting before %" PRIu64 " ms are rebuilt from part of their data and not written",
               arrival_ms + gw->cfg.max_skew_ms);
        gw->replay_incomplete = 0;
    }
    int parsed = gw_topic_parse(topic, strlen(topic), &t) == 0;
    struct gw_arrival m = {parsed ? &t : NULL, payload, len, arrival_ms};
    struct gw_pipeline_out to = {emit_aggregate, gw, NULL, NULL}; /* nothing notified twice */
    if (gw_pipeline_admit(gw->pipe, &m, &a, NULL) == 0 &&
        gw_pipeline_commit(gw->pipe, &a, arrival_ms, &to, NULL) == 0)
        gw->replayed++;
    /* Close windows on the replayed clock, so they close as they did the first time. */
    gw_pipeline_tick(gw->pipe, arrival_ms, SIZE_MAX, &to);
    return 0;
}

/*
 * Restores the newest snapshot that loads and restores, else the one before
 * it (the journal is kept back to that one), then replays the journal after
 * it. Without either, the whole journal is replayed; if its start was
 * trimmed, the windows it cannot rebuild whole are marked incomplete.
 */
static int recover(struct gateway *gw)
{
    struct gw_journal_pos from = {0, 0};
    int rc = GW_ENOTFOUND, restored = 0;
    for (int gen = 0; gen < GW_JOURNAL_SNAPSHOTS && !restored; gen++) {
        void *state = NULL;
        size_t len = 0;
        rc = gw_journal_load_snapshot(gw->journal, gen, &from, &state, &len);
        if (rc == GW_ENOTFOUND)
            continue;
        if (rc == 0) {
            rc = gw_pipeline_restore(gw->pipe, state, len);
            free(state);
        }
        if (rc == 0)
            restored = 1;
        else
            gw_log(GW_LOG_WARN, "snapshot_unreadable", NULL, "snapshot %d (%s) unusable: %s", gen,
                   gen == 0 ? "newest" : "older", gw_strerror(rc));
    }
    if (!restored) {
        from = (struct gw_journal_pos){0, 0};
        gw->replay_incomplete = !gw_journal_complete(gw->journal);
    }
    rc = gw_journal_replay(gw->journal, from, replay_record, gw);
    gw->replay_incomplete = 0;
    /* The time down does not count on the windows' clocks (window.h), here and in a replay. */
    uint64_t now = gw_wall_ms();
    int jrc = gw_journal_append(gw->journal, now, GW_PIPELINE_RESUME_TOPIC, (const uint8_t *)"", 0);
    if (jrc != 0)
        gw_log(GW_LOG_WARN, "journal_append_failed", NULL,
               "%s; a replay of this journal will count the time down on the windows' clocks",
               gw_strerror(jrc));
    gw_pipeline_resume(gw->pipe, now);
    for (size_t i = 0; i <= gw->cfg.n_widths; i++)
        flush_lines(gw, i);
    gw_stream_tick(gw, gw_wall_ms()); /* the replayed windows, for the page's history */
    gw_log(GW_LOG_INFO, "recovered", NULL, "%" PRIu64 " frames replayed from the journal",
           gw->replayed);
    return rc;
}

/* A snapshot of the core, taken under the lock and written after it. */
struct snapshot {
    uint8_t *buf;
    size_t len;
    struct gw_journal_pos pos;
};

/* Under the lock: takes a snapshot when one is due and the store holds
 * everything emitted so far (so the journal before it can go). */
static void take_snapshot(struct gateway *gw, uint64_t now, int force, struct snapshot *snap)
{
    struct gw_sink_stats st;

    if (!force && now - gw->last_snapshot_ms < gw->cfg.snapshot_interval_ms)
        return;
    for (size_t i = 0; i <= gw->cfg.n_widths; i++)
        if (gw->lp[i].len)
            return;
    gw_sink_stats(gw->sink, &st);
    if (st.lines_pending > 0)
        return;
    gw->last_snapshot_ms = now;
    snap->pos = gw_journal_end(gw->journal);
    if (gw_pipeline_snapshot(gw->pipe, &snap->buf, &snap->len) != 0)
        gw_log(GW_LOG_ERROR, "snapshot_failed", NULL, "out of memory");
    else
        gw->snapshot_bytes = snap->len;
}

/*
 * Group commit of the journal, and the snapshot when one is due. The disk
 * work runs outside the lock, so that arrivals never wait on fsync: the
 * journal's descriptor and the core's state are taken under the lock, the
 * journal is flushed after it, and the snapshot is written only once the
 * records before it are on disk; only then is the journal trimmed.
 */
static void persist(struct gateway *gw, uint64_t now, int force_snapshot)
{
    struct snapshot snap = {NULL, 0, {0, 0}};
    int fd = -1, rc = 0, snap_rc = 0;

    pthread_mutex_lock(&gw->lock);
    take_snapshot(gw, now, force_snapshot, &snap);
    if (snap.buf || now - gw->last_sync_ms >= gw->cfg.fsync_interval_ms) {
        rc = gw_journal_sync_fd(gw->journal, &fd);
        gw->last_sync_ms = now;
    }
    pthread_mutex_unlock(&gw->lock);

    if (fd >= 0) {
        if (fdatasync(fd) != 0)
            rc = gw_err_os(errno);
        close(fd);
    }
    if (rc == 0 && snap.buf)
        snap_rc = gw_journal_write_snapshot(gw->journal, snap.pos, snap.buf, snap.len);
    if (rc == 0 && !snap.buf)
        return; /* the common case: nothing to count, log or trim */

    pthread_mutex_lock(&gw->lock);
    if (rc != 0) {
        gw->journal_errors++;
        gw_log(GW_LOG_ERROR, "journal_fsync_failed", NULL, " %s", gw_strerror(rc));
    } else if (snap_rc != 0) {
        gw_log(GW_LOG_ERROR, "snapshot_failed", NULL, "cannot write in %s: %s", gw->cfg.journal_dir,
               gw_strerror(snap_rc));
    } else if (snap.buf) {
        gw_journal_trim(gw->journal, snap.pos);
    }
    pthread_mutex_unlock(&gw->lock);
    free(snap.buf);
}

/*
 * Stops taking frames before an append could fail: when the segment after
 * the journal's last cannot be allocated, or the filesystem lacks room for
 * two more snapshots, the MQTT session is paused (the broker keeps the
 * frames) while the last segment still has room for those on their way;
 * it resumes once room is back (a snapshot trimmed the journal, or space
 * was freed).
 */
static void check_room(struct gateway *gw)
{
    pthread_mutex_lock(&gw->lock);
    int was_full = gw->journal_full;
    int rc = gw_journal_room_ahead(gw->journal, 2 * gw->snapshot_bytes + (1u << 20));
    gw->journal_full = rc != 0;
    struct gw_mqtt *mqtt = gw->mqtt;
    pthread_mutex_unlock(&gw->lock);
    if (rc != 0 && !was_full)
        gw_log(GW_LOG_WARN, "journal_full", NULL,
               "no room ahead in %s (%s); not taking frames until there is (the broker keeps "
               "them)",
               gw->cfg.journal_dir, gw_strerror(rc));
    if (rc == 0 && was_full)
        gw_log(GW_LOG_INFO, "journal_room", NULL, "room again in %s; taking frames",
               gw->cfg.journal_dir);
    if (mqtt && rc != 0)
        gw_mqtt_pause(mqtt);
    else if (mqtt)
        gw_mqtt_resume(mqtt);
}

/*
 * Closes the windows that are due, a few nodes per hold of the lock: at a
 * window boundary every series closes at once, and arrivals (and the alerts
 * they raise) should wait for one part of that, not all of it. Between
 * parts, waiting arrivals go first.
 */
static void tick(struct gateway *gw, uint64_t now)
{
    int more;
    do {
        pthread_mutex_lock(&gw->lock);
        struct gw_pipeline_out to = {emit_aggregate, gw, on_alert, gw};
        more = gw_pipeline_tick(gw->pipe, now, TICK_NODES, &to) == 1;
        if (!more) {
            for (size_t i = 0; i <= gw->cfg.n_widths; i++)
                flush_lines(gw, i);
            gw_stream_tick(gw, now);
        }
        pthread_mutex_unlock(&gw->lock);
        publish_alerts(gw);
        while (more && atomic_load(&gw->arrivals_waiting) > 0)
            sched_yield();
    } while (more);
    persist(gw, now, 0);
    check_room(gw);
}

/* ---- HTTP ---- */

static int render_live(void *ctx, FILE *out)
{
    struct gateway *gw = ctx;
    pthread_mutex_lock(&gw->lock);
    gw_live_write_json(gw->live, gw->reg, (int64_t)gw_wall_ms(), out);
    pthread_mutex_unlock(&gw->lock);
    return 0;
}

/* Whether the MQTT client is connected now (HTTP thread; takes the gateway lock). */
static int broker_connected(struct gateway *gw)
{
    struct gw_mqtt_stats ms = {0};
    pthread_mutex_lock(&gw->lock);
    if (gw->mqtt)
        gw_mqtt_stats(gw->mqtt, &ms);
    pthread_mutex_unlock(&gw->lock);
    return ms.connected;
}

/* Liveness: the process answers. The broker's state is reported, not judged
 * (that is /readyz's job). */
static int render_health(void *ctx, FILE *out)
{
    fprintf(out, "{\"alive\":true,\"mqtt_connected\":%s}\n",
            broker_connected(ctx) ? "true" : "false");
    return 0;
}

static int render_ready(void *ctx, FILE *out)
{
    struct gateway *gw = ctx;
    return gw_ready_write_json(&gw->ready, out) ? 0 : 503;
}

static int ready_broker(void *ctx, char *reason, size_t size)
{
    struct gateway *gw = ctx;
    int connected = broker_connected(gw);
    if (!connected)
        snprintf(reason, size, "not connected to %s", gw->cfg.mqtt_url);
    return connected;
}

static int ready_store(void *ctx, char *reason, size_t size)
{
    struct gateway *gw = ctx;
    struct gw_sink_stats ss;
    gw_sink_stats(gw->sink, &ss);
    if (!ss.prepared)
        snprintf(reason, size, "not prepared yet: %s",
                 ss.last_error[0] ? ss.last_error : "first attempt under way");
    else if (ss.failing)
        snprintf(reason, size, "writes failing: %s", ss.last_error);
    return ss.prepared && !ss.failing;
}

/* The journal holds every frame the store has not confirmed; past nine
 * tenths of its bound it will soon drop the oldest. */
static int ready_journal(void *ctx, char *reason, size_t size)
{
    struct gateway *gw = ctx;
    struct gw_journal_stats js;
    pthread_mutex_lock(&gw->lock);
    gw_journal_stats(gw->journal, &js);
    int full = gw->journal_full;
    pthread_mutex_unlock(&gw->lock);
    uint64_t bound = gw->cfg.journal_max_bytes;
    if (full)
        snprintf(reason, size, "no room ahead in %s: frames are left at the broker",
                 gw->cfg.journal_dir);
    else if (js.bytes > bound / 10 * 9)
        snprintf(reason, size, "%" PRIu64 " of %" PRIu64 " bytes used: the store is not keeping up",
                 js.bytes, bound);
    return !full && js.bytes <= bound / 10 * 9;
}

static const struct gw_http_route routes[] = {
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", gw_metrics_render},
    {"/api/v1/live", "application/json", render_live},
    {"/healthz", "application/json", render_health},
    {"/readyz", "application/json", render_ready},
};

/* ---- set-up ---- */

/* Serves the page, its API and /metrics, over HTTPS when http.cert_file is set. */
static int start_http(struct gateway *gw)
{
    struct gw_http_config hc = {.listen = gw->cfg.http_listen,
                                .routes = routes,
                                .n_routes = sizeof routes / sizeof *routes,
                                .streams = &gw_stream_route,
                                .n_streams = 1,
                                .actions = &gw_stream_ack_action,
                                .n_actions = 1,
                                .assets = gw_web_assets,
                                .n_assets = gw_web_n_assets,
                                .ctx = gw};
    char *cert = NULL, *key = NULL, err[256];
    size_t len;
    int rc = 0;
    if (gw->cfg.http_cert_file &&
        ((rc = cli_read_file(gw->cfg.http_cert_file, SIZE_MAX, &cert, &len)) != 0 ||
         (rc = cli_read_file(gw->cfg.http_key_file, SIZE_MAX, &key, &len)) != 0)) {
        fprintf(stderr, "citygate: http: cannot read %s: %s\n",
                cert ? gw->cfg.http_key_file : gw->cfg.http_cert_file, strerror(-rc));
        rc = EX_CONFIG;
        goto out;
    }
    hc.cert_pem = cert;
    hc.key_pem = key;
    if (gw_http_new(&hc, &gw->http, err, sizeof err) != 0) {
        fprintf(stderr, "citygate: http: %s\n", err);
        rc = EX_UNAVAILABLE;
    }
out:
    free(cert);
    free(key);
    return rc;
}

static int start(struct gateway *gw)
{
    char err[256], why[256];
    struct gw_pipeline_config pc;
    int rc;

    if ((rc = load_registry(gw->cfg.registry_file, &gw->reg)) != 0)
        return rc;
    memset(&pc, 0, sizeof pc);
    pc.max_frame_bytes = gw->cfg.max_frame_bytes;
    pc.limits.max_skew_ms = gw->cfg.max_skew_ms;
    pc.limits.max_age_ms = gw->cfg.max_age_ms;
    pc.max_devices = gw->cfg.max_devices;
    pc.dedup_window = gw->cfg.dedup_window;
    gw_windows_config_default(&pc.windows);
    for (size_t i = 0; i < gw->cfg.n_widths; i++)
        pc.windows.widths_ms[i] = (int64_t)gw->cfg.widths_ms[i];
    pc.windows.n_widths = (unsigned)gw->cfg.n_widths;
    pc.windows.grace_ms = (int64_t)gw->cfg.grace_ms;
    pc.windows.late_horizon_ms = (int64_t)gw->cfg.late_horizon_ms;
    pc.windows.max_ahead_ms = (int64_t)gw->cfg.max_skew_ms;
    pc.windows.max_series = gw->cfg.max_series;
    pc.windows.max_node_series = gw->cfg.max_node_series;
    pc.rules = gw->cfg.rules;
    pc.n_rules = gw->cfg.n_rules;
    if ((rc = gw_pipeline_new(&pc, gw->reg, &gw->pipe, why, sizeof why)) != 0) {
        fprintf(stderr, "citygate: %s: %s\n", gw->config_path, why);
        return rc == GW_ENOMEM ? EX_SOFTWARE : EX_CONFIG;
    }
    if (!(gw->live = gw_live_new((int64_t)gw->cfg.grace_ms)) || gw_stream_start(gw) != 0)
        return EX_SOFTWARE;
    gw->lp_store = malloc((gw->cfg.n_widths + 1) * LP_BUF_BYTES);
    if (!gw->lp_store)
        return EX_SOFTWARE;
    for (size_t i = 0; i <= gw->cfg.n_widths; i++)
        gw_lpbuf_init(&gw->lp[i], gw->lp_store + i * LP_BUF_BYTES, LP_BUF_BYTES);
    gw->naming.scheme = GW_LP_BY_FAMILY;

    mkdir(gw->cfg.journal_dir, 0700);
    struct gw_journal_config jc = {gw->cfg.journal_dir, gw->cfg.journal_max_bytes,
                                   gw->cfg.journal_segment_bytes};
    if (gw_journal_open(&jc, &gw->journal, err, sizeof err) != 0) {
        fprintf(stderr, "citygate: journal: %s\n", err);
        return EX_IOERR;
    }
    struct gw_journal_stats js;
    gw_journal_stats(gw->journal, &js);
    if (js.damaged_segments > 0)
        gw_log(GW_LOG_WARN, "journal_damaged", NULL,
               "%" PRIu64 " damaged records (%" PRIu64 " bytes in %" PRIu64
               " spans) passed over in %" PRIu64
               " segments; those segments are kept and renamed *.damaged when they leave",
               js.damaged_records, js.damaged_bytes, js.damaged_spans, js.damaged_segments);

    gw_config_sink(&gw->cfg, &gw->sink_cfg);
    if (gw_sink_new(&gw->sink_cfg, &gw->sink, err, sizeof err) != 0) {
        fprintf(stderr, "citygate: store: %s\n", err);
        return EX_CONFIG;
    }

    if (gw->cfg.webhook_url) {
        struct gw_webhook_config wc;
        gw_config_webhook(&gw->cfg, &wc);
        if (gw_webhook_new(&wc, &gw->webhook) != 0)
            return EX_SOFTWARE;
    }

    if (recover(gw) != 0) {
        fprintf(stderr, "citygate: journal replay failed\n");
        return EX_IOERR;
    }

    gw_ready_init(&gw->ready);
    gw_ready_add(&gw->ready, "broker", ready_broker, gw);
    gw_ready_add(&gw->ready, "store", ready_store, gw);
    gw_ready_add(&gw->ready, "journal", ready_journal, gw);
    if ((rc = start_http(gw)) != 0)
        return rc;
    static const char *const topics[] = {"city/v1/+/+/data", "city/v1/+/+/status"};
    struct gw_mqtt_config mc = {gw->cfg.mqtt_url,
                                gw->cfg.mqtt_client_id,
                                gw->cfg.mqtt_username,
                                gw->cfg.mqtt_password,
                                gw->cfg.mqtt_ca_file,
                                gw->cfg.mqtt_cert_file,
                                gw->cfg.mqtt_key_file,
                                (int)gw->cfg.mqtt_version,
                                (uint32_t)gw->cfg.mqtt_keepalive_ms,
                                (uint32_t)gw->cfg.mqtt_reconnect_min_ms,
                                (uint32_t)gw->cfg.mqtt_reconnect_max_ms,
                                topics,
                                2};
    struct gw_mqtt *mqtt = NULL;
    if (gw_mqtt_new(&mc, on_message, gw, 10000, &mqtt, err, sizeof err) != 0) {
        fprintf(stderr, "citygate: %s\n", err);
        return EX_UNAVAILABLE;
    }
    pthread_mutex_lock(&gw->lock);
    gw->mqtt = mqtt;
    pthread_mutex_unlock(&gw->lock);
    gw_log(GW_LOG_INFO, "running", NULL,
           " broker %s, store %s, http port %u, %zu devices, %zu rules", gw->cfg.mqtt_url,
           gw->cfg.store_url, gw_http_port(gw->http), gw_registry_count(gw->reg), gw->cfg.n_rules);
    return 0;
}

/*
 * SIGHUP: the device registry and the rules are replaced if the whole file
 * (and the registry it names) is valid; otherwise the running ones are kept.
 * Alert states carry over (gw_pipeline_set_rules()); the alerts that change
 * are published once the lock is released. Other keys take effect at the
 * next start: those that differ from the running ones are named in a warning.
 */
static void reload(struct gateway *gw)
{
    struct gw_config cfg;
    struct gw_registry *reg = NULL;
    char why[256], restart[512];
    if (load_config(gw->config_path, &cfg) != 0) {
        gw_log(GW_LOG_ERROR, "reload_refused", NULL,
               "%s is not valid; keeping the running configuration", gw->config_path);
        return;
    }
    if (load_registry(cfg.registry_file, &reg) != 0) {
        gw_log(GW_LOG_ERROR, "reload_refused", "registry",
               "registry not valid; keeping the running configuration");
        gw_config_fini(&cfg);
        return;
    }
    pthread_mutex_lock(&gw->lock);
    struct gw_pipeline_out to = {NULL, NULL, on_alert, gw};
    int rc =
        gw_pipeline_set_rules(gw->pipe, cfg.rules, cfg.n_rules, gw_wall_ms(), &to, why, sizeof why);
    if (rc == 0) {
        gw_pipeline_set_registry(gw->pipe, reg);
        gw_registry_free(gw->reg);
        gw->reg = reg;
        reg = NULL;
    }
    pthread_mutex_unlock(&gw->lock);
    publish_alerts(gw);
    if (rc == 0) {
        gw_log(GW_LOG_INFO, "reloaded", NULL, "reloaded: %zu devices, %zu rules",
               gw_registry_count(gw->reg), cfg.n_rules);
        if (gw_config_restart_changes(&gw->cfg, &cfg, restart, sizeof restart) > 0)
            gw_log(GW_LOG_WARN, "reload_restart_needed", NULL,
                   "changed keys take effect only at the next start: %s", restart);
    } else
        gw_log(GW_LOG_ERROR, "reload_refused", "rules",
               "rules refused (%s); keeping the running configuration", why);
    gw_registry_free(reg);
    gw_config_fini(&cfg);
}

static void stop(struct gateway *gw)
{
    /*
     * The HTTP thread and Paho's callbacks read gw->mqtt under the lock, and
     * publish_alerts() outside it while outbox_busy: take it away under the
     * lock once no one publishes, then free it without the lock (freeing
     * waits for the callbacks, which take the lock). From here on nothing is
     * published; alerts left in the outbox are dropped with it.
     */
    pthread_mutex_lock(&gw->lock);
    while (gw->outbox_busy)
        pthread_cond_wait(&gw->outbox_idle, &gw->lock);
    struct gw_mqtt *mqtt = gw->mqtt;
    gw->mqtt = NULL;
    pthread_mutex_unlock(&gw->lock);
    gw_mqtt_free(mqtt, 1000);
    if (gw->pipe && gw->sink) {
        uint64_t now = gw_wall_ms();
        tick(gw, now);
        if (gw_sink_drain(gw->sink, (uint32_t)gw->cfg.shutdown_timeout_ms) != 0)
            gw_log(GW_LOG_WARN, "shutdown_store_pending", NULL,
                   "store did not take everything within %" PRIu64
                   " ms; the journal keeps it for the next start",
                   gw->cfg.shutdown_timeout_ms);
        persist(gw, now, 1);
    }
    gw_stream_shutdown(gw); /* streams end, so the server's threads can */
    gw_http_free(gw->http);
    gw_stream_free(gw);
    gw_webhook_free(gw->webhook);
    gw_sink_free(gw->sink);
    gw_journal_free(gw->journal);
    gw_pipeline_free(gw->pipe);
    gw_live_free(gw->live);
    gw_registry_free(gw->reg);
    gw_outbox_fini(&gw->outbox);
    free(gw->lp_store);
}

static void print_config_docs(void)
{
    const char *section = "";
    printf("# Configuration\n\n"
           "citygate reads one INI file (`citygate -c FILE`; check it with `citygate -c "
           "FILE --check-config`).\nDurations take `ms`, `s`, `m`, `h`, `d`, `w`; sizes `KiB`, "
           "`MiB`, `GiB`.\nUnknown sections and keys are errors. This page is generated by "
           "`citygate --help-config`.\n");
    for (size_t i = 0; i < gw_config_n_docs(); i++) {
        struct gw_config_doc d;
        gw_config_doc(i, &d);
        if (strcmp(d.section, section) != 0) {
            section = d.section;
            printf("\n## [%s]\n\n| key | type | default | meaning |\n|---|---|---|---|\n", section);
        }
        printf("| `%s` | %s | %s%s%s | %s |\n", d.key, d.type, *d.default_value ? "`" : "",
               *d.default_value ? d.default_value : "(none)", *d.default_value ? "`" : "", d.help);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: citygate [-c FILE] [--check-config]\n"
                 "\n"
                 "  -c, --config FILE    configuration (default /etc/citygate/citygate.conf)\n"
                 "      --check-config   validate the configuration and the registry it names, "
                 "then exit\n"
                 "                       (0 valid, 78 invalid with file and line)\n"
                 "      --help-config    print the configuration reference (Markdown)\n"
                 "  -h, --help           this help\n"
                 "      --version        version\n"
                 "\n"
                 "Signals: SIGHUP reloads the device registry and the rules, SIGTERM/SIGINT stop\n"
                 "cleanly (the store gets [gateway] shutdown_timeout to take what is pending).\n"
                 "Exit codes: 0 ok, 64 usage, 69 broker or port unavailable, 70 internal "
                 "error,\n74 journal I/O error, 78 configuration error.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, CLI_OPT_CHECK_CONFIG},
        {"help-config", no_argument, NULL, 'd'},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    static struct gateway gw;
    bool check = false;
    int c, rc;

    cli_init(argv[0]);
    gw.config_path = "/etc/citygate/citygate.conf";
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            gw.config_path = optarg;
            break;
        case CLI_OPT_CHECK_CONFIG:
            check = true;
            break;
        case 'd':
            print_config_docs();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case CLI_OPT_VERSION:
            return cli_print_version();
        default:
            return cli_usage_error(NULL);
        }
    }
    /* The older form `--check-config FILE` names the file after the option. */
    if (check && optind == argc - 1)
        gw.config_path = argv[optind++];
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (check) {
        struct gw_registry *reg = NULL;
        if ((rc = load_config(gw.config_path, &gw.cfg)) != 0)
            return rc;
        rc = load_registry(gw.cfg.registry_file, &reg);
        if (rc == 0)
            printf("%s: ok (%zu devices, %zu rules)\n", gw.config_path, gw_registry_count(reg),
                   gw.cfg.n_rules);
        gw_registry_free(reg);
        gw_config_fini(&gw.cfg);
        return rc;
    }
    if ((rc = load_config(gw.config_path, &gw.cfg)) != 0)
        return rc;

    /* Signals are taken synchronously by the main thread only. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&gw.lock, NULL);
    pthread_cond_init(&gw.outbox_idle, NULL);

    struct gw_notify notify;
    gw_notify_init(&notify);
    rc = start(&gw);
    if (rc == 0)
        gw_notify_ready("running");
    while (rc == 0) {
        uint64_t wait_ms = gw.cfg.tick_ms, ping_ms = gw_notify_watchdog(&notify);
        if (ping_ms < wait_ms)
            wait_ms = ping_ms;
        struct timespec wait = {(time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000};
        int sig = sigtimedwait(&sigs, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            gw_notify_stopping();
            gw_log(GW_LOG_INFO, "stopping", NULL, "stopping (%s)",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP) {
            gw_notify_reloading();
            reload(&gw);
            gw_notify_ready("running");
        }
        tick(&gw, gw_wall_ms());
    }
    stop(&gw);
    gw_config_fini(&gw.cfg);
    curl_global_cleanup();
    return rc;
}
