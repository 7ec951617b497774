/*
 * citysim -- a fleet of simulated traffic-detector nodes on one MQTT connection.
 *
 * Each simulated node looks like a citynode on the wire: an identity
 * (node-0001, ...), a site, a per-device key derived from a fleet key, a
 * random nonzero boot id and a sequence number starting at 1. Once per period
 * it publishes one signed frame (schemas/wire.h) on city/v1/<site>/<node>/data.
 * The readings come from a small deterministic model of a two-lane induction
 * loop whose demand follows the local time of day, so that a demo at 08:00
 * shows a rush hour and one at 03:00 an empty road.
 *
 * All nodes share one Paho async connection: the point of the tool is to load
 * a broker and a gateway with thousands of nodes from one process, and a
 * connection per node would mostly measure the client library. The main thread
 * owns the schedule. Frame k of node i is due at start + k * period + i *
 * period / N on the monotonic clock: nodes are spread evenly over the period,
 * and because every deadline is absolute a late wake-up never accumulates
 * drift. Paho's threads only count completions. The number of unacknowledged
 * frames is bounded; at the bound the scheduler waits for acknowledgements and
 * then catches up, instead of queueing without limit.
 *
 * The node model is deliberately local and small: a later issue rebuilds it on
 * the firmware core (firmware/, drivers/), and the scheduler and counters stay.
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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"

#define SIM_VERSION "0.1.0"
#define SIM_FIRMWARE_VERSION "citysim-0.1"
#define SIM_DEFAULT_BROKER "tcp://127.0.0.1:1883"
/* The public demo fleet key: the 32 ASCII bytes "citygate demo fleet key (public)". */
#define SIM_DEMO_FLEET_KEY "63697479676174652064656d6f20666c656574206b657920287075626c696329"
#define SIM_MAX_NODES 100000UL
#define SIM_MAX_SITES 10000UL
#define SIM_MIN_RATE_HZ 0.001
#define SIM_MAX_RATE_HZ 1000.0
#define SIM_MAX_DURATION_S 31536000.0
#define SIM_DEFAULT_MAX_INFLIGHT 1000UL
#define SIM_MAX_INFLIGHT_LIMIT 65535UL
#define SIM_CONNECT_TIMEOUT_S 5
#define SIM_DRAIN_NS (10 * NS_PER_S)
#define SIM_DISCONNECT_NS (3 * NS_PER_S)
#define SIM_DEVICE_KEY_BYTES 32
#define SIM_LANES 2
#define SIM_READINGS_PER_LANE 3
#define SIM_MAX_VEHICLES_PER_LANE 16
#define SIM_MAX_VOLUME 100000U
#define SIM_LOOP_LENGTH_M 2.0
#define SIM_PI 3.14159265358979323846
#define NS_PER_S 1000000000LL

struct sim_opts {
    const char *broker;
    unsigned long n_nodes;
    unsigned long n_sites;
    double rate_hz;
    double duration_s; /* 0: until SIGINT or SIGTERM */
    uint64_t seed;
    int qos;
    uint8_t fleet_key[WIRE_MAX_KEY_BYTES];
    size_t fleet_key_len;
    const char *registry_path; /* write the registry and exit, when not NULL */
    unsigned long max_inflight;
    bool quiet;
};

/* One simulated edge node: identity, key, sequence and model state. */
struct sim_node {
    char device_id[24];
    char site_id[24];
    char topic[96];
    uint8_t key[SIM_DEVICE_KEY_BYTES];
    uint64_t boot_id;
    uint64_t seq; /* the last sequence number used; the first frame carries 1 */
    uint64_t rng;
    double capacity_vph; /* vehicles per hour and lane at full demand */
    double free_speed_kmh;
};

/*
 * What Paho's threads share with the main thread. Every field is guarded by
 * lock; cond is signalled on every completion and connection event.
 */
struct sim_link {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t published; /* handed to Paho */
    uint64_t acked;     /* PUBACK received (QoS 1) or written to the socket (QoS 0) */
    uint64_t failed;    /* refused by Paho or reported failed */
    int connect_rc;     /* 0 pending, 1 connected, otherwise the Paho failure code */
    bool disconnected;
    bool failure_logged;
};

struct sim_tally {
    uint64_t published;
    uint64_t acked;
    uint64_t failed;
};

struct sim {
    struct sim_opts opts;
    struct sim_node *nodes;
    MQTTAsync client;
    struct sim_link link;
    int64_t start_ns;
    uint32_t interval_ms;
};

/* Storage for one frame while it is built and encoded; nothing is allocated. */
struct sim_frame {
    Citygate__V1__Frame frame;
    Citygate__V1__Reading readings[SIM_LANES * SIM_READINGS_PER_LANE];
    Citygate__V1__Reading *reading_ptrs[SIM_LANES * SIM_READINGS_PER_LANE];
    Citygate__V1__Vehicle vehicles[SIM_LANES * SIM_MAX_VEHICLES_PER_LANE];
    Citygate__V1__Vehicle *vehicle_ptrs[SIM_LANES * SIM_MAX_VEHICLES_PER_LANE];
    Citygate__V1__Health health;
};

/* A vehicle class: its share of traffic, typical length and speed relative to cars. */
struct sim_class {
    Citygate__V1__VehicleClass cls;
    double share;
    double length_m;
    double speed_factor;
};

static const struct sim_class sim_classes[] = {
    {CITYGATE__V1__VEHICLE_CLASS__CAR, 0.80, 4.5, 1.00},
    {CITYGATE__V1__VEHICLE_CLASS__VAN, 0.08, 5.5, 0.97},
    {CITYGATE__V1__VEHICLE_CLASS__TRUCK, 0.06, 12.0, 0.88},
    {CITYGATE__V1__VEHICLE_CLASS__BUS, 0.02, 12.0, 0.90},
    {CITYGATE__V1__VEHICLE_CLASS__MOTORCYCLE, 0.04, 2.2, 1.05},
};

/* Share of the node's capacity per lane: the nearside lane carries more. */
static const double sim_lane_share[SIM_LANES] = {1.0, 0.8};
/* Speed limits of the simulated roads; urban 50 km/h is the most common. */
#define SIM_N_FREE_SPEEDS 4
static const double sim_free_speeds_kmh[SIM_N_FREE_SPEEDS] = {50.0, 50.0, 70.0, 90.0};
static char sim_sensor_ids[SIM_LANES][8] = {"loop-1", "loop-2"};
static char sim_firmware_version[] = SIM_FIRMWARE_VERSION;

static volatile sig_atomic_t sim_stop;

static void sim_on_signal(int sig)
{
    (void)sig;
    if (sim_stop < 2)
        sim_stop++;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec ns_to_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S)};

    return ts;
}

/* Sleeps until deadline_ns on the monotonic clock; returns early on a signal. */
static void sleep_until(int64_t deadline_ns)
{
    struct timespec ts = ns_to_timespec(deadline_ns);

    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* splitmix64: tiny, fast and good enough to make every node's readings reproducible. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

/* Standard normal, by Box-Muller. */
static double rng_gauss(uint64_t *state)
{
    double u1 = 1.0 - rng_uniform(state);
    double u2 = rng_uniform(state);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * SIM_PI * u2);
}

/* Poisson with mean lambda: Knuth's method when small, a normal approximation when large. */
static unsigned rng_poisson(uint64_t *state, double lambda)
{
    if (!(lambda > 0.0))
        return 0;
    if (lambda < 30.0) {
        double limit = exp(-lambda);
        double p = 1.0;
        unsigned k = 0;

        do {
            k++;
            p *= rng_uniform(state);
        } while (p > limit && k < SIM_MAX_VOLUME);
        return k - 1;
    }
    double x = lambda + sqrt(lambda) * rng_gauss(state) + 0.5;
    if (x < 0.0)
        return 0;
    return x > SIM_MAX_VOLUME ? SIM_MAX_VOLUME : (unsigned)x;
}

static double bump(double x, double centre, double width)
{
    double d = (x - centre) / width;

    return exp(-0.5 * d * d);
}

/*
 * Traffic demand as a fraction of capacity at a local hour of day in [0, 24):
 * a night floor, a sharp morning peak, a broader evening peak and a midday
 * plateau.
 */
static double sim_demand(double hour)
{
    double d = 0.05 + 0.95 * bump(hour, 8.0, 1.2) + 0.85 * bump(hour, 17.5, 1.6) +
               0.45 * bump(hour, 13.0, 2.5);

    return d > 1.0 ? 1.0 : d;
}

static double local_hour(uint64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000u);
    struct tm tm;

    if (!localtime_r(&t, &tm))
        return 12.0;
    return tm.tm_hour + tm.tm_min / 60.0 + (tm.tm_sec + (double)(now_ms % 1000u) / 1000.0) / 3600.0;
}

static double round1(double x)
{
    return round(x * 10.0) / 10.0;
}

static const struct sim_class *sim_pick_class(uint64_t *rng)
{
    double u = rng_uniform(rng);
    size_t n = sizeof(sim_classes) / sizeof(sim_classes[0]);

    for (size_t i = 0; i + 1 < n; i++) {
        if (u < sim_classes[i].share)
            return &sim_classes[i];
        u -= sim_classes[i].share;
    }
    return &sim_classes[n - 1];
}

static void sim_add_reading(struct sim_frame *f, Citygate__V1__Quantity quantity,
                            Citygate__V1__Unit unit, double value, unsigned lane)
{
    size_t i = f->frame.n_readings++;
    Citygate__V1__Reading *r = &f->readings[i];

    citygate__v1__reading__init(r);
    r->quantity = quantity;
    r->unit = unit;
    r->value = value;
    r->quality = CITYGATE__V1__QUALITY__GOOD;
    r->lane = lane;
    r->sensor_id = sim_sensor_ids[lane - 1];
    f->reading_ptrs[i] = r;
}

/* Mean vehicle length over the class mix, for the occupancy of a traffic stream. */
static double sim_mean_length_m(void)
{
    double sum = 0.0;

    for (size_t i = 0; i < sizeof(sim_classes) / sizeof(sim_classes[0]); i++)
        sum += sim_classes[i].share * sim_classes[i].length_m;
    return sum;
}

/*
 * Fills f with node n's next frame at wall-clock time now_ms: per lane a
 * vehicle count and a mean speed that agree with the listed vehicles, an
 * occupancy, plus node health. Occupancy is that of the traffic stream rather
 * than of the few vehicles in a short interval: over one second a single
 * truck occupies the loop the whole time, which says nothing about the road.
 * f borrows strings from n and static storage; n's sequence number and
 * generator advance.
 */
static void sim_node_sample(struct sim_node *n, struct sim_frame *f, uint64_t now_ms,
                            uint32_t interval_ms, uint64_t uptime_s)
{
    double demand = sim_demand(local_hour(now_ms));
    /* Speed falls as the road fills: to about half the free speed at full demand. */
    double stream_speed_kmh = n->free_speed_kmh * (1.0 - 0.45 * demand * demand * demand);

    citygate__v1__frame__init(&f->frame);
    f->frame.device_id = n->device_id;
    f->frame.site_id = n->site_id;
    f->frame.boot_id = n->boot_id;
    f->frame.seq = ++n->seq;
    f->frame.timestamp_ms = now_ms;
    f->frame.interval_ms = interval_ms;
    f->frame.readings = f->reading_ptrs;
    f->frame.vehicles = f->vehicle_ptrs;

    for (unsigned lane = 1; lane <= SIM_LANES; lane++) {
        double lambda = n->capacity_vph * demand * sim_lane_share[lane - 1] * interval_ms / 3.6e6;
        unsigned volume = rng_poisson(&n->rng, lambda);
        double speed_sum_kmh = 0.0;
        /* Occupancy = flow * (vehicle + loop length) / speed, as a fraction of time. */
        double occupancy_pct = lambda / interval_ms * 1000.0 *
                               (sim_mean_length_m() + SIM_LOOP_LENGTH_M) /
                               (stream_speed_kmh / 3.6) * 100.0 * (1.0 + 0.1 * rng_gauss(&n->rng));

        for (unsigned v = 0; v < volume; v++) {
            const struct sim_class *c = sim_pick_class(&n->rng);
            double speed_kmh =
                stream_speed_kmh * c->speed_factor * (1.0 + 0.08 * rng_gauss(&n->rng));
            double length_m = c->length_m * (1.0 + 0.05 * rng_gauss(&n->rng));

            speed_kmh = speed_kmh < 5.0 ? 5.0 : (speed_kmh > 160.0 ? 160.0 : speed_kmh);
            speed_sum_kmh += speed_kmh;
            if (v < SIM_MAX_VEHICLES_PER_LANE) {
                size_t i = f->frame.n_vehicles++;
                Citygate__V1__Vehicle *veh = &f->vehicles[i];

                citygate__v1__vehicle__init(veh);
                veh->offset_ms = -(int32_t)(rng_uniform(&n->rng) * interval_ms);
                veh->lane = lane;
                veh->speed_kmh = (float)round1(speed_kmh);
                veh->length_m = (float)round1(length_m);
                veh->vehicle_class = c->cls;
                veh->sensor_id = sim_sensor_ids[lane - 1];
                f->vehicle_ptrs[i] = veh;
            }
        }
        /* With no vehicle in the interval the detector reports the stream speed. */
        double speed_kmh = volume > 0 ? speed_sum_kmh / volume : stream_speed_kmh;

        occupancy_pct = occupancy_pct < 0.0 ? 0.0 : (occupancy_pct > 100.0 ? 100.0 : occupancy_pct);
        sim_add_reading(f, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, CITYGATE__V1__UNIT__VEHICLES,
                        volume, lane);
        sim_add_reading(f, CITYGATE__V1__QUANTITY__SPEED, CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR,
                        round1(speed_kmh), lane);
        sim_add_reading(f, CITYGATE__V1__QUANTITY__OCCUPANCY, CITYGATE__V1__UNIT__PERCENT,
                        round1(occupancy_pct), lane);
    }

    citygate__v1__health__init(&f->health);
    f->health.uptime_s = uptime_s;
    f->health.cpu_temp_c = (float)round1(38.0 + 6.0 * demand + 0.5 * rng_gauss(&n->rng));
    f->health.firmware_version = sim_firmware_version;
    f->frame.health = &f->health;
}

/*
 * Derives a device key: HMAC-SHA256(fleet key, device id), the same rule the
 * registry file documents. Returns 0 or -1 when OpenSSL fails.
 */
static int sim_derive_key(const uint8_t *fleet_key, size_t fleet_key_len, const char *device_id,
                          uint8_t out[SIM_DEVICE_KEY_BYTES])
{
    unsigned int len = SIM_DEVICE_KEY_BYTES;

    if (!HMAC(EVP_sha256(), fleet_key, (int)fleet_key_len, (const unsigned char *)device_id,
              strlen(device_id), out, &len) ||
        len != SIM_DEVICE_KEY_BYTES)
        return -1;
    return 0;
}

/* Creates the nodes; returns 0, -ENOMEM or -EINVAL (key derivation failed). */
static int sim_nodes_init(struct sim *s)
{
    const struct sim_opts *o = &s->opts;
    int rc = 0;

    s->nodes = calloc(o->n_nodes, sizeof(*s->nodes));
    if (!s->nodes)
        return -ENOMEM;
    for (unsigned long i = 0; i < o->n_nodes; i++) {
        struct sim_node *n = &s->nodes[i];
        uint64_t mix = o->seed ^ (0x9e3779b97f4a7c15ULL * (i + 1));

        if (snprintf(n->device_id, sizeof(n->device_id), "node-%04lu", i + 1) >=
                (int)sizeof(n->device_id) ||
            snprintf(n->site_id, sizeof(n->site_id), "site-%02lu", i % o->n_sites) >=
                (int)sizeof(n->site_id) ||
            snprintf(n->topic, sizeof(n->topic), "city/v1/%s/%s/data", n->site_id, n->device_id) >=
                (int)sizeof(n->topic)) {
            rc = -EINVAL;
            goto out;
        }
        if (sim_derive_key(o->fleet_key, o->fleet_key_len, n->device_id, n->key) != 0) {
            rc = -EINVAL;
            goto out;
        }
        n->rng = rng_next(&mix);
        do {
            n->boot_id = rng_next(&n->rng);
        } while (n->boot_id == 0);
        n->capacity_vph = 900.0 + 900.0 * rng_uniform(&n->rng);
        n->free_speed_kmh = sim_free_speeds_kmh[rng_next(&n->rng) % SIM_N_FREE_SPEEDS];
    }
out:
    if (rc != 0) {
        free(s->nodes);
        s->nodes = NULL;
    }
    return rc;
}

/*
 * Writes the device registry (INI, one [device ID] section per node) to path,
 * or to stdout when path is "-". The file holds keys, so it is created 0600.
 * Returns 0 or a negative errno.
 */
static int sim_write_registry(const struct sim *s, const char *path)
{
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *fp = stdout;
    int rc = 0;

    if (!to_stdout) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0)
            return -errno;
        fp = fdopen(fd, "w");
        if (!fp) {
            rc = -errno;
            close(fd);
            return rc;
        }
    }
    fprintf(fp, "# citygate device registry, written by citysim " SIM_VERSION
                ": one [device ID] section per node.\n"
                "# key = HMAC-SHA256(fleet key, device id), in hex. Keep this file secret.\n");
    for (unsigned long i = 0; i < s->opts.n_nodes; i++) {
        const struct sim_node *n = &s->nodes[i];

        fprintf(fp, "\n[device %s]\nsite = %s\nkey = ", n->device_id, n->site_id);
        for (size_t k = 0; k < sizeof(n->key); k++)
            fprintf(fp, "%02x", n->key[k]);
        fprintf(fp, "\nsensors = %s,%s\n", sim_sensor_ids[0], sim_sensor_ids[1]);
    }
    if (fflush(fp) != 0 || ferror(fp))
        rc = -(errno ? errno : EIO);
    if (!to_stdout && fclose(fp) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

static struct sim_tally sim_link_tally(struct sim_link *l)
{
    struct sim_tally t;

    pthread_mutex_lock(&l->lock);
    t.published = l->published;
    t.acked = l->acked;
    t.failed = l->failed;
    pthread_mutex_unlock(&l->lock);
    return t;
}

/* Waits on the link's condition until deadline_ns (monotonic). Caller holds l->lock. */
static void sim_link_wait(struct sim_link *l, int64_t deadline_ns)
{
    struct timespec ts = ns_to_timespec(deadline_ns);

    pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

/* Paho callbacks: they run in Paho's threads and only touch struct sim_link. */

static void sim_on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
    struct sim_link *l = ctx;

    (void)resp;
    pthread_mutex_lock(&l->lock);
    l->connect_rc = 1;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void sim_on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct sim_link *l = ctx;

    pthread_mutex_lock(&l->lock);
    if (l->connect_rc == 0)
        l->connect_rc = resp && resp->code != 0 && resp->code != 1 ? resp->code : MQTTASYNC_FAILURE;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void sim_on_connection_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "citysim: connection lost (%s), reconnecting\n", cause ? cause : "no reason");
}

static void sim_on_sent(void *ctx, MQTTAsync_successData *resp)
{
    struct sim_link *l = ctx;

    (void)resp;
    pthread_mutex_lock(&l->lock);
    l->acked++;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void sim_on_send_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct sim_link *l = ctx;
    bool log;

    pthread_mutex_lock(&l->lock);
    l->failed++;
    log = !l->failure_logged;
    l->failure_logged = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    if (log)
        fprintf(stderr, "citysim: a publish failed (%s); further failures are only counted\n",
                resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1));
}

static void sim_on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    struct sim_link *l = ctx;

    (void)resp;
    pthread_mutex_lock(&l->lock);
    l->disconnected = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void sim_on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    sim_on_disconnected(ctx, NULL);
}

/*
 * Creates the client and connects. Returns 0 when connected, EX_USAGE for a
 * broker URL Paho refuses, EX_UNAVAILABLE when the broker cannot be reached.
 * SIGINT and SIGTERM are blocked while Paho starts its threads, so that they
 * are delivered to the main thread and interrupt its sleeps.
 */
static int sim_connect(struct sim *s)
{
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
    struct sim_link *l = &s->link;
    char client_id[48];
    sigset_t block, saved;
    int rc;

    snprintf(client_id, sizeof(client_id), "citysim-%ld", (long)getpid());
    create.sendWhileDisconnected = 1;
    create.maxBufferedMessages = (int)s->opts.max_inflight;
    create.MQTTVersion = MQTTVERSION_3_1_1;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    rc = MQTTAsync_createWithOptions(&s->client, s->opts.broker, client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "citysim: cannot use broker %s: %s\n", s->opts.broker,
                MQTTAsync_strerror(rc));
        s->client = NULL;
        rc = EX_USAGE;
        goto out;
    }
    MQTTAsync_setConnectionLostCallback(s->client, l, sim_on_connection_lost);

    conn.keepAliveInterval = 20;
    conn.cleansession = 1;
    conn.maxInflight = (int)s->opts.max_inflight;
    conn.connectTimeout = SIM_CONNECT_TIMEOUT_S;
    conn.MQTTVersion = MQTTVERSION_3_1_1;
    conn.automaticReconnect = 1;
    conn.minRetryInterval = 1;
    conn.maxRetryInterval = 16;
    conn.onSuccess = sim_on_connect_ok;
    conn.onFailure = sim_on_connect_failed;
    conn.context = l;
    rc = MQTTAsync_connect(s->client, &conn);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "citysim: cannot connect to %s: %s\n", s->opts.broker,
                MQTTAsync_strerror(rc));
        rc = EX_UNAVAILABLE;
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);

    int64_t deadline = mono_ns() + (SIM_CONNECT_TIMEOUT_S + 2) * NS_PER_S;
    pthread_mutex_lock(&l->lock);
    while (l->connect_rc == 0 && !sim_stop && mono_ns() < deadline)
        sim_link_wait(l, deadline);
    int state = l->connect_rc;
    pthread_mutex_unlock(&l->lock);
    if (state != 1) {
        fprintf(stderr, "citysim: cannot connect to %s: %s\n", s->opts.broker,
                state == 0                   ? "no answer"
                : state == MQTTASYNC_FAILURE ? "refused or unreachable"
                                             : MQTTAsync_strerror(state));
        rc = EX_UNAVAILABLE;
        goto out;
    }
    rc = 0;
out:
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

/* Disconnects (waiting a little for the broker) and destroys the client. */
static void sim_disconnect(struct sim *s)
{
    MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
    struct sim_link *l = &s->link;

    if (!s->client)
        return;
    opts.timeout = 1000;
    opts.onSuccess = sim_on_disconnected;
    opts.onFailure = sim_on_disconnect_failed;
    opts.context = l;
    if (MQTTAsync_disconnect(s->client, &opts) == MQTTASYNC_SUCCESS) {
        int64_t deadline = mono_ns() + SIM_DISCONNECT_NS;

        pthread_mutex_lock(&l->lock);
        while (!l->disconnected && mono_ns() < deadline)
            sim_link_wait(l, deadline);
        pthread_mutex_unlock(&l->lock);
    }
    MQTTAsync_destroy(&s->client);
}

/*
 * Builds, signs and hands one frame of node n to Paho. A frame Paho refuses
 * (its buffer is full while reconnecting) counts as failed. Returns 0, or a
 * negative enum wire_err when the frame cannot be encoded, which is a bug.
 */
static int sim_publish(struct sim *s, struct sim_node *n, struct sim_frame *f, uint8_t *buf,
                       size_t cap)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    struct sim_link *l = &s->link;
    uint64_t uptime_s = (uint64_t)((mono_ns() - s->start_ns) / NS_PER_S);
    size_t len = 0;
    int rc;

    sim_node_sample(n, f, wall_ms(), s->interval_ms, uptime_s);
    rc = wire_encode(&f->frame, n->key, sizeof(n->key), buf, cap, &len);
    if (rc != 0) {
        fprintf(stderr, "citysim: cannot encode a frame of %s: %s\n", n->device_id,
                wire_strerror(rc));
        return rc;
    }
    msg.payload = buf;
    msg.payloadlen = (int)len;
    msg.qos = s->opts.qos;
    msg.retained = 0;
    ro.onSuccess = sim_on_sent;
    ro.onFailure = sim_on_send_failed;
    ro.context = l;

    /* Count first: the completion may arrive before MQTTAsync_sendMessage returns. */
    pthread_mutex_lock(&l->lock);
    l->published++;
    pthread_mutex_unlock(&l->lock);
    rc = MQTTAsync_sendMessage(s->client, n->topic, &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        bool log;

        pthread_mutex_lock(&l->lock);
        l->failed++;
        log = !l->failure_logged;
        l->failure_logged = true;
        pthread_mutex_unlock(&l->lock);
        if (log)
            fprintf(stderr,
                    "citysim: a publish was refused (%s); further failures are only "
                    "counted\n",
                    MQTTAsync_strerror(rc));
    }
    return 0;
}

/* Prints the per-second progress line and advances the reporting state. */
static void sim_report(struct sim *s, struct sim_tally *last, int64_t *last_ns, int64_t now_ns)
{
    struct sim_tally t = sim_link_tally(&s->link);
    double dt = (double)(now_ns - *last_ns) / 1e9;

    if (!s->opts.quiet && dt > 0.0)
        fprintf(stderr,
                "citysim: %6.1fs published=%.0f/s acked=%.0f/s failed=%" PRIu64 " inflight=%" PRIu64
                "\n",
                (double)(now_ns - s->start_ns) / 1e9, (double)(t.published - last->published) / dt,
                (double)(t.acked - last->acked) / dt, t.failed, t.published - t.acked - t.failed);
    *last = t;
    *last_ns = now_ns;
}

/*
 * Publishes on schedule until the duration ends or a signal arrives, then
 * waits up to 10 s for outstanding acknowledgements. Returns the exit code.
 */
static int sim_run(struct sim *s)
{
    static struct sim_frame frame;
    static uint8_t buf[WIRE_DEFAULT_MAX_FRAME_BYTES];
    const struct sim_opts *o = &s->opts;
    struct sim_link *l = &s->link;
    int64_t period_ns = (int64_t)llround(1e9 / o->rate_hz);
    int64_t n_nodes = (int64_t)o->n_nodes;
    int64_t end_ns = INT64_MAX;
    int64_t next_report_ns, last_report_ns, publish_end_ns, drain_end_ns;
    struct sim_tally last = {0, 0, 0}, t;
    uint64_t tick = 0;
    int rc;

    rc = sim_connect(s);
    if (rc != 0)
        goto out;

    s->start_ns = mono_ns();
    if (o->duration_s > 0.0)
        end_ns = s->start_ns + (int64_t)llround(o->duration_s * 1e9);
    next_report_ns = s->start_ns + NS_PER_S;
    last_report_ns = s->start_ns;
    while (!sim_stop) {
        int64_t now = mono_ns();
        int64_t node = (int64_t)(tick % (uint64_t)n_nodes);
        int64_t lap = (int64_t)(tick / (uint64_t)n_nodes);
        int64_t due = s->start_ns + lap * period_ns + node * period_ns / n_nodes;
        bool full;

        if (now >= next_report_ns) {
            sim_report(s, &last, &last_report_ns, now);
            next_report_ns += NS_PER_S;
            if (next_report_ns <= now)
                next_report_ns = now + NS_PER_S;
            continue;
        }
        /* Frames due after the end, and those still late at the end, are not produced. */
        if (now >= end_ns)
            break;
        if (due >= end_ns) {
            sleep_until(end_ns < next_report_ns ? end_ns : next_report_ns);
            continue;
        }
        if (due > now) {
            sleep_until(due < next_report_ns ? due : next_report_ns);
            continue;
        }
        pthread_mutex_lock(&l->lock);
        full = l->published - l->acked - l->failed >= o->max_inflight;
        if (full)
            sim_link_wait(l, next_report_ns);
        pthread_mutex_unlock(&l->lock);
        if (full)
            continue;
        if (sim_publish(s, &s->nodes[node], &frame, buf, sizeof(buf)) != 0) {
            rc = EX_SOFTWARE;
            break;
        }
        tick++;
    }
    publish_end_ns = mono_ns();

    drain_end_ns = publish_end_ns + SIM_DRAIN_NS;
    for (;;) {
        int64_t now = mono_ns();

        t = sim_link_tally(l);
        if (t.acked + t.failed >= t.published || now >= drain_end_ns || sim_stop >= 2)
            break;
        if (now >= next_report_ns) {
            sim_report(s, &last, &last_report_ns, now);
            next_report_ns = now + NS_PER_S;
        }
        pthread_mutex_lock(&l->lock);
        if (l->acked + l->failed < l->published)
            sim_link_wait(l, drain_end_ns < next_report_ns ? drain_end_ns : next_report_ns);
        pthread_mutex_unlock(&l->lock);
    }
    t = sim_link_tally(l);
    if (t.acked + t.failed < t.published)
        fprintf(stderr, "citysim: %" PRIu64 " frames still unacknowledged, giving up on them\n",
                t.published - t.acked - t.failed);
    sim_disconnect(s);

    t = sim_link_tally(l);
    double secs = (double)(publish_end_ns - s->start_ns) / 1e9;
    printf("citysim: published=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64 " rate=%.1f/s\n",
           t.published, t.acked, t.failed, secs > 0.0 ? (double)t.published / secs : 0.0);
    fflush(stdout);
    if (rc == 0 && (t.failed != 0 || t.acked != t.published))
        rc = EX_UNAVAILABLE;
out:
    if (s->client)
        MQTTAsync_destroy(&s->client);
    return rc;
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -EINVAL;
    *out = (uint64_t)v;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    if (!s || ((*s < '0' || *s > '9') && *s != '.'))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses a hex key of WIRE_MIN_KEY_BYTES..WIRE_MAX_KEY_BYTES bytes into out. */
static int parse_hex_key(const char *s, uint8_t *out, size_t *out_len)
{
    size_t len = strlen(s);

    if (len % 2 != 0 || len / 2 < WIRE_MIN_KEY_BYTES || len / 2 > WIRE_MAX_KEY_BYTES)
        return -EINVAL;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_value(s[2 * i]);
        int lo = hex_value(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = len / 2;
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: citysim [OPTION]...\n"
            "Simulate traffic-detector edge nodes publishing signed frames over one MQTT\n"
            "connection, on city/v1/<site>/<node>/data.\n"
            "\n"
            "  -b, --broker URL        MQTT broker (default " SIM_DEFAULT_BROKER ")\n"
            "  -n, --nodes N           simulated nodes, 1..%lu (default 20)\n"
            "  -s, --sites S           sites; node i belongs to site-<i mod S> (default 4)\n"
            "  -r, --rate HZ           frames per second per node, %g..%g (default 1)\n"
            "  -d, --duration SECONDS  stop after this long; 0 runs until SIGINT/SIGTERM "
            "(default 0)\n"
            "      --seed N            seed of boot ids and readings (default: random)\n"
            "      --qos 0|1           MQTT QoS of the frames (default 1)\n"
            "  -k, --fleet-key HEX     fleet key, %d..%d bytes; device key = HMAC-SHA256(fleet\n"
            "                          key, device id) (default: the public demo key)\n"
            "      --max-inflight N    unacknowledged frames at most, 1..%lu (default %lu)\n"
            "      --registry FILE     write the device registry (INI) to FILE ('-': stdout) "
            "and exit\n"
            "      --quiet             no per-second progress lines on stderr\n"
            "  -h, --help              show this help and exit\n"
            "  -V, --version           show the version and exit\n"
            "\n"
            "Exit status: 0 every frame published was acknowledged; 64 usage error;\n"
            "69 broker unreachable or frames left unacknowledged; 70 internal error;\n"
            "74 the registry could not be written.\n",
            SIM_MAX_NODES, SIM_MIN_RATE_HZ, SIM_MAX_RATE_HZ, WIRE_MIN_KEY_BYTES, WIRE_MAX_KEY_BYTES,
            SIM_MAX_INFLIGHT_LIMIT, SIM_DEFAULT_MAX_INFLIGHT);
}

enum { OPT_SEED = 256, OPT_QOS, OPT_MAX_INFLIGHT, OPT_REGISTRY, OPT_QUIET };

/*
 * Parses the command line into o. Returns 0 to go on, or -1 when the program
 * should exit with *exit_code (after --help, --version or a usage error).
 */
static int sim_parse_args(struct sim_opts *o, int argc, char **argv, int *exit_code)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"nodes", required_argument, NULL, 'n'},
        {"sites", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"qos", required_argument, NULL, OPT_QOS},
        {"fleet-key", required_argument, NULL, 'k'},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"registry", required_argument, NULL, OPT_REGISTRY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *what = NULL;
    bool seed_given = false;
    unsigned long qos = 1;
    int c;

    o->broker = SIM_DEFAULT_BROKER;
    o->n_nodes = 20;
    o->n_sites = 4;
    o->rate_hz = 1.0;
    o->duration_s = 0.0;
    o->qos = 1;
    o->max_inflight = SIM_DEFAULT_MAX_INFLIGHT;
    parse_hex_key(SIM_DEMO_FLEET_KEY, o->fleet_key, &o->fleet_key_len);

    while ((c = getopt_long(argc, argv, "b:n:s:r:d:k:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->broker = optarg;
            what = *optarg ? NULL : "--broker";
            break;
        case 'n':
            what = parse_ulong(optarg, 1, SIM_MAX_NODES, &o->n_nodes) ? "--nodes" : NULL;
            break;
        case 's':
            what = parse_ulong(optarg, 1, SIM_MAX_SITES, &o->n_sites) ? "--sites" : NULL;
            break;
        case 'r':
            what = parse_double(optarg, SIM_MIN_RATE_HZ, SIM_MAX_RATE_HZ, &o->rate_hz) ? "--rate"
                                                                                       : NULL;
            break;
        case 'd':
            what =
                parse_double(optarg, 0.0, SIM_MAX_DURATION_S, &o->duration_s) ? "--duration" : NULL;
            break;
        case OPT_SEED:
            what = parse_u64(optarg, &o->seed) ? "--seed" : NULL;
            seed_given = true;
            break;
        case OPT_QOS:
            what = parse_ulong(optarg, 0, 1, &qos) ? "--qos" : NULL;
            o->qos = (int)qos;
            break;
        case 'k':
            what = parse_hex_key(optarg, o->fleet_key, &o->fleet_key_len) ? "--fleet-key" : NULL;
            break;
        case OPT_MAX_INFLIGHT:
            what = parse_ulong(optarg, 1, SIM_MAX_INFLIGHT_LIMIT, &o->max_inflight)
                       ? "--max-inflight"
                       : NULL;
            break;
        case OPT_REGISTRY:
            o->registry_path = optarg;
            what = *optarg ? NULL : "--registry";
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            *exit_code = EX_OK;
            return -1;
        case 'V':
            printf("citysim " SIM_VERSION "\n");
            *exit_code = EX_OK;
            return -1;
        default:
            fprintf(stderr, "Try 'citysim --help' for more information.\n");
            *exit_code = EX_USAGE;
            return -1;
        }
        if (what) {
            fprintf(stderr, "citysim: invalid value for %s: '%s'\n", what, optarg);
            fprintf(stderr, "Try 'citysim --help' for more information.\n");
            *exit_code = EX_USAGE;
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "citysim: unexpected argument '%s'\n", argv[optind]);
        *exit_code = EX_USAGE;
        return -1;
    }
    if (!seed_given) {
        /* A fresh seed per run gives fresh boot ids, as a real reboot would. */
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed =
            (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct sim s;
    struct sigaction sa;
    int rc = EX_OK;

    if (sim_parse_args(&s.opts, argc, argv, &rc) != 0)
        return rc;
    s.interval_ms = (uint32_t)llround(1000.0 / s.opts.rate_hz);
    if (s.interval_ms == 0)
        s.interval_ms = 1;
    if (sim_nodes_init(&s) != 0) {
        fprintf(stderr, "citysim: cannot create %lu nodes\n", s.opts.n_nodes);
        return EX_SOFTWARE;
    }

    if (s.opts.registry_path) {
        int err = sim_write_registry(&s, s.opts.registry_path);

        if (err != 0) {
            fprintf(stderr, "citysim: cannot write %s: %s\n", s.opts.registry_path, strerror(-err));
            rc = EX_IOERR;
        }
        goto out;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sim_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    pthread_mutex_init(&s.link.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s.link.cond, &attr);
    pthread_condattr_destroy(&attr);

    if (!s.opts.quiet)
        fprintf(stderr,
                "citysim: %lu nodes on %lu sites at %g Hz, QoS %d, seed %" PRIu64 ", broker %s\n",
                s.opts.n_nodes, s.opts.n_sites, s.opts.rate_hz, s.opts.qos, s.opts.seed,
                s.opts.broker);
    rc = sim_run(&s);

    pthread_cond_destroy(&s.link.cond);
    pthread_mutex_destroy(&s.link.lock);
out:
    free(s.nodes);
    return rc;
}
