/*
 * test_node.c -- the node core (firmware/core/node.c) with a fake HAL, a
 * fake network and a tiny fake driver, all driven by a simulated clock.
 *
 * Covered: birth and death, live frames, frames buffered while offline and
 * drained in order with the backlog flag at a bounded rate interleaved with
 * live frames, unconfirmed frames taken back on a disconnect (every frame
 * confirmed exactly once), a restart with a full ring, a stalled uplink,
 * and the commands (rebirth, set_interval, reboot, ota, bad input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "node.h"
#include "wire.h"

#define MAX_PUBS 4096
#define SEQ_MAX 2048

static const uint8_t KEY[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct pub {
    char topic[NODE_MAX_TOPIC];
    uint8_t *payload;
    size_t len;
    int retained;
    uint32_t ref;
    int acked;
};

/* Everything the fakes share: one per test. */
struct env {
    uint64_t now, rnd;
    uint8_t *disk;
    size_t disk_bytes;
    int accept; /* publish: 1 accepts, 0 says RETRY */
    int connects, disconnects, reboots;
    uint8_t will[512];
    size_t will_len;
    struct pub pubs[MAX_PUBS];
    size_t n_pubs, n_acked;
};

static struct env E;

static uint64_t f_now(void *ctx)
{
    (void)ctx;
    return E.now;
}

static uint64_t f_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000ull + E.now;
}

static int f_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        E.rnd = E.rnd * 6364136223846793005ull + 1442695040888963407ull;
        ((uint8_t *)buf)[i] = (uint8_t)(E.rnd >> 56);
    }
    return 0;
}

static void f_reboot(void *ctx)
{
    (void)ctx;
    E.reboots++;
}

static const struct node_hal_ops hal_ops = {f_now, f_wall, f_random, NULL, f_reboot};

static int d_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    (void)ctx;
    memcpy(buf, E.disk + off, len);
    return 0;
}

static int d_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    (void)ctx;
    memcpy(E.disk + off, buf, len);
    return 0;
}

static int d_sync(void *ctx)
{
    (void)ctx;
    return 0;
}

static const struct node_storage_ops disk_ops = {d_read, d_write, d_sync};

static int n_connect(void *ctx, const struct node_connect *c)
{
    (void)ctx;
    E.connects++;
    CU_ASSERT(c->will_len < sizeof E.will);
    memcpy(E.will, c->will, c->will_len);
    E.will_len = c->will_len;
    CU_ASSERT_STRING_EQUAL(c->client_id, "node-7");
    CU_ASSERT_STRING_EQUAL(c->cmd_topic, "city/v1/site-a/node-7/cmd");
    return 0;
}

static int n_publish(void *ctx, const struct node_publish *m, uint32_t ref)
{
    (void)ctx;
    CU_ASSERT(m->qos == 1);
    if (!E.accept)
        return -NODE_ERETRY;
    CU_ASSERT_FATAL(E.n_pubs < MAX_PUBS);
    struct pub *p = &E.pubs[E.n_pubs++];
    snprintf(p->topic, sizeof p->topic, "%s", m->topic);
    p->payload = malloc(m->len + 1);
    CU_ASSERT_FATAL(p->payload != NULL);
    memcpy(p->payload, m->payload, m->len);
    p->payload[m->len] = '\0';
    p->len = m->len;
    p->retained = m->retained;
    p->ref = ref;
    p->acked = 0;
    return 0;
}

static void n_disconnect(void *ctx, int clean)
{
    (void)ctx;
    (void)clean;
    E.disconnects++;
}

static const struct node_net_ops net_ops = {n_connect, n_publish, n_disconnect};

/* The fake driver: one temperature reading a sampling, value = how often it was sampled. */
struct fake_state {
    double count;
};

static int fd_open(const struct drv_param *params, size_t n, void **state, struct drv_diag *diag)
{
    if (n > 0 && strcmp(params[0].key, "fail") == 0) {
        snprintf(diag->text, sizeof diag->text, "told to fail");
        return -1;
    }
    *state = calloc(1, sizeof(struct fake_state));
    return *state ? 0 : -1;
}

static int fd_sample(void *state, uint64_t now_ms, uint32_t interval_ms, struct drv_sample *out)
{
    struct fake_state *s = state;
    (void)now_ms;
    (void)interval_ms;
    if (out->n_readings >= out->cap_readings)
        return -1;
    struct drv_reading *r = &out->readings[out->n_readings++];
    memset(r, 0, sizeof *r);
    r->quantity = CITYGATE__V1__QUANTITY__TEMPERATURE;
    r->unit = CITYGATE__V1__UNIT__DEGREES_CELSIUS;
    r->quality = CITYGATE__V1__QUALITY__GOOD;
    r->value = ++s->count;
    return 0;
}

static void fd_close(void *state)
{
    free(state);
}

static const struct drv_ops fake_driver = {"fake", fd_open, fd_sample, fd_close};

static const struct node_sensor_config sensors[] = {
    {"temp-1", "fake", &fake_driver, NULL, 0},
};

static struct node_config config(void)
{
    struct node_config c;
    node_config_defaults(&c);
    c.device_id = "node-7";
    c.site_id = "site-a";
    c.key = KEY;
    c.key_len = sizeof KEY;
    c.firmware_version = "1.2.3";
    c.interval_ms = 200;
    c.drain_per_s = 10;
    c.drain_burst = 2;
    c.max_inflight = 16;
    c.reconnect_min_ms = 100;
    c.reconnect_max_ms = 1000;
    c.max_frame_bytes = 1024;
    c.sensors = sensors;
    c.n_sensors = 1;
    return c;
}

static void env_reset(size_t disk_bytes)
{
    for (size_t i = 0; i < E.n_pubs; i++)
        free(E.pubs[i].payload);
    free(E.disk);
    memset(&E, 0, sizeof E);
    E.rnd = 42;
    E.accept = 1;
    E.now = 1000;
    E.disk_bytes = disk_bytes;
    E.disk = calloc(1, disk_bytes);
    CU_ASSERT_FATAL(E.disk != NULL);
}

static struct node *start(const struct node_config *c)
{
    struct node_ports ports = {{&hal_ops, NULL}, {&disk_ops, NULL, E.disk_bytes}, {&net_ops, NULL}};
    struct node_diag diag;
    struct node *n = NULL;
    int rc = node_new(c, &ports, E.now, &n, &diag);
    if (rc)
        fprintf(stderr, "node_new: %s\n", diag.text);
    CU_ASSERT_FATAL(rc == 0);
    return n;
}

/* A fresh environment and a node whose first connect attempt succeeded (up) or failed. */
static struct node *boot(size_t disk_bytes, int up, struct node_config *c)
{
    env_reset(disk_bytes);
    *c = config();
    struct node *n = start(c);
    node_tick(n, E.now);
    if (up)
        node_net_up(n, E.now);
    else
        node_net_down(n, E.now);
    return n;
}

/* Confirms every publish not yet confirmed. */
static void ack_all(struct node *n)
{
    for (size_t i = 0; i < E.n_pubs; i++)
        if (!E.pubs[i].acked) {
            E.pubs[i].acked = 1;
            node_net_published(n, E.pubs[i].ref, 1);
        }
}

/* Advances the clock to `until` in steps of step_ms, ticking (and acking when asked). */
static void run(struct node *n, uint64_t until, uint64_t step_ms, int ack)
{
    while (E.now < until) {
        E.now += step_ms;
        CU_ASSERT(node_tick(n, E.now) == 0);
        if (ack)
            ack_all(n);
    }
}

/* Moves the clock to the node's next connect attempt and lets it succeed. */
static void reconnect(struct node *n, struct node_stats *st)
{
    node_stats(n, st);
    while (!st->connected) {
        uint64_t t = node_next_deadline(n);
        E.now = t > E.now ? t : E.now;
        node_tick(n, E.now);
        node_net_up(n, E.now);
        node_stats(n, st);
    }
}

static int key_fn(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    if (strcmp(device_id, "node-7") != 0)
        return -1;
    key->bytes = KEY;
    key->len = sizeof KEY;
    return 0;
}

/* A status message of node-7 verified and decoded (it lives until the next call). */
static Citygate__V1__Status *decode_status(const uint8_t *payload, size_t len)
{
    static unsigned char arena[16 * 1024];
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_fn, NULL, {0}};
    Citygate__V1__Status *s = NULL;
    wire_arena_init(&d.arena, arena, sizeof arena);
    CU_ASSERT_FATAL(wire_status_decode(&d, payload, len, &s, NULL) == 0);
    return s;
}

static Citygate__V1__Frame *decode(const struct pub *p)
{
    static unsigned char arena[64 * 1024];
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_fn, NULL, {0}};
    Citygate__V1__Frame *f = NULL;
    wire_arena_init(&d.arena, arena, sizeof arena);
    CU_ASSERT_FATAL(wire_decode(&d, p->payload, p->len, &f, NULL) == 0);
    return f;
}

static int is_data(const struct pub *p)
{
    return strcmp(p->topic, "city/v1/site-a/node-7/data") == 0;
}

/* The last publish on topic, or NULL. */
static const struct pub *last_on(const char *topic)
{
    for (size_t i = E.n_pubs; i-- > 0;)
        if (strcmp(E.pubs[i].topic, topic) == 0)
            return &E.pubs[i];
    return NULL;
}

/*
 * Checks that every frame 1..last of boot_id was confirmed exactly once, that
 * confirmed backlog frames came in increasing order, and returns how many of
 * them had the backlog flag.
 */
static unsigned check_exactly_once(uint64_t boot_id, uint64_t last)
{
    static unsigned seen[SEQ_MAX + 1];
    uint64_t last_backlog = 0;
    unsigned backlog = 0;
    CU_ASSERT_FATAL(last <= SEQ_MAX);
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < E.n_pubs; i++) {
        if (!is_data(&E.pubs[i]) || !E.pubs[i].acked)
            continue;
        Citygate__V1__Frame *f = decode(&E.pubs[i]);
        if (f->boot_id != boot_id)
            continue;
        CU_ASSERT_FATAL(f->seq >= 1 && f->seq <= last);
        seen[f->seq]++;
        if (f->backlog) {
            CU_ASSERT(f->seq > last_backlog);
            last_backlog = f->seq;
            backlog++;
        }
    }
    for (uint64_t s = 1; s <= last; s++)
        if (seen[s] != 1) {
            fprintf(stderr, "\nseq %llu confirmed %u times\n", (unsigned long long)s, seen[s]);
            CU_FAIL("a frame was not confirmed exactly once");
            break;
        }
    return backlog;
}

static void test_birth_and_live_frames(void)
{
    env_reset(64 * 1024);
    struct node_config c = config();
    struct node *n = start(&c);
    struct node_stats st;
    CU_ASSERT_EQUAL(node_tick(n, E.now), 0);
    CU_ASSERT_EQUAL(E.connects, 1);
    node_stats(n, &st);
    /* The will is a death signed with the device key, for this boot. */
    Citygate__V1__Status *will = decode_status(E.will, E.will_len);
    CU_ASSERT_EQUAL(will->state, CITYGATE__V1__NODE_STATE__OFFLINE);
    CU_ASSERT_EQUAL(will->boot_id, st.boot_id);
    CU_ASSERT_STRING_EQUAL(will->site_id, "site-a");
    node_net_up(n, E.now);
    const struct pub *birth = last_on("city/v1/site-a/node-7/status");
    CU_ASSERT_FATAL(birth != NULL);
    CU_ASSERT(birth->retained);
    Citygate__V1__Status *b = decode_status(birth->payload, birth->len);
    CU_ASSERT_EQUAL(b->state, CITYGATE__V1__NODE_STATE__ONLINE);
    CU_ASSERT_EQUAL(b->boot_id, st.boot_id);
    CU_ASSERT_STRING_EQUAL(b->firmware_version, "1.2.3");
    CU_ASSERT_FATAL(b->n_sensors == 1);
    CU_ASSERT_STRING_EQUAL(b->sensors[0]->name, "temp-1");
    CU_ASSERT_STRING_EQUAL(b->sensors[0]->driver, "fake");

    run(n, E.now + 1000, 50, 1);
    node_stats(n, &st);
    CU_ASSERT_EQUAL(st.seq, 5);
    CU_ASSERT_EQUAL(st.frames_live, 5);
    CU_ASSERT_EQUAL(st.inflight, 0);
    CU_ASSERT_EQUAL(st.backlog_frames, 0);
    const struct pub *p = last_on("city/v1/site-a/node-7/data");
    CU_ASSERT_FATAL(p != NULL);
    Citygate__V1__Frame *f = decode(p);
    CU_ASSERT_STRING_EQUAL(f->device_id, "node-7");
    CU_ASSERT_STRING_EQUAL(f->site_id, "site-a");
    CU_ASSERT_EQUAL(f->seq, 5);
    CU_ASSERT_EQUAL(f->boot_id, st.boot_id);
    CU_ASSERT(!f->backlog);
    CU_ASSERT_EQUAL(f->interval_ms, 200);
    CU_ASSERT_FATAL(f->n_readings == 1);
    CU_ASSERT_STRING_EQUAL(f->readings[0]->sensor_id, "temp-1");
    CU_ASSERT_EQUAL(f->readings[0]->value, 5.0);
    CU_ASSERT_FATAL(f->health != NULL);
    CU_ASSERT_STRING_EQUAL(f->health->firmware_version, "1.2.3");
    CU_ASSERT_EQUAL(check_exactly_once(st.boot_id, 5), 0);

    /* A clean close publishes the death message, retained. */
    node_close(n);
    const struct pub *death = last_on("city/v1/site-a/node-7/status");
    CU_ASSERT(death != birth && death->retained);
    CU_ASSERT_EQUAL(decode_status(death->payload, death->len)->state,
                    CITYGATE__V1__NODE_STATE__OFFLINE);
    node_free(n);
    CU_ASSERT_EQUAL(E.disconnects, 1);
}

static void test_offline_then_drain(void)
{
    struct node_config c;
    struct node *n = boot(64 * 1024, 1, &c);
    struct node_stats st;
    run(n, E.now + 1000, 50, 1); /* 5 live frames */
    node_net_down(n, E.now);
    size_t before = E.n_pubs;
    E.accept = 0;                  /* and the broker is away: connect attempts fail */
    for (int i = 0; i < 40; i++) { /* 8 s offline: 40 frames */
        run(n, E.now + 200, 50, 0);
        node_net_down(n, E.now); /* any connect attempt failed */
    }
    node_stats(n, &st);
    CU_ASSERT_EQUAL(st.seq, 45);
    CU_ASSERT_EQUAL(st.backlog_frames, 40);
    CU_ASSERT_EQUAL(st.frames_stored, 40);
    CU_ASSERT_EQUAL(E.n_pubs, before); /* nothing was sent while down */

    /* The broker is back: drain at <= burst + rate * t, interleaved with live frames. */
    E.accept = 1;
    reconnect(n, &st);
    uint64_t up_at = E.now;
    unsigned interleaved_live = 0, drained = 0;
    size_t scanned = before;
    while (E.now < up_at + 6000) {
        run(n, E.now + 10, 10, 1);
        for (; scanned < E.n_pubs; scanned++)
            if (is_data(&E.pubs[scanned])) {
                if (decode(&E.pubs[scanned])->backlog)
                    drained++;
                else if (drained < st.frames_stored)
                    interleaved_live++;
            }
        CU_ASSERT(drained <= c.drain_burst + (E.now - up_at) * c.drain_per_s / 1000);
    }
    node_stats(n, &st);
    CU_ASSERT_EQUAL(drained, st.frames_stored);
    CU_ASSERT(interleaved_live >= 15); /* 4 s of draining at 5 live frames per second */
    CU_ASSERT_EQUAL(st.backlog_frames, 0);
    CU_ASSERT_EQUAL(st.frames_drained, st.frames_stored);
    CU_ASSERT_EQUAL(check_exactly_once(st.boot_id, st.seq), st.frames_stored);
    node_free(n);
}

/* Unconfirmed frames (live and backlog) at a disconnect come back; each is confirmed once. */
static void test_disconnect_takes_back(void)
{
    struct node_config c;
    struct node *n = boot(64 * 1024, 0, &c); /* the first attempt fails */
    struct node_stats st;
    run(n, E.now + 2000, 50, 0);
    node_stats(n, &st);
    CU_ASSERT_EQUAL(st.backlog_frames, 10);
    for (int round = 0; round < 4; round++) {
        /* Up for 1 s without any confirmation, then the link drops. */
        reconnect(n, &st);
        run(n, E.now + 1000, 50, 0);
        node_stats(n, &st);
        CU_ASSERT(st.inflight > 0);
        /* Confirm only the first half of what is in flight, then lose the link. */
        size_t pending = 0;
        for (size_t i = 0; i < E.n_pubs; i++)
            pending += !E.pubs[i].acked;
        for (size_t i = 0, done = 0; i < E.n_pubs && done < pending / 2; i++)
            if (!E.pubs[i].acked) {
                E.pubs[i].acked = 1;
                node_net_published(n, E.pubs[i].ref, 1);
                done++;
            }
        for (size_t i = 0; i < E.n_pubs; i++)
            if (!E.pubs[i].acked)
                E.pubs[i].acked = -1; /* lost with the connection */
        node_net_down(n, E.now);
        node_stats(n, &st);
        CU_ASSERT_EQUAL(st.inflight, 0);
    }
    for (size_t i = 0; i < E.n_pubs; i++)
        if (E.pubs[i].acked < 0)
            E.pubs[i].acked = 2; /* never confirmed: ack_all must skip them */
    reconnect(n, &st);
    run(n, E.now + 10000, 50, 1);
    node_stats(n, &st);
    CU_ASSERT_EQUAL(st.backlog_frames, 0);
    for (size_t i = 0; i < E.n_pubs; i++)
        E.pubs[i].acked = E.pubs[i].acked == 1;
    check_exactly_once(st.boot_id, st.seq);
    node_free(n);
}

/* A node restarted with frames in its ring sends them first, under the old boot id. */
static void test_restart_keeps_ring(void)
{
    struct node_config c;
    struct node *n = boot(64 * 1024, 0, &c);
    struct node_stats st1, st2;
    E.accept = 0;
    run(n, E.now + 3000, 50, 0);
    node_stats(n, &st1);
    CU_ASSERT_EQUAL(st1.backlog_frames, 15);
    node_free(n);

    E.accept = 1;
    n = start(&c);
    node_stats(n, &st2);
    CU_ASSERT(st2.boot_id != st1.boot_id);
    CU_ASSERT_EQUAL(st2.backlog_frames, 15);
    node_tick(n, E.now);
    node_net_up(n, E.now);
    run(n, E.now + 5000, 50, 1);
    CU_ASSERT_EQUAL(check_exactly_once(st1.boot_id, 15), 15);
    node_stats(n, &st2);
    CU_ASSERT_EQUAL(check_exactly_once(st2.boot_id, st2.seq), 0);
    node_free(n);
}

/* Full ring: oldest frames dropped, counted, and reported in the frames' health. */
static void test_ring_full_reports_dropped(void)
{
    struct node_config c;
    struct node *n = boot(8 * 1024, 0, &c);
    struct node_stats st;
    E.accept = 0;
    run(n, E.now + 20000, 100, 0); /* 100 frames into a ring for about 40 */
    node_stats(n, &st);
    CU_ASSERT(st.backlog_dropped > 0);
    CU_ASSERT_EQUAL(st.backlog_dropped + st.backlog_frames, 100);
    E.accept = 1;
    reconnect(n, &st);
    run(n, E.now + 200, 50, 1);
    Citygate__V1__Frame *f = NULL;
    for (size_t i = E.n_pubs; i-- > 0 && !f;)
        if (is_data(&E.pubs[i]) && !decode(&E.pubs[i])->backlog)
            f = decode(&E.pubs[i]);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(f->health != NULL);
    CU_ASSERT_EQUAL(f->health->backlog_dropped, st.backlog_dropped);
    node_free(n);
}

/* A window full of unconfirmed frames means a stalled link: reconnect, lose nothing. */
static void test_stalled_uplink(void)
{
    struct node_config c;
    struct node *n = boot(64 * 1024, 1, &c);
    struct node_stats st;
    run(n, E.now + 200 * 20, 50, 0); /* 20 frames, no PUBACK */
    node_stats(n, &st);
    CU_ASSERT(!st.connected);
    CU_ASSERT_EQUAL(E.disconnects, 1);
    CU_ASSERT(st.backlog_frames >= 16);
    /* A publish refused with RETRY while "up" also takes the node down. */
    E.accept = 0;
    reconnect(n, &st);
    run(n, E.now + 400, 50, 0);
    node_stats(n, &st);
    CU_ASSERT(!st.connected);
    CU_ASSERT_EQUAL(E.disconnects, 2);
    node_free(n);
}

/* Hands node n a command signed with key (NULL: the node's own) and returns the last reply. */
static const struct pub *command_with(struct node *n, const uint8_t *key, uint64_t boot_id,
                                      uint64_t counter, const char *cmd, const char *id,
                                      uint32_t interval_ms)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    uint8_t buf[1024];
    size_t len = 0;
    c.device_id = "node-7";
    c.boot_id = boot_id;
    c.counter = counter;
    c.cmd = (char *)cmd;
    c.id = (char *)id;
    c.interval_ms = interval_ms;
    CU_ASSERT_FATAL(wire_command_encode(&c, key ? key : KEY, sizeof KEY, buf, sizeof buf, &len) ==
                    0);
    node_command(n, buf, len, E.now);
    return last_on("city/v1/site-a/node-7/cmd/reply");
}

static uint64_t counter; /* the operator's: strictly increasing */

static const struct pub *command(struct node *n, const char *cmd, const char *id,
                                 uint32_t interval_ms)
{
    struct node_stats st;
    node_stats(n, &st);
    return command_with(n, NULL, st.boot_id, ++counter, cmd, id, interval_ms);
}

static void test_commands(void)
{
    struct node_config c;
    struct node *n = boot(64 * 1024, 1, &c);
    struct node_stats st;
    ack_all(n);

    size_t births = E.n_pubs;
    const struct pub *r = command(n, "rebirth", "op-1", 0);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_STRING_EQUAL((char *)r->payload, "{\"cmd\":\"rebirth\",\"id\":\"op-1\",\"ok\":true}");
    CU_ASSERT(last_on("city/v1/site-a/node-7/status") > &E.pubs[births - 1]);

    r = command(n, "set_interval", "op-2", 1000);
    CU_ASSERT(strstr((char *)r->payload, "\"ok\":true") != NULL);
    const struct pub *b = last_on("city/v1/site-a/node-7/status");
    CU_ASSERT_EQUAL(decode_status(b->payload, b->len)->interval_ms, 1000);
    uint64_t t0 = E.now;
    run(n, t0 + 3000, 50, 1);
    node_stats(n, &st);
    CU_ASSERT_EQUAL(st.interval_ms, 1000);
    CU_ASSERT_EQUAL(st.seq, 3);

    r = command(n, "set_interval", NULL, 5);
    CU_ASSERT(strstr((char *)r->payload, "\"ok\":false") != NULL);
    CU_ASSERT(strstr((char *)r->payload, "interval_ms") != NULL);
    r = command(n, "ota", "op-3", 0);
    CU_ASSERT_STRING_EQUAL((char *)r->payload,
                           "{\"cmd\":\"ota\",\"id\":\"op-3\",\"ok\":false,\"error\":\"this "
                           "node takes no updates: it runs without a boot stage\"}");
    r = command(n, "fly", NULL, 0);
    CU_ASSERT(strstr((char *)r->payload, "unknown command") != NULL);
    r = command(n, "rebirth", "a\"b", 0);
    CU_ASSERT(strstr((char *)r->payload, "\"ok\":false") != NULL);
    r = command(n, "reboot", NULL, 0);
    CU_ASSERT(strstr((char *)r->payload, "\"ok\":true") != NULL);
    CU_ASSERT_EQUAL(E.reboots, 1);
    node_free(n);
}

/*
 * What an anonymous publisher, an eavesdropper or a node of another boot
 * can send is refused without a reply and counted: set_interval used to be
 * obeyed from an unsigned JSON object.
 */
static void test_commands_refused(void)
{
    static const uint8_t other_key[sizeof KEY] = {9};
    struct node_config c;
    struct node *n = boot(64 * 1024, 1, &c);
    struct node_stats st;
    ack_all(n);
    node_stats(n, &st);
    uint64_t boot_id = st.boot_id;

    static const char json[] = "{\"cmd\":\"set_interval\",\"interval_ms\":5000}";
    size_t before = E.n_pubs;
    node_command(n, (const uint8_t *)json, sizeof json - 1, E.now);
    command_with(n, other_key, boot_id, ++counter, "set_interval", NULL, 5000); /* forged */
    command_with(n, NULL, boot_id + 1, ++counter, "set_interval", NULL, 5000);  /* another boot */
    uint8_t big[NODE_MAX_CMD_BYTES + 1];
    memset(big, 'C', sizeof big);
    node_command(n, big, sizeof big, E.now);
    CU_ASSERT_EQUAL(E.n_pubs, before); /* no reply, no birth */

    /* Obeyed once; the same command again (a replay) and an older counter are not. */
    uint64_t k = ++counter;
    CU_ASSERT(
        strstr((char *)command_with(n, NULL, boot_id, k, "set_interval", "op-9", 5000)->payload,
               "\"ok\":true") != NULL);
    before = E.n_pubs;
    command_with(n, NULL, boot_id, k, "set_interval", "op-9", 300);
    command_with(n, NULL, boot_id, k - 1, "set_interval", "op-9", 300);
    CU_ASSERT_EQUAL(E.n_pubs, before);
    node_stats(n, &st);
    CU_ASSERT_EQUAL(st.interval_ms, 5000);
    CU_ASSERT_EQUAL(st.commands, 7);
    CU_ASSERT_EQUAL(st.commands_refused, 6);
    node_free(n);
}

static void test_bad_config(void)
{
    static const struct drv_param fail = {"fail", "1"};
    static const struct node_sensor_config failing[] = {{"s", "fake", &fake_driver, &fail, 1}};
    static const struct node_sensor_config twice[] = {{"s", "fake", &fake_driver, NULL, 0},
                                                      {"s", "fake", &fake_driver, NULL, 0}};
    struct node_diag diag;
    struct node *n = NULL;
    env_reset(64 * 1024);
    struct node_ports ports = {{&hal_ops, NULL}, {&disk_ops, NULL, E.disk_bytes}, {&net_ops, NULL}};
    struct node_ports tiny = ports;
    tiny.storage.size_bytes = 4096;

    struct node_config c = config();
    c.device_id = "bad/id";
    CU_ASSERT_EQUAL(node_new(&c, &ports, 0, &n, &diag), -NODE_EINVAL);
    c = config();
    c.key_len = 8;
    CU_ASSERT_EQUAL(node_new(&c, &ports, 0, &n, &diag), -NODE_EINVAL);
    c = config();
    c.interval_ms = 10;
    CU_ASSERT_EQUAL(node_new(&c, &ports, 0, &n, &diag), -NODE_EINVAL);
    c = config();
    c.sensors = twice;
    c.n_sensors = 2;
    CU_ASSERT_EQUAL(node_new(&c, &ports, 0, &n, &diag), -NODE_EINVAL);
    c = config();
    c.sensors = failing;
    CU_ASSERT_EQUAL(node_new(&c, &ports, 0, &n, &diag), -NODE_EDRIVER);
    CU_ASSERT(strstr(diag.text, "told to fail") != NULL);
    c = config();
    CU_ASSERT_EQUAL(node_new(&c, &tiny, 0, &n, &diag), -NODE_EINVAL);
    CU_ASSERT(strstr(diag.text, "ring") != NULL);
    CU_ASSERT(n == NULL);
    node_free(NULL);
}

static void test_teardown(void)
{
    env_reset(16);
    free(E.disk);
    E.disk = NULL;
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"birth, live frames, death", test_birth_and_live_frames},
        {"offline to ring, drained in order at a bounded rate", test_offline_then_drain},
        {"unconfirmed frames taken back on disconnect", test_disconnect_takes_back},
        {"a restart keeps the ring", test_restart_keeps_ring},
        {"full ring drops the oldest and reports it", test_ring_full_reports_dropped},
        {"stalled uplink", test_stalled_uplink},
        {"commands", test_commands},
        {"forged, replayed and unsigned commands are refused", test_commands_refused},
        {"bad configuration", test_bad_config},
        {"teardown", test_teardown},
        {NULL, NULL},
    };
    return cu_main("node", tests);
}
