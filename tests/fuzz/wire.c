/*
 * wire.c (fuzz) -- verify-and-decode on arbitrary bytes.
 *
 * Each input is decoded twice: as it is, which exercises the envelope checks
 * (almost nothing random carries a valid tag), and with its last 32 bytes
 * replaced by the correct tag for the fuzz key, which lets the fuzzer reach
 * the protobuf body parser and the field checks. A frame that decodes must
 * re-encode to bytes that decode again: the decoder never hands out a frame
 * the encoder cannot represent.
 *
 * The body decoder is also checked against protobuf-c, its reference: the
 * input, and the body of its envelope when it has one, are decoded by both,
 * which must both refuse them or both accept them with equal content (equal
 * bytes when packed again by protobuf-c). protobuf-c keeps unknown fields,
 * which the body decoder skips, and keeps field number 0 as one, which the
 * body decoder refuses; it also keeps a string that holds a NUL byte (cut
 * short at the NUL), which the body decoder refuses: the oracle finds those by
 * the size protobuf-c allocated for each string.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"

static const uint8_t fuzz_key[32] = "citygate-fuzz-key-0123456789abc";

static int fuzz_lookup(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    if (strcmp(device_id, "unknown") == 0)
        return -1;
    key->bytes = fuzz_key;
    key->len = sizeof fuzz_key;
    return 0;
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    static unsigned char arena[256 * 1024];
    static uint8_t again[WIRE_DEFAULT_MAX_FRAME_BYTES + 128];
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, fuzz_lookup, NULL, {0}};
    struct wire_diag diag;
    Citygate__V1__Frame *f = NULL;
    size_t len;

    wire_arena_init(&d.arena, arena, sizeof arena);
    int rc = wire_decode(&d, data, size, &f, &diag);
    if (rc != 0) {
        if (rc >= 0 || rc <= -WIRE_N_ERRS || diag.err != rc || f)
            abort();
        return;
    }
    if (wire_encode(f, fuzz_key, sizeof fuzz_key, again, sizeof again, &len) != 0)
        abort();
    f = NULL;
    if (wire_decode(&d, again, len, &f, &diag) != 0 || !f)
        abort();
}

/*
 * protobuf-c's allocations, each with its size in front, so that the oracle
 * can tell a string protobuf-c cut short at a NUL byte: it allocates the
 * string's length on the wire plus one.
 */
#define SIZED_HEADER 16

static void *sized_alloc(void *data, size_t size)
{
    (void)data;
    unsigned char *p = malloc(SIZED_HEADER + size);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    return p + SIZED_HEADER;
}

static void sized_free(void *data, void *p)
{
    (void)data;
    if (p)
        free((unsigned char *)p - SIZED_HEADER);
}

static ProtobufCAllocator sized = {sized_alloc, sized_free, NULL};

/* -1 when s, a string protobuf-c decoded, held a NUL byte on the wire. */
static int nul_inside(const char *s)
{
    size_t size;
    if (s == protobuf_c_empty_string)
        return 0;
    memcpy(&size, s - SIZED_HEADER, sizeof size);
    return strlen(s) + 1 != size ? -1 : 0;
}

/* Drops the unknown fields protobuf-c kept in m; returns -1 when one had field number 0. */
static int drop_unknown(ProtobufCMessage *m)
{
    int zero = 0;
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        zero |= m->unknown_fields[i].tag == 0;
        sized_free(NULL, m->unknown_fields[i].data);
    }
    sized_free(NULL, m->unknown_fields);
    m->unknown_fields = NULL;
    m->n_unknown_fields = 0;
    return zero ? -1 : 0;
}

/* protobuf-c's decoding of body as the body decoder must see it: NULL when it refuses it. */
static Citygate__V1__Frame *reference_decode(const uint8_t *body, size_t len)
{
    Citygate__V1__Frame *f = citygate__v1__frame__unpack(&sized, len, body);
    int bad = 0;
    if (!f)
        return NULL;
    bad |= drop_unknown(&f->base) | nul_inside(f->device_id) | nul_inside(f->site_id);
    for (size_t i = 0; i < f->n_readings; i++)
        bad |= drop_unknown(&f->readings[i]->base) | nul_inside(f->readings[i]->sensor_id);
    for (size_t i = 0; i < f->n_vehicles; i++)
        bad |= drop_unknown(&f->vehicles[i]->base) | nul_inside(f->vehicles[i]->sensor_id);
    if (f->health)
        bad |= drop_unknown(&f->health->base) | nul_inside(f->health->firmware_version);
    if (bad) {
        citygate__v1__frame__free_unpacked(f, &sized);
        return NULL;
    }
    return f;
}

/* The body decoder and protobuf-c agree on body; the arena fits any body of 64 KiB. */
static void fuzz_body(const uint8_t *body, size_t len)
{
    static unsigned char arena[8 * 1024 * 1024];
    static uint8_t packed[2][8 * WIRE_DEFAULT_MAX_FRAME_BYTES];
    struct wire_arena a;
    Citygate__V1__Frame *got = NULL;

    if (len > WIRE_DEFAULT_MAX_FRAME_BYTES)
        return;
    wire_arena_init(&a, arena, sizeof arena);
    int rc = wire_body_decode(&a, body, len, &got);
    Citygate__V1__Frame *want = reference_decode(body, len);
    if (rc != 0 && rc != -WIRE_EMALFORMED)
        abort();
    if ((rc == 0) != (want != NULL))
        abort();
    if (!want)
        return;
    if (citygate__v1__frame__get_packed_size(got) > sizeof packed[0] ||
        citygate__v1__frame__get_packed_size(want) > sizeof packed[1])
        abort();
    size_t n_got = citygate__v1__frame__pack(got, packed[0]);
    size_t n_want = citygate__v1__frame__pack(want, packed[1]);
    if (n_got != n_want || memcmp(packed[0], packed[1], n_got) != 0)
        abort();
    citygate__v1__frame__free_unpacked(want, &sized);
}

/* The body of data's envelope, when its lengths hold together. */
static void fuzz_envelope_body(const uint8_t *data, size_t size)
{
    if (size < WIRE_HEADER_BYTES || size - WIRE_HEADER_BYTES < data[4])
        return;
    const uint8_t *p = data + 5 + data[4];
    size_t body_len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    if (body_len <= size - WIRE_HEADER_BYTES - data[4])
        fuzz_body(p + 4, body_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_body(data, size);
    fuzz_envelope_body(data, size);
    fuzz_decode(data, size);
    if (size < WIRE_TAG_BYTES || size > WIRE_DEFAULT_MAX_FRAME_BYTES)
        return 0;

    uint8_t *signed_copy = malloc(size);
    unsigned int tag_len = 0;
    if (!signed_copy)
        return 0;
    memcpy(signed_copy, data, size);
    if (HMAC(EVP_sha256(), fuzz_key, sizeof fuzz_key, signed_copy, size - WIRE_TAG_BYTES,
             signed_copy + size - WIRE_TAG_BYTES, &tag_len))
        fuzz_decode(signed_copy, size);
    free(signed_copy);
    return 0;
}
