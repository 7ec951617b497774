/*
 * registers.h -- Modbus register words to engineering values and back.
 *
 * Pure functions, no I/O: the modbus driver decodes what it read, modbus-sim
 * encodes what it serves, and the unit tests pin both to known byte patterns.
 */
#ifndef CITYGATE_DRV_REGISTERS_H
#define CITYGATE_DRV_REGISTERS_H

#include <stdint.h>

/* How a value is laid out in registers (or in one coil / discrete input). */
enum drv_reg_type {
    DRV_REG_BOOL,    /* one bit: a coil or a discrete input, 0 or 1 */
    DRV_REG_INT16,   /* one register, two's complement */
    DRV_REG_UINT16,  /* one register */
    DRV_REG_INT32,   /* two registers, two's complement */
    DRV_REG_UINT32,  /* two registers */
    DRV_REG_FLOAT32, /* two registers, IEEE 754 binary32 */
};

/*
 * Order of the two registers of a 32-bit value (word order) and of the two
 * bytes inside each register (byte order). Modbus itself is big-endian in
 * both; devices differ. With A the most significant byte of a 32-bit value:
 * big/big is ABCD, little word/big byte is CDAB, big word/little byte is
 * BADC, little/little is DCBA.
 */
enum drv_reg_order {
    DRV_REG_BIG = 0,
    DRV_REG_LITTLE = 1,
};

struct drv_reg_format {
    enum drv_reg_type type;
    enum drv_reg_order word_order;
    enum drv_reg_order byte_order;
    double scale; /* value = raw * scale + offset; never 0 */
    double offset;
};

/* Registers (or bits, for DRV_REG_BOOL) a value of type occupies: 1 or 2. */
unsigned drv_reg_words(enum drv_reg_type type);

/* The name used in register maps ("int16", "float32", ...), or "?". */
const char *drv_reg_type_name(enum drv_reg_type type);

/* Parses a type name; returns 0 or -EINVAL. */
int drv_reg_type_parse(const char *name, enum drv_reg_type *out);

/*
 * The raw bits of a value as the device meant them, most significant byte
 * first, after undoing word and byte order: a 16-bit value in the low half, a
 * bit as 0 or 1. words (borrowed) holds drv_reg_words(type) registers; a bit
 * is passed as a register that is zero or not. Used for sentinel values.
 */
uint32_t drv_reg_raw(const struct drv_reg_format *f, const uint16_t *words);

/*
 * Decodes words (borrowed, drv_reg_words(f->type) entries) into *value, with
 * scale and offset applied. Returns 0, or -ERANGE when the result is not a
 * finite number (a float32 NaN or infinity); *value is written only on
 * success. Any thread.
 */
int drv_reg_decode(const struct drv_reg_format *f, const uint16_t *words, double *value);

/*
 * Encodes value into words (drv_reg_words(f->type) entries), the inverse of
 * drv_reg_decode(): raw = (value - offset) / scale, rounded to the nearest
 * integer for integer types and saturated at the type's limits, as a device
 * register saturates. A bit is 1 for any raw value that is not 0. Returns 0,
 * or -EINVAL for a NaN value or a zero scale (words untouched). Any thread.
 */
int drv_reg_encode(const struct drv_reg_format *f, double value, uint16_t *words);

#endif
