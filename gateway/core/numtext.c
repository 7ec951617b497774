/*
 * numtext.c -- integers and doubles as decimal text.
 *
 * Doubles use Schubfach (R. Giulietti, "The Schubfach way to render
 * doubles", 2020; the algorithm of Java's Double.toString since JDK 19).
 * Every double v = c 2^q has a rounding interval: the reals that read back
 * as v. Schubfach picks the decimal with the fewest digits in it, and of
 * those the closest to v, with 64-bit integer arithmetic and one table of
 * 126-bit upper approximations of powers of ten (numtext_table.h, computed
 * exactly by tools/gen-numtext-table). Names below follow the paper. The
 * digits are then laid out as printf's %g would lay them out, so that the
 * text is what the line protocol wrote before it stopped using printf.
 */
#include "numtext.h"

#include <string.h>

#include "numtext_table.h"

#define FRACTION_BITS 52
#define C_MIN ((uint64_t)1 << FRACTION_BITS) /* the smallest significand of a normal double */
#define Q_MIN (-1074)                        /* the exponent of subnormals: v = c 2^Q_MIN */
#define MASK_63 (((uint64_t)1 << 63) - 1)

/* f 10^e */
struct decimal {
    uint64_t f;
    int e;
};

/* Writes the digits of u into buf; returns their number (at most 20). */
static size_t put_digits(uint64_t u, char *buf)
{
    char tmp[20], *d = tmp + sizeof tmp;
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t n = (size_t)(tmp + sizeof tmp - d);
    memcpy(buf, d, n);
    return n;
}

size_t gw_numtext_int(int64_t v, char *buf)
{
    size_t sign = v < 0;
    buf[0] = '-';
    return sign + put_digits(sign ? 0 - (uint64_t)v : (uint64_t)v, buf + sign);
}

/*
 * floor(log10(2^e)), floor(log10(3/4 2^e)) and floor(log2(10^e)) as
 * fixed-point products, exact far beyond the exponents of doubles (the unit
 * test goes through all of them). A right shift of a negative number rounds
 * towards minus infinity with GCC and Clang.
 */
static int flog10_pow2(int e)
{
    return (int)((int64_t)e * 661971961083 >> 41);
}

static int flog10_three_quarters_pow2(int e)
{
    return (int)(((int64_t)e * 661971961083 - 274743187321) >> 41);
}

static int flog2_pow10(int e)
{
    return (int)((int64_t)e * 913124641741 >> 38);
}

/* The high 64 bits of the 128-bit product a b. */
static uint64_t mul_high(uint64_t a, uint64_t b)
{
    uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    uint64_t mid = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    return a_hi * b_hi + (hi_lo >> 32) + (mid >> 32);
}

/*
 * floor(cp g 2^-127) with the lowest bit set when anything was cut off
 * ("rounding to odd", section 9.9), g = g[0] 2^63 + g[1]: enough to compare
 * the scaled interval ends with decimals exactly.
 */
static uint64_t rop(const uint64_t g[2], uint64_t cp)
{
    uint64_t x1 = mul_high(g[1], cp);
    uint64_t y0 = g[0] * cp;
    uint64_t y1 = mul_high(g[0], cp);
    uint64_t z = (y0 >> 1) + x1;
    uint64_t vbp = y1 + (z >> 63);
    return vbp | (((z & MASK_63) + MASK_63) >> 63);
}

/* The shortest decimal that reads back as c 2^q, the closest to it of several (figure 7). */
static struct decimal shortest(uint64_t c, int q)
{
    uint64_t out = c & 1; /* the ends of the interval of an odd c round to its even neighbours */
    uint64_t cb = c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != C_MIN || q == Q_MIN) {
        cbl = cb - 2;
        k = flog10_pow2(q);
    } else { /* at a power of two the gap below is half the gap above */
        cbl = cb - 1;
        k = flog10_three_quarters_pow2(q);
    }
    int h = q + flog2_pow10(-k) + 2;
    const uint64_t *g = numtext_g[k - NUMTEXT_K_MIN];
    /* v, its interval's ends and the candidates, all scaled by 4 10^-k */
    uint64_t vb = rop(g, cb << h), vbl = rop(g, cbl << h), vbr = rop(g, cbr << h);
    uint64_t s = vb >> 2, t = s + 1;
    if (s >= 100) {
        /* one digit fewer: at most one multiple of 10 10^k fits in the interval */
        uint64_t sp = s / 10 * 10, tp = sp + 10;
        int upin = vbl + out <= sp << 2, wpin = (tp << 2) + out <= vbr;
        if (upin != wpin)
            return (struct decimal){upin ? sp : tp, k};
    }
    int uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
    if (uin != win)
        return (struct decimal){uin ? s : t, k};
    /* both are in: the closer, the even one on a tie */
    uint64_t mid = (s + t) << 1;
    return (struct decimal){vb < mid || (vb == mid && s % 2 == 0) ? s : t, k};
}

/* Lays d out as %.*g with P = the larger of 15 and its number of digits (C11 7.21.6.1). */
static size_t layout(struct decimal d, char *buf)
{
    char digits[20], *b = buf;
    while (d.f % 10 == 0) {
        d.f /= 10;
        d.e++;
    }
    int n = (int)put_digits(d.f, digits);
    int x = d.e + n - 1; /* the exponent of the first digit */
    if (x < -4 || x >= (n > 15 ? n : 15)) {
        *b++ = digits[0];
        if (n > 1) {
            *b++ = '.';
            memcpy(b, digits + 1, (size_t)n - 1);
            b += n - 1;
        }
        *b++ = 'e';
        *b++ = x < 0 ? '-' : '+';
        if (x > -10 && x < 10)
            *b++ = '0';
        b += put_digits((uint64_t)(x < 0 ? -x : x), b);
    } else if (x < 0) { /* 0.000ddd */
        memcpy(b, "0.000", (size_t)(1 - x));
        b += 1 - x;
        memcpy(b, digits, (size_t)n);
        b += n;
    } else if (n <= x + 1) { /* an integer: ddd000 */
        memcpy(b, digits, (size_t)n);
        memset(b + n, '0', (size_t)(x + 1 - n));
        b += x + 1;
    } else { /* ddd.ddd */
        memcpy(b, digits, (size_t)x + 1);
        b[x + 1] = '.';
        memcpy(b + x + 2, digits + x + 1, (size_t)(n - x - 1));
        b += n + 1;
    }
    return (size_t)(b - buf);
}

size_t gw_numtext_double(double v, char *buf)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    size_t sign = bits >> 63;
    int biased = (int)(bits >> FRACTION_BITS & 0x7ff);
    uint64_t c = bits & (C_MIN - 1);
    struct decimal d;

    buf[0] = '-';
    if (biased == 0 && c == 0) {
        buf[sign] = '0';
        return sign + 1;
    }
    if (biased == 0) {
        d = shortest(c, Q_MIN);
    } else {
        int q = Q_MIN - 1 + biased;
        c |= C_MIN;
        /* an integer below 2^53 is its own shortest decimal (section 8.3) */
        if (q < 0 && q > -FRACTION_BITS - 1 && (c & (((uint64_t)1 << -q) - 1)) == 0)
            d = (struct decimal){c >> -q, 0};
        else
            d = shortest(c, q);
    }
    return sign + layout(d, buf + sign);
}
