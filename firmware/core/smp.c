/*
 * smp.c -- MCUmgr's Simple Management Protocol: header and serial framing.
 *
 * Each console frame's base64 text stands alone (the encoder cuts the raw
 * packet at multiples of 3 bytes, so only the last frame has padding), which
 * is what Zephyr's serial transport sends and accepts. The receiver works a
 * line at a time: a line that is not an SMP frame is ignored, a frame that
 * does not decode, a continuation without a start, a length above the cap or
 * a packet longer than its length field drops the packet in progress, and a
 * CRC mismatch drops the packet; each is counted.
 */
#include "smp.h"

#include <string.h>

/* 90 raw bytes -> 120 base64 characters + 2 prefix + newline = 123 <= 127. */
#define RAW_PER_FRAME 90

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void node_smp_hdr_encode(const struct node_smp_hdr *h, uint8_t out[NODE_SMP_HDR_BYTES])
{
    out[0] = (uint8_t)(((h->ver & 0x3) << 3) | (h->op & 0x7));
    out[1] = h->flags;
    out[2] = (uint8_t)(h->len >> 8);
    out[3] = (uint8_t)h->len;
    out[4] = (uint8_t)(h->group >> 8);
    out[5] = (uint8_t)h->group;
    out[6] = h->seq;
    out[7] = h->id;
}

int node_smp_hdr_decode(const uint8_t *pkt, size_t len, struct node_smp_hdr *h)
{
    if (len < NODE_SMP_HDR_BYTES)
        return -1;
    struct node_smp_hdr d = {
        .op = pkt[0] & 0x7,
        .ver = (pkt[0] >> 3) & 0x3,
        .flags = pkt[1],
        .len = (uint16_t)(pkt[2] << 8 | pkt[3]),
        .group = (uint16_t)(pkt[4] << 8 | pkt[5]),
        .seq = pkt[6],
        .id = pkt[7],
    };
    if ((size_t)d.len != len - NODE_SMP_HDR_BYTES)
        return -1;
    *h = d;
    return 0;
}

uint16_t node_smp_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decodes one frame's base64 text; returns the bytes written or -1. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t o = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(in[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t x =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t bytes[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
        for (int k = 0; k < 3 - pad; k++) {
            if (o == cap)
                return -1;
            out[o++] = bytes[k];
        }
    }
    return (int)o;
}

size_t node_smp_serial_encoded_size(size_t len)
{
    size_t raw = len + 4, frames = (raw + RAW_PER_FRAME - 1) / RAW_PER_FRAME;
    return frames * 3 + (raw + 2) / 3 * 4;
}

size_t node_smp_serial_encode(const uint8_t *pkt, size_t len, char *out, size_t cap)
{
    uint8_t raw[NODE_SMP_MAX_PACKET + 4];
    if (len > NODE_SMP_MAX_PACKET || node_smp_serial_encoded_size(len) > cap)
        return 0;
    uint16_t crc = node_smp_crc16(pkt, len);
    raw[0] = (uint8_t)((len + 2) >> 8);
    raw[1] = (uint8_t)(len + 2);
    memcpy(raw + 2, pkt, len);
    raw[len + 2] = (uint8_t)(crc >> 8);
    raw[len + 3] = (uint8_t)crc;
    size_t o = 0, total = len + 4;
    for (size_t at = 0; at < total; at += RAW_PER_FRAME) {
        size_t n = total - at < RAW_PER_FRAME ? total - at : RAW_PER_FRAME;
        out[o++] = at == 0 ? 0x06 : 0x04;
        out[o++] = at == 0 ? 0x09 : 0x14;
        o += b64_encode(raw + at, n, out + o);
        out[o++] = '\n';
    }
    return o;
}

void node_smp_rx_init(struct node_smp_rx *rx)
{
    memset(rx, 0, sizeof *rx);
}

static int drop(struct node_smp_rx *rx, uint64_t *counter)
{
    (*counter)++;
    rx->want = 0;
    rx->have = 0;
    return -1;
}

/* One whole line (without its newline). */
static int take_line(struct node_smp_rx *rx, const uint8_t **pkt, size_t *len)
{
    const char *l = rx->line;
    size_t n = rx->line_len;
    if (n > 0 && l[n - 1] == '\r')
        n--;
    if (n < 2)
        return 0;
    int start = l[0] == 0x06 && l[1] == 0x09;
    int cont = l[0] == 0x04 && l[1] == 0x14;
    if (!start && !cont)
        return 0; /* not ours: console text */
    if (start)
        rx->want = rx->have = 0;
    else if (rx->want == 0)
        return drop(rx, &rx->bad_frame); /* a continuation of nothing */
    size_t room = sizeof rx->pkt - rx->have;
    int got = b64_decode(l + 2, n - 2, rx->pkt + rx->have, room);
    if (got < 0)
        return drop(rx, &rx->bad_frame);
    rx->have += (size_t)got;
    if (start) {
        if (rx->have < 2)
            return drop(rx, &rx->bad_length);
        size_t plen = (size_t)(rx->pkt[0] << 8 | rx->pkt[1]);
        if (plen < NODE_SMP_HDR_BYTES + 2 || plen > NODE_SMP_MAX_PACKET + 2)
            return drop(rx, &rx->bad_length);
        rx->want = plen + 2;
    }
    if (rx->have > rx->want)
        return drop(rx, &rx->bad_length);
    if (rx->have < rx->want)
        return 0;
    size_t body = rx->want - 4;
    uint16_t crc = (uint16_t)(rx->pkt[2 + body] << 8 | rx->pkt[3 + body]);
    rx->want = rx->have = 0;
    if (node_smp_crc16(rx->pkt + 2, body) != crc)
        return drop(rx, &rx->bad_crc);
    *pkt = rx->pkt + 2;
    *len = body;
    return 1;
}

int node_smp_rx_feed(struct node_smp_rx *rx, uint8_t byte, const uint8_t **pkt, size_t *len)
{
    if (byte != '\n') {
        if (rx->line_len < NODE_SMP_FRAME_MAX - 1) /* the newline is the 127th */
            rx->line[rx->line_len++] = (char)byte;
        else
            rx->line_bad = 1;
        return 0;
    }
    int bad = rx->line_bad;
    int smp = rx->line_len >= 2 && ((rx->line[0] == 0x06 && rx->line[1] == 0x09) ||
                                    (rx->line[0] == 0x04 && rx->line[1] == 0x14));
    int rc = 0;
    if (bad && smp)
        rc = drop(rx, &rx->bad_frame); /* an SMP frame over the cap */
    else if (!bad)
        rc = take_line(rx, pkt, len);
    rx->line_len = 0;
    rx->line_bad = 0;
    return rc;
}
