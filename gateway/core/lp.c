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

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.pb-c.h"

#define ESC_MEASUREMENT ", "
#define ESC_NAME ",= "
#define ESC_STRING "\"\\"
#define ESC_AMBIGUOUS ",= \\" /* after a backslash in a name, parsers disagree on these */

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
 * Appends s with the characters of esc preceded by a backslash. names: s is
 * a measurement, tag or field key or tag value (non-empty, no ambiguous
 * backslash); otherwise a string field value (any backslash is escaped).
 */
static void put_escaped(struct gw_lp_line *line, const char *s, const char *esc, int name)
{
    if (!s || (name && *s == '\0')) {
        line_fail(line, GW_EINVAL);
        return;
    }
    for (const char *p = s; *p && !line->err; p++) {
        if (*p == '\n' || *p == '\r') {
            line_fail(line, GW_EINVAL);
        } else if (name && *p == '\\' && (p[1] == '\0' || strchr(ESC_AMBIGUOUS, p[1]))) {
            line_fail(line, GW_EINVAL);
        } else {
            if (strchr(esc, *p))
                put(line, "\\", 1);
            put(line, p, 1);
        }
    }
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
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRId64 "i", value);
    field_key(line, key);
    put(line, text, (size_t)n);
    return line->err;
}

/* The shortest of %.15g, %.16g, %.17g that reads back to the same double. */
static int format_double(double v, char *text, size_t cap)
{
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(text, cap, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    return n;
}

int gw_lp_field_float(struct gw_lp_line *line, const char *key, double value)
{
    char text[40];
    if (!isfinite(value))
        return line_fail(line, GW_EINVAL);
    int n = format_double(value, text, sizeof text);
    field_key(line, key);
    put(line, text, (size_t)n);
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
    char text[32];
    int n = snprintf(text, sizeof text, " %" PRId64 "\n", ts_ms);
    if (!line->n_fields)
        line_fail(line, GW_EINVAL);
    put(line, text, (size_t)n);
    if (!line->err)
        line->b->len = line->pos;
    return line->err;
}

void gw_lp_window_label(int64_t width_ms, char *buf, size_t cap)
{
    if (width_ms > 0 && width_ms % 3600000 == 0)
        snprintf(buf, cap, "%" PRId64 "h", width_ms / 3600000);
    else if (width_ms > 0 && width_ms % 60000 == 0)
        snprintf(buf, cap, "%" PRId64 "m", width_ms / 60000);
    else if (width_ms > 0 && width_ms % 1000 == 0)
        snprintf(buf, cap, "%" PRId64 "s", width_ms / 1000);
    else
        snprintf(buf, cap, "%" PRId64 "ms", width_ms);
}

static const char *family(uint32_t quantity)
{
    switch (quantity) {
    case CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME:
    case CITYGATE__V1__QUANTITY__OCCUPANCY:
    case CITYGATE__V1__QUANTITY__SPEED:
    case CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT:
    case CITYGATE__V1__QUANTITY__HEADWAY:
        return "traffic";
    case CITYGATE__V1__QUANTITY__PM2_5:
    case CITYGATE__V1__QUANTITY__PM10:
    case CITYGATE__V1__QUANTITY__NO2:
    case CITYGATE__V1__QUANTITY__O3:
        return "air";
    case CITYGATE__V1__QUANTITY__NOISE:
        return "noise";
    case CITYGATE__V1__QUANTITY__TEMPERATURE:
    case CITYGATE__V1__QUANTITY__HUMIDITY:
        return "weather";
    case CITYGATE__V1__QUANTITY__STRAIN:
    case CITYGATE__V1__QUANTITY__VIBRATION:
    case CITYGATE__V1__QUANTITY__TILT:
        return "structure";
    case CITYGATE__V1__QUANTITY__PARKING_OCCUPIED:
    case CITYGATE__V1__QUANTITY__PARKING_FREE:
        return "parking";
    case CITYGATE__V1__QUANTITY__TUNNEL_CO:
    case CITYGATE__V1__QUANTITY__TUNNEL_VISIBILITY:
    case CITYGATE__V1__QUANTITY__FAN_STATE:
        return "tunnel";
    case CITYGATE__V1__QUANTITY__POWER:
    case CITYGATE__V1__QUANTITY__ENERGY:
    case CITYGATE__V1__QUANTITY__VOLTAGE:
    case CITYGATE__V1__QUANTITY__CURRENT:
        return "energy";
    case CITYGATE__V1__QUANTITY__WATER_LEVEL:
        return "water";
    default:
        return "other";
    }
}

/* The lower-case name of an enum value from the schema ("TRAFFIC_VOLUME" -> "traffic_volume"). */
static void enum_name(const ProtobufCEnumDescriptor *desc, uint32_t value, char *buf, size_t cap)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, (int)value);
    if (!v) {
        snprintf(buf, cap, "%s%" PRIu32, desc == &citygate__v1__quantity__descriptor ? "q" : "c",
                 value);
        return;
    }
    size_t i = 0;
    for (; v->name[i] && i + 1 < cap; i++)
        buf[i] = (char)tolower((unsigned char)v->name[i]);
    buf[i] = '\0';
}

static void field_float_if_finite(struct gw_lp_line *line, const char *key, double v)
{
    if (isfinite(v))
        gw_lp_field_float(line, key, v);
}

int gw_lp_encode_aggregate(struct gw_lpbuf *b, const struct gw_lp_naming *naming,
                           const struct gw_aggregate *a)
{
    char measurement[96], window[24], quantity[40], vclass[40], lane[16];
    char sketch[GW_QSKETCH_TEXT_MAX];
    struct gw_lp_line line;
    const char *prefix = naming->prefix ? naming->prefix : "";
    size_t len;
    int n;

    gw_lp_window_label(a->width_ms, window, sizeof window);
    if (naming->scheme == GW_LP_BY_WINDOW)
        n = snprintf(measurement, sizeof measurement, "%sagg_%s", prefix, window);
    else
        n = snprintf(measurement, sizeof measurement, "%s%s", prefix, family(a->key.quantity));
    if (n < 0 || (size_t)n >= sizeof measurement)
        return GW_EINVAL;
    enum_name(&citygate__v1__quantity__descriptor, a->key.quantity, quantity, sizeof quantity);
    enum_name(&citygate__v1__vehicle_class__descriptor, a->key.vehicle_class, vclass,
              sizeof vclass);
    snprintf(lane, sizeof lane, "%" PRIu32, a->key.lane);

    gw_lp_begin(&line, b, measurement);
    if (naming->gateway && naming->gateway[0])
        gw_lp_tag(&line, "gateway", naming->gateway);
    if (a->key.lane)
        gw_lp_tag(&line, "lane", lane);
    gw_lp_tag(&line, "node", a->key.node);
    gw_lp_tag(&line, "quantity", quantity);
    if (a->key.sensor && a->key.sensor[0])
        gw_lp_tag(&line, "sensor", a->key.sensor);
    gw_lp_tag(&line, "site", a->key.site);
    if (a->key.vehicle_class)
        gw_lp_tag(&line, "vehicle_class", vclass);
    gw_lp_tag(&line, "window", window);
    gw_lp_field_int(&line, "count", a->count);
    field_float_if_finite(&line, "sum", a->sum);
    field_float_if_finite(&line, "min", a->min);
    field_float_if_finite(&line, "max", a->max);
    field_float_if_finite(&line, "mean", a->mean);
    field_float_if_finite(&line, "sumsq", a->sumsq);
    if (a->has_quantiles) {
        field_float_if_finite(&line, "p50", a->p50);
        field_float_if_finite(&line, "p85", a->p85);
        field_float_if_finite(&line, "p95", a->p95);
    }
    if (a->traffic & GW_TRAFFIC_FLOW)
        field_float_if_finite(&line, "flow_vph", a->flow_vph);
    if (a->sketch && gw_qsketch_format(a->sketch, sketch, sizeof sketch, &len) == 0)
        gw_lp_field_string(&line, "sketch", sketch);
    return gw_lp_end(&line, a->start_ms);
}
