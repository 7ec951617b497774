/*
 * units.h -- durations, sizes and whole numbers as people write them, in every
 * configuration file and on every command line of the project.
 *
 * One grammar, one home: the gateway's configuration, the node's provisioning
 * file, the drivers' options and the tools' flags all parse through these
 * functions (they link the small `gwunits` library), so "5m" means the same
 * everywhere and a bare "30" is refused everywhere a duration is expected.
 *
 *   duration  = digits [spaces] unit ; unit = ms | s | m | h | d | w
 *               (500ms, 30s, 5m, 1h, 7d, 2w)
 *   size      = digits [spaces] [unit] ; unit = B | KiB | MiB | GiB | TiB | kB | MB | GB
 *               (4096, 64KiB, 16MiB, 1GB)
 *   number    = digits
 *   real      = ["-"] (digits ["." [digits]] | "." digits) [("e" | "E") ["+" | "-"] digits]
 *               (0.5, 12, -3.25, 1e6)
 *
 * Pure functions: no allocation, no locale, safe from any thread.
 */
#ifndef CITYGATE_GW_UNITS_H
#define CITYGATE_GW_UNITS_H

#include <stdint.h>

/* Parses a duration into milliseconds. Returns 0, or GW_EINVAL (no unit, an
 * unknown unit, not a number, or more than UINT64_MAX ms); *out is written
 * only on success. */
int gw_parse_duration_ms(const char *text, uint64_t *out);

/* Parses a size into bytes (a bare number is bytes). Returns 0 or GW_EINVAL. */
int gw_parse_bytes(const char *text, uint64_t *out);

/* Parses a whole number (digits only). Returns 0 or GW_EINVAL. */
int gw_parse_uint(const char *text, uint64_t *out);

/* Parses a real number in decimal (the grammar above: no "+", no hexadecimal,
 * no "inf" or "nan", nothing after it). Returns 0, or GW_EINVAL for anything
 * else and for a value that overflows or underflows a double. */
int gw_parse_real(const char *text, double *out);

#endif
