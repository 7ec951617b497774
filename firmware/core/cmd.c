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
                    const uint8_t *payload, size_t len, struct node__cmd *out, char *diag,
                    size_t cap)
{
    /* Room for the decoded command: its strings are at most the message itself. */
    _Alignas(max_align_t) unsigned char arena[2 * NODE_MAX_CMD_BYTES];
    struct wire_decoder d = {NODE_MAX_CMD_BYTES, own_key, (void *)cfg, {NULL, 0, 0}};
    struct wire_diag wd;
    Citygate__V1__Command *c = NULL;

    memset(out, 0, sizeof *out);
    wire_arena_init(&d.arena, arena, sizeof arena);
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
    else
        return fail(diag, cap, "unknown command");
    if (out->kind == NODE__CMD_SET_INTERVAL &&
        (c->interval_ms < NODE_MIN_INTERVAL_MS || c->interval_ms > NODE_MAX_INTERVAL_MS))
        return fail(diag, cap, "'interval_ms' must be an integer in 100 .. 86400000");
    out->interval_ms = c->interval_ms;
    return 0;
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
