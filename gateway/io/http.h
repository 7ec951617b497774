/*
 * http.h -- the gateway's HTTP endpoint (libmicrohttpd): /metrics for
 * Prometheus, /api/v1/live for the live snapshot, /healthz and /readyz, and
 * the live page's files, compiled into the binary, at / and /<file>.
 *
 * Each connection has its own thread (libmicrohttpd's thread per
 * connection), so that a stream can wait for its next event without
 * holding up other requests. Each route renders its whole body into a
 * memory stream on the connection's thread; renderers take whatever locks
 * they need themselves. Every answer
 * carries a strict Content-Security-Policy (scripts, styles and connections
 * from the gateway itself only, nothing inline) and X-Content-Type-Options:
 * nosniff, so that an id that reaches the page as text cannot run as code.
 */
#ifndef CITYGATE_GW_HTTP_H
#define CITYGATE_GW_HTTP_H

#include <stddef.h>
#include <stdio.h>

struct gw_http_route {
    const char *path;
    const char *content_type;
    /* Writes the body to out. Returns 0 for a 200, an HTTP status 400 ... 599 to
     * send the body with that status (a 503 from /readyz), anything else for a
     * 500 without the body. */
    int (*render)(void *ctx, FILE *out);
};

/*
 * A streamed answer (Server-Sent Events): open() is called with the
 * request's Last-Event-ID header (NULL when none) and returns 0 with
 * *stream set, or an HTTP status 400 ... 599 with a message for the client
 * in msg; read() is called on the connection's own thread for the next
 * bytes and may wait for them: it returns their count, 0 to end the stream
 * or -1 to cut it; close() ends it.
 */
struct gw_http_stream {
    const char *path;
    int (*open)(void *ctx, const char *last_event_id, void **stream, char *msg, size_t cap);
    long (*read)(void *stream, char *buf, size_t cap);
    void (*close)(void *stream);
};

/*
 * A POST action on prefix<name>suffix ("/api/v1/alerts/" <id> "/ack"):
 * post() gets the name (borrowed) and the request's Authorization header
 * (NULL when none), writes a JSON body to out and returns the HTTP status.
 * The server has already refused a body over 1 KiB (413) and a request whose
 * Origin is not the server itself (403), so a page of another site cannot
 * make a browser post here (with the token it cannot read anyway).
 */
struct gw_http_action {
    const char *prefix, *suffix;
    int (*post)(void *ctx, const char *name, const char *authorization, FILE *out);
};

/* One file of the page, served as it is at path ("/index.html"). */
struct gw_http_asset {
    const char *path;
    const char *content_type;
    const char *etag; /* quoted, as in the ETag header */
    const unsigned char *data;
    size_t len;
};

/* The page's files, generated at build time from gateway/web/ (embed_assets.cmake). */
extern const struct gw_http_asset gw_web_assets[];
extern const size_t gw_web_n_assets;

struct gw_http_config {
    /* "127.0.0.1:9100", "[::1]:9100" or ":9100" for all addresses */
    const char *listen;
    /* PEM certificate (chain) and its private key, NUL-terminated: both for
     * HTTPS, neither for HTTP */
    const char *cert_pem, *key_pem;
    const struct gw_http_route *routes;
    size_t n_routes;
    const struct gw_http_stream *streams;
    size_t n_streams;
    const struct gw_http_action *actions;
    size_t n_actions;
    const struct gw_http_asset *assets; /* "/" serves "/index.html" */
    size_t n_assets;
    void *ctx; /* passed to the routes */
};

struct gw_http;

/*
 * Listens and serves cfg's routes and assets (all borrowed; they must outlive
 * the server). Returns 0 and sets *out (caller frees with gw_http_free()), or
 * a negative enum gw_err with err filled: GW_ECONFIG for a bad address,
 * GW_EIO when TLS or the port cannot be set up.
 */
int gw_http_new(const struct gw_http_config *cfg, struct gw_http **out, char *err, size_t err_len);

/* The port actually bound (useful with port 0). */
unsigned gw_http_port(const struct gw_http *h);

/* Stops serving and frees. NULL is a no-op. */
void gw_http_free(struct gw_http *h);

#endif
