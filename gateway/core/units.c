/*
 * units.c -- the one parser of durations, sizes, whole and real numbers
 * (units.h).
 *
 * A number is decimal digits only (no sign, no fraction, no exponent) so that
 * "0.5s" or "-1m" are refused rather than rounded; the unit, when there is
 * one, must match a name exactly. Overflow is an error, never a wrap. A real
 * number's grammar is checked here before strtod() converts it, so that what
 * strtod() would also take (hexadecimal, "inf", leading spaces, "+") is
 * refused the same way everywhere.
 */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define DAY_MS (24ull * 3600 * 1000)

/* Parses an unsigned number followed by one of units (name, factor); returns 0 or GW_EINVAL. */
static int parse_with_unit(const char *text, const char *const *names, const uint64_t *factors,
                           size_t n, uint64_t *out)
{
    char *end;
    if (!text || !isdigit((unsigned char)*text))
        return GW_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return GW_EINVAL;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(end, names[i]) != 0)
            continue;
        if (factors[i] && v > UINT64_MAX / factors[i])
            return GW_EINVAL;
        *out = v * factors[i];
        return 0;
    }
    return GW_EINVAL;
}

int gw_parse_duration_ms(const char *text, uint64_t *out)
{
    static const char *const names[] = {"ms", "s", "m", "h", "d", "w"};
    static const uint64_t f[] = {1, 1000, 60000, 3600000, DAY_MS, 7 * DAY_MS};
    return parse_with_unit(text, names, f, 6, out);
}

int gw_parse_bytes(const char *text, uint64_t *out)
{
    static const char *const names[] = {"", "B", "KiB", "MiB", "GiB", "TiB", "kB", "MB", "GB"};
    static const uint64_t f[] = {1,          1,    1ull << 10, 1ull << 20, 1ull << 30,
                                 1ull << 40, 1000, 1000000,    1000000000};
    return parse_with_unit(text, names, f, 9, out);
}

int gw_parse_uint(const char *text, uint64_t *out)
{
    return parse_with_unit(text, (const char *const[]){""}, (const uint64_t[]){1}, 1, out);
}

/* Skips decimal digits from p; returns the first non-digit and adds their count to *n. */
static const char *skip_digits(const char *p, size_t *n)
{
    while (isdigit((unsigned char)*p)) {
        p++;
        (*n)++;
    }
    return p;
}

int gw_parse_real(const char *text, double *out)
{
    const char *p = text;
    size_t mantissa = 0, exponent = 0;
    char *end;

    if (!p)
        return GW_EINVAL;
    if (*p == '-')
        p++;
    p = skip_digits(p, &mantissa);
    if (*p == '.')
        p = skip_digits(p + 1, &mantissa);
    if (mantissa == 0)
        return GW_EINVAL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        p = skip_digits(p, &exponent);
        if (exponent == 0)
            return GW_EINVAL;
    }
    if (*p != '\0')
        return GW_EINVAL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end != p || !isfinite(v))
        return GW_EINVAL;
    *out = v;
    return 0;
}
