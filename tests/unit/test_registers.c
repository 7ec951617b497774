/*
 * test_registers.c -- register decoding and encoding against known byte
 * patterns, for every type and every word and byte order.
 *
 * The patterns are written out by hand from the values' big-endian bytes
 * (A the most significant): ABCD is big word and big byte order, CDAB little
 * word order, BADC little byte order, DCBA both little. A table row is the
 * value, the type and order, and the two registers as they travel.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cu.h"
#include "registers.h"

#define BIG DRV_REG_BIG
#define LITTLE DRV_REG_LITTLE

struct pattern {
    enum drv_reg_type type;
    enum drv_reg_order word_order, byte_order;
    double value;
    uint16_t words[2];
    uint32_t raw;
};

static const struct pattern patterns[] = {
    /* int16: -2 = 0xFFFE, 12345 = 0x3039; word order does not apply */
    {DRV_REG_INT16, BIG, BIG, -2, {0xFFFE}, 0xFFFE},
    {DRV_REG_INT16, BIG, LITTLE, -2, {0xFEFF}, 0xFFFE},
    {DRV_REG_INT16, LITTLE, BIG, 12345, {0x3039}, 0x3039},
    {DRV_REG_INT16, LITTLE, LITTLE, 12345, {0x3930}, 0x3039},
    {DRV_REG_INT16, BIG, BIG, -32768, {0x8000}, 0x8000},
    /* uint16: 43981 = 0xABCD */
    {DRV_REG_UINT16, BIG, BIG, 43981, {0xABCD}, 0xABCD},
    {DRV_REG_UINT16, BIG, LITTLE, 43981, {0xCDAB}, 0xABCD},
    {DRV_REG_UINT16, LITTLE, LITTLE, 65535, {0xFFFF}, 0xFFFF},
    /* int32: -123456789 = 0xF8A432EB */
    {DRV_REG_INT32, BIG, BIG, -123456789, {0xF8A4, 0x32EB}, 0xF8A432EB},
    {DRV_REG_INT32, LITTLE, BIG, -123456789, {0x32EB, 0xF8A4}, 0xF8A432EB},
    {DRV_REG_INT32, BIG, LITTLE, -123456789, {0xA4F8, 0xEB32}, 0xF8A432EB},
    {DRV_REG_INT32, LITTLE, LITTLE, -123456789, {0xEB32, 0xA4F8}, 0xF8A432EB},
    {DRV_REG_INT32, BIG, BIG, 65536, {0x0001, 0x0000}, 0x00010000},
    /* uint32: 3000000000 = 0xB2D05E00 */
    {DRV_REG_UINT32, BIG, BIG, 3000000000.0, {0xB2D0, 0x5E00}, 0xB2D05E00},
    {DRV_REG_UINT32, LITTLE, BIG, 3000000000.0, {0x5E00, 0xB2D0}, 0xB2D05E00},
    {DRV_REG_UINT32, BIG, LITTLE, 3000000000.0, {0xD0B2, 0x005E}, 0xB2D05E00},
    {DRV_REG_UINT32, LITTLE, LITTLE, 3000000000.0, {0x005E, 0xD0B2}, 0xB2D05E00},
    /* float32: 123.456f = 0x42F6E979, -1.5f = 0xBFC00000 */
    {DRV_REG_FLOAT32, BIG, BIG, 123.456f, {0x42F6, 0xE979}, 0x42F6E979},
    {DRV_REG_FLOAT32, LITTLE, BIG, 123.456f, {0xE979, 0x42F6}, 0x42F6E979},
    {DRV_REG_FLOAT32, BIG, LITTLE, 123.456f, {0xF642, 0x79E9}, 0x42F6E979},
    {DRV_REG_FLOAT32, LITTLE, LITTLE, 123.456f, {0x79E9, 0xF642}, 0x42F6E979},
    {DRV_REG_FLOAT32, BIG, BIG, -1.5, {0xBFC0, 0x0000}, 0xBFC00000},
    {DRV_REG_FLOAT32, LITTLE, LITTLE, -1.5, {0x0000, 0xC0BF}, 0xBFC00000},
    /* bool: any nonzero register (a bit read as a word) is 1 */
    {DRV_REG_BOOL, BIG, BIG, 0, {0x0000}, 0},
    {DRV_REG_BOOL, BIG, BIG, 1, {0x0001}, 1},
};

#define N_PATTERNS (sizeof(patterns) / sizeof(patterns[0]))

static struct drv_reg_format format_of(const struct pattern *p)
{
    struct drv_reg_format f = {p->type, p->word_order, p->byte_order, 1.0, 0.0};

    return f;
}

static void report(const char *what, size_t i, const uint16_t *got)
{
    const struct pattern *p = &patterns[i];

    fprintf(stderr, "\n%s: pattern %zu (%s, word %d, byte %d, %g): got %04x %04x\n", what, i,
            drv_reg_type_name(p->type), p->word_order, p->byte_order, p->value, got[0], got[1]);
}

/* Every pattern decodes to its value and reassembles to its raw bits. */
static void test_decode_patterns(void)
{
    for (size_t i = 0; i < N_PATTERNS; i++) {
        const struct pattern *p = &patterns[i];
        struct drv_reg_format f = format_of(p);
        double v = NAN;

        CU_ASSERT_EQUAL_FATAL(drv_reg_decode(&f, p->words, &v), 0);
        if (v != p->value)
            report("decode", i, p->words);
        CU_ASSERT_EQUAL(v, p->value);
        CU_ASSERT_EQUAL(drv_reg_raw(&f, p->words), p->raw);
    }
}

/* Every value encodes to exactly its pattern's registers. */
static void test_encode_patterns(void)
{
    for (size_t i = 0; i < N_PATTERNS; i++) {
        const struct pattern *p = &patterns[i];
        struct drv_reg_format f = format_of(p);
        uint16_t w[2] = {0x5555, 0x5555};
        unsigned n = drv_reg_words(p->type);

        CU_ASSERT_EQUAL_FATAL(drv_reg_encode(&f, p->value, w), 0);
        if (memcmp(w, p->words, n * sizeof(w[0])) != 0)
            report("encode", i, w);
        CU_ASSERT_EQUAL(memcmp(w, p->words, n * sizeof(w[0])), 0);
        if (n == 1)
            CU_ASSERT_EQUAL(w[1], 0x5555); /* a 16-bit value writes one register only */
    }
}

static void test_words(void)
{
    CU_ASSERT_EQUAL(drv_reg_words(DRV_REG_BOOL), 1);
    CU_ASSERT_EQUAL(drv_reg_words(DRV_REG_INT16), 1);
    CU_ASSERT_EQUAL(drv_reg_words(DRV_REG_UINT16), 1);
    CU_ASSERT_EQUAL(drv_reg_words(DRV_REG_INT32), 2);
    CU_ASSERT_EQUAL(drv_reg_words(DRV_REG_UINT32), 2);
    CU_ASSERT_EQUAL(drv_reg_words(DRV_REG_FLOAT32), 2);
}

/* value = raw * scale + offset, and the inverse rounds to the nearest raw step. */
static void test_scale_offset(void)
{
    struct drv_reg_format temp = {DRV_REG_INT16, BIG, BIG, 0.1, -40.0};
    struct drv_reg_format watts = {DRV_REG_FLOAT32, LITTLE, BIG, 0.001, 0.0};
    uint16_t raw_1234[1] = {1234}, w[2];
    double v;

    CU_ASSERT_EQUAL(drv_reg_decode(&temp, raw_1234, &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v, 83.4, 1e-9);
    CU_ASSERT_EQUAL(drv_reg_encode(&temp, 83.44, w), 0);
    CU_ASSERT_EQUAL(w[0], 1234);
    CU_ASSERT_EQUAL(drv_reg_encode(&temp, -43.26, w), 0); /* raw -32.6 rounds to -33 */
    CU_ASSERT_EQUAL(w[0], (uint16_t)-33);

    /* 12.5 kW as 12500 W in a CDAB float: 12500.0f = 0x46435000 */
    CU_ASSERT_EQUAL(drv_reg_encode(&watts, 12.5, w), 0);
    CU_ASSERT_EQUAL(w[0], 0x5000);
    CU_ASSERT_EQUAL(w[1], 0x4643);
    CU_ASSERT_EQUAL(drv_reg_decode(&watts, w, &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v, 12.5, 1e-9);
}

/* Values beyond a type's range saturate like a device register; NaN is refused. */
static void test_encode_limits(void)
{
    struct drv_reg_format u16 = {DRV_REG_UINT16, BIG, BIG, 1.0, 0.0};
    struct drv_reg_format i16 = {DRV_REG_INT16, BIG, BIG, 1.0, 0.0};
    struct drv_reg_format u32 = {DRV_REG_UINT32, BIG, BIG, 1.0, 0.0};
    struct drv_reg_format i32 = {DRV_REG_INT32, BIG, BIG, 1.0, 0.0};
    struct drv_reg_format zero_scale = {DRV_REG_UINT16, BIG, BIG, 0.0, 0.0};
    uint16_t w[2] = {0x1111, 0x2222};

    CU_ASSERT_EQUAL(drv_reg_encode(&u16, 70000, w), 0);
    CU_ASSERT_EQUAL(w[0], 0xFFFF);
    CU_ASSERT_EQUAL(drv_reg_encode(&u16, -5, w), 0);
    CU_ASSERT_EQUAL(w[0], 0);
    CU_ASSERT_EQUAL(drv_reg_encode(&i16, -40000, w), 0);
    CU_ASSERT_EQUAL(w[0], 0x8000);
    CU_ASSERT_EQUAL(drv_reg_encode(&u32, 1e12, w), 0);
    CU_ASSERT(w[0] == 0xFFFF && w[1] == 0xFFFF);
    CU_ASSERT_EQUAL(drv_reg_encode(&i32, -1e12, w), 0);
    CU_ASSERT(w[0] == 0x8000 && w[1] == 0x0000);

    w[0] = 0x1111;
    CU_ASSERT_EQUAL(drv_reg_encode(&u16, NAN, w), -EINVAL);
    CU_ASSERT_EQUAL(w[0], 0x1111);
    CU_ASSERT_EQUAL(drv_reg_encode(&zero_scale, 1.0, w), -EINVAL);
    CU_ASSERT_EQUAL(w[0], 0x1111);
}

/* A float32 NaN or infinity is not a value: decoding fails and leaves *value alone. */
static void test_decode_not_finite(void)
{
    struct drv_reg_format f = {DRV_REG_FLOAT32, BIG, BIG, 1.0, 0.0};
    const uint16_t nan_words[2] = {0x7FC0, 0x0000}, inf_words[2] = {0xFF80, 0x0000};
    double v = 42.0;

    CU_ASSERT_EQUAL(drv_reg_decode(&f, nan_words, &v), -ERANGE);
    CU_ASSERT_EQUAL(drv_reg_decode(&f, inf_words, &v), -ERANGE);
    CU_ASSERT_EQUAL(v, 42.0);
}

static void test_type_names(void)
{
    enum drv_reg_type t;

    for (int i = DRV_REG_BOOL; i <= DRV_REG_FLOAT32; i++) {
        CU_ASSERT_EQUAL(drv_reg_type_parse(drv_reg_type_name((enum drv_reg_type)i), &t), 0);
        CU_ASSERT_EQUAL(t, (enum drv_reg_type)i);
    }
    CU_ASSERT_EQUAL(drv_reg_type_parse("float64", &t), -EINVAL);
    CU_ASSERT_EQUAL(drv_reg_type_parse("INT16", &t), -EINVAL);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"decode known patterns", test_decode_patterns},
        {"encode known patterns", test_encode_patterns},
        {"words per type", test_words},
        {"scale and offset", test_scale_offset},
        {"encode saturates and refuses NaN", test_encode_limits},
        {"decode refuses NaN and infinity", test_decode_not_finite},
        {"type names", test_type_names},
        {NULL, NULL},
    };

    return cu_main("registers", tests);
}
