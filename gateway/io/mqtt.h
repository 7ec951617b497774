/*
 * mqtt.h -- the gateway's MQTT client (Paho async): a persistent QoS 1
 * session that receives frames and status messages, and publishes alerts and
 * quarantined frames.
 *
 * The session is persistent (fixed client id, no clean start; on MQTT 5 a
 * session that never expires), so frames published while the gateway is down
 * wait at the broker. A frame is acknowledged only after the message callback
 * returned 0, and the callback journals it first: what the broker was told we
 * have is on disk. Reconnection is automatic with capped backoff.
 */
#ifndef CITYGATE_GW_MQTT_H
#define CITYGATE_GW_MQTT_H

#include <stddef.h>
#include <stdint.h>

struct gw_mqtt_config {
    const char *url, *client_id, *username, *password;
    const char *ca_file, *cert_file, *key_file;
    int version; /* 3 (3.1.1) or 5 */
    uint32_t keepalive_ms, reconnect_min_ms, reconnect_max_ms;
    const char *const *topics; /* subscriptions, QoS 1 */
    size_t n_topics;
};

/*
 * Called on Paho's thread for every message; topic and payload are borrowed
 * for the call. Paho has already acknowledged the message to the broker
 * (see mqtt.c): the callback must keep it or count its loss.
 */
typedef void (*gw_mqtt_msg_fn)(void *ctx, const char *topic, const void *payload, size_t len);

struct gw_mqtt_stats {
    uint64_t received, connects, connection_losses;
    uint64_t published, publish_failed;
    int connected; /* connected and the subscriptions taken (SUBACK): frames reach the gateway */
};

struct gw_mqtt;

/*
 * Creates the client and starts connecting (the first connection and its
 * subscriptions are awaited up to connect_timeout_ms so that configuration
 * errors show at start; after that, reconnection is automatic). cfg is
 * copied. Returns 0 and sets *out (caller frees with gw_mqtt_free()), or a
 * negative enum gw_err with err.
 */
int gw_mqtt_new(const struct gw_mqtt_config *cfg, gw_mqtt_msg_fn fn, void *ctx,
                uint32_t connect_timeout_ms, struct gw_mqtt **out, char *err, size_t err_len);

/* Publishes a copy of payload without waiting; any thread. Returns 0 or GW_ERETRY. */
int gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    int retained);

/*
 * Stops consuming: disconnects without waiting; the broker keeps the
 * persistent session and queues what arrives meanwhile. No automatic
 * reconnection until gw_mqtt_resume(). Any thread but Paho's callback's.
 * Returns 0 or GW_EIO.
 */
int gw_mqtt_pause(struct gw_mqtt *m);

/*
 * Connects again after gw_mqtt_pause() (a no-op otherwise). A connection
 * that fails (the broker is away) is retried by Paho with the reconnect
 * backoff until the broker answers (test_mqtt); one that cannot even start
 * returns GW_ERETRY and leaves the client paused, so the next call (the
 * gateway calls it at every tick while there is room) tries again.
 */
int gw_mqtt_resume(struct gw_mqtt *m);

void gw_mqtt_stats(struct gw_mqtt *m, struct gw_mqtt_stats *out);

/*
 * Disconnects and frees: what was published before is sent, and the
 * acknowledgements of QoS 1 messages in flight are awaited up to timeout_ms
 * (the call returns within about timeout_ms + 1 s). NULL is a no-op. Any
 * thread but Paho's callback's.
 */
void gw_mqtt_free(struct gw_mqtt *m, uint32_t timeout_ms);

#endif
