/*
 * image.h -- firmware images in the MCUboot format: parse, verify, lay out.
 *
 * An image is what MCUboot's docs/design.md ("Image format") and its imgtool
 * produce: a 32-byte little-endian header (magic 0x96f3b83d), the payload,
 * an optional protected TLV area (magic 0x6908, covered by the hash) and the
 * TLV area (magic 0x6907). Our images carry, as `imgtool sign --key
 * ed25519.pem --security-counter N` makes them:
 *
 *     header | payload | 0x6908 info | SEC_CNT (0x50, u32)
 *            | 0x6907 info | SHA256 (0x10) | KEYHASH (0x01) | ED25519 (0x24)
 *
 * SHA256 is the SHA-256 of header, payload and protected TLV area; KEYHASH is
 * the SHA-256 of the signing key's DER SubjectPublicKeyInfo; ED25519 is the
 * RFC 8032 signature of the 32-byte SHA-256 digest (not of the image: that is
 * what imgtool's Ed25519.sign_digest() and bootutil's image_ed25519.c do
 * unless the image carries SIG_PURE, which we do not accept).
 *
 * The image is read through a struct node_storage (a slot file on Linux, a
 * flash partition on a microcontroller); crypto comes through node_crypto.h.
 * No allocation, no OS call. Functions may be called from any thread.
 */
#ifndef CITYGATE_NODE_IMAGE_H
#define CITYGATE_NODE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "node_crypto.h"
#include "node_hal.h"

#define NODE_IMAGE_MAGIC 0x96f3b83du
#define NODE_IMAGE_HEADER_BYTES 32
#define NODE_IMAGE_TLV_INFO_MAGIC 0x6907u
#define NODE_IMAGE_TLV_PROT_INFO_MAGIC 0x6908u

/* TLV types (design.md "Image format"). */
enum node_image_tlv {
    NODE_IMAGE_TLV_KEYHASH = 0x01,
    NODE_IMAGE_TLV_SHA256 = 0x10,
    NODE_IMAGE_TLV_ED25519 = 0x24,
    NODE_IMAGE_TLV_SIG_PURE = 0x25,
    NODE_IMAGE_TLV_SEC_CNT = 0x50,
    NODE_IMAGE_TLV_UUID_VID = 0x80, /* vendor UUID (bootutil MCUBOOT_UUID_VID) */
    NODE_IMAGE_TLV_UUID_CID = 0x81, /* image class UUID (bootutil MCUBOOT_UUID_CID) */
};

/* A UUID_CID value: the 16 bytes of the UUID, in the order it is written. */
#define NODE_IMAGE_CID_BYTES 16

/* Bytes of the protected area we write: info + SEC_CNT, and UUID_CID when the image has a class. */
#define NODE_IMAGE_PROT_BYTES (4 + 4 + 4)
#define NODE_IMAGE_PROT_CID_BYTES (NODE_IMAGE_PROT_BYTES + 4 + NODE_IMAGE_CID_BYTES)
/* Bytes of the TLV area we write: info + SHA256 + KEYHASH + ED25519. */
#define NODE_IMAGE_TLV_BYTES (4 + (4 + 32) + (4 + 32) + (4 + 64))

/* Why an image was refused. Functions return 0 or one of these, negated. */
enum node_image_err {
    NODE_IMAGE_OK = 0,
    NODE_IMAGE_EIO,      /* the slot could not be read */
    NODE_IMAGE_EEMPTY,   /* no image: the header magic is not there */
    NODE_IMAGE_EHEADER,  /* header sizes that cannot be right */
    NODE_IMAGE_ETOOBIG,  /* the image does not fit in the slot */
    NODE_IMAGE_ETLV,     /* TLV area malformed, or a TLV missing or not allowed */
    NODE_IMAGE_EHASH,    /* the SHA-256 does not match the image */
    NODE_IMAGE_EUNKNOWN, /* signed with a key that is not trusted here */
    NODE_IMAGE_ESIG,     /* the signature does not match the key */
    NODE_IMAGE_ECRYPTO,  /* the crypto port failed */
    NODE_IMAGE_ECLASS,   /* built for another hardware class (UUID_CID) */
    NODE_IMAGE_N_ERRS
};

/* Plain text for an error ("the signature does not match the key"); never NULL. */
const char *node_image_strerror(int err);

struct node_image_version {
    uint8_t major;
    uint8_t minor;
    uint16_t revision;
    uint32_t build;
};

struct node_image_header {
    uint32_t load_addr;
    uint16_t hdr_size;         /* payload offset */
    uint16_t protect_tlv_size; /* protected TLV area, info included; 0 when none */
    uint32_t img_size;         /* payload bytes */
    uint32_t flags;
    struct node_image_version ver;
};

/* What node_image_verify() found. */
struct node_image_info {
    struct node_image_header hdr;
    uint32_t security_counter; /* 0 when the image carries none */
    int has_security_counter;
    uint8_t hash[NODE_SHA256_BYTES];     /* the checked SHA-256 */
    uint8_t key_hash[NODE_SHA256_BYTES]; /* the KEYHASH TLV */
    int key_index;                       /* index of the key that signed it; -1: not checked */
    uint8_t cid[NODE_IMAGE_CID_BYTES];   /* the protected UUID_CID TLV ... */
    int has_cid;                         /* ... when the image carries one */
    uint64_t total_bytes;                /* header + payload + both TLV areas */
};

/*
 * Reads and checks the header at the start of slot (borrowed). Returns 0 and
 * sets *out, or -NODE_IMAGE_EIO, -NODE_IMAGE_EEMPTY, -NODE_IMAGE_EHEADER,
 * -NODE_IMAGE_ETOOBIG.
 */
int node_image_read_header(const struct node_storage *slot, struct node_image_header *out);

/*
 * Verifies the image in slot the way bootutil does before booting it:
 * header, TLV areas (only SHA256, KEYHASH and ED25519 outside the protected
 * area), the SHA-256 over header, payload and protected area, then the
 * ed25519 signature with the trusted key whose hash is in KEYHASH. keys
 * holds n_keys raw public keys (borrowed); with n_keys 0 only the structure
 * and the hash are checked. Returns 0 and fills *out, or a negative enum
 * node_image_err.
 */
int node_image_verify(const struct node_storage *slot, const struct node_crypto *crypto,
                      const uint8_t (*keys)[NODE_ED25519_PUB_BYTES], size_t n_keys,
                      struct node_image_info *out);

/* Writes hdr as the 32-byte on-disk header (magic included). */
void node_image_encode_header(const struct node_image_header *hdr,
                              uint8_t out[NODE_IMAGE_HEADER_BYTES]);

/*
 * Writes the protected TLV area: info (0x6908), SEC_CNT and, when cid is not
 * NULL, UUID_CID (as imgtool --cid places it). out holds
 * NODE_IMAGE_PROT_CID_BYTES; returns the bytes written (NODE_IMAGE_PROT_BYTES
 * or NODE_IMAGE_PROT_CID_BYTES).
 */
size_t node_image_encode_protected(uint32_t security_counter, const uint8_t *cid, uint8_t *out);

/*
 * The hardware-class check of bootutil's MCUBOOT_UUID_CID: a node with a
 * class (cid not NULL) takes only images that carry the same UUID_CID; a
 * node without one takes any. Returns 0 or -NODE_IMAGE_ECLASS.
 */
int node_image_check_class(const struct node_image_info *info, const uint8_t *cid);

/* Parses a UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into its 16 bytes. Returns 0 or -1. */
int node_image_uuid_parse(const char *text, uint8_t out[NODE_IMAGE_CID_BYTES]);

/* Writes the UUID in its 36-character form (buf holds 37 bytes). */
void node_image_uuid_format(const uint8_t uuid[NODE_IMAGE_CID_BYTES], char buf[37]);

/* Writes the TLV area: info (0x6907), SHA256, KEYHASH, ED25519. */
void node_image_encode_tlvs(const uint8_t hash[NODE_SHA256_BYTES],
                            const uint8_t key_hash[NODE_SHA256_BYTES],
                            const uint8_t sig[NODE_ED25519_SIG_BYTES],
                            uint8_t out[NODE_IMAGE_TLV_BYTES]);

/*
 * The KEYHASH of a raw ed25519 public key: SHA-256 of its DER
 * SubjectPublicKeyInfo (RFC 8410), as imgtool computes it. Returns 0 or
 * -NODE_IMAGE_ECRYPTO.
 */
int node_image_key_hash(const struct node_crypto *crypto, const uint8_t pub[NODE_ED25519_PUB_BYTES],
                        uint8_t out[NODE_SHA256_BYTES]);

/* Orders two versions (major, minor, revision, build): <0, 0, >0. */
int node_image_version_cmp(const struct node_image_version *a, const struct node_image_version *b);

/*
 * Parses imgtool's version syntax "major[.minor[.revision[+build]]]"
 * (text borrowed). Returns 0 and sets *out, or -1 on bad syntax or range.
 */
int node_image_version_parse(const char *text, struct node_image_version *out);

/* Formats "major.minor.revision+build" into buf (always terminated). */
void node_image_version_format(const struct node_image_version *v, char *buf, size_t size);

#endif
