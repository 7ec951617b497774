/*
 * speed.c -- stored vehicle speed windows into the gateway's traffic
 * figures (see speed.h).
 *
 * The share above a limit has no direct query in the sketch, so it is found
 * by bisection on q over gw_qsketch_quantile(): the largest q whose
 * quantile is at most the limit, to one rank; the vehicles at or below are
 * then gw_qsketch_rank(q, n), the one definition of a percentile's rank.
 */
#include "speed.h"

#include "err.h"

int cq_speed_add(struct gw_traffic *t, const struct cq_speed_window *w)
{
    struct gw_aggregate a = {0};
    struct gw_qsketch sketch;
    int rc;

    gw_qsketch_init(&sketch);
    rc = gw_qsketch_parse(&sketch, w->sketch, w->sketch_len, NULL);
    if (rc == 0) {
        a.key.quantity = GW_QUANTITY_VEHICLE_SPEED;
        a.count = (uint32_t)w->count;
        a.sum = w->sum;
        a.min = w->min;
        a.max = w->max;
        a.has_quantiles = true;
        a.sketch = &sketch;
        rc = w->count > UINT32_MAX ? GW_EINVAL : gw_traffic_add(t, &a);
    }
    gw_qsketch_fini(&sketch);
    return rc;
}

int cq_speed_pct_over(const struct gw_traffic *t, double limit_kmh, double *out)
{
    const struct gw_qsketch *sk = &t->speed;
    uint64_t n = gw_qsketch_count(sk);
    double lo = 0, hi = 1, x;

    if (n == 0 || gw_qsketch_quantile(sk, 0, &x) != 0)
        return GW_ENOTFOUND;
    if (x > limit_kmh) {
        *out = 100;
        return 0;
    }
    gw_qsketch_quantile(sk, 1, &x);
    if (x <= limit_kmh) {
        *out = 0;
        return 0;
    }
    /* Invariant: quantile(lo) <= limit < quantile(hi); stop within one rank. */
    while ((hi - lo) * (double)n > 0.5) {
        double mid = (lo + hi) / 2;
        gw_qsketch_quantile(sk, mid, &x);
        if (x <= limit_kmh)
            lo = mid;
        else
            hi = mid;
    }
    *out = 100.0 * ((double)n - gw_qsketch_rank(lo, n)) / (double)n;
    return 0;
}
