/*
 * test_gw_ops.c -- running the gateway: --check-config names the file and
 * line of an error and exits 78; SIGHUP takes a valid new registry (a device
 * added on site is accepted without a restart) and keeps the running one when
 * the new file is broken; SIGTERM stops cleanly with exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "gwtest.h"

static const char *citygate;

/* Runs citygate with args, its stderr and stdout into out; returns the exit status. */
static int run(const char *args, char *out, size_t cap)
{
    char cmd[1024], *all;
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", citygate, args);
    int status = cu_run(cmd, &all);
    snprintf(out, cap, "%s", all);
    free(all);
    return status;
}

static void test_command_line(void)
{
    char out[4096], args[600], bad[400];
    struct gwt t;
    gwt_init(&t, citygate, 2, 1, NULL);

    CU_ASSERT_EQUAL(run("--help", out, sizeof out), 0);
    CU_ASSERT(strstr(out, "--check-config") != NULL);
    CU_ASSERT_EQUAL(run("--version", out, sizeof out), 0);
    CU_ASSERT(strncmp(out, "citygate ", 9) == 0);
    CU_ASSERT_EQUAL(run("--no-such-option", out, sizeof out), 64);

    snprintf(args, sizeof args, "-c '%s' --check-config", t.config);
    CU_ASSERT_EQUAL(run(args, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "ok (2 devices, 0 rules)") != NULL);
    /* The older form, the file after --check-config, still works. */
    snprintf(args, sizeof args, "--check-config '%s'", t.config);
    CU_ASSERT_EQUAL(run(args, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "ok (2 devices, 0 rules)") != NULL);
    snprintf(args, sizeof args, "--check-config '%s' extra", t.config);
    CU_ASSERT_EQUAL(run(args, out, sizeof out), 64);

    snprintf(bad, sizeof bad, "%s/bad.conf", t.dir);
    FILE *f = fopen(bad, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("[store]\nurl = http://127.0.0.1:1\n\n[windows]\ngrace = soon\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--config '%s' --check-config", bad);
    CU_ASSERT_EQUAL(run(args, out, sizeof out), 78);
    snprintf(args, sizeof args, "%s:5: windows.grace", bad);
    CU_ASSERT(strstr(out, args) != NULL);

    CU_ASSERT_EQUAL(run("--help-config", out, sizeof out), 0);
    CU_ASSERT(strstr(out, "| `fsync_interval` |") != NULL);
    gwt_fini(&t);
}

/*
 * --check-config refuses what the start would refuse (or get wrong), with
 * the file and the line: each case exits 78 and names "FILE:LINE: WHAT".
 * Before, every one of them passed.
 */
static void test_check_config_checks(void)
{
    static const struct {
        const char *text;
        int line;
        const char *what;
    } cases[] = {
        {"[http]\nlisten = 127.0.0.1:99999\n", 2, "http.listen: \"127.0.0.1:99999\""},
        {"[http]\nlisten = localhost:9100\n", 2, "http.listen"},
        {"[mqtt]\nurl = tcp://127.0.0.1:99999\n", 2, "mqtt.url"},
        {"[mqtt]\nurl = 127.0.0.1:1883\n", 2, "mqtt.url"},
        {"[store]\nurl = http://127.0.0.1:0\n", 2, "store.url"},
        {"[store]\ndatabase = a\n[http]\nlisten = :0\n[store]\ngzip = off\n", 5,
         "[store] appears twice (first on line 1)"},
        {"[store]\nurl = http://a:1\n\nurl = http://b:1\n", 4,
         "store.url is given twice (first on line 2)"},
        {"[rule a]\nwarn = 1\nwarn = 2\n", 3, "warn is given twice (first on line 2)"},
        {"[rule slow]\nquantity = SPED\ndirection = below\nwarn = 5\n", 1,
         "rule slow: quantity \"SPED\" matches no quantity"},
        {"[windows]\nwidths = 5s,10s\n[store]\nretention = 5s=1d\n", 4,
         "store.retention: no retention policy for the width 10 s"},
        {"[windows]\nwidths = 5s,10s\n", 2, "store.retention: 30s is not one of windows.widths"},
        {"[store]\nretention = 30s=30d,5m=104w,15m=104w,1h=forever\n", 2, "1h=forever"},
        {"[windows]\nwidths = 5s,soon\n", 2, "windows.widths"},
        {"[mqtt]\nurl = ssl://127.0.0.1:8883\nca_file = /nonexistent/ca.pem\n", 3,
         "mqtt.ca_file: cannot read /nonexistent/ca.pem"},
    };
    char out[4096], args[600], path[400], want[600];
    struct gwt t;
    gwt_init(&t, citygate, 1, 1, NULL);
    snprintf(path, sizeof path, "%s/case.conf", t.dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "w");
        CU_ASSERT_FATAL(f != NULL);
        fputs(cases[i].text, f);
        fclose(f);
        snprintf(args, sizeof args, "-c '%s' --check-config", path);
        int rc = run(args, out, sizeof out);
        snprintf(want, sizeof want, "%s:%d: ", path, cases[i].line);
        int named = strstr(out, want) && strstr(out, cases[i].what);
        if (rc != 78 || !named)
            fprintf(stderr, "case %zu: exit %d, output: %s", i, rc, out);
        CU_ASSERT_EQUAL(rc, 78);
        CU_ASSERT(named);
    }
    gwt_fini(&t);
}

static void publish_one(struct gwt *t, int device, uint64_t seq)
{
    uint8_t frame[512];
    char topic[128];
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, 50, 1, 0};
    size_t len = gwt_frame(t, device, 5, seq, gwt_now_ms(), &r, 1, frame, sizeof frame);
    gwt_topic(t, device, topic, sizeof topic);
    gwt_publish(t, topic, frame, len);
}

/* Appends device i to the registry file, as a technician's provisioning would. */
static void register_device(struct gwt *t, int i)
{
    char id[16], site[16];
    uint8_t key[32];
    FILE *f = fopen(t->registry, "a");
    CU_ASSERT_FATAL(f != NULL);
    gwt_device(t, i, id, site);
    gwt_key(i, key);
    fprintf(f, "[device %s]\nsite = %s\nkey = ", id, site);
    for (int b = 0; b < 32; b++)
        fprintf(f, "%02x", key[b]);
    fprintf(f, "\n");
    fclose(f);
}

static void test_reload_and_stop(void)
{
    struct gwt t;
    const char *unknown = "citygate_frames_rejected_total{reason=\"unknown_device\"}";
    gwt_init(&t, citygate, 2, 1, NULL);
    gwt_start(&t);

    /* Device 2 is not registered yet. */
    publish_one(&t, 2, 1);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, unknown, 1, 10000), 1);

    /* Registered and reloaded: accepted without a restart. */
    register_device(&t, 2);
    kill(t.pid, SIGHUP);
    CU_ASSERT_FATAL(gwt_wait_log(&t, "reloaded: 3 devices", 10000));
    publish_one(&t, 2, 2);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", 1, 10000), 1);

    /* A broken configuration is refused and the running one kept. */
    FILE *f = fopen(t.config, "a");
    CU_ASSERT_FATAL(f != NULL);
    fputs("[windows]\nwidths = nonsense\n", f);
    fclose(f);
    kill(t.pid, SIGHUP);
    CU_ASSERT_FATAL(gwt_wait_log(&t, "keeping the running configuration", 10000));
    publish_one(&t, 2, 3);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", 2, 10000), 2);
    CU_ASSERT(gwt_healthy(&t));

    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    CU_ASSERT(gwt_log_contains(&t, "stopping (SIGTERM)"));
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"command line and --check-config", test_command_line},
        {"--check-config checks what the start checks", test_check_config_checks},
        {"SIGHUP reloads or keeps, SIGTERM stops", test_reload_and_stop},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway operations", tests, &citygate);
}
