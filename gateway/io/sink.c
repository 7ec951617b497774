/*
 * sink.c -- the batching and retry engine in front of the store adapters and
 * the webhook.
 *
 * One writer thread owns the adapter. Producers append items to the newest
 * open batch of their retention policy; a batch is sent once it holds
 * batch_lines items or is batch_interval_ms old. A failed request is retried
 * with capped exponential backoff and jitter (Fluent Bit's scheduler) until
 * it passes or has failed max_attempts times, a 413 splits the batch at a
 * line boundary, a refusal sends it to the dead-letter file. Everything
 * pending is bounded by max_pending_bytes and max_pending_items.
 *
 * Batches are sent in order within a retention policy, but the policies are
 * independent: the writer takes the first batch of each policy that is due
 * and not backing off, so one policy's failing batch (the store lost the
 * policy, say) delays nothing of the others. The backoff state lives on the
 * failing batch itself: only the first batch of a policy is ever sent.
 */
#include "sink.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "err.h"
#include "log.h"

#define SINK_MAX_RPS 64 /* retention policies told apart when choosing a batch */

struct sink_batch {
    const char *rp;
    char *buf;
    size_t len, cap, n_lines;
    uint64_t opened_ms;
    int sealed;        /* no more appends: full, old, or being sent */
    unsigned attempts; /* failed sends so far */
    uint64_t retry_ms; /* with attempts: not before this (monotonic) */
    struct sink_batch *next;
};

struct gw_sink {
    const struct gw_sink_config *cfg;
    const struct gw_sink_ops *ops;
    const struct gw_sink_words *say;
    void *state;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the writer: data, or stop */
    pthread_cond_t drained; /* drain(): pending reached zero */
    struct sink_batch *head, *tail;
    int stop;
    unsigned seed;
    struct gw_sink_stats stats;
};

extern const struct gw_sink_ops gw_sink_influx_v1, gw_sink_influx_v2;
static const struct gw_sink_ops *const sink_adapters[GW_STORE_N] = {
    [GW_STORE_INFLUX_V1] = &gw_sink_influx_v1,
    [GW_STORE_INFLUX_V2] = &gw_sink_influx_v2,
};

/* The adapter of api (enum gw_store_api), or NULL. */
static const struct gw_sink_ops *sink_adapter(int api)
{
    return api >= 0 && api < GW_STORE_N ? sink_adapters[api] : NULL;
}

const struct gw_sink_words gw_sink_store_words = {
    .failed = "store_write_failed",
    .recovered = "store_write_recovered",
    .rejected = "store_write_rejected",
    .given_up = "store_write_given_up",
    .dropped = "store_lines_dropped",
    .not_ready = "store_not_ready",
    .items = "lines",
    .peer = "the store",
    .no_rp = "default",
    .bound_key = "store.max_pending",
};

const double gw_sink_latency_bounds[GW_SINK_LATENCY_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                0.5,   1,    2.5,   5,    10};

const char *gw_sink_class_name(enum gw_sink_class c)
{
    static const char *const names[GW_SINK_E_N] = {"connect", "timeout", "4xx", "5xx"};
    return c < GW_SINK_E_N ? names[c] : "5xx";
}

static const char *rp_name(const struct gw_sink *s, const char *rp)
{
    return rp ? rp : s->say->no_rp;
}

static void batch_free(struct sink_batch *b)
{
    if (b) {
        free(b->buf);
        free(b);
    }
}

/* Called with the lock held: 1 when more is pending than a bound allows. */
static int sink_over_bound(const struct gw_sink *s)
{
    const struct gw_sink_config *c = s->cfg;
    return (c->max_pending_bytes && s->stats.bytes_pending > c->max_pending_bytes) ||
           (c->max_pending_items && s->stats.lines_pending > c->max_pending_items);
}

/* Called with the lock held: drops the oldest unsent batches while over a
 * bound. A batch being sent stays (it may be retried for as long as the peer
 * is down), so the bound holds to within that one batch. Each drop is
 * counted and logged (rate-limited, log.h): the items are lost for good. */
static void sink_enforce_bound(struct gw_sink *s)
{
    struct sink_batch **link = &s->head, *prev = NULL;
    int by_bytes = s->cfg->max_pending_bytes && s->stats.bytes_pending > s->cfg->max_pending_bytes;
    uint64_t pending = by_bytes ? s->stats.bytes_pending : s->stats.lines_pending;
    uint64_t bound = by_bytes ? s->cfg->max_pending_bytes : s->cfg->max_pending_items;
    size_t dropped = 0;
    while (sink_over_bound(s) && *link) {
        struct sink_batch *b = *link;
        if (b->sealed) {
            prev = b;
            link = &b->next;
            continue;
        }
        *link = b->next;
        if (s->tail == b)
            s->tail = prev;
        s->stats.bytes_pending -= b->len;
        s->stats.lines_pending -= b->n_lines;
        s->stats.lines_dropped += b->n_lines;
        dropped += b->n_lines;
        batch_free(b);
    }
    if (dropped)
        gw_log(GW_LOG_WARN, s->say->dropped, NULL,
               "the oldest %zu %s dropped: %" PRIu64
               " %s were waiting for %s, more than %s (%" PRIu64 "); %" PRIu64
               " dropped since the start",
               dropped, s->say->items, pending, by_bytes ? "bytes" : s->say->items, s->say->peer,
               s->say->bound_key, bound, s->stats.lines_dropped);
}

/* Called with the lock held: the open batch for rp with room, or a new one. */
static struct sink_batch *sink_open_batch(struct gw_sink *s, const char *rp)
{
    for (struct sink_batch *b = s->head; b; b = b->next)
        if (!b->sealed && b->rp == rp && b->n_lines < s->cfg->batch_lines)
            return b;
    struct sink_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->rp = rp;
    b->opened_ms = gw_mono_ms();
    if (s->tail)
        s->tail->next = b;
    else
        s->head = b;
    s->tail = b;
    pthread_cond_signal(&s->wake); /* the writer may be idle: start its batch clock */
    return b;
}

int gw_sink_push(struct gw_sink *s, const char *rp, const char *lines, size_t len, size_t n_lines)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    struct sink_batch *b = sink_open_batch(s, rp);
    if (!b) {
        rc = GW_ENOMEM;
        goto out;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len)
            cap *= 2;
        char *grown = realloc(b->buf, cap);
        if (!grown) {
            rc = GW_ENOMEM;
            goto out;
        }
        b->buf = grown;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, lines, len);
    b->len += len;
    b->n_lines += n_lines;
    s->stats.bytes_pending += len;
    s->stats.lines_pending += n_lines;
    if (b->n_lines >= s->cfg->batch_lines)
        pthread_cond_signal(&s->wake);
    sink_enforce_bound(s); /* may free b */
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void sink_dead_letter(struct gw_sink *s, const char *lines, size_t len, const char *msg)
{
    FILE *f = s->cfg->dead_letter_path ? fopen(s->cfg->dead_letter_path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "# rejected by %s: %s\n", s->say->peer, msg);
    fwrite(lines, 1, len, f);
    if (len > 0 && lines[len - 1] != '\n')
        fputc('\n', f);
    fclose(f);
}

/* Called with the lock held: counts a failed request and remembers it for /readyz. */
static void sink_count_error(struct gw_sink *s, const char *rp, const struct gw_sink_reply *reply)
{
    enum gw_sink_class c = reply->cls < GW_SINK_E_N ? reply->cls : GW_SINK_E_5XX;
    s->stats.errors[c]++;
    snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s: %s: %s", rp_name(s, rp),
             gw_sink_class_name(c), reply->msg);
}

/*
 * Sleeps the backoff for attempt (0-based) unless stop is set meanwhile.
 * Returns non-zero when stopping. Called without the lock.
 */
static int sink_backoff(struct gw_sink *s, unsigned attempt)
{
    pthread_mutex_lock(&s->lock);
    uint64_t wait = gw_backoff_ms(attempt, s->cfg->retry_min_ms, s->cfg->retry_max_ms, &s->seed);
    struct timespec until = gw_deadline_in(wait);
    while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
        ;
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static size_t count_lines(const char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += p[i] == '\n';
    return n;
}

/*
 * Called with the lock held: the first batch of some retention policy that
 * may be sent at now, or NULL with *wake_ms set to when one may be (UINT64_MAX:
 * nothing pending). Only the first batch of each policy is considered.
 */
static struct sink_batch *sink_next(struct gw_sink *s, uint64_t now, uint64_t *wake_ms)
{
    const char *seen[SINK_MAX_RPS];
    size_t n_seen = 0;
    *wake_ms = UINT64_MAX;
    for (struct sink_batch *b = s->head; b; b = b->next) {
        size_t i = 0;
        while (i < n_seen && seen[i] != b->rp)
            i++;
        if (i < n_seen || n_seen == SINK_MAX_RPS)
            continue; /* a later batch of a policy already considered */
        seen[n_seen++] = b->rp;
        uint64_t due = b->attempts ? b->retry_ms
                       : b->sealed || b->n_lines >= s->cfg->batch_lines
                           ? 0
                           : b->opened_ms + s->cfg->batch_interval_ms;
        if (due <= now)
            return b;
        if (due < *wake_ms)
            *wake_ms = due;
    }
    return NULL;
}

/* Called with the lock held: takes b out of the list and frees it. */
static void sink_remove(struct gw_sink *s, struct sink_batch *b)
{
    struct sink_batch **link = &s->head, *prev = NULL;
    while (*link != b) {
        prev = *link;
        link = &(*link)->next;
    }
    *link = b->next;
    if (s->tail == b)
        s->tail = prev;
    s->stats.bytes_pending -= b->len;
    s->stats.lines_pending -= b->n_lines;
    if (b->attempts)
        s->stats.failing--;
    batch_free(b);
}

/* Called with the lock held: splits b after its middle line into b and a new
 * batch right behind it, each sent on its own. Returns 0 or GW_ENOMEM. */
static int sink_split(struct gw_sink *s, struct sink_batch *b)
{
    const char *mid = b->buf + b->len / 2;
    while (mid > b->buf && mid[-1] != '\n')
        mid--;
    if (mid == b->buf)
        mid = (const char *)memchr(b->buf, '\n', b->len) + 1;
    size_t first = (size_t)(mid - b->buf), rest = b->len - first;
    struct sink_batch *b2 = calloc(1, sizeof *b2);
    char *buf = malloc(rest);
    if (!b2 || !buf) {
        free(b2);
        free(buf);
        return GW_ENOMEM;
    }
    memcpy(buf, mid, rest);
    b2->rp = b->rp;
    b2->buf = buf;
    b2->len = b2->cap = rest;
    b2->n_lines = count_lines(buf, rest);
    b2->sealed = 1;
    b2->next = b->next;
    b->next = b2;
    if (s->tail == b)
        s->tail = b2;
    b->len = first;
    b->n_lines -= b2->n_lines;
    s->stats.splits++;
    return 0;
}

/* Called with the lock held: after a failed send of b, counts and logs it
 * and sets when b is tried again, or gives b up after its last attempt. */
static void sink_failed(struct gw_sink *s, struct sink_batch *b, const struct gw_sink_reply *reply,
                        uint64_t now)
{
    uint64_t wait =
        gw_backoff_ms(b->attempts, s->cfg->retry_min_ms, s->cfg->retry_max_ms, &s->seed);
    if (b->attempts++ == 0)
        s->stats.failing++;
    sink_count_error(s, b->rp, reply);
    if (s->cfg->max_attempts && b->attempts >= s->cfg->max_attempts) {
        s->stats.lines_given_up += b->n_lines;
        gw_log(GW_LOG_ERROR, s->say->given_up, gw_sink_class_name(reply->cls),
               "%s: %zu %s given up after %u failed attempts (%s: %s)", rp_name(s, b->rp),
               b->n_lines, s->say->items, b->attempts, gw_sink_class_name(reply->cls), reply->msg);
        sink_remove(s, b);
        return;
    }
    b->retry_ms = now + wait;
    s->stats.retries++;
    gw_log(GW_LOG_WARN, s->say->failed, gw_sink_class_name(reply->cls),
           "%s: %zu %s not written (%s: %s); retrying in %" PRIu64 " ms (attempt %u)",
           rp_name(s, b->rp), b->n_lines, s->say->items, gw_sink_class_name(reply->cls), reply->msg,
           wait, b->attempts);
}

/* Called with the lock held: sends b once (releasing the lock meanwhile) and
 * does what the outcome asks. b is first of its policy and sealed. */
static void sink_send(struct gw_sink *s, struct sink_batch *b)
{
    struct gw_sink_reply reply = {GW_SINK_E_5XX, ""};
    uint64_t t0 = gw_mono_us();
    pthread_mutex_unlock(&s->lock);
    enum gw_sink_result r = s->ops->write(s->state, b->rp, b->buf, b->len, &reply);
    uint64_t took_us = gw_mono_us() - t0;
    pthread_mutex_lock(&s->lock);

    switch (r) {
    case GW_SINK_OK:
        s->stats.lines_written += b->n_lines;
        s->stats.batches_written++;
        s->stats.write_us_sum += took_us;
        s->stats.writes_timed++;
        for (size_t i = 0; i < GW_SINK_LATENCY_BUCKETS; i++)
            if ((double)took_us <= gw_sink_latency_bounds[i] * 1e6)
                s->stats.latency_buckets[i]++;
        if (b->attempts)
            gw_log(GW_LOG_INFO, s->say->recovered, NULL,
                   "%s: written again after %u failed attempts", rp_name(s, b->rp), b->attempts);
        sink_remove(s, b);
        return;
    case GW_SINK_REJECTED:
        sink_count_error(s, b->rp, &reply);
        s->stats.lines_dead_lettered += b->n_lines;
        gw_log(GW_LOG_ERROR, s->say->rejected, NULL, "%s: %zu %s refused by %s (%s)%s",
               rp_name(s, b->rp), b->n_lines, s->say->items, s->say->peer, reply.msg,
               s->cfg->dead_letter_path ? "; written to the dead-letter file" : "");
        sink_dead_letter(s, b->buf, b->len, reply.msg);
        sink_remove(s, b);
        return;
    case GW_SINK_TOO_LARGE:
        if (b->n_lines > 1) {
            if (sink_split(s, b) == 0)
                return;
            snprintf(reply.msg, sizeof reply.msg, "out of memory splitting a batch");
            sink_failed(s, b, &reply, gw_mono_ms());
            return;
        }
        s->stats.lines_dead_lettered += b->n_lines;
        gw_log(GW_LOG_ERROR, s->say->rejected, "too_large",
               "%s: a single line larger than %s accepts%s", rp_name(s, b->rp), s->say->peer,
               s->cfg->dead_letter_path ? "; written to the dead-letter file" : "");
        sink_dead_letter(s, b->buf, b->len, "a single line larger than the store accepts");
        sink_remove(s, b);
        return;
    case GW_SINK_RETRY:
        sink_failed(s, b, &reply, gw_mono_ms());
        return;
    }
}

static void *sink_main(void *arg)
{
    struct gw_sink *s = arg;
    struct gw_sink_reply reply;

    for (unsigned attempt = 0; s->ops->prepare && s->ops->prepare(s->state, &reply) != GW_SINK_OK;
         attempt++) {
        pthread_mutex_lock(&s->lock);
        s->stats.retries++;
        sink_count_error(s, NULL, &reply);
        pthread_mutex_unlock(&s->lock);
        gw_log(GW_LOG_WARN, s->say->not_ready, gw_sink_class_name(reply.cls),
               "cannot prepare %s (%s: %s); retrying", s->say->peer, gw_sink_class_name(reply.cls),
               reply.msg);
        if (sink_backoff(s, attempt))
            return NULL;
    }
    pthread_mutex_lock(&s->lock);
    s->stats.prepared = 1;
    while (!s->stop) {
        uint64_t wake_ms;
        struct sink_batch *b = sink_next(s, gw_mono_ms(), &wake_ms);
        if (b) {
            b->sealed = 1;
            sink_send(s, b);
            continue;
        }
        if (!s->head)
            pthread_cond_broadcast(&s->drained);
        if (wake_ms == UINT64_MAX) {
            pthread_cond_wait(&s->wake, &s->lock);
        } else {
            uint64_t now = gw_mono_ms();
            struct timespec until = gw_deadline_in(wake_ms > now ? wake_ms - now : 0);
            pthread_cond_timedwait(&s->wake, &s->lock, &until);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int gw_sink_new(const struct gw_sink_config *cfg, struct gw_sink **out, char *err, size_t err_len)
{
    const struct gw_sink_ops *ops = cfg->ops ? cfg->ops : sink_adapter((int)cfg->api);
    struct gw_sink *s = NULL;
    pthread_condattr_t attr;
    int rc;

    if (!ops) {
        snprintf(err, err_len, "no store adapter");
        return GW_ECONFIG;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return GW_ENOMEM;
    }
    s->cfg = cfg;
    s->ops = ops;
    s->say = ops->words ? ops->words : &gw_sink_store_words;
    s->seed = (unsigned)gw_mono_ms();
    rc = ops->open(cfg, &s->state, err, err_len);
    if (rc != 0) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_cond_init(&s->drained, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&s->thread, NULL, sink_main, s) != 0) {
        snprintf(err, err_len, "cannot start the store writer thread");
        ops->close(s->state);
        free(s);
        return GW_ENOMEM;
    }
    *out = s;
    return 0;
}

int gw_sink_drain(struct gw_sink *s, uint32_t timeout_ms)
{
    struct timespec until = gw_deadline_in(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    for (struct sink_batch *b = s->head; b; b = b->next)
        b->opened_ms = 0; /* send now, do not wait for the batch interval */
    pthread_cond_signal(&s->wake);
    while (s->stats.lines_pending > 0 && rc == 0)
        if (pthread_cond_timedwait(&s->drained, &s->lock, &until) == ETIMEDOUT)
            rc = GW_ERETRY;
    rc = s->stats.lines_pending == 0 ? 0 : GW_ERETRY;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void gw_sink_stats(struct gw_sink *s, struct gw_sink_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

void gw_sink_free(struct gw_sink *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    while (s->head) {
        struct sink_batch *b = s->head;
        s->head = b->next;
        batch_free(b);
    }
    s->ops->close(s->state);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
