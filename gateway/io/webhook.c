/*
 * webhook.c -- a queue of JSON bodies and one thread that POSTs them.
 */
#include "webhook.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backoff.h"
#include "err.h"

struct hook_item {
    char *body;
    size_t len;
    struct hook_item *next;
};

struct gw_webhook {
    struct gw_webhook_config cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct hook_item *head, *tail;
    int stop;
    unsigned seed;
    struct gw_webhook_stats stats;
};

static size_t hook_discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* One attempt: 0 delivered, 1 retry, -1 refused for good. */
static int hook_send(struct gw_webhook *w, CURL *c, const struct hook_item *it)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, w->cfg.url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_discard);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (rc == CURLE_OK && status >= 200 && status < 300)
        return 0;
    if (rc == CURLE_OK && status >= 400 && status < 500 && status != 408 && status != 429)
        return -1;
    return 1;
}

static void *hook_main(void *arg)
{
    struct gw_webhook *w = arg;
    CURL *c = curl_easy_init();

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct hook_item *it = w->head;
        if (!it) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        pthread_mutex_unlock(&w->lock);
        int outcome = 1;
        for (unsigned attempt = 0; c && outcome > 0 && attempt < w->cfg.max_attempts; attempt++) {
            outcome = hook_send(w, c, it);
            if (outcome <= 0)
                break;
            pthread_mutex_lock(&w->lock);
            w->stats.retries++;
            struct timespec until = gw_deadline_in(
                gw_backoff_ms(attempt, w->cfg.retry_min_ms, w->cfg.retry_max_ms, &w->seed));
            while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
                ;
            int stopping = w->stop;
            pthread_mutex_unlock(&w->lock);
            if (stopping)
                break;
        }
        pthread_mutex_lock(&w->lock);
        if (outcome == 0)
            w->stats.delivered++;
        else if (outcome < 0)
            w->stats.refused++;
        else
            w->stats.failed++;
        if (w->head == it) { /* not dropped for space meanwhile */
            w->head = it->next;
            if (!w->head)
                w->tail = NULL;
            w->stats.queued--;
            free(it->body);
            free(it);
        }
    }
    pthread_mutex_unlock(&w->lock);
    curl_easy_cleanup(c);
    return NULL;
}

int gw_webhook_new(const struct gw_webhook_config *cfg, struct gw_webhook **out)
{
    pthread_condattr_t attr;
    struct gw_webhook *w = calloc(1, sizeof *w);
    if (!w)
        return GW_ENOMEM;
    w->cfg = *cfg;
    w->seed = (unsigned)gw_mono_ms();
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&w->thread, NULL, hook_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return GW_ENOMEM;
    }
    *out = w;
    return 0;
}

int gw_webhook_post(struct gw_webhook *w, const char *json, size_t len)
{
    struct hook_item *it = malloc(sizeof *it);
    char *body = malloc(len + 1);
    if (!it || !body) {
        free(it);
        free(body);
        return GW_ENOMEM;
    }
    memcpy(body, json, len);
    body[len] = '\0';
    *it = (struct hook_item){body, len, NULL};
    pthread_mutex_lock(&w->lock);
    /* Full: drop the oldest that is not being sent (the head may be in flight). */
    if (w->stats.queued >= w->cfg.max_queue && w->head && w->head->next) {
        struct hook_item *old = w->head->next;
        w->head->next = old->next;
        if (w->tail == old)
            w->tail = w->head;
        free(old->body);
        free(old);
        w->stats.queued--;
        w->stats.dropped++;
    }
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->stats.queued++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void gw_webhook_stats(struct gw_webhook *w, struct gw_webhook_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
}

void gw_webhook_free(struct gw_webhook *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->head) {
        struct hook_item *it = w->head;
        w->head = it->next;
        free(it->body);
        free(it);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
