/*
 * test_webhook.c -- the alert webhook against a real HTTP receiver on
 * loopback (tests/lib/receiver.h, answering statuses the test scripts): bodies
 * arrive whole, as JSON, once each and in order; 5xx, 408 and 429 are
 * retried until they pass; other 4xx answers are refusals, never retried;
 * an alert that fails every attempt is given up and counted; a full queue
 * drops its oldest waiting alert (never the one in flight) and counts it;
 * freeing the webhook while a request hangs ends within that request.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "cu.h"
#include "err.h"
#include "receiver.h"
#include "webhook.h"

/* Waits until the webhook has settled n alerts (delivered, refused or
 * failed) and has nothing queued; fills *st. 0 when it did within 10 s. */
static int wait_settled(struct gw_webhook *w, uint64_t n, struct gw_webhook_stats *st)
{
    uint64_t until = gw_mono_ms() + 10000;
    const struct timespec tick = {0, 1000000};
    for (;;) {
        gw_webhook_stats(w, st);
        if (st->delivered + st->refused + st->failed + st->dropped >= n && st->queued == 0)
            return 0;
        if (gw_mono_ms() > until)
            return -1;
        nanosleep(&tick, NULL);
    }
}

static struct gw_webhook *new_hook(unsigned attempts, size_t queue, uint32_t timeout_ms)
{
    struct gw_webhook_config c = {0};
    struct gw_webhook *w = NULL;
    c.url = cu_rx_url();
    c.timeout_ms = timeout_ms;
    c.retry_min_ms = 1;
    c.retry_max_ms = 8;
    c.max_attempts = attempts;
    c.max_queue = queue;
    CU_ASSERT_FATAL(gw_webhook_new(&c, &w) == 0);
    return w;
}

static void post(struct gw_webhook *w, const char *json)
{
    CU_ASSERT_FATAL(gw_webhook_post(w, json, strlen(json)) == 0);
}

static void test_bodies_arrive_in_order(void)
{
    struct gw_webhook_stats st;
    char body[8][64];
    cu_rx_start(NULL);
    struct gw_webhook *w = new_hook(8, 100, 2000);
    for (int i = 0; i < 8; i++) {
        snprintf(body[i], sizeof body[i], "{\"alert\":%d,\"state\":\"crit\"}", i);
        post(w, body[i]);
    }
    CU_ASSERT_FATAL(wait_settled(w, 8, &st) == 0);
    CU_ASSERT_EQUAL(st.delivered, 8);
    CU_ASSERT_EQUAL(st.refused + st.failed + st.dropped, 0);
    gw_webhook_free(w);
    cu_rx_stop();
    int bad = 1;
    CU_ASSERT_EQUAL(cu_rx_count(&bad), 8);
    CU_ASSERT_FALSE(bad);
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT_STRING_EQUAL(cu_rx_body(i), body[i]);
}

/*
 * Posts the alerts {"n":1} ... {"n":n_alerts} to a receiver that answers
 * script, with attempts tries each, and checks what became of them: the
 * counts, and which alert each request carried (want, 0-terminated).
 */
static void check_script(const unsigned *script, unsigned attempts, int n_alerts,
                         uint64_t delivered, uint64_t refused, uint64_t failed, const int *want)
{
    struct gw_webhook_stats st;
    char body[32];
    size_t n_want = 0;
    cu_rx_start(script);
    struct gw_webhook *w = new_hook(attempts, 100, 2000);
    for (int i = 1; i <= n_alerts; i++) {
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        post(w, body);
    }
    CU_ASSERT_FATAL(wait_settled(w, (uint64_t)n_alerts, &st) == 0);
    CU_ASSERT_EQUAL(st.delivered, delivered);
    CU_ASSERT_EQUAL(st.refused, refused);
    CU_ASSERT_EQUAL(st.failed, failed);
    CU_ASSERT_EQUAL(st.dropped, 0);
    gw_webhook_free(w);
    cu_rx_stop();
    for (; want[n_want]; n_want++) {
        snprintf(body, sizeof body, "{\"n\":%d}", want[n_want]);
        CU_ASSERT_STRING_EQUAL(cu_rx_body(n_want), body);
    }
    CU_ASSERT_EQUAL(cu_rx_count(NULL), n_want);
}

/* The first alert five times (four failures, then 200), then the second once. */
static void test_transient_answers_are_retried(void)
{
    static const unsigned script[] = {503, 408, 429, 500, 0};
    static const int want[] = {1, 1, 1, 1, 1, 2, 0};
    check_script(script, 8, 2, 2, 0, 0, want);
}

/* Each alert once: three refusals, the fourth delivered. */
static void test_refusals_are_not_retried(void)
{
    static const unsigned script[] = {400, 404, 413, 0};
    static const int want[] = {1, 2, 3, 4, 0};
    check_script(script, 8, 4, 1, 3, 0, want);
}

/* Exactly three attempts of the first, then the second once. */
static void test_gives_up_after_the_attempts(void)
{
    static const unsigned script[] = {500, 502, 503, 0};
    static const int want[] = {1, 1, 1, 2, 0};
    check_script(script, 3, 2, 1, 0, 1, want);
}

/*
 * Queue of 3 and the first alert held in flight: B, C and D are dropped as
 * E, F arrive behind them, oldest first; A, E and F are delivered, in order.
 */
static void test_full_queue_drops_oldest_waiting(void)
{
    struct gw_webhook_stats st;
    cu_rx_start(NULL);
    cu_rx_hold(1);
    struct gw_webhook *w = new_hook(8, 3, 5000);
    post(w, "\"A\"");
    CU_ASSERT_FATAL(cu_rx_wait(1, 10000) == 0);
    post(w, "\"B\"");
    post(w, "\"C\"");
    post(w, "\"D\"");
    post(w, "\"E\"");
    post(w, "\"F\"");
    gw_webhook_stats(w, &st);
    CU_ASSERT_EQUAL(st.dropped, 3);
    CU_ASSERT_EQUAL(st.queued, 3);
    cu_rx_hold(0);
    CU_ASSERT_FATAL(wait_settled(w, 6, &st) == 0);
    CU_ASSERT_EQUAL(st.delivered, 3);
    CU_ASSERT_EQUAL(st.dropped, 3);
    CU_ASSERT_EQUAL(st.refused + st.failed, 0);
    gw_webhook_free(w);
    cu_rx_stop();
    CU_ASSERT_EQUAL(cu_rx_count(NULL), 3);
    CU_ASSERT_STRING_EQUAL(cu_rx_body(0), "\"A\"");
    CU_ASSERT_STRING_EQUAL(cu_rx_body(1), "\"E\"");
    CU_ASSERT_STRING_EQUAL(cu_rx_body(2), "\"F\"");
}

/* The receiver never answers: freeing the webhook ends with the request's
 * timeout (here 300 ms), not with every attempt of every queued alert. */
static void test_free_ends_within_one_request(void)
{
    cu_rx_start(NULL);
    cu_rx_hold(1);
    struct gw_webhook *w = new_hook(1000, 100, 300);
    post(w, "{\"n\":1}");
    post(w, "{\"n\":2}");
    CU_ASSERT_FATAL(cu_rx_wait(1, 10000) == 0);
    uint64_t t0 = gw_mono_ms();
    gw_webhook_free(w);
    uint64_t took = gw_mono_ms() - t0;
    CU_ASSERT(took < 5000);
    cu_rx_stop();
    CU_ASSERT(cu_rx_count(NULL) >= 1);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"bodies arrive whole and in order", test_bodies_arrive_in_order},
        {"5xx, 408 and 429 are retried", test_transient_answers_are_retried},
        {"other 4xx are refusals, not retried", test_refusals_are_not_retried},
        {"an alert is given up after its attempts", test_gives_up_after_the_attempts},
        {"a full queue drops the oldest waiting", test_full_queue_drops_oldest_waiting},
        {"free ends within one request", test_free_ends_within_one_request},
        {NULL, NULL},
    };
    return cu_main("webhook", tests);
}
