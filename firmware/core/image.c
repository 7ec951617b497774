/*
 * image.c -- firmware images in the MCUboot format: parse, verify, lay out.
 *
 * The checks follow bootutil's image_validate.c: every size in the header
 * and the TLV infos is bounded by the slot before anything is read through
 * it, the protected area's length must equal ih_protect_tlv_size, the TLVs
 * of each area must tile it exactly, and outside the protected area only the
 * TLVs we know are allowed (design.md "TLV allow list"), so that nothing an
 * attacker can append without breaking the hash (a second SEC_CNT, say) is
 * ever read. The hash is computed in 512-byte reads so that a slot of any
 * size is verified with a fixed amount of stack.
 */
#include "image.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

#define READ_CHUNK 512

/* DER SubjectPublicKeyInfo prefix of an ed25519 key (RFC 8410 section 4). */
static const uint8_t ed25519_spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

const char *node_image_strerror(int err)
{
    static const char *const text[NODE_IMAGE_N_ERRS] = {
        [NODE_IMAGE_OK] = "ok",
        [NODE_IMAGE_EIO] = "the slot could not be read",
        [NODE_IMAGE_EEMPTY] = "no image (the MCUboot header magic is missing)",
        [NODE_IMAGE_EHEADER] = "the image header is damaged",
        [NODE_IMAGE_ETOOBIG] = "the image is larger than the slot",
        [NODE_IMAGE_ETLV] = "the image's TLV area is damaged or incomplete",
        [NODE_IMAGE_EHASH] = "the image is corrupt (SHA-256 does not match)",
        [NODE_IMAGE_EUNKNOWN] = "the image is signed with a key this node does not trust",
        [NODE_IMAGE_ESIG] = "the signature does not match the key",
        [NODE_IMAGE_ECRYPTO] = "the crypto library failed",
        [NODE_IMAGE_ECLASS] = "the image is built for another hardware class",
    };
    if (err < 0)
        err = -err;
    if (err >= NODE_IMAGE_N_ERRS)
        return "unknown image error";
    return text[err];
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int slot_read(const struct node_storage *slot, uint64_t off, void *buf, size_t len)
{
    if (off > slot->size_bytes || len > slot->size_bytes - off)
        return -NODE_IMAGE_ETOOBIG;
    return slot->ops->read(slot->ctx, off, buf, len) == 0 ? 0 : -NODE_IMAGE_EIO;
}

int node_image_read_header(const struct node_storage *slot, struct node_image_header *out)
{
    uint8_t b[NODE_IMAGE_HEADER_BYTES];
    int rc = slot_read(slot, 0, b, sizeof b);
    if (rc == -NODE_IMAGE_ETOOBIG)
        return -NODE_IMAGE_EEMPTY;
    if (rc < 0)
        return rc;
    if (get32(b) != NODE_IMAGE_MAGIC)
        return -NODE_IMAGE_EEMPTY;
    struct node_image_header h = {
        .load_addr = get32(b + 4),
        .hdr_size = get16(b + 8),
        .protect_tlv_size = get16(b + 10),
        .img_size = get32(b + 12),
        .flags = get32(b + 16),
        .ver = {.major = b[20], .minor = b[21], .revision = get16(b + 22), .build = get32(b + 24)},
    };
    if (h.hdr_size < NODE_IMAGE_HEADER_BYTES)
        return -NODE_IMAGE_EHEADER;
    if (h.protect_tlv_size != 0 && h.protect_tlv_size < 4)
        return -NODE_IMAGE_EHEADER;
    /* 64-bit sums: none of these can wrap. */
    if ((uint64_t)h.hdr_size + h.img_size + h.protect_tlv_size + 4 > slot->size_bytes)
        return -NODE_IMAGE_ETOOBIG;
    *out = h;
    return 0;
}

/* One TLV area: [off, off + tot), tot read from its info, bounded by the slot. */
struct tlv_area {
    uint64_t off;
    uint16_t tot;
};

static int read_area(const struct node_storage *slot, uint64_t off, uint16_t magic,
                     struct tlv_area *out)
{
    uint8_t info[4];
    int rc = slot_read(slot, off, info, sizeof info);
    if (rc < 0)
        return rc == -NODE_IMAGE_ETOOBIG ? -NODE_IMAGE_ETLV : rc;
    if (get16(info) != magic)
        return -NODE_IMAGE_ETLV;
    uint16_t tot = get16(info + 2);
    if (tot < 4)
        return -NODE_IMAGE_ETLV;
    if (off + tot > slot->size_bytes)
        return -NODE_IMAGE_ETOOBIG;
    out->off = off;
    out->tot = tot;
    return 0;
}

/*
 * Steps to the TLV after *pos in area; returns 1 with its type, length and
 * value offset, 0 at the exact end of the area, or a negative error when a
 * TLV runs past the end.
 */
static int next_tlv(const struct node_storage *slot, const struct tlv_area *a, uint64_t *pos,
                    uint16_t *type, uint16_t *len, uint64_t *val_off)
{
    uint64_t end = a->off + a->tot;
    if (*pos == end)
        return 0;
    if (end - *pos < 4)
        return -NODE_IMAGE_ETLV;
    uint8_t t[4];
    int rc = slot_read(slot, *pos, t, sizeof t);
    if (rc < 0)
        return rc;
    *type = get16(t);
    *len = get16(t + 2);
    if (end - *pos - 4 < *len)
        return -NODE_IMAGE_ETLV;
    *val_off = *pos + 4;
    *pos += 4 + (uint64_t)*len;
    return 1;
}

static int hash_region(const struct node_storage *slot, const struct node_crypto *crypto,
                       uint64_t len, uint8_t out[NODE_SHA256_BYTES])
{
    struct node_sha256 h;
    uint8_t buf[READ_CHUNK];
    int rc = 0;
    if (crypto->ops->sha256_begin(crypto->ctx, &h) != 0)
        return -NODE_IMAGE_ECRYPTO;
    for (uint64_t off = 0; off < len;) {
        size_t n = len - off < sizeof buf ? (size_t)(len - off) : sizeof buf;
        rc = slot_read(slot, off, buf, n);
        if (rc < 0)
            goto out;
        if (crypto->ops->sha256_update(crypto->ctx, &h, buf, n) != 0) {
            rc = -NODE_IMAGE_ECRYPTO;
            goto out;
        }
        off += n;
    }
out:
    if (rc < 0) {
        crypto->ops->sha256_end(crypto->ctx, &h, NULL);
        return rc;
    }
    return crypto->ops->sha256_end(crypto->ctx, &h, out) == 0 ? 0 : -NODE_IMAGE_ECRYPTO;
}

int node_image_key_hash(const struct node_crypto *crypto, const uint8_t pub[NODE_ED25519_PUB_BYTES],
                        uint8_t out[NODE_SHA256_BYTES])
{
    struct node_sha256 h;
    if (crypto->ops->sha256_begin(crypto->ctx, &h) != 0)
        return -NODE_IMAGE_ECRYPTO;
    if (crypto->ops->sha256_update(crypto->ctx, &h, ed25519_spki_prefix,
                                   sizeof ed25519_spki_prefix) != 0 ||
        crypto->ops->sha256_update(crypto->ctx, &h, pub, NODE_ED25519_PUB_BYTES) != 0) {
        crypto->ops->sha256_end(crypto->ctx, &h, NULL);
        return -NODE_IMAGE_ECRYPTO;
    }
    return crypto->ops->sha256_end(crypto->ctx, &h, out) == 0 ? 0 : -NODE_IMAGE_ECRYPTO;
}

/* Reads the protected area's SEC_CNT and UUID_CID into info (the protected TLVs we interpret). */
static int read_protected(const struct node_storage *slot, uint64_t off, uint16_t size,
                          struct node_image_info *info)
{
    struct tlv_area a;
    int rc = read_area(slot, off, NODE_IMAGE_TLV_PROT_INFO_MAGIC, &a);
    if (rc < 0)
        return rc;
    if (a.tot != size)
        return -NODE_IMAGE_ETLV;
    uint64_t pos = a.off + 4, val;
    uint16_t type, len;
    while ((rc = next_tlv(slot, &a, &pos, &type, &len, &val)) > 0) {
        if (type == NODE_IMAGE_TLV_UUID_CID) {
            if (len != NODE_IMAGE_CID_BYTES || info->has_cid)
                return -NODE_IMAGE_ETLV;
            if ((rc = slot_read(slot, val, info->cid, NODE_IMAGE_CID_BYTES)) < 0)
                return rc;
            info->has_cid = 1;
            continue;
        }
        if (type != NODE_IMAGE_TLV_SEC_CNT)
            continue; /* covered by the hash; meaningless to us */
        uint8_t v[4];
        if (len != 4 || info->has_security_counter)
            return -NODE_IMAGE_ETLV;
        if ((rc = slot_read(slot, val, v, 4)) < 0)
            return rc;
        info->security_counter = get32(v);
        info->has_security_counter = 1;
    }
    return rc;
}

int node_image_verify(const struct node_storage *slot, const struct node_crypto *crypto,
                      const uint8_t (*keys)[NODE_ED25519_PUB_BYTES], size_t n_keys,
                      struct node_image_info *out)
{
    struct node_image_info info = {.key_index = -1};
    int rc = node_image_read_header(slot, &info.hdr);
    if (rc < 0)
        return rc;
    uint64_t body_end = (uint64_t)info.hdr.hdr_size + info.hdr.img_size;
    uint64_t hashed = body_end + info.hdr.protect_tlv_size;
    if (info.hdr.protect_tlv_size != 0 &&
        (rc = read_protected(slot, body_end, info.hdr.protect_tlv_size, &info)) < 0)
        return rc;

    struct tlv_area a;
    if ((rc = read_area(slot, hashed, NODE_IMAGE_TLV_INFO_MAGIC, &a)) < 0)
        return rc;
    uint64_t pos = a.off + 4, val, hash_off = 0, sig_off = 0;
    uint16_t type, len;
    int has_key_hash = 0;
    while ((rc = next_tlv(slot, &a, &pos, &type, &len, &val)) > 0) {
        switch (type) {
        case NODE_IMAGE_TLV_SHA256:
            if (len != NODE_SHA256_BYTES || hash_off)
                return -NODE_IMAGE_ETLV;
            hash_off = val;
            break;
        case NODE_IMAGE_TLV_KEYHASH:
            if (len != NODE_SHA256_BYTES || has_key_hash)
                return -NODE_IMAGE_ETLV;
            if ((rc = slot_read(slot, val, info.key_hash, NODE_SHA256_BYTES)) < 0)
                return rc;
            has_key_hash = 1;
            break;
        case NODE_IMAGE_TLV_ED25519:
            if (len != NODE_ED25519_SIG_BYTES || sig_off)
                return -NODE_IMAGE_ETLV;
            sig_off = val;
            break;
        default:
            return -NODE_IMAGE_ETLV;
        }
    }
    if (rc < 0)
        return rc;
    if (!hash_off)
        return -NODE_IMAGE_ETLV;
    info.total_bytes = a.off + a.tot;

    uint8_t want[NODE_SHA256_BYTES];
    if ((rc = slot_read(slot, hash_off, want, sizeof want)) < 0 ||
        (rc = hash_region(slot, crypto, hashed, info.hash)) < 0)
        return rc;
    if (memcmp(want, info.hash, sizeof want) != 0)
        return -NODE_IMAGE_EHASH;

    if (n_keys > 0) {
        if (!has_key_hash || !sig_off)
            return -NODE_IMAGE_ETLV;
        uint8_t sig[NODE_ED25519_SIG_BYTES];
        if ((rc = slot_read(slot, sig_off, sig, sizeof sig)) < 0)
            return rc;
        for (size_t i = 0; i < n_keys && info.key_index < 0; i++) {
            uint8_t kh[NODE_SHA256_BYTES];
            if ((rc = node_image_key_hash(crypto, keys[i], kh)) < 0)
                return rc;
            if (memcmp(kh, info.key_hash, sizeof kh) == 0)
                info.key_index = (int)i;
        }
        if (info.key_index < 0)
            return -NODE_IMAGE_EUNKNOWN;
        if (crypto->ops->ed25519_verify(crypto->ctx, keys[info.key_index], info.hash,
                                        sizeof info.hash, sig) != 1)
            return -NODE_IMAGE_ESIG;
    }
    *out = info;
    return 0;
}

void node_image_encode_header(const struct node_image_header *hdr,
                              uint8_t out[NODE_IMAGE_HEADER_BYTES])
{
    memset(out, 0, NODE_IMAGE_HEADER_BYTES);
    put32(out, NODE_IMAGE_MAGIC);
    put32(out + 4, hdr->load_addr);
    put16(out + 8, hdr->hdr_size);
    put16(out + 10, hdr->protect_tlv_size);
    put32(out + 12, hdr->img_size);
    put32(out + 16, hdr->flags);
    out[20] = hdr->ver.major;
    out[21] = hdr->ver.minor;
    put16(out + 22, hdr->ver.revision);
    put32(out + 24, hdr->ver.build);
}

static uint8_t *put_tlv(uint8_t *p, uint16_t type, const void *val, uint16_t len)
{
    put16(p, type);
    put16(p + 2, len);
    memcpy(p + 4, val, len);
    return p + 4 + len;
}

size_t node_image_encode_protected(uint32_t security_counter, const uint8_t *cid, uint8_t *out)
{
    uint8_t v[4];
    size_t n = cid ? NODE_IMAGE_PROT_CID_BYTES : NODE_IMAGE_PROT_BYTES;
    put32(v, security_counter);
    put16(out, NODE_IMAGE_TLV_PROT_INFO_MAGIC);
    put16(out + 2, (uint16_t)n);
    uint8_t *p = put_tlv(out + 4, NODE_IMAGE_TLV_SEC_CNT, v, sizeof v);
    if (cid)
        put_tlv(p, NODE_IMAGE_TLV_UUID_CID, cid, NODE_IMAGE_CID_BYTES);
    return n;
}

int node_image_check_class(const struct node_image_info *info, const uint8_t *cid)
{
    if (!cid)
        return 0;
    if (!info->has_cid || memcmp(info->cid, cid, NODE_IMAGE_CID_BYTES) != 0)
        return -NODE_IMAGE_ECLASS;
    return 0;
}

int node_image_uuid_parse(const char *text, uint8_t out[NODE_IMAGE_CID_BYTES])
{
    uint8_t b[NODE_IMAGE_CID_BYTES];
    size_t k = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return -1;
            continue;
        }
        if (wire_hex_decode(text + i, b + k++, 1) != 0)
            return -1;
        i++;
    }
    if (text[36] != '\0')
        return -1;
    memcpy(out, b, sizeof b);
    return 0;
}

void node_image_uuid_format(const uint8_t uuid[NODE_IMAGE_CID_BYTES], char buf[37])
{
    size_t k = 0;
    for (size_t i = 0; i < NODE_IMAGE_CID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[k++] = '-';
        wire_hex_encode(uuid + i, 1, buf + k);
        k += 2;
    }
}

void node_image_encode_tlvs(const uint8_t hash[NODE_SHA256_BYTES],
                            const uint8_t key_hash[NODE_SHA256_BYTES],
                            const uint8_t sig[NODE_ED25519_SIG_BYTES],
                            uint8_t out[NODE_IMAGE_TLV_BYTES])
{
    put16(out, NODE_IMAGE_TLV_INFO_MAGIC);
    put16(out + 2, NODE_IMAGE_TLV_BYTES);
    uint8_t *p = put_tlv(out + 4, NODE_IMAGE_TLV_SHA256, hash, NODE_SHA256_BYTES);
    p = put_tlv(p, NODE_IMAGE_TLV_KEYHASH, key_hash, NODE_SHA256_BYTES);
    put_tlv(p, NODE_IMAGE_TLV_ED25519, sig, NODE_ED25519_SIG_BYTES);
}

int node_image_version_cmp(const struct node_image_version *a, const struct node_image_version *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->revision != b->revision)
        return a->revision < b->revision ? -1 : 1;
    if (a->build != b->build)
        return a->build < b->build ? -1 : 1;
    return 0;
}

/* Parses decimal digits at *p up to max; advances *p. Returns 0 or -1. */
static int parse_num(const char **p, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            return -1;
    }
    *p = s;
    *out = (uint32_t)v;
    return 0;
}

int node_image_version_parse(const char *text, struct node_image_version *out)
{
    uint32_t part[4] = {0, 0, 0, 0};
    static const uint32_t max[4] = {0xff, 0xff, 0xffff, 0xffffffffu};
    const char *p = text;
    if (parse_num(&p, max[0], &part[0]) < 0)
        return -1;
    for (int i = 1; i < 3 && *p == '.'; i++) {
        p++;
        if (parse_num(&p, max[i], &part[i]) < 0)
            return -1;
    }
    if (*p == '+') {
        p++;
        if (parse_num(&p, max[3], &part[3]) < 0)
            return -1;
    }
    if (*p != '\0')
        return -1;
    out->major = (uint8_t)part[0];
    out->minor = (uint8_t)part[1];
    out->revision = (uint16_t)part[2];
    out->build = part[3];
    return 0;
}

void node_image_version_format(const struct node_image_version *v, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u+%lu", (unsigned)v->major, (unsigned)v->minor,
             (unsigned)v->revision, (unsigned long)v->build);
}
