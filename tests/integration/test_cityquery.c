/*
 * test_cityquery.c -- cityquery's reports on what the real gateway wrote:
 * eight hours of signed frames with values the test chose go through
 * Mosquitto and citygate into InfluxDB (15-min and 1-h windows; the gateway
 * takes them up to 11 h late, so the history is written now), then each
 * report is checked against the test's own figures: volumes exact per
 * 15 min and per hour, the peak hour and its PHF exact, v85 within the
 * sketch's stated error of the exact 85th percentile of all vehicle speeds
 * (and the mean of the stored v85 values shown to miss it), class counts
 * exact, completeness and the gap
 * exact after the test deletes two hours of one node, the CSV read by
 * Python's csv module, the PNG, SVG and HTML charts, and every kind of bad
 * input with its exit code. With the device registry (--registry), the
 * site's zone comes from its [site] section and a registered node that
 * never reported shows as missing in completeness.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cqtest.h"
#include "cu.h"
#include "gwtest.h"

#define DEVICES 4 /* site-00: node-0000 and node-0002; site-01: the others */
#define SITES 2
#define HOURS 8
#define MINUTES (HOURS * 60)
#define Q15 (HOURS * 4)
#define HOUR_MS 3600000LL
#define ALPHA 0.02
#define VEHICLES 3 /* vehicle records per frame */

static const char *citygate, *cityquery;
static int64_t from_ms; /* the first hour of the history, UTC */
static char from_text[32], to_text[32];
static double volume15[Q15]; /* site-00's vehicles per 15 min */
static double speeds[2 * MINUTES * VEHICLES];
static size_t n_speeds, n_trucks;

/* Vehicles in minute k of device d: a low base and one busy hour (the fifth). */
static double chosen_volume(int d, int k)
{
    static const double peak[4] = {20, 35, 28, 25};
    return k / 60 == 4 ? peak[(k % 60) / 15] + d : 3 + (k + d) % 5;
}

/*
 * Speed of vehicle j in minute k: slow in even hours, fast in odd ones, so
 * the windows' v85 differ widely. Multiples of 0.25 travel exactly as the
 * frame's float.
 */
static double chosen_speed(int d, int k, int j)
{
    return (k / 60) % 2 ? 60 + (k % 10) * 2.5 + d + j * 0.5 : 30 + (k % 10) + d + j * 0.25;
}

/* Class of vehicle j in minute k: every third a truck. */
static Citygate__V1__VehicleClass chosen_class(int k, int j)
{
    return (k + j) % 3 == 0 ? CITYGATE__V1__VEHICLE_CLASS__TRUCK : CITYGATE__V1__VEHICLE_CLASS__CAR;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs a report with -F json over the history of site-00; returns the parsed document. */
static json_t *report_json(const char *report, const char *extra)
{
    char args[512];
    snprintf(args, sizeof args, "%s --site site-00 --from %s --to %s -F json %s", report, from_text,
             to_text, extra);
    return cqt_json(cityquery, args);
}

/* Publishes the history and waits until the store has every window. */
static void fill_store(struct gwt *t)
{
    uint8_t frame[1024];
    char topic[128];

    for (int k = 0; k < MINUTES; k++) {
        for (int d = 0; d < DEVICES; d++) {
            double v = chosen_volume(d, k);
            struct gwt_reading r = {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, v, 1, 0};
            struct gwt_parts parts;
            Citygate__V1__Vehicle veh[VEHICLES], *vp[VEHICLES];
            /*
             * A second before the minute's end: the last frame ends the last window, and its
             * node's clock, running on from it, closes that window 2 s later; mid-minute it
             * stayed open for 31 s, half of the store's wait below.
             */
            uint64_t ts = (uint64_t)(from_ms + k * 60000LL + 59000);

            gwt_frame_parts(t, d, 7000 + (uint64_t)d, (uint64_t)k + 1, ts, &r, 1, &parts);
            for (int j = 0; j < VEHICLES; j++) {
                citygate__v1__vehicle__init(&veh[j]);
                veh[j].offset_ms = -j * 10000; /* detected before the frame was sent */
                veh[j].lane = 1;
                veh[j].speed_kmh = (float)chosen_speed(d, k, j);
                veh[j].length_m = 4.5f;
                veh[j].vehicle_class = chosen_class(k, j);
                veh[j].sensor_id = "radar-1";
                vp[j] = &veh[j];
                if (d % SITES == 0) {
                    speeds[n_speeds++] = chosen_speed(d, k, j);
                    n_trucks += veh[j].vehicle_class == CITYGATE__V1__VEHICLE_CLASS__TRUCK;
                }
            }
            parts.f.vehicles = vp;
            parts.f.n_vehicles = VEHICLES;
            if (d % SITES == 0)
                volume15[k / 15] += v;
            size_t len = gwt_frame_sign(d, &parts.f, frame, sizeof frame);
            gwt_topic(t, d, topic, sizeof topic);
            gwt_publish(t, topic, frame, len);
        }
    }
    gwt_publish_wait(t);
    CU_ASSERT_EQUAL(gwt_wait_metric(t, "citygate_frames_accepted_total", DEVICES * MINUTES, 60000),
                    DEVICES * MINUTES);
    /* Every 15-min and 1-h window of volumes and vehicle speeds, and nothing pending. */
    static const char *const rps[] = {"rp_15m", "rp_1h"}, *const qs[] = {"traffic_volume",
                                                                         "vehicle_speed"};
    int done = 0;
    for (uint64_t end = gwt_now_ms() + 60000; !done && gwt_now_ms() < end; gwt_pause_ms(200)) {
        done = gwt_metric(t, "citygate_store_lines_pending") == 0;
        for (int i = 0; i < 4 && done; i++) {
            char q[256];
            snprintf(q, sizeof q,
                     "SELECT count(\"count\") FROM %s.traffic WHERE quantity = '%s' AND "
                     "time >= %lldms",
                     rps[i / 2], qs[i % 2], (long long)from_ms);
            json_t *res = gwt_query(t, q);
            json_t *r = gwt_rows(res);
            long long rows = r ? json_integer_value(json_array_get(json_array_get(r, 0), 1)) : 0;
            done = rows == DEVICES * (i / 2 ? HOURS : Q15);
            json_decref(res);
        }
    }
    CU_ASSERT_FATAL(done);
    CU_ASSERT_EQUAL(gwt_metric(t, "citygate_values_too_late_total"), 0);
}

static void check_volume(void)
{
    json_t *doc = report_json("volume", "--by 15min"), *row;
    json_t *rows = cqt_rows(doc, "volume");
    size_t i;
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "level")), "15m");
    CU_ASSERT_EQUAL_FATAL(json_array_size(rows), Q15);
    json_array_foreach(rows, i, row)
    {
        CU_ASSERT_EQUAL(cqt_num(row, "volume"), volume15[i]);
        CU_ASSERT_EQUAL(cqt_num(row, "complete"), 100);
    }
    CU_ASSERT(json_is_true(json_object_get(doc, "complete")));
    json_decref(doc);

    doc = report_json("volume", "--by hour");
    rows = cqt_rows(doc, "volume");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "level")), "1h");
    CU_ASSERT_EQUAL_FATAL(json_array_size(rows), HOURS);
    json_array_foreach(rows, i, row)
    {
        double want =
            volume15[4 * i] + volume15[4 * i + 1] + volume15[4 * i + 2] + volume15[4 * i + 3];
        CU_ASSERT_EQUAL(cqt_num(row, "volume"), want);
        CU_ASSERT_EQUAL(cqt_num(row, "flow"), want);
    }
    json_decref(doc);

    /* By day, the eight hours are part of a day (or two): each row says so. */
    doc = report_json("volume", "--by day");
    double total = 0;
    json_array_foreach(cqt_rows(doc, "volume"), i, row)
    {
        total += cqt_num(row, "volume");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "flag")), "partial period");
    }
    double want = 0;
    for (int k = 0; k < Q15; k++)
        want += volume15[k];
    CU_ASSERT_EQUAL(total, want);
    json_decref(doc);
}

/* The CSV of the hourly volumes through Python's csv module, strict mode. */
static void check_csv(void)
{
    char args[512], *out = NULL, path[] = "/tmp/cityquery-csv-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    snprintf(args, sizeof args, "volume --site site-00 --from %s --to %s --by hour -F csv -o %s",
             from_text, to_text, path);
    CU_ASSERT_EQUAL(cqt_run(cityquery, args, NULL), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import csv, json, sys; "
             "print(json.dumps(list(csv.reader(open(sys.argv[1], newline=\"\"), strict=True))))' "
             "%s",
             path);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    json_error_t err;
    json_t *rows = json_loadf(p, 0, &err);
    CU_ASSERT_EQUAL(pclose(p), 0);
    CU_ASSERT_FATAL(json_is_array(rows));
    CU_ASSERT_EQUAL(json_array_size(rows), HOURS + 1);
    json_t *head = json_array_get(rows, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(head, 2)), "volume [veh]");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(head, 3)), "flow [veh/h]");
    json_t *first = json_array_get(rows, 1);
    CU_ASSERT(strstr(json_string_value(json_array_get(first, 1)), "+00:00") != NULL);
    CU_ASSERT_EQUAL(strtod(json_string_value(json_array_get(first, 2)), NULL),
                    volume15[0] + volume15[1] + volume15[2] + volume15[3]);
    json_decref(rows);
    free(out);
    unlink(path);
}

/* The busiest rolling hour of 15-min periods that does not cross a UTC midnight. */
static void check_peak(void)
{
    double best = -1, top = 0;
    int at = -1;
    for (int j = 0; j + 3 < Q15; j++) {
        int64_t a = from_ms + j * 900000LL, b = a + HOUR_MS - 1;
        if (a / (24 * HOUR_MS) != b / (24 * HOUR_MS))
            continue;
        double v = volume15[j] + volume15[j + 1] + volume15[j + 2] + volume15[j + 3];
        if (v > best) {
            best = v;
            at = j;
            top = fmax(fmax(volume15[j], volume15[j + 1]), fmax(volume15[j + 2], volume15[j + 3]));
        }
    }
    json_t *doc = report_json("peak", ""), *row, *found = NULL;
    size_t i;
    double phf = 0;
    json_array_foreach(cqt_rows(doc, "peaks"), i, row)
    {
        if (json_is_number(json_object_get(row, "volume")) && cqt_num(row, "volume") == best)
            found = row;
    }
    CU_ASSERT_FATAL(found != NULL);
    CU_ASSERT_EQUAL(cqt_num(found, "v15_max"), top);
    phf = best / (4 * top);
    CU_ASSERT(fabs(cqt_num(found, "phf") - phf) < 0.0005);
    struct tm tm;
    time_t start = (time_t)((from_ms + at * 900000LL) / 1000);
    char want[32];
    gmtime_r(&start, &tm);
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(found, "peak_start")), want);
    printf("\n  peak hour %s: V %.0f, V15max %.0f, PHF %.3f\n", want, best, top, phf);
    json_decref(doc);
}

/* v85 from the merged summaries against the exact value, and the naive mean of stored p85s. */
static void check_speed(struct gwt *t)
{
    json_t *doc = report_json("speed", "--limit 50");
    json_t *row = json_array_get(cqt_rows(doc, "speed"), 0);
    qsort(speeds, n_speeds, sizeof *speeds, cmp_double);
    double v85 = speeds[(85 * n_speeds + 99) / 100 - 1]; /* nearest rank: ceil(0.85 n) */
    CU_ASSERT_EQUAL(cqt_num(row, "vehicles"), n_speeds);
    CU_ASSERT(fabs(cqt_num(row, "v85") - v85) <= ALPHA * v85 + 0.05); /* + the printed rounding */
    printf("  v85 exact %.2f, cityquery %.1f", v85, cqt_num(row, "v85"));
    json_decref(doc);

    char q[256];
    snprintf(q, sizeof q,
             "SELECT mean(v85) FROM rp_1h.traffic WHERE quantity = 'vehicle_speed' AND "
             "site = 'site-00' "
             "AND time >= %lldms",
             (long long)from_ms);
    json_t *res = gwt_query(t, q);
    double naive = json_number_value(json_array_get(json_array_get(gwt_rows(res), 0), 1));
    printf(", mean of stored v85 %.2f\n", naive);
    CU_ASSERT(fabs(naive - v85) > 2 * ALPHA * v85);
    json_decref(res);
}

/* Two hours of node-0000 deleted from the store: 24 of 32 windows, one gap of 120 min. */
static void check_completeness(struct gwt *t)
{
    int64_t gap = from_ms + 2 * HOUR_MS;
    char q[256];
    snprintf(q, sizeof q,
             "DELETE FROM traffic WHERE node = 'node-0000' AND time >= %lldms AND time < %lldms",
             (long long)gap, (long long)(gap + 2 * HOUR_MS));
    json_decref(gwt_query(t, q));

    json_t *doc = report_json("completeness", ""), *row;
    size_t i, expected = 0, present = 0;
    json_array_foreach(cqt_rows(doc, "nodes"), i, row)
    {
        const char *node = json_string_value(json_object_get(row, "node"));
        if (strcmp(node, "node-0000") == 0) {
            expected += (size_t)cqt_num(row, "expected");
            present += (size_t)cqt_num(row, "present");
        } else {
            CU_ASSERT_STRING_EQUAL(node, "node-0002");
            CU_ASSERT_EQUAL(cqt_num(row, "observed"), 100);
        }
    }
    CU_ASSERT_EQUAL(expected, Q15);
    CU_ASSERT_EQUAL(present, Q15 - 8);
    json_t *gaps = cqt_rows(doc, "gaps");
    CU_ASSERT_EQUAL_FATAL(json_array_size(gaps), 1);
    row = json_array_get(gaps, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "node")), "node-0000");
    CU_ASSERT_EQUAL(cqt_num(row, "minutes"), 120);
    CU_ASSERT(json_is_false(json_object_get(doc, "complete")));
    json_decref(doc);

    /* The volume report now flags the hours with the hole instead of looking complete. */
    doc = report_json("volume", "--by hour");
    json_array_foreach(cqt_rows(doc, "volume"), i, row)
    {
        int holed = i == 2 || i == 3;
        CU_ASSERT_EQUAL(cqt_num(row, "complete"), holed ? 50 : 100);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(row, "flag")),
                               holed ? "incomplete" : "");
    }
    CU_ASSERT(json_is_false(json_object_get(doc, "complete")));
    json_decref(doc);
}

/* Vehicle classes from the vehicle_count windows: trucks and cars exact. */
static void check_classes(void)
{
    json_t *doc = report_json("classes", ""), *row;
    size_t i, seen = 0;
    json_array_foreach(cqt_rows(doc, "classes"), i, row)
    {
        const char *c = json_string_value(json_object_get(row, "class"));
        double want = strcmp(c, "truck") == 0 ? (double)n_trucks : (double)(n_speeds - n_trucks);
        CU_ASSERT(strcmp(c, "truck") == 0 || strcmp(c, "car") == 0);
        CU_ASSERT_EQUAL(cqt_num(row, "vehicles"), want);
        CU_ASSERT(fabs(cqt_num(row, "share") - 100 * want / (double)n_speeds) < 0.005);
        seen++;
    }
    CU_ASSERT_EQUAL(seen, 2);
    json_decref(doc);
}

/* The whole of a file, NUL-terminated, or NULL; *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/*
 * Charts by gnuplot: the PNG is a PNG of the size asked (its IHDR), the SVG
 * holds the rendered axis label, and the HTML page embeds its chart and
 * tables and fetches nothing.
 */
static void check_charts(void)
{
    char dir[] = "/tmp/cityquery-charts-XXXXXX", args[768], path[300];
    size_t len = 0;
    char *data;
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);

    snprintf(args, sizeof args,
             "profile --site site-00 --from %s --to %s --chart %s/profile.png --html %s/p.html",
             from_text, to_text, dir, dir);
    CU_ASSERT_EQUAL(cqt_run(cityquery, args, NULL), 0);
    snprintf(path, sizeof path, "%s/profile.png", dir);
    data = slurp(path, &len);
    CU_ASSERT_FATAL(data != NULL);
    CU_ASSERT(len > 5000);
    CU_ASSERT(memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(data + 12, "IHDR", 4) == 0);
    const unsigned char *u = (const unsigned char *)data;
    CU_ASSERT_EQUAL((u[16] << 24) | (u[17] << 16) | (u[18] << 8) | u[19], 960);
    CU_ASSERT_EQUAL((u[20] << 24) | (u[21] << 16) | (u[22] << 8) | u[23], 540);
    free(data);
    unlink(path);

    snprintf(path, sizeof path, "%s/p.html", dir);
    data = slurp(path, &len);
    CU_ASSERT_FATAL(data != NULL);
    CU_ASSERT(strstr(data, "<svg") != NULL && strstr(data, "<table>") != NULL);
    CU_ASSERT(strstr(data, "vehicles per hour") != NULL);
    CU_ASSERT(strstr(data, "src=") == NULL && strstr(data, "href=\"http") == NULL &&
              strstr(data, "href='http") == NULL);
    free(data);
    unlink(path);

    static const char *const kinds[][2] = {
        {"volume --by hour", "vehicles"},
        {"speed", "v85 [km/h]"},
        {"peak", "peak hour volume (vehicles)"},
        {"completeness", "observed (%)"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        snprintf(path, sizeof path, "%s/chart%zu.svg", dir, i);
        snprintf(args, sizeof args, "%s --site site-00 --from %s --to %s --chart %s", kinds[i][0],
                 from_text, to_text, path);
        CU_ASSERT_EQUAL(cqt_run(cityquery, args, NULL), 0);
        data = slurp(path, &len);
        CU_ASSERT_FATAL(data != NULL);
        char label[96];
        snprintf(label, sizeof label, ">%s</tspan></text>", kinds[i][1]);
        if (!strstr(data, label))
            fprintf(stderr, "%s: no rendered label %s\n", kinds[i][0], label);
        CU_ASSERT(strstr(data, "<svg") != NULL && strstr(data, label) != NULL);
        free(data);
        unlink(path);
    }
    snprintf(args, sizeof args, "volume --site site-00 --from %s --to %s --chart %s/x.gif",
             from_text, to_text, dir);
    CU_ASSERT_EQUAL(cqt_run(cityquery, args, NULL), 64);
    rmdir(dir);
}

/*
 * The registry says site-00 is in Europe/Madrid and has a third node that
 * never reported: the report is in that zone although TZ is UTC, and
 * completeness lists the silent node as 0 % observed with one gap over the
 * whole period. A site the registry does not know is refused before the
 * store is asked.
 */
static void check_registry(const struct gwt *t)
{
    char path[400], args[1024], *out = NULL;
    snprintf(path, sizeof path, "%s/cityquery-registry.ini", t->dir);
    char *text = NULL;
    size_t len = 0;
    FILE *in = fopen(t->registry, "rb"), *f = fopen(path, "w");
    CU_ASSERT_FATAL(in && f);
    CU_ASSERT_FATAL(getdelim(&text, &len, '\0', in) > 0);
    fprintf(f,
            "%s\n[device node-silent]\nsite = site-00\nkey = "
            "000102030405060708090a0b0c0d0e0f\n[site site-00]\nzone = Europe/Madrid\n",
            text);
    free(text);
    fclose(in);
    fclose(f);

    snprintf(args, sizeof args,
             "completeness --site site-00 --from %s --to %s -F json --registry %s --tz UTC",
             from_text, to_text, path);
    json_t *doc = cqt_json(cityquery, args), *row;
    size_t i, silent = 0, expected = 0;
    json_array_foreach(cqt_rows(doc, "nodes"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "node")), "node-silent") != 0)
            continue;
        silent++;
        expected += (size_t)cqt_num(row, "expected");
        CU_ASSERT_EQUAL(cqt_num(row, "present"), 0);
    }
    CU_ASSERT(silent >= 1);
    CU_ASSERT_EQUAL(expected, Q15);
    json_t *gap = NULL;
    json_array_foreach(cqt_rows(doc, "gaps"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "node")), "node-silent") == 0)
            gap = row;
    }
    CU_ASSERT_FATAL(gap != NULL);
    CU_ASSERT_EQUAL(cqt_num(gap, "minutes"), HOURS * 60);
    CU_ASSERT(json_is_false(json_object_get(doc, "complete")));
    json_decref(doc);

    /* No --tz: the registry's zone for the site, not $TZ (UTC). */
    snprintf(args, sizeof args, "volume --site site-00 --from %s --to %s -F json --registry %s",
             from_text, to_text, path);
    doc = cqt_json(cityquery, args);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "zone")), "Europe/Madrid");
    const char *start =
        json_string_value(json_object_get(json_array_get(cqt_rows(doc, "volume"), 0), "start"));
    CU_ASSERT(start && (strstr(start, "+01:00") || strstr(start, "+02:00")));
    json_decref(doc);

    /* Unknown to the registry: 67, without asking the (unreachable) store. */
    snprintf(args, sizeof args,
             "volume --site site-01x --from %s --to %s --registry %s --store http://127.0.0.1:1",
             from_text, to_text, path);
    CU_ASSERT_EQUAL(cqt_run(cityquery, args, &out), 67);
    free(out);
    snprintf(args, sizeof args, "volume --site site-00 --from %s --to %s --registry %s/nowhere.ini",
             from_text, to_text, t->dir);
    CU_ASSERT_EQUAL(cqt_run(cityquery, args, &out), 66);
    free(out);
}

/* Bad input: each gets its message and exit code, and no report on stdout. */
static void check_bad_input(void)
{
    char args[512], *out = NULL;
    const char *f = from_text, *t = to_text;
    struct {
        const char *report, *from, *to, *extra;
        int code;
    } cases[] = {
        {"volume --site nowhere", f, t, "", 67},
        {"volume --site site-00", t, f, "", 64},
        {"volume --site site-00", f, f, "", 64},
        {"volume --site site-00", "2001-01-01", "2001-01-02", "", 66},
        {"volume --site site-00", f, t, "--tz Mars/Olympus", 64},
        {"volume --site site-00", f, t, "--store http://127.0.0.1:1", 69},
        {"volume --site site-00", f, t, "--db nosuchdb", 76},
        {"peak --site site-00", f, t, "--level 1h", 64},
        {"nonsense --site site-00", f, t, "", 64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "%s --from %s --to %s %s", cases[i].report, cases[i].from,
                 cases[i].to, cases[i].extra);
        int rc = cqt_run(cityquery, args, &out);
        if (rc != cases[i].code)
            fprintf(stderr, "cityquery %s: exit %d, wanted %d\n", args, rc, cases[i].code);
        CU_ASSERT_EQUAL(rc, cases[i].code);
        CU_ASSERT_STRING_EQUAL(out, "");
        free(out);
    }
}

static void test_reports(void)
{
    struct gwt t;
    struct tm tm;
    time_t s;

    from_ms = (int64_t)(gwt_now_ms() / HOUR_MS) * HOUR_MS - (HOURS + 2) * HOUR_MS;
    s = (time_t)(from_ms / 1000);
    gmtime_r(&s, &tm);
    strftime(from_text, sizeof from_text, "%Y-%m-%dT%H:%M", &tm);
    s = (time_t)((from_ms + HOURS * HOUR_MS) / 1000);
    gmtime_r(&s, &tm);
    strftime(to_text, sizeof to_text, "%Y-%m-%dT%H:%M", &tm);

    gwt_init(&t, citygate, DEVICES, SITES,
             "[windows]\nwidths = 15m,1h\ngrace = 1s\nlate_horizon = 11h\n"
             "[store]\nretention = 15m=104w,1h=INF\n");
    gwt_start(&t);
    fill_store(&t);
    check_volume();
    check_csv();
    check_peak();
    check_speed(&t);
    check_classes();
    check_charts();
    check_bad_input();
    check_registry(&t);
    check_completeness(&t);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"reports on eight hours through the gateway", test_reports},
        {NULL, NULL},
    };
    if (argc != 3) {
        fprintf(stderr, "usage: %s CITYGATE CITYQUERY\n", argv[0]);
        return 64;
    }
    citygate = argv[1];
    cityquery = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("cityquery", tests);
    curl_global_cleanup();
    return rc;
}
