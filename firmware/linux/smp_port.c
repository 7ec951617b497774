/*
 * smp_port.c -- the management port's transports on Linux: UDP and a pty.
 *
 * Both are served from the caller's poll loop, one request at a time, so
 * the server needs no locking of its own (the boot state has its flock).
 * On UDP a datagram is a packet and the answer goes back to its sender; on
 * the pty bytes are fed to the console receiver (smp.c), which ignores
 * anything that is not an SMP frame and counts what it drops.
 */
#define _GNU_SOURCE /* ptsname_r */
#include "smp_port.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

static int open_udp(const char *spec, char *err, size_t cap)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
        snprintf(err, cap, "--udp %s: expected HOST:PORT", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, cap, "--udp %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, cap, "--udp %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int open_pty(struct smp_port *p, const char *link, char *err, size_t cap)
{
    struct termios t;
    p->pty_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->pty_fd < 0 || grantpt(p->pty_fd) != 0 || unlockpt(p->pty_fd) != 0 ||
        ptsname_r(p->pty_fd, p->pty_path, sizeof p->pty_path) != 0) {
        snprintf(err, cap, "cannot make a pty: %s", strerror(errno));
        return -1;
    }
    p->pty_slave_fd = open(p->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->pty_slave_fd < 0 || tcgetattr(p->pty_slave_fd, &t) != 0) {
        snprintf(err, cap, "%s: %s", p->pty_path, strerror(errno));
        return -1;
    }
    cfmakeraw(&t);
    cfsetspeed(&t, B115200);
    tcsetattr(p->pty_slave_fd, TCSANOW, &t);
    unlink(link);
    if (symlink(p->pty_path, link) != 0) {
        snprintf(err, cap, "cannot link %s to %s: %s", link, p->pty_path, strerror(errno));
        return -1;
    }
    return 0;
}

int smp_port_open(struct smp_port *p, struct smp_server *srv, const char *udp, const char *pty_link,
                  char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->udp_fd = p->pty_fd = p->pty_slave_fd = -1;
    p->srv = srv;
    node_smp_rx_init(&p->rx);
    if (udp && (p->udp_fd = open_udp(udp, err, cap)) < 0)
        goto fail;
    if (pty_link && open_pty(p, pty_link, err, cap) != 0)
        goto fail;
    return 0;
fail:
    smp_port_close(p);
    return -1;
}

int smp_port_pollfds(const struct smp_port *p, struct pollfd *fds)
{
    int n = 0;
    if (p->udp_fd >= 0)
        fds[n++] = (struct pollfd){p->udp_fd, POLLIN, 0};
    if (p->pty_fd >= 0)
        fds[n++] = (struct pollfd){p->pty_fd, POLLIN, 0};
    return n;
}

static void write_all(int fd, const char *buf, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        done += (size_t)w;
    }
}

static void serve_udp(struct smp_port *p)
{
    uint8_t req[NODE_SMP_MAX_PACKET + 1], rsp[NODE_SMP_MAX_PACKET];
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(p->udp_fd, req, sizeof req, 0, (struct sockaddr *)&from, &from_len);
    if (n <= 0 || (size_t)n > NODE_SMP_MAX_PACKET)
        return;
    size_t out = smp_server_handle(p->srv, req, (size_t)n, rsp, sizeof rsp);
    if (out > 0)
        sendto(p->udp_fd, rsp, out, 0, (struct sockaddr *)&from, from_len);
}

static void serve_pty(struct smp_port *p)
{
    uint8_t buf[512], rsp[NODE_SMP_MAX_PACKET];
    char framed[4096];
    ssize_t n = read(p->pty_fd, buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++) {
        const uint8_t *pkt;
        size_t len;
        if (node_smp_rx_feed(&p->rx, buf[i], &pkt, &len) != 1)
            continue;
        size_t out = smp_server_handle(p->srv, pkt, len, rsp, sizeof rsp);
        size_t f = out ? node_smp_serial_encode(rsp, out, framed, sizeof framed) : 0;
        if (f > 0)
            write_all(p->pty_fd, framed, f);
    }
}

void smp_port_service(struct smp_port *p, const struct pollfd *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (!(fds[i].revents & POLLIN))
            continue;
        if (fds[i].fd == p->udp_fd)
            serve_udp(p);
        else if (fds[i].fd == p->pty_fd)
            serve_pty(p);
    }
}

void smp_port_close(struct smp_port *p)
{
    if (p->udp_fd >= 0)
        close(p->udp_fd);
    if (p->pty_fd >= 0)
        close(p->pty_fd);
    if (p->pty_slave_fd >= 0)
        close(p->pty_slave_fd);
    p->udp_fd = p->pty_fd = p->pty_slave_fd = -1;
}
