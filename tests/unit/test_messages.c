/*
 * test_messages.c -- the alert and quarantine messages, byte for byte
 * against the formats of docs/gateway.md, and their refusal to be cut short.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "messages.h"

static struct gw_alert_event event(void)
{
    struct gw_alert_event ev = {
        .rule = "Slow-Traffic",
        .site = "Site-A",
        .node = "node-1",
        .quantity = "SPEED",
        .quantity_store = "speed",
        .lane = 2,
        .old_level = GW_ALERT_OK,
        .new_level = GW_ALERT_CRIT,
        .cause = GW_CAUSE_THRESHOLD,
        .value = 12.5,
        .timestamp_ms = 1700000000123ULL,
        .now_ms = 1700000000456ULL,
    };
    return ev;
}

static void test_alert_json_and_topic(void)
{
    struct gw_alert_event ev = event();
    char buf[512];
    const char *want = "{\"rule\":\"Slow-Traffic\",\"site\":\"Site-A\",\"node\":\"node-1\","
                       "\"quantity\":\"SPEED\",\"lane\":2,\"state\":\"crit\",\"previous\":\"ok\","
                       "\"cause\":\"threshold\",\"value\":12.5,\"timestamp_ms\":1700000000123,"
                       "\"changed_ms\":1700000000456}";
    CU_ASSERT_EQUAL(gw_msg_alert_json(&ev, buf, sizeof buf), (int)strlen(want));
    CU_ASSERT_STRING_EQUAL(buf, want);
    /* JSON has no NaN: a series without a value says 0. */
    ev.value = NAN;
    CU_ASSERT(gw_msg_alert_json(&ev, buf, sizeof buf) > 0);
    CU_ASSERT(strstr(buf, "\"value\":0,") != NULL);
    CU_ASSERT_EQUAL(gw_msg_alert_json(&ev, buf, strlen(want) - 5), GW_EFULL);

    const char *topic = "city/v1/alerts/site-a/node-1/slow-traffic/speed-2";
    CU_ASSERT_EQUAL(gw_msg_alert_topic(&ev, buf, sizeof buf), (int)strlen(topic));
    CU_ASSERT_STRING_EQUAL(buf, topic);
    CU_ASSERT_EQUAL(gw_msg_alert_topic(&ev, buf, strlen(topic)), GW_EFULL);
}

static void test_alert_line(void)
{
    struct gw_alert_event ev = event();
    char storage[512];
    struct gw_lpbuf b;
    const char *want = "alerts,lane=2,node=node-1,quantity=speed,rule=Slow-Traffic,site=Site-A "
                       "state=\"crit\",previous=\"ok\",cause=\"threshold\",level=2i,value=12.5 "
                       "1700000000456\n";
    gw_lpbuf_init(&b, storage, sizeof storage);
    CU_ASSERT_EQUAL(gw_msg_alert_line(&b, &ev), 0);
    CU_ASSERT_EQUAL(b.len, strlen(want));
    CU_ASSERT(b.len == strlen(want) && memcmp(storage, want, b.len) == 0);
    /* No value: the field is left out. */
    ev.value = NAN;
    gw_lpbuf_init(&b, storage, sizeof storage);
    CU_ASSERT_EQUAL(gw_msg_alert_line(&b, &ev), 0);
    CU_ASSERT(b.len < sizeof storage);
    storage[b.len < sizeof storage ? b.len : 0] = '\0';
    CU_ASSERT(strstr(storage, "level=2i 1700000000456\n") != NULL);
    /* A full buffer is left as it was. */
    gw_lpbuf_init(&b, storage, 40);
    CU_ASSERT_EQUAL(gw_msg_alert_line(&b, &ev), GW_EFULL);
    CU_ASSERT_EQUAL(b.len, 0);
}

static void test_quarantine(void)
{
    static const uint8_t payload[] = {0x00, 0x7f, 0xab, 0xff, 0x10};
    uint8_t sha[32];
    char buf[GW_MSG_QUARANTINE_CAP(4)], want[1024], sha_hex[65];
    struct gw_topic t = {GW_TOPIC_DATA, "site-1", "node-9"};

    for (int i = 0; i < 32; i++) {
        sha[i] = (uint8_t)(i * 37 + 5);
        snprintf(sha_hex + 2 * i, 3, "%02x", sha[i]);
    }
    snprintf(want, sizeof want,
             "{\"reason\":\"%s\",\"text\":\"%s\",\"received_ms\":42,\"payload_bytes\":5,"
             "\"payload_sha256\":\"%s\",\"payload_hex\":\"007fabff\"}",
             gw_reject_name(-GW_REJECT_OUT_OF_RANGE), gw_reject_text(-GW_REJECT_OUT_OF_RANGE),
             sha_hex);
    /* Four of the five bytes shown. */
    struct gw_msg_quarantine q = {-GW_REJECT_OUT_OF_RANGE, 42, payload, sizeof payload, sha, 32, 4};
    int n = gw_msg_quarantine_json(&q, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, (int)strlen(want));
    CU_ASSERT_STRING_EQUAL(buf, want);
    CU_ASSERT(strstr(buf, "\"reason\":\"out_of_range\"") != NULL);
    /* No digest: an empty one; a buffer below the bound: refused. */
    q.len = 2;
    q.sha_len = 0;
    n = gw_msg_quarantine_json(&q, buf, sizeof buf);
    CU_ASSERT(n > 0 && strstr(buf, "\"payload_sha256\":\"\",\"payload_hex\":\"007f\"}") != NULL);
    q = (struct gw_msg_quarantine){
        -GW_REJECT_OUT_OF_RANGE, 42, payload, sizeof payload, sha, 32, 5};
    CU_ASSERT_EQUAL(gw_msg_quarantine_json(&q, buf, sizeof buf), GW_EFULL);

    CU_ASSERT_EQUAL(gw_msg_quarantine_topic(&t, buf, sizeof buf),
                    (int)strlen("city/v1/quarantine/site-1/node-9"));
    CU_ASSERT_STRING_EQUAL(buf, "city/v1/quarantine/site-1/node-9");
    CU_ASSERT(gw_msg_quarantine_topic(NULL, buf, sizeof buf) > 0);
    CU_ASSERT_STRING_EQUAL(buf, "city/v1/quarantine/_/_");
    CU_ASSERT_EQUAL(gw_msg_quarantine_topic(&t, buf, 10), GW_EFULL);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"alert JSON and topic", test_alert_json_and_topic},
        {"alert line", test_alert_line},
        {"quarantine record and topic", test_quarantine},
        {NULL, NULL},
    };
    return cu_main("messages", tests);
}
