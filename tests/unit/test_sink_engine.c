/*
 * test_sink_engine.c -- the store writer's engine with a fake adapter at its seam:
 * a 413 splits a batch until each half fits, a 400 dead-letters the batch
 * with the store's message and is never retried, transient failures are
 * retried until they pass, and every line is written exactly once, in order;
 * past the pending bound the oldest lines are dropped, counted and logged
 * (the first drop's line exact, repeats folded).
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

static enum gw_sink_result fake_prepare(void *state, struct gw_sink_reply *reply)
{
    (void)state;
    (void)reply;
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

/* The fake store has no retention policy "gone": it answers 500 to it, as
 * InfluxDB 1.x does, for ever. */
static enum gw_sink_result fake_write(void *state, const char *rp, const char *lines, size_t len,
                                      struct gw_sink_reply *reply)
{
    struct fake *f = state;
    size_t n = 0;
    enum gw_sink_result r = GW_SINK_OK;
    for (size_t i = 0; i < len; i++)
        n += lines[i] == '\n';
    pthread_mutex_lock(&f->lock);
    f->writes++;
    if (rp && strcmp(rp, "gone") == 0) {
        reply->cls = GW_SINK_E_5XX;
        snprintf(reply->msg, sizeof reply->msg,
                 "HTTP 500: {\"error\":\"retention policy not found: gone\"}");
        r = GW_SINK_RETRY;
    } else if (f->fail_next > 0) {
        f->fail_next--;
        reply->cls = GW_SINK_E_5XX;
        snprintf(reply->msg, sizeof reply->msg, "HTTP 503: busy");
        r = GW_SINK_RETRY;
    } else if (n > MAX_LINES_PER_WRITE) {
        f->too_large++;
        r = GW_SINK_TOO_LARGE;
    } else if (has_bad(lines, len)) {
        reply->cls = GW_SINK_E_4XX;
        snprintf(reply->msg, sizeof reply->msg, "HTTP 400: unable to parse 'bad'");
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

static const struct gw_sink_ops fake_ops = {
    .open = fake_open, .prepare = fake_prepare, .write = fake_write, .close = fake_close};

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
    CU_ASSERT(st.errors[GW_SINK_E_5XX] == 5 && st.errors[GW_SINK_E_4XX] == 0);
    CU_ASSERT(st.errors[GW_SINK_E_CONNECT] == 0 && st.errors[GW_SINK_E_TIMEOUT] == 0);
    CU_ASSERT(st.failing == 0); /* recovered */
    CU_ASSERT(strstr(st.last_error, "rp: 5xx: HTTP 503: busy") != NULL);
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
    CU_ASSERT(st.errors[GW_SINK_E_4XX] == 1 && st.errors[GW_SINK_E_5XX] == 0);
    CU_ASSERT(fake.writes == writes + 1); /* never retried */
    FILE *f = fopen(dead_letter, "r");
    CU_ASSERT_FATAL(f != NULL);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    CU_ASSERT(strstr(text, "HTTP 400: unable to parse 'bad'") != NULL);
    CU_ASSERT(strstr(text, "m,t=bad v=1i 1\n") != NULL);
    gw_sink_free(s);
}

/*
 * A batch that cannot succeed (its retention policy is gone from the store)
 * must not hold back the batches of other policies queued behind it: they
 * are written, in order, while the failing one is retried, counted as 5xx
 * and reported as failing.
 */
static void test_failing_policy_does_not_block_others(void)
{
    char expect[4096];
    size_t off = 0;
    struct gw_sink_stats st;
    struct gw_sink *s = new_sink();

    fake.written_len = 0;
    CU_ASSERT_FATAL(gw_sink_push(s, "gone", "g v=0i 0\n", 9, 1) == 0);
    for (int i = 1; i <= 30; i++) {
        char line[32];
        const char *rp = i % 2 ? "ok" : "gone";
        int n = snprintf(line, sizeof line, "%c v=%di %d\n", rp[0], i, i);
        CU_ASSERT_FATAL(gw_sink_push(s, rp, line, (size_t)n, 1) == 0);
        n = snprintf(line, sizeof line, "a v=%di %d\n", i, i);
        memcpy(expect + off, line, (size_t)n);
        off += (size_t)n;
        CU_ASSERT_FATAL(gw_sink_push(s, "also-ok", line, (size_t)n, 1) == 0);
    }
    CU_ASSERT(gw_sink_drain(s, 500) == GW_ERETRY); /* "gone" never drains */
    gw_sink_stats(s, &st);
    CU_ASSERT_EQUAL(st.lines_written, 15 + 30);
    CU_ASSERT_EQUAL(st.lines_pending, 1 + 15);
    CU_ASSERT(st.errors[GW_SINK_E_5XX] >= 2 && st.errors[GW_SINK_E_5XX] == st.retries);
    CU_ASSERT_EQUAL(st.failing, 1);
    CU_ASSERT(strstr(st.last_error, "gone: 5xx: HTTP 500") != NULL);
    CU_ASSERT(strstr(st.last_error, "retention policy not found") != NULL);
    /* Nothing of "gone" was written; "also-ok" arrived whole and in order. */
    char got[4096];
    size_t n_got = 0, n_gone = 0;
    for (const char *p = fake.written; p < fake.written + fake.written_len;) {
        const char *nl = memchr(p, '\n', (size_t)(fake.written + fake.written_len - p));
        CU_ASSERT_FATAL(nl != NULL);
        size_t n = (size_t)(nl + 1 - p);
        n_gone += p[0] == 'g';
        if (p[0] == 'a') {
            memcpy(got + n_got, p, n);
            n_got += n;
        }
        p = nl + 1;
    }
    CU_ASSERT_EQUAL(n_gone, 0);
    CU_ASSERT_EQUAL(n_got, off);
    CU_ASSERT(memcmp(got, expect, off) == 0);
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
    /* The drops are logged, rate-limited: the log goes to a file meanwhile. */
    char path[] = "/tmp/test_sink_engine.XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    CU_ASSERT_FATAL(fd >= 0 && saved >= 0);
    fflush(stderr);
    CU_ASSERT_FATAL(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    for (int i = 1; i < 100; i++)
        CU_ASSERT(gw_sink_push(s, "rp", "m v=1i 1\n", 9, 1) == 0);
    gw_sink_stats(s, &st);
    fflush(stderr);
    CU_ASSERT_FATAL(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
    close(saved);
    CU_ASSERT(st.bytes_pending <= 100 + 9);
    CU_ASSERT(st.lines_dropped >= 100 - (100 + 9) / 9);
    CU_ASSERT(st.lines_dropped + st.lines_pending + st.lines_written == 100);

    char log[4096];
    ssize_t n = pread(fd, log, sizeof log - 1, 0);
    close(fd);
    unlink(path);
    CU_ASSERT_FATAL(n > 0);
    log[n] = '\0';
    /* The first drop: the twelfth 9-byte line makes 108 bytes, over the bound of 100. */
    CU_ASSERT_PTR_NOT_NULL(strstr(log, " warn store_lines_dropped: the oldest 1 lines dropped: 108 "
                                       "bytes were waiting for the store, more than "
                                       "store.max_pending (100); 1 dropped since the start"));
    unsigned lines = 0;
    for (const char *p = log; (p = strstr(p, "store_lines_dropped")) != NULL; p++)
        lines++;
    CU_ASSERT(lines >= 1);
    CU_ASSERT(lines < st.lines_dropped / 4); /* repeats within a second are folded */
    fake.fail_next = 0;
    gw_sink_free(s);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"413 splits until it fits", test_split_until_it_fits},
        {"transient failures are retried", test_transient_failures_are_retried},
        {"refused batch goes to dead letter", test_refused_batch_goes_to_dead_letter},
        {"a failing policy does not block the others", test_failing_policy_does_not_block_others},
        {"bound drops oldest and counts", test_bound_drops_oldest_and_counts},
        {NULL, NULL},
    };
    snprintf(dead_letter, sizeof dead_letter, "%s/citygate-sink-test.%d.lp",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    int rc = cu_main("sink engine", tests);
    unlink(dead_letter);
    return rc;
}
