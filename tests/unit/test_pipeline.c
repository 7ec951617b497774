/*
 * test_pipeline.c -- the core stages wired together: admission reasons are
 * counted, commits feed the windows, and a snapshot restored into a new
 * pipeline continues exactly like the original (same aggregates, same
 * duplicates), which is what crash recovery rests on.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cu.h"
#include "err.h"
#include "lp.h"
#include "pipeline.h"

#define DEVICES 3

static struct gw_registry *reg;
static uint8_t keys[DEVICES][32];

/* Admits as the gateway does: the topic parsed once, then the frame. */
static int admit(struct gw_pipeline *p, const char *topic, const uint8_t *buf, size_t len,
                 uint64_t now, struct gw_admitted *a, struct gw_reject_diag *diag)
{
    struct gw_topic t;
    int parsed = gw_topic_parse(topic, strlen(topic), &t) == 0;
    struct gw_arrival m = {parsed ? &t : NULL, buf, len, now};
    return gw_pipeline_admit(p, &m, a, diag);
}

/* Nowhere: windows close at the ticks only, alerts are not looked at. */
static const struct gw_pipeline_out no_out = {NULL, NULL, NULL, NULL};

/* What a refusal returns and says: the reason, when rc is GW_EREJECTED; rc otherwise. */
static int reason_of(int rc, const struct gw_reject_diag *diag)
{
    return rc == GW_EREJECTED ? diag->reason : rc;
}

static void test_registry(void)
{
    char text[2048];
    size_t off = 0;
    for (int d = 0; d < DEVICES; d++) {
        off += (size_t)snprintf(text + off, sizeof text - off, "[device n%d]\nsite = s\nkey = ", d);
        for (int b = 0; b < 32; b++) {
            keys[d][b] = (uint8_t)(d * 13 + b);
            off += (size_t)snprintf(text + off, sizeof text - off, "%02x", keys[d][b]);
        }
        off += (size_t)snprintf(text + off, sizeof text - off, "\n");
    }
    CU_ASSERT_FATAL(gw_registry_new(text, off, &reg, NULL) == 0);
}

/* A pipeline whose windows hold at most max_series series, max_per_node of one node (0: defaults).
 */
static struct gw_pipeline *pipeline_with_series(size_t max_series, size_t max_per_node)
{
    struct gw_pipeline_config c;
    struct gw_pipeline *p = NULL;
    char why[128];
    memset(&c, 0, sizeof c);
    c.max_frame_bytes = 65536;
    c.limits.max_skew_ms = 30000;
    c.limits.max_age_ms = 86400000;
    c.max_devices = 100;
    c.dedup_window = 256;
    gw_windows_config_default(&c.windows);
    c.windows.widths_ms[0] = 2000;
    c.windows.widths_ms[1] = 10000;
    c.windows.n_widths = 2;
    c.windows.grace_ms = 1000;
    c.windows.late_horizon_ms = 5000;
    if (max_series)
        c.windows.max_series = max_series;
    if (max_per_node)
        c.windows.max_node_series = max_per_node;
    CU_ASSERT_FATAL(gw_pipeline_new(&c, reg, &p, why, sizeof why) == 0);
    return p;
}

static struct gw_pipeline *new_pipeline(void)
{
    return pipeline_with_series(0, 0);
}

static size_t frame(int d, uint64_t seq, uint64_t ts, double speed, uint8_t *out, size_t cap)
{
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    Citygate__V1__Reading r = CITYGATE__V1__READING__INIT, *rp = &r;
    char id[8];
    size_t len = 0;
    snprintf(id, sizeof id, "n%d", d);
    f.device_id = id;
    f.site_id = "s";
    f.boot_id = 9;
    f.seq = seq;
    f.timestamp_ms = ts;
    r.quantity = CITYGATE__V1__QUANTITY__SPEED;
    r.unit = CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR;
    r.quality = CITYGATE__V1__QUALITY__GOOD;
    r.value = speed;
    r.lane = 1;
    r.sensor_id = "loop-1";
    f.readings = &rp;
    f.n_readings = 1;
    CU_ASSERT_FATAL(wire_encode(&f, keys[d], 32, out, cap, &len) == 0);
    return len;
}

/* Aggregates are collected as line protocol, to compare two runs byte for byte. */
struct lines {
    char text[1 << 16];
    struct gw_lpbuf b;
    size_t tick_nodes;    /* nodes per gw_pipeline_tick() call */
    unsigned ticks_again; /* calls that left work due */
};

static int collect(void *ctx, const struct gw_aggregate *agg)
{
    struct lines *l = ctx;
    struct gw_lp_naming naming = {GW_LP_BY_FAMILY, NULL, NULL};
    CU_ASSERT(gw_lp_encode_aggregate(&l->b, &naming, agg) == 0);
    return 0;
}

/*
 * Feeds frames seq from..to of every device, one per 100 ms of arrival time;
 * the windows close at the ticks only.
 */
static int feed(struct gw_pipeline *p, uint64_t from, uint64_t to, uint64_t t0, struct lines *out)
{
    int rejected = 0;
    for (uint64_t s = from; s <= to; s++) {
        for (int d = 0; d < DEVICES; d++) {
            uint8_t buf[512];
            char topic[64];
            struct gw_admitted a;
            uint64_t now = t0 + s * 100;
            size_t len = frame(d, s, now - 50, 40 + (double)((s * 7 + d) % 30), buf, sizeof buf);
            snprintf(topic, sizeof topic, "city/v1/s/n%d/data", d);
            if (admit(p, topic, buf, len, now, &a, NULL) == 0)
                gw_pipeline_commit(p, &a, now, &no_out, NULL); /* ticks close */
            else
                rejected++;
        }
        int rc;
        struct gw_pipeline_out sink = {collect, out, NULL, NULL};
        while ((rc = gw_pipeline_tick(p, t0 + s * 100, out->tick_nodes ? out->tick_nodes : SIZE_MAX,
                                      &sink)) == 1)
            out->ticks_again++;
        CU_ASSERT(rc == 0);
    }
    return rejected;
}

static void test_reasons_are_counted(void)
{
    struct gw_pipeline *p = new_pipeline();
    struct gw_pipeline_stats st;
    struct gw_reject_diag diag;
    struct gw_admitted a;
    uint8_t buf[512];
    uint64_t now = 1795000000000ULL;
    size_t len = frame(0, 1, now, 50, buf, sizeof buf);

    CU_ASSERT(reason_of(admit(p, "city/v1/s/n1/data", buf, len, now, &a, &diag), &diag) ==
              GW_REJECT_TOPIC_MISMATCH);
    CU_ASSERT(reason_of(admit(p, "city/v1/s/n0/status", buf, len, now, &a, &diag), &diag) ==
              GW_REJECT_BAD_TOPIC);
    buf[len / 2] ^= 1;
    CU_ASSERT(reason_of(admit(p, "city/v1/s/n0/data", buf, len, now, &a, &diag), &diag) ==
              WIRE_EBAD_SIGNATURE);
    buf[len / 2] ^= 1;
    CU_ASSERT_FATAL(admit(p, "city/v1/s/n0/data", buf, len, now, &a, &diag) == 0);
    gw_pipeline_commit(p, &a, now, &no_out, NULL);
    CU_ASSERT(reason_of(admit(p, "city/v1/s/n0/data", buf, len, now, &a, &diag), &diag) ==
              GW_REJECT_DUPLICATE);
    gw_pipeline_stats(p, &st);
    CU_ASSERT(st.frames_in == 5 && st.frames_accepted == 1);
    CU_ASSERT(st.rejected[GW_REJECT_TOPIC_MISMATCH] == 1 && st.rejected[GW_REJECT_BAD_TOPIC] == 1);
    CU_ASSERT(st.rejected[WIRE_EBAD_SIGNATURE] == 1 && st.rejected[GW_REJECT_DUPLICATE] == 1);
    CU_ASSERT(st.readings_folded == 1);
    gw_pipeline_free(p);
}

/*
 * A commit whose frame dedup has recorded since its admission (here: the
 * same admitted frame committed twice) refuses it as a duplicate and says so,
 * so the caller does not count it as a frame of its node; every frame in is
 * counted once, accepted or refused.
 */
static void test_commit_of_a_recorded_frame_is_refused(void)
{
    struct gw_pipeline *p = new_pipeline();
    struct gw_pipeline_stats st;
    struct gw_windows_stats ws;
    struct gw_reject_diag diag;
    struct gw_admitted a;
    uint8_t buf[512];
    uint64_t now = 1795000000000ULL;
    size_t len = frame(0, 1, now, 50, buf, sizeof buf);

    CU_ASSERT_FATAL(admit(p, "city/v1/s/n0/data", buf, len, now, &a, NULL) == 0);
    CU_ASSERT_EQUAL(gw_pipeline_commit(p, &a, now, &no_out, &diag), 0);
    CU_ASSERT_EQUAL(reason_of(gw_pipeline_commit(p, &a, now, &no_out, &diag), &diag),
                    GW_REJECT_DUPLICATE);
    gw_pipeline_stats(p, &st);
    gw_pipeline_window_stats(p, &ws);
    CU_ASSERT_EQUAL(st.frames_in, 1);
    CU_ASSERT_EQUAL(st.frames_accepted, 1);
    CU_ASSERT_EQUAL(st.rejected[GW_REJECT_DUPLICATE], 1);
    CU_ASSERT_EQUAL(st.readings_folded, 1);
    CU_ASSERT_EQUAL(ws.values_added, 1);
    gw_pipeline_free(p);
}

/* A frame of device d with n GOOD speed readings on lane 1, from sensors "s0", "s1", ... */
static size_t frame_of_sensors(int d, uint64_t seq, uint64_t ts, size_t n, uint8_t *out, size_t cap)
{
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    Citygate__V1__Reading r[32], *rp[32];
    char id[8], sensor[32][24];
    size_t len = 0;
    CU_ASSERT_FATAL(n <= 32);
    snprintf(id, sizeof id, "n%d", d);
    f.device_id = id;
    f.site_id = "s";
    f.boot_id = 9;
    f.seq = seq;
    f.timestamp_ms = ts;
    for (size_t i = 0; i < n; i++) {
        citygate__v1__reading__init(&r[i]);
        r[i].quantity = CITYGATE__V1__QUANTITY__SPEED;
        r[i].unit = CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR;
        r[i].quality = CITYGATE__V1__QUALITY__GOOD;
        r[i].value = 50;
        r[i].lane = 1;
        snprintf(sensor[i], sizeof sensor[i], "s%zu", i);
        r[i].sensor_id = sensor[i];
        rp[i] = &r[i];
    }
    f.readings = rp;
    f.n_readings = n;
    CU_ASSERT_FATAL(wire_encode(&f, keys[d], 32, out, cap, &len) == 0);
    return len;
}

static void admit_commit(struct gw_pipeline *p, int d, const uint8_t *buf, size_t len, uint64_t now)
{
    char topic[64];
    struct gw_admitted a;
    snprintf(topic, sizeof topic, "city/v1/s/n%d/data", d);
    CU_ASSERT_FATAL(admit(p, topic, buf, len, now, &a, NULL) == 0);
    gw_pipeline_commit(p, &a, now, &no_out, NULL);
}

/*
 * One device's sensor ids cannot take the series every other device needs:
 * with room for 20 series, 8 per node, device 0's 20 sensors get 8 and the
 * other devices still get theirs; each refusal is counted by its cause.
 */
static void test_one_device_cannot_take_every_series(void)
{
    struct gw_pipeline *p = pipeline_with_series(20, 8);
    struct gw_pipeline_stats ps;
    struct gw_windows_stats ws;
    uint8_t buf[2048];
    uint64_t now = 1795000000000ULL;

    admit_commit(p, 0, buf, frame_of_sensors(0, 1, now, 20, buf, sizeof buf), now);
    admit_commit(p, 0, buf, frame_of_sensors(0, 2, now + 100, 20, buf, sizeof buf), now + 100);
    admit_commit(p, 1, buf, frame(1, 1, now, 50, buf, sizeof buf), now + 200);
    admit_commit(p, 2, buf, frame(2, 1, now, 50, buf, sizeof buf), now + 200);
    gw_pipeline_stats(p, &ps);
    gw_pipeline_window_stats(p, &ws);
    CU_ASSERT_EQUAL(ps.frames_accepted, 4);
    CU_ASSERT_EQUAL(ps.readings_in, 42);
    CU_ASSERT_EQUAL(ps.readings_folded, 2 * 8 + 2);
    CU_ASSERT_EQUAL(ws.series, 10);
    CU_ASSERT_EQUAL(ws.node_series_full, 2 * 12);
    CU_ASSERT_EQUAL(ws.series_refused, 0);

    /* The table itself still has a bound: more devices than it has room for are refused. */
    struct gw_pipeline *q = pipeline_with_series(2, 8);
    admit_commit(q, 0, buf, frame_of_sensors(0, 1, now, 3, buf, sizeof buf), now);
    admit_commit(q, 1, buf, frame(1, 1, now, 50, buf, sizeof buf), now);
    gw_pipeline_window_stats(q, &ws);
    CU_ASSERT(ws.series == 2 && ws.series_refused == 2 && ws.node_series_full == 0);
    gw_pipeline_free(q);
    gw_pipeline_free(p);
}

/* Snapshot at every tenth step of a run; the restored copy must continue identically. */
static void test_snapshot_restore_continues_identically(void)
{
    static struct lines a, b;
    uint64_t t0 = 1795000000000ULL;

    for (uint64_t cut = 10; cut <= 120; cut += 10) {
        struct gw_pipeline *p = new_pipeline(), *q = new_pipeline();
        uint8_t *snap = NULL;
        size_t len = 0;
        gw_lpbuf_init(&a.b, a.text, sizeof a.text);
        gw_lpbuf_init(&b.b, b.text, sizeof b.text);

        CU_ASSERT(feed(p, 1, cut, t0, &a) == 0);
        CU_ASSERT_FATAL(gw_pipeline_snapshot(p, &snap, &len) == 0);
        int rc = gw_pipeline_restore(q, snap, len);
        if (rc != 0)
            fprintf(stderr, "\nrestore at %llu: %s\n", (unsigned long long)cut, gw_strerror(rc));
        CU_ASSERT_FATAL(rc == 0);
        a.b.len = 0;
        /* The last ten frames again: duplicates for both. */
        CU_ASSERT(feed(p, cut - 9, 150, t0, &a) == 10 * DEVICES);
        CU_ASSERT(feed(q, cut - 9, 150, t0, &b) == 10 * DEVICES);
        CU_ASSERT(a.b.len > 0);
        CU_ASSERT(a.b.len == b.b.len && memcmp(a.text, b.text, a.b.len) == 0);
        gw_free(snap);
        gw_pipeline_free(p);
        gw_pipeline_free(q);
    }
}

/* Counts aggregates and the earliest window start among them. */
struct starts {
    unsigned n;
    uint64_t earliest;
};

static int note_start(void *ctx, const struct gw_aggregate *agg)
{
    struct starts *st = ctx;
    st->n++;
    if (st->n == 1 || (uint64_t)agg->start_ms < st->earliest)
        st->earliest = (uint64_t)agg->start_ms;
    return 0;
}

/* Feeds frames seq from..to of every device, as feed(), into note_start. */
static void feed_starts(struct gw_pipeline *p, uint64_t from, uint64_t to, uint64_t t0,
                        struct starts *out)
{
    struct gw_pipeline_out sink = {note_start, out, NULL, NULL};
    for (uint64_t s = from; s <= to; s++) {
        for (int d = 0; d < DEVICES; d++) {
            uint8_t buf[512];
            char topic[64];
            struct gw_admitted a;
            uint64_t now = t0 + s * 100;
            size_t len = frame(d, s, now - 50, 50, buf, sizeof buf);
            snprintf(topic, sizeof topic, "city/v1/s/n%d/data", d);
            if (admit(p, topic, buf, len, now, &a, NULL) == 0)
                gw_pipeline_commit(p, &a, now, &sink, NULL);
        }
        CU_ASSERT(gw_pipeline_tick(p, t0 + s * 100, SIZE_MAX, &sink) == 0);
    }
}

/*
 * A replay from a journal whose start is gone: no window that may hold what
 * arrived before the first record replayed (start before it plus max_ahead)
 * is emitted, every other one is, exactly as without the mark; the mark
 * survives a snapshot.
 */
static void test_incomplete_windows_are_held_back(void)
{
    uint64_t t0 = 1795000000000ULL, first = t0 + 10 * 100;
    uint64_t mark = first + 30000; /* windows.max_ahead: 30 s by default */
    struct gw_pipeline *p = new_pipeline(), *whole = new_pipeline(), *q = new_pipeline();
    struct starts held = {0, 0}, all = {0, 0}, after = {0, 0};
    struct gw_pipeline_stats st;
    uint8_t *snap = NULL;
    size_t len = 0;

    gw_pipeline_mark_incomplete(p, first);
    feed_starts(p, 10, 200, t0, &held);
    CU_ASSERT_FATAL(gw_pipeline_snapshot(p, &snap, &len) == 0);
    CU_ASSERT_FATAL(gw_pipeline_restore(q, snap, len) == 0);
    gw_free(snap);
    feed_starts(p, 201, 600, t0, &held);
    feed_starts(q, 201, 600, t0, &after);
    feed_starts(whole, 10, 600, t0, &all);
    gw_pipeline_stats(p, &st);
    CU_ASSERT(held.n > 0 && held.earliest >= mark);
    CU_ASSERT(after.n > 0 && after.earliest >= mark);
    CU_ASSERT(all.earliest < mark);
    CU_ASSERT(st.windows_incomplete > 0);
    CU_ASSERT_EQUAL(held.n + st.windows_incomplete, all.n);
    gw_pipeline_free(p);
    gw_pipeline_free(q);
    gw_pipeline_free(whole);
}

/* Windows closed a node at a time come out exactly as when closed all at once. */
static void test_windows_close_in_parts(void)
{
    static struct lines all, parts;
    uint64_t t0 = 1795000000000ULL;
    struct gw_pipeline *p = new_pipeline(), *q = new_pipeline();

    gw_lpbuf_init(&all.b, all.text, sizeof all.text);
    gw_lpbuf_init(&parts.b, parts.text, sizeof parts.text);
    parts.tick_nodes = 1;
    CU_ASSERT(feed(p, 1, 150, t0, &all) == 0);
    CU_ASSERT(feed(q, 1, 150, t0, &parts) == 0);
    CU_ASSERT(all.ticks_again == 0);
    CU_ASSERT(parts.ticks_again >= 2 * 6); /* 15 s: 3 nodes at each 2 s boundary */
    CU_ASSERT(all.b.len > 0);
    CU_ASSERT(all.b.len == parts.b.len && memcmp(all.text, parts.text, all.b.len) == 0);
    gw_pipeline_free(p);
    gw_pipeline_free(q);
}

/* A damaged snapshot is refused and leaves the pipeline as new. */
static void test_damaged_snapshot_is_refused(void)
{
    static struct lines a, b;
    uint64_t t0 = 1795000000000ULL;
    struct gw_pipeline *p = new_pipeline();
    uint8_t *snap = NULL;
    size_t len = 0;
    gw_lpbuf_init(&a.b, a.text, sizeof a.text);
    CU_ASSERT(feed(p, 1, 40, t0, &a) == 0);
    CU_ASSERT_FATAL(gw_pipeline_snapshot(p, &snap, &len) == 0);
    for (size_t cut = 0; cut < len; cut += 7) {
        struct gw_pipeline *q = new_pipeline();
        struct gw_pipeline_stats st;
        CU_ASSERT(gw_pipeline_restore(q, snap, cut) == GW_EINVAL);
        /* As new: every frame is accepted again. */
        gw_lpbuf_init(&b.b, b.text, sizeof b.text);
        CU_ASSERT(feed(q, 1, 5, t0, &b) == 0);
        gw_pipeline_stats(q, &st);
        CU_ASSERT(st.frames_accepted == 5 * DEVICES);
        gw_pipeline_free(q);
    }
    gw_free(snap);
    gw_pipeline_free(p);
}

/* A status of device d signed with key (NULL: the device's own), of boot and state. */
static size_t status(int d, const uint8_t *key, const char *site, uint64_t boot,
                     Citygate__V1__NodeState state, uint8_t *out, size_t cap)
{
    Citygate__V1__Status s = CITYGATE__V1__STATUS__INIT;
    char id[8];
    size_t len = 0;
    snprintf(id, sizeof id, "n%d", d);
    s.device_id = id;
    s.site_id = (char *)site;
    s.boot_id = boot;
    s.state = state;
    s.time_ms = 1795000000000ULL;
    CU_ASSERT_FATAL(wire_status_encode(&s, key ? key : keys[d], 32, out, cap, &len) == 0);
    return len;
}

static unsigned n_alerts;

static void count_alert(void *ctx, const struct gw_alert_event *ev)
{
    (void)ctx;
    CU_ASSERT_EQUAL(ev->new_level, GW_ALERT_CRIT);
    CU_ASSERT_EQUAL(ev->cause, GW_CAUSE_DEATH);
    n_alerts++;
}

/* A status message on topic t, its alerts counted by count_alert(). */
static int status_in(struct gw_pipeline *p, const struct gw_topic *t, const uint8_t *buf,
                     size_t len, uint64_t now, struct gw_reject_diag *diag)
{
    struct gw_arrival m = {t, buf, len, now};
    struct gw_pipeline_out out = {NULL, NULL, count_alert, NULL};
    return gw_pipeline_status(p, &m, &out, diag);
}

/*
 * Only a death signed by the device, on its own topic, for the boot its
 * frames come from, fires the absence rules; everything else is refused and
 * counted by reason. An anonymous '{"state":"dead"}' used to fire them.
 */
static void test_status_is_signed(void)
{
    struct gw_rule_def rule;
    gw_rule_def_init(&rule);
    rule.name = "silent";
    rule.quantity = "SPEED";
    rule.absence_ms = 60000;
    struct gw_pipeline *p = new_pipeline();
    char why[128];
    uint64_t now = 1795000000000ULL;
    CU_ASSERT_FATAL(gw_pipeline_set_rules(p, &rule, 1, now, &no_out, why, sizeof why) == 0);
    struct gw_pipeline_stats st;
    struct gw_reject_diag diag;
    struct gw_admitted a;
    struct gw_topic t;
    uint8_t buf[512];

    size_t len = frame(0, 1, now, 50, buf, sizeof buf); /* boot 9 */
    CU_ASSERT_FATAL(admit(p, "city/v1/s/n0/data", buf, len, now, &a, NULL) == 0);
    gw_pipeline_commit(p, &a, now, &no_out, NULL);
    CU_ASSERT_FATAL(gw_topic_parse("city/v1/s/n0/status", 19, &t) == 0);

    static const char anonymous[] = "{\"state\":\"dead\"}";
    CU_ASSERT_EQUAL(
        reason_of(status_in(p, &t, (const uint8_t *)anonymous, sizeof anonymous - 1, now, &diag),
                  &diag),
        WIRE_EMALFORMED);
    len = status(0, keys[1], "s", 9, CITYGATE__V1__NODE_STATE__OFFLINE, buf, sizeof buf);
    CU_ASSERT_EQUAL(reason_of(status_in(p, &t, buf, len, now, &diag), &diag), WIRE_EBAD_SIGNATURE);
    len = status(1, NULL, "s", 9, CITYGATE__V1__NODE_STATE__OFFLINE, buf, sizeof buf);
    CU_ASSERT_EQUAL(reason_of(status_in(p, &t, buf, len, now, &diag), &diag),
                    GW_REJECT_TOPIC_MISMATCH); /* n1's death on n0's topic */
    len = status(0, NULL, "s", 8, CITYGATE__V1__NODE_STATE__OFFLINE, buf, sizeof buf);
    CU_ASSERT_EQUAL(reason_of(status_in(p, &t, buf, len, now, &diag), &diag),
                    GW_REJECT_REPLAY); /* the will of an earlier boot */
    CU_ASSERT_EQUAL(n_alerts, 0);

    len = status(0, NULL, "s", 9, CITYGATE__V1__NODE_STATE__ONLINE, buf, sizeof buf);
    CU_ASSERT_EQUAL(status_in(p, &t, buf, len, now, &diag), 0);
    CU_ASSERT_EQUAL(n_alerts, 0);
    len = status(0, NULL, "s", 9, CITYGATE__V1__NODE_STATE__OFFLINE, buf, sizeof buf);
    CU_ASSERT_EQUAL(status_in(p, &t, buf, len, now + 1, &diag), 1);
    CU_ASSERT_EQUAL(n_alerts, 1);

    gw_pipeline_stats(p, &st);
    CU_ASSERT_EQUAL(st.status_messages, 6);
    CU_ASSERT_EQUAL(st.births, 1);
    CU_ASSERT_EQUAL(st.deaths, 1);
    CU_ASSERT_EQUAL(st.status_rejected[WIRE_EMALFORMED], 1);
    CU_ASSERT_EQUAL(st.status_rejected[WIRE_EBAD_SIGNATURE], 1);
    CU_ASSERT_EQUAL(st.status_rejected[GW_REJECT_TOPIC_MISMATCH], 1);
    CU_ASSERT_EQUAL(st.status_rejected[GW_REJECT_REPLAY], 1);
    CU_ASSERT_EQUAL(st.rejected[GW_REJECT_REPLAY], 0); /* frames' counters untouched */
    gw_pipeline_free(p);
}

static void test_teardown(void)
{
    gw_registry_free(reg);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"registry", test_registry},
        {"refusal reasons are counted", test_reasons_are_counted},
        {"commit of a recorded frame is refused", test_commit_of_a_recorded_frame_is_refused},
        {"one device cannot take every series", test_one_device_cannot_take_every_series},
        {"snapshot restore continues identically", test_snapshot_restore_continues_identically},
        {"windows close in parts", test_windows_close_in_parts},
        {"damaged snapshot is refused", test_damaged_snapshot_is_refused},
        {"incomplete windows are held back", test_incomplete_windows_are_held_back},
        {"status messages are signed", test_status_is_signed},
        {"teardown", test_teardown},
        {NULL, NULL},
    };
    return cu_main("pipeline", tests);
}
