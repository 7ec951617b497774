/*
 * validate.c -- admission checks on a decoded, authenticated frame.
 *
 * wire_decode() has already proven who sent the frame and that its fields are
 * present; this stage decides whether the gateway believes it: the topic it
 * came on names the same site and node as the signed body, the site is the one
 * the device was provisioned for, the node's clock is plausible, and every
 * GOOD value is a finite number inside the physical range of its quantity.
 * The checks run in a fixed order and the first failure names the frame's one
 * reason, so each refused frame lands in exactly one counter.
 *
 * The range table is a static array indexed by the protobuf enum, so a check
 * is an index and two compares; a device's overrides (few, usually none) are
 * scanned before it. Nothing here allocates, and a diagnostic is formatted only
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

#define Q(x) CITYGATE__V1__QUANTITY__##x
#define U(x) CITYGATE__V1__UNIT__##x

/* docs/data-model.md, "Quantities, units and physical ranges". */
static const struct gw_quantity_info gw_quantities[] = {
    [Q(TRAFFIC_VOLUME)] = {"TRAFFIC_VOLUME", U(VEHICLES), 0, 10000},
    [Q(OCCUPANCY)] = {"OCCUPANCY", U(PERCENT), 0, 100},
    [Q(SPEED)] = {"SPEED", U(KILOMETRES_PER_HOUR), 0, 300},
    [Q(VEHICLE_CLASS_COUNT)] = {"VEHICLE_CLASS_COUNT", U(VEHICLES), 0, 10000},
    [Q(HEADWAY)] = {"HEADWAY", U(SECONDS), 0, 3600},
    [Q(PM2_5)] = {"PM2_5", U(MICROGRAMS_PER_CUBIC_METRE), 0, 1000},
    [Q(PM10)] = {"PM10", U(MICROGRAMS_PER_CUBIC_METRE), 0, 2000},
    [Q(NO2)] = {"NO2", U(MICROGRAMS_PER_CUBIC_METRE), 0, 2000},
    [Q(O3)] = {"O3", U(MICROGRAMS_PER_CUBIC_METRE), 0, 1000},
    [Q(NOISE)] = {"NOISE", U(DECIBEL_A), 0, 160},
    [Q(TEMPERATURE)] = {"TEMPERATURE", U(DEGREES_CELSIUS), -60, 90},
    [Q(HUMIDITY)] = {"HUMIDITY", U(PERCENT), 0, 100},
    [Q(STRAIN)] = {"STRAIN", U(MICROSTRAIN), -10000, 10000},
    [Q(VIBRATION)] = {"VIBRATION", U(MILLIMETRES_PER_SECOND), 0, 1000},
    [Q(TILT)] = {"TILT", U(DEGREES), -90, 90},
    [Q(PARKING_OCCUPIED)] = {"PARKING_OCCUPIED", U(SPACES), 0, 100000},
    [Q(PARKING_FREE)] = {"PARKING_FREE", U(SPACES), 0, 100000},
    [Q(TUNNEL_CO)] = {"TUNNEL_CO", U(PARTS_PER_MILLION), 0, 1000},
    [Q(TUNNEL_VISIBILITY)] = {"TUNNEL_VISIBILITY", U(PER_KILOMETRE), 0, 100},
    [Q(FAN_STATE)] = {"FAN_STATE", U(STATE), 0, 3},
    [Q(POWER)] = {"POWER", U(KILOWATTS), -100000, 100000},
    [Q(ENERGY)] = {"ENERGY", U(KILOWATT_HOURS), 0, 1e12},
    [Q(VOLTAGE)] = {"VOLTAGE", U(VOLTS), 0, 50000},
    [Q(CURRENT)] = {"CURRENT", U(AMPERES), -10000, 10000},
    [Q(WATER_LEVEL)] = {"WATER_LEVEL", U(METRES), -100, 1000},
};
#define GW_N_QUANTITIES (sizeof gw_quantities / sizeof gw_quantities[0])

/* docs/data-model.md, "Vehicle". */
#define GW_VEHICLE_MAX_SPEED_KMH 300.0f
#define GW_VEHICLE_MAX_LENGTH_M 40.0f
#define GW_VEHICLE_MIN_OFFSET_MS (-86400000)

static const struct {
    const char *name;
    const char *text;
} gw_rejects[GW_REJECT_N - WIRE_N_ERRS] = {
#define R(x) [GW_REJECT_##x - WIRE_N_ERRS]
    R(BAD_TOPIC) = {"bad_topic", "bad topic"},
    R(TOPIC_MISMATCH) = {"topic_mismatch", "topic/id mismatch"},
    R(SITE_MISMATCH) = {"site_mismatch", "site differs from the registry"},
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

/* Fills diag (may be NULL) and returns -reason. */
__attribute__((format(printf, 4, 5))) static int
gw_reject(struct gw_reject_diag *diag, enum gw_reject reason, int index, const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        diag->reason = -(int)reason;
        diag->index = index;
        va_start(ap, fmt);
        vsnprintf(diag->detail, sizeof diag->detail, fmt, ap);
        va_end(ap);
    }
    return -(int)reason;
}

/* 1 for the characters of an id: [A-Za-z0-9._-]. */
static const unsigned char gw_id_chars[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,
    ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1,
    ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
    ['z'] = 1,
};

int gw__id_valid(const char *s, size_t len, size_t max_len)
{
    if (len == 0 || len > max_len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!gw_id_chars[(unsigned char)s[i]])
            return 0;
    return 1;
}

/* Copies the id that starts at *p and ends at the next '/' (or end) into dst, checking it. */
static int gw_topic_id(const char **p, const char *end, char *dst)
{
    const char *s = *p;
    size_t n = 0;
    while (s + n < end && s[n] != '/') {
        if (n == GW_MAX_NAME || !gw_id_chars[(unsigned char)s[n]])
            return -1;
        dst[n] = s[n];
        n++;
    }
    if (n == 0)
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
        return -GW_REJECT_BAD_TOPIC;
    p += sizeof prefix - 1;
    if (gw_topic_id(&p, end, t.site) != 0 || p == end || *p++ != '/')
        return -GW_REJECT_BAD_TOPIC;
    if (gw_topic_id(&p, end, t.node) != 0 || p == end || *p++ != '/')
        return -GW_REJECT_BAD_TOPIC;
    size_t rest = (size_t)(end - p);
    if (rest == 4 && memcmp(p, "data", 4) == 0)
        t.kind = GW_TOPIC_DATA;
    else if (rest == 6 && memcmp(p, "status", 6) == 0)
        t.kind = GW_TOPIC_STATUS;
    else
        return -GW_REJECT_BAD_TOPIC;
    *out = t;
    return 0;
}

const struct gw_quantity_info *gw_quantity_info(int quantity)
{
    if (quantity <= 0 || (size_t)quantity >= GW_N_QUANTITIES)
        return NULL;
    return &gw_quantities[quantity];
}

int gw_quantity_from_name(const char *name, size_t len)
{
    for (size_t q = 1; q < GW_N_QUANTITIES; q++) {
        const char *n = gw_quantities[q].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return (int)q;
    }
    return GW_ENOTFOUND;
}

int gw_quantity_range(const struct gw_device *dev, int quantity, double *min, double *max)
{
    const struct gw_quantity_info *qi = gw_quantity_info(quantity);
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

static int gw_validate_reading(const struct gw_device *dev, const Citygate__V1__Reading *r, int i,
                               struct gw_reject_diag *diag)
{
    const struct gw_quantity_info *qi = NULL;
    double min, max;

    if (r->quantity > 0 && (size_t)r->quantity < GW_N_QUANTITIES)
        qi = &gw_quantities[r->quantity];
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

static int gw_validate_vehicle(const Citygate__V1__Vehicle *v, int i, struct gw_reject_diag *diag)
{
    if (!isfinite(v->speed_kmh) || !isfinite(v->length_m))
        return gw_reject(diag, GW_REJECT_NOT_FINITE, i, "vehicles[%d] speed %g length %g", i,
                         (double)v->speed_kmh, (double)v->length_m);
    if (v->lane < 1 || v->lane > GW_MAX_LANE || v->speed_kmh < 0 ||
        v->speed_kmh > GW_VEHICLE_MAX_SPEED_KMH || v->length_m < 0 ||
        v->length_m > GW_VEHICLE_MAX_LENGTH_M || v->offset_ms > 0 ||
        v->offset_ms < GW_VEHICLE_MIN_OFFSET_MS)
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
    if (strcmp(topic->node, f->device_id) != 0 || strcmp(topic->site, f->site_id) != 0)
        return gw_reject(diag, GW_REJECT_TOPIC_MISMATCH, -1, "topic %s/%s, frame %.64s/%.64s",
                         topic->site, topic->node, f->site_id, f->device_id);
    if (strcmp(dev->site, f->site_id) != 0)
        return gw_reject(diag, GW_REJECT_SITE_MISMATCH, -1, "site %.64s, registry says %s",
                         f->site_id, dev->site);
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
        if ((rc = gw_validate_vehicle(f->vehicles[i], (int)i, diag)) != 0)
            return rc;
    return 0;
}
