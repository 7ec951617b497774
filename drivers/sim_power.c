/*
 * sim_power.c -- "sim-power": a three-phase energy meter (total active
 * power, the energy register, and voltage and current per phase as lanes 1
 * to 3).
 *
 * The energy register must never run backwards and must be computable from
 * now_ms alone, without integrating every sample since boot. So the mean
 * load is a piecewise-linear curve over quarter hours, one for working days
 * and one for weekends, and open() tabulates its running integral once: the
 * register at any time is its commissioning value, plus whole weeks and
 * whole days since the simulated installation date times their energy, plus
 * today's table entry and the part of the current quarter hour. That is O(1)
 * per sample and exactly consistent with the power curve it integrates.
 * Reported power adds minute-scale wander and measurement scatter to the
 * curve; that noise is zero-mean and left out of the register. Voltage sags a
 * little with load, and the phases carry slightly unequal shares.
 */
#include <math.h>
#include <stddef.h>

#include "sim.h"

#define KNOTS 96 /* quarter hours per day */
#define STREAM_E0 0xe0u
#define STREAM_WANDER 0x3a4du
#define STREAM_SCATTER 0x5c4u
#define STREAM_PHASE 0x9a5eu
#define STREAM_VOLTAGE 0x401u
#define NOMINAL_V 230.0
#define POWER_FACTOR 0.95

enum power_profile { POWER_COMMERCIAL, POWER_RESIDENTIAL };

static const char *const power_profiles[] = {"commercial", "residential", NULL};

struct power_cfg {
    int profile;
    double base_kw;
    double peak_kw;
    /* derived by prepare(): [0] working days, [1] weekends */
    double knot_kw[2][KNOTS + 1];
    double cum_kwh[2][KNOTS + 1];
};

static const struct drv__pspec power_spec[] = {
    {"profile", DRV__P_CHOICE, offsetof(struct power_cfg, profile), 0, 0, 0, power_profiles,
     "commercial", "commercial (office hours) or residential (morning and evening peaks)"},
    {"base_kw", DRV__P_DOUBLE, offsetof(struct power_cfg, base_kw), 0, 0, 50000, NULL, "20",
     "load at night"},
    {"peak_kw", DRV__P_DOUBLE, offsetof(struct power_cfg, peak_kw), 0, 0, 50000, NULL, "120",
     "load at the daily peak"},
};

/* The shape of the load, 0 ... 1, at an hour of a working day or a weekend day. */
static double load_shape(int profile, bool weekend, double h)
{
    if (profile == POWER_RESIDENTIAL)
        return weekend ? 0.15 + 0.45 * drv__bump(h, 10.0, 1.8) + 0.8 * drv__bump(h, 19.0, 2.0)
                       : 0.12 + 0.35 * drv__bump(h, 7.3, 0.9) + 0.85 * drv__bump(h, 19.5, 1.8);
    if (weekend)
        return 0.08 + 0.05 * drv__bump(h, 12.0, 3.0);
    return 0.05 + 0.95 * drv__smoothstep(h, 6.5, 8.5) * (1.0 - drv__smoothstep(h, 17.5, 20.0)) *
                      (1.0 - 0.1 * drv__bump(h, 12.5, 0.7));
}

static int power_prepare(void *cfg_, struct drv_diag *diag)
{
    struct power_cfg *c = cfg_;

    if (c->peak_kw < c->base_kw)
        return drv__fail(diag, "parameter peak_kw: below base_kw");
    for (int w = 0; w < 2; w++) {
        c->cum_kwh[w][0] = 0.0;
        for (int q = 0; q <= KNOTS; q++) {
            c->knot_kw[w][q] =
                c->base_kw + (c->peak_kw - c->base_kw) * load_shape(c->profile, w, q * 0.25);
            if (q > 0)
                c->cum_kwh[w][q] =
                    c->cum_kwh[w][q - 1] + 0.125 * (c->knot_kw[w][q - 1] + c->knot_kw[w][q]);
        }
    }
    return 0;
}

/* Mean power at hour h of a day kind, and the energy since midnight. */
static double curve_at(const struct power_cfg *c, int weekend, double h, double *kwh_today)
{
    int q = (int)(h * 4.0);
    double f, p;

    q = q < 0 ? 0 : q >= KNOTS ? KNOTS - 1 : q;
    f = h * 4.0 - q;
    p = c->knot_kw[weekend][q] + f * (c->knot_kw[weekend][q + 1] - c->knot_kw[weekend][q]);
    *kwh_today = c->cum_kwh[weekend][q] + 0.125 * f * (c->knot_kw[weekend][q] + p);
    return p;
}

/* The meter register at a local time, in kWh. */
static double energy_at(const struct power_cfg *c, uint64_t seed, const struct drv__local *lt,
                        const struct drv__local *epoch)
{
    double e0 = 10000.0 + 90000.0 * drv__unit(drv__hash(seed, STREAM_E0));
    double week_kwh = 5.0 * c->cum_kwh[0][KNOTS] + 2.0 * c->cum_kwh[1][KNOTS];
    int64_t days = lt->day - epoch->day, weeks, rest;
    double kwh_today, e;

    if (days < 0)
        return e0;
    weeks = days / 7;
    rest = days % 7;
    e = e0 + (double)weeks * week_kwh;
    for (int64_t i = 0; i < rest; i++)
        e += c->cum_kwh[(epoch->weekday + i) % 7 >= 5][KNOTS];
    curve_at(c, lt->weekday >= 5, lt->hour, &kwh_today);
    return e + kwh_today;
}

static int power_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                        uint32_t interval_ms, struct drv_sample *out)
{
    const struct power_cfg *c = cfg;
    uint64_t seed = common->seed;
    struct drv__local lt, epoch;
    double kwh_today, p_kw, load, share_sum = 0.0, share[3], volts[3];
    int rc;

    (void)interval_ms;
    drv__local_time(now_ms, common->utc_offset_min, &lt);
    drv__local_time(DRV__SIM_EPOCH_MS, common->utc_offset_min, &epoch);
    p_kw = curve_at(c, lt.weekday >= 5, lt.hour, &kwh_today);
    p_kw *= 1.0 + 0.04 * drv__smooth(seed, STREAM_WANDER, lt.t_s, 600.0) +
            0.01 * drv__gauss_at(seed, STREAM_SCATTER, now_ms);
    p_kw = fmax(0.0, p_kw);
    load = c->peak_kw > 0 ? p_kw / c->peak_kw : 0.0;

    const struct drv__qv qv[] = {
        {CITYGATE__V1__QUANTITY__POWER, p_kw},
        {CITYGATE__V1__QUANTITY__ENERGY, energy_at(c, seed, &lt, &epoch)},
    };
    rc = drv__emit_list(out, qv, sizeof(qv) / sizeof(qv[0]));
    for (int ph = 0; ph < 3; ph++) {
        share[ph] = 1.0 + 0.12 * (drv__unit(drv__hash3(seed, STREAM_PHASE, ph)) - 0.5);
        share_sum += share[ph];
        volts[ph] =
            NOMINAL_V * (1.0 + 0.012 * drv__smooth(seed, STREAM_VOLTAGE + ph, lt.t_s, 900.0)) -
            4.0 * load + 0.3 * drv__gauss_at(seed, STREAM_VOLTAGE + ph, now_ms);
    }
    for (int ph = 0; ph < 3 && !rc; ph++)
        rc = drv__emit(out, CITYGATE__V1__QUANTITY__VOLTAGE, volts[ph], CITYGATE__V1__QUALITY__GOOD,
                       ph + 1, CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED);
    for (int ph = 0; ph < 3 && !rc; ph++)
        rc = drv__emit(out, CITYGATE__V1__QUANTITY__CURRENT,
                       p_kw * 1000.0 * share[ph] / share_sum / (volts[ph] * POWER_FACTOR),
                       CITYGATE__V1__QUALITY__GOOD, ph + 1,
                       CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED);
    return rc;
}

DRV__SIM_DRIVER(drv__sim_power, "sim-power", struct power_cfg, power_spec, power_prepare,
                power_sample);
