/*
 * lp.c -- line protocol encoding: the last step before the store.
 *
 * Why this shape: a sink batches many lines into one HTTP body with a byte
 * cap, so lines are built in place at the end of the caller's buffer and
 * committed only when complete (a line that does not fit leaves the buffer as
 * it was, and the sink flushes and retries). Escaping is exact per the line
 * protocol reference, and anything the protocol cannot carry unambiguously is
 * refused instead of being guessed at (see lp.h). Aggregates are written with
 * deterministic bytes: same aggregate, same line, so a replay or a retry
 * rewrites the same point.
 */
#include "lp.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "frame.pb-c.h"
#include "numtext.h"
#include "traffic.h"

/* What each character means to the line protocol, one bit per use. */
enum {
    ESC_MEASUREMENT = 1, /* escaped in a measurement */
    ESC_NAME = 2,        /* escaped in a tag key, tag value or field key */
    ESC_STRING = 4,      /* escaped in a string field value */
    AMBIGUOUS = 8,       /* after a backslash in a name, parsers disagree on these */
    REFUSED = 16,        /* the protocol cannot carry these anywhere */
    END = 32,            /* the NUL at the end of a string */
    BACKSLASH = 64,      /* in a name, refused before AMBIGUOUS or END */
};

static const unsigned char char_class[256] = {
    [','] = ESC_MEASUREMENT | ESC_NAME | AMBIGUOUS,
    [' '] = ESC_MEASUREMENT | ESC_NAME | AMBIGUOUS,
    ['='] = ESC_NAME | AMBIGUOUS,
    ['"'] = ESC_STRING,
    ['\\'] = ESC_STRING | AMBIGUOUS | BACKSLASH,
    ['\n'] = REFUSED,
    ['\r'] = REFUSED,
    ['\0'] = END,
};

void gw_lpbuf_init(struct gw_lpbuf *b, char *storage, size_t cap)
{
    b->buf = storage;
    b->len = 0;
    b->cap = cap;
}

static int line_fail(struct gw_lp_line *line, int err)
{
    if (!line->err)
        line->err = err;
    return line->err;
}

static void put(struct gw_lp_line *line, const char *s, size_t n)
{
    if (line->err)
        return;
    if (n > line->b->cap - line->pos) {
        line_fail(line, GW_EFULL);
        return;
    }
    memcpy(line->b->buf + line->pos, s, n);
    line->pos += n;
}

/*
 * Appends s with the characters of class esc preceded by a backslash, in
 * runs between them. name: s is a measurement, tag or field key or tag value
 * (non-empty, no ambiguous backslash); otherwise a string field value (any
 * backslash is escaped).
 */
static void put_escaped(struct gw_lp_line *line, const char *s, unsigned esc, int name)
{
    unsigned stop = esc | REFUSED | END | (name ? BACKSLASH : 0);
    const char *run = s, *p = s;
    if (!s || (name && *s == '\0')) {
        line_fail(line, GW_EINVAL);
        return;
    }
    for (;; p++) {
        unsigned cls = char_class[(unsigned char)*p];
        if (!(cls & stop))
            continue;
        if (cls & END)
            break;
        if ((cls & REFUSED) ||
            ((cls & stop & BACKSLASH) && (char_class[(unsigned char)p[1]] & (AMBIGUOUS | END)))) {
            line_fail(line, GW_EINVAL);
            return;
        }
        if (cls & esc) {
            put(line, run, (size_t)(p - run));
            put(line, "\\", 1);
            run = p;
        }
    }
    put(line, run, (size_t)(p - run));
}

int gw_lp_begin(struct gw_lp_line *line, struct gw_lpbuf *b, const char *measurement)
{
    line->b = b;
    line->pos = b->len;
    line->err = 0;
    line->n_fields = 0;
    if (measurement && measurement[0] == '#')
        return line_fail(line, GW_EINVAL);
    put_escaped(line, measurement, ESC_MEASUREMENT, 1);
    return line->err;
}

int gw_lp_tag(struct gw_lp_line *line, const char *key, const char *value)
{
    if (line->n_fields)
        return line_fail(line, GW_EINVAL);
    put(line, ",", 1);
    put_escaped(line, key, ESC_NAME, 1);
    put(line, "=", 1);
    put_escaped(line, value, ESC_NAME, 1);
    return line->err;
}

static void field_key(struct gw_lp_line *line, const char *key)
{
    put(line, line->n_fields++ ? "," : " ", 1);
    put_escaped(line, key, ESC_NAME, 1);
    put(line, "=", 1);
}

int gw_lp_field_int(struct gw_lp_line *line, const char *key, int64_t value)
{
    char text[GW_NUMTEXT_MAX];
    size_t n = gw_numtext_int(value, text);
    text[n++] = 'i';
    field_key(line, key);
    put(line, text, n);
    return line->err;
}

int gw_lp_field_float(struct gw_lp_line *line, const char *key, double value)
{
    char text[GW_NUMTEXT_MAX];
    if (!isfinite(value))
        return line_fail(line, GW_EINVAL);
    size_t n = gw_numtext_double(value, text);
    field_key(line, key);
    put(line, text, n);
    return line->err;
}

int gw_lp_field_string(struct gw_lp_line *line, const char *key, const char *value)
{
    field_key(line, key);
    put(line, "\"", 1);
    put_escaped(line, value, ESC_STRING, 0);
    put(line, "\"", 1);
    return line->err;
}

int gw_lp_end(struct gw_lp_line *line, int64_t ts_ms)
{
    char text[GW_NUMTEXT_MAX + 2];
    size_t n = 1 + gw_numtext_int(ts_ms, text + 1);
    text[0] = ' ';
    text[n++] = '\n';
    if (!line->n_fields)
        line_fail(line, GW_EINVAL);
    put(line, text, n);
    if (!line->err)
        line->b->len = line->pos;
    return line->err;
}

void gw_lp_window_label(int64_t width_ms, char *buf, size_t cap)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
    size_t i = 0;
    while (units[i].ms > 1 && (width_ms <= 0 || width_ms % units[i].ms != 0))
        i++;
    char text[GW_NUMTEXT_MAX + 3];
    size_t n = gw_numtext_int(width_ms / units[i].ms, text);
    size_t unit_len = strlen(units[i].unit);
    memcpy(text + n, units[i].unit, unit_len);
    n += unit_len;
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

/* The measurement of a quantity's family (quantity.h); "other" for a quantity it does not know. */
static const char *family(uint32_t quantity)
{
    const struct gw_quantity *qi = gw_quantity_series(quantity);
    return qi ? qi->family : "other";
}

/* The store's name of a quantity (quantity.h), or "q<number>" in buf for one it does not know. */
static const char *quantity_name(uint32_t quantity, char *buf, size_t cap)
{
    const struct gw_quantity *qi = gw_quantity_series(quantity);
    if (qi)
        return qi->store;
    snprintf(buf, cap, "q%" PRIu32, quantity);
    return buf;
}

/* The lower-case name of a vehicle class from the schema ("TRUCK" -> "truck"), or "c<number>". */
static void class_name(uint32_t value, char *buf, size_t cap)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&citygate__v1__vehicle_class__descriptor, (int)value);
    if (!v) {
        snprintf(buf, cap, "c%" PRIu32, value);
        return;
    }
    size_t i = 0;
    for (; v->name[i] && i + 1 < cap; i++) /* ASCII: schema names are [A-Z0-9_] */
        buf[i] =
            (char)(v->name[i] >= 'A' && v->name[i] <= 'Z' ? v->name[i] - 'A' + 'a' : v->name[i]);
    buf[i] = '\0';
}

/* Writes prefix, a and b into buf (cap bytes) as one string; GW_EINVAL when it does not fit. */
static int join3(char *buf, size_t cap, const char *prefix, const char *a, const char *b)
{
    size_t np = strlen(prefix), na = strlen(a), nb = strlen(b);
    if (np + na + nb >= cap)
        return GW_EINVAL;
    memcpy(buf, prefix, np);
    memcpy(buf + np, a, na);
    memcpy(buf + np + na, b, nb + 1);
    return 0;
}

static void field_float_if_finite(struct gw_lp_line *line, const char *key, double v)
{
    if (isfinite(v))
        gw_lp_field_float(line, key, v);
}

/*
 * The traffic figures of one lane window, from the merge rule of traffic.h:
 * flow_vph for volumes, class counts and vehicle speeds; v15 .. v95 for
 * vehicle speeds; speed_interval_mean for interval SPEED readings. Returns
 * 0, or GW_ENOMEM / GW_EINVAL from gw_traffic_add().
 */
static int traffic_fields(struct gw_lp_line *line, const struct gw_aggregate *a)
{
    struct gw_traffic t;
    struct gw_traffic_figures f;
    uint32_t q = a->key.quantity;

    if (q == CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT || q == GW_QUANTITY_VEHICLE_COUNT) {
        field_float_if_finite(line, "flow_vph", a->sum * 3600000.0 / (double)a->width_ms);
        return 0;
    }
    if (q != GW_QUANTITY_VEHICLE_SPEED && q != CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME &&
        q != CITYGATE__V1__QUANTITY__SPEED)
        return 0;
    gw_traffic_init(&t);
    int rc = gw_traffic_add(&t, a);
    if (rc == 0) {
        gw_traffic_figures(&t, a->width_ms, &f);
        if (f.has & GW_TF_SPEED) {
            field_float_if_finite(line, "v15", f.v15_kmh);
            field_float_if_finite(line, "v50", f.v50_kmh);
            field_float_if_finite(line, "v85", f.v85_kmh);
            field_float_if_finite(line, "v95", f.v95_kmh);
        }
        if (f.has & GW_TF_FLOW)
            field_float_if_finite(line, "flow_vph", f.flow_vph);
        if (f.has & GW_TF_INTERVAL_SPEED)
            field_float_if_finite(line, "speed_interval_mean", f.speed_interval_mean_kmh);
    }
    gw_traffic_fini(&t);
    return rc;
}

int gw_lp_encode_aggregate(struct gw_lpbuf *b, const struct gw_lp_naming *naming,
                           const struct gw_aggregate *a)
{
    char measurement[96], window[24], quantity[40], vclass[40], lane[GW_NUMTEXT_MAX + 1],
        part[GW_NUMTEXT_MAX + 1];
    char sketch[GW_QSKETCH_TEXT_MAX];
    struct gw_lp_line line;
    const char *prefix = naming->prefix ? naming->prefix : "";
    size_t len;
    int rc;

    gw_lp_window_label(a->width_ms, window, sizeof window);
    if (naming->scheme == GW_LP_BY_WINDOW)
        rc = join3(measurement, sizeof measurement, prefix, "agg_", window);
    else
        rc = join3(measurement, sizeof measurement, prefix, family(a->key.quantity), "");
    if (rc)
        return rc;
    const char *qname = quantity_name(a->key.quantity, quantity, sizeof quantity);

    gw_lp_begin(&line, b, measurement);
    if (naming->gateway && naming->gateway[0])
        gw_lp_tag(&line, "gateway", naming->gateway);
    if (a->key.lane) {
        lane[gw_numtext_int(a->key.lane, lane)] = '\0';
        gw_lp_tag(&line, "lane", lane);
    }
    gw_lp_tag(&line, "node", a->key.node);
    if (a->partial) {
        part[gw_numtext_int(a->part_ms, part)] = '\0';
        gw_lp_tag(&line, "part", part);
    }
    gw_lp_tag(&line, "quantity", qname);
    if (a->key.sensor && a->key.sensor[0])
        gw_lp_tag(&line, "sensor", a->key.sensor);
    gw_lp_tag(&line, "site", a->key.site);
    if (a->key.vehicle_class) {
        class_name(a->key.vehicle_class, vclass, sizeof vclass);
        gw_lp_tag(&line, "vehicle_class", vclass);
    }
    gw_lp_tag(&line, "window", window);
    gw_lp_field_int(&line, "count", a->count);
    field_float_if_finite(&line, "sum", a->sum);
    field_float_if_finite(&line, "min", a->min);
    field_float_if_finite(&line, "max", a->max);
    field_float_if_finite(&line, "mean", a->mean);
    field_float_if_finite(&line, "sumsq", a->sumsq);
    rc = traffic_fields(&line, a);
    if (rc == 0 && a->has_quantiles && a->key.quantity != GW_QUANTITY_VEHICLE_SPEED) {
        field_float_if_finite(&line, "p50", a->p50);
        field_float_if_finite(&line, "p85", a->p85);
        field_float_if_finite(&line, "p95", a->p95);
    }
    if (rc == 0 && a->sketch && gw_qsketch_format(a->sketch, sketch, sizeof sketch, &len) == 0)
        gw_lp_field_string(&line, "sketch", sketch);
    if (rc)
        return rc;
    return gw_lp_end(&line, a->start_ms);
}
