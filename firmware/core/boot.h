/*
 * boot.h -- the A/B boot decision of MCUboot's bootutil, portable.
 *
 * Two slots: the primary (the image that boots) and the secondary (where a
 * new image is uploaded). Each has a trailer as in MCUboot's docs/design.md
 * ("Image trailer"): magic, image_ok, copy_done and swap info. The states
 * and what they lead to are bootutil's:
 *
 *   - `test` (boot_set_pending(0)): secondary magic good, image_ok unset; the
 *     next boot swaps (TEST) and runs it once;
 *   - `confirm` (boot_set_confirmed()): primary image_ok set; it stays;
 *   - a TEST image that booted and was not confirmed (primary magic good,
 *     copy_done set, image_ok unset) is swapped back on the next boot
 *     (REVERT), and the previous image gets image_ok so it stays;
 *   - `test --permanent` (boot_set_pending(1)): swapped in and kept (PERM).
 *
 * Before a slot is booted or swapped in, its image is verified (image.h:
 * hash and ed25519 signature with the trusted keys) and checked against the
 * running one: a security counter below the node's stored counter, or a
 * version below the primary's, is refused (MCUboot's hardware rollback
 * protection and downgrade prevention). A refused candidate's trailer is
 * erased, as bootutil erases the slot, so it is never tried again.
 *
 * Where the slots and trailers live is the port's business: flash
 * partitions on a microcontroller, files on Linux (firmware/linux/
 * boot_state.c), where a swap is one atomic rename. Everything here works on
 * a struct node_boot_state in memory; the port loads it, calls these
 * functions and stores it back in one durable step. No allocation, no OS
 * call; one thread at a time per state.
 */
#ifndef CITYGATE_NODE_BOOT_H
#define CITYGATE_NODE_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* Trailer bytes with BOOT_MAX_ALIGN 8 and no status area or keys. */
#define NODE_BOOT_TRAILER_BYTES 48

/* Swap types, with bootutil's values (BOOT_SWAP_TYPE_*). */
enum node_boot_swap {
    NODE_BOOT_SWAP_NONE = 1,
    NODE_BOOT_SWAP_TEST = 2,
    NODE_BOOT_SWAP_PERM = 3,
    NODE_BOOT_SWAP_REVERT = 4,
    NODE_BOOT_SWAP_FAIL = 5,
};

/* Flag values as stored (BOOT_FLAG_SET on flash is 0x01, erased is 0xff). */
#define NODE_BOOT_FLAG_SET 0x01
#define NODE_BOOT_FLAG_UNSET 0xff

struct node_boot_trailer {
    int magic_good;    /* the 16-byte magic is there */
    uint8_t image_ok;  /* NODE_BOOT_FLAG_SET or _UNSET */
    uint8_t copy_done; /* NODE_BOOT_FLAG_SET or _UNSET */
    uint8_t swap_info; /* swap type in bits 0-3, image number in bits 4-7; 0xff erased */
    uint32_t swap_size;
};

/* What the last boot decision did, for `status` and the management port. */
enum node_boot_event {
    NODE_BOOT_EV_NONE = 0,
    NODE_BOOT_EV_TESTING,   /* a TEST swap put a new image in the primary slot */
    NODE_BOOT_EV_PERMANENT, /* a PERM swap did */
    NODE_BOOT_EV_REVERTED,  /* a test image was not confirmed: the previous one is back */
    NODE_BOOT_EV_REFUSED,   /* a candidate failed verification or the rollback checks */
    NODE_BOOT_EV_CONFIRMED, /* the test image was confirmed */
};

/* Plain name of an event ("REVERTED"); never NULL. */
const char *node_boot_event_name(enum node_boot_event ev);

#define NODE_BOOT_REASON_BYTES 128

struct node_boot_state {
    uint8_t primary;                     /* which physical slot (0 or 1) is the primary */
    struct node_boot_trailer trailer[2]; /* by physical slot */
    uint32_t security_counter;           /* the lowest counter this node accepts */
    enum node_boot_event event;
    struct node_image_version event_version;   /* the image the event is about */
    char event_reason[NODE_BOOT_REASON_BYTES]; /* plain language, NUL-terminated */
    /*
     * Set by the port when a test image ended before it confirmed ("killed
     * by signal 11"); node_boot_go() puts it in the REVERTED event and
     * clears it. Empty otherwise.
     */
    char trial_end[NODE_BOOT_REASON_BYTES];
};

/* What the boot stage needs to verify images. */
struct node_boot_keys {
    const struct node_crypto *crypto;
    const uint8_t (*keys)[NODE_ED25519_PUB_BYTES];
    size_t n_keys;
};

/* A fresh state: slot 0 primary, both trailers erased, counter 0. */
void node_boot_state_init(struct node_boot_state *st);

/* Trailer <-> its MCUboot bytes (design.md "Image trailer", BOOT_MAX_ALIGN 8). */
void node_boot_trailer_encode(const struct node_boot_trailer *t,
                              uint8_t out[NODE_BOOT_TRAILER_BYTES]);
void node_boot_trailer_decode(const uint8_t in[NODE_BOOT_TRAILER_BYTES],
                              struct node_boot_trailer *t);

/* bootutil's swap type from the two trailers (design.md, states II to IV). */
enum node_boot_swap node_boot_swap_type(const struct node_boot_state *st);

/*
 * Checks candidate against the running image and the stored counter: 0 when
 * it may be swapped in, -1 with the reason in why (cap bytes) when not.
 * running may be NULL (nothing installed yet).
 */
int node_boot_check_rollback(const struct node_boot_state *st,
                             const struct node_image_info *running,
                             const struct node_image_info *candidate, char *why, size_t cap);

/*
 * Marks the secondary slot for a test boot (permanent 0) or a permanent one
 * (bootutil's boot_set_pending). The caller has verified the image and
 * checked it with node_boot_check_rollback().
 */
void node_boot_set_pending(struct node_boot_state *st, int permanent);

/*
 * Confirms the primary image (boot_set_confirmed); records a CONFIRMED event
 * when it was on trial. version is the primary's. Returns 1 when the state
 * changed, 0 when it was confirmed already.
 */
int node_boot_set_confirmed(struct node_boot_state *st, const struct node_image_version *version);

/* Erases the secondary trailer (before an upload overwrites that slot). */
void node_boot_erase_secondary(struct node_boot_state *st);

/* 1 while the primary image is on trial (booted by TEST, not confirmed yet). */
int node_boot_on_trial(const struct node_boot_state *st);

/*
 * The boot decision (bootutil's boot_go): from the trailers, swaps (TEST,
 * PERM, REVERT) by changing st, after verifying a candidate with keys and
 * the rollback checks; then verifies the primary. slots[i] is physical slot
 * i (borrowed). On success the primary is bootable: *primary_info describes
 * it and 0 is returned; st may have changed and must then be stored before
 * the image runs. Returns a negative enum node_image_err when the primary cannot be booted
 * (st is still worth storing).
 */
int node_boot_go(struct node_boot_state *st, const struct node_storage slots[2],
                 const struct node_boot_keys *keys, struct node_image_info *primary_info);

#endif
