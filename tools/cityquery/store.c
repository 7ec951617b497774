/*
 * store.c -- InfluxQL over HTTP with libcurl (see store.h).
 *
 * Requests are GETs of /query?db=...&epoch=ms&q=..., so timestamps come
 * back as integer milliseconds, the gateway's own unit. The JSON shape is
 * the one documented for InfluxDB 1.x's /query and kept by 2.x's
 * compatibility API: {"results":[{"statement_id":0,"series":[{"name",
 * "tags","columns","values"}], "error"?, "partial"?}], "error"?}.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "answer.h"
#include "cli.h"
#include "err.h"

struct cq_store {
    const struct cq_store_config *cfg;
    CURL *curl;
    struct cq_store_stats stats;
};

int cq_store_new(const struct cq_store_config *cfg, struct cq_store **out)
{
    struct cq_store *s = calloc(1, sizeof *s);
    if (!s)
        return GW_ENOMEM;
    s->cfg = cfg;
    s->curl = curl_easy_init();
    if (!s->curl) {
        free(s);
        return GW_ENOMEM;
    }
    *out = s;
    return 0;
}

void cq_store_free(struct cq_store *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    free(s);
}

void cq_store_stats(const struct cq_store *s, struct cq_store_stats *out)
{
    *out = s->stats;
}

int cq_store_quote(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap)
        return GW_EFULL;
    buf[n++] = '\'';
    for (; *text; text++) {
        if (n + 3 >= cap)
            return GW_EFULL;
        if (*text == '\'' || *text == '\\')
            buf[n++] = '\\';
        buf[n++] = *text;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return 0;
}

void cq_store_from(const struct cq_store *s, const char *label, const char *measurement, char *buf,
                   size_t cap)
{
    if (s->cfg->v2)
        snprintf(buf, cap, "\"%s\"", measurement);
    else
        snprintf(buf, cap, "\"rp_%s\".\"%s\"", label, measurement);
}

int cq_store_query(struct cq_store *s, const char *influxql, json_t **out, char *why,
                   size_t why_len)
{
    const struct cq_store_config *cfg = s->cfg;
    struct cli_body b = {.max = CQ_STORE_MAX_BODY};
    struct curl_slist *headers = NULL;
    char *q = NULL, *db = NULL, *url = NULL, auth[512];
    long status = 0;
    int rc = GW_EIO;
    json_t *root = NULL;
    json_error_t jerr;

    q = curl_easy_escape(s->curl, influxql, 0);
    db = curl_easy_escape(s->curl, cfg->database, 0);
    size_t url_len = strlen(cfg->url) + (q ? strlen(q) : 0) + (db ? strlen(db) : 0) + 64;
    url = malloc(url_len);
    if (!q || !db || !url) {
        rc = GW_ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    snprintf(url, url_len, "%s/query?db=%s&epoch=ms&q=%s", cfg->url, db, q);
    curl_easy_reset(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, cli_body_append);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(s->curl, CURLOPT_ACCEPT_ENCODING, "");
    if (cfg->v2 && cfg->token) {
        snprintf(auth, sizeof auth, "Authorization: Token %s", cfg->token);
        headers = curl_slist_append(headers, auth);
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
    } else if (cfg->username) {
        curl_easy_setopt(s->curl, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(s->curl, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }
    CURLcode cc = curl_easy_perform(s->curl);
    s->stats.queries++;
    s->stats.bytes += b.len;
    if (b.too_big) {
        rc = GW_EINVAL;
        snprintf(why, why_len, "the store's answer is larger than %u MiB: ask for a shorter period",
                 CQ_STORE_MAX_BODY >> 20);
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(why, why_len, "the store at %s cannot be reached: %s", cfg->url,
                 curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    rc = GW_EINVAL;
    root = b.data ? json_loadb(b.data, b.len, 0, &jerr) : NULL;
    if (status != 200) {
        const char *err = json_string_value(json_object_get(root, "error"));
        snprintf(why, why_len, "the store answered HTTP %ld%s%s", status, err ? ": " : "",
                 err ? err : "");
        if (status >= 500)
            rc = GW_EIO;
        goto out;
    }
    if (!root) {
        snprintf(why, why_len, "the store's answer is not JSON");
        goto out;
    }
    rc = cq_answer_check(root, out, why, why_len);
out:
    json_decref(root);
    curl_slist_free_all(headers);
    curl_free(q);
    curl_free(db);
    free(url);
    free(b.data);
    return rc;
}
