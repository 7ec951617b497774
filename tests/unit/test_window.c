/*
 * test_window.c -- windows close by the watermark, late values rewrite an
 * emitted window, values past the late horizon land in parts of the
 * retired windows (bounded, the rest counted too late), rollups are the
 * merge of their base windows, limits hold, and allocation failures are
 * clean.
 * Snapshots: a restored instance continues exactly like the original (same
 * lines, revisions, order, return codes and counters), and truncated,
 * corrupt or foreign snapshots and failing allocations are refused cleanly.
 * The frame calls decide exactly as gw_windows_add() does. The memory
 * figures are what the core really holds: the linker routes gw_malloc() &
 * co. through this file (--wrap, see CMakeLists.txt), which adds up what is
 * live, and after every step of mixed workloads the figures must match it.
 *
 * Benchmark (prints, never asserts, timings): "test_window bench" runs the
 * steady-state hour with the frame calls, "test_window bench-add" with
 * gw_windows_add() per reading. Instruction counts of the measured hour:
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_hour \
 *       tests/unit/test_window bench
 * then callgrind_annotate --inclusive=yes and divide by the frames printed.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cu.h"
#include "err.h"
#include "frame.pb-c.h"
#include "lp.h"
#include "serial.h"
#include "window.h"

#define T0 1794999600000LL /* an hour boundary (UTC) */
#define SEC 1000LL
#define MAX_RECORDS 4096

/* ---- what the core holds, counted at its allocator ---- */

/* Each block of the core carries its requested size in front. */
union block_head {
    size_t size;
    max_align_t align;
};

/* Bytes requested and blocks live now, over all allocations of the core. */
static struct gw_windows_stats live;

void *__real_gw_malloc(size_t size);
void *__real_gw_calloc(size_t n, size_t size);
void *__real_gw_realloc(void *ptr, size_t size);
void __real_gw_free(void *ptr);
void *__wrap_gw_malloc(size_t size);
void *__wrap_gw_calloc(size_t n, size_t size);
void *__wrap_gw_realloc(void *ptr, size_t size);
void __wrap_gw_free(void *ptr);

static void *block_taken(union block_head *h, size_t size)
{
    if (!h)
        return NULL;
    h->size = size;
    live.memory_bytes += size;
    live.memory_blocks++;
    return h + 1;
}

static void block_dropped(const union block_head *h)
{
    live.memory_bytes -= h->size;
    live.memory_blocks--;
}

static union block_head *head_of(void *ptr)
{
    return ptr ? (union block_head *)ptr - 1 : NULL;
}

void *__wrap_gw_malloc(size_t size)
{
    return block_taken(__real_gw_malloc(sizeof(union block_head) + size), size);
}

void *__wrap_gw_calloc(size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - sizeof(union block_head)) / size)
        return NULL;
    return block_taken(__real_gw_calloc(1, sizeof(union block_head) + n * size), n * size);
}

void *__wrap_gw_realloc(void *ptr, size_t size)
{
    union block_head *h = head_of(ptr), *moved;
    moved = __real_gw_realloc(h, sizeof(union block_head) + size);
    if (!moved)
        return NULL;
    if (h)
        block_dropped(moved); /* the head moved with the block: it still says the old size */
    return block_taken(moved, size);
}

void __wrap_gw_free(void *ptr)
{
    union block_head *h = head_of(ptr);
    if (h)
        block_dropped(h);
    __real_gw_free(h);
}

/* What w says it holds is what was allocated since mark, the live figures before it was made. */
static void memory_is_live(const struct gw_windows *w, struct gw_windows_stats mark)
{
    struct gw_windows_stats st;
    gw_windows_stats(w, &st);
    CU_ASSERT(st.memory_bytes == live.memory_bytes - mark.memory_bytes);
    CU_ASSERT(st.memory_blocks == live.memory_blocks - mark.memory_blocks);
}

/* One emitted aggregate, copied out of the callback. */
struct record {
    unsigned level;
    int64_t start_ms;
    bool partial;
    int64_t part_ms;
    uint32_t revision, count;
    double sum, min, max, sumsq, mean, p50, p85, p95;
    char series[96];
    char sketch[GW_QSKETCH_TEXT_MAX];
};

/* What the emit callback saw; rewrites replace the record of the same key, start and part. */
struct log {
    struct record *recs;
    size_t n, n_emits, n_rewrites;
    int fail; /* make the callback fail this many more times */
};

static struct log *log_new(void)
{
    struct log *lg = calloc(1, sizeof *lg);
    CU_ASSERT_FATAL(lg != NULL);
    lg->recs = calloc(MAX_RECORDS, sizeof *lg->recs);
    CU_ASSERT_FATAL(lg->recs != NULL);
    return lg;
}

static void log_free(struct log *lg)
{
    free(lg->recs);
    free(lg);
}

static int collect(void *ctx, const struct gw_aggregate *a)
{
    struct log *lg = ctx;
    struct record r, *slot = NULL;
    size_t len;

    if (lg->fail > 0) {
        lg->fail--;
        return GW_ERETRY;
    }
    memset(&r, 0, sizeof r);
    r.level = a->level;
    r.start_ms = a->start_ms;
    r.partial = a->partial;
    r.part_ms = a->part_ms;
    r.revision = a->revision;
    r.count = a->count;
    r.sum = a->sum;
    r.min = a->min;
    r.max = a->max;
    r.sumsq = a->sumsq;
    r.mean = a->mean;
    r.p50 = a->p50;
    r.p85 = a->p85;
    r.p95 = a->p95;
    snprintf(r.series, sizeof r.series, "%s/%s/%s/%u/%u/%u", a->key.site, a->key.node,
             a->key.sensor, a->key.lane, a->key.quantity, a->key.vehicle_class);
    if (a->sketch)
        CU_ASSERT_FATAL(gw_qsketch_format(a->sketch, r.sketch, sizeof r.sketch, &len) == 0);
    for (size_t i = 0; i < lg->n; i++)
        if (lg->recs[i].level == r.level && lg->recs[i].start_ms == r.start_ms &&
            lg->recs[i].partial == r.partial && lg->recs[i].part_ms == r.part_ms &&
            strcmp(lg->recs[i].series, r.series) == 0)
            slot = &lg->recs[i];
    if (slot) {
        CU_ASSERT(r.revision == slot->revision + 1);
        lg->n_rewrites++;
    } else {
        CU_ASSERT_FATAL(lg->n < MAX_RECORDS);
        CU_ASSERT(r.revision == 0);
        slot = &lg->recs[lg->n++];
    }
    *slot = r;
    lg->n_emits++;
    return 0;
}

/* The record of the whole window of level at start_ms (not a part of it). */
static const struct record *find(const struct log *lg, unsigned level, int64_t start_ms)
{
    for (size_t i = 0; i < lg->n; i++)
        if (lg->recs[i].level == level && lg->recs[i].start_ms == start_ms && !lg->recs[i].partial)
            return &lg->recs[i];
    return NULL;
}

/* The record of the part of arrival bucket part_ms of the window of level at start_ms. */
static const struct record *find_part(const struct log *lg, unsigned level, int64_t start_ms,
                                      int64_t part_ms)
{
    for (size_t i = 0; i < lg->n; i++)
        if (lg->recs[i].level == level && lg->recs[i].start_ms == start_ms && lg->recs[i].partial &&
            lg->recs[i].part_ms == part_ms)
            return &lg->recs[i];
    return NULL;
}

static struct gw_series_key speed_key(uint32_t lane)
{
    struct gw_series_key k = {
        "ring-north", "node-0001", "loop-1", lane, CITYGATE__V1__QUANTITY__SPEED, 0, true};
    return k;
}

/* The default windows with room for max_series series, all of which one node may hold. */
static struct gw_windows *windows_default(size_t max_series)
{
    struct gw_windows_config cfg;
    struct gw_windows *w = NULL;
    gw_windows_config_default(&cfg);
    cfg.max_series = max_series;
    cfg.max_node_series = max_series;
    CU_ASSERT_FATAL(gw_windows_new(&cfg, &w) == 0);
    return w;
}

static void test_config(void)
{
    struct gw_windows_config cfg;
    struct gw_windows *w = NULL;
    char why[128];

    gw_windows_config_default(&cfg);
    CU_ASSERT(gw_windows_config_check(&cfg, why, sizeof why) == 0);
    cfg.widths_ms[2] = 200000; /* smaller than the level before */
    CU_ASSERT(gw_windows_config_check(&cfg, why, sizeof why) == GW_ECONFIG);
    CU_ASSERT(strstr(why, "increase") != NULL);
    gw_windows_config_default(&cfg);
    cfg.widths_ms[1] = 310000;
    CU_ASSERT(gw_windows_config_check(&cfg, why, sizeof why) == GW_ECONFIG);
    gw_windows_config_default(&cfg);
    cfg.late_horizon_ms = cfg.grace_ms - 1;
    CU_ASSERT(gw_windows_config_check(&cfg, why, sizeof why) == GW_ECONFIG);
    gw_windows_config_default(&cfg);
    cfg.late_horizon_ms = 3600000; /* 121 base windows: more than a ring may hold */
    CU_ASSERT(gw_windows_config_check(&cfg, why, sizeof why) == GW_ECONFIG);
    gw_windows_config_default(&cfg);
    cfg.n_widths = 0;
    CU_ASSERT(gw_windows_config_check(&cfg, NULL, 0) == GW_ECONFIG);
    CU_ASSERT(gw_windows_new(&cfg, &w) == GW_ECONFIG);
    CU_ASSERT(w == NULL);
    gw_windows_free(NULL);
}

/*
 * A window is emitted exactly when its node's clock passes end + grace, with
 * the right statistics. The node's frames arrive 400 ms after their time, so
 * its clock is 400 ms behind the arrival clock.
 */
static void test_watermark(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_series_key k = speed_key(1);
    unsigned hints = 0;
    const double v[] = {48.0, 55.0, 51.0};
    const int64_t ts[] = {T0 + 1 * SEC, T0 + 15 * SEC, T0 + 29999};

    for (int i = 0; i < 3; i++) {
        CU_ASSERT_FATAL(
            gw_windows_add(w, &k, (struct gw_window_value){ts[i], v[i]}, ts[i] + 400, &hints) == 0);
        CU_ASSERT(hints == (i == 0 ? GW_WINDOW_NEW_SERIES : 0u));
    }
    CU_ASSERT(gw_windows_advance(w, T0 + 90 * SEC + 400 - 1, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(lg->n == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 90 * SEC + 400, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT_FATAL(lg->n == 1);
    const struct record *r = &lg->recs[0];
    CU_ASSERT(r->level == 0 && r->start_ms == T0 && r->revision == 0 && r->count == 3);
    CU_ASSERT_DOUBLE_EQUAL(r->sum, 154.0, 1e-9);
    CU_ASSERT(r->min == 48.0 && r->max == 55.0);
    CU_ASSERT_DOUBLE_EQUAL(r->mean, 154.0 / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r->sumsq, 48.0 * 48 + 55 * 55 + 51 * 51, 1e-9);
    CU_ASSERT(fabs(r->p50 - 51.0) <= 51.0 * GW_QSKETCH_ALPHA);
    CU_ASSERT(fabs(r->p95 - 55.0) <= 55.0 * GW_QSKETCH_ALPHA); /* nearest rank ceil(0.95 * 3) */
    CU_ASSERT(strcmp(r->series, "ring-north/node-0001/loop-1/1/3/0") == 0);
    CU_ASSERT(strncmp(r->sketch, "q1;p", 4) == 0);
    /* Advancing again emits nothing new. */
    CU_ASSERT(gw_windows_advance(w, T0 + 100 * SEC, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(lg->n_emits == 1);
    gw_windows_free(w);
    log_free(lg);
}

/*
 * A late value within the horizon re-emits the same window, corrected; an
 * older one goes into the first window still within it, and into a part of
 * the retired one below, emitted once its arrival bucket has passed.
 */
static void test_late_rewrite_and_parts(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_series_key k = speed_key(2);
    struct gw_windows_stats st;
    unsigned hints = 0;

    CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){T0 + 2 * SEC, 40.0},
                                   T0 + 3 * SEC, NULL) == 0);
    CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){T0 + 12 * SEC, 60.0},
                                   T0 + 13 * SEC, NULL) == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 95 * SEC, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT_FATAL(lg->n == 1 && lg->recs[0].count == 2);

    /* 70 s after the window's end: past the grace, within the 120 s horizon. */
    CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){T0 + 20 * SEC, 80.0},
                                   T0 + 100 * SEC, &hints) == 0);
    CU_ASSERT(hints == GW_WINDOW_LATE);
    CU_ASSERT(gw_windows_advance(w, T0 + 101 * SEC, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT_FATAL(lg->n == 1);
    CU_ASSERT(lg->n_rewrites == 1);
    const struct record *r = find(lg, 0, T0);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(r->revision == 1 && r->count == 3 && r->max == 80.0);
    CU_ASSERT_DOUBLE_EQUAL(r->sum, 180.0, 1e-9);

    /*
     * At end + horizon on the node's clock (1 s behind arrival: its frames
     * arrive 1 s after their time) the base window is retired: its value
     * goes into the 5-min window, still open, and into the part of the base
     * window for the arrival bucket [150 s, 180 s).
     */
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0 + 21 * SEC, 99.0}, T0 + 150 * SEC,
                             &hints) == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 150 * SEC, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0 + 22 * SEC, 7.0}, T0 + 151 * SEC,
                             &hints) == 0);
    CU_ASSERT(hints == 0); /* the 5-min window was not emitted yet */
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0 + 23 * SEC, 8.0}, T0 + 179 * SEC,
                             &hints) == 0);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0 + 250 * SEC, 1.0}, T0 + 179 * SEC,
                             NULL) == GW_ERANGE);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.too_late == 0 && st.too_early == 1);
    CU_ASSERT(st.values_added == 6 && st.values_late == 2 && st.values_parted == 2);
    CU_ASSERT(st.windows_emitted == 1 && st.windows_rewritten == 2 && st.parts == 1);
    CU_ASSERT(gw_windows_advance(w, T0 + 180 * SEC - 1, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(find_part(lg, 0, T0, T0 + 150 * SEC) == NULL);
    CU_ASSERT(gw_windows_advance(w, T0 + 180 * SEC, SIZE_MAX, collect, lg) == 0);
    r = find_part(lg, 0, T0, T0 + 150 * SEC);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(r->count == 2 && r->min == 7.0 && r->max == 8.0 && r->revision == 0);
    CU_ASSERT(strncmp(r->sketch, "q1;p", 4) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.parts == 0 && st.parts_emitted == 1);
    /* The base window's point is untouched: 4 values, the part 2 more. */
    r = find(lg, 0, T0);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(r->count == 4 && r->max == 99.0);
    CU_ASSERT(gw_windows_flush_all(w, collect, lg) == 0);
    for (unsigned level = 1; level < 4; level++) {
        r = find(lg, level, T0);
        CU_ASSERT_FATAL(r != NULL);
        CU_ASSERT(r->count == 6 && r->max == 99.0 && r->min == 7.0);
    }
    gw_windows_free(w);
    log_free(lg);
}

/* Normal-ish speeds around 52 km/h (sd 10): the sum of four uniforms. */
static double lane_speed(uint64_t *state)
{
    double sum = 0;
    for (int i = 0; i < 4; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        sum += (double)(*state >> 11) / 9007199254740992.0;
    }
    return 52.0 + (sum - 2.0) * 17.3;
}

/* Uniform speeds between 30 and 90 km/h: a wide spread, the costly case for sketches. */
static double speed_at(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return 30.0 + (double)(*state >> 40) / (double)(1ull << 24) * 60.0;
}

/*
 * Over two hours of readings every 10 s (some of them arriving late), every
 * rollup equals the merge of the windows it is made of: counts, min and max
 * exactly, sums to rounding, sketches bucket for bucket.
 */
static void test_rollups_are_merges(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_series_key k = speed_key(3);
    uint64_t rng = 42;
    size_t checked = 0;

    int64_t late_ts = -1, late_due = 0;
    double late_v = 0;

    for (int64_t t = T0; t < T0 + 7200 * SEC; t += 10 * SEC) {
        double v = speed_at(&rng);
        if ((t / (10 * SEC)) % 13 == 0) { /* held back, delivered 80 s later */
            late_ts = t;
            late_v = v;
            late_due = t + 80 * SEC;
        } else {
            CU_ASSERT_FATAL(
                gw_windows_add(w, &k, (struct gw_window_value){t, v}, t + 2 * SEC, NULL) == 0);
        }
        if (late_ts >= 0 && t >= late_due) {
            CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){late_ts, late_v},
                                           t + 2 * SEC, NULL) == 0);
            late_ts = -1;
        }
        CU_ASSERT_FATAL(gw_windows_advance(w, t + 2 * SEC, SIZE_MAX, collect, lg) == 0);
    }
    CU_ASSERT(gw_windows_flush_all(w, collect, lg) == 0);
    CU_ASSERT(lg->n_rewrites > 0);
    for (size_t i = 0; i < lg->n; i++) {
        const struct record *top = &lg->recs[i];
        unsigned below = top->level == 1 ? 0 : 1; /* 5 min from 30 s, 15 min and 1 h from 5 min */
        int64_t width = top->level == 1 ? 300 * SEC : (top->level == 2 ? 900 * SEC : 3600 * SEC);
        int64_t step = below == 0 ? 30 * SEC : 300 * SEC;
        struct gw_qsketch merged, part;
        uint32_t count = 0;
        double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
        char text[GW_QSKETCH_TEXT_MAX];
        size_t len;

        if (top->level == 0)
            continue;
        gw_qsketch_init(&merged);
        gw_qsketch_init(&part);
        for (int64_t s = top->start_ms; s < top->start_ms + width; s += step) {
            const struct record *p = find(lg, below, s);
            if (!p)
                continue;
            count += p->count;
            sum += p->sum;
            sumsq += p->sumsq;
            mn = p->min < mn ? p->min : mn;
            mx = p->max > mx ? p->max : mx;
            CU_ASSERT_FATAL(gw_qsketch_parse(&part, p->sketch, strlen(p->sketch), NULL) == 0);
            CU_ASSERT_FATAL(gw_qsketch_merge(&merged, &part) == 0);
        }
        CU_ASSERT(count == top->count);
        CU_ASSERT(mn == top->min && mx == top->max);
        CU_ASSERT(fabs(sum - top->sum) <= 1e-9 * top->sum);
        CU_ASSERT(fabs(sumsq - top->sumsq) <= 1e-9 * top->sumsq);
        CU_ASSERT_FATAL(gw_qsketch_format(&merged, text, sizeof text, &len) == 0);
        CU_ASSERT_STRING_EQUAL(text, top->sketch);
        gw_qsketch_fini(&merged);
        gw_qsketch_fini(&part);
        checked++;
    }
    CU_ASSERT(checked == 24 + 8 + 2); /* 5-min, 15-min and 1-h windows in two hours */
    gw_windows_free(w);
    log_free(lg);
}

/* Traffic series come in key order, and their rollups carry the sums flows are made of. */
static void test_traffic_series(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_series_key vol = {"s", "n",  "loop-1", 1, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME,
                                0,   false};
    struct gw_series_key trucks = {"s",
                                   "n",
                                   "loop-1",
                                   1,
                                   CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT,
                                   CITYGATE__V1__VEHICLE_CLASS__TRUCK,
                                   false};
    struct gw_series_key occ = {"s", "n", "loop-1", 1, CITYGATE__V1__QUANTITY__OCCUPANCY, 0, false};

    for (int i = 0; i < 3; i++) {
        CU_ASSERT_FATAL(gw_windows_add(w, &vol, (struct gw_window_value){T0 + i * 10 * SEC, 10.0},
                                       T0 + 40 * SEC, NULL) == 0);
        CU_ASSERT_FATAL(gw_windows_add(w, &trucks, (struct gw_window_value){T0 + i * 10 * SEC, 1.0},
                                       T0 + 40 * SEC, NULL) == 0);
        CU_ASSERT_FATAL(gw_windows_add(w, &occ,
                                       (struct gw_window_value){T0 + i * 10 * SEC, 10.0 * (i + 1)},
                                       T0 + 40 * SEC, NULL) == 0);
    }
    /* The node's clock is 20 s behind arrival (its newest value, stamped T0 + 20 s, came at 40 s).
     */
    CU_ASSERT(gw_windows_advance(w, T0 + 110 * SEC - 1, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(lg->n == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 110 * SEC, SIZE_MAX, collect, lg) == 0);
    /* Series of one node come in key order: volume (1), occupancy (2), class count (4). */
    CU_ASSERT_FATAL(lg->n == 3);
    CU_ASSERT_DOUBLE_EQUAL(lg->recs[0].sum, 30.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(lg->recs[1].mean, 20.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(lg->recs[2].sum, 3.0, 1e-9);
    CU_ASSERT(strstr(lg->recs[2].series, "/4/4") != NULL);
    CU_ASSERT(lg->recs[0].sketch[0] == '\0');
    CU_ASSERT(gw_windows_flush_all(w, collect, lg) == 0);
    const struct record *hour = find(lg, 3, T0);
    CU_ASSERT_FATAL(hour != NULL);
    CU_ASSERT(hour->count == 3);
    CU_ASSERT_DOUBLE_EQUAL(hour->sum, 30.0, 1e-9);
    gw_windows_free(w);
    log_free(lg);
}

/* Beyond max_series new series are refused and counted; known ones go on. */
static void test_max_series(void)
{
    struct gw_windows *w = windows_default(3);
    struct gw_windows_stats st;
    for (uint32_t lane = 1; lane <= 3; lane++) {
        struct gw_series_key k = speed_key(lane);
        CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    }
    struct gw_series_key k4 = speed_key(4), k1 = speed_key(1);
    CU_ASSERT(gw_windows_add(w, &k4, (struct gw_window_value){T0, 50.0}, T0, NULL) == GW_EFULL);
    CU_ASSERT(gw_windows_add(w, &k1, (struct gw_window_value){T0 + SEC, 51.0}, T0 + SEC, NULL) ==
              0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series == 3 && st.series_refused == 1 && st.series_created == 3);
    gw_windows_free(w);
}

/* A node's series stop at max_node_series; another node's still start. */
static void test_max_node_series(void)
{
    struct gw_windows_config cfg;
    struct gw_windows *w = NULL;
    struct gw_windows_stats st;
    gw_windows_config_default(&cfg);
    cfg.max_node_series = 2;
    CU_ASSERT_FATAL(gw_windows_new(&cfg, &w) == 0);
    struct gw_series_key k1 = speed_key(1), k2 = speed_key(2), k3 = speed_key(3);
    CU_ASSERT(gw_windows_add(w, &k1, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    CU_ASSERT(gw_windows_add(w, &k2, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    CU_ASSERT(gw_windows_add(w, &k3, (struct gw_window_value){T0, 50.0}, T0, NULL) == GW_EFULL);
    CU_ASSERT(gw_windows_add(w, &k1, (struct gw_window_value){T0 + SEC, 51.0}, T0 + SEC, NULL) ==
              0);
    k3.node = "node-0002";
    CU_ASSERT(gw_windows_add(w, &k3, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series == 3 && st.node_series_full == 1 && st.series_refused == 0);
    gw_windows_free(w);
    cfg.max_node_series = 0;
    CU_ASSERT(gw_windows_config_check(&cfg, NULL, 0) == GW_ECONFIG);
}

static void test_bad_input(void)
{
    struct gw_windows *w = windows_default(10);
    struct gw_series_key k = speed_key(1);
    char long_id[GW_WINDOW_MAX_ID_BYTES + 2];
    struct gw_windows_stats st;

    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, NAN}, T0, NULL) == GW_EINVAL);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, INFINITY}, T0, NULL) == GW_EINVAL);
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    k.node = long_id;
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 1.0}, T0, NULL) == GW_EINVAL);
    long_id[GW_WINDOW_MAX_ID_BYTES] = '\0';
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 1.0}, T0, NULL) == 0);
    k.site = "";
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 1.0}, T0, NULL) == GW_EINVAL);
    k.site = NULL;
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 1.0}, T0, NULL) == GW_EINVAL);
    k = speed_key(1);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){-5, 1.0}, T0, NULL) == GW_ERANGE);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.values_added == 1 && st.series == 1);
    gw_windows_free(w);
}

/* A failing sink keeps the window pending; without advance, slots fill up and say so. */
static void test_emit_failure_and_busy(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_series_key k = speed_key(1);
    struct gw_windows_stats st;
    int rc = 0;
    int64_t t;

    CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    lg->fail = 2;
    CU_ASSERT(gw_windows_advance(w, T0 + 90 * SEC, SIZE_MAX, collect, lg) == GW_ERETRY);
    CU_ASSERT(gw_windows_advance(w, T0 + 91 * SEC, SIZE_MAX, collect, lg) == GW_ERETRY);
    CU_ASSERT(gw_windows_advance(w, T0 + 92 * SEC, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(lg->n == 1 && lg->recs[0].revision == 0);

    /* No advance at all: after a ring of base windows the next value finds its slot busy. */
    for (t = T0 + 30 * SEC; rc == 0 && t < T0 + 3600 * SEC; t += 30 * SEC)
        rc = gw_windows_add(w, &k, (struct gw_window_value){t, 50.0}, t, NULL);
    CU_ASSERT(rc == GW_EFULL);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.busy == 1);
    t -= 30 * SEC;
    CU_ASSERT(gw_windows_advance(w, t, SIZE_MAX, collect, lg) == 0);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){t, 50.0}, t, NULL) == 0);
    gw_windows_free(w);
    log_free(lg);
}

/*
 * A frame of node of one SPEED reading stamped ts_ms arriving at now_ms, as
 * the pipeline adds it: the frame moves the node's clock first. Returns the
 * add's result.
 */
static int frame_value(struct gw_windows *w, const char *node, int64_t ts_ms, double v,
                       int64_t now_ms, struct log *lg)
{
    struct gw_series_key k = speed_key(1);
    struct gw_windows_frame fr;
    k.node = node;
    CU_ASSERT_FATAL(gw_windows_frame_begin(w, k.site, node, now_ms, &fr) == 0);
    CU_ASSERT_FATAL(gw_windows_frame_clock(w, &fr, ts_ms, collect, lg) == 0);
    return gw_windows_frame_add(w, &fr, &k, (struct gw_window_value){ts_ms, v}, NULL);
}

/* Base windows of node in lg whose count differs from want[i] (window T0 + 30 s * i). */
static int base_counts_differ(const struct log *lg, const char *node, const unsigned *want,
                              unsigned n)
{
    int diff = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned got = 0;
        for (size_t j = 0; j < lg->n; j++)
            if (lg->recs[j].level == 0 && lg->recs[j].start_ms == T0 + (int64_t)i * 30 * SEC &&
                strstr(lg->recs[j].series, node) != NULL)
                got += lg->recs[j].count; /* the window's point and its parts */
        diff += got != want[i];
    }
    return diff;
}

/*
 * A gateway down for ten minutes (five late horizons) and resumed: the
 * frames the nodes sent meanwhile arrive in a burst, stamped where each
 * node's clock stood, and every value lands in its window. Without the
 * resume the same backlog is past the horizon: it lands in parts of the
 * retired windows, each window's point plus its parts counting exactly
 * what was sent; with room for 10 parts only, what does not fit is counted
 * too late.
 */
static void test_resume_takes_the_backlog(void)
{
    for (int run = 0; run < 3; run++) {
        int resume = run == 0;
        struct gw_windows *w = windows_default(run == 2 ? 10 : 1000);
        struct log *lg = log_new();
        struct gw_windows_stats st;
        unsigned want[24] = {0};
        /* Two minutes live: a frame a second from each of two nodes. */
        for (int64_t t = 0; t < 120; t++) {
            for (int n = 0; n < 2; n++)
                CU_ASSERT(frame_value(w, n ? "b" : "a", T0 + t * SEC, 50, T0 + t * SEC + 200, lg) ==
                          0);
            want[t / 30]++;
            CU_ASSERT(gw_windows_advance(w, T0 + t * SEC + 300, SIZE_MAX, collect, lg) == 0);
        }
        /* Down from 120 s to 720 s; then the broker's backlog, ten frames a millisecond. */
        int64_t back = T0 + 720 * SEC;
        if (resume)
            gw_windows_resume(w, back);
        CU_ASSERT(gw_windows_advance(w, back, SIZE_MAX, collect, lg) == 0);
        int refused = 0;
        for (int64_t t = 120; t < 720; t++) {
            for (int n = 0; n < 2; n++)
                refused += frame_value(w, n ? "b" : "a", T0 + t * SEC, 50, back + t / 5, lg) != 0;
            want[t / 30]++;
            if (t % 50 == 0)
                CU_ASSERT(gw_windows_advance(w, back + t / 5, SIZE_MAX, collect, lg) == 0);
        }
        CU_ASSERT(gw_windows_flush_all(w, collect, lg) == 0);
        gw_windows_stats(w, &st);
        if (resume) {
            CU_ASSERT(refused == 0 && st.too_late == 0 && st.busy == 0);
            CU_ASSERT(base_counts_differ(lg, "/a/", want, 24) == 0);
            CU_ASSERT(base_counts_differ(lg, "/b/", want, 24) == 0);
            /* On time: each window emitted once, none rewritten. */
            CU_ASSERT(st.windows_rewritten == 0 && st.values_parted == 0);
        } else if (run == 1) {
            CU_ASSERT(refused == 0 && st.too_late == 0 && st.busy == 0);
            CU_ASSERT(st.values_parted > 0 && st.parts_emitted > 0);
            CU_ASSERT(base_counts_differ(lg, "/a/", want, 24) == 0);
            CU_ASSERT(base_counts_differ(lg, "/b/", want, 24) == 0);
        } else {
            CU_ASSERT(refused > 0 && st.too_late == (uint64_t)refused && st.parts == 10);
        }
        gw_windows_free(w);
        log_free(lg);
    }
}

/*
 * A historical replay: a node's frames stamped weeks ago, a minute of its
 * time every millisecond of arrival, with no tick in between. The frames
 * close the node's windows as its clock passes them, so no slot is ever
 * busy, and every window holds its values; another node, live, is not held
 * back by it.
 */
static void test_history_replay(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_windows_stats st;
    const int64_t weeks_ago = T0 - 28 * 86400 * SEC, now = T0;
    unsigned want[24] = {0};
    int refused = 0;

    for (int64_t i = 0; i < 720; i++) {
        /* Two values a minute, 30 s apart, in the minute i * 1 min after T0 - 4 weeks. */
        for (int k = 0; k < 2; k++)
            refused += frame_value(w, "old", weeks_ago + i * 60 * SEC + k * 30 * SEC, 40, now + i,
                                   lg) != 0;
        if (i < 12)
            want[2 * i] = want[2 * i + 1] = 1;
        refused += frame_value(w, "live", now + i, 60, now + i, lg) != 0;
    }
    gw_windows_stats(w, &st);
    CU_ASSERT(refused == 0 && st.busy == 0 && st.too_late == 0);
    /* The old node's first hours are emitted, its 1-h windows too; the live node's are not. */
    unsigned got = 0;
    for (size_t j = 0; j < lg->n; j++) {
        CU_ASSERT(strstr(lg->recs[j].series, "/old/") != NULL);
        if (lg->recs[j].level == 0 && lg->recs[j].start_ms >= weeks_ago &&
            lg->recs[j].start_ms < weeks_ago + 12 * 60 * SEC) {
            got++;
            CU_ASSERT(lg->recs[j].count == 1 && lg->recs[j].revision == 0);
        }
    }
    CU_ASSERT(got == 24);
    const struct record *hour = NULL;
    for (size_t j = 0; j < lg->n; j++)
        if (lg->recs[j].level == 3 && lg->recs[j].start_ms == weeks_ago)
            hour = &lg->recs[j];
    CU_ASSERT_FATAL(hour != NULL);
    CU_ASSERT(hour->count == 120);
    gw_windows_free(w);
    log_free(lg);
}

/*
 * A node whose series were all retired keeps its clock: a value for a
 * window it retired goes into parts, never into a window opened again (its
 * point in the store is never overwritten by a part of it). The node is
 * forgotten once nothing it could send passes max_age.
 */
static void test_retired_windows_stay_closed(void)
{
    struct gw_windows_config cfg;
    struct gw_windows *w = NULL;
    struct log *lg = log_new();
    struct gw_windows_stats st;

    gw_windows_config_default(&cfg);
    cfg.max_age_ms = 3 * 3600 * SEC;
    CU_ASSERT_FATAL(gw_windows_new(&cfg, &w) == 0);
    CU_ASSERT(frame_value(w, "a", T0 + 5 * SEC, 50, T0 + 5 * SEC, lg) == 0);
    /* Another node keeps the gateway busy for two hours. */
    for (int64_t t = 0; t < 7200; t += 10) {
        CU_ASSERT(frame_value(w, "b", T0 + t * SEC, 50, T0 + t * SEC, lg) == 0);
        CU_ASSERT(gw_windows_advance(w, T0 + t * SEC, SIZE_MAX, collect, lg) == 0);
    }
    gw_windows_stats(w, &st);
    CU_ASSERT(st.nodes == 2 && st.series == 1 && st.series_dropped == 1);
    CU_ASSERT(frame_value(w, "a", T0 + 6 * SEC, 51, T0 + 7200 * SEC, lg) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.too_late == 0 && st.values_parted == 1 && st.parts == 4 && st.series == 2);
    CU_ASSERT(gw_windows_advance(w, T0 + 7230 * SEC, SIZE_MAX, collect, lg) == 0);
    unsigned whole = 0, parts = 0;
    for (size_t i = 0; i < lg->n; i++) {
        const struct record *r = &lg->recs[i];
        if (strstr(r->series, "/a/") == NULL)
            continue;
        CU_ASSERT(r->start_ms == T0 && r->count == 1 && r->revision == 0);
        CU_ASSERT(r->partial ? r->max == 51 && r->part_ms == T0 + 7200 * SEC : r->max == 50);
        whole += !r->partial;
        parts += r->partial;
    }
    CU_ASSERT(whole == 4 && parts == 4);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.parts == 0 && st.series == 1);
    /*
     * Newest timestamp (the refused one's too) + 1 h + max_age: a's clock is
     * forgotten; b's windows are all retired, its clock kept.
     */
    CU_ASSERT(gw_windows_advance(w, T0 + 6 * SEC + 4 * 3600 * SEC - 1, SIZE_MAX, collect, lg) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.nodes == 2);
    CU_ASSERT(gw_windows_advance(w, T0 + 6 * SEC + 4 * 3600 * SEC, SIZE_MAX, collect, lg) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.nodes == 1 && st.series == 0);
    gw_windows_free(w);
    log_free(lg);
}

/* Once all windows of a series are past their horizon, the series is freed. */
static void test_idle_series_dropped(void)
{
    struct gw_windows *w = windows_default(10);
    struct log *lg = log_new();
    struct gw_series_key k = speed_key(1);
    struct gw_windows_stats st;

    /* The node's clock is 1 s behind arrival. */
    CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){T0 + 5 * SEC, 50.0},
                                   T0 + 6 * SEC, NULL) == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 3600 * SEC + 120 * SEC, SIZE_MAX, collect, lg) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series == 1 && st.windows_retained == 1 && st.windows_pending == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 3600 * SEC + 121 * SEC, SIZE_MAX, collect, lg) == 0);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series == 0 && st.series_dropped == 1 && st.windows_retained == 0);
    CU_ASSERT(lg->n == 4);
    gw_windows_free(w);
    log_free(lg);
}

/* The script of the allocation-failure test: several series, signs, ranges, late values. */
static int script(struct gw_windows *w, struct log *lg, int *saw_enomem)
{
    static const char *sensors[] = {"a", "b", "c"};
    for (int i = 0; i < 120; i++) {
        struct gw_series_key k = {"site",
                                  "node",
                                  sensors[i % 3],
                                  (uint32_t)(i % 2),
                                  CITYGATE__V1__QUANTITY__TEMPERATURE,
                                  0,
                                  i % 3 != 2};
        int64_t ts = T0 + i * 5 * SEC, now = ts + (i % 7 == 0 ? 80 * SEC : SEC);
        double v = (i % 5 == 0 ? -1.0 : 1.0) * pow(1.7, i % 23);
        int rc = gw_windows_add(w, &k, (struct gw_window_value){ts, v}, now, NULL);
        if (rc != 0 && rc != GW_ENOMEM)
            return rc;
        *saw_enomem |= rc == GW_ENOMEM;
        rc = gw_windows_advance(w, now, SIZE_MAX, collect,
                                lg); /* a rollup may fail to grow: retried */
        if (rc != 0 && rc != GW_ENOMEM)
            return rc;
        *saw_enomem |= rc == GW_ENOMEM;
    }
    int rc = gw_windows_flush_all(w, collect, lg);
    if (rc == GW_ENOMEM) {
        *saw_enomem = 1;
        rc = gw_windows_flush_all(w, collect, lg);
    }
    return rc;
}

/*
 * With the Nth allocation failing, for every N until none fails: every call
 * returns 0 or GW_ENOMEM, ASan sees no leak or bad access, and each value is
 * in all levels or none (the counts per level agree). An advance that fails
 * leaves its work for the next one.
 */
static void test_allocation_failures(void)
{
    struct gw_windows_config cfg;
    int done = 0;
    long n;

    gw_windows_config_default(&cfg);
    for (n = 0; !done && n < 10000; n++) {
        struct gw_windows *w = NULL;
        struct log *lg = log_new();
        struct gw_windows_stats mark = live;
        int saw_enomem = 0;
        uint64_t per_level[4] = {0};

        gw_alloc_fail_after(n);
        int rc = gw_windows_new(&cfg, &w);
        if (rc == 0) {
            rc = script(w, lg, &saw_enomem);
            CU_ASSERT(rc == 0);
            for (size_t i = 0; i < lg->n; i++)
                per_level[lg->recs[i].level] += lg->recs[i].count;
            CU_ASSERT(per_level[0] == per_level[1] && per_level[1] == per_level[2] &&
                      per_level[2] == per_level[3]);
            memory_is_live(w, mark);
        } else {
            CU_ASSERT(rc == GW_ENOMEM);
            saw_enomem = 1;
        }
        done = !saw_enomem && gw_alloc_count() <= n;
        gw_alloc_fail_after(-1);
        gw_windows_free(w);
        log_free(lg);
    }
    CU_ASSERT(done);
    printf("\n    allocation failure injected at each of the first %ld allocations", n - 1);
}

/* The same input gives the same emissions in the same order (journal replay). */
static void test_deterministic(void)
{
    struct log *a = log_new(), *b = log_new();
    struct gw_windows *wa = windows_default(100), *wb = windows_default(100);
    int enomem = 0;
    CU_ASSERT(script(wa, a, &enomem) == 0);
    CU_ASSERT(script(wb, b, &enomem) == 0);
    CU_ASSERT_FATAL(a->n == b->n && a->n > 0);
    for (size_t i = 0; i < a->n; i++) {
        const struct record *x = &a->recs[i], *y = &b->recs[i];
        CU_ASSERT(x->level == y->level && x->start_ms == y->start_ms && x->count == y->count);
        CU_ASSERT(x->revision == y->revision && x->sum == y->sum && x->p85 == y->p85);
        CU_ASSERT(strcmp(x->series, y->series) == 0 && strcmp(x->sketch, y->sketch) == 0);
    }
    gw_windows_free(wa);
    gw_windows_free(wb);
    log_free(a);
    log_free(b);
}

static int discard(void *ctx, const struct gw_aggregate *a)
{
    (void)a;
    (*(size_t *)ctx)++;
    return 0;
}

/*
 * Steady state: n_series series, one reading every 10 s each, arriving 1 s
 * late, advance every second. Prints the bytes per series once every level
 * has cycled, and checks that the third hour allocates (almost) nothing.
 */
static void steady_state(const char *name, bool quantiles, double (*speed)(uint64_t *))
{
    enum { n_series = 300 };
    struct gw_windows *w = windows_default(n_series);
    struct gw_windows_stats st;
    uint64_t rng = 7;
    size_t emitted = 0, adds = 0;
    long allocs = 0;

    for (int64_t t = T0; t < T0 + 3 * 3600 * SEC; t += SEC) {
        if (t == T0 + 2 * 3600 * SEC)
            gw_alloc_fail_after(-1);
        for (uint32_t i = (uint32_t)((t / SEC) % 10); i < n_series; i += 10) {
            struct gw_series_key k = {
                "ring-north", "node-0001", "loop-1", i, CITYGATE__V1__QUANTITY__SPEED, 0,
                quantiles};
            CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){t - SEC, speed(&rng)}, t,
                                           NULL) == 0);
            adds++;
        }
        CU_ASSERT_FATAL(gw_windows_advance(w, t, SIZE_MAX, discard, &emitted) == 0);
    }
    allocs = gw_alloc_count();
    gw_windows_stats(w, &st);
    printf("\n    steady state, %s: %zu series, %.0f bytes/series (%.1f heap blocks/series), "
           "%ld allocations in the last hour for %zu values",
           name, st.series, (double)st.memory_bytes / (double)st.series,
           (double)st.memory_blocks / (double)st.series, allocs, adds / 3);
    CU_ASSERT(st.series == n_series);
    CU_ASSERT(allocs * 100 < (long)(adds / 3));
    CU_ASSERT(emitted > 0);
    gw_windows_free(w);
}

static void test_steady_state_memory(void)
{
    steady_state("speeds N(52, 10), quantiles", true, lane_speed);
    steady_state("speeds U(30, 90), quantiles", true, speed_at);
    steady_state("no quantiles", false, lane_speed);
}

/* ---- snapshot and restore ---- */

/* The series of the snapshot workload: four nodes, one of them shared by two sites' ids. */
static const struct wl_series {
    const char *site, *node, *sensor;
    uint32_t lane, quantity, vehicle_class;
    bool quantiles;
} wl_series[] = {
    {"north", "n-1", "loop-1", 1, CITYGATE__V1__QUANTITY__SPEED, 0, true},
    {"north", "n-1", "loop-1", 1, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, 0, false},
    {"north", "n-1", "loop-1", 1, CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT,
     CITYGATE__V1__VEHICLE_CLASS__TRUCK, false},
    {"north", "n-1", "", 0, CITYGATE__V1__QUANTITY__TEMPERATURE, 0, true},
    {"north", "n-2", "loop-1", 2, CITYGATE__V1__QUANTITY__SPEED, 0, true},
    {"north", "n-2", "loop-1", 2, CITYGATE__V1__QUANTITY__OCCUPANCY, 0, true},
    {"south", "n-1", "air", 0, CITYGATE__V1__QUANTITY__NO2, 0, true},
    {"south", "n-3", "air", 0, CITYGATE__V1__QUANTITY__PM10, 0, true},
    {"south", "n-3", "noise", 0, CITYGATE__V1__QUANTITY__NOISE, 0, false},
};
#define WL_SERIES (sizeof wl_series / sizeof wl_series[0])
#define WL_MAX_VALUES 4

enum { OP_FRAME, OP_ADVANCE, OP_FLUSH };

/* One step of the workload: a frame of readings of one node, an advance, or the final flush. */
struct op {
    int kind;
    int64_t now_ms, ts_ms;
    unsigned n;
    unsigned series[WL_MAX_VALUES];
    double values[WL_MAX_VALUES];
    int res[WL_MAX_VALUES]; /* return code and hints of each add in the reference run */
};

struct workload {
    struct op *ops;
    size_t n;
};

static uint64_t wl_next(uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    return *rng >> 33;
}

static double wl_value(uint64_t *rng, const struct wl_series *se)
{
    double u = (double)wl_next(rng) / 2147483648.0;
    switch (se->quantity) {
    case CITYGATE__V1__QUANTITY__TEMPERATURE:
        return wl_next(rng) % 7 == 0 ? 0.0 : -10.0 + 40.0 * u; /* negatives and zeros */
    case CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME:
    case CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT:
        return (double)(wl_next(rng) % 5);
    case CITYGATE__V1__QUANTITY__NO2:
        return 1e-3 + 400.0 * u * u * u; /* a wide range of magnitudes */
    default:
        return 5.0 + 100.0 * u;
    }
}

/*
 * Three hours of frames every 0.3 to 2.5 s from a random node, most of them
 * on time, some 40 to 110 s late (rewrites), some later than the horizon (parts),
 * some ahead of the clock (a few too far); one node is silent in the second
 * hour, so its series are dropped and made again; advances at random.
 */
static struct workload wl_make(uint64_t seed)
{
    struct workload wl = {calloc(20000, sizeof(struct op)), 0};
    uint64_t rng = seed;
    CU_ASSERT_FATAL(wl.ops != NULL);
    for (int64_t now = T0 + 500; now < T0 + 3 * 3600 * SEC && wl.n + 3 < 20000;
         now += 300 + (int64_t)(wl_next(&rng) % 2200)) {
        struct op *op = &wl.ops[wl.n];
        unsigned node = (unsigned)(wl_next(&rng) % 4);
        unsigned first[] = {0, 4, 6, 7, 9};
        unsigned r = (unsigned)(wl_next(&rng) % 100);
        if (node == 3 && now >= T0 + 3600 * SEC && now < T0 + 2 * 3600 * SEC)
            continue;
        memset(op, 0, sizeof *op);
        op->kind = OP_FRAME;
        op->now_ms = now;
        op->ts_ms = now - (int64_t)(wl_next(&rng) % 1500);
        if (r < 8)
            op->ts_ms = now - 40 * SEC - (int64_t)(wl_next(&rng) % (70 * SEC));
        else if (r < 11)
            op->ts_ms = now - 125 * SEC - (int64_t)(wl_next(&rng) % (75 * SEC));
        else if (r < 15)
            op->ts_ms = now + (int64_t)(wl_next(&rng) % (40 * SEC));
        for (unsigned k = first[node]; k < first[node + 1]; k++) {
            if (wl_next(&rng) % 5 == 0)
                continue;
            op->series[op->n] = k;
            op->values[op->n++] = wl_value(&rng, &wl_series[k]);
        }
        wl.n++;
        if (wl_next(&rng) % 10 < 6)
            wl.ops[wl.n++] = (struct op){.kind = OP_ADVANCE, .now_ms = now};
    }
    wl.ops[wl.n++] = (struct op){.kind = OP_FLUSH};
    return wl;
}

/* Emitted aggregates as text: level, revision, then the line protocol line. */
struct lines {
    char **v;
    size_t n, cap;
};

static int lines_emit(void *ctx, const struct gw_aggregate *a)
{
    static char buf[GW_QSKETCH_TEXT_MAX + 2048];
    struct lines *ls = ctx;
    struct gw_lp_naming naming = {GW_LP_BY_FAMILY, NULL, NULL};
    struct gw_lpbuf b;
    int head = snprintf(buf, sizeof buf, "L%u r%u ", a->level, (unsigned)a->revision);

    gw_lpbuf_init(&b, buf + head, sizeof buf - (size_t)head - 1);
    CU_ASSERT_FATAL(gw_lp_encode_aggregate(&b, &naming, a) == 0);
    buf[(size_t)head + b.len] = '\0';
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? 2 * ls->cap : 1024;
        ls->v = realloc(ls->v, ls->cap * sizeof *ls->v);
        CU_ASSERT_FATAL(ls->v != NULL);
    }
    size_t len = strlen(buf);
    ls->v[ls->n] = malloc(len + 1);
    CU_ASSERT_FATAL(ls->v[ls->n] != NULL);
    memcpy(ls->v[ls->n++], buf, len + 1);
    return 0;
}

static void lines_free(struct lines *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        free(ls->v[i]);
    free(ls->v);
    memset(ls, 0, sizeof *ls);
}

/*
 * Applies op to w. Frames go through the frame calls or gw_windows_add()
 * (frames) and their results are stored in op->res (check == 0) or
 * compared with it.
 */
static void wl_apply(struct gw_windows *w, struct op *op, bool frames, bool check, struct lines *ls)
{
    if (op->kind == OP_ADVANCE) {
        CU_ASSERT_FATAL(gw_windows_advance(w, op->now_ms, SIZE_MAX, lines_emit, ls) == 0);
        return;
    }
    if (op->kind == OP_FLUSH) {
        CU_ASSERT_FATAL(gw_windows_flush_all(w, lines_emit, ls) == 0);
        return;
    }
    const struct wl_series *first = &wl_series[op->series[0]];
    struct gw_windows_frame fr;
    /* As the pipeline does: the frame moves its node's clock and runs what that makes due. */
    CU_ASSERT_FATAL(gw_windows_frame_begin(w, first->site, first->node, op->now_ms, &fr) == 0);
    CU_ASSERT_FATAL(gw_windows_frame_clock(w, &fr, op->ts_ms, lines_emit, ls) == 0);
    for (unsigned i = 0; i < op->n; i++) {
        const struct wl_series *se = &wl_series[op->series[i]];
        struct gw_series_key k = {se->site,     se->node,          se->sensor,   se->lane,
                                  se->quantity, se->vehicle_class, se->quantiles};
        unsigned hints = 99;
        int rc = frames ? gw_windows_frame_add(w, &fr, &k,
                                               (struct gw_window_value){op->ts_ms, op->values[i]},
                                               &hints)
                        : gw_windows_add(w, &k, (struct gw_window_value){op->ts_ms, op->values[i]},
                                         op->now_ms, &hints);
        int res = rc * 256 + (rc == 0 ? (int)hints : 0);
        CU_ASSERT(rc == 0 || rc == GW_ERANGE);
        if (check) {
            CU_ASSERT(res == op->res[i]);
        } else {
            op->res[i] = res;
        }
    }
}

static struct gw_windows *windows_cfg(const struct gw_windows_config *cfg)
{
    struct gw_windows *w = NULL;
    CU_ASSERT_FATAL(gw_windows_new(cfg, &w) == 0);
    return w;
}

static void stats_equal(const struct gw_windows *a, const struct gw_windows *b)
{
    struct gw_windows_stats x, y;
    gw_windows_stats(a, &x);
    gw_windows_stats(b, &y);
    x.memory_bytes = y.memory_bytes = 0; /* sketch buffers may be sized differently */
    x.memory_blocks = y.memory_blocks = 0;
    CU_ASSERT(memcmp(&x, &y, sizeof x) == 0);
}

/*
 * The central property: snapshot the reference at several points, restore
 * each snapshot into a new instance, feed it the rest of the workload, and
 * it must emit exactly what the reference emitted after that point (same
 * lines, levels and revisions, same order), return the same codes and
 * hints, and end with the same counters. A restored instance snapshots to
 * the same bytes. Half the frames use the frame calls, half gw_windows_add().
 */
static void test_snapshot_continues(void)
{
    static const double at[] = {0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.97, 1.0};
    enum { N_AT = sizeof at / sizeof at[0] };
    struct gw_windows_config cfg;
    struct workload wl = wl_make(2024);
    struct gw_wbuf snap[N_AT];
    size_t op_at[N_AT], mark[N_AT], k = 0, with_parts = 0;
    struct lines ref = {0};
    struct gw_windows *a;
    struct gw_windows_stats st;

    gw_windows_config_default(&cfg);
    cfg.max_series = 64;
    a = windows_cfg(&cfg);
    for (size_t i = 0; i <= wl.n; i++) {
        while (k < N_AT && i == (size_t)(at[k] * (double)wl.n)) {
            gw_wbuf_init(&snap[k]);
            CU_ASSERT_FATAL(gw_windows_snapshot(a, &snap[k]) == 0);
            gw_windows_stats(a, &st);
            with_parts += st.parts > 0;
            op_at[k] = i;
            mark[k++] = ref.n;
        }
        if (i < wl.n)
            wl_apply(a, &wl.ops[i], i % 2 == 0, false, &ref);
    }
    CU_ASSERT_FATAL(k == N_AT);
    CU_ASSERT(ref.n > 3000);
    CU_ASSERT(with_parts > 0); /* parts of retired windows are in some snapshots */
    for (k = 0; k < N_AT; k++) {
        struct gw_windows_stats held = live;
        struct gw_windows *b = windows_cfg(&cfg);
        struct gw_wbuf again;
        struct gw_rbuf in;
        struct lines got = {0};

        gw_rbuf_init(&in, snap[k].buf, snap[k].len);
        CU_ASSERT_FATAL(gw_windows_restore(b, &in) == 0);
        CU_ASSERT(in.left == 0 && !in.bad);
        memory_is_live(b, held);
        gw_wbuf_init(&again);
        CU_ASSERT_FATAL(gw_windows_snapshot(b, &again) == 0);
        CU_ASSERT(again.len == snap[k].len && memcmp(again.buf, snap[k].buf, again.len) == 0);
        gw_free(again.buf);
        for (size_t i = op_at[k]; i < wl.n; i++) {
            wl_apply(b, &wl.ops[i], i % 2 == 0, true, &got);
            memory_is_live(b, held);
        }
        CU_ASSERT(got.n == ref.n - mark[k]);
        for (size_t i = 0; i < got.n && i + mark[k] < ref.n; i++)
            if (strcmp(got.v[i], ref.v[i + mark[k]]) != 0) {
                CU_FAIL("a restored instance emitted another line");
                break;
            }
        stats_equal(a, b);
        lines_free(&got);
        gw_windows_free(b);
    }
    printf("\n    %zu operations, %zu lines, snapshots of %zu to %zu bytes", wl.n, ref.n,
           snap[0].len, snap[N_AT / 2].len);
    for (k = 0; k < N_AT; k++)
        gw_free(snap[k].buf);
    lines_free(&ref);
    gw_windows_free(a);
    free(wl.ops);
}

/*
 * Rewrites pending at the snapshot are emitted in the order the original
 * would use (the node corrected first goes first), not in creation order.
 */
static void test_snapshot_keeps_pending_order(void)
{
    struct gw_series_key a = speed_key(1), b = speed_key(2);
    struct lines x = {0}, y = {0}, before = {0};
    struct gw_windows *w = windows_default(10), *r = windows_default(10);
    struct gw_wbuf snap;
    struct gw_rbuf in;

    b.node = "node-0002";
    CU_ASSERT_FATAL(
        gw_windows_add(w, &a, (struct gw_window_value){T0 + SEC, 50.0}, T0 + SEC, NULL) == 0);
    CU_ASSERT_FATAL(
        gw_windows_add(w, &b, (struct gw_window_value){T0 + SEC, 60.0}, T0 + SEC, NULL) == 0);
    CU_ASSERT_FATAL(gw_windows_advance(w, T0 + 90 * SEC, SIZE_MAX, lines_emit, &before) == 0);
    CU_ASSERT_FATAL(gw_windows_add(w, &b, (struct gw_window_value){T0 + 2 * SEC, 61.0},
                                   T0 + 100 * SEC, NULL) == 0);
    CU_ASSERT_FATAL(gw_windows_add(w, &a, (struct gw_window_value){T0 + 2 * SEC, 51.0},
                                   T0 + 101 * SEC, NULL) == 0);
    gw_wbuf_init(&snap);
    CU_ASSERT_FATAL(gw_windows_snapshot(w, &snap) == 0);
    gw_rbuf_init(&in, snap.buf, snap.len);
    CU_ASSERT_FATAL(gw_windows_restore(r, &in) == 0);
    CU_ASSERT(gw_windows_advance(w, T0 + 102 * SEC, SIZE_MAX, lines_emit, &x) == 0);
    CU_ASSERT(gw_windows_advance(r, T0 + 102 * SEC, SIZE_MAX, lines_emit, &y) == 0);
    CU_ASSERT_FATAL(x.n == 2 && y.n == 2);
    CU_ASSERT(strstr(x.v[0], "node=node-0002") != NULL);
    CU_ASSERT(strcmp(x.v[0], y.v[0]) == 0 && strcmp(x.v[1], y.v[1]) == 0);
    lines_free(&x);
    lines_free(&y);
    lines_free(&before);
    gw_free(snap.buf);
    gw_windows_free(w);
    gw_windows_free(r);
}

/* The frame calls and gw_windows_add() take the same decisions and emit the same lines. */
static void test_frame_calls_match_add(void)
{
    struct gw_windows_config cfg;
    struct workload wl = wl_make(77);
    struct lines x = {0}, y = {0};
    struct gw_windows *a, *b;

    gw_windows_config_default(&cfg);
    a = windows_cfg(&cfg);
    b = windows_cfg(&cfg);
    for (size_t i = 0; i < wl.n; i++) {
        wl_apply(a, &wl.ops[i], true, false, &x);
        wl_apply(b, &wl.ops[i], false, true, &y);
    }
    CU_ASSERT_FATAL(x.n == y.n && x.n > 0);
    for (size_t i = 0; i < x.n; i++)
        CU_ASSERT(strcmp(x.v[i], y.v[i]) == 0);
    stats_equal(a, b);
    lines_free(&x);
    lines_free(&y);
    gw_windows_free(a);
    gw_windows_free(b);
    free(wl.ops);
}

/* A snapshot of the first part of the workload (a few kilobytes), for the tests below. */
static void small_snapshot(const struct gw_windows_config *cfg, struct gw_wbuf *out)
{
    struct workload wl = wl_make(5);
    struct lines ls = {0};
    struct gw_windows *w = windows_cfg(cfg);
    for (size_t i = 0; i < wl.n && wl.ops[i].now_ms < T0 + 200 * SEC; i++)
        wl_apply(w, &wl.ops[i], true, false, &ls);
    gw_wbuf_init(out);
    CU_ASSERT_FATAL(gw_windows_snapshot(w, out) == 0);
    lines_free(&ls);
    gw_windows_free(w);
    free(wl.ops);
}

/* After a refused restore, w is empty and works. */
static void check_empty_and_usable(struct gw_windows *w)
{
    struct gw_windows_stats st;
    struct gw_series_key k = speed_key(1);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series == 0 && st.windows_pending == 0 && st.windows_retained == 0);
    CU_ASSERT(st.values_added == 0);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
}

/* Every proper prefix is refused; the whole is read exactly, leaving what follows it. */
static void test_snapshot_truncated(void)
{
    struct gw_windows_config cfg;
    struct gw_wbuf snap;
    size_t refused = 0;

    gw_windows_config_default(&cfg);
    small_snapshot(&cfg, &snap);
    for (size_t len = 0; len < snap.len; len++) {
        struct gw_windows_stats mark = live;
        struct gw_windows *w = windows_cfg(&cfg);
        struct gw_rbuf in;
        gw_rbuf_init(&in, snap.buf, len);
        int rc = gw_windows_restore(w, &in);
        CU_ASSERT(rc == GW_EINVAL);
        refused += rc == GW_EINVAL;
        memory_is_live(w, mark);
        check_empty_and_usable(w);
        gw_windows_free(w);
    }
    CU_ASSERT(refused == snap.len);
    gw_put_bytes(&snap, "tail", 4);
    struct gw_windows *w = windows_cfg(&cfg);
    struct gw_rbuf in;
    gw_rbuf_init(&in, snap.buf, snap.len);
    CU_ASSERT(gw_windows_restore(w, &in) == 0);
    CU_ASSERT(in.left == 4 && memcmp(in.p, "tail", 4) == 0);
    gw_windows_free(w);
    printf("\n    all %zu shorter lengths refused", refused);
    gw_free(snap.buf);
}

/* Another config is refused; so is a restore into an instance that already has series. */
static void test_snapshot_config_mismatch(void)
{
    struct gw_windows_config cfg, other;
    struct gw_windows_stats st;
    struct gw_wbuf snap;
    struct gw_rbuf in;

    gw_windows_config_default(&cfg);
    small_snapshot(&cfg, &snap);
    for (int change = 0; change < 6; change++) {
        other = cfg;
        if (change == 0)
            other.widths_ms[1] = 600000;
        else if (change == 1)
            other.n_widths = 3;
        else if (change == 2)
            other.grace_ms = 30000;
        else if (change == 3)
            other.late_horizon_ms = 150000;
        else if (change == 4)
            other.max_ahead_ms = 10000;
        else
            other.max_series = 10;
        struct gw_windows *w = windows_cfg(&other);
        gw_rbuf_init(&in, snap.buf, snap.len);
        CU_ASSERT(gw_windows_restore(w, &in) == GW_EINVAL);
        check_empty_and_usable(w);
        gw_windows_free(w);
    }
    /* Entries past n_widths are not part of the config. */
    other = cfg;
    other.n_widths = 2;
    other.widths_ms[2] = 1234;
    struct gw_windows *two = windows_cfg(&other);
    struct gw_series_key k = speed_key(7);
    struct gw_wbuf snap2;
    CU_ASSERT(gw_windows_add(two, &k, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    gw_wbuf_init(&snap2);
    CU_ASSERT_FATAL(gw_windows_snapshot(two, &snap2) == 0);
    gw_windows_free(two);
    other.widths_ms[2] = 0;
    two = windows_cfg(&other);
    gw_rbuf_init(&in, snap2.buf, snap2.len);
    CU_ASSERT(gw_windows_restore(two, &in) == 0);
    gw_windows_free(two);
    gw_free(snap2.buf);

    struct gw_windows *w = windows_default(100000);
    CU_ASSERT(gw_windows_add(w, &k, (struct gw_window_value){T0, 50.0}, T0, NULL) == 0);
    gw_rbuf_init(&in, snap.buf, snap.len);
    CU_ASSERT(gw_windows_restore(w, &in) == GW_EINVAL);
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series == 1 && st.values_added == 1);
    gw_windows_free(w);
    gw_free(snap.buf);
}

/* Every byte flipped in turn: refused (and w left empty) or accepted, never a crash or a leak. */
static void test_snapshot_corrupt(void)
{
    struct gw_windows_config cfg;
    struct gw_wbuf snap;
    size_t refused = 0;

    gw_windows_config_default(&cfg);
    small_snapshot(&cfg, &snap);
    for (size_t i = 0; i < snap.len; i++) {
        struct gw_windows_stats mark = live;
        struct gw_windows *w = windows_cfg(&cfg);
        struct lines ls = {0};
        struct gw_rbuf in;
        snap.buf[i] ^= 0x5a;
        gw_rbuf_init(&in, snap.buf, snap.len);
        int rc = gw_windows_restore(w, &in);
        CU_ASSERT(rc == 0 || rc == GW_EINVAL);
        memory_is_live(w, mark);
        if (rc == 0) {
            CU_ASSERT(gw_windows_flush_all(w, lines_emit, &ls) == 0);
        } else {
            refused++;
            check_empty_and_usable(w);
        }
        snap.buf[i] ^= 0x5a;
        lines_free(&ls);
        gw_windows_free(w);
    }
    printf("\n    %zu of %zu corrupted snapshots refused, the others restored consistently",
           refused, snap.len);
    gw_free(snap.buf);
}

/* The Nth allocation of a restore (or of a snapshot) failing: GW_ENOMEM, w empty, no leak. */
static void test_snapshot_allocation_failures(void)
{
    struct gw_windows_config cfg;
    struct gw_wbuf snap, out;
    int done = 0;
    long n;

    gw_windows_config_default(&cfg);
    small_snapshot(&cfg, &snap);
    for (n = 0; !done && n < 10000; n++) {
        struct gw_windows_stats mark = live;
        struct gw_windows *w = windows_cfg(&cfg);
        struct gw_rbuf in;
        gw_rbuf_init(&in, snap.buf, snap.len);
        gw_alloc_fail_after(n);
        int rc = gw_windows_restore(w, &in);
        done = rc == 0 && gw_alloc_count() <= n;
        gw_alloc_fail_after(-1);
        CU_ASSERT(rc == 0 || rc == GW_ENOMEM);
        memory_is_live(w, mark);
        if (rc == GW_ENOMEM)
            check_empty_and_usable(w);
        gw_windows_free(w);
    }
    CU_ASSERT(done);
    printf("\n    allocation failure injected at each of the first %ld allocations of a restore",
           n - 1);

    struct gw_windows *w = windows_cfg(&cfg);
    struct gw_rbuf in;
    gw_rbuf_init(&in, snap.buf, snap.len);
    CU_ASSERT_FATAL(gw_windows_restore(w, &in) == 0);
    gw_wbuf_init(&out);
    gw_put_u32(&out, 7);
    gw_alloc_fail_after(0);
    CU_ASSERT(gw_windows_snapshot(w, &out) == GW_ENOMEM);
    gw_alloc_fail_after(-1);
    CU_ASSERT(out.len == 4);
    gw_free(out.buf);
    gw_windows_free(w);
    gw_free(snap.buf);
}

/* Restores a snapshot of w into a new instance, which must hold what it says, also once flushed. */
static void restored_memory_is_live(const struct gw_windows *w, const struct gw_windows_config *cfg)
{
    struct gw_wbuf snap;
    struct gw_rbuf in;
    size_t emitted = 0;

    gw_wbuf_init(&snap);
    CU_ASSERT_FATAL(gw_windows_snapshot(w, &snap) == 0);
    struct gw_windows_stats mark = live;
    struct gw_windows *r = windows_cfg(cfg);
    gw_rbuf_init(&in, snap.buf, snap.len);
    CU_ASSERT_FATAL(gw_windows_restore(r, &in) == 0);
    memory_is_live(r, mark);
    CU_ASSERT(gw_windows_flush_all(r, discard, &emitted) == 0);
    memory_is_live(r, mark);
    gw_windows_free(r);
    gw_free(snap.buf);
}

/*
 * The memory figures are what the core holds, after every step of three
 * hours of 48 nodes with 1 to 7 series each (the node table, the due heap
 * and series arrays grow), two thirds of them with quantiles over values of
 * both signs and ten decades (sketches grow, fold and merge into rollups),
 * late rewrites, and a third of the nodes silent for 90 minutes (their
 * series and nodes are dropped, then made again); and in instances
 * restored from snapshots of it.
 */
static void test_memory_figures(void)
{
    struct gw_windows_stats mark = live;
    struct gw_windows_config cfg;
    uint64_t rng = 99;
    size_t emitted = 0;

    gw_windows_config_default(&cfg);
    cfg.max_series = 1000;
    struct gw_windows *w = windows_cfg(&cfg);
    memory_is_live(w, mark);
    for (int64_t now = T0; now < T0 + 3 * 3600 * SEC; now += 20 * SEC) {
        for (unsigned i = 0; i < 48; i++) {
            struct gw_windows_frame fr;
            char node[16];
            if (i % 3 == 0 && now >= T0 + 3600 * SEC && now < T0 + 5400 * SEC)
                continue;
            snprintf(node, sizeof node, "n-%u", i);
            CU_ASSERT_FATAL(gw_windows_frame_begin(w, i % 2 ? "north" : "south", node, now, &fr) ==
                            0);
            for (uint32_t lane = 0; lane <= i % 7; lane++) {
                struct gw_series_key k = {.sensor = "loop",
                                          .lane = lane,
                                          .quantity = CITYGATE__V1__QUANTITY__TEMPERATURE,
                                          .quantiles = lane % 3 != 2};
                uint64_t r = wl_next(&rng);
                int64_t ts = now - (r % 11 == 0 ? 100 * SEC : SEC);
                double v = (r % 5 == 0 ? -1.0 : 1.0) * pow(1.9, (double)(r % 37));
                int rc = gw_windows_frame_add(w, &fr, &k, (struct gw_window_value){ts, v}, NULL);
                CU_ASSERT(rc == 0 || rc == GW_ERANGE);
            }
        }
        CU_ASSERT_FATAL(gw_windows_advance(w, now, SIZE_MAX, discard, &emitted) == 0);
        memory_is_live(w, mark);
        if ((now - T0) % (3600 * SEC) == 1800 * SEC)
            restored_memory_is_live(w, &cfg);
    }
    struct gw_windows_stats st;
    gw_windows_stats(w, &st);
    CU_ASSERT(st.series_dropped >= 16 && st.series > 150 && st.values_late > 0);
    CU_ASSERT(gw_windows_flush_all(w, discard, &emitted) == 0);
    memory_is_live(w, mark);
    gw_windows_free(w);
    CU_ASSERT(live.memory_bytes == mark.memory_bytes && live.memory_blocks == mark.memory_blocks);
}

static int count_emits(void *ctx, const struct gw_aggregate *a)
{
    (void)a;
    (*(size_t *)ctx)++;
    return 0;
}

/*
 * advance() with nothing due does not walk the series: with 20000 series it
 * costs about what it costs with 20. Prints the times; asserts nothing about
 * them.
 */
static void test_idle_advance_is_cheap(void)
{
    size_t sizes[] = {20, 20000};
    for (int t = 0; t < 2; t++) {
        struct gw_windows *w = windows_default(sizes[t]);
        struct timespec t0, t1;
        size_t emitted = 0;
        for (uint32_t i = 0; i < sizes[t]; i++) {
            struct gw_series_key k = speed_key(i);
            k.quantiles = false;
            CU_ASSERT_FATAL(gw_windows_add(w, &k, (struct gw_window_value){T0 + SEC, 50.0},
                                           T0 + SEC, NULL) == 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int64_t now = T0 + SEC; now < T0 + 90 * SEC; now += 100) /* due at T0 + 90 s */
            CU_ASSERT(gw_windows_advance(w, now, SIZE_MAX, count_emits, &emitted) == 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CU_ASSERT(emitted == 0);
        CU_ASSERT(gw_windows_advance(w, T0 + 90 * SEC, SIZE_MAX, count_emits, &emitted) == 0);
        CU_ASSERT(emitted == sizes[t]);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        printf("\n    %zu series: %.0f ns per advance with nothing due", sizes[t], ns / 890.0);
        gw_windows_free(w);
    }
}

/*
 * The benchmark workload: the gateway's steady state. n_nodes two-lane
 * traffic nodes each send a frame of 8 readings (5 with quantiles) every
 * second, spread over the ten 100-ms ticks of the second, arriving 200 ms
 * after their timestamp; one frame in 1000 arrives 90 s late instead (a
 * rewrite of an emitted base window). advance() runs every 100 ms.
 */
static const struct bench_reading {
    const char *sensor;
    uint32_t lane, quantity;
    bool quantiles;
} bench_readings[8] = {
    {"loop-1", 1, CITYGATE__V1__QUANTITY__SPEED, true},
    {"loop-1", 1, CITYGATE__V1__QUANTITY__OCCUPANCY, true},
    {"loop-1", 1, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, false},
    {"loop-2", 2, CITYGATE__V1__QUANTITY__SPEED, true},
    {"loop-2", 2, CITYGATE__V1__QUANTITY__OCCUPANCY, true},
    {"loop-2", 2, CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, false},
    {"loop-1", 1, CITYGATE__V1__QUANTITY__HEADWAY, true},
    {"air", 0, CITYGATE__V1__QUANTITY__TEMPERATURE, false},
};

struct bench {
    struct gw_windows *w;
    size_t n_nodes;
    char (*node_ids)[32];
    char (*site_ids)[32];
    uint64_t rng;
    size_t frames, emitted;
    int64_t late_ts[64], late_node[64];
    size_t n_late;
    int per_reading; /* gw_windows_add() per reading instead of the frame calls */
};

static double bench_value(struct bench *b, size_t r)
{
    switch (bench_readings[r].quantity) {
    case CITYGATE__V1__QUANTITY__SPEED:
        return lane_speed(&b->rng);
    case CITYGATE__V1__QUANTITY__OCCUPANCY:
        return speed_at(&b->rng) - 30.0;
    case CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME:
        return (double)((b->rng >> 20) % 4);
    case CITYGATE__V1__QUANTITY__HEADWAY:
        return speed_at(&b->rng) / 10.0;
    default:
        return 18.0 + (double)((b->rng >> 30) % 16) / 8.0;
    }
}

/* One frame of node i, timestamped ts_ms, arriving at now_ms, as the pipeline would add it. */
static void bench_frame(struct bench *b, size_t i, int64_t ts_ms, int64_t now_ms)
{
    struct gw_windows_frame fr;
    if (b->per_reading == 0 &&
        gw_windows_frame_begin(b->w, b->site_ids[i], b->node_ids[i], now_ms, &fr))
        CU_FAIL_FATAL("bench frame refused");
    for (size_t r = 0; r < 8; r++) {
        const struct bench_reading *br = &bench_readings[r];
        struct gw_series_key k = {
            b->site_ids[i], b->node_ids[i], br->sensor, br->lane, br->quantity, 0, br->quantiles};
        double v = bench_value(b, r);
        int rc =
            b->per_reading
                ? gw_windows_add(b->w, &k, (struct gw_window_value){ts_ms, v}, now_ms, NULL)
                : gw_windows_frame_add(b->w, &fr, &k, (struct gw_window_value){ts_ms, v}, NULL);
        if (rc != 0)
            CU_FAIL_FATAL("bench add failed");
    }
    b->frames++;
}

/* Simulates [from_ms, to_ms) of gateway time. */
static void bench_run(struct bench *b, int64_t from_ms, int64_t to_ms)
{
    for (int64_t now = from_ms; now < to_ms; now += 100) {
        int64_t tick = (now / 100) % 10;
        for (size_t i = (size_t)tick; i < b->n_nodes; i += 10) {
            int64_t ts = now - 200;
            b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
            if ((b->rng >> 33) % 1000 == 0 && b->n_late < 64) {
                b->late_ts[b->n_late] = ts;
                b->late_node[b->n_late++] = (int64_t)i;
                continue;
            }
            bench_frame(b, i, ts, now);
        }
        for (size_t j = 0; j < b->n_late;) {
            if (b->late_ts[j] + 90 * SEC <= now) {
                bench_frame(b, (size_t)b->late_node[j], b->late_ts[j], now);
                b->late_ts[j] = b->late_ts[--b->n_late];
                b->late_node[j] = b->late_node[b->n_late];
            } else {
                j++;
            }
        }
        if (gw_windows_advance(b->w, now, SIZE_MAX, discard, &b->emitted) != 0)
            CU_FAIL_FATAL("bench advance failed");
    }
}

/*
 * The measured hour, a function of its own so that callgrind can count just
 * it: valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_hour.
 */
__attribute__((noinline)) void bench_hour(struct bench *b, int64_t from_ms);
__attribute__((noinline)) void bench_hour(struct bench *b, int64_t from_ms)
{
    bench_run(b, from_ms, from_ms + 3600 * SEC);
}

static void bench(size_t n_nodes, int per_reading)
{
    struct bench b;
    struct timespec t0, t1;

    memset(&b, 0, sizeof b);
    b.n_nodes = n_nodes;
    b.per_reading = per_reading;
    b.rng = 11;
    b.w = windows_default(n_nodes * 8);
    b.node_ids = calloc(n_nodes, sizeof *b.node_ids);
    b.site_ids = calloc(n_nodes, sizeof *b.site_ids);
    CU_ASSERT_FATAL(b.node_ids && b.site_ids);
    for (size_t i = 0; i < n_nodes; i++) {
        snprintf(b.node_ids[i], sizeof b.node_ids[i], "node-%05zu", i);
        snprintf(b.site_ids[i], sizeof b.site_ids[i], "site-%03zu", i / 50);
    }
    bench_run(&b, T0, T0 + 3600 * SEC); /* warm up: every level cycles, sketches grow */
    size_t frames = b.frames, emitted = b.emitted;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bench_hour(&b, T0 + 3600 * SEC);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    frames = b.frames - frames;
    emitted = b.emitted - emitted;
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("\n    bench (%s): %zu nodes, %zu series, one hour: %zu frames of 8 readings, %zu "
           "aggregates, %.0f ns per frame (wall clock, this build)",
           per_reading ? "gw_windows_add" : "frame calls", n_nodes, n_nodes * 8, frames, emitted,
           ns / (double)frames);
    gw_windows_free(b.w);
    free(b.node_ids);
    free(b.site_ids);
}

static void test_bench_small(void)
{
    bench(20, 0);
    bench(20, 1);
}

static void test_bench(void)
{
    bench(200, 0);
}

static void test_bench_per_reading(void)
{
    bench(200, 1);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"config checks", test_config},
        {"watermark closes windows", test_watermark},
        {"late rewrite, and parts past the horizon", test_late_rewrite_and_parts},
        {"rollups are merges of their base windows", test_rollups_are_merges},
        {"traffic series", test_traffic_series},
        {"max series", test_max_series},
        {"max series per node", test_max_node_series},
        {"bad input", test_bad_input},
        {"emit failure and busy slots", test_emit_failure_and_busy},
        {"idle series are dropped", test_idle_series_dropped},
        {"a resume takes the backlog on time", test_resume_takes_the_backlog},
        {"a historical replay closes its windows by its own time", test_history_replay},
        {"retired windows stay closed, their late values go to parts",
         test_retired_windows_stay_closed},
        {"allocation failures", test_allocation_failures},
        {"deterministic", test_deterministic},
        {"steady state memory", test_steady_state_memory},
        {"memory figures are what is allocated", test_memory_figures},
        {"snapshot: restored instances continue exactly", test_snapshot_continues},
        {"snapshot: pending rewrites keep their order", test_snapshot_keeps_pending_order},
        {"frame calls match gw_windows_add", test_frame_calls_match_add},
        {"snapshot: truncated", test_snapshot_truncated},
        {"snapshot: config mismatch and non-empty target", test_snapshot_config_mismatch},
        {"snapshot: corrupt bytes", test_snapshot_corrupt},
        {"snapshot: allocation failures", test_snapshot_allocation_failures},
        {"advance with nothing due", test_idle_advance_is_cheap},
        {"bench, small", test_bench_small},
        {NULL, NULL},
    };
    static const struct cu_test bench_frames[] = {
        {"bench", test_bench},
        {NULL, NULL},
    };
    static const struct cu_test bench_adds[] = {
        {"bench", test_bench_per_reading},
        {NULL, NULL},
    };
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return cu_main("window", bench_frames);
    if (argc > 1 && strcmp(argv[1], "bench-add") == 0)
        return cu_main("window", bench_adds);
    return cu_main("window", tests);
}
