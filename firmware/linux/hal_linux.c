/*
 * hal_linux.c -- the node HAL on Linux.
 *
 * The ring lives in one file of fixed size, preallocated when created, and
 * is written with pwrite at the offsets the ring asks for; a SIGKILL loses
 * nothing the ring wrote (the page cache survives the process), a power loss
 * loses what was written since the last sync, which the node issues at most
 * every sync_interval (docs/firmware.md). The log writes one line per event
 * to stderr and folds identical repeats, so that a sensor failing every
 * second does not flood the journal.
 */
#include "hal_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPEAT_WINDOW_MS 10000

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t hal_linux_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

static uint64_t h_now(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_MONOTONIC);
}

static uint64_t h_wall(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_REALTIME);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_last[256];
static uint64_t log_last_ms;
static unsigned long log_repeats;

static void log_line(enum node_log_level level, const char *line)
{
    static const char *const names[] = {"error", "warn", "info"};
    uint64_t now = hal_linux_now_ms();
    pthread_mutex_lock(&log_lock);
    if (strcmp(line, log_last) == 0 && now - log_last_ms < REPEAT_WINDOW_MS) {
        log_repeats++;
        pthread_mutex_unlock(&log_lock);
        return;
    }
    if (log_repeats > 0)
        fprintf(stderr, "citynode: (last message repeated %lu more times)\n", log_repeats);
    fprintf(stderr, "citynode: %s: %s\n", names[level], line);
    snprintf(log_last, sizeof log_last, "%s", line);
    log_last_ms = now;
    log_repeats = 0;
    pthread_mutex_unlock(&log_lock);
}

void hal_linux_logf(enum node_log_level level, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_line(level, line);
}

static void h_log(void *ctx, enum node_log_level level, const char *line)
{
    (void)ctx;
    log_line(level, line);
}

static void h_reboot(void *ctx)
{
    ((struct hal_linux *)ctx)->reboot_requested = 1;
}

/* ---- randomness and the ring file ---- */

enum io_op { IO_READ, IO_WRITE, IO_RANDOM };

/* Transfers all len bytes (pread or pwrite at off, or getrandom), retrying short ones and EINTR. */
static int full_io(enum io_op op, int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        char *p = (char *)buf + done;
        off_t at = (off_t)(off + done);
        ssize_t n = op == IO_WRITE  ? pwrite(fd, p, len - done, at)
                    : op == IO_READ ? pread(fd, p, len - done, at)
                                    : getrandom(p, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -NODE_EIO;
        done += (size_t)n;
    }
    return 0;
}

static int h_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    return full_io(IO_RANDOM, -1, buf, len, 0);
}

const struct node_hal_ops hal_linux_ops = {h_now, h_wall, h_random, h_log, h_reboot};

static int f_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    return full_io(IO_READ, *(int *)ctx, buf, len, off);
}

static int f_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
    return full_io(IO_WRITE, *(int *)ctx, (void *)buf, len, off);
}

static int f_sync(void *ctx)
{
    return fdatasync(*(int *)ctx) == 0 ? 0 : -NODE_EIO;
}

static const struct node_storage_ops file_ops = {f_read, f_write, f_sync};

int hal_linux_storage_open(const char *path, uint64_t size_bytes, struct node_storage *st,
                           char *err, size_t cap)
{
    struct stat sb;
    int rc = -1;
    int *fdp = malloc(sizeof *fdp);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (!fdp || fd < 0) {
        snprintf(err, cap, "%s: %s", path, strerror(fdp ? errno : ENOMEM));
        goto out;
    }
    if (fstat(fd, &sb) != 0) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (sb.st_size == 0) {
        int e = posix_fallocate(fd, 0, (off_t)size_bytes);
        if (e != 0) {
            snprintf(err, cap, "%s: cannot allocate %llu bytes: %s", path,
                     (unsigned long long)size_bytes, strerror(e));
            goto out;
        }
    } else if ((uint64_t)sb.st_size != size_bytes) {
        snprintf(err, cap,
                 "%s is %lld bytes, ring_bytes says %llu: move the file aside or fix ring_bytes",
                 path, (long long)sb.st_size, (unsigned long long)size_bytes);
        goto out;
    }
    *fdp = fd;
    st->ops = &file_ops;
    st->ctx = fdp;
    st->size_bytes = size_bytes;
    fd = -1;
    fdp = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(fdp);
    return rc;
}

void hal_linux_storage_close(struct node_storage *st)
{
    if (!st->ctx)
        return;
    int *fdp = st->ctx;
    fdatasync(*fdp);
    close(*fdp);
    free(fdp);
    st->ctx = NULL;
}
