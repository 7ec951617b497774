/*
 * notify.h -- telling the service manager how the gateway is doing, with
 * systemd's notification protocol (sd_notify(3), Type=notify units):
 *
 *   READY=1       once the journal is replayed, HTTP serves and the broker
 *                 session is up: what "started" means to units ordered after
 *                 citygate.service;
 *   RELOADING=1   while SIGHUP's reload runs, READY=1 again after it;
 *   STOPPING=1    at SIGTERM/SIGINT, before the store is drained;
 *   WATCHDOG=1    from the main loop, at half the unit's WatchdogSec, so a
 *                 main loop stuck on the gateway lock gets the process
 *                 restarted.
 *
 * The messages go through libsystemd's sd_notify(), the library Debian ships
 * on every systemd machine, rather than a copy of the protocol: it follows
 * the protocol's later additions (abstract socket names, WATCHDOG_PID) and
 * does nothing when NOTIFY_SOCKET is unset, so a gateway started by hand or
 * by another supervisor behaves exactly as before. Main thread only.
 */
#ifndef CITYGATE_GW_NOTIFY_H
#define CITYGATE_GW_NOTIFY_H

#include <stdint.h>

struct gw_notify {
    uint64_t interval_ms;  /* between watchdog pings; 0: no watchdog asked for */
    uint64_t last_ping_ms; /* monotonic */
};

/* Reads the watchdog the manager asked for (WATCHDOG_USEC, WATCHDOG_PID). */
void gw_notify_init(struct gw_notify *n);

/* READY=1 with a one-line status (borrowed) that `systemctl status` shows. */
void gw_notify_ready(const char *status);

/* RELOADING=1: a reload has begun; gw_notify_ready() ends it. */
void gw_notify_reloading(void);

/* STOPPING=1: the gateway is shutting down. */
void gw_notify_stopping(void);

/*
 * Sends WATCHDOG=1 when a ping is due. Returns the milliseconds until the
 * next one is due (UINT64_MAX without a watchdog): the main loop waits no
 * longer than that.
 */
uint64_t gw_notify_watchdog(struct gw_notify *n);

#endif
