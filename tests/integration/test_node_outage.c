/*
 * test_node_outage.c -- real citynode processes through a 60 s broker outage
 * (tools/services: a real Mosquitto with persistence).
 *
 * Three nodes publish 5 frames per second to the broker while a persistent
 * QoS 1 subscriber records every frame. The broker is stopped for 60 s.
 * During the outage node-b is killed with SIGKILL and node-c stopped with
 * SIGTERM; both are started again at once (a new boot) and keep buffering.
 * After the broker returns, every frame of every boot must arrive exactly
 * once with no gap in its sequence, the frames sampled during the outage
 * must carry the backlog flag, and backlog frames must arrive in order.
 * A broker redelivery to the subscriber (MQTT dup flag) is not the node's
 * doing and is ignored when its bytes equal the first copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>

#include "cu.h"
#include "wire.h"

#define SITE "ring-north"
#define N_NODES 3
#define OUTAGE_MS 60000
#define KILL_AFTER_MS 20000
#define MAX_RECS 8192
#define INTERVAL_MS 200

static const uint8_t KEY[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const char *const NODE_IDS[N_NODES] = {"node-a", "node-b", "node-c"};

struct rec {
    uint64_t boot, seq, ts;
    int backlog;
    uint32_t backlog_frames;
    uint8_t *bytes;
    size_t len;
};

struct node_proc {
    const char *id;
    char config[512], log[512];
    pid_t pid;
    struct rec recs[MAX_RECS];
    size_t n;
};

static struct node_proc nodes[N_NODES];
static MQTTClient sub;
static char citynode[1024];
static unsigned char arena[256 * 1024];
static uint64_t outage_from_ms, outage_to_ms;
static size_t redeliveries;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int key_fn(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    for (int i = 0; i < N_NODES; i++)
        if (strcmp(device_id, NODE_IDS[i]) == 0) {
            key->bytes = KEY;
            key->len = sizeof KEY;
            return 0;
        }
    return -1;
}

static void write_config(struct node_proc *np, const char *dir)
{
    snprintf(np->config, sizeof np->config, "%s/%s.ini", dir, np->id);
    snprintf(np->log, sizeof np->log, "%s/%s.log", dir, np->id);
    FILE *f = fopen(np->config, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "[node]\nid = %s\nsite = " SITE "\nkey = ", np->id);
    for (size_t i = 0; i < sizeof KEY; i++)
        fprintf(f, "%02x", KEY[i]);
    fprintf(f,
            "\nbroker = %s\ninterval_ms = %dms\nring_path = %s/%s.ring\nring_bytes = 2MiB\n"
            "drain_per_s = 50\nreconnect_min_ms = 200ms\nreconnect_max_ms = 2s\n"
            "keepalive_s = 5\n\n[sensor noise-1]\ndriver = sim-noise\n",
            cu_env("CITYGATE_MQTT_URL"), INTERVAL_MS, dir, np->id);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

static void spawn(struct node_proc *np)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int fd = open(np->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(citynode, citynode, "--config", np->config, (char *)NULL);
        _exit(127);
    }
    np->pid = pid;
}

/* Waits (bounded) for np to exit and returns its wait status, or -1 on timeout. */
static int reap(struct node_proc *np, int timeout_ms)
{
    uint64_t until = wall_ms() + (uint64_t)timeout_ms;
    int status = 0;
    while (wall_ms() < until) {
        pid_t r = waitpid(np->pid, &status, WNOHANG);
        if (r == np->pid) {
            np->pid = 0;
            return status;
        }
        struct timespec ts = {0, 10 * 1000000L}; /* polling a condition, not waiting for one */
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int sub_connect(void)
{
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    o.cleansession = 0;
    o.keepAliveInterval = 10;
    o.connectTimeout = 5;
    return MQTTClient_connect(sub, &o);
}

static void record(const char *topic, MQTTClient_message *m)
{
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_fn, NULL, {0}};
    Citygate__V1__Frame *f = NULL;
    wire_arena_init(&d.arena, arena, sizeof arena);
    int rc = wire_decode(&d, m->payload, (size_t)m->payloadlen, &f, NULL);
    if (rc != 0)
        fprintf(stderr, "\n%s: frame does not decode: %s\n", topic, wire_strerror(rc));
    CU_ASSERT_FATAL(rc == 0);
    for (int i = 0; i < N_NODES; i++) {
        struct node_proc *np = &nodes[i];
        if (strcmp(f->device_id, np->id) != 0)
            continue;
        if (m->dup)
            for (size_t k = 0; k < np->n; k++)
                if (np->recs[k].boot == f->boot_id && np->recs[k].seq == f->seq &&
                    np->recs[k].len == (size_t)m->payloadlen &&
                    memcmp(np->recs[k].bytes, m->payload, np->recs[k].len) == 0) {
                    redeliveries++;
                    return;
                }
        CU_ASSERT_FATAL(np->n < MAX_RECS);
        struct rec *r = &np->recs[np->n++];
        r->boot = f->boot_id;
        r->seq = f->seq;
        r->ts = f->timestamp_ms;
        r->backlog = f->backlog;
        r->backlog_frames = f->health ? f->health->backlog_frames : 0;
        r->len = (size_t)m->payloadlen;
        r->bytes = malloc(r->len);
        CU_ASSERT_FATAL(r->bytes != NULL);
        memcpy(r->bytes, m->payload, r->len);
        return;
    }
    CU_FAIL("a frame from an unknown node");
}

/* Receives for up to ms milliseconds, reconnecting the subscriber when it lost the broker. */
static void pump(int ms)
{
    uint64_t until = wall_ms() + (uint64_t)ms;
    while (wall_ms() < until) {
        if (!MQTTClient_isConnected(sub) && sub_connect() != MQTTCLIENT_SUCCESS)
            continue;
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *m = NULL;
        int rc = MQTTClient_receive(sub, &topic, &topic_len, &m, 100);
        if (rc == MQTTCLIENT_SUCCESS && m) {
            record(topic, m);
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
        }
    }
}

static size_t count_boots(const struct node_proc *np, uint64_t *boots, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < np->n; i++) {
        size_t k = 0;
        while (k < n && boots[k] != np->recs[i].boot)
            k++;
        if (k == n && n < cap)
            boots[n++] = np->recs[i].boot;
    }
    return n;
}

/* 1 when every boot of np has frames 1..max with none missing (duplicates are checked later). */
static int complete(const struct node_proc *np)
{
    uint64_t boots[8];
    size_t nb = count_boots(np, boots, 8);
    if (nb == 0)
        return 0;
    for (size_t b = 0; b < nb; b++) {
        uint64_t max = 0, have = 0;
        static unsigned char seen[MAX_RECS + 1];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < np->n; i++)
            if (np->recs[i].boot == boots[b] && np->recs[i].seq <= MAX_RECS) {
                if (!seen[np->recs[i].seq]++)
                    have++;
                if (np->recs[i].seq > max)
                    max = np->recs[i].seq;
            }
        if (have != max)
            return 0;
    }
    /* And a live frame sampled after the outage says the ring is empty: the backlog drained. */
    const struct rec *last = &np->recs[np->n - 1];
    return last->ts > outage_to_ms && last->backlog_frames == 0 && !last->backlog;
}

static void test_setup(void)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CU_ASSERT_FATAL(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(citynode, sizeof citynode, "%s/../../firmware/citynode", self);
    CU_ASSERT_FATAL(access(citynode, X_OK) == 0);
    const char *dir = cu_env("CITYGATE_SERVICES_DIR");
    for (int i = 0; i < N_NODES; i++) {
        nodes[i].id = NODE_IDS[i];
        write_config(&nodes[i], dir);
    }
    CU_ASSERT_FATAL(MQTTClient_create(&sub, cu_env("CITYGATE_MQTT_URL"), "outage-subscriber",
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(sub_connect() == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_subscribe(sub, "city/v1/" SITE "/+/data", 1) == MQTTCLIENT_SUCCESS);
}

static void services(const char *verb)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s mqtt", cu_env("CITYGATE_SERVICES"), verb);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

static void test_outage(void)
{
    for (int i = 0; i < N_NODES; i++)
        spawn(&nodes[i]);
    /* Live: wait until every node has published a few frames. */
    uint64_t until = wall_ms() + 20000;
    int ready = 0;
    while (!ready && wall_ms() < until) {
        pump(200);
        ready = 1;
        for (int i = 0; i < N_NODES; i++)
            ready &= nodes[i].n >= 10;
    }
    CU_ASSERT_FATAL(ready);

    services("stop");
    outage_from_ms = wall_ms();
    /* The outage is the scenario's length, not a wait for something to happen. */
    struct timespec ts = {KILL_AFTER_MS / 1000, 0};
    nanosleep(&ts, NULL);
    CU_ASSERT_FATAL(kill(nodes[1].pid, SIGKILL) == 0);
    CU_ASSERT_FATAL(kill(nodes[2].pid, SIGTERM) == 0);
    int st_b = reap(&nodes[1], 5000), st_c = reap(&nodes[2], 10000);
    CU_ASSERT_FATAL(st_b != -1 && WIFSIGNALED(st_b) && WTERMSIG(st_b) == SIGKILL);
    CU_ASSERT_FATAL(st_c != -1 && WIFEXITED(st_c) && WEXITSTATUS(st_c) == 0);
    spawn(&nodes[1]);
    spawn(&nodes[2]);
    uint64_t rest = OUTAGE_MS - (wall_ms() - outage_from_ms);
    ts.tv_sec = (time_t)(rest / 1000);
    ts.tv_nsec = (long)(rest % 1000) * 1000000L;
    nanosleep(&ts, NULL);
    outage_to_ms = wall_ms();
    services("start");

    /* Back: everything must arrive, then the rings must be empty. */
    until = wall_ms() + 60000;
    int done = 0;
    while (!done && wall_ms() < until) {
        pump(500);
        done = 1;
        for (int i = 0; i < N_NODES; i++)
            done &= complete(&nodes[i]);
    }
    for (int i = 0; i < N_NODES; i++) {
        CU_ASSERT_FATAL(kill(nodes[i].pid, SIGTERM) == 0);
        int st = reap(&nodes[i], 10000);
        CU_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    pump(1000); /* anything confirmed during the shutdown */
    CU_ASSERT(done);
}

static void check_node(const struct node_proc *np, size_t expect_boots)
{
    uint64_t boots[8];
    size_t nb = count_boots(np, boots, 8), backlog_total = 0;
    CU_ASSERT_EQUAL(nb, expect_boots);
    for (size_t b = 0; b < nb; b++) {
        static unsigned seen[MAX_RECS + 1];
        uint64_t max = 0, last_backlog = 0;
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < np->n; i++) {
            const struct rec *r = &np->recs[i];
            if (r->boot != boots[b])
                continue;
            CU_ASSERT_FATAL(r->seq >= 1 && r->seq <= MAX_RECS);
            seen[r->seq]++;
            if (r->seq > max)
                max = r->seq;
            if (r->backlog) {
                CU_ASSERT(r->seq > last_backlog); /* drained in order */
                last_backlog = r->seq;
                backlog_total++;
            }
            /* Sampled well inside the outage: it can only have come from the ring. */
            if (r->ts > outage_from_ms + 2000 && r->ts + 2000 < outage_to_ms)
                CU_ASSERT(r->backlog);
        }
        size_t missing = 0, dups = 0;
        for (uint64_t s = 1; s <= max; s++) {
            missing += seen[s] == 0;
            dups += seen[s] > 1;
        }
        fprintf(stderr, "\n  %s boot %016llx: frames 1..%llu, %zu missing, %zu duplicated", np->id,
                (unsigned long long)boots[b], (unsigned long long)max, missing, dups);
        CU_ASSERT_EQUAL(missing, 0);
        CU_ASSERT_EQUAL(dups, 0);
    }
    /* 60 s at 5 frames per second went through the ring. */
    fprintf(stderr, ", %zu backlog frames", backlog_total);
    CU_ASSERT(backlog_total >= (OUTAGE_MS / INTERVAL_MS) * 8 / 10);
}

static void test_exactly_once(void)
{
    check_node(&nodes[0], 1); /* broker outage only */
    check_node(&nodes[1], 2); /* SIGKILLed during the outage */
    check_node(&nodes[2], 2); /* SIGTERMed during the outage */
    fprintf(stderr, "\n  %zu broker redeliveries to the subscriber ignored\n", redeliveries);
}

static void test_teardown(void)
{
    for (int i = 0; i < N_NODES; i++) {
        if (nodes[i].pid > 0) {
            kill(nodes[i].pid, SIGKILL);
            reap(&nodes[i], 5000);
        }
        for (size_t k = 0; k < nodes[i].n; k++)
            free(nodes[i].recs[k].bytes);
    }
    if (MQTTClient_isConnected(sub))
        MQTTClient_disconnect(sub, 1000);
    MQTTClient_destroy(&sub);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"setup", test_setup},
        {"60 s broker outage, one node killed and one stopped during it", test_outage},
        {"every frame exactly once, in sequence, backlog flagged", test_exactly_once},
        {"teardown", test_teardown},
        {NULL, NULL},
    };
    return cu_main("node outage", tests);
}
