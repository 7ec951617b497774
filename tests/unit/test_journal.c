/*
 * test_journal.c -- the journal on a real folder: replay order, a record torn
 * at every possible byte, a process killed with its segment mapped, records
 * larger than a segment, the size bound, snapshots and their corruption.
 */
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

/*
 * Cutting the last record at any byte loses that record only, and appends go
 * on after it. The torn bytes counted are those up to the last non-zero one:
 * zeros after the records are what a segment allocated ahead holds.
 */
static void test_torn_record_at_every_byte(void)
{
    char path[300];
    uint8_t seg[4096];
    struct stat st;

    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1 << 20);
    append_n(j, 0, 3);
    gw_journal_free(j);
    snprintf(path, sizeof path, "%s/%016x.seg", dir, 1);
    CU_ASSERT_FATAL(stat(path, &st) == 0);
    off_t whole = st.st_size, record = whole / 3;
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f && whole <= (off_t)sizeof seg &&
                    fread(seg, 1, (size_t)whole, f) == (size_t)whole);
    fclose(f);
    for (off_t cut = 1; cut < record; cut++) {
        off_t written = whole - cut;
        while (written > 2 * record && seg[written - 1] == 0)
            written--;
        CU_ASSERT_FATAL(truncate(path, whole - cut) == 0);
        j = open_journal(1 << 20, 1 << 20);
        struct gw_journal_stats js;
        gw_journal_stats(j, &js);
        CU_ASSERT(js.records == 2);
        CU_ASSERT(js.torn_bytes == (uint64_t)(written - 2 * record));
        append_n(j, 2, 1);
        struct seen s = replay_all(j);
        CU_ASSERT(s.n == 3 && s.in_order);
        gw_journal_free(j);
    }
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
    CU_ASSERT(st.records == 100 && st.torn_bytes == 0);
    append_n(j, 100, 5);
    struct seen s = replay_all(j);
    CU_ASSERT(s.n == 105 && s.in_order);
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
    CU_ASSERT(st.records == 4 && st.segments == 3 && st.torn_bytes == 0);
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

static void test_snapshot_trims_and_restores(void)
{
    fresh_dir();
    struct gw_journal *j = open_journal(1 << 20, 1024);
    struct gw_journal_pos pos, loaded;
    void *state = NULL;
    size_t len = 0;

    CU_ASSERT(gw_journal_load_snapshot(j, &loaded, &state, &len) == GW_ENOTFOUND);
    append_n(j, 0, 200);
    pos = gw_journal_end(j);
    CU_ASSERT_FATAL(gw_journal_sync(j) == 0);
    CU_ASSERT_FATAL(gw_journal_write_snapshot(j, pos, "core-state", 10) == 0);
    struct gw_journal_stats before;
    gw_journal_stats(j, &before);
    CU_ASSERT(before.bytes_after_snapshot > 0); /* written, not yet adopted */
    gw_journal_trim(j, pos);
    gw_journal_stats(j, &before);
    CU_ASSERT(before.bytes_after_snapshot == 0);
    append_n(j, 200, 5);
    struct seen s = {0, 200, 1};
    CU_ASSERT(gw_journal_replay(j, pos, count_record, &s) == 0);
    CU_ASSERT(s.n == 5 && s.in_order);
    struct gw_journal_stats st;
    gw_journal_stats(j, &st);
    CU_ASSERT(st.dropped == 0);
    CU_ASSERT(st.records < 205); /* segments before the snapshot are gone */
    CU_ASSERT(st.bytes_after_snapshot > 0 && st.bytes_after_snapshot < st.bytes);
    gw_journal_free(j);

    j = open_journal(1 << 20, 1024);
    CU_ASSERT_FATAL(gw_journal_load_snapshot(j, &loaded, &state, &len) == 0);
    CU_ASSERT(loaded.segment == pos.segment && loaded.offset == pos.offset);
    CU_ASSERT(len == 10 && memcmp(state, "core-state", 10) == 0);
    free(state);
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
    CU_ASSERT(gw_journal_load_snapshot(j, &pos, &state, &len) == GW_EIO);
    gw_journal_free(j);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"append and replay in order", test_append_and_replay_in_order},
        {"torn record at every byte", test_torn_record_at_every_byte},
        {"process death keeps appends", test_process_death_keeps_appends},
        {"record larger than a segment", test_record_larger_than_a_segment},
        {"bounded journal drops oldest", test_bounded_drops_oldest},
        {"snapshot trims and restores", test_snapshot_trims_and_restores},
        {"sync outside the lock", test_sync_outside_the_lock},
        {"corrupt snapshot is refused", test_corrupt_snapshot_is_refused},
        {NULL, NULL},
    };
    snprintf(dir, sizeof dir, "%s/citygate-journal-test.%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    int rc = cu_main("journal", tests);
    return remove_dir() == 0 ? rc : 1;
}
