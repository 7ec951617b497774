/*
 * citysim -- thousands of simulated edge nodes in one process, each one the
 * real firmware core (firmware/core, node.h) reading simulated sensors
 * (drivers/, the sim-* drivers), all multiplexed over one MQTT connection
 * (or a few, --connections).
 *
 * Every simulated node is a struct node from node_new() with an in-memory
 * port behind node_hal.h: the clock is the process's (shifted so that node i
 * of N samples at start + k * period + i * period / N, which spreads the
 * fleet evenly over the period), randomness is a splitmix64 stream from the
 * seed and the node's index (so a seed reproduces boot ids and readings), and
 * the store-and-forward ring lives in RAM, allocated on its first write, so
 * that a node that never lost its uplink costs no ring memory. The network
 * interface maps the node's connect, publish and disconnect onto the shared
 * Paho MQTTAsync client: a node is "up" while its connection is, its
 * publishes carry a slot from a fixed table whose completion becomes
 * node_net_published(ref, ok), and a lost connection is node_net_down() for
 * every node on it, after the client was destroyed so that nothing is resent
 * behind the nodes' backs (the contract of node_hal.h, as in net_paho.c).
 *
 * One thread (main) owns the nodes: a binary heap over node_next_deadline()
 * says who is due, and Paho's threads only append to a bounded event queue
 * that the main thread drains between ticks. The number of messages handed
 * to Paho and not yet completed is bounded (--max-inflight): at the bound
 * the scheduler stops ticking until completions arrive, and a node that got
 * late skips the samples it missed, exactly like the firmware.
 *
 * A fraction of the nodes misbehaves on purpose (--bad-fraction, chosen from
 * the seed): each bad node gets one fault kind, and every data frame it
 * publishes carries that fault, made in the network interface from the
 * node's own signed frame (bad signature, wrong site, a value out of range,
 * duplicate sequence, timestamp in the future, garbage, oversize), so that
 * gateway tests and benchmarks know which refusal to expect.
 *
 * With --start the run is history: the nodes' clock is virtual and their
 * wall clock begins at the given date. The clock jumps to the next node's
 * deadline as soon as the broker has taken enough of what was published
 * (every node keeps at most SIM_HISTORY_NODE_WINDOW frames unconfirmed, the
 * fleet at most --max-inflight), so weeks of traffic go out as fast as the
 * broker acknowledges them, each frame stamped with its simulated time.
 * --truth writes what the broker acknowledged, frame by frame, so that a
 * test can compute its own figures from the very readings that went out.
 *
 * With --update-image the nodes take firmware updates over MQTT as citynode
 * does (sim_update.h): the core's update agent over slots in memory, a
 * restart (the node core freed and made again over its RAM ring) into the
 * test image, self-confirmation, and --update-fail-fraction of them failing
 * on purpose in one of the ways a real node fails.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cli.h"
#include "driver.h"
#include "node.h"
#include "paho_cmd.h"
#include "ring.h"
#include "sim_update.h"
#include "units.h"
#include "wire.h"

/* The firmware version in the simulated nodes' health (not the program's
 * version, which --version prints): the data written with it stays the same. */
#define SIM_FIRMWARE_VERSION "citysim-0.2.0"
#define SIM_DEFAULT_BROKER "tcp://127.0.0.1:1883"
/* The public demo fleet key: the 32 ASCII bytes "citygate demo fleet key (public)". */
#define SIM_DEMO_FLEET_KEY "63697479676174652064656d6f20666c656574206b657920287075626c696329"
#define SIM_MAX_NODES 100000UL
#define SIM_MAX_SITES 10000UL
#define SIM_MIN_RATE_HZ 0.001
#define SIM_MAX_RATE_HZ 10.0 /* the firmware's shortest interval is 100 ms */
#define SIM_MAX_DURATION_S 31536000.0
#define SIM_DEFAULT_MAX_INFLIGHT 1000UL
#define SIM_MAX_INFLIGHT_LIMIT 65535UL
#define SIM_MAX_CONNECTIONS 64UL
#define SIM_MIN_AUTO_RING_BYTES 16384UL
#define SIM_MAX_RING_BYTES (64UL << 20)
#define SIM_SLOT_HEADROOM 1024 /* slots beyond --max-inflight for what a tick publishes at once */
#define SIM_CONNECT_TIMEOUT_S 5
#define SIM_KEEPALIVE_S 20
#define SIM_RECONNECT_MIN_MS 500u
#define SIM_RECONNECT_MAX_MS 8000u
#define SIM_WARMUP_MS 500 /* nodes connect before they sample (at most one period) */
#define SIM_DRAIN_MS 10000
#define SIM_CLOSE_MS 3000
#define SIM_DISCONNECT_MS 1000
#define SIM_MAX_WAIT_MS 50
#define SIM_TICKS_PER_PASS 256 /* ticks between two looks at the event queue */
#define SIM_EVENT_BATCH 1024
#define SIM_MAX_QUEUED_COMMANDS 256
#define SIM_LOG_LINES_PER_S 5
#define SIM_DEVICE_KEY_BYTES 32
#define SIM_MAX_ID 16
/* Bounds of one encoded frame: envelope, header and health, then per reading and vehicle. */
#define SIM_FRAME_BASE_BYTES 192
#define SIM_FRAME_ITEM_BYTES 32
#define SIM_MIN_FRAME_BYTES 512 /* the firmware's smallest frame cap */
#define SIM_DECODE_ARENA_BYTES (256 * 1024)
#define SIM_OVERSIZE_BYTES (WIRE_DEFAULT_MAX_FRAME_BYTES + 1)
#define SIM_FUTURE_MS (24ULL * 3600 * 1000)
#define SIM_OUT_OF_RANGE_VALUE 1e15 /* beyond the physical range of every quantity */
#define SIM_CMD_FILTER "city/v1/+/+/cmd"
/*
 * History: a node's window of unconfirmed frames, and how many of them it
 * may have out before the clock waits for it (half, so that it never stalls).
 */
#define SIM_HISTORY_WINDOW 64
#define SIM_HISTORY_NODE_WINDOW (SIM_HISTORY_WINDOW / 2)
#define SIM_MIN_INTERVAL_MS 100ULL
#define SIM_MAX_INTERVAL_MS 1000000ULL

/* The sensor kinds --mix chooses from: one sim driver each, one sensor per node. */
struct sim_kind {
    const char *name;   /* as given to --mix */
    const char *driver; /* the drivers/ driver */
    const char *sensor; /* the sensor's name: the readings' sensor_id and the registry's sensors */
    size_t readings;    /* readings one sample gives at most, with the parameters below */
    bool vehicles;      /* lists vehicles, so the frame needs room for them */
};

/* Readings: per lane (three on a motorway) volume, occupancy, speed, headway; PM2.5, PM10, NO2, O3,
 * temperature, humidity; LAeq; two gauges, temperature, vibration, tilt; occupied and free; CO,
 * visibility, four fans; power, energy, three voltages and currents. */
static const struct sim_kind sim_kinds[] = {
    {"traffic", "sim-traffic", "loop-1", 12, true},
    {"air", "sim-air", "air-1", 6, false},
    {"noise", "sim-noise", "noise-1", 1, false},
    {"strain", "sim-strain", "strain-1", 5, false},
    {"parking", "sim-parking", "parking-1", 2, false},
    {"tunnel", "sim-tunnel", "tunnel-1", 6, false},
    {"power", "sim-power", "power-1", 8, false},
};
#define SIM_N_KINDS (sizeof(sim_kinds) / sizeof(sim_kinds[0]))
#define SIM_MAX_PARAMS 6
#define SIM_MAX_INCIDENTS 16

/* What a misbehaving node does to each of its data frames (docs/tools.md). */
enum sim_fault {
    SIM_FAULT_NONE,
    SIM_FAULT_SIGNATURE, /* the last byte of the tag flipped */
    SIM_FAULT_SITE,      /* re-signed for another site, published on that site's topic */
    SIM_FAULT_RANGE,     /* the first reading made GOOD with a value no quantity allows */
    SIM_FAULT_DUPLICATE, /* the frame, then the very same bytes again */
    SIM_FAULT_FUTURE,    /* re-signed with the timestamp one day ahead */
    SIM_FAULT_GARBAGE,   /* random bytes of the frame's length, not starting with the magic */
    SIM_FAULT_OVERSIZE,  /* the frame padded to one byte over the default 64 KiB cap */
    SIM_N_FAULTS
};

static const char *const sim_fault_names[SIM_N_FAULTS] = {
    [SIM_FAULT_NONE] = "none",           [SIM_FAULT_SIGNATURE] = "bad-signature",
    [SIM_FAULT_SITE] = "wrong-site",     [SIM_FAULT_RANGE] = "out-of-range",
    [SIM_FAULT_DUPLICATE] = "duplicate", [SIM_FAULT_FUTURE] = "future",
    [SIM_FAULT_GARBAGE] = "garbage",     [SIM_FAULT_OVERSIZE] = "oversize",
};

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
    unsigned long n_conns;
    unsigned long ring_bytes;
    uint8_t mix[SIM_N_KINDS * 4]; /* kinds, assigned to nodes round-robin */
    size_t n_mix;
    double bad_fraction;
    uint8_t bad_kinds[SIM_N_FAULTS]; /* enum sim_fault, assigned to bad nodes round-robin */
    size_t n_bad_kinds;
    struct {
        unsigned long site;
        uint64_t after_ms;          /* since the start of the run */
    } incidents[SIM_MAX_INCIDENTS]; /* --incident SITE@TIME */
    size_t n_incidents;
    bool quiet;
    bool history;              /* --start given: a virtual clock from history_start_ms */
    uint64_t history_start_ms; /* the wall clock of the first sample of node 0 */
    const char *truth_path;    /* --truth FILE, or NULL */
    double capacity_vph;       /* --capacity: traffic sensors' peak flow per lane; 0 = default */
    char lanes[4];             /* --lanes: traffic sensors' lanes; "" = the road's */
    const char *update_image;  /* --update-image: the nodes take updates; NULL: they refuse them */
    const char *update_key;    /* --update-key: the key the nodes' boot stage trusts */
    unsigned long confirm_frames;
    double update_fail_fraction;
    uint8_t update_fail_kinds[SIM_UPDATE_N_FAILS]; /* enum sim_update_fail, in turn */
    size_t n_update_fail_kinds;
};

enum sim_link { SIM_LINK_DOWN, SIM_LINK_WAITING, SIM_LINK_UP };

struct sim;

/*
 * One simulated node: identity, what its port keeps for the core (clock and
 * randomness context, the RAM ring, the link state) and the scheduler's
 * bookkeeping. Owned by the main thread.
 */
struct sim_node {
    struct node *node; /* the firmware core; NULL until created */
    struct sim *sim;
    uint64_t rng;         /* the HAL's randomness */
    uint64_t deadline_ms; /* node_next_deadline(): the heap's key */
    uint8_t *ring_area;   /* the ring's record area, allocated on its first write */
    uint32_t heap_pos;
    uint32_t epoch; /* bumped whenever the node's link ends: older completions are stale */
    uint16_t site;
    uint8_t conn;
    uint8_t kind;  /* index into sim_kinds */
    uint8_t fault; /* enum sim_fault */
    uint8_t link;  /* enum sim_link */
    uint8_t up_queued;
    uint16_t frames_out; /* data frames handed to MQTT and not completed */
    char id[SIM_MAX_ID];
    uint8_t key[SIM_DEVICE_KEY_BYTES];
    uint8_t ring_meta[NODE_RING_META_BYTES]; /* the ring's superblocks */
    struct sim_update_node *update;          /* its slots (--update-image), or NULL */
};

enum sim_msg { SIM_MSG_FRAME, SIM_MSG_EXTRA, SIM_MSG_CONTROL };

/*
 * One message handed to Paho and not completed yet. Its address is the
 * Paho context of the publish; the callback only reads index and use.
 */
struct sim_slot {
    struct sim *sim;
    uint32_t index;
    uint32_t use; /* bumped at every allocation: a late completion is told from a current one */
    uint32_t node;
    uint32_t epoch; /* the node's epoch when published */
    uint32_t ref;   /* the node's reference, for node_net_published() */
    uint8_t *copy;  /* --truth: the frame, written out when acknowledged; owned by the slot */
    size_t copy_len;
    uint8_t conn;
    uint8_t msg; /* enum sim_msg */
    uint8_t used;
};

enum sim_ev { SIM_EV_UP, SIM_EV_DOWN, SIM_EV_PUBLISHED, SIM_EV_COMMAND, SIM_EV_DISCONNECTED };

struct sim_event {
    uint8_t type; /* enum sim_ev */
    uint8_t conn;
    uint8_t ok;
    uint32_t gen;       /* UP, DOWN, COMMAND, DISCONNECTED: the client's generation */
    uint32_t slot, use; /* PUBLISHED */
    char *topic;        /* COMMAND: owned by the event */
    uint8_t *payload;
    size_t len;
    char why[96]; /* DOWN */
};

/* What the callbacks of one Paho client need; freed after MQTTAsync_destroy(). */
struct sim_client {
    struct sim *sim;
    MQTTAsync client;
    uint32_t gen;
    uint8_t conn;
    struct paho_cmd cmd; /* its command side (paho_cmd.h); hooks get the client */
};

enum sim_conn_state { SIM_CONN_DOWN, SIM_CONN_CONNECTING, SIM_CONN_UP, SIM_CONN_FAILED };

struct sim_conn {
    struct sim_client *client; /* NULL while down */
    uint32_t gen;              /* of the current client; events of older ones are dropped */
    enum sim_conn_state state;
    bool ever_up;
    bool disconnected; /* a clean disconnect completed (shutdown) */
    uint64_t retry_ms; /* when down: the next attempt (virtual clock) */
    uint32_t backoff_ms;
    char why[96]; /* why the first connect failed */
};

/* Filled by Paho's threads, drained by the main thread; bounded by the slots it can report. */
struct sim_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sim_event *ev;
    size_t cap, head, count, commands;
    uint64_t dropped_commands;
};

struct sim_counts {
    uint64_t published; /* data messages handed to MQTT, deliberately bad ones included */
    uint64_t acked;     /* PUBACK received (QoS 1) or written to the socket (QoS 0) */
    uint64_t failed;    /* refused, reported failed, or unconfirmed when a connection was lost */
    uint64_t bad;       /* data messages carrying a deliberate fault */
};

struct sim {
    struct sim_opts opts;
    struct sim_node *nodes;
    char (*sites)[SIM_MAX_ID];
    uint32_t interval_ms;
    int32_t utc_offset_min;
    size_t ring_bytes;

    /* One sensor table per kind; the parameters are rewritten before each node_new(). */
    struct node_sensor_config sensors[SIM_N_KINDS];
    struct drv_param params[SIM_N_KINDS][SIM_MAX_PARAMS];
    char seed_text[24], utc_text[16], incident_text[24], capacity_text[24];
    uint64_t start_wall_ms; /* the wall clock when the nodes were made: --incident's origin */
    uint64_t virt_ms;       /* history: the nodes' clock */
    FILE *truth;            /* --truth */

    struct sim_conn conns[SIM_MAX_CONNECTIONS];
    struct sim_slot *slots;
    uint32_t *free_slots;
    size_t n_slots, n_free;

    uint32_t *heap;
    size_t heap_len;
    uint32_t *upq; /* nodes waiting for node_net_up(), FIFO */
    size_t upq_head, upq_count;

    struct sim_queue q;
    struct sim_event batch[SIM_EVENT_BATCH];

    uint64_t origin_ms; /* monotonic ms at the start of the run */
    uint64_t now_ms;    /* the nodes' clock, cached per pass */
    struct sim_counts counts;
    bool failure_logged;
    uint64_t jitter_rng; /* reconnect jitter of the connections */

    uint64_t log_second;
    unsigned log_lines;
    uint64_t log_suppressed;

    uint8_t *scratch; /* a faulty frame being made (SIM_OVERSIZE_BYTES) */
    uint8_t *arena;   /* decoding a frame to re-sign it (SIM_DECODE_ARENA_BYTES) */

    struct sim_update_fleet update_fleet; /* --update-image */
    struct sim_update_node *updates;      /* one per node, or NULL */
    uint64_t restarts;                    /* simulated restarts (updates, reboot commands) */
};

static volatile sig_atomic_t sim_stop;

static void sim_on_signal(int sig)
{
    (void)sig;
    if (sim_stop < 2)
        sim_stop++;
}

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/*
 * The nodes' clock: monotonic, one period ahead of the time since the start,
 * so that node i, created at i * period / N, first samples at start + i *
 * period / N. The run begins a warm-up (at most one period) before the
 * start, so that the nodes connect before they sample.
 */
static uint64_t sim_clock(const struct sim *s)
{
    if (s->opts.history)
        return s->virt_ms;
    return mono_ms() + s->interval_ms - s->origin_ms;
}

/* Seconds since the start; negative during the warm-up. */
static double sim_elapsed_s(const struct sim *s)
{
    return ((double)mono_ms() - (double)s->origin_ms) / 1000.0;
}

/* splitmix64: tiny, fast and good enough to make every node reproducible. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A stream per (seed, index) that does not overlap its neighbours'. */
static uint64_t rng_seed_for(uint64_t seed, uint64_t index)
{
    uint64_t mix = seed ^ (0x9e3779b97f4a7c15ULL * (index + 1));

    return rng_next(&mix);
}

/* ---- logging: the nodes' warnings, rate-limited for a fleet that fails all at once ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sim_logf(struct sim *s, const char *fmt, ...)
{
    uint64_t second = mono_ms() / 1000;
    va_list ap;

    if (second != s->log_second) {
        if (s->log_suppressed > 0)
            fprintf(stderr, "citysim: (%" PRIu64 " more messages suppressed)\n", s->log_suppressed);
        s->log_second = second;
        s->log_lines = 0;
        s->log_suppressed = 0;
    }
    if (s->log_lines >= SIM_LOG_LINES_PER_S) {
        s->log_suppressed++;
        return;
    }
    s->log_lines++;
    fputs("citysim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- the node's port: HAL, RAM storage ---- */

static uint64_t hal_now(void *ctx)
{
    return ((struct sim_node *)ctx)->sim->now_ms;
}

/* The wall clock: the process's, or in history the start plus the nodes' clock since it. */
static uint64_t sim_wall(const struct sim *s)
{
    if (s->opts.history)
        return s->opts.history_start_ms + s->now_ms - s->interval_ms;
    return clock_ms(CLOCK_REALTIME);
}

static uint64_t hal_wall(void *ctx)
{
    return sim_wall(((struct sim_node *)ctx)->sim);
}

static int hal_random(void *ctx, void *buf, size_t len)
{
    struct sim_node *sn = ctx;
    uint8_t *p = buf;

    while (len > 0) {
        uint64_t v = rng_next(&sn->rng);
        size_t n = len < sizeof(v) ? len : sizeof(v);

        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
    return 0;
}

/* Warnings and errors only: 10,000 nodes saying "uplink up" is not news. */
static void hal_log(void *ctx, enum node_log_level level, const char *line)
{
    struct sim_node *sn = ctx;

    if (level == NODE_LOG_INFO)
        return;
    sim_logf(sn->sim, "%s: %s: %s", sn->id, level == NODE_LOG_ERROR ? "error" : "warn", line);
}

/* A restart is done by the main loop once the node's call returns (sim_node_after()). */
static void hal_reboot(void *ctx)
{
    sim_update_request_reboot(((struct sim_node *)ctx)->update);
}

/* Without --update-image reboot is not offered: the node answers "not supported on this port". */
static const struct node_hal_ops sim_hal_ops = {hal_now, hal_wall, hal_random, hal_log, NULL};
static const struct node_hal_ops sim_hal_update_ops = {hal_now, hal_wall, hal_random, hal_log,
                                                       hal_reboot};

/*
 * The ring in RAM: the superblocks inline in the node, the record area
 * allocated on the first write (reads before it see zeros, a blank region).
 */
static int ram_io(struct sim_node *sn, uint64_t off, uint8_t *rd, const uint8_t *wr, size_t len)
{
    size_t area_bytes = sn->sim->ring_bytes - NODE_RING_META_BYTES;

    if (off + len > sn->sim->ring_bytes)
        return -NODE_EIO;
    while (len > 0 && off < NODE_RING_META_BYTES) {
        size_t n = NODE_RING_META_BYTES - off < len ? NODE_RING_META_BYTES - off : len;

        if (rd) {
            memcpy(rd, sn->ring_meta + off, n);
            rd += n;
        } else {
            memcpy(sn->ring_meta + off, wr, n);
            wr += n;
        }
        off += n;
        len -= n;
    }
    if (len == 0)
        return 0;
    if (wr && !sn->ring_area && !(sn->ring_area = calloc(1, area_bytes)))
        return -NODE_EIO;
    if (rd && !sn->ring_area)
        memset(rd, 0, len);
    else if (rd)
        memcpy(rd, sn->ring_area + (off - NODE_RING_META_BYTES), len);
    else
        memcpy(sn->ring_area + (off - NODE_RING_META_BYTES), wr, len);
    return 0;
}

static int ram_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    return ram_io(ctx, off, buf, NULL, len);
}

static int ram_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    return ram_io(ctx, off, NULL, buf, len);
}

static int ram_sync(void *ctx)
{
    (void)ctx;
    return 0;
}

static const struct node_storage_ops sim_ram_ops = {ram_read, ram_write, ram_sync};

/* ---- the scheduler: a binary min-heap of nodes by next deadline ---- */

static bool heap_less(const struct sim *s, size_t a, size_t b)
{
    return s->nodes[s->heap[a]].deadline_ms < s->nodes[s->heap[b]].deadline_ms;
}

static void heap_swap(struct sim *s, size_t a, size_t b)
{
    uint32_t t = s->heap[a];

    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->nodes[s->heap[a]].heap_pos = (uint32_t)a;
    s->nodes[s->heap[b]].heap_pos = (uint32_t)b;
}

static void heap_fix(struct sim *s, size_t i)
{
    while (i > 0 && heap_less(s, i, (i - 1) / 2)) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < s->heap_len && heap_less(s, l, m))
            m = l;
        if (r < s->heap_len && heap_less(s, r, m))
            m = r;
        if (m == i)
            return;
        heap_swap(s, i, m);
        i = m;
    }
}

/*
 * Re-reads node i's next deadline after anything happened to it. A node
 * that is due again at once (a full window it wants to drain into) is
 * looked at again a millisecond later rather than in a busy loop.
 */
static void sched_update(struct sim *s, uint32_t i)
{
    struct sim_node *sn = &s->nodes[i];
    uint64_t d = node_next_deadline(sn->node);

    sn->deadline_ms = d > s->now_ms ? d : s->now_ms + 1;
    heap_fix(s, sn->heap_pos);
}

/* ---- publish slots ---- */

static struct sim_slot *slot_alloc(struct sim *s)
{
    struct sim_slot *sl;

    if (s->n_free == 0)
        return NULL;
    sl = &s->slots[s->free_slots[--s->n_free]];
    sl->use++;
    sl->used = 1;
    return sl;
}

static void slot_free(struct sim *s, struct sim_slot *sl)
{
    if (sl->msg == SIM_MSG_FRAME)
        s->nodes[sl->node].frames_out--;
    free(sl->copy);
    sl->copy = NULL;
    sl->used = 0;
    s->free_slots[s->n_free++] = sl->index;
}

static size_t sim_inflight(const struct sim *s)
{
    return s->n_slots - s->n_free;
}

/* ---- Paho callbacks: Paho's threads; they only append to the queue ---- */

/* Appends e; the caller holds the lock. A command over the budget is dropped and counted. */
static void queue_push_locked(struct sim_queue *q, const struct sim_event *e)
{
    if (q->count == q->cap ||
        (e->type == SIM_EV_COMMAND && q->commands >= SIM_MAX_QUEUED_COMMANDS)) {
        q->dropped_commands += e->type == SIM_EV_COMMAND;
        free(e->topic);
        free(e->payload);
        return;
    }
    q->ev[(q->head + q->count++) % q->cap] = *e;
    q->commands += e->type == SIM_EV_COMMAND;
    if (q->count == 1)
        pthread_cond_signal(&q->cond);
}

static void queue_push(struct sim *s, const struct sim_event *e)
{
    pthread_mutex_lock(&s->q.lock);
    queue_push_locked(&s->q, e);
    pthread_mutex_unlock(&s->q.lock);
}

static void push_conn_event(struct sim_client *cl, enum sim_ev type, const char *why)
{
    struct sim_event e = {.type = (uint8_t)type, .conn = cl->conn, .gen = cl->gen};

    if (why)
        snprintf(e.why, sizeof(e.why), "%s", why);
    queue_push(cl->sim, &e);
}

static void on_up(void *ctx)
{
    push_conn_event(ctx, SIM_EV_UP, NULL);
}

static void on_down(void *ctx, const char *why)
{
    push_conn_event(ctx, SIM_EV_DOWN, why);
}

/* A command for one of the nodes: queued with its topic, which names the node. */
static void on_command(void *ctx, const char *topic, size_t topic_len, uint8_t *payload, size_t len)
{
    struct sim_client *cl = ctx;
    struct sim_event e = {.type = SIM_EV_COMMAND, .conn = cl->conn, .gen = cl->gen, .len = len};

    e.topic = malloc(topic_len + 1);
    e.payload = payload;
    if (e.topic && e.payload) {
        memcpy(e.topic, topic, topic_len);
        e.topic[topic_len] = '\0';
        queue_push(cl->sim, &e);
    } else {
        free(e.topic);
        free(e.payload);
    }
}

static const struct paho_cmd_hooks cmd_hooks = {on_up, on_down, on_command};

static void on_disconnected(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    push_conn_event(ctx, SIM_EV_DISCONNECTED, NULL);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    push_conn_event(ctx, SIM_EV_DISCONNECTED, NULL);
}

static void publish_done(struct sim_slot *sl, int ok)
{
    struct sim_event e = {.type = SIM_EV_PUBLISHED, .ok = (uint8_t)ok};

    e.slot = sl->index;
    e.use = sl->use;
    queue_push(sl->sim, &e);
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

/* ---- connections (main thread) ---- */

/*
 * Destroys connection k's client, if any: no callback of it runs afterwards,
 * its queued events are stale, and what it had not completed is forgotten
 * (data messages among them count as failed; their nodes resend them).
 */
static void conn_drop(struct sim *s, unsigned k)
{
    struct sim_conn *c = &s->conns[k];

    if (!c->client)
        return;
    c->gen++;
    MQTTAsync_destroy(&c->client->client);
    free(c->client);
    c->client = NULL;
    c->state = SIM_CONN_DOWN;
    for (size_t i = 0; i < s->n_slots; i++) {
        struct sim_slot *sl = &s->slots[i];

        if (!sl->used || sl->conn != k)
            continue;
        s->counts.failed += sl->msg != SIM_MSG_CONTROL;
        slot_free(s, sl);
    }
}

/*
 * Creates connection k's client and starts connecting; SIM_EV_UP follows
 * once it is connected and subscribed to the command topics, SIM_EV_DOWN if
 * not. Returns 0, -EINVAL for a broker URL Paho refuses, or -EAGAIN.
 * SIGINT and SIGTERM are blocked while Paho starts its threads, so that they
 * are delivered to the main thread.
 */
static int conn_start(struct sim *s, unsigned k)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    struct sim_conn *c = &s->conns[k];
    struct sim_client *cl = calloc(1, sizeof(*cl));
    char client_id[48];
    sigset_t block, saved;
    int rc;

    if (!cl)
        return -EAGAIN;
    conn_drop(s, k);
    snprintf(client_id, sizeof(client_id), "citysim-%ld-%u", (long)getpid(), k);
    co.sendWhileDisconnected = 0;
    /* Paho counts queued publishes against this even while connected; the slots bound them. */
    co.maxBufferedMessages = (int)s->n_slots;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    rc = MQTTAsync_createWithOptions(&cl->client, s->opts.broker, client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(c->why, sizeof(c->why), "%s", MQTTAsync_strerror(rc));
        free(cl);
        rc = -EINVAL;
        goto out;
    }
    cl->sim = s;
    cl->conn = (uint8_t)k;
    cl->gen = ++c->gen;
    c->client = cl;
    c->state = SIM_CONN_CONNECTING;
    cl->cmd = (struct paho_cmd){cl->client, SIM_CMD_FILTER, &cmd_hooks, cl};
    /* Clean session, no automatic reconnect: a lost connection's messages belong to the nodes. */
    o.keepAliveInterval = SIM_KEEPALIVE_S;
    o.cleansession = 1;
    o.maxInflight = (int)s->opts.max_inflight;
    o.connectTimeout = SIM_CONNECT_TIMEOUT_S;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.automaticReconnect = 0;
    paho_cmd_attach(&cl->cmd, &o);
    rc = MQTTAsync_connect(cl->client, &o);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(c->why, sizeof(c->why), "%s", MQTTAsync_strerror(rc));
        conn_drop(s, k);
        rc = -EAGAIN;
        goto out;
    }
    rc = 0;
out:
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

/* The next reconnect attempt of connection k: capped exponential backoff, +-20 % jitter. */
static void conn_schedule(struct sim *s, unsigned k)
{
    struct sim_conn *c = &s->conns[k];
    uint64_t span = c->backoff_ms / 5;
    uint64_t jitter = span ? rng_next(&s->jitter_rng) % (2 * span + 1) : 0;

    c->state = SIM_CONN_DOWN;
    c->retry_ms = s->now_ms + c->backoff_ms - span + jitter;
    c->backoff_ms =
        c->backoff_ms >= SIM_RECONNECT_MAX_MS / 2 ? SIM_RECONNECT_MAX_MS : c->backoff_ms * 2;
}

/* Queues node i for node_net_up() unless it already is. */
static void upq_push(struct sim *s, uint32_t i)
{
    if (s->nodes[i].up_queued)
        return;
    s->nodes[i].up_queued = 1;
    s->upq[(s->upq_head + s->upq_count++) % s->opts.n_nodes] = i;
}

static void on_conn_up(struct sim *s, unsigned k)
{
    struct sim_conn *c = &s->conns[k];

    if (c->ever_up)
        sim_logf(s, "connection %u to %s is back", k, s->opts.broker);
    c->state = SIM_CONN_UP;
    c->ever_up = true;
    c->backoff_ms = SIM_RECONNECT_MIN_MS;
    for (uint32_t i = (uint32_t)k; i < s->opts.n_nodes; i += (uint32_t)s->opts.n_conns)
        if (s->nodes[i].link == SIM_LINK_WAITING)
            upq_push(s, i);
}

/*
 * Connection k is gone: its client is destroyed first (nothing it held is
 * resent), then every node on it hears node_net_down() and takes its
 * unconfirmed frames back into its ring.
 */
static void on_conn_down(struct sim *s, unsigned k, const char *why)
{
    struct sim_conn *c = &s->conns[k];
    bool was_up = c->state == SIM_CONN_UP;

    conn_drop(s, k);
    if (!c->ever_up) {
        snprintf(c->why, sizeof(c->why), "%s", why);
        c->state = SIM_CONN_FAILED;
        return;
    }
    if (s->opts.history) {
        /* The virtual clock would run on without a broker: history stops instead. */
        sim_logf(s, "connection %u to %s lost (%s); history stops", k, s->opts.broker, why);
        sim_stop = 2;
        return;
    }
    sim_logf(s, "connection %u to %s %s (%s), retrying", k, s->opts.broker,
             was_up ? "lost" : "not restored", why);
    conn_schedule(s, k);
    for (uint32_t i = (uint32_t)k; i < s->opts.n_nodes; i += (uint32_t)s->opts.n_conns) {
        struct sim_node *sn = &s->nodes[i];

        if (sn->link == SIM_LINK_DOWN || !sn->node)
            continue;
        sn->link = SIM_LINK_DOWN;
        sn->epoch++;
        node_net_down(sn->node, s->now_ms);
        sched_update(s, i);
    }
}

/* ---- the node's network interface over the shared connection ---- */

/* Starts the node's link: it is up as soon as (and as long as) its connection is. */
static int net_connect(void *ctx, const struct node_connect *c)
{
    struct sim_node *sn = ctx;
    struct sim *s = sn->sim;

    (void)c; /* one connection has one will: the fleet's nodes have none, only their deaths */
    sn->epoch++;
    sn->link = SIM_LINK_WAITING;
    if (s->conns[sn->conn].state == SIM_CONN_UP)
        upq_push(s, (uint32_t)(sn - s->nodes));
    return 0;
}

static void net_disconnect(void *ctx, int clean)
{
    struct sim_node *sn = ctx;

    (void)clean;
    sn->epoch++;
    sn->link = SIM_LINK_DOWN;
}

/*
 * Hands one message of node sn to its connection with a slot. Returns 0, or
 * -NODE_ERETRY (no slot, or Paho refused it for now) or -NODE_ENET (Paho
 * refuses it for good).
 */
static int sim_send(struct sim *s, struct sim_node *sn, const struct node_publish *m,
                    enum sim_msg msg, uint32_t ref)
{
    size_t len = m->len;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    struct sim_slot *sl = slot_alloc(s);
    int rc;

    if (!sl)
        return -NODE_ERETRY;
    sl->node = (uint32_t)(sn - s->nodes);
    sl->epoch = sn->epoch;
    sl->ref = ref;
    sl->conn = sn->conn;
    sl->msg = (uint8_t)msg;
    sn->frames_out += msg == SIM_MSG_FRAME;
    /* The truth holds the frames the gateway is to accept: those of nodes without a bad copy. */
    if (s->truth && msg == SIM_MSG_FRAME &&
        (sn->fault == SIM_FAULT_NONE || sn->fault == SIM_FAULT_DUPLICATE)) {
        sl->copy = malloc(len);
        if (!sl->copy) {
            slot_free(s, sl);
            return -NODE_ERETRY;
        }
        memcpy(sl->copy, m->payload, len);
        sl->copy_len = len;
    }
    ro.onSuccess = on_published;
    ro.onFailure = on_publish_failed;
    ro.context = sl;
    s->counts.published += msg != SIM_MSG_CONTROL;
    rc = MQTTAsync_send(s->conns[sn->conn].client->client, m->topic, (int)len, m->payload, m->qos,
                        m->retained, &ro);
    if (rc == MQTTASYNC_SUCCESS)
        return 0;
    slot_free(s, sl);
    if (msg != SIM_MSG_CONTROL) {
        s->counts.failed++;
        if (!s->failure_logged)
            sim_logf(s, "a publish was refused (%s); further failures are only counted",
                     MQTTAsync_strerror(rc));
        s->failure_logged = true;
    }
    return rc == MQTTASYNC_BAD_UTF8_STRING || rc == MQTTASYNC_BAD_QOS ? -NODE_ENET : -NODE_ERETRY;
}

static int key_of_node(void *ctx, const char *device_id, struct wire_key *key)
{
    const struct sim_node *sn = ctx;

    if (strcmp(device_id, sn->id) != 0)
        return -1;
    key->bytes = sn->key;
    key->len = sizeof(sn->key);
    return 0;
}

/*
 * Decodes node sn's frame, changes it according to the node's fault and
 * signs it again with the node's key into s->scratch. topic (cap bytes)
 * receives the topic to publish on. Returns 0 and sets *out_len, or a
 * negative enum wire_err (a bug: the frame is the node's own).
 */
static int sim_resign(struct sim *s, struct sim_node *sn, const uint8_t *frame, size_t len,
                      char *topic, size_t cap, size_t *out_len)
{
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_of_node, sn, {0}};
    Citygate__V1__Frame *f = NULL;
    int rc;

    wire_arena_init(&d.arena, s->arena, SIM_DECODE_ARENA_BYTES);
    rc = wire_decode(&d, frame, len, &f, NULL);
    if (rc != 0)
        return rc;
    switch (sn->fault) {
    case SIM_FAULT_SITE:
        /* Another site of the fleet (or one outside it): a node moved but not re-provisioned. */
        f->site_id =
            s->opts.n_sites > 1 ? s->sites[(sn->site + 1) % s->opts.n_sites] : "site-moved";
        break;
    case SIM_FAULT_RANGE:
        if (f->n_readings > 0) {
            f->readings[0]->quality = CITYGATE__V1__QUALITY__GOOD;
            f->readings[0]->value = SIM_OUT_OF_RANGE_VALUE;
        }
        break;
    case SIM_FAULT_FUTURE:
        f->timestamp_ms += SIM_FUTURE_MS;
        break;
    default:
        break;
    }
    snprintf(topic, cap, "city/v1/%s/%s/data", f->site_id, sn->id);
    return wire_encode(f, sn->key, sizeof(sn->key), s->scratch, SIM_OVERSIZE_BYTES, out_len);
}

/* Publishes node sn's data frame m (at --qos) with the node's fault (see enum sim_fault). */
static int sim_send_faulty(struct sim *s, struct sim_node *sn, const struct node_publish *m,
                           uint32_t ref)
{
    char other_topic[NODE_MAX_TOPIC];
    const uint8_t *frame = m->payload;
    size_t len = m->len, out_len = len;
    const char *topic = m->topic;
    int rc;

    switch (sn->fault) {
    case SIM_FAULT_DUPLICATE:
        rc = sim_send(s, sn, m, SIM_MSG_FRAME, ref);
        if (rc == 0 && sim_send(s, sn, m, SIM_MSG_EXTRA, 0) == 0)
            s->counts.bad++;
        return rc;
    case SIM_FAULT_SIGNATURE:
        memcpy(s->scratch, frame, len);
        s->scratch[len - 1] ^= 0x5a;
        break;
    case SIM_FAULT_GARBAGE:
        hal_random(sn, s->scratch, len);
        if (s->scratch[0] == 'C')
            s->scratch[0] = 'c';
        break;
    case SIM_FAULT_OVERSIZE:
        memcpy(s->scratch, frame, len);
        memset(s->scratch + len, 0, SIM_OVERSIZE_BYTES - len);
        out_len = SIM_OVERSIZE_BYTES;
        break;
    default:
        rc = sim_resign(s, sn, frame, len, other_topic, sizeof(other_topic), &out_len);
        if (rc != 0) {
            sim_logf(s, "%s: cannot re-sign a frame: %s", sn->id, wire_strerror(rc));
            return -NODE_ENET;
        }
        topic = other_topic;
        break;
    }
    rc = sim_send(s, sn, &(struct node_publish){topic, s->scratch, out_len, s->opts.qos, 0},
                  SIM_MSG_FRAME, ref);
    if (rc == 0)
        s->counts.bad++;
    return rc;
}

/*
 * The node's publish. Data frames go out at --qos (and with the node's
 * fault, if it has one); birth, death and replies at the QoS the node asks.
 */
static int net_publish(void *ctx, const struct node_publish *m, uint32_t ref)
{
    struct sim_node *sn = ctx;
    struct sim *s = sn->sim;
    bool frame = strcmp(m->topic, node_topic_data(sn->node)) == 0;
    struct node_publish out = *m;

    if (sn->link != SIM_LINK_UP || s->conns[sn->conn].state != SIM_CONN_UP)
        return -NODE_ERETRY;
    if (frame)
        out.qos = s->opts.qos;
    if (frame && sn->fault != SIM_FAULT_NONE)
        return sim_send_faulty(s, sn, &out, ref);
    return sim_send(s, sn, &out, frame ? SIM_MSG_FRAME : SIM_MSG_CONTROL, ref);
}

static const struct node_net_ops sim_net_ops = {net_connect, net_publish, net_disconnect};

/* ---- the ground truth (--truth) ---- */

/*
 * Writes one acknowledged frame of node sn to the truth file: an F line,
 * then an R line per reading and a V line per vehicle (docs/tools.md). A
 * frame that does not decode (a bug: it is the node's own) stops the run.
 */
static void truth_write(struct sim *s, struct sim_node *sn, const uint8_t *frame, size_t len)
{
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_of_node, sn, {0}};
    Citygate__V1__Frame *f = NULL;
    FILE *fp = s->truth;
    int rc;

    wire_arena_init(&d.arena, s->arena, SIM_DECODE_ARENA_BYTES);
    rc = wire_decode(&d, frame, len, &f, NULL);
    if (rc != 0) {
        sim_logf(s, "%s: cannot decode its own frame for --truth: %s", sn->id, wire_strerror(rc));
        sim_stop = 2;
        return;
    }
    fprintf(fp, "F %s %s %016" PRIx64 " %" PRIu64 " %" PRIu64 " %" PRIu32 "\n", f->site_id,
            f->device_id, f->boot_id, f->seq, f->timestamp_ms, f->interval_ms);
    for (size_t i = 0; i < f->n_readings; i++) {
        const Citygate__V1__Reading *r = f->readings[i];

        fprintf(fp, "R %d %" PRIu32 " %d %d %.17g\n", (int)r->quantity, r->lane,
                (int)r->vehicle_class, (int)r->quality, r->value);
    }
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const Citygate__V1__Vehicle *v = f->vehicles[i];

        fprintf(fp, "V %" PRIu32 " %" PRId64 " %.9g %.9g %d %" PRIu32 "\n", v->lane,
                (int64_t)f->timestamp_ms + v->offset_ms, (double)v->speed_kmh, (double)v->length_m,
                (int)v->vehicle_class, v->headway_ms);
    }
}

/* ---- events (main thread) ---- */

static void sim_node_after(struct sim *s, uint32_t i);

static void on_published_event(struct sim *s, const struct sim_event *e)
{
    struct sim_slot *sl = &s->slots[e->slot];
    struct sim_node *sn = &s->nodes[sl->node];
    bool current;

    if (!sl->used || sl->use != e->use)
        return; /* its connection was dropped, and the slot freed, after the callback */
    if (sl->msg != SIM_MSG_CONTROL) {
        if (e->ok) {
            s->counts.acked++;
        } else {
            s->counts.failed++;
            if (!s->failure_logged)
                sim_logf(s, "a publish failed; further failures are only counted");
            s->failure_logged = true;
        }
    }
    current = sl->msg != SIM_MSG_EXTRA && sn->epoch == sl->epoch && sn->link == SIM_LINK_UP;
    /* Only a confirmation the node hears is final: otherwise it sends the frame again. */
    if (current && e->ok && sl->copy)
        truth_write(s, sn, sl->copy, sl->copy_len);
    slot_free(s, sl);
    if (!current)
        return;
    node_net_published(sn->node, sl->ref, e->ok);
    sched_update(s, sl->node);
    sim_node_after(s, sl->node);
}

/* A command for city/v1/<site>/node-<N>/cmd reaches node N-1, through its own connection. */
static void on_command_event(struct sim *s, const struct sim_event *e)
{
    const char *p = e->topic + strlen("city/v1/");
    const char *slash = strchr(p, '/');
    unsigned long n;
    char *end;

    if (strncmp(e->topic, "city/v1/", 8) != 0 || !slash || strncmp(slash + 1, "node-", 5) != 0)
        return;
    errno = 0;
    n = strtoul(slash + 6, &end, 10);
    if (errno != 0 || n == 0 || n > s->opts.n_nodes || strcmp(end, "/cmd") != 0)
        return;
    struct sim_node *sn = &s->nodes[n - 1];
    size_t site_len = (size_t)(slash - p);
    size_t id_len = strlen(sn->id);
    if (sn->conn != e->conn || sn->link != SIM_LINK_UP || strlen(s->sites[sn->site]) != site_len ||
        strncmp(s->sites[sn->site], p, site_len) != 0 || strncmp(sn->id, slash + 1, id_len) != 0 ||
        slash[1 + id_len] != '/')
        return;
    node_command(sn->node, e->payload, e->len, s->now_ms);
    sched_update(s, (uint32_t)(n - 1));
    sim_node_after(s, (uint32_t)(n - 1));
}

static void sim_event(struct sim *s, struct sim_event *e)
{
    struct sim_conn *c = &s->conns[e->conn];

    switch (e->type) {
    case SIM_EV_PUBLISHED:
        on_published_event(s, e);
        break;
    case SIM_EV_UP:
        if (e->gen == c->gen)
            on_conn_up(s, e->conn);
        break;
    case SIM_EV_DOWN:
        if (e->gen == c->gen)
            on_conn_down(s, e->conn, e->why);
        break;
    case SIM_EV_COMMAND:
        if (e->gen == c->gen)
            on_command_event(s, e);
        break;
    case SIM_EV_DISCONNECTED:
        if (e->gen == c->gen)
            c->disconnected = true;
        break;
    }
    free(e->topic);
    free(e->payload);
}

/*
 * Delivers what Paho reported, after waiting up to wait_ms for the first
 * event when there is none. Returns how many events were delivered.
 */
static size_t sim_pump(struct sim *s, uint64_t wait_ms)
{
    struct sim_queue *q = &s->q;
    size_t total = 0, n;

    pthread_mutex_lock(&q->lock);
    if (q->count == 0 && wait_ms > 0 && !sim_stop) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->cond, &q->lock, &ts);
    }
    do {
        for (n = 0; n < SIM_EVENT_BATCH && q->count > 0; n++) {
            s->batch[n] = q->ev[q->head];
            q->head = (q->head + 1) % q->cap;
            q->count--;
            q->commands -= s->batch[n].type == SIM_EV_COMMAND;
        }
        pthread_mutex_unlock(&q->lock);
        s->now_ms = sim_clock(s);
        for (size_t i = 0; i < n; i++)
            sim_event(s, &s->batch[i]);
        total += n;
        pthread_mutex_lock(&q->lock);
    } while (q->count > 0);
    pthread_mutex_unlock(&q->lock);
    return total;
}

/* Tells waiting nodes that their connection is up, as far as --max-inflight lets their births go.
 */
static void sim_deliver_ups(struct sim *s)
{
    while (s->upq_count > 0 && sim_inflight(s) < s->opts.max_inflight) {
        uint32_t i = s->upq[s->upq_head];
        struct sim_node *sn = &s->nodes[i];

        s->upq_head = (s->upq_head + 1) % s->opts.n_nodes;
        s->upq_count--;
        sn->up_queued = 0;
        if (sn->link != SIM_LINK_WAITING || s->conns[sn->conn].state != SIM_CONN_UP)
            continue;
        sn->link = SIM_LINK_UP;
        node_net_up(sn->node, s->now_ms);
        sched_update(s, i);
    }
}

/* In history, whether node i may be ticked now: it has room for another frame. */
static bool sim_node_ready(const struct sim *s, uint32_t i)
{
    return !s->opts.history || s->nodes[i].frames_out < SIM_HISTORY_NODE_WINDOW;
}

/*
 * History: moves the nodes' clock to the next node's deadline (at most
 * end_ms) once every node is up and that node can take its turn; otherwise
 * the clock waits for the broker's acknowledgements.
 */
static void sim_history_advance(struct sim *s, uint64_t end_ms)
{
    uint64_t due;

    if (s->upq_count > 0 || s->heap_len == 0 || sim_inflight(s) >= s->opts.max_inflight ||
        !sim_node_ready(s, s->heap[0]))
        return;
    due = s->nodes[s->heap[0]].deadline_ms;
    if (due > end_ms)
        due = end_ms;
    if (due > s->virt_ms)
        s->virt_ms = due;
    s->now_ms = s->virt_ms;
}

/* Ticks the nodes that are due, at most max of them, while --max-inflight allows. */
static size_t sim_tick_due(struct sim *s, size_t max)
{
    size_t n = 0;

    while (n < max && s->heap_len > 0 && sim_inflight(s) < s->opts.max_inflight) {
        uint32_t i = s->heap[0];

        if (s->nodes[i].deadline_ms > s->now_ms || !sim_node_ready(s, i))
            break;
        (void)node_tick(s->nodes[i].node, s->now_ms); /* a RAM ring does not fail */
        sched_update(s, i);
        sim_node_after(s, i);
        n++;
    }
    return n;
}

/* ---- creating the fleet ---- */

/*
 * Derives a device key: HMAC-SHA256(fleet key, device id), the same rule the
 * registry file documents. Returns 0 or -EINVAL when OpenSSL fails.
 */
static int sim_derive_key(const uint8_t *fleet_key, size_t fleet_key_len, const char *device_id,
                          uint8_t out[SIM_DEVICE_KEY_BYTES])
{
    unsigned int len = SIM_DEVICE_KEY_BYTES;

    if (!HMAC(EVP_sha256(), fleet_key, (int)fleet_key_len, (const unsigned char *)device_id,
              strlen(device_id), out, &len) ||
        len != SIM_DEVICE_KEY_BYTES)
        return -EINVAL;
    return 0;
}

/*
 * Gives every node its identity (id, site, key, sensor kind, connection);
 * no node core yet, which is all --registry needs. Returns 0, -ENOMEM or
 * -EINVAL (key derivation failed).
 */
static int sim_identities(struct sim *s)
{
    const struct sim_opts *o = &s->opts;
    int rc = -ENOMEM;

    s->nodes = calloc(o->n_nodes, sizeof(*s->nodes));
    s->sites = calloc(o->n_sites, sizeof(*s->sites));
    if (!s->nodes || !s->sites)
        goto out;
    for (unsigned long i = 0; i < o->n_sites; i++)
        snprintf(s->sites[i], sizeof(s->sites[i]), "site-%02u", (unsigned)i);
    for (unsigned long i = 0; i < o->n_nodes; i++) {
        struct sim_node *sn = &s->nodes[i];

        sn->sim = s;
        sn->site = (uint16_t)(i % o->n_sites);
        sn->conn = (uint8_t)(i % o->n_conns);
        sn->kind = o->mix[i % o->n_mix];
        sn->rng = rng_seed_for(o->seed, i);
        snprintf(sn->id, sizeof(sn->id), "node-%04u", (unsigned)(i + 1));
        rc = sim_derive_key(o->fleet_key, o->fleet_key_len, sn->id, sn->key);
        if (rc != 0)
            goto out;
    }
    rc = 0;
out:
    return rc;
}

/*
 * Chooses n_pick of the nodes from the seed and salt (a partial shuffle), in
 * the order chosen. Returns the indexes (caller frees), or NULL when out of
 * memory.
 */
static uint32_t *sim_pick(const struct sim *s, size_t n_pick, uint64_t salt)
{
    size_t n = s->opts.n_nodes;
    uint64_t rng = rng_seed_for(s->opts.seed, salt);
    uint32_t *idx = malloc(n * sizeof(*idx));

    if (!idx)
        return NULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    for (size_t j = 0; j < n_pick && j < n; j++) {
        size_t k = j + (size_t)(rng_next(&rng) % (n - j));
        uint32_t t = idx[j];

        idx[j] = idx[k];
        idx[k] = t;
    }
    return idx;
}

/*
 * Chooses round(bad_fraction x N) nodes from the seed and gives them the
 * --bad-kinds in turn. Returns 0 or -ENOMEM.
 */
static int sim_pick_bad(struct sim *s)
{
    size_t n_bad = (size_t)llround(s->opts.bad_fraction * (double)s->opts.n_nodes);
    uint32_t *idx;

    if (n_bad == 0)
        return 0;
    idx = sim_pick(s, n_bad, 0xbadULL << 32);
    if (!idx)
        return -ENOMEM;
    for (size_t j = 0; j < n_bad; j++)
        s->nodes[idx[j]].fault = s->opts.bad_kinds[j % s->opts.n_bad_kinds];
    free(idx);
    return 0;
}

/* The local time's offset from UTC in minutes, so that the demo's rush hour is the viewer's. */
static int32_t local_utc_offset_min(void)
{
    time_t now = time(NULL);
    struct tm tm;
    long off;

    if (!localtime_r(&now, &tm))
        return 0;
    off = tm.tm_gmtoff / 60;
    return (int32_t)(off < -720 ? -720 : off > 840 ? 840 : off);
}

/* The sensor table of every kind; parameters that differ per node are set by sim_params(). */
static void sim_sensor_tables(struct sim *s)
{
    snprintf(s->utc_text, sizeof(s->utc_text), "%" PRId32, s->utc_offset_min);
    for (size_t k = 0; k < SIM_N_KINDS; k++) {
        struct drv_param *p = s->params[k];
        size_t n = 0;

        p[n++] = (struct drv_param){"seed", s->seed_text};
        p[n++] = (struct drv_param){"utc_offset_min", s->utc_text};
        if (strcmp(sim_kinds[k].name, "traffic") == 0) {
            p[n++] = (struct drv_param){"lanes", "2"};
            p[n++] = (struct drv_param){"profile", "urban"};
            p[n++] = (struct drv_param){"incident_start_ms", s->incident_text};
            if (s->opts.capacity_vph > 0.0) {
                snprintf(s->capacity_text, sizeof(s->capacity_text), "%g", s->opts.capacity_vph);
                p[n++] = (struct drv_param){"capacity_vph", s->capacity_text};
            }
        }
        s->sensors[k] = (struct node_sensor_config){sim_kinds[k].sensor, sim_kinds[k].driver,
                                                    drv_find(sim_kinds[k].driver), p, n};
    }
}

/*
 * Sets the parameters of node i's sensor: its own seed, and its site's road,
 * the same for every node of a site so that a site's figures belong to one
 * road (drv_sim_site_road()); and the incident of its site, if --incident
 * gave one.
 */
static void sim_params(struct sim *s, size_t i)
{
    uint64_t seed = rng_seed_for(s->opts.seed ^ 0x5e05u, i);
    unsigned long site = s->nodes[i].site;
    uint64_t incident_ms = 0;

    snprintf(s->seed_text, sizeof(s->seed_text), "%" PRIu64, seed);
    for (size_t k = 0; k < s->opts.n_incidents; k++)
        if (s->opts.incidents[k].site == site)
            incident_ms = s->start_wall_ms + s->opts.incidents[k].after_ms;
    snprintf(s->incident_text, sizeof(s->incident_text), "%" PRIu64, incident_ms);
    if (s->sensors[s->nodes[i].kind].n_params > 3) {
        struct drv_sim_road road = drv_sim_site_road(site);

        s->params[s->nodes[i].kind][2].value = s->opts.lanes[0] ? s->opts.lanes : road.lanes;
        s->params[s->nodes[i].kind][3].value = road.profile;
    }
}

/* The most lanes a traffic sensor has: --lanes, else a motorway's three. */
static unsigned long sim_lanes_max(const struct sim *s)
{
    return s->opts.lanes[0] ? strtoul(s->opts.lanes, NULL, 10) : 3;
}

/*
 * Vehicles a traffic sensor may list in one interval: a motorway lane
 * carries at most about 0.5 vehicles per second, plus six standard
 * deviations and a margin. Too few would make the driver refuse the whole
 * sample.
 */
static size_t sim_vehicle_cap(const struct sim *s)
{
    double mean = 0.5 * (double)sim_lanes_max(s) * s->interval_ms / 1000.0;
    double cap = mean + 6.0 * sqrt(mean) + 16.0;

    return cap > WIRE_MAX_VEHICLES ? WIRE_MAX_VEHICLES : (size_t)cap;
}

/* The node configuration of node i (strings borrowed from s and the node). */
static void sim_node_config(const struct sim *s, size_t i, struct node_config *cfg)
{
    const struct sim_node *sn = &s->nodes[i];
    size_t vehicles = sim_kinds[sn->kind].vehicles ? sim_vehicle_cap(s) : 0;
    /* A traffic sensor's readings are per lane: the table's are for three. */
    size_t readings = strcmp(sim_kinds[sn->kind].name, "traffic") == 0
                          ? sim_kinds[sn->kind].readings / 3 * sim_lanes_max(s)
                          : sim_kinds[sn->kind].readings;
    size_t frame_bytes = SIM_FRAME_BASE_BYTES + SIM_FRAME_ITEM_BYTES * (readings + vehicles);
    double window = ceil(5.0 * s->opts.rate_hz); /* five seconds of frames without a PUBACK */

    node_config_defaults(cfg);
    cfg->device_id = sn->id;
    cfg->site_id = s->sites[sn->site];
    cfg->key = sn->key;
    cfg->key_len = sizeof(sn->key);
    cfg->firmware_version = SIM_FIRMWARE_VERSION;
    cfg->interval_ms = s->interval_ms;
    cfg->max_inflight = s->opts.history ? SIM_HISTORY_WINDOW
                        : window < 8    ? 8
                        : window > 1024 ? 1024
                                        : (uint32_t)window;
    cfg->drain_burst = cfg->drain_burst > cfg->max_inflight ? cfg->max_inflight : cfg->drain_burst;
    cfg->max_frame_bytes = frame_bytes < SIM_MIN_FRAME_BYTES ? SIM_MIN_FRAME_BYTES
                           : frame_bytes > WIRE_DEFAULT_MAX_FRAME_BYTES
                               ? WIRE_DEFAULT_MAX_FRAME_BYTES
                               : frame_bytes;
    cfg->max_readings_per_sensor = readings;
    cfg->max_vehicles_per_sensor = vehicles;
    cfg->sensors = &s->sensors[sn->kind];
    cfg->n_sensors = 1;
    cfg->update = sn->update ? sim_update_port(sn->update) : NULL;
}

/*
 * Sizes the rings: --ring-bytes, or 16 KiB, or room for four of the largest
 * frames at this rate when that is more. Returns 0, or -EINVAL after a
 * message when --ring-bytes is too small.
 */
static int sim_ring_bytes(struct sim *s, const struct node_config *cfg)
{
    size_t need = 4 * cfg->max_frame_bytes + NODE_RING_META_BYTES;

    if (s->opts.ring_bytes != 0 && s->opts.ring_bytes < need) {
        fprintf(stderr, "citysim: --ring-bytes must be at least %zu at this rate\n", need);
        return -EINVAL;
    }
    s->ring_bytes = s->opts.ring_bytes != 0          ? s->opts.ring_bytes
                    : need > SIM_MIN_AUTO_RING_BYTES ? need
                                                     : SIM_MIN_AUTO_RING_BYTES;
    return 0;
}

/*
 * Makes node i's core at now_ms on the nodes' clock (its first sample is due
 * one period later) and schedules it. Returns 0 or a negative enum node_err
 * with diag filled.
 */
static int sim_node_make(struct sim *s, size_t i, uint64_t now_ms, struct node_diag *diag)
{
    struct sim_node *sn = &s->nodes[i];
    struct node_ports ports = {{sn->update ? &sim_hal_update_ops : &sim_hal_ops, sn},
                               {&sim_ram_ops, sn, s->ring_bytes},
                               {&sim_net_ops, sn}};
    struct node_config cfg;

    sim_node_config(s, i, &cfg);
    sim_params(s, i);
    int rc = node_new(&cfg, &ports, now_ms, &sn->node, diag);
    if (rc != 0)
        return rc;
    sn->deadline_ms = node_next_deadline(sn->node);
    return 0;
}

/*
 * Node i restarts (an update's test boot, a revert, a reboot command): the
 * core is freed as citynode's would be on exit (its unconfirmed frames back
 * into the RAM ring), the boot stage decides what runs, and a new core with
 * a new boot id comes up over the same ring.
 */
static void sim_node_restart(struct sim *s, uint32_t i)
{
    struct sim_node *sn = &s->nodes[i];
    struct node_diag diag;
    char err[256];

    node_free(sn->node);
    sn->node = NULL;
    s->restarts++;
    if (sim_update_boot(sn->update, err, sizeof(err)) != 0) {
        fprintf(stderr, "citysim: %s: cannot restart: %s\n", sn->id, err);
        exit(EX_SOFTWARE);
    }
    if (sim_node_make(s, i, s->now_ms, &diag) != 0) {
        fprintf(stderr, "citysim: %s: cannot restart: %s\n", sn->id, diag.text);
        exit(EX_SOFTWARE);
    }
    sched_update(s, i);
}

/* After node i did something: its update's self-confirmation, and a restart it asked for. */
static void sim_node_after(struct sim *s, uint32_t i)
{
    struct sim_update_node *u = s->nodes[i].update;

    if (!u)
        return;
    sim_update_after(u, s->nodes[i].node);
    if (sim_update_take_reboot(u))
        sim_node_restart(s, i);
}

/*
 * With --update-image: the fleet's first image and key, round(fraction x N)
 * nodes chosen from the seed to fail their updates (the kinds in turn), and
 * every node's slots. Returns 0, or EX_* after a message.
 */
static int sim_updates_create(struct sim *s)
{
    const struct sim_opts *o = &s->opts;
    size_t n = o->n_nodes;
    uint8_t *fail = NULL;
    uint32_t *idx = NULL;
    size_t n_fail = (size_t)llround(o->update_fail_fraction * (double)n);
    char err[512];
    int rc = EX_SOFTWARE;

    if (sim_update_fleet_init(&s->update_fleet, o->update_image, o->update_key,
                              (uint32_t)o->confirm_frames, err, sizeof(err)) != 0) {
        fprintf(stderr, "citysim: %s\n", err);
        return EX_NOINPUT;
    }
    s->updates = calloc(n, sizeof(*s->updates));
    fail = calloc(n, 1);
    if (!s->updates || !fail || (n_fail > 0 && !(idx = sim_pick(s, n_fail, 0x0ca7ULL << 32))))
        goto out;
    for (size_t j = 0; j < n_fail; j++)
        fail[idx[j]] = o->update_fail_kinds[j % o->n_update_fail_kinds];
    for (size_t i = 0; i < n; i++) {
        if (sim_update_node_init(&s->updates[i], &s->update_fleet, fail[i], err, sizeof(err)) !=
            0) {
            fprintf(stderr, "citysim: %s: %s\n", s->nodes[i].id, err);
            goto out;
        }
        s->nodes[i].update = &s->updates[i];
    }
    rc = 0;
out:
    if (rc != 0 && !s->updates)
        fprintf(stderr, "citysim: out of memory\n");
    free(fail);
    free(idx);
    return rc;
}

/*
 * Creates every node's core: node i "booted" at i * period / N on the nodes'
 * clock, so its first sample is due at start + i * period / N. Returns 0,
 * or EX_* after a message.
 */
static int sim_nodes_create(struct sim *s)
{
    struct node_config cfg;
    struct node_diag diag;
    size_t n = s->opts.n_nodes;
    int rc = 0;

    s->start_wall_ms = s->opts.history ? s->opts.history_start_ms : clock_ms(CLOCK_REALTIME);
    sim_sensor_tables(s);
    s->heap = malloc(n * sizeof(*s->heap));
    s->upq = malloc(n * sizeof(*s->upq));
    if (!s->heap || !s->upq) {
        fprintf(stderr, "citysim: out of memory\n");
        return EX_SOFTWARE;
    }
    if (s->opts.update_image && (rc = sim_updates_create(s)) != 0)
        return rc;
    sim_node_config(s, 0, &cfg);
    if (sim_ring_bytes(s, &cfg) != 0)
        return EX_USAGE;
    for (size_t i = 0; i < n; i++) {
        struct sim_node *sn = &s->nodes[i];

        if (sim_node_make(s, i, (uint64_t)i * s->interval_ms / n, &diag) != 0) {
            fprintf(stderr, "citysim: %s: %s\n", sn->id, diag.text);
            return EX_SOFTWARE;
        }
        sn->heap_pos = (uint32_t)s->heap_len;
        s->heap[s->heap_len++] = (uint32_t)i;
        heap_fix(s, sn->heap_pos);
    }
    return 0;
}

/* The slot table and the event queue: every slot can report once, plus commands and connections. */
static int sim_link_init(struct sim *s)
{
    pthread_condattr_t attr;

    s->n_slots = s->opts.max_inflight + SIM_SLOT_HEADROOM;
    s->slots = calloc(s->n_slots, sizeof(*s->slots));
    s->free_slots = malloc(s->n_slots * sizeof(*s->free_slots));
    /* Twice the slots: a slot freed with its connection may be reused before its stale event. */
    s->q.cap = 2 * s->n_slots + SIM_MAX_QUEUED_COMMANDS + 4 * SIM_MAX_CONNECTIONS;
    s->q.ev = calloc(s->q.cap, sizeof(*s->q.ev));
    if (!s->slots || !s->free_slots || !s->q.ev)
        return -ENOMEM;
    if (s->opts.bad_fraction > 0.0 || s->truth) {
        s->scratch = malloc(SIM_OVERSIZE_BYTES);
        s->arena = malloc(SIM_DECODE_ARENA_BYTES);
        if (!s->scratch || !s->arena)
            return -ENOMEM;
    }
    for (size_t i = 0; i < s->n_slots; i++) {
        s->slots[i].sim = s;
        s->slots[i].index = (uint32_t)i;
        s->free_slots[s->n_free++] = (uint32_t)(s->n_slots - 1 - i);
    }
    pthread_mutex_init(&s->q.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->q.cond, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

/* ---- running ---- */

struct sim_tally {
    struct sim_counts c;
    uint64_t at_ms;
};

/* Prints the per-second progress line and advances the reporting state. */
static void sim_report(struct sim *s, struct sim_tally *last)
{
    uint64_t now = mono_ms(), backlog = 0, missed = 0;
    double dt = (double)(now - last->at_ms) / 1000.0;
    char at[40] = "";
    size_t up = 0;

    if (!s->opts.quiet && dt > 0.0) {
        if (s->opts.history) {
            time_t t = (time_t)(sim_wall(s) / 1000);
            struct tm tm;

            if (gmtime_r(&t, &tm))
                strftime(at, sizeof(at), " at %Y-%m-%dT%H:%MZ", &tm);
        }
        for (size_t i = 0; i < s->opts.n_nodes; i++) {
            struct node_stats st;

            node_stats(s->nodes[i].node, &st);
            backlog += st.backlog_frames;
            missed += st.samples_missed;
            up += st.connected != 0;
        }
        fprintf(stderr,
                "citysim: %6.1fs%s published=%.0f/s acked=%.0f/s failed=%" PRIu64
                " inflight=%" PRIu64 " up=%zu backlog=%" PRIu64 " missed=%" PRIu64 "\n",
                sim_elapsed_s(s), at, (double)(s->counts.published - last->c.published) / dt,
                (double)(s->counts.acked - last->c.acked) / dt, s->counts.failed,
                s->counts.published - s->counts.acked - s->counts.failed, up, backlog, missed);
    }
    last->c = s->counts;
    last->at_ms = now;
}

/* Connects every connection; returns 0, EX_USAGE (a URL Paho refuses) or EX_UNAVAILABLE. */
static int sim_connect_all(struct sim *s)
{
    uint64_t deadline = mono_ms() + (SIM_CONNECT_TIMEOUT_S + 2) * 1000u;
    size_t up = 0;

    for (unsigned k = 0; k < s->opts.n_conns; k++) {
        s->conns[k].backoff_ms = SIM_RECONNECT_MIN_MS;
        int rc = conn_start(s, k);

        if (rc != 0) {
            fprintf(stderr, "citysim: cannot %s %s: %s\n",
                    rc == -EINVAL ? "use broker" : "connect to", s->opts.broker, s->conns[k].why);
            return rc == -EINVAL ? EX_USAGE : EX_UNAVAILABLE;
        }
    }
    while (up < s->opts.n_conns && !sim_stop && mono_ms() < deadline) {
        sim_pump(s, SIM_MAX_WAIT_MS);
        up = 0;
        for (unsigned k = 0; k < s->opts.n_conns; k++) {
            if (s->conns[k].state == SIM_CONN_FAILED) {
                fprintf(stderr, "citysim: cannot connect to %s: %s\n", s->opts.broker,
                        s->conns[k].why);
                return EX_UNAVAILABLE;
            }
            up += s->conns[k].state == SIM_CONN_UP;
        }
    }
    if (up < s->opts.n_conns) {
        fprintf(stderr, "citysim: cannot connect to %s: %s\n", s->opts.broker,
                sim_stop ? "interrupted" : "no answer");
        return EX_UNAVAILABLE;
    }
    return 0;
}

/* Starts the connections whose reconnect time came. */
static void sim_reconnect_due(struct sim *s)
{
    for (unsigned k = 0; k < s->opts.n_conns; k++) {
        struct sim_conn *c = &s->conns[k];

        if (c->state == SIM_CONN_DOWN && s->now_ms >= c->retry_ms && conn_start(s, k) != 0)
            conn_schedule(s, k);
    }
}

/* The simulation proper: ticks and events until end_ms (nodes' clock) or a signal. */
static void sim_loop(struct sim *s, uint64_t end_ms, struct sim_tally *last)
{
    uint64_t next_report = mono_ms() + 1000;

    for (;;) {
        size_t ticked;
        uint64_t wait = SIM_MAX_WAIT_MS;

        sim_pump(s, 0);
        s->now_ms = sim_clock(s);
        if (sim_stop || s->now_ms >= end_ms)
            return;
        sim_reconnect_due(s);
        sim_deliver_ups(s);
        if (s->opts.history) {
            sim_history_advance(s, end_ms);
            if (s->now_ms >= end_ms) /* the run covers [start, start + duration) */
                return;
        }
        ticked = sim_tick_due(s, SIM_TICKS_PER_PASS);
        if (mono_ms() >= next_report) {
            sim_report(s, last);
            next_report += 1000;
            if (next_report <= mono_ms())
                next_report = mono_ms() + 1000;
        }
        if (ticked == SIM_TICKS_PER_PASS)
            continue;
        if (s->opts.history) {
            /* Nothing due could go: the clock waits for acknowledgements. */
            if (ticked == 0 && s->virt_ms < end_ms)
                sim_pump(s, SIM_MAX_WAIT_MS);
            continue;
        }
        s->now_ms = sim_clock(s);
        if (s->heap_len > 0 && sim_inflight(s) < s->opts.max_inflight) {
            uint64_t due = s->nodes[s->heap[0]].deadline_ms;

            wait = due > s->now_ms ? due - s->now_ms : 0;
        }
        if (end_ms - s->now_ms < wait)
            wait = end_ms - s->now_ms;
        if (wait > SIM_MAX_WAIT_MS)
            wait = SIM_MAX_WAIT_MS;
        if (wait > 0)
            sim_pump(s, wait);
    }
}

static uint64_t sim_data_inflight(const struct sim *s)
{
    return s->counts.published - s->counts.acked - s->counts.failed;
}

/*
 * After the run: waits up to 10 s for outstanding acknowledgements (a
 * second signal stops the wait), then lets every node publish its death and
 * waits a little for those.
 */
static void sim_wind_down(struct sim *s, struct sim_tally *last)
{
    uint64_t until = mono_ms() + SIM_DRAIN_MS, next_report = mono_ms() + 1000;
    size_t closed = 0;

    while (sim_data_inflight(s) > 0 && mono_ms() < until && sim_stop < 2) {
        sim_pump(s, SIM_MAX_WAIT_MS);
        if (mono_ms() >= next_report) {
            sim_report(s, last);
            next_report = mono_ms() + 1000;
        }
    }
    until = mono_ms() + SIM_CLOSE_MS;
    while ((closed < s->opts.n_nodes || sim_inflight(s) > 0) && mono_ms() < until && sim_stop < 2) {
        while (closed < s->opts.n_nodes && sim_inflight(s) < s->opts.max_inflight)
            node_close(s->nodes[closed++].node);
        sim_pump(s, SIM_MAX_WAIT_MS);
    }
}

/* Disconnects every connection cleanly (bounded) and destroys the clients. */
static void sim_disconnect_all(struct sim *s)
{
    uint64_t until = mono_ms() + SIM_DISCONNECT_MS + 500;
    bool waiting = false;

    for (unsigned k = 0; k < s->opts.n_conns; k++) {
        MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
        struct sim_conn *c = &s->conns[k];

        if (!c->client || c->state != SIM_CONN_UP)
            continue;
        o.timeout = SIM_DISCONNECT_MS;
        o.onSuccess = on_disconnected;
        o.onFailure = on_disconnect_failed;
        o.context = c->client;
        c->disconnected = MQTTAsync_disconnect(c->client->client, &o) != MQTTASYNC_SUCCESS;
        waiting |= !c->disconnected;
    }
    while (waiting && mono_ms() < until) {
        sim_pump(s, SIM_MAX_WAIT_MS);
        waiting = false;
        for (unsigned k = 0; k < s->opts.n_conns; k++)
            waiting |= s->conns[k].client && !s->conns[k].disconnected;
    }
    for (unsigned k = 0; k < s->opts.n_conns; k++)
        conn_drop(s, k);
}

/*
 * Connects, runs for the duration (or until a signal), winds down and
 * prints the summary. Returns the exit code.
 */
static int sim_run(struct sim *s)
{
    uint64_t end_ms = UINT64_MAX, backlog = 0, refused = 0;
    struct sim_tally last = {{0, 0, 0, 0}, 0};
    double secs;
    int rc;

    rc = sim_connect_all(s);
    if (rc != 0)
        goto out;
    s->origin_ms = mono_ms() + (s->interval_ms < SIM_WARMUP_MS ? s->interval_ms : SIM_WARMUP_MS);
    s->now_ms = sim_clock(s);
    if (s->opts.duration_s > 0.0)
        end_ms = s->interval_ms + (uint64_t)llround(s->opts.duration_s * 1000.0);
    else if (s->opts.history) /* until now (checked to be after the start) */
        end_ms = s->interval_ms + (clock_ms(CLOCK_REALTIME) - s->opts.history_start_ms);
    last.at_ms = mono_ms();
    sim_loop(s, end_ms, &last);
    secs = sim_elapsed_s(s);
    sim_wind_down(s, &last);
    if (sim_data_inflight(s) > 0)
        fprintf(stderr, "citysim: %" PRIu64 " frames still unacknowledged, giving up on them\n",
                sim_data_inflight(s));
    for (size_t i = 0; i < s->opts.n_nodes; i++) {
        struct node_stats st;

        node_stats(s->nodes[i].node, &st);
        backlog += st.backlog_frames;
        refused += st.frames_refused;
    }
    if (backlog > 0)
        fprintf(stderr, "citysim: %" PRIu64 " frames never left the nodes' rings\n", backlog);
    if (s->log_suppressed > 0)
        fprintf(stderr, "citysim: (%" PRIu64 " more messages suppressed)\n", s->log_suppressed);
    if (refused > 0)
        fprintf(stderr, "citysim: %" PRIu64 " frames could not be encoded or were refused\n",
                refused);
    for (size_t i = 0; i < s->opts.n_nodes; i++) {
        node_free(s->nodes[i].node);
        s->nodes[i].node = NULL;
    }
    sim_disconnect_all(s);
    printf("citysim: published=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64
           " rate=%.1f/s bad=%" PRIu64 "\n",
           s->counts.published, s->counts.acked, s->counts.failed,
           secs > 0.0 ? (double)s->counts.published / secs : 0.0, s->counts.bad);
    fflush(stdout);
    if (refused > 0)
        rc = EX_SOFTWARE;
    else if (s->counts.acked != s->counts.published || backlog > 0)
        rc = EX_UNAVAILABLE;
out:
    for (unsigned k = 0; k < s->opts.n_conns; k++)
        conn_drop(s, k);
    return rc;
}

/*
 * Writes the device registry (INI, one [device ID] section per node, then one
 * [site NAME] section per site with its road's free-flow speed) to path,
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
    fprintf(fp,
            "# citygate device registry, written by citysim %s: one [device ID] section per "
            "node,\n# one [site NAME] section per site with its road's free-flow speed.\n"
            "# key = HMAC-SHA256(fleet key, device id), in hex. Keep this file secret.\n",
            cli_version());
    for (unsigned long i = 0; i < s->opts.n_nodes; i++) {
        const struct sim_node *sn = &s->nodes[i];

        fprintf(fp, "\n[device %s]\nsite = %s\nkey = ", sn->id, s->sites[sn->site]);
        for (size_t k = 0; k < sizeof(sn->key); k++)
            fprintf(fp, "%02x", sn->key[k]);
        fprintf(fp, "\nsensors = %s\n", sim_kinds[sn->kind].sensor);
    }
    for (unsigned long i = 0; i < s->opts.n_sites; i++)
        fprintf(fp, "\n[site %s]\nfree_flow_kmh = %g\n", s->sites[i],
                drv_sim_free_speed_kmh(drv_sim_site_road(i).profile));
    if (fflush(fp) != 0 || ferror(fp))
        rc = -(errno ? errno : EIO);
    if (!to_stdout && fclose(fp) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; s->nodes && i < s->opts.n_nodes; i++) {
        node_free(s->nodes[i].node);
        free(s->nodes[i].ring_area);
        if (s->nodes[i].update)
            sim_update_node_fini(s->nodes[i].update);
    }
    free(s->updates);
    sim_update_fleet_fini(&s->update_fleet);
    for (size_t i = 0; s->q.ev && i < s->q.count; i++) {
        free(s->q.ev[(s->q.head + i) % s->q.cap].topic);
        free(s->q.ev[(s->q.head + i) % s->q.cap].payload);
    }
    free(s->nodes);
    free(s->sites);
    free(s->heap);
    free(s->upq);
    for (size_t i = 0; s->slots && i < s->n_slots; i++)
        free(s->slots[i].copy);
    free(s->slots);
    free(s->free_slots);
    free(s->q.ev);
    free(s->scratch);
    free(s->arena);
}

/* ---- the command line ---- */

/*
 * Parses a comma-separated list of names from table (n names; NULL entries
 * are skipped) into out (at most cap indexes). Returns 0 or -EINVAL.
 */
static int parse_names(const char *s, const char *const *table, size_t n, uint8_t *out, size_t cap,
                       size_t *n_out)
{
    size_t count = 0;

    for (const char *p = s;; p++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t k = 0;

        while (k < n && !(table[k] && strlen(table[k]) == len && strncmp(table[k], p, len) == 0))
            k++;
        if (k == n || count == cap)
            return -EINVAL;
        out[count++] = (uint8_t)k;
        if (!comma)
            break;
        p = comma;
    }
    *n_out = count;
    return 0;
}

/*
 * Parses a UTC date, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with an optional Z,
 * into ms since the epoch. Returns 0 or -EINVAL.
 */
static int parse_utc(const char *text, uint64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    struct tm tm = {0};
    time_t t;

    if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return -EINVAL;
    if (text[used] == 'T') {
        int more = 0;
        const char *p = text + used + 1;

        if (sscanf(p, "%2d:%2d%n", &h, &mi, &more) != 2 || more != 5)
            return -EINVAL;
        used += 1 + more;
        if (text[used] == ':') {
            if (sscanf(text + used + 1, "%2d%n", &sec, &more) != 1 || more != 2)
                return -EINVAL;
            used += 3;
        }
    }
    if (text[used] == 'Z')
        used++;
    if (text[used] != '\0' || y < 1970)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* timegm() normalises 2026-02-30 to March: a date that moved was not a date. */
    if (t < 0 || tm.tm_mday != d || tm.tm_mon != mo - 1 || tm.tm_hour != h || tm.tm_min != mi ||
        tm.tm_sec != sec)
        return -EINVAL;
    *out = (uint64_t)t * 1000u;
    return 0;
}

/* A duration: seconds, or with a unit (90s, 15m, 28d). Returns 0 or -EINVAL. */
static int parse_seconds(const char *text, double max_s, double *out)
{
    uint64_t ms;
    double sec;

    if (gw_parse_real(text, &sec) != 0) {
        if (gw_parse_duration_ms(text, &ms) != 0)
            return -EINVAL;
        sec = (double)ms / 1000.0;
    }
    if (sec < 0.0 || sec > max_s)
        return -EINVAL;
    *out = sec;
    return 0;
}

/* Parses SITE@TIME ("site-03@90s") into the next incident of o. Returns 0 or -1. */
static int parse_incident(const char *text, struct sim_opts *o)
{
    const char *at = strchr(text, '@');
    char site[SIM_MAX_ID];
    uint64_t n, after_ms;

    if (!at || o->n_incidents == SIM_MAX_INCIDENTS || (size_t)(at - text) >= sizeof site ||
        strncmp(text, "site-", 5) != 0)
        return -1;
    memcpy(site, text + 5, (size_t)(at - text) - 5);
    site[at - text - 5] = '\0';
    if (gw_parse_uint(site, &n) != 0 || n >= SIM_MAX_SITES ||
        gw_parse_duration_ms(at + 1, &after_ms))
        return -1;
    o->incidents[o->n_incidents].site = (unsigned long)n;
    o->incidents[o->n_incidents].after_ms = after_ms;
    o->n_incidents++;
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: citysim [OPTION]...\n"
            "Simulate edge nodes -- the citynode firmware core with simulated sensors --\n"
            "publishing signed frames on city/v1/<site>/<node>/data over one MQTT connection.\n"
            "\n"
            "  -b, --broker URL        MQTT broker (default " SIM_DEFAULT_BROKER ")\n"
            "  -n, --nodes N           simulated nodes, 1..%lu (default 20)\n"
            "  -s, --sites S           sites; node i belongs to site-<i mod S> (default 4)\n"
            "  -r, --rate HZ           frames per second per node, %g..%g (default 1)\n"
            "      --interval TIME     the period instead of --rate (100ms..1000s: 1s, 15m)\n"
            "  -d, --duration TIME     stop after this long (seconds, or 90s, 2h, 28d); 0 runs\n"
            "                          until SIGINT/SIGTERM, with --start until now (default 0)\n"
            "      --start DATE        history: the nodes' clock starts at DATE (UTC,\n"
            "                          YYYY-MM-DD[THH:MM[:SS]]) and runs as fast as the broker\n"
            "                          acknowledges\n"
            "      --truth FILE        write every acknowledged frame's readings and vehicles\n"
            "      --capacity VPH      traffic: vehicles per hour and lane at the peak\n"
            "                          (default: the road's, 900 urban, 1800 motorway)\n"
            "      --lanes N           traffic: lanes of every site, 1..4 (default: the road's,\n"
            "                          2 urban, 3 motorway)\n"
            "      --seed N            seed of boot ids, readings and bad nodes (default: random)\n"
            "      --qos 0|1           MQTT QoS of the frames (default 1)\n"
            "  -k, --fleet-key HEX     fleet key, %d..%d bytes; device key = HMAC-SHA256(fleet\n"
            "                          key, device id) (default: the public demo key)\n"
            "      --mix LIST          sensor kinds given to the nodes in turn, of traffic, air,\n"
            "                          noise, strain, parking, tunnel, power (default traffic)\n"
            "      --bad-fraction F    fraction of nodes whose frames are faulty, 0..1 "
            "(default 0)\n"
            "      --bad-kinds LIST    faults given to the bad nodes in turn, of bad-signature,\n"
            "                          wrong-site, out-of-range, duplicate, future, garbage,\n"
            "                          oversize (default: all)\n"
            "      --connections N     MQTT connections the nodes share, 1..%lu (default 1)\n"
            "      --max-inflight N    messages not yet acknowledged at most, 1..%lu "
            "(default %lu)\n"
            "      --ring-bytes SIZE   each node's store-and-forward ring, in RAM (default 16KiB,\n"
            "                          more when four frames need more)\n"
            "      --registry FILE     write the device registry (INI) to FILE ('-': stdout) "
            "and exit\n"
            "      --incident SITE@TIME  an incident on every node of SITE (site-NN) from TIME\n"
            "                          after the start (90s, 2m): speeds fall to a sixth\n"
            "                          within 30 s, for 20 minutes; repeatable (16)\n"
            "      --update-image FILE the nodes take firmware updates over MQTT, starting on\n"
            "                          this signed image (needs --update-key)\n"
            "      --update-key FILE   the public key (PEM) the nodes' boot stage trusts\n"
            "      --confirm-frames N  a test boot confirms after N live frames (default 3)\n"
            "      --update-fail-fraction F  fraction of nodes that fail their updates, 0..1\n"
            "      --update-fail-kinds LIST  how they fail, in turn, of corrupt, refuse, crash\n"
            "                          (default: all)\n"
            "      --quiet             no per-second progress lines on stderr\n"
            "  -h, --help              show this help and exit\n"
            "      --version           show the version and exit\n"
            "\n"
            "Exit status: 0 every frame published was acknowledged; 64 usage error;\n"
            "69 broker unreachable or frames left unacknowledged; 70 internal error;\n"
            "74 the registry or the truth could not be written.\n",
            SIM_MAX_NODES, SIM_MIN_RATE_HZ, SIM_MAX_RATE_HZ, WIRE_MIN_KEY_BYTES, WIRE_MAX_KEY_BYTES,
            SIM_MAX_CONNECTIONS, SIM_MAX_INFLIGHT_LIMIT, SIM_DEFAULT_MAX_INFLIGHT);
}

enum {
    OPT_SEED = 256,
    OPT_QOS,
    OPT_MAX_INFLIGHT,
    OPT_REGISTRY,
    OPT_QUIET,
    OPT_MIX,
    OPT_BAD_FRACTION,
    OPT_BAD_KINDS,
    OPT_CONNECTIONS,
    OPT_RING_BYTES,
    OPT_INCIDENT,
    OPT_INTERVAL,
    OPT_START,
    OPT_TRUTH,
    OPT_CAPACITY,
    OPT_LANES,
    OPT_UPDATE_IMAGE,
    OPT_UPDATE_KEY,
    OPT_CONFIRM_FRAMES,
    OPT_UPDATE_FAIL_FRACTION,
    OPT_UPDATE_FAIL_KINDS
};

/* Sets what the command line does not: every default. */
static void sim_opts_defaults(struct sim_opts *o)
{
    o->broker = SIM_DEFAULT_BROKER;
    o->n_nodes = 20;
    o->n_sites = 4;
    o->rate_hz = 1.0;
    o->qos = 1;
    o->max_inflight = SIM_DEFAULT_MAX_INFLIGHT;
    o->n_conns = 1;
    o->mix[0] = 0; /* traffic */
    o->n_mix = 1;
    for (size_t k = 1; k < SIM_N_FAULTS; k++)
        o->bad_kinds[o->n_bad_kinds++] = (uint8_t)k;
    o->fleet_key_len = (size_t)wire_key_from_hex(SIM_DEMO_FLEET_KEY, o->fleet_key);
    o->confirm_frames = 3;
    for (size_t k = 1; k < SIM_UPDATE_N_FAILS; k++)
        o->update_fail_kinds[o->n_update_fail_kinds++] = (uint8_t)k;
}

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
        {"mix", required_argument, NULL, OPT_MIX},
        {"bad-fraction", required_argument, NULL, OPT_BAD_FRACTION},
        {"bad-kinds", required_argument, NULL, OPT_BAD_KINDS},
        {"connections", required_argument, NULL, OPT_CONNECTIONS},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"ring-bytes", required_argument, NULL, OPT_RING_BYTES},
        {"registry", required_argument, NULL, OPT_REGISTRY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"incident", required_argument, NULL, OPT_INCIDENT},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"start", required_argument, NULL, OPT_START},
        {"truth", required_argument, NULL, OPT_TRUTH},
        {"capacity", required_argument, NULL, OPT_CAPACITY},
        {"lanes", required_argument, NULL, OPT_LANES},
        {"update-image", required_argument, NULL, OPT_UPDATE_IMAGE},
        {"update-key", required_argument, NULL, OPT_UPDATE_KEY},
        {"confirm-frames", required_argument, NULL, OPT_CONFIRM_FRAMES},
        {"update-fail-fraction", required_argument, NULL, OPT_UPDATE_FAIL_FRACTION},
        {"update-fail-kinds", required_argument, NULL, OPT_UPDATE_FAIL_KINDS},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    const char *kind_names[SIM_N_KINDS];
    const char *what = NULL; /* an option whose value is refused, for the message below */
    uint64_t u = 0;          /* a whole number's value, used only when rc is 0 */
    bool seed_given = false;
    int c, rc = 0, key_len;

    for (size_t k = 0; k < SIM_N_KINDS; k++)
        kind_names[k] = sim_kinds[k].name;
    sim_opts_defaults(o);
    while ((c = getopt_long(argc, argv, "b:n:s:r:d:k:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->broker = optarg;
            what = *optarg ? NULL : "--broker";
            break;
        case 'n':
            rc = cli_uint_arg("--nodes", optarg, 1, SIM_MAX_NODES, &u);
            o->n_nodes = (unsigned long)u;
            break;
        case 's':
            rc = cli_uint_arg("--sites", optarg, 1, SIM_MAX_SITES, &u);
            o->n_sites = (unsigned long)u;
            break;
        case 'r':
            rc = cli_real_arg("--rate", optarg, SIM_MIN_RATE_HZ, SIM_MAX_RATE_HZ, &o->rate_hz);
            break;
        case 'd':
            what = parse_seconds(optarg, SIM_MAX_DURATION_S, &o->duration_s) ? "--duration" : NULL;
            break;
        case OPT_INTERVAL: {
            uint64_t ms = 0;

            what = gw_parse_duration_ms(optarg, &ms) || ms < SIM_MIN_INTERVAL_MS ||
                           ms > SIM_MAX_INTERVAL_MS
                       ? "--interval"
                       : NULL;
            o->rate_hz = what ? o->rate_hz : 1000.0 / (double)ms;
            break;
        }
        case OPT_START:
            what = parse_utc(optarg, &o->history_start_ms) ? "--start" : NULL;
            o->history = true;
            break;
        case OPT_TRUTH:
            o->truth_path = optarg;
            what = *optarg ? NULL : "--truth";
            break;
        case OPT_LANES:
            rc = cli_uint_arg("--lanes", optarg, 1, 4, &u);
            snprintf(o->lanes, sizeof(o->lanes), "%" PRIu64, u);
            break;
        case OPT_CAPACITY:
            rc = cli_real_arg("--capacity", optarg, 1.0, 3000.0, &o->capacity_vph);
            break;
        case OPT_SEED:
            rc = cli_uint_arg("--seed", optarg, 0, UINT64_MAX, &o->seed);
            seed_given = true;
            break;
        case OPT_QOS:
            rc = cli_uint_arg("--qos", optarg, 0, 1, &u);
            o->qos = (int)u;
            break;
        case 'k':
            key_len = wire_key_from_hex(optarg, o->fleet_key);
            what = key_len < 0 ? "--fleet-key" : NULL;
            o->fleet_key_len = (size_t)key_len;
            break;
        case OPT_MIX:
            what = parse_names(optarg, kind_names, SIM_N_KINDS, o->mix, sizeof(o->mix), &o->n_mix)
                       ? "--mix"
                       : NULL;
            break;
        case OPT_BAD_FRACTION:
            rc = cli_real_arg("--bad-fraction", optarg, 0.0, 1.0, &o->bad_fraction);
            break;
        case OPT_BAD_KINDS:
            /* Index 0 is "none", which is not a fault one can ask for. */
            what = parse_names(optarg, sim_fault_names + 1, SIM_N_FAULTS - 1, o->bad_kinds,
                               sizeof(o->bad_kinds), &o->n_bad_kinds)
                       ? "--bad-kinds"
                       : NULL;
            for (size_t k = 0; !what && k < o->n_bad_kinds; k++)
                o->bad_kinds[k]++;
            break;
        case OPT_CONNECTIONS:
            rc = cli_uint_arg("--connections", optarg, 1, SIM_MAX_CONNECTIONS, &u);
            o->n_conns = (unsigned long)u;
            break;
        case OPT_MAX_INFLIGHT:
            rc = cli_uint_arg("--max-inflight", optarg, 1, SIM_MAX_INFLIGHT_LIMIT, &u);
            o->max_inflight = (unsigned long)u;
            break;
        case OPT_RING_BYTES:
            rc = cli_size_arg("--ring-bytes", optarg, NODE_RING_MIN_BYTES, SIM_MAX_RING_BYTES, &u);
            o->ring_bytes = (unsigned long)u;
            break;
        case OPT_REGISTRY:
            o->registry_path = optarg;
            what = *optarg ? NULL : "--registry";
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_INCIDENT:
            what = parse_incident(optarg, o) ? "--incident" : NULL;
            break;
        case OPT_UPDATE_IMAGE:
            o->update_image = optarg;
            what = *optarg ? NULL : "--update-image";
            break;
        case OPT_UPDATE_KEY:
            o->update_key = optarg;
            what = *optarg ? NULL : "--update-key";
            break;
        case OPT_CONFIRM_FRAMES:
            rc = cli_uint_arg("--confirm-frames", optarg, 1, 1000000, &u);
            o->confirm_frames = (unsigned long)u;
            break;
        case OPT_UPDATE_FAIL_FRACTION:
            rc = cli_real_arg("--update-fail-fraction", optarg, 0.0, 1.0, &o->update_fail_fraction);
            break;
        case OPT_UPDATE_FAIL_KINDS:
            /* Index 0 is "none", which is not a failure one can ask for. */
            what = parse_names(optarg, sim_update_fail_names + 1, SIM_UPDATE_N_FAILS - 1,
                               o->update_fail_kinds, sizeof(o->update_fail_kinds),
                               &o->n_update_fail_kinds)
                       ? "--update-fail-kinds"
                       : NULL;
            for (size_t k = 0; !what && k < o->n_update_fail_kinds; k++)
                o->update_fail_kinds[k]++;
            break;
        case 'h':
            usage(stdout);
            *exit_code = EX_OK;
            return -1;
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
    if (optind < argc) {
        fprintf(stderr, "citysim: unexpected argument '%s'\n", argv[optind]);
        *exit_code = EX_USAGE;
        return -1;
    }
    for (size_t k = 0; k < o->n_incidents; k++) {
        if (o->incidents[k].site >= o->n_sites) {
            fprintf(stderr, "citysim: --incident: site-%02lu is not one of the %lu sites\n",
                    o->incidents[k].site, o->n_sites);
            *exit_code = EX_USAGE;
            return -1;
        }
    }
    if (o->history && o->duration_s == 0.0 &&
        o->history_start_ms >= clock_ms(CLOCK_REALTIME) - (uint64_t)llround(1000.0 / o->rate_hz)) {
        fprintf(stderr, "citysim: --start without --duration runs until now: give a date at least "
                        "one period ago\n");
        *exit_code = EX_USAGE;
        return -1;
    }
    if (!o->update_image != !o->update_key) {
        fprintf(stderr, "citysim: --update-image and --update-key go together\n");
        *exit_code = EX_USAGE;
        return -1;
    }
    if (o->n_conns > o->n_nodes)
        o->n_conns = o->n_nodes;
    if (!seed_given) {
        /* A fresh seed per run gives fresh boot ids, as a real reboot would. */
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed =
            (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
    }
    return 0;
}

/* Names the nodes that fail their updates on purpose, and how (the first 100). */
static void sim_print_update_fails(const struct sim *s)
{
    size_t shown = 0, n_fail = 0;

    for (size_t i = 0; s->updates && i < s->opts.n_nodes; i++)
        n_fail += s->updates[i].fail != SIM_UPDATE_FAIL_NONE;
    if (n_fail == 0)
        return;
    fprintf(stderr, "citysim: %zu nodes fail their updates:", n_fail);
    for (size_t i = 0; i < s->opts.n_nodes && shown < 100; i++)
        if (s->updates[i].fail != SIM_UPDATE_FAIL_NONE) {
            fprintf(stderr, " %s=%s", s->nodes[i].id, sim_update_fail_names[s->updates[i].fail]);
            shown++;
        }
    fprintf(stderr, "%s\n", shown < n_fail ? " ..." : "");
}

/* Prints who misbehaves how, once, unless --quiet. */
static void sim_print_start(const struct sim *s, double create_s, size_t bytes_per_node)
{
    size_t per_fault[SIM_N_FAULTS] = {0}, n_bad = 0;

    fprintf(stderr,
            "citysim: %lu nodes on %lu sites at %g Hz, QoS %d, seed %" PRIu64
            ", broker %s, %lu connection%s\n",
            s->opts.n_nodes, s->opts.n_sites, s->opts.rate_hz, s->opts.qos, s->opts.seed,
            s->opts.broker, s->opts.n_conns, s->opts.n_conns == 1 ? "" : "s");
    if (s->opts.history) {
        time_t t = (time_t)(s->opts.history_start_ms / 1000);
        char from[32] = "?";
        struct tm tm;

        if (gmtime_r(&t, &tm))
            strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "citysim: history from %s, as fast as the broker acknowledges\n", from);
    }
    if (bytes_per_node > 0)
        fprintf(stderr, "citysim: nodes created in %.2f s, %zu bytes of heap per node\n", create_s,
                bytes_per_node);
    sim_print_update_fails(s);
    for (size_t i = 0; i < s->opts.n_nodes; i++)
        per_fault[s->nodes[i].fault]++;
    n_bad = s->opts.n_nodes - per_fault[SIM_FAULT_NONE];
    if (n_bad == 0)
        return;
    fprintf(stderr, "citysim: %zu nodes misbehave:", n_bad);
    for (size_t k = 1; k < SIM_N_FAULTS; k++)
        if (per_fault[k] > 0)
            fprintf(stderr, " %s=%zu", sim_fault_names[k], per_fault[k]);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    static struct sim s;
    struct sigaction sa;
    struct mallinfo2 before, after;
    uint64_t t0;
    int rc = EX_OK;

    cli_init(argv[0]);
    if (sim_parse_args(&s.opts, argc, argv, &rc) != 0)
        return rc;
    s.interval_ms = (uint32_t)llround(1000.0 / s.opts.rate_hz);
    s.jitter_rng = rng_seed_for(s.opts.seed, UINT32_MAX);
    s.utc_offset_min = local_utc_offset_min();
    before = mallinfo2();
    t0 = mono_ms();
    if (sim_identities(&s) != 0 || sim_pick_bad(&s) != 0) {
        fprintf(stderr, "citysim: cannot create %lu nodes\n", s.opts.n_nodes);
        rc = EX_SOFTWARE;
        goto out;
    }
    if (s.opts.registry_path) {
        int err = sim_write_registry(&s, s.opts.registry_path);

        if (err != 0) {
            fprintf(stderr, "citysim: cannot write %s: %s\n", s.opts.registry_path, strerror(-err));
            rc = EX_IOERR;
        }
        goto out;
    }
    if (s.opts.truth_path && !(s.truth = fopen(s.opts.truth_path, "w"))) {
        fprintf(stderr, "citysim: cannot write %s: %s\n", s.opts.truth_path, strerror(errno));
        rc = EX_IOERR;
        goto out;
    }
    if (s.truth)
        fprintf(s.truth,
                "# citysim ground truth %s: F site node boot seq timestamp_ms interval_ms;"
                " R quantity lane class quality value; V lane detected_ms speed_kmh "
                "length_m class headway_ms\n",
                cli_version());
    rc = sim_nodes_create(&s);
    if (rc != 0)
        goto out;
    after = mallinfo2();
    if (sim_link_init(&s) != 0) {
        fprintf(stderr, "citysim: out of memory\n");
        rc = EX_SOFTWARE;
        goto out;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sim_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    if (!s.opts.quiet)
        sim_print_start(&s, (double)(mono_ms() - t0) / 1000.0,
                        (after.uordblks - before.uordblks) / s.opts.n_nodes);
    rc = sim_run(&s);
    pthread_cond_destroy(&s.q.cond);
    pthread_mutex_destroy(&s.q.lock);
out:
    if (s.truth && (fclose(s.truth) != 0) && rc == EX_OK) {
        fprintf(stderr, "citysim: cannot write %s: %s\n", s.opts.truth_path, strerror(errno));
        rc = EX_IOERR;
    }
    sim_free(&s);
    return rc;
}
