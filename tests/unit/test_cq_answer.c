/*
 * test_cq_answer.c -- every store answer is checked before use: errors at
 * the top or in the statement, partial results (a row limit, a cut chunk)
 * on the result or on a series, and malformed shapes are refused, so no
 * report is built on part of the data; a good answer, with or without
 * series, passes.
 */
#include <string.h>

#include <jansson.h>

#include "answer.h"
#include "cu.h"
#include "err.h"

/* Checks text; returns the code, with why filled on refusal. */
static int check(const char *text, char *why, size_t why_len)
{
    json_error_t err;
    json_t *root = json_loads(text, 0, &err), *out = NULL;
    CU_ASSERT_FATAL(root != NULL);
    why[0] = '\0';
    int rc = cq_answer_check(root, &out, why, why_len);
    CU_ASSERT((rc == 0) == (out != NULL));
    json_decref(out);
    json_decref(root);
    return rc;
}

static void test_good(void)
{
    char why[256];
    CU_ASSERT(check("{\"results\":[{\"statement_id\":0}]}", why, sizeof why) == 0);
    CU_ASSERT(check("{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"traffic\","
                    "\"tags\":{\"node\":\"n1\"},\"columns\":[\"time\",\"sum\"],"
                    "\"values\":[[1,2]]}]}]}",
                    why, sizeof why) == 0);
}

static void test_refused(void)
{
    static const struct {
        const char *answer, *why;
    } cases[] = {
        {"{\"error\":\"database not found: x\"}", "database not found"},
        {"{\"results\":[{\"statement_id\":0,\"error\":\"retention policy not found: rp_1h\"}]}",
         "retention policy not found"},
        {"{\"results\":[{\"statement_id\":0,\"partial\":true,\"series\":[]}]}", "partial"},
        {"{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"traffic\",\"columns\":"
         "[\"time\"],\"values\":[[1]],\"partial\":true}]}]}",
         "partial"},
        {"{\"results\":[]}", "no single result"},
        {"{\"results\":[{},{}]}", "no single result"},
        {"{\"results\":[{\"series\":{}}]}", "malformed"},
        {"{\"results\":[{\"series\":[{\"name\":\"traffic\"}]}]}", "without columns"},
        {"[1,2]", "no single result"},
    };
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT(check(cases[i].answer, why, sizeof why) == GW_EINVAL);
        CU_ASSERT(strstr(why, cases[i].why) != NULL);
    }
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"good answers", test_good},
        {"errors, partial results, malformed answers", test_refused},
        {NULL, NULL},
    };
    return cu_main("cq_answer", tests);
}
