/*
 * numtext.h -- numbers as text without printf: the line protocol writes
 * about ten of them per line, and glibc's exact printf of a double (and the
 * strtod that checked it) cost tens of thousands of instructions each.
 *
 * Doubles come out as the shortest decimal that reads back (strtod) to the
 * very same double, laid out as printf's "%.*g" would with P = the larger of
 * 15 and the number of digits: "0.1", "52.3", "-0", "1e+22",
 * "0.30000000000000004", "1.2345678901234568e+17". For normal numbers this is
 * byte for byte what the shortest of %.15g, %.16g and %.17g that reads back
 * gives, except at a power of two, where a rounding interval that
 * is narrower below than above may allow 16 digits where the nearest
 * 16-digit decimal does not read back (printf then needs 17). Subnormals get
 * at most 17 digits too, usually fewer than %.15g would write.
 *
 * Thread rules: pure functions over caller storage; any thread.
 */
#ifndef CITYGATE_GW_NUMTEXT_H
#define CITYGATE_GW_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any number written by the functions below ("-1.2345678901234567e-308"). */
#define GW_NUMTEXT_MAX 32

/* Writes the decimal digits of v, with '-' when negative, into buf
 * (GW_NUMTEXT_MAX bytes, not NUL-terminated). Returns the length. */
size_t gw_numtext_int(int64_t v, char *buf);

/* Writes the shortest round-trip text of finite v (see above) into buf
 * (GW_NUMTEXT_MAX bytes, not NUL-terminated). Returns the length. */
size_t gw_numtext_double(double v, char *buf);

#endif
