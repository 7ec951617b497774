/*
 * http.c -- a small HTTP server on libmicrohttpd, a thread per connection.
 *
 * Only GET (and HEAD) is served; anything else is 405, unknown paths 404.
 * Bodies are rendered per request into an open_memstream buffer, so a
 * renderer writes with plain stdio and the server frees the buffer after
 * sending. The page's files are served from the table compiled into the
 * binary, with their ETag: a browser revalidates each time (no-cache) and
 * gets a 304 while the binary is the same, so a new gateway never leaves an
 * old page in a cache.
 */
#include "http.h"

#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "err.h"

/* Scripts, styles, images and connections from the gateway only; no inline
 * code, no plug-ins, no framing, no forms posted elsewhere. */
#define HTTP_CSP                                                                                   \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "   \
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "               \
    "frame-ancestors 'none'"

/* Connections at once: the event streams (events.max_clients) and room for the rest;
 * each has a thread and a descriptor, so this stays well under RLIMIT_NOFILE's usual 1024. */
#define HTTP_MAX_CONNECTIONS 512u

/* Bytes of a POST body taken at most (the actions take none). */
#define HTTP_MAX_POST_BYTES 1024u

/* Bytes the kernel may hold for one event stream (it doubles them for its bookkeeping). */
#define HTTP_STREAM_SNDBUF (64 * 1024)

struct gw_http {
    struct MHD_Daemon *daemon;
    struct gw_http_config cfg;
    char *cert_pem, *key_pem; /* copies: MHD reads them while it runs */
    unsigned port;
};

/* The headers every answer carries. */
static void http_secure(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy", HTTP_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result http_queue(struct MHD_Connection *conn, unsigned status,
                                  struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    http_secure(r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                                  char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return http_queue(conn, status, r);
}

static enum MHD_Result http_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);
    return body ? http_reply(conn, status, "text/plain; charset=utf-8", body, strlen(body))
                : MHD_NO;
}

/* Serves a file of the page; 304 when the browser's copy is current. */
static enum MHD_Result http_asset(struct MHD_Connection *conn, const struct gw_http_asset *a)
{
    const char *match =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int fresh = match && (strstr(match, a->etag) || strcmp(match, "*") == 0);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        fresh ? 0 : a->len, fresh ? NULL : (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    if (!fresh)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return http_queue(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}

/* One open stream: what the content callbacks get. */
struct http_call {
    const struct gw_http_stream *ops;
    void *stream;
};

static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_call *call = cls;
    (void)pos;
    long n = call->ops->read(call->stream, buf, max);
    return n > 0    ? (ssize_t)n
           : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                    : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void http_stream_free(void *cls)
{
    struct http_call *call = cls;
    call->ops->close(call->stream);
    free(call);
}

/* Opens a stream and answers with it, or with open()'s error. */
static enum MHD_Result http_stream(struct gw_http *h, struct MHD_Connection *conn,
                                   const struct gw_http_stream *st)
{
    char msg[200] = "";
    void *stream = NULL;
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    int rc = st->open(h->cfg.ctx, last, &stream, msg, sizeof msg);
    if (rc != 0) {
        char *body = NULL;
        size_t cap = strlen(msg) + 2;
        if (rc < 400 || rc > 599 || !(body = malloc(cap)))
            return http_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "stream failed\n");
        snprintf(body, cap, "%s\n", msg);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(body);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        if (rc == MHD_HTTP_SERVICE_UNAVAILABLE)
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
        return http_queue(conn, (unsigned)rc, r);
    }
    /* A stream's kernel send buffer is kept small, so that a client that stops reading
     * shows as lag behind the ring soon, instead of megabytes later. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int sndbuf = HTTP_STREAM_SNDBUF;
    if (ci)
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct http_call *call = malloc(sizeof *call);
    if (!call) {
        st->close(stream);
        return MHD_NO;
    }
    *call = (struct http_call){st, stream};
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, http_stream_read, call, http_stream_free);
    if (!r) {
        http_stream_free(call);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: pass each event on at once */
    return http_queue(conn, MHD_HTTP_OK, r);
}

/* The action whose prefix and suffix url has around a non-empty name, and where the name starts. */
static const struct gw_http_action *http_action(const struct gw_http *h, const char *url,
                                                size_t *name_off, size_t *name_len)
{
    size_t n = strlen(url);
    for (size_t i = 0; i < h->cfg.n_actions; i++) {
        const struct gw_http_action *a = &h->cfg.actions[i];
        size_t p = strlen(a->prefix), s = strlen(a->suffix);
        if (n > p + s && strncmp(url, a->prefix, p) == 0 && strcmp(url + n - s, a->suffix) == 0) {
            *name_off = p;
            *name_len = n - p - s;
            return a;
        }
    }
    return NULL;
}

/* Whether the request's Origin, when it has one, is this server (scheme://Host). */
static int http_same_origin(struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *sep = origin ? strstr(origin, "://") : NULL;
    if (!origin)
        return 1; /* not a browser's cross-site request: browsers send Origin with every POST */
    return sep && host && strcmp(sep + 3, host) == 0;
}

/* A POST of an action: bodies are read and dropped (no action takes one); answered at the end. */
static enum MHD_Result http_post(struct gw_http *h, struct MHD_Connection *conn,
                                 const struct gw_http_action *a, const char *url, size_t name_off,
                                 size_t name_len, size_t *upload_data_size, void **req_cls)
{
    if (!*req_cls) {
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        *req_cls = h;
        if (length && strtoull(length, NULL, 10) > HTTP_MAX_POST_BYTES)
            return http_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body over 1 KiB\n");
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!http_same_origin(conn))
        return http_text(conn, MHD_HTTP_FORBIDDEN, "cross-origin request refused\n");
    char name[512], *body = NULL;
    size_t len = 0;
    if (name_len >= sizeof name)
        return http_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    memcpy(name, url + name_off, name_len);
    name[name_len] = '\0';
    FILE *out = open_memstream(&body, &len);
    if (!out)
        return MHD_NO;
    int status = a->post(
        h->cfg.ctx, name,
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), out);
    if (fclose(out) != 0 || status < 200 || status > 599) {
        free(body);
        return http_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "action failed\n");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"citygate\"");
    return http_queue(conn, (unsigned)status, r);
}

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
    struct gw_http *h = cls;
    size_t name_off = 0, name_len = 0;
    const struct gw_http_action *action = http_action(h, url, &name_off, &name_len);
    int post = strcmp(method, "POST") == 0;
    (void)version;
    (void)upload_data;

    if (action && post)
        return http_post(h, conn, action, url, name_off, name_len, upload_data_size, req_cls);
    if (action || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
        const char *text = action ? "only POST\n" : "only GET\n";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, action ? "POST" : "GET, HEAD");
        return http_queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    }
    for (size_t i = 0; i < h->cfg.n_routes; i++) {
        const struct gw_http_route *route = &h->cfg.routes[i];
        char *body = NULL;
        size_t len = 0;
        if (strcmp(url, route->path) != 0)
            continue;
        FILE *out = open_memstream(&body, &len);
        if (!out)
            return MHD_NO;
        int rc = route->render(h->cfg.ctx, out);
        if (fclose(out) != 0 || (rc != 0 && (rc < 400 || rc > 599))) {
            free(body);
            return http_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "render failed\n");
        }
        return http_reply(conn, rc ? (unsigned)rc : MHD_HTTP_OK, route->content_type, body, len);
    }
    for (size_t i = 0; i < h->cfg.n_streams; i++)
        if (strcmp(url, h->cfg.streams[i].path) == 0)
            return http_stream(h, conn, &h->cfg.streams[i]);
    const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
    for (size_t i = 0; i < h->cfg.n_assets; i++)
        if (strcmp(path, h->cfg.assets[i].path) == 0)
            return http_asset(conn, &h->cfg.assets[i]);
    return http_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

int gw_http_new(const struct gw_http_config *cfg, struct gw_http **out, char *err, size_t err_len)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    struct gw_http *h;
    int tls = cfg->cert_pem || cfg->key_pem;

    if (gw_config_parse_listen(cfg->listen, &addr, &addr_len) != 0) {
        snprintf(err, err_len, "http listen \"%s\" is not host:port", cfg->listen);
        return GW_ECONFIG;
    }
    if (tls && (!cfg->cert_pem || !cfg->key_pem)) {
        snprintf(err, err_len, "https needs both a certificate and its key");
        return GW_ECONFIG;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, err_len, "this libmicrohttpd has no TLS");
        return GW_EIO;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return GW_ENOMEM;
    }
    h->cfg = *cfg;
    if (tls && (!(h->cert_pem = strdup(cfg->cert_pem)) || !(h->key_pem = strdup(cfg->key_pem)))) {
        snprintf(err, err_len, "out of memory");
        gw_http_free(h);
        return GW_ENOMEM;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    /* Without TLS the key options are skipped: MHD_OPTION_END ends the list there. */
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_handle, h, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                                 HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->cert_pem,
                                 MHD_OPTION_HTTPS_MEM_KEY, h->key_pem, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, err_len, "cannot listen on %s%s", cfg->listen,
                 tls ? " (or the certificate and key were refused)" : "");
        gw_http_free(h);
        return GW_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    (void)addr_len;
    *out = h;
    return 0;
}

unsigned gw_http_port(const struct gw_http *h)
{
    return h->port;
}

void gw_http_free(struct gw_http *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    free(h->cert_pem);
    free(h->key_pem);
    free(h);
}
