/*
 * ring.h -- the node's bounded on-disk store-and-forward ring.
 *
 * Records (opaque byte strings, here signed frames) are appended at the head
 * and consumed from the tail in order. Reading is two-phase so that nothing
 * is lost while a record is in flight: node_ring_peek() hands out records
 * from a read cursor without removing them, node_ring_commit() removes them
 * once the broker confirmed them, and node_ring_rewind() moves the cursor
 * back to the tail when the connection is lost. When the ring is full the
 * oldest records are dropped and counted.
 *
 * Every record carries a CRC-32; a record cut by a power loss or a crash in
 * the middle of a write is detected on open and skipped, never handed out.
 * One ring is used by one thread at a time.
 */
#ifndef CITYGATE_NODE_RING_H
#define CITYGATE_NODE_RING_H

#include <stddef.h>
#include <stdint.h>

#include "node_hal.h"

/* Storage taken by the two superblock copies before the record area. */
#define NODE_RING_META_BYTES 128
/* Bytes each record adds to its payload (header: magic, length, sequence, CRCs). */
#define NODE_RING_RECORD_OVERHEAD 24
/* The smallest storage region a ring accepts. */
#define NODE_RING_MIN_BYTES 4096

struct node_ring;

struct node_ring_stats {
    uint64_t records;       /* records between tail and head (in flight included) */
    uint64_t used_bytes;    /* bytes between tail and head */
    uint64_t free_bytes;    /* bytes an append can use without dropping */
    uint64_t dropped;       /* records dropped to make room, since open */
    uint64_t corrupt_bytes; /* bytes skipped as not part of a valid record, since open */
    uint64_t recovered;     /* records found valid when the ring was opened */
};

/*
 * Opens the ring kept in storage (borrowed; it must outlive the ring),
 * recovering its records; formats the region when it holds no ring yet.
 * max_record_bytes caps a payload (at most a quarter of the region). On
 * success sets *out (caller frees with node_ring_free()). Returns 0,
 * -NODE_EINVAL, -NODE_ENOMEM or -NODE_EIO.
 */
int node_ring_open(const struct node_storage *storage, size_t max_record_bytes,
                   struct node_ring **out);

/* Writes the superblock if it changed (not durably) and frees the ring. NULL is a no-op. */
void node_ring_free(struct node_ring *r);

/*
 * Appends one record (data borrowed, len bytes), dropping the oldest records
 * when there is no room. Returns 0, -NODE_ETOOBIG when len is above the cap,
 * or -NODE_EIO.
 */
int node_ring_append(struct node_ring *r, const void *data, size_t len);

/*
 * Copies the next record after the read cursor into buf (cap bytes), sets
 * *len and *seq (the ring's own record number, for node_ring_commit()) and
 * moves the cursor past it. Returns 0, -NODE_EEMPTY when the cursor is at
 * the head, -NODE_ETOOBIG when cap is too small (the cursor does not move),
 * or -NODE_EIO.
 */
int node_ring_peek(struct node_ring *r, void *buf, size_t cap, size_t *len, uint64_t *seq);

/*
 * Removes every record up to and including record number seq (as returned by
 * node_ring_peek()); numbers already gone are ignored. The new tail is
 * written by the next node_ring_flush(). Returns 0 or -NODE_EIO.
 */
int node_ring_commit(struct node_ring *r, uint64_t seq);

/* Moves the read cursor back to the tail: every uncommitted record will be peeked again. */
void node_ring_rewind(struct node_ring *r);

/*
 * Writes the superblock when the tail moved since the last flush and, when
 * durable is nonzero, asks the storage to make everything durable (fsync).
 * Returns 0 or -NODE_EIO.
 */
int node_ring_flush(struct node_ring *r, int durable);

/* Fills *st. */
void node_ring_stats(const struct node_ring *r, struct node_ring_stats *st);

#endif
