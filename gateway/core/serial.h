/*
 * serial.h -- the byte format of state snapshots: little-endian integers,
 * IEEE doubles, length-prefixed strings, written to a growing buffer and read
 * back with every read bounds-checked. A reader that runs past the end or
 * meets a length it cannot hold turns sticky-bad, so a decoder checks once at
 * the end instead of after every field.
 */
#ifndef CITYGATE_GW_SERIAL_H
#define CITYGATE_GW_SERIAL_H

#include <stddef.h>
#include <stdint.h>

struct gw_wbuf {
    uint8_t *buf; /* gw_malloc'ed; the caller frees it with gw_free() */
    size_t len, cap;
    int err; /* GW_ENOMEM once an append failed; later appends do nothing */
};

struct gw_rbuf {
    const uint8_t *p; /* borrowed */
    size_t left;
    int bad; /* set once a read ran past the end or a length was out of range */
};

/* The n low bytes of v, little-endian, into p[0..n) (n <= 8). Any thread. */
static inline void gw_le_store(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The little-endian integer of p[0..n) (n <= 8). Any thread. */
static inline uint64_t gw_le_load(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void gw_wbuf_init(struct gw_wbuf *w);
void gw_put_bytes(struct gw_wbuf *w, const void *p, size_t n);
void gw_put_u8(struct gw_wbuf *w, uint8_t v);
void gw_put_u32(struct gw_wbuf *w, uint32_t v);
void gw_put_u64(struct gw_wbuf *w, uint64_t v);
void gw_put_f64(struct gw_wbuf *w, double v);
/* A string as u32 length + bytes (no NUL). NULL is written as the empty string. */
void gw_put_str(struct gw_wbuf *w, const char *s);

void gw_rbuf_init(struct gw_rbuf *r, const void *p, size_t len);
void gw_get_bytes(struct gw_rbuf *r, void *out, size_t n);
uint8_t gw_get_u8(struct gw_rbuf *r);
uint32_t gw_get_u32(struct gw_rbuf *r);
uint64_t gw_get_u64(struct gw_rbuf *r);
double gw_get_f64(struct gw_rbuf *r);
/* Reads a string into out (cap bytes, NUL-terminated); longer strings make r bad. */
void gw_get_str(struct gw_rbuf *r, char *out, size_t cap);

#endif
