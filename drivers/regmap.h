/*
 * regmap.h -- declarative Modbus register maps.
 *
 * A map is an INI file (format in docs/drivers.md): an optional [device]
 * section with the device's defaults and read limits, then one
 * [point NAME] section per value with its address, function, type, word
 * and byte order, scale, offset, quantity, unit, lane and vehicle class.
 * Loading a map validates it completely and plans the reads: points of the
 * same function whose registers are close enough are read with one request.
 */
#ifndef CITYGATE_DRV_REGMAP_H
#define CITYGATE_DRV_REGMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "registers.h"

#define DRV_MAP_MAX_POINTS DRV_MAX_READINGS /* a point gives at most one reading */
#define DRV_MAP_NAME_BYTES 48
#define DRV_MAP_MAX_SIM_PARAMS 16
#define DRV_MAP_SIM_TEXT_BYTES 64
#define DRV_MAP_MAX_READ_REGISTERS 125 /* Modbus, function 03/04 */
#define DRV_MAP_MAX_READ_BITS 2000     /* Modbus, function 01/02 */

/* The Modbus object a point lives in; the read function follows from it. */
enum drv_map_function {
    DRV_MAP_HOLDING,  /* holding registers, function 03 */
    DRV_MAP_INPUT,    /* input registers, function 04 */
    DRV_MAP_COIL,     /* coils, function 01 */
    DRV_MAP_DISCRETE, /* discrete inputs, function 02 */
};

struct drv_map_point {
    char name[DRV_MAP_NAME_BYTES];
    uint32_t line; /* of the section header, for diagnostics */
    enum drv_map_function function;
    uint16_t address; /* protocol address, 0-based (not the 4xxxx reference) */
    struct drv_reg_format format;
    Citygate__V1__Quantity quantity;
    Citygate__V1__Unit unit;
    uint32_t lane;
    Citygate__V1__VehicleClass vehicle_class;
    bool has_no_data;
    uint32_t no_data; /* raw value (drv_reg_raw) meaning "no value this interval" */
    size_t block;     /* index into drv_map.blocks */
};

/* One planned read request: count registers (or bits) from address. */
struct drv_map_block {
    enum drv_map_function function;
    uint16_t address;
    uint16_t count;
};

struct drv_map {
    char model[128];          /* free text: what device the map describes */
    char simulator[32];       /* sim driver modbus-sim serves this map from, or "" */
    uint32_t sim_interval_ms; /* how often the simulated device latches new values */
    /* the "sim.KEY = VALUE" lines, for the simulator; they point into sim_text */
    struct drv_param sim_params[DRV_MAP_MAX_SIM_PARAMS];
    size_t n_sim_params;
    char sim_text[DRV_MAP_MAX_SIM_PARAMS][2][DRV_MAP_SIM_TEXT_BYTES];
    uint32_t max_gap;             /* unused registers a request may span */
    uint32_t max_read_registers;  /* per request, 1 ... 125 */
    uint32_t max_read_bits;       /* per request, 1 ... 2000 */
    struct drv_map_point *points; /* in file order */
    size_t n_points;
    struct drv_map_block *blocks;
    size_t n_blocks;
};

/* Where a map is wrong. Parsers never log; the caller prints this. */
struct drv_map_diag {
    char file[128];
    uint32_t line; /* 1-based; 0 when the error is not tied to a line */
    char text[160];
};

/*
 * Loads and validates the map file at path. Returns 0 and sets *out (caller
 * frees with drv_map_free()), -ENOENT/-EACCES/... when the file cannot be
 * opened, -EINVAL when it is invalid, -ENOMEM; diag is filled on failure.
 * Any thread.
 */
int drv_map_load(const char *path, struct drv_map **out, struct drv_map_diag *diag);

/* As drv_map_load() for map text in memory; name (borrowed) is used in diag. */
int drv_map_parse(const char *text, const char *name, struct drv_map **out,
                  struct drv_map_diag *diag);

/* Frees a map; NULL is a no-op. */
void drv_map_free(struct drv_map *map);

/* "holding", "input", "coil", "discrete", or "?". */
const char *drv_map_function_name(enum drv_map_function function);

/* Formats diag as "file:line: text" into buf (bounded); returns buf. */
const char *drv_map_diag_format(const struct drv_map_diag *diag, char *buf, size_t size);

#endif
