/*
 * test_modbus.c -- the modbus-tcp and modbus-rtu drivers against a real
 * libmodbus server: tools/modbus-sim, started by this test over TCP and over
 * RTU on a pseudo-terminal pair.
 *
 * modbus-sim runs with its simulated clock frozen (--time-ms), so the test
 * computes what every register must decode to with the same code and seed
 * (drv_simdev) and compares. Faults are driven through modbus-sim's control
 * file, which it reads before every request: after the test has renamed a
 * new control file into place, the very next request obeys it, so nothing
 * here sleeps to wait for a fault to take effect. The device "dies" by
 * SIGKILL and comes back on the same port or terminal link; the driver's
 * reconnect backoff runs on the now_ms the test passes.
 *
 * Late answers (modbus-sim's mode=late, one register answering a little
 * after the driver's timeout) are the one fault that needs real time: the
 * answer must arrive while the driver waits for the next request's. The
 * delays are chosen so that a driver which settles the line after a timeout
 * meets every other answer well inside its timeout, and one which does not
 * takes the late answer for the next request's (RTU) or fails every request
 * after it (TCP).
 *
 * Usage: test_modbus PATH-TO-MODBUS-SIM
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cu.h"
#include "driver.h"
#include "regmap.h"
#include "simdev.h"

#define SEED 42
/* Tuesday 2026-11-17 08:30 UTC: rush hour, so loops count and tunnel fans run */
#define T_MS (1794787200000ULL + 86400000ULL + 8 * 3600000ULL + 30 * 60000ULL)
#define START_TIMEOUT_MS 20000
#define MAX_READINGS 256

static const char *sim_path;
static char dir[256];
static char control_path[300];
static struct drv_reading readings[MAX_READINGS];
static uint64_t now_ms = 1000000; /* the driver's clock: only its backoff and period use it */

/* Every type and every word and byte order, over TCP and over RTU. */
static const char orders_map[] = "[device]\n"
                                 "model = test: 32-bit types in every order\n"
                                 "simulator = sim-power\n"
                                 "function = holding\n"
                                 "[point power_abcd]\naddress = 0\ntype = float32\n"
                                 "quantity = POWER\n"
                                 "[point v1_cdab]\naddress = 2\ntype = float32\n"
                                 "word_order = little\nquantity = VOLTAGE\nlane = 1\n"
                                 "[point v2_badc]\naddress = 4\ntype = float32\n"
                                 "byte_order = little\nquantity = VOLTAGE\nlane = 2\n"
                                 "[point v3_dcba]\naddress = 6\ntype = float32\n"
                                 "word_order = little\nbyte_order = little\n"
                                 "quantity = VOLTAGE\nlane = 3\n"
                                 "[point i1_int32_abcd]\naddress = 8\ntype = int32\n"
                                 "scale = 0.001\nquantity = CURRENT\nlane = 1\n"
                                 "[point i2_int32_dcba]\naddress = 10\ntype = int32\n"
                                 "word_order = little\nbyte_order = little\nscale = 0.001\n"
                                 "quantity = CURRENT\nlane = 2\n"
                                 "[point i3_uint32_cdab]\naddress = 12\ntype = uint32\n"
                                 "word_order = little\nscale = 0.001\n"
                                 "quantity = CURRENT\nlane = 3\n"
                                 "[point energy_uint32_badc]\nfunction = input\naddress = 0\n"
                                 "type = uint32\nbyte_order = little\nscale = 0.01\n"
                                 "quantity = ENERGY\n";

/* 16-bit types in both byte orders, with offsets for signed values in unsigned registers. */
static const char words_map[] = "[device]\n"
                                "simulator = sim-strain\n"
                                "sim.channels = 4\n"
                                "function = input\n"
                                "[point s1_int16]\naddress = 0\ntype = int16\nscale = 0.1\n"
                                "quantity = STRAIN\nlane = 1\n"
                                "[point s2_int16_little]\naddress = 1\ntype = int16\n"
                                "byte_order = little\nscale = 0.1\nquantity = STRAIN\nlane = 2\n"
                                "[point s3_uint16]\naddress = 2\ntype = uint16\nscale = 0.1\n"
                                "offset = -1000\nquantity = STRAIN\nlane = 3\n"
                                "[point s4_uint16_little]\naddress = 3\ntype = uint16\n"
                                "byte_order = little\nscale = 0.1\noffset = -1000\n"
                                "quantity = STRAIN\nlane = 4\n"
                                "[point deck_int32_badc]\naddress = 10\ntype = int32\n"
                                "byte_order = little\nscale = 0.001\nquantity = TEMPERATURE\n"
                                "[point tilt_cdab]\naddress = 20\ntype = float32\n"
                                "word_order = little\nquantity = TILT\n"
                                "[point vibration]\nfunction = holding\naddress = 5\n"
                                "scale = 0.001\nquantity = VIBRATION\n";

/* Coils and discrete inputs. */
static const char bits_map[] = "[device]\n"
                               "simulator = sim-tunnel\n"
                               "sim.fans = 4\n"
                               "sim.fan_fault_rate = 0\n"
                               "[point fan1]\nfunction = coil\naddress = 0\n"
                               "quantity = FAN_STATE\nlane = 1\n"
                               "[point fan2]\nfunction = coil\naddress = 1\n"
                               "quantity = FAN_STATE\nlane = 2\n"
                               "[point fan3]\nfunction = discrete\naddress = 0\n"
                               "quantity = FAN_STATE\nlane = 3\n"
                               "[point fan4]\nfunction = discrete\naddress = 2\n"
                               "quantity = FAN_STATE\nlane = 4\n"
                               "[point co]\naddress = 7\nscale = 0.1\nquantity = TUNNEL_CO\n";

/*
 * One holding register per 10: separate requests of the same function and
 * length, each with its own value, so an answer taken for the next request's
 * shows as a wrong value. Served by modbus-sim for the late-answer tests.
 */
static const char late_map[] =
    "[device]\n"
    "simulator = sim-strain\n"
    "sim.channels = 4\n"
    "type = int16\n"
    "[point s1]\naddress = 0\nscale = 0.1\nquantity = STRAIN\nlane = 1\n"
    "[point s2]\naddress = 10\nscale = 0.1\nquantity = STRAIN\nlane = 2\n"
    "[point s3]\naddress = 20\nscale = 0.1\nquantity = STRAIN\nlane = 3\n"
    "[point s4]\naddress = 30\nscale = 0.1\nquantity = STRAIN\nlane = 4\n";

/* The driver's view of the same device, with a register between two that the device lacks. */
static const char hole_map[] =
    "[device]\n"
    "simulator = sim-strain\n"
    "sim.channels = 4\n"
    "type = int16\n"
    "[point s1]\naddress = 0\nscale = 0.1\nquantity = STRAIN\nlane = 1\n"
    "[point hole]\naddress = 5\nscale = 0.1\nquantity = TEMPERATURE\n"
    "[point s2]\naddress = 10\nscale = 0.1\nquantity = STRAIN\nlane = 2\n";

/* A modbus-sim process and where it serves. */
struct sim {
    pid_t pid;
    char where[160]; /* "tcp PORT" or "rtu /dev/pts/N" */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_file(const char *path, const char *text)
{
    char tmp[400];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FATAL(fputs(text, f) >= 0);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_FATAL(rename(tmp, path) == 0); /* atomic: modbus-sim sees old or new, never half */
}

static void control(const char *text)
{
    write_file(control_path, text);
}

static const char *path_in_dir(const char *name)
{
    static char paths[8][300];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    return p;
}

/*
 * Starts modbus-sim with args (NULL-terminated) and waits, with a deadline,
 * for its first line. Its stderr goes to the test's log.
 */
static struct sim start_sim(const char *const *args)
{
    struct sim s = {0};
    const char *argv[32] = {sim_path};
    int fds[2];
    size_t n = 0, a = 1;
    uint64_t deadline = mono_ms() + START_TIMEOUT_MS;

    for (; args[a - 1] && a < 31; a++)
        argv[a] = args[a - 1];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    s.pid = fork();
    CU_ASSERT_FATAL(s.pid >= 0);
    if (s.pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(sim_path, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    while (n < sizeof(s.where) - 1 && mono_ms() < deadline) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        ssize_t got;

        if (poll(&pfd, 1, (int)(deadline - mono_ms())) <= 0)
            continue;
        got = read(fds[0], s.where + n, 1);
        if (got <= 0 || s.where[n] == '\n')
            break;
        n++;
    }
    s.where[n] = '\0';
    close(fds[0]);
    if (n == 0)
        fprintf(stderr, "\nmodbus-sim printed no first line\n");
    CU_ASSERT_FATAL(n > 0);
    return s;
}

/* Stops modbus-sim with sig and returns its exit status. */
static int stop_sim(struct sim *s, int sig)
{
    int status = -1;

    kill(s->pid, sig);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return status;
}

static void *open_driver(const char *name, const struct drv_param *params, size_t n)
{
    struct drv_diag diag = {{0}};
    void *state = NULL;
    int rc = drv_find(name)->open(params, n, &state, &diag);

    if (rc)
        fprintf(stderr, "\n%s: %s\n", name, diag.text);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return state;
}

static struct drv_sample sample(const char *name, void *state)
{
    struct drv_sample s = {readings, 0, MAX_READINGS, NULL, 0, 0};

    CU_ASSERT_EQUAL_FATAL(drv_find(name)->sample(state, now_ms, 1000, &s), 0);
    now_ms += 1000;
    return s;
}

static const struct drv_reading *find_reading(const struct drv_sample *s,
                                              const struct drv_map_point *p)
{
    for (size_t i = 0; i < s->n_readings; i++)
        if (s->readings[i].quantity == p->quantity && s->readings[i].lane == p->lane &&
            s->readings[i].vehicle_class == p->vehicle_class)
            return &s->readings[i];
    return NULL;
}

/*
 * Every point decodes to what the simulated device serves at time_ms, within
 * the register's resolution; a point the device has no value for gives no
 * reading (no_data) or the raw 0; but the point at bad_address (when not -1)
 * has quality bad_q and the value 0. Returns how many readings had a nonzero
 * value.
 */
static size_t check_points(const char *map_path, uint64_t time_ms, const struct drv_sample *s,
                           long bad_address, Citygate__V1__Quality bad_q)
{
    struct drv_map *map = NULL;
    struct drv_map_diag md;
    struct drv_diag dd;
    struct drv_simdev *dev = NULL;
    size_t expected_readings = 0, nonzero = 0;

    CU_ASSERT_EQUAL_FATAL(drv_map_load(map_path, &map, &md), 0);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_new(map, SEED, &dev, &dd), 0);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_update(dev, time_ms), 0);
    for (size_t i = 0; i < map->n_points; i++) {
        const struct drv_map_point *p = &map->points[i];
        const struct drv_reading *r = find_reading(s, p);
        double want = 0.0;
        bool present = drv_simdev_value(dev, i, &want) == 0;
        double tol;

        if (p->address == bad_address) {
            expected_readings++;
            CU_ASSERT_PTR_NOT_NULL_FATAL(r);
            if (r->quality != bad_q || r->value != 0.0)
                fprintf(stderr, "\n%s: point %s: got %.9g (quality %d), want 0 (quality %d)\n",
                        map_path, p->name, r->value, r->quality, bad_q);
            CU_ASSERT_EQUAL(r->quality, bad_q);
            CU_ASSERT_EQUAL(r->value, 0.0);
            continue;
        }
        if (!present && p->has_no_data) {
            CU_ASSERT_PTR_NULL(r);
            continue;
        }
        expected_readings++;
        if (!present)
            want = p->format.offset;
        if (p->format.type == DRV_REG_BOOL)
            want = (round(want) != 0.0) * p->format.scale + p->format.offset;
        tol = fabs(p->format.scale) / 2 + 1e-6 * fabs(want) + 1e-9;
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        if (r->quality != CITYGATE__V1__QUALITY__GOOD || fabs(r->value - want) > tol)
            fprintf(stderr, "\n%s: point %s: got %.9g (quality %d), want %.9g +- %g\n", map_path,
                    p->name, r->value, r->quality, want, tol);
        CU_ASSERT_EQUAL(r->quality, CITYGATE__V1__QUALITY__GOOD);
        CU_ASSERT(fabs(r->value - want) <= tol);
        CU_ASSERT_EQUAL(r->unit, p->unit);
        nonzero += r->value != 0.0;
    }
    CU_ASSERT_EQUAL(s->n_readings, expected_readings);
    drv_simdev_free(dev);
    drv_map_free(map);
    return nonzero;
}

static size_t check_values(const char *map_path, uint64_t time_ms, const struct drv_sample *s)
{
    return check_points(map_path, time_ms, s, -1, CITYGATE__V1__QUALITY__GOOD);
}

/* Every reading has quality q and value 0: a failed read never passes an earlier value on. */
static void check_all_bad(const struct drv_sample *s, size_t n_points, Citygate__V1__Quality q)
{
    CU_ASSERT_EQUAL(s->n_readings, n_points);
    for (size_t i = 0; i < s->n_readings; i++) {
        if (s->readings[i].quality != q || s->readings[i].value != 0.0)
            fprintf(stderr, "\nreading %zu: quality %d (want %d), value %g\n", i,
                    s->readings[i].quality, q, s->readings[i].value);
        CU_ASSERT_EQUAL(s->readings[i].quality, q);
        CU_ASSERT_EQUAL(s->readings[i].value, 0.0);
    }
}

static size_t n_points_of(const char *map_path)
{
    struct drv_map *map = NULL;
    struct drv_map_diag md;
    size_t n;

    CU_ASSERT_EQUAL_FATAL(drv_map_load(map_path, &map, &md), 0);
    n = map->n_points;
    drv_map_free(map);
    return n;
}

static void test_setup(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/test_modbus.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(control_path, sizeof(control_path), "%s/control", dir);
    write_file(path_in_dir("orders.ini"), orders_map);
    write_file(path_in_dir("words.ini"), words_map);
    write_file(path_in_dir("bits.ini"), bits_map);
    write_file(path_in_dir("late.ini"), late_map);
    write_file(path_in_dir("hole.ini"), hole_map);
    control("mode=ok\n");
}

static void test_cli(void)
{
    const char *help[] = {"--help", NULL}, *none[] = {NULL};
    const char *bad_map[] = {"--tcp", "0", "--map", path_in_dir("control"), NULL};
    struct {
        const char *const *args;
        int code;
    } cases[] = {{help, 0}, {none, 64}, {bad_map, 78}};

    for (size_t i = 0; i < 3; i++) {
        const char *argv[8] = {sim_path};
        int status = -1;
        pid_t pid;

        for (size_t a = 0; cases[i].args[a]; a++)
            argv[a + 1] = cases[i].args[a];
        pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
            execv(sim_path, (char *const *)argv);
            _exit(127);
        }
        waitpid(pid, &status, 0);
        CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == cases[i].code);
    }
}

/* The units modbus-sim serves over TCP in test_tcp, and the map each one has. */
static const struct {
    int unit;
    const char *map;
    bool shipped;
} tcp_units[] = {
    {1, "traffic-counter.ini", true}, {2, "air-quality.ini", true},
    {3, "power-meter.ini", true},     {4, "tunnel-ventilation.ini", true},
    {5, "orders.ini", false},         {6, "words.ini", false},
    {7, "bits.ini", false},
};
#define N_TCP_UNITS (sizeof(tcp_units) / sizeof(tcp_units[0]))

static char tcp_map_paths[N_TCP_UNITS][400];
static char tcp_port[8];

static struct sim start_tcp(const char *port)
{
    const char *args[40];
    char time_arg[32];
    static char map_args[N_TCP_UNITS][420];
    size_t a = 0;

    snprintf(time_arg, sizeof(time_arg), "%llu", (unsigned long long)T_MS);
    args[a++] = "--tcp";
    args[a++] = port;
    args[a++] = "--seed";
    args[a++] = "42";
    args[a++] = "--time-ms";
    args[a++] = time_arg;
    args[a++] = "--control";
    args[a++] = control_path;
    for (size_t u = 0; u < N_TCP_UNITS; u++) {
        int n = snprintf(tcp_map_paths[u], sizeof(tcp_map_paths[u]), "%s/%s",
                         tcp_units[u].shipped ? DRIVERS_MAPS_DIR : dir, tcp_units[u].map);

        CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(tcp_map_paths[u]));
        n = snprintf(map_args[u], sizeof(map_args[u]), "%d:%s", tcp_units[u].unit,
                     tcp_map_paths[u]);
        CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(map_args[u]));
        args[a++] = "--map";
        args[a++] = map_args[u];
    }
    args[a] = NULL;
    return start_sim(args);
}

static void *open_tcp(size_t u, const char *timeout_ms, const char *retries)
{
    char unit[8];
    struct drv_param p[] = {
        {"host", "127.0.0.1"},     {"port", tcp_port},         {"unit_id", unit},
        {"map", tcp_map_paths[u]}, {"timeout_ms", timeout_ms}, {"retries", retries},
    };

    snprintf(unit, sizeof(unit), "%d", tcp_units[u].unit);
    return open_driver("modbus-tcp", p, sizeof(p) / sizeof(p[0]));
}

/* Values over TCP, faults by control file, the device gone and back. */
static void test_tcp(void)
{
    struct sim sim = start_tcp("0");
    void *drv[N_TCP_UNITS];
    struct drv_sample s;
    size_t nonzero = 0;

    CU_ASSERT_FATAL(sscanf(sim.where, "tcp %7s", tcp_port) == 1);
    for (size_t u = 0; u < N_TCP_UNITS; u++) {
        drv[u] = open_tcp(u, "300ms", "1");
        s = sample("modbus-tcp", drv[u]);
        nonzero += check_values(tcp_map_paths[u], T_MS, &s);
    }
    fprintf(stderr, "\n  %zu readings with nonzero values checked against the simulation\n",
            nonzero);
    CU_ASSERT(nonzero > 40);

    /* a later simulated minute: fresh values, not the ones read before */
    control("mode=ok time_ms=1794904260000\n");
    s = sample("modbus-tcp", drv[0]);
    check_values(tcp_map_paths[0], 1794904260000ULL, &s);

    /* the device stops answering: every reading BAD_TIMEOUT, value 0 */
    control("mode=timeout\n");
    for (size_t u = 0; u < N_TCP_UNITS; u += 3) {
        uint64_t t0 = mono_ms();
        s = sample("modbus-tcp", drv[u]);
        check_all_bad(&s, n_points_of(tcp_map_paths[u]), CITYGATE__V1__QUALITY__BAD_TIMEOUT);
        CU_ASSERT(mono_ms() - t0 >= 2 * 300); /* one retry after the first timeout */
    }
    /* it answers with an exception: BAD_EXCEPTION, value 0 */
    control("mode=exception code=2\n");
    for (size_t u = 0; u < N_TCP_UNITS; u++) {
        s = sample("modbus-tcp", drv[u]);
        check_all_bad(&s, n_points_of(tcp_map_paths[u]), CITYGATE__V1__QUALITY__BAD_EXCEPTION);
    }
    /* and recovers without reconnecting */
    control("mode=ok\n");
    s = sample("modbus-tcp", drv[1]);
    check_values(tcp_map_paths[1], T_MS, &s);

    /* the device dies: BAD_GONE, also while the reconnect backoff runs */
    CU_ASSERT(WIFSIGNALED(stop_sim(&sim, SIGKILL)));
    s = sample("modbus-tcp", drv[2]);
    check_all_bad(&s, n_points_of(tcp_map_paths[2]), CITYGATE__V1__QUALITY__BAD_GONE);
    sim = start_tcp(tcp_port);
    now_ms -= 600; /* 0.4 s after the loss: inside the 1 s reconnect backoff */
    s = sample("modbus-tcp", drv[2]);
    check_all_bad(&s, n_points_of(tcp_map_paths[2]), CITYGATE__V1__QUALITY__BAD_GONE);
    s = sample("modbus-tcp", drv[2]); /* 1.4 s after: reconnects */
    check_values(tcp_map_paths[2], T_MS, &s);

    /* an exception the server makes itself: a unit it does not serve */
    struct drv_param stray_params[] = {
        {"port", tcp_port}, {"unit_id", "99"}, {"map", tcp_map_paths[1]}};
    void *stray = open_driver("modbus-tcp", stray_params, 3);
    s = sample("modbus-tcp", stray);
    check_all_bad(&s, n_points_of(tcp_map_paths[1]), CITYGATE__V1__QUALITY__BAD_EXCEPTION);
    drv_find("modbus-tcp")->close(stray);

    for (size_t u = 0; u < N_TCP_UNITS; u++)
        drv_find("modbus-tcp")->close(drv[u]);
    CU_ASSERT_EQUAL(stop_sim(&sim, SIGTERM), 0); /* a clean exit 0 on SIGTERM */
}

/* Random faults: each reading is either the right value or bad with 0, never a stale value. */
static void test_random_faults(void)
{
    char map_arg[420];
    const char *args[] = {"--tcp",     "0",
                          "--seed",    "42",
                          "--time-ms", "1794851400000",
                          "--inject",  "timeout=0.25,exception=0.25",
                          "--map",     map_arg,
                          NULL};
    struct sim sim;
    size_t counts[8] = {0};
    void *drv;

    snprintf(map_arg, sizeof(map_arg), "%d:%s", tcp_units[1].unit, tcp_map_paths[1]);
    control("mode=ok\n");
    sim = start_sim(args);
    CU_ASSERT_FATAL(sscanf(sim.where, "tcp %7s", tcp_port) == 1);
    drv = open_tcp(1, "100ms", "0");
    for (int i = 0; i < 40; i++) {
        struct drv_sample s = sample("modbus-tcp", drv);
        bool all_good = true;

        for (size_t k = 0; k < s.n_readings; k++) {
            Citygate__V1__Quality q = s.readings[k].quality;
            counts[q < 8 ? q : 0]++;
            all_good &= q == CITYGATE__V1__QUALITY__GOOD;
            if (q != CITYGATE__V1__QUALITY__GOOD) {
                CU_ASSERT(q == CITYGATE__V1__QUALITY__BAD_TIMEOUT ||
                          q == CITYGATE__V1__QUALITY__BAD_EXCEPTION);
                CU_ASSERT_EQUAL(s.readings[k].value, 0.0);
            }
        }
        if (all_good)
            check_values(tcp_map_paths[1], 1794851400000ULL, &s);
    }
    fprintf(stderr, "\n  40 polls: %zu good, %zu timeout, %zu exception readings\n",
            counts[CITYGATE__V1__QUALITY__GOOD], counts[CITYGATE__V1__QUALITY__BAD_TIMEOUT],
            counts[CITYGATE__V1__QUALITY__BAD_EXCEPTION]);
    CU_ASSERT(counts[CITYGATE__V1__QUALITY__GOOD] > 0);
    CU_ASSERT(counts[CITYGATE__V1__QUALITY__BAD_TIMEOUT] > 0);
    CU_ASSERT(counts[CITYGATE__V1__QUALITY__BAD_EXCEPTION] > 0);
    drv_find("modbus-tcp")->close(drv);
    CU_ASSERT_EQUAL(stop_sim(&sim, SIGTERM), 0);
}

static struct sim start_rtu(const char *link)
{
    char time_arg[32], map_arg[400];
    const char *args[] = {"--rtu",  "--link",    link,         "--seed", "42",    "--time-ms",
                          time_arg, "--control", control_path, "--map",  map_arg, NULL};

    snprintf(time_arg, sizeof(time_arg), "%llu", (unsigned long long)T_MS);
    snprintf(map_arg, sizeof(map_arg), "3:%s", path_in_dir("orders.ini"));
    return start_sim(args);
}

/* The same over RTU on a pseudo-terminal: values, timeout, exception, gone and back. */
static void test_rtu(void)
{
    char link[300];
    struct sim sim;
    struct drv_sample s;
    void *drv;
    const char *map = path_in_dir("orders.ini");
    size_t n = n_points_of(map);

    snprintf(link, sizeof(link), "%s/ttyModbus", dir);
    control("mode=ok\n");
    sim = start_rtu(link);
    CU_ASSERT_FATAL(strncmp(sim.where, "rtu /dev/", 9) == 0);
    struct drv_param p[] = {
        {"device", link}, {"baud", "19200"},       {"parity", "none"}, {"unit_id", "3"},
        {"map", map},     {"timeout_ms", "500ms"}, {"retries", "0"},   {"reconnect_min_ms", "2s"}};
    drv = open_driver("modbus-rtu", p, sizeof(p) / sizeof(p[0]));

    s = sample("modbus-rtu", drv);
    CU_ASSERT(check_values(map, T_MS, &s) == n);
    control("mode=timeout\n");
    s = sample("modbus-rtu", drv);
    check_all_bad(&s, n, CITYGATE__V1__QUALITY__BAD_TIMEOUT);
    control("mode=exception code=4\n");
    s = sample("modbus-rtu", drv);
    check_all_bad(&s, n, CITYGATE__V1__QUALITY__BAD_EXCEPTION);
    control("mode=ok\n");
    s = sample("modbus-rtu", drv);
    check_values(map, T_MS, &s);

    CU_ASSERT(WIFSIGNALED(stop_sim(&sim, SIGKILL)));
    s = sample("modbus-rtu", drv);
    check_all_bad(&s, n, CITYGATE__V1__QUALITY__BAD_GONE);
    sim = start_rtu(link);
    s = sample("modbus-rtu", drv); /* within the 2 s backoff */
    check_all_bad(&s, n, CITYGATE__V1__QUALITY__BAD_GONE);
    now_ms += 2000;
    s = sample("modbus-rtu", drv);
    check_values(map, T_MS, &s);

    drv_find("modbus-rtu")->close(drv);
    CU_ASSERT_EQUAL(stop_sim(&sim, SIGTERM), 0);
    CU_ASSERT(access(link, F_OK) != 0); /* the link goes with the server */
}

/*
 * The points of late.ini hold four different raw values at T_MS, so a value
 * read from the wrong register cannot pass check_points().
 */
static void check_late_map_distinct(void)
{
    struct drv_map *map = NULL;
    struct drv_map_diag md;
    struct drv_diag dd;
    struct drv_simdev *dev = NULL;
    long raw[4];

    CU_ASSERT_EQUAL_FATAL(drv_map_load(path_in_dir("late.ini"), &map, &md), 0);
    CU_ASSERT_EQUAL_FATAL(map->n_points, 4);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_new(map, SEED, &dev, &dd), 0);
    CU_ASSERT_EQUAL_FATAL(drv_simdev_update(dev, T_MS), 0);
    for (size_t i = 0; i < 4; i++) {
        double v = 0.0;

        CU_ASSERT_EQUAL_FATAL(drv_simdev_value(dev, i, &v), 0);
        raw[i] = lround(v / map->points[i].format.scale);
        for (size_t k = 0; k < i; k++)
            CU_ASSERT_NOT_EQUAL(raw[i], raw[k]);
    }
    drv_simdev_free(dev);
    drv_map_free(map);
}

static void *open_tcp_unit(const char *unit, const char *map, const char *retries)
{
    struct drv_param p[] = {{"port", tcp_port},
                            {"unit_id", unit},
                            {"map", map},
                            {"timeout_ms", "500ms"},
                            {"retries", retries}};

    return open_driver("modbus-tcp", p, sizeof(p) / sizeof(p[0]));
}

/*
 * Units 0 and 255 over TCP; a register inside the served range that the
 * device's map lacks answers exception 2; and a register that answers after
 * the timeout (retries 1) costs that register's reading only: the driver
 * reconnects after the timeout, so no later request meets the late answer.
 */
static void test_tcp_late(void)
{
    char time_arg[32], late_arg[400], words_arg[400];
    const char *args[] = {"--tcp",  "0",         "--seed",     "42",    "--time-ms",
                          time_arg, "--control", control_path, "--map", late_arg,
                          "--map",  words_arg,   NULL};
    const char *late = path_in_dir("late.ini"), *hole = path_in_dir("hole.ini");
    const char *words = path_in_dir("words.ini");
    struct sim sim;
    struct drv_sample s;
    void *drv;

    check_late_map_distinct();
    snprintf(time_arg, sizeof(time_arg), "%llu", (unsigned long long)T_MS);
    CU_ASSERT_FATAL(snprintf(late_arg, sizeof(late_arg), "0:%s", late) < (int)sizeof(late_arg));
    CU_ASSERT_FATAL(snprintf(words_arg, sizeof(words_arg), "255:%s", words) <
                    (int)sizeof(words_arg));
    control("mode=ok\n");
    sim = start_sim(args);
    CU_ASSERT_FATAL(sscanf(sim.where, "tcp %7s", tcp_port) == 1);

    /* 248 ... 254 are reserved: refused at open, not at every sample */
    struct drv_param reserved[] = {{"port", tcp_port}, {"unit_id", "250"}, {"map", words}};
    struct drv_diag diag = {{0}};
    void *none = NULL;
    CU_ASSERT_EQUAL(drv_find("modbus-tcp")->open(reserved, 3, &none, &diag), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(diag.text, "reserved"));

    drv = open_tcp_unit("255", words, "1");
    s = sample("modbus-tcp", drv);
    check_values(words, T_MS, &s);
    drv_find("modbus-tcp")->close(drv);

    drv = open_tcp_unit("0", hole, "1");
    s = sample("modbus-tcp", drv);
    check_points(hole, T_MS, &s, 5, CITYGATE__V1__QUALITY__BAD_EXCEPTION);
    drv_find("modbus-tcp")->close(drv);

    drv = open_tcp_unit("0", late, "1");
    s = sample("modbus-tcp", drv);
    check_values(late, T_MS, &s);
    control("mode=late delay_ms=600 address=10\n");
    for (int poll = 0; poll < 2; poll++) {
        s = sample("modbus-tcp", drv);
        check_points(late, T_MS, &s, 10, CITYGATE__V1__QUALITY__BAD_TIMEOUT);
    }
    control("mode=ok\n");
    s = sample("modbus-tcp", drv);
    check_values(late, T_MS, &s);
    drv_find("modbus-tcp")->close(drv);
    CU_ASSERT_EQUAL(stop_sim(&sim, SIGTERM), 0);
}

static void *open_rtu_late(const char *link, const char *retries)
{
    struct drv_param p[] = {{"device", link},
                            {"baud", "19200"},
                            {"parity", "none"},
                            {"unit_id", "3"},
                            {"map", path_in_dir("late.ini")},
                            {"timeout_ms", "500ms"},
                            {"retries", retries}};

    return open_driver("modbus-rtu", p, sizeof(p) / sizeof(p[0]));
}

/*
 * RTU answers carry no transaction id. A register that answers after the
 * timeout (retries 1) costs that register's reading only, never a value read
 * for the wrong register; and a late answer left on the line by an earlier
 * client (one that gave up and closed) is not taken by the next one.
 */
static void test_rtu_late(void)
{
    char link[300], time_arg[32], map_arg[400];
    const char *late = path_in_dir("late.ini");
    const char *args[] = {"--rtu",  "--link",    link,         "--seed", "42",    "--time-ms",
                          time_arg, "--control", control_path, "--map",  map_arg, NULL};
    struct sim sim;
    struct drv_sample s;
    void *drv;

    snprintf(link, sizeof(link), "%s/ttyLate", dir);
    snprintf(time_arg, sizeof(time_arg), "%llu", (unsigned long long)T_MS);
    CU_ASSERT_FATAL(snprintf(map_arg, sizeof(map_arg), "3:%s", late) < (int)sizeof(map_arg));
    control("mode=ok\n");
    sim = start_sim(args);

    drv = open_rtu_late(link, "1");
    s = sample("modbus-rtu", drv);
    check_values(late, T_MS, &s);
    control("mode=late delay_ms=600 address=10\n");
    s = sample("modbus-rtu", drv);
    check_points(late, T_MS, &s, 10, CITYGATE__V1__QUALITY__BAD_TIMEOUT);
    control("mode=ok\n");
    s = sample("modbus-rtu", drv);
    check_values(late, T_MS, &s);
    drv_find("modbus-rtu")->close(drv);

    /* the last request of a poll times out and its client closes: the answer comes after */
    drv = open_rtu_late(link, "0");
    control("mode=late delay_ms=600 address=30\n");
    s = sample("modbus-rtu", drv);
    check_points(late, T_MS, &s, 30, CITYGATE__V1__QUALITY__BAD_TIMEOUT);
    drv_find("modbus-rtu")->close(drv);
    control("mode=ok\n");
    drv = open_rtu_late(link, "0");
    s = sample("modbus-rtu", drv);
    check_values(late, T_MS, &s);
    drv_find("modbus-rtu")->close(drv);
    CU_ASSERT_EQUAL(stop_sim(&sim, SIGTERM), 0);
}

static void test_teardown(void)
{
    static const char *const files[] = {"orders.ini", "words.ini", "bits.ini",
                                        "late.ini",   "hole.ini",  "control"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(path_in_dir(files[i]));
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"setup", test_setup},
        {"command line", test_cli},
        {"tcp: values, faults, gone and back", test_tcp},
        {"tcp: random faults are never stale", test_random_faults},
        {"rtu: values, faults, gone and back", test_rtu},
        {"tcp: units 0 and 255, holes, late answers", test_tcp_late},
        {"rtu: late answers never shift values", test_rtu_late},
        {"teardown", test_teardown},
        {NULL, NULL},
    };

    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-MODBUS-SIM\n", argv[0]);
        return 64;
    }
    sim_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    return cu_main("modbus", tests);
}
