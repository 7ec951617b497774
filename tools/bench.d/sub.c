/*
 * sub.c -- bench_sub: the null subscriber of the throughput pair. Paho C,
 * persistent session, QoS 1: it counts each message and acknowledges it,
 * nothing else, and prints when the first and the Nth arrived, and the CPU
 * time it used for the messages after the mark.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "cli.h"
#include "corpus.h"
#include "mq.h"

#define PROG "bench_sub"

struct counter {
    _Atomic uint64_t n;
    uint64_t want, mark;
    int ignore_retained;
    _Atomic uint64_t first_ns, mark_ns, last_ns;
    _Atomic uint64_t mark_cpu_us, last_cpu_us; /* all threads, user + system */
};

static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void on_msg(void *ctx, const char *topic, const void *payload, size_t len, int retained)
{
    struct counter *c = ctx;
    (void)topic;
    (void)payload;
    (void)len;
    if (retained && c->ignore_retained)
        return;
    uint64_t n = atomic_fetch_add(&c->n, 1) + 1;
    if (n == 1)
        atomic_store(&c->first_ns, bench_mono_ns());
    if (n == c->mark) {
        atomic_store(&c->mark_cpu_us, cpu_us());
        atomic_store(&c->mark_ns, bench_mono_ns());
    }
    if (n == c->want) {
        atomic_store(&c->last_cpu_us, cpu_us());
        atomic_store(&c->last_ns, bench_mono_ns());
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --url URL --count N [--client-id ID] [--filter F] [--ready FILE]\n"
            "       " PROG " --url URL --clear [--client-id ID]\n"
            "Subscribes to F (default city/v1/+/+/data) at QoS 1 with a persistent session,\n"
            "creates FILE once subscribed, counts N messages and prints first_ns= last_ns=\n"
            "count= (CLOCK_MONOTONIC) and cpu_us= (its CPU time from the mark, or the start,\n"
            "to the Nth), then ends the session. --clear only ends the session.\n"
            "  --mark K --mark-file FILE  also create FILE once K messages arrived\n"
            "  --ignore-retained do not count retained messages (kept from earlier runs)\n"
            "  --timeout-s S     give up after S seconds (default 600; exit 1)\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"client-id", required_argument, NULL, 'i'},
        {"filter", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {"ready", required_argument, NULL, 'r'},
        {"timeout-s", required_argument, NULL, 't'},
        {"clear", no_argument, NULL, 'C'},
        {"mark", required_argument, NULL, 'm'},
        {"mark-file", required_argument, NULL, 'M'},
        {"ignore-retained", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *id = "bench-null", *filter = "city/v1/+/+/data", *ready = NULL;
    const char *mark_file = NULL;
    uint64_t timeout_s = 600;
    int clear = 0, c;
    static struct counter count;

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'f':
            filter = optarg;
            break;
        case 'n':
            if (cli_uint_arg("--count", optarg, 1, UINT32_MAX, &count.want))
                return EX_USAGE;
            break;
        case 'r':
            ready = optarg;
            break;
        case 't':
            if (cli_uint_arg("--timeout-s", optarg, 1, 86400, &timeout_s))
                return EX_USAGE;
            break;
        case 'C':
            clear = 1;
            break;
        case 'm':
            if (cli_uint_arg("--mark", optarg, 1, UINT32_MAX, &count.mark))
                return EX_USAGE;
            break;
        case 'M':
            mark_file = optarg;
            break;
        case 'R':
            count.ignore_retained = 1;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (!url || optind != argc || (!clear && count.want == 0))
        bench_usage_exit(usage, 64);
    if (clear)
        return bench_session_clear(url, id) == 0 ? 0 : 69;

    struct bench_sub *s = bench_sub_new(url, id, &filter, 1, on_msg, &count);
    if (!s)
        return 69;
    bench_touch(ready);
    uint64_t end = bench_mono_ns() + timeout_s * 1000000000u;
    while (atomic_load(&count.last_ns) == 0 && bench_mono_ns() < end) {
        if (mark_file && atomic_load(&count.mark_ns)) {
            bench_touch(mark_file);
            mark_file = NULL;
        }
        bench_sleep_ms(2);
    }
    bench_sub_free(s);
    bench_session_clear(url, id);
    printf("first_ns=%" PRIu64 " last_ns=%" PRIu64 " count=%" PRIu64 " cpu_us=%" PRIu64 "\n",
           atomic_load(&count.first_ns), atomic_load(&count.last_ns), atomic_load(&count.n),
           atomic_load(&count.last_cpu_us) - atomic_load(&count.mark_cpu_us));
    return atomic_load(&count.last_ns) ? 0 : 1;
}
