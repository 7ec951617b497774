/*
 * test_citysim.c -- tools/citysim against the real broker of tools/services:
 * 200 simulated nodes on four sensor kinds for 5 s, a tenth of them
 * misbehaving on purpose, watched by a QoS 1 subscriber.
 *
 * Every message is judged the way the gateway judges it, with the gateway's
 * own pure code: wire_decode() with the key from the registry citysim
 * writes (gw_registry_new), then gw_validate_frame() (topic, registry site,
 * timestamp, physical ranges), then a replay check on (boot, seq). The test
 * then holds citysim to what it promises: every message it published
 * arrived; the good nodes' frames all pass, in sequence, with readings of
 * the sensor the registry names; exactly round(0.1 x 200) nodes were
 * refused, each always for the one reason its fault kind stands for, the
 * seven kinds in turn; and the summary's bad= count is the number refused.
 *
 * History (--start): a day of 15-min frames from 20 nodes, run as fast as
 * the broker acknowledges. Every frame carries its simulated time (node i's
 * k-th at start + i * 45 s + k * 15 min, none missing, none twice), and the
 * --truth file holds exactly the frames the subscriber received, reading by
 * reading and vehicle by vehicle (a motorway's three lanes included).
 *
 * Usage: test_citysim PATH-TO-CITYSIM (under tools/services)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>

#include "cu.h"
#include "registry.h"
#include "validate.h"
#include "wire.h"

#define N_NODES 200
#define N_BAD 20 /* round(0.1 x 200) */
#define MIX "traffic,air,noise,parking"
#define RUN_TIMEOUT_MS 60000
#define DELIVERY_TIMEOUT_MS 15000
#define MAX_SEQ 64
#define H_NODES 20
#define H_PERIOD_MS 900000ULL
#define H_FRAMES 96 /* a day of 15-min frames per node */

/* The refusal each fault kind must earn, in citysim's --bad-kinds order (docs/tools.md). */
static const int fault_reasons[] = {
    WIRE_EBAD_SIGNATURE, GW_REJECT_SITE_MISMATCH,    GW_REJECT_OUT_OF_RANGE,
    GW_REJECT_DUPLICATE, GW_REJECT_TIMESTAMP_FUTURE, WIRE_EMALFORMED,
    WIRE_ETOO_LARGE,
};
#define N_FAULTS (sizeof(fault_reasons) / sizeof(fault_reasons[0]))

/* What one node's messages came to. */
struct seen {
    uint64_t boot;
    uint8_t seq[MAX_SEQ + 1]; /* accepted frames by sequence number */
    size_t good, refused;
    int reason;      /* the first refusal's reason (positive) */
    bool mixed;      /* refused for more than one reason */
    bool no_reading; /* an accepted frame without readings of the registry's sensor */
};

static const char *citysim;
static char dir[512], registry_path[600];
static struct gw_registry *registry;
static MQTTClient sub;
static unsigned char arena[256 * 1024];
static struct seen nodes[N_NODES];
static size_t received;

/* History: what arrived of each node's frames, by sequence number. */
static struct {
    uint64_t start_ms;
    bool on;
    uint64_t ts[H_NODES][H_FRAMES + 1];  /* timestamp of each sequence number, 0 = not seen */
    uint64_t sum[H_NODES][H_FRAMES + 1]; /* the frame's text as --truth writes it, hashed */
    size_t frames, dups, odd;
    size_t lane3; /* node-0001's frames (a motorway) with a lane-3 volume */
} hist;

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The node index of "node-NNNN", or -1. */
static int node_index(const char *id)
{
    char *end;
    unsigned long n;

    if (strncmp(id, "node-", 5) != 0)
        return -1;
    errno = 0;
    n = strtoul(id + 5, &end, 10);
    return errno == 0 && *end == '\0' && n >= 1 && n <= N_NODES ? (int)n - 1 : -1;
}

/* Judges one message as the gateway would and files the outcome under its topic's node. */
static void judge(const char *t, const MQTTClient_message *msg)
{
    const struct gw_validate_limits limits = {30000, 7 * 86400000ULL};
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, gw_registry_key, registry, {0}};
    Citygate__V1__Frame *f = NULL;
    struct gw_reject_diag diag;
    struct gw_topic topic;
    struct seen *sn;
    int rc, i;

    received++;
    CU_ASSERT_EQUAL_FATAL(gw_topic_parse(t, strlen(t), &topic), 0);
    i = node_index(topic.node);
    CU_ASSERT_FATAL(i >= 0);
    sn = &nodes[i];
    wire_arena_init(&d.arena, arena, sizeof(arena));
    rc = wire_decode(&d, msg->payload, (size_t)msg->payloadlen, &f, NULL);
    if (rc == 0 && gw_validate_frame(gw_registry_find(registry, f->device_id), &topic, f,
                                     clock_ms(CLOCK_REALTIME), &limits, &diag) != 0)
        rc = -diag.reason; /* negative, as wire_decode()'s */
    if (rc == 0) {
        if (sn->boot == 0)
            sn->boot = f->boot_id;
        CU_ASSERT_EQUAL(f->boot_id, sn->boot);
        CU_ASSERT_FATAL(f->seq >= 1 && f->seq <= MAX_SEQ);
        if (sn->seq[f->seq]++)
            rc = -GW_REJECT_DUPLICATE;
    }
    if (rc != 0) {
        sn->mixed |= sn->refused > 0 && sn->reason != -rc;
        sn->reason = -rc;
        sn->refused++;
        return;
    }
    sn->good++;
    /* The sensor the registry names for the device is the one the frame reads. */
    const struct gw_device *dev = gw_registry_find(registry, f->device_id);
    bool found = false;
    for (size_t r = 0; r < f->n_readings; r++)
        found |= strcmp(f->readings[r]->sensor_id, dev->sensors[0]) == 0;
    sn->no_reading |= !found;
}

/* FNV-1a over a line, continuing from h. */
static uint64_t fnv(uint64_t h, const char *line)
{
    for (; *line; line++)
        h = (h ^ (unsigned char)*line) * 0x100000001b3ULL;
    return h;
}

/* Files one frame of the history run by node and sequence number, with the hash of its text. */
static void history_frame(const MQTTClient_message *msg)
{
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, gw_registry_key, registry, {0}};
    Citygate__V1__Frame *f = NULL;
    uint64_t h = 0xcbf29ce484222325ULL;
    char line[256];
    int i;

    wire_arena_init(&d.arena, arena, sizeof(arena));
    if (wire_decode(&d, msg->payload, (size_t)msg->payloadlen, &f, NULL) != 0 ||
        (i = node_index(f->device_id)) < 0 || i >= H_NODES || f->seq < 1 || f->seq > H_FRAMES) {
        hist.odd++;
        return;
    }
    hist.frames++;
    if (hist.ts[i][f->seq]) {
        hist.dups++;
        return;
    }
    hist.ts[i][f->seq] = f->timestamp_ms;
    /* The same lines as citysim's --truth (docs/tools.md), built from what arrived. */
    snprintf(line, sizeof(line), "F %s %s %016" PRIx64 " %" PRIu64 " %" PRIu64 " %" PRIu32,
             f->site_id, f->device_id, f->boot_id, f->seq, f->timestamp_ms, f->interval_ms);
    h = fnv(h, line);
    for (size_t k = 0; k < f->n_readings; k++) {
        const Citygate__V1__Reading *r = f->readings[k];

        hist.lane3 +=
            i == 0 && r->lane == 3 && r->quantity == CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME;
        snprintf(line, sizeof(line), "R %d %" PRIu32 " %d %d %.17g", (int)r->quantity, r->lane,
                 (int)r->vehicle_class, (int)r->quality, r->value);
        h = fnv(h, line);
    }
    for (size_t k = 0; k < f->n_vehicles; k++) {
        const Citygate__V1__Vehicle *v = f->vehicles[k];

        snprintf(line, sizeof(line), "V %" PRIu32 " %" PRId64 " %.9g %.9g %d %" PRIu32, v->lane,
                 (int64_t)f->timestamp_ms + v->offset_ms, (double)v->speed_kmh, (double)v->length_m,
                 (int)v->vehicle_class, v->headway_ms);
        h = fnv(h, line);
    }
    hist.sum[i][f->seq] = h;
}

/* Receives one message, if one comes within timeout_ms, and judges it. */
static void receive_one(int timeout_ms)
{
    MQTTClient_message *m = NULL;
    char *topic = NULL;
    int topic_len = 0;

    if (MQTTClient_receive(sub, &topic, &topic_len, &m, timeout_ms) == MQTTCLIENT_SUCCESS && m) {
        if (hist.on)
            history_frame(m);
        else
            judge(topic, m);
        MQTTClient_freeMessage(&m);
        MQTTClient_free(topic);
    }
}

/* Runs citysim with args (NULL-terminated) to completion; its stdout goes to out_path. */
static int run_citysim(const char *const *args, const char *out_path)
{
    const char *argv[32] = {citysim};
    int status = -1;
    pid_t pid;

    for (size_t a = 0; args[a] && a < 30; a++)
        argv[a + 1] = args[a];
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0)
            dup2(fd, STDOUT_FILENO);
        execv(citysim, (char *const *)argv);
        _exit(127);
    }
    /* Receive while it runs: the subscriber's queue on the broker is not what is tested. */
    for (uint64_t until = clock_ms(CLOCK_MONOTONIC) + RUN_TIMEOUT_MS;
         clock_ms(CLOCK_MONOTONIC) < until;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        receive_one(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void test_setup(void)
{
    const char *args[] = {"--registry", registry_path, "--nodes", "200", "--mix", MIX, NULL};
    char out[700], *text;
    struct gw_registry_diag diag;
    struct stat st;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/citysim", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(registry_path, sizeof(registry_path), "%s/registry.ini", dir);
    snprintf(out, sizeof(out), "%s/registry.out", dir);

    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    o.cleansession = 1;
    o.keepAliveInterval = 10;
    CU_ASSERT_FATAL(MQTTClient_create(&sub, cu_env("CITYGATE_MQTT_URL"), "test-citysim",
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_connect(sub, &o) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_subscribe(sub, "city/v1/+/+/data", 1) == MQTTCLIENT_SUCCESS);

    int status = run_citysim(args, out);
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_FATAL(stat(registry_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    text = malloc((size_t)st.st_size + 1);
    f = fopen(registry_path, "r");
    CU_ASSERT_FATAL(text && f && fread(text, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
    fclose(f);
    int rc = gw_registry_new(text, (size_t)st.st_size, &registry, &diag);
    if (rc != 0)
        fprintf(stderr, "\nregistry line %d: %s\n", diag.line, diag.message);
    free(text);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT_EQUAL(gw_registry_count(registry), N_NODES);
}

/* Reads "published=P acked=A failed=F rate=R/s bad=B" from citysim's stdout. */
static void read_summary(const char *path, unsigned long long *published, unsigned long long *acked,
                         unsigned long long *failed, unsigned long long *bad)
{
    char line[256] = "";
    FILE *f = fopen(path, "r");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), f));
    fclose(f);
    CU_ASSERT_FATAL(sscanf(line,
                           "citysim: published=%llu acked=%llu failed=%llu rate=%*f/s bad=%llu",
                           published, acked, failed, bad) == 4);
}

static void test_run(void)
{
    const char *args[] = {"--broker",       cu_env("CITYGATE_MQTT_URL"),
                          "--nodes",        "200",
                          "--mix",          MIX,
                          "--rate",         "1",
                          "--duration",     "5",
                          "--seed",         "7",
                          "--bad-fraction", "0.1",
                          "--quiet",        NULL};
    unsigned long long published, acked, failed, bad;
    char out[700];

    snprintf(out, sizeof(out), "%s/citysim.out", dir);
    int status = run_citysim(args, out);
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    read_summary(out, &published, &acked, &failed, &bad);
    /* Everything acknowledged reaches a QoS 1 subscriber; wait for it with a deadline. */
    for (uint64_t until = clock_ms(CLOCK_MONOTONIC) + DELIVERY_TIMEOUT_MS;
         received < published && clock_ms(CLOCK_MONOTONIC) < until;)
        receive_one(100);
    fprintf(stderr, "\n  citysim: published=%llu acked=%llu failed=%llu bad=%llu; received %zu",
            published, acked, failed, bad, received);
    CU_ASSERT_EQUAL(acked, published);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(received, published);
    CU_ASSERT(published >= N_NODES * 4);

    size_t refused = 0, bad_nodes = 0, per_reason[N_FAULTS] = {0};
    for (size_t i = 0; i < N_NODES; i++) {
        const struct seen *sn = &nodes[i];

        refused += sn->refused;
        CU_ASSERT(!sn->mixed);
        CU_ASSERT(!sn->no_reading);
        if (sn->refused == 0) {
            /* A good node: a frame per second, none missing. */
            size_t max = 0, have = 0;
            for (size_t q = 1; q <= MAX_SEQ; q++) {
                max = sn->seq[q] ? q : max;
                have += sn->seq[q] != 0;
            }
            CU_ASSERT(sn->good >= 4);
            CU_ASSERT_EQUAL(have, max);
            continue;
        }
        bad_nodes++;
        size_t k = 0;
        while (k < N_FAULTS && fault_reasons[k] != sn->reason)
            k++;
        CU_ASSERT_FATAL(k < N_FAULTS);
        per_reason[k]++;
        /* A duplicating node's originals pass; every other bad node's frames are refused. */
        CU_ASSERT_EQUAL(sn->good, sn->reason == GW_REJECT_DUPLICATE ? sn->refused : 0);
        CU_ASSERT(sn->refused >= 4);
    }
    fprintf(stderr, "\n  %zu nodes refused (%zu frames):", bad_nodes, refused);
    for (size_t k = 0; k < N_FAULTS; k++) {
        fprintf(stderr, " %s=%zu", gw_reject_name(fault_reasons[k]), per_reason[k]);
        /* The kinds in turn: 20 bad nodes over 7 kinds is 3 each for the first 6, 2 for the last.
         */
        CU_ASSERT_EQUAL(per_reason[k],
                        k < N_BAD % N_FAULTS ? N_BAD / N_FAULTS + 1 : N_BAD / N_FAULTS);
    }
    fputc('\n', stderr);
    CU_ASSERT_EQUAL(bad_nodes, N_BAD);
    CU_ASSERT_EQUAL(refused, bad);
}

/*
 * Reads the --truth file: each F line with the R and V lines after it is one
 * frame, whose hash must equal the received frame's. Returns the frames read.
 */
static size_t check_truth(const char *path)
{
    char line[256];
    size_t n = 0, matched = 0;
    uint64_t h = 0;
    int node = -1;
    unsigned long long seq = 0;
    FILE *f = fopen(path, "r");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (bool more = true; more;) {
        more = fgets(line, sizeof(line), f) != NULL;
        line[strcspn(line, "\n")] = '\0';
        if (more && line[0] == '#')
            continue;
        if (!more || line[0] == 'F') {
            if (node >= 0)
                matched += seq >= 1 && seq <= H_FRAMES && hist.sum[node][seq] == h;
            if (!more)
                break;
            char site[32], id[32];
            CU_ASSERT_FATAL(sscanf(line, "F %31s %31s %*s %llu", site, id, &seq) == 3);
            node = node_index(id);
            CU_ASSERT_FATAL(node >= 0 && node < H_NODES);
            h = 0xcbf29ce484222325ULL;
            n++;
        } else {
            CU_ASSERT_FATAL(node >= 0 && (line[0] == 'R' || line[0] == 'V'));
        }
        h = fnv(h, line);
    }
    fclose(f);
    CU_ASSERT_EQUAL(matched, n);
    return n;
}

static void test_history(void)
{
    char out[700], truth[700], start[32];
    uint64_t now = clock_ms(CLOCK_REALTIME);
    time_t t;
    struct tm tm;

    /* Two days back, on a whole hour: inside the judge's age limit, far from the clock. */
    hist.start_ms = (now / 3600000 - 48) * 3600000;
    t = (time_t)(hist.start_ms / 1000);
    gmtime_r(&t, &tm);
    strftime(start, sizeof(start), "%Y-%m-%dT%H:%M", &tm);
    snprintf(out, sizeof(out), "%s/history.out", dir);
    snprintf(truth, sizeof(truth), "%s/truth.txt", dir);
    const char *args[] = {"--broker",   cu_env("CITYGATE_MQTT_URL"),
                          "--nodes",    "20",
                          "--mix",      MIX,
                          "--start",    start,
                          "--duration", "1d",
                          "--interval", "15m",
                          "--seed",     "11",
                          "--truth",    truth,
                          "--quiet",    NULL};
    unsigned long long published, acked, failed, bad;
    uint64_t t0 = clock_ms(CLOCK_MONOTONIC);

    hist.on = true;
    int status = run_citysim(args, out);
    double secs = (double)(clock_ms(CLOCK_MONOTONIC) - t0) / 1000.0;
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    read_summary(out, &published, &acked, &failed, &bad);
    for (uint64_t until = clock_ms(CLOCK_MONOTONIC) + DELIVERY_TIMEOUT_MS;
         hist.frames < published && clock_ms(CLOCK_MONOTONIC) < until;)
        receive_one(100);
    fprintf(stderr, "\n  history: a day of %llu frames in %.1f s; received %zu", published, secs,
            hist.frames);
    CU_ASSERT_EQUAL(published, H_NODES * H_FRAMES);
    CU_ASSERT_EQUAL(acked, published);
    CU_ASSERT_EQUAL(hist.frames, published);
    CU_ASSERT_EQUAL(hist.dups, 0);
    CU_ASSERT_EQUAL(hist.odd, 0);
    /* Node i's k-th frame (sequence k) at start + i * period / N + (k - 1) * period. */
    size_t wrong = 0;
    for (int i = 0; i < H_NODES; i++)
        for (int k = 1; k <= H_FRAMES; k++)
            wrong += hist.ts[i][k] != hist.start_ms + (uint64_t)i * H_PERIOD_MS / H_NODES +
                                          (uint64_t)(k - 1) * H_PERIOD_MS;
    CU_ASSERT_EQUAL(wrong, 0);
    /* A motorway's third lane is in every frame: the frame has room for three lanes' readings. */
    CU_ASSERT_EQUAL(hist.lane3, H_FRAMES);
    CU_ASSERT_EQUAL(check_truth(truth), H_NODES * H_FRAMES);
    hist.on = false;
}

static void test_teardown(void)
{
    if (MQTTClient_isConnected(sub))
        MQTTClient_disconnect(sub, 1000);
    MQTTClient_destroy(&sub);
    gw_registry_free(registry);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"setup: the registry citysim writes", test_setup},
        {"200 nodes for 5 s, a tenth misbehaving, judged as the gateway judges", test_run},
        {"history: a day of 15-min frames as fast as the broker takes them, and its truth",
         test_history},
        {"teardown", test_teardown},
        {NULL, NULL},
    };

    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-CITYSIM\n", argv[0]);
        return 64;
    }
    citysim = argv[1];
    signal(SIGPIPE, SIG_IGN);
    return cu_main("citysim", tests);
}
