/*
 * update.c -- the node's update agent: manifest checks, the block bitmap,
 * and the states DOWNLOADING .. CONFIRMED / REVERTED / FAILED.
 *
 * The state is never kept apart from what it describes: at start it is
 * worked out from the port's transfer record and the boot stage's view of
 * the slots (node_update_init()), so that a SIGKILL at any moment leaves a
 * node that says where it really stands. A transfer INSTALLED in the
 * inactive slot is TESTING while its version runs on trial, CONFIRMED once
 * it runs confirmed, REVERTED when the boot stage put the old image back,
 * FAILED when the boot stage refused it.
 *
 * Every refusal has a plain reason and is counted (refused); a block that
 * arrives again after it was held is acknowledged again (the sender lost the
 * first acknowledgement) and counted (duplicates), never written twice.
 */
#include "update.h"

#include <stdio.h>
#include <string.h>

#include "node_hal.h"

const char *node_update_state_name(enum node_update_state s)
{
    switch (s) {
    case NODE_UPDATE_IDLE:
        return "IDLE";
    case NODE_UPDATE_DOWNLOADING:
        return "DOWNLOADING";
    case NODE_UPDATE_DOWNLOADED:
        return "DOWNLOADED";
    case NODE_UPDATE_TESTING:
        return "TESTING";
    case NODE_UPDATE_CONFIRMED:
        return "CONFIRMED";
    case NODE_UPDATE_REVERTED:
        return "REVERTED";
    case NODE_UPDATE_FAILED:
        return "FAILED";
    }
    return "UNKNOWN";
}

static uint32_t blocks_of(uint64_t size)
{
    return (uint32_t)((size + NODE_UPDATE_BLOCK_BYTES - 1) / NODE_UPDATE_BLOCK_BYTES);
}

static int bit(const uint8_t *map, uint32_t i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

static void count_held(struct node_update *u)
{
    u->held_blocks = 0;
    for (uint32_t i = 0; i < u->n_blocks; i++)
        u->held_blocks += (uint32_t)bit(u->bitmap, i);
}

uint64_t node_update_held_bytes(const struct node_update *u)
{
    if (u->state != NODE_UPDATE_DOWNLOADING)
        return u->state == NODE_UPDATE_IDLE || u->state == NODE_UPDATE_FAILED ? 0 : u->rec.m.size;
    uint64_t held = (uint64_t)u->held_blocks * NODE_UPDATE_BLOCK_BYTES;
    uint32_t last = u->n_blocks - 1;
    if (u->n_blocks > 0 && bit(u->bitmap, last))
        held -= (uint64_t)u->n_blocks * NODE_UPDATE_BLOCK_BYTES - u->rec.m.size;
    return held;
}

/* The state an INSTALLED transfer is in, from the boot stage's view. */
static void installed_state(struct node_update *u)
{
    const struct node_update_boot *b = &u->boot;
    const struct node_image_version *v = &u->rec.m.version;
    static const struct node_image_version unknown = {0, 0, 0, 0};
    int runs = node_image_version_cmp(&b->running, v) == 0;
    int about = node_image_version_cmp(&b->event_version, v) == 0;
    /* A candidate that failed verification has no version the boot stage trusts: it is
     * ours all the same, since only our transfer was installed in the inactive slot. */
    int unverified = node_image_version_cmp(&b->event_version, &unknown) == 0;
    if (runs && b->on_trial) {
        u->state = NODE_UPDATE_TESTING;
    } else if (runs) {
        u->state = NODE_UPDATE_CONFIRMED;
    } else if (b->reverted && about) {
        u->state = NODE_UPDATE_REVERTED;
        snprintf(u->rec.reason, sizeof u->rec.reason, "%s", b->event_reason);
    } else if (b->refused && (about || unverified)) {
        u->state = NODE_UPDATE_FAILED;
        snprintf(u->rec.reason, sizeof u->rec.reason, "the boot stage refused it: %.90s",
                 b->event_reason);
    } else {
        u->state = NODE_UPDATE_DOWNLOADED; /* installed, the test boot not taken yet */
    }
}

int node_update_init(struct node_update *u, const struct node_update_port *port)
{
    memset(u, 0, sizeof *u);
    u->port = *port;
    u->state = NODE_UPDATE_IDLE;
    int rc = port->ops->boot(port->ctx, &u->boot);
    if (rc < 0)
        return rc;
    rc = port->ops->load(port->ctx, &u->rec, u->bitmap, sizeof u->bitmap);
    if (rc == -NODE_EEMPTY)
        return 0;
    if (rc < 0 || u->rec.m.size == 0 || u->rec.m.size > NODE_UPDATE_MAX_IMAGE_BYTES) {
        memset(&u->rec, 0, sizeof u->rec);
        return rc < 0 ? rc : -NODE_ECORRUPT;
    }
    u->n_blocks = blocks_of(u->rec.m.size);
    switch (u->rec.phase) {
    case NODE_UPDATE_PHASE_DOWNLOADING:
        u->state = NODE_UPDATE_DOWNLOADING;
        count_held(u);
        break;
    case NODE_UPDATE_PHASE_INSTALLED:
        installed_state(u);
        break;
    default:
        u->state = NODE_UPDATE_FAILED;
        break;
    }
    return 0;
}

static void refuse(struct node_update *u, struct node_update_answer *a, const char *why)
{
    u->refused++;
    a->refusal = why;
}

void node_update_refuse(struct node_update *u, const char *why, struct node_update_answer *a)
{
    memset(a, 0, sizeof *a);
    refuse(u, a, why);
}

/* Ends the transfer as FAILED with why (stored with the record). */
static void fail(struct node_update *u, struct node_update_answer *a, const char *why)
{
    snprintf(u->rec.reason, sizeof u->rec.reason, "%s", why);
    u->rec.phase = NODE_UPDATE_PHASE_FAILED;
    u->port.ops->save(u->port.ctx, &u->rec);
    u->state = NODE_UPDATE_FAILED;
    a->state_changed = 1;
}

/* Checks m on its own and against the running image; NULL when it may start, else why. */
static const char *check_manifest(struct node_update *u, const struct node_update_manifest *m,
                                  char *why, size_t cap)
{
    if (m->size < NODE_IMAGE_HEADER_BYTES)
        return "the image is smaller than an image header";
    if (m->size > NODE_UPDATE_MAX_IMAGE_BYTES) {
        snprintf(why, cap, "the image is larger than the %llu bytes an update carries",
                 (unsigned long long)NODE_UPDATE_MAX_IMAGE_BYTES);
        return why;
    }
    int signed_ok = 0;
    for (size_t k = 0; k < u->port.n_keys && !signed_ok; k++)
        signed_ok =
            u->port.crypto->ops->ed25519_verify(u->port.crypto->ctx, u->port.keys[k], m->image_hash,
                                                sizeof m->image_hash, m->signature) == 1;
    if (!signed_ok)
        return "the manifest's signature is not from a key this node trusts";
    if (m->security_counter < u->boot.security_counter) {
        snprintf(why, cap, "security counter %u is older than installed %u", m->security_counter,
                 u->boot.security_counter);
        return why;
    }
    if (node_image_version_cmp(&m->version, &u->boot.running) < 0) {
        char a[48], b[48];
        node_image_version_format(&m->version, a, sizeof a);
        node_image_version_format(&u->boot.running, b, sizeof b);
        snprintf(why, cap, "version %s is older than installed %s", a, b);
        return why;
    }
    return NULL;
}

static int busy(const struct node_update *u)
{
    return u->state == NODE_UPDATE_DOWNLOADING || u->state == NODE_UPDATE_DOWNLOADED ||
           u->state == NODE_UPDATE_TESTING;
}

void node_update_manifest(struct node_update *u, const struct node_update_manifest *m,
                          struct node_update_answer *a)
{
    char *why = u->why;
    memset(a, 0, sizeof *a);
    int same = u->state != NODE_UPDATE_IDLE && strcmp(m->transfer_id, u->rec.m.transfer_id) == 0;
    if (same && memcmp(m, &u->rec.m, sizeof *m) != 0)
        return refuse(u, a, "this transfer id was given to another image");
    /* The same transfer again: a resume, or a sender asking where we stand; unless the sender
     * cancelled it and now retries it. */
    if (same &&
        !(u->state == NODE_UPDATE_FAILED && strcmp(u->rec.reason, NODE_UPDATE_CANCELLED) == 0)) {
        a->bitmap = u->state == NODE_UPDATE_DOWNLOADING;
        return;
    }
    if (busy(u)) {
        snprintf(why, sizeof u->why, "busy with transfer %s (%s): cancel it first",
                 u->rec.m.transfer_id, node_update_state_name(u->state));
        return refuse(u, a, why);
    }
    const char *bad = check_manifest(u, m, why, sizeof u->why);
    if (bad)
        return refuse(u, a, bad);
    struct node_update_record rec = {.m = *m, .phase = NODE_UPDATE_PHASE_DOWNLOADING};
    if (u->port.ops->begin(u->port.ctx, &rec) < 0)
        return refuse(u, a, "cannot start the transfer: the node's storage failed");
    u->rec = rec;
    u->state = NODE_UPDATE_DOWNLOADING;
    u->n_blocks = blocks_of(m->size);
    u->held_blocks = 0;
    memset(u->bitmap, 0, sizeof u->bitmap);
    a->bitmap = 1;
    a->state_changed = 1;
}

void node_update_block(struct node_update *u, const char *transfer_id, uint64_t off,
                       const uint8_t *data, size_t len, struct node_update_answer *a)
{
    char *why = u->why;
    memset(a, 0, sizeof *a);
    a->offset = off;
    if (u->state == NODE_UPDATE_IDLE || strcmp(transfer_id, u->rec.m.transfer_id) != 0)
        return refuse(u, a, "a block for an unknown transfer");
    if (off % NODE_UPDATE_BLOCK_BYTES != 0)
        return refuse(u, a, "the offset is not on a 4096-byte block boundary");
    if (off >= u->rec.m.size)
        return refuse(u, a, "a block past the image size");
    uint32_t i = (uint32_t)(off / NODE_UPDATE_BLOCK_BYTES);
    uint64_t want = u->rec.m.size - off < NODE_UPDATE_BLOCK_BYTES ? u->rec.m.size - off
                                                                  : NODE_UPDATE_BLOCK_BYTES;
    if (len != want) {
        snprintf(why, sizeof u->why, "the block at %llu has %zu bytes, not %llu",
                 (unsigned long long)off, len, (unsigned long long)want);
        return refuse(u, a, why);
    }
    if (u->state != NODE_UPDATE_DOWNLOADING || bit(u->bitmap, i)) {
        if (u->state == NODE_UPDATE_FAILED)
            return refuse(u, a, "a block for a failed transfer");
        u->duplicates++; /* held already: the sender lost our acknowledgement */
        a->ack = 1;
        return;
    }
    if (u->port.ops->write(u->port.ctx, off, data, len) < 0)
        return refuse(u, a, "cannot store the block: the node's storage failed");
    u->bitmap[i / 8] = (uint8_t)(u->bitmap[i / 8] | (1u << (i % 8)));
    u->held_blocks++;
    u->blocks++;
    a->ack = 1;
    if (u->held_blocks < u->n_blocks)
        return;
    if (u->port.ops->install(u->port.ctx, &u->rec.m, why, sizeof u->why) < 0)
        return fail(u, a, why);
    u->rec.phase = NODE_UPDATE_PHASE_INSTALLED;
    u->state = NODE_UPDATE_DOWNLOADED;
    a->state_changed = 1;
    a->reboot = 1;
}

void node_update_cancel(struct node_update *u, const char *transfer_id,
                        struct node_update_answer *a)
{
    memset(a, 0, sizeof *a);
    if (u->state == NODE_UPDATE_IDLE || strcmp(transfer_id, u->rec.m.transfer_id) != 0)
        return refuse(u, a, "cancel of an unknown transfer");
    if (u->state != NODE_UPDATE_DOWNLOADING)
        return refuse(u, a, "only a transfer still downloading can be cancelled");
    fail(u, a, NODE_UPDATE_CANCELLED);
}

int node_update_confirmed(struct node_update *u)
{
    u->boot.on_trial = 0;
    if (u->state != NODE_UPDATE_TESTING)
        return 0;
    u->state = NODE_UPDATE_CONFIRMED;
    return 1;
}
