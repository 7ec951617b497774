/*
 * mqtt.c -- Paho MQTTAsync behind the gateway's message callback.
 *
 * Paho calls back on its own thread, messages one at a time. Paho C sends
 * the PUBACK of a QoS 1 message when it reads the message, before the
 * callback runs (MQTTProtocol_handlePublishes: "send puback before
 * processing the publications"), so "acknowledged" is not tied to
 * "journaled" here: a message Paho has read and not yet handed over is lost
 * at a SIGKILL (docs/gateway.md says what that costs). The callback
 * therefore never refuses a message (Paho would keep it in its memory and
 * hand it over again only with a later one, out of order); when the journal
 * has no room, the gateway stops consuming instead (gw_mqtt_pause()), and the
 * broker keeps the frames in the session. Subscriptions are
 * made again on every (re)connection; with a persistent session the broker
 * kept them anyway, but a first start or an expired session needs them, and
 * until the broker has taken them a frame published reaches nobody: so the
 * client counts as connected (gw_mqtt_stats(), /healthz) only from their
 * SUBACK on.
 */
#include "mqtt.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <MQTTAsync.h>

#include "backoff.h"
#include "err.h"

struct gw_mqtt {
    MQTTAsync client;
    struct gw_mqtt_config cfg;
    char *topics[16];
    int qos[16];
    gw_mqtt_msg_fn fn;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int first_result; /* 0 pending, 1 subscribed (or the subscribe failed), -1 not connected */
    int disconnected; /* the disconnect of gw_mqtt_free() is done (or failed) */
    char first_error[160];
    _Atomic uint64_t received, connects, losses, published, publish_failed;
    atomic_int connected, paused;
};

/*
 * Paho's thread: the connection is up and the broker has the subscriptions
 * (its SUBACK came), or the subscribe failed. Only now is the client
 * "connected": a frame published before the broker took a first
 * subscription would reach nobody, so whoever waits for "connected"
 * (gw_mqtt_new(), /healthz, a test about to publish) must wait for this.
 */
static void mqtt_subscribe_over(struct gw_mqtt *m, int subscribed)
{
    if (subscribed && !atomic_load(&m->paused))
        atomic_store(&m->connected, 1);
    pthread_mutex_lock(&m->lock);
    m->first_result = 1;
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
}

static void mqtt_on_subscribed(void *context, MQTTAsync_successData *data)
{
    (void)data;
    mqtt_subscribe_over(context, 1);
}

static void mqtt_on_subscribed5(void *context, MQTTAsync_successData5 *data)
{
    (void)data;
    mqtt_subscribe_over(context, 1);
}

static void mqtt_on_subscribe_failed(void *context, MQTTAsync_failureData *data)
{
    fprintf(stderr, "citygate: mqtt: subscribe failed (code %d)\n", data ? data->code : 0);
    mqtt_subscribe_over(context, 0);
}

static void mqtt_on_subscribe_failed5(void *context, MQTTAsync_failureData5 *data)
{
    fprintf(stderr, "citygate: mqtt: subscribe failed (reason %d)\n",
            data ? (int)data->reasonCode : 0);
    mqtt_subscribe_over(context, 0);
}

static void mqtt_subscribe(struct gw_mqtt *m)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.context = m;
    if (m->cfg.version == 5) { /* Paho takes only the callbacks of the session's version */
        opts.onSuccess5 = mqtt_on_subscribed5;
        opts.onFailure5 = mqtt_on_subscribe_failed5;
    } else {
        opts.onSuccess = mqtt_on_subscribed;
        opts.onFailure = mqtt_on_subscribe_failed;
    }
    int rc = MQTTAsync_subscribeMany(m->client, (int)m->cfg.n_topics, m->topics, m->qos, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "citygate: mqtt: subscribe failed: %s\n", MQTTAsync_strerror(rc));
        mqtt_subscribe_over(m, 0);
    }
}

/*
 * Turns Nagle's algorithm off on the connection to the broker. Paho 1.3 does
 * not (eclipse-paho/paho.mqtt.c#530) and has no way to reach its socket, so
 * the TCP sockets of the process whose peer port is the broker's are found
 * in /proc/self/fd. Without it an alert published from the message callback
 * sits behind the PUBACK just written until the broker's delayed ACK, 40 ms
 * on Linux (test_gw_alerts measures it). Setting it on another socket to
 * that port (there is none) would only cost some coalescing.
 */
static void mqtt_nodelay(const char *url)
{
    const char *colon = strrchr(url, ':');
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    DIR *d;
    struct dirent *e;

    if (!colon || end == colon + 1 || port == 0 || port > 65535)
        port = strncmp(url, "ssl://", 6) == 0 || strncmp(url, "mqtts://", 8) == 0 ? 8883 : 1883;
    if (!(d = opendir("/proc/self/fd")))
        return;
    while ((e = readdir(d)) != NULL) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = (int)strtol(e->d_name, &end, 10), one = 1;
        if (*end != '\0' || fd < 0 || fd == dirfd(d) ||
            getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
            continue;
        in_port_t p = peer.ss_family == AF_INET    ? ((struct sockaddr_in *)&peer)->sin_port
                      : peer.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&peer)->sin6_port
                                                   : 0;
        if (p == htons((in_port_t)port))
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    closedir(d);
}

static void mqtt_on_connected(void *context, char *cause)
{
    struct gw_mqtt *m = context;
    (void)cause;
    mqtt_nodelay(m->cfg.url);
    m->connects++;
    fprintf(stderr, "citygate: mqtt: connected to %s\n", m->cfg.url);
    mqtt_subscribe(m); /* connected once the broker has the subscriptions */
}

static void mqtt_on_lost(void *context, char *cause)
{
    struct gw_mqtt *m = context;
    atomic_store(&m->connected, 0);
    m->losses++;
    fprintf(stderr, "citygate: mqtt: connection lost (%s); reconnecting\n",
            cause ? cause : "no reason given");
}

static void mqtt_on_connect_failure(void *context, MQTTAsync_failureData *response)
{
    struct gw_mqtt *m = context;
    pthread_mutex_lock(&m->lock);
    if (m->first_result == 0) {
        m->first_result = -1;
        snprintf(m->first_error, sizeof m->first_error, "%s",
                 response && response->message ? response->message
                                               : MQTTAsync_strerror(response ? response->code : 0));
        pthread_cond_broadcast(&m->changed);
    }
    pthread_mutex_unlock(&m->lock);
}

static void mqtt_on_connect_failure5(void *context, MQTTAsync_failureData5 *response)
{
    MQTTAsync_failureData d = {0};
    if (response) {
        d.code = response->code;
        d.message = response->message;
    }
    mqtt_on_connect_failure(context, &d);
}

static int mqtt_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct gw_mqtt *m = context;
    char name[1024];
    size_t n = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    if (n >= sizeof name)
        n = sizeof name - 1; /* such a topic cannot match ours; the callback refuses it */
    memcpy(name, topic, n);
    name[n] = '\0';
    m->fn(m->ctx, name, msg->payload, (size_t)msg->payloadlen);
    m->received++;
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

/* Starts a connection with m's options (persistent session, automatic reconnection). */
static int mqtt_connect(struct gw_mqtt *m)
{
    MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions conn5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    const struct gw_mqtt_config *cfg = &m->cfg;

    MQTTAsync_connectOptions *o = cfg->version == 5 ? &conn5 : &conn;
    o->keepAliveInterval = (int)(cfg->keepalive_ms / 1000);
    o->automaticReconnect = 1;
    o->minRetryInterval = (int)(cfg->reconnect_min_ms + 999) / 1000;
    o->maxRetryInterval = (int)(cfg->reconnect_max_ms + 999) / 1000;
    o->username = cfg->username;
    o->password = cfg->password;
    o->context = m;
    if (cfg->version == 5) {
        /* Clean start off and a session that does not expire: the MQTT 5 persistent session. */
        MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
        expiry.value.integer4 = 0xFFFFFFFFu;
        MQTTProperties_add(&props, &expiry);
        o->cleanstart = 0;
        o->connectProperties = &props;
        o->onFailure5 = mqtt_on_connect_failure5;
    } else {
        o->cleansession = 0;
        o->onFailure = mqtt_on_connect_failure;
    }
    if (strncmp(cfg->url, "ssl://", 6) == 0 || strncmp(cfg->url, "mqtts://", 8) == 0) {
        ssl.trustStore = cfg->ca_file;
        ssl.keyStore = cfg->cert_file;
        ssl.privateKey = cfg->key_file;
        ssl.enableServerCertAuth = 1;
        o->ssl = &ssl;
    }
    int rc = MQTTAsync_connect(m->client, o);
    MQTTProperties_free(&props);
    return rc;
}

int gw_mqtt_new(const struct gw_mqtt_config *cfg, gw_mqtt_msg_fn fn, void *ctx,
                uint32_t connect_timeout_ms, struct gw_mqtt **out, char *err, size_t err_len)
{
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    struct gw_mqtt *m;
    int rc;

    if (cfg->n_topics > 16) {
        snprintf(err, err_len, "too many subscriptions");
        return GW_EINVAL;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_len, "out of memory");
        return GW_ENOMEM;
    }
    m->cfg = *cfg;
    m->fn = fn;
    m->ctx = ctx;
    for (size_t i = 0; i < cfg->n_topics; i++) {
        m->topics[i] = (char *)cfg->topics[i];
        m->qos[i] = 1;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* for gw_deadline_in() */
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->changed, &attr);
    pthread_condattr_destroy(&attr);
    create.MQTTVersion = cfg->version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    create.sendWhileDisconnected = 1;
    create.maxBufferedMessages = 100000;
    rc = MQTTAsync_createWithOptions(&m->client, cfg->url, cfg->client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, err_len, "mqtt: cannot create a client for %s: %s", cfg->url,
                 MQTTAsync_strerror(rc));
        goto fail;
    }
    MQTTAsync_setCallbacks(m->client, m, mqtt_on_lost, mqtt_on_message, NULL);
    MQTTAsync_setConnected(m->client, m, mqtt_on_connected);

    rc = mqtt_connect(m);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, err_len, "mqtt: cannot connect to %s: %s", cfg->url, MQTTAsync_strerror(rc));
        goto fail;
    }

    struct timespec until = gw_deadline_in(connect_timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (m->first_result == 0)
        if (pthread_cond_timedwait(&m->changed, &m->lock, &until) != 0)
            break;
    int result = m->first_result;
    pthread_mutex_unlock(&m->lock);
    if (result < 0) {
        snprintf(err, err_len, "mqtt: %s: %s", cfg->url, m->first_error);
        goto fail;
    }
    if (result == 0)
        fprintf(stderr, "citygate: mqtt: %s not reachable yet; retrying in the background\n",
                cfg->url);
    *out = m;
    return 0;
fail:
    gw_mqtt_free(m, 0);
    return GW_EIO;
}

int gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    int retained)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = qos;
    msg.retained = retained;
    if (MQTTAsync_sendMessage(m->client, topic, &msg, &opts) != MQTTASYNC_SUCCESS) {
        m->publish_failed++;
        return GW_ERETRY;
    }
    m->published++;
    return 0;
}

int gw_mqtt_pause(struct gw_mqtt *m)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    if (atomic_exchange(&m->paused, 1))
        return 0;
    d.timeout = 0;
    int rc = MQTTAsync_disconnect(m->client, &d);
    atomic_store(&m->connected, 0); /* Paho calls no connection-lost callback for this */
    fprintf(stderr, "citygate: mqtt: disconnected on purpose; the broker keeps the session\n");
    return rc == MQTTASYNC_SUCCESS || rc == MQTTASYNC_DISCONNECTED ? 0 : GW_EIO;
}

int gw_mqtt_resume(struct gw_mqtt *m)
{
    if (!atomic_exchange(&m->paused, 0))
        return 0;
    if (mqtt_connect(m) == MQTTASYNC_SUCCESS)
        return 0;                /* Paho retries a connect that fails, until the broker answers */
    atomic_store(&m->paused, 1); /* it did not start: the next call tries again */
    return GW_ERETRY;
}

void gw_mqtt_stats(struct gw_mqtt *m, struct gw_mqtt_stats *out)
{
    out->received = m->received;
    out->connects = m->connects;
    out->connection_losses = m->losses;
    out->published = m->published;
    out->publish_failed = m->publish_failed;
    out->connected = atomic_load(&m->connected);
}

/* Paho's thread: the disconnect of gw_mqtt_free() is over, whatever its outcome. */
static void mqtt_disconnect_over(struct gw_mqtt *m)
{
    pthread_mutex_lock(&m->lock);
    m->disconnected = 1;
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
}

static void mqtt_on_disconnected(void *ctx, MQTTAsync_successData *data)
{
    (void)data;
    mqtt_disconnect_over(ctx);
}

static void mqtt_on_disconnect_failed(void *ctx, MQTTAsync_failureData *data)
{
    (void)data;
    mqtt_disconnect_over(ctx);
}

/*
 * MQTTAsync_disconnect() only queues the disconnect: Paho's thread sends
 * what was queued before it, waits up to d.timeout for the acknowledgements
 * of messages in flight, then disconnects and calls back. Destroying the
 * client before that callback drops whatever is still queued (measured in
 * test_mqtt: 739 of 2,000 QoS 1 messages published just before reached the
 * broker), so the free waits for it, a little longer than the timeout.
 */
void gw_mqtt_free(struct gw_mqtt *m, uint32_t timeout_ms)
{
    if (!m)
        return;
    if (m->client) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = (int)timeout_ms;
        d.onSuccess = mqtt_on_disconnected;
        d.onFailure = mqtt_on_disconnect_failed;
        d.context = m;
        if (MQTTAsync_isConnected(m->client) &&
            MQTTAsync_disconnect(m->client, &d) == MQTTASYNC_SUCCESS) {
            struct timespec until = gw_deadline_in((uint64_t)timeout_ms + 1000);
            pthread_mutex_lock(&m->lock);
            while (!m->disconnected)
                if (pthread_cond_timedwait(&m->changed, &m->lock, &until) != 0)
                    break;
            pthread_mutex_unlock(&m->lock);
        }
        MQTTAsync_destroy(&m->client);
    }
    pthread_cond_destroy(&m->changed);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
