/*
 * report.h -- the planners' reports: each reads the cheapest window level
 * that answers from the store (fetch.h), computes its figures (stats.h,
 * speed.h) and fills tables (table.h). Every report carries the
 * completeness of each day it covers and flags the days under the
 * threshold, so a report built over holes says so.
 */
#ifndef CITYQUERY_REPORT_H
#define CITYQUERY_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "fetch.h"
#include "table.h"

#define CQ_REPORT_MAX_TABLES 4
#define CQ_REPORT_MAX_NOTES 8

struct cq_query {
    struct cq_store *store;
    struct cq_select sel;
    int64_t from_ms, to_ms; /* [from, to), local period */
    const char *level;      /* "30s", "5m", "15m", "1h", or NULL: the cheapest that answers */
    enum cq_period by;      /* volume: the period of each row */
    double min_pct;         /* days and hours under this completeness are flagged and left out */
    double limit_kmh;       /* speed: share above it; 0: none */
    const char *speed_quantity;
};

struct cq_report {
    const char *kind;
    char level[8]; /* the window width read */
    struct cq_table tables[CQ_REPORT_MAX_TABLES];
    size_t n_tables;
    char notes[CQ_REPORT_MAX_NOTES][240]; /* sentences for the reader: flags, estimates */
    size_t n_notes;
    bool incomplete; /* some day is under the threshold */
};

/* The report names, NULL-terminated, in the order of --help. */
extern const char *const cq_report_kinds[];

/*
 * Runs report kind over q (borrowed) into *out (caller frees with
 * cq_report_fini()). Returns 0; GW_EINVAL for a request the report cannot
 * answer (why says which); GW_ENOTFOUND when the store has no data for it;
 * GW_EIO and the other errors of cq_store_query(); GW_ENOMEM.
 */
int cq_report_run(const char *kind, const struct cq_query *q, struct cq_report *out, char *why,
                  size_t why_len);

void cq_report_fini(struct cq_report *r);

#endif
