/*
 * test_regmap.c -- register maps: what a valid map means, that every shipped
 * map loads, that each kind of mistake is refused with its line, and how
 * reads are planned.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cu.h"
#include "regmap.h"

static struct drv_map *parse_ok(const char *text)
{
    struct drv_map *m = NULL;
    struct drv_map_diag diag;
    char buf[512];
    int rc = drv_map_parse(text, "test.ini", &m, &diag);

    if (rc)
        fprintf(stderr, "\n%s\n", drv_map_diag_format(&diag, buf, sizeof(buf)));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return m;
}

static void test_full_map(void)
{
    struct drv_map *m = parse_ok("; a comment\n"
                                 "[device]\n"
                                 "model = test device\n"
                                 "simulator = sim-traffic\n"
                                 "sim_interval_ms = 1m\n"
                                 "sim.lanes = 3\n"
                                 "function = input\n"
                                 "word_order = little\n"
                                 "max_gap = 4\n"
                                 "\n"
                                 "[point speed]\n"
                                 "address = 0x10\n"
                                 "type = float32\n"
                                 "byte_order = little\n"
                                 "scale = 0.5\n"
                                 "offset = -1.25\n"
                                 "quantity = SPEED\n"
                                 "unit = KILOMETRES_PER_HOUR\n"
                                 "lane = 2\n"
                                 "no_data = 0xFFFFFFFF\n"
                                 "\n"
                                 "[point trucks]\n"
                                 "function = holding\n"
                                 "address = 7\n"
                                 "quantity = VEHICLE_CLASS_COUNT\n"
                                 "vehicle_class = TRUCK\n"
                                 "lane = 1\n"
                                 "[point door]\n"
                                 "function = discrete\n"
                                 "address = 3\n"
                                 "quantity = FAN_STATE\n");
    const struct drv_map_point *p = &m->points[0];

    CU_ASSERT_STRING_EQUAL(m->model, "test device");
    CU_ASSERT_STRING_EQUAL(m->simulator, "sim-traffic");
    CU_ASSERT_EQUAL(m->sim_interval_ms, 60000);
    CU_ASSERT_EQUAL_FATAL(m->n_sim_params, 1);
    CU_ASSERT_STRING_EQUAL(m->sim_params[0].key, "lanes");
    CU_ASSERT_STRING_EQUAL(m->sim_params[0].value, "3");
    CU_ASSERT_EQUAL(m->max_gap, 4);
    CU_ASSERT_EQUAL(m->max_read_registers, 125);
    CU_ASSERT_EQUAL_FATAL(m->n_points, 3);

    CU_ASSERT_STRING_EQUAL(p->name, "speed");
    CU_ASSERT_EQUAL(p->line, 11);
    CU_ASSERT_EQUAL(p->function, DRV_MAP_INPUT); /* the device's default */
    CU_ASSERT_EQUAL(p->address, 16);
    CU_ASSERT_EQUAL(p->format.type, DRV_REG_FLOAT32);
    CU_ASSERT_EQUAL(p->format.word_order, DRV_REG_LITTLE); /* the device's default */
    CU_ASSERT_EQUAL(p->format.byte_order, DRV_REG_LITTLE);
    CU_ASSERT_DOUBLE_EQUAL(p->format.scale, 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(p->format.offset, -1.25, 0);
    CU_ASSERT_EQUAL(p->quantity, CITYGATE__V1__QUANTITY__SPEED);
    CU_ASSERT_EQUAL(p->unit, CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR);
    CU_ASSERT_EQUAL(p->lane, 2);
    CU_ASSERT(p->has_no_data && p->no_data == 0xFFFFFFFFu);

    p = &m->points[1];
    CU_ASSERT_EQUAL(p->function, DRV_MAP_HOLDING);
    CU_ASSERT_EQUAL(p->format.type, DRV_REG_UINT16); /* no type anywhere: uint16 */
    CU_ASSERT_DOUBLE_EQUAL(p->format.scale, 1.0, 0);
    CU_ASSERT_EQUAL(p->unit, CITYGATE__V1__UNIT__VEHICLES); /* the quantity's unit */
    CU_ASSERT_EQUAL(p->vehicle_class, CITYGATE__V1__VEHICLE_CLASS__TRUCK);
    CU_ASSERT(!p->has_no_data);

    p = &m->points[2];
    CU_ASSERT_EQUAL(p->function, DRV_MAP_DISCRETE);
    CU_ASSERT_EQUAL(p->format.type, DRV_REG_BOOL); /* bits are bool */
    CU_ASSERT_EQUAL(p->lane, 0);
    drv_map_free(m);
}

/* Every map in drivers/maps loads, with the read plan its comments promise. */
static void test_shipped_maps(void)
{
    static const struct {
        const char *file;
        size_t n_points, n_blocks;
        const char *simulator;
    } maps[] = {
        {"traffic-counter.ini", 20, 1, "sim-traffic"},
        {"air-quality.ini", 6, 2, "sim-air"},
        {"power-meter.ini", 8, 3, "sim-power"},
        {"tunnel-ventilation.ini", 6, 2, "sim-tunnel"},
    };

    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        char path[512], buf[512];
        struct drv_map *m = NULL;
        struct drv_map_diag diag;
        int rc;

        snprintf(path, sizeof(path), "%s/%s", DRIVERS_MAPS_DIR, maps[i].file);
        rc = drv_map_load(path, &m, &diag);
        if (rc)
            fprintf(stderr, "\n%s\n", drv_map_diag_format(&diag, buf, sizeof(buf)));
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_EQUAL(m->n_points, maps[i].n_points);
        CU_ASSERT_EQUAL(m->n_blocks, maps[i].n_blocks);
        CU_ASSERT_STRING_EQUAL(m->simulator, maps[i].simulator);
        CU_ASSERT(m->model[0] != '\0');
        drv_map_free(m);
    }
}

static void test_traffic_counter_plan(void)
{
    struct drv_map *m = NULL;
    struct drv_map_diag diag;

    CU_ASSERT_EQUAL_FATAL(drv_map_load(DRIVERS_MAPS_DIR "/traffic-counter.ini", &m, &diag), 0);
    CU_ASSERT_EQUAL(m->blocks[0].function, DRV_MAP_INPUT);
    CU_ASSERT_EQUAL(m->blocks[0].address, 1000);
    CU_ASSERT_EQUAL(m->blocks[0].count, 35);
    drv_map_free(m);
}

/* A broken map: its text, the line the diagnostic must name, and a word it must contain. */
struct broken {
    const char *text;
    uint32_t line;
    const char *says;
};

#define PT "[point p]\naddress = 1\nquantity = SPEED\n"

static const struct broken broken_maps[] = {
    {PT "colour = red\n", 4, "unknown key colour"},
    {"[device]\nvendor = x\n" PT, 2, "unknown key vendor"},
    {PT "function = register\n", 4, "holding, input, coil or discrete"},
    {"[point p]\naddress = 70000\nquantity = SPEED\n", 2, "0 ... 65535"},
    {"[point p]\naddress = -1\nquantity = SPEED\n", 2, "0 ... 65535"},
    {"[point p]\naddress = 12abc\nquantity = SPEED\n", 2, "0 ... 65535"},
    {"[point p]\nquantity = SPEED\n", 1, "no address"},
    {"[point p]\naddress = 1\n", 1, "no quantity"},
    {"[point p]\naddress = 1\nquantity = SPEEED\n", 3, "Quantity"},
    {PT "unit = PERCENT\n", 1, "the unit of SPEED is KILOMETRES_PER_HOUR"},
    {PT "vehicle_class = CAR\n", 1, "vehicle_class"},
    {"[point p]\naddress = 1\nquantity = VEHICLE_CLASS_COUNT\n", 1, "vehicle_class"},
    {PT "vehicle_class = SUBMARINE\n", 4, "VehicleClass"},
    {PT "type = bool\n", 1, "does not fit function holding"},
    {"[point p]\nfunction = coil\naddress = 1\ntype = int16\nquantity = FAN_STATE\n", 1,
     "does not fit function coil"},
    {PT "type = int64\n", 4, "float32"},
    {PT "word_order = middle\n", 4, "big or little"},
    {PT "scale = 0\n", 4, "nonzero"},
    {PT "scale = fast\n", 4, "a number"},
    {PT "lane = 17\n", 4, "0 ... 16"},
    {PT "no_data = 0x10000\n", 1, "16-bit"},
    {PT "address = 2\n", 4, "given twice"},
    {"[point p]\naddress = 65535\ntype = uint32\nquantity = SPEED\n", 1, "past address 65535"},
    {PT "[point q]\naddress = 0\ntype = int32\nquantity = OCCUPANCY\n", 1, "p overlaps point q"},
    {PT "[point p]\naddress = 5\nquantity = OCCUPANCY\n", 4, "defined twice"},
    {PT "[point q]\naddress = 5\nquantity = SPEED\n", 4, "same SPEED"},
    {PT "[points q]\n", 4, "unknown section"},
    {"[point bad name]\naddress = 1\nquantity = SPEED\n", 1, "point name"},
    {"address = 1\n" PT, 1, "outside a section"},
    {PT "just words\n", 4, "syntax error"},
    {"[point p\naddress = 1\n", 1, "without ]"},
    {"[device]\nmodel = x\n", 0, "no [point NAME]"},
    {"[device]\n[device]\n" PT, 2, "second [device]"},
    {"[device]\nmax_read_registers = 1\n" PT "type = float32\n", 3, "does not fit one request"},
    {"[device]\nmax_gap = lots\n" PT, 2, "not a number"},
    {"[device]\nsim_interval_ms = 0\n" PT, 2, "not a number"},
    {PT "[point q]\n", 4, "no address"},
    {"; " /* a 198-character comment line */
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxx\n" PT,
     1, "longer than"},
};

static void test_broken_maps(void)
{
    for (size_t i = 0; i < sizeof(broken_maps) / sizeof(broken_maps[0]); i++) {
        const struct broken *b = &broken_maps[i];
        struct drv_map *m = NULL;
        struct drv_map_diag diag;
        int rc = drv_map_parse(b->text, "broken.ini", &m, &diag);
        bool ok = rc == -EINVAL && m == NULL && diag.line == b->line &&
                  strstr(diag.text, b->says) != NULL && strcmp(diag.file, "broken.ini") == 0;

        if (!ok)
            fprintf(stderr, "\nbroken map %zu: rc %d, line %u (want %u), \"%s\" (want \"%s\")\n", i,
                    rc, (unsigned)diag.line, (unsigned)b->line, diag.text, b->says);
        CU_ASSERT(ok);
        drv_map_free(m);
    }
}

static void test_missing_file(void)
{
    struct drv_map *m = NULL;
    struct drv_map_diag diag;

    CU_ASSERT_EQUAL(drv_map_load("/nonexistent/map.ini", &m, &diag), -ENOENT);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_STRING_EQUAL(diag.file, "/nonexistent/map.ini");
    drv_map_free(NULL); /* a no-op */
}

/* Points merge into one request while gaps stay within max_gap and requests within limits. */
static void test_plan(void)
{
    static const char points[] = "[point a]\naddress = 0\nquantity = SPEED\n"
                                 "[point b]\naddress = 1\nquantity = OCCUPANCY\n"
                                 "[point c]\naddress = 3\ntype = float32\nquantity = HEADWAY\n"
                                 "[point d]\nfunction = input\naddress = 2\nquantity = NOISE\n"
                                 "[point e]\nfunction = coil\naddress = 10\nquantity = FAN_STATE\n"
                                 "lane = 1\n"
                                 "[point f]\nfunction = coil\naddress = 12\nquantity = FAN_STATE\n"
                                 "lane = 2\n";
    char text[1024];
    struct drv_map *m;

    /* max_gap 0: holding 0-1 and 3-4 apart, input 2, coils 10 and 12 apart */
    m = parse_ok(points);
    CU_ASSERT_EQUAL(m->n_blocks, 5);
    CU_ASSERT(m->points[0].block == m->points[1].block);
    CU_ASSERT(m->points[1].block != m->points[2].block);
    CU_ASSERT_EQUAL(m->blocks[m->points[0].block].count, 2);
    CU_ASSERT_EQUAL(m->blocks[m->points[2].block].address, 3);
    CU_ASSERT_EQUAL(m->blocks[m->points[2].block].count, 2);
    CU_ASSERT_EQUAL(m->blocks[m->points[3].block].function, DRV_MAP_INPUT);
    drv_map_free(m);

    /* max_gap 1: one holding request 0-4, input alone, one coil request 10-12 */
    snprintf(text, sizeof(text), "[device]\nmax_gap = 1\n%s", points);
    m = parse_ok(text);
    CU_ASSERT_EQUAL(m->n_blocks, 3);
    CU_ASSERT(m->points[0].block == m->points[2].block);
    CU_ASSERT_EQUAL(m->blocks[m->points[0].block].count, 5);
    CU_ASSERT(m->points[4].block == m->points[5].block);
    CU_ASSERT_EQUAL(m->blocks[m->points[4].block].count, 3);
    CU_ASSERT_EQUAL(m->blocks[m->points[4].block].function, DRV_MAP_COIL);
    drv_map_free(m);

    /* the device's request limit splits what the gap would merge */
    snprintf(text, sizeof(text), "[device]\nmax_gap = 1\nmax_read_registers = 4\n%s", points);
    m = parse_ok(text);
    CU_ASSERT_EQUAL(m->n_blocks, 4);
    CU_ASSERT(m->points[0].block != m->points[2].block);
    drv_map_free(m);
}

/*
 * A map has at most as many points as a sensor may give readings in one
 * sample (DRV_MAX_READINGS, the room the node gives each sensor): one more
 * is refused at load, naming the extra point's line, instead of loading and
 * then failing every sample.
 */
static void test_point_limit(void)
{
    char text[DRV_MAX_READINGS * 64 + 64];
    size_t len = 0;
    struct drv_map *m;
    struct drv_map_diag diag;

    for (int i = 0; i <= DRV_MAX_READINGS; i++) {
        int n;

        if (i == DRV_MAX_READINGS) { /* exactly the limit loads */
            m = parse_ok(text);
            CU_ASSERT_EQUAL(m->n_points, DRV_MAX_READINGS);
            drv_map_free(m);
        }
        n = snprintf(text + len, sizeof(text) - len,
                     "[point p%d]\naddress = %d\nquantity = %s\nlane = %d\n", i, i,
                     i < 17 ? "STRAIN" : "TEMPERATURE", i % 17);
        CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(text) - len);
        len += (size_t)n;
    }
    m = NULL;
    CU_ASSERT_EQUAL(drv_map_parse(text, "big.ini", &m, &diag), -EINVAL);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(diag.line, 4 * DRV_MAX_READINGS + 1); /* four lines per point */
    CU_ASSERT_PTR_NOT_NULL(strstr(diag.text, "more than"));
    drv_map_free(m);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"a full map", test_full_map},
        {"shipped maps load", test_shipped_maps},
        {"traffic counter is one request", test_traffic_counter_plan},
        {"broken maps name their line", test_broken_maps},
        {"missing file", test_missing_file},
        {"read planning", test_plan},
        {"no more points than readings per sample", test_point_limit},
        {NULL, NULL},
    };

    return cu_main("regmap", tests);
}
