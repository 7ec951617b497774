/*
 * wire_control.c -- the node's status messages, the commands sent to it and
 * its update reports, in the frame envelope (wire.c) with their own magic.
 *
 * Both are rare and small, so their bodies are parsed by protobuf-c's
 * generic unpacker, with the decoder's arena as its allocator: nothing from
 * the wire reaches the heap, and the body is parsed only once its tag has
 * matched, exactly as for frames.
 */
#include "wire_int.h"

#include <string.h>

const char *wire_kind_name(enum wire_kind kind)
{
    switch (kind) {
    case WIRE_KIND_FRAME:
        return "frame";
    case WIRE_KIND_STATUS:
        return "status";
    case WIRE_KIND_COMMAND:
        return "command";
    case WIRE_KIND_UPDATE:
        return "update report";
    }
    return "unknown";
}

static void *control_alloc(void *ctx, size_t size)
{
    return wire__arena_alloc(ctx, size);
}

/* The arena never frees one allocation: it is reset by the next decode. */
static void control_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

/*
 * Opens the envelope of kind and unpacks its body as desc describes into
 * d->arena. Returns 0 and sets *out, or a negative enum wire_err with diag.
 */
static int control_decode(struct wire_decoder *d, enum wire_kind kind,
                          const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                          struct wire__opened *m, ProtobufCMessage **out, struct wire_diag *diag)
{
    if (len > WIRE_MAX_CONTROL_BYTES)
        return wire__fail(diag, WIRE_ETOO_LARGE, "%zu bytes, cap %d", len, WIRE_MAX_CONTROL_BYTES);
    int rc = wire__open(d, kind, buf, len, m, diag);
    if (rc != 0)
        return rc;
    d->arena.used = 0;
    ProtobufCAllocator alloc = {control_alloc, control_free, &d->arena};
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &alloc, m->body_len, m->body);
    if (!msg)
        return wire__fail(diag, WIRE_EMALFORMED, "%s: body is not a %s", m->device_id,
                          desc->short_name);
    *out = msg;
    return 0;
}

/* Checks the device id the body names against the envelope's. */
static int control_device(const struct wire__opened *m, const char *body_id, struct wire_diag *diag)
{
    if (!body_id || !*body_id)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "device_id");
    if (strcmp(body_id, m->device_id) != 0)
        return wire__fail(diag, WIRE_EDEVICE_MISMATCH, "envelope %s, body %.64s", m->device_id,
                          body_id);
    return 0;
}

int wire_status_decode(struct wire_decoder *d, const uint8_t *buf, size_t len,
                       Citygate__V1__Status **out, struct wire_diag *diag)
{
    struct wire__opened m;
    ProtobufCMessage *msg = NULL;
    int rc = control_decode(d, WIRE_KIND_STATUS, &citygate__v1__status__descriptor, buf, len, &m,
                            &msg, diag);
    if (rc != 0)
        return rc;
    Citygate__V1__Status *s = (Citygate__V1__Status *)msg;
    if ((rc = control_device(&m, s->device_id, diag)) != 0)
        return rc;
    if (!s->site_id || !*s->site_id)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "site_id");
    if (s->boot_id == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "boot_id");
    if (s->state != CITYGATE__V1__NODE_STATE__ONLINE &&
        s->state != CITYGATE__V1__NODE_STATE__OFFLINE)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "state");
    *out = s;
    return 0;
}

int wire_command_decode(struct wire_decoder *d, const uint8_t *buf, size_t len,
                        Citygate__V1__Command **out, struct wire_diag *diag)
{
    struct wire__opened m;
    ProtobufCMessage *msg = NULL;
    int rc = control_decode(d, WIRE_KIND_COMMAND, &citygate__v1__command__descriptor, buf, len, &m,
                            &msg, diag);
    if (rc != 0)
        return rc;
    Citygate__V1__Command *c = (Citygate__V1__Command *)msg;
    if ((rc = control_device(&m, c->device_id, diag)) != 0)
        return rc;
    if (c->boot_id == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "boot_id");
    if (c->counter == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "counter");
    if (!c->cmd || !*c->cmd)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "cmd");
    *out = c;
    return 0;
}

int wire_update_decode(struct wire_decoder *d, const uint8_t *buf, size_t len,
                       Citygate__V1__UpdateReport **out, struct wire_diag *diag)
{
    struct wire__opened m;
    ProtobufCMessage *msg = NULL;
    int rc = control_decode(d, WIRE_KIND_UPDATE, &citygate__v1__update_report__descriptor, buf, len,
                            &m, &msg, diag);
    if (rc != 0)
        return rc;
    Citygate__V1__UpdateReport *r = (Citygate__V1__UpdateReport *)msg;
    if ((rc = control_device(&m, r->device_id, diag)) != 0)
        return rc;
    if (!r->site_id || !*r->site_id)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "site_id");
    if (r->boot_id == 0)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "boot_id");
    if (r->state == CITYGATE__V1__UPDATE_STATE__UPDATE_STATE_UNSPECIFIED)
        return wire__fail(diag, WIRE_EMISSING_FIELD, "state");
    *out = r;
    return 0;
}

/* Seals body for device_id, refusing what a reader would refuse as too large. */
static int control_encode(enum wire_kind kind, const char *device_id, const ProtobufCMessage *body,
                          const uint8_t *key, size_t key_len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    return wire__seal(kind, device_id, body, key, key_len, out,
                      cap < WIRE_MAX_CONTROL_BYTES ? cap : WIRE_MAX_CONTROL_BYTES, out_len);
}

int wire_status_encode(const Citygate__V1__Status *s, const uint8_t *key, size_t key_len,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    return control_encode(WIRE_KIND_STATUS, s->device_id, &s->base, key, key_len, out, cap,
                          out_len);
}

int wire_command_encode(const Citygate__V1__Command *c, const uint8_t *key, size_t key_len,
                        uint8_t *out, size_t cap, size_t *out_len)
{
    return control_encode(WIRE_KIND_COMMAND, c->device_id, &c->base, key, key_len, out, cap,
                          out_len);
}

int wire_update_encode(const Citygate__V1__UpdateReport *r, const uint8_t *key, size_t key_len,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    return control_encode(WIRE_KIND_UPDATE, r->device_id, &r->base, key, key_len, out, cap,
                          out_len);
}
