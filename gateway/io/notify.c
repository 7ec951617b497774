/*
 * notify.c -- the service manager's notifications through libsystemd's
 * sd_notify() (notify.h). Pings are timed on the monotonic clock, so a
 * wall-clock step neither floods nor starves the watchdog.
 */
#include "notify.h"

#include <systemd/sd-daemon.h>

#include "backoff.h"

void gw_notify_init(struct gw_notify *n)
{
    uint64_t usec = 0;
    n->interval_ms = 0;
    n->last_ping_ms = 0;
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
        n->interval_ms = usec / 2000; /* half the timeout, as sd_watchdog_enabled(3) advises */
}

void gw_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void gw_notify_reloading(void)
{
    sd_notify(0, "RELOADING=1\nSTATUS=reloading");
}

void gw_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

uint64_t gw_notify_watchdog(struct gw_notify *n)
{
    if (!n->interval_ms)
        return UINT64_MAX;
    uint64_t now = gw_mono_ms();
    if (!n->last_ping_ms || now - n->last_ping_ms >= n->interval_ms) {
        sd_notify(0, "WATCHDOG=1");
        n->last_ping_ms = now;
    }
    return n->last_ping_ms + n->interval_ms - now;
}
