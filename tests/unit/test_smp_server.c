/*
 * test_smp_server.c -- the management port's request handling
 * (firmware/linux/smp_server.c) in a temporary boot folder, with the golden
 * image of tests/data/mcuboot as the upload.
 *
 * Covered: an upload in chunks where a chunk out of order is not written
 * and answered with the node's offset, a restarted upload of the same image
 * resumes, and the finished image lands in the secondary slot byte for
 * byte; a corrupt chunk (caught by the whole upload's SHA-256) and an image
 * signed with a key the node does not trust are refused with their reason
 * and never reach the slot; a body that is not a CBOR map, an unknown
 * command and a packet whose header lies about its length. The board's
 * limits: an image larger than the slot is refused at its first chunk
 * before anything is written, one without the node's hardware class
 * (UUID_CID) when complete, before it reaches the slot. The provisioning
 * group: identity written and read back (never the key or the password),
 * the file's other keys and sensors kept, and refusals that leave the
 * file as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto_openssl.h"
#include "cu.h"
#include "image.h"
#include "provision.h"
#include "smp.h"
#include "smp_cbor.h"
#include "smp_provision.h"
#include "smp_server.h"

static uint8_t golden[1024];
static size_t golden_len;
static uint8_t pub[32];

static void load_golden(void)
{
    char err[256];
    FILE *f = fopen(TEST_DATA_DIR "/mcuboot/golden.img", "rb");
    CU_ASSERT_FATAL(f != NULL);
    golden_len = fread(golden, 1, sizeof golden, f);
    fclose(f);
    CU_ASSERT_FATAL(
        node_ossl_read_pubkey(TEST_DATA_DIR "/mcuboot/golden.key.pub", pub, err, sizeof err) == 0);
}

/* One request; returns the response map (caller decrefs) or NULL when there was no answer. */
static cbor_item_t *call(struct smp_server *s, uint16_t group, uint8_t id, int write,
                         cbor_item_t *req)
{
    uint8_t pkt[NODE_SMP_MAX_PACKET], rsp[NODE_SMP_MAX_PACKET];
    size_t body = req ? smp_cbor_encode(req, pkt + 8, sizeof pkt - 8) : 0;
    struct node_smp_hdr h = {.op = write ? 2 : 0, .len = (uint16_t)body, .group = group, .id = id};
    node_smp_hdr_encode(&h, pkt);
    size_t n = smp_server_handle(s, pkt, 8 + body, rsp, sizeof rsp);
    if (req)
        cbor_decref(&req);
    if (n == 0)
        return NULL;
    struct node_smp_hdr rh;
    CU_ASSERT_FATAL(node_smp_hdr_decode(rsp, n, &rh) == 0);
    CU_ASSERT(rh.op == h.op + 1 && rh.group == group && rh.id == id);
    struct cbor_load_result res;
    return cbor_load(rsp + 8, n - 8, &res);
}

/* Sends golden[off, off + n) (with len and sha at offset 0); returns the node's "off" or -rc. */
static long chunk(struct smp_server *s, const uint8_t *img, size_t off, size_t n, char *rsn,
                  size_t cap)
{
    uint8_t sha[32];
    unsigned dn;
    EVP_Digest(golden, golden_len, sha, &dn, EVP_sha256(), NULL);
    cbor_item_t *m = cbor_new_definite_map(5);
    smp_cbor_put_uint(m, "off", off);
    smp_cbor_put_bytes(m, "data", img + off, n);
    if (off == 0) {
        smp_cbor_put_uint(m, "len", golden_len);
        smp_cbor_put_bytes(m, "sha", sha, sizeof sha);
    }
    cbor_item_t *r = call(s, NODE_SMP_GROUP_IMAGE, 1, 1, m);
    CU_ASSERT_FATAL(r != NULL);
    uint64_t v;
    long out;
    const uint8_t *t;
    size_t tn;
    if (smp_cbor_get_uint(r, "rc", &v) == 0 && v != 0) {
        out = -(long)v;
        if (rsn && smp_cbor_get_bytes(r, "rsn", &t, &tn) == 0)
            snprintf(rsn, cap, "%.*s", (int)tn, (const char *)t);
    } else {
        CU_ASSERT_FATAL(smp_cbor_get_uint(r, "off", &v) == 0);
        out = (long)v;
    }
    cbor_decref(&r);
    return out;
}

static char dir[64];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_smp_server.XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT(system(cmd) == 0);
}

/* 1 when DIR/slot-1.img (the secondary of a fresh folder) holds exactly the golden image. */
static int slot_is_golden(void)
{
    char path[128];
    uint8_t buf[1024];
    snprintf(path, sizeof path, "%s/slot-1.img", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n == golden_len && memcmp(buf, golden, n) == 0;
}

static void test_upload_resume_and_order(void)
{
    struct smp_server s;
    load_golden();
    fresh_dir();
    smp_server_init(&s, dir, (const uint8_t(*)[32])pub, 1);
    CU_ASSERT_EQUAL(chunk(&s, golden, 0, 100, NULL, 0), 100);
    CU_ASSERT_EQUAL(chunk(&s, golden, 200, 50, NULL, 0), 100); /* out of order: not written */
    CU_ASSERT_EQUAL(chunk(&s, golden, 50, 50, NULL, 0), 100);  /* a repeat: not written twice */
    smp_server_fini(&s);
    /* A new server (the node restarted) and the same upload from 0: it resumes. */
    smp_server_init(&s, dir, (const uint8_t(*)[32])pub, 1);
    CU_ASSERT_EQUAL(chunk(&s, golden, 0, 100, NULL, 0), 100);
    CU_ASSERT_EQUAL(chunk(&s, golden, 100, 100, NULL, 0), 200);
    CU_ASSERT(!slot_is_golden());
    CU_ASSERT_EQUAL(chunk(&s, golden, 200, golden_len - 200, NULL, 0), (long)golden_len);
    CU_ASSERT(slot_is_golden());
    CU_ASSERT(s.state_changed);
    /* The state read lists it in slot 1, bootable. */
    cbor_item_t *r = call(&s, NODE_SMP_GROUP_IMAGE, 0, 0, NULL);
    cbor_item_t *imgs = smp_cbor_get(r, "images");
    CU_ASSERT_FATAL(imgs && cbor_array_size(imgs) == 1);
    cbor_item_t *m = cbor_array_get(imgs, 0);
    uint64_t slot = 9;
    bool bootable = false;
    CU_ASSERT(smp_cbor_get_uint(m, "slot", &slot) == 0 && slot == 1);
    CU_ASSERT(smp_cbor_get_bool(m, "bootable", &bootable) == 0 && bootable);
    cbor_decref(&m);
    cbor_decref(&r);
    smp_server_fini(&s);
    remove_dir();
}

static void test_refusals(void)
{
    struct smp_server s;
    char rsn[256] = "";
    uint8_t bad[1024];
    load_golden();
    fresh_dir();
    smp_server_init(&s, dir, (const uint8_t(*)[32])pub, 1);
    memcpy(bad, golden, golden_len);
    bad[150] ^= 1; /* a corrupt chunk */
    CU_ASSERT_EQUAL(chunk(&s, bad, 0, 100, NULL, 0), 100);
    CU_ASSERT_EQUAL(chunk(&s, bad, 100, golden_len - 100, rsn, sizeof rsn), -SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "does not match its SHA-256") != NULL);
    CU_ASSERT(!slot_is_golden());
    smp_server_fini(&s);
    /* The right bytes, but a node that trusts another key. */
    uint8_t other[32];
    memcpy(other, pub, 32);
    other[0] ^= 1;
    smp_server_init(&s, dir, (const uint8_t(*)[32])other, 1);
    CU_ASSERT_EQUAL(chunk(&s, golden, 0, golden_len, rsn, sizeof rsn), -SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "signed with a key this node does not trust") != NULL);
    CU_ASSERT(!slot_is_golden());
    /* A body that is not a map, an unknown command, a header that lies about its length. */
    uint64_t rc = 0;
    cbor_item_t *r = call(&s, NODE_SMP_GROUP_OS, 0, 1, cbor_build_uint8(7));
    CU_ASSERT(r && smp_cbor_get_uint(r, "rc", &rc) == 0 && rc == SMP_ERR_EINVAL);
    cbor_decref(&r);
    r = call(&s, 99, 1, 0, NULL);
    CU_ASSERT(r && smp_cbor_get_uint(r, "rc", &rc) == 0 && rc == SMP_ERR_ENOTSUP);
    cbor_decref(&r);
    uint8_t pkt[16] = {0}, out[64];
    struct node_smp_hdr h = {.op = 0, .len = 20};
    node_smp_hdr_encode(&h, pkt);
    CU_ASSERT_EQUAL(smp_server_handle(&s, pkt, sizeof pkt, out, sizeof out), 0);
    smp_server_fini(&s);
    remove_dir();
}

/* 1 when DIR/name exists. */
static int exists(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void test_board_limits(void)
{
    struct smp_server s;
    char rsn[256] = "";
    uint8_t cid[16];
    load_golden();
    fresh_dir();
    smp_server_init(&s, dir, (const uint8_t(*)[32])pub, 1);
    s.slot_bytes = golden_len - 1;
    CU_ASSERT_EQUAL(chunk(&s, golden, 0, 100, rsn, sizeof rsn), -SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "is larger than the slot") != NULL);
    CU_ASSERT(!exists("upload.part") && !exists("upload.meta"));
    /* The golden image carries no class: a node with one refuses it, complete, before the slot. */
    CU_ASSERT_FATAL(node_image_uuid_parse("8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2b", cid) == 0);
    s.slot_bytes = golden_len;
    s.cid = cid;
    CU_ASSERT_EQUAL(chunk(&s, golden, 0, golden_len, rsn, sizeof rsn), -SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "another hardware class (image none, node "
                          "8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2b)") != NULL);
    CU_ASSERT(!slot_is_golden() && !exists("upload.part"));
    /* The board read tells a client both limits. */
    cbor_item_t *r = call(&s, NODE_SMP_GROUP_CITY, SMP_PROV_BOARD, 0, NULL);
    uint64_t size = 0;
    const uint8_t *got;
    size_t n = 0;
    CU_ASSERT(smp_cbor_get_uint(r, "slot_size", &size) == 0 && size == golden_len);
    CU_ASSERT(smp_cbor_get_bytes(r, "cid", &got, &n) == 0 && n == 16 && memcmp(got, cid, 16) == 0);
    cbor_decref(&r);
    /* Without a class the node takes it. */
    s.cid = NULL;
    CU_ASSERT_EQUAL(chunk(&s, golden, 0, golden_len, NULL, 0), (long)golden_len);
    CU_ASSERT(slot_is_golden());
    smp_server_fini(&s);
    remove_dir();
}

static const uint8_t node_key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

/* An identity write; value NULL leaves the key out. Returns the rc (0: done) and the reason. */
static uint64_t identity(struct smp_server *s, const char *key, const char *value,
                         const char *sensors, char *rsn, size_t cap)
{
    static const char *const keys[] = {"id", "site", "broker", "username", "password"};
    static const char *const values[] = {"n1", "bridge-7", "tcp://127.0.0.1:1883", "n1", "0a1b2c"};
    cbor_item_t *m = cbor_new_definite_map(7);
    for (int i = 0; i < 5; i++) {
        const char *v = strcmp(keys[i], key) == 0 ? value : values[i];
        if (v)
            smp_cbor_put_str(m, keys[i], v);
    }
    if (strcmp(key, "key") != 0)
        smp_cbor_put_bytes(m, "key", node_key, sizeof node_key);
    if (sensors)
        smp_cbor_put_str(m, "sensors", sensors);
    cbor_item_t *r = call(s, NODE_SMP_GROUP_CITY, SMP_PROV_IDENTITY, 1, m);
    CU_ASSERT_FATAL(r != NULL);
    uint64_t rc = 0;
    const uint8_t *t;
    size_t n;
    smp_cbor_get_uint(r, "rc", &rc);
    if (rsn && smp_cbor_get_bytes(r, "rsn", &t, &n) == 0)
        snprintf(rsn, cap, "%.*s", (int)n, (const char *)t);
    cbor_decref(&r);
    return rc;
}

static void test_provisioning(void)
{
    struct smp_server s;
    struct prov_diag diag;
    char rsn[256] = "", path[128];
    static struct prov p;
    fresh_dir();
    smp_server_init(&s, dir, (const uint8_t(*)[32])pub, 1);
    cbor_item_t *r = call(&s, NODE_SMP_GROUP_CITY, SMP_PROV_IDENTITY, 0, NULL);
    bool provisioned = true;
    CU_ASSERT(smp_cbor_get_bool(r, "provisioned", &provisioned) == 0 && !provisioned);
    cbor_decref(&r);
    /* A file the factory wrote: its interval, a comment and its sensor stay. */
    snprintf(path, sizeof path, "%s/node.ini", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("[node]\nid = factory\ninterval_ms = 5s\n; a note\n[sensor air]\ndriver = sim-air\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(identity(&s, "", NULL, NULL, rsn, sizeof rsn), 0);
    CU_ASSERT_FATAL(prov_load(path, &p, &diag) == 0);
    CU_ASSERT(strcmp(p.id, "n1") == 0 && strcmp(p.site, "bridge-7") == 0);
    CU_ASSERT(p.key_len == 32 && memcmp(p.key, node_key, 32) == 0);
    CU_ASSERT(strcmp(p.password, "0a1b2c") == 0 && p.interval_ms == 5000);
    CU_ASSERT(p.n_sensors == 1 && strcmp(p.sensors[0].name, "air") == 0);
    struct stat sb;
    CU_ASSERT(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    /* Read back: who it is, never the key or the password. */
    r = call(&s, NODE_SMP_GROUP_CITY, SMP_PROV_IDENTITY, 0, NULL);
    const uint8_t *t;
    size_t n;
    CU_ASSERT(smp_cbor_get_bool(r, "provisioned", &provisioned) == 0 && provisioned);
    CU_ASSERT(smp_cbor_get_bytes(r, "id", &t, &n) == 0 && n == 2 && memcmp(t, "n1", 2) == 0);
    CU_ASSERT(!smp_cbor_get(r, "key") && !smp_cbor_get(r, "password"));
    cbor_decref(&r);
    /* New sensors replace the old ones. */
    CU_ASSERT_EQUAL(identity(&s, "", NULL, "[sensor loop-1]\ndriver = sim-traffic\n", NULL, 0), 0);
    CU_ASSERT_FATAL(prov_load(path, &p, &diag) == 0);
    CU_ASSERT(p.n_sensors == 1 && strcmp(p.sensors[0].name, "loop-1") == 0);
    /* Refusals, each with its reason, each leaving the file as it was. */
    CU_ASSERT_EQUAL(identity(&s, "key", NULL, NULL, rsn, sizeof rsn), SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "provisioning needs \"key\"") != NULL);
    CU_ASSERT_EQUAL(identity(&s, "password", "a;b", NULL, rsn, sizeof rsn), SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "password: at most") != NULL);
    CU_ASSERT_EQUAL(identity(&s, "", NULL, "[node]\nid = x\n", rsn, sizeof rsn), SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "only hold [sensor NAME] sections") != NULL);
    CU_ASSERT_EQUAL(identity(&s, "id", "bad id", NULL, rsn, sizeof rsn), SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "node refused: line") != NULL && strstr(rsn, "id:") != NULL);
    CU_ASSERT_EQUAL(identity(&s, "", NULL, "[sensor s]\nlanes = 2\n", rsn, sizeof rsn),
                    SMP_ERR_EINVAL);
    CU_ASSERT(strstr(rsn, "needs driver") != NULL);
    CU_ASSERT_FATAL(prov_load(path, &p, &diag) == 0);
    CU_ASSERT(strcmp(p.id, "n1") == 0 && p.n_sensors == 1 &&
              strcmp(p.sensors[0].name, "loop-1") == 0);
    CU_ASSERT(!exists("node.ini.new"));
    smp_server_fini(&s);
    remove_dir();
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"upload: order, repeats, resume after a restart", test_upload_resume_and_order},
        {"refusals with their reasons", test_refusals},
        {"the board's slot size and hardware class", test_board_limits},
        {"provisioning: identity in, file kept, refusals", test_provisioning},
        {NULL, NULL},
    };
    return cu_main("smp_server", tests);
}
