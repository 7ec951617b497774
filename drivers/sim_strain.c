/*
 * sim_strain.c -- "sim-strain": structural monitoring on a road bridge:
 * strain gauges (one reading per channel, lane = channel), the structure's
 * temperature, vibration (peak particle velocity) and tilt.
 *
 * The deck follows the air temperature two hours late, because concrete and
 * steel are slow to warm. Each gauge sees that thermal strain through its own
 * restraint (how much the structure stops it from expanding) around its own
 * installation offset, plus the live load of the traffic above it (sagging
 * for gauges on odd channels, hogging on even ones), which scatters more in
 * short intervals, plus creep that grows year by year from the simulated
 * installation date. Vibration rises with traffic and is log-normally
 * spread, as heavy vehicles dominate it. Tilt is a small thermal bow with a
 * seasonal wander.
 */
#include <math.h>
#include <stddef.h>

#include "sim.h"

#define MAX_CHANNELS 16
#define STREAM_GAUGE 0x9a09eu
#define STREAM_LOAD 0x10adu
#define STREAM_VIBRATION 0x71b3u
#define STREAM_TILT 0x7117u

struct strain_cfg {
    uint32_t channels;
    int road;
    double thermal_ue_per_c;
    double creep_ue_per_year;
    double live_load_ue;
};

static const struct drv__pspec strain_spec[] = {
    {"channels", DRV__P_U32, offsetof(struct strain_cfg, channels), 0, 1, MAX_CHANNELS, NULL, "2",
     "strain gauges, reported as lanes 1 ... channels"},
    {"profile", DRV__P_CHOICE, offsetof(struct strain_cfg, road), 0, 0, 0, drv__road_names, "urban",
     "the traffic on the bridge: urban or motorway"},
    {"thermal_ue_per_c", DRV__P_DOUBLE, offsetof(struct strain_cfg, thermal_ue_per_c), 0, 0, 50,
     NULL, "11.5", "free thermal strain, microstrain per degC"},
    {"creep_ue_per_year", DRV__P_DOUBLE, offsetof(struct strain_cfg, creep_ue_per_year), 0, -200,
     200, NULL, "15", "creep and shrinkage, microstrain per year"},
    {"live_load_ue", DRV__P_DOUBLE, offsetof(struct strain_cfg, live_load_ue), 0, 0, 1000, NULL,
     "40", "mean strain from traffic at peak demand"},
};

static int strain_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                         uint32_t interval_ms, struct drv_sample *out)
{
    const struct strain_cfg *c = cfg;
    uint64_t seed = common->seed;
    double scatter = 1.0 / sqrt(fmax(1.0, interval_ms / 1000.0));
    struct drv__local lt, lagged;
    double d, deck_c, years, vibration, tilt;
    int rc = 0;

    drv__local_time(now_ms, common->utc_offset_min, &lt);
    drv__local_time(now_ms - 2 * 3600000ULL, common->utc_offset_min, &lagged);
    d = drv__traffic_demand((enum drv__road)c->road, &lt);
    deck_c = drv__air_temperature(seed, &lagged);
    years = fmax(0.0, ((double)now_ms - (double)DRV__SIM_EPOCH_MS) / (365.2425 * DRV__MS_PER_DAY));

    for (uint32_t ch = 1; ch <= c->channels && !rc; ch++) {
        double offset_ue = 300.0 * (drv__unit(drv__hash3(seed, STREAM_GAUGE, ch)) - 0.5);
        double restraint = 0.3 + 0.4 * drv__unit(drv__hash3(seed, STREAM_GAUGE + 1, ch));
        double sign = ch % 2 ? 1.0 : -1.0;
        double load = c->live_load_ue * d *
                      (1.0 + 0.6 * scatter * drv__gauss_at(seed, STREAM_LOAD + ch, now_ms));
        double strain = offset_ue + restraint * c->thermal_ue_per_c * (deck_c - 15.0) +
                        sign * fmax(0.0, load) + c->creep_ue_per_year * years;

        rc = drv__emit(out, CITYGATE__V1__QUANTITY__STRAIN, drv__clamp(strain, -1e4, 1e4),
                       CITYGATE__V1__QUALITY__GOOD, ch,
                       CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED);
    }
    if (rc)
        return rc;
    vibration = (0.05 + 1.5 * d) * exp(0.4 * drv__gauss_at(seed, STREAM_VIBRATION, now_ms));
    tilt = 0.002 * (deck_c - 15.0) + 0.01 * drv__smooth(seed, STREAM_TILT, lt.t_s, 30 * 86400.0);
    const struct drv__qv qv[] = {
        {CITYGATE__V1__QUANTITY__TEMPERATURE, deck_c},
        {CITYGATE__V1__QUANTITY__VIBRATION, drv__clamp(vibration, 0.01, 1000.0)},
        {CITYGATE__V1__QUANTITY__TILT, tilt},
    };
    return drv__emit_list(out, qv, sizeof(qv) / sizeof(qv[0]));
}

DRV__SIM_DRIVER(drv__sim_strain, "sim-strain", struct strain_cfg, strain_spec, NULL, strain_sample);
