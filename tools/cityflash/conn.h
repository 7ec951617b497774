/*
 * conn.h -- cityflash's side of the management port: one SMP request, one
 * response, over UDP or a serial line (`--conn udp:HOST:PORT`,
 * `--conn serial:/dev/ttyUSB0[,BAUD]`).
 */
#ifndef CITYGATE_CITYFLASH_CONN_H
#define CITYGATE_CITYFLASH_CONN_H

#include <stdint.h>

#include <cbor.h>

#include "smp.h"

struct cf_conn {
    int fd;
    int serial; /* console framing (else one datagram per packet) */
    uint8_t seq;
    struct node_smp_rx rx;
    uint64_t timeout_ms; /* per attempt */
    int attempts;
};

/* Opens spec; returns 0, or -1 with a plain-language reason in err. */
int cf_conn_open(struct cf_conn *c, const char *spec, char *err, size_t cap);
void cf_conn_close(struct cf_conn *c);

/*
 * Sends {group, id, op} with the map req (borrowed; NULL for none) and waits
 * for the matching response, resending on timeout. On success returns 0 and
 * *rsp (caller frees with cbor_decref); -1 with a reason in err when the node
 * did not answer or answered garbage.
 */
int cf_conn_call(struct cf_conn *c, uint16_t group, uint8_t id, int write, const cbor_item_t *req,
                 cbor_item_t **rsp, char *err, size_t cap);

#endif
