/*
 * gwload.c -- steady load and exactly-once check (see gwload.h).
 */
#include "gwload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"

void gwl_init(struct gwl *l, struct gwt *t, int nodes)
{
    memset(l, 0, sizeof *l);
    CU_ASSERT_FATAL(nodes <= GWL_MAX_NODES);
    l->t = t;
    l->nodes = nodes;
    l->t0 = gwt_now_ms() / GWL_WINDOW_MS * GWL_WINDOW_MS;
}

void gwl_tick(struct gwl *l)
{
    uint8_t frame[512];
    char topic[128];
    uint64_t now = gwt_now_ms();
    size_t w = (now - l->t0) / GWL_WINDOW_MS;
    CU_ASSERT_FATAL(w < GWL_MAX_WINDOWS);
    for (int n = 0; n < l->nodes; n++) {
        struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, 40.0 + (double)(l->seq[n] % 40), 1,
                                0};
        size_t len = gwt_frame(l->t, n, 77, ++l->seq[n], now, &r, 1, frame, sizeof frame);
        gwt_topic(l->t, n, topic, sizeof topic);
        gwt_publish(l->t, topic, frame, len);
        l->expected[n][w]++;
        l->frames++;
    }
}

void gwl_run(struct gwl *l, int period_ms, int duration_ms)
{
    uint64_t end = gwt_now_ms() + (uint64_t)duration_ms;
    for (uint64_t next = gwt_now_ms(); next < end; next += (uint64_t)period_ms) {
        uint64_t now = gwt_now_ms();
        if (next > now)
            gwt_pause_ms((int)(next - now));
        gwl_tick(l);
    }
}

/* The store's counts per (node, window); returns how many points differ from expected. */
static unsigned gwl_compare(struct gwl *l, int report)
{
    static unsigned got[GWL_MAX_NODES][GWL_MAX_WINDOWS];
    unsigned diff = 0;
    memset(got, 0, sizeof got);
    json_t *res = gwt_query(l->t, "SELECT \"count\", node FROM rp_2s.traffic WHERE quantity = "
                                  "'speed' AND \"window\" = '2s'");
    json_t *rows = gwt_rows(res);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        uint64_t ts = (uint64_t)json_integer_value(json_array_get(row, 0));
        long node = strtol(json_string_value(json_array_get(row, 2)) + 5, NULL, 10);
        if (ts < l->t0 || node < 0 || node >= l->nodes ||
            (ts - l->t0) / GWL_WINDOW_MS >= GWL_MAX_WINDOWS) {
            diff++;
            continue;
        }
        got[node][(ts - l->t0) / GWL_WINDOW_MS] +=
            (unsigned)json_integer_value(json_array_get(row, 1));
    }
    json_decref(res);
    for (int n = 0; n < l->nodes; n++)
        for (size_t w = 0; w < GWL_MAX_WINDOWS; w++)
            if (got[n][w] != l->expected[n][w]) {
                if (report)
                    fprintf(stderr, "\nnode %d window %zu: store %u, published %u", n, w, got[n][w],
                            l->expected[n][w]);
                diff++;
            }
    return diff;
}

void gwl_verify(struct gwl *l, int timeout_ms)
{
    gwt_publish_wait(l->t);
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end; gwt_pause_ms(250))
        if (gwl_compare(l, 0) == 0)
            break;
    CU_ASSERT_EQUAL(gwl_compare(l, 1), 0);
}
