/*
 * vocab.c -- the wire contract's vocabulary as the drivers need it: the
 * canonical unit of each quantity, enum names for register maps, and the one
 * function that appends a reading to a sample.
 *
 * Names come from protobuf-c's enum descriptors, so a quantity added to
 * frame.proto is accepted in a register map without touching this file; only
 * its unit has to be added to the table below (docs/data-model.md lists the
 * same pairs). Every reading a driver produces goes through drv__emit(), which
 * is what guarantees that a reading's unit is its quantity's unit.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define Q(name) CITYGATE__V1__QUANTITY__##name
#define U(name) CITYGATE__V1__UNIT__##name

static const struct {
    Citygate__V1__Quantity quantity;
    Citygate__V1__Unit unit;
} units[] = {
    {Q(TRAFFIC_VOLUME), U(VEHICLES)},
    {Q(OCCUPANCY), U(PERCENT)},
    {Q(SPEED), U(KILOMETRES_PER_HOUR)},
    {Q(VEHICLE_CLASS_COUNT), U(VEHICLES)},
    {Q(HEADWAY), U(SECONDS)},
    {Q(PM2_5), U(MICROGRAMS_PER_CUBIC_METRE)},
    {Q(PM10), U(MICROGRAMS_PER_CUBIC_METRE)},
    {Q(NO2), U(MICROGRAMS_PER_CUBIC_METRE)},
    {Q(O3), U(MICROGRAMS_PER_CUBIC_METRE)},
    {Q(NOISE), U(DECIBEL_A)},
    {Q(TEMPERATURE), U(DEGREES_CELSIUS)},
    {Q(HUMIDITY), U(PERCENT)},
    {Q(STRAIN), U(MICROSTRAIN)},
    {Q(VIBRATION), U(MILLIMETRES_PER_SECOND)},
    {Q(TILT), U(DEGREES)},
    {Q(PARKING_OCCUPIED), U(SPACES)},
    {Q(PARKING_FREE), U(SPACES)},
    {Q(TUNNEL_CO), U(PARTS_PER_MILLION)},
    {Q(TUNNEL_VISIBILITY), U(PER_KILOMETRE)},
    {Q(FAN_STATE), U(STATE)},
    {Q(POWER), U(KILOWATTS)},
    {Q(ENERGY), U(KILOWATT_HOURS)},
    {Q(VOLTAGE), U(VOLTS)},
    {Q(CURRENT), U(AMPERES)},
    {Q(WATER_LEVEL), U(METRES)},
};

Citygate__V1__Unit drv__unit_of(Citygate__V1__Quantity quantity)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (units[i].quantity == quantity)
            return units[i].unit;
    return U(UNIT_UNSPECIFIED);
}

int drv__enum_parse(const ProtobufCEnumDescriptor *desc, const char *name, int *out)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(desc, name);

    if (!v || v->value == 0)
        return -EINVAL;
    *out = v->value;
    return 0;
}

const char *drv__enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

    return v ? v->name : "?";
}

int drv__emit(struct drv_sample *out, Citygate__V1__Quantity quantity, double value,
              Citygate__V1__Quality quality, uint32_t lane,
              Citygate__V1__VehicleClass vehicle_class)
{
    struct drv_reading *r;

    if (out->n_readings >= out->cap_readings)
        return -ENOSPC;
    r = &out->readings[out->n_readings++];
    r->quantity = quantity;
    r->unit = drv__unit_of(quantity);
    r->value = quality == CITYGATE__V1__QUALITY__GOOD || quality == CITYGATE__V1__QUALITY__UNCERTAIN
                   ? value
                   : 0.0;
    r->quality = quality;
    r->lane = lane;
    r->vehicle_class = vehicle_class;
    return 0;
}

int drv__emit_list(struct drv_sample *out, const struct drv__qv *qv, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = drv__emit(out, qv[i].quantity, qv[i].value, CITYGATE__V1__QUALITY__GOOD, 0,
                       CITYGATE__V1__VEHICLE_CLASS__VEHICLE_CLASS_UNSPECIFIED);
    return rc;
}
