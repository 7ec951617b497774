/*
 * test_update.c -- the node's update agent (firmware/core/update.c) over a
 * port that keeps the record, the blocks and the bitmap in memory, with the
 * golden image's real hash and signature as the manifest's.
 *
 * Covered: blocks in any order, each acknowledged by offset, a duplicate
 * acknowledged again and counted, never written twice; the refusals of the
 * issue (unknown transfer, past the size, off a block boundary, wrong length,
 * bad signature, older counter and version, a second transfer while one is
 * busy, a transfer id reused for another image), each with its reason and
 * counted; a restart in the middle resumes with exactly the blocks held; the
 * states after the test boot (TESTING, then CONFIRMED when the node confirmed
 * itself), a revert and a refusal by the boot stage, a failed install (its
 * manifest again does not retry it), and a cancel (its manifest again does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_openssl.h"
#include "cu.h"
#include "node_hal.h"
#include "update.h"

#define IMAGE_BYTES (5 * NODE_UPDATE_BLOCK_BYTES + 100) /* six blocks, the last one short */

/* What the fake port keeps: a node's storage that survives a restart of the agent. */
struct fake {
    struct node_update_boot boot;
    int has_rec;
    struct node_update_record rec;
    uint8_t map[NODE_UPDATE_BITMAP_BYTES];
    uint8_t image[IMAGE_BYTES];
    unsigned writes[8]; /* per block */
    int installs, fail_install;
    char install_why[64];
};

static struct fake F;
static uint8_t pub[32], hash[32], sig[64];
static uint8_t image[IMAGE_BYTES];

static int f_boot(void *ctx, struct node_update_boot *b)
{
    *b = ((struct fake *)ctx)->boot;
    return 0;
}

static int f_load(void *ctx, struct node_update_record *rec, uint8_t *bitmap, size_t n)
{
    struct fake *f = ctx;
    if (!f->has_rec)
        return -NODE_EEMPTY;
    *rec = f->rec;
    memcpy(bitmap, f->map, n < sizeof f->map ? n : sizeof f->map);
    return 0;
}

static int f_save(void *ctx, const struct node_update_record *rec)
{
    struct fake *f = ctx;
    f->rec = *rec;
    f->has_rec = 1;
    return 0;
}

static int f_begin(void *ctx, const struct node_update_record *rec)
{
    struct fake *f = ctx;
    memset(f->map, 0, sizeof f->map);
    memset(f->image, 0, sizeof f->image);
    memset(f->writes, 0, sizeof f->writes);
    return f_save(ctx, rec);
}

static int f_write(void *ctx, uint64_t off, const uint8_t *data, size_t len)
{
    struct fake *f = ctx;
    uint64_t i = off / NODE_UPDATE_BLOCK_BYTES;
    memcpy(f->image + off, data, len);
    f->map[i / 8] = (uint8_t)(f->map[i / 8] | 1u << (i % 8));
    f->writes[i]++;
    return 0;
}

static int f_install(void *ctx, const struct node_update_manifest *m, char *why, size_t cap)
{
    struct fake *f = ctx;
    f->installs++;
    if (f->fail_install || memcmp(f->image, image, sizeof image) != 0) {
        snprintf(why, cap, "%s", "the upload does not match its SHA-256");
        return -NODE_EINVAL;
    }
    f->rec.m = *m;
    f->rec.phase = NODE_UPDATE_PHASE_INSTALLED;
    return 0;
}

static const struct node_update_port_ops fake_ops = {f_boot,  f_load,    f_begin,
                                                     f_write, f_install, f_save};

static struct node_update_port port(void)
{
    return (struct node_update_port){&fake_ops, &F, &node_crypto_openssl, (const uint8_t(*)[32])pub,
                                     1};
}

/* The golden image's key, hash and signature; a fresh node running 1.0.0 with counter 1. */
static void setup(void)
{
    char err[256];
    uint8_t golden[512];
    FILE *f = fopen(TEST_DATA_DIR "/mcuboot/golden.img", "rb");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(golden, 1, sizeof golden, f);
    fclose(f);
    CU_ASSERT_FATAL(
        node_ossl_read_pubkey(TEST_DATA_DIR "/mcuboot/golden.key.pub", pub, err, sizeof err) == 0);
    /* The TLV area ends with SHA256 (4 + 32), KEYHASH (4 + 32), ED25519 (4 + 64). */
    memcpy(sig, golden + n - 64, 64);
    memcpy(hash, golden + n - 64 - 4 - 32 - 4 - 32, 32);
    memset(&F, 0, sizeof F);
    F.boot.running = (struct node_image_version){1, 0, 0, 0};
    F.boot.security_counter = 1;
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (uint8_t)(i * 7 + i / 4096);
}

static struct node_update_manifest manifest(const char *id)
{
    struct node_update_manifest m = {
        .size = IMAGE_BYTES, .version = {1, 2, 3, 4}, .security_counter = 5};
    snprintf(m.transfer_id, sizeof m.transfer_id, "%s", id);
    memcpy(m.image_hash, hash, 32);
    memcpy(m.signature, sig, 64);
    memset(m.sha256, 0xab, 32);
    return m;
}

static uint64_t block_len(uint64_t off)
{
    return IMAGE_BYTES - off < NODE_UPDATE_BLOCK_BYTES ? IMAGE_BYTES - off
                                                       : NODE_UPDATE_BLOCK_BYTES;
}

static void send_block(struct node_update *u, const char *id, unsigned i,
                       struct node_update_answer *a)
{
    uint64_t off = (uint64_t)i * NODE_UPDATE_BLOCK_BYTES;
    node_update_block(u, id, off, image + off, block_len(off), a);
}

static void test_transfer_and_refusals(void)
{
    struct node_update u;
    struct node_update_answer a;
    struct node_update_port p = port();
    setup();
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_IDLE);

    /* Nothing for a transfer the node does not know. */
    send_block(&u, "t1", 0, &a);
    CU_ASSERT(!a.ack && a.refusal && strstr(a.refusal, "unknown transfer"));

    struct node_update_manifest m = manifest("t1");
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal == NULL && a.bitmap && a.state_changed);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADING);
    CU_ASSERT_EQUAL(node_update_held_bytes(&u), 0);

    /* Out of order: the short last block first, then 2; 2 again is acknowledged, not written. */
    send_block(&u, "t1", 5, &a);
    CU_ASSERT(a.ack && a.offset == 5 * NODE_UPDATE_BLOCK_BYTES && !a.refusal);
    CU_ASSERT_EQUAL(node_update_held_bytes(&u), 100);
    send_block(&u, "t1", 2, &a);
    send_block(&u, "t1", 2, &a);
    CU_ASSERT(a.ack && a.refusal == NULL);
    CU_ASSERT_EQUAL(F.writes[2], 1);
    CU_ASSERT_EQUAL(u.duplicates, 1);
    CU_ASSERT_EQUAL(node_update_held_bytes(&u), NODE_UPDATE_BLOCK_BYTES + 100);

    /* Bad blocks: each refused with its reason, counted, nothing written. */
    uint64_t refused = u.refused;
    node_update_block(&u, "t1", 6 * NODE_UPDATE_BLOCK_BYTES, image, 10, &a);
    CU_ASSERT(!a.ack && strstr(a.refusal, "past the image size"));
    node_update_block(&u, "t1", 100, image, NODE_UPDATE_BLOCK_BYTES, &a);
    CU_ASSERT(!a.ack && strstr(a.refusal, "block boundary"));
    node_update_block(&u, "t1", 0, image, 100, &a);
    CU_ASSERT(!a.ack && strstr(a.refusal, "has 100 bytes, not 4096"));
    node_update_block(&u, "t2", 0, image, NODE_UPDATE_BLOCK_BYTES, &a);
    CU_ASSERT(!a.ack && strstr(a.refusal, "unknown transfer"));
    CU_ASSERT_EQUAL(u.refused, refused + 4);
    CU_ASSERT_EQUAL(F.writes[0], 0);

    /* A second transfer while this one runs, and this id for another image. */
    struct node_update_manifest other = manifest("t2");
    node_update_manifest(&u, &other, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "busy with transfer t1 (DOWNLOADING)"));
    other = manifest("t1");
    other.size--;
    node_update_manifest(&u, &other, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "another image"));
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADING);

    /* The rest; the last block installs and asks for the test boot. */
    for (unsigned i = 0; i < 5; i++) {
        if (i == 2)
            continue;
        send_block(&u, "t1", i, &a);
        CU_ASSERT(a.ack);
        CU_ASSERT_EQUAL(a.reboot, i == 4);
    }
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADED);
    CU_ASSERT_EQUAL(F.installs, 1);
    CU_ASSERT(memcmp(F.image, image, sizeof image) == 0);
    for (unsigned i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(F.writes[i], 1);
    /* A late repeat of a block is acknowledged again. */
    send_block(&u, "t1", 3, &a);
    CU_ASSERT(a.ack && !a.refusal);
    CU_ASSERT_EQUAL(u.duplicates, 2);
}

static void test_manifest_checks(void)
{
    struct node_update u;
    struct node_update_answer a;
    struct node_update_port p = port();
    setup();
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    struct node_update_manifest m = manifest("t1");
    m.signature[10] ^= 1;
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "signature is not from a key this node trusts"));
    m = manifest("t1");
    m.image_hash[0] ^= 1; /* the signature no longer covers the hash */
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "signature"));
    F.boot.security_counter = 6;
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    m = manifest("t1");
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "security counter 5 is older than installed 6"));
    F.boot.security_counter = 1;
    F.boot.running = (struct node_image_version){2, 0, 0, 0};
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "version 1.2.3+4 is older than installed 2.0.0+0"));
    F.boot.running = (struct node_image_version){1, 0, 0, 0};
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    m.size = NODE_UPDATE_MAX_IMAGE_BYTES + 1;
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "larger than"));
    CU_ASSERT_EQUAL(u.refused, 1);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_IDLE);
    CU_ASSERT_FALSE(F.has_rec);
}

static void test_resume_after_restart(void)
{
    struct node_update u;
    struct node_update_answer a;
    struct node_update_port p = port();
    setup();
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    struct node_update_manifest m = manifest("t1");
    node_update_manifest(&u, &m, &a);
    send_block(&u, "t1", 1, &a);
    send_block(&u, "t1", 4, &a);
    /* The node restarts: a new agent over the same storage. */
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADING);
    CU_ASSERT_EQUAL(u.held_blocks, 2);
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal == NULL && a.bitmap && !a.state_changed);
    CU_ASSERT_EQUAL(u.bitmap[0], (1u << 1) | (1u << 4));
    for (unsigned i = 0; i < 6; i++)
        if (!(u.bitmap[0] >> i & 1))
            send_block(&u, "t1", i, &a);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADED);
    for (unsigned i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(F.writes[i], 1);
    CU_ASSERT_EQUAL(u.duplicates, 0);
}

static void test_states_after_boot(void)
{
    struct node_update u;
    struct node_update_answer a;
    struct node_update_port p = port();
    setup();
    F.has_rec = 1;
    F.rec.m = manifest("t1");
    F.rec.phase = NODE_UPDATE_PHASE_INSTALLED;
    /* Installed, not booted yet. */
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADED);
    /* Booted on trial; the node's self-confirmation makes it CONFIRMED, once. */
    F.boot.running = (struct node_image_version){1, 2, 3, 4};
    F.boot.on_trial = 1;
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_TESTING);
    CU_ASSERT_EQUAL(node_update_confirmed(&u), 1);
    CU_ASSERT_EQUAL(node_update_confirmed(&u), 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_CONFIRMED);
    /* The same manifest again (a sender resuming) only answers: CONFIRMED, no bitmap. */
    struct node_update_manifest m = manifest("t1");
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal == NULL && !a.bitmap && !a.state_changed);
    /* Confirmed, after a restart. */
    F.boot.on_trial = 0;
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_CONFIRMED);
    /* Reverted by the boot stage: the old image runs and says why. */
    F.boot.running = (struct node_image_version){1, 0, 0, 0};
    F.boot.reverted = 1;
    F.boot.event_version = (struct node_image_version){1, 2, 3, 4};
    snprintf(F.boot.event_reason, sizeof F.boot.event_reason, "killed by signal 11");
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_REVERTED);
    CU_ASSERT_STRING_EQUAL(u.rec.reason, "killed by signal 11");
    /* Refused by the boot stage. */
    F.boot.reverted = 0;
    F.boot.refused = 1;
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_FAILED);
    CU_ASSERT(strstr(u.rec.reason, "the boot stage refused it: killed by signal 11") != NULL);
    /* Refused because it did not verify: the boot stage knows no version of it (0.0.0+0). */
    F.boot.event_version = (struct node_image_version){0, 0, 0, 0};
    snprintf(F.boot.event_reason, sizeof F.boot.event_reason, "the SHA-256 does not match");
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_FAILED);
    CU_ASSERT(strstr(u.rec.reason, "the boot stage refused it: the SHA-256") != NULL);
    /* After a revert, a new transfer may start. */
    m = manifest("t2");
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal == NULL && u.state == NODE_UPDATE_DOWNLOADING);
}

static void test_install_failure_and_cancel(void)
{
    struct node_update u;
    struct node_update_answer a;
    struct node_update_port p = port();
    setup();
    F.fail_install = 1;
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    struct node_update_manifest m = manifest("t1");
    node_update_manifest(&u, &m, &a);
    for (unsigned i = 0; i < 6; i++)
        send_block(&u, "t1", i, &a);
    CU_ASSERT(a.state_changed && !a.reboot);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_FAILED);
    CU_ASSERT_STRING_EQUAL(u.rec.reason, "the upload does not match its SHA-256");
    /* FAILED is kept across a restart, and a block for it is refused. */
    CU_ASSERT_FATAL(node_update_init(&u, &p) == 0);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_FAILED);
    send_block(&u, "t1", 0, &a);
    CU_ASSERT(!a.ack && strstr(a.refusal, "failed transfer"));
    /* Its manifest again only says where it stands: a failed transfer is not retried. */
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal == NULL && !a.bitmap && !a.state_changed);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_FAILED);

    F.fail_install = 0;
    m = manifest("t3");
    node_update_manifest(&u, &m, &a);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADING);
    node_update_cancel(&u, "t9", &a);
    CU_ASSERT(a.refusal && strstr(a.refusal, "unknown transfer"));
    node_update_cancel(&u, "t3", &a);
    CU_ASSERT(a.refusal == NULL && a.state_changed);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_FAILED);
    CU_ASSERT_STRING_EQUAL(u.rec.reason, "cancelled");
    CU_ASSERT_EQUAL(F.rec.phase, NODE_UPDATE_PHASE_FAILED);
    /* A cancelled transfer's manifest again (its sender retries it) starts it again. */
    m = manifest("t3");
    node_update_manifest(&u, &m, &a);
    CU_ASSERT(a.refusal == NULL && a.bitmap && a.state_changed);
    CU_ASSERT_EQUAL(u.state, NODE_UPDATE_DOWNLOADING);
    CU_ASSERT_EQUAL(u.held_blocks, 0);
    for (unsigned i = 0; i < 6; i++)
        send_block(&u, "t3", i, &a);
    CU_ASSERT(a.reboot && u.state == NODE_UPDATE_DOWNLOADED);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"a transfer in any order, duplicates and refusals", test_transfer_and_refusals},
        {"manifest: signature, counter, version, size", test_manifest_checks},
        {"a restart resumes with the blocks held", test_resume_after_restart},
        {"states after the test boot", test_states_after_boot},
        {"a failed install and a cancel", test_install_failure_and_cancel},
        {NULL, NULL},
    };
    return cu_main("update", tests);
}
