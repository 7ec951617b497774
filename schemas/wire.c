/*
 * wire.c -- the frame envelope: size cap, shape, version, key, signature, body.
 *
 * The checks run from the cheapest and least trusting to the most expensive:
 * nothing is parsed before the size cap, the body is not decoded before its
 * HMAC matched, and the body decoder (wire_body.c) only allocates from the
 * decoder's arena, so a hostile frame costs at most max_frame_bytes of
 * reading, one HMAC and one bounded parse. Each refusal carries its own reason so that the
 * gateway can count and quarantine it.
 */
#include "wire_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define WIRE_MAGIC0 'C'

static const struct {
    const char *name;
    const char *text;
} wire_errs[WIRE_N_ERRS] = {
    [WIRE_OK] = {"ok", "ok"},
    [WIRE_ETOO_LARGE] = {"too_large", "too large"},
    [WIRE_ETRUNCATED] = {"truncated", "truncated"},
    [WIRE_EMALFORMED] = {"malformed", "malformed"},
    [WIRE_EUNKNOWN_MAJOR] = {"unknown_major", "unknown major version"},
    [WIRE_EUNKNOWN_DEVICE] = {"unknown_device", "unknown device"},
    [WIRE_EBAD_SIGNATURE] = {"bad_signature", "bad signature"},
    [WIRE_EMISSING_FIELD] = {"missing_field", "missing field"},
    [WIRE_EDEVICE_MISMATCH] = {"device_mismatch", "device id mismatch"},
    [WIRE_ETOO_COMPLEX] = {"too_complex", "too complex"},
    [WIRE_EINVALID_ARG] = {"invalid_argument", "invalid argument"},
};

static int wire_err_index(int err)
{
    int i = err < 0 ? -err : err;
    return i < WIRE_N_ERRS ? i : -1;
}

const char *wire_strerror(int err)
{
    int i = wire_err_index(err);
    return i < 0 ? "unknown error" : wire_errs[i].text;
}

const char *wire_errname(int err)
{
    int i = wire_err_index(err);
    return i < 0 ? "unknown" : wire_errs[i].name;
}

int wire__fail(struct wire_diag *diag, enum wire_err err, const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        diag->err = -(int)err;
        va_start(ap, fmt);
        vsnprintf(diag->detail, sizeof diag->detail, fmt, ap);
        va_end(ap);
    }
    return -(int)err;
}

/* Device ids go into MQTT topics and line-protocol tags: keep them plain. */
static int wire_id_valid(const uint8_t *id, size_t n)
{
    if (n == 0 || n > WIRE_MAX_DEVICE_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static uint32_t wire_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wire_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * HMAC-SHA256 (RFC 2104) with the two padded key blocks hashed once per key
 * instead of once per frame, and with the digest fetched from the provider
 * only then: each frame costs copying the two prepared states and hashing its
 * own bytes. A key of at most one block is used as it is, zero-padded.
 */
#define WIRE_SHA256_BLOCK 64
_Static_assert(WIRE_MAX_KEY_BYTES <= WIRE_SHA256_BLOCK, "longer keys would need hashing first");

struct wire_hmac_key {
    EVP_MD_CTX *inner; /* SHA-256 after (key ^ ipad) */
    EVP_MD_CTX *outer; /* SHA-256 after (key ^ opad) */
};

/* A SHA-256 context that has hashed the key padded with pad, or NULL. */
static EVP_MD_CTX *wire_sha256_padded(const uint8_t *key, size_t len, uint8_t pad)
{
    uint8_t block[WIRE_SHA256_BLOCK];
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    memset(block, pad, sizeof block);
    for (size_t i = 0; i < len; i++)
        block[i] ^= key[i];
    if (c &&
        (!EVP_DigestInit_ex2(c, EVP_sha256(), NULL) || !EVP_DigestUpdate(c, block, sizeof block))) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    OPENSSL_cleanse(block, sizeof block);
    return c;
}

struct wire_hmac_key *wire_hmac_key_new(const uint8_t *key, size_t len)
{
    if (len < WIRE_MIN_KEY_BYTES || len > WIRE_MAX_KEY_BYTES)
        return NULL;
    struct wire_hmac_key *k = OPENSSL_zalloc(sizeof *k);
    if (!k)
        return NULL;
    k->inner = wire_sha256_padded(key, len, 0x36);
    k->outer = wire_sha256_padded(key, len, 0x5c);
    if (!k->inner || !k->outer) {
        wire_hmac_key_free(k);
        return NULL;
    }
    return k;
}

void wire_hmac_key_free(struct wire_hmac_key *k)
{
    if (!k)
        return;
    EVP_MD_CTX_free(k->inner);
    EVP_MD_CTX_free(k->outer);
    OPENSSL_free(k);
}

/*
 * Computes the tag of len bytes of data with the prepared key k (borrowed,
 * only read). Kept out of line (one call a frame) so that a profile shows the
 * signature's cost under this name: tools/bench subtracts it for its "without
 * signature verification" figure.
 */
__attribute__((noinline)) static int wire_hmac_prepared(const struct wire_hmac_key *k,
                                                        const uint8_t *data, size_t len,
                                                        uint8_t tag[WIRE_TAG_BYTES])
{
    uint8_t inner[WIRE_TAG_BYTES];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_MD_CTX_copy_ex(c, k->inner) && EVP_DigestUpdate(c, data, len) &&
             EVP_DigestFinal_ex(c, inner, &n) && n == WIRE_TAG_BYTES &&
             EVP_MD_CTX_copy_ex(c, k->outer) && EVP_DigestUpdate(c, inner, sizeof inner) &&
             EVP_DigestFinal_ex(c, tag, &n) && n == WIRE_TAG_BYTES;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

/* Computes the tag with key: prepared, or OpenSSL's one-shot HMAC() over its bytes. */
static int wire_hmac(const struct wire_key *key, const uint8_t *data, size_t len,
                     uint8_t tag[WIRE_TAG_BYTES])
{
    unsigned int n = 0;
    if (key->hmac)
        return wire_hmac_prepared(key->hmac, data, len, tag);
    if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, data, len, tag, &n) || n != WIRE_TAG_BYTES)
        return -1;
    return 0;
}

/* Fields without which the gateway cannot place a frame or its readings. */
static int wire_check_fields(const Citygate__V1__Frame *f, struct wire_diag *diag)
{
    if (!f->device_id || !*f->device_id)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "device_id");
    if (!f->site_id || !*f->site_id)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "site_id");
    if (f->boot_id == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "boot_id");
    if (f->seq == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "seq");
    if (f->timestamp_ms == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "timestamp_ms");
    if (f->n_readings > WIRE_MAX_READINGS)
        return wire__fail(diag, WIRE_ETOO_COMPLEX, "%zu readings, at most %d", f->n_readings,
                          WIRE_MAX_READINGS);
    if (f->n_vehicles > WIRE_MAX_VEHICLES)
        return wire__fail(diag, WIRE_ETOO_COMPLEX, "%zu vehicles, at most %d", f->n_vehicles,
                          WIRE_MAX_VEHICLES);
    for (size_t i = 0; i < f->n_readings; i++) {
        const Citygate__V1__Reading *r = f->readings[i];
        if (r->quantity == CITYGATE__V1__QUANTITY__QUANTITY_UNSPECIFIED)
            return wire__fail(diag, WIRE_EMISSING_FIELD, "readings[%zu].quantity", i);
        if (r->unit == CITYGATE__V1__UNIT__UNIT_UNSPECIFIED)
            return wire__fail(diag, WIRE_EMISSING_FIELD, "readings[%zu].unit", i);
        if (r->quality == CITYGATE__V1__QUALITY__QUALITY_UNSPECIFIED)
            return wire__fail(diag, WIRE_EMISSING_FIELD, "readings[%zu].quality", i);
    }
    return 0;
}

int wire__open(struct wire_decoder *d, enum wire_kind kind, const uint8_t *buf, size_t len,
               struct wire__opened *out, struct wire_diag *diag)
{
    const uint8_t magic[2] = {WIRE_MAGIC0, (uint8_t)kind};
    if (len > d->max_frame_bytes)
        return wire__fail(diag, WIRE_ETOO_LARGE, "%zu bytes, cap %zu", len, d->max_frame_bytes);
    if (len == 0)
        return wire__fail(diag, WIRE_ETRUNCATED, "empty");
    if (memcmp(buf, magic, len < 2 ? len : 2) != 0)
        return wire__fail(diag, WIRE_EMALFORMED, "no %s magic", wire_kind_name(kind));
    if (len < 3)
        return wire__fail(diag, WIRE_ETRUNCATED, "%zu bytes, header incomplete", len);
    if (buf[2] != WIRE_MAJOR)
        return wire__fail(diag, WIRE_EUNKNOWN_MAJOR, "major %u, expected %d", buf[2], WIRE_MAJOR);
    if (len < 5)
        return wire__fail(diag, WIRE_ETRUNCATED, "%zu bytes, header incomplete", len);

    size_t id_len = buf[4];
    if (len < WIRE_HEADER_BYTES + id_len)
        return wire__fail(diag, WIRE_ETRUNCATED, "%zu bytes, header incomplete", len);
    const uint8_t *id = buf + 5;
    if (!wire_id_valid(id, id_len))
        return wire__fail(diag, WIRE_EMALFORMED, "device id of %zu bytes not [A-Za-z0-9._-]{1,%d}",
                          id_len, WIRE_MAX_DEVICE_ID);

    size_t body_len = wire_load_be32(id + id_len);
    size_t signed_len = WIRE_HEADER_BYTES + id_len;
    if (body_len > len - signed_len || WIRE_TAG_BYTES > len - signed_len - body_len)
        return wire__fail(diag, WIRE_ETRUNCATED, "body of %zu bytes and tag need %zu, have %zu",
                          body_len, signed_len + body_len + WIRE_TAG_BYTES, len);
    signed_len += body_len;
    if (len != signed_len + WIRE_TAG_BYTES)
        return wire__fail(diag, WIRE_EMALFORMED, "%zu bytes after the tag",
                          len - signed_len - WIRE_TAG_BYTES);

    char device_id[WIRE_MAX_DEVICE_ID + 1];
    memcpy(device_id, id, id_len);
    device_id[id_len] = '\0';
    struct wire_key key = {NULL, 0, NULL};
    if (d->key_fn(d->key_ctx, device_id, &key) != 0)
        return wire__fail(diag, WIRE_EUNKNOWN_DEVICE, "%s", device_id);

    uint8_t tag[WIRE_TAG_BYTES];
    if (wire_hmac(&key, buf, signed_len, tag) != 0)
        return wire__fail(diag, WIRE_EBAD_SIGNATURE, "cannot compute HMAC for %s", device_id);
    if (CRYPTO_memcmp(tag, buf + signed_len, WIRE_TAG_BYTES) != 0)
        return wire__fail(diag, WIRE_EBAD_SIGNATURE, "%s", device_id);

    memcpy(out->device_id, device_id, id_len + 1);
    out->body = buf + signed_len - body_len;
    out->body_len = body_len;
    return 0;
}

int wire_decode(struct wire_decoder *d, const uint8_t *buf, size_t len, Citygate__V1__Frame **out,
                struct wire_diag *diag)
{
    struct wire__opened m;
    int rc = wire__open(d, WIRE_KIND_FRAME, buf, len, &m, diag);
    if (rc != 0)
        return rc;

    struct wire_arena *a = &d->arena;
    Citygate__V1__Frame *f = NULL;
    a->used = 0;
    rc = wire_body_decode(a, m.body, m.body_len, &f);
    if (rc == -WIRE_ETOO_COMPLEX)
        return wire__fail(diag, WIRE_ETOO_COMPLEX, "%s: body needs more than %zu bytes",
                          m.device_id, a->cap);
    if (rc != 0)
        return wire__fail(diag, WIRE_EMALFORMED,
                          "%s: body is not a Frame, or a string in it holds a NUL byte",
                          m.device_id);

    rc = wire_check_fields(f, diag);
    if (rc != 0)
        return rc;
    if (strcmp(f->device_id, m.device_id) != 0)
        return wire__fail(diag, WIRE_EDEVICE_MISMATCH, "envelope %s, body %.64s", m.device_id,
                          f->device_id);
    *out = f;
    return 0;
}

static int wire_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int wire_key_from_hex(const char *hex, uint8_t key[WIRE_MAX_KEY_BYTES])
{
    uint8_t out[WIRE_MAX_KEY_BYTES];
    size_t n = strlen(hex);
    if (n % 2 != 0 || n < 2 * WIRE_MIN_KEY_BYTES || n > 2 * WIRE_MAX_KEY_BYTES)
        return -WIRE_EINVALID_ARG;
    if (wire_hex_decode(hex, out, n / 2) != 0)
        return -WIRE_EINVALID_ARG;
    memcpy(key, out, n / 2);
    return (int)(n / 2);
}

int wire_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* The second digit is not read when the first is the end of the string. */
        int hi = wire_hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : wire_hex_digit(hex[2 * i + 1]);
        if (lo < 0)
            return -WIRE_EINVALID_ARG;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void wire_hex_encode(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

size_t wire_encoded_max(const Citygate__V1__Frame *frame)
{
    return WIRE_HEADER_BYTES + WIRE_MAX_DEVICE_ID + citygate__v1__frame__get_packed_size(frame) +
           WIRE_TAG_BYTES;
}

int wire__seal(enum wire_kind kind, const char *device_id, const ProtobufCMessage *body,
               const uint8_t *key, size_t key_len, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *id = device_id ? device_id : "";
    size_t id_len = strlen(id);
    size_t body_len = protobuf_c_message_get_packed_size(body);
    size_t header_len = WIRE_HEADER_BYTES + id_len;

    if (!wire_id_valid((const uint8_t *)id, id_len) || key_len < WIRE_MIN_KEY_BYTES ||
        key_len > WIRE_MAX_KEY_BYTES || body_len > UINT32_MAX)
        return -WIRE_EINVALID_ARG;
    if (cap < header_len + WIRE_TAG_BYTES || body_len > cap - header_len - WIRE_TAG_BYTES)
        return -WIRE_EINVALID_ARG;

    out[0] = WIRE_MAGIC0;
    out[1] = (uint8_t)kind;
    out[2] = WIRE_MAJOR;
    out[3] = WIRE_MINOR;
    out[4] = (uint8_t)id_len;
    memcpy(out + 5, id, id_len);
    wire_store_be32(out + 5 + id_len, (uint32_t)body_len);
    protobuf_c_message_pack(body, out + header_len);
    struct wire_key k = {key, key_len, NULL};
    if (wire_hmac(&k, out, header_len + body_len, out + header_len + body_len) != 0)
        return -WIRE_EINVALID_ARG;
    *out_len = header_len + body_len + WIRE_TAG_BYTES;
    return 0;
}

int wire_encode(const Citygate__V1__Frame *frame, const uint8_t *key, size_t key_len, uint8_t *out,
                size_t cap, size_t *out_len)
{
    return wire__seal(WIRE_KIND_FRAME, frame->device_id, &frame->base, key, key_len, out, cap,
                      out_len);
}
