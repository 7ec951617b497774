/*
 * sim_noise.c -- "sim-noise": a roadside sound level meter reporting LAeq,
 * the equivalent continuous A-weighted level over the interval.
 *
 * Levels add as energies, not decibels, so the road's contribution is
 * interpolated in the energy domain between a night floor (night_dba, the
 * city's background) and day_dba at full traffic demand. On top come slow
 * changes (wind, road surface wetness) as smooth noise and loud events
 * (horns, sirens, a motorcycle pulling away): each minute of absolute time
 * holds one with probability event_rate_per_h / 60, 12 to 25 dB above the
 * traffic for 3 to 20 seconds. An event's energy counts in proportion to how
 * much of it the interval covers, which is what LAeq means. Short intervals
 * scatter more than long ones.
 */
#include <math.h>
#include <stddef.h>

#include "sim.h"

#define EVENT_BUCKET_MS 60000LL
#define STREAM_SLOW 0x510bu
#define STREAM_EVENT 0xe7e47u
#define STREAM_SCATTER 0x5ca7u

struct noise_cfg {
    int road;
    double night_dba;
    double day_dba;
    double event_rate_per_h;
};

static const struct drv__pspec noise_spec[] = {
    {"profile", DRV__P_CHOICE, offsetof(struct noise_cfg, road), 0, 0, 0, drv__road_names, "urban",
     "the road the meter listens to: urban or motorway"},
    {"night_dba", DRV__P_DOUBLE, offsetof(struct noise_cfg, night_dba), 0, 20, 100, NULL, "47",
     "background level with no traffic, dB(A)"},
    {"day_dba", DRV__P_DOUBLE, offsetof(struct noise_cfg, day_dba), 0, 20, 120, NULL, "71",
     "level at peak traffic, dB(A)"},
    {"event_rate_per_h", DRV__P_DOUBLE, offsetof(struct noise_cfg, event_rate_per_h), 0, 0, 60,
     NULL, "3", "loud events per hour"},
};

static double energy(double dba)
{
    return pow(10.0, dba / 10.0);
}

static int noise_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                        uint32_t interval_ms, struct drv_sample *out)
{
    const struct noise_cfg *c = cfg;
    int64_t end_ms = (int64_t)now_ms, span_ms = interval_ms ? interval_ms : 1000;
    int64_t start_ms = end_ms - span_ms;
    double p_event = c->event_rate_per_h / 60.0;
    struct drv__local lt;
    double d, base_dba, base_e, event_e = 0.0, laeq;

    drv__local_time(now_ms, common->utc_offset_min, &lt);
    d = drv__traffic_demand((enum drv__road)c->road, &lt);
    base_e = energy(c->night_dba) + (energy(c->day_dba) - energy(c->night_dba)) * d;
    base_dba = 10.0 * log10(base_e) + 1.5 * drv__smooth(common->seed, STREAM_SLOW, lt.t_s, 900.0);
    base_e = energy(base_dba);
    /* An event may start up to 20 s before the interval; look one bucket further back. */
    for (int64_t b = start_ms / EVENT_BUCKET_MS - 1; b <= end_ms / EVENT_BUCKET_MS; b++) {
        uint64_t h = drv__hash3(common->seed, STREAM_EVENT, (uint64_t)b);
        int64_t ev_start, ev_end, overlap;

        if (drv__unit(h) >= p_event)
            continue;
        ev_start = b * EVENT_BUCKET_MS + (int64_t)(drv__unit(drv__hash(h, 1)) * EVENT_BUCKET_MS);
        ev_end = ev_start + 3000 + (int64_t)(drv__unit(drv__hash(h, 2)) * 17000.0);
        overlap = (ev_end < end_ms ? ev_end : end_ms) - (ev_start > start_ms ? ev_start : start_ms);
        if (overlap > 0)
            event_e += energy(base_dba + 12.0 + 13.0 * drv__unit(drv__hash(h, 3))) *
                       (double)overlap / (double)span_ms;
    }
    laeq = 10.0 * log10(base_e + event_e) +
           2.5 / sqrt(span_ms / 1000.0) * drv__gauss_at(common->seed, STREAM_SCATTER, now_ms);
    return drv__emit(out, CITYGATE__V1__QUANTITY__NOISE, drv__clamp(laeq, 0.0, 140.0),
                     CITYGATE__V1__QUALITY__GOOD, 0,
                     CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED);
}

DRV__SIM_DRIVER(drv__sim_noise, "sim-noise", struct noise_cfg, noise_spec, NULL, noise_sample);
