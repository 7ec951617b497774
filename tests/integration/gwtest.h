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

#include "wire.h"

struct gwt {
    char dir[256];
    char config[300];
    char registry[300];
    char log[300];
    char citygate[512];
    char http[64];
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

/* Starts citygate and waits until it is connected to the broker. */
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

/* Polls the sample until it is >= want or timeout_ms pass; returns the last value. */
double gwt_wait_metric(const struct gwt *t, const char *sample, double want, int timeout_ms);

/* Runs an InfluxQL query on the test database; caller frees with json_decref(). */
json_t *gwt_query(const struct gwt *t, const char *q);

/* The rows of results[0].series[0].values of a query result, or NULL. */
json_t *gwt_rows(json_t *result);

/* Wall clock in ms. */
uint64_t gwt_now_ms(void);

/* Sleeps ms (to pace a publisher, never to wait for a result). */
void gwt_pause_ms(int ms);

#endif
