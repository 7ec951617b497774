/*
 * test_image.c -- MCUboot images (firmware/core/image.c) through the OpenSSL
 * crypto port (firmware/linux/crypto_openssl.c).
 *
 * The golden vector tests/data/mcuboot/golden.img (made by MCUboot's imgtool,
 * see the README beside it) is rebuilt here byte by byte from the layout in
 * MCUboot's docs/design.md, with every hash and the signature computed by
 * OpenSSL directly, never by the code under test; then the core must accept
 * it and report its fields, and refuse every damaged variant with the right
 * reason: a flipped byte anywhere in the hashed region, a flipped signature,
 * another key, truncation at every length, sizes that point outside the
 * slot, a security counter smuggled into the unprotected area, a protected
 * area whose size disagrees with the header.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto_openssl.h"
#include "cu.h"
#include "image.h"

#define GOLDEN TEST_DATA_DIR "/mcuboot/"
static const char payload[] =
    "MCUboot golden vector for citygate: header, payload, protected TLVs, TLVs.\n";
#define PAYLOAD_LEN (sizeof payload - 1)

/* A slot in memory. */
struct mem {
    const uint8_t *bytes;
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

static int verify(const uint8_t *img, size_t len, const uint8_t (*keys)[32], size_t n_keys,
                  struct node_image_info *info)
{
    struct mem m = {img, len};
    struct node_storage st = {&mem_ops, &m, len};
    return node_image_verify(&st, &node_crypto_openssl, keys, n_keys, info);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    uint8_t *buf = malloc(65536);
    CU_ASSERT_FATAL(buf != NULL);
    *len = fread(buf, 1, 65536, f);
    fclose(f);
    return buf;
}

static EVP_PKEY *golden_key(void)
{
    FILE *f = fopen(GOLDEN "golden.key", "r");
    CU_ASSERT_FATAL(f != NULL);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    CU_ASSERT_FATAL(k != NULL);
    return k;
}

static void raw_pub(EVP_PKEY *k, uint8_t out[32])
{
    size_t n = 32;
    CU_ASSERT_FATAL(EVP_PKEY_get_raw_public_key(k, out, &n) == 1 && n == 32);
}

/*
 * The golden image, built from design.md "Image format" with the golden key:
 * version 1.2.3+4, security counter 5. Returns its length; *out is malloc'd.
 */
static size_t build_expected(uint8_t **out)
{
    /* struct image_header, little-endian. */
    static const uint8_t header[32] = {
        0x3d,        0xb8, 0xf3, 0x96,             /* ih_magic 0x96f3b83d */
        0x00,        0x00, 0x00, 0x00,             /* ih_load_addr */
        0x20,        0x00,                         /* ih_hdr_size 32 */
        0x0c,        0x00,                         /* ih_protect_tlv_size: info 4 + SEC_CNT 4 + 4 */
        PAYLOAD_LEN, 0,    0,    0,                /* ih_img_size */
        0x00,        0x00, 0x00, 0x00,             /* ih_flags */
        1,           2,    3,    0,    4, 0, 0, 0, /* ih_ver 1.2.3+4 */
        0x00,        0x00, 0x00, 0x00,             /* _pad1 */
    };
    static const uint8_t prot[12] = {
        0x08, 0x69, 0x0c, 0x00, /* IMAGE_TLV_PROT_INFO_MAGIC, it_tlv_tot 12 */
        0x50, 0x00, 0x04, 0x00, /* IMAGE_TLV_SEC_CNT, len 4 */
        0x05, 0x00, 0x00, 0x00, /* counter 5 */
    };
    size_t hashed = sizeof header + PAYLOAD_LEN + sizeof prot;
    size_t len = hashed + 4 + 36 + 36 + 68;
    uint8_t *b = malloc(len), *p;
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, header, sizeof header);
    memcpy(b + sizeof header, payload, PAYLOAD_LEN);
    memcpy(b + sizeof header + PAYLOAD_LEN, prot, sizeof prot);

    uint8_t digest[32], key_hash[32], sig[64];
    unsigned n = 0;
    CU_ASSERT_FATAL(EVP_Digest(b, hashed, digest, &n, EVP_sha256(), NULL) == 1);
    EVP_PKEY *k = golden_key();
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(k, &der);
    CU_ASSERT_FATAL(der_len == 44);
    CU_ASSERT_FATAL(EVP_Digest(der, (size_t)der_len, key_hash, &n, EVP_sha256(), NULL) == 1);
    OPENSSL_free(der);
    /* imgtool's Ed25519.sign_digest(): the message is the 32-byte digest. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sig_len = sizeof sig;
    CU_ASSERT_FATAL(EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1);
    CU_ASSERT_FATAL(EVP_DigestSign(md, sig, &sig_len, digest, sizeof digest) == 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);

    p = b + hashed;
    static const uint8_t info[4] = {0x07, 0x69, 0x90, 0x00}; /* IMAGE_TLV_INFO_MAGIC, tot 144 */
    static const uint8_t t_sha[4] = {0x10, 0x00, 0x20, 0x00};
    static const uint8_t t_keyhash[4] = {0x01, 0x00, 0x20, 0x00};
    static const uint8_t t_ed[4] = {0x24, 0x00, 0x40, 0x00};
    memcpy(p, info, 4), p += 4;
    memcpy(p, t_sha, 4), p += 4;
    memcpy(p, digest, 32), p += 32;
    memcpy(p, t_keyhash, 4), p += 4;
    memcpy(p, key_hash, 32), p += 32;
    memcpy(p, t_ed, 4), p += 4;
    memcpy(p, sig, 64), p += 64;
    CU_ASSERT_FATAL((size_t)(p - b) == len);
    *out = b;
    return len;
}

static void test_golden_bytes(void)
{
    uint8_t *want, *got;
    size_t want_len = build_expected(&want), got_len;
    got = read_file(GOLDEN "golden.img", &got_len);
    CU_ASSERT_EQUAL(got_len, want_len);
    CU_ASSERT(got_len == want_len && memcmp(got, want, want_len) == 0);
    free(got);
    free(want);
}

static void test_golden_verifies(void)
{
    uint8_t *img, pub[32];
    size_t len = build_expected(&img);
    EVP_PKEY *k = golden_key();
    raw_pub(k, pub);
    EVP_PKEY_free(k);
    struct node_image_info info;
    CU_ASSERT_EQUAL_FATAL(verify(img, len, (const uint8_t(*)[32])pub, 1, &info), 0);
    CU_ASSERT_EQUAL(info.key_index, 0);
    CU_ASSERT_EQUAL(info.hdr.hdr_size, 32);
    CU_ASSERT_EQUAL(info.hdr.img_size, PAYLOAD_LEN);
    CU_ASSERT(info.hdr.ver.major == 1 && info.hdr.ver.minor == 2 && info.hdr.ver.revision == 3 &&
              info.hdr.ver.build == 4);
    CU_ASSERT(info.has_security_counter && info.security_counter == 5);
    CU_ASSERT_EQUAL(info.total_bytes, len);
    uint8_t digest[32];
    unsigned n;
    EVP_Digest(img, len - 144, digest, &n, EVP_sha256(), NULL);
    CU_ASSERT(memcmp(info.hash, digest, 32) == 0);
    /* Without keys: structure and hash only. */
    CU_ASSERT_EQUAL(verify(img, len, NULL, 0, &info), 0);
    CU_ASSERT_EQUAL(info.key_index, -1);
    free(img);
}

/* The layout the core writes is the layout of the golden image. */
static void test_encoders(void)
{
    uint8_t *img;
    size_t len = build_expected(&img);
    struct node_image_header h = {
        .hdr_size = 32, .protect_tlv_size = 12, .img_size = PAYLOAD_LEN, .ver = {1, 2, 3, 4}};
    uint8_t hb[32], pb[NODE_IMAGE_PROT_BYTES], tb[NODE_IMAGE_TLV_BYTES];
    node_image_encode_header(&h, hb);
    CU_ASSERT(memcmp(hb, img, 32) == 0);
    CU_ASSERT(node_image_encode_protected(5, NULL, pb) == sizeof pb);
    CU_ASSERT(memcmp(pb, img + 32 + PAYLOAD_LEN, sizeof pb) == 0);
    const uint8_t *t = img + len - NODE_IMAGE_TLV_BYTES;
    node_image_encode_tlvs(t + 8, t + 44, t + 80, tb);
    CU_ASSERT(memcmp(tb, t, sizeof tb) == 0);
    uint8_t pub[32], kh[32];
    EVP_PKEY *k = golden_key();
    raw_pub(k, pub);
    EVP_PKEY_free(k);
    CU_ASSERT_EQUAL(node_image_key_hash(&node_crypto_openssl, pub, kh), 0);
    CU_ASSERT(memcmp(kh, t + 44, 32) == 0);
    free(img);
}

static void test_damage(void)
{
    uint8_t *img, pub[32], other[32];
    size_t len = build_expected(&img);
    EVP_PKEY *k = golden_key();
    raw_pub(k, pub);
    EVP_PKEY_free(k);
    memcpy(other, pub, 32);
    other[0] ^= 1;
    const uint8_t(*keys)[32] = (const uint8_t(*)[32])pub;
    struct node_image_info info;
    size_t hashed = len - 144;

    /*
     * Any byte of the payload or of the counter's value: the hash. The
     * protected area's own structure (info, type, length): refused, for
     * whichever reason is found first.
     */
    for (size_t i = 32; i < hashed; i++) {
        img[i] ^= 0x40;
        int rc = verify(img, len, keys, 1, &info);
        if (i < 32 + PAYLOAD_LEN || i >= hashed - 4)
            CU_ASSERT_EQUAL(rc, -NODE_IMAGE_EHASH);
        CU_ASSERT(rc < 0);
        img[i] ^= 0x40;
    }
    /* Header bytes that keep the sizes sane also break the hash. */
    for (size_t i = 16; i < 32; i++) {
        img[i] ^= 0x01;
        CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_EHASH);
        img[i] ^= 0x01;
    }
    img[0] ^= 1;
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_EEMPTY);
    img[0] ^= 1;
    /* The signature, the stored hash, the key hash. */
    img[len - 1] ^= 1;
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_ESIG);
    CU_ASSERT_EQUAL(verify(img, len, NULL, 0, &info), 0);
    img[len - 1] ^= 1;
    img[hashed + 8] ^= 1;
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_EHASH);
    img[hashed + 8] ^= 1;
    CU_ASSERT_EQUAL(verify(img, len, (const uint8_t(*)[32])other, 1, &info), -NODE_IMAGE_EUNKNOWN);
    uint8_t two[2][32];
    memcpy(two[0], other, 32);
    memcpy(two[1], pub, 32);
    CU_ASSERT_EQUAL(verify(img, len, (const uint8_t(*)[32])two, 2, &info), 0);
    CU_ASSERT_EQUAL(info.key_index, 1);

    /* Every truncation is refused, never read past. */
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT(verify(img, cut, keys, 1, &info) < 0);

    /* Sizes that point outside the slot. */
    img[12] = 0xff, img[13] = 0xff, img[14] = 0xff, img[15] = 0xff;
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_ETOOBIG);
    img[12] = PAYLOAD_LEN, img[13] = img[14] = img[15] = 0;
    img[8] = 0x10; /* a header shorter than the header */
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_EHEADER);
    img[8] = 0x20;
    /* ih_protect_tlv_size disagrees with the protected info. */
    img[10] = 0x10;
    CU_ASSERT(verify(img, len, keys, 1, &info) < 0);
    img[10] = 0x0c;
    /* The TLV info's total runs past the slot. */
    img[hashed + 2] = 0xa0;
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), -NODE_IMAGE_ETOOBIG);
    img[hashed + 2] = 0x90;
    CU_ASSERT_EQUAL(verify(img, len, keys, 1, &info), 0);

    /* A SEC_CNT appended to the unprotected area is not allowed. */
    uint8_t *longer = malloc(len + 8);
    CU_ASSERT_FATAL(longer != NULL);
    memcpy(longer, img, len);
    static const uint8_t extra[8] = {0x50, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff};
    memcpy(longer + len, extra, sizeof extra);
    longer[hashed + 2] = 0x98;
    CU_ASSERT_EQUAL(verify(longer, len + 8, keys, 1, &info), -NODE_IMAGE_ETLV);
    free(longer);
    free(img);
}

static void test_versions(void)
{
    struct node_image_version v, w;
    char buf[48];
    CU_ASSERT_EQUAL(node_image_version_parse("1.2.0", &v), 0);
    CU_ASSERT(v.major == 1 && v.minor == 2 && v.revision == 0 && v.build == 0);
    CU_ASSERT_EQUAL(node_image_version_parse("255.255.65535+4294967295", &v), 0);
    node_image_version_format(&v, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "255.255.65535+4294967295");
    CU_ASSERT_EQUAL(node_image_version_parse("3", &w), 0);
    CU_ASSERT(w.major == 3 && w.minor == 0);
    static const char *bad[] = {"",        "1.", "256.0.0", "1.2.65536", "1.2.3+4294967296",
                                "1.2.3.4", "v1", "1.-2",    "1.2.3+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(node_image_version_parse(bad[i], &v), -1);
    struct node_image_version a = {1, 2, 3, 4}, b = {1, 2, 3, 5}, c = {1, 3, 0, 0};
    CU_ASSERT(node_image_version_cmp(&a, &b) < 0);
    CU_ASSERT(node_image_version_cmp(&c, &b) > 0);
    CU_ASSERT(node_image_version_cmp(&a, &a) == 0);
}

/* UUID text against bytes written out by hand: either case read, lowercase written. */
static void test_hex_and_uuid(void)
{
    static const uint8_t want[] = {0x8e, 0x1c, 0x2a, 0x4b, 0x0d, 0x3f, 0x4e, 0x55,
                                   0x9a, 0x6b, 0x7c, 0x8d, 0x9e, 0x0f, 0x1a, 0x2b};
    uint8_t b[16];
    char text[37];
    memset(b, 0, sizeof b);
    CU_ASSERT_EQUAL(node_image_uuid_parse("8e1c2a4b-0d3f-4e55-9A6B-7c8d9e0f1a2b", b), 0);
    CU_ASSERT(memcmp(b, want, sizeof want) == 0);
    memset(text, 'x', sizeof text);
    node_image_uuid_format(b, text);
    CU_ASSERT_STRING_EQUAL(text, "8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2b");
    static const char *bad[] = {"8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2",
                                "8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2b0",
                                "8e1c2a4b0d3f-4e55-9a6b-7c8d9e0f1a2b-",
                                "8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2g",
                                "nope",
                                ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_EQUAL(node_image_uuid_parse(bad[i], b), -1);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"golden image rebuilt from design.md", test_golden_bytes},
        {"golden image verifies", test_golden_verifies},
        {"encoders lay out the golden image", test_encoders},
        {"damaged images are refused with their reason", test_damage},
        {"versions", test_versions},
        {"hex and UUID text", test_hex_and_uuid},
        {NULL, NULL},
    };
    return cu_main("image", tests);
}
