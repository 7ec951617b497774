/*
 * acks.h -- operators' acknowledgements of open alerts, after ThingsBoard's
 * alarm model: an open alert is ACTIVE_UNACK until an operator acknowledges
 * it (ACTIVE_ACK), and CLEARED when it returns to ok. An acknowledgement
 * lasts until the alert clears or rises to a higher level (then it needs a
 * new one). Alerts are named by their id, the tail of their retained MQTT
 * topic: <site>/<node>/<rule>/<quantity>-<lane>, in lower case.
 *
 * Kept across restarts in a small file (journal.dir/acks), rewritten
 * whole (written aside, fsynced, renamed) at each change. Alert states are
 * not kept across a restart but rebuilt from the next readings, which
 * notify an open alert again (docs/gateway.md): an acknowledgement read from
 * the file holds once its alert is notified again at its level or below
 * within GW_ACKS_RECONFIRM_MS of the start, and is forgotten otherwise (the
 * alert cleared while the gateway was down). The caller serialises access
 * (the gateway lock).
 */
#ifndef CITYGATE_GW_ACKS_H
#define CITYGATE_GW_ACKS_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define GW_ACKS_MAX 100000 /* acknowledged alerts kept at most */
#define GW_ACK_ID_MAX 300  /* bytes of an alert id, its NUL included */
#define GW_ACKS_RECONFIRM_MS (10u * 60 * 1000)

enum gw_ack_status { GW_ACK_CLEARED, GW_ACK_ACTIVE_UNACK, GW_ACK_ACTIVE_ACK };

struct gw_acks;

/*
 * Loads path (borrowed; copied), a missing file being none, at now_ms; lines
 * that are not "<id> <acked_ms> <level>" are passed over and counted in
 * *bad_lines.
 * Returns 0 and sets *out (caller frees with gw_acks_free()), GW_ENOMEM, or
 * GW_EOS(errno) when the file exists and cannot be read.
 */
int gw_acks_open(const char *path, uint64_t now_ms, struct gw_acks **out, size_t *bad_lines);
void gw_acks_free(struct gw_acks *a);

/* The id of ev's alert into buf (GW_ACK_ID_MAX bytes). Returns its length, or a negative
 * enum gw_err. */
int gw_acks_id(const struct gw_alert_event *ev, char *buf, size_t cap);

/* ev's status as the page shows it (ev->new_level ok: CLEARED). */
enum gw_ack_status gw_acks_status(const struct gw_acks *a, const struct gw_alert_event *ev,
                                  uint64_t *acked_ms);

/* "ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED". */
const char *gw_ack_status_name(enum gw_ack_status s);

/*
 * Acknowledges ev's alert (open) at now_ms and saves. Returns 0, GW_EFULL
 * beyond GW_ACKS_MAX, GW_ENOMEM, or GW_EOS(errno) when the file could not be
 * written: the acknowledgement then holds until a restart.
 */
int gw_acks_ack(struct gw_acks *a, const struct gw_alert_event *ev, uint64_t now_ms);

/*
 * An alert changed state: its acknowledgement ends when it clears or rises,
 * and one read from the file is confirmed when it is notified at its level
 * or below. Returns 1 when one ended (and was saved), else 0.
 */
int gw_acks_changed(struct gw_acks *a, const struct gw_alert_event *ev);

/* Forgets the acknowledgements read from the file that were not confirmed by
 * GW_ACKS_RECONFIRM_MS after the start; saves when any went. */
void gw_acks_expire(struct gw_acks *a, uint64_t now_ms);

/* Acknowledged alerts now. */
size_t gw_acks_count(const struct gw_acks *a);

#endif
