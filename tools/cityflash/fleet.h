/*
 * fleet.h -- cityflash's view of the fleet over MQTT: the nodes of the
 * gateway's registry that match a glob, their births and their update
 * reports (retained, so a fresh connection sees where each node stands),
 * and signed commands to them (docs/firmware.md, "Updates over MQTT").
 *
 * Every message is checked with the node's key from the registry: a report
 * that does not verify is ignored, exactly as the gateway ignores a forged
 * frame. One thread; the connection is remade (and the topics subscribed
 * again, unless the broker kept the session) when the broker goes away.
 *
 * A fleet opened under a stable client id keeps a persistent session (clean
 * session off, subscriptions at QoS 1): what the nodes publish while the
 * connection is down, including over a broker restart when the broker keeps
 * its sessions on disk (Mosquitto's `persistence true`), is queued by the
 * broker and delivered when it comes back, so no acknowledgement is lost.
 * cf_fleet_free() ends that session, so that the broker queues nothing more
 * for a client that is gone; a process killed before it leaves the session
 * to the broker until the same id connects again (a resumed rollout).
 */
#ifndef CITYGATE_CITYFLASH_FLEET_H
#define CITYGATE_CITYFLASH_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include <MQTTClient.h>

#include "registry.h"
#include "wire.h"

/* Commands published and not yet acknowledged by the broker, at most (above --total-window). */
#define CF_FLEET_MAX_INFLIGHT 65535

/* What a node said last about an update (its retained report). */
struct cf_report {
    int state; /* Citygate__V1__UpdateState; 0 before any report */
    uint64_t boot_id, time_ms, size, held_bytes, refused, duplicates;
    char transfer_id[65], version[48], running[48], reason[160];
};

struct cf_node {
    const struct gw_device *dev; /* borrowed from the registry */
    char topic_cmd[160];
    uint64_t boot_id; /* from its last birth; 0 before one */
    int online;       /* its last status was a birth */
    uint64_t seen_ms; /* when the last message from it arrived */
    struct cf_report report;
    void *user; /* the command's own state */
};

struct cf_fleet;

/* What the command wants to hear about; any may be NULL. */
struct cf_fleet_events {
    void (*birth)(void *ctx, struct cf_node *n);
    void (*report)(void *ctx, struct cf_node *n); /* n->report changed */
    /* An answer on .../cmd/reply (r borrowed for the call). */
    void (*answer)(void *ctx, struct cf_node *n, const Citygate__V1__UpdateReport *r);
    void *ctx;
};

/*
 * Reads the registry at registry_path, keeps the devices whose id matches
 * glob (fnmatch), sorted by id, and connects to url: as client_id in a
 * persistent session (see above), or with client_id NULL in a clean session
 * under an id of its own ("cityflash-PID"), for a look that needs no
 * history. Returns 0 and sets *out (free with cf_fleet_free()), or -1 with
 * why in err (cap). client_id is copied.
 */
int cf_fleet_new(const char *url, const char *registry_path, const char *glob,
                 const char *client_id, struct cf_fleet **out, char *err, size_t cap);
void cf_fleet_free(struct cf_fleet *f);

/* The nodes (sorted by id) and how many. */
struct cf_node *cf_fleet_nodes(struct cf_fleet *f, size_t *n);

/* Where events go from now on (ev copied). */
void cf_fleet_listen(struct cf_fleet *f, const struct cf_fleet_events *ev);

/* Receives and dispatches for up to ms milliseconds (reconnecting if needed). */
void cf_fleet_pump(struct cf_fleet *f, int ms);

/* When the current connection to the broker was made (cli_now_ms()); what was sent before it
 * may have waited in the broker or in the client meanwhile. */
uint64_t cf_fleet_connected_ms(const struct cf_fleet *f);

/*
 * Signs c for n (device, its current boot, a fresh counter) and publishes it
 * at QoS 1. Returns 0, or -1 when it cannot go now (not connected, too many
 * messages in flight): try again after a pump.
 */
int cf_fleet_send(struct cf_fleet *f, struct cf_node *n, Citygate__V1__Command *c);

/* Messages refused since the start: unsigned, forged, or for no node of the glob. */
uint64_t cf_fleet_refused(const struct cf_fleet *f);

#endif
