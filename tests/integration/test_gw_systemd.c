/*
 * test_gw_systemd.c -- citygate under systemd, with the test as the service
 * manager: on a notification socket the test owns (NOTIFY_SOCKET) READY=1
 * arrives once /healthz says the broker is connected, WATCHDOG=1 at least
 * every half of WATCHDOG_USEC (as sent: the kernel stamps each datagram, so
 * the test's own wake-ups do not count), RELOADING=1 and READY=1 around a SIGHUP and
 * STOPPING=1 at SIGTERM. With stderr being the stream JOURNAL_STREAM names,
 * log lines start with their sd-daemon priority instead of the time; with
 * the variable inherited but stderr elsewhere, they keep the time.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cu.h"
#include "gwtest.h"

static const char *citygate;

/*
 * A datagram socket bound at path: what systemd listens on for a Type=notify
 * unit. The kernel stamps each datagram as the gateway sends it (SO_TIMESTAMP).
 */
static int notify_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(strlen(path) < sizeof sa.sun_path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT_FATAL(setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on) == 0);
    return fd;
}

/* 1 when the datagram msg holds the line want ("READY=1"). */
static int has_line(const char *msg, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = msg; p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    }
    return 0;
}

/*
 * Reads datagrams until one holds the line want or timeout_ms pass. Returns
 * 1 when it came, with *sent_ms (may be NULL) the wall-clock ms at which the
 * gateway sent it: the kernel's stamp, not the test's reading, which a loaded
 * machine can delay by any amount.
 */
static int wait_notify(int fd, const char *want, int timeout_ms, uint64_t *sent_ms)
{
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(end - gwt_now_ms())) <= 0)
            continue;
        char msg[512], control[CMSG_SPACE(sizeof(struct timeval))];
        struct iovec iov = {msg, sizeof msg - 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control,
                            .msg_controllen = sizeof control};
        ssize_t n = recvmsg(fd, &mh, 0);
        if (n <= 0)
            continue;
        msg[n] = '\0';
        if (!has_line(msg, want))
            continue;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        /* SCM_TIMESTAMP, which is SO_TIMESTAMP (socket(7)); glibc hides the former here. */
        CU_ASSERT_FATAL(c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMP);
        struct timeval tv;
        memcpy(&tv, CMSG_DATA(c), sizeof tv);
        if (sent_ms)
            *sent_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
        return 1;
    }
    return 0;
}

static void test_notify(void)
{
    char path[400];
    struct gwt t;
    gwt_init(&t, citygate, 1, 1, NULL);
    snprintf(path, sizeof path, "%s/notify", t.dir);
    int fd = notify_socket(path);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "1000000", 1);
    gwt_start(&t);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");

    uint64_t last = 0, longest = 0, sent = 0;
    CU_ASSERT(wait_notify(fd, "READY=1", 5000, &last));
    /* The watchdog asked for 1 s: a ping every 500 ms, never a gap of 1 s, as sent. */
    int pings = 0;
    for (uint64_t end = gwt_now_ms() + 3000; gwt_now_ms() < end;) {
        if (!wait_notify(fd, "WATCHDOG=1", 1500, &sent))
            break;
        if (last && sent - last > longest)
            longest = sent - last;
        last = sent;
        pings++;
    }
    fprintf(stderr, "%d watchdog pings in 3 s, longest gap %llu ms\n", pings,
            (unsigned long long)longest);
    CU_ASSERT(pings >= 4);
    CU_ASSERT(longest < 1000);

    kill(t.pid, SIGHUP);
    CU_ASSERT(wait_notify(fd, "RELOADING=1", 5000, NULL));
    CU_ASSERT(wait_notify(fd, "READY=1", 5000, NULL));
    kill(t.pid, SIGTERM);
    CU_ASSERT(wait_notify(fd, "STOPPING=1", 5000, NULL));
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);
    close(fd);
    gwt_fini(&t);
}

/* Starts citygate with JOURNAL_STREAM set to stream and returns whether its
 * "running" line came with the journal's priority prefix (1) or the time (0). */
static int journal_prefixed(const char *stream)
{
    struct gwt t;
    char text[65536];
    int prefixed = -1;
    gwt_init(&t, citygate, 1, 1, NULL);
    FILE *f = fopen(t.log, "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    struct stat st;
    CU_ASSERT_FATAL(stat(t.log, &st) == 0);
    char own[64];
    snprintf(own, sizeof own, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", stream ? stream : own, 1);
    gwt_start(&t);
    unsetenv("JOURNAL_STREAM");
    CU_ASSERT(gwt_wait_log(&t, "running:", 5000));
    CU_ASSERT_EQUAL(gwt_stop(&t, SIGTERM), 0);

    f = fopen(t.log, "r");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    if (strstr(text, "\n<6>info running: ") || strncmp(text, "<6>info running: ", 17) == 0)
        prefixed = 1;
    else if (strstr(text, "Z info running: "))
        prefixed = 0;
    /* Every line the log wrote is in the same form: the stop's too. */
    CU_ASSERT(strstr(text, prefixed == 1 ? "<6>info stopping: " : "Z info stopping: ") != NULL);
    if (prefixed < 0)
        fprintf(stderr, "log:\n%s", text);
    gwt_fini(&t);
    return prefixed;
}

static void test_journal_stream(void)
{
    CU_ASSERT_EQUAL(journal_prefixed(NULL), 1);
    /* Inherited from a parent whose stderr was the journal, not ours: the time stays. */
    CU_ASSERT_EQUAL(journal_prefixed("1:1"), 0);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"READY, WATCHDOG, RELOADING and STOPPING on NOTIFY_SOCKET", test_notify},
        {"log lines carry priorities when stderr is the journal", test_journal_stream},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway under systemd", tests, &citygate);
}
