/*
 * net_paho.c -- the node's MQTT uplink over Eclipse Paho's asynchronous client.
 *
 * The node core owns every unconfirmed frame (node_hal.h): when a connection
 * is lost, the core takes its frames back into the ring and the uplink must
 * never resend them on its own. Paho, with a persistent session (clean
 * session false, which the node needs so that commands sent while it was
 * offline still reach it), would resend its in-flight messages after an
 * automatic reconnect. So there is no automatic reconnect: every connect
 * creates a fresh client (persistence none), and a lost or dropped
 * connection is destroyed with whatever it still held. The core's engine
 * does the reconnecting, with capped exponential backoff and jitter. The
 * broker still keeps the session (subscription and queued commands) under
 * the fixed client id, the device id.
 *
 * Paho calls back on its own threads. Callbacks only append to a bounded
 * event queue, tagged with the connection's generation; net_paho_pump()
 * delivers the current generation's events on the node's thread and drops
 * the rest, so that nothing from a connection the node already gave up
 * reaches it. Publish callbacks find their node reference through a fixed
 * table of slots (no allocation per message, nothing leaks when a client is
 * destroyed with messages in flight).
 */
#include "net_paho.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#include "hal_linux.h"
#include "paho_cmd.h"

#define MAX_EVENTS 4096
#define MAX_SLOTS 2048
#define MAX_QUEUED_COMMANDS 16
#define DISCONNECT_TIMEOUT_MS 2000

enum ev_type { EV_UP, EV_DOWN, EV_PUBLISHED, EV_COMMAND };

struct event {
    enum ev_type type;
    unsigned gen;
    uint32_t ref;
    int ok;
    uint8_t *payload; /* EV_COMMAND, owned by the queue */
    size_t len;
    char why[96]; /* EV_DOWN */
};

struct slot {
    struct net_paho *p;
    unsigned gen;
    uint32_t ref;
    int used;
};

/* One connection attempt: what the callbacks of one Paho client need. */
struct conn {
    struct net_paho *p;
    MQTTAsync client;
    unsigned gen;
    char cmd_topic[NODE_MAX_TOPIC];
    struct paho_cmd cmd; /* its command side (paho_cmd.h); hooks get the conn */
};

struct net_paho {
    char *url, *username, *password, *ca_file, *cert_file, *key_file;
    int keepalive_s, connect_timeout_s;
    struct conn *conn; /* the current client, or NULL */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned gen; /* generation of the current connection */
    struct event q[MAX_EVENTS];
    size_t q_head, q_count, q_commands;
    uint64_t q_dropped;
    int disconnected; /* a clean disconnect completed */
    struct slot slots[MAX_SLOTS];
    size_t slot_hint;
};

static char *dup_or_null(const char *s)
{
    if (!s || !*s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Queues an event; the caller holds the lock. payload is taken over. */
static void push_locked(struct net_paho *p, const struct event *e)
{
    if (p->q_count == MAX_EVENTS ||
        (e->type == EV_COMMAND && p->q_commands >= MAX_QUEUED_COMMANDS)) {
        p->q_dropped++;
        free(e->payload);
        return;
    }
    p->q[(p->q_head + p->q_count++) % MAX_EVENTS] = *e;
    if (e->type == EV_COMMAND)
        p->q_commands++;
    pthread_cond_signal(&p->cond);
}

static void push(struct conn *c, enum ev_type type, const char *why)
{
    struct event e = {.type = type, .gen = c->gen};
    if (why)
        snprintf(e.why, sizeof e.why, "%s", why);
    pthread_mutex_lock(&c->p->lock);
    push_locked(c->p, &e);
    pthread_mutex_unlock(&c->p->lock);
}

/* ---- Paho callbacks (Paho's threads) ---- */

static void on_up(void *ctx)
{
    push(ctx, EV_UP, NULL);
}

static void on_down(void *ctx, const char *why)
{
    push(ctx, EV_DOWN, why);
}

/* The command's topic is the node's own: only the payload is kept. */
static void on_command(void *ctx, const char *topic, size_t topic_len, uint8_t *payload, size_t len)
{
    struct conn *c = ctx;
    struct event e = {.type = EV_COMMAND, .gen = c->gen, .payload = payload, .len = len};
    (void)topic;
    (void)topic_len;
    pthread_mutex_lock(&c->p->lock);
    if (payload)
        push_locked(c->p, &e);
    else
        c->p->q_dropped++;
    pthread_mutex_unlock(&c->p->lock);
}

static const struct paho_cmd_hooks cmd_hooks = {on_up, on_down, on_command};

/* A publish finished: queue its outcome once (the slot is freed here). */
static void publish_done(struct slot *s, int ok)
{
    pthread_mutex_lock(&s->p->lock);
    if (s->used) {
        struct event e = {.type = EV_PUBLISHED, .gen = s->gen, .ref = s->ref, .ok = ok};
        s->used = 0;
        push_locked(s->p, &e);
    }
    pthread_mutex_unlock(&s->p->lock);
}

static void on_published(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    publish_done(ctx, 1);
}

static void on_publish_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    publish_done(ctx, 0);
}

static void on_disconnected(void *ctx, MQTTAsync_successData *r)
{
    struct net_paho *p = ((struct conn *)ctx)->p;
    (void)r;
    pthread_mutex_lock(&p->lock);
    p->disconnected = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* ---- the node's side (main thread) ---- */

/* Destroys the current client, if any: no callback of it runs afterwards. */
static void drop_client(struct net_paho *p)
{
    struct conn *c = p->conn;
    if (!c)
        return;
    pthread_mutex_lock(&p->lock);
    p->gen++;
    pthread_mutex_unlock(&p->lock);
    MQTTAsync_destroy(&c->client);
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < MAX_SLOTS; i++)
        p->slots[i].used = 0;
    pthread_mutex_unlock(&p->lock);
    free(c);
    p->conn = NULL;
}

static int p_connect(void *ctx, const struct node_connect *nc)
{
    struct net_paho *p = ctx;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    int rc;

    drop_client(p);
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return -NODE_ENOMEM;
    c->p = p;
    snprintf(c->cmd_topic, sizeof c->cmd_topic, "%s", nc->cmd_topic);
    pthread_mutex_lock(&p->lock);
    c->gen = ++p->gen;
    pthread_mutex_unlock(&p->lock);

    co.sendWhileDisconnected = 0;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    rc = MQTTAsync_createWithOptions(&c->client, p->url, nc->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                     NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        hal_linux_logf(NODE_LOG_ERROR, "MQTT client for %s: %s", p->url, MQTTAsync_strerror(rc));
        free(c);
        return -NODE_ENET;
    }
    p->conn = c;
    c->cmd = (struct paho_cmd){c->client, c->cmd_topic, &cmd_hooks, c};

    will.topicName = nc->will_topic;
    will.payload.data = nc->will;
    will.payload.len = (int)nc->will_len;
    will.message = NULL;
    will.qos = 1;
    will.retained = 1;
    o.will = &will;
    o.keepAliveInterval = p->keepalive_s;
    o.connectTimeout = p->connect_timeout_s;
    o.cleansession = 0;
    o.automaticReconnect = 0;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.username = p->username;
    o.password = p->password;
    paho_cmd_attach(&c->cmd, &o);
    if (p->ca_file || strncmp(p->url, "ssl://", 6) == 0 || strncmp(p->url, "mqtts://", 8) == 0) {
        ssl.trustStore = p->ca_file;
        ssl.keyStore = p->cert_file;
        ssl.privateKey = p->key_file;
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1;
        o.ssl = &ssl;
    }
    rc = MQTTAsync_connect(c->client, &o);
    if (rc != MQTTASYNC_SUCCESS) {
        hal_linux_logf(NODE_LOG_WARN, "connect to %s: %s", p->url, MQTTAsync_strerror(rc));
        drop_client(p);
        return -NODE_ERETRY;
    }
    return 0;
}

static int p_publish(void *ctx, const struct node_publish *m, uint32_t ref)
{
    struct net_paho *p = ctx;
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    struct slot *s = NULL;
    if (!p->conn || !MQTTAsync_isConnected(p->conn->client))
        return -NODE_ERETRY;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < MAX_SLOTS && !s; i++) {
        struct slot *t = &p->slots[(p->slot_hint + i) % MAX_SLOTS];
        if (!t->used) {
            s = t;
            p->slot_hint = (p->slot_hint + i + 1) % MAX_SLOTS;
        }
    }
    if (s) {
        s->p = p;
        s->gen = p->conn->gen;
        s->ref = ref;
        s->used = 1;
    }
    pthread_mutex_unlock(&p->lock);
    if (!s)
        return -NODE_ERETRY;
    o.onSuccess = on_published;
    o.onFailure = on_publish_failed;
    o.context = s;
    int rc =
        MQTTAsync_send(p->conn->client, m->topic, (int)m->len, m->payload, m->qos, m->retained, &o);
    if (rc == MQTTASYNC_SUCCESS)
        return 0;
    pthread_mutex_lock(&p->lock);
    s->used = 0;
    pthread_mutex_unlock(&p->lock);
    return rc == MQTTASYNC_BAD_UTF8_STRING || rc == MQTTASYNC_BAD_QOS ? -NODE_ENET : -NODE_ERETRY;
}

static void p_disconnect(void *ctx, int clean)
{
    struct net_paho *p = ctx;
    if (!p->conn)
        return;
    if (clean && MQTTAsync_isConnected(p->conn->client)) {
        MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
        struct timespec until;
        o.timeout = DISCONNECT_TIMEOUT_MS;
        o.onSuccess = on_disconnected;
        o.context = p->conn;
        pthread_mutex_lock(&p->lock);
        p->disconnected = 0;
        p->gen++; /* nothing of this connection reaches the node any more */
        pthread_mutex_unlock(&p->lock);
        if (MQTTAsync_disconnect(p->conn->client, &o) == MQTTASYNC_SUCCESS) {
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += DISCONNECT_TIMEOUT_MS / 1000 + 1;
            pthread_mutex_lock(&p->lock);
            while (!p->disconnected)
                if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
                    break;
            pthread_mutex_unlock(&p->lock);
        }
    }
    drop_client(p);
}

static const struct node_net_ops paho_ops = {p_connect, p_publish, p_disconnect};

struct node_net net_paho_net(struct net_paho *p)
{
    struct node_net n = {&paho_ops, p};
    return n;
}

int net_paho_new(const struct net_paho_config *cfg, struct net_paho **out, char *err, size_t cap)
{
    struct net_paho *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->url = dup_or_null(cfg->url);
    p->username = dup_or_null(cfg->username);
    p->password = dup_or_null(cfg->password);
    p->ca_file = dup_or_null(cfg->ca_file);
    p->cert_file = dup_or_null(cfg->cert_file);
    p->key_file = dup_or_null(cfg->key_file);
    p->keepalive_s = cfg->keepalive_s;
    p->connect_timeout_s = cfg->connect_timeout_s;
    if (!p->url || (cfg->username && *cfg->username && !p->username) ||
        (cfg->password && *cfg->password && !p->password)) {
        snprintf(err, cap, p->url ? "out of memory" : "no broker URL");
        net_paho_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void net_paho_free(struct net_paho *p)
{
    if (!p)
        return;
    drop_client(p);
    for (size_t i = 0; i < p->q_count; i++)
        free(p->q[(p->q_head + i) % MAX_EVENTS].payload);
    free(p->url);
    free(p->username);
    free(p->password);
    free(p->ca_file);
    free(p->cert_file);
    free(p->key_file);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

void net_paho_pump(struct net_paho *p, struct node *node, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->q_count == 0 && timeout_ms > 0)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            break;
    if (p->q_dropped > 0) {
        hal_linux_logf(NODE_LOG_WARN, "%llu uplink events dropped (queue full)",
                       (unsigned long long)p->q_dropped);
        p->q_dropped = 0;
    }
    while (p->q_count > 0) {
        struct event e = p->q[p->q_head];
        p->q_head = (p->q_head + 1) % MAX_EVENTS;
        p->q_count--;
        if (e.type == EV_COMMAND)
            p->q_commands--;
        int current = e.gen == p->gen;
        pthread_mutex_unlock(&p->lock);
        /* The node may call back into p (publish, connect, disconnect): no lock held here. */
        if (current) {
            uint64_t now = hal_linux_now_ms();
            switch (e.type) {
            case EV_UP:
                node_net_up(node, now);
                break;
            case EV_DOWN:
                hal_linux_logf(NODE_LOG_WARN, "uplink %s: %s", p->url, e.why);
                node_net_down(node, now);
                break;
            case EV_PUBLISHED:
                node_net_published(node, e.ref, e.ok);
                break;
            case EV_COMMAND:
                node_command(node, e.payload, e.len, now);
                break;
            }
        }
        free(e.payload);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}
