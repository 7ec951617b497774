/*
 * smp_server.c -- the node's management port: SMP requests over the boot
 * stage's folder.
 *
 * An upload goes to DIR/upload.part, with its announced length and SHA-256
 * in DIR/upload.meta (replaced atomically when an upload starts). The
 * offset the node reports is the size of the part file, so that after a
 * SIGKILL, a reset or a lost link the client resumes exactly where the node
 * stands; a new upload of the same length and hash resumes too instead of
 * starting over. Only a complete, hash-matching, verified image replaces
 * the secondary slot (slot_install.h, shared with the update over MQTT).
 */
#include "smp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "boot.h"
#include "boot_store.h"
#include "crypto_openssl.h"
#include "slot_install.h"
#include "smp.h"
#include "smp_cbor.h"
#include "smp_provision.h"

#define SYNC_EVERY_BYTES (64u << 10)

/* One request being answered. */
struct call {
    struct smp_server *s;
    struct node_smp_hdr hdr;
    cbor_item_t *req; /* the request map (may be NULL for an empty body) */
    cbor_item_t *rsp; /* the response map being built */
};

static int fail(struct call *c, int rc, const char *reason)
{
    smp_cbor_put_int(c->rsp, "rc", rc);
    if (reason)
        smp_cbor_put_str(c->rsp, "rsn", reason);
    return 0;
}

static int part_path(const struct smp_server *s, const char *name, char *buf, size_t size)
{
    return boot_store_path(s->dir, name, buf, size);
}

static void part_close(struct smp_server *s)
{
    if (s->part_fd >= 0)
        close(s->part_fd);
    s->part_fd = -1;
    s->part_len = s->part_off = 0;
}

void smp_server_init(struct smp_server *s, const char *dir,
                     const uint8_t (*keys)[NODE_ED25519_PUB_BYTES], size_t n_keys)
{
    memset(s, 0, sizeof *s);
    s->dir = dir;
    s->keys = keys;
    s->n_keys = n_keys;
    s->slot_bytes = BOOT_SLOT_MAX_BYTES;
    s->part_fd = -1;
    /* An upload left by an earlier run: its meta says what it is, its size where it stands. */
    char meta[BOOT_STORE_PATH_MAX], part[BOOT_STORE_PATH_MAX];
    uint8_t m[8 + NODE_SHA256_BYTES];
    if (part_path(s, "upload.meta", meta, sizeof meta) != 0 ||
        part_path(s, "upload.part", part, sizeof part) != 0)
        return;
    FILE *f = fopen(meta, "rb");
    if (!f)
        return;
    size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    int fd = open(part, O_RDWR | O_CLOEXEC);
    struct stat sb;
    if (n != sizeof m || fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len |= (uint64_t)m[i] << (8 * i);
    if ((uint64_t)sb.st_size > len) {
        close(fd);
        return;
    }
    s->part_fd = fd;
    s->part_len = len;
    s->part_off = (uint64_t)sb.st_size;
    memcpy(s->part_sha, m + 8, NODE_SHA256_BYTES);
}

void smp_server_fini(struct smp_server *s)
{
    if (s->part_fd >= 0)
        fdatasync(s->part_fd);
    part_close(s);
}

/* ---- OS group ---- */

static int os_echo(struct call *c)
{
    const uint8_t *d;
    size_t n;
    if (smp_cbor_get_bytes(c->req, "d", &d, &n) != 0)
        return fail(c, SMP_ERR_EINVAL, "echo needs \"d\"");
    return smp_cbor_put(c->rsp, "r", cbor_build_stringn((const char *)d, n));
}

static int os_info(struct call *c)
{
    char text[256];
    snprintf(text, sizeof text, "%s, slots in %s", c->s->info ? c->s->info : "citynode", c->s->dir);
    return smp_cbor_put_str(c->rsp, "output", text);
}

/* ---- image group ---- */

static const uint8_t (*keys_of(const struct smp_server *s))[NODE_ED25519_PUB_BYTES]
{
    return s->keys;
}

/* Loads state and slots under the lock; returns the lock fd or -1 (answered). */
static int load(struct call *c, struct node_boot_state *st, struct boot_slots *sl)
{
    char err[512];
    int fd = boot_store_lock(c->s->dir, err, sizeof err);
    if (fd < 0 || boot_store_load(c->s->dir, st, err, sizeof err) != 0 ||
        boot_slots_load(c->s->dir, sl, err, sizeof err) != 0) {
        boot_store_unlock(fd);
        fail(c, SMP_ERR_EUNKNOWN, err);
        return -1;
    }
    return fd;
}

static int image_state_reply(struct call *c, const struct node_boot_state *st,
                             const struct boot_slots *sl)
{
    cbor_item_t *arr = cbor_new_definite_array(2);
    if (!arr)
        return fail(c, SMP_ERR_ENOMEM, NULL);
    enum node_boot_swap t = node_boot_swap_type(st);
    int trial = node_boot_on_trial(st);
    for (int k = 0; k < 2; k++) {
        int phys = k == 0 ? st->primary : st->primary ^ 1;
        struct node_image_info info;
        struct node_image_header h;
        if (node_image_read_header(&sl->storage[phys], &h) != 0)
            continue;
        int ok = node_image_verify(&sl->storage[phys], &node_crypto_openssl, keys_of(c->s),
                                   c->s->n_keys, &info) == 0;
        if (!ok && node_image_verify(&sl->storage[phys], &node_crypto_openssl, NULL, 0, &info) != 0)
            memset(info.hash, 0, sizeof info.hash);
        char ver[48];
        node_image_version_format(&h.ver, ver, sizeof ver);
        int pending = k == 1 && (t == NODE_BOOT_SWAP_TEST || t == NODE_BOOT_SWAP_PERM);
        cbor_item_t *m = cbor_new_definite_map(9);
        if (!m || smp_cbor_put_uint(m, "image", 0) || smp_cbor_put_uint(m, "slot", (uint64_t)k) ||
            smp_cbor_put_str(m, "version", ver) ||
            smp_cbor_put_bytes(m, "hash", info.hash, sizeof info.hash) ||
            smp_cbor_put_bool(m, "bootable", ok) || smp_cbor_put_bool(m, "pending", pending) ||
            smp_cbor_put_bool(m, "confirmed", k == 0 ? !trial : trial) ||
            smp_cbor_put_bool(m, "active", k == 0) ||
            smp_cbor_put_bool(m, "permanent",
                              pending && st->trailer[phys].image_ok == NODE_BOOT_FLAG_SET) ||
            !cbor_array_push(arr, cbor_move(m))) {
            if (m && cbor_refcount(m))
                cbor_decref(&m);
            cbor_decref(&arr);
            return fail(c, SMP_ERR_ENOMEM, NULL);
        }
    }
    if (smp_cbor_put(c->rsp, "images", arr) != 0)
        return fail(c, SMP_ERR_ENOMEM, NULL);
    return smp_cbor_put_uint(c->rsp, "splitStatus", 0);
}

static int image_state(struct call *c)
{
    struct node_boot_state st;
    struct boot_slots sl;
    char err[512];
    int lock = load(c, &st, &sl);
    if (lock < 0)
        return 0;
    if (c->hdr.op == NODE_SMP_OP_WRITE) {
        const uint8_t *hash = NULL;
        size_t hash_len = 0;
        bool confirm = false;
        smp_cbor_get_bool(c->req, "confirm", &confirm);
        int has_hash = smp_cbor_get_bytes(c->req, "hash", &hash, &hash_len) == 0;
        struct node_image_info run, cand;
        int run_ok = node_image_verify(&sl.storage[st.primary], &node_crypto_openssl, keys_of(c->s),
                                       c->s->n_keys, &run) == 0;
        int cand_rc = node_image_verify(&sl.storage[st.primary ^ 1], &node_crypto_openssl,
                                        keys_of(c->s), c->s->n_keys, &cand);
        int is_primary = !has_hash || (run_ok && hash_len == NODE_SHA256_BYTES &&
                                       memcmp(hash, run.hash, hash_len) == 0);
        int is_secondary = has_hash && cand_rc == 0 && hash_len == NODE_SHA256_BYTES &&
                           memcmp(hash, cand.hash, hash_len) == 0;
        char why[NODE_BOOT_REASON_BYTES];
        int rc = -1;
        if (confirm && is_primary) {
            node_boot_set_confirmed(&st, &run.hdr.ver);
            rc = 0;
        } else if (!is_secondary && has_hash && hash_len == NODE_SHA256_BYTES && cand_rc < 0 &&
                   node_image_read_header(&sl.storage[st.primary ^ 1], &cand.hdr) == 0) {
            snprintf(why, sizeof why, "node refused: %s", node_image_strerror(cand_rc));
            fail(c, SMP_ERR_EINVAL, why);
        } else if (!is_secondary) {
            fail(c, SMP_ERR_ENOENT, "no image with that hash on the node");
        } else if (node_boot_check_rollback(&st, run_ok ? &run : NULL, &cand, why, sizeof why) !=
                   0) {
            char msg[NODE_BOOT_REASON_BYTES + 16];
            snprintf(msg, sizeof msg, "node refused: %s", why);
            fail(c, SMP_ERR_EINVAL, msg);
        } else {
            node_boot_set_pending(&st, confirm);
            rc = 0;
        }
        if (rc == 0) {
            if (boot_store_save(c->s->dir, &st, err, sizeof err) != 0) {
                fail(c, SMP_ERR_EUNKNOWN, err);
                rc = -1;
            } else {
                c->s->state_changed = 1;
            }
        }
        if (rc != 0) {
            boot_slots_free(&sl);
            boot_store_unlock(lock);
            return 0;
        }
    }
    image_state_reply(c, &st, &sl);
    boot_slots_free(&sl);
    boot_store_unlock(lock);
    return 0;
}

/* Starts (or resumes) an upload of len bytes with hash sha. Returns 0 or answers and -1. */
static int upload_begin(struct call *c, uint64_t len, const uint8_t *sha)
{
    struct smp_server *s = c->s;
    char meta[BOOT_STORE_PATH_MAX], part[BOOT_STORE_PATH_MAX];
    if (s->part_fd >= 0 && s->part_len == len && memcmp(s->part_sha, sha, NODE_SHA256_BYTES) == 0)
        return 0; /* the same image again: resume where we stand */
    part_close(s);
    uint8_t m[8 + NODE_SHA256_BYTES];
    for (int i = 0; i < 8; i++)
        m[i] = (uint8_t)(len >> (8 * i));
    memcpy(m + 8, sha, NODE_SHA256_BYTES);
    if (part_path(s, "upload.meta", meta, sizeof meta) != 0 ||
        part_path(s, "upload.part", part, sizeof part) != 0) {
        fail(c, SMP_ERR_EUNKNOWN, "path too long");
        return -1;
    }
    int fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || node_file_write_atomic(meta, m, sizeof m, 0644) != 0) {
        if (fd >= 0)
            close(fd);
        fail(c, SMP_ERR_EUNKNOWN, strerror(errno));
        return -1;
    }
    s->part_fd = fd;
    s->part_len = len;
    s->part_off = 0;
    s->unsynced = 0;
    memcpy(s->part_sha, sha, NODE_SHA256_BYTES);
    return 0;
}

/* The part is complete: check it and move it into the secondary slot (slot_install.h). */
static int upload_finish(struct call *c)
{
    struct smp_server *s = c->s;
    char meta[BOOT_STORE_PATH_MAX], part[BOOT_STORE_PATH_MAX], why[512];
    static const int smp_rc[] = {
        [SLOT_INSTALL_EIO] = SMP_ERR_EUNKNOWN,
        [SLOT_INSTALL_EHASH] = SMP_ERR_EINVAL,
        [SLOT_INSTALL_EIMAGE] = SMP_ERR_EINVAL,
        [SLOT_INSTALL_ETRIAL] = SMP_ERR_EBADSTATE,
    };
    uint64_t len = s->part_len;
    part_path(s, "upload.meta", meta, sizeof meta);
    part_path(s, "upload.part", part, sizeof part);
    fdatasync(s->part_fd);
    part_close(s);
    struct slot_install_rules rules = {keys_of(s), s->n_keys, s->slot_bytes, s->cid};
    int rc = slot_install(s->dir, part, s->part_sha, &rules, NULL, NULL, why, sizeof why);
    if (rc < 0) {
        if (rc != -SLOT_INSTALL_EIO)
            unlink(meta);
        return fail(c, smp_rc[-rc], why);
    }
    unlink(meta);
    s->state_changed = 1;
    smp_cbor_put_uint(c->rsp, "off", len);
    smp_cbor_put_bool(c->rsp, "match", true);
    return 0;
}

static int image_upload(struct call *c)
{
    struct smp_server *s = c->s;
    uint64_t off, len;
    const uint8_t *data, *sha;
    size_t n, sha_len;
    if (smp_cbor_get_uint(c->req, "off", &off) != 0 ||
        smp_cbor_get_bytes(c->req, "data", &data, &n) != 0)
        return fail(c, SMP_ERR_EINVAL, "upload needs \"off\" and \"data\"");
    if (off == 0) {
        if (smp_cbor_get_uint(c->req, "len", &len) != 0 ||
            smp_cbor_get_bytes(c->req, "sha", &sha, &sha_len) != 0 || sha_len != NODE_SHA256_BYTES)
            return fail(c, SMP_ERR_EINVAL, "the first chunk needs \"len\" and a 32-byte \"sha\"");
        if (len < NODE_IMAGE_HEADER_BYTES)
            return fail(c, SMP_ERR_EINVAL, "the image is shorter than an image header");
        if (len > s->slot_bytes) {
            char why[128];
            snprintf(why, sizeof why,
                     "node refused: the image (%llu bytes) is larger than the slot "
                     "(%llu bytes)",
                     (unsigned long long)len, (unsigned long long)s->slot_bytes);
            return fail(c, SMP_ERR_EINVAL, why);
        }
        if (upload_begin(c, len, sha) != 0)
            return 0;
        if (s->part_off == s->part_len) /* all there before a cut: finish it now */
            return upload_finish(c);
        if (s->part_off > 0) /* resuming: tell the client where we stand */
            return smp_cbor_put_uint(c->rsp, "off", s->part_off);
    }
    if (s->part_fd < 0)
        return fail(c, SMP_ERR_EBADSTATE, "no upload in progress: start again at offset 0");
    /* A chunk not at our offset (lost, repeated or out of order): say where we are. */
    if (off != s->part_off)
        return smp_cbor_put_uint(c->rsp, "off", s->part_off);
    if (n > s->part_len - s->part_off)
        return fail(c, SMP_ERR_EINVAL, "the chunk runs past the announced length");
    if (slot_install_write(s->part_fd, off, data, n) != 0)
        return fail(c, SMP_ERR_EUNKNOWN, "cannot write the upload");
    s->part_off += n;
    s->unsynced += n;
    if (s->unsynced >= SYNC_EVERY_BYTES) {
        fdatasync(s->part_fd);
        s->unsynced = 0;
    }
    if (s->part_off == s->part_len)
        return upload_finish(c);
    return smp_cbor_put_uint(c->rsp, "off", s->part_off);
}

/* ---- dispatch ---- */

size_t smp_server_handle(struct smp_server *s, const uint8_t *req, size_t len, uint8_t *rsp,
                         size_t cap)
{
    struct call c = {.s = s};
    struct cbor_load_result res;
    if (node_smp_hdr_decode(req, len, &c.hdr) != 0 || cap < NODE_SMP_HDR_BYTES)
        return 0;
    if (c.hdr.op != NODE_SMP_OP_READ && c.hdr.op != NODE_SMP_OP_WRITE)
        return 0;
    c.rsp = cbor_new_definite_map(8);
    if (!c.rsp)
        return 0;
    if (c.hdr.len > 0) {
        c.req = cbor_load(req + NODE_SMP_HDR_BYTES, c.hdr.len, &res);
        if (!c.req || !cbor_isa_map(c.req)) {
            fail(&c, SMP_ERR_EINVAL, "the request is not a CBOR map");
            goto answer;
        }
    }
    int g = c.hdr.group, id = c.hdr.id, w = c.hdr.op == NODE_SMP_OP_WRITE;
    if (g == NODE_SMP_GROUP_OS && id == 0)
        os_echo(&c);
    else if (g == NODE_SMP_GROUP_OS && id == 5 && w)
        s->reset_requested = 1;
    else if (g == NODE_SMP_GROUP_OS && id == 7)
        os_info(&c);
    else if (g == NODE_SMP_GROUP_IMAGE && id == 0)
        image_state(&c);
    else if (g == NODE_SMP_GROUP_IMAGE && id == 1 && w)
        image_upload(&c);
    else if (g == NODE_SMP_GROUP_CITY)
        smp_provision_handle(s, id, w, c.req, c.rsp);
    else
        fail(&c, SMP_ERR_ENOTSUP, "unknown group or command");
answer:;
    size_t body = smp_cbor_encode(c.rsp, rsp + NODE_SMP_HDR_BYTES, cap - NODE_SMP_HDR_BYTES);
    if (body == 0) {
        cbor_decref(&c.rsp);
        c.rsp = cbor_new_definite_map(1);
        if (c.rsp)
            smp_cbor_put_int(c.rsp, "rc", SMP_ERR_EMSGSIZE);
        body =
            c.rsp ? smp_cbor_encode(c.rsp, rsp + NODE_SMP_HDR_BYTES, cap - NODE_SMP_HDR_BYTES) : 0;
    }
    struct node_smp_hdr h = c.hdr;
    h.op = (uint8_t)(c.hdr.op + 1);
    h.len = (uint16_t)body;
    node_smp_hdr_encode(&h, rsp);
    if (c.req)
        cbor_decref(&c.req);
    if (c.rsp)
        cbor_decref(&c.rsp);
    return NODE_SMP_HDR_BYTES + body;
}
