/*
 * wire_int.h -- what the files of the wire library share and nobody else
 * uses: the envelope (wire.c), the arena (wire_body.c) and the control
 * messages (wire_control.c).
 */
#ifndef CITYGATE_WIRE_INT_H
#define CITYGATE_WIRE_INT_H

#include "wire.h"

/* Records err and a formatted detail in diag (which may be NULL); returns -err. */
__attribute__((format(printf, 3, 4))) int wire__fail(struct wire_diag *diag, enum wire_err err,
                                                     const char *fmt, ...);

/* size bytes from the arena, aligned for any type, or NULL when it is exhausted. */
void *wire__arena_alloc(struct wire_arena *a, size_t size);

/* An envelope whose size, shape, version, key and tag have been checked. */
struct wire__opened {
    char device_id[WIRE_MAX_DEVICE_ID + 1];
    const uint8_t *body; /* inside the caller's buffer */
    size_t body_len;
};

/*
 * Checks the envelope of a message of kind (the second magic byte) in buf
 * (borrowed, len bytes) in the order wire_decode() documents, up to and
 * including the tag; the body is not parsed. Returns 0 and fills *out, or a
 * negative enum wire_err with diag filled.
 */
int wire__open(struct wire_decoder *d, enum wire_kind kind, const uint8_t *buf, size_t len,
               struct wire__opened *out, struct wire_diag *diag);

/*
 * Writes the envelope of kind around body (packed by protobuf-c) for
 * device_id, signed with key; the arguments as for wire_encode().
 */
int wire__seal(enum wire_kind kind, const char *device_id, const ProtobufCMessage *body,
               const uint8_t *key, size_t key_len, uint8_t *out, size_t cap, size_t *out_len);

#endif
