/*
 * pipeline.h -- one frame's way through the core, in the order of
 * ARCHITECTURE.md: decode and verify, validate, dedup, (the caller journals
 * it,) then windows and rules.
 *
 * Admission and commit are separate calls so that the adapter can journal an
 * admitted frame between them and acknowledge it only then. Nothing here does
 * I/O: aggregates, alerts and refusals leave through callbacks.
 *
 * One struct gw_pipeline belongs to one thread at a time (the gateway holds
 * a mutex around it).
 */
#ifndef CITYGATE_GW_PIPELINE_H
#define CITYGATE_GW_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "registry.h"
#include "rules.h"
#include "validate.h"
#include "window.h"

struct gw_pipeline_config {
    size_t max_frame_bytes;
    struct gw_validate_limits limits;
    size_t max_devices;
    uint64_t dedup_window;
    struct gw_windows_config windows;
    const struct gw_rule_def *rules; /* borrowed for the call */
    size_t n_rules;
};

/* Counters the gateway exports; all monotonic except where noted. */
struct gw_pipeline_stats {
    uint64_t frames_in;
    uint64_t frames_accepted;
    uint64_t rejected[GW_REJECT_N]; /* by enum gw_reject */
    uint64_t readings_in;
    uint64_t readings_not_good[8]; /* by Citygate__V1__Quality */
    uint64_t readings_folded;
    uint64_t vehicles_folded; /* vehicle records folded into their lanes' windows */
    uint64_t status_messages, births, deaths;
    uint64_t status_rejected[GW_REJECT_N]; /* status messages refused, by enum gw_reject */
    uint64_t alerts[3];                    /* notified changes into OK, WARN, CRIT */
    uint64_t alert_state_refused;
    uint64_t windows_incomplete; /* aggregates not emitted: see gw_pipeline_mark_incomplete() */
};

/* What admission found: the frame and its dedup ticket, valid until the next admit. */
struct gw_admitted {
    const Citygate__V1__Frame *frame;
    const struct gw_device *device;
    struct gw_dedup_ticket ticket;
};

/*
 * A message as it arrived: its topic, parsed once by the caller
 * (gw_topic_parse(); NULL for a topic that did not parse), its payload (both
 * borrowed for the call) and the gateway's clock at its arrival.
 */
struct gw_arrival {
    const struct gw_topic *topic;
    const uint8_t *payload;
    size_t len;
    uint64_t now_ms;
};

/*
 * Where the pipeline sends what it makes: the aggregates of closed windows
 * to emit(emit_ctx, agg) and alert state changes to alert(alert_ctx, ev).
 * Borrowed for each call that takes it; each call says which may be NULL.
 */
struct gw_pipeline_out {
    gw_window_emit_fn emit;
    void *emit_ctx;
    gw_alert_fn alert;
    void *alert_ctx;
};

struct gw_pipeline;

/*
 * Builds the core for cfg. reg is borrowed and may be replaced later with
 * gw_pipeline_set_registry(). Returns 0 and sets *out (caller frees with
 * gw_pipeline_free()), GW_ENOMEM, or GW_ECONFIG with why filled.
 */
int gw_pipeline_new(const struct gw_pipeline_config *cfg, const struct gw_registry *reg,
                    struct gw_pipeline **out, char *why, size_t why_len);

void gw_pipeline_free(struct gw_pipeline *p);

/* Uses reg (borrowed) from now on; devices no longer in it are forgotten by dedup. */
void gw_pipeline_set_registry(struct gw_pipeline *p, const struct gw_registry *reg);

/*
 * Replaces the rules with n_rules new ones (borrowed; copied). Alert states
 * carry over as gw_rules_carry() says: unchanged rules keep theirs, changed
 * ones are re-evaluated and removed ones cleared, the changes going to
 * out->alert (may be NULL) at gateway time now_ms. Returns 0, or GW_ECONFIG
 * (why filled) / GW_ENOMEM with the old rules kept and nothing notified.
 */
int gw_pipeline_set_rules(struct gw_pipeline *p, const struct gw_rule_def *defs, size_t n_rules,
                          uint64_t now_ms, const struct gw_pipeline_out *out, char *why,
                          size_t why_len);

/*
 * Admits one data message m (borrowed). Returns 0 with *out filled (the
 * frame lives until the next admit), or GW_EREJECTED, counted by reason,
 * with *diag (may be NULL) filled with the reason. A missing or status
 * topic is refused (GW_REJECT_BAD_TOPIC) here; give status messages to
 * gw_pipeline_status().
 */
int gw_pipeline_admit(struct gw_pipeline *p, const struct gw_arrival *m, struct gw_admitted *out,
                      struct gw_reject_diag *diag);

/*
 * Records an admitted (and journaled) frame: dedup, windows, then the raw-value
 * rules, whose state changes go to out->alert (NULL while replaying the
 * journal: state is rebuilt, nothing is notified twice). The frame moves its
 * node's clock; windows of that node it makes due go to out->emit at once
 * (see gw_windows_frame_clock()), or, when that is NULL, wait for the next
 * tick. Returns 0 (frames_accepted), or GW_EREJECTED, counted by reason with
 * *diag (may be NULL) filled, when dedup has recorded the frame since its
 * admission (a duplicate, or a replay of a boot left behind): nothing else
 * is done, and the caller must not count it as its node's frame.
 */
int gw_pipeline_commit(struct gw_pipeline *p, const struct gw_admitted *a, uint64_t now_ms,
                       const struct gw_pipeline_out *out, struct gw_reject_diag *diag);

/*
 * A node whose values came too late for their windows, or whose frame is
 * further behind its arrival than the late horizon: for a log line.
 */
struct gw_late_report {
    char node[65], site[65];
    uint64_t values;    /* too late, of the frame just committed (may be 0) */
    uint64_t total;     /* of the node since the start */
    uint64_t behind_ms; /* the frame's timestamp behind its arrival */
};

/* How often one node's too-late values are reported at most. */
#define GW_LATE_REPORT_EVERY_MS 60000u

/*
 * After gw_pipeline_commit(): 1 and *out filled when the frame's values came
 * too late for their windows and its node was not reported in the last
 * GW_LATE_REPORT_EVERY_MS (the caller logs it), else 0.
 */
int gw_pipeline_late_report(struct gw_pipeline *p, struct gw_late_report *out);

/*
 * A message m on city/v1/<site>/<node>/status (its topic parsed, not NULL):
 * a status signed by the device (wire_status_decode(), docs/
 * data-model.md "Signed status and commands"), naming the topic's site and
 * node. A death (the node's MQTT will) fires the absence rules of its
 * series (alerts to out->alert, which may be NULL), unless the node's
 * frames already come from another boot. Returns
 * 1 for a death, 0 for a birth, or GW_EREJECTED, counted by reason in
 * status_rejected, with *diag (may be NULL) filled with the reason: unsigned, forged or malformed
 * messages, a topic/id mismatch, or a death of an old boot (replay). Ends
 * the life of the last admitted frame (they share the decode arena).
 */
int gw_pipeline_status(struct gw_pipeline *p, const struct gw_arrival *m,
                       const struct gw_pipeline_out *out, struct gw_reject_diag *diag);

/*
 * Time passes: ticks the rules (alerts to out->alert, which may be NULL) and
 * closes the windows whose grace has passed, of at most max_nodes nodes
 * (out->emit, not NULL, gets each aggregate). Returns what
 * gw_windows_advance() returned: 1 means call again, the rest is due.
 */
int gw_pipeline_tick(struct gw_pipeline *p, uint64_t now_ms, size_t max_nodes,
                     const struct gw_pipeline_out *out);

/*
 * Recovery replays a journal that no longer holds what arrived before
 * first_arrival_ms (its start was trimmed and no snapshot could be
 * restored): windows that may hold such values (those starting before
 * first_arrival_ms + windows.max_ahead) are rebuilt from part of their data,
 * so their aggregates are never emitted, only counted (windows_incomplete),
 * and a complete point already in the store is never overwritten by a
 * partial one. Kept in snapshots.
 */
void gw_pipeline_mark_incomplete(struct gw_pipeline *p, uint64_t first_arrival_ms);

/*
 * The gateway starts again at now_ms after a time down (gw_windows_resume()).
 * The journal records it: its replay calls this again at the same place.
 */
void gw_pipeline_resume(struct gw_pipeline *p, uint64_t now_ms);

/* The journal record of a resume: this topic (no MQTT topic starts with '$' here), no payload. */
#define GW_PIPELINE_RESUME_TOPIC "$citygate/resume"

/* Emits every open window now (shutdown). */
int gw_pipeline_flush(struct gw_pipeline *p, gw_window_emit_fn emit, void *ctx);

/*
 * Serialises the state a restart needs (dedup and windows; alert states are
 * rebuilt from the next readings) into a buffer the caller frees with free().
 * Returns 0 or GW_ENOMEM.
 */
int gw_pipeline_snapshot(const struct gw_pipeline *p, uint8_t **buf, size_t *len);

/*
 * Restores a snapshot (borrowed) into a pipeline that has seen no frame yet.
 * Returns 0, or GW_EINVAL for a snapshot of another version or configuration,
 * or a damaged one (the pipeline is then as new), or GW_ENOMEM.
 */
int gw_pipeline_restore(struct gw_pipeline *p, const uint8_t *buf, size_t len);

void gw_pipeline_stats(const struct gw_pipeline *p, struct gw_pipeline_stats *out);
void gw_pipeline_window_stats(const struct gw_pipeline *p, struct gw_windows_stats *out);
void gw_pipeline_dedup_totals(const struct gw_pipeline *p, struct gw_dedup_totals *out);

/* gw_dedup_each() over the pipeline's devices (for per-node metrics). */
void gw_pipeline_each_device(const struct gw_pipeline *p,
                             void (*fn)(void *ctx, const char *device_id,
                                        const struct gw_dedup_stats *st),
                             void *ctx);

/* gw_rules_each_open() over the pipeline's rules: every open alert. */
void gw_pipeline_each_alert(const struct gw_pipeline *p, gw_alert_fn fn, void *ctx);

/* gw_dedup_device_stats() of the pipeline's dedup: 0, or GW_ENOTFOUND before its first frame. */
int gw_pipeline_device_stats(const struct gw_pipeline *p, const char *device_id,
                             struct gw_dedup_stats *out);

/* gw_dedup_heap_bytes() of the pipeline's dedup: walks every device (bench, tests). */
size_t gw_pipeline_dedup_heap_bytes(const struct gw_pipeline *p);
void gw_pipeline_rules_stats(const struct gw_pipeline *p, struct gw_rules_stats *out);

#endif
