/*
 * test_validate.c -- topic parsing and reserved names, every refusal reason of
 * gw_validate_frame() with its boundaries, the grammar and length of every
 * string field, the registry's sensor lists, NaN and infinities, per-device
 * range overrides, and the reason names.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "registry.h"
#include "validate.h"

#define KEY32 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define NOW 1795000000000ULL

static const char registry_text[] = "[device node-0001]\n"
                                    "site = ring-north\n"
                                    "key = " KEY32 "\n"
                                    "sensors = loop-1,loop-2,opc\n"
                                    "range.SPEED = 0..250\n"
                                    "[device node-0002]\n"
                                    "site = ring-north\n"
                                    "key = " KEY32 "\n";

static struct gw_registry *reg;
static const struct gw_device *dev1, *dev2;
static const struct gw_validate_limits limits = {.max_skew_ms = 5000, .max_age_ms = 3600000};

/* A valid frame from node-0001, rebuilt before each case. */
static Citygate__V1__Frame frame;
static Citygate__V1__Reading readings[4];
static Citygate__V1__Reading *reading_ptrs[4];
static Citygate__V1__Vehicle vehicle;
static Citygate__V1__Vehicle *vehicle_ptrs[1];
static struct gw_topic topic;

static void set_reading(int i, int quantity, int unit, double value, int quality, uint32_t lane,
                        const char *sensor_id)
{
    static const Citygate__V1__Reading r0 = CITYGATE__V1__READING__INIT;
    readings[i] = r0;
    readings[i].quantity = quantity;
    readings[i].unit = unit;
    readings[i].value = value;
    readings[i].quality = quality;
    readings[i].lane = lane;
    readings[i].sensor_id = (char *)sensor_id;
    reading_ptrs[i] = &readings[i];
}

static void reset_frame(void)
{
    static const Citygate__V1__Frame f0 = CITYGATE__V1__FRAME__INIT;
    static const Citygate__V1__Vehicle v0 = CITYGATE__V1__VEHICLE__INIT;

    frame = f0;
    frame.device_id = "node-0001";
    frame.site_id = "ring-north";
    frame.boot_id = 7;
    frame.seq = 42;
    frame.timestamp_ms = NOW;
    frame.interval_ms = 60000;
    set_reading(0, CITYGATE__V1__QUANTITY__SPEED, CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR, 52.5,
                CITYGATE__V1__QUALITY__GOOD, 1, "loop-1");
    set_reading(1, CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT, CITYGATE__V1__UNIT__VEHICLES, 12,
                CITYGATE__V1__QUALITY__GOOD, 2, "loop-2");
    readings[1].vehicle_class = CITYGATE__V1__VEHICLE_CLASS__TRUCK;
    /* A failed sensor: placeholder value, not range-checked. */
    set_reading(2, CITYGATE__V1__QUANTITY__PM2_5, CITYGATE__V1__UNIT__MICROGRAMS_PER_CUBIC_METRE,
                NAN, CITYGATE__V1__QUALITY__BAD_TIMEOUT, 0, "opc");
    set_reading(3, CITYGATE__V1__QUANTITY__TEMPERATURE, CITYGATE__V1__UNIT__DEGREES_CELSIUS, -12.5,
                CITYGATE__V1__QUALITY__GOOD, 0, "");
    frame.readings = reading_ptrs;
    frame.n_readings = 4;
    vehicle = v0;
    vehicle.offset_ms = -250;
    vehicle.lane = 1;
    vehicle.speed_kmh = 48.0f;
    vehicle.length_m = 4.5f;
    vehicle_ptrs[0] = &vehicle;
    frame.vehicles = vehicle_ptrs;
    frame.n_vehicles = 1;
    CU_ASSERT_FATAL(gw_topic_parse("city/v1/ring-north/node-0001/data", 33, &topic) == 0);
}

/*
 * Validates the current frame as dev with limits l: 0 when accepted, else
 * the reason, which must come with GW_EREJECTED (never in the return).
 */
static int refusal(const struct gw_device *dev, const struct gw_validate_limits *l)
{
    struct gw_reject_diag diag = {0, -2, ""};
    int rc = gw_validate_frame(dev, &topic, &frame, NOW, l, &diag);
    CU_ASSERT(rc == 0 || rc == GW_EREJECTED);
    return rc == 0 ? 0 : diag.reason;
}

/* Validates the current frame as node-0001 and checks the reason (0: accepted) and index. */
static void expect(int reason, int index, int line)
{
    struct gw_reject_diag diag = {0, -2, ""};
    int rc = gw_validate_frame(dev1, &topic, &frame, NOW, &limits, &diag);
    int got = rc == GW_EREJECTED ? diag.reason : rc;
    if (got != reason)
        fprintf(stderr, "\nline %d: got %s (%s), want %s\n", line, gw_reject_name(got), diag.detail,
                gw_reject_name(reason));
    CU_ASSERT_EQUAL(rc, reason ? GW_EREJECTED : 0);
    if (reason) {
        CU_ASSERT_EQUAL(diag.reason, reason);
        CU_ASSERT_EQUAL(diag.index, index);
        CU_ASSERT(diag.detail[0] != '\0');
    }
}
#define EXPECT(reason, index) expect(reason, index, __LINE__)

static void test_setup(void)
{
    struct gw_registry_diag diag;
    CU_ASSERT_FATAL(gw_registry_new(registry_text, strlen(registry_text), &reg, &diag) == 0);
    dev1 = gw_registry_find(reg, "node-0001");
    dev2 = gw_registry_find(reg, "node-0002");
    CU_ASSERT_FATAL(dev1 && dev2);
}

static void test_topics(void)
{
    static const char *bad[] = {
        "city/v2/s/n/data",
        "city/v1//n/data",
        "city/v1/s//data",
        "city/v1/s/n/",
        "city/v1/s/n",
        "city/v1/s/n/cmd",
        "city/v1/s/n/datas",
        "city/v1/s/n/data/x",
        "city/v1/s t/n/data",
        "city/v1/s/n+/data",
        "city/v1/s",
        "",
        "city/v1/alerts/s/n/rule",
        "city/v1/s2345678901234567890123456789012345678901234567890123456789012345/n/data",
    };
    struct gw_topic t;
    const char *ok = "city/v1/ring-north/node_0.1/status";

    CU_ASSERT_EQUAL(gw_topic_parse(ok, strlen(ok), &t), 0);
    CU_ASSERT_EQUAL(t.kind, GW_TOPIC_STATUS);
    CU_ASSERT_STRING_EQUAL(t.site, "ring-north");
    CU_ASSERT_STRING_EQUAL(t.node, "node_0.1");
    /* Only len bytes count: the same text cut before "/status" is not a topic. */
    CU_ASSERT_EQUAL(gw_topic_parse(ok, strlen(ok) - 7, &t), GW_EREJECTED);
    /* A 64-character site is the longest allowed. */
    const char *longest =
        "city/v1/s234567890123456789012345678901234567890123456789012345678901234/n/data";
    CU_ASSERT_EQUAL(gw_topic_parse(longest, strlen(longest), &t), 0);
    CU_ASSERT_EQUAL(t.kind, GW_TOPIC_DATA);
    CU_ASSERT_EQUAL(strlen(t.site), 64);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t.kind = GW_TOPIC_STATUS;
        int rc = gw_topic_parse(bad[i], strlen(bad[i]), &t);
        if (rc != GW_EREJECTED)
            fprintf(stderr, "\naccepted topic %s\n", bad[i]);
        CU_ASSERT_EQUAL(rc, GW_EREJECTED);
    }
}

static void test_valid_frame(void)
{
    reset_frame();
    EXPECT(0, 0);
    /* A device whose registry entry lists no sensors may send any well-formed sensor id. */
    frame.device_id = "node-0002";
    snprintf(topic.node, sizeof topic.node, "node-0002");
    readings[0].sensor_id = "radar-9";
    readings[3].sensor_id = "";
    CU_ASSERT_EQUAL(gw_validate_frame(dev2, &topic, &frame, NOW, &limits, NULL), 0);
}

static void test_topic_and_site_mismatch(void)
{
    reset_frame();
    snprintf(topic.node, sizeof topic.node, "node-0002");
    EXPECT(GW_REJECT_TOPIC_MISMATCH, -1);
    reset_frame();
    snprintf(topic.site, sizeof topic.site, "ring-south");
    EXPECT(GW_REJECT_TOPIC_MISMATCH, -1);
    reset_frame();
    topic.kind = GW_TOPIC_STATUS;
    EXPECT(GW_REJECT_BAD_TOPIC, -1);
    /* Topic and frame agree, but the device was provisioned for another site. */
    reset_frame();
    frame.site_id = "ring-south";
    snprintf(topic.site, sizeof topic.site, "ring-south");
    EXPECT(GW_REJECT_SITE_MISMATCH, -1);
}

static void test_timestamps_at_their_limits(void)
{
    reset_frame();
    frame.timestamp_ms = NOW + limits.max_skew_ms;
    EXPECT(0, 0);
    frame.timestamp_ms = NOW + limits.max_skew_ms + 1;
    EXPECT(GW_REJECT_TIMESTAMP_FUTURE, -1);
    frame.timestamp_ms = NOW - limits.max_age_ms;
    EXPECT(0, 0);
    frame.timestamp_ms = NOW - limits.max_age_ms - 1;
    EXPECT(GW_REJECT_TIMESTAMP_TOO_OLD, -1);
    frame.timestamp_ms = UINT64_MAX;
    EXPECT(GW_REJECT_TIMESTAMP_FUTURE, -1);
    frame.timestamp_ms = 1;
    EXPECT(GW_REJECT_TIMESTAMP_TOO_OLD, -1);
    /* Limits of 0: only the gateway's own millisecond. */
    struct gw_validate_limits zero = {0, 0};
    frame.timestamp_ms = NOW;
    CU_ASSERT_EQUAL(gw_validate_frame(dev1, &topic, &frame, NOW, &zero, NULL), 0);
    frame.timestamp_ms = NOW + 1;
    CU_ASSERT_EQUAL(refusal(dev1, &zero), GW_REJECT_TIMESTAMP_FUTURE);
    frame.timestamp_ms = NOW - 1;
    CU_ASSERT_EQUAL(refusal(dev1, &zero), GW_REJECT_TIMESTAMP_TOO_OLD);
}

static void test_reading_fields(void)
{
    reset_frame();
    readings[3].quantity = 26; /* a quantity from a newer minor version */
    EXPECT(GW_REJECT_UNKNOWN_QUANTITY, 3);
    reset_frame();
    readings[3].quantity = -1;
    EXPECT(GW_REJECT_UNKNOWN_QUANTITY, 3);
    reset_frame();
    readings[0].unit = CITYGATE__V1__UNIT__SECONDS;
    EXPECT(GW_REJECT_UNIT_MISMATCH, 0);
    /* The unit is checked whatever the quality. */
    reset_frame();
    readings[2].unit = CITYGATE__V1__UNIT__PERCENT;
    EXPECT(GW_REJECT_UNIT_MISMATCH, 2);
    reset_frame();
    readings[1].vehicle_class = CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED;
    EXPECT(GW_REJECT_MISSING_FIELD, 1);
    reset_frame();
    readings[1].lane = GW_MAX_LANE;
    EXPECT(0, 0);
    readings[1].lane = GW_MAX_LANE + 1;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 1);
    reset_frame();
    frame.interval_ms = GW_MAX_INTERVAL_MS;
    EXPECT(0, 0);
    frame.interval_ms = GW_MAX_INTERVAL_MS + 1;
    EXPECT(GW_REJECT_OUT_OF_RANGE, -1);
}

static void test_values_not_finite(void)
{
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 4; i++) {
        reset_frame();
        readings[3].value = bad[i];
        EXPECT(GW_REJECT_NOT_FINITE, 3);
        /* The same value with a quality other than GOOD is a placeholder. */
        readings[3].quality = CITYGATE__V1__QUALITY__UNCERTAIN;
        EXPECT(0, 0);
        readings[3].quality = CITYGATE__V1__QUALITY__BAD_RANGE;
        EXPECT(0, 0);
    }
}

/* Every quantity of the table: its min and max are accepted, the next doubles out are not. */
static void test_physical_ranges_at_their_limits(void)
{
    size_t n_checked = 0;
    for (int q = 1; q < 64; q++) {
        const struct gw_quantity *qi = gw_quantity_info(q);
        if (!qi)
            continue;
        n_checked++;
        CU_ASSERT_EQUAL(gw_quantity_from_name(qi->name, strlen(qi->name)), q);
        reset_frame();
        frame.device_id = "node-0002";
        snprintf(topic.node, sizeof topic.node, "node-0002");
        readings[3].quantity = q;
        readings[3].unit = qi->unit;
        readings[3].vehicle_class = CITYGATE__V1__VEHICLE_CLASS__CAR;
        const double vals[] = {qi->min, qi->max, nextafter(qi->min, -INFINITY),
                               nextafter(qi->max, INFINITY)};
        for (int v = 0; v < 4; v++) {
            struct gw_reject_diag diag;
            readings[3].value = vals[v];
            int rc = gw_validate_frame(dev2, &topic, &frame, NOW, &limits, &diag);
            CU_ASSERT_EQUAL(rc, v < 2 ? 0 : GW_EREJECTED);
            if (v >= 2) {
                CU_ASSERT_EQUAL(diag.reason, GW_REJECT_OUT_OF_RANGE);
                CU_ASSERT(strstr(diag.detail, qi->name) != NULL);
            }
        }
    }
    CU_ASSERT_EQUAL(n_checked, 25);
    CU_ASSERT(gw_quantity_info(0) == NULL);
    CU_ASSERT(gw_quantity_info(26) == NULL);
    CU_ASSERT_EQUAL(gw_quantity_from_name("SPEEDS", 6), GW_ENOTFOUND);
    CU_ASSERT_EQUAL(gw_quantity_from_name("SPEEDS", 5), CITYGATE__V1__QUANTITY__SPEED);
}

/* node-0001 narrows SPEED to 0..250; node-0002 keeps the table's 0..300. */
static void test_device_override(void)
{
    double min, max;

    reset_frame();
    readings[0].value = 250;
    EXPECT(0, 0);
    readings[0].value = 250.001;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 0);
    frame.device_id = "node-0002";
    snprintf(topic.node, sizeof topic.node, "node-0002");
    CU_ASSERT_EQUAL(gw_validate_frame(dev2, &topic, &frame, NOW, &limits, NULL), 0);
    readings[0].value = 300.001;
    CU_ASSERT_EQUAL(refusal(dev2, &limits), GW_REJECT_OUT_OF_RANGE);

    CU_ASSERT_EQUAL(gw_quantity_range(dev1, CITYGATE__V1__QUANTITY__SPEED, &min, &max), 0);
    CU_ASSERT(min == 0 && max == 250);
    CU_ASSERT_EQUAL(gw_quantity_range(NULL, CITYGATE__V1__QUANTITY__SPEED, &min, &max), 0);
    CU_ASSERT(min == 0 && max == 300);
    CU_ASSERT_EQUAL(gw_quantity_range(dev1, 99, &min, &max), GW_ENOTFOUND);

    /* A widening override: a device whose gauge datum lets levels go below -100 m. */
    static const char wide[] =
        "[device w]\nsite = s\nkey = " KEY32 "\nrange.WATER_LEVEL = -500..1000\n";
    struct gw_registry *r2;
    struct gw_registry_diag diag;
    CU_ASSERT_FATAL(gw_registry_new(wide, strlen(wide), &r2, &diag) == 0);
    CU_ASSERT_EQUAL(gw_quantity_range(gw_registry_find(r2, "w"),
                                      CITYGATE__V1__QUANTITY__WATER_LEVEL, &min, &max),
                    0);
    CU_ASSERT(min == -500 && max == 1000);
    gw_registry_free(r2);
}

static void test_vehicles(void)
{
    reset_frame();
    vehicle.speed_kmh = NAN;
    EXPECT(GW_REJECT_NOT_FINITE, 0);
    reset_frame();
    vehicle.length_m = INFINITY;
    EXPECT(GW_REJECT_NOT_FINITE, 0);
    reset_frame();
    vehicle.speed_kmh = 300.0f;
    vehicle.length_m = 40.0f;
    vehicle.lane = GW_MAX_LANE;
    vehicle.offset_ms = -86400000;
    EXPECT(0, 0);
    vehicle.speed_kmh = 300.5f;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 0);
    reset_frame();
    vehicle.lane = 0;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 0);
    reset_frame();
    vehicle.offset_ms = 1;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 0);
    reset_frame();
    vehicle.offset_ms = -86400001;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 0);
}

/* Frames whose strings were accepted before they had a grammar. */
static void test_strings(void)
{
    static char long_id[GW_MAX_SENSOR_ID + 2], long_version[40001];
    static const char *const bad_ids[] = {
        "a\nb", "ab\\", "a\\ b", "a\\,b", "a\rb", "a b",  "a,b",      "a=b",         "a\"b",
        "a/b",  "a+b",  "+",     "#",     "\x01", "\x7f", "\xc3\x28", "caf\xc3\xa9", "\xff\xfe",
    };

    memset(long_id, 'x', sizeof long_id - 1);
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        reset_frame();
        readings[3].sensor_id = (char *)bad_ids[i];
        EXPECT(GW_REJECT_BAD_STRING, 3);
        reset_frame();
        vehicle.sensor_id = (char *)bad_ids[i];
        EXPECT(GW_REJECT_BAD_STRING, 0);
        reset_frame();
        frame.site_id = (char *)bad_ids[i];
        EXPECT(GW_REJECT_BAD_STRING, -1);
        reset_frame();
        frame.device_id = (char *)bad_ids[i];
        EXPECT(GW_REJECT_BAD_STRING, -1);
    }
    /* 64 characters is the longest sensor id (node-0002 lists none); 65 is refused. */
    reset_frame();
    frame.device_id = "node-0002";
    snprintf(topic.node, sizeof topic.node, "node-0002");
    long_id[GW_MAX_SENSOR_ID] = '\0';
    readings[3].sensor_id = long_id;
    CU_ASSERT_EQUAL(gw_validate_frame(dev2, &topic, &frame, NOW, &limits, NULL), 0);
    long_id[GW_MAX_SENSOR_ID] = 'x';
    CU_ASSERT_EQUAL(refusal(dev2, &limits), GW_REJECT_BAD_STRING);
    reset_frame();
    frame.site_id = long_id;
    EXPECT(GW_REJECT_BAD_STRING, -1);
    reset_frame();
    frame.device_id = "";
    EXPECT(GW_REJECT_BAD_STRING, -1);

    /* firmware_version: [A-Za-z0-9._+-]{0,64}. */
    Citygate__V1__Health health = CITYGATE__V1__HEALTH__INIT;
    reset_frame();
    frame.health = &health;
    health.firmware_version = "1.4.2+g3c9e1f0";
    EXPECT(0, 0);
    health.firmware_version = "";
    EXPECT(0, 0);
    memset(long_version, 'v', sizeof long_version - 1);
    long_version[GW_MAX_FIRMWARE_VERSION] = '\0';
    health.firmware_version = long_version;
    EXPECT(0, 0);
    long_version[GW_MAX_FIRMWARE_VERSION] = 'v';
    EXPECT(GW_REJECT_BAD_STRING, -1);
    health.firmware_version = "1.4 beta";
    EXPECT(GW_REJECT_BAD_STRING, -1);
    health.firmware_version = "1.4\ncitygate: forged line";
    EXPECT(GW_REJECT_BAD_STRING, -1);

    /* Strings come first: a forged site never reaches a detail that would quote it. */
    struct gw_reject_diag diag;
    reset_frame();
    frame.site_id = "hs-a\ncitygate: forged line";
    frame.timestamp_ms = 1;
    CU_ASSERT_EQUAL(gw_validate_frame(dev1, &topic, &frame, NOW, &limits, &diag), GW_EREJECTED);
    CU_ASSERT_EQUAL(diag.reason, GW_REJECT_BAD_STRING);
    CU_ASSERT_STRING_EQUAL(diag.detail, "site_id: byte 0x0a at 4");
    reset_frame();
    readings[2].sensor_id = "loop\\1";
    gw_validate_frame(dev1, &topic, &frame, NOW, &limits, &diag);
    CU_ASSERT_STRING_EQUAL(diag.detail, "readings[2].sensor_id: byte 0x5c at 4");
    reset_frame();
    readings[1].sensor_id = long_id;
    gw_validate_frame(dev1, &topic, &frame, NOW, &limits, &diag);
    CU_ASSERT_STRING_EQUAL(diag.detail, "readings[1].sensor_id longer than 64 bytes");
}

/* A device whose registry entry lists sensors sends those (or none), nothing else. */
static void test_sensor_list(void)
{
    reset_frame();
    readings[1].sensor_id = "loop-3";
    EXPECT(GW_REJECT_UNKNOWN_SENSOR, 1);
    reset_frame();
    readings[0].sensor_id = "LOOP-1";
    EXPECT(GW_REJECT_UNKNOWN_SENSOR, 0);
    reset_frame();
    readings[0].sensor_id = "loop-";
    EXPECT(GW_REJECT_UNKNOWN_SENSOR, 0);
    reset_frame();
    vehicle.sensor_id = "cam-1";
    EXPECT(GW_REJECT_UNKNOWN_SENSOR, 0);
    reset_frame();
    vehicle.sensor_id = "opc";
    readings[0].sensor_id = "";
    EXPECT(0, 0);
    /* Not-GOOD readings too: the list says which sensors the node has, whatever they read. */
    reset_frame();
    readings[2].sensor_id = "opc-2";
    EXPECT(GW_REJECT_UNKNOWN_SENSOR, 2);
}

static void test_reserved_names(void)
{
    static const char *const reserved[] = {
        "city/v1/quarantine/s/data", "city/v1/s/quarantine/data", "city/v1/alerts/n/data",
        "city/v1/s/data/data",       "city/v1/s/status/status",   "city/v1/s/cmd/data",
        "city/v1/_/_/data",          "city/v1/data/n/status",
    };
    static const char *const allowed[] = {
        "city/v1/Data/n/data",
        "city/v1/s/data-1/data",
        "city/v1/alerts2/n/status",
        "city/v1/s/__/data",
    };
    struct gw_topic t;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        CU_ASSERT_EQUAL(gw_topic_parse(reserved[i], strlen(reserved[i]), &t), GW_EREJECTED);
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        CU_ASSERT_EQUAL(gw_topic_parse(allowed[i], strlen(allowed[i]), &t), 0);
    CU_ASSERT(gw_name_reserved("quarantine", 10));
    CU_ASSERT(!gw_name_reserved("quarantine", 9));
    CU_ASSERT(!gw_name_reserved("", 0));
}

/* The first failing check names the frame: topic before time before readings. */
static void test_check_order(void)
{
    reset_frame();
    readings[0].value = NAN;
    frame.timestamp_ms = 1;
    snprintf(topic.node, sizeof topic.node, "other");
    EXPECT(GW_REJECT_TOPIC_MISMATCH, -1);
    reset_frame();
    readings[0].value = NAN;
    frame.timestamp_ms = 1;
    EXPECT(GW_REJECT_TIMESTAMP_TOO_OLD, -1);
    reset_frame();
    readings[3].value = NAN;
    readings[1].lane = 99;
    EXPECT(GW_REJECT_OUT_OF_RANGE, 1);
}

static void test_reason_names(void)
{
    CU_ASSERT_STRING_EQUAL(gw_reject_name(0), "ok");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(-WIRE_EBAD_SIGNATURE), "bad_signature");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(GW_REJECT_MISSING_FIELD), "missing_field");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(-GW_REJECT_OUT_OF_RANGE), "out_of_range");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(GW_REJECT_TOPIC_MISMATCH), "topic_mismatch");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(GW_REJECT_DUPLICATE), "duplicate");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(GW_REJECT_REPLAY), "replay");
    CU_ASSERT_STRING_EQUAL(gw_reject_name(GW_REJECT_N), "unknown");
    CU_ASSERT_STRING_EQUAL(gw_reject_text(GW_REJECT_N), "unknown error");
    CU_ASSERT_STRING_EQUAL(gw_reject_text(-GW_REJECT_NOT_FINITE), "value not finite");
    for (int e = 1; e < GW_REJECT_N; e++) {
        const char *name = gw_reject_name(-e);
        CU_ASSERT(strcmp(name, "unknown") != 0);
        for (const char *p = name; *p; p++)
            CU_ASSERT((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int o = 1; o < e; o++) {
            CU_ASSERT(strcmp(name, gw_reject_name(-o)) != 0);
            CU_ASSERT(strcmp(gw_reject_text(-e), gw_reject_text(-o)) != 0);
        }
    }
}

static void test_teardown(void)
{
    gw_registry_free(reg);
    reg = NULL;
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"setup", test_setup},
        {"topics", test_topics},
        {"a valid frame", test_valid_frame},
        {"topic and site mismatch", test_topic_and_site_mismatch},
        {"timestamps at their limits", test_timestamps_at_their_limits},
        {"reading fields", test_reading_fields},
        {"strings", test_strings},
        {"sensor list", test_sensor_list},
        {"reserved names", test_reserved_names},
        {"values not finite", test_values_not_finite},
        {"physical ranges at their limits", test_physical_ranges_at_their_limits},
        {"device override", test_device_override},
        {"vehicles", test_vehicles},
        {"check order", test_check_order},
        {"reason names", test_reason_names},
        {"teardown", test_teardown},
        {NULL, NULL},
    };
    return cu_main("validate", tests);
}
