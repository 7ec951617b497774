/*
 * regmap.c -- parses and validates a register map, then plans its reads.
 *
 * libinih does the INI syntax; this file owns the meaning. inih's handler is
 * not told line numbers in Debian's build, so the map is fed to
 * ini_parse_stream() through a reader that counts lines and also notices
 * section headers: every diagnostic carries the line of the key, or of the
 * section header for what is only known once a section is complete (a
 * missing address, a unit that is not the quantity's). The reader also
 * refuses lines longer than inih's buffer instead of letting inih split them.
 *
 * Validation is complete at load time (types against functions, units
 * against quantities, overlapping registers, duplicate readings), so the
 * driver and modbus-sim never meet a half-valid map. The read plan is made
 * here too, because it depends only on the map: points are sorted by function
 * and address and merged into one request while the registers in between
 * stay within the map's max_gap and the request within the Modbus limits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "internal.h"
#include "regmap.h"

/* inih's line buffer in Debian's build is 200 bytes, including "\r\n\0". */
#define MAP_MAX_LINE 197

enum section_kind { SECTION_NONE, SECTION_DEVICE, SECTION_POINT };

/* Keys of a point, as bits, to refuse repeats and know what was given. */
enum point_key {
    PK_ADDRESS = 1u << 0,
    PK_FUNCTION = 1u << 1,
    PK_TYPE = 1u << 2,
    PK_WORD_ORDER = 1u << 3,
    PK_BYTE_ORDER = 1u << 4,
    PK_SCALE = 1u << 5,
    PK_OFFSET = 1u << 6,
    PK_QUANTITY = 1u << 7,
    PK_UNIT = 1u << 8,
    PK_LANE = 1u << 9,
    PK_VEHICLE_CLASS = 1u << 10,
    PK_NO_DATA = 1u << 11,
};

struct point_state {
    unsigned given; /* enum point_key bits */
};

struct parse {
    struct drv_map *map;
    struct drv_map_diag *diag;
    bool failed;
    bool out_of_memory;
    /* input: a file or a string */
    FILE *file;
    const char *text;
    uint32_t line;
    /* current section */
    enum section_kind kind;
    char section[DRV_MAP_NAME_BYTES + 8];
    uint32_t section_line;
    bool device_seen;
    unsigned device_given; /* point_key bits for the device defaults */
    struct point_state *states;
    size_t cap_points;
    /* device defaults */
    enum drv_map_function def_function;
    enum drv_reg_type def_type;
    enum drv_reg_order def_word_order, def_byte_order;
};

static const char *const function_names[] = {"holding", "input", "coil", "discrete"};

const char *drv_map_function_name(enum drv_map_function function)
{
    return (unsigned)function < 4 ? function_names[function] : "?";
}

const char *drv_map_diag_format(const struct drv_map_diag *diag, char *buf, size_t size)
{
    if (diag->line)
        snprintf(buf, size, "%s:%u: %s", diag->file, (unsigned)diag->line, diag->text);
    else
        snprintf(buf, size, "%s: %s", diag->file, diag->text);
    return buf;
}

/* Records the first error at line; returns 0, which is what inih's handler returns on error. */
__attribute__((format(printf, 3, 4))) static int fail_at(struct parse *ps, uint32_t line,
                                                         const char *fmt, ...)
{
    va_list ap;

    if (ps->failed)
        return 0;
    ps->failed = true;
    ps->diag->line = line;
    va_start(ap, fmt);
    vsnprintf(ps->diag->text, sizeof(ps->diag->text), fmt, ap);
    va_end(ap);
    return 0;
}

static int parse_function(const char *s, enum drv_map_function *out)
{
    for (unsigned i = 0; i < 4; i++) {
        if (strcmp(s, function_names[i]) == 0) {
            *out = (enum drv_map_function)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_order(const char *s, enum drv_reg_order *out)
{
    if (strcmp(s, "big") == 0)
        *out = DRV_REG_BIG;
    else if (strcmp(s, "little") == 0)
        *out = DRV_REG_LITTLE;
    else
        return -EINVAL;
    return 0;
}

static bool is_bit_function(enum drv_map_function f)
{
    return f == DRV_MAP_COIL || f == DRV_MAP_DISCRETE;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= DRV_MAP_NAME_BYTES)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Starts the section named by a header line (text between the brackets). */
static void begin_section(struct parse *ps, const char *name)
{
    struct drv_map *m = ps->map;

    snprintf(ps->section, sizeof(ps->section), "%s", name);
    ps->section_line = ps->line;
    if (strcmp(name, "device") == 0) {
        if (ps->device_seen) {
            fail_at(ps, ps->line, "a second [device] section");
            return;
        }
        ps->device_seen = true;
        ps->kind = SECTION_DEVICE;
        return;
    }
    if (strncmp(name, "point ", 6) != 0) {
        fail_at(ps, ps->line, "unknown section [%s]: expected [device] or [point NAME]", name);
        return;
    }
    name += 6;
    if (!valid_name(name)) {
        fail_at(ps, ps->line, "point name \"%s\" must be 1 to %d of A-Z a-z 0-9 . _ -", name,
                DRV_MAP_NAME_BYTES - 1);
        return;
    }
    for (size_t i = 0; i < m->n_points; i++) {
        if (strcmp(m->points[i].name, name) == 0) {
            fail_at(ps, ps->line, "point %s is defined twice (first at line %u)", name,
                    (unsigned)m->points[i].line);
            return;
        }
    }
    if (m->n_points == ps->cap_points) {
        size_t cap = ps->cap_points ? ps->cap_points * 2 : 16;
        struct drv_map_point *points;
        struct point_state *states;

        if (m->n_points >= DRV_MAP_MAX_POINTS) {
            fail_at(ps, ps->line, "more than %d points (readings one sample may give)",
                    DRV_MAP_MAX_POINTS);
            return;
        }
        if (cap > DRV_MAP_MAX_POINTS)
            cap = DRV_MAP_MAX_POINTS;
        points = realloc(m->points, cap * sizeof(*points));
        if (points)
            m->points = points;
        states = points ? realloc(ps->states, cap * sizeof(*states)) : NULL;
        if (states)
            ps->states = states;
        if (!points || !states) {
            fail_at(ps, ps->line, "out of memory");
            ps->out_of_memory = true;
            return;
        }
        ps->cap_points = cap;
    }
    memset(&m->points[m->n_points], 0, sizeof(m->points[0]));
    memset(&ps->states[m->n_points], 0, sizeof(ps->states[0]));
    snprintf(m->points[m->n_points].name, DRV_MAP_NAME_BYTES, "%s", name);
    m->points[m->n_points].line = ps->line;
    m->n_points++;
    ps->kind = SECTION_POINT;
}

/*
 * fgets-style reader for inih: counts lines, refuses overlong ones and opens
 * sections, so that the handler always knows the current line.
 */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *ps = stream;
    size_t len = 0;
    const char *p;

    if (ps->failed)
        return NULL;
    if (ps->file) {
        if (!fgets(str, num, ps->file))
            return NULL;
        len = strlen(str);
    } else {
        if (!*ps->text)
            return NULL;
        while (ps->text[len] && ps->text[len] != '\n' && len + 2 < (size_t)num)
            len++;
        if (ps->text[len] == '\n')
            len++;
        memcpy(str, ps->text, len);
        str[len] = '\0';
        ps->text += len;
    }
    ps->line++;
    if (len > MAP_MAX_LINE + 1 ||
        (len > 0 && str[len - 1] != '\n' && (ps->file ? !feof(ps->file) : *ps->text != '\0'))) {
        fail_at(ps, ps->line, "line longer than %d characters", MAP_MAX_LINE);
        return NULL;
    }
    for (p = str; *p == ' ' || *p == '\t'; p++)
        ;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        char name[sizeof(ps->section)];
        size_t n;

        if (!end) {
            fail_at(ps, ps->line, "section header without ]");
            return NULL;
        }
        n = (size_t)(end - p - 1);
        if (n >= sizeof(name)) {
            fail_at(ps, ps->line, "section name too long");
            return NULL;
        }
        memcpy(name, p + 1, n);
        name[n] = '\0';
        begin_section(ps, name);
        if (ps->failed)
            return NULL;
    }
    return str;
}

static int bad_value(struct parse *ps, const char *key, const char *value, const char *expected)
{
    return fail_at(ps, ps->line, "%s: \"%s\" is not %s", key, value, expected);
}

/* Keys shared by [device] (as defaults) and [point]. Returns 1 handled, 0 error, -1 not mine. */
static int layout_key(struct parse *ps, unsigned *given, const char *key, const char *value,
                      enum drv_map_function *function, enum drv_reg_type *type,
                      enum drv_reg_order *word_order, enum drv_reg_order *byte_order)
{
    unsigned bit;
    int rc;

    if (strcmp(key, "function") == 0) {
        bit = PK_FUNCTION;
        rc = parse_function(value, function);
        if (rc)
            return bad_value(ps, key, value, "holding, input, coil or discrete");
    } else if (strcmp(key, "type") == 0) {
        bit = PK_TYPE;
        rc = drv_reg_type_parse(value, type);
        if (rc)
            return bad_value(ps, key, value, "bool, int16, uint16, int32, uint32 or float32");
    } else if (strcmp(key, "word_order") == 0 || strcmp(key, "byte_order") == 0) {
        bool word = key[0] == 'w';
        bit = word ? PK_WORD_ORDER : PK_BYTE_ORDER;
        rc = parse_order(value, word ? word_order : byte_order);
        if (rc)
            return bad_value(ps, key, value, "big or little");
    } else {
        return -1;
    }
    if (*given & bit)
        return fail_at(ps, ps->line, "%s given twice", key);
    *given |= bit;
    return 1;
}

static int device_key(struct parse *ps, const char *key, const char *value)
{
    struct drv_map *m = ps->map;
    uint64_t u = 0;
    int rc = layout_key(ps, &ps->device_given, key, value, &ps->def_function, &ps->def_type,
                        &ps->def_word_order, &ps->def_byte_order);

    if (rc >= 0)
        return rc;
    if (strncmp(key, "sim.", 4) == 0) {
        size_t i = m->n_sim_params;
        if (i == DRV_MAP_MAX_SIM_PARAMS)
            return fail_at(ps, ps->line, "more than %d sim.* keys", DRV_MAP_MAX_SIM_PARAMS);
        if (strlen(key + 4) == 0 || strlen(key + 4) >= DRV_MAP_SIM_TEXT_BYTES ||
            strlen(value) >= DRV_MAP_SIM_TEXT_BYTES)
            return fail_at(ps, ps->line, "%s: key or value empty or longer than %d characters", key,
                           DRV_MAP_SIM_TEXT_BYTES - 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->sim_text[k][0], key + 4) == 0)
                return fail_at(ps, ps->line, "%s given twice", key);
        snprintf(m->sim_text[i][0], DRV_MAP_SIM_TEXT_BYTES, "%s", key + 4);
        snprintf(m->sim_text[i][1], DRV_MAP_SIM_TEXT_BYTES, "%s", value);
        m->n_sim_params++;
        return 1;
    }
    if (strcmp(key, "model") == 0 || strcmp(key, "simulator") == 0) {
        char *dst = key[0] == 'm' ? m->model : m->simulator;
        size_t cap = key[0] == 'm' ? sizeof(m->model) : sizeof(m->simulator);
        if (*dst)
            return fail_at(ps, ps->line, "%s given twice", key);
        if (!*value || strlen(value) >= cap)
            return fail_at(ps, ps->line, "%s: empty or longer than %zu characters", key, cap - 1);
        memcpy(dst, value, strlen(value) + 1);
        return 1;
    }
    if (strcmp(key, "sim_interval_ms") == 0) {
        rc = drv__parse_ms(value, 1, 86400000, &u);
        m->sim_interval_ms = (uint32_t)u;
    } else if (strcmp(key, "max_gap") == 0) {
        rc = drv__parse_u64(value, 0, DRV_MAP_MAX_READ_BITS, &u);
        m->max_gap = (uint32_t)u;
    } else if (strcmp(key, "max_read_registers") == 0) {
        rc = drv__parse_u64(value, 1, DRV_MAP_MAX_READ_REGISTERS, &u);
        m->max_read_registers = (uint32_t)u;
    } else if (strcmp(key, "max_read_bits") == 0) {
        rc = drv__parse_u64(value, 1, DRV_MAP_MAX_READ_BITS, &u);
        m->max_read_bits = (uint32_t)u;
    } else {
        return fail_at(ps, ps->line, "unknown key %s in [device]", key);
    }
    if (rc)
        return fail_at(ps, ps->line, "%s: \"%s\" is not a number in range", key, value);
    return 1;
}

static int point_key(struct parse *ps, const char *key, const char *value)
{
    struct drv_map_point *pt = &ps->map->points[ps->map->n_points - 1];
    unsigned *given = &ps->states[ps->map->n_points - 1].given;
    unsigned bit;
    uint64_t u = 0;
    int e = 0;
    int rc = layout_key(ps, given, key, value, &pt->function, &pt->format.type,
                        &pt->format.word_order, &pt->format.byte_order);

    if (rc >= 0)
        return rc;
    if (strcmp(key, "address") == 0) {
        bit = PK_ADDRESS;
        if (drv__parse_u64(value, 0, 65535, &u))
            return bad_value(ps, key, value, "a protocol address 0 ... 65535");
        pt->address = (uint16_t)u;
    } else if (strcmp(key, "scale") == 0 || strcmp(key, "offset") == 0) {
        bool scale = key[0] == 's';
        bit = scale ? PK_SCALE : PK_OFFSET;
        if (drv__parse_double(value, -1e15, 1e15, scale ? &pt->format.scale : &pt->format.offset))
            return bad_value(ps, key, value, "a number");
        if (scale && pt->format.scale == 0.0)
            return bad_value(ps, key, value, "a nonzero number");
    } else if (strcmp(key, "quantity") == 0) {
        bit = PK_QUANTITY;
        if (drv__enum_parse(&citygate__v1__quantity__descriptor, value, &e))
            return bad_value(ps, key, value, "a Quantity of frame.proto (e.g. SPEED)");
        pt->quantity = (Citygate__V1__Quantity)e;
    } else if (strcmp(key, "unit") == 0) {
        bit = PK_UNIT;
        if (drv__enum_parse(&citygate__v1__unit__descriptor, value, &e))
            return bad_value(ps, key, value, "a Unit of frame.proto (e.g. KILOMETRES_PER_HOUR)");
        pt->unit = (Citygate__V1__Unit)e;
    } else if (strcmp(key, "vehicle_class") == 0) {
        bit = PK_VEHICLE_CLASS;
        if (drv__enum_parse(&citygate__v1__vehicle_class__descriptor, value, &e))
            return bad_value(ps, key, value, "a VehicleClass of frame.proto (e.g. TRUCK)");
        pt->vehicle_class = (Citygate__V1__VehicleClass)e;
    } else if (strcmp(key, "lane") == 0) {
        bit = PK_LANE;
        if (drv__parse_u64(value, 0, 16, &u))
            return bad_value(ps, key, value, "a lane 0 ... 16");
        pt->lane = (uint32_t)u;
    } else if (strcmp(key, "no_data") == 0) {
        bit = PK_NO_DATA;
        if (drv__parse_u64(value, 0, UINT32_MAX, &u))
            return bad_value(ps, key, value, "a raw value 0 ... 0xFFFFFFFF");
        pt->has_no_data = true;
        pt->no_data = (uint32_t)u;
    } else {
        return fail_at(ps, ps->line, "unknown key %s in [point %s]", key, pt->name);
    }
    if (*given & bit)
        return fail_at(ps, ps->line, "%s given twice", key);
    *given |= bit;
    return 1;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parse *ps = user;

    (void)section; /* the reader tracks sections, including empty ones */
    if (ps->failed)
        return 0;
    switch (ps->kind) {
    case SECTION_DEVICE:
        return device_key(ps, key, value);
    case SECTION_POINT:
        return point_key(ps, key, value);
    default:
        return fail_at(ps, ps->line, "%s outside a section", key);
    }
}

/* Applies defaults and checks what needs the whole section. */
static int finish_point(struct parse *ps, size_t i)
{
    struct drv_map_point *pt = &ps->map->points[i];
    unsigned given = ps->states[i].given;
    Citygate__V1__Unit unit;
    const char *qname;

    if (!(given & PK_ADDRESS))
        return fail_at(ps, pt->line, "point %s has no address", pt->name);
    if (!(given & PK_QUANTITY))
        return fail_at(ps, pt->line, "point %s has no quantity", pt->name);
    if (!(given & PK_FUNCTION))
        pt->function = ps->def_function;
    if (!(given & PK_TYPE))
        pt->format.type = is_bit_function(pt->function)  ? DRV_REG_BOOL
                          : (ps->device_given & PK_TYPE) ? ps->def_type
                                                         : DRV_REG_UINT16;
    if (!(given & PK_WORD_ORDER))
        pt->format.word_order = ps->def_word_order;
    if (!(given & PK_BYTE_ORDER))
        pt->format.byte_order = ps->def_byte_order;
    if (!(given & PK_SCALE))
        pt->format.scale = 1.0;
    if (!(given & PK_OFFSET))
        pt->format.offset = 0.0;
    if (is_bit_function(pt->function) != (pt->format.type == DRV_REG_BOOL))
        return fail_at(ps, pt->line, "point %s: type %s does not fit function %s", pt->name,
                       drv_reg_type_name(pt->format.type), drv_map_function_name(pt->function));
    if (drv_reg_words(pt->format.type) >
        (is_bit_function(pt->function) ? ps->map->max_read_bits : ps->map->max_read_registers))
        return fail_at(ps, pt->line, "point %s: %s does not fit one request of the device",
                       pt->name, drv_reg_type_name(pt->format.type));
    if ((uint32_t)pt->address + drv_reg_words(pt->format.type) > 65536u)
        return fail_at(ps, pt->line, "point %s: %s at %u runs past address 65535", pt->name,
                       drv_reg_type_name(pt->format.type), (unsigned)pt->address);
    qname = drv__enum_name(&citygate__v1__quantity__descriptor, (int)pt->quantity);
    unit = drv__unit_of(pt->quantity);
    if (unit == CITYGATE__V1__UNIT__UNIT_UNSPECIFIED)
        return fail_at(ps, pt->line, "point %s: quantity %s has no known unit", pt->name, qname);
    if ((given & PK_UNIT) && pt->unit != unit)
        return fail_at(ps, pt->line, "point %s: the unit of %s is %s, not %s", pt->name, qname,
                       drv__enum_name(&citygate__v1__unit__descriptor, (int)unit),
                       drv__enum_name(&citygate__v1__unit__descriptor, (int)pt->unit));
    pt->unit = unit;
    if ((pt->quantity == CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT) !=
        ((given & PK_VEHICLE_CLASS) != 0))
        return fail_at(ps, pt->line,
                       "point %s: vehicle_class is required with VEHICLE_CLASS_COUNT and "
                       "allowed only there",
                       pt->name);
    if (pt->has_no_data && drv_reg_words(pt->format.type) == 1 && pt->no_data > 0xFFFFu)
        return fail_at(ps, pt->line, "point %s: no_data does not fit a 16-bit register", pt->name);
    for (size_t k = 0; k < i; k++) {
        const struct drv_map_point *o = &ps->map->points[k];
        if (o->quantity == pt->quantity && o->lane == pt->lane &&
            o->vehicle_class == pt->vehicle_class)
            return fail_at(ps, pt->line, "point %s reports the same %s (lane %u) as point %s",
                           pt->name, qname, (unsigned)pt->lane, o->name);
    }
    return 1;
}

struct sort_key {
    enum drv_map_function function;
    uint32_t address, end; /* end exclusive */
    size_t index;
};

static int cmp_sort_key(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;

    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts the points by function and address and merges them into read requests. */
static int plan_reads(struct parse *ps)
{
    struct drv_map *m = ps->map;
    struct sort_key *keys = NULL;
    struct drv_map_block *blk = NULL;
    uint32_t end = 0;
    int rc = 0;

    if (m->n_points == 0)
        return 1;
    keys = calloc(m->n_points, sizeof(*keys));
    m->blocks = calloc(m->n_points, sizeof(*m->blocks));
    if (!keys || !m->blocks) {
        rc = fail_at(ps, 0, "out of memory");
        ps->out_of_memory = true;
        goto out;
    }
    for (size_t i = 0; i < m->n_points; i++) {
        keys[i].function = m->points[i].function;
        keys[i].address = m->points[i].address;
        keys[i].end = keys[i].address + drv_reg_words(m->points[i].format.type);
        keys[i].index = i;
    }
    qsort(keys, m->n_points, sizeof(*keys), cmp_sort_key);
    for (size_t i = 0; i < m->n_points; i++) {
        const struct sort_key *k = &keys[i];
        uint32_t limit = is_bit_function(k->function) ? m->max_read_bits : m->max_read_registers;

        if (blk && blk->function == k->function && k->address < end) {
            const struct drv_map_point *prev = &m->points[keys[i - 1].index];
            rc = fail_at(ps, m->points[k->index].line, "point %s overlaps point %s",
                         m->points[k->index].name, prev->name);
            goto out;
        }
        if (!blk || blk->function != k->function || k->address > end + m->max_gap ||
            k->end - blk->address > limit) {
            blk = &m->blocks[m->n_blocks++];
            blk->function = k->function;
            blk->address = (uint16_t)k->address;
        }
        end = k->end;
        blk->count = (uint16_t)(end - blk->address);
        m->points[k->index].block = m->n_blocks - 1;
    }
    rc = 1;
out:
    free(keys);
    return rc;
}

static void parse_init(struct parse *ps, struct drv_map *m, const char *name,
                       struct drv_map_diag *diag)
{
    memset(ps, 0, sizeof(*ps));
    memset(diag, 0, sizeof(*diag));
    snprintf(diag->file, sizeof(diag->file), "%s", name);
    ps->map = m;
    ps->diag = diag;
    ps->def_function = DRV_MAP_HOLDING;
    ps->def_word_order = DRV_REG_BIG;
    ps->def_byte_order = DRV_REG_BIG;
    m->max_read_registers = DRV_MAP_MAX_READ_REGISTERS;
    m->max_read_bits = DRV_MAP_MAX_READ_BITS;
}

/* Runs inih over the prepared input and validates the result. */
static int parse_run(struct parse *ps)
{
    struct drv_map *m = ps->map;
    int line = ini_parse_stream(read_line, ps, on_key, ps);

    if (line > 0 && !ps->failed)
        fail_at(ps, (uint32_t)line, "syntax error: expected KEY = VALUE or [section]");
    if (line < 0 && !ps->failed)
        fail_at(ps, 0, "cannot read the map");
    if (!ps->failed && m->n_points == 0)
        fail_at(ps, 0, "no [point NAME] sections");
    for (size_t i = 0; i < m->n_points && !ps->failed; i++)
        finish_point(ps, i);
    if (!ps->failed && m->simulator[0] && m->sim_interval_ms == 0)
        m->sim_interval_ms = 1000;
    for (size_t i = 0; i < m->n_sim_params; i++) {
        m->sim_params[i].key = m->sim_text[i][0];
        m->sim_params[i].value = m->sim_text[i][1];
    }
    if (!ps->failed)
        plan_reads(ps);
    free(ps->states);
    ps->states = NULL;
    return !ps->failed ? 0 : ps->out_of_memory ? -ENOMEM : -EINVAL;
}

static int parse_common(FILE *file, const char *text, const char *name, struct drv_map **out,
                        struct drv_map_diag *diag)
{
    struct drv_map *m = calloc(1, sizeof(*m));
    struct parse ps;
    int rc;

    if (!m) {
        memset(diag, 0, sizeof(*diag));
        snprintf(diag->text, sizeof(diag->text), "out of memory");
        return -ENOMEM;
    }
    parse_init(&ps, m, name, diag);
    ps.file = file;
    ps.text = text;
    rc = parse_run(&ps);
    if (rc) {
        drv_map_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int drv_map_parse(const char *text, const char *name, struct drv_map **out,
                  struct drv_map_diag *diag)
{
    return parse_common(NULL, text, name, out, diag);
}

int drv_map_load(const char *path, struct drv_map **out, struct drv_map_diag *diag)
{
    FILE *f = fopen(path, "r");
    int rc;

    if (!f) {
        rc = -errno;
        memset(diag, 0, sizeof(*diag));
        snprintf(diag->file, sizeof(diag->file), "%s", path);
        snprintf(diag->text, sizeof(diag->text), "cannot open: %s", strerror(errno));
        return rc;
    }
    rc = parse_common(f, NULL, path, out, diag);
    fclose(f);
    return rc;
}

void drv_map_free(struct drv_map *map)
{
    if (!map)
        return;
    free(map->points);
    free(map->blocks);
    free(map);
}
