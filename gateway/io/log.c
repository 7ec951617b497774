/*
 * log.c -- one line per event with time, level and event name, rate-limited
 * per kind (log.h).
 *
 * The rate limiter keeps the last print time and the count of folded repeats
 * for up to LOG_KINDS kinds (event, kind); past that, the kind printed longest
 * ago gives its slot up, so the table never refuses a new kind. A mutex keeps
 * lines whole and the table consistent across the MQTT, HTTP, store and main
 * threads.
 *
 * Under systemd, when stderr is the journal's stream (JOURNAL_STREAM names
 * its device and inode, systemd.exec(5)), each line starts with its syslog
 * priority instead of the time ("<4>warn store_write_failed: ..."): the
 * prefix of sd-daemon(3) that journald turns into PRIORITY, so that
 * `journalctl -p warning` selects by level, and the journal stamps each entry
 * itself. That is the protocol systemd documents for services writing to
 * stderr; it keeps the text of a line the same in both places, needs no
 * socket of its own and cannot lose lines the native protocol could refuse.
 * With stderr anywhere else (a file, a terminal, another supervisor, or the
 * variable merely inherited) lines keep the time.
 */
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "backoff.h"
#include "escape.h"

#define LOG_KINDS 64

struct log_kind {
    const char *event; /* NULL: free slot */
    char kind[32];
    uint64_t last_ms, folded;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_kind kinds[LOG_KINDS];
static int to_journal = -1; /* -1: not looked at yet */

/* 1 when stderr is the stream JOURNAL_STREAM ("DEVICE:INODE") names. */
static int log_stderr_is_journal(void)
{
    const char *v = getenv("JOURNAL_STREAM");
    struct stat st;
    char *end;
    if (!v || fstat(2, &st) != 0)
        return 0;
    unsigned long long dev = strtoull(v, &end, 10);
    if (end == v || *end != ':')
        return 0;
    const char *ino_text = end + 1;
    unsigned long long ino = strtoull(ino_text, &end, 10);
    return end != ino_text && *end == '\0' && dev == (unsigned long long)st.st_dev &&
           ino == (unsigned long long)st.st_ino;
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
    static const char *const priorities[] = {SD_ERR, SD_WARNING, SD_INFO};
    uint64_t now = gw_wall_ms();
    char when[25], head[32], raw[1024], text[1024];
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
    if (to_journal < 0)
        to_journal = log_stderr_is_journal();
    if (to_journal) {
        snprintf(head, sizeof head, "%s", priorities[level]);
    } else {
        gw_log_time(now, when);
        snprintf(head, sizeof head, "%s ", when);
    }
    if (k->folded)
        fprintf(stderr, "%s%s %s: %s (and %" PRIu64 " more like it since the last)\n", head,
                names[level], event, text, k->folded);
    else
        fprintf(stderr, "%s%s %s: %s\n", head, names[level], event, text);
    fflush(stderr);
    k->last_ms = now;
    k->folded = 0;
    pthread_mutex_unlock(&log_lock);
}
