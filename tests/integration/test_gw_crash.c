/*
 * test_gw_crash.c -- citygate SIGKILLed at 5 random moments under load and
 * restarted each time: the counts in the store equal the frames published,
 * and no window is counted twice (each window's count is exactly what was
 * published into it, never more). Each restart's time (process start to MQTT
 * connected) is printed: it grows with the journal a restart has to read.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "cu.h"
#include "gwload.h"

static const char *citygate;

static void test_sigkill_under_load(void)
{
    struct gwt t;
    static struct gwl l;
    unsigned seed = (unsigned)gwt_now_ms();

    gwt_init(&t, citygate, 10, 2, GWL_CONFIG);
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    printf("\nseed %u:", seed);
    for (int kill = 0; kill < 5; kill++) {
        int ms = 1000 + rand_r(&seed) % 3000;
        printf(" kill after %d ms", ms);
        gwl_run(&l, 50, ms);
        CU_ASSERT_EQUAL(gwt_stop(&t, SIGKILL), 128 + SIGKILL);
        gwl_run(&l, 50, 300); /* the broker keeps these for the gateway's session */
        uint64_t start_ms = gwt_now_ms();
        gwt_start(&t);
        printf(", restarted in %" PRIu64 " ms;", gwt_now_ms() - start_ms);
    }
    printf("\n");
    gwl_run(&l, 50, 3000);
    gwl_verify(&l, 60000);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_journal_dropped_total"), 0);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_store_lines_dropped_total"), 0);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"SIGKILL at 5 random moments under load", test_sigkill_under_load},
        {NULL, NULL},
    };
    if (argc != 2)
        return 64;
    citygate = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("gateway crash", tests);
    curl_global_cleanup();
    return rc;
}
