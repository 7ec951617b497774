/*
 * slot_install.c -- an uploaded image into the inactive slot, for the
 * management port and the update over MQTT alike (slot_install.h).
 */
#include "slot_install.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "atomic_file.h"
#include "boot.h"
#include "boot_store.h"
#include "crypto_openssl.h"
#include "image_file.h"

int slot_install_write(int fd, uint64_t off, const uint8_t *data, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(fd, data + done, len - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

int slot_install_check(const struct node_image_file *f, const uint8_t sha[NODE_SHA256_BYTES],
                       const struct slot_install_rules *rules, const uint8_t *image_hash,
                       struct node_image_info *info, char *why, size_t cap)
{
    struct node_image_info got;
    uint8_t digest[NODE_SHA256_BYTES];
    unsigned n = 0;
    if (f->len > rules->slot_bytes) {
        snprintf(why, cap, "the image is %zu bytes, more than the %llu the slot holds", f->len,
                 (unsigned long long)rules->slot_bytes);
        return -SLOT_INSTALL_EIMAGE;
    }
    if (EVP_Digest(f->data, f->len, digest, &n, EVP_sha256(), NULL) != 1 ||
        memcmp(digest, sha, sizeof digest) != 0) {
        snprintf(why, cap, "the upload does not match its SHA-256: send it again");
        return -SLOT_INSTALL_EHASH;
    }
    int v = node_image_verify(&f->storage, &node_crypto_openssl, rules->keys, rules->n_keys, &got);
    if (v == 0)
        v = node_image_check_class(&got, rules->cid);
    if (v < 0) {
        char img_cid[37] = "none", node_cid[37] = "";
        if (v == -NODE_IMAGE_ECLASS) {
            if (got.has_cid)
                node_image_uuid_format(got.cid, img_cid);
            node_image_uuid_format(rules->cid, node_cid);
            snprintf(why, cap, "node refused: %s (image %s, node %s)", node_image_strerror(v),
                     img_cid, node_cid);
        } else {
            snprintf(why, cap, "node refused: %s", node_image_strerror(v));
        }
        return -SLOT_INSTALL_EIMAGE;
    }
    if (image_hash && memcmp(image_hash, got.hash, sizeof got.hash) != 0) {
        snprintf(why, cap, "the image is not the one its manifest announced");
        return -SLOT_INSTALL_EIMAGE;
    }
    if (info)
        *info = got;
    return 0;
}

int slot_install(const char *dir, const char *part, const uint8_t sha[NODE_SHA256_BYTES],
                 const struct slot_install_rules *rules, const uint8_t *image_hash,
                 struct node_image_info *info, char *why, size_t cap)
{
    char slot[BOOT_STORE_PATH_MAX], err[512];
    struct node_image_file f = {0};
    struct node_image_info got;
    int rc = -SLOT_INSTALL_EIO, keep = 0;
    if (node_image_file_load(part, rules->slot_bytes, &f, err, sizeof err) != 0) {
        snprintf(why, cap, "%s", err);
        goto out;
    }
    if ((rc = slot_install_check(&f, sha, rules, image_hash, &got, why, cap)) < 0)
        goto out;
    rc = -SLOT_INSTALL_EIO;
    struct node_boot_state st;
    int lock = boot_store_lock(dir, err, sizeof err);
    if (lock < 0 || boot_store_load(dir, &st, err, sizeof err) != 0) {
        boot_store_unlock(lock);
        snprintf(why, cap, "%s", err);
        keep = 1;
        goto out;
    }
    if (node_boot_on_trial(&st)) {
        boot_store_unlock(lock);
        snprintf(why, cap,
                 "the running image is on trial: confirm it or let it revert, then upload again");
        rc = -SLOT_INSTALL_ETRIAL;
        goto out;
    }
    /* The trailer goes first: a cut after it leaves an erased slot, never a stale "test". */
    node_boot_erase_secondary(&st);
    if (boot_store_save(dir, &st, err, sizeof err) != 0 ||
        boot_store_slot_path(dir, st.primary ^ 1, slot, sizeof slot) != 0 ||
        rename(part, slot) != 0 || node_file_sync_dir(slot) != 0) {
        boot_store_unlock(lock);
        snprintf(why, cap, "cannot write the secondary slot");
        keep = 1;
        goto out;
    }
    boot_store_unlock(lock);
    if (info)
        *info = got;
    rc = 0;
    keep = 1; /* renamed: nothing left to remove */
out:
    if (!keep)
        unlink(part);
    node_image_file_fini(&f);
    return rc;
}
