/*
 * mq.h -- the bench's MQTT ends over Paho's asynchronous client: a QoS 1
 * publisher with a bounded window of unacknowledged messages, and a
 * subscriber with a persistent session (clean session off, fixed client id)
 * that hands each message to a callback and acknowledges it when the
 * callback returns, exactly as the gateway's adapter does.
 *
 * Thread rules: a publisher is driven by one thread; Paho's threads only
 * count acknowledgements. A subscriber's callback runs on Paho's thread.
 */
#ifndef CITYGATE_BENCH_MQ_H
#define CITYGATE_BENCH_MQ_H

#include <stddef.h>
#include <stdint.h>

struct bench_pub;

/*
 * Connects a publisher as client_id (clean session) with at most window
 * messages in flight. Returns NULL with a message on stderr on failure.
 */
struct bench_pub *bench_pub_new(const char *url, const char *client_id, unsigned window);

/* Publishes at QoS 1 (payload borrowed, copied by Paho); waits while the window is full. */
int bench_pub_send(struct bench_pub *p, const char *topic, const void *payload, size_t len);

/* Waits until everything sent was acknowledged, or timeout_ms. Returns 0, or -1 on timeout. */
int bench_pub_wait_all(struct bench_pub *p, unsigned timeout_ms);

/* Messages sent, acknowledged and failed so far. */
void bench_pub_counts(struct bench_pub *p, uint64_t *sent, uint64_t *acked, uint64_t *failed);

/* Disconnects and frees; NULL is a no-op. */
void bench_pub_free(struct bench_pub *p);

/* Receives one message: topic NUL-terminated; both borrowed for the call. */
typedef void (*bench_msg_fn)(void *ctx, const char *topic, const void *payload, size_t len,
                             int retained);

struct bench_sub;

/*
 * Connects client_id with a persistent session (clean off) and subscribes to
 * the n filters at QoS 1; returns once the broker granted them, or NULL with
 * a message on stderr.
 */
struct bench_sub *bench_sub_new(const char *url, const char *client_id, const char *const *filters,
                                int n, bench_msg_fn fn, void *ctx);

/* Disconnects and frees; NULL is a no-op. The session stays on the broker. */
void bench_sub_free(struct bench_sub *s);

/*
 * Ends client_id's session on the broker: connects with clean session on
 * and disconnects, so that nothing is queued for it between runs.
 * Returns 0 or -1.
 */
int bench_session_clear(const char *url, const char *client_id);

#endif
