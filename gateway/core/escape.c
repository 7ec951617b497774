/*
 * escape.c -- any bytes as printable ASCII (escape.h).
 *
 * Text that reaches a log line from outside (a topic, a frame's string, a
 * store's reply) must not be able to end the line or forge another, nor
 * carry bytes a terminal or a log shipper would interpret. Backslash is
 * escaped too, so an escaped text reads back unambiguously.
 */
#include "escape.h"

#include <string.h>

/* The length of byte c in gw_escape()'s output. */
static size_t gw_escaped_len(unsigned char c)
{
    return c == '\\' ? 2 : c < 0x20 || c > 0x7e ? 4 : 1;
}

size_t gw_escape(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, need = 0;
    for (size_t i = 0; i < len; i++)
        need += gw_escaped_len((unsigned char)s[i]);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[4] = {(char)c, '\\', hex[c >> 4], hex[c & 15]};
        size_t k = gw_escaped_len(c);
        if (k == 4) {
            e[0] = '\\';
            e[1] = 'x';
        }
        /* When the whole does not fit, room for "..." and the NUL is kept. */
        if (need + 1 > cap && n + k + 4 > cap) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(out + n, e, k);
        n += k;
    }
    out[n] = '\0';
    return n;
}
