/*
 * rules.c -- threshold, rate and absence alerts on raw readings.
 *
 * Rules are evaluated on the arrival path, per reading, so an alert follows
 * the value that caused it by one frame, not by a window. That path has a
 * budget of a few hundred instructions per frame, so nothing in it loops over
 * the rule list: when a node is first seen, the rules whose site and node globs
 * match it are listed once (its candidates); when one of its series is first
 * seen, the candidates whose quantity and lane globs match are turned into
 * that series' states. A reading then costs a hash lookup of its node (once
 * per frame) and usually a single compare to find its series (readings tend
 * to come in the same order, so the i-th reading a rule may select is tried
 * against series i first).
 * A series whose states are all OK with nothing pending is "quiet": it keeps
 * the band of values (and of rates) that cannot raise any of its rules, worked
 * out from the thresholds when the series is created, and a reading inside it
 * costs a few compares whatever the number of rules. Only a reading outside
 * the band, or a series with a state raised, pending or absent, walks the
 * states. In a healthy city almost every reading is the former.
 *
 * Most readings are of a quantity no rule selects (a rule set of one speed
 * rule ignores air, noise, parking...). Those cost one bit test: the set keeps
 * the quantities some rule's quantity glob matches, a frame with none of them
 * never looks up its node, and a node or series is created only for a reading
 * some rule may select. So the state held scales with what the rules watch,
 * not with the city. A series whose quantity a rule selects but whose lane no
 * candidate's glob matches is kept without states, so that its globs are not
 * matched again on every reading.
 *
 * Time alone changes states too (absence, for_ms, the end of a damping hold).
 * Rather than a timer per state, the set keeps the earliest instant at which
 * any state may change (next_due_ms, lowered whenever a state is touched), and
 * gw_rules_tick() does nothing until then; when due, one pass applies what is
 * due and computes the next instant. The instant may be early (a series that
 * kept reporting has moved its absence deadline on), never late.
 *
 * States, series and nodes are allocated when first seen and never on the
 * steady path; their number is bounded by the limits, and what does not fit is
 * counted.
 */
#include "rules.h"

#include "alloc.h" /* before uthash.h: uthash allocates through gw_malloc */
#include <uthash.h>

#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "quantity.h"
#include "validate.h"

enum {
    RL_WARN_COND = 1u << 0, /* the value says WARN or worse, since since_warn_ms */
    RL_CRIT_COND = 1u << 1, /* the value says CRIT, since since_crit_ms */
    RL_ABSENT = 1u << 2,    /* absent (no reading for absence_ms, or death) */
};

struct rl_rule {
    char name[GW_MAX_NAME + 1];
    char site[GW_RULES_MAX_GLOB + 1], node[GW_RULES_MAX_GLOB + 1];
    char quantity[GW_RULES_MAX_GLOB + 1], lane[GW_RULES_MAX_GLOB + 1];
    enum gw_rule_dir dir;
    double warn, crit, warn_reset, crit_reset, rate_per_min;
    uint8_t rate_level, absence_level;
    uint64_t for_ms, absence_ms, hold_ms;
};

/* One (rule, series). */
struct rl_state {
    uint16_t rule;
    uint8_t level; /* notified: enum gw_alert_level */
    uint8_t flags; /* RL_* */
    uint8_t cause; /* what the conditions came from: enum gw_alert_cause */
    uint64_t since_warn_ms, since_crit_ms, changed_ms;
};

struct rl_series {
    int32_t quantity;
    uint32_t lane;
    uint16_t n_states;
    uint8_t has_value;
    uint8_t has_rate; /* a state's rule has a rate: work out the rate of each GOOD reading */
    uint8_t quiet;    /* every state is OK with nothing pending and not absent */
    double quiet_lo, quiet_hi; /* while quiet, a GOOD value in here changes no state... */
    double rate_lo, rate_hi;   /* ...if its rate per minute is in here (or unknown) */
    double value;              /* last GOOD, live value */
    uint64_t value_ts_ms;      /* its node timestamp */
    uint64_t seen_ms;          /* gateway time of the last reading of any kind */
    struct rl_state *states;
};

struct rl_node {
    UT_hash_handle hh;
    uint16_t n_cand, n_series, cap_series;
    uint16_t *cand; /* rules whose site and node globs match */
    struct rl_series *series;
    char id[]; /* the node id, its NUL, then the site id and its NUL (rl_node_site()) */
};

/* Quantities below this have a bit in gw_rules.quantities; bit 0 (no name) stands for the rest. */
#define RL_QUANTITY_BITS 64

struct gw_rules {
    struct rl_rule *rules;
    size_t n_rules;
    uint64_t quantities; /* bit q: some rule's quantity glob matches quantity q's name */
    struct rl_node *nodes;
    size_t n_nodes, n_series, n_states, state_bytes;
    struct gw_rules_limits limits;
    uint64_t next_due_ms; /* no state changes by time alone before this */
    uint64_t n_nodes_refused, n_series_refused;
};

/* What a state change is reported with. */
struct rl_ctx {
    struct gw_rules *rs;
    const struct rl_node *node;
    const struct rl_series *series;
    uint64_t now_ms;
    double value;
    uint64_t timestamp_ms;
    gw_alert_fn emit;
    void *emit_ctx;
};

const char *gw_alert_level_name(int level)
{
    switch (level) {
    case GW_ALERT_OK:
        return "ok";
    case GW_ALERT_WARN:
        return "warn";
    case GW_ALERT_CRIT:
        return "crit";
    }
    return "unknown";
}

const char *gw_alert_cause_name(int cause)
{
    switch (cause) {
    case GW_CAUSE_THRESHOLD:
        return "threshold";
    case GW_CAUSE_RATE:
        return "rate";
    case GW_CAUSE_ABSENCE:
        return "absence";
    case GW_CAUSE_DEATH:
        return "death";
    }
    return "unknown";
}

void gw_rule_def_init(struct gw_rule_def *def)
{
    memset(def, 0, sizeof *def);
    def->direction = GW_RULE_ABOVE;
    def->warn = def->crit = def->warn_reset = def->crit_reset = NAN;
    def->rate_per_min = NAN;
    def->rate_level = GW_ALERT_CRIT;
    def->absence_level = GW_ALERT_CRIT;
}

static uint64_t rl_elapsed(uint64_t now_ms, uint64_t since_ms)
{
    return now_ms > since_ms ? now_ms - since_ms : 0;
}

static uint64_t rl_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t rl_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- building ---- */

__attribute__((format(printf, 3, 4))) static int rl_bad(struct gw_rules_diag *diag, size_t rule,
                                                        const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        diag->rule = rule;
        va_start(ap, fmt);
        vsnprintf(diag->message, sizeof diag->message, fmt, ap);
        va_end(ap);
    }
    return GW_ECONFIG;
}

static int rl_copy_glob(char *dst, const char *glob)
{
    if (!glob || !*glob)
        glob = "*";
    size_t n = strlen(glob);
    if (n > GW_RULES_MAX_GLOB)
        return -1;
    memcpy(dst, glob, n + 1);
    return 0;
}

static int rl_level_ok(enum gw_alert_level l)
{
    return l == GW_ALERT_WARN || l == GW_ALERT_CRIT;
}

/* 1 when a is at least as bad as b in direction dir. */
static int rl_beyond(enum gw_rule_dir dir, double a, double b)
{
    return dir == GW_RULE_ABOVE ? a >= b : a <= b;
}

/* Checks a threshold and its reset; fills *reset_out. 0 or GW_ECONFIG. */
static int rl_check_threshold(const struct gw_rule_def *d, size_t i, const char *what, double thr,
                              double reset, double *reset_out, struct gw_rules_diag *diag)
{
    if (isnan(thr)) {
        if (!isnan(reset))
            return rl_bad(diag, i, "%s: %s_reset without %s", d->name, what, what);
        *reset_out = NAN;
        return 0;
    }
    if (!isfinite(thr) || (!isnan(reset) && !isfinite(reset)))
        return rl_bad(diag, i, "%s: %s or its reset not finite", d->name, what);
    if (isnan(reset))
        reset = thr;
    if (!rl_beyond(d->direction, thr, reset))
        return rl_bad(diag, i, "%s: %s_reset %g is beyond %s %g", d->name, what, reset, what, thr);
    *reset_out = reset;
    return 0;
}

static int rl_compile(const struct gw_rule_def *d, size_t i, struct rl_rule *r,
                      struct gw_rules_diag *diag)
{
    if (!d->name || !gw__id_valid(d->name, strlen(d->name), GW_MAX_NAME))
        return rl_bad(diag, i, "rule name is not [A-Za-z0-9._-]{1,%d}", GW_MAX_NAME);
    memcpy(r->name, d->name, strlen(d->name) + 1);
    if (rl_copy_glob(r->site, d->site) || rl_copy_glob(r->node, d->node) ||
        rl_copy_glob(r->quantity, d->quantity) || rl_copy_glob(r->lane, d->lane))
        return rl_bad(diag, i, "%s: a selector is longer than %d characters", d->name,
                      GW_RULES_MAX_GLOB);
    if (d->direction != GW_RULE_ABOVE && d->direction != GW_RULE_BELOW)
        return rl_bad(diag, i, "%s: direction is neither above nor below", d->name);
    if (!rl_level_ok(d->rate_level) || !rl_level_ok(d->absence_level))
        return rl_bad(diag, i, "%s: rate and absence levels must be warn or crit", d->name);
    r->dir = d->direction;
    if (rl_check_threshold(d, i, "warn", d->warn, d->warn_reset, &r->warn_reset, diag) ||
        rl_check_threshold(d, i, "crit", d->crit, d->crit_reset, &r->crit_reset, diag))
        return GW_ECONFIG;
    if (!isnan(d->warn) && !isnan(d->crit) && !rl_beyond(d->direction, d->crit, d->warn))
        return rl_bad(diag, i, "%s: crit %g is not beyond warn %g", d->name, d->crit, d->warn);
    if (!isnan(d->rate_per_min) && !(isfinite(d->rate_per_min) && d->rate_per_min > 0))
        return rl_bad(diag, i, "%s: rate_per_min must be above 0", d->name);
    if (isnan(d->warn) && isnan(d->crit) && isnan(d->rate_per_min) && d->absence_ms == 0)
        return rl_bad(diag, i, "%s: no threshold, rate or absence: the rule can never fire",
                      d->name);
    r->warn = d->warn;
    r->crit = d->crit;
    r->rate_per_min = d->rate_per_min;
    r->rate_level = (uint8_t)d->rate_level;
    r->absence_level = (uint8_t)d->absence_level;
    r->for_ms = d->for_ms;
    r->absence_ms = d->absence_ms;
    r->hold_ms = d->hold_ms;
    return 0;
}

/* The name a quantity glob is matched against; "" for a quantity without one. */
static const char *rl_quantity_name(int quantity)
{
    const struct gw_quantity *qi = gw_quantity_info(quantity);
    return qi ? qi->name : "";
}

/* The store's name of a quantity ("speed"); "" for a quantity without one. */
static const char *rl_quantity_store(int quantity)
{
    const struct gw_quantity *qi = gw_quantity_info(quantity);
    return qi ? qi->store : "";
}

static int rl_glob(const char *glob, const char *s)
{
    return fnmatch(glob, s, 0) == 0;
}

/* 1 when some rule's quantity glob matches name. */
static int rl_any_selects(const struct gw_rules *rs, const char *name)
{
    for (size_t r = 0; r < rs->n_rules; r++)
        if (rl_glob(rs->rules[r].quantity, name))
            return 1;
    return 0;
}

static void rl_select_quantities(struct gw_rules *rs)
{
    for (int q = 0; q < RL_QUANTITY_BITS; q++)
        if (rl_any_selects(rs, rl_quantity_name(q)))
            rs->quantities |= UINT64_C(1) << q;
}

/* 1 when some rule may select a reading of quantity: 0 means no state is ever needed. */
static int rl_selected(const struct gw_rules *rs, int quantity)
{
    if (quantity < 0 || quantity >= RL_QUANTITY_BITS)
        quantity = 0; /* unnamed, like quantity 0: rl_quantity_name() gives "" for both */
    return (int)(rs->quantities >> quantity) & 1;
}

int gw_rules_new(const struct gw_rule_def *defs, size_t n_defs,
                 const struct gw_rules_limits *limits, struct gw_rules **out,
                 struct gw_rules_diag *diag)
{
    struct gw_rules *rs = NULL;
    int rc = GW_EINVAL;

    if (n_defs > GW_RULES_MAX_RULES || limits->max_nodes == 0 || limits->max_series_per_node == 0 ||
        limits->max_series_per_node > UINT16_MAX)
        goto out;
    rc = GW_ENOMEM;
    rs = gw_calloc(1, sizeof *rs);
    if (!rs || (n_defs && !(rs->rules = gw_calloc(n_defs, sizeof *rs->rules))))
        goto out;
    rs->limits = *limits;
    rs->next_due_ms = UINT64_MAX;
    for (size_t i = 0; i < n_defs; i++) {
        if ((rc = rl_compile(&defs[i], i, &rs->rules[i], diag)) != 0)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (strcmp(rs->rules[j].name, rs->rules[i].name) == 0) {
                rc = rl_bad(diag, i, "%s: name used by rule %zu too", defs[i].name, j);
                goto out;
            }
        rs->n_rules++;
    }
    rl_select_quantities(rs);
    *out = rs;
    rs = NULL;
    rc = 0;
out:
    gw_rules_free(rs);
    return rc;
}

/* ---- nodes and series ---- */

static const char *rl_node_site(const struct rl_node *n)
{
    return n->id + n->hh.keylen + 1;
}

static size_t rl_node_bytes(const struct rl_node *n)
{
    return sizeof *n + n->hh.keylen + 1 + strlen(rl_node_site(n)) + 1;
}

static void rl_node_free(struct gw_rules *rs, struct rl_node *n)
{
    for (uint16_t i = 0; i < n->n_series; i++) {
        rs->n_states -= n->series[i].n_states;
        rs->state_bytes -= n->series[i].n_states * sizeof(struct rl_state);
        gw_free(n->series[i].states);
    }
    rs->n_series -= n->n_series;
    rs->state_bytes -=
        rl_node_bytes(n) + n->n_cand * sizeof *n->cand + n->cap_series * sizeof *n->series;
    gw_free(n->series);
    gw_free(n->cand);
    gw_free(n);
}

void gw_rules_free(struct gw_rules *rs)
{
    struct rl_node *n, *tmp;
    if (!rs)
        return;
    HASH_ITER(hh, rs->nodes, n, tmp)
    {
        HASH_DEL(rs->nodes, n);
        rl_node_free(rs, n);
    }
    gw_free(rs->rules);
    gw_free(rs);
}

static int rl_node_new(struct gw_rules *rs, const char *site, const char *id, struct rl_node **out)
{
    uint16_t cand[GW_RULES_MAX_RULES];
    struct rl_node *n = NULL;
    size_t id_len = strlen(id), site_len = strlen(site);
    int rc = GW_EINVAL;

    if (id_len > WIRE_MAX_DEVICE_ID || site_len > GW_MAX_NAME)
        goto out;
    if (rs->n_nodes >= rs->limits.max_nodes) {
        rs->n_nodes_refused++;
        rc = GW_EFULL;
        goto out;
    }
    rc = GW_ENOMEM;
    n = gw_calloc(1, sizeof *n + id_len + 1 + site_len + 1);
    if (!n)
        goto out;
    memcpy(n->id, id, id_len + 1);
    memcpy(n->id + id_len + 1, site, site_len + 1);
    for (size_t r = 0; r < rs->n_rules; r++)
        if (rl_glob(rs->rules[r].site, site) && rl_glob(rs->rules[r].node, id))
            cand[n->n_cand++] = (uint16_t)r;
    if (n->n_cand) {
        n->cand = gw_malloc(n->n_cand * sizeof *n->cand);
        if (!n->cand)
            goto out;
        memcpy(n->cand, cand, n->n_cand * sizeof *n->cand);
    }
    HASH_ADD(hh, rs->nodes, id[0], (unsigned)id_len, n);
    if (!n->hh.tbl)
        goto out;
    rs->n_nodes++;
    rs->state_bytes += rl_node_bytes(n) + n->n_cand * sizeof *n->cand;
    *out = n;
    n = NULL;
    rc = 0;
out:
    if (n) {
        gw_free(n->cand);
        gw_free(n);
    }
    return rc;
}

/* The node of a frame; a node that moved site starts afresh. */
static int rl_node_get(struct gw_rules *rs, const char *site, const char *id, struct rl_node **out)
{
    struct rl_node *n = NULL;
    HASH_FIND_STR(rs->nodes, id, n);
    if (n && strcmp(rl_node_site(n), site) != 0) {
        HASH_DEL(rs->nodes, n);
        rl_node_free(rs, n);
        rs->n_nodes--;
        n = NULL;
    }
    if (n) {
        *out = n;
        return 0;
    }
    return rl_node_new(rs, site, id, out);
}

/*
 * Narrows the quiet band of s to the values (and rates) that cannot raise r
 * from OK: a level is entered only strictly beyond its threshold, so the
 * thresholds themselves are inside. Unset thresholds (NAN) narrow nothing.
 */
static void rl_quiet_band(const struct rl_rule *r, struct rl_series *s)
{
    const double thr[3] = {r->warn, r->crit, r->rate_per_min};
    for (int i = 0; i < 3; i++) {
        double *lo = i < 2 ? &s->quiet_lo : &s->rate_lo, *hi = i < 2 ? &s->quiet_hi : &s->rate_hi;
        double t = i < 2 || r->dir == GW_RULE_ABOVE ? thr[i] : -thr[i];
        if (isnan(t))
            continue;
        if (r->dir == GW_RULE_ABOVE && t < *hi)
            *hi = t;
        if (r->dir == GW_RULE_BELOW && t > *lo)
            *lo = t;
    }
}

static int rl_series_new(struct gw_rules *rs, struct rl_node *n, int quantity, uint32_t lane,
                         uint64_t now_ms, struct rl_series **out)
{
    uint16_t match[GW_RULES_MAX_RULES], n_match = 0;
    const char *quantity_name = rl_quantity_name(quantity);
    char lane_text[16];
    struct rl_state *states = NULL;

    if (n->n_series >= rs->limits.max_series_per_node) {
        rs->n_series_refused++;
        return GW_EFULL;
    }
    if (n->n_series == n->cap_series) {
        size_t cap = n->cap_series ? 2u * n->cap_series : 2;
        if (cap > rs->limits.max_series_per_node)
            cap = rs->limits.max_series_per_node;
        struct rl_series *grown = gw_realloc(n->series, cap * sizeof *grown);
        if (!grown)
            return GW_ENOMEM;
        rs->state_bytes += (cap - n->cap_series) * sizeof *grown;
        n->series = grown;
        n->cap_series = (uint16_t)cap;
    }
    snprintf(lane_text, sizeof lane_text, "%u", (unsigned)lane);
    for (uint16_t i = 0; i < n->n_cand; i++) {
        const struct rl_rule *r = &rs->rules[n->cand[i]];
        if (rl_glob(r->quantity, quantity_name) && rl_glob(r->lane, lane_text))
            match[n_match++] = n->cand[i];
    }
    if (n_match && !(states = gw_calloc(n_match, sizeof *states)))
        return GW_ENOMEM;
    struct rl_series *s = &n->series[n->n_series++];
    memset(s, 0, sizeof *s);
    s->quiet = 1;
    s->quiet_lo = s->rate_lo = -INFINITY;
    s->quiet_hi = s->rate_hi = INFINITY;
    for (uint16_t i = 0; i < n_match; i++) {
        const struct rl_rule *r = &rs->rules[match[i]];
        states[i].rule = match[i];
        states[i].changed_ms = now_ms;
        s->has_rate |= !isnan(r->rate_per_min);
        rl_quiet_band(r, s);
        if (r->absence_ms)
            rs->next_due_ms = rl_min(rs->next_due_ms, rl_add(now_ms, r->absence_ms));
    }
    s->quantity = quantity;
    s->lane = lane;
    s->seen_ms = now_ms;
    s->value = NAN;
    s->states = states;
    s->n_states = n_match;
    rs->n_series++;
    rs->n_states += n_match;
    rs->state_bytes += n_match * sizeof *states;
    *out = s;
    return 0;
}

/*
 * The series of (quantity, lane) in node n; the frame's hint-th selected
 * reading is tried against series hint first.
 */
static int rl_series_get(struct gw_rules *rs, struct rl_node *n, size_t hint, int quantity,
                         uint32_t lane, uint64_t now_ms, struct rl_series **out)
{
    if (hint < n->n_series && n->series[hint].quantity == quantity &&
        n->series[hint].lane == lane) {
        *out = &n->series[hint];
        return 0;
    }
    for (uint16_t i = 0; i < n->n_series; i++) {
        if (n->series[i].quantity == quantity && n->series[i].lane == lane) {
            *out = &n->series[i];
            return 0;
        }
    }
    return rl_series_new(rs, n, quantity, lane, now_ms, out);
}

/* ---- the state machine ---- */

/* The level value v says, with hysteresis around the notified level cur. */
static enum gw_alert_level rl_threshold_level(const struct rl_rule *r, enum gw_alert_level cur,
                                              double v)
{
    double crit = cur == GW_ALERT_CRIT ? r->crit_reset : r->crit;
    double warn = cur >= GW_ALERT_WARN ? r->warn_reset : r->warn;
    if (r->dir == GW_RULE_ABOVE) {
        if (v > crit)
            return GW_ALERT_CRIT;
        return v > warn ? GW_ALERT_WARN : GW_ALERT_OK;
    }
    if (v < crit)
        return GW_ALERT_CRIT;
    return v < warn ? GW_ALERT_WARN : GW_ALERT_OK;
}

/* The level a state should be notified at now, for_ms applied. */
static enum gw_alert_level rl_desired(const struct rl_rule *r, const struct rl_state *st,
                                      uint64_t now_ms)
{
    if (st->flags & RL_ABSENT)
        return (enum gw_alert_level)r->absence_level;
    if ((st->flags & RL_CRIT_COND) && rl_elapsed(now_ms, st->since_crit_ms) >= r->for_ms)
        return GW_ALERT_CRIT;
    if ((st->flags & RL_WARN_COND) && rl_elapsed(now_ms, st->since_warn_ms) >= r->for_ms)
        return GW_ALERT_WARN;
    return GW_ALERT_OK;
}

/* The earliest instant at which time alone may change st; UINT64_MAX if none. */
static uint64_t rl_state_due(const struct rl_rule *r, const struct rl_series *s,
                             const struct rl_state *st, uint64_t now_ms)
{
    uint64_t due = UINT64_MAX;
    if (st->flags & RL_ABSENT)
        return due;
    if (r->absence_ms)
        due = rl_add(s->seen_ms, r->absence_ms);
    if ((st->flags & RL_WARN_COND) && st->level < GW_ALERT_WARN)
        due = rl_min(due, rl_add(st->since_warn_ms, r->for_ms));
    if ((st->flags & RL_CRIT_COND) && st->level < GW_ALERT_CRIT)
        due = rl_min(due, rl_add(st->since_crit_ms, r->for_ms));
    if (rl_desired(r, st, now_ms) < st->level)
        due = rl_min(due, rl_add(st->changed_ms, r->hold_ms));
    return due;
}

/* Notifies a change of rule r on the series of c. */
static void rl_emit(const struct rl_ctx *c, const struct rl_rule *r, enum gw_alert_level old,
                    enum gw_alert_level want, enum gw_alert_cause cause)
{
    if (!c->emit)
        return;
    struct gw_alert_event ev = {
        .rule = r->name,
        .site = rl_node_site(c->node),
        .node = c->node->id,
        .quantity = rl_quantity_name(c->series->quantity),
        .quantity_store = rl_quantity_store(c->series->quantity),
        .lane = c->series->lane,
        .old_level = old,
        .new_level = want,
        .cause = cause,
        .value = c->value,
        .timestamp_ms = c->timestamp_ms,
        .now_ms = c->now_ms,
    };
    c->emit(c->emit_ctx, &ev);
}

void gw_rules_each_open(const struct gw_rules *rs, gw_alert_fn fn, void *ctx)
{
    struct rl_node *n, *tmp;
    HASH_ITER(hh, rs->nodes, n, tmp)
    {
        for (size_t i = 0; i < n->n_series; i++) {
            const struct rl_series *se = &n->series[i];
            for (size_t j = 0; j < se->n_states; j++) {
                const struct rl_state *st = &se->states[j];
                if (st->level == GW_ALERT_OK)
                    continue;
                struct gw_alert_event ev = {
                    .rule = rs->rules[st->rule].name,
                    .site = rl_node_site(n),
                    .node = n->id,
                    .quantity = rl_quantity_name(se->quantity),
                    .quantity_store = rl_quantity_store(se->quantity),
                    .lane = se->lane,
                    .old_level = (enum gw_alert_level)st->level,
                    .new_level = (enum gw_alert_level)st->level,
                    .cause = (enum gw_alert_cause)st->cause,
                    .value = se->has_value ? se->value : NAN,
                    .timestamp_ms = se->has_value ? se->value_ts_ms : 0,
                    .now_ms = st->changed_ms,
                };
                fn(ctx, &ev);
            }
        }
    }
}

/*
 * Moves st to the level it should have now and notifies the change. A fall
 * waits for the damping hold unless force (absence entered or cleared).
 */
static void rl_apply(const struct rl_ctx *c, struct rl_state *st, int force)
{
    const struct rl_rule *r = &c->rs->rules[st->rule];
    enum gw_alert_level want = rl_desired(r, st, c->now_ms), old = st->level;

    if (want != old &&
        (want > old || force || rl_elapsed(c->now_ms, st->changed_ms) >= r->hold_ms)) {
        st->level = (uint8_t)want;
        st->changed_ms = c->now_ms;
        rl_emit(c, r, old, want,
                want == GW_ALERT_OK ? GW_CAUSE_THRESHOLD : (enum gw_alert_cause)st->cause);
    }
    c->rs->next_due_ms = rl_min(c->rs->next_due_ms, rl_state_due(r, c->series, st, c->now_ms));
}

static void rl_set_cond(struct rl_state *st, unsigned bit, uint64_t *since_ms, int on,
                        uint64_t now_ms)
{
    if (!on) {
        st->flags &= (uint8_t)~bit;
    } else if (!(st->flags & bit)) {
        st->flags |= (uint8_t)bit;
        *since_ms = now_ms;
    }
}

/*
 * A reading of the series arrived; good says whether its value may move the state.
 *
 * The common case, a state that is OK, has no condition pending and was not
 * absent, returns before rl_apply(): nothing can be notified, and the only
 * deadline it has (absence) has just moved later, so next_due_ms, a lower
 * bound, stays right without being touched.
 */
static int rl_state_reading(const struct rl_ctx *c, struct rl_state *st, int good, double rate)
{
    const struct rl_rule *r = &c->rs->rules[st->rule];
    int force = 0;

    if (st->flags & RL_ABSENT) {
        st->flags = 0;
        force = 1;
    }
    if (good) {
        enum gw_alert_level lvl = rl_threshold_level(r, st->level, c->value);
        st->cause = GW_CAUSE_THRESHOLD;
        if (!isnan(rate) && (r->dir == GW_RULE_ABOVE ? rate : -rate) > r->rate_per_min &&
            r->rate_level > lvl) {
            lvl = (enum gw_alert_level)r->rate_level;
            st->cause = GW_CAUSE_RATE;
        }
        rl_set_cond(st, RL_WARN_COND, &st->since_warn_ms, lvl >= GW_ALERT_WARN, c->now_ms);
        rl_set_cond(st, RL_CRIT_COND, &st->since_crit_ms, lvl >= GW_ALERT_CRIT, c->now_ms);
    }
    if (force || st->level != GW_ALERT_OK || (st->flags & (RL_WARN_COND | RL_CRIT_COND)))
        rl_apply(c, st, force);
    return st->level == GW_ALERT_OK && st->flags == 0;
}

/*
 * One reading of series s. A quiet series whose reading cannot move any state
 * (not GOOD, or GOOD with value and rate inside the quiet bands) skips its
 * states: the steady path of a healthy series is a few compares.
 */
static void rl_reading(struct rl_ctx *c, struct rl_series *s, const Citygate__V1__Reading *rd,
                       uint64_t ts_ms, int backlog)
{
    int good = rd->quality == CITYGATE__V1__QUALITY__GOOD && !backlog && isfinite(rd->value);
    double v = rd->value, rate = NAN;

    s->seen_ms = c->now_ms;
    if (good && s->has_rate && s->has_value && ts_ms > s->value_ts_ms)
        rate = (v - s->value) * 60000.0 / (double)(ts_ms - s->value_ts_ms);
    if (!s->quiet ||
        (good && (v < s->quiet_lo || v > s->quiet_hi || rate < s->rate_lo || rate > s->rate_hi))) {
        c->series = s;
        c->value = good ? v : s->value;
        c->timestamp_ms = good ? ts_ms : s->value_ts_ms;
        s->quiet = 1;
        for (uint16_t i = 0; i < s->n_states; i++)
            s->quiet &= (uint8_t)rl_state_reading(c, &s->states[i], good, rate);
    }
    if (good) {
        s->value = rd->value;
        s->value_ts_ms = ts_ms;
        s->has_value = 1;
    }
}

int gw_rules_eval(struct gw_rules *rs, const Citygate__V1__Frame *f, uint64_t now_ms,
                  gw_alert_fn emit, void *ctx)
{
    struct rl_ctx c = {.rs = rs, .now_ms = now_ms, .emit = emit, .emit_ctx = ctx};
    struct rl_node *n;
    size_t i = 0, hint = 0;
    int rc;

    while (i < f->n_readings && !rl_selected(rs, f->readings[i]->quantity))
        i++;
    if (i == f->n_readings)
        return 0;
    if ((rc = rl_node_get(rs, f->site_id, f->device_id, &n)) != 0 || n->n_cand == 0)
        return rc;
    c.node = n;
    for (; i < f->n_readings; i++) {
        const Citygate__V1__Reading *rd = f->readings[i];
        struct rl_series *s;
        if (!rl_selected(rs, rd->quantity))
            continue;
        int err = rl_series_get(rs, n, hint++, rd->quantity, rd->lane, now_ms, &s);
        if (err != 0) {
            rc = rc ? rc : err;
            continue;
        }
        rl_reading(&c, s, rd, f->timestamp_ms, f->backlog);
    }
    return rc;
}

/* Puts st into absence with cause, notified at once. */
static void rl_absent(struct rl_ctx *c, struct rl_series *s, struct rl_state *st,
                      enum gw_alert_cause cause)
{
    s->quiet = 0;
    st->flags = RL_ABSENT;
    st->cause = (uint8_t)cause;
    rl_apply(c, st, 1);
}

static void rl_series_ctx(struct rl_ctx *c, const struct rl_series *s)
{
    c->series = s;
    c->value = s->value;
    c->timestamp_ms = s->value_ts_ms;
}

int gw_rules_node_death(struct gw_rules *rs, const char *site, const char *node, uint64_t now_ms,
                        gw_alert_fn emit, void *ctx)
{
    struct rl_ctx c = {.rs = rs, .now_ms = now_ms, .emit = emit, .emit_ctx = ctx};
    struct rl_node *n = NULL;

    HASH_FIND_STR(rs->nodes, node, n);
    if (!n || strcmp(rl_node_site(n), site) != 0)
        return GW_ENOTFOUND;
    c.node = n;
    for (uint16_t i = 0; i < n->n_series; i++) {
        struct rl_series *s = &n->series[i];
        rl_series_ctx(&c, s);
        for (uint16_t j = 0; j < s->n_states; j++)
            if (rs->rules[s->states[j].rule].absence_ms && !(s->states[j].flags & RL_ABSENT))
                rl_absent(&c, s, &s->states[j], GW_CAUSE_DEATH);
    }
    return 0;
}

void gw_rules_tick(struct gw_rules *rs, uint64_t now_ms, gw_alert_fn emit, void *ctx)
{
    struct rl_ctx c = {.rs = rs, .now_ms = now_ms, .emit = emit, .emit_ctx = ctx};
    struct rl_node *n, *tmp;

    if (now_ms < rs->next_due_ms)
        return;
    rs->next_due_ms = UINT64_MAX;
    HASH_ITER(hh, rs->nodes, n, tmp)
    {
        c.node = n;
        for (uint16_t i = 0; i < n->n_series; i++) {
            struct rl_series *s = &n->series[i];
            rl_series_ctx(&c, s);
            for (uint16_t j = 0; j < s->n_states; j++) {
                struct rl_state *st = &s->states[j];
                const struct rl_rule *r = &rs->rules[st->rule];
                if (r->absence_ms && !(st->flags & RL_ABSENT) &&
                    rl_elapsed(now_ms, s->seen_ms) >= r->absence_ms)
                    rl_absent(&c, s, st, GW_CAUSE_ABSENCE);
                else if (!s->quiet)
                    rl_apply(&c, st, 0);
                else if (r->absence_ms) /* quiet: only its absence can come due */
                    rs->next_due_ms = rl_min(rs->next_due_ms, rl_add(s->seen_ms, r->absence_ms));
            }
        }
    }
}

/* ---- carrying states over to a new rule set ---- */

/* 1 when a and b are the same rule: same name, selectors and definition. */
static int rl_same_rule(const struct rl_rule *a, const struct rl_rule *b)
{
    /* NAN != NAN: an unset value matches an unset one. */
#define RL_SAME(f) (a->f == b->f || (isnan(a->f) && isnan(b->f)))
    return strcmp(a->name, b->name) == 0 && strcmp(a->site, b->site) == 0 &&
           strcmp(a->node, b->node) == 0 && strcmp(a->quantity, b->quantity) == 0 &&
           strcmp(a->lane, b->lane) == 0 && a->dir == b->dir && RL_SAME(warn) && RL_SAME(crit) &&
           RL_SAME(warn_reset) && RL_SAME(crit_reset) && RL_SAME(rate_per_min) &&
           a->rate_level == b->rate_level && a->absence_level == b->absence_level &&
           a->for_ms == b->for_ms && a->absence_ms == b->absence_ms && a->hold_ms == b->hold_ms;
#undef RL_SAME
}

/* The state of the rule named name in series s, or NULL. */
static struct rl_state *rl_state_named(const struct gw_rules *rs, struct rl_series *s,
                                       const char *name)
{
    for (uint16_t i = 0; i < s->n_states; i++)
        if (strcmp(rs->rules[s->states[i].rule].name, name) == 0)
            return &s->states[i];
    return NULL;
}

/*
 * Gives state to of series ns (in c->rs) what old state from said, and
 * re-evaluates it when its rule changed: against the series' last GOOD value,
 * a fall notified at once (the rule that held it back is gone).
 */
static void rl_carry_state(const struct rl_ctx *c, struct rl_series *ns, struct rl_state *to,
                           const struct rl_state *from, int same)
{
    const struct rl_rule *r = &c->rs->rules[to->rule];
    uint16_t rule = to->rule;
    *to = *from;
    to->rule = rule;
    if (!same) {
        if ((to->flags & RL_ABSENT) && !r->absence_ms)
            to->flags = 0;
        if (!(to->flags & RL_ABSENT) && ns->has_value)
            rl_state_reading(c, to, 1, NAN);
        rl_apply(c, to, 1);
    }
    c->rs->next_due_ms = rl_min(c->rs->next_due_ms, rl_state_due(r, ns, to, c->now_ms));
}

/*
 * Carries series os of node on (both in from) over into to, at the same
 * (site, node, quantity, lane); notifies what changes, an OK for a raised
 * state whose rule is gone or no longer selects the series.
 */
static void rl_carry_series(struct gw_rules *to, const struct gw_rules *from,
                            const struct rl_node *on, const struct rl_series *os, uint64_t now_ms,
                            gw_alert_fn emit, void *ctx)
{
    struct rl_ctx oc = {
        .rs = (struct gw_rules *)from, .node = on, .now_ms = now_ms, .emit = emit, .emit_ctx = ctx};
    struct rl_node *nn = NULL;
    struct rl_series *ns = NULL;
    rl_series_ctx(&oc, os);
    if (rl_node_get(to, rl_node_site(on), on->id, &nn) == 0 &&
        rl_series_get(to, nn, 0, os->quantity, os->lane, os->seen_ms, &ns) == 0) {
        ns->value = os->value;
        ns->value_ts_ms = os->value_ts_ms;
        ns->has_value = os->has_value;
        ns->seen_ms = os->seen_ms;
    }
    struct rl_ctx nc = {.rs = to,
                        .node = nn,
                        .series = ns,
                        .now_ms = now_ms,
                        .value = os->value,
                        .timestamp_ms = os->value_ts_ms,
                        .emit = emit,
                        .emit_ctx = ctx};
    for (uint16_t i = 0; i < os->n_states; i++) {
        const struct rl_state *st = &os->states[i];
        const struct rl_rule *r = &from->rules[st->rule];
        struct rl_state *ts = ns ? rl_state_named(to, ns, r->name) : NULL;
        if (ts)
            rl_carry_state(&nc, ns, ts, st, rl_same_rule(r, &to->rules[ts->rule]));
        else if (st->level != GW_ALERT_OK)
            rl_emit(&oc, r, (enum gw_alert_level)st->level, GW_ALERT_OK, GW_CAUSE_THRESHOLD);
    }
    if (ns) {
        ns->quiet = 1;
        for (uint16_t i = 0; i < ns->n_states; i++)
            ns->quiet &= (uint8_t)(ns->states[i].level == GW_ALERT_OK && ns->states[i].flags == 0);
    }
}

void gw_rules_carry(struct gw_rules *to, const struct gw_rules *from, uint64_t now_ms,
                    gw_alert_fn emit, void *ctx)
{
    const struct rl_node *n, *tmp;
    HASH_ITER(hh, from->nodes, n, tmp)
    {
        for (uint16_t i = 0; i < n->n_series; i++)
            rl_carry_series(to, from, n, &n->series[i], now_ms, emit, ctx);
    }
}

void gw_rules_stats(const struct gw_rules *rs, struct gw_rules_stats *out)
{
    out->n_rules = rs->n_rules;
    out->n_nodes = rs->n_nodes;
    out->n_series = rs->n_series;
    out->n_states = rs->n_states;
    out->n_nodes_refused = rs->n_nodes_refused;
    out->n_series_refused = rs->n_series_refused;
    out->state_bytes = rs->state_bytes;
}
