/*
 * paho_cmd.h -- the command side of a node's Paho client, shared by citynode
 * (net_paho.c, one node per client) and citysim (many nodes per client).
 *
 * What a connection owes the node core's command path is the same for both:
 * the link counts as up only once the subscription to the command topic (or
 * filter) is granted, at QoS 1, so that commands the broker queued while the
 * node was away arrive; and a command is handed over with at most
 * NODE_MAX_CMD_BYTES + 1 bytes, one more than a command may have, so that
 * the core's parser reports it as too long instead of seeing it cut.
 *
 * The Paho callbacks run on Paho's threads and call the owner's hooks there;
 * hooks only queue what they are given for the owner's own thread.
 */
#ifndef CITYGATE_PAHO_CMD_H
#define CITYGATE_PAHO_CMD_H

#include <stddef.h>
#include <stdint.h>

#include <MQTTAsync.h>

/* What the owner does with the outcomes; every hook runs on a Paho thread. */
struct paho_cmd_hooks {
    /* Connected and subscribed. */
    void (*up)(void *ctx);
    /* The connect, the subscription or the connection failed; why is borrowed. */
    void (*down)(void *ctx, const char *why);
    /*
     * A command arrived on topic (borrowed, topic_len bytes and a NUL):
     * payload holds its first len bytes, malloc'ed, and the hook takes
     * ownership (free()); payload is NULL when memory ran out.
     */
    void (*command)(void *ctx, const char *topic, size_t topic_len, uint8_t *payload, size_t len);
};

/* One client's command side; the owner keeps it beside the client. */
struct paho_cmd {
    MQTTAsync client;                   /* borrowed */
    const char *filter;                 /* the command topic or filter; borrowed */
    const struct paho_cmd_hooks *hooks; /* borrowed */
    void *ctx;                          /* given to every hook */
};

/*
 * Sets the client's connection-lost and message callbacks, and the connect
 * options' outcome callbacks, to pc's: once connected pc subscribes to
 * pc->filter and calls up() or down(). pc is borrowed and must stay until
 * MQTTAsync_destroy() of the client. Main thread, between creating the
 * client and MQTTAsync_connect().
 */
void paho_cmd_attach(struct paho_cmd *pc, MQTTAsync_connectOptions *o);

#endif
