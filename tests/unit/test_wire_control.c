/*
 * test_wire_control.c -- signed status, command and update report messages (wire_control.c):
 * round trips, and every way a message that was not signed by the device,
 * or was signed as something else, is refused.
 */
#include <string.h>

#include "cu.h"
#include "wire.h"

static const uint8_t key_a[20] = "0123456789abcdefghij";
static const uint8_t key_b[20] = "0123456789abcdefghiX";
static const uint8_t *known_key = key_a; /* the key the decoder has for node-7 */
static unsigned char arena_buf[16 * 1024];

static int lookup(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    if (strcmp(device_id, "node-7") != 0)
        return -1;
    key->bytes = known_key;
    key->len = sizeof key_a;
    key->hmac = NULL;
    return 0;
}

static void decoder(struct wire_decoder *d)
{
    d->max_frame_bytes = WIRE_DEFAULT_MAX_FRAME_BYTES;
    d->key_fn = lookup;
    d->key_ctx = NULL;
    wire_arena_init(&d->arena, arena_buf, sizeof arena_buf);
}

/* A birth of node-7 with two sensors, signed with key; returns its length. */
static size_t birth(const uint8_t *key, const char *device_id, uint8_t *out, size_t cap)
{
    Citygate__V1__SensorInfo s0 = CITYGATE__V1__SENSOR_INFO__INIT;
    Citygate__V1__SensorInfo s1 = CITYGATE__V1__SENSOR_INFO__INIT;
    Citygate__V1__SensorInfo *sensors[2] = {&s0, &s1};
    Citygate__V1__Status s = CITYGATE__V1__STATUS__INIT;
    s0.name = "loop-1";
    s0.driver = "sim-traffic";
    s1.name = "air";
    s1.driver = "sim-air";
    s.device_id = (char *)device_id;
    s.site_id = "site-a";
    s.boot_id = 0x1234567890abcdefu;
    s.state = CITYGATE__V1__NODE_STATE__ONLINE;
    s.time_ms = 1795459165553u;
    s.firmware_version = "0.1.0";
    s.interval_ms = 1000;
    s.backlog_frames = 3;
    s.n_sensors = 2;
    s.sensors = sensors;
    size_t len = 0;
    CU_ASSERT_FATAL(wire_status_encode(&s, key, sizeof key_a, out, cap, &len) == 0);
    return len;
}

static size_t command(uint64_t boot_id, uint64_t counter, const char *cmd, uint8_t *out, size_t cap)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    c.device_id = "node-7";
    c.boot_id = boot_id;
    c.counter = counter;
    c.cmd = (char *)cmd;
    c.id = "op-1";
    c.interval_ms = 5000;
    size_t len = 0;
    CU_ASSERT_FATAL(wire_command_encode(&c, key_a, sizeof key_a, out, cap, &len) == 0);
    return len;
}

static void test_status_round_trip(void)
{
    uint8_t buf[1024];
    struct wire_decoder d;
    Citygate__V1__Status *s = NULL;
    size_t len = birth(key_a, "node-7", buf, sizeof buf);
    decoder(&d);
    CU_ASSERT_EQUAL(memcmp(buf, "CS", 2), 0);
    CU_ASSERT_EQUAL(buf[2], WIRE_MAJOR);
    CU_ASSERT_EQUAL_FATAL(wire_status_decode(&d, buf, len, &s, NULL), 0);
    CU_ASSERT_STRING_EQUAL(s->device_id, "node-7");
    CU_ASSERT_STRING_EQUAL(s->site_id, "site-a");
    CU_ASSERT_EQUAL(s->boot_id, 0x1234567890abcdefu);
    CU_ASSERT_EQUAL(s->state, CITYGATE__V1__NODE_STATE__ONLINE);
    CU_ASSERT_EQUAL(s->time_ms, 1795459165553u);
    CU_ASSERT_STRING_EQUAL(s->firmware_version, "0.1.0");
    CU_ASSERT_EQUAL(s->interval_ms, 1000);
    CU_ASSERT_EQUAL(s->backlog_frames, 3);
    CU_ASSERT_EQUAL_FATAL(s->n_sensors, 2);
    CU_ASSERT_STRING_EQUAL(s->sensors[1]->name, "air");
    CU_ASSERT_STRING_EQUAL(s->sensors[1]->driver, "sim-air");
}

/* Any change of any bit is refused: the tag covers the whole envelope. */
static void test_status_every_bit_flip(void)
{
    uint8_t buf[1024];
    struct wire_decoder d;
    size_t len = birth(key_a, "node-7", buf, sizeof buf);
    decoder(&d);
    for (size_t i = 0; i < len * 8; i++) {
        Citygate__V1__Status *s = NULL;
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        CU_ASSERT(wire_status_decode(&d, buf, len, &s, NULL) < 0);
        CU_ASSERT_PTR_NULL(s);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
}

/* What an anonymous publisher can send is refused, each with its reason. */
static void test_status_refusals(void)
{
    uint8_t buf[1024];
    struct wire_decoder d;
    struct wire_diag diag;
    Citygate__V1__Status *s = NULL;
    static const char json[] = "{\"state\":\"dead\"}";
    decoder(&d);

    CU_ASSERT_EQUAL(wire_status_decode(&d, (const uint8_t *)json, sizeof json - 1, &s, &diag),
                    -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(diag.err, -WIRE_EMALFORMED);

    size_t len = birth(key_b, "node-7", buf, sizeof buf); /* another key */
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &s, &diag), -WIRE_EBAD_SIGNATURE);

    len = birth(key_a, "node-8", buf, sizeof buf); /* a device without a key */
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &s, &diag), -WIRE_EUNKNOWN_DEVICE);

    /* A signed command is not a status, nor a status a frame or a command. */
    len = command(7, 1, "rebirth", buf, sizeof buf);
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &s, &diag), -WIRE_EMALFORMED);
    len = birth(key_a, "node-7", buf, sizeof buf);
    Citygate__V1__Frame *f = NULL;
    Citygate__V1__Command *c = NULL;
    CU_ASSERT_EQUAL(wire_decode(&d, buf, len, &f, &diag), -WIRE_EMALFORMED);
    CU_ASSERT_EQUAL(wire_command_decode(&d, buf, len, &c, &diag), -WIRE_EMALFORMED);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_PTR_NULL(c);

    /* Over the control size cap, before anything else is looked at. */
    static uint8_t big[WIRE_MAX_CONTROL_BYTES + 1];
    memcpy(big, buf, len);
    CU_ASSERT_EQUAL(wire_status_decode(&d, big, sizeof big, &s, &diag), -WIRE_ETOO_LARGE);
}

static void test_status_required_fields(void)
{
    uint8_t buf[512];
    struct wire_decoder d;
    struct wire_diag diag;
    Citygate__V1__Status s = CITYGATE__V1__STATUS__INIT, *out = NULL;
    size_t len = 0;
    decoder(&d);
    s.device_id = "node-7";
    s.site_id = "site-a";
    s.boot_id = 9;
    s.state = CITYGATE__V1__NODE_STATE__OFFLINE;
    CU_ASSERT_FATAL(wire_status_encode(&s, key_a, sizeof key_a, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &out, &diag), 0);

    s.state = CITYGATE__V1__NODE_STATE__NODE_STATE_UNSPECIFIED;
    CU_ASSERT_FATAL(wire_status_encode(&s, key_a, sizeof key_a, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &out, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "state");

    s.state = CITYGATE__V1__NODE_STATE__OFFLINE;
    s.boot_id = 0;
    CU_ASSERT_FATAL(wire_status_encode(&s, key_a, sizeof key_a, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &out, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "boot_id");

    s.boot_id = 9;
    s.site_id = "";
    CU_ASSERT_FATAL(wire_status_encode(&s, key_a, sizeof key_a, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_status_decode(&d, buf, len, &out, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "site_id");
}

static void test_command_round_trip(void)
{
    uint8_t buf[512];
    struct wire_decoder d;
    struct wire_diag diag;
    Citygate__V1__Command *c = NULL;
    decoder(&d);
    size_t len = command(77, 1000, "set_interval", buf, sizeof buf);
    CU_ASSERT_EQUAL(memcmp(buf, "CC", 2), 0);
    CU_ASSERT_EQUAL_FATAL(wire_command_decode(&d, buf, len, &c, &diag), 0);
    CU_ASSERT_STRING_EQUAL(c->device_id, "node-7");
    CU_ASSERT_EQUAL(c->boot_id, 77);
    CU_ASSERT_EQUAL(c->counter, 1000);
    CU_ASSERT_STRING_EQUAL(c->cmd, "set_interval");
    CU_ASSERT_STRING_EQUAL(c->id, "op-1");
    CU_ASSERT_EQUAL(c->interval_ms, 5000);

    c = NULL;
    len = command(77, 0, "rebirth", buf, sizeof buf);
    CU_ASSERT_EQUAL(wire_command_decode(&d, buf, len, &c, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "counter");
    len = command(0, 5, "rebirth", buf, sizeof buf);
    CU_ASSERT_EQUAL(wire_command_decode(&d, buf, len, &c, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "boot_id");
    len = command(77, 5, "", buf, sizeof buf);
    CU_ASSERT_EQUAL(wire_command_decode(&d, buf, len, &c, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "cmd");

    known_key = key_b; /* the node holds another key: a forgery */
    len = command(77, 6, "rebirth", buf, sizeof buf);
    CU_ASSERT_EQUAL(wire_command_decode(&d, buf, len, &c, &diag), -WIRE_EBAD_SIGNATURE);
    known_key = key_a;
    CU_ASSERT_PTR_NULL(c);
}

static void test_update_report(void)
{
    uint8_t buf[4096], bitmap[3] = {0xff, 0x0f, 0x01};
    struct wire_decoder d;
    struct wire_diag diag;
    Citygate__V1__UpdateReport r = CITYGATE__V1__UPDATE_REPORT__INIT, *got = NULL;
    Citygate__V1__Command *c = NULL;
    size_t len = 0;
    decoder(&d);
    r.device_id = "node-7";
    r.site_id = "site-a";
    r.boot_id = 77;
    r.state = CITYGATE__V1__UPDATE_STATE__DOWNLOADING;
    r.transfer_id = "fw-2.0.0";
    r.size = 70000;
    r.held_bytes = 4096 * 13;
    r.bitmap = (ProtobufCBinaryData){sizeof bitmap, bitmap};
    r.refused = 2;
    CU_ASSERT_FATAL(wire_update_encode(&r, key_a, sizeof key_a, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(memcmp(buf, "CU", 2), 0);
    CU_ASSERT_EQUAL_FATAL(wire_update_decode(&d, buf, len, &got, &diag), 0);
    CU_ASSERT_EQUAL(got->state, CITYGATE__V1__UPDATE_STATE__DOWNLOADING);
    CU_ASSERT_STRING_EQUAL(got->transfer_id, "fw-2.0.0");
    CU_ASSERT_EQUAL(got->held_bytes, 4096 * 13);
    CU_ASSERT(got->bitmap.len == 3 && memcmp(got->bitmap.data, bitmap, 3) == 0);
    CU_ASSERT_EQUAL(got->refused, 2);
    /* A report is not a command, nor the other way round. */
    CU_ASSERT_EQUAL(wire_command_decode(&d, buf, len, &c, &diag), -WIRE_EMALFORMED);
    len = command(77, 5, "rebirth", buf, sizeof buf);
    CU_ASSERT_EQUAL(wire_update_decode(&d, buf, len, &got, &diag), -WIRE_EMALFORMED);
    /* Required: a state. And forged ones are refused. */
    r.state = CITYGATE__V1__UPDATE_STATE__UPDATE_STATE_UNSPECIFIED;
    CU_ASSERT_FATAL(wire_update_encode(&r, key_a, sizeof key_a, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_update_decode(&d, buf, len, &got, &diag), -WIRE_EMISSING_FIELD);
    CU_ASSERT_STRING_EQUAL(diag.detail, "state");
    r.state = CITYGATE__V1__UPDATE_STATE__CONFIRMED;
    CU_ASSERT_FATAL(wire_update_encode(&r, key_b, sizeof key_b, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_update_decode(&d, buf, len, &got, &diag), -WIRE_EBAD_SIGNATURE);
}

static void test_kind_names(void)
{
    CU_ASSERT_STRING_EQUAL(wire_kind_name(WIRE_KIND_FRAME), "frame");
    CU_ASSERT_STRING_EQUAL(wire_kind_name(WIRE_KIND_STATUS), "status");
    CU_ASSERT_STRING_EQUAL(wire_kind_name(WIRE_KIND_COMMAND), "command");
    CU_ASSERT_STRING_EQUAL(wire_kind_name(WIRE_KIND_UPDATE), "update report");
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"status: round trip", test_status_round_trip},
        {"status: every bit flip is refused", test_status_every_bit_flip},
        {"status: unsigned, forged, unknown and other kinds refused", test_status_refusals},
        {"status: required fields", test_status_required_fields},
        {"command: round trip, required fields, forgery", test_command_round_trip},
        {"update report: round trip, kinds, required state, forgery", test_update_report},
        {"kind names", test_kind_names},
        {NULL, NULL},
    };
    return cu_main("wire_control", tests);
}
