/*
 * registers.c -- Modbus register words to engineering values and back.
 *
 * Every type goes through one 32-bit "raw" form, most significant byte first:
 * the word order picks which register holds the high half and the byte order
 * whether each register's bytes are swapped. Decoding is then one
 * reinterpretation (two's complement or IEEE 754) plus scale and offset, and
 * encoding is the exact inverse, so modbus-sim and the driver cannot disagree
 * about a layout.
 *
 * libmodbus has modbus_get_float_abcd() and friends, but their meaning has
 * changed between releases and the setters of the 3.1.6 packaged in Debian do
 * not round-trip with the getters (modbus_set_float_abcd(123.456f) writes
 * f642 79e9, which is BADC; libmodbus issues #611, #665, #807). Integers need
 * the same reordering anyway, so the ten lines below are the single
 * definition of every order, pinned by known byte patterns in
 * tests/unit/test_registers.c.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "registers.h"

static const char *const type_names[] = {
    [DRV_REG_BOOL] = "bool",   [DRV_REG_INT16] = "int16",   [DRV_REG_UINT16] = "uint16",
    [DRV_REG_INT32] = "int32", [DRV_REG_UINT32] = "uint32", [DRV_REG_FLOAT32] = "float32",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

unsigned drv_reg_words(enum drv_reg_type type)
{
    return type == DRV_REG_INT32 || type == DRV_REG_UINT32 || type == DRV_REG_FLOAT32 ? 2u : 1u;
}

const char *drv_reg_type_name(enum drv_reg_type type)
{
    return (unsigned)type < N_TYPES ? type_names[type] : "?";
}

int drv_reg_type_parse(const char *name, enum drv_reg_type *out)
{
    for (unsigned i = 0; i < N_TYPES; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (enum drv_reg_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

static uint16_t swap16(uint16_t w)
{
    return (uint16_t)((w << 8) | (w >> 8));
}

/* One register as the device meant it: high byte first. */
static uint16_t word_in(const struct drv_reg_format *f, uint16_t w)
{
    return f->byte_order == DRV_REG_LITTLE ? swap16(w) : w;
}

uint32_t drv_reg_raw(const struct drv_reg_format *f, const uint16_t *words)
{
    uint16_t hi, lo;

    if (f->type == DRV_REG_BOOL)
        return words[0] != 0;
    if (drv_reg_words(f->type) == 1)
        return word_in(f, words[0]);
    hi = word_in(f, words[f->word_order == DRV_REG_LITTLE ? 1 : 0]);
    lo = word_in(f, words[f->word_order == DRV_REG_LITTLE ? 0 : 1]);
    return (uint32_t)hi << 16 | lo;
}

/* The inverse of drv_reg_raw(). */
static void raw_out(const struct drv_reg_format *f, uint32_t raw, uint16_t *words)
{
    uint16_t hi = (uint16_t)(raw >> 16), lo = (uint16_t)raw;

    if (f->type == DRV_REG_BOOL) {
        words[0] = raw != 0;
        return;
    }
    if (f->byte_order == DRV_REG_LITTLE) {
        hi = swap16(hi);
        lo = swap16(lo);
    }
    if (drv_reg_words(f->type) == 1) {
        words[0] = lo;
        return;
    }
    words[f->word_order == DRV_REG_LITTLE ? 1 : 0] = hi;
    words[f->word_order == DRV_REG_LITTLE ? 0 : 1] = lo;
}

int drv_reg_decode(const struct drv_reg_format *f, const uint16_t *words, double *value)
{
    uint32_t raw = drv_reg_raw(f, words);
    double v;
    float fl;

    switch (f->type) {
    case DRV_REG_INT16:
        v = (int16_t)(uint16_t)raw;
        break;
    case DRV_REG_INT32:
        v = (int32_t)raw;
        break;
    case DRV_REG_FLOAT32:
        memcpy(&fl, &raw, sizeof(fl));
        v = fl;
        break;
    default: /* bool, uint16, uint32 */
        v = raw;
        break;
    }
    v = v * f->scale + f->offset;
    if (!isfinite(v))
        return -ERANGE;
    *value = v;
    return 0;
}

/* Rounds x to an integer saturated to lo ... hi. */
static double saturate(double x, double lo, double hi)
{
    x = round(x);
    return x < lo ? lo : x > hi ? hi : x;
}

int drv_reg_encode(const struct drv_reg_format *f, double value, uint16_t *words)
{
    double x;
    uint32_t raw;
    float fl;

    if (isnan(value) || f->scale == 0.0 || isnan(f->scale) || isnan(f->offset))
        return -EINVAL;
    x = (value - f->offset) / f->scale;
    switch (f->type) {
    case DRV_REG_INT16:
        raw = (uint16_t)(int16_t)saturate(x, INT16_MIN, INT16_MAX);
        break;
    case DRV_REG_UINT16:
        raw = (uint32_t)saturate(x, 0, UINT16_MAX);
        break;
    case DRV_REG_INT32:
        raw = (uint32_t)(int32_t)saturate(x, INT32_MIN, INT32_MAX);
        break;
    case DRV_REG_UINT32:
        raw = (uint32_t)saturate(x, 0, UINT32_MAX);
        break;
    case DRV_REG_FLOAT32:
        fl = (float)(x < -FLT_MAX ? -FLT_MAX : x > FLT_MAX ? FLT_MAX : x);
        memcpy(&raw, &fl, sizeof(raw));
        break;
    default: /* bool */
        raw = round(x) != 0.0;
        break;
    }
    raw_out(f, raw, words);
    return 0;
}
