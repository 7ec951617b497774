/*
 * test_rollout_fleet.c -- `cityflash rollout` to a mixed fleet of 50 nodes
 * (3 real citynode processes under their boot stage, 47 citysim nodes) on
 * the real broker, with a real gateway taking the fleet's data meanwhile
 * (tools/services).
 *
 * Four nodes are made to fail, one in each way a node fails: citynode cn2's
 * new image exits before it confirms (the boot stage reverts it), and
 * citysim's --update-fail-fraction picks three of its nodes (a block stored
 * wrong, a slot that decays before the test boot, a test image that
 * crashes). With --max-failures 4 the rollout must stop at the fourth and
 * name exactly these four; each of them runs 1.0.0 again; every other node
 * is CONFIRMED on 2.0.0, or still on 1.0.0 untouched (IDLE) or cancelled by
 * the stop while downloading; the last group is untouched.
 *
 * During the first group's transfer the three citynode processes are
 * SIGKILLed, each once it has acknowledged a few blocks, and then the broker
 * is restarted: every transfer resumes from the node's bitmap. The ground
 * truth for "no acknowledged block sent again" is a persistent QoS 1
 * observer on every node's cmd and cmd/reply topics, from before the rollout
 * starts: it verifies and decodes each block (offset) and each answer of the
 * nodes (acks, and the bitmap a node answers a manifest with), and counts
 * the blocks sent after the node's answer said it held them (see
 * transfer_truth() for why that count is sound). The sender's own figure
 * (acked_blocks_sent_again) is printed beside it; both must be 0. No ack
 * may be lost over the restart either: cityflash is held (SIGSTOP) from
 * before the broker stops until it is back, once a node has answered since,
 * and no block may be sent after the broker took the node's ack of it
 * (after_ack, the broker's side of the count: with a clean session the held
 * acks died with it and their blocks went again after 10 s).
 *
 * The gateway takes the data of all 50 nodes and of a probe device. A
 * second persistent QoS 1 observer, subscribed to every data topic before
 * any node starts, is the ground truth of what the broker delivered: at the
 * end the gateway has accepted, node by node, exactly the distinct frames
 * (by boot and sequence) the observer saw, and the observer saw exactly what
 * citysim's --truth says the broker acknowledged and what the probe
 * published. The probe crosses a threshold rule over and over while the
 * rollout runs (not while the broker is down), and as often before it:
 * publish-to-alert latency is printed (the first crossing after the broker
 * restart, which waits for the gateway to catch up, apart), and its p99
 * during the rollout must stay under ALERT_BOUND_MS, or under
 * ALERT_LOAD_FACTOR times the p99 measured before the rollout when the
 * machine is so loaded that this one is already high.
 *
 * Usage: test_rollout_fleet CITYGATE CITYSIM CITYNODE CITYNODE_BOOT CITYFLASH DATA_DIR
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cu.h"
#include "gwtest.h"
#include "registry.h"
#include "script_image.h"
#include "wire.h"

#define N_CITYNODES 3
#define N_SIM 47
#define N_NODES (N_CITYNODES + N_SIM)
#define SIM_FAILS 3 /* round(0.064 x 47) */
#define SIM_SEED "178"
#define SIM_MIX "noise"       /* one reading a frame: the fleet's data costs little */
#define PAD_BYTES (40 * 4096) /* 41 blocks: long enough to be caught mid-transfer */
#define KILL_AFTER_REPLIES 4  /* the manifest's answer and three acknowledged blocks */
#define ALERT_BOUND_MS 1000.0
#define ALERT_LOAD_FACTOR 3.0
#define BASELINE_CROSSINGS 40
#define ALERT_TIMEOUT_MS 10000
#define MAX_CROSSINGS 4096
#define CROSSING_PACE_MS 50
#define BLOCK_BYTES 4096 /* the transfer's block (docs/rollouts.md) */
#define MAX_BLOCKS 64    /* the image's 41 blocks, with room */
#define RULES                                                                                      \
    "[rule slow]\nnode = node-0000\nquantity = SPEED\ndirection = below\nwarn = 30\ncrit = 15\n"   \
    "warn_reset = 35\ncrit_reset = 20\n"

static const char *citygate, *citysim, *citynode, *boot_bin, *cityflash, *data_dir;
static struct gwt t;
static char dir[400], fleet_reg[512];
static pid_t pids[N_CITYNODES + 2]; /* process groups started here, killed at the end */
static size_t n_pids;

/* The ground truth: persistent observers of the nodes' data and of the transfers. */
static struct gwt_sub *data_obs, *cmd_obs;
static size_t held_replies; /* the nodes' answers while the sender was held over the restart */

/* The probe (gateway device 0): its frames, and its alert latencies. */
static struct gwt_sub *alerts;
static size_t next_alert; /* the next message of alerts to look at */
static uint64_t last_changed_ms, probe_seq, probe_frames, n_crossings;
static uint64_t lat_ns[MAX_CROSSINGS];
static size_t n_lat;

/* Starts argv as a new process group with stdout and stderr to log (in dir). */
static pid_t spawn(char *const argv[], const char *log)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, log);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static void write_file(const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

/* The whole of the file at path, NUL-terminated (caller frees), or NULL. */
static char *read_path(const char *path)
{
    char *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    out = malloc((size_t)n + 1);
    if (out && fread(out, 1, (size_t)n, f) == (size_t)n)
        out[n] = '\0';
    fclose(f);
    return out;
}

/* The whole of dir/name, NUL-terminated (caller frees), or NULL. */
static char *read_file(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return read_path(path);
}

/* A payload script that runs citynode (its pid in NODE.ini.pid), padded, signed as version. */
static void make_image(const char *name, const char *version, const char *check)
{
    char script[600], img[600], body[1024];
    snprintf(script, sizeof script, "%s/%s.sh", dir, name);
    snprintf(img, sizeof img, "%s/%s.img", dir, name);
    snprintf(body, sizeof body, "%s\necho $$ > \"$1.pid\"\nexec '%s' -c \"$1\"", check, citynode);
    cu_script_image(cityflash, data_dir, script, img, body, PAD_BYTES, 0, version, 1);
}

/* citynode cnI's device key, as hex. */
static void cn_key_hex(int i, char hex[65])
{
    uint8_t key[32];
    for (size_t k = 0; k < sizeof key; k++)
        key[k] = (uint8_t)(i * 31 + (int)k * 7 + 1);
    wire_hex_encode(key, sizeof key, hex);
}

/* Adds the citynode processes to the registry at path. */
static void register_citynodes(const char *path)
{
    char hex[65];
    FILE *reg = fopen(path, "a");
    CU_ASSERT_FATAL(reg != NULL);
    for (int i = 0; i < N_CITYNODES; i++) {
        cn_key_hex(i, hex);
        fprintf(reg, "\n[device cn%d]\nsite = depot\nkey = %s\n", i + 1, hex);
    }
    CU_ASSERT_FATAL(fclose(reg) == 0);
}

/* citynode cnI under citynode-boot, restarted by a loop as a supervisor would. */
static void start_citynode(int i)
{
    char name[16], ini[600], text[2048], loop[4096], hex[65];
    snprintf(name, sizeof name, "cn%d", i + 1);
    snprintf(ini, sizeof ini, "%s/%s.ini", dir, name);
    cn_key_hex(i, hex);
    snprintf(text, sizeof text, "[node]\nid = %s\nsite = depot\nkey = %s", name, hex);
    snprintf(text + strlen(text), sizeof text - strlen(text),
             "\nbroker = %s\ninterval_ms = 200ms\nring_path = %s/%s.ring\nring_bytes = 1MiB\n"
             "reconnect_min_ms = 100ms\nreconnect_max_ms = 1s\nkeepalive_s = 5\n\n"
             "[sensor noise-1]\ndriver = sim-noise\n",
             cu_env("CITYGATE_MQTT_URL"), dir, name);
    snprintf(loop, sizeof loop, "%s.ini", name);
    write_file(loop, text);
    snprintf(loop, sizeof loop,
             "'%s' --dir '%s/%s.slots' --key '%s/mcuboot/golden.key.pub' init '%s/v1.img' "
             ">/dev/null",
             boot_bin, dir, name, data_dir, dir);
    CU_ASSERT_FATAL(cu_run(loop, NULL) == 0);
    snprintf(loop, sizeof loop,
             "while :; do '%s' --dir '%s/%s.slots' --key '%s/mcuboot/golden.key.pub' --trial 30s "
             "run -- '%s'; done",
             boot_bin, dir, name, data_dir, ini);
    char log[32];
    snprintf(log, sizeof log, "%s.log", name);
    char *argv[] = {"/bin/sh", "-c", loop, NULL};
    pids[n_pids++] = spawn(argv, log);
}

/* `cityflash --json status`, parsed: node id -> its object (caller frees the root). */
static json_t *fleet_status(void)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' --json status --broker '%s' --registry '%s' --wait 1s",
             cityflash, cu_env("CITYGATE_MQTT_URL"), fleet_reg);
    cu_run(cmd, &out);
    json_t *root = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    json_t *by_node = json_object();
    json_t *nodes = json_object_get(root, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        json_object_set(by_node, json_string_value(json_object_get(n, "node")), n);
    }
    json_decref(root);
    return by_node;
}

static const char *field(json_t *by_node, const char *node, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(by_node, node), key));
    return v ? v : "";
}

/* Waits until all N_NODES nodes report running version. */
static void wait_all_running(const char *version, int tries)
{
    for (int k = 0; k < tries; k++) {
        json_t *st = fleet_status();
        size_t ok = 0;
        const char *node;
        json_t *n;
        json_object_foreach(st, node, n) ok += strcmp(field(st, node, "running"), version) == 0;
        json_decref(st);
        if (ok == N_NODES)
            return;
    }
    CU_FAIL_FATAL("the fleet did not come up");
}

/* One threshold crossing of the probe (CRIT at 10 km/h from OK, OK at 50 from CRIT), timed. */
static void crossing(void)
{
    int down = n_crossings++ % 2 == 0;
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, down ? 10 : 50, 1, 0};
    uint8_t frame[1024];
    char topic[128];
    for (uint64_t end = gwt_now_ms() + 1000; gwt_now_ms() <= last_changed_ms;) {
        CU_ASSERT_FATAL(gwt_now_ms() < end);
        gwt_pause_ms(1);
    }
    size_t len = gwt_frame(&t, 0, 700, ++probe_seq, gwt_now_ms(), &r, 1, frame, sizeof frame);
    gwt_topic(&t, 0, topic, sizeof topic);
    uint64_t t0 = gwt_mono_ns();
    gwt_publish(&t, topic, frame, len);
    probe_frames++;
    const struct gwt_msg *m;
    do { /* the retained state a new subscription starts with is not this crossing's */
        CU_ASSERT_FATAL(gwt_sub_wait(alerts, next_alert + 1, ALERT_TIMEOUT_MS) > next_alert);
        m = gwt_sub_msg(alerts, next_alert++);
    } while (m->retained);
    CU_ASSERT_STRING_EQUAL(gwt_msg_str(m, "state"), down ? "crit" : "ok");
    last_changed_ms = (uint64_t)json_integer_value(json_object_get(m->json, "changed_ms"));
    if (n_lat < MAX_CROSSINGS)
        lat_ns[n_lat++] = m->arrived_ns - t0;
}

/* Replies of citynode cnI on .../cmd/reply so far. */
static size_t replies_of(struct gwt_sub *s, int i)
{
    char topic[64];
    size_t n = 0;
    snprintf(topic, sizeof topic, "city/v1/depot/cn%d/cmd/reply", i + 1);
    for (size_t k = 0, all = gwt_sub_count(s); k < all; k++)
        n += strcmp(gwt_sub_msg(s, k)->topic, topic) == 0;
    return n;
}

static void kill_payload(int i)
{
    char name[32];
    snprintf(name, sizeof name, "cn%d.ini.pid", i + 1);
    char *text = read_file(name);
    long pid = text ? strtol(text, NULL, 10) : 0;
    free(text);
    CU_ASSERT_FATAL(pid > 1);
    CU_ASSERT(kill((pid_t)pid, SIGKILL) == 0);
}

/* The messages the transfer observer saw from its message mark on whose topic ends in suffix:
 * "/cmd/reply" (the nodes' answers) or "/cmd" (commands, the sender's blocks among them). */
static size_t seen_since(size_t mark, const char *suffix)
{
    size_t n = 0, slen = strlen(suffix);
    for (size_t k = mark, all = gwt_sub_count(cmd_obs); k < all; k++) {
        const char *topic = gwt_sub_msg(cmd_obs, k)->topic;
        size_t len = strlen(topic);
        n += len > slen && strcmp(topic + len - slen, suffix) == 0;
    }
    return n;
}

/*
 * Holds the sender (SIGSTOP) so that answers of the nodes wait for it, until an answer reached
 * the broker after the hold (up to 1 s). If none came, the sender goes on until the observer
 * sees its next command (one is then on its way, and its answer likely to follow) and is held
 * again, up to 5 times. Returns the answers that came while it was held.
 */
static size_t hold_sender(pid_t ro)
{
    size_t held = 0;
    for (int attempt = 0; attempt < 5 && held == 0; attempt++) {
        size_t mark = gwt_sub_count(cmd_obs);
        if (attempt > 0) {
            CU_ASSERT_FATAL(kill(ro, SIGCONT) == 0);
            for (int k = 0; k < 1000 && seen_since(mark, "/cmd") == 0; k++)
                gwt_pause_ms(10);
            mark = gwt_sub_count(cmd_obs);
        }
        CU_ASSERT_FATAL(kill(ro, SIGSTOP) == 0);
        for (int k = 0; k < 100 && (held = seen_since(mark, "/cmd/reply")) == 0; k++)
            gwt_pause_ms(10);
    }
    return held;
}

static int rollout_running(pid_t pid, int *status)
{
    return waitpid(pid, status, WNOHANG) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts the latencies measured so far; their p50, p99 and max in ms. */
static void latency_figures(double *p50, double *p99, double *max)
{
    qsort(lat_ns, n_lat, sizeof *lat_ns, cmp_u64);
    *p50 = (double)lat_ns[n_lat / 2] / 1e6;
    *p99 = (double)lat_ns[(n_lat * 99 + 99) / 100 - 1] / 1e6;
    *max = (double)lat_ns[n_lat - 1] / 1e6;
}

/* "citysim: 3 nodes fail their updates: node-0006=corrupt ..." -> the ids, space-separated. */
static void sim_failing(char *out, size_t cap)
{
    char *log = read_file("citysim.log");
    const char *at = log ? strstr(log, "fail their updates:") : NULL;
    out[0] = '\0';
    CU_ASSERT_FATAL(at != NULL);
    at += strlen("fail their updates:");
    while (*at == ' ') {
        char id[32];
        int n = 0;
        if (sscanf(at, " %31[^=]=%*s%n", id, &n) != 1 || n == 0)
            break;
        snprintf(out + strlen(out), cap - strlen(out), "%s ", id);
        at += n;
    }
    free(log);
}

static int listed(const char *list, const char *id)
{
    char needle[64];
    snprintf(needle, sizeof needle, "%s ", id);
    for (const char *p = strstr(list, needle); p; p = strstr(p + 1, needle))
        if (p == list || p[-1] == ' ')
            return 1;
    return 0;
}

/* ---- the ground truth: what the broker delivered to the persistent observers ---- */

/* The devices of the gateway's registry (the probe, citysim's nodes, the citynodes): the
 * observers verify every message with their keys. Caller frees with gw_registry_free(). */
static struct gw_registry *all_devices(void)
{
    struct gw_registry *reg = NULL;
    struct gw_registry_diag diag;
    char *text = read_path(t.registry);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_FATAL(gw_registry_new(text, strlen(text), &reg, &diag) == 0);
    free(text);
    return reg;
}

/* A frame as the gateway tells frames apart: node, boot and sequence. */
struct frame_id {
    char node[WIRE_MAX_DEVICE_ID + 1];
    uint64_t boot, seq;
};

static int cmp_frame_id(const void *a, const void *b)
{
    const struct frame_id *x = a, *y = b;
    int c = strcmp(x->node, y->node);
    if (c != 0)
        return c;
    if (x->boot != y->boot)
        return x->boot < y->boot ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The frames data_obs has received, verified with reg's keys, as distinct
 * (node, boot, seq) sorted by node: a copy (a QoS 1 redelivery, a ring sent
 * again after a restart) counts once. *n: how many; *copies: the copies
 * left out. Caller frees.
 */
static struct frame_id *observed_frames(const struct gw_registry *reg, size_t *n, size_t *copies)
{
    static unsigned char arena[256 * 1024];
    size_t all = gwt_sub_count(data_obs), k = 0;
    struct frame_id *ids = calloc(all + 1, sizeof *ids);
    CU_ASSERT_FATAL(ids != NULL);
    for (size_t i = 0; i < all; i++) {
        const struct gwt_msg *m = gwt_sub_msg(data_obs, i);
        struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, gw_registry_key, (void *)reg, {0}};
        Citygate__V1__Frame *f = NULL;
        wire_arena_init(&d.arena, arena, sizeof arena);
        int rc = wire_decode(&d, (const uint8_t *)m->payload, m->len, &f, NULL);
        if (rc != 0)
            fprintf(stderr, "observer: a frame on %s: %s\n", m->topic, wire_strerror(rc));
        CU_ASSERT_FATAL(rc == 0);
        snprintf(ids[k].node, sizeof ids[k].node, "%s", f->device_id);
        ids[k].boot = f->boot_id;
        ids[k++].seq = f->seq;
    }
    qsort(ids, k, sizeof *ids, cmp_frame_id);
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++)
        if (distinct == 0 || cmp_frame_id(&ids[distinct - 1], &ids[i]) != 0)
            ids[distinct++] = ids[i];
    *n = distinct;
    *copies = k - distinct;
    return ids;
}

/*
 * Once every node has stopped: the gateway accepted, node by node, exactly
 * the distinct frames the data observer received; and the observer received
 * exactly what citysim's --truth says the broker acknowledged (sim_truth
 * frames) and what the probe published.
 */
static void check_gateway_count(uint64_t sim_truth)
{
    struct gw_registry *reg = all_devices();
    struct frame_id *ids = NULL;
    size_t n = 0, copies = 0, had;
    double got;
    /* Both subscribers get the same messages; a last one still on its way to the observer
     * when the gateway already counted it is waited for. */
    do {
        free(ids);
        had = gwt_sub_count(data_obs);
        ids = observed_frames(reg, &n, &copies);
        got = gwt_wait_metric(&t, "citygate_frames_accepted_total", (double)n, 30000);
    } while (got > (double)n && gwt_sub_wait(data_obs, had + 1, 10000) > had);
    json_t *snap = gwt_snapshot(&t);
    json_t *nodes = json_object_get(snap, "nodes");
    CU_ASSERT_FATAL(json_array_size(nodes) == N_NODES + 1);
    uint64_t by_kind[3] = {0, 0, 0}; /* citynodes, citysim's nodes, the probe */
    size_t silent = 0, differ = 0;
    for (size_t j = 0; j < json_array_size(nodes); j++) {
        json_t *o = json_array_get(nodes, j);
        const char *id = json_string_value(json_object_get(o, "node"));
        json_int_t accepted = json_integer_value(json_object_get(o, "frames"));
        size_t seen = 0;
        for (size_t k = 0; k < n; k++)
            seen += strcmp(ids[k].node, id) == 0;
        int kind = strncmp(id, "cn", 2) == 0 ? 0 : strcmp(id, "node-0000") != 0 ? 1 : 2;
        by_kind[kind] += seen;
        silent += seen == 0;
        if ((size_t)accepted != seen) {
            fprintf(stderr, "%s: the observer saw %zu distinct frames, the gateway accepted %lld\n",
                    id, seen, (long long)accepted);
            differ++;
        }
    }
    printf("gateway: %.0f frames accepted; the observer saw %zu distinct (and %zu copies) from %zu "
           "nodes: %llu of the citynodes, %llu of citysim's (its truth: %llu), %llu of the probe "
           "(it published %llu)\n",
           got, n, copies, json_array_size(nodes) - silent, (unsigned long long)by_kind[0],
           (unsigned long long)by_kind[1], (unsigned long long)sim_truth,
           (unsigned long long)by_kind[2], (unsigned long long)probe_frames);
    CU_ASSERT_EQUAL(got, (double)n);
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT_EQUAL(silent, 0);
    CU_ASSERT_EQUAL(by_kind[1], sim_truth);
    CU_ASSERT_EQUAL(by_kind[2], probe_frames);
    if (got != (double)n || differ) {
        char *body = NULL;
        gwt_http(&t, "/metrics", &body);
        for (char *line = body ? strtok(body, "\n") : NULL; line; line = strtok(NULL, "\n"))
            if (strstr(line, "citygate_frames_") && line[0] != '#')
                fprintf(stderr, "%s\n", line);
        free(body);
    }
    json_decref(snap);
    free(ids);
    gw_registry_free(reg);
}

/* What the transfer observer holds of one node's transfer, in the order it arrived. */
struct seen_node {
    char id[WIRE_MAX_DEVICE_ID + 1];
    uint8_t acked[MAX_BLOCKS]; /* the node acknowledged the block */
    uint8_t held[MAX_BLOCKS];  /* the node's latest answer to a manifest holds it */
};

struct transfer_truth {
    size_t blocks;      /* distinct ota_block commands */
    size_t copies;      /* messages received again (QoS 1), left out */
    size_t answers;     /* answers to a manifest with a bitmap */
    size_t resumes;     /* ... that held blocks already: a transfer resumed */
    size_t held_resent; /* blocks sent after the node's answer said it held them */
    size_t acked_lost;  /* blocks acknowledged before an answer that does not hold them */
    size_t after_ack;   /* blocks sent after the node's ack of them reached the broker */
};

static struct seen_node *seen_node(struct seen_node *nodes, size_t *n, const char *id)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(nodes[i].id, id) == 0)
            return &nodes[i];
    CU_ASSERT_FATAL(*n < N_NODES);
    snprintf(nodes[*n].id, sizeof nodes[*n].id, "%s", id);
    return &nodes[(*n)++];
}

/* FNV-1a of a message, to find the copies QoS 1 delivers again (byte for byte the same). */
static uint64_t msg_hash(const struct gwt_msg *m)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = m->topic; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (size_t i = 0; i < m->len; i++)
        h = (h ^ (uint8_t)m->payload[i]) * 1099511628211ull;
    return h;
}

/* 1 when message i of cmd_obs is a copy of one before it (hashes[0..i) of those). */
static int is_copy(const uint64_t *hashes, size_t i)
{
    const struct gwt_msg *m = gwt_sub_msg(cmd_obs, i);
    for (size_t k = 0; k < i; k++)
        if (hashes[k] == hashes[i]) {
            const struct gwt_msg *o = gwt_sub_msg(cmd_obs, k);
            if (o->len == m->len && strcmp(o->topic, m->topic) == 0 &&
                memcmp(o->payload, m->payload, m->len) == 0)
                return 1;
        }
    return 0;
}

/*
 * The transfers as the observer on city/v1/+/+/cmd/# saw them, each message
 * verified with its node's key and taken once (a copy of one, byte for
 * byte, is QoS 1 delivering it again).
 *
 * Why held_resent is sound. Mosquitto forwards to a subscriber in the order
 * it took messages in (one queue per client, kept across its restart), and
 * a node publishes its replies in order. When a node answers a manifest,
 * the bitmap in its answer says which blocks it holds; the sender must wait
 * for that answer before it sends the transfer's blocks (docs/rollouts.md).
 * A block the observer first sees after such an answer was taken in by the
 * broker after it, so after the manifest it answers, so the sender sent it
 * after that manifest, that is once it had an answer: a block the answer
 * holds is a block sent again that the sender knew to be held. Every
 * block the node acknowledged before the answer must be in its bitmap
 * (acked_lost counts those that are not: a node that lost what it had
 * acknowledged), so the acks before an answer are covered too.
 *
 * after_ack, blocks first seen after the node's ack of the same offset
 * reached the broker, is what a lost ack costs: the sender's persistent
 * session keeps every ack the broker took, across its restart, and a block
 * goes again only after 10 s connected without its answer, so it must be 0.
 */
static void transfer_truth(const struct gw_registry *reg, struct transfer_truth *tt)
{
    static unsigned char arena[64 * 1024];
    static struct seen_node nodes[N_NODES];
    size_t n_nodes = 0, all = gwt_sub_count(cmd_obs);
    uint64_t *hashes = calloc(all + 1, sizeof *hashes);
    CU_ASSERT_FATAL(hashes != NULL);
    memset(tt, 0, sizeof *tt);
    memset(nodes, 0, sizeof nodes);
    for (size_t i = 0; i < all; i++) {
        const struct gwt_msg *m = gwt_sub_msg(cmd_obs, i);
        const uint8_t *p = (const uint8_t *)m->payload;
        struct wire_decoder d = {WIRE_MAX_CONTROL_BYTES, gw_registry_key, (void *)reg, {0}};
        wire_arena_init(&d.arena, arena, sizeof arena);
        hashes[i] = msg_hash(m);
        if (is_copy(hashes, i)) {
            tt->copies++;
            continue;
        }
        size_t tlen = strlen(m->topic);
        if (tlen > 4 && strcmp(m->topic + tlen - 4, "/cmd") == 0) {
            Citygate__V1__Command *c = NULL;
            CU_ASSERT_FATAL(wire_command_decode(&d, p, m->len, &c, NULL) == 0);
            if (strcmp(c->cmd, "ota_block") != 0 || !c->block)
                continue;
            struct seen_node *s = seen_node(nodes, &n_nodes, c->device_id);
            uint64_t b = c->block->offset / BLOCK_BYTES;
            CU_ASSERT_FATAL(b < MAX_BLOCKS);
            tt->blocks++;
            tt->after_ack += s->acked[b];
            if (s->held[b]) {
                fprintf(stderr, "%s: the block at %llu was sent after the node said it held it\n",
                        s->id, (unsigned long long)c->block->offset);
                tt->held_resent++;
            }
            continue;
        }
        Citygate__V1__UpdateReport *r = NULL;
        if (m->len < 2 || memcmp(p, "CU", 2) != 0)
            continue; /* the JSON answer of another command */
        CU_ASSERT_FATAL(wire_update_decode(&d, p, m->len, &r, NULL) == 0);
        struct seen_node *s = seen_node(nodes, &n_nodes, r->device_id);
        if (r->ack) {
            CU_ASSERT_FATAL(r->offset / BLOCK_BYTES < MAX_BLOCKS);
            s->acked[r->offset / BLOCK_BYTES] = 1;
        } else if (r->state == CITYGATE__V1__UPDATE_STATE__DOWNLOADING &&
                   !(r->reason && *r->reason)) {
            size_t held = 0;
            for (size_t b = 0; b < MAX_BLOCKS; b++) {
                s->held[b] = b / 8 < r->bitmap.len && (r->bitmap.data[b / 8] >> (b % 8) & 1);
                held += s->held[b];
                if (s->acked[b] && !s->held[b]) {
                    fprintf(stderr, "%s: acknowledged the block at %zu, then answered without it\n",
                            s->id, b * BLOCK_BYTES);
                    tt->acked_lost++;
                }
            }
            tt->answers++;
            tt->resumes += held > 0;
        }
    }
    free(hashes);
}

/* No transfer resumed by sending a block again that its node held, by the observer's count;
 * the sender's own figures beside it (r: cityflash's JSON). */
static void check_transfers(json_t *r)
{
    struct gw_registry *reg = all_devices();
    struct transfer_truth tt;
    transfer_truth(reg, &tt);
    gw_registry_free(reg);
    printf("transfers, by the observer: %zu blocks sent (%zu messages seen again), %zu answers to "
           "a manifest, %zu of them resuming; %zu blocks sent again that the node's answer held, "
           "%zu acknowledged blocks missing from an answer, %zu blocks sent after their ack "
           "reached the broker\n",
           tt.blocks, tt.copies, tt.answers, tt.resumes, tt.held_resent, tt.acked_lost,
           tt.after_ack);
    printf("transfers, by cityflash: %lld confirmed, %lld blocks sent, %lld again after no "
           "answer, %lld acknowledged ones again, %lld duplicates at the nodes\n",
           json_integer_value(json_object_get(r, "confirmed")),
           json_integer_value(json_object_get(r, "blocks_sent")),
           json_integer_value(json_object_get(r, "blocks_sent_again")),
           json_integer_value(json_object_get(r, "acked_blocks_sent_again")),
           json_integer_value(json_object_get(r, "node_duplicates")));
    CU_ASSERT(tt.blocks > 0);
    CU_ASSERT(tt.resumes >= N_CITYNODES); /* each SIGKILLed citynode resumed from its bitmap */
    CU_ASSERT_EQUAL(tt.held_resent, 0);
    CU_ASSERT_EQUAL(tt.acked_lost, 0);
    printf("transfers: %zu answers of the nodes waited for the sender over the broker restart\n",
           held_replies);
    CU_ASSERT_EQUAL(tt.after_ack, 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "acked_blocks_sent_again")), 0);
}

static void test_rollout(void)
{
    char cmd[4096], path[600], failing[512];
    snprintf(dir, sizeof dir, "%s/rollout-fleet", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    make_image("v1", "1.0.0", "");
    make_image("v2", "2.0.0", "[ -e \"$1.bad\" ] && exit 3");

    /* The gateway: the probe, then citysim's nodes in its registry. */
    gwt_init(&t, citygate, 1, 1, RULES);
    snprintf(fleet_reg, sizeof fleet_reg, "%s/fleet.ini", dir);
    snprintf(path, sizeof path, "%s/sim.ini", dir);
    snprintf(cmd, sizeof cmd, "'%s' --nodes %d --mix " SIM_MIX " --registry '%s'", citysim, N_SIM,
             path);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
    snprintf(cmd, sizeof cmd, "cat '%s' >> '%s' && cp '%s' '%s'", path, t.registry, path,
             fleet_reg);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
    register_citynodes(t.registry);
    register_citynodes(fleet_reg);
    /* The ground truth observes from before any node starts. */
    data_obs = gwt_sub_new_persistent("rollout-data", "city/v1/+/+/data");
    cmd_obs = gwt_sub_new_persistent("rollout-transfers", "city/v1/+/+/cmd/#");
    alerts = gwt_sub_new("rollout-alerts", "city/v1/alerts/#");
    gwt_start(&t);

    /* The fleet: three citynode processes (cn2's 2.0.0 exits before it confirms) ... */
    for (int i = 0; i < N_CITYNODES; i++)
        start_citynode(i);
    write_file("cn2.ini.bad", "");
    /* ... and 47 citysim nodes, three of which fail their updates. */
    char v1[600], pub[600], truth[600];
    snprintf(v1, sizeof v1, "%s/v1.img", dir);
    snprintf(pub, sizeof pub, "%s/mcuboot/golden.key.pub", data_dir);
    snprintf(truth, sizeof truth, "%s/truth.txt", dir);
    char *sim_argv[] = {(char *)citysim,
                        "--broker",
                        (char *)cu_env("CITYGATE_MQTT_URL"),
                        "--nodes",
                        "47",
                        "--rate",
                        "5",
                        "--mix",
                        SIM_MIX,
                        "--seed",
                        SIM_SEED,
                        "--truth",
                        truth,
                        "--update-image",
                        v1,
                        "--update-key",
                        pub,
                        "--update-fail-fraction",
                        "0.064",
                        "--update-fail-kinds",
                        "corrupt,refuse,crash",
                        NULL};
    pid_t sim = spawn(sim_argv, "citysim.log");
    size_t sim_slot = n_pids;
    pids[n_pids++] = sim;
    wait_all_running("1.0.0+0", 60);
    sim_failing(failing, sizeof failing);
    /* The groups are cut from the sorted ids: cn1..3, node-0001.. (first 5, then 20, then 50).
     * The seed puts the simulated failures in the first two groups, before the stop. */
    size_t in_first_two = 0;
    for (int i = 1; i <= 17; i++) {
        char id[16];
        snprintf(id, sizeof id, "node-%04d", i);
        in_first_two += listed(failing, id);
    }
    CU_ASSERT_FATAL(in_first_two == SIM_FAILS);
    snprintf(failing + strlen(failing), sizeof failing - strlen(failing), "cn2 ");

    /* Alert latency before the rollout, after a warm-up: what this machine gives now. */
    for (int i = 0; i < 4; i++)
        crossing();
    n_lat = 0;
    for (int i = 0; i < BASELINE_CROSSINGS; i++) {
        crossing();
        gwt_pause_ms(CROSSING_PACE_MS);
    }
    double b50, b99, bmax;
    latency_figures(&b50, &b99, &bmax);

    struct gwt_sub *replies = gwt_sub_new("rollout-replies", "city/v1/depot/+/cmd/reply");
    char state[600];
    snprintf(state, sizeof state, "%s/r.state", dir);
    char *ro_argv[] = {(char *)cityflash,
                       "--json",
                       "rollout",
                       "--image",
                       (char *)(snprintf(path, sizeof path, "%s/v2.img", dir), path),
                       "--nodes",
                       "*",
                       "--groups",
                       "10%,40%,100%",
                       "--max-failures",
                       "4",
                       "--min-success",
                       "50%",
                       "--window",
                       "2",
                       "--total-window",
                       "32",
                       "--node-timeout",
                       "60s",
                       "--broker",
                       (char *)cu_env("CITYGATE_MQTT_URL"),
                       "--registry",
                       fleet_reg,
                       "--state",
                       state,
                       NULL};
    uint64_t t0 = gwt_now_ms();
    pid_t ro = spawn(ro_argv, "rollout.out");
    size_t ro_slot = n_pids;
    pids[n_pids++] = ro;
    int status = 0, killed[N_CITYNODES] = {0}, n_killed = 0;

    /* Each citynode is SIGKILLed once it has answered a few commands; then the broker restarts. */
    while (n_killed < N_CITYNODES && rollout_running(ro, &status)) {
        for (int i = 0; i < N_CITYNODES; i++)
            if (!killed[i] && replies_of(replies, i) >= KILL_AFTER_REPLIES) {
                kill_payload(i);
                killed[i] = 1;
                n_killed++;
            }
        gwt_pause_ms(10);
    }
    CU_ASSERT_FATAL(n_killed == N_CITYNODES);
    gwt_sub_free(replies);
    gwt_sub_free(alerts);
    /* The sender is held (SIGSTOP) from before the broker stops until it is back, once a node
     * has answered since: those answers wait for it across the restart (check_transfers()). */
    held_replies = hold_sender(ro);
    snprintf(cmd, sizeof cmd, "'%s' stop mqtt && '%s' start mqtt", cu_env("CITYGATE_SERVICES"),
             cu_env("CITYGATE_SERVICES"));
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
    uint64_t restarted_ms = gwt_now_ms();
    CU_ASSERT_FATAL(gwt_sub_reconnect(data_obs, 20000) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(gwt_sub_reconnect(cmd_obs, 20000) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(kill(ro, SIGCONT) == 0);
    alerts = gwt_sub_new("rollout-alerts-2", "city/v1/alerts/#");
    next_alert = 0;
    CU_ASSERT_FATAL(gwt_wait_metric(&t, "citygate_mqtt_connected", 1, 30000) == 1);

    /*
     * The probe crosses its threshold while the rollout runs. The first crossing after the
     * restart waits behind what the broker queued for the gateway while it was away: a recovery
     * time, printed on its own (crossing() holds it to ALERT_TIMEOUT_MS). As with the warm-up
     * before the baseline, the bound is for the crossings after it.
     */
    n_lat = 0;
    crossing();
    double recovery_ms = (double)lat_ns[0] / 1e6;
    n_lat = 0;
    while (rollout_running(ro, &status)) {
        crossing();
        gwt_pause_ms(CROSSING_PACE_MS);
    }
    printf("rollout: %.1f s, broker restarted %.1f s in\n", (double)(gwt_now_ms() - t0) / 1000.0,
           (double)(restarted_ms - t0) / 1000.0);
    pids[ro_slot] = 0;
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 65);

    /* The outcome: stopped at four, exactly the four made to fail. */
    char *out = read_file("rollout.out");
    const char *brace = out ? strstr(out, "{\"") : NULL;
    json_t *r = brace ? json_loads(brace, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (!r)
        fprintf(stderr, "rollout said:\n%s\n", out ? out : "(nothing)");
    CU_ASSERT_FATAL(r != NULL);
    free(out);
    const char *stopped = json_string_value(json_object_get(r, "stopped"));
    CU_ASSERT(stopped && strstr(stopped, "4 nodes failed (--max-failures 4)"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "failed")), 4);
    check_transfers(r);
    json_t *nodes = json_object_get(r, "nodes");
    CU_ASSERT_EQUAL(json_array_size(nodes), N_NODES);
    json_t *st = fleet_status();
    size_t confirmed = 0, untouched = 0, cancelled = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        const char *id = json_string_value(json_object_get(n, "node"));
        const char *outcome = json_string_value(json_object_get(n, "outcome"));
        const char *running = field(st, id, "running"), *state_name = field(st, id, "state");
        json_int_t group = json_integer_value(json_object_get(n, "group"));
        int ok = 1;
        if (listed(failing, id)) {
            ok = strcmp(outcome, "failed") == 0 && strcmp(running, "1.0.0+0") == 0;
        } else if (strcmp(outcome, "confirmed") == 0) {
            ok = strcmp(state_name, "CONFIRMED") == 0 && strcmp(running, "2.0.0+0") == 0;
            confirmed++;
        } else if (strcmp(running, "1.0.0+0") == 0 && strcmp(state_name, "IDLE") == 0) {
            ok = strcmp(outcome, "waiting") == 0 || strcmp(outcome, "parked") == 0;
            untouched++;
        } else {
            ok = strcmp(outcome, "parked") == 0 && strcmp(state_name, "FAILED") == 0 &&
                 strcmp(field(st, id, "reason"), "cancelled") == 0 &&
                 strcmp(running, "1.0.0+0") == 0 && group == 2;
            cancelled++;
        }
        if (group == 3)
            ok &= strcmp(state_name, "IDLE") == 0 && strcmp(running, "1.0.0+0") == 0;
        if (!ok)
            fprintf(stderr, "%s (group %lld): outcome %s, %s, running %s, %s\n", id,
                    (long long)group, outcome, state_name, running, field(st, id, "reason"));
        CU_ASSERT(ok);
    }
    printf("fleet: 4 failed, %zu confirmed, %zu untouched, %zu cancelled by the stop\n", confirmed,
           untouched, cancelled);
    CU_ASSERT(confirmed >= 10 && untouched >= 30);
    json_decref(st);
    json_decref(r);

    /* Each killed citynode came back in the middle of its transfer and finished it. */
    for (int i = 0; i < N_CITYNODES; i++) {
        char log[32];
        snprintf(log, sizeof log, "cn%d.log", i + 1);
        char *text = read_file(log);
        size_t downloading = 0;
        for (const char *p = text; p && (p = strstr(p, ": DOWNLOADING")); p++)
            downloading++;
        if (downloading < 2)
            fprintf(stderr, "cn%d did not restart while downloading:\n%s\n", i + 1, text);
        CU_ASSERT(downloading >= 2);
        free(text);
    }

    /* The data: the nodes stop, then the gateway must hold exactly what the observer saw. */
    CU_ASSERT(kill(sim, SIGTERM) == 0);
    CU_ASSERT(waitpid(sim, &status, 0) == sim);
    pids[sim_slot] = 0;
    for (size_t i = 0; i < N_CITYNODES; i++) {
        CU_ASSERT(kill(-pids[i], SIGKILL) == 0);
        CU_ASSERT(waitpid(pids[i], NULL, 0) == pids[i]);
        pids[i] = 0;
    }
    char *tt = read_file("truth.txt");
    uint64_t frames = 0;
    for (const char *p = tt; p && (p = strstr(p, "\nF ")); p++)
        frames++;
    free(tt);
    CU_ASSERT(frames > 1000);
    check_gateway_count(frames);

    /* Alert latency while the rollout ran. */
    CU_ASSERT_FATAL(n_lat >= 20);
    double p50, p99, max, bound = ALERT_LOAD_FACTOR * b99;
    latency_figures(&p50, &p99, &max);
    bound = bound > ALERT_BOUND_MS ? bound : ALERT_BOUND_MS;
    printf("publish-to-alert latency: before the rollout (%d crossings) p50 %.1f ms, p99 %.1f ms, "
           "max %.1f ms; the first after the broker restart %.1f ms; during the rollout after it "
           "(%zu) p50 %.1f ms, p99 %.1f ms, max %.1f ms (bound %.0f ms)\n",
           BASELINE_CROSSINGS, b50, b99, bmax, recovery_ms, n_lat, p50, p99, max, bound);
    CU_ASSERT(p99 <= bound);

    gwt_sub_free(alerts);
    gwt_sub_free(data_obs);
    gwt_sub_free(cmd_obs);
    gwt_fini(&t);
}

static void stop_all(void)
{
    for (size_t i = 0; i < n_pids; i++)
        if (pids[i] > 0) {
            kill(-pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: test_rollout_fleet CITYGATE CITYSIM CITYNODE CITYNODE_BOOT "
                        "CITYFLASH DATA_DIR\n");
        return 64;
    }
    citygate = argv[1];
    citysim = argv[2];
    citynode = argv[3];
    boot_bin = argv[4];
    cityflash = argv[5];
    data_dir = argv[6];
    static const struct cu_test tests[] = {
        {"50 nodes, 4 failures, 3 SIGKILLs and a broker restart, a gateway's exact count",
         test_rollout},
        {NULL, NULL},
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(stop_all);
    int rc = cu_main("rollout_fleet", tests);
    curl_global_cleanup();
    return rc;
}
