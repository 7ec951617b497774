/*
 * cqtest.c -- cityquery in the integration tests: the program run through the
 * shell on the test store (cu_run), and its JSON documents read. Both
 * cityquery tests judge every figure with their own; nothing here computes one.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cqtest.h"
#include "cu.h"

int cqt_run(const char *cityquery, const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "CITYQUERY_STORE='%s' TZ=UTC '%s' %s", cu_env("CITYGATE_INFLUX_URL"),
             cityquery, args);
    return cu_run(cmd, out);
}

json_t *cqt_json(const char *cityquery, const char *args)
{
    char *out = NULL;
    json_error_t err;
    int rc = cqt_run(cityquery, args, &out);
    if (rc != 0)
        fprintf(stderr, "cityquery %s: exit %d\n", args, rc);
    CU_ASSERT_EQUAL(rc, 0);
    json_t *doc = json_loads(out ? out : "", 0, &err);
    if (!doc)
        fprintf(stderr, "not JSON (%s): %s\n", err.text, out ? out : "");
    free(out);
    CU_ASSERT_FATAL(doc != NULL);
    return doc;
}

json_t *cqt_rows(json_t *doc, const char *table)
{
    return json_object_get(json_object_get(json_object_get(doc, "tables"), table), "rows");
}

double cqt_num(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    CU_ASSERT(json_is_number(v));
    return json_number_value(v);
}
