/*
 * log.c -- one line per event with time, level and event name, rate-limited
 * per kind (log.h).
 *
 * The rate limiter keeps the last print time and the count of folded repeats
 * for up to LOG_KINDS kinds (event, kind); past that, the kind printed longest
 * ago gives its slot up, so the table never refuses a new kind. A mutex keeps
 * lines whole and the table consistent across the MQTT, HTTP, store and main
 * threads.
 */
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "escape.h"

#define LOG_KINDS 64

struct log_kind {
    const char *event; /* NULL: free slot */
    char kind[32];
    uint64_t last_ms, folded;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_kind kinds[LOG_KINDS];

static uint64_t log_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void gw_log_time(uint64_t wall_ms, char out[25])
{
    time_t s = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 25, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 25 - n, ".%03uZ", (unsigned)(wall_ms % 1000));
}

/* Called with the lock held: the slot of (event, kind), taken over from the
 * least recently printed kind when it is new and the table is full. */
static struct log_kind *log_slot(const char *event, const char *kind)
{
    struct log_kind *oldest = &kinds[0];
    for (size_t i = 0; i < LOG_KINDS; i++) {
        struct log_kind *k = &kinds[i];
        if (!k->event) {
            oldest = k;
            break;
        }
        if (strcmp(k->event, event) == 0 && strcmp(k->kind, kind) == 0)
            return k;
        if (k->last_ms < oldest->last_ms)
            oldest = k;
    }
    oldest->event = event;
    snprintf(oldest->kind, sizeof oldest->kind, "%s", kind);
    oldest->last_ms = 0;
    oldest->folded = 0;
    return oldest;
}

void gw_log(enum gw_log_level level, const char *event, const char *kind, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info"};
    uint64_t now = log_wall_ms();
    char when[25], raw[1024], text[1024];
    va_list ap;

    pthread_mutex_lock(&log_lock);
    struct log_kind *k = log_slot(event, kind ? kind : "");
    if (k->last_ms && now - k->last_ms < GW_LOG_REPEAT_MS) {
        k->folded++;
        pthread_mutex_unlock(&log_lock);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Nothing a message quotes (a topic, a device's string, a store's reply) can forge a line. */
    gw_escape(raw, strlen(raw), text, sizeof text);
    gw_log_time(now, when);
    if (k->folded)
        fprintf(stderr, "%s %s %s: %s (and %" PRIu64 " more like it since the last)\n", when,
                names[level], event, text, k->folded);
    else
        fprintf(stderr, "%s %s %s: %s\n", when, names[level], event, text);
    fflush(stderr);
    k->last_ms = now;
    k->folded = 0;
    pthread_mutex_unlock(&log_lock);
}
