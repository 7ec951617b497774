/*
 * test_mqtt.c -- the gateway's MQTT client against a real Mosquitto
 * (tools/services): paused (as when the journal has no room), then resumed
 * while the broker is down, it keeps trying and is consuming again once the
 * broker is back, with the frames queued in its persistent session meanwhile.
 * Freed right after publishing a burst of QoS 1 messages (alerts at a
 * shutdown), it waits for the broker to take them all.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cu.h"
#include "mqtt.h"

#define TOPIC "city/v1/site/node/data"

/* Counts the messages on TOPIC into the client's counter (ctx). */
static void on_message(void *ctx, const char *topic, const void *payload, size_t len)
{
    (void)payload;
    (void)len;
    if (strcmp(topic, TOPIC) == 0)
        atomic_fetch_add((atomic_int *)ctx, 1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int connected(struct gw_mqtt *m)
{
    struct gw_mqtt_stats st;
    gw_mqtt_stats(m, &st);
    return st.connected;
}

static void services(const char *what)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' %s mqtt", cu_env("CITYGATE_SERVICES"), what);
    CU_ASSERT_FATAL(system(cmd) == 0);
}

/* A client of the gateway's kind with id, subscribed to TOPIC, counting into received. */
static struct gw_mqtt *client(const char *id, atomic_int *received)
{
    static const char *const topics[] = {TOPIC};
    struct gw_mqtt_config cfg = {cu_env("CITYGATE_MQTT_URL"),
                                 id,
                                 NULL,
                                 NULL,
                                 NULL,
                                 NULL,
                                 NULL,
                                 3,
                                 10000,
                                 100,
                                 1000,
                                 topics,
                                 1};
    struct gw_mqtt *m = NULL;
    char err[256];
    CU_ASSERT_FATAL(gw_mqtt_new(&cfg, on_message, received, 10000, &m, err, sizeof err) == 0);
    CU_ASSERT_FATAL(connected(m));
    return m;
}

/*
 * Publishes one QoS 1 message on TOPIC with a client of its own, subscribed
 * too: once it has its own message back, the broker has it.
 */
static void publish_one(void)
{
    atomic_int echo = 0;
    struct gw_mqtt *p = client("test-mqtt-publisher", &echo);
    CU_ASSERT(gw_mqtt_publish(p, TOPIC, "x", 1, 1, 0) == 0);
    for (uint64_t end = now_ms() + 10000; atomic_load(&echo) == 0 && now_ms() < end;)
        pause_ms(20);
    CU_ASSERT_EQUAL(atomic_load(&echo), 1);
    gw_mqtt_free(p, 1000);
}

static void test_resume_while_the_broker_is_down(void)
{
    atomic_int received = 0;
    struct gw_mqtt *m = client("test-mqtt-resume", &received);

    CU_ASSERT(gw_mqtt_pause(m) == 0);
    publish_one(); /* queued in the paused session */
    services("stop");
    /* Room is back while the broker is away: the gateway resumes at every tick (100 ms). */
    for (int i = 0; i < 20; i++) {
        gw_mqtt_resume(m);
        pause_ms(100);
    }
    CU_ASSERT(!connected(m));
    services("start");
    uint64_t end = now_ms() + 30000;
    while (!(connected(m) && atomic_load(&received) == 1) && now_ms() < end) {
        gw_mqtt_resume(m);
        pause_ms(100);
    }
    CU_ASSERT(connected(m));
    CU_ASSERT_EQUAL(atomic_load(&received), 1);
    gw_mqtt_free(m, 1000);
}

static void test_free_waits_for_queued_messages(void)
{
    enum { N = 2000 };
    atomic_int received = 0, echo = 0;
    struct gw_mqtt *sub = client("test-mqtt-receiver", &received);
    struct gw_mqtt *p = client("test-mqtt-shutdown", &echo);
    char payload[256];
    memset(payload, 'a', sizeof payload);
    for (int i = 0; i < N; i++)
        CU_ASSERT(gw_mqtt_publish(p, TOPIC, payload, sizeof payload, 1, 0) == 0);
    gw_mqtt_free(p, 10000);
    /* Once freed, the broker has them all: they reach the subscriber. */
    for (uint64_t end = now_ms() + 20000; atomic_load(&received) < N && now_ms() < end;)
        pause_ms(20);
    printf("\n  %d of %d messages published before the free reached the broker",
           atomic_load(&received), N);
    CU_ASSERT_EQUAL(atomic_load(&received), N);
    gw_mqtt_free(sub, 1000);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"resumed while the broker is down, it connects once the broker is back",
         test_resume_while_the_broker_is_down},
        {"freed after a burst of QoS 1 publishes, it waits for the broker to take them",
         test_free_waits_for_queued_messages},
        {NULL, NULL},
    };
    return cu_main("gateway MQTT client", tests);
}
