/*
 * driver.c -- the static table of sensor drivers and drv_find().
 *
 * Drivers are chosen by name from a table fixed at build time, like curl's
 * protocol handlers: adding a driver is one line here and one const struct
 * drv_ops in its own file. There is no registration at run time, so the
 * table needs no lock and every thread may call drv_find().
 */
#include <string.h>

#include "driver.h"
#include "sim.h"

static const struct drv_ops *const drivers[] = {
    &drv__modbus_tcp, &drv__modbus_rtu,  &drv__sim_traffic, &drv__sim_air,   &drv__sim_noise,
    &drv__sim_strain, &drv__sim_parking, &drv__sim_tunnel,  &drv__sim_power,
};

const struct drv_ops *drv_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}
