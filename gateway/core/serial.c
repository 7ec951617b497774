/*
 * serial.c -- snapshot byte format helpers (see serial.h).
 */
#include "serial.h"

#include <string.h>

#include "alloc.h"
#include "err.h"

void gw_wbuf_init(struct gw_wbuf *w)
{
    memset(w, 0, sizeof *w);
}

void gw_put_bytes(struct gw_wbuf *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *grown = gw_realloc(w->buf, cap);
        if (!grown) {
            w->err = GW_ENOMEM;
            return;
        }
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_le(struct gw_wbuf *w, uint64_t v, int n)
{
    uint8_t b[8];
    gw_le_store(b, v, n);
    gw_put_bytes(w, b, (size_t)n);
}

void gw_put_u8(struct gw_wbuf *w, uint8_t v)
{
    put_le(w, v, 1);
}

void gw_put_u32(struct gw_wbuf *w, uint32_t v)
{
    put_le(w, v, 4);
}

void gw_put_u64(struct gw_wbuf *w, uint64_t v)
{
    put_le(w, v, 8);
}

void gw_put_f64(struct gw_wbuf *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_le(w, u, 8);
}

void gw_put_str(struct gw_wbuf *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    gw_put_u32(w, (uint32_t)n);
    gw_put_bytes(w, s, n);
}

void gw_rbuf_init(struct gw_rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->left = len;
    r->bad = 0;
}

void gw_get_bytes(struct gw_rbuf *r, void *out, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
}

static uint64_t get_le(struct gw_rbuf *r, int n)
{
    uint8_t b[8];
    gw_get_bytes(r, b, (size_t)n);
    return gw_le_load(b, n);
}

uint8_t gw_get_u8(struct gw_rbuf *r)
{
    return (uint8_t)get_le(r, 1);
}

uint32_t gw_get_u32(struct gw_rbuf *r)
{
    return (uint32_t)get_le(r, 4);
}

uint64_t gw_get_u64(struct gw_rbuf *r)
{
    return get_le(r, 8);
}

double gw_get_f64(struct gw_rbuf *r)
{
    uint64_t u = get_le(r, 8);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

void gw_get_str(struct gw_rbuf *r, char *out, size_t cap)
{
    uint32_t n = gw_get_u32(r);
    if (r->bad || n >= cap || n > r->left) {
        r->bad = 1;
        if (cap)
            out[0] = '\0';
        return;
    }
    gw_get_bytes(r, out, n);
    out[n] = '\0';
}
