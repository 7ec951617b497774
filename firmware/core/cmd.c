/*
 * cmd.c -- commands to the node and the JSON it publishes about itself.
 *
 * Commands arrive on city/v1/<site>/<node>/cmd as small flat JSON objects
 * ({"cmd":"set_interval","interval_ms":5000,"id":"op-17"}) and are parsed
 * with jsmn, which needs no allocation and fits a microcontroller: a fixed
 * token array, a size cap, and bounded numeric parsing. The birth, death and
 * reply messages are written with snprintf; every string in them is checked
 * against [A-Za-z0-9._-] (node__valid_name) when configured or parsed, so
 * nothing needs escaping. The formats are documented in docs/firmware.md.
 */
#include "node_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#include <jsmn.h>

#define MAX_TOKENS 32

/* Copies token t of js into buf (cap bytes, NUL-terminated); 0, or -1 when it does not fit. */
static int tok_copy(const char *js, const jsmntok_t *t, char *buf, size_t cap)
{
    size_t n = (size_t)(t->end - t->start);
    if (n >= cap)
        return -1;
    memcpy(buf, js + t->start, n);
    buf[n] = '\0';
    return 0;
}

static int tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = (size_t)(t->end - t->start);
    return t->type == JSMN_STRING && strlen(s) == n && memcmp(js + t->start, s, n) == 0;
}

static int fail(char *diag, size_t cap, const char *why)
{
    snprintf(diag, cap, "%s", why);
    return -NODE_EINVAL;
}

/* Parses a decimal integer token into [min, max]. */
static int tok_u32(const char *js, const jsmntok_t *t, uint32_t min, uint32_t max, uint32_t *out)
{
    char buf[24];
    char *end = NULL;
    if (t->type != JSMN_PRIMITIVE || tok_copy(js, t, buf, sizeof buf) != 0 || buf[0] < '0' ||
        buf[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int node__cmd_parse(const uint8_t *payload, size_t len, struct node__cmd *out, char *diag,
                    size_t cap)
{
    const char *js = (const char *)payload;
    jsmntok_t t[MAX_TOKENS];
    jsmn_parser p;
    int have_interval = 0;

    memset(out, 0, sizeof *out);
    if (len > NODE_MAX_CMD_BYTES)
        return fail(diag, cap, "command longer than 1024 bytes");
    jsmn_init(&p);
    int n = jsmn_parse(&p, js, len, t, MAX_TOKENS);
    if (n < 1 || t[0].type != JSMN_OBJECT)
        return fail(diag, cap, "not a JSON object");
    for (int i = 1, k = 0; k < t[0].size; k++, i += 2) {
        if (i + 1 >= n || t[i].type != JSMN_STRING ||
            (t[i + 1].type != JSMN_STRING && t[i + 1].type != JSMN_PRIMITIVE))
            return fail(diag, cap, "only a flat object of strings and numbers is accepted");
        const jsmntok_t *key = &t[i], *val = &t[i + 1];
        if (tok_is(js, key, "cmd")) {
            if (val->type != JSMN_STRING || tok_copy(js, val, out->name, sizeof out->name) != 0 ||
                !node__valid_name(out->name, sizeof out->name - 1, NULL)) {
                out->name[0] = '\0';
                return fail(diag, cap, "'cmd' must be a short name");
            }
        } else if (tok_is(js, key, "id")) {
            if (val->type != JSMN_STRING || tok_copy(js, val, out->id, sizeof out->id) != 0 ||
                !node__valid_name(out->id, NODE_MAX_ID, NULL)) {
                out->id[0] = '\0';
                return fail(diag, cap, "'id' must be [A-Za-z0-9._-]{1,64}");
            }
        } else if (tok_is(js, key, "interval_ms")) {
            if (tok_u32(js, val, NODE_MIN_INTERVAL_MS, NODE_MAX_INTERVAL_MS, &out->interval_ms))
                return fail(diag, cap, "'interval_ms' must be an integer in 100 .. 86400000");
            have_interval = 1;
        }
        /* Other keys are ignored, so that newer operators' tools can add parameters. */
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
        return fail(diag, cap, out->name[0] ? "unknown command" : "'cmd' is missing");
    if (out->kind == NODE__CMD_SET_INTERVAL && !have_interval)
        return fail(diag, cap, "set_interval needs 'interval_ms'");
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

int node__status_json(const struct node__status *s, int alive, char *buf, size_t cap)
{
    const struct node_config *cfg = s->cfg;
    size_t at = 0;
    append(buf, cap, &at,
           "{\"state\":\"%s\",\"node\":\"%s\",\"site\":\"%s\",\"boot_id\":\"%016" PRIx64 "\"",
           alive ? "online" : "offline", cfg->device_id, cfg->site_id, s->boot_id);
    if (alive) {
        append(buf, cap, &at,
               ",\"firmware\":\"%s\",\"interval_ms\":%" PRIu32 ",\"time_ms\":%" PRIu64
               ",\"backlog_frames\":%" PRIu64 ",\"sensors\":[",
               cfg->firmware_version, s->interval_ms, s->time_ms, s->backlog_frames);
        for (size_t i = 0; i < cfg->n_sensors; i++)
            append(buf, cap, &at, "%s{\"name\":\"%s\",\"driver\":\"%s\"}", i ? "," : "",
                   cfg->sensors[i].name, cfg->sensors[i].driver);
        append(buf, cap, &at, "]");
    }
    append(buf, cap, &at, "}");
    return at < cap ? (int)at : -NODE_ETOOBIG;
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
