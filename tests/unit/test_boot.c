/*
 * test_boot.c -- the A/B boot decision (firmware/core/boot.c) over slots in
 * memory, with images signed here through OpenSSL with the golden test key.
 *
 * Covered: the trailer's bytes against MCUboot's design.md layout; the swap
 * type tables in their order; TEST then confirm; TEST then REVERT (and the
 * reverted-to image stays, as bootutil's swap_set_image_ok makes it); PERM;
 * candidates refused for a bad signature, an untrusted key, a downgrade and
 * an older security counter, with their trailers erased; the counter raised
 * only by a confirmed image; a primary that fails verification is not booted.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "boot.h"
#include "crypto_openssl.h"
#include "cu.h"

struct mem {
    uint8_t bytes[1024];
    size_t len;
};

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct mem *m = ctx;
    CU_ASSERT_FATAL(off + len <= m->len);
    memcpy(buf, m->bytes + off, len);
    return 0;
}

static int mem_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return -NODE_EIO;
}

static int mem_sync(void *ctx)
{
    (void)ctx;
    return 0;
}

static const struct node_storage_ops mem_ops = {mem_read, mem_write, mem_sync};

static EVP_PKEY *key;
static uint8_t pub[32];

static void load_key(void)
{
    if (key)
        return;
    FILE *f = fopen(TEST_DATA_DIR "/mcuboot/golden.key", "r");
    CU_ASSERT_FATAL(f != NULL);
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    size_t n = 32;
    CU_ASSERT_FATAL(key && EVP_PKEY_get_raw_public_key(key, pub, &n) == 1);
}

/* A signed image of version major.0.0 and security counter ctr into m. */
static void make_image(struct mem *m, uint8_t major, uint32_t ctr)
{
    load_key();
    static const char payload[] = "payload";
    struct node_image_header h = {.hdr_size = 32,
                                  .protect_tlv_size = NODE_IMAGE_PROT_BYTES,
                                  .img_size = sizeof payload,
                                  .ver = {major, 0, 0, 0}};
    node_image_encode_header(&h, m->bytes);
    memcpy(m->bytes + 32, payload, sizeof payload);
    node_image_encode_protected(ctr, NULL, m->bytes + 32 + sizeof payload);
    size_t hashed = 32 + sizeof payload + NODE_IMAGE_PROT_BYTES;
    uint8_t digest[32], kh[32], sig[64];
    unsigned dn;
    size_t sn = 64;
    CU_ASSERT_FATAL(EVP_Digest(m->bytes, hashed, digest, &dn, EVP_sha256(), NULL) == 1);
    CU_ASSERT_FATAL(node_image_key_hash(&node_crypto_openssl, pub, kh) == 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CU_ASSERT_FATAL(EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
                    EVP_DigestSign(md, sig, &sn, digest, 32) == 1);
    EVP_MD_CTX_free(md);
    node_image_encode_tlvs(digest, kh, sig, m->bytes + hashed);
    m->len = hashed + NODE_IMAGE_TLV_BYTES;
}

struct rig {
    struct mem m[2];
    struct node_storage slots[2];
    struct node_boot_state st;
    struct node_boot_keys keys;
};

/* Physical slot 0 holds version 1 (counter 1), confirmed; slot 1 is empty. */
static void rig_init(struct rig *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 2; i++)
        r->slots[i] = (struct node_storage){&mem_ops, &r->m[i], sizeof r->m[i].bytes};
    make_image(&r->m[0], 1, 1);
    for (int i = 0; i < 2; i++)
        r->slots[i].size_bytes = r->m[i].len;
    node_boot_state_init(&r->st);
    struct node_image_version v1 = {1, 0, 0, 0};
    node_boot_set_confirmed(&r->st, &v1);
    r->keys = (struct node_boot_keys){&node_crypto_openssl, (const uint8_t(*)[32])pub, 1};
}

static void rig_put(struct rig *r, int phys, uint8_t major, uint32_t ctr)
{
    make_image(&r->m[phys], major, ctr);
    r->slots[phys].size_bytes = r->m[phys].len;
}

static int boot(struct rig *r, uint8_t *major)
{
    struct node_image_info info;
    int rc = node_boot_go(&r->st, r->slots, &r->keys, &info);
    if (rc == 0)
        *major = info.hdr.ver.major;
    return rc;
}

static void test_trailer_bytes(void)
{
    static const uint8_t magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                      0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
    struct node_boot_trailer t = {.magic_good = 1,
                                  .image_ok = 0x01,
                                  .copy_done = 0x01,
                                  .swap_info = 0x02,
                                  .swap_size = 0x11223344};
    uint8_t b[NODE_BOOT_TRAILER_BYTES], want[NODE_BOOT_TRAILER_BYTES];
    /* From the end, each field padded to BOOT_MAX_ALIGN (8) with 0xff. */
    memset(want, 0xff, sizeof want);
    memcpy(want + 48 - 16, magic, 16);
    want[48 - 16 - 8] = 0x01;                                       /* image_ok */
    want[48 - 16 - 16] = 0x01;                                      /* copy_done */
    want[48 - 16 - 24] = 0x02;                                      /* swap_info */
    want[0] = 0x44, want[1] = 0x33, want[2] = 0x22, want[3] = 0x11; /* swap_size */
    node_boot_trailer_encode(&t, b);
    CU_ASSERT(memcmp(b, want, sizeof b) == 0);
    struct node_boot_trailer back;
    node_boot_trailer_decode(b, &back);
    CU_ASSERT(back.magic_good && back.image_ok == 1 && back.copy_done == 1 && back.swap_info == 2 &&
              back.swap_size == 0x11223344);
    memset(b, 0xff, sizeof b);
    node_boot_trailer_decode(b, &back);
    CU_ASSERT(!back.magic_good && back.image_ok == 0xff && back.copy_done == 0xff);
}

static void test_swap_tables(void)
{
    struct node_boot_state st;
    node_boot_state_init(&st);
    CU_ASSERT_EQUAL(node_boot_swap_type(&st), NODE_BOOT_SWAP_NONE);
    node_boot_set_pending(&st, 0);
    CU_ASSERT_EQUAL(node_boot_swap_type(&st), NODE_BOOT_SWAP_TEST);
    node_boot_set_pending(&st, 1);
    CU_ASSERT_EQUAL(node_boot_swap_type(&st), NODE_BOOT_SWAP_PERM);
    /* State IV: primary magic good, copy_done set, image_ok unset. */
    node_boot_state_init(&st);
    st.trailer[0].magic_good = 1;
    st.trailer[0].copy_done = NODE_BOOT_FLAG_SET;
    CU_ASSERT_EQUAL(node_boot_swap_type(&st), NODE_BOOT_SWAP_REVERT);
    /* A pending secondary takes priority over a revert (state II before IV). */
    node_boot_set_pending(&st, 0);
    CU_ASSERT_EQUAL(node_boot_swap_type(&st), NODE_BOOT_SWAP_TEST);
    st.trailer[0].image_ok = NODE_BOOT_FLAG_SET;
    node_boot_erase_secondary(&st);
    CU_ASSERT_EQUAL(node_boot_swap_type(&st), NODE_BOOT_SWAP_NONE);
}

static void test_test_then_confirm(void)
{
    struct rig r;
    uint8_t v = 0;
    rig_init(&r);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(r.st.security_counter, 1);
    rig_put(&r, 1, 2, 3);
    node_boot_set_pending(&r.st, 0);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 2);
    CU_ASSERT_EQUAL(r.st.primary, 1);
    CU_ASSERT_EQUAL(r.st.event, NODE_BOOT_EV_TESTING);
    CU_ASSERT(node_boot_on_trial(&r.st));
    CU_ASSERT_EQUAL(r.st.security_counter, 1); /* not before it is confirmed */
    struct node_image_version v2 = {2, 0, 0, 0};
    CU_ASSERT_EQUAL(node_boot_set_confirmed(&r.st, &v2), 1);
    CU_ASSERT_EQUAL(r.st.event, NODE_BOOT_EV_CONFIRMED);
    CU_ASSERT_EQUAL(node_boot_set_confirmed(&r.st, &v2), 0);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 2);
    CU_ASSERT_EQUAL(r.st.security_counter, 3);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 2);
}

static void test_test_then_revert(void)
{
    struct rig r;
    uint8_t v = 0;
    rig_init(&r);
    rig_put(&r, 1, 2, 1);
    node_boot_set_pending(&r.st, 0);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 2);
    snprintf(r.st.trial_end, sizeof r.st.trial_end, "killed by signal 11");
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(r.st.primary, 0);
    CU_ASSERT_EQUAL(r.st.event, NODE_BOOT_EV_REVERTED);
    CU_ASSERT_EQUAL(r.st.event_version.major, 2);
    CU_ASSERT_STRING_EQUAL(r.st.event_reason, "killed by signal 11");
    CU_ASSERT_EQUAL(r.st.trial_end[0], '\0');
    /* The image reverted to stays: no second revert, no swap back. */
    CU_ASSERT_EQUAL(r.st.trailer[0].image_ok, NODE_BOOT_FLAG_SET);
    CU_ASSERT_EQUAL(node_boot_swap_type(&r.st), NODE_BOOT_SWAP_NONE);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 1);
}

static void test_perm(void)
{
    struct rig r;
    uint8_t v = 0;
    rig_init(&r);
    rig_put(&r, 1, 3, 4);
    node_boot_set_pending(&r.st, 1);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 3);
    CU_ASSERT_EQUAL(r.st.event, NODE_BOOT_EV_PERMANENT);
    CU_ASSERT(!node_boot_on_trial(&r.st));
    CU_ASSERT_EQUAL(r.st.security_counter, 4);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 3);
}

static void test_refusals(void)
{
    struct rig r;
    uint8_t v = 0;
    rig_init(&r);
    r.st.security_counter = 5;
    /* An older security counter. */
    rig_put(&r, 1, 2, 4);
    node_boot_set_pending(&r.st, 0);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(r.st.event, NODE_BOOT_EV_REFUSED);
    CU_ASSERT_STRING_EQUAL(r.st.event_reason, "security counter 4 is older than installed 5");
    CU_ASSERT(!r.st.trailer[1].magic_good); /* never tried again */
    /* A downgrade. */
    rig_init(&r);
    rig_put(&r, 0, 3, 1);
    rig_put(&r, 1, 2, 1);
    node_boot_set_pending(&r.st, 1);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 3);
    CU_ASSERT_STRING_EQUAL(r.st.event_reason, "version 2.0.0+0 is older than installed 3.0.0+0");
    /* A damaged signature. */
    rig_init(&r);
    rig_put(&r, 1, 2, 1);
    r.m[1].bytes[r.m[1].len - 1] ^= 1;
    node_boot_set_pending(&r.st, 0);
    CU_ASSERT_EQUAL(boot(&r, &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_STRING_EQUAL(r.st.event_reason, node_image_strerror(-NODE_IMAGE_ESIG));
    /* An untrusted key. */
    rig_init(&r);
    rig_put(&r, 1, 2, 1);
    uint8_t other[32];
    memcpy(other, pub, 32);
    other[5] ^= 1;
    r.keys.keys = (const uint8_t(*)[32])other;
    node_boot_set_pending(&r.st, 0);
    CU_ASSERT_EQUAL(boot(&r, &v), -NODE_IMAGE_EUNKNOWN); /* the primary is not trusted either */
    CU_ASSERT_STRING_EQUAL(r.st.event_reason, node_image_strerror(-NODE_IMAGE_EUNKNOWN));
    CU_ASSERT_EQUAL(r.st.primary, 0);
    /* A corrupt primary is never booted. */
    rig_init(&r);
    r.m[0].bytes[34] ^= 1; /* in the payload */
    CU_ASSERT_EQUAL(boot(&r, &v), -NODE_IMAGE_EHASH);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"trailer bytes as in design.md", test_trailer_bytes},
        {"swap type tables", test_swap_tables},
        {"test, then confirm", test_test_then_confirm},
        {"test, then revert", test_test_then_revert},
        {"permanent", test_perm},
        {"refused candidates", test_refusals},
        {NULL, NULL},
    };
    int rc = cu_main("boot", tests);
    EVP_PKEY_free(key);
    return rc;
}
