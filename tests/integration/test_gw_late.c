/*
 * test_gw_late.c -- late data through the real broker, citygate and
 * InfluxDB: values that arrive after their window was written correct it in
 * the store (the same point, rewritten), and values older than the late
 * horizon land in parts of their windows and change no point written.
 *
 * Timestamps lie minutes in the past. Windows close on each node's own
 * clock (its newest timestamp, running on with the gateway's while it sends
 * nothing newer), so a base window is written once that clock passes its
 * end plus the grace (5 s here). Half of a window's frames go first; once
 * the store holds that
 * partial window, the other half follows (within windows.late_horizon =
 * 10 min) and the test waits for the corrected count, sum, min, max and
 * mean at the same timestamp, still one point. Then frames 20 minutes old
 * (past the horizon, well inside devices.max_age) must be counted once, in
 * parts of their retired window (points with a part tag, which together
 * hold exactly those frames), with no value too late and every point
 * written before left as it was.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "gwtest.h"

#define WINDOW_MS 30000
#define BOOT 4242
#define LATE_NODE 0     /* the node whose window arrives in two halves */
#define SENTINEL_NODE 1 /* a node whose window marks "the gateway got this far" */
#define TOO_LATE_FRAMES 5

static const char *citygate;
static struct gwt t;
static uint64_t seq[2];

/* One frame of node with a SPEED and a TRAFFIC_VOLUME reading, stamped ts_ms. */
static void send_frame(int node, uint64_t ts_ms, double speed, struct gwt_agg *agg)
{
    struct gwt_reading r[] = {
        {CITYGATE__V1__QUANTITY__SPEED, speed, 1, 0},
        {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, 3, 1, 0},
    };
    uint8_t frame[1024];
    char topic[128];
    size_t len =
        gwt_frame(&t, node, BOOT + (uint64_t)node, ++seq[node], ts_ms, r, 2, frame, sizeof frame);
    gwt_topic(&t, node, topic, sizeof topic);
    gwt_publish(&t, topic, frame, len);
    if (agg)
        gwt_agg_add(agg, speed);
}

static double speed_at(int k)
{
    return 35.0 + (k * 7) % 23 + 0.5 * (k % 3);
}

/* Polls node's speed window at start_ms until it counts want values; returns the result. */
static json_t *wait_window(int node, uint64_t start_ms, unsigned want)
{
    char q[512];
    json_t *res = NULL;
    snprintf(q, sizeof q,
             "SELECT \"count\", \"sum\", \"min\", \"max\", \"mean\" FROM rp_30s.traffic WHERE "
             "node = 'node-%04d' AND quantity = 'speed' AND time = %llums",
             node, (unsigned long long)start_ms);
    for (uint64_t end = gwt_now_ms() + 30000; gwt_now_ms() < end; gwt_pause_ms(100)) {
        json_decref(res);
        res = gwt_query(&t, q);
        json_t *rows = gwt_rows(res);
        if (json_array_size(rows) == 1 &&
            json_integer_value(json_array_get(json_array_get(rows, 0), 1)) == (json_int_t)want)
            break;
    }
    return res;
}

/*
 * Every base-window point of the late node but parts (their fields and the tags that tell
 * its series apart; a part tag in the measurement would add a column to "*"), as one JSON
 * text (caller frees). The wider windows are left out: one of them may close on its own
 * while the test runs.
 */
static char *late_node_points(void)
{
    json_t *res = gwt_query(&t, "SELECT *::field, \"quantity\", \"lane\", \"sensor\" FROM "
                                "rp_30s./.*/ WHERE node = 'node-0000' AND part = '' ORDER BY time");
    json_t *rows = gwt_rows(res);
    char *text = rows ? json_dumps(rows, JSON_COMPACT) : NULL;
    json_decref(res);
    return text;
}

/*
 * Polls the parts of the late node's speed window at start_ms until they add up to want
 * values (60 s at most); returns them added up, as a reader of the store adds them.
 */
static struct gwt_agg wait_parts(uint64_t start_ms, unsigned want)
{
    char q[512];
    struct gwt_agg sum = {0};
    snprintf(q, sizeof q,
             "SELECT \"count\", \"sum\", \"min\", \"max\" FROM rp_30s.traffic WHERE "
             "node = 'node-0000' AND quantity = 'speed' AND part != '' AND time = %llums",
             (unsigned long long)start_ms);
    for (uint64_t end = gwt_now_ms() + 60000; sum.count != want && gwt_now_ms() < end;
         gwt_pause_ms(200)) {
        json_t *res = gwt_query(&t, q), *rows = gwt_rows(res);
        memset(&sum, 0, sizeof sum);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *row = json_array_get(rows, i);
            double min = json_number_value(json_array_get(row, 3));
            double max = json_number_value(json_array_get(row, 4));
            sum.count += (unsigned)json_integer_value(json_array_get(row, 1));
            sum.sum += json_number_value(json_array_get(row, 2));
            sum.min = i == 0 || min < sum.min ? min : sum.min;
            sum.max = i == 0 || max > sum.max ? max : sum.max;
        }
        json_decref(res);
    }
    return sum;
}

/* Counts points (of the speed series of the late node) in the base windows. */
static json_int_t speed_points(void)
{
    json_t *res = gwt_query(&t, "SELECT count(\"count\") FROM rp_30s.traffic WHERE "
                                "node = 'node-0000' AND quantity = 'speed'");
    json_int_t n = json_integer_value(json_array_get(json_array_get(gwt_rows(res), 0), 1));
    json_decref(res);
    return n;
}

static void test_late(void)
{
    struct gwt_agg agg = {0}, sentinel = {0};
    gwt_init(&t, citygate, 2, 1,
             "[windows]\ngrace = 5s\nlate_horizon = 10m\n[devices]\nmax_age = 24h\n");
    gwt_start(&t);
    /* A base window that ended three and a half minutes ago: past the grace, inside the horizon. */
    uint64_t start = (gwt_now_ms() - 4 * 60000) / WINDOW_MS * WINDOW_MS;

    /* First half: the even seconds. */
    for (int k = 0; k < 30; k += 2)
        send_frame(LATE_NODE, start + (uint64_t)k * 1000 + 500, speed_at(k), &agg);
    gwt_publish_wait(&t);
    json_t *res = wait_window(LATE_NODE, start, agg.count);
    CU_ASSERT_FATAL(json_array_size(gwt_rows(res)) == 1);
    CU_ASSERT_EQUAL(gwt_agg_check(&agg, json_array_get(gwt_rows(res), 0), 1, 1), 0);
    json_decref(res);
    CU_ASSERT_EQUAL(speed_points(), 1);
    double late_before = gwt_metric(&t, "citygate_values_late_total");
    double rewritten_before = gwt_metric(&t, "citygate_windows_rewritten_total");

    /* Second half, after the window was written: the odd seconds, two readings each. */
    for (int k = 1; k < 30; k += 2)
        send_frame(LATE_NODE, start + (uint64_t)k * 1000 + 500, speed_at(k), &agg);
    gwt_publish_wait(&t);
    res = wait_window(LATE_NODE, start, agg.count);
    CU_ASSERT_FATAL(json_array_size(gwt_rows(res)) == 1);
    CU_ASSERT_EQUAL(gwt_agg_check(&agg, json_array_get(gwt_rows(res), 0), 1, 1), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(gwt_rows(res), 0), 0)),
                    (json_int_t)start);
    json_decref(res);
    CU_ASSERT_EQUAL(speed_points(), 1); /* corrected in place, not a second point */
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_late_total") - late_before, 2 * 15);
    CU_ASSERT(gwt_metric(&t, "citygate_windows_rewritten_total") > rewritten_before);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);

    /* 20 minutes old, past the 10-minute horizon, well within max_age: in parts. */
    struct gwt_agg old_agg = {0};
    char *before = late_node_points();
    CU_ASSERT_FATAL(before != NULL);
    double accepted = gwt_metric(&t, "citygate_frames_accepted_total");
    double folded = gwt_metric(&t, "citygate_readings_aggregated_total");
    uint64_t old = (gwt_now_ms() - 20 * 60000) / WINDOW_MS * WINDOW_MS;
    for (int k = 0; k < TOO_LATE_FRAMES; k++)
        send_frame(LATE_NODE, old + (uint64_t)k * 1000 + 500, 10.0 + k, &old_agg);
    /* Then a frame of another node in the same window as the late one: once its point is in
     * the store, anything the old frames had wrongly changed would be there too. */
    send_frame(SENTINEL_NODE, start + WINDOW_MS - 500, 42, &sentinel);
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total",
                                    accepted + TOO_LATE_FRAMES + 1, 30000),
                    accepted + TOO_LATE_FRAMES + 1);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_late_parts_total"), 2 * TOO_LATE_FRAMES);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_readings_aggregated_total") - folded,
                    2 + 2 * TOO_LATE_FRAMES);
    res = wait_window(SENTINEL_NODE, start, 1);
    CU_ASSERT_EQUAL(json_array_size(gwt_rows(res)), 1);
    json_decref(res);
    struct gwt_agg parts = wait_parts(old, TOO_LATE_FRAMES);
    CU_ASSERT_EQUAL(parts.count, old_agg.count);
    CU_ASSERT_DOUBLE_EQUAL(parts.sum, old_agg.sum, 1e-9 * old_agg.sum);
    CU_ASSERT(parts.min == old_agg.min && parts.max == old_agg.max);
    char *after = late_node_points();
    CU_ASSERT_FATAL(after != NULL);
    CU_ASSERT_STRING_EQUAL(after, before);
    free(before);
    free(after);

    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"late values correct their window; values past the horizon land in parts", test_late},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway late data", tests, &citygate);
}
