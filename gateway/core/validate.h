/*
 * validate.h -- the gateway's admission checks after wire_decode(): topic,
 * registry site, timestamps, and every reading against the physical range of
 * its quantity; plus the one list of reasons a frame can be refused for.
 *
 * Reasons continue the wire library's numbering (enum wire_err), so a single
 * integer names any refusal from the size cap to a replay, and one table of
 * counters indexed by it covers the whole admission path.
 *
 * Everything here is pure and may be called from any thread.
 */
#ifndef CITYGATE_GW_VALIDATE_H
#define CITYGATE_GW_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.pb-c.h"
#include "quantity.h"
#include "wire.h"

/* Site and node ids, rule names: [A-Za-z0-9._-]{1,64} (docs/data-model.md, Topics). */
#define GW_MAX_NAME 64
/* Sensor ids and firmware versions: at most 64 characters (docs/data-model.md, Strings). */
#define GW_MAX_SENSOR_ID 64
#define GW_MAX_FIRMWARE_VERSION 64
/* Highest lane or channel number of a reading or a vehicle. */
#define GW_MAX_LANE 16
/* Longest interval a frame may cover: one day. */
#define GW_MAX_INTERVAL_MS 86400000u

struct gw_device;

/*
 * Why a frame was refused. 1 .. WIRE_N_ERRS-1 are the wire library's reasons
 * with the same numbers; the gateway's own follow. A refusal returns
 * GW_EREJECTED (err.h) and gives its reason here, in struct gw_reject_diag,
 * never in the return. The numbers are stable within a release; metrics use
 * gw_reject_name(), which is stable across releases.
 */
enum gw_reject {
    GW_REJECT_NONE = 0,
    GW_REJECT_MISSING_FIELD = WIRE_EMISSING_FIELD, /* wire's; also a class count's vehicle_class */
    GW_REJECT_BAD_TOPIC = WIRE_N_ERRS,             /* not city/v1/<site>/<node>/data */
    GW_REJECT_TOPIC_MISMATCH,    /* topic site/node differ from site_id/device_id */
    GW_REJECT_SITE_MISMATCH,     /* site_id differs from the registry's site */
    GW_REJECT_BAD_STRING,        /* a string field outside its grammar or length */
    GW_REJECT_UNKNOWN_SENSOR,    /* a sensor_id the device's registry entry does not list */
    GW_REJECT_TIMESTAMP_FUTURE,  /* more than max_skew_ms ahead of the gateway */
    GW_REJECT_TIMESTAMP_TOO_OLD, /* more than max_age_ms behind the gateway */
    GW_REJECT_UNKNOWN_QUANTITY,  /* a quantity this gateway has no range for */
    GW_REJECT_UNIT_MISMATCH,     /* unit is not the quantity's canonical unit */
    GW_REJECT_NOT_FINITE,        /* a GOOD value is NaN or infinite */
    GW_REJECT_OUT_OF_RANGE,      /* a GOOD value, lane or interval out of range */
    GW_REJECT_DUPLICATE,         /* (boot, seq) already accepted */
    GW_REJECT_REPLAY,            /* older than the dedup window, or an old boot */
    GW_REJECT_TOO_MANY_DEVICES,  /* the dedup table is full */
    GW_REJECT_N
};

/* Stable metrics label ("out_of_range", "bad_signature"); either sign; never NULL. */
const char *gw_reject_name(int reason);

/* Human text ("out of physical range"); either sign; never NULL. */
const char *gw_reject_text(int reason);

/* What a refused frame did wrong, for logs and the quarantine record. */
struct gw_reject_diag {
    int reason;       /* enum gw_reject (positive) */
    int index;        /* the offending reading or vehicle, or -1 */
    char detail[128]; /* e.g. "readings[2] SPEED 412 outside 0..300" */
};

/* ---- topics ---- */

enum gw_topic_kind {
    GW_TOPIC_DATA,   /* city/v1/<site>/<node>/data */
    GW_TOPIC_STATUS, /* city/v1/<site>/<node>/status */
};

struct gw_topic {
    enum gw_topic_kind kind;
    char site[GW_MAX_NAME + 1];
    char node[GW_MAX_NAME + 1];
};

/*
 * Parses a frame or status topic. topic (borrowed) holds len bytes and need not
 * be NUL-terminated. Returns 0 and fills *out, or GW_EREJECTED (the reason is
 * GW_REJECT_BAD_TOPIC) when the topic has another shape, an empty or over-long id, a character
 * outside [A-Za-z0-9._-] or a reserved name (docs/data-model.md, Topics).
 */
int gw_topic_parse(const char *topic, size_t len, struct gw_topic *out);

/*
 * 1 when name (len bytes, borrowed) is one of the words the gateway's own
 * topics are made of ("alerts", "quarantine", "data", ...), which no site or
 * node may be named: then no topic the gateway publishes can match a topic
 * it subscribes to (docs/data-model.md, Reserved names). Else 0.
 */
int gw_name_reserved(const char *name, size_t len);

/* ---- quantities (the table is quantity.h) ---- */

/*
 * The range a GOOD value of quantity must lie in for device dev (borrowed; NULL
 * for the table's range): the device's override from the registry when it has
 * one, the table's otherwise. Returns 0 and fills *min, *max, or GW_ENOTFOUND
 * for an unknown quantity.
 */
int gw_quantity_range(const struct gw_device *dev, int quantity, double *min, double *max);

/* ---- frames ---- */

/* How far a node's clock may be from the gateway's. Both bounds are inclusive. */
struct gw_validate_limits {
    uint64_t max_skew_ms; /* a timestamp up to this far in the future is accepted */
    uint64_t max_age_ms;  /* a timestamp up to this far in the past is accepted (backlog) */
};

/*
 * Checks a decoded frame f for device dev (its registry entry) that arrived on
 * topic at gateway time now_ms. All pointers are borrowed; diag may be NULL.
 *
 * Order, first failure wins: topic kind is data; every string of the frame
 * in its grammar and length (docs/data-model.md, Strings); topic node and site
 * equal device_id and site_id; site_id equals the registry's site; timestamp
 * within [now - max_age_ms, now + max_skew_ms]; interval_ms at most one day;
 * then per reading: known quantity, canonical unit, vehicle_class for
 * VEHICLE_CLASS_COUNT, lane 0..16, a sensor_id the registry lists (when it
 * lists any); a GOOD value finite and inside the device's range (other
 * qualities carry placeholder values and are not range-checked); then per
 * vehicle: a listed sensor_id, lane 1..16, finite speed 0..300 km/h, length
 * 0..40 m, offset within the past day.
 *
 * Returns 0, or GW_EREJECTED with *diag filled (the reason and what was wrong).
 */
int gw_validate_frame(const struct gw_device *dev, const struct gw_topic *topic,
                      const Citygate__V1__Frame *f, uint64_t now_ms,
                      const struct gw_validate_limits *limits, struct gw_reject_diag *diag);

/* Internal: 1 when s[0..len) is a valid id ([A-Za-z0-9._-]{1,max_len}), else 0. */
int gw__id_valid(const char *s, size_t len, size_t max_len);

#endif
