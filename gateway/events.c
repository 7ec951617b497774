/*
 * events.c -- the event ring behind /api/v1/events (events.h says why it is
 * shaped so).
 *
 * The ring keeps the newest events by number, bounded in count and bytes; a
 * client is a cursor into it (the next event's number and how far into it),
 * plus the snapshot it starts with. Every event records how many bytes were
 * pushed before it, so a client's lag in bytes is one subtraction. Reads copy
 * under the hub's lock (memcpy of at most one buffer) and wait on a condition
 * variable for the next push or the heartbeat.
 */
#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "err.h"

#define EVENTS_RETRY "retry: 2000\n\n" /* the browser's reconnect delay, ms (HTML, 9.2.6) */
#define EVENTS_HEARTBEAT ": heartbeat\n\n"

struct slot {
    char *text; /* "id: ...\nevent: ...\ndata: ...\n\n" */
    size_t len;
    uint64_t before; /* bytes pushed before this event */
};

struct gw_events {
    struct gw_events_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t pushed; /* CLOCK_MONOTONIC */
    struct slot *ring;     /* event n in ring[n % replay_events] */
    uint64_t first, next;  /* kept: first .. next-1 */
    uint64_t pushed_bytes;
    size_t kept_bytes;
    int down;
    struct gw_events_stats st;
};

struct gw_events_client {
    struct gw_events *ev;
    uint64_t cursor; /* the next event to send */
    uint64_t sent;   /* pushed bytes this client has taken (lag = pushed_bytes - sent) */
    size_t offset;   /* into event cursor */
    char *head;      /* retry field and snapshot, sent first */
    size_t head_len, head_off;
    int cut;
};

struct gw_events *gw_events_new(const struct gw_events_config *cfg)
{
    struct gw_events *ev = calloc(1, sizeof *ev);
    pthread_condattr_t ca;
    if (!ev || cfg->replay_events == 0 ||
        !(ev->ring = calloc(cfg->replay_events, sizeof(struct slot)))) {
        free(ev);
        return NULL;
    }
    ev->cfg = *cfg;
    ev->first = ev->next = 1;
    pthread_mutex_init(&ev->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->pushed, &ca);
    pthread_condattr_destroy(&ca);
    return ev;
}

void gw_events_free(struct gw_events *ev)
{
    if (!ev)
        return;
    for (uint64_t n = ev->first; n < ev->next; n++)
        free(ev->ring[n % ev->cfg.replay_events].text);
    free(ev->ring);
    pthread_mutex_destroy(&ev->mu);
    pthread_cond_destroy(&ev->pushed);
    free(ev);
}

/* Under mu: drops the oldest event. */
static void evict(struct gw_events *ev)
{
    struct slot *s = &ev->ring[ev->first % ev->cfg.replay_events];
    ev->kept_bytes -= s->len;
    free(s->text);
    s->text = NULL;
    ev->first++;
}

int gw_events_push(struct gw_events *ev, const char *type, const char *json, size_t len)
{
    char head[96];
    int n =
        snprintf(head, sizeof head,
                 "id: %" PRIu64 "-%" PRIu64 "\nevent: %s\ndata: ", ev->cfg.stream, ev->next, type);
    size_t total = (size_t)n + len + 2;
    char *text = malloc(total);
    pthread_mutex_lock(&ev->mu);
    if (!text) {
        ev->st.dropped_nomem++;
        pthread_mutex_unlock(&ev->mu);
        return GW_ENOMEM;
    }
    memcpy(text, head, (size_t)n);
    memcpy(text + n, json, len);
    memcpy(text + n + len, "\n\n", 2);
    while (ev->first < ev->next && (ev->next - ev->first >= ev->cfg.replay_events ||
                                    ev->kept_bytes + total > ev->cfg.replay_bytes))
        evict(ev);
    struct slot *s = &ev->ring[ev->next % ev->cfg.replay_events];
    s->text = text;
    s->len = total;
    s->before = ev->pushed_bytes;
    ev->pushed_bytes += total;
    ev->kept_bytes += total;
    ev->next++;
    ev->st.events++;
    pthread_cond_broadcast(&ev->pushed);
    pthread_mutex_unlock(&ev->mu);
    return 0;
}

uint64_t gw_events_last(struct gw_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    uint64_t last = ev->next - 1;
    pthread_mutex_unlock(&ev->mu);
    return last;
}

/* Parses "<stream>-<n>" (decimal, nothing else). Returns 0 or GW_EINVAL. */
static int parse_id(const char *text, uint64_t *stream, uint64_t *n)
{
    uint64_t v[2] = {0, 0};
    const char *p = text;
    for (int part = 0; part < 2; part++) {
        const char *start = p;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (v[part] > (UINT64_MAX - 9) / 10)
                return GW_EINVAL;
            v[part] = v[part] * 10 + (uint64_t)(*p - '0');
        }
        if (p == start || p - start > 20 || *p != (part == 0 ? '-' : '\0'))
            return GW_EINVAL;
        p++;
    }
    *stream = v[0];
    *n = v[1];
    return 0;
}

/* Under mu: points c at event n (the next to send), its byte position included. */
static void seek(struct gw_events *ev, struct gw_events_client *c, uint64_t n)
{
    c->cursor = n;
    c->offset = 0;
    if (n < ev->first)
        c->sent = 0; /* gone already: behind the ring, cut at the first read */
    else if (n < ev->next)
        c->sent = ev->ring[n % ev->cfg.replay_events].before;
    else
        c->sent = ev->pushed_bytes;
}

/* The snapshot event (id of the last event it includes), after the retry field. */
static int make_snapshot(struct gw_events *ev, struct gw_events_client *c, const char *reason,
                         gw_events_snapshot_fn snapshot, void *ctx, uint64_t *last)
{
    char *json = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&json, &len);
    if (!out)
        return GW_ENOMEM;
    int rc = snapshot(ctx, reason, out, last);
    if (fclose(out) != 0 && rc == 0)
        rc = GW_ENOMEM;
    while (rc == 0 && len > 0 && json[len - 1] == '\n')
        len--;
    if (rc == 0 && memchr(json, '\n', len))
        rc = GW_EINVAL; /* one data line: the snapshot writer must not break it */
    if (rc == 0) {
        char head[128];
        int n = snprintf(head, sizeof head,
                         "%sid: %" PRIu64 "-%" PRIu64 "\nevent: snapshot\ndata: ", EVENTS_RETRY,
                         ev->cfg.stream, *last);
        c->head_len = (size_t)n + len + 2;
        if (!(c->head = malloc(c->head_len)))
            rc = GW_ENOMEM;
        else {
            memcpy(c->head, head, (size_t)n);
            memcpy(c->head + n, json, len);
            memcpy(c->head + n + len, "\n\n", 2);
        }
    }
    free(json);
    return rc;
}

int gw_events_open(struct gw_events *ev, const char *last_event_id, gw_events_snapshot_fn snapshot,
                   void *ctx, struct gw_events_client **out)
{
    uint64_t stream = 0, n = 0, last = 0;
    const char *reason = "new";
    int rc = 0;

    pthread_mutex_lock(&ev->mu);
    if (last_event_id && parse_id(last_event_id, &stream, &n) != 0) {
        ev->st.refused_bad_id++;
        rc = GW_EINVAL;
    } else if (ev->st.clients >= ev->cfg.max_clients) {
        ev->st.refused_full++;
        rc = GW_EFULL;
    } else {
        ev->st.clients++; /* the place is taken now; given back below on failure */
    }
    pthread_mutex_unlock(&ev->mu);
    if (rc != 0)
        return rc;

    struct gw_events_client *c = calloc(1, sizeof *c);
    if (!c) {
        rc = GW_ENOMEM;
        goto out;
    }
    c->ev = ev;
    if (last_event_id) {
        pthread_mutex_lock(&ev->mu);
        int kept = stream == ev->cfg.stream && n + 1 >= ev->first && n < ev->next;
        if (kept) {
            seek(ev, c, n + 1);
            ev->st.resumed++;
        }
        pthread_mutex_unlock(&ev->mu);
        if (kept) {
            c->head = strdup(EVENTS_RETRY);
            c->head_len = strlen(EVENTS_RETRY);
            rc = c->head ? 0 : GW_ENOMEM;
            goto out;
        }
        reason = stream == ev->cfg.stream ? "expired" : "restart";
    }
    if ((rc = make_snapshot(ev, c, reason, snapshot, ctx, &last)) != 0)
        goto out;
    pthread_mutex_lock(&ev->mu);
    seek(ev, c, last + 1);
    ev->st.snapshots++;
    pthread_mutex_unlock(&ev->mu);
out:
    pthread_mutex_lock(&ev->mu);
    if (rc == 0)
        ev->st.opened++;
    else
        ev->st.clients--;
    pthread_mutex_unlock(&ev->mu);
    if (rc != 0 && c) {
        free(c->head);
        free(c);
        c = NULL;
    }
    if (rc == 0)
        *out = c;
    return rc;
}

/* Under mu: whether c is behind its bound (or behind the ring). */
static int too_slow(const struct gw_events *ev, const struct gw_events_client *c)
{
    return c->cursor < ev->next &&
           (c->cursor < ev->first || ev->pushed_bytes - c->sent > ev->cfg.client_lag_bytes);
}

ssize_t gw_events_read(struct gw_events_client *c, char *buf, size_t cap)
{
    struct gw_events *ev = c->ev;
    size_t n = 0;

    if (c->head_off < c->head_len) {
        n = c->head_len - c->head_off < cap ? c->head_len - c->head_off : cap;
        memcpy(buf, c->head + c->head_off, n);
        c->head_off += n;
        return (ssize_t)n;
    }
    pthread_mutex_lock(&ev->mu);
    struct timespec until = gw_deadline_in(ev->cfg.heartbeat_ms);
    int timed_out = 0;
    while (!ev->down && c->cursor >= ev->next && !timed_out)
        timed_out = pthread_cond_timedwait(&ev->pushed, &ev->mu, &until) == ETIMEDOUT;
    if (ev->down) {
        pthread_mutex_unlock(&ev->mu);
        return 0;
    }
    if (too_slow(ev, c)) {
        c->cut = 1;
        ev->st.cut_slow++;
        pthread_mutex_unlock(&ev->mu);
        return -1;
    }
    while (n < cap && c->cursor < ev->next) {
        const struct slot *s = &ev->ring[c->cursor % ev->cfg.replay_events];
        size_t take = s->len - c->offset < cap - n ? s->len - c->offset : cap - n;
        memcpy(buf + n, s->text + c->offset, take);
        n += take;
        c->offset += take;
        c->sent += take;
        if (c->offset == s->len) {
            c->cursor++;
            c->offset = 0;
        }
    }
    pthread_mutex_unlock(&ev->mu);
    if (n == 0) { /* nothing for heartbeat_ms: a comment keeps proxies from closing */
        n = strlen(EVENTS_HEARTBEAT) < cap ? strlen(EVENTS_HEARTBEAT) : cap;
        memcpy(buf, EVENTS_HEARTBEAT, n);
    }
    return (ssize_t)n;
}

void gw_events_close(struct gw_events_client *c)
{
    if (!c)
        return;
    struct gw_events *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    /* A client that stopped reading ends by the server's timeout: cut for being slow. */
    if (!c->cut && !ev->down && too_slow(ev, c))
        ev->st.cut_slow++;
    ev->st.clients--;
    pthread_mutex_unlock(&ev->mu);
    free(c->head);
    free(c);
}

void gw_events_shutdown(struct gw_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->down = 1;
    pthread_cond_broadcast(&ev->pushed);
    pthread_mutex_unlock(&ev->mu);
}

void gw_events_stats(struct gw_events *ev, struct gw_events_stats *out)
{
    pthread_mutex_lock(&ev->mu);
    *out = ev->st;
    out->kept = (size_t)(ev->next - ev->first);
    out->kept_bytes = ev->kept_bytes;
    pthread_mutex_unlock(&ev->mu);
}
