/*
 * test_node_modbus.c -- citynode reading a Modbus device, end to end: a real
 * citynode process polls tools/modbus-sim (over TCP, then over RTU on a
 * pseudo-terminal pair) through the modbus-tcp / modbus-rtu drivers with the
 * shipped traffic-counter map, and publishes to the real broker of
 * tools/services; this test subscribes, verifies and decodes every frame
 * with the node's key, and compares it with what modbus-sim served.
 *
 * modbus-sim runs with its simulated clock frozen (--time-ms), so every
 * poll returns the same registers, which this test computes with the same
 * code and seed (drv_simdev): each reading must carry the point's quantity,
 * unit, lane and vehicle class and its value within half a register step.
 * Then the device stops answering (modbus-sim's control file, read before
 * every request, so the switch needs no sleep): from the first frame with a
 * BAD_TIMEOUT reading on, every frame must say BAD_TIMEOUT with the value 0
 * for every point, never the last good value; after the device answers
 * again, the values come back. A map with more points than a sensor may
 * report per sample stops the node at start, naming the map's line.
 *
 * Usage: test_node_modbus PATH-TO-CITYNODE PATH-TO-MODBUS-SIM (under tools/services)
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
#include "regmap.h"
#include "simdev.h"
#include "wire.h"

#define SEED 42
#define SEED_TEXT "42" /* SEED, for modbus-sim's --seed */
/* Tuesday 2026-11-17 08:30 UTC: rush hour, so every lane counts vehicles. */
#define T_MS (1794787200000ULL + 86400000ULL + 8 * 3600000ULL + 30 * 60000ULL)
#define SITE "modbus-test"
#define SENSOR "counter"
#define START_TIMEOUT_MS 20000
#define PHASE_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 10000
#define GOOD_FRAMES 3 /* frames with the right values before the device fails */
#define BAD_FRAMES 3  /* frames saying BAD_TIMEOUT before it answers again */

static const uint8_t KEY[32] = {0x6d, 0x6f, 0x64, 0x62, 0x75, 0x73, 0x2d, 0x6e, 0x6f, 0x64, 0x65,
                                0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30,
                                0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x41};

static const char *citynode_path, *modbus_sim_path;
static char dir[512], control_path[600], map_path[600];
static MQTTClient sub;
static unsigned char arena[256 * 1024];
static struct drv_map *map;
static struct drv_simdev *dev;

/* What one phase of a run saw. */
struct tally {
    uint64_t boot;
    uint64_t last_seq[2]; /* of live frames, of backlog frames */
    size_t good, bad, other;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes text to path through a rename, so that a reader sees the old or the new file. */
static void put_file(const char *path, const char *text)
{
    char tmp[700];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    f = fopen(tmp, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FATAL(fputs(text, f) >= 0);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_FATAL(rename(tmp, path) == 0);
}

/*
 * Starts argv[0] with argv; its stdout goes to *out_fd (a pipe) when out_fd
 * is not NULL, its stderr is appended to log_path. Returns the pid.
 */
static pid_t launch(char *const *argv, int *out_fd, const char *log_path)
{
    int fds[2] = {-1, -1};
    pid_t pid;

    CU_ASSERT_FATAL(!out_fd || pipe(fds) == 0);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

        if (log >= 0)
            dup2(log, STDERR_FILENO);
        if (out_fd) {
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (out_fd) {
        close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

/* Reads one line from fd into line (cap bytes) before a deadline; returns its length. */
static size_t first_line(int fd, char *line, size_t cap)
{
    uint64_t until = mono_ms() + START_TIMEOUT_MS;
    size_t n = 0;

    while (n + 1 < cap && mono_ms() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, (int)(until - mono_ms())) <= 0)
            continue;
        if (read(fd, line + n, 1) != 1 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    return n;
}

/* Copies the log of a failed run to stderr: the services folder goes away with the test. */
static void dump(const char *path)
{
    char line[512];
    FILE *f = fopen(path, "r");

    if (!f)
        return;
    fprintf(stderr, "\n  --- %s\n", path);
    while (fgets(line, sizeof(line), f))
        fprintf(stderr, "  %s", line);
    fclose(f);
}

/*
 * Sends sig to pid (0: none, only wait for it to exit) and waits (bounded) for
 * it; returns the wait status, or -1 on timeout.
 */
static int stop(pid_t pid, int sig)
{
    uint64_t until = mono_ms() + STOP_TIMEOUT_MS;
    int status = -1;

    kill(pid, sig);
    while (mono_ms() < until) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        struct timespec ts = {0, 10 * 1000000L}; /* polling a condition with a deadline */
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static int key_fn(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    (void)device_id;
    key->bytes = KEY;
    key->len = sizeof(KEY);
    return 0;
}

static const Citygate__V1__Reading *find(const Citygate__V1__Frame *f,
                                         const struct drv_map_point *p)
{
    for (size_t i = 0; i < f->n_readings; i++) {
        const Citygate__V1__Reading *r = f->readings[i];

        if (r->quantity == p->quantity && r->lane == p->lane &&
            r->vehicle_class == p->vehicle_class)
            return r;
    }
    return NULL;
}

/*
 * 1 when frame f carries exactly what modbus-sim serves: one GOOD reading of
 * sensor "counter" per point with a value (a point without one gives no
 * reading when it has a no_data sentinel), with the point's quantity, unit,
 * lane and class and its value within half a register step. Reports the
 * first difference.
 */
static int frame_matches(const Citygate__V1__Frame *f, size_t *nonzero)
{
    size_t expected = 0;

    for (size_t i = 0; i < map->n_points; i++) {
        const struct drv_map_point *p = &map->points[i];
        const Citygate__V1__Reading *r = find(f, p);
        double want = 0.0;
        bool present = drv_simdev_value(dev, i, &want) == 0;

        if (!present && p->has_no_data) {
            if (r) {
                fprintf(stderr, "\n  %s: a reading, but the device has no value\n", p->name);
                return 0;
            }
            continue;
        }
        expected++;
        if (!present)
            want = p->format.offset;
        if (!r || r->quality != CITYGATE__V1__QUALITY__GOOD || r->unit != p->unit ||
            strcmp(r->sensor_id, SENSOR) != 0 ||
            fabs(r->value - want) > fabs(p->format.scale) / 2 + 1e-9) {
            fprintf(stderr, "\n  %s: got %s%g (quality %d, unit %d), want %g (unit %d)\n", p->name,
                    r ? "" : "nothing ", r ? r->value : 0.0, r ? (int)r->quality : -1,
                    r ? (int)r->unit : -1, want, p->unit);
            return 0;
        }
        *nonzero += r->value != 0.0;
    }
    if (f->n_readings != expected) {
        fprintf(stderr, "\n  %zu readings, want %zu\n", f->n_readings, expected);
        return 0;
    }
    return 1;
}

/* 1 when every point of the map is in f as BAD_TIMEOUT with the value 0. */
static int frame_all_timeout(const Citygate__V1__Frame *f)
{
    if (f->n_readings != map->n_points)
        return 0;
    for (size_t i = 0; i < f->n_readings; i++)
        if (f->readings[i]->quality != CITYGATE__V1__QUALITY__BAD_TIMEOUT ||
            f->readings[i]->value != 0.0)
            return 0;
    return 1;
}

static int any_timeout(const Citygate__V1__Frame *f)
{
    for (size_t i = 0; i < f->n_readings; i++)
        if (f->readings[i]->quality == CITYGATE__V1__QUALITY__BAD_TIMEOUT)
            return 1;
    return 0;
}

/*
 * Receives the node's frames until want_good frames with the served values
 * (want_bad == 0) or want_bad frames all BAD_TIMEOUT (want_bad > 0) arrived,
 * or the phase times out. In a timeout phase, good frames may come first
 * (sampled before the switch) but never after a bad one.
 */
static void receive(const char *node_id, struct tally *t, size_t want_good, size_t want_bad)
{
    uint64_t until = mono_ms() + PHASE_TIMEOUT_MS;
    size_t nonzero = 0;

    t->good = t->bad = t->other = 0;
    while (mono_ms() < until && (want_bad ? t->bad < want_bad : t->good < want_good)) {
        struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, key_fn, NULL, {0}};
        Citygate__V1__Frame *f = NULL;
        MQTTClient_message *m = NULL;
        char *topic = NULL;
        int topic_len = 0;

        if (MQTTClient_receive(sub, &topic, &topic_len, &m, 100) != MQTTCLIENT_SUCCESS || !m)
            continue;
        wire_arena_init(&d.arena, arena, sizeof(arena));
        int rc = wire_decode(&d, m->payload, (size_t)m->payloadlen, &f, NULL);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_STRING_EQUAL(f->device_id, node_id);
        CU_ASSERT_STRING_EQUAL(f->site_id, SITE);
        /*
         * One boot, frames in sequence: nothing is reordered between node and
         * test. Live frames and backlog frames are two sequences: a frame
         * sampled before the uplink came up (a loaded machine) is drained
         * from the ring, flagged backlog, after later live frames.
         */
        if (t->boot == 0)
            t->boot = f->boot_id;
        CU_ASSERT_EQUAL(f->boot_id, t->boot);
        CU_ASSERT(f->seq > t->last_seq[f->backlog != 0]);
        t->last_seq[f->backlog != 0] = f->seq;
        if (any_timeout(f)) {
            CU_ASSERT(frame_all_timeout(f));
            t->bad++;
        } else if (frame_matches(f, &nonzero)) {
            CU_ASSERT_EQUAL(t->bad, 0); /* never a value after the device went silent */
            t->good++;
        } else {
            t->other++;
        }
        MQTTClient_freeMessage(&m);
        MQTTClient_free(topic);
    }
    if (!want_bad)
        CU_ASSERT(nonzero > 0); /* rush hour: the values compared are not all zero */
}

/* Writes the provisioning file of node_id with one Modbus sensor reading map_file; returns its
 * path. */
static const char *provision(const char *node_id, const char *map_file, const char *sensor_lines)
{
    static char path[700];
    char text[2048];
    int n;

    snprintf(path, sizeof(path), "%s/%s.ini", dir, node_id);
    n = snprintf(text, sizeof(text),
                 "[node]\nid = %s\nsite = " SITE "\nbroker = %s\ninterval_ms = 500ms\n"
                 "ring_path = %s/%s.ring\nring_bytes = 1MiB\nreconnect_min_ms = 200ms\nkey = ",
                 node_id, cu_env("CITYGATE_MQTT_URL"), dir, node_id);
    for (size_t i = 0; i < sizeof(KEY); i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x", KEY[i]);
    snprintf(text + n, sizeof(text) - (size_t)n, "\n\n[sensor " SENSOR "]\nmap = %s\n%s", map_file,
             sensor_lines);
    put_file(path, text);
    return path;
}

/*
 * One transport: modbus-sim over TCP on a free port, or over RTU on a
 * pseudo-terminal reached through link; citynode node_id reading it; served
 * values, then timeouts, then values again.
 */
static void run(const char *node_id, const char *link)
{
    const char *const tcp_args[] = {"--tcp", "0", NULL};
    const char *const rtu_args[] = {"--rtu", "--link", link, NULL};
    const char *const *sim_args = link ? rtu_args : tcp_args;
    char where[160], time_arg[32], map_arg[700], log_path[700], sensor_lines[512];
    char *argv[24];
    size_t a = 0;
    struct tally t = {0};
    int out_fd = -1;
    pid_t sim, node;

    put_file(control_path, "mode=ok\n");
    snprintf(time_arg, sizeof(time_arg), "%llu", (unsigned long long)T_MS);
    snprintf(map_arg, sizeof(map_arg), "1:%s", map_path);
    snprintf(log_path, sizeof(log_path), "%s/%s.log", dir, node_id);
    argv[a++] = (char *)modbus_sim_path;
    for (size_t i = 0; sim_args[i]; i++)
        argv[a++] = (char *)sim_args[i];
    const char *common[] = {"--seed",     SEED_TEXT, "--time-ms", time_arg, "--control",
                            control_path, "--map",   map_arg,     NULL};
    for (size_t i = 0; common[i]; i++)
        argv[a++] = (char *)common[i];
    argv[a] = NULL;
    sim = launch(argv, &out_fd, log_path);
    CU_ASSERT_FATAL(first_line(out_fd, where, sizeof(where)) > 0);
    close(out_fd);
    fprintf(stderr, "\n  modbus-sim: %s", where);

    /* The port modbus-sim printed, or its terminal through the link, as an installer would. */
    if (link)
        snprintf(sensor_lines, sizeof(sensor_lines),
                 "driver = modbus-rtu\ndevice = %s\nbaud = 19200\nparity = none\nunit_id = 1\n"
                 "timeout_ms = 300ms\nretries = 0\n",
                 link);
    else
        snprintf(sensor_lines, sizeof(sensor_lines),
                 "driver = modbus-tcp\nhost = 127.0.0.1\nport = %s\nunit_id = 1\n"
                 "timeout_ms = 200ms\nretries = 0\n",
                 strchr(where, ' ') + 1);
    char *node_argv[] = {(char *)citynode_path, "--config",
                         (char *)provision(node_id, map_path, sensor_lines), NULL};
    node = launch(node_argv, NULL, log_path);

    receive(node_id, &t, GOOD_FRAMES, 0);
    fprintf(stderr, "\n  %s: %zu frames with the served values", node_id, t.good);
    CU_ASSERT(t.good >= GOOD_FRAMES);
    CU_ASSERT_EQUAL(t.other, 0);

    put_file(control_path, "mode=timeout\n");
    receive(node_id, &t, 0, BAD_FRAMES);
    fprintf(stderr,
            "\n  %s: device silent: %zu frames BAD_TIMEOUT with value 0 (%zu sampled before)",
            node_id, t.bad, t.good);
    CU_ASSERT(t.bad >= BAD_FRAMES);
    CU_ASSERT_EQUAL(t.other, 0);

    put_file(control_path, "mode=ok\n");
    t.bad = 0;
    receive(node_id, &t, 1, 0);
    fprintf(stderr, "\n  %s: device back: %zu frames with the served values\n", node_id, t.good);
    CU_ASSERT(t.good >= 1);

    int st_node = stop(node, SIGTERM), st_sim = stop(sim, SIGTERM);
    CU_ASSERT(st_node != -1 && WIFEXITED(st_node) && WEXITSTATUS(st_node) == 0);
    CU_ASSERT(st_sim != -1 && WIFEXITED(st_sim) && WEXITSTATUS(st_sim) == 0);
    if (t.good == 0 || st_node != 0)
        dump(log_path);
}

static void test_setup(void)
{
    struct drv_map_diag md;
    struct drv_diag dd;

    snprintf(dir, sizeof(dir), "%s/node_modbus", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(control_path, sizeof(control_path), "%s/control", dir);
    snprintf(map_path, sizeof(map_path), "%s/traffic-counter.ini", DRIVERS_MAPS_DIR);
    CU_ASSERT_EQUAL_FATAL(drv_map_load(map_path, &map, &md), 0);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_new(map, SEED, &dev, &dd), 0);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_update(dev, T_MS), 0);

    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    o.cleansession = 1;
    o.keepAliveInterval = 10;
    o.connectTimeout = 5;
    CU_ASSERT_FATAL(MQTTClient_create(&sub, cu_env("CITYGATE_MQTT_URL"), "test-node-modbus",
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_connect(sub, &o) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_subscribe(sub, "city/v1/" SITE "/+/data", 1) == MQTTCLIENT_SUCCESS);
}

static void test_tcp(void)
{
    run("mb-tcp", NULL);
}

static void test_rtu(void)
{
    char link[600];

    snprintf(link, sizeof(link), "%s/ttyModbus", dir);
    run("mb-rtu", link);
    CU_ASSERT(access(link, F_OK) != 0); /* the link went with modbus-sim */
}

/*
 * One point more than DRV_MAX_READINGS, the room the node gives a sensor in
 * each frame: citynode exits 78 at start, naming the map and the extra
 * point's line, instead of running and failing every sample.
 */
static void test_too_many_points(void)
{
    char big[600], log_path[600], text[DRV_MAX_READINGS * 96 + 64], want[64], log[4096];
    size_t len = 0, got;
    FILE *f;

    snprintf(big, sizeof(big), "%s/big.ini", dir);
    snprintf(log_path, sizeof(log_path), "%s/mb-big.log", dir);
    for (int i = 0; i <= DRV_MAX_READINGS; i++) { /* five lines per point */
        int n = snprintf(text + len, sizeof(text) - len,
                         "[point p%d]\naddress = %d\nscale = 0.1\nquantity = %s\nlane = %d\n", i, i,
                         i < 17 ? "STRAIN" : "TEMPERATURE", i % 17);

        CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(text) - len);
        len += (size_t)n;
    }
    put_file(big, text);
    char *argv[] = {(char *)citynode_path, "--config",
                    (char *)provision("mb-big", big, "driver = modbus-tcp\nport = 1\n"), NULL};
    int status = stop(launch(argv, NULL, log_path), 0);

    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 78);
    f = fopen(log_path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    got = fread(log, 1, sizeof(log) - 1, f);
    fclose(f);
    log[got] = '\0';
    snprintf(want, sizeof(want), "big.ini:%d: more than %d points", 5 * DRV_MAX_READINGS + 1,
             DRV_MAX_READINGS);
    if (!strstr(log, want))
        fprintf(stderr, "\n  want \"%s\" in the log:\n%s", want, log);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, want));
}

/* Runs citynode -c path --check-config; returns its exit status, output in out. */
static int check_config(const char *path, char *out, size_t cap)
{
    char cmd[1600], *all;
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' --check-config 2>&1", citynode_path, path);
    int status = cu_run(cmd, &all);
    snprintf(out, cap, "%s", all);
    free(all);
    return status;
}

/*
 * --check-config opens the drivers as the start would: a sensor whose map
 * does not exist or whose options are wrong exits 78 naming the file, the
 * sensor's line and the problem (it said "valid" before, and the start then
 * exited 78). No device is needed: drivers connect at their first sample.
 */
static void test_check_config_opens_drivers(void)
{
    char out[2048], want[800], missing[600];
    const char *path = provision("chk-ok", map_path, "driver = modbus-tcp\nport = 1502\n");
    CU_ASSERT_EQUAL(check_config(path, out, sizeof(out)), 0);

    path = provision("chk-opt", map_path, "driver = modbus-tcp\nport = 1502\ntimeout_ms = fast\n");
    CU_ASSERT_EQUAL(check_config(path, out, sizeof(out)), 78);
    snprintf(want, sizeof(want), "%s:11: [sensor " SENSOR "] (driver modbus-tcp): ", path);
    CU_ASSERT(strstr(out, want) != NULL && strstr(out, "timeout_ms") != NULL);

    snprintf(missing, sizeof(missing), "%s/no-such-map.ini", dir);
    path = provision("chk-map", missing, "driver = modbus-tcp\nport = 1502\n");
    CU_ASSERT_EQUAL(check_config(path, out, sizeof(out)), 78);
    snprintf(want, sizeof(want), "%s:11: [sensor " SENSOR "] (driver modbus-tcp): ", path);
    CU_ASSERT(strstr(out, want) != NULL && strstr(out, "no-such-map.ini") != NULL);
    if (!strstr(out, want))
        fprintf(stderr, "\n%s", out);
}

static void test_teardown(void)
{
    if (MQTTClient_isConnected(sub))
        MQTTClient_disconnect(sub, 1000);
    MQTTClient_destroy(&sub);
    drv_simdev_free(dev);
    drv_map_free(map);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"setup", test_setup},
        {"modbus-tcp: served values, timeouts, values again", test_tcp},
        {"modbus-rtu on a pty: served values, timeouts, values again", test_rtu},
        {"a map with more points than a sample may give stops the node", test_too_many_points},
        {"--check-config opens the drivers", test_check_config_opens_drivers},
        {"teardown", test_teardown},
        {NULL, NULL},
    };

    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH-TO-CITYNODE PATH-TO-MODBUS-SIM\n", argv[0]);
        return 64;
    }
    citynode_path = argv[1];
    modbus_sim_path = argv[2];
    signal(SIGPIPE, SIG_IGN);
    return cu_main("node modbus", tests);
}
