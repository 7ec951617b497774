/*
 * outbox.h -- alert messages on their way to the broker, in the order they
 * were raised.
 *
 * Alerts are raised under the gateway's lock, by Paho's thread (a frame) and
 * by the main thread (an absence, at a tick). Paho calls the message callback
 * holding its own mutex, which the callback then follows with the gateway's
 * lock; so no thread may call into Paho while it holds the gateway's lock, or
 * the two threads can deadlock, each holding the lock the other waits for.
 * Alerts therefore queue here under the lock, and one thread at a time
 * publishes the queue after letting the lock go (gateway/main.c,
 * publish_alerts()), which keeps the order of the retained states of each
 * series.
 *
 * Not locked itself: every call is made with the gateway's lock held.
 */
#ifndef CITYGATE_GW_OUTBOX_H
#define CITYGATE_GW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

/* At most this many messages wait; more are refused and counted. */
#define GW_OUTBOX_MAX 4096

/* One message: topic and payload live in the same allocation. */
struct gw_outbox_msg {
    struct gw_outbox_msg *next;
    const char *topic;
    const char *payload;
    size_t len;
};

struct gw_outbox {
    struct gw_outbox_msg *head, *tail;
    size_t n;
    uint64_t refused; /* messages refused: queue full or out of memory */
};

/*
 * Queues a copy of topic and len bytes of payload (both borrowed). Returns 0,
 * or GW_EFULL / GW_ENOMEM (counted in refused).
 */
int gw_outbox_push(struct gw_outbox *o, const char *topic, const void *payload, size_t len);

/* Takes the oldest message out, or NULL: the caller frees it with free(). */
struct gw_outbox_msg *gw_outbox_pop(struct gw_outbox *o);

/* Frees every queued message. */
void gw_outbox_fini(struct gw_outbox *o);

#endif
