/*
 * provision.c -- the node's provisioning file.
 *
 * INI, parsed by libinih, validated against one table of keys with types,
 * defaults, ranges and help text (the table is also what --help prints).
 * Unknown keys and sections are errors with their line. Durations and sizes
 * have the grammar of every configuration file of the project (units.h:
 * 500ms, 30s, 5m, 1h, 7d; 4MiB, 512KiB, a bare number is bytes). Keys of a [sensor NAME] section
 * other than "driver" are the driver's parameters, passed through verbatim:
 * the driver validates them when it opens. Nothing here logs.
 *
 * libinih reports the line of the first error but not the line of each key
 * to the handler, so the handler counts nothing itself: it stops at the
 * first error (returns 0) and ini_parse() gives the line.
 */
#include "provision.h"
#include "units.h"
#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "node.h"

enum ktype { K_STR, K_HEX, K_MS, K_BYTES, K_UINT };

struct key_spec {
    const char *name;
    enum ktype type;
    size_t off; /* into struct prov */
    uint64_t min, max;
    const char *def; /* NULL: required */
    const char *help;
};

#define S(f) offsetof(struct prov, f)

static const struct key_spec keys[] = {
    {"id", K_STR, S(id), 1, 64, NULL, "device id, [A-Za-z0-9._-]{1,64}; also the MQTT client id"},
    {"site", K_STR, S(site), 1, 64, NULL, "site id, [A-Za-z0-9._-]{1,64}"},
    {"key", K_HEX, S(key), 16, 64, NULL, "per-device HMAC key, 32 to 128 hex digits"},
    {"broker", K_STR, S(broker), 1, PROV_MAX_STR - 1, NULL,
     "broker URL: tcp://host:port, ssl://host:port or mqtts://host:port"},
    {"username", K_STR, S(username), 0, PROV_MAX_STR - 1, "", "MQTT user name"},
    {"password", K_STR, S(password), 0, PROV_MAX_STR - 1, "", "MQTT password"},
    {"ca_file", K_STR, S(ca_file), 0, PROV_MAX_STR - 1, "", "TLS: trusted CA file (turns TLS on)"},
    {"cert_file", K_STR, S(cert_file), 0, PROV_MAX_STR - 1, "", "TLS: client certificate"},
    {"key_file", K_STR, S(key_file), 0, PROV_MAX_STR - 1, "", "TLS: client private key"},
    {"interval_ms", K_MS, S(interval_ms), NODE_MIN_INTERVAL_MS, NODE_MAX_INTERVAL_MS, "1s",
     "sampling and publish period"},
    {"ring_path", K_STR, S(ring_path), 1, PROV_MAX_STR - 1, "citynode.ring",
     "store-and-forward ring file"},
    {"ring_bytes", K_BYTES, S(ring_bytes), 64 * 1024, 1ull << 32, "4MiB",
     "size of the ring file (fixed once created)"},
    {"sync_interval_ms", K_MS, S(sync_interval_ms), 0, 3600000, "1s",
     "how often the ring is fsynced; what a power loss may cost (0: every frame)"},
    {"drain_per_s", K_UINT, S(drain_per_s), 1, 100000, "20",
     "backlog frames per second after a reconnect"},
    {"drain_burst", K_UINT, S(drain_burst), 1, 1024, "10", "backlog frames sent at once at most"},
    {"max_inflight", K_UINT, S(max_inflight), 4, 1024, "32", "unconfirmed QoS 1 publishes at once"},
    {"max_frame_bytes", K_BYTES, S(max_frame_bytes), 512, 65536, "16KiB",
     "cap of one encoded frame"},
    {"reconnect_min_ms", K_MS, S(reconnect_min_ms), 10, 3600000, "500ms",
     "first reconnect delay (doubles, +-20 % jitter)"},
    {"reconnect_max_ms", K_MS, S(reconnect_max_ms), 10, 3600000, "30s", "reconnect delay cap"},
    {"keepalive_s", K_UINT, S(keepalive_s), 5, 3600, "30", "MQTT keepalive in seconds"},
    {"confirm_frames", K_UINT, S(confirm_frames), 1, 100000, "3",
     "under citynode-boot: live frames the broker confirmed before a trial image confirms itself"},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

struct parse {
    struct prov *p;
    struct prov_diag *diag;
    unsigned char seen[N_KEYS];
    char section[80];
    FILE *f;
    int line, header_line; /* lines read, and the last [section] line among them */
};

/* ini_reader over the file that counts lines, so a sensor knows its section's line. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *ps = stream;
    char *r = fgets(str, num, ps->f);
    if (r) {
        ps->line++;
        if (str[strspn(str, " \t")] == '[')
            ps->header_line = ps->line;
    }
    return r;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(struct parse *ps, const char *fmt, ...)
{
    va_list ap;
    if (ps->diag->text[0])
        return 0; /* inih goes on after an error; the first one is the one reported */
    va_start(ap, fmt);
    vsnprintf(ps->diag->text, sizeof ps->diag->text, fmt, ap);
    va_end(ap);
    return 0;
}

static int set_key(struct parse *ps, const struct key_spec *k, const char *v)
{
    char *field = (char *)ps->p + k->off;
    uint64_t n = 0;
    size_t len = strlen(v);
    switch (k->type) {
    case K_STR:
        if (len < k->min || len > k->max)
            return fail(ps, "%s: must be %llu to %llu characters long", k->name,
                        (unsigned long long)k->min, (unsigned long long)k->max);
        if ((k->off == S(id) || k->off == S(site)) && !node_valid_id(v))
            return fail(ps, "%s: \"%s\" is not [A-Za-z0-9._-]{1,64}", k->name, v);
        memcpy(field, v, len + 1);
        return 1;
    case K_HEX: {
        int key_len = wire_key_from_hex(v, ps->p->key);
        if (key_len < 0 || (size_t)key_len < k->min || (size_t)key_len > k->max)
            return fail(ps, "%s: must be an even number of hex digits, 32 to 128", k->name);
        ps->p->key_len = (size_t)key_len;
        return 1;
    }
    case K_MS:
        if (gw_parse_duration_ms(v, &n) != 0)
            return fail(ps, "%s: \"%s\" is not a duration (500ms, 30s, 5m, 1h, 7d)", k->name, v);
        break;
    case K_BYTES:
        if (gw_parse_bytes(v, &n) != 0)
            return fail(ps, "%s: \"%s\" is not a size (e.g. 4096, 512KiB, 4MiB)", k->name, v);
        break;
    case K_UINT:
        if (gw_parse_uint(v, &n) != 0)
            return fail(ps, "%s: \"%s\" is not a whole number", k->name, v);
        break;
    }
    if (n < k->min || n > k->max) {
        return fail(ps, "%s: outside %llu .. %llu", k->name, (unsigned long long)k->min,
                    (unsigned long long)k->max);
    }
    memcpy(field, &n, sizeof n);
    return 1;
}

static int sensor_value(struct parse *ps, const char *name, const char *value)
{
    struct prov *p = ps->p;
    const char *sname = ps->section + strlen("sensor ");
    struct prov_sensor *s = NULL;
    for (size_t i = 0; i < p->n_sensors && !s; i++)
        if (strcmp(p->sensors[i].name, sname) == 0)
            s = &p->sensors[i];
    if (!s) {
        if (p->n_sensors == PROV_MAX_SENSORS)
            return fail(ps, "more than %d sensors", PROV_MAX_SENSORS);
        if (strlen(sname) > 64 || !node_valid_id(sname))
            return fail(ps, "sensor name \"%s\" is not [A-Za-z0-9._-]{1,64}", sname);
        s = &p->sensors[p->n_sensors++];
        snprintf(s->name, sizeof s->name, "%s", sname);
        s->line = ps->header_line;
    }
    if (strcmp(name, "driver") == 0) {
        if (s->driver[0])
            return fail(ps, "sensor %s: driver given twice", sname);
        if (strlen(value) > 64 || !node_valid_id(value))
            return fail(ps, "sensor %s: driver \"%s\" is not a driver name", sname, value);
        snprintf(s->driver, sizeof s->driver, "%s", value);
        return 1;
    }
    if (s->n_params == PROV_MAX_PARAMS)
        return fail(ps, "sensor %s: more than %d parameters", sname, PROV_MAX_PARAMS);
    if (strlen(name) >= sizeof s->keys[0] || strlen(value) >= sizeof s->values[0])
        return fail(ps, "sensor %s: parameter %s is too long", sname, name);
    snprintf(s->keys[s->n_params], sizeof s->keys[0], "%s", name);
    snprintf(s->values[s->n_params], sizeof s->values[0], "%s", value);
    s->n_params++;
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *ps = user;
    snprintf(ps->section, sizeof ps->section, "%s", section);
    if (strncmp(section, "sensor ", 7) == 0)
        return sensor_value(ps, name, value);
    if (strcmp(section, "node") != 0)
        return fail(ps, "unknown section [%s]", section);
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0) {
            if (ps->seen[i])
                return fail(ps, "%s given twice", name);
            ps->seen[i] = 1;
            return set_key(ps, &keys[i], value);
        }
    return fail(ps, "unknown key \"%s\" in [node]", name);
}

int prov_load(const char *path, struct prov *out, struct prov_diag *diag)
{
    static struct parse ps; /* large (the sensor table); the main thread is the only caller */
    memset(&ps, 0, sizeof ps);
    memset(out, 0, sizeof *out);
    memset(diag, 0, sizeof *diag);
    ps.p = out;
    ps.diag = diag;
    ps.f = fopen(path, "r");
    int line = ps.f ? ini_parse_stream(read_line, &ps, handler, &ps) : -1;
    if (ps.f)
        fclose(ps.f);
    if (line < 0) {
        snprintf(diag->text, sizeof diag->text, "cannot read the file");
        return -1;
    }
    if (line > 0) {
        diag->line = line;
        if (!diag->text[0])
            snprintf(diag->text, sizeof diag->text, "not a key = value line or [section]");
        return -1;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (ps.seen[i])
            continue;
        if (!keys[i].def) {
            snprintf(diag->text, sizeof diag->text, "[node] %s is required: %s", keys[i].name,
                     keys[i].help);
            return -1;
        }
        if (!set_key(&ps, &keys[i], keys[i].def))
            return -1;
    }
    for (size_t i = 0; i < out->n_sensors; i++) {
        struct prov_sensor *s = &out->sensors[i];
        if (!s->driver[0]) {
            snprintf(diag->text, sizeof diag->text, "[sensor %s] needs driver = ...", s->name);
            return -1;
        }
        for (size_t k = 0; k < s->n_params; k++) {
            s->params[k].key = s->keys[k];
            s->params[k].value = s->values[k];
        }
    }
    if (out->reconnect_max_ms < out->reconnect_min_ms) {
        snprintf(diag->text, sizeof diag->text, "reconnect_max_ms is below reconnect_min_ms");
        return -1;
    }
    return 0;
}

void prov_print_keys(FILE *f)
{
    fprintf(f, "[node] keys (default in brackets, * required):\n");
    for (size_t i = 0; i < N_KEYS; i++)
        fprintf(f, "  %-17s %s%s%s %s\n", keys[i].name, keys[i].def ? "[" : "*",
                keys[i].def ? keys[i].def : "", keys[i].def ? "]" : "", keys[i].help);
    fprintf(f, "[sensor NAME]: driver = NAME, then the driver's own parameters\n");
}
