/*
 * wire_body.c -- the frame body: protobuf wire format straight into the
 * structs protoc-c generates from schemas/frame.proto, drawn from the arena.
 *
 * protobuf-c's generic unpacker walks every message twice through its
 * descriptors and allocates as it goes; this decoder knows the four messages,
 * reads each once (plus a counting pass over the Frame to size the readings
 * and vehicles arrays) and never touches the heap. Consumers keep using the
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
#include "wire.h"

#include <stdalign.h>
#include <string.h>

enum pb_wire_type { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* One field as it is on the wire. */
struct pb_field {
    uint32_t number;
    unsigned wire_type;
    uint64_t varint;     /* the value of a VARINT field */
    const uint8_t *data; /* the payload of a LEN field, the bytes of an I32 or I64 one */
    size_t len;
    const uint8_t *raw; /* the whole value as sent (with a LEN field's length) */
    size_t raw_len;
};

struct pb_reader {
    const uint8_t *p, *end;
};

void wire_arena_init(struct wire_arena *arena, void *buf, size_t cap)
{
    arena->base = buf;
    arena->cap = cap;
    arena->used = 0;
    arena->exhausted = 0;
}

static void *body_alloc(struct wire_arena *a, size_t size)
{
    uintptr_t at = (uintptr_t)(a->base + a->used);
    size_t pad = (alignof(max_align_t) - at % alignof(max_align_t)) % alignof(max_align_t);

    if (size > a->cap || a->used + pad > a->cap - size) {
        a->exhausted = 1;
        return NULL;
    }
    a->used += pad;
    void *p = a->base + a->used;
    a->used += size;
    return p;
}

/*
 * Reads a varint of at most max_bytes bytes; bits beyond 64 are dropped, as
 * protobuf-c does. Returns 0, or -1 when it does not end in time.
 */
static int pb_varint(struct pb_reader *r, unsigned max_bytes, uint64_t *v)
{
    uint64_t x = 0;
    if (r->p < r->end && r->p[0] < 0x80) { /* most keys and values: one byte */
        *v = *r->p++;
        return 0;
    }
    for (unsigned i = 0; i < max_bytes && i < (size_t)(r->end - r->p); i++) {
        x |= (uint64_t)(r->p[i] & 0x7f) << (7 * i);
        if (!(r->p[i] & 0x80)) {
            r->p += i + 1;
            *v = x;
            return 0;
        }
    }
    return -1;
}

/*
 * Reads the next field. Returns 1 and fills *f, 0 at the end, or -1 when the
 * key or the value is malformed or runs past the end. Keys and lengths are
 * at most 5 bytes long and keep their low 32 bits, values at most 10.
 */
static int pb_next(struct pb_reader *r, struct pb_field *f)
{
    uint64_t key, n;

    if (r->p == r->end)
        return 0;
    if (pb_varint(r, 5, &key) != 0 || (uint32_t)(key >> 3) == 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire_type = key & 7;
    f->raw = r->p;
    switch (f->wire_type) {
    case PB_VARINT:
        if (pb_varint(r, 10, &f->varint) != 0)
            return -1;
        break;
    case PB_I64:
    case PB_I32:
        f->len = f->wire_type == PB_I64 ? 8 : 4;
        if (f->len > (size_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        r->p += f->len;
        break;
    case PB_LEN:
        if (pb_varint(r, 5, &n) != 0 || (uint32_t)n > (size_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (uint32_t)n;
        r->p += f->len;
        break;
    default: /* groups (3, 4) and the unused 6 and 7 */
        return -1;
    }
    f->raw_len = (size_t)(r->p - f->raw);
    return 1;
}

static uint64_t pb_load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static int pb_uint64(const struct pb_field *f, uint64_t *out)
{
    if (f->wire_type != PB_VARINT)
        return -WIRE_EMALFORMED;
    *out = f->varint;
    return 0;
}

static int pb_uint32(const struct pb_field *f, uint32_t *out)
{
    if (f->wire_type != PB_VARINT)
        return -WIRE_EMALFORMED;
    *out = (uint32_t)f->varint;
    return 0;
}

/* int32 and enums: the low 32 bits, two's complement. */
static int pb_int32(const struct pb_field *f, int32_t *out)
{
    uint32_t u;
    int rc = pb_uint32(f, &u);
    if (rc == 0)
        *out = (int32_t)u;
    return rc;
}

/* Enum members of the generated structs have int's size (protoc-c forces it). */
static int pb_enum(const struct pb_field *f, void *member)
{
    int32_t v;
    int rc = pb_int32(f, &v);
    if (rc == 0)
        memcpy(member, &v, sizeof v);
    return rc;
}

static int pb_sint32(const struct pb_field *f, int32_t *out)
{
    uint32_t u;
    int rc = pb_uint32(f, &u);
    if (rc == 0)
        *out = (int32_t)(u >> 1 ^ (0u - (u & 1)));
    return rc;
}

static int pb_float(const struct pb_field *f, float *out)
{
    if (f->wire_type != PB_I32)
        return -WIRE_EMALFORMED;
    uint32_t bits = (uint32_t)pb_load_le(f->data, 4);
    memcpy(out, &bits, sizeof *out);
    return 0;
}

static int pb_double(const struct pb_field *f, double *out)
{
    if (f->wire_type != PB_I64)
        return -WIRE_EMALFORMED;
    uint64_t bits = pb_load_le(f->data, 8);
    memcpy(out, &bits, sizeof *out);
    return 0;
}

/* protobuf-c reads a bool from whatever bytes its value has; see the top of the file. */
static int pb_bool(const struct pb_field *f, protobuf_c_boolean *out)
{
    *out = 0;
    for (size_t i = 0; i < f->raw_len; i++)
        if (f->raw[i] & 0x7f)
            *out = 1;
    return 0;
}

/* A NUL-terminated copy in the arena; the wire's bytes are not terminated. */
static int pb_string(struct wire_arena *a, const struct pb_field *f, char **out)
{
    if (f->wire_type != PB_LEN)
        return -WIRE_EMALFORMED;
    char *s = body_alloc(a, f->len + 1);
    if (!s)
        return -WIRE_ETOO_COMPLEX;
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    *out = s;
    return 0;
}

/* Fields this message does not know are skipped: a newer node may send them. */
static int body_reading_field(struct wire_arena *a, const struct pb_field *f, void *msg)
{
    Citygate__V1__Reading *r = msg;

    switch (f->number) {
    case 1:
        return pb_enum(f, &r->quantity);
    case 2:
        return pb_enum(f, &r->unit);
    case 3:
        return pb_double(f, &r->value);
    case 4:
        return pb_enum(f, &r->quality);
    case 5:
        return pb_uint32(f, &r->lane);
    case 6:
        return pb_string(a, f, &r->sensor_id);
    case 7:
        return pb_enum(f, &r->vehicle_class);
    }
    return 0;
}

static int body_vehicle_field(struct wire_arena *a, const struct pb_field *f, void *msg)
{
    Citygate__V1__Vehicle *v = msg;

    switch (f->number) {
    case 1:
        return pb_sint32(f, &v->offset_ms);
    case 2:
        return pb_uint32(f, &v->lane);
    case 3:
        return pb_float(f, &v->speed_kmh);
    case 4:
        return pb_float(f, &v->length_m);
    case 5:
        return pb_enum(f, &v->vehicle_class);
    case 6:
        return pb_string(a, f, &v->sensor_id);
    }
    return 0;
}

static int body_health_field(struct wire_arena *a, const struct pb_field *f, void *msg)
{
    Citygate__V1__Health *h = msg;

    switch (f->number) {
    case 1:
        return pb_uint32(f, &h->battery_mv);
    case 2:
        return pb_sint32(f, &h->rssi_dbm);
    case 3:
        return pb_uint64(f, &h->uptime_s);
    case 4:
        return pb_float(f, &h->cpu_temp_c);
    case 5:
        return pb_string(a, f, &h->firmware_version);
    case 6:
        return pb_uint64(f, &h->free_storage_bytes);
    case 7:
        return pb_uint32(f, &h->backlog_frames);
    case 8:
        return pb_uint64(f, &h->backlog_dropped);
    }
    return 0;
}

/* Decodes one field f into msg, a message of the kind the function is for. */
typedef int (*body_field_fn)(struct wire_arena *a, const struct pb_field *f, void *msg);

/* Decodes every field of len bytes at p into msg with field; skips unknown ones. */
static int body_fields(struct wire_arena *a, const uint8_t *p, size_t len, body_field_fn field,
                       void *msg)
{
    struct pb_reader rd = {p, p + len};
    struct pb_field f;
    int more, rc = 0;

    while (rc == 0 && (more = pb_next(&rd, &f)) > 0)
        rc = field(a, &f, msg);
    return rc ? rc : more < 0 ? -WIRE_EMALFORMED : 0;
}

/*
 * Decodes the LEN field m as a message of type desc into *msg, which it
 * allocates when NULL and starts from the type's defaults.
 */
static int body_message(struct wire_arena *a, const struct pb_field *m,
                        const ProtobufCMessageDescriptor *desc, body_field_fn field, void **msg)
{
    if (m->wire_type != PB_LEN)
        return -WIRE_EMALFORMED;
    if (!*msg && !(*msg = body_alloc(a, desc->sizeof_message)))
        return -WIRE_ETOO_COMPLEX;
    protobuf_c_message_init(desc, *msg);
    return body_fields(a, m->data, m->len, field, *msg);
}

/* A second Health replaces the first but for a firmware_version it lacks, as in protobuf-c. */
static int body_frame_health(struct wire_arena *a, const struct pb_field *m,
                             Citygate__V1__Frame *fr)
{
    void *h = fr->health;
    char *earlier = h ? fr->health->firmware_version : (char *)protobuf_c_empty_string;
    int rc = body_message(a, m, &citygate__v1__health__descriptor, body_health_field, &h);
    if (rc == 0) {
        fr->health = h;
        if (fr->health->firmware_version == protobuf_c_empty_string)
            fr->health->firmware_version = earlier;
    }
    return rc;
}

static int body_frame_field(struct wire_arena *a, const struct pb_field *f, void *msg)
{
    Citygate__V1__Frame *fr = msg;
    void *elem = NULL;
    int rc;

    switch (f->number) {
    case 1:
        return pb_string(a, f, &fr->device_id);
    case 2:
        return pb_string(a, f, &fr->site_id);
    case 3:
        return pb_uint64(f, &fr->boot_id);
    case 4:
        return pb_uint64(f, &fr->seq);
    case 5:
        return pb_uint64(f, &fr->timestamp_ms);
    case 6:
        return pb_bool(f, &fr->backlog);
    case 7:
        return pb_uint32(f, &fr->interval_ms);
    case 8:
        rc = body_message(a, f, &citygate__v1__reading__descriptor, body_reading_field, &elem);
        if (rc == 0)
            fr->readings[fr->n_readings++] = elem;
        return rc;
    case 9:
        rc = body_message(a, f, &citygate__v1__vehicle__descriptor, body_vehicle_field, &elem);
        if (rc == 0)
            fr->vehicles[fr->n_vehicles++] = elem;
        return rc;
    case 10:
        return body_frame_health(a, f, fr);
    }
    return 0;
}

/*
 * Sizes the readings and vehicles arrays of fr: a first pass over the body
 * counts them, so that each array is one allocation of its exact size.
 */
static int body_frame_arrays(struct wire_arena *a, const uint8_t *body, size_t len,
                             Citygate__V1__Frame *fr)
{
    struct pb_reader rd = {body, body + len};
    struct pb_field f;
    size_t n_readings = 0, n_vehicles = 0;
    int more;

    while ((more = pb_next(&rd, &f)) > 0) {
        n_readings += f.number == 8;
        n_vehicles += f.number == 9;
    }
    if (more < 0)
        return -WIRE_EMALFORMED;
    if (n_readings && !(fr->readings = body_alloc(a, n_readings * sizeof *fr->readings)))
        return -WIRE_ETOO_COMPLEX;
    if (n_vehicles && !(fr->vehicles = body_alloc(a, n_vehicles * sizeof *fr->vehicles)))
        return -WIRE_ETOO_COMPLEX;
    return 0;
}

int wire_body_decode(struct wire_arena *a, const uint8_t *body, size_t len,
                     Citygate__V1__Frame **out)
{
    Citygate__V1__Frame *fr = body_alloc(a, sizeof *fr);
    int rc;

    if (!fr)
        return -WIRE_ETOO_COMPLEX;
    citygate__v1__frame__init(fr);
    rc = body_frame_arrays(a, body, len, fr);
    if (rc == 0)
        rc = body_fields(a, body, len, body_frame_field, fr);
    if (rc != 0)
        return rc;
    *out = fr;
    return 0;
}
