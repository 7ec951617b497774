/*
 * speed.c -- merged speed figures (see speed.h).
 *
 * The share above a limit has no direct query in the summary, so it is
 * found by bisection on q over gw_qsketch_quantile(): the largest q whose
 * quantile is at most the limit, to one rank.
 */
#include "speed.h"

#include <math.h>

#include "err.h"

void cq_speed_init(struct cq_speed *s)
{
    s->count = 0;
    s->sum = 0;
    gw_qsketch_init(&s->sketch);
}

void cq_speed_fini(struct cq_speed *s)
{
    gw_qsketch_fini(&s->sketch);
}

int cq_speed_add_text(struct cq_speed *s, uint64_t count, double sum, const char *text, size_t len)
{
    struct gw_qsketch one;
    int rc;

    gw_qsketch_init(&one);
    rc = gw_qsketch_parse(&one, text, len, NULL);
    if (rc == 0 && gw_qsketch_count(&one) != count)
        rc = GW_EINVAL;
    if (rc == 0)
        rc = gw_qsketch_merge(&s->sketch, &one);
    if (rc == 0) {
        s->count += count;
        s->sum += sum;
    }
    gw_qsketch_fini(&one);
    return rc;
}

int cq_speed_merge(struct cq_speed *dst, const struct cq_speed *src)
{
    int rc = gw_qsketch_merge(&dst->sketch, &src->sketch);
    if (rc == 0) {
        dst->count += src->count;
        dst->sum += src->sum;
    }
    return rc;
}

/* Share of values above limit, percent. */
static double pct_over(const struct gw_qsketch *sk, uint64_t n, double limit)
{
    double lo = 0, hi = 1, x;
    if (gw_qsketch_quantile(sk, 0, &x) == 0 && x > limit)
        return 100;
    if (gw_qsketch_quantile(sk, 1, &x) == 0 && x <= limit)
        return 0;
    /* Invariant: quantile(lo) <= limit < quantile(hi); stop within one rank. */
    while ((hi - lo) * (double)(n > 1 ? n - 1 : 1) > 0.5) {
        double mid = (lo + hi) / 2;
        gw_qsketch_quantile(sk, mid, &x);
        if (x <= limit)
            lo = mid;
        else
            hi = mid;
    }
    /* Ranks 0..floor(lo (n-1)) are at or below the limit. */
    double below = floor(lo * (double)(n - 1)) + 1;
    return 100.0 * ((double)n - below) / (double)n;
}

int cq_speed_figures(const struct cq_speed *s, double limit_kmh, struct cq_speed_figures *out)
{
    static const double q[] = {0.15, 0.50, 0.85, 0.95};
    double v[4];
    uint64_t n = gw_qsketch_count(&s->sketch);

    if (n == 0 || s->count == 0)
        return GW_ENOTFOUND;
    if (gw_qsketch_quantiles(&s->sketch, q, 4, v) != 0)
        return GW_ENOTFOUND;
    out->count = s->count;
    out->mean = s->sum / (double)s->count;
    out->v15 = v[0];
    out->v50 = v[1];
    out->v85 = v[2];
    out->v95 = v[3];
    out->pct_over = limit_kmh > 0 ? pct_over(&s->sketch, n, limit_kmh) : NAN;
    return 0;
}
