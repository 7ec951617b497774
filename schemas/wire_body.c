/*
 * wire_body.c -- the frame body: protobuf wire format straight into the
 * structs protoc-c generates from schemas/frame.proto, drawn from the arena.
 *
 * protobuf-c's generic unpacker walks every message twice through its
 * descriptors and allocates as it goes; this decoder knows the four messages,
 * reads each once and never touches the heap. Consumers keep using the
 * generated structs, and protobuf-c keeps encoding: the firmware uses it.
 *
 * protobuf-c is also the oracle this decoder is fuzzed against
 * (tests/fuzz/wire.c): it accepts what protobuf-c 1.4 accepts, with the same
 * values, except field number 0, which it refuses (Encoding guide, "Message
 * Structure": field numbers start at 1). Where protobuf-c departs from the
 * language guide, this follows protobuf-c, since that is what gateways in the
 * field decode:
 *   - a known field that arrives with another wire type is an error, except
 *     a bool, which is true when any byte of its value has one of its low
 *     seven bits set;
 *   - a second Health replaces the first, keeping only the firmware_version
 *     of the first when the second has none (the guide merges them).
 * Unknown fields are skipped by their wire type and not kept. Scalars and
 * strings given twice keep the last value. Repeated messages are never
 * packed; each occurrence is one element.
 */
#include "wire_int.h"

#include <stdalign.h>
#include <string.h>

enum pb_wire_type { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

struct pb_reader {
    const uint8_t *p, *end;
};

void wire_arena_init(struct wire_arena *arena, void *buf, size_t cap)
{
    arena->base = buf;
    arena->cap = cap;
    arena->used = 0;
}

void *wire__arena_alloc(struct wire_arena *a, size_t size)
{
    uintptr_t at = (uintptr_t)(a->base + a->used);
    size_t pad = (alignof(max_align_t) - at % alignof(max_align_t)) % alignof(max_align_t);

    if (size > a->cap || a->used + pad > a->cap - size)
        return NULL;
    a->used += pad;
    void *p = a->base + a->used;
    a->used += size;
    return p;
}

/*
 * Reads a varint of at most max_bytes bytes; bits beyond 64 are dropped, as
 * protobuf-c does. Returns 0, or -1 when it does not end in time. Never
 * inlined, which keeps the readers inlined into every field small: keys,
 * lengths and most values fit in the one byte pb_varint and pb_key read
 * themselves.
 */
__attribute__((noinline)) static int pb_varint_long(struct pb_reader *r, unsigned max_bytes,
                                                    uint64_t *v)
{
    const uint8_t *p = r->p;
    size_t n = (size_t)(r->end - p) < max_bytes ? (size_t)(r->end - p) : max_bytes;
    uint64_t x = 0;

    for (size_t i = 0; i < n; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] < 0x80) {
            r->p = p + i + 1;
            *v = x;
            return 0;
        }
    }
    return -1;
}

static inline int pb_varint(struct pb_reader *r, unsigned max_bytes, uint64_t *v)
{
    if (r->p < r->end && r->p[0] < 0x80) {
        *v = *r->p++;
        return 0;
    }
    return pb_varint_long(r, max_bytes, v);
}

/*
 * Reads the key of the next field. Returns 1 and sets *number and *wire_type,
 * 0 at the end, or -1 when the key is malformed or names field 0. Keys are at
 * most 5 bytes long and keep their low 32 bits.
 */
static inline int pb_key(struct pb_reader *r, uint32_t *number, unsigned *wire_type)
{
    uint64_t key;

    if (r->p == r->end)
        return 0;
    if (r->p[0] < 0x80) /* fields 1 to 15 */
        key = *r->p++;
    else if (pb_varint_long(r, 5, &key) != 0)
        return -1;
    if ((uint32_t)(key >> 3) == 0)
        return -1;
    *number = (uint32_t)(key >> 3);
    *wire_type = key & 7;
    return 1;
}

/* Points *data at the next n bytes and moves past them; -1 when they run past the end. */
static inline int pb_bytes(struct pb_reader *r, size_t n, const uint8_t **data)
{
    if (n > (size_t)(r->end - r->p))
        return -1;
    *data = r->p;
    r->p += n;
    return 0;
}

/* Reads a LEN value: its length (at most 5 bytes, low 32 bits) and its bytes. */
static inline int pb_len(struct pb_reader *r, const uint8_t **data, size_t *len)
{
    uint64_t n;

    if (pb_varint(r, 5, &n) != 0 || pb_bytes(r, (uint32_t)n, data) != 0)
        return -1;
    *len = (uint32_t)n;
    return 0;
}

/*
 * Moves past a value of wire type wire_type. Returns 0, or -WIRE_EMALFORMED
 * when it runs past the end or is a group (3, 4) or the unused 6 and 7.
 */
static int pb_skip(struct pb_reader *r, unsigned wire_type)
{
    const uint8_t *data;
    uint64_t v;
    size_t n;
    int rc = -1;

    switch (wire_type) {
    case PB_VARINT:
        rc = pb_varint(r, 10, &v);
        break;
    case PB_I64:
        rc = pb_bytes(r, 8, &data);
        break;
    case PB_LEN:
        rc = pb_len(r, &data, &n);
        break;
    case PB_I32:
        rc = pb_bytes(r, 4, &data);
        break;
    }
    return rc == 0 ? 0 : -WIRE_EMALFORMED;
}

/* Fixed-size values are little-endian on the wire (Encoding guide, "Non-varint Numbers"). */
static inline uint32_t pb_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t pb_le64(const uint8_t *p)
{
    return pb_le32(p) | (uint64_t)pb_le32(p + 4) << 32;
}

/*
 * The readers of one value below take the wire type its key gave and fail
 * with -WIRE_EMALFORMED when it is not the field's, or when the value is
 * malformed; they write *out only on success.
 */
static inline int pb_uint64(struct pb_reader *r, unsigned wire_type, uint64_t *out)
{
    return wire_type == PB_VARINT && pb_varint(r, 10, out) == 0 ? 0 : -WIRE_EMALFORMED;
}

static inline int pb_uint32(struct pb_reader *r, unsigned wire_type, uint32_t *out)
{
    uint64_t v;
    int rc = pb_uint64(r, wire_type, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* Enums: the low 32 bits, two's complement, in a member of int's size (protoc-c forces it). */
static inline int pb_enum(struct pb_reader *r, unsigned wire_type, void *member)
{
    uint32_t u;
    int rc = pb_uint32(r, wire_type, &u);
    if (rc == 0) {
        int32_t v = (int32_t)u;
        memcpy(member, &v, sizeof v);
    }
    return rc;
}

static inline int pb_sint32(struct pb_reader *r, unsigned wire_type, int32_t *out)
{
    uint32_t u;
    int rc = pb_uint32(r, wire_type, &u);
    if (rc == 0)
        *out = (int32_t)(u >> 1 ^ (0u - (u & 1)));
    return rc;
}

static inline int pb_float(struct pb_reader *r, unsigned wire_type, float *out)
{
    const uint8_t *data;
    if (wire_type != PB_I32 || pb_bytes(r, 4, &data) != 0)
        return -WIRE_EMALFORMED;
    uint32_t bits = pb_le32(data);
    memcpy(out, &bits, sizeof *out);
    return 0;
}

static inline int pb_double(struct pb_reader *r, unsigned wire_type, double *out)
{
    const uint8_t *data;
    if (wire_type != PB_I64 || pb_bytes(r, 8, &data) != 0)
        return -WIRE_EMALFORMED;
    uint64_t bits = pb_le64(data);
    memcpy(out, &bits, sizeof *out);
    return 0;
}

/*
 * protobuf-c reads a bool from whatever bytes its value has, a LEN value's
 * length included; see the top of the file.
 */
static int pb_bool(struct pb_reader *r, unsigned wire_type, protobuf_c_boolean *out)
{
    const uint8_t *raw = r->p;
    int rc = pb_skip(r, wire_type);
    if (rc == 0) {
        *out = 0;
        for (; raw < r->p; raw++)
            *out |= (*raw & 0x7f) != 0;
    }
    return rc;
}

/*
 * Stands for a string that holds a NUL byte. A C string cannot carry one:
 * every reader would see a shorter string than the node signed ("atk-1\0junk"
 * as "atk-1"). It is kept as the field's value, so that a later occurrence can
 * still replace it as protobuf-c replaces strings, and a frame whose final
 * value is this one is refused once the body is read (body_has_nul()).
 */
static char body_nul_string[] = "";

/* A NUL-terminated copy in the arena; the wire's bytes are not terminated. */
static inline int pb_string(struct wire_arena *a, struct pb_reader *r, unsigned wire_type,
                            char **out)
{
    const uint8_t *data;
    size_t len;
    if (wire_type != PB_LEN || pb_len(r, &data, &len) != 0)
        return -WIRE_EMALFORMED;
    if (memchr(data, 0, len)) {
        *out = body_nul_string;
        return 0;
    }
    char *s = wire__arena_alloc(a, len + 1);
    if (!s)
        return -WIRE_ETOO_COMPLEX;
    memcpy(s, data, len);
    s[len] = '\0';
    *out = s;
    return 0;
}

/* Fields this message does not know are skipped: a newer node may send them. */
static int body_reading_field(struct wire_arena *a, struct pb_reader *r, uint32_t number,
                              unsigned wire_type, void *msg)
{
    Citygate__V1__Reading *rd = msg;

    switch (number) {
    case 1:
        return pb_enum(r, wire_type, &rd->quantity);
    case 2:
        return pb_enum(r, wire_type, &rd->unit);
    case 3:
        return pb_double(r, wire_type, &rd->value);
    case 4:
        return pb_enum(r, wire_type, &rd->quality);
    case 5:
        return pb_uint32(r, wire_type, &rd->lane);
    case 6:
        return pb_string(a, r, wire_type, &rd->sensor_id);
    case 7:
        return pb_enum(r, wire_type, &rd->vehicle_class);
    }
    return pb_skip(r, wire_type);
}

static int body_vehicle_field(struct wire_arena *a, struct pb_reader *r, uint32_t number,
                              unsigned wire_type, void *msg)
{
    Citygate__V1__Vehicle *v = msg;

    switch (number) {
    case 1:
        return pb_sint32(r, wire_type, &v->offset_ms);
    case 2:
        return pb_uint32(r, wire_type, &v->lane);
    case 3:
        return pb_float(r, wire_type, &v->speed_kmh);
    case 4:
        return pb_float(r, wire_type, &v->length_m);
    case 5:
        return pb_enum(r, wire_type, &v->vehicle_class);
    case 6:
        return pb_string(a, r, wire_type, &v->sensor_id);
    case 7:
        return pb_uint32(r, wire_type, &v->headway_ms);
    }
    return pb_skip(r, wire_type);
}

static int body_health_field(struct wire_arena *a, struct pb_reader *r, uint32_t number,
                             unsigned wire_type, void *msg)
{
    Citygate__V1__Health *h = msg;

    switch (number) {
    case 1:
        return pb_uint32(r, wire_type, &h->battery_mv);
    case 2:
        return pb_sint32(r, wire_type, &h->rssi_dbm);
    case 3:
        return pb_uint64(r, wire_type, &h->uptime_s);
    case 4:
        return pb_float(r, wire_type, &h->cpu_temp_c);
    case 5:
        return pb_string(a, r, wire_type, &h->firmware_version);
    case 6:
        return pb_uint64(r, wire_type, &h->free_storage_bytes);
    case 7:
        return pb_uint32(r, wire_type, &h->backlog_frames);
    case 8:
        return pb_uint64(r, wire_type, &h->backlog_dropped);
    }
    return pb_skip(r, wire_type);
}

/* Decodes field number, of wire type wire_type, at r into msg, a message of the function's type. */
typedef int (*body_field_fn)(struct wire_arena *a, struct pb_reader *r, uint32_t number,
                             unsigned wire_type, void *msg);

/* What decoding a message of one type needs: its defaults, its size and its fields. */
struct body_type {
    const void *init;
    size_t size;
    body_field_fn field;
};

static const Citygate__V1__Frame body_frame_init = CITYGATE__V1__FRAME__INIT;
static const Citygate__V1__Reading body_reading_init = CITYGATE__V1__READING__INIT;
static const Citygate__V1__Vehicle body_vehicle_init = CITYGATE__V1__VEHICLE__INIT;
static const Citygate__V1__Health body_health_init = CITYGATE__V1__HEALTH__INIT;
static const struct body_type body_reading = {&body_reading_init, sizeof body_reading_init,
                                              body_reading_field};
static const struct body_type body_vehicle = {&body_vehicle_init, sizeof body_vehicle_init,
                                              body_vehicle_field};
static const struct body_type body_health = {&body_health_init, sizeof body_health_init,
                                             body_health_field};

/*
 * Decodes every field of len bytes at p into msg with field. Inlined with
 * body_message, so that each message type gets its own copy of the loop, which
 * calls field directly and reads its defaults with a copy of known size.
 */
__attribute__((always_inline)) static inline int
body_fields(struct wire_arena *a, const uint8_t *p, size_t len, body_field_fn field, void *msg)
{
    struct pb_reader rd = {p, p + len};
    uint32_t number;
    unsigned wire_type;
    int more, rc = 0;

    while (rc == 0 && (more = pb_key(&rd, &number, &wire_type)) > 0)
        rc = field(a, &rd, number, wire_type, msg);
    return rc ? rc : more < 0 ? -WIRE_EMALFORMED : 0;
}

/*
 * Decodes the value at r, of wire type wire_type, as a message of type t into
 * *msg, which it allocates when NULL and starts from the type's defaults.
 */
__attribute__((always_inline)) static inline int body_message(struct wire_arena *a,
                                                              struct pb_reader *r,
                                                              unsigned wire_type,
                                                              const struct body_type *t, void **msg)
{
    const uint8_t *data;
    size_t len;

    if (wire_type != PB_LEN || pb_len(r, &data, &len) != 0)
        return -WIRE_EMALFORMED;
    if (!*msg && !(*msg = wire__arena_alloc(a, t->size)))
        return -WIRE_ETOO_COMPLEX;
    memcpy(*msg, t->init, t->size);
    return body_fields(a, data, len, t->field, *msg);
}

/*
 * The array items of n pointers (a Frame's readings or vehicles) with room for
 * one more, or NULL when the arena is full. Arrays start with room for four
 * and double when full, leaving the old copy behind: the number of elements is
 * not known before the last of them, and the waste is less than the array.
 */
static inline void *body_room(struct wire_arena *a, void *items, size_t n)
{
    if (n < 4 ? n > 0 : (n & (n - 1)) != 0)
        return items;
    void *grown = wire__arena_alloc(a, (n < 4 ? 4 : 2 * n) * sizeof(void *));
    if (grown && n > 0)
        memcpy(grown, items, n * sizeof(void *));
    return grown;
}

/* A second Health replaces the first but for a firmware_version it lacks, as in protobuf-c. */
static int body_frame_health(struct wire_arena *a, struct pb_reader *r, unsigned wire_type,
                             Citygate__V1__Frame *fr)
{
    void *h = fr->health;
    char *earlier = h ? fr->health->firmware_version : (char *)protobuf_c_empty_string;
    int rc = body_message(a, r, wire_type, &body_health, &h);
    if (rc == 0) {
        fr->health = h;
        if (fr->health->firmware_version == protobuf_c_empty_string)
            fr->health->firmware_version = earlier;
    }
    return rc;
}

static int body_frame_field(struct wire_arena *a, struct pb_reader *r, uint32_t number,
                            unsigned wire_type, void *msg)
{
    Citygate__V1__Frame *fr = msg;
    void *elem = NULL;
    int rc;

    switch (number) {
    case 1:
        return pb_string(a, r, wire_type, &fr->device_id);
    case 2:
        return pb_string(a, r, wire_type, &fr->site_id);
    case 3:
        return pb_uint64(r, wire_type, &fr->boot_id);
    case 4:
        return pb_uint64(r, wire_type, &fr->seq);
    case 5:
        return pb_uint64(r, wire_type, &fr->timestamp_ms);
    case 6:
        return pb_bool(r, wire_type, &fr->backlog);
    case 7:
        return pb_uint32(r, wire_type, &fr->interval_ms);
    case 8:
        rc = body_message(a, r, wire_type, &body_reading, &elem);
        if (rc == 0 && !(fr->readings = body_room(a, fr->readings, fr->n_readings)))
            rc = -WIRE_ETOO_COMPLEX;
        if (rc == 0)
            fr->readings[fr->n_readings++] = elem;
        return rc;
    case 9:
        rc = body_message(a, r, wire_type, &body_vehicle, &elem);
        if (rc == 0 && !(fr->vehicles = body_room(a, fr->vehicles, fr->n_vehicles)))
            rc = -WIRE_ETOO_COMPLEX;
        if (rc == 0)
            fr->vehicles[fr->n_vehicles++] = elem;
        return rc;
    case 10:
        return body_frame_health(a, r, wire_type, fr);
    }
    return pb_skip(r, wire_type);
}

/* 1 when a string of fr holds a NUL byte (body_nul_string). */
static int body_has_nul(const Citygate__V1__Frame *fr)
{
    int nul = fr->device_id == body_nul_string || fr->site_id == body_nul_string;
    for (size_t i = 0; i < fr->n_readings; i++)
        nul |= fr->readings[i]->sensor_id == body_nul_string;
    for (size_t i = 0; i < fr->n_vehicles; i++)
        nul |= fr->vehicles[i]->sensor_id == body_nul_string;
    if (fr->health)
        nul |= fr->health->firmware_version == body_nul_string;
    return nul;
}

int wire_body_decode(struct wire_arena *a, const uint8_t *body, size_t len,
                     Citygate__V1__Frame **out)
{
    Citygate__V1__Frame *fr = wire__arena_alloc(a, sizeof *fr);
    int rc;

    if (!fr)
        return -WIRE_ETOO_COMPLEX;
    *fr = body_frame_init;
    rc = body_fields(a, body, len, body_frame_field, fr);
    if (rc != 0)
        return rc;
    if (body_has_nul(fr))
        return -WIRE_EMALFORMED;
    *out = fr;
    return 0;
}
