/*
 * replay.c -- bench_replay: the gateway core alone, fed a corpus, for
 * callgrind. Every frame goes through the stages the gateway runs under its
 * lock -- verify and decode, validate, dedup, windows, rules -- and time
 * passes as in the gateway (a tick every tick interval of the replayed
 * clock closes windows; each aggregate is encoded as line protocol), with
 * no I/O, no threads and no clock: the arrival clock is the frame's own
 * timestamp plus a fixed delay, so a run is exactly repeatable.
 *
 * replay_frames() is the measured part (callgrind --toggle-collect); the
 * set-up before it and the final flush after it are not. With --lp-out the
 * final flush writes every window still open as well, one file per
 * retention policy, which is the line protocol a plain upload is timed with.
 * With --memory it reports where the heap went instead: what malloc holds
 * after the replay beside what windows, rules and dedup say they requested.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "corpus.h"
#include "err.h"
#include "lp.h"
#include "pipeline.h"

#define PROG "bench_replay"
#define LP_BYTES (512 * 1024)

struct replay {
    struct gw_pipeline *pipe;
    struct gw_lp_naming naming;
    struct gw_lpbuf lp[GW_WINDOW_MAX_LEVELS];
    char *lp_store;
    FILE *out[GW_WINDOW_MAX_LEVELS]; /* NULL: lines are counted and dropped */
    uint64_t lines, alerts, accepted, rejected;
    uint64_t delay_ms, tick_ms;
};

static void lp_flush(struct replay *r, unsigned level)
{
    if (r->out[level] && r->lp[level].len)
        fwrite(r->lp[level].buf, 1, r->lp[level].len, r->out[level]);
    r->lp[level].len = 0;
}

/* The gateway's emit: one line per aggregate into the buffer of its level. */
static int emit(void *ctx, const struct gw_aggregate *agg)
{
    struct replay *r = ctx;
    int rc = gw_lp_encode_aggregate(&r->lp[agg->level], &r->naming, agg);
    if (rc == GW_EFULL) {
        lp_flush(r, agg->level);
        rc = gw_lp_encode_aggregate(&r->lp[agg->level], &r->naming, agg);
    }
    r->lines += rc == 0;
    return 0;
}

static void on_alert(void *ctx, const struct gw_alert_event *ev)
{
    struct replay *r = ctx;
    (void)ev;
    r->alerts++;
}

/* The measured loop: admit and commit every frame, ticking as the gateway does. */
__attribute__((noinline)) void replay_frames(struct replay *r, const struct bench_corpus *c)
{
    uint64_t now = 0, next_tick = 0;
    struct gw_pipeline_out out = {emit, r, on_alert, r};
    for (size_t i = 0; i < c->n; i++) {
        const struct bench_frame *f = &c->frames[i];
        struct gw_admitted a;
        struct gw_topic t;
        if (f->ts_ms + r->delay_ms > now)
            now = f->ts_ms + r->delay_ms;
        if (now >= next_tick) {
            gw_pipeline_tick(r->pipe, now, SIZE_MAX, &out);
            next_tick = now - now % r->tick_ms + r->tick_ms;
        }
        /* As the gateway does: the topic parsed once, then admitted. */
        int parsed = gw_topic_parse(f->topic, strlen(f->topic), &t) == 0;
        struct gw_arrival m = {parsed ? &t : NULL, f->payload, f->payload_len, now};
        if (gw_pipeline_admit(r->pipe, &m, &a, NULL) != 0 ||
            gw_pipeline_commit(r->pipe, &a, now, &out, NULL) != 0) {
            r->rejected++;
            continue;
        }
        r->accepted++;
    }
}

/* Loads the gateway's configuration file and its registry. Returns 0 or prints why. */
static int load(const char *path, struct gw_config *cfg, struct gw_registry **reg)
{
    struct gw_config_diag cd = {0, ""};
    struct gw_registry_diag rd = {0, ""};
    char *text = NULL;
    size_t len = 0;
    int rc = cli_read_file(path, SIZE_MAX, &text, &len);
    if (rc != 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(-rc));
        return GW_EIO;
    }
    rc = gw_config_init(cfg);
    if (rc == 0 && (rc = gw_config_parse(cfg, text, len, &cd)) != 0)
        fprintf(stderr, PROG ": %s:%d: %s\n", path, cd.line, cd.message);
    free(text);
    if (rc != 0)
        return rc;
    rc = cli_read_file(cfg->registry_file, SIZE_MAX, &text, &len);
    if (rc != 0) {
        fprintf(stderr, PROG ": registry %s: %s\n", cfg->registry_file, strerror(-rc));
        return GW_EIO;
    }
    rc = gw_registry_new(text, len, reg, &rd);
    if (rc != 0)
        fprintf(stderr, PROG ": registry %s:%d: %s\n", cfg->registry_file, rd.line, rd.message);
    free(text);
    return rc;
}

/* The gateway's pipeline settings from its configuration (as gateway/main.c makes them). */
static int build(const struct gw_config *cfg, const struct gw_registry *reg, struct replay *r)
{
    struct gw_pipeline_config pc = {
        .max_frame_bytes = cfg->max_frame_bytes,
        .limits = {cfg->max_skew_ms, cfg->max_age_ms},
        .max_devices = cfg->max_devices,
        .dedup_window = cfg->dedup_window,
        .rules = cfg->rules,
        .n_rules = cfg->n_rules,
    };
    char why[256];
    gw_windows_config_default(&pc.windows);
    pc.windows.n_widths = (unsigned)cfg->n_widths;
    for (size_t i = 0; i < cfg->n_widths; i++)
        pc.windows.widths_ms[i] = (int64_t)cfg->widths_ms[i];
    pc.windows.grace_ms = (int64_t)cfg->grace_ms;
    pc.windows.late_horizon_ms = (int64_t)cfg->late_horizon_ms;
    pc.windows.max_ahead_ms = (int64_t)cfg->max_skew_ms;
    pc.windows.max_series = cfg->max_series;
    if (gw_pipeline_new(&pc, reg, &r->pipe, why, sizeof why) != 0) {
        fprintf(stderr, PROG ": %s\n", why);
        return -1;
    }
    r->naming.scheme = GW_LP_BY_FAMILY;
    r->lp_store = malloc(cfg->n_widths * LP_BYTES);
    if (!r->lp_store)
        return -1;
    for (size_t i = 0; i < cfg->n_widths; i++)
        gw_lpbuf_init(&r->lp[i], r->lp_store + i * LP_BYTES, LP_BYTES);
    return 0;
}

/* Heap the replay left allocated, and what each part of the core accounts for. */
static void print_memory(const struct replay *r, const struct mallinfo2 *before)
{
    struct mallinfo2 after = mallinfo2();
    struct gw_windows_stats ws;
    struct gw_rules_stats rs;
    struct gw_dedup_totals dt;
    gw_pipeline_window_stats(r->pipe, &ws);
    gw_pipeline_rules_stats(r->pipe, &rs);
    gw_pipeline_dedup_totals(r->pipe, &dt);
    printf("heap_bytes=%zu heap_chunks=%zu window_bytes=%zu window_blocks=%zu rules_bytes=%zu "
           "dedup_bytes=%zu devices=%zu series=%zu rule_series=%zu\n",
           after.uordblks - before->uordblks, (size_t)(after.ordblks - before->ordblks),
           ws.memory_bytes, ws.memory_blocks, rs.state_bytes, gw_pipeline_dedup_heap_bytes(r->pipe),
           dt.n_devices, ws.series, rs.n_series);
}

/* Opens DIR/rp_<width>.lp for every level: the gateway's retention policy names. */
static int open_outputs(const struct gw_config *cfg, const char *dir, struct replay *r)
{
    for (size_t i = 0; i < cfg->n_widths; i++) {
        char label[16], path[4096];
        gw_lp_window_label((int64_t)cfg->widths_ms[i], label, sizeof label);
        snprintf(path, sizeof path, "%s/rp_%s.lp", dir, label);
        if (!(r->out[i] = fopen(path, "w"))) {
            fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --config GATEWAY.conf --corpus FILE [--lp-out DIR]\n"
            "Replays FILE through the core built from the gateway's configuration and\n"
            "registry; prints frames= accepted= rejected= lines= alerts=.\n"
            "  --delay-ms MS  arrival clock = frame timestamp + MS (default 50)\n"
            "  --tick-ms MS   windows are closed every MS of that clock (default: [gateway] "
            "tick)\n"
            "  --lp-out DIR   also flush every open window at the end and write the lines\n"
            "                 to DIR/rp_<width>.lp\n"
            "  --memory       then print heap_bytes= (malloc in use after the replay, beyond\n"
            "                 before it) and the bytes windows, rules and dedup account for\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"config", required_argument, NULL, 'c'}, {"corpus", required_argument, NULL, 'f'},
        {"lp-out", required_argument, NULL, 'o'}, {"delay-ms", required_argument, NULL, 'd'},
        {"memory", no_argument, NULL, 'm'},       {"tick-ms", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *path = NULL, *lp_dir = NULL;
    struct replay r;
    struct gw_config cfg;
    struct gw_registry *reg = NULL;
    struct bench_corpus corpus;
    int c, rc = 70, memory = 0;
    struct mallinfo2 heap0;

    memset(&r, 0, sizeof r);
    r.delay_ms = 50;
    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            path = optarg;
            break;
        case 'o':
            lp_dir = optarg;
            break;
        case 'd':
            if (cli_uint_arg("--delay-ms", optarg, 0, 3600000, &r.delay_ms))
                return EX_USAGE;
            break;
        case 't':
            if (cli_uint_arg("--tick-ms", optarg, 1, 3600000, &r.tick_ms))
                return EX_USAGE;
            break;
        case 'm':
            memory = 1;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (!config || !path || optind != argc)
        bench_usage_exit(usage, 64);
    if (load(config, &cfg, &reg) != 0)
        return 78;
    if (bench_corpus_load(path, &corpus) != 0) {
        rc = 66;
        goto out;
    }
    if (!r.tick_ms)
        r.tick_ms = cfg.tick_ms;
    if (build(&cfg, reg, &r) != 0 || (lp_dir && open_outputs(&cfg, lp_dir, &r) != 0))
        goto out;

    heap0 = mallinfo2();
    replay_frames(&r, &corpus);
    if (memory)
        print_memory(&r, &heap0);
    uint64_t measured_lines = r.lines;
    if (lp_dir)
        gw_pipeline_flush(r.pipe, emit, &r);
    for (unsigned i = 0; i < cfg.n_widths; i++)
        lp_flush(&r, i);
    printf("frames=%zu accepted=%" PRIu64 " rejected=%" PRIu64 " lines=%" PRIu64
           " lines_total=%" PRIu64 " alerts=%" PRIu64 "\n",
           corpus.n, r.accepted, r.rejected, measured_lines, r.lines, r.alerts);
    rc = r.rejected == 0 ? 0 : 1;
out:
    for (unsigned i = 0; i < GW_WINDOW_MAX_LEVELS; i++)
        if (r.out[i] && fclose(r.out[i]) != 0)
            rc = 74;
    gw_pipeline_free(r.pipe);
    free(r.lp_store);
    gw_registry_free(reg);
    bench_corpus_free(&corpus);
    gw_config_fini(&cfg);
    return rc;
}
