/*
 * smp_port.h -- serving the management port (smp_server.h) on UDP (one SMP
 * packet per datagram, as Zephyr's UDP transport) and on a pseudo-terminal
 * standing in for the node's serial line (console framing, smp.h).
 */
#ifndef CITYGATE_SMP_PORT_H
#define CITYGATE_SMP_PORT_H

#include <poll.h>
#include <stddef.h>

#include "smp.h"
#include "smp_server.h"

struct smp_port {
    int udp_fd;       /* -1: no UDP */
    int pty_fd;       /* the pty's master, -1: no serial */
    int pty_slave_fd; /* kept open, so the master never reads a hang-up between clients */
    char pty_path[64];
    struct node_smp_rx rx;
    struct smp_server *srv; /* borrowed */
};

/*
 * Opens the transports asked for: udp "HOST:PORT" (NULL: none) and a pty
 * when pty_link is not NULL (a symlink to the pty's name is made there, for
 * the technician and the tests). Returns 0, or -1 with why in err.
 */
int smp_port_open(struct smp_port *p, struct smp_server *srv, const char *udp, const char *pty_link,
                  char *err, size_t cap);

/* Fills fds (room for 2) with what to poll for; returns how many. */
int smp_port_pollfds(const struct smp_port *p, struct pollfd *fds);

/* Serves what fds (as filled and polled) say is readable. */
void smp_port_service(struct smp_port *p, const struct pollfd *fds, int n);

void smp_port_close(struct smp_port *p);

#endif
