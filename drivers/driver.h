/*
 * driver.h -- the interface between the node firmware and its sensor drivers.
 *
 * A driver turns one configured sensor into readings (and, for traffic
 * detectors, per-vehicle records). Drivers are chosen by name from a static
 * table (drv_find) and configured with the key/value parameters of their
 * sensor section in the node's provisioning file. A driver never passes a
 * stale value as fresh: when it cannot read, it returns the reading with a
 * BAD_* quality and a value of 0.
 *
 * The vocabulary (quantities, units, qualities, vehicle classes) is the wire
 * contract's, from frame.pb-c.h.
 */
#ifndef CITYGATE_DRV_DRIVER_H
#define CITYGATE_DRV_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "frame.pb-c.h"

/*
 * The most readings one sample of one sensor may append. The node gives every
 * sensor this much room in each frame (node_config_defaults), and the
 * register map loader refuses a map with more points than this (a point
 * gives at most one reading), so a map that loads can always be sampled.
 */
#define DRV_MAX_READINGS 32

struct drv_reading {
    Citygate__V1__Quantity quantity;
    Citygate__V1__Unit unit;
    double value;
    Citygate__V1__Quality quality;
    uint32_t lane;                            /* 1-based, 0 when none */
    Citygate__V1__VehicleClass vehicle_class; /* for VEHICLE_CLASS_COUNT */
};

struct drv_vehicle {
    int32_t offset_ms; /* detection time minus the sample's now_ms, <= 0 */
    uint32_t lane;
    float speed_kmh;
    float length_m;
    Citygate__V1__VehicleClass vehicle_class;
    uint32_t headway_ms; /* since the previous vehicle of the lane passed; 0 = unknown */
};

/*
 * Caller-owned output arrays; a driver appends up to the capacities. A NULL
 * vehicles array means the caller wants no per-vehicle records (counts and
 * speeds are still computed from the vehicles).
 */
struct drv_sample {
    struct drv_reading *readings;
    size_t n_readings, cap_readings;
    struct drv_vehicle *vehicles;
    size_t n_vehicles, cap_vehicles;
};

struct drv_param {
    const char *key;
    const char *value;
};

/* What went wrong while opening, for the node's log. Drivers never log. */
struct drv_diag {
    char text[160];
};

struct drv_ops {
    const char *name; /* "modbus-tcp", "modbus-rtu", "sim-traffic", ... */
    /*
     * Opens a driver instance from params (borrowed, n entries). Returns 0
     * and sets *state (freed by close) or a negative errno-style code with
     * diag filled. Unknown parameters are errors.
     */
    int (*open)(const struct drv_param *params, size_t n, void **state, struct drv_diag *diag);
    /*
     * Samples the sensor for the interval ending at now_ms (node clock, ms
     * since the epoch) and appends to out. Returns 0, or a negative code when
     * out has no room; device failures are not errors but BAD_* readings.
     */
    int (*sample)(void *state, uint64_t now_ms, uint32_t interval_ms, struct drv_sample *out);
    void (*close)(void *state);
};

/* The driver called name, or NULL. */
const struct drv_ops *drv_find(const char *name);

/*
 * The free-flow speed in km/h of a simulated road, by its profile name
 * ("urban" or "motorway", the simulators' profile parameter): the traffic
 * simulator's speed on an empty road when free_speed_kmh is not given.
 * 0 for another name.
 */
double drv_sim_free_speed_kmh(const char *profile);

/*
 * The road of a site of the simulated city (citysim, cityquery_bench_gen):
 * one site in four, counting from site 0, lies on a motorway with three
 * lanes a direction, the others on urban streets with two. profile is the
 * simulators' profile name, lanes the lane count as text (both static), as
 * driver parameters take them.
 */
struct drv_sim_road {
    const char *profile;
    const char *lanes;
};
struct drv_sim_road drv_sim_site_road(unsigned long site);

#endif
