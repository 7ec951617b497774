/*
 * validate.c -- admission checks on a decoded, authenticated frame.
 *
 * wire_decode() has already proven who sent the frame and that its fields are
 * present; this stage decides whether the gateway believes it: the topic it
 * came on names the same site and node as the signed body, the site is the one
 * the device was provisioned for, the node's clock is plausible, and every
 * GOOD value is a finite number inside the physical range of its quantity.
 * The checks run in a fixed order and the first failure names the frame's one
 * reason, so each refused frame lands in exactly one counter. Strings are
 * checked first: ids become store tags and MQTT topic levels and every string
 * may be printed, so a byte outside its grammar must stop the frame before
 * any of that (and before a diagnostic quotes it).
 *
 * Units and ranges come from the quantity table (quantity.h), whose rows are
 * indexed by the protobuf enum, so a check is an index and two compares; a device's overrides (few,
 * usually none) are scanned before it. Nothing here allocates, and a diagnostic is formatted only
 * for a refused frame, so the accepting path costs a few dozen instructions per
 * reading.
 */
#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "registry.h"

/* docs/data-model.md, "Vehicle"; speed and length ranges are those of their series. */
#define GW_VEHICLE_MIN_OFFSET_MS (-86400000)

static const struct {
    const char *name;
    const char *text;
} gw_rejects[GW_REJECT_N - WIRE_N_ERRS] = {
#define R(x) [GW_REJECT_##x - WIRE_N_ERRS]
    R(BAD_TOPIC) = {"bad_topic", "bad topic"},
    R(TOPIC_MISMATCH) = {"topic_mismatch", "topic/id mismatch"},
    R(SITE_MISMATCH) = {"site_mismatch", "site differs from the registry"},
    R(BAD_STRING) = {"bad_string", "string field not well formed"},
    R(UNKNOWN_SENSOR) = {"unknown_sensor", "sensor not in the registry"},
    R(TIMESTAMP_FUTURE) = {"timestamp_future", "timestamp in the future"},
    R(TIMESTAMP_TOO_OLD) = {"timestamp_too_old", "timestamp too old"},
    R(UNKNOWN_QUANTITY) = {"unknown_quantity", "unknown quantity"},
    R(UNIT_MISMATCH) = {"unit_mismatch", "unit mismatch"},
    R(NOT_FINITE) = {"not_finite", "value not finite"},
    R(OUT_OF_RANGE) = {"out_of_range", "out of physical range"},
    R(DUPLICATE) = {"duplicate", "duplicate"},
    R(REPLAY) = {"replay", "replay"},
    R(TOO_MANY_DEVICES) = {"too_many_devices", "too many devices"},
#undef R
};

const char *gw_reject_name(int reason)
{
    int r = reason < 0 ? -reason : reason;
    if (r < WIRE_N_ERRS)
        return wire_errname(r);
    return r < GW_REJECT_N ? gw_rejects[r - WIRE_N_ERRS].name : "unknown";
}

const char *gw_reject_text(int reason)
{
    int r = reason < 0 ? -reason : reason;
    if (r < WIRE_N_ERRS)
        return wire_strerror(r);
    return r < GW_REJECT_N ? gw_rejects[r - WIRE_N_ERRS].text : "unknown error";
}

/* Fills diag (may be NULL) and returns GW_EREJECTED. */
__attribute__((format(printf, 4, 5))) static int
gw_reject(struct gw_reject_diag *diag, enum gw_reject reason, int index, const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        diag->reason = (int)reason;
        diag->index = index;
        va_start(ap, fmt);
        vsnprintf(diag->detail, sizeof diag->detail, fmt, ap);
        va_end(ap);
    }
    return GW_EREJECTED;
}

/* Character classes: ids are [A-Za-z0-9._-], firmware versions add '+'. */
#define CH_ID 1
#define CH_VERSION 2
#define CH_BOTH (CH_ID | CH_VERSION)
static const unsigned char gw_chars[256] = {
    ['-'] = CH_BOTH, ['.'] = CH_BOTH, ['_'] = CH_BOTH, ['+'] = CH_VERSION, ['0'] = CH_BOTH,
    ['1'] = CH_BOTH, ['2'] = CH_BOTH, ['3'] = CH_BOTH, ['4'] = CH_BOTH,    ['5'] = CH_BOTH,
    ['6'] = CH_BOTH, ['7'] = CH_BOTH, ['8'] = CH_BOTH, ['9'] = CH_BOTH,    ['A'] = CH_BOTH,
    ['B'] = CH_BOTH, ['C'] = CH_BOTH, ['D'] = CH_BOTH, ['E'] = CH_BOTH,    ['F'] = CH_BOTH,
    ['G'] = CH_BOTH, ['H'] = CH_BOTH, ['I'] = CH_BOTH, ['J'] = CH_BOTH,    ['K'] = CH_BOTH,
    ['L'] = CH_BOTH, ['M'] = CH_BOTH, ['N'] = CH_BOTH, ['O'] = CH_BOTH,    ['P'] = CH_BOTH,
    ['Q'] = CH_BOTH, ['R'] = CH_BOTH, ['S'] = CH_BOTH, ['T'] = CH_BOTH,    ['U'] = CH_BOTH,
    ['V'] = CH_BOTH, ['W'] = CH_BOTH, ['X'] = CH_BOTH, ['Y'] = CH_BOTH,    ['Z'] = CH_BOTH,
    ['a'] = CH_BOTH, ['b'] = CH_BOTH, ['c'] = CH_BOTH, ['d'] = CH_BOTH,    ['e'] = CH_BOTH,
    ['f'] = CH_BOTH, ['g'] = CH_BOTH, ['h'] = CH_BOTH, ['i'] = CH_BOTH,    ['j'] = CH_BOTH,
    ['k'] = CH_BOTH, ['l'] = CH_BOTH, ['m'] = CH_BOTH, ['n'] = CH_BOTH,    ['o'] = CH_BOTH,
    ['p'] = CH_BOTH, ['q'] = CH_BOTH, ['r'] = CH_BOTH, ['s'] = CH_BOTH,    ['t'] = CH_BOTH,
    ['u'] = CH_BOTH, ['v'] = CH_BOTH, ['w'] = CH_BOTH, ['x'] = CH_BOTH,    ['y'] = CH_BOTH,
    ['z'] = CH_BOTH,
};

int gw__id_valid(const char *s, size_t len, size_t max_len)
{
    if (len == 0 || len > max_len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!(gw_chars[(unsigned char)s[i]] & CH_ID))
            return 0;
    return 1;
}

/*
 * The words of the gateway's own topics (docs/data-model.md, Reserved names):
 * its output namespaces, the kinds of a node's topics, and the placeholder of
 * a quarantine topic whose site and node cannot be read.
 */
static const char *const gw_reserved[] = {"_", "alerts", "cmd", "data", "quarantine", "status"};

int gw_name_reserved(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof gw_reserved / sizeof gw_reserved[0]; i++)
        if (strlen(gw_reserved[i]) == len && memcmp(gw_reserved[i], name, len) == 0)
            return 1;
    return 0;
}

/* Copies the id that starts at *p and ends at the next '/' (or end) into dst, checking it. */
static int gw_topic_id(const char **p, const char *end, char *dst)
{
    const char *s = *p;
    size_t n = 0;
    while (s + n < end && s[n] != '/') {
        if (n == GW_MAX_NAME || !(gw_chars[(unsigned char)s[n]] & CH_ID))
            return -1;
        dst[n] = s[n];
        n++;
    }
    if (n == 0 || gw_name_reserved(s, n))
        return -1;
    dst[n] = '\0';
    *p += n;
    return 0;
}

int gw_topic_parse(const char *topic, size_t len, struct gw_topic *out)
{
    static const char prefix[] = "city/v1/";
    const char *p = topic, *end = topic + len;
    struct gw_topic t;

    if (len < sizeof prefix - 1 || memcmp(p, prefix, sizeof prefix - 1) != 0)
        return GW_EREJECTED;
    p += sizeof prefix - 1;
    if (gw_topic_id(&p, end, t.site) != 0 || p == end || *p++ != '/')
        return GW_EREJECTED;
    if (gw_topic_id(&p, end, t.node) != 0 || p == end || *p++ != '/')
        return GW_EREJECTED;
    size_t rest = (size_t)(end - p);
    if (rest == 4 && memcmp(p, "data", 4) == 0)
        t.kind = GW_TOPIC_DATA;
    else if (rest == 6 && memcmp(p, "status", 6) == 0)
        t.kind = GW_TOPIC_STATUS;
    else
        return GW_EREJECTED;
    *out = t;
    return 0;
}

int gw_quantity_range(const struct gw_device *dev, int quantity, double *min, double *max)
{
    const struct gw_quantity *qi = gw_quantity_info(quantity);
    if (!qi)
        return GW_ENOTFOUND;
    for (size_t i = 0; dev && i < dev->n_ranges; i++) {
        if (dev->ranges[i].quantity == quantity) {
            *min = dev->ranges[i].min;
            *max = dev->ranges[i].max;
            return 0;
        }
    }
    *min = qi->min;
    *max = qi->max;
    return 0;
}

/*
 * Checks that s has min_len..max_len bytes of class (CH_ID or CH_VERSION);
 * on failure fills diag naming the field: "what[i].field", or "field" when
 * i < 0. The detail shows the offending byte as a number, never as itself.
 */
static int gw_validate_string(const char *s, unsigned class, size_t min_len, size_t max_len,
                              const char *what, int i, const char *field,
                              struct gw_reject_diag *diag)
{
    char name[40];
    size_t n = 0;
    while (s[n] && n <= max_len && (gw_chars[(unsigned char)s[n]] & class))
        n++;
    if (n >= min_len && n <= max_len && !s[n])
        return 0;
    if (i >= 0)
        snprintf(name, sizeof name, "%s[%d].%s", what, i, field);
    else
        snprintf(name, sizeof name, "%s", field);
    if (n > max_len)
        return gw_reject(diag, GW_REJECT_BAD_STRING, i, "%s longer than %zu bytes", name, max_len);
    if (!s[n])
        return gw_reject(diag, GW_REJECT_BAD_STRING, i, "%s empty", name);
    return gw_reject(diag, GW_REJECT_BAD_STRING, i, "%s: byte 0x%02x at %zu", name,
                     (unsigned char)s[n], n);
}

/* The frame's strings, first of all checks (docs/data-model.md, Strings). */
static int gw_validate_strings(const Citygate__V1__Frame *f, struct gw_reject_diag *diag)
{
    int rc;
    if ((rc = gw_validate_string(f->device_id, CH_ID, 1, GW_MAX_NAME, "", -1, "device_id", diag)) !=
            0 ||
        (rc = gw_validate_string(f->site_id, CH_ID, 1, GW_MAX_NAME, "", -1, "site_id", diag)) != 0)
        return rc;
    if (f->health && (rc = gw_validate_string(f->health->firmware_version, CH_VERSION, 0,
                                              GW_MAX_FIRMWARE_VERSION, "", -1,
                                              "health.firmware_version", diag)) != 0)
        return rc;
    for (size_t i = 0; i < f->n_readings; i++)
        if ((rc = gw_validate_string(f->readings[i]->sensor_id, CH_ID, 0, GW_MAX_SENSOR_ID,
                                     "readings", (int)i, "sensor_id", diag)) != 0)
            return rc;
    for (size_t i = 0; i < f->n_vehicles; i++)
        if ((rc = gw_validate_string(f->vehicles[i]->sensor_id, CH_ID, 0, GW_MAX_SENSOR_ID,
                                     "vehicles", (int)i, "sensor_id", diag)) != 0)
            return rc;
    return 0;
}

/*
 * A sensor_id dev may send: any, when its registry entry lists none; else ""
 * (the value names no sensor) or one of the listed ids.
 */
static int gw_sensor_listed(const struct gw_device *dev, const char *sensor_id)
{
    if (dev->n_sensors == 0 || !sensor_id[0])
        return 1;
    for (size_t k = 0; k < dev->n_sensors; k++)
        if (strcmp(dev->sensors[k], sensor_id) == 0)
            return 1;
    return 0;
}

static int gw_validate_reading(const struct gw_device *dev, const Citygate__V1__Reading *r, int i,
                               struct gw_reject_diag *diag)
{
    const struct gw_quantity *qi = gw_quantity_info(r->quantity);
    double min, max;

    if (!qi)
        return gw_reject(diag, GW_REJECT_UNKNOWN_QUANTITY, i, "readings[%d] quantity %d", i,
                         (int)r->quantity);
    if ((int)r->unit != qi->unit)
        return gw_reject(diag, GW_REJECT_UNIT_MISMATCH, i, "readings[%d] %s in unit %d, not %d", i,
                         qi->name, (int)r->unit, qi->unit);
    if (r->quantity == CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT &&
        r->vehicle_class == CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED)
        return gw_reject(diag, GW_REJECT_MISSING_FIELD, i, "readings[%d].vehicle_class", i);
    if (r->lane > GW_MAX_LANE)
        return gw_reject(diag, GW_REJECT_OUT_OF_RANGE, i, "readings[%d] lane %u > %d", i,
                         (unsigned)r->lane, GW_MAX_LANE);
    if (!gw_sensor_listed(dev, r->sensor_id))
        return gw_reject(diag, GW_REJECT_UNKNOWN_SENSOR, i, "readings[%d] sensor %s", i,
                         r->sensor_id);
    if (r->quality != CITYGATE__V1__QUALITY__GOOD)
        return 0;
    if (!isfinite(r->value))
        return gw_reject(diag, GW_REJECT_NOT_FINITE, i, "readings[%d] %s %g", i, qi->name,
                         r->value);
    min = qi->min;
    max = qi->max;
    if (dev->n_ranges)
        gw_quantity_range(dev, r->quantity, &min, &max);
    if (r->value < min || r->value > max)
        return gw_reject(diag, GW_REJECT_OUT_OF_RANGE, i, "readings[%d] %s %g outside %g..%g", i,
                         qi->name, r->value, min, max);
    return 0;
}

static int gw_validate_vehicle(const struct gw_device *dev, const Citygate__V1__Vehicle *v, int i,
                               struct gw_reject_diag *diag)
{
    const struct gw_quantity *speed = gw_quantity_series(GW_QUANTITY_VEHICLE_SPEED);
    const struct gw_quantity *length = gw_quantity_series(GW_QUANTITY_VEHICLE_LENGTH);

    if (!gw_sensor_listed(dev, v->sensor_id))
        return gw_reject(diag, GW_REJECT_UNKNOWN_SENSOR, i, "vehicles[%d] sensor %s", i,
                         v->sensor_id);
    if (!isfinite(v->speed_kmh) || !isfinite(v->length_m))
        return gw_reject(diag, GW_REJECT_NOT_FINITE, i, "vehicles[%d] speed %g length %g", i,
                         (double)v->speed_kmh, (double)v->length_m);
    if (v->lane < 1 || v->lane > GW_MAX_LANE || v->speed_kmh < speed->min ||
        v->speed_kmh > speed->max || v->length_m < length->min || v->length_m > length->max ||
        v->offset_ms > 0 || v->offset_ms < GW_VEHICLE_MIN_OFFSET_MS)
        return gw_reject(diag, GW_REJECT_OUT_OF_RANGE, i,
                         "vehicles[%d] lane %u speed %g length %g offset %d", i, (unsigned)v->lane,
                         (double)v->speed_kmh, (double)v->length_m, (int)v->offset_ms);
    return 0;
}

int gw_validate_frame(const struct gw_device *dev, const struct gw_topic *topic,
                      const Citygate__V1__Frame *f, uint64_t now_ms,
                      const struct gw_validate_limits *limits, struct gw_reject_diag *diag)
{
    int rc;

    if (topic->kind != GW_TOPIC_DATA)
        return gw_reject(diag, GW_REJECT_BAD_TOPIC, -1, "a frame on a status topic");
    if ((rc = gw_validate_strings(f, diag)) != 0)
        return rc;
    if (strcmp(topic->node, f->device_id) != 0 || strcmp(topic->site, f->site_id) != 0)
        return gw_reject(diag, GW_REJECT_TOPIC_MISMATCH, -1, "topic %s/%s, frame %s/%s",
                         topic->site, topic->node, f->site_id, f->device_id);
    if (strcmp(dev->site, f->site_id) != 0)
        return gw_reject(diag, GW_REJECT_SITE_MISMATCH, -1, "site %s, registry says %s", f->site_id,
                         dev->site);
    if (f->timestamp_ms > now_ms && f->timestamp_ms - now_ms > limits->max_skew_ms)
        return gw_reject(diag, GW_REJECT_TIMESTAMP_FUTURE, -1, "%llu ms ahead",
                         (unsigned long long)(f->timestamp_ms - now_ms));
    if (f->timestamp_ms < now_ms && now_ms - f->timestamp_ms > limits->max_age_ms)
        return gw_reject(diag, GW_REJECT_TIMESTAMP_TOO_OLD, -1, "%llu ms old",
                         (unsigned long long)(now_ms - f->timestamp_ms));
    if (f->interval_ms > GW_MAX_INTERVAL_MS)
        return gw_reject(diag, GW_REJECT_OUT_OF_RANGE, -1, "interval_ms %u",
                         (unsigned)f->interval_ms);
    for (size_t i = 0; i < f->n_readings; i++)
        if ((rc = gw_validate_reading(dev, f->readings[i], (int)i, diag)) != 0)
            return rc;
    for (size_t i = 0; i < f->n_vehicles; i++)
        if ((rc = gw_validate_vehicle(dev, f->vehicles[i], (int)i, diag)) != 0)
            return rc;
    return 0;
}
