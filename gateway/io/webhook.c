/*
 * webhook.c -- the alert webhook as an adapter of the delivery engine
 * (sink.c): this file only POSTs one JSON body and says what the answer
 * means; the queue, its bound, the thread, the retries and their backoff are
 * the engine's, set by the webhook's policy (one alert per request, its own
 * attempts and queue, the store's backoff bounds).
 */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "err.h"
#include "sink.h"

struct gw_webhook {
    struct gw_sink_config cfg; /* the engine's configuration, borrowed by it */
    struct gw_sink *sink;
};

/* The adapter's state: one HTTP client, used by the engine's thread only. */
struct hook {
    const struct gw_sink_config *cfg;
    CURL *curl;
    struct curl_slist *headers;
};

static size_t hook_discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

static int hook_open(const struct gw_sink_config *cfg, void **state, char *err, size_t err_len)
{
    struct hook *h = calloc(1, sizeof *h);
    if (!h || !(h->curl = curl_easy_init()) ||
        !(h->headers = curl_slist_append(NULL, "Content-Type: application/json"))) {
        if (h)
            curl_easy_cleanup(h->curl);
        free(h);
        snprintf(err, err_len, "cannot create an HTTP client");
        return GW_ENOMEM;
    }
    h->cfg = cfg;
    curl_easy_setopt(h->curl, CURLOPT_URL, cfg->url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, hook_discard);
    *state = h;
    return 0;
}

/*
 * POSTs one alert body (rp is always NULL). 2xx is delivered; a 4xx other
 * than 408 (timeout) and 429 (too many requests) is the receiver refusing
 * the alert itself, never retried; anything else, and no answer, is retried.
 */
static enum gw_sink_result hook_write(void *state, const char *rp, const char *body, size_t len,
                                      struct gw_sink_reply *reply)
{
    struct hook *h = state;
    long status = 0;
    (void)rp;
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        reply->cls = rc == CURLE_OPERATION_TIMEDOUT ? GW_SINK_E_TIMEOUT : GW_SINK_E_CONNECT;
        snprintf(reply->msg, sizeof reply->msg, "%s", curl_easy_strerror(rc));
        return GW_SINK_RETRY;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    reply->cls = status >= 400 && status < 500 ? GW_SINK_E_4XX : GW_SINK_E_5XX;
    snprintf(reply->msg, sizeof reply->msg, "HTTP %ld", status);
    if (status >= 200 && status < 300)
        return GW_SINK_OK;
    if (status >= 400 && status < 500 && status != 408 && status != 429)
        return GW_SINK_REJECTED;
    return GW_SINK_RETRY;
}

static void hook_close(void *state)
{
    struct hook *h = state;
    curl_slist_free_all(h->headers);
    curl_easy_cleanup(h->curl);
    free(h);
}

static const struct gw_sink_words hook_words = {
    .failed = "webhook_post_failed",
    .recovered = "webhook_post_recovered",
    .rejected = "webhook_post_refused",
    .given_up = "webhook_post_given_up",
    .dropped = "webhook_alerts_dropped",
    .not_ready = "webhook_not_ready",
    .items = "alerts",
    .peer = "the webhook",
    .no_rp = "webhook",
    .bound_key = "alerts.webhook_queue",
};

static const struct gw_sink_ops hook_ops = {
    .open = hook_open,
    .write = hook_write,
    .close = hook_close,
    .words = &hook_words,
};

int gw_webhook_new(const struct gw_webhook_config *cfg, struct gw_webhook **out)
{
    char err[128];
    struct gw_webhook *w = calloc(1, sizeof *w);
    if (!w)
        return GW_ENOMEM;
    w->cfg.ops = &hook_ops;
    w->cfg.url = cfg->url;
    w->cfg.timeout_ms = cfg->timeout_ms;
    w->cfg.batch_lines = 1;
    w->cfg.max_pending_items = cfg->max_queue;
    w->cfg.retry_min_ms = cfg->retry_min_ms;
    w->cfg.retry_max_ms = cfg->retry_max_ms;
    w->cfg.max_attempts = cfg->max_attempts;
    int rc = gw_sink_new(&w->cfg, &w->sink, err, sizeof err);
    if (rc != 0) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int gw_webhook_post(struct gw_webhook *w, const char *json, size_t len)
{
    return gw_sink_push(w->sink, NULL, json, len, 1);
}

void gw_webhook_stats(struct gw_webhook *w, struct gw_webhook_stats *out)
{
    struct gw_sink_stats st;
    gw_sink_stats(w->sink, &st);
    out->delivered = st.lines_written;
    out->refused = st.lines_dead_lettered;
    out->failed = st.lines_given_up;
    out->dropped = st.lines_dropped;
    out->retries = st.retries;
    out->queued = (size_t)st.lines_pending;
}

void gw_webhook_free(struct gw_webhook *w)
{
    if (!w)
        return;
    gw_sink_free(w->sink);
    free(w);
}
