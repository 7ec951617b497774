/*
 * update.h -- the node's side of a firmware update over MQTT: a signed
 * manifest, then 4 KiB blocks acknowledged one by one, into the inactive
 * slot; then the boot stage's test boot, the node's confirm, or its revert.
 *
 * The manifest names the image (size, SHA-256 of the file, the image's own
 * hash and ed25519 signature, version, security counter) and is checked
 * before any block is taken: the signature against the keys the boot stage
 * trusts, the version and counter against the running image (MCUboot's
 * downgrade prevention), the size against the slot. Blocks may arrive in any
 * order and more than once; a bitmap of the blocks held, persisted by the
 * port with the partial image, makes a transfer resume after a lost link, a
 * broker restart or a node restart: the answer to a repeated manifest carries
 * the bitmap, so a sender never re-sends what arrived. Once every block is
 * held the port checks and installs the image exactly as an on-site upload
 * does (firmware/linux/slot_install.h) and marks it for a test boot; the node
 * reboots into it, and the new image confirms itself once it is healthy
 * (the port decides: citynode after its first frames accepted by the
 * broker). A test image that never gets there is reverted by the boot
 * stage, and the old image reports REVERTED with the boot stage's reason.
 *
 * Where the partial image, its bitmap and the transfer record live is the
 * port's business (struct node_update_port_ops): files beside the slots on
 * Linux (firmware/linux/update_port.c), memory in tools/citysim. Everything
 * here is plain C with no allocation and no OS call; one thread at a time.
 */
#ifndef CITYGATE_NODE_UPDATE_H
#define CITYGATE_NODE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "node_crypto.h"

#define NODE_UPDATE_BLOCK_BYTES 4096u
/* The largest image an update carries: its bitmap (2 KiB) fits in one report. */
#define NODE_UPDATE_MAX_IMAGE_BYTES (64ull << 20)
#define NODE_UPDATE_MAX_BLOCKS (NODE_UPDATE_MAX_IMAGE_BYTES / NODE_UPDATE_BLOCK_BYTES)
#define NODE_UPDATE_BITMAP_BYTES (NODE_UPDATE_MAX_BLOCKS / 8)
#define NODE_UPDATE_ID_BYTES 65 /* [A-Za-z0-9._-]{1,64} and its NUL */
#define NODE_UPDATE_REASON_BYTES 128
/* The reason of a transfer ended by ota_cancel: its manifest again starts it again. */
#define NODE_UPDATE_CANCELLED "cancelled"

/* Where a node stands; the values are control.proto's UpdateState. */
enum node_update_state {
    NODE_UPDATE_IDLE = 1,
    NODE_UPDATE_DOWNLOADING = 2,
    NODE_UPDATE_DOWNLOADED = 3,
    NODE_UPDATE_TESTING = 4,
    NODE_UPDATE_CONFIRMED = 5,
    NODE_UPDATE_REVERTED = 6,
    NODE_UPDATE_FAILED = 7,
};

/* "DOWNLOADING", ...; never NULL. */
const char *node_update_state_name(enum node_update_state s);

struct node_update_manifest {
    char transfer_id[NODE_UPDATE_ID_BYTES];
    uint64_t size;
    uint8_t sha256[NODE_SHA256_BYTES];
    uint8_t image_hash[NODE_SHA256_BYTES];
    uint8_t signature[NODE_ED25519_SIG_BYTES];
    struct node_image_version version;
    uint32_t security_counter;
};

/* What the port keeps about the last transfer, so that a restarted node knows it. */
enum node_update_phase {
    NODE_UPDATE_PHASE_DOWNLOADING = 1, /* blocks arriving (the bitmap says which) */
    NODE_UPDATE_PHASE_INSTALLED = 2,   /* in the inactive slot, marked for a test boot */
    NODE_UPDATE_PHASE_FAILED = 3,      /* refused; reason says why; the partial image is gone */
};

struct node_update_record {
    struct node_update_manifest m;
    uint8_t phase; /* enum node_update_phase */
    char reason[NODE_UPDATE_REASON_BYTES];
};

/* What the boot stage says about the slots. */
struct node_update_boot {
    struct node_image_version running;       /* the primary image's version */
    uint32_t security_counter;               /* the lowest counter the node accepts */
    int on_trial;                            /* the primary runs a test boot, not confirmed yet */
    int reverted;                            /* the last boot event was a REVERTED ... */
    int refused;                             /* ... or a REFUSED candidate ... */
    struct node_image_version event_version; /* ... of this image */
    char event_reason[NODE_UPDATE_REASON_BYTES];
};

/*
 * The port. Each function returns 0 or a negative enum node_err; why (cap
 * bytes) gets a plain reason where there is one.
 */
struct node_update_port_ops {
    /* The boot stage's view of the slots. */
    int (*boot)(void *ctx, struct node_update_boot *b);
    /* The last transfer's record and, while downloading, its bitmap (bitmap_bytes long);
     * -NODE_EEMPTY when there is none. */
    int (*load)(void *ctx, struct node_update_record *rec, uint8_t *bitmap, size_t bitmap_bytes);
    /* Forgets any earlier transfer and starts rec's: an empty partial image and bitmap. */
    int (*begin)(void *ctx, const struct node_update_record *rec);
    /* Stores one block at off and then marks it held in the persisted bitmap. */
    int (*write)(void *ctx, uint64_t off, const uint8_t *data, size_t len);
    /*
     * Every block is held: checks the whole image against m->sha256, verifies
     * it as the boot stage will, installs it in the inactive slot and marks it
     * for a test boot; the record's phase becomes INSTALLED. On refusal the
     * partial image is dropped and why says what was wrong.
     */
    int (*install)(void *ctx, const struct node_update_manifest *m, char *why, size_t cap);
    /* Stores rec as the record (FAILED: drops the partial image). */
    int (*save)(void *ctx, const struct node_update_record *rec);
};

struct node_update_port {
    const struct node_update_port_ops *ops;
    void *ctx;
    const struct node_crypto *crypto;              /* for the manifest's signature */
    const uint8_t (*keys)[NODE_ED25519_PUB_BYTES]; /* the keys the boot stage trusts */
    size_t n_keys;
};

/* The node's update agent; caller storage, set up by node_update_init(). */
struct node_update {
    struct node_update_port port; /* borrowed pointers */
    enum node_update_state state;
    struct node_update_record rec; /* valid unless IDLE */
    struct node_update_boot boot;
    uint8_t bitmap[NODE_UPDATE_BITMAP_BYTES];
    uint32_t n_blocks, held_blocks;
    uint64_t refused;                   /* update commands refused (bad input of any kind) */
    uint64_t duplicates;                /* blocks received after they were held */
    uint64_t blocks;                    /* blocks written */
    char why[NODE_UPDATE_REASON_BYTES]; /* the last refusal's text, when it is not static */
};

/* What a command's answer says, besides the agent's state. */
struct node_update_answer {
    const char *refusal; /* why the command was refused (static or in the agent), or NULL */
    int ack;             /* an ota_block's block is held */
    uint64_t offset;     /* its offset */
    int bitmap;          /* the answer carries the bitmap (answers to ota) */
    int state_changed;   /* the retained state must be published again */
    int reboot;          /* installed: the node should now restart into the test image */
};

/*
 * Reads the slots and the last transfer through port (borrowed; must
 * outlive u) and works out where the node stands. Returns 0 or a negative
 * enum node_err (the port failed; u is IDLE).
 */
int node_update_init(struct node_update *u, const struct node_update_port *port);

/* The ota command: starts, resumes or answers about the transfer m describes (a cancelled
 * transfer starts again, from no block). */
void node_update_manifest(struct node_update *u, const struct node_update_manifest *m,
                          struct node_update_answer *a);

/* The ota_block command: data (len bytes, borrowed) at off of transfer_id (borrowed). */
void node_update_block(struct node_update *u, const char *transfer_id, uint64_t off,
                       const uint8_t *data, size_t len, struct node_update_answer *a);

/* The ota_cancel command: ends the transfer as FAILED (NODE_UPDATE_CANCELLED). */
void node_update_cancel(struct node_update *u, const char *transfer_id,
                        struct node_update_answer *a);

/* Counts a refusal of an update command the core could not even parse. */
void node_update_refuse(struct node_update *u, const char *why, struct node_update_answer *a);

/*
 * The running image was confirmed (by the node's self-confirmation): a
 * transfer on trial is CONFIRMED. Returns 1 when the state changed.
 */
int node_update_confirmed(struct node_update *u);

/* Bytes held of the transfer (the last block counted at its real length). */
uint64_t node_update_held_bytes(const struct node_update *u);

#endif
