/*
 * test_qsketch.c -- the quantile summary against exact quantiles of sorted
 * data, its merge and text form, and clean failure when allocations fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cu.h"
#include "err.h"
#include "qsketch.h"

#define N_VALUES 20000

static const double probes[] = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.85, 0.9, 0.95, 0.99, 1.0};
/* The same probes in per mille, for the test's own rank arithmetic in integers. */
static const unsigned probes_pm[] = {0, 10, 100, 250, 500, 750, 850, 900, 950, 990, 1000};

/* The 0-based index of the nearest-rank q-quantile of n values, q = pm / 1000: ceil(q n) - 1. */
static size_t nearest_index(unsigned pm, size_t n)
{
    size_t r = (pm * n + 999) / 1000;
    return r ? r - 1 : 0;
}
static char text_a[GW_QSKETCH_TEXT_MAX], text_b[GW_QSKETCH_TEXT_MAX];

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0; /* [0, 1) */
}

static double rng_normal(double mean, double sd)
{
    double u = rng_unit(), v = rng_unit();
    return mean + sd * sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void format_into(const struct gw_qsketch *s, char *buf)
{
    size_t len = 0;
    CU_ASSERT_FATAL(gw_qsketch_format(s, buf, GW_QSKETCH_TEXT_MAX, &len) == 0);
    CU_ASSERT(strlen(buf) == len);
}

/* Adds values[0..n) to a fresh sketch and checks every probe against the sorted data. */
static void check_distribution(const char *name, double *values, size_t n)
{
    struct gw_qsketch s;
    double worst = 0;

    gw_qsketch_init(&s);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_FATAL(gw_qsketch_add(&s, values[i]) == 0);
    CU_ASSERT(gw_qsketch_count(&s) == n);
    qsort(values, n, sizeof *values, cmp_double);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        double got, exact = values[nearest_index(probes_pm[i], n)];
        CU_ASSERT_FATAL(gw_qsketch_quantile(&s, probes[i], &got) == 0);
        double err = exact == 0 ? fabs(got) : fabs(got - exact) / fabs(exact);
        if (err > GW_QSKETCH_ALPHA + 1e-12)
            fprintf(stderr, "\n%s q=%.2f: exact %.17g, got %.17g\n", name, probes[i], exact, got);
        CU_ASSERT(err <= GW_QSKETCH_ALPHA + 1e-12);
        worst = err > worst ? err : worst;
    }
    format_into(&s, text_a);
    printf("\n    %-22s n=%zu worst relative error %.4f%%, heap %zu bytes, text %zu chars", name, n,
           worst * 100, gw_qsketch_heap_bytes(&s), strlen(text_a));
    gw_qsketch_fini(&s);
}

static void test_uniform(void)
{
    static double v[N_VALUES];
    rng_state = 1;
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = rng_unit() * 100.0;
    check_distribution("uniform 0..100", v, N_VALUES);
}

static void test_speeds(void)
{
    static double v[N_VALUES];
    rng_state = 2;
    for (size_t i = 0; i < N_VALUES; i++) {
        double x = rng_normal(52.0, 11.0);
        v[i] = x < 0 ? 0 : x;
    }
    check_distribution("speeds N(52, 11) km/h", v, N_VALUES);
}

static void test_heavy_tail(void)
{
    static double v[N_VALUES];
    rng_state = 3;
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = 2.0 / pow(1.0 - rng_unit(), 1.0 / 1.2); /* Pareto, shape 1.2, from 2 */
    check_distribution("Pareto(1.2) PM-like", v, N_VALUES);
}

static void test_mixed_signs(void)
{
    static double v[N_VALUES];
    rng_state = 4;
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = i % 50 == 0 ? 0.0 : rng_normal(1.0, 6.0);
    check_distribution("temperature N(1, 6)", v, N_VALUES);
}

/* A single value is reported within alpha over the whole range of doubles. */
static void test_every_magnitude(void)
{
    rng_state = 5;
    for (int i = 0; i < 20000; i++) {
        struct gw_qsketch s;
        double v = ldexp(1.0 + rng_unit(), (int)(rng_next() % 2040) - 1020), got;
        v = i % 2 ? -v : v;
        gw_qsketch_init(&s);
        CU_ASSERT_FATAL(gw_qsketch_add(&s, v) == 0);
        CU_ASSERT_FATAL(gw_qsketch_quantile(&s, 0.5, &got) == 0);
        CU_ASSERT(fabs(got - v) <= (GW_QSKETCH_ALPHA + 1e-12) * fabs(v));
        gw_qsketch_fini(&s);
    }
}

/* The same multiset in any order, or split and merged, gives the same text. */
static void test_merge_equals_union(void)
{
    static double v[N_VALUES];
    struct gw_qsketch all, a, b, shuffled;

    rng_state = 6;
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = i % 7 == 0 ? -rng_normal(20, 5) : (i % 11 == 0 ? 0.0 : rng_normal(50, 15));
    gw_qsketch_init(&all);
    gw_qsketch_init(&a);
    gw_qsketch_init(&b);
    gw_qsketch_init(&shuffled);
    for (size_t i = 0; i < N_VALUES; i++) {
        CU_ASSERT_FATAL(gw_qsketch_add(&all, v[i]) == 0);
        CU_ASSERT_FATAL(gw_qsketch_add(i % 3 ? &a : &b, v[i]) == 0);
    }
    for (size_t i = N_VALUES; i-- > 1;) {
        size_t j = rng_next() % (i + 1);
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    for (size_t i = 0; i < N_VALUES; i++)
        CU_ASSERT_FATAL(gw_qsketch_add(&shuffled, v[i]) == 0);
    CU_ASSERT_FATAL(gw_qsketch_merge(&a, &b) == 0);
    format_into(&all, text_a);
    format_into(&a, text_b);
    CU_ASSERT_STRING_EQUAL(text_a, text_b);
    format_into(&shuffled, text_b);
    CU_ASSERT_STRING_EQUAL(text_a, text_b);
    CU_ASSERT(gw_qsketch_count(&a) == N_VALUES);
    gw_qsketch_fini(&all);
    gw_qsketch_fini(&a);
    gw_qsketch_fini(&b);
    gw_qsketch_fini(&shuffled);
}

/*
 * Values spanning more than GW_QSKETCH_MAX_BINS buckets fold the smallest
 * magnitudes together: the store stays bounded, the folding does not depend
 * on order, and quantiles above the folded mass keep their bound.
 */
static void test_folding(void)
{
    static double v[N_VALUES];
    struct gw_qsketch up, down, a, b;

    gw_qsketch_init(&up);
    gw_qsketch_init(&down);
    gw_qsketch_init(&a);
    gw_qsketch_init(&b);
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = pow(10.0, -6.0 + 12.0 * (double)i / N_VALUES); /* 1e-6 .. 1e6 */
    for (size_t i = 0; i < N_VALUES; i++) {
        CU_ASSERT_FATAL(gw_qsketch_add(&up, v[i]) == 0);
        CU_ASSERT_FATAL(gw_qsketch_add(&down, v[N_VALUES - 1 - i]) == 0);
        CU_ASSERT_FATAL(gw_qsketch_add(i < N_VALUES / 2 ? &a : &b, v[i]) == 0);
    }
    CU_ASSERT_FATAL(gw_qsketch_merge(&b, &a) == 0);
    format_into(&up, text_a);
    format_into(&down, text_b);
    CU_ASSERT_STRING_EQUAL(text_a, text_b);
    format_into(&b, text_b);
    CU_ASSERT_STRING_EQUAL(text_a, text_b);
    CU_ASSERT(gw_qsketch_count(&up) == N_VALUES);
    CU_ASSERT(gw_qsketch_heap_bytes(&up) <= GW_QSKETCH_MAX_BINS * 2);
    for (unsigned pm = 700; pm <= 1000; pm += 50) {
        double q = pm / 1000.0, got, exact = v[nearest_index(pm, N_VALUES)];
        CU_ASSERT_FATAL(gw_qsketch_quantile(&up, q, &got) == 0);
        CU_ASSERT(fabs(got - exact) <= (GW_QSKETCH_ALPHA + 1e-12) * exact);
    }
    gw_qsketch_fini(&up);
    gw_qsketch_fini(&down);
    gw_qsketch_fini(&a);
    gw_qsketch_fini(&b);
}

/* Counters widen from 16 to 32 bits without losing counts. */
static void test_wide_counters(void)
{
    struct gw_qsketch s, t;
    size_t len;
    gw_qsketch_init(&s);
    gw_qsketch_init(&t);
    for (int i = 0; i < 70000; i++)
        CU_ASSERT_FATAL(gw_qsketch_add(&s, 42.0) == 0);
    CU_ASSERT_FATAL(gw_qsketch_add(&s, 40.0) == 0);
    CU_ASSERT(gw_qsketch_count(&s) == 70001);
    CU_ASSERT_FATAL(gw_qsketch_format(&s, text_a, sizeof text_a, &len) == 0);
    CU_ASSERT(strstr(text_a, "70000") != NULL);
    CU_ASSERT_FATAL(gw_qsketch_parse(&t, text_a, len, NULL) == 0);
    CU_ASSERT_FATAL(gw_qsketch_merge(&t, &s) == 0);
    CU_ASSERT(gw_qsketch_count(&t) == 140002);
    gw_qsketch_fini(&s);
    gw_qsketch_fini(&t);
}

static void test_round_trip(void)
{
    struct gw_qsketch s, t;
    size_t len;
    struct gw_qsketch_diag diag;

    gw_qsketch_init(&s);
    gw_qsketch_init(&t);
    CU_ASSERT_FATAL(gw_qsketch_format(&s, text_a, sizeof text_a, &len) == 0);
    CU_ASSERT_STRING_EQUAL(text_a, "q1");
    rng_state = 7;
    for (int i = 0; i < 500; i++)
        CU_ASSERT_FATAL(gw_qsketch_add(&s, i % 9 ? rng_normal(0, 30) : 0.0) == 0);
    CU_ASSERT_FATAL(gw_qsketch_add(&s, 1.0) == 0);
    CU_ASSERT_FATAL(gw_qsketch_format(&s, text_a, sizeof text_a, &len) == 0);
    CU_ASSERT(strspn(text_a, "q1;znp0123456789:,~-") == len);
    CU_ASSERT_FATAL(gw_qsketch_parse(&t, text_a, len, &diag) == 0);
    format_into(&t, text_b);
    CU_ASSERT_STRING_EQUAL(text_a, text_b);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        double x, y;
        CU_ASSERT(gw_qsketch_quantile(&s, probes[i], &x) == 0);
        CU_ASSERT(gw_qsketch_quantile(&t, probes[i], &y) == 0);
        CU_ASSERT(x == y);
    }
    /* Parsing replaces, not adds; a too small buffer is refused whole. */
    CU_ASSERT_FATAL(gw_qsketch_parse(&t, "q1;z3", 5, &diag) == 0);
    CU_ASSERT(gw_qsketch_count(&t) == 3);
    CU_ASSERT(gw_qsketch_format(&s, text_b, 10, &len) == GW_EFULL);
    CU_ASSERT(text_b[0] == '\0');
    gw_qsketch_fini(&s);
    gw_qsketch_fini(&t);
}

static void test_parse_refuses_garbage(void)
{
    static const char *const bad[] = {
        "",
        "q",
        "q2",
        "Q1",
        "q1;",
        "q1;z",
        "q1;z0",
        "q1;z01",
        "q1;z4294967296",
        "q1;p",
        "q1;p5",
        "q1;p5:",
        "q1;p5:0",
        "q1;p5:1,",
        "q1;p5:1,~2",
        "q1;p5:~2,1",
        "q1;p5:1,~2,~2,1",
        "q1;p5:1,~0,1",
        "q1;p-0:1",
        "q1;p05:1",
        "q1;p+5:1",
        "q1;p5:1;z2",
        "q1;n5:1;p5:1",
        "q1;p5:1;p6:1",
        "q1;p5:1,~600,1",
        "q1;p99999999:1",
        "q1;p-40000:1",
        "q1;p5:1 ",
        "q1;x5:1",
        "q1;p5:1\"",
        "q1;p5:1\\",
        "q1;p5:1,1a",
    };
    struct gw_qsketch s;
    size_t len;

    gw_qsketch_init(&s);
    CU_ASSERT_FATAL(gw_qsketch_add(&s, 12.5) == 0);
    format_into(&s, text_a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct gw_qsketch_diag diag = {0, NULL};
        int rc = gw_qsketch_parse(&s, bad[i], strlen(bad[i]), &diag);
        if (rc != GW_EINVAL)
            fprintf(stderr, "\naccepted \"%s\"\n", bad[i]);
        CU_ASSERT(rc == GW_EINVAL);
        CU_ASSERT(diag.what != NULL);
        CU_ASSERT(diag.offset <= strlen(bad[i]));
    }
    /* An embedded NUL and a text longer than any sketch are refused too. */
    CU_ASSERT(gw_qsketch_parse(&s, "q1;z1\0", 6, NULL) == GW_EINVAL);
    memset(text_b, '1', sizeof text_b);
    CU_ASSERT(gw_qsketch_parse(&s, text_b, sizeof text_b, NULL) == GW_EINVAL);
    CU_ASSERT_FATAL(gw_qsketch_format(&s, text_b, sizeof text_b, &len) == 0);
    CU_ASSERT_STRING_EQUAL(text_a, text_b);
    gw_qsketch_fini(&s);
}

/* reset keeps the buffers: refilling a window's sketch does not allocate. */
static void test_reset_reuses_buffers(void)
{
    struct gw_qsketch s;
    gw_qsketch_init(&s);
    for (int i = 0; i < 30; i++)
        CU_ASSERT_FATAL(gw_qsketch_add(&s, 40.0 + i) == 0);
    size_t bytes = gw_qsketch_heap_bytes(&s);
    gw_qsketch_reset(&s);
    CU_ASSERT(gw_qsketch_count(&s) == 0);
    gw_alloc_fail_after(-1);
    for (int i = 0; i < 30; i++)
        CU_ASSERT_FATAL(gw_qsketch_add(&s, 69.0 - i) == 0);
    CU_ASSERT(gw_alloc_count() == 0);
    CU_ASSERT(gw_qsketch_heap_bytes(&s) == bytes);
    gw_qsketch_fini(&s);
    gw_qsketch_fini(NULL);
}

/* With the Nth allocation failing, add, merge and parse fail cleanly and change nothing. */
static void test_allocation_failures(void)
{
    static const double values[] = {3.0, -2.0, 0.0, 1e5, 1e-5, 7.0, -9e3, 1e-5};
    const char *text = "q1;z2;p-300:1,~10,4,5;n7:2,~500,1";
    int done = 0;

    for (long n = 0; !done && n < 100; n++) {
        struct gw_qsketch s, t;
        int rc = 0;
        gw_qsketch_init(&s);
        gw_qsketch_init(&t);
        gw_alloc_fail_after(n);
        for (size_t i = 0; rc == 0 && i < sizeof values / sizeof values[0]; i++) {
            format_into(&s, text_a);
            rc = gw_qsketch_add(&s, values[i]);
            if (rc) {
                format_into(&s, text_b);
                CU_ASSERT_STRING_EQUAL(text_a, text_b);
            }
        }
        if (rc == 0) {
            rc = gw_qsketch_parse(&t, text, strlen(text), NULL);
            if (rc)
                CU_ASSERT(gw_qsketch_count(&t) == 0);
        }
        if (rc == 0) {
            rc = gw_qsketch_merge(&t, &s);
            CU_ASSERT(gw_qsketch_count(&t) == (rc ? 15 : 15 + 8));
        }
        CU_ASSERT(rc == 0 || rc == GW_ENOMEM);
        done = rc == 0;
        gw_alloc_fail_after(-1);
        gw_qsketch_fini(&s);
        gw_qsketch_fini(&t);
    }
    CU_ASSERT(done);
}

static void test_bad_arguments(void)
{
    struct gw_qsketch s;
    struct gw_qkey key;
    double x = 1;
    gw_qsketch_init(&s);
    CU_ASSERT(gw_qsketch_add(&s, NAN) == GW_EINVAL);
    CU_ASSERT(gw_qsketch_add(&s, INFINITY) == GW_EINVAL);
    CU_ASSERT(gw_qsketch_key(-INFINITY, &key) == GW_EINVAL);
    CU_ASSERT(gw_qsketch_quantile(&s, 0.5, &x) == GW_ENOTFOUND);
    CU_ASSERT(gw_qsketch_add(&s, -0.0) == 0);
    CU_ASSERT(gw_qsketch_quantile(&s, 1.5, &x) == GW_EINVAL);
    CU_ASSERT(gw_qsketch_quantile(&s, NAN, &x) == GW_EINVAL);
    CU_ASSERT(gw_qsketch_quantile(&s, 0.5, &x) == 0 && x == 0.0);
    gw_qsketch_fini(&s);
}

/*
 * v85 of a few vehicles is the nearest rank: of two vehicles the faster one
 * (the lower rank floor(q (n - 1)) gave the slower), of twenty the 17th, for
 * every n up to 200 the value the test's own integer rank arithmetic picks.
 */
static void test_nearest_rank(void)
{
    struct gw_qsketch s;
    double x = 0;
    gw_qsketch_init(&s);
    CU_ASSERT_FATAL(gw_qsketch_add(&s, 40.0) == 0);
    CU_ASSERT_FATAL(gw_qsketch_add(&s, 60.0) == 0);
    CU_ASSERT(gw_qsketch_quantile(&s, 0.85, &x) == 0 && fabs(x - 60.0) <= GW_QSKETCH_ALPHA * 60.0);
    CU_ASSERT(gw_qsketch_quantile(&s, 0.5, &x) == 0 && fabs(x - 40.0) <= GW_QSKETCH_ALPHA * 40.0);
    CU_ASSERT(gw_qsketch_rank(0.85, 20) == 17.0);
    CU_ASSERT(gw_qsketch_rank(0.85, 2) == 2.0);
    CU_ASSERT(gw_qsketch_rank(0.0, 5) == 1.0);
    CU_ASSERT(gw_qsketch_rank(1.0, 5) == 5.0);
    gw_qsketch_reset(&s);
    for (size_t n = 1; n <= 200; n++) {
        CU_ASSERT_FATAL(gw_qsketch_add(&s, 10.0 * (double)n) == 0);
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
            double exact = 10.0 * (double)(nearest_index(probes_pm[i], n) + 1);
            CU_ASSERT_FATAL(gw_qsketch_quantile(&s, probes[i], &x) == 0);
            CU_ASSERT(fabs(x - exact) <= GW_QSKETCH_ALPHA * exact);
            CU_ASSERT(gw_qsketch_rank(probes[i], n) ==
                      (double)(nearest_index(probes_pm[i], n) + 1));
        }
    }
    gw_qsketch_fini(&s);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"uniform within alpha", test_uniform},
        {"normal speeds within alpha", test_speeds},
        {"heavy tail within alpha", test_heavy_tail},
        {"mixed signs and zeros within alpha", test_mixed_signs},
        {"every magnitude within alpha", test_every_magnitude},
        {"merge equals the sketch of the union", test_merge_equals_union},
        {"folding is bounded and order-free", test_folding},
        {"counters widen", test_wide_counters},
        {"text round trip", test_round_trip},
        {"parse refuses garbage", test_parse_refuses_garbage},
        {"reset reuses buffers", test_reset_reuses_buffers},
        {"allocation failures", test_allocation_failures},
        {"bad arguments", test_bad_arguments},
        {"nearest rank, as for v85", test_nearest_rank},
        {NULL, NULL},
    };
    return cu_main("qsketch", tests);
}
