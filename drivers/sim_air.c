/*
 * sim_air.c -- "sim-air": a roadside air-quality station (PM2.5, PM10, NO2,
 * O3, temperature, humidity).
 *
 * Each pollutant is a product of the causes a station actually sees:
 * traffic (the same diurnal demand as sim-traffic), the mixing height of the
 * air (concentrations build up under night-time inversions and thin out in
 * the afternoon), and pollution episodes of a few days from smooth noise.
 * Ozone follows sunshine and is titrated by NO2, so the two move against
 * each other as in real data; particles grow in humid air. The optical and
 * electrochemical cells drift by drift_pct_per_day until the next
 * calibration (every calibration_days, counted from the simulated
 * installation date), which is the slow error a gateway's plausibility rules
 * are meant to catch. Measurement noise shrinks with longer intervals.
 */
#include <math.h>
#include <stddef.h>

#include "sim.h"

#define SIM_PI 3.14159265358979323846
#define STREAM_EPISODE 0xe915u
#define STREAM_EPISODE_SHORT 0xe916u
#define STREAM_HUMIDITY 0x4a1du
#define STREAM_O3 0x03u
#define STREAM_NOISE 0x5e50u

struct air_cfg {
    int road;
    double pm25_base;
    double no2_base;
    double drift_pct_per_day;
    uint32_t calibration_days;
};

static const struct drv__pspec air_spec[] = {
    {"profile", DRV__P_CHOICE, offsetof(struct air_cfg, road), 0, 0, 0, drv__road_names, "urban",
     "the road next to the station: urban or motorway"},
    {"pm25_base", DRV__P_DOUBLE, offsetof(struct air_cfg, pm25_base), 0, 0, 200, NULL, "9",
     "background PM2.5 in ug/m3"},
    {"no2_base", DRV__P_DOUBLE, offsetof(struct air_cfg, no2_base), 0, 0, 400, NULL, "22",
     "background NO2 in ug/m3"},
    {"drift_pct_per_day", DRV__P_DOUBLE, offsetof(struct air_cfg, drift_pct_per_day), 0, -5, 5,
     NULL, "0.03", "sensor drift between calibrations, % of the value per day"},
    {"calibration_days", DRV__P_U32, offsetof(struct air_cfg, calibration_days), 0, 1, 3650, NULL,
     "90", "days between calibrations"},
};

/* A value with relative measurement noise that averages out over the interval. */
static double measured(uint64_t seed, uint64_t stream, uint64_t now_ms, uint32_t interval_ms,
                       double value, double rel_sd)
{
    double sd = rel_sd / sqrt(fmax(1.0, interval_ms / 1000.0));

    return fmax(0.0, value * (1.0 + sd * drv__gauss_at(seed, STREAM_NOISE + stream, now_ms)));
}

static int air_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                      uint32_t interval_ms, struct drv_sample *out)
{
    const struct air_cfg *c = cfg;
    uint64_t seed = common->seed;
    struct drv__local lt, epoch;
    double d, temp_c, rh, episode, mixing, summer, sun, drift, no2, o3, pm25, pm10;
    int64_t days_since_cal;

    drv__local_time(now_ms, common->utc_offset_min, &lt);
    drv__local_time(DRV__SIM_EPOCH_MS, common->utc_offset_min, &epoch);
    d = drv__traffic_demand((enum drv__road)c->road, &lt);
    temp_c = drv__air_temperature(seed, &lt);
    rh = 68.0 + 17.0 * cos(2.0 * SIM_PI * (lt.hour - 5.0) / 24.0) - 0.6 * (temp_c - 11.0) +
         10.0 * drv__smooth(seed, STREAM_HUMIDITY, lt.t_s, 2.0 * 86400.0);
    rh = drv__clamp(rh, 15.0, 100.0);
    episode = exp(0.45 * drv__smooth(seed, STREAM_EPISODE, lt.t_s, 2.5 * 86400.0) +
                  0.25 * drv__smooth(seed, STREAM_EPISODE_SHORT, lt.t_s, 8.0 * 3600.0));
    mixing = 1.0 + 0.35 * cos(2.0 * SIM_PI * (lt.hour - 3.0) / 24.0);
    summer = 0.5 - 0.5 * cos(2.0 * SIM_PI * (lt.day_of_year - 15.0) / 365.2425);
    sun = drv__bump(lt.hour, 13.5, 2.8) * (0.4 + 0.6 * summer);
    days_since_cal = lt.day - epoch.day;
    days_since_cal = days_since_cal < 0 ? 0 : days_since_cal % c->calibration_days;
    drift = 1.0 + c->drift_pct_per_day / 100.0 * (double)days_since_cal;

    no2 = c->no2_base * (0.35 + 1.5 * d) * mixing * episode;
    o3 = fmax(2.0, 25.0 + 70.0 * sun - 0.35 * no2 +
                       10.0 * drv__smooth(seed, STREAM_O3, lt.t_s, 86400.0));
    pm25 = c->pm25_base * episode * (0.7 + 0.5 * d) * sqrt(mixing) *
           (rh > 80.0 ? 1.0 + 0.02 * (rh - 80.0) : 1.0);
    pm10 = pm25 * (1.45 + 0.25 * drv__smooth(seed, STREAM_EPISODE_SHORT + 1, lt.t_s, 86400.0)) +
           4.0 * d;

    const struct drv__qv qv[] = {
        {CITYGATE__V1__QUANTITY__PM2_5, measured(seed, 1, now_ms, interval_ms, pm25 * drift, 0.10)},
        {CITYGATE__V1__QUANTITY__PM10, measured(seed, 2, now_ms, interval_ms, pm10 * drift, 0.10)},
        {CITYGATE__V1__QUANTITY__NO2, measured(seed, 3, now_ms, interval_ms, no2 * drift, 0.05)},
        {CITYGATE__V1__QUANTITY__O3, measured(seed, 4, now_ms, interval_ms, o3 * drift, 0.05)},
        {CITYGATE__V1__QUANTITY__TEMPERATURE,
         temp_c + 0.1 * drv__gauss_at(seed, STREAM_NOISE + 5, now_ms)},
        {CITYGATE__V1__QUANTITY__HUMIDITY,
         drv__clamp(rh + 0.5 * drv__gauss_at(seed, STREAM_NOISE + 6, now_ms), 0, 100)},
    };
    return drv__emit_list(out, qv, sizeof(qv) / sizeof(qv[0]));
}

DRV__SIM_DRIVER(drv__sim_air, "sim-air", struct air_cfg, air_spec, NULL, air_sample);
