/*
 * test_cq_stats.c -- cityquery's volume figures on grids the test fills
 * itself: ADT and AADT by the AASHTO method (TMG 2022, Appendix L) with its
 * counted and estimated cases, peak hour and PHF (HCM), the 30th-highest
 * hour, completeness with gaps, partial windows from two gateways, and the
 * hourly profile over a DST week in Europe/Madrid. Expected figures come
 * from the test's own calendar (timegm/gmtime) and its own loops.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cu.h"
#include "err.h"
#include "grid.h"
#include "stats.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define Q15_MS (15 * MIN_MS)

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static struct tm utc_tm(int64_t ms)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    gmtime_r(&t, &tm);
    return tm;
}

/* Monday = 1 .. Sunday = 7. */
static int iso_wday(const struct tm *tm)
{
    return tm->tm_wday == 0 ? 7 : tm->tm_wday;
}

/* Daily volume of the closed-form year: 1000 per month number plus 10 per weekday number. */
static double day_volume(int64_t day_start)
{
    struct tm tm = utc_tm(day_start);
    return 1000.0 * (tm.tm_mon + 1) + 10.0 * iso_wday(&tm);
}

/*
 * A year of hourly windows whose daily totals are 1000 * month + 10 * weekday:
 * the AASHTO AADT is exactly 6500 + 40 = 6540 however many of each weekday a
 * month has, while the plain mean of the days is not. skip(day) drops one
 * hour of that day, making it incomplete.
 */
static void fill_year(struct cq_grid *g, int (*skip)(int64_t day_start))
{
    size_t node;
    CU_ASSERT_FATAL(cq_grid_init(g, utc(2025, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0), HOUR_MS) == 0);
    CU_ASSERT_FATAL(cq_grid_node(g, "node-a", &node) == 0);
    for (int64_t day = g->from_ms; day < g->to_ms; day += DAY_MS)
        for (int h = 0; h < 24; h++)
            if (!(h == 12 && skip && skip(day)))
                CU_ASSERT(cq_grid_add(g, node, day + h * HOUR_MS, day_volume(day) / 24) == 0);
}

static int february_mondays(int64_t day)
{
    struct tm tm = utc_tm(day);
    return tm.tm_mon == 1 && iso_wday(&tm) == 1;
}

static void test_aadt(void)
{
    struct cq_grid g;
    struct cq_bin *days = NULL;
    size_t n = 0;
    struct cq_aadt a;
    struct cq_adt adt;

    CU_ASSERT_FATAL(cq_tz_set("UTC") == 0);
    fill_year(&g, NULL);
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PDAY, &days, &n) == 0);
    CU_ASSERT_EQUAL_FATAL(n, 365);
    CU_ASSERT_FATAL(cq_aadt(days, n, 100, &a) == 0);
    CU_ASSERT(a.counted);
    CU_ASSERT_EQUAL(a.months_used, 12);
    CU_ASSERT(fabs(a.aadt - 6540) < 1e-9);
    /* The plain mean of the 365 days weighs the weekdays a month happens to have five of. */
    double total = 0;
    for (int64_t d = g.from_ms; d < g.to_ms; d += DAY_MS)
        total += day_volume(d);
    CU_ASSERT_FATAL(cq_adt(days, n, 100, &adt) == 0);
    CU_ASSERT(adt.counted);
    CU_ASSERT_EQUAL(adt.days_used, 365);
    CU_ASSERT(fabs(adt.adt - total / 365) < 1e-9);
    CU_ASSERT(fabs(adt.adt - a.aadt) > 1);
    free(days);
    cq_grid_fini(&g);

    /* February without a complete Monday: that month's cell is empty, the AADT estimated. */
    fill_year(&g, february_mondays);
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PDAY, &days, &n) == 0);
    CU_ASSERT_FATAL(cq_aadt(days, n, 100, &a) == 0);
    CU_ASSERT(!a.counted);
    CU_ASSERT_EQUAL(a.months_used, 11);
    CU_ASSERT(!a.month_full[1]);
    CU_ASSERT_EQUAL(a.n_madw[1][0], 0);
    CU_ASSERT_EQUAL(a.n_madw[1][1], 4);
    CU_ASSERT(fabs(a.aadt - ((78000.0 - 2000.0) / 11 + 40)) < 1e-9);
    total = 0;
    size_t used = 0;
    for (int64_t d = g.from_ms; d < g.to_ms; d += DAY_MS)
        if (!february_mondays(d)) {
            total += day_volume(d);
            used++;
        }
    CU_ASSERT_FATAL(cq_adt(days, n, 100, &adt) == 0);
    CU_ASSERT(!adt.counted);
    CU_ASSERT_EQUAL(adt.days_used, used);
    CU_ASSERT_EQUAL(adt.days_total, 365);
    CU_ASSERT(fabs(adt.adt - total / (double)used) < 1e-9);
    /* A day with 23 of 24 hours (95.8 %) counts when the threshold allows it. */
    CU_ASSERT_FATAL(cq_aadt(days, n, 95, &a) == 0);
    CU_ASSERT(a.counted);
    free(days);
    cq_grid_fini(&g);
}

/* A period from noon to noon: its first and last days are cut and never count as complete. */
static void test_cut_days(void)
{
    struct cq_grid g;
    struct cq_bin *days = NULL;
    size_t n = 0, node;
    struct cq_adt adt;

    CU_ASSERT_FATAL(cq_tz_set("UTC") == 0);
    int64_t from = utc(2025, 5, 5, 12, 0);
    CU_ASSERT_FATAL(cq_grid_init(&g, from, from + 2 * DAY_MS, HOUR_MS) == 0);
    CU_ASSERT_FATAL(cq_grid_node(&g, "a", &node) == 0);
    for (int64_t t = from; t < g.to_ms; t += HOUR_MS)
        CU_ASSERT(cq_grid_add(&g, node, t, t < from + 12 * HOUR_MS ? 1000 : 10) == 0);
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PDAY, &days, &n) == 0);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT(days[0].cut && !days[1].cut && days[2].cut);
    CU_ASSERT_EQUAL(cq_bin_pct(&days[0]), 100); /* all its windows in the period are there */
    CU_ASSERT_FATAL(cq_adt(days, n, 100, &adt) == 0);
    CU_ASSERT_EQUAL(adt.days_used, 1);
    CU_ASSERT_EQUAL(adt.adt, 240);
    CU_ASSERT(!adt.counted);
    free(days);
    cq_grid_fini(&g);
}

static void test_aadt_limits(void)
{
    struct cq_bin days[400];
    struct cq_aadt a;
    struct cq_adt adt;
    memset(days, 0, sizeof days);
    CU_ASSERT(cq_aadt(days, 400, 100, &a) == GW_ERANGE);
    CU_ASSERT(cq_aadt(days, 10, 100, &a) == GW_ENOTFOUND); /* nothing expected: not complete */
    CU_ASSERT(cq_adt(days, 10, 100, &adt) == GW_ENOTFOUND);
}

/*
 * One day of 15-min windows for two nodes, a known peak 08:00-09:00 (node a:
 * 100, 150, 120, 90 over a base of 10; node b: 5 everywhere): V = 480,
 * V15max = 155, PHF = 480 / 620. Then node b misses 08:30: that hour is not
 * complete and the peak is the best complete hour, found by the test's own
 * scan.
 */
static void test_peak(void)
{
    struct cq_grid g;
    struct cq_bin *q15 = NULL, *days = NULL;
    size_t n15 = 0, nd = 0, a, b;
    static const double peak[4] = {100, 150, 120, 90};
    double site[96];
    struct cq_peak p;

    CU_ASSERT_FATAL(cq_tz_set("UTC") == 0);
    int64_t day = utc(2025, 6, 10, 0, 0);
    for (int pass = 0; pass < 2; pass++) {
        CU_ASSERT_FATAL(cq_grid_init(&g, day, day + DAY_MS, Q15_MS) == 0);
        CU_ASSERT_FATAL(cq_grid_node(&g, "a", &a) == 0 && cq_grid_node(&g, "b", &b) == 0);
        for (int i = 0; i < 96; i++) {
            double va = i >= 32 && i < 36 ? peak[i - 32] : 10 + (i % 7);
            site[i] = va + 5;
            CU_ASSERT(cq_grid_add(&g, a, day + i * Q15_MS, va) == 0);
            if (pass == 1 && i == 34)
                continue;
            CU_ASSERT(cq_grid_add(&g, b, day + i * Q15_MS, 5) == 0);
        }
        CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_P15MIN, &q15, &n15) == 0);
        CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PDAY, &days, &nd) == 0);
        CU_ASSERT_EQUAL_FATAL(nd, 1);
        cq_peaks(q15, n15, days, nd, 100, &p);
        CU_ASSERT_FATAL(p.found);
        if (pass == 0) {
            CU_ASSERT_EQUAL(p.start_ms, day + 8 * HOUR_MS);
            CU_ASSERT_EQUAL(p.volume, 480);
            CU_ASSERT_EQUAL(p.v15_max, 155);
            CU_ASSERT_EQUAL(p.phf, 480.0 / 620.0);
        } else {
            double best = -1, top = 0;
            int at = -1;
            for (int j = 0; j + 3 < 96; j++) {
                if (j <= 34 && j + 3 >= 34)
                    continue;
                double v = site[j] + site[j + 1] + site[j + 2] + site[j + 3];
                if (v > best) {
                    best = v;
                    at = j;
                    top = fmax(fmax(site[j], site[j + 1]), fmax(site[j + 2], site[j + 3]));
                }
            }
            CU_ASSERT_EQUAL(p.start_ms, day + at * Q15_MS);
            CU_ASSERT_EQUAL(p.volume, best);
            CU_ASSERT_EQUAL(p.phf, best / (4 * top));
        }
        free(q15);
        free(days);
        cq_grid_fini(&g);
    }
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

/* The 30th-highest of a year of hours with scrambled volumes, against the test's own sort. */
static void test_30th_hour(void)
{
    struct cq_grid g;
    struct cq_bin *hours = NULL, h30;
    size_t n = 0, node;
    static double vols[8760];

    CU_ASSERT_FATAL(cq_tz_set("UTC") == 0);
    CU_ASSERT_FATAL(cq_grid_init(&g, utc(2025, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0), HOUR_MS) == 0);
    CU_ASSERT_FATAL(cq_grid_node(&g, "a", &node) == 0);
    for (size_t i = 0; i < g.n; i++) {
        vols[i] = (double)((i * 7919) % 8761);
        cq_grid_add(&g, node, g.from_ms + (int64_t)i * HOUR_MS, vols[i]);
    }
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PHOUR, &hours, &n) == 0);
    CU_ASSERT_EQUAL_FATAL(n, 8760);
    CU_ASSERT_FATAL(cq_nth_hour(hours, n, 100, 30, &h30) == 0);
    qsort(vols, g.n, sizeof *vols, cmp_desc);
    CU_ASSERT_EQUAL(h30.volume, vols[29]);
    CU_ASSERT(cq_nth_hour(hours, 29, 100, 30, &h30) == GW_ENOTFOUND);
    free(hours);
    cq_grid_fini(&g);
}

/*
 * Three days of 15-min windows, two nodes; node b misses 08:00-10:00 on the
 * second day; node a's windows at noon arrive as two partials (two
 * gateways), which add up.
 */
static void test_completeness(void)
{
    struct cq_grid g;
    struct cq_bin *days = NULL;
    struct cq_gap *gaps = NULL;
    size_t nd = 0, ng = 0, a, b, expected, seen;

    CU_ASSERT_FATAL(cq_tz_set("UTC") == 0);
    int64_t from = utc(2025, 3, 3, 0, 0), hole = from + DAY_MS + 8 * HOUR_MS;
    CU_ASSERT_FATAL(cq_grid_init(&g, from, from + 3 * DAY_MS, Q15_MS) == 0);
    CU_ASSERT_FATAL(cq_grid_node(&g, "a", &a) == 0 && cq_grid_node(&g, "b", &b) == 0);
    double total[3] = {0};
    for (int64_t t = from; t < g.to_ms; t += Q15_MS) {
        int d = (int)((t - from) / DAY_MS);
        if (t % DAY_MS == 12 * HOUR_MS) {
            CU_ASSERT(cq_grid_add(&g, a, t, 3) == 0);
            CU_ASSERT(cq_grid_add(&g, a, t, 4) == 0);
            total[d] += 7;
        } else {
            CU_ASSERT(cq_grid_add(&g, a, t, 2) == 0);
            total[d] += 2;
        }
        if (t >= hole && t < hole + 2 * HOUR_MS)
            continue;
        CU_ASSERT(cq_grid_add(&g, b, t, 1) == 0);
        total[d] += 1;
    }
    CU_ASSERT(cq_grid_add(&g, b, from + 1, 1) == GW_ERANGE);
    CU_ASSERT(cq_grid_add(&g, b, g.to_ms, 1) == GW_ERANGE);
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PDAY, &days, &nd) == 0);
    CU_ASSERT_EQUAL_FATAL(nd, 3);
    for (int d = 0; d < 3; d++) {
        CU_ASSERT_EQUAL(days[d].volume, total[d]);
        CU_ASSERT_EQUAL(days[d].expected, 192);
        CU_ASSERT_EQUAL(days[d].seen, d == 1 ? 184 : 192);
    }
    CU_ASSERT_EQUAL(cq_bin_pct(&days[1]), 100.0 * 184 / 192);
    cq_grid_node_count(&g, b, from + DAY_MS, from + 2 * DAY_MS, &expected, &seen);
    CU_ASSERT(expected == 96 && seen == 88);
    cq_grid_node_count(&g, a, from + DAY_MS, from + 2 * DAY_MS, &expected, &seen);
    CU_ASSERT(expected == 96 && seen == 96);
    CU_ASSERT_FATAL(cq_grid_gaps(&g, b, &gaps, &ng) == 0);
    CU_ASSERT_EQUAL_FATAL(ng, 1);
    CU_ASSERT_EQUAL(gaps[0].start_ms, hole);
    CU_ASSERT_EQUAL(gaps[0].end_ms, hole + 2 * HOUR_MS);
    free(gaps);
    CU_ASSERT_FATAL(cq_grid_gaps(&g, a, &gaps, &ng) == 0);
    CU_ASSERT_EQUAL(ng, 0);
    free(gaps);
    free(days);
    cq_grid_fini(&g);
}

/*
 * The week of the autumn change in Madrid (Mon 19 - Sun 25 Oct 2026), hourly
 * windows of volume = index of the UTC hour. The test maps each UTC hour to
 * its local hour itself (+2 h before 01:00 UTC on the 25th, +1 h after): on
 * Sunday the local 02:00 occurs twice and both count in the weekend profile.
 */
static void test_profile_dst_week(void)
{
    struct cq_grid g;
    struct cq_bin *hours = NULL;
    size_t n = 0, node;
    struct cq_profile p;
    double sum[2][24] = {{0}};
    unsigned cnt[2][24] = {{0}};

    CU_ASSERT_FATAL(cq_tz_set("Europe/Madrid") == 0);
    int64_t from = utc(2026, 10, 18, 22, 0), to = utc(2026, 10, 25, 23, 0);
    int64_t change = utc(2026, 10, 25, 1, 0);
    CU_ASSERT_FATAL(cq_grid_init(&g, from, to, HOUR_MS) == 0);
    CU_ASSERT_EQUAL(g.n, 169);
    CU_ASSERT_FATAL(cq_grid_node(&g, "a", &node) == 0);
    for (size_t i = 0; i < g.n; i++) {
        int64_t t = from + (int64_t)i * HOUR_MS;
        if (i == 100) /* one hole: a Friday hour, never averaged */
            continue;
        cq_grid_add(&g, node, t, (double)i);
        struct tm tm = utc_tm(t + (t < change ? 2 : 1) * HOUR_MS);
        int weekend = iso_wday(&tm) >= 6;
        sum[weekend][tm.tm_hour] += (double)i;
        cnt[weekend][tm.tm_hour]++;
    }
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PHOUR, &hours, &n) == 0);
    CU_ASSERT_EQUAL(n, 169);
    cq_profile(hours, n, 100, &p);
    for (int h = 0; h < 24; h++) {
        CU_ASSERT_EQUAL(p.n_weekday[h], cnt[0][h]);
        CU_ASSERT_EQUAL(p.n_weekend[h], cnt[1][h]);
        CU_ASSERT(fabs(p.weekday[h] - sum[0][h] / cnt[0][h]) < 1e-9);
        CU_ASSERT(fabs(p.weekend[h] - sum[1][h] / cnt[1][h]) < 1e-9);
    }
    CU_ASSERT_EQUAL(p.n_weekend[2], 3);
    CU_ASSERT_EQUAL(p.n_weekday[2], 5);
    free(hours);
    cq_grid_fini(&g);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"AADT (AASHTO) and ADT, counted and estimated", test_aadt},
        {"AADT limits", test_aadt_limits},
        {"days cut by the period", test_cut_days},
        {"peak hour and PHF", test_peak},
        {"30th-highest hour", test_30th_hour},
        {"completeness, gaps and partials", test_completeness},
        {"profile over a DST week", test_profile_dst_week},
        {NULL, NULL},
    };
    return cu_main("cq_stats", tests);
}
