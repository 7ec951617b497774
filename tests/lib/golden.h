/*
 * golden.h -- reads the golden frame vectors in tests/data/frames.golden.
 *
 * A vector is a named block of "key = value" lines: the device key, the frame
 * as hex, the expected outcome ("ok" or a wire_strerror() text) and, for valid
 * frames, the decoded fields in text form. Field lines name a Frame field;
 * message-typed fields (readings, vehicles, health) take "field=value" pairs.
 * Values are set through the protobuf-c descriptors, so the text form follows
 * frame.proto without a hand-written mapping.
 */
#ifndef CITYGATE_TEST_GOLDEN_H
#define CITYGATE_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct golden {
    char name[64];
    uint8_t key[WIRE_MAX_KEY_BYTES];
    size_t key_len;
    uint8_t *bytes; /* the frame; NULL when the file gives no hex yet */
    size_t len;
    char expect[64];
    size_t max_bytes;           /* size cap to decode with; 0 for the default */
    Citygate__V1__Frame *frame; /* fields from the file; NULL when none */
};

/*
 * Loads every vector of path. Returns 0 and sets *out (caller frees with
 * golden_free()) and *n, or -1 with a message naming the line in err.
 */
int golden_load(const char *path, struct golden **out, size_t *n, char *err, size_t err_len);

void golden_free(struct golden *v, size_t n);

/* Parses hex into out (cap bytes). Returns the byte count or -1. */
long golden_unhex(const char *hex, uint8_t *out, size_t cap);

/* Prints bytes as one line of lowercase hex to f. */
void golden_print_hex(void *f, const uint8_t *bytes, size_t len);

#endif
