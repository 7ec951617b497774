/*
 * nodes.c -- per device, what the Nodes view shows (nodes.h).
 *
 * One entry per registered device that has been heard from, created on its
 * first frame, refusal or status message; devices only ever listed in the
 * registry are written with nulls. Only registered devices get an entry,
 * so the table is bounded by the registry, whatever arrives. A change sets
 * the entry's changed flag; the per-second node event carries the flagged
 * entries and clears them, so a busy node makes one event a second, not one
 * a frame.
 */
#include "nodes.h"

#include <inttypes.h>
#include <string.h>

#include "alloc.h" /* before uthash.h: its allocator */
#include <uthash.h>

#include "dedup.h"
#include "validate.h"

struct node {
    char id[WIRE_MAX_DEVICE_ID + 1];
    int64_t last_seen_ms, birth_ms, death_ms; /* 0: not yet */
    char firmware[33];
    int has_health;
    uint32_t backlog_frames;
    uint64_t ring_dropped;
    uint64_t frames;
    uint64_t refused[GW_REJECT_N];
    int changed;
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
        snprintf(e->firmware, sizeof e->firmware, "%s",
                 f->health->firmware_version ? f->health->firmware_version : "");
        e->backlog_frames = f->health->backlog_frames;
        e->ring_dropped = f->health->backlog_dropped;
        e->has_health = 1;
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
    e->changed = 1;
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
    e->changed = 1;
}

static void put_ms(FILE *out, const char *key, int64_t ms)
{
    if (ms)
        fprintf(out, ",\"%s\":%" PRId64, key, ms);
    else
        fprintf(out, ",\"%s\":null", key);
}

/* Writes the node object of dev, whose entry is e (NULL: never heard from). */
static void write_node(const struct node *e, const struct gw_pipeline *p,
                       const struct gw_device *dev, FILE *out)
{
    struct gw_dedup_stats st;
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
    fprintf(out, "},\"refused_total\":%" PRIu64 ",\"frames\":%" PRIu64, refused, e ? e->frames : 0);
    if (gw_pipeline_device_stats(p, dev->id, &st) == 0)
        fprintf(out,
                ",\"gaps\":%" PRIu64 ",\"gaps_pending\":%" PRIu64 ",\"duplicates\":%" PRIu64
                ",\"boots\":%" PRIu64 "}",
                st.n_lost_definitive, st.n_lost_pending, st.n_duplicate, st.n_boots);
    else
        fputs(",\"gaps\":0,\"gaps_pending\":0,\"duplicates\":0,\"boots\":0}", out);
}

void gw_nodes_write_one(const struct gw_nodes *n, const struct gw_pipeline *p,
                        const struct gw_device *dev, FILE *out)
{
    struct node *e;
    HASH_FIND_STR(n->nodes, dev->id, e);
    write_node(e, p, dev, out);
}

struct write_ctx {
    const struct gw_nodes *n;
    const struct gw_pipeline *p;
    FILE *out;
    size_t written;
};

static int write_each(const struct gw_device *dev, void *ctx)
{
    struct write_ctx *w = ctx;
    if (w->written++)
        fputc(',', w->out);
    gw_nodes_write_one(w->n, w->p, dev, w->out);
    return 0;
}

void gw_nodes_write_all(const struct gw_nodes *n, const struct gw_pipeline *p,
                        const struct gw_registry *reg, FILE *out)
{
    struct write_ctx w = {n, p, out, 0};
    gw_registry_each(reg, write_each, &w);
}

size_t gw_nodes_write_changed(struct gw_nodes *n, const struct gw_pipeline *p,
                              const struct gw_registry *reg, FILE *out)
{
    struct node *e, *tmp;
    size_t written = 0;
    HASH_ITER(hh, n->nodes, e, tmp)
    {
        const struct gw_device *dev = e->changed ? gw_registry_find(reg, e->id) : NULL;
        e->changed = 0;
        if (!dev)
            continue;
        if (written++)
            fputc(',', out);
        write_node(e, p, dev, out);
    }
    return written;
}
