/*
 * sink.c -- the batching and retry engine in front of the store adapters.
 *
 * One writer thread owns the adapter. Producers append lines to the newest
 * open batch of their retention policy; a batch is sent once it holds
 * batch_lines lines or is batch_interval_ms old. A failed request is retried
 * with capped exponential backoff and full jitter (Fluent Bit's scheduler),
 * a 413 splits the batch at a line boundary, a 400 sends it to the
 * dead-letter file. Everything pending is bounded by max_pending_bytes.
 */
#include "sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "err.h"

struct sink_batch {
    const char *rp;
    char *buf;
    size_t len, cap, n_lines;
    uint64_t opened_ms;
    int sealed; /* no more appends: full, old, or being sent */
    struct sink_batch *next;
};

struct gw_sink {
    const struct gw_sink_config *cfg;
    const struct gw_sink_ops *ops;
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
static const struct gw_sink_ops *const sink_adapters[] = {&gw_sink_influx_v1, &gw_sink_influx_v2};

const struct gw_sink_ops *gw_sink_find(const char *name)
{
    for (size_t i = 0; i < sizeof sink_adapters / sizeof *sink_adapters; i++)
        if (strcmp(sink_adapters[i]->name, name) == 0)
            return sink_adapters[i];
    return NULL;
}

static void batch_free(struct sink_batch *b)
{
    if (b) {
        free(b->buf);
        free(b);
    }
}

/* Called with the lock held: drops the oldest unsent batches while over the
 * bound. A batch being sent stays (it may be retried for as long as the store
 * is down), so the bound holds to within that one batch. */
static void sink_enforce_bound(struct gw_sink *s)
{
    struct sink_batch **link = &s->head, *prev = NULL;
    while (s->stats.bytes_pending > s->cfg->max_pending_bytes && *link) {
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
        batch_free(b);
    }
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
    fprintf(f, "# rejected by the store: %s\n", msg);
    fwrite(lines, 1, len, f);
    if (len > 0 && lines[len - 1] != '\n')
        fputc('\n', f);
    fclose(f);
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
 * Sends lines until written, rejected or stopped, splitting on 413. Returns
 * non-zero when the sink is stopping. Called without the lock.
 */
static int sink_send(struct gw_sink *s, const char *rp, const char *lines, size_t len)
{
    char msg[512];
    for (unsigned attempt = 0;; attempt++) {
        uint64_t t0 = gw_mono_ms();
        msg[0] = '\0';
        enum gw_sink_result r = s->ops->write(s->state, rp, lines, len, msg, sizeof msg);
        uint64_t took = gw_mono_ms() - t0;
        size_t n = count_lines(lines, len);

        pthread_mutex_lock(&s->lock);
        if (r == GW_SINK_OK) {
            s->stats.lines_written += n;
            s->stats.batches_written++;
            s->stats.write_ms_sum += took;
            s->stats.writes_timed++;
            if (took > s->stats.write_ms_max)
                s->stats.write_ms_max = took;
        } else if (r == GW_SINK_REJECTED) {
            s->stats.errors++;
            s->stats.lines_dead_lettered += n;
        } else if (r == GW_SINK_TOO_LARGE) {
            s->stats.splits++;
        } else {
            s->stats.retries++;
        }
        pthread_mutex_unlock(&s->lock);

        if (r == GW_SINK_OK)
            return 0;
        if (r == GW_SINK_REJECTED) {
            sink_dead_letter(s, lines, len, msg);
            return 0;
        }
        if (r == GW_SINK_TOO_LARGE && n > 1) {
            /* Split after the middle line; each half is retried on its own. */
            const char *mid = lines + len / 2;
            while (mid > lines && mid[-1] != '\n')
                mid--;
            if (mid == lines)
                mid = memchr(lines, '\n', len) + 1;
            return sink_send(s, rp, lines, (size_t)(mid - lines)) ||
                   sink_send(s, rp, mid, len - (size_t)(mid - lines));
        }
        if (r == GW_SINK_TOO_LARGE) {
            sink_dead_letter(s, lines, len, "a single line larger than the store accepts");
            return 0;
        }
        if (sink_backoff(s, attempt))
            return 1;
    }
}

static void *sink_main(void *arg)
{
    struct gw_sink *s = arg;
    char msg[512];

    for (unsigned attempt = 0; s->ops->prepare(s->state, msg, sizeof msg) != GW_SINK_OK;
         attempt++) {
        pthread_mutex_lock(&s->lock);
        s->stats.retries++;
        pthread_mutex_unlock(&s->lock);
        if (attempt % 16 == 0) /* once, then now and then: the store may be down for long */
            fprintf(stderr, "citygate: store not ready (%s); retrying\n", msg);
        if (sink_backoff(s, attempt))
            return NULL;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct sink_batch *b = s->head;
        if (!b) {
            pthread_cond_broadcast(&s->drained);
            pthread_cond_wait(&s->wake, &s->lock);
            continue;
        }
        uint64_t age = gw_mono_ms() - b->opened_ms;
        if (b->n_lines < s->cfg->batch_lines && age < s->cfg->batch_interval_ms) {
            struct timespec until = gw_deadline_in(s->cfg->batch_interval_ms - age);
            pthread_cond_timedwait(&s->wake, &s->lock, &until);
            continue;
        }
        b->sealed = 1;
        pthread_mutex_unlock(&s->lock);
        int stopping = sink_send(s, b->rp, b->buf, b->len);
        pthread_mutex_lock(&s->lock);
        if (stopping)
            break;
        s->head = b->next;
        if (!s->head)
            s->tail = NULL;
        s->stats.bytes_pending -= b->len;
        s->stats.lines_pending -= b->n_lines;
        batch_free(b);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int gw_sink_new(const struct gw_sink_config *cfg, struct gw_sink **out, char *err, size_t err_len)
{
    const struct gw_sink_ops *ops = cfg->ops;
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
