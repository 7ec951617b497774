/*
 * slot_install.h -- writing an uploaded image into the boot stage's
 * inactive slot: the one path shared by the on-site upload (SMP, the
 * management port) and the update over MQTT (update_port.c).
 *
 * An upload is written into a part file beside the slots
 * (slot_install_write()); once complete, slot_install() checks it whole
 * (its SHA-256, then the image verification the boot stage does), and only
 * then replaces the secondary slot by rename, after the secondary's trailer
 * was erased: the running image and the slot a revert needs are never
 * touched by an upload, and a refused upload never reaches a slot.
 */
#ifndef CITYGATE_SLOT_INSTALL_H
#define CITYGATE_SLOT_INSTALL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "image_file.h"
#include "node_crypto.h"

/* Why slot_install() refused. */
enum slot_install_err {
    SLOT_INSTALL_EIO = 1, /* a file could not be read or written */
    SLOT_INSTALL_EHASH,   /* the upload does not match its SHA-256 */
    SLOT_INSTALL_EIMAGE,  /* the image failed verification */
    SLOT_INSTALL_ETRIAL,  /* the running image is on trial */
};

/* What the node takes into its slot (all borrowed). */
struct slot_install_rules {
    const uint8_t (*keys)[NODE_ED25519_PUB_BYTES]; /* the trusted keys ... */
    size_t n_keys;                                 /* ... and how many */
    uint64_t slot_bytes;                           /* the slot's size: no larger image */
    const uint8_t *cid; /* the node's hardware class (NODE_IMAGE_CID_BYTES), or NULL */
};

/* Writes len bytes (borrowed) at off of the part file fd. Returns 0, or -1 with errno set. */
int slot_install_write(int fd, uint64_t off, const uint8_t *data, size_t len);

/*
 * Checks a complete upload held in memory (f, borrowed) the way slot_install()
 * does before it touches a slot: its size against the slot, its SHA-256
 * against sha, the image verification by rules, and with image_hash (may be
 * NULL) the image's own hash. Returns 0 and fills *info (when not NULL), or
 * -SLOT_INSTALL_EHASH or -SLOT_INSTALL_EIMAGE with a plain reason in why (cap
 * bytes). Used by ports whose slots are not files (tools/citysim/sim_update.c).
 */
int slot_install_check(const struct node_image_file *f, const uint8_t sha[NODE_SHA256_BYTES],
                       const struct slot_install_rules *rules, const uint8_t *image_hash,
                       struct node_image_info *info, char *why, size_t cap);

/*
 * Installs the complete upload in part (a path in dir, borrowed) into dir's
 * secondary slot, after checking it against sha and verifying it by rules
 * (keys, slot size, hardware class); with image_hash (may be NULL), the
 * image's own hash must be that one too. On success fills *info (when not NULL) and returns 0;
 * else returns a negative enum slot_install_err with a plain reason in why
 * (cap bytes). The part file is gone afterwards unless the error was
 * SLOT_INSTALL_EIO after the checks (then it may be tried again).
 */
int slot_install(const char *dir, const char *part, const uint8_t sha[NODE_SHA256_BYTES],
                 const struct slot_install_rules *rules, const uint8_t *image_hash,
                 struct node_image_info *info, char *why, size_t cap);

#endif
