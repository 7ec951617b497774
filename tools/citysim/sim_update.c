/*
 * sim_update.c -- the update agent's port for citysim's nodes: slots,
 * partial image and bitmap in memory, the boot stage's decision at each
 * restart, self-confirmation, and the failures made on purpose
 * (sim_update.h).
 *
 * Nothing about the protocol is decided here: the manifest checks, the
 * bitmap, the answers and the states are the node core's (update.c), the
 * install checks are the on-site upload's (slot_install_check()), and the
 * test boot, confirm and revert are the boot stage's (boot.c). What the port
 * adds is where the bytes live, which is why a simulated node behaves as a
 * citynode does, only without files.
 */
#include "sim_update.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_openssl.h"
#include "slot_install.h"

const char *const sim_update_fail_names[SIM_UPDATE_N_FAILS] = {
    [SIM_UPDATE_FAIL_NONE] = "none",
    [SIM_UPDATE_FAIL_CORRUPT] = "corrupt",
    [SIM_UPDATE_FAIL_REFUSE] = "refuse",
    [SIM_UPDATE_FAIL_CRASH] = "crash",
};

/* The slot's image is the node's own (not the fleet's first image): it may be freed. */
static int slot_owned(const struct sim_update_node *u, int i)
{
    return u->slot[i].data && u->slot[i].data != u->fleet->base.data;
}

/* Empties physical slot i. */
static void slot_drop(struct sim_update_node *u, int i)
{
    if (slot_owned(u, i))
        node_image_file_fini(&u->slot[i]);
    node_image_file_take(&u->slot[i], NULL, 0);
}

static void drop_transfer(struct sim_update_node *u)
{
    free(u->part);
    free(u->bitmap);
    u->part = NULL;
    u->bitmap = NULL;
}

static int p_boot(void *ctx, struct node_update_boot *b)
{
    const struct sim_update_node *u = ctx;
    memset(b, 0, sizeof *b);
    b->running = u->running;
    b->security_counter = u->st.security_counter;
    b->on_trial = node_boot_on_trial(&u->st);
    b->reverted = u->st.event == NODE_BOOT_EV_REVERTED;
    b->refused = u->st.event == NODE_BOOT_EV_REFUSED;
    b->event_version = u->st.event_version;
    snprintf(b->event_reason, sizeof b->event_reason, "%s", u->st.event_reason);
    return 0;
}

static int p_load(void *ctx, struct node_update_record *rec, uint8_t *bitmap, size_t bitmap_bytes)
{
    const struct sim_update_node *u = ctx;
    if (!u->has_rec)
        return -NODE_EEMPTY;
    *rec = u->rec;
    if (rec->phase == NODE_UPDATE_PHASE_DOWNLOADING && u->bitmap)
        memcpy(bitmap, u->bitmap,
               bitmap_bytes < NODE_UPDATE_BITMAP_BYTES ? bitmap_bytes : NODE_UPDATE_BITMAP_BYTES);
    return 0;
}

static int p_save(void *ctx, const struct node_update_record *rec)
{
    struct sim_update_node *u = ctx;
    u->rec = *rec;
    u->has_rec = 1;
    if (rec->phase != NODE_UPDATE_PHASE_DOWNLOADING)
        drop_transfer(u);
    return 0;
}

static int p_begin(void *ctx, const struct node_update_record *rec)
{
    struct sim_update_node *u = ctx;
    drop_transfer(u);
    u->part = calloc(1, rec->m.size ? rec->m.size : 1);
    u->bitmap = calloc(1, NODE_UPDATE_BITMAP_BYTES);
    if (!u->part || !u->bitmap) {
        drop_transfer(u);
        return -NODE_EIO;
    }
    return p_save(u, rec);
}

static int p_write(void *ctx, uint64_t off, const uint8_t *data, size_t len)
{
    struct sim_update_node *u = ctx;
    uint64_t i = off / NODE_UPDATE_BLOCK_BYTES;
    if (!u->part || off > u->rec.m.size || len > u->rec.m.size - off)
        return -NODE_EIO;
    memcpy(u->part + off, data, len);
    if (u->fail == SIM_UPDATE_FAIL_CORRUPT && off == 0 && len > 0)
        u->part[len / 2] ^= 0x10; /* a bit the flash did not keep */
    u->bitmap[i / 8] = (uint8_t)(u->bitmap[i / 8] | (1u << (i % 8)));
    return 0;
}

static int p_install(void *ctx, const struct node_update_manifest *m, char *why, size_t cap)
{
    struct sim_update_node *u = ctx;
    struct node_image_file f = {0};
    const struct slot_install_rules rules = {
        (const uint8_t(*)[NODE_ED25519_PUB_BYTES])u->fleet->keys, u->fleet->n_keys,
        NODE_UPDATE_MAX_IMAGE_BYTES, NULL};
    if (!u->part) {
        snprintf(why, cap, "the partial image is gone");
        return -NODE_EIO;
    }
    node_image_file_take(&f, u->part, m->size);
    u->part = NULL;
    if (slot_install_check(&f, m->sha256, &rules, m->image_hash, NULL, why, cap) < 0) {
        node_image_file_fini(&f);
        return -NODE_EINVAL;
    }
    if (node_boot_on_trial(&u->st)) {
        snprintf(why, cap,
                 "the running image is on trial: confirm it or let it revert, then upload again");
        node_image_file_fini(&f);
        return -NODE_EINVAL;
    }
    int sec = u->st.primary ^ 1;
    node_boot_erase_secondary(&u->st);
    slot_drop(u, sec);
    node_image_file_take(&u->slot[sec], f.data, f.len);
    node_boot_set_pending(&u->st, 0);
    struct node_update_record rec = {.m = *m, .phase = NODE_UPDATE_PHASE_INSTALLED};
    return p_save(u, &rec);
}

static const struct node_update_port_ops ops = {p_boot,  p_load,    p_begin,
                                                p_write, p_install, p_save};

int sim_update_fleet_init(struct sim_update_fleet *f, const char *image_path, const char *key_path,
                          uint32_t confirm_frames, char *err, size_t cap)
{
    struct node_image_info info;
    char why[256];
    memset(f, 0, sizeof *f);
    f->confirm_frames = confirm_frames;
    if (node_ossl_read_pubkey(key_path, f->keys[0], why, sizeof why) != 0) {
        snprintf(err, cap, "--update-key %s: %s", key_path, why);
        return -1;
    }
    f->n_keys = 1;
    if (node_image_file_load(image_path, NODE_UPDATE_MAX_IMAGE_BYTES, &f->base, why, sizeof why) !=
        0) {
        snprintf(err, cap, "--update-image: %s", why);
        return -1;
    }
    int rc = node_image_verify(&f->base.storage, &node_crypto_openssl,
                               (const uint8_t(*)[NODE_ED25519_PUB_BYTES])f->keys, f->n_keys, &info);
    if (rc < 0) {
        snprintf(err, cap, "--update-image %s: %s", image_path, node_image_strerror(rc));
        node_image_file_fini(&f->base);
        return -1;
    }
    return 0;
}

void sim_update_fleet_fini(struct sim_update_fleet *f)
{
    node_image_file_fini(&f->base);
}

int sim_update_node_init(struct sim_update_node *u, const struct sim_update_fleet *fleet,
                         enum sim_update_fail fail, char *err, size_t cap)
{
    memset(u, 0, sizeof *u);
    u->fleet = fleet;
    u->fail = (uint8_t)fail;
    node_boot_state_init(&u->st);
    node_image_file_take(&u->slot[0], fleet->base.data, fleet->base.len); /* borrowed */
    node_image_file_take(&u->slot[1], NULL, 0);
    u->port = (struct node_update_port){&ops, u, &node_crypto_openssl,
                                        (const uint8_t(*)[NODE_ED25519_PUB_BYTES])fleet->keys,
                                        fleet->n_keys};
    return sim_update_boot(u, err, cap);
}

void sim_update_node_fini(struct sim_update_node *u)
{
    drop_transfer(u);
    slot_drop(u, 0);
    slot_drop(u, 1);
}

const struct node_update_port *sim_update_port(struct sim_update_node *u)
{
    return &u->port;
}

int sim_update_boot(struct sim_update_node *u, char *err, size_t cap)
{
    const struct node_boot_keys keys = {&node_crypto_openssl,
                                        (const uint8_t(*)[NODE_ED25519_PUB_BYTES])u->fleet->keys,
                                        u->fleet->n_keys};
    struct node_image_info info;
    int sec = u->st.primary ^ 1;
    if (u->fail == SIM_UPDATE_FAIL_REFUSE && node_boot_swap_type(&u->st) == NODE_BOOT_SWAP_TEST &&
        slot_owned(u, sec) && u->slot[sec].len > NODE_IMAGE_HEADER_BYTES)
        u->slot[sec].data[NODE_IMAGE_HEADER_BYTES] ^= 0x01; /* the slot decayed */
    const struct node_storage slots[2] = {u->slot[0].storage, u->slot[1].storage};
    int rc = node_boot_go(&u->st, slots, &keys, &info);
    if (rc < 0) {
        snprintf(err, cap, "no image boots: %s", node_image_strerror(rc));
        return -1;
    }
    u->running = info.hdr.ver;
    u->confirm_pending = (uint8_t)node_boot_on_trial(&u->st);
    return 0;
}

void sim_update_request_reboot(struct sim_update_node *u)
{
    u->reboot = 1;
}

int sim_update_take_reboot(struct sim_update_node *u)
{
    int due = u->reboot;
    u->reboot = 0;
    return due;
}

void sim_update_after(struct sim_update_node *u, struct node *n)
{
    struct node_stats st;
    if (!u->confirm_pending)
        return;
    node_stats(n, &st);
    if (st.frames_confirmed < u->fleet->confirm_frames)
        return;
    u->confirm_pending = 0;
    if (u->fail == SIM_UPDATE_FAIL_CRASH) {
        snprintf(u->st.trial_end, sizeof u->st.trial_end, "crashed before it confirmed");
        sim_update_request_reboot(u);
        return;
    }
    node_boot_set_confirmed(&u->st, &u->running);
    node_image_confirmed(n);
}
