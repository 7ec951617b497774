/*
 * test_store.c -- line protocol into a real InfluxDB 1.x (tools/services).
 *
 * Writes points over the v1 HTTP API and reads them back through /query. It
 * also pins the two store behaviours the gateway's design relies on: writing
 * the same point (same measurement, tags and timestamp) twice leaves one
 * point with the last fields, and a malformed line is refused with a 400 and
 * a message, which the gateway sends to its dead-letter file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cu.h"

#define DB "citygate_test"

struct buf {
    char data[16384];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct buf *b = ctx;
    size_t take = size * n;
    if (take > sizeof b->data - 1 - b->len)
        return 0;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    b->data[b->len] = '\0';
    return take;
}

/* POSTs body (or GETs when body is NULL) to path; returns the HTTP status. */
static long http(const char *path, const char *body, struct buf *out)
{
    char url[1024];
    long status = 0;
    CURL *c = curl_easy_init();

    CU_ASSERT_FATAL(c != NULL);
    snprintf(url, sizeof url, "%s%s", cu_env("CITYGATE_INFLUX_URL"), path);
    out->len = 0;
    out->data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CU_ASSERT_FATAL(curl_easy_perform(c) == CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

/* Runs an InfluxQL query and returns results[0].series[0] (caller frees root with json_decref). */
static json_t *query_series(const char *q, json_t **root)
{
    struct buf out;
    char path[1024];
    char *escaped = curl_easy_escape(NULL, q, 0);

    snprintf(path, sizeof path, "/query?db=" DB "&epoch=ms&q=%s", escaped);
    curl_free(escaped);
    CU_ASSERT_FATAL(http(path, NULL, &out) == 200);
    *root = json_loads(out.data, 0, NULL);
    CU_ASSERT_FATAL(*root != NULL);
    json_t *series =
        json_object_get(json_array_get(json_object_get(*root, "results"), 0), "series");
    return json_array_get(series, 0);
}

/* Index of column name in a series, or -1. */
static int column(json_t *series, const char *name)
{
    json_t *cols = json_object_get(series, "columns");
    for (size_t i = 0; i < json_array_size(cols); i++)
        if (strcmp(json_string_value(json_array_get(cols, i)), name) == 0)
            return (int)i;
    return -1;
}

static void test_create_database(void)
{
    struct buf out;
    CU_ASSERT_FATAL(http("/query", "q=CREATE%20DATABASE%20" DB, &out) == 200);
    CU_ASSERT(strstr(out.data, "error") == NULL);
}

static void test_write_and_read_back(void)
{
    struct buf out;
    json_t *root;
    const char *lines = "traffic,site=ring-north,node=node-0001,lane=1 "
                        "count=12i,speed_mean=52.5 1795000000000\n"
                        "traffic,site=ring-north,node=node-0001,lane=2 "
                        "count=9i,speed_mean=47.25 1795000000000\n";

    CU_ASSERT_FATAL(http("/write?db=" DB "&precision=ms", lines, &out) == 204);
    json_t *s = query_series("SELECT count, speed_mean, lane FROM traffic ORDER BY time", &root);
    CU_ASSERT_FATAL(s != NULL);
    json_t *values = json_object_get(s, "values");
    CU_ASSERT_FATAL(json_array_size(values) == 2);
    int t = column(s, "time"), count = column(s, "count"), speed = column(s, "speed_mean");
    CU_ASSERT_FATAL(t >= 0 && count >= 0 && speed >= 0);
    json_t *row = json_array_get(values, 0);
    CU_ASSERT(json_integer_value(json_array_get(row, (size_t)t)) == 1795000000000LL);
    CU_ASSERT(json_integer_value(json_array_get(row, (size_t)count)) == 12);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(row, (size_t)speed)), 52.5, 1e-9);
    json_decref(root);
}

static void test_same_point_twice_is_one_point(void)
{
    struct buf out;
    json_t *root;
    const char *line = "traffic,site=ring-north,node=node-0001,lane=1 "
                       "count=13i,speed_mean=51 1795000000000\n";

    CU_ASSERT_FATAL(http("/write?db=" DB "&precision=ms", line, &out) == 204);
    CU_ASSERT_FATAL(http("/write?db=" DB "&precision=ms", line, &out) == 204);
    json_t *s = query_series("SELECT count FROM traffic WHERE lane = '1'", &root);
    CU_ASSERT_FATAL(s != NULL);
    json_t *values = json_object_get(s, "values");
    CU_ASSERT_FATAL(json_array_size(values) == 1);
    CU_ASSERT(json_integer_value(json_array_get(json_array_get(values, 0), 1)) == 13);
    json_decref(root);
}

static void test_malformed_line_is_400_with_message(void)
{
    struct buf out;
    CU_ASSERT(http("/write?db=" DB "&precision=ms", "traffic,site=x count=\n", &out) == 400);
    CU_ASSERT(strstr(out.data, "\"error\"") != NULL);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"create database", test_create_database},
        {"write and read back", test_write_and_read_back},
        {"same point twice is one point", test_same_point_twice_is_one_point},
        {"malformed line is a 400 with a message", test_malformed_line_is_400_with_message},
        {NULL, NULL},
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main("store", tests);
    curl_global_cleanup();
    return rc;
}
