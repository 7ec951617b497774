/*
 * bench_gen.c -- cityquery_bench_gen: the hourly windows of a long history
 * of many sites, as line protocol on stdout, for tools/bench-query.
 *
 *   cityquery_bench_gen --start EPOCH_S --days N [--sites N] [--capacity VPH] [--seed N]
 *
 * Each site has one node with one lane of the "sim-traffic" driver (the
 * road citysim simulates, drv_sim_site_road(): a motorway on one site in four),
 * sampled every 15 minutes as a node would. Its readings and vehicle
 * records go through the gateway's own windowing core (window.h: 15-min
 * and 1-h windows, each node's clock taken from its frames, a grace of one
 * frame interval, as in a historical replay) and its own line protocol
 * encoder (lp.h), so the lines are the ones citygate writes for those
 * frames: `traffic_volume` (4 readings an hour) and `vehicle_speed` with
 * its sketch. Only the 1-h windows that start in [start, start + days) are
 * printed: the level cityquery reads for a year. The demand curves use a
 * fixed UTC offset (--utc-offset, minutes; default 60), as sim-traffic does.
 *
 * Exit status: 0, 64 usage, 70 a driver or core error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "driver.h"
#include "err.h"
#include "lp.h"
#include "quantity.h"
#include "window.h"

#define Q15_MS 900000LL
#define HOUR_MS 3600000LL
#define MAX_SITES 1000
#define MAX_READINGS 64
#define MAX_VEHICLES 8192
#define LINE_BYTES 8192

struct gen {
    int64_t from_ms, to_ms; /* the 1-h windows printed start in [from_ms, to_ms) */
    uint64_t lines, bytes;
    struct gw_lp_naming naming;
};

/* Emit callback: the 1-h windows of the period as lines on stdout. */
static int print_window(void *ctx, const struct gw_aggregate *agg)
{
    struct gen *g = ctx;
    char storage[LINE_BYTES];
    struct gw_lpbuf b;

    if (agg->width_ms != HOUR_MS || agg->start_ms < g->from_ms || agg->start_ms >= g->to_ms)
        return 0;
    gw_lpbuf_init(&b, storage, sizeof storage);
    int rc = gw_lp_encode_aggregate(&b, &g->naming, agg);
    if (rc)
        return rc;
    if (fwrite(b.buf, 1, b.len, stdout) != b.len)
        return GW_EIO;
    g->lines++;
    g->bytes += b.len;
    return 0;
}

/* Opens site s's driver: one lane, its road, the seed plus s, the common offset. */
static void *open_site(const struct drv_ops *ops, unsigned s, const char *capacity, uint64_t seed,
                       const char *offset)
{
    char site_seed[32];
    struct drv_param p[] = {{"lanes", "1"},
                            {"profile", drv_sim_site_road(s).profile},
                            {"capacity_vph", capacity},
                            {"seed", site_seed},
                            {"utc_offset_min", offset},
                            {"incident_rate", "0.2"}};
    struct drv_diag diag = {{0}};
    void *state = NULL;

    snprintf(site_seed, sizeof site_seed, "%" PRIu64, seed + s);
    if (ops->open(p, sizeof p / sizeof p[0], &state, &diag) != 0) {
        cli_error("site %u: %s", s, diag.text);
        return NULL;
    }
    return state;
}

/* One 15-min frame of site s stamped ts_ms, folded into w as citygate folds it. */
static int fold_frame(struct gw_windows *w, struct gen *g, const struct drv_ops *ops, void *state,
                      const char *site, const char *node, int64_t ts_ms)
{
    static struct drv_reading readings[MAX_READINGS];
    static struct drv_vehicle vehicles[MAX_VEHICLES];
    struct drv_sample out = {readings, 0, MAX_READINGS, vehicles, 0, MAX_VEHICLES};
    struct gw_windows_frame fr;
    int rc = ops->sample(state, (uint64_t)ts_ms, (uint32_t)Q15_MS, &out);

    if (rc == 0)
        rc = gw_windows_frame_begin(w, site, node, ts_ms, &fr);
    if (rc == 0)
        rc = gw_windows_frame_clock(w, &fr, ts_ms, print_window, g);
    for (size_t i = 0; rc == 0 && i < out.n_readings; i++) {
        if (readings[i].quantity != CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME)
            continue;
        struct gw_series_key key = {site, node, "", readings[i].lane, GW_QUANTITY_TRAFFIC_VOLUME,
                                    0,    false};
        rc = gw_windows_frame_add(w, &fr, &key, (struct gw_window_value){ts_ms, readings[i].value},
                                  NULL);
    }
    for (size_t i = 0; rc == 0 && i < out.n_vehicles; i++) {
        struct gw_series_key key = {site, node, "", vehicles[i].lane, GW_QUANTITY_VEHICLE_SPEED,
                                    0,    true};
        struct gw_window_value v = {ts_ms + vehicles[i].offset_ms, vehicles[i].speed_kmh};
        rc = gw_windows_frame_add(w, &fr, &key, v, NULL);
    }
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s --start EPOCH_S --days N [--sites N] [--capacity VPH] [--seed N]\n"
            "       [--utc-offset MIN]\n",
            cli_prog());
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"start", required_argument, NULL, 's'},
        {"days", required_argument, NULL, 'd'},
        {"sites", required_argument, NULL, 'n'},
        {"capacity", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 'r'},
        {"utc-offset", required_argument, NULL, 'u'},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    uint64_t start_s = 0, days = 0, sites = 100, seed = 20250101;
    const char *capacity = "300", *offset = "60";
    int c;

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cli_uint_arg("--start", optarg, 1, 1ULL << 40, &start_s))
                return EX_USAGE;
            break;
        case 'd':
            if (cli_uint_arg("--days", optarg, 1, 3660, &days))
                return EX_USAGE;
            break;
        case 'n':
            if (cli_uint_arg("--sites", optarg, 1, MAX_SITES, &sites))
                return EX_USAGE;
            break;
        case 'c':
            capacity = optarg;
            break;
        case 'r':
            if (cli_uint_arg("--seed", optarg, 0, UINT64_MAX / 2, &seed))
                return EX_USAGE;
            break;
        case 'u':
            offset = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case CLI_OPT_VERSION:
            return cli_print_version();
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc || !start_s || !days) {
        usage(stderr);
        return EX_USAGE;
    }

    const struct drv_ops *ops = drv_find("sim-traffic");
    struct gen g = {.from_ms = (int64_t)start_s * 1000,
                    .to_ms = (int64_t)(start_s + days * 86400) * 1000,
                    .naming = {GW_LP_BY_FAMILY, NULL, NULL}};
    struct gw_windows_config cfg;
    struct gw_windows *w = NULL;
    void **state = calloc(sites, sizeof *state);
    char(*ids)[2][16] = calloc(sites, sizeof *ids);
    int rc = ops && state && ids ? 0 : GW_ENOMEM;

    gw_windows_config_default(&cfg);
    cfg.widths_ms[0] = Q15_MS;
    cfg.widths_ms[1] = HOUR_MS;
    cfg.n_widths = 2;
    cfg.grace_ms = Q15_MS;
    cfg.late_horizon_ms = HOUR_MS;
    if (rc == 0)
        rc = gw_windows_new(&cfg, &w);
    for (unsigned s = 0; rc == 0 && s < (unsigned)sites; s++) {
        snprintf(ids[s][0], sizeof ids[s][0], "site-%02u", s);
        snprintf(ids[s][1], sizeof ids[s][1], "node-%04u", s + 1);
        state[s] = open_site(ops, s, capacity, seed, offset);
        rc = state[s] ? 0 : GW_EINVAL;
    }
    /* Frames up to an interval past the period: its last vehicles come with them. */
    for (int64_t ts = g.from_ms; rc == 0 && ts <= g.to_ms + Q15_MS; ts += Q15_MS) {
        for (unsigned s = 0; rc == 0 && s < (unsigned)sites; s++)
            rc = fold_frame(w, &g, ops, state[s], ids[s][0], ids[s][1], ts);
        if (rc == 0)
            rc = gw_windows_advance(w, ts, SIZE_MAX, print_window, &g);
    }
    if (rc == 0)
        rc = gw_windows_flush_all(w, print_window, &g);
    if (rc == 0 && fflush(stdout) != 0)
        rc = GW_EIO;
    if (rc)
        cli_error("%s", gw_strerror(rc));
    else
        fprintf(stderr, "%s: %" PRIu64 " lines, %" PRIu64 " bytes\n", cli_prog(), g.lines, g.bytes);
    for (unsigned s = 0; state && s < (unsigned)sites; s++)
        if (state[s])
            ops->close(state[s]);
    gw_windows_free(w);
    free(state);
    free(ids);
    return rc ? EX_SOFTWARE : 0;
}
