/*
 * relay.c -- bench_relay: the floor under the alert latency of case 2. It
 * takes the data topics as the gateway does (Paho, persistent session, QoS 1)
 * and answers each trip frame of the corpus at once with a "warn" message on
 * city/v1/alerts/relay/<node>, at QoS 1, carrying what bench_lat reads of the
 * gateway's alert (state, node, timestamp_ms). Its messages take the same two
 * broker hops as the gateway's alerts, with no work in between: what the
 * gateway adds is the difference.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "mq.h"

#define PROG "bench_relay"

struct relay {
    struct bench_index index;
    struct bench_pub *pub;
    _Atomic uint64_t relayed;
};

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_data(void *ctx, const char *topic, const void *payload, size_t len, int retained)
{
    struct relay *r = ctx;
    char node[BENCH_TOPIC_MAX], out_topic[BENCH_TOPIC_MAX + 32], json[256];
    (void)retained;
    long i = bench_index_find(&r->index, payload, len);
    if (i < 0 || !(r->index.corpus->frames[i].flags & BENCH_FRAME_TRIP))
        return;
    /* city/v1/<site>/<node>/data */
    if (sscanf(topic, "city/v1/%*[^/]/%159[^/]/data", node) != 1)
        return;
    int n = snprintf(json, sizeof json,
                     "{\"state\":\"warn\",\"node\":\"%s\",\"timestamp_ms\":%" PRIu64 "}", node,
                     r->index.corpus->frames[i].ts_ms);
    snprintf(out_topic, sizeof out_topic, "city/v1/alerts/relay/%s", node);
    if (bench_pub_send(r->pub, out_topic, json, (size_t)n) == 0)
        r->relayed++;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: " PROG " --url URL --corpus FILE [--ready FILE]\n"
                 "Answers each trip frame of FILE arriving on city/v1/+/+/data with a \"warn\"\n"
                 "message on city/v1/alerts/relay/<node>; creates the ready FILE once\n"
                 "subscribed; on SIGTERM or SIGINT prints relayed= and ends its session.\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"corpus", required_argument, NULL, 'c'},
        {"ready", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const data_filter[] = {"city/v1/+/+/data"};
    const char *url = NULL, *path = NULL, *ready = NULL;
    struct bench_corpus corpus;
    struct relay r;
    int c, rc = 69;

    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'c':
            path = optarg;
            break;
        case 'r':
            ready = optarg;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (!url || !path || optind != argc)
        bench_usage_exit(usage, 64);
    if (bench_corpus_load(path, &corpus) != 0)
        return 66;
    memset(&r, 0, sizeof r);
    if (bench_index_build(&r.index, &corpus) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        bench_corpus_free(&corpus);
        return 70;
    }
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    r.pub = bench_pub_new(url, "bench-relay-pub", 1000);
    struct bench_sub *data =
        r.pub ? bench_sub_new(url, "bench-relay", data_filter, 1, on_data, &r) : NULL;
    if (data) {
        bench_touch(ready);
        while (!stopping)
            bench_sleep_ms(5);
        rc = 0;
    }
    bench_sub_free(data);
    bench_pub_free(r.pub);
    bench_session_clear(url, "bench-relay");
    printf("relayed=%" PRIu64 "\n", (uint64_t)r.relayed);
    bench_index_free(&r.index);
    bench_corpus_free(&corpus);
    return rc;
}
