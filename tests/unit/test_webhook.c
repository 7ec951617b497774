/*
 * test_webhook.c -- the alert webhook against a real HTTP receiver on
 * loopback (libmicrohttpd, answering statuses the test scripts): bodies
 * arrive whole, as JSON, once each and in order; 5xx, 408 and 429 are
 * retried until they pass; other 4xx answers are refusals, never retried;
 * an alert that fails every attempt is given up and counted; a full queue
 * drops its oldest waiting alert (never the one in flight) and counts it;
 * freeing the webhook while a request hangs ends within that request.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "cu.h"
#include "err.h"
#include "webhook.h"

#define MAX_SEEN 64

/* The receiver: what it was sent, and what it answers. */
static struct receiver {
    struct MHD_Daemon *daemon;
    char url[64];
    unsigned script[16]; /* statuses to answer, in order; then 200 */
    size_t n_script, next_script;
    int hold;             /* answer nothing until the test clears it */
    size_t n_requests;    /* requests answered or being answered */
    int bad_request;      /* a request that was not a JSON POST to /hook */
    char *seen[MAX_SEEN]; /* the bodies of every request, in order */
} rx;
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rx_changed = PTHREAD_COND_INITIALIZER; /* a request came, or hold cleared */

struct upload {
    char buf[1024];
    size_t len;
};

static enum MHD_Result rx_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    struct upload *up = *con_cls;
    (void)cls;
    (void)version;
    if (!up) {
        *con_cls = up = calloc(1, sizeof *up);
        return up ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        size_t take =
            *data_size < sizeof up->buf - 1 - up->len ? *data_size : sizeof up->buf - 1 - up->len;
        memcpy(up->buf + up->len, data, take);
        up->len += take;
        *data_size = 0;
        return MHD_YES;
    }
    const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    unsigned status = 200;
    pthread_mutex_lock(&rx_lock);
    if (strcmp(method, "POST") != 0 || strcmp(url, "/hook") != 0 || !type ||
        strcmp(type, "application/json") != 0)
        rx.bad_request = 1;
    if (rx.n_requests < MAX_SEEN)
        rx.seen[rx.n_requests] = strndup(up->buf, up->len);
    rx.n_requests++;
    if (rx.next_script < rx.n_script)
        status = rx.script[rx.next_script++];
    pthread_cond_broadcast(&rx_changed);
    while (rx.hold)
        pthread_cond_wait(&rx_changed, &rx_lock);
    pthread_mutex_unlock(&rx_lock);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static void rx_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    free(*con_cls);
    *con_cls = NULL;
}

/* Starts the receiver with a script of statuses (0-terminated). */
static void rx_start(const unsigned *script)
{
    pthread_mutex_lock(&rx_lock);
    for (size_t i = 0; i < rx.n_requests && i < MAX_SEEN; i++)
        free(rx.seen[i]);
    rx.n_requests = 0;
    rx.bad_request = 0;
    rx.hold = 0;
    rx.n_script = rx.next_script = 0;
    while (script && script[rx.n_script])
        rx.script[rx.n_script] = script[rx.n_script], rx.n_script++;
    pthread_mutex_unlock(&rx_lock);
    rx.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, rx_answer, NULL, MHD_OPTION_NOTIFY_COMPLETED, rx_done, NULL, MHD_OPTION_END);
    CU_ASSERT_FATAL(rx.daemon != NULL);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
    CU_ASSERT_FATAL(info != NULL && info->port != 0);
    snprintf(rx.url, sizeof rx.url, "http://127.0.0.1:%u/hook", (unsigned)info->port);
}

static void rx_stop(void)
{
    pthread_mutex_lock(&rx_lock);
    rx.hold = 0;
    pthread_cond_broadcast(&rx_changed);
    pthread_mutex_unlock(&rx_lock);
    MHD_stop_daemon(rx.daemon);
    rx.daemon = NULL;
}

/* Waits until the receiver has had n requests; 0 when it did within 10 s. */
static int rx_wait_requests(size_t n)
{
    struct timespec until;
    int rc = 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&rx_lock);
    while (rx.n_requests < n && rc == 0)
        rc = pthread_cond_timedwait(&rx_changed, &rx_lock, &until);
    rc = rx.n_requests >= n ? 0 : -1;
    pthread_mutex_unlock(&rx_lock);
    return rc;
}

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
    c.url = rx.url;
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

/* The body of the receiver's request i, or "" when it has none. */
static const char *seen(size_t i)
{
    return i < rx.n_requests && i < MAX_SEEN && rx.seen[i] ? rx.seen[i] : "";
}

static void test_bodies_arrive_in_order(void)
{
    struct gw_webhook_stats st;
    char body[8][64];
    rx_start(NULL);
    struct gw_webhook *w = new_hook(8, 100, 2000);
    for (int i = 0; i < 8; i++) {
        snprintf(body[i], sizeof body[i], "{\"alert\":%d,\"state\":\"crit\"}", i);
        post(w, body[i]);
    }
    CU_ASSERT_FATAL(wait_settled(w, 8, &st) == 0);
    CU_ASSERT_EQUAL(st.delivered, 8);
    CU_ASSERT_EQUAL(st.refused + st.failed + st.dropped, 0);
    gw_webhook_free(w);
    rx_stop();
    CU_ASSERT_EQUAL(rx.n_requests, 8);
    CU_ASSERT_FALSE(rx.bad_request);
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT_STRING_EQUAL(seen(i), body[i]);
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
    rx_start(script);
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
    rx_stop();
    for (; want[n_want]; n_want++) {
        snprintf(body, sizeof body, "{\"n\":%d}", want[n_want]);
        CU_ASSERT_STRING_EQUAL(seen(n_want), body);
    }
    CU_ASSERT_EQUAL(rx.n_requests, n_want);
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
    rx_start(NULL);
    rx.hold = 1;
    struct gw_webhook *w = new_hook(8, 3, 5000);
    post(w, "\"A\"");
    CU_ASSERT_FATAL(rx_wait_requests(1) == 0);
    post(w, "\"B\"");
    post(w, "\"C\"");
    post(w, "\"D\"");
    post(w, "\"E\"");
    post(w, "\"F\"");
    gw_webhook_stats(w, &st);
    CU_ASSERT_EQUAL(st.dropped, 3);
    CU_ASSERT_EQUAL(st.queued, 3);
    pthread_mutex_lock(&rx_lock);
    rx.hold = 0;
    pthread_cond_broadcast(&rx_changed);
    pthread_mutex_unlock(&rx_lock);
    CU_ASSERT_FATAL(wait_settled(w, 6, &st) == 0);
    CU_ASSERT_EQUAL(st.delivered, 3);
    CU_ASSERT_EQUAL(st.dropped, 3);
    CU_ASSERT_EQUAL(st.refused + st.failed, 0);
    gw_webhook_free(w);
    rx_stop();
    CU_ASSERT_EQUAL(rx.n_requests, 3);
    CU_ASSERT_STRING_EQUAL(seen(0), "\"A\"");
    CU_ASSERT_STRING_EQUAL(seen(1), "\"E\"");
    CU_ASSERT_STRING_EQUAL(seen(2), "\"F\"");
}

/* The receiver never answers: freeing the webhook ends with the request's
 * timeout (here 300 ms), not with every attempt of every queued alert. */
static void test_free_ends_within_one_request(void)
{
    rx_start(NULL);
    rx.hold = 1;
    struct gw_webhook *w = new_hook(1000, 100, 300);
    post(w, "{\"n\":1}");
    post(w, "{\"n\":2}");
    CU_ASSERT_FATAL(rx_wait_requests(1) == 0);
    uint64_t t0 = gw_mono_ms();
    gw_webhook_free(w);
    uint64_t took = gw_mono_ms() - t0;
    CU_ASSERT(took < 5000);
    rx_stop();
    CU_ASSERT(rx.n_requests >= 1);
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
    int rc = cu_main("webhook", tests);
    for (size_t i = 0; i < rx.n_requests && i < MAX_SEEN; i++)
        free(rx.seen[i]);
    return rc;
}
