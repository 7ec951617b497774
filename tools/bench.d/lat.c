/*
 * lat.c -- bench_lat: alert latency beside the broker's own latency, in one
 * run, from one process so that every timestamp comes from one clock.
 *
 * Three MQTT connections: a publisher that sends the corpus at a fixed rate,
 * a null subscriber on the data topics (persistent session, QoS 1) that notes
 * when each frame arrives, and an alert subscriber on city/v1/alerts/#. The
 * corpus marks the frames that trip the gateway's rule; the gateway answers
 * each with a "warn" alert naming the node and the frame's timestamp, which
 * identifies the frame. A frame arriving at the null subscriber is found by
 * its payload (bench_index).
 *
 * Prints, in microseconds: publish-to-null-subscriber p50/p99/max over every
 * frame, and publish-to-alert p50/p99/max over every trip frame. With
 * --trips FILE it also writes each trip frame's node and publish time on the
 * wall clock, for a reader on another clock of the same machine (the live
 * page's DOM, tools/bench.d/page.js).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "corpus.h"
#include "mq.h"

#define PROG "bench_lat"

struct lat {
    const struct bench_corpus *corpus;
    _Atomic uint64_t *pub_ns;    /* per frame: when it was handed to Paho */
    _Atomic uint64_t *arrive_ns; /* per frame: when the null subscriber got it */
    _Atomic uint64_t *alert_ns;  /* per frame: when its alert arrived (trip frames) */
    struct bench_index index;
    struct noted_alert {
        char node[72];
        uint64_t ts_ms, arrived_ns;
    } * alert; /* as they arrived, cap_alerts at most */
    size_t cap_alerts;
    _Atomic uint64_t arrived, alerts, unmatched;
};

static void on_data(void *ctx, const char *topic, const void *payload, size_t len, int retained)
{
    struct lat *l = ctx;
    uint64_t now = bench_mono_ns();
    (void)topic;
    (void)retained;
    long i = bench_index_find(&l->index, payload, len);
    if (i < 0) {
        l->unmatched++;
        return;
    }
    atomic_store(&l->arrive_ns[i], now);
    l->arrived++;
}

/* A JSON member "key":... of the alert text (flat object, as the gateway writes it). */
static const char *member(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? p + strlen(pat) : NULL;
}

/* Finds the trip frame of node with timestamp ts (the alert names both), or -1. */
static long trip_frame(const struct lat *l, const char *node, uint64_t ts)
{
    char want[96];
    snprintf(want, sizeof want, "/%s/data", node);
    size_t wl = strlen(want);
    for (size_t i = 0; i < l->corpus->n; i++) {
        const struct bench_frame *f = &l->corpus->frames[i];
        if (!(f->flags & BENCH_FRAME_TRIP) || f->ts_ms != ts)
            continue;
        size_t tl = strlen(f->topic);
        if (tl > wl && strcmp(f->topic + tl - wl, want) == 0)
            return (long)i;
    }
    return -1;
}

/*
 * Paho's thread: notes the alert's node, timestamp and arrival only, so
 * that the next alert is not kept waiting; they are matched after the run.
 */
static void on_alert(void *ctx, const char *topic, const void *payload, size_t len, int retained)
{
    struct lat *l = ctx;
    uint64_t now = bench_mono_ns();
    char text[1024];
    (void)topic;
    if (retained || len >= sizeof text)
        return; /* a state kept from before this run */
    memcpy(text, payload, len);
    text[len] = '\0';
    const char *state = member(text, "state"), *n = member(text, "node"),
               *ts = member(text, "timestamp_ms");
    if (!state || strncmp(state, "\"warn\"", 6) != 0 || !n || !ts || *n != '"')
        return;
    size_t k = strcspn(n + 1, "\""), i = atomic_fetch_add(&l->alerts, 1);
    if (i >= l->cap_alerts || k >= sizeof l->alert[i].node)
        return;
    memcpy(l->alert[i].node, n + 1, k);
    l->alert[i].node[k] = '\0';
    l->alert[i].ts_ms = strtoull(ts, NULL, 10);
    l->alert[i].arrived_ns = now;
}

/* Matches the alerts noted during the run with their trip frames; returns how many matched. */
static size_t match_alerts(struct lat *l)
{
    size_t n = atomic_load(&l->alerts), matched = 0;
    for (size_t i = 0; i < n && i < l->cap_alerts; i++) {
        long f = trip_frame(l, l->alert[i].node, l->alert[i].ts_ms);
        if (f < 0) {
            l->unmatched++;
        } else if (!atomic_load(&l->alert_ns[f])) {
            atomic_store(&l->alert_ns[f], l->alert[i].arrived_ns);
            matched++;
        }
    }
    return matched;
}

/*
 * Writes "<node> <publish ms since the epoch>" a line for each trip frame to
 * path: monotonic publish times moved onto the wall clock by one offset read
 * now (the run is seconds long: no step of the wall clock is expected).
 */
static int write_trips(const struct lat *l, const char *path)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    double offset_ms =
        ((double)wall.tv_sec * 1e9 + (double)wall.tv_nsec - (double)bench_mono_ns()) / 1e6;
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    for (size_t i = 0; i < l->corpus->n; i++) {
        const struct bench_frame *f = &l->corpus->frames[i];
        const char *node = strrchr(f->topic, '/');
        if (!(f->flags & BENCH_FRAME_TRIP) || !node)
            continue;
        /* city/v1/<site>/<node>/data: the node is the part before the last slash. */
        const char *end = node, *start = node;
        while (start > f->topic && start[-1] != '/')
            start--;
        fprintf(out, "%.*s %.3f\n", (int)(end - start), start,
                (double)atomic_load(&l->pub_ns[i]) / 1e6 + offset_ms);
    }
    return fclose(out) == 0 ? 0 : -1;
}

/* Prints name_p50_us= name_p99_us= name_max_us= name_n= of the latencies in v[0..n). */
static void report(const char *name, uint64_t *v, size_t n)
{
    bench_sort_u64(v, n);
    printf(" %s_p50_us=%.1f %s_p99_us=%.1f %s_max_us=%.1f %s_n=%zu", name,
           (double)bench_quantile(v, n, 0.50) / 1e3, name, (double)bench_quantile(v, n, 0.99) / 1e3,
           name, n ? (double)v[n - 1] / 1e3 : 0.0, name, n);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: " PROG " --url URL --corpus FILE --rate FPS [--wait-s S] [--trips FILE]\n"
                 "Publishes FILE at FPS frames/s (QoS 1) with a null subscriber and an alert\n"
                 "subscriber connected, then prints the publish-to-subscriber and the\n"
                 "publish-to-alert latencies (p50, p99, max, in microseconds). --trips:\n"
                 "writes each trip frame's node and publish time (ms since the epoch).\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"corpus", required_argument, NULL, 'c'},
        {"rate", required_argument, NULL, 'r'},
        {"wait-s", required_argument, NULL, 'w'},
        {"trips", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const data_filter[] = {"city/v1/+/+/data"};
    static const char *const alert_filter[] = {"city/v1/alerts/#"};
    const char *url = NULL, *path = NULL, *trips = NULL;
    double rate = 0;
    uint64_t wait_s = 10;
    struct bench_corpus corpus;
    struct lat l;
    int c, rc = 1;

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'c':
            path = optarg;
            break;
        case 'r':
            if (cli_real_arg("--rate", optarg, 1, 1e7, &rate))
                return EX_USAGE;
            break;
        case 'w':
            if (cli_uint_arg("--wait-s", optarg, 1, 3600, &wait_s))
                return EX_USAGE;
            break;
        case 't':
            trips = optarg;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (!url || !path || rate <= 0 || optind != argc)
        bench_usage_exit(usage, 64);
    if (bench_corpus_load(path, &corpus) != 0)
        return 66;
    memset(&l, 0, sizeof l);
    l.corpus = &corpus;
    l.pub_ns = calloc(corpus.n + 1, sizeof *l.pub_ns);
    l.arrive_ns = calloc(corpus.n + 1, sizeof *l.arrive_ns);
    l.alert_ns = calloc(corpus.n + 1, sizeof *l.alert_ns);
    for (size_t i = 0; i < corpus.n; i++)
        l.cap_alerts += 2 * ((corpus.frames[i].flags & BENCH_FRAME_TRIP) != 0);
    l.alert = calloc(l.cap_alerts + 1, sizeof *l.alert);
    uint64_t *v = calloc(corpus.n + 1, sizeof *v);
    size_t n_trips = 0;
    if (!l.pub_ns || !l.arrive_ns || !l.alert_ns || !l.alert || !v ||
        bench_index_build(&l.index, &corpus) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        return 70;
    }
    for (size_t i = 0; i < corpus.n; i++)
        n_trips += (corpus.frames[i].flags & BENCH_FRAME_TRIP) != 0;

    struct bench_sub *alerts =
        bench_sub_new(url, "bench-lat-alerts", alert_filter, 1, on_alert, &l);
    struct bench_sub *data = bench_sub_new(url, "bench-lat-null", data_filter, 1, on_data, &l);
    struct bench_pub *pub = bench_pub_new(url, "bench-lat-pub", 1000);
    if (!alerts || !data || !pub)
        goto out;
    uint64_t start = bench_mono_ns();
    for (size_t i = 0; i < corpus.n; i++) {
        const struct bench_frame *f = &corpus.frames[i];
        uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        atomic_store(&l.pub_ns[i], bench_mono_ns());
        bench_pub_send(pub, f->topic, f->payload, f->payload_len);
    }
    bench_pub_wait_all(pub, 60000);
    uint64_t end = bench_mono_ns() + wait_s * 1000000000u;
    while ((l.arrived < corpus.n || l.alerts < n_trips) && bench_mono_ns() < end)
        bench_sleep_ms(5);

    size_t matched = match_alerts(&l), n = 0;
    for (size_t i = 0; i < corpus.n; i++)
        if (atomic_load(&l.arrive_ns[i]))
            v[n++] = atomic_load(&l.arrive_ns[i]) - atomic_load(&l.pub_ns[i]);
    printf("frames=%zu arrived=%zu trips=%zu alerts=%zu unmatched=%" PRIu64 " rate_fps=%.0f",
           corpus.n, n, n_trips, matched, (uint64_t)l.unmatched, rate);
    report("broker", v, n);
    n = 0;
    for (size_t i = 0; i < corpus.n; i++)
        if (atomic_load(&l.alert_ns[i]))
            v[n++] = atomic_load(&l.alert_ns[i]) - atomic_load(&l.pub_ns[i]);
    report("alert", v, n);
    printf("\n");
    rc = l.arrived == corpus.n && matched == n_trips ? 0 : 1;
    if (trips && write_trips(&l, trips) != 0) {
        fprintf(stderr, PROG ": cannot write %s\n", trips);
        rc = 1;
    }
out:
    bench_pub_free(pub);
    bench_sub_free(data);
    bench_sub_free(alerts);
    bench_session_clear(url, "bench-lat-null");
    bench_session_clear(url, "bench-lat-alerts");
    free(v);
    free(l.alert);
    bench_index_free(&l.index);
    free((void *)l.pub_ns);
    free((void *)l.arrive_ns);
    free((void *)l.alert_ns);
    bench_corpus_free(&corpus);
    return rc;
}
