/*
 * receiver.c -- the webhook tests' HTTP receiver (receiver.h).
 */
#include "receiver.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cu.h"

static struct {
    struct MHD_Daemon *daemon;
    char url[64];
    unsigned script[16];
    size_t n_script, next_script;
    int hold;
    size_t n_requests;
    int bad_request;
    char *seen[CU_RX_MAX_SEEN];
} rx;
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rx_changed = PTHREAD_COND_INITIALIZER; /* a request came, or hold cleared */

struct upload {
    char buf[4096];
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
        size_t room = sizeof up->buf - 1 - up->len;
        size_t take = *data_size < room ? *data_size : room;
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
    if (rx.n_requests < CU_RX_MAX_SEEN)
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

/* Called with the lock held. */
static void rx_forget(void)
{
    for (size_t i = 0; i < rx.n_requests && i < CU_RX_MAX_SEEN; i++) {
        free(rx.seen[i]);
        rx.seen[i] = NULL;
    }
    rx.n_requests = 0;
}

void cu_rx_start(const unsigned *script)
{
    pthread_mutex_lock(&rx_lock);
    rx_forget();
    rx.bad_request = 0;
    rx.hold = 0;
    rx.n_script = rx.next_script = 0;
    while (script && script[rx.n_script] && rx.n_script < sizeof rx.script / sizeof rx.script[0]) {
        rx.script[rx.n_script] = script[rx.n_script];
        rx.n_script++;
    }
    pthread_mutex_unlock(&rx_lock);
    rx.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, rx_answer, NULL, MHD_OPTION_NOTIFY_COMPLETED, rx_done, NULL, MHD_OPTION_END);
    CU_ASSERT_FATAL(rx.daemon != NULL);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
    CU_ASSERT_FATAL(info != NULL && info->port != 0);
    snprintf(rx.url, sizeof rx.url, "http://127.0.0.1:%u/hook", (unsigned)info->port);
}

void cu_rx_stop(void)
{
    cu_rx_hold(0);
    if (rx.daemon)
        MHD_stop_daemon(rx.daemon);
    rx.daemon = NULL;
}

const char *cu_rx_url(void)
{
    return rx.url;
}

void cu_rx_hold(int on)
{
    pthread_mutex_lock(&rx_lock);
    rx.hold = on;
    pthread_cond_broadcast(&rx_changed);
    pthread_mutex_unlock(&rx_lock);
}

int cu_rx_wait(size_t n, unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&rx_lock);
    while (rx.n_requests < n && pthread_cond_timedwait(&rx_changed, &rx_lock, &until) == 0)
        ;
    int rc = rx.n_requests >= n ? 0 : -1;
    pthread_mutex_unlock(&rx_lock);
    return rc;
}

size_t cu_rx_count(int *bad_requests)
{
    pthread_mutex_lock(&rx_lock);
    size_t n = rx.n_requests;
    if (bad_requests)
        *bad_requests = rx.bad_request;
    pthread_mutex_unlock(&rx_lock);
    return n;
}

const char *cu_rx_body(size_t i)
{
    pthread_mutex_lock(&rx_lock);
    const char *body = i < rx.n_requests && i < CU_RX_MAX_SEEN && rx.seen[i] ? rx.seen[i] : "";
    pthread_mutex_unlock(&rx_lock);
    return body;
}
