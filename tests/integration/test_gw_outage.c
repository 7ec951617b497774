/*
 * test_gw_outage.c -- InfluxDB stopped for 60 s under steady load, then
 * started again: afterwards every window is in the store exactly once with
 * the right count, the journal is drained (a snapshot covers everything, so
 * a restart would replay nothing), and nothing was counted as dropped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

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

static void test_store_outage(void)
{
    struct gwt t;
    static struct gwl l;

    gwt_init(&t, citygate, 10, 2, GWL_CONFIG "[journal]\nsegment_bytes = 64KiB\n");
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    gwl_run(&l, 100, 5000);

    services("stop");
    double retries_before = gwt_metric(&t, "citygate_store_retries_total");
    gwl_run(&l, 100, 60000);
    CU_ASSERT(gwt_metric(&t, "citygate_store_retries_total") > retries_before);
    CU_ASSERT(gwt_metric(&t, "citygate_store_lines_pending") > 0);
    CU_ASSERT(gwt_metric(&t, "citygate_journal_replay_bytes") > 0);
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
