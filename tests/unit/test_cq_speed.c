/*
 * test_cq_speed.c -- vehicle speeds merged from stored window sketches by
 * the gateway's merge rule: v85 within the sketch's stated error of the
 * exact nearest-rank 85th percentile of all vehicles, the naive mean of the
 * windows' v85 shown to differ, the share above a limit, and refusals of
 * text that is not a sketch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "speed.h"

#define N_WINDOWS 672 /* a week of 15-min windows */

static uint64_t rng_state = 17;

static double rng_unit(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * The exact nearest-rank q-percentile of sorted[]: the value of 1-based rank
 * ceil(q n), at least 1 (what the sketch promises to approach), computed
 * here with an integer ceiling so that 0.85 * 20 is exactly 17.
 */
static double exact(const double *sorted, size_t n, double q)
{
    size_t permille = (size_t)llround(q * 1000), rank = (permille * n + 999) / 1000;
    return sorted[rank ? rank - 1 : 0];
}

/* Folds one window's values as the gateway stores them: count, sum, min, max, sketch text. */
static void add_window(struct gw_traffic *t, const double *v, size_t n)
{
    struct gw_qsketch sk;
    char text[GW_QSKETCH_TEXT_MAX];
    struct cq_speed_window w = {.count = n, .min = v[0], .max = v[0]};
    gw_qsketch_init(&sk);
    for (size_t i = 0; i < n; i++) {
        w.sum += v[i];
        w.min = fmin(w.min, v[i]);
        w.max = fmax(w.max, v[i]);
        CU_ASSERT_FATAL(gw_qsketch_add(&sk, v[i]) == 0);
    }
    CU_ASSERT_FATAL(gw_qsketch_format(&sk, text, sizeof text, &w.sketch_len) == 0);
    w.sketch = text;
    CU_ASSERT_FATAL(cq_speed_add(t, &w) == 0);
    gw_qsketch_fini(&sk);
}

/*
 * A week of windows whose speeds differ by time of day (free flow at night
 * with few vehicles, congestion at peaks with many): each window's summary
 * is formatted as the gateway stores it and merged back from the text.
 */
static void test_week_v85(void)
{
    static double all[200000];
    size_t n_all = 0;
    double sum_p85 = 0, sum_all = 0;
    struct gw_traffic merged;
    struct gw_traffic_figures f;

    gw_traffic_init(&merged);
    for (int w = 0; w < N_WINDOWS; w++) {
        int hour = (w / 4) % 24;
        int busy = (hour >= 7 && hour <= 9) || (hour >= 17 && hour <= 19);
        size_t n = busy ? 250 : (hour < 6 ? 8 : 60);
        double base = busy ? 25 : (hour < 6 ? 70 : 50);
        double values[256], sorted[256];

        for (size_t i = 0; i < n; i++) {
            values[i] = base + 30 * rng_unit() * rng_unit();
            all[n_all++] = values[i];
            sum_all += values[i];
        }
        memcpy(sorted, values, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_double);
        sum_p85 += exact(sorted, n, 0.85);
        add_window(&merged, values, n);
    }
    qsort(all, n_all, sizeof *all, cmp_double);

    gw_traffic_figures(&merged, 7 * 86400000LL, &f);
    CU_ASSERT_FATAL(f.has & GW_TF_SPEED);
    CU_ASSERT_EQUAL(f.vehicles, n_all);
    CU_ASSERT(fabs(f.speed_mean_kmh - sum_all / (double)n_all) < 1e-9 * f.speed_mean_kmh);
    const double qs[] = {0.15, 0.50, 0.85, 0.95};
    const double got[] = {f.v15_kmh, f.v50_kmh, f.v85_kmh, f.v95_kmh};
    for (int i = 0; i < 4; i++) {
        double want = exact(all, n_all, qs[i]);
        CU_ASSERT(fabs(got[i] - want) <= GW_QSKETCH_ALPHA * want);
    }

    /* The naive figure: the mean of the windows' own v85, off by far more than the error. */
    double naive = sum_p85 / N_WINDOWS, v85 = exact(all, n_all, 0.85);
    printf("\n  v85 exact %.2f, merged %.2f, mean of window v85 %.2f\n", v85, f.v85_kmh, naive);
    CU_ASSERT(fabs(naive - v85) > 4 * GW_QSKETCH_ALPHA * v85);

    /* Share above 50 km/h: between the exact shares above 50 (1 +- alpha), give or take one. */
    double over;
    CU_ASSERT_FATAL(cq_speed_pct_over(&merged, 50, &over) == 0);
    size_t above_hi = 0, above_lo = 0;
    for (size_t i = 0; i < n_all; i++) {
        above_hi += all[i] > 50 * (1 + GW_QSKETCH_ALPHA);
        above_lo += all[i] > 50 * (1 - GW_QSKETCH_ALPHA);
    }
    double one = 100.0 / (double)n_all;
    CU_ASSERT(over >= 100.0 * (double)above_hi / (double)n_all - one);
    CU_ASSERT(over <= 100.0 * (double)above_lo / (double)n_all + one);
    CU_ASSERT(cq_speed_pct_over(&merged, 500, &over) == 0 && over == 0);
    CU_ASSERT(cq_speed_pct_over(&merged, 1, &over) == 0 && over == 100);
    gw_traffic_fini(&merged);
}

/* Partial windows of one lane from two gateways merge to the figures of the whole. */
static void test_partials(void)
{
    double a[100], b[100], both[200];
    struct gw_traffic t, whole;
    struct gw_traffic_figures f, fw;

    for (int i = 0; i < 100; i++) {
        a[i] = 30 + i * 0.5;
        b[i] = 60 + i * 0.25;
        both[i] = a[i];
        both[100 + i] = b[i];
    }
    gw_traffic_init(&t);
    gw_traffic_init(&whole);
    add_window(&t, a, 100);
    add_window(&t, b, 100);
    add_window(&whole, both, 200);
    gw_traffic_figures(&t, 900000, &f);
    gw_traffic_figures(&whole, 900000, &fw);
    CU_ASSERT_EQUAL(f.v85_kmh, fw.v85_kmh);
    CU_ASSERT_EQUAL(f.vehicles, 200);
    CU_ASSERT_EQUAL(f.speed_mean_kmh, fw.speed_mean_kmh);

    /* Text that is not a sketch, or whose count disagrees with the count field: refused. */
    struct cq_speed_window bad = {
        .count = 1, .sum = 1, .min = 1, .max = 1, .sketch = "garbage", .sketch_len = 7};
    CU_ASSERT(cq_speed_add(&t, &bad) == GW_EINVAL);
    char text[GW_QSKETCH_TEXT_MAX];
    size_t len;
    gw_qsketch_format(&whole.speed, text, sizeof text, &len);
    struct cq_speed_window wrong = {
        .count = 99, .sum = 1, .min = 1, .max = 1, .sketch = text, .sketch_len = len};
    CU_ASSERT(cq_speed_add(&t, &wrong) == GW_EINVAL);
    gw_traffic_figures(&t, 900000, &f);
    CU_ASSERT_EQUAL(f.vehicles, 200);

    struct gw_traffic empty;
    double over;
    gw_traffic_init(&empty);
    gw_traffic_figures(&empty, 900000, &f);
    CU_ASSERT(!(f.has & GW_TF_SPEED));
    CU_ASSERT(cq_speed_pct_over(&empty, 50, &over) == GW_ENOTFOUND);
    gw_traffic_fini(&empty);
    gw_traffic_fini(&t);
    gw_traffic_fini(&whole);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"a week of windows: v85 merged, not averaged", test_week_v85},
        {"partial windows from two gateways", test_partials},
        {NULL, NULL},
    };
    return cu_main("cq_speed", tests);
}
