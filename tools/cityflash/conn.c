/*
 * conn.c -- cityflash's side of the management port (conn.h).
 *
 * UDP: one packet per datagram on a connected socket. Serial: the console
 * framing of smp.c on a raw tty at the given speed (115200 by default, as
 * Zephyr's console). Responses are matched by sequence number; anything
 * else (an old response, console text) is skipped. A request is sent again
 * when no answer came within the timeout; that is safe for every command we
 * send, because an upload chunk the node already has is answered with the
 * node's offset, not written twice.
 */
#define _DEFAULT_SOURCE /* cfmakeraw, cfsetspeed */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "smp_cbor.h"

static int open_udp(const char *spec, char *err, size_t cap)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
        snprintf(err, cap, "udp:%s: expected udp:HOST:PORT", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, cap, "cannot find node %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, cap, "cannot reach node %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static speed_t baud(unsigned long b)
{
    switch (b) {
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    case 230400:
        return B230400;
    case 460800:
        return B460800;
    case 921600:
        return B921600;
    }
    return 0;
}

static int open_serial(const char *spec, char *err, size_t cap)
{
    char path[512];
    unsigned long rate = 115200;
    const char *comma = strchr(spec, ',');
    size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
    if (n >= sizeof path) {
        snprintf(err, cap, "serial:%s: path too long", spec);
        return -1;
    }
    memcpy(path, spec, n);
    path[n] = '\0';
    if (comma) {
        char *end;
        rate = strtoul(comma + 1, &end, 10);
        if (*end || !baud(rate)) {
            snprintf(err, cap, "serial:%s: unknown speed %s", spec, comma + 1);
            return -1;
        }
    }
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    if (fd < 0 || tcgetattr(fd, &t) != 0) {
        snprintf(err, cap, "cannot open the node's serial line %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    cfmakeraw(&t);
    cfsetspeed(&t, baud(rate));
    tcsetattr(fd, TCSANOW, &t);
    tcflush(fd, TCIOFLUSH);
    return fd;
}

int cf_conn_open(struct cf_conn *c, const char *spec, char *err, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->timeout_ms = 2000;
    c->attempts = 4;
    node_smp_rx_init(&c->rx);
    if (strncmp(spec, "udp:", 4) == 0) {
        c->fd = open_udp(spec + 4, err, cap);
    } else if (strncmp(spec, "serial:", 7) == 0) {
        c->fd = open_serial(spec + 7, err, cap);
        c->serial = 1;
    } else {
        snprintf(err, cap, "--conn %s: expected serial:/dev/ttyX[,BAUD] or udp:HOST:PORT", spec);
        c->fd = -1;
    }
    return c->fd < 0 ? -1 : 0;
}

void cf_conn_close(struct cf_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Waits until deadline for the response to seq; 1 with its packet in out, 0 timeout, -1 error. */
static int receive(struct cf_conn *c, uint8_t seq, uint64_t deadline, uint8_t *out, size_t *out_len)
{
    uint8_t buf[NODE_SMP_MAX_PACKET + 1];
    for (;;) {
        uint64_t now = cli_now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd p = {c->fd, POLLIN, 0};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n;
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r < 0 && (errno == EINTR || errno == ECONNREFUSED))
            continue; /* a UDP port with nobody yet: keep waiting */
        if (r <= 0)
            return -1;
        if (!c->serial) {
            struct node_smp_hdr h;
            if ((size_t)r <= NODE_SMP_MAX_PACKET && node_smp_hdr_decode(buf, (size_t)r, &h) == 0 &&
                h.seq == seq) {
                memcpy(out, buf, (size_t)r);
                *out_len = (size_t)r;
                return 1;
            }
            continue;
        }
        for (ssize_t i = 0; i < r; i++) {
            const uint8_t *pkt;
            size_t len;
            struct node_smp_hdr h;
            if (node_smp_rx_feed(&c->rx, buf[i], &pkt, &len) == 1 &&
                node_smp_hdr_decode(pkt, len, &h) == 0 && h.seq == seq) {
                memcpy(out, pkt, len);
                *out_len = len;
                return 1;
            }
        }
    }
}

int cf_conn_call(struct cf_conn *c, uint16_t group, uint8_t id, int write, const cbor_item_t *req,
                 cbor_item_t **rsp, char *err, size_t cap)
{
    uint8_t pkt[NODE_SMP_MAX_PACKET], in[NODE_SMP_MAX_PACKET];
    char framed[4096];
    size_t body = 0, in_len = 0;
    if (req && (body = smp_cbor_encode(req, pkt + NODE_SMP_HDR_BYTES,
                                       sizeof pkt - NODE_SMP_HDR_BYTES)) == 0) {
        snprintf(err, cap, "request too large");
        return -1;
    }
    uint8_t seq = c->seq++;
    struct node_smp_hdr h = {.op = write ? NODE_SMP_OP_WRITE : NODE_SMP_OP_READ,
                             .len = (uint16_t)body,
                             .group = group,
                             .seq = seq,
                             .id = id};
    node_smp_hdr_encode(&h, pkt);
    size_t len = NODE_SMP_HDR_BYTES + body;
    const void *out = pkt;
    if (c->serial) {
        len = node_smp_serial_encode(pkt, len, framed, sizeof framed);
        out = framed;
    }
    for (int attempt = 0; attempt < c->attempts; attempt++) {
        if (send_all(c->fd, out, len) != 0 && !(errno == ECONNREFUSED && !c->serial)) {
            snprintf(err, cap, "cannot send to the node: %s", strerror(errno));
            return -1;
        }
        int r = receive(c, seq, cli_now_ms() + c->timeout_ms, in, &in_len);
        if (r < 0) {
            snprintf(err, cap, "lost the connection to the node: %s", strerror(errno));
            return -1;
        }
        if (r == 0)
            continue;
        struct cbor_load_result res;
        cbor_item_t *m = in_len > NODE_SMP_HDR_BYTES
                             ? cbor_load(in + NODE_SMP_HDR_BYTES, in_len - NODE_SMP_HDR_BYTES, &res)
                             : cbor_new_definite_map(0);
        if (!m || !cbor_isa_map(m)) {
            if (m)
                cbor_decref(&m);
            snprintf(err, cap, "the node answered something that is not SMP");
            return -1;
        }
        *rsp = m;
        return 0;
    }
    snprintf(err, cap, "the node did not answer (%d tries, %llu ms each)", c->attempts,
             (unsigned long long)c->timeout_ms);
    return -1;
}
