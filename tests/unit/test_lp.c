/*
 * test_lp.c -- line protocol escaping and number formatting against
 * hand-written lines, refusals, the all-or-nothing buffer, and the lines of
 * aggregates. That the lines parse in a real InfluxDB is an integration test.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "frame.pb-c.h"
#include "lp.h"
#include "traffic.h"

#define T0 1794999600000LL

static char storage[16384];

/* The buffer's contents as a NUL-terminated string. */
static const char *text(const struct gw_lpbuf *b)
{
    static char copy[sizeof storage + 1];
    memcpy(copy, b->buf, b->len);
    copy[b->len] = '\0';
    return copy;
}

static void expect(const struct gw_lpbuf *b, const char *want)
{
    if (strcmp(text(b), want) != 0)
        fprintf(stderr, "\nwant: %sgot:  %s", want, text(b));
    CU_ASSERT_STRING_EQUAL(text(b), want);
}

static void test_basic_line(void)
{
    struct gw_lpbuf b;
    struct gw_lp_line l;
    gw_lpbuf_init(&b, storage, sizeof storage);
    gw_lp_begin(&l, &b, "traffic");
    gw_lp_tag(&l, "site", "ring-north");
    gw_lp_field_int(&l, "count", 3);
    gw_lp_field_float(&l, "mean", 52.5);
    gw_lp_field_string(&l, "note", "ok");
    CU_ASSERT(gw_lp_end(&l, T0) == 0);
    expect(&b, "traffic,site=ring-north count=3i,mean=52.5,note=\"ok\" 1794999600000\n");
}

/* Each element escapes exactly its own special characters. */
static void test_escaping(void)
{
    struct gw_lpbuf b;
    struct gw_lp_line l;
    gw_lpbuf_init(&b, storage, sizeof storage);
    gw_lp_begin(&l, &b, "my meas,ure=x\"q\"");
    gw_lp_tag(&l, "ta g,=", "v=1, 2");
    gw_lp_tag(&l, "path", "C:\\temp");
    gw_lp_tag(&l, "quote", "\"quoted\"");
    gw_lp_tag(&l, "city", "Straße 北京");
    gw_lp_field_string(&l, "f ie=ld,", "say \"hi\" \\ back\\slash, x=1");
    gw_lp_field_string(&l, "emoji", "ÆØÅ 😀");
    gw_lp_field_string(&l, "empty", "");
    CU_ASSERT(gw_lp_end(&l, -5) == 0);
    expect(&b, "my\\ meas\\,ure=x\"q\",ta\\ g\\,\\==v\\=1\\,\\ 2,path=C:\\temp,quote=\"quoted\","
               "city=Straße\\ 北京 f\\ ie\\=ld\\,=\"say \\\"hi\\\" \\\\ back\\\\slash, x=1\","
               "emoji=\"ÆØÅ 😀\",empty=\"\" -5\n");
}

/* What line protocol cannot carry is refused, and the buffer keeps its earlier lines. */
static void test_refusals(void)
{
    struct gw_lpbuf b;
    struct gw_lp_line l;
    static const char *const bad_names[] = {
        "a\nb", "a\rb", "", "trailing\\", "a\\,b", "a\\=b", "a\\ b", "a\\\\b",
    };

    gw_lpbuf_init(&b, storage, sizeof storage);
    gw_lp_begin(&l, &b, "m");
    gw_lp_field_int(&l, "x", 1);
    CU_ASSERT_FATAL(gw_lp_end(&l, 1) == 0);
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        gw_lp_begin(&l, &b, "m");
        CU_ASSERT(gw_lp_tag(&l, "t", bad_names[i]) == GW_EINVAL);
        gw_lp_field_int(&l, "x", 1);
        CU_ASSERT(gw_lp_end(&l, 2) == GW_EINVAL);
        gw_lp_begin(&l, &b, "m");
        CU_ASSERT(gw_lp_tag(&l, bad_names[i], "v") == GW_EINVAL);
        gw_lp_begin(&l, &b, "m");
        gw_lp_field_int(&l, bad_names[i], 1);
        CU_ASSERT(gw_lp_end(&l, 2) == GW_EINVAL);
        CU_ASSERT(gw_lp_begin(&l, &b, bad_names[i]) == GW_EINVAL);
    }
    CU_ASSERT(gw_lp_begin(&l, &b, "#comment") == GW_EINVAL);
    CU_ASSERT(gw_lp_begin(&l, &b, NULL) == GW_EINVAL);
    gw_lp_begin(&l, &b, "m");
    gw_lp_field_string(&l, "s", "two\nlines");
    CU_ASSERT(gw_lp_end(&l, 2) == GW_EINVAL);
    gw_lp_begin(&l, &b, "m");
    CU_ASSERT(gw_lp_field_float(&l, "f", NAN) == GW_EINVAL);
    gw_lp_begin(&l, &b, "m");
    CU_ASSERT(gw_lp_field_float(&l, "f", -INFINITY) == GW_EINVAL);
    gw_lp_begin(&l, &b, "m");
    gw_lp_tag(&l, "t", "v");
    CU_ASSERT(gw_lp_end(&l, 2) == GW_EINVAL); /* no field */
    gw_lp_begin(&l, &b, "m");
    gw_lp_field_int(&l, "x", 1);
    CU_ASSERT(gw_lp_tag(&l, "t", "v") == GW_EINVAL); /* tag after a field */
    CU_ASSERT(gw_lp_end(&l, 2) == GW_EINVAL);
    /* A backslash before an ordinary character is fine in a name, and any backslash in a string. */
    gw_lp_begin(&l, &b, "m\\x");
    gw_lp_field_string(&l, "s", "\\");
    CU_ASSERT(gw_lp_end(&l, 3) == 0);
    expect(&b, "m x=1i 1\nm\\x s=\"\\\\\" 3\n");
}

/* A line that does not fit leaves the buffer as it was; exactly fitting is fine. */
static void test_full(void)
{
    const char *line = "m,t=v x=1i 7\n";
    size_t n = strlen(line);
    struct gw_lpbuf b;
    struct gw_lp_line l;

    for (size_t cap = 0; cap <= 2 * n + 1; cap++) {
        gw_lpbuf_init(&b, storage, cap);
        for (int i = 0; i < 2; i++) {
            size_t before = b.len;
            gw_lp_begin(&l, &b, "m");
            gw_lp_tag(&l, "t", "v");
            gw_lp_field_int(&l, "x", 1);
            int rc = gw_lp_end(&l, 7);
            CU_ASSERT(rc == (cap >= (size_t)(i + 1) * n ? 0 : GW_EFULL));
            CU_ASSERT(b.len == (rc ? before : before + n));
        }
        CU_ASSERT(b.len == (cap / n > 2 ? 2 : cap / n) * n);
        CU_ASSERT(b.len == 0 || memcmp(b.buf, line, n) == 0);
    }
}

static const char *float_text(double v)
{
    struct gw_lpbuf b;
    struct gw_lp_line l;
    static char out[64];
    gw_lpbuf_init(&b, storage, sizeof storage);
    gw_lp_begin(&l, &b, "m");
    gw_lp_field_float(&l, "f", v);
    CU_ASSERT_FATAL(gw_lp_end(&l, 0) == 0);
    CU_ASSERT_FATAL(b.len > 7 && b.len - 7 < sizeof out);
    memcpy(out, b.buf + 4, b.len - 7); /* between "m f=" and " 0\n" */
    out[b.len - 7] = '\0';
    return out;
}

/* Floats take the fewest digits that read back exactly; integers get their "i". */
static void test_numbers(void)
{
    CU_ASSERT_STRING_EQUAL(float_text(0.1), "0.1");
    CU_ASSERT_STRING_EQUAL(float_text(0.1 + 0.2), "0.30000000000000004");
    CU_ASSERT_STRING_EQUAL(float_text(3.0), "3");
    CU_ASSERT_STRING_EQUAL(float_text(-0.0), "-0");
    CU_ASSERT_STRING_EQUAL(float_text(1e300), "1e+300");
    CU_ASSERT_STRING_EQUAL(float_text(5e-324), "5e-324");
    CU_ASSERT_STRING_EQUAL(float_text(1.0 / 3), "0.3333333333333333");
    CU_ASSERT_STRING_EQUAL(float_text(123456789012345680.0), "1.2345678901234568e+17");
    uint64_t x = 99;
    for (int i = 0; i < 20000; i++) {
        double v;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        CU_ASSERT(strtod(float_text(v), NULL) == v);
    }
    struct gw_lpbuf b;
    struct gw_lp_line l;
    gw_lpbuf_init(&b, storage, sizeof storage);
    gw_lp_begin(&l, &b, "m");
    gw_lp_field_int(&l, "lo", INT64_MIN);
    gw_lp_field_int(&l, "hi", INT64_MAX);
    CU_ASSERT(gw_lp_end(&l, T0) == 0);
    expect(&b, "m lo=-9223372036854775808i,hi=9223372036854775807i 1794999600000\n");
}

static void test_window_labels(void)
{
    static const struct {
        int64_t ms;
        const char *label;
    } cases[] = {{30000, "30s"},    {300000, "5m"}, {900000, "15m"}, {3600000, "1h"},
                 {86400000, "24h"}, {90000, "90s"}, {250, "250ms"}};
    char buf[24];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_lp_window_label(cases[i].ms, buf, sizeof buf);
        CU_ASSERT_STRING_EQUAL(buf, cases[i].label);
    }
}

/* The number after key in a line protocol text (test's own parse), or NAN when absent. */
static double field_value(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

static void test_aggregates(void)
{
    struct gw_lpbuf b;
    struct gw_qsketch sk;
    struct gw_aggregate a;
    struct gw_lp_naming by_family = {GW_LP_BY_FAMILY, NULL, "gw-1"};
    struct gw_lp_naming by_window = {GW_LP_BY_WINDOW, "city_", NULL};

    gw_qsketch_init(&sk);
    CU_ASSERT_FATAL(gw_qsketch_add(&sk, 48.0) == 0);
    CU_ASSERT_FATAL(gw_qsketch_add(&sk, 55.0) == 0);
    CU_ASSERT_FATAL(gw_qsketch_add(&sk, 51.0) == 0);
    memset(&a, 0, sizeof a);
    a.key = (struct gw_series_key){
        "ring-north", "node-0001", "loop-1", 1, CITYGATE__V1__QUANTITY__SPEED, 0, true};
    a.width_ms = 300000;
    a.start_ms = T0;
    a.revision = 2;
    a.count = 3;
    a.sum = 154;
    a.min = 48;
    a.max = 55;
    a.mean = 154.0 / 3;
    a.sumsq = 7930;
    gw_lpbuf_init(&b, storage, sizeof storage);
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_family, &a) == 0);
    expect(&b, "traffic,gateway=gw-1,lane=1,node=node-0001,quantity=speed,sensor=loop-1,"
               "site=ring-north,window=5m count=3i,sum=154,min=48,max=55,"
               "mean=51.333333333333336,sumsq=7930,speed_interval_mean=51.333333333333336 "
               "1794999600000\n");

    /* Three vehicles: speed percentiles from the sketch at the nearest rank, flow per hour. */
    a.key.quantity = GW_QUANTITY_VEHICLE_SPEED;
    a.has_quantiles = true;
    a.p50 = a.p85 = a.p95 = 1; /* the generic quantiles are not what a vehicle line reports */
    a.sketch = &sk;
    gw_lpbuf_init(&b, storage, sizeof storage);
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_family, &a) == 0);
    storage[b.len] = '\0';
    CU_ASSERT(strncmp(storage,
                      "traffic,gateway=gw-1,lane=1,node=node-0001,quantity=vehicle_speed,"
                      "sensor=loop-1,site=ring-north,window=5m count=3i,sum=154,min=48,max=55,"
                      "mean=51.333333333333336,sumsq=7930,v15=",
                      strlen("traffic,gateway=gw-1,lane=1,node=node-0001,quantity=vehicle_speed,"
                             "sensor=loop-1,site=ring-north,window=5m count=3i,sum=154,min=48,"
                             "max=55,mean=51.333333333333336,sumsq=7930,v15=")) == 0);
    CU_ASSERT(fabs(field_value(storage, "v15=") - 48) <= 48 * GW_QSKETCH_ALPHA);
    CU_ASSERT(fabs(field_value(storage, "v50=") - 51) <= 51 * GW_QSKETCH_ALPHA);
    CU_ASSERT(fabs(field_value(storage, "v85=") - 55) <= 55 * GW_QSKETCH_ALPHA);
    CU_ASSERT(fabs(field_value(storage, "v95=") - 55) <= 55 * GW_QSKETCH_ALPHA);
    CU_ASSERT_DOUBLE_EQUAL(field_value(storage, "flow_vph="), 36.0, 1e-12);
    CU_ASSERT(strstr(storage, ",p85=") == NULL);
    CU_ASSERT(strstr(storage, ",sketch=\"q1;p98:1,~1,1,~1,1\" 1794999600000\n") != NULL);

    a.key = (struct gw_series_key){"s 1",
                                   "n",
                                   "",
                                   0,
                                   CITYGATE__V1__QUANTITY__VEHICLE_CLASS_COUNT,
                                   CITYGATE__V1__VEHICLE_CLASS__TRUCK,
                                   false};
    a.width_ms = 30000;
    a.sum = 3;
    a.min = a.max = a.mean = 1;
    a.sumsq = INFINITY; /* left out, never written as "inf" */
    a.has_quantiles = false;
    a.sketch = NULL;
    gw_lpbuf_init(&b, storage, sizeof storage);
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_window, &a) == 0);
    a.key.quantity = 99;
    a.key.vehicle_class = 77;
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_family, &a) == 0);
    expect(&b, "city_agg_30s,node=n,quantity=vehicle_class_count,site=s\\ 1,vehicle_class=truck,"
               "window=30s count=3i,sum=3,min=1,max=1,mean=1,flow_vph=360 1794999600000\n"
               "other,gateway=gw-1,node=n,quantity=q99,site=s\\ 1,vehicle_class=c77,"
               "window=30s count=3i,sum=3,min=1,max=1,mean=1 1794999600000\n");

    /* A part of a retired window: its own point, the arrival bucket in the part tag. */
    a.partial = true;
    a.part_ms = T0 + 150000;
    gw_lpbuf_init(&b, storage, sizeof storage);
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_family, &a) == 0);
    expect(&b, "other,gateway=gw-1,node=n,part=1794999750000,quantity=q99,site=s\\ 1,"
               "vehicle_class=c77,window=30s count=3i,sum=3,min=1,max=1,mean=1 1794999600000\n");
    a.partial = false;

    /* Same aggregate, same bytes; a refused key leaves the buffer alone. */
    size_t len = b.len;
    a.key.site = "bad\\";
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_family, &a) == GW_EINVAL);
    CU_ASSERT(b.len == len);
    gw_lpbuf_init(&b, storage, 40);
    CU_ASSERT(gw_lp_encode_aggregate(&b, &by_family, &a) == GW_EFULL);
    CU_ASSERT(b.len == 0);
    gw_qsketch_fini(&sk);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"basic line", test_basic_line}, {"escaping", test_escaping},
        {"refusals", test_refusals},     {"full buffer", test_full},
        {"numbers", test_numbers},       {"window labels", test_window_labels},
        {"aggregates", test_aggregates}, {NULL, NULL},
    };
    return cu_main("lp", tests);
}
