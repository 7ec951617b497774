/*
 * rollout.c -- `cityflash rollout`: a signed image to a fleet over MQTT, in
 * groups, stopping at a failure threshold (docs/rollouts.md).
 *
 * The nodes are the registry's devices that match --nodes, sorted by id, cut
 * into the groups of --groups (10%,50%,100%: the first 10 %, then up to
 * half, then the rest). A group starts when the one before it is done and
 * enough of its nodes (--min-success) are CONFIRMED. In a group each online
 * node gets the manifest, then the blocks its answer says it lacks: at most
 * --window blocks unanswered per node and --total-window in all, so that the
 * broker and the nodes' data never wait behind an update. A block without an
 * answer for 10 s of connection is sent again (the broker session keeps the
 * answers that come while the connection is down, fleet.h); a node that
 * restarts (a new birth) gets the manifest again and sends the bitmap of
 * what it holds, so no acknowledged block is ever sent twice (counted:
 * acked_resent must stay 0). A node that stays offline is parked with a
 * reason; it counts neither way.
 *
 * Every node's outcome comes from its own signed, retained update report, so
 * a restarted rollout (--resume: the settings from --state) sees at once who
 * is CONFIRMED, who failed and why, and carries on from there with the same
 * transfer id. At --max-failures failed nodes (REVERTED or FAILED) the
 * rollout stops: no new node starts, transfers still downloading are
 * cancelled, and those already booting their test image are waited for. So
 * is each cancelled node's answer: one that held every block before the
 * cancel reached it refuses the cancel and installs, and counts as any other.
 * The cancel goes again CANCEL_SENDS times over --cancel-timeout (a cancel or
 * its answer lost with the broker), and an online node that has not answered
 * by then is no longer waited for: the stop must not hold the operator for a
 * node timeout. The cancelled nodes go into the state file: their FAILED
 * "cancelled" report is the rollout's own doing, so a resumed rollout starts
 * them again instead of counting them as failed. Those that never answered
 * go in as "unanswered": they may still install (if they held every block),
 * and a resumed rollout tells from their report which it was.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/evp.h>

#include "atomic_file.h"
#include "cityflash.h"
#include "crypto_openssl.h"
#include "fleet.h"
#include "image.h"
#include "image_file.h"
#include "units.h"
#include "update.h"

#define MAX_GROUPS 16
#define BLOCK NODE_UPDATE_BLOCK_BYTES
#define RESEND_MS 10000
#define MANIFEST_RESEND_MS 5000
#define SETTLE_MS 1500
#define HELD 1
#define ACKED 2
/* The bounds of the numeric settings, from the command line and from the state file alike. */
#define MAX_FAILURES_MAX 1000000
#define WINDOW_MAX 256
#define TOTAL_WINDOW_MAX 60000 /* under CF_FLEET_MAX_INFLIGHT */
#define NODE_TIMEOUT_MIN_MS 1000
#define NODE_TIMEOUT_MAX_MS (7 * 86400000ull)
#define CANCEL_SENDS 4 /* a stop's cancel goes out this often over --cancel-timeout */
/* The state file's format ("version 1", its first line); a file without the line is version 1
 * too (written before the line was). */
#define STATE_VERSION 1

enum phase {
    P_WAIT,     /* its group has not started, or it is offline */
    P_MANIFEST, /* manifest sent, answer awaited */
    P_SEND,     /* blocks going out */
    P_INSTALL,  /* every block held: DOWNLOADED, TESTING ... */
    P_OK,       /* CONFIRMED */
    P_FAIL,     /* REVERTED or FAILED (why) */
    P_PARKED,   /* offline too long, or the rollout stopped before it (why) */
};

struct rnode {
    enum phase ph;
    unsigned group;
    uint8_t *held;  /* per block: HELD (the node holds it), ACKED (it said so once) */
    uint64_t *sent; /* per block: when sent and not answered yet; 0 otherwise */
    uint32_t inflight;
    uint32_t next; /* the next block to look at */
    uint64_t manifest_ms, phase_ms, held_bytes;
    int cancelled;      /* a stop (this run's or one before) cancelled its download: its FAILED
                         * "cancelled" report is ours, not its */
    uint64_t cancel_ms; /* this run's cancel, until the node's report answers it; 0 otherwise */
    uint64_t cancel_sent_ms; /* when this run's cancel last went out */
    unsigned cancel_sends;   /* how often it went out */
    int unanswered;          /* a stop (this run's or one before) had no answer to its cancel */
    char why[160];
};

struct settings {
    char image[1024], nodes[256], groups[128], state[1024], broker[512], registry[1024];
    unsigned pct[MAX_GROUPS], n_groups;
    uint64_t max_failures, window, total_window, node_timeout_ms, cancel_timeout_ms;
    double min_success;
};

struct rollout {
    struct settings s;
    struct cf_fleet *fleet;
    struct cf_node *nodes;
    struct rnode *r;
    size_t n, cut[MAX_GROUPS];
    unsigned group;
    int stopping;
    struct node_image_file img;
    struct node_image_info info;
    uint8_t sha[NODE_SHA256_BYTES], sig[NODE_ED25519_SIG_BYTES];
    char tid[NODE_UPDATE_ID_BYTES], version[48];
    uint32_t n_blocks;
    uint64_t total_inflight, sent, resent, acked_resent, refusals;
    /* resent: sent again after RESEND_MS without an answer; acked_resent: sent again
     * although the node had acknowledged it (only after the node lost it) */
    uint64_t group_start_ms;
};

static size_t block_len(const struct rollout *ro, uint32_t i)
{
    uint64_t off = (uint64_t)i * BLOCK;
    return ro->img.len - off < BLOCK ? ro->img.len - off : BLOCK;
}

static void set_phase(struct rollout *ro, size_t i, enum phase ph, const char *why)
{
    struct rnode *r = &ro->r[i];
    if (r->ph == P_SEND || r->ph == P_MANIFEST)
        for (uint32_t b = 0; b < ro->n_blocks; b++)
            if (r->sent[b]) {
                r->sent[b] = 0;
                ro->total_inflight--;
            }
    r->inflight = 0;
    r->ph = ph;
    r->phase_ms = cli_now_ms();
    if (why)
        snprintf(r->why, sizeof r->why, "%s", why);
    if (ph == P_FAIL)
        cli_error("%s: %s", ro->nodes[i].dev->id, r->why);
}

static size_t index_of(const struct rollout *ro, const struct cf_node *n)
{
    return (size_t)(n - ro->nodes);
}

/* A retained report about our transfer: the outcome. A node the rollout cancelled is no
 * failure: parked by the cancel, its cancel report is ours; after a resume that report
 * leaves it waiting to be started again, and once started again it counts as any other.
 * One that held every block before the cancel came refused it: it installs, and counts. */
static void on_report(void *ctx, struct cf_node *n)
{
    struct rollout *ro = ctx;
    size_t i = index_of(ro, n);
    const struct cf_report *rep = &n->report;
    struct rnode *r = &ro->r[i];
    int our_cancel =
        rep->state == NODE_UPDATE_FAILED && strcmp(rep->reason, NODE_UPDATE_CANCELLED) == 0;
    if (strcmp(rep->transfer_id, ro->tid) != 0 || r->ph == P_OK || r->ph == P_FAIL)
        return;
    if (our_cancel || rep->state != NODE_UPDATE_DOWNLOADING) {
        r->cancel_ms = 0; /* the cancel is answered */
        r->unanswered = 0;
    }
    if (r->cancelled && r->ph == P_PARKED && !our_cancel && rep->state != NODE_UPDATE_DOWNLOADING) {
        r->cancelled = 0; /* it held every block before the cancel came, and installs */
        set_phase(ro, i, P_INSTALL, NULL);
    }
    if (r->cancelled && (our_cancel || r->ph == P_PARKED))
        return;
    char why[200];
    if (rep->state == NODE_UPDATE_CONFIRMED) {
        set_phase(ro, i, P_OK, NULL);
    } else if (rep->state == NODE_UPDATE_REVERTED || rep->state == NODE_UPDATE_FAILED) {
        snprintf(why, sizeof why, "%s: %s",
                 node_update_state_name((enum node_update_state)rep->state), rep->reason);
        set_phase(ro, i, P_FAIL, why);
    } else if ((rep->state == NODE_UPDATE_DOWNLOADED || rep->state == NODE_UPDATE_TESTING) &&
               ro->r[i].ph != P_WAIT) {
        set_phase(ro, i, P_INSTALL, NULL);
    }
}

/* A node restarted: what it holds is asked again with the manifest. */
static void on_birth(void *ctx, struct cf_node *n)
{
    struct rollout *ro = ctx;
    size_t i = index_of(ro, n);
    if (ro->r[i].ph == P_SEND || ro->r[i].ph == P_MANIFEST) {
        set_phase(ro, i, P_MANIFEST, NULL);
        ro->r[i].manifest_ms = 0;
    }
}

static void on_answer(void *ctx, struct cf_node *n, const Citygate__V1__UpdateReport *a)
{
    struct rollout *ro = ctx;
    size_t i = index_of(ro, n);
    struct rnode *r = &ro->r[i];
    if (!a->transfer_id || strcmp(a->transfer_id, ro->tid) != 0) {
        if (r->ph == P_MANIFEST && a->reason && *a->reason)
            set_phase(ro, i, P_FAIL, a->reason); /* refused, e.g. busy with another transfer */
        return;
    }
    if (a->ack) {
        uint64_t b = a->offset / BLOCK;
        if (b >= ro->n_blocks || (r->held[b] & HELD))
            return;
        r->held[b] = HELD | ACKED;
        r->held_bytes += block_len(ro, (uint32_t)b);
        r->phase_ms = cli_now_ms(); /* progress: the node timeout counts from here */
        if (r->sent[b]) {
            r->sent[b] = 0;
            r->inflight--;
            ro->total_inflight--;
        }
        if (r->held_bytes == ro->img.len && r->ph == P_SEND)
            set_phase(ro, i, P_INSTALL, NULL);
        return;
    }
    if (a->reason && *a->reason) {
        ro->refusals++;
        if (r->ph == P_MANIFEST)
            set_phase(ro, i, P_FAIL, a->reason);
        return;
    }
    if (r->ph != P_MANIFEST)
        return;
    if (a->state == CITYGATE__V1__UPDATE_STATE__DOWNLOADING) {
        r->held_bytes = 0;
        for (uint32_t b = 0; b < ro->n_blocks; b++) {
            int bit = b / 8 < a->bitmap.len && (a->bitmap.data[b / 8] >> (b % 8) & 1);
            r->held[b] = (uint8_t)((r->held[b] & ACKED) | (bit ? HELD : 0));
            r->held_bytes += bit ? block_len(ro, b) : 0;
        }
        set_phase(ro, i, r->held_bytes == ro->img.len ? P_INSTALL : P_SEND, NULL);
    } else {
        set_phase(ro, i, P_INSTALL, NULL); /* installed already: the report tells the rest */
    }
}

static int send_manifest(struct rollout *ro, size_t i)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    Citygate__V1__UpdateManifest m = CITYGATE__V1__UPDATE_MANIFEST__INIT;
    m.transfer_id = ro->tid;
    m.size = ro->img.len;
    m.sha256 = (ProtobufCBinaryData){sizeof ro->sha, ro->sha};
    m.image_hash = (ProtobufCBinaryData){sizeof ro->info.hash, ro->info.hash};
    m.signature = (ProtobufCBinaryData){sizeof ro->sig, ro->sig};
    m.version = ro->version;
    m.security_counter = ro->info.security_counter;
    c.cmd = "ota";
    c.manifest = &m;
    return cf_fleet_send(ro->fleet, &ro->nodes[i], &c);
}

static int send_block(struct rollout *ro, size_t i, uint32_t b)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    Citygate__V1__UpdateBlock blk = CITYGATE__V1__UPDATE_BLOCK__INIT;
    blk.transfer_id = ro->tid;
    blk.offset = (uint64_t)b * BLOCK;
    blk.data = (ProtobufCBinaryData){block_len(ro, b), ro->img.data + blk.offset};
    c.cmd = "ota_block";
    c.block = &blk;
    return cf_fleet_send(ro->fleet, &ro->nodes[i], &c);
}

/* The stop's cancel to node i, now; again if it was sent before (the node ignores a second: it
 * refuses to cancel what is no longer downloading). Counts the ones that went out. */
static void cancel(struct rollout *ro, size_t i, uint64_t now)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    c.cmd = "ota_cancel";
    c.transfer_id = ro->tid;
    ro->r[i].cancel_sends += cf_fleet_send(ro->fleet, &ro->nodes[i], &c) == 0;
    ro->r[i].cancel_sent_ms = now;
}

/* Blocks out for node i, within the windows; unanswered ones again after RESEND_MS of connection
 * (a block sent before the broker went away may still arrive, and its answer with it: the
 * session keeps both). */
static void feed(struct rollout *ro, size_t i, uint64_t now)
{
    struct rnode *r = &ro->r[i];
    uint64_t connected = cf_fleet_connected_ms(ro->fleet);
    for (uint32_t b = 0; b < ro->n_blocks; b++)
        if (r->sent[b] && now > (r->sent[b] > connected ? r->sent[b] : connected) + RESEND_MS) {
            r->sent[b] = 0;
            r->inflight--;
            ro->total_inflight--;
            ro->resent++;
        }
    for (uint32_t k = 0;
         k < ro->n_blocks && r->inflight < ro->s.window && ro->total_inflight < ro->s.total_window;
         k++) {
        uint32_t b = (r->next + k) % ro->n_blocks;
        if ((r->held[b] & HELD) || r->sent[b])
            continue;
        if (send_block(ro, i, b) != 0)
            return;
        ro->acked_resent += (r->held[b] & ACKED) != 0; /* the node lost it (a power cut) */
        r->sent[b] = now;
        r->inflight++;
        ro->total_inflight++;
        ro->sent++;
        r->next = b + 1;
    }
}

static int group_done(const struct rollout *ro, unsigned g, size_t *ok, size_t *all)
{
    size_t from = g ? ro->cut[g - 1] : 0;
    *ok = 0;
    *all = ro->cut[g] - from;
    int done = 1;
    for (size_t i = from; i < ro->cut[g]; i++) {
        *ok += ro->r[i].ph == P_OK;
        done &= ro->r[i].ph == P_OK || ro->r[i].ph == P_FAIL || ro->r[i].ph == P_PARKED;
    }
    return done;
}

static size_t count(const struct rollout *ro, enum phase ph)
{
    size_t c = 0;
    for (size_t i = 0; i < ro->n; i++)
        c += ro->r[i].ph == ph;
    return c;
}

/*
 * The cancels still waited for: those of nodes online whose report has not yet said what became
 * of the cancel, for --cancel-timeout from the first. Each goes out again every quarter of it, so
 * that one lost with the broker (or its answer, which the node then sends again) costs a quarter.
 * Returns 1 while one is waited for.
 */
static int cancels_pending(struct rollout *ro, uint64_t now)
{
    int pending = 0;
    for (size_t i = 0; i < ro->n; i++) {
        struct rnode *r = &ro->r[i];
        if (!r->cancel_ms || !ro->nodes[i].online || now >= r->cancel_ms + ro->s.cancel_timeout_ms)
            continue;
        pending = 1;
        if (now >= r->cancel_sent_ms + ro->s.cancel_timeout_ms / CANCEL_SENDS)
            cancel(ro, i, now);
    }
    return pending;
}

/* Nodes whose cancel had no answer when the stop ended (r->cancel_ms still set). */
static size_t count_unanswered(const struct rollout *ro)
{
    size_t c = 0;
    for (size_t i = 0; i < ro->n; i++)
        c += ro->r[i].cancel_ms != 0;
    return c;
}

static void summary(const struct rollout *ro)
{
    fprintf(stderr,
            "rollout %s: group %u/%u | confirmed %zu | downloading %zu | installing %zu | "
            "failed %zu/%" PRIu64 " | parked %zu | waiting %zu | blocks sent %" PRIu64 " (%" PRIu64
            " again)\n",
            ro->tid, ro->group < ro->s.n_groups ? ro->group + 1 : ro->s.n_groups, ro->s.n_groups,
            count(ro, P_OK), count(ro, P_SEND) + count(ro, P_MANIFEST), count(ro, P_INSTALL),
            count(ro, P_FAIL), ro->s.max_failures, count(ro, P_PARKED), count(ro, P_WAIT), ro->sent,
            ro->resent);
}

static uint64_t group_bytes(const struct rollout *ro, unsigned g, uint64_t *total)
{
    uint64_t done = 0;
    size_t from = g ? ro->cut[g - 1] : 0;
    *total = (uint64_t)(ro->cut[g] - from) * ro->img.len;
    for (size_t i = from; i < ro->cut[g]; i++)
        done +=
            ro->r[i].ph >= P_INSTALL && ro->r[i].ph != P_PARKED ? ro->img.len : ro->r[i].held_bytes;
    return done;
}

/* One pass over the active group: start nodes, feed blocks, time out. */
static void step(struct rollout *ro, uint64_t now)
{
    size_t from = ro->group ? ro->cut[ro->group - 1] : 0;
    uint64_t transfers = 0;
    for (size_t i = 0; i < ro->n; i++)
        transfers += ro->r[i].ph == P_SEND || ro->r[i].ph == P_MANIFEST;
    for (size_t i = from; i < ro->cut[ro->group]; i++) {
        struct rnode *r = &ro->r[i];
        struct cf_node *n = &ro->nodes[i];
        if (r->ph == P_WAIT && !ro->stopping) {
            if (!n->online || n->boot_id == 0) {
                if (now > ro->group_start_ms + ro->s.node_timeout_ms)
                    set_phase(ro, i, P_PARKED, "offline");
                continue;
            }
            if (transfers * ro->s.window >= ro->s.total_window)
                continue;
            set_phase(ro, i, P_MANIFEST, NULL);
            r->manifest_ms = 0;
            transfers++;
        }
        if (r->ph == P_MANIFEST &&
            (r->manifest_ms == 0 || now > r->manifest_ms + MANIFEST_RESEND_MS)) {
            if (send_manifest(ro, i) == 0)
                r->manifest_ms = now;
        }
        if (r->ph == P_SEND)
            feed(ro, i, now);
        if ((r->ph == P_MANIFEST || r->ph == P_SEND || r->ph == P_INSTALL) &&
            now > r->phase_ms + ro->s.node_timeout_ms) {
            char why[96], d[32];
            snprintf(why, sizeof why, "no progress for %s",
                     cli_format_duration(ro->s.node_timeout_ms, d, sizeof d));
            set_phase(ro, i, r->ph == P_INSTALL ? P_FAIL : P_PARKED, why);
        }
    }
}

/* ---- settings and the state file ---- */

static int parse_groups(struct settings *s)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s->groups);
    s->n_groups = 0;
    unsigned last = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long v = strtoul(t, &end, 10);
        if (end == t || strcmp(end, "%") != 0 || v <= last || v > 100 || s->n_groups == MAX_GROUPS)
            return -1;
        s->pct[s->n_groups++] = (unsigned)v;
        last = (unsigned)v;
    }
    return s->n_groups > 0 && last == 100 ? 0 : -1;
}

/* The format's version, the settings, then the nodes a stop cancelled, one a line: "cancelled
 * ID" once the node's report answered the cancel, "unanswered ID" while it has not (the node may
 * still be downloading, or installing if it held every block). */
static int save_state(const struct rollout *ro)
{
    const struct settings *s = &ro->s;
    char text[4096];
    int len = snprintf(
        text, sizeof text,
        "version %d\nimage %s\nnodes %s\ngroups %s\nmax_failures %" PRIu64
        "\nmin_success %.6g\nbroker %s\nregistry %s\nwindow %" PRIu64 "\ntotal_window %" PRIu64
        "\nnode_timeout_ms %" PRIu64 "\ncancel_timeout_ms %" PRIu64 "\n",
        STATE_VERSION, s->image, s->nodes, s->groups, s->max_failures, s->min_success, s->broker,
        s->registry, s->window, s->total_window, s->node_timeout_ms, s->cancel_timeout_ms);
    if (len < 0 || (size_t)len >= sizeof text)
        return -1;
    size_t cap = (size_t)len + 1;
    for (size_t i = 0; i < ro->n; i++)
        cap += ro->r[i].cancelled ? strlen(ro->nodes[i].dev->id) + 12 : 0;
    char *all = malloc(cap);
    if (!all)
        return -1;
    size_t at = (size_t)len;
    memcpy(all, text, at);
    for (size_t i = 0; i < ro->n; i++)
        if (ro->r[i].cancelled)
            at += (size_t)snprintf(all + at, cap - at, "%s %s\n",
                                   ro->r[i].cancel_ms || ro->r[i].unanswered ? "unanswered"
                                                                             : "cancelled",
                                   ro->nodes[i].dev->id);
    int rc = node_file_write_atomic(s->state, all, at, 0644);
    free(all);
    return rc;
}

static void save_cancelled(const struct rollout *ro)
{
    if (save_state(ro) != 0)
        cli_error("cannot record the cancelled nodes in %s: %s (a --resume would count them as "
                  "failed)",
                  ro->s.state, strerror(errno));
}

/* The nodes an earlier stop cancelled, from the state file (the settings came before); a FAILED
 * "cancelled" report of either kind is the rollout's own. */
static void load_cancelled(struct rollout *ro)
{
    FILE *f = fopen(ro->s.state, "r");
    char line[2048];
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        int unanswered = strncmp(line, "unanswered ", 11) == 0;
        if (strncmp(line, "cancelled ", 10) != 0 && !unanswered)
            continue;
        for (size_t i = 0; i < ro->n; i++)
            if (strcmp(ro->nodes[i].dev->id, strchr(line, ' ') + 1) == 0) {
                ro->r[i].cancelled = 1;
                ro->r[i].unanswered = unanswered;
            }
    }
    fclose(f);
}

static int load_state(struct settings *s, char *err, size_t cap)
{
    FILE *f = fopen(s->state, "r");
    char line[2048];
    int bad = 0; /* a number that is not one */
    uint64_t version = STATE_VERSION;
    if (!f) {
        snprintf(err, cap, "cannot read the state file %.900s: %s", s->state, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ' ');
        if (!v)
            continue;
        *v++ = '\0';
        v[strcspn(v, "\n")] = '\0';
        if (strcmp(line, "version") == 0)
            bad |= gw_parse_uint(v, &version) != 0;
        else if (strcmp(line, "image") == 0)
            snprintf(s->image, sizeof s->image, "%s", v);
        else if (strcmp(line, "nodes") == 0)
            snprintf(s->nodes, sizeof s->nodes, "%s", v);
        else if (strcmp(line, "groups") == 0)
            snprintf(s->groups, sizeof s->groups, "%s", v);
        else if (strcmp(line, "broker") == 0)
            snprintf(s->broker, sizeof s->broker, "%s", v);
        else if (strcmp(line, "registry") == 0)
            snprintf(s->registry, sizeof s->registry, "%s", v);
        else if (strcmp(line, "max_failures") == 0)
            bad |= gw_parse_uint(v, &s->max_failures) != 0;
        else if (strcmp(line, "min_success") == 0)
            bad |= gw_parse_real(v, &s->min_success) != 0;
        else if (strcmp(line, "window") == 0)
            bad |= gw_parse_uint(v, &s->window) != 0;
        else if (strcmp(line, "total_window") == 0)
            bad |= gw_parse_uint(v, &s->total_window) != 0;
        else if (strcmp(line, "node_timeout_ms") == 0)
            bad |= gw_parse_uint(v, &s->node_timeout_ms) != 0;
        else if (strcmp(line, "cancel_timeout_ms") == 0)
            bad |= gw_parse_uint(v, &s->cancel_timeout_ms) != 0;
    }
    fclose(f);
    if (!bad && version != STATE_VERSION) {
        snprintf(err, cap,
                 "%.900s: state file version %" PRIu64 "; this cityflash reads version %d",
                 s->state, version, STATE_VERSION);
        return -1;
    }
    bad |= s->max_failures < 1 || s->max_failures > MAX_FAILURES_MAX ||
           !(s->min_success >= 0 && s->min_success <= 100) || s->window < 1 ||
           s->window > WINDOW_MAX || s->total_window > TOTAL_WINDOW_MAX ||
           s->node_timeout_ms < NODE_TIMEOUT_MIN_MS || s->node_timeout_ms > NODE_TIMEOUT_MAX_MS ||
           s->cancel_timeout_ms < NODE_TIMEOUT_MIN_MS || s->cancel_timeout_ms > NODE_TIMEOUT_MAX_MS;
    if (bad || !*s->image || !*s->nodes || parse_groups(s) != 0 || !*s->broker || !*s->registry ||
        s->total_window < s->window) {
        snprintf(err, cap, "%.900s is not a rollout state file", s->state);
        return -1;
    }
    return 0;
}

/* The image: its bytes, SHA-256, own hash, version, counter and ED25519 signature (last TLV). */
static int load_image(struct rollout *ro, char *err, size_t cap)
{
    if (node_image_file_load(ro->s.image, NODE_UPDATE_MAX_IMAGE_BYTES, &ro->img, err, cap) != 0)
        return EX_NOINPUT;
    int v = node_image_verify(&ro->img.storage, &node_crypto_openssl, NULL, 0, &ro->info);
    const uint8_t *t = ro->img.data + ro->img.len - NODE_ED25519_SIG_BYTES - 4;
    if (v < 0 || ro->img.len < NODE_ED25519_SIG_BYTES + 4 || t[0] != NODE_IMAGE_TLV_ED25519 ||
        t[1] != 0 || t[2] != NODE_ED25519_SIG_BYTES || t[3] != 0) {
        snprintf(err, cap, "%s: %s", ro->s.image,
                 v < 0 ? node_image_strerror(v) : "its last TLV is not an ed25519 signature");
        return EX_DATAERR;
    }
    memcpy(ro->sig, t + 4, sizeof ro->sig);
    unsigned n = 0;
    EVP_Digest(ro->img.data, ro->img.len, ro->sha, &n, EVP_sha256(), NULL);
    node_image_version_format(&ro->info.hdr.ver, ro->version, sizeof ro->version);
    snprintf(ro->tid, sizeof ro->tid, "fw-%02x%02x%02x%02x%02x%02x", ro->sha[0], ro->sha[1],
             ro->sha[2], ro->sha[3], ro->sha[4], ro->sha[5]);
    ro->n_blocks = (uint32_t)((ro->img.len + BLOCK - 1) / BLOCK);
    return 0;
}

/* ---- the outcome ---- */

static const char *phase_name(enum phase ph)
{
    static const char *const names[] = {"waiting",   "downloading", "downloading", "installing",
                                        "confirmed", "failed",      "parked"};
    return names[ph];
}

static void report(const struct cf_opts *o, const struct rollout *ro, const char *stop_why,
                   uint64_t duplicates)
{
    if (o->json) {
        struct cli_json j;
        cf_json_begin(&j);
        cli_json_key(&j, "transfer_id");
        cli_json_str(&j, ro->tid);
        cli_json_key(&j, "version");
        cli_json_str(&j, ro->version);
        cli_json_key(&j, "stopped");
        if (stop_why)
            cli_json_str(&j, stop_why);
        else
            cli_json_null(&j);
        cli_json_key(&j, "confirmed");
        cli_json_uint(&j, count(ro, P_OK));
        cli_json_key(&j, "failed");
        cli_json_uint(&j, count(ro, P_FAIL));
        cli_json_key(&j, "blocks_sent");
        cli_json_uint(&j, ro->sent);
        cli_json_key(&j, "blocks_sent_again");
        cli_json_uint(&j, ro->resent);
        cli_json_key(&j, "acked_blocks_sent_again");
        cli_json_uint(&j, ro->acked_resent);
        cli_json_key(&j, "node_duplicates");
        cli_json_uint(&j, duplicates);
        cli_json_key(&j, "cancels_unanswered");
        cli_json_uint(&j, count_unanswered(ro));
        cli_json_key(&j, "nodes");
        cli_json_begin_array(&j);
        for (size_t i = 0; i < ro->n; i++) {
            cli_json_begin_object(&j);
            cli_json_key(&j, "node");
            cli_json_str(&j, ro->nodes[i].dev->id);
            cli_json_key(&j, "group");
            cli_json_uint(&j, ro->r[i].group + 1);
            cli_json_key(&j, "outcome");
            cli_json_str(&j, phase_name(ro->r[i].ph));
            cli_json_key(&j, "reason");
            cli_json_str(&j, ro->r[i].why);
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        cli_json_end_object(&j);
        return;
    }
    for (size_t i = 0; i < ro->n; i++)
        if (ro->r[i].ph == P_FAIL || ro->r[i].ph == P_PARKED)
            printf("%-24s group %u  %-8s %s\n", ro->nodes[i].dev->id, ro->r[i].group + 1,
                   phase_name(ro->r[i].ph), ro->r[i].why);
    printf("rollout %s (%s): %zu confirmed, %zu failed, %zu parked, %zu not started; "
           "%" PRIu64 " blocks sent, %" PRIu64 " again after no answer, %" PRIu64
           " acknowledged ones again%s%s",
           ro->tid, ro->version, count(ro, P_OK), count(ro, P_FAIL), count(ro, P_PARKED),
           count(ro, P_WAIT), ro->sent, ro->resent, ro->acked_resent, stop_why ? "; stopped: " : "",
           stop_why ? stop_why : "");
    if (count_unanswered(ro))
        printf("; %zu cancels unanswered", count_unanswered(ro));
    printf("\n");
}

/*
 * The command line into *s. *resume: --resume was given; *have_max: so was --max-failures (with
 * --resume, it replaces the state file's). Returns 0 or EX_USAGE.
 */
static int parse_args(struct settings *s, int *resume, int *have_max, int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, NULL, 'i'},
        {"nodes", required_argument, NULL, 'n'},
        {"groups", required_argument, NULL, 'g'},
        {"max-failures", required_argument, NULL, 'f'},
        {"min-success", required_argument, NULL, 's'},
        {"broker", required_argument, NULL, 'b'},
        {"registry", required_argument, NULL, 'r'},
        {"state", required_argument, NULL, 'S'},
        {"window", required_argument, NULL, 'w'},
        {"total-window", required_argument, NULL, 'W'},
        {"node-timeout", required_argument, NULL, 't'},
        {"cancel-timeout", required_argument, NULL, 'T'},
        {"resume", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    int c, settings = 0; /* options --resume takes from the state file instead */
    *have_max = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        settings |= strchr("ingsbrwWtT", c) != NULL;
        switch (c) {
        case 'i':
            snprintf(s->image, sizeof s->image, "%s", optarg);
            break;
        case 'n':
            snprintf(s->nodes, sizeof s->nodes, "%s", optarg);
            break;
        case 'g':
            snprintf(s->groups, sizeof s->groups, "%s", optarg);
            break;
        case 'f':
            if (cli_uint_arg("--max-failures", optarg, 1, MAX_FAILURES_MAX, &s->max_failures))
                return EX_USAGE;
            *have_max = 1;
            break;
        case 's':
            s->min_success = strtod(optarg, &end);
            if (end == optarg || strcmp(end, "%") != 0 || !(s->min_success >= 0) ||
                s->min_success > 100)
                return cli_usage_error("--min-success %s: expected a percentage such as 95%%",
                                       optarg);
            break;
        case 'b':
            snprintf(s->broker, sizeof s->broker, "%s", optarg);
            break;
        case 'r':
            snprintf(s->registry, sizeof s->registry, "%s", optarg);
            break;
        case 'S':
            snprintf(s->state, sizeof s->state, "%s", optarg);
            break;
        case 'w':
            if (cli_uint_arg("--window", optarg, 1, WINDOW_MAX, &s->window))
                return EX_USAGE;
            break;
        case 'W':
            if (cli_uint_arg("--total-window", optarg, 1, TOTAL_WINDOW_MAX, &s->total_window))
                return EX_USAGE;
            break;
        case 't':
            if (cli_duration_arg("--node-timeout", optarg, NODE_TIMEOUT_MIN_MS, NODE_TIMEOUT_MAX_MS,
                                 &s->node_timeout_ms))
                return EX_USAGE;
            break;
        case 'T':
            if (cli_duration_arg("--cancel-timeout", optarg, NODE_TIMEOUT_MIN_MS,
                                 NODE_TIMEOUT_MAX_MS, &s->cancel_timeout_ms))
                return EX_USAGE;
            break;
        case 'R':
            *resume = 1;
            break;
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (*resume && settings)
        return cli_usage_error("--resume takes the settings from the state file: only --state "
                               "and --max-failures go with it");
    if (*resume)
        return 0;
    if (!*s->image || !*s->nodes || !*s->groups || !*have_max || !*s->broker || !*s->registry)
        return cli_usage_error(
            "rollout needs --image, --nodes, --groups, --max-failures, --broker and --registry");
    if (parse_groups(s) != 0)
        return cli_usage_error("--groups %s: expected rising percentages ending at 100%%, such "
                               "as 10%%,50%%,100%%",
                               s->groups);
    if (s->total_window < s->window)
        return cli_usage_error("--total-window must be at least --window");
    return 0;
}

/* The failure of a save_state() that nothing may follow (errno says why); its exit code. */
static int state_unwritable(const struct cf_opts *o, const struct settings *s)
{
    return cf_fail(o, EX_CANTCREAT, "cannot write the state file %s: %s", s->state,
                   strerror(errno));
}

int cf_cmd_rollout(const struct cf_opts *o, int argc, char **argv)
{
    struct rollout *ro = calloc(1, sizeof *ro);
    char err[1024];
    int resume = 0, have_max = 0, rc;
    if (!ro)
        return cf_fail(o, EX_SOFTWARE, "out of memory");
    struct settings *s = &ro->s;
    snprintf(s->state, sizeof s->state, "rollout.state");
    s->min_success = 100;
    s->window = 4;
    s->total_window = 64;
    s->node_timeout_ms = 600000;
    s->cancel_timeout_ms = 30000;
    if ((rc = parse_args(s, &resume, &have_max, argc, argv)) != 0) {
        free(ro);
        return rc;
    }
    uint64_t max_failures = s->max_failures;
    if (resume && load_state(s, err, sizeof err) != 0) {
        rc = cf_fail(o, EX_NOINPUT, "%s", err);
        goto out;
    }
    if (have_max)
        s->max_failures = max_failures;
    if ((rc = load_image(ro, err, sizeof err)) != 0) {
        rc = cf_fail(o, rc, "%s", err);
        goto out;
    }
    if (!resume && save_state(ro) != 0) {
        rc = state_unwritable(o, s);
        goto out;
    }
    char client[96];
    snprintf(client, sizeof client, "cityflash-rollout-%s", ro->tid);
    if (cf_fleet_new(s->broker, s->registry, s->nodes, client, &ro->fleet, err, sizeof err) != 0) {
        rc = cf_fail(o, EX_UNAVAILABLE, "%s", err);
        goto out;
    }
    ro->nodes = cf_fleet_nodes(ro->fleet, &ro->n);
    if (ro->n == 0) {
        rc = cf_fail(o, EX_DATAERR, "no node of %s matches %s", s->registry, s->nodes);
        goto out;
    }
    ro->r = calloc(ro->n, sizeof *ro->r);
    if (!ro->r) {
        rc = cf_fail(o, EX_SOFTWARE, "out of memory");
        goto out;
    }
    for (unsigned g = 0; g < s->n_groups; g++)
        ro->cut[g] = (size_t)ceil((double)ro->n * s->pct[g] / 100.0);
    for (size_t i = 0, g = 0; i < ro->n; i++) {
        while (i >= ro->cut[g])
            g++;
        ro->r[i].group = (unsigned)g;
        ro->r[i].held = calloc(ro->n_blocks, 1);
        ro->r[i].sent = calloc(ro->n_blocks, sizeof *ro->r[i].sent);
        if (!ro->r[i].held || !ro->r[i].sent) {
            rc = cf_fail(o, EX_SOFTWARE, "out of memory");
            goto out;
        }
    }
    if (resume)
        load_cancelled(ro);
    /* A threshold given with --resume holds from now on, for a later --resume too. */
    if (resume && have_max && save_state(ro) != 0) {
        rc = state_unwritable(o, s);
        goto out;
    }
    struct cf_fleet_events ev = {on_birth, on_report, on_answer, ro};
    cf_fleet_listen(ro->fleet, &ev);
    /* The retained births and reports: who runs what, who is done with this transfer. */
    cf_fleet_pump(ro->fleet, SETTLE_MS);
    fprintf(stderr, "rollout %s: %s (%zu bytes, %u blocks) to %zu nodes in %u groups\n", ro->tid,
            ro->version, ro->img.len, ro->n_blocks, ro->n, s->n_groups);

    const char *stop_why = NULL;
    char why[256];
    uint64_t last_summary = 0, total = 0;
    struct cli_progress bar;
    ro->group_start_ms = cli_now_ms();
    cli_progress_init(&bar, stderr, "group 1", (group_bytes(ro, 0, &total), total), "B",
                      ro->group_start_ms);
    for (;;) {
        cf_fleet_pump(ro->fleet, 20);
        uint64_t now = cli_now_ms();
        size_t failed = count(ro, P_FAIL), ok = 0, all = 0;
        if (!ro->stopping && failed >= s->max_failures) {
            snprintf(why, sizeof why, "%zu nodes failed (--max-failures %" PRIu64 ")", failed,
                     s->max_failures);
            stop_why = why;
            ro->stopping = 1;
            for (size_t i = 0; i < ro->n; i++)
                if (ro->r[i].ph == P_SEND || ro->r[i].ph == P_MANIFEST) {
                    cancel(ro, i, now);
                    ro->r[i].cancelled = 1;
                    ro->r[i].cancel_ms = now;
                    set_phase(ro, i, P_PARKED, "cancelled: the rollout stopped");
                }
            save_cancelled(ro);
        }
        step(ro, now);
        if (now - last_summary >= 1000) {
            summary(ro);
            last_summary = now;
        }
        cli_progress_update(&bar, group_bytes(ro, ro->group, &total), now);
        if (ro->stopping) {
            if (!cancels_pending(ro, now) && count(ro, P_INSTALL) == 0)
                break;
            continue;
        }
        if (!group_done(ro, ro->group, &ok, &all))
            continue;
        cli_progress_finish(&bar, group_bytes(ro, ro->group, &total), now);
        if (all > 0 && 100.0 * (double)ok / (double)all < s->min_success) {
            snprintf(why, sizeof why, "group %u: %zu of %zu confirmed, under --min-success %g%%",
                     ro->group + 1, ok, all, s->min_success);
            stop_why = why;
            break;
        }
        if (++ro->group == s->n_groups)
            break;
        static char label[16];
        snprintf(label, sizeof label, "group %u", ro->group + 1);
        ro->group_start_ms = now;
        cli_progress_init(&bar, stderr, label, (group_bytes(ro, ro->group, &total), total), "B",
                          now);
    }
    summary(ro);
    for (size_t i = 0; i < ro->n; i++)
        if (ro->r[i].cancel_ms) {
            char d[32];
            snprintf(ro->r[i].why, sizeof ro->r[i].why,
                     "cancelled: the rollout stopped; no answer to the cancel (sent %u times in %s)"
                     ": it may install yet if it held every block",
                     ro->r[i].cancel_sends,
                     cli_format_duration(cli_now_ms() - ro->r[i].cancel_ms, d, sizeof d));
        }
    if (ro->stopping)
        save_cancelled(ro); /* without those that installed after all */
    uint64_t duplicates = 0;
    for (size_t i = 0; i < ro->n; i++)
        duplicates += ro->nodes[i].report.duplicates;
    report(o, ro, stop_why, duplicates);
    rc = stop_why ? EX_DATAERR : 0;
out:
    if (ro->r)
        for (size_t i = 0; i < ro->n; i++) {
            free(ro->r[i].held);
            free(ro->r[i].sent);
        }
    free(ro->r);
    cf_fleet_free(ro->fleet);
    node_image_file_fini(&ro->img);
    free(ro);
    return rc;
}
