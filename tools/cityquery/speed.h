/*
 * speed.h -- speed figures merged from the stored windows: mean from the
 * summed counts and sums, percentiles from the merged quantile summaries
 * (gateway/core/qsketch.h), never from an average of stored percentiles.
 *
 * The merge of two summaries is the summary of the union of their values,
 * so v85 over a week of windows (from one gateway or partials from several)
 * is within GW_QSKETCH_ALPHA of the exact 85th percentile of every value
 * folded into them.
 *
 * Thread rules: plain data, one thread at a time.
 */
#ifndef CITYQUERY_SPEED_H
#define CITYQUERY_SPEED_H

#include <stddef.h>
#include <stdint.h>

#include "qsketch.h"

/* Speeds merged so far. Caller storage: cq_speed_init()/cq_speed_fini(). */
struct cq_speed {
    uint64_t count;
    double sum;
    struct gw_qsketch sketch;
};

/* The figures of a merged set of speeds, km/h. */
struct cq_speed_figures {
    uint64_t count;
    double mean, v15, v50, v85, v95;
    double pct_over; /* % of values above the limit; NAN without a limit */
};

void cq_speed_init(struct cq_speed *s);
void cq_speed_fini(struct cq_speed *s);

/*
 * Merges one stored window: its count and sum fields and its sketch text
 * (len bytes, borrowed, as written by gw_qsketch_format()). Returns 0;
 * GW_EINVAL when the text does not parse or holds another count than
 * count (s unchanged); GW_ENOMEM or GW_ERANGE from the merge.
 */
int cq_speed_add_text(struct cq_speed *s, uint64_t count, double sum, const char *text, size_t len);

/* Merges src (borrowed) into dst. Returns 0, GW_ENOMEM or GW_ERANGE (dst unchanged). */
int cq_speed_merge(struct cq_speed *dst, const struct cq_speed *src);

/*
 * Fills *out from s; limit_kmh > 0 also gives the share above it (the
 * summary's rank of limit_kmh, so within its accuracy). Returns 0 or
 * GW_ENOTFOUND when s is empty.
 */
int cq_speed_figures(const struct cq_speed *s, double limit_kmh, struct cq_speed_figures *out);

#endif
