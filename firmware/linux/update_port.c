/*
 * update_port.c -- the update agent's port on Linux: the transfer record,
 * the partial image and its bitmap beside the slots (update_port.h).
 */
#include "update_port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "boot.h"
#include "crypto_openssl.h"
#include "image_file.h"
#include "node_hal.h"
#include "slot_install.h"
#include "wire.h"

#define SYNC_EVERY_BLOCKS 16 /* 64 KiB */
#define REC_MAGIC "CGUR1"
#define REC_BYTES                                                                                  \
    (sizeof REC_MAGIC + NODE_UPDATE_ID_BYTES + 8 + 2 * NODE_SHA256_BYTES +                         \
     NODE_ED25519_SIG_BYTES + 8 + 4 + 1 + NODE_UPDATE_REASON_BYTES)

static int path_of(const struct update_port *p, const char *name, char *buf)
{
    return boot_store_path(p->dir, name, buf, BOOT_STORE_PATH_MAX);
}

static uint8_t *put(uint8_t *at, const void *src, size_t n)
{
    memcpy(at, src, n);
    return at + n;
}

static uint8_t *put_le(uint8_t *at, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        at[i] = (uint8_t)(v >> (8 * i));
    return at + n;
}

static const uint8_t *get(const uint8_t *at, void *dst, size_t n)
{
    memcpy(dst, at, n);
    return at + n;
}

static const uint8_t *get_le(const uint8_t *at, uint64_t *v, int n)
{
    *v = 0;
    for (int i = 0; i < n; i++)
        *v |= (uint64_t)at[i] << (8 * i);
    return at + n;
}

/* The record file: magic, transfer id, size, sha256, image hash, signature, version (major,
 * minor, revision, build), security counter, phase, reason; integers little-endian. */
static void rec_encode(const struct node_update_record *r, uint8_t *b)
{
    const struct node_update_manifest *m = &r->m;
    uint8_t *at = put(b, REC_MAGIC, sizeof REC_MAGIC);
    at = put(at, m->transfer_id, NODE_UPDATE_ID_BYTES);
    at = put_le(at, m->size, 8);
    at = put(at, m->sha256, NODE_SHA256_BYTES);
    at = put(at, m->image_hash, NODE_SHA256_BYTES);
    at = put(at, m->signature, NODE_ED25519_SIG_BYTES);
    at = put_le(at, m->version.major, 1);
    at = put_le(at, m->version.minor, 1);
    at = put_le(at, m->version.revision, 2);
    at = put_le(at, m->version.build, 4);
    at = put_le(at, m->security_counter, 4);
    at = put_le(at, r->phase, 1);
    put(at, r->reason, NODE_UPDATE_REASON_BYTES);
}

static int rec_decode(const uint8_t *b, struct node_update_record *r)
{
    struct node_update_manifest *m = &r->m;
    uint64_t v[6];
    if (memcmp(b, REC_MAGIC, sizeof REC_MAGIC) != 0)
        return -1;
    const uint8_t *at = b + sizeof REC_MAGIC;
    at = get(at, m->transfer_id, NODE_UPDATE_ID_BYTES);
    at = get_le(at, &m->size, 8);
    at = get(at, m->sha256, NODE_SHA256_BYTES);
    at = get(at, m->image_hash, NODE_SHA256_BYTES);
    at = get(at, m->signature, NODE_ED25519_SIG_BYTES);
    at = get_le(at, &v[0], 1);
    at = get_le(at, &v[1], 1);
    at = get_le(at, &v[2], 2);
    at = get_le(at, &v[3], 4);
    at = get_le(at, &v[4], 4);
    at = get_le(at, &v[5], 1);
    get(at, r->reason, NODE_UPDATE_REASON_BYTES);
    m->version =
        (struct node_image_version){(uint8_t)v[0], (uint8_t)v[1], (uint16_t)v[2], (uint32_t)v[3]};
    m->security_counter = (uint32_t)v[4];
    r->phase = (uint8_t)v[5];
    m->transfer_id[NODE_UPDATE_ID_BYTES - 1] = '\0';
    r->reason[NODE_UPDATE_REASON_BYTES - 1] = '\0';
    return 0;
}

static void close_files(struct update_port *p)
{
    if (p->part_fd >= 0)
        close(p->part_fd);
    if (p->map_fd >= 0)
        close(p->map_fd);
    p->part_fd = p->map_fd = -1;
    p->unsynced = 0;
}

static void drop_files(struct update_port *p)
{
    char part[BOOT_STORE_PATH_MAX], map[BOOT_STORE_PATH_MAX];
    close_files(p);
    if (path_of(p, "update.part", part) == 0)
        unlink(part);
    if (path_of(p, "update.map", map) == 0)
        unlink(map);
}

static int p_save(void *ctx, const struct node_update_record *rec)
{
    struct update_port *p = ctx;
    char path[BOOT_STORE_PATH_MAX];
    uint8_t b[REC_BYTES];
    rec_encode(rec, b);
    if (path_of(p, "update.rec", path) != 0 || node_file_write_atomic(path, b, sizeof b, 0644) != 0)
        return -NODE_EIO;
    if (rec->phase != NODE_UPDATE_PHASE_DOWNLOADING)
        drop_files(p);
    return 0;
}

/* Reads the primary image's version and the boot state, under the folder's lock. */
static int p_boot(void *ctx, struct node_update_boot *b)
{
    struct update_port *p = ctx;
    struct node_boot_state st;
    struct node_image_file f = {0};
    struct node_image_header h = {0};
    char err[512], path[BOOT_STORE_PATH_MAX];
    int lock = boot_store_lock(p->dir, err, sizeof err);
    int rc = lock >= 0 && boot_store_load(p->dir, &st, err, sizeof err) == 0 ? 0 : -NODE_EIO;
    boot_store_unlock(lock);
    if (rc < 0)
        return rc;
    if (boot_store_slot_path(p->dir, st.primary, path, sizeof path) == 0 &&
        node_image_file_load(path, BOOT_SLOT_MAX_BYTES, &f, err, sizeof err) == 0)
        node_image_read_header(&f.storage, &h);
    node_image_file_fini(&f);
    memset(b, 0, sizeof *b);
    b->running = h.ver;
    b->security_counter = st.security_counter;
    b->on_trial = node_boot_on_trial(&st);
    b->reverted = st.event == NODE_BOOT_EV_REVERTED;
    b->refused = st.event == NODE_BOOT_EV_REFUSED;
    b->event_version = st.event_version;
    snprintf(b->event_reason, sizeof b->event_reason, "%s", st.event_reason);
    return 0;
}

static int open_files(struct update_port *p, int fresh)
{
    char part[BOOT_STORE_PATH_MAX], map[BOOT_STORE_PATH_MAX];
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0);
    close_files(p);
    if (path_of(p, "update.part", part) != 0 || path_of(p, "update.map", map) != 0)
        return -NODE_EIO;
    p->part_fd = open(part, flags, 0644);
    p->map_fd = open(map, flags, 0644);
    if (p->part_fd < 0 || p->map_fd < 0) {
        close_files(p);
        return -NODE_EIO;
    }
    memset(p->map, 0, sizeof p->map);
    if (!fresh) {
        ssize_t n = pread(p->map_fd, p->map, sizeof p->map, 0);
        if (n < 0) {
            close_files(p);
            return -NODE_EIO;
        }
    } else if (slot_install_write(p->map_fd, 0, p->map, sizeof p->map) != 0 ||
               fdatasync(p->map_fd) != 0) {
        close_files(p);
        return -NODE_EIO;
    }
    return 0;
}

static int p_load(void *ctx, struct node_update_record *rec, uint8_t *bitmap, size_t bitmap_bytes)
{
    struct update_port *p = ctx;
    char path[BOOT_STORE_PATH_MAX];
    uint8_t b[REC_BYTES];
    if (path_of(p, "update.rec", path) != 0)
        return -NODE_EIO;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? -NODE_EEMPTY : -NODE_EIO;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n != sizeof b || rec_decode(b, rec) != 0)
        return -NODE_ECORRUPT;
    if (rec->phase != NODE_UPDATE_PHASE_DOWNLOADING)
        return 0;
    int rc = open_files(p, 0);
    if (rc < 0)
        return rc;
    memcpy(bitmap, p->map, bitmap_bytes < sizeof p->map ? bitmap_bytes : sizeof p->map);
    return 0;
}

static int p_begin(void *ctx, const struct node_update_record *rec)
{
    struct update_port *p = ctx;
    int rc = open_files(p, 1);
    return rc < 0 ? rc : p_save(p, rec);
}

static int sync_files(struct update_port *p)
{
    p->unsynced = 0;
    return fdatasync(p->part_fd) == 0 && fdatasync(p->map_fd) == 0 ? 0 : -NODE_EIO;
}

static int p_write(void *ctx, uint64_t off, const uint8_t *data, size_t len)
{
    struct update_port *p = ctx;
    uint64_t i = off / NODE_UPDATE_BLOCK_BYTES;
    if (p->part_fd < 0 || i >= NODE_UPDATE_MAX_BLOCKS)
        return -NODE_EIO;
    if (slot_install_write(p->part_fd, off, data, len) != 0)
        return -NODE_EIO;
    p->map[i / 8] = (uint8_t)(p->map[i / 8] | (1u << (i % 8)));
    if (slot_install_write(p->map_fd, i / 8, &p->map[i / 8], 1) != 0)
        return -NODE_EIO;
    if (++p->unsynced >= SYNC_EVERY_BLOCKS)
        return sync_files(p);
    return 0;
}

static int p_install(void *ctx, const struct node_update_manifest *m, char *why, size_t cap)
{
    struct update_port *p = ctx;
    char part[BOOT_STORE_PATH_MAX], err[512];
    struct node_boot_state st;
    if (p->part_fd < 0 || sync_files(p) != 0 || path_of(p, "update.part", part) != 0) {
        snprintf(why, cap, "cannot write the partial image");
        return -NODE_EIO;
    }
    close_files(p);
    /* What goes in must be what the manifest announced and the node checked. */
    struct slot_install_rules rules = {(const uint8_t(*)[NODE_ED25519_PUB_BYTES])p->keys, p->n_keys,
                                       p->slot_bytes, p->has_cid ? p->cid : NULL};
    if (slot_install(p->dir, part, m->sha256, &rules, m->image_hash, NULL, why, cap) < 0)
        return -NODE_EINVAL;
    int lock = boot_store_lock(p->dir, err, sizeof err);
    int rc = lock >= 0 && boot_store_load(p->dir, &st, err, sizeof err) == 0 ? 0 : -NODE_EIO;
    if (rc == 0) {
        node_boot_set_pending(&st, 0);
        rc = boot_store_save(p->dir, &st, err, sizeof err) == 0 ? 0 : -NODE_EIO;
    }
    boot_store_unlock(lock);
    if (rc < 0) {
        snprintf(why, cap, "cannot mark the image for its test boot: %s", err);
        return rc;
    }
    struct node_update_record rec = {.m = *m, .phase = NODE_UPDATE_PHASE_INSTALLED};
    return p_save(p, &rec);
}

static const struct node_update_port_ops ops = {p_boot,  p_load,    p_begin,
                                                p_write, p_install, p_save};

int update_port_init(struct update_port *p, const char *dir, const char *keys_hex,
                     const char *slot_bytes, const char *cid, char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->part_fd = p->map_fd = -1;
    p->slot_bytes = BOOT_SLOT_MAX_BYTES;
    if (snprintf(p->dir, sizeof p->dir, "%s", dir) >= (int)sizeof p->dir) {
        snprintf(err, cap, "the boot folder's path is too long");
        return -1;
    }
    if (slot_bytes) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(slot_bytes, &end, 10);
        if (errno || *end || v < NODE_IMAGE_HEADER_BYTES || v > BOOT_SLOT_MAX_BYTES) {
            snprintf(err, cap, "slot size \"%s\" is not a byte count the boot stage takes",
                     slot_bytes);
            return -1;
        }
        p->slot_bytes = v;
    }
    if (cid) {
        if (node_image_uuid_parse(cid, p->cid) != 0) {
            snprintf(err, cap, "hardware class \"%s\" is not a UUID", cid);
            return -1;
        }
        p->has_cid = 1;
    }
    for (const char *s = keys_hex; s && *s;) {
        if (p->n_keys == UPDATE_PORT_MAX_KEYS) {
            snprintf(err, cap, "more than %d trusted keys", UPDATE_PORT_MAX_KEYS);
            return -1;
        }
        if (wire_hex_decode(s, p->keys[p->n_keys], NODE_ED25519_PUB_BYTES) != 0) {
            snprintf(err, cap, "a trusted key is not 64 hex digits");
            return -1;
        }
        s += 2 * NODE_ED25519_PUB_BYTES;
        if (*s != ',' && *s != '\0') {
            snprintf(err, cap, "trusted keys are separated by commas");
            return -1;
        }
        s += *s == ',';
        p->n_keys++;
    }
    if (p->n_keys == 0) {
        snprintf(err, cap, "no trusted key");
        return -1;
    }
    return 0;
}

void update_port_fini(struct update_port *p)
{
    if (p->part_fd >= 0 && p->unsynced)
        sync_files(p);
    close_files(p);
}

struct node_update_port update_port_get(struct update_port *p)
{
    return (struct node_update_port){&ops, p, &node_crypto_openssl,
                                     (const uint8_t(*)[NODE_ED25519_PUB_BYTES])p->keys, p->n_keys};
}
