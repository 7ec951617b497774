/*
 * paho_cmd.c -- the command side of a node's Paho client: subscribe once
 * connected, copy each command, report the connection's ups and downs.
 *
 * Shared by citynode and citysim (paho_cmd.h says what both owe the node
 * core). Everything here runs on Paho's threads and only calls the owner's
 * hooks, which queue.
 */
#include "paho_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

static void on_lost(void *ctx, char *cause)
{
    struct paho_cmd *pc = ctx;
    pc->hooks->down(pc->ctx, cause ? cause : "connection lost");
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct paho_cmd *pc = ctx;
    /* Paho gives 0 when the topic is a C string. */
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    /* One byte more than a command may have, so that the node's parser reports it as too long. */
    size_t len =
        m->payloadlen > NODE_MAX_CMD_BYTES + 1 ? NODE_MAX_CMD_BYTES + 1 : (size_t)m->payloadlen;
    uint8_t *payload = malloc(len ? len : 1);

    if (payload)
        memcpy(payload, m->payload, len);
    pc->hooks->command(pc->ctx, topic, tlen, payload, len);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    struct paho_cmd *pc = ctx;
    (void)r;
    pc->hooks->up(pc->ctx);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData *r)
{
    struct paho_cmd *pc = ctx;
    char why[96];
    (void)r;
    snprintf(why, sizeof why, "subscribing to %s failed", pc->filter);
    pc->hooks->down(pc->ctx, why);
}

static void on_connected(void *ctx, MQTTAsync_successData *r)
{
    struct paho_cmd *pc = ctx;
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    char why[96];
    (void)r;
    o.onSuccess = on_subscribed;
    o.onFailure = on_subscribe_failed;
    o.context = pc;
    if (MQTTAsync_subscribe(pc->client, pc->filter, 1, &o) != MQTTASYNC_SUCCESS) {
        snprintf(why, sizeof why, "cannot subscribe to %s", pc->filter);
        pc->hooks->down(pc->ctx, why);
    }
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *r)
{
    struct paho_cmd *pc = ctx;
    char why[96];

    if (r && r->message)
        snprintf(why, sizeof why, "%s", r->message);
    else if (r && r->code != 0 && r->code != MQTTASYNC_FAILURE)
        snprintf(why, sizeof why, "%s", MQTTAsync_strerror(r->code));
    else
        snprintf(why, sizeof why, "refused or unreachable");
    pc->hooks->down(pc->ctx, why);
}

void paho_cmd_attach(struct paho_cmd *pc, MQTTAsync_connectOptions *o)
{
    MQTTAsync_setCallbacks(pc->client, pc, on_lost, on_message, NULL);
    o->onSuccess = on_connected;
    o->onFailure = on_connect_failed;
    o->context = pc;
}
