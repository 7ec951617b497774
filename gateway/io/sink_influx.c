/*
 * sink_influx.c -- the InfluxDB HTTP write adapters, v1 (/write, db and
 * retention policy) and v2 (/api/v2/write, org, bucket and token), through
 * libcurl. They differ only in the URL and the authentication, so one file
 * holds both. Bodies are gzipped with zlib when configured. The adapter maps
 * HTTP outcomes to what the engine does next: 2xx written; 400 rejected
 * (dead letter, with the store's message); 413 too large (split); 401/403,
 * 404 (missing database), 5xx, timeouts and refused connections retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <zlib.h>

#include "err.h"
#include "sink.h"

struct influx {
    const struct gw_sink_config *cfg;
    int v2;
    CURL *curl;
    struct curl_slist *headers;
    char *zbuf; /* gzip output, grown as needed */
    size_t zcap;
    char reply[512];
    size_t reply_len;
};

static size_t influx_collect(char *p, size_t size, size_t n, void *ctx)
{
    struct influx *in = ctx;
    size_t take = size * n, room = sizeof in->reply - 1 - in->reply_len;
    memcpy(in->reply + in->reply_len, p, take < room ? take : room);
    in->reply_len += take < room ? take : room;
    in->reply[in->reply_len] = '\0';
    return size * n;
}

static int influx_open(const struct gw_sink_config *cfg, void **state, char *err, size_t err_len,
                       int v2)
{
    struct influx *in = calloc(1, sizeof *in);
    char auth[600];

    if (!in || !(in->curl = curl_easy_init())) {
        free(in);
        snprintf(err, err_len, "cannot create an HTTP client");
        return GW_ENOMEM;
    }
    in->cfg = cfg;
    in->v2 = v2;
    if (v2 && (!cfg->org || !cfg->bucket)) {
        curl_easy_cleanup(in->curl);
        free(in);
        snprintf(err, err_len, "store api influx-v2 needs org and bucket");
        return GW_ECONFIG;
    }
    in->headers = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    if (cfg->gzip)
        in->headers = curl_slist_append(in->headers, "Content-Encoding: gzip");
    if (v2 && cfg->token) {
        snprintf(auth, sizeof auth, "Authorization: Token %s", cfg->token);
        in->headers = curl_slist_append(in->headers, auth);
    }
    curl_easy_setopt(in->curl, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(in->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(in->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(in->curl, CURLOPT_WRITEFUNCTION, influx_collect);
    curl_easy_setopt(in->curl, CURLOPT_WRITEDATA, in);
    if (!v2 && cfg->username) {
        curl_easy_setopt(in->curl, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(in->curl, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }
    *state = in;
    return 0;
}

static int influx_open_v1(const struct gw_sink_config *cfg, void **state, char *err, size_t err_len)
{
    return influx_open(cfg, state, err, err_len, 0);
}

static int influx_open_v2(const struct gw_sink_config *cfg, void **state, char *err, size_t err_len)
{
    return influx_open(cfg, state, err, err_len, 1);
}

static void influx_close(void *state)
{
    struct influx *in = state;
    curl_slist_free_all(in->headers);
    curl_easy_cleanup(in->curl);
    free(in->zbuf);
    free(in);
}

/* gzips len bytes into in->zbuf; returns the compressed length or 0 on failure. */
static size_t influx_gzip(struct influx *in, const char *data, size_t len)
{
    z_stream z = {0};
    size_t bound = compressBound((uLong)len) + 32;
    if (bound > in->zcap) {
        char *grown = realloc(in->zbuf, bound);
        if (!grown)
            return 0;
        in->zbuf = grown;
        in->zcap = bound;
    }
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)in->zbuf;
    z.avail_out = (uInt)in->zcap;
    int rc = deflate(&z, Z_FINISH);
    size_t out = z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? out : 0;
}

/* The class of a transfer that got no HTTP answer. */
static enum gw_sink_class influx_curl_class(CURLcode rc)
{
    return rc == CURLE_OPERATION_TIMEDOUT ? GW_SINK_E_TIMEOUT : GW_SINK_E_CONNECT;
}

/* POSTs body to url; maps the outcome. reply gets the class and the store's
 * reply or curl's error. */
static enum gw_sink_result influx_post(struct influx *in, const char *url, const char *body,
                                       size_t len, struct curl_slist *headers,
                                       struct gw_sink_reply *reply)
{
    long status = 0;
    in->reply_len = 0;
    in->reply[0] = '\0';
    curl_easy_setopt(in->curl, CURLOPT_URL, url);
    curl_easy_setopt(in->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(in->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(in->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(in->curl);
    if (rc != CURLE_OK) {
        reply->cls = influx_curl_class(rc);
        snprintf(reply->msg, sizeof reply->msg, "%s", curl_easy_strerror(rc));
        return GW_SINK_RETRY;
    }
    curl_easy_getinfo(in->curl, CURLINFO_RESPONSE_CODE, &status);
    reply->cls = status >= 400 && status < 500 ? GW_SINK_E_4XX : GW_SINK_E_5XX;
    snprintf(reply->msg, sizeof reply->msg, "HTTP %ld: %s", status, in->reply);
    if (status >= 200 && status < 300)
        return GW_SINK_OK;
    if (status == 400)
        return GW_SINK_REJECTED;
    if (status == 413)
        return GW_SINK_TOO_LARGE;
    return GW_SINK_RETRY;
}

static enum gw_sink_result influx_write(void *state, const char *rp, const char *lines, size_t len,
                                        struct gw_sink_reply *reply)
{
    struct influx *in = state;
    const struct gw_sink_config *cfg = in->cfg;
    char url[1024];
    char *a = NULL, *b = NULL;

    if (in->v2) {
        a = curl_easy_escape(in->curl, cfg->org, 0);
        b = curl_easy_escape(in->curl, cfg->bucket, 0);
        snprintf(url, sizeof url, "%s/api/v2/write?org=%s&bucket=%s&precision=ms", cfg->url, a, b);
    } else {
        a = curl_easy_escape(in->curl, cfg->database, 0);
        b = rp ? curl_easy_escape(in->curl, rp, 0) : NULL;
        snprintf(url, sizeof url, "%s/write?db=%s%s%s&precision=ms", cfg->url, a, b ? "&rp=" : "",
                 b ? b : "");
    }
    curl_free(a);
    curl_free(b);
    if (cfg->gzip) {
        size_t zlen = influx_gzip(in, lines, len);
        if (zlen == 0) {
            reply->cls = GW_SINK_E_CONNECT; /* nothing was sent */
            snprintf(reply->msg, sizeof reply->msg, "gzip failed (out of memory)");
            return GW_SINK_RETRY;
        }
        return influx_post(in, url, in->zbuf, zlen, in->headers, reply);
    }
    return influx_post(in, url, lines, len, in->headers, reply);
}

/* Runs one InfluxQL statement through /query (v1). */
static enum gw_sink_result influx_query(struct influx *in, const char *q,
                                        struct gw_sink_reply *reply)
{
    char url[512], body[4096];
    char *escaped = curl_easy_escape(in->curl, q, 0);
    struct curl_slist *form =
        curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");

    snprintf(url, sizeof url, "%s/query", in->cfg->url);
    snprintf(body, sizeof body, "q=%s", escaped);
    curl_free(escaped);
    enum gw_sink_result r = influx_post(in, url, body, strlen(body), form, reply);
    curl_slist_free_all(form);
    if (r == GW_SINK_OK && strstr(in->reply, "\"error\"")) {
        reply->cls = GW_SINK_E_4XX;
        snprintf(reply->msg, sizeof reply->msg, "%s: %s", q, in->reply);
        return GW_SINK_REJECTED;
    }
    return r;
}

/*
 * v1: CREATE DATABASE and each retention policy (both are no-ops when they
 * exist with the same settings). A policy that exists with other settings is
 * ALTERed, so the configuration stays the source of truth.
 */
static enum gw_sink_result influx_prepare_v1(void *state, struct gw_sink_reply *reply)
{
    struct influx *in = state;
    const struct gw_sink_config *cfg = in->cfg;
    char q[1280], spec[512];
    enum gw_sink_result r;

    snprintf(q, sizeof q, "CREATE DATABASE \"%s\"", cfg->database);
    if ((r = influx_query(in, q, reply)) != GW_SINK_OK)
        return r;
    snprintf(spec, sizeof spec, "%s", cfg->retention_policies ? cfg->retention_policies : "");
    for (char *p = spec; *p;) {
        char *item = p, *eq;
        p += strcspn(p, ",");
        if (*p)
            *p++ = '\0';
        if (!(eq = strchr(item, '=')))
            continue;
        *eq = '\0';
        snprintf(q, sizeof q, "CREATE RETENTION POLICY \"%s\" ON \"%s\" DURATION %s REPLICATION 1",
                 item, cfg->database, eq + 1);
        r = influx_query(in, q, reply);
        if (r == GW_SINK_REJECTED) {
            snprintf(q, sizeof q, "ALTER RETENTION POLICY \"%s\" ON \"%s\" DURATION %s", item,
                     cfg->database, eq + 1);
            r = influx_query(in, q, reply);
        }
        if (r != GW_SINK_OK)
            return r;
    }
    return GW_SINK_OK;
}

/* v2: buckets are the operator's; nothing to create. */
static enum gw_sink_result influx_prepare_v2(void *state, struct gw_sink_reply *reply)
{
    (void)state;
    (void)reply;
    return GW_SINK_OK;
}

const struct gw_sink_ops gw_sink_influx_v1 = {.open = influx_open_v1,
                                              .prepare = influx_prepare_v1,
                                              .write = influx_write,
                                              .close = influx_close};
const struct gw_sink_ops gw_sink_influx_v2 = {.open = influx_open_v2,
                                              .prepare = influx_prepare_v2,
                                              .write = influx_write,
                                              .close = influx_close};
