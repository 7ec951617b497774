/*
 * qsketch.c -- the mergeable quantile summary behind p50/p85/p95.
 *
 * Why this shape: windows need quantiles that several gateways can merge and
 * that a later tool can merge again from the store, with a stated error bound
 * and a few hundred bytes of state. A DDSketch-style histogram over
 * logarithmic buckets gives all of that: relative error alpha for every
 * quantile, exact merges (bucket counts add), and a canonical text form.
 *
 * The hot path is gw_qsketch_key() (a frexp and a cubic polynomial) and an
 * increment of a uint16 counter inside the buffer already allocated; growth,
 * widening and folding of low buckets are the slow path, kept out of it by
 * gw_qsketch_reserve(). Whole-sketch rewrites (merge, parse) go through one
 * "plan": the final counts of a store computed in a stack array, checked, and
 * only then committed, which keeps them all-or-nothing.
 */
#include "qsketch.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "numtext.h"

/*
 * The cubic mapping: log2(v) ~ e + ((A s + B) s + C) s with v = 2^e (1 + s),
 * 0 <= s < 1. Its slope is at least C / ln 2 per natural-log unit, so keys
 * computed as ceil(approx_log2(v) * MULT) with MULT = 1 / (C ln gamma) give
 * buckets no wider than gamma. MULT is written out so that every build maps
 * values to the same keys; test_qsketch checks it against the formula.
 */
#define QS_A (6.0 / 35.0)
#define QS_B (-3.0 / 5.0)
#define QS_C (10.0 / 7.0)
#define QS_MULT 17.497666417725615 /* 1 / (C * log1p(2 alpha / (1 - alpha))), alpha = 0.02 */

#define QS_U16_MAX 0xFFFFu
#define QS_EMPTY_LO 0
#define QS_EMPTY_HI (-1)

/* The final counts of one store, built before anything is changed. */
struct qs_plan {
    int32_t lo, hi; /* lo > hi: empty */
    uint64_t sum[GW_QSKETCH_MAX_BINS];
};

/* Buffers a plan needs, allocated before it is committed. */
struct qs_buf {
    void *bins; /* NULL: the store's own buffer is reused */
    uint16_t cap;
    uint8_t wide;
};

static double cubic_log2(double v)
{
    int e;
    double m = frexp(v, &e); /* v = m 2^e, 0.5 <= m < 1 */
    double s = 2.0 * m - 1.0;
    return ((QS_A * s + QS_B) * s + QS_C) * s + (double)(e - 1);
}

/* Inverse of cubic_log2 (Cardano's formula for the cubic). */
static double cubic_exp2(double x)
{
    double e = floor(x);
    double r = x - e;
    double d0 = QS_B * QS_B - 3.0 * QS_A * QS_C;
    double d1 = 2.0 * QS_B * QS_B * QS_B - 9.0 * QS_A * QS_B * QS_C - 27.0 * QS_A * QS_A * r;
    double cardano = cbrt((d1 - sqrt(d1 * d1 - 4.0 * d0 * d0 * d0)) / 2.0);
    double s = -(QS_B + cardano + d0 / cardano) / (3.0 * QS_A);
    return ldexp(1.0 + s, (int)e);
}

/* The value reported for a bucket: the harmonic mean of its bounds, within alpha of both. */
static double key_value(int32_t key)
{
    double lower = cubic_exp2((double)(key - 1) / QS_MULT);
    double upper = cubic_exp2((double)key / QS_MULT);
    if (!isfinite(upper))
        return lower;
    return lower * (2.0 / (1.0 + lower / upper)); /* 2 l u / (l + u) without overflow */
}

static int32_t key_min(void)
{
    return (int32_t)ceil(cubic_log2(4.9406564584124654e-324) * QS_MULT);
}

static int32_t key_max(void)
{
    return (int32_t)ceil(cubic_log2(1.7976931348623157e308) * QS_MULT);
}

static uint32_t bin_get(const struct gw_qstore *st, int32_t key)
{
    size_t i = (size_t)(key - st->base);
    return st->wide ? ((const uint32_t *)st->bins)[i] : ((const uint16_t *)st->bins)[i];
}

static void bin_set(struct gw_qstore *st, int32_t key, uint32_t v)
{
    size_t i = (size_t)(key - st->base);
    if (st->wide)
        ((uint32_t *)st->bins)[i] = v;
    else
        ((uint16_t *)st->bins)[i] = (uint16_t)v;
}

static int store_empty(const struct gw_qstore *st)
{
    return st->lo > st->hi;
}

static int in_buffer(const struct gw_qstore *st, int32_t key)
{
    return key >= st->base && (int64_t)key - st->base < st->cap;
}

/* Count of key, or 0 outside the used range. */
static uint32_t store_count(const struct gw_qstore *st, int32_t key)
{
    return key >= st->lo && key <= st->hi ? bin_get(st, key) : 0;
}

static void store_init(struct gw_qstore *st)
{
    memset(st, 0, sizeof *st);
    st->lo = QS_EMPTY_LO;
    st->hi = QS_EMPTY_HI;
}

static void store_clear(struct gw_qstore *st)
{
    if (st->bins)
        memset(st->bins, 0, (size_t)st->cap * (st->wide ? 4 : 2));
    st->lo = QS_EMPTY_LO;
    st->hi = QS_EMPTY_HI;
}

/* The used range after adding key: the folding rule lo = max(min key, max key - MAX + 1). */
static void store_range_with(const struct gw_qstore *st, int32_t key, int32_t *lo, int32_t *hi)
{
    if (store_empty(st)) {
        *lo = *hi = key;
        return;
    }
    *hi = st->hi > key ? st->hi : key;
    *lo = st->lo < key ? st->lo : key;
    if (*lo < *hi - GW_QSKETCH_MAX_BINS + 1)
        *lo = *hi - GW_QSKETCH_MAX_BINS + 1;
}

static uint16_t grown_cap(int32_t span)
{
    int32_t cap = (span + 4 + 3) & ~3; /* a little slack, so that a window rarely regrows */
    return (uint16_t)(cap > GW_QSKETCH_MAX_BINS ? GW_QSKETCH_MAX_BINS : cap);
}

/* Replaces the buffer by one of cap counters of the given width, keeping the contents. */
static int store_resize(struct gw_qstore *st, uint16_t cap, uint8_t wide)
{
    void *bins = gw_calloc(cap, wide ? 4 : 2);
    if (!bins)
        return GW_ENOMEM;
    struct gw_qstore next = *st;
    next.bins = bins;
    next.cap = cap;
    next.wide = wide;
    if (!store_empty(st)) {
        next.base = st->lo - (cap - (st->hi - st->lo + 1)) / 2;
        for (int32_t k = st->lo; k <= st->hi; k++)
            bin_set(&next, k, bin_get(st, k));
    }
    gw_free(st->bins);
    *st = next;
    return 0;
}

static int store_reserve(struct gw_qstore *st, int32_t key, uint32_t n)
{
    uint64_t limit = st->wide ? UINT32_MAX : QS_U16_MAX;
    if (!store_empty(st) && in_buffer(st, key) && (uint64_t)bin_get(st, key) + n <= limit)
        return 0;

    int32_t lo, hi;
    store_range_with(st, key, &lo, &hi);
    int32_t target = key > lo ? key : lo;
    uint64_t folded = store_count(st, lo);
    for (int32_t k = st->lo; k < lo && k <= st->hi; k++)
        folded += bin_get(st, k);
    uint64_t need = target == lo ? folded + n : (uint64_t)store_count(st, target) + n;
    if (need < folded)
        need = folded;
    if (need > UINT32_MAX)
        return GW_ERANGE;
    uint8_t wide = st->wide || need > QS_U16_MAX;
    int32_t span = hi - lo + 1;
    if (span <= st->cap && wide == st->wide)
        return 0;
    return store_resize(st, span <= st->cap ? st->cap : grown_cap(span), wide);
}

/* Moves the counters in [from, to] so that bins[0] is key base; zeroes the rest. */
static void store_rebase(struct gw_qstore *st, int32_t from, int32_t to, int32_t base)
{
    size_t w = st->wide ? 4 : 2;
    unsigned char *b = st->bins;
    if (from > to) {
        memset(b, 0, (size_t)st->cap * w);
        st->base = base;
        return;
    }
    size_t n = (size_t)(to - from + 1);
    size_t dst = (size_t)(from - base), src = (size_t)(from - st->base);
    memmove(b + dst * w, b + src * w, n * w);
    memset(b, 0, dst * w);
    memset(b + (dst + n) * w, 0, (st->cap - dst - n) * w);
    st->base = base;
}

/* Adds n at key; store_reserve(st, key, n) must have returned 0 just before. */
static void store_add(struct gw_qstore *st, int32_t key, uint32_t n)
{
    if (store_empty(st)) {
        if (!in_buffer(st, key))
            st->base = key - st->cap / 2;
        bin_set(st, key, n);
        st->lo = st->hi = key;
        return;
    }
    if (in_buffer(st, key)) {
        bin_set(st, key, bin_get(st, key) + n);
        st->lo = key < st->lo ? key : st->lo;
        st->hi = key > st->hi ? key : st->hi;
        return;
    }
    int32_t lo, hi;
    store_range_with(st, key, &lo, &hi);
    uint64_t folded = 0;
    for (int32_t k = st->lo; k < lo && k <= st->hi; k++) {
        folded += bin_get(st, k);
        bin_set(st, k, 0);
    }
    int32_t keep_lo = st->lo > lo ? st->lo : lo;
    if (lo < st->base || (int64_t)hi - st->base >= st->cap)
        store_rebase(st, keep_lo, st->hi, lo - (st->cap - (hi - lo + 1)) / 2);
    uint32_t at_lo = keep_lo == lo && lo <= st->hi ? bin_get(st, lo) : 0;
    st->lo = lo;
    st->hi = hi;
    bin_set(st, lo, at_lo + (uint32_t)folded);
    int32_t target = key > lo ? key : lo;
    bin_set(st, target, bin_get(st, target) + n);
}

static struct gw_qstore *neg_store(struct gw_qsketch *s)
{
    if (!s->neg) {
        s->neg = gw_malloc(sizeof *s->neg);
        if (s->neg)
            store_init(s->neg);
    }
    return s->neg;
}

void gw_qsketch_init(struct gw_qsketch *s)
{
    store_init(&s->pos);
    s->neg = NULL;
    s->zero = 0;
}

void gw_qsketch_fini(struct gw_qsketch *s)
{
    if (!s)
        return;
    gw_free(s->pos.bins);
    if (s->neg)
        gw_free(s->neg->bins);
    gw_free(s->neg);
    gw_qsketch_init(s);
}

void gw_qsketch_reset(struct gw_qsketch *s)
{
    store_clear(&s->pos);
    if (s->neg)
        store_clear(s->neg);
    s->zero = 0;
}

int gw_qsketch_key(double v, struct gw_qkey *key)
{
    if (!isfinite(v))
        return GW_EINVAL;
    if (v == 0) {
        key->index = 0;
        key->sign = 0;
        return 0;
    }
    key->sign = v > 0 ? 1 : -1;
    key->index = (int32_t)ceil(cubic_log2(fabs(v)) * QS_MULT);
    return 0;
}

int gw_qsketch_reserve(struct gw_qsketch *s, const struct gw_qkey *key)
{
    if (key->sign == 0)
        return s->zero < UINT32_MAX ? 0 : GW_ERANGE;
    if (key->sign > 0)
        return store_reserve(&s->pos, key->index, 1);
    struct gw_qstore *neg = neg_store(s);
    return neg ? store_reserve(neg, key->index, 1) : GW_ENOMEM;
}

void gw_qsketch_insert(struct gw_qsketch *s, const struct gw_qkey *key)
{
    if (key->sign == 0)
        s->zero++;
    else
        store_add(key->sign > 0 ? &s->pos : s->neg, key->index, 1);
}

int gw_qsketch_add(struct gw_qsketch *s, double v)
{
    struct gw_qkey key;
    int rc = gw_qsketch_key(v, &key);
    if (rc == 0)
        rc = gw_qsketch_reserve(s, &key);
    if (rc == 0)
        gw_qsketch_insert(s, &key);
    return rc;
}

static uint64_t store_total(const struct gw_qstore *st)
{
    uint64_t n = 0;
    if (st)
        for (int32_t k = st->lo; k <= st->hi; k++)
            n += bin_get(st, k);
    return n;
}

uint64_t gw_qsketch_count(const struct gw_qsketch *s)
{
    return store_total(&s->pos) + store_total(s->neg) + s->zero;
}

static void plan_init(struct qs_plan *p)
{
    p->lo = QS_EMPTY_LO;
    p->hi = QS_EMPTY_HI;
}

/* Widens the plan's range to cover the store's used keys (before any counts are added). */
static void plan_cover(struct qs_plan *p, const struct gw_qstore *st)
{
    if (!st || store_empty(st))
        return;
    if (p->lo > p->hi) {
        p->lo = st->lo;
        p->hi = st->hi;
        return;
    }
    p->lo = st->lo < p->lo ? st->lo : p->lo;
    p->hi = st->hi > p->hi ? st->hi : p->hi;
}

/* Applies the folding rule to the covered range and zeroes the sums. */
static void plan_start(struct qs_plan *p)
{
    if (p->lo > p->hi)
        return;
    if (p->lo < p->hi - GW_QSKETCH_MAX_BINS + 1)
        p->lo = p->hi - GW_QSKETCH_MAX_BINS + 1;
    memset(p->sum, 0, sizeof(uint64_t) * (size_t)(p->hi - p->lo + 1));
}

static void plan_add(struct qs_plan *p, const struct gw_qstore *st)
{
    if (!st)
        return;
    for (int32_t k = st->lo; k <= st->hi; k++)
        p->sum[(k > p->lo ? k : p->lo) - p->lo] += bin_get(st, k);
}

/* Checks the plan's counters and allocates what committing it into st needs. */
static int plan_prepare(const struct qs_plan *p, const struct gw_qstore *st, struct qs_buf *buf)
{
    uint64_t top = 0;
    buf->bins = NULL;
    if (p->lo > p->hi)
        return 0;
    int32_t span = p->hi - p->lo + 1;
    for (int32_t i = 0; i < span; i++)
        top = p->sum[i] > top ? p->sum[i] : top;
    if (top > UINT32_MAX)
        return GW_ERANGE;
    buf->wide = (st && st->wide) || top > QS_U16_MAX;
    if (st && span <= st->cap && buf->wide == st->wide)
        return 0;
    buf->cap = st && span <= st->cap ? st->cap : grown_cap(span);
    buf->bins = gw_calloc(buf->cap, buf->wide ? 4 : 2);
    return buf->bins ? 0 : GW_ENOMEM;
}

static void plan_commit(const struct qs_plan *p, struct gw_qstore *st, struct qs_buf *buf)
{
    if (buf->bins) {
        gw_free(st->bins);
        st->bins = buf->bins;
        st->cap = buf->cap;
        st->wide = buf->wide;
        buf->bins = NULL;
    }
    store_clear(st);
    if (p->lo > p->hi)
        return;
    int32_t span = p->hi - p->lo + 1;
    st->base = p->lo - (st->cap - span) / 2;
    for (int32_t i = 0; i < span; i++)
        bin_set(st, p->lo + i, (uint32_t)p->sum[i]);
    st->lo = p->lo;
    st->hi = p->hi;
}

/*
 * Replaces the contents of s by the plans: all-or-nothing. The empty neg
 * store of a sketch that never saw a negative value is not allocated.
 */
static int sketch_commit(struct gw_qsketch *s, const struct qs_plan *pos, const struct qs_plan *neg,
                         uint64_t zero)
{
    struct qs_buf pbuf = {0}, nbuf = {0};
    struct gw_qstore *new_neg = NULL;
    int rc;

    if (zero > UINT32_MAX)
        return GW_ERANGE;
    rc = plan_prepare(pos, &s->pos, &pbuf);
    if (rc)
        goto out;
    rc = plan_prepare(neg, s->neg, &nbuf);
    if (rc)
        goto out;
    if (!s->neg && neg->lo <= neg->hi) {
        new_neg = gw_malloc(sizeof *new_neg);
        if (!new_neg) {
            rc = GW_ENOMEM;
            goto out;
        }
        store_init(new_neg);
        s->neg = new_neg;
        new_neg = NULL;
    }
    plan_commit(pos, &s->pos, &pbuf);
    if (s->neg)
        plan_commit(neg, s->neg, &nbuf);
    s->zero = (uint32_t)zero;
out:
    gw_free(pbuf.bins);
    gw_free(nbuf.bins);
    return rc;
}

/* Plans the union of two stores (either may be NULL) under the folding rule. */
static void plan_union(struct qs_plan *p, const struct gw_qstore *a, const struct gw_qstore *b)
{
    plan_init(p);
    plan_cover(p, a);
    plan_cover(p, b);
    plan_start(p);
    plan_add(p, a);
    plan_add(p, b);
}

int gw_qsketch_merge(struct gw_qsketch *dst, const struct gw_qsketch *src)
{
    struct qs_plan pos, neg;
    plan_union(&pos, &dst->pos, &src->pos);
    plan_union(&neg, dst->neg, src->neg);
    return sketch_commit(dst, &pos, &neg, (uint64_t)dst->zero + src->zero);
}

/* Walks the buckets in value order; fills out[i] for every rank[i] (ascending). */
struct qs_walk {
    const double *rank;
    double *out;
    size_t n, done;
    double seen;
};

/*
 * Counts one bucket (sign 0: the zeros; -1: key is a negative store's). Its
 * value is computed only when a requested rank falls in it: the inverse
 * mapping costs two cube roots, and most buckets hold no quantile.
 */
static void walk_bucket(struct qs_walk *wk, uint64_t count, int32_t key, int sign)
{
    wk->seen += (double)count;
    if (wk->done == wk->n || !(wk->seen > wk->rank[wk->done]))
        return;
    double value = sign == 0 ? 0.0 : sign < 0 ? -key_value(key) : key_value(key);
    while (wk->done < wk->n && wk->seen > wk->rank[wk->done])
        wk->out[wk->done++] = value;
}

double gw_qsketch_rank(double q, uint64_t n)
{
    /* The relative slack keeps an integer q * n (0.85 * 20) from rounding up past itself;
     * it is far above the product's rounding error and far below any fractional part a
     * probability with a few decimals can give. */
    double r = ceil(q * (double)n * (1.0 - 1e-12));
    return r < 1.0 ? 1.0 : r;
}

int gw_qsketch_quantiles(const struct gw_qsketch *s, const double *q, size_t n, double *out)
{
    double rank[8];
    struct qs_walk wk = {rank, out, n, 0, 0};
    uint64_t total = gw_qsketch_count(s);

    if (n > sizeof rank / sizeof rank[0])
        return GW_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!(q[i] >= 0.0 && q[i] <= 1.0) || (i > 0 && q[i] < q[i - 1]))
            return GW_EINVAL;
    if (total == 0)
        return GW_ENOTFOUND;
    for (size_t i = 0; i < n; i++)
        rank[i] = gw_qsketch_rank(q[i], total) - 1.0; /* 0-based */
    for (int32_t k = s->neg ? s->neg->hi : 0; s->neg && k >= s->neg->lo && wk.done < n; k--)
        walk_bucket(&wk, bin_get(s->neg, k), k, -1);
    walk_bucket(&wk, s->zero, 0, 0);
    for (int32_t k = s->pos.lo; k <= s->pos.hi && wk.done < n; k++)
        walk_bucket(&wk, bin_get(&s->pos, k), k, 1);
    return 0;
}

int gw_qsketch_quantile(const struct gw_qsketch *s, double q, double *out)
{
    return gw_qsketch_quantiles(s, &q, 1, out);
}

/* A bounded writer for the text form. */
struct qs_out {
    char *buf;
    size_t cap, len;
    int full;
};

/*
 * Appends prefix and the decimal v as one item, or marks the output full
 * when they do not fit with the NUL. Written out rather than with snprintf:
 * a store has up to 512 items and this runs for every emitted window.
 */
static void out_item(struct qs_out *o, const char *prefix, long long v)
{
    char digits[GW_NUMTEXT_MAX];
    size_t plen = strlen(prefix), dlen = gw_numtext_int(v, digits);

    if (o->full || plen + dlen >= o->cap - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, prefix, plen);
    memcpy(o->buf + o->len + plen, digits, dlen);
    o->len += plen + dlen;
    o->buf[o->len] = '\0';
}

static void format_store(struct qs_out *o, const char *tag, const struct gw_qstore *st)
{
    if (!st || store_empty(st))
        return;
    out_item(o, tag, st->lo);
    int32_t gap = 0;
    for (int32_t k = st->lo; k <= st->hi; k++) {
        uint32_t c = bin_get(st, k);
        if (c == 0) {
            gap++;
            continue;
        }
        if (gap)
            out_item(o, ",~", gap);
        out_item(o, k == st->lo ? ":" : ",", c);
        gap = 0;
    }
}

int gw_qsketch_format(const struct gw_qsketch *s, char *buf, size_t cap, size_t *out_len)
{
    struct qs_out o = {buf, cap, 0, cap == 0};
    out_item(&o, "q", 1);
    if (s->zero)
        out_item(&o, ";z", s->zero);
    format_store(&o, ";p", &s->pos);
    format_store(&o, ";n", s->neg);
    if (o.full) {
        if (cap)
            buf[0] = '\0';
        return GW_EFULL;
    }
    *out_len = o.len;
    return 0;
}

/* A strict reader for the text form. */
struct qs_in {
    const char *p;
    size_t len, pos;
    struct gw_qsketch_diag diag;
};

static int in_fail(struct qs_in *in, const char *what)
{
    if (!in->diag.what) {
        in->diag.offset = in->pos;
        in->diag.what = what;
    }
    return GW_EINVAL;
}

static int in_peek(const struct qs_in *in)
{
    return in->pos < in->len ? (unsigned char)in->p[in->pos] : -1;
}

static int in_take(struct qs_in *in, char c)
{
    if (in_peek(in) != (unsigned char)c)
        return 0;
    in->pos++;
    return 1;
}

/* A decimal number in [1, max] without sign or leading zero. */
static int in_number(struct qs_in *in, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = in->pos;
    int c;
    while ((c = in_peek(in)) >= '0' && c <= '9') {
        if (in->pos == start && c == '0')
            return in_fail(in, "number with a leading zero");
        v = v * 10 + (uint64_t)(c - '0');
        if (v > max)
            return in_fail(in, "number out of range");
        in->pos++;
    }
    if (in->pos == start)
        return in_fail(in, "number expected");
    *out = v;
    return 0;
}

static int in_key(struct qs_in *in, int32_t *out)
{
    int negative = in_take(in, '-');
    uint64_t v;
    if (!negative && in_take(in, '0')) {
        *out = 0;
        return 0;
    }
    if (in_number(in, (uint64_t)1 << 20, &v))
        return GW_EINVAL;
    int64_t key = negative ? -(int64_t)v : (int64_t)v;
    if (key < key_min() || key > key_max())
        return in_fail(in, "bucket key out of range");
    *out = (int32_t)key;
    return 0;
}

static int parse_store(struct qs_in *in, struct qs_plan *p)
{
    int32_t key;
    uint64_t n;
    int gap_last = 0;
    if (in_key(in, &key))
        return GW_EINVAL;
    if (!in_take(in, ':'))
        return in_fail(in, "':' expected after the first key");
    p->lo = key;
    for (int first = 1;; first = 0) {
        if (!first && !in_take(in, ','))
            break;
        int gap = in_take(in, '~');
        if (gap && (first || gap_last))
            return in_fail(in, "'~' not allowed here");
        if (in_number(in, gap ? GW_QSKETCH_MAX_BINS : UINT32_MAX, &n))
            return GW_EINVAL;
        if ((int64_t)key + (gap ? (int64_t)n : 1) - p->lo > GW_QSKETCH_MAX_BINS)
            return in_fail(in, "store spans too many buckets");
        if (!gap)
            p->sum[key - p->lo] = n;
        key += gap ? (int32_t)n : 1;
        gap_last = gap;
    }
    if (gap_last)
        return in_fail(in, "store ends with '~'");
    p->hi = key - 1;
    if (p->hi > key_max())
        return in_fail(in, "bucket key out of range");
    return 0;
}

int gw_qsketch_parse(struct gw_qsketch *s, const char *text, size_t len,
                     struct gw_qsketch_diag *diag)
{
    struct qs_plan pos, neg;
    struct qs_in in = {text, len, 0, {0, NULL}};
    uint64_t zero = 0;
    int section = 0; /* sections come in the order z, p, n, each at most once */
    int rc = GW_EINVAL;

    plan_init(&pos);
    plan_init(&neg);
    memset(pos.sum, 0, sizeof pos.sum);
    memset(neg.sum, 0, sizeof neg.sum);
    if (len >= GW_QSKETCH_TEXT_MAX) {
        in_fail(&in, "text too long");
        goto out;
    }
    if (!in_take(&in, 'q') || !in_take(&in, '1')) {
        in_fail(&in, "not a q1 sketch");
        goto out;
    }
    while (in.pos < len) {
        if (!in_take(&in, ';')) {
            in_fail(&in, "';' expected");
            goto out;
        }
        if (section < 1 && in_take(&in, 'z')) {
            section = 1;
            if (in_number(&in, UINT32_MAX, &zero))
                goto out;
        } else if (section < 2 && in_take(&in, 'p')) {
            section = 2;
            if (parse_store(&in, &pos))
                goto out;
        } else if (section < 3 && in_take(&in, 'n')) {
            section = 3;
            if (parse_store(&in, &neg))
                goto out;
        } else {
            in_fail(&in, "unknown or misplaced section");
            goto out;
        }
    }
    rc = sketch_commit(s, &pos, &neg, zero);
out:
    if (rc == GW_EINVAL && diag)
        *diag = in.diag;
    return rc;
}
