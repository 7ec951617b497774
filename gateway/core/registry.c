/*
 * registry.c -- the device registry: INI text in memory to an immutable hash
 * table of devices (uthash, keyed by device id), and one of the sites that
 * have a [site NAME] section.
 *
 * libinih does the INI syntax; this file owns the meaning. inih is driven
 * through ini_parse_stream() with a reader over the caller's buffer rather
 * than ini_parse_string(), because the reader sees every physical line first:
 * it counts lines (the handler of Debian's inih gets no line number), refuses
 * over-long lines instead of letting inih split them, and parses section
 * headers itself, since inih truncates section names to 49 characters and a
 * device id may have 64. A section ends when the reader meets the next header
 * or the end of the text, which is when its required keys are checked.
 *
 * The first error stops the parse and is reported with its line; nothing is
 * logged. The table is never modified after gw_registry_new() returns, which
 * is what makes lock-free reads and a whole-registry swap on SIGHUP safe.
 */
#include "registry.h"

#include "alloc.h" /* before uthash.h: uthash allocates through gw_malloc */
#include <uthash.h>

#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

enum {
    REG_SEEN_SITE = 1u << 0,
    REG_SEEN_KEY = 1u << 1,
    REG_SEEN_SENSORS = 1u << 2,
    REG_SEEN_ZONE = 1u << 3,
    REG_SEEN_FREE_FLOW = 1u << 4,
};

struct gw_reg_entry {
    UT_hash_handle hh;
    struct gw_device dev;
    unsigned seen;              /* REG_SEEN_* */
    struct wire_hmac_key *hmac; /* owned; dev.hmac aliases it */
    struct gw_range *ranges;    /* owned; dev.ranges aliases it */
    void *sensor_block;         /* owned: the pointer array and the ids; dev.sensors aliases it */
};

struct gw_reg_site {
    UT_hash_handle hh;
    struct gw_site site;
    unsigned seen; /* REG_SEEN_* */
};

struct gw_registry {
    struct gw_reg_entry *head;
    struct gw_reg_site *sites;
    size_t n_devices;
};

struct reg_parse {
    const char *p, *end; /* text not yet handed to inih */
    int line;            /* line last handed to inih */
    struct gw_registry *reg;
    struct gw_reg_entry *cur;     /* device whose section is open */
    struct gw_reg_site *cur_site; /* or site whose section is open */
    int err;                      /* first error: 0, GW_ECONFIG or GW_ENOMEM */
    struct gw_registry_diag diag;
};

/* Records the first error at line; returns 0, inih's "handler failed". */
__attribute__((format(printf, 4, 5))) static int reg_fail(struct reg_parse *ps, int err, int line,
                                                          const char *fmt, ...)
{
    if (ps->err)
        return 0;
    va_list ap;
    ps->err = err;
    ps->diag.line = line;
    va_start(ap, fmt);
    vsnprintf(ps->diag.message, sizeof ps->diag.message, fmt, ap);
    va_end(ap);
    return 0;
}

static int reg_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Narrows [*s, *e) to its non-blank part. */
static void reg_trim(const char **s, const char **e)
{
    while (*s < *e && reg_is_space(**s))
        (*s)++;
    while (*e > *s && reg_is_space((*e)[-1]))
        (*e)--;
}

static void reg_entry_free(struct gw_reg_entry *e)
{
    if (!e)
        return;
    wire_hmac_key_free(e->hmac);
    gw_free(e->ranges);
    gw_free(e->sensor_block);
    gw_free(e);
}

/* Closes the open section: a device needs a site and a key. */
static void reg_section_end(struct reg_parse *ps)
{
    struct gw_reg_entry *e = ps->cur;
    ps->cur_site = NULL;
    if (!e)
        return;
    ps->cur = NULL;
    if (!(e->seen & REG_SEEN_SITE))
        reg_fail(ps, GW_ECONFIG, e->dev.line, "device %s has no site", e->dev.id);
    else if (!(e->seen & REG_SEEN_KEY))
        reg_fail(ps, GW_ECONFIG, e->dev.line, "device %s has no key", e->dev.id);
}

/* Opens the section of site [s, e) (a [site NAME] header). */
static void reg_site_start(struct reg_parse *ps, const char *s, const char *e)
{
    struct gw_reg_site *site = NULL;
    char name[GW_MAX_NAME + 1];

    if (!gw__id_valid(s, (size_t)(e - s), GW_MAX_NAME)) {
        reg_fail(ps, GW_ECONFIG, ps->line, "site name is not [A-Za-z0-9._-]{1,%d}", GW_MAX_NAME);
        return;
    }
    if (gw_name_reserved(s, (size_t)(e - s))) {
        reg_fail(ps, GW_ECONFIG, ps->line, "site %.*s is a reserved topic name", (int)(e - s), s);
        return;
    }
    memcpy(name, s, (size_t)(e - s));
    name[e - s] = '\0';
    HASH_FIND_STR(ps->reg->sites, name, site);
    if (site) {
        reg_fail(ps, GW_ECONFIG, ps->line, "site %s already defined at line %d", name,
                 site->site.line);
        return;
    }
    site = gw_calloc(1, sizeof *site);
    if (!site) {
        reg_fail(ps, GW_ENOMEM, 0, "out of memory");
        return;
    }
    memcpy(site->site.name, name, sizeof name);
    site->site.line = ps->line;
    site->site.free_flow_kmh = GW_REGISTRY_FREE_FLOW_KMH;
    HASH_ADD_STR(ps->reg->sites, site.name, site);
    if (!site->hh.tbl) {
        gw_free(site);
        reg_fail(ps, GW_ENOMEM, 0, "out of memory");
        return;
    }
    ps->cur_site = site;
}

/* Opens the section whose header is line ("[device ID]" or "[site NAME]", NUL-terminated). */
static void reg_section_start(struct reg_parse *ps, const char *line)
{
    const char *s = line + 1, *close = strchr(s, ']'), *e, *rest;
    struct gw_reg_entry *dev = NULL;

    reg_section_end(ps);
    if (ps->err)
        return;
    if (!close) {
        reg_fail(ps, GW_ECONFIG, ps->line, "section header without ']'");
        return;
    }
    for (rest = close + 1; reg_is_space(*rest); rest++)
        ;
    if (*rest && *rest != ';' && *rest != '#') {
        reg_fail(ps, GW_ECONFIG, ps->line, "text after the section header");
        return;
    }
    e = close;
    reg_trim(&s, &e);
    if (e - s >= 5 && memcmp(s, "site", 4) == 0 && reg_is_space(s[4])) {
        s += 4;
        reg_trim(&s, &e);
        reg_site_start(ps, s, e);
        return;
    }
    if (e - s < 7 || memcmp(s, "device", 6) != 0 || !reg_is_space(s[6])) {
        reg_fail(ps, GW_ECONFIG, ps->line, "unknown section, expected [device ID] or [site NAME]");
        return;
    }
    s += 6;
    reg_trim(&s, &e);
    if (!gw__id_valid(s, (size_t)(e - s), WIRE_MAX_DEVICE_ID)) {
        reg_fail(ps, GW_ECONFIG, ps->line, "device id is not [A-Za-z0-9._-]{1,%d}",
                 WIRE_MAX_DEVICE_ID);
        return;
    }
    if (gw_name_reserved(s, (size_t)(e - s))) {
        reg_fail(ps, GW_ECONFIG, ps->line, "device id %.*s is a reserved topic name", (int)(e - s),
                 s);
        return;
    }
    char id[WIRE_MAX_DEVICE_ID + 1];
    memcpy(id, s, (size_t)(e - s));
    id[e - s] = '\0';
    HASH_FIND_STR(ps->reg->head, id, dev);
    if (dev) {
        reg_fail(ps, GW_ECONFIG, ps->line, "device %s already defined at line %d", id,
                 dev->dev.line);
        return;
    }
    if (ps->reg->n_devices >= GW_REGISTRY_MAX_DEVICES) {
        reg_fail(ps, GW_ECONFIG, ps->line, "more than %d devices", GW_REGISTRY_MAX_DEVICES);
        return;
    }
    dev = gw_calloc(1, sizeof *dev);
    if (!dev) {
        reg_fail(ps, GW_ENOMEM, 0, "out of memory");
        return;
    }
    memcpy(dev->dev.id, id, sizeof id);
    dev->dev.line = ps->line;
    HASH_ADD_STR(ps->reg->head, dev.id, dev);
    if (!dev->hh.tbl) {
        reg_entry_free(dev);
        reg_fail(ps, GW_ENOMEM, 0, "out of memory");
        return;
    }
    ps->reg->n_devices++;
    ps->cur = dev;
}

/*
 * inih's reader (fgets contract): hands over one physical line of the text.
 * Returns NULL at the end of the text or after an error, which ends the parse.
 */
static char *reg_read_line(char *str, int num, void *stream)
{
    struct reg_parse *ps = stream;

    if (ps->err)
        return NULL;
    if (ps->p == ps->end) {
        reg_section_end(ps);
        return NULL;
    }
    const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    size_t n = nl ? (size_t)(nl - ps->p) + 1 : (size_t)(ps->end - ps->p);
    size_t chars = n - (nl != NULL);
    if (chars > 0 && ps->p[chars - 1] == '\r')
        chars--;
    ps->line++;
    /* Room for the line, CR LF and the NUL, as inih's ini.h asks. */
    if (num < 4 || chars > (size_t)num - 3) {
        reg_fail(ps, GW_ECONFIG, ps->line, "line longer than %d characters", num < 4 ? 0 : num - 3);
        return NULL;
    }
    if (memchr(ps->p, '\0', n)) {
        reg_fail(ps, GW_ECONFIG, ps->line, "NUL byte");
        return NULL;
    }
    memcpy(str, ps->p, n);
    str[n] = '\0';
    ps->p += n;
    if (str[0] == '[') {
        reg_section_start(ps, str);
    } else {
        const char *s = str;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[')
            reg_fail(ps, GW_ECONFIG, ps->line, "indented section header");
    }
    return ps->err ? NULL : str;
}

static int reg_set_key(struct reg_parse *ps, struct gw_reg_entry *e, const char *value)
{
    int n = wire_key_from_hex(value, e->dev.key);
    if (n < 0)
        return reg_fail(ps, GW_ECONFIG, ps->line, "key is not %d..%d hex digits",
                        2 * WIRE_MIN_KEY_BYTES, 2 * WIRE_MAX_KEY_BYTES);
    e->dev.key_len = (size_t)n;
    e->hmac = wire_hmac_key_new(e->dev.key, e->dev.key_len);
    if (!e->hmac)
        return reg_fail(ps, GW_ENOMEM, 0, "out of memory");
    e->dev.hmac = e->hmac;
    return 1;
}

/* Parses "a,b,c" into one block: n pointers followed by the NUL-terminated ids. */
static int reg_set_sensors(struct reg_parse *ps, struct gw_reg_entry *e, const char *value)
{
    const char *ids[GW_REGISTRY_MAX_SENSORS];
    size_t lens[GW_REGISTRY_MAX_SENSORS], n = 0, bytes = 0;

    for (const char *p = value;; p++) {
        const char *comma = strchr(p, ','), *s = p, *end = comma ? comma : p + strlen(p);
        reg_trim(&s, &end);
        if (n == GW_REGISTRY_MAX_SENSORS)
            return reg_fail(ps, GW_ECONFIG, ps->line, "more than %d sensors",
                            GW_REGISTRY_MAX_SENSORS);
        if (!gw__id_valid(s, (size_t)(end - s), GW_MAX_NAME))
            return reg_fail(ps, GW_ECONFIG, ps->line, "sensor %zu is not [A-Za-z0-9._-]{1,%d}",
                            n + 1, GW_MAX_NAME);
        for (size_t i = 0; i < n; i++)
            if (lens[i] == (size_t)(end - s) && memcmp(ids[i], s, lens[i]) == 0)
                return reg_fail(ps, GW_ECONFIG, ps->line, "sensor %.*s listed twice", (int)lens[i],
                                ids[i]);
        ids[n] = s;
        lens[n] = (size_t)(end - s);
        bytes += lens[n++] + 1;
        if (!comma)
            break;
        p = comma;
    }
    char **ptrs = gw_malloc(n * sizeof *ptrs + bytes);
    if (!ptrs)
        return reg_fail(ps, GW_ENOMEM, 0, "out of memory");
    char *text = (char *)(ptrs + n);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = text;
        memcpy(text, ids[i], lens[i]);
        text[lens[i]] = '\0';
        text += lens[i] + 1;
    }
    e->sensor_block = ptrs;
    e->dev.sensors = (const char *const *)ptrs;
    e->dev.n_sensors = n;
    return 1;
}

/* Parses the number in [s, e), trimmed; 0 on success. */
static int reg_number(const char *s, const char *e, double *out)
{
    char buf[64], *end;
    reg_trim(&s, &e);
    if (e == s || (size_t)(e - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    double v = strtod(buf, &end);
    if (*end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* "range.QUANTITY = MIN..MAX" */
static int reg_add_range(struct reg_parse *ps, struct gw_reg_entry *e, const char *quantity,
                         const char *value)
{
    int q = gw_quantity_from_name(quantity, strlen(quantity));
    const char *dots = strstr(value, "..");
    struct gw_range r;

    if (q < 0)
        return reg_fail(ps, GW_ECONFIG, ps->line,
                        "unknown quantity %.40s (names as in frame.proto, e.g. SPEED)", quantity);
    for (size_t i = 0; i < e->dev.n_ranges; i++)
        if (e->ranges[i].quantity == q)
            return reg_fail(ps, GW_ECONFIG, ps->line, "repeated key range.%s", quantity);
    if (!dots || reg_number(value, dots, &r.min) != 0 ||
        reg_number(dots + 2, value + strlen(value), &r.max) != 0 || r.min > r.max)
        return reg_fail(ps, GW_ECONFIG, ps->line,
                        "range is not MIN..MAX with finite numbers, MIN <= MAX");
    r.quantity = q;
    struct gw_range *grown = gw_realloc(e->ranges, (e->dev.n_ranges + 1) * sizeof *grown);
    if (!grown)
        return reg_fail(ps, GW_ENOMEM, 0, "out of memory");
    grown[e->dev.n_ranges] = r;
    e->ranges = grown;
    e->dev.ranges = grown;
    e->dev.n_ranges++;
    return 1;
}

/* Marks key bit as given; fails on a repeat. */
static int reg_once(struct reg_parse *ps, struct gw_reg_entry *e, unsigned bit, const char *name)
{
    if (e->seen & bit)
        return reg_fail(ps, GW_ECONFIG, ps->line, "repeated key %s", name);
    e->seen |= bit;
    return 1;
}

/*
 * A zone is an IANA time zone name (tzfile(5) names: Europe/Madrid, UTC,
 * America/Argentina/Buenos_Aires, Etc/GMT+3): whether the machine knows it
 * is for the tool that uses it to say; the shape is checked here, so that a
 * name can never reach outside the zone folder.
 */
static int reg_zone_valid(const char *z)
{
    size_t n = strlen(z);
    if (n == 0 || n > GW_REGISTRY_MAX_ZONE || z[0] == '/' || strstr(z, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = z[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

/* One "name = value" of a [site NAME] section. Returns 0 on error. */
static int reg_on_site_key(struct reg_parse *ps, struct gw_reg_site *site, const char *name,
                           const char *value)
{
    unsigned bit = strcmp(name, "zone") == 0            ? REG_SEEN_ZONE
                   : strcmp(name, "free_flow_kmh") == 0 ? REG_SEEN_FREE_FLOW
                                                        : 0;
    if (!bit)
        return reg_fail(ps, GW_ECONFIG, ps->line, "unknown key %.40s in a [site NAME] section",
                        name);
    if (site->seen & bit)
        return reg_fail(ps, GW_ECONFIG, ps->line, "repeated key %s", name);
    site->seen |= bit;
    if (bit == REG_SEEN_FREE_FLOW) {
        double v;
        if (reg_number(value, value + strlen(value), &v) != 0 || v < GW_REGISTRY_FREE_FLOW_MIN ||
            v > GW_REGISTRY_FREE_FLOW_MAX)
            return reg_fail(ps, GW_ECONFIG, ps->line, "free_flow_kmh is not a speed in %g..%g km/h",
                            GW_REGISTRY_FREE_FLOW_MIN, GW_REGISTRY_FREE_FLOW_MAX);
        site->site.free_flow_kmh = v;
        return 1;
    }
    if (!reg_zone_valid(value))
        return reg_fail(ps, GW_ECONFIG, ps->line,
                        "zone is not an IANA time zone name such as Europe/Madrid");
    memcpy(site->site.zone, value, strlen(value) + 1);
    return 1;
}

/* inih's handler: one "name = value" of the open section. Returns 0 on error. */
static int reg_on_key(void *user, const char *section, const char *name, const char *value)
{
    struct reg_parse *ps = user;
    struct gw_reg_entry *e = ps->cur;

    (void)section; /* the reader tracks sections; inih's copy may be truncated */
    if (ps->err)
        return 0;
    if (ps->cur_site)
        return reg_on_site_key(ps, ps->cur_site, name, value);
    if (!e)
        return reg_fail(ps, GW_ECONFIG, ps->line, "%.40s outside a [device ID] section", name);
    if (strcmp(name, "site") == 0) {
        if (!reg_once(ps, e, REG_SEEN_SITE, name))
            return 0;
        if (!gw__id_valid(value, strlen(value), GW_MAX_NAME))
            return reg_fail(ps, GW_ECONFIG, ps->line, "site is not [A-Za-z0-9._-]{1,%d}",
                            GW_MAX_NAME);
        if (gw_name_reserved(value, strlen(value)))
            return reg_fail(ps, GW_ECONFIG, ps->line, "site %s is a reserved topic name", value);
        memcpy(e->dev.site, value, strlen(value) + 1);
        return 1;
    }
    if (strcmp(name, "key") == 0)
        return reg_once(ps, e, REG_SEEN_KEY, name) && reg_set_key(ps, e, value);
    if (strcmp(name, "sensors") == 0)
        return reg_once(ps, e, REG_SEEN_SENSORS, name) && reg_set_sensors(ps, e, value);
    if (strncmp(name, "range.", 6) == 0)
        return reg_add_range(ps, e, name + 6, value);
    return reg_fail(ps, GW_ECONFIG, ps->line, "unknown key %.40s", name);
}

int gw_registry_new(const char *text, size_t len, struct gw_registry **out,
                    struct gw_registry_diag *diag)
{
    static const char bom[] = "\xEF\xBB\xBF";
    struct reg_parse ps = {.p = text, .end = text + len};
    int rc;

    ps.reg = gw_calloc(1, sizeof *ps.reg);
    if (!ps.reg) {
        reg_fail(&ps, GW_ENOMEM, 0, "out of memory");
        goto out;
    }
    /* inih skips a BOM on the first line; skip it here so the reader sees what inih sees. */
    if (len >= 3 && memcmp(text, bom, 3) == 0)
        ps.p += 3;
    rc = ini_parse_stream(reg_read_line, &ps, reg_on_key, &ps);
    if (rc > 0 && (!ps.err || rc < ps.diag.line)) {
        ps.err = 0;
        reg_fail(&ps, GW_ECONFIG, rc,
                 "syntax error, expected [device ID], [site NAME], key = value or ;comment");
    } else if (rc < 0 && !ps.err) {
        reg_fail(&ps, GW_ENOMEM, 0, "out of memory");
    }
out:
    if (ps.err) {
        gw_registry_free(ps.reg);
        if (diag)
            *diag = ps.diag;
        return ps.err;
    }
    *out = ps.reg;
    return 0;
}

void gw_registry_free(struct gw_registry *reg)
{
    struct gw_reg_entry *e, *tmp;
    struct gw_reg_site *s, *stmp;
    if (!reg)
        return;
    HASH_ITER(hh, reg->head, e, tmp)
    {
        HASH_DEL(reg->head, e);
        reg_entry_free(e);
    }
    HASH_ITER(hh, reg->sites, s, stmp)
    {
        HASH_DEL(reg->sites, s);
        gw_free(s);
    }
    gw_free(reg);
}

const struct gw_device *gw_registry_find(const struct gw_registry *reg, const char *device_id)
{
    struct gw_reg_entry *e = NULL;
    HASH_FIND_STR(reg->head, device_id, e);
    return e ? &e->dev : NULL;
}

size_t gw_registry_count(const struct gw_registry *reg)
{
    return reg->n_devices;
}

const struct gw_site *gw_registry_site(const struct gw_registry *reg, const char *name)
{
    struct gw_reg_site *s = NULL;
    HASH_FIND_STR(reg->sites, name, s);
    return s ? &s->site : NULL;
}

double gw_registry_free_flow_kmh(const struct gw_registry *reg, const char *name)
{
    const struct gw_site *s = reg ? gw_registry_site(reg, name) : NULL;
    return s ? s->free_flow_kmh : GW_REGISTRY_FREE_FLOW_KMH;
}

int gw_registry_each(const struct gw_registry *reg,
                     int (*fn)(const struct gw_device *dev, void *ctx), void *ctx)
{
    /* uthash keeps insertion order: the order of the text. */
    for (const struct gw_reg_entry *e = reg->head; e; e = e->hh.next) {
        int rc = fn(&e->dev, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

void gw_device_key(const struct gw_device *dev, struct wire_key *key)
{
    key->bytes = dev->key;
    key->len = dev->key_len;
    key->hmac = dev->hmac;
}

int gw_registry_key(void *ctx, const char *device_id, struct wire_key *key)
{
    const struct gw_device *dev = gw_registry_find(ctx, device_id);
    if (!dev)
        return GW_ENOTFOUND;
    gw_device_key(dev, key);
    return 0;
}
