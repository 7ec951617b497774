/*
 * escape.h -- any bytes as printable ASCII, for one log line.
 *
 * Pure; any thread.
 */
#ifndef CITYGATE_GW_ESCAPE_H
#define CITYGATE_GW_ESCAPE_H

#include <stddef.h>

/*
 * Writes s (len bytes, borrowed, any bytes) into out (cap bytes, cap >= 4,
 * always NUL-terminated) as printable ASCII for a log line: backslash as
 * "\\", other bytes outside 0x20..0x7e as "\xHH", so that no text from the
 * wire can end a log line or forge another. What does not fit is cut, and
 * "..." marks the cut. Returns the length written.
 */
size_t gw_escape(const char *s, size_t len, char *out, size_t cap);

#endif
