/*
 * test_sink.c -- the store writer against a real InfluxDB (tools/services):
 * batches arrive, an outage is ridden out by retrying without loss, and a
 * batch the store refuses lands in the dead-letter file with its message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cu.h"
#include "sink.h"

static char dead_letter[256];

static struct gw_sink_config config(void)
{
    struct gw_sink_config c = {0};
    c.api = GW_STORE_INFLUX_V1;
    c.url = cu_env("CITYGATE_INFLUX_URL");
    c.database = "sinktest";
    c.gzip = 1;
    c.timeout_ms = 2000;
    c.batch_lines = 100;
    c.batch_interval_ms = 100;
    c.max_pending_bytes = 64 << 20;
    c.retry_min_ms = 50;
    c.retry_max_ms = 500;
    c.dead_letter_path = dead_letter;
    c.retention_policies = "base=30d,rollup=104w,hourly=INF";
    return c;
}

struct reply {
    char data[8192];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t take = size * n, room = sizeof r->data - 1 - r->len;
    memcpy(r->data + r->len, p, take < room ? take : room);
    r->len += take < room ? take : room;
    r->data[r->len] = '\0';
    return size * n;
}

/* Runs q and returns the first value of the first row (a count), or -1. */
static long query_count(const char *q)
{
    char url[1024];
    struct reply r = {.len = 0};
    CURL *c = curl_easy_init();
    char *e = curl_easy_escape(c, q, 0);
    snprintf(url, sizeof url, "%s/query?db=sinktest&q=%s", cu_env("CITYGATE_INFLUX_URL"), e);
    curl_free(e);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        return -1;
    const char *v = strstr(r.data, "\"values\":[[");
    if (!v)
        return 0;
    v = strchr(v + 11, ',');
    return v ? strtol(v + 1, NULL, 10) : -1;
}

static void push_points(struct gw_sink *s, const char *rp, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        char line[128];
        int len = snprintf(line, sizeof line, "t,node=n%d v=%di %lld\n", i % 7, i,
                           1795000000000LL + i * 1000LL);
        CU_ASSERT_FATAL(gw_sink_push(s, rp, line, (size_t)len, 1) == 0);
    }
}

static void test_writes_arrive_once(void)
{
    struct gw_sink_config c = config();
    struct gw_sink *s = NULL;
    char err[256];
    CU_ASSERT_FATAL(gw_sink_new(&c, &s, err, sizeof err) == 0);
    push_points(s, "base", 0, 1000);
    CU_ASSERT_FATAL(gw_sink_drain(s, 30000) == 0);
    push_points(s, "base", 0, 1000); /* the same points again: still 1000 */
    CU_ASSERT_FATAL(gw_sink_drain(s, 30000) == 0);
    CU_ASSERT_EQUAL(query_count("SELECT count(v) FROM base.t"), 1000);
    struct gw_sink_stats st;
    gw_sink_stats(s, &st);
    CU_ASSERT(st.lines_written == 2000 && st.lines_dropped == 0 && st.lines_pending == 0);
    gw_sink_free(s);
}

static int run(const char *what)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s influx", cu_env("CITYGATE_SERVICES"), what);
    return system(cmd);
}

static void test_outage_is_retried_without_loss(void)
{
    struct gw_sink_config c = config();
    struct gw_sink *s = NULL;
    struct gw_sink_stats st;
    char err[256];
    CU_ASSERT_FATAL(gw_sink_new(&c, &s, err, sizeof err) == 0);
    /* One point through first: the database exists and the writer is past its start. */
    push_points(s, "rollup", 1000, 1);
    CU_ASSERT_FATAL(gw_sink_drain(s, 30000) == 0);
    CU_ASSERT_FATAL(run("stop") == 0);
    push_points(s, "rollup", 0, 500);
    /* Wait until the writer has failed at least three times against the stopped store. */
    for (time_t end = time(NULL) + 30; time(NULL) < end;) {
        gw_sink_stats(s, &st);
        if (st.retries >= 3)
            break;
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    gw_sink_stats(s, &st);
    CU_ASSERT_FATAL(st.retries >= 3);
    CU_ASSERT(st.lines_pending == 500);
    CU_ASSERT(st.lines_written == 1);
    CU_ASSERT_FATAL(run("start") == 0);
    CU_ASSERT_FATAL(gw_sink_drain(s, 30000) == 0);
    CU_ASSERT_EQUAL(query_count("SELECT count(v) FROM rollup.t"), 501);
    gw_sink_stats(s, &st);
    CU_ASSERT(st.lines_dropped == 0 && st.lines_dead_lettered == 0);
    gw_sink_free(s);
}

static void test_refused_batch_is_dead_lettered(void)
{
    struct gw_sink_config c = config();
    struct gw_sink *s = NULL;
    struct gw_sink_stats st;
    char err[256], text[4096] = "";
    const char *bad = "t,node=x v= 1795000000000\n";
    CU_ASSERT_FATAL(gw_sink_new(&c, &s, err, sizeof err) == 0);
    CU_ASSERT_FATAL(gw_sink_push(s, "base", bad, strlen(bad), 1) == 0);
    CU_ASSERT_FATAL(gw_sink_drain(s, 30000) == 0);
    gw_sink_stats(s, &st);
    CU_ASSERT(st.lines_dead_lettered == 1 && st.retries == 0);
    FILE *f = fopen(dead_letter, "r");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    CU_ASSERT(strstr(text, "HTTP 400") != NULL);
    CU_ASSERT(strstr(text, bad) != NULL);
    gw_sink_free(s);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"writes arrive once", test_writes_arrive_once},
        {"outage is retried without loss", test_outage_is_retried_without_loss},
        {"refused batch is dead-lettered", test_refused_batch_is_dead_lettered},
        {NULL, NULL},
    };
    snprintf(dead_letter, sizeof dead_letter, "%s/dead-letter.lp", cu_env("CITYGATE_SERVICES_DIR"));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("sink", tests);
    curl_global_cleanup();
    return rc;
}
