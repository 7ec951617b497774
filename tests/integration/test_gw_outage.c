/*
 * test_gw_outage.c -- InfluxDB stopped for 60 s under steady load, then
 * started again. The outage is visible: /readyz turns 503 naming the store
 * within 5 s, a log line with time, level and event says why, the connect
 * error counter rises; and it all turns back after the store returns.
 * Afterwards every window is in the store exactly once with the right
 * count, the journal is drained (a snapshot covers everything, so a restart
 * would replay nothing), and nothing was counted as dropped.
 */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cu.h"
#include "gwload.h"

static const char *citygate;

static void services(const char *what)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' %s influx", cu_env("CITYGATE_SERVICES"), what);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

/* The number of lines of the gateway's log that match the extended regex re. */
static int log_lines_matching(const struct gwt *t, const char *re)
{
    regex_t rx;
    char line[2048];
    int n = 0;
    CU_ASSERT_FATAL(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) == 0);
    FILE *f = fopen(t->log, "r");
    CU_ASSERT_FATAL(f != NULL);
    while (fgets(line, sizeof line, f))
        n += regexec(&rx, line, 0, NULL, 0) == 0;
    fclose(f);
    regfree(&rx);
    return n;
}

/* /readyz's status now; *store_failing set when its body names the store as the reason. */
static int readyz(const struct gwt *t, int *store_failing)
{
    char *body = NULL;
    int status = gwt_http(t, "/readyz", &body);
    *store_failing = body && strstr(body, "{\"name\":\"store\",\"ok\":false,\"reason\":\"") &&
                     strstr(body, "connect") != NULL;
    free(body);
    return status;
}

#define STORE_FAILED_LINE                                                                          \
    "^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z warn "        \
    "store_write_failed: "
#define CONNECT_ERRORS "citygate_store_errors_total{class=\"connect\"}"

static void test_store_outage(void)
{
    struct gwt t;
    static struct gwl l;

    gwt_init(&t, citygate, 10, 2, GWL_CONFIG "[journal]\nsegment_bytes = 64KiB\n");
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    gwl_run(&l, 100, 5000);
    int failing = 0;
    CU_ASSERT_EQUAL(readyz(&t, &failing), 200);
    CU_ASSERT_EQUAL(gwt_metric(&t, CONNECT_ERRORS), 0);
    CU_ASSERT_EQUAL(log_lines_matching(&t, STORE_FAILED_LINE), 0);

    services("stop");
    uint64_t stopped = gwt_now_ms();
    double retries_before = gwt_metric(&t, "citygate_store_retries_total");
    int status = 200;
    while (gwt_now_ms() - stopped < 5000 && (status = readyz(&t, &failing)) == 200)
        gwl_run(&l, 100, 200);
    CU_ASSERT_EQUAL(status, 503);
    CU_ASSERT(failing);
    CU_ASSERT(gwt_now_ms() - stopped <= 5000 + 300);
    CU_ASSERT(gwt_metric(&t, CONNECT_ERRORS) > 0);
    /* Said once, with its time and level; repeats of the same kind are folded. */
    CU_ASSERT(log_lines_matching(&t, STORE_FAILED_LINE "rp_[0-9]+s: [0-9]+ lines not written "
                                                       "\\(connect: ") >= 1);
    gwl_run(&l, 100, 55000);
    CU_ASSERT(gwt_metric(&t, "citygate_store_retries_total") > retries_before);
    CU_ASSERT(gwt_metric(&t, "citygate_store_lines_pending") > 0);
    CU_ASSERT(gwt_metric(&t, "citygate_journal_replay_bytes") > 0);
    /* At most one line a second per kind over the outage (about 60 s). */
    CU_ASSERT(log_lines_matching(&t, STORE_FAILED_LINE) <= 2 * 62);
    CU_ASSERT_EQUAL(readyz(&t, &failing), 503);
    services("start");

    gwl_run(&l, 100, 5000);
    gwl_verify(&l, 60000);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", (double)l.frames, 10000),
                    (double)l.frames);

    /* Drained: the store has everything, a snapshot covers it, the journal was trimmed. */
    double replay = -1;
    for (uint64_t end = gwt_now_ms() + 20000; gwt_now_ms() < end; gwt_pause_ms(100))
        if ((replay = gwt_metric(&t, "citygate_journal_replay_bytes")) == 0)
            break;
    CU_ASSERT_EQUAL(replay, 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_store_lines_pending"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_store_lines_dropped_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_store_lines_dead_lettered_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_journal_dropped_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_values_too_late_total"), 0);

    /* Back to normal: ready, the errors stopped, and the recovery was said. */
    while (gwt_now_ms() - stopped < 180000 && readyz(&t, &failing) != 200)
        gwt_pause_ms(100);
    CU_ASSERT_EQUAL(readyz(&t, &failing), 200);
    CU_ASSERT(gwt_log_contains(&t, " info store_write_recovered: "));
    double errors = gwt_metric(&t, CONNECT_ERRORS);
    gwl_run(&l, 100, 3000);
    CU_ASSERT_EQUAL(gwt_metric(&t, CONNECT_ERRORS), errors);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"store outage of 60 s under load", test_store_outage},
        {NULL, NULL},
    };
    if (argc != 2)
        return 64;
    citygate = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("gateway store outage", tests);
    curl_global_cleanup();
    return rc;
}
