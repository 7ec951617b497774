/*
 * pub.c -- bench_pub: publishes a corpus at QoS 1, as fast as the window of
 * unacknowledged messages allows or at a fixed rate, and prints when it
 * started and when the broker acknowledged the last frame. The same program
 * and settings feed both receivers of a throughput pair.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "corpus.h"
#include "mq.h"

#define PROG "bench_pub"

static void sleep_until_ns(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --url URL --corpus FILE [--client-id ID] [--window N] [--rate FPS]\n"
            "Publishes every frame of FILE at QoS 1 (window: unacknowledged at most, default "
            "1000;\nrate: frames per second, default 0 = as fast as possible), then prints\n"
            "start_ns= end_ns= sent= acked= failed= (CLOCK_MONOTONIC; end = last PUBACK).\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"corpus", required_argument, NULL, 'c'},
        {"client-id", required_argument, NULL, 'i'},
        {"window", required_argument, NULL, 'w'},
        {"rate", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *path = NULL, *id = "bench-pub";
    uint64_t window = 1000;
    double rate = 0;
    struct bench_corpus corpus;
    int c;

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'c':
            path = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'w':
            if (cli_uint_arg("--window", optarg, 1, 65535, &window))
                return EX_USAGE;
            break;
        case 'r':
            if (cli_real_arg("--rate", optarg, 0, 1e7, &rate))
                return EX_USAGE;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (!url || !path || optind != argc)
        bench_usage_exit(usage, 64);
    if (bench_corpus_load(path, &corpus) != 0)
        return 66;
    struct bench_pub *p = bench_pub_new(url, id, (unsigned)window);
    if (!p) {
        bench_corpus_free(&corpus);
        return 69;
    }
    uint64_t start = bench_mono_ns();
    for (size_t i = 0; i < corpus.n; i++) {
        const struct bench_frame *f = &corpus.frames[i];
        if (rate > 0)
            sleep_until_ns(start + (uint64_t)((double)i * 1e9 / rate));
        bench_pub_send(p, f->topic, f->payload, f->payload_len);
    }
    int rc = bench_pub_wait_all(p, 120000);
    uint64_t end = bench_mono_ns(), sent, acked, failed;
    bench_pub_counts(p, &sent, &acked, &failed);
    printf("start_ns=%" PRIu64 " end_ns=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64
           " failed=%" PRIu64 "\n",
           start, end, sent, acked, failed);
    bench_pub_free(p);
    bench_corpus_free(&corpus);
    return rc == 0 && failed == 0 ? 0 : 69;
}
