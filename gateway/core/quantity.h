/*
 * quantity.h -- what each quantity is: the one table every stage reads.
 *
 * A row says everything the gateway knows about one quantity: its number
 * (frame.proto's Quantity, or 1000 and up for a series the gateway makes of
 * vehicle records, which no node can send), its wire name (the enum name of
 * frame.proto, matched by rules and the registry's range.X keys; none for a
 * gateway series), its store name (the `quantity` tag and the alert topic),
 * its canonical unit, its physical range, its family (the store's
 * measurement), whether its windows keep a quantile sketch, how the
 * traffic figures merge it across lanes (traffic.h), and the label people
 * read. Validation, the windows, the line protocol, the rules, the traffic
 * merge and the live view read this table; docs/data-model.md prints it, and
 * the lint test docs_quantities fails when the two differ. Adding a quantity
 * is one row here (and one in frame.proto for a wire quantity) plus its row
 * in the docs.
 *
 * Everything here is constant data and pure functions: any thread.
 */
#ifndef CITYGATE_GW_QUANTITY_H
#define CITYGATE_GW_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.pb-c.h"

/* How the traffic figures (traffic.h) combine a quantity's windows of several lanes. */
enum gw_merge {
    GW_MERGE_NONE,      /* not merged: the lanes (channels) are read one by one */
    GW_MERGE_SUM,       /* the sums add up: a site's volume is its lanes' total */
    GW_MERGE_POOLED,    /* sums and counts add up: the mean is over every value of every lane */
    GW_MERGE_LANE_MEAN, /* the mean of the lanes' means: a site's occupancy */
};

/* Numbers of the series the gateway makes start here, above every Quantity of frame.proto. */
#define GW_QUANTITY_FIRST_SERIES 1000u

#define GW__P(id) ((unsigned)CITYGATE__V1__QUANTITY__##id)
#define GW__U(id) CITYGATE__V1__UNIT__##id

/*
 * The table, one X(...) per quantity, wire quantities first and in
 * frame.proto's order (their number is their row), then the gateway's
 * series. Columns: identifier (GW_QUANTITY_<id>), number, store name, unit
 * (frame.proto's Unit), physical range min and max (inclusive), family,
 * quantiles, merge across lanes (GW_MERGE_<merge>), label.
 */
/* clang-format off */
#define GW_QUANTITY_TABLE(X) \
    X(TRAFFIC_VOLUME,      GW__P(TRAFFIC_VOLUME),      "traffic_volume",      VEHICLES,                   0,      10000,  "traffic",   0, SUM,       "Traffic volume") \
    X(OCCUPANCY,           GW__P(OCCUPANCY),           "occupancy",           PERCENT,                    0,      100,    "traffic",   1, LANE_MEAN, "Occupancy") \
    X(SPEED,               GW__P(SPEED),               "speed",               KILOMETRES_PER_HOUR,        0,      300,    "traffic",   0, POOLED,    "Interval mean speed") \
    X(VEHICLE_CLASS_COUNT, GW__P(VEHICLE_CLASS_COUNT), "vehicle_class_count", VEHICLES,                   0,      10000,  "traffic",   0, NONE,      "Vehicles by class") \
    X(HEADWAY,             GW__P(HEADWAY),             "headway",             SECONDS,                    0,      3600,   "traffic",   1, NONE,      "Interval mean headway") \
    X(PM2_5,               GW__P(PM2_5),               "pm2_5",               MICROGRAMS_PER_CUBIC_METRE, 0,      1000,   "air",       1, NONE,      "PM2.5") \
    X(PM10,                GW__P(PM10),                "pm10",                MICROGRAMS_PER_CUBIC_METRE, 0,      2000,   "air",       1, NONE,      "PM10") \
    X(NO2,                 GW__P(NO2),                 "no2",                 MICROGRAMS_PER_CUBIC_METRE, 0,      2000,   "air",       1, NONE,      "Nitrogen dioxide") \
    X(O3,                  GW__P(O3),                  "o3",                  MICROGRAMS_PER_CUBIC_METRE, 0,      1000,   "air",       1, NONE,      "Ozone") \
    X(NOISE,               GW__P(NOISE),               "noise",               DECIBEL_A,                  0,      160,    "noise",     1, NONE,      "Noise level") \
    X(TEMPERATURE,         GW__P(TEMPERATURE),         "temperature",         DEGREES_CELSIUS,            -60,    90,     "weather",   0, NONE,      "Temperature") \
    X(HUMIDITY,            GW__P(HUMIDITY),            "humidity",            PERCENT,                    0,      100,    "weather",   0, NONE,      "Relative humidity") \
    X(STRAIN,              GW__P(STRAIN),              "strain",              MICROSTRAIN,                -10000, 10000,  "structure", 1, NONE,      "Strain") \
    X(VIBRATION,           GW__P(VIBRATION),           "vibration",           MILLIMETRES_PER_SECOND,     0,      1000,   "structure", 1, NONE,      "Vibration") \
    X(TILT,                GW__P(TILT),                "tilt",                DEGREES,                    -90,    90,     "structure", 0, NONE,      "Tilt") \
    X(PARKING_OCCUPIED,    GW__P(PARKING_OCCUPIED),    "parking_occupied",    SPACES,                     0,      100000, "parking",   0, NONE,      "Occupied spaces") \
    X(PARKING_FREE,        GW__P(PARKING_FREE),        "parking_free",        SPACES,                     0,      100000, "parking",   0, NONE,      "Free spaces") \
    X(TUNNEL_CO,           GW__P(TUNNEL_CO),           "tunnel_co",           PARTS_PER_MILLION,          0,      1000,   "tunnel",    1, NONE,      "Carbon monoxide") \
    X(TUNNEL_VISIBILITY,   GW__P(TUNNEL_VISIBILITY),   "tunnel_visibility",   PER_KILOMETRE,              0,      100,    "tunnel",    1, NONE,      "Visibility (extinction)") \
    X(FAN_STATE,           GW__P(FAN_STATE),           "fan_state",           STATE,                      0,      3,      "tunnel",    0, NONE,      "Fan state") \
    X(POWER,               GW__P(POWER),               "power",               KILOWATTS,                  -100000, 100000, "energy",   0, NONE,      "Active power") \
    X(ENERGY,              GW__P(ENERGY),              "energy",              KILOWATT_HOURS,             0,      1e12,   "energy",    0, NONE,      "Energy") \
    X(VOLTAGE,             GW__P(VOLTAGE),             "voltage",             VOLTS,                      0,      50000,  "energy",    0, NONE,      "Voltage") \
    X(CURRENT,             GW__P(CURRENT),             "current",             AMPERES,                    -10000, 10000,  "energy",    0, NONE,      "Current") \
    X(WATER_LEVEL,         GW__P(WATER_LEVEL),         "water_level",         METRES,                     -100,   1000,   "water",     0, NONE,      "Water level") \
    X(VEHICLE_SPEED,         1000u, "vehicle_speed",         KILOMETRES_PER_HOUR, 0, 300,         "traffic", 1, POOLED, "Vehicle speed") \
    X(VEHICLE_LENGTH,        1001u, "vehicle_length",        METRES,              0, 40,          "traffic", 0, POOLED, "Vehicle length") \
    X(VEHICLE_COUNT,         1002u, "vehicle_count",         VEHICLES,            0, 1,           "traffic", 0, SUM,    "Vehicles") \
    X(VEHICLE_HEADWAY,       1003u, "vehicle_headway",       SECONDS,             0, 4294967.295, "traffic", 0, POOLED, "Headway") \
    X(VEHICLE_HEADWAY_SHORT, 1004u, "vehicle_headway_short", UNIT_UNSPECIFIED,    0, 1,           "traffic", 0, POOLED, "Short headways")
/* clang-format on */

/* GW_QUANTITY_SPEED, GW_QUANTITY_VEHICLE_SPEED, ...: a quantity's number. */
enum gw_quantity_id {
#define GW__X(id, number, ...) GW_QUANTITY_##id = (number),
    GW_QUANTITY_TABLE(GW__X)
#undef GW__X
};

/* One row of the table. */
struct gw_quantity {
    uint32_t number;     /* frame.proto's Quantity, or GW_QUANTITY_FIRST_SERIES and up */
    const char *name;    /* wire name as in frame.proto ("SPEED"); NULL for a gateway series */
    const char *store;   /* the store's `quantity` tag and the alert topic ("speed") */
    int unit;            /* Citygate__V1__Unit, the canonical unit */
    double min, max;     /* inclusive physical range */
    const char *family;  /* the store's measurement ("traffic", "air", ...) */
    bool quantiles;      /* its windows keep a quantile sketch */
    enum gw_merge merge; /* across lanes, in the traffic figures */
    const char *label;   /* for people ("Vehicle speed") */
};

/* The rows, wire quantities first: row q is quantity q for 1 <= q < GW_QUANTITY_N_WIRE. */
extern const struct gw_quantity gw_quantity_rows[];
/* Number of rows of gw_quantity_rows. */
extern const size_t gw_quantity_n_rows;

/* One past the highest wire quantity; row 0 is a placeholder with no name. */
#define GW__WIRE(id, number, ...) +((number) < GW_QUANTITY_FIRST_SERIES)
enum { GW_QUANTITY_N_WIRE = 1 GW_QUANTITY_TABLE(GW__WIRE) };
#undef GW__WIRE

/*
 * The row of a quantity a node may send (a Citygate__V1__Quantity), or NULL
 * when this gateway does not know it. An index and a compare.
 */
static inline const struct gw_quantity *gw_quantity_info(int quantity)
{
    if (quantity <= 0 || quantity >= GW_QUANTITY_N_WIRE)
        return NULL;
    return &gw_quantity_rows[quantity];
}

/* The row of any series' quantity: a wire quantity or a series the gateway makes; or NULL. */
static inline const struct gw_quantity *gw_quantity_series(uint32_t quantity)
{
    if (quantity < GW_QUANTITY_FIRST_SERIES)
        return gw_quantity_info((int)quantity);
    size_t row = quantity - GW_QUANTITY_FIRST_SERIES + GW_QUANTITY_N_WIRE;
    return row < gw_quantity_n_rows ? &gw_quantity_rows[row] : NULL;
}

/*
 * The wire quantity named name (len bytes, case-sensitive, as in frame.proto),
 * or GW_ENOTFOUND. name is borrowed.
 */
int gw_quantity_from_name(const char *name, size_t len);

/* 1 when windows of quantity keep quantiles (noise, PM, vehicle speeds; not interval SPEED). */
int gw_quantity_has_quantiles(int quantity);

/* The symbol of a Citygate__V1__Unit for people ("km/h", "µg/m³"); "" for none or unknown. */
const char *gw_unit_symbol(int unit);

/* The word for a merge rule in docs and JSON ("sum", "pooled", "lane mean", "none"). */
const char *gw_merge_name(enum gw_merge merge);

#endif
