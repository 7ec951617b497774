/*
 * messages.c -- alert and quarantine messages as text (messages.h).
 *
 * Every encoder writes into caller storage and says GW_EFULL rather than
 * cut a message short: a truncated JSON object or topic would be published
 * as if it were whole.
 */
#include "messages.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "err.h"
#include "numtext.h"
#include "wire.h"

/* n from snprintf() into cap bytes: the length, or GW_EFULL when it did not fit. */
static int fitted(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? GW_EFULL : n;
}

int gw_msg_alert_topic(const struct gw_alert_event *ev, char *buf, size_t cap)
{
    /* One retained message per (rule, series): a rule may watch several lanes of a node. */
    int n = fitted(snprintf(buf, cap, "city/v1/alerts/%s/%s/%s/%s-%" PRIu32, ev->site, ev->node,
                            ev->rule, ev->quantity_store, ev->lane),
                   cap);
    if (n < 0)
        return n;
    for (char *c = buf; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return n;
}

int gw_msg_alert_json(const struct gw_alert_event *ev, char *buf, size_t cap)
{
    char value[GW_NUMTEXT_MAX];
    /* The shortest text that reads back to the value; JSON has no NaN or infinity. */
    int value_len = (int)gw_numtext_double(isfinite(ev->value) ? ev->value : 0.0, value);
    return fitted(snprintf(buf, cap,
                           "{\"rule\":\"%s\",\"site\":\"%s\",\"node\":\"%s\",\"quantity\":\"%s\","
                           "\"lane\":%" PRIu32 ",\"state\":\"%s\",\"previous\":\"%s\","
                           "\"cause\":\"%s\",\"value\":%.*s,\"timestamp_ms\":%" PRIu64
                           ",\"changed_ms\":%" PRIu64 "}",
                           ev->rule, ev->site, ev->node, ev->quantity, ev->lane,
                           gw_alert_level_name(ev->new_level), gw_alert_level_name(ev->old_level),
                           gw_alert_cause_name(ev->cause), value_len, value, ev->timestamp_ms,
                           ev->now_ms),
                  cap);
}

int gw_msg_alert_line(struct gw_lpbuf *b, const struct gw_alert_event *ev)
{
    struct gw_lp_line line;
    char lane[GW_NUMTEXT_MAX + 1];
    lane[gw_numtext_int(ev->lane, lane)] = '\0';
    gw_lp_begin(&line, b, "alerts");
    gw_lp_tag(&line, "lane", lane);
    gw_lp_tag(&line, "node", ev->node);
    /* The quantity is part of the series: one frame can change a rule's state on several. */
    gw_lp_tag(&line, "quantity", ev->quantity_store);
    gw_lp_tag(&line, "rule", ev->rule);
    gw_lp_tag(&line, "site", ev->site);
    gw_lp_field_string(&line, "state", gw_alert_level_name(ev->new_level));
    gw_lp_field_string(&line, "previous", gw_alert_level_name(ev->old_level));
    gw_lp_field_string(&line, "cause", gw_alert_cause_name(ev->cause));
    gw_lp_field_int(&line, "level", ev->new_level);
    if (!isnan(ev->value))
        gw_lp_field_float(&line, "value", ev->value);
    return gw_lp_end(&line, (int64_t)ev->now_ms);
}

int gw_msg_quarantine_topic(const struct gw_topic *t, char *buf, size_t cap)
{
    if (!t)
        return fitted(snprintf(buf, cap, "city/v1/quarantine/_/_"), cap);
    return fitted(snprintf(buf, cap, "city/v1/quarantine/%s/%s", t->site, t->node), cap);
}

int gw_msg_quarantine_json(const struct gw_msg_quarantine *q, char *buf, size_t cap)
{
    char sha_hex[2 * 64 + 1];
    size_t shown = q->len < q->max_shown ? q->len : q->max_shown;
    if (q->sha_len > 64 || cap < GW_MSG_QUARANTINE_CAP(shown))
        return GW_EFULL;
    wire_hex_encode(q->sha, q->sha_len, sha_hex);
    int head = snprintf(buf, 1024,
                        "{\"reason\":\"%s\",\"text\":\"%s\",\"received_ms\":%" PRIu64
                        ",\"payload_bytes\":%zu,\"payload_sha256\":\"%s\",\"payload_hex\":\"",
                        gw_reject_name(q->reason), gw_reject_text(q->reason), q->received_ms,
                        q->len, sha_hex);
    if (head < 0 || head >= 1024)
        return GW_EFULL;
    size_t n = (size_t)head;
    wire_hex_encode(q->payload, shown, buf + n);
    n += 2 * shown;
    buf[n++] = '"';
    buf[n++] = '}';
    buf[n] = '\0';
    return (int)n;
}
