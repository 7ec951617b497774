/*
 * test_dedup.c -- duplicates, replays, gaps counted and un-counted, the
 * window, the bounded gap list, boots old and new, the bounded device table,
 * allocation failures, snapshots, and an invariant over a long shuffled delivery.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cu.h"
#include "dedup.h"
#include "err.h"
#include "serial.h"
#include "wire.h"

#define T0 1795000000000ULL

static uint64_t now_ts = T0;

/* Checks one frame and commits it when new; returns the verdict, or -1 on error. */
static int feed(struct gw_dedup *d, const char *dev, uint64_t boot, uint64_t seq, int backlog)
{
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    struct gw_dedup_ticket t;

    f.device_id = (char *)dev;
    f.boot_id = boot;
    f.seq = seq;
    f.timestamp_ms = now_ts;
    f.backlog = backlog;
    if (gw_dedup_check(d, &f, &t) != 0)
        return -1;
    if (t.verdict == GW_DEDUP_NEW)
        CU_ASSERT_EQUAL(gw_dedup_commit(d, &t), GW_DEDUP_NEW);
    return (int)t.verdict;
}

static struct gw_dedup_stats stats(const struct gw_dedup *d, const char *dev)
{
    struct gw_dedup_stats s = {0};
    CU_ASSERT_EQUAL(gw_dedup_device_stats(d, dev, &s), 0);
    return s;
}

static struct gw_dedup *make(size_t max_devices, uint64_t window)
{
    struct gw_dedup *d = NULL;
    CU_ASSERT_FATAL(gw_dedup_new(max_devices, window, &d) == 0);
    return d;
}

static void test_in_order_and_duplicates(void)
{
    struct gw_dedup *d = make(10, GW_DEDUP_DEFAULT_WINDOW_SEQS);
    for (uint64_t s = 1; s <= 100; s++)
        CU_ASSERT_EQUAL(feed(d, "a", 7, s, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 100, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 1, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 50, 1), GW_DEDUP_DUPLICATE);
    struct gw_dedup_stats s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_new, 100);
    CU_ASSERT_EQUAL(s.n_duplicate, 3);
    CU_ASSERT_EQUAL(s.n_replay, 0);
    CU_ASSERT_EQUAL(s.n_lost_pending + s.n_lost_definitive, 0);
    CU_ASSERT_EQUAL(s.n_boots, 1);
    gw_dedup_free(d);
    gw_dedup_free(NULL);
}

/* Checking records nothing; a frame is recorded by its commit, once. */
static void test_check_then_commit(void)
{
    struct gw_dedup *d = make(10, 100);
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    struct gw_dedup_ticket t1, t2;

    f.device_id = "a";
    f.boot_id = 1;
    f.seq = 1;
    f.timestamp_ms = T0;
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t1), 0);
    CU_ASSERT_EQUAL(t1.verdict, GW_DEDUP_NEW);
    /* The journal failed, the frame was not acknowledged, the broker redelivers it. */
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t2), 0);
    CU_ASSERT_EQUAL(t2.verdict, GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(gw_dedup_commit(d, &t2), GW_DEDUP_NEW);
    /* A stale ticket for the same frame records nothing more. */
    CU_ASSERT_EQUAL(gw_dedup_commit(d, &t1), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(stats(d, "a").n_new, 1);
    CU_ASSERT_EQUAL(stats(d, "a").n_duplicate, 0);
    gw_dedup_free(d);
}

static void test_gaps_counted_and_uncounted(void)
{
    struct gw_dedup *d = make(10, 1000);
    struct gw_dedup_stats s;

    feed(d, "a", 7, 1, 0);
    feed(d, "a", 7, 2, 0);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 5, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 2);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 3, 0), GW_DEDUP_NEW); /* late, inside the window */
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 1);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 3, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 4, 1), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 0);

    /* A gap filled in the middle, at both ends, and twice. */
    feed(d, "a", 7, 20, 0); /* 6..19 missing */
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 14);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 12, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 6, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 19, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 12, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 11, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 13, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, 9); /* 7..10, 14..18 */
    CU_ASSERT_EQUAL(s.n_lost_definitive, 0);
    CU_ASSERT_EQUAL(s.n_new, 11);
    CU_ASSERT_EQUAL(s.n_duplicate, 2);
    gw_dedup_free(d);
}

/* Numbers fall out of a window of 100 behind the highest: lost for good, then replays. */
static void test_window_makes_losses_definitive(void)
{
    struct gw_dedup *d = make(10, 100);
    struct gw_dedup_stats s;

    feed(d, "a", 7, 1, 0);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 150, 0), GW_DEDUP_NEW); /* floor 51 */
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_definitive, 49); /* 2..50 */
    CU_ASSERT_EQUAL(s.n_lost_pending, 99);    /* 51..149 */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 50, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 1, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 51, 0), GW_DEDUP_NEW); /* exactly at the floor */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 51, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 98);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 250, 0), GW_DEDUP_NEW); /* floor 151: 52..149 definitive */
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_definitive, 49 + 98);
    CU_ASSERT_EQUAL(s.n_lost_pending, 99); /* 151..249 */
    CU_ASSERT_EQUAL(s.n_replay, 2);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 150, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 151, 0), GW_DEDUP_NEW);
    gw_dedup_free(d);
}

/* More open gaps than the list holds: the oldest becomes definitive and the window starts after. */
static void test_bounded_gap_list(void)
{
    struct gw_dedup *d = make(10, GW_DEDUP_DEFAULT_WINDOW_SEQS);
    struct gw_dedup_stats s;

    /* 1, 3, 5, ...: every even number is a gap of one. */
    for (uint64_t q = 1; q <= 2 * GW_DEDUP_MAX_GAPS + 1; q += 2)
        CU_ASSERT_EQUAL(feed(d, "a", 7, q, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, GW_DEDUP_MAX_GAPS);
    CU_ASSERT_EQUAL(s.n_lost_definitive, 0);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 2 * GW_DEDUP_MAX_GAPS + 3, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, GW_DEDUP_MAX_GAPS);
    CU_ASSERT_EQUAL(s.n_lost_definitive, 1);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 2, 0), GW_DEDUP_REPLAY); /* its gap was dropped */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 1, 0), GW_DEDUP_REPLAY); /* below the new floor */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 3, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 4, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, GW_DEDUP_MAX_GAPS - 1);
    gw_dedup_free(d);

    /* Splitting a gap when the list is full: the oldest gap goes first, or the split one's lower
     * part when it is the oldest. */
    d = make(10, GW_DEDUP_DEFAULT_WINDOW_SEQS);
    feed(d, "a", 7, 1, 0);
    for (uint64_t q = 10; q < 10 + 10 * GW_DEDUP_MAX_GAPS; q += 10)
        feed(d, "a", 7, q, 0); /* gaps 2..9, 11..19, ... */
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, 8 + 9 * (GW_DEDUP_MAX_GAPS - 1));
    CU_ASSERT_EQUAL(feed(d, "a", 7, 15, 0), GW_DEDUP_NEW); /* split 11..19: 2..9 goes */
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_definitive, 8);
    CU_ASSERT_EQUAL(s.n_lost_pending, 9 * (GW_DEDUP_MAX_GAPS - 1) - 1);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 13, 0), GW_DEDUP_NEW); /* split 11..14, the oldest */
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_definitive, 8 + 2); /* 11, 12 */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 12, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 13, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 14, 0), GW_DEDUP_NEW);
    gw_dedup_free(d);
}

static void test_new_boot(void)
{
    struct gw_dedup *d = make(10, 1000);
    struct gw_dedup_stats s;

    now_ts = T0;
    for (uint64_t q = 1; q <= 10; q++)
        if (q != 5)
            feed(d, "a", 1111, q, 0);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 1);
    now_ts = T0 + 60000; /* the node rebooted */
    CU_ASSERT_EQUAL(feed(d, "a", 2222, 1, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_boots, 2);
    CU_ASSERT_EQUAL(s.n_lost_pending, 0);
    CU_ASSERT_EQUAL(s.n_lost_definitive, 1); /* the old boot's gap can no longer fill */
    CU_ASSERT_EQUAL(feed(d, "a", 2222, 1, 0), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 2222, 2, 0), GW_DEDUP_NEW);
    /* A new boot first seen at seq 4: 1..3 are lost until they arrive (a backlog). */
    now_ts = T0 + 120000;
    CU_ASSERT_EQUAL(feed(d, "a", 3333, 4, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 3);
    CU_ASSERT_EQUAL(feed(d, "a", 3333, 1, 1), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "a").n_lost_pending, 2);
    gw_dedup_free(d);
}

/* The old boot after the new one: a draining ring is accepted in order, anything else is not. */
static void test_old_boot_after_new(void)
{
    struct gw_dedup *d = make(10, 1000);
    struct gw_dedup_stats s;

    now_ts = T0;
    for (uint64_t q = 1; q <= 10; q++)
        feed(d, "a", 1111, q, 0);
    now_ts = T0 + 60000;
    feed(d, "a", 2222, 1, 0);
    now_ts = T0 + 1000;                                          /* timestamps of the old boot */
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 11, 0), GW_DEDUP_REPLAY); /* live from a left boot */
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 11, 1), GW_DEDUP_NEW);    /* its ring draining */
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 13, 1), GW_DEDUP_NEW);    /* 12 lost on the node */
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 12, 1), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 3, 1), GW_DEDUP_DUPLICATE);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_definitive, 1);
    CU_ASSERT_EQUAL(s.n_replay, 1);
    /* The current boot is unaffected. */
    now_ts = T0 + 61000;
    CU_ASSERT_EQUAL(feed(d, "a", 2222, 2, 0), GW_DEDUP_NEW);
    /* A third, unknown boot's backlog older than the current boot, a previous boot known. */
    now_ts = T0 - 5000;
    CU_ASSERT_EQUAL(feed(d, "a", 9999, 1, 1), GW_DEDUP_REPLAY);
    /* A frame of a boot we left, going back to it, never makes it current again. */
    now_ts = T0 + 62000;
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 14, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 2222, 3, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "a").n_boots, 2);
    gw_dedup_free(d);
}

/*
 * A reboot whose clock came back behind the old boot's first timestamp: the
 * new boot's frames are all new, those of the old boot replays. It failed
 * before boots were told apart by id only: every frame of the new boot
 * stamped before the old boot's first one was a replay.
 */
static void test_reboot_with_clock_behind(void)
{
    struct gw_dedup *d = make(10, 1000);

    now_ts = T0;
    for (uint64_t q = 1; q <= 30; q++, now_ts += 1000)
        CU_ASSERT_EQUAL(feed(d, "a", 1111, q, 0), GW_DEDUP_NEW);
    now_ts = T0 + 30000 - 90000; /* rebooted, its clock 90 s behind */
    for (uint64_t q = 1; q <= 200; q++, now_ts += 1000)
        CU_ASSERT_EQUAL(feed(d, "a", 2222, q, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 1111, 31, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 2222, 200, 0), GW_DEDUP_DUPLICATE);
    struct gw_dedup_stats s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_new, 230);
    CU_ASSERT_EQUAL(s.n_boots, 2);
    CU_ASSERT_EQUAL(s.n_lost_definitive + s.n_lost_pending, 0);
    gw_dedup_free(d);
}

/*
 * Frames of every boot remembered (the previous one and GW_DEDUP_BOOT_HISTORY
 * before it) are replays, live or backlog, whatever their timestamps; the
 * history survives a snapshot.
 */
static void test_boot_history(void)
{
    struct gw_dedup *d = make(10, 1000), *back = make(10, 1000);
    const uint64_t boots = GW_DEDUP_BOOT_HISTORY + 3;
    struct gw_wbuf w;
    struct gw_rbuf r;

    for (uint64_t b = 1; b <= boots; b++) {
        now_ts = T0 - b * 1000; /* every reboot's clock behind the last */
        CU_ASSERT_EQUAL(feed(d, "a", 100 + b, 1, 0), GW_DEDUP_NEW);
        CU_ASSERT_EQUAL(feed(d, "a", 100 + b, 2, 0), GW_DEDUP_NEW);
    }
    gw_wbuf_init(&w);
    CU_ASSERT_FATAL(gw_dedup_snapshot(d, &w) == 0);
    gw_rbuf_init(&r, w.buf, w.len);
    CU_ASSERT_FATAL(gw_dedup_restore(back, &r, 2) == 0);
    gw_free(w.buf);
    now_ts = T0 + 1000000;
    for (struct gw_dedup *x = d; x; x = x == d ? back : NULL) {
        /* The previous boot: live is a replay (its backlog would still drain). */
        CU_ASSERT_EQUAL(feed(x, "a", 100 + boots - 1, 3, 0), GW_DEDUP_REPLAY);
        for (uint64_t k = 2; k <= GW_DEDUP_BOOT_HISTORY + 1; k++) {
            CU_ASSERT_EQUAL(feed(x, "a", 100 + boots - k, 3, 0), GW_DEDUP_REPLAY);
            CU_ASSERT_EQUAL(feed(x, "a", 100 + boots - k, 3, 1), GW_DEDUP_REPLAY);
        }
        CU_ASSERT_EQUAL(feed(x, "a", 100 + boots, 3, 0), GW_DEDUP_NEW);
        CU_ASSERT_EQUAL(stats(x, "a").n_boots, boots);
    }
    gw_dedup_free(d);
    gw_dedup_free(back);
}

/* Too-late values are counted against their device; a report is asked for at most once a period. */
static void test_note_late(void)
{
    struct gw_dedup *d = make(10, 1000);
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    struct gw_dedup_ticket t;

    f.device_id = "slow";
    f.boot_id = 1;
    f.timestamp_ms = T0;
    int reports = 0;
    for (uint64_t q = 1; q <= 100; q++) {
        f.seq = q;
        CU_ASSERT_FATAL(gw_dedup_check(d, &f, &t) == 0);
        gw_dedup_commit(d, &t);
        /* One frame a second, 600 s behind: a report at 0, 60 and 120 s (not 100). */
        reports += gw_dedup_note_late(d, &t, 3, 600000, T0 + 600000 + (q - 1) * 1000, 60000);
    }
    CU_ASSERT_EQUAL(reports, 2);
    struct gw_dedup_stats s = stats(d, "slow");
    CU_ASSERT_EQUAL(s.n_too_late, 300);
    CU_ASSERT_EQUAL(s.behind_ms, 600000);
    CU_ASSERT_EQUAL(feed(d, "other", 1, 1, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(stats(d, "other").n_too_late, 0);
    gw_dedup_free(d);
}

/* The gateway restarted: the first frame of a device may come mid-boot, and older ones after it. */
static void test_first_frame_mid_boot(void)
{
    struct gw_dedup *d = make(10, 1000);
    struct gw_dedup_stats s;

    now_ts = T0;
    CU_ASSERT_EQUAL(feed(d, "a", 7, 500, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 450, 1), GW_DEDUP_NEW); /* backlog drained after a restart */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 450, 1), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 502, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, 1); /* 501 only: nothing below 500 was ever expected */
    CU_ASSERT_EQUAL(s.n_lost_definitive, 0);
    /* Floor 601: the unknown part leaves the window uncounted, 501 and 503..600 for good. */
    CU_ASSERT_EQUAL(feed(d, "a", 7, 1600, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_definitive, 1 + (600 - 503 + 1));
    CU_ASSERT_EQUAL(s.n_lost_pending, 1599 - 601 + 1);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 449, 1), GW_DEDUP_REPLAY);

    /* The older boot's ring drains after the restart, when only the new boot is known. */
    now_ts = T0 + 60000;
    CU_ASSERT_EQUAL(feed(d, "b", 2222, 3, 0), GW_DEDUP_NEW);
    now_ts = T0;
    CU_ASSERT_EQUAL(feed(d, "b", 1111, 40, 1), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "b", 1111, 40, 0), GW_DEDUP_REPLAY); /* a live frame of it now */
    CU_ASSERT_EQUAL(feed(d, "b", 1111, 41, 1), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "b", 1111, 41, 1), GW_DEDUP_DUPLICATE);
    CU_ASSERT_EQUAL(stats(d, "b").n_boots, 2);
    now_ts = T0 + 60001;
    CU_ASSERT_EQUAL(feed(d, "b", 2222, 4, 0), GW_DEDUP_NEW);
    gw_dedup_free(d);
}

static void test_bounded_device_table(void)
{
    struct gw_dedup *d = make(3, 100);
    struct gw_dedup_totals tot;
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    struct gw_dedup_ticket t;

    CU_ASSERT_EQUAL(feed(d, "a", 1, 1, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "b", 1, 1, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "c", 1, 3, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "c", 1, 5, 0), GW_DEDUP_NEW);
    f.device_id = "d";
    f.boot_id = 1;
    f.seq = 1;
    f.timestamp_ms = T0;
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t), GW_EFULL);
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t), GW_EFULL);
    CU_ASSERT_EQUAL(feed(d, "a", 1, 2, 0), GW_DEDUP_NEW); /* known devices carry on */
    gw_dedup_totals(d, &tot);
    CU_ASSERT_EQUAL(tot.n_devices, 3);
    CU_ASSERT_EQUAL(tot.n_refused, 2);
    CU_ASSERT_EQUAL(tot.sum.n_new, 5);
    CU_ASSERT_EQUAL(tot.sum.n_lost_pending, 1);
    CU_ASSERT_EQUAL(tot.sum.n_boots, 3);
    CU_ASSERT_EQUAL(gw_dedup_device_stats(d, "d", &tot.sum), GW_ENOTFOUND);
    gw_dedup_free(d);
}

static int keep_not_c(void *ctx, const char *id)
{
    (void)ctx;
    return strcmp(id, "c") != 0;
}

static void test_prune(void)
{
    struct gw_dedup *d = make(3, 100);
    struct gw_dedup_totals tot;

    feed(d, "a", 1, 1, 0);
    feed(d, "b", 1, 1, 0);
    feed(d, "c", 1, 1, 0);
    feed(d, "c", 1, 3, 0);
    CU_ASSERT_EQUAL(feed(d, "d", 1, 1, 0), -1);
    /* The registry was reloaded without c: forgetting it makes room for d. */
    CU_ASSERT_EQUAL(gw_dedup_prune(d, keep_not_c, NULL), 1);
    gw_dedup_totals(d, &tot);
    CU_ASSERT_EQUAL(tot.n_devices, 2);
    CU_ASSERT_EQUAL(tot.sum.n_lost_pending, 0); /* c's pending loss left with it */
    CU_ASSERT_EQUAL(tot.sum.n_new, 4);          /* counters stay */
    CU_ASSERT_EQUAL(feed(d, "d", 1, 1, 0), GW_DEDUP_NEW);
    gw_dedup_free(d);
}

static void test_invalid_arguments(void)
{
    struct gw_dedup *d = NULL;
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    struct gw_dedup_ticket t;
    char long_id[WIRE_MAX_DEVICE_ID + 2];

    CU_ASSERT_EQUAL(gw_dedup_new(0, 100, &d), GW_EINVAL);
    CU_ASSERT_EQUAL(gw_dedup_new(10, 0, &d), GW_EINVAL);
    CU_ASSERT(d == NULL);
    d = make(10, 100);
    f.device_id = "a";
    f.boot_id = 0;
    f.seq = 1;
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t), GW_EINVAL);
    f.boot_id = 1;
    f.seq = 0;
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t), GW_EINVAL);
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    f.device_id = long_id;
    f.seq = 1;
    CU_ASSERT_EQUAL(gw_dedup_check(d, &f, &t), GW_EINVAL);
    gw_dedup_free(d);
}

/* Losses every 7 numbers from first, late frames every 11: many gaps open and close. */
static void feed_lossy(struct gw_dedup *d, uint64_t first, uint64_t end)
{
    for (uint64_t q = first; q < end; q++)
        feed(d, "a", 1, q % 7 == 0 ? q - 3 : q, q % 11 == 0);
}

/*
 * Device state fits the budget; a device with at most two gaps allocates
 * nothing after its first frame, one with more allocates room for them once.
 */
static void test_memory(void)
{
    struct gw_dedup *d = make(10, 1000);

    CU_ASSERT(gw_dedup_heap_bytes(d) == 0);
    feed(d, "a", 1, 1, 0);
    size_t one = gw_dedup_heap_bytes(d);
    CU_ASSERT(one > 0 && one + 16 <= 512); /* malloc's header included */
    gw_alloc_fail_after(-1);               /* resets the count */
    CU_ASSERT_EQUAL(feed(d, "a", 1, 3, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "a", 1, 5, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(gw_alloc_count(), 0); /* two gaps: inline */
    CU_ASSERT_EQUAL(gw_dedup_heap_bytes(d), one);
    CU_ASSERT_EQUAL(feed(d, "a", 1, 7, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(gw_alloc_count(), 1);    /* the third */
    CU_ASSERT(gw_dedup_heap_bytes(d) > one); /* the gap list on the heap counts */
    feed_lossy(d, 8, 5000);
    CU_ASSERT_EQUAL(gw_alloc_count(), 1);
    gw_dedup_free(d);
}

/* Without memory for more gaps the list is full at two, and committing still succeeds. */
static void test_gap_room_not_allocated(void)
{
    struct gw_dedup *d = make(10, 1000);
    struct gw_dedup_stats s;

    for (uint64_t q = 1; q <= 5; q += 2)
        feed(d, "a", 7, q, 0); /* gaps 2 and 4 */
    gw_alloc_fail_after(0);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 7, 0), GW_DEDUP_NEW); /* gap 6: 2 goes */
    gw_alloc_fail_after(-1);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, 2);
    CU_ASSERT_EQUAL(s.n_lost_definitive, 1);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 2, 0), GW_DEDUP_REPLAY);
    CU_ASSERT_EQUAL(feed(d, "a", 7, 4, 0), GW_DEDUP_NEW);
    /* With memory the list grows past two again. */
    for (uint64_t q = 9; q <= 13; q += 2)
        CU_ASSERT_EQUAL(feed(d, "a", 7, q, 0), GW_DEDUP_NEW); /* gaps 6, 8, 10, 12 */
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, 4);
    CU_ASSERT_EQUAL(s.n_lost_definitive, 1);
    gw_dedup_free(d);
}

/* A snapshot restores devices with gaps inline and on the heap to the same state. */
static void test_snapshot_restore(void)
{
    struct gw_dedup *d = make(10, 1000), *back = make(10, 1000);
    struct gw_wbuf w;
    struct gw_rbuf r;

    feed_lossy(d, 1, 600); /* "a": gaps on the heap */
    CU_ASSERT_EQUAL(feed(d, "b", 1, 1, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(d, "b", 1, 3, 0), GW_DEDUP_NEW); /* "b": one gap, inline */
    gw_wbuf_init(&w);
    CU_ASSERT_FATAL(gw_dedup_snapshot(d, &w) == 0);
    gw_rbuf_init(&r, w.buf, w.len);
    CU_ASSERT_FATAL(gw_dedup_restore(back, &r, 2) == 0);
    CU_ASSERT_EQUAL(r.left, 0);
    gw_free(w.buf);
    struct gw_dedup_stats sa = stats(d, "a"), sb = stats(back, "a");
    CU_ASSERT(sa.n_lost_pending > 2); /* single lost numbers: more gaps than inline */
    CU_ASSERT(memcmp(&sa, &sb, sizeof sa) == 0);
    for (uint64_t q = 1; q < 650; q++) /* every number: the same verdict from both */
        CU_ASSERT_EQUAL(feed(back, "a", 1, q, 0), feed(d, "a", 1, q, 0));
    CU_ASSERT_EQUAL(feed(back, "b", 1, 2, 0), GW_DEDUP_NEW);
    CU_ASSERT_EQUAL(feed(back, "b", 1, 2, 0), GW_DEDUP_DUPLICATE);
    gw_dedup_free(d);
    gw_dedup_free(back);
}

static void test_allocation_failures(void)
{
    long n;
    for (n = 0; n < 100000; n++) {
        struct gw_dedup *d = NULL;
        int failed = 0;
        gw_alloc_fail_after(n);
        int rc = gw_dedup_new(1000, 1000, &d);
        if (rc != 0) {
            CU_ASSERT_EQUAL(rc, GW_ENOMEM);
            failed = 1;
        }
        /* Enough devices to make uthash grow its buckets. */
        for (int i = 0; i < 400 && !failed; i++) {
            char id[8];
            Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
            struct gw_dedup_ticket t;
            snprintf(id, sizeof id, "n%d", i);
            f.device_id = id;
            f.boot_id = 1;
            f.seq = 1;
            rc = gw_dedup_check(d, &f, &t);
            if (rc != 0) {
                CU_ASSERT_EQUAL_FATAL(rc, GW_ENOMEM);
                failed = 1;
            } else {
                CU_ASSERT_EQUAL(gw_dedup_commit(d, &t), GW_DEDUP_NEW);
            }
        }
        gw_alloc_fail_after(-1);
        if (!failed) {
            struct gw_dedup_totals tot;
            gw_dedup_totals(d, &tot);
            CU_ASSERT_EQUAL(tot.n_devices, 400);
        }
        gw_dedup_free(d);
        if (!failed)
            break;
    }
    CU_ASSERT(n > 400 && n < 100000);
}

/* A long delivery, shuffled, with duplicates and drops: every number up to the highest is
 * accepted once, pending, or definitively lost; never two of these, never none. */
static void test_invariant_under_shuffle(void)
{
    struct gw_dedup *d = make(10, 500);
    uint32_t rng = 12345;
    uint64_t high = 0, next = 1, pool[64];
    size_t n_pool = 0;

    now_ts = T0;
    for (int step = 0; step < 100000; step++) {
        rng = rng * 1103515245u + 12345u;
        uint32_t r = (rng >> 8) % 1000;
        uint64_t seq;
        if (n_pool < 64 && (r < 600 || n_pool == 0)) {
            pool[n_pool++] = next++; /* in flight */
            continue;
        }
        size_t i = (rng >> 4) % n_pool;
        seq = pool[i];
        if (r < 990)
            pool[i] = pool[--n_pool]; /* 1% stay for a duplicate */
        if (r >= 960 && r < 985)
            continue; /* 2.5% lost */
        if (feed(d, "a", 1, seq, 0) == GW_DEDUP_NEW && seq > high)
            high = seq;
        struct gw_dedup_stats s = stats(d, "a");
        if (s.n_new + s.n_lost_pending + s.n_lost_definitive != high) {
            fprintf(stderr, "\nstep %d seq %llu: %llu + %llu + %llu != %llu\n", step,
                    (unsigned long long)seq, (unsigned long long)s.n_new,
                    (unsigned long long)s.n_lost_pending, (unsigned long long)s.n_lost_definitive,
                    (unsigned long long)high);
            CU_FAIL_FATAL("invariant broken");
        }
    }
    struct gw_dedup_stats s = stats(d, "a");
    CU_ASSERT(s.n_duplicate > 0 && s.n_lost_definitive > 0 && s.n_lost_pending > 0);
    /* Far ahead: every old gap leaves the window; pending is exactly the new gap's last 499. */
    uint64_t far = high + 2000;
    CU_ASSERT_EQUAL(feed(d, "a", 1, far, 0), GW_DEDUP_NEW);
    s = stats(d, "a");
    CU_ASSERT_EQUAL(s.n_lost_pending, 499);
    CU_ASSERT_EQUAL(s.n_new + s.n_lost_pending + s.n_lost_definitive, far);
    gw_dedup_free(d);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"in order and duplicates", test_in_order_and_duplicates},
        {"check then commit", test_check_then_commit},
        {"gaps counted and un-counted", test_gaps_counted_and_uncounted},
        {"window makes losses definitive", test_window_makes_losses_definitive},
        {"bounded gap list", test_bounded_gap_list},
        {"new boot", test_new_boot},
        {"old boot after new", test_old_boot_after_new},
        {"first frame mid-boot", test_first_frame_mid_boot},
        {"reboot with the clock behind", test_reboot_with_clock_behind},
        {"boot history", test_boot_history},
        {"too-late values noted per device", test_note_late},
        {"bounded device table", test_bounded_device_table},
        {"prune", test_prune},
        {"invalid arguments", test_invalid_arguments},
        {"memory", test_memory},
        {"gap room not allocated", test_gap_room_not_allocated},
        {"snapshot restore", test_snapshot_restore},
        {"allocation failures", test_allocation_failures},
        {"invariant under shuffle", test_invariant_under_shuffle},
        {NULL, NULL},
    };
    return cu_main("dedup", tests);
}
