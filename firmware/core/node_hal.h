/*
 * node_hal.h -- what the portable node core needs from the machine it runs on.
 *
 * The core (scheduler, framing, ring, commands) is plain C with no POSIX
 * calls, so that it can be built for a microcontroller. Everything it needs
 * from outside comes through the small interfaces below, each a const vtable
 * plus a context pointer: clocks, randomness and a log hook (struct node_hal),
 * a byte-addressable storage region for the store-and-forward ring (struct
 * node_storage) and the MQTT uplink (struct node_net). The Linux port lives in
 * firmware/linux/ (files, clock_gettime, getrandom, Paho); the unit tests use
 * fakes; tools/citysim will share one MQTT connection among many nodes.
 *
 * Nothing here is called from more than one thread at a time: a node is
 * driven by one thread (node_tick() and the node_net_*() entry points), and
 * the HAL functions are only called from inside those calls.
 */
#ifndef CITYGATE_NODE_HAL_H
#define CITYGATE_NODE_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Why a node call failed. Functions return 0 or one of these, negated. */
enum node_err {
    NODE_OK = 0,
    NODE_ENOMEM,   /* an allocation failed */
    NODE_EINVAL,   /* a bad argument or configuration value */
    NODE_EIO,      /* the storage failed */
    NODE_ERETRY,   /* not now (not connected, window full); try again later */
    NODE_ENET,     /* the network refused the request for good */
    NODE_ETOOBIG,  /* a record or frame is larger than its cap */
    NODE_ECORRUPT, /* stored data failed its check */
    NODE_EDRIVER,  /* a sensor driver failed to open or sample */
    NODE_EEMPTY,   /* nothing to read */
    NODE_N_ERRS
};

/* Human text for an error ("storage failed"); never NULL. */
const char *node_strerror(int err);

enum node_log_level { NODE_LOG_ERROR, NODE_LOG_WARN, NODE_LOG_INFO };

/* Clocks, randomness and logging. */
struct node_hal_ops {
    /* Monotonic milliseconds (never goes back; any origin). */
    uint64_t (*now_ms)(void *ctx);
    /* Wall clock: milliseconds since the Unix epoch, UTC. */
    uint64_t (*wall_ms)(void *ctx);
    /* Fills buf with len random bytes; returns 0 or a negative enum node_err. */
    int (*random)(void *ctx, void *buf, size_t len);
    /*
     * One event, one line, without a newline (line is borrowed for the call).
     * The port decides where it goes and rate-limits repeats. May be NULL.
     */
    void (*log)(void *ctx, enum node_log_level level, const char *line);
    /* Asks the port to restart the node after node_tick() returns. May be NULL. */
    void (*reboot)(void *ctx);
};

struct node_hal {
    const struct node_hal_ops *ops;
    void *ctx;
};

/*
 * A byte-addressable region of size_bytes for the ring (a file on Linux, a
 * flash partition on a microcontroller). read and write return 0 or a
 * negative enum node_err; a write may be cut short by a power loss, which is
 * exactly what the ring's record CRCs are for. sync makes every completed
 * write durable (fsync); it may be slow and is called at a bounded rate.
 */
struct node_storage_ops {
    int (*read)(void *ctx, uint64_t off, void *buf, size_t len);
    int (*write)(void *ctx, uint64_t off, const void *buf, size_t len);
    int (*sync)(void *ctx);
};

struct node_storage {
    const struct node_storage_ops *ops;
    void *ctx;
    uint64_t size_bytes;
};

/* What the node asks the network to connect with; everything is borrowed for the call. */
struct node_connect {
    const char *client_id;  /* the device id: a fixed id for a persistent session */
    const char *will_topic; /* .../status */
    const uint8_t *will;    /* the death message, published retained at QoS 1 */
    size_t will_len;
    const char *cmd_topic; /* .../cmd, to subscribe at QoS 1 once connected */
};

/* One message to publish: all borrowed for the call (copied if kept). */
struct node_publish {
    const char *topic;
    const uint8_t *payload;
    size_t len;
    int qos;
    int retained;
};

/*
 * The MQTT uplink. The network reports back through the node_net_*() entry
 * points of node.h, always from the node's thread (a port with its own
 * threads queues its events and delivers them from there).
 *
 * The contract that makes store-and-forward exact: an accepted publish is
 * reported exactly once, as confirmed (PUBACK) or failed, unless the
 * connection is lost first; when it is lost (node_net_down()), the network
 * forgets every unconfirmed publish and never resends it on its own. The node
 * then owns those frames again and puts them back in its ring.
 */
struct node_net_ops {
    /* Starts connecting (asynchronously); node_net_up() or node_net_down() follows. */
    int (*connect)(void *ctx, const struct node_connect *c);
    /*
     * Queues one message m. ref is echoed by node_net_published(). Returns 0
     * when accepted, -NODE_ERETRY when not connected or full, -NODE_ENET
     * when refused for good.
     */
    int (*publish)(void *ctx, const struct node_publish *m, uint32_t ref);
    /*
     * Drops the connection; the broker publishes the will unless clean is
     * nonzero. No event of the dropped connection is delivered afterwards:
     * the node has already taken its unconfirmed publishes back.
     */
    void (*disconnect)(void *ctx, int clean);
};

struct node_net {
    const struct node_net_ops *ops;
    void *ctx;
};

#endif
