/*
 * test_cq_time.c -- cityquery's local time: days of 23 and 25 hours, a DST
 * week in Europe/Madrid, ISO 8601 weeks and text, against figures the test
 * derives itself (the EU rule for summer time, strftime's %G-%V).
 */
#define _DEFAULT_SOURCE /* timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cu.h"
#include "err.h"
#include "grid.h"
#include "localtime.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

/* UTC instant of a UTC date and time, from the C library's timegm. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

/* Day of the month of the last Sunday of (y, mo), by timegm's weekday. */
static int last_sunday(int y, int mo)
{
    for (int d = 31;; d--) {
        struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = 12};
        time_t t = timegm(&tm);
        gmtime_r(&t, &tm);
        if (tm.tm_mon == mo - 1 && tm.tm_wday == 0)
            return d;
    }
}

/*
 * Local midnight in Madrid by the EU rule (Directive 2000/84/EC): CET, +1 h;
 * CEST, +2 h, from 01:00 UTC on the last Sunday of March to 01:00 UTC on
 * the last Sunday of October. A midnight is at 22:00 or 23:00 UTC, never
 * near a change, so the offset in force at 23:00 UTC the day before decides.
 */
static int64_t madrid_midnight(int y, int mo, int d)
{
    int64_t cet = utc(y, mo, d, 0, 0) - HOUR_MS;
    int64_t on = utc(y, 3, last_sunday(y, 3), 1, 0), off = utc(y, 10, last_sunday(y, 10), 1, 0);
    return cet >= on && cet < off ? cet - HOUR_MS : cet;
}

static void test_unknown_zone(void)
{
    CU_ASSERT(cq_tz_set("Europe/Atlantis") == GW_ENOTFOUND);
    CU_ASSERT(cq_tz_set("../etc/passwd") == GW_ENOTFOUND);
    CU_ASSERT(cq_tz_set("") == GW_ENOTFOUND);
    CU_ASSERT(cq_tz_set("UTC") == 0);
    CU_ASSERT(cq_tz_set("Europe/Madrid") == 0);
}

/* Every local day of 2026 in Madrid: starts at the EU-rule midnight and lasts 23, 24 or 25 h. */
static void test_madrid_days(void)
{
    int short_days = 0, long_days = 0;
    CU_ASSERT_FATAL(cq_tz_set("Europe/Madrid") == 0);
    int64_t start = madrid_midnight(2026, 1, 1);
    for (int64_t day = 0; day < 365; day++) {
        struct tm tm, next;
        time_t t = (time_t)((utc(2026, 1, 1, 12, 0) + day * DAY_MS) / 1000);
        time_t t_next = t + 86400;
        gmtime_r(&t, &tm);
        gmtime_r(&t_next, &next);
        int y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday;
        int64_t expect_start = madrid_midnight(y, mo, d);
        int64_t expect_end = madrid_midnight(next.tm_year + 1900, next.tm_mon + 1, next.tm_mday);
        CU_ASSERT_EQUAL(cq_period_start(CQ_PDAY, expect_start + 5 * HOUR_MS), expect_start);
        CU_ASSERT_EQUAL(cq_period_start(CQ_PDAY, expect_start), expect_start);
        CU_ASSERT_EQUAL(cq_period_next(CQ_PDAY, expect_start), expect_end);
        CU_ASSERT_EQUAL(expect_start, start);
        int64_t len = expect_end - expect_start;
        CU_ASSERT(len == 23 * HOUR_MS || len == 24 * HOUR_MS || len == 25 * HOUR_MS);
        if (len == 23 * HOUR_MS) {
            short_days++;
            CU_ASSERT(mo == 3 && d == last_sunday(2026, 3));
        }
        if (len == 25 * HOUR_MS) {
            long_days++;
            CU_ASSERT(mo == 10 && d == last_sunday(2026, 10));
        }
        start = cq_period_next(CQ_PDAY, start);
    }
    CU_ASSERT_EQUAL(short_days, 1);
    CU_ASSERT_EQUAL(long_days, 1);
}

/* The hours of one Madrid day, through the grid: 23 or 25 of them. */
static size_t hours_of_day(int mo, int d)
{
    struct cq_grid g;
    struct cq_bin *bins = NULL;
    size_t n = 0;
    int64_t from = madrid_midnight(2026, mo, d), to = madrid_midnight(2026, mo, d + 1);
    CU_ASSERT_FATAL(cq_grid_init(&g, from, to, 15 * 60000) == 0);
    CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PHOUR, &bins, &n) == 0);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(bins[i].end_ms - bins[i].start_ms, HOUR_MS);
    free(bins);
    cq_grid_fini(&g);
    return n;
}

/* The ISO weeks holding the 2026 changes: 167 and 169 hours, the Sunday 23 and 25. */
static void test_madrid_dst_weeks(void)
{
    CU_ASSERT_FATAL(cq_tz_set("Europe/Madrid") == 0);
    int spring = last_sunday(2026, 3), autumn = last_sunday(2026, 10);
    struct {
        int month, sunday;
        int64_t hours;
    } weeks[] = {{3, spring, 167}, {10, autumn, 169}};
    for (size_t w = 0; w < 2; w++) {
        int64_t monday = madrid_midnight(2026, weeks[w].month, weeks[w].sunday - 6);
        int64_t next = madrid_midnight(2026, weeks[w].month, weeks[w].sunday) + DAY_MS +
                       (weeks[w].hours - 168) * HOUR_MS;
        CU_ASSERT_EQUAL(cq_period_start(CQ_PWEEK, monday + 3 * DAY_MS), monday);
        CU_ASSERT_EQUAL(cq_period_next(CQ_PWEEK, monday), next);
        CU_ASSERT_EQUAL(next - monday, weeks[w].hours * HOUR_MS);
        CU_ASSERT_EQUAL(next, madrid_midnight(2026, weeks[w].month, weeks[w].sunday + 1));

        struct cq_grid g;
        struct cq_bin *days = NULL;
        size_t n = 0;
        CU_ASSERT_FATAL(cq_grid_init(&g, monday, next, 15 * 60000) == 0);
        CU_ASSERT_FATAL(cq_grid_bins(&g, CQ_PDAY, &days, &n) == 0);
        CU_ASSERT_EQUAL_FATAL(n, 7);
        for (size_t i = 0; i < 7; i++)
            CU_ASSERT_EQUAL(days[i].end_ms - days[i].start_ms,
                            (i == 6 ? weeks[w].hours - 144 : 24) * HOUR_MS);
        free(days);
        cq_grid_fini(&g);
    }
    CU_ASSERT_EQUAL(hours_of_day(3, spring), 23);
    CU_ASSERT_EQUAL(hours_of_day(10, autumn), 25);
    CU_ASSERT_EQUAL(hours_of_day(10, autumn - 1), 24);
}

/* ISO 8601 text: the repeated hour of the autumn change shows both offsets. */
static void test_iso8601_text(void)
{
    char buf[CQ_ISO8601_MAX];
    CU_ASSERT_FATAL(cq_tz_set("Europe/Madrid") == 0);
    int autumn = last_sunday(2026, 10);
    cq_time_iso8601(utc(2026, 10, autumn, 0, 30), buf, sizeof buf);
    char expect[CQ_ISO8601_MAX];
    snprintf(expect, sizeof expect, "2026-10-%02dT02:30:00+02:00", autumn);
    CU_ASSERT_STRING_EQUAL(buf, expect);
    cq_time_iso8601(utc(2026, 10, autumn, 1, 30), buf, sizeof buf);
    snprintf(expect, sizeof expect, "2026-10-%02dT02:30:00+01:00", autumn);
    CU_ASSERT_STRING_EQUAL(buf, expect);
    CU_ASSERT_FATAL(cq_tz_set("America/New_York") == 0);
    cq_time_iso8601(utc(2026, 1, 15, 17, 5), buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "2026-01-15T12:05:00-05:00");
    CU_ASSERT_FATAL(cq_tz_set("Europe/Madrid") == 0);
    cq_period_label(CQ_PWEEK, madrid_midnight(2026, 12, 31), buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "2026-W53");
    cq_period_label(CQ_PMONTH, madrid_midnight(2026, 12, 31), buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "2026-12");
}

/* ISO weeks of every day 1990-2040 against strftime's %G and %V. */
static void test_iso_weeks(void)
{
    int64_t from = utc(1990, 1, 1, 12, 0), to = utc(2041, 1, 1, 12, 0);
    int checked = 0, bad = 0;
    for (int64_t t = from; t < to; t += DAY_MS) {
        time_t s = (time_t)(t / 1000);
        struct tm tm;
        char text[16], mine[16];
        int year, week;
        gmtime_r(&s, &tm);
        strftime(text, sizeof text, "%G-W%V", &tm);
        cq_iso_week(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, &year, &week);
        snprintf(mine, sizeof mine, "%04d-W%02d", year, week);
        bad += strcmp(text, mine) != 0;
        checked++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(checked > 18000);
    int year, week;
    cq_iso_week(2021, 1, 3, &year, &week); /* a Sunday: the last week of 2020 */
    CU_ASSERT(year == 2020 && week == 53);
    cq_iso_week(2008, 12, 29, &year, &week); /* a Monday: the first week of 2009 */
    CU_ASSERT(year == 2009 && week == 1);
}

/* Days since the epoch against timegm for a range of dates, with days out of range normalised. */
static void test_civil_days(void)
{
    for (int y = 1969; y <= 2100; y += 7)
        for (int mo = 1; mo <= 12; mo++)
            CU_ASSERT_EQUAL(cq_days_from_civil(y, mo, 15) * DAY_MS, utc(y, mo, 15, 0, 0));
    CU_ASSERT_FATAL(cq_tz_set("UTC") == 0);
    CU_ASSERT_EQUAL(cq_time_midnight(2026, 13, 1), utc(2027, 1, 1, 0, 0));
    CU_ASSERT_EQUAL(cq_time_midnight(2026, 0, 1), utc(2025, 12, 1, 0, 0));
    CU_ASSERT_EQUAL(cq_time_midnight(2026, 2, 29), utc(2026, 3, 1, 0, 0));
    CU_ASSERT_EQUAL(cq_time_midnight(2026, 1, 0), utc(2025, 12, 31, 0, 0));
}

static void test_parse(void)
{
    int64_t ms = 0;
    CU_ASSERT_FATAL(cq_tz_set("Europe/Madrid") == 0);
    CU_ASSERT(cq_time_parse("2026-07-01", &ms) == 0);
    CU_ASSERT_EQUAL(ms, utc(2026, 6, 30, 22, 0));
    CU_ASSERT(cq_time_parse("2026-07-01T08:15", &ms) == 0);
    CU_ASSERT_EQUAL(ms, utc(2026, 7, 1, 6, 15));
    int autumn = last_sunday(2026, 10);
    char text[20];
    snprintf(text, sizeof text, "2026-10-%02dT05:00", autumn); /* after the change: +01:00 */
    CU_ASSERT(cq_time_parse(text, &ms) == 0);
    CU_ASSERT_EQUAL(ms, utc(2026, 10, autumn, 4, 0));
    ms = 42;
    const char *bad[] = {
        "2026-02-29",       "2026-13-01",       "2026-00-10",       "2026-1-01", "26-01-01",
        "2026-01-01T24:00", "2026-01-01 08:00", "2026-01-01T08:60", "x",         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT(cq_time_parse(bad[i], &ms) == GW_EINVAL);
    CU_ASSERT_EQUAL(ms, 42);
    CU_ASSERT(cq_time_parse("2028-02-29", &ms) == 0);
}

/* A zone 5:30 from UTC: its days do not fall on hour windows, and the grid says so. */
static void test_half_hour_zone(void)
{
    struct cq_grid g;
    struct cq_bin *bins = NULL;
    size_t n = 0;
    CU_ASSERT_FATAL(cq_tz_set("Asia/Kolkata") == 0);
    int64_t from = utc(2026, 5, 31, 18, 30), to = from + 7 * DAY_MS; /* local midnights */
    CU_ASSERT_EQUAL(cq_period_start(CQ_PDAY, from + HOUR_MS), from);
    CU_ASSERT(cq_grid_init(&g, from, to, HOUR_MS) == GW_EINVAL); /* not on an hour window */
    cq_grid_fini(&g);
    CU_ASSERT_FATAL(cq_grid_init(&g, from - 30 * 60000, to - 30 * 60000, HOUR_MS) == 0);
    CU_ASSERT(cq_grid_bins(&g, CQ_PDAY, &bins, &n) == GW_EINVAL);
    cq_grid_fini(&g);
    CU_ASSERT_FATAL(cq_grid_init(&g, from, to, 15 * 60000) == 0);
    CU_ASSERT(cq_grid_bins(&g, CQ_PDAY, &bins, &n) == 0);
    CU_ASSERT_EQUAL(n, 7);
    free(bins);
    cq_grid_fini(&g);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"unknown zone", test_unknown_zone},
        {"Madrid days of 23, 24 and 25 hours", test_madrid_days},
        {"Madrid DST weeks", test_madrid_dst_weeks},
        {"ISO 8601 text", test_iso8601_text},
        {"ISO weeks against strftime", test_iso_weeks},
        {"civil days", test_civil_days},
        {"parse", test_parse},
        {"half-hour zone", test_half_hour_zone},
        {NULL, NULL},
    };
    return cu_main("cq_time", tests);
}
