/*
 * pipeline.c -- the core stages wired in order, with their counters.
 *
 * The decode arena is part of the pipeline, so an admitted frame lives until
 * the next admission and costs no allocation. Readings whose quality is not
 * GOOD are counted by quality and kept out of the windows (a dead sensor
 * must not look like a quiet road); the rules still see them, as presence.
 */
#include "pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "pipeline_int.h"
#include "traffic.h"

/* The decoder's key lookup; keeps the device for the rest of the admission. */
static int pipeline_key(void *ctx, const char *device_id, struct wire_key *key)
{
    struct gw_pipeline *p = ctx;
    if (!(p->signer = gw_registry_find(p->reg, device_id)))
        return GW_ENOTFOUND;
    gw_device_key(p->signer, key);
    return 0;
}

int gw_pipeline_new(const struct gw_pipeline_config *cfg, const struct gw_registry *reg,
                    struct gw_pipeline **out, char *why, size_t why_len)
{
    struct gw_rules_diag rd = {0, ""};
    struct gw_pipeline *p = gw_calloc(1, sizeof *p);
    int rc = GW_ENOMEM;

    snprintf(why, why_len, "out of memory");
    if (!p)
        return GW_ENOMEM;
    p->reg = reg;
    p->limits = cfg->limits;
    p->decoder.max_frame_bytes = cfg->max_frame_bytes;
    p->decoder.key_fn = pipeline_key;
    p->decoder.key_ctx = p;
    wire_arena_init(&p->decoder.arena, p->arena, sizeof p->arena);
    if ((rc = gw_dedup_new(cfg->max_devices, cfg->dedup_window, &p->dedup)) != 0)
        goto fail;
    p->windows_config = cfg->windows;
    p->windows_config.max_age_ms = (int64_t)cfg->limits.max_age_ms; /* what validation lets in */
    if (gw_windows_config_check(&p->windows_config, why, why_len) != 0) {
        rc = GW_ECONFIG;
        goto fail;
    }
    if ((rc = gw_windows_new(&p->windows_config, &p->windows)) != 0)
        goto fail;
    p->rules_limits = (struct gw_rules_limits){cfg->max_devices, 256};
    rc = gw_rules_new(cfg->rules, cfg->n_rules, &p->rules_limits, &p->rules, &rd);
    if (rc == GW_ECONFIG)
        snprintf(why, why_len, "%s", rd.message);
    if (rc != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    gw_pipeline_free(p);
    return rc;
}

void gw_pipeline_free(struct gw_pipeline *p)
{
    if (!p)
        return;
    gw_dedup_free(p->dedup);
    gw_windows_free(p->windows);
    gw_rules_free(p->rules);
    gw_free(p);
}

static int keep_registered(void *ctx, const char *device_id)
{
    return gw_registry_find(ctx, device_id) != NULL;
}

void gw_pipeline_set_registry(struct gw_pipeline *p, const struct gw_registry *reg)
{
    p->reg = reg;
    gw_dedup_prune(p->dedup, keep_registered, (void *)reg);
}

/* Counts a refused frame by reason (an enum gw_reject, or a negated
 * wire_err as wire_decode() returns it); returns GW_EREJECTED. */
static int pipeline_reject(struct gw_pipeline *p, int reason, struct gw_reject_diag *diag)
{
    int r = reason < 0 ? -reason : reason;
    if (r > 0 && r < GW_REJECT_N)
        p->stats.rejected[r]++;
    if (diag)
        diag->reason = r;
    return GW_EREJECTED;
}

int gw_pipeline_admit(struct gw_pipeline *p, const struct gw_arrival *m, struct gw_admitted *out,
                      struct gw_reject_diag *diag)
{
    const struct gw_topic *t = m->topic;
    struct wire_diag wd;
    struct gw_reject_diag own;
    Citygate__V1__Frame *f = NULL;
    int rc;

    p->stats.frames_in++;
    if (!diag)
        diag = &own; /* the validator's reason is counted */
    diag->index = -1;
    diag->detail[0] = '\0';
    if (!t || t->kind != GW_TOPIC_DATA)
        return pipeline_reject(p, GW_REJECT_BAD_TOPIC, diag);
    p->signer = NULL;
    rc = wire_decode(&p->decoder, m->payload, m->len, &f, &wd);
    if (rc != 0) {
        snprintf(diag->detail, sizeof diag->detail, "%s", wd.detail);
        return pipeline_reject(p, rc, diag);
    }
    const struct gw_device *dev = p->signer; /* the body names the envelope's device */
    if (gw_validate_frame(dev, t, f, m->now_ms, &p->limits, diag) != 0)
        return pipeline_reject(p, diag->reason, diag);
    rc = gw_dedup_check(p->dedup, f, &out->ticket);
    if (rc == GW_EFULL)
        return pipeline_reject(p, GW_REJECT_TOO_MANY_DEVICES, diag);
    if (rc != 0)
        return pipeline_reject(p, WIRE_EMALFORMED, diag);
    if (out->ticket.verdict == GW_DEDUP_DUPLICATE)
        return pipeline_reject(p, GW_REJECT_DUPLICATE, diag);
    if (out->ticket.verdict == GW_DEDUP_REPLAY)
        return pipeline_reject(p, GW_REJECT_REPLAY, diag);
    out->frame = f;
    out->device = dev;
    return 0;
}

/* Counts alert notifications on their way out. */
struct alert_tap {
    struct gw_pipeline *p;
    gw_alert_fn alert;
    void *ctx;
};

static void pipeline_alert(void *ctx, const struct gw_alert_event *ev)
{
    struct alert_tap *tap = ctx;
    if (ev->new_level >= GW_ALERT_OK && ev->new_level <= GW_ALERT_CRIT)
        tap->p->stats.alerts[ev->new_level]++;
    if (tap->alert)
        tap->alert(tap->ctx, ev);
}

int gw_pipeline_set_rules(struct gw_pipeline *p, const struct gw_rule_def *defs, size_t n_rules,
                          uint64_t now_ms, const struct gw_pipeline_out *out, char *why,
                          size_t why_len)
{
    struct gw_rules *rules = NULL;
    struct gw_rules_diag rd = {0, ""};
    int rc = gw_rules_new(defs, n_rules, &p->rules_limits, &rules, &rd);
    if (rc != 0) {
        snprintf(why, why_len, "%s", rc == GW_ECONFIG ? rd.message : gw_strerror(rc));
        return rc;
    }
    if (p->rules) {
        struct alert_tap tap = {p, out->alert, out->alert_ctx};
        gw_rules_carry(rules, p->rules, now_ms, pipeline_alert, &tap);
    }
    gw_rules_free(p->rules);
    p->rules = rules;
    return 0;
}

/* Holds back the aggregates of incomplete windows on their way out. */
struct emit_tap {
    struct gw_pipeline *p;
    gw_window_emit_fn emit;
    void *ctx;
};

static int pipeline_emit(void *ctx, const struct gw_aggregate *agg)
{
    struct emit_tap *tap = ctx;
    /* A part holds what arrived in its bucket: whole unless the bucket began before the replay
     * (the receiving clock is the arrival clock in a replay from the journal's start). */
    int64_t from_ms =
        agg->partial ? agg->part_ms + tap->p->windows_config.max_ahead_ms : agg->start_ms;
    if (from_ms < tap->p->incomplete_before_ms) {
        tap->p->stats.windows_incomplete++;
        return 0;
    }
    return tap->emit(tap->ctx, agg);
}

/*
 * Counts values of a's frame that came too late, against its node, and
 * notes how far its frame is behind its arrival; a report when one is due.
 */
static void pipeline_note_late(struct gw_pipeline *p, const struct gw_admitted *a, uint64_t values,
                               uint64_t now_ms)
{
    const Citygate__V1__Frame *f = a->frame;
    uint64_t behind = now_ms > f->timestamp_ms ? now_ms - f->timestamp_ms : 0;
    struct gw_dedup_stats st;
    if (!gw_dedup_note_late(p->dedup, &a->ticket, values, behind, now_ms,
                            GW_LATE_REPORT_EVERY_MS) ||
        gw_dedup_device_stats(p->dedup, f->device_id, &st) != 0)
        return;
    snprintf(p->late.node, sizeof p->late.node, "%s", f->device_id);
    snprintf(p->late.site, sizeof p->late.site, "%s", f->site_id ? f->site_id : "");
    p->late.values = values;
    p->late.total = st.n_too_late;
    p->late.behind_ms = behind;
    p->late_due = 1;
}

int gw_pipeline_commit(struct gw_pipeline *p, const struct gw_admitted *a, uint64_t now_ms,
                       const struct gw_pipeline_out *out, struct gw_reject_diag *diag)
{
    const Citygate__V1__Frame *f = a->frame;
    struct alert_tap tap = {p, out->alert, out->alert_ctx};
    struct emit_tap emit = {p, out->emit, out->emit_ctx};

    p->late_due = 0;
    enum gw_dedup_verdict verdict = gw_dedup_commit(p->dedup, &a->ticket);
    if (verdict != GW_DEDUP_NEW) {
        if (diag) {
            diag->index = -1;
            snprintf(diag->detail, sizeof diag->detail, "recorded since its admission");
        }
        int reason = verdict == GW_DEDUP_DUPLICATE ? GW_REJECT_DUPLICATE : GW_REJECT_REPLAY;
        return pipeline_reject(p, reason, diag);
    }
    p->stats.frames_accepted++;
    struct gw_windows_stats ws;
    gw_windows_stats(p->windows, &ws);
    uint64_t too_late = ws.too_late;
    struct gw_windows_frame fr;
    int have_frame =
        gw_windows_frame_begin(p->windows, f->site_id, f->device_id, (int64_t)now_ms, &fr) == 0;
    /* An emit that fails leaves its windows pending for the next tick, as there. */
    if (have_frame && out->emit)
        (void)gw_windows_frame_clock(p->windows, &fr, (int64_t)f->timestamp_ms, pipeline_emit,
                                     &emit);
    for (size_t i = 0; i < f->n_readings; i++) {
        const Citygate__V1__Reading *r = f->readings[i];
        p->stats.readings_in++;
        if (r->quality != CITYGATE__V1__QUALITY__GOOD) {
            p->stats.readings_not_good[r->quality & 7]++;
            continue;
        }
        struct gw_series_key key = {f->site_id,
                                    f->device_id,
                                    r->sensor_id ? r->sensor_id : "",
                                    r->lane,
                                    (uint32_t)r->quantity,
                                    r->quantity == CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT
                                        ? (uint32_t)r->vehicle_class
                                        : 0,
                                    gw_quantity_has_quantiles(r->quantity)};
        struct gw_window_value v = {(int64_t)f->timestamp_ms, r->value};
        if (have_frame && gw_windows_frame_add(p->windows, &fr, &key, v, NULL) == 0)
            p->stats.readings_folded++;
    }
    if (have_frame)
        p->stats.vehicles_folded += gw_traffic_fold_vehicles(p->windows, &fr, f);
    gw_windows_stats(p->windows, &ws);
    /* A frame further behind than the horizon is windowed by its own time, but named. */
    if (ws.too_late > too_late ||
        (f->timestamp_ms < now_ms &&
         now_ms - f->timestamp_ms > (uint64_t)p->windows_config.late_horizon_ms))
        pipeline_note_late(p, a, ws.too_late - too_late, now_ms);
    if (gw_rules_eval(p->rules, f, now_ms, pipeline_alert, &tap) != 0)
        p->stats.alert_state_refused++;
    return 0;
}

int gw_pipeline_late_report(struct gw_pipeline *p, struct gw_late_report *out)
{
    if (!p->late_due)
        return 0;
    *out = p->late;
    p->late_due = 0;
    return 1;
}

/* Counts a refused status message by reason (as pipeline_reject());
 * returns GW_EREJECTED. */
static int status_reject(struct gw_pipeline *p, int reason, struct gw_reject_diag *diag)
{
    int r = reason < 0 ? -reason : reason;
    if (r > 0 && r < GW_REJECT_N)
        p->stats.status_rejected[r]++;
    if (diag)
        diag->reason = r;
    return GW_EREJECTED;
}

int gw_pipeline_status(struct gw_pipeline *p, const struct gw_arrival *m,
                       const struct gw_pipeline_out *out, struct gw_reject_diag *diag)
{
    const struct gw_topic *topic = m->topic;
    struct alert_tap tap = {p, out->alert, out->alert_ctx};
    struct wire_diag wd;
    Citygate__V1__Status *s = NULL;
    uint64_t boot_id = 0;

    p->stats.status_messages++;
    if (diag) {
        diag->index = -1;
        diag->detail[0] = '\0';
    }
    /* The decode arena is the frames': the last admitted frame ends here. */
    int rc = wire_status_decode(&p->decoder, m->payload, m->len, &s, &wd);
    if (rc != 0) {
        if (diag)
            snprintf(diag->detail, sizeof diag->detail, "%s", wd.detail);
        return status_reject(p, rc, diag);
    }
    if (strcmp(s->device_id, topic->node) != 0 || strcmp(s->site_id, topic->site) != 0) {
        if (diag)
            snprintf(diag->detail, sizeof diag->detail, "status of %.40s/%.40s", s->site_id,
                     s->device_id);
        return status_reject(p, GW_REJECT_TOPIC_MISMATCH, diag);
    }
    if (s->state == CITYGATE__V1__NODE_STATE__ONLINE) {
        p->stats.births++;
        return 0;
    }
    /*
     * A death speaks for one boot; once the node's frames come from another
     * boot, it is an old will (or a replay of one), not news.
     */
    if (gw_dedup_device_boot(p->dedup, s->device_id, &boot_id) == 0 && boot_id != s->boot_id) {
        if (diag)
            snprintf(diag->detail, sizeof diag->detail,
                     "death of boot %016" PRIx64 ", the node's frames are of boot %016" PRIx64,
                     s->boot_id, boot_id);
        return status_reject(p, GW_REJECT_REPLAY, diag);
    }
    p->stats.deaths++;
    gw_rules_node_death(p->rules, topic->site, topic->node, m->now_ms, pipeline_alert, &tap);
    return 1;
}

void gw_pipeline_mark_incomplete(struct gw_pipeline *p, uint64_t first_arrival_ms)
{
    p->incomplete_before_ms = (int64_t)first_arrival_ms + p->windows_config.max_ahead_ms;
}

int gw_pipeline_tick(struct gw_pipeline *p, uint64_t now_ms, size_t max_nodes,
                     const struct gw_pipeline_out *out)
{
    struct alert_tap tap = {p, out->alert, out->alert_ctx};
    struct emit_tap emit = {p, out->emit, out->emit_ctx};
    gw_rules_tick(p->rules, now_ms, pipeline_alert, &tap);
    return gw_windows_advance(p->windows, (int64_t)now_ms, max_nodes, pipeline_emit, &emit);
}

void gw_pipeline_resume(struct gw_pipeline *p, uint64_t now_ms)
{
    gw_windows_resume(p->windows, (int64_t)now_ms);
}

int gw_pipeline_flush(struct gw_pipeline *p, gw_window_emit_fn emit, void *ctx)
{
    struct emit_tap out = {p, emit, ctx};
    return gw_windows_flush_all(p->windows, pipeline_emit, &out);
}

void gw_pipeline_stats(const struct gw_pipeline *p, struct gw_pipeline_stats *out)
{
    *out = p->stats;
}

void gw_pipeline_window_stats(const struct gw_pipeline *p, struct gw_windows_stats *out)
{
    gw_windows_stats(p->windows, out);
}

void gw_pipeline_dedup_totals(const struct gw_pipeline *p, struct gw_dedup_totals *out)
{
    gw_dedup_totals(p->dedup, out);
}

void gw_pipeline_each_device(const struct gw_pipeline *p,
                             void (*fn)(void *ctx, const char *device_id,
                                        const struct gw_dedup_stats *st),
                             void *ctx)
{
    gw_dedup_each(p->dedup, fn, ctx);
}

void gw_pipeline_each_alert(const struct gw_pipeline *p, gw_alert_fn fn, void *ctx)
{
    gw_rules_each_open(p->rules, fn, ctx);
}

int gw_pipeline_device_stats(const struct gw_pipeline *p, const char *device_id,
                             struct gw_dedup_stats *out)
{
    return gw_dedup_device_stats(p->dedup, device_id, out);
}

size_t gw_pipeline_dedup_heap_bytes(const struct gw_pipeline *p)
{
    return gw_dedup_heap_bytes(p->dedup);
}

void gw_pipeline_rules_stats(const struct gw_pipeline *p, struct gw_rules_stats *out)
{
    gw_rules_stats(p->rules, out);
}
