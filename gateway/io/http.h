/*
 * http.h -- the gateway's HTTP endpoint (libmicrohttpd): /metrics for
 * Prometheus, /api/v1/live for the live snapshot, /healthz and /readyz.
 *
 * Each route renders its whole body into a memory stream on the server's
 * thread; renderers take whatever locks they need themselves.
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

struct gw_http;

/*
 * Listens on listen ("127.0.0.1:9100", "[::1]:9100" or ":9100" for all
 * addresses) and serves routes (borrowed, n entries) with ctx (borrowed).
 * Returns 0 and sets *out (caller frees with gw_http_free()), or a negative
 * enum gw_err with err filled.
 */
int gw_http_new(const char *listen, const struct gw_http_route *routes, size_t n, void *ctx,
                struct gw_http **out, char *err, size_t err_len);

/* The port actually bound (useful with port 0). */
unsigned gw_http_port(const struct gw_http *h);

/* Stops serving and frees. NULL is a no-op. */
void gw_http_free(struct gw_http *h);

#endif
