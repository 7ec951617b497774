/*
 * smp.h -- MCUmgr's Simple Management Protocol: the 8-byte header and the
 * serial (console) framing, portable.
 *
 * Header (Zephyr "SMP Protocol Specification", big-endian):
 *
 *     byte 0: Res (3 bits) | Ver (2 bits) | OP (3 bits)
 *     byte 1: flags   bytes 2-3: data length   bytes 4-5: group id
 *     byte 6: sequence number   byte 7: command id   then the CBOR data
 *
 * Serial framing (mcumgr transport/smp-console.md, Zephyr "SMP Transport
 * Specification"): a packet is its 16-bit big-endian length (body + 2),
 * the body (header and CBOR) and a CRC16 of the body (CRC-16/ITU-T: poly
 * 0x1021, initial value 0, as Zephyr's crc16_itu_t), base64-encoded and cut
 * into newline-terminated frames of at most 127 bytes: the first starts with
 * 0x06 0x09, the rest with 0x04 0x14. Anything else on the line (a log, a
 * shell) is ignored, as on a real console.
 *
 * No allocation, no OS call; one receiver is used by one thread at a time.
 */
#ifndef CITYGATE_NODE_SMP_H
#define CITYGATE_NODE_SMP_H

#include <stddef.h>
#include <stdint.h>

#define NODE_SMP_HDR_BYTES 8
/* The largest packet (header + data) either side sends or accepts. */
#define NODE_SMP_MAX_PACKET 2048
/* A console frame's cap, prefix and newline included. */
#define NODE_SMP_FRAME_MAX 127

enum node_smp_op {
    NODE_SMP_OP_READ = 0,
    NODE_SMP_OP_READ_RSP = 1,
    NODE_SMP_OP_WRITE = 2,
    NODE_SMP_OP_WRITE_RSP = 3,
};

enum node_smp_group {
    NODE_SMP_GROUP_OS = 0,
    NODE_SMP_GROUP_IMAGE = 1,
    NODE_SMP_GROUP_CITY = 64, /* ours: provisioning (the first per-user group id) */
};

struct node_smp_hdr {
    uint8_t op;  /* enum node_smp_op */
    uint8_t ver; /* 0 or 1 (SMP version 2) */
    uint8_t flags;
    uint16_t len; /* data bytes after the header */
    uint16_t group;
    uint8_t seq;
    uint8_t id;
};

void node_smp_hdr_encode(const struct node_smp_hdr *h, uint8_t out[NODE_SMP_HDR_BYTES]);

/*
 * Reads the header of the packet pkt (len bytes, borrowed). Returns 0, or -1
 * when the packet is shorter than a header or its data length does not
 * match (a packet is never trusted to say its own size).
 */
int node_smp_hdr_decode(const uint8_t *pkt, size_t len, struct node_smp_hdr *h);

/* CRC-16/ITU-T (XMODEM): poly 0x1021, initial value 0, no reflection. */
uint16_t node_smp_crc16(const uint8_t *data, size_t len);

/*
 * Frames the packet pkt (len bytes, at most NODE_SMP_MAX_PACKET) for a
 * console into out (cap bytes). Returns the bytes written, or 0 when out is
 * too small or the packet too large.
 */
size_t node_smp_serial_encode(const uint8_t *pkt, size_t len, char *out, size_t cap);

/* The bytes node_smp_serial_encode() needs for a packet of len bytes. */
size_t node_smp_serial_encoded_size(size_t len);

/* A console receiver: feed it bytes, it hands out whole packets whose CRC checked. */
struct node_smp_rx {
    char line[NODE_SMP_FRAME_MAX + 1];
    size_t line_len;
    int line_bad; /* the line ran past the frame cap: dropped when it ends */
    uint8_t pkt[NODE_SMP_MAX_PACKET + 4];
    size_t have; /* bytes of pkt (length field included) so far */
    size_t want; /* total bytes of the packet being received; 0: none */
    /* Dropped, by reason. */
    uint64_t bad_crc, bad_length, bad_frame;
};

void node_smp_rx_init(struct node_smp_rx *rx);

/*
 * Feeds one byte. Returns 1 when it completed a packet (header and data, CRC
 * removed): *pkt and *len then point into rx until the next call; 0 when
 * more is needed; -1 when a frame or packet was dropped (and counted).
 */
int node_smp_rx_feed(struct node_smp_rx *rx, uint8_t byte, const uint8_t **pkt, size_t *len);

#endif
