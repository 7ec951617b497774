/*
 * test_traffic.c -- vehicle records through the windows, and the traffic
 * merge rule, against figures the test computes from the vehicles itself.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "frame.pb-c.h"
#include "traffic.h"
#include "window.h"

#define T0 1794999600000LL /* a multiple of 30 s */
#define SEC 1000LL
#define LANES 3
#define VEHICLES 120
#define ALPHA GW_QSKETCH_ALPHA

/* What the windows emitted: copies of the vehicle series' base windows. */
struct lane_window {
    uint32_t quantity, lane, vehicle_class;
    int64_t start_ms;
    uint32_t count;
    double sum, min, max;
    struct gw_qsketch sketch;
    int has_sketch;
};

struct sink {
    struct lane_window w[64];
    size_t n;
};

static int collect(void *ctx, const struct gw_aggregate *a)
{
    struct sink *k = ctx;
    if (a->level != 0)
        return 0;
    CU_ASSERT_FATAL(k->n < 64);
    struct lane_window *x = &k->w[k->n++];
    x->quantity = a->key.quantity;
    x->lane = a->key.lane;
    x->vehicle_class = a->key.vehicle_class;
    x->start_ms = a->start_ms;
    x->count = a->count;
    x->sum = a->sum;
    x->min = a->min;
    x->max = a->max;
    gw_qsketch_init(&x->sketch);
    x->has_sketch = a->sketch != NULL;
    if (a->sketch)
        CU_ASSERT_FATAL(gw_qsketch_merge(&x->sketch, a->sketch) == 0);
    return 0;
}

/* The aggregate a tool would rebuild from a store line of lane window x. */
static struct gw_aggregate as_aggregate(const struct lane_window *x)
{
    struct gw_aggregate a;
    memset(&a, 0, sizeof a);
    a.key = (struct gw_series_key){"s", "n", "", x->lane, x->quantity, x->vehicle_class, false};
    a.width_ms = 30 * SEC;
    a.start_ms = x->start_ms;
    a.count = x->count;
    a.sum = x->sum;
    a.min = x->min;
    a.max = x->max;
    a.mean = x->sum / x->count;
    a.sketch = x->has_sketch ? &x->sketch : NULL;
    return a;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile (pm per mille) of n sorted speeds, in the test's own integers. */
static double exact_pct(const float *sorted, size_t n, unsigned pm)
{
    size_t r = (pm * n + 999) / 1000;
    return sorted[r ? r - 1 : 0];
}

/*
 * One frame of 120 vehicles over three lanes with different speeds, the
 * third lane empty in the second window: per lane and window the count and
 * mean are exact and v85 is within alpha of the nearest rank; the site's
 * figures from gw_traffic_merge() are within alpha of the exact v85 of all
 * its vehicles, while the count-weighted average of the lanes' v85 (what
 * the live view used to show) is not.
 */
static void test_lanes_and_site(void)
{
    static Citygate__V1__Vehicle vs[VEHICLES];
    static Citygate__V1__Vehicle *vp[VEHICLES];
    static float speeds[2][LANES + 1][VEHICLES], site_speeds[VEHICLES];
    size_t n_speeds[2][LANES + 1] = {{0}}, n_site = 0;
    double sums[2][LANES + 1] = {{0}};
    struct gw_windows_config cfg;
    struct gw_windows *w;
    struct gw_windows_frame fr;
    static struct sink k;
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;

    for (int i = 0; i < VEHICLES; i++) {
        citygate__v1__vehicle__init(&vs[i]);
        int lane = 1 + i % LANES;
        int second = i / 2; /* 0 .. 59: two windows */
        if (lane == 3 && second >= 30)
            lane = 2; /* the third lane sees nothing in the second window */
        vs[i].lane = (uint32_t)lane;
        vs[i].offset_ms = (int32_t)(second * 1000 + 17 - 60000);
        /* Lane 1 slow, lane 2 medium, lane 3 fast: the site's v85 is not the lanes' average. */
        vs[i].speed_kmh = (float)(lane == 1 ? 40 + i % 9 : lane == 2 ? 70 + i % 13 : 110 + i % 7);
        vs[i].length_m = (float)(4 + i % 3);
        vs[i].vehicle_class =
            i % 10 == 0 ? CITYGATE__V1__VEHICLE_CLASS__TRUCK : CITYGATE__V1__VEHICLE_CLASS__CAR;
        vp[i] = &vs[i];
        int win = second / 30;
        speeds[win][lane][n_speeds[win][lane]++] = vs[i].speed_kmh;
        sums[win][lane] += vs[i].speed_kmh;
        if (win == 0)
            site_speeds[n_site++] = vs[i].speed_kmh;
    }
    f.device_id = "n";
    f.site_id = "s";
    f.timestamp_ms = (uint64_t)(T0 + 60 * SEC);
    f.n_vehicles = VEHICLES;
    f.vehicles = vp;

    gw_windows_config_default(&cfg);
    CU_ASSERT_FATAL(gw_windows_new(&cfg, &w) == 0);
    CU_ASSERT_FATAL(gw_windows_frame_begin(w, "s", "n", T0 + 61 * SEC, &fr) == 0);
    CU_ASSERT(gw_traffic_fold_vehicles(w, &fr, &f) == VEHICLES);
    CU_ASSERT(gw_windows_flush_all(w, collect, &k) == 0);

    struct gw_traffic site, wrong_n;
    double wrong_sum = 0;
    unsigned lanes_seen[2] = {0, 0}, trucks = 0;
    gw_traffic_init(&site);
    gw_traffic_init(&wrong_n);
    for (size_t i = 0; i < k.n; i++) {
        const struct lane_window *x = &k.w[i];
        int win = (int)((x->start_ms - T0) / (30 * SEC));
        CU_ASSERT_FATAL(win == 0 || win == 1);
        struct gw_aggregate a = as_aggregate(x);
        if (x->quantity == GW_QUANTITY_VEHICLE_COUNT &&
            x->vehicle_class == CITYGATE__V1__VEHICLE_CLASS__TRUCK)
            trucks += x->count;
        if (x->quantity != GW_QUANTITY_VEHICLE_SPEED)
            continue;
        lanes_seen[win]++;
        float *sorted = speeds[win][x->lane];
        size_t n = n_speeds[win][x->lane];
        qsort(sorted, n, sizeof *sorted, cmp_float);
        CU_ASSERT(x->count == n);
        struct gw_traffic lane;
        struct gw_traffic_figures lf;
        gw_traffic_init(&lane);
        CU_ASSERT_FATAL(gw_traffic_add(&lane, &a) == 0);
        gw_traffic_figures(&lane, 30 * SEC, &lf);
        CU_ASSERT(lf.has & GW_TF_SPEED);
        CU_ASSERT_DOUBLE_EQUAL(lf.speed_mean_kmh, sums[win][x->lane] / n, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(lf.flow_vph, n * 120.0, 1e-9);
        double v85 = exact_pct(sorted, n, 850);
        CU_ASSERT(fabs(lf.v85_kmh - v85) <= ALPHA * v85);
        CU_ASSERT(fabs(lf.v15_kmh - exact_pct(sorted, n, 150)) <= ALPHA * 130);
        if (win == 0) {
            CU_ASSERT_FATAL(gw_traffic_merge(&site, &lane) == 0);
            wrong_sum += lf.v85_kmh * x->count;
        }
        gw_traffic_fini(&lane);
    }
    CU_ASSERT(lanes_seen[0] == 3 && lanes_seen[1] == 2); /* an empty lane-window has no line */
    CU_ASSERT(trucks == VEHICLES / 10);

    struct gw_traffic_figures sf;
    gw_traffic_figures(&site, 30 * SEC, &sf);
    qsort(site_speeds, n_site, sizeof *site_speeds, cmp_float);
    double exact = exact_pct(site_speeds, n_site, 850);
    double wrong = wrong_sum / (double)n_site;
    CU_ASSERT(sf.vehicles == n_site && sf.windows == 3);
    CU_ASSERT(fabs(sf.v85_kmh - exact) <= ALPHA * exact);
    CU_ASSERT(fabs(wrong - exact) > ALPHA * exact); /* the same check fails an average of v85s */
    gw_traffic_fini(&site);
    gw_traffic_fini(&wrong_n);
    for (size_t i = 0; i < k.n; i++)
        gw_qsketch_fini(&k.w[i].sketch);
    gw_windows_free(w);
}

/*
 * Headways: per lane and for the merge of the lanes, the mean over the
 * vehicles with a known headway and the share of them under 2 s (2.000 s is
 * not under), from the headways the test gave; a lane whose vehicles carry
 * no headway (0, unknown) has no headway figures, and is left out of the
 * site's.
 */
static void test_headway(void)
{
    static const uint32_t lane_of[] = {1, 1, 1, 1, 1, 1, 2, 2, 3, 3};
    static const uint32_t headway_ms[] = {0, 1500, 2500, 1999, 2000, 800, 3000, 4000, 0, 0};
    enum { N = sizeof lane_of / sizeof lane_of[0] };
    static Citygate__V1__Vehicle vs[N];
    static Citygate__V1__Vehicle *vp[N];
    double sum[LANES + 1] = {0}, site_sum = 0;
    unsigned known[LANES + 1] = {0}, under[LANES + 1] = {0}, site_known = 0, site_under = 0;
    struct gw_windows_config cfg;
    struct gw_windows *w;
    struct gw_windows_frame fr;
    static struct sink k;
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;

    for (int i = 0; i < N; i++) {
        citygate__v1__vehicle__init(&vs[i]);
        vs[i].lane = lane_of[i];
        vs[i].offset_ms = (int32_t)(i * 1000 - 20000);
        vs[i].speed_kmh = 50.0f;
        vs[i].headway_ms = headway_ms[i];
        vp[i] = &vs[i];
        if (headway_ms[i] == 0)
            continue;
        sum[lane_of[i]] += headway_ms[i] / 1000.0;
        known[lane_of[i]]++;
        under[lane_of[i]] += headway_ms[i] < 2000;
    }
    f.device_id = "n";
    f.site_id = "s";
    f.timestamp_ms = (uint64_t)(T0 + 25 * SEC);
    f.n_vehicles = N;
    f.vehicles = vp;
    gw_windows_config_default(&cfg);
    CU_ASSERT_FATAL(gw_windows_new(&cfg, &w) == 0);
    CU_ASSERT_FATAL(gw_windows_frame_begin(w, "s", "n", T0 + 26 * SEC, &fr) == 0);
    CU_ASSERT(gw_traffic_fold_vehicles(w, &fr, &f) == N);
    CU_ASSERT(gw_windows_flush_all(w, collect, &k) == 0);

    struct gw_traffic lanes[LANES + 1], site;
    struct gw_traffic_figures lf, sf;
    gw_traffic_init(&site);
    for (int l = 1; l <= LANES; l++)
        gw_traffic_init(&lanes[l]);
    for (size_t i = 0; i < k.n; i++) {
        struct gw_aggregate a = as_aggregate(&k.w[i]);
        CU_ASSERT_FATAL(k.w[i].lane >= 1 && k.w[i].lane <= LANES);
        CU_ASSERT_FATAL(gw_traffic_add(&lanes[k.w[i].lane], &a) == 0);
    }
    for (int l = 1; l <= LANES; l++) {
        gw_traffic_figures(&lanes[l], 30 * SEC, &lf);
        if (known[l] == 0) {
            CU_ASSERT(lf.has & GW_TF_SPEED);
            CU_ASSERT(!(lf.has & (GW_TF_HEADWAY | GW_TF_HEADWAY_SHORT)));
        } else {
            CU_ASSERT((lf.has & (GW_TF_HEADWAY | GW_TF_HEADWAY_SHORT)) ==
                      (GW_TF_HEADWAY | GW_TF_HEADWAY_SHORT));
            CU_ASSERT_DOUBLE_EQUAL(lf.headway_mean_s, sum[l] / known[l], 1e-12);
            CU_ASSERT(lf.headway_short_share == (double)under[l] / known[l]);
        }
        site_sum += sum[l];
        site_known += known[l];
        site_under += under[l];
        CU_ASSERT_FATAL(gw_traffic_merge(&site, &lanes[l]) == 0);
        gw_traffic_fini(&lanes[l]);
    }
    gw_traffic_figures(&site, 30 * SEC, &sf);
    CU_ASSERT(site_known == 7 && site_under == 3);
    CU_ASSERT(sf.vehicles == N);
    CU_ASSERT_DOUBLE_EQUAL(sf.headway_mean_s, site_sum / site_known, 1e-12);
    CU_ASSERT(sf.headway_short_share == (double)site_under / site_known);
    CU_ASSERT(strcmp(gw_quantity_series(GW_QUANTITY_VEHICLE_HEADWAY)->store, "vehicle_headway") ==
              0);
    gw_traffic_fini(&site);
    for (size_t i = 0; i < k.n; i++)
        gw_qsketch_fini(&k.w[i].sketch);
    gw_windows_free(w);
}

/* Absent is not zero: no vehicles, no speed; a flow of 0 is a figure; occupancy is a mean of lanes.
 */
static void test_absent_and_occupancy(void)
{
    struct gw_traffic t;
    struct gw_traffic_figures f;
    struct gw_aggregate a;

    gw_traffic_init(&t);
    gw_traffic_figures(&t, 30 * SEC, &f);
    CU_ASSERT(f.has == 0 && f.windows == 0);

    memset(&a, 0, sizeof a);
    a.key = (struct gw_series_key){"s", "n", "", 1, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, 0, 0};
    a.width_ms = 30 * SEC;
    a.count = 30;
    a.sum = 0;
    CU_ASSERT(gw_traffic_add(&t, &a) == 0);
    a.key.quantity = CITYGATE__V1__QUANTITY__OCCUPANCY;
    a.sum = 30 * 10.0; /* lane 1: 10 % */
    CU_ASSERT(gw_traffic_add(&t, &a) == 0);
    a.key.lane = 2;
    a.count = 10;
    a.sum = 10 * 40.0; /* lane 2: 40 %, from fewer readings: still one lane of two */
    CU_ASSERT(gw_traffic_add(&t, &a) == 0);
    gw_traffic_figures(&t, 30 * SEC, &f);
    CU_ASSERT(f.has == (GW_TF_FLOW | GW_TF_OCCUPANCY));
    CU_ASSERT(f.flow_vph == 0.0);
    CU_ASSERT_DOUBLE_EQUAL(f.occupancy_pct, 25.0, 1e-12);
    CU_ASSERT(f.windows == 3);

    /* A vehicle speed aggregate must bring a sketch holding its count. */
    a.key.quantity = GW_QUANTITY_VEHICLE_SPEED;
    a.sketch = NULL;
    CU_ASSERT(gw_traffic_add(&t, &a) == GW_EINVAL);
    gw_traffic_reset(&t);
    gw_traffic_figures(&t, 30 * SEC, &f);
    CU_ASSERT(f.has == 0);
    gw_traffic_fini(&t);
    CU_ASSERT(strcmp(gw_quantity_series(GW_QUANTITY_VEHICLE_SPEED)->store, "vehicle_speed") == 0);
    CU_ASSERT(gw_quantity_series(GW_QUANTITY_VEHICLE_SPEED)->name ==
              NULL); /* nodes cannot send it */
    CU_ASSERT(gw_quantity_series(CITYGATE__V1__QUANTITY__SPEED)->name != NULL);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"lanes exact, site merged, average of percentiles fails", test_lanes_and_site},
        {"absent is not zero, occupancy a mean of lanes", test_absent_and_occupancy},
        {"headway mean and short share per lane and merged", test_headway},
        {NULL, NULL},
    };
    return cu_main("traffic", tests);
}
