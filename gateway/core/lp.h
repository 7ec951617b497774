/*
 * lp.h -- InfluxDB line protocol encoding into a caller's bounded buffer.
 *
 *     measurement[,tag=value...] field=value[,field=value...] timestamp_ms\n
 *
 * Escaping follows the line protocol reference ("Special characters"):
 * measurement: comma and space; tag keys, tag values and field keys: comma,
 * equals sign and space; string field values: double quote and backslash.
 * Newlines (and carriage returns) are refused everywhere: the protocol has
 * no way to carry them. A backslash in a name is written as is, except that
 * a backslash at the end of a name or in front of a backslash or of a
 * character that gets escaped is refused: InfluxDB 1.x reads it literally,
 * 2.x and VictoriaMetrics as an escape, so no spelling means the same to all.
 * Names that start with '#' (a comment line) or are empty are refused;
 * empty tag values are refused (the protocol drops them: omit the tag).
 * Integers carry the "i" suffix; floats are finite and written with the
 * fewest digits that read back to the same double (at most 17; numtext.h).
 * Timestamps are milliseconds: write with precision=ms.
 *
 * Thread rules: plain data, one thread per buffer. Numbers are written
 * without printf (numtext.h), so the locale plays no part.
 */
#ifndef CITYGATE_GW_LP_H
#define CITYGATE_GW_LP_H

#include <stddef.h>
#include <stdint.h>

#include "window.h"

/* A bounded output buffer: lines are appended whole or not at all. */
struct gw_lpbuf {
    char *buf;  /* borrowed storage of cap bytes; not NUL-terminated */
    size_t len; /* bytes of complete lines */
    size_t cap;
};

/* Points b at storage (borrowed, cap bytes), empty. */
void gw_lpbuf_init(struct gw_lpbuf *b, char *storage, size_t cap);

/*
 * One line being built at the end of a buffer. The first error sticks: later
 * calls do nothing and gw_lp_end() returns it, leaving b->len unchanged.
 * Tags must come before fields. Caller storage; no allocation.
 */
struct gw_lp_line {
    struct gw_lpbuf *b;
    size_t pos; /* where the next byte goes */
    int err;
    unsigned n_fields;
};

/* Starts a line for measurement (borrowed). Returns 0 or the sticky error. */
int gw_lp_begin(struct gw_lp_line *line, struct gw_lpbuf *b, const char *measurement);

/* Appends a tag. key and value are borrowed. Returns 0 or the sticky error. */
int gw_lp_tag(struct gw_lp_line *line, const char *key, const char *value);

/* Appends an integer field ("42i"). Returns 0 or the sticky error. */
int gw_lp_field_int(struct gw_lp_line *line, const char *key, int64_t value);

/* Appends a float field; GW_EINVAL for NaN or infinity. Returns 0 or the sticky error. */
int gw_lp_field_float(struct gw_lp_line *line, const char *key, double value);

/* Appends a string field, quoted and escaped. Returns 0 or the sticky error. */
int gw_lp_field_string(struct gw_lp_line *line, const char *key, const char *value);

/*
 * Finishes the line with timestamp ts_ms and a newline and commits it to the
 * buffer. Returns 0; GW_EINVAL for a line without fields or a refused name
 * or value; GW_EFULL when the line does not fit. On error the buffer is
 * unchanged (bytes past b->len may have been scribbled on).
 */
int gw_lp_end(struct gw_lp_line *line, int64_t ts_ms);

/* How aggregates are named in the store. */
enum gw_lp_scheme {
    /* measurement per quantity family (quantity.h): traffic, air, noise,
     * weather, structure, parking, tunnel, energy, water; other for a
     * quantity the table does not know */
    GW_LP_BY_FAMILY = 0,
    /* measurement per level: agg_30s, agg_5m, agg_15m, agg_1h, ... */
    GW_LP_BY_WINDOW = 1,
};

struct gw_lp_naming {
    enum gw_lp_scheme scheme;
    const char *prefix;  /* prepended to the measurement ("city_"); NULL or "" for none */
    const char *gateway; /* tag gateway=<id> so partials of several gateways do not
                            overwrite each other; NULL or "" to omit */
};

/*
 * Appends one line for agg (borrowed), timestamped at the window start.
 * Tags, sorted by key as InfluxDB prefers: gateway, lane (when not 0),
 * node, part (a part of a window past its late horizon: its arrival
 * bucket in ms, see window.h; readers add it to the window's point),
 * quantity (the store name of quantity.h, e.g. "speed",
 * "vehicle_speed"), sensor (when not empty), site, vehicle_class (when set,
 * e.g. "truck"), window ("30s", "5m", "15m", "1h"). Fields:
 * count (integer), sum, min, max, mean, sumsq; then the traffic fields of
 * traffic.h's figures: v15, v50, v85, v95 for vehicle speeds, flow_vph for
 * volumes, class counts and vehicle speeds, speed_interval_mean for SPEED
 * readings; then p50, p85, p95 with quantiles (not for vehicle speeds), and
 * sketch (gw_qsketch_format() text). Non-finite floats (a sum that
 * overflowed) are left out. The revision is not written: a rewrite must
 * replace the point field for field, and a replay must write the same bytes.
 * Returns 0, GW_EFULL (buffer unchanged), GW_EINVAL (a refused key string)
 * or GW_ENOMEM (a vehicle speed sketch could not be read).
 */
int gw_lp_encode_aggregate(struct gw_lpbuf *b, const struct gw_lp_naming *naming,
                           const struct gw_aggregate *agg);

/* Writes the window label of width_ms ("30s", "5m", "1h", "250ms") into buf. */
void gw_lp_window_label(int64_t width_ms, char *buf, size_t cap);

#endif
