/*
 * ring.c -- the node's bounded on-disk store-and-forward ring.
 *
 * Layout of the storage region (all integers little-endian):
 *
 *     [superblock A, 64 B][superblock B, 64 B][record area, circular]
 *     superblock: magic "CGRS" | version u32 | generation u64 | tail u64 | tail_seq u64 | crc u32
 *     record:     magic "CGRR" | len u32 | seq u64 | payload crc u32 | header crc u32 | payload
 *
 * Records are written back to back in the record area and may wrap around
 * its end. Each has a number (seq) one above the previous record's. The head
 * is never stored: on open the ring walks forward from the stored tail and
 * accepts every record whose header CRC, payload CRC and number (not below
 * the last accepted) check out, stepping one byte at a time over anything
 * else. That is what makes a record cut mid-write harmless: its CRC fails, it
 * is skipped, and the next append overwrites it. Records left from the
 * previous lap beyond the head carry numbers below the tail's and are
 * refused the same way.
 *
 * The superblock (tail position and number) is written in two alternating
 * copies with a generation counter, so a torn superblock write leaves the
 * other copy. It is written before an append overwrites dropped records (so
 * that a crash cannot leave the tail pointing into newer data) and otherwise
 * lazily by node_ring_flush(): a crash between a commit and the next flush
 * can only make committed records come back, never lose uncommitted ones.
 *
 * Reads go through a one-block cache because recovery steps over bytes one
 * at a time; CRCs are zlib's crc32.
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define SB_MAGIC 0x53524743u  /* "CGRS" */
#define REC_MAGIC 0x52524743u /* "CGRR" */
#define SB_VERSION 1u
#define SB_BYTES 64
#define SB_USED 40 /* bytes covered by the superblock CRC */
#define CACHE_BYTES 4096
#define CRC_CHUNK 512

struct node_ring {
    struct node_storage st;
    uint64_t data_bytes; /* size of the record area */
    size_t max_record;
    /* Logical positions: they only grow; the physical offset is pos % data_bytes. */
    uint64_t tail, head, cursor;
    uint64_t tail_seq;   /* the lowest record number still in the ring */
    uint64_t cursor_seq; /* the lowest number the next peek may return */
    uint64_t next_seq;   /* the number of the next append */
    uint64_t records;
    uint64_t generation;
    int sb_dirty;
    uint64_t dropped, corrupt_bytes, recovered;
    uint64_t cache_off; /* physical offset of the cached block, or UINT64_MAX */
    size_t cache_len;
    uint8_t cache[CACHE_BYTES];
};

/* One record header, decoded. */
struct rec {
    uint64_t pos; /* logical position of the header */
    uint32_t len;
    uint64_t seq;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t crc(uint32_t c, const void *buf, size_t len)
{
    return (uint32_t)crc32(c, buf, (uInt)len);
}

/* Reads len bytes at physical offset phys of the record area (no wrap). */
static int area_read(struct node_ring *r, uint64_t phys, uint8_t *buf, size_t len)
{
    while (len > 0) {
        uint64_t block = phys - phys % CACHE_BYTES;
        if (r->cache_off != block) {
            uint64_t n = r->data_bytes - block < CACHE_BYTES ? r->data_bytes - block : CACHE_BYTES;
            r->cache_off = UINT64_MAX;
            if (r->st.ops->read(r->st.ctx, NODE_RING_META_BYTES + block, r->cache, (size_t)n) != 0)
                return -NODE_EIO;
            r->cache_off = block;
            r->cache_len = (size_t)n;
        }
        size_t at = (size_t)(phys - block);
        size_t n = r->cache_len - at < len ? r->cache_len - at : len;
        memcpy(buf, r->cache + at, n);
        buf += n;
        phys += n;
        len -= n;
    }
    return 0;
}

/* Reads len bytes at logical position pos, wrapping around the end of the area. */
static int data_read(struct node_ring *r, uint64_t pos, void *buf, size_t len)
{
    uint64_t phys = pos % r->data_bytes;
    size_t first = r->data_bytes - phys < len ? (size_t)(r->data_bytes - phys) : len;
    int rc = area_read(r, phys, buf, first);
    if (rc == 0 && first < len)
        rc = area_read(r, 0, (uint8_t *)buf + first, len - first);
    return rc;
}

/* Writes len bytes at logical position pos, wrapping around; keeps the cache coherent. */
static int data_write(struct node_ring *r, uint64_t pos, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        uint64_t phys = pos % r->data_bytes;
        size_t n = r->data_bytes - phys < len ? (size_t)(r->data_bytes - phys) : len;
        if (r->cache_off != UINT64_MAX && phys < r->cache_off + r->cache_len &&
            r->cache_off < phys + n)
            r->cache_off = UINT64_MAX;
        if (r->st.ops->write(r->st.ctx, NODE_RING_META_BYTES + phys, p, n) != 0)
            return -NODE_EIO;
        p += n;
        pos += n;
        len -= n;
    }
    return 0;
}

/*
 * Checks for a valid record at pos that ends at or before end and is
 * numbered at least min_seq. Returns 1 and fills *out when there is one, 0
 * when not, or -NODE_EIO.
 */
static int try_record(struct node_ring *r, uint64_t pos, uint64_t end, uint64_t min_seq,
                      struct rec *out)
{
    uint8_t h[NODE_RING_RECORD_OVERHEAD], chunk[CRC_CHUNK];
    if (end - pos < NODE_RING_RECORD_OVERHEAD)
        return 0;
    if (data_read(r, pos, h, 4) != 0)
        return -NODE_EIO;
    if (get32(h) != REC_MAGIC)
        return 0;
    if (data_read(r, pos, h, sizeof h) != 0)
        return -NODE_EIO;
    uint32_t len = get32(h + 4);
    uint64_t seq = get64(h + 8);
    if (get32(h + 20) != crc(0, h, 20) || len > r->max_record || seq < min_seq ||
        end - pos - NODE_RING_RECORD_OVERHEAD < len)
        return 0;
    uint32_t c = crc(0, NULL, 0);
    for (uint32_t done = 0; done < len;) {
        size_t n = len - done < CRC_CHUNK ? len - done : CRC_CHUNK;
        if (data_read(r, pos + NODE_RING_RECORD_OVERHEAD + done, chunk, n) != 0)
            return -NODE_EIO;
        c = crc(c, chunk, n);
        done += (uint32_t)n;
    }
    if (c != get32(h + 16))
        return 0;
    out->pos = pos;
    out->len = len;
    out->seq = seq;
    return 1;
}

/*
 * Finds the first valid record at or after pos that ends at or before end,
 * numbered at least min_seq. Returns 1 with *out filled, 0 when there is
 * none, or -NODE_EIO.
 */
static int find_next(struct node_ring *r, uint64_t pos, uint64_t end, uint64_t min_seq,
                     struct rec *out)
{
    for (; pos < end && end - pos >= NODE_RING_RECORD_OVERHEAD; pos++) {
        int rc = try_record(r, pos, end, min_seq, out);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static uint64_t rec_end(const struct rec *x)
{
    return x->pos + NODE_RING_RECORD_OVERHEAD + x->len;
}

static int write_superblock(struct node_ring *r)
{
    uint8_t b[SB_BYTES] = {0};
    r->generation++;
    put32(b, SB_MAGIC);
    put32(b + 4, SB_VERSION);
    put64(b + 8, r->generation);
    put64(b + 16, r->tail % r->data_bytes);
    put64(b + 24, r->tail_seq);
    put64(b + 32, 0); /* reserved */
    put32(b + SB_USED, crc(0, b, SB_USED));
    if (r->st.ops->write(r->st.ctx, (r->generation & 1) * SB_BYTES, b, sizeof b) != 0)
        return -NODE_EIO;
    r->sb_dirty = 0;
    return 0;
}

/* Reads the newest valid superblock copy; returns 1 when one was found, 0 if none, or -NODE_EIO. */
static int read_superblock(struct node_ring *r)
{
    int found = 0;
    for (int i = 0; i < 2; i++) {
        uint8_t b[SB_BYTES];
        if (r->st.ops->read(r->st.ctx, (uint64_t)i * SB_BYTES, b, sizeof b) != 0)
            return -NODE_EIO;
        if (get32(b) != SB_MAGIC || get32(b + 4) != SB_VERSION ||
            get32(b + SB_USED) != crc(0, b, SB_USED) || get64(b + 16) >= r->data_bytes ||
            get64(b + 24) == 0)
            continue;
        if (found && get64(b + 8) <= r->generation)
            continue;
        found = 1;
        r->generation = get64(b + 8);
        r->tail = get64(b + 16);
        r->tail_seq = get64(b + 24);
    }
    return found;
}

/* Walks the record area from the tail to find the head (see the comment at the top). */
static int recover(struct node_ring *r)
{
    struct rec x;
    uint64_t end = r->tail + r->data_bytes;
    uint64_t min_seq = r->tail_seq;
    int rc;
    r->head = r->tail;
    while ((rc = find_next(r, r->head, end, min_seq, &x)) == 1) {
        r->corrupt_bytes += x.pos - r->head;
        r->records++;
        min_seq = x.seq + 1;
        r->head = rec_end(&x);
    }
    if (rc < 0)
        return rc;
    r->recovered = r->records;
    r->next_seq = min_seq;
    return 0;
}

int node_ring_open(const struct node_storage *storage, size_t max_record_bytes,
                   struct node_ring **out)
{
    struct node_ring *r = NULL;
    int rc = -NODE_EINVAL;
    if (!storage || !storage->ops || storage->size_bytes < NODE_RING_MIN_BYTES ||
        max_record_bytes == 0 ||
        max_record_bytes > (storage->size_bytes - NODE_RING_META_BYTES) / 4)
        goto out;
    rc = -NODE_ENOMEM;
    r = calloc(1, sizeof *r);
    if (!r)
        goto out;
    r->st = *storage;
    r->data_bytes = storage->size_bytes - NODE_RING_META_BYTES;
    r->max_record = max_record_bytes;
    r->cache_off = UINT64_MAX;
    rc = read_superblock(r);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        /* A fresh region: both copies are written so that a torn write later keeps one. */
        r->tail = 0;
        r->tail_seq = 1;
        r->generation = 0;
        rc = write_superblock(r);
        if (rc == 0)
            rc = write_superblock(r);
        if (rc == 0)
            rc = r->st.ops->sync(r->st.ctx) == 0 ? 0 : -NODE_EIO;
        if (rc < 0)
            goto out;
    }
    rc = recover(r);
    if (rc < 0)
        goto out;
    r->cursor = r->tail;
    r->cursor_seq = r->tail_seq;
    *out = r;
    r = NULL;
out:
    free(r);
    return rc;
}

void node_ring_free(struct node_ring *r)
{
    if (!r)
        return;
    if (r->sb_dirty)
        (void)write_superblock(r);
    free(r);
}

/* Removes the oldest record (and any unreadable bytes before it). */
static int drop_oldest(struct node_ring *r)
{
    struct rec x;
    int rc = find_next(r, r->tail, r->head, r->tail_seq, &x);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        r->tail = r->head;
        r->tail_seq = r->next_seq;
        r->records = 0;
    } else {
        r->tail = rec_end(&x);
        r->tail_seq = x.seq + 1;
        r->records--;
        r->dropped++;
    }
    r->sb_dirty = 1;
    return 0;
}

int node_ring_append(struct node_ring *r, const void *data, size_t len)
{
    uint8_t h[NODE_RING_RECORD_OVERHEAD];
    uint64_t need = NODE_RING_RECORD_OVERHEAD + (uint64_t)len;
    int rc;
    if (len > r->max_record)
        return -NODE_ETOOBIG;
    while (r->data_bytes - (r->head - r->tail) < need)
        if ((rc = drop_oldest(r)) < 0)
            return rc;
    /* The tail must be on storage before the dropped records are overwritten. */
    if (r->sb_dirty && (rc = write_superblock(r)) < 0)
        return rc;
    if (r->cursor < r->tail) {
        r->cursor = r->tail;
        r->cursor_seq = r->tail_seq;
    }
    put32(h, REC_MAGIC);
    put32(h + 4, (uint32_t)len);
    put64(h + 8, r->next_seq);
    put32(h + 16, crc(crc(0, NULL, 0), data, len));
    put32(h + 20, crc(0, h, 20));
    if ((rc = data_write(r, r->head, h, sizeof h)) < 0 ||
        (rc = data_write(r, r->head + sizeof h, data, len)) < 0)
        return rc;
    r->head += need;
    r->next_seq++;
    r->records++;
    return 0;
}

int node_ring_peek(struct node_ring *r, void *buf, size_t cap, size_t *len, uint64_t *seq)
{
    struct rec x;
    int rc = find_next(r, r->cursor, r->head, r->cursor_seq, &x);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        r->cursor = r->head;
        return -NODE_EEMPTY;
    }
    if (x.len > cap)
        return -NODE_ETOOBIG;
    if (data_read(r, x.pos + NODE_RING_RECORD_OVERHEAD, buf, x.len) != 0)
        return -NODE_EIO;
    r->cursor = rec_end(&x);
    r->cursor_seq = x.seq + 1;
    *len = x.len;
    *seq = x.seq;
    return 0;
}

int node_ring_commit(struct node_ring *r, uint64_t seq)
{
    struct rec x;
    int rc;
    while (seq >= r->tail_seq && (rc = find_next(r, r->tail, r->cursor, r->tail_seq, &x)) != 0) {
        if (rc < 0)
            return rc;
        if (x.seq > seq)
            break;
        r->tail = rec_end(&x);
        r->tail_seq = x.seq + 1;
        r->records--;
        r->sb_dirty = 1;
    }
    return 0;
}

void node_ring_rewind(struct node_ring *r)
{
    r->cursor = r->tail;
    r->cursor_seq = r->tail_seq;
}

int node_ring_flush(struct node_ring *r, int durable)
{
    int rc = 0;
    if (r->sb_dirty)
        rc = write_superblock(r);
    if (rc == 0 && durable && r->st.ops->sync(r->st.ctx) != 0)
        rc = -NODE_EIO;
    return rc;
}

void node_ring_stats(const struct node_ring *r, struct node_ring_stats *st)
{
    st->records = r->records;
    st->used_bytes = r->head - r->tail;
    st->free_bytes = r->data_bytes - st->used_bytes;
    st->dropped = r->dropped;
    st->corrupt_bytes = r->corrupt_bytes;
    st->recovered = r->recovered;
}
