/*
 * smp_server.h -- the node's management port: MCUmgr SMP requests in,
 * responses out, over the boot stage's folder (boot_store.h).
 *
 * Groups and commands (Zephyr's os_mgmt and img_mgmt, SMP version 1 maps):
 *
 *   OS 0/0 echo {"d"} -> {"r"}; 0/5 reset -> {} (the caller restarts the
 *   node after sending the response); 0/7 info -> {"output"}.
 *   Image 1/0 state read -> {"images": [{"image", "slot", "version",
 *   "hash", "bootable", "pending", "confirmed", "active", "permanent"}]};
 *   1/0 state write {"hash", "confirm"}: test (confirm false, the
 *   secondary's hash), permanent (confirm true, the secondary's hash) or
 *   confirm (confirm true, the primary's hash or none).
 *   1/1 upload {"off", "data", "len" and "sha" with off 0} -> {"off"}: the
 *   node answers with the offset it holds, so a client resumes from there
 *   after any interruption; the whole upload must match "sha" (SHA-256)
 *   and verify as a signed image before it replaces the secondary slot.
 *   An image larger than the slot is refused at its first chunk, before
 *   anything is written; one built for another hardware class (UUID_CID,
 *   image.h) when it is complete, before it reaches the slot.
 *   Provisioning 64/0 and 64/1: smp_provision.h.
 *
 * Errors are {"rc": MGMT_ERR_*, "rsn": "plain reason"}. One server is used
 * by one thread.
 */
#ifndef CITYGATE_SMP_SERVER_H
#define CITYGATE_SMP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "node_crypto.h"

/* mcumgr's MGMT_ERR_* values. */
enum {
    SMP_ERR_OK = 0,
    SMP_ERR_EUNKNOWN = 1,
    SMP_ERR_ENOMEM = 2,
    SMP_ERR_EINVAL = 3,
    SMP_ERR_ENOENT = 5,
    SMP_ERR_EBADSTATE = 6,
    SMP_ERR_EMSGSIZE = 7,
    SMP_ERR_ENOTSUP = 8,
};

struct smp_server {
    const char *dir;  /* the boot stage's folder (borrowed) */
    const char *info; /* the text of OS info ("citynode-boot 0.1.0"; borrowed) */
    const uint8_t (*keys)[NODE_ED25519_PUB_BYTES];
    size_t n_keys;
    uint64_t slot_bytes; /* the largest image a slot takes (BOOT_SLOT_MAX_BYTES unless set) */
    const uint8_t *cid;  /* the node's hardware class (NODE_IMAGE_CID_BYTES, borrowed), or NULL */
    int reset_requested; /* set by OS reset; the caller acts on it */
    int state_changed;   /* set when a request changed the boot state */
    int part_fd;         /* the upload in progress, or -1 */
    uint64_t part_len;   /* its announced length */
    uint64_t part_off;   /* bytes held */
    uint8_t part_sha[NODE_SHA256_BYTES];
    uint64_t unsynced; /* bytes written since the last fdatasync */
};

/* Sets up s for dir and keys (borrowed); picks up an upload left by an earlier run. */
void smp_server_init(struct smp_server *s, const char *dir,
                     const uint8_t (*keys)[NODE_ED25519_PUB_BYTES], size_t n_keys);
void smp_server_fini(struct smp_server *s);

/*
 * Handles the request packet req (len bytes, borrowed) and writes the
 * response packet to rsp (cap bytes). Returns the response's length, or 0
 * when there is none (the request was not a request, or not an SMP packet).
 */
size_t smp_server_handle(struct smp_server *s, const uint8_t *req, size_t len, uint8_t *rsp,
                         size_t cap);

#endif
