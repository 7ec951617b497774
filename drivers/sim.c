/*
 * sim.c -- the frame of the simulated sensors and what they share.
 *
 * A simulated sensor must give the same output for the same (seed, now_ms,
 * interval_ms), whatever was asked before, so that tests and benchmarks are
 * reproducible and a fleet of 10,000 nodes can be sampled in any order. So
 * there is no generator state that advances between samples: every random
 * value is a hash of the seed, a stream constant and where it is needed (a
 * time slot, a day, a lane). Slow processes (weather, pollution episodes)
 * are smooth noise between hashed knots; events (incidents, outages) are
 * decided per fixed time bucket. Sampling allocates nothing and touches only
 * its own state, which is read-only after open.
 *
 * The common parameters (seed, utc_offset_min, fault_rate, vehicles_file)
 * and the fault model live here: during a simulated outage every reading of
 * the sample keeps its place but turns BAD_TIMEOUT or BAD_GONE with value 0,
 * and no vehicles are reported, exactly as a real driver reports a dead
 * device. With vehicles_file, every vehicle a sample lists is also appended
 * to that file as one line, "<time_ms> <lane> <speed_kmh> <length_m>
 * <class> <headway_ms>" (time in ms since the epoch, speed and length with
 * the digits that read back to the same float, class the VehicleClass
 * number, headway 0 when unknown), so that
 * tests can compare the gateway's figures with the simulator's own vehicles.
 * That is the one thing a sample writes outside its output, and only after
 * the pure part has run.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SIM_PI 3.14159265358979323846
#define FAULT_BUCKET_MS 600000ULL
#define STREAM_FAULT 0xfa017u
#define STREAM_TEMP_WEATHER 0x7e3a1u
#define STREAM_TEMP_SHORT 0x7e3a2u

const char *const drv__road_names[] = {"urban", "motorway", NULL};

struct drv_sim_road drv_sim_site_road(unsigned long site)
{
    enum drv__road road = site % 4 == 0 ? DRV__ROAD_MOTORWAY : DRV__ROAD_URBAN;
    return (struct drv_sim_road){drv__road_names[road], road == DRV__ROAD_MOTORWAY ? "3" : "2"};
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t drv__hash(uint64_t a, uint64_t b)
{
    return splitmix(a ^ splitmix(b));
}

uint64_t drv__hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return drv__hash(drv__hash(a, b), c);
}

double drv__unit(uint64_t h)
{
    return (double)(h >> 11) * 0x1.0p-53;
}

double drv__rng_uniform(struct drv__rng *rng)
{
    rng->state += 0x9e3779b97f4a7c15ULL;
    return drv__unit(splitmix(rng->state));
}

double drv__rng_gauss(struct drv__rng *rng)
{
    double u1 = 1.0 - drv__rng_uniform(rng);
    double u2 = drv__rng_uniform(rng);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * SIM_PI * u2);
}

unsigned drv__rng_poisson(struct drv__rng *rng, double lambda, unsigned max)
{
    double x;

    if (!(lambda > 0.0))
        return 0;
    if (lambda < 30.0) {
        /* Knuth: count uniforms until their product drops below e^-lambda. */
        double limit = exp(-lambda), p = drv__rng_uniform(rng);
        unsigned k = 0;

        while (p > limit && k < max) {
            k++;
            p *= drv__rng_uniform(rng);
        }
        return k;
    }
    x = lambda + sqrt(lambda) * drv__rng_gauss(rng) + 0.5;
    return x < 0.0 ? 0 : x > max ? max : (unsigned)x;
}

double drv__gauss_at(uint64_t seed, uint64_t stream, uint64_t position)
{
    struct drv__rng rng = {drv__hash3(seed, stream, position)};

    return drv__rng_gauss(&rng);
}

double drv__smooth(uint64_t seed, uint64_t stream, double t_s, double period_s)
{
    double x = t_s / period_s, k = floor(x), f = x - k;
    int64_t knot = (int64_t)k;
    double a = 2.0 * drv__unit(drv__hash3(seed, stream, (uint64_t)knot)) - 1.0;
    double b = 2.0 * drv__unit(drv__hash3(seed, stream, (uint64_t)(knot + 1))) - 1.0;
    double s = f * f * (3.0 - 2.0 * f);

    return a + (b - a) * s;
}

double drv__bump(double x, double centre, double width)
{
    double d = (x - centre) / width;

    return exp(-0.5 * d * d);
}

double drv__smoothstep(double x, double lo, double hi)
{
    double t = drv__clamp((x - lo) / (hi - lo), 0.0, 1.0);

    return t * t * (3.0 - 2.0 * t);
}

double drv__clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

void drv__local_time(uint64_t now_ms, int32_t utc_offset_min, struct drv__local *lt)
{
    int64_t local_ms = (int64_t)now_ms + (int64_t)utc_offset_min * 60000;
    int64_t day = local_ms / DRV__MS_PER_DAY;
    int64_t ms_of_day;

    if (local_ms % DRV__MS_PER_DAY < 0)
        day--;
    ms_of_day = local_ms - day * DRV__MS_PER_DAY;
    lt->day = day;
    lt->weekday = (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday */
    lt->hour = (double)ms_of_day / 3600000.0;
    lt->day_of_year = fmod((double)day + lt->hour / 24.0, 365.2425);
    lt->t_s = (double)local_ms / 1000.0;
}

double drv__traffic_demand(enum drv__road road, const struct drv__local *lt)
{
    double h = lt->hour, d;

    if (lt->weekday < 5) {
        if (road == DRV__ROAD_MOTORWAY)
            d = 0.10 + 0.85 * drv__bump(h, 7.6, 1.3) + 0.80 * drv__bump(h, 17.0, 1.8) +
                0.45 * drv__bump(h, 12.5, 3.0);
        else
            d = 0.04 + 0.96 * drv__bump(h, 8.0, 1.1) + 0.85 * drv__bump(h, 17.4, 1.5) +
                0.45 * drv__bump(h, 12.8, 2.6);
        /* Friday evenings start earlier and last longer. */
        if (lt->weekday == 4)
            d += 0.15 * drv__bump(h, 15.5, 2.0);
    } else {
        d = (road == DRV__ROAD_MOTORWAY ? 0.07 : 0.04) + 0.55 * drv__bump(h, 13.0, 3.2) +
            0.25 * drv__bump(h, 18.0, 2.0);
        if (lt->weekday == 6)
            d *= 0.8;
    }
    return drv__clamp(d, 0.0, 1.0);
}

double drv__air_temperature(uint64_t seed, const struct drv__local *lt)
{
    double season = -cos(2.0 * SIM_PI * (lt->day_of_year - 15.0) / 365.2425); /* -1 mid-January */
    double mean_c = 11.0 + 9.0 * season;
    double swing_c = 4.0 + 2.0 * season;

    return mean_c + swing_c * cos(2.0 * SIM_PI * (lt->hour - 15.0) / 24.0) +
           3.0 * drv__smooth(seed, STREAM_TEMP_WEATHER, lt->t_s, 3.0 * 86400.0) +
           0.8 * drv__smooth(seed, STREAM_TEMP_SHORT, lt->t_s, 5400.0);
}

/* The state of one sim driver instance: its kind, the common and the kind's parameters. */
struct sim_state {
    const struct drv__sim_kind *kind;
    struct drv__sim_common common;
    FILE *vehicles; /* common.vehicles_file, open for appending; NULL without one */
    alignas(max_align_t) unsigned char cfg[];
};

static const struct drv__pspec common_spec[] = {
    {"seed", DRV__P_U64, offsetof(struct drv__sim_common, seed), 0, 0, 0x1p64, NULL, "1",
     "what makes one simulated sensor differ from another"},
    {"utc_offset_min", DRV__P_I32, offsetof(struct drv__sim_common, utc_offset_min), 0, -720, 840,
     NULL, "0", "local time minus UTC, for the daily and weekly rhythm"},
    {"fault_rate", DRV__P_DOUBLE, offsetof(struct drv__sim_common, fault_rate), 0, 0, 144, NULL,
     "0", "simulated outages per day, each 10 minutes long"},
    {"vehicles_file", DRV__P_STR, offsetof(struct drv__sim_common, vehicles_file),
     sizeof(((struct drv__sim_common *)0)->vehicles_file), 0, 0, NULL, "",
     "append every listed vehicle to this file (time_ms lane speed_kmh length_m class headway_ms)"},
};

int drv__sim_open(const struct drv__sim_kind *kind, const struct drv_param *params, size_t n,
                  void **state, struct drv_diag *diag)
{
    struct sim_state *s = calloc(1, sizeof(*s) + kind->cfg_bytes);
    struct drv__pgroup groups[2];
    int rc;

    if (!s) {
        drv__fail(diag, "out of memory");
        return -ENOMEM;
    }
    s->kind = kind;
    groups[0] =
        (struct drv__pgroup){common_spec, sizeof(common_spec) / sizeof(common_spec[0]), &s->common};
    groups[1] = (struct drv__pgroup){kind->spec, kind->n_spec, s->cfg};
    rc = drv__params_parse(groups, 2, params, n, diag);
    if (rc == 0 && kind->prepare)
        rc = kind->prepare(s->cfg, diag);
    if (rc == 0 && s->common.vehicles_file[0] &&
        !(s->vehicles = fopen(s->common.vehicles_file, "a"))) {
        rc = -errno;
        drv__fail(diag, "vehicles_file %s: %s", s->common.vehicles_file, strerror(errno));
    }
    if (rc)
        goto out;
    *state = s;
    s = NULL;
out:
    free(s);
    return rc;
}

int drv__sim_sample(void *state, uint64_t now_ms, uint32_t interval_ms, struct drv_sample *out)
{
    const struct sim_state *s = state;
    size_t n_readings = out->n_readings, n_vehicles = out->n_vehicles;
    int rc = s->kind->sample(&s->common, s->cfg, now_ms, interval_ms, out);
    uint64_t h;

    if (rc) {
        out->n_readings = n_readings;
        out->n_vehicles = n_vehicles;
        return rc;
    }
    if (s->common.fault_rate > 0.0) {
        h = drv__hash3(s->common.seed, STREAM_FAULT, now_ms / FAULT_BUCKET_MS);
        if (drv__unit(h) < s->common.fault_rate * (double)FAULT_BUCKET_MS / DRV__MS_PER_DAY) {
            for (size_t i = n_readings; i < out->n_readings; i++) {
                out->readings[i].quality = (h & 3u) == 0 ? CITYGATE__V1__QUALITY__BAD_GONE
                                                         : CITYGATE__V1__QUALITY__BAD_TIMEOUT;
                out->readings[i].value = 0.0;
            }
            out->n_vehicles = n_vehicles;
        }
    }
    for (size_t i = n_vehicles; s->vehicles && i < out->n_vehicles; i++) {
        const struct drv_vehicle *v = &out->vehicles[i];
        fprintf(s->vehicles, "%" PRId64 " %" PRIu32 " %.9g %.9g %d %" PRIu32 "\n",
                (int64_t)now_ms + v->offset_ms, v->lane, (double)v->speed_kmh, (double)v->length_m,
                (int)v->vehicle_class, v->headway_ms);
    }
    return 0;
}

void drv__sim_close(void *state)
{
    struct sim_state *s = state;
    if (s && s->vehicles)
        fclose(s->vehicles);
    free(state);
}
