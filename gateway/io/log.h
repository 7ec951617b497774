/*
 * log.h -- the gateway's log: one line per event on stderr,
 *
 *   2026-12-06T01:53:00.123Z warn store_write_failed: rp_30s: HTTP 500: ...
 *
 * with the time (RFC 3339, UTC, milliseconds), a level and a stable event
 * name that log searches and alerts can rely on, then free text. When stderr
 * is the systemd journal's stream (JOURNAL_STREAM), the time gives way to the
 * syslog priority journald reads ("<4>warn store_write_failed: ...").
 *
 * Rate limiting is per kind: an event name and, optionally, a kind within it
 * (the store error class, the refusal reason). The first line of a kind is
 * always printed, so a new kind of error is never hidden behind another;
 * repeats of the same kind within GW_LOG_REPEAT_MS of its last printed line
 * are counted, and the next printed line of that kind says how many were
 * folded into it.
 */
#ifndef CITYGATE_GW_LOG_H
#define CITYGATE_GW_LOG_H

#include <stdint.h>

#define GW_LOG_REPEAT_MS 1000

enum gw_log_level { GW_LOG_ERROR, GW_LOG_WARN, GW_LOG_INFO };

/*
 * Logs one event. event is a stable snake_case name (a string literal: it is
 * kept, not copied); kind, when not NULL, splits the event's rate limit
 * (copied, up to 31 bytes). Any thread.
 */
void gw_log(enum gw_log_level level, const char *event, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Formats wall-clock ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-12-06T01:53:00.123Z") into out (at least 25 bytes). */
void gw_log_time(uint64_t wall_ms, char out[25]);

#endif
