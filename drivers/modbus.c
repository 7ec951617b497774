/*
 * modbus.c -- "modbus-tcp" and "modbus-rtu": devices read through libmodbus
 * according to a register map (regmap.h).
 *
 * One poll reads the map's planned blocks (contiguous registers merged into
 * as few requests as the map allows) and turns every point into one reading,
 * in map order. A reading is only ever made from bytes of the request just
 * answered: when a request fails, each of its points gets a BAD_* quality and
 * the value 0, never an earlier value. How a failure is classified:
 *
 *   no answer within timeout_ms, or a garbled one  -> BAD_TIMEOUT (retried
 *                                                     up to retries times,
 *                                                     the line settled first)
 *   a Modbus exception response                     -> BAD_EXCEPTION
 *   connection refused, reset or closed; serial
 *   port gone                                       -> BAD_GONE
 *   a float32 that decodes to NaN or infinity       -> BAD_RANGE
 *
 * An answer that comes after timeout_ms is the dangerous case: it is still
 * on its way when the next request goes out, and an RTU answer carries no
 * transaction id, so libmodbus takes it for the next request's answer when
 * function and length match (every later value one request behind, and
 * GOOD); over TCP the transaction id gives it away, but then every request
 * meets its predecessor's answer and fails. libmodbus's own
 * MODBUS_ERROR_RECOVERY_LINK sleeps and flushes after a timeout, but it also
 * retries a failed send for ever, so the driver settles the line itself
 * before the next request after any BAD_TIMEOUT: TCP reconnects (the late
 * answer dies with the old connection), RTU discards whatever arrives
 * (modbus_flush) until the line has been silent for timeout_ms. RTU also
 * settles at connect, since a previous run's late answer may be waiting in
 * the port's buffer.
 *
 * After BAD_GONE the context is closed and the rest of the poll is BAD_GONE
 * without touching the wire; the driver reconnects on a later sample once
 * now_ms has passed a capped exponential backoff (reconnect_min_ms doubling
 * to reconnect_max_ms, reset by the first successful read). The backoff runs
 * on the now_ms the caller passes, so tests can step through it without
 * sleeping. A point whose raw value equals its map's no_data sentinel gives
 * no reading at all: the device said there is nothing to report.
 *
 * With period_ms set, a sample before the next poll is due appends nothing,
 * so the device is polled at its own pace while the node frames at its own.
 *
 * Each instance owns one libmodbus context and must be used by one thread at
 * a time; instances are independent. Worst-case time of a sample is
 * blocks x (retries + 1) x timeout_ms, plus for RTU up to
 * MB_SETTLE_ROUNDS x timeout_ms of settling before each request that
 * follows a timeout. Nothing here logs.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

#include "internal.h"
#include "regmap.h"

#define PATH_BYTES 512
/* Silences of timeout_ms that settling an RTU line waits for before giving up on it. */
#define MB_SETTLE_ROUNDS 4

/* Parameters both transports take. */
struct mb_common {
    char map[PATH_BYTES];
    uint32_t unit_id;
    uint32_t timeout_ms;
    uint32_t retries;
    uint32_t period_ms;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
};

struct mb_tcp {
    char host[256];
    uint32_t port;
};

static const char *const parities[] = {"none", "even", "odd", NULL};

struct mb_rtu {
    char device[PATH_BYTES];
    uint32_t baud;
    int parity;
    uint32_t data_bits;
    uint32_t stop_bits;
};

struct mb_state {
    struct mb_common cfg;
    struct drv_map *map;
    modbus_t *ctx;
    bool serial;
    bool connected;
    bool unsettled;           /* a late answer may still be on its way: settle first */
    uint64_t next_connect_ms; /* 0: now */
    uint32_t backoff_ms;
    uint64_t next_poll_ms;
    uint16_t *words;    /* every block's registers, one word per bit for bit blocks */
    size_t *block_base; /* index of each block's first word in words */
    Citygate__V1__Quality *block_quality;
    uint8_t bits[DRV_MAP_MAX_READ_BITS];
};

static const struct drv__pspec common_spec[] = {
    {"map", DRV__P_STR, offsetof(struct mb_common, map), PATH_BYTES, 0, 0, NULL, NULL,
     "register map file (docs/drivers.md)"},
    {"unit_id", DRV__P_U32, offsetof(struct mb_common, unit_id), 0, 0, 255, NULL, "1",
     "Modbus unit (slave) id: 0 ... 247 or 255 over TCP, 1 ... 247 on a serial line"},
    {"timeout_ms", DRV__P_MS, offsetof(struct mb_common, timeout_ms), 0, 1, 60000, NULL, "1s",
     "time to wait for an answer"},
    {"retries", DRV__P_U32, offsetof(struct mb_common, retries), 0, 0, 10, NULL, "1",
     "extra attempts of a request that timed out"},
    {"period_ms", DRV__P_MS, offsetof(struct mb_common, period_ms), 0, 0, 86400000, NULL, "0s",
     "poll at most this often; 0 = at every sample"},
    {"reconnect_min_ms", DRV__P_MS, offsetof(struct mb_common, reconnect_min_ms), 0, 1, 3600000,
     NULL, "1s", "first reconnect delay after the device is gone"},
    {"reconnect_max_ms", DRV__P_MS, offsetof(struct mb_common, reconnect_max_ms), 0, 1, 3600000,
     NULL, "60s", "longest reconnect delay"},
};

static const struct drv__pspec tcp_spec[] = {
    {"host", DRV__P_STR, offsetof(struct mb_tcp, host), 256, 0, 0, NULL, "127.0.0.1",
     "device address or host name"},
    {"port", DRV__P_U32, offsetof(struct mb_tcp, port), 0, 1, 65535, NULL, "502", "TCP port"},
};

static const struct drv__pspec rtu_spec[] = {
    {"device", DRV__P_STR, offsetof(struct mb_rtu, device), PATH_BYTES, 0, 0, NULL, NULL,
     "serial port, e.g. /dev/ttyUSB0"},
    {"baud", DRV__P_U32, offsetof(struct mb_rtu, baud), 0, 300, 4000000, NULL, "9600",
     "bits per second"},
    {"parity", DRV__P_CHOICE, offsetof(struct mb_rtu, parity), 0, 0, 0, parities, "even",
     "none, even (the Modbus default) or odd"},
    {"data_bits", DRV__P_U32, offsetof(struct mb_rtu, data_bits), 0, 7, 8, NULL, "8", "7 or 8"},
    {"stop_bits", DRV__P_U32, offsetof(struct mb_rtu, stop_bits), 0, 1, 2, NULL, "1", "1 or 2"},
};

static void mb_close(void *state)
{
    struct mb_state *s = state;

    if (!s)
        return;
    if (s->ctx) {
        modbus_close(s->ctx);
        modbus_free(s->ctx);
    }
    drv_map_free(s->map);
    free(s->words);
    free(s->block_base);
    free(s->block_quality);
    free(s);
}

/* Loads the map and sizes the per-block buffers; everything a poll needs is allocated here. */
static int mb_prepare(struct mb_state *s, struct drv_diag *diag)
{
    struct drv_map_diag md;
    char text[sizeof(md.text) + sizeof(md.file) + 16];
    size_t total = 0;
    int rc = drv_map_load(s->cfg.map, &s->map, &md);

    if (rc) {
        drv__fail(diag, "%s", drv_map_diag_format(&md, text, sizeof(text)));
        return rc;
    }
    if (s->cfg.reconnect_max_ms < s->cfg.reconnect_min_ms)
        return drv__fail(diag, "parameter reconnect_max_ms: below reconnect_min_ms");
    s->block_base = calloc(s->map->n_blocks, sizeof(*s->block_base));
    s->block_quality = calloc(s->map->n_blocks, sizeof(*s->block_quality));
    for (size_t b = 0; b < s->map->n_blocks; b++) {
        s->block_base[b] = total;
        total += s->map->blocks[b].count;
    }
    s->words = calloc(total, sizeof(*s->words));
    if (!s->block_base || !s->block_quality || !s->words) {
        drv__fail(diag, "out of memory");
        return -ENOMEM;
    }
    s->backoff_ms = s->cfg.reconnect_min_ms;
    if (modbus_set_slave(s->ctx, (int)s->cfg.unit_id) != 0 ||
        modbus_set_response_timeout(s->ctx, s->cfg.timeout_ms / 1000,
                                    s->cfg.timeout_ms % 1000 * 1000) != 0)
        return drv__fail(diag, "libmodbus refused unit_id or timeout_ms: %s",
                         modbus_strerror(errno));
    return 0;
}

/* Creates the libmodbus context for TCP from tcp's settings. */
static int mb_new_tcp(struct mb_state *s, const struct mb_tcp *tcp, struct drv_diag *diag)
{
    char port[8];

    if (s->cfg.unit_id > 247 && s->cfg.unit_id < 255)
        return drv__fail(diag, "parameter unit_id: %u is reserved (0 ... 247 or 255 over TCP)",
                         (unsigned)s->cfg.unit_id);
    snprintf(port, sizeof(port), "%u", (unsigned)tcp->port);
    s->ctx = modbus_new_tcp_pi(tcp->host, port);
    if (!s->ctx)
        return drv__fail(diag, "libmodbus refused host %s: %s", tcp->host, modbus_strerror(errno));
    return 0;
}

/* Creates the libmodbus context for a serial line from rtu's settings. */
static int mb_new_rtu(struct mb_state *s, const struct mb_rtu *rtu, struct drv_diag *diag)
{
    if (s->cfg.unit_id < 1 || s->cfg.unit_id > 247)
        return drv__fail(diag,
                         "parameter unit_id: %u is outside 1 ... 247 (0 is broadcast, which "
                         "never answers)",
                         (unsigned)s->cfg.unit_id);
    s->ctx = modbus_new_rtu(rtu->device, (int)rtu->baud, "NEO"[rtu->parity], (int)rtu -> data_bits,
                            (int)rtu -> stop_bits);
    if (!s->ctx)
        return drv__fail(diag, "libmodbus refused the serial settings: %s", modbus_strerror(errno));
    return 0;
}

/* The open of both drivers: parameters, context, map; nothing touches the device yet. */
static int mb_open(bool serial, const struct drv_param *params, size_t n, void **state,
                   struct drv_diag *diag)
{
    struct mb_state *s = calloc(1, sizeof(*s));
    struct mb_tcp tcp;
    struct mb_rtu rtu;
    struct drv__pgroup groups[2];
    int rc;

    if (!s) {
        drv__fail(diag, "out of memory");
        return -ENOMEM;
    }
    groups[0] =
        (struct drv__pgroup){common_spec, sizeof(common_spec) / sizeof(common_spec[0]), &s->cfg};
    groups[1] = serial
                    ? (struct drv__pgroup){rtu_spec, sizeof(rtu_spec) / sizeof(rtu_spec[0]), &rtu}
                    : (struct drv__pgroup){tcp_spec, sizeof(tcp_spec) / sizeof(tcp_spec[0]), &tcp};
    rc = drv__params_parse(groups, 2, params, n, diag);
    s->serial = serial;
    if (rc == 0)
        rc = serial ? mb_new_rtu(s, &rtu, diag) : mb_new_tcp(s, &tcp, diag);
    if (rc == 0)
        rc = mb_prepare(s, diag);
    if (rc)
        goto out;
    *state = s;
    s = NULL;
out:
    mb_close(s);
    return rc;
}

static int mb_tcp_open(const struct drv_param *params, size_t n, void **state,
                       struct drv_diag *diag)
{
    return mb_open(false, params, n, state, diag);
}

static int mb_rtu_open(const struct drv_param *params, size_t n, void **state,
                       struct drv_diag *diag)
{
    return mb_open(true, params, n, state, diag);
}

/* What a failed libmodbus call means for the readings it should have produced. */
static Citygate__V1__Quality classify(int err)
{
    if ((err >= EMBXILFUN && err <= EMBXGTAR) || err == EMBBADEXC || err == EMBUNKEXC)
        return CITYGATE__V1__QUALITY__BAD_EXCEPTION;
    switch (err) {
    case ETIMEDOUT:
    case EMBBADCRC:
    case EMBBADDATA:
    case EMBMDATA:
    case EMBBADSLAVE:
        return CITYGATE__V1__QUALITY__BAD_TIMEOUT;
    default: /* ECONNRESET, ECONNREFUSED, EPIPE, EIO, ENOENT, ... */
        return CITYGATE__V1__QUALITY__BAD_GONE;
    }
}

static void mb_disconnect(struct mb_state *s, uint64_t now_ms)
{
    modbus_close(s->ctx);
    s->connected = false;
    s->next_connect_ms = now_ms + s->backoff_ms;
}

/* Connects when due; returns true when connected. */
static bool mb_connect(struct mb_state *s, uint64_t now_ms)
{
    if (s->connected)
        return true;
    if (now_ms < s->next_connect_ms)
        return false;
    if (modbus_connect(s->ctx) != 0) {
        s->next_connect_ms = now_ms + s->backoff_ms;
        s->backoff_ms = s->backoff_ms > s->cfg.reconnect_max_ms / 2 ? s->cfg.reconnect_max_ms
                                                                    : s->backoff_ms * 2;
        return false;
    }
    s->connected = true;
    s->unsettled = s->serial;
    return true;
}

/*
 * Makes sure no late answer can be taken for the next request's: TCP
 * reconnects; RTU flushes until the line has been silent for timeout_ms,
 * MB_SETTLE_ROUNDS times at most. Returns GOOD when the line is settled,
 * BAD_TIMEOUT when an RTU line kept talking (the next request settles again),
 * BAD_GONE when the reconnect failed or the port broke.
 */
static Citygate__V1__Quality mb_settle(struct mb_state *s)
{
    if (!s->serial) {
        modbus_close(s->ctx);
        return modbus_connect(s->ctx) == 0 ? CITYGATE__V1__QUALITY__GOOD
                                           : CITYGATE__V1__QUALITY__BAD_GONE;
    }
    for (int round = 0; round < MB_SETTLE_ROUNDS; round++) {
        struct pollfd pfd = {.fd = modbus_get_socket(s->ctx), .events = POLLIN};
        int rc;

        if (modbus_flush(s->ctx) < 0)
            return CITYGATE__V1__QUALITY__BAD_GONE;
        rc = poll(&pfd, 1, (int)s->cfg.timeout_ms);
        if (rc == 0)
            return CITYGATE__V1__QUALITY__GOOD;
        if (rc < 0 && errno != EINTR)
            return CITYGATE__V1__QUALITY__BAD_GONE;
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
            return CITYGATE__V1__QUALITY__BAD_GONE;
    }
    return CITYGATE__V1__QUALITY__BAD_TIMEOUT;
}

/* Reads block b with retries; returns the quality of what it read. */
static Citygate__V1__Quality mb_read_block(struct mb_state *s, size_t b)
{
    const struct drv_map_block *blk = &s->map->blocks[b];
    uint16_t *dst = s->words + s->block_base[b];
    Citygate__V1__Quality q = CITYGATE__V1__QUALITY__BAD_TIMEOUT;

    for (uint32_t attempt = 0; attempt <= s->cfg.retries; attempt++) {
        int rc;

        if (s->unsettled) {
            q = mb_settle(s);
            if (q != CITYGATE__V1__QUALITY__GOOD)
                return q;
            s->unsettled = false;
        }
        switch (blk->function) {
        case DRV_MAP_HOLDING:
            rc = modbus_read_registers(s->ctx, blk->address, blk->count, dst);
            break;
        case DRV_MAP_INPUT:
            rc = modbus_read_input_registers(s->ctx, blk->address, blk->count, dst);
            break;
        case DRV_MAP_COIL:
            rc = modbus_read_bits(s->ctx, blk->address, blk->count, s->bits);
            break;
        default:
            rc = modbus_read_input_bits(s->ctx, blk->address, blk->count, s->bits);
            break;
        }
        if (rc == blk->count) {
            if (blk->function == DRV_MAP_COIL || blk->function == DRV_MAP_DISCRETE)
                for (uint16_t i = 0; i < blk->count; i++)
                    dst[i] = s->bits[i] != 0;
            return CITYGATE__V1__QUALITY__GOOD;
        }
        q = rc < 0 ? classify(errno) : CITYGATE__V1__QUALITY__BAD_TIMEOUT;
        if (q != CITYGATE__V1__QUALITY__BAD_TIMEOUT)
            return q;
        s->unsettled = true;
    }
    return q;
}

/* Appends the reading of point i from its block (or nothing, for a no_data sentinel). */
static int mb_emit_point(struct mb_state *s, size_t i, struct drv_sample *out)
{
    const struct drv_map_point *p = &s->map->points[i];
    const struct drv_map_block *blk = &s->map->blocks[p->block];
    const uint16_t *w = s->words + s->block_base[p->block] + (p->address - blk->address);
    Citygate__V1__Quality q = s->block_quality[p->block];
    double value = 0.0;

    if (q == CITYGATE__V1__QUALITY__GOOD) {
        if (p->has_no_data && drv_reg_raw(&p->format, w) == p->no_data)
            return 0;
        if (drv_reg_decode(&p->format, w, &value) != 0)
            q = CITYGATE__V1__QUALITY__BAD_RANGE;
    }
    return drv__emit(out, p->quantity, value, q, p->lane, p->vehicle_class);
}

static int mb_sample(void *state, uint64_t now_ms, uint32_t interval_ms, struct drv_sample *out)
{
    struct mb_state *s = state;
    const struct drv_map *m = s->map;
    bool up, any_good = false;
    int rc = 0;

    (void)interval_ms;
    if (s->cfg.period_ms && now_ms < s->next_poll_ms)
        return 0;
    if (out->cap_readings - out->n_readings < m->n_points)
        return -ENOSPC;
    s->next_poll_ms = now_ms + s->cfg.period_ms;
    up = mb_connect(s, now_ms);
    for (size_t b = 0; b < m->n_blocks; b++) {
        s->block_quality[b] = up ? mb_read_block(s, b) : CITYGATE__V1__QUALITY__BAD_GONE;
        if (up && s->block_quality[b] == CITYGATE__V1__QUALITY__BAD_GONE) {
            mb_disconnect(s, now_ms);
            up = false;
        }
        any_good |= s->block_quality[b] == CITYGATE__V1__QUALITY__GOOD;
    }
    if (any_good)
        s->backoff_ms = s->cfg.reconnect_min_ms;
    for (size_t i = 0; i < m->n_points && !rc; i++)
        rc = mb_emit_point(s, i, out);
    return rc;
}

const struct drv_ops drv__modbus_tcp = {"modbus-tcp", mb_tcp_open, mb_sample, mb_close};
const struct drv_ops drv__modbus_rtu = {"modbus-rtu", mb_rtu_open, mb_sample, mb_close};
