/*
 * stats.c -- volume figures over local periods (see stats.h for the
 * methods and their sources).
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static bool complete(const struct cq_bin *b, double min_pct)
{
    return !b->cut && b->expected > 0 && cq_bin_pct(b) >= min_pct;
}

void cq_profile(const struct cq_bin *hours, size_t n, double min_pct, struct cq_profile *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        struct cq_civil c;
        if (!complete(&hours[i], min_pct))
            continue;
        cq_time_civil(hours[i].start_ms, &c);
        if (c.wday >= 6) {
            out->weekend[c.hour] += hours[i].volume;
            out->n_weekend[c.hour]++;
        } else {
            out->weekday[c.hour] += hours[i].volume;
            out->n_weekday[c.hour]++;
        }
    }
    for (int h = 0; h < 24; h++) {
        if (out->n_weekday[h])
            out->weekday[h] /= out->n_weekday[h];
        if (out->n_weekend[h])
            out->weekend[h] /= out->n_weekend[h];
    }
}

int cq_adt(const struct cq_bin *days, size_t n, double min_pct, struct cq_adt *out)
{
    double total = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (complete(&days[i], min_pct)) {
            total += days[i].volume;
            used++;
        }
    }
    if (!used)
        return GW_ENOTFOUND;
    out->adt = total / (double)used;
    out->days_used = used;
    out->days_total = n;
    out->counted = used == n;
    return 0;
}

int cq_aadt(const struct cq_bin *days, size_t n, double min_pct, struct cq_aadt *out)
{
    struct cq_aadt a;
    double sum_madt = 0;

    if (n > 366)
        return GW_ERANGE;
    memset(&a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        struct cq_civil c;
        if (!complete(&days[i], min_pct))
            continue;
        cq_time_civil(days[i].start_ms, &c);
        a.madw[c.month - 1][c.wday - 1] += days[i].volume;
        a.n_madw[c.month - 1][c.wday - 1]++;
    }
    for (int m = 0; m < 12; m++) {
        int cells = 0;
        for (int d = 0; d < 7; d++) {
            if (a.n_madw[m][d]) {
                a.madw[m][d] /= a.n_madw[m][d];
                a.madt[m] += a.madw[m][d];
                cells++;
            }
        }
        a.month_full[m] = cells == 7;
        if (a.month_full[m]) {
            a.madt[m] /= 7;
            sum_madt += a.madt[m];
            a.months_used++;
        } else {
            a.madt[m] = 0;
        }
    }
    if (!a.months_used)
        return GW_ENOTFOUND;
    /* With all 84 cells, the mean of the 12 MADT is the AASHTO formula (the sums commute). */
    a.aadt = sum_madt / a.months_used;
    a.counted = a.months_used == 12;
    *out = a;
    return 0;
}

void cq_peaks(const struct cq_bin *q15, size_t n_q15, const struct cq_bin *days, size_t n_days,
              double min_pct, struct cq_peak *peaks)
{
    size_t i = 0;
    for (size_t d = 0; d < n_days; d++) {
        struct cq_peak best = {0};
        while (i < n_q15 && q15[i].start_ms < days[d].start_ms)
            i++;
        for (size_t j = i; j + 3 < n_q15 && q15[j + 3].end_ms <= days[d].end_ms; j++) {
            double v = 0, top = 0;
            int k;
            for (k = 0; k < 4; k++) {
                const struct cq_bin *b = &q15[j + k];
                if (!complete(b, min_pct) || (k > 0 && b->start_ms != q15[j + k - 1].end_ms))
                    break;
                v += b->volume;
                if (b->volume > top)
                    top = b->volume;
            }
            if (k < 4 || (best.found && v <= best.volume))
                continue;
            best.found = true;
            best.start_ms = q15[j].start_ms;
            best.volume = v;
            best.v15_max = top;
            best.phf = top > 0 ? v / (4 * top) : 0;
        }
        peaks[d] = best;
    }
}

static int cmp_volume_desc(const void *a, const void *b)
{
    const struct cq_bin *x = a, *y = b;
    if (x->volume != y->volume)
        return x->volume < y->volume ? 1 : -1;
    return (x->start_ms > y->start_ms) - (x->start_ms < y->start_ms);
}

int cq_nth_hour(const struct cq_bin *hours, size_t n, double min_pct, unsigned nth,
                struct cq_bin *out)
{
    struct cq_bin *sorted = malloc((n ? n : 1) * sizeof *sorted);
    size_t m = 0;
    if (!sorted)
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (complete(&hours[i], min_pct))
            sorted[m++] = hours[i];
    int rc = GW_ENOTFOUND;
    if (nth >= 1 && m >= nth) {
        qsort(sorted, m, sizeof *sorted, cmp_volume_desc);
        *out = sorted[nth - 1];
        rc = 0;
    }
    free(sorted);
    return rc;
}
