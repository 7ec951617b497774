/*
 * localtime.c -- local civil time for reports (see localtime.h).
 *
 * Dates are computed with integer civil-date arithmetic (days from civil,
 * after H. Hinnant's public-domain algorithms) and only the step between a
 * local wall clock and an instant goes through the C library (localtime_r
 * and mktime with tm_isdst = -1), which reads the IANA zone files. That is
 * what makes a local day 23 or 25 hours long across a DST change: its end is
 * the next local midnight, never start + 24 h.
 */
#define _DEFAULT_SOURCE /* tm_gmtoff */
#include "localtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

int cq_tz_set(const char *name)
{
    char path[512];
    const char *dir = getenv("TZDIR");

    if (!name || !name[0] || name[0] == '/' || strstr(name, ".."))
        return GW_ENOTFOUND;
    if (strcmp(name, "UTC") != 0) {
        snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", name);
        if (access(path, R_OK) != 0)
            return GW_ENOTFOUND;
    }
    if (setenv("TZ", name, 1) != 0)
        return GW_ENOMEM;
    tzset();
    return 0;
}

int64_t cq_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ISO weekday (1 = Monday) of a day number from cq_days_from_civil(). */
static int iso_wday(int64_t days)
{
    int64_t w = (days + 3) % 7; /* 1970-01-01 was a Thursday: 3 days after a Monday */
    return (int)(w < 0 ? w + 7 : w) + 1;
}

void cq_iso_week(int year, int month, int day, int *iso_year, int *week)
{
    int64_t d = cq_days_from_civil(year, month, day);
    /* The week belongs to the year of its Thursday (ISO 8601, 2.2.10). */
    int64_t thursday = d - iso_wday(d) + 4;
    int64_t y = year + 1;
    while (cq_days_from_civil((int)y, 1, 1) > thursday)
        y--;
    *iso_year = (int)y;
    *week = (int)((thursday - cq_days_from_civil((int)y, 1, 1)) / 7 + 1);
}

void cq_time_civil(int64_t ms, struct cq_civil *out)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    localtime_r(&t, &tm);
    out->year = tm.tm_year + 1900;
    out->month = tm.tm_mon + 1;
    out->day = tm.tm_mday;
    out->hour = tm.tm_hour;
    out->minute = tm.tm_min;
    out->second = tm.tm_sec;
    out->wday = tm.tm_wday == 0 ? 7 : tm.tm_wday;
    out->utc_offset_s = (int)tm.tm_gmtoff;
    cq_iso_week(out->year, out->month, out->day, &out->iso_year, &out->iso_week);
}

int64_t cq_time_local(int year, int month, int day, int hour, int minute)
{
    /* Normalise the date first, so that mktime sees a real one. */
    int64_t y = year + (month - 1) / 12 - ((month - 1) % 12 < 0);
    int m = (int)((month - 1) % 12 + 12) % 12 + 1;
    int64_t days = cq_days_from_civil((int)y, m, 1) + day - 1;
    struct tm tm = {0};
    /* civil_from_days, inverse of cq_days_from_civil */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    tm.tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    tm.tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10);
    tm.tm_year = (int)(yoe + era * 400 + (tm.tm_mon <= 1)) - 1900;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

int64_t cq_time_midnight(int year, int month, int day)
{
    return cq_time_local(year, month, day, 0, 0);
}

int64_t cq_period_start(enum cq_period p, int64_t ms)
{
    struct cq_civil c;
    int64_t into_ms = ((ms % 1000) + 1000) % 1000;
    cq_time_civil(ms, &c);
    switch (p) {
    case CQ_P15MIN:
        return ms - into_ms - ((int64_t)(c.minute % 15) * 60 + c.second) * 1000;
    case CQ_PHOUR:
        return ms - into_ms - ((int64_t)c.minute * 60 + c.second) * 1000;
    case CQ_PDAY:
        return cq_time_midnight(c.year, c.month, c.day);
    case CQ_PWEEK:
        return cq_time_midnight(c.year, c.month, c.day - (c.wday - 1));
    case CQ_PMONTH:
        return cq_time_midnight(c.year, c.month, 1);
    }
    return ms;
}

int64_t cq_period_next(enum cq_period p, int64_t start)
{
    struct cq_civil c;
    switch (p) {
    case CQ_P15MIN:
        return start + 15 * 60000;
    case CQ_PHOUR:
        return start + 3600000;
    default:
        break;
    }
    cq_time_civil(start, &c);
    if (p == CQ_PDAY)
        return cq_time_midnight(c.year, c.month, c.day + 1);
    if (p == CQ_PWEEK)
        return cq_time_midnight(c.year, c.month, c.day + 7);
    return cq_time_midnight(c.year, c.month + 1, 1);
}

void cq_time_iso8601(int64_t ms, char *buf, size_t cap)
{
    struct cq_civil c;
    cq_time_civil(ms, &c);
    unsigned off = (unsigned)(c.utc_offset_s < 0 ? -c.utc_offset_s : c.utc_offset_s);
    /* Narrow types bound every field's digits, so the text provably fits CQ_ISO8601_MAX. */
    snprintf(buf, cap, "%04u-%02u-%02uT%02u:%02u:%02u%c%02u:%02u", (unsigned)c.year % 10000u,
             (unsigned char)c.month, (unsigned char)c.day, (unsigned char)c.hour,
             (unsigned char)c.minute, (unsigned char)c.second, c.utc_offset_s < 0 ? '-' : '+',
             (unsigned char)(off / 3600 % 100), (unsigned char)(off / 60 % 60));
}

void cq_period_label(enum cq_period p, int64_t start, char *buf, size_t cap)
{
    struct cq_civil c;
    char full[CQ_ISO8601_MAX];
    cq_time_civil(start, &c);
    switch (p) {
    case CQ_P15MIN:
    case CQ_PHOUR:
        cq_time_iso8601(start, full, sizeof full);
        /* drop the seconds: "YYYY-MM-DDTHH:MM" + offset */
        snprintf(buf, cap, "%.16s%s", full, full + 19);
        break;
    case CQ_PDAY:
        snprintf(buf, cap, "%04d-%02d-%02d", c.year, c.month, c.day);
        break;
    case CQ_PWEEK:
        snprintf(buf, cap, "%04d-W%02d", c.iso_year, c.iso_week);
        break;
    case CQ_PMONTH:
        snprintf(buf, cap, "%04d-%02d", c.year, c.month);
        break;
    }
}

/* Reads exactly n digits at s into *out. Returns 0 or GW_EINVAL. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return GW_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cq_time_parse(const char *text, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0;
    size_t len = strlen(text);

    if ((len != 10 && len != 16) || text[4] != '-' || text[7] != '-' || digits(text, 4, &y) ||
        digits(text + 5, 2, &mo) || digits(text + 8, 2, &d))
        return GW_EINVAL;
    if (len == 16 && (text[10] != 'T' || text[13] != ':' || digits(text + 11, 2, &h) ||
                      digits(text + 14, 2, &mi) || h > 23 || mi > 59))
        return GW_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 ||
        d > cq_days_from_civil(y + (mo == 12), mo % 12 + 1, 1) - cq_days_from_civil(y, mo, 1))
        return GW_EINVAL;
    *ms = cq_time_local(y, mo, d, h, mi);
    return 0;
}
