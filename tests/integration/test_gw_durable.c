/*
 * test_gw_durable.c -- nothing acknowledged is lost to clocks or damage,
 * through the real broker, citygate and InfluxDB, checked against the
 * counts the test itself publishes.
 *
 * Clocks: a node 10 minutes slow is windowed by its own time (windows close
 * on each node's event-time clock) and its values land in the store, while
 * it is named in the log and in a per-node metric; a node that reboots with
 * its clock 90 s behind loses no frame (boots are told apart by id, not
 * timestamp), and every base window in the store counts exactly what was
 * published in it.
 *
 * A long restart: citygate SIGKILLed under load and down for twice its late
 * horizon while the nodes go on publishing, then restarted: the broker's
 * backlog is taken on each node's clock, and the store holds exactly what
 * was published in every window, with no value too late.
 *
 * Damage: citygate SIGKILLed under load with several snapshots taken and the
 * journal trimmed behind them, its newest snapshot damaged, restarted: the
 * older snapshot and the journal kept back to it rebuild everything, and the
 * store holds exactly what was published in every window.
 *
 * A full disk: the journal on a 3 MiB tmpfs, the store stopped until the
 * journal fills it. citygate stops taking frames before an append can fail
 * (it says so in the log, on /readyz and in /metrics), the broker keeps them
 * in the session, and once the store is back and snapshots trim the journal
 * it takes them again: the store ends up with every frame published, and no
 * append failed. Mounting needs root (CI runs as root); elsewhere the test
 * says it did not run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu.h"
#include "gwload.h"
#include "gwtest.h"

#define WINDOW_MS 30000
#define MAX_WINDOWS 16

static const char *citygate;
static struct gwt t;

/* One frame of node with one TRAFFIC_VOLUME reading of 1, stamped ts_ms. */
static void send_count(int node, uint64_t boot, uint64_t seq, uint64_t ts_ms)
{
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, 1, 1, 0};
    uint8_t frame[512];
    char topic[128];
    size_t len = gwt_frame(&t, node, boot, seq, ts_ms, &r, 1, frame, sizeof frame);
    gwt_topic(&t, node, topic, sizeof topic);
    gwt_publish(&t, topic, frame, len);
}

/* The published counts of one node per base window from t0, as the store must hold them. */
struct truth {
    uint64_t t0;
    unsigned count[MAX_WINDOWS];
};

static void truth_add(struct truth *g, uint64_t ts_ms)
{
    uint64_t w = (ts_ms - g->t0) / WINDOW_MS;
    CU_ASSERT_FATAL(ts_ms >= g->t0 && w < MAX_WINDOWS);
    g->count[w]++;
}

/* Number of windows of g whose point in the store differs from g, after waiting up to 30 s. */
static int truth_differs(const struct truth *g, const char *node)
{
    char q[512];
    int diff = -1;
    snprintf(q, sizeof q,
             "SELECT \"count\" FROM rp_30s.traffic WHERE node = '%s' AND "
             "quantity = 'traffic_volume' AND time >= %llums ORDER BY time",
             node, (unsigned long long)g->t0);
    for (uint64_t end = gwt_now_ms() + 30000; diff != 0 && gwt_now_ms() < end; gwt_pause_ms(200)) {
        json_t *res = gwt_query(&t, q), *rows = gwt_rows(res);
        unsigned got[MAX_WINDOWS] = {0};
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *row = json_array_get(rows, i);
            uint64_t at = (uint64_t)json_integer_value(json_array_get(row, 0));
            if (at >= g->t0 && (at - g->t0) / WINDOW_MS < MAX_WINDOWS)
                got[(at - g->t0) / WINDOW_MS] =
                    (unsigned)json_integer_value(json_array_get(row, 1));
        }
        json_decref(res);
        diff = 0;
        for (int w = 0; w < MAX_WINDOWS; w++)
            diff += got[w] != g->count[w];
    }
    return diff;
}

static void test_slow_node_is_named(void)
{
    const int frames = 20;
    struct truth g;
    gwt_init(&t, citygate, 2, 1, "[windows]\ngrace = 1s\n");
    gwt_start(&t);
    uint64_t now = gwt_now_ms();
    /* Node 0 about 10 minutes slow: its frames fill the last 2 s of a window 570..600 s ago. */
    memset(&g, 0, sizeof g);
    g.t0 = (now - 600000) / WINDOW_MS * WINDOW_MS;
    for (int k = 0; k < frames; k++) {
        uint64_t ts = g.t0 + WINDOW_MS - 2000 + (uint64_t)k * 100;
        send_count(0, 77, (uint64_t)k + 1, ts);
        truth_add(&g, ts);
        send_count(1, 78, (uint64_t)k + 1, now + (uint64_t)k * 100);
    }
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", 2 * frames, 30000),
                    2 * frames);
    CU_ASSERT_EQUAL(truth_differs(&g, "node-0000"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_node_values_too_late_total{node=\"node-0000\"}"), -1);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_node_behind_seconds{node=\"node-0001\"}"), -1);
    double behind = gwt_metric(&t, "citygate_node_behind_seconds{node=\"node-0000\"}");
    CU_ASSERT(behind >= 565 && behind <= 660);
    CU_ASSERT(gwt_wait_log(&t, "site-00/node-0000: frame timestamps", 10000));
    CU_ASSERT(!gwt_log_contains(&t, "node-0001: "));
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

static void test_reboot_with_clock_behind(void)
{
    struct truth g;
    gwt_init(&t, citygate, 2, 1, "[windows]\ngrace = 1s\nlate_horizon = 5m\n");
    gwt_start(&t);
    uint64_t now = gwt_now_ms();
    memset(&g, 0, sizeof g);
    g.t0 = (now - 150000) / WINDOW_MS * WINDOW_MS;
    /*
     * Boot 1: 30 frames a second apart, the newest 500 ms before a window's
     * end. Their node's clock then runs on from that newest timestamp, so
     * its window closes 1.5 s later; a newest frame just after a window's
     * start would keep it open for 30.5 s, past the store's wait below.
     */
    uint64_t ts = now / WINDOW_MS * WINDOW_MS - 500 - 29000;
    for (uint64_t q = 1; q <= 30; q++, ts += 1000) {
        send_count(0, 1111, q, ts);
        truth_add(&g, ts);
    }
    /* Boot 2, its clock 90 s behind: every frame stamped before boot 1's first. */
    ts -= 90000;
    for (uint64_t q = 1; q <= 120; q++, ts += 250) {
        send_count(0, 2222, q, ts);
        truth_add(&g, ts);
    }
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", 150, 30000), 150);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_frames_rejected_total{reason=\"replay\"}"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(truth_differs(&g, "node-0000"), 0);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

/*
 * SIGKILL under load, down for twice the late horizon while the nodes go on
 * publishing (the broker keeps their frames in the gateway's session), then
 * a restart: every window in the store holds what was published in it.
 */
static void test_long_restart_takes_the_backlog(void)
{
    static struct gwl l;
    gwt_init(&t, citygate, 10, 2,
             "[windows]\nwidths = 2s,10s\ngrace = 1s\nlate_horizon = 5s\n"
             "[store]\nretention = 2s=1d,10s=1d\ndatabase = citygate_restart\n");
    snprintf(t.database, sizeof t.database, "citygate_restart"); /* apart from the other loads */
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    gwl_run(&l, 50, 3000);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGKILL), 128 + SIGKILL);
    gwl_run(&l, 50, 10000); /* 2 x late_horizon down */
    gwt_start(&t);
    gwl_run(&l, 50, 3000);
    gwl_verify(&l, 60000);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_refused_total{cause=\"busy\"}"), 0);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

/* Flips one byte in the middle of the file at path. */
static void flip_middle(const char *path)
{
    FILE *f = fopen(path, "r+b");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fseek(f, 0, SEEK_END) == 0);
    long mid = ftell(f) / 2;
    CU_ASSERT_FATAL(mid > 0 && fseek(f, mid, SEEK_SET) == 0);
    int c = fgetc(f);
    CU_ASSERT_FATAL(c != EOF && fseek(f, mid, SEEK_SET) == 0);
    fputc(c ^ 0x40, f);
    fclose(f);
}

static void test_damaged_snapshot_costs_nothing(void)
{
    static struct gwl l;
    char snap[400], older[400];
    gwt_init(&t, citygate, 10, 2, GWL_CONFIG "[journal]\nsegment_bytes = 64KiB\n");
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    gwl_run(&l, 20, 6000); /* 500 frames a second: a segment every second or so */
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGKILL), 128 + SIGKILL);
    snprintf(snap, sizeof snap, "%s/journal/snapshot", t.dir);
    snprintf(older, sizeof older, "%s/journal/snapshot.1", t.dir);
    CU_ASSERT_FATAL(access(snap, F_OK) == 0 && access(older, F_OK) == 0);
    /* The journal was trimmed: without the older snapshot, windows would be rebuilt in part. */
    char first[400];
    snprintf(first, sizeof first, "%s/journal/%016x.seg", t.dir, 1);
    CU_ASSERT_FATAL(access(first, F_OK) != 0);
    flip_middle(snap);
    gwt_start(&t);
    CU_ASSERT(gwt_log_contains(&t, "snapshot 0 (newest) unusable"));
    gwl_run(&l, 20, 3000);
    gwl_verify(&l, 60000);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_windows_incomplete_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_journal_dropped_total"), 0);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

static void services(const char *what)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' %s influx", cu_env("CITYGATE_SERVICES"), what);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

/* Runs the load until the sample equals want, up to timeout_ms; returns the last value. */
static double run_until(struct gwl *l, const char *sample, double want, int timeout_ms)
{
    double v = gwt_metric(&t, sample);
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; v != want && gwt_now_ms() < end;) {
        gwl_run(l, 10, 250);
        v = gwt_metric(&t, sample);
    }
    return v;
}

/* The status code of GET path on citygate's HTTP port, or -1. */
static long http_status(const char *path)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' 'http://%s%s'", t.http,
             path);
    FILE *p = popen(cmd, "r");
    long code = -1;
    if (p && fscanf(p, "%ld", &code) != 1)
        code = -1;
    if (p)
        pclose(p);
    return code;
}

/* 1 when the body of GET path on citygate's HTTP port contains needle. */
static int http_body_contains(const char *path, const char *needle)
{
    char cmd[400], body[4096];
    snprintf(cmd, sizeof cmd, "curl -s 'http://%s%s'", t.http, path);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(body, 1, sizeof body - 1, p) : 0;
    if (p)
        pclose(p);
    body[n] = '\0';
    return strstr(body, needle) != NULL;
}

static void test_disk_full(void)
{
    static struct gwl l;
    char journal[400];
    if (geteuid() != 0) {
        printf("\nnot run: mounting a small filesystem needs root\n");
        return;
    }
    /* A horizon longer than the pause, so that the frames kept at the broker still count; a
     * database of its own, apart from the points of the other load above. */
    gwt_init(&t, citygate, 10, 2,
             "[windows]\nwidths = 2s,10s\ngrace = 1s\nlate_horizon = 90s\n"
             "[store]\nretention = 2s=1d,10s=1d\ndatabase = citygate_full\n"
             "[journal]\nsegment_bytes = 64KiB\n");
    snprintf(t.database, sizeof t.database, "citygate_full");
    snprintf(journal, sizeof journal, "%s/journal", t.dir);
    CU_ASSERT_FATAL(mkdir(journal, 0700) == 0);
    CU_ASSERT_FATAL(mount("tmpfs", journal, "tmpfs", 0, "size=3m,mode=0700") == 0);
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    gwl_run(&l, 10, 2000);
    CU_ASSERT_EQUAL(http_status("/readyz"), 200);

    services("stop");
    CU_ASSERT_EQUAL(run_until(&l, "citygate_journal_full", 1, 60000), 1);
    CU_ASSERT(gwt_log_contains(&t, "no room ahead"));
    CU_ASSERT_EQUAL(http_status("/readyz"), 503);
    CU_ASSERT(http_body_contains("/readyz", "no room ahead"));
    CU_ASSERT(gwt_metric(&t, "citygate_mqtt_connected") == 0);
    double received = gwt_metric(&t, "citygate_frames_received_total");
    gwl_run(&l, 10, 3000); /* kept at the broker */
    CU_ASSERT(gwt_running(&t));
    CU_ASSERT(gwt_metric(&t, "citygate_frames_received_total") - received < 1000);

    services("start");
    CU_ASSERT_EQUAL(run_until(&l, "citygate_journal_full", 0, 60000), 0);
    CU_ASSERT(gwt_log_contains(&t, "room again"));
    gwl_run(&l, 10, 2000);
    gwl_verify(&l, 60000);
    CU_ASSERT_EQUAL(http_status("/readyz"), 200);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_journal_errors_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_journal_dropped_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    CU_ASSERT(umount2(journal, MNT_DETACH) == 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"a node 10 minutes slow is named in the log and a metric", test_slow_node_is_named},
        {"a reboot with the clock 90 s behind loses nothing", test_reboot_with_clock_behind},
        {"down for twice the late horizon, restarted: nothing lost",
         test_long_restart_takes_the_backlog},
        {"a damaged snapshot costs nothing in the store", test_damaged_snapshot_costs_nothing},
        {"a full disk stops consumption, and nothing is lost", test_disk_full},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway durability", tests, &citygate);
}
