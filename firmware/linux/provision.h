/*
 * provision.h -- the node's provisioning file: identity, key, broker, ring
 * and sensors, in INI (libinih). Reference: docs/firmware.md.
 */
#ifndef CITYGATE_PROVISION_H
#define CITYGATE_PROVISION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "driver.h"

#define PROV_MAX_SENSORS 64
#define PROV_MAX_PARAMS 32
#define PROV_MAX_STR 192

struct prov_sensor {
    char name[65];
    char driver[65];
    int line;                                 /* where the section starts, for messages */
    struct drv_param params[PROV_MAX_PARAMS]; /* point into keys/values below */
    char keys[PROV_MAX_PARAMS][64];
    char values[PROV_MAX_PARAMS][PROV_MAX_STR];
    size_t n_params;
};

struct prov {
    char id[65], site[65];
    uint8_t key[64];
    size_t key_len;
    char broker[PROV_MAX_STR], username[PROV_MAX_STR], password[PROV_MAX_STR];
    char ca_file[PROV_MAX_STR], cert_file[PROV_MAX_STR], key_file[PROV_MAX_STR];
    char ring_path[PROV_MAX_STR];
    uint64_t interval_ms, ring_bytes, sync_interval_ms, drain_per_s, drain_burst, max_inflight;
    uint64_t max_frame_bytes, reconnect_min_ms, reconnect_max_ms, keepalive_s;
    uint64_t confirm_frames; /* a trial image confirms itself after this many (main.c) */
    struct prov_sensor sensors[PROV_MAX_SENSORS];
    size_t n_sensors;
};

/* Where a provisioning file is wrong. Parsers never log. */
struct prov_diag {
    int line; /* 0 when not about one line */
    char text[200];
};

/*
 * Reads and validates the provisioning file at path into *out (caller
 * storage, fully overwritten). Returns 0, or -1 with diag filled (line and
 * what was wrong). Main thread.
 */
int prov_load(const char *path, struct prov *out, struct prov_diag *diag);

/* Prints the keys of [node] with their defaults, ranges and help to f. */
void prov_print_keys(FILE *f);

#endif
