/*
 * answer.c -- the check every store answer passes before any of it is used
 * (see answer.h). Kept apart from the HTTP client so that a unit test can
 * hand it every shape of answer InfluxDB documents, errors and partial
 * results included, without a store.
 */
#include "answer.h"

#include <stdio.h>

#include "err.h"

int cq_answer_check(json_t *root, json_t **out, char *why, size_t why_len)
{
    json_t *results = json_object_get(root, "results"), *r, *series, *s;
    const char *err = json_string_value(json_object_get(root, "error"));
    size_t i;

    if (err) {
        snprintf(why, why_len, "the store answered with an error: %s", err);
        return GW_EINVAL;
    }
    if (!json_is_array(results) || json_array_size(results) != 1) {
        snprintf(why, why_len, "the store's answer has no single result");
        return GW_EINVAL;
    }
    r = json_array_get(results, 0);
    err = json_string_value(json_object_get(r, "error"));
    if (err) {
        snprintf(why, why_len, "the store refused the query: %s", err);
        return GW_EINVAL;
    }
    if (json_is_true(json_object_get(r, "partial"))) {
        snprintf(why, why_len, "the store returned partial results (a row limit?)");
        return GW_EINVAL;
    }
    series = json_object_get(r, "series");
    if (series && !json_is_array(series)) {
        snprintf(why, why_len, "the store's answer has a malformed series list");
        return GW_EINVAL;
    }
    json_array_foreach(series, i, s)
    {
        if (json_is_true(json_object_get(s, "partial"))) {
            snprintf(why, why_len, "the store returned a partial series (a row limit?)");
            return GW_EINVAL;
        }
        if (!json_is_array(json_object_get(s, "columns")) ||
            !json_is_array(json_object_get(s, "values"))) {
            snprintf(why, why_len, "the store's answer has a series without columns or values");
            return GW_EINVAL;
        }
    }
    *out = json_incref(r);
    return 0;
}
