/*
 * sim_parking.c -- "sim-parking": a car park's occupied and free spaces.
 *
 * The occupancy curve depends on what the car park serves: an office park
 * fills between 7 and 9 on weekdays and empties between 16 and 19, a retail
 * park builds up from opening time with a Saturday high and a quiet Sunday,
 * a residential garage is full at night and half empty during working
 * hours. Day-to-day variation and minute-scale churn are smooth noise, so
 * consecutive samples move like a real count instead of jumping. Occupied
 * plus free always equals the capacity.
 */
#include <math.h>
#include <stddef.h>

#include "sim.h"

#define STREAM_DAY 0xda9u
#define STREAM_CHURN 0xc4u

enum parking_profile { PARKING_OFFICE, PARKING_RETAIL, PARKING_RESIDENTIAL };

static const char *const parking_profiles[] = {"office", "retail", "residential", NULL};

struct parking_cfg {
    uint32_t capacity;
    int profile;
};

static const struct drv__pspec parking_spec[] = {
    {"capacity", DRV__P_U32, offsetof(struct parking_cfg, capacity), 0, 1, 100000, NULL, "400",
     "spaces"},
    {"profile", DRV__P_CHOICE, offsetof(struct parking_cfg, profile), 0, 0, 0, parking_profiles,
     "office", "office, retail or residential"},
};

/* Expected share of spaces taken at a local time. */
static double parking_share(int profile, const struct drv__local *lt)
{
    double h = lt->hour;
    bool weekend = lt->weekday >= 5;

    switch (profile) {
    case PARKING_RETAIL: {
        double open = drv__smoothstep(h, 8.5, 12.0) * (1.0 - drv__smoothstep(h, 19.0, 21.0));
        double scale = lt->weekday == 5 ? 1.2 : lt->weekday == 6 ? 0.55 : 0.9;
        return 0.04 + scale * (0.65 * open + 0.12 * drv__bump(h, 17.5, 1.5));
    }
    case PARKING_RESIDENTIAL:
        return weekend ? 0.88 - 0.25 * drv__bump(h, 14.0, 3.0)
                       : 0.9 - 0.45 * drv__smoothstep(h, 6.5, 9.0) *
                                   (1.0 - drv__smoothstep(h, 16.5, 19.5));
    default:
        return weekend ? 0.06 + 0.06 * drv__bump(h, 11.0, 2.5)
                       : 0.06 + 0.86 * drv__smoothstep(h, 6.5, 9.5) *
                                    (1.0 - drv__smoothstep(h, 15.5, 19.0));
    }
}

static int parking_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                          uint32_t interval_ms, struct drv_sample *out)
{
    const struct parking_cfg *c = cfg;
    struct drv__local lt;
    double share, occupied;

    (void)interval_ms;
    drv__local_time(now_ms, common->utc_offset_min, &lt);
    share = parking_share(c->profile, &lt) *
                (1.0 + 0.06 * drv__smooth(common->seed, STREAM_DAY, lt.t_s, 86400.0)) +
            0.025 * drv__smooth(common->seed, STREAM_CHURN, lt.t_s, 1200.0);
    occupied = round(drv__clamp(share, 0.0, 1.0) * c->capacity);
    const struct drv__qv qv[] = {
        {CITYGATE__V1__QUANTITY__PARKING_OCCUPIED, occupied},
        {CITYGATE__V1__QUANTITY__PARKING_FREE, c->capacity - occupied},
    };
    return drv__emit_list(out, qv, sizeof(qv) / sizeof(qv[0]));
}

DRV__SIM_DRIVER(drv__sim_parking, "sim-parking", struct parking_cfg, parking_spec, NULL,
                parking_sample);
