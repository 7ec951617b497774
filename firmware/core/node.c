/*
 * node.c -- the node state machine: scheduler, uplink, store-and-forward,
 * birth/death and command handling.
 *
 * Time comes in as now_ms (monotonic) through node_tick() and the network's
 * events come in through node_net_*(); nothing here blocks, and nothing is
 * global, so one process can run thousands of nodes (tools/citysim).
 *
 * Where a frame is, at any moment, is the heart of exactly-once delivery:
 *
 *  - in flight: handed to the network and not yet confirmed. The window is
 *    a FIFO of at most max_inflight entries, in publish order. A live frame's
 *    entry keeps the frame's backlog encoding; a backlog frame's entry keeps
 *    its ring record number, the record itself stays in the ring.
 *  - in the ring: stored, signed with the backlog flag.
 *
 * Never both, never neither. On PUBACK a live entry is forgotten and a ring
 * entry's record is committed (in publish order, so that a record is never
 * removed while an older one may still come back). When the connection is
 * lost (or a publish fails, or the window is full of unconfirmed frames,
 * which means the link is stalled), the network forgets its unconfirmed
 * publishes (node_hal.h) and the node takes them back: live frames are
 * appended to the ring in order, and the ring's read cursor is rewound so
 * that its unconfirmed records are sent again. The ring only ever holds
 * frames older than every live frame (live frames are sent only while
 * connected, and a disconnect flushes them into the ring first), so the
 * ring stays in sequence order and drains in order.
 *
 * The engine owns reconnection: capped exponential backoff with jitter from
 * the HAL's randomness. Frames are signed twice when sampled (sample.c), so
 * taking one back never needs the key again.
 */
#include "node_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "wire.h"

#define NO_DEADLINE UINT64_MAX

enum link { LINK_DOWN, LINK_CONNECTING, LINK_UP };
enum kind { KIND_LIVE, KIND_RING, KIND_CONTROL };

struct inflight {
    uint32_t ref;
    uint8_t kind; /* enum kind */
    uint8_t done; /* confirmed (or refused for good), waiting for older entries */
    uint64_t ring_seq;
    uint8_t *stored; /* KIND_LIVE: the backlog encoding, to take back */
    size_t stored_len;
};

struct node {
    struct node_config cfg;
    struct node_hal hal;
    struct node_net net;
    struct node_storage storage;
    struct node_ring *ring;
    struct node__sampler *sampler;
    char topic_data[NODE_MAX_TOPIC], topic_status[NODE_MAX_TOPIC];
    char topic_cmd[NODE_MAX_TOPIC], topic_reply[NODE_MAX_TOPIC], topic_update[NODE_MAX_TOPIC];

    uint64_t boot_id, seq;
    uint32_t interval_ms;
    uint64_t start_ms, next_sample_ms;

    enum link link;
    uint64_t next_connect_ms;
    uint32_t backoff_ms;
    int closing;

    struct inflight *win; /* circular, max_inflight entries */
    uint32_t win_head, win_count, next_ref;
    uint32_t live_reserve; /* window entries the drain leaves to live frames */

    uint64_t drain_milli; /* drain tokens, 1000 per frame */
    uint64_t drain_last_ms;

    int unsynced;
    uint64_t last_sync_ms;

    uint8_t *buf; /* a ring record being drained, max_frame_bytes */
    uint8_t *ctl; /* birth, death (signed) and replies */
    size_t ctl_cap;
    uint64_t cmd_counter;       /* the counter of the last command obeyed in this boot */
    void *cmd_arena;            /* NODE__CMD_ARENA_BYTES: the command being handled */
    struct node_update *update; /* NULL without an update port */
    uint8_t *update_buf;        /* UPDATE_REPORT_BYTES: update reports */
    struct node_stats st;
};

/* An update report with the largest bitmap, and room for the rest. */
#define UPDATE_REPORT_BYTES (NODE_UPDATE_BITMAP_BYTES + 1024)

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
logf_(struct node *n, enum node_log_level level, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    if (!n->hal.ops->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n->hal.ops->log(n->hal.ctx, level, line);
}

void node_config_defaults(struct node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->firmware_version = "0.0.0";
    cfg->interval_ms = 1000;
    cfg->max_inflight = 32;
    cfg->drain_per_s = 20;
    cfg->drain_burst = 10;
    cfg->reconnect_min_ms = 500;
    cfg->reconnect_max_ms = 30000;
    cfg->sync_interval_ms = 1000;
    cfg->max_frame_bytes = 16384;
    cfg->max_readings_per_sensor = DRV_MAX_READINGS;
    cfg->max_vehicles_per_sensor = 256;
}

static int bad(struct node_diag *diag, const char *what)
{
    snprintf(diag->text, sizeof diag->text, "%s", what);
    return -NODE_EINVAL;
}

static int check_config(const struct node_config *c, struct node_diag *diag)
{
    if (!node__valid_name(c->device_id, NODE_MAX_ID, NULL))
        return bad(diag, "device id must be [A-Za-z0-9._-]{1,64}");
    if (!node__valid_name(c->site_id, NODE_MAX_ID, NULL))
        return bad(diag, "site must be [A-Za-z0-9._-]{1,64}");
    if (!c->key || c->key_len < WIRE_MIN_KEY_BYTES || c->key_len > WIRE_MAX_KEY_BYTES)
        return bad(diag, "key must be 16 to 64 bytes");
    if (!node__valid_name(c->firmware_version, NODE_MAX_ID, "+"))
        return bad(diag, "firmware version must be [A-Za-z0-9._+-]{1,64}");
    if (c->interval_ms < NODE_MIN_INTERVAL_MS || c->interval_ms > NODE_MAX_INTERVAL_MS)
        return bad(diag, "interval must be 100 ms to 24 h");
    if (c->max_inflight < 4 || c->max_inflight > 1024)
        return bad(diag, "max_inflight must be 4 to 1024");
    if (c->drain_per_s < 1 || c->drain_per_s > 100000 || c->drain_burst < 1 ||
        c->drain_burst > c->max_inflight)
        return bad(diag, "drain rate must be at least 1/s, burst 1 to max_inflight");
    if (c->reconnect_min_ms < 10 || c->reconnect_max_ms < c->reconnect_min_ms ||
        c->reconnect_max_ms > 3600000)
        return bad(diag, "reconnect delays must be 10 ms <= min <= max <= 1 h");
    if (c->max_frame_bytes < 512 || c->max_frame_bytes > WIRE_DEFAULT_MAX_FRAME_BYTES)
        return bad(diag, "max_frame_bytes must be 512 to 65536");
    if (c->n_sensors > NODE_MAX_SENSORS ||
        c->n_sensors * c->max_readings_per_sensor > WIRE_MAX_READINGS ||
        c->n_sensors * c->max_vehicles_per_sensor > WIRE_MAX_VEHICLES)
        return bad(diag, "too many sensors, readings or vehicles for one frame");
    for (size_t i = 0; i < c->n_sensors; i++) {
        const struct node_sensor_config *s = &c->sensors[i];
        if (!node__valid_name(s->name, NODE_MAX_ID, NULL) ||
            !node__valid_name(s->driver, NODE_MAX_ID, NULL) || !s->ops)
            return bad(diag, "a sensor needs a name and a driver ([A-Za-z0-9._-]{1,64})");
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->sensors[k].name, s->name) == 0)
                return bad(diag, "sensor names must be unique");
    }
    return 0;
}

static int make_topics(struct node *n)
{
    const char *site = n->cfg.site_id, *id = n->cfg.device_id;
    int a = snprintf(n->topic_data, NODE_MAX_TOPIC, "city/v1/%s/%s/data", site, id);
    int b = snprintf(n->topic_status, NODE_MAX_TOPIC, "city/v1/%s/%s/status", site, id);
    int c = snprintf(n->topic_cmd, NODE_MAX_TOPIC, "city/v1/%s/%s/cmd", site, id);
    int d = snprintf(n->topic_reply, NODE_MAX_TOPIC, "city/v1/%s/%s/cmd/reply", site, id);
    int e = snprintf(n->topic_update, NODE_MAX_TOPIC, "city/v1/%s/%s/update", site, id);
    return (a < 0 || b < 0 || c < 0 || d < 0 || d >= NODE_MAX_TOPIC || e < 0 || e >= NODE_MAX_TOPIC)
               ? -NODE_EINVAL
               : 0;
}

static uint32_t random_u32(struct node *n)
{
    uint32_t v = 0;
    if (n->hal.ops->random(n->hal.ctx, &v, sizeof v) != 0)
        v = (uint32_t)(n->hal.ops->now_ms(n->hal.ctx) * 2654435761u);
    return v;
}

int node_new(const struct node_config *cfg, const struct node_ports *ports, uint64_t now_ms,
             struct node **out, struct node_diag *diag)
{
    const struct node_hal *hal = &ports->hal;
    struct node *n = NULL;
    int rc;
    diag->text[0] = '\0';
    if ((rc = check_config(cfg, diag)) < 0)
        goto out;
    rc = -NODE_ENOMEM;
    n = calloc(1, sizeof *n);
    if (!n)
        goto out;
    n->cfg = *cfg;
    n->hal = ports->hal;
    n->net = ports->net;
    n->storage = ports->storage;
    n->ctl_cap = 512 + 160 * cfg->n_sensors;
    n->win = calloc(cfg->max_inflight, sizeof *n->win);
    n->buf = malloc(cfg->max_frame_bytes);
    n->ctl = malloc(n->ctl_cap);
    n->cmd_arena = malloc(NODE__CMD_ARENA_BYTES);
    if (!n->win || !n->buf || !n->ctl || !n->cmd_arena) {
        bad(diag, "out of memory");
        goto out;
    }
    if ((rc = make_topics(n)) < 0) {
        bad(diag, "topics too long");
        goto out;
    }
    for (int i = 0; i < 8 && n->boot_id == 0; i++)
        if ((rc = hal->ops->random(hal->ctx, &n->boot_id, sizeof n->boot_id)) < 0) {
            bad(diag, "no randomness for the boot id");
            goto out;
        }
    if (n->boot_id == 0) {
        rc = bad(diag, "the random source returns zeros");
        goto out;
    }
    if ((rc = node_ring_open(&n->storage, cfg->max_frame_bytes, &n->ring)) < 0) {
        snprintf(diag->text, sizeof diag->text,
                 "ring: %s (it needs at least 4 x max_frame_bytes + %d bytes)", node_strerror(rc),
                 NODE_RING_META_BYTES);
        goto out;
    }
    if ((rc = node__sampler_new(&n->cfg, &n->sampler, diag)) < 0)
        goto out;
    n->interval_ms = cfg->interval_ms;
    n->start_ms = now_ms;
    n->next_sample_ms = now_ms + cfg->interval_ms;
    n->link = LINK_DOWN;
    n->next_connect_ms = now_ms;
    n->backoff_ms = cfg->reconnect_min_ms;
    n->live_reserve = cfg->max_inflight / 4 > 2 ? cfg->max_inflight / 4 : 2;
    n->next_ref = 1;
    n->last_sync_ms = now_ms;
    n->st.boot_id = n->boot_id;
    if (cfg->update) {
        n->update = malloc(sizeof *n->update);
        n->update_buf = malloc(UPDATE_REPORT_BYTES);
        if (!n->update || !n->update_buf) {
            rc = bad(diag, "out of memory");
            goto out;
        }
        if ((rc = node_update_init(n->update, cfg->update)) < 0)
            logf_(n, NODE_LOG_ERROR, "update: cannot read the slots: %s", node_strerror(rc));
        else if (n->update->state != NODE_UPDATE_IDLE)
            logf_(n, NODE_LOG_INFO, "update %s: %s", n->update->rec.m.transfer_id,
                  node_update_state_name(n->update->state));
    }

    struct node_ring_stats rs;
    node_ring_stats(n->ring, &rs);
    logf_(n, NODE_LOG_INFO,
          "node %s/%s boot %016" PRIx64 ": ring holds %" PRIu64 " frames (%" PRIu64
          " bytes skipped as cut or corrupt)",
          cfg->site_id, cfg->device_id, n->boot_id, rs.records, rs.corrupt_bytes);
    *out = n;
    n = NULL;
    rc = 0;
out:
    node_free(n);
    return rc;
}

/* ---- the in-flight window ---- */

static struct inflight *win_at(struct node *n, uint32_t i)
{
    return &n->win[(n->win_head + i) % n->cfg.max_inflight];
}

static struct inflight *win_push(struct node *n, uint8_t kind)
{
    struct inflight *e = win_at(n, n->win_count++);
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->ref = n->next_ref++;
    if (n->next_ref == 0)
        n->next_ref = 1;
    return e;
}

/* Commits confirmed ring records that have no unconfirmed older one, and pops done entries. */
static void win_settle(struct node *n)
{
    int older_pending = 0;
    for (uint32_t i = 0; i < n->win_count; i++) {
        struct inflight *e = win_at(n, i);
        if (e->kind != KIND_RING)
            continue;
        if (!e->done)
            older_pending = 1;
        else if (!older_pending && node_ring_commit(n->ring, e->ring_seq) == 0)
            n->unsynced = 1;
    }
    while (n->win_count > 0 && win_at(n, 0)->done) {
        struct inflight *e = win_at(n, 0);
        free(e->stored);
        e->stored = NULL;
        n->win_head = (n->win_head + 1) % n->cfg.max_inflight;
        n->win_count--;
    }
}

static int store(struct node *n, const uint8_t *frame, size_t len)
{
    int rc = node_ring_append(n->ring, frame, len);
    if (rc < 0) {
        n->st.frames_refused++;
        logf_(n, NODE_LOG_ERROR, "ring append failed: %s; frame lost", node_strerror(rc));
        return rc;
    }
    n->st.frames_stored++;
    n->unsynced = 1;
    if (n->cfg.sync_interval_ms == 0 && (rc = node_ring_flush(n->ring, 1)) == 0)
        n->unsynced = 0;
    return rc;
}

/* The network forgot every unconfirmed publish: take the frames back, in order. */
static void take_back(struct node *n)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < n->win_count; i++) {
        struct inflight *e = win_at(n, i);
        if (e->kind == KIND_LIVE && !e->done) {
            (void)store(n, e->stored, e->stored_len);
            live++;
        }
        free(e->stored);
        e->stored = NULL;
    }
    n->win_count = 0;
    n->win_head = 0;
    node_ring_rewind(n->ring);
    if (live)
        logf_(n, NODE_LOG_INFO, "%" PRIu32 " unconfirmed live frames moved to the ring", live);
}

static void schedule_connect(struct node *n, uint64_t now_ms)
{
    /* +-20 % jitter, so that a fleet that lost its broker does not come back in step. */
    uint64_t span = n->backoff_ms / 5;
    uint64_t delay = n->backoff_ms - span + (span ? random_u32(n) % (2 * span + 1) : 0);
    n->next_connect_ms = now_ms + delay;
    n->backoff_ms =
        n->backoff_ms > n->cfg.reconnect_max_ms / 2 ? n->cfg.reconnect_max_ms : n->backoff_ms * 2;
}

/* Leaves LINK_UP or LINK_CONNECTING; local: the node decided it (the network is told). */
static void go_down(struct node *n, uint64_t now_ms, int local, const char *why)
{
    if (n->link == LINK_DOWN)
        return;
    if (local)
        n->net.ops->disconnect(n->net.ctx, 0);
    if (n->link == LINK_UP)
        logf_(n, NODE_LOG_WARN, "uplink down: %s; buffering to the ring", why);
    else
        logf_(n, NODE_LOG_WARN, "connect failed: %s", why);
    n->link = LINK_DOWN;
    take_back(n);
    schedule_connect(n, now_ms);
}

/* Publishes a message that is not a frame (birth, death, reply): not taken back if lost. */
static void publish_control(struct node *n, const char *topic, const uint8_t *msg, int len,
                            int retained)
{
    if (n->link != LINK_UP || len < 0 || n->win_count >= n->cfg.max_inflight)
        return;
    struct inflight *e = win_push(n, KIND_CONTROL);
    struct node_publish m = {topic, msg, (size_t)len, 1, retained};
    int rc = n->net.ops->publish(n->net.ctx, &m, e->ref);
    if (rc < 0)
        n->win_count--;
}

static int status_msg(struct node *n, int alive)
{
    struct node_ring_stats rs;
    node_ring_stats(n->ring, &rs);
    struct node__status s = {&n->cfg, n->boot_id, n->interval_ms, n->hal.ops->wall_ms(n->hal.ctx),
                             rs.records};
    return node__status_encode(&s, alive, n->ctl, n->ctl_cap);
}

static void publish_birth(struct node *n)
{
    publish_control(n, n->topic_status, n->ctl, status_msg(n, 1), 1);
}

/*
 * An update report: the retained state on .../update (a NULL), or the answer
 * to an update command on .../cmd/reply. Answers leave the window's live
 * reserve to the data, so that an update never holds frames back; a dropped
 * answer costs the sender one block sent again.
 */
static void publish_update(struct node *n, const struct node_update_answer *a)
{
    if (!n->update)
        return;
    if (a && n->win_count + n->live_reserve >= n->cfg.max_inflight)
        return;
    struct node__update_msg m = {&n->cfg, n->boot_id, n->hal.ops->wall_ms(n->hal.ctx), n->update,
                                 a};
    int len = node__update_encode(&m, n->update_buf, UPDATE_REPORT_BYTES);
    publish_control(n, a ? n->topic_reply : n->topic_update, n->update_buf, len, !a);
}

/* ---- the uplink ---- */

static void try_connect(struct node *n, uint64_t now_ms)
{
    int len = status_msg(n, 0);
    struct node_connect c = {n->cfg.device_id, n->topic_status, n->ctl, len > 0 ? (size_t)len : 0,
                             n->topic_cmd};
    int rc = n->net.ops->connect(n->net.ctx, &c);
    if (rc == 0) {
        n->link = LINK_CONNECTING;
        return;
    }
    logf_(n, NODE_LOG_WARN, "cannot start connecting: %s", node_strerror(rc));
    schedule_connect(n, now_ms);
}

void node_net_up(struct node *n, uint64_t now_ms)
{
    struct node_ring_stats rs;
    if (n->link != LINK_CONNECTING)
        return;
    n->link = LINK_UP;
    n->backoff_ms = n->cfg.reconnect_min_ms;
    n->st.reconnects++;
    n->drain_milli = 0;
    n->drain_last_ms = now_ms;
    node_ring_stats(n->ring, &rs);
    logf_(n, NODE_LOG_INFO, "uplink up; %" PRIu64 " backlog frames to drain", rs.records);
    if (!n->closing) {
        publish_birth(n);
        publish_update(n, NULL);
    }
}

void node_net_down(struct node *n, uint64_t now_ms)
{
    go_down(n, now_ms, 0, n->link == LINK_UP ? "connection lost" : "no connection");
}

void node_net_published(struct node *n, uint32_t ref, int ok)
{
    for (uint32_t i = 0; i < n->win_count; i++) {
        struct inflight *e = win_at(n, i);
        if (e->ref != ref || e->done)
            continue;
        if (!ok) {
            /* The network gave up on it: treat the link as broken and take everything back. */
            go_down(n, n->hal.ops->now_ms(n->hal.ctx), 1, "a publish failed");
            return;
        }
        e->done = 1;
        if (e->kind == KIND_RING)
            n->st.frames_drained++;
        else if (e->kind == KIND_LIVE)
            n->st.frames_confirmed++;
        win_settle(n);
        return;
    }
}

/* Sends or stores one sampled frame. */
static void route_frame(struct node *n, const struct node__encoded *enc, uint64_t now_ms)
{
    if (n->link == LINK_UP && n->win_count >= n->cfg.max_inflight)
        go_down(n, now_ms, 1, "uplink stalled: no confirmation for a full window");
    if (n->link == LINK_UP) {
        struct inflight *e = win_push(n, KIND_LIVE);
        e->stored = malloc(enc->stored_len);
        if (e->stored) {
            memcpy(e->stored, enc->stored, enc->stored_len);
            e->stored_len = enc->stored_len;
            struct node_publish m = {n->topic_data, enc->live, enc->live_len, 1, 0};
            int rc = n->net.ops->publish(n->net.ctx, &m, e->ref);
            if (rc == 0) {
                n->st.frames_live++;
                return;
            }
            free(e->stored);
            n->win_count--;
            if (rc != -NODE_ERETRY) {
                n->st.frames_refused++;
                logf_(n, NODE_LOG_ERROR, "frame %" PRIu64 " refused by the network: %s", n->seq,
                      node_strerror(rc));
                return;
            }
            go_down(n, now_ms, 1, "the network is not connected");
        } else {
            n->win_count--;
        }
    }
    (void)store(n, enc->stored, enc->stored_len);
}

static void sample(struct node *n, uint64_t now_ms)
{
    struct node_ring_stats rs;
    struct node__encoded enc;
    const char *failed = NULL;
    if (now_ms < n->next_sample_ms)
        return;
    /* Absolute deadlines: a late node skips the periods it missed instead of bursting. */
    uint64_t late = (now_ms - n->next_sample_ms) / n->interval_ms;
    n->st.samples_missed += late;
    n->next_sample_ms += (late + 1) * n->interval_ms;

    node_ring_stats(n->ring, &rs);
    struct node__frame_meta m = {
        .boot_id = n->boot_id,
        .seq = ++n->seq,
        .timestamp_ms = n->hal.ops->wall_ms(n->hal.ctx),
        .interval_ms = n->interval_ms,
        .uptime_s = (now_ms - n->start_ms) / 1000,
        .free_storage_bytes = rs.free_bytes,
        .backlog_frames = rs.records > UINT32_MAX ? UINT32_MAX : (uint32_t)rs.records,
        .backlog_dropped = rs.dropped,
    };
    int rc = node__sampler_frame(n->sampler, &m, &enc, &failed);
    if (rc == -NODE_ETOOBIG) {
        n->st.frames_refused++;
        logf_(n, NODE_LOG_ERROR, "frame %" PRIu64 " exceeds max_frame_bytes; dropped", m.seq);
        return;
    }
    if (rc < 0)
        logf_(n, NODE_LOG_WARN, "sensor %s: sampling failed", failed ? failed : "?");
    route_frame(n, &enc, now_ms);
}

static void drain(struct node *n, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)n->cfg.drain_burst * 1000;
    n->drain_milli += (now_ms - n->drain_last_ms) * n->cfg.drain_per_s;
    if (n->drain_milli > cap)
        n->drain_milli = cap;
    n->drain_last_ms = now_ms;
    while (n->link == LINK_UP && n->drain_milli >= 1000 &&
           n->win_count + n->live_reserve < n->cfg.max_inflight) {
        size_t len = 0;
        uint64_t rseq = 0;
        int rc = node_ring_peek(n->ring, n->buf, n->cfg.max_frame_bytes, &len, &rseq);
        if (rc == -NODE_EEMPTY)
            return;
        if (rc < 0) {
            logf_(n, NODE_LOG_ERROR, "ring read failed: %s", node_strerror(rc));
            return;
        }
        struct inflight *e = win_push(n, KIND_RING);
        e->ring_seq = rseq;
        struct node_publish m = {n->topic_data, n->buf, len, 1, 0};
        rc = n->net.ops->publish(n->net.ctx, &m, e->ref);
        if (rc == -NODE_ERETRY) {
            n->win_count--;
            go_down(n, now_ms, 1, "the network is not connected");
            return;
        }
        if (rc < 0) {
            /* Refused for good: it will never go through, so it leaves the ring in order. */
            n->st.frames_refused++;
            e->done = 1;
            win_settle(n);
        }
        n->drain_milli -= 1000;
    }
}

int node_tick(struct node *n, uint64_t now_ms)
{
    int rc = 0;
    if (n->link == LINK_DOWN && !n->closing && now_ms >= n->next_connect_ms)
        try_connect(n, now_ms);
    if (!n->closing) {
        sample(n, now_ms);
        drain(n, now_ms);
    }
    if (n->unsynced) {
        int durable = now_ms - n->last_sync_ms >= n->cfg.sync_interval_ms;
        rc = node_ring_flush(n->ring, durable);
        if (rc == 0 && durable) {
            n->unsynced = 0;
            n->last_sync_ms = now_ms;
        } else if (rc < 0) {
            logf_(n, NODE_LOG_ERROR, "ring flush failed: %s", node_strerror(rc));
        }
    }
    return rc;
}

uint64_t node_next_deadline(const struct node *n)
{
    struct node_ring_stats rs;
    uint64_t t = n->closing ? NO_DEADLINE : n->next_sample_ms;
    if (n->link == LINK_DOWN && !n->closing && n->next_connect_ms < t)
        t = n->next_connect_ms;
    node_ring_stats(n->ring, &rs);
    if (n->link == LINK_UP && !n->closing && rs.records > n->win_count) {
        uint64_t need = n->drain_milli >= 1000 ? 0 : 1000 - n->drain_milli;
        uint64_t at = n->drain_last_ms + (need + n->cfg.drain_per_s - 1) / n->cfg.drain_per_s;
        if (at < t)
            t = at;
    }
    if (n->unsynced && n->last_sync_ms + n->cfg.sync_interval_ms < t)
        t = n->last_sync_ms + n->cfg.sync_interval_ms;
    return t;
}

/* ---- commands ---- */

static void reply(struct node *n, const struct node__cmd *c, const char *error)
{
    publish_control(n, n->topic_reply, n->ctl,
                    node__reply_json(c, error, (char *)n->ctl, n->ctl_cap), 0);
}

/* ota, ota_block and ota_cancel: the agent decides, the answer and any new state go out. */
static void update_command(struct node *n, const struct node__cmd *c)
{
    struct node_update *u = n->update;
    struct node_update_answer a;
    enum node_update_state before = u->state;
    if (c->kind == NODE__CMD_OTA) {
        struct node_update_manifest m;
        const char *bad_manifest = node__update_manifest(c->manifest, &m);
        if (bad_manifest)
            node_update_refuse(u, bad_manifest, &a);
        else
            node_update_manifest(u, &m, &a);
    } else if (c->kind == NODE__CMD_OTA_BLOCK) {
        const Citygate__V1__UpdateBlock *b = c->block;
        if (!b || !b->transfer_id)
            node_update_refuse(u, "an ota_block command needs a block", &a);
        else
            node_update_block(u, b->transfer_id, b->offset, b->data.data, b->data.len, &a);
    } else {
        node_update_cancel(u, c->transfer_id, &a);
    }
    n->st.update_refused = u->refused;
    n->st.update_duplicates = u->duplicates;
    n->st.update_blocks = u->blocks;
    if (a.refusal)
        logf_(n, NODE_LOG_WARN, "update command refused: %s", a.refusal);
    publish_update(n, &a);
    if (a.state_changed || u->state != before) {
        logf_(n, NODE_LOG_INFO, "update %s: %s%s%s", u->rec.m.transfer_id,
              node_update_state_name(u->state), u->state == NODE_UPDATE_FAILED ? ": " : "",
              u->state == NODE_UPDATE_FAILED ? u->rec.reason : "");
        publish_update(n, NULL);
    }
    if (a.reboot && n->hal.ops->reboot) {
        logf_(n, NODE_LOG_INFO, "update %s: restarting into the test image", u->rec.m.transfer_id);
        n->hal.ops->reboot(n->hal.ctx);
    }
}

void node_command(struct node *n, const uint8_t *payload, size_t len, uint64_t now_ms)
{
    struct node__cmd c;
    char diag[128];
    n->st.commands++;
    if (node__cmd_parse(&n->cfg, n->boot_id, &n->cmd_counter, payload, len, n->cmd_arena, &c, diag,
                        sizeof diag) < 0) {
        logf_(n, NODE_LOG_WARN, "command refused: %s", diag);
        if (c.authentic)
            reply(n, &c, diag);
        else
            n->st.commands_refused++; /* no reply to what this node cannot trust */
        return;
    }
    switch (c.kind) {
    case NODE__CMD_REBIRTH:
        reply(n, &c, NULL);
        publish_birth(n);
        break;
    case NODE__CMD_SET_INTERVAL:
        n->interval_ms = c.interval_ms;
        n->next_sample_ms = now_ms + c.interval_ms;
        logf_(n, NODE_LOG_INFO, "publish interval set to %" PRIu32 " ms", c.interval_ms);
        reply(n, &c, NULL);
        publish_birth(n);
        break;
    case NODE__CMD_REBOOT:
        if (!n->hal.ops->reboot) {
            reply(n, &c, "reboot is not supported on this port");
            break;
        }
        logf_(n, NODE_LOG_INFO, "reboot requested by command");
        reply(n, &c, NULL);
        n->hal.ops->reboot(n->hal.ctx);
        break;
    case NODE__CMD_OTA:
    case NODE__CMD_OTA_BLOCK:
    case NODE__CMD_OTA_CANCEL:
        if (!n->update)
            reply(n, &c, "this node takes no updates: it runs without a boot stage");
        else
            update_command(n, &c);
        break;
    }
}

/* ---- shutdown and introspection ---- */

void node_close(struct node *n)
{
    if (n->closing)
        return;
    n->closing = 1;
    publish_control(n, n->topic_status, n->ctl, status_msg(n, 0), 1);
}

void node_free(struct node *n)
{
    if (!n)
        return;
    if (n->ring) {
        if (n->link != LINK_DOWN)
            n->net.ops->disconnect(n->net.ctx, 1);
        n->link = LINK_DOWN;
        take_back(n);
        if (node_ring_flush(n->ring, 1) < 0)
            logf_(n, NODE_LOG_ERROR, "ring flush at shutdown failed");
    }
    node_ring_free(n->ring);
    node__sampler_free(n->sampler);
    free(n->win);
    free(n->buf);
    free(n->ctl);
    free(n->cmd_arena);
    free(n->update);
    free(n->update_buf);
    free(n);
}

void node_stats(const struct node *n, struct node_stats *st)
{
    struct node_ring_stats rs;
    *st = n->st;
    node_ring_stats(n->ring, &rs);
    st->seq = n->seq;
    st->backlog_frames = rs.records;
    st->backlog_dropped = rs.dropped;
    st->ring_corrupt_bytes = rs.corrupt_bytes;
    st->inflight = n->win_count;
    st->interval_ms = n->interval_ms;
    st->connected = n->link == LINK_UP;
}

const char *node_topic_data(const struct node *n)
{
    return n->topic_data;
}

const char *node_topic_status(const struct node *n)
{
    return n->topic_status;
}

const char *node_topic_cmd(const struct node *n)
{
    return n->topic_cmd;
}

void node_image_confirmed(struct node *n)
{
    if (!n->update || !node_update_confirmed(n->update))
        return;
    logf_(n, NODE_LOG_INFO, "update %s: CONFIRMED", n->update->rec.m.transfer_id);
    publish_update(n, NULL);
}

const char *node_topic_update(const struct node *n)
{
    return n->topic_update;
}
