/*
 * nodes.c -- per device, what the Nodes view shows (nodes.h).
 *
 * One entry per registered device that has been heard from, created on its
 * first frame, refusal or status message; devices only ever listed in the
 * registry are written with nulls. Only registered devices get an entry,
 * so the table is bounded by the registry, whatever arrives. A change sets
 * the entry's changed flag; the per-second counters event carries the
 * flagged entries and clears them, so a busy node makes one entry a second,
 * not one a frame.
 *
 * Most of those entries only say that a frame came: in a fleet that sends
 * every second, every node changes every second, and its whole object
 * (~270 bytes) times every node times every open page is what the stream
 * would cost. So an entry is written whole only when something beyond
 * last_seen_ms and frames changed (health, refusals, birth or death, the
 * sequence counters), and as a short [node, ms before now, frames]
 * otherwise (device ids are unique in the registry: a page knows the
 * node's site from its snapshot). What changed beyond a frame is flagged
 * where it is learnt (full); the sequence counters live in dedup and are
 * compared with the ones the stream last carried (shown). A snapshot may
 * show newer sequence counters than the stream carried: it flags the entry,
 * so that the node's next entry is whole again and every page ends up with
 * the same values.
 */
#include "nodes.h"

#include <inttypes.h>
#include <string.h>

#include "alloc.h" /* before uthash.h: its allocator */
#include <uthash.h>

#include "dedup.h"
#include "validate.h"

/* The sequence counters of a node object, from dedup. */
struct seq_counts {
    uint64_t gaps, gaps_pending, duplicates, boots;
};

struct node {
    char id[WIRE_MAX_DEVICE_ID + 1];
    int64_t last_seen_ms, birth_ms, death_ms; /* 0: not yet */
    char firmware[33];
    int has_health;
    uint32_t backlog_frames;
    uint64_t ring_dropped;
    uint64_t frames;
    uint64_t refused[GW_REJECT_N];
    struct seq_counts shown; /* as the stream's last whole object of it carried them */
    int changed;             /* since the last counters event */
    int full;                /* ... beyond last_seen_ms and frames: written whole */
    UT_hash_handle hh;
};

struct gw_nodes {
    struct node *nodes;
};

struct gw_nodes *gw_nodes_new(void)
{
    return gw_calloc(1, sizeof(struct gw_nodes));
}

void gw_nodes_free(struct gw_nodes *n)
{
    struct node *e, *tmp;
    if (!n)
        return;
    HASH_ITER(hh, n->nodes, e, tmp)
    {
        HASH_DEL(n->nodes, e);
        gw_free(e);
    }
    gw_free(n);
}

static struct node *get(struct gw_nodes *n, const struct gw_device *dev)
{
    struct node *e;
    HASH_FIND_STR(n->nodes, dev->id, e);
    if (e || !(e = gw_calloc(1, sizeof *e)))
        return e;
    snprintf(e->id, sizeof e->id, "%s", dev->id);
    e->full = 1; /* pages know it with nulls from their snapshot */
    HASH_ADD_STR(n->nodes, id, e);
    if (!e->hh.tbl) {
        gw_free(e);
        return NULL;
    }
    return e;
}

void gw_nodes_frame(struct gw_nodes *n, const struct gw_device *dev, const Citygate__V1__Frame *f,
                    int64_t now_ms)
{
    struct node *e = get(n, dev);
    if (!e)
        return;
    e->last_seen_ms = now_ms;
    e->frames++;
    if (f->health) {
        /* The firmware string passed the frame's string grammar (validate.c): safe in JSON. */
        const char *fw = f->health->firmware_version ? f->health->firmware_version : "";
        if (!e->has_health || e->backlog_frames != f->health->backlog_frames ||
            e->ring_dropped != f->health->backlog_dropped ||
            strncmp(e->firmware, fw, sizeof e->firmware - 1) != 0) {
            snprintf(e->firmware, sizeof e->firmware, "%s", fw);
            e->backlog_frames = f->health->backlog_frames;
            e->ring_dropped = f->health->backlog_dropped;
            e->has_health = 1;
            e->full = 1;
        }
    }
    e->changed = 1;
}

void gw_nodes_refused(struct gw_nodes *n, const struct gw_device *dev, int reason)
{
    struct node *e = get(n, dev);
    int r = reason < 0 ? -reason : reason;
    if (!e || r <= 0 || r >= GW_REJECT_N)
        return;
    e->refused[r]++;
    e->changed = e->full = 1;
}

void gw_nodes_status(struct gw_nodes *n, const struct gw_device *dev, int dead, int64_t now_ms)
{
    struct node *e = get(n, dev);
    if (!e)
        return;
    if (dead)
        e->death_ms = now_ms;
    else
        e->birth_ms = now_ms;
    e->changed = e->full = 1;
}

static void put_ms(FILE *out, const char *key, int64_t ms)
{
    if (ms)
        fprintf(out, ",\"%s\":%" PRId64, key, ms);
    else
        fprintf(out, ",\"%s\":null", key);
}

/* The sequence counters of device id from p's dedup (zero before its first frame). */
static struct seq_counts seq_counts_of(const struct gw_pipeline *p, const char *id)
{
    struct gw_dedup_stats st;
    struct seq_counts c = {0, 0, 0, 0};
    if (gw_pipeline_device_stats(p, id, &st) == 0)
        c = (struct seq_counts){st.n_lost_definitive, st.n_lost_pending, st.n_duplicate,
                                st.n_boots};
    return c;
}

static int same_counts(const struct seq_counts *a, const struct seq_counts *b)
{
    return a->gaps == b->gaps && a->gaps_pending == b->gaps_pending &&
           a->duplicates == b->duplicates && a->boots == b->boots;
}

/* Writes the node object of dev, whose entry is e (NULL: never heard from), with counters c. */
static void write_node(const struct node *e, const struct seq_counts *c,
                       const struct gw_device *dev, FILE *out)
{
    fprintf(out, "{\"node\":\"%s\",\"site\":\"%s\"", dev->id, dev->site);
    put_ms(out, "last_seen_ms", e ? e->last_seen_ms : 0);
    put_ms(out, "birth_ms", e ? e->birth_ms : 0);
    put_ms(out, "death_ms", e ? e->death_ms : 0);
    /* Alive after a birth or a frame newer than its death; dead after a newer death. */
    int64_t alive_ms = e ? (e->birth_ms > e->last_seen_ms ? e->birth_ms : e->last_seen_ms) : 0;
    fprintf(out, ",\"dead\":%s", e && e->death_ms && e->death_ms >= alive_ms ? "true" : "false");
    if (e && e->has_health)
        fprintf(out,
                ",\"firmware\":\"%s\",\"backlog_frames\":%" PRIu32 ",\"ring_dropped\":%" PRIu64,
                e->firmware, e->backlog_frames, e->ring_dropped);
    else
        fputs(",\"firmware\":null,\"backlog_frames\":null,\"ring_dropped\":null", out);
    uint64_t refused = 0;
    fputs(",\"refused\":{", out);
    for (int r = 1; e && r < GW_REJECT_N; r++) {
        if (!e->refused[r])
            continue;
        fprintf(out, "%s\"%s\":%" PRIu64, refused ? "," : "", gw_reject_name(r), e->refused[r]);
        refused += e->refused[r];
    }
    fprintf(out,
            "},\"refused_total\":%" PRIu64 ",\"frames\":%" PRIu64 ",\"gaps\":%" PRIu64
            ",\"gaps_pending\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"boots\":%" PRIu64 "}",
            refused, e ? e->frames : 0, c->gaps, c->gaps_pending, c->duplicates, c->boots);
}

void gw_nodes_write_one(const struct gw_nodes *n, const struct gw_pipeline *p,
                        const struct gw_device *dev, FILE *out)
{
    struct node *e;
    HASH_FIND_STR(n->nodes, dev->id, e);
    struct seq_counts c = seq_counts_of(p, dev->id);
    write_node(e, &c, dev, out);
}

struct write_ctx {
    struct gw_nodes *n;
    const struct gw_pipeline *p;
    FILE *out;
    size_t written;
};

static int write_each(const struct gw_device *dev, void *ctx)
{
    struct write_ctx *w = ctx;
    struct node *e;
    HASH_FIND_STR(w->n->nodes, dev->id, e);
    struct seq_counts c = seq_counts_of(w->p, dev->id);
    if (e && !same_counts(&c, &e->shown))
        e->full = 1; /* newer than the stream's pages have: their next entry is whole */
    if (w->written++)
        fputc(',', w->out);
    write_node(e, &c, dev, w->out);
    return 0;
}

void gw_nodes_write_all(struct gw_nodes *n, const struct gw_pipeline *p,
                        const struct gw_registry *reg, FILE *out)
{
    struct write_ctx w = {n, p, out, 0};
    gw_registry_each(reg, write_each, &w);
}

size_t gw_nodes_write_changed(struct gw_nodes *n, const struct gw_pipeline *p,
                              const struct gw_registry *reg, int64_t now_ms, FILE *out)
{
    struct node *e, *tmp;
    size_t whole = 0, seen = 0;
    /* Two passes, so that each list is written in one piece: the whole objects first. */
    fputs(",\"nodes\":[", out);
    HASH_ITER(hh, n->nodes, e, tmp)
    {
        if (!e->changed)
            continue;
        struct seq_counts c = seq_counts_of(p, e->id);
        if (!e->full && same_counts(&c, &e->shown))
            continue; /* a short entry, below */
        const struct gw_device *dev = gw_registry_find(reg, e->id);
        if (!dev) {
            e->changed = 0; /* left the registry: no longer shown */
            continue;
        }
        if (whole++)
            fputc(',', out);
        write_node(e, &c, dev, out);
        e->shown = c;
        e->changed = e->full = 0;
    }
    fputs("],\"seen\":[", out);
    HASH_ITER(hh, n->nodes, e, tmp)
    {
        if (!e->changed)
            continue;
        e->changed = 0;
        if (!gw_registry_find(reg, e->id))
            continue;
        fprintf(out, "%s[\"%s\",%" PRId64 ",%" PRIu64 "]", seen++ ? "," : "", e->id,
                now_ms - e->last_seen_ms, e->frames);
    }
    fputc(']', out);
    return whole + seen;
}
