/*
 * simdev.h -- a simulated Modbus device: a register map served with values
 * from the sim driver the map names, as modbus-sim serves it.
 *
 * Kept in the library so that modbus-sim and the tests that check it compute
 * the very same values.
 */
#ifndef CITYGATE_DRV_SIMDEV_H
#define CITYGATE_DRV_SIMDEV_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "regmap.h"

struct drv_simdev;

/*
 * Opens the simulator named by map->simulator ("sim-air", ...) with seed
 * and the map's sim.* parameters. map is borrowed and must outlive the
 * device. Returns 0 and sets *out (caller frees with drv_simdev_free()), or
 * -EINVAL (no or unknown simulator, bad parameters) or -ENOMEM with diag
 * filled.
 */
int drv_simdev_new(const struct drv_map *map, uint64_t seed, struct drv_simdev **out,
                   struct drv_diag *diag);

/* Frees a device; NULL is a no-op. */
void drv_simdev_free(struct drv_simdev *dev);

/*
 * Latches the values a device with map->sim_interval_ms would show at
 * now_ms: those of the interval ending at the last multiple of the interval
 * at or before now_ms. Cheap when that interval is already latched. Returns
 * 0 or the simulator's negative error. One thread at a time per device.
 */
int drv_simdev_update(struct drv_simdev *dev, uint64_t now_ms);

/* End of the latched interval, ms since the epoch; 0 before the first update. */
uint64_t drv_simdev_latched_ms(const struct drv_simdev *dev);

/*
 * The latched engineering value of map point i. Returns 0, or -ENODATA when
 * the simulator reported no good value for it (the device then serves the
 * point's no_data sentinel, or 0).
 */
int drv_simdev_value(const struct drv_simdev *dev, size_t i, double *value);

/* The registers (one per bit for coils and discrete inputs) that serve point i. */
void drv_simdev_words(const struct drv_simdev *dev, size_t i, uint16_t words[2]);

#endif
