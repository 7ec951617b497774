/*
 * rules.h -- threshold alerts on raw readings: a state machine OK -> WARN ->
 * CRIT and back per (rule, series), notified on changes only.
 *
 * A series is (site, node, quantity, lane). A rule selects series with four
 * fnmatch(3) globs and raises WARN or CRIT when a GOOD value crosses its
 * thresholds (direction above or below), when the value changes faster than a
 * rate, or when the series goes silent (absence, or the node's death message).
 *
 * Semantics, all timing on the gateway clock now_ms except the rate:
 *
 * - Thresholds. ABOVE enters a level when value > threshold and leaves it when
 *   value <= its reset (reset <= threshold); BELOW enters when value <
 *   threshold and leaves when value >= reset (reset >= threshold). The reset
 *   applies while the notified state is at or above that level (hysteresis);
 *   an unset reset equals its threshold. CRIT implies WARN.
 * - Rate. With rate_per_min set, a GOOD value that moved in the rule's
 *   direction faster than rate_per_min units a minute since the series' last
 *   GOOD value (node timestamps) raises rate_level until the next reading.
 * - for_ms. A level is notified once its condition has held for_ms without
 *   interruption; the expiry is noticed by gw_rules_eval() or gw_rules_tick().
 *   Falling back to a lower level is not delayed by for_ms.
 * - Damping (hold_ms). After a notified change, a lower level is notified only
 *   once hold_ms have passed since that change (at the next eval or tick, if
 *   still the case); a higher level is never delayed. A series flapping around
 *   a threshold therefore notifies at most one raise and one fall per hold_ms.
 * - Absence. With absence_ms set, a series without any reading for absence_ms,
 *   or whose node sent its death message, goes to absence_level at once
 *   (notified even within hold_ms); its next reading of any quality clears it,
 *   and the state becomes what that reading says, notified at once.
 * - Backlog frames and readings whose quality is not GOOD count as presence
 *   (they clear absence) but never move thresholds, rates or for-timers: old or
 *   untrustworthy values must not raise alerts about now.
 * - A series is known from its first reading; absence cannot fire for a series
 *   the gateway has never seen since the rule set was built.
 *
 * The rules that select a series are matched once, when the series is first
 * seen, and kept with it; a frame costs one hash lookup of its node and, per
 * reading, a few compares (a series with every state OK and the value inside
 * the band no threshold or rate can leave), or a few more per matching rule.
 * Memory is bounded by max_nodes and max_series_per_node; what does not fit
 * is counted and not evaluated.
 *
 * One struct gw_rules belongs to one thread; the emit callback runs on it and
 * must not call back into the same struct gw_rules.
 */
#ifndef CITYGATE_GW_RULES_H
#define CITYGATE_GW_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "frame.pb-c.h"

#define GW_RULES_MAX_RULES 1024
#define GW_RULES_MAX_GLOB 128

enum gw_alert_level {
    GW_ALERT_OK = 0,
    GW_ALERT_WARN = 1,
    GW_ALERT_CRIT = 2,
};

enum gw_rule_dir {
    GW_RULE_ABOVE, /* high values are bad: NO2 above 200 */
    GW_RULE_BELOW, /* low values are bad: speed under 30 km/h */
};

/* What made the new state. */
enum gw_alert_cause {
    GW_CAUSE_THRESHOLD, /* the value against the thresholds, including a recovery */
    GW_CAUSE_RATE,      /* the value moved faster than rate_per_min */
    GW_CAUSE_ABSENCE,   /* no reading for absence_ms */
    GW_CAUSE_DEATH,     /* the node's death message */
};

/*
 * One rule, as the configuration loader fills it. Start from
 * gw_rule_def_init(), which unsets every optional field.
 */
struct gw_rule_def {
    const char *name;     /* [A-Za-z0-9._-]{1,64}: the last level of the alert topic */
    const char *site;     /* glob over site ids; NULL or "" = "*" */
    const char *node;     /* glob over node (device) ids */
    const char *quantity; /* glob over quantity names as in frame.proto: "SPEED", "PM*" */
    const char *lane;     /* glob over the decimal lane: "1", "[12]"; "0" = no lane */
    enum gw_rule_dir direction;
    double warn, crit;             /* thresholds; NAN = level not used */
    double warn_reset, crit_reset; /* hysteresis; NAN = the threshold itself */
    uint64_t for_ms;               /* how long a level must hold before it is notified */
    double rate_per_min;           /* NAN = no rate rule */
    enum gw_alert_level rate_level;
    uint64_t absence_ms; /* 0 = no absence rule */
    enum gw_alert_level absence_level;
    uint64_t hold_ms; /* damping: minimum time between a change and a fall */
};

/* Unsets thresholds, resets and rate (NAN), sets for/absence/hold to 0 and both levels to CRIT. */
void gw_rule_def_init(struct gw_rule_def *def);

/* Why a rule set was refused: the rule and what is wrong with it. */
struct gw_rules_diag {
    size_t rule; /* index into defs */
    char message[128];
};

struct gw_rules_limits {
    size_t max_nodes;           /* nodes tracked; more are counted and not evaluated */
    size_t max_series_per_node; /* (quantity, lane) pairs per node, at most 65535 */
};

/* One notification: a (rule, series) changed state. Strings are borrowed for the call. */
struct gw_alert_event {
    const char *rule;
    const char *site;
    const char *node;
    const char *quantity;       /* name as in frame.proto ("SPEED") */
    const char *quantity_store; /* the store's name ("speed"), for the alert topic and store */
    uint32_t lane;
    enum gw_alert_level old_level, new_level;
    enum gw_alert_cause cause;
    double value;          /* the deciding value, or the series' last GOOD value; NAN if none */
    uint64_t timestamp_ms; /* node timestamp of value; 0 if none */
    uint64_t now_ms;       /* gateway time of the change */
};

typedef void (*gw_alert_fn)(void *ctx, const struct gw_alert_event *ev);

struct gw_rules;

/*
 * Builds a rule set from n_defs definitions (borrowed; copied). Returns 0 and
 * sets *out (caller frees with gw_rules_free()), GW_ENOMEM, or GW_ECONFIG with
 * *diag (may be NULL) naming the first bad rule: a name that is not an id or is
 * used twice, a glob longer than 128 characters, a direction or level out of
 * range, a threshold or reset not finite, crit not beyond warn or a reset on
 * the wrong side of its threshold, a rate not above 0, or a rule that can
 * never fire. Limits of 0, or more than GW_RULES_MAX_RULES rules, are GW_EINVAL.
 */
int gw_rules_new(const struct gw_rule_def *defs, size_t n_defs,
                 const struct gw_rules_limits *limits, struct gw_rules **out,
                 struct gw_rules_diag *diag);

/* Frees rs and all state; NULL is a no-op. */
void gw_rules_free(struct gw_rules *rs);

/*
 * Evaluates every reading of frame f (borrowed; an admitted frame: site_id,
 * device_id as the node, timestamp_ms, backlog, readings) at gateway time
 * now_ms, calling emit(ctx, event) for each state change. A node or series seen
 * for the first time is allocated here (never again afterwards), and only for
 * a reading of a quantity some rule selects: other readings keep no state and
 * a frame of only those is not looked at further. Returns 0;
 * GW_EFULL when the node or a series did not fit its limit, GW_ENOMEM when it
 * could not be allocated: those readings are not evaluated, the others are.
 */
int gw_rules_eval(struct gw_rules *rs, const Citygate__V1__Frame *f, uint64_t now_ms,
                  gw_alert_fn emit, void *ctx);

/*
 * The node's death message arrived on city/v1/<site>/<node>/status: every
 * series of the node under a rule with absence goes to its absence level now.
 * site and node are borrowed. Returns 0, or GW_ENOTFOUND when the node has no
 * series (nothing to do).
 */
int gw_rules_node_death(struct gw_rules *rs, const char *site, const char *node, uint64_t now_ms,
                        gw_alert_fn emit, void *ctx);

/*
 * Applies what time alone changes: absence, for_ms expiries and damping holds
 * that end. Cheap when nothing is due (one compare); otherwise one pass over
 * all states. Call it about once a second.
 */
void gw_rules_tick(struct gw_rules *rs, uint64_t now_ms, gw_alert_fn emit, void *ctx);

/*
 * After a reload: gives the new rule set to the state of the old one, from
 * (borrowed, left as it was; free it afterwards). A state whose rule is in to
 * with the same name and definition carries over as it was, nothing notified.
 * A state whose rule changed is re-evaluated against its series' last GOOD
 * value (or its absence) and a change notified at once, damping hold or not.
 * A raised state whose rule is gone from to, or no longer selects its series,
 * is notified as OK (cause threshold), so that nothing published stays raised
 * without a rule behind it. Rules new in to start from OK. A series that does
 * not fit to's limits is dropped as gone. emit(ctx, event) as for
 * gw_rules_eval(); now_ms is the gateway time of the reload.
 */
void gw_rules_carry(struct gw_rules *to, const struct gw_rules *from, uint64_t now_ms,
                    gw_alert_fn emit, void *ctx);

struct gw_rules_stats {
    size_t n_rules, n_nodes, n_series, n_states;
    uint64_t n_nodes_refused;  /* frames whose node did not fit max_nodes */
    uint64_t n_series_refused; /* readings whose series did not fit max_series_per_node */
    size_t state_bytes;        /* heap held for nodes, series and states */
};

void gw_rules_stats(const struct gw_rules *rs, struct gw_rules_stats *out);

/* "ok", "warn", "crit"; "unknown" otherwise. */
/*
 * Calls fn(ctx, ev) for every (rule, series) whose notified level is not OK,
 * with old_level equal to new_level, now_ms the time of its last change and
 * value its series' last GOOD value (NAN if none). Nothing changes.
 */
void gw_rules_each_open(const struct gw_rules *rs, gw_alert_fn fn, void *ctx);

const char *gw_alert_level_name(int level);

/* "threshold", "rate", "absence", "death"; "unknown" otherwise. */
const char *gw_alert_cause_name(int cause);

#endif
