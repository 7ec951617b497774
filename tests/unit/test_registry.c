/*
 * test_registry.c -- the device registry parser: a good file (devices and
 * site sections, devices in the order of the text), every error
 * with the line it names, inih's limits (long lines, long section names), the
 * registry as the wire library's key lookup, and allocation failures.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cu.h"
#include "err.h"
#include "registry.h"
#include "wire.h"

#define KEY32 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define ID64 "n234567890123456789012345678901234567890123456789012345678901234"

static const char good[] = "# citygate device registry\n"
                           "; both comment styles\n"
                           "\n"
                           "[device node-0001]\n"
                           "site = ring-north\n"
                           "key = " KEY32 "\n"
                           "sensors = loop-1, loop-2\n"
                           "range.SPEED = 0..250 ; a 250 km/h limit for this radar\n"
                           "range.TEMPERATURE = -40.5..60\n"
                           "\n"
                           "[ device " ID64 " ]\r\n"
                           "site = tunnel.A_1\r\n"
                           "key = 00112233445566778899AABBCCDDEEFF\r\n"
                           "\n"
                           "[site ring-north]\n"
                           "zone = Europe/Madrid\n"
                           "[site tunnel.A_1]\n"
                           "[site empty]\n"
                           "free_flow_kmh = 112.5 ; a motorway\n"
                           "zone = America/Argentina/Buenos_Aires\n";

/* Collects the ids gw_registry_each() visits; stops after two when asked. */
struct visit {
    char ids[4][80];
    int n, stop_at;
};

static int visit_device(const struct gw_device *dev, void *ctx)
{
    struct visit *v = ctx;
    if (v->n < 4)
        snprintf(v->ids[v->n], sizeof v->ids[0], "%s", dev->id);
    v->n++;
    return v->n == v->stop_at ? 7 : 0;
}

static struct gw_registry *parse(const char *text, struct gw_registry_diag *diag)
{
    struct gw_registry *reg = NULL;
    int rc = gw_registry_new(text, strlen(text), &reg, diag);
    if (rc != 0) {
        fprintf(stderr, "\nline %d: %s\n", diag->line, diag->message);
        return NULL;
    }
    return reg;
}

static void test_good_file(void)
{
    struct gw_registry_diag diag = {0};
    struct gw_registry *reg = parse(good, &diag);
    const struct gw_device *d;

    CU_ASSERT_FATAL(reg != NULL);
    CU_ASSERT_EQUAL(gw_registry_count(reg), 2);

    d = gw_registry_find(reg, "node-0001");
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_STRING_EQUAL(d->id, "node-0001");
    CU_ASSERT_STRING_EQUAL(d->site, "ring-north");
    CU_ASSERT_EQUAL(d->key_len, 32);
    CU_ASSERT(d->key[0] == 0x00 && d->key[1] == 0x01 && d->key[31] == 0x1f);
    CU_ASSERT_EQUAL(d->line, 4);
    CU_ASSERT_FATAL(d->n_sensors == 2);
    CU_ASSERT_STRING_EQUAL(d->sensors[0], "loop-1");
    CU_ASSERT_STRING_EQUAL(d->sensors[1], "loop-2");
    CU_ASSERT_FATAL(d->n_ranges == 2);
    CU_ASSERT_EQUAL(d->ranges[0].quantity, CITYGATE__V1__QUANTITY__SPEED);
    CU_ASSERT_DOUBLE_EQUAL(d->ranges[0].min, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(d->ranges[0].max, 250, 0);
    CU_ASSERT_EQUAL(d->ranges[1].quantity, CITYGATE__V1__QUANTITY__TEMPERATURE);
    CU_ASSERT_DOUBLE_EQUAL(d->ranges[1].min, -40.5, 0);

    /* A 64-character id: longer than inih's 49-character section names. */
    d = gw_registry_find(reg, ID64);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_STRING_EQUAL(d->site, "tunnel.A_1");
    CU_ASSERT_EQUAL(d->key_len, 16);
    CU_ASSERT(d->key[10] == 0xAA && d->key[15] == 0xFF);
    CU_ASSERT_EQUAL(d->n_sensors, 0);
    CU_ASSERT_EQUAL(d->n_ranges, 0);

    CU_ASSERT(gw_registry_find(reg, "node-0002") == NULL);
    CU_ASSERT(gw_registry_find(reg, "node-000") == NULL);

    /* Site sections: a zone, none, one for a site without devices; free flow 50 unless given. */
    const struct gw_site *s = gw_registry_site(reg, "ring-north");
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_STRING_EQUAL(s->zone, "Europe/Madrid");
    CU_ASSERT_EQUAL(s->line, 15);
    CU_ASSERT_EQUAL(s->free_flow_kmh, 50.0);
    s = gw_registry_site(reg, "tunnel.A_1");
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_STRING_EQUAL(s->zone, "");
    s = gw_registry_site(reg, "empty");
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_STRING_EQUAL(s->zone, "America/Argentina/Buenos_Aires");
    CU_ASSERT_EQUAL(s->free_flow_kmh, 112.5);
    CU_ASSERT(gw_registry_site(reg, "nowhere") == NULL);
    CU_ASSERT_EQUAL(gw_registry_free_flow_kmh(reg, "empty"), 112.5);
    CU_ASSERT_EQUAL(gw_registry_free_flow_kmh(reg, "tunnel.A_1"), 50.0);
    CU_ASSERT_EQUAL(gw_registry_free_flow_kmh(reg, "nowhere"), 50.0);
    CU_ASSERT_EQUAL(gw_registry_free_flow_kmh(NULL, "empty"), 50.0);
    CU_ASSERT_EQUAL(gw_registry_count(reg), 2);

    /* Every device in the order of the text; a non-zero return stops the walk. */
    struct visit v = {.stop_at = 0};
    CU_ASSERT_EQUAL(gw_registry_each(reg, visit_device, &v), 0);
    CU_ASSERT_EQUAL_FATAL(v.n, 2);
    CU_ASSERT_STRING_EQUAL(v.ids[0], "node-0001");
    CU_ASSERT_STRING_EQUAL(v.ids[1], ID64);
    struct visit one = {.stop_at = 1};
    CU_ASSERT_EQUAL(gw_registry_each(reg, visit_device, &one), 7);
    CU_ASSERT_EQUAL(one.n, 1);
    gw_registry_free(reg);
    gw_registry_free(NULL);
}

/* The text need not be NUL-terminated: only len bytes are read. */
static void test_length_bounded(void)
{
    char text[sizeof good + 8];
    struct gw_registry *reg = NULL;
    struct gw_registry_diag diag;
    size_t cut = strstr(good, "\n[ device") - good + 1;

    memcpy(text, good, sizeof good);
    CU_ASSERT_EQUAL(gw_registry_new(text, cut, &reg, &diag), 0);
    CU_ASSERT_FATAL(reg != NULL);
    CU_ASSERT_EQUAL(gw_registry_count(reg), 1);
    gw_registry_free(reg);

    /* A BOM is allowed at the start, and an empty text is an empty registry. */
    reg = parse("\xEF\xBB\xBF[device a]\nsite = s\nkey = " KEY32 "\n", &diag);
    CU_ASSERT(reg != NULL && gw_registry_find(reg, "a") != NULL);
    gw_registry_free(reg);
    CU_ASSERT_EQUAL(gw_registry_new("", 0, &reg, &diag), 0);
    CU_ASSERT(gw_registry_count(reg) == 0);
    gw_registry_free(reg);
}

struct bad_case {
    const char *text;
    int line;
    const char *message; /* a substring of the diagnostic */
};

#define DEV "[device a]\nsite = s\nkey = " KEY32 "\n" /* lines 1-3 */

static void test_errors_name_their_line(void)
{
    static const struct bad_case cases[] = {
        {"site = s\n", 1, "outside a [device ID] section"},
        {"\n\n[gateway]\nsite = s\n", 3, "unknown section"},
        {"[devices a]\n", 1, "unknown section"},
        {"[device]\n", 1, "unknown section"},
        {"[device a b]\n", 1, "device id is not"},
        {"[device " ID64 "5]\n", 1, "device id is not"},
        {"[device a\n", 1, "without ']'"},
        {"[device a] b\n", 1, "text after the section header"},
        {DEV "  [device b]\n", 4, "indented section header"},
        {DEV "\n[device a]\nsite = t\n", 5, "already defined at line 1"},
        {DEV "colour = red\n", 4, "unknown key colour"},
        {DEV "site = t\n", 4, "repeated key site"},
        {DEV "key = " KEY32 "\n", 4, "repeated key key"},
        {"[device a]\nkey = " KEY32 "\n\n[device b]\n", 1, "device a has no site"},
        {"[device a]\nsite = s\n", 1, "device a has no key"},
        {"[device a]\n", 1, "has no site"},
        {"[device a]\nsite = s t\n", 2, "site is not"},
        {"[device a]\nsite = \n", 2, "site is not"},
        {"[device data]\n", 1, "device id data is a reserved topic name"},
        {"[device quarantine]\n", 1, "is a reserved topic name"},
        {"[device a]\nsite = alerts\n", 2, "site alerts is a reserved topic name"},
        {"[device a]\nsite = _\n", 2, "is a reserved topic name"},
        {"[device a]\nsite = s\nkey = abc\n", 3, "key is not 32..128 hex digits"},
        {"[device a]\nsite = s\nkey = 000102030405060708090a0b0c0d0e\n", 3, "key is not 32"},
        {"[device a]\nsite = s\nkey = " KEY32 KEY32 "00\n", 3, "key is not 32"},
        {"[device a]\nsite = s\nkey = 000102030405060708090a0b0c0d0e0g\n", 3,
         "not 32..128 hex digits"},
        {DEV "sensors = l1,,l2\n", 4, "sensor 2 is not"},
        {DEV "sensors = l1,l 2\n", 4, "sensor 2 is not"},
        {DEV "sensors =\n", 4, "sensor 1 is not"},
        {DEV "sensors = l1,l2,l1\n", 4, "sensor l1 listed twice"},
        {DEV "sensors = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,0,1,2,3,4,5,6\n", 4,
         "more than 32 sensors"},
        {DEV "sensors = a\nsensors = b\n", 5, "repeated key sensors"},
        {DEV "range.SPEEDY = 0..1\n", 4, "unknown quantity SPEEDY"},
        {DEV "range.speed = 0..1\n", 4, "unknown quantity speed"},
        {DEV "range.SPEED = 10..5\n", 4, "MIN <= MAX"},
        {DEV "range.SPEED = 0-5\n", 4, "MIN..MAX"},
        {DEV "range.SPEED = nan..5\n", 4, "finite"},
        {DEV "range.SPEED = 0..inf\n", 4, "finite"},
        {DEV "range.SPEED = 0..\n", 4, "MIN..MAX"},
        {DEV "range.SPEED = 0..5x\n", 4, "MIN..MAX"},
        {DEV "range.SPEED = 0..250\nrange.SPEED = 0..200\n", 5, "repeated key range.SPEED"},
        /* inih's own syntax errors win when they come first. */
        {DEV "this is not ini\ncolour = red\n", 4, "syntax error"},
        {DEV "colour = red\nthis is not ini\n", 4, "unknown key"},
        /* A continuation line repeats the key. */
        {DEV "sensors = a\n  b\n", 5, "repeated key sensors"},
        {"[site]\n", 1, "unknown section"},
        {"[site a b]\n", 1, "site name is not"},
        {"[site data]\n", 1, "site data is a reserved topic name"},
        {"[site a]\n[site a]\n", 2, "site a already defined at line 1"},
        {"[site a]\nkey = " KEY32 "\n", 2, "unknown key key in a [site NAME] section"},
        {"[site a]\nzone = UTC\nzone = UTC\n", 3, "repeated key zone"},
        {"[site a]\nzone = /etc/passwd\n", 2, "zone is not an IANA time zone name"},
        {"[site a]\nzone = Europe/../../etc\n", 2, "zone is not"},
        {"[site a]\nzone = Europe/Ma drid\n", 2, "zone is not"},
        {"[site a]\nzone =\n", 2, "zone is not"},
        {"[site a]\nzone = " ID64 "X\n", 2, "zone is not"},
        {"[site a]\nzone = UTC\nfree_flow_kmh = 4.9\n", 3,
         "free_flow_kmh is not a speed in 5..200"},
        {"[site a]\nfree_flow_kmh = 200.5\n", 2, "free_flow_kmh is not a speed"},
        {"[site a]\nfree_flow_kmh = -50\n", 2, "free_flow_kmh is not a speed"},
        {"[site a]\nfree_flow_kmh = 50 km/h\n", 2, "free_flow_kmh is not a speed"},
        {"[site a]\nfree_flow_kmh = nan\n", 2, "free_flow_kmh is not a speed"},
        {"[site a]\nfree_flow_kmh =\n", 2, "free_flow_kmh is not a speed"},
        {"[site a]\nfree_flow_kmh = 60\nfree_flow_kmh = 60\n", 3, "repeated key free_flow_kmh"},
        /* A site section ends the device before it, which must be whole. */
        {"[device a]\nsite = s\n[site s]\n", 1, "device a has no key"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        struct gw_registry *reg = NULL;
        struct gw_registry_diag diag = {0};
        int rc = gw_registry_new(c->text, strlen(c->text), &reg, &diag);
        if (rc != GW_ECONFIG || diag.line != c->line || !strstr(diag.message, c->message))
            fprintf(stderr, "\ncase %zu: rc %d, line %d (want %d): %s (want ...%s...)\n", i, rc,
                    diag.line, c->line, diag.message, c->message);
        CU_ASSERT_EQUAL(rc, GW_ECONFIG);
        CU_ASSERT_EQUAL(diag.line, c->line);
        CU_ASSERT(strstr(diag.message, c->message) != NULL);
        CU_ASSERT(reg == NULL);
    }
}

/* A line that does not fit inih's buffer is refused, never split into two lines. */
static void test_long_lines_and_nul(void)
{
    char text[512];
    struct gw_registry *reg = NULL;
    struct gw_registry_diag diag = {0};
    const char *head = DEV "; ";
    size_t head_len = strlen(head);

    /* 197 characters fit (with CR LF and NUL, inih's 200 bytes); 198 do not. */
    for (size_t chars = 196; chars <= 198; chars++) {
        memcpy(text, head, head_len);
        memset(text + head_len, 'x', chars - 2);
        memcpy(text + head_len + chars - 2, "\r\n", 3);
        int rc = gw_registry_new(text, strlen(text), &reg, &diag);
        if (chars <= 197) {
            CU_ASSERT_EQUAL(rc, 0);
            gw_registry_free(reg);
        } else {
            CU_ASSERT_EQUAL(rc, GW_ECONFIG);
            CU_ASSERT_EQUAL(diag.line, 4);
            CU_ASSERT(strstr(diag.message, "longer than 197") != NULL);
        }
    }

    static const char nul[] = DEV "\n; a\0b\n";
    CU_ASSERT_EQUAL(gw_registry_new(nul, sizeof nul - 1, &reg, &diag), GW_ECONFIG);
    CU_ASSERT_EQUAL(diag.line, 5);
    CU_ASSERT_STRING_EQUAL(diag.message, "NUL byte");
    /* diag may be NULL. */
    CU_ASSERT_EQUAL(gw_registry_new(nul, sizeof nul - 1, &reg, NULL), GW_ECONFIG);
}

/* The registry is the wire decoder's key lookup: a frame signed with a device's key decodes. */
static void test_wire_key_lookup(void)
{
    static unsigned char arena[64 * 1024];
    static uint8_t buf[4096];
    struct gw_registry_diag diag;
    struct gw_registry *reg = parse(good, &diag);
    const struct gw_device *d;
    struct wire_key key;
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT, *got = NULL;
    struct wire_decoder dec = {.max_frame_bytes = sizeof buf, .key_fn = gw_registry_key};
    size_t len;

    CU_ASSERT_FATAL(reg != NULL);
    CU_ASSERT_EQUAL(gw_registry_key(reg, "node-0001", &key), 0);
    d = gw_registry_find(reg, "node-0001");
    CU_ASSERT(key.bytes == d->key && key.len == 32);
    CU_ASSERT_EQUAL(gw_registry_key(reg, "nobody", &key), GW_ENOTFOUND);

    f.device_id = "node-0001";
    f.site_id = "ring-north";
    f.boot_id = 9;
    f.seq = 1;
    f.timestamp_ms = 1795000000000ULL;
    CU_ASSERT_FATAL(wire_encode(&f, d->key, d->key_len, buf, sizeof buf, &len) == 0);
    dec.key_ctx = reg;
    wire_arena_init(&dec.arena, arena, sizeof arena);
    CU_ASSERT_EQUAL(wire_decode(&dec, buf, len, &got, NULL), 0);
    CU_ASSERT(got != NULL && got->seq == 1);

    f.device_id = "node-0002"; /* signed, but not in the registry */
    CU_ASSERT_FATAL(wire_encode(&f, d->key, d->key_len, buf, sizeof buf, &len) == 0);
    CU_ASSERT_EQUAL(wire_decode(&dec, buf, len, &got, NULL), -WIRE_EUNKNOWN_DEVICE);
    gw_registry_free(reg);
}

/* Every allocation failure, at every point of a parse, is GW_ENOMEM and leaks nothing. */
static void test_allocation_failures(void)
{
    static char text[128 * 1024];
    size_t len = 0;
    long n;

    /* Enough devices to make uthash grow its buckets (more than 10 per bucket of 32). */
    for (int i = 0; i < 400; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "[device n%d]\nsite = s\nkey = %s\nsensors = a,b\n%s", i,
                                KEY32 KEY32, i % 50 == 0 ? "range.SPEED = 0..10\n" : "");
    CU_ASSERT_FATAL(len < sizeof text - 1);

    for (n = 0; n < 100000; n++) {
        struct gw_registry *reg = NULL;
        struct gw_registry_diag diag = {0};
        gw_alloc_fail_after(n);
        int rc = gw_registry_new(text, len, &reg, &diag);
        gw_alloc_fail_after(-1);
        if (rc == 0) {
            CU_ASSERT_EQUAL(gw_registry_count(reg), 400);
            CU_ASSERT(gw_registry_find(reg, "n399") != NULL);
            gw_registry_free(reg);
            break;
        }
        CU_ASSERT_EQUAL_FATAL(rc, GW_ENOMEM);
        CU_ASSERT_EQUAL(diag.line, 0);
        CU_ASSERT(reg == NULL);
    }
    CU_ASSERT(n > 2 * 400 && n < 100000); /* each device, its sensors, the buckets failed */
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"good file", test_good_file},
        {"text is length-bounded", test_length_bounded},
        {"errors name their line", test_errors_name_their_line},
        {"long lines and NUL bytes", test_long_lines_and_nul},
        {"wire key lookup", test_wire_key_lookup},
        {"allocation failures", test_allocation_failures},
        {NULL, NULL},
    };
    return cu_main("registry", tests);
}
