/*
 * wire.c (fuzz) -- verify-and-decode on arbitrary bytes.
 *
 * Each input is decoded twice: as it is, which exercises the envelope checks
 * (almost nothing random carries a valid tag), and with its last 32 bytes
 * replaced by the correct tag for the fuzz key, which lets the fuzzer reach
 * the protobuf body parser and the field checks. A frame that decodes must
 * re-encode to bytes that decode again: the decoder never hands out a frame
 * the encoder cannot represent.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
