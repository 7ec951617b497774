/*
 * modbus-sim -- a Modbus server that serves register maps with simulated
 * values, over TCP on 127.0.0.1 or over RTU on a pseudo-terminal pair, and
 * misbehaves on request.
 *
 * Each --map is one unit (slave) id; its values come from the sim driver
 * the map's [device] section names, through drv_simdev (drivers/simdev.h),
 * so that a test can compute what is served from the same seed and time.
 * The first line on stdout says where to connect ("tcp PORT" or
 * "rtu /dev/pts/N") and is printed only once the server is listening, so a
 * test reads that line instead of sleeping.
 *
 * A unit serves the registers (and bits) its map's points cover and those
 * its read plan spans (max_gap: the map says the device answers there); a
 * request that touches any other address gets exception 2, as a real device
 * answers a read across a hole in its register space.
 *
 * Faults come from two places. --inject gives each request a probability of
 * getting no answer (the client times out) or an exception response. The
 * --control file is read before every request, so a test that writes it
 * (atomically: write a temporary file, rename) knows the very next request
 * obeys it: "mode=timeout", "mode=exception code=4", "mode=late
 * delay_ms=D" (the right answer, D ms late: what makes a client take a late
 * answer for the next request's), "mode=ok", "address=A" to give the fault
 * only to requests that touch address A, and "time_ms=T" to move the
 * simulated clock. Signals would race with the request they were meant for;
 * a file read per request cannot.
 *
 * One thread, one poll() loop; libmodbus does the protocol. A late answer
 * holds the loop for its delay, as a slow device holds its line. Log lines
 * go to stderr, one per event. Exit codes (sysexits): 0 after SIGINT or
 * SIGTERM, 64 usage, 69 cannot listen, 71 no pseudo-terminal, 73 cannot
 * create the --link, 78 a bad map.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <modbus.h>

#include "cli.h"
#include "regmap.h"
#include "simdev.h"

#define MAX_UNITS 16
#define MAX_CLIENTS 32
#define CONTROL_MAX_BYTES 512
#define POLL_MS 200
#define MAX_DELAY_MS 60000
#define N_ADDRESSES 65536

enum fault { FAULT_NONE, FAULT_TIMEOUT, FAULT_EXCEPTION, FAULT_LATE };

struct unit {
    int id;
    const char *path;
    struct drv_map *map;
    struct drv_simdev *dev;
    modbus_mapping_t *mapping;
    /* first address of each object, as given to modbus_mapping_new_start_address() */
    unsigned start[4];
    uint8_t served[4][N_ADDRESSES / 8]; /* one bit per address of each object */
};

struct control {
    enum fault mode;
    int code;          /* exception code for FAULT_EXCEPTION */
    uint64_t delay_ms; /* for FAULT_LATE */
    bool has_address;  /* the fault only for requests that touch address */
    uint64_t address;
    bool has_time;
    uint64_t time_ms;
};

struct opts {
    const char *maps[MAX_UNITS];
    int unit_ids[MAX_UNITS];
    size_t n_maps;
    bool tcp, rtu;
    long port;
    const char *link;
    uint64_t seed;
    bool has_time;
    uint64_t time_ms;
    double p_timeout, p_exception;
    const char *control;
};

struct server {
    struct opts o;
    struct unit units[MAX_UNITS];
    size_t n_units;
    modbus_t *ctx;
    int listen_fd, master_fd, slave_fd;
    char slave_path[128];
    struct control last_control;
    uint64_t rng;
    uint64_t n_requests, n_timeouts, n_exceptions, n_late;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* splitmix64, uniform in [0, 1): the --inject draws, reproducible for a seed. */
static double next_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* A whole number (units.h's grammar) of at most max; returns 0 or -1. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v;

    if (gw_parse_uint(s, &v) != 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "timeout=0.1,exception=0.05" */
static int parse_inject(char *arg, struct opts *o)
{
    for (char *item = arg; item && *item;) {
        char *next = strchr(item, ',');
        char *eq = strchr(item, '=');
        double v;

        if (next)
            *next++ = '\0';
        if (!eq)
            return -1;
        *eq = '\0';
        if (gw_parse_real(eq + 1, &v) != 0 || v < 0.0 || v > 1.0)
            return -1;
        if (strcmp(item, "timeout") == 0)
            o->p_timeout = v;
        else if (strcmp(item, "exception") == 0)
            o->p_exception = v;
        else
            return -1;
        item = next;
    }
    return o->p_timeout + o->p_exception <= 1.0 ? 0 : -1;
}

/* "[UNIT:]FILE"; units default to 1, 2, 3, ... in the order given; parse_args checks the range. */
static int parse_map_arg(char *arg, struct opts *o)
{
    char *colon = strchr(arg, ':');
    uint64_t unit = o->n_maps + 1;

    if (o->n_maps == MAX_UNITS)
        return -1;
    if (colon && colon > arg && strspn(arg, "0123456789") == (size_t)(colon - arg)) {
        *colon = '\0';
        if (parse_u64(arg, 255, &unit))
            return -1;
        arg = colon + 1;
    }
    for (size_t i = 0; i < o->n_maps; i++)
        if (o->unit_ids[i] == (int)unit)
            return -1;
    o->unit_ids[o->n_maps] = (int)unit;
    o->maps[o->n_maps++] = arg;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: modbus-sim --map [UNIT:]FILE... (--tcp PORT | --rtu [--link PATH]) [options]\n"
            "Serves register maps with simulated values over Modbus TCP or RTU.\n"
            "\n"
            "  -m, --map [UNIT:]FILE   a register map, served as unit UNIT (default: 1, 2, ...\n"
            "                          in order; 0 ... 255 over TCP, 1 ... 247 over RTU);\n"
            "                          shipped maps are in %s\n"
            "  -t, --tcp PORT          listen on 127.0.0.1:PORT; 0 picks a free port\n"
            "  -r, --rtu               serve RTU on a new pseudo-terminal (one map only)\n"
            "  -l, --link PATH         with --rtu: keep a symlink PATH to the terminal\n"
            "  -s, --seed N            the simulation seed (default 1)\n"
            "  -T, --time-ms MS        freeze the simulated clock at MS since the epoch\n"
            "  -i, --inject SPEC       timeout=RATE,exception=RATE: fractions of requests\n"
            "                          that get no answer or an exception (code 4)\n"
            "  -c, --control FILE      read before every request: mode=ok|timeout|exception|\n"
            "                          late, code=N (exception code), delay_ms=MS (late\n"
            "                          answer), address=A (only requests touching A),\n"
            "                          time_ms=MS\n"
            "  -h, --help              show this help and exit\n"
            "  -V, --version           show the version and exit\n"
            "\n"
            "The first line on stdout is \"tcp PORT\" or \"rtu /dev/pts/N\", once serving.\n"
            "Exit codes: 0 stopped by SIGINT/SIGTERM, 64 usage, 69 cannot listen,\n"
            "71 no pseudo-terminal, 73 cannot create the link, 78 bad map.\n",
            DRIVERS_MAPS_DIR);
}

/* Parses argv into o; returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"map", required_argument, NULL, 'm'},
        {"tcp", required_argument, NULL, 't'},
        {"rtu", no_argument, NULL, 'r'},
        {"link", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},
        {"time-ms", required_argument, NULL, 'T'},
        {"inject", required_argument, NULL, 'i'},
        {"control", required_argument, NULL, 'c'},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    uint64_t v = 0;
    int c;

    memset(o, 0, sizeof(*o));
    o->seed = 1;
    while ((c = getopt_long(argc, argv, "m:t:rl:s:T:i:c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (parse_map_arg(optarg, o))
                goto bad;
            break;
        case 't':
            if (cli_uint_arg("--tcp", optarg, 0, 65535, &v))
                return EX_USAGE;
            o->tcp = true;
            o->port = (long)v;
            break;
        case 'r':
            o->rtu = true;
            break;
        case 'l':
            o->link = optarg;
            break;
        case 's':
            if (cli_uint_arg("--seed", optarg, 0, UINT64_MAX, &o->seed))
                return EX_USAGE;
            break;
        case 'T':
            if (cli_uint_arg("--time-ms", optarg, 0, UINT64_MAX / 2, &o->time_ms))
                return EX_USAGE;
            o->has_time = true;
            break;
        case 'i':
            if (parse_inject(optarg, o))
                goto bad;
            break;
        case 'c':
            o->control = optarg;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case 'V':
        case CLI_OPT_VERSION:
            return cli_print_version();
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind != argc || o->n_maps == 0 || o->tcp == o->rtu || (o->link && !o->rtu) ||
        (o->rtu && o->n_maps != 1))
        return cli_usage_error("give one or more --map and exactly one of --tcp or --rtu "
                               "(--rtu serves one map; --link needs --rtu)");
    if (o->rtu && (o->unit_ids[0] < 1 || o->unit_ids[0] > 247))
        return cli_usage_error("over RTU the unit is 1 ... 247 (0 is broadcast)");
    return -1;
bad:
    return cli_usage_error("invalid value for --%s: %s", c == 'm' ? "map" : "inject", optarg);
}

/* Reads the control file; a missing file means "behave". Never fails the request. */
static void read_control(struct server *s, struct control *ctl)
{
    char buf[CONTROL_MAX_BYTES + 1];
    ssize_t n;
    int fd;

    memset(ctl, 0, sizeof(*ctl));
    ctl->code = MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE;
    if (!s->o.control)
        return;
    fd = open(s->o.control, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, CONTROL_MAX_BYTES);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *save = NULL, *tok = buf; tok; tok = save) {
        uint64_t v;

        tok += strspn(tok, " \t\r\n");
        if (!*tok)
            break;
        save = tok + strcspn(tok, " \t\r\n");
        if (*save)
            *save++ = '\0';
        else
            save = NULL;
        if (strcmp(tok, "mode=ok") == 0)
            ctl->mode = FAULT_NONE;
        else if (strcmp(tok, "mode=timeout") == 0)
            ctl->mode = FAULT_TIMEOUT;
        else if (strcmp(tok, "mode=exception") == 0)
            ctl->mode = FAULT_EXCEPTION;
        else if (strcmp(tok, "mode=late") == 0)
            ctl->mode = FAULT_LATE;
        else if (strncmp(tok, "code=", 5) == 0 && parse_u64(tok + 5, 11, &v) == 0 && v > 0)
            ctl->code = (int)v;
        else if (strncmp(tok, "delay_ms=", 9) == 0 && parse_u64(tok + 9, MAX_DELAY_MS, &v) == 0)
            ctl->delay_ms = v;
        else if (strncmp(tok, "address=", 8) == 0 &&
                 parse_u64(tok + 8, N_ADDRESSES - 1, &ctl->address) == 0)
            ctl->has_address = true;
        else if (strncmp(tok, "time_ms=", 8) == 0 && parse_u64(tok + 8, UINT64_MAX / 2, &v) == 0) {
            ctl->has_time = true;
            ctl->time_ms = v;
        } else
            fprintf(stderr, "modbus-sim: control: ignoring \"%s\"\n", tok);
    }
}

static int load_units(struct server *s)
{
    for (size_t i = 0; i < s->o.n_maps; i++) {
        struct unit *u = &s->units[s->n_units++];
        unsigned end[4] = {0, 0, 0, 0};
        bool used[4] = {false, false, false, false};
        struct drv_map_diag md;
        struct drv_diag dd = {{0}};
        char text[512];

        u->id = s->o.unit_ids[i];
        u->path = s->o.maps[i];
        if (drv_map_load(u->path, &u->map, &md) != 0) {
            fprintf(stderr, "modbus-sim: %s\n", drv_map_diag_format(&md, text, sizeof(text)));
            return EX_CONFIG;
        }
        if (drv_simdev_new(u->map, s->o.seed, &u->dev, &dd) != 0) {
            fprintf(stderr, "modbus-sim: %s: %s\n", u->path, dd.text);
            return EX_CONFIG;
        }
        for (size_t k = 0; k < u->map->n_points; k++) {
            const struct drv_map_point *p = &u->map->points[k];
            unsigned f = p->function, e = p->address + drv_reg_words(p->format.type);

            if (!used[f] || p->address < u->start[f])
                u->start[f] = p->address;
            if (!used[f] || e > end[f])
                end[f] = e;
            used[f] = true;
        }
        for (size_t b = 0; b < u->map->n_blocks; b++) {
            const struct drv_map_block *blk = &u->map->blocks[b];

            for (unsigned a = blk->address; a < (unsigned)blk->address + blk->count; a++)
                u->served[blk->function][a / 8] |= (uint8_t)(1u << (a % 8));
        }
        u->mapping = modbus_mapping_new_start_address(
            u->start[DRV_MAP_COIL], end[DRV_MAP_COIL] - u->start[DRV_MAP_COIL],
            u->start[DRV_MAP_DISCRETE], end[DRV_MAP_DISCRETE] - u->start[DRV_MAP_DISCRETE],
            u->start[DRV_MAP_HOLDING], end[DRV_MAP_HOLDING] - u->start[DRV_MAP_HOLDING],
            u->start[DRV_MAP_INPUT], end[DRV_MAP_INPUT] - u->start[DRV_MAP_INPUT]);
        if (!u->mapping) {
            fprintf(stderr, "modbus-sim: out of memory\n");
            return EX_OSERR;
        }
        fprintf(stderr, "modbus-sim: unit %d: %s (%s, %zu points, %s)\n", u->id, u->path,
                u->map->model[0] ? u->map->model : "no model", u->map->n_points, u->map->simulator);
    }
    return 0;
}

/* Writes unit u's values at now_ms into its register image. */
static void refresh(struct unit *u, uint64_t now_ms)
{
    modbus_mapping_t *mb = u->mapping;

    if (drv_simdev_update(u->dev, now_ms) != 0)
        return;
    for (size_t k = 0; k < u->map->n_points; k++) {
        const struct drv_map_point *p = &u->map->points[k];
        unsigned off = p->address - u->start[p->function];
        uint16_t w[2];

        drv_simdev_words(u->dev, k, w);
        switch (p->function) {
        case DRV_MAP_COIL:
            mb->tab_bits[off] = (uint8_t)w[0];
            break;
        case DRV_MAP_DISCRETE:
            mb->tab_input_bits[off] = (uint8_t)w[0];
            break;
        case DRV_MAP_HOLDING:
            memcpy(&mb->tab_registers[off], w, drv_reg_words(p->format.type) * sizeof(w[0]));
            break;
        default:
            memcpy(&mb->tab_input_registers[off], w, drv_reg_words(p->format.type) * sizeof(w[0]));
            break;
        }
    }
}

static struct unit *find_unit(struct server *s, int id)
{
    for (size_t i = 0; i < s->n_units; i++)
        if (s->units[i].id == id)
            return &s->units[i];
    return NULL;
}

/* The addresses a request touches: false for a function that addresses no object. */
static bool request_span(const uint8_t *pdu, enum drv_map_function *object, unsigned *address,
                         unsigned *count)
{
    static const struct {
        uint8_t function;
        enum drv_map_function object;
        bool single;
    } table[] = {
        {MODBUS_FC_READ_COILS, DRV_MAP_COIL, false},
        {MODBUS_FC_READ_DISCRETE_INPUTS, DRV_MAP_DISCRETE, false},
        {MODBUS_FC_READ_HOLDING_REGISTERS, DRV_MAP_HOLDING, false},
        {MODBUS_FC_READ_INPUT_REGISTERS, DRV_MAP_INPUT, false},
        {MODBUS_FC_WRITE_SINGLE_COIL, DRV_MAP_COIL, true},
        {MODBUS_FC_WRITE_SINGLE_REGISTER, DRV_MAP_HOLDING, true},
        {MODBUS_FC_WRITE_MULTIPLE_COILS, DRV_MAP_COIL, false},
        {MODBUS_FC_WRITE_MULTIPLE_REGISTERS, DRV_MAP_HOLDING, false},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].function != pdu[0])
            continue;
        *object = table[i].object;
        *address = (unsigned)pdu[1] << 8 | pdu[2];
        *count = table[i].single ? 1 : ((unsigned)pdu[3] << 8 | pdu[4]);
        return true;
    }
    return false;
}

/* Whether unit u serves every address of the span; a span past 65535 is not served. */
static bool served(const struct unit *u, enum drv_map_function object, unsigned address,
                   unsigned count)
{
    if (address + count > N_ADDRESSES)
        return false;
    for (unsigned a = address; a < address + count; a++)
        if (!(u->served[object][a / 8] & (1u << (a % 8))))
            return false;
    return true;
}

/* Sleeps ms milliseconds, or less when a signal asks the server to stop. */
static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop)
        ;
}

/* Answers (or, on purpose, does not answer, or answers late) one request of length len. */
static void handle(struct server *s, const uint8_t *query, int len)
{
    static const char *const mode_names[] = {"ok", "timeout", "exception", "late"};
    int header = modbus_get_header_length(s->ctx);
    struct unit *u = find_unit(s, query[header - 1]);
    enum fault fault = FAULT_NONE;
    enum drv_map_function object = DRV_MAP_HOLDING;
    unsigned address = 0, count = 0;
    bool has_span = request_span(query + header, &object, &address, &count);
    struct control ctl;
    uint64_t now_ms;

    s->n_requests++;
    read_control(s, &ctl);
    if (ctl.mode != s->last_control.mode)
        fprintf(stderr, "modbus-sim: control: mode %s\n", mode_names[ctl.mode]);
    s->last_control = ctl;
    fault = ctl.mode;
    if (ctl.has_address &&
        !(has_span && ctl.address >= address && ctl.address < (uint64_t)address + count))
        fault = FAULT_NONE;
    if (fault == FAULT_NONE && (s->o.p_timeout > 0 || s->o.p_exception > 0)) {
        double x = next_uniform(&s->rng);
        fault = x < s->o.p_timeout                      ? FAULT_TIMEOUT
                : x < s->o.p_timeout + s->o.p_exception ? FAULT_EXCEPTION
                                                        : FAULT_NONE;
    }
    if (fault == FAULT_TIMEOUT) {
        s->n_timeouts++;
        return;
    }
    if (!u) {
        modbus_reply_exception(s->ctx, query, MODBUS_EXCEPTION_GATEWAY_TARGET);
        return;
    }
    if (fault == FAULT_EXCEPTION) {
        s->n_exceptions++;
        modbus_reply_exception(s->ctx, query, (unsigned)ctl.code);
        return;
    }
    if (fault == FAULT_LATE) {
        s->n_late++;
        sleep_ms(ctl.delay_ms);
    }
    if (has_span && !served(u, object, address, count)) {
        modbus_reply_exception(s->ctx, query, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        return;
    }
    now_ms = ctl.has_time ? ctl.time_ms : s->o.has_time ? s->o.time_ms : wall_ms();
    refresh(u, now_ms);
    modbus_reply(s->ctx, query, len, u->mapping);
}

static int serve_tcp(struct server *s)
{
    struct pollfd fds[1 + MAX_CLIENTS];
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    nfds_t n = 1;

    s->ctx = modbus_new_tcp("127.0.0.1", (int)s->o.port);
    if (!s->ctx)
        return EX_UNAVAILABLE;
    s->listen_fd = modbus_tcp_listen(s->ctx, MAX_CLIENTS);
    if (s->listen_fd < 0 || getsockname(s->listen_fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        fprintf(stderr, "modbus-sim: cannot listen on 127.0.0.1:%ld: %s\n", s->o.port,
                modbus_strerror(errno));
        return EX_UNAVAILABLE;
    }
    printf("tcp %u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    fds[0] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
    while (!stop) {
        if (poll(fds, n, POLL_MS) < 0) {
            if (errno == EINTR)
                continue;
            return EX_OSERR;
        }
        for (nfds_t i = n; i-- > 1;) {
            int rc;

            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            modbus_set_socket(s->ctx, fds[i].fd);
            rc = modbus_receive(s->ctx, query);
            if (rc > 0) {
                handle(s, query, rc);
            } else if (rc < 0) {
                close(fds[i].fd);
                fds[i] = fds[--n];
            }
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept(s->listen_fd, NULL, NULL);
            if (fd >= 0 && n < 1 + MAX_CLIENTS)
                fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
            else if (fd >= 0)
                close(fd); /* full: the client sees its connection closed */
        }
    }
    for (nfds_t i = 1; i < n; i++)
        close(fds[i].fd);
    return EX_OK;
}

/* Raw mode on the terminal, as a serial line carries Modbus RTU: no echo, no line editing. */
static int make_raw(int fd)
{
    struct termios t;

    if (tcgetattr(fd, &t) != 0)
        return -1;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    return tcsetattr(fd, TCSANOW, &t);
}

/* Points link at the terminal, atomically, so a client never sees it missing or half made. */
static int make_link(const char *link, const char *target)
{
    char tmp[PATH_MAX];

    if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", link, (long)getpid()) >= (int)sizeof(tmp))
        return -1;
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return -1;
    if (rename(tmp, link) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int serve_rtu(struct server *s)
{
    uint8_t query[MODBUS_RTU_MAX_ADU_LENGTH];
    const char *name;

    s->master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (s->master_fd < 0 || grantpt(s->master_fd) != 0 || unlockpt(s->master_fd) != 0 ||
        !(name = ptsname(s->master_fd)) ||
        snprintf(s->slave_path, sizeof(s->slave_path), "%s", name) >= (int)sizeof(s->slave_path)) {
        fprintf(stderr, "modbus-sim: no pseudo-terminal: %s\n", strerror(errno));
        return EX_OSERR;
    }
    /* Holding the slave side open keeps the master readable between client sessions. */
    s->slave_fd = open(s->slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s->slave_fd < 0 || make_raw(s->slave_fd) != 0) {
        fprintf(stderr, "modbus-sim: %s: %s\n", s->slave_path, strerror(errno));
        return EX_OSERR;
    }
    if (s->o.link && make_link(s->o.link, s->slave_path) != 0) {
        fprintf(stderr, "modbus-sim: cannot link %s: %s\n", s->o.link, strerror(errno));
        return EX_CANTCREAT;
    }
    s->ctx = modbus_new_rtu(s->slave_path, 19200, 'N', 8, 1);
    if (!s->ctx || modbus_set_socket(s->ctx, s->master_fd) != 0 ||
        modbus_set_slave(s->ctx, s->units[0].id) != 0)
        return EX_OSERR;
    printf("rtu %s\n", s->slave_path);
    fflush(stdout);
    while (!stop) {
        struct pollfd pfd = {.fd = s->master_fd, .events = POLLIN};
        int rc = poll(&pfd, 1, POLL_MS);

        if (rc < 0 && errno != EINTR)
            return EX_OSERR;
        if (rc <= 0 || !(pfd.revents & POLLIN))
            continue;
        rc = modbus_receive(s->ctx, query);
        if (rc > 0)
            handle(s, query, rc);
        else if (rc < 0)
            modbus_flush(s->ctx); /* a garbled or partial frame: start afresh */
    }
    return EX_OK;
}

/* Removes the link if it still points at this server's terminal. */
static void remove_link(const struct server *s)
{
    char target[sizeof(s->slave_path)];
    ssize_t n;

    if (!s->o.link)
        return;
    n = readlink(s->o.link, target, sizeof(target) - 1);
    if (n < 0)
        return;
    target[n] = '\0';
    if (strcmp(target, s->slave_path) == 0)
        unlink(s->o.link);
}

int main(int argc, char **argv)
{
    static struct server s;
    struct sigaction sa;
    int rc;

    s.listen_fd = s.master_fd = s.slave_fd = -1;
    cli_init(argv[0]);
    rc = parse_args(argc, argv, &s.o);
    if (rc >= 0)
        return rc;
    s.rng = s.o.seed ^ 0x5eed5eed5eed5eedULL;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns on a signal */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = load_units(&s);
    if (rc == 0)
        rc = s.o.tcp ? serve_tcp(&s) : serve_rtu(&s);
    fprintf(stderr,
            "modbus-sim: %" PRIu64 " requests, %" PRIu64 " left unanswered, %" PRIu64
            " exceptions, %" PRIu64 " answered late\n",
            s.n_requests, s.n_timeouts, s.n_exceptions, s.n_late);
    remove_link(&s);
    if (s.ctx)
        modbus_free(s.ctx);
    if (s.listen_fd >= 0)
        close(s.listen_fd);
    if (s.slave_fd >= 0)
        close(s.slave_fd);
    if (s.master_fd >= 0)
        close(s.master_fd);
    for (size_t i = 0; i < s.n_units; i++) {
        if (s.units[i].mapping)
            modbus_mapping_free(s.units[i].mapping);
        drv_simdev_free(s.units[i].dev);
        drv_map_free(s.units[i].map);
    }
    return rc;
}
