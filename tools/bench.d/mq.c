/*
 * mq.c -- the bench's publisher and subscriber over MQTTAsync (see mq.h).
 *
 * Both block their caller on a condition variable until Paho's callbacks
 * report the outcome of a connect or subscribe, so that a bench step starts
 * only once the broker has really taken the previous one.
 */
#include "mq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#define CONNECT_TIMEOUT_MS 10000

/* A one-shot outcome that Paho's thread reports and the caller waits for. */
struct outcome {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 0 pending, 1 ok, -1 failed */
};

static void outcome_init(struct outcome *o)
{
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
    o->state = 0;
}

static void outcome_fini(struct outcome *o)
{
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
}

static void outcome_set(struct outcome *o, int state)
{
    pthread_mutex_lock(&o->lock);
    o->state = state;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Waits for the outcome (and resets it for the next use). Returns 1, -1, or 0 on timeout. */
static int outcome_wait(struct outcome *o, unsigned ms)
{
    struct timespec until;
    deadline_in(&until, ms);
    pthread_mutex_lock(&o->lock);
    while (o->state == 0 && pthread_cond_timedwait(&o->cond, &o->lock, &until) == 0)
        ;
    int state = o->state;
    o->state = 0;
    pthread_mutex_unlock(&o->lock);
    return state;
}

static void on_ok(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    outcome_set(ctx, 1);
}

static void on_fail(void *ctx, MQTTAsync_failureData *d)
{
    fprintf(stderr, "mqtt: %s\n",
            d && d->message ? d->message : MQTTAsync_strerror(d ? d->code : 0));
    outcome_set(ctx, -1);
}

/* Creates client_id and connects it; callbacks are set before connecting. */
static int mq_connect(MQTTAsync *c, const char *url, const char *client_id, int clean,
                      unsigned window, struct outcome *o, void *cb_ctx,
                      MQTTAsync_messageArrived *ma)
{
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    int rc = MQTTAsync_create(c, url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "mqtt: cannot create %s: %s\n", client_id, MQTTAsync_strerror(rc));
        return -1;
    }
    MQTTAsync_setCallbacks(*c, cb_ctx, NULL, ma, NULL);
    opts.keepAliveInterval = 30;
    opts.cleansession = clean;
    opts.maxInflight = (int)window;
    opts.onSuccess = on_ok;
    opts.onFailure = on_fail;
    opts.context = o;
    rc = MQTTAsync_connect(*c, &opts);
    if (rc != MQTTASYNC_SUCCESS || outcome_wait(o, CONNECT_TIMEOUT_MS) != 1) {
        fprintf(stderr, "mqtt: %s cannot connect to %s\n", client_id, url);
        MQTTAsync_destroy(c);
        return -1;
    }
    return 0;
}

static void mq_close(MQTTAsync *c)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    if (!*c)
        return;
    d.timeout = 1000;
    if (MQTTAsync_isConnected(*c))
        MQTTAsync_disconnect(*c, &d);
    /* Give the DISCONNECT a moment to leave before the socket is torn down. */
    for (int i = 0; i < 100 && MQTTAsync_isConnected(*c); i++) {
        struct timespec ms = {0, 10000000};
        nanosleep(&ms, NULL);
    }
    MQTTAsync_destroy(c);
}

/* ---- publisher ---- */

struct bench_pub {
    MQTTAsync client;
    struct outcome connect;
    pthread_mutex_t lock;
    pthread_cond_t acked_cond;
    uint64_t sent, acked, failed;
    unsigned window;
};

static void pub_done(struct bench_pub *p, int ok)
{
    pthread_mutex_lock(&p->lock);
    if (ok)
        p->acked++;
    else
        p->failed++;
    pthread_cond_signal(&p->acked_cond);
    pthread_mutex_unlock(&p->lock);
}

static void pub_ok(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    pub_done(ctx, 1);
}

static void pub_fail(void *ctx, MQTTAsync_failureData *d)
{
    (void)d;
    pub_done(ctx, 0);
}

static int pub_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)topic_len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

struct bench_pub *bench_pub_new(const char *url, const char *client_id, unsigned window)
{
    struct bench_pub *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    outcome_init(&p->connect);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->acked_cond, NULL);
    p->window = window ? window : 1;
    if (mq_connect(&p->client, url, client_id, 1, p->window, &p->connect, p, pub_arrived) != 0) {
        bench_pub_free(p);
        return NULL;
    }
    return p;
}

int bench_pub_send(struct bench_pub *p, const char *topic, const void *payload, size_t len)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    pthread_mutex_lock(&p->lock);
    while (p->sent - p->acked - p->failed >= p->window)
        pthread_cond_wait(&p->acked_cond, &p->lock);
    p->sent++;
    pthread_mutex_unlock(&p->lock);
    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    ro.onSuccess = pub_ok;
    ro.onFailure = pub_fail;
    ro.context = p;
    int rc = MQTTAsync_sendMessage(p->client, topic, &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        pub_done(p, 0);
        return -1;
    }
    return 0;
}

int bench_pub_wait_all(struct bench_pub *p, unsigned timeout_ms)
{
    struct timespec until;
    int rc = 0;
    deadline_in(&until, timeout_ms);
    pthread_mutex_lock(&p->lock);
    while (rc == 0 && p->acked + p->failed < p->sent)
        rc = pthread_cond_timedwait(&p->acked_cond, &p->lock, &until);
    int done = p->acked + p->failed >= p->sent;
    pthread_mutex_unlock(&p->lock);
    return done ? 0 : -1;
}

void bench_pub_counts(struct bench_pub *p, uint64_t *sent, uint64_t *acked, uint64_t *failed)
{
    pthread_mutex_lock(&p->lock);
    *sent = p->sent;
    *acked = p->acked;
    *failed = p->failed;
    pthread_mutex_unlock(&p->lock);
}

void bench_pub_free(struct bench_pub *p)
{
    if (!p)
        return;
    mq_close(&p->client);
    outcome_fini(&p->connect);
    pthread_cond_destroy(&p->acked_cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- subscriber ---- */

struct bench_sub {
    MQTTAsync client;
    struct outcome op;
    bench_msg_fn fn;
    void *ctx;
};

static int sub_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct bench_sub *s = ctx;
    char name[256];
    size_t n = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, topic, n);
    name[n] = '\0';
    s->fn(s->ctx, name, m->payload, m->payloadlen > 0 ? (size_t)m->payloadlen : 0, m->retained);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

struct bench_sub *bench_sub_new(const char *url, const char *client_id, const char *const *filters,
                                int n, bench_msg_fn fn, void *ctx)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int qos[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct bench_sub *s = calloc(1, sizeof *s);
    if (!s || n < 1 || n > 8) {
        free(s);
        return NULL;
    }
    outcome_init(&s->op);
    s->fn = fn;
    s->ctx = ctx;
    if (mq_connect(&s->client, url, client_id, 0, 65535, &s->op, s, sub_arrived) != 0)
        goto fail;
    ro.onSuccess = on_ok;
    ro.onFailure = on_fail;
    ro.context = &s->op;
    if (MQTTAsync_subscribeMany(s->client, n, (char *const *)filters, qos, &ro) !=
            MQTTASYNC_SUCCESS ||
        outcome_wait(&s->op, CONNECT_TIMEOUT_MS) != 1) {
        fprintf(stderr, "mqtt: %s cannot subscribe\n", client_id);
        goto fail;
    }
    return s;
fail:
    bench_sub_free(s);
    return NULL;
}

void bench_sub_free(struct bench_sub *s)
{
    if (!s)
        return;
    mq_close(&s->client);
    outcome_fini(&s->op);
    free(s);
}

int bench_session_clear(const char *url, const char *client_id)
{
    MQTTAsync c = NULL;
    struct outcome o;
    outcome_init(&o);
    int rc = mq_connect(&c, url, client_id, 1, 10, &o, NULL, pub_arrived);
    if (rc == 0)
        mq_close(&c);
    outcome_fini(&o);
    return rc;
}
