/*
 * test_broker.c -- signed frames through a real Mosquitto (tools/services).
 *
 * A golden frame is published with Paho at QoS 1 and must arrive bit for bit,
 * verify and decode; a tampered copy must arrive and be refused as a bad
 * signature; and a persistent session must keep QoS 1 frames across a broker
 * restart, which is what the gateway's "nothing acknowledged is lost" rests on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <MQTTClient.h>

#include "cu.h"
#include "golden.h"
#include "wire.h"

#define TOPIC "city/v1/ring-north/node-0001/data"
#define RECEIVE_TIMEOUT_MS 10000

static struct golden *vectors;
static size_t n_vectors;
static const struct golden *frame;
static unsigned char arena_buf[256 * 1024];

static int frame_key(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    if (strcmp(device_id, "node-0001") != 0)
        return -1;
    key->bytes = frame->key;
    key->len = frame->key_len;
    return 0;
}

static MQTTClient connect_client(const char *id, int clean)
{
    MQTTClient c = NULL;
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    opts.cleansession = clean;
    opts.keepAliveInterval = 20;
    opts.connectTimeout = 10;
    CU_ASSERT_FATAL(MQTTClient_create(&c, cu_env("CITYGATE_MQTT_URL"), id,
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    int rc = MQTTClient_connect(c, &opts);
    if (rc != MQTTCLIENT_SUCCESS)
        fprintf(stderr, "connect %s: %s\n", id, MQTTClient_strerror(rc));
    CU_ASSERT_FATAL(rc == MQTTCLIENT_SUCCESS);
    return c;
}

static void disconnect_client(MQTTClient c)
{
    MQTTClient_disconnect(c, 1000);
    MQTTClient_destroy(&c);
}

static void publish(MQTTClient c, const uint8_t *bytes, size_t len)
{
    MQTTClient_deliveryToken token;
    CU_ASSERT_FATAL(MQTTClient_publish(c, TOPIC, (int)len, bytes, 1, 0, &token) ==
                    MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_waitForCompletion(c, token, RECEIVE_TIMEOUT_MS) ==
                    MQTTCLIENT_SUCCESS);
}

/* Receives one message; returns its payload (caller frees with MQTTClient_freeMessage()). */
static MQTTClient_message *receive(MQTTClient c, char **topic)
{
    MQTTClient_message *m = NULL;
    int topic_len = 0;
    CU_ASSERT_FATAL(MQTTClient_receive(c, topic, &topic_len, &m, RECEIVE_TIMEOUT_MS) ==
                    MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(m != NULL);
    return m;
}

static int decode(const MQTTClient_message *m, Citygate__V1__Frame **f)
{
    struct wire_decoder d = {WIRE_DEFAULT_MAX_FRAME_BYTES, frame_key, NULL, {0}};
    wire_arena_init(&d.arena, arena_buf, sizeof arena_buf);
    return wire_decode(&d, m->payload, (size_t)m->payloadlen, f, NULL);
}

static void test_setup(void)
{
    char err[256];
    int rc = golden_load(TEST_DATA_DIR "/frames.golden", &vectors, &n_vectors, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    for (size_t i = 0; i < n_vectors; i++)
        if (strcmp(vectors[i].name, "traffic-two-lanes") == 0)
            frame = &vectors[i];
    CU_ASSERT_FATAL(frame != NULL);
}

static void test_signed_frame_roundtrip(void)
{
    MQTTClient sub = connect_client("test-sub", 1);
    MQTTClient pub = connect_client("test-pub", 1);
    char *topic = NULL;
    Citygate__V1__Frame *f = NULL;

    CU_ASSERT_FATAL(MQTTClient_subscribe(sub, "city/v1/+/+/data", 1) == MQTTCLIENT_SUCCESS);
    publish(pub, frame->bytes, frame->len);

    MQTTClient_message *m = receive(sub, &topic);
    CU_ASSERT_STRING_EQUAL(topic, TOPIC);
    CU_ASSERT(m->qos == 1);
    CU_ASSERT_FATAL((size_t)m->payloadlen == frame->len);
    CU_ASSERT(memcmp(m->payload, frame->bytes, frame->len) == 0);
    CU_ASSERT_FATAL(decode(m, &f) == 0);
    CU_ASSERT_STRING_EQUAL(f->device_id, "node-0001");
    CU_ASSERT_STRING_EQUAL(f->site_id, "ring-north");
    CU_ASSERT(f->seq == 42);
    MQTTClient_freeMessage(&m);
    MQTTClient_free(topic);

    /* The same frame with one bit flipped in its body travels fine but does not verify. */
    uint8_t *tampered = malloc(frame->len);
    CU_ASSERT_FATAL(tampered != NULL);
    memcpy(tampered, frame->bytes, frame->len);
    tampered[frame->len / 2] ^= 0x10;
    publish(pub, tampered, frame->len);
    m = receive(sub, &topic);
    f = NULL;
    CU_ASSERT_EQUAL(decode(m, &f), -WIRE_EBAD_SIGNATURE);
    CU_ASSERT(f == NULL);
    MQTTClient_freeMessage(&m);
    MQTTClient_free(topic);
    free(tampered);

    disconnect_client(pub);
    disconnect_client(sub);
}

/* QoS 1 frames queued for an offline persistent session survive a broker restart. */
static void test_persistent_session_survives_restart(void)
{
    enum { N = 3 };
    char cmd[4096];
    MQTTClient sub = connect_client("test-persistent", 0);
    CU_ASSERT_FATAL(MQTTClient_subscribe(sub, TOPIC, 1) == MQTTCLIENT_SUCCESS);
    disconnect_client(sub);

    MQTTClient pub = connect_client("test-pub-2", 1);
    for (int i = 0; i < N; i++)
        publish(pub, frame->bytes, frame->len);
    disconnect_client(pub);

    snprintf(cmd, sizeof cmd, "'%s' stop mqtt && '%s' start mqtt", cu_env("CITYGATE_SERVICES"),
             cu_env("CITYGATE_SERVICES"));
    CU_ASSERT_FATAL(system(cmd) == 0);

    sub = connect_client("test-persistent", 0);
    for (int i = 0; i < N; i++) {
        char *topic = NULL;
        Citygate__V1__Frame *f = NULL;
        MQTTClient_message *m = receive(sub, &topic);
        CU_ASSERT(decode(m, &f) == 0);
        MQTTClient_freeMessage(&m);
        MQTTClient_free(topic);
    }
    disconnect_client(sub);
}

static void test_teardown(void)
{
    golden_free(vectors, n_vectors);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"load golden frame", test_setup},
        {"signed frame through the broker", test_signed_frame_roundtrip},
        {"persistent session survives a broker restart", test_persistent_session_survives_restart},
        {"teardown", test_teardown},
        {NULL, NULL},
    };
    return cu_main("broker", tests);
}
