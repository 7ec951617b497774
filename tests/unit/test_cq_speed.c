/*
 * test_cq_speed.c -- speeds merged from stored window summaries: v85 within
 * the summary's stated error of the exact 85th percentile of all values,
 * the naive mean of the windows' p85 shown to differ, the share above a
 * limit, and refusals of text that is not a summary.
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

/* The exact value of rank floor(q (n - 1)) of sorted[]: what the summary promises to approach. */
static double exact(const double *sorted, size_t n, double q)
{
    return sorted[(size_t)floor(q * (double)(n - 1))];
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
    struct cq_speed merged;
    char text[GW_QSKETCH_TEXT_MAX];

    cq_speed_init(&merged);
    for (int w = 0; w < N_WINDOWS; w++) {
        int hour = (w / 4) % 24;
        int busy = (hour >= 7 && hour <= 9) || (hour >= 17 && hour <= 19);
        size_t n = busy ? 250 : (hour < 6 ? 8 : 60);
        double base = busy ? 25 : (hour < 6 ? 70 : 50);
        struct gw_qsketch sk;
        double window_values[256], sum = 0, p85 = 0, w_sorted[256];
        size_t len = 0;

        gw_qsketch_init(&sk);
        for (size_t i = 0; i < n; i++) {
            double v = base + 30 * rng_unit() * rng_unit();
            window_values[i] = v;
            all[n_all++] = v;
            sum += v;
            CU_ASSERT_FATAL(gw_qsketch_add(&sk, v) == 0);
        }
        memcpy(w_sorted, window_values, n * sizeof *w_sorted);
        qsort(w_sorted, n, sizeof *w_sorted, cmp_double);
        p85 = exact(w_sorted, n, 0.85);
        sum_p85 += p85;
        sum_all += sum;
        CU_ASSERT_FATAL(gw_qsketch_format(&sk, text, sizeof text, &len) == 0);
        CU_ASSERT_FATAL(cq_speed_add_text(&merged, n, sum, text, len) == 0);
        gw_qsketch_fini(&sk);
    }
    qsort(all, n_all, sizeof *all, cmp_double);

    struct cq_speed_figures f;
    CU_ASSERT_FATAL(cq_speed_figures(&merged, 0, &f) == 0);
    CU_ASSERT_EQUAL(f.count, n_all);
    CU_ASSERT(fabs(f.mean - sum_all / (double)n_all) < 1e-9 * f.mean);
    const double qs[] = {0.15, 0.50, 0.85, 0.95};
    const double got[] = {f.v15, f.v50, f.v85, f.v95};
    for (int i = 0; i < 4; i++) {
        double want = exact(all, n_all, qs[i]);
        CU_ASSERT(fabs(got[i] - want) <= GW_QSKETCH_ALPHA * want);
    }
    CU_ASSERT(isnan(f.pct_over));

    /* The naive figure: the mean of the windows' own p85, off by far more than the error. */
    double naive = sum_p85 / N_WINDOWS, v85 = exact(all, n_all, 0.85);
    printf("\n  v85 exact %.2f, merged %.2f, mean of window p85 %.2f\n", v85, f.v85, naive);
    CU_ASSERT(fabs(naive - v85) > 4 * GW_QSKETCH_ALPHA * v85);

    /* Share above 50 km/h: between the exact shares above 50 (1 +- alpha), give or take a rank. */
    CU_ASSERT_FATAL(cq_speed_figures(&merged, 50, &f) == 0);
    size_t above_hi = 0, above_lo = 0;
    for (size_t i = 0; i < n_all; i++) {
        above_hi += all[i] > 50 * (1 + GW_QSKETCH_ALPHA);
        above_lo += all[i] > 50 * (1 - GW_QSKETCH_ALPHA);
    }
    double one = 100.0 / (double)n_all;
    CU_ASSERT(f.pct_over >= 100.0 * (double)above_hi / (double)n_all - one);
    CU_ASSERT(f.pct_over <= 100.0 * (double)above_lo / (double)n_all + one);
    CU_ASSERT_FATAL(cq_speed_figures(&merged, 500, &f) == 0);
    CU_ASSERT_EQUAL(f.pct_over, 0);
    CU_ASSERT_FATAL(cq_speed_figures(&merged, 1, &f) == 0);
    CU_ASSERT_EQUAL(f.pct_over, 100);
    cq_speed_fini(&merged);
}

/* Partial windows of one series from two gateways merge to the figures of the whole. */
static void test_partials(void)
{
    struct gw_qsketch a, b, whole;
    struct cq_speed s;
    char text[GW_QSKETCH_TEXT_MAX];
    size_t len;
    double sum_a = 0, sum_b = 0, va, vb;

    gw_qsketch_init(&a);
    gw_qsketch_init(&b);
    gw_qsketch_init(&whole);
    for (int i = 0; i < 100; i++) {
        va = 30 + i * 0.5;
        vb = 60 + i * 0.25;
        sum_a += va;
        sum_b += vb;
        gw_qsketch_add(&a, va);
        gw_qsketch_add(&b, vb);
        gw_qsketch_add(&whole, va);
        gw_qsketch_add(&whole, vb);
    }
    cq_speed_init(&s);
    CU_ASSERT_FATAL(gw_qsketch_format(&a, text, sizeof text, &len) == 0);
    CU_ASSERT(cq_speed_add_text(&s, 100, sum_a, text, len) == 0);
    CU_ASSERT_FATAL(gw_qsketch_format(&b, text, sizeof text, &len) == 0);
    CU_ASSERT(cq_speed_add_text(&s, 100, sum_b, text, len) == 0);
    struct cq_speed_figures f;
    CU_ASSERT_FATAL(cq_speed_figures(&s, 0, &f) == 0);
    double want;
    CU_ASSERT_FATAL(gw_qsketch_quantile(&whole, 0.85, &want) == 0);
    CU_ASSERT_EQUAL(f.v85, want);
    CU_ASSERT_EQUAL(f.count, 200);

    /* Text that is not a summary, or whose count disagrees with the count field: refused. */
    CU_ASSERT(cq_speed_add_text(&s, 1, 1, "garbage", 7) == GW_EINVAL);
    CU_ASSERT(cq_speed_add_text(&s, 99, sum_b, text, len) == GW_EINVAL);
    CU_ASSERT_FATAL(cq_speed_figures(&s, 0, &f) == 0);
    CU_ASSERT_EQUAL(f.count, 200);

    struct cq_speed empty;
    cq_speed_init(&empty);
    CU_ASSERT(cq_speed_figures(&empty, 0, &f) == GW_ENOTFOUND);
    cq_speed_fini(&empty);
    cq_speed_fini(&s);
    gw_qsketch_fini(&a);
    gw_qsketch_fini(&b);
    gw_qsketch_fini(&whole);
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
