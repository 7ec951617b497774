/*
 * poll.c -- bench_poll: reads samples of a gateway's /metrics, once or until
 * one reaches a bound, over one kept-alive HTTP connection (libcurl), so
 * that polling every few milliseconds costs the machine little.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "corpus.h"

#define PROG "bench_poll"
#define MAX_GET 16
#define MAX_BODY_BYTES (64u << 20) /* a /metrics answer is far smaller */

/* The value of sample name in the exposition text, or -1 when absent. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -1;
}

static int fetch(CURL *curl, struct cli_body *b)
{
    long status = 0;
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
    if (curl_easy_perform(curl) != CURLE_OK)
        return -1;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return status == 200 && b->data ? 0 : -1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: " PROG " --url URL --metric NAME (--ge V | --le V) [--interval-ms MS]\n"
                 "       " PROG " --url URL --get NAME [--get NAME]...\n"
                 "Polls the /metrics URL until sample NAME is >= or <= V and prints t_ns= (the\n"
                 "CLOCK_MONOTONIC time of the answer that met it), value= and start_ns= (when\n"
                 "polling began); exit 1 after\n"
                 "--timeout-s (default 600). With --get, prints NAME=VALUE once for each.\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"metric", required_argument, NULL, 'm'},
        {"ge", required_argument, NULL, 'g'},
        {"le", required_argument, NULL, 'l'},
        {"interval-ms", required_argument, NULL, 'i'},
        {"timeout-s", required_argument, NULL, 't'},
        {"get", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *metric = NULL, *get[MAX_GET];
    double bound = 0;
    int dir = 0, n_get = 0, c, rc = 1;
    uint64_t interval_ms = 10, timeout_s = 600;
    struct cli_body b = {.max = MAX_BODY_BYTES};

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'm':
            metric = optarg;
            break;
        case 'g':
        case 'l':
            if (cli_real_arg(c == 'g' ? "--ge" : "--le", optarg, -1e18, 1e18, &bound))
                return EX_USAGE;
            dir = c == 'g' ? 1 : -1;
            break;
        case 'i':
            if (cli_uint_arg("--interval-ms", optarg, 1, 60000, &interval_ms))
                return EX_USAGE;
            break;
        case 't':
            if (cli_uint_arg("--timeout-s", optarg, 1, 86400, &timeout_s))
                return EX_USAGE;
            break;
        case 'G':
            if (n_get == MAX_GET) {
                fprintf(stderr, PROG ": at most %d --get\n", MAX_GET);
                return 64;
            }
            get[n_get++] = optarg;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (!url || optind != argc || (n_get == 0 && (!metric || dir == 0)))
        bench_usage_exit(usage, 64);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cli_body_append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    if (n_get > 0) {
        if (fetch(curl, &b) == 0) {
            for (int i = 0; i < n_get; i++)
                printf("%s%s=%.17g", i ? " " : "", get[i], sample(b.data, get[i]));
            printf("\n");
            rc = 0;
        }
        goto out;
    }
    uint64_t start = bench_mono_ns(), end = start + timeout_s * 1000000000u;
    double v = -1;
    for (;;) {
        uint64_t t = bench_mono_ns();
        if (fetch(curl, &b) == 0) {
            v = sample(b.data, metric);
            t = bench_mono_ns();
            if (v >= 0 && (dir > 0 ? v >= bound : v <= bound)) {
                printf("t_ns=%" PRIu64 " value=%.17g start_ns=%" PRIu64 "\n", t, v, start);
                rc = 0;
                break;
            }
        }
        if (t >= end) {
            printf("t_ns=0 value=%.17g\n", v);
            break;
        }
        bench_sleep_ms((unsigned)interval_ms);
    }
out:
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    free(b.data);
    return rc;
}
