/*
 * sim_tunnel.c -- "sim-tunnel": a road tunnel's air (CO, visibility) and its
 * jet fans (one FAN_STATE reading per fan, lane = fan number).
 *
 * Exhaust builds up with traffic and during still-air episodes; the
 * ventilation control switches fans on in stages as CO rises (none below
 * 12 ppm, all above 47 ppm) and every running fan dilutes the air, so the
 * CO that is reported is what remains after ventilation, as a real sensor
 * sees it. Fans blow with the tidal flow: forward (1) in the morning, reverse
 * (2) from 13:00 local time. A fan can fail for a whole day (state 3) at
 * fan_fault_rate per fan and day; the controller then starts the next one.
 * Visibility (extinction, 1/km) follows the soot that comes with the CO.
 */
#include <math.h>
#include <stddef.h>

#include "sim.h"

#define MAX_FANS 16
#define STREAM_STILL_AIR 0x571u
#define STREAM_FAN_FAULT 0xfa4u
#define STREAM_CO 0xc0u
#define STREAM_SOOT 0x5007u

struct tunnel_cfg {
    uint32_t fans;
    int road;
    double fan_fault_rate;
};

static const struct drv__pspec tunnel_spec[] = {
    {"fans", DRV__P_U32, offsetof(struct tunnel_cfg, fans), 0, 0, MAX_FANS, NULL, "4",
     "jet fans, reported as lanes 1 ... fans"},
    {"profile", DRV__P_CHOICE, offsetof(struct tunnel_cfg, road), 0, 0, 0, drv__road_names, "urban",
     "the traffic through the tunnel: urban or motorway"},
    {"fan_fault_rate", DRV__P_DOUBLE, offsetof(struct tunnel_cfg, fan_fault_rate), 0, 0, 1, NULL,
     "0.01", "probability that a fan is out of order on a given day"},
};

static int tunnel_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                         uint32_t interval_ms, struct drv_sample *out)
{
    const struct tunnel_cfg *c = cfg;
    uint64_t seed = common->seed;
    bool faulty[MAX_FANS];
    uint32_t n_ok = 0, n_on, started = 0;
    struct drv__local lt;
    double d, co_raw, co, k;
    int rc;

    (void)interval_ms;
    drv__local_time(now_ms, common->utc_offset_min, &lt);
    d = drv__traffic_demand((enum drv__road)c->road, &lt);
    for (uint32_t f = 0; f < c->fans; f++) {
        faulty[f] =
            drv__unit(drv__hash3(seed, STREAM_FAN_FAULT + f, (uint64_t)lt.day)) < c->fan_fault_rate;
        n_ok += !faulty[f];
    }
    co_raw = (2.0 + 55.0 * pow(d, 1.3)) *
                 exp(0.3 * drv__smooth(seed, STREAM_STILL_AIR, lt.t_s, 6.0 * 3600.0)) +
             0.8 * drv__gauss_at(seed, STREAM_CO, now_ms);
    co_raw = fmax(0.0, co_raw);
    n_on = (uint32_t)ceil(n_ok * drv__clamp((co_raw - 12.0) / 35.0, 0.0, 1.0));
    co = co_raw * (1.0 - (c->fans ? 0.55 * n_on / c->fans : 0.0));
    k = fmax(0.05, 0.3 + 0.07 * co + 0.1 * drv__gauss_at(seed, STREAM_SOOT, now_ms));

    const struct drv__qv qv[] = {
        {CITYGATE__V1__QUANTITY__TUNNEL_CO, co},
        {CITYGATE__V1__QUANTITY__TUNNEL_VISIBILITY, fmin(k, 100.0)},
    };
    rc = drv__emit_list(out, qv, sizeof(qv) / sizeof(qv[0]));
    for (uint32_t f = 0; f < c->fans && !rc; f++) {
        double state = 0.0;

        if (faulty[f])
            state = 3.0;
        else if (started < n_on) {
            started++;
            state = lt.hour < 13.0 ? 1.0 : 2.0;
        }
        rc = drv__emit(out, CITYGATE__V1__QUANTITY__FAN_STATE, state, CITYGATE__V1__QUALITY__GOOD,
                       f + 1, CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED);
    }
    return rc;
}

DRV__SIM_DRIVER(drv__sim_tunnel, "sim-tunnel", struct tunnel_cfg, tunnel_spec, NULL, tunnel_sample);
