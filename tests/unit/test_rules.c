/*
 * test_rules.c -- the alert state machine: thresholds with hysteresis, for
 * durations, rates, absence and death, damping, selectors, bounds, rule
 * validation and allocation failures. Time is whatever the test says it is.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cu.h"
#include "err.h"
#include "rules.h"

#define T0 1795000000000ULL
#define SEC 1000ULL
#define MIN (60 * SEC)

/* ---- recording events ---- */

struct rec {
    char rule[65], site[65], node[65], quantity[32];
    uint32_t lane;
    int old_level, new_level, cause;
    double value;
    uint64_t timestamp_ms, now_ms;
};

static struct rec events[512];
static size_t n_events;

static void record(void *ctx, const struct gw_alert_event *ev)
{
    struct rec *r = &events[n_events < 512 ? n_events : 511];
    (void)ctx;
    snprintf(r->rule, sizeof r->rule, "%s", ev->rule);
    snprintf(r->site, sizeof r->site, "%s", ev->site);
    snprintf(r->node, sizeof r->node, "%s", ev->node);
    snprintf(r->quantity, sizeof r->quantity, "%s", ev->quantity);
    r->lane = ev->lane;
    r->old_level = ev->old_level;
    r->new_level = ev->new_level;
    r->cause = ev->cause;
    r->value = ev->value;
    r->timestamp_ms = ev->timestamp_ms;
    r->now_ms = ev->now_ms;
    n_events++;
}

/* Expects exactly the events since the last call: pairs of (old, new) levels. */
static void expect_levels(int line, size_t n, const int *pairs)
{
    if (n_events != n)
        fprintf(stderr, "\nline %d: %zu events, want %zu\n", line, n_events, n);
    CU_ASSERT_EQUAL(n_events, n);
    for (size_t i = 0; i < n && i < n_events; i++) {
        if (events[i].old_level != pairs[2 * i] || events[i].new_level != pairs[2 * i + 1])
            fprintf(stderr, "\nline %d: event %zu is %s -> %s\n", line, i,
                    gw_alert_level_name(events[i].old_level),
                    gw_alert_level_name(events[i].new_level));
        CU_ASSERT_EQUAL(events[i].old_level, pairs[2 * i]);
        CU_ASSERT_EQUAL(events[i].new_level, pairs[2 * i + 1]);
    }
    n_events = 0;
}
#define NONE() expect_levels(__LINE__, 0, NULL)
#define ONE(a, b) expect_levels(__LINE__, 1, (const int[]){GW_ALERT_##a, GW_ALERT_##b})

/* ---- frames ---- */

static Citygate__V1__Frame frame;
static Citygate__V1__Reading readings[16];
static Citygate__V1__Reading *reading_ptrs[16];

static void frame_start(const char *site, const char *node, uint64_t ts_ms, int backlog)
{
    static const Citygate__V1__Frame f0 = CITYGATE__V1__FRAME__INIT;
    frame = f0;
    frame.site_id = (char *)site;
    frame.device_id = (char *)node;
    frame.boot_id = 1;
    frame.seq = 1;
    frame.timestamp_ms = ts_ms;
    frame.backlog = backlog;
    frame.readings = reading_ptrs;
}

static void frame_add(int quantity, uint32_t lane, double value, int quality)
{
    static const Citygate__V1__Reading r0 = CITYGATE__V1__READING__INIT;
    Citygate__V1__Reading *r = &readings[frame.n_readings];
    *r = r0;
    r->quantity = quantity;
    r->lane = lane;
    r->value = value;
    r->quality = quality;
    reading_ptrs[frame.n_readings++] = r;
}

#define SPEED CITYGATE__V1__QUANTITY__SPEED
#define GOOD CITYGATE__V1__QUALITY__GOOD

/* One GOOD speed reading of lane 1 from ring-north/n1, node clock = gateway clock. */
static int speed(struct gw_rules *rs, double kmh, uint64_t now_ms)
{
    frame_start("ring-north", "n1", now_ms, 0);
    frame_add(SPEED, 1, kmh, GOOD);
    return gw_rules_eval(rs, &frame, now_ms, record, NULL);
}

static const struct gw_rules_limits limits = {.max_nodes = 100, .max_series_per_node = 32};

static struct gw_rules *build(const struct gw_rule_def *defs, size_t n)
{
    struct gw_rules *rs = NULL;
    struct gw_rules_diag diag = {0};
    int rc = gw_rules_new(defs, n, &limits, &rs, &diag);
    if (rc != 0)
        fprintf(stderr, "\nrule %zu: %s\n", diag.rule, diag.message);
    CU_ASSERT_FATAL(rc == 0);
    n_events = 0;
    return rs;
}

/* Speed on ring roads: under 30 km/h is WARN, under 15 CRIT; back above 35 and 20. */
static struct gw_rule_def slow_rule(void)
{
    struct gw_rule_def d;
    gw_rule_def_init(&d);
    d.name = "slow-traffic";
    d.site = "ring-*";
    d.quantity = "SPEED";
    d.direction = GW_RULE_BELOW;
    d.warn = 30;
    d.crit = 15;
    d.warn_reset = 35;
    d.crit_reset = 20;
    return d;
}

/* ---- tests ---- */

static void test_speed_falls_then_recovers(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs = build(&d, 1);
    uint64_t t = T0;

    CU_ASSERT_EQUAL(speed(rs, 50, t += MIN), 0);
    NONE();
    speed(rs, 30, t += MIN); /* "under 30": 30 itself is fine */
    NONE();
    speed(rs, 29.5, t += MIN);
    ONE(OK, WARN);
    CU_ASSERT_STRING_EQUAL(events[0].rule, "slow-traffic");
    speed(rs, 15, t += MIN);
    NONE();
    speed(rs, 14, t += MIN);
    ONE(WARN, CRIT);
    CU_ASSERT_DOUBLE_EQUAL(events[0].value, 14, 0);
    CU_ASSERT_EQUAL(events[0].cause, GW_CAUSE_THRESHOLD);
    CU_ASSERT_EQUAL(events[0].timestamp_ms, t);
    CU_ASSERT_EQUAL(events[0].now_ms, t);
    /* Small recoveries stay CRIT (reset 20), then WARN (reset 35). */
    speed(rs, 18, t += MIN);
    speed(rs, 19.9, t += MIN);
    speed(rs, 12, t += MIN);
    NONE();
    speed(rs, 20, t += MIN);
    ONE(CRIT, WARN);
    speed(rs, 25, t += MIN);
    speed(rs, 34.9, t += MIN);
    speed(rs, 31, t += MIN);
    NONE();
    speed(rs, 35, t += MIN);
    ONE(WARN, OK);
    CU_ASSERT_DOUBLE_EQUAL(events[0].value, 35, 0);
    /* Recovery notified once. */
    speed(rs, 50, t += MIN);
    speed(rs, 31, t += MIN);
    speed(rs, 60, t += MIN);
    NONE();
    /* Straight to CRIT and straight back: one event each. */
    speed(rs, 5, t += MIN);
    ONE(OK, CRIT);
    speed(rs, 80, t += MIN);
    ONE(CRIT, OK);
    gw_rules_free(rs);
}

/* Hovering around the threshold without crossing the reset notifies once. */
static void test_hysteresis_holds(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs = build(&d, 1);
    uint64_t t = T0;

    for (int i = 0; i < 50; i++)
        speed(rs, i % 2 ? 28 : 32, t += 10 * SEC);
    ONE(OK, WARN);
    /* Without resets the same signal flaps every time. */
    d.warn_reset = d.crit_reset = NAN;
    gw_rules_free(rs);
    rs = build(&d, 1);
    for (int i = 0; i < 10; i++)
        speed(rs, i % 2 ? 28 : 32, t += 10 * SEC);
    CU_ASSERT_EQUAL(n_events, 5 + 4);
    n_events = 0;
    gw_rules_free(rs);
}

static void test_for_duration(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs;
    uint64_t t0 = T0;

    d.for_ms = MIN;
    rs = build(&d, 1);
    speed(rs, 29, t0);
    speed(rs, 28, t0 + 30 * SEC);
    gw_rules_tick(rs, t0 + MIN - 1, record, NULL);
    NONE();
    gw_rules_tick(rs, t0 + MIN, record, NULL);
    ONE(OK, WARN);
    CU_ASSERT_DOUBLE_EQUAL(events[0].value, 28, 0); /* the last value */
    CU_ASSERT_EQUAL(events[0].now_ms, t0 + MIN);
    gw_rules_tick(rs, t0 + 2 * MIN, record, NULL);
    NONE();
    /* Falling back is not delayed by for_ms. */
    speed(rs, 40, t0 + 3 * MIN);
    ONE(WARN, OK);

    /* An interruption restarts the clock. */
    uint64_t t1 = T0 + 10 * MIN;
    speed(rs, 29, t1);
    speed(rs, 31, t1 + 30 * SEC);
    speed(rs, 29, t1 + 40 * SEC);
    gw_rules_tick(rs, t1 + MIN, record, NULL);
    NONE();
    /* The expiry is also noticed by the next reading. */
    speed(rs, 29, t1 + 40 * SEC + MIN);
    ONE(OK, WARN);
    /* CRIT has its own clock. */
    speed(rs, 10, t1 + 2 * MIN);
    NONE();
    gw_rules_tick(rs, t1 + 3 * MIN - 1, record, NULL);
    NONE();
    gw_rules_tick(rs, t1 + 3 * MIN, record, NULL);
    ONE(WARN, CRIT);
    gw_rules_free(rs);
}

static void test_rate_of_change(void)
{
    struct gw_rule_def d;
    struct gw_rules *rs;
    uint64_t t = T0;

    gw_rule_def_init(&d);
    d.name = "speed-collapse";
    d.quantity = "SPEED";
    d.direction = GW_RULE_BELOW;
    d.rate_per_min = 20; /* km/h per minute, falling */
    d.rate_level = GW_ALERT_WARN;
    rs = build(&d, 1);
    speed(rs, 60, t);
    speed(rs, 55, t += MIN);
    speed(rs, 70, t += MIN); /* rising fast is fine for a BELOW rule */
    NONE();
    speed(rs, 40, t += MIN); /* -30 per minute */
    ONE(OK, WARN);
    CU_ASSERT_EQUAL(events[0].cause, GW_CAUSE_RATE);
    speed(rs, 39, t += MIN);
    ONE(WARN, OK);
    /* Over 30 s the same drop of 15 is 30 per minute. */
    speed(rs, 24, t += 30 * SEC);
    ONE(OK, WARN);
    /* A backlog frame neither moves the state nor the rate's base. */
    frame_start("ring-north", "n1", t - 5 * MIN, 1);
    frame_add(SPEED, 1, 100, GOOD);
    gw_rules_eval(rs, &frame, t + SEC, record, NULL);
    NONE();
    speed(rs, 23.5, t += MIN);
    ONE(WARN, OK);
    gw_rules_free(rs);

    /* ABOVE: rising faster than 50 per minute is CRIT (the default level). */
    gw_rule_def_init(&d);
    d.name = "surge";
    d.rate_per_min = 50;
    rs = build(&d, 1);
    speed(rs, 10, t);
    speed(rs, 5, t += SEC);
    NONE();
    speed(rs, 7, t += SEC); /* +2 in 1 s = 120 per minute */
    ONE(OK, CRIT);
    gw_rules_free(rs);
}

/* Failed sensors send placeholders; they must never raise or clear a threshold alert. */
static void test_bad_quality_and_backlog_do_not_move_thresholds(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs = build(&d, 1);
    uint64_t t = T0;

    frame_start("ring-north", "n1", t, 0);
    frame_add(SPEED, 1, 0, CITYGATE__V1__QUALITY__BAD_TIMEOUT);
    gw_rules_eval(rs, &frame, t, record, NULL);
    frame_start("ring-north", "n1", t, 1);
    frame_add(SPEED, 1, 3, GOOD);
    gw_rules_eval(rs, &frame, t, record, NULL);
    frame_start("ring-north", "n1", t, 0);
    frame_add(SPEED, 1, NAN, GOOD);
    gw_rules_eval(rs, &frame, t, record, NULL);
    NONE();
    speed(rs, 10, t += MIN);
    ONE(OK, CRIT);
    frame_start("ring-north", "n1", t += MIN, 0);
    frame_add(SPEED, 1, 80, CITYGATE__V1__QUALITY__UNCERTAIN);
    gw_rules_eval(rs, &frame, t, record, NULL);
    NONE();
    gw_rules_free(rs);
}

static void test_absence_fires_once_and_clears(void)
{
    struct gw_rule_def d;
    struct gw_rules *rs;

    gw_rule_def_init(&d);
    d.name = "silent";
    d.absence_ms = 5 * MIN;
    rs = build(&d, 1);
    frame_start("ring-north", "n1", T0, 0);
    frame_add(SPEED, 1, 50, GOOD);
    frame_add(SPEED, 2, 55, GOOD);
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), 0);
    gw_rules_tick(rs, T0 + 5 * MIN - 1, record, NULL);
    NONE();
    gw_rules_tick(rs, T0 + 5 * MIN, record, NULL);
    CU_ASSERT_EQUAL(n_events, 2); /* both lanes */
    for (size_t i = 0; i < n_events && i < 2; i++) {
        CU_ASSERT_EQUAL(events[i].new_level, GW_ALERT_CRIT);
        CU_ASSERT_EQUAL(events[i].cause, GW_CAUSE_ABSENCE);
        CU_ASSERT_STRING_EQUAL(events[i].quantity, "SPEED");
        CU_ASSERT_DOUBLE_EQUAL(events[i].value, events[i].lane == 1 ? 50 : 55, 0);
        CU_ASSERT_EQUAL(events[i].timestamp_ms, T0);
    }
    n_events = 0;
    gw_rules_tick(rs, T0 + 6 * MIN, record, NULL);
    gw_rules_tick(rs, T0 + 60 * MIN, record, NULL);
    NONE();
    /* The next frame clears the series it carries, even with a bad reading. */
    frame_start("ring-north", "n1", T0 + 61 * MIN, 0);
    frame_add(SPEED, 2, 0, CITYGATE__V1__QUALITY__BAD_GONE);
    gw_rules_eval(rs, &frame, T0 + 61 * MIN, record, NULL);
    ONE(CRIT, OK);
    CU_ASSERT_EQUAL(events[0].lane, 2);
    gw_rules_tick(rs, T0 + 62 * MIN, record, NULL);
    NONE();
    /* Lane 2 is watched again from its last reading. */
    gw_rules_tick(rs, T0 + 66 * MIN, record, NULL);
    ONE(OK, CRIT);
    gw_rules_free(rs);
}

/* Absence does not wait for a damping hold, and thresholds resume after it. */
static void test_absence_with_thresholds(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs;

    d.absence_ms = 5 * MIN;
    d.absence_level = GW_ALERT_WARN;
    d.hold_ms = 60 * MIN;
    rs = build(&d, 1);
    speed(rs, 10, T0);
    ONE(OK, CRIT);
    gw_rules_tick(rs, T0 + 5 * MIN, record, NULL);
    ONE(CRIT, WARN);
    CU_ASSERT_EQUAL(events[0].cause, GW_CAUSE_ABSENCE);
    speed(rs, 12, T0 + 6 * MIN);
    ONE(WARN, CRIT);
    CU_ASSERT_EQUAL(events[0].cause, GW_CAUSE_THRESHOLD);
    gw_rules_free(rs);
}

static void test_node_death(void)
{
    struct gw_rule_def defs[2];
    struct gw_rules *rs;

    gw_rule_def_init(&defs[0]);
    defs[0].name = "silent";
    defs[0].absence_ms = 10 * MIN;
    defs[1] = slow_rule(); /* no absence: death does not concern it */
    rs = build(defs, 2);
    speed(rs, 50, T0);
    NONE();
    CU_ASSERT_EQUAL(gw_rules_node_death(rs, "ring-north", "n1", T0 + SEC, record, NULL), 0);
    ONE(OK, CRIT);
    CU_ASSERT_STRING_EQUAL(events[0].rule, "silent");
    CU_ASSERT_EQUAL(events[0].cause, GW_CAUSE_DEATH);
    CU_ASSERT_STRING_EQUAL(events[0].node, "n1");
    CU_ASSERT_STRING_EQUAL(events[0].site, "ring-north");
    CU_ASSERT_EQUAL(gw_rules_node_death(rs, "ring-north", "n1", T0 + 2 * SEC, record, NULL), 0);
    gw_rules_tick(rs, T0 + 20 * MIN, record, NULL);
    NONE();
    CU_ASSERT_EQUAL(gw_rules_node_death(rs, "ring-north", "n9", T0, record, NULL), GW_ENOTFOUND);
    CU_ASSERT_EQUAL(gw_rules_node_death(rs, "ring-south", "n1", T0, record, NULL), GW_ENOTFOUND);
    /* Rebirth: the next frame clears it. */
    speed(rs, 50, T0 + 21 * MIN);
    ONE(CRIT, OK);
    gw_rules_free(rs);
}

/* Damping: after a change, a fall waits hold_ms; a rise never waits. */
static void test_damping(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs;
    uint64_t t0 = T0;

    d.warn_reset = d.crit_reset = NAN; /* no hysteresis: damping alone */
    d.hold_ms = 2 * MIN;
    rs = build(&d, 1);
    speed(rs, 29, t0);
    ONE(OK, WARN);
    speed(rs, 31, t0 + 10 * SEC);
    speed(rs, 29, t0 + 20 * SEC);
    speed(rs, 31, t0 + 30 * SEC);
    gw_rules_tick(rs, t0 + 2 * MIN - 1, record, NULL);
    NONE();
    gw_rules_tick(rs, t0 + 2 * MIN, record, NULL);
    ONE(WARN, OK);
    CU_ASSERT_DOUBLE_EQUAL(events[0].value, 31, 0);
    /* Flapping every 10 s for 10 minutes: at most one rise and one fall per hold. */
    for (uint64_t s = 0; s < 60; s++) {
        uint64_t now = t0 + 3 * MIN + s * 10 * SEC;
        speed(rs, s % 2 ? 31 : 29, now);
        gw_rules_tick(rs, now + 5 * SEC, record, NULL);
    }
    CU_ASSERT(n_events >= 8 && n_events <= 10);
    n_events = 0;
    /* Long after the last change a fall is immediate; a rise inside its hold too; a fall
     * inside the rise's hold waits for it. */
    uint64_t t2 = t0 + 20 * MIN;
    speed(rs, 31, t2);
    ONE(WARN, OK);
    speed(rs, 10, t2 + SEC);
    ONE(OK, CRIT);
    speed(rs, 50, t2 + 2 * SEC);
    gw_rules_tick(rs, t2 + SEC + 2 * MIN - 1, record, NULL);
    NONE();
    gw_rules_tick(rs, t2 + SEC + 2 * MIN, record, NULL);
    ONE(CRIT, OK);
    gw_rules_free(rs);
}

/* Globs select series; a rule that selects nothing costs nothing. */
static void test_selectors(void)
{
    struct gw_rule_def defs[4];
    struct gw_rules *rs;
    struct gw_rules_stats st;

    for (int i = 0; i < 4; i++) {
        gw_rule_def_init(&defs[i]);
        defs[i].direction = GW_RULE_ABOVE;
        defs[i].crit = 100;
    }
    defs[0].name = "lane1";
    defs[0].quantity = "SPEED";
    defs[0].lane = "1";
    defs[1].name = "pm";
    defs[1].quantity = "PM*";
    defs[2].name = "tunnel-only";
    defs[2].site = "tunnel-*";
    defs[3].name = "odd-nodes";
    defs[3].node = "n[13579]";
    defs[3].quantity = "SPEED";
    rs = build(defs, 4);
    frame_start("ring-north", "n2", T0, 0);
    frame_add(SPEED, 1, 150, GOOD);
    frame_add(SPEED, 2, 150, GOOD);
    frame_add(CITYGATE__V1__QUANTITY__PM10, 0, 150, GOOD);
    frame_add(CITYGATE__V1__QUANTITY__NO2, 0, 150, GOOD);
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), 0);
    CU_ASSERT_EQUAL(n_events, 2);
    CU_ASSERT_STRING_EQUAL(events[0].rule, "lane1");
    CU_ASSERT_EQUAL(events[0].lane, 1);
    CU_ASSERT_STRING_EQUAL(events[1].rule, "pm");
    CU_ASSERT_STRING_EQUAL(events[1].quantity, "PM10");
    n_events = 0;
    gw_rules_stats(rs, &st);
    CU_ASSERT_EQUAL(st.n_rules, 4);
    CU_ASSERT_EQUAL(st.n_nodes, 1);
    CU_ASSERT_EQUAL(st.n_series, 4);
    CU_ASSERT_EQUAL(st.n_states, 2);
    frame.device_id = "n3";
    gw_rules_eval(rs, &frame, T0, record, NULL);
    CU_ASSERT_EQUAL(n_events, 4); /* lane1, odd-nodes twice, pm */
    n_events = 0;
    frame.site_id = "tunnel-a";
    frame.device_id = "t1";
    gw_rules_eval(rs, &frame, T0, record, NULL);
    CU_ASSERT_EQUAL(n_events, 2 + 4); /* lane1, pm, and tunnel-only on all four */
    n_events = 0;
    gw_rules_free(rs);
}

/*
 * Readings of a quantity no rule selects keep no state: a frame of only those
 * creates no node, and beside a selected one they create no series.
 */
static void test_unselected_readings_keep_no_state(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs = build(&d, 1);
    struct gw_rules_stats st;

    frame_start("ring-north", "n1", T0, 0);
    frame_add(CITYGATE__V1__QUANTITY__NO2, 0, 40, GOOD);
    frame_add(CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, 1, 3, GOOD);
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), 0);
    gw_rules_stats(rs, &st);
    CU_ASSERT_EQUAL(st.n_nodes, 0);
    CU_ASSERT_EQUAL(st.n_series, 0);
    CU_ASSERT_EQUAL(st.state_bytes, 0);
    /* Speeds among them, in any order, are still each their own series. */
    frame_add(SPEED, 2, 10, GOOD);
    frame_add(CITYGATE__V1__QUANTITY__OCCUPANCY, 1, 50, GOOD);
    frame_add(SPEED, 1, 50, GOOD);
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), 0);
    ONE(OK, CRIT);
    CU_ASSERT_EQUAL(events[0].lane, 2);
    frame_start("ring-north", "n1", T0 + MIN, 0);
    frame_add(SPEED, 1, 10, GOOD);
    frame_add(CITYGATE__V1__QUANTITY__NO2, 0, 40, GOOD);
    frame_add(SPEED, 2, 50, GOOD);
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0 + MIN, record, NULL), 0);
    CU_ASSERT_EQUAL(n_events, 2);
    CU_ASSERT_EQUAL(events[0].lane, 1);
    CU_ASSERT_EQUAL(events[0].new_level, GW_ALERT_CRIT);
    CU_ASSERT_EQUAL(events[1].lane, 2);
    CU_ASSERT_EQUAL(events[1].new_level, GW_ALERT_OK);
    n_events = 0;
    gw_rules_stats(rs, &st);
    CU_ASSERT_EQUAL(st.n_nodes, 1);
    CU_ASSERT_EQUAL(st.n_series, 2);
    CU_ASSERT_EQUAL(st.n_states, 2);
    gw_rules_free(rs);
}

/* A node that moves site is matched again from scratch. */
static void test_node_moves_site(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs = build(&d, 1);
    struct gw_rules_stats st;

    speed(rs, 10, T0);
    ONE(OK, CRIT);
    frame_start("depot", "n1", T0 + MIN, 0);
    frame_add(SPEED, 1, 10, GOOD);
    gw_rules_eval(rs, &frame, T0 + MIN, record, NULL);
    NONE(); /* "depot" is not a ring road */
    gw_rules_stats(rs, &st);
    CU_ASSERT_EQUAL(st.n_nodes, 1);
    CU_ASSERT_EQUAL(st.n_states, 0);
    speed(rs, 10, T0 + 2 * MIN);
    ONE(OK, CRIT);
    gw_rules_free(rs);
}

static void test_bounds(void)
{
    struct gw_rule_def d = slow_rule();
    struct gw_rules *rs = NULL;
    struct gw_rules_limits small = {.max_nodes = 2, .max_series_per_node = 2};
    struct gw_rules_stats st;

    CU_ASSERT_FATAL(gw_rules_new(&d, 1, &small, &rs, NULL) == 0);
    frame_start("ring-north", "n1", T0, 0);
    frame_add(SPEED, 1, 10, GOOD);
    frame_add(SPEED, 2, 10, GOOD);
    frame_add(SPEED, 3, 10, GOOD); /* a third series does not fit */
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), GW_EFULL);
    CU_ASSERT_EQUAL(n_events, 2);
    n_events = 0;
    frame.device_id = "n2";
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), GW_EFULL);
    frame.device_id = "n3";
    CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, T0, record, NULL), GW_EFULL);
    gw_rules_stats(rs, &st);
    CU_ASSERT_EQUAL(st.n_nodes, 2);
    CU_ASSERT_EQUAL(st.n_series, 4);
    CU_ASSERT_EQUAL(st.n_nodes_refused, 1);
    CU_ASSERT_EQUAL(st.n_series_refused, 2);
    CU_ASSERT(st.state_bytes > 0);
    n_events = 0;
    gw_rules_free(rs);
}

struct bad_rule {
    void (*edit)(struct gw_rule_def *d);
    const char *message;
};

static void bad_name(struct gw_rule_def *d)
{
    d->name = "has space";
}
static void no_name(struct gw_rule_def *d)
{
    d->name = NULL;
}
static void long_glob(struct gw_rule_def *d)
{
    static char glob[GW_RULES_MAX_GLOB + 2];
    memset(glob, '*', sizeof glob - 1);
    d->site = glob;
}
static void bad_direction(struct gw_rule_def *d)
{
    d->direction = (enum gw_rule_dir)7;
}
static void bad_level(struct gw_rule_def *d)
{
    d->rate_level = GW_ALERT_OK;
}
static void crit_not_beyond(struct gw_rule_def *d)
{
    d->crit = 40;
    d->crit_reset = 45;
}
static void reset_wrong_side(struct gw_rule_def *d)
{
    d->warn_reset = 25;
}
static void reset_without(struct gw_rule_def *d)
{
    d->crit = NAN;
}
static void inf_threshold(struct gw_rule_def *d)
{
    d->warn = -INFINITY;
}
static void zero_rate(struct gw_rule_def *d)
{
    d->rate_per_min = 0;
}
static void never_fires(struct gw_rule_def *d)
{
    d->warn = d->crit = d->warn_reset = d->crit_reset = NAN;
}

static void test_invalid_rules(void)
{
    static const struct bad_rule cases[] = {
        {bad_name, "rule name is not"},
        {no_name, "rule name is not"},
        {long_glob, "longer than 128"},
        {bad_direction, "direction"},
        {bad_level, "warn or crit"},
        {crit_not_beyond, "crit 40 is not beyond warn 30"},
        {reset_wrong_side, "warn_reset 25 is beyond warn 30"},
        {reset_without, "crit_reset without crit"},
        {inf_threshold, "not finite"},
        {zero_rate, "rate_per_min"},
        {never_fires, "can never fire"},
    };
    struct gw_rule_def defs[2];
    struct gw_rules *rs = NULL;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gw_rules_diag diag = {99, ""};
        defs[0] = slow_rule();
        defs[0].name = "first";
        defs[1] = slow_rule();
        cases[i].edit(&defs[1]);
        int rc = gw_rules_new(defs, 2, &limits, &rs, &diag);
        if (rc != GW_ECONFIG || !strstr(diag.message, cases[i].message))
            fprintf(stderr, "\ncase %zu: rc %d: %s\n", i, rc, diag.message);
        CU_ASSERT_EQUAL(rc, GW_ECONFIG);
        CU_ASSERT_EQUAL(diag.rule, 1);
        CU_ASSERT(strstr(diag.message, cases[i].message) != NULL);
        CU_ASSERT(rs == NULL);
    }
    defs[0] = defs[1] = slow_rule();
    struct gw_rules_diag diag;
    CU_ASSERT_EQUAL(gw_rules_new(defs, 2, &limits, &rs, &diag), GW_ECONFIG);
    CU_ASSERT(strstr(diag.message, "name used by rule 0") != NULL);
    struct gw_rules_limits zero = {0, 0};
    CU_ASSERT_EQUAL(gw_rules_new(defs, 1, &zero, &rs, NULL), GW_EINVAL);
    CU_ASSERT_EQUAL(gw_rules_new(defs, GW_RULES_MAX_RULES + 1, &limits, &rs, NULL), GW_EINVAL);
    /* No rules at all is a valid, quiet rule set. */
    CU_ASSERT_EQUAL(gw_rules_new(NULL, 0, &limits, &rs, NULL), 0);
    CU_ASSERT_EQUAL(speed(rs, 1, T0), 0);
    gw_rules_free(rs);
    gw_rules_free(NULL);
    CU_ASSERT_STRING_EQUAL(gw_alert_level_name(GW_ALERT_CRIT), "crit");
    CU_ASSERT_STRING_EQUAL(gw_alert_level_name(3), "unknown");
    CU_ASSERT_STRING_EQUAL(gw_alert_cause_name(GW_CAUSE_DEATH), "death");
    CU_ASSERT_STRING_EQUAL(gw_alert_cause_name(-1), "unknown");
}

/* After the first frame of a node, frames allocate nothing. */
static void test_steady_state_allocates_nothing(void)
{
    struct gw_rule_def defs[2];
    struct gw_rules *rs;
    uint64_t t = T0;

    defs[0] = slow_rule();
    gw_rule_def_init(&defs[1]);
    defs[1].name = "silent";
    defs[1].absence_ms = MIN;
    defs[1].hold_ms = 30 * SEC;
    rs = build(defs, 2);
    frame_start("ring-north", "n1", t, 0);
    for (uint32_t lane = 1; lane <= 8; lane++)
        frame_add(SPEED, lane, 50, GOOD);
    gw_rules_eval(rs, &frame, t, record, NULL);
    gw_alloc_fail_after(-1); /* resets the count */
    for (int i = 0; i < 1000; i++) {
        t += 10 * SEC;
        frame.timestamp_ms = t;
        for (int r = 0; r < 8; r++)
            readings[r].value = (i + r) % 5 ? 50 : 10;
        CU_ASSERT_EQUAL(gw_rules_eval(rs, &frame, t, record, NULL), 0);
        gw_rules_tick(rs, t, record, NULL);
    }
    gw_rules_node_death(rs, "ring-north", "n1", t, record, NULL);
    gw_rules_tick(rs, t + 10 * MIN, record, NULL);
    CU_ASSERT_EQUAL(gw_alloc_count(), 0);
    CU_ASSERT(n_events > 100);
    n_events = 0;
    gw_rules_free(rs);
}

/* A frame from node n<node> on ring-north with n_lanes GOOD speeds of 10 km/h. */
static int eval_lanes(struct gw_rules *rs, int node, uint32_t n_lanes)
{
    char id[8];
    snprintf(id, sizeof id, "n%d", node);
    frame_start("ring-north", id, T0, 0);
    for (uint32_t lane = 1; lane <= n_lanes; lane++)
        frame_add(SPEED, lane, 10, GOOD);
    return gw_rules_eval(rs, &frame, T0, NULL, NULL);
}

/* The Nth allocation fails, for every N: GW_ENOMEM, nothing leaks, the next try works. */
static void test_allocation_failures(void)
{
    struct gw_rule_def defs[3];
    const struct gw_rules_limits big = {.max_nodes = 1000, .max_series_per_node = 16};
    long n;

    defs[0] = slow_rule();
    defs[1] = slow_rule();
    defs[1].name = "slow-lane-2";
    defs[1].lane = "2";
    gw_rule_def_init(&defs[2]);
    defs[2].name = "silent";
    defs[2].absence_ms = MIN;
    for (n = 0; n < 100000; n++) {
        struct gw_rules *rs = NULL;
        int failed = 0;
        gw_alloc_fail_after(n);
        int rc = gw_rules_new(defs, 3, &big, &rs, NULL);
        if (rc != 0) {
            CU_ASSERT_EQUAL(rc, GW_ENOMEM);
            failed = 1;
        }
        /* 400 nodes (uthash grows its buckets); three of them with 9 series (the series array
         * grows), the others with one. */
        for (int node = 0; node < 400 && !failed; node++) {
            rc = eval_lanes(rs, node, node < 3 ? 9 : 1);
            if (rc != 0) {
                CU_ASSERT_EQUAL_FATAL(rc, GW_ENOMEM);
                failed = 1;
            }
        }
        gw_alloc_fail_after(-1);
        /* What failed is retried by the next frame. */
        if (failed && rs)
            CU_ASSERT_EQUAL(eval_lanes(rs, 0, 9), 0);
        if (!failed) {
            struct gw_rules_stats st;
            gw_rules_stats(rs, &st);
            CU_ASSERT_EQUAL(st.n_nodes, 400);
            CU_ASSERT_EQUAL(st.n_series, 3 * 9 + 397);
            CU_ASSERT_EQUAL(st.n_states, 3 * (9 + 1 + 9) + 397 * 2);
        }
        gw_rules_free(rs);
        if (!failed)
            break;
    }
    CU_ASSERT(n > 400 * 3 && n < 100000);
}

/*
 * A reload: "slow-traffic" unchanged keeps its CRIT silently and goes on from
 * it (hysteresis included); relaxed, it falls to OK at once, hold or not;
 * removed, its CRIT is cleared; a new rule starts from OK.
 */
static void test_carry_over_reload(void)
{
    struct gw_rule_def d[2] = {slow_rule(), slow_rule()};
    d[0].hold_ms = 10 * MIN;
    d[1].name = "other";
    uint64_t t = T0;
    struct gw_rules *old = build(d, 1);
    speed(old, 12, t += MIN);
    ONE(OK, CRIT);

    /* Same definition, plus a new rule: nothing notified, and the state is CRIT still. */
    struct gw_rules *same = build(d, 2);
    gw_rules_carry(same, old, t += SEC, record, NULL);
    NONE();
    speed(same, 18, t += SEC); /* under crit_reset 20: CRIT holds; "other" raises from OK */
    ONE(OK, WARN);
    CU_ASSERT_STRING_EQUAL(events[0].rule, "other");
    n_events = 0;
    gw_rules_free(old);

    /* Relaxed (warn 10, crit 5) while at 18: OK at once, within the damping hold. */
    struct gw_rule_def relaxed[2] = {d[0], d[1]};
    relaxed[0].warn = 10;
    relaxed[0].crit = 5;
    relaxed[0].warn_reset = relaxed[0].crit_reset = NAN;
    struct gw_rules *rel = build(relaxed, 2);
    gw_rules_carry(rel, same, t += SEC, record, NULL);
    ONE(CRIT, OK);
    CU_ASSERT_STRING_EQUAL(events[0].rule, "slow-traffic");
    CU_ASSERT_STRING_EQUAL(events[0].node, "n1");
    CU_ASSERT_DOUBLE_EQUAL(events[0].value, 18, 0);
    CU_ASSERT_EQUAL(events[0].now_ms, t);
    gw_rules_free(same);

    /* "other" removed while WARN: cleared; "slow-traffic" kept as it was (OK). */
    struct gw_rules *one = build(relaxed, 1);
    gw_rules_carry(one, rel, t += SEC, record, NULL);
    ONE(WARN, OK);
    CU_ASSERT_STRING_EQUAL(events[0].rule, "other");
    n_events = 0;
    speed(one, 4, t += SEC);
    ONE(OK, CRIT);
    gw_rules_free(rel);
    gw_rules_free(one);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"speed falls to WARN then CRIT, then recovers", test_speed_falls_then_recovers},
        {"hysteresis holds through small recoveries", test_hysteresis_holds},
        {"for duration", test_for_duration},
        {"rate of change", test_rate_of_change},
        {"bad quality and backlog do not move thresholds",
         test_bad_quality_and_backlog_do_not_move_thresholds},
        {"absence fires once and clears", test_absence_fires_once_and_clears},
        {"absence with thresholds", test_absence_with_thresholds},
        {"node death", test_node_death},
        {"damping", test_damping},
        {"selectors", test_selectors},
        {"unselected readings keep no state", test_unselected_readings_keep_no_state},
        {"node moves site", test_node_moves_site},
        {"bounds", test_bounds},
        {"invalid rules", test_invalid_rules},
        {"steady state allocates nothing", test_steady_state_allocates_nothing},
        {"allocation failures", test_allocation_failures},
        {"states carry over a reload", test_carry_over_reload},
        {NULL, NULL},
    };
    return cu_main("rules", tests);
}
