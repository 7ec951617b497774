/*
 * messages.h -- the messages the gateway makes of its own decisions: an
 * alert change as JSON (its MQTT topic and webhook body) and as a line for
 * the store's alerts measurement, and the quarantine record of a refused
 * frame (docs/gateway.md, "Alerts" and "Quarantine").
 *
 * Encoders only, next to lp.c: plain functions over plain structs, nothing
 * sent, logged or allocated, so the wiring in main.c stays wiring and each
 * format is tested by itself. Ids in these messages come from the topic and
 * rule grammars ([A-Za-z0-9._-]), which need no escaping in JSON or topics.
 *
 * Any thread.
 */
#ifndef CITYGATE_GW_MESSAGES_H
#define CITYGATE_GW_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "lp.h"
#include "rules.h"
#include "validate.h"

/*
 * The retained topic of one (rule, series) into buf (cap bytes, NUL-terminated):
 * city/v1/alerts/<site>/<node>/<rule>/<quantity>-<lane>, in lower case.
 * Returns its length, or GW_EFULL when it does not fit.
 */
int gw_msg_alert_topic(const struct gw_alert_event *ev, char *buf, size_t cap);

/*
 * The JSON object of an alert change into buf (cap bytes, NUL-terminated):
 * rule, site, node, quantity (wire name), lane, state, previous, cause,
 * value (the shortest text that reads back to it; 0 when not finite),
 * timestamp_ms, changed_ms. Returns its length, or GW_EFULL.
 */
int gw_msg_alert_json(const struct gw_alert_event *ev, char *buf, size_t cap);

/*
 * Appends the alerts line of an alert change to b, at ev->now_ms: tags lane,
 * node, quantity (store name), rule, site; fields state, previous, cause,
 * level, and value when it is not NaN. Returns 0 or the buffer's error
 * (GW_EFULL: b unchanged).
 */
int gw_msg_alert_line(struct gw_lpbuf *b, const struct gw_alert_event *ev);

/*
 * The quarantine topic of a frame that came on topic t into buf (cap bytes):
 * city/v1/quarantine/<site>/<node>, or city/v1/quarantine/_/_ when t is NULL
 * (a topic that did not parse). Returns its length, or GW_EFULL.
 */
int gw_msg_quarantine_topic(const struct gw_topic *t, char *buf, size_t cap);

/* Bytes gw_msg_quarantine_json() needs for a record that shows `shown` payload bytes. */
#define GW_MSG_QUARANTINE_CAP(shown) (1024 + 2 * (size_t)(shown) + 3)

/* A refused frame, as its quarantine record shows it. Pointers are borrowed for the call. */
struct gw_msg_quarantine {
    int reason; /* enum gw_reject, or a negated wire_err */
    uint64_t received_ms;
    const uint8_t *payload;
    size_t len;
    const uint8_t *sha; /* its SHA-256, sha_len bytes (0: none) */
    size_t sha_len;
    size_t max_shown; /* payload bytes shown at most */
};

/*
 * The quarantine record of refused frame q into buf (cap bytes): reason
 * (gw_reject_name()), text (gw_reject_text()), received_ms, payload_bytes
 * (len), payload_sha256 (the sha_len bytes of sha in hex; "" when sha_len
 * is 0) and payload_hex, the first min(len, max_shown) bytes of payload in
 * hex. Returns its length, or GW_EFULL when cap is below
 * GW_MSG_QUARANTINE_CAP of the bytes shown.
 */
int gw_msg_quarantine_json(const struct gw_msg_quarantine *q, char *buf, size_t cap);

#endif
