/*
 * test_gw_node_death.c -- a real citynode, killed, raises the absence alert
 * through its MQTT will, on the real broker and citygate.
 *
 * citynode node-0000 (sim-air) is provisioned with the key the gateway's
 * registry holds for it; rule "silent" watches its NO2 for an absence of an
 * hour, so only a death can raise it within the test. Once the gateway has
 * accepted the node's birth and frames, the node is killed with SIGKILL: the
 * broker publishes its will, a death the node signed when it connected, and
 * the gateway must raise CRIT with cause "death" within seconds. Before the
 * node and the gateway shared one signed status message, the node's will
 * said "offline" and the gateway listened for "dead": nothing fired.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu.h"
#include "gwtest.h"

#define RULES "[rule silent]\nnode = node-0000\nquantity = NO2\nabsence = 1h\n"
#define DEATH_TIMEOUT_MS 10000

static const char *citygate, *citynode;

static void test_killed_node_raises_death_alert(void)
{
    struct gwt t;
    gwt_init(&t, citygate, 1, 1, RULES);
    struct gwt_sub *alerts = gwt_sub_new("alerts-death", "city/v1/alerts/#");
    gwt_start(&t);

    pid_t node = gwt_node_start(
        &t, citynode, gwt_node_provision(&t, 0, NULL, "[sensor air]\ndriver = sim-air\n"));
    CU_ASSERT(gwt_wait_metric(&t, "citygate_births_total", 1, 20000) >= 1);
    CU_ASSERT(gwt_wait_metric(&t, "citygate_frames_accepted_total", 3, 20000) >= 3);
    CU_ASSERT_EQUAL(gwt_sub_count(alerts), 0);

    CU_ASSERT_FATAL(kill(node, SIGKILL) == 0);
    CU_ASSERT_FATAL(waitpid(node, NULL, 0) == node);
    uint64_t t0 = gwt_now_ms();
    CU_ASSERT_FATAL(gwt_sub_wait(alerts, 1, DEATH_TIMEOUT_MS) == 1);
    const struct gwt_msg *m = gwt_sub_msg(alerts, 0);
    printf("death alert %llu ms after SIGKILL\n", (unsigned long long)(gwt_now_ms() - t0));
    CU_ASSERT_STRING_EQUAL(m->topic, "city/v1/alerts/site-00/node-0000/silent/no2-0");
    CU_ASSERT_STRING_EQUAL(gwt_msg_str(m, "state"), "crit");
    CU_ASSERT_STRING_EQUAL(gwt_msg_str(m, "cause"), "death");
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_deaths_total"), 1);
    for (int r = 0; r < 2; r++) {
        static const char *const reasons[] = {"malformed", "bad_signature"};
        char sample[96];
        snprintf(sample, sizeof sample, "citygate_status_rejected_total{reason=\"%s\"}",
                 reasons[r]);
        CU_ASSERT_EQUAL(gwt_metric(&t, sample), 0);
    }

    gwt_sub_free(alerts);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"a killed citynode raises the absence alert through its will",
         test_killed_node_raises_death_alert},
        {NULL, NULL},
    };
    if (argc != 3) {
        fprintf(stderr, "usage: %s CITYGATE CITYNODE\n", argv[0]);
        return 64;
    }
    citygate = argv[1];
    citynode = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("gateway and node: death", tests);
    curl_global_cleanup();
    return rc;
}
