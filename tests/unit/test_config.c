/*
 * test_config.c -- the configuration table and parser: defaults, units, every
 * kind of error with its line, rules, and allocation failures.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "cu.h"
#include "err.h"

static int parse(const char *text, struct gw_config *cfg, struct gw_config_diag *diag)
{
    CU_ASSERT_FATAL(gw_config_init(cfg) == 0);
    return gw_config_parse(cfg, text, strlen(text), diag);
}

static void test_defaults(void)
{
    struct gw_config cfg;
    struct gw_config_diag diag;
    CU_ASSERT_FATAL(parse("", &cfg, &diag) == 0);
    CU_ASSERT_STRING_EQUAL(cfg.mqtt_url, "tcp://127.0.0.1:1883");
    CU_ASSERT(cfg.n_widths == 4);
    CU_ASSERT(cfg.widths_ms[0] == 30000 && cfg.widths_ms[3] == 3600000);
    CU_ASSERT(cfg.journal_max_bytes == 1ull << 30);
    CU_ASSERT(cfg.fsync_interval_ms == 1000);
    CU_ASSERT(cfg.store_batch_lines == 5000);
    CU_ASSERT(cfg.store_gzip == 1);
    CU_ASSERT(cfg.n_rules == 0);
    /* The page and its API answer this machine only unless configured otherwise, over plain
     * HTTP until a certificate is given. */
    struct sockaddr_storage addr;
    socklen_t len;
    CU_ASSERT_FATAL(gw_config_parse_listen(cfg.http_listen, &addr, &len) == 0);
    CU_ASSERT_FATAL(addr.ss_family == AF_INET);
    CU_ASSERT(ntohl(((struct sockaddr_in *)&addr)->sin_addr.s_addr) == INADDR_LOOPBACK);
    CU_ASSERT(cfg.http_cert_file == NULL && cfg.http_key_file == NULL);
    gw_config_fini(&cfg);
}

static void test_values_with_units(void)
{
    struct gw_config cfg;
    struct gw_config_diag diag;
    const char *text = "[journal]\n"
                       "max_bytes = 64MiB ; inline comment\n"
                       "fsync_interval = 250ms\n"
                       "[windows]\n"
                       "widths = 10s,1m\n"
                       "grace = 20s\n"
                       "[store]\n"
                       "gzip = off\n"
                       "url = http://127.0.0.1:18086\n"
                       "retention = 1m=104w,10s=1d\n"
                       "[alerts]\n"
                       "webhook = http://127.0.0.1:9/hook\n"
                       "webhook_attempts = 3\n";
    int rc = parse(text, &cfg, &diag);
    if (rc)
        fprintf(stderr, "line %d: %s\n", diag.line, diag.message);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT(cfg.journal_max_bytes == 64ull << 20);
    CU_ASSERT(cfg.fsync_interval_ms == 250);
    CU_ASSERT(cfg.n_widths == 2 && cfg.widths_ms[1] == 60000);
    CU_ASSERT(cfg.grace_ms == 20000);
    CU_ASSERT(cfg.store_gzip == 0);
    CU_ASSERT_STRING_EQUAL(cfg.store_url, "http://127.0.0.1:18086");

    /* What the adapters are given: the same code for --check-config and the start. */
    struct gw_sink_config sc;
    struct gw_webhook_config wc;
    gw_config_sink(&cfg, &sc);
    gw_config_webhook(&cfg, &wc);
    CU_ASSERT_STRING_EQUAL(cfg.rp_names[0], "rp_10s");
    CU_ASSERT_STRING_EQUAL(cfg.rp_names[1], "rp_1m");
    CU_ASSERT_STRING_EQUAL(sc.retention_policies, "rp_10s=1d,rp_1m=104w");
    CU_ASSERT(sc.api == GW_STORE_INFLUX_V1 && sc.ops == NULL);
    CU_ASSERT_STRING_EQUAL(gw_store_api_name(sc.api), "influx-v1");
    CU_ASSERT(gw_store_api_name(GW_STORE_N) == NULL);
    CU_ASSERT_STRING_EQUAL(sc.url, "http://127.0.0.1:18086");
    CU_ASSERT(sc.gzip == 0 && sc.batch_lines == 5000 && sc.retry_min_ms == 200);
    CU_ASSERT_STRING_EQUAL(wc.url, "http://127.0.0.1:9/hook");
    CU_ASSERT(wc.max_attempts == 3 && wc.max_queue == 10000 && wc.timeout_ms == 5000);
    CU_ASSERT(wc.retry_min_ms == 200 && wc.retry_max_ms == 30000);
    gw_config_fini(&cfg);
}

/* Each bad file and the line and words its error must carry. */
static void test_errors_name_their_line(void)
{
    static const struct {
        const char *text;
        int line;
        const char *words;
    } cases[] = {
        {"[mqtt]\nurl = x\nbogus = 1\n", 3, "unknown key \"bogus\""},
        {"\n[nosuch]\nkey = 1\n", 3, "unknown section [nosuch]"},
        {"[journal]\nfsync_interval = 5 parsecs\n", 2, "not a duration"},
        {"[journal]\nmax_bytes = 12XB\n", 2, "not a size"},
        {"[journal]\nmax_bytes = 1KiB\n", 2, "outside"},
        {"[mqtt]\nversion = 6\n", 2, "outside"},
        {"[store]\ngzip = maybe\n", 2, "not true or false"},
        {"[mqtt]\nthis line has no equals sign\n", 2, "not a [section]"},
        {"[rule slow]\nquantity = SPEED\nwarn = fast\n", 3, "not a number"},
        {"[rule slow]\ndirection = sideways\n", 2, "not above or below"},
        {"[rule a]\nwarn = 1\n[rule a]\nwarn = 2\n", 3, "defined twice"},
        {"[windows]\nwidths = 30s,45s\n", 2, "multiple of the first"},
        {"[http]\nlisten = 127.0.0.1:99999\n", 2, "http.listen"},
        {"[mqtt]\nurl = tcp://[::1]:0\n", 2, "mqtt.url"},
        {"[http]\ncert_file = /etc/cert.pem\n", 2, "http.cert_file and http.key_file go together"},
        {"[http]\n\nkey_file = /etc/key.pem\n", 3, "go together"},
        {"[store]\ngzip = on\n[http]\nlisten = :1\n[store]\n\ngzip = off\n", 5, "appears twice"},
        {"[store]\ngzip = on\ngzip = off\n", 3, "given twice (first on line 2)"},
        {"[rule s]\nquantity = SPED\nwarn = 5\n", 1, "matches no quantity"},
        {"[windows]\nwidths = 5s,10s\n[store]\nretention = 5s=1d\n", 4, "width 10 s"},
        {"[windows]\nwidths = 5s\n[store]\nretention = 5s=1d,5s=2d\n", 4, "given twice"},
        {"[store]\nretention = 30s=30d,5m=104w,15m=104w,1h=1y\n", 2, "InfluxQL duration"},
        {"[store]\napi = influx-v9\n", 0, "influx-v1 or influx-v2"},
        {"[store]\napi = influx-v2\n", 0, "needs store.org"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct gw_config cfg;
        struct gw_config_diag diag = {0, ""};
        int rc = parse(cases[i].text, &cfg, &diag);
        if (rc != GW_ECONFIG || diag.line != cases[i].line || !strstr(diag.message, cases[i].words))
            fprintf(stderr, "\ncase %zu: rc %d line %d: %s\n", i, rc, diag.line, diag.message);
        CU_ASSERT(rc == GW_ECONFIG);
        CU_ASSERT(diag.line == cases[i].line);
        CU_ASSERT(strstr(diag.message, cases[i].words) != NULL);
        gw_config_fini(&cfg);
    }
}

static void test_long_line_is_refused(void)
{
    char text[400];
    struct gw_config cfg;
    struct gw_config_diag diag;
    snprintf(text, sizeof text, "[mqtt]\nurl = tcp://%0250d\n", 1);
    CU_ASSERT(parse(text, &cfg, &diag) == GW_ECONFIG);
    CU_ASSERT(diag.line == 2);
    CU_ASSERT(strstr(diag.message, "longer than") != NULL);
    gw_config_fini(&cfg);
}

static const char *rules_text = "[rule slow-traffic]\n"
                                "quantity = SPEED\n"
                                "direction = below\n"
                                "warn = 30\n"
                                "crit = 15\n"
                                "warn_reset = 35\n"
                                "for = 30s\n"
                                "[rule silent]\n"
                                "absence = 2m\n"
                                "absence_level = warn\n";

static void test_rules(void)
{
    struct gw_config cfg;
    struct gw_config_diag diag;
    int rc = parse(rules_text, &cfg, &diag);
    if (rc)
        fprintf(stderr, "line %d: %s\n", diag.line, diag.message);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT_FATAL(cfg.n_rules == 2);
    const struct gw_rule_def *r = &cfg.rules[0];
    CU_ASSERT_STRING_EQUAL(r->name, "slow-traffic");
    CU_ASSERT_STRING_EQUAL(r->quantity, "SPEED");
    CU_ASSERT_STRING_EQUAL(r->site, "*");
    CU_ASSERT(r->direction == GW_RULE_BELOW);
    CU_ASSERT(r->warn == 30 && r->crit == 15 && r->warn_reset == 35);
    CU_ASSERT(isnan(r->crit_reset));
    CU_ASSERT(r->for_ms == 30000);
    CU_ASSERT(cfg.rules[1].absence_ms == 120000);
    CU_ASSERT(cfg.rules[1].absence_level == GW_ALERT_WARN);
    gw_config_fini(&cfg);

    /* A rule the rule set refuses is reported at its section's line. */
    rc = parse(
        "[mqtt]\nurl = tcp://b:1\n[rule wrong-way]\ndirection = below\nwarn = 10\ncrit = 20\n",
        &cfg, &diag);
    CU_ASSERT(rc == GW_ECONFIG);
    if (diag.line != 3)
        fprintf(stderr, "\nline %d: %s\n", diag.line, diag.message);
    CU_ASSERT(diag.line == 3);
    CU_ASSERT(strstr(diag.message, "wrong-way") != NULL);
    gw_config_fini(&cfg);
}

/* Every default parses and every key is documented. */
/* A reload names the changed keys it does not apply, and none of the ones it does. */
static void test_restart_changes(void)
{
    struct gw_config a, b;
    struct gw_config_diag diag;
    char names[128];
    CU_ASSERT_FATAL(parse("[devices]\nregistry = a.ini\n[rule r]\nquantity = SPEED\nwarn = 5\n"
                          "[store]\ngzip = on\n",
                          &a, &diag) == 0);
    CU_ASSERT_FATAL(parse("[devices]\nregistry = b.ini\n[rule r]\nquantity = SPEED\nwarn = 9\n"
                          "[store]\ngzip = off\n",
                          &b, &diag) == 0);
    CU_ASSERT_EQUAL(gw_config_restart_changes(&a, &b, names, sizeof names), 1);
    CU_ASSERT_STRING_EQUAL(names, "store.gzip");
    CU_ASSERT_EQUAL(gw_config_restart_changes(&a, &a, names, sizeof names), 0);
    CU_ASSERT_STRING_EQUAL(names, "");
    gw_config_fini(&b);
    CU_ASSERT_FATAL(parse("[devices]\nregistry = a.ini\n[mqtt]\nurl = tcp://h:1\n[gateway]\n"
                          "tick = 1s\n[rule r]\nquantity = SPEED\nwarn = 5\n[store]\ngzip = on\n",
                          &b, &diag) == 0);
    CU_ASSERT_EQUAL(gw_config_restart_changes(&a, &b, names, sizeof names), 2);
    CU_ASSERT_STRING_EQUAL(names, "mqtt.url, gateway.tick");
    CU_ASSERT_EQUAL(gw_config_restart_changes(&a, &b, names, 10), 2); /* truncated, terminated */
    CU_ASSERT_STRING_EQUAL(names, "mqtt.url,");
    gw_config_fini(&a);
    gw_config_fini(&b);
}

static void test_docs(void)
{
    CU_ASSERT(gw_config_n_docs() > 50);
    for (size_t i = 0; i < gw_config_n_docs(); i++) {
        struct gw_config_doc d;
        gw_config_doc(i, &d);
        CU_ASSERT(d.section && d.key && d.type && d.help && strlen(d.help) > 10);
    }
}

static void test_allocation_failures(void)
{
    int ok = 0;
    for (long n = 0; n < 10000 && !ok; n++) {
        struct gw_config cfg;
        struct gw_config_diag diag;
        gw_alloc_fail_after(n);
        int rc = gw_config_init(&cfg);
        if (rc == 0)
            rc = gw_config_parse(&cfg, rules_text, strlen(rules_text), &diag);
        gw_alloc_fail_after(-1);
        CU_ASSERT(rc == 0 || rc == GW_ENOMEM);
        ok = rc == 0;
        gw_config_fini(&cfg);
    }
    CU_ASSERT(ok);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"defaults", test_defaults},
        {"values with units", test_values_with_units},
        {"errors name their line", test_errors_name_their_line},
        {"long line is refused", test_long_line_is_refused},
        {"rules", test_rules},
        {"docs", test_docs},
        {"restart-only changes", test_restart_changes},
        {"allocation failures", test_allocation_failures},
        {NULL, NULL},
    };
    return cu_main("config", tests);
}
