/*
 * gwtest.h -- what the gateway's integration tests share: a temporary
 * deployment (registry, configuration, journal) around a real citygate
 * process, signed frames with chosen values, a Paho publisher, and reads of
 * /metrics and of InfluxDB. Runs under tools/services, which provides the
 * broker and the store.
 */
#ifndef CITYGATE_TEST_GWTEST_H
#define CITYGATE_TEST_GWTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <MQTTClient.h>
#include <jansson.h>

#include "cu.h"
#include "wire.h"

struct gwt {
    char dir[256];
    char config[300];
    char registry[300];
    char log[300];
    char citygate[512];
    char http[64];      /* "127.0.0.1:PORT" of the running citygate (gwt_start()) */
    char https_ca[300]; /* set before gwt_start(): the gateway serves HTTPS, trusted with this CA */
    char database[64];
    int n_devices, n_sites;
    pid_t pid;
    MQTTClient pub;
    uint64_t published;
    _Atomic uint64_t delivered; /* PUBACKs received by the publisher */
};

/* One reading of a test frame. */
struct gwt_reading {
    int quantity; /* Citygate__V1__Quantity */
    double value;
    uint32_t lane;
    int quality; /* 0 means GOOD */
};

/*
 * Prepares a deployment of n_devices devices ("node-0000".., on sites
 * "site-00".."site-<n_sites-1>") in a fresh folder, with extra_config (may be
 * NULL) appended to the configuration. citygate is the binary's path.
 */
void gwt_init(struct gwt *t, const char *citygate, int n_devices, int n_sites,
              const char *extra_config);

/*
 * Starts citygate and waits until it is connected to the broker. Each start
 * listens on a port of the kernel's choosing: t->http is set here.
 */
void gwt_start(struct gwt *t);

/* Sends sig to citygate and waits for it to exit; returns its exit status (or 128+signal). */
int gwt_stop(struct gwt *t, int sig);

/* Stops everything and removes the folder. */
void gwt_fini(struct gwt *t);

/* Device i's id, site and key. */
void gwt_device(const struct gwt *t, int i, char id[16], char site[16]);
void gwt_key(int i, uint8_t key[32]);

/* Encodes a signed frame of device i. Returns its length. */
size_t gwt_frame(const struct gwt *t, int device, uint64_t boot, uint64_t seq, uint64_t ts_ms,
                 const struct gwt_reading *r, size_t n, uint8_t *out, size_t cap);

/* The data topic of device i. */
void gwt_topic(const struct gwt *t, int device, char *out, size_t cap);

/* Publishes at QoS 1 without waiting (up to 1000 unacknowledged). */
void gwt_publish(struct gwt *t, const char *topic, const void *payload, size_t len);

/* Waits until the broker acknowledged everything published. */
void gwt_publish_wait(struct gwt *t);

/* A sample of /metrics ("citygate_frames_accepted_total" or with labels); -1 if absent. */
double gwt_metric(const struct gwt *t, const char *sample);

/* /api/v1/live parsed; caller frees with json_decref(); NULL when it did not answer JSON. */
json_t *gwt_live(const struct gwt *t);

/*
 * The first event of /api/v1/events, the snapshot (its "nodes" hold each
 * registered node's accepted "frames"), parsed; caller frees with
 * json_decref(); NULL when none came within 10 s.
 */
json_t *gwt_snapshot(const struct gwt *t);

/* Polls the sample until it is >= want or timeout_ms pass; returns the last value. */
double gwt_wait_metric(const struct gwt *t, const char *sample, double want, int timeout_ms);

/* Runs an InfluxQL query on the test database; caller frees with json_decref(). */
json_t *gwt_query(const struct gwt *t, const char *q);

/* The rows of results[0].series[0].values of a query result, or NULL. */
json_t *gwt_rows(json_t *result);

/* A loopback TCP port nobody listens on now. */
unsigned gwt_free_port(void);

/* Wall clock in ms. */
uint64_t gwt_now_ms(void);

/* Monotonic clock in ns (CLOCK_MONOTONIC), for latencies. */
uint64_t gwt_mono_ns(void);

/*
 * The main() of a scenario run as "test CITYGATE": stores argv[1] in
 * *citygate, then runs tests (NULL-terminated) as suite with libcurl set up.
 * Returns the exit code (64 on a wrong command line).
 */
int gwt_main(int argc, char **argv, const char *suite, const struct cu_test *tests,
             const char **citygate);

/* ---- frames a test breaks on purpose ---- */

/*
 * What gwt_frame() signs, before signing, so that a test can change a field.
 * It points into itself: fill it in place and do not copy it.
 */
struct gwt_parts {
    Citygate__V1__Frame f;
    Citygate__V1__Reading rs[64], *rp[64];
    char id[16], site[16], sensor[64][16];
};

/* Fills *p with the frame gwt_frame() would encode for the same arguments. */
void gwt_frame_parts(const struct gwt *t, int device, uint64_t boot, uint64_t seq, uint64_t ts_ms,
                     const struct gwt_reading *r, size_t n, struct gwt_parts *p);

/* Encodes f (borrowed) signed with device key_device's key. Returns its length. */
size_t gwt_frame_sign(int key_device, const Citygate__V1__Frame *f, uint8_t *out, size_t cap);

/*
 * A frame envelope around any body (borrowed): "CG", major, minor 0, id,
 * body_len, body, and the HMAC-SHA256 of device key_device's key, so that a
 * test can sign what wire_encode() never would. Returns its length.
 */
size_t gwt_envelope(int key_device, const char *id, uint8_t major, const uint8_t *body,
                    size_t body_len, uint8_t *out, size_t cap);

/*
 * A status message of device (its id and site) for boot, a birth when alive
 * else a death, signed with device key_device's key. Returns its length.
 */
size_t gwt_status(const struct gwt *t, int device, int key_device, uint64_t boot, int alive,
                  uint8_t *out, size_t cap);

/* Publishes a retained message at QoS 1 without waiting (counted like gwt_publish()). */
void gwt_publish_retained(struct gwt *t, const char *topic, const void *payload, size_t len);

/* 1 when /healthz answers and says the broker is connected, else 0. */
int gwt_healthy(const struct gwt *t);

/* GETs path ("/readyz") from the gateway: returns the HTTP status (0 when
 * there was no answer) and, when body is not NULL, the body (caller frees;
 * may be NULL). */
int gwt_http(const struct gwt *t, const char *path, char **body);

/* An answer of the gateway: status 0 when there was none. */
struct gwt_reply {
    int status;
    char *headers; /* the header lines as received, status line first */
    char *body;
    size_t body_len;
};

/*
 * Sends method ("GET", "HEAD", "POST") for path to the gateway with the extra
 * header lines (NULL-terminated; may be NULL) and body (may be NULL); fills
 * *r (free with gwt_reply_free()).
 */
void gwt_request(const struct gwt *t, const char *method, const char *path,
                 const char *const *headers, const char *body, struct gwt_reply *r);
void gwt_reply_free(struct gwt_reply *r);

/* 1 while the citygate process runs (not exited, not killed), else 0. */
int gwt_running(struct gwt *t);

/* 1 when citygate's log holds needle ("runtime error"), else 0. */
int gwt_log_contains(const struct gwt *t, const char *needle);

/* Polls citygate's log for needle up to timeout_ms; 1 when it appeared. */
int gwt_wait_log(const struct gwt *t, const char *needle, int timeout_ms);

/*
 * Runs q until its first series has exactly n_rows rows and the gateway has no
 * store lines pending, or timeout_ms pass. Returns the last result (caller
 * frees with json_decref(); may be NULL).
 */
json_t *gwt_wait_rows(const struct gwt *t, const char *q, size_t n_rows, int timeout_ms);

/* ---- a subscriber that keeps what it receives ---- */

/* One message, as received. */
struct gwt_msg {
    char *topic;
    char *payload; /* NUL-terminated copy */
    size_t len;
    int retained;
    uint64_t arrived_ns; /* gwt_mono_ns() in the arrival callback */
    json_t *json;        /* the payload parsed as JSON, or NULL */
};

struct gwt_sub;

/*
 * Connects a client (clean session) and subscribes to filter at QoS 1; every
 * message is kept, in arrival order, until gwt_sub_free(). Runs under
 * tools/services.
 */
struct gwt_sub *gwt_sub_new(const char *client_id, const char *filter);

/*
 * gwt_sub_new() with a persistent session (clean session off), so that the
 * broker keeps what is published for it while it is away, and a broker
 * with persistence across its own restart.
 */
struct gwt_sub *gwt_sub_new_persistent(const char *client_id, const char *filter);

/*
 * Connects s again (after the broker came back), trying for up to
 * timeout_ms. Returns MQTTCLIENT_SUCCESS or Paho's last code.
 */
int gwt_sub_reconnect(struct gwt_sub *s, int timeout_ms);

/* Disconnects and frees s and its messages; NULL is a no-op. */
void gwt_sub_free(struct gwt_sub *s);

/* Messages received so far. */
size_t gwt_sub_count(struct gwt_sub *s);

/* Waits until at least n messages arrived or timeout_ms pass; returns the count. */
size_t gwt_sub_wait(struct gwt_sub *s, size_t n, int timeout_ms);

/* Message i in arrival order (valid until gwt_sub_free()), or NULL if not there yet. */
const struct gwt_msg *gwt_sub_msg(struct gwt_sub *s, size_t i);

/* A string member of a message's JSON payload, or "" when absent. */
const char *gwt_msg_str(const struct gwt_msg *m, const char *key);

/* ---- a real citynode ---- */

/*
 * Writes the provisioning file of a citynode for device i of t (its id,
 * site and key, the broker, a frame every 200 ms, a 1 MiB ring in t's
 * folder), with node_extra (INI lines, may be NULL) added to its [node]
 * section and sensors (INI sections) after it. Returns its path, valid
 * until the next call.
 */
const char *gwt_node_provision(const struct gwt *t, int device, const char *node_extra,
                               const char *sensors);

/* Starts citynode (its binary) with config, stderr to citynode.log in t's folder; returns its pid.
 */
pid_t gwt_node_start(const struct gwt *t, const char *citynode, const char *config);

/* ---- the test's own aggregate of a series' window ---- */

struct gwt_agg {
    unsigned count;
    double sum, min, max;
};

/* Folds v into a. */
void gwt_agg_add(struct gwt_agg *a, double v);

/*
 * Compares a store row whose columns from col on are count, sum, min, max,
 * mean with a (sums and means to 1e-9 relative). Returns the number of
 * differences; with assert set, each one is a failed assertion.
 */
int gwt_agg_check(const struct gwt_agg *a, json_t *row, size_t col, int assert);

/* Sleeps ms (to pace a publisher, never to wait for a result). */
void gwt_pause_ms(int ms);

#endif
