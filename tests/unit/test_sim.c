/*
 * test_sim.c -- the simulated sensors: reproducible for (seed, now_ms,
 * interval_ms), within the physical ranges of docs/data-model.md, and
 * behaving like the things they imitate (rush hours, incidents, vehicles that
 * add up to the counts, a meter that never runs backwards, outages that are
 * flagged bad). Also the simulated Modbus device built on them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu.h"
#include "driver.h"
#include "regmap.h"
#include "simdev.h"

#define Q(name) CITYGATE__V1__QUANTITY__##name
#define U(name) CITYGATE__V1__UNIT__##name
#define GOOD CITYGATE__V1__QUALITY__GOOD
#define DAY_MS 86400000ULL
#define HOUR_MS 3600000ULL
/* Monday 2026-11-16 00:00 UTC */
#define MONDAY_MS 1794787200000ULL
#define MAX_READINGS 512
#define MAX_VEHICLES 20000

static const char *const sims[] = {"sim-traffic", "sim-air",    "sim-noise", "sim-strain",
                                   "sim-parking", "sim-tunnel", "sim-power"};
#define N_SIMS (sizeof(sims) / sizeof(sims[0]))

static struct drv_reading readings[MAX_READINGS], readings2[MAX_READINGS];
static struct drv_vehicle vehicles[MAX_VEHICLES], vehicles2[MAX_VEHICLES];

/* docs/data-model.md, "Quantities, units and physical ranges" */
static const struct {
    Citygate__V1__Quantity quantity;
    Citygate__V1__Unit unit;
    double min, max;
} ranges[] = {
    {Q(TRAFFIC_VOLUME), U(VEHICLES), 0, 10000},
    {Q(OCCUPANCY), U(PERCENT), 0, 100},
    {Q(SPEED), U(KILOMETRES_PER_HOUR), 0, 300},
    {Q(VEHICLE_CLASS_COUNT), U(VEHICLES), 0, 10000},
    {Q(HEADWAY), U(SECONDS), 0, 3600},
    {Q(PM2_5), U(MICROGRAMS_PER_CUBIC_METRE), 0, 1000},
    {Q(PM10), U(MICROGRAMS_PER_CUBIC_METRE), 0, 2000},
    {Q(NO2), U(MICROGRAMS_PER_CUBIC_METRE), 0, 2000},
    {Q(O3), U(MICROGRAMS_PER_CUBIC_METRE), 0, 1000},
    {Q(NOISE), U(DECIBEL_A), 0, 160},
    {Q(TEMPERATURE), U(DEGREES_CELSIUS), -60, 90},
    {Q(HUMIDITY), U(PERCENT), 0, 100},
    {Q(STRAIN), U(MICROSTRAIN), -10000, 10000},
    {Q(VIBRATION), U(MILLIMETRES_PER_SECOND), 0, 1000},
    {Q(TILT), U(DEGREES), -90, 90},
    {Q(PARKING_OCCUPIED), U(SPACES), 0, 100000},
    {Q(PARKING_FREE), U(SPACES), 0, 100000},
    {Q(TUNNEL_CO), U(PARTS_PER_MILLION), 0, 1000},
    {Q(TUNNEL_VISIBILITY), U(PER_KILOMETRE), 0, 100},
    {Q(FAN_STATE), U(STATE), 0, 3},
    {Q(POWER), U(KILOWATTS), -100000, 100000},
    {Q(ENERGY), U(KILOWATT_HOURS), 0, 1e12},
    {Q(VOLTAGE), U(VOLTS), 0, 50000},
    {Q(CURRENT), U(AMPERES), -10000, 10000},
};

static void *open_sim(const char *name, const struct drv_param *params, size_t n)
{
    const struct drv_ops *ops = drv_find(name);
    struct drv_diag diag = {{0}};
    void *state = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    if (ops->open(params, n, &state, &diag) != 0)
        fprintf(stderr, "\n%s: %s\n", name, diag.text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    return state;
}

static struct drv_sample sample_into(struct drv_reading *r, struct drv_vehicle *v)
{
    struct drv_sample s = {r, 0, MAX_READINGS, v, 0, MAX_VEHICLES};

    return s;
}

static struct drv_sample take(const char *name, void *state, uint64_t now_ms, uint32_t interval_ms)
{
    struct drv_sample s = sample_into(readings, vehicles);

    CU_ASSERT_EQUAL_FATAL(drv_find(name)->sample(state, now_ms, interval_ms, &s), 0);
    return s;
}

/* The value of a GOOD reading of quantity and lane in s, or NAN. */
static double value_of(const struct drv_sample *s, Citygate__V1__Quantity q, uint32_t lane)
{
    for (size_t i = 0; i < s->n_readings; i++)
        if (s->readings[i].quantity == q && s->readings[i].lane == lane &&
            s->readings[i].quality == GOOD)
            return s->readings[i].value;
    return NAN;
}

/* Same (seed, now, interval) gives the same bytes, whatever was asked before and by whom. */
static void test_deterministic(void)
{
    static const uint64_t times[] = {MONDAY_MS + 8 * HOUR_MS, MONDAY_MS + 5 * DAY_MS + 13 * HOUR_MS,
                                     MONDAY_MS + 3 * HOUR_MS + 1234};
    struct drv_param seed42[] = {{"seed", "42"}}, seed43[] = {{"seed", "43"}};

    for (size_t k = 0; k < N_SIMS; k++) {
        const struct drv_ops *ops = drv_find(sims[k]);
        void *a = open_sim(sims[k], seed42, 1), *b = open_sim(sims[k], seed42, 1);
        void *c = open_sim(sims[k], seed43, 1);
        bool differs = false;

        for (size_t i = 0; i < 3; i++) {
            struct drv_sample sa = sample_into(readings, vehicles);
            struct drv_sample sb = sample_into(readings2, vehicles2);

            memset(readings, 0, sizeof(readings));
            memset(readings2, 0, sizeof(readings2));
            CU_ASSERT_EQUAL(ops->sample(a, times[i], 60000, &sa), 0);
            CU_ASSERT_EQUAL(ops->sample(b, times[2 - i], 60000, &sb), 0); /* other order */
            sb = sample_into(readings2, vehicles2);
            memset(readings2, 0, sizeof(readings2));
            CU_ASSERT_EQUAL(ops->sample(b, times[i], 60000, &sb), 0);
            CU_ASSERT(sa.n_readings > 0 && sa.n_readings == sb.n_readings);
            CU_ASSERT(sa.n_vehicles == sb.n_vehicles);
            CU_ASSERT_EQUAL(memcmp(readings, readings2, sizeof(readings)), 0);
            CU_ASSERT_EQUAL(memcmp(vehicles, vehicles2, sa.n_vehicles * sizeof(vehicles[0])), 0);

            sb = sample_into(readings2, vehicles2);
            memset(readings2, 0, sizeof(readings2));
            CU_ASSERT_EQUAL(ops->sample(c, times[i], 60000, &sb), 0);
            differs |= memcmp(readings, readings2, sizeof(readings)) != 0;
        }
        if (!differs)
            fprintf(stderr, "\n%s: seeds 42 and 43 agree\n", sims[k]);
        CU_ASSERT(differs);
        ops->close(a);
        ops->close(b);
        ops->close(c);
    }
}

/* A week of samples: every unit is the quantity's, every GOOD value within its physical range. */
static void test_units_and_ranges(void)
{
    struct drv_param params[] = {{"seed", "7"}, {"utc_offset_min", "60"}};

    for (size_t k = 0; k < N_SIMS; k++) {
        void *st = open_sim(sims[k], params, 2);
        size_t n_checked = 0, n_bad = 0;

        for (uint64_t t = MONDAY_MS; t < MONDAY_MS + 7 * DAY_MS; t += 7 * 60000 + 1357) {
            struct drv_sample s = take(sims[k], st, t, t % 3 ? 60000 : 1000);

            for (size_t i = 0; i < s.n_readings; i++) {
                const struct drv_reading *r = &s.readings[i];
                bool found = false;

                for (size_t q = 0; q < sizeof(ranges) / sizeof(ranges[0]); q++) {
                    if (ranges[q].quantity != r->quantity)
                        continue;
                    found = true;
                    if (r->unit != ranges[q].unit || r->quality != GOOD ||
                        !(r->value >= ranges[q].min && r->value <= ranges[q].max) || r->lane > 16) {
                        if (n_bad++ == 0)
                            fprintf(stderr, "\n%s: quantity %d lane %u value %g unit %d\n", sims[k],
                                    r->quantity, r->lane, r->value, r->unit);
                    }
                }
                CU_ASSERT(found);
                n_checked++;
            }
        }
        CU_ASSERT(n_checked > 1000);
        CU_ASSERT_EQUAL(n_bad, 0);
        drv_find(sims[k])->close(st);
    }
}

/* The counts, speeds and headways a loop reports are those of the vehicles it lists. */
static void test_vehicles_match_counts(void)
{
    struct drv_param params[] = {{"lanes", "3"}, {"class_counts", "true"}, {"seed", "5"}};
    void *st = open_sim("sim-traffic", params, 3);
    size_t n_vehicles = 0;

    for (uint64_t t = MONDAY_MS + 6 * HOUR_MS; t < MONDAY_MS + 10 * HOUR_MS; t += 15 * 60000) {
        struct drv_sample s = take("sim-traffic", st, t, 300000);

        n_vehicles += s.n_vehicles;
        for (uint32_t lane = 1; lane <= 3; lane++) {
            double count = 0, speed_sum = 0, classes = 0;
            int32_t first = 0, last = 0;

            for (size_t i = 0; i < s.n_vehicles; i++) {
                const struct drv_vehicle *v = &s.vehicles[i];
                CU_ASSERT(v->lane >= 1 && v->lane <= 3);
                CU_ASSERT(v->offset_ms <= 0 && v->offset_ms > -300000);
                CU_ASSERT(v->length_m > 1.0f && v->length_m < 26.0f);
                if (v->lane != lane)
                    continue;
                if (count == 0)
                    first = v->offset_ms;
                CU_ASSERT(v->offset_ms >= last || count == 0); /* in time order per lane */
                last = v->offset_ms;
                count++;
                speed_sum += v->speed_kmh;
            }
            for (size_t i = 0; i < s.n_readings; i++)
                if (s.readings[i].quantity == Q(VEHICLE_CLASS_COUNT) && s.readings[i].lane == lane)
                    classes += s.readings[i].value;
            CU_ASSERT_EQUAL(value_of(&s, Q(TRAFFIC_VOLUME), lane), count);
            CU_ASSERT_EQUAL(classes, count);
            if (count > 0)
                CU_ASSERT_DOUBLE_EQUAL(value_of(&s, Q(SPEED), lane), speed_sum / count, 1e-6);
            if (count > 1)
                CU_ASSERT_DOUBLE_EQUAL(value_of(&s, Q(HEADWAY), lane),
                                       (last - first) / 1000.0 / (count - 1), 1e-6);
        }
    }
    CU_ASSERT(n_vehicles > 1000);
    drv_find("sim-traffic")->close(st);
}

/* Sixty one-second samples hold exactly the vehicles of the sixty-second sample. */
static void test_intervals_add_up(void)
{
    struct drv_param params[] = {{"lanes", "2"}, {"seed", "9"}};
    void *st = open_sim("sim-traffic", params, 2);
    const uint64_t end = MONDAY_MS + 8 * HOUR_MS + 30 * 60000 + 250;

    for (int round = 0; round < 5; round++) {
        uint64_t t_end = end + (uint64_t)round * 61000;
        struct drv_sample whole = take("sim-traffic", st, t_end, 60000);
        size_t n_whole = whole.n_vehicles;
        double vol[2] = {value_of(&whole, Q(TRAFFIC_VOLUME), 1),
                         value_of(&whole, Q(TRAFFIC_VOLUME), 2)};
        double sum[2] = {0, 0};
        size_t matched = 0;

        memcpy(vehicles2, vehicles, n_whole * sizeof(vehicles[0]));
        for (uint64_t t = t_end - 59000; t <= t_end; t += 1000) {
            struct drv_sample part = take("sim-traffic", st, t, 1000);

            sum[0] += value_of(&part, Q(TRAFFIC_VOLUME), 1);
            sum[1] += value_of(&part, Q(TRAFFIC_VOLUME), 2);
            for (size_t i = 0; i < part.n_vehicles; i++) {
                int64_t abs_ms = (int64_t)t + part.vehicles[i].offset_ms;
                for (size_t j = 0; j < n_whole; j++)
                    if ((int64_t)t_end + vehicles2[j].offset_ms == abs_ms &&
                        vehicles2[j].lane == part.vehicles[i].lane &&
                        vehicles2[j].speed_kmh == part.vehicles[i].speed_kmh) {
                        matched++;
                        break;
                    }
            }
        }
        CU_ASSERT(n_whole > 0);
        CU_ASSERT_EQUAL(sum[0], vol[0]);
        CU_ASSERT_EQUAL(sum[1], vol[1]);
        CU_ASSERT_EQUAL(matched, n_whole);
    }
    drv_find("sim-traffic")->close(st);
}

/* Mean hourly volume of lane 1 at hour h of day d (0 = Monday), over four weeks. */
static double hourly_volume(void *st, int day, int hour)
{
    double total = 0;

    for (int week = 0; week < 4; week++) {
        uint64_t end =
            MONDAY_MS + (uint64_t)(week * 7 + day) * DAY_MS + (uint64_t)(hour + 1) * HOUR_MS;
        struct drv_sample s = take("sim-traffic", st, end, HOUR_MS);

        total += value_of(&s, Q(TRAFFIC_VOLUME), 1);
    }
    return total / 4;
}

/* Weekdays have rush hours; nights are empty; weekends are flatter and peak later. */
static void test_diurnal(void)
{
    struct drv_param params[] = {{"lanes", "1"}, {"seed", "3"}, {"incident_rate", "0"}};
    void *st = open_sim("sim-traffic", params, 3);
    double tue_3 = hourly_volume(st, 1, 3), tue_8 = hourly_volume(st, 1, 8);
    double tue_13 = hourly_volume(st, 1, 13), tue_17 = hourly_volume(st, 1, 17);
    double sun_8 = hourly_volume(st, 6, 8), sun_13 = hourly_volume(st, 6, 13);

    fprintf(stderr,
            "\n  lane 1 veh/h: Tue 03h %.0f 08h %.0f 13h %.0f 17h %.0f; Sun 08h %.0f 13h %.0f\n",
            tue_3, tue_8, tue_13, tue_17, sun_8, sun_13);
    CU_ASSERT(tue_8 > 700 && tue_8 < 1000); /* the urban default: 900 veh/h at peak */
    CU_ASSERT(tue_8 > 8 * tue_3);
    CU_ASSERT(tue_17 > 1.3 * tue_13 && tue_8 > 1.3 * tue_13);
    CU_ASSERT(sun_8 < 0.5 * tue_8);
    CU_ASSERT(sun_13 > sun_8);
    drv_find("sim-traffic")->close(st);

    /* local time: a node 5 hours west has its rush hour 5 hours later in UTC */
    params[1] = (struct drv_param){"utc_offset_min", "-300"};
    st = open_sim("sim-traffic", params, 3);
    CU_ASSERT(hourly_volume(st, 1, 13) > 1.5 * hourly_volume(st, 1, 8));
    drv_find("sim-traffic")->close(st);
}

/* An incident slows traffic and fills the loops: speed down, occupancy up, against the same day
 * without. */
static void test_incidents(void)
{
    struct drv_param calm[] = {{"seed", "11"}, {"incident_rate", "0"}, {"lanes", "2"}};
    struct drv_param rough[] = {{"seed", "11"}, {"incident_rate", "12"}, {"lanes", "2"}};
    void *a = open_sim("sim-traffic", calm, 3), *b = open_sim("sim-traffic", rough, 3);
    size_t slow_minutes = 0, calm_slow_minutes = 0;

    for (uint64_t t = MONDAY_MS + 7 * HOUR_MS; t < MONDAY_MS + 19 * HOUR_MS; t += 5 * 60000) {
        struct drv_sample sa = take("sim-traffic", a, t, 300000);
        double speed_a = value_of(&sa, Q(SPEED), 2), occ_a = value_of(&sa, Q(OCCUPANCY), 2);
        struct drv_sample sb = take("sim-traffic", b, t, 300000);
        double speed_b = value_of(&sb, Q(SPEED), 2), occ_b = value_of(&sb, Q(OCCUPANCY), 2);

        if (speed_a < 20)
            calm_slow_minutes++;
        if (speed_b < 0.5 * speed_a) {
            slow_minutes++;
            CU_ASSERT(occ_b > occ_a);
        }
    }
    fprintf(stderr,
            "\n  5-minute intervals under half speed: %zu with incidents, %zu calm "
            "under 20 km/h\n",
            slow_minutes, calm_slow_minutes);
    CU_ASSERT(slow_minutes >= 3);
    CU_ASSERT_EQUAL(calm_slow_minutes, 0);
    drv_find("sim-traffic")->close(a);
    drv_find("sim-traffic")->close(b);
}

/*
 * incident_start_ms (citysim --incident): an urban road at 48 km/h at 11:00
 * crawls under 15 km/h on its open lane from 30 s after the start (under
 * the demo's slow-traffic rule, warn 30, crit 15), and is back above 30
 * once the 20 minutes are over.
 */
static void test_forced_incident(void)
{
    const uint64_t start = MONDAY_MS + 11 * HOUR_MS;
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)start);
    struct drv_param params[] = {
        {"seed", "5"}, {"incident_rate", "0"}, {"lanes", "2"}, {"incident_start_ms", text}};
    void *st = open_sim("sim-traffic", params, 4);
    struct drv_sample s = take("sim-traffic", st, start, 60000);
    CU_ASSERT(value_of(&s, Q(SPEED), 2) > 30);
    size_t measured = 0;
    for (uint64_t t = start + 60000; t <= start + 17 * 60000; t += 30000) {
        s = take("sim-traffic", st, t, 30000);
        double v = value_of(&s, Q(SPEED), 2); /* NAN: no vehicle passed in these 30 s */
        CU_ASSERT(isnan(v) || v < 15);
        measured += !isnan(v);
    }
    CU_ASSERT(measured >= 20); /* of 33 half minutes */
    s = take("sim-traffic", st, start + 21 * 60000, 60000);
    CU_ASSERT(value_of(&s, Q(SPEED), 2) > 30);
    drv_find("sim-traffic")->close(st);
}

/*
 * Headways: in a two-minute sample, a vehicle's headway is the time since
 * the previous vehicle of its lane (0 when that is over a minute, or the
 * same millisecond); a sample of the second minute alone gives its vehicles
 * the same headways, its first ones' found in the first minute.
 */
static void test_headways(void)
{
    static struct drv_vehicle whole[512];
    struct drv_param params[] = {{"seed", "5"}, {"lanes", "3"}, {"capacity_vph", "300"}};
    void *st = open_sim("sim-traffic", params, 3);
    const uint64_t t = MONDAY_MS + 8 * HOUR_MS;
    struct drv_sample s = take("sim-traffic", st, t, 120000);
    long long last[4] = {-1, -1, -1, -1};
    size_t n_whole = s.n_vehicles, known = 0, matched = 0;
    CU_ASSERT_FATAL(n_whole <= 512);
    memcpy(whole, s.vehicles, n_whole * sizeof *whole);
    for (size_t i = 0; i < n_whole; i++) {
        const struct drv_vehicle *v = &whole[i];
        long long t_ms = (long long)t + v->offset_ms;
        CU_ASSERT_FATAL(v->lane >= 1 && v->lane <= 3);
        if (last[v->lane] >= 0) {
            long long gap = t_ms - last[v->lane];
            CU_ASSERT(v->headway_ms == (gap > 0 && gap <= 60000 ? (unsigned)gap : 0u));
            known += v->headway_ms > 0;
        }
        last[v->lane] = t_ms;
    }
    s = take("sim-traffic", st, t, 60000);
    for (size_t i = 0; i < s.n_vehicles; i++)
        for (size_t j = 0; j < n_whole; j++)
            if (whole[j].offset_ms == s.vehicles[i].offset_ms &&
                whole[j].lane == s.vehicles[i].lane &&
                whole[j].speed_kmh == s.vehicles[i].speed_kmh) {
                CU_ASSERT(whole[j].headway_ms == s.vehicles[i].headway_ms);
                matched++;
                break;
            }
    drv_find("sim-traffic")->close(st);
    CU_ASSERT(matched == s.n_vehicles && matched > 10 && known > 20);
}

/* vehicles_file: every vehicle a sample lists, one line each, time absolute, floats exact. */
static void test_vehicles_file(void)
{
    char path[] = "/tmp/test_sim_vehicles.XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    struct drv_param params[] = {{"seed", "3"}, {"lanes", "3"}, {"vehicles_file", path}};
    void *st = open_sim("sim-traffic", params, 3);
    const uint64_t t = MONDAY_MS + 8 * HOUR_MS;
    struct drv_sample s = take("sim-traffic", st, t, 60000);
    drv_find("sim-traffic")->close(st);
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    long long t_ms;
    unsigned lane, headway_ms;
    float speed, length;
    int cls;
    size_t n = 0;
    while (fscanf(f, "%lld %u %f %f %d %u", &t_ms, &lane, &speed, &length, &cls, &headway_ms) ==
           6) {
        CU_ASSERT_FATAL(n < s.n_vehicles);
        const struct drv_vehicle *v = &s.vehicles[n++];
        CU_ASSERT(t_ms == (long long)t + v->offset_ms && lane == v->lane);
        CU_ASSERT(speed == v->speed_kmh && length == v->length_m && cls == (int)v->vehicle_class);
        CU_ASSERT(headway_ms == v->headway_ms);
    }
    fclose(f);
    unlink(path);
    CU_ASSERT(n == s.n_vehicles && n > 10);
    struct drv_param bad[] = {{"vehicles_file", "/nonexistent/dir/file"}};
    struct drv_diag diag = {""};
    void *none = NULL;
    CU_ASSERT(drv_find("sim-traffic")->open(bad, 1, &none, &diag) != 0 && none == NULL);
    CU_ASSERT(strstr(diag.text, "vehicles_file") != NULL);
}

/* No room means -ENOSPC and nothing appended; a NULL vehicle array means counts only. */
static void test_no_room(void)
{
    struct drv_param params[] = {{"lanes", "2"}};
    void *st = open_sim("sim-traffic", params, 1);
    const uint64_t t = MONDAY_MS + 8 * HOUR_MS;
    struct drv_sample s = {readings, 1, 3, vehicles, 2, MAX_VEHICLES};
    struct drv_sample counts_only = {readings, 0, MAX_READINGS, NULL, 0, 0};

    CU_ASSERT_EQUAL(drv_find("sim-traffic")->sample(st, t, 60000, &s), -ENOSPC);
    CU_ASSERT(s.n_readings == 1 && s.n_vehicles == 2);
    s = (struct drv_sample){readings, 0, MAX_READINGS, vehicles, 0, 3};
    CU_ASSERT_EQUAL(drv_find("sim-traffic")->sample(st, t, 60000, &s), -ENOSPC);
    CU_ASSERT(s.n_readings == 0 && s.n_vehicles == 0);
    CU_ASSERT_EQUAL(drv_find("sim-traffic")->sample(st, t, 60000, &counts_only), 0);
    CU_ASSERT(value_of(&counts_only, Q(TRAFFIC_VOLUME), 1) > 3);
    CU_ASSERT_EQUAL(counts_only.n_vehicles, 0);
    drv_find("sim-traffic")->close(st);
}

/* During a simulated outage every reading is BAD with value 0 and no vehicle is listed. */
static void test_faults(void)
{
    struct drv_param always[] = {{"fault_rate", "144"}}, never[] = {{"fault_rate", "0"}};
    struct drv_param some[] = {{"fault_rate", "24"}, {"seed", "2"}};

    for (size_t k = 0; k < N_SIMS; k++) {
        void *st = open_sim(sims[k], always, 1);
        struct drv_sample s = take(sims[k], st, MONDAY_MS + 8 * HOUR_MS, 60000);

        CU_ASSERT(s.n_readings > 0);
        CU_ASSERT_EQUAL(s.n_vehicles, 0);
        for (size_t i = 0; i < s.n_readings; i++) {
            CU_ASSERT(s.readings[i].quality == CITYGATE__V1__QUALITY__BAD_TIMEOUT ||
                      s.readings[i].quality == CITYGATE__V1__QUALITY__BAD_GONE);
            CU_ASSERT_EQUAL(s.readings[i].value, 0.0);
        }
        drv_find(sims[k])->close(st);
        st = open_sim(sims[k], never, 1);
        s = take(sims[k], st, MONDAY_MS + 8 * HOUR_MS, 60000);
        for (size_t i = 0; i < s.n_readings; i++)
            CU_ASSERT_EQUAL(s.readings[i].quality, GOOD);
        drv_find(sims[k])->close(st);
    }

    /* 24 outages a day of 10 minutes: about a sixth of the day is bad */
    void *st = open_sim("sim-air", some, 2);
    size_t bad = 0, total = 0;
    for (uint64_t t = MONDAY_MS; t < MONDAY_MS + 7 * DAY_MS; t += 600000, total++) {
        struct drv_sample s = take("sim-air", st, t, 60000);
        bad += s.readings[0].quality != GOOD;
    }
    CU_ASSERT(bad > total / 10 && bad < total / 4);
    drv_find("sim-air")->close(st);
}

static void test_parking(void)
{
    struct drv_param office[] = {{"capacity", "250"}};
    struct drv_param home[] = {{"capacity", "80"}, {"profile", "residential"}};
    void *a = open_sim("sim-parking", office, 1), *b = open_sim("sim-parking", home, 2);

    for (uint64_t t = MONDAY_MS; t < MONDAY_MS + 7 * DAY_MS; t += 3 * 60000) {
        struct drv_sample s = take("sim-parking", a, t, 60000);
        double occ = value_of(&s, Q(PARKING_OCCUPIED), 0), free_ = value_of(&s, Q(PARKING_FREE), 0);

        CU_ASSERT_EQUAL(occ + free_, 250);
        CU_ASSERT_EQUAL(occ, round(occ));
    }
    struct drv_sample s = take("sim-parking", a, MONDAY_MS + DAY_MS + 11 * HOUR_MS, 60000);
    CU_ASSERT(value_of(&s, Q(PARKING_OCCUPIED), 0) > 0.75 * 250);
    s = take("sim-parking", a, MONDAY_MS + DAY_MS + 3 * HOUR_MS, 60000);
    CU_ASSERT(value_of(&s, Q(PARKING_OCCUPIED), 0) < 0.15 * 250);
    s = take("sim-parking", b, MONDAY_MS + DAY_MS + 3 * HOUR_MS, 60000);
    CU_ASSERT(value_of(&s, Q(PARKING_OCCUPIED), 0) > 0.75 * 80);
    drv_find("sim-parking")->close(a);
    drv_find("sim-parking")->close(b);
}

/* The energy register never runs backwards and grows by the energy the power curve carries. */
static void test_power_meter(void)
{
    struct drv_param params[] = {{"base_kw", "10"}, {"peak_kw", "100"}};
    void *st = open_sim("sim-power", params, 2);
    double last_kwh = -1, integral_kwh = 0, first_kwh = 0, last_kw = 0;
    const uint64_t step = 5 * 60000;

    for (uint64_t t = MONDAY_MS; t <= MONDAY_MS + 7 * DAY_MS; t += step) {
        struct drv_sample s = take("sim-power", st, t, 1000);
        double kwh = value_of(&s, Q(ENERGY), 0), kw = value_of(&s, Q(POWER), 0);

        CU_ASSERT(kwh >= last_kwh);
        if (last_kwh < 0)
            first_kwh = kwh;
        else
            integral_kwh += (kw + last_kw) / 2 * step / 3.6e6;
        last_kwh = kwh;
        last_kw = kw;
        for (uint32_t ph = 1; ph <= 3; ph++) {
            CU_ASSERT(fabs(value_of(&s, Q(VOLTAGE), ph) - 230) < 12);
            CU_ASSERT(value_of(&s, Q(CURRENT), ph) > 0);
        }
    }
    fprintf(stderr, "\n  a week: register +%.0f kWh, power integral %.0f kWh\n",
            last_kwh - first_kwh, integral_kwh);
    CU_ASSERT(fabs((last_kwh - first_kwh) - integral_kwh) < 0.02 * integral_kwh);
    drv_find("sim-power")->close(st);
}

/* Fans run with traffic; a fan out of order reports 3. */
static void test_tunnel(void)
{
    struct drv_param params[] = {{"fans", "4"}, {"fan_fault_rate", "0"}};
    struct drv_param broken[] = {{"fans", "2"}, {"fan_fault_rate", "1"}};
    void *st = open_sim("sim-tunnel", params, 2);
    struct drv_sample s = take("sim-tunnel", st, MONDAY_MS + DAY_MS + 3 * HOUR_MS, 60000);
    double night_co = value_of(&s, Q(TUNNEL_CO), 0);

    for (uint32_t f = 1; f <= 4; f++)
        CU_ASSERT_EQUAL(value_of(&s, Q(FAN_STATE), f), 0);
    s = take("sim-tunnel", st, MONDAY_MS + DAY_MS + 8 * HOUR_MS, 60000);
    CU_ASSERT(value_of(&s, Q(TUNNEL_CO), 0) > night_co);
    CU_ASSERT_EQUAL(value_of(&s, Q(FAN_STATE), 1), 1); /* forward in the morning */
    s = take("sim-tunnel", st, MONDAY_MS + DAY_MS + 17 * HOUR_MS, 60000);
    CU_ASSERT_EQUAL(value_of(&s, Q(FAN_STATE), 1), 2); /* reverse in the evening */
    drv_find("sim-tunnel")->close(st);

    st = open_sim("sim-tunnel", broken, 2);
    s = take("sim-tunnel", st, MONDAY_MS + DAY_MS + 8 * HOUR_MS, 60000);
    CU_ASSERT_EQUAL(value_of(&s, Q(FAN_STATE), 1), 3);
    CU_ASSERT_EQUAL(value_of(&s, Q(FAN_STATE), 2), 3);
    drv_find("sim-tunnel")->close(st);
}

/* Sensors drift between calibrations and are right again after one. */
static void test_air_drift(void)
{
    struct drv_param with[] = {{"drift_pct_per_day", "1"}, {"calibration_days", "30"}};
    struct drv_param without[] = {{"drift_pct_per_day", "0"}};
    void *a = open_sim("sim-air", with, 2), *b = open_sim("sim-air", without, 1);
    /* 2020-01-01 is the simulated installation; 2026-11-16 is day 2511, 21 days into a period */
    struct drv_sample sa = take("sim-air", a, MONDAY_MS + 12 * HOUR_MS, 60000);
    double pm_a = value_of(&sa, Q(PM2_5), 0);
    struct drv_sample sb = take("sim-air", b, MONDAY_MS + 12 * HOUR_MS, 60000);
    double pm_b = value_of(&sb, Q(PM2_5), 0);

    CU_ASSERT_DOUBLE_EQUAL(pm_a / pm_b, 1.21, 1e-9);
    sa = take("sim-air", a, MONDAY_MS + 9 * DAY_MS + 12 * HOUR_MS, 60000);
    pm_a = value_of(&sa, Q(PM2_5), 0);
    sb = take("sim-air", b, MONDAY_MS + 9 * DAY_MS + 12 * HOUR_MS, 60000);
    CU_ASSERT_DOUBLE_EQUAL(pm_a / value_of(&sb, Q(PM2_5), 0), 1.0, 1e-9); /* calibrated */
    drv_find("sim-air")->close(a);
    drv_find("sim-air")->close(b);
}

static void test_bad_params(void)
{
    static const struct {
        const char *sim, *key, *value, *says;
    } cases[] = {
        {"sim-traffic", "lanes", "17", "outside"},
        {"sim-traffic", "lanes", "two", "not a valid"},
        {"sim-traffic", "profile", "rural", "not one of urban|motorway"},
        {"sim-air", "colour", "red", "unknown parameter colour"},
        {"sim-power", "peak_kw", "5", "below base_kw"},
        {"sim-noise", "utc_offset_min", "900", "outside"},
        {"sim-parking", "seed", "-1", "not a valid"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct drv_param p[] = {{cases[i].key, cases[i].value}};
        struct drv_diag diag = {{0}};
        void *state = NULL;

        CU_ASSERT_EQUAL(drv_find(cases[i].sim)->open(p, 1, &state, &diag), -EINVAL);
        CU_ASSERT_PTR_NULL(state);
        if (!strstr(diag.text, cases[i].says))
            fprintf(stderr, "\ncase %zu: \"%s\"\n", i, diag.text);
        CU_ASSERT_PTR_NOT_NULL(strstr(diag.text, cases[i].says));
    }
    struct drv_param twice[] = {{"seed", "1"}, {"seed", "2"}};
    struct drv_diag diag;
    void *state = NULL;
    CU_ASSERT_EQUAL(drv_find("sim-air")->open(twice, 2, &state, &diag), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(diag.text, "given twice"));
    CU_ASSERT_PTR_NULL(drv_find("sim-weather"));
    CU_ASSERT_PTR_NULL(drv_find(NULL));
    for (size_t k = 0; k < N_SIMS; k++)
        CU_ASSERT_STRING_EQUAL(drv_find(sims[k])->name, sims[k]);
}

/* A simulated device serves each map point as the simulator's value, encoded as the map says. */
static void test_simdev(void)
{
    struct drv_map *map = NULL;
    struct drv_map_diag mdiag;
    struct drv_diag diag = {{0}};
    struct drv_simdev *dev = NULL;
    const uint64_t t = MONDAY_MS + 2 * HOUR_MS + 30 * 60000 + 4321;
    struct drv_param params[] = {{"seed", "77"}, {"lanes", "4"}, {"class_counts", "true"}};
    void *st = open_sim("sim-traffic", params, 3);
    size_t absent = 0;

    CU_ASSERT_EQUAL_FATAL(drv_map_load(DRIVERS_MAPS_DIR "/traffic-counter.ini", &map, &mdiag), 0);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_new(map, 77, &dev, &diag), 0);
    CU_ASSERT_EQUAL(drv_simdev_update(dev, t), 0);
    CU_ASSERT_EQUAL(drv_simdev_latched_ms(dev), t - t % 60000);

    struct drv_sample s = take("sim-traffic", st, t - t % 60000, 60000);
    for (size_t i = 0; i < map->n_points; i++) {
        const struct drv_map_point *p = &map->points[i];
        uint16_t w[2];
        double served = NAN, decoded = NAN, expected = NAN;

        for (size_t k = 0; k < s.n_readings; k++)
            if (s.readings[k].quantity == p->quantity && s.readings[k].lane == p->lane &&
                s.readings[k].vehicle_class == p->vehicle_class)
                expected = s.readings[k].value;
        drv_simdev_words(dev, i, w);
        if (drv_simdev_value(dev, i, &served) != 0) {
            /* a speed with no vehicles: the station's sentinel */
            absent++;
            CU_ASSERT(isnan(expected));
            CU_ASSERT(p->has_no_data && drv_reg_raw(&p->format, w) == p->no_data);
            continue;
        }
        CU_ASSERT_EQUAL(served, expected);
        CU_ASSERT_EQUAL(drv_reg_decode(&p->format, w, &decoded), 0);
        CU_ASSERT(fabs(decoded - expected) <= fabs(p->format.scale) / 2 + 1e-9);
    }
    fprintf(stderr, "\n  02:30 on a Monday: %zu of %zu points without a value\n", absent,
            map->n_points);
    CU_ASSERT_EQUAL(drv_simdev_value(dev, map->n_points, &(double){0}), -ENODATA);
    drv_simdev_free(dev);
    drv_simdev_free(NULL);
    drv_find("sim-traffic")->close(st);

    /* a map without a simulator cannot be served */
    map->simulator[0] = '\0';
    CU_ASSERT_EQUAL(drv_simdev_new(map, 1, &dev, &diag), -EINVAL);
    drv_map_free(map);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"deterministic for (seed, now, interval)", test_deterministic},
        {"units and physical ranges over a week", test_units_and_ranges},
        {"vehicles match counts", test_vehicles_match_counts},
        {"short intervals add up to long ones", test_intervals_add_up},
        {"weekday and weekend curves", test_diurnal},
        {"incidents slow traffic", test_incidents},
        {"a forced incident crawls under the demo's rule", test_forced_incident},
        {"vehicles_file lists every vehicle", test_vehicles_file},
        {"headways across samples", test_headways},
        {"no room", test_no_room},
        {"outages are flagged bad", test_faults},
        {"parking", test_parking},
        {"power meter register", test_power_meter},
        {"tunnel fans", test_tunnel},
        {"air sensor drift", test_air_drift},
        {"bad parameters", test_bad_params},
        {"simulated modbus device", test_simdev},
        {NULL, NULL},
    };

    return cu_main("sim", tests);
}
