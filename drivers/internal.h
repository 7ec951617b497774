/*
 * internal.h -- helpers shared by the driver files, not part of the driver
 * interface (the firmware only sees driver.h, registers.h, regmap.h and
 * simdev.h). Names carry the double underscore of cross-file internals.
 */
#ifndef CITYGATE_DRV_INTERNAL_H
#define CITYGATE_DRV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"

/* Writes the formatted text into diag (when not NULL); always returns -EINVAL. */
int drv__fail(struct drv_diag *diag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Number parsing with range checks, for parameters and register maps. Each
 * accepts the whole string or fails: no trailing text, no empty string.
 * Integers are decimal, or hexadecimal with a 0x prefix. Return 0 or -EINVAL
 * (not a number) or -ERANGE (outside min ... max); *out is written only on
 * success.
 */
int drv__parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int drv__parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int drv__parse_double(const char *s, double min, double max, double *out);
/* A duration in the grammar of units.h (500ms, 30s, 5m, 1h), within min_ms ... max_ms. */
int drv__parse_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out);
/* true/false, yes/no, on/off, 1/0. */
int drv__parse_bool(const char *s, bool *out);

/* The type of one parameter in a drv__pspec table. */
enum drv__ptype {
    DRV__P_U32,    /* uint32_t */
    DRV__P_I32,    /* int32_t */
    DRV__P_U64,    /* uint64_t */
    DRV__P_DOUBLE, /* double, finite */
    DRV__P_MS,     /* uint32_t milliseconds, a duration with its unit */
    DRV__P_BOOL,   /* bool */
    DRV__P_STR,    /* char[size], bounded copy */
    DRV__P_CHOICE, /* int, the index of the value in choices */
};

/*
 * One driver parameter: the single table a driver's keys are validated
 * against, with types, ranges, defaults and help text (docs/drivers.md lists
 * the same). A NULL def makes the parameter required.
 */
struct drv__pspec {
    const char *key;
    enum drv__ptype type;
    size_t offset; /* of the field in the driver's config struct */
    size_t size;   /* DRV__P_STR: capacity of the char array */
    double min, max;
    const char *const *choices; /* DRV__P_CHOICE: NULL-terminated */
    const char *def;
    const char *help;
};

/* A table and the config struct it fills. */
struct drv__pgroup {
    const struct drv__pspec *spec;
    size_t n_spec;
    void *base;
};

#define DRV__MAX_PSPECS 64

/*
 * Fills the configs of groups from params (borrowed, n entries): each key
 * must appear in exactly one table and at most once; missing keys take their
 * default, or fail when required. Returns 0 or -EINVAL with diag filled.
 */
int drv__params_parse(const struct drv__pgroup *groups, size_t n_groups,
                      const struct drv_param *params, size_t n, struct drv_diag *diag);

/* The canonical unit of a quantity (docs/data-model.md), UNIT_UNSPECIFIED when unknown. */
Citygate__V1__Unit drv__unit_of(Citygate__V1__Quantity quantity);

/*
 * Looks up an enum value of the wire contract by its proto name ("SPEED",
 * "KILOMETRES_PER_HOUR", "TRUCK"); the *_UNSPECIFIED value is refused.
 * Returns 0 or -EINVAL.
 */
int drv__enum_parse(const ProtobufCEnumDescriptor *desc, const char *name, int *out);
/* The proto name of an enum value, or "?". */
const char *drv__enum_name(const ProtobufCEnumDescriptor *desc, int value);

/*
 * Appends one reading with the quantity's canonical unit. Returns 0, or
 * -ENOSPC when out is full.
 */
int drv__emit(struct drv_sample *out, Citygate__V1__Quantity quantity, double value,
              Citygate__V1__Quality quality, uint32_t lane,
              Citygate__V1__VehicleClass vehicle_class);

/* The Modbus drivers (modbus.c); the sim drivers are declared in sim.h. */
extern const struct drv_ops drv__modbus_tcp, drv__modbus_rtu;

/* A quantity and its value, for drv__emit_list(). */
struct drv__qv {
    Citygate__V1__Quantity quantity;
    double value;
};

/* Appends n GOOD readings of lane 0 (borrows qv). Returns 0 or -ENOSPC. */
int drv__emit_list(struct drv_sample *out, const struct drv__qv *qv, size_t n);

#endif
