/*
 * events.c -- the event ring behind /api/v1/events (events.h says why it is
 * shaped so).
 *
 * The ring keeps the newest events by number, bounded in count and bytes; a
 * client is a cursor into it (the next event's number), plus the piece of
 * text it is sending now. Each event is encoded once, as the text every
 * client sends, and shared by reference count: a client takes references to
 * its next events under the hub's lock (a few pointer updates, so the
 * producer, who pushes under the gateway lock, never waits behind a copy),
 * then copies them to its socket's buffer with no lock held, and drops each
 * reference once sent, so an event evicted from the ring lives on only
 * while a client is still sending it. The snapshot a new client starts with
 * is shared the same way: clients that connect together (a wall of pages
 * after a restart) get one snapshot made once, as long as no event came
 * after it and it is young (EVENTS_SNAPSHOT_REUSE_MS): what such a client
 * sees is what it would have seen had it connected when the snapshot was
 * made. Every event records how many bytes were pushed before it, so a
 * client's lag in bytes is one subtraction.
 */
#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "err.h"

#define EVENTS_RETRY "retry: 2000\n\n" /* the browser's reconnect delay, ms (HTML, 9.2.6) */
#define EVENTS_HEARTBEAT ": heartbeat\n\n"
#define EVENTS_SNAPSHOT_REUSE_MS 1000u /* a snapshot older than this is made anew */
#define EVENTS_TAKE_MAX 64             /* events taken under the lock by one read, at most */

/* Bytes a client sends, shared by every client that sends them. */
struct text {
    atomic_size_t refs;
    size_t len;
    char data[];
};

struct slot {
    struct text *t;  /* "id: ...\nevent: ...\ndata: ...\n\n" */
    uint64_t before; /* bytes pushed before this event */
};

struct gw_events {
    struct gw_events_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t pushed; /* CLOCK_MONOTONIC */
    pthread_cond_t snapped;
    struct slot *ring;    /* event n in ring[n % replay_events] */
    uint64_t first, next; /* kept: first .. next-1 */
    uint64_t pushed_bytes;
    size_t kept_bytes;
    int down;
    /* The newest snapshot, for clients that connect soon after it (snap: NULL when none). */
    struct text *snap;
    const char *snap_reason;
    uint64_t snap_last, snap_made_ms;
    int snapping; /* a snapshot is being made: wait for it (snapped) */
    struct gw_events_stats st;
};

struct gw_events_client {
    struct gw_events *ev;
    uint64_t cursor;    /* the next event to take from the ring */
    uint64_t sent;      /* pushed bytes this client has sent (lag = pushed_bytes - sent) */
    struct text *piece; /* being sent (a reference): the head, or the event before cursor */
    size_t offset;      /* into piece */
    int piece_is_event; /* piece counts in sent (the head does not) */
    int cut;
};

/* A text of len bytes with one reference, or NULL without memory. */
static struct text *text_new(size_t len)
{
    struct text *t = malloc(sizeof *t + len);
    if (t) {
        atomic_init(&t->refs, 1);
        t->len = len;
    }
    return t;
}

static struct text *text_ref(struct text *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

/* Drops a reference; NULL is a no-op. Any thread, no lock needed. */
static void text_unref(struct text *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        free(t);
}

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
    pthread_cond_init(&ev->snapped, NULL);
    return ev;
}

void gw_events_free(struct gw_events *ev)
{
    if (!ev)
        return;
    for (uint64_t n = ev->first; n < ev->next; n++)
        text_unref(ev->ring[n % ev->cfg.replay_events].t);
    text_unref(ev->snap);
    free(ev->ring);
    pthread_mutex_destroy(&ev->mu);
    pthread_cond_destroy(&ev->pushed);
    pthread_cond_destroy(&ev->snapped);
    free(ev);
}

/* Under mu: drops the oldest event (clients still sending it keep their reference). */
static void evict(struct gw_events *ev)
{
    struct slot *s = &ev->ring[ev->first % ev->cfg.replay_events];
    ev->kept_bytes -= s->t->len;
    text_unref(s->t);
    s->t = NULL;
    ev->first++;
}

int gw_events_push(struct gw_events *ev, const char *type, const char *json, size_t len)
{
    char head[96];
    int n =
        snprintf(head, sizeof head,
                 "id: %" PRIu64 "-%" PRIu64 "\nevent: %s\ndata: ", ev->cfg.stream, ev->next, type);
    size_t total = (size_t)n + len + 2;
    struct text *t = text_new(total);
    if (t) { /* ev->next is only written by producers: read here without the hub's lock */
        memcpy(t->data, head, (size_t)n);
        memcpy(t->data + n, json, len);
        memcpy(t->data + n + len, "\n\n", 2);
    }
    pthread_mutex_lock(&ev->mu);
    if (!t) {
        ev->st.dropped_nomem++;
        pthread_mutex_unlock(&ev->mu);
        return GW_ENOMEM;
    }
    while (ev->first < ev->next && (ev->next - ev->first >= ev->cfg.replay_events ||
                                    ev->kept_bytes + total > ev->cfg.replay_bytes))
        evict(ev);
    struct slot *s = &ev->ring[ev->next % ev->cfg.replay_events];
    s->t = t;
    s->before = ev->pushed_bytes;
    ev->pushed_bytes += total;
    ev->kept_bytes += total;
    ev->next++;
    ev->st.events++;
    struct text *stale = ev->snap; /* a snapshot is reused only while no event came after it */
    ev->snap = NULL;
    pthread_cond_broadcast(&ev->pushed);
    pthread_mutex_unlock(&ev->mu);
    text_unref(stale);
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
    if (n < ev->first)
        c->sent = 0; /* gone already: behind the ring, cut at the first read */
    else if (n < ev->next)
        c->sent = ev->ring[n % ev->cfg.replay_events].before;
    else
        c->sent = ev->pushed_bytes;
}

/* The snapshot event (id of the last event it includes) after the retry field, made by
 * snapshot(ctx, ...): a new text in *out. */
static int make_snapshot(struct gw_events *ev, const char *reason, gw_events_snapshot_fn snapshot,
                         void *ctx, uint64_t *last, struct text **out_text)
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
        struct text *t = text_new((size_t)n + len + 2);
        if (!t)
            rc = GW_ENOMEM;
        else {
            memcpy(t->data, head, (size_t)n);
            memcpy(t->data + n, json, len);
            memcpy(t->data + n + len, "\n\n", 2);
            *out_text = t;
        }
    }
    free(json);
    return rc;
}

/* Under mu: whether the kept snapshot may serve a client that connects now for reason. */
static int snap_fresh(const struct gw_events *ev, const char *reason)
{
    return ev->snap && strcmp(ev->snap_reason, reason) == 0 && ev->snap_last + 1 == ev->next &&
           gw_mono_ms() - ev->snap_made_ms <= EVENTS_SNAPSHOT_REUSE_MS;
}

/*
 * Gives c the snapshot for reason as its first piece: the kept one when it is fresh (or
 * once the one being made is), else a new one, kept for the clients after it.
 */
static int start_with_snapshot(struct gw_events *ev, struct gw_events_client *c, const char *reason,
                               gw_events_snapshot_fn snapshot, void *ctx)
{
    struct text *t = NULL;
    uint64_t last = 0;
    pthread_mutex_lock(&ev->mu);
    while (ev->snapping && !ev->down)
        pthread_cond_wait(&ev->snapped, &ev->mu);
    if (snap_fresh(ev, reason)) {
        t = text_ref(ev->snap);
        last = ev->snap_last;
    } else {
        ev->snapping = 1;
    }
    pthread_mutex_unlock(&ev->mu);

    int rc = 0;
    if (!t) {
        rc = make_snapshot(ev, reason, snapshot, ctx, &last, &t);
        pthread_mutex_lock(&ev->mu);
        if (rc == 0) {
            text_unref(ev->snap);
            ev->snap = text_ref(t);
            ev->snap_reason = reason;
            ev->snap_last = last;
            ev->snap_made_ms = gw_mono_ms();
        }
        ev->snapping = 0;
        pthread_cond_broadcast(&ev->snapped);
        pthread_mutex_unlock(&ev->mu);
    }
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&ev->mu);
    seek(ev, c, last + 1);
    ev->st.snapshots++;
    pthread_mutex_unlock(&ev->mu);
    c->piece = t;
    return 0;
}

int gw_events_open(struct gw_events *ev, const char *last_event_id, gw_events_snapshot_fn snapshot,
                   void *ctx, struct gw_events_client **out)
{
    uint64_t stream = 0, n = 0;
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
            if ((c->piece = text_new(strlen(EVENTS_RETRY))))
                memcpy(c->piece->data, EVENTS_RETRY, strlen(EVENTS_RETRY));
            rc = c->piece ? 0 : GW_ENOMEM;
            goto out;
        }
        reason = stream == ev->cfg.stream ? "expired" : "restart";
    }
    rc = start_with_snapshot(ev, c, reason, snapshot, ctx);
out:
    pthread_mutex_lock(&ev->mu);
    if (rc == 0)
        ev->st.opened++;
    else
        ev->st.clients--;
    pthread_mutex_unlock(&ev->mu);
    if (rc != 0 && c) {
        text_unref(c->piece);
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

/* Copies what fits of c's piece into buf (cap bytes); drops the piece once it is all sent. */
static size_t copy_piece(struct gw_events_client *c, char *buf, size_t cap)
{
    size_t n = c->piece->len - c->offset < cap ? c->piece->len - c->offset : cap;
    memcpy(buf, c->piece->data + c->offset, n);
    c->offset += n;
    if (c->piece_is_event)
        c->sent += n;
    if (c->offset == c->piece->len) {
        text_unref(c->piece);
        c->piece = NULL;
        c->offset = 0;
    }
    return n;
}

ssize_t gw_events_read(struct gw_events_client *c, char *buf, size_t cap)
{
    struct gw_events *ev = c->ev;
    struct text *taken[EVENTS_TAKE_MAX];
    size_t n_taken = 0, room = cap, n = 0;

    if (c->piece) /* the head, or the rest of an event a read before could not take whole */
        return (ssize_t)copy_piece(c, buf, cap);
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
    /* References to the next events that fit, and to one more that does not (sent in part). */
    while (room > 0 && n_taken < EVENTS_TAKE_MAX && c->cursor < ev->next) {
        struct text *t = ev->ring[c->cursor++ % ev->cfg.replay_events].t;
        taken[n_taken++] = text_ref(t);
        room -= t->len < room ? t->len : room;
    }
    pthread_mutex_unlock(&ev->mu);
    c->piece_is_event = 1;
    for (size_t i = 0; i < n_taken; i++) {
        c->piece = taken[i];
        n += copy_piece(c, buf + n, cap - n);
    }
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
    text_unref(c->piece);
    free(c);
}

void gw_events_shutdown(struct gw_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->down = 1;
    pthread_cond_broadcast(&ev->pushed);
    pthread_cond_broadcast(&ev->snapped);
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
