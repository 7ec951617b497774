/*
 * wire -- encode-and-sign and verify-and-decode citygate sensor frames and
 * the node's signed control messages (status and commands).
 *
 * A frame on the wire is a small fixed envelope around a protobuf body
 * (schemas/frame.proto), followed by an HMAC-SHA256 tag over everything before
 * it (docs/data-model.md, "Frame envelope"):
 *
 *     "CG" | major u8 | minor u8 | id_len u8 | device id | body_len u32 BE | body | tag[32]
 *
 * The envelope is deliberately not protobuf: the version and the device id
 * must be readable before the signature is checked (to reject an unknown major
 * version with that reason and to pick the device's key), and the body must
 * not be parsed before it is authenticated. Every length is checked against
 * the bytes actually present; nothing from the wire sizes an allocation, and
 * every decode draws its memory from a caller-provided, fixed-size arena.
 *
 * Status messages (birth and death), commands and update reports travel in
 * the same envelope with their own magic ("CS", "CC", "CU") around the bodies
 * of schemas/control.proto; the same checks apply (wire_status_decode(),
 * wire_command_decode(), wire_update_decode()).
 *
 * All functions are pure (no I/O, no globals) and may be called from any
 * thread, as long as each thread uses its own struct wire_decoder.
 */
#ifndef CITYGATE_WIRE_H
#define CITYGATE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "frame.pb-c.h"

#define WIRE_MAJOR 1
#define WIRE_MINOR 0
#define WIRE_MAX_DEVICE_ID 64
#define WIRE_TAG_BYTES 32
#define WIRE_HEADER_BYTES 9 /* magic, major, minor, id_len, body_len: without the id */
#define WIRE_DEFAULT_MAX_FRAME_BYTES 65536
#define WIRE_MAX_READINGS 1024
#define WIRE_MAX_VEHICLES 4096
#define WIRE_MIN_KEY_BYTES 16
#define WIRE_MAX_KEY_BYTES 64

/* What an envelope carries: its second magic byte, after 'C'. */
enum wire_kind {
    WIRE_KIND_FRAME = 'G',   /* "CG": a Frame, on .../data */
    WIRE_KIND_STATUS = 'S',  /* "CS": a Status (birth or death), on .../status */
    WIRE_KIND_COMMAND = 'C', /* "CC": a Command, on .../cmd */
    WIRE_KIND_UPDATE = 'U',  /* "CU": an UpdateReport, on .../update and .../cmd/reply */
};

/* "frame", "status", "command", "update report"; never NULL. */
const char *wire_kind_name(enum wire_kind kind);

/* Why a frame was refused. Functions return 0 or one of these, negated. */
enum wire_err {
    WIRE_OK = 0,
    WIRE_ETOO_LARGE,       /* longer than the size cap */
    WIRE_ETRUNCATED,       /* a length in the envelope runs past the end */
    WIRE_EMALFORMED,       /* not a frame envelope, or a body protobuf cannot parse */
    WIRE_EUNKNOWN_MAJOR,   /* a major version this library does not know */
    WIRE_EUNKNOWN_DEVICE,  /* no key for the envelope's device id */
    WIRE_EBAD_SIGNATURE,   /* the tag does not match */
    WIRE_EMISSING_FIELD,   /* a required field is absent or zero */
    WIRE_EDEVICE_MISMATCH, /* the body's device id is not the envelope's */
    WIRE_ETOO_COMPLEX,     /* more readings or vehicles than allowed, or arena exhausted */
    WIRE_EINVALID_ARG,     /* encode: bad device id, key or output buffer too small */
    WIRE_N_ERRS
};

/* Human text for an error ("bad signature"); never NULL. */
const char *wire_strerror(int err);

/* Stable identifier for metrics labels ("bad_signature"); never NULL. */
const char *wire_errname(int err);

/* What went wrong, for logs and quarantine records. Parsers never log. */
struct wire_diag {
    int err; /* negative enum wire_err */
    char detail[128];
};

/*
 * A device key made ready for HMAC-SHA256: the hash states after the key's
 * inner and outer padded blocks (RFC 2104, section 4), so that verifying a
 * frame hashes the frame and nothing else. Opaque; read-only once made, so
 * any number of threads may verify with one at the same time.
 */
struct wire_hmac_key;

/*
 * Prepares key (borrowed, WIRE_MIN_KEY_BYTES..WIRE_MAX_KEY_BYTES bytes).
 * Returns a key the caller frees with wire_hmac_key_free(), or NULL when the
 * length is out of range or memory ran out. Any thread.
 */
struct wire_hmac_key *wire_hmac_key_new(const uint8_t *key, size_t len);

/* Frees k; NULL is a no-op. */
void wire_hmac_key_free(struct wire_hmac_key *k);

/* A device key, borrowed from the caller's registry. */
struct wire_key {
    const uint8_t *bytes;
    size_t len;
    /* The same key from wire_hmac_key_new(), or NULL: one-shot HMAC() over bytes each frame. */
    const struct wire_hmac_key *hmac;
};

/*
 * Looks up the key of device_id (NUL-terminated, at most WIRE_MAX_DEVICE_ID
 * bytes). Returns 0 and fills *key, which must stay valid until wire_decode()
 * returns, or nonzero when the device is unknown.
 */
typedef int (*wire_key_fn)(void *ctx, const char *device_id, struct wire_key *key);

/* A bump allocator over caller storage; decoded frames live in it. */
struct wire_arena {
    unsigned char *base;
    size_t cap;
    size_t used;
};

/* Everything one decoding thread needs. Fill the fields, then call wire_decode(). */
struct wire_decoder {
    size_t max_frame_bytes; /* size cap, checked before anything is parsed */
    wire_key_fn key_fn;
    void *key_ctx;
    struct wire_arena arena; /* borrowed storage; 256 KiB is ample, more is "too complex" */
};

/* Points the arena at buf (borrowed, cap bytes, any alignment). */
void wire_arena_init(struct wire_arena *arena, void *buf, size_t cap);

/*
 * Verifies and decodes one frame. On success returns 0 and sets *out to a
 * frame that lives in d->arena until the next wire_decode() with the same
 * decoder; the caller never frees it. On failure returns a negative enum
 * wire_err, fills *diag (if not NULL) and leaves *out untouched. buf is
 * borrowed.
 *
 * Order of checks: size cap; envelope shape (magic, lengths); major version;
 * device key; signature; body decode; required fields; device id match.
 */
int wire_decode(struct wire_decoder *d, const uint8_t *buf, size_t len, Citygate__V1__Frame **out,
                struct wire_diag *diag);

/*
 * Decodes len bytes of a Frame body (protobuf, without the envelope; borrowed)
 * into structs drawn from arena, without resetting it. Returns 0 and sets *out
 * to the frame, -WIRE_EMALFORMED when the bytes are not a Frame or one of
 * its strings holds a NUL byte (no C string can carry it), or
 * -WIRE_ETOO_COMPLEX when the arena is too small; *out is untouched then.
 * wire_decode() calls it once the signature matched; it checks no field.
 */
int wire_body_decode(struct wire_arena *arena, const uint8_t *body, size_t len,
                     Citygate__V1__Frame **out);

/*
 * Parses a device key written as hex (2 * WIRE_MIN_KEY_BYTES to 2 *
 * WIRE_MAX_KEY_BYTES digits, either case), as registries and provisioning
 * files hold it, into key. Returns the key's length in bytes, or
 * -WIRE_EINVALID_ARG (key untouched). hex is borrowed.
 */
int wire_key_from_hex(const char *hex, uint8_t key[WIRE_MAX_KEY_BYTES]);

/*
 * Decodes the 2 * n hex digits (either case) at hex (borrowed) into out[0..n):
 * keys, hashes and UUIDs alike. What follows them is not looked at. Returns
 * 0, or -WIRE_EINVALID_ARG when one of them is not a hex digit (out partly
 * written then).
 */
int wire_hex_decode(const char *hex, uint8_t *out, size_t n);

/* Writes the n bytes at b as 2 * n lowercase hex digits and a NUL into out. */
void wire_hex_encode(const uint8_t *b, size_t n, char *out);

/* An upper bound of the encoded size of frame, for sizing the output buffer. */
size_t wire_encoded_max(const Citygate__V1__Frame *frame);

/*
 * Encodes frame and signs it with key (borrowed). Writes at most cap bytes to
 * out and, on success, the encoded length to *out_len. Returns 0, or
 * -WIRE_EINVALID_ARG when the device id is empty or too long, the key length
 * is outside [WIRE_MIN_KEY_BYTES, WIRE_MAX_KEY_BYTES] or cap is too small.
 */
int wire_encode(const Citygate__V1__Frame *frame, const uint8_t *key, size_t key_len, uint8_t *out,
                size_t cap, size_t *out_len);

/* ---- control messages (wire_control.c) ---- */

/* The largest encoded status or command the library accepts or writes. */
#define WIRE_MAX_CONTROL_BYTES 8192

/*
 * Verifies and decodes a status message, as wire_decode() does a frame: the
 * same order of checks on the "CS" envelope (at most WIRE_MAX_CONTROL_BYTES
 * and d->max_frame_bytes), then the body, then the required fields
 * (device_id equal to the envelope's, site_id, boot_id, state). *out lives in
 * d->arena until the next decode with d (of any kind). buf is borrowed.
 */
int wire_status_decode(struct wire_decoder *d, const uint8_t *buf, size_t len,
                       Citygate__V1__Status **out, struct wire_diag *diag);

/* Encodes and signs a status message; arguments and returns as for wire_encode(). */
int wire_status_encode(const Citygate__V1__Status *s, const uint8_t *key, size_t key_len,
                       uint8_t *out, size_t cap, size_t *out_len);

/*
 * Verifies and decodes a command, as wire_status_decode() a status, on the
 * "CC" envelope; required: device_id equal to the envelope's, boot_id,
 * counter, cmd. Whether the node obeys it (its boot, a counter above the
 * last one) is the node's decision.
 */
int wire_command_decode(struct wire_decoder *d, const uint8_t *buf, size_t len,
                        Citygate__V1__Command **out, struct wire_diag *diag);

/* Encodes and signs a command; arguments and returns as for wire_encode(). */
int wire_command_encode(const Citygate__V1__Command *c, const uint8_t *key, size_t key_len,
                        uint8_t *out, size_t cap, size_t *out_len);

/*
 * Verifies and decodes a node's update report, as wire_status_decode() a
 * status, on the "CU" envelope; required: device_id equal to the envelope's,
 * site_id, boot_id, state.
 */
int wire_update_decode(struct wire_decoder *d, const uint8_t *buf, size_t len,
                       Citygate__V1__UpdateReport **out, struct wire_diag *diag);

/* Encodes and signs an update report; arguments and returns as for wire_encode(). */
int wire_update_encode(const Citygate__V1__UpdateReport *r, const uint8_t *key, size_t key_len,
                       uint8_t *out, size_t cap, size_t *out_len);

#endif
