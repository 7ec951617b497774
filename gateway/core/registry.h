/*
 * registry.h -- the device registry: which devices exist, their keys, sites,
 * sensors and per-device range overrides, parsed from INI text in memory.
 *
 * A registry is immutable once built, so that the gateway can build a new one
 * on SIGHUP and swap the pointer: readers never see a half-loaded table. Any
 * number of threads may read one registry at the same time; building and
 * freeing belong to one thread.
 *
 * Format (docs/data-model.md, "Device registry"):
 *
 *     [device node-0001]
 *     site = ring-north
 *     key = 000102...1f              ; hex, 16..64 bytes
 *     sensors = loop-1,loop-2        ; optional; the sensor ids the node was provisioned with
 *     range.SPEED = 0..250           ; optional; replaces the physical range of SPEED
 *
 *     [site ring-north]              ; optional: what tools need to know of a site
 *     zone = Europe/Madrid           ; its IANA time zone, for local days in reports
 *     free_flow_kmh = 110            ; its free-flow speed, for the live page's state
 *
 * Lines are at most 197 characters (the 200-byte line buffer of Debian's libinih
 * holds the line, its CR LF and a NUL); a longer line is an error, never split.
 */
#ifndef CITYGATE_GW_REGISTRY_H
#define CITYGATE_GW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "validate.h"
#include "wire.h"

#define GW_REGISTRY_MAX_DEVICES 1000000
#define GW_REGISTRY_MAX_SENSORS 32
#define GW_REGISTRY_MAX_ZONE 64
#define GW_REGISTRY_FREE_FLOW_KMH 50.0 /* a site's free-flow speed when its section gives none */
#define GW_REGISTRY_FREE_FLOW_MIN 5.0  /* free_flow_kmh's range, km/h */
#define GW_REGISTRY_FREE_FLOW_MAX 200.0

/* A range override: GOOD values of quantity must lie in [min, max]. */
struct gw_range {
    int quantity; /* Citygate__V1__Quantity */
    double min, max;
};

/* One device. Read-only; lives as long as its registry. */
struct gw_device {
    char id[WIRE_MAX_DEVICE_ID + 1];
    char site[GW_MAX_NAME + 1];
    uint8_t key[WIRE_MAX_KEY_BYTES];
    size_t key_len;
    const struct wire_hmac_key *hmac; /* key, prepared for verifying frames */
    const char *const *sensors;       /* n_sensors ids, as provisioned; none: any id */
    size_t n_sensors;
    const struct gw_range *ranges; /* n_ranges overrides, at most one per quantity */
    size_t n_ranges;
    int line; /* line of the [device ID] header, for messages */
};

/*
 * One site's section. Read-only; lives as long as its registry. The
 * gateway's live view takes its free-flow speed; tools such as cityquery
 * take its zone (the site's local days). A site has devices whether or not
 * it has a section.
 */
struct gw_site {
    char name[GW_MAX_NAME + 1];
    char zone[GW_REGISTRY_MAX_ZONE + 1]; /* IANA time zone name; "" when not given */
    double free_flow_kmh;                /* GW_REGISTRY_FREE_FLOW_KMH when not given */
    int line;                            /* line of the [site NAME] header, for messages */
};

/* Where and why the text was refused. Parsers never log. */
struct gw_registry_diag {
    int line; /* 1-based; 0 when the error is not tied to a line (out of memory) */
    char message[160];
};

struct gw_registry;

/*
 * Parses len bytes of registry text (borrowed; need not be NUL-terminated).
 * On success returns 0 and sets *out to a registry the caller frees with
 * gw_registry_free(). Otherwise returns GW_ECONFIG and fills *diag (which may
 * be NULL) with the first error and its line, or GW_ENOMEM; *out is untouched.
 *
 * Errors: a line the INI syntax does not allow; an over-long line; a NUL byte;
 * a key outside a section; a section other than [device ID] or [site NAME]
 * with ID and NAME [A-Za-z0-9._-]{1,64}; a device or site defined twice; in
 * a site section a key other than zone and free_flow_kmh, a zone that is not
 * an IANA name (1..64 of [A-Za-z0-9/_+-], not starting with '/', no '..'), or
 * a free_flow_kmh that is not a number in 5..200; an unknown or repeated key; a
 * section without site or key; a site that is not a valid id; a device id or
 * site that is a reserved topic name (gw_name_reserved()); a key that is not
 * 32..128 hex digits; more than 32 sensors, a sensor id that is not a valid id
 * or listed twice; range.Q for an unknown quantity Q; a range that is not two
 * finite numbers "MIN..MAX" with MIN <= MAX; more than 1,000,000 devices.
 */
int gw_registry_new(const char *text, size_t len, struct gw_registry **out,
                    struct gw_registry_diag *diag);

/* Frees reg and every device in it; NULL is a no-op. */
void gw_registry_free(struct gw_registry *reg);

/* The device with id device_id (borrowed, NUL-terminated), or NULL. */
const struct gw_device *gw_registry_find(const struct gw_registry *reg, const char *device_id);

/* How many devices reg holds. */
size_t gw_registry_count(const struct gw_registry *reg);

/* The section of site name (borrowed, NUL-terminated), or NULL when it has none. */
const struct gw_site *gw_registry_site(const struct gw_registry *reg, const char *name);

/*
 * The free-flow speed of site name (borrowed) in km/h: its section's
 * free_flow_kmh, else GW_REGISTRY_FREE_FLOW_KMH (also when reg is NULL).
 */
double gw_registry_free_flow_kmh(const struct gw_registry *reg, const char *name);

/*
 * Calls fn(dev, ctx) for every device, in the order of the text, until fn
 * returns non-zero. Returns that value, or 0.
 */
int gw_registry_each(const struct gw_registry *reg,
                     int (*fn)(const struct gw_device *dev, void *ctx), void *ctx);

/* Points *key at dev's key, prepared (borrowed, valid until gw_registry_free()). */
void gw_device_key(const struct gw_device *dev, struct wire_key *key);

/*
 * A wire_key_fn over a registry: set wire_decoder.key_fn to this and key_ctx
 * to the registry. Returns 0 and sets *key (gw_device_key()), or GW_ENOTFOUND.
 */
int gw_registry_key(void *ctx, const char *device_id, struct wire_key *key);

#endif
