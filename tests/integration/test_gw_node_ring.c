/*
 * test_gw_node_ring.c -- a real citynode offline for ten late horizons,
 * then draining its ring while it sends live: the store counts every frame
 * once, window by window, at every level (real broker, citygate, InfluxDB).
 *
 * citynode node-0000 (sim-noise, a frame every 200 ms) publishes to the
 * broker, which is stopped for 10 x late_horizon (2 s) while the node keeps
 * sampling into its ring. When the broker is back the node drains the ring
 * at 10 frames a second, interleaved with its live frames: the live frames
 * move the node's clock in the gateway to now, so the ring's values arrive
 * far past their windows' late horizon. They must still count, in parts of
 * the retired windows (docs/gateway.md, "Windows and late data").
 *
 * During the drain, once it has put ring values into parts, the gateway is
 * SIGKILLed and started again, so the parts it was collecting must come back from its
 * snapshot and journal and be written as they were (a replay never writes
 * a part with less, nor counts a value twice).
 *
 * Ground truth: a persistent QoS 1 observer on the broker decodes every
 * frame the node delivered (redeliveries counted once, by boot and
 * sequence) and counts its GOOD readings per 1-s and 5-s window; the store's
 * points of each window, its parts included, must add up to exactly that.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu.h"
#include "gwtest.h"
#include "wire.h"

#define HORIZON_MS 2000
#define OUTAGE_MS (10 * HORIZON_MS)
#define INTERVAL_MS 200
#define N_LEVELS 2
#define MAX_WINDOWS 256
#define MAX_FRAMES 4096

static const char *citygate, *citynode;
static const int64_t widths_ms[N_LEVELS] = {1000, 5000};
static const char *const rps[N_LEVELS] = {"rp_1s", "rp_5s"};

/* What the observer saw of the node: its distinct frames and GOOD readings per window. */
struct truth {
    uint64_t boot[MAX_FRAMES], seq[MAX_FRAMES];
    size_t frames, backlog, redelivered;
    int64_t t0; /* the first window's start, a multiple of the top width */
    unsigned count[N_LEVELS][MAX_WINDOWS];
    int drained; /* a live frame after the outage said the ring is empty */
};

static int key_fn(void *ctx, const char *device_id, struct wire_key *key)
{
    static uint8_t k[32];
    (void)ctx;
    if (strcmp(device_id, "node-0000") != 0)
        return -1;
    gwt_key(0, k);
    key->bytes = k;
    key->len = sizeof k;
    return 0;
}

/* Decodes every frame the observer holds into *g (from scratch); back_ms: the outage's end. */
static void truth_read(struct gwt_sub *obs, struct truth *g, uint64_t back_ms)
{
    static unsigned char arena[256 * 1024];
    size_t n = gwt_sub_count(obs);
    memset(g, 0, sizeof *g);
    g->t0 = -1;
    for (size_t i = 0; i < n; i++) {
        const struct gwt_msg *m = gwt_sub_msg(obs, i);
        struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_fn, NULL, {0}};
        Citygate__V1__Frame *f = NULL;
        wire_arena_init(&d.arena, arena, sizeof arena);
        CU_ASSERT_FATAL(wire_decode(&d, (const uint8_t *)m->payload, m->len, &f, NULL) == 0);
        size_t k = 0;
        while (k < g->frames && !(g->boot[k] == f->boot_id && g->seq[k] == f->seq))
            k++;
        if (k < g->frames) {
            g->redelivered++;
            continue;
        }
        CU_ASSERT_FATAL(g->frames < MAX_FRAMES);
        g->boot[g->frames] = f->boot_id;
        g->seq[g->frames++] = f->seq;
        g->backlog += f->backlog;
        if (f->timestamp_ms > back_ms && !f->backlog && f->health && f->health->backlog_frames == 0)
            g->drained = 1;
        int64_t ts = (int64_t)f->timestamp_ms;
        if (g->t0 < 0)
            g->t0 = ts - ts % widths_ms[N_LEVELS - 1] - widths_ms[N_LEVELS - 1];
        CU_ASSERT_FATAL(ts >= g->t0);
        for (size_t r = 0; r < f->n_readings; r++) {
            if (f->readings[r]->quality != CITYGATE__V1__QUALITY__GOOD)
                continue;
            for (int l = 0; l < N_LEVELS; l++) {
                int64_t w = (ts - g->t0) / widths_ms[l];
                CU_ASSERT_FATAL(w < MAX_WINDOWS);
                g->count[l][w]++;
            }
        }
    }
}

/*
 * Windows of level l whose points in the store (each window's point and its
 * parts, added up) differ from g, after waiting up to 30 s; prints them.
 */
static int store_differs(const struct gwt *t, const struct truth *g, int l)
{
    char q[256];
    unsigned got[MAX_WINDOWS];
    int diff = -1;
    snprintf(q, sizeof q,
             "SELECT \"count\" FROM %s.noise WHERE node = 'node-0000' AND quantity = 'noise'",
             rps[l]);
    for (uint64_t end = gwt_now_ms() + 30000; diff != 0 && gwt_now_ms() < end; gwt_pause_ms(200)) {
        json_t *res = gwt_query(t, q), *rows = gwt_rows(res);
        memset(got, 0, sizeof got);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *row = json_array_get(rows, i);
            int64_t at = (int64_t)json_integer_value(json_array_get(row, 0));
            if (at >= g->t0 && (at - g->t0) / widths_ms[l] < MAX_WINDOWS)
                got[(at - g->t0) / widths_ms[l]] +=
                    (unsigned)json_integer_value(json_array_get(row, 1));
        }
        json_decref(res);
        diff = 0;
        for (int w = 0; w < MAX_WINDOWS; w++)
            diff += got[w] != g->count[l][w];
    }
    for (int w = 0; w < MAX_WINDOWS; w++)
        if (got[w] != g->count[l][w])
            printf("\n  %s window %d: store %u, published %u", rps[l], w, got[w], g->count[l][w]);
    return diff;
}

static void services(const char *verb)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' %s mqtt", cu_env("CITYGATE_SERVICES"), verb);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

static void test_ring_drain_is_exact(void)
{
    static struct truth g;
    struct gwt t;
    gwt_init(&t, citygate, 1, 1,
             "[windows]\nwidths = 1s,5s\ngrace = 500ms\nlate_horizon = 2s\n"
             "[store]\nretention = 1s=1d,5s=1d\ndatabase = citygate_ring\n");
    snprintf(t.database, sizeof t.database, "citygate_ring"); /* apart from other tests' points */
    struct gwt_sub *obs = gwt_sub_new_persistent("ring-observer", "city/v1/site-00/+/data");
    gwt_start(&t);
    pid_t node = gwt_node_start(
        &t, citynode,
        gwt_node_provision(
            &t, 0,
            "drain_per_s = 10\ndrain_burst = 2\nreconnect_min_ms = 200ms\nreconnect_max_ms = 1s\n",
            "[sensor noise-1]\ndriver = sim-noise\n"));
    CU_ASSERT_FATAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", 10, 20000) >= 10);

    services("stop");
    gwt_pause_ms(OUTAGE_MS); /* the outage is the scenario's length, not a wait for a result */
    services("start");
    uint64_t back = gwt_now_ms();
    CU_ASSERT_FATAL(gwt_sub_reconnect(obs, 20000) == MQTTCLIENT_SUCCESS);

    /*
     * The ring drains (about 10 s at 10 frames a second) while live frames go on. Once the
     * gateway has put ring values into parts, it is SIGKILLed and started again: the parts it
     * was collecting come back from its snapshot and journal, and are written as they were.
     */
    double parted = gwt_wait_metric(&t, "citygate_values_late_parts_total", 10, 60000);
    CU_ASSERT_FATAL(parted >= 10);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGKILL), 128 + SIGKILL);
    gwt_start(&t);
    for (uint64_t end = gwt_now_ms() + 60000; !g.drained && gwt_now_ms() < end;) {
        gwt_pause_ms(250);
        truth_read(obs, &g, back);
    }
    CU_ASSERT_FATAL(g.drained);
    CU_ASSERT_FATAL(kill(node, SIGTERM) == 0);
    CU_ASSERT_FATAL(waitpid(node, NULL, 0) == node);
    truth_read(obs, &g, back);
    printf("\n  %zu frames, %zu of them from the ring, %zu redelivered to the observer; "
           "%.0f values in parts before the SIGKILL",
           g.frames, g.backlog, g.redelivered, parted);
    CU_ASSERT(g.backlog >= (OUTAGE_MS / INTERVAL_MS) * 8 / 10);
    CU_ASSERT(parted < (double)g.backlog); /* the drain went on after the restart */

    /* The store has everything the node delivered (the observer's frames), each once. */
    for (int l = 0; l < N_LEVELS; l++)
        CU_ASSERT_EQUAL(store_differs(&t, &g, l), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_refused_total{cause=\"busy\"}"), 0);
    /* The ring's values did come past the horizon: they are in parts. */
    CU_ASSERT(gwt_metric(&t, "citygate_values_late_parts_total") >= (double)g.backlog / 2);
    gwt_sub_free(obs);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"a node offline for 10 late horizons drains its ring, the gateway killed meanwhile: "
         "every window exact",
         test_ring_drain_is_exact},
        {NULL, NULL},
    };
    if (argc != 3) {
        fprintf(stderr, "usage: %s CITYGATE CITYNODE\n", argv[0]);
        return 64;
    }
    citygate = argv[1];
    citynode = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("gateway and node: a ring drained after an outage", tests);
    curl_global_cleanup();
    return rc;
}
