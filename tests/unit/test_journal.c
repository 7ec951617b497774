/*
 * test_journal.c -- the journal on a real folder: replay order, a record torn
 * at every possible byte, a byte flipped anywhere in a record, a process killed with its segment
 * mapped, what a restart reads, records larger than a segment, the size bound, snapshots and
 * their corruption.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu.h"
#include "err.h"
#include "journal.h"

static char dir[256];

struct seen {
    uint64_t n;
    uint64_t next_arrival;
    int in_order;
};

static int count_record(void *ctx, uint64_t arrival_ms, const char *topic, const uint8_t *payload,
                        size_t len)
{
    struct seen *s = ctx;
    char expect[64];
    snprintf(expect, sizeof expect, "city/v1/s/n/data#%llu", (unsigned long long)arrival_ms);
    if (arrival_ms < s->next_arrival || strcmp(topic, "city/v1/s/n/data") != 0 ||
        len != strlen(expect) || memcmp(payload, expect, len) != 0)
        s->in_order = 0;
    s->next_arrival = arrival_ms + 1;
    s->n++;
    return 0;
}

static struct gw_journal *open_journal(uint64_t max_bytes, uint64_t segment_bytes)
{
    struct gw_journal_config cfg = {dir, max_bytes, segment_bytes};
    struct gw_journal *j = NULL;
    char err[256];
    int rc = gw_journal_open(&cfg, &j, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    return j;
}

static void append_n(struct gw_journal *j, uint64_t first, uint64_t n)
{
    for (uint64_t i = first; i < first + n; i++) {
        char payload[64];
        snprintf(payload, sizeof payload, "city/v1/s/n/data#%llu", (unsigned long long)i);
        CU_ASSERT_FATAL(gw_journal_append(j, i, "city/v1/s/n/data", payload, strlen(payload)) == 0);
    }
}

static struct seen replay_all(struct gw_journal *j)
{
    struct seen s = {0, 0, 1};
    CU_ASSERT(gw_journal_replay(j, (struct gw_journal_pos){0, 0}, count_record, &s) == 0);
    return s;
}

static int remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void fresh_dir(void)
{
    CU_ASSERT_FATAL(remove_dir() == 0);
}

static void test_append_and_replay_in_order(void)
{
    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 4096);
    append_n(j, 0, 500);
    CU_ASSERT(gw_journal_sync(j) == 0);
    int fd;
    CU_ASSERT(gw_journal_sync_fd(j, &fd) == 0 && fd == -1); /* nothing new since */
    struct seen s = replay_all(j);
    CU_ASSERT(s.n == 500 && s.in_order);
    struct gw_journal_stats st;
    gw_journal_stats(j, &st);
    CU_ASSERT(st.segments > 1);
    CU_ASSERT(st.records == 500 && st.dropped == 0);
    gw_journal_free(j);

    j = open_journal(1 << 20, 4096);
    s = replay_all(j);
    CU_ASSERT(s.n == 500 && s.in_order);
    append_n(j, 500, 10);
    s = replay_all(j);
    CU_ASSERT(s.n == 510 && s.in_order);
    gw_journal_free(j);
}

/* Reads the file at path (at most cap bytes) into buf; returns its length. */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(buf, 1, cap, f);
    CU_ASSERT_FATAL(feof(f));
    fclose(f);
    return n;
}

/*
 * Cutting the last record at any byte loses that record only; the damaged
 * segment is left as it is (its bytes counted), and appends go on in a new
 * one. The damaged bytes counted are those up to the last non-zero one:
 * zeros after the records are what a segment allocated ahead holds.
 */
static void test_torn_record_at_every_byte(void)
{
    char path[300];
    static uint8_t seg[1 << 16], after[1 << 16];
    size_t whole = 0;

    for (size_t cut = 1;; cut++) {
        fresh_dir();
        struct gw_journal *j = open_journal(1 << 20, 1 << 20);
        append_n(j, 0, 3);
        gw_journal_free(j);
        snprintf(path, sizeof path, "%s/%016x.seg", dir, 1);
        whole = slurp(path, seg, sizeof seg);
        size_t record = whole / 3;
        if (cut >= record)
            break;
        size_t written = whole - cut;
        while (written > 2 * record && seg[written - 1] == 0)
            written--;
        CU_ASSERT_FATAL(truncate(path, (off_t)(whole - cut)) == 0);
        j = open_journal(1 << 20, 1 << 20);
        struct gw_journal_stats js;
        gw_journal_stats(j, &js);
        CU_ASSERT(js.records == 2);
        CU_ASSERT(js.damaged_bytes == (uint64_t)(written - 2 * record));
        CU_ASSERT(js.damaged_segments == (written > 2 * record));
        append_n(j, 2, 1);
        struct seen s = replay_all(j);
        CU_ASSERT(s.n == 3 && s.in_order);
        gw_journal_free(j);
        /* Not cut: the torn bytes are still there for inspection. */
        CU_ASSERT(slurp(path, after, sizeof after) >= written && memcmp(after, seg, written) == 0);
    }
}

/*
 * A byte flipped anywhere in the middle of a segment costs the record it
 * falls in and no other: replay resynchronises on the next one. The segment
 * is not cut; once a snapshot covers it, it is moved aside, not deleted.
 */
static void test_flipped_byte_costs_one_record(void)
{
    char path[300], aside[320];
    static uint8_t seg[1 << 16];
    const uint64_t first = 100, n = 300; /* three digits each: records of one length */

    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1 << 16);
    append_n(j, first, n);
    gw_journal_free(j);
    snprintf(path, sizeof path, "%s/%016x.seg", dir, 1);
    size_t len = slurp(path, seg, sizeof seg), record = len / n;
    CU_ASSERT_FATAL(record * n == len); /* every record has the same length here */
    /* Every byte of record 150 in turn: its header, its topic, its payload. */
    for (size_t b = 0; b < record; b++) {
        size_t at = 150 * record + b;
        int fd = open(path, O_WRONLY);
        CU_ASSERT_FATAL(fd >= 0);
        uint8_t flipped = (uint8_t)(seg[at] ^ 0x10);
        CU_ASSERT_FATAL(pwrite(fd, &flipped, 1, (off_t)at) == 1);
        close(fd);

        j = open_journal(1 << 20, 1 << 16);
        struct gw_journal_stats js;
        gw_journal_stats(j, &js);
        CU_ASSERT(js.records == n - 1);
        CU_ASSERT(js.damaged_segments == 1 && js.damaged_spans == 1);
        CU_ASSERT(js.damaged_records == 1);
        CU_ASSERT(js.damaged_bytes == record);
        struct seen s = {0, 0, 1};
        CU_ASSERT(gw_journal_replay(j, (struct gw_journal_pos){0, 0}, count_record, &s) == 0);
        CU_ASSERT(s.n == n - 1 && s.in_order && s.next_arrival == first + n);
        gw_journal_free(j);

        fd = open(path, O_WRONLY);
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT_FATAL(pwrite(fd, &seg[at], 1, (off_t)at) == 1);
        close(fd);
    }

    /* Damaged again, then trimmed away after a snapshot: moved aside, never removed. */
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0 && pwrite(fd, "\xff", 1, (off_t)(10 * record + 20)) == 1);
    close(fd);
    j = open_journal(1 << 20, 1 << 16);
    for (int gen = 0; gen < 2; gen++) { /* segments go once the older snapshot is past them */
        append_n(j, first + n + 5 * (uint64_t)gen, 5);
        struct gw_journal_pos pos = gw_journal_end(j);
        CU_ASSERT_FATAL(gw_journal_sync(j) == 0);
        CU_ASSERT_FATAL(gw_journal_write_snapshot(j, pos, "s", 1) == 0);
        gw_journal_trim(j, pos);
    }
    gw_journal_free(j);
    struct stat st;
    snprintf(aside, sizeof aside, "%s.damaged", path);
    CU_ASSERT(stat(path, &st) != 0);
    CU_ASSERT(stat(aside, &st) == 0 && (size_t)st.st_size == len);
}

/* A span of damage over several whole records counts each of them. */
static void test_damaged_span_of_records(void)
{
    char path[300];
    static uint8_t seg[1 << 16];
    const uint64_t n = 90; /* 10..99: records of one length */

    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1 << 16);
    append_n(j, 10, n);
    gw_journal_free(j);
    snprintf(path, sizeof path, "%s/%016x.seg", dir, 1);
    size_t len = slurp(path, seg, sizeof seg), record = len / n;
    /* The CRCs of records 40..46 broken, their lengths intact. */
    for (size_t r = 40; r < 47; r++)
        seg[r * record + 5] ^= 0xff;
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f && fwrite(seg, 1, len, f) == len);
    fclose(f);
    j = open_journal(1 << 20, 1 << 16);
    struct gw_journal_stats js;
    gw_journal_stats(j, &js);
    CU_ASSERT(js.records == n - 7 && js.damaged_spans == 1 && js.damaged_records == 7);
    CU_ASSERT(js.damaged_bytes == 7 * record);
    CU_ASSERT_FATAL(record * n == len);
    struct seen s = replay_all(j);
    CU_ASSERT(s.n == n - 7 && s.in_order);
    gw_journal_free(j);
}

/* What was appended survives the process dying without closing the journal. */
static void test_process_death_keeps_appends(void)
{
    fresh_dir();
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct gw_journal_config cfg = {dir, 1 << 20, 1 << 16};
        struct gw_journal *j = NULL;
        char err[256];
        if (gw_journal_open(&cfg, &j, err, sizeof err) != 0)
            _exit(2);
        for (uint64_t i = 0; i < 100; i++) {
            char payload[64];
            snprintf(payload, sizeof payload, "city/v1/s/n/data#%llu", (unsigned long long)i);
            if (gw_journal_append(j, i, "city/v1/s/n/data", payload, strlen(payload)) != 0)
                _exit(3);
        }
        _exit(0); /* no sync, no unmapping, no cut: as after kill -9 */
    }
    int status;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CU_ASSERT_FATAL(WEXITSTATUS(status) == 0);
    struct gw_journal *j = open_journal(1 << 20, 1 << 16);
    struct gw_journal_stats st;
    gw_journal_stats(j, &st);
    CU_ASSERT(st.records == 100 && st.damaged_bytes == 0);
    append_n(j, 100, 5);
    struct seen s = replay_all(j);
    CU_ASSERT(s.n == 105 && s.in_order);
    gw_journal_free(j);
}

/* Bytes this process has read so far through read() and pread() (rchar in /proc/self/io). */
static uint64_t bytes_read(void)
{
    char line[128];
    unsigned long long n = 0;
    int found = 0;
    FILE *f = fopen("/proc/self/io", "r");
    CU_ASSERT_FATAL(f != NULL);
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "rchar: %llu", &n) == 1;
    fclose(f);
    CU_ASSERT_FATAL(found);
    return n;
}

/*
 * A restart reads the records, not the space allocated for them. A process
 * dies with a 64 MiB segment mapped and the next one allocated ahead (as the
 * gateway leaves them); the next open reads at most GW_JOURNAL_GROW_BYTES
 * past the records, cuts the segment the dead process left to its records,
 * and a replay reads the records from its position on and nothing before.
 * (Reading /proc/self/io costs a few hundred bytes: the slack.)
 */
static void test_restart_reads_only_records(void)
{
    const uint64_t segment = 64 << 20, n = 1000, half = 400, slack = 4096;
    uint64_t used = 0, used_half = 0;
    char path[300];
    struct stat st;

    for (uint64_t i = 0; i < n; i++) { /* header, arrival, topic length, topic, payload */
        char payload[64];
        snprintf(payload, sizeof payload, "city/v1/s/n/data#%llu", (unsigned long long)i);
        uint64_t rec = 8 + 8 + 2 + strlen("city/v1/s/n/data") + strlen(payload);
        used += rec;
        used_half += i < half ? rec : 0;
    }
    fresh_dir();
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct gw_journal_config cfg = {dir, 1 << 30, segment};
        struct gw_journal *j = NULL;
        char err[256];
        if (gw_journal_open(&cfg, &j, err, sizeof err) != 0)
            _exit(2);
        for (uint64_t i = 0; i < n; i++) {
            char payload[64];
            snprintf(payload, sizeof payload, "city/v1/s/n/data#%llu", (unsigned long long)i);
            if (gw_journal_append(j, i, "city/v1/s/n/data", payload, strlen(payload)) != 0)
                _exit(3);
        }
        if (gw_journal_room_ahead(j, 0) != 0)
            _exit(4);
        _exit(0); /* no sync, no unmapping, no cut: as after kill -9 */
    }
    int status;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CU_ASSERT_FATAL(WEXITSTATUS(status) == 0);

    uint64_t before = bytes_read();
    struct gw_journal *j = open_journal(1 << 30, segment);
    uint64_t opened = bytes_read();
    CU_ASSERT(opened - before <= used + GW_JOURNAL_GROW_BYTES + slack);
    struct gw_journal_stats js;
    gw_journal_stats(j, &js);
    CU_ASSERT(js.records == n && js.bytes == used && js.damaged_bytes == 0);
    snprintf(path, sizeof path, "%s/%016x.seg", dir, 1);
    CU_ASSERT(stat(path, &st) == 0 && (uint64_t)st.st_size == used);

    struct seen s = replay_all(j);
    uint64_t replayed = bytes_read();
    CU_ASSERT(s.n == n && s.in_order);
    CU_ASSERT(replayed - opened <= used + slack);
    s = (struct seen){0, half, 1};
    CU_ASSERT(gw_journal_replay(j, (struct gw_journal_pos){1, used_half}, count_record, &s) == 0);
    CU_ASSERT(s.n == n - half && s.in_order && s.next_arrival == n);
    CU_ASSERT(bytes_read() - replayed <= used - used_half + slack);
    gw_journal_free(j);
}

/* A record larger than a segment gets a segment of its own, as large as it needs. */
static void test_record_larger_than_a_segment(void)
{
    static char big[5000];
    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1024);
    memset(big, 'x', sizeof big - 1);
    append_n(j, 0, 2);
    CU_ASSERT(gw_journal_append(j, 7, "city/v1/s/n/data", big, sizeof big) == 0);
    CU_ASSERT(gw_journal_append(j, 8, "city/v1/s/n/data", big, sizeof big) == 0);
    gw_journal_free(j);

    j = open_journal(1 << 20, 1024);
    struct gw_journal_stats st;
    gw_journal_stats(j, &st);
    CU_ASSERT(st.records == 4 && st.segments == 3 && st.damaged_bytes == 0);
    gw_journal_free(j);
}

/* A journal over its bound drops whole oldest segments and counts their records. */
static void test_bounded_drops_oldest(void)
{
    fresh_dir();
    struct gw_journal *j = open_journal(8192, 2048);
    append_n(j, 0, 1000);
    struct gw_journal_stats st;
    gw_journal_stats(j, &st);
    CU_ASSERT(st.bytes <= 8192);
    CU_ASSERT(st.dropped > 0);
    CU_ASSERT(st.dropped + st.records == 1000);
    struct seen s = replay_all(j);
    CU_ASSERT(s.n == st.records && s.in_order);
    CU_ASSERT(s.next_arrival == 1000);
    gw_journal_free(j);
}

/*
 * Two generations: a snapshot trims the journal back to the one before it,
 * so that when the newest is damaged (moved aside) the older one and the
 * records after it still rebuild everything.
 */
static void test_snapshot_generations(void)
{
    char path[300];
    struct gw_journal_pos pos[3], loaded;
    void *state = NULL;
    size_t len = 0;
    struct stat st;

    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1024);
    CU_ASSERT(gw_journal_load_snapshot(j, 0, &loaded, &state, &len) == GW_ENOTFOUND);
    CU_ASSERT(gw_journal_load_snapshot(j, 1, &loaded, &state, &len) == GW_ENOTFOUND);
    CU_ASSERT(gw_journal_complete(j));
    for (int g = 0; g < 3; g++) {
        append_n(j, 100 * (uint64_t)g, 100);
        pos[g] = gw_journal_end(j);
        CU_ASSERT_FATAL(gw_journal_sync(j) == 0);
        char text[16];
        snprintf(text, sizeof text, "state-%d", g);
        CU_ASSERT_FATAL(gw_journal_write_snapshot(j, pos[g], text, 7) == 0);
        struct gw_journal_stats before;
        gw_journal_stats(j, &before);
        CU_ASSERT(before.bytes_after_snapshot > 0); /* written, not yet adopted */
        gw_journal_trim(j, pos[g]);
        gw_journal_stats(j, &before);
        CU_ASSERT(before.bytes_after_snapshot == 0);
    }
    CU_ASSERT(!gw_journal_complete(j)); /* segments before the older snapshot are gone */
    struct seen s = {0, 100, 1};
    CU_ASSERT(gw_journal_replay(j, pos[1], count_record, &s) == 0); /* from the older one */
    CU_ASSERT(s.n == 100 && s.in_order);
    append_n(j, 300, 5);
    struct gw_journal_stats js;
    gw_journal_stats(j, &js);
    CU_ASSERT(js.dropped == 0);
    CU_ASSERT(js.records >= 105 && js.records < 305);
    gw_journal_free(j);

    /* The newest damaged: refused and moved aside; the older one still loads. */
    snprintf(path, sizeof path, "%s/snapshot", dir);
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(pwrite(fd, "X", 1, 40) == 1);
    close(fd);
    j = open_journal(1 << 20, 1024);
    CU_ASSERT(gw_journal_load_snapshot(j, 0, &loaded, &state, &len) == GW_EIO);
    CU_ASSERT(stat(path, &st) != 0);
    snprintf(path, sizeof path, "%s/snapshot.damaged", dir);
    CU_ASSERT(stat(path, &st) == 0);
    CU_ASSERT_FATAL(gw_journal_load_snapshot(j, 1, &loaded, &state, &len) == 0);
    CU_ASSERT(loaded.segment == pos[1].segment && loaded.offset == pos[1].offset);
    CU_ASSERT(len == 7 && memcmp(state, "state-1", 7) == 0);
    free(state);
    s = (struct seen){0, 100, 1};
    CU_ASSERT(gw_journal_replay(j, loaded, count_record, &s) == 0);
    CU_ASSERT(s.n == 105 && s.in_order);
    gw_journal_free(j);
}

/*
 * The segment after the last one is allocated ahead, so filling the last one
 * needs no new space; a reserve the filesystem cannot hold is reported full.
 */
static void test_room_ahead(void)
{
    char path[300];
    struct stat st;

    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1 << 16);
    CU_ASSERT(gw_journal_room_ahead(j, 0) == 0);
    snprintf(path, sizeof path, "%s/%016x.seg", dir, 2);
    CU_ASSERT(stat(path, &st) == 0 && st.st_blocks * 512 >= 1 << 16);
    CU_ASSERT(gw_journal_room_ahead(j, UINT64_MAX / 2) == GW_EOS(ENOSPC));
    append_n(j, 1000, 2000); /* past the first segment: into the one allocated ahead */
    struct gw_journal_stats js;
    gw_journal_stats(j, &js);
    CU_ASSERT(js.segments >= 2);
    CU_ASSERT(gw_journal_room_ahead(j, 0) == 0);
    snprintf(path, sizeof path, "%s/%016llx.seg", dir, (unsigned long long)js.segments + 1);
    CU_ASSERT(stat(path, &st) == 0 && st.st_blocks * 512 >= 1 << 16);
    gw_journal_free(j);
    /* After a restart the empty segment allocated ahead is a segment like any other. */
    j = open_journal(1 << 20, 1 << 16);
    struct seen s = {0, 1000, 1};
    CU_ASSERT(gw_journal_replay(j, (struct gw_journal_pos){0, 0}, count_record, &s) == 0);
    CU_ASSERT(s.n == 2000 && s.in_order);
    gw_journal_stats(j, &js);
    CU_ASSERT(js.damaged_segments == 0);
    gw_journal_free(j);
}

/* The descriptor outlives a switch to a new segment made while it is flushed. */
static void test_sync_outside_the_lock(void)
{
    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1024);
    struct gw_journal_stats st;
    int fd;
    CU_ASSERT(gw_journal_sync_fd(j, &fd) == 0 && fd == -1);
    append_n(j, 0, 3);
    CU_ASSERT_FATAL(gw_journal_sync_fd(j, &fd) == 0 && fd >= 0);
    int again;
    CU_ASSERT(gw_journal_sync_fd(j, &again) == 0 && again == -1);
    append_n(j, 3, 50); /* several segments: the one fd points to is closed by the journal */
    gw_journal_stats(j, &st);
    CU_ASSERT(st.segments > 1 && st.fsyncs >= 1);
    CU_ASSERT(fdatasync(fd) == 0);
    close(fd);
    CU_ASSERT(gw_journal_sync_fd(j, &fd) == 0 && fd >= 0);
    close(fd);
    struct seen s = replay_all(j);
    CU_ASSERT(s.n == 53 && s.in_order);
    gw_journal_free(j);
}

static void test_corrupt_snapshot_is_refused(void)
{
    char path[300];
    struct gw_journal_pos pos;
    void *state = NULL;
    size_t len;

    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1024);
    CU_ASSERT_FATAL(gw_journal_write_snapshot(j, gw_journal_end(j), "abcdef", 6) == 0);
    snprintf(path, sizeof path, "%s/snapshot", dir);
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(pwrite(fd, "X", 1, 40) == 1);
    close(fd);
    CU_ASSERT(gw_journal_load_snapshot(j, 0, &pos, &state, &len) == GW_EIO);
    gw_journal_free(j);
}

/*
 * A failed call of the operating system comes back as its code, GW_EOS(errno),
 * so that no caller reads errno after a journal call: a folder under a
 * regular file (ENOTDIR), a snapshot whose temporary name or whose file is a
 * folder (EISDIR).
 */
static void test_os_errors_are_codes(void)
{
    char path[300], err[256];
    struct gw_journal *j = NULL;
    struct gw_journal_pos pos = {1, 0};
    void *state = NULL;
    size_t len = 0;

    fresh_dir();
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/journal", dir);
    struct gw_journal_config cfg = {path, 1 << 20, 1 << 16};
    CU_ASSERT_EQUAL(gw_journal_open(&cfg, &j, err, sizeof err), GW_EOS(ENOTDIR));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOTDIR)));

    j = open_journal(1 << 20, 1 << 16);
    snprintf(path, sizeof path, "%s/snapshot.tmp", dir);
    CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
    CU_ASSERT_EQUAL(gw_journal_write_snapshot(j, pos, "state", 5), GW_EOS(EISDIR));
    CU_ASSERT_FATAL(rmdir(path) == 0);
    snprintf(path, sizeof path, "%s/snapshot", dir);
    CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
    CU_ASSERT_EQUAL(gw_journal_load_snapshot(j, 0, &pos, &state, &len), GW_EOS(EISDIR));
    CU_ASSERT_FATAL(rmdir(path) == 0);
    gw_journal_free(j);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"append and replay in order", test_append_and_replay_in_order},
        {"torn record at every byte", test_torn_record_at_every_byte},
        {"flipped byte costs one record", test_flipped_byte_costs_one_record},
        {"damaged span of records", test_damaged_span_of_records},
        {"process death keeps appends", test_process_death_keeps_appends},
        {"restart reads only records", test_restart_reads_only_records},
        {"record larger than a segment", test_record_larger_than_a_segment},
        {"bounded journal drops oldest", test_bounded_drops_oldest},
        {"snapshot generations", test_snapshot_generations},
        {"room ahead", test_room_ahead},
        {"sync outside the lock", test_sync_outside_the_lock},
        {"corrupt snapshot is refused", test_corrupt_snapshot_is_refused},
        {"OS errors are codes", test_os_errors_are_codes},
        {NULL, NULL},
    };
    snprintf(dir, sizeof dir, "%s/citygate-journal-test.%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    int rc = cu_main("journal", tests);
    return remove_dir() == 0 ? rc : 1;
}
