/*
 * receiver.h -- an HTTP receiver on loopback (libmicrohttpd, a thread per
 * connection) standing for the operator's end of the alert webhook: it
 * records every request's body, answers statuses the test scripts, and can
 * hold its answers back to keep a request in flight. One per test process.
 */
#ifndef CITYGATE_TEST_RECEIVER_H
#define CITYGATE_TEST_RECEIVER_H

#include <stddef.h>

/* Bodies of the first CU_RX_MAX_SEEN requests are kept. */
#define CU_RX_MAX_SEEN 1024

/*
 * Starts the receiver on a free port, forgetting earlier requests. It answers
 * the statuses of script (0-terminated, borrowed only during the call; NULL:
 * none) in order to the requests as they come, then 200. Fails the running
 * test fatally when it cannot start.
 */
void cu_rx_start(const unsigned *script);

/* Releases a held answer and stops the receiver (its records stay). */
void cu_rx_stop(void);

/* "http://127.0.0.1:<port>/hook": requests to another path or method, or
 * without Content-Type: application/json, are counted as bad. */
const char *cu_rx_url(void);

/* on: requests are recorded but not answered until cu_rx_hold(0). */
void cu_rx_hold(int on);

/* Waits until n requests came, at most timeout_ms; 0 when they did, else -1. */
int cu_rx_wait(size_t n, unsigned timeout_ms);

/* Requests so far (answered or being answered); with bad_requests, sets it
 * to 1 when some request was not a JSON POST to the URL's path, else 0. */
size_t cu_rx_count(int *bad_requests);

/* The body of request i (0-based), or "" when there is none. */
const char *cu_rx_body(size_t i);

#endif
