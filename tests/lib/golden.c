/*
 * golden.c -- golden vector reader: a strict line parser plus a small
 * descriptor-driven setter that turns "field=value" text into protobuf-c
 * messages. Test code only; every malformed line is an error with its number.
 */
#include "golden.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *golden_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

long golden_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

void golden_print_hex(void *f, const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", bytes[i]);
    fputc('\n', f);
}

static int golden_parse_int(const char *v, long long lo, unsigned long long hi,
                            unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*v == '-') {
        long long x = strtoll(v, &end, 10);
        if (errno || *end || x < lo)
            return -1;
        *out = (unsigned long long)x;
        return 0;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* Sets one scalar field of m from text. Returns 0 or -1. */
static int golden_set_scalar(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd, const char *v)
{
    void *p = (char *)m + fd->offset;
    unsigned long long u;
    char *end;

    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *s = strdup(v);
        if (!s)
            return -1;
        *(char **)p = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false"))
            return -1;
        *(protobuf_c_boolean *)p = strcmp(v, "true") == 0;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
            (const ProtobufCEnumDescriptor *)fd->descriptor, v);
        if (!ev)
            return -1;
        *(int *)p = ev->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT32:
        if (golden_parse_int(v, 0, UINT32_MAX, &u))
            return -1;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_INT32:
        if (golden_parse_int(v, INT32_MIN, INT32_MAX, &u))
            return -1;
        *(int32_t *)p = (int32_t)(long long)u;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
        if (golden_parse_int(v, 0, UINT64_MAX, &u))
            return -1;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        errno = 0;
        double d = strtod(v, &end);
        if (errno || *end || end == v)
            return -1;
        if (fd->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)p = (float)d;
        else
            *(double *)p = d;
        return 0;
    }
    default:
        return -1;
    }
}

/* Sets "a=1 b=x" pairs, separated by blanks, on m. Returns 0 or -1. */
static int golden_set_pairs(ProtobufCMessage *m, char *text)
{
    char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *tok = p;
        p += strcspn(p, " \t");
        if (*p)
            *p++ = '\0';
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, tok);
        if (!fd || fd->type == PROTOBUF_C_TYPE_MESSAGE || golden_set_scalar(m, fd, eq + 1))
            return -1;
    }
    return 0;
}

static ProtobufCMessage *golden_new_message(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (m)
        protobuf_c_message_init(d, m);
    return m;
}

/* Sets field name of m from a line's value: a scalar, or pairs for a message. */
static int golden_set_field(ProtobufCMessage *m, const char *name, char *value)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (!fd)
        return -1;
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return golden_set_scalar(m, fd, value);

    ProtobufCMessage *sub = golden_new_message(fd->descriptor);
    if (!sub)
        return -1;
    if (golden_set_pairs(sub, value)) {
        protobuf_c_message_free_unpacked(sub, NULL);
        return -1;
    }
    void **slot = (void **)((char *)m + fd->offset);
    if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
        if (*slot)
            protobuf_c_message_free_unpacked(*slot, NULL);
        *slot = sub;
        return 0;
    }
    size_t *count = (size_t *)((char *)m + fd->quantifier_offset);
    void **grown = realloc(*slot, (*count + 1) * sizeof *grown);
    if (!grown) {
        protobuf_c_message_free_unpacked(sub, NULL);
        return -1;
    }
    grown[(*count)++] = sub;
    *slot = grown;
    return 0;
}

static int golden_take_line(struct golden *g, const char *key, char *value)
{
    if (strcmp(key, "key") == 0) {
        long n = golden_unhex(value, g->key, sizeof g->key);
        if (n < 0)
            return -1;
        g->key_len = (size_t)n;
        return 0;
    }
    if (strcmp(key, "hex") == 0) {
        size_t cap = strlen(value) / 2 + 1;
        g->bytes = malloc(cap);
        long n = g->bytes ? golden_unhex(value, g->bytes, cap) : -1;
        if (n < 0)
            return -1;
        g->len = (size_t)n;
        return 0;
    }
    if (strcmp(key, "max_bytes") == 0) {
        unsigned long long cap;
        if (golden_parse_int(value, 0, WIRE_DEFAULT_MAX_FRAME_BYTES, &cap))
            return -1;
        g->max_bytes = (size_t)cap;
        return 0;
    }
    if (strcmp(key, "expect") == 0) {
        if (strlen(value) >= sizeof g->expect)
            return -1;
        memcpy(g->expect, value, strlen(value) + 1);
        return 0;
    }
    if (!g->frame) {
        g->frame = (Citygate__V1__Frame *)golden_new_message(&citygate__v1__frame__descriptor);
        if (!g->frame)
            return -1;
    }
    return golden_set_field(&g->frame->base, key, value);
}

int golden_load(const char *path, struct golden **out, size_t *n, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    struct golden *v = NULL;
    size_t count = 0;
    int line_no = 0, rc = -1;
    static char line[1 << 16];

    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        line_no++;
        char *s = golden_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            struct golden *grown = realloc(v, (count + 1) * sizeof *v);
            if (!close || !grown || (size_t)(close - s - 1) >= sizeof v->name) {
                v = grown ? grown : v;
                goto bad;
            }
            v = grown;
            memset(&v[count], 0, sizeof v[count]);
            memcpy(v[count].name, s + 1, (size_t)(close - s - 1));
            count++;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq || count == 0)
            goto bad;
        *eq = '\0';
        if (golden_take_line(&v[count - 1], golden_trim(s), golden_trim(eq + 1)))
            goto bad;
    }
    *out = v;
    *n = count;
    v = NULL;
    rc = 0;
    goto out;
bad:
    snprintf(err, err_len, "%s:%d: cannot read this line", path, line_no);
out:
    if (v)
        golden_free(v, count);
    fclose(f);
    return rc;
}

void golden_free(struct golden *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].bytes);
        if (v[i].frame)
            protobuf_c_message_free_unpacked(&v[i].frame->base, NULL);
    }
    free(v);
}
