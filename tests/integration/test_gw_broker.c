/*
 * test_gw_broker.c -- Mosquitto (with persistence) restarted under load:
 * nothing the gateway acknowledged is lost. The publisher keeps going through
 * the restart (its persistent session resends what was in flight), and the
 * gateway's persistent session gets what the broker queued for it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "cu.h"
#include "gwload.h"

static const char *citygate;

static void broker(const char *what)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' %s mqtt", cu_env("CITYGATE_SERVICES"), what);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

static void test_broker_restart(void)
{
    struct gwt t;
    static struct gwl l;

    gwt_init(&t, citygate, 10, 2, GWL_CONFIG "[mqtt]\nreconnect_min = 100ms\n");
    gwt_start(&t);
    gwl_init(&l, &t, 10);
    for (int round = 0; round < 2; round++) {
        gwl_run(&l, 50, 3000);
        broker("stop");
        broker("start");
        /* The next round starts once the gateway is back (its reconnect backoff varies). */
        CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_mqtt_connects_total", round + 2, 30000),
                        round + 2);
    }
    gwl_run(&l, 50, 3000);
    gwl_verify(&l, 60000);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_mqtt_connection_losses_total"), 2);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_mqtt_connected"), 1);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"broker restarted under load", test_broker_restart},
        {NULL, NULL},
    };
    if (argc != 2)
        return 64;
    citygate = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("gateway broker restart", tests);
    curl_global_cleanup();
    return rc;
}
