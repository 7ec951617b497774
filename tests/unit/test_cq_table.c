/*
 * test_cq_table.c -- report tables as CSV (RFC 4180: CRLF, quoting, doubled
 * quotes, units in the header), JSON (numbers as numbers, an empty numeric
 * cell as null, read back by jansson) and aligned terminal text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cu.h"
#include "table.h"

static const struct cq_column cols[] = {
    {"node", NULL, CQ_COL_TEXT},
    {"volume", "veh", CQ_COL_NUM},
    {"phf", NULL, CQ_COL_NUM},
};

static void fill(struct cq_table *t)
{
    cq_table_init(t, "peaks", "Peak hours", cols, 3);
    CU_ASSERT_FATAL(cq_table_add_row(t) == 0);
    CU_ASSERT(cq_table_set(t, 0, "%s", "plain") == 0);
    CU_ASSERT(cq_table_set(t, 1, "%d", 480) == 0);
    CU_ASSERT(cq_table_set(t, 2, "%.3f", 480.0 / 620.0) == 0);
    CU_ASSERT_FATAL(cq_table_add_row(t) == 0);
    CU_ASSERT(cq_table_set(t, 0, "%s", "a,b \"c\"\nd") == 0);
    CU_ASSERT(cq_table_set(t, 1, "%d", 7) == 0); /* phf left empty: no figure */
}

/* Writes into a memory stream through fn and returns the text (caller frees). */
static char *capture(int (*fn)(FILE *, const struct cq_table *), const struct cq_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fn(f, t) == 0);
    fclose(f);
    return buf;
}

static void test_csv(void)
{
    struct cq_table t;
    fill(&t);
    char *csv = capture(cq_table_csv, &t);
    CU_ASSERT_STRING_EQUAL(csv, "node,volume [veh],phf\r\n"
                                "plain,480,0.774\r\n"
                                "\"a,b \"\"c\"\"\nd\",7,\r\n");
    free(csv);
    cq_table_fini(&t);
}

static int json_to(FILE *f, const struct cq_table *t)
{
    struct cli_json j;
    cli_json_init(&j, f);
    cq_table_json(&j, t);
    return j.error;
}

static void test_json(void)
{
    struct cq_table t;
    json_error_t err;
    fill(&t);
    char *text = capture(json_to, &t);
    json_t *doc = json_loads(text, 0, &err);
    CU_ASSERT_FATAL(doc != NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "title")), "Peak hours");
    json_t *c1 = json_array_get(json_object_get(doc, "columns"), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c1, "unit")), "veh");
    CU_ASSERT(
        json_is_null(json_object_get(json_array_get(json_object_get(doc, "columns"), 0), "unit")));
    json_t *rows = json_object_get(doc, "rows");
    CU_ASSERT_EQUAL_FATAL(json_array_size(rows), 2);
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    CU_ASSERT_EQUAL(json_number_value(json_object_get(r0, "volume")), 480);
    CU_ASSERT_EQUAL(json_number_value(json_object_get(r0, "phf")), 0.774);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r1, "node")), "a,b \"c\"\nd");
    CU_ASSERT(json_is_null(json_object_get(r1, "phf")));
    json_decref(doc);
    free(text);
    cq_table_fini(&t);
}

static void test_print(void)
{
    struct cq_table t;
    cq_table_init(&t, "x", "Title", cols, 3);
    CU_ASSERT_FATAL(cq_table_add_row(&t) == 0);
    cq_table_set(&t, 0, "n1");
    cq_table_set(&t, 1, "12345678901234");
    char *text = capture(cq_table_print, &t);
    /* Text left-aligned, numbers right-aligned under headers as wide as the widest cell. */
    CU_ASSERT_STRING_EQUAL(text, "Title\n"
                                 "node    volume [veh]  phf\n"
                                 "n1    12345678901234     \n");
    free(text);
    cq_table_fini(&t);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"CSV (RFC 4180)", test_csv},
        {"JSON", test_json},
        {"aligned text", test_print},
        {NULL, NULL},
    };
    return cu_main("cq_table", tests);
}
