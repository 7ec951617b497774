/*
 * dedup.c -- duplicate, replay and gap tracking per device.
 *
 * The state of a device is a window [floor, high] of its current boot's
 * sequence numbers plus a short sorted list of the gaps in it (dedup.h has the
 * rules). A list of gaps instead of a bitmap keeps the state a fixed few
 * hundred bytes however wide the window is, so the window can span a long
 * store-and-forward backlog; and a node that sends in order, which is every
 * node on a good day, never creates a gap, so its frames cost one hash lookup
 * and a compare.
 *
 * The first frame the gateway sees of a device may come mid-boot (the gateway
 * restarted). The numbers below it are then unknown, not lost: they form a gap
 * that is not counted (everything below known_from), so that a backlog
 * drained after the restart is still accepted, and losses are counted only
 * from what the gateway has seen.
 *
 * State is created on a device's first frame and never moved, so the steady
 * state allocates nothing. It holds two gaps inline: a node that sends in
 * order has none, and one the gateway first saw mid-boot has one (the unknown
 * numbers below its first frame) for as long as the window spans them. Room
 * for GW_DEDUP_MAX_GAPS is allocated the first time a device needs a third
 * gap and kept from then on; when that allocation fails, the list counts as
 * full (its oldest gap becomes definitive), so committing never fails. The
 * table is bounded by max_devices.
 */
#include "dedup.h"

#include "alloc.h" /* before uthash.h: uthash allocates through gw_malloc */
#include <uthash.h>

#include <string.h>

#include "err.h"
#include "serial.h"
#include "wire.h"

struct dd_gap {
    uint64_t lo, hi; /* missing: lo..hi, inclusive */
};

/* Gaps a device holds without an allocation of their own. */
#define DD_INLINE_GAPS 2

struct dd_dev {
    UT_hash_handle hh;
    uint8_t n_gaps;
    uint8_t has_prev;
    uint32_t generation;       /* commits that recorded: a ticket of another generation is stale */
    uint64_t boot_id;          /* 0 until the first commit */
    uint64_t high;             /* highest seq accepted in boot_id */
    uint64_t floor;            /* lowest seq still tracked */
    uint64_t known_from;       /* gaps below this are unknown, not lost */
    uint64_t boot_first_ts_ms; /* earliest timestamp accepted in boot_id */
    uint64_t prev_boot_id, prev_high;
    uint64_t old_boots[GW_DEDUP_BOOT_HISTORY]; /* before prev_boot_id, newest first */
    uint8_t n_old;
    uint64_t late_reported_ms; /* when gw_dedup_note_late() last asked for a report */
    struct gw_dedup_stats st;
    struct dd_gap *gaps; /* ascending, disjoint, inside [floor, high): inline or on the heap */
    struct dd_gap inline_gaps[DD_INLINE_GAPS];
    char id[]; /* NUL-terminated */
};

/* The budget: at most 512 bytes per device with gaps inline, malloc's header included. */
_Static_assert(sizeof(struct dd_dev) + WIRE_MAX_DEVICE_ID + 1 + 16 <= 512,
               "device state over 512 bytes");

struct gw_dedup {
    struct dd_dev *head;
    size_t n_devices, max_devices;
    uint64_t window_seqs;
    struct gw_dedup_stats sum; /* of every device ever tracked */
    uint64_t n_refused;
};

/* What a frame is to a device's state; everything but DUP and REPLAY is new. */
enum dd_class {
    DD_FIRST,      /* the device's first frame */
    DD_SEQ,        /* above high, or filling a gap, in the current boot */
    DD_PREV,       /* the previous boot's ring draining, in order */
    DD_ADOPT_PREV, /* an older boot draining, no previous boot known */
    DD_BOOT,       /* a new boot */
    DD_DUP,
    DD_REPLAY,
};

/* Adds delta (two's complement for a decrease) to a counter of dev and of the sum. */
#define DD_COUNT(d, dev, field, delta)                                                             \
    do {                                                                                           \
        (dev)->st.field += (delta);                                                                \
        (d)->sum.field += (delta);                                                                 \
    } while (0)

int gw_dedup_new(size_t max_devices, uint64_t window_seqs, struct gw_dedup **out)
{
    struct gw_dedup *d;
    if (max_devices == 0 || window_seqs == 0)
        return GW_EINVAL;
    d = gw_calloc(1, sizeof *d);
    if (!d)
        return GW_ENOMEM;
    d->max_devices = max_devices;
    d->window_seqs = window_seqs;
    *out = d;
    return 0;
}

void gw_dedup_free(struct gw_dedup *d)
{
    if (!d)
        return;
    gw_dedup_reset(d);
    gw_free(d);
}

/* A device for id (len bytes) with no boot yet, or NULL. Caller frees with dd_dev_free(). */
static struct dd_dev *dd_dev_new(const char *id, size_t len)
{
    struct dd_dev *dev = gw_calloc(1, sizeof *dev + len + 1);
    if (dev) {
        dev->gaps = dev->inline_gaps;
        memcpy(dev->id, id, len);
    }
    return dev;
}

static void dd_dev_free(struct dd_dev *dev)
{
    if (dev->gaps != dev->inline_gaps)
        gw_free(dev->gaps);
    gw_free(dev);
}

/* Moves the gaps of dev to the heap, with room for GW_DEDUP_MAX_GAPS. 0 or GW_ENOMEM. */
static int dd_gaps_grow(struct dd_dev *dev)
{
    struct dd_gap *heap = gw_malloc(GW_DEDUP_MAX_GAPS * sizeof *heap);
    if (!heap)
        return GW_ENOMEM;
    memcpy(heap, dev->gaps, dev->n_gaps * sizeof *heap);
    dev->gaps = heap;
    return 0;
}

/* Room in the gap list: inline, or on the heap once a device needed more. */
static int dd_cap(const struct dd_dev *dev)
{
    return dev->gaps == dev->inline_gaps ? DD_INLINE_GAPS : GW_DEDUP_MAX_GAPS;
}

/* Makes room for one more gap if it can; 1 when the list is still full. */
static int dd_gaps_make_room(struct dd_dev *dev)
{
    return dev->n_gaps == dd_cap(dev) &&
           (dd_cap(dev) == GW_DEDUP_MAX_GAPS || dd_gaps_grow(dev) != 0);
}

static int dd_gap_find(const struct dd_dev *dev, uint64_t seq)
{
    for (int i = 0; i < dev->n_gaps; i++)
        if (seq >= dev->gaps[i].lo && seq <= dev->gaps[i].hi)
            return i;
    return -1;
}

/* How many of lo..hi are at or above known_from, i.e. were counted as lost. */
static uint64_t dd_counted(const struct dd_dev *dev, uint64_t lo, uint64_t hi)
{
    if (hi < dev->known_from)
        return 0;
    return hi - (lo > dev->known_from ? lo : dev->known_from) + 1;
}

/* Makes every missing seq below floor definitively lost and drops it from the list. */
static void dd_drop_below(struct gw_dedup *d, struct dd_dev *dev, uint64_t floor)
{
    int n = 0;
    while (n < dev->n_gaps && dev->gaps[n].lo < floor) {
        struct dd_gap *g = &dev->gaps[n];
        uint64_t top = g->hi < floor ? g->hi : floor - 1;
        uint64_t lost = dd_counted(dev, g->lo, top);
        DD_COUNT(d, dev, n_lost_definitive, lost);
        DD_COUNT(d, dev, n_lost_pending, -lost);
        if (g->hi >= floor) {
            g->lo = floor;
            break;
        }
        n++;
    }
    memmove(dev->gaps, dev->gaps + n, (size_t)(dev->n_gaps - n) * sizeof dev->gaps[0]);
    dev->n_gaps = (uint8_t)(dev->n_gaps - n);
}

/* The list is full: the oldest gap becomes definitive and the window starts after it. */
static void dd_retire_oldest(struct gw_dedup *d, struct dd_dev *dev)
{
    dev->floor = dev->gaps[0].hi + 1;
    dd_drop_below(d, dev, dev->floor);
}

static void dd_gap_open(struct gw_dedup *d, struct dd_dev *dev, uint64_t lo, uint64_t hi)
{
    DD_COUNT(d, dev, n_lost_pending, dd_counted(dev, lo, hi));
    if (dd_gaps_make_room(dev))
        dd_retire_oldest(d, dev);
    dev->gaps[dev->n_gaps++] = (struct dd_gap){lo, hi};
}

/* seq, strictly inside gap i, arrived late: the gap becomes two. */
static void dd_gap_split(struct gw_dedup *d, struct dd_dev *dev, int i, uint64_t seq)
{
    int full = dd_gaps_make_room(dev);
    if (full && i == 0) {
        /* No room to split the oldest gap: its lower part becomes definitive. */
        dev->floor = seq;
        dd_drop_below(d, dev, seq);
        dev->gaps[0].lo = seq + 1;
        return;
    }
    if (full) {
        dd_retire_oldest(d, dev);
        i--;
    }
    struct dd_gap *g = &dev->gaps[i];
    memmove(g + 1, g, (size_t)(dev->n_gaps - i) * sizeof *g);
    dev->n_gaps++;
    g[0].hi = seq - 1;
    g[1].lo = seq + 1;
}

/* seq, inside gap i, arrived late. */
static void dd_gap_fill(struct gw_dedup *d, struct dd_dev *dev, int i, uint64_t seq)
{
    struct dd_gap *g = &dev->gaps[i];

    DD_COUNT(d, dev, n_lost_pending, -dd_counted(dev, seq, seq));
    if (g->lo == g->hi) {
        memmove(g, g + 1, (size_t)(dev->n_gaps - i - 1) * sizeof *g);
        dev->n_gaps--;
    } else if (seq == g->lo) {
        g->lo++;
    } else if (seq == g->hi) {
        g->hi--;
    } else {
        dd_gap_split(d, dev, i, seq);
    }
}

/* Accepts seq of the current boot: classified DD_SEQ. */
static void dd_accept_seq(struct gw_dedup *d, struct dd_dev *dev, uint64_t seq)
{
    if (seq <= dev->high) {
        dd_gap_fill(d, dev, dd_gap_find(dev, seq), seq);
        return;
    }
    if (seq > dev->high + 1)
        dd_gap_open(d, dev, dev->high + 1, seq - 1);
    dev->high = seq;
    uint64_t floor = seq >= d->window_seqs ? seq - d->window_seqs + 1 : 1;
    if (floor > dev->floor) {
        dev->floor = floor;
        dd_drop_below(d, dev, floor);
    }
}

static enum dd_class dd_classify(const struct dd_dev *dev, uint64_t boot, uint64_t seq,
                                 uint64_t ts_ms, int backlog)
{
    if (dev->boot_id == 0)
        return DD_FIRST;
    if (boot == dev->boot_id) {
        if (seq > dev->high)
            return DD_SEQ;
        if (seq < dev->floor)
            return DD_REPLAY;
        return dd_gap_find(dev, seq) >= 0 ? DD_SEQ : DD_DUP;
    }
    if (dev->has_prev && boot == dev->prev_boot_id) {
        if (!backlog)
            return DD_REPLAY;
        return seq > dev->prev_high ? DD_PREV : DD_DUP;
    }
    for (int i = 0; i < dev->n_old; i++)
        if (boot == dev->old_boots[i])
            return DD_REPLAY;
    /* A live frame of a boot never seen is a reboot, whatever the clock says. */
    if (!backlog || ts_ms >= dev->boot_first_ts_ms)
        return DD_BOOT;
    return !dev->has_prev ? DD_ADOPT_PREV : DD_REPLAY;
}

static enum gw_dedup_verdict dd_verdict(enum dd_class c)
{
    return c == DD_DUP ? GW_DEDUP_DUPLICATE : c == DD_REPLAY ? GW_DEDUP_REPLAY : GW_DEDUP_NEW;
}

/* Starts boot at its seq: below it, the window is unknown (first frame) or lost (new boot). */
static void dd_start_boot(struct gw_dedup *d, struct dd_dev *dev, uint64_t boot, uint64_t seq,
                          uint64_t ts_ms, int first)
{
    DD_COUNT(d, dev, n_boots, 1);
    dev->boot_id = boot;
    dev->boot_first_ts_ms = ts_ms;
    dev->known_from = first ? seq : 1;
    dev->floor = seq >= d->window_seqs ? seq - d->window_seqs + 1 : 1;
    dev->high = dev->floor - 1;
    if (!first)
        DD_COUNT(d, dev, n_lost_definitive, dev->high);
    dd_accept_seq(d, dev, seq);
}

int gw_dedup_check(struct gw_dedup *d, const Citygate__V1__Frame *f, struct gw_dedup_ticket *t)
{
    struct dd_dev *dev = NULL;
    size_t id_len;

    if (!f->device_id || f->boot_id == 0 || f->seq == 0)
        return GW_EINVAL;
    id_len = strlen(f->device_id);
    if (id_len == 0 || id_len > WIRE_MAX_DEVICE_ID)
        return GW_EINVAL;
    HASH_FIND(hh, d->head, f->device_id, (unsigned)id_len, dev);
    if (!dev) {
        if (d->n_devices >= d->max_devices) {
            d->n_refused++;
            return GW_EFULL;
        }
        dev = dd_dev_new(f->device_id, id_len);
        if (!dev)
            return GW_ENOMEM;
        HASH_ADD(hh, d->head, id[0], (unsigned)id_len, dev);
        if (!dev->hh.tbl) {
            dd_dev_free(dev);
            return GW_ENOMEM;
        }
        d->n_devices++;
    }
    enum dd_class c = dd_classify(dev, f->boot_id, f->seq, f->timestamp_ms, f->backlog);
    if (c == DD_DUP)
        DD_COUNT(d, dev, n_duplicate, 1);
    else if (c == DD_REPLAY)
        DD_COUNT(d, dev, n_replay, 1);
    t->verdict = dd_verdict(c);
    t->device = dev;
    t->cls = (int)c;
    t->generation = dev->generation;
    t->boot_id = f->boot_id;
    t->seq = f->seq;
    t->timestamp_ms = f->timestamp_ms;
    t->backlog = f->backlog;
    return 0;
}

enum gw_dedup_verdict gw_dedup_commit(struct gw_dedup *d, const struct gw_dedup_ticket *t)
{
    struct dd_dev *dev = t->device;
    /* The check's class holds while no commit came between; else the frame is classified again. */
    enum dd_class c = t->generation == dev->generation
                          ? (enum dd_class)t->cls
                          : dd_classify(dev, t->boot_id, t->seq, t->timestamp_ms, t->backlog);

    switch (c) {
    case DD_FIRST:
        dd_start_boot(d, dev, t->boot_id, t->seq, t->timestamp_ms, 1);
        break;
    case DD_SEQ:
        dd_accept_seq(d, dev, t->seq);
        if (t->timestamp_ms < dev->boot_first_ts_ms)
            dev->boot_first_ts_ms = t->timestamp_ms;
        break;
    case DD_PREV:
        DD_COUNT(d, dev, n_lost_definitive, t->seq - dev->prev_high - 1);
        dev->prev_high = t->seq;
        break;
    case DD_ADOPT_PREV:
        DD_COUNT(d, dev, n_boots, 1);
        dev->has_prev = 1;
        dev->prev_boot_id = t->boot_id;
        dev->prev_high = t->seq;
        break;
    case DD_BOOT:
        dd_drop_below(d, dev, dev->high + 1);
        if (dev->has_prev) {
            memmove(dev->old_boots + 1, dev->old_boots,
                    (GW_DEDUP_BOOT_HISTORY - 1) * sizeof dev->old_boots[0]);
            dev->old_boots[0] = dev->prev_boot_id;
            dev->n_old += dev->n_old < GW_DEDUP_BOOT_HISTORY;
        }
        dev->has_prev = 1;
        dev->prev_boot_id = dev->boot_id;
        dev->prev_high = dev->high;
        dd_start_boot(d, dev, t->boot_id, t->seq, t->timestamp_ms, 0);
        break;
    case DD_DUP:
    case DD_REPLAY:
        return dd_verdict(c);
    }
    dev->generation++;
    DD_COUNT(d, dev, n_new, 1);
    return GW_DEDUP_NEW;
}

int gw_dedup_note_late(struct gw_dedup *d, const struct gw_dedup_ticket *t, uint64_t n_values,
                       uint64_t behind_ms, uint64_t now_ms, uint64_t report_every_ms)
{
    struct dd_dev *dev = t->device;
    DD_COUNT(d, dev, n_too_late, n_values);
    dev->st.behind_ms = behind_ms;
    d->sum.behind_ms = behind_ms;
    if (dev->late_reported_ms != 0 && now_ms - dev->late_reported_ms < report_every_ms)
        return 0;
    dev->late_reported_ms = now_ms ? now_ms : 1;
    return 1;
}

void gw_dedup_each(const struct gw_dedup *d,
                   void (*fn)(void *ctx, const char *device_id, const struct gw_dedup_stats *st),
                   void *ctx)
{
    const struct dd_dev *dev, *tmp;
    HASH_ITER(hh, d->head, dev, tmp)
    fn(ctx, dev->id, &dev->st);
}

int gw_dedup_device_stats(const struct gw_dedup *d, const char *device_id,
                          struct gw_dedup_stats *out)
{
    struct dd_dev *dev = NULL;
    HASH_FIND_STR(d->head, device_id, dev);
    if (!dev)
        return GW_ENOTFOUND;
    *out = dev->st;
    return 0;
}

int gw_dedup_device_boot(const struct gw_dedup *d, const char *device_id, uint64_t *boot_id)
{
    struct dd_dev *dev = NULL;
    HASH_FIND_STR(d->head, device_id, dev);
    if (!dev || dev->boot_id == 0)
        return GW_ENOTFOUND;
    *boot_id = dev->boot_id;
    return 0;
}

void gw_dedup_totals(const struct gw_dedup *d, struct gw_dedup_totals *out)
{
    out->sum = d->sum;
    out->n_devices = d->n_devices;
    out->n_refused = d->n_refused;
}

size_t gw_dedup_prune(struct gw_dedup *d, int (*keep)(void *ctx, const char *device_id), void *ctx)
{
    struct dd_dev *dev, *tmp;
    size_t n = 0;
    HASH_ITER(hh, d->head, dev, tmp)
    {
        if (keep(ctx, dev->id))
            continue;
        d->sum.n_lost_pending -= dev->st.n_lost_pending;
        HASH_DEL(d->head, dev);
        dd_dev_free(dev);
        d->n_devices--;
        n++;
    }
    return n;
}

size_t gw_dedup_heap_bytes(const struct gw_dedup *d)
{
    struct dd_dev *dev, *tmp;
    size_t n = 0;
    HASH_ITER(hh, d->head, dev, tmp)
    {
        n += sizeof *dev + strlen(dev->id) + 1;
        if (dev->gaps != dev->inline_gaps)
            n += GW_DEDUP_MAX_GAPS * sizeof *dev->gaps;
    }
    return n;
}

/* ---- snapshots (serial.h byte format) ---- */

static void dd_put_stats(struct gw_wbuf *w, const struct gw_dedup_stats *s)
{
    gw_put_u64(w, s->n_new);
    gw_put_u64(w, s->n_duplicate);
    gw_put_u64(w, s->n_replay);
    gw_put_u64(w, s->n_lost_definitive);
    gw_put_u64(w, s->n_lost_pending);
    gw_put_u64(w, s->n_boots);
}

static void dd_get_stats(struct gw_rbuf *r, struct gw_dedup_stats *s)
{
    s->n_new = gw_get_u64(r);
    s->n_duplicate = gw_get_u64(r);
    s->n_replay = gw_get_u64(r);
    s->n_lost_definitive = gw_get_u64(r);
    s->n_lost_pending = gw_get_u64(r);
    s->n_boots = gw_get_u64(r);
}

int gw_dedup_snapshot(const struct gw_dedup *d, struct gw_wbuf *w)
{
    const struct dd_dev *dev, *tmp;
    gw_put_u64(w, d->window_seqs);
    gw_put_u64(w, d->n_devices);
    dd_put_stats(w, &d->sum);
    gw_put_u64(w, d->n_refused);
    HASH_ITER(hh, d->head, dev, tmp)
    {
        gw_put_str(w, dev->id);
        gw_put_u8(w, dev->n_gaps);
        gw_put_u8(w, dev->has_prev);
        gw_put_u64(w, dev->boot_id);
        gw_put_u64(w, dev->high);
        gw_put_u64(w, dev->floor);
        gw_put_u64(w, dev->known_from);
        gw_put_u64(w, dev->boot_first_ts_ms);
        gw_put_u64(w, dev->prev_boot_id);
        gw_put_u64(w, dev->prev_high);
        gw_put_u8(w, dev->n_old);
        for (int i = 0; i < dev->n_old; i++)
            gw_put_u64(w, dev->old_boots[i]);
        dd_put_stats(w, &dev->st);
        for (int i = 0; i < dev->n_gaps; i++) {
            gw_put_u64(w, dev->gaps[i].lo);
            gw_put_u64(w, dev->gaps[i].hi);
        }
    }
    return w->err;
}

/* A restored device must satisfy what the rest of this file assumes. */
static int dd_valid(const struct dd_dev *dev, uint64_t window_seqs)
{
    if (!dev->id[0] || dev->floor > dev->high + 1 || dev->high - dev->floor >= window_seqs + 1)
        return 0;
    for (int g = 0; g < dev->n_gaps; g++) {
        const struct dd_gap *gap = &dev->gaps[g];
        if (gap->lo > gap->hi || gap->lo < dev->floor || gap->hi >= dev->high ||
            (g > 0 && gap->lo <= dev->gaps[g - 1].hi))
            return 0;
    }
    return 1;
}

/* Reads one device written by gw_dedup_snapshot(): 0 and *out, GW_EINVAL or GW_ENOMEM. */
static int dd_get_dev(struct gw_rbuf *r, uint64_t window_seqs, unsigned version,
                      struct dd_dev **out)
{
    char id[WIRE_MAX_DEVICE_ID + 1];
    struct dd_dev *dev;
    int rc = 0;
    uint8_t n_gaps;

    gw_get_str(r, id, sizeof id);
    if (r->bad)
        return GW_EINVAL;
    if (!(dev = dd_dev_new(id, strlen(id))))
        return GW_ENOMEM;
    n_gaps = gw_get_u8(r);
    dev->has_prev = gw_get_u8(r);
    dev->boot_id = gw_get_u64(r);
    dev->high = gw_get_u64(r);
    dev->floor = gw_get_u64(r);
    dev->known_from = gw_get_u64(r);
    dev->boot_first_ts_ms = gw_get_u64(r);
    dev->prev_boot_id = gw_get_u64(r);
    dev->prev_high = gw_get_u64(r);
    if (version >= 2) {
        dev->n_old = gw_get_u8(r);
        for (int i = 0; i < dev->n_old && i < GW_DEDUP_BOOT_HISTORY; i++)
            dev->old_boots[i] = gw_get_u64(r);
    }
    dd_get_stats(r, &dev->st);
    if (n_gaps > GW_DEDUP_MAX_GAPS || dev->n_old > GW_DEDUP_BOOT_HISTORY)
        rc = GW_EINVAL;
    else if (n_gaps > DD_INLINE_GAPS)
        rc = dd_gaps_grow(dev);
    if (rc == 0) {
        dev->n_gaps = n_gaps;
        for (int g = 0; g < n_gaps; g++) {
            dev->gaps[g].lo = gw_get_u64(r);
            dev->gaps[g].hi = gw_get_u64(r);
        }
        if (r->bad || !dd_valid(dev, window_seqs))
            rc = GW_EINVAL;
    }
    if (rc != 0) {
        dd_dev_free(dev);
        return rc;
    }
    *out = dev;
    return 0;
}

int gw_dedup_restore(struct gw_dedup *d, struct gw_rbuf *r, unsigned version)
{
    int rc = GW_EINVAL;
    if (d->n_devices != 0)
        return GW_EINVAL;
    uint64_t window = gw_get_u64(r), n = gw_get_u64(r);
    dd_get_stats(r, &d->sum);
    d->n_refused = gw_get_u64(r);
    if (r->bad || window != d->window_seqs || n > d->max_devices)
        goto out;
    for (uint64_t i = 0; i < n; i++) {
        struct dd_dev *dev = NULL, *found = NULL;
        if ((rc = dd_get_dev(r, d->window_seqs, version, &dev)) != 0)
            goto out;
        HASH_FIND_STR(d->head, dev->id, found);
        if (!found)
            HASH_ADD_STR(d->head, id, dev);
        if (found || !dev->hh.tbl) {
            rc = found ? GW_EINVAL : GW_ENOMEM;
            dd_dev_free(dev);
            goto out;
        }
        d->n_devices++;
    }
    return 0;
out:
    gw_dedup_reset(d);
    return rc;
}

void gw_dedup_reset(struct gw_dedup *d)
{
    struct dd_dev *dev, *tmp;
    HASH_ITER(hh, d->head, dev, tmp)
    {
        HASH_DEL(d->head, dev);
        dd_dev_free(dev);
    }
    d->n_devices = 0;
    d->n_refused = 0;
    memset(&d->sum, 0, sizeof d->sum);
}
