/*
 * test_gw_correctness.c -- 50 nodes x 2 minutes of frames with values the test
 * chose, through the real broker, citygate and InfluxDB: every 30-s
 * aggregate read back equals what the test computes itself (counts exact,
 * sums and means to rounding). SPEED readings are interval means: they are
 * written as speed_interval_mean and never get a percentile.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cu.h"
#include "gwtest.h"

#define NODES 50
#define SITES 5
#define SECONDS 120
#define WINDOW_MS 30000
#define WINDOWS (SECONDS * 1000 / WINDOW_MS)

static const char *citygate;

/* The test's own aggregate of one (node, window) speed series. */
struct expect {
    unsigned count;
    double sum, min, max;
    unsigned volume;
};

static struct expect expected[NODES][WINDOWS];

/* A speed the test chooses: a per-node level, a slow wave, and a deterministic jitter. */
static double chosen_speed(int node, int second)
{
    unsigned h = (unsigned)(node * 2654435761u) ^ (unsigned)(second * 40503u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return 30.0 + node % 40 + 15.0 * sin(second / 9.0) + (h % 1000) / 100.0;
}

/* Whether every row's count is the test's own count for its node and window. */
static int counts_match(json_t *rows, uint64_t base)
{
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        uint64_t ts = (uint64_t)json_integer_value(json_array_get(row, 0));
        int node = (int)strtol(json_string_value(json_array_get(row, 8)) + 5, NULL, 10);
        size_t w = (ts - base) / WINDOW_MS;
        if (ts < base || node < 0 || node >= NODES || w >= WINDOWS ||
            json_integer_value(json_array_get(row, 1)) != expected[node][w].count)
            return 0;
    }
    return 1;
}

static void test_aggregates_match(void)
{
    struct gwt t;
    uint8_t frame[2048];
    char topic[128];
    /* Two minutes that ended a minute ago, aligned to the base window. */
    uint64_t base = (gwt_now_ms() - 180000) / WINDOW_MS * WINDOW_MS;

    /* Windows close on each node's clock: a short grace after its last frame, not a minute. */
    gwt_init(&t, citygate, NODES, SITES, "[windows]\ngrace = 2s\nlate_horizon = 10m\n");
    gwt_start(&t);
    for (int s = 0; s < SECONDS; s++) {
        for (int n = 0; n < NODES; n++) {
            double speed = chosen_speed(n, s);
            unsigned volume = (unsigned)(n + s) % 7;
            struct gwt_reading r[] = {
                {CITYGATE__V1__QUANTITY__SPEED, speed, 1, 0},
                {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, volume, 1, 0},
            };
            struct expect *e = &expected[n][s * 1000 / WINDOW_MS];
            e->count++;
            e->sum += speed;
            e->min = e->count == 1 || speed < e->min ? speed : e->min;
            e->max = e->count == 1 || speed > e->max ? speed : e->max;
            e->volume += volume;
            size_t len = gwt_frame(&t, n, 1000 + (uint64_t)n, (uint64_t)s + 1,
                                   base + (uint64_t)s * 1000 + 500, r, 2, frame, sizeof frame);
            gwt_topic(&t, n, topic, sizeof topic);
            gwt_publish(&t, topic, frame, len);
        }
    }
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", NODES * SECONDS, 60000),
                    NODES * SECONDS);

    /*
     * Poll the store until every base window of every node is there with the
     * count the test published. The frames are back-dated into windows that
     * are already due, so a window can be written before all its frames have
     * arrived and rewritten (corrected) afterwards: every row being present
     * says nothing about the corrections still on their way.
     */
    json_t *res = NULL, *rows = NULL;
    const char *q = "SELECT \"count\", \"sum\", \"min\", \"max\", \"mean\", "
                    "speed_interval_mean, p85, node "
                    "FROM rp_30s.traffic WHERE quantity = 'speed' ORDER BY time";
    for (uint64_t end = gwt_now_ms() + 60000; gwt_now_ms() < end; gwt_pause_ms(200)) {
        json_decref(res);
        res = gwt_query(&t, q);
        rows = gwt_rows(res);
        if (json_array_size(rows) == NODES * WINDOWS && counts_match(rows, base) &&
            gwt_metric(&t, "citygate_store_lines_pending") == 0)
            break;
    }
    CU_ASSERT_FATAL(json_array_size(rows) == NODES * WINDOWS);

    unsigned checked = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        uint64_t ts = (uint64_t)json_integer_value(json_array_get(row, 0));
        int node = (int)strtol(json_string_value(json_array_get(row, 8)) + 5, NULL, 10);
        size_t w = (ts - base) / WINDOW_MS;
        CU_ASSERT_FATAL(node >= 0 && node < NODES && w < WINDOWS && (ts - base) % WINDOW_MS == 0);
        struct expect *e = &expected[node][w];
        CU_ASSERT_EQUAL(json_integer_value(json_array_get(row, 1)), e->count);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 2)), e->sum, 1e-9 * e->sum);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 3)), e->min, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 4)), e->max, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 5)), e->sum / e->count,
                               1e-9 * e->sum);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 6)), e->sum / e->count,
                               1e-9 * e->sum);
        CU_ASSERT(json_is_null(json_array_get(row, 7))); /* no percentile of interval means */
        checked++;
    }
    CU_ASSERT_EQUAL(checked, NODES * WINDOWS);
    json_decref(res);

    /* Volume: flow in vehicles per hour from the window's sum, per node and window. */
    res = gwt_query(&t, "SELECT \"sum\", flow_vph, node FROM rp_30s.traffic WHERE quantity = "
                        "'traffic_volume' ORDER BY time");
    rows = gwt_rows(res);
    CU_ASSERT_FATAL(json_array_size(rows) == NODES * WINDOWS);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        uint64_t ts = (uint64_t)json_integer_value(json_array_get(row, 0));
        int node = (int)strtol(json_string_value(json_array_get(row, 3)) + 5, NULL, 10);
        struct expect *e = &expected[node][(ts - base) / WINDOW_MS];
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 1)), e->volume, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, 2)),
                               e->volume * 3600000.0 / WINDOW_MS, 1e-6);
    }
    json_decref(res);

    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_frames_rejected_total{reason=\"duplicate\"}"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"aggregates in the store match the test's own", test_aggregates_match},
        {NULL, NULL},
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s CITYGATE\n", argv[0]);
        return 64;
    }
    citygate = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("gateway correctness", tests);
    curl_global_cleanup();
    return rc;
}
