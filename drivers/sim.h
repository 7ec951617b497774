/*
 * sim.h -- what the simulated sensors share (internal to drivers/): counter
 * based randomness, local time, the diurnal traffic demand and air
 * temperature that several sensors follow, and the frame every sim driver is
 * built on.
 */
#ifndef CITYGATE_DRV_SIM_H
#define CITYGATE_DRV_SIM_H

#include <stdint.h>

#include "internal.h"

/* Simulated installations are commissioned here (2020-01-01T00:00Z): meters and creep count from
 * it. */
#define DRV__SIM_EPOCH_MS 1577836800000ULL
#define DRV__MS_PER_DAY 86400000LL

/*
 * Randomness is a pure function of (seed, stream, position): a value is drawn
 * by hashing where it is needed, never by advancing a shared generator. That
 * is what makes a sample depend on (seed, now_ms, interval_ms) only.
 */
uint64_t drv__hash(uint64_t a, uint64_t b);
uint64_t drv__hash3(uint64_t a, uint64_t b, uint64_t c);
/* Uniform in [0, 1) from a hash. */
double drv__unit(uint64_t h);

/* A small generator (splitmix64) for the draws inside one slot. */
struct drv__rng {
    uint64_t state;
};
double drv__rng_uniform(struct drv__rng *rng);
double drv__rng_gauss(struct drv__rng *rng);
/* Poisson with mean lambda, at most max. */
unsigned drv__rng_poisson(struct drv__rng *rng, double lambda, unsigned max);

/* A standard normal value drawn for (seed, stream, position). */
double drv__gauss_at(uint64_t seed, uint64_t stream, uint64_t position);
/* Smooth noise in [-1, 1]: random values every period_s, eased in between. */
double drv__smooth(uint64_t seed, uint64_t stream, double t_s, double period_s);

double drv__bump(double x, double centre, double width);
/* 0 below lo, 1 above hi, a smooth S in between. */
double drv__smoothstep(double x, double lo, double hi);
double drv__clamp(double x, double lo, double hi);

/* Local civil time approximated as UTC plus a fixed offset. */
struct drv__local {
    int64_t day;        /* local days since 1970-01-01 */
    int weekday;        /* 0 Monday ... 6 Sunday */
    double hour;        /* [0, 24) */
    double day_of_year; /* [0, 365.25), 0 = 1 January */
    double t_s;         /* local seconds since the epoch */
};
void drv__local_time(uint64_t now_ms, int32_t utc_offset_min, struct drv__local *lt);

enum drv__road { DRV__ROAD_URBAN, DRV__ROAD_MOTORWAY };
extern const char *const drv__road_names[]; /* for DRV__P_CHOICE */

/*
 * Traffic demand as a fraction of capacity, 0 ... 1: weekdays with a sharp
 * morning and a broader evening peak over a midday plateau, weekends flatter
 * and later, Sundays lowest; motorways keep more night-time freight.
 */
double drv__traffic_demand(enum drv__road road, const struct drv__local *lt);

/* Outdoor air temperature in degC: season, day and night, and weather over days. */
double drv__air_temperature(uint64_t seed, const struct drv__local *lt);

/* Parameters every sim driver takes (docs/drivers.md, "Simulated sensors"). */
struct drv__sim_common {
    uint64_t seed;
    int32_t utc_offset_min;
    double fault_rate;       /* outages per day */
    char vehicles_file[256]; /* append every listed vehicle here (ground truth); "" = none */
};

/*
 * One kind of simulated sensor. sample() appends the readings (and vehicles)
 * for the interval ending at now_ms; it must be a pure function of its
 * arguments, must not allocate, and returns 0 or -ENOSPC.
 */
struct drv__sim_kind {
    size_t cfg_bytes;
    const struct drv__pspec *spec;
    size_t n_spec;
    int (*prepare)(void *cfg, struct drv_diag *diag); /* after parsing; may be NULL */
    int (*sample)(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                  uint32_t interval_ms, struct drv_sample *out);
};

/* The drv_ops functions of every sim driver (sim.c). */
int drv__sim_open(const struct drv__sim_kind *kind, const struct drv_param *params, size_t n,
                  void **state, struct drv_diag *diag);
int drv__sim_sample(void *state, uint64_t now_ms, uint32_t interval_ms, struct drv_sample *out);
void drv__sim_close(void *state);

/*
 * Defines the sim driver var called name: its kind (config type, parameter
 * table, prepare and sample functions) and the one-line open that binds it.
 */
#define DRV__SIM_DRIVER(var, name, cfg_type, spec, prepare, sample)                                \
    static const struct drv__sim_kind var##_kind = {                                               \
        sizeof(cfg_type), spec, sizeof(spec) / sizeof((spec)[0]), prepare, sample};                \
    static int var##_open(const struct drv_param *params, size_t n, void **state,                  \
                          struct drv_diag *diag)                                                   \
    {                                                                                              \
        return drv__sim_open(&var##_kind, params, n, state, diag);                                 \
    }                                                                                              \
    const struct drv_ops var = {name, var##_open, drv__sim_sample, drv__sim_close}

extern const struct drv_ops drv__sim_traffic, drv__sim_air, drv__sim_noise, drv__sim_strain,
    drv__sim_parking, drv__sim_tunnel, drv__sim_power;

#endif
