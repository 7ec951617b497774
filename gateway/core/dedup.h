/*
 * dedup.h -- per-device duplicate, replay and gap tracking over (boot id,
 * sequence number).
 *
 * Each device has a window of sequence numbers [floor, high] of its current
 * boot in which the gateway knows exactly which numbers it has accepted: all of
 * them except a short list of gaps. A frame above high is new (and the numbers
 * it skips become a gap); a frame inside a gap is new (a late arrival); any
 * other frame in the window is a duplicate; a frame below floor is a replay.
 *
 * Lost frames: a gap is counted as lost the moment it opens ("pending") and
 * un-counted when a late frame fills it. A pending loss becomes definitive when
 * it can no longer be filled: it falls below floor (floor trails high by
 * window_seqs - 1 numbers), the gap list is full and its oldest gap is dropped,
 * or the device starts a new boot. A frame for a definitive loss is a replay.
 *
 * Boots: boot ids are random, so their order is not in them, and a node's
 * clock may come back from a reboot behind where it was; replay detection
 * rests on boot ids and sequence numbers, never on timestamps. A live
 * (non-backlog) frame of a boot id the device has not had starts a new boot,
 * whatever its timestamp. The previous boot is remembered (its id and highest
 * seq): a node that rebooted with frames of the old boot still in its
 * store-and-forward ring drains them in order with the backlog flag, and
 * those frames are accepted while their seq rises; a live frame of the
 * previous boot is a replay, a backlog frame at or below its highest seq a
 * duplicate. The GW_DEDUP_BOOT_HISTORY boots before it are remembered by id:
 * any frame of theirs is a replay. A backlog frame of an unknown boot is a
 * new boot if its timestamp is not older than the current boot's earliest;
 * if it is, it is adopted as the previous boot on the same terms as above if
 * there is none yet (the gateway restarted while the node drained), otherwise
 * it is a replay. So a replayed frame of a boot older than those remembered,
 * young enough for devices.max_age, would start a new boot: the history
 * bounds that to a device rebooted more than GW_DEDUP_BOOT_HISTORY + 1 times
 * within max_age.
 *
 * Clocks: the pipeline reports here the values of an accepted frame that came
 * too late for their windows, and frames stamped far behind their arrival,
 * so that a node whose clock is behind is named (n_too_late, behind_ms)
 * rather than lost in a total.
 *
 * Checking and committing are separate so that a frame is recorded only once
 * the journal holds it: a frame that fails later in the pipeline is not
 * acknowledged, the broker redelivers it, and it must then be new again.
 *
 * One struct gw_dedup belongs to one thread.
 */
#ifndef CITYGATE_GW_DEDUP_H
#define CITYGATE_GW_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "frame.pb-c.h"

/*
 * Gaps remembered per device; more open gaps make the oldest definitive. Two
 * are held inline, room for more is allocated when a device first needs it;
 * should that allocation fail, the list is full at two.
 */
#define GW_DEDUP_MAX_GAPS 14
/* Default width of the window in sequence numbers (18 h at one frame a second). */
#define GW_DEDUP_DEFAULT_WINDOW_SEQS 65536u
/* Boot ids remembered before the previous boot: any frame of theirs is a replay. */
#define GW_DEDUP_BOOT_HISTORY 4

enum gw_dedup_verdict {
    GW_DEDUP_NEW,       /* accept; gw_dedup_commit() once journaled */
    GW_DEDUP_DUPLICATE, /* redelivery or retransmit: drop */
    GW_DEDUP_REPLAY,    /* older than the window or a boot left behind: drop */
};

/* Counters of one device, or summed over all devices. */
struct gw_dedup_stats {
    uint64_t n_new;             /* frames committed */
    uint64_t n_duplicate;       /* frames checked as duplicates */
    uint64_t n_replay;          /* frames checked as replays */
    uint64_t n_lost_definitive; /* monotonic: use as a counter */
    uint64_t n_lost_pending;    /* may fall as late frames fill gaps: a gauge */
    uint64_t n_boots;           /* boots seen, the first one included */
    /* Since the start (not kept in snapshots), from gw_dedup_note_late(): */
    uint64_t n_too_late; /* values of accepted frames too late for their windows */
    uint64_t behind_ms;  /* how far the last noted frame's timestamp was behind its arrival */
};

/* The outcome of gw_dedup_check(), to hand to gw_dedup_commit(). */
struct gw_dedup_ticket {
    enum gw_dedup_verdict verdict;
    void *device; /* internal; valid until gw_dedup_prune() or gw_dedup_free() */
    uint64_t boot_id, seq, timestamp_ms;
    int backlog;
    int cls;             /* internal: the check's classification */
    uint32_t generation; /* internal: the device's commits at the check */
};

struct gw_dedup;

/*
 * Creates a table for at most max_devices devices (>= 1) with a window of
 * window_seqs sequence numbers (>= 1). Returns 0 and sets *out (caller frees
 * with gw_dedup_free()), GW_EINVAL or GW_ENOMEM.
 */
int gw_dedup_new(size_t max_devices, uint64_t window_seqs, struct gw_dedup **out);

/* Frees d and all device state; NULL is a no-op. */
void gw_dedup_free(struct gw_dedup *d);

/*
 * Classifies frame f (borrowed; device_id, boot_id, seq, timestamp_ms, backlog
 * are read) without recording it, and fills *t. A duplicate or replay is
 * counted here; a new frame is counted by gw_dedup_commit(). The first frame
 * of a device creates its state (one allocation; commit allocates once more
 * if the device ever has more than two gaps).
 * Returns 0, GW_EINVAL (boot_id or seq 0, device id too long), GW_EFULL when
 * the device is new and max_devices are tracked (counted in n_refused), or
 * GW_ENOMEM; *t is written only on success.
 */
int gw_dedup_check(struct gw_dedup *d, const Citygate__V1__Frame *f, struct gw_dedup_ticket *t);

/*
 * Records the frame of ticket t (borrowed) as accepted, with the check's
 * classification while no other commit of the device came in between (the
 * gateway checks and commits under one lock); otherwise the frame is
 * classified again, so committing a ticket twice, or a ticket that another
 * commit made stale, records nothing. Returns the verdict that applied.
 */
enum gw_dedup_verdict gw_dedup_commit(struct gw_dedup *d, const struct gw_dedup_ticket *t);

/*
 * Counts n_values (may be 0) of the committed frame of ticket t (borrowed)
 * as too late for their windows, and notes that the frame was stamped
 * behind_ms behind its arrival at now_ms.
 * Returns 1 when the device was not reported in the last report_every_ms
 * (the caller then logs it), else 0.
 */
int gw_dedup_note_late(struct gw_dedup *d, const struct gw_dedup_ticket *t, uint64_t n_values,
                       uint64_t behind_ms, uint64_t now_ms, uint64_t report_every_ms);

/*
 * Calls fn for every tracked device with its id and counters (both borrowed
 * for the call), in no particular order. Walks every device: for /metrics.
 */
void gw_dedup_each(const struct gw_dedup *d,
                   void (*fn)(void *ctx, const char *device_id, const struct gw_dedup_stats *st),
                   void *ctx);

/* Fills *out with the counters of device_id (borrowed); GW_ENOTFOUND if not tracked. */
int gw_dedup_device_stats(const struct gw_dedup *d, const char *device_id,
                          struct gw_dedup_stats *out);

/*
 * Sets *boot_id to the boot of device_id's newest accepted frames (borrowed
 * id). Returns 0, or GW_ENOTFOUND when the device has no accepted frame.
 */
int gw_dedup_device_boot(const struct gw_dedup *d, const char *device_id, uint64_t *boot_id);

/* Totals over all devices ever tracked (pruned ones included). */
struct gw_dedup_totals {
    struct gw_dedup_stats sum;
    size_t n_devices;   /* tracked now */
    uint64_t n_refused; /* checks refused with GW_EFULL */
};

void gw_dedup_totals(const struct gw_dedup *d, struct gw_dedup_totals *out);

/*
 * Forgets every device for which keep(ctx, device_id) returns 0, e.g. devices
 * no longer in a reloaded registry. Tickets from before are invalid after it.
 * Returns how many devices were forgotten.
 */
size_t gw_dedup_prune(struct gw_dedup *d, int (*keep)(void *ctx, const char *device_id), void *ctx);

/*
 * Heap bytes the tracked devices hold: each one's allocation with its id,
 * and its gap list once on the heap (not the hash buckets). Walks every
 * device: for the bench and tests, not per frame.
 */
size_t gw_dedup_heap_bytes(const struct gw_dedup *d);

/*
 * Appends the whole table to w (serial.h format) for a state snapshot.
 * Returns 0 or GW_ENOMEM.
 */
struct gw_wbuf;
struct gw_rbuf;
int gw_dedup_snapshot(const struct gw_dedup *d, struct gw_wbuf *w);

/*
 * Reads a table written by gw_dedup_snapshot() into d, which must track no
 * device yet and have the same window. version is the pipeline snapshot's:
 * 1 had no boot history (devices then start with none). Returns 0,
 * GW_EINVAL (another window, more devices than max_devices, or damaged
 * bytes; d is then empty) or GW_ENOMEM (d is then empty).
 */
int gw_dedup_restore(struct gw_dedup *d, struct gw_rbuf *r, unsigned version);

/* Forgets every device and zeroes the counters. */
void gw_dedup_reset(struct gw_dedup *d);

#endif
