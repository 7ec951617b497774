/*
 * update_port.h -- the update agent's port on Linux (update.h): the
 * transfer beside the boot stage's slots, in its folder.
 *
 *     DIR/update.rec    the transfer record (manifest, phase, reason), replaced atomically
 *     DIR/update.part   the partial image, blocks written at their offsets
 *     DIR/update.map    the bitmap of blocks held, sized for the largest update
 *
 * A block is written to the part file before its bit is set in the map, and
 * both are fdatasync'ed every 64 KiB (part first): a SIGKILL loses nothing
 * acknowledged, a power cut at most the last 64 KiB, which the node then
 * reports missing and the sender sends again; a map bit made durable before
 * its block is caught by the whole image's SHA-256 at the end. The complete
 * image goes into the inactive slot through slot_install.h, the path of the
 * on-site upload, and is then marked for a test boot.
 *
 * citynode finds the folder, the trusted keys, the slot's size and the
 * node's hardware class in CITYNODE_BOOT_DIR, CITYNODE_BOOT_KEYS,
 * CITYNODE_BOOT_SLOT_BYTES and CITYNODE_BOOT_CID, set by citynode-boot for
 * its payload: an update is held to the boot stage's own rules. One thread.
 */
#ifndef CITYGATE_UPDATE_PORT_H
#define CITYGATE_UPDATE_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "boot_store.h"
#include "update.h"

#define UPDATE_PORT_MAX_KEYS 8

struct update_port {
    char dir[BOOT_STORE_PATH_MAX];
    uint8_t keys[UPDATE_PORT_MAX_KEYS][NODE_ED25519_PUB_BYTES];
    size_t n_keys;
    uint64_t slot_bytes;
    uint8_t cid[NODE_IMAGE_CID_BYTES];
    int has_cid;
    int part_fd, map_fd;
    uint8_t map[NODE_UPDATE_BITMAP_BYTES];
    unsigned unsynced; /* blocks written since the last fdatasync */
};

/*
 * Sets up p for the boot folder dir (copied), the trusted keys as
 * comma-separated hex (keys_hex), the slot's size in bytes (slot_bytes, may
 * be NULL: the largest slot) and the node's hardware class (cid, a UUID, may
 * be NULL: none); all borrowed. Returns 0, or -1 with why in err (cap bytes).
 * Release with update_port_fini().
 */
int update_port_init(struct update_port *p, const char *dir, const char *keys_hex,
                     const char *slot_bytes, const char *cid, char *err, size_t cap);
void update_port_fini(struct update_port *p);

/* The port as node_config.update wants it; p must outlive its use. */
struct node_update_port update_port_get(struct update_port *p);

#endif
