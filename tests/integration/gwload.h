/*
 * gwload.h -- steady live load for the gateway's reliability scenarios, and
 * the check that the store ends up holding every frame exactly once.
 *
 * Each tick publishes one frame per node, stamped now, with one SPEED
 * reading; the load keeps the count it expects in every (node, base window)
 * and, at the end, compares them with the store's 2-s aggregates. Frames
 * whose publish failed (the broker was away) are kept and sent again by the
 * next tick, with their original sequence number and timestamp.
 */
#ifndef CITYGATE_TEST_GWLOAD_H
#define CITYGATE_TEST_GWLOAD_H

#include <stdint.h>

#include "gwtest.h"

#define GWL_MAX_NODES 32
#define GWL_MAX_WINDOWS 512
#define GWL_WINDOW_MS 2000

/* Configuration the scenarios append: small windows so that they close in seconds. */
#define GWL_CONFIG                                                                                 \
    "[windows]\nwidths = 2s,10s\ngrace = 1s\nlate_horizon = 20s\n"                                 \
    "[store]\nretention = 2s=1d,10s=1d\n"

struct gwl {
    struct gwt *t;
    int nodes;
    uint64_t t0; /* first window start */
    uint64_t seq[GWL_MAX_NODES];
    unsigned expected[GWL_MAX_NODES][GWL_MAX_WINDOWS];
    uint64_t frames;
};

void gwl_init(struct gwl *l, struct gwt *t, int nodes);

/* Publishes one frame per node stamped now. */
void gwl_tick(struct gwl *l);

/* Runs ticks every period_ms for duration_ms (a paced publisher). */
void gwl_run(struct gwl *l, int period_ms, int duration_ms);

/*
 * Waits (up to timeout_ms) until the store's base windows hold exactly the
 * expected counts, then asserts it window by window.
 */
void gwl_verify(struct gwl *l, int timeout_ms);

#endif
