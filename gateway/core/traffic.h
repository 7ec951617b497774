/*
 * traffic.h -- traffic figures: what the gateway makes of vehicle records,
 * and the one function that merges traffic figures of lanes, sites and
 * rollups.
 *
 * Two kinds of traffic data reach the gateway (docs/gateway.md, "Traffic
 * figures"):
 *  - interval readings (TRAFFIC_VOLUME, OCCUPANCY, SPEED, ...): one value
 *    per detector interval. A SPEED reading is the interval's mean speed; its
 *    windows are written as speed_interval_mean and never yield a v85;
 *  - vehicle records (Frame.vehicles): one per vehicle. Each is folded, at
 *    its own detection time, into its lane's windows of the series below, so
 *    that vehicle counts, speeds and their percentiles are over vehicles.
 *
 * The merge rule, the same everywhere (live view, store lines, rollups, and
 * the query tool, which links this file): counts and sums add up, speed
 * sketches merge, mean speed is the sum of vehicle speeds over the number of
 * vehicles (a time-mean speed, weighted by vehicle count), mean headway and
 * the share of short headways are over the vehicles with a known headway,
 * occupancy across lanes is the mean of the lanes' occupancies. Percentiles are never
 * averaged: they are read from the merged sketch, at the nearest rank
 * (gw_qsketch_rank()).
 *
 * A figure that has no data is absent (its bit in .has is clear), never 0:
 * a lane that saw no vehicle has a flow of 0 and no speed.
 *
 * Thread rules: plain data, one thread at a time.
 */
#ifndef CITYGATE_GW_TRAFFIC_H
#define CITYGATE_GW_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.pb-c.h"
#include "qsketch.h"
#include "quantity.h"
#include "window.h"

/*
 * The series made from vehicle records (GW_QUANTITY_VEHICLE_SPEED, _LENGTH,
 * _COUNT, _HEADWAY, _HEADWAY_SHORT) are rows of the quantity table
 * (quantity.h). They are not wire quantities and nodes cannot send them;
 * they share the series key, windows and store lines of readings.
 */

/* A headway under this is short (the safety indicator's threshold), ms. */
#define GW_TRAFFIC_SHORT_HEADWAY_MS 2000u

/*
 * Folds the vehicle records of frame f (borrowed) into the windows of w,
 * through fr (gw_windows_frame_begin() for f's site and device, with its
 * arrival): per record, its speed, its length, a count of its class and,
 * when it carries one (headway_ms > 0), its headway and whether that is
 * short, in the lanes' series, at timestamp_ms + offset_ms, with sensor_id
 * as the sensor. Returns the number of records folded; a record refused by
 * the windows (too late, too early, no room) is counted in w's statistics
 * and left out of every one of its series.
 */
size_t gw_traffic_fold_vehicles(struct gw_windows *w, struct gw_windows_frame *fr,
                                const Citygate__V1__Frame *f);

/* Bits of struct gw_traffic_figures.has: which figures exist. */
#define GW_TF_FLOW 1u            /* flow_vph */
#define GW_TF_VEHICLES 2u        /* vehicles, from vehicle records */
#define GW_TF_SPEED 4u           /* speed_mean_kmh and v15 .. v95, over vehicles */
#define GW_TF_LENGTH 8u          /* length_mean_m */
#define GW_TF_OCCUPANCY 16u      /* occupancy_pct */
#define GW_TF_INTERVAL_SPEED 32u /* speed_interval_mean_kmh */
#define GW_TF_HEADWAY 64u        /* headway_mean_s */
#define GW_TF_HEADWAY_SHORT 128u /* headway_short_share */

/*
 * Mergeable traffic data of one or more lane windows. Caller storage:
 * gw_traffic_init() / gw_traffic_fini(). The fields are public so that a
 * tool can read them, but are changed only through the functions below.
 */
struct gw_traffic {
    uint32_t windows;  /* lane windows folded in, of any traffic series */
    uint64_t vehicles; /* vehicle records */
    double speed_sum;  /* of vehicle speeds, km/h */
    double speed_min, speed_max;
    struct gw_qsketch speed; /* vehicle speeds */
    uint64_t lengths;        /* vehicle records with a length */
    double length_sum;       /* m */
    uint64_t by_class[8];    /* vehicle records by Citygate__V1__VehicleClass */
    uint32_t volume_windows; /* TRAFFIC_VOLUME windows */
    double volume;           /* vehicles counted by interval readings */
    uint32_t occupancy_windows;
    double occupancy_sum; /* of the lane windows' mean occupancies, % */
    uint64_t interval_speeds;
    double interval_speed_sum; /* of SPEED readings (interval means), km/h */
    uint64_t headways;         /* vehicle records with a known headway */
    double headway_sum;        /* s */
    uint64_t headway_checks;   /* vehicle records with a known headway, in the short series */
    double headways_short;     /* of them, with a headway under GW_TRAFFIC_SHORT_HEADWAY_MS */
};

/* What a struct gw_traffic says, for a span of width_ms. */
struct gw_traffic_figures {
    unsigned has;      /* GW_TF_* */
    uint32_t windows;  /* lane windows behind the figures */
    double flow_vph;   /* vehicles per hour: interval volumes when any, else vehicle records */
    uint64_t vehicles; /* vehicle records */
    double speed_mean_kmh;
    double v15_kmh, v50_kmh, v85_kmh, v95_kmh; /* nearest-rank percentiles of vehicle speeds */
    double length_mean_m;
    double occupancy_pct;           /* mean of the lane windows */
    double speed_interval_mean_kmh; /* mean of the interval mean speeds: not a vehicle figure */
    double headway_mean_s;          /* mean headway of the vehicles with a known one */
    double headway_short_share;     /* their share (0 .. 1) with a headway under 2 s */
};

/* Initialises an empty t in caller storage. Never fails. */
void gw_traffic_init(struct gw_traffic *t);

/* Releases t's buffers; t must be initialised again before reuse. NULL is a no-op. */
void gw_traffic_fini(struct gw_traffic *t);

/* Empties t, keeping its buffers. */
void gw_traffic_reset(struct gw_traffic *t);

/*
 * Folds one window aggregate (borrowed) of a lane into t by its quantity:
 * vehicle speed, length, class and headway series, TRAFFIC_VOLUME, OCCUPANCY and
 * SPEED; any other quantity leaves t as it is. A vehicle speed aggregate
 * needs its sketch. Returns 0, GW_EINVAL (a vehicle speed aggregate without
 * a sketch, or whose sketch does not hold its count) or GW_ENOMEM (t
 * unchanged in both cases).
 */
int gw_traffic_add(struct gw_traffic *t, const struct gw_aggregate *agg);

/*
 * Merges src (borrowed) into dst: the rule at the top of this file.
 * Returns 0, or GW_ENOMEM (or GW_ERANGE when a sketch counter would pass
 * UINT32_MAX) with dst unchanged.
 */
int gw_traffic_merge(struct gw_traffic *dst, const struct gw_traffic *src);

/* Computes the figures of t (borrowed) over a span of width_ms (> 0) into *out. */
void gw_traffic_figures(const struct gw_traffic *t, int64_t width_ms,
                        struct gw_traffic_figures *out);

#endif
