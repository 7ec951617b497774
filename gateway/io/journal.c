/*
 * journal.c -- segment files of CRC-checked records, and one snapshot file.
 *
 * Layout of dir:
 *   <16 hex digits>.seg   records, appended; a new segment past segment_bytes
 *   snapshot              the newest snapshot (written to snapshot.tmp, fsynced,
 *                         renamed over, and the folder fsynced)
 *   snapshot.1            the one before it, renamed there by the next write
 *   snapshot.damaged      a snapshot that failed its checks, moved aside
 *
 * Two generations, and the segments kept back to the older one: a damaged
 * newest snapshot costs a longer replay, not the records it covered.
 *
 * A record is a 8-byte header, body length and CRC-32 of the body (both
 * little-endian), then the body: arrival_ms (u64), topic length (u16), topic,
 * payload.
 *
 * A restart reads records, not the room allocated for them: a segment
 * file's size covers its records, rounded up to GW_JOURNAL_GROW_BYTES while
 * it is the last one and exactly once it is closed, and a replay reads from
 * its position on. The disk space ahead is allocated past the file's end
 * (FALLOC_FL_KEEP_SIZE), so it is neither read nor lost: the size grows
 * into it with ftruncate(), one system call per GW_JOURNAL_GROW_BYTES.
 *
 * Damage costs only the damaged records. A record that fails its checks (a
 * flipped bit, a torn write, a page lost at power failure) is passed over by
 * looking for the next intact record at every following byte, as the node's
 * ring does (firmware/core/ring.c); the CRC makes a false match as unlikely
 * as an undetected error. Nothing damaged is cut or deleted: open counts the
 * spans and bytes it passes over, a damaged last segment is closed and
 * appends go to a new one, and a damaged segment that leaves the journal
 * (trimmed after a snapshot, or dropped for space) is renamed to
 * <id>.seg.damaged for inspection instead of being removed.
 *
 * Never out of room mid-append: gw_journal_room_ahead() allocates the
 * segment after the last one before it is needed, so that a switch to it
 * costs no disk space, and says when that cannot be done; the gateway then
 * stops taking frames while the last segment still has room for those
 * already on their way.
 *
 * The last segment is written through a shared mapping: an append is a copy
 * into the page cache with no system call (but for the size's growth), and
 * survives the process as a write() would; fdatasync() on the file flushes
 * it, and its size, like any other page. Its file is allocated to
 * segment_bytes when it is opened (so a full disk fails the open, not a
 * later store with SIGBUS) and cut to its records when it is closed; after a
 * crash, the zeros past the records (at most GW_JOURNAL_GROW_BYTES of them)
 * are neither records nor damage, and open cuts them from a segment that is
 * no longer the last. Where the filesystem cannot allocate past a file's end,
 * the file is allocated to its full size as a whole, and a restart reads
 * its zeros.
 */
#define _GNU_SOURCE /* fallocate, FALLOC_FL_KEEP_SIZE */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include "err.h"
#include "serial.h"

#define JOURNAL_HEADER_BYTES 8
#define JOURNAL_BODY_FIXED 10 /* arrival_ms + topic length */
#define JOURNAL_MAX_TOPIC 1024
#define JOURNAL_MAX_RECORD (16u << 20)
#define SNAPSHOT_MAGIC "CGSNAP01"
#define SNAPSHOT_HEADER_BYTES 36

struct journal_segment {
    uint64_t id;
    uint64_t bytes; /* up to the end of its last intact record */
    uint64_t records;
    int damaged; /* bytes before its end are not records: kept when it leaves */
};

struct gw_journal {
    char dir[512];
    uint64_t max_bytes;
    uint64_t segment_bytes;
    struct journal_segment *segs; /* oldest first; never empty after open */
    size_t n_segs, cap_segs;
    int fd;       /* the last segment, open for appending */
    uint8_t *map; /* its mapping, map_len bytes; NULL when not open */
    size_t map_len;
    uint64_t file_bytes; /* its file's size: appends stay below it (past it, a store is SIGBUS) */
    int dirty;
    int ahead;                      /* the segment after the last one is allocated */
    struct gw_journal_pos snap;     /* the newest snapshot's position, {0, 0} without one */
    struct gw_journal_pos snap_old; /* the one before: segments are kept back to it */
    struct gw_journal_stats stats;
};

static void journal_path(const struct gw_journal *j, uint64_t id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016" PRIx64 ".seg", j->dir, id);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return gw_err_os(n < 0 ? errno : 0);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Reads the file at path from byte from up to byte limit (or its end) into a
 * malloc'ed buffer.
 */
static int read_file(const char *path, size_t from, size_t limit, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int rc;

    if (fd < 0)
        return errno == ENOENT ? GW_ENOTFOUND : gw_err_os(errno);
    if (fstat(fd, &st) != 0) {
        rc = gw_err_os(errno);
        goto out;
    }
    size_t end = (size_t)st.st_size < limit ? (size_t)st.st_size : limit;
    size_t size = end > from ? end - from : 0;
    buf = malloc(size > 0 ? size : 1);
    if (!buf) {
        rc = GW_ENOMEM;
        goto out;
    }
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)(from + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = gw_err_os(n < 0 ? errno : 0); /* 0: the file is shorter than it was */
            goto out;
        }
        got += (size_t)n;
    }
    *out = buf;
    *len = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/*
 * Length of the whole record at p (header included) if one is complete and
 * intact within avail bytes, else 0.
 */
static size_t record_at(const uint8_t *p, size_t avail)
{
    if (avail < JOURNAL_HEADER_BYTES)
        return 0;
    uint64_t body = gw_le_load(p, 4);
    if (body < JOURNAL_BODY_FIXED || body > JOURNAL_MAX_RECORD ||
        body > avail - JOURNAL_HEADER_BYTES)
        return 0;
    /* The cheap check first: resynchronising tries this at every byte. */
    if (gw_le_load(p + JOURNAL_HEADER_BYTES + 8, 2) > body - JOURNAL_BODY_FIXED)
        return 0;
    if (crc32(0, p + JOURNAL_HEADER_BYTES, (uInt)body) != (uint32_t)gw_le_load(p + 4, 4))
        return 0;
    return JOURNAL_HEADER_BYTES + (size_t)body;
}

/*
 * Finds the next intact record starting in buf[*off, limit) (it may extend
 * to len). Returns its length and moves *off to it, or 0 when there is none
 * (*off unchanged).
 */
static size_t next_record(const uint8_t *buf, size_t len, size_t limit, size_t *off)
{
    for (size_t o = *off; o < limit; o++) {
        size_t n = record_at(buf + o, len - o);
        if (n > 0) {
            *off = o;
            return n;
        }
    }
    return 0;
}

/*
 * The records a damaged span of len bytes held: the number of headers whose
 * lengths chain exactly across it, or 1 when they do not (a header was hit).
 */
static uint64_t span_records(const uint8_t *p, size_t len)
{
    size_t o = 0;
    uint64_t n = 0;
    while (len - o >= JOURNAL_HEADER_BYTES) {
        uint64_t body = gw_le_load(p + o, 4);
        if (body < JOURNAL_BODY_FIXED || body > len - o - JOURNAL_HEADER_BYTES)
            break;
        o += JOURNAL_HEADER_BYTES + (size_t)body;
        n++;
    }
    return o == len && n > 0 ? n : 1;
}

/* What scan_segment() found. */
struct scan {
    uint64_t records; /* intact */
    uint64_t end;     /* the end of the last intact record */
    uint64_t size;    /* of the file */
    uint64_t spans;   /* damaged spans passed over */
    uint64_t damaged_records, damaged_bytes;
};

/*
 * Walks a segment's intact records, passing over damaged spans. Bytes after
 * the last record count as damaged unless they are zeros (what a segment
 * allocated ahead holds).
 */
static int scan_segment(const struct gw_journal *j, uint64_t id, struct scan *out)
{
    char path[600];
    uint8_t *buf = NULL;
    size_t len = 0, off = 0, used, n;
    struct scan sc = {0, 0, 0, 0, 0, 0};

    journal_path(j, id, path, sizeof path);
    int rc = read_file(path, 0, SIZE_MAX, &buf, &len);
    if (rc != 0)
        return rc;
    sc.size = len;
    for (used = len; used > 0 && buf[used - 1] == 0;)
        used--;
    for (;;) {
        size_t at = off;
        n = next_record(buf, len, used, &at);
        size_t gap = (n > 0 ? at : used > off ? used : off) - off;
        if (gap > 0) {
            sc.spans++;
            sc.damaged_bytes += gap;
            sc.damaged_records += span_records(buf + off, gap);
        }
        if (n == 0)
            break;
        off = at + n;
        sc.records++;
        sc.end = off;
    }
    free(buf);
    *out = sc;
    return 0;
}

static int add_segment(struct gw_journal *j, uint64_t id)
{
    if (j->n_segs == j->cap_segs) {
        size_t cap = j->cap_segs ? 2 * j->cap_segs : 16;
        struct journal_segment *s = realloc(j->segs, cap * sizeof *s);
        if (!s)
            return GW_ENOMEM;
        j->segs = s;
        j->cap_segs = cap;
    }
    j->segs[j->n_segs++] = (struct journal_segment){id, 0, 0, 0};
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Finds the existing segment ids, sorted. */
static int list_segments(struct gw_journal *j)
{
    DIR *d = opendir(j->dir);
    struct dirent *e;
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d)
        return gw_err_os(errno);
    while ((e = readdir(d))) {
        char *end;
        size_t len = strlen(e->d_name);
        if (len != 20 || strcmp(e->d_name + 16, ".seg") != 0)
            continue;
        uint64_t id = strtoull(e->d_name, &end, 16);
        if (end != e->d_name + 16)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *grown = realloc(ids, cap * sizeof *ids);
            if (!grown) {
                rc = GW_ENOMEM;
                goto out;
            }
            ids = grown;
        }
        ids[n++] = id;
    }
    if (n > 1)
        qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add_segment(j, ids[i]);
out:
    free(ids);
    closedir(d);
    return rc;
}

/*
 * Allocates len bytes of disk for the file fd, past its end when the
 * filesystem can (its size unchanged), else up to len (its size grown to
 * it). Returns 0 or GW_EOS(errno).
 */
static int allocate(int fd, uint64_t len)
{
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP)
        return gw_err_os(errno);
    int err = posix_fallocate(fd, 0, (off_t)len);
    return err == 0 ? 0 : gw_err_os(err);
}

/* Opens and maps the last segment, with room for at least need bytes after its records. */
static int open_tail(struct gw_journal *j, uint64_t need)
{
    const struct journal_segment *tail = &j->segs[j->n_segs - 1];
    uint64_t len = tail->bytes + need > j->segment_bytes ? tail->bytes + need : j->segment_bytes;
    char path[600];
    struct stat st;
    int rc;

    journal_path(j, tail->id, path, sizeof path);
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0)
        return gw_err_os(errno);
    if ((rc = allocate(j->fd, len)) != 0)
        return rc;
    if (fstat(j->fd, &st) != 0)
        return gw_err_os(errno);
    void *map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
    if (map == MAP_FAILED)
        return gw_err_os(errno);
    j->map = map;
    j->map_len = (size_t)len;
    j->file_bytes = (uint64_t)st.st_size;
    return 0;
}

/*
 * Grows the last segment's file to cover its records and need bytes more,
 * in whole GW_JOURNAL_GROW_BYTES within its mapping, into the disk space
 * allocated for it. Returns 0 or GW_EOS(errno).
 */
static int grow_tail(struct gw_journal *j, uint64_t need)
{
    uint64_t want = j->segs[j->n_segs - 1].bytes + need;
    uint64_t size =
        (want + GW_JOURNAL_GROW_BYTES - 1) / GW_JOURNAL_GROW_BYTES * GW_JOURNAL_GROW_BYTES;
    if (size > j->map_len)
        size = j->map_len;
    if (ftruncate(j->fd, (off_t)size) != 0)
        return gw_err_os(errno);
    j->file_bytes = size;
    return 0;
}

/* Unmaps and closes the last segment, its file cut to its records. */
static void close_tail(struct gw_journal *j)
{
    if (j->map)
        munmap(j->map, j->map_len);
    j->map = NULL;
    if (j->fd >= 0) {
        /* Should the cut fail, zeros stay after the records: open skips them. */
        int cut = ftruncate(j->fd, (off_t)j->segs[j->n_segs - 1].bytes);
        (void)cut;
        close(j->fd);
    }
    j->fd = -1;
    j->file_bytes = 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return gw_err_os(errno);
    int rc = fsync(fd) == 0 ? 0 : gw_err_os(errno);
    close(fd);
    return rc;
}

int gw_journal_open(const struct gw_journal_config *cfg, struct gw_journal **out, char *err,
                    size_t err_len)
{
    struct gw_journal *j = calloc(1, sizeof *j);
    int rc = GW_ENOMEM;

    if (!j)
        goto fail;
    j->fd = -1;
    j->max_bytes = cfg->max_bytes;
    j->segment_bytes = cfg->segment_bytes;
    if ((size_t)snprintf(j->dir, sizeof j->dir, "%s", cfg->dir) >= sizeof j->dir) {
        rc = GW_EINVAL;
        snprintf(err, err_len, "journal folder name too long");
        goto fail;
    }
    if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
        rc = gw_err_os(errno);
        snprintf(err, err_len, "%s: %s", j->dir, gw_strerror(rc));
        goto fail;
    }
    rc = list_segments(j);
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot list: %s", j->dir, gw_strerror(rc));
        goto fail;
    }
    for (size_t i = 0; i < j->n_segs; i++) {
        struct journal_segment *s = &j->segs[i];
        struct scan sc;
        rc = scan_segment(j, s->id, &sc);
        if (rc != 0) {
            snprintf(err, err_len, "segment %016" PRIx64 ": %s", s->id, gw_strerror(rc));
            goto fail;
        }
        s->records = sc.records;
        s->bytes = sc.end;
        s->damaged = sc.spans > 0;
        /*
         * A last segment left by a process that died (the one after it was
         * allocated ahead) is cut as a close would have: only zeros go.
         */
        if (i + 1 < j->n_segs && !s->damaged && sc.size > sc.end) {
            char path[600];
            journal_path(j, s->id, path, sizeof path);
            int cut = truncate(path, (off_t)sc.end); /* should it fail, open skips the zeros */
            (void)cut;
        }
        j->stats.bytes += sc.end;
        j->stats.records += sc.records;
        j->stats.damaged_segments += s->damaged;
        j->stats.damaged_spans += sc.spans;
        j->stats.damaged_records += sc.damaged_records;
        j->stats.damaged_bytes += sc.damaged_bytes;
    }
    /* Appends never write over damage: a damaged last segment is left as it is. */
    if ((j->n_segs == 0 || j->segs[j->n_segs - 1].damaged) &&
        (rc = add_segment(j, j->n_segs ? j->segs[j->n_segs - 1].id + 1 : 1)) != 0)
        goto fail;
    if ((rc = open_tail(j, 0)) != 0) {
        snprintf(err, err_len, "%s: cannot open segment: %s", j->dir, gw_strerror(rc));
        goto fail;
    }
    j->stats.segments = j->n_segs;
    *out = j;
    return 0;
fail:
    if (rc == GW_ENOMEM)
        snprintf(err, err_len, "out of memory");
    gw_journal_free(j);
    return rc;
}

void gw_journal_free(struct gw_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        gw_journal_sync(j);
    if (j->n_segs > 0)
        close_tail(j);
    free(j->segs);
    free(j);
}

/*
 * Renames the damaged segment at path to path.damaged (or .damaged.N when
 * that exists): the evidence stays, out of the journal's way.
 */
static void move_aside(const char *path)
{
    char aside[640];
    snprintf(aside, sizeof aside, "%s.damaged", path);
    for (int k = 1; k < 1000 && link(path, aside) != 0 && errno == EEXIST; k++)
        snprintf(aside, sizeof aside, "%s.damaged.%d", path, k);
    unlink(path);
}

/*
 * Removes segment index 0 (a damaged one is moved aside); its records count
 * as dropped when not covered by a snapshot.
 */
static void remove_oldest(struct gw_journal *j, int dropped)
{
    char path[600];
    journal_path(j, j->segs[0].id, path, sizeof path);
    if (j->segs[0].damaged)
        move_aside(path);
    else
        unlink(path);
    j->stats.bytes -= j->segs[0].bytes;
    j->stats.records -= j->segs[0].records;
    if (dropped)
        j->stats.dropped += j->segs[0].records;
    memmove(j->segs, j->segs + 1, (j->n_segs - 1) * sizeof *j->segs);
    j->n_segs--;
    j->stats.segments = j->n_segs;
}

int gw_journal_append(struct gw_journal *j, uint64_t arrival_ms, const char *topic,
                      const void *payload, size_t len)
{
    size_t topic_len = strlen(topic);
    uint64_t body = JOURNAL_BODY_FIXED + topic_len + len, rec = JOURNAL_HEADER_BYTES + body;
    int rc;

    if (topic_len > JOURNAL_MAX_TOPIC || body > JOURNAL_MAX_RECORD)
        return GW_EINVAL;
    struct journal_segment *tail = &j->segs[j->n_segs - 1];
    if (j->map && tail->bytes > 0 && tail->bytes + rec > j->segment_bytes) {
        if ((rc = gw_journal_sync(j)) != 0)
            return rc;
        close_tail(j);
        if ((rc = add_segment(j, tail->id + 1)) != 0)
            return rc;
        j->ahead = 0; /* the new last segment is the one allocated ahead */
        j->stats.segments = j->n_segs;
        tail = &j->segs[j->n_segs - 1];
    }
    /* Not open (a new segment, or an open that failed), or a record larger than a segment. */
    if (!j->map || tail->bytes + rec > j->map_len) {
        close_tail(j);
        if ((rc = open_tail(j, rec)) != 0) {
            close_tail(j);
            return rc;
        }
    }
    if (tail->bytes + rec > j->file_bytes && (rc = grow_tail(j, rec)) != 0)
        return rc;

    uint8_t *p = j->map + tail->bytes, *b = p + JOURNAL_HEADER_BYTES;
    gw_le_store(b, arrival_ms, 8);
    gw_le_store(b + 8, topic_len, 2);
    memcpy(b + JOURNAL_BODY_FIXED, topic, topic_len);
    memcpy(b + JOURNAL_BODY_FIXED + topic_len, payload, len);
    gw_le_store(p, body, 4);
    gw_le_store(p + 4, crc32(0, b, (uInt)body), 4);

    tail->bytes += rec;
    tail->records++;
    j->stats.bytes += rec;
    j->stats.records++;
    j->stats.appended++;
    j->dirty = 1;
    while (j->stats.bytes > j->max_bytes && j->n_segs > 1)
        remove_oldest(j, 1);
    return 0;
}

int gw_journal_room_ahead(struct gw_journal *j, uint64_t reserve_bytes)
{
    struct statvfs fs;
    if (!j->ahead) {
        char path[600];
        journal_path(j, j->segs[j->n_segs - 1].id + 1, path, sizeof path);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return gw_err_os(errno);
        /* Empty: should the process die now, open finds an empty segment. */
        int rc = allocate(fd, j->segment_bytes);
        close(fd);
        if (rc != 0)
            return rc;
        j->ahead = 1;
    }
    if (reserve_bytes > 0 && statvfs(j->dir, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < reserve_bytes)
        return GW_EOS(ENOSPC);
    return 0;
}

int gw_journal_sync(struct gw_journal *j)
{
    if (!j->dirty)
        return 0;
    if (fdatasync(j->fd) != 0)
        return gw_err_os(errno);
    j->dirty = 0;
    j->stats.fsyncs++;
    return 0;
}

int gw_journal_sync_fd(struct gw_journal *j, int *fd)
{
    *fd = -1;
    if (!j->dirty)
        return 0;
    if ((*fd = dup(j->fd)) < 0)
        return gw_err_os(errno);
    j->dirty = 0;
    j->stats.fsyncs++;
    return 0;
}

struct gw_journal_pos gw_journal_end(const struct gw_journal *j)
{
    const struct journal_segment *tail = &j->segs[j->n_segs - 1];
    return (struct gw_journal_pos){tail->id, tail->bytes};
}

int gw_journal_replay(struct gw_journal *j, struct gw_journal_pos from, gw_journal_fn fn, void *ctx)
{
    for (size_t i = 0; i < j->n_segs; i++) {
        const struct journal_segment *s = &j->segs[i];
        char path[600], topic[JOURNAL_MAX_TOPIC + 1];
        uint8_t *buf = NULL;
        size_t len = 0, n, off = 0;
        if (s->id < from.segment)
            continue;
        journal_path(j, s->id, path, sizeof path);
        /* Only its records from the position on: not those before, nor zeros after. */
        int rc = read_file(path, s->id == from.segment ? (size_t)from.offset : 0, (size_t)s->bytes,
                           &buf, &len);
        if (rc != 0)
            return rc;
        /* Damaged spans were counted at open; here they are only passed over. */
        while (rc == 0 && (n = next_record(buf, len, len, &off)) > 0) {
            const uint8_t *body = buf + off + JOURNAL_HEADER_BYTES;
            size_t topic_len = (size_t)gw_le_load(body + 8, 2);
            memcpy(topic, body + JOURNAL_BODY_FIXED, topic_len);
            topic[topic_len] = '\0';
            rc = fn(ctx, gw_le_load(body, 8), topic, body + JOURNAL_BODY_FIXED + topic_len,
                    n - JOURNAL_HEADER_BYTES - JOURNAL_BODY_FIXED - topic_len);
            off += n;
        }
        free(buf);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int gw_journal_write_snapshot(const struct gw_journal *j, struct gw_journal_pos pos,
                              const void *state, size_t len)
{
    char tmp[600], final[600];
    uint8_t head[SNAPSHOT_HEADER_BYTES];
    int rc;

    char older[600];
    snprintf(tmp, sizeof tmp, "%s/snapshot.tmp", j->dir);
    snprintf(final, sizeof final, "%s/snapshot", j->dir);
    snprintf(older, sizeof older, "%s/snapshot.1", j->dir);
    memcpy(head, SNAPSHOT_MAGIC, 8);
    gw_le_store(head + 8, pos.segment, 8);
    gw_le_store(head + 16, pos.offset, 8);
    gw_le_store(head + 24, len, 8);
    gw_le_store(head + 32, crc32(0, state, (uInt)len), 4);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return gw_err_os(errno);
    if ((rc = write_all(fd, head, sizeof head)) == 0 && (rc = write_all(fd, state, len)) == 0 &&
        fsync(fd) != 0)
        rc = gw_err_os(errno);
    close(fd);
    if (rc != 0)
        return rc;
    /* A crash between the renames leaves the older one only: load falls back to it. */
    if (rename(final, older) != 0 && errno != ENOENT)
        return gw_err_os(errno);
    if (rename(tmp, final) != 0)
        return gw_err_os(errno);
    return fsync_dir(j->dir);
}

void gw_journal_trim(struct gw_journal *j, struct gw_journal_pos pos)
{
    j->snap_old = j->snap;
    j->snap = pos;
    while (j->n_segs > 1 && j->segs[0].id < j->snap_old.segment)
        remove_oldest(j, 0);
}

int gw_journal_load_snapshot(struct gw_journal *j, int generation, struct gw_journal_pos *pos,
                             void **state, size_t *len)
{
    char path[600], aside[620];
    uint8_t *buf = NULL;
    size_t n = 0;

    if (generation < 0 || generation >= GW_JOURNAL_SNAPSHOTS)
        return GW_EINVAL;
    snprintf(path, sizeof path, generation == 0 ? "%s/snapshot" : "%s/snapshot.%d", j->dir,
             generation);
    int rc = read_file(path, 0, SIZE_MAX, &buf, &n);
    if (rc != 0)
        return rc;
    uint64_t body = n >= SNAPSHOT_HEADER_BYTES ? gw_le_load(buf + 24, 8) : 0;
    if (n < SNAPSHOT_HEADER_BYTES || memcmp(buf, SNAPSHOT_MAGIC, 8) != 0 ||
        body != n - SNAPSHOT_HEADER_BYTES ||
        crc32(0, buf + SNAPSHOT_HEADER_BYTES, (uInt)body) != (uint32_t)gw_le_load(buf + 32, 4)) {
        free(buf);
        /* Out of the way, so that the next write does not rotate it into the older place. */
        snprintf(aside, sizeof aside, "%s/snapshot.damaged", j->dir);
        rename(path, aside);
        return GW_EIO;
    }
    pos->segment = gw_le_load(buf + 8, 8);
    pos->offset = gw_le_load(buf + 16, 8);
    j->snap = *pos;
    memmove(buf, buf + SNAPSHOT_HEADER_BYTES, (size_t)body);
    *state = buf;
    *len = (size_t)body;
    return 0;
}

int gw_journal_complete(const struct gw_journal *j)
{
    return j->segs[0].id == 1;
}

void gw_journal_stats(const struct gw_journal *j, struct gw_journal_stats *out)
{
    *out = j->stats;
    out->bytes_after_snapshot = 0;
    for (size_t i = 0; i < j->n_segs; i++) {
        const struct journal_segment *s = &j->segs[i];
        if (s->id > j->snap.segment)
            out->bytes_after_snapshot += s->bytes;
        else if (s->id == j->snap.segment && s->bytes > j->snap.offset)
            out->bytes_after_snapshot += s->bytes - j->snap.offset;
    }
}
