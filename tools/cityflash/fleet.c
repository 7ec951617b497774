/*
 * fleet.c -- cityflash's view of the fleet over MQTT (fleet.h).
 *
 * Paho's synchronous client in a persistent session keeps its own unacknowledged
 * QoS 1 publishes in memory (MQTTCLIENT_PERSISTENCE_NONE) and sends them again
 * on the next connection; the broker keeps the subscriptions and what arrived
 * for them. A session that ends with the process is all a rollout needs: its
 * state that must outlive it is in its state file and the nodes' retained
 * reports.
 */
#include "fleet.h"

#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_REGISTRY_BYTES (64u << 20)

struct cf_fleet {
    MQTTClient cli;
    struct gw_registry *reg;
    struct cf_node *nodes;
    size_t n, cap;
    const char *glob;
    uint64_t counter, refused;
    uint64_t connected_ms; /* when the current connection was made */
    int persistent;        /* clean session off */
    int subscribed;        /* once: the retained messages came */
    struct cf_fleet_events ev;
    _Alignas(max_align_t) unsigned char arena[64 * 1024];
};

static int collect(const struct gw_device *dev, void *ctx)
{
    struct cf_fleet *f = ctx;
    if (fnmatch(f->glob, dev->id, 0) != 0)
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        struct cf_node *more = realloc(f->nodes, cap * sizeof *more);
        if (!more)
            return -1;
        f->nodes = more;
        f->cap = cap;
    }
    struct cf_node *n = &f->nodes[f->n++];
    memset(n, 0, sizeof *n);
    n->dev = dev;
    snprintf(n->topic_cmd, sizeof n->topic_cmd, "city/v1/%s/%s/cmd", dev->site, dev->id);
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct cf_node *)a)->dev->id, ((const struct cf_node *)b)->dev->id);
}

/* The registry's text (caller frees), or NULL with why in err. */
static char *read_registry(const char *path, size_t *len, char *err, size_t cap)
{
    char *text = NULL;
    int rc = cli_read_file(path, MAX_REGISTRY_BYTES, &text, len);
    if (rc == -EFBIG)
        snprintf(err, cap, "%s is larger than %u bytes", path, MAX_REGISTRY_BYTES);
    else if (rc != 0)
        snprintf(err, cap, "cannot read %s: %s", path, strerror(-rc));
    return rc == 0 ? text : NULL;
}

/* Connects, in a clean session or not; *present: the broker had the session. Returns 0 or -1. */
static int broker_connect(struct cf_fleet *f, int clean, int *present)
{
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    o.cleansession = clean;
    o.keepAliveInterval = 10;
    o.connectTimeout = 5;
    /* Paho's default ("reliable") lets one QoS 1 publish out at a time: each block would wait
     * for the broker's PUBACK of the one before. The sender bounds its blocks itself. */
    o.reliable = 0;
    o.maxInflightMessages = CF_FLEET_MAX_INFLIGHT;
    o.MQTTVersion = MQTTVERSION_3_1_1; /* for the CONNACK's session present flag */
    if (MQTTClient_connect(f->cli, &o) != MQTTCLIENT_SUCCESS)
        return -1;
    f->connected_ms = cli_now_ms();
    *present = o.returned.sessionPresent;
    return 0;
}

/* Connects and subscribes: the first time (for the retained births and reports), and whenever
 * the broker did not keep the session (a clean one, or a broker without persistence restarted). */
static int subscribe(struct cf_fleet *f)
{
    char *const topics[] = {"city/v1/+/+/status", "city/v1/+/+/update", "city/v1/+/+/cmd/reply"};
    int qos[] = {1, 1, 1}, present = 0;
    if (broker_connect(f, !f->persistent, &present) != 0)
        return -1;
    if (f->subscribed && f->persistent && present)
        return 0;
    if (MQTTClient_subscribeMany(f->cli, 3, topics, qos) != MQTTCLIENT_SUCCESS)
        return -1;
    f->subscribed = 1;
    return 0;
}

int cf_fleet_new(const char *url, const char *registry_path, const char *glob,
                 const char *client_id, struct cf_fleet **out, char *err, size_t cap)
{
    struct gw_registry_diag diag;
    size_t len = 0;
    struct cf_fleet *f = calloc(1, sizeof *f);
    char *text = f ? read_registry(registry_path, &len, err, cap) : NULL;
    if (!f || !text)
        goto fail;
    if (gw_registry_new(text, len, &f->reg, &diag) != 0) {
        snprintf(err, cap, "%s:%d: %s", registry_path, diag.line, diag.message);
        goto fail;
    }
    f->glob = glob;
    if (gw_registry_each(f->reg, collect, f) != 0) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    qsort(f->nodes, f->n, sizeof *f->nodes, by_id);
    f->counter = cli_now_ms() * 1000; /* above any counter an earlier run used */
    char own_id[32];
    snprintf(own_id, sizeof own_id, "cityflash-%ld", (long)getpid());
    f->persistent = client_id != NULL;
    if (MQTTClient_create(&f->cli, url, client_id ? client_id : own_id, MQTTCLIENT_PERSISTENCE_NONE,
                          NULL) != MQTTCLIENT_SUCCESS) {
        snprintf(err, cap, "%s: not a broker URL", url);
        goto fail;
    }
    if (subscribe(f) != 0) {
        snprintf(err, cap, "cannot connect to %s", url);
        goto fail;
    }
    free(text);
    *out = f;
    return 0;
fail:
    free(text);
    cf_fleet_free(f);
    return -1;
}

void cf_fleet_free(struct cf_fleet *f)
{
    if (!f)
        return;
    if (f->cli) {
        if (MQTTClient_isConnected(f->cli))
            MQTTClient_disconnect(f->cli, 1000);
        /* A clean connection under the same id ends the persistent session (MQTT 3.1.1
         * 3.1.2.4); a broker out of reach keeps it until the id comes back. */
        int present;
        if (f->persistent && broker_connect(f, 1, &present) == 0)
            MQTTClient_disconnect(f->cli, 1000);
        MQTTClient_destroy(&f->cli);
    }
    gw_registry_free(f->reg);
    free(f->nodes);
    free(f);
}

uint64_t cf_fleet_connected_ms(const struct cf_fleet *f)
{
    return f->connected_ms;
}

struct cf_node *cf_fleet_nodes(struct cf_fleet *f, size_t *n)
{
    *n = f->n;
    return f->nodes;
}

void cf_fleet_listen(struct cf_fleet *f, const struct cf_fleet_events *ev)
{
    f->ev = *ev;
}

uint64_t cf_fleet_refused(const struct cf_fleet *f)
{
    return f->refused;
}

static struct cf_node *find(struct cf_fleet *f, const char *id)
{
    struct gw_device key_dev;
    struct cf_node key = {.dev = &key_dev};
    snprintf(key_dev.id, sizeof key_dev.id, "%s", id);
    return bsearch(&key, f->nodes, f->n, sizeof *f->nodes, by_id);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* city/v1/<site>/<node>/<kind...>: the node and what follows it. */
static int split(const char *topic, char *node, size_t cap, const char **kind)
{
    const char *p = strncmp(topic, "city/v1/", 8) == 0 ? strchr(topic + 8, '/') : NULL;
    const char *q = p ? strchr(p + 1, '/') : NULL;
    if (!q || (size_t)(q - p - 1) >= cap)
        return -1;
    memcpy(node, p + 1, (size_t)(q - p - 1));
    node[q - p - 1] = '\0';
    *kind = q + 1;
    return 0;
}

static void dispatch(struct cf_fleet *f, const char *topic, const MQTTClient_message *m)
{
    char id[WIRE_MAX_DEVICE_ID + 1];
    const char *kind;
    struct wire_decoder d = {WIRE_MAX_CONTROL_BYTES, gw_registry_key, f->reg, {NULL, 0, 0}};
    struct wire_diag diag;
    struct cf_node *n;
    if (split(topic, id, sizeof id, &kind) != 0 || !(n = find(f, id))) {
        f->refused++;
        return;
    }
    wire_arena_init(&d.arena, f->arena, sizeof f->arena);
    const uint8_t *p = m->payload;
    size_t len = (size_t)m->payloadlen;
    if (strcmp(kind, "status") == 0) {
        Citygate__V1__Status *s;
        if (wire_status_decode(&d, p, len, &s, &diag) != 0 || strcmp(s->device_id, id) != 0) {
            f->refused++;
            return;
        }
        n->seen_ms = cli_now_ms();
        n->online = s->state == CITYGATE__V1__NODE_STATE__ONLINE;
        if (n->online && s->boot_id != n->boot_id) {
            n->boot_id = s->boot_id;
            if (f->ev.birth)
                f->ev.birth(f->ev.ctx, n);
        }
        return;
    }
    int is_state = strcmp(kind, "update") == 0, is_answer = strcmp(kind, "cmd/reply") == 0;
    if (!is_state && !is_answer)
        return;
    Citygate__V1__UpdateReport *r;
    if (len < 2 || memcmp(p, "CU", 2) != 0)
        return; /* a JSON reply to another command */
    if (wire_update_decode(&d, p, len, &r, &diag) != 0 || strcmp(r->device_id, id) != 0) {
        f->refused++;
        return;
    }
    n->seen_ms = cli_now_ms();
    if (is_answer) {
        if (f->ev.answer)
            f->ev.answer(f->ev.ctx, n, r);
        return;
    }
    struct cf_report *c = &n->report;
    c->state = (int)r->state;
    c->boot_id = r->boot_id;
    c->time_ms = r->time_ms;
    c->size = r->size;
    c->held_bytes = r->held_bytes;
    c->refused = r->refused;
    c->duplicates = r->duplicates;
    copy(c->transfer_id, sizeof c->transfer_id, r->transfer_id);
    copy(c->version, sizeof c->version, r->version);
    copy(c->running, sizeof c->running, r->running_version);
    copy(c->reason, sizeof c->reason, r->reason);
    if (f->ev.report)
        f->ev.report(f->ev.ctx, n);
}

void cf_fleet_pump(struct cf_fleet *f, int ms)
{
    uint64_t until = cli_now_ms() + (uint64_t)ms;
    do {
        if (!MQTTClient_isConnected(f->cli) && subscribe(f) != 0) {
            poll(NULL, 0, 100); /* the broker is away: try again shortly */
            continue;
        }
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *m = NULL;
        if (MQTTClient_receive(f->cli, &topic, &topic_len, &m, 10) == MQTTCLIENT_SUCCESS && m) {
            dispatch(f, topic, m);
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
        }
    } while (cli_now_ms() < until);
}

int cf_fleet_send(struct cf_fleet *f, struct cf_node *n, Citygate__V1__Command *c)
{
    uint8_t buf[WIRE_MAX_CONTROL_BYTES];
    size_t len = 0;
    c->device_id = (char *)n->dev->id; /* protobuf-c strings are not const; not written */
    c->boot_id = n->boot_id;
    c->counter = ++f->counter;
    if (n->boot_id == 0 ||
        wire_command_encode(c, n->dev->key, n->dev->key_len, buf, sizeof buf, &len) != 0)
        return -1;
    if (!MQTTClient_isConnected(f->cli))
        return -1;
    return MQTTClient_publish(f->cli, n->topic_cmd, (int)len, buf, 1, 0, NULL) == MQTTCLIENT_SUCCESS
               ? 0
               : -1;
}
