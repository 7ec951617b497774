/*
 * simdev.c -- a register map served with simulated values.
 *
 * A real counting station or meter latches its registers once per its own
 * interval, so this does too: the values shown at now_ms are the simulator's
 * sample for the interval ending at the last multiple of sim_interval_ms.
 * Each map point takes the simulator's reading with the same quantity, lane
 * and vehicle class and is encoded with the point's own type, order, scale
 * and offset, so a map describes the simulated device completely. A point
 * the simulator has no good value for (a speed with no vehicles, an
 * outage) is served as the point's no_data sentinel, or 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "simdev.h"

#define SIMDEV_MAX_READINGS 512

struct drv_simdev {
    const struct drv_map *map;
    const struct drv_ops *ops;
    void *sim;
    uint64_t latched_ms;
    struct drv_reading readings[SIMDEV_MAX_READINGS];
    double *values;
    bool *present;
};

void drv_simdev_free(struct drv_simdev *dev)
{
    if (!dev)
        return;
    if (dev->sim)
        dev->ops->close(dev->sim);
    free(dev->values);
    free(dev->present);
    free(dev);
}

int drv_simdev_new(const struct drv_map *map, uint64_t seed, struct drv_simdev **out,
                   struct drv_diag *diag)
{
    struct drv_param params[DRV_MAP_MAX_SIM_PARAMS + 1];
    struct drv_simdev *dev = NULL;
    char seed_text[24];
    int rc;

    if (!map->simulator[0] || strncmp(map->simulator, "sim-", 4) != 0 || !drv_find(map->simulator))
        return drv__fail(diag, "the map names no simulator (sim-traffic, sim-air, ...): \"%s\"",
                         map->simulator);
    dev = calloc(1, sizeof(*dev));
    if (dev) {
        dev->values = calloc(map->n_points, sizeof(*dev->values));
        dev->present = calloc(map->n_points, sizeof(*dev->present));
    }
    if (!dev || !dev->values || !dev->present) {
        rc = -ENOMEM;
        drv__fail(diag, "out of memory");
        goto out;
    }
    dev->map = map;
    dev->ops = drv_find(map->simulator);
    snprintf(seed_text, sizeof(seed_text), "%llu", (unsigned long long)seed);
    params[0] = (struct drv_param){"seed", seed_text};
    memcpy(params + 1, map->sim_params, map->n_sim_params * sizeof(params[0]));
    rc = dev->ops->open(params, map->n_sim_params + 1, &dev->sim, diag);
    if (rc)
        goto out;
    *out = dev;
    dev = NULL;
out:
    drv_simdev_free(dev);
    return rc;
}

int drv_simdev_update(struct drv_simdev *dev, uint64_t now_ms)
{
    uint32_t interval_ms = dev->map->sim_interval_ms;
    uint64_t end_ms = now_ms / interval_ms * interval_ms;
    struct drv_sample s = {dev->readings, 0, SIMDEV_MAX_READINGS, NULL, 0, 0};
    int rc;

    if (end_ms == dev->latched_ms)
        return 0;
    rc = dev->ops->sample(dev->sim, end_ms, interval_ms, &s);
    if (rc)
        return rc;
    for (size_t i = 0; i < dev->map->n_points; i++) {
        const struct drv_map_point *p = &dev->map->points[i];

        dev->present[i] = false;
        for (size_t k = 0; k < s.n_readings; k++) {
            const struct drv_reading *r = &s.readings[k];
            if (r->quantity == p->quantity && r->lane == p->lane &&
                r->vehicle_class == p->vehicle_class && r->quality == CITYGATE__V1__QUALITY__GOOD) {
                dev->values[i] = r->value;
                dev->present[i] = true;
                break;
            }
        }
    }
    dev->latched_ms = end_ms;
    return 0;
}

uint64_t drv_simdev_latched_ms(const struct drv_simdev *dev)
{
    return dev->latched_ms;
}

int drv_simdev_value(const struct drv_simdev *dev, size_t i, double *value)
{
    if (i >= dev->map->n_points || !dev->present[i])
        return -ENODATA;
    *value = dev->values[i];
    return 0;
}

void drv_simdev_words(const struct drv_simdev *dev, size_t i, uint16_t words[2])
{
    const struct drv_map_point *p = &dev->map->points[i];
    struct drv_reg_format raw;

    words[0] = words[1] = 0;
    if (dev->present[i] && drv_reg_encode(&p->format, dev->values[i], words) == 0)
        return;
    if (!p->has_no_data)
        return;
    /* The sentinel is a raw value: lay it out like any raw value of the point's type. */
    raw = p->format;
    raw.scale = 1.0;
    raw.offset = 0.0;
    if (raw.type == DRV_REG_INT16 || raw.type == DRV_REG_INT32 || raw.type == DRV_REG_FLOAT32)
        raw.type = drv_reg_words(raw.type) == 1 ? DRV_REG_UINT16 : DRV_REG_UINT32;
    drv_reg_encode(&raw, (double)p->no_data, words);
}
