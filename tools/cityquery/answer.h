/*
 * answer.h -- checking an InfluxQL answer (InfluxDB 1.x /query JSON, also
 * 2.x's compatibility API): {"results":[{"statement_id":0,"series":[{"name",
 * "tags","columns","values"}],"error"?,"partial"?}],"error"?}.
 */
#ifndef CITYQUERY_ANSWER_H
#define CITYQUERY_ANSWER_H

#include <stddef.h>

#include <jansson.h>

/*
 * Checks root (borrowed), the parsed answer to one statement: a top-level
 * or statement "error", a "partial" flag on the result or on any series (a
 * row limit or a cut chunk), more or fewer than one result, and series
 * without columns or values are refused. Returns 0 and sets *out to the
 * result (caller frees with json_decref(); "series" may be absent: no
 * data), or GW_EINVAL with a sentence for the user in why.
 */
int cq_answer_check(json_t *root, json_t **out, char *why, size_t why_len);

#endif
