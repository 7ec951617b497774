/*
 * test_gw_hostile.c -- twenty kinds of bad frames mixed into valid traffic,
 * through the real broker, citygate and InfluxDB.
 *
 * Every refusal reason the gateway can give without a full device table is
 * provoked at least once (size cap, truncated and malformed envelopes,
 * unknown major version, bad signature, unknown device, missing fields,
 * envelope/body id mismatch, too many readings, bad topic, topic/id mismatch
 * on node and site, registry site mismatch, timestamps ahead and too old,
 * unknown quantity, unit mismatch, values not finite or out of range,
 * duplicates and replays, strings outside their grammar or with a NUL byte,
 * the gateway's own topic names). The test asserts that each reason's
 * counter rose by exactly the number sent of its kind and every other stayed
 * at 0, that every refused frame reached city/v1/quarantine/... once, with
 * its reason, its length, its SHA-256 and its bytes (the first 64 KiB of an
 * oversized one), in the order sent, that the store's aggregates equal the
 * test's own over the valid frames only, that no text from a frame forged a
 * log line, and that citygate still takes frames, answers /healthz and stops
 * cleanly without a sanitizer report.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cu.h"
#include "gwtest.h"
#include "validate.h"

#define NODES 4
#define SITES 2
#define WINDOW_MS 30000
#define LONG_SEQS 301 /* device 0: a frame, then 300 newer ones: seq 1 is then a replay */
#define SHORT_SEQS 60 /* devices 1 .. NODES-1 */
#define WINDOWS 11    /* LONG_SEQS seconds of base windows */
#define BOOT 7000
#define MAX_HOSTILE 96
#define FRAME_CAP 2048
#define OVERSIZE_BYTES 200000  /* over the default 64 KiB cap */
#define QUARANTINE_BYTES 65536 /* the most of a payload a quarantine copy holds */

static const char *citygate;
static struct gwt t;
static uint64_t base_ms; /* start of the first window of valid frames */

/* One refused frame: what is sent, where, after which valid step, and the reason expected. */
struct hostile {
    const char *reason;
    char topic[128];
    uint8_t *payload;
    size_t len;
    int after_step;
};

static struct hostile hostile[MAX_HOSTILE];
static size_t n_hostile;
static size_t sent_order[MAX_HOSTILE]; /* indexes into hostile, in the order published */
static struct gwt_agg expected[NODES][WINDOWS];

static double speed_of(int device, uint64_t seq)
{
    unsigned level = ((unsigned)device * 37u + (unsigned)seq * 13u) % 80u;
    return 20.0 + level + 0.25 * (double)(seq % 4);
}

/*
 * Frame seq of a device: a second apart from base_ms + 29.5 s on. The last
 * frame of every device (seq 301, 60 or 61) then lies 0.5 to 1.5 s before a
 * window's end: its node's clock runs on from it, so its last window closes
 * a few seconds later, where a last frame just after a window's start would
 * keep it open for width + grace (32 s), half of the store's wait below.
 */
static uint64_t ts_of(uint64_t seq)
{
    return base_ms + (seq - 1) * 1000 + 29500;
}

/* A valid frame of device d, the same bytes for the same (d, seq). */
static size_t valid_frame(int d, uint64_t seq, uint8_t *out, size_t cap)
{
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, speed_of(d, seq), 1, 0};
    return gwt_frame(&t, d, BOOT + (uint64_t)d, seq, ts_of(seq), &r, 1, out, cap);
}

static void send_valid(int d, uint64_t seq)
{
    uint8_t frame[FRAME_CAP];
    char topic[128];
    size_t len = valid_frame(d, seq, frame, sizeof frame);
    gwt_agg_add(&expected[d][(ts_of(seq) - base_ms) / WINDOW_MS], speed_of(d, seq));
    gwt_topic(&t, d, topic, sizeof topic);
    gwt_publish(&t, topic, frame, len);
}

/* Records a hostile frame (payload copied) on topic (NULL: device 1's data topic). */
static void add(const char *reason, const char *topic, const void *payload, size_t len, int after)
{
    struct hostile *h = &hostile[n_hostile++];
    CU_ASSERT_FATAL(n_hostile <= MAX_HOSTILE);
    h->reason = reason;
    if (topic)
        snprintf(h->topic, sizeof h->topic, "%s", topic);
    else
        gwt_topic(&t, 1, h->topic, sizeof h->topic);
    h->payload = malloc(len ? len : 1);
    CU_ASSERT_FATAL(h->payload != NULL);
    if (len)
        memcpy(h->payload, payload, len);
    h->len = len;
    h->after_step = after;
}

/* Device 1's parts of a frame with one SPEED reading, a seq no valid frame uses. */
static void parts_of(struct gwt_parts *p, uint64_t ts_ms, double speed)
{
    static uint64_t seq = 100000;
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, speed, 1, 0};
    gwt_frame_parts(&t, 1, BOOT + 1, seq++, ts_ms, &r, 1, p);
}

/* Signs p as device 1 and records it. */
static void add_parts(const char *reason, const char *topic, const struct gwt_parts *p, int after)
{
    uint8_t frame[FRAME_CAP];
    add(reason, topic, frame, gwt_frame_sign(1, &p->f, frame, sizeof frame), after);
}

/* The protobuf body of p, in out; returns its length. */
static size_t body_of(const struct gwt_parts *p, uint8_t *out, size_t cap)
{
    size_t n = citygate__v1__frame__get_packed_size(&p->f);
    CU_ASSERT_FATAL(n <= cap);
    return citygate__v1__frame__pack(&p->f, out);
}

/* The envelope and wire-level refusals: nothing here reaches the validator. */
static void build_envelope_cases(void)
{
    static uint8_t big[OVERSIZE_BYTES], body[16384], frame[FRAME_CAP + 16384];
    struct gwt_parts p;
    size_t len;
    int step = 2;

    len = valid_frame(1, 1, frame, sizeof frame);
    memcpy(big, frame, len);
    memset(big + len, 0x5a, sizeof big - len);
    add("too_large", NULL, big, sizeof big, step += 4);
    add("truncated", NULL, frame, len / 2, step += 4);
    add("truncated", NULL, frame, len - 1, step += 4);
    add("truncated", NULL, "CG\x01", 3, step += 4);
    add("truncated", NULL, "", 0, step += 4);
    frame[len] = 0x00;
    add("malformed", NULL, frame, len + 1, step += 4); /* a byte after the tag */
    for (size_t i = 0; i < 200; i++)
        body[i] = (uint8_t)(i * 151 + 7);
    add("malformed", NULL, body, 200, step += 4); /* garbage: no magic */
    memset(body, 0xff, 16);
    len = gwt_envelope(1, "node-0001", 1, body, 16, frame, sizeof frame);
    add("malformed", NULL, frame, len, step += 4); /* signed, but the body is not a Frame */
    len = gwt_envelope(1, "node 0001", 1, body, 16, frame, sizeof frame);
    add("malformed", NULL, frame, len, step += 4); /* a device id outside [A-Za-z0-9._-] */

    len = valid_frame(1, 2, frame, sizeof frame);
    frame[2] = 2;
    add("unknown_major", NULL, frame, len, step += 4);
    frame[2] = 0;
    add("unknown_major", NULL, frame, len, step += 4);
    frame[2] = 1;
    frame[len - WIRE_TAG_BYTES - 3] ^= 0x10;
    add("bad_signature", NULL, frame, len, step += 4); /* one flipped bit in the body */
    parts_of(&p, ts_of(3), 50);
    len = gwt_frame_sign(2, &p.f, frame, sizeof frame);
    add("bad_signature", NULL, frame, len, step += 4); /* signed with another device's key */

    char topic[128];
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, 50, 1, 0};
    len = gwt_frame(&t, 9999, BOOT, 1, ts_of(3), &r, 1, frame, sizeof frame);
    gwt_topic(&t, 9999, topic, sizeof topic);
    add("unknown_device", topic, frame, len, step += 4);

    parts_of(&p, ts_of(3), 50);
    p.f.seq = 0;
    add_parts("missing_field", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), 50);
    p.f.boot_id = 0;
    add_parts("missing_field", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), 50);
    p.rs[0].quality = CITYGATE__V1__QUALITY__QUALITY_UNSPECIFIED;
    add_parts("missing_field", NULL, &p, step += 4);

    parts_of(&p, ts_of(3), 50);
    p.f.device_id = "node-0002";
    len = body_of(&p, body, sizeof body);
    len = gwt_envelope(1, "node-0001", 1, body, len, frame, sizeof frame);
    add("device_mismatch", NULL, frame, len, step += 4);

    /* 1025 readings: a frame's readings are a repeated field, so appending more is valid protobuf.
     */
    static const uint8_t reading[] = {0x42, 0x06, 0x08, 0x03, 0x10, 0x03, 0x20, 0x01};
    parts_of(&p, ts_of(3), 50);
    len = body_of(&p, body, sizeof body);
    for (int i = 0; i < WIRE_MAX_READINGS; i++, len += sizeof reading)
        memcpy(body + len, reading, sizeof reading);
    len = gwt_envelope(1, "node-0001", 1, body, len, frame, sizeof frame);
    add("too_complex", NULL, frame, len, step += 4);

    /* A NUL byte in a string: "node-0001\0junk" would read as the envelope's id. */
    static const uint8_t nul_device[] = {0x0a, 0x0e, 'n', 'o', 'd', 'e', '-', '0',
                                         '0',  '0',  '1', 0,   'j', 'u', 'n', 'k'};
    static const uint8_t nul_sensor[] = {0x42, 0x15, 0x08, 0x03, 0x10, 0x03, 0x20, 0x01,
                                         0x19, 0,    0,    0,    0,    0,    0,    0x49,
                                         0x40, 0x32, 0x04, 'n',  0,    'u',  'l'};
    parts_of(&p, ts_of(3), 50);
    len = body_of(&p, body, sizeof body);
    memcpy(body + len, nul_device, sizeof nul_device);
    len = gwt_envelope(1, "node-0001", 1, body, len + sizeof nul_device, frame, sizeof frame);
    add("malformed", NULL, frame, len, step += 4);
    parts_of(&p, ts_of(3), 50);
    len = body_of(&p, body, sizeof body);
    memcpy(body + len, nul_sensor, sizeof nul_sensor);
    len = gwt_envelope(1, "node-0001", 1, body, len + sizeof nul_sensor, frame, sizeof frame);
    add("malformed", NULL, frame, len, step += 4);
}

/* The gateway's own refusals: authenticated frames it must not believe. */
static void build_validation_cases(void)
{
    uint64_t now = gwt_now_ms();
    uint8_t frame[FRAME_CAP];
    char topic[128];
    struct gwt_parts p;
    size_t len;
    int step = 100;

    len = valid_frame(1, 3, frame, sizeof frame);
    add("bad_topic", "city/v1/site 01/node-0001/data", frame, len, step += 4);
    gwt_topic(&t, 3, topic, sizeof topic);
    add("topic_mismatch", topic, frame, len, step += 4); /* node-0001's frame as node-0003 */
    add("topic_mismatch", "city/v1/site-00/node-0001/data", frame, len, step += 4);

    parts_of(&p, ts_of(3), 50);
    p.f.site_id = "site-00";
    add_parts("site_mismatch", "city/v1/site-00/node-0001/data", &p, step += 4);

    parts_of(&p, now + 10 * 60000, 50);
    add_parts("timestamp_future", NULL, &p, step += 4);
    parts_of(&p, now - 25 * 3600000ull, 50);
    add_parts("timestamp_too_old", NULL, &p, step += 4);

    parts_of(&p, ts_of(3), 50);
    p.rs[0].quantity = 99;
    add_parts("unknown_quantity", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), 50);
    p.rs[0].unit = CITYGATE__V1__UNIT__PERCENT;
    add_parts("unit_mismatch", NULL, &p, step += 4);

    parts_of(&p, ts_of(3), NAN);
    add_parts("not_finite", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), INFINITY);
    add_parts("not_finite", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), 300.5);
    add_parts("out_of_range", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), -0.5);
    add_parts("out_of_range", NULL, &p, step += 4);
    parts_of(&p, ts_of(3), 50);
    p.rs[0].lane = GW_MAX_LANE + 1;
    add_parts("out_of_range", NULL, &p, step += 4);

    /* Dedup: a redelivery, a retransmit with other content, and replays below the window. */
    len = valid_frame(1, 5, frame, sizeof frame);
    add("duplicate", NULL, frame, len, 10);
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, 99, 1, 0};
    len = gwt_frame(&t, 3, BOOT + 3, 20, ts_of(20), &r, 1, frame, sizeof frame);
    gwt_topic(&t, 3, topic, sizeof topic);
    add("duplicate", topic, frame, len, 40);
    gwt_topic(&t, 0, topic, sizeof topic);
    len = valid_frame(0, 1, frame, sizeof frame);
    add("replay", topic, frame, len, LONG_SEQS - 1);
    len = gwt_frame(&t, 0, BOOT, 40, ts_of(40), &r, 1, frame, sizeof frame);
    add("replay", topic, frame, len, LONG_SEQS - 1);
}

/*
 * Strings outside their grammar, which the store or the log would take as
 * they are, and topics named like the gateway's own, whose quarantine copies
 * would come back to it as input.
 */
static void build_string_and_topic_cases(void)
{
    static const char *const sensor_ids[] = {
        "a\nb",
        "ab\\",
        "a\\ b",
        "a\\,b",
        "a\rb",
        "caf\xc3\xa9",
        "\xc3\x28",
        "a\x01",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* 65 */
    };
    static char version[1001];
    Citygate__V1__Health health = CITYGATE__V1__HEALTH__INIT;
    uint8_t frame[FRAME_CAP];
    struct gwt_parts p;
    size_t len;
    int step = 200;

    /* The first of its reason, so its log line is printed (log.h): it must not forge another. */
    parts_of(&p, ts_of(3), 50);
    p.f.site_id = "site-01\ncitygate: forged line";
    add_parts("bad_string", NULL, &p, step += 2);
    for (size_t i = 0; i < sizeof sensor_ids / sizeof sensor_ids[0]; i++) {
        parts_of(&p, ts_of(3), 50);
        p.rs[0].sensor_id = (char *)sensor_ids[i];
        add_parts("bad_string", NULL, &p, step += 2);
    }
    parts_of(&p, ts_of(3), 50);
    memset(version, '9', sizeof version - 1);
    health.firmware_version = version;
    p.f.health = &health;
    add_parts("bad_string", NULL, &p, step += 2);

    /* A sensor the last device was not provisioned with. */
    struct gwt_reading lane2 = {CITYGATE__V1__QUANTITY__SPEED, 50, 2, 0};
    char topic[128];
    gwt_frame_parts(&t, NODES - 1, BOOT + NODES - 1, 200000, ts_of(3), &lane2, 1, &p);
    gwt_topic(&t, NODES - 1, topic, sizeof topic);
    add("unknown_sensor", topic, frame, gwt_frame_sign(NODES - 1, &p.f, frame, sizeof frame),
        step += 2);

    /* The gateway's own names: the first would be quarantined on city/v1/quarantine/... /data. */
    len = valid_frame(1, 3, frame, sizeof frame);
    add("bad_topic", "city/v1/quarantine/data/data", frame, len, step += 2);
    add("bad_topic", "city/v1/site-01/data/data", frame, len, step += 2);
    add("bad_topic", "city/v1/alerts/node-0001/data", frame, len, step += 2);
    add("bad_topic", "city/v1/_/_/data", frame, len, step += 2);
}

/* The reasons' counters: exactly the number sent of each kind, 0 for every other. */
static void check_counters(void)
{
    for (int reason = 1; reason < GW_REJECT_N; reason++) {
        const char *name = gw_reject_name(reason);
        char sample[160];
        size_t sent = 0;
        for (size_t i = 0; i < n_hostile; i++)
            sent += strcmp(hostile[i].reason, name) == 0;
        snprintf(sample, sizeof sample, "citygate_frames_rejected_total{reason=\"%s\"}", name);
        double got = gwt_metric(&t, sample);
        if (got != (double)sent)
            fprintf(stderr, "%s: %g, expected %zu\n", sample, got, sent);
        CU_ASSERT_EQUAL(got, (double)sent);
    }
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_quarantined_total"), (double)n_hostile);
}

/* The SHA-256 of len bytes at p, in hex. */
static void sha256_hex(const uint8_t *p, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    CU_ASSERT_FATAL(EVP_Digest(p, len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Messages under city/v1/quarantine/ that the test published itself, as hostile input. */
static size_t n_own_quarantine(void)
{
    size_t n = 0;
    for (size_t i = 0; i < n_hostile; i++)
        n += strncmp(hostile[i].topic, "city/v1/quarantine/", 19) == 0;
    return n;
}

/* 1 when topic is one the test published a hostile frame on. */
static int sent_by_test(const char *topic)
{
    for (size_t i = 0; i < n_hostile; i++)
        if (strcmp(hostile[i].topic, topic) == 0)
            return 1;
    return 0;
}

/*
 * Every refused frame on its quarantine topic once, in the order sent, with
 * its reason, length, hash and (at most QUARANTINE_BYTES of) bytes; nothing
 * else but what the test itself published there.
 */
static void check_quarantine(struct gwt_sub *q)
{
    static char hex[2 * QUARANTINE_BYTES + 1];
    size_t total = n_hostile + n_own_quarantine(), k = 0;
    CU_ASSERT_EQUAL_FATAL(gwt_sub_wait(q, total, 30000), total);
    for (size_t i = 0; i < n_hostile; i++) {
        const struct hostile *h = &hostile[sent_order[i]];
        while (k < total && sent_by_test(gwt_sub_msg(q, k)->topic))
            k++;
        CU_ASSERT_FATAL(k < total);
        const struct gwt_msg *m = gwt_sub_msg(q, k++);
        struct gw_topic tp;
        char want[160], sha[65];
        size_t shown = h->len < QUARANTINE_BYTES ? h->len : QUARANTINE_BYTES;
        if (gw_topic_parse(h->topic, strlen(h->topic), &tp) == 0)
            snprintf(want, sizeof want, "city/v1/quarantine/%s/%s", tp.site, tp.node);
        else
            snprintf(want, sizeof want, "city/v1/quarantine/_/_");
        for (size_t b = 0; b < shown; b++)
            snprintf(hex + 2 * b, 3, "%02x", h->payload[b]);
        hex[2 * shown] = '\0';
        sha256_hex(h->payload, h->len, sha);
        json_t *bytes = m->json ? json_object_get(m->json, "payload_bytes") : NULL;
        int ok = strcmp(m->topic, want) == 0 && strcmp(gwt_msg_str(m, "reason"), h->reason) == 0 &&
                 strcmp(gwt_msg_str(m, "payload_hex"), hex) == 0 &&
                 strcmp(gwt_msg_str(m, "payload_sha256"), sha) == 0 && json_is_integer(bytes) &&
                 json_integer_value(bytes) == (json_int_t)h->len;
        if (!ok)
            fprintf(stderr, "quarantine %zu: %s reason %s, expected %s reason %s\n", i, m->topic,
                    gwt_msg_str(m, "reason"), want, h->reason);
        CU_ASSERT(ok);
    }
    CU_ASSERT_EQUAL(gwt_sub_count(q), total);
}

/* Mismatches between the store's speed windows and the test's own; asserts when final. */
static int compare_store(json_t *rows, int final)
{
    size_t want_rows = 0;
    int bad = 0;
    for (int d = 0; d < NODES; d++)
        for (int w = 0; w < WINDOWS; w++)
            want_rows += expected[d][w].count > 0;
    if (json_array_size(rows) != want_rows) {
        if (final)
            CU_FAIL("the store holds another number of windows than the valid frames make");
        return 1;
    }
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        uint64_t ts = (uint64_t)json_integer_value(json_array_get(row, 0));
        const char *node = json_string_value(json_array_get(row, 6));
        long d = node ? strtol(node + 5, NULL, 10) : -1;
        uint64_t w = (ts - base_ms) / WINDOW_MS;
        if (d < 0 || d >= NODES || ts < base_ms || w >= WINDOWS) {
            if (final)
                CU_FAIL("a window the valid frames do not make");
            bad++;
            continue;
        }
        bad += gwt_agg_check(&expected[d][w], row, 1, final);
    }
    return bad;
}

static void test_hostile(void)
{
    /* Five minutes that ended two and a half minutes ago or more: none too late. */
    base_ms = (gwt_now_ms() - 8 * 60000) / WINDOW_MS * WINDOW_MS;
    /* Windows close on each node's clock: a short grace after its last frame, not a minute. */
    gwt_init(&t, citygate, NODES, SITES, "[windows]\ngrace = 2s\nlate_horizon = 10m\n");
    /* The last device's section ends the registry: it is provisioned with the one sensor its
     * valid frames name. */
    FILE *reg = fopen(t.registry, "a");
    CU_ASSERT_FATAL(reg != NULL);
    fprintf(reg, "sensors = loop-1\n");
    fclose(reg);
    gwt_start(&t);
    struct gwt_sub *q = gwt_sub_new("hostile-quarantine", "city/v1/quarantine/#");
    build_envelope_cases();
    build_validation_cases();
    build_string_and_topic_cases();

    size_t valid = 0, n_sent = 0;
    for (int step = 0; step < LONG_SEQS; step++) {
        send_valid(0, (uint64_t)step + 1);
        valid++;
        for (int d = 1; d < NODES && step < SHORT_SEQS; d++, valid++)
            send_valid(d, (uint64_t)step + 1);
        for (size_t i = 0; i < n_hostile; i++)
            if (hostile[i].after_step == step) {
                gwt_publish(&t, hostile[i].topic, hostile[i].payload, hostile[i].len);
                sent_order[n_sent++] = i;
            }
    }
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL_FATAL(n_sent, n_hostile);
    double total = (double)(valid + n_hostile);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_received_total", total, 30000), total);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_frames_accepted_total"), (double)valid);
    check_counters();
    check_quarantine(q);

    /* Still taking frames and answering. */
    CU_ASSERT(gwt_running(&t));
    CU_ASSERT(gwt_healthy(&t));
    send_valid(2, SHORT_SEQS + 1);
    valid++;
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", (double)valid, 30000),
                    (double)valid);

    /* The store: the valid frames' aggregates, nothing of the refused ones. */
    const char *qs =
        "SELECT \"count\", \"sum\", \"min\", \"max\", \"mean\", node FROM rp_30s.traffic "
        "WHERE quantity = 'speed' ORDER BY time";
    json_t *res = NULL;
    for (uint64_t end = gwt_now_ms() + 60000; gwt_now_ms() < end; gwt_pause_ms(200)) {
        json_decref(res);
        res = gwt_query(&t, qs);
        if (compare_store(gwt_rows(res), 0) == 0)
            break;
    }
    compare_store(gwt_rows(res), 1);
    json_decref(res);

    CU_ASSERT_EQUAL(gwt_sub_count(q), n_hostile + n_own_quarantine());
    gwt_sub_free(q);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    CU_ASSERT(gwt_log_contains(&t, "string field not well formed: site_id: byte 0x0a at 7"));
    CU_ASSERT(!gwt_log_contains(&t, "\ncitygate: forged line"));
    CU_ASSERT(!gwt_log_contains(&t, "runtime error"));
    CU_ASSERT(!gwt_log_contains(&t, "Sanitizer"));
    gwt_fini(&t);
    for (size_t i = 0; i < n_hostile; i++)
        free(hostile[i].payload);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"bad frames are refused by reason, quarantined, and disturb nothing", test_hostile},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway hostile input", tests, &citygate);
}
