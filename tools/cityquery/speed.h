/*
 * speed.h -- vehicle speeds from the stored vehicle_speed windows, folded
 * and merged by the gateway's one merge rule (gateway/core/traffic.h:
 * gw_traffic_add(), gw_traffic_merge(), gw_traffic_figures()): counts and
 * sums add up, speed sketches merge, percentiles are read from the merged
 * sketch at the nearest rank, never averaged.
 *
 * The merge of two sketches is the sketch of the union of their values, so
 * v85 over a week of windows (from one gateway or partials from several)
 * is within GW_QSKETCH_ALPHA of the exact 85th percentile of every vehicle.
 *
 * Thread rules: plain data, one thread at a time.
 */
#ifndef CITYQUERY_SPEED_H
#define CITYQUERY_SPEED_H

#include <stddef.h>
#include <stdint.h>

#include "traffic.h"

/* One stored vehicle_speed window: its fields as read from the store. */
struct cq_speed_window {
    uint64_t count; /* vehicles */
    double sum, min, max;
    const char *sketch; /* the sketch field's text, borrowed */
    size_t sketch_len;
};

/*
 * Folds the window w into t (gw_traffic_init()'ed). Returns 0; GW_EINVAL
 * when the sketch text does not parse or does not hold count vehicles (t
 * unchanged); GW_ENOMEM or GW_ERANGE from the merge.
 */
int cq_speed_add(struct gw_traffic *t, const struct cq_speed_window *w);

/*
 * The share of t's vehicles faster than limit_kmh, in percent, from the
 * merged sketch (so within its accuracy, to one vehicle) into *out.
 * Returns 0, or GW_ENOTFOUND when t has no vehicle speeds.
 */
int cq_speed_pct_over(const struct gw_traffic *t, double limit_kmh, double *out);

#endif
