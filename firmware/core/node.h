/*
 * node.h -- the citynode edge-node core: sampling, framing, uplink with
 * store-and-forward, birth/death and commands.
 *
 * A node samples its sensors (drivers from drivers/driver.h) on absolute
 * deadlines, turns each sampling into one signed frame (schemas/wire.h) and
 * publishes it at QoS 1 on city/v1/<site>/<node>/data. While the uplink is
 * down, frames go to the on-disk ring (ring.h) with the backlog flag set;
 * after a reconnect the ring drains in order at a bounded rate, interleaved
 * with live frames. docs/firmware.md describes the guarantees.
 *
 * The core has no globals and no POSIX calls: it is driven by an external
 * tick and by the network's events, with the machine behind node_hal.h. Many
 * nodes can live in one process (tools/citysim). All functions of one node
 * must be called from one thread at a time.
 */
#ifndef CITYGATE_NODE_H
#define CITYGATE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "node_hal.h"

#define NODE_MAX_ID 64
#define NODE_MIN_INTERVAL_MS 100u
#define NODE_MAX_INTERVAL_MS 86400000u
/* The largest command: an update block (4096 bytes) and its envelope. */
#define NODE_MAX_CMD_BYTES 6144
#define NODE_MAX_TOPIC 160
#define NODE_MAX_SENSORS 64

struct node;
struct node_update_port;

/* One configured sensor; everything is borrowed and must outlive node_new(). */
struct node_sensor_config {
    const char *name;   /* unique on the node, [A-Za-z0-9._-]{1,64}: the readings' sensor_id */
    const char *driver; /* the driver's name, for the birth message's inventory */
    const struct drv_ops *ops;
    const struct drv_param *params;
    size_t n_params;
};

struct node_config {
    const char *device_id; /* [A-Za-z0-9._-]{1,64} */
    const char *site_id;   /* [A-Za-z0-9._-]{1,64} */
    const uint8_t *key;    /* the per-device HMAC key, 16 to 64 bytes */
    size_t key_len;
    const char *firmware_version;   /* [A-Za-z0-9._+-]{1,64} */
    uint32_t interval_ms;           /* sampling and publish period */
    uint32_t max_inflight;          /* unconfirmed publishes at once, 4 .. 1024 */
    uint32_t drain_per_s;           /* backlog frames per second after a reconnect */
    uint32_t drain_burst;           /* backlog frames sent at once at most */
    uint32_t reconnect_min_ms;      /* first reconnect delay; doubles up to ... */
    uint32_t reconnect_max_ms;      /* ... this cap, with +-20 % jitter */
    uint32_t sync_interval_ms;      /* ring made durable this often; 0: after every append */
    size_t max_frame_bytes;         /* cap of one encoded frame and one ring record */
    size_t max_readings_per_sensor; /* room given to each driver per sampling */
    size_t max_vehicles_per_sensor;
    const struct node_sensor_config *sensors;
    size_t n_sensors;
    /* Firmware updates over MQTT (update.h), borrowed; NULL: the node refuses them. */
    const struct node_update_port *update;
};

/* What the node counts; see node_stats(). */
struct node_stats {
    uint64_t boot_id;
    uint64_t seq;                /* the last frame's sequence number */
    uint64_t frames_live;        /* handed to the network as live frames */
    uint64_t frames_stored;      /* appended to the ring */
    uint64_t frames_drained;     /* backlog frames confirmed by the broker */
    uint64_t frames_confirmed;   /* live frames confirmed by the broker */
    uint64_t frames_refused;     /* refused for good by the network or the encoder */
    uint64_t samples_missed;     /* sampling deadlines skipped because the node was late */
    uint64_t backlog_frames;     /* records in the ring */
    uint64_t backlog_dropped;    /* records the ring dropped (oldest first) since boot */
    uint64_t ring_corrupt_bytes; /* bytes skipped as cut or corrupt records at open */
    uint64_t reconnects;         /* connections that came up */
    uint64_t commands;           /* commands received, valid or not */
    uint64_t commands_refused;   /* not signed for this node, its boot and a fresh counter */
    uint64_t update_refused;     /* update commands refused (update.h: bad input of any kind) */
    uint64_t update_duplicates;  /* update blocks received again after they were held */
    uint64_t update_blocks;      /* update blocks written */
    uint32_t inflight;           /* unconfirmed publishes now */
    uint32_t interval_ms;        /* the sampling period in force */
    int connected;
};

/* 1 when s is a valid device, site, sensor or driver id: [A-Za-z0-9._-]{1,64}. Any thread. */
int node_valid_id(const char *s);

/* Fills cfg with the defaults (interval 1 s, window 32, drain 20/s, ...); identity is left NULL. */
void node_config_defaults(struct node_config *cfg);

/* What went wrong in node_new(), for the log. */
struct node_diag {
    char text[192];
};

/* The ports a node runs on (node_hal.h): its clock and randomness, its ring's storage, its uplink.
 */
struct node_ports {
    struct node_hal hal;
    struct node_storage storage;
    struct node_net net;
};

/*
 * Creates a node: checks cfg, draws a boot id, opens the sensors and the ring
 * in ports->storage. cfg is copied where needed (its strings, key and sensor
 * table stay borrowed and must outlive the node); ports is copied (what its
 * members point to must outlive the node). now_ms is the monotonic clock;
 * the first sampling is one interval later. On success sets *out (caller
 * frees with node_free()). Returns 0 or a negative enum node_err with diag
 * filled.
 */
int node_new(const struct node_config *cfg, const struct node_ports *ports, uint64_t now_ms,
             struct node **out, struct node_diag *diag);

/*
 * Frees the node: drops the connection (cleanly) if it is up, takes back
 * unconfirmed frames into the ring, makes the ring durable and closes the
 * sensors. NULL is a no-op.
 */
void node_free(struct node *n);

/*
 * Does everything that is due at monotonic time now_ms: (re)connecting after
 * the backoff, sampling, draining the backlog, flushing the ring. Returns 0
 * or a negative enum node_err for a storage failure (the node keeps going).
 */
int node_tick(struct node *n, uint64_t now_ms);

/* The monotonic time at which node_tick() has something to do next. */
uint64_t node_next_deadline(const struct node *n);

/* The network's events (see struct node_net_ops): connected and subscribed. */
void node_net_up(struct node *n, uint64_t now_ms);
/* The connection was lost or could not be made; unconfirmed publishes are forgotten by the net. */
void node_net_down(struct node *n, uint64_t now_ms);
/* The publish with ref was confirmed (ok nonzero) or failed. */
void node_net_published(struct node *n, uint32_t ref, int ok);
/* A message arrived on the command topic (payload borrowed for the call). */
void node_command(struct node *n, const uint8_t *payload, size_t len, uint64_t now_ms);

/*
 * Begins a clean shutdown: stops sampling and draining, publishes the death
 * message (retained) if connected. Keep delivering events until
 * node_stats().inflight is 0 or a deadline passes, then node_free().
 */
void node_close(struct node *n);

/*
 * The port confirmed the running image (self-confirmation under the boot
 * stage): an update on trial is CONFIRMED now, and the node says so.
 */
void node_image_confirmed(struct node *n);

/* Fills *st. */
void node_stats(const struct node *n, struct node_stats *st);

/* The topics of this node (e.g. "city/v1/<site>/<node>/data"); never NULL. */
const char *node_topic_data(const struct node *n);
const char *node_topic_status(const struct node *n);
const char *node_topic_cmd(const struct node *n);
const char *node_topic_update(const struct node *n);

#endif
