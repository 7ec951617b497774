/*
 * test_numtext.c -- numbers as text: integers against printf, and doubles
 * that must read back (strtod) to the very same double, with at most the
 * length of the shortest of printf's %.15g, %.16g and %.17g that reads back,
 * and for normal numbers its very bytes (see numtext.h for the exception).
 * About two million doubles from fixed seeds: every exponent, subnormals,
 * random bit patterns, short decimals like sensor readings, integers.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "numtext.h"

/* xorshift64*: fixed seeds, so a failure shows up again on the next run. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static double from_bits(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static const char *text_of(double v)
{
    static char text[GW_NUMTEXT_MAX + 1];
    text[gw_numtext_double(v, text)] = '\0';
    return text;
}

/* What the line protocol wrote before: the shortest of %.15g, %.16g, %.17g that reads back. */
static const char *printf_text(double v)
{
    static char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    return text;
}

/* The significant digits of a decimal text, leading zeros aside. */
static int digits_of(const char *text)
{
    int n = 0;
    for (const char *p = text; *p && *p != 'e'; p++)
        n += (*p >= '1' && *p <= '9') || (n && *p == '0');
    return n;
}

/*
 * Whether text is what printf_text(v) gives, asked with one or two printf
 * calls instead of up to three: %.Pg with P = max(15, digits of text), and
 * for P > 15 the next shorter precision does not read back.
 */
static int is_printf_text(double v, const char *text)
{
    char shorter[40], same[40];
    int n = digits_of(text), p = n > 15 ? n : 15;
    if (n > 17)
        return 0;
    snprintf(same, sizeof same, "%.*g", p, v);
    snprintf(shorter, sizeof shorter, "%.*g", p - 1, v);
    return strcmp(text, same) == 0 && (p == 15 || strtod(shorter, NULL) != v);
}

static unsigned long n_checked, n_bad;

/*
 * Checks one double against the promises of numtext.h: it reads back, it
 * is printf's text for normal numbers other than powers of two, and never
 * longer than printf's. Reports the first few that break them.
 */
static void check(double v)
{
    const char *text = text_of(v);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int ok = strtod(text, NULL) == v;
    if (fpclassify(v) == FP_NORMAL && (bits & ((1ull << 52) - 1)) != 0)
        ok = ok && is_printf_text(v, text);
    else
        ok = ok && strlen(text) <= strlen(printf_text(v));
    n_checked++;
    if (!ok && n_bad++ < 10)
        fprintf(stderr, "\n%a: got %s, printf %s", v, text, printf_text(v));
}

static void check_both_signs(double v)
{
    check(v);
    check(-v);
}

static void expect_all_good(void)
{
    CU_ASSERT(n_checked > 0);
    CU_ASSERT_EQUAL(n_bad, 0);
    n_checked = n_bad = 0;
}

static void test_known_doubles(void)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {DBL_TRUE_MIN, "5e-324"},
        {2 * DBL_TRUE_MIN, "1e-323"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {9007199254740993.0, "9007199254740992"},
        {4503599627370497.0, "4503599627370497"},
        {1e15, "1e+15"},
        {1e14, "100000000000000"},
        {123456789012345680.0, "1.2345678901234568e+17"},
        {52.3, "52.3"},
        {-0.5, "-0.5"},
        {1.0 / 3, "0.3333333333333333"},
        {1e-5, "1e-05"},
        {0.0001234, "0.0001234"},
        {2.5e-100, "2.5e-100"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_STRING_EQUAL(text_of(cases[i].v), cases[i].text);
        check(cases[i].v);
    }
    expect_all_good();
}

/* Every exponent, at and next to a power of two (where the rounding interval is lopsided). */
static void test_every_exponent(void)
{
    rng_state = 1;
    for (uint64_t biased = 1; biased < 2047; biased++) {
        uint64_t fractions[] = {0, 1, 2, (1ull << 52) - 1, rng_next() >> 12, rng_next() >> 12};
        for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++)
            check_both_signs(from_bits(biased << 52 | fractions[i]));
    }
    for (int e = -323; e <= 308; e++) {
        char text[16];
        snprintf(text, sizeof text, "1e%d", e);
        check_both_signs(strtod(text, NULL));
    }
    expect_all_good();
}

static void test_subnormals(void)
{
    rng_state = 2;
    for (uint64_t c = 1; c < 20000; c++)
        check(from_bits(c));
    for (int i = 0; i < 50000; i++)
        check_both_signs(from_bits(rng_next() >> 12));
    expect_all_good();
}

static void test_random_bits(void)
{
    rng_state = 3;
    for (int i = 0; i < 300000; i++) {
        double v = from_bits(rng_next());
        if (isfinite(v))
            check(v);
    }
    expect_all_good();
}

/* Readings with a few decimals and integers: what sensors send and windows add up. */
static void test_decimals_and_integers(void)
{
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    rng_state = 4;
    for (int i = 0; i < 500000; i++) {
        uint64_t r = rng_next();
        check_both_signs((double)(r >> 40) / pow10[r % 10]);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next();
        check_both_signs((double)(r >> (r % 64)));
    }
    expect_all_good();
}

static void test_integers(void)
{
    static const int64_t cases[] = {0, 7, -7, 10, 1794999600000LL, INT64_MAX, INT64_MIN};
    char text[GW_NUMTEXT_MAX + 1], want[32];
    rng_state = 5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] + 100000; i++) {
        int64_t v = i < sizeof cases / sizeof cases[0] ? cases[i] : (int64_t)rng_next() >> (i % 64);
        text[gw_numtext_int(v, text)] = '\0';
        snprintf(want, sizeof want, "%" PRId64, v);
        if (strcmp(text, want) != 0 && n_bad++ < 10)
            fprintf(stderr, "\ngot %s, want %s", text, want);
        n_checked++;
    }
    expect_all_good();
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"known doubles", test_known_doubles},
        {"every exponent", test_every_exponent},
        {"subnormals", test_subnormals},
        {"random bits", test_random_bits},
        {"decimals and integers", test_decimals_and_integers},
        {"integers", test_integers},
        {NULL, NULL},
    };
    return cu_main("numtext", tests);
}
