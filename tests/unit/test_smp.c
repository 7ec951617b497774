/*
 * test_smp.c -- SMP header and console framing (firmware/core/smp.c).
 *
 * Ground truth: the CRC-16/XMODEM catalogue check value (0x31c3 for
 * "123456789"), header bytes written out by hand from the Zephyr SMP
 * specification, and frames rebuilt here with OpenSSL's base64 encoder.
 * Bad input: a flipped byte (CRC), lengths too long and too short, a
 * continuation without a start, an overlong line, broken base64, console
 * text between frames; after each, the next good packet still arrives.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cu.h"
#include "smp.h"

static void test_crc(void)
{
    CU_ASSERT_EQUAL(node_smp_crc16((const uint8_t *)"123456789", 9), 0x31c3);
    CU_ASSERT_EQUAL(node_smp_crc16(NULL, 0), 0);
}

static void test_header(void)
{
    struct node_smp_hdr h = {
        .op = NODE_SMP_OP_WRITE, .ver = 1, .len = 5, .group = 1, .seq = 7, .id = 1};
    static const uint8_t want[8] = {0x0a, 0x00, 0x00, 0x05, 0x00, 0x01, 0x07, 0x01};
    uint8_t pkt[13] = {0};
    node_smp_hdr_encode(&h, pkt);
    CU_ASSERT(memcmp(pkt, want, 8) == 0);
    struct node_smp_hdr back;
    CU_ASSERT_EQUAL(node_smp_hdr_decode(pkt, sizeof pkt, &back), 0);
    CU_ASSERT(back.op == 2 && back.ver == 1 && back.len == 5 && back.group == 1 && back.seq == 7 &&
              back.id == 1);
    CU_ASSERT_EQUAL(node_smp_hdr_decode(pkt, sizeof pkt - 1, &back), -1);
    CU_ASSERT_EQUAL(node_smp_hdr_decode(pkt, 7, &back), -1);
}

/* Feeds text; returns the number of packets out, the last one copied to last. */
static int feed(struct node_smp_rx *rx, const char *text, size_t n, uint8_t *last, size_t *last_len)
{
    int packets = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        if (node_smp_rx_feed(rx, (uint8_t)text[i], &p, &len) == 1) {
            memcpy(last, p, len);
            *last_len = len;
            packets++;
        }
    }
    return packets;
}

static void make_packet(uint8_t *pkt, size_t len, unsigned seed)
{
    struct node_smp_hdr h = {.op = NODE_SMP_OP_READ, .len = (uint16_t)(len - 8), .group = 1};
    node_smp_hdr_encode(&h, pkt);
    for (size_t i = 8; i < len; i++)
        pkt[i] = (uint8_t)(i * 31 + seed);
}

static void test_frames_by_hand(void)
{
    /* A 10-byte packet: one frame, "\x06\x09" + base64(len 12 | packet | crc) + "\n". */
    uint8_t pkt[10], raw[14];
    make_packet(pkt, sizeof pkt, 1);
    uint16_t crc = node_smp_crc16(pkt, sizeof pkt);
    raw[0] = 0, raw[1] = 12;
    memcpy(raw + 2, pkt, 10);
    raw[12] = (uint8_t)(crc >> 8), raw[13] = (uint8_t)crc;
    char want[64] = "\x06\x09";
    int n = EVP_EncodeBlock((unsigned char *)want + 2, raw, sizeof raw);
    want[2 + n] = '\n';
    char got[64];
    size_t len = node_smp_serial_encode(pkt, sizeof pkt, got, sizeof got);
    CU_ASSERT_EQUAL(len, (size_t)n + 3);
    CU_ASSERT(memcmp(got, want, len) == 0);
}

static void test_round_trip(void)
{
    static const size_t sizes[] = {8,  9,  10,  11,  86,   87,
                                   88, 89, 176, 512, 1000, NODE_SMP_MAX_PACKET};
    size_t cap = node_smp_serial_encoded_size(NODE_SMP_MAX_PACKET);
    char *text = malloc(cap);
    uint8_t *pkt = malloc(NODE_SMP_MAX_PACKET), *out = malloc(NODE_SMP_MAX_PACKET);
    CU_ASSERT_FATAL(text && pkt && out);
    struct node_smp_rx rx;
    node_smp_rx_init(&rx);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        make_packet(pkt, sizes[s], (unsigned)s);
        size_t n = node_smp_serial_encode(pkt, sizes[s], text, cap);
        CU_ASSERT_FATAL(n == node_smp_serial_encoded_size(sizes[s]));
        /* Every frame: a prefix, at most 127 bytes with its newline. */
        size_t line_start = 0, lines = 0;
        for (size_t i = 0; i < n; i++) {
            if (text[i] != '\n')
                continue;
            CU_ASSERT(i + 1 - line_start <= NODE_SMP_FRAME_MAX);
            CU_ASSERT(lines == 0 ? text[line_start] == 0x06 && text[line_start + 1] == 0x09
                                 : text[line_start] == 0x04 && text[line_start + 1] == 0x14);
            line_start = i + 1;
            lines++;
        }
        size_t got_len = 0;
        CU_ASSERT_EQUAL(feed(&rx, text, n, out, &got_len), 1);
        CU_ASSERT(got_len == sizes[s] && memcmp(out, pkt, got_len) == 0);
    }
    CU_ASSERT_EQUAL(node_smp_serial_encode(pkt, NODE_SMP_MAX_PACKET + 1, text, cap), 0);
    CU_ASSERT_EQUAL(node_smp_serial_encode(pkt, 100, text, 10), 0);
    free(text);
    free(pkt);
    free(out);
}

static void test_bad_input(void)
{
    char text[4096], good[512];
    uint8_t pkt[300], out[NODE_SMP_MAX_PACKET];
    size_t out_len;
    struct node_smp_rx rx;
    node_smp_rx_init(&rx);
    make_packet(pkt, sizeof pkt, 9);
    size_t gn = node_smp_serial_encode(pkt, sizeof pkt, good, sizeof good);

    /* A flipped bit inside the body (a base64 letter changed to another). */
    memcpy(text, good, gn);
    text[20] = text[20] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(feed(&rx, text, gn, out, &out_len), 0);
    CU_ASSERT_EQUAL(rx.bad_crc, 1);
    CU_ASSERT_EQUAL(feed(&rx, good, gn, out, &out_len), 1);

    /* Console text between the frames of a packet is ignored. */
    size_t first_nl = (size_t)((char *)memchr(good, '\n', gn) - good) + 1;
    size_t n = 0;
    memcpy(text, good, first_nl), n = first_nl;
    n += (size_t)snprintf(text + n, sizeof text - n, "uart:~$ log line\n\n");
    memcpy(text + n, good + first_nl, gn - first_nl), n += gn - first_nl;
    CU_ASSERT_EQUAL(feed(&rx, text, n, out, &out_len), 1);
    CU_ASSERT(out_len == sizeof pkt && memcmp(out, pkt, out_len) == 0);

    /* A continuation without a start; a start whose length is above the cap or below a header. */
    CU_ASSERT_EQUAL(feed(&rx, good + first_nl, gn - first_nl, out, &out_len), 0);
    CU_ASSERT(rx.bad_frame >= 1);
    static const uint8_t huge[3] = {0xff, 0xff, 0x00}, tiny[3] = {0x00, 0x03, 0x00};
    char line[16] = "\x06\x09";
    EVP_EncodeBlock((unsigned char *)line + 2, huge, 3);
    line[6] = '\n';
    CU_ASSERT_EQUAL(feed(&rx, line, 7, out, &out_len), 0);
    EVP_EncodeBlock((unsigned char *)line + 2, tiny, 3);
    line[6] = '\n'; /* EVP_EncodeBlock wrote a NUL there */
    CU_ASSERT_EQUAL(feed(&rx, line, 7, out, &out_len), 0);
    CU_ASSERT_EQUAL(rx.bad_length, 2);

    /* A packet longer than its length field: the first frame says 10 bytes, two frames follow. */
    uint8_t small[8];
    make_packet(small, 8, 0);
    char sm[64];
    size_t sn = node_smp_serial_encode(small, 8, sm, sizeof sm);
    memcpy(text, sm, sn - 1);
    n = sn - 1;
    text[n++] = '\n';
    memcpy(text + n, good + first_nl, gn - first_nl), n += gn - first_nl;
    uint64_t before = rx.bad_frame + rx.bad_length;
    CU_ASSERT_EQUAL(feed(&rx, text, n, out, &out_len), 1); /* the small one, then a dropped rest */
    CU_ASSERT(rx.bad_frame + rx.bad_length > before);

    /* Broken base64 and an overlong SMP line. */
    memcpy(text, good, gn);
    text[5] = '*';
    CU_ASSERT_EQUAL(feed(&rx, text, gn, out, &out_len), 0);
    memset(text, 'A', 300);
    text[0] = 0x06, text[1] = 0x09, text[300] = '\n';
    before = rx.bad_frame;
    CU_ASSERT_EQUAL(feed(&rx, text, 301, out, &out_len), 0);
    CU_ASSERT_EQUAL(rx.bad_frame, before + 1);
    /* Still in step. */
    CU_ASSERT_EQUAL(feed(&rx, good, gn, out, &out_len), 1);
    CU_ASSERT(out_len == sizeof pkt && memcmp(out, pkt, out_len) == 0);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"CRC-16/ITU-T check value", test_crc},
        {"header bytes", test_header},
        {"a frame built by hand", test_frames_by_hand},
        {"framing round trip", test_round_trip},
        {"bad input is dropped and counted", test_bad_input},
        {NULL, NULL},
    };
    return cu_main("smp", tests);
}
