/*
 * localtime.h -- civil time in the site's IANA time zone: local days of 23,
 * 24 or 25 hours, ISO 8601 weeks, months, and ISO 8601 text with the offset.
 *
 * The zone is the process's (TZ, read through the C library's tzfile
 * reader), set once by cq_tz_set() before any report is computed: the C
 * library offers no per-call zone, and a report has one zone. Instants are
 * milliseconds since the Unix epoch (UTC), as the store's timestamps.
 *
 * Thread rules: cq_tz_set() before any other thread starts; the rest is
 * reentrant (localtime_r, mktime).
 */
#ifndef CITYQUERY_LOCALTIME_H
#define CITYQUERY_LOCALTIME_H

#include <stddef.h>
#include <stdint.h>

/* Longest text of cq_time_iso8601(), NUL included: "2026-03-29T03:00:00+02:00". */
#define CQ_ISO8601_MAX 40

/* A local calendar date and time. */
struct cq_civil {
    int year, month, day;     /* month 1..12, day 1..31 */
    int hour, minute, second; /* local wall clock */
    int wday;                 /* ISO: 1 = Monday .. 7 = Sunday */
    int iso_year, iso_week;   /* ISO 8601 week-numbering year and week 1..53 */
    int utc_offset_s;         /* local - UTC, seconds (e.g. 7200 for CEST) */
};

/* Reporting periods, finest first. */
enum cq_period { CQ_P15MIN, CQ_PHOUR, CQ_PDAY, CQ_PWEEK, CQ_PMONTH };

/*
 * Makes name (borrowed; an IANA zone such as "Europe/Madrid", or "UTC") the
 * zone of every later call. Returns 0, or GW_ENOTFOUND when no such zone
 * file exists (the C library would silently use UTC for it).
 */
int cq_tz_set(const char *name);

/* The local date and time of instant ms. */
void cq_time_civil(int64_t ms, struct cq_civil *out);

/*
 * The instant of local midnight starting date (year, month, day); month
 * and day may be out of range and are normalised (day 32 is the 1st of the
 * next month).
 */
int64_t cq_time_midnight(int year, int month, int day);

/*
 * The instant of local wall-clock time (year, month, day, hour, minute),
 * the date normalised as above. A time that a DST change skips is read with
 * the offset before the change (02:30 on a spring-forward day is 03:30); a
 * time that occurs twice, as its first occurrence where the C library can
 * tell (glibc: the daylight one).
 */
int64_t cq_time_local(int year, int month, int day, int hour, int minute);

/* Days since 1970-01-01 of a proleptic Gregorian date (negative before); pure. */
int64_t cq_days_from_civil(int year, int month, int day);

/* ISO 8601 week of a date: week-numbering year and week 1..53; pure. */
void cq_iso_week(int year, int month, int day, int *iso_year, int *week);

/* The start of the local period p that contains ms. */
int64_t cq_period_start(enum cq_period p, int64_t ms);

/* The start of the period after the one starting at start (a value of cq_period_start()). */
int64_t cq_period_next(enum cq_period p, int64_t start);

/* Writes ms as local ISO 8601 with its offset ("2026-10-25T02:00:00+01:00") into buf. */
void cq_time_iso8601(int64_t ms, char *buf, size_t cap);

/*
 * Writes the label of the period starting at start: "2026-10-25T02:00+01:00"
 * (15 min, hour), "2026-10-25" (day), "2026-W43" (week), "2026-10" (month).
 */
void cq_period_label(enum cq_period p, int64_t start, char *buf, size_t cap);

/*
 * Parses a local date "YYYY-MM-DD" (midnight) or date and time
 * "YYYY-MM-DDTHH:MM" into *ms. Returns 0, or GW_EINVAL for anything else
 * (out-of-range fields included).
 */
int cq_time_parse(const char *text, int64_t *ms);

#endif
