/*
 * test_cityquery_history.c -- cityquery on four weeks of simulated traffic
 * for 20 sites that went in through citysim, Mosquitto and citygate; the
 * first week is one with a daylight-saving change, so one of its days has
 * 23 or 25 hours.
 *
 * citysim runs the history on its virtual clock (--start, one node a site,
 * a frame every 15 min, one lane at a low peak flow so that the run stays
 * cheap) and writes its ground truth (--truth): every acknowledged frame's
 * readings and vehicles. The gateway takes its window clock from the
 * frames, so weeks-old frames land in their windows. The test computes its
 * own figures from the truth, in the sites' zone (Europe/Madrid, from the
 * registry), and checks cityquery's reports against them: daily volumes of
 * every site exact; for two sites 15-min, hourly and weekly volumes, the
 * weekday/weekend profile, ADT and the AASHTO AADT (TMG 2022 App. L) from
 * the test's own day totals, each day's peak hour and PHF exact, every
 * class count exact, each week's v85 within the sketch's 2 % of the exact
 * nearest-rank 85th percentile of the week's vehicles (and the mean of the
 * stored hourly v85 values shown to miss it); then two hours of one node
 * are deleted from the store and completeness, the gap, the flagged day
 * and the ADT over the remaining days are exact.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cqtest.h"
#include "cu.h"
#include "gwtest.h"

#define SITES 20 /* one node a site: node-00NN (NN = site + 1) on site-(NN - 1) */
#define DAYS 28  /* whole weeks */
#define WEEKS (DAYS / 7)
#define Q15_MS 900000LL
#define HOUR_MS 3600000LL
#define MAX_Q15 (DAYS * 96 + 8) /* a 25-hour day adds four */
#define ZONE "Europe/Madrid"
#define ALPHA 0.02            /* the sketch's relative accuracy */
#define PRINTED (0.05 + 1e-9) /* a one-decimal figure's rounding, and binary's */
#define CAPACITY "40"         /* vehicles per hour at the peak: about 500 a day and site */
#define SEED                                                                                       \
    "20261206" /* the simulation's: a different seed gives other figures, not other checks */
#define DETAIL_SITES 2      /* site-00 (a motorway's speeds and classes) and site-01 (urban) */
#define HOLE_DAY (DAYS / 3) /* the day whose 10:00-12:00 of node-0001 is deleted */
/*
 * A fast historical replay (docs/gateway.md, "Historical replays"): frames
 * accepted back to the period's start (devices.max_age, set from the period
 * when the test starts); windows close on each node's own clock one frame
 * interval after their end, so the vehicles a frame brings for the window
 * before its timestamp find it open and every window is written once.
 */
#define HISTORY_CONFIG                                                                             \
    "[devices]\nmax_age = %dd\n[windows]\nwidths = 15m,1h\ngrace = 15m\nlate_horizon = 1h\n"       \
    "[store]\nretention = 15m=104w,1h=INF\n"
#define MAX_VEHICLES 400000
/*
 * citysim runs this many 15-min windows past the period: a window closes on
 * its node's clock, which a frame stamped after its end plus the grace
 * moves, so the period's last windows are written as soon as those frames
 * are in (without them, only once the receiving clock ran on 30 min of wall
 * time).
 */
#define AFTER_Q15 3

static const char *citygate, *cityquery, *citysim;

/* The period, in local days of the zone: day d is [day_ms[d], day_ms[d + 1]). */
static int64_t day_ms[DAYS + 1];
static size_t n_q15; /* 15-min windows in the period */
static char day_text[DAYS + 1][16];

/* What the truth says, per site. */
static double vol[SITES][MAX_Q15]; /* vehicles counted, by the window of the frame's timestamp */
static unsigned frames[SITES][MAX_Q15];
struct vehicle {
    int64_t at_ms;
    float speed;
    int cls;
};
static struct vehicle *veh[SITES];
static size_t n_veh[SITES];
static size_t vehicles_before; /* detected before the period (the first frames cover it) */
static size_t frames_after;    /* stamped after the period: they close its last windows */

static int64_t from_ms(void)
{
    return day_ms[0];
}

static int day_of(int64_t t)
{
    int d = 0;
    while (d < DAYS && day_ms[d + 1] <= t)
        d++;
    return d;
}

/* ISO 8601 local time with the offset as cityquery writes it: 2026-11-02T08:15:00+01:00. */
static void iso_local(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char z[8];
    localtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(z, sizeof z, "%z", &tm);
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "%.3s:%.2s", z, z + 3);
}

/* Local midnight of the day tm names, d days on. */
static int64_t midnight_ms(struct tm tm, int d)
{
    tm.tm_mday += d;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

/*
 * The period: DAYS local days from the Monday of the latest week with a
 * daylight-saving change (a day of 23 or 25 hours) in the first week, ending
 * at least a day before now.
 */
static void choose_period(void)
{
    time_t t = (time_t)(gwt_now_ms() / 1000) - (DAYS + 1) * 86400;
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday -= (tm.tm_wday + 6) % 7; /* back to Monday */
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    for (int weeks = 0;; weeks++) {
        CU_ASSERT_FATAL(weeks < 60); /* the zone changes twice a year */
        int change = 0;
        for (int d = 0; d < 7; d++)
            change |= midnight_ms(tm, d + 1) - midnight_ms(tm, d) != 24 * HOUR_MS;
        if (change)
            break;
        tm.tm_mday -= 7;
    }
    for (int d = 0; d <= DAYS; d++) {
        struct tm x = tm;
        x.tm_mday += d;
        x.tm_isdst = -1;
        day_ms[d] = (int64_t)mktime(&x) * 1000;
        strftime(day_text[d], sizeof day_text[d], "%Y-%m-%d", &x);
    }
    n_q15 = (size_t)((day_ms[DAYS] - day_ms[0]) / Q15_MS);
    CU_ASSERT_FATAL(n_q15 <= MAX_Q15);
}

/* The site index of "site-NN". */
static int site_index(const char *site)
{
    int s = -1;
    CU_ASSERT_FATAL(sscanf(site, "site-%d", &s) == 1 && s >= 0 && s < SITES);
    return s;
}

/* Reads citysim's truth (docs/tools.md, "Ground truth"). Returns the frames read. */
static size_t read_truth(const char *path)
{
    char line[256];
    size_t n = 0;
    int site = -1;
    int64_t w = -1;
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    for (size_t s = 0; s < SITES; s++) {
        veh[s] = malloc(MAX_VEHICLES / SITES * 2 * sizeof *veh[s]);
        CU_ASSERT_FATAL(veh[s] != NULL);
    }
    while (fgets(line, sizeof line, f)) {
        char a[32], b[32];
        unsigned long long ts;
        int q, lane, cls, quality;
        double value, speed;
        long long at;
        if (line[0] == 'F') {
            CU_ASSERT_FATAL(sscanf(line, "F %31s %31s %*s %*s %llu", a, b, &ts) == 3);
            site = site_index(a);
            w = ((int64_t)ts - from_ms()) / Q15_MS;
            CU_ASSERT_FATAL((int64_t)ts >= from_ms() && w < (int64_t)n_q15 + AFTER_Q15);
            if (w < (int64_t)n_q15)
                frames[site][w]++;
            else
                frames_after++;
            n++;
        } else if (line[0] == 'R') {
            CU_ASSERT_FATAL(sscanf(line, "R %d %d %d %d %lf", &q, &lane, &cls, &quality, &value) ==
                            5);
            if (q == CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME &&
                quality == CITYGATE__V1__QUALITY__GOOD && w < (int64_t)n_q15)
                vol[site][w] += value;
        } else if (line[0] == 'V') {
            CU_ASSERT_FATAL(sscanf(line, "V %d %lld %lf %*s %d", &lane, &at, &speed, &cls) == 4);
            if (at < from_ms()) {
                vehicles_before++;
                continue;
            }
            CU_ASSERT_FATAL(n_veh[site] < MAX_VEHICLES / SITES * 2);
            veh[site][n_veh[site]++] = (struct vehicle){at, (float)speed, cls};
        }
    }
    fclose(f);
    return n;
}

/* A report of site s over [a, b) (local day indexes) with -F json; the parsed document. */
static json_t *report(const char *kind, int s, int a, int b, const char *extra)
{
    char args[1024];
    snprintf(args, sizeof args, "%s --site site-%02d --from %s --to %s -F json %s --registry '%s'",
             kind, s, day_text[a], day_text[b], extra, cu_env("CQH_REGISTRY"));
    json_t *doc = cqt_json(cityquery, args);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "zone")), ZONE);
    return doc;
}

/* The row of a summary table whose "figure" is name. */
static json_t *figure(json_t *doc, const char *name)
{
    size_t i;
    json_t *row;
    json_array_foreach(cqt_rows(doc, "summary"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "figure")), name) == 0)
            return row;
    }
    CU_FAIL("figure missing");
    return NULL;
}

static double day_volume(int s, int d)
{
    double v = 0;
    for (size_t w = 0; w < n_q15; w++)
        v += day_of(from_ms() + (int64_t)w * Q15_MS) == d ? vol[s][w] : 0;
    return v;
}

/* Volumes per day of every site, per 15 min, hour and week of the detail sites: exact. */
static void check_volumes(void)
{
    size_t i;
    json_t *row;
    for (int s = 0; s < SITES; s++) {
        json_t *doc = report("volume", s, 0, DAYS, "--by day");
        CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "volume")), DAYS);
        json_array_foreach(cqt_rows(doc, "volume"), i, row)
        {
            CU_ASSERT_EQUAL(cqt_num(row, "volume"), day_volume(s, (int)i));
            CU_ASSERT_EQUAL(cqt_num(row, "complete"), 100);
        }
        CU_ASSERT(json_is_true(json_object_get(doc, "complete")));
        json_decref(doc);
    }
    for (int s = 0; s < DETAIL_SITES; s++) {
        json_t *doc = report("volume", s, 0, DAYS, "--by 15min");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "level")), "15m");
        CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "volume")), n_q15);
        size_t wrong = 0;
        json_array_foreach(cqt_rows(doc, "volume"), i, row) wrong +=
            cqt_num(row, "volume") != vol[s][i];
        CU_ASSERT_EQUAL(wrong, 0);
        json_decref(doc);

        doc = report("volume", s, 0, DAYS, "--by hour");
        CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "volume")), n_q15 / 4);
        wrong = 0;
        json_array_foreach(cqt_rows(doc, "volume"), i, row)
        {
            double want = vol[s][4 * i] + vol[s][4 * i + 1] + vol[s][4 * i + 2] + vol[s][4 * i + 3];
            wrong += cqt_num(row, "volume") != want;
        }
        CU_ASSERT_EQUAL(wrong, 0);
        json_decref(doc);

        doc = report("volume", s, 0, DAYS, "--by week");
        CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "volume")), WEEKS);
        json_array_foreach(cqt_rows(doc, "volume"), i, row)
        {
            double want = 0;
            for (int d = 7 * (int)i; d < 7 * (int)i + 7; d++)
                want += day_volume(s, d);
            CU_ASSERT_EQUAL(cqt_num(row, "volume"), want);
        }
        json_decref(doc);
    }
}

/* The average weekday and weekend volume of each local clock hour. */
static void check_profile(int s)
{
    double sum[2][24] = {{0}};
    unsigned n[2][24] = {{0}};
    for (size_t h = 0; h < n_q15 / 4; h++) {
        time_t t = (time_t)((from_ms() + (int64_t)h * HOUR_MS) / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        int weekend = tm.tm_wday == 0 || tm.tm_wday == 6;
        sum[weekend][tm.tm_hour] +=
            vol[s][4 * h] + vol[s][4 * h + 1] + vol[s][4 * h + 2] + vol[s][4 * h + 3];
        n[weekend][tm.tm_hour]++;
    }
    json_t *doc = report("profile", s, 0, DAYS, ""), *row;
    size_t i;
    CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "profile")), 24);
    json_array_foreach(cqt_rows(doc, "profile"), i, row)
    {
        CU_ASSERT_EQUAL(cqt_num(row, "weekday_hours"), n[0][i]);
        CU_ASSERT_EQUAL(cqt_num(row, "weekend_hours"), n[1][i]);
        CU_ASSERT(fabs(cqt_num(row, "weekday") - sum[0][i] / n[0][i]) <= PRINTED);
        CU_ASSERT(fabs(cqt_num(row, "weekend") - sum[1][i] / n[1][i]) <= PRINTED);
    }
    json_decref(doc);
}

/*
 * ADT (the mean of the complete days) and AADT by the AASHTO method (TMG
 * 2022, Appendix L): per month and day of the week the mean of its complete
 * days; a month with all seven has a MADT, the mean of its seven; with fewer
 * than twelve such months the AADT is estimated as the mean of their MADTs.
 * skip is a day left out as incomplete (-1: none).
 */
static void expected_adt(int s, int skip, double *adt, double *aadt, int *months)
{
    double cell[12][7] = {{0}};
    unsigned n[12][7] = {{0}};
    double total = 0;
    int used = 0;
    for (int d = 0; d < DAYS; d++) {
        if (d == skip)
            continue;
        time_t t = (time_t)(day_ms[d] / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        double v = day_volume(s, d);
        total += v;
        used++;
        cell[tm.tm_mon][(tm.tm_wday + 6) % 7] += v;
        n[tm.tm_mon][(tm.tm_wday + 6) % 7]++;
    }
    *adt = total / used;
    double madt_sum = 0;
    *months = 0;
    for (int m = 0; m < 12; m++) {
        double madw = 0;
        int full = 1;
        for (int k = 0; k < 7; k++) {
            full &= n[m][k] > 0;
            madw += n[m][k] ? cell[m][k] / n[m][k] : 0;
        }
        if (full) {
            madt_sum += madw / 7;
            (*months)++;
        }
    }
    *aadt = *months ? madt_sum / *months : NAN;
}

static void check_aadt(int s)
{
    double adt, aadt;
    int months;
    expected_adt(s, -1, &adt, &aadt, &months);
    CU_ASSERT_FATAL(months >= 1); /* four weeks hold all seven days of at least one month */
    json_t *doc = report("aadt", s, 0, DAYS, "");
    json_t *r = figure(doc, "ADT");
    CU_ASSERT(fabs(cqt_num(r, "value") - adt) <= PRINTED);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "status")), "counted");
    r = figure(doc, "AADT");
    CU_ASSERT(fabs(cqt_num(r, "value") - aadt) <= PRINTED);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "status")), "estimated");
    printf("\n  site-%02d: ADT %.1f, AADT %.1f (estimated from %d month%s)", s, adt, aadt, months,
           months == 1 ? "" : "s");
    json_decref(doc);
}

/* Each day's peak hour: the busiest four consecutive 15-min windows inside it, the earliest. */
static void check_peaks(int s)
{
    json_t *doc = report("peak", s, 0, DAYS, ""), *row;
    size_t i, wrong = 0;
    double best_phf = 0;
    CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "peaks")), DAYS);
    json_array_foreach(cqt_rows(doc, "peaks"), i, row)
    {
        size_t a = (size_t)((day_ms[i] - from_ms()) / Q15_MS);
        size_t b = (size_t)((day_ms[i + 1] - from_ms()) / Q15_MS);
        double best = -1, top = 0;
        size_t at = a;
        for (size_t j = a; j + 3 < b; j++) {
            double v = vol[s][j] + vol[s][j + 1] + vol[s][j + 2] + vol[s][j + 3];
            if (v > best) {
                best = v;
                at = j;
                top = fmax(fmax(vol[s][j], vol[s][j + 1]), fmax(vol[s][j + 2], vol[s][j + 3]));
            }
        }
        char want[40];
        iso_local(from_ms() + (int64_t)at * Q15_MS, want, sizeof want);
        const char *got = json_string_value(json_object_get(row, "peak_start"));
        wrong += !got || strcmp(got, want) != 0 || cqt_num(row, "volume") != best ||
                 cqt_num(row, "v15_max") != top ||
                 fabs(cqt_num(row, "phf") - best / (4 * top)) > 0.0005;
        if (!got || strcmp(got, want) != 0)
            fprintf(stderr, "day %zu: peak %s, want %s\n", i, got ? got : "none", want);
        best_phf = i == 0 ? best / (4 * top) : best_phf;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    printf("\n  site-%02d: %s peak hour PHF %.3f", s, day_text[0], best_phf);
    json_decref(doc);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The mean of the stored v85 values of site s at one level over [a, b): the naive figure. */
static double naive_v85(struct gwt *t, const char *rp, int s, int64_t a, int64_t b)
{
    char q[300];
    snprintf(q, sizeof q,
             "SELECT mean(v85) FROM %s.traffic WHERE quantity = 'vehicle_speed' AND site = "
             "'site-%02d' AND time >= %lldms AND time < %lldms",
             rp, s, (long long)a, (long long)b);
    json_t *res = gwt_query(t, q);
    double v = json_number_value(json_array_get(json_array_get(gwt_rows(res), 0), 1));
    json_decref(res);
    return v;
}

/*
 * Each ISO week's v85 from the merged sketches within ALPHA of the exact
 * nearest-rank value of the week's vehicles, and the naive figure, the mean
 * of the week's stored 15-min v85 values, outside that bound. The mean of
 * the hourly values is printed: on this low-volume traffic (a dozen vehicles
 * an hour) two errors of it nearly cancel on an urban site (slow busy hours
 * weigh as much as fast empty ones, raising it; nearest rank of a handful of
 * vehicles, lowering it), so that it can land within 2 % by chance.
 */
static void check_speed(struct gwt *t, int s)
{
    float *sp = malloc(n_veh[s] * sizeof *sp);
    CU_ASSERT_FATAL(sp != NULL);
    for (int k = 0; k < WEEKS; k++) {
        size_t n = 0;
        for (size_t v = 0; v < n_veh[s]; v++)
            if (veh[s][v].at_ms >= day_ms[7 * k] && veh[s][v].at_ms < day_ms[7 * k + 7])
                sp[n++] = veh[s][v].speed;
        CU_ASSERT_FATAL(n > 0);
        qsort(sp, n, sizeof *sp, cmp_float);
        double v85 = sp[(85 * n + 99) / 100 - 1]; /* nearest rank: ceil(0.85 n) */
        json_t *doc = report("speed", s, 7 * k, 7 * k + 7, "");
        json_t *row = json_array_get(cqt_rows(doc, "speed"), 0);
        CU_ASSERT_EQUAL(cqt_num(row, "vehicles"), n);
        double got = cqt_num(row, "v85");
        CU_ASSERT(fabs(got - v85) <= ALPHA * v85 + PRINTED);
        json_decref(doc);

        double naive = naive_v85(t, "rp_15m", s, day_ms[7 * k], day_ms[7 * k + 7]);
        printf("\n  site-%02d week %d: %zu vehicles, v85 exact %.2f, cityquery %.1f, mean of "
               "15-min v85 %.2f, of hourly v85 %.2f",
               s, k + 1, n, v85, got, naive,
               naive_v85(t, "rp_1h", s, day_ms[7 * k], day_ms[7 * k + 7]));
        CU_ASSERT(fabs(naive - v85) > ALPHA * v85);
    }
    free(sp);
}

/* Vehicles of each class over the period, by the schema's lower-case class name. */
static void check_classes(int s)
{
    double want[32] = {0}, total = 0;
    for (size_t v = 0; v < n_veh[s]; v++)
        if (veh[s][v].at_ms < day_ms[DAYS] && veh[s][v].cls >= 0 && veh[s][v].cls < 32)
            want[veh[s][v].cls]++;
    json_t *doc = report("classes", s, 0, DAYS, ""), *row;
    size_t i;
    json_array_foreach(cqt_rows(doc, "classes"), i, row)
    {
        const char *name = json_string_value(json_object_get(row, "class"));
        int c = 0;
        for (; c < 32; c++) {
            const ProtobufCEnumValue *e =
                protobuf_c_enum_descriptor_get_value(&citygate__v1__vehicle_class__descriptor, c);
            if (e && strcasecmp(e->name, name) == 0)
                break;
        }
        CU_ASSERT_FATAL(c < 32);
        CU_ASSERT_EQUAL(cqt_num(row, "vehicles"), want[c]);
        total += want[c];
        want[c] = 0;
    }
    for (int c = 0; c < 32; c++)
        CU_ASSERT_EQUAL(want[c], 0); /* every class seen is in the report */
    CU_ASSERT(total > 0);
    json_decref(doc);
}

/*
 * Two hours (10:00-12:00 local of day HOLE_DAY) of node-0001, the only node
 * of site-00, deleted from the store: that day 88 of 96 windows (or of the
 * day's own count) and one gap of 120 min; the day flagged, the others full;
 * the ADT now the mean of the other days.
 */
static void check_completeness(struct gwt *t)
{
    int64_t hole = day_ms[HOLE_DAY] + 10 * HOUR_MS;
    size_t day_windows = (size_t)((day_ms[HOLE_DAY + 1] - day_ms[HOLE_DAY]) / Q15_MS);
    char q[256];
    snprintf(q, sizeof q,
             "DELETE FROM traffic WHERE node = 'node-0001' AND time >= %lldms AND time < %lldms",
             (long long)hole, (long long)(hole + 2 * HOUR_MS));
    json_decref(gwt_query(t, q));

    json_t *doc = report("completeness", 0, 0, DAYS, ""), *row;
    size_t i, wrong = 0, dst_days = 0;
    CU_ASSERT_EQUAL_FATAL(json_array_size(cqt_rows(doc, "nodes")), DAYS);
    json_array_foreach(cqt_rows(doc, "nodes"), i, row)
    {
        size_t expected = (size_t)((day_ms[i + 1] - day_ms[i]) / Q15_MS);
        size_t present = expected - ((int)i == HOLE_DAY ? 8 : 0);
        wrong += cqt_num(row, "expected") != expected || cqt_num(row, "present") != present;
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "node")), "node-0001");
        if (cqt_num(row, "expected") == 23 * 4 || cqt_num(row, "expected") == 25 * 4) {
            dst_days++;
            printf("\n  %s: %.0f hours", day_text[i], cqt_num(row, "expected") / 4);
        }
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(dst_days, 1); /* the daylight-saving change of the first week */
    json_t *gaps = cqt_rows(doc, "gaps");
    CU_ASSERT_EQUAL_FATAL(json_array_size(gaps), 1);
    row = json_array_get(gaps, 0);
    char want[40];
    iso_local(hole, want, sizeof want);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "from")), want);
    CU_ASSERT_EQUAL(cqt_num(row, "minutes"), 120);
    CU_ASSERT(json_is_false(json_object_get(doc, "complete")));
    json_decref(doc);

    doc = report("aadt", 0, 0, DAYS, "");
    json_array_foreach(cqt_rows(doc, "days"), i, row)
    {
        int holed = (int)i == HOLE_DAY;
        CU_ASSERT(fabs(cqt_num(row, "complete") -
                       (holed ? 100.0 * (double)(day_windows - 8) / (double)day_windows : 100)) <
                  0.005);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "flag")),
                               holed ? "incomplete" : "");
    }
    double adt, aadt;
    int months;
    expected_adt(0, HOLE_DAY, &adt, &aadt, &months);
    json_t *r = figure(doc, "ADT");
    CU_ASSERT(fabs(cqt_num(r, "value") - adt) <= PRINTED);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "status")), "estimated");
    CU_ASSERT(json_is_false(json_object_get(doc, "complete")));
    json_decref(doc);
}

/* Runs citysim over the period with its truth in the deployment's folder; returns frames. */
static size_t simulate(struct gwt *t, char *truth, size_t cap)
{
    char start[32], duration[32], cmd[2048], *out = NULL;
    time_t s = (time_t)(from_ms() / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M", &tm);
    snprintf(duration, sizeof duration, "%llds",
             (long long)((day_ms[DAYS] - day_ms[0] + AFTER_Q15 * Q15_MS) / 1000));
    snprintf(truth, cap, "%s/truth.txt", t->dir);
    snprintf(cmd, sizeof cmd,
             "'%s' --broker '%s' --nodes %d --sites %d --interval 15m --start %s --duration %s "
             "--lanes 1 --capacity " CAPACITY " --seed " SEED " --truth '%s' --quiet",
             citysim, cu_env("CITYGATE_MQTT_URL"), SITES, SITES, start, duration, truth);
    uint64_t t0 = gwt_mono_ns();
    int rc = cu_run(cmd, &out);
    double secs = (double)(gwt_mono_ns() - t0) / 1e9;
    unsigned long long published = 0, acked = 0;
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_FATAL(out &&
                    sscanf(out, "citysim: published=%llu acked=%llu", &published, &acked) == 2);
    printf("\n  citysim: %llu frames of %d days and %d windows in %.1f s", published, DAYS,
           AFTER_Q15, secs);
    free(out);
    CU_ASSERT_EQUAL(acked, published);
    return (size_t)published;
}

/* Waits until the gateway took every frame and the store holds every window. */
static void wait_store(struct gwt *t, size_t n_frames)
{
    CU_ASSERT_EQUAL(gwt_wait_metric(t, "citygate_frames_accepted_total", (double)n_frames, 120000),
                    (double)n_frames);
    int done = 0;
    for (uint64_t end = gwt_now_ms() + 120000; !done && gwt_now_ms() < end; gwt_pause_ms(250)) {
        done = gwt_metric(t, "citygate_store_lines_pending") == 0;
        for (int i = 0; i < 2 && done; i++) {
            char q[256];
            snprintf(q, sizeof q,
                     "SELECT count(\"count\") FROM %s.traffic WHERE quantity = 'traffic_volume' "
                     "AND time >= %lldms AND time < %lldms",
                     i ? "rp_1h" : "rp_15m", (long long)from_ms(), (long long)day_ms[DAYS]);
            json_t *res = gwt_query(t, q);
            json_t *r = gwt_rows(res);
            long long rows = r ? json_integer_value(json_array_get(json_array_get(r, 0), 1)) : 0;
            done = rows == (long long)(SITES * (i ? n_q15 / 4 : n_q15));
            json_decref(res);
        }
    }
    CU_ASSERT_FATAL(done);
    CU_ASSERT_EQUAL(gwt_metric(t, "citygate_values_too_late_total"), 0);
    /* With a frame interval of grace, no window is written twice. */
    CU_ASSERT_EQUAL(gwt_metric(t, "citygate_windows_rewritten_total"), 0);
    printf("\n  gateway: %.0f windows written, %.0f store lines",
           gwt_metric(t, "citygate_windows_written_total"),
           gwt_metric(t, "citygate_store_lines_written_total"));
}

static void test_history(void)
{
    struct gwt t;
    char truth[400], registry[400], cmd[1024];

    setenv("TZ", ZONE, 1);
    tzset();
    choose_period();
    char config[256];
    snprintf(config, sizeof config, HISTORY_CONFIG,
             (int)((gwt_now_ms() - from_ms()) / (24 * HOUR_MS)) + 2);
    gwt_init(&t, citygate, SITES, SITES, config);
    /* citysim's fleet in the registry, and the sites' zone. */
    snprintf(cmd, sizeof cmd, "'%s' --registry '%s' --nodes %d --sites %d", citysim, t.registry,
             SITES, SITES);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
    snprintf(cmd, sizeof cmd, "sed -i 's|^\\[site site-[0-9]*\\]$|&\\nzone = " ZONE "|' '%s'",
             t.registry);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
    snprintf(registry, sizeof registry, "%s", t.registry);
    setenv("CQH_REGISTRY", registry, 1);
    gwt_start(&t);

    size_t n = simulate(&t, truth, sizeof truth);
    CU_ASSERT_EQUAL(read_truth(truth), n);
    size_t missing = 0, twice = 0;
    for (int s = 0; s < SITES; s++)
        for (size_t w = 0; w < n_q15; w++) {
            missing += frames[s][w] == 0;
            twice += frames[s][w] > 1;
        }
    CU_ASSERT_EQUAL(missing, 0); /* one frame a window and node: the grid is full */
    CU_ASSERT_EQUAL(twice, 0);
    size_t all = 0;
    for (int s = 0; s < SITES; s++)
        all += n_veh[s];
    printf("\n  %zu vehicles in the period (%zu before it)", all, vehicles_before);
    wait_store(&t, n);

    check_volumes();
    for (int s = 0; s < DETAIL_SITES; s++) {
        check_profile(s);
        check_aadt(s);
        check_peaks(s);
        check_speed(&t, s);
        check_classes(s);
    }
    check_completeness(&t);
    printf("\n");
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
    for (int s = 0; s < SITES; s++)
        free(veh[s]);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"weeks of 20 sites through citysim and the gateway", test_history},
        {NULL, NULL},
    };
    if (argc != 4) {
        fprintf(stderr, "usage: %s CITYGATE CITYQUERY CITYSIM\n", argv[0]);
        return 64;
    }
    citygate = argv[1];
    cityquery = argv[2];
    citysim = argv[3];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("cityquery_history", tests);
    curl_global_cleanup();
    return rc;
}
