/*
 * net_paho.h -- the node's MQTT uplink over Eclipse Paho's asynchronous client.
 *
 * Implements struct node_net_ops (node_hal.h). Paho calls back on its own
 * threads; those callbacks only queue events, and net_paho_pump() delivers
 * them to the node on the node's thread.
 */
#ifndef CITYGATE_NET_PAHO_H
#define CITYGATE_NET_PAHO_H

#include <stdint.h>

#include "node.h"

struct net_paho;

/* Connection settings; strings are copied. NULL or "" means not set. */
struct net_paho_config {
    const char *url; /* tcp://host:port, ssl://host:port or mqtts://host:port */
    const char *username;
    const char *password;
    const char *ca_file; /* TLS: trusted CAs; setting it turns TLS on */
    const char *cert_file;
    const char *key_file;
    int keepalive_s;
    int connect_timeout_s;
};

/*
 * Creates the uplink (no connection yet: the node asks for it). On success
 * sets *out (caller frees with net_paho_free()). Returns 0 or -1 with why in
 * err (cap bytes). Main thread.
 */
int net_paho_new(const struct net_paho_config *cfg, struct net_paho **out, char *err, size_t cap);

/* Destroys the client (a clean disconnect is the node's job). NULL is a no-op. Main thread. */
void net_paho_free(struct net_paho *p);

/* The node_net to give node_new(); p is borrowed and must outlive the node. */
struct node_net net_paho_net(struct net_paho *p);

/*
 * Waits up to timeout_ms for events, then delivers every queued event of the
 * current connection to node (connected, lost, PUBACK, command). Main thread.
 */
void net_paho_pump(struct net_paho *p, struct node *node, int timeout_ms);

#endif
