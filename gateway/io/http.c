/*
 * http.c -- a small read-only HTTP server on libmicrohttpd's internal thread.
 *
 * Only GET is served; anything else is 405, unknown paths 404. Bodies are
 * rendered per request into an open_memstream buffer, so a renderer writes
 * with plain stdio and the server frees the buffer after sending.
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

struct gw_http {
    struct MHD_Daemon *daemon;
    const struct gw_http_route *routes;
    size_t n_routes;
    void *ctx;
    unsigned port;
};

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
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result http_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);
    return body ? http_reply(conn, status, "text/plain; charset=utf-8", body, strlen(body))
                : MHD_NO;
}

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
    struct gw_http *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return http_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct gw_http_route *route = &h->routes[i];
        char *body = NULL;
        size_t len = 0;
        if (strcmp(url, route->path) != 0)
            continue;
        FILE *out = open_memstream(&body, &len);
        if (!out)
            return MHD_NO;
        int rc = route->render(h->ctx, out);
        if (fclose(out) != 0 || (rc != 0 && (rc < 400 || rc > 599))) {
            free(body);
            return http_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "render failed\n");
        }
        return http_reply(conn, rc ? (unsigned)rc : MHD_HTTP_OK, route->content_type, body, len);
    }
    return http_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

int gw_http_new(const char *listen, const struct gw_http_route *routes, size_t n, void *ctx,
                struct gw_http **out, char *err, size_t err_len)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    struct gw_http *h;

    if (gw_config_parse_listen(listen, &addr, &addr_len) != 0) {
        snprintf(err, err_len, "http listen \"%s\" is not host:port", listen);
        return GW_ECONFIG;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return GW_ENOMEM;
    }
    h->routes = routes;
    h->n_routes = n;
    h->ctx = ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_handle, h, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, err_len, "cannot listen on %s", listen);
        free(h);
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
    MHD_stop_daemon(h->daemon);
    free(h);
}
