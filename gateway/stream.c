/*
 * stream.c -- the gateway's side of /api/v1/events: it turns what the
 * pipeline learns into the events of docs/live.md ("API") and builds the
 * snapshot a new page starts with.
 *
 * Every event is pushed under the gateway lock, and the snapshot is written
 * under it too, with the number of the last event it includes: a page that
 * starts from a snapshot and then reads the events after that number sees
 * each change exactly once. Node changes that come with every frame (last
 * seen, backlog, refusals) are merged into one counters event a second, a
 * node whose only news is a frame as a short entry (nodes.c says why);
 * births and deaths go out at once.
 */
#include "stream.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "acks.h"
#include "err.h"
#include "events.h"
#include "gateway.h"
#include "history.h"
#include "log.h"
#include "messages.h"
#include "nodes.h"

#define STREAM_COUNTERS_MS 1000u

int gw_stream_start(struct gateway *gw)
{
    struct gw_events_config ec = {
        .replay_events = (size_t)gw->cfg.live_replay_events,
        .replay_bytes = (size_t)gw->cfg.live_replay_bytes,
        .client_lag_bytes = (size_t)gw->cfg.live_client_lag_bytes,
        .max_clients = (size_t)gw->cfg.live_max_clients,
        .heartbeat_ms = (uint32_t)gw->cfg.live_heartbeat_ms,
        .stream = gw_wall_ms(),
    };
    gw->events = gw_events_new(&ec);
    gw->history = gw_history_new((int64_t)gw->cfg.live_history_ms);
    gw->nodes = gw_nodes_new();
    if (!gw->events || !gw->history || !gw->nodes)
        return GW_ENOMEM;
    char path[4096];
    size_t bad = 0;
    snprintf(path, sizeof path, "%s/acks", gw->cfg.journal_dir);
    int rc = gw_acks_open(path, gw_wall_ms(), &gw->acks, &bad);
    if (rc != 0)
        gw_log(GW_LOG_ERROR, "acks_unreadable", NULL, "%s: %s", path, gw_strerror(rc));
    else if (bad > 0)
        gw_log(GW_LOG_WARN, "acks_damaged", NULL, "%s: %zu lines not understood, passed over", path,
               bad);
    return rc;
}

void gw_stream_shutdown(struct gateway *gw)
{
    if (gw->events)
        gw_events_shutdown(gw->events);
}

void gw_stream_free(struct gateway *gw)
{
    gw_events_free(gw->events);
    gw_history_free(gw->history);
    gw_nodes_free(gw->nodes);
    gw_acks_free(gw->acks);
    gw->acks = NULL;
    gw->events = NULL;
    gw->history = NULL;
    gw->nodes = NULL;
}

void gw_stream_window(struct gateway *gw, const struct gw_aggregate *agg)
{
    gw_history_touch(gw->history, agg);
}

static void push_window(void *ctx, const char *json, size_t len)
{
    struct gateway *gw = ctx;
    gw_events_push(gw->events, "window", json, len);
}

/* The gateway's totals now (the counters event and the snapshot show them). */
static void get_totals(struct gateway *gw, struct gw_stream_totals *t)
{
    struct gw_pipeline_stats ps;
    gw_pipeline_stats(gw->pipe, &ps);
    t->frames_in = ps.frames_in;
    t->frames_accepted = ps.frames_accepted;
    t->frames_refused = 0;
    for (size_t i = 0; i < GW_REJECT_N; i++)
        t->frames_refused += ps.rejected[i];
    t->alerts_published = gw->alerts_published;
}

/* Writes t as ,"name":n ... */
static void write_totals(const struct gw_stream_totals *t, FILE *out)
{
    fprintf(out,
            ",\"frames_in\":%" PRIu64 ",\"frames_accepted\":%" PRIu64 ",\"frames_refused\":%" PRIu64
            ",\"alerts_published\":%" PRIu64,
            t->frames_in, t->frames_accepted, t->frames_refused, t->alerts_published);
}

static int same_totals(const struct gw_stream_totals *a, const struct gw_stream_totals *b)
{
    return a->frames_in == b->frames_in && a->frames_accepted == b->frames_accepted &&
           a->frames_refused == b->frames_refused && a->alerts_published == b->alerts_published;
}

void gw_stream_tick(struct gateway *gw, uint64_t now_ms)
{
    gw_history_flush(gw->history, gw->live, (int64_t)now_ms, push_window, gw);
    if (now_ms - gw->stream_counters_ms < STREAM_COUNTERS_MS)
        return;
    gw->stream_counters_ms = now_ms;
    gw_acks_expire(gw->acks, now_ms);
    struct gw_stream_totals totals;
    get_totals(gw, &totals);
    char *json = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&json, &len);
    if (!out)
        return;
    fprintf(out, "{\"now_ms\":%" PRIu64, now_ms);
    write_totals(&totals, out);
    size_t changed = gw_nodes_write_changed(gw->nodes, gw->pipe, gw->reg, (int64_t)now_ms, out);
    fputc('}', out);
    /* A quiet second sends nothing: the replay buffer keeps what changed. */
    if (fclose(out) == 0 &&
        (changed > 0 || !gw->stream_totals_sent || !same_totals(&totals, &gw->stream_totals))) {
        gw_events_push(gw->events, "counters", json, len);
        gw->stream_totals = totals;
        gw->stream_totals_sent = 1;
    }
    free(json);
}

/*
 * The alert event: the alert message's JSON (json, len bytes, one object)
 * with the alert's id and acknowledgement spliced in before its closing brace.
 */
static void write_alert_event(struct gateway *gw, const struct gw_alert_event *ev, const char *json,
                              size_t len, FILE *out)
{
    char id[GW_ACK_ID_MAX];
    uint64_t acked_ms = 0;
    enum gw_ack_status st = gw_acks_status(gw->acks, ev, &acked_ms);
    if (len < 2 || json[len - 1] != '}' || gw_acks_id(ev, id, sizeof id) < 0)
        return;
    fprintf(out, "%.*s,\"id\":\"%s\",\"status\":\"%s\",\"acked_ms\":", (int)len - 1, json, id,
            gw_ack_status_name(st));
    if (st == GW_ACK_ACTIVE_ACK)
        fprintf(out, "%" PRIu64 "}", acked_ms);
    else
        fputs("null}", out);
}

/* Pushes the alert event of ev. */
static void push_alert(struct gateway *gw, const struct gw_alert_event *ev, const char *json,
                       size_t len)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    if (!out)
        return;
    write_alert_event(gw, ev, json, len, out);
    if (fclose(out) == 0 && text_len > 0)
        gw_events_push(gw->events, "alert", text, text_len);
    free(text);
}

void gw_stream_alert(struct gateway *gw, const struct gw_alert_event *ev, const char *json,
                     size_t len)
{
    gw_acks_changed(gw->acks, ev);
    push_alert(gw, ev, json, len);
}

void gw_stream_status(struct gateway *gw, const struct gw_device *dev, int dead, uint64_t now_ms)
{
    char *json = NULL;
    size_t len = 0;
    gw_nodes_status(gw->nodes, dev, dead, (int64_t)now_ms);
    FILE *out = open_memstream(&json, &len);
    if (!out)
        return;
    gw_nodes_write_one(gw->nodes, gw->pipe, dev, out);
    if (fclose(out) == 0)
        gw_events_push(gw->events, "node", json, len);
    free(json);
}

void gw_stream_frame(struct gateway *gw, const struct gw_admitted *a, uint64_t now_ms)
{
    gw_nodes_frame(gw->nodes, a->device, a->frame, (int64_t)now_ms);
}

void gw_stream_refused(struct gateway *gw, const struct gw_topic *t, int reason)
{
    const struct gw_device *dev;
    if (t && (dev = gw_registry_find(gw->reg, t->node)) && strcmp(dev->site, t->site) == 0)
        gw_nodes_refused(gw->nodes, dev, reason);
}

struct alerts_ctx {
    struct gateway *gw;
    FILE *out;
    int n;
};

static void write_alert(void *ctx, const struct gw_alert_event *ev)
{
    struct alerts_ctx *a = ctx;
    char json[1024];
    int n = gw_msg_alert_json(ev, json, sizeof json);
    if (n <= 0)
        return;
    if (a->n++)
        fputc(',', a->out);
    write_alert_event(a->gw, ev, json, (size_t)n, a->out);
}

/* The snapshot (gw_events_snapshot_fn): everything a page shows, as of event *last. */
static int write_snapshot(void *ctx, const char *reason, FILE *out, uint64_t *last)
{
    struct gateway *gw = ctx;
    char *live = NULL;
    size_t live_len = 0;
    FILE *lf = open_memstream(&live, &live_len);
    if (!lf)
        return GW_ENOMEM;
    pthread_mutex_lock(&gw->lock);
    uint64_t now = gw_wall_ms();
    *last = gw_events_last(gw->events);
    gw_live_write_json(gw->live, gw->reg, (int64_t)now, lf);
    fprintf(out, "{\"reason\":\"%s\",\"now_ms\":%" PRIu64 ",\"history_ms\":%" PRIu64, reason, now,
            gw->cfg.live_history_ms);
    struct gw_stream_totals totals;
    get_totals(gw, &totals);
    write_totals(&totals, out);
    fputs(",\"windows\":[", out);
    gw_history_write(gw->history, out);
    fputs("],\"nodes\":[", out);
    gw_nodes_write_all(gw->nodes, gw->pipe, gw->reg, out);
    fputs("],\"alerts\":[", out);
    struct alerts_ctx a = {gw, out, 0};
    gw_pipeline_each_alert(gw->pipe, write_alert, &a);
    pthread_mutex_unlock(&gw->lock);
    int rc = fclose(lf) == 0 ? 0 : GW_ENOMEM;
    while (live_len > 0 && live[live_len - 1] == '\n')
        live_len--;
    fprintf(out, "],\"live\":%.*s}", (int)live_len, live ? live : "null");
    free(live);
    return rc;
}

static int stream_open(void *ctx, const char *last_event_id, void **stream, char *msg, size_t cap)
{
    struct gateway *gw = ctx;
    struct gw_events_client *c = NULL;
    int rc = gw_events_open(gw->events, last_event_id, write_snapshot, gw, &c);
    switch (rc) {
    case 0:
        *stream = c;
        return 0;
    case GW_EINVAL:
        snprintf(msg, cap, "Last-Event-ID is not an event id of this gateway (<stream>-<n>)");
        return 400;
    case GW_EFULL:
        snprintf(msg, cap, "too many event streams open (live.max_clients); retry later");
        return 503;
    default:
        snprintf(msg, cap, "cannot open the stream: %s", gw_strerror(rc));
        return 500;
    }
}

static long stream_read(void *stream, char *buf, size_t cap)
{
    return (long)gw_events_read(stream, buf, cap);
}

static void stream_close(void *stream)
{
    gw_events_close(stream);
}

const struct gw_http_stream gw_stream_route = {"/api/v1/events", stream_open, stream_read,
                                               stream_close};

/* ---- acknowledging ---- */

/* Finds the open alert of an id and acknowledges it (ack_post()). */
struct ack_find {
    struct gateway *gw;
    const char *id;
    uint64_t now_ms;
    int found, rc;
};

static void ack_each(void *ctx, const struct gw_alert_event *ev)
{
    struct ack_find *f = ctx;
    char id[GW_ACK_ID_MAX], json[1024];
    int n;
    if (f->found || gw_acks_id(ev, id, sizeof id) < 0 || strcmp(id, f->id) != 0)
        return;
    f->found = 1;
    if ((f->rc = gw_acks_ack(f->gw->acks, ev, f->now_ms)) == 0 &&
        (n = gw_msg_alert_json(ev, json, sizeof json)) > 0)
        push_alert(f->gw, ev, json, (size_t)n);
}

/* Whether authorization is "Bearer <the operator token>", compared in constant time. */
static int authorized(const char *token, const char *authorization)
{
    size_t n = strlen(token);
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *given = authorization + 7;
    return strlen(given) == n && CRYPTO_memcmp(given, token, n) == 0;
}

static int ack_post(void *ctx, const char *id, const char *authorization, FILE *out)
{
    struct gateway *gw = ctx;
    const char *token = gw->cfg.live_operator_token;
    if (!token) {
        fputs("{\"error\":\"acknowledging is off: the gateway has no [live] operator_token\"}\n",
              out);
        return 403;
    }
    if (!authorization) {
        fputs("{\"error\":\"acknowledging needs Authorization: Bearer <operator token>\"}\n", out);
        return 401;
    }
    if (!authorized(token, authorization)) {
        fputs("{\"error\":\"the token is not the operator token\"}\n", out);
        return 403;
    }
    struct ack_find f = {gw, id, gw_wall_ms(), 0, 0};
    pthread_mutex_lock(&gw->lock);
    gw_pipeline_each_alert(gw->pipe, ack_each, &f);
    pthread_mutex_unlock(&gw->lock);
    if (!f.found) {
        /* The id is only echoed when it has the id grammar: it reaches a page. */
        fputs("{\"error\":\"no open alert with this id\"}\n", out);
        return 404;
    }
    if (f.rc != 0) {
        fprintf(out, "{\"error\":\"not kept: %s\"}\n",
                gw_err_errno(f.rc) || f.rc == GW_EIO ? "the acknowledgement file cannot be written"
                                                     : gw_strerror(f.rc));
        return f.rc == GW_EFULL ? 507 : 500;
    }
    fprintf(out, "{\"id\":\"%s\",\"status\":\"ACTIVE_ACK\",\"acked_ms\":%" PRIu64 "}\n", id,
            f.now_ms);
    return 200;
}

const struct gw_http_action gw_stream_ack_action = {"/api/v1/alerts/", "/ack", ack_post};
