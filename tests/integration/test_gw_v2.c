/*
 * test_gw_v2.c -- the second store and the second write API: citygate with
 * store.api = influx-v2 writes to VictoriaMetrics (/api/v2/write, org and
 * bucket), and every base window read back through VictoriaMetrics' export
 * API holds exactly the frames published into it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cu.h"
#include "gwload.h"

static const char *citygate;

struct body {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct body *b = ctx;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* Counts per (node, window) from VictoriaMetrics; returns how many differ from the load's. */
static unsigned compare(const struct gwl *l)
{
    static unsigned got[GWL_MAX_NODES][GWL_MAX_WINDOWS];
    char url[512];
    struct body b = {NULL, 0};
    unsigned diff = 0;
    CURL *c = curl_easy_init();
    char *match =
        curl_easy_escape(c, "{__name__=\"traffic_count\",quantity=\"speed\",window=\"2s\"}", 0);

    memset(got, 0, sizeof got);
    snprintf(url, sizeof url, "%s/internal/force_flush", cu_env("CITYGATE_VM_URL"));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_perform(c);
    b.len = 0;
    snprintf(url, sizeof url, "%s/api/v1/export?match[]=%s", cu_env("CITYGATE_VM_URL"), match);
    curl_free(match);
    curl_easy_setopt(c, CURLOPT_URL, url);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    for (char *line = rc == CURLE_OK ? b.data : NULL; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_t *j = json_loads(line, 0, NULL);
        const char *node = json_string_value(json_object_get(json_object_get(j, "metric"), "node"));
        json_t *ts = json_object_get(j, "timestamps"), *vs = json_object_get(j, "values");
        long n = node ? strtol(node + 5, NULL, 10) : -1;
        for (size_t i = 0; n >= 0 && n < l->nodes && i < json_array_size(ts); i++) {
            uint64_t t = (uint64_t)json_integer_value(json_array_get(ts, i));
            size_t w = (t - l->t0) / GWL_WINDOW_MS;
            if (t >= l->t0 && w < GWL_MAX_WINDOWS)
                got[n][w] += (unsigned)json_number_value(json_array_get(vs, i));
        }
        json_decref(j);
        line = next;
    }
    free(b.data);
    for (int n = 0; n < l->nodes; n++)
        for (size_t w = 0; w < GWL_MAX_WINDOWS; w++)
            diff += got[n][w] != l->expected[n][w];
    return diff;
}

static void test_influx_v2_api_to_victoriametrics(void)
{
    struct gwt t;
    static struct gwl l;
    char extra[512];
    unsigned diff = 1;

    snprintf(extra, sizeof extra,
             GWL_CONFIG "[store]\napi = influx-v2\nurl = %s\norg = city\nbucket = citygate\n"
                        "token = not-checked-by-victoriametrics\n",
             cu_env("CITYGATE_VM_URL"));
    gwt_init(&t, citygate, 5, 1, extra);
    gwt_start(&t);
    gwl_init(&l, &t, 5);
    gwl_run(&l, 100, 6000);
    gwt_publish_wait(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", (double)l.frames, 20000),
                    (double)l.frames);
    for (uint64_t end = gwt_now_ms() + 30000; gwt_now_ms() < end && diff; gwt_pause_ms(250))
        diff = compare(&l);
    CU_ASSERT_EQUAL(diff, 0);
    static const char *const classes[] = {"connect", "timeout", "4xx", "5xx"};
    for (size_t c = 0; c < 4; c++) {
        char sample[80];
        snprintf(sample, sizeof sample, "citygate_store_errors_total{class=\"%s\"}", classes[c]);
        CU_ASSERT_EQUAL(gwt_metric(&t, sample), 0);
    }
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"influx v2 write API into VictoriaMetrics", test_influx_v2_api_to_victoriametrics},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway v2 API", tests, &citygate);
}
