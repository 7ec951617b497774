/*
 * test_wire.c -- the wire library against the golden vectors in
 * tests/data/frames.golden, plus properties that must hold for every bit and
 * every length of a valid frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "golden.h"
#include "wire.h"

static struct golden *vectors;
static size_t n_vectors;
static unsigned char arena_buf[256 * 1024];

/* The key of the vector under test; unset means "unknown device". */
static const struct golden *current;
/* When set, the key of current handed out prepared as well. */
static const struct wire_hmac_key *current_hmac;

static int vector_key(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    (void)device_id;
    if (!current || current->key_len == 0)
        return -1;
    key->bytes = current->key;
    key->len = current->key_len;
    key->hmac = current_hmac;
    return 0;
}

static void decoder_init(struct wire_decoder *d, size_t max_bytes, size_t arena_bytes)
{
    d->max_frame_bytes = max_bytes;
    d->key_fn = vector_key;
    d->key_ctx = NULL;
    wire_arena_init(&d->arena, arena_buf, arena_bytes);
}

static const struct golden *vector(const char *name)
{
    for (size_t i = 0; i < n_vectors; i++)
        if (strcmp(vectors[i].name, name) == 0)
            return &vectors[i];
    CU_FAIL_FATAL("golden vector missing");
    return NULL;
}

static void test_load(void)
{
    char err[256];
    int rc = golden_load(TEST_DATA_DIR "/frames.golden", &vectors, &n_vectors, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT(n_vectors >= 12);
}

/* Every vector with fields encodes to exactly its hex (encoding is deterministic). */
static void test_golden_encode(void)
{
    static uint8_t out[WIRE_DEFAULT_MAX_FRAME_BYTES];
    for (size_t i = 0; i < n_vectors; i++) {
        const struct golden *g = &vectors[i];
        size_t len = 0;
        if (!g->frame)
            continue;
        CU_ASSERT_FATAL(wire_encode(g->frame, g->key, g->key_len, out, sizeof out, &len) == 0);
        if (!g->bytes || len != g->len || memcmp(out, g->bytes, len) != 0) {
            fprintf(stderr, "\n[%s] encodes to:\nhex = ", g->name);
            golden_print_hex(stderr, out, len);
            CU_FAIL("golden encoding differs");
        }
    }
}

/* Every vector decodes to its expected outcome, and valid ones re-encode to the same bytes. */
static void test_golden_decode(void)
{
    static uint8_t out[WIRE_DEFAULT_MAX_FRAME_BYTES];
    struct wire_decoder d;

    for (size_t i = 0; i < n_vectors; i++) {
        const struct golden *g = &vectors[i];
        Citygate__V1__Frame *f = NULL;
        struct wire_diag diag = {0};
        size_t len = 0;

        CU_ASSERT_FATAL(g->bytes != NULL);
        current = g;
        decoder_init(&d, g->max_bytes ? g->max_bytes : WIRE_DEFAULT_MAX_FRAME_BYTES,
                     sizeof arena_buf);
        int rc = wire_decode(&d, g->bytes, g->len, &f, &diag);
        const char *got = rc == 0 ? "ok" : wire_strerror(rc);
        if (strcmp(got, g->expect) != 0)
            fprintf(stderr, "\n[%s] expected \"%s\", got \"%s\" (%s)\n", g->name, g->expect, got,
                    diag.detail);
        CU_ASSERT_STRING_EQUAL(got, g->expect);
        if (rc != 0) {
            CU_ASSERT(diag.err == rc);
            CU_ASSERT(f == NULL);
            continue;
        }
        CU_ASSERT_FATAL(wire_encode(f, g->key, g->key_len, out, sizeof out, &len) == 0);
        CU_ASSERT(len == g->len && memcmp(out, g->bytes, len) == 0);
    }
}

/* A prepared key (wire.c's own HMAC) verifies as the raw key (OpenSSL's HMAC()): every vector. */
static void test_golden_prepared_key(void)
{
    struct wire_decoder d;

    for (size_t i = 0; i < n_vectors; i++) {
        const struct golden *g = &vectors[i];
        Citygate__V1__Frame *f = NULL;
        if (g->key_len == 0)
            continue;
        struct wire_hmac_key *k = wire_hmac_key_new(g->key, g->key_len);
        CU_ASSERT_FATAL(k != NULL);
        current = g;
        current_hmac = k;
        decoder_init(&d, g->max_bytes ? g->max_bytes : WIRE_DEFAULT_MAX_FRAME_BYTES,
                     sizeof arena_buf);
        int rc = wire_decode(&d, g->bytes, g->len, &f, NULL);
        CU_ASSERT_STRING_EQUAL(rc == 0 ? "ok" : wire_strerror(rc), g->expect);
        current_hmac = NULL;
        wire_hmac_key_free(k);
    }
}

/* A key prepared from other bytes than the device's is a bad signature. */
static void test_prepared_key_is_used(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    uint8_t other[WIRE_MAX_KEY_BYTES];
    struct wire_decoder d;
    Citygate__V1__Frame *f = NULL;

    memcpy(other, g->key, g->key_len);
    other[0] ^= 1;
    struct wire_hmac_key *k = wire_hmac_key_new(other, g->key_len);
    CU_ASSERT_FATAL(k != NULL);
    current = g;
    current_hmac = k;
    decoder_init(&d, WIRE_DEFAULT_MAX_FRAME_BYTES, sizeof arena_buf);
    CU_ASSERT_EQUAL(wire_decode(&d, g->bytes, g->len, &f, NULL), -WIRE_EBAD_SIGNATURE);
    current_hmac = NULL;
    wire_hmac_key_free(k);
    CU_ASSERT(wire_hmac_key_new(other, WIRE_MIN_KEY_BYTES - 1) == NULL);
    CU_ASSERT(wire_hmac_key_new(other, WIRE_MAX_KEY_BYTES + 1) == NULL);
    wire_hmac_key_free(NULL);
}

/* Spot checks that the decoded fields are the ones written in the file. */
static void test_golden_fields(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    struct wire_decoder d;
    Citygate__V1__Frame *f = NULL;

    current = g;
    decoder_init(&d, WIRE_DEFAULT_MAX_FRAME_BYTES, sizeof arena_buf);
    CU_ASSERT_FATAL(wire_decode(&d, g->bytes, g->len, &f, NULL) == 0);
    CU_ASSERT_STRING_EQUAL(f->device_id, "node-0001");
    CU_ASSERT_STRING_EQUAL(f->site_id, "ring-north");
    CU_ASSERT(f->boot_id == 7 && f->seq == 42);
    CU_ASSERT(f->timestamp_ms == 1795000000000ULL);
    CU_ASSERT_FATAL(f->n_readings == 6);
    CU_ASSERT(f->readings[1]->quantity == CITYGATE__V1__QUANTITY__SPEED);
    CU_ASSERT_DOUBLE_EQUAL(f->readings[1]->value, 52.5, 1e-12);
    CU_ASSERT(f->readings[1]->lane == 1);
    CU_ASSERT_FATAL(f->n_vehicles == 2);
    CU_ASSERT(f->vehicles[0]->offset_ms == -250);
    CU_ASSERT(f->vehicles[1]->vehicle_class == CITYGATE__V1__VEHICLE_CLASS__TRUCK);
    CU_ASSERT_FATAL(f->health != NULL);
    CU_ASSERT_STRING_EQUAL(f->health->firmware_version, "1.0.0");
}

/* One flipped bit anywhere in the body or the tag is a bad signature, never anything else. */
static void test_every_bit_flip(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    uint8_t *copy = malloc(g->len);
    struct wire_decoder d;
    size_t body_start = WIRE_HEADER_BYTES + g->bytes[4];
    size_t n_flips = 0;

    CU_ASSERT_FATAL(copy != NULL);
    current = g;
    decoder_init(&d, WIRE_DEFAULT_MAX_FRAME_BYTES, sizeof arena_buf);
    for (size_t byte = body_start; byte < g->len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            Citygate__V1__Frame *f = NULL;
            memcpy(copy, g->bytes, g->len);
            copy[byte] ^= (uint8_t)(1u << bit);
            int rc = wire_decode(&d, copy, g->len, &f, NULL);
            CU_ASSERT_EQUAL(rc, -WIRE_EBAD_SIGNATURE);
            n_flips++;
        }
    }
    CU_ASSERT(n_flips == 8 * (g->len - body_start));
    free(copy);
}

/* Every proper prefix of a valid frame is truncated, never accepted or misread. */
static void test_every_truncation(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    struct wire_decoder d;

    current = g;
    decoder_init(&d, WIRE_DEFAULT_MAX_FRAME_BYTES, sizeof arena_buf);
    for (size_t len = 0; len < g->len; len++) {
        Citygate__V1__Frame *f = NULL;
        struct wire_diag diag;
        int rc = wire_decode(&d, g->bytes, len, &f, &diag);
        if (rc != -WIRE_ETRUNCATED)
            fprintf(stderr, "\nprefix of %zu bytes: %s (%s)\n", len, wire_strerror(rc),
                    diag.detail);
        CU_ASSERT_EQUAL(rc, -WIRE_ETRUNCATED);
    }
}

/* The size cap holds at exactly one byte below the frame's length. */
static void test_size_cap_boundary(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    struct wire_decoder d;
    Citygate__V1__Frame *f = NULL;

    current = g;
    decoder_init(&d, g->len - 1, sizeof arena_buf);
    CU_ASSERT_EQUAL(wire_decode(&d, g->bytes, g->len, &f, NULL), -WIRE_ETOO_LARGE);
    decoder_init(&d, g->len, sizeof arena_buf);
    CU_ASSERT_EQUAL(wire_decode(&d, g->bytes, g->len, &f, NULL), 0);
}

/* A decode that does not fit its arena fails cleanly with "too complex". */
static void test_arena_exhausted(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    struct wire_decoder d;
    int exhausted = 0, decoded = 0;

    current = g;
    for (size_t cap = 0; cap < 4096; cap += 16) {
        Citygate__V1__Frame *f = NULL;
        decoder_init(&d, WIRE_DEFAULT_MAX_FRAME_BYTES, cap);
        int rc = wire_decode(&d, g->bytes, g->len, &f, NULL);
        CU_ASSERT(rc == 0 || rc == -WIRE_ETOO_COMPLEX);
        exhausted += rc == -WIRE_ETOO_COMPLEX;
        decoded += rc == 0;
        CU_ASSERT(d.arena.used <= cap);
    }
    CU_ASSERT(exhausted > 0);
    CU_ASSERT(decoded > 0);
}

/* More readings than WIRE_MAX_READINGS are refused even when signed. */
static void test_too_many_readings(void)
{
    static Citygate__V1__Reading r = CITYGATE__V1__READING__INIT;
    static Citygate__V1__Reading *list[WIRE_MAX_READINGS + 1];
    static uint8_t out[WIRE_DEFAULT_MAX_FRAME_BYTES];
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    const struct golden *g = vector("traffic-two-lanes");
    struct wire_decoder d;
    Citygate__V1__Frame *got = NULL;
    size_t len;

    r.quantity = CITYGATE__V1__QUANTITY__NOISE;
    r.unit = CITYGATE__V1__UNIT__DECIBEL_A;
    r.quality = CITYGATE__V1__QUALITY__GOOD;
    for (size_t i = 0; i <= WIRE_MAX_READINGS; i++)
        list[i] = &r;
    f.device_id = "node-0001";
    f.site_id = "ring-north";
    f.boot_id = 1;
    f.seq = 1;
    f.timestamp_ms = 1;
    f.readings = list;
    f.n_readings = WIRE_MAX_READINGS + 1;
    CU_ASSERT_FATAL(wire_encode(&f, g->key, g->key_len, out, sizeof out, &len) == 0);
    current = g;
    decoder_init(&d, WIRE_DEFAULT_MAX_FRAME_BYTES, sizeof arena_buf);
    CU_ASSERT_EQUAL(wire_decode(&d, out, len, &got, NULL), -WIRE_ETOO_COMPLEX);
    f.n_readings = WIRE_MAX_READINGS;
    CU_ASSERT_FATAL(wire_encode(&f, g->key, g->key_len, out, sizeof out, &len) == 0);
    CU_ASSERT_EQUAL(wire_decode(&d, out, len, &got, NULL), 0);
}

/* Decodes a hand-built body (no envelope) into a fresh arena. */
static int body_decode(const uint8_t *body, size_t len, Citygate__V1__Frame **f)
{
    static unsigned char buf[16 * 1024];
    struct wire_arena a;
    wire_arena_init(&a, buf, sizeof buf);
    return wire_body_decode(&a, body, len, f);
}

#define BODY_DECODE(bytes, f) body_decode((bytes), sizeof(bytes), (f))

/* A newer node's fields, of every wire type, are skipped; the known ones survive. */
static void test_body_unknown_fields(void)
{
    static const uint8_t body[] = {
        0x20, 0x05,                                  /* seq = 5 */
        0x58, 0x96, 0x01,                            /* 11: varint 150 */
        0x61, 1,    2,    3,    4,    5,    6, 7, 8, /* 12: 64-bit */
        0x6a, 0x03, 'a',  'b',  'c',                 /* 13: length-delimited */
        0x75, 1,    2,    3,    4,                   /* 14: 32-bit */
        0x42, 0x04, 0x08, 0x03, 0x40, 0x01,          /* reading: SPEED, field 8 = 1 */
        0x28, 0x07,                                  /* timestamp_ms = 7 */
    };
    static const uint8_t group[] = {0x20, 0x05, 0x5b, 0x5c}; /* 11: start group */
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_EQUAL_FATAL(BODY_DECODE(body, &f), 0);
    CU_ASSERT(f->seq == 5 && f->timestamp_ms == 7);
    CU_ASSERT_FATAL(f->n_readings == 1);
    CU_ASSERT(f->readings[0]->quantity == CITYGATE__V1__QUANTITY__SPEED);
    CU_ASSERT_EQUAL(BODY_DECODE(group, &f), -WIRE_EMALFORMED);
}

/* The last of a scalar given twice wins; repeated messages keep their order. */
static void test_body_repeats(void)
{
    static const uint8_t body[] = {
        0x20, 0x05, 0x42, 0x02, 0x28, 0x01,      /* seq = 5, reading lane 1 */
        0x20, 0x09, 0x42, 0x02, 0x28, 0x02,      /* seq = 9, reading lane 2 */
        0x0a, 0x01, 'x',  0x0a, 0x02, 'n',  '1', /* device_id "x", then "n1" */
        0x4a, 0x03, 0x08, 0xf3, 0x03,            /* vehicle: offset_ms zigzag 499 = -250 */
    };
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_EQUAL_FATAL(BODY_DECODE(body, &f), 0);
    CU_ASSERT(f->seq == 9);
    CU_ASSERT_STRING_EQUAL(f->device_id, "n1");
    CU_ASSERT_FATAL(f->n_readings == 2);
    CU_ASSERT(f->readings[0]->lane == 1 && f->readings[1]->lane == 2);
    CU_ASSERT_FATAL(f->n_vehicles == 1);
    CU_ASSERT(f->vehicles[0]->offset_ms == -250);
}

/* Every way of running out of bytes, or of writing a number too long, is malformed. */
static void test_body_malformed(void)
{
    static const uint8_t truncated_varint[] = {0x20, 0xff};
    static const uint8_t overlong_varint[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t length_past_end[] = {0x0a, 0x05, 'a', 'b'};
    static const uint8_t huge_length[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    static const uint8_t nested_truncated[] = {0x42, 0x03, 0x19, 0x00,
                                               0x00}; /* double of 2 bytes */
    static const uint8_t varint_past_nested_end[] = {0x4a, 0x02, 0x08, 0xf3, 0x03};
    static const uint8_t wrong_wire_type[] = {0x21, 1, 2, 3, 4, 5, 6, 7, 8}; /* seq as 64-bit */
    static const uint8_t field_zero[] = {0x80, 0x00, 0x01};
    static const uint8_t short_fixed[] = {0x75, 1, 2, 3};
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_EQUAL(BODY_DECODE(truncated_varint, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(overlong_varint, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(length_past_end, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(huge_length, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(nested_truncated, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(varint_past_nested_end, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(wrong_wire_type, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(field_zero, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(short_fixed, &f), -WIRE_EMALFORMED);
    CU_ASSERT(f == NULL);
}

/* A ten-byte varint is the longest allowed; its bits beyond 64 are dropped. */
static void test_body_longest_varint(void)
{
    static const uint8_t body[] = {0x20, 0x81, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x7f};
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_EQUAL_FATAL(BODY_DECODE(body, &f), 0);
    CU_ASSERT(f->seq == (1ULL | 1ULL << 63));
}

/* Strings come out NUL-terminated; absent ones are protobuf-c's empty string. */
static void test_body_strings(void)
{
    static const uint8_t body[] = {0x12, 0x03, 'a', 'b', 'c', 0x20, 0x01};
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_EQUAL_FATAL(BODY_DECODE(body, &f), 0);
    CU_ASSERT_STRING_EQUAL(f->site_id, "abc");
    CU_ASSERT(f->device_id == protobuf_c_empty_string);
    CU_ASSERT(f->health == NULL);
}

/*
 * A string with a NUL byte is malformed wherever it is: a C string would cut
 * it short ("atk-1\0junk" read as "atk-1"). A later occurrence of the field
 * replaces it, as any repeated string (and a second Health keeps the first's
 * firmware_version when it has none, NUL or not).
 */
static void test_body_nul_in_strings(void)
{
    static const uint8_t device_id[] = {0x0a, 0x0a, 'a', 't', 'k', '-', '1', 0, 'j', 'u', 'n', 'k'};
    static const uint8_t site_id[] = {0x12, 0x02, 0, 'a'};
    static const uint8_t sensor_id[] = {0x42, 0x06, 0x32, 0x04, 'n', 0, 'u', 'l'};
    static const uint8_t vehicle[] = {0x4a, 0x03, 0x32, 0x01, 0};
    static const uint8_t firmware[] = {0x52, 0x04, 0x2a, 0x02, '1', 0};
    static const uint8_t firmware_kept[] = {0x52, 0x04, 0x2a, 0x02, '1', 0, 0x52, 0x02, 0x08, 0x05};
    static const uint8_t replaced[] = {0x0a, 0x03, 'a', 0, 'b', 0x0a, 0x02, 'n', '1'};
    static const uint8_t firmware_replaced[] = {0x52, 0x04, 0x2a, 0x02, '1', 0,
                                                0x52, 0x03, 0x2a, 0x01, '2'};
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_EQUAL(BODY_DECODE(device_id, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(site_id, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(sensor_id, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(vehicle, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(firmware, &f), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(BODY_DECODE(firmware_kept, &f), -WIRE_EMALFORMED);
    CU_ASSERT(f == NULL);
    CU_ASSERT_EQUAL_FATAL(BODY_DECODE(replaced, &f), 0);
    CU_ASSERT_STRING_EQUAL(f->device_id, "n1");
    CU_ASSERT_EQUAL_FATAL(BODY_DECODE(firmware_replaced, &f), 0);
    CU_ASSERT_STRING_EQUAL(f->health->firmware_version, "2");
}

static void test_encode_refuses_bad_arguments(void)
{
    const struct golden *g = vector("traffic-two-lanes");
    static uint8_t out[WIRE_DEFAULT_MAX_FRAME_BYTES];
    Citygate__V1__Frame f = *g->frame;
    size_t len = 0;

    CU_ASSERT_EQUAL(wire_encode(&f, g->key, g->key_len, out, g->len - 1, &len), -WIRE_EINVALID_ARG);
    CU_ASSERT_EQUAL(wire_encode(&f, g->key, WIRE_MIN_KEY_BYTES - 1, out, sizeof out, &len),
                    -WIRE_EINVALID_ARG);
    f.device_id = "node 0001";
    CU_ASSERT_EQUAL(wire_encode(&f, g->key, g->key_len, out, sizeof out, &len), -WIRE_EINVALID_ARG);
    f.device_id = "";
    CU_ASSERT_EQUAL(wire_encode(&f, g->key, g->key_len, out, sizeof out, &len), -WIRE_EINVALID_ARG);
    CU_ASSERT(len == 0);
    CU_ASSERT_EQUAL(wire_encode(g->frame, g->key, g->key_len, out, g->len, &len), 0);
    CU_ASSERT(len == g->len);
}

static void test_error_names(void)
{
    CU_ASSERT_STRING_EQUAL(wire_strerror(-WIRE_EBAD_SIGNATURE), "bad signature");
    CU_ASSERT_STRING_EQUAL(wire_errname(-WIRE_EBAD_SIGNATURE), "bad_signature");
    CU_ASSERT_STRING_EQUAL(wire_strerror(-WIRE_N_ERRS), "unknown error");
    for (int e = 1; e < WIRE_N_ERRS; e++) {
        CU_ASSERT(strchr(wire_errname(-e), ' ') == NULL);
        for (int o = 1; o < e; o++)
            CU_ASSERT(strcmp(wire_strerror(-e), wire_strerror(-o)) != 0);
    }
}

/* Hex text against bytes written out by hand: either case read, lowercase written; keys. */
static void test_hex(void)
{
    static const uint8_t want[] = {0x8e, 0x1c, 0x2a, 0x4b};
    uint8_t b[4], key[WIRE_MAX_KEY_BYTES];
    char text[9];

    CU_ASSERT_EQUAL(wire_hex_decode("8E1c2A4b", b, 4), 0);
    CU_ASSERT(memcmp(b, want, 4) == 0);
    CU_ASSERT_EQUAL(wire_hex_decode("8e1c2a4bxx", b, 4), 0); /* what follows is not read */
    CU_ASSERT_EQUAL(wire_hex_decode("8e1c2a4", b, 4), -WIRE_EINVALID_ARG); /* one digit short */
    CU_ASSERT_EQUAL(wire_hex_decode("8e1g2a4b", b, 4), -WIRE_EINVALID_ARG);
    CU_ASSERT_EQUAL(wire_hex_decode(" 8e1c2a4", b, 4), -WIRE_EINVALID_ARG);
    memset(text, 'x', sizeof text);
    wire_hex_encode(want, 4, text);
    CU_ASSERT_STRING_EQUAL(text, "8e1c2a4b");

    /* Keys: an even count of 32 to 128 digits, all of them hex. */
    char hex[2 * WIRE_MAX_KEY_BYTES + 2];
    for (size_t i = 0; i < sizeof hex - 1; i++)
        hex[i] = "0123456789ABCDEF"[(i * 7) % 16];
    for (size_t n = 0; n < sizeof hex; n++) {
        char t[sizeof hex];
        memcpy(t, hex, n);
        t[n] = '\0';
        int ok = n % 2 == 0 && n >= 2 * WIRE_MIN_KEY_BYTES && n <= 2 * WIRE_MAX_KEY_BYTES;
        memset(key, 0, sizeof key);
        int rc = wire_key_from_hex(t, key);
        CU_ASSERT_EQUAL(rc, ok ? (int)(n / 2) : -WIRE_EINVALID_ARG);
        for (size_t i = 0; ok && i < n / 2; i++)
            CU_ASSERT_EQUAL(key[i], (uint8_t)(((i * 14) % 16) << 4 | ((i * 14 + 7) % 16)));
    }
    memcpy(hex, "0g", 2);
    hex[2 * WIRE_MIN_KEY_BYTES] = '\0';
    CU_ASSERT_EQUAL(wire_key_from_hex(hex, key), -WIRE_EINVALID_ARG);
}

static void test_unload(void)
{
    golden_free(vectors, n_vectors);
    vectors = NULL;
    n_vectors = 0;
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"load golden vectors", test_load},
        {"golden vectors encode to their hex", test_golden_encode},
        {"golden vectors decode to their outcome", test_golden_decode},
        {"prepared keys decode golden vectors alike", test_golden_prepared_key},
        {"the prepared key is the one used", test_prepared_key_is_used},
        {"golden fields survive decoding", test_golden_fields},
        {"every bit flip is a bad signature", test_every_bit_flip},
        {"every truncation is truncated", test_every_truncation},
        {"size cap boundary", test_size_cap_boundary},
        {"arena exhaustion is too complex", test_arena_exhausted},
        {"too many readings", test_too_many_readings},
        {"body: unknown fields of every wire type", test_body_unknown_fields},
        {"body: repeated scalars and messages", test_body_repeats},
        {"body: malformed inputs", test_body_malformed},
        {"body: longest varint", test_body_longest_varint},
        {"body: strings", test_body_strings},
        {"body: a NUL byte in any string", test_body_nul_in_strings},
        {"encode refuses bad arguments", test_encode_refuses_bad_arguments},
        {"error names are distinct", test_error_names},
        {"hex codec and keys from hex", test_hex},
        {"unload", test_unload},
        {NULL, NULL},
    };
    return cu_main("wire", tests);
}
