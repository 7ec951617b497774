/*
 * test_cli.c -- the shared command-line library (tools/cli/cli.h) and the one
 * grammar of durations, sizes and numbers under it (gateway/core/units.h):
 * every unit, the refusals, option values, reading a whole file, a body in
 * pieces, duration formatting, the JSON writer and both progress forms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cu.h"
#include "err.h"

static void test_durations(void)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } ok[] = {
        {"500ms", 500},  {"30s", 30000},    {"5m", 300000},
        {"1h", 3600000}, {"7d", 604800000}, {"2w", 1209600000},
        {"0s", 0},       {"30 s", 30000},   {"18446744073709551615ms", UINT64_MAX},
    };
    static const char *const bad[] = {
        "30",
        "5min",
        "0.5s",
        "-1s",
        "",
        "s",
        "1h30m",
        "30S",
        " 30s",
        "5 m x",
        "18446744073709551616ms",
        "18446744073709551615s",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        CU_ASSERT_EQUAL(gw_parse_duration_ms(ok[i].text, &v), 0);
        CU_ASSERT_EQUAL(v, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        CU_ASSERT_EQUAL(gw_parse_duration_ms(bad[i], &v), GW_EINVAL);
        CU_ASSERT_EQUAL(v, 12345); /* written only on success */
    }
    CU_ASSERT_EQUAL(gw_parse_duration_ms(NULL, &(uint64_t){0}), GW_EINVAL);
}

static void test_sizes_and_numbers(void)
{
    uint64_t v = 0;
    CU_ASSERT(gw_parse_bytes("4096", &v) == 0 && v == 4096);
    CU_ASSERT(gw_parse_bytes("64KiB", &v) == 0 && v == 65536);
    CU_ASSERT(gw_parse_bytes("16MiB", &v) == 0 && v == 16777216);
    CU_ASSERT(gw_parse_bytes("1GB", &v) == 0 && v == 1000000000);
    CU_ASSERT(gw_parse_bytes("4K", &v) == GW_EINVAL);
    CU_ASSERT(gw_parse_uint("42", &v) == 0 && v == 42);
    CU_ASSERT(gw_parse_uint("42s", &v) == GW_EINVAL);
    CU_ASSERT(gw_parse_uint("0x10", &v) == GW_EINVAL);
}

static void test_real_numbers(void)
{
    static const struct {
        const char *text;
        double v;
    } ok[] = {
        {"0", 0.0},       {"12", 12.0}, {"0.5", 0.5},       {".5", 0.5},     {"5.", 5.0},
        {"-3.25", -3.25}, {"1e6", 1e6}, {"2.5E-3", 2.5e-3}, {"1e+2", 100.0}, {"-0", 0.0},
    };
    static const char *const bad[] = {
        "",   "-",   ".",  "+1",  " 1",    "1 ", "1,5",   "0x10",   "inf",  "nan",
        "1e", "1e+", "e5", "--1", "1.2.3", "5s", "1e400", "1e-400", "-.e1",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = 42.0;
        CU_ASSERT_EQUAL(gw_parse_real(ok[i].text, &v), 0);
        CU_ASSERT_DOUBLE_EQUAL(v, ok[i].v, 0.0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 42.0;
        CU_ASSERT_EQUAL(gw_parse_real(bad[i], &v), GW_EINVAL);
        CU_ASSERT_DOUBLE_EQUAL(v, 42.0, 0.0); /* written only on success */
    }
    CU_ASSERT_EQUAL(gw_parse_real(NULL, &(double){0}), GW_EINVAL);
}

static void test_option_values(void)
{
    uint64_t v = 7;
    CU_ASSERT_EQUAL(cli_duration_arg("--duration", "90s", 0, UINT64_MAX, &v), 0);
    CU_ASSERT_EQUAL(v, 90000);
    CU_ASSERT_EQUAL(cli_duration_arg("--duration", "90", 0, UINT64_MAX, &v), EX_USAGE);
    CU_ASSERT_EQUAL(cli_duration_arg("--period", "2h", 0, 3600000, &v), EX_USAGE);
    CU_ASSERT_EQUAL(v, 90000);
    CU_ASSERT_EQUAL(cli_uint_arg("--nodes", "100", 1, 100, &v), 0);
    CU_ASSERT_EQUAL(v, 100);
    CU_ASSERT_EQUAL(cli_uint_arg("--nodes", "101", 1, 100, &v), EX_USAGE);
    CU_ASSERT_EQUAL(cli_uint_arg("--nodes", "ten", 1, 100, &v), EX_USAGE);
    CU_ASSERT_EQUAL(v, 100);
    CU_ASSERT_EQUAL(cli_size_arg("--ring-bytes", "64KiB", 1024, 1 << 20, &v), 0);
    CU_ASSERT_EQUAL(v, 65536);
    CU_ASSERT_EQUAL(cli_size_arg("--ring-bytes", "2MiB", 1024, 1 << 20, &v), EX_USAGE);
    CU_ASSERT_EQUAL(cli_size_arg("--ring-bytes", "512", 1024, 1 << 20, &v), EX_USAGE);
    CU_ASSERT_EQUAL(cli_size_arg("--ring-bytes", "64K", 1024, 1 << 20, &v), EX_USAGE);
    CU_ASSERT_EQUAL(v, 65536);
    double d = 7.0;
    CU_ASSERT_EQUAL(cli_real_arg("--rate", "0.25", 0.1, 100.0, &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.25, 0.0);
    CU_ASSERT_EQUAL(cli_real_arg("--rate", "100", 0.1, 100.0, &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 100.0, 0.0);
    CU_ASSERT_EQUAL(cli_real_arg("--rate", "100.5", 0.1, 100.0, &d), EX_USAGE);
    CU_ASSERT_EQUAL(cli_real_arg("--rate", "0.05", 0.1, 100.0, &d), EX_USAGE);
    CU_ASSERT_EQUAL(cli_real_arg("--rate", "fast", 0.1, 100.0, &d), EX_USAGE);
    CU_ASSERT_DOUBLE_EQUAL(d, 100.0, 0.0);
}

/* Writes n bytes of a known pattern to a new temporary file; returns its path (static). */
static const char *pattern_file(size_t n)
{
    static char path[] = "/tmp/test_cli_XXXXXX";
    memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    CU_ASSERT_FATAL(f != NULL);
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}

static void test_read_file(void)
{
    /* Empty, small, across the first buffer's 64 KiB, and at the limit exactly. */
    static const size_t sizes[] = {0, 1, 100, 65535, 65536, 65537, 300000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const char *path = pattern_file(sizes[k]);
        char *text = NULL;
        size_t len = 7;
        CU_ASSERT_EQUAL(cli_read_file(path, SIZE_MAX, &text, &len), 0);
        CU_ASSERT_EQUAL(len, sizes[k]);
        int same = text != NULL && text[len] == '\0';
        for (size_t i = 0; same && i < len; i++)
            same = text[i] == 'a' + (int)(i % 26);
        CU_ASSERT(same);
        free(text);
        text = NULL;
        CU_ASSERT_EQUAL(cli_read_file(path, sizes[k], &text, &len), 0);
        CU_ASSERT_EQUAL(len, sizes[k]);
        free(text);
        /* One byte over the limit is refused, and nothing is written. */
        if (sizes[k] > 0) {
            text = NULL;
            len = 7;
            CU_ASSERT_EQUAL(cli_read_file(path, sizes[k] - 1, &text, &len), -EFBIG);
            CU_ASSERT(text == NULL && len == 7);
        }
        unlink(path);
    }
    char *text = NULL;
    size_t len = 7;
    CU_ASSERT_EQUAL(cli_read_file("/nonexistent/test_cli", SIZE_MAX, &text, &len), -ENOENT);
    CU_ASSERT_EQUAL(cli_read_file("/tmp", SIZE_MAX, &text, &len), -EISDIR);
    CU_ASSERT(text == NULL && len == 7);
}

/* A body in pieces: joined and NUL-terminated, refused past max, reusable. */
static void test_body(void)
{
    struct cli_body b = {.max = 10};
    char piece[] = "abcd";
    CU_ASSERT_EQUAL(cli_body_append(piece, 1, 4, &b), 4);
    CU_ASSERT_EQUAL(cli_body_append(piece, 2, 2, &b), 4);
    CU_ASSERT(b.data != NULL && b.len == 8 && strcmp(b.data, "abcdabcd") == 0);
    CU_ASSERT_EQUAL(cli_body_append(piece, 1, 2, &b), 2); /* exactly max */
    CU_ASSERT(b.len == 10 && strcmp(b.data, "abcdabcdab") == 0 && !b.too_big);
    CU_ASSERT_EQUAL(cli_body_append(piece, 1, 1, &b), 0); /* one past */
    CU_ASSERT(b.too_big && b.len == 10 && strcmp(b.data, "abcdabcdab") == 0);
    b.len = 0;
    b.too_big = 0;
    CU_ASSERT_EQUAL(cli_body_append(piece, 1, 3, &b), 3);
    CU_ASSERT(b.len == 3 && strcmp(b.data, "abc") == 0);
    free(b.data);

    /* Large pieces grow the memory as much as they need. */
    struct cli_body big = {.max = SIZE_MAX};
    char *chunk = malloc(100000);
    CU_ASSERT_FATAL(chunk != NULL);
    memset(chunk, 'z', 100000);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(cli_body_append(chunk, 1, 100000, &big), 100000);
    CU_ASSERT(big.len == 500000 && big.cap > big.len && big.data[big.len] == '\0');
    CU_ASSERT(big.data[0] == 'z' && big.data[499999] == 'z');
    free(chunk);
    free(big.data);
}

static void test_program_name_and_version(void)
{
    cli_init("/usr/local/bin/citywhatever");
    CU_ASSERT_STRING_EQUAL(cli_prog(), "citywhatever");
    cli_init("plain");
    CU_ASSERT_STRING_EQUAL(cli_prog(), "plain");
    /* The version is the project's, three dotted numbers. */
    unsigned a, b, c;
    char end;
    CU_ASSERT_EQUAL(sscanf(cli_version(), "%u.%u.%u%c", &a, &b, &c, &end), 3);
}

static void test_format_duration(void)
{
    char buf[32];
    CU_ASSERT_STRING_EQUAL(cli_format_duration(0, buf, sizeof buf), "0ms");
    CU_ASSERT_STRING_EQUAL(cli_format_duration(250, buf, sizeof buf), "250ms");
    CU_ASSERT_STRING_EQUAL(cli_format_duration(42000, buf, sizeof buf), "42s");
    CU_ASSERT_STRING_EQUAL(cli_format_duration(307000, buf, sizeof buf), "5m07s");
    CU_ASSERT_STRING_EQUAL(cli_format_duration(300000, buf, sizeof buf), "5m");
    CU_ASSERT_STRING_EQUAL(cli_format_duration(7500000, buf, sizeof buf), "2h05m");
    CU_ASSERT_STRING_EQUAL(cli_format_duration(3 * 86400000 + 4 * 3600000, buf, sizeof buf),
                           "3d04h");
}

/* Runs fn over a memory stream and returns what it wrote; caller frees. */
static char *capture(void (*fn)(FILE *))
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    CU_ASSERT_FATAL(f != NULL);
    fn(f);
    fclose(f);
    return text;
}

static bool json_error;

static void write_json(FILE *f)
{
    struct cli_json j;
    cli_json_init(&j, f);
    cli_json_begin_object(&j);
    cli_json_key(&j, "name");
    cli_json_str(&j, "a\"b\\c\nd\x01");
    cli_json_key(&j, "list");
    cli_json_begin_array(&j);
    cli_json_int(&j, -3);
    cli_json_uint(&j, 18446744073709551615u);
    cli_json_double(&j, 0.5);
    cli_json_double(&j, 1.0 / 0.0);
    cli_json_bool(&j, true);
    cli_json_null(&j);
    cli_json_begin_object(&j);
    cli_json_end_object(&j);
    cli_json_end_array(&j);
    cli_json_key(&j, "s");
    cli_json_str(&j, NULL);
    cli_json_end_object(&j);
    json_error = j.error;
}

static void write_bad_json(FILE *f)
{
    struct cli_json j;
    cli_json_init(&j, f);
    cli_json_begin_object(&j);
    cli_json_end_array(&j);
    cli_json_end_object(&j);
    cli_json_end_object(&j); /* one close too many */
    json_error = j.error;
}

static void test_json(void)
{
    char *text = capture(write_json);
    CU_ASSERT_STRING_EQUAL(text, "{\"name\":\"a\\\"b\\\\c\\nd\\u0001\",\"list\":[-3,"
                                 "18446744073709551615,0.5,null,true,null,{}],\"s\":null}\n");
    CU_ASSERT_FALSE(json_error);
    free(text);
    text = capture(write_bad_json);
    CU_ASSERT_TRUE(json_error);
    free(text);
}

static bool progress_tty;

/* 1000 B over 10 s, reported every 100 ms from t = 1000 ms. */
static void write_progress(FILE *f)
{
    struct cli_progress p;
    cli_progress_init(&p, f, "flashing", 1000, "B", 1000);
    p.tty = progress_tty;
    for (uint64_t t = 100; t < 10000; t += 100)
        cli_progress_update(&p, t / 10, 1000 + t);
    cli_progress_finish(&p, 1000, 11000);
}

static void test_progress_plain(void)
{
    progress_tty = false;
    char *text = capture(write_progress);
    /* A line every 5 s (at 5 s only, 10 s is the finish) and the final one;
     * rate 100 B/s, at 5 s 500 B left: ETA 5 s. */
    CU_ASSERT_STRING_EQUAL(text, "flashing: 500/1000 B, 100.0 B/s, 5s, ETA 5s\n"
                                 "flashing: 1000/1000 B, 100.0 B/s, 10s, ETA 0ms\n");
    free(text);
}

static void test_progress_tty(void)
{
    progress_tty = true;
    char *text = capture(write_progress);
    /* Redrawn in place every 100 ms: 99 updates and the finish, one newline. */
    size_t redraws = 0, newlines = 0;
    for (const char *c = text; *c; c++) {
        redraws += *c == '\r';
        newlines += *c == '\n';
    }
    CU_ASSERT_EQUAL(redraws, 100);
    CU_ASSERT_EQUAL(newlines, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\rflashing [##########          ]  50% 500/1000 B, "
                                        "100.0 B/s, 5s, ETA 5s\033[K"));
    const char *last = strrchr(text, '\r');
    CU_ASSERT_STRING_EQUAL(last, "\rflashing [####################] 100% 1000/1000 B, "
                                 "100.0 B/s, 10s, ETA 0ms\033[K\n");
    free(text);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"durations", test_durations},
        {"sizes and numbers", test_sizes_and_numbers},
        {"real numbers", test_real_numbers},
        {"option values", test_option_values},
        {"read a whole file", test_read_file},
        {"a body in pieces", test_body},
        {"program name and version", test_program_name_and_version},
        {"format duration", test_format_duration},
        {"json", test_json},
        {"progress, plain", test_progress_plain},
        {"progress, terminal", test_progress_tty},
        {NULL, NULL},
    };
    return cu_main("cli", tests);
}
