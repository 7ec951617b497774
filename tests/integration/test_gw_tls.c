/*
 * test_gw_tls.c -- the gateway's broker connection over TLS with a client
 * certificate: a Mosquitto of the test's own (a real broker, on loopback)
 * requires certificates from a CA the test makes with openssl; the gateway
 * connects with mqtt.ca_file, cert_file and key_file and takes frames, and a
 * gateway that trusts another CA is refused at start with exit 69.
 *
 * The broker also listens in plain TCP on a second port, for the test's
 * publisher; both listeners are the same broker, so frames cross from one to
 * the other.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu.h"
#include "gwtest.h"

static const char *citygate;
static char dir[256];
static pid_t broker;

/* Runs a shell command in dir; fails the test if it fails. */
__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
    char cmd[4096], line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    CU_ASSERT_FATAL((size_t)snprintf(cmd, sizeof cmd, "cd '%s' && %s >>openssl.log 2>&1", dir,
                                     line) < sizeof cmd);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

/* A CA (named ca), and a server and a client certificate it signed. */
static void make_pki(const char *ca)
{
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=%s-ca -keyout %s-ca.key "
       "-out %s-ca.pem",
       ca, ca, ca);
}

static void make_certs(void)
{
    make_pki("test");
    make_pki("other");
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out "
       "server.csr && printf 'subjectAltName=IP:127.0.0.1\\n' >san.ext && openssl x509 -req -in "
       "server.csr -CA %s-ca.pem -CAkey test-ca.key -CAcreateserial -days 2 -extfile san.ext "
       "-out server.pem",
       "test");
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=citygate -keyout client.key -out "
       "client.csr && openssl x509 -req -in client.csr -CA %s-ca.pem -CAkey test-ca.key "
       "-CAcreateserial -days 2 -out client.pem",
       "test");
}

static void start_broker(unsigned tls_port, unsigned plain_port)
{
    char conf[600], path[600];
    snprintf(path, sizeof path, "%s/mosquitto.conf", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f,
            "per_listener_settings false\nallow_anonymous true\nuser root\n"
            "listener %u 127.0.0.1\n"
            "listener %u 127.0.0.1\ncafile %s/test-ca.pem\ncertfile %s/server.pem\n"
            "keyfile %s/server.key\nrequire_certificate true\n",
            plain_port, tls_port, dir, dir, dir);
    fclose(f);
    snprintf(conf, sizeof conf, "%s", path);
    broker = fork();
    CU_ASSERT_FATAL(broker >= 0);
    if (broker == 0) {
        char log[600];
        snprintf(log, sizeof log, "%s/mosquitto.log", dir);
        if (freopen(log, "w", stdout) && freopen(log, "a", stderr))
            execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
}

/*
 * Waits until the plain listener answers a real MQTT connection; 0 when it
 * did not within 15 s, or the broker exited (a port taken since it was
 * picked: Mosquitto cannot listen on a port of its own choosing and say so).
 */
static int broker_ready(const char *url)
{
    for (uint64_t end = gwt_now_ms() + 15000; gwt_now_ms() < end; gwt_pause_ms(50)) {
        if (waitpid(broker, NULL, WNOHANG) == broker) {
            broker = 0;
            return 0;
        }
        MQTTClient c;
        MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
        if (MQTTClient_create(&c, url, "tls-probe", MQTTCLIENT_PERSISTENCE_NONE, NULL) != 0)
            return 0;
        int rc = MQTTClient_connect(c, &o);
        if (rc == MQTTCLIENT_SUCCESS)
            MQTTClient_disconnect(c, 100);
        MQTTClient_destroy(&c);
        if (rc == MQTTCLIENT_SUCCESS)
            return 1;
    }
    return 0;
}

static void test_tls_with_client_certificate(void)
{
    struct gwt t;
    char url[64], extra[4096];
    unsigned plain = 0, tls = 0;
    int ready = 0;

    snprintf(dir, sizeof dir, "%s/tls", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    make_certs();
    /* Free ports picked here can be taken before the broker binds them: two more tries. */
    for (int tries = 0; tries < 3 && !ready; tries++) {
        plain = gwt_free_port();
        tls = gwt_free_port();
        if (plain == tls)
            continue;
        start_broker(tls, plain);
        snprintf(url, sizeof url, "tcp://127.0.0.1:%u", plain);
        ready = broker_ready(url);
        if (!ready && broker > 0) {
            kill(broker, SIGKILL);
            waitpid(broker, NULL, 0);
        }
    }
    CU_ASSERT_FATAL(ready);
    setenv("CITYGATE_MQTT_URL", url, 1); /* the test's publisher uses the plain listener */

    snprintf(extra, sizeof extra,
             "[mqtt]\nurl = ssl://127.0.0.1:%u\nca_file = %s/test-ca.pem\n"
             "cert_file = %s/client.pem\nkey_file = %s/client.key\n",
             tls, dir, dir, dir);
    gwt_init(&t, citygate, 2, 1, extra);
    gwt_start(&t);
    uint8_t frame[512];
    char topic[128];
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__SPEED, 42, 1, 0};
    size_t len = gwt_frame(&t, 1, 3, 1, gwt_now_ms(), &r, 1, frame, sizeof frame);
    gwt_topic(&t, 1, topic, sizeof topic);
    gwt_publish(&t, topic, frame, len);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", 1, 10000), 1);
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    gwt_fini(&t);

    /* Trusting another CA, the gateway must refuse the broker's certificate. */
    snprintf(extra, sizeof extra,
             "[mqtt]\nurl = ssl://127.0.0.1:%u\nca_file = %s/other-ca.pem\n"
             "cert_file = %s/client.pem\nkey_file = %s/client.key\n",
             tls, dir, dir, dir);
    gwt_init(&t, citygate, 2, 1, extra);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' -c '%s' >'%s' 2>&1", citygate, t.config, t.log);
    int status = system(cmd);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 69);
    CU_ASSERT(gwt_log_contains(&t, "mqtt"));
    gwt_fini(&t);

    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"TLS with a client certificate", test_tls_with_client_certificate},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway TLS", tests, &citygate);
}
