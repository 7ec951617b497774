/*
 * stats.h -- the planners' volume figures over the periods of a grid:
 * hourly profiles, ADT and AADT (FHWA Traffic Monitoring Guide, AASHTO
 * method), peak hour and peak hour factor (Highway Capacity Manual), the
 * 30th-highest hour and the K-factor.
 *
 * Every figure uses only whole periods (not cut by the report's period)
 * whose completeness (cq_bin_pct()) reaches min_pct, and says how many it
 * used: holes and parts of days are never averaged over.
 *
 * Thread rules: pure functions over caller data.
 */
#ifndef CITYQUERY_STATS_H
#define CITYQUERY_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grid.h"

/* Average vehicles per local clock hour, Monday-Friday and Saturday-Sunday. */
struct cq_profile {
    double weekday[24], weekend[24];       /* mean volume of the hour; 0 when n is 0 */
    unsigned n_weekday[24], n_weekend[24]; /* complete hours averaged */
};

/*
 * Averages the complete local hours (hours[], from cq_grid_bins(CQ_PHOUR))
 * by clock hour. The hour repeated on a 25-hour day counts as two hours of
 * its clock hour; the hour skipped on a 23-hour day is simply absent.
 */
void cq_profile(const struct cq_bin *hours, size_t n, double min_pct, struct cq_profile *out);

/* Average daily traffic over the complete days of a period. */
struct cq_adt {
    double adt;
    size_t days_used, days_total;
    bool counted; /* every day of the period was complete; otherwise estimated */
};

/* ADT from days[] (cq_grid_bins(CQ_PDAY)). Returns 0, or GW_ENOTFOUND when no day is complete. */
int cq_adt(const struct cq_bin *days, size_t n, double min_pct, struct cq_adt *out);

/*
 * AADT by the AASHTO method (TMG 2022, Appendix L): the average of the 12
 * monthly averages of the 7 day-of-week averages of complete days,
 *     AADT = 1/7 sum_i [ 1/12 sum_j ( 1/n_ij sum_k VOL_ijk ) ],
 * which needs 1..5 days of each day of the week in each month (84 cells).
 * With every cell filled the figure is counted. Otherwise it is estimated
 * from the months whose 7 cells are all filled (the average of their
 * monthly averages), and is missing when there is no such month.
 */
struct cq_aadt {
    double aadt;
    bool counted;
    int months_used;        /* months with all 7 days of the week */
    double madw[12][7];     /* monthly average day of week, Monday first */
    unsigned n_madw[12][7]; /* complete days in each cell */
    double madt[12];        /* monthly average daily traffic (AASHTO: mean of its 7 MADW) */
    bool month_full[12];
};

/*
 * AADT from days[] of at most one year (366 days). Returns 0, GW_ERANGE for
 * more than 366 days, or GW_ENOTFOUND when no month has all 7 cells.
 */
int cq_aadt(const struct cq_bin *days, size_t n, double min_pct, struct cq_aadt *out);

/* A peak hour: four consecutive 15-min periods. */
struct cq_peak {
    bool found;
    int64_t start_ms;
    double volume;  /* V: vehicles in the hour */
    double v15_max; /* the busiest 15 min in it */
    double phf;     /* HCM peak hour factor V / (4 * V15max) */
};

/*
 * The peak hour of each day: over q15[] (cq_grid_bins(CQ_P15MIN)), the
 * four consecutive complete periods inside days[d] with the highest volume
 * (the earliest of equals), into peaks[d] (n_days entries).
 */
void cq_peaks(const struct cq_bin *q15, size_t n_q15, const struct cq_bin *days, size_t n_days,
              double min_pct, struct cq_peak *peaks);

/*
 * The nth highest (1 = highest) complete clock hour of hours[] into *out.
 * Returns 0, GW_ENOTFOUND when there are fewer than nth complete hours, or
 * GW_ENOMEM.
 */
int cq_nth_hour(const struct cq_bin *hours, size_t n, double min_pct, unsigned nth,
                struct cq_bin *out);

#endif
