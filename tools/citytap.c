/*
 * citytap -- a live view of the frames flowing through the broker.
 *
 * For a technician at a cabinet or a demo on a laptop: subscribe to the frame
 * topics, verify and decode every frame exactly as the gateway will (the same
 * wire library, the same per-device keys from the device registry), check
 * that the topic's site and node are the ones inside the signed frame, and
 * print once a second, per site, how many frames arrived from how many nodes
 * and what they say about the traffic (mean speed, vehicle count). Frames that
 * fail are counted by reason; the first of each reason is described once.
 *
 * Paho delivers messages on its own thread; that thread decodes into a
 * per-thread arena and updates counters under one mutex. The main thread only
 * sleeps until the next whole second, takes a snapshot and prints it, so a
 * slow terminal never holds up the acknowledgements to the broker.
 *
 * The registry is the gateway's device registry (citysim --registry writes
 * one), read with the gateway's own parser (gw_registry_new()): a file the
 * gateway takes, citytap takes, and keys are prepared the same way. The
 * topic is split by the gateway's gw_topic_parse() too.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "cli.h"
#include "err.h"
#include "registry.h"
#include "validate.h"
#include "wire.h"

#define TAP_DEFAULT_BROKER "tcp://127.0.0.1:1883"
#define TAP_DEFAULT_TOPIC "city/v1/+/+/data"
#define TAP_ARENA_BYTES (256u * 1024u)
#define TAP_MAX_REGISTRY_BYTES (256u << 20)
#define TAP_MAX_DURATION_S 31536000.0
#define TAP_CONNECT_TIMEOUT_S 5
#define TAP_DISCONNECT_NS (3 * NS_PER_S)
#define TAP_MAX_PAIRS 16
#define NS_PER_S 1000000000LL

/* Why a frame was rejected: the wire library's reasons, then citytap's own checks. */
enum {
    TAP_REJECT_TOPIC = WIRE_N_ERRS, /* the topic's site or node is not the frame's */
    TAP_REJECT_SITE,                /* the frame's site is not the device's registered site */
    TAP_N_REASONS
};

struct tap_opts {
    const char *broker;
    const char *topic;
    const char *registry_path;
    const char *ready_path; /* created once subscribed, for scripts; may be NULL */
    double duration_s;      /* 0: until SIGINT or SIGTERM */
    bool quiet;
};

/* A device of the registry, and the index of its site in struct tap_registry.sites. */
struct tap_node {
    const struct gw_device *dev; /* borrowed from the registry */
    size_t site;
};

/*
 * The device registry and citytap's indexes over it: the nodes sorted by id
 * (a node's place is its slot in the per-node counters) and the sites sorted
 * (a site's place is its row). Immutable once loaded, so any thread may read it.
 */
struct tap_registry {
    struct gw_registry *reg;
    struct tap_node *nodes; /* sorted by device id */
    size_t n_nodes;
    const char **sites; /* the devices' sites (borrowed from reg), sorted, unique */
    size_t n_sites;
};

/* What one site did during the current second. */
struct tap_site_stats {
    uint64_t frames;
    uint64_t nodes;
    double volume_veh;
    double speed_weighted; /* sum of speed * volume, for the volume-weighted mean speed */
    double speed_weight;
};

/* Counters shared with Paho's thread; every field is guarded by lock. */
struct tap_stats {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;          /* 0 pending, 1 subscribed, otherwise a Paho failure code */
    const char *failed; /* what failed: "connect to" or "subscribe to" */
    uint64_t connection_losses;
    bool disconnected;
    uint64_t epoch;               /* the current second; a device seen in it has seen[i] == epoch */
    uint64_t *seen;               /* per device */
    struct tap_site_stats *sites; /* per site, for the current second */
    uint64_t received;
    uint64_t verified;
    uint64_t rejected;
    uint64_t rejects[TAP_N_REASONS];
    char first_reject[TAP_N_REASONS][200]; /* described once, by the main thread */
    bool reject_pending[TAP_N_REASONS];
};

struct tap {
    struct tap_opts opts;
    struct tap_registry reg;
    struct tap_stats stats;
    MQTTAsync client;
    int64_t start_ns;
};

static volatile sig_atomic_t tap_stop;

static void tap_on_signal(int sig)
{
    (void)sig;
    tap_stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static struct timespec ns_to_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S)};

    return ts;
}

static const char *tap_reason_name(int reason)
{
    if (reason == TAP_REJECT_TOPIC)
        return "topic_mismatch";
    if (reason == TAP_REJECT_SITE)
        return "site_mismatch";
    return wire_errname(-reason);
}

/* The registry. */

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const struct tap_node *)a)->dev->id, ((const struct tap_node *)b)->dev->id);
}

static int cmp_key_node(const void *key, const void *elem)
{
    return strcmp(key, ((const struct tap_node *)elem)->dev->id);
}

static int cmp_site(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int tap_collect(const struct gw_device *dev, void *ctx)
{
    struct tap_registry *r = ctx;

    r->nodes[r->n_nodes++].dev = dev;
    return 0;
}

static void tap_registry_fini(struct tap_registry *r)
{
    gw_registry_free(r->reg);
    free(r->nodes);
    free(r->sites);
    memset(r, 0, sizeof(*r));
}

/*
 * Loads the registry at path into r (caller storage; free with
 * tap_registry_fini()) and sorts its nodes and sites. Returns 0, or prints why
 * not and returns the exit code: EX_IOERR (unreadable), EX_CONFIG (invalid,
 * or no device) or EX_SOFTWARE (out of memory).
 */
static int tap_registry_load(struct tap_registry *r, const char *path)
{
    struct gw_registry_diag diag = {0, ""};
    char *text = NULL;
    size_t len = 0, n;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = cli_read_file(path, TAP_MAX_REGISTRY_BYTES, &text, &len);
    if (rc != 0) {
        cli_error("cannot read %s: %s", path, strerror(-rc));
        return EX_IOERR;
    }
    rc = gw_registry_new(text, len, &r->reg, &diag);
    free(text);
    if (rc == GW_ECONFIG) {
        cli_error("%s:%d: %s", path, diag.line, diag.message);
        return EX_CONFIG;
    }
    n = rc == 0 ? gw_registry_count(r->reg) : 0;
    if (rc == 0 && n == 0) {
        cli_error("%s: no [device ID] section", path);
        tap_registry_fini(r);
        return EX_CONFIG;
    }
    r->nodes = rc == 0 ? calloc(n, sizeof(*r->nodes)) : NULL;
    r->sites = r->nodes ? calloc(n, sizeof(*r->sites)) : NULL;
    if (!r->sites) {
        cli_error("%s: %s", path, gw_strerror(GW_ENOMEM));
        tap_registry_fini(r);
        return EX_SOFTWARE;
    }
    gw_registry_each(r->reg, tap_collect, r);
    qsort(r->nodes, n, sizeof(*r->nodes), cmp_node);
    for (size_t i = 0; i < n; i++)
        r->sites[i] = r->nodes[i].dev->site;
    qsort(r->sites, n, sizeof(*r->sites), cmp_site);
    for (size_t i = 0; i < n; i++)
        if (r->n_sites == 0 || strcmp(r->sites[r->n_sites - 1], r->sites[i]) != 0)
            r->sites[r->n_sites++] = r->sites[i];
    for (size_t i = 0; i < n; i++) {
        const char *site = r->nodes[i].dev->site;
        const char **s = bsearch(&site, r->sites, r->n_sites, sizeof(*r->sites), cmp_site);

        r->nodes[i].site = (size_t)(s - r->sites);
    }
    return 0;
}

static const struct tap_node *tap_registry_find(const struct tap_registry *r, const char *id)
{
    return bsearch(id, r->nodes, r->n_nodes, sizeof(*r->nodes), cmp_key_node);
}

/* Frame handling, on Paho's thread. */

/* The traffic a frame reports: total vehicles and the volume-weighted speed sum. */
struct tap_traffic {
    double volume_veh;
    double speed_weighted;
    double speed_weight;
};

/*
 * Pairs each lane's SPEED with its TRAFFIC_VOLUME (same lane and sensor), so
 * that a lane without vehicles does not pull the mean speed. Only GOOD
 * readings count, and only the first TAP_MAX_PAIRS lanes enter the speed.
 */
static struct tap_traffic tap_traffic_of(const Citygate__V1__Frame *f)
{
    struct {
        uint32_t lane;
        const char *sensor;
        double volume;
        double speed;
        bool has_speed;
    } pairs[TAP_MAX_PAIRS];
    struct tap_traffic t = {0.0, 0.0, 0.0};
    size_t n_pairs = 0;

    for (size_t i = 0; i < f->n_readings; i++) {
        const Citygate__V1__Reading *r = f->readings[i];
        size_t k;

        if (r->quality != CITYGATE__V1__QUALITY__GOOD ||
            (r->quantity != CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME &&
             r->quantity != CITYGATE__V1__QUANTITY__SPEED) ||
            !isfinite(r->value) || r->value < 0.0)
            continue;
        if (r->quantity == CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME)
            t.volume_veh += r->value;
        for (k = 0; k < n_pairs; k++)
            if (pairs[k].lane == r->lane && strcmp(pairs[k].sensor, r->sensor_id) == 0)
                break;
        if (k == n_pairs) {
            if (n_pairs == TAP_MAX_PAIRS)
                continue;
            pairs[k].lane = r->lane;
            pairs[k].sensor = r->sensor_id;
            pairs[k].volume = 0.0;
            pairs[k].has_speed = false;
            n_pairs++;
        }
        if (r->quantity == CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME) {
            pairs[k].volume += r->value;
        } else {
            pairs[k].speed = r->value;
            pairs[k].has_speed = true;
        }
    }
    for (size_t k = 0; k < n_pairs; k++) {
        if (pairs[k].has_speed && pairs[k].volume > 0.0) {
            t.speed_weighted += pairs[k].speed * pairs[k].volume;
            t.speed_weight += pairs[k].volume;
        }
    }
    return t;
}

/* Verifies one message and counts it. Returns 0 or the rejection reason. */
static int tap_check(struct tap *t, const char *topic, size_t topic_len, const void *payload,
                     size_t len, char *detail, size_t detail_cap)
{
    static _Thread_local unsigned char arena[TAP_ARENA_BYTES];
    struct wire_decoder d;
    struct wire_diag diag;
    Citygate__V1__Frame *f = NULL;
    const struct tap_node *node;
    struct gw_topic topic_ids;
    struct tap_traffic traffic;
    struct tap_stats *st = &t->stats;
    struct tap_site_stats *ss;
    int rc;

    memset(&d, 0, sizeof(d));
    memset(&diag, 0, sizeof(diag));
    d.max_frame_bytes = WIRE_DEFAULT_MAX_FRAME_BYTES;
    d.key_fn = gw_registry_key;
    d.key_ctx = t->reg.reg;
    wire_arena_init(&d.arena, arena, sizeof(arena));
    rc = wire_decode(&d, payload, len, &f, &diag);
    if (rc != 0) {
        snprintf(detail, detail_cap, "%s on %.*s%s%s", wire_strerror(rc), (int)topic_len, topic,
                 diag.detail[0] ? ": " : "", diag.detail);
        return rc < 0 && -rc < WIRE_N_ERRS ? -rc : WIRE_EMALFORMED;
    }
    if (gw_topic_parse(topic, topic_len, &topic_ids) != 0 || topic_ids.kind != GW_TOPIC_DATA ||
        strcmp(topic_ids.site, f->site_id) != 0 || strcmp(topic_ids.node, f->device_id) != 0) {
        snprintf(detail, detail_cap, "frame of %s at %s arrived on %.*s", f->device_id, f->site_id,
                 (int)topic_len, topic);
        return TAP_REJECT_TOPIC;
    }
    node = tap_registry_find(&t->reg, f->device_id);
    if (!node || strcmp(node->dev->site, f->site_id) != 0) {
        snprintf(detail, detail_cap, "frame of %s says site %s, the registry %s", f->device_id,
                 f->site_id, node ? node->dev->site : "nothing");
        return TAP_REJECT_SITE;
    }

    traffic = tap_traffic_of(f);
    pthread_mutex_lock(&st->lock);
    ss = &st->sites[node->site];
    ss->frames++;
    if (st->seen[node - t->reg.nodes] != st->epoch) {
        st->seen[node - t->reg.nodes] = st->epoch;
        ss->nodes++;
    }
    ss->volume_veh += traffic.volume_veh;
    ss->speed_weighted += traffic.speed_weighted;
    ss->speed_weight += traffic.speed_weight;
    st->received++;
    st->verified++;
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static int tap_on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct tap *t = ctx;
    struct tap_stats *st = &t->stats;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    char detail[sizeof(st->first_reject[0])];
    int reason;

    detail[0] = '\0';
    reason = tap_check(t, topic, tlen, msg->payload, len, detail, sizeof(detail));
    if (reason != 0) {
        pthread_mutex_lock(&st->lock);
        st->received++;
        st->rejected++;
        if (st->rejects[reason]++ == 0) {
            memcpy(st->first_reject[reason], detail, sizeof(detail));
            st->reject_pending[reason] = true;
        }
        pthread_mutex_unlock(&st->lock);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void tap_set_state(struct tap *t, int state, const char *failed)
{
    pthread_mutex_lock(&t->stats.lock);
    t->stats.state = state;
    t->stats.failed = failed;
    pthread_cond_broadcast(&t->stats.cond);
    pthread_mutex_unlock(&t->stats.lock);
}

static void tap_on_subscribed(void *ctx, MQTTAsync_successData *resp)
{
    /* MQTT 3.1.1 reports a refused subscription as granted QoS 0x80 (spec 3.9.3). */
    tap_set_state(ctx, resp && resp->alt.qos == 0x80 ? MQTTASYNC_FAILURE : 1, "subscribe to");
}

static void tap_on_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
    tap_set_state(ctx, resp && resp->code < 0 ? resp->code : MQTTASYNC_FAILURE, "subscribe to");
}

/* Called after every successful connect, the first and each automatic reconnect. */
static void tap_on_connected(void *ctx, char *cause)
{
    struct tap *t = ctx;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc;

    (void)cause;
    ro.onSuccess = tap_on_subscribed;
    ro.onFailure = tap_on_subscribe_failed;
    ro.context = t;
    rc = MQTTAsync_subscribe(t->client, t->opts.topic, 1, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        tap_set_state(t, rc, "subscribe to");
}

static void tap_on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    tap_set_state(ctx, resp && resp->code < 0 ? resp->code : MQTTASYNC_FAILURE, "connect to");
}

/* Paho reconnects by itself and tap_on_connected() subscribes again; this only counts. */
static void tap_on_connection_lost(void *ctx, char *cause)
{
    struct tap *t = ctx;

    (void)cause;
    pthread_mutex_lock(&t->stats.lock);
    t->stats.connection_losses++;
    pthread_mutex_unlock(&t->stats.lock);
}

static void tap_on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    struct tap *t = ctx;

    (void)resp;
    pthread_mutex_lock(&t->stats.lock);
    t->stats.disconnected = true;
    pthread_cond_broadcast(&t->stats.cond);
    pthread_mutex_unlock(&t->stats.lock);
}

static void tap_on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    tap_on_disconnected(ctx, NULL);
}

/*
 * Connects and subscribes. Returns 0, EX_USAGE for a broker URL or topic Paho
 * refuses, EX_UNAVAILABLE when the broker cannot be reached or refuses the
 * subscription. SIGINT and SIGTERM are blocked while Paho starts its threads
 * so that they reach the main thread.
 */
static int tap_connect(struct tap *t)
{
    MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
    struct tap_stats *st = &t->stats;
    char client_id[48];
    sigset_t block, saved;
    const char *failed;
    int64_t deadline;
    int rc, state;

    snprintf(client_id, sizeof(client_id), "citytap-%ld", (long)getpid());
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    rc = MQTTAsync_create(&t->client, t->opts.broker, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "citytap: cannot use broker %s: %s\n", t->opts.broker,
                MQTTAsync_strerror(rc));
        t->client = NULL;
        rc = EX_USAGE;
        goto out;
    }
    rc = MQTTAsync_setCallbacks(t->client, t, tap_on_connection_lost, tap_on_message, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setConnected(t->client, t, tap_on_connected);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "citytap: cannot set up the client: %s\n", MQTTAsync_strerror(rc));
        rc = EX_SOFTWARE;
        goto out;
    }
    conn.keepAliveInterval = 20;
    conn.cleansession = 1;
    conn.connectTimeout = TAP_CONNECT_TIMEOUT_S;
    conn.MQTTVersion = MQTTVERSION_3_1_1;
    conn.automaticReconnect = 1;
    conn.minRetryInterval = 1;
    conn.maxRetryInterval = 16;
    conn.onFailure = tap_on_connect_failed;
    conn.context = t;
    rc = MQTTAsync_connect(t->client, &conn);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "citytap: cannot connect to %s: %s\n", t->opts.broker,
                MQTTAsync_strerror(rc));
        rc = EX_UNAVAILABLE;
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);

    deadline = mono_ns() + (TAP_CONNECT_TIMEOUT_S + 2) * NS_PER_S;
    pthread_mutex_lock(&st->lock);
    while (st->state == 0 && !tap_stop && mono_ns() < deadline) {
        struct timespec ts = ns_to_timespec(deadline);

        pthread_cond_timedwait(&st->cond, &st->lock, &ts);
    }
    state = st->state;
    failed = st->failed;
    pthread_mutex_unlock(&st->lock);
    if (state == 0) {
        fprintf(stderr, "citytap: no answer from %s\n", t->opts.broker);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    if (state != 1) {
        fprintf(stderr, "citytap: cannot %s %s: %s\n", failed,
                strcmp(failed, "connect to") == 0 ? t->opts.broker : t->opts.topic,
                state == MQTTASYNC_FAILURE ? "refused or unreachable" : MQTTAsync_strerror(state));
        rc = EX_UNAVAILABLE;
        goto out;
    }
    rc = 0;
out:
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

static void tap_disconnect(struct tap *t)
{
    MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
    struct tap_stats *st = &t->stats;

    if (!t->client)
        return;
    opts.timeout = 1000;
    opts.onSuccess = tap_on_disconnected;
    opts.onFailure = tap_on_disconnect_failed;
    opts.context = t;
    if (MQTTAsync_disconnect(t->client, &opts) == MQTTASYNC_SUCCESS) {
        int64_t deadline = mono_ns() + TAP_DISCONNECT_NS;

        pthread_mutex_lock(&st->lock);
        while (!st->disconnected && mono_ns() < deadline) {
            struct timespec ts = ns_to_timespec(deadline);

            pthread_cond_timedwait(&st->cond, &st->lock, &ts);
        }
        pthread_mutex_unlock(&st->lock);
    }
    MQTTAsync_destroy(&t->client);
}

/* Output, on the main thread. */

struct tap_snapshot {
    struct tap_site_stats *sites;
    uint64_t connection_losses;
    uint64_t received;
    uint64_t verified;
    uint64_t rejected;
    uint64_t rejects[TAP_N_REASONS];
    char first_reject[TAP_N_REASONS][200];
    bool reject_pending[TAP_N_REASONS];
};

/* Copies the counters into snap and starts a new second. */
static void tap_take_snapshot(struct tap *t, struct tap_snapshot *snap)
{
    struct tap_stats *st = &t->stats;
    size_t n = t->reg.n_sites;

    pthread_mutex_lock(&st->lock);
    memcpy(snap->sites, st->sites, n * sizeof(*st->sites));
    memset(st->sites, 0, n * sizeof(*st->sites));
    st->epoch++;
    snap->connection_losses = st->connection_losses;
    snap->received = st->received;
    snap->verified = st->verified;
    snap->rejected = st->rejected;
    memcpy(snap->rejects, st->rejects, sizeof(snap->rejects));
    for (int i = 0; i < TAP_N_REASONS; i++) {
        snap->reject_pending[i] = st->reject_pending[i];
        if (st->reject_pending[i])
            memcpy(snap->first_reject[i], st->first_reject[i], sizeof(snap->first_reject[i]));
        st->reject_pending[i] = false;
    }
    pthread_mutex_unlock(&st->lock);
}

static void print_speed(double weighted, double weight)
{
    if (weight > 0.0)
        printf("  %10.1f", weighted / weight);
    else
        printf("  %10s", "-");
}

/* Prints the table for the second that ended at now_ns, dt_s long. */
static void tap_print_table(const struct tap *t, const struct tap_snapshot *snap, int64_t now_ns,
                            double dt_s, bool tty)
{
    struct tap_site_stats all = {0, 0, 0.0, 0.0, 0.0};
    bool any = false;

    if (tty)
        fputs("\033[H\033[2J", stdout);
    else
        fputc('\n', stdout);
    printf("citytap %s  %.0fs  received=%" PRIu64 " verified=%" PRIu64 " rejected=%" PRIu64 "\n",
           t->opts.broker, (double)(now_ns - t->start_ns) / 1e9, snap->received, snap->verified,
           snap->rejected);
    if (snap->connection_losses > 0)
        printf("connection lost %" PRIu64 " times; frames sent meanwhile were missed\n",
               snap->connection_losses);
    printf("%-16s %9s %6s  %10s  %10s\n", "site", "frames/s", "nodes", "speed km/h", "volume veh");
    for (size_t i = 0; i < t->reg.n_sites; i++) {
        const struct tap_site_stats *s = &snap->sites[i];

        printf("%-16s %9.1f %6" PRIu64, t->reg.sites[i], (double)s->frames / dt_s, s->nodes);
        print_speed(s->speed_weighted, s->speed_weight);
        printf("  %10.0f\n", s->volume_veh);
        all.frames += s->frames;
        all.nodes += s->nodes;
        all.volume_veh += s->volume_veh;
        all.speed_weighted += s->speed_weighted;
        all.speed_weight += s->speed_weight;
    }
    printf("%-16s %9.1f %6" PRIu64, "all sites", (double)all.frames / dt_s, all.nodes);
    print_speed(all.speed_weighted, all.speed_weight);
    printf("  %10.0f\n", all.volume_veh);
    printf("%-16s", "rejected");
    for (int i = 1; i < TAP_N_REASONS; i++) {
        if (snap->rejects[i] == 0)
            continue;
        printf(" %s=%" PRIu64, tap_reason_name(i), snap->rejects[i]);
        any = true;
    }
    printf("%s\n", any ? "" : " none");
    fflush(stdout);
}

/* Describes each rejection reason once, the first time it happens. */
static void tap_log_first_rejects(const struct tap_snapshot *snap)
{
    for (int i = 1; i < TAP_N_REASONS; i++)
        if (snap->reject_pending[i])
            fprintf(stderr, "citytap: rejected (%s): %s\n", tap_reason_name(i),
                    snap->first_reject[i]);
}

/*
 * Prints a table every second until the duration ends or a signal arrives.
 * Returns the exit code.
 */
static int tap_run(struct tap *t)
{
    struct tap_snapshot snap;
    bool tty = isatty(STDOUT_FILENO) == 1;
    int64_t end_ns = INT64_MAX, next_ns, last_ns;
    int rc;

    memset(&snap, 0, sizeof(snap));
    snap.sites = calloc(t->reg.n_sites, sizeof(*snap.sites));
    if (!snap.sites)
        return EX_SOFTWARE;
    rc = tap_connect(t);
    if (rc != 0)
        goto out;
    if (t->opts.ready_path) {
        int fd = open(t->opts.ready_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || close(fd) != 0) {
            fprintf(stderr, "citytap: cannot create %s: %s\n", t->opts.ready_path, strerror(errno));
            rc = EX_IOERR;
            goto out;
        }
    }
    if (!t->opts.quiet)
        fprintf(stderr, "citytap: watching %s on %s, %zu devices on %zu sites\n", t->opts.topic,
                t->opts.broker, t->reg.n_nodes, t->reg.n_sites);

    t->start_ns = mono_ns();
    if (t->opts.duration_s > 0.0)
        end_ns = t->start_ns + (int64_t)llround(t->opts.duration_s * 1e9);
    last_ns = t->start_ns;
    next_ns = t->start_ns + NS_PER_S;
    while (!tap_stop) {
        int64_t now = mono_ns();

        if (now >= end_ns)
            break;
        if (now >= next_ns) {
            tap_take_snapshot(t, &snap);
            tap_log_first_rejects(&snap);
            if (!t->opts.quiet)
                tap_print_table(t, &snap, now, (double)(now - last_ns) / 1e9, tty);
            last_ns = now;
            next_ns += NS_PER_S;
            if (next_ns <= now)
                next_ns = now + NS_PER_S;
            continue;
        }
        struct timespec ts = ns_to_timespec(next_ns < end_ns ? next_ns : end_ns);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    tap_disconnect(t);

    tap_take_snapshot(t, &snap);
    tap_log_first_rejects(&snap);
    printf("citytap: received=%" PRIu64 " verified=%" PRIu64 " rejected=%" PRIu64 "\n",
           snap.received, snap.verified, snap.rejected);
    fflush(stdout);
    rc = snap.received > 0 && snap.rejected == 0 ? 0 : 1;
    if (snap.received == 0)
        fprintf(stderr, "citytap: no frame received\n");
out:
    if (t->client)
        MQTTAsync_destroy(&t->client);
    free(snap.sites);
    return rc;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: citytap --registry FILE [OPTION]...\n"
            "Watch the frames on an MQTT broker: verify each one against the device registry\n"
            "and print, once a second, per site: frames/s, nodes seen, mean speed and vehicles.\n"
            "\n"
            "  -r, --registry FILE     device registry (INI, as citysim --registry writes it)\n"
            "  -b, --broker URL        MQTT broker (default " TAP_DEFAULT_BROKER ")\n"
            "  -t, --topic FILTER      frame topics to watch (default " TAP_DEFAULT_TOPIC ")\n"
            "  -d, --duration SECONDS  stop after this long; 0 runs until SIGINT/SIGTERM "
            "(default 0)\n"
            "      --quiet             no table, only the summary line\n"
            "      --ready-file FILE   create FILE once subscribed (for scripts)\n"
            "  -h, --help              show this help and exit\n"
            "  -V, --version           show the version and exit\n"
            "\n"
            "Exit status: 0 at least one frame received and none rejected; 1 no frame, or\n"
            "some rejected; 64 usage error; 69 broker unreachable or subscription refused;\n"
            "70 internal error; 74 registry unreadable; 78 registry invalid.\n");
}

enum { OPT_QUIET = 256, OPT_READY_FILE };

/*
 * Parses the command line into o. Returns 0 to go on, or -1 when the program
 * should exit with *exit_code (after --help, --version or a usage error).
 */
static int tap_parse_args(struct tap_opts *o, int argc, char **argv, int *exit_code)
{
    static const struct option longopts[] = {
        {"registry", required_argument, NULL, 'r'},
        {"broker", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"ready-file", required_argument, NULL, OPT_READY_FILE},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    const char *what = NULL;
    int c, rc = 0;

    o->broker = TAP_DEFAULT_BROKER;
    o->topic = TAP_DEFAULT_TOPIC;
    while ((c = getopt_long(argc, argv, "r:b:t:d:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->registry_path = optarg;
            what = *optarg ? NULL : "--registry";
            break;
        case 'b':
            o->broker = optarg;
            what = *optarg ? NULL : "--broker";
            break;
        case 't':
            o->topic = optarg;
            what = *optarg ? NULL : "--topic";
            break;
        case 'd':
            rc = cli_real_arg("--duration", optarg, 0.0, TAP_MAX_DURATION_S, &o->duration_s);
            break;
        case OPT_READY_FILE:
            o->ready_path = optarg;
            what = *optarg ? NULL : "--ready-file";
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            *exit_code = EX_OK;
            return -1;
        case 'V':
        case CLI_OPT_VERSION:
            *exit_code = cli_print_version();
            return -1;
        default:
            rc = cli_usage_error(NULL);
            break;
        }
        if (what)
            rc = cli_usage_error("invalid value for %s: '%s'", what, optarg);
        if (rc) {
            *exit_code = rc;
            return -1;
        }
    }
    if (optind < argc)
        rc = cli_usage_error("unexpected argument '%s'", argv[optind]);
    else if (!o->registry_path)
        rc = cli_usage_error("--registry FILE is required");
    *exit_code = rc;
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    static struct tap t;
    struct sigaction sa;
    pthread_condattr_t attr;
    int rc = EX_OK;

    cli_init(argv[0]);
    if (tap_parse_args(&t.opts, argc, argv, &rc) != 0)
        return rc;
    rc = tap_registry_load(&t.reg, t.opts.registry_path);
    if (rc != 0)
        return rc;

    t.stats.seen = calloc(t.reg.n_nodes, sizeof(*t.stats.seen));
    t.stats.sites = calloc(t.reg.n_sites, sizeof(*t.stats.sites));
    if (!t.stats.seen || !t.stats.sites) {
        rc = EX_SOFTWARE;
        goto out;
    }
    t.stats.epoch = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tap_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    pthread_mutex_init(&t.stats.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t.stats.cond, &attr);
    pthread_condattr_destroy(&attr);

    rc = tap_run(&t);

    pthread_cond_destroy(&t.stats.cond);
    pthread_mutex_destroy(&t.stats.lock);
out:
    free(t.stats.seen);
    free(t.stats.sites);
    tap_registry_fini(&t.reg);
    return rc;
}
