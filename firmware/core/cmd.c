/*
 * cmd.c -- commands to the node and the messages it publishes about itself.
 *
 * Commands arrive on city/v1/<site>/<node>/cmd as signed Command messages
 * (schemas/control.proto in the frame envelope, docs/data-model.md "Signed
 * status and commands"). The node obeys one only when it is signed with its
 * own device key, names its device and its current boot, and carries a
 * counter above every counter it obeyed in this boot: without the key a
 * command cannot be forged, and a captured one cannot be replayed, neither
 * in this boot nor in a later one. The decode draws from a fixed arena on the
 * stack, which fits a microcontroller.
 *
 * The birth and the death are signed Status messages; the death is the MQTT
 * will, fixed at connect, and speaks for the boot it was made in. Replies are
 * JSON written with snprintf; every string in them is checked against
 * [A-Za-z0-9._-] (node__valid_name) first, so nothing needs escaping. The
 * formats are documented in docs/firmware.md.
 */
#include "node_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

static int fail(char *diag, size_t cap, const char *why)
{
    snprintf(diag, cap, "%s", why);
    return -NODE_EINVAL;
}

/* The key lookup of a command decode: only the node's own device has a key. */
static int own_key(void *ctx, const char *device_id, struct wire_key *key)
{
    const struct node_config *cfg = ctx;
    if (strcmp(device_id, cfg->device_id) != 0)
        return -1;
    key->bytes = cfg->key;
    key->len = cfg->key_len;
    key->hmac = NULL;
    return 0;
}

int node__cmd_parse(const struct node_config *cfg, uint64_t boot_id, uint64_t *last_counter,
                    const uint8_t *payload, size_t len, void *arena, struct node__cmd *out,
                    char *diag, size_t cap)
{
    struct wire_decoder d = {NODE_MAX_CMD_BYTES, own_key, (void *)cfg, {NULL, 0, 0}};
    struct wire_diag wd;
    Citygate__V1__Command *c = NULL;

    memset(out, 0, sizeof *out);
    /* Room for the decoded command: its strings and bytes are at most the message itself. */
    wire_arena_init(&d.arena, arena, NODE__CMD_ARENA_BYTES);
    if (wire_command_decode(&d, payload, len, &c, &wd) != 0) {
        snprintf(diag, cap, "not a command signed for this node: %s (%s)", wire_strerror(wd.err),
                 wd.detail);
        return -NODE_EINVAL;
    }
    if (c->boot_id != boot_id)
        return fail(diag, cap, "a command for another boot");
    if (c->counter <= *last_counter)
        return fail(diag, cap, "a replayed command: counter not above the last one");
    *last_counter = c->counter;
    out->authentic = 1;

    size_t name_len = strlen(c->cmd);
    if (name_len >= sizeof out->name || !node__valid_name(c->cmd, sizeof out->name - 1, NULL))
        return fail(diag, cap, "'cmd' must be a short name");
    memcpy(out->name, c->cmd, name_len + 1);
    if (c->id && *c->id) {
        if (!node__valid_name(c->id, NODE_MAX_ID, NULL))
            return fail(diag, cap, "'id' must be [A-Za-z0-9._-]{1,64}");
        memcpy(out->id, c->id, strlen(c->id) + 1);
    }
    if (strcmp(out->name, "rebirth") == 0)
        out->kind = NODE__CMD_REBIRTH;
    else if (strcmp(out->name, "set_interval") == 0)
        out->kind = NODE__CMD_SET_INTERVAL;
    else if (strcmp(out->name, "reboot") == 0)
        out->kind = NODE__CMD_REBOOT;
    else if (strcmp(out->name, "ota") == 0)
        out->kind = NODE__CMD_OTA;
    else if (strcmp(out->name, "ota_block") == 0)
        out->kind = NODE__CMD_OTA_BLOCK;
    else if (strcmp(out->name, "ota_cancel") == 0)
        out->kind = NODE__CMD_OTA_CANCEL;
    else
        return fail(diag, cap, "unknown command");
    if (out->kind == NODE__CMD_SET_INTERVAL &&
        (c->interval_ms < NODE_MIN_INTERVAL_MS || c->interval_ms > NODE_MAX_INTERVAL_MS))
        return fail(diag, cap, "'interval_ms' must be an integer in 100 .. 86400000");
    out->interval_ms = c->interval_ms;
    out->manifest = c->manifest;
    out->block = c->block;
    out->transfer_id = c->transfer_id ? c->transfer_id : "";
    return 0;
}

const char *node__update_manifest(const Citygate__V1__UpdateManifest *pb,
                                  struct node_update_manifest *m)
{
    memset(m, 0, sizeof *m);
    if (!pb)
        return "an ota command needs a manifest";
    if (!pb->transfer_id || !node__valid_name(pb->transfer_id, NODE_UPDATE_ID_BYTES - 1, NULL))
        return "the manifest's transfer_id must be [A-Za-z0-9._-]{1,64}";
    if (pb->sha256.len != NODE_SHA256_BYTES || pb->image_hash.len != NODE_SHA256_BYTES)
        return "the manifest's sha256 and image_hash must be 32 bytes";
    if (pb->signature.len != NODE_ED25519_SIG_BYTES)
        return "the manifest's signature must be 64 bytes";
    if (!pb->version || node_image_version_parse(pb->version, &m->version) != 0)
        return "the manifest's version must be major.minor.revision+build";
    memcpy(m->transfer_id, pb->transfer_id, strlen(pb->transfer_id) + 1);
    m->size = pb->size;
    memcpy(m->sha256, pb->sha256.data, NODE_SHA256_BYTES);
    memcpy(m->image_hash, pb->image_hash.data, NODE_SHA256_BYTES);
    memcpy(m->signature, pb->signature.data, NODE_ED25519_SIG_BYTES);
    m->security_counter = pb->security_counter;
    return NULL;
}

int node__update_encode(const struct node__update_msg *m, uint8_t *buf, size_t cap)
{
    const struct node_update *u = m->u;
    Citygate__V1__UpdateReport r = CITYGATE__V1__UPDATE_REPORT__INIT;
    char version[48] = "", running[48];
    size_t len = 0;

    r.device_id = (char *)m->cfg->device_id;
    r.site_id = (char *)m->cfg->site_id;
    r.boot_id = m->boot_id;
    r.time_ms = m->time_ms;
    r.state = (Citygate__V1__UpdateState)u->state;
    node_image_version_format(&u->boot.running, running, sizeof running);
    r.running_version = running;
    if (u->state != NODE_UPDATE_IDLE) {
        r.transfer_id = (char *)u->rec.m.transfer_id;
        r.size = u->rec.m.size;
        r.held_bytes = node_update_held_bytes(u);
        node_image_version_format(&u->rec.m.version, version, sizeof version);
        r.version = version;
        if (u->state == NODE_UPDATE_FAILED || u->state == NODE_UPDATE_REVERTED)
            r.reason = (char *)u->rec.reason;
    }
    r.refused = u->refused;
    r.duplicates = u->duplicates;
    if (m->a) {
        if (m->a->refusal)
            r.reason = (char *)m->a->refusal;
        r.ack = m->a->ack;
        r.offset = m->a->offset;
        if (m->a->bitmap && u->state == NODE_UPDATE_DOWNLOADING) {
            r.bitmap.data = (uint8_t *)u->bitmap;
            r.bitmap.len = (u->n_blocks + 7) / 8;
        }
    }
    if (wire_update_encode(&r, m->cfg->key, m->cfg->key_len, buf, cap, &len) != 0)
        return -NODE_ETOOBIG;
    return (int)len;
}

/* Appends to buf like snprintf; *at advances; a truncation sets *at past cap. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
append(char *buf, size_t cap, size_t *at, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (*at >= cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *at, cap - *at, fmt, ap);
    va_end(ap);
    *at = n < 0 ? cap : *at + (size_t)n;
}

int node__status_encode(const struct node__status *s, int alive, uint8_t *buf, size_t cap)
{
    const struct node_config *cfg = s->cfg;
    Citygate__V1__SensorInfo info[NODE_MAX_SENSORS], *infos[NODE_MAX_SENSORS];
    Citygate__V1__Status st = CITYGATE__V1__STATUS__INIT;
    size_t len = 0;

    st.device_id = (char *)cfg->device_id;
    st.site_id = (char *)cfg->site_id;
    st.boot_id = s->boot_id;
    st.time_ms = s->time_ms;
    st.state = alive ? CITYGATE__V1__NODE_STATE__ONLINE : CITYGATE__V1__NODE_STATE__OFFLINE;
    if (alive) {
        st.firmware_version = (char *)cfg->firmware_version;
        st.interval_ms = s->interval_ms;
        st.backlog_frames = s->backlog_frames;
        for (size_t i = 0; i < cfg->n_sensors && i < NODE_MAX_SENSORS; i++) {
            citygate__v1__sensor_info__init(&info[i]);
            info[i].name = (char *)cfg->sensors[i].name;
            info[i].driver = (char *)cfg->sensors[i].driver;
            infos[i] = &info[i];
            st.n_sensors = i + 1;
        }
        st.sensors = infos;
    }
    if (wire_status_encode(&st, cfg->key, cfg->key_len, buf, cap, &len) != 0)
        return -NODE_ETOOBIG;
    return (int)len;
}

int node__reply_json(const struct node__cmd *c, const char *error, char *buf, size_t cap)
{
    size_t at = 0;
    append(buf, cap, &at, "{\"cmd\":\"%s\",\"id\":\"%s\",\"ok\":%s", c->name, c->id,
           error ? "false" : "true");
    if (error)
        append(buf, cap, &at, ",\"error\":\"%s\"", error);
    append(buf, cap, &at, "}");
    return at < cap ? (int)at : -NODE_ETOOBIG;
}
