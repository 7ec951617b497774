/*
 * journal.h -- the gateway's write-ahead journal of accepted frames, and its
 * snapshots of core state.
 *
 * Every accepted frame is appended (with its topic and arrival time) before
 * the broker is told it was received. A snapshot records the core's state at
 * a journal position; recovery restores the newest snapshot and replays the
 * frames after it, with their original arrival times, so a SIGKILL loses
 * nothing the broker was told was received. Appends go to the page cache at
 * once and are fsynced in groups (gw_journal_sync at the configured
 * interval): power loss can cost at most that interval.
 *
 * The journal is bounded: when it would exceed max_bytes the oldest segment
 * is removed and its records are counted as dropped.
 *
 * A restart costs the records it finds, not the space allocated for them:
 * open reads each segment's records and at most GW_JOURNAL_GROW_BYTES past
 * them, and a replay reads from its position on.
 *
 * Damage (a flipped bit, a torn write) costs only the damaged records:
 * reading resynchronises on the next intact record, and a damaged segment is
 * never cut or deleted, but renamed to <id>.seg.damaged when it leaves.
 *
 * Errors: a failed call of the operating system returns GW_EOS(errno) (err.h),
 * so callers print gw_strerror(rc) and never read errno afterwards.
 *
 * Not thread-safe: the caller serialises all calls, except the disk work that
 * gw_journal_sync_fd() and gw_journal_write_snapshot() let it do outside its
 * lock, so that appends do not wait on fsync.
 */
#ifndef CITYGATE_GW_JOURNAL_H
#define CITYGATE_GW_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct gw_journal;

/* The last segment's file grows in steps of this size into the disk space allocated for it. */
#define GW_JOURNAL_GROW_BYTES (64u << 10)

struct gw_journal_config {
    const char *dir;        /* created if missing */
    uint64_t max_bytes;     /* all segments together */
    uint64_t segment_bytes; /* a new segment starts past this size */
};

/* A place in the journal: the record at offset in segment. */
struct gw_journal_pos {
    uint64_t segment;
    uint64_t offset;
};

struct gw_journal_stats {
    uint64_t bytes; /* of records, all segments (the last one's file is allocated ahead) */
    uint64_t segments;
    uint64_t records;          /* records in the journal now */
    uint64_t appended;         /* since open */
    uint64_t dropped;          /* records removed unreplayed because the journal was full */
    uint64_t damaged_segments; /* found at open with bytes that are not records */
    uint64_t damaged_spans;    /* runs of such bytes passed over */
    uint64_t damaged_records;  /* records in them (a span whose headers do not chain counts 1) */
    uint64_t damaged_bytes;    /* their bytes */
    uint64_t fsyncs;
    uint64_t bytes_after_snapshot; /* what a restart would replay */
};

/*
 * Opens (creating if needed) the journal in cfg->dir, counting the damage it
 * finds in the damaged_* stats (a caller logs them). Returns 0 and sets
 * *out (caller frees with gw_journal_free()),
 * or a negative enum gw_err with a message in err.
 */
int gw_journal_open(const struct gw_journal_config *cfg, struct gw_journal **out, char *err,
                    size_t err_len);

/* Syncs and closes. NULL is a no-op. */
void gw_journal_free(struct gw_journal *j);

/*
 * Appends one frame. topic and payload are borrowed. Returns 0, GW_EINVAL
 * for a topic or record over its size limit, GW_ENOMEM, or GW_EOS(errno);
 * the record is in the page cache on return, on disk after gw_journal_sync().
 */
int gw_journal_append(struct gw_journal *j, uint64_t arrival_ms, const char *topic,
                      const void *payload, size_t len);

/*
 * Makes sure that the segment after the last one is allocated on disk (so
 * that filling the last one never needs new space) and that reserve_bytes
 * more are free on the journal's filesystem (room for snapshots; 0: not
 * checked). Cheap once the next segment is allocated. Returns 0, or
 * GW_EOS(errno): GW_EOS(ENOSPC) or GW_EOS(EDQUOT) when the room is not there.
 */
int gw_journal_room_ahead(struct gw_journal *j, uint64_t reserve_bytes);

/* fsyncs what was appended since the last sync. Returns 0 or GW_EOS(errno). */
int gw_journal_sync(struct gw_journal *j);

/*
 * The same in two steps, the slow one outside the caller's lock: sets *fd to
 * a new descriptor of the last segment for the caller to fdatasync() and
 * close() after releasing its lock, or to -1 when nothing was appended since
 * the last sync. Records appended meanwhile are not covered; a switch to a
 * new segment syncs the old one itself. Returns 0 or GW_EOS(errno).
 */
int gw_journal_sync_fd(struct gw_journal *j, int *fd);

/* The position after the last record. */
struct gw_journal_pos gw_journal_end(const struct gw_journal *j);

typedef int (*gw_journal_fn)(void *ctx, uint64_t arrival_ms, const char *topic,
                             const uint8_t *payload, size_t len);

/*
 * Calls fn for every intact record from pos on, in order; stops early when
 * fn returns non-zero and returns that. Records dropped for space and
 * damaged records are skipped.
 */
int gw_journal_replay(struct gw_journal *j, struct gw_journal_pos from, gw_journal_fn fn,
                      void *ctx);

/* Snapshot generations kept: the newest (0) and the one before it (1). */
#define GW_JOURNAL_SNAPSHOTS 2

/*
 * Durably stores state (borrowed, len bytes) as the newest snapshot at pos,
 * the previous newest becoming the older generation; the records before pos
 * must be synced. Reads only what gw_journal_open() set, so it may run
 * without the caller's lock. Returns 0, GW_EOS(errno), or GW_EIO for a
 * write that wrote nothing.
 */
int gw_journal_write_snapshot(const struct gw_journal *j, struct gw_journal_pos pos,
                              const void *state, size_t len);

/*
 * After gw_journal_write_snapshot() of pos: removes the segments entirely
 * before the previous snapshot's position (the older generation still
 * needs them).
 */
void gw_journal_trim(struct gw_journal *j, struct gw_journal_pos pos);

/*
 * Loads snapshot generation (0 the newest, 1 the one before). Returns 0 and
 * sets *pos, *state (caller frees with free()) and *len; GW_ENOTFOUND when
 * there is none; GW_EOS(errno) when it cannot be read; GW_EIO when it is
 * corrupt (it is then moved aside to snapshot.damaged); GW_ENOMEM; GW_EINVAL
 * for a generation out of range.
 */
int gw_journal_load_snapshot(struct gw_journal *j, int generation, struct gw_journal_pos *pos,
                             void **state, size_t *len);

/*
 * 1 when the journal still holds every record since it was created (no
 * segment trimmed or dropped), so a replay from its start without a
 * snapshot rebuilds complete windows; else 0.
 */
int gw_journal_complete(const struct gw_journal *j);

void gw_journal_stats(const struct gw_journal *j, struct gw_journal_stats *out);

#endif
