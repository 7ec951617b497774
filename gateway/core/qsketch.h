/*
 * qsketch.h -- a mergeable quantile summary (DDSketch-style log-bucketed
 * histogram) for window aggregates.
 *
 * Guarantee: for any q in [0, 1], gw_qsketch_quantile() returns a value x
 * with |x - v| <= GW_QSKETCH_ALPHA * |v|, where v is the element of rank
 * ceil(q * n) (1-based; rank 1 for q = 0) of the sorted values added, as
 * long as that element's bucket has not been collapsed (see below). Zero is
 * exact. That rank is the nearest-rank percentile traffic engineering uses
 * for v85: the speed at or below which 85 % of the vehicles travel (of two
 * vehicles, the faster one; see gw_qsketch_rank()).
 *
 * Values map to integer keys through a cubic approximation of log2 (the
 * "cubically interpolated mapping" of DDSketch, Masson et al., VLDB 2019):
 * every bucket (lower, upper] has upper/lower <= gamma = (1+alpha)/(1-alpha),
 * and the key is computed from the bits of the double with a polynomial, so
 * equal values give equal keys on every machine (no libm log()).
 *
 * Positive and negative values live in two stores of counts (negatives keyed
 * by magnitude), plus one count of zeros. A store is a dense run of at most
 * GW_QSKETCH_MAX_BINS counters; when the keys of a store would span more,
 * the lowest keys (smallest magnitudes) are folded into the lowest kept
 * bucket. The result only depends on the multiset of values, not on the
 * order of adds or merges, so merge(a, b) equals the sketch of the union and
 * serialisations are deterministic.
 *
 * Counters start as uint16 and widen to uint32 when one would overflow, so a
 * window with a few values costs two bytes per bucket.
 *
 * Thread rules: a sketch is plain data; one thread at a time.
 */
#ifndef CITYGATE_GW_QSKETCH_H
#define CITYGATE_GW_QSKETCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Relative accuracy of every quantile (2 %: p85 of 80 km/h within 1.6 km/h).
 * Part of the text format "q1". 2 % rather than 1 % halves the buckets, which
 * is what keeps a series with quantiles under 2 KiB (see window.h).
 */
#define GW_QSKETCH_ALPHA 0.02

/* Most buckets per store: a dynamic range of about 8e8 (gamma^512) at full accuracy. */
#define GW_QSKETCH_MAX_BINS 512

/* Longest text gw_qsketch_format() can produce, NUL included. */
#define GW_QSKETCH_TEXT_MAX (32 + 2 * (16 + GW_QSKETCH_MAX_BINS * 11))

/* One store of counts. Private: embedded only so that sketches can live inline. */
struct gw_qstore {
    void *bins;   /* uint16_t or uint32_t [cap], bins[i] counts key base + i */
    int32_t base; /* key of bins[0] */
    int32_t lo;   /* lowest non-zero key; lo > hi when empty */
    int32_t hi;   /* highest non-zero key */
    uint16_t cap; /* bins allocated, <= GW_QSKETCH_MAX_BINS */
    uint8_t wide; /* bins are uint32_t */
};

/* A sketch. Caller storage, gw_qsketch_init()/gw_qsketch_fini(); fields are private. */
struct gw_qsketch {
    struct gw_qstore pos;  /* values > 0 */
    struct gw_qstore *neg; /* values < 0, by magnitude; allocated on first use */
    uint32_t zero;         /* values == 0 */
};

/* Where a value falls: computed once, then inserted into several sketches. */
struct gw_qkey {
    int32_t index; /* bucket key of |value|; 0 when sign is 0 */
    int32_t sign;  /* 1, -1, or 0 for zero */
};

/* A parse failure: byte offset into the text and a static description. */
struct gw_qsketch_diag {
    size_t offset;
    const char *what;
};

/* Initialises an empty sketch in caller storage. Never fails (no allocation). */
void gw_qsketch_init(struct gw_qsketch *s);

/* Releases the buffers of s; s must be initialised again before reuse. NULL is a no-op. */
void gw_qsketch_fini(struct gw_qsketch *s);

/* Empties s but keeps its buffers, so that refilling it does not allocate. */
void gw_qsketch_reset(struct gw_qsketch *s);

/*
 * Computes the bucket of v into *key. Returns 0, or GW_EINVAL when v is NaN
 * or infinite. Pure and cheap (no allocation, no libm logarithm).
 */
int gw_qsketch_key(double v, struct gw_qkey *key);

/*
 * Makes sure that one gw_qsketch_insert(s, key) cannot fail: allocates or
 * widens buffers as needed, without changing the contents. Returns 0,
 * GW_ENOMEM, or GW_ERANGE when a counter would pass UINT32_MAX. key is
 * borrowed. Lets a caller update several sketches all-or-nothing.
 */
int gw_qsketch_reserve(struct gw_qsketch *s, const struct gw_qkey *key);

/* Counts key once. Only valid right after gw_qsketch_reserve(s, key) returned 0. */
void gw_qsketch_insert(struct gw_qsketch *s, const struct gw_qkey *key);

/* Adds one value: key, reserve, insert. Returns 0, GW_EINVAL, GW_ENOMEM or GW_ERANGE. */
int gw_qsketch_add(struct gw_qsketch *s, double v);

/*
 * Adds the contents of src (borrowed) to dst. All-or-nothing: on GW_ENOMEM
 * or GW_ERANGE (a counter would pass UINT32_MAX) dst is unchanged.
 */
int gw_qsketch_merge(struct gw_qsketch *dst, const struct gw_qsketch *src);

/* Number of values in s. */
uint64_t gw_qsketch_count(const struct gw_qsketch *s);

/*
 * The 1-based nearest rank of the q-quantile of n values: ceil(q * n), at
 * least 1 (an integer q * n such as 0.85 * 20 gives exactly 17). The one
 * definition of a percentile's rank for the gateway and the tools that read
 * its sketches.
 */
double gw_qsketch_rank(double q, uint64_t n);

/*
 * Estimates the q-quantile (0 <= q <= 1) into *out, within the guarantee in
 * the comment at the top. Returns 0, GW_EINVAL for a bad q, or GW_ENOTFOUND
 * when s is empty.
 */
int gw_qsketch_quantile(const struct gw_qsketch *s, double q, double *out);

/*
 * The same for n <= 8 probabilities q[] in ascending order, into out[], in
 * one walk over the buckets (what a window emission needs for p50/p85/p95).
 * Returns 0, GW_EINVAL (n > 8, a bad or unsorted q) or GW_ENOTFOUND.
 */
int gw_qsketch_quantiles(const struct gw_qsketch *s, const double *q, size_t n, double *out);

/*
 * Writes the canonical text of s into buf (cap bytes, NUL-terminated) and
 * its length (without the NUL) into *out_len. Equal contents give equal
 * text. The alphabet is [a-z0-9;:,~-]: nothing needs escaping in a line
 * protocol string field, JSON or CSV. Grammar ("q1" = this mapping and alpha):
 *
 *     text  = "q1" [";z" count] [";p" store] [";n" store]
 *     store = key ":" count *("," (count / "~" count))
 *
 * key is the signed decimal key of the first bucket; each count is the next
 * bucket's counter (decimal, >= 1, no leading zero), "~k" skips k empty
 * buckets. The last item is a count. Returns 0, or GW_EFULL when cap is too
 * small (buf is then the empty string). GW_QSKETCH_TEXT_MAX always fits.
 */
int gw_qsketch_format(const struct gw_qsketch *s, char *buf, size_t cap, size_t *out_len);

/*
 * Parses len bytes of text (borrowed, need not be NUL-terminated) written by
 * gw_qsketch_format() and replaces the contents of s (initialised) with it.
 * Only the canonical form is accepted. Returns 0; GW_EINVAL with *diag
 * filled (if not NULL) and s unchanged on bad text; GW_ENOMEM.
 */
int gw_qsketch_parse(struct gw_qsketch *s, const char *text, size_t len,
                     struct gw_qsketch_diag *diag);

/*
 * Heap bytes owned by s (buffers, not the struct itself). Inline, like
 * gw_qsketch_heap_blocks(): the windows count their memory by reading both
 * before and after every call that may grow a sketch, once per value.
 */
static inline size_t gw_qsketch_heap_bytes(const struct gw_qsketch *s)
{
    size_t n = (size_t)s->pos.cap << (1 + s->pos.wide); /* 2 or 4 bytes a counter */
    if (s->neg)
        n += sizeof *s->neg + ((size_t)s->neg->cap << (1 + s->neg->wide));
    return n;
}

/* Heap blocks behind gw_qsketch_heap_bytes(). */
static inline size_t gw_qsketch_heap_blocks(const struct gw_qsketch *s)
{
    return (size_t)(s->pos.bins != NULL) + (s->neg != NULL) +
           (s->neg != NULL && s->neg->bins != NULL);
}

#endif
