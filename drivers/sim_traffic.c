/*
 * sim_traffic.c -- "sim-traffic": induction-loop detectors on 1 to 16 lanes.
 *
 * The road is simulated vehicle by vehicle, and everything the detector
 * reports is computed from those vehicles: volume is their count, speed their
 * mean spot speed, occupancy the share of the interval a vehicle stood over
 * the loop ((length + loop length) / speed), headway the mean gap between
 * them. The per-vehicle records and the counts therefore always agree.
 * Each record carries its headway: the time since the previous vehicle of
 * its lane passed (front to front), looked for up to HEADWAY_MAX_MS back,
 * across samples; 0 (unknown) when none passed in that time, as a detector's
 * headway timer runs out.
 *
 * Arrivals are drawn per lane and per one-second slot of absolute time, from
 * a hash of (seed, lane, slot): a sample over (now - interval, now] replays
 * the slots it covers and keeps the vehicles whose detection time falls
 * inside. Sixty one-second samples thus contain exactly the vehicles of one
 * sixty-second sample, and any sample can be recomputed from (seed, now_ms,
 * interval_ms) alone. The cost is O(slots x lanes + vehicles) with no
 * allocation; a slot whose first random draw leaves its lane empty even at
 * full demand costs that one draw, so weeks of a quiet road stay cheap.
 *
 * The arrival rate follows drv__traffic_demand() (weekday and weekend
 * curves, UTC plus utc_offset_min), a day-to-day variation of a few percent,
 * and the lane: the nearside lane (lane 1) carries most. Speed falls as the
 * road fills. Incidents are decided per five-minute bucket at incident_rate
 * per day; one lasts 15 to 60 minutes, blocks a lane almost completely and
 * slows every lane to between half and a tenth of its speed, so occupancy
 * rises while volume falls, as on a real detector upstream of a crash. On
 * the blocked lane a queue stands over the loop between the few vehicles
 * that get past; that standing time is the one part of occupancy that no
 * listed vehicle accounts for. incident_start_ms forces one such incident
 * (severity 0.85, lane 1, 20 minutes, its queue built within 30 s), for
 * demos and tests that need a slowdown at a known time.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "sim.h"

#define MAX_LANES 16
#define SLOT_MS 1000
#define MAX_PER_SLOT 16
#define HEADWAY_MAX_MS 60000LL
#define INCIDENT_BUCKET_MS 300000LL
#define INCIDENT_MAX_MS 3600000LL
#define INCIDENT_CHUNK_MS 3600000LL /* the slots one list of incidents serves */
/* Buckets one list may span: INCIDENT_MAX_MS before a chunk, and the chunk. */
#define MAX_INCIDENTS ((INCIDENT_MAX_MS + INCIDENT_CHUNK_MS) / INCIDENT_BUCKET_MS + 2)
#define FORCED_INCIDENT_MS 1200000.0
#define STREAM_VEHICLES 0x7a1100u
#define STREAM_INCIDENT 0x1c1de7u
#define STREAM_DAY 0xda4u
#define N_CLASSES 6

struct traffic_class {
    Citygate__V1__VehicleClass cls;
    double share;
    double length_m, length_sd_m;
    double speed_factor;    /* of the stream speed */
    double fixed_speed_kmh; /* bicycles ignore the stream: 0 = follows it */
};

static const struct traffic_class urban_classes[N_CLASSES] = {
    {CITYGATE__V1__VEHICLE_CLASS__CAR, 0.80, 4.4, 0.35, 1.00, 0},
    {CITYGATE__V1__VEHICLE_CLASS__VAN, 0.08, 5.6, 0.50, 0.97, 0},
    {CITYGATE__V1__VEHICLE_CLASS__TRUCK, 0.04, 11.0, 3.0, 0.88, 0},
    {CITYGATE__V1__VEHICLE_CLASS__BUS, 0.03, 12.0, 0.8, 0.90, 0},
    {CITYGATE__V1__VEHICLE_CLASS__MOTORCYCLE, 0.04, 2.1, 0.15, 1.05, 0},
    {CITYGATE__V1__VEHICLE_CLASS__BICYCLE, 0.01, 1.8, 0.1, 0, 18.0},
};

static const struct traffic_class motorway_classes[N_CLASSES] = {
    {CITYGATE__V1__VEHICLE_CLASS__CAR, 0.74, 4.5, 0.35, 1.00, 0},
    {CITYGATE__V1__VEHICLE_CLASS__VAN, 0.09, 5.6, 0.50, 0.95, 0},
    {CITYGATE__V1__VEHICLE_CLASS__TRUCK, 0.15, 16.5, 2.5, 0.78, 0},
    {CITYGATE__V1__VEHICLE_CLASS__BUS, 0.01, 12.5, 0.8, 0.85, 0},
    {CITYGATE__V1__VEHICLE_CLASS__MOTORCYCLE, 0.01, 2.1, 0.15, 1.05, 0},
    {CITYGATE__V1__VEHICLE_CLASS__BICYCLE, 0.00, 1.8, 0.1, 0, 18.0},
};

struct traffic_cfg {
    uint32_t lanes;
    int road; /* enum drv__road */
    double incident_rate;
    double capacity_vph;
    double free_speed_kmh;
    double loop_length_m;
    bool class_counts;
    uint64_t incident_start_ms; /* a forced incident from here, ms since the epoch; 0 = none */
    /* derived by prepare() */
    const struct traffic_class *classes;
    double lane_volume[MAX_LANES]; /* share of capacity */
    double empty_below[MAX_LANES]; /* a slot's first draw at or under this: no vehicle */
    double lane_speed[MAX_LANES];  /* factor of the free speed */
};

static const struct drv__pspec traffic_spec[] = {
    {"lanes", DRV__P_U32, offsetof(struct traffic_cfg, lanes), 0, 1, MAX_LANES, NULL, "2",
     "lanes, 1 = nearside"},
    {"profile", DRV__P_CHOICE, offsetof(struct traffic_cfg, road), 0, 0, 0, drv__road_names,
     "urban", "urban (50 km/h, 900 veh/h/lane) or motorway (110 km/h, 1800 veh/h/lane)"},
    {"incident_rate", DRV__P_DOUBLE, offsetof(struct traffic_cfg, incident_rate), 0, 0, 48, NULL,
     "0.2", "incidents per day"},
    {"capacity_vph", DRV__P_DOUBLE, offsetof(struct traffic_cfg, capacity_vph), 0, 0, 3000, NULL,
     "0", "vehicles per hour and lane at peak; 0 = the profile's"},
    {"free_speed_kmh", DRV__P_DOUBLE, offsetof(struct traffic_cfg, free_speed_kmh), 0, 0, 200, NULL,
     "0", "speed on an empty road; 0 = the profile's"},
    {"loop_length_m", DRV__P_DOUBLE, offsetof(struct traffic_cfg, loop_length_m), 0, 0.5, 10, NULL,
     "2", "length of the detection zone"},
    {"class_counts", DRV__P_BOOL, offsetof(struct traffic_cfg, class_counts), 0, 0, 0, NULL,
     "false", "also report VEHICLE_CLASS_COUNT per lane and class"},
    {"incident_start_ms", DRV__P_U64, offsetof(struct traffic_cfg, incident_start_ms), 0, 0, 0x1p63,
     NULL, "0",
     "an incident from this time (ms since the epoch) for 20 minutes, at full strength after "
     "30 s; 0 = none"},
};

double drv_sim_free_speed_kmh(const char *profile)
{
    return strcmp(profile, "motorway") == 0 ? 110.0 : strcmp(profile, "urban") == 0 ? 50.0 : 0.0;
}

static int traffic_prepare(void *cfg_, struct drv_diag *diag)
{
    struct traffic_cfg *c = cfg_;
    bool motorway = c->road == DRV__ROAD_MOTORWAY;

    (void)diag;
    if (c->capacity_vph == 0.0)
        c->capacity_vph = motorway ? 1800.0 : 900.0;
    if (c->free_speed_kmh == 0.0)
        c->free_speed_kmh = drv_sim_free_speed_kmh(drv__road_names[c->road]);
    c->classes = motorway ? motorway_classes : urban_classes;
    for (uint32_t l = 0; l < MAX_LANES; l++) {
        c->lane_volume[l] = fmax(0.5, 1.0 - (motorway ? 0.1 : 0.15) * l);
        c->lane_speed[l] = motorway ? 0.92 + 0.07 * l : 1.0 + 0.02 * l;
        /*
         * draw_slot()'s mean at full demand and no incident, computed as it
         * computes it: an upper bound of every slot's. Knuth's method gives
         * no vehicle when its first uniform is at most e^-mean, so a first
         * draw under e^-bound (less a margin for exp()'s rounding) means no
         * vehicle whatever the road does; the normal approximation (a mean
         * of 30 and more) is never skipped.
         */
        double bound = c->capacity_vph * 1.0 * c->lane_volume[l] * 1.0 * SLOT_MS / 3600000.0;
        c->empty_below[l] = bound < 30.0 ? exp(-bound) * (1.0 - 1e-9) : -1.0;
    }
    return 0;
}

/* The state of the road during one slot, shared by its lanes. */
struct slot_state {
    double demand;
    double speed_factor;   /* incidents */
    double volume_factor;  /* incidents, lanes that stay open */
    uint32_t blocked_lane; /* 1-based, 0 = none */
    double blocked_volume_factor;
    double queue_share; /* of the time a queued vehicle stands on the blocked lane's loop */
};

/* Sets st for an incident of strength severity * ramp blocking lane (1-based). */
static void incident_set(struct slot_state *st, double severity, double ramp, uint32_t lane)
{
    double strength = severity * ramp;
    st->speed_factor = 1.0 - strength;
    st->volume_factor = 1.0 - 0.35 * strength;
    st->blocked_lane = lane;
    st->blocked_volume_factor = 1.0 - 0.9 * ramp;
    st->queue_share = 0.85 * strength;
}

/* A random incident, as drawn for the five-minute bucket it starts in. */
struct incident {
    int64_t start_ms, end_ms;
    double severity;
    uint32_t lane; /* 1-based */
};

/*
 * The random incidents that can be active at some time of [from_ms, to_ms]:
 * those drawn for the buckets from INCIDENT_MAX_MS before from_ms to to_ms,
 * in bucket order, at most cap (enough for INCIDENT_CHUNK_MS). Drawing them
 * once for a stretch of slots, instead of again for every slot, is what
 * keeps weeks of simulated seconds cheap; the draws are the same.
 */
static size_t incidents_between(const struct drv__sim_common *common, const struct traffic_cfg *c,
                                int64_t from_ms, int64_t to_ms, struct incident *out, size_t cap)
{
    double p_start = c->incident_rate * (double)INCIDENT_BUCKET_MS / DRV__MS_PER_DAY;
    size_t n = 0;

    if (p_start <= 0.0)
        return 0;
    for (int64_t b = from_ms / INCIDENT_BUCKET_MS - INCIDENT_MAX_MS / INCIDENT_BUCKET_MS;
         b <= to_ms / INCIDENT_BUCKET_MS && n < cap; b++) {
        uint64_t h = drv__hash3(common->seed, STREAM_INCIDENT, (uint64_t)b);
        struct incident *in = &out[n];

        if (drv__unit(h) >= p_start)
            continue;
        in->start_ms = b * INCIDENT_BUCKET_MS +
                       (int64_t)(drv__unit(drv__hash(h, 1)) * (double)INCIDENT_BUCKET_MS);
        in->end_ms = in->start_ms + (int64_t)((15.0 + 45.0 * drv__unit(drv__hash(h, 2))) * 60000.0);
        if (in->end_ms <= from_ms)
            continue;
        in->severity = 0.5 + 0.4 * drv__unit(drv__hash(h, 3));
        in->lane = 1 + (uint32_t)(drv__hash(h, 4) % c->lanes);
        n++;
    }
    return n;
}

/* The strongest incident active at t_ms, if any, of the forced one and the n random ones. */
static void incident_at(const struct traffic_cfg *c, const struct incident *list, size_t n,
                        int64_t t_ms, struct slot_state *st)
{
    double strongest = 0.0;

    st->speed_factor = st->volume_factor = st->blocked_volume_factor = 1.0;
    st->blocked_lane = 0;
    st->queue_share = 0.0;
    if (c->incident_start_ms) {
        /* The forced one (a demo's or a test's): severe, its queue built within 30 s. */
        double start = (double)c->incident_start_ms, end = start + FORCED_INCIDENT_MS;
        double ramp = drv__smoothstep((double)t_ms, start, start + 30000.0) *
                      (1.0 - drv__smoothstep((double)t_ms, end - 120000.0, end));
        if (ramp > 0.0) {
            strongest = 0.85 * ramp;
            incident_set(st, 0.85, ramp, 1);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct incident *in = &list[i];
        double start_ms = (double)in->start_ms, end_ms = (double)in->end_ms, ramp;

        if (t_ms < in->start_ms || t_ms >= in->end_ms)
            continue;
        /* Queues build within three minutes and clear over the last eight. */
        ramp = drv__smoothstep((double)t_ms, start_ms, start_ms + 180000.0) *
               (1.0 - drv__smoothstep((double)t_ms, end_ms - 480000.0, end_ms));
        if (in->severity * ramp <= strongest)
            continue;
        strongest = in->severity * ramp;
        incident_set(st, in->severity, ramp, in->lane);
    }
}

/* The demand on the road at t_ms (st->demand). */
static void slot_demand(const struct drv__sim_common *common, const struct traffic_cfg *c,
                        int64_t t_ms, struct slot_state *st)
{
    struct drv__local lt;

    drv__local_time((uint64_t)t_ms, common->utc_offset_min, &lt);
    st->demand = drv__traffic_demand((enum drv__road)c->road, &lt) *
                 (1.0 + 0.06 * drv__smooth(common->seed, STREAM_DAY, lt.t_s, 86400.0));
    st->demand = drv__clamp(st->demand, 0.0, 1.0);
}

/* The road at t_ms; list holds the random incidents of incidents_between() around it. */
static void slot_state_at(const struct drv__sim_common *common, const struct traffic_cfg *c,
                          const struct incident *list, size_t n, int64_t t_ms,
                          struct slot_state *st)
{
    slot_demand(common, c, t_ms, st);
    incident_at(c, list, n, t_ms, st);
}

struct vehicle_draw {
    int32_t t_in_slot_ms;
    float speed_kmh, length_m;
    Citygate__V1__VehicleClass cls;
};

/* The random stream of one lane in one slot: draw_slot()'s. */
static struct drv__rng slot_rng(const struct drv__sim_common *common, uint32_t lane, int64_t slot)
{
    return (struct drv__rng){drv__hash3(common->seed, STREAM_VEHICLES + lane, (uint64_t)slot)};
}

/*
 * Whether lane has no vehicle in slot whatever the road's state, known from
 * the slot's first draw alone (traffic_prepare()): most slots of a quiet
 * road, which then cost no demand curve and no Poisson draw.
 */
static bool slot_surely_empty(const struct drv__sim_common *common, const struct traffic_cfg *c,
                              uint32_t lane, int64_t slot)
{
    struct drv__rng rng = slot_rng(common, lane, slot);
    return drv__rng_uniform(&rng) <= c->empty_below[lane - 1];
}

/* Draws the vehicles of one lane in one slot, sorted by time; returns how many. */
static unsigned draw_slot(const struct drv__sim_common *common, const struct traffic_cfg *c,
                          const struct slot_state *st, uint32_t lane, int64_t slot,
                          struct vehicle_draw *v)
{
    struct drv__rng rng = slot_rng(common, lane, slot);
    double lane_factor = lane == st->blocked_lane ? st->blocked_volume_factor : st->volume_factor;
    double lambda =
        c->capacity_vph * st->demand * c->lane_volume[lane - 1] * lane_factor * SLOT_MS / 3600000.0;
    double d3 = st->demand * st->demand * st->demand;
    double stream_kmh =
        c->free_speed_kmh * c->lane_speed[lane - 1] * (1.0 - 0.45 * d3) * st->speed_factor;
    unsigned n = drv__rng_poisson(&rng, lambda, MAX_PER_SLOT);

    for (unsigned i = 0; i < n; i++) {
        const struct traffic_class *k = &c->classes[N_CLASSES - 1];
        double u = drv__rng_uniform(&rng), speed;
        struct vehicle_draw d;
        unsigned j;

        for (unsigned m = 0; m < N_CLASSES; m++) {
            if (u < c->classes[m].share) {
                k = &c->classes[m];
                break;
            }
            u -= c->classes[m].share;
        }
        speed = k->fixed_speed_kmh > 0
                    ? fmin(k->fixed_speed_kmh, stream_kmh) * (1.0 + 0.12 * drv__rng_gauss(&rng))
                    : stream_kmh * k->speed_factor * (1.0 + 0.08 * drv__rng_gauss(&rng));
        d.t_in_slot_ms = (int32_t)(drv__rng_uniform(&rng) * SLOT_MS);
        d.speed_kmh = (float)drv__clamp(speed, 3.0, 200.0);
        d.length_m =
            (float)drv__clamp(k->length_m + k->length_sd_m * drv__rng_gauss(&rng), 1.2, 25.0);
        d.cls = k->cls;
        /* insertion sort by time; n is tiny */
        for (j = i; j > 0 && v[j - 1].t_in_slot_ms > d.t_in_slot_ms; j--)
            v[j] = v[j - 1];
        v[j] = d;
    }
    return n;
}

/*
 * The detection time of the latest vehicle of lane at or before before_ms and
 * no earlier than from_ms, or -1 when there is none: the slots are replayed
 * backwards, so the previous vehicle of a sample's first one is found in the
 * slots of earlier samples.
 */
static int64_t lane_previous_ms(const struct drv__sim_common *common, const struct traffic_cfg *c,
                                uint32_t lane, int64_t from_ms, int64_t before_ms)
{
    struct vehicle_draw draws[MAX_PER_SLOT];
    struct incident list[MAX_INCIDENTS];

    for (int64_t slot = before_ms / SLOT_MS; slot >= 0 && slot * SLOT_MS + SLOT_MS > from_ms;
         slot--) {
        struct slot_state st;
        if (slot_surely_empty(common, c, lane, slot))
            continue;
        size_t n =
            incidents_between(common, c, slot * SLOT_MS, slot * SLOT_MS, list, MAX_INCIDENTS);

        slot_state_at(common, c, list, n, slot * SLOT_MS, &st);
        for (unsigned i = draw_slot(common, c, &st, lane, slot, draws); i > 0; i--) {
            int64_t t_ms = slot * SLOT_MS + draws[i - 1].t_in_slot_ms;
            if (t_ms <= before_ms)
                return t_ms >= from_ms ? t_ms : -1;
        }
    }
    return -1;
}

struct lane_tally {
    uint32_t volume;
    double speed_sum_kmh;
    double occupied_ms;
    int64_t first_ms, last_ms;
    uint32_t by_class[N_CLASSES];
};

static int emit_lane(const struct traffic_cfg *c, uint32_t lane, const struct lane_tally *t,
                     uint32_t interval_ms, struct drv_sample *out)
{
    const Citygate__V1__Quality good = CITYGATE__V1__QUALITY__GOOD;
    const Citygate__V1__VehicleClass none = CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED;
    double occupancy = interval_ms ? fmin(100.0, t->occupied_ms / interval_ms * 100.0) : 0.0;
    int rc;

    rc = drv__emit(out, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, t->volume, good, lane, none);
    if (!rc)
        rc = drv__emit(out, CITYGATE__V1__QUANTITY__OCCUPANCY, occupancy, good, lane, none);
    /* Speed and headway are undefined without vehicles: the reading is left out. */
    if (!rc && t->volume > 0)
        rc = drv__emit(out, CITYGATE__V1__QUANTITY__SPEED, t->speed_sum_kmh / t->volume, good, lane,
                       none);
    if (!rc && t->volume > 1)
        rc = drv__emit(out, CITYGATE__V1__QUANTITY__HEADWAY,
                       (double)(t->last_ms - t->first_ms) / 1000.0 / (t->volume - 1), good, lane,
                       none);
    for (unsigned m = 0; !rc && c->class_counts && m < N_CLASSES; m++)
        if (c->classes[m].share > 0)
            rc = drv__emit(out, CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT, t->by_class[m], good,
                           lane, c->classes[m].cls);
    return rc;
}

static int traffic_sample(const struct drv__sim_common *common, const void *cfg, uint64_t now_ms,
                          uint32_t interval_ms, struct drv_sample *out)
{
    const struct traffic_cfg *c = cfg;
    struct lane_tally tally[MAX_LANES] = {{0}};
    struct vehicle_draw draws[MAX_PER_SLOT];
    struct incident list[MAX_INCIDENTS];
    size_t n_list = 0;
    int64_t end_ms = (int64_t)now_ms, start_ms = end_ms - (int64_t)interval_ms; /* (start, end] */
    int64_t listed_to_ms = -1; /* list holds the incidents of slots up to here */
    int rc = 0;

    for (int64_t slot = (start_ms + 1) / SLOT_MS; interval_ms && slot <= end_ms / SLOT_MS; slot++) {
        struct slot_state st;

        int64_t from_ms = slot * SLOT_MS > start_ms ? slot * SLOT_MS : start_ms;
        int64_t to_ms = slot * SLOT_MS + SLOT_MS < end_ms ? slot * SLOT_MS + SLOT_MS : end_ms;

        if (slot * SLOT_MS > listed_to_ms) {
            listed_to_ms = slot * SLOT_MS + INCIDENT_CHUNK_MS;
            n_list =
                incidents_between(common, c, slot * SLOT_MS, listed_to_ms, list, MAX_INCIDENTS);
        }
        incident_at(c, list, n_list, slot * SLOT_MS, &st);
        /* A queue stands on the blocked lane's loop between the few vehicles that pass it. */
        if (st.blocked_lane)
            tally[st.blocked_lane - 1].occupied_ms += st.queue_share * (double)(to_ms - from_ms);
        bool demand_known = false; /* the demand curve is evaluated for a slot with vehicles */
        for (uint32_t lane = 1; lane <= c->lanes; lane++) {
            struct lane_tally *t = &tally[lane - 1];
            if (slot_surely_empty(common, c, lane, slot))
                continue;
            if (!demand_known) {
                slot_demand(common, c, slot * SLOT_MS, &st);
                demand_known = true;
            }
            unsigned n = draw_slot(common, c, &st, lane, slot, draws);

            for (unsigned i = 0; i < n; i++) {
                const struct vehicle_draw *d = &draws[i];
                int64_t t_ms = slot * SLOT_MS + d->t_in_slot_ms;
                struct drv_vehicle *v;

                if (t_ms <= start_ms || t_ms > end_ms)
                    continue;
                if (out->vehicles && out->n_vehicles >= out->cap_vehicles)
                    return -ENOSPC;
                if (out->vehicles) {
                    int64_t prev_ms = t->volume ? t->last_ms
                                                : lane_previous_ms(common, c, lane,
                                                                   t_ms - HEADWAY_MAX_MS, start_ms);
                    v = &out->vehicles[out->n_vehicles++];
                    v->offset_ms = (int32_t)(t_ms - end_ms);
                    v->lane = lane;
                    v->speed_kmh = d->speed_kmh;
                    v->length_m = d->length_m;
                    v->vehicle_class = d->cls;
                    v->headway_ms = prev_ms >= 0 && t_ms - prev_ms <= HEADWAY_MAX_MS
                                        ? (uint32_t)(t_ms - prev_ms)
                                        : 0;
                }
                if (t->volume == 0)
                    t->first_ms = t_ms;
                t->last_ms = t_ms;
                t->volume++;
                t->speed_sum_kmh += d->speed_kmh;
                t->occupied_ms += (d->length_m + c->loop_length_m) / (d->speed_kmh / 3.6) * 1e3;
                for (unsigned m = 0; m < N_CLASSES; m++)
                    if (c->classes[m].cls == d->cls)
                        t->by_class[m]++;
            }
        }
    }
    for (uint32_t lane = 1; lane <= c->lanes && !rc; lane++)
        rc = emit_lane(c, lane, &tally[lane - 1], interval_ms, out);
    return rc;
}

DRV__SIM_DRIVER(drv__sim_traffic, "sim-traffic", struct traffic_cfg, traffic_spec, traffic_prepare,
                traffic_sample);
