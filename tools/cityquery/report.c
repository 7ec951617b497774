/*
 * report.c -- the reports (see report.h and docs/planners.md for each
 * method and its source).
 *
 * Cheapest level: each report names the coarsest window width that can
 * answer it (1 h for daily and monthly figures, 15 min for the peak hour
 * factor and gap lists); it is used unless a local period boundary of the
 * zone falls inside its windows (a zone 5:30 or 5:45 from UTC), then the
 * next finer one. 30 s windows are read only when --level asks for them.
 */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "speed.h"
#include "stats.h"

const char *const cq_report_kinds[] = {"volume", "profile", "aadt",         "peak",
                                       "speed",  "classes", "completeness", NULL};

static const struct {
    const char *label;
    int64_t ms;
} levels[] = {{"1h", 3600000}, {"15m", 900000}, {"5m", 300000}, {"30s", 30000}};

#define N_LEVELS (sizeof levels / sizeof levels[0])

/* Every local day boundary of [from, to), and from and to, fall on windows of width w. */
static bool aligned(const struct cq_query *q, int64_t w)
{
    if (q->from_ms % w || q->to_ms % w)
        return false;
    for (int64_t d = cq_period_start(CQ_PDAY, q->from_ms); d < q->to_ms;
         d = cq_period_next(CQ_PDAY, d))
        if (d > q->from_ms && d % w)
            return false;
    return true;
}

/* Picks the level into *ix: the asked one, or the coarsest aligned one no wider than max_ms. */
static int pick_level(const struct cq_query *q, int64_t max_ms, size_t *ix, char *why,
                      size_t why_len)
{
    for (size_t i = 0; i < N_LEVELS; i++) {
        if (q->level ? strcmp(q->level, levels[i].label) != 0 : levels[i].ms > max_ms)
            continue;
        if (levels[i].ms > max_ms) {
            snprintf(why, why_len, "this report needs windows of %" PRId64 " min or shorter",
                     max_ms / 60000);
            return GW_EINVAL;
        }
        if (!aligned(q, levels[i].ms)) {
            if (q->level) {
                snprintf(why, why_len,
                         "the period or the zone's days do not fall on %s windows: choose a "
                         "shorter --level",
                         levels[i].label);
                return GW_EINVAL;
            }
            continue;
        }
        *ix = i;
        return 0;
    }
    snprintf(why, why_len,
             q->level ? "unknown level '%s' (30s, 5m, 15m, 1h)"
                      : "the period does not start and end on 30-s windows%s",
             q->level ? q->level : "");
    return GW_EINVAL;
}

static void note(struct cq_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct cq_report *r, const char *fmt, ...)
{
    va_list ap;
    if (r->n_notes == CQ_REPORT_MAX_NOTES)
        return;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->n_notes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

static struct cq_table *add_table(struct cq_report *r, const char *name, const char *title,
                                  const struct cq_column *cols, size_t n_cols)
{
    struct cq_table *t = &r->tables[r->n_tables++];
    cq_table_init(t, name, title, cols, n_cols);
    return t;
}

/*
 * Starts a grid over the query's period at width_ms with the nodes the
 * registry expects, so that one that never reported counts as missing.
 */
static int grid_start(const struct cq_query *q, struct cq_grid *g, int64_t width_ms)
{
    size_t ix;
    int rc = cq_grid_init(g, q->from_ms, q->to_ms, width_ms);
    for (size_t i = 0; rc == 0 && i < q->sel.n_nodes; i++)
        rc = cq_grid_node(g, q->sel.nodes[i], &ix);
    return rc;
}

/* The read of q's selection and period at level ix. */
static struct cq_read read_at(const struct cq_query *q, size_t ix, char *why, size_t why_len)
{
    return (struct cq_read){q->store, &q->sel, levels[ix].label, q->from_ms,
                            q->to_ms, why,     why_len};
}

/* Reads the volume grid at the picked level. */
static int volume_grid(const struct cq_query *q, int64_t max_ms, struct cq_report *r,
                       struct cq_grid *g, char *why, size_t why_len)
{
    size_t ix;
    int rc;
    memset(g, 0, sizeof *g);
    rc = pick_level(q, max_ms, &ix, why, why_len);
    if (rc)
        return rc;
    snprintf(r->level, sizeof r->level, "%s", levels[ix].label);
    rc = grid_start(q, g, levels[ix].ms);
    if (rc)
        return rc;
    struct cq_read rd = read_at(q, ix, why, why_len);
    return cq_fetch_volume(&rd, g);
}

/* The flag cell of a period: under the threshold, cut short, both or neither. */
static const char *flag_text(double pct, double min_pct, bool cut)
{
    if (pct < min_pct)
        return cut ? "incomplete, partial period" : "incomplete";
    return cut ? "partial period" : "";
}

static const struct cq_column day_cols[] = {
    {"day", NULL, CQ_COL_TEXT}, {"volume", "veh", CQ_COL_NUM}, {"complete", "%", CQ_COL_NUM},
    {"hours", "h", CQ_COL_NUM}, {"flag", NULL, CQ_COL_TEXT},
};

/* The completeness table every report carries: one row per local day. */
static int days_table(const struct cq_query *q, const struct cq_grid *g, struct cq_report *r)
{
    struct cq_bin *days = NULL;
    size_t n = 0, flagged = 0;
    char label[32];
    int rc = cq_grid_bins(g, CQ_PDAY, &days, &n);
    if (rc)
        return rc;
    struct cq_table *t = add_table(r, "days",
                                   "Days: volume and completeness (% of windows "
                                   "present per node)",
                                   day_cols, 5);
    for (size_t i = 0; i < n && rc == 0; i++) {
        double pct = cq_bin_pct(&days[i]);
        bool low = pct < q->min_pct;
        flagged += low;
        cq_period_label(CQ_PDAY, days[i].start_ms, label, sizeof label);
        rc = cq_table_add_row(t);
        rc = rc ? rc : cq_table_set(t, 0, "%s", label);
        rc = rc ? rc : cq_table_set(t, 1, "%.0f", days[i].volume);
        rc = rc ? rc : cq_table_set(t, 2, "%.2f", pct);
        rc =
            rc ? rc : cq_table_set(t, 3, "%g", (double)(days[i].end_ms - days[i].start_ms) / 3.6e6);
        rc = rc ? rc : cq_table_set(t, 4, "%s", flag_text(pct, q->min_pct, days[i].cut));
    }
    if (flagged) {
        r->incomplete = true;
        note(r, "%zu of %zu days are under %.4g%% complete: flagged, and left out of averages",
             flagged, n, q->min_pct);
    }
    free(days);
    return rc;
}

static const struct cq_column volume_cols[] = {
    {"period", NULL, CQ_COL_TEXT}, {"start", NULL, CQ_COL_TEXT},  {"volume", "veh", CQ_COL_NUM},
    {"flow", "veh/h", CQ_COL_NUM}, {"complete", "%", CQ_COL_NUM}, {"flag", NULL, CQ_COL_TEXT},
};

static int report_volume(const struct cq_query *q, struct cq_report *r, char *why, size_t why_len)
{
    struct cq_grid g;
    struct cq_bin *bins = NULL;
    size_t n = 0;
    char label[40], start[CQ_ISO8601_MAX];
    double total = 0;
    int rc = volume_grid(q, q->by == CQ_P15MIN ? 900000 : 3600000, r, &g, why, why_len);
    if (rc == 0)
        rc = cq_grid_bins(&g, q->by, &bins, &n);
    if (rc == 0) {
        struct cq_table *t = add_table(r, "volume", "Volume and flow per period", volume_cols, 6);
        for (size_t i = 0; i < n && rc == 0; i++) {
            double pct = cq_bin_pct(&bins[i]);
            total += bins[i].volume;
            cq_period_label(q->by, bins[i].start_ms, label, sizeof label);
            cq_time_iso8601(bins[i].start_ms, start, sizeof start);
            rc = cq_table_add_row(t);
            rc = rc ? rc : cq_table_set(t, 0, "%s", label);
            rc = rc ? rc : cq_table_set(t, 1, "%s", start);
            rc = rc ? rc : cq_table_set(t, 2, "%.0f", bins[i].volume);
            rc = rc ? rc
                    : cq_table_set(t, 3, "%.1f",
                                   bins[i].volume * 3.6e6 /
                                       (double)(bins[i].end_ms - bins[i].start_ms));
            rc = rc ? rc : cq_table_set(t, 4, "%.2f", pct);
            rc = rc ? rc : cq_table_set(t, 5, "%s", flag_text(pct, q->min_pct, bins[i].cut));
        }
        note(r, "total %.0f vehicles", total);
    }
    if (rc == 0)
        rc = days_table(q, &g, r);
    free(bins);
    cq_grid_fini(&g);
    return rc;
}

static const struct cq_column profile_cols[] = {
    {"hour", NULL, CQ_COL_TEXT},        {"weekday", "veh/h", CQ_COL_NUM},
    {"weekday_hours", "h", CQ_COL_NUM}, {"weekend", "veh/h", CQ_COL_NUM},
    {"weekend_hours", "h", CQ_COL_NUM},
};

static int report_profile(const struct cq_query *q, struct cq_report *r, char *why, size_t why_len)
{
    struct cq_grid g;
    struct cq_bin *hours = NULL;
    size_t n = 0;
    struct cq_profile p;
    int rc = volume_grid(q, 3600000, r, &g, why, why_len);
    if (rc == 0)
        rc = cq_grid_bins(&g, CQ_PHOUR, &hours, &n);
    if (rc == 0) {
        cq_profile(hours, n, q->min_pct, &p);
        struct cq_table *t = add_table(
            r, "profile", "Average hourly volume by local clock hour (complete hours only)",
            profile_cols, 5);
        for (int h = 0; h < 24 && rc == 0; h++) {
            rc = cq_table_add_row(t);
            rc = rc ? rc : cq_table_set(t, 0, "%02d:00", h);
            if (rc == 0 && p.n_weekday[h])
                rc = cq_table_set(t, 1, "%.1f", p.weekday[h]);
            rc = rc ? rc : cq_table_set(t, 2, "%u", p.n_weekday[h]);
            if (rc == 0 && p.n_weekend[h])
                rc = cq_table_set(t, 3, "%.1f", p.weekend[h]);
            rc = rc ? rc : cq_table_set(t, 4, "%u", p.n_weekend[h]);
        }
    }
    if (rc == 0)
        rc = days_table(q, &g, r);
    free(hours);
    cq_grid_fini(&g);
    return rc;
}

static const struct cq_column summary_cols[] = {
    {"figure", NULL, CQ_COL_TEXT}, {"value", NULL, CQ_COL_NUM},  {"unit", NULL, CQ_COL_TEXT},
    {"status", NULL, CQ_COL_TEXT}, {"basis", NULL, CQ_COL_TEXT},
};

static int summary_row(struct cq_table *t, const char *figure, int decimals, double value,
                       bool has_value, const char *unit, const char *status, const char *basis)
{
    int rc = cq_table_add_row(t);
    rc = rc ? rc : cq_table_set(t, 0, "%s", figure);
    if (rc == 0 && has_value)
        rc = cq_table_set(t, 1, "%.*f", decimals, value);
    rc = rc ? rc : cq_table_set(t, 2, "%s", unit);
    rc = rc ? rc : cq_table_set(t, 3, "%s", status);
    rc = rc ? rc : cq_table_set(t, 4, "%s", basis);
    return rc;
}

static const struct cq_column month_cols[] = {
    {"month", NULL, CQ_COL_TEXT}, {"madt", "veh", CQ_COL_NUM}, {"mon", "veh", CQ_COL_NUM},
    {"tue", "veh", CQ_COL_NUM},   {"wed", "veh", CQ_COL_NUM},  {"thu", "veh", CQ_COL_NUM},
    {"fri", "veh", CQ_COL_NUM},   {"sat", "veh", CQ_COL_NUM},  {"sun", "veh", CQ_COL_NUM},
    {"days", NULL, CQ_COL_NUM},
};

/* ADT and AADT rows of a summary table from day bins; *aadt_out gets the better daily figure. */
static int daily_figures(const struct cq_query *q, const struct cq_bin *days, size_t n,
                         struct cq_report *r, struct cq_table *sum, struct cq_table *months,
                         double *daily, const char **daily_name)
{
    struct cq_adt adt;
    struct cq_aadt aadt;
    char basis[96];
    int rc = 0;

    *daily = NAN;
    if (cq_adt(days, n, q->min_pct, &adt) == 0) {
        snprintf(basis, sizeof basis, "%zu of %zu days complete", adt.days_used, adt.days_total);
        rc = summary_row(sum, "ADT", 1, adt.adt, true, "veh/day",
                         adt.counted ? "counted" : "estimated", basis);
        *daily = adt.adt;
        *daily_name = "ADT";
    } else {
        rc = summary_row(sum, "ADT", 0, 0, false, "veh/day", "missing", "no complete day");
    }
    if (rc)
        return rc;
    int arc = n <= 366 ? cq_aadt(days, n, q->min_pct, &aadt) : GW_ERANGE;
    if (arc == 0) {
        snprintf(basis, sizeof basis, "AASHTO (TMG 2022 App. L), %d of 12 months with all 7 days",
                 aadt.months_used);
        rc = summary_row(sum, "AADT", 1, aadt.aadt, true, "veh/day",
                         aadt.counted ? "counted" : "estimated", basis);
        *daily = aadt.aadt;
        *daily_name = "AADT";
        if (!aadt.counted)
            note(r,
                 "AADT estimated: the AASHTO method needs complete days of each day of the "
                 "week in all 12 months; %d months have them",
                 aadt.months_used);
    } else {
        rc =
            summary_row(sum, "AADT", 0, 0, false, "veh/day", "missing",
                        arc == GW_ERANGE ? "the period is longer than a year"
                                         : "no month with complete days of all 7 days of the week");
    }
    if (rc || !months || arc)
        return rc;
    static const char *const names[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
    for (int m = 0; m < 12 && rc == 0; m++) {
        unsigned days_in = 0;
        for (int d = 0; d < 7; d++)
            days_in += aadt.n_madw[m][d];
        if (!days_in)
            continue;
        rc = cq_table_add_row(months);
        rc = rc ? rc : cq_table_set(months, 0, "%s", names[m]);
        if (rc == 0 && aadt.month_full[m])
            rc = cq_table_set(months, 1, "%.1f", aadt.madt[m]);
        for (int d = 0; d < 7 && rc == 0; d++)
            if (aadt.n_madw[m][d])
                rc = cq_table_set(months, 2 + (size_t)d, "%.1f", aadt.madw[m][d]);
        rc = rc ? rc : cq_table_set(months, 9, "%u", days_in);
    }
    return rc;
}

static int report_aadt(const struct cq_query *q, struct cq_report *r, char *why, size_t why_len)
{
    struct cq_grid g;
    struct cq_bin *days = NULL;
    size_t n = 0;
    double daily;
    const char *name = NULL;
    int rc = volume_grid(q, 3600000, r, &g, why, why_len);
    if (rc == 0)
        rc = cq_grid_bins(&g, CQ_PDAY, &days, &n);
    if (rc == 0) {
        struct cq_table *sum = add_table(r, "summary", "Average daily traffic", summary_cols, 5);
        struct cq_table *months = add_table(
            r, "months", "Monthly averages of day-of-week averages (AASHTO)", month_cols, 10);
        rc = daily_figures(q, days, n, r, sum, months, &daily, &name);
    }
    if (rc == 0)
        rc = days_table(q, &g, r);
    free(days);
    cq_grid_fini(&g);
    return rc;
}

static const struct cq_column peak_cols[] = {
    {"day", NULL, CQ_COL_TEXT},    {"peak_start", NULL, CQ_COL_TEXT},
    {"volume", "veh", CQ_COL_NUM}, {"v15_max", "veh", CQ_COL_NUM},
    {"phf", NULL, CQ_COL_NUM},     {"flow_rate", "veh/h", CQ_COL_NUM},
};

static int report_peak(const struct cq_query *q, struct cq_report *r, char *why, size_t why_len)
{
    struct cq_grid g;
    struct cq_bin *q15 = NULL, *days = NULL, *hours = NULL, h30;
    struct cq_peak *peaks = NULL, best = {0};
    size_t n15 = 0, nd = 0, nh = 0;
    char label[32], start[CQ_ISO8601_MAX], basis[96];
    double daily;
    const char *name = "ADT";
    int rc = volume_grid(q, 900000, r, &g, why, why_len);
    if (rc == 0)
        rc = cq_grid_bins(&g, CQ_P15MIN, &q15, &n15);
    if (rc == 0)
        rc = cq_grid_bins(&g, CQ_PDAY, &days, &nd);
    if (rc == 0)
        rc = cq_grid_bins(&g, CQ_PHOUR, &hours, &nh);
    if (rc == 0 && !(peaks = calloc(nd ? nd : 1, sizeof *peaks)))
        rc = GW_ENOMEM;
    if (rc)
        goto out;
    cq_peaks(q15, n15, days, nd, q->min_pct, peaks);
    struct cq_table *t =
        add_table(r, "peaks", "Peak hour of each day (HCM: PHF = V / (4 * V15max))", peak_cols, 6);
    for (size_t d = 0; d < nd && rc == 0; d++) {
        cq_period_label(CQ_PDAY, days[d].start_ms, label, sizeof label);
        rc = cq_table_add_row(t);
        rc = rc ? rc : cq_table_set(t, 0, "%s", label);
        if (rc || !peaks[d].found)
            continue;
        if (!best.found || peaks[d].volume > best.volume)
            best = peaks[d];
        cq_time_iso8601(peaks[d].start_ms, start, sizeof start);
        rc = cq_table_set(t, 1, "%s", start);
        rc = rc ? rc : cq_table_set(t, 2, "%.0f", peaks[d].volume);
        rc = rc ? rc : cq_table_set(t, 3, "%.0f", peaks[d].v15_max);
        rc = rc ? rc : cq_table_set(t, 4, "%.3f", peaks[d].phf);
        rc = rc ? rc : cq_table_set(t, 5, "%.0f", 4 * peaks[d].v15_max);
    }
    if (rc)
        goto out;
    struct cq_table *sum = add_table(r, "summary", "Peak figures", summary_cols, 5);
    if (best.found) {
        cq_time_iso8601(best.start_ms, start, sizeof start);
        snprintf(basis, sizeof basis, "starting %s", start);
        rc = summary_row(sum, "peak hour volume", 0, best.volume, true, "veh", "counted", basis);
        rc =
            rc ? rc : summary_row(sum, "peak hour factor", 3, best.phf, true, "", "counted", basis);
    }
    rc = rc ? rc : daily_figures(q, days, nd, r, sum, NULL, &daily, &name);
    if (rc == 0 && cq_nth_hour(hours, nh, q->min_pct, 30, &h30) == 0) {
        cq_time_iso8601(h30.start_ms, start, sizeof start);
        snprintf(basis, sizeof basis, "clock hour starting %s", start);
        rc = summary_row(sum, "30th highest hour", 0, h30.volume, true, "veh", "counted", basis);
        if (rc == 0 && isfinite(daily)) {
            snprintf(basis, sizeof basis, "30th highest hour / %s", name);
            rc = summary_row(sum, "K-factor", 2, 100 * h30.volume / daily, true, "%",
                             nd >= 365 ? "counted" : "estimated", basis);
        }
    } else if (rc == 0) {
        rc = summary_row(sum, "30th highest hour", 0, 0, false, "veh", "missing",
                         "fewer than 30 complete hours");
    }
    if (rc == 0 && nd < 365)
        note(r,
             "the 30th highest hour and K-factor are defined over a year; this period has "
             "%zu days",
             nd);
    if (rc == 0)
        rc = days_table(q, &g, r);
out:
    free(peaks);
    free(q15);
    free(days);
    free(hours);
    cq_grid_fini(&g);
    return rc;
}

/* Vehicle speed windows merged by the gateway's rule: one total, a cell per (day of week, hour). */
struct speed_acc {
    struct gw_traffic total;
    struct gw_traffic cell[7][24];
};

static int speed_window(void *ctx, const char *node, int64_t start_ms,
                        const struct cq_speed_window *w)
{
    struct speed_acc *a = ctx;
    struct gw_traffic one;
    struct cq_civil c;
    int rc;

    (void)node;
    gw_traffic_init(&one);
    rc = cq_speed_add(&one, w);
    if (rc == 0)
        rc = gw_traffic_merge(&a->total, &one);
    if (rc == 0) {
        cq_time_civil(start_ms, &c);
        rc = gw_traffic_merge(&a->cell[c.wday - 1][c.hour], &one);
    }
    gw_traffic_fini(&one);
    return rc;
}

static const struct cq_column speed_cols[] = {
    {"vehicles", "veh", CQ_COL_NUM}, {"mean", "km/h", CQ_COL_NUM},    {"v15", "km/h", CQ_COL_NUM},
    {"v50", "km/h", CQ_COL_NUM},     {"v85", "km/h", CQ_COL_NUM},     {"v95", "km/h", CQ_COL_NUM},
    {"limit", "km/h", CQ_COL_NUM},   {"over_limit", "%", CQ_COL_NUM},
};

static const struct cq_column speed_grid_cols[] = {
    {"hour", NULL, CQ_COL_TEXT}, {"mon", "km/h", CQ_COL_NUM}, {"tue", "km/h", CQ_COL_NUM},
    {"wed", "km/h", CQ_COL_NUM}, {"thu", "km/h", CQ_COL_NUM}, {"fri", "km/h", CQ_COL_NUM},
    {"sat", "km/h", CQ_COL_NUM}, {"sun", "km/h", CQ_COL_NUM},
};

static int report_speed(const struct cq_query *q, struct cq_report *r, char *why, size_t why_len)
{
    struct speed_acc *a = calloc(1, sizeof *a);
    struct gw_traffic_figures f;
    struct cq_grid g;
    size_t ix;
    double over;
    int64_t span = q->to_ms - q->from_ms;
    int rc = a ? 0 : GW_ENOMEM;

    memset(&g, 0, sizeof g);
    if (rc)
        return rc;
    gw_traffic_init(&a->total);
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++)
            gw_traffic_init(&a->cell[d][h]);
    rc = pick_level(q, 3600000, &ix, why, why_len);
    if (rc == 0) {
        snprintf(r->level, sizeof r->level, "%s", levels[ix].label);
        struct cq_read rd = read_at(q, ix, why, why_len);
        rc = cq_fetch_speed(&rd, q->speed_quantity, speed_window, a);
    }
    if (rc == 0) {
        gw_traffic_figures(&a->total, span, &f);
        if (!(f.has & GW_TF_SPEED)) {
            snprintf(why, why_len, "no vehicle speeds for this selection in the period");
            rc = GW_ENOTFOUND;
        }
    }
    if (rc == 0) {
        struct cq_table *t = add_table(
            r, "speed", "Vehicle speeds: mean and percentiles merged from the stored sketches",
            speed_cols, 8);
        rc = cq_table_add_row(t);
        rc = rc ? rc : cq_table_set(t, 0, "%" PRIu64, f.vehicles);
        rc = rc ? rc : cq_table_set(t, 1, "%.1f", f.speed_mean_kmh);
        rc = rc ? rc : cq_table_set(t, 2, "%.1f", f.v15_kmh);
        rc = rc ? rc : cq_table_set(t, 3, "%.1f", f.v50_kmh);
        rc = rc ? rc : cq_table_set(t, 4, "%.1f", f.v85_kmh);
        rc = rc ? rc : cq_table_set(t, 5, "%.1f", f.v95_kmh);
        if (rc == 0 && q->limit_kmh > 0 && cq_speed_pct_over(&a->total, q->limit_kmh, &over) == 0) {
            rc = cq_table_set(t, 6, "%g", q->limit_kmh);
            rc = rc ? rc : cq_table_set(t, 7, "%.1f", over);
        }
        note(r, "percentiles at the nearest rank, within %g %% (the stored sketches' accuracy)",
             100 * GW_QSKETCH_ALPHA);
    }
    if (rc == 0) {
        struct cq_table *t =
            add_table(r, "grid", "v85 by local hour and day of week", speed_grid_cols, 8);
        for (int h = 0; h < 24 && rc == 0; h++) {
            rc = cq_table_add_row(t);
            rc = rc ? rc : cq_table_set(t, 0, "%02d:00", h);
            for (int d = 0; d < 7 && rc == 0; d++) {
                gw_traffic_figures(&a->cell[d][h], span, &f);
                if (f.has & GW_TF_SPEED)
                    rc = cq_table_set(t, 1 + (size_t)d, "%.1f", f.v85_kmh);
            }
        }
    }
    /* Completeness comes from the volume windows: a window without vehicles has no speed line. */
    if (rc == 0) {
        struct cq_read rd = read_at(q, ix, why, why_len);
        rc = grid_start(q, &g, levels[ix].ms);
        if (rc == 0)
            rc = cq_fetch_volume(&rd, &g);
        if (rc == GW_ENOTFOUND) {
            note(r, "no traffic_volume windows: the completeness of these speeds is unknown");
            rc = 0;
        } else if (rc == 0) {
            rc = days_table(q, &g, r);
        }
    }
    gw_traffic_fini(&a->total);
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++)
            gw_traffic_fini(&a->cell[d][h]);
    cq_grid_fini(&g);
    free(a);
    return rc;
}

#define MAX_CLASSES 16

struct class_acc {
    char name[MAX_CLASSES][32];
    double vehicles[MAX_CLASSES];
    size_t n;
};

static int class_window(void *ctx, const char *vclass, int64_t start_ms, double vehicles)
{
    struct class_acc *a = ctx;
    size_t i;
    (void)start_ms;
    for (i = 0; i < a->n && strcmp(a->name[i], vclass) != 0; i++)
        ;
    if (i == a->n) {
        if (a->n == MAX_CLASSES || strlen(vclass) >= sizeof a->name[0])
            return GW_EFULL;
        snprintf(a->name[a->n++], sizeof a->name[0], "%s", vclass);
    }
    a->vehicles[i] += vehicles;
    return 0;
}

static const struct cq_column class_cols[] = {
    {"class", NULL, CQ_COL_TEXT},
    {"vehicles", "veh", CQ_COL_NUM},
    {"share", "%", CQ_COL_NUM},
};

static int report_classes(const struct cq_query *q, struct cq_report *r, char *why, size_t why_len)
{
    struct class_acc a = {0};
    struct cq_grid g;
    size_t ix;
    double total = 0;
    int rc = volume_grid(q, 3600000, r, &g, why, why_len);
    if (rc == 0)
        rc = pick_level(q, 3600000, &ix, why, why_len);
    if (rc == 0) {
        struct cq_read rd = read_at(q, ix, why, why_len);
        rc = cq_fetch_classes(&rd, class_window, &a);
    }
    if (rc == 0) {
        struct cq_table *t = add_table(r, "classes", "Vehicle class shares", class_cols, 3);
        for (size_t i = 0; i < a.n; i++)
            total += a.vehicles[i];
        for (size_t i = 0; i < a.n && rc == 0; i++) {
            rc = cq_table_add_row(t);
            rc = rc ? rc : cq_table_set(t, 0, "%s", a.name[i]);
            rc = rc ? rc : cq_table_set(t, 1, "%.0f", a.vehicles[i]);
            rc = rc ? rc : cq_table_set(t, 2, "%.2f", total > 0 ? 100 * a.vehicles[i] / total : 0);
        }
    }
    if (rc == 0)
        rc = days_table(q, &g, r);
    cq_grid_fini(&g);
    return rc;
}

static const struct cq_column node_day_cols[] = {
    {"node", NULL, CQ_COL_TEXT},   {"day", NULL, CQ_COL_TEXT},    {"expected", NULL, CQ_COL_NUM},
    {"present", NULL, CQ_COL_NUM}, {"observed", "%", CQ_COL_NUM}, {"flag", NULL, CQ_COL_TEXT},
};

static const struct cq_column gap_cols[] = {
    {"node", NULL, CQ_COL_TEXT},
    {"from", NULL, CQ_COL_TEXT},
    {"to", NULL, CQ_COL_TEXT},
    {"minutes", "min", CQ_COL_NUM},
};

static int report_completeness(const struct cq_query *q, struct cq_report *r, char *why,
                               size_t why_len)
{
    struct cq_grid g;
    struct cq_bin *days = NULL;
    struct cq_gap *gaps = NULL;
    size_t nd = 0, ng = 0, expected, seen;
    char label[32], a[CQ_ISO8601_MAX], b[CQ_ISO8601_MAX];
    int rc = volume_grid(q, 900000, r, &g, why, why_len);
    if (rc == 0)
        rc = cq_grid_bins(&g, CQ_PDAY, &days, &nd);
    if (rc)
        goto out;
    struct cq_table *t =
        add_table(r, "nodes", "% observed per node and day (PeMS)", node_day_cols, 6);
    struct cq_table *gt = add_table(r, "gaps", "Gaps: windows missing per node", gap_cols, 4);
    for (size_t k = 0; k < g.n_nodes && rc == 0; k++) {
        for (size_t d = 0; d < nd && rc == 0; d++) {
            cq_grid_node_count(&g, k, days[d].start_ms, days[d].end_ms, &expected, &seen);
            double pct = expected ? 100.0 * (double)seen / (double)expected : 0;
            cq_period_label(CQ_PDAY, days[d].start_ms, label, sizeof label);
            rc = cq_table_add_row(t);
            rc = rc ? rc : cq_table_set(t, 0, "%s", g.nodes[k].name);
            rc = rc ? rc : cq_table_set(t, 1, "%s", label);
            rc = rc ? rc : cq_table_set(t, 2, "%zu", expected);
            rc = rc ? rc : cq_table_set(t, 3, "%zu", seen);
            rc = rc ? rc : cq_table_set(t, 4, "%.2f", pct);
            rc = rc ? rc : cq_table_set(t, 5, "%s", pct < q->min_pct ? "incomplete" : "");
        }
        if (rc == 0)
            rc = cq_grid_gaps(&g, k, &gaps, &ng);
        for (size_t i = 0; i < ng && rc == 0; i++) {
            cq_time_iso8601(gaps[i].start_ms, a, sizeof a);
            cq_time_iso8601(gaps[i].end_ms, b, sizeof b);
            rc = cq_table_add_row(gt);
            rc = rc ? rc : cq_table_set(gt, 0, "%s", g.nodes[k].name);
            rc = rc ? rc : cq_table_set(gt, 1, "%s", a);
            rc = rc ? rc : cq_table_set(gt, 2, "%s", b);
            rc = rc ? rc
                    : cq_table_set(gt, 3, "%g",
                                   (double)(gaps[i].end_ms - gaps[i].start_ms) / 60000.0);
        }
        free(gaps);
        gaps = NULL;
    }
    if (rc == 0)
        rc = days_table(q, &g, r);
out:
    free(days);
    cq_grid_fini(&g);
    return rc;
}

int cq_report_run(const char *kind, const struct cq_query *q, struct cq_report *out, char *why,
                  size_t why_len)
{
    static const struct {
        const char *kind;
        int (*run)(const struct cq_query *, struct cq_report *, char *, size_t);
    } reports[] = {
        {"volume", report_volume},
        {"profile", report_profile},
        {"aadt", report_aadt},
        {"peak", report_peak},
        {"speed", report_speed},
        {"classes", report_classes},
        {"completeness", report_completeness},
    };
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        if (strcmp(kind, reports[i].kind) == 0) {
            out->kind = reports[i].kind;
            int rc = reports[i].run(q, out, why, why_len);
            if (rc == GW_ENOMEM)
                snprintf(why, why_len, "out of memory");
            return rc;
        }
    }
    snprintf(why, why_len, "unknown report '%s'", kind);
    return GW_EINVAL;
}

void cq_report_fini(struct cq_report *r)
{
    for (size_t i = 0; i < r->n_tables; i++)
        cq_table_fini(&r->tables[i]);
    r->n_tables = 0;
}
