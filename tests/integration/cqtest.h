/*
 * cqtest.h -- cityquery in the integration tests: run against the test store,
 * its -F json documents parsed and read. Only the running and the reading are
 * shared; each test checks the figures against its own.
 */
#ifndef CQTEST_H
#define CQTEST_H

#include <jansson.h>

/*
 * Runs cityquery (the program's path) with args, a shell word list the test
 * controls, on the store in CITYGATE_INFLUX_URL with TZ=UTC. With out, stdout
 * is stored there (caller frees). Returns the exit status (-1 when it did not
 * exit).
 */
int cqt_run(const char *cityquery, const char *args, char **out);

/*
 * Runs cityquery with args (which ask for -F json), asserts that it exits 0,
 * and returns the document it printed, parsed (fatal when it is not JSON);
 * caller frees with json_decref().
 */
json_t *cqt_json(const char *cityquery, const char *args);

/* The rows of the document's table (borrowed from doc; NULL when there is none). */
json_t *cqt_rows(json_t *doc, const char *table);

/* The number under key in row, asserted to be a number. */
double cqt_num(json_t *row, const char *key);

#endif
