/*
 * citywatch -- the traffic engineer's terminal view of a running gateway:
 * every second, the flows per site from /api/v1/live and the gateway's own
 * counters from /metrics. A figure the gateway has no data for (a site
 * without vehicles has no speed) prints as an em dash, never as 0; a site
 * whose nodes are all stale says since when.
 *
 *   citywatch [--gateway URL] [--duration SECONDS] [--once]
 *
 * Exit status: 0 when the gateway accepted frames and wrote to the store
 * during the watch, 1 when it did not, 64 usage, 69 gateway unreachable.
 * When --duration ends after frames were accepted but before the store's
 * first line, the watch goes on until that line, for 60 s at most.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"

#define MAX_BODY (8u << 20)
/* How long a --duration watch goes on for the store's first line at most. */
#define WRITE_WAIT_S 60

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* GETs base + path; returns the body (caller frees) or NULL. */
static char *get(CURL *c, const char *base, const char *path)
{
    char url[512];
    struct cli_body b = {.max = MAX_BODY};
    long status = 0;
    snprintf(url, sizeof url, "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_body_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) != CURLE_OK ||
        (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 200)) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* Sum of every sample of metric name (all label sets) in a /metrics body. */
static double metric(const char *body, const char *name)
{
    double sum = 0;
    size_t n = strlen(name);
    for (const char *line = body; line && *line;) {
        const char *next = strchr(line, '\n');
        if (strncmp(line, name, n) == 0 && (line[n] == ' ' || line[n] == '{')) {
            const char *sp = strchr(line, ' ');
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
        line = next ? next + 1 : NULL;
    }
    return sum;
}

static void clock_text(long long ms, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&s, &tm)) {
        snprintf(out, cap, "-");
        return;
    }
    strftime(out, cap, "%H:%M:%S", &tm);
}

/* The text of a live figure: the number with decimals, or an em dash when it is null (absent). */
static void figure(const json_t *v, int decimals, char *out, size_t cap)
{
    if (json_is_number(v))
        snprintf(out, cap, "%.*f", decimals, json_number_value(v));
    else
        snprintf(out, cap, "\u2014");
}

/* printf's field width for text to take width columns (an em dash is 3 bytes, 1 column). */
static int pad(const char *text, int width)
{
    return strcmp(text, "\u2014") == 0 ? width + 2 : width;
}

struct totals {
    double accepted, refused, written, alerts;
};

static int show(CURL *c, const char *base, struct totals *t, struct totals *prev)
{
    char *metrics = get(c, base, "/metrics");
    char *live = get(c, base, "/api/v1/live");
    json_t *root = live ? json_loads(live, 0, NULL) : NULL;
    char now[16], start[16];

    if (!metrics || !root) {
        free(metrics);
        free(live);
        json_decref(root);
        return -1;
    }
    t->accepted = metric(metrics, "citygate_frames_accepted_total");
    t->refused = metric(metrics, "citygate_frames_rejected_total");
    t->written = metric(metrics, "citygate_store_lines_written_total");
    t->alerts = metric(metrics, "citygate_alerts_total");
    clock_text((long long)json_integer_value(json_object_get(root, "now_ms")), now, sizeof now);
    printf("\n%s UTC  frames accepted %.0f (+%.0f)  refused %.0f  store lines %.0f  alerts %.0f\n",
           now, t->accepted, t->accepted - prev->accepted, t->refused, t->written, t->alerts);
    printf("%-16s %5s %11s %10s %9s %6s %9s  %s\n", "site", "nodes", "flow veh/h", "speed km/h",
           "v85 km/h", "occ %", "window", "state");
    json_t *sites = json_object_get(root, "sites");
    for (size_t i = 0; i < json_array_size(sites); i++) {
        json_t *s = json_array_get(sites, i);
        char flow[16], speed[16], v85[16], occ[16], state[48] = "";
        clock_text((long long)json_integer_value(json_object_get(s, "window_start_ms")), start,
                   sizeof start);
        figure(json_object_get(s, "flow_vph"), 0, flow, sizeof flow);
        figure(json_object_get(s, "speed_mean_kmh"), 1, speed, sizeof speed);
        figure(json_object_get(s, "v85_kmh"), 1, v85, sizeof v85);
        figure(json_object_get(s, "occupancy_pct"), 1, occ, sizeof occ);
        if (json_is_true(json_object_get(s, "stale"))) {
            char since[16];
            clock_text((long long)json_integer_value(json_object_get(s, "stale_since_ms")), since,
                       sizeof since);
            snprintf(state, sizeof state, "stale since %s", since);
        }
        /* Absent figures print as an em dash, padded by display width, not bytes. */
        printf("%-16.16s %2lld/%-2lld %*s %*s %*s %*s %9s  %s\n",
               json_string_value(json_object_get(s, "site")),
               (long long)json_integer_value(json_object_get(s, "nodes_in_window")),
               (long long)json_integer_value(json_object_get(s, "nodes")), pad(flow, 11), flow,
               pad(speed, 10), speed, pad(v85, 9), v85, pad(occ, 6), occ, start, state);
    }
    if (json_array_size(sites) == 0)
        printf("(no window closed yet)\n");
    fflush(stdout);
    json_decref(root);
    free(metrics);
    free(live);
    return 0;
}

/*
 * Whether a watch whose --duration ended over_s seconds ago goes on: the
 * gateway took frames but has not written a line of them yet. Its first line
 * trails its first frame by a base window, the grace and a batch interval, so
 * a watch shorter than that would race it; the watch waits for that line
 * instead, a table a second, for WRITE_WAIT_S at most.
 */
static int awaiting_write(const struct totals *t, long over_s)
{
    return t->accepted > 0 && t->written == 0 && over_s < WRITE_WAIT_S;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: citywatch [--gateway URL] [--duration SECONDS] [--once] [--version]\n"
            "  --gateway URL      the gateway's HTTP endpoint (default http://127.0.0.1:9100)\n"
            "  --duration SECONDS stop after this long, or once the store has its first\n"
            "                     line if that takes longer, %d s more at most\n"
            "                     (default: until Ctrl-C)\n"
            "  --once             print one table and exit\n"
            "  --version          print the version and exit\n",
            WRITE_WAIT_S);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"gateway", required_argument, NULL, 'g'},
        {"duration", required_argument, NULL, 'd'},
        {"once", no_argument, NULL, 'o'},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    const char *base = "http://127.0.0.1:9100";
    long duration = 0;
    int once = 0, c, failures = 0;
    struct totals t = {0}, prev = {0}, first = {-1, 0, 0, 0};
    uint64_t seconds;

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'g':
            base = optarg;
            break;
        case 'd':
            if (cli_uint_arg("--duration", optarg, 0, 1000000, &seconds))
                return EX_USAGE;
            duration = (long)seconds;
            break;
        case 'o':
            once = 1;
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
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    struct timespec start_ts, now_ts;
    clock_gettime(CLOCK_MONOTONIC, &start_ts);
    for (long tick = 0; !stop; tick++) {
        if (show(curl, base, &t, &prev) != 0) {
            if (++failures == 5) {
                fprintf(stderr, "citywatch: %s does not answer\n", base);
                break;
            }
        } else {
            failures = 0;
            if (first.accepted < 0)
                first = t;
            prev = t;
        }
        clock_gettime(CLOCK_MONOTONIC, &now_ts);
        long elapsed = (long)(now_ts.tv_sec - start_ts.tv_sec);
        if (once || (duration && elapsed >= duration && !awaiting_write(&t, elapsed - duration)))
            break;
        struct timespec until = {start_ts.tv_sec + tick + 1, start_ts.tv_nsec};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    }
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    if (first.accepted < 0) {
        cli_error("no answer from %s", base);
        return EX_UNAVAILABLE;
    }
    return t.accepted > 0 && t.written > 0 ? 0 : 1;
}
