/*
 * test_sink_engine.c -- the store writer's engine with a fake adapter at its seam:
 * a 413 splits a batch until each half fits, a 400 dead-letters the batch
 * with the store's message and is never retried, transient failures are
 * retried until they pass, and every line is written exactly once, in order.
 * (tests/integration/test_sink.c runs the real adapter against InfluxDB.)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu.h"
#include "err.h"
#include "sink.h"

#define MAX_LINES_PER_WRITE 7 /* the fake store's "body too large" limit */

static struct fake {
    pthread_mutex_t lock;
    int fail_next; /* transient failures still to give */
    char written[1 << 16];
    size_t written_len;
    unsigned too_large, writes;
} fake = {PTHREAD_MUTEX_INITIALIZER, 0, "", 0, 0, 0};

static int fake_open(const struct gw_sink_config *cfg, void **state, char *err, size_t err_len)
{
    (void)cfg;
    (void)err;
    (void)err_len;
    *state = &fake;
    return 0;
}

static enum gw_sink_result fake_prepare(void *state, char *msg, size_t msg_len)
{
    (void)state;
    (void)msg;
    (void)msg_len;
    return GW_SINK_OK;
}

/* The fake store refuses lines that contain "bad". */
static int has_bad(const char *p, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++)
        if (memcmp(p + i, "bad", 3) == 0)
            return 1;
    return 0;
}

static enum gw_sink_result fake_write(void *state, const char *rp, const char *lines, size_t len,
                                      char *msg, size_t msg_len)
{
    struct fake *f = state;
    size_t n = 0;
    enum gw_sink_result r = GW_SINK_OK;
    (void)rp;
    for (size_t i = 0; i < len; i++)
        n += lines[i] == '\n';
    pthread_mutex_lock(&f->lock);
    f->writes++;
    if (f->fail_next > 0) {
        f->fail_next--;
        snprintf(msg, msg_len, "HTTP 503: busy");
        r = GW_SINK_RETRY;
    } else if (n > MAX_LINES_PER_WRITE) {
        f->too_large++;
        r = GW_SINK_TOO_LARGE;
    } else if (has_bad(lines, len)) {
        snprintf(msg, msg_len, "HTTP 400: unable to parse 'bad'");
        r = GW_SINK_REJECTED;
    } else {
        memcpy(f->written + f->written_len, lines, len);
        f->written_len += len;
    }
    pthread_mutex_unlock(&f->lock);
    return r;
}

static void fake_close(void *state)
{
    (void)state;
}

static const struct gw_sink_ops fake_ops = {"fake", fake_open, fake_prepare, fake_write,
                                            fake_close};

static char dead_letter[256];

static struct gw_sink *new_sink(void)
{
    static struct gw_sink_config c;
    struct gw_sink *s = NULL;
    char err[128];
    memset(&c, 0, sizeof c);
    c.ops = &fake_ops;
    c.batch_lines = 40;
    c.batch_interval_ms = 20;
    c.max_pending_bytes = 1 << 20;
    c.retry_min_ms = 1;
    c.retry_max_ms = 8;
    c.dead_letter_path = dead_letter;
    CU_ASSERT_FATAL(gw_sink_new(&c, &s, err, sizeof err) == 0);
    return s;
}

static void test_split_until_it_fits(void)
{
    char expect[4096];
    size_t off = 0;
    struct gw_sink_stats st;
    struct gw_sink *s = new_sink();

    fake.written_len = 0;
    for (int i = 0; i < 40; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "m v=%di %d\n", i, i);
        memcpy(expect + off, line, (size_t)n);
        off += (size_t)n;
        CU_ASSERT_FATAL(gw_sink_push(s, "rp", line, (size_t)n, 1) == 0);
    }
    CU_ASSERT_FATAL(gw_sink_drain(s, 10000) == 0);
    gw_sink_stats(s, &st);
    CU_ASSERT(st.lines_written == 40 && st.lines_pending == 0);
    CU_ASSERT(st.splits > 0 && st.splits == fake.too_large);
    CU_ASSERT(fake.written_len == off && memcmp(fake.written, expect, off) == 0);
    gw_sink_free(s);
}

static void test_transient_failures_are_retried(void)
{
    struct gw_sink_stats st;
    struct gw_sink *s = new_sink();
    fake.written_len = 0;
    fake.fail_next = 5;
    CU_ASSERT_FATAL(gw_sink_push(s, "rp", "m v=1i 1\n", 9, 1) == 0);
    CU_ASSERT_FATAL(gw_sink_drain(s, 10000) == 0);
    gw_sink_stats(s, &st);
    CU_ASSERT(st.retries == 5 && st.lines_written == 1 && st.lines_dead_lettered == 0);
    CU_ASSERT(fake.written_len == 9);
    gw_sink_free(s);
}

static void test_refused_batch_goes_to_dead_letter(void)
{
    char text[1024] = "";
    struct gw_sink_stats st;
    struct gw_sink *s = new_sink();
    unlink(dead_letter);
    fake.written_len = 0;
    unsigned writes = fake.writes;
    CU_ASSERT_FATAL(gw_sink_push(s, "rp", "m,t=bad v=1i 1\n", 15, 1) == 0);
    CU_ASSERT_FATAL(gw_sink_drain(s, 10000) == 0);
    gw_sink_stats(s, &st);
    CU_ASSERT(st.lines_dead_lettered == 1 && st.retries == 0 && st.lines_written == 0);
    CU_ASSERT(fake.writes == writes + 1); /* never retried */
    FILE *f = fopen(dead_letter, "r");
    CU_ASSERT_FATAL(f != NULL);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    CU_ASSERT(strstr(text, "HTTP 400: unable to parse 'bad'") != NULL);
    CU_ASSERT(strstr(text, "m,t=bad v=1i 1\n") != NULL);
    gw_sink_free(s);
}

static void test_bound_drops_oldest_and_counts(void)
{
    static struct gw_sink_config c;
    struct gw_sink *s = NULL;
    struct gw_sink_stats st;
    char err[128];
    memset(&c, 0, sizeof c);
    c.ops = &fake_ops;
    c.batch_lines = 1;
    c.batch_interval_ms = 1;
    c.max_pending_bytes = 100;
    c.retry_min_ms = 1;
    c.retry_max_ms = 2;
    fake.fail_next = 1000000; /* the store is down */
    CU_ASSERT_FATAL(gw_sink_new(&c, &s, err, sizeof err) == 0);
    /* The first batch is in flight, retried while the store is down: the
     * bound must still hold for everything behind it. */
    CU_ASSERT(gw_sink_push(s, "rp", "m v=1i 1\n", 9, 1) == 0);
    do
        gw_sink_stats(s, &st);
    while (st.retries < 2);
    for (int i = 1; i < 100; i++)
        CU_ASSERT(gw_sink_push(s, "rp", "m v=1i 1\n", 9, 1) == 0);
    gw_sink_stats(s, &st);
    CU_ASSERT(st.bytes_pending <= 100 + 9);
    CU_ASSERT(st.lines_dropped >= 100 - (100 + 9) / 9);
    CU_ASSERT(st.lines_dropped + st.lines_pending + st.lines_written == 100);
    fake.fail_next = 0;
    gw_sink_free(s);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"413 splits until it fits", test_split_until_it_fits},
        {"transient failures are retried", test_transient_failures_are_retried},
        {"refused batch goes to dead letter", test_refused_batch_goes_to_dead_letter},
        {"bound drops oldest and counts", test_bound_drops_oldest_and_counts},
        {NULL, NULL},
    };
    snprintf(dead_letter, sizeof dead_letter, "%s/citygate-sink-test.%d.lp",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    int rc = cu_main("sink engine", tests);
    unlink(dead_letter);
    return rc;
}
